/* Llama-architecture GGUF files as lamina models (src/FORMATS.md, "GGUF"):
 * the hyperparameters from `llama.*` metadata, the weights found by their
 * tensor names and checked against them. Matrices are left in place in the
 * image (F32 in place, Q8_0 blocks) and packed like llama2.c's by model.c;
 * the norms are widened to f32 into memory of their own. GGUF's Q and K rows
 * are already in the interleaved RoPE layout of run.c (llama.cpp's converter
 * permutes them), so nothing is permuted. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"
#include "internal.h"
#include "qtypes.h"

typedef struct loader {
    lm_model *m;
    const lm_gguf *g;
    const char *name;
    lm_error *err;
    uint32_t types_seen[64];  /* bit per ggml type < 64 among the weights */
    uint64_t params, bytes;   /* counted as in count_weights (model.c) */
    uint64_t emb_bytes;       /* the embedding's share of bytes */
    uint64_t file_bytes;      /* the tensors' bytes in the file (bits per weight) */
    int type_count[64];       /* tensors of each ggml type < 64 */
    uint64_t type_params[64]; /* and their values */
} loader;

/* A required (or, with def >= 0, optional) positive integer llama.* key. */
static int hparam(loader *ld, const char *key, int64_t def, int *out) {
    uint32_t v;
    int r = lm_gguf_get_u32(ld->g, key, &v, ld->err);
    if (r < 0) return -1;
    if (r == 1 && def < 0)
        return lm_fail(ld->err, "%s: GGUF key '%s' is missing (a llama model needs it)", ld->name,
                       key);
    if (r == 1) v = (uint32_t)def;
    if (v == 0 || v > (1u << 24))
        return lm_fail(ld->err, "%s: GGUF key '%s' is %u, expected 1 to %u", ld->name, key, v,
                       1u << 24);
    *out = (int)v;
    return 0;
}

static int fparam(loader *ld, const char *key, float def, float *out) {
    int r = lm_gguf_get_f32(ld->g, key, out, ld->err);
    if (r < 0) return -1;
    if (r == 1) *out = def;
    if (!(*out > 0.0f) || !isfinite(*out))
        return lm_fail(ld->err, "%s: GGUF key '%s' is %g, must be positive and finite", ld->name,
                       key, (double)*out);
    return 0;
}

static int check_architecture(loader *ld) {
    lm_gguf_str arch;
    char b[LM_GGUF_SHOW_BYTES];
    int r = lm_gguf_get_str(ld->g, "general.architecture", &arch, ld->err);
    if (r < 0) return -1;
    if (r == 1) return lm_fail(ld->err, "%s: GGUF key 'general.architecture' is missing", ld->name);
    if (arch.n != 5 || memcmp(arch.p, "llama", 5))
        return lm_fail(ld->err,
                       "%s: GGUF general.architecture is '%s'; lamina runs 'llama' models only",
                       ld->name, lm_gguf_show(arch, b));
    /* what would change the math and lamina does not do: refused, not ignored */
    uint32_t experts = 0;
    if (lm_gguf_get_u32(ld->g, "llama.expert_count", &experts, ld->err) < 0) return -1;
    if (experts > 0)
        return lm_fail(ld->err,
                       "%s: GGUF llama.expert_count is %u: mixture-of-experts models "
                       "are not supported",
                       ld->name, experts);
    return 0;
}

