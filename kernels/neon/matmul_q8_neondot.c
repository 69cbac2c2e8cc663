/* Q8_0 product on panels with the Armv8.2-A dot-product extension: sdot adds
 * the 4-byte dots of 4 rows into their int32 lanes in one instruction. The
 * build adds +dotprod to files named *dot*; dispatch.c checks asimddp. */
#include <arm_neon.h>
#include <string.h>

#include "neon.h"
#include "scalar/scalar.h"

#ifndef __ARM_FEATURE_DOTPROD
#error "matmul_q8_neondot.c needs -march=armv8.2-a+dotprod (see kernels/CMakeLists.txt)"
#endif

static inline int32x4_t dot16_sdot(int32x4_t acc, int8x16_t w, int8x16_t x) {
    return vdotq_s32(acc, w, x);
}

#define LM_DOT16 dot16_sdot
#define LM_Q8_NEON_FN lm_matmul_q8_neondot
#include "matmul_q8_neon.h"
