/* RMSNorm with the oracle's bits: the sum of squares is one chain of adds in
 * the oracle's order (a reordered sum changed greedy text of Q8_0 models
 * against runq.c), so it stays scalar; the scaling is per element and
 * vectorizes without changing any bit. */
#include <math.h>

#include <immintrin.h>

#include "avx2.h"
#include "math_avx2.h"

void lm_rmsnorm_f32_avx2(float *o, const float *x, const float *w, int n, float eps) {
    float ss = 0.0f;
    for (int i = 0; i < n; i++) ss += x[i] * x[i];
    ss /= (float)n;
    ss += eps;
    ss = 1.0f / sqrtf(ss);

    /* x is read before o is written at each index, so o may alias x. */
    const __m256 sv = _mm256_set1_ps(ss);
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_mul_ps(sv, _mm256_loadu_ps(x + i));
        _mm256_storeu_ps(o + i, _mm256_mul_ps(_mm256_loadu_ps(w + i), v));
    }
    if (i < n) {
        __m256i m = lm_avx2_tail_mask(n - i);
        __m256 v = _mm256_mul_ps(sv, _mm256_maskload_ps(x + i, m));
        _mm256_maskstore_ps(o + i, m, _mm256_mul_ps(_mm256_maskload_ps(w + i, m), v));
    }
}
