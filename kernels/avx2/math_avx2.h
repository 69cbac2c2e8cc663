/* Vector helpers shared by the AVX2 kernels: tail masks, the horizontal max
 * and expf; sums are the kernels' own, in kernels/ORDER.md's order. Only
 * static inline code: each kernel file gets its own copy. */
#ifndef LAMINA_KERNELS_AVX2_MATH_H
#define LAMINA_KERNELS_AVX2_MATH_H

#include <math.h>
#include <stdint.h>

#include <immintrin.h>

#include "exp_table.h"
#include "kernels.h"

/* Lanes below r are set: masked loads and stores read and write nothing past
 * the end of a row, so tails never touch memory outside the buffers. */
static inline __m256i lm_avx2_tail_mask(int r) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(r), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* One panel's outputs (rows LM_PANEL * p onwards; lanes lo then hi) into y, only the
 * rows in [r0, r1): a product writes only its own range. */
static inline void lm_avx2_store_panel(float *y, int p, int r0, int r1, __m256 lo, __m256 hi) {
    int base = p * LM_PANEL;
    if (base >= r0 && base + LM_PANEL <= r1) {
        _mm256_storeu_ps(y + base, lo);
        _mm256_storeu_ps(y + base + 8, hi);
        return;
    }
    float tmp[LM_PANEL];
    _mm256_storeu_ps(tmp, lo);
    _mm256_storeu_ps(tmp + 8, hi);
    for (int l = 0; l < LM_PANEL; l++)
        if (base + l >= r0 && base + l < r1) y[base + l] = tmp[l];
}

static inline float lm_avx2_hmax(__m256 a) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

/* libm's expf for 4 doubles (see exp_table.h), with the steps, roundings and
 * fused multiply-adds of x86-64 glibc's FMA variant, the one it picks on every
 * CPU that runs this table: k by the 1.5 * 2^52 shift trick (ties to even),
 * r = x / ln2 * 32 - k in one fused step, 2^(k/32) gathered from the table. */
static inline __m256d lm_avx2_exp_f64(__m256d x) {
    const __m256d shift = _mm256_set1_pd(0x1.8p52), inv_ln2_32 = _mm256_set1_pd(LM_EXP_INV_LN2_32);
    __m256d kd = _mm256_fmadd_pd(x, inv_ln2_32, shift);
    const __m256i ki = _mm256_castpd_si256(kd); /* k in the low bits */
    kd = _mm256_sub_pd(kd, shift);
    const __m256d r = _mm256_fmsub_pd(x, inv_ln2_32, kd);
    __m256i t = _mm256_i64gather_epi64((const long long *)lm_exp_table,
                                       _mm256_and_si256(ki, _mm256_set1_epi64x(31)), 8);
    t = _mm256_add_epi64(t, _mm256_slli_epi64(ki, 47));
    const __m256d p = _mm256_fmadd_pd(r, _mm256_set1_pd(LM_EXP_C0), _mm256_set1_pd(LM_EXP_C1));
    __m256d y = _mm256_fmadd_pd(r, _mm256_set1_pd(LM_EXP_C2), _mm256_set1_pd(1.0));
    y = _mm256_fmadd_pd(p, _mm256_mul_pd(r, r), y);
    return _mm256_mul_pd(y, _mm256_castsi256_pd(t));
}

/* expf of 8 floats, libm's bit for bit. Lanes with |x| >= 88 or NaN, where
 * glibc leaves its fast path too, make the whole vector call libm. */
static inline __m256 lm_avx2_exp(__m256 x) {
    const __m256 abs = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x);
    if (_mm256_movemask_ps(_mm256_cmp_ps(abs, _mm256_set1_ps(LM_EXP_FAST_LIMIT), _CMP_NLT_UQ))) {
        float v[8];
        _mm256_storeu_ps(v, x);
        for (int i = 0; i < 8; i++) v[i] = expf(v[i]);
        return _mm256_loadu_ps(v);
    }
    __m128 lo = _mm256_cvtpd_ps(lm_avx2_exp_f64(_mm256_cvtps_pd(_mm256_castps256_ps128(x))));
    __m128 hi = _mm256_cvtpd_ps(lm_avx2_exp_f64(_mm256_cvtps_pd(_mm256_extractf128_ps(x, 1))));
    return _mm256_insertf128_ps(_mm256_castps128_ps256(lo), hi, 1);
}

#endif
