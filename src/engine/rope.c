/* RoPE frequencies: one table per model, made at load, that every forward
 * pass and every kernel set reads (kernels/ORDER.md, "RoPE"), and Llama 3's
 * frequency scaling (src/FORMATS.md, "GGUF"): llama.cpp's converter writes it
 * as the tensor rope_freqs.weight, one factor per pair that divides the
 * pair's frequency (ggml's rope divides each pair's angle by it). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"
#include "internal.h"

int lm_rope_table(lm_model *m, const float *factors, const char *name, lm_error *err) {
    int hs = lm_head_size(m->c);
    free(m->rope_freq);
    m->rope_freq = malloc((size_t)(hs / 2) * sizeof(float));
    if (!m->rope_freq) return lm_fail(err, "%s: out of memory", name);
    for (int i = 0; i < hs; i += 2) {
        /* run.c's frequency, bit for bit; a factor divides it once, here */
        float freq = 1.0f / powf(m->c->rope_theta, (float)i / (float)hs);
        m->rope_freq[i / 2] = factors ? freq / factors[i / 2] : freq;
    }
    return 0;
}

void lm_rope_angles(float *cs, const float *freq, int head_size, int pos) {
    for (int i = 0; i < head_size; i += 2) {
        float angle = (float)pos * freq[i / 2];
        cs[i] = cosf(angle);
        cs[i + 1] = sinf(angle);
    }
}

/* The factors of rope_freqs.weight: F32, one per pair, each positive and
 * finite (a factor of 0 or NaN would make every angle of its pair garbage). */
static int read_factors(const lm_gguf_tensor *t, int pairs, float *out, const char *name,
                        lm_error *err) {
    if (t->type != LM_GGML_F32)
        return lm_fail(err, "%s: GGUF tensor 'rope_freqs.weight' must be F32", name);
    if (t->n_dims != 1 || t->dims[0] != (uint64_t)pairs)
        return lm_fail(err,
                       "%s: GGUF tensor 'rope_freqs.weight' has %llu values in %d dimensions, "
                       "expected %d (head size / 2)",
                       name, (unsigned long long)t->dims[0], t->n_dims, pairs);
    for (int j = 0; j < pairs; j++) {
        float f;
        memcpy(&f, t->data + 4 * (size_t)j, sizeof f);
        if (!(f > 0.0f) || !isfinite(f))
            return lm_fail(err,
                           "%s: GGUF tensor 'rope_freqs.weight' holds %g at pair %d: RoPE "
                           "frequency factors must be positive and finite",
                           name, (double)f, j);
        out[j] = f;
    }
    return 0;
}

/* The rope.scaling.* keys llama.cpp reads: a type (it defaults to linear),
 * a factor (linear and YaRN scale every position by 1 / factor) and an
 * original context. lamina runs "none" and the per-pair factors only, so a
 * factor that would scale is refused rather than ignored. */
static int read_keys(const lm_gguf *g, lm_model_info *info, const char *name, lm_error *err) {
    lm_gguf_str type;
    char b[LM_GGUF_SHOW_BYTES];
    int r = lm_gguf_get_str(g, "llama.rope.scaling.type", &type, err);
    if (r < 0) return -1;
    int none = r == 0 && type.n == 4 && !memcmp(type.p, "none", 4);
    if (r == 0 && !none)
        return lm_fail(err,
                       "%s: GGUF llama.rope.scaling.type is '%s': lamina runs 'none' and "
                       "Llama 3's per-pair factors (rope_freqs.weight) only",
                       name, lm_gguf_show(type, b));
    float factor = 1.0f;
    r = lm_gguf_get_f32(g, "llama.rope.scaling.factor", &factor, err);
    if (r < 0) return -1;
    if (r == 0 && (!(factor > 0.0f) || !isfinite(factor)))
        return lm_fail(err, "%s: GGUF llama.rope.scaling.factor is %g, must be positive and finite",
                       name, (double)factor);
    if (r == 0 && factor != 1.0f && !none)
        return lm_fail(err,
                       "%s: GGUF llama.rope.scaling.factor is %g with no scaling type: llama.cpp "
                       "reads that as linear RoPE scaling, which lamina does not run",
                       name, (double)factor);
    uint32_t orig;
    r = lm_gguf_get_u32(g, "llama.rope.scaling.original_context_length", &orig, err);
    if (r < 0) return -1;
    if (r == 0 && (orig == 0 || orig > INT32_MAX))
        return lm_fail(err,
                       "%s: GGUF llama.rope.scaling.original_context_length is %u, must be "
                       "1 to %d",
                       name, orig, INT32_MAX);
    info->rope_orig_ctx = r == 0 ? (int)orig : 0;
    return 0;
}

int lm_gguf_rope(lm_model *m, const lm_gguf *g, const char *name, lm_error *err) {
    lm_model_info *info = &m->info;
    if (read_keys(g, info, name, err)) return -1;
    const lm_gguf_tensor *t = lm_gguf_find_tensor(g, "rope_freqs.weight");
    if (!t) return lm_rope_table(m, NULL, name, err);
    int pairs = lm_head_size(m->c) / 2;
    float *factors = calloc((size_t)pairs, sizeof(float));
    if (!factors) return lm_fail(err, "%s: out of memory", name);
    int rc = read_factors(t, pairs, factors, name, err);
    if (!rc) {
        info->rope_scaling = LM_ROPE_LLAMA3;
        info->rope_factor_min = info->rope_factor_max = factors[0];
        for (int j = 0; j < pairs; j++) {
            if (factors[j] < info->rope_factor_min) info->rope_factor_min = factors[j];
            if (factors[j] > info->rope_factor_max) info->rope_factor_max = factors[j];
            info->rope_pairs_scaled += factors[j] != 1.0f;
        }
        rc = lm_rope_table(m, factors, name, err);
    }
    free(factors);
    return rc;
}
