/* One query head over n_pos cached positions: scores, softmax, weighted sum,
 * with the bits of the scalar oracle: every sum adds its terms in the oracle's
 * order, one rounded multiply and one rounded add per term (no FMA), because
 * Q8_0 models re-quantize each activation and a last-bit difference can change
 * greedy text against runq.c's.
 *
 * Scores put 16 positions in the 16 lanes: a block of 16 positions by 8
 * columns is transposed in registers, so that one vector add per column
 * advances all 16 dot products by one term, in order. The softmax is
 * lm_softmax_f32_avx512, bit-exact too. The weighted sum puts columns in
 * the lanes: each output runs through the positions in order, as in the oracle. */
#include <math.h>

#include <immintrin.h>

#include "avx512.h"
#include "math_avx512.h"

/* Columns i .. i + 8 (cols of them, the rest 0) of the 16 rows kp[0..15]:
 * c[u] lane j = kp[j][i + u]. Vector r holds two 8-float rows, a row of the
 * first quarter or third quarter and the row 4 after it, so that after the
 * in-block steps (unpack, shuffle) one 128-bit shuffle per column lands the
 * 16 rows in order. */
static inline __attribute__((always_inline)) void columns16(__m512 c[8], const float *const kp[16],
                                                            int i, int cols) {
    static const int first[8] = {0, 1, 2, 3, 8, 9, 10, 11};
    const __mmask8 m = (__mmask8)((1u << cols) - 1u);
    __m512 z[8], t[8], s[8];
    for (int r = 0; r < 8; r++) {
        const float *a = kp[first[r]] + i, *b = kp[first[r] + 4] + i;
        __m256 lo = cols == 8 ? _mm256_loadu_ps(a) : _mm256_maskz_loadu_ps(m, a);
        __m256 hi = cols == 8 ? _mm256_loadu_ps(b) : _mm256_maskz_loadu_ps(m, b);
        z[r] = _mm512_insertf32x8(_mm512_castps256_ps512(lo), hi, 1);
    }
    for (int j = 0; j < 4; j++) {
        t[2 * j] = _mm512_unpacklo_ps(z[2 * j], z[2 * j + 1]);
        t[2 * j + 1] = _mm512_unpackhi_ps(z[2 * j], z[2 * j + 1]);
    }
    /* s[4h + u], per 128-bit block: column u (blocks 0, 2) or u + 4 (blocks
     * 1, 3) of the 4 rows held by z[4h .. 4h + 3]. */
    for (int h = 0; h < 2; h++) {
        const __m512 *u = t + 4 * h;
        s[4 * h] = _mm512_shuffle_ps(u[0], u[2], _MM_SHUFFLE(1, 0, 1, 0));
        s[4 * h + 1] = _mm512_shuffle_ps(u[0], u[2], _MM_SHUFFLE(3, 2, 3, 2));
        s[4 * h + 2] = _mm512_shuffle_ps(u[1], u[3], _MM_SHUFFLE(1, 0, 1, 0));
        s[4 * h + 3] = _mm512_shuffle_ps(u[1], u[3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    for (int u = 0; u < 4; u++) {
        c[u] = _mm512_shuffle_f32x4(s[u], s[4 + u], _MM_SHUFFLE(2, 0, 2, 0));
        c[u + 4] = _mm512_shuffle_f32x4(s[u], s[4 + u], _MM_SHUFFLE(3, 1, 3, 1));
    }
}

static void scores(float *att, const float *q, const float *k, int n_pos, int hs, int stride) {
    /* A division, as the oracle does, not a reciprocal multiply. */
    const __m512 scale = _mm512_set1_ps(sqrtf((float)hs));
    for (int p0 = 0; p0 < n_pos; p0 += 16) {
        const int np = n_pos - p0 < 16 ? n_pos - p0 : 16;
        /* Past the last position, repeat it: those lanes are not stored. */
        const float *kp[16];
        for (int j = 0; j < 16; j++) kp[j] = k + (size_t)(p0 + (j < np ? j : np - 1)) * stride;
        __m512 acc = _mm512_setzero_ps();
        for (int i = 0; i < hs; i += 8) {
            const int cols = hs - i < 8 ? hs - i : 8;
            __m512 c[8];
            columns16(c, kp, i, cols);
            for (int u = 0; u < cols; u++)
                acc = _mm512_add_ps(acc, _mm512_mul_ps(_mm512_set1_ps(q[i + u]), c[u]));
        }
        _mm512_mask_storeu_ps(att + p0, lm_avx512_mask16(np), _mm512_div_ps(acc, scale));
    }
}

/* out[i0, i0 + 16 V) = sum_p att[p] v[p][i0, ...), positions in order, lanes
 * at or past hs masked. */
static inline __attribute__((always_inline)) void weighted_sum(float *out, const float *att,
                                                               const float *v, int n_pos, int hs,
                                                               int stride, int i0, int V) {
    __mmask16 m[4];
    __m512 acc[4];
    for (int u = 0; u < V; u++) {
        m[u] = lm_avx512_mask16(hs - i0 - 16 * u);
        acc[u] = _mm512_setzero_ps();
    }
    for (int p = 0; p < n_pos; p++) {
        const __m512 w = _mm512_set1_ps(att[p]);
        const float *vp = v + (size_t)p * stride + i0;
        for (int u = 0; u < V; u++)
            acc[u] =
                _mm512_add_ps(acc[u], _mm512_mul_ps(w, _mm512_maskz_loadu_ps(m[u], vp + 16 * u)));
    }
    for (int u = 0; u < V; u++) _mm512_mask_storeu_ps(out + i0 + 16 * u, m[u], acc[u]);
}

void lm_attention_f32_avx512(float *out, const float *q, const float *k, const float *v, float *att,
                             int n_pos, int head_size, int stride) {
    scores(att, q, k, n_pos, head_size, stride);
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
