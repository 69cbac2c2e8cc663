/* Workspaces (the activation buffers of a forward pass), KV caches, and the
 * inference context: one sequence's cache plus a workspace. Everything is
 * allocated here once; the forward pass allocates nothing. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "half.h"
#include "internal.h"

/* Models whose per-token weights fit well inside the caches get at most two
 * threads: stories260K decodes 1.3-1.6x faster on two than on one (attention
 * is most of its work), but a barrier per operation over many cores would
 * cost more than the little work it splits. */
#define LM_SMALL_MODEL_BYTES (2u << 20)
#define LM_SMALL_MODEL_THREADS 2

/* The sizes of a workspace's buffers, in one place for allocation and for
 * the memory estimate. */
typedef struct ws_sizes {
    uint64_t toks_dim, toks_kv, toks_hidden, xq_bytes, xq_scales, att, rope, logits;
    uint64_t widest; /* values of a token's widest quantized activation */
} ws_sizes;

static ws_sizes sizes_of(const lm_model *m, int n_threads, int max_toks, int max_out, int max_ctx) {
    const lm_config *c = m->c;
    /* x, xb, xb2 and q hold (max_toks, dim) or (max_toks, q_dim): the wider */
    uint64_t T = (uint64_t)max_toks, q_dim = (uint64_t)lm_q_dim(c),
             hidden = (uint64_t)c->hidden_dim;
    uint64_t dim = (uint64_t)c->dim > q_dim ? (uint64_t)c->dim : q_dim;
    uint64_t hs = (uint64_t)lm_head_size(c), widest = hidden > dim ? hidden : dim;
    uint64_t xq_scales = 0; /* each group size's buffer: its scales for each token */
    for (int a = 0; a < m->n_act; a++)
        xq_scales += T * (uint64_t)lm_q8_groups((int)widest, m->act_gs[a]);
    return (ws_sizes){
        .toks_dim = T * dim,
        .toks_kv = T * (uint64_t)c->n_kv_heads * hs,
        .toks_hidden = T * hidden,
        .xq_bytes = T * widest * (uint64_t)m->n_act,
        .xq_scales = xq_scales,
        .widest = widest,
        .att = (uint64_t)n_threads * (uint64_t)max_ctx,
        .rope = T * hs,
        .logits = (uint64_t)max_out * (uint64_t)c->vocab_size,
    };
}

uint64_t lm_workspace_bytes(const lm_model *m, int n_threads, int max_toks, int max_out,
                            int max_ctx) {
    ws_sizes z = sizes_of(m, n_threads, max_toks, max_out, max_ctx);
    uint64_t floats = 4 * z.toks_dim + 2 * z.toks_kv + 2 * z.toks_hidden + z.xq_scales + z.att +
                      z.rope + z.logits;
    return floats * sizeof(float) + z.xq_bytes;
}

static void *alloc_zeroed(uint64_t bytes) {
    void *p = NULL;
    if (posix_memalign(&p, 64, (size_t)(bytes ? bytes : 1))) return NULL;
    memset(p, 0, (size_t)(bytes ? bytes : 1));
    return p;
}

/* One quantized-activation buffer per group size the model's products read:
 * `bytes` int8 values and their scales each. */
