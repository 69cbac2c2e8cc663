/* RoPE: with cs = [c0 s0 c1 s1 ...] and v = [v0 v1 ...], the rotated pair is
 * (v0 c - v1 s, v1 c + v0 s) = v * dup(c) -/+ swap(v) * dup(s), 4 pairs per
 * vector. Both products are rounded before the add/subtract, as in the oracle
 * and run.c (kernels/ORDER.md): a fused fmaddsub keeps one product exact, and
 * that last-bit difference became whole int8 steps in Q8_0 models. */
#include <immintrin.h>

#include "avx2.h"
#include "math_avx2.h"

static inline __m256 rot8(__m256 v, __m256 cs) {
    __m256 c = _mm256_moveldup_ps(cs), s = _mm256_movehdup_ps(cs);
    __m256 sw = _mm256_permute_ps(v, 0xB1);
    return _mm256_addsub_ps(_mm256_mul_ps(v, c), _mm256_mul_ps(sw, s));
}

void lm_rope_f32_avx2(float *v, int n, int head_size, const float *cs) {
    /* head_size is even, so a tail of 2, 4 or 6 floats holds whole pairs and
     * the same masked rotation covers it. */
    const int full = head_size & ~7;
    const __m256i tm = lm_avx2_tail_mask(head_size - full);
    for (int h = 0; h < n; h += head_size) {
        float *vh = v + h;
        for (int i = 0; i < full; i += 8)
            _mm256_storeu_ps(vh + i, rot8(_mm256_loadu_ps(vh + i), _mm256_loadu_ps(cs + i)));
        if (full < head_size)
            _mm256_maskstore_ps(
                vh + full, tm,
                rot8(_mm256_maskload_ps(vh + full, tm), _mm256_maskload_ps(cs + full, tm)));
    }
}
