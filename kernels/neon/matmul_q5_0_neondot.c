/* Q5_0 product with the dot-product extension (sdot):
 * kernels/neon/matmul_qlegacy_neon.h. */
#include <arm_neon.h>

#include "neon.h"
#include "scalar/scalar.h"

#ifndef __ARM_FEATURE_DOTPROD
#error "matmul_q5_0_neondot.c needs -march=armv8.2-a+dotprod (see kernels/CMakeLists.txt)"
#endif

static inline int32x4_t ql_sdot(int32x4_t acc, int8x16_t w, int8x16_t x) {
    return vdotq_s32(acc, w, x);
}

#define LM_QL_DOT16 ql_sdot
#include "matmul_qlegacy_neon.h"

void lm_matmul_q5_0_neondot(float *y, const lm_q8_act *x, const lm_packed *w, int T, int r0,
                            int r1) {
    ql_neon(y, x, w, T, r0, r1, lm_matmul_q5_0_scalar, 0, 1, 16);
}
