/* Record ids echoed as written, and duplicates (batch_id.h). */
#include "batch_id.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- finding "id" in the raw line ---------------------------------------- */

typedef struct cursor {
    const char *s;
    size_t i, n;
} cursor;

/* White space as cJSON skips it (any byte up to 32): the scanner must find
 * the members the parser found. */
static int is_ws(char ch) { return (unsigned char)ch <= 32; }

static void skip_ws(cursor *c) {
    while (c->i < c->n && is_ws(c->s[c->i])) c->i++;
}

/* Past a string whose opening quote is at i; 0, or -1 at the end of text. */
static int skip_string(cursor *c) {
    for (c->i++; c->i < c->n; c->i++) {
        if (c->s[c->i] == '\\')
            c->i++;
        else if (c->s[c->i] == '"')
            return c->i++, 0;
    }
    return -1;
}

/* Past one value (nested ones by depth, strings skipped whole); -1 at the end
 * of text. */
static int skip_value(cursor *c) {
    if (c->i >= c->n) return -1;
    if (c->s[c->i] == '"') return skip_string(c);
    if (c->s[c->i] != '{' && c->s[c->i] != '[') {
        size_t start = c->i;
        while (c->i < c->n && !is_ws(c->s[c->i]) && !strchr(",}]", c->s[c->i])) c->i++;
        return c->i < c->n && c->i > start ? 0 : -1; /* "id":} has no value */
    }
    long depth = 0;
    while (c->i < c->n) {
        char ch = c->s[c->i];
        if (ch == '"') {
            if (skip_string(c)) return -1;
            continue;
        }
        depth += (ch == '{' || ch == '[') - (ch == '}' || ch == ']');
        c->i++;
        if (depth == 0) return 0;
    }
    return -1;
}

static int hex4(const char *s, unsigned *v) {
    *v = 0;
    for (int k = 0; k < 4; k++) {
        char h = s[k];
        int d = h >= '0' && h <= '9'   ? h - '0'
                : h >= 'a' && h <= 'f' ? h - 'a' + 10
                : h >= 'A' && h <= 'F' ? h - 'A' + 10
                                       : -1;
        if (d < 0) return -1;
        *v = *v * 16 + (unsigned)d;
    }
    return 0;
}

/* Is the string token [a, b) (quotes included) the name "id", escapes
 * decoded ("\u0069d" is "id" to a JSON reader too)? */
static int names_id(const char *a, const char *b) {
    char got[3];
    int n = 0;
    for (const char *p = a + 1; p < b - 1; p++) {
        unsigned v = (unsigned char)*p;
        if (*p == '\\' && p + 5 < b - 1 && p[1] == 'u' && !hex4(p + 2, &v))
            p += 5;
        else if (*p == '\\')
            return 0; /* no other escape stands for 'i' or 'd' */
        if (n == 2) return 0;
        got[n++] = (char)v;
    }
    return n == 2 && got[0] == 'i' && got[1] == 'd';
}

int batch_id_find(const char *line, size_t len, const char **val, size_t *vlen) {
    cursor c = {line, 0, len};
    skip_ws(&c);
    if (c.i >= c.n || line[c.i] != '{') return 0;
    c.i++;
    for (;;) {
        skip_ws(&c);
        if (c.i >= c.n || line[c.i] != '"') return 0;
        size_t name = c.i;
        if (skip_string(&c)) return 0;
        int is_id = names_id(line + name, line + c.i);
        skip_ws(&c);
        if (c.i >= c.n || line[c.i] != ':') return 0;
        c.i++;
        skip_ws(&c);
        size_t start = c.i;
        if (skip_value(&c)) return 0;
        if (is_id) {
            *val = line + start;
            *vlen = c.i - start;
            return !(*vlen == 4 && !memcmp(*val, "null", 4));
        }
        skip_ws(&c);
        if (c.i >= c.n || line[c.i] != ',') return 0;
        c.i++;
    }
}

/* ---- checking an id and the value it stands for -------------------------- */

