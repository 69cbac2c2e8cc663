/* Workspaces (the activation buffers of a forward pass), KV caches, and the
 * inference context: one sequence's cache plus a workspace. Everything is
 * allocated here once; the forward pass allocates nothing. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

/* Prompt tokens go through the layers in blocks of this many rows. */
#define LM_MAX_BATCH 64

/* Models whose per-token weights fit well inside the caches get at most two
 * threads: stories260K decodes 1.3-1.6x faster on two than on one (attention
 * is most of its work), but a barrier per operation over many cores would
 * cost more than the little work it splits. */
#define LM_SMALL_MODEL_BYTES (2u << 20)
#define LM_SMALL_MODEL_THREADS 2

/* The sizes of a workspace's buffers, in one place for allocation and for
 * the memory estimate. */
typedef struct ws_sizes {
    uint64_t rows_dim, rows_kv, rows_hidden, xq_bytes, xq_scales, att, rope, logits;
} ws_sizes;

static ws_sizes sizes_of(const lm_config *c, int group_size, int n_threads, int max_rows,
                         int max_out, int max_ctx) {
    /* x, xb, xb2 and q hold (rows, dim) or (rows, q_dim): the wider */
    uint64_t R = (uint64_t)max_rows, q_dim = (uint64_t)lm_q_dim(c),
             hidden = (uint64_t)c->hidden_dim;
    uint64_t dim = (uint64_t)c->dim > q_dim ? (uint64_t)c->dim : q_dim;
    uint64_t hs = (uint64_t)lm_head_size(c), widest = hidden > dim ? hidden : dim;
    int gs = group_size ? group_size : 1;
    return (ws_sizes){
        .rows_dim = R * dim,
        .rows_kv = R * (uint64_t)c->n_kv_heads * hs,
        .rows_hidden = R * hidden,
        .xq_bytes = R * widest,
        .xq_scales = R * (uint64_t)lm_q8_groups((int)widest, gs),
        .att = (uint64_t)n_threads * (uint64_t)max_ctx,
        .rope = R * hs,
        .logits = (uint64_t)max_out * (uint64_t)c->vocab_size,
    };
}

uint64_t lm_workspace_bytes(const lm_model *m, int n_threads, int max_rows, int max_out,
                            int max_ctx) {
    ws_sizes z = sizes_of(m->c, m->info.group_size, n_threads, max_rows, max_out, max_ctx);
    uint64_t floats = 4 * z.rows_dim + 2 * z.rows_kv + 2 * z.rows_hidden + z.xq_scales + z.att +
                      z.rope + z.logits;
    return floats * sizeof(float) + z.xq_bytes;
}

static void *alloc_zeroed(uint64_t bytes) {
    void *p = NULL;
    if (posix_memalign(&p, 64, (size_t)(bytes ? bytes : 1))) return NULL;
    memset(p, 0, (size_t)(bytes ? bytes : 1));
    return p;
}

static uint64_t physical_memory(void) {
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    return pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page : UINT64_MAX;
}

static int choose_threads(const lm_model *m, int requested) {
    if (requested > 0) return requested;
    int n = omp_get_max_threads(); /* honours OMP_NUM_THREADS */
    int cores = omp_get_num_procs();
    if (n > cores) n = cores;
    if (m->info.weight_bytes < LM_SMALL_MODEL_BYTES && n > LM_SMALL_MODEL_THREADS)
        n = LM_SMALL_MODEL_THREADS;
    return n > 0 ? n : 1;
}

