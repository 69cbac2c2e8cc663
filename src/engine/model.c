/* Checkpoint loader for the llama2.c formats (src/FORMATS.md): v0 (legacy, no
 * magic), v1 (fp32 with header) and v2 (Q8_0). The file is mapped read-only,
 * then every matrix is repacked into panels (kernels/pack.h) and the mapping
 * dropped (pack_weights). Nothing is pointed at before the header
 * has been checked and the file size matches what the header implies. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoint.h"
#include "file.h"
#include "gguf.h"
#include "internal.h"
#include "pack.h"
#include "qtypes.h"
#include "sniff.h"

#define V0_HEADER_BYTES 28
#define V12_HEADER_BYTES LM_HEADER_BYTES

/* Walks the file's arrays in order. With base == NULL it only adds up sizes
 * (overflow-safe), so the same code both predicts the file size and, once
 * that matched, lays the pointers out. */
typedef struct layout {
    const uint8_t *base;
    uint64_t off;
    int quantized, gs;
    int misaligned_scales; /* set when measuring: some scale array is not 4-byte aligned */
    uint64_t n_scales;
    float *scale_pool; /* when set, scales are copied here instead of used in place */
    uint64_t pool_used;
} layout;

static const void *take(layout *l, uint64_t bytes) {
    const void *p = l->base ? l->base + l->off : NULL;
    l->off = lm_add(l->off, bytes);
    return p;
}

static const float *take_f32(layout *l, uint64_t n) { return take(l, lm_mul(n, 4)); }

static const float *take_scales(layout *l, uint64_t n) {
    if (l->off % 4) l->misaligned_scales = 1;
    l->n_scales = lm_add(l->n_scales, n);
    const float *p = take_f32(l, n);
    if (!p || !l->scale_pool) return p;
    float *copy = l->scale_pool + l->pool_used;
    memcpy(copy, p, n * sizeof(float));
    l->pool_used += n;
    return copy;
}

static void take_matrix(layout *l, lm_matrix *m, int rows, int cols) {
    uint64_t n = lm_mul((uint64_t)rows, (uint64_t)cols);
    m->rows = rows;
    m->cols = cols;
    if (!l->quantized) {
        m->f32 = take_f32(l, n);
        return;
    }
    m->q8.gs = l->gs;
    m->q8.q = take(l, n);
    m->q8.s = take_scales(l, n / (uint64_t)l->gs);
}

/* Layer l's struct, or a scratch one while measuring (layers not yet allocated). */
static lm_layer *layer_at(lm_model *m, int l) {
    static _Thread_local lm_layer scratch;
    return m->layers ? &m->layers[l] : &scratch;
}

#define EACH_LAYER(m, l) for (int l = 0; l < (m)->c->n_layers; l++)

static void take_norms(layout *l, lm_model *m, int ffn) {
    const float *base = take_f32(l, lm_mul((uint64_t)m->c->n_layers, (uint64_t)m->c->dim));
    EACH_LAYER(m, i) {
        const float *p = base ? base + (size_t)i * m->c->dim : NULL;
        if (ffn)
            layer_at(m, i)->rms_ffn = p;
        else
            layer_at(m, i)->rms_att = p;
    }
}

/* One per-layer tensor kind, all layers in a row, as the exporters write them. */
#define TAKE_LAYERS(l, m, field, rows, cols)                                                       \
    EACH_LAYER(m, i) take_matrix(l, &layer_at(m, i)->field, rows, cols)

static void take_attention(layout *l, lm_model *m) {
    const lm_config *c = m->c;
    int kv_dim = c->n_kv_heads * lm_head_size(c);
    TAKE_LAYERS(l, m, wq, lm_q_dim(c), c->dim);
    TAKE_LAYERS(l, m, wk, kv_dim, c->dim);
    TAKE_LAYERS(l, m, wv, kv_dim, c->dim);
    TAKE_LAYERS(l, m, wo, c->dim, lm_q_dim(c));
}

static void take_ffn(layout *l, lm_model *m) {
    const lm_config *c = m->c;
    TAKE_LAYERS(l, m, w1, c->hidden_dim, c->dim);
    TAKE_LAYERS(l, m, w2, c->dim, c->hidden_dim);
    TAKE_LAYERS(l, m, w3, c->hidden_dim, c->dim);
}

static void take_classifier(layout *l, lm_model *m) {
    if (m->info.shared_classifier)
        m->classifier = m->tok_emb;
    else
        take_matrix(l, &m->classifier, m->c->vocab_size, m->c->dim);
}