static int id_error(lm_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int id_error(lm_error *err, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = snprintf(err->msg, sizeof err->msg, "field 'id': ");
    vsnprintf(err->msg + n, sizeof err->msg - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

/* Length of the UTF-8 character at s (strict: no overlong forms, no
 * surrogates, at most U+10FFFF), or 0 if invalid. */
static int utf8_char(const unsigned char *s, size_t avail) {
    unsigned c = s[0];
    int n = c < 0x80                 ? 1
            : c >= 0xC2 && c <= 0xDF ? 2
            : c >= 0xE0 && c <= 0xEF ? 3
            : c >= 0xF0 && c <= 0xF4 ? 4
                                     : 0;
    if (!n || (size_t)n > avail) return 0;
    for (int k = 1; k < n; k++)
        if ((s[k] & 0xC0) != 0x80) return 0;
    if (c == 0xE0 && s[1] < 0xA0) return 0;  /* overlong */
    if (c == 0xED && s[1] >= 0xA0) return 0; /* a surrogate */
    if (c == 0xF0 && s[1] < 0x90) return 0;  /* overlong */
    if (c == 0xF4 && s[1] >= 0x90) return 0; /* above U+10FFFF */
    return n;
}

static void put_utf8(char *out, size_t *o, unsigned cp) {
    if (cp < 0x80) {
        out[(*o)++] = (char)cp;
    } else if (cp < 0x800) {
        out[(*o)++] = (char)(0xC0 | cp >> 6);
        out[(*o)++] = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out[(*o)++] = (char)(0xE0 | cp >> 12);
        out[(*o)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[(*o)++] = (char)(0x80 | (cp & 0x3F));
    } else {
        out[(*o)++] = (char)(0xF0 | cp >> 18);
        out[(*o)++] = (char)(0x80 | ((cp >> 12) & 0x3F));
        out[(*o)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[(*o)++] = (char)(0x80 | (cp & 0x3F));
    }
}

/* One escape at s[i] == '\\' into out; the bytes it used, or 0 (err set). */
static size_t unescape(const char *s, size_t i, size_t end, char *out, size_t *o, lm_error *err) {
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    if (i + 1 >= end) return id_error(err, "a string cut inside an escape"), 0;
    const char *e = strchr(from, s[i + 1]);
    if (s[i + 1] && e) return out[(*o)++] = to[e - from], 2;
    unsigned cp, lo;
    if (s[i + 1] != 'u' || i + 6 > end || hex4(s + i + 2, &cp))
        return id_error(err, "an invalid escape in a string"), 0;
    if (cp == 0) return id_error(err, "contains \\u0000"), 0;
    if (cp >= 0xDC00 && cp <= 0xDFFF) return id_error(err, "an unpaired surrogate \\u%04X", cp), 0;
    if (cp < 0xD800 || cp > 0xDBFF) return put_utf8(out, o, cp), 6;
    if (i + 12 > end || s[i + 6] != '\\' || s[i + 7] != 'u' || hex4(s + i + 8, &lo) ||
        lo < 0xDC00 || lo > 0xDFFF)
        return id_error(err, "an unpaired surrogate \\u%04X", cp), 0;
    put_utf8(out, o, 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00));
    return 12;
}

/* A string id: "s" and its value's bytes. */
static int string_key(const char *s, size_t n, char **key, lm_error *err) {
    if (n < 2 || s[n - 1] != '"') return id_error(err, "a string without its closing quote");
    char *k = malloc(n + 1); /* the value is never longer than its text */
    if (!k) return id_error(err, "out of memory");
    size_t o = 0;
    k[o++] = 's';
    for (size_t i = 1; i < n - 1;) {
        unsigned char c = (unsigned char)s[i];
        size_t used = c == '\\'  ? unescape(s, i, n - 1, k, &o, err)
                      : c < 0x20 ? (id_error(err, "a raw control character (0x%02X)", c), 0)
                                 : (size_t)utf8_char((const unsigned char *)s + i, n - 1 - i);
        if (!used && c >= 0x20 && c != '\\') id_error(err, "not valid UTF-8");
        if (!used) return free(k), -1;
        if (c != '\\')
            for (size_t b = 0; b < used; b++) k[o++] = s[i + b];
        i += used;
    }
    k[o] = '\0';
    *key = k;
    return 0;
}

static size_t digits(const char *s, size_t i, size_t n) {
    size_t j = i;
    while (j < n && s[j] >= '0' && s[j] <= '9') j++;
    return j - i;
}

/* A number id in JSON's grammar: "n", the sign, the significant digits and
 * the exponent, so equal values give equal keys (1.50 = 15e-1, -0 = 0). */
static int number_key(const char *s, size_t n, char **key, lm_error *err) {
    size_t i = s[0] == '-', ni = digits(s, i, n);
    int neg = s[0] == '-';
    if (!ni || (s[i] == '0' && ni > 1)) goto bad;
    size_t int_at = i, fi = 0, frac_at = 0;
    i += ni;
    if (i < n && s[i] == '.') {
        frac_at = ++i;
        if (!(fi = digits(s, i, n))) goto bad;
        i += fi;
    }
    long long exp = 0;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        int eneg = ++i < n && s[i] == '-';
        i += i < n && (s[i] == '-' || s[i] == '+');
        size_t ne = digits(s, i, n);
        if (!ne) goto bad;
        while (ne > 1 && s[i] == '0') i++, ne--;
        if (ne > 15) return id_error(err, "a number whose exponent is out of range");
        for (size_t k = 0; k < ne; k++) exp = exp * 10 + (s[i + k] - '0');
        exp = eneg ? -exp : exp;
        i += ne;
    }
    if (i != n) goto bad;
    /* the significant digits: integer then fraction digits, zeros trimmed */
    char *k = malloc(ni + fi + 32);
    if (!k) return id_error(err, "out of memory");
    size_t o = 0;
    k[o++] = 'n';
    if (neg) k[o++] = '-';
    size_t d0 = o;
    for (size_t a = 0; a < ni + fi; a++) {
        char d = a < ni ? s[int_at + a] : s[frac_at + a - ni];
        if (o > d0 || d != '0') k[o++] = d;
    }
    exp -= (long long)fi;
    while (o > d0 && k[o - 1] == '0') o--, exp++;
    if (o == d0) /* zero, whatever its sign or form */
        snprintf(k, 3, "n0");
    else
        snprintf(k + o, 32, "e%lld", exp);
    *key = k;
    return 0;
bad:
    return id_error(err, "not a JSON number"); /* its text may not be UTF-8 */
}

int batch_id_key(const char *val, size_t vlen, char **key, lm_error *err) {
    *key = NULL;
    if (vlen && val[0] == '"') return string_key(val, vlen, key, err);
    if (vlen && (val[0] == '-' || (val[0] >= '0' && val[0] <= '9')))
        return number_key(val, vlen, key, err);
    return id_error(err, "expected a string or a number");
}

/* ---- the ids seen --------------------------------------------------------- */

static uint64_t hash(const char *s) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static size_t find(const batch_ids *s, const char *key) {
    size_t i = (size_t)hash(key) & (s->cap - 1);
    while (s->keys[i] && strcmp(s->keys[i], key)) i = (i + 1) & (s->cap - 1);
    return i;
}

static int grow(batch_ids *s) {
    batch_ids t = {.cap = s->cap ? s->cap * 2 : 1024};
    t.keys = calloc(t.cap, sizeof *t.keys);
    t.lines = calloc(t.cap, sizeof *t.lines);
    if (!t.keys || !t.lines) return free(t.keys), free(t.lines), -1;
    for (size_t i = 0; i < s->cap; i++)
        if (s->keys[i]) {
            size_t j = find(&t, s->keys[i]);
            t.keys[j] = s->keys[i];
            t.lines[j] = s->lines[i];
        }
    t.n = s->n;
    free(s->keys);
    free(s->lines);
    *s = t;
    return 0;
}

long batch_ids_add(batch_ids *s, char *key, long line) {
    if ((s->n + 1) * 2 > s->cap && grow(s)) return free(key), -1;
    size_t i = find(s, key);
    if (s->keys[i]) return free(key), s->lines[i];
    s->keys[i] = key;
    s->lines[i] = line;
    s->n++;
    return 0;
}

void batch_ids_free(batch_ids *s) {
    for (size_t i = 0; i < s->cap; i++) free(s->keys[i]);
    free(s->keys);
    free(s->lines);
    *s = (batch_ids){0};
}
