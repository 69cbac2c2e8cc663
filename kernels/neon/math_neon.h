/* Vector expf for the NEON kernels (static inline: each including file compiles
 * it with its own target flags; the table is in math_neon.c).
 *
 * Not a ~2 ulp single-precision approximation: in a Q8_0 model every activation
 * is re-quantized before the next matmul, so an exp that differs from libm in
 * the last bit flips some roundings and greedy decoding drifts from llama2.c's
 * text. This is the algorithm of glibc's (and musl's, bionic's) expf, from Arm's
 * optimized-routines (MIT): in double precision, x / ln2 = k/32 + r/32,
 * 2^(k/32) from a 32-entry table, 2^(r/32) by a cubic, one final rounding to
 * float; 0.502 ulp. The operations, roundings and fused multiply-adds are those
 * of AArch64 glibc, so the result equals libm's expf bit for bit, and twice two
 * lanes of doubles still beat four calls. |x| >= 88 (overflow, underflow,
 * infinities) takes libm itself, lane by lane. */
#ifndef LAMINA_KERNELS_NEON_MATH_H
#define LAMINA_KERNELS_NEON_MATH_H

#include <arm_neon.h>
#include <math.h>
#include <stdint.h>

/* tab[i] = bits(2^(i/32)) - (i << 47): adding k << 47 to tab[k % 32] gives the
 * bits of 2^(k/32), the exponent field taking k / 32. */
extern const uint64_t lm_exp_table_neon[32];

static inline float64x2_t lm_exp_f64_core(float64x2_t xd) {
    const float64x2_t inv_ln2_32 = vdupq_n_f64(0x1.71547652b82fep+0 * 32);
    const float64x2_t c0 = vdupq_n_f64(0x1.c6af84b912394p-5 / (32.0 * 32.0 * 32.0));
    const float64x2_t c1 = vdupq_n_f64(0x1.ebfce50fac4f3p-3 / (32.0 * 32.0));
    const float64x2_t c2 = vdupq_n_f64(0x1.62e42ff0c52d6p-1 / 32.0);
    float64x2_t z = vmulq_f64(xd, inv_ln2_32);
    /* ties away from zero, as glibc's FRINTA / FCVTAS on AArch64 */
    float64x2_t kd = vrndaq_f64(z);
    int64x2_t ki = vcvtaq_s64_f64(z);
    float64x2_t r = vsubq_f64(z, kd);
    uint64x2_t t = vcombine_u64(vld1_u64(&lm_exp_table_neon[vgetq_lane_s64(ki, 0) & 31]),
                                vld1_u64(&lm_exp_table_neon[vgetq_lane_s64(ki, 1) & 31]));
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
    if (vmaxvq_u32(vcageq_f32(x, vdupq_n_f32(88.0f)))) return lm_exp_f32_libm(x);
    float64x2_t lo = lm_exp_f64_core(vcvt_f64_f32(vget_low_f32(x)));
    float64x2_t hi = lm_exp_f64_core(vcvt_high_f64_f32(x));
    return vcvt_high_f32_f64(vcvt_f32_f64(lo), hi);
}

#endif
