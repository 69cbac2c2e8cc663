/* Q8_0 product with the Armv8.2-A dot-product extension: the build adds
 * +dotprod to files named *dot*, and dispatch.c checks asimddp before use. */
#include "matmul_q8_neon.h"
#include "neon.h"

#ifndef __ARM_FEATURE_DOTPROD
#error "matmul_q8_neondot.c needs -march=armv8.2-a+dotprod (see kernels/CMakeLists.txt)"
#endif

/* sdot: four 4-way int8 dots into the int32 lanes, one instruction. */
static inline int32x4_t dot16_sdot(int32x4_t acc, int8x16_t a, int8x16_t b) {
    return vdotq_s32(acc, a, b);
}

void lm_matmul_q8_neondot(float *y, const lm_q8_act *x, const lm_q8 *w, int T, int n, int d, int r0,
                          int r1) {
    lm_matmul_q8_tiled(y, x, w, T, n, d, r0, r1, dot16_sdot);
}