/* The arrays of each format, in file order; returns the file size they imply. */
static uint64_t lay_out(lm_model *m, layout *l) {
    const lm_config *c = m->c;
    if (m->info.format == LM_FORMAT_V0) {
        l->off = V0_HEADER_BYTES;
        take_matrix(l, &m->tok_emb, c->vocab_size, c->dim);
        take_norms(l, m, 0);
        take_attention(l, m);
        take_norms(l, m, 1);
        take_ffn(l, m);
        m->rms_final = take_f32(l, (uint64_t)c->dim);
        /* two RoPE tables of seq_len * head_size / 2 floats that nobody reads */
        take_f32(l, lm_mul((uint64_t)c->seq_len, (uint64_t)(c->dim / c->n_heads)));
    } else {
        l->off = V12_HEADER_BYTES;
        int quantized = l->quantized;
        l->quantized = 0; /* norms stay fp32 in v2 */
        take_norms(l, m, 0);
        take_norms(l, m, 1);
        m->rms_final = take_f32(l, (uint64_t)c->dim);
        l->quantized = quantized;
        take_matrix(l, &m->tok_emb, c->vocab_size, c->dim);
        take_attention(l, m);
        take_ffn(l, m);
    }
    take_classifier(l, m);
    return l->off;
}

void lm_config_resolve(lm_config *c) {
    if (!c->head_size && c->n_heads > 0) c->head_size = c->dim / c->n_heads;
    if (c->rope_theta == 0.0f) c->rope_theta = 10000.0f;
    if (c->norm_eps == 0.0f) c->norm_eps = 1e-5f;
}

/* A head size other than dim / n_heads comes only from GGUF metadata. */
int lm_check_config(const lm_config *c, const char *name, lm_error *err) {
    const struct {
        const char *field;
        int value;
    } fields[] = {
        {"dim", c->dim},         {"hidden_dim", c->hidden_dim}, {"n_layers", c->n_layers},
        {"n_heads", c->n_heads}, {"n_kv_heads", c->n_kv_heads}, {"vocab_size", c->vocab_size},
        {"seq_len", c->seq_len}};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if (fields[i].value <= 0)
            return lm_fail(err, "%s: invalid header: %s = %d, must be positive", name,
                           fields[i].field, fields[i].value);
    if (!c->head_size && c->dim % c->n_heads)
        return lm_fail(err, "%s: invalid header: dim %d is not a multiple of n_heads %d", name,
                       c->dim, c->n_heads);
    if (c->n_heads % c->n_kv_heads)
        return lm_fail(err, "%s: invalid header: n_heads %d is not a multiple of n_kv_heads %d",
                       name, c->n_heads, c->n_kv_heads);
    int hs = lm_head_size(c);
    if (hs <= 0 || hs % 2)
        return lm_fail(
            err,
            (int64_t)hs * c->n_heads == c->dim
                ? "%s: invalid header: head size %d (dim / n_heads) must be even for RoPE"
                : "%s: invalid header: head size %d must be positive and even for RoPE",
            name, hs);
    if (!(c->rope_theta > 0.0f) || !isfinite(c->rope_theta) || !(c->norm_eps > 0.0f) ||
        !isfinite(c->norm_eps))
        return lm_fail(err,
                       "%s: invalid header: RoPE theta %g and RMSNorm epsilon %g must be "
                       "positive and finite",
                       name, (double)c->rope_theta, (double)c->norm_eps);
    return 0;
}

