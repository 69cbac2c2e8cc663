/* Q4_1 product with plain ASIMD: kernels/neon/matmul_qlegacy_neon.h, the dots
 * as smull (int16 products, at most 31 * 128), addp and padal. */
#include <arm_neon.h>

#include "neon.h"
#include "scalar/scalar.h"

static inline int32x4_t ql_dot16(int32x4_t acc, int8x16_t w, int8x16_t x) {
    int16x8_t lo = vmull_s8(vget_low_s8(w), vget_low_s8(x));
    int16x8_t hi = vmull_high_s8(w, x);
    return vpadalq_s16(acc, vpaddq_s16(lo, hi));
}

#define LM_QL_DOT16 ql_dot16
#include "matmul_qlegacy_neon.h"

void lm_matmul_q4_1_neon(float *y, const lm_q8_act *x, const lm_packed *w, int T, int r0, int r1) {
    ql_neon(y, x, w, T, r0, r1, lm_matmul_q4_1_scalar, 1, 0, 0);
}
