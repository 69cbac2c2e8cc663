/* Softmax in three passes: max, exp and sum, divide. */
#include <immintrin.h>

#include "avx2.h"
#include "math_avx2.h"

void lm_softmax_f32_avx2(float *x, int n) {
    const int full = n & ~7;
    const __m256i tm = lm_avx2_tail_mask(n - full);
    __m256 mv = _mm256_set1_ps(x[0]);
    for (int i = 0; i < full; i += 8) mv = _mm256_max_ps(mv, _mm256_loadu_ps(x + i));
    /* Masked-off lanes load as 0, which could exceed a negative max: x[0]
     * stands in for them instead. */
    if (full < n)
        mv = _mm256_max_ps(
            mv, _mm256_blendv_ps(mv, _mm256_maskload_ps(x + full, tm), _mm256_castsi256_ps(tm)));
    mv = _mm256_set1_ps(lm_avx2_hmax(mv));

    __m256 s0 = _mm256_setzero_ps(), s1 = s0;
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 e0 = lm_avx2_exp(_mm256_sub_ps(_mm256_loadu_ps(x + i), mv));
        __m256 e1 = lm_avx2_exp(_mm256_sub_ps(_mm256_loadu_ps(x + i + 8), mv));
        _mm256_storeu_ps(x + i, e0);
        _mm256_storeu_ps(x + i + 8, e1);
        s0 = _mm256_add_ps(s0, e0);
        s1 = _mm256_add_ps(s1, e1);
    }
    for (; i < full; i += 8) {
        __m256 e = lm_avx2_exp(_mm256_sub_ps(_mm256_loadu_ps(x + i), mv));
        _mm256_storeu_ps(x + i, e);
        s0 = _mm256_add_ps(s0, e);
    }
    if (full < n) {
        __m256 e = lm_avx2_exp(_mm256_sub_ps(_mm256_maskload_ps(x + full, tm), mv));
        e = _mm256_and_ps(e, _mm256_castsi256_ps(tm));
        _mm256_maskstore_ps(x + full, tm, e);
        s1 = _mm256_add_ps(s1, e);
    }

    /* A true division, as the oracle does (a reciprocal would cost an ulp). */
    const __m256 sv = _mm256_set1_ps(lm_avx2_hsum(_mm256_add_ps(s0, s1)));
    for (i = 0; i < full; i += 8)
        _mm256_storeu_ps(x + i, _mm256_div_ps(_mm256_loadu_ps(x + i), sv));
    if (full < n)
        _mm256_maskstore_ps(x + full, tm, _mm256_div_ps(_mm256_maskload_ps(x + full, tm), sv));
}
