/* Q6_K product on panels with the Armv8.2-A dot-product extension: sdot adds
 * the 4-byte dots of 4 rows into their int32 lanes (matmul_q6_k_neon.h). */
#include <arm_neon.h>
#include <string.h>

#include "neon.h"

#ifndef __ARM_FEATURE_DOTPROD
#error "matmul_q6_k_neondot.c needs -march=armv8.2-a+dotprod (see kernels/CMakeLists.txt)"
#endif

static inline int32x4_t q6k_sdot(int32x4_t acc, int8x16_t w, int8x16_t x) {
    return vdotq_s32(acc, w, x);
}

#define LM_DOT16 q6k_sdot
#define LM_Q6K_NEON_FN lm_matmul_q6_k_neondot
#include "matmul_q6_k_neon.h"
