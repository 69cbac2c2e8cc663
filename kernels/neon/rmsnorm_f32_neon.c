/* RMS normalisation. The sum of squares is added in the oracle's order, one
 * element after another: a reordered sum moves the factor by an ulp, which
 * shifts every output and, in a Q8_0 model, flips roundings when the next
 * matmul quantizes them; greedy decoding then leaves llama2.c's text (seen on
 * kjv1m.q80). That serial chain is a few microseconds per call even at
 * dim 4096, nothing beside the matmuls. The squares and the scaling pass are
 * vector operations with the oracle's roundings, so the result is bit-exact. */
#include <arm_neon.h>
#include <math.h>

#include "neon.h"

void lm_rmsnorm_f32_neon(float *o, const float *x, const float *w, int n, float eps) {
    float ss = 0.0f;
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t x0 = vld1q_f32(x + i);
        float32x4_t sq = vmulq_f32(x0, x0);
        ss += vgetq_lane_f32(sq, 0);
        ss += vgetq_lane_f32(sq, 1);
        ss += vgetq_lane_f32(sq, 2);
        ss += vgetq_lane_f32(sq, 3);
    }
    for (; i < n; i++) ss += x[i] * x[i];
    ss /= (float)n;
    ss += eps;
    ss = 1.0f / sqrtf(ss);

    /* o may alias x: each element is read before it is written, index by index. */
    const float32x4_t vss = vdupq_n_f32(ss);
    i = 0;
    for (; i + 4 <= n; i += 4)
        vst1q_f32(o + i, vmulq_f32(vld1q_f32(w + i), vmulq_f32(vss, vld1q_f32(x + i))));
    for (; i < n; i++) o[i] = w[i] * (ss * x[i]);
}
