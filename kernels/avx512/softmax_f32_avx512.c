/* In-place softmax: max, then exp and sum, then normalise. */
#include <math.h>

#include <immintrin.h>

#include "avx512.h"
#include "math_avx512.h"

void lm_softmax_f32_avx512(float *x, int n) {
    if (n <= 0) return;
    /* Masked-off lanes keep -inf, which cannot win the max. */
    __m512 m = _mm512_set1_ps(-INFINITY);
    for (int i = 0; i < n; i += 16)
        m = _mm512_max_ps(m, _mm512_mask_loadu_ps(m, lm_avx512_mask16(n - i), x + i));
    const __m512 max = _mm512_set1_ps(lm_avx512_hmax(m));

    __m512 sum = _mm512_setzero_ps();
    for (int i = 0; i < n; i += 16) {
        const __mmask16 k = lm_avx512_mask16(n - i);
        __m512 e = lm_avx512_exp(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + i), max));
        _mm512_mask_storeu_ps(x + i, k, e);
        sum = _mm512_mask_add_ps(sum, k, sum, e);
    }
    const __m512 inv = _mm512_set1_ps(1.0f / lm_avx512_hsum(sum));
    for (int i = 0; i < n; i += 16) {
        const __mmask16 k = lm_avx512_mask16(n - i);
        _mm512_mask_storeu_ps(x + i, k, _mm512_mul_ps(_mm512_maskz_loadu_ps(k, x + i), inv));
    }
}