/* The config from llama.* keys; vocab_size from token_embd's shape. */
static int read_config(loader *ld) {
    lm_config *c = &ld->m->info.config;
    if (hparam(ld, "llama.embedding_length", -1, &c->dim) ||
        hparam(ld, "llama.feed_forward_length", -1, &c->hidden_dim) ||
        hparam(ld, "llama.block_count", -1, &c->n_layers) ||
        hparam(ld, "llama.attention.head_count", -1, &c->n_heads) ||
        hparam(ld, "llama.attention.head_count_kv", c->n_heads, &c->n_kv_heads) ||
        hparam(ld, "llama.context_length", -1, &c->seq_len))
        return -1;
    int def_hs = c->dim % c->n_heads ? -1 : c->dim / c->n_heads, k_len, v_len, rot;
    if (hparam(ld, "llama.attention.key_length", def_hs, &k_len) ||
        hparam(ld, "llama.attention.value_length", k_len, &v_len))
        return -1;
    if (k_len != v_len)
        return lm_fail(ld->err,
                       "%s: GGUF llama.attention.key_length %d differs from value_length %d: "
                       "not supported",
                       ld->name, k_len, v_len);
    if (hparam(ld, "llama.rope.dimension_count", k_len, &rot)) return -1;
    if (rot != k_len)
        return lm_fail(ld->err,
                       "%s: GGUF llama.rope.dimension_count %d differs from the head size %d: "
                       "partial RoPE is not supported",
                       ld->name, rot, k_len);
    c->head_size = k_len;
    if ((uint64_t)c->n_heads * (uint64_t)k_len > (1u << 24))
        return lm_fail(ld->err, "%s: GGUF: %d heads of %d values are too wide", ld->name,
                       c->n_heads, k_len);
    if (fparam(ld, "llama.rope.freq_base", 10000.0f, &c->rope_theta) ||
        fparam(ld, "llama.attention.layer_norm_rms_epsilon", 1e-5f, &c->norm_eps))
        return -1;
    const lm_gguf_tensor *emb = lm_gguf_find_tensor(ld->g, "token_embd.weight");
    if (!emb) return lm_fail(ld->err, "%s: GGUF tensor 'token_embd.weight' is missing", ld->name);
    if (emb->n_dims != 2 || emb->dims[1] > INT32_MAX || emb->dims[1] == 0)
        return lm_fail(ld->err,
                       "%s: GGUF tensor 'token_embd.weight' has %d dimensions, expected 2 "
                       "[embedding_length, vocabulary]",
                       ld->name, emb->n_dims);
    c->vocab_size = (int)emb->dims[1];
    uint32_t claimed;
    int r = lm_gguf_get_u32(ld->g, "llama.vocab_size", &claimed, ld->err);
    if (r < 0) return -1;
    if (r == 0 && claimed != (uint32_t)c->vocab_size)
        return lm_fail(ld->err,
                       "%s: GGUF llama.vocab_size %u disagrees with token_embd.weight's %d rows",
                       ld->name, claimed, c->vocab_size);
    /* nine tensors a layer: no allocation for layers the file cannot hold */
    if ((uint64_t)c->n_layers * 9 > lm_gguf_n_tensors(ld->g))
        return lm_fail(ld->err,
                       "%s: GGUF llama.block_count is %d but the file has only %llu tensors",
                       ld->name, c->n_layers, (unsigned long long)lm_gguf_n_tensors(ld->g));
    return lm_check_config(c, ld->name, ld->err);
}

static const char *const runs = "lamina runs F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, "
                                "Q4_K, Q5_K and Q6_K weights";

/* Note a tensor the model reads: its type's count and the listing. */
static void record(loader *ld, const lm_gguf_tensor *t, int rows, int cols) {
    lm_model *m = ld->m;
    ld->file_bytes += t->bytes;
    if (t->type < 64) {
        ld->type_count[t->type]++;
        ld->type_params[t->type] += (uint64_t)(rows ? rows : 1) * (uint64_t)cols;
    }
    if (!m->tensors) return;
    lm_tensor_desc *d = &m->tensors[m->n_tensors++];
    size_t n = t->name.n < sizeof d->name - 1 ? (size_t)t->name.n : sizeof d->name - 1;
    memcpy(d->name, t->name.p, n);
    d->name[n] = '\0';
    char tb[16];
    snprintf(d->type, sizeof d->type, "%s", lm_gguf_type_name(t->type, tb));
    d->rows = rows ? rows : 1, d->cols = cols, d->bytes = t->bytes;
}

/* A ggml block type (Q4_0 .. Q6_K) into w: refused while its packing is not
 * written, and where a row is not whole blocks. */
