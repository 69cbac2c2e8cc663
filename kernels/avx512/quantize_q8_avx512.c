/* Q8_0 quantization of one token's activations, bit-exact with the scalar
 * oracle: the integer products downstream are only exact across ISAs if
 * every q and scale agree, so the scale is a true division by 127 and each
 * value a true division by the scale (never a reciprocal multiply). */
#include <string.h>

#include <immintrin.h>

#include "avx512.h"
#include "math_avx512.h"

/* roundf (half away from zero) from truncation: v - trunc(v) is exact, so the
 * comparison with 0.5 decides ties exactly; roundscale to nearest would round
 * ties to even. */
static inline __m512i round_half_away(__m512 v) {
    const __m512 sign_bit = _mm512_set1_ps(-0.0f);
    __m512 t = _mm512_roundscale_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    __m512 frac = _mm512_andnot_ps(sign_bit, _mm512_sub_ps(v, t));
    __m512 one = _mm512_or_ps(_mm512_set1_ps(1.0f), _mm512_and_ps(sign_bit, v));
    __mmask16 up = _mm512_cmp_ps_mask(frac, _mm512_set1_ps(0.5f), _CMP_GE_OQ);
    return _mm512_cvttps_epi32(_mm512_mask_add_ps(t, up, t, one));
}

void lm_quantize_q8_avx512(int8_t *q, float *s, const float *x, int n, int gs) {
    const __m512 abs_mask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
    for (int g0 = 0; g0 < n; g0 += gs) {
        const int len = g0 + gs < n ? gs : n - g0;
        const float *xg = x + g0;
        int8_t *qg = q + g0;

        /* Masked-off lanes load as 0, which cannot raise max |x|. */
        __m512 m = _mm512_setzero_ps();
        for (int i = 0; i < len; i += 16) {
            __m512 v = _mm512_maskz_loadu_ps(lm_avx512_mask16(len - i), xg + i);
            m = _mm512_max_ps(m, _mm512_and_ps(abs_mask, v));
        }
        const float scale = lm_avx512_hmax(m) / 127.0f;
        s[g0 / gs] = scale;
        if (!(scale > 0.0f)) {
            memset(qg, 0, (size_t)len);
            continue;
        }
        const __m512 sv = _mm512_set1_ps(scale);
        for (int i = 0; i < len; i += 16) {
            const __mmask16 k = lm_avx512_mask16(len - i);
            __m512 v = _mm512_div_ps(_mm512_maskz_loadu_ps(k, xg + i), sv);
            /* |q| <= 127, so the truncating narrow to bytes is exact. */
            _mm512_mask_cvtepi32_storeu_epi8(qg + i, k, round_half_away(v));
        }
    }
}
