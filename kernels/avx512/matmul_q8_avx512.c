/* Q8_0 matrix product with AVX-512BW: the int8 dot product is maddubs (u8 x s8
 * into int16 pair sums) then madd with ones (pairs into int32). The kernel
 * itself is in matmul_q8_avx512.h, shared with the VNNI variant. */
#include <immintrin.h>

#include "avx512.h"

static inline __m512i q8_dot(__m512i acc, __m512i ax, __m512i sw) {
    const __m512i p = _mm512_maddubs_epi16(ax, sw);
    return _mm512_add_epi32(acc, _mm512_madd_epi16(p, _mm512_set1_epi16(1)));
}

#include "matmul_q8_avx512.h"

void lm_matmul_q8_avx512(float *y, const lm_q8_act *x, const lm_q8 *w, int T, int n, int d, int r0,
                         int r1) {
    q8_dispatch(y, x, w, T, n, d, r0, r1);
}
