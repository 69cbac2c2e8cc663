/* Q8_0 quantization of one token's activations, bit-exact with the scalar
 * oracle: the max is exact in any order, the scale is the same division, and
 * each value is x / scale by a true division (vdivq, not a reciprocal
 * multiply) rounded by FCVTAS, round to nearest with ties away from zero,
 * which is roundf. */
#include <arm_neon.h>
#include <math.h>
#include <string.h>

#include "neon.h"

/* max |x[i]| for i < len. FMAXNM ignores a NaN operand like fmaxf does. */
static float group_amax(const float *x, int len) {
    float32x4_t m0 = vdupq_n_f32(0.0f), m1 = m0, m2 = m0, m3 = m0;
    int i = 0;
    for (; i + 16 <= len; i += 16) {
        m0 = vmaxnmq_f32(m0, vabsq_f32(vld1q_f32(x + i)));
        m1 = vmaxnmq_f32(m1, vabsq_f32(vld1q_f32(x + i + 4)));
        m2 = vmaxnmq_f32(m2, vabsq_f32(vld1q_f32(x + i + 8)));
        m3 = vmaxnmq_f32(m3, vabsq_f32(vld1q_f32(x + i + 12)));
    }
    for (; i + 4 <= len; i += 4) m0 = vmaxnmq_f32(m0, vabsq_f32(vld1q_f32(x + i)));
    float amax = vmaxnmvq_f32(vmaxnmq_f32(vmaxnmq_f32(m0, m1), vmaxnmq_f32(m2, m3)));
    for (; i < len; i++) amax = fmaxf(amax, fabsf(x[i]));
    return amax;
}

/* |x / scale| <= 127 (plus rounding), so the narrowing moves cannot wrap. */
static inline int16x8_t quant8(const float *x, float32x4_t scale) {
    int32x4_t a = vcvtaq_s32_f32(vdivq_f32(vld1q_f32(x), scale));
    int32x4_t b = vcvtaq_s32_f32(vdivq_f32(vld1q_f32(x + 4), scale));
    return vcombine_s16(vmovn_s32(a), vmovn_s32(b));
}

void lm_quantize_q8_neon(int8_t *q, float *s, const float *x, int n, int gs) {
    for (int g0 = 0; g0 < n; g0 += gs) {
        const int len = g0 + gs < n ? gs : n - g0;
        const float *xg = x + g0;
        int8_t *qg = q + g0;
        const float scale = group_amax(xg, len) / 127.0f;
        s[g0 / gs] = scale;
        if (!(scale > 0.0f)) {
            memset(qg, 0, (size_t)len);
            continue;
        }
        const float32x4_t vs = vdupq_n_f32(scale);
        int i = 0;
        for (; i + 16 <= len; i += 16) {
            int16x8_t lo = quant8(xg + i, vs), hi = quant8(xg + i + 8, vs);
            vst1q_s8(qg + i, vcombine_s8(vmovn_s16(lo), vmovn_s16(hi)));
        }
        for (; i + 8 <= len; i += 8) vst1_s8(qg + i, vmovn_s16(quant8(xg + i, vs)));
        for (; i < len; i++) qg[i] = (int8_t)roundf(xg[i] / scale);
    }
}
