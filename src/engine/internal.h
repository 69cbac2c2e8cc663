/* Engine internals shared by the modules of liblamina; not installed. */
#ifndef LAMINA_INTERNAL_H
#define LAMINA_INTERNAL_H

#include "barrier.h"
#include "kernels.h"
#include "lamina.h"

/* Fill err (if any) with a printf-style one-line message; returns -1. */
int lm_fail(lm_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* tokenizer.c: the longest piece in bytes (a turn of B bytes is at least
 * B / max_piece tokens). */
int lm_tokenizer_max_piece(const lm_tokenizer *tok);

/* Prompt tokens one forward pass takes: lm_context's block, and what a batch
 * adds to its one token per sequence so that joining sequences start quickly. */
#define LM_MAX_BATCH 64

/* a * b, or UINT64_MAX when it overflows (so absurd headers stay absurd). */
uint64_t lm_mul(uint64_t a, uint64_t b);
uint64_t lm_add(uint64_t a, uint64_t b);

/* A weight matrix [rows, cols], fp32 or Q8_0. f32 / q8 / blocks point into
 * the file image while it is laid out; the load then packs every matrix into
 * panels (p, kernels/pack.h), drops the image and sets them to NULL. */
typedef struct lm_matrix {
    const float *f32;      /* fp32 formats */
    lm_q8 q8;              /* v2; for GGUF Q8_0 only q8.gs (32) is set */
    const uint8_t *blocks; /* GGUF Q8_0: 34-byte blocks (fp16 scale, 32 int8), row-major */
    const void *half;      /* GGUF F16 / BF16 (half_type): row-major 16-bit values */
    lm_wtype half_type;
    const uint8_t *qblk; /* GGUF Q4_0 .. Q6_K (qtype): the file's blocks, row-major */
    lm_wtype qtype;
    lm_packed p; /* what the products and the embedding read */
    int rows, cols;
    int act; /* which of the model's activation group sizes its products read
                (lm_model.act_gs); -1: none (f32, F16, BF16 weights) */
} lm_matrix;

/* The bit of w's activation group size in a mask of them (0: none). */
static inline unsigned lm_act_bit(const lm_matrix *w) { return w->act < 0 ? 0u : 1u << w->act; }

/* Distinct activation group sizes a model's products read, at most: Q8_0's
 * (v2's, or 32), the legacy block types' 32 and the K types' 256. */
#define LM_ACT_MAX 3

typedef struct lm_layer {
    const float *rms_att, *rms_ffn; /* (dim) */
    lm_matrix wq, wk, wv, wo;       /* (dim, dim), (kv_dim, dim) x2, (dim, dim) */
    lm_matrix w1, w2, w3;           /* (hidden, dim), (dim, hidden), (hidden, dim) */
} lm_layer;

struct lm_model {
    lm_model_info info;
    const lm_config *c; /* = &info.config */
    lm_layer *layers;   /* (n_layers) */
    lm_matrix tok_emb;  /* (vocab, dim) */
    lm_matrix classifier;
    const float *rms_final; /* (dim) */
    void *map;              /* the whole file, read-only */
    size_t map_size;
    float *aligned_scales;             /* copies of v2 scales that were not 4-byte aligned */
    float *norm_store;                 /* GGUF: the norms widened to f32 (until packed) */
    struct lm_gguf *gguf;              /* GGUF: the parsed file (gguf.h), NULL otherwise */
    void *packed;                      /* the panels of every matrix, then the norms (model.c) */
    float *rope_freq;                  /* (head_size / 2) each pair's RoPE frequency (rope.c) */
    uint64_t file_dev, file_ino;       /* the file it was loaded from (0, 0: none), so that
                                          lm_quantize_file never writes over it */
    uint64_t file_size, file_mtime_ns; /* its identity, with dev and ino (weights_image.c) */
    void *image;                       /* a mapped weights image the matrices point into */
    size_t image_size;
    int act_gs[LM_ACT_MAX];         /* the distinct Q8 activation group sizes of its products */
    int n_act;                      /* (lm_model_act, model.c) */
    struct lm_tensor_desc *tensors; /* GGUF: the tensors the model reads (lamina info) */
    int n_tensors;
};

/* model.c: number the distinct activation group sizes of m's products
 * (m->act_gs) and set each matrix's act; after parsing, before packing. */
void lm_model_act(lm_model *m);

/* model.c, for weights_image.c: the packed matrices in the order of the
 * packed memory (j < lm_model_n_matrices; NULL for a shared classifier),
 * the bytes each takes there and its packed type and group size (known
 * before packing), and the norms' count of floats (after the matrices). */
int lm_model_n_matrices(const lm_model *m);
lm_matrix *lm_model_matrix(lm_model *m, int j);
size_t lm_matrix_packed_bytes(const lm_matrix *w);
lm_wtype lm_matrix_packed_type(const lm_matrix *w, int *gs);
size_t lm_model_norm_floats(const lm_model *m);
/* Pack every matrix into m->packed (what lm_model_load does) and drop the
 * file image; m->info.pack_seconds is set. */
int lm_model_pack(lm_model *m, const char *name, lm_error *err);
/* Point every matrix at packed data at `base` (entry j's at base + off[j]),
 * the norms at base + norms_off, and drop the file image and m->packed. */
void lm_model_point(lm_model *m, const char *base, const uint64_t *off, uint64_t norms_off);

/* weights_image.c: the loader behind lm_model_load_ex with an image_dir. */
int lm_weights_image_attach(lm_model *m, const char *model_path, const lm_model_load_params *p,
                            lm_error *err);

/* The checkpoint mapped and checked, weights left in place in the file's
 * row-major layout (f32 / q8 of each lm_matrix), not packed: what
 * lm_quantize_file reads, so that a file larger than memory can be converted.
 * lm_model_load is this plus the packing. */
lm_model *lm_model_map(const char *path, lm_error *err);

/* The head size of a loaded (or resolved) config, and the width of all query
 * heads together (dim for llama2.c's formats). */
static inline int lm_head_size(const lm_config *c) {
    return c->head_size ? c->head_size : c->dim / c->n_heads;
}
static inline int lm_q_dim(const lm_config *c) { return c->n_heads * lm_head_size(c); }
/* Fill a config's defaults (head_size, rope_theta, norm_eps). */
void lm_config_resolve(lm_config *c);
/* 0 if the config is one the engine runs, else -1 with err ("NAME: invalid
 * header: ..."). */
int lm_check_config(const lm_config *c, const char *name, lm_error *err);
/* gguf_model.c: a GGUF image of `size` bytes at p laid out into m (the
 * hyperparameters, every matrix and norm pointed at, info filled), as
 * parse_image does for llama2.c's formats. */
int lm_gguf_model_parse(lm_model *m, const uint8_t *p, uint64_t size, const char *name,
                        lm_error *err);

/* rope.c: the model's RoPE frequency table, run.c's frequencies each divided
 * by its factor (factors NULL: none); made once at load (kernels/ORDER.md). */
int lm_rope_table(lm_model *m, const float *factors, const char *name, lm_error *err);
/* cs[0..head_size): cos, sin of each pair's angle at pos. */
void lm_rope_angles(float *cs, const float *freq, int head_size, int pos);
/* The GGUF's rope.scaling keys and rope_freqs.weight checked, the table made. */
struct lm_gguf;
int lm_gguf_rope(lm_model *m, const struct lm_gguf *g, const char *name, lm_error *err);

/* A sequence's KV cache: keys and values (layer, n_ctx, kv_dim), fp32
 * (float) or IEEE half (uint16_t) elements as type says. */
typedef struct lm_kv {
    void *key, *value;
    int n_ctx;
    lm_kv_type type;
} lm_kv;

/* Bytes of one element of a cache of that type. */
static inline size_t lm_kv_elem_bytes(lm_kv_type t) { return t == LM_KV_F16 ? 2 : 4; }
/* context.c: store kv_dim keys and values of layer l at position pos,
 * rounded to half in an F16 cache. */
void lm_kv_store(const lm_kv *kv, const lm_config *c, int l, int pos, const float *k,
                 const float *v);
/* context.c: copy positions [0, n_pos) of every layer from src into dst (the
 * same config and type; n_pos within both): a prefix shared by two caches. */
int lm_kv_copy_prefix(lm_kv *dst, const lm_kv *src, const lm_config *c, int n_pos);

/* Two words for two things (as in kernels/kernels.h): an output row is row i
 * of a weight matrix w [rows, cols] (lm_matrix, lm_packed): one output of a
 * product, y[t][i] for every token t; a token ("tok" in names, its id being
 * `token`) is one token of some sequence at some position going through a
 * forward pass: its activations are x[t] of x [T, dim], T counting the
 * tokens of the pass. Tokens of different sequences go through the layers
 * together; attention reads each token's own cache. */
typedef struct lm_tok {
    int token, pos;
    const lm_kv *kv;
} lm_tok;

/* Products and attention hand out work in chunks that threads claim as they
 * go (matmul.c): a thread the OS has descheduled holds up nobody. Slot
 * (call % LM_CLAIM_SLOTS) holds (epoch << 24 | next chunk) for a call. */
#define LM_CLAIM_SLOTS 8

/* What a forward pass needs besides the weights and the caches: buffers for
 * up to max_toks tokens, logits for up to max_out of them, attention scratch
 * for contexts up to max_ctx, the kernel table, the threads and their
 * barrier. Allocated once; the forward pass allocates nothing. */
typedef struct lm_workspace {
    const lm_model *model;
    const lm_kernels *k;
    int n_threads, max_toks, max_out, max_ctx;
    float *x, *xb, *xb2, *q;  /* (max_toks, dim) */
    float *kb, *vb;           /* (max_toks, kv_dim): keys and values on their way to the caches */
    float *hb, *hb2;          /* (max_toks, hidden) */
    lm_q8_act xq[LM_ACT_MAX]; /* (max_toks, max(dim, hidden)) quantized activations, one per
                                 group size the products read (model->act_gs) */
    float *att;               /* (n_threads, max_ctx) attention scores, one row per thread */
    float *rope;              /* (max_toks, head_size) cos/sin pairs of each token's position */
    float *logits;            /* (max_out, vocab) */
    lm_barrier *barrier;      /* between the steps of the forward pass */
    _Atomic uint64_t *claims; /* (LM_CLAIM_SLOTS) */
    uint64_t epoch;           /* the first claim epoch of the next forward pass */
    int solo;                 /* passes run on one thread: the CPUs are contended (forward.c) */
    double window_wall;       /* wall and CPU seconds of the passes since solo last changed */
    double window_cpu;        /* or was last decided */
} lm_workspace;

lm_workspace *lm_workspace_new(const lm_model *m, const char *isa, int n_threads, int max_toks,
                               int max_out, int max_ctx, lm_error *err);
void lm_workspace_free(lm_workspace *ws);
/* Bytes a workspace of these sizes allocates. */
uint64_t lm_workspace_bytes(const lm_model *m, int n_threads, int max_toks, int max_out,
                            int max_ctx);
/* A KV cache of n_ctx positions of that type (zeroed lazily by the OS), or -1. */
int lm_kv_alloc(lm_kv *kv, const lm_config *c, int n_ctx, lm_kv_type type);
void lm_kv_free(lm_kv *kv);
/* 0 if `bytes` fit in this machine's memory, else -1 and err says `what`
 * needs how much. */
int lm_check_memory(uint64_t bytes, const char *what, lm_error *err);

/* CPU time of the whole process (all threads), in seconds. */
double lm_cpu_seconds(void);

/* forward.c: run toks[0..n) (in blocks of ws->max_toks, each token after the
 * tokens before it: a sequence's tokens must come in position order) and
 * write the logits of tokens out[0..n_out) (ascending indices) to
 * ws->logits + j * vocab_size. Tokens are valid (the caller checks). */
void lm_forward_toks(lm_workspace *ws, const lm_tok *toks, int n, const int *out, int n_out);

struct lm_context {
    lm_workspace *ws;
    lm_kv kv;
    lm_tok *toks; /* (n_ctx) */
    int *every;   /* (n_ctx) 0, 1, 2, ...: lm_forward_all wants every token's logits */
};

/* matmul.c: this thread's share [*a, *b) of n items, cut at multiples of block. */
void lm_share(int n, int block, int *a, int *b);
/* Every thread calls this at the start of a forward pass's parallel region. */
void lm_claims_begin(const lm_workspace *ws);
/* Every thread calls this once per piece of shared work, in the same order;
 * then lm_claim until it returns -1 to get chunk indices < n_chunks. */
uint64_t lm_claims_next_call(void);
int lm_claim(lm_workspace *ws, uint64_t call, int n_chunks);
/* After the region (one thread): make the next pass's epochs new. */
void lm_claims_end(lm_workspace *ws);
/* The threads the next pass runs on (1 while the cores are contended), and
 * what a pass of `threads` threads took, for that decision (schedule.c). */
int lm_threads_for_pass(const lm_workspace *ws);
void lm_learn_share(lm_workspace *ws, int threads, double wall, double cpu);
/* y (T, w->rows) = x (T, w->cols) times w^T, rows claimed in chunks by the
 * calling threads; Q8_0 and block weights read the activations quantized in
 * ws->xq[w->act]. */
void lm_matmul(lm_workspace *ws, float *y, const float *x, const lm_matrix *w, int T);
/* The embedding row of `token` into out[dim]. */
void lm_embed(const lm_model *m, int token, float *out);

const lm_kernels *lm_kernels_for(const char *name, lm_error *err);
/* sampler.c: the kernel set of the sampler's softmax (a batch's own). */
void lm_sampler_set_kernels(lm_sampler *s, const lm_kernels *k);

#endif
