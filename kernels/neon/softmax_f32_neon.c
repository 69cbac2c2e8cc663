/* Softmax in place, bit-exact with the oracle: libm's expf (math_neon.h), the
 * sum added in the oracle's order, and a true division. The exps, four lanes at
 * a time, are the cost; the serial sum is one add per element. */
#include <arm_neon.h>
#include <string.h>

#include "math_neon.h"
#include "neon.h"

static inline float add_lanes_in_order(float sum, float32x4_t e) {
    sum += vgetq_lane_f32(e, 0);
    sum += vgetq_lane_f32(e, 1);
    sum += vgetq_lane_f32(e, 2);
    sum += vgetq_lane_f32(e, 3);
    return sum;
}

void lm_softmax_f32_neon(float *x, int n) {
    float32x4_t m = vdupq_n_f32(x[0]);
    int i = 0;
    for (; i + 4 <= n; i += 4) m = vmaxq_f32(m, vld1q_f32(x + i));
    float max = vmaxvq_f32(m);
    for (; i < n; i++)
        if (x[i] > max) max = x[i];

    const float32x4_t vmax = vdupq_n_f32(max);
    float sum = 0.0f;
    i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t e = lm_exp_f32(vsubq_f32(vld1q_f32(x + i), vmax));
        vst1q_f32(x + i, e);
        sum = add_lanes_in_order(sum, e);
    }
    if (i < n) {
        /* the tail through the same exp; padding lanes are not added */
        float tmp[4] = {0.0f, 0.0f, 0.0f, 0.0f};
        const int rest = n - i;
        memcpy(tmp, x + i, (size_t)rest * sizeof(float));
        vst1q_f32(tmp, lm_exp_f32(vsubq_f32(vld1q_f32(tmp), vmax)));
        memcpy(x + i, tmp, (size_t)rest * sizeof(float));
        for (int k = 0; k < rest; k++) sum += tmp[k];
    }

    const float32x4_t vsum = vdupq_n_f32(sum);
    i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(x + i, vdivq_f32(vld1q_f32(x + i), vsum));
    for (; i < n; i++) x[i] /= sum;
}