static int32_t read_i32(const uint8_t *p) {
    int32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* Header fields into m->info; checks everything that does not need the size. */
static int parse_header(lm_model *m, const uint8_t *p, uint64_t size, const char *name,
                        lm_error *err) {
    lm_model_info *info = &m->info;
    lm_config *c = &info->config;
    if (size < V0_HEADER_BYTES)
        return lm_fail(err, "%s: too small to be a checkpoint (%llu bytes)", name,
                       (unsigned long long)size);
    uint32_t magic;
    memcpy(&magic, p, sizeof magic);
    int ints_at = 0;
    if (magic == LM_MAGIC) {
        if (size < V12_HEADER_BYTES)
            return lm_fail(err, "%s: truncated header (%llu of %d bytes)", name,
                           (unsigned long long)size, V12_HEADER_BYTES);
        int version = read_i32(p + 4);
        if (version != 1 && version != 2)
            return lm_fail(err, "%s: unsupported checkpoint version %d (lamina reads 0, 1 and 2)",
                           name, version);
        info->format = version == 1 ? LM_FORMAT_V1 : LM_FORMAT_V2;
        ints_at = 8;
    } else {
        info->format = LM_FORMAT_V0;
    }
    int *fields = &c->dim;
    for (int i = 0; i < 7; i++) fields[i] = read_i32(p + ints_at + 4 * i);
    if (info->format == LM_FORMAT_V0) {
        /* a negative vocab_size marks an unshared classifier */
        info->shared_classifier = c->vocab_size > 0;
        if (c->vocab_size < 0 && c->vocab_size != INT32_MIN) c->vocab_size = -c->vocab_size;
    } else {
        uint8_t shared = p[36];
        if (shared > 1)
            return lm_fail(err, "%s: invalid header: shared_classifier byte is %u, must be 0 or 1",
                           name, shared);
        info->shared_classifier = shared;
    }
    c->head_size = 0, c->rope_theta = 0.0f, c->norm_eps = 0.0f;
    if (c->n_heads > 0 && c->dim % c->n_heads == 0) lm_config_resolve(c); /* llama2.c's values */
    if (lm_check_config(c, name, err)) return -1;
    if (info->format == LM_FORMAT_V2) {
        info->group_size = read_i32(p + 37);
        if (info->group_size <= 0 || c->dim % info->group_size)
            return lm_fail(err,
                           "%s: invalid header: group size %d must be positive and divide dim %d",
                           name, info->group_size, c->dim);
    }
    return 0;
}

static uint64_t matrix_bytes(const lm_matrix *w, int gs) {
    uint64_t n = (uint64_t)w->rows * (uint64_t)w->cols;
    return gs ? n + n / (uint64_t)gs * 4 : n * 4;
}

/* Parameters, and the bytes one decode step reads (all but the embedding). */
static void count_weights(lm_model *m) {
    const lm_config *c = m->c;
    int gs = m->info.group_size;
    uint64_t params = 0, bytes = 0;
    EACH_LAYER(m, i) {
        const lm_layer *L = &m->layers[i];
        const lm_matrix *ws[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w1, &L->w2, &L->w3};
        for (int j = 0; j < 7; j++) {
            params += (uint64_t)ws[j]->rows * (uint64_t)ws[j]->cols;
            bytes += matrix_bytes(ws[j], gs);
        }
    }
    uint64_t norms = (uint64_t)c->dim * (2 * (uint64_t)c->n_layers + 1);
    uint64_t emb = (uint64_t)c->vocab_size * (uint64_t)c->dim;
    m->info.n_params = params + norms + emb * (m->info.shared_classifier ? 1 : 2);
    m->info.weight_bytes = bytes + norms * 4 + matrix_bytes(&m->classifier, gs);
    snprintf(m->info.weight_type, sizeof m->info.weight_type, "%s", gs ? "Q8_0" : "F32");
    m->info.bits_per_weight = gs ? 8.0 + 32.0 / gs : 32.0; /* (norms f32 in v2 too: few) */
}

/* Validate and lay out a complete file image of `size` bytes at `p`. */
static int parse_image(lm_model *m, const uint8_t *p, uint64_t size, const char *name,
                       lm_error *err) {
    m->c = &m->info.config;
    if (parse_header(m, p, size, name, err)) return -1;
    m->info.file_size = size;
    /* The size walk below visits every layer: refuse a layer count the file
     * cannot hold first (each layer has at least its two norms and w1, w2, w3
     * at one byte a weight), so that a small file claiming 2^31 layers is not
     * minutes of work. */
    const lm_config *hc = m->c;
    uint64_t layer_min = lm_add(lm_mul((uint64_t)hc->dim, 8),
                                lm_mul(lm_mul((uint64_t)hc->hidden_dim, (uint64_t)hc->dim), 3));
    if (lm_mul((uint64_t)hc->n_layers, layer_min) > size)
        return lm_fail(err,
                       "%s: file is %llu bytes, too small for the %d layers (dim %d, hidden %d) "
                       "its header claims: truncated or corrupt",
                       name, (unsigned long long)size, hc->n_layers, hc->dim, hc->hidden_dim);
    layout measure = {.quantized = m->info.format == LM_FORMAT_V2, .gs = m->info.group_size};
    uint64_t want = lay_out(m, &measure);
    if (want != size) {
        const lm_config *c = m->c;
        return lm_fail(
            err,
            "%s: file is %llu bytes but its header (v%d, dim %d, hidden %d, %d layers, "
            "%d heads, %d kv heads, vocab %d, seq %d) implies %llu: truncated or corrupt",
            name, (unsigned long long)size, (int)m->info.format, c->dim, c->hidden_dim, c->n_layers,
            c->n_heads, c->n_kv_heads, c->vocab_size, c->seq_len,
            want == UINT64_MAX ? 0ull : (unsigned long long)want);
    }
    m->layers = calloc((size_t)m->c->n_layers, sizeof *m->layers);
    if (!m->layers) return lm_fail(err, "%s: out of memory", name);
    layout place = {.base = p, .quantized = measure.quantized, .gs = measure.gs};
    if (measure.misaligned_scales) {
        /* Scales that follow an int8 tensor whose length is not a multiple of 4
         * would be misaligned floats: copy them (small: 1 / gs of the weights). */
        m->aligned_scales = malloc(measure.n_scales * sizeof(float));
        if (!m->aligned_scales) return lm_fail(err, "%s: out of memory", name);
        place.scale_pool = m->aligned_scales;
    }
    lay_out(m, &place);
    count_weights(m);
    lm_model_act(m);
    return 0;
}

/* ---- panels --------------------------------------------------------------- */

/* Matrix j of the model in the order the file holds them (0: the embedding,
 * then wq of every layer, wk of every layer, ..., w3; last the classifier),
 * or NULL for a classifier that is the embedding. Packing in this order reads
 * the file front to back, which a cold load needs to be fast. */
static lm_matrix *matrix_at(lm_model *m, int j) {
    int per_layer = 7 * m->c->n_layers;
    if (j == 0) return &m->tok_emb;
    if (j > per_layer) return m->info.shared_classifier ? NULL : &m->classifier;
    /* the file's order: every layer's wq, then every wk, ... */
    lm_layer *L = &m->layers[(j - 1) % m->c->n_layers];
    lm_matrix *ws[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w1, &L->w2, &L->w3};
    return ws[(j - 1) / m->c->n_layers];
}

/* GGUF Q8_0 rows [r0, r1) of w as lamina's flat Q8_0 (int8 values, then one
 * f32 scale per 32: the fp16 scale widened exactly) into q and s, which hold
 * the whole matrix. */
static void unblock_q8(const lm_matrix *w, int8_t *q, float *s, size_t r0, size_t r1) {
    size_t per_row = (size_t)w->cols / LM_GGUF_Q8_0_BLOCK;
    for (size_t b = r0 * per_row; b < r1 * per_row; b++) {
        const uint8_t *blk = w->blocks + b * LM_GGUF_Q8_0_BYTES;
        uint16_t d;
        memcpy(&d, blk, 2);
        s[b] = lm_f16_to_f32(d);
        memcpy(q + b * LM_GGUF_Q8_0_BLOCK, blk + 2, LM_GGUF_Q8_0_BLOCK);
    }
}

static size_t matrix_pack_bytes(const lm_matrix *w) {
    if (w->qblk) return (lm_pack_bytes_type(w->qtype, w->rows, w->cols, 0) + 63) / 64 * 64;
    if (w->half) return lm_pack_bytes_type(w->half_type, w->rows, w->cols, 0);
    return (lm_pack_bytes(w->rows, w->cols, w->f32 ? 0 : w->q8.gs) + 63) / 64 * 64;
}

/* Give the pages of [p, p + bytes) of the file image back to the OS once
 * packed, so that a load needs about one copy of the weights at a time. */
static void release(const lm_model *m, const void *p, size_t bytes) {
    if (!m->map || !p) return;
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t a = ((uintptr_t)p + page - 1) / page * page, b = ((uintptr_t)p + bytes) / page * page;
    uintptr_t lo = (uintptr_t)m->map, hi = lo + m->map_size;
    if (a >= lo && b <= hi && a < b) madvise((void *)a, b - a, MADV_DONTNEED);
}

/* GGUF Q8_0 goes through a staging copy in lamina's flat layout, of which
 * only the slice being packed is ever touched (reserved, not committed). */
static int stage_matrix(lm_matrix *w, void **stage, size_t *bytes) {
    size_t n_all = (size_t)w->rows * (size_t)w->cols;
    *stage = NULL, *bytes = 0;
    if (!w->blocks) return 0;
    *bytes = n_all + n_all / LM_GGUF_Q8_0_BLOCK * sizeof(float);
    void *p = mmap(NULL, *bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return -1;
    *stage = p;
    w->q8 = (lm_q8){p, (const float *)((char *)p + n_all), LM_GGUF_Q8_0_BLOCK};
    return 0;
}

/* Panels [p0, p1) of w into mem (the whole matrix's packed memory), giving
 * back the slice of the file image (and of the staging copy) once packed:
 * the process holds about one copy of the weights throughout (a whole 7B
 * embedding held until packed was 55 MB over the file's size). Safe to run
 * on disjoint slices from several threads; w->p is described afterwards. */
static void pack_slice(const lm_model *m, const lm_matrix *w, void *mem, int p0, int p1) {
    lm_packed out; /* each slice describes the whole matrix: not shared */
    size_t r0 = (size_t)p0 * LM_PANEL, r1 = (size_t)p1 * LM_PANEL;
    if (r1 > (size_t)w->rows) r1 = (size_t)w->rows;
    size_t a = r0 * (size_t)w->cols, n = (r1 - r0) * (size_t)w->cols;
    if (w->blocks) unblock_q8(w, (int8_t *)w->q8.q, (float *)w->q8.s, r0, r1);
    if (w->qblk) { /* a ggml block type: its descriptor packs it (kernels/qtypes.h) */
        const lm_qtype *qt = lm_qtype_of(w->qtype);
        size_t row = (size_t)(w->cols / qt->block_values) * (size_t)qt->block_bytes;
        qt->pack_part(&out, mem, w->qblk, w->rows, w->cols, p0, p1);
        release(m, w->qblk + r0 * row, (r1 - r0) * row);
    } else if (w->half) {
        if (w->half_type == LM_WT_F16)
            lm_pack_f16_part(&out, mem, w->half, w->rows, w->cols, p0, p1);
        else
            lm_pack_bf16_part(&out, mem, w->half, w->rows, w->cols, p0, p1);
        release(m, (const uint8_t *)w->half + a * 2, n * 2);
    } else if (w->f32) {
        lm_pack_f32_part(&out, mem, w->f32, w->rows, w->cols, p0, p1);
        release(m, w->f32 + a, n * sizeof(float));
    } else {
        lm_pack_q8_part(&out, mem, &w->q8, w->rows, w->cols, p0, p1);
        if (w->blocks) {
            madvise((char *)w->q8.q + a, n, MADV_DONTNEED); /* the staging slice */
            release(m, w->blocks + a / LM_GGUF_Q8_0_BLOCK * LM_GGUF_Q8_0_BYTES,
                    n / LM_GGUF_Q8_0_BLOCK * LM_GGUF_Q8_0_BYTES);
            return;
        }
        release(m, w->q8.q + a, n);
        release(m, w->q8.s + a / (size_t)w->q8.gs, n / (size_t)w->q8.gs * sizeof(float));
    }
}

/* One piece of packing work: panels [p0, p1) of matrix j. */
typedef struct pack_unit {
    int j, p0, p1;
    size_t at; /* the matrix's offset in the packed memory */
} pack_unit;

/* Matrix j cut into slices of about 4 MiB of weights (all of a Q8_0 matrix
 * without panels: its slices' scale groups may straddle); appends to units. */
static int cut_matrix(const lm_matrix *w, int j, size_t at, pack_unit *units, int n) {
    const size_t row_bytes = w->qblk ? (size_t)w->cols / 2 /* about 4 bits a value */
                                     : (size_t)w->cols * (w->f32    ? sizeof(float)
                                                          : w->half ? 2
                                                                    : 1);
    const int panels = (w->rows + LM_PANEL - 1) / LM_PANEL;
    int step = (int)(((size_t)4 << 20) / (row_bytes * LM_PANEL));
    int flat = !w->f32 && !w->half && !w->qblk && !lm_pack_q8_panels(w->cols, w->q8.gs);
    if (step < 1) step = 1;
    if (flat) step = panels;
    for (int p0 = 0; p0 < panels; p0 += step)
        units[n++] = (pack_unit){j, p0, p0 + step < panels ? p0 + step : panels, at};
    return n;
}

/* Every slice of every matrix over one team of threads, each claiming the
 * next slice as it finishes one (in file order, so that a cold file is read
 * front to back): one parallel region and one barrier in all, where a region
 * per slice spent most of a contended load spinning in its barrier. */
static void pack_all(lm_model *m, const pack_unit *units, int n_units) {
    int threads = omp_get_max_threads(), cpus = omp_get_num_procs(); /* kernels/pack.c */
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads < cpus ? threads : cpus)
    for (int u = 0; u < n_units; u++) {
        lm_matrix *w = matrix_at(m, units[u].j);
        pack_slice(m, w, (char *)m->packed + units[u].at, units[u].p0, units[u].p1);
    }
}

/* Slices of the matrices with their offsets in the packed memory; NULL when
 * out of memory. */
static pack_unit *plan_units(lm_model *m, int *n_units) {
    int n_mats = lm_model_n_matrices(m), n = 0, cap = 0;
    for (int j = 0; j < n_mats; j++) {
        const lm_matrix *w = matrix_at(m, j);
        if (w) cap += (w->rows + LM_PANEL - 1) / LM_PANEL;
    }
    pack_unit *units = malloc((size_t)(cap ? cap : 1) * sizeof *units);
    if (!units) return NULL;
    size_t at = 0;
    for (int j = 0; j < n_mats; j++) {
        const lm_matrix *w = matrix_at(m, j);
        if (!w) continue;
        n = cut_matrix(w, j, at, units, n);
        at += matrix_pack_bytes(w);
    }
    *n_units = n;
    return units;
}

/* Stage the GGUF Q8_0 matrices, pack every slice, then describe each matrix
 * (w->p) and drop its sources. -1 when a staging copy cannot be reserved. */
static int pack_matrices(lm_model *m) {
    int n_mats = lm_model_n_matrices(m), n_units = 0, rc = 0;
    void **stages = calloc((size_t)n_mats, sizeof *stages);
    size_t *stage_bytes = calloc((size_t)n_mats, sizeof *stage_bytes);
    pack_unit *units = stages && stage_bytes ? plan_units(m, &n_units) : NULL;
    if (!units) rc = -1;
    for (int j = 0; j < n_mats && !rc; j++)
        if (matrix_at(m, j)) rc = stage_matrix(matrix_at(m, j), &stages[j], &stage_bytes[j]);
    if (!rc) pack_all(m, units, n_units);
    char *at = m->packed;
    for (int j = 0; j < n_mats; j++) {
        lm_matrix *w = matrix_at(m, j);
        if (stages && stages[j]) munmap(stages[j], stage_bytes[j]);
        if (!w || rc) continue;
        int gs;
        lm_wtype type = lm_matrix_packed_type(w, &gs);
        lm_pack_view(&w->p, type, at, w->rows, w->cols, gs);
        at += matrix_pack_bytes(w);
        w->f32 = NULL, w->q8.q = NULL, w->q8.s = NULL, w->blocks = NULL, w->half = NULL;
        w->qblk = NULL;
    }
    free(units);
    free(stages);
    free(stage_bytes);
    return rc;
}

/* Repack every matrix into panels (kernels/pack.h) in memory the model owns,
 * copy the norms, then drop the file image: the products read only panels. */
static int pack_weights(lm_model *m, const char *name, lm_error *err) {
    double t0 = lm_seconds();
    const lm_config *c = m->c;
    if (!m->rope_freq && lm_rope_table(m, NULL, name, err)) return -1;
    int n_mats = 2 + 7 * c->n_layers;
    size_t norms = (size_t)c->dim * (2 * (size_t)c->n_layers + 1), total = norms * sizeof(float);
    for (int j = 0; j < n_mats; j++)
        if (matrix_at(m, j)) total += matrix_pack_bytes(matrix_at(m, j));
    void *mem = NULL;
    if (posix_memalign(&mem, 64, (total + 63) / 64 * 64))
        return lm_fail(err, "%s: out of memory for the packed weights (%zu bytes)", name, total);
    m->packed = mem;
    float *nv = (float *)((char *)mem + total - norms * sizeof(float));
    EACH_LAYER(m, i) {
        lm_layer *L = &m->layers[i];
        memcpy(nv + (size_t)(2 * i) * c->dim, L->rms_att, (size_t)c->dim * sizeof(float));
        memcpy(nv + (size_t)(2 * i + 1) * c->dim, L->rms_ffn, (size_t)c->dim * sizeof(float));
        L->rms_att = nv + (size_t)(2 * i) * c->dim, L->rms_ffn = nv + (size_t)(2 * i + 1) * c->dim;
    }
    memcpy(nv + (size_t)2 * c->n_layers * c->dim, m->rms_final, (size_t)c->dim * sizeof(float));
    m->rms_final = nv + (size_t)2 * c->n_layers * c->dim;
    if (pack_matrices(m)) return lm_fail(err, "%s: out of memory staging a Q8_0 matrix", name);
    if (m->info.shared_classifier) m->classifier = m->tok_emb;
    if (m->map) munmap(m->map, m->map_size);
    m->map = NULL, m->map_size = 0;
    free(m->aligned_scales);
    m->aligned_scales = NULL;
    free(m->norm_store);
    m->norm_store = NULL;
    m->info.pack_seconds = lm_seconds() - t0;
    return 0;
}

int lm_model_n_matrices(const lm_model *m) { return 2 + 7 * m->c->n_layers; }
lm_matrix *lm_model_matrix(lm_model *m, int j) { return matrix_at(m, j); }
/* matrix_pack_bytes, also once packed (when half and f32 are gone) */
size_t lm_matrix_packed_bytes(const lm_matrix *w) {
    int gs;
    lm_wtype t = lm_matrix_packed_type(w, &gs);
    return (lm_pack_bytes_type(t, w->rows, w->cols, gs) + 63) / 64 * 64;
}
size_t lm_model_norm_floats(const lm_model *m) {
    return (size_t)m->c->dim * (2 * (size_t)m->c->n_layers + 1);
}
int lm_model_pack(lm_model *m, const char *name, lm_error *err) {
    return pack_weights(m, name, err);
}

lm_wtype lm_matrix_packed_type(const lm_matrix *w, int *gs) {
    *gs = 0;
    if (w->qblk) return w->qtype;
    if (w->p.blk) return w->p.type; /* already packed */
    if (w->half) return w->half_type;
    if (w->f32) return LM_WT_F32;
    if (w->p.f32) return LM_WT_F32; /* already packed */
    if (w->p.h) return w->p.type;
    *gs = w->p.type == LM_WT_Q8_0 ? (w->p.q ? w->p.gs : w->p.flat.gs) : w->q8.gs;
    return LM_WT_Q8_0;
}

/* What pack_weights leaves behind, with the panels elsewhere: no file image,
 * no copies of scales or norms. */
static void drop_sources(lm_model *m) {
    if (m->map) munmap(m->map, m->map_size);
    m->map = NULL, m->map_size = 0;
    free(m->aligned_scales);
    m->aligned_scales = NULL;
    free(m->norm_store);
    m->norm_store = NULL;
    free(m->packed);
    m->packed = NULL;
}

void lm_model_point(lm_model *m, const char *base, const uint64_t *off, uint64_t norms_off) {
    const lm_config *c = m->c;
    for (int j = 0, e = 0; j < lm_model_n_matrices(m); j++) {
        lm_matrix *w = matrix_at(m, j);
        if (!w) continue;
        int gs;
        lm_wtype type = lm_matrix_packed_type(w, &gs);
        lm_pack_view(&w->p, type, base + off[e++], w->rows, w->cols, gs);
        w->f32 = NULL, w->q8.q = NULL, w->q8.s = NULL, w->blocks = NULL, w->half = NULL;
        w->qblk = NULL;
    }
    if (m->info.shared_classifier) m->classifier = m->tok_emb;
    const float *nv = (const float *)(base + norms_off);
    EACH_LAYER(m, i) {
        m->layers[i].rms_att = nv + (size_t)(2 * i) * c->dim;
        m->layers[i].rms_ffn = nv + (size_t)(2 * i + 1) * c->dim;
    }
    m->rms_final = nv + (size_t)2 * c->n_layers * c->dim;
    drop_sources(m);
}

/* A GGUF file or one of llama2.c's, by its magic. */
static int parse_any(lm_model *m, const uint8_t *p, uint64_t size, const char *name,
                     lm_error *err) {
    if (lm_gguf_is(p, size)) return lm_gguf_model_parse(m, p, size, name, err);
    if (!parse_image(m, p, size, name, err)) return 0;
    lm_file_explain(name, p, size, LM_WANT_CHECKPOINT, err);
    return -1;
}

lm_model *lm_model_map(const char *path, lm_error *err) {
    struct stat st;
    int fd = lm_open_regular(path, "checkpoint", &st, err);
    if (fd < 0) return NULL;
    lm_model *m = calloc(1, sizeof *m);
    void *map =
        st.st_size > 0 ? mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
    int saved = errno;
    close(fd);
    if (!m || (map == MAP_FAILED && st.st_size > 0)) {
        lm_fail(err, "%s: cannot map checkpoint: %s", path, m ? strerror(saved) : "out of memory");
        free(m);
        return NULL;
    }
    if (map != MAP_FAILED) {
        m->map = map;
        m->map_size = (size_t)st.st_size;
    }
    m->file_dev = (uint64_t)st.st_dev, m->file_ino = (uint64_t)st.st_ino;
    m->file_size = (uint64_t)st.st_size;
    m->file_mtime_ns = (uint64_t)st.st_mtim.tv_sec * 1000000000u + (uint64_t)st.st_mtim.tv_nsec;
    if (parse_any(m, map == MAP_FAILED ? (const uint8_t *)"" : map, (uint64_t)st.st_size, path,
                  err)) {
        lm_model_free(m);
        return NULL;
    }
    return m;
}

lm_model *lm_model_load(const char *path, lm_error *err) {
    lm_model *m = lm_model_map(path, err);
    if (m && pack_weights(m, path, err)) {
        lm_model_free(m);
        return NULL;
    }
    return m;
}

lm_model *lm_model_load_ex(const char *path, lm_model_load_params params, lm_error *err) {
    if (!params.image_dir || !*params.image_dir) return lm_model_load(path, err);
    lm_model *m = lm_model_map(path, err);
    if (m && lm_weights_image_attach(m, path, &params, err)) {
        lm_model_free(m);
        return NULL;
    }
    return m;
}

lm_model *lm_model_load_memory(const void *data, size_t size, const char *name, lm_error *err) {
    lm_model *m = calloc(1, sizeof *m);
    if (!m) {
        lm_fail(err, "%s: out of memory", name);
        return NULL;
    }
    if ((uintptr_t)data % 4) { /* weights are read as aligned floats: copy them */
        void *copy =
            size ? mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
                 : MAP_FAILED;
        if (copy == MAP_FAILED && size) {
            free(m);
            lm_fail(err, "%s: cannot copy %zu bytes: %s", name, size, strerror(errno));
            return NULL;
        }
        if (size) memcpy(copy, data, size);
        m->map = size ? copy : NULL, m->map_size = size;
        data = m->map;
    }
    if (parse_any(m, size ? data : (const uint8_t *)"", size, name, err)) {
        lm_model_free(m);
        return NULL;
    }
    if (pack_weights(m, name, err)) {
        lm_model_free(m);
        return NULL;
    }
    return m;
}

void lm_model_free(lm_model *m) {
    if (!m) return;
    if (m->map) munmap(m->map, m->map_size);
    free(m->aligned_scales);
    free(m->norm_store);
    lm_gguf_free(m->gguf);
    free(m->packed);
    free(m->rope_freq);
    if (m->image) munmap(m->image, m->image_size);
    free(m->layers);
    free(m->tensors);
    free(m);
}

lm_model_info lm_model_get_info(const lm_model *m) { return m->info; }

int lm_model_n_tensors(const lm_model *m) { return m->n_tensors; }

const lm_tensor_desc *lm_model_tensor(const lm_model *m, int i) {
    return i >= 0 && i < m->n_tensors ? &m->tensors[i] : NULL;
}

/* The group size of the Q8 activations w's products read; 0 for none. */
static int act_gs_of(const lm_matrix *w) {
    if (w->qblk) return lm_qtype_of(w->qtype)->act_gs;
    if (w->f32 || w->half) return 0;
    return w->q8.gs;
}

void lm_model_act(lm_model *m) {
    m->n_act = 0;
    for (int j = 0; j < lm_model_n_matrices(m); j++) {
        lm_matrix *w = matrix_at(m, j);
        if (!w) continue;
        int gs = act_gs_of(w), a = 0;
        while (a < m->n_act && m->act_gs[a] != gs) a++;
        /* the embedding's type counts only when it is also the classifier */
        if (gs && a == m->n_act && (j || m->info.shared_classifier) && a < LM_ACT_MAX)
            m->act_gs[m->n_act++] = gs;
        w->act = gs && a < m->n_act ? a : -1;
    }
    if (m->info.shared_classifier) m->classifier = m->tok_emb;
}

uint64_t lm_kv_cache_bytes(const lm_config *c, int n_ctx) {
    return lm_kv_bytes(c, n_ctx, LM_KV_F32);
}

uint64_t lm_kv_bytes(const lm_config *c, int n_ctx, lm_kv_type type) {
    uint64_t kv_dim = (uint64_t)c->n_kv_heads * (uint64_t)lm_head_size(c);
    return lm_mul(lm_mul(lm_mul((uint64_t)c->n_layers, (uint64_t)n_ctx), kv_dim),
                  2 * lm_kv_elem_bytes(type));
}

/* ---- random models ------------------------------------------------------ */

static uint64_t splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Random fp32 values in (-a, a), or int8 values in [-127, 127] when q8 is set.
 * Work is cut into fixed chunks seeded by position, so the weights do not
 * depend on the thread count. */
static void fill_random(void *dst, uint64_t n, float a, int q8, uint64_t seed) {
    const uint64_t chunk = 1 << 18;
    int64_t n_chunks = (int64_t)((n + chunk - 1) / chunk);
    /* at most a thread per CPU, whatever OMP_NUM_THREADS says (kernels/pack.c) */
    int threads = omp_get_max_threads(), cpus = omp_get_num_procs();
#pragma omp parallel for schedule(static) num_threads(threads < cpus ? threads : cpus)
    for (int64_t k = 0; k < n_chunks; k++) {
        uint64_t s = seed ^ ((uint64_t)k * 0x632be59bd9b4e019ull);
        uint64_t end = (uint64_t)(k + 1) * chunk < n ? (uint64_t)(k + 1) * chunk : n;
        for (uint64_t i = (uint64_t)k * chunk; i < end; i++) {
            uint64_t r = splitmix(&s);
            if (q8)
                ((int8_t *)dst)[i] = (int8_t)((int)(r % 255) - 127);
            else
                ((float *)dst)[i] = ((float)(r >> 40) / 8388608.0f - 1.0f) * a;
        }
    }
}

static void fill_const(const float *dst, uint64_t n, float v) {
    for (uint64_t i = 0; i < n; i++) ((float *)dst)[i] = v;
}

static void fill_matrix(const lm_matrix *w, uint64_t *seed) {
    uint64_t n = (uint64_t)w->rows * (uint64_t)w->cols;
    float a = 1.0f / sqrtf((float)w->cols); /* keeps activations at a trained model's scale */
    uint64_t s = splitmix(seed);
    if (w->f32) {
        fill_random((void *)w->f32, n, a, 0, s);
    } else {
        fill_random((void *)w->q8.q, n, 0, 1, s);
        fill_const(w->q8.s, n / (uint64_t)w->q8.gs, a / 127.0f);
    }
}

lm_model *lm_model_random(const lm_config *config, lm_format format, int group_size, uint64_t seed,
                          lm_error *err) {
    const char *name = "random model";
    if (format == LM_FORMAT_V0) {
        lm_fail(err, "%s: random models are built as v1 or v2", name);
        return NULL;
    }
    lm_config want = *config;
    lm_config_resolve(&want);
    if (lm_check_config(&want, name, err)) return NULL;
    if (want.head_size != want.dim / want.n_heads) {
        lm_fail(err, "%s: head size %d must be dim / n_heads (%d) in llama2.c's layout", name,
                want.head_size, want.dim / want.n_heads);
        return NULL;
    }
    int gs = format != LM_FORMAT_V2 ? 0
             : group_size           ? group_size
                                    : lm_q8_group_size(config->dim, config->hidden_dim);
    if (gs && config->dim % gs) {
        lm_fail(err, "%s: group size %d does not divide dim %d", name, gs, config->dim);
        return NULL;
    }
    lm_model sizing = {.info = {.config = *config, .format = format, .shared_classifier = 1}};
    sizing.c = &sizing.info.config;
    layout measure = {.quantized = gs > 0, .gs = gs};
    uint64_t size = lay_out(&sizing, &measure);
    lm_model *m = calloc(1, sizeof *m);
    void *img = size < SIZE_MAX / 2 ? mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE,
                                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
                                    : MAP_FAILED;
    if (!m || img == MAP_FAILED) {
        lm_fail(err, "%s: cannot allocate %llu bytes", name, (unsigned long long)size);
        free(m);
        return NULL;
    }
    m->map = img;
    m->map_size = (size_t)size;
    lm_checkpoint_header(img, config, format, 1, gs); /* shared classifier, as the stories */
    if (parse_image(m, img, size, name, err)) {
        lm_model_free(m);
        return NULL;
    }
    m->info.config = want; /* the header holds no theta nor epsilon */
    fill_const(m->layers[0].rms_att, (uint64_t)config->dim * (2 * (uint64_t)config->n_layers),
               1.0f); /* rms_att and rms_ffn are adjacent in v1/v2 */
    fill_const(m->rms_final, (uint64_t)config->dim, 1.0f);
    fill_matrix(&m->tok_emb, &seed);
    EACH_LAYER(m, i) {
        const lm_layer *L = &m->layers[i];
        const lm_matrix *ws[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w1, &L->w2, &L->w3};
        for (int j = 0; j < 7; j++) fill_matrix(ws[j], &seed);
    }
    if (pack_weights(m, name, err)) {
        lm_model_free(m);
        return NULL;
    }
    return m;
}
