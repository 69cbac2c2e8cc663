/* The GGUF parser (src/engine/gguf.h) on files crafted here: a valid one
 * read back through every getter, then bad ones, each refused with a one-line
 * message naming the problem (and the key or tensor), and every truncation of
 * the valid file refused. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../check.h"
#include "gguf.h"

/* ---- a tiny writer ---------------------------------------------------------- */

typedef struct buf {
    uint8_t *p;
    size_t n, cap;
} buf;

static void put(buf *b, const void *d, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        if (!b->p) abort();
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}
static void u32(buf *b, uint32_t v) { put(b, &v, 4); }
static void u64(buf *b, uint64_t v) { put(b, &v, 8); }
static void str(buf *b, const char *s) {
    u64(b, strlen(s));
    put(b, s, strlen(s));
}
static void kv_str(buf *b, const char *k, const char *v) {
    str(b, k);
    u32(b, LM_GGUF_STRING);
    str(b, v);
}
static void kv_u32(buf *b, const char *k, uint32_t v) {
    str(b, k);
    u32(b, LM_GGUF_U32);
    u32(b, v);
}
static void pad_to(buf *b, size_t a) {
    while (b->n % a) put(b, "", 1);
}
/* A tensor info: name, dims (innermost first), type, offset. */
static void tinfo(buf *b, const char *name, int nd, const uint64_t *dims, uint32_t type,
                  uint64_t off) {
    str(b, name);
    u32(b, (uint32_t)nd);
    for (int i = 0; i < nd; i++) u64(b, dims[i]);
    u32(b, type);
    u64(b, off);
}

/* Knobs of the crafted file; the defaults make a valid v3 file. */
typedef struct spec {
    uint32_t version, alignment;
    uint64_t n_kv_claim, n_t_claim; /* 0: the real counts */
    uint32_t odd_value_type;        /* non-zero: an extra key with this value type */
    int nested, dup_key, dup_tensor, overlap, misalign, bad_type, five_dims;
    uint64_t string_len; /* non-zero: the name string claims this length */
} spec;

