/* Q8_0 quantization of one token's activations, bit-exact with the scalar
 * oracle: the integer products downstream are only exact across ISAs if
 * every q and scale agree. */
#include <string.h>

#include <immintrin.h>

#include "avx2.h"
#include "math_avx2.h"

/* roundf (half away from zero) from truncation: v - trunc(v) is exact, so the
 * comparison with 0.5 decides the tie exactly; _mm256_round_ps would round
 * ties to even. */
static inline __m256i round_half_away(__m256 v) {
    const __m256 sign_bit = _mm256_set1_ps(-0.0f);
    __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    __m256 frac = _mm256_andnot_ps(sign_bit, _mm256_sub_ps(v, t));
    __m256 one = _mm256_or_ps(_mm256_set1_ps(1.0f), _mm256_and_ps(sign_bit, v));
    __m256 up = _mm256_cmp_ps(frac, _mm256_set1_ps(0.5f), _CMP_GE_OQ);
    return _mm256_cvttps_epi32(_mm256_add_ps(t, _mm256_and_ps(up, one)));
}

/* |q| <= 127, so the saturating packs are plain narrowing. */
static inline __m128i narrow8(__m256i q) {
    __m128i h = _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
    return _mm_packs_epi16(h, h);
}

void lm_quantize_q8_avx2(int8_t *q, float *s, const float *x, int n, int gs) {
    const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    for (int g0 = 0; g0 < n; g0 += gs) {
        const int len = g0 + gs < n ? gs : n - g0;
        const float *xg = x + g0;
        int8_t *qg = q + g0;
        const int full = len & ~7;

        /* Masked-off lanes load as 0, which cannot raise max |x|. */
        __m256 m = _mm256_setzero_ps();
        for (int i = 0; i < full; i += 8)
            m = _mm256_max_ps(m, _mm256_and_ps(abs_mask, _mm256_loadu_ps(xg + i)));
        if (full < len) {
            __m256 v = _mm256_maskload_ps(xg + full, lm_avx2_tail_mask(len - full));
            m = _mm256_max_ps(m, _mm256_and_ps(abs_mask, v));
        }
        const float scale = lm_avx2_hmax(m) / 127.0f;
        s[g0 / gs] = scale;
        if (!(scale > 0.0f)) {
            memset(qg, 0, (size_t)len);
            continue;
        }

        /* A true division, as the oracle (and runq.c) does. */
        const __m256 sv = _mm256_set1_ps(scale);
        for (int i = 0; i < full; i += 8) {
            __m256i qi = round_half_away(_mm256_div_ps(_mm256_loadu_ps(xg + i), sv));
            _mm_storel_epi64((__m128i *)(qg + i), narrow8(qi));
        }
        if (full < len) {
            __m256 v = _mm256_maskload_ps(xg + full, lm_avx2_tail_mask(len - full));
            int8_t tmp[16];
            _mm_storeu_si128((__m128i *)tmp, narrow8(round_half_away(_mm256_div_ps(v, sv))));
            memcpy(qg + full, tmp, (size_t)(len - full));
        }
    }
}
