/* Q8_0 product on panels with AVX-512 VNNI: vpdpbusd multiplies unsigned by
 * signed bytes, so the weights are offset to w + 128 (a xor of the sign bit)
 * and each group's int32 sum starts at -128 * sum(x) to take the offset back:
 * still the exact integer sum. The kernel is in matmul_q8_avx512.h. */
#include <immintrin.h>

#include "avx512.h"

#define Q8_BIAS 128
typedef __m512i q8_w;

static inline q8_w q8_prep(__m512i w) { return _mm512_xor_si512(w, _mm512_set1_epi8(-128)); }

static inline __m512i q8_step(__m512i acc, q8_w w, __m512i xb) {
    return _mm512_dpbusd_epi32(acc, w, xb);
}

#include "matmul_q8_avx512.h"

void lm_matmul_q8_avx512vnni(float *y, const lm_q8_act *x, const lm_packed *w, int T, int r0,
                             int r1) {
    q8_panels(y, x, w, T, r0, r1);
}
