/* Q8_0 matrix product with AVX-512 VNNI: vpdpbusd does the u8 x s8 products,
 * their 4-byte sums and the int32 accumulation in one instruction. The kernel
 * itself is in matmul_q8_avx512.h, shared with the plain AVX-512 variant. */
#include <immintrin.h>

#include "avx512.h"

static inline __m512i q8_dot(__m512i acc, __m512i ax, __m512i sw) {
    return _mm512_dpbusd_epi32(acc, ax, sw);
}

#include "matmul_q8_avx512.h"

void lm_matmul_q8_avx512vnni(float *y, const lm_q8_act *x, const lm_q8 *w, int T, int n, int d,
                             int r0, int r1) {
    q8_dispatch(y, x, w, T, n, d, r0, r1);
}
