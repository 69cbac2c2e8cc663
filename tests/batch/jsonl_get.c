/* A helper for batch_test.sh (which needs no JSON tool): reads lamina batch
 * output.
 *
 *   jsonl_get FILE N FIELD   prints field FIELD of record N (1-based): a string
 *                            decoded, exactly, without a newline; a number as an
 *                            integer; null as "null"
 *   jsonl_get --check FILE   every line a whole record (a JSON object with id,
 *                            text, prompt_tokens, completion_tokens, finish_reason
 *                            and error, the file ending in a newline); prints
 *                            the record count; exit 1 naming the first bad line */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16;
    char *buf = malloc(cap + 1);
    *n = 0;
    size_t got;
    while (buf && (got = fread(buf + *n, 1, cap - *n, f)) > 0) {
        *n += got;
        if (*n == cap) buf = realloc(buf, (cap *= 2) + 1);
    }
    fclose(f);
    if (buf) buf[*n] = '\0';
    return buf;
}

static int check_record(const char *line, size_t len, long no) {
    static const char *fields[] = {
        "id", "text", "prompt_tokens", "completion_tokens", "finish_reason", "error"};
    cJSON *o = cJSON_ParseWithLength(line, len);
    int ok = cJSON_IsObject(o) && cJSON_GetArraySize(o) == 6;
    for (int i = 0; ok && i < 6; i++) ok = cJSON_GetObjectItemCaseSensitive(o, fields[i]) != NULL;
    cJSON_Delete(o);
    if (!ok) fprintf(stderr, "jsonl_get: line %ld is not a whole record: %.80s\n", no, line);
    return ok;
}

/* What main does with the file's bytes; returns the exit status. */
static int run(int check, char *buf, size_t n, char **argv) {
    if (check && n && buf[n - 1] != '\n') {
        fprintf(stderr, "jsonl_get: the last line has no newline (a partial record)\n");
        return 1;
    }
    long want = check ? 0 : atol(argv[2]), no = 0;
    for (char *line = buf; line < buf + n;) {
        char *nl = memchr(line, '\n', (size_t)(buf + n - line));
        size_t len = nl ? (size_t)(nl - line) : (size_t)(buf + n - line);
        no++;
        if (check && !check_record(line, len, no)) return 1;
        if (!check && no == want) {
            cJSON *o = cJSON_ParseWithLength(line, len);
            cJSON *f = cJSON_GetObjectItemCaseSensitive(o, argv[3]);
            int rc = 0;
            if (!f) {
                fprintf(stderr, "jsonl_get: record %ld has no %s\n", no, argv[3]);
                rc = 1;
            } else if (cJSON_IsString(f))
                fputs(f->valuestring, stdout);
            else if (cJSON_IsNumber(f))
                printf("%.0f", f->valuedouble);
            else
                fputs("null", stdout);
            cJSON_Delete(o);
            return rc;
        }
        line += len + 1;
    }
    if (check) return printf("%ld\n", no), 0;
    fprintf(stderr, "jsonl_get: no record %ld (%ld records)\n", want, no);
    return 1;
}

int main(int argc, char **argv) {
    int check = argc == 3 && !strcmp(argv[1], "--check");
    if (!check && argc != 4) {
        fprintf(stderr, "usage: jsonl_get FILE N FIELD | jsonl_get --check FILE\n");
        return 2;
    }
    size_t n;
    char *buf = read_all(argv[check ? 2 : 1], &n);
    if (!buf) return perror(argv[check ? 2 : 1]), 2;
    int rc = run(check, buf, n, argv);
    free(buf); /* the sanitizer builds' leak check runs this helper too */
    return rc;
}
