/* Attention over an F16 KV cache with the bits of the scalar oracle: the
 * shape of lm_attention_f32_avx2 (positions in lanes for the scores, columns
 * in lanes for the weighted sum, multiply then add, no FMA), with every key
 * and value widened exactly by F16C's vcvtph2ps as it is loaded, so the bits
 * are the f32 kernel's on the widened cache and half the bytes are read. */
#include <math.h>
#include <string.h>

#include <immintrin.h>

#include "avx2.h"
#include "math_avx2.h"

/* n <= 8 halves at p widened (the lanes past n are 0). */
static inline __attribute__((always_inline)) __m256 load8(const uint16_t *p, int n) {
    if (n == 8) return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
    uint16_t b[8] = {0};
    memcpy(b, p, (size_t)n * sizeof *p);
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)b));
}

/* r[c] = column c of the 8 x 8 block whose rows are r[0..7]. */
static inline __attribute__((always_inline)) void transpose8(__m256 r[8]) {
    __m256 t[8], s[8];
    for (int j = 0; j < 4; j++) {
        t[2 * j] = _mm256_unpacklo_ps(r[2 * j], r[2 * j + 1]);
        t[2 * j + 1] = _mm256_unpackhi_ps(r[2 * j], r[2 * j + 1]);
    }
    for (int h = 0; h < 2; h++) {
        const __m256 *u = t + 4 * h;
        s[4 * h] = _mm256_shuffle_ps(u[0], u[2], _MM_SHUFFLE(1, 0, 1, 0));
        s[4 * h + 1] = _mm256_shuffle_ps(u[0], u[2], _MM_SHUFFLE(3, 2, 3, 2));
        s[4 * h + 2] = _mm256_shuffle_ps(u[1], u[3], _MM_SHUFFLE(1, 0, 1, 0));
        s[4 * h + 3] = _mm256_shuffle_ps(u[1], u[3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    for (int c = 0; c < 4; c++) {
        r[c] = _mm256_permute2f128_ps(s[c], s[4 + c], 0x20);
        r[c + 4] = _mm256_permute2f128_ps(s[c], s[4 + c], 0x31);
    }
}

/* Lane j: q . k[j] for j < np (the lanes past np repeat position np - 1). */
static __m256 scores8(const float *q, const uint16_t *k, int np, int hs, int stride) {
    const uint16_t *kp[8];
    for (int j = 0; j < 8; j++) kp[j] = k + (size_t)(j < np ? j : np - 1) * stride;
    __m256 acc = _mm256_setzero_ps();
    for (int i = 0; i < hs; i += 8) {
        const int cols = hs - i < 8 ? hs - i : 8;
        __m256 c[8];
        for (int j = 0; j < 8; j++) c[j] = load8(kp[j] + i, cols);
        transpose8(c);
        for (int u = 0; u < cols; u++)
            acc = _mm256_add_ps(acc, _mm256_mul_ps(_mm256_set1_ps(q[i + u]), c[u]));
    }
    return acc;
}

/* out[j0 .. j0 + 8 * NV) (the last vector's first `tail` lanes, masked by m)
 * = sum_p att[p] v[p], positions in order. */
static inline __attribute__((always_inline)) void weighted_sum(float *out, const uint16_t *v,
                                                               const float *att, int n_pos,
                                                               int stride, int j0, int NV, int tail,
                                                               __m256i m) {
    __m256 acc[4];
    for (int c = 0; c < NV; c++) acc[c] = _mm256_setzero_ps();
    for (int p = 0; p < n_pos; p++) {
        const uint16_t *vp = v + (size_t)p * stride + j0;
        const __m256 w = _mm256_broadcast_ss(att + p);
        for (int c = 0; c < NV; c++) {
            __m256 x = load8(vp + 8 * c, c == NV - 1 ? tail : 8);
            acc[c] = _mm256_add_ps(acc[c], _mm256_mul_ps(w, x));
        }
    }
    for (int c = 0; c < NV; c++) {
        if (c == NV - 1)
            _mm256_maskstore_ps(out + j0 + 8 * c, m, acc[c]);
        else
            _mm256_storeu_ps(out + j0 + 8 * c, acc[c]);
    }
}

void lm_attention_f16_avx2(float *out, const float *q, const uint16_t *k, const uint16_t *v,
                           float *att, int n_pos, int head_size, int stride) {
    /* A division, as the oracle does, not a reciprocal multiply. */
    const __m256 scale = _mm256_set1_ps(sqrtf((float)head_size));
    for (int p = 0; p < n_pos; p += 8) {
        const int np = n_pos - p < 8 ? n_pos - p : 8;
        _mm256_maskstore_ps(
            att + p, lm_avx2_tail_mask(np),
            _mm256_div_ps(scores8(q, k + (size_t)p * stride, np, head_size, stride), scale));
    }

    lm_softmax_f32_avx2(att, n_pos);

    for (int j0 = 0; j0 < head_size; j0 += 32) {
        int cols = head_size - j0 < 32 ? head_size - j0 : 32;
        int nv = (cols + 7) / 8, tail = cols - 8 * (nv - 1);
        __m256i m = lm_avx2_tail_mask(tail);
        switch (nv) {
        case 4: weighted_sum(out, v, att, n_pos, stride, j0, 4, tail, m); break;
        case 3: weighted_sum(out, v, att, n_pos, stride, j0, 3, tail, m); break;
        case 2: weighted_sum(out, v, att, n_pos, stride, j0, 2, tail, m); break;
        default: weighted_sum(out, v, att, n_pos, stride, j0, 1, tail, m); break;
        }
    }
}
