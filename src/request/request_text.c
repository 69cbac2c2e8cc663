/* Text checks shared by `lamina batch` and `lamina serve` (request.h, "text"):
 * UTF-8 validity, truncation at character boundaries, and a scan of raw JSON
 * text for what its parser hides (a \u0000 cuts a cJSON string short). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "request.h"
#include "request_error.h"

/* Bytes of the valid UTF-8 character at s[0..n) (RFC 3629: no overlong forms,
 * no surrogates, at most U+10FFFF), or 0 when none starts there. */
static size_t utf8_char(const unsigned char *s, size_t n) {
    if (n == 0) return 0;
    if (s[0] < 0x80) return 1;
    size_t len;
    unsigned lo = 0x80, hi = 0xBF; /* the range of the second byte */
    if (s[0] >= 0xC2 && s[0] <= 0xDF)
        len = 2;
    else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        len = 3;
        if (s[0] == 0xE0) lo = 0xA0; /* overlong */
        if (s[0] == 0xED) hi = 0x9F; /* surrogates */
    } else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        len = 4;
        if (s[0] == 0xF0) lo = 0x90; /* overlong */
        if (s[0] == 0xF4) hi = 0x8F; /* beyond U+10FFFF */
    } else
        return 0;
    if (n < len || s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xBF) return 0;
    return len;
}

size_t lm_utf8_valid_len(const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        size_t k = utf8_char(u + i, n - i);
        if (!k) break;
        i += k;
    }
    return i;
}

char *lm_utf8_repair(const char *s, size_t n) {
    char *out = malloc(3 * n + 1), *o = out;
    if (!out) return NULL;
    while (n) {
        size_t ok = lm_utf8_valid_len(s, n);
        memcpy(o, s, ok);
        o += ok, s += ok, n -= ok;
        if (n) { /* one byte that starts no character: U+FFFD */
            memcpy(o, "\xEF\xBF\xBD", 3);
            o += 3, s++, n--;
        }
    }
    *o = '\0';
    return out;
}

int lm_utf8_valid(const char *s) {
    size_t n = strlen(s);
    return lm_utf8_valid_len(s, n) == n;
}

int lm_utf8_clip(const char *s, int max) {
    if (max <= 0) return 0;
    size_t n = strnlen(s, (size_t)max);
    if (n < (size_t)max) return (int)n; /* all of it */
    /* s[n] exists (NUL or not); back off while it continues a character */
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80) n--;
    return (int)n;
}

size_t lm_utf8_trim_end(const char *s, size_t n) {
    /* the last character's lead byte, at most 3 bytes back */
    size_t i = n;
    while (i > 0 && n - i < 4 && ((unsigned char)s[i - 1] & 0xC0) == 0x80) i--;
    if (i == 0 || n - i >= 4) return n; /* no lead byte: not a cut character */
    size_t k = utf8_char((const unsigned char *)s + i - 1, n - (i - 1));
    return k ? n : i - 1;
}

/* ---- raw JSON scan ---------------------------------------------------------- */

/* The scan of lm_json_check_text: where it is, and the path of the value at
 * hand ("messages[2].content"), for the error. */
typedef struct scan {
    const char *p, *end, *text;
    char path[160];
    size_t plen;
    lm_error *err;
} scan;

enum { SCAN_OK = 0, SCAN_FOUND = -1, SCAN_STOP = 1 }; /* STOP: not JSON; the parser says why */

#define SCAN_MAX_DEPTH 1000 /* cJSON's nesting limit: deeper text never parses */

/* White space as cJSON skips it: every byte up to 32 (NUL included). */
static int space(char ch) { return (unsigned char)ch <= 32; }

static void skip_space(scan *c) {
    while (c->p < c->end && space(*c->p)) c->p++;
}

static int hex4_zero(const char *p, const char *end) {
    return end - p >= 4 && !memcmp(p, "0000", 4);
}

static int report(scan *c, int key, const char *what, const char *at) {
    long off = (long)(at - c->text) + 1;
    const char *thing = key ? "a field name" : "the string";
    if (c->plen)
        return request_set_error(c->err, "field '%s': %s %s (at byte %ld)", c->path, thing, what,
                                 off);
    return request_set_error(c->err, "%s %s (at byte %ld)", key ? "a field name" : "a string", what,
                             off);
}

