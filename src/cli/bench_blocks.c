/* `lamina bench --dtype q4_0|q4_k_m|q5_k_m|q6_k`: random-weight models in
 * ggml's block-quantized types. The model is a GGUF image built in memory
 * (lm_model_load_memory loads it as it loads a file) whose tensors have the
 * types llama-quantize gives a Llama model of that shape for that file type
 * (llama.cpp's llama_tensor_get_type, de3ff81, untied output):
 *   q4_0    everything Q4_0, output.weight Q6_K
 *   q4_k_m  Q4_K; output Q6_K; attn_v and ffn_down Q6_K in the layers where
 *           use_more_bits(i, n) = i < n/8 || i >= 7n/8 || (i - n/8) % 3 == 2
 *   q5_k_m  the same with Q5_K
 *   q6_k    everything Q6_K
 * The norms are F32 ones. The blocks are random bytes with the half-float
 * scales (d, dmin) set to finite normal values that keep the weights near
 * +-1/sqrt(cols), so activations stay finite and the products do the work
 * real weights make them do. The bytes read per token (every layer matrix
 * and the classifier in full, one row of the embedding) are counted from the
 * blocks themselves, the mixture's bits included. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

enum { GGML_F32 = 0, GGML_Q4_0 = 2, GGML_Q8_0 = 8, GGML_Q4_K = 12, GGML_Q5_K = 13, GGML_Q6_K = 14 };
enum { GGUF_U32 = 4, GGUF_F32 = 6, GGUF_STR = 8 };
#define ALIGN 32

/* ggml's block sizes: values per block, bytes per block */
static int block_values(int t) {
    return t == GGML_F32 ? 1 : t == GGML_Q4_0 || t == GGML_Q8_0 ? 32 : 256;
}
static int block_bytes(int t) {
    switch (t) {
    case GGML_F32: return 4;
    case GGML_Q4_0: return 18;
    case GGML_Q8_0: return 34;
    case GGML_Q4_K: return 144;
    case GGML_Q5_K: return 176;
    default: return 210; /* Q6_K */
    }
}

/* The GGUF type of a matrix of layer `layer` (-1: output.weight, -2:
 * token_embd.weight); `more` is 1 for attn_v and ffn_down. */
static int tensor_type(int dt, int layer, int n_layers, int more) {
    int base = dt == DT_Q4_0     ? GGML_Q4_0
               : dt == DT_Q4_K_M ? GGML_Q4_K
               : dt == DT_Q5_K_M ? GGML_Q5_K
                                 : GGML_Q6_K;
    if (layer == -1) return GGML_Q6_K;
    if (layer < 0 || !more || (dt != DT_Q4_K_M && dt != DT_Q5_K_M)) return base;
    int n8 = n_layers / 8;
    int use_more_bits = layer < n8 || layer >= 7 * n_layers / 8 || (layer - n8) % 3 == 2;
    return use_more_bits ? GGML_Q6_K : base;
}

typedef struct image {
    unsigned char *p;
    size_t n, cap;
} image;

static void put(image *im, const void *src, size_t n) {
    if (im->p) memcpy(im->p + im->n, src, n);
    im->n += n;
}
static void put_u32(image *im, uint32_t v) { put(im, &v, 4); }
static void put_u64(image *im, uint64_t v) { put(im, &v, 8); }
static void put_str(image *im, const char *s) {
    put_u64(im, strlen(s));
    put(im, s, strlen(s));
}
static void kv_u32(image *im, const char *key, uint32_t v) {
    put_str(im, key);
    put_u32(im, GGUF_U32);
    put_u32(im, v);
}

typedef struct tensor {
    char name[48];
    int type, rows, cols; /* rows 0: a vector */
    uint64_t offset, bytes;
} tensor;

static uint64_t splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* IEEE half bits of a positive normal float (truncated mantissa). */
static uint16_t half_bits(float x) {
    int e;
    float m = frexpf(x, &e); /* x = m 2^e, m in [0.5, 1) */
    if (e - 1 < -14) return 0x0400;
    return (uint16_t)(((e - 1 + 15) << 10) | ((int)((m * 2 - 1) * 1024) & 0x3FF));
}

/* Random blocks of one matrix; the half scales at their offsets replaced. */
static void fill_blocks(unsigned char *dst, const tensor *t, uint64_t *rng) {
    uint64_t n = t->bytes;
    for (uint64_t i = 0; i < n; i += 8) {
        uint64_t r = splitmix(rng);
        memcpy(dst + i, &r, n - i < 8 ? n - i : 8);
    }
    /* the largest |q x scale| of a block, so that d x it ~ 1 / sqrt(cols) */
    float span = t->type == GGML_Q4_0   ? 8
                 : t->type == GGML_Q4_K ? 63 * 15
                 : t->type == GGML_Q5_K ? 63 * 31
                                        : 127 * 32;
    float target = 1.0f / sqrtf((float)t->cols) / span;
    int bb = block_bytes(t->type);
    for (uint64_t b = 0; b < n / (uint64_t)bb; b++) {
        unsigned char *blk = dst + b * (uint64_t)bb;
        float jitter = 0.5f + (float)(splitmix(rng) >> 40) / (float)(1 << 24);
        uint16_t d = half_bits(target * jitter);
        switch (t->type) {
        case GGML_Q4_0: memcpy(blk, &d, 2); break;
        case GGML_Q4_K:
        case GGML_Q5_K: /* d, dmin first */
            memcpy(blk, &d, 2);
            memcpy(blk + 2, &d, 2);
            break;
        default: memcpy(blk + 208, &d, 2); break; /* Q6_K: d last */
        }
    }
}

