/* RMS normalisation: one pass for the sum of squares, one for the output. */
#include <math.h>

#include <immintrin.h>

#include "avx512.h"
#include "math_avx512.h"

void lm_rmsnorm_f32_avx512(float *o, const float *x, const float *w, int n) {
    /* Two accumulators halve the dependency chain of the FMAs. */
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512 v0 = _mm512_loadu_ps(x + i), v1 = _mm512_loadu_ps(x + i + 16);
        a0 = _mm512_fmadd_ps(v0, v0, a0);
        a1 = _mm512_fmadd_ps(v1, v1, a1);
    }
    for (; i < n; i += 16) {
        __m512 v = _mm512_maskz_loadu_ps(lm_avx512_mask16(n - i), x + i);
        a0 = _mm512_fmadd_ps(v, v, a0);
    }
    float ss = lm_avx512_hsum(_mm512_add_ps(a0, a1)) / (float)n + 1e-5f;
    const __m512 sv = _mm512_set1_ps(1.0f / sqrtf(ss));
    /* Each chunk of x is read before the same chunk of o is written, so o may
     * alias x. */
    for (i = 0; i < n; i += 16) {
        const __mmask16 k = lm_avx512_mask16(n - i);
        __m512 v = _mm512_mul_ps(sv, _mm512_maskz_loadu_ps(k, x + i));
        _mm512_mask_storeu_ps(o + i, k, _mm512_mul_ps(_mm512_maskz_loadu_ps(k, w + i), v));
    }
}