/* A string from its opening quote; the text after it in *s0..*s1 (raw). */
static int scan_string(scan *c, int key, const char **s0, const char **s1) {
    if (c->p >= c->end || *c->p != '"') return SCAN_STOP;
    const char *p = ++c->p;
    *s0 = p;
    while (p < c->end && *p != '"') {
        unsigned char b = (unsigned char)*p;
        if (b == '\\') {
            if (c->end - p < 2) return SCAN_STOP;
            if (p[1] == 'u' && hex4_zero(p + 2, c->end))
                return report(c, key, "has a \\u0000 (NUL) character, which is not allowed", p);
            p += 2; /* the escape's other characters are plain ASCII */
        } else if (b == 0) {
            return report(c, key, "has a NUL byte, which is not allowed", p);
        } else if (b < 0x80) {
            p++;
        } else {
            size_t k = utf8_char((const unsigned char *)p, (size_t)(c->end - p));
            if (!k) return report(c, key, "is not valid UTF-8", p);
            p += k;
        }
    }
    if (p >= c->end) return SCAN_STOP;
    *s1 = p;
    c->p = p + 1;
    return SCAN_OK;
}

/* Append text to the path, cut at a character boundary when long; the old
 * length, to restore. */
static size_t path_push(scan *c, const char *s, size_t n) {
    size_t old = c->plen, room = sizeof c->path - 1 - c->plen;
    if (n > room) n = room;
    /* A name's bytes that are not UTF-8 (behind a bad escape, say) become
     * '?': the path is quoted in a message, which must stay UTF-8. */
    for (size_t i = 0; i < n;) {
        size_t v = lm_utf8_valid_len(s + i, n - i);
        memcpy(c->path + c->plen, s + i, v);
        c->plen += v;
        i += v;
        if (i < n) c->path[c->plen++] = '?', i++;
    }
    c->plen = lm_utf8_trim_end(c->path, c->plen);
    c->path[c->plen] = '\0';
    return old;
}

static size_t path_push_key(scan *c, const char *k, size_t n) {
    size_t old = c->plen;
    if (c->plen) path_push(c, ".", 1);
    path_push(c, k, n);
    return old;
}

static size_t path_push_index(scan *c, int i) {
    char buf[16];
    int w = snprintf(buf, sizeof buf, "[%d]", i);
    return path_push(c, buf, (size_t)w);
}

static void path_pop(scan *c, size_t old) {
    c->plen = old;
    c->path[old] = '\0';
}

static int scan_value(scan *c, int depth);

static int scan_object(scan *c, int depth) {
    c->p++; /* { */
    skip_space(c);
    if (c->p < c->end && *c->p == '}') return c->p++, SCAN_OK;
    for (;;) {
        const char *k0, *k1;
        skip_space(c);
        int rc = scan_string(c, 1, &k0, &k1);
        if (rc) return rc;
        skip_space(c);
        if (c->p >= c->end || *c->p != ':') return SCAN_STOP;
        c->p++;
        size_t old = path_push_key(c, k0, (size_t)(k1 - k0));
        rc = scan_value(c, depth + 1);
        path_pop(c, old);
        if (rc) return rc;
        skip_space(c);
        if (c->p < c->end && *c->p == ',') {
            c->p++;
            continue;
        }
        if (c->p < c->end && *c->p == '}') return c->p++, SCAN_OK;
        return SCAN_STOP;
    }
}

static int scan_array(scan *c, int depth) {
    c->p++; /* [ */
    skip_space(c);
    if (c->p < c->end && *c->p == ']') return c->p++, SCAN_OK;
    for (int i = 0;; i++) {
        size_t old = path_push_index(c, i);
        int rc = scan_value(c, depth + 1);
        path_pop(c, old);
        if (rc) return rc;
        skip_space(c);
        if (c->p < c->end && *c->p == ',') {
            c->p++;
            continue;
        }
        if (c->p < c->end && *c->p == ']') return c->p++, SCAN_OK;
        return SCAN_STOP;
    }
}

static int scan_value(scan *c, int depth) {
    if (depth > SCAN_MAX_DEPTH) return SCAN_STOP;
    skip_space(c);
    if (c->p >= c->end) return SCAN_STOP;
    switch (*c->p) {
    case '{': return scan_object(c, depth);
    case '[': return scan_array(c, depth);
    case '"': {
        const char *s0, *s1;
        return scan_string(c, 0, &s0, &s1);
    }
    default: /* a number, true, false, null: up to the next delimiter */
        while (c->p < c->end && !space(*c->p) && *c->p != ',' && *c->p != ']' && *c->p != '}')
            c->p++;
        return SCAN_OK;
    }
}

int lm_json_check_text(const char *text, size_t len, lm_error *err) {
    scan c = {.p = text, .end = text + len, .text = text, .err = err};
    return scan_value(&c, 0) == SCAN_FOUND ? -1 : 0;
}
