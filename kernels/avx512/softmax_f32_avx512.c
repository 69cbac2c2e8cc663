/* Softmax in place, bit-exact with the oracle: libm's expf (math_avx512.h),
 * the sum added in the oracle's order, and a true division. The exps, sixteen
 * lanes at a time, were the cost; the serial sum is one add per element. */
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

    float sum = 0.0f;
    for (int i = 0; i < n; i += 16) {
        const __mmask16 k = lm_avx512_mask16(n - i);
        /* masked-off lanes: exp(max - max), harmless and never stored */
        __m512 e = lm_avx512_exp(_mm512_sub_ps(_mm512_mask_loadu_ps(max, k, x + i), max));
        _mm512_mask_storeu_ps(x + i, k, e);
        for (int j = i; j < n && j < i + 16; j++) sum += x[j];
    }
    const __m512 vsum = _mm512_set1_ps(sum);
    for (int i = 0; i < n; i += 16) {
        const __mmask16 k = lm_avx512_mask16(n - i);
        _mm512_mask_storeu_ps(x + i, k, _mm512_div_ps(_mm512_maskz_loadu_ps(k, x + i), vsum));
    }
}