/* The tensors of the model, in the order llama.cpp writes them. */
static int list_tensors(const lm_config *c, int dt, tensor *ts) {
    int n = 0, hs = c->dim / c->n_heads, kv = c->n_kv_heads * hs;
#define ADD(nm, ty, r, cl)                                                                         \
    (snprintf(ts[n].name, sizeof ts[n].name, "%s", nm), ts[n].type = (ty), ts[n].rows = (r),       \
     ts[n].cols = (cl), n++)
    ADD("token_embd.weight", tensor_type(dt, -2, c->n_layers, 0), c->vocab_size, c->dim);
    ADD("output_norm.weight", GGML_F32, 0, c->dim);
    ADD("output.weight", tensor_type(dt, -1, c->n_layers, 0), c->vocab_size, c->dim);
    for (int l = 0; l < c->n_layers; l++) {
        static const char *const nm[] = {"attn_norm", "attn_q",      "attn_k",
                                         "attn_v",    "attn_output", "ffn_norm",
                                         "ffn_gate",  "ffn_up",      "ffn_down"};
        const int rows[] = {0, c->dim, kv, kv, c->dim, 0, c->hidden_dim, c->hidden_dim, c->dim};
        const int cols[] = {c->dim, c->dim, c->dim, c->dim,       c->dim,
                            c->dim, c->dim, c->dim, c->hidden_dim};
        for (int k = 0; k < 9; k++) {
            char name[48];
            snprintf(name, sizeof name, "blk.%d.%s.weight", l, nm[k]);
            int ty = rows[k] ? tensor_type(dt, l, c->n_layers, k == 3 || k == 8) : GGML_F32;
            ADD(name, ty, rows[k], cols[k]);
        }
    }
#undef ADD
    return n;
}

/* Header, keys and tensor infos into im (sizes only when im->p is NULL). */
static void write_header(image *im, const lm_config *c, const tensor *ts, int n) {
    put(im, "GGUF", 4);
    put_u32(im, 3);
    put_u64(im, (uint64_t)n);
    put_u64(im, 8);
    put_str(im, "general.architecture");
    put_u32(im, GGUF_STR);
    put_str(im, "llama");
    kv_u32(im, "llama.context_length", (uint32_t)c->seq_len);
    kv_u32(im, "llama.embedding_length", (uint32_t)c->dim);
    kv_u32(im, "llama.block_count", (uint32_t)c->n_layers);
    kv_u32(im, "llama.feed_forward_length", (uint32_t)c->hidden_dim);
    kv_u32(im, "llama.attention.head_count", (uint32_t)c->n_heads);
    kv_u32(im, "llama.attention.head_count_kv", (uint32_t)c->n_kv_heads);
    put_str(im, "llama.attention.layer_norm_rms_epsilon");
    put_u32(im, GGUF_F32);
    float eps = 1e-5f;
    put(im, &eps, 4);
    for (int i = 0; i < n; i++) {
        put_str(im, ts[i].name);
        put_u32(im, ts[i].rows ? 2 : 1);
        put_u64(im, (uint64_t)ts[i].cols);
        if (ts[i].rows) put_u64(im, (uint64_t)ts[i].rows);
        put_u32(im, (uint32_t)ts[i].type);
        put_u64(im, ts[i].offset);
    }
}

void *bench_block_image(const lm_config *c, int dt, uint64_t seed, size_t *size,
                        uint64_t *read_bytes, double *bits) {
    int cap = 3 + 9 * c->n_layers;
    tensor *ts = calloc((size_t)cap, sizeof *ts);
    if (!ts) return NULL;
    int n = list_tensors(c, dt, ts);
    uint64_t off = 0, read = 0, values = 0;
    for (int i = 0; i < n; i++) {
        uint64_t rows = ts[i].rows ? (uint64_t)ts[i].rows : 1;
        ts[i].bytes = rows * (uint64_t)(ts[i].cols / block_values(ts[i].type)) *
                      (uint64_t)block_bytes(ts[i].type);
        ts[i].offset = off;
        off += (ts[i].bytes + ALIGN - 1) / ALIGN * ALIGN;
        if (!ts[i].rows) continue;
        int emb = i == 0; /* the embedding: one row a token */
        read += emb ? ts[i].bytes / rows : ts[i].bytes;
        values += emb ? (uint64_t)ts[i].cols : rows * (uint64_t)ts[i].cols;
    }
    image im = {0};
    write_header(&im, c, ts, n);
    size_t data = (im.n + ALIGN - 1) / ALIGN * ALIGN;
    size_t total = (data + off + 63) / 64 * 64;
    im.p = aligned_alloc(64, total);
    if (!im.p) return free(ts), NULL;
    memset(im.p, 0, data);
    im.n = 0;
    write_header(&im, c, ts, n);
    uint64_t rng = seed * 0x2545F4914F6CDD1Dull + 1;
    for (int i = 0; i < n; i++) {
        unsigned char *dst = im.p + data + ts[i].offset;
        if (ts[i].type == GGML_F32) { /* the norms: ones */
            float one = 1.0f;
            for (int k = 0; k < ts[i].cols; k++) memcpy(dst + 4 * (size_t)k, &one, 4);
        } else {
            fill_blocks(dst, &ts[i], &rng);
        }
    }
    free(ts);
    *size = data + off;
    *read_bytes = read;
    *bits = 8.0 * (double)read / (double)values;
    return im.p;
}
