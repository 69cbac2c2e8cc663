/* Softmax in place, bit-exact with the oracle: libm's expf (math_avx2.h), the
 * sum added in the oracle's order, and a true division. The exps, eight lanes
 * at a time, were the cost; the serial sum is one add per element. */
#include <immintrin.h>

#include "avx2.h"
#include "math_avx2.h"

void lm_softmax_f32_avx2(float *x, int n) {
    if (n <= 0) return;
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

    float sum = 0.0f;
    for (int i = 0; i < full; i += 8) {
        _mm256_storeu_ps(x + i, lm_avx2_exp(_mm256_sub_ps(_mm256_loadu_ps(x + i), mv)));
        for (int j = i; j < i + 8; j++) sum += x[j];
    }
    if (full < n) {
        /* masked-off lanes: exp(max - max), harmless and never stored */
        __m256 t = _mm256_blendv_ps(mv, _mm256_maskload_ps(x + full, tm), _mm256_castsi256_ps(tm));
        __m256 e = lm_avx2_exp(_mm256_sub_ps(t, mv));
        _mm256_maskstore_ps(x + full, tm, e);
        for (int j = full; j < n; j++) sum += x[j];
    }

    const __m256 sv = _mm256_set1_ps(sum);
    for (int i = 0; i < full; i += 8)
        _mm256_storeu_ps(x + i, _mm256_div_ps(_mm256_loadu_ps(x + i), sv));
    if (full < n)
        _mm256_maskstore_ps(x + full, tm, _mm256_div_ps(_mm256_maskload_ps(x + full, tm), sv));
}
