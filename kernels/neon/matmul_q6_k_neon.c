/* Q6_K product on panels with plain ASIMD: smull makes int16 products (at
 * most 32 * 128), addp adds k pairs (exact in int16) and padal adds them into
 * each row's int32 lane; matmul_q6_k_neon.h has the rest. */
#include <arm_neon.h>
#include <string.h>

#include "neon.h"

static inline int32x4_t q6k_dot16(int32x4_t acc, int8x16_t w, int8x16_t x) {
    int16x8_t lo = vmull_s8(vget_low_s8(w), vget_low_s8(x));
    int16x8_t hi = vmull_high_s8(w, x);
    return vpadalq_s16(acc, vpaddq_s16(lo, hi));
}

#define LM_DOT16 q6k_dot16
#define LM_Q6K_NEON_FN lm_matmul_q6_k_neon
#include "matmul_q6_k_neon.h"