static int take_blocks(loader *ld, lm_matrix *w, const lm_gguf_tensor *t, const lm_qtype *qt) {
    char nb[LM_GGUF_SHOW_BYTES];
    if (!qt->pack_part || !qt->view || !qt->packed_row || !qt->pack_bytes)
        return lm_fail(ld->err, "%s: GGUF tensor '%s': lamina does not run %s weights yet",
                       ld->name, lm_gguf_show(t->name, nb), qt->name);
    if (w->cols % qt->block_values)
        return lm_fail(ld->err,
                       "%s: GGUF tensor '%s': %d columns are not a multiple of %s's block of %d",
                       ld->name, lm_gguf_show(t->name, nb), w->cols, qt->name, qt->block_values);
    w->qblk = t->data; /* any alignment: the packing reads bytes */
    w->qtype = qt->type;
    ld->bytes +=
        (uint64_t)w->rows * (uint64_t)(w->cols / qt->block_values) * (uint64_t)qt->block_bytes;
    return 0;
}

/* The tensor `name` with shape [rows, cols] (rows 0: a vector of cols). */
static const lm_gguf_tensor *find(loader *ld, const char *name, int rows, int cols) {
    const lm_gguf_tensor *t = lm_gguf_find_tensor(ld->g, name);
    if (!t) {
        lm_fail(ld->err, "%s: GGUF tensor '%s' is missing", ld->name, name);
        return NULL;
    }
    int want_dims = rows ? 2 : 1;
    uint64_t d1 = rows ? (uint64_t)rows : 1;
    if (t->n_dims != want_dims || t->dims[0] != (uint64_t)cols || t->dims[1] != d1) {
        char shape[128]; /* 4 dims of up to 20 digits */
        size_t o = 0;
        for (int d = 0; d < t->n_dims && o < sizeof shape; d++)
            o += (size_t)snprintf(shape + o, sizeof shape - o, "%s%llu", d ? ", " : "",
                                  (unsigned long long)t->dims[d]);
        if (rows)
            lm_fail(ld->err,
                    "%s: GGUF tensor '%s' has shape [%s] (innermost first), expected [%d, %d] "
                    "from the hyperparameters",
                    ld->name, name, shape, cols, rows);
        else
            lm_fail(ld->err, "%s: GGUF tensor '%s' has shape [%s], expected [%d]", ld->name, name,
                    shape, cols);
        return NULL;
    }
    if (t->type < 64) ld->types_seen[t->type / 32] |= 1u << (t->type % 32);
    return t;
}

static int bad_type(loader *ld, const lm_gguf_tensor *t, const char *what) {
    char tb[16], nb[LM_GGUF_SHOW_BYTES];
    return lm_fail(ld->err, "%s: GGUF tensor '%s' has type %s, which lamina does not run (%s)",
                   ld->name, lm_gguf_show(t->name, nb), lm_gguf_type_name(t->type, tb), what);
}

static int take_matrix(loader *ld, lm_matrix *w, const char *name, int rows, int cols) {
    const lm_gguf_tensor *t = find(ld, name, rows, cols);
    if (!t) return -1;
    *w = (lm_matrix){.rows = rows, .cols = cols};
    uint64_t n = (uint64_t)rows * (uint64_t)cols;
    ld->params += n;
    record(ld, t, rows, cols);
    const lm_qtype *qt = lm_qtype_ggml((int)t->type);
    if (qt) return take_blocks(ld, w, t, qt);
    switch (t->type) {
    case LM_GGML_F32:
        if ((uintptr_t)t->data % sizeof(float))
            return lm_fail(ld->err,
                           "%s: GGUF tensor '%s': F32 data is not 4-byte aligned "
                           "(general.alignment %u)",
                           ld->name, name, lm_gguf_alignment(ld->g));
        w->f32 = (const float *)t->data;
        ld->bytes += n * 4;
        return 0;
    case LM_GGML_Q8_0:
        w->blocks = t->data;
        w->q8.gs = LM_GGUF_Q8_0_BLOCK;
        ld->m->info.group_size = LM_GGUF_Q8_0_BLOCK;
        ld->bytes += n + n / LM_GGUF_Q8_0_BLOCK * 4;
        return 0;
    case LM_GGML_F16:
    case LM_GGML_BF16:
        w->half = t->data; /* any alignment: the packing reads bytes */
        w->half_type = t->type == LM_GGML_F16 ? LM_WT_F16 : LM_WT_BF16;
        ld->bytes += n * 2;
        return 0;
    default: return bad_type(ld, t, runs);
    }
}

