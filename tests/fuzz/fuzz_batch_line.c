/* Fuzz target: how `lamina batch` reads its input before a request is
 * parsed: the line reader and its line limit (src/batch/batch_lines.h) and
 * each line's id as written (src/batch/batch_id.h).
 *
 * The first byte picks the limit (1 to 256 bytes); the rest is the input,
 * read from a memfd. Invariants: the reader returns the lines that splitting
 * at '\n' gives, in order, each line up to the limit whole and each longer
 * one as LINES_TOO_LONG with its first max_line bytes. For every line that
 * cJSON reads as an object with a string or number "id", batch_id_find finds
 * that id, and its text read alone is the same value; an id batch_id_key
 * accepts is a JSON string or number, a string's key is its value's bytes,
 * and every refusal is a one-line message about the field 'id'. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <string.h>

#include "batch_id.h"
#include "batch_lines.h"
#include "fuzz_common.h"

/* A \u escape that is not four hex digits, or is \u0000: cJSON decodes
 * such a name to a C string cut at a NUL ("\u0069d\u0+61" is its "id"),
 * while the line is refused as an invalid string anyway. */
static int nul_escape(const char *line, size_t len) {
    for (size_t i = 0; i + 1 < len; i++) {
        if (line[i] != '\\' || line[i + 1] != 'u') continue;
        if (i + 6 > len) return 1;
        int hex = 1, zero = 1;
        for (size_t k = i + 2; k < i + 6; k++) {
            char ch = line[k];
            hex &= (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
            zero &= ch == '0';
        }
        if (!hex || zero) return 1;
    }
    return 0;
}

static void check_id(const char *line, size_t len) {
    const char *val = NULL;
    size_t vlen = 0;
    int found = batch_id_find(line, len, &val, &vlen);
    FUZZ_CHECK(!found || (val >= line && val + vlen <= line + len && vlen > 0), "id span");
    cJSON *obj = cJSON_ParseWithLength(line, len);
    cJSON *id = cJSON_GetObjectItemCaseSensitive(obj, "id");
    /* cJSON keeps names and strings as C strings: past a NUL byte its "id"
     * may be "id\0x" (such lines are refused as invalid strings anyway) */
    int usable = cJSON_IsObject(obj) && (cJSON_IsString(id) || cJSON_IsNumber(id)) &&
                 !memchr(line, '\0', len) && !nul_escape(line, len);
    FUZZ_CHECK(!usable || found, "cJSON has an id the scanner missed: %.80s", line);
    if (found) {
        cJSON *alone = cJSON_ParseWithLength(val, vlen);
        /* cJSON_Compare calls two infinities (an id like 5E100000) unequal */
        int same = cJSON_Compare(alone, id, 1) || (cJSON_IsNumber(alone) && cJSON_IsNumber(id) &&
                                                   alone->valuedouble == id->valuedouble);
        FUZZ_CHECK(!usable || same, "the id's text is another value");
        char *key = NULL;
        lm_error e = {{0}};
        if (batch_id_key(val, vlen, &key, &e) == 0) {
            FUZZ_CHECK(cJSON_IsString(alone) || cJSON_IsNumber(alone), "accepted a non-value");
            FUZZ_CHECK(key[0] == (cJSON_IsString(alone) ? 's' : 'n'), "key kind");
            if (cJSON_IsString(alone))
                FUZZ_CHECK(!strcmp(key + 1, alone->valuestring), "string key differs");
            free(key);
        } else {
            fuzz_check_message(e.msg, "batch_id_key");
            FUZZ_CHECK(!strncmp(e.msg, "field 'id': ", 12), "message: %s", e.msg);
        }
        cJSON_Delete(alone);
    }
    cJSON_Delete(obj);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static fuzz_file f;
    if (!f.path[0]) fuzz_file_init(&f, "batch_line");
    if (size < 1) return 0;
    size_t max_line = 1 + data[0], n = size - 1;
    const char *text = (const char *)data + 1;
    fuzz_file_write(&f, data + 1, n);
    int fd = open(f.path, O_RDONLY | O_CLOEXEC);
    FUZZ_CHECK(fd >= 0, "open %s", f.path);
    batch_lines r;
    batch_lines_init(&r, fd);
    r.max_line = max_line;
    size_t at = 0; /* where the next expected line starts in text */
    for (;;) {
        char *line;
        size_t len;
        batch_lines_status s = batch_lines_next(&r, 1, &line, &len);
        if (s == LINES_EOF) break;
        FUZZ_CHECK(s == LINES_OK || s == LINES_TOO_LONG, "status %d", (int)s);
        FUZZ_CHECK(at < n, "a line after the end");
        const char *nl = memchr(text + at, '\n', n - at);
        size_t want = nl ? (size_t)(nl - (text + at)) : n - at;
        FUZZ_CHECK((s == LINES_TOO_LONG) == (want > max_line), "limit: %zu vs %zu", want, max_line);
        FUZZ_CHECK(len == (want > max_line ? max_line : want) && !memcmp(line, text + at, len),
                   "line content");
        check_id(line, len);
        at += want + 1;
    }
    FUZZ_CHECK(at >= n, "lines missing at %zu of %zu", at, n);
    batch_lines_free(&r);
    close(fd);
    return 0;
}