static int alloc_act(lm_workspace *ws, const lm_model *m, uint64_t widest) {
    int ok = 1;
    uint64_t T = (uint64_t)ws->max_toks;
    for (int a = 0; a < m->n_act; a++) {
        ws->xq[a].gs = m->act_gs[a];
        ok &= (ws->xq[a].q = alloc_zeroed(T * widest)) != NULL;
        ok &= (ws->xq[a].s =
                   alloc_zeroed(T * (uint64_t)lm_q8_groups((int)widest, m->act_gs[a]) * 4)) != NULL;
    }
    return ok;
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

lm_workspace *lm_workspace_new(const lm_model *m, const char *isa, int n_threads, int max_toks,
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
    ws->max_toks = max_toks;
    ws->max_out = max_out;
    ws->max_ctx = max_ctx;
    ws_sizes z = sizes_of(m, ws->n_threads, max_toks, max_out, max_ctx);
    float **dims[] = {&ws->x, &ws->xb, &ws->xb2, &ws->q};
    int ok = 1;
    for (size_t i = 0; i < 4; i++) ok &= (*dims[i] = alloc_zeroed(z.toks_dim * 4)) != NULL;
    ok &= (ws->kb = alloc_zeroed(z.toks_kv * 4)) != NULL;
    ok &= (ws->vb = alloc_zeroed(z.toks_kv * 4)) != NULL;
    ok &= (ws->hb = alloc_zeroed(z.toks_hidden * 4)) != NULL;
    ok &= (ws->hb2 = alloc_zeroed(z.toks_hidden * 4)) != NULL;
    ok &= alloc_act(ws, m, z.widest);
    ok &= (ws->att = alloc_zeroed(z.att * 4)) != NULL;
    ok &= (ws->rope = alloc_zeroed(z.rope * 4)) != NULL;
    ok &= (ws->logits = alloc_zeroed(z.logits * 4)) != NULL;
    ok &= (ws->barrier = alloc_zeroed(sizeof *ws->barrier)) != NULL;
    ok &= (ws->claims = alloc_zeroed(LM_CLAIM_SLOTS * sizeof *ws->claims)) != NULL;
    if (!ok) {
        lm_fail(err, "out of memory allocating %.1f MiB of activations",
                (double)lm_workspace_bytes(m, ws->n_threads, max_toks, max_out, max_ctx) /
                    (1 << 20));
        lm_workspace_free(ws);
        return NULL;
    }
    return ws;
}

void lm_workspace_free(lm_workspace *ws) {
    if (!ws) return;
    void *bufs[] = {ws->x,      ws->xb,      ws->xb2,           ws->q,   ws->kb,
                    ws->vb,     ws->hb,      ws->hb2,           ws->att, ws->rope,
                    ws->logits, ws->barrier, (void *)ws->claims};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free(bufs[i]);
    for (int a = 0; a < LM_ACT_MAX; a++) free(ws->xq[a].q), free(ws->xq[a].s);
    free(ws);
}

/* calloc maps a large block straight from the kernel, whose zero pages become
 * real memory only when a position is written, so a long context costs
 * memory as it fills, not up front (and is not touched here). */
int lm_kv_alloc(lm_kv *kv, const lm_config *c, int n_ctx, lm_kv_type type) {
    size_t elem = lm_kv_elem_bytes(type);
    uint64_t n = lm_kv_bytes(c, n_ctx, type) / elem / 2;
    kv->n_ctx = n_ctx;
    kv->type = type;
    kv->key = calloc((size_t)(n ? n : 1), elem);
    kv->value = calloc((size_t)(n ? n : 1), elem);
    if (kv->key && kv->value) return 0;
    lm_kv_free(kv);
    return -1;
}

void lm_kv_free(lm_kv *kv) {
    free(kv->key);
    free(kv->value);
    kv->key = kv->value = NULL;
}

static size_t kv_dim_of(const lm_config *c) { return (size_t)c->n_kv_heads * lm_head_size(c); }

void lm_kv_store(const lm_kv *kv, const lm_config *c, int l, int pos, const float *k,
                 const float *v) {
    size_t kv_dim = kv_dim_of(c), slot = ((size_t)l * kv->n_ctx + (size_t)pos) * kv_dim;
    if (kv->type == LM_KV_F16) {
        uint16_t *kh = (uint16_t *)kv->key + slot, *vh = (uint16_t *)kv->value + slot;
        for (size_t i = 0; i < kv_dim; i++) {
            kh[i] = lm_f32_to_f16(k[i]);
            vh[i] = lm_f32_to_f16(v[i]);
        }
        return;
    }
    memcpy((float *)kv->key + slot, k, kv_dim * sizeof(float));
    memcpy((float *)kv->value + slot, v, kv_dim * sizeof(float));
}

int lm_kv_copy_prefix(lm_kv *dst, const lm_kv *src, const lm_config *c, int n_pos) {
    if (dst->type != src->type || n_pos < 0 || n_pos > dst->n_ctx || n_pos > src->n_ctx) return -1;
    size_t kv_dim = kv_dim_of(c), elem = lm_kv_elem_bytes(src->type);
    size_t bytes = (size_t)n_pos * kv_dim * elem;
    for (int l = 0; l < c->n_layers; l++) {
        size_t d = (size_t)l * dst->n_ctx * kv_dim * elem,
               s = (size_t)l * src->n_ctx * kv_dim * elem;
        memcpy((char *)dst->key + d, (const char *)src->key + s, bytes);
        memcpy((char *)dst->value + d, (const char *)src->value + s, bytes);
    }
    return 0;
}

const char *lm_kv_type_name(lm_kv_type type) {
    return type == LM_KV_F32 ? "f32" : type == LM_KV_F16 ? "f16" : NULL;
}

int lm_kv_type_parse(const char *name, lm_kv_type *out, lm_error *err) {
    for (lm_kv_type t = LM_KV_F32; t <= LM_KV_F16; t++)
        if (name && strcmp(name, lm_kv_type_name(t)) == 0) {
            *out = t;
            return 0;
        }
    return lm_fail(err, "KV cache type '%s' is not one of f32, f16", name ? name : "");
}

/* MemAvailable from /proc/meminfo; where there is none, the free pages. */
uint64_t lm_memory_available(void) {
    FILE *f = fopen("/proc/meminfo", "r");
    char line[128];
    unsigned long long kb = 0;
    int found = 0;
    while (f && !found && fgets(line, sizeof line, f))
        found = sscanf(line, "MemAvailable: %llu kB", &kb) == 1;
    if (f) fclose(f);
    if (found) return (uint64_t)kb * 1024;
    long pages = sysconf(_SC_AVPHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    return pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page : physical_memory();
}

/* Tokens a workspace of n_seqs sequences holds: a context's prompt block, or
 * a batch's slots plus its prompt tokens (batch.c), whichever is more. */
static uint64_t fit_bytes(const lm_model *m, int n_seqs, lm_kv_type type, int threads, int n) {
    int max_toks = n_seqs + LM_MAX_BATCH;
    uint64_t kv = lm_mul(lm_kv_bytes(m->c, n, type), (uint64_t)n_seqs);
    uint64_t per_tok = (uint64_t)n * (sizeof(lm_tok) + sizeof(int)); /* ctx->toks, ctx->every */
    return lm_add(lm_add(kv, per_tok), lm_workspace_bytes(m, threads, max_toks, n_seqs, n));
}

int lm_context_fit(const lm_model *m, int n_seqs, lm_kv_type type, int n_threads) {
    uint64_t avail = lm_memory_available(), budget = avail - avail / 10;
    int threads = choose_threads(m, n_threads), lo = 0, hi = m->c->seq_len;
    if (n_seqs < 1) n_seqs = 1;
    while (lo < hi) { /* the largest n in [0, seq_len] whose bytes fit */
        int mid = (int)(lo + ((int64_t)hi - lo + 1) / 2); /* hi may be INT_MAX */
        if (fit_bytes(m, n_seqs, type, threads, mid) <= budget)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

static double gib(uint64_t bytes) { return (double)bytes / (1 << 30); }

int lm_context_choose(const lm_model *m, int n_seqs, lm_kv_type type, int n_threads, char *why,
                      size_t len) {
    int n = lm_context_fit(m, n_seqs, type, n_threads), seq_len = m->c->seq_len;
    const char *t = lm_kv_type_name(type) ? lm_kv_type_name(type) : "?";
    if (!why || !len) return n;
    if (n >= seq_len)
        snprintf(why, len,
                 "context: %d positions (the model's seq_len; KV %s %.2f GiB per sequence)", n, t,
                 gib(lm_kv_bytes(m->c, n, type)));
    else
        snprintf(why, len,
                 "context: %d positions (KV %s %.2f GiB per sequence; the model's %d would need "
                 "%.1f GiB x %d sequence%s, %.1f GiB available)",
                 n, t, gib(lm_kv_bytes(m->c, n, type)), seq_len,
                 gib(lm_kv_bytes(m->c, seq_len, type)), n_seqs < 1 ? 1 : n_seqs,
                 n_seqs > 1 ? "s" : "", gib(lm_memory_available()));
    return n;
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
    if (!lm_kv_type_name(p.kv_type)) {
        lm_fail(err, "KV cache type %d is not one of LM_KV_F32, LM_KV_F16", (int)p.kv_type);
        return NULL;
    }
    int n_ctx = p.n_ctx > 0 ? p.n_ctx : lm_context_fit(m, 1, p.kv_type, p.n_threads);
    if (n_ctx < 1) {
        lm_fail(err, "no memory for a KV cache: %.1f GiB available",
                (double)lm_memory_available() / (1 << 30));
        return NULL;
    }
    if (n_ctx > c->seq_len) {
        lm_fail(err, "context of %d positions exceeds the model's seq_len %d", n_ctx, c->seq_len);
        return NULL;
    }
    char what[96];
    snprintf(what, sizeof what, "the KV cache for %d positions", n_ctx);
    if (lm_check_memory(lm_kv_bytes(c, n_ctx, p.kv_type), what, err)) return NULL;
    lm_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx) {
        lm_fail(err, "out of memory");
        return NULL;
    }
    int max_toks = n_ctx < LM_MAX_BATCH ? n_ctx : LM_MAX_BATCH;
    ctx->ws = lm_workspace_new(m, p.isa, p.n_threads, max_toks, 1, n_ctx, err);
    if (!ctx->ws) {
        free(ctx);
        return NULL;
    }
    ctx->toks = malloc((size_t)n_ctx * sizeof *ctx->toks);
    ctx->every = malloc((size_t)n_ctx * sizeof *ctx->every);
    if (!ctx->toks || !ctx->every || lm_kv_alloc(&ctx->kv, c, n_ctx, p.kv_type)) {
        lm_fail(err, "out of memory allocating %.1f MiB for the KV cache",
                (double)lm_kv_bytes(c, n_ctx, p.kv_type) / (1 << 20));
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
    free(ctx->toks);
    free(ctx->every);
    free(ctx);
}

int lm_context_n_ctx(const lm_context *ctx) { return ctx->kv.n_ctx; }

int lm_context_n_threads(const lm_context *ctx) { return ctx->ws->n_threads; }

const char *lm_context_isa(const lm_context *ctx) { return ctx->ws->k->isa; }

/* ctx->toks for `tokens` at pos.., or -1 with err set. */
static int set_toks(lm_context *ctx, const int *tokens, int n, int pos, lm_error *err) {
    const lm_config *c = ctx->ws->model->c;
    if (n <= 0 || pos < 0 || pos > ctx->kv.n_ctx - n)
        return lm_fail(err, "%d tokens at position %d do not fit a context of %d positions", n, pos,
                       ctx->kv.n_ctx);
    for (int i = 0; i < n; i++) {
        if (tokens[i] < 0 || tokens[i] >= c->vocab_size)
            return lm_fail(err, "token %d is %d, outside the vocabulary of %d", i, tokens[i],
                           c->vocab_size);
        ctx->toks[i] = (lm_tok){tokens[i], pos + i, &ctx->kv};
    }
    return 0;
}

float *lm_forward(lm_context *ctx, const int *tokens, int n, int pos) {
    if (set_toks(ctx, tokens, n, pos, NULL)) return NULL;
    int last = n - 1;
    lm_forward_toks(ctx->ws, ctx->toks, n, &last, 1);
    return ctx->ws->logits;
}

int lm_forward_all(lm_context *ctx, const int *tokens, int n, int pos, float *logits,
                   lm_error *err) {
    if (!logits) return lm_fail(err, "no buffer for the logits");
    if (set_toks(ctx, tokens, n, pos, err)) return -1;
    /* The classifier writes the logits of the j-th wanted token at
     * ws->logits + j * vocab: pointed at the caller's buffer for this pass,
     * it fills all n tokens' with no copy and no buffer of n kept in the
     * context. */
    float *own = ctx->ws->logits;
    ctx->ws->logits = logits;
    lm_forward_toks(ctx->ws, ctx->toks, n, ctx->every, n);
    ctx->ws->logits = own;
    return 0;
}
