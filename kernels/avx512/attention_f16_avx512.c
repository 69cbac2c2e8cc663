/* Attention over an F16 KV cache with the bits of the scalar oracle: the
 * shape of lm_attention_f32_avx512 (16 positions in lanes for the scores,
 * columns in lanes for the weighted sum, multiply then add, no FMA), with
 * every key and value widened exactly by vcvtph2ps as it is loaded (masked
 * 16-bit loads for the tails), so the bits are the f32 kernel's on the
 * widened cache and half the bytes are read. */
#include <math.h>

#include <immintrin.h>

#include "avx512.h"
#include "math_avx512.h"

/* Columns i .. i + 8 (cols of them, the rest 0) of the 16 rows kp[0..15]:
 * c[u] lane j = kp[j][i + u] (the transposition of the f32 kernel). */
static inline __attribute__((always_inline)) void
columns16(__m512 c[8], const uint16_t *const kp[16], int i, int cols) {
    static const int first[8] = {0, 1, 2, 3, 8, 9, 10, 11};
    const __mmask8 m = (__mmask8)((1u << cols) - 1u);
    __m512 z[8], t[8], s[8];
    for (int r = 0; r < 8; r++) {
        const uint16_t *a = kp[first[r]] + i, *b = kp[first[r] + 4] + i;
        __m128i la = cols == 8 ? _mm_loadu_si128((const __m128i *)a) : _mm_maskz_loadu_epi16(m, a);
        __m128i lb = cols == 8 ? _mm_loadu_si128((const __m128i *)b) : _mm_maskz_loadu_epi16(m, b);
        z[r] =
            _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_cvtph_ps(la)), _mm256_cvtph_ps(lb), 1);
    }
    for (int j = 0; j < 4; j++) {
        t[2 * j] = _mm512_unpacklo_ps(z[2 * j], z[2 * j + 1]);
        t[2 * j + 1] = _mm512_unpackhi_ps(z[2 * j], z[2 * j + 1]);
    }
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

static void scores(float *att, const float *q, const uint16_t *k, int n_pos, int hs, int stride) {
    const __m512 scale = _mm512_set1_ps(sqrtf((float)hs));
    for (int p0 = 0; p0 < n_pos; p0 += 16) {
        const int np = n_pos - p0 < 16 ? n_pos - p0 : 16;
        const uint16_t *kp[16];
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

static inline __attribute__((always_inline)) void weighted_sum(float *out, const float *att,
                                                               const uint16_t *v, int n_pos, int hs,
                                                               int stride, int i0, int V) {
    __mmask16 m[4];
    __m512 acc[4];
    for (int u = 0; u < V; u++) {
        m[u] = lm_avx512_mask16(hs - i0 - 16 * u);
        acc[u] = _mm512_setzero_ps();
    }
    for (int p = 0; p < n_pos; p++) {
        const __m512 w = _mm512_set1_ps(att[p]);
        const uint16_t *vp = v + (size_t)p * stride + i0;
        for (int u = 0; u < V; u++) {
            __m512 x = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m[u], vp + 16 * u));
            acc[u] = _mm512_add_ps(acc[u], _mm512_mul_ps(w, x));
        }
    }
    for (int u = 0; u < V; u++) _mm512_mask_storeu_ps(out + i0 + 16 * u, m[u], acc[u]);
}

void lm_attention_f16_avx512(float *out, const float *q, const uint16_t *k, const uint16_t *v,
                             float *att, int n_pos, int head_size, int stride) {
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