/* A norm: F32, F16 or BF16, widened into out[cols]. */
static int take_norm(loader *ld, float *out, const char *name, int cols) {
    const lm_gguf_tensor *t = find(ld, name, 0, cols);
    if (!t) return -1;
    ld->params += (uint64_t)cols;
    ld->bytes += (uint64_t)cols * 4;
    record(ld, t, 0, cols);
    for (int i = 0; i < cols; i++) {
        uint16_t h;
        switch (t->type) {
        case LM_GGML_F32: memcpy(&out[i], t->data + 4 * (size_t)i, 4); break;
        case LM_GGML_F16:
            memcpy(&h, t->data + 2 * (size_t)i, 2);
            out[i] = lm_f16_to_f32(h);
            break;
        case LM_GGML_BF16:
            memcpy(&h, t->data + 2 * (size_t)i, 2);
            out[i] = lm_bf16_to_f32(h);
            break;
        default: return bad_type(ld, t, "norm weights must be F32, F16 or BF16");
        }
    }
    return 0;
}

static int take_layer(loader *ld, int l, float *norms) {
    const lm_config *c = ld->m->c;
    lm_layer *L = &ld->m->layers[l];
    int kv_dim = c->n_kv_heads * c->head_size, q_dim = lm_q_dim(c);
    char n[64];
#define NAME(part) (snprintf(n, sizeof n, "blk.%d.%s.weight", l, part), n)
    L->rms_att = norms, L->rms_ffn = norms + c->dim;
    if (take_norm(ld, norms, NAME("attn_norm"), c->dim) ||
        take_norm(ld, norms + c->dim, NAME("ffn_norm"), c->dim) ||
        take_matrix(ld, &L->wq, NAME("attn_q"), q_dim, c->dim) ||
        take_matrix(ld, &L->wk, NAME("attn_k"), kv_dim, c->dim) ||
        take_matrix(ld, &L->wv, NAME("attn_v"), kv_dim, c->dim) ||
        take_matrix(ld, &L->wo, NAME("attn_output"), c->dim, q_dim) ||
        take_matrix(ld, &L->w1, NAME("ffn_gate"), c->hidden_dim, c->dim) ||
        take_matrix(ld, &L->w2, NAME("ffn_down"), c->dim, c->hidden_dim) ||
        take_matrix(ld, &L->w3, NAME("ffn_up"), c->hidden_dim, c->dim))
        return -1;
#undef NAME
    return 0;
}

/* "F16, F32": the types of the weights, in ggml's numbering order. */
static void describe_types(loader *ld) {
    char *out = ld->m->info.tensor_types, tb[16];
    size_t o = 0, cap = sizeof ld->m->info.tensor_types;
    out[0] = '\0';
    for (uint32_t t = 0; t < 64; t++)
        if (ld->types_seen[t / 32] >> (t % 32) & 1)
            o += (size_t)snprintf(out + o, o < cap ? cap - o : 0, "%s%s", o ? ", " : "",
                                  lm_gguf_type_name(t, tb));
}

/* llama.cpp's name of a general.file_type it writes for the types lamina
 * runs (llama_ftype), NULL for others. */
static const char *ftype_name(uint32_t ft) {
    static const struct {
        uint32_t ft;
        const char *name;
    } names[] = {{0, "F32"},     {1, "F16"},   {2, "Q4_0"},    {3, "Q4_1"},    {7, "Q8_0"},
                 {8, "Q5_0"},    {9, "Q5_1"},  {14, "Q4_K_S"}, {15, "Q4_K_M"}, {16, "Q5_K_S"},
                 {17, "Q5_K_M"}, {18, "Q6_K"}, {32, "BF16"}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].ft == ft) return names[i].name;
    return NULL;
}

/* info.weight_type: one type's name, or for a mixture the file's type (its
 * general.file_type, else the type of most matrix values) and each type's
 * tensor count, the most common first; and info.bits_per_weight. */
