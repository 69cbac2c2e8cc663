/* The GGUF writer (gguf_write.h). Layout of a v3 file, all little-endian:
 * "GGUF", version (u32), tensor count (u64), metadata count (u64); each
 * key/value as key (u64 length + bytes), value type (u32), value; each tensor
 * info as name, n_dims (u32), ne[n_dims] (u64), type (u32), offset (u64, from
 * the data section's start); zero padding to the alignment; the tensors'
 * data, each padded to the alignment. */
#include "gguf_write.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "file.h"
#include "gguf.h"
#include "internal.h"
#include "qtypes.h"
#include "quant_blocks.h"

typedef struct tensor {
    char *name;
    int n_dims;
    uint64_t ne[LM_GGUF_MAX_DIMS];
    lm_ggml_type type, data_type;
    const void *data;
    uint64_t bytes, offset;
} tensor;

struct lm_gguf_writer {
    uint32_t alignment;
    lm_bytes kv; /* the metadata, serialized as added */
    uint64_t n_kv;
    char **keys; /* for the duplicate check */
    tensor *t;
    uint64_t n_t;
    uint64_t data_bytes; /* the data section, padding included */
    int failed;
    lm_error err;                        /* the first failure */
    const volatile sig_atomic_t *cancel; /* lm_gguf_writer_cancel_on */
};

/* ---- encodings ----------------------------------------------------------- */

