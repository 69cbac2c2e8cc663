/* Vector expf for the NEON kernels, libm's bit for bit (see exp_table.h):
 * the operations, roundings and fused multiply-adds of AArch64 glibc's expf,
 * in two lanes of doubles (twice two still beat four calls). |x| >= 88
 * (overflow, underflow, infinities, NaN) takes libm itself, lane by lane.
 * Static inline: each including file compiles it with its own target flags. */
#ifndef LAMINA_KERNELS_NEON_MATH_H
#define LAMINA_KERNELS_NEON_MATH_H

#include <arm_neon.h>
#include <math.h>
#include <stdint.h>

#include "exp_table.h"
#include "kernels.h"

/* Four half-precision values at p (any alignment) widened exactly (fcvtl):
 * the scales of the block types' panels. */
static inline float32x4_t lm_neon_halves(const void *p) {
    return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16((const uint16_t *)p)));
}

/* One panel's outputs (rows LM_PANEL * p onwards; v[0..3]) into y, only the
 * rows in [r0, r1): a product writes only its own range. */
static inline void lm_neon_store_panel(float *y, int p, int r0, int r1, const float32x4_t *v) {
    int base = p * LM_PANEL;
    if (base >= r0 && base + LM_PANEL <= r1) {
        for (int j = 0; j < 4; j++) vst1q_f32(y + base + 4 * j, v[j]);
        return;
    }
    float tmp[LM_PANEL];
    for (int j = 0; j < 4; j++) vst1q_f32(tmp + 4 * j, v[j]);
    for (int l = 0; l < LM_PANEL; l++)
        if (base + l >= r0 && base + l < r1) y[base + l] = tmp[l];
}

static inline float64x2_t lm_exp_f64_core(float64x2_t xd) {
    const float64x2_t inv_ln2_32 = vdupq_n_f64(LM_EXP_INV_LN2_32);
    const float64x2_t c0 = vdupq_n_f64(LM_EXP_C0), c1 = vdupq_n_f64(LM_EXP_C1);
    const float64x2_t c2 = vdupq_n_f64(LM_EXP_C2);
    float64x2_t z = vmulq_f64(xd, inv_ln2_32);
    /* ties away from zero, as glibc's FRINTA / FCVTAS on AArch64 */
    float64x2_t kd = vrndaq_f64(z);
    int64x2_t ki = vcvtaq_s64_f64(z);
    float64x2_t r = vsubq_f64(z, kd);
    uint64x2_t t = vcombine_u64(vld1_u64(&lm_exp_table[vgetq_lane_s64(ki, 0) & 31]),
                                vld1_u64(&lm_exp_table[vgetq_lane_s64(ki, 1) & 31]));
    t = vaddq_u64(t, vreinterpretq_u64_s64(vshlq_n_s64(ki, 47)));
    float64x2_t p = vfmaq_f64(c1, c0, r);
    float64x2_t y = vfmaq_f64(vdupq_n_f64(1.0), c2, r);
    y = vfmaq_f64(y, p, vmulq_f64(r, r));
    return vmulq_f64(y, vreinterpretq_f64_u64(t));
}

static inline float32x4_t lm_exp_f32_libm(float32x4_t x) {
    float v[4];
    vst1q_f32(v, x);
    for (int k = 0; k < 4; k++) v[k] = expf(v[k]);
    return vld1q_f32(v);
}

static inline float32x4_t lm_exp_f32(float32x4_t x) {
    if (vmaxvq_u32(vcageq_f32(x, vdupq_n_f32(LM_EXP_FAST_LIMIT)))) return lm_exp_f32_libm(x);
    float64x2_t lo = lm_exp_f64_core(vcvt_f64_f32(vget_low_f32(x)));
    float64x2_t hi = lm_exp_f64_core(vcvt_high_f64_f32(x));
    return vcvt_high_f32_f64(vcvt_f32_f64(lo), hi);
}

#endif
