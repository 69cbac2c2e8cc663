/* ggml's reference quantizers (ggml-quants.c's quantize_row_<type>_ref, which
 * llama-quantize runs when it has no importance matrix), rewritten: the same
 * searches and the same fp32 operations in the same order, so each block is
 * the block llama-quantize writes. The build forbids contraction, as ggml's
 * baseline build of that file has no FMA. */
#include "quant_blocks.h"

#include <math.h>
#include <string.h>

#include "half.h"
#include "qtypes.h"

/* Round to nearest, ties to even (ggml's nearest_int for |v| < 2^22). */
static int nearest(float v) { return (int)lrintf(v); }

static int clamp(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* The signed value of largest magnitude (the first one, on a tie). */
static float signed_absmax(const float *x, int n) {
    float amax = 0.0f, max = 0.0f;
    for (int i = 0; i < n; i++)
        if (amax < fabsf(x[i])) {
            amax = fabsf(x[i]);
            max = x[i];
        }
    return max;
}

/* (int8_t)v as ggml casts, defined for any v: a block of values below about
 * 2^-126 overflows 1/d, and the cast of an out-of-range float is undefined. */
static int trunc_i8(float v) {
    return v >= 127.0f ? 127 : v <= -128.0f ? -128 : v != v ? 0 : (int)(int8_t)v;
}

/* Q4_0 / Q5_0: d = max / -(half the range), q = trunc(x / d + half + 0.5). */
static void symmetric_32(const float *x, int bits, uint16_t *dh, uint8_t *q) {
    float half = (float)(1 << (bits - 1));
    float d = signed_absmax(x, 32) / -half;
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    *dh = lm_f32_to_f16(d);
    for (int j = 0; j < 32; j++) {
        float v = x[j] * id;
        v = v + (half + 0.5f);
        int t = trunc_i8(v);
        q[j] = (uint8_t)(t < (1 << bits) - 1 ? t : (1 << bits) - 1);
    }
}

/* Q4_1 / Q5_1: d = (max - min) / (2^bits - 1), m = min. */
static void affine_32(const float *x, int bits, uint16_t *dh, uint16_t *mh, uint8_t *q) {
    float min = x[0], max = x[0];
    for (int j = 1; j < 32; j++) {
        min = x[j] < min ? x[j] : min;
        max = x[j] > max ? x[j] : max;
    }
    int top = (1 << bits) - 1;
    float d = (max - min) / (float)top;
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    *dh = lm_f32_to_f16(d);
    *mh = lm_f32_to_f16(min);
    for (int j = 0; j < 32; j++) {
        float v = (x[j] - min) * id;
        v = v + 0.5f;
        int t = (int)(uint8_t)trunc_i8(v);
        q[j] = (uint8_t)(t < top ? t : top);
    }
}

/* 32 four-bit values: j < 16 in low nibbles, j >= 16 in high ones. */
static void put_nibbles(uint8_t *qs, const uint8_t *q) {
    for (int j = 0; j < 16; j++) qs[j] = (uint8_t)((q[j] & 15) | (q[j + 16] & 15) << 4);
}

static void put_fifth_bits(uint8_t *qh, const uint8_t *q) {
    memset(qh, 0, 4);
    for (int j = 0; j < 32; j++) qh[j >> 3] |= (uint8_t)(((q[j] >> 4) & 1) << (j & 7));
}

static void q4_0(const float *x, void *dst) {
    lm_block_q4_0 *b = dst;
    uint8_t q[32];
    symmetric_32(x, 4, &b->d, q);
    put_nibbles(b->qs, q);
}

static void q5_0(const float *x, void *dst) {
    lm_block_q5_0 *b = dst;
    uint8_t q[32];
    symmetric_32(x, 5, &b->d, q);
    put_nibbles(b->qs, q);
    put_fifth_bits(b->qh, q);
}

static void q4_1(const float *x, void *dst) {
    lm_block_q4_1 *b = dst;
    uint8_t q[32];
    affine_32(x, 4, &b->d, &b->m, q);
    put_nibbles(b->qs, q);
}

static void q5_1(const float *x, void *dst) {
    lm_block_q5_1 *b = dst;
    uint8_t q[32];
    affine_32(x, 5, &b->d, &b->m, q);
    put_nibbles(b->qs, q);
    put_fifth_bits(b->qh, q);
}

/* ---- Q4_K / Q5_K ---------------------------------------------------------- */

/* The search of one sub-block's scale and min (x ≈ scale L - neg_min, L in
 * 0..nmax), minimising Σ w (scale L + min - x)²: ggml's make_qkx2_quants.
 * First the range's own scale; then, for iscale = (rmin + rdelta is + nmax) /
 * (max - min), is = 0..nstep, the weighted least-squares scale and min of the
 * levels that iscale rounds to, kept where their error is smaller. */
typedef struct fit {
    int nmax, nstep;
    float rmin, rdelta;
} fit;

typedef struct sums {
    float l, l2, xl;
} sums;

static float weighted_error(const float *x, const float *w, const uint8_t *L, float scale,
                            float min) {
    float err = 0.0f;
    for (int i = 0; i < 32; i++) {
        float p = scale * (float)L[i];
        float diff = p + min;
        diff = diff - x[i];
        float sq = diff * diff;
        float t = w[i] * sq;
        err = err + t;
    }
    return err;
}

/* Levels for one trial inverse scale, and their weighted sums. */
static sums levels(const float *x, const float *w, float iscale, float min, int nmax, uint8_t *L) {
    sums s = {0.0f, 0.0f, 0.0f};
    for (int i = 0; i < 32; i++) {
        float v = x[i] - min;
        int l = clamp(nearest(iscale * v), 0, nmax);
        L[i] = (uint8_t)l;
        float wl = w[i] * (float)l;
        float wll = wl * (float)l, wlx = wl * x[i];
        s.l = s.l + wl;
        s.l2 = s.l2 + wll;
        s.xl = s.xl + wlx;
    }
    return s;
}

static float fit_scale_min(const float *x, const float *w, fit f, uint8_t *L, float *neg_min) {
    float min = x[0], max = x[0], sum_w = 0.0f, sum_x = 0.0f;
    for (int i = 0; i < 32; i++) {
        min = x[i] < min ? x[i] : min;
        max = x[i] > max ? x[i] : max;
        float wx = w[i] * x[i];
        sum_w = sum_w + w[i];
        sum_x = sum_x + wx;
    }
    if (min > 0.0f) min = 0.0f;
    if (max == min) {
        memset(L, 0, 32);
        *neg_min = -min;
        return 0.0f;
    }
    float iscale = (float)f.nmax / (max - min), scale = 1.0f / iscale;
    levels(x, w, iscale, min, f.nmax, L);
    float best = weighted_error(x, w, L, scale, min);
    for (int is = 0; is <= f.nstep; is++) {
        uint8_t trial[32];
        float r = f.rdelta * (float)is;
        r = f.rmin + r;
        r = r + (float)f.nmax;
        /* min is the best one so far, as in ggml (the range too) */
        sums s = levels(x, w, r / (max - min), min, f.nmax, trial);
        float D = sum_w * s.l2 - s.l * s.l;
        if (!(D > 0.0f)) continue;
        float ts = (sum_w * s.xl - sum_x * s.l) / D;
        float tm = (s.l2 * sum_x - s.l * s.xl) / D;
        if (tm > 0.0f) {
            tm = 0.0f;
            ts = s.xl / s.l2;
        }
        float err = weighted_error(x, w, trial, ts, tm);
        if (err < best) {
            memcpy(L, trial, 32);
            best = err;
            scale = ts;
            min = tm;
        }
    }
    *neg_min = -min;
    return scale;
}

/* ggml's weights for the search: the sub-block's RMS plus |x|. */
static void k_weights(const float *x, float *w) {
    float ss = 0.0f;
    for (int l = 0; l < 32; l++) {
        float sq = x[l] * x[l];
        ss = ss + sq;
    }
    float av = sqrtf(ss / 32.0f);
    for (int l = 0; l < 32; l++) w[l] = av + fabsf(x[l]);
}

/* ggml's packing of 8 six-bit scales and mins (see lm_k_scale_min). */
static void put_k_scales(uint8_t *s, const uint8_t *ls, const uint8_t *lm) {
    memset(s, 0, 12);
    for (int j = 0; j < 8; j++) {
        if (j < 4) {
            s[j] = ls[j];
            s[j + 4] = lm[j];
        } else {
            s[j + 4] = (uint8_t)((ls[j] & 15) | (lm[j] & 15) << 4);
            s[j - 4] |= (uint8_t)((ls[j] >> 4) << 6);
            s[j] |= (uint8_t)((lm[j] >> 4) << 6);
        }
    }
}

/* One Q4_K (nmax 15) or Q5_K (nmax 31) super-block: d, dmin, scales and the
 * 256 levels L. */
static void k_super_block(const float *x, fit f, uint16_t *dh, uint16_t *dminh, uint8_t *scales,
                          uint8_t *L) {
    float sc[8], mn[8], max_scale = 0.0f, max_min = 0.0f;
    for (int j = 0; j < 8; j++) {
        float w[32];
        k_weights(x + 32 * j, w);
        sc[j] = fit_scale_min(x + 32 * j, w, f, L + 32 * j, &mn[j]);
        max_scale = sc[j] > max_scale ? sc[j] : max_scale;
        max_min = mn[j] > max_min ? mn[j] : max_min;
    }
    float inv_scale = max_scale > 0.0f ? 63.0f / max_scale : 0.0f;
    float inv_min = max_min > 0.0f ? 63.0f / max_min : 0.0f;
    uint8_t ls[8], lm[8];
    for (int j = 0; j < 8; j++) {
        ls[j] = (uint8_t)clamp((uint8_t)nearest(inv_scale * sc[j]), 0, 63);
        lm[j] = (uint8_t)clamp((uint8_t)nearest(inv_min * mn[j]), 0, 63);
    }
    put_k_scales(scales, ls, lm);
    *dh = lm_f32_to_f16(max_scale / 63.0f);
    *dminh = lm_f32_to_f16(max_min / 63.0f);
    /* the levels again, for the scales as stored */
    float d = lm_f16_to_f32(*dh), dmin = lm_f16_to_f32(*dminh);
    for (int j = 0; j < 8; j++) {
        int s, m;
        lm_k_scale_min(scales, j, &s, &m);
        float ds = d * (float)s;
        if (ds == 0.0f) continue;
        float dm = dmin * (float)m;
        for (int i = 0; i < 32; i++) {
            float v = x[32 * j + i] + dm;
            L[32 * j + i] = (uint8_t)clamp(nearest(v / ds), 0, f.nmax);
        }
    }
}

/* Sub-block j's levels: nibbles of qs[32 (j / 2) ..], low for even j. */
static void put_k_levels(uint8_t *qs, uint8_t *qh, const uint8_t *L) {
    memset(qs, 0, 128);
    if (qh) memset(qh, 0, 32);
    for (int j = 0; j < 8; j++)
        for (int l = 0; l < 32; l++) {
            int v = L[32 * j + l];
            qs[32 * (j / 2) + l] |= (uint8_t)((v & 15) << (4 * (j & 1)));
            if (qh) qh[l] |= (uint8_t)(((v >> 4) & 1) << j);
        }
}

static void q4_k(const float *x, void *dst) {
    lm_block_q4_k *b = dst;
    uint8_t L[256];
    k_super_block(x, (fit){15, 20, -1.0f, 0.1f}, &b->d, &b->dmin, b->scales, L);
    put_k_levels(b->qs, NULL, L);
}

static void q5_k(const float *x, void *dst) {
    lm_block_q5_k *b = dst;
    uint8_t L[256];
    k_super_block(x, (fit){31, 15, -0.5f, 0.1f}, &b->d, &b->dmin, b->scales, L);
    put_k_levels(b->qs, b->qh, L);
}

/* ---- Q6_K ----------------------------------------------------------------- */

/* Σ w x l and Σ w l² (w = x²) of the levels iscale rounds 16 values to. */
static void q6_sums(const float *x, float iscale, int8_t *L, float *sumlx, float *suml2) {
    float a = 0.0f, b = 0.0f;
    for (int i = 0; i < 16; i++) {
        int l = clamp(nearest(iscale * x[i]), -32, 31);
        if (L) L[i] = (int8_t)l;
        float w = x[i] * x[i];
        float wx = w * x[i], wl = w * (float)l;
        float t1 = wx * (float)l, t2 = wl * (float)l;
        a = a + t1;
        b = b + t2;
    }
    *sumlx = a;
    *suml2 = b;
}

/* One sub-block's scale (x ≈ scale L, L in -32..31), ggml's make_qx_quants
 * with weights x²: the least-squares scale of the levels rounded at
 * -(32 + 0.1 is) / max for is = 0, ±1 .. ±9, the best kept. */
static float q6_scale(const float *x, int8_t *L) {
    float max = signed_absmax(x, 16);
    if (fabsf(max) < 1e-15f) {
        memset(L, 0, 16);
        return 0.0f;
    }
    float sumlx, suml2;
    q6_sums(x, -32.0f / max, L, &sumlx, &suml2);
    float scale = suml2 != 0.0f ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; is++) {
        if (is == 0) continue;
        float r = 0.1f * (float)is;
        r = 32.0f + r;
        float iscale = -r / max;
        q6_sums(x, iscale, NULL, &sumlx, &suml2);
        float lhs = sumlx * sumlx, rhs = best * suml2;
        if (suml2 > 0.0f && lhs > rhs) {
            q6_sums(x, iscale, L, &sumlx, &suml2);
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

static void q6_k(const float *x, void *dst) {
    lm_block_q6_k *b = dst;
    int8_t L[256];
    float sc[16], max_scale = 0.0f, max_abs = 0.0f;
    for (int j = 0; j < 16; j++) {
        sc[j] = q6_scale(x + 16 * j, L + 16 * j);
        if (fabsf(sc[j]) > max_abs) {
            max_abs = fabsf(sc[j]);
            max_scale = sc[j];
        }
    }
    memset(b, 0, sizeof *b);
    if (max_abs < 1e-15f) return; /* all zero: d = 0 */
    float iscale = -128.0f / max_scale;
    b->d = lm_f32_to_f16(1.0f / iscale);
    for (int j = 0; j < 16; j++) {
        int s = nearest(iscale * sc[j]);
        b->scales[j] = (int8_t)(s < 127 ? s : 127);
    }
    float d = lm_f16_to_f32(b->d);
    for (int j = 0; j < 16; j++) {
        float ds = d * (float)b->scales[j];
        if (ds == 0.0f) continue;
        for (int i = 0; i < 16; i++)
            L[16 * j + i] = (int8_t)clamp(nearest(x[16 * j + i] / ds), -32, 31);
    }
    /* value k's 6 bits where lm_q6_k_value reads them */
    for (int k = 0; k < 256; k++) {
        int v = L[k] + 32, h = k / 128, c = k % 128 / 32, l = k % 32;
        b->ql[64 * h + l + 32 * (c & 1)] |= (uint8_t)((v & 15) << (4 * (c >> 1)));
        b->qh[32 * h + l] |= (uint8_t)((v >> 4) << (2 * c));
    }
}

int lm_quantize_blocks(int ggml_type, const float *src, void *dst, uint64_t n) {
    const lm_qtype *t = lm_qtype_ggml(ggml_type);
    static void (*const fns[])(const float *, void *) = {
        [LM_GGML_Q4_0] = q4_0, [LM_GGML_Q4_1] = q4_1, [LM_GGML_Q5_0] = q5_0, [LM_GGML_Q5_1] = q5_1,
        [LM_GGML_Q4_K] = q4_k, [LM_GGML_Q5_K] = q5_k, [LM_GGML_Q6_K] = q6_k};
    if (!t || ggml_type >= (int)(sizeof fns / sizeof fns[0]) || !fns[ggml_type]) return -1;
    uint8_t *o = dst;
    uint64_t per = (uint64_t)t->block_values;
    for (uint64_t b = 0; b < n / per; b++)
        fns[ggml_type](src + b * per, o + b * (uint64_t)t->block_bytes);
    return 0;
}
