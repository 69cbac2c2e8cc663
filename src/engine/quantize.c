/* Write a v2 (Q8_0) checkpoint from an fp32 one, by the rules of llama2.c's
 * export.py --version 2: per group of gs consecutive values of each tensor,
 * scale = max|w| / 127, q = round(w / scale) with round half to even (as
 * torch.round). Unlike export.py, the group size also divides hidden_dim, so
 * no group straddles two rows. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "file.h"
#include "internal.h"

typedef struct writer {
    FILE *f;
    int failed;
    const lm_cancel_flag *cancel; /* checked before each tensor */
    int cancelled;
} writer;

static void put(writer *w, const void *p, size_t bytes) {
    if (!w->failed && fwrite(p, 1, bytes, w->f) != bytes) w->failed = 1;
}

/* The int8 values of one tensor, then its scales (kept until the values are
 * out). The weights are read in place in the file's row-major order (gs
 * divides the row length, so no group straddles rows). */
static void put_quantized(writer *w, const lm_matrix *x, int gs, float *scales) {
    if (w->cancel && *w->cancel) w->cancelled = w->failed = 1;
    if (w->failed) return;
    int8_t q[4096];
    uint64_t n = (uint64_t)x->rows * (uint64_t)x->cols;
    for (uint64_t g = 0; g < n / (uint64_t)gs; g++) {
        const float *v = x->f32 + g * (uint64_t)gs;
        float amax = 0.0f;
        for (int i = 0; i < gs; i++) amax = fmaxf(amax, fabsf(v[i]));
        float scale = amax / 127.0f;
        scales[g] = scale;
        for (int i = 0; i < gs; i++) {
            size_t at = (size_t)((g * (uint64_t)gs + (uint64_t)i) % sizeof q);
            q[at] = scale > 0.0f ? (int8_t)rintf(v[i] / scale) : 0;
            if (at == sizeof q - 1) put(w, q, sizeof q);
        }
    }
    put(w, q, (size_t)(n % sizeof q));
    put(w, scales, (size_t)(n / (uint64_t)gs) * sizeof(float));
}

static void put_header(writer *w, const lm_model *m, int gs) {
    uint8_t h[LM_HEADER_BYTES];
    lm_checkpoint_header(h, m->c, LM_FORMAT_V2, m->info.shared_classifier, gs);
    put(w, h, sizeof h);
}

static int pick_group_size(const lm_config *c, int requested, lm_error *err) {
    if (requested > 0) {
        if (c->dim % requested || c->hidden_dim % requested)
            return lm_fail(err, "group size %d must divide dim %d and hidden_dim %d", requested,
                           c->dim, c->hidden_dim);
        return requested;
    }
    return lm_q8_group_size(c->dim, c->hidden_dim);
}

static void put_tensors(writer *w, const lm_model *m, int gs, float *scales) {
    const lm_config *c = m->c;
    for (int l = 0; l < c->n_layers; l++) put(w, m->layers[l].rms_att, (size_t)c->dim * 4);
    for (int l = 0; l < c->n_layers; l++) put(w, m->layers[l].rms_ffn, (size_t)c->dim * 4);
    put(w, m->rms_final, (size_t)c->dim * 4);
    const lm_matrix *e = &m->tok_emb;
    put_quantized(w, e, gs, scales);
    /* all layers' wq, then all wk, ... as the exporter writes them */
    static const size_t fields[] = {offsetof(lm_layer, wq), offsetof(lm_layer, wk),
                                    offsetof(lm_layer, wv), offsetof(lm_layer, wo),
                                    offsetof(lm_layer, w1), offsetof(lm_layer, w2),
                                    offsetof(lm_layer, w3)};
    for (size_t k = 0; k < sizeof fields / sizeof fields[0]; k++)
        for (int l = 0; l < c->n_layers; l++) {
            const lm_matrix *x = (const lm_matrix *)((const char *)&m->layers[l] + fields[k]);
            put_quantized(w, x, gs, scales);
        }
    if (!m->info.shared_classifier) put_quantized(w, &m->classifier, gs, scales);
}

static int quantize_model(const lm_model *m, const char *path, int group_size,
                          const lm_cancel_flag *cancel, lm_error *err) {
    if (m->info.format == LM_FORMAT_V2) return lm_fail(err, "the checkpoint is already Q8_0 (v2)");
    if (m->info.format == LM_FORMAT_GGUF)
        return lm_fail(err, "lamina quantize writes llama2.c's v2 from v0 or v1, not from GGUF");
    int gs = pick_group_size(m->c, group_size, err);
    if (gs < 0) return -1;
    uint64_t widest = (uint64_t)m->c->vocab_size * (uint64_t)m->c->dim;
    uint64_t ffn = (uint64_t)m->c->hidden_dim * (uint64_t)m->c->dim;
    float *scales = malloc((size_t)((widest > ffn ? widest : ffn) / (uint64_t)gs) * sizeof(float));
    lm_out_file out;
    if (!scales) return lm_fail(err, "out of memory");
    if (lm_out_begin(&out, path, m->file_dev, m->file_ino, err)) {
        free(scales);
        return -1;
    }
    writer w = {out.f, 0, cancel, 0};
    put_header(&w, m, gs);
    put_tensors(&w, m, gs, scales);
    free(scales);
    /* Written fully or not at all: the file appears under its name at the end. */
    if (w.failed) {
        if (w.cancelled)
            lm_fail(err, "%s: cancelled", path);
        else
            lm_fail(err, "%s: write failed: %s", path, strerror(errno));
        lm_out_abort(&out);
        return -1;
    }
    return lm_out_commit(&out, err);
}

int lm_quantize_file(const char *in, const char *out, int group_size, const lm_cancel_flag *cancel,
                     lm_error *err) {
    lm_model *m = lm_model_map(in, err);
    if (!m) return -1;
    int rc = quantize_model(m, out, group_size, cancel, err);
    lm_model_free(m);
    return rc;
}
