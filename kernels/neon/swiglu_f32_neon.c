/* SwiGLU gate, a = a * sigmoid(a) * b, bit-exact with the oracle: libm's expf
 * (math_neon.h) and the oracle's operations in its order, 1 / (1 + e) by a true
 * division. For very negative a, exp(-a) is +inf and the gate 0, never NaN. */
#include <arm_neon.h>
#include <string.h>

#include "math_neon.h"
#include "neon.h"

static inline float32x4_t swiglu4(float32x4_t a, float32x4_t b) {
    const float32x4_t one = vdupq_n_f32(1.0f);
    float32x4_t sig = vdivq_f32(one, vaddq_f32(one, lm_exp_f32(vnegq_f32(a))));
    return vmulq_f32(vmulq_f32(a, sig), b);
}

void lm_swiglu_f32_neon(float *a, const float *b, int n) {
    int i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(a + i, swiglu4(vld1q_f32(a + i), vld1q_f32(b + i)));
    if (i < n) {
        float ta[4] = {0.0f, 0.0f, 0.0f, 0.0f}, tb[4] = {0.0f, 0.0f, 0.0f, 0.0f};
        const size_t bytes = (size_t)(n - i) * sizeof(float);
        memcpy(ta, a + i, bytes);
        memcpy(tb, b + i, bytes);
        vst1q_f32(ta, swiglu4(vld1q_f32(ta), vld1q_f32(tb)));
        memcpy(a + i, ta, bytes);
    }
}
