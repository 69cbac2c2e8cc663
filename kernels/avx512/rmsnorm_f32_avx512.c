/* RMSNorm with the oracle's bits: the sum of squares is one chain of adds in
 * the oracle's order (a reordered sum changed greedy text of Q8_0 models
 * against runq.c), so it stays scalar; the scaling is per element and
 * vectorizes without changing any bit. */
#include <math.h>

#include <immintrin.h>

#include "avx512.h"
#include "math_avx512.h"

void lm_rmsnorm_f32_avx512(float *o, const float *x, const float *w, int n, float eps) {
    float ss = 0.0f;
    for (int i = 0; i < n; i++) ss += x[i] * x[i];
    ss /= (float)n;
    ss += eps;
    const __m512 sv = _mm512_set1_ps(1.0f / sqrtf(ss));
    /* Each chunk of x is read before the same chunk of o is written, so o may
     * alias x. */
    for (int i = 0; i < n; i += 16) {
        const __mmask16 k = lm_avx512_mask16(n - i);
        __m512 v = _mm512_mul_ps(sv, _mm512_maskz_loadu_ps(k, x + i));
        _mm512_mask_storeu_ps(o + i, k, _mm512_mul_ps(_mm512_maskz_loadu_ps(k, w + i), v));
    }
}