lm_workspace *lm_workspace_new(const lm_model *m, const char *isa, int n_threads, int max_rows,
                               int max_out, int max_ctx, lm_error *err) {
    const lm_kernels *k = lm_kernels_for(isa, err);
    if (!k) return NULL;
    lm_workspace *ws = calloc(1, sizeof *ws);
    if (!ws) {
        lm_fail(err, "out of memory");
        return NULL;
    }
    ws->model = m;
    ws->k = k;
    ws->n_threads = choose_threads(m, n_threads);
    ws->max_rows = max_rows;
    ws->max_out = max_out;
    ws->max_ctx = max_ctx;
    ws_sizes z = sizes_of(m->c, m->info.group_size, ws->n_threads, max_rows, max_out, max_ctx);
    float **dims[] = {&ws->x, &ws->xb, &ws->xb2, &ws->q};
    int ok = 1;
    for (size_t i = 0; i < 4; i++) ok &= (*dims[i] = alloc_zeroed(z.rows_dim * 4)) != NULL;
    ok &= (ws->kb = alloc_zeroed(z.rows_kv * 4)) != NULL;
    ok &= (ws->vb = alloc_zeroed(z.rows_kv * 4)) != NULL;
    ok &= (ws->hb = alloc_zeroed(z.rows_hidden * 4)) != NULL;
    ok &= (ws->hb2 = alloc_zeroed(z.rows_hidden * 4)) != NULL;
    ok &= (ws->xq.q = alloc_zeroed(z.xq_bytes)) != NULL;
    ok &= (ws->xq.s = alloc_zeroed(z.xq_scales * 4)) != NULL;
    ok &= (ws->att = alloc_zeroed(z.att * 4)) != NULL;
    ok &= (ws->rope = alloc_zeroed(z.rope * 4)) != NULL;
    ok &= (ws->logits = alloc_zeroed(z.logits * 4)) != NULL;
    ok &= (ws->barrier = alloc_zeroed(sizeof *ws->barrier)) != NULL;
    ok &= (ws->claims = alloc_zeroed(LM_CLAIM_SLOTS * sizeof *ws->claims)) != NULL;
    ws->xq.gs = m->info.group_size ? m->info.group_size : 1;
    if (!ok) {
        lm_fail(err, "out of memory allocating %.1f MiB of activations",
                (double)lm_workspace_bytes(m, ws->n_threads, max_rows, max_out, max_ctx) /
                    (1 << 20));
        lm_workspace_free(ws);
        return NULL;
    }
    return ws;
}

void lm_workspace_free(lm_workspace *ws) {
    if (!ws) return;
    void *bufs[] = {ws->x,   ws->xb,   ws->xb2,    ws->q,       ws->kb,
                    ws->vb,  ws->hb,   ws->hb2,    ws->xq.q,    ws->xq.s,
                    ws->att, ws->rope, ws->logits, ws->barrier, (void *)ws->claims};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free(bufs[i]);
    free(ws);
}

/* calloc maps a large block straight from the kernel, whose zero pages become
 * real memory only when a position is written, so a long context costs
 * memory as it fills, not up front (and is not touched here). */
int lm_kv_alloc(lm_kv *kv, const lm_config *c, int n_ctx) {
    uint64_t n = lm_kv_cache_bytes(c, n_ctx) / sizeof(float) / 2;
    kv->n_ctx = n_ctx;
    kv->key = calloc((size_t)(n ? n : 1), sizeof(float));
    kv->value = calloc((size_t)(n ? n : 1), sizeof(float));
    if (kv->key && kv->value) return 0;
    lm_kv_free(kv);
    return -1;
}

void lm_kv_free(lm_kv *kv) {
    free(kv->key);
    free(kv->value);
    kv->key = kv->value = NULL;
}

/* Refuse up front what cannot fit: `what` needs `bytes`. */
int lm_check_memory(uint64_t bytes, const char *what, lm_error *err) {
    uint64_t have = physical_memory();
    if (bytes <= have) return 0;
    return lm_fail(err, "%s needs %.1f GiB, more than this machine's %.1f GiB", what,
                   (double)bytes / (1 << 30), (double)have / (1 << 30));
}

