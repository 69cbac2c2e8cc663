/* Attention over an F16 KV cache with the bits of the scalar oracle: the
 * shape of lm_attention_f32_neon (4 positions per vector for the scores,
 * 16 columns in registers for the weighted sum, multiply then add, no FMA),
 * with every key and value widened exactly by fcvtl (vcvt_f32_f16) as it is
 * loaded, and tails widened by kernels/half.h: the same floats. */
#include <arm_neon.h>
#include <math.h>
#include <stddef.h>

#include "half.h"
#include "neon.h"

static inline float32x4_t load4(const uint16_t *p) {
    return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p)));
}

/* att[p..p+3] = (q . k[p+l]) / scale for l < 4. */
static void scores4(float *att, const float *q, const uint16_t *k, int hs, int stride,
                    float32x4_t scale) {
    const uint16_t *k0 = k, *k1 = k0 + stride, *k2 = k1 + stride, *k3 = k2 + stride;
    float32x4_t acc = vdupq_n_f32(0.0f);
    int i = 0;
    for (; i + 4 <= hs; i += 4) {
        float32x4x2_t t01 = vtrnq_f32(load4(k0 + i), load4(k1 + i));
        float32x4x2_t t23 = vtrnq_f32(load4(k2 + i), load4(k3 + i));
        float32x4_t c0 = vcombine_f32(vget_low_f32(t01.val[0]), vget_low_f32(t23.val[0]));
        float32x4_t c1 = vcombine_f32(vget_low_f32(t01.val[1]), vget_low_f32(t23.val[1]));
        float32x4_t c2 = vcombine_f32(vget_high_f32(t01.val[0]), vget_high_f32(t23.val[0]));
        float32x4_t c3 = vcombine_f32(vget_high_f32(t01.val[1]), vget_high_f32(t23.val[1]));
        float32x4_t qv = vld1q_f32(q + i);
        acc = vaddq_f32(acc, vmulq_laneq_f32(c0, qv, 0));
        acc = vaddq_f32(acc, vmulq_laneq_f32(c1, qv, 1));
        acc = vaddq_f32(acc, vmulq_laneq_f32(c2, qv, 2));
        acc = vaddq_f32(acc, vmulq_laneq_f32(c3, qv, 3));
    }
    for (; i < hs; i++) {
        float32x4_t col = vdupq_n_f32(lm_f16_to_f32(k0[i]));
        col = vsetq_lane_f32(lm_f16_to_f32(k1[i]), col, 1);
        col = vsetq_lane_f32(lm_f16_to_f32(k2[i]), col, 2);
        col = vsetq_lane_f32(lm_f16_to_f32(k3[i]), col, 3);
        acc = vaddq_f32(acc, vmulq_n_f32(col, q[i]));
    }
    vst1q_f32(att, vdivq_f32(acc, scale));
}

static void scores(float *att, const float *q, const uint16_t *k, int n_pos, int hs, int stride) {
    const float scale = sqrtf((float)hs);
    int p = 0;
    for (; p + 8 <= n_pos; p += 8) {
        scores4(att + p, q, k + (size_t)p * stride, hs, stride, vdupq_n_f32(scale));
        scores4(att + p + 4, q, k + (size_t)(p + 4) * stride, hs, stride, vdupq_n_f32(scale));
    }
    for (; p + 4 <= n_pos; p += 4)
        scores4(att + p, q, k + (size_t)p * stride, hs, stride, vdupq_n_f32(scale));
    for (; p < n_pos; p++) {
        const uint16_t *kp = k + (size_t)p * stride;
        float score = 0.0f;
        for (int i = 0; i < hs; i++) score += q[i] * lm_f16_to_f32(kp[i]);
        att[p] = score / scale;
    }
}

static void weighted_sum(float *out, const float *att, const uint16_t *v, int n_pos, int hs,
                         int stride) {
    int i = 0;
    for (; i + 16 <= hs; i += 16) {
        float32x4_t o0 = vdupq_n_f32(0.0f), o1 = o0, o2 = o0, o3 = o0;
        for (int p = 0; p < n_pos; p++) {
            const uint16_t *vp = v + (size_t)p * stride + i;
            const float a = att[p];
            o0 = vaddq_f32(o0, vmulq_n_f32(load4(vp), a));
            o1 = vaddq_f32(o1, vmulq_n_f32(load4(vp + 4), a));
            o2 = vaddq_f32(o2, vmulq_n_f32(load4(vp + 8), a));
            o3 = vaddq_f32(o3, vmulq_n_f32(load4(vp + 12), a));
        }
        vst1q_f32(out + i, o0);
        vst1q_f32(out + i + 4, o1);
        vst1q_f32(out + i + 8, o2);
        vst1q_f32(out + i + 12, o3);
    }
    for (; i + 4 <= hs; i += 4) {
        float32x4_t o0 = vdupq_n_f32(0.0f);
        for (int p = 0; p < n_pos; p++)
            o0 = vaddq_f32(o0, vmulq_n_f32(load4(v + (size_t)p * stride + i), att[p]));
        vst1q_f32(out + i, o0);
    }
    for (; i < hs; i++) {
        float o = 0.0f;
        for (int p = 0; p < n_pos; p++) o += att[p] * lm_f16_to_f32(v[(size_t)p * stride + i]);
        out[i] = o;
    }
}

void lm_attention_f16_neon(float *out, const float *q, const uint16_t *k, const uint16_t *v,
                           float *att, int n_pos, int head_size, int stride) {
    scores(att, q, k, n_pos, head_size, stride);
    lm_softmax_f32_neon(att, n_pos);
    weighted_sum(out, att, v, n_pos, head_size, stride);
}