static void describe_weight_type(loader *ld) {
    char *out = ld->m->info.weight_type, tb[16];
    size_t cap = sizeof ld->m->info.weight_type, o = 0;
    int n_types = 0, top = -1, order[64];
    for (int t = 0; t < 64; t++) {
        if (!ld->type_count[t]) continue;
        order[n_types++] = t;
        if (t != LM_GGML_F32 && (top < 0 || ld->type_params[t] > ld->type_params[top])) top = t;
    }
    if (top < 0) top = LM_GGML_F32;
    for (int i = 1; i < n_types; i++) /* by count, then ggml's order: stable insertion */
        for (int j = i; j > 0 && ld->type_count[order[j]] > ld->type_count[order[j - 1]]; j--) {
            int x = order[j];
            order[j] = order[j - 1], order[j - 1] = x;
        }
    uint32_t ft;
    const char *name = NULL;
    if (lm_gguf_get_u32(ld->g, "general.file_type", &ft, &(lm_error){{0}}) == 0)
        name = ftype_name(ft);
    o += (size_t)snprintf(out, cap, "%s", name ? name : lm_gguf_type_name((uint32_t)top, tb));
    /* norms are F32 in every quantized file: a lone matrix type is not a mix */
    int mixed = n_types > 2 || (n_types == 2 && !ld->type_count[LM_GGML_F32]);
    for (int i = 0; mixed && i < n_types && o < cap; i++)
        o += (size_t)snprintf(out + o, cap - o, "%s%s %d%s",
                              i ? ", " : " (mixed: ", lm_gguf_type_name((uint32_t)order[i], tb),
                              ld->type_count[order[i]], i == n_types - 1 ? ")" : "");
    ld->m->info.bits_per_weight =
        ld->params ? (double)ld->file_bytes * 8.0 / (double)ld->params : 0.0;
}

/* The total of everything the model reads, with no tensor left unchecked. */
static int take_weights(loader *ld) {
    lm_model *m = ld->m;
    const lm_config *c = m->c;
    m->layers = calloc((size_t)c->n_layers, sizeof *m->layers);
    m->norm_store = malloc(((size_t)c->n_layers * 2 + 1) * (size_t)c->dim * sizeof(float));
    m->tensors = calloc((size_t)c->n_layers * 9 + 4, sizeof *m->tensors);
    if (!m->layers || !m->norm_store || !m->tensors)
        return lm_fail(ld->err, "%s: out of memory", ld->name);
    if (take_matrix(ld, &m->tok_emb, "token_embd.weight", c->vocab_size, c->dim)) return -1;
    ld->emb_bytes = ld->bytes;
    for (int l = 0; l < c->n_layers; l++)
        if (take_layer(ld, l, m->norm_store + (size_t)l * 2 * c->dim)) return -1;
    float *final = m->norm_store + (size_t)c->n_layers * 2 * c->dim;
    if (take_norm(ld, final, "output_norm.weight", c->dim)) return -1;
    m->rms_final = final;
    m->info.shared_classifier = !lm_gguf_find_tensor(ld->g, "output.weight");
    if (m->info.shared_classifier)
        m->classifier = m->tok_emb;
    else if (take_matrix(ld, &m->classifier, "output.weight", c->vocab_size, c->dim))
        return -1;
    return 0;
}

int lm_gguf_model_parse(lm_model *m, const uint8_t *p, uint64_t size, const char *name,
                        lm_error *err) {
    m->c = &m->info.config;
    m->gguf = lm_gguf_parse(p, size, name, err);
    if (!m->gguf) return -1;
    m->info.format = LM_FORMAT_GGUF;
    m->info.gguf_version = lm_gguf_version(m->gguf);
    m->info.file_size = size;
    loader ld = {.m = m, .g = m->gguf, .name = name, .err = err};
    if (check_architecture(&ld) || read_config(&ld) || lm_gguf_rope(m, m->gguf, name, err))
        return -1;
    if (take_weights(&ld)) return -1;
    describe_types(&ld);
    describe_weight_type(&ld);
    lm_model_act(m);
    m->info.n_params = ld.params;
    /* bytes a decode step reads: all but the embedding's row lookups, unless
     * the embedding is also the classifier */
    m->info.weight_bytes = m->info.shared_classifier ? ld.bytes : ld.bytes - ld.emb_bytes;
    return 0;
}
