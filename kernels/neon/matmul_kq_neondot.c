/* Q4_K / Q5_K products with the Armv8.2-A dot-product extension
 * (matmul_kq_neon.h): sdot adds the 4-byte dots of 4 rows into their lanes. */
#include <arm_neon.h>

#ifndef __ARM_FEATURE_DOTPROD
#error "matmul_kq_neondot.c needs -march=armv8.2-a+dotprod (see kernels/CMakeLists.txt)"
#endif

static inline int32x4_t kq_dot16_sdot(int32x4_t acc, int8x16_t w, int8x16_t x) {
    return vdotq_s32(acc, w, x);
}

#define KQ_DOT16 kq_dot16_sdot
#define KQ_FN(t) lm_matmul_q##t##_k_neondot
#include "matmul_kq_neon.h"
