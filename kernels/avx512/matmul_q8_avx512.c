/* Q8_0 product on panels with AVX-512BW (no VNNI): maddubs multiplies |w|
 * (unsigned, at most 128) by x with w's sign (activations are in [-127, 127]
 * as quantize_q8 makes them, so the negation is exact), pair sums fit int16,
 * and madd with ones adds the pairs into int32: the exact 4-byte dots. Any
 * int8 weight, -128 included, is exact. The kernel is in matmul_q8_avx512.h. */
#include <immintrin.h>

#include "avx512.h"

#define Q8_BIAS 0
typedef struct q8_w {
    __m512i abs;
    __mmask64 neg;
} q8_w;

static inline q8_w q8_prep(__m512i w) { return (q8_w){_mm512_abs_epi8(w), _mm512_movepi8_mask(w)}; }

static inline __m512i q8_step(__m512i acc, q8_w w, __m512i xb) {
    __m512i sx = _mm512_mask_sub_epi8(xb, w.neg, _mm512_setzero_si512(), xb);
    __m512i pairs = _mm512_maddubs_epi16(w.abs, sx);
    return _mm512_add_epi32(acc, _mm512_madd_epi16(pairs, _mm512_set1_epi16(1)));
}

#include "matmul_q8_avx512.h"

void lm_matmul_q8_avx512(float *y, const lm_q8_act *x, const lm_packed *w, int T, int r0, int r1) {
    q8_panels(y, x, w, T, r0, r1);
}
