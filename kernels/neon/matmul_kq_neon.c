/* Q4_K / Q5_K products with plain ASIMD (matmul_kq_neon.h): smull makes the
 * int16 products (at most 31 * 128), addp adds k pairs (exact in int16) and
 * padal the last pair into each row's int32 lane: the exact 4-byte dots. */
#include <arm_neon.h>

static inline int32x4_t kq_dot16(int32x4_t acc, int8x16_t w, int8x16_t x) {
    int16x8_t lo = vmull_s8(vget_low_s8(w), vget_low_s8(x));
    int16x8_t hi = vmull_high_s8(w, x);
    return vpadalq_s16(acc, vpaddq_s16(lo, hi));
}

#define KQ_DOT16 kq_dot16
#define KQ_FN(t) lm_matmul_q##t##_k_neon
#include "matmul_kq_neon.h"
