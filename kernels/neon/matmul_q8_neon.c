/* Q8_0 product on panels (kernels.h) with plain ASIMD: 16 bytes of a panel
 * are 4 consecutive k of 4 rows; smull makes int16 products (exact: at most
 * 128 * 127), addp adds the k pairs (at most 32512, exact in int16) and padal
 * adds the last pair into each row's int32 lane. Then each row adds
 * ((float)isum * s_w) * s_x with mul, mul, add in its own lane: runq.c's order. */
#include <arm_neon.h>
#include <string.h>

#include "neon.h"
#include "scalar/scalar.h"

static inline int32x4_t dot16(int32x4_t acc, int8x16_t w, int8x16_t x) {
    int16x8_t lo = vmull_s8(vget_low_s8(w), vget_low_s8(x));
    int16x8_t hi = vmull_high_s8(w, x);
    return vpadalq_s16(acc, vpaddq_s16(lo, hi));
}

#define LM_DOT16 dot16
#define LM_Q8_NEON_FN lm_matmul_q8_neon
#include "matmul_q8_neon.h"
