/* SwiGLU gate, a = a * sigmoid(a) * b, bit-exact with the oracle: libm's expf
 * (math_avx512.h) and the oracle's operations in its order, 1 / (1 + e) by a
 * true division. For very negative a, exp(-a) is +inf and the gate 0, never NaN. */
#include <immintrin.h>

#include "avx512.h"
#include "math_avx512.h"

void lm_swiglu_f32_avx512(float *a, const float *b, int n) {
    const __m512 one = _mm512_set1_ps(1.0f);
    for (int i = 0; i < n; i += 16) {
        const __mmask16 k = lm_avx512_mask16(n - i);
        __m512 v = _mm512_maskz_loadu_ps(k, a + i);
        __m512 e = lm_avx512_exp(_mm512_xor_ps(v, _mm512_set1_ps(-0.0f)));
        __m512 sig = _mm512_div_ps(one, _mm512_add_ps(one, e));
        __m512 r = _mm512_mul_ps(_mm512_mul_ps(v, sig), _mm512_maskz_loadu_ps(k, b + i));
        _mm512_mask_storeu_ps(a + i, k, r);
    }
}