static uint32_t bits_of(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

/* Shift right by s (1..24) rounding to nearest, ties to even. */
static uint32_t shift_round_even(uint32_t m, int s) {
    uint32_t q = m >> s, rem = m & ((1u << s) - 1), half = 1u << (s - 1);
    return q + (rem > half || (rem == half && (q & 1)));
}

uint16_t lm_f32_to_f16(float x) {
    uint32_t u = bits_of(x), sign = (u >> 16) & 0x8000, a = u & 0x7fffffff;
    if (a > 0x7f800000) { /* NaN: the top payload bits, never zero (numpy's rule) */
        uint32_t payload = (a & 0x7fffff) >> 13;
        return (uint16_t)(sign | 0x7c00 | (payload ? payload : 1));
    }
    if (a >= 0x477ff000) return (uint16_t)(sign | 0x7c00); /* >= 65520 rounds to infinity */
    if (a >= 0x38800000) { /* normal in f16: rebias the exponent, round 13 bits off */
        uint32_t r = a - 0x38000000;
        return (uint16_t)(sign | shift_round_even(r, 13));
    }
    int e = (int)(a >> 23);             /* a subnormal f16 (or zero): units of 2^-24 */
    if (e < 102) return (uint16_t)sign; /* below 2^-25: rounds to zero */
    uint32_t m = (a & 0x7fffff) | 0x800000;
    return (uint16_t)(sign | shift_round_even(m, 126 - e));
}

uint16_t lm_f32_to_bf16(float x) {
    uint32_t u = bits_of(x);
    if ((u & 0x7fffffff) > 0x7f800000) return (uint16_t)((u >> 16) | 64); /* quiet NaN */
    return (uint16_t)((u + 0x7fff + ((u >> 16) & 1)) >> 16);
}

static void put_u16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

/* ggml's quantize_row_q8_0_ref on one block of 32. */
static void encode_q8_0_block(const float *x, uint8_t *out) {
    float amax = 0.0f;
    for (int i = 0; i < 32; i++) amax = fmaxf(amax, fabsf(x[i]));
    float d = amax / 127.0f;
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    put_u16(out, lm_f32_to_f16(d));
    for (int i = 0; i < 32; i++) {
        float p = x[i] * id; /* a separate statement: no contraction into the rounding */
        out[2 + i] = (uint8_t)(int8_t)roundf(p);
    }
}

void lm_gguf_encode(lm_ggml_type t, const float *src, void *dst, uint64_t n) {
    uint8_t *o = dst;
    switch (t) {
    case LM_GGML_F32: memcpy(dst, src, (size_t)n * 4); break;
    case LM_GGML_F16:
        for (uint64_t i = 0; i < n; i++) put_u16(o + 2 * i, lm_f32_to_f16(src[i]));
        break;
    case LM_GGML_BF16:
        for (uint64_t i = 0; i < n; i++) put_u16(o + 2 * i, lm_f32_to_bf16(src[i]));
        break;
    case LM_GGML_Q8_0:
        for (uint64_t b = 0; b < n / LM_GGUF_Q8_0_BLOCK; b++)
            encode_q8_0_block(src + LM_GGUF_Q8_0_BLOCK * b, o + LM_GGUF_Q8_0_BYTES * b);
        break;
    default: lm_quantize_blocks((int)t, src, dst, n); break;
    }
}

const char *lm_gguf_writable_name(lm_ggml_type t) {
    switch (t) {
    case LM_GGML_F32: return "F32";
    case LM_GGML_F16: return "F16";
    case LM_GGML_Q8_0: return "Q8_0";
    case LM_GGML_BF16: return "BF16";
    default: break;
    }
    const lm_qtype *q = lm_qtype_ggml((int)t);
    return q ? q->name : NULL;
}

int lm_gguf_block_values(lm_ggml_type t) {
    const lm_qtype *q = lm_qtype_ggml((int)t);
    return q ? q->block_values : t == LM_GGML_Q8_0 ? LM_GGUF_Q8_0_BLOCK : 1;
}

int lm_gguf_block_bytes(lm_ggml_type t) {
    const lm_qtype *q = lm_qtype_ggml((int)t);
    if (q) return q->block_bytes;
    return t == LM_GGML_Q8_0 ? LM_GGUF_Q8_0_BYTES : t == LM_GGML_F32 ? 4 : 2;
}

/* ---- collecting ---------------------------------------------------------- */

static void fail(lm_gguf_writer *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fail(lm_gguf_writer *w, const char *fmt, ...) {
    if (w->failed) return;
    w->failed = 1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->err.msg, sizeof w->err.msg, fmt, ap);
    va_end(ap);
}

lm_gguf_writer *lm_gguf_writer_new(uint32_t alignment, lm_error *err) {
    if (alignment == 0 || (alignment & (alignment - 1))) {
        lm_fail(err, "GGUF alignment %u is not a power of two", alignment);
        return NULL;
    }
    lm_gguf_writer *w = calloc(1, sizeof *w);
    if (!w) lm_fail(err, "out of memory");
    if (w) w->alignment = alignment;
    return w;
}

void lm_gguf_writer_free(lm_gguf_writer *w) {
    if (!w) return;
    for (uint64_t i = 0; i < w->n_kv; i++) free(w->keys[i]);
    for (uint64_t i = 0; i < w->n_t; i++) free(w->t[i].name);
    free(w->keys);
    free(w->t);
    free(w->kv.p);
    free(w);
}

static void append(lm_gguf_writer *w, const void *p, size_t n) {
    if (w->failed) return;
    if (lm_bytes_add(&w->kv, p, n, 4096)) fail(w, "out of memory for the GGUF metadata");
}

static void append_u32(lm_gguf_writer *w, uint32_t v) {
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    append(w, b, 4);
}

static void append_u64(lm_gguf_writer *w, uint64_t v) {
    append_u32(w, (uint32_t)v);
    append_u32(w, (uint32_t)(v >> 32));
}

static void append_string(lm_gguf_writer *w, const char *s, uint64_t n) {
    append_u64(w, n);
    append(w, s, (size_t)n);
}

/* The key (checked unique) and the value's type. */
static void begin_kv(lm_gguf_writer *w, const char *key, uint32_t type) {
    if (w->failed) return;
    for (uint64_t i = 0; i < w->n_kv; i++)
        if (strcmp(w->keys[i], key) == 0) {
            fail(w, "GGUF key %s added twice", key);
            return;
        }
    char **keys = realloc(w->keys, (size_t)(w->n_kv + 1) * sizeof *keys);
    char *copy = strdup(key);
    if (keys) w->keys = keys;
    if (!keys || !copy) {
        free(copy);
        fail(w, "out of memory for the GGUF metadata");
        return;
    }
    w->keys[w->n_kv++] = copy;
    append_string(w, key, strlen(key));
    append_u32(w, type);
}

void lm_gguf_add_u32(lm_gguf_writer *w, const char *key, uint32_t v) {
    begin_kv(w, key, LM_GGUF_U32);
    append_u32(w, v);
}

void lm_gguf_add_f32(lm_gguf_writer *w, const char *key, float v) {
    begin_kv(w, key, LM_GGUF_F32);
    append_u32(w, bits_of(v));
}

void lm_gguf_add_bool(lm_gguf_writer *w, const char *key, int v) {
    uint8_t b = v != 0;
    begin_kv(w, key, LM_GGUF_BOOL);
    append(w, &b, 1);
}

void lm_gguf_add_raw(lm_gguf_writer *w, const char *key, uint32_t type, const void *value,
                     uint64_t n) {
    begin_kv(w, key, type);
    append(w, value, (size_t)n);
}

void lm_gguf_add_str(lm_gguf_writer *w, const char *key, const char *v) {
    begin_kv(w, key, LM_GGUF_STRING);
    append_string(w, v, strlen(v));
}

static void begin_array(lm_gguf_writer *w, const char *key, uint32_t type, uint64_t n) {
    begin_kv(w, key, LM_GGUF_ARRAY);
    append_u32(w, type);
    append_u64(w, n);
}

void lm_gguf_add_str_array(lm_gguf_writer *w, const char *key, const char *const *v,
                           const uint32_t *len, uint64_t n) {
    begin_array(w, key, LM_GGUF_STRING, n);
    for (uint64_t i = 0; i < n; i++) append_string(w, v[i], len[i]);
}

void lm_gguf_add_f32_array(lm_gguf_writer *w, const char *key, const float *v, uint64_t n) {
    begin_array(w, key, LM_GGUF_F32, n);
    for (uint64_t i = 0; i < n; i++) append_u32(w, bits_of(v[i]));
}

void lm_gguf_add_i32_array(lm_gguf_writer *w, const char *key, const int32_t *v, uint64_t n) {
    begin_array(w, key, LM_GGUF_I32, n);
    for (uint64_t i = 0; i < n; i++) append_u32(w, (uint32_t)v[i]);
}

static uint64_t padded(uint64_t n, uint32_t alignment) {
    uint64_t r = lm_add(n, alignment - 1);
    return r == UINT64_MAX ? r : r & ~(uint64_t)(alignment - 1);
}

static int check_tensor(lm_gguf_writer *w, const char *name, int n_dims, const uint64_t *ne,
                        lm_ggml_type type, lm_ggml_type data_type, uint64_t *n) {
    /* a 16-bit source is widened; F16 is written from BF16 (llama-quantize's
     * fallback for rows that are not whole blocks), never BF16 from F16 */
    int half_src = data_type == LM_GGML_F16 || data_type == LM_GGML_BF16;
    int half_dst = type == LM_GGML_F16 || type == LM_GGML_BF16;
    int narrow = data_type == LM_GGML_BF16 && type == LM_GGML_F16;
    if (!lm_gguf_writable_name(type) ||
        (data_type != type && data_type != LM_GGML_F32 && !(half_src && !half_dst) && !narrow)) {
        const char *to = lm_gguf_writable_name(type), *from = lm_gguf_writable_name(data_type);
        return fail(w, "tensor %s: cannot write %s from %s", name, to ? to : "this type",
                    from ? from : "this type"),
               -1;
    }
    if (n_dims < 1 || n_dims > LM_GGUF_MAX_DIMS)
        return fail(w, "tensor %s: %d dimensions (GGUF: 1 to %d)", name, n_dims, LM_GGUF_MAX_DIMS),
               -1;
    *n = 1;
    for (int d = 0; d < n_dims; d++) *n = lm_mul(*n, ne[d]);
    if (*n == 0 || *n == UINT64_MAX) return fail(w, "tensor %s: bad shape", name), -1;
    if (ne[0] % (uint64_t)lm_gguf_block_values(type))
        return fail(w, "tensor %s: rows of %llu values are not whole %s blocks of %d", name,
                    (unsigned long long)ne[0], lm_gguf_writable_name(type),
                    lm_gguf_block_values(type)),
               -1;
    for (uint64_t i = 0; i < w->n_t; i++)
        if (strcmp(w->t[i].name, name) == 0) return fail(w, "GGUF tensor %s added twice", name), -1;
    return 0;
}

void lm_gguf_add_tensor(lm_gguf_writer *w, const char *name, int n_dims, const uint64_t *ne,
                        lm_ggml_type type, const void *data, lm_ggml_type data_type) {
    uint64_t n;
    if (w->failed || check_tensor(w, name, n_dims, ne, type, data_type, &n)) return;
    tensor t = {.n_dims = n_dims, .type = type, .data_type = data_type, .data = data};
    memcpy(t.ne, ne, (size_t)n_dims * sizeof *ne);
    t.bytes = lm_mul(n / (uint64_t)lm_gguf_block_values(type), (uint64_t)lm_gguf_block_bytes(type));
    t.offset = w->data_bytes;
    uint64_t end = padded(lm_add(t.offset, t.bytes), w->alignment);
    if (end == UINT64_MAX) {
        fail(w, "tensor %s: too large", name);
        return;
    }
    tensor *ts = realloc(w->t, (size_t)(w->n_t + 1) * sizeof *ts);
    t.name = strdup(name);
    if (ts) w->t = ts;
    if (!ts || !t.name) {
        free(t.name);
        fail(w, "out of memory for the GGUF tensor list");
        return;
    }
    w->t[w->n_t++] = t;
    w->data_bytes = end;
}

/* ---- writing ------------------------------------------------------------- */

typedef struct sink {
    FILE *f;
    uint64_t at; /* bytes written */
    int failed;
} sink;

static void put(sink *s, const void *p, size_t n) {
    if (!s->failed && n && fwrite(p, 1, n, s->f) != n) s->failed = 1;
    s->at += n;
}

static void put_zeros(sink *s, uint64_t n) {
    static const uint8_t zeros[64];
    for (; n > 0; n -= n < sizeof zeros ? n : sizeof zeros)
        put(s, zeros, (size_t)(n < sizeof zeros ? n : sizeof zeros));
}

/* The header, metadata and tensor infos, assembled in the writer's buffer
 * after the metadata (the buffer is only appended to, so it stays valid). */
static void put_head(lm_gguf_writer *w, sink *s) {
    size_t kv_end = w->kv.len;
    for (uint64_t i = 0; i < w->n_t; i++) {
        const tensor *t = &w->t[i];
        append_string(w, t->name, strlen(t->name));
        append_u32(w, (uint32_t)t->n_dims);
        for (int d = 0; d < t->n_dims; d++) append_u64(w, t->ne[d]);
        append_u32(w, (uint32_t)t->type);
        append_u64(w, t->offset);
    }
    if (w->failed) return;
    uint8_t h[24] = {'G', 'G', 'U', 'F', 3, 0, 0, 0};
    for (int i = 0; i < 8; i++) {
        h[8 + i] = (uint8_t)(w->n_t >> (8 * i));
        h[16 + i] = (uint8_t)(w->n_kv >> (8 * i));
    }
    put(s, h, sizeof h);
    put(s, w->kv.p, w->kv.len);
    w->kv.len = kv_end; /* the infos again on another write */
    put_zeros(s, padded(s->at, w->alignment) - s->at);
}

/* A tensor's data, encoded a slice of rows at a time. */
static void put_tensor(lm_gguf_writer *w, sink *s, const tensor *t) {
    if (t->data_type == t->type) {
        put(s, t->data, (size_t)t->bytes);
        return;
    }
    uint64_t row = t->ne[0], rows = t->bytes / (row / (uint64_t)lm_gguf_block_values(t->type) *
                                                (uint64_t)lm_gguf_block_bytes(t->type));
    uint64_t row_bytes = t->bytes / rows,
             per = row_bytes >= (1u << 20) ? 1 : (1u << 20) / row_bytes;
    uint8_t *buf = malloc((size_t)(per * row_bytes));
    if (!buf) {
        fail(w, "out of memory encoding tensor %s", t->name);
        return;
    }
    /* Sources go through fp32 a slice at a time: F16 / BF16 widened, F32
     * copied (a mapped input need not align its floats). */
    float *wide = malloc((size_t)(per * row) * sizeof(float));
    if (!wide) {
        free(buf);
        fail(w, "out of memory encoding tensor %s", t->name);
        return;
    }
    for (uint64_t r = 0; r < rows && !s->failed && !w->failed; r += per) {
        uint64_t k = rows - r < per ? rows - r : per;
        if (t->data_type == LM_GGML_F32) {
            memcpy(wide, (const uint8_t *)t->data + 4 * r * row, (size_t)(k * row) * sizeof(float));
        } else {
            const uint8_t *h = (const uint8_t *)t->data + 2 * r * row;
            for (uint64_t i = 0; i < k * row; i++) {
                uint16_t v = (uint16_t)(h[2 * i] | h[2 * i + 1] << 8);
                wide[i] = t->data_type == LM_GGML_F16 ? lm_f16_to_f32(v) : lm_bf16_to_f32(v);
            }
        }
        /* a quantizer given NaN or inf writes garbage blocks: refuse them */
        for (uint64_t i = 0; i < k * row; i++)
            if (!isfinite(wide[i])) {
                fail(w, "tensor %s: value %llu is %g, not a finite number", t->name,
                     (unsigned long long)(r * row + i), (double)wide[i]);
                break;
            }
        if (w->failed) break;
        const float *src = wide;
        lm_gguf_encode(t->type, src, buf, k * row);
        put(s, buf, (size_t)(k * row_bytes));
    }
    free(wide);
    free(buf);
}

int lm_gguf_write(lm_gguf_writer *w, FILE *f, lm_progress_fn *progress, void *arg, lm_error *err) {
    sink s = {f, 0, 0};
    if (!w->failed) put_head(w, &s);
    uint64_t data_start = s.at;
    for (uint64_t i = 0; i < w->n_t && !w->failed && !s.failed; i++) {
        if (w->cancel && *w->cancel) return lm_fail(err, "cancelled");
        put_tensor(w, &s, &w->t[i]);
        put_zeros(&s, data_start + padded(w->t[i].offset + w->t[i].bytes, w->alignment) - s.at);
        if (progress) progress(arg, s.at - data_start, w->data_bytes);
    }
    if (w->failed) return lm_fail(err, "%s", w->err.msg);
    if (s.failed) return lm_fail(err, "write failed: %s", strerror(errno));
    return 0;
}

void lm_gguf_writer_cancel_on(lm_gguf_writer *w, const volatile sig_atomic_t *cancel) {
    w->cancel = cancel;
}

int lm_gguf_write_out(lm_gguf_writer *w, const char *out, uint64_t in_dev, uint64_t in_ino,
                      lm_progress_fn *progress, void *arg, const lm_cancel_flag *cancel,
                      lm_error *err) {
    lm_out_file o;
    lm_gguf_writer_cancel_on(w, cancel);
    if (lm_out_begin(&o, out, in_dev, in_ino, err)) return -1;
    if (lm_gguf_write(w, o.f, progress, arg, err)) {
        char why[sizeof err->msg];
        snprintf(why, sizeof why, "%s", err->msg);
        lm_fail(err, "%s: %s", out, why);
        lm_out_abort(&o);
        return -1;
    }
    return lm_out_commit(&o, err);
}
