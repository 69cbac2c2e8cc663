/* RoPE: rotate the pairs (v[2i], v[2i+1]) of every head by (cs[2i], cs[2i+1]).
 * Eight pairs per vector: with c = (c, c) and s = (s, s) duplicated per pair
 * and v' the pair swapped, a = v * c and b = v' * s, each rounded, then
 * a - b in the even lanes and a + b in the odd ones: the oracle's and run.c's
 * roundings (kernels/ORDER.md). A fused fmaddsub(v, c, b) kept v * c exact;
 * the last-bit difference re-quantized into different text on Q8_0 models. */
#include <immintrin.h>

#include "avx512.h"
#include "math_avx512.h"

static inline __m512 rotate(__m512 v, __m512 cs) {
    __m512 c = _mm512_moveldup_ps(cs), s = _mm512_movehdup_ps(cs);
    __m512 sw = _mm512_permute_ps(v, 0xb1);
    /* a * 1 -/+ b is exact before its one rounding: the unfused a -/+ b. */
    return _mm512_fmaddsub_ps(_mm512_mul_ps(v, c), _mm512_set1_ps(1.0f), _mm512_mul_ps(sw, s));
}

void lm_rope_f32_avx512(float *v, int n, int head_size, const float *cs) {
    if (head_size < 16 && 16 % head_size == 0) {
        /* Heads of 2, 4 or 8: repeat cs across the vector and rotate 16 / head_size
         * heads per step, instead of one mostly masked step per head. */
        const __m512i lane =
            _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        const __m512i idx = _mm512_and_si512(lane, _mm512_set1_epi32(head_size - 1));
        const __m512 c =
            _mm512_permutexvar_ps(idx, _mm512_maskz_loadu_ps(lm_avx512_mask16(head_size), cs));
        for (int i = 0; i < n; i += 16) {
            const __mmask16 k = lm_avx512_mask16(n - i);
            _mm512_mask_storeu_ps(v + i, k, rotate(_mm512_maskz_loadu_ps(k, v + i), c));
        }
        return;
    }
    for (int h = 0; h < n; h += head_size) {
        float *vh = v + h;
        for (int i = 0; i < head_size; i += 16) {
            const __mmask16 k = lm_avx512_mask16(head_size - i);
            __m512 r = rotate(_mm512_maskz_loadu_ps(k, vh + i), _mm512_maskz_loadu_ps(k, cs + i));
            _mm512_mask_storeu_ps(vh + i, k, r);
        }
    }
}
