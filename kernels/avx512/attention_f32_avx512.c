/* One query head over n_pos cached positions: scores, softmax, weighted sum.
 *
 * Scores take 16 positions at a time, one accumulator each across the head,
 * and reduce all 16 together, so the horizontal sums cost about one shuffle
 * per position rather than four. The weighted sum keeps up to 64 outputs in
 * registers and alternates two accumulator sets between positions so that
 * consecutive FMAs do not wait on each other. */
#include <math.h>

#include <immintrin.h>

#include "avx512.h"
#include "math_avx512.h"

static void scores(float *att, const float *q, const float *k, int n_pos, int hs, int stride,
                   float scale) {
    const __m512 sv = _mm512_set1_ps(scale);
    for (int p0 = 0; p0 < n_pos; p0 += 16) {
        const int np = n_pos - p0 < 16 ? n_pos - p0 : 16;
        /* Past the last position, repeat it: the loads stay inside the cache
         * and those lanes are not stored. */
        const float *kp[16];
        for (int j = 0; j < 16; j++) kp[j] = k + (size_t)(p0 + (j < np ? j : np - 1)) * stride;
        __m512 acc[16];
        for (int j = 0; j < 16; j++) acc[j] = _mm512_setzero_ps();
        for (int i = 0; i < hs; i += 16) {
            const __mmask16 m = lm_avx512_mask16(hs - i);
            const __m512 qv = _mm512_maskz_loadu_ps(m, q + i);
            for (int j = 0; j < 16; j++)
                acc[j] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, kp[j] + i), qv, acc[j]);
        }
        /* A division, as the scalar code does, not a reciprocal multiply. */
        _mm512_mask_storeu_ps(att + p0, lm_avx512_mask16(np),
                              _mm512_div_ps(lm_avx512_reduce16(acc), sv));
    }
}

/* out[i0, i0 + 16 V) = sum_p att[p] v[p][i0, ...), lanes at or past hs masked. */
static inline __attribute__((always_inline)) void weighted_sum(float *out, const float *att,
                                                               const float *v, int n_pos, int hs,
                                                               int stride, int i0, int V) {
    __mmask16 m[4];
    __m512 a0[4], a1[4];
    for (int u = 0; u < V; u++) {
        m[u] = lm_avx512_mask16(hs - i0 - 16 * u);
        a0[u] = a1[u] = _mm512_setzero_ps();
    }
    const float *vp = v + i0;
    int p = 0;
    for (; p + 2 <= n_pos; p += 2) {
        const __m512 w0 = _mm512_set1_ps(att[p]), w1 = _mm512_set1_ps(att[p + 1]);
        const float *v0 = vp + (size_t)p * stride, *v1 = v0 + stride;
        for (int u = 0; u < V; u++) {
            a0[u] = _mm512_fmadd_ps(w0, _mm512_maskz_loadu_ps(m[u], v0 + 16 * u), a0[u]);
            a1[u] = _mm512_fmadd_ps(w1, _mm512_maskz_loadu_ps(m[u], v1 + 16 * u), a1[u]);
        }
    }
    if (p < n_pos) {
        const __m512 w0 = _mm512_set1_ps(att[p]);
        const float *v0 = vp + (size_t)p * stride;
        for (int u = 0; u < V; u++)
            a0[u] = _mm512_fmadd_ps(w0, _mm512_maskz_loadu_ps(m[u], v0 + 16 * u), a0[u]);
    }
    for (int u = 0; u < V; u++)
        _mm512_mask_storeu_ps(out + i0 + 16 * u, m[u], _mm512_add_ps(a0[u], a1[u]));
}

void lm_attention_f32_avx512(float *out, const float *q, const float *k, const float *v, float *att,
                             int n_pos, int head_size, int stride) {
    scores(att, q, k, n_pos, head_size, stride, sqrtf((float)head_size));
    lm_softmax_f32_avx512(att, n_pos);
    for (int i0 = 0; i0 < head_size; i0 += 64) {
        switch ((head_size - i0 + 15) / 16) {
        case 1: weighted_sum(out, att, v, n_pos, head_size, stride, i0, 1); break;
        case 2: weighted_sum(out, att, v, n_pos, head_size, stride, i0, 2); break;
        case 3: weighted_sum(out, att, v, n_pos, head_size, stride, i0, 3); break;
        default: weighted_sum(out, att, v, n_pos, head_size, stride, i0, 4); break;
        }
    }
}
