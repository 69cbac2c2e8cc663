/* SwiGLU gate, a = a * sigmoid(a) * b, bit-exact with the oracle: libm's expf
 * (math_avx2.h) and the oracle's operations in its order, 1 / (1 + e) by a true
 * division. For very negative a, exp(-a) is +inf and the gate 0, never NaN. */
#include <immintrin.h>

#include "avx2.h"
#include "math_avx2.h"

static inline __m256 swiglu8(__m256 a, __m256 b) {
    const __m256 one = _mm256_set1_ps(1.0f);
    __m256 e = lm_avx2_exp(_mm256_xor_ps(a, _mm256_set1_ps(-0.0f)));
    __m256 sig = _mm256_div_ps(one, _mm256_add_ps(one, e));
    return _mm256_mul_ps(_mm256_mul_ps(a, sig), b);
}

void lm_swiglu_f32_avx2(float *a, const float *b, int n) {
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(a + i, swiglu8(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
    if (i < n) {
        __m256i m = lm_avx2_tail_mask(n - i);
        _mm256_maskstore_ps(a + i, m,
                            swiglu8(_mm256_maskload_ps(a + i, m), _mm256_maskload_ps(b + i, m)));
    }
}
