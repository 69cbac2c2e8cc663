/* Q8_0 product for plain ASIMD: the driver is in matmul_q8_neon.h. */
#include "matmul_q8_neon.h"
#include "neon.h"

/* Widening multiplies into int16 and pairwise widening adds into int32: a
 * product of two int8 fits int16 (|-128 * -128| = 2^14), but the sum of two may
 * not, so vmlal would overflow where vpadal does not. */
static inline int32x4_t dot16_mull(int32x4_t acc, int8x16_t a, int8x16_t b) {
    acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(a), vget_low_s8(b)));
    return vpadalq_s16(acc, vmull_high_s8(a, b));
}

void lm_matmul_q8_neon(float *y, const lm_q8_act *x, const lm_q8 *w, int T, int n, int d, int r0,
                       int r1) {
    lm_matmul_q8_tiled(y, x, w, T, n, d, r0, r1, dot16_mull);
}
