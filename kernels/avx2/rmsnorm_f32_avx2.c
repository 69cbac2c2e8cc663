/* RMSNorm: the sum of squares in four accumulators (a long chain would be
 * bound by FMA latency), then the oracle's scalar steps for the factor. */
#include <math.h>

#include <immintrin.h>

#include "avx2.h"
#include "math_avx2.h"

void lm_rmsnorm_f32_avx2(float *o, const float *x, const float *w, int n) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        __m256 v0 = _mm256_loadu_ps(x + i), v1 = _mm256_loadu_ps(x + i + 8);
        __m256 v2 = _mm256_loadu_ps(x + i + 16), v3 = _mm256_loadu_ps(x + i + 24);
        a0 = _mm256_fmadd_ps(v0, v0, a0);
        a1 = _mm256_fmadd_ps(v1, v1, a1);
        a2 = _mm256_fmadd_ps(v2, v2, a2);
        a3 = _mm256_fmadd_ps(v3, v3, a3);
    }
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        a0 = _mm256_fmadd_ps(v, v, a0);
    }
    if (i < n) {
        __m256 v = _mm256_maskload_ps(x + i, lm_avx2_tail_mask(n - i));
        a1 = _mm256_fmadd_ps(v, v, a1);
    }
    float ss = lm_avx2_hsum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    ss /= (float)n;
    ss += 1e-5f;
    ss = 1.0f / sqrtf(ss);

    /* x is read before o is written at each index, so o may alias x. */
    const __m256 sv = _mm256_set1_ps(ss);
    for (i = 0; i + 8 <= n; i += 8) {
        __m256 v = _mm256_mul_ps(sv, _mm256_loadu_ps(x + i));
        _mm256_storeu_ps(o + i, _mm256_mul_ps(_mm256_loadu_ps(w + i), v));
    }
    if (i < n) {
        __m256i m = lm_avx2_tail_mask(n - i);
        __m256 v = _mm256_mul_ps(sv, _mm256_maskload_ps(x + i, m));
        _mm256_maskstore_ps(o + i, m, _mm256_mul_ps(_mm256_maskload_ps(w + i, m), v));
    }
}
