/* An inference context: the KV cache, sized to the positions actually asked
 * for, and the activation buffers for a batch of prompt tokens. Everything is
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

static float *alloc_floats(uint64_t n, uint64_t *total) {
    void *p = NULL;
    size_t bytes = (size_t)(n ? n : 1) * sizeof(float);
    *total += bytes;
    if (posix_memalign(&p, 64, bytes)) return NULL;
    memset(p, 0, bytes);
    return p;
}

/* The KV cache: calloc maps a large block straight from the kernel, whose
 * zero pages become real memory only when a position is written, so a long
 * context costs memory as it fills, not up front (and is not touched here). */
static float *alloc_cache(uint64_t n, uint64_t *total) {
    *total += n * sizeof(float);
    return calloc((size_t)(n ? n : 1), sizeof(float));
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

lm_context *lm_context_new(const lm_model *m, lm_context_params p, lm_error *err) {
    const lm_config *c = m->c;
    int n_ctx = p.n_ctx > 0 ? p.n_ctx : c->seq_len;
    if (n_ctx > c->seq_len) {
        lm_fail(err, "context of %d positions exceeds the model's seq_len %d", n_ctx, c->seq_len);
        return NULL;
    }
    uint64_t kv = lm_kv_cache_bytes(c, n_ctx);
    if (kv > physical_memory()) {
        lm_fail(err,
                "the KV cache for %d positions needs %.1f GiB, more than this machine's %.1f GiB",
                n_ctx, (double)kv / (1 << 30), (double)physical_memory() / (1 << 30));
        return NULL;
    }
    const lm_kernels *k = lm_kernels_for(p.isa, err);
    if (!k) return NULL;
    lm_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx) {
        lm_fail(err, "out of memory");
        return NULL;
    }
    ctx->model = m;
    ctx->k = k;
    ctx->n_ctx = n_ctx;
    ctx->n_threads = choose_threads(m, p.n_threads);
    ctx->max_batch = n_ctx < LM_MAX_BATCH ? n_ctx : LM_MAX_BATCH;

    uint64_t B = (uint64_t)ctx->max_batch, dim = (uint64_t)c->dim, hidden = (uint64_t)c->hidden_dim;
    uint64_t widest = hidden > dim ? hidden : dim, total = 0;
    uint64_t head_size = (uint64_t)(c->dim / c->n_heads);
    uint64_t cache = kv / sizeof(float) / 2;
    int gs = m->info.group_size ? m->info.group_size : 1;
    ctx->x = alloc_floats(B * dim, &total);
    ctx->xb = alloc_floats(B * dim, &total);
    ctx->xb2 = alloc_floats(B * dim, &total);
    ctx->q = alloc_floats(B * dim, &total);
    ctx->hb = alloc_floats(B * hidden, &total);
    ctx->hb2 = alloc_floats(B * hidden, &total);
    ctx->att = alloc_floats((uint64_t)ctx->n_threads * (uint64_t)n_ctx, &total);
    ctx->rope = alloc_floats(B * head_size, &total);
    ctx->logits = alloc_floats((uint64_t)c->vocab_size, &total);
    ctx->key_cache = alloc_cache(cache, &total);
    ctx->value_cache = alloc_cache(cache, &total);
    ctx->xq.gs = gs;
    ctx->xq.q = (int8_t *)alloc_floats(B * widest / 4 + 1, &total);
    ctx->xq.s = alloc_floats(B * (uint64_t)lm_q8_groups((int)widest, gs), &total);
    ctx->barrier = calloc(1, sizeof *ctx->barrier);
    if (!ctx->barrier || !ctx->x || !ctx->xb || !ctx->xb2 || !ctx->q || !ctx->hb || !ctx->hb2 ||
        !ctx->att || !ctx->rope || !ctx->logits || !ctx->key_cache || !ctx->value_cache ||
        !ctx->xq.q || !ctx->xq.s) {
        lm_fail(err, "out of memory allocating %.1f MiB for the KV cache and activations",
                (double)total / (1 << 20));
        lm_context_free(ctx);
        return NULL;
    }
    return ctx;
}

void lm_context_free(lm_context *ctx) {
    if (!ctx) return;
    float *bufs[] = {ctx->x,   ctx->xb,   ctx->xb2,    ctx->q,         ctx->hb,          ctx->hb2,
                     ctx->att, ctx->rope, ctx->logits, ctx->key_cache, ctx->value_cache, ctx->xq.s};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free(bufs[i]);
    free(ctx->xq.q);
    free(ctx->barrier);
    free(ctx);
}

int lm_context_n_ctx(const lm_context *ctx) { return ctx->n_ctx; }

int lm_context_n_threads(const lm_context *ctx) { return ctx->n_threads; }

const char *lm_context_isa(const lm_context *ctx) { return ctx->k->isa; }