lm_context *lm_context_new(const lm_model *m, lm_context_params p, lm_error *err) {
    const lm_config *c = m->c;
    int n_ctx = p.n_ctx > 0 ? p.n_ctx : c->seq_len;
    if (n_ctx > c->seq_len) {
        lm_fail(err, "context of %d positions exceeds the model's seq_len %d", n_ctx, c->seq_len);
        return NULL;
    }
    char what[96];
    snprintf(what, sizeof what, "the KV cache for %d positions", n_ctx);
    if (lm_check_memory(lm_kv_cache_bytes(c, n_ctx), what, err)) return NULL;
    lm_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx) {
        lm_fail(err, "out of memory");
        return NULL;
    }
    int rows = n_ctx < LM_MAX_BATCH ? n_ctx : LM_MAX_BATCH;
    ctx->ws = lm_workspace_new(m, p.isa, p.n_threads, rows, 1, n_ctx, err);
    if (!ctx->ws) {
        free(ctx);
        return NULL;
    }
    ctx->rows = malloc((size_t)n_ctx * sizeof *ctx->rows);
    ctx->every = malloc((size_t)n_ctx * sizeof *ctx->every);
    if (!ctx->rows || !ctx->every || lm_kv_alloc(&ctx->kv, c, n_ctx)) {
        lm_fail(err, "out of memory allocating %.1f MiB for the KV cache",
                (double)lm_kv_cache_bytes(c, n_ctx) / (1 << 20));
        lm_context_free(ctx);
        return NULL;
    }
    for (int i = 0; i < n_ctx; i++) ctx->every[i] = i;
    return ctx;
}

void lm_context_free(lm_context *ctx) {
    if (!ctx) return;
    lm_kv_free(&ctx->kv);
    lm_workspace_free(ctx->ws);
    free(ctx->rows);
    free(ctx->every);
    free(ctx);
}

int lm_context_n_ctx(const lm_context *ctx) { return ctx->kv.n_ctx; }

int lm_context_n_threads(const lm_context *ctx) { return ctx->ws->n_threads; }

const char *lm_context_isa(const lm_context *ctx) { return ctx->ws->k->isa; }

/* The rows of tokens at pos.., or -1 with err set. */
static int set_rows(lm_context *ctx, const int *tokens, int n, int pos, lm_error *err) {
    const lm_config *c = ctx->ws->model->c;
    if (n <= 0 || pos < 0 || pos > ctx->kv.n_ctx - n)
        return lm_fail(err, "%d tokens at position %d do not fit a context of %d positions", n, pos,
                       ctx->kv.n_ctx);
    for (int i = 0; i < n; i++) {
        if (tokens[i] < 0 || tokens[i] >= c->vocab_size)
            return lm_fail(err, "token %d is %d, outside the vocabulary of %d", i, tokens[i],
                           c->vocab_size);
        ctx->rows[i] = (lm_row){tokens[i], pos + i, &ctx->kv};
    }
    return 0;
}

float *lm_forward(lm_context *ctx, const int *tokens, int n, int pos) {
    if (set_rows(ctx, tokens, n, pos, NULL)) return NULL;
    int last = n - 1;
    lm_forward_rows(ctx->ws, ctx->rows, n, &last, 1);
    return ctx->ws->logits;
}

int lm_forward_all(lm_context *ctx, const int *tokens, int n, int pos, float *logits,
                   lm_error *err) {
    if (!logits) return lm_fail(err, "no buffer for the logits");
    if (set_rows(ctx, tokens, n, pos, err)) return -1;
    /* The classifier writes row j of the wanted rows at ws->logits + j * vocab:
     * pointed at the caller's buffer for this pass, it fills all n rows with
     * no copy and no buffer of n rows kept in the context. */
    float *own = ctx->ws->logits;
    ctx->ws->logits = logits;
    lm_forward_rows(ctx->ws, ctx->rows, n, ctx->every, n);
    ctx->ws->logits = own;
    return 0;
}

/* Positions [0, n) of src into dst, layer by layer (both are (layer, n_ctx,
 * kv_dim), of different n_ctx). The one place that knows a cache element's
 * size, so a cache of another element type changes only this. */
void lm_kv_copy(lm_kv *dst, const lm_kv *src, const lm_config *c, int n) {
    size_t kv_dim = (size_t)c->n_kv_heads * (size_t)lm_head_size(c), elem = sizeof *src->key;
    for (int l = 0; l < c->n_layers; l++) {
        size_t from = (size_t)l * (size_t)src->n_ctx * kv_dim,
               to = (size_t)l * (size_t)dst->n_ctx * kv_dim;
        memcpy(dst->key + to, src->key + from, (size_t)n * kv_dim * elem);
        memcpy(dst->value + to, src->value + from, (size_t)n * kv_dim * elem);
    }
}