static buf build(spec s) {
    buf b = {0};
    if (!s.version) s.version = 3;
    if (!s.alignment) s.alignment = 32;
    uint64_t n_kv = 5 + (s.odd_value_type != 0) + (s.nested != 0) + (s.dup_key != 0);
    uint64_t n_t = 2 + (s.dup_tensor != 0);
    put(&b, "GGUF", 4);
    u32(&b, s.version);
    u64(&b, s.n_t_claim ? s.n_t_claim : n_t);
    u64(&b, s.n_kv_claim ? s.n_kv_claim : n_kv);
    kv_str(&b, "general.architecture", "llama");
    kv_u32(&b, "general.alignment", s.alignment);
    if (s.string_len) {
        str(&b, "general.name");
        u32(&b, LM_GGUF_STRING);
        u64(&b, s.string_len);
        put(&b, "x", 1);
    } else {
        kv_str(&b, "general.name", "crafted");
    }
    str(&b, "tokenizer.ggml.tokens"); /* an array of strings */
    u32(&b, LM_GGUF_ARRAY);
    u32(&b, LM_GGUF_STRING);
    u64(&b, 3);
    str(&b, "<unk>");
    str(&b, "");
    str(&b, "\xe2\x96\x81the");
    str(&b, "tokenizer.ggml.scores"); /* an array of f32 */
    u32(&b, LM_GGUF_ARRAY);
    u32(&b, LM_GGUF_F32);
    u64(&b, 3);
    float sc[3] = {0.0f, -1.5f, 2.25f};
    put(&b, sc, sizeof sc);
    if (s.odd_value_type) {
        str(&b, "odd.key");
        u32(&b, s.odd_value_type);
        u32(&b, 0);
    }
    if (s.nested) {
        str(&b, "nested.key");
        u32(&b, LM_GGUF_ARRAY);
        u32(&b, LM_GGUF_ARRAY);
        u64(&b, 1);
        u32(&b, LM_GGUF_U8);
        u64(&b, 1);
        put(&b, "", 1);
    }
    if (s.dup_key) kv_str(&b, "general.name", "again");
    uint64_t d0[2] = {4, 2}, d1[1] = {64}, d5[5] = {4, 1, 1, 1, 2};
    uint64_t a = s.alignment;
    tinfo(&b, "a.weight", s.five_dims ? 5 : 2, s.five_dims ? d5 : d0, s.bad_type ? 77 : LM_GGML_F32,
          0);
    uint64_t off1 = s.overlap ? 0 : (32 + a - 1) / a * a;
    if (s.misalign) off1 += 4;
    tinfo(&b, "b.weight", 1, d1, LM_GGML_F16, off1);
    if (s.dup_tensor) tinfo(&b, "a.weight", 1, d1, LM_GGML_F16, off1 + 128 * a);
    pad_to(&b, a);
    size_t data = b.n;
    float fa[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    put(&b, fa, sizeof fa);
    pad_to(&b, a);
    size_t end = data + off1 + 128 + (s.dup_tensor ? 128 * a + 128 : 0);
    while (b.n < end) put(&b, "\x3c", 1);
    return b;
}

/* The image must be refused with a one-line message containing `want`. */
static void refused(spec s, const char *want, const char *label) {
    buf b = build(s);
    lm_error e = {{0}};
    lm_gguf *g = lm_gguf_parse(b.p, b.n, "crafted.gguf", &e);
    CHECK(!g, "%s: parsed", label);
    CHECK(strstr(e.msg, want) != NULL, "%s: message '%s' lacks '%s'", label, e.msg, want);
    CHECK(!strchr(e.msg, '\n'), "%s: message spans lines: %s", label, e.msg);
    CHECK(strncmp(e.msg, "crafted.gguf: ", 14) == 0, "%s: message does not name the file: %s",
          label, e.msg);
    lm_gguf_free(g);
    free(b.p);
}

static void valid(void) {
    buf b = build((spec){0});
    lm_error e = {{0}};
    lm_gguf *g = lm_gguf_parse(b.p, b.n, "crafted.gguf", &e);
    CHECK(g, "valid file refused: %s", e.msg);
    if (!g) return;
    CHECK(lm_gguf_version(g) == 3 && lm_gguf_alignment(g) == 32, "header");
    CHECK(lm_gguf_n_kv(g) == 5 && lm_gguf_n_tensors(g) == 2, "counts");
    lm_gguf_str s;
    CHECK(lm_gguf_get_str(g, "general.architecture", &s, &e) == 0 && s.n == 5 &&
              !memcmp(s.p, "llama", 5),
          "architecture");
    uint32_t u;
    int32_t i;
    float f;
    int bo;
    CHECK(lm_gguf_get_u32(g, "general.alignment", &u, &e) == 0 && u == 32, "alignment");
    CHECK(lm_gguf_get_i32(g, "general.alignment", &i, &e) == 0 && i == 32, "as i32");
    CHECK(lm_gguf_get_u32(g, "no.such.key", &u, &e) == 1, "absent key");
    CHECK(lm_gguf_get_f32(g, "general.name", &f, &e) == -1 && strstr(e.msg, "'general.name'") &&
              strstr(e.msg, "expected f32"),
          "wrong type: %s", e.msg);
    CHECK(lm_gguf_get_bool(g, "general.alignment", &bo, &e) == -1, "bool of a u32");
    const lm_gguf_kv *kv;
    CHECK(lm_gguf_get_arr(g, "tokenizer.ggml.tokens", LM_GGUF_STRING, &kv, &e) == 0 &&
              kv->count == 3,
          "string array");
    lm_gguf_iter it = lm_gguf_strings(kv);
    const char *want[3] = {"<unk>", "", "\xe2\x96\x81the"};
    int n = 0;
    while (lm_gguf_next_str(&it, &s)) {
        CHECK(n < 3 && s.n == strlen(want[n]) && !memcmp(s.p, want[n], s.n), "string %d", n);
        n++;
    }
    CHECK(n == 3, "iterated %d strings", n);
    CHECK(lm_gguf_get_arr(g, "tokenizer.ggml.tokens", LM_GGUF_F32, &kv, &e) == -1 &&
              strstr(e.msg, "array of string"),
          "array element type: %s", e.msg);
    CHECK(lm_gguf_get_arr(g, "tokenizer.ggml.scores", LM_GGUF_F32, &kv, &e) == 0, "f32 array");
    CHECK(lm_gguf_arr_f32(kv, 2, &f) == 0 && f == 2.25f, "score 2");
    CHECK(lm_gguf_arr_f32(kv, 3, &f) == -1, "score 3 is out of range");
    const lm_gguf_tensor *t = lm_gguf_find_tensor(g, "a.weight");
    CHECK(t && t->type == LM_GGML_F32 && t->n_dims == 2 && t->dims[0] == 4 && t->dims[1] == 2 &&
              t->bytes == 32 && t->offset == 0,
          "tensor a");
    if (t) {
        float x;
        memcpy(&x, t->data + 7 * 4, 4);
        CHECK(x == 8.0f, "a's last value %g", x);
        CHECK((size_t)(t->data - b.p) == lm_gguf_data_offset(g), "a at the data section");
    }
    t = lm_gguf_find_tensor(g, "b.weight");
    CHECK(t && t->type == LM_GGML_F16 && t->bytes == 128 && t->offset == 32, "tensor b");
    CHECK(!lm_gguf_find_tensor(g, "c.weight"), "absent tensor");
    lm_gguf_free(g);

    /* every truncation is refused, with one line */
    for (size_t cut = 0; cut < b.n; cut += cut < 400 ? 1 : 97) {
        lm_gguf *h = lm_gguf_parse(b.p, cut, "crafted.gguf", &e);
        CHECK(!h, "truncated to %zu bytes: parsed", cut);
        CHECK(!strchr(e.msg, '\n'), "truncated to %zu: %s", cut, e.msg);
        lm_gguf_free(h);
    }
    free(b.p);
}

static void numbers(void) {
    /* every half: the widening is exact (checked against the definition) */
    for (uint32_t h = 0; h < 65536; h++) {
        int e = (h >> 10) & 31, m = h & 1023;
        if (e == 31) continue;
        double v = e ? ldexp(1.0 + m / 1024.0, e - 15) : ldexp(m / 1024.0, -14);
        if (h & 0x8000) v = -v;
        float f = lm_f16_to_f32((uint16_t)h);
        CHECK((double)f == v && !!signbit(f) == !!(h & 0x8000), "half %04x -> %g, not %g", h, f, v);
    }
    CHECK(isinf(lm_f16_to_f32(0x7c00)) && isnan(lm_f16_to_f32(0x7e00)), "half inf, nan");
    CHECK(lm_bf16_to_f32(0x3fc0) == 1.5f && lm_bf16_to_f32(0xc000) == -2.0f, "bf16");
}

int main(void) {
    valid();
    numbers();
    refused((spec){.version = 1}, "unsupported GGUF version 1", "v1");
    refused((spec){.version = 0x03000000}, "big-endian", "big-endian");
    refused((spec){.n_kv_claim = UINT64_C(1) << 62}, "claims 4611686018427387904 metadata entries",
            "huge kv count");
    refused((spec){.n_t_claim = UINT64_C(1) << 62}, "claims 4611686018427387904 tensors",
            "huge tensor count");
    refused((spec){.string_len = UINT64_C(1) << 60}, "'general.name': string runs past",
            "huge string length");
    refused((spec){.string_len = UINT64_MAX}, "'general.name': string runs past",
            "string length 2^64-1");
    refused((spec){.odd_value_type = 13}, "'odd.key': unknown value type 13", "value type");
    refused((spec){.nested = 1}, "'nested.key': arrays of arrays", "nested array");
    refused((spec){.dup_key = 1}, "'general.name': occurs more than once", "duplicate key");
    refused((spec){.dup_tensor = 1}, "tensor 'a.weight': occurs more than once",
            "duplicate tensor");
    refused((spec){.overlap = 1}, "overlaps that of tensor", "overlap");
    refused((spec){.misalign = 1}, "tensor 'b.weight': offset 36 is not a multiple", "misaligned");
    refused((spec){.alignment = 24}, "'general.alignment': 24 is not a power of two", "alignment");
    refused((spec){.bad_type = 1}, "tensor 'a.weight': unknown tensor type 77", "tensor type");
    refused((spec){.five_dims = 1}, "tensor 'a.weight': 5 dimensions", "five dims");
    refused((spec){.alignment = 64, .misalign = 1}, "not a multiple of the alignment 64",
            "misaligned at 64");
    /* a larger alignment is honoured */
    buf b = build((spec){.alignment = 256});
    lm_error e;
    lm_gguf *g = lm_gguf_parse(b.p, b.n, "crafted.gguf", &e);
    CHECK(g && lm_gguf_data_offset(g) % 256 == 0 &&
              lm_gguf_find_tensor(g, "b.weight")->offset == 256,
          "alignment 256: %s", g ? "offsets" : e.msg);
    lm_gguf_free(g);
    free(b.p);
    return check_exit("gguf.parse");
}
