/* SwiGLU: a = silu(a) * b, silu(v) = v / (1 + exp(-v)). */
#include <immintrin.h>

#include "avx512.h"
#include "math_avx512.h"

void lm_swiglu_f32_avx512(float *a, const float *b, int n) {
    const __m512 one = _mm512_set1_ps(1.0f);
    for (int i = 0; i < n; i += 16) {
        const __mmask16 k = lm_avx512_mask16(n - i);
        __m512 v = _mm512_maskz_loadu_ps(k, a + i);
        /* exp(-v) overflows to inf for v < -89: 1 / inf is 0 and silu is -0,
         * as with expf, rather than NaN. */
        __m512 sig = _mm512_div_ps(
            one, _mm512_add_ps(one, lm_avx512_exp(_mm512_sub_ps(_mm512_setzero_ps(), v))));
        __m512 r = _mm512_mul_ps(_mm512_mul_ps(v, sig), _mm512_maskz_loadu_ps(k, b + i));
        _mm512_mask_storeu_ps(a + i, k, r);
    }
}
