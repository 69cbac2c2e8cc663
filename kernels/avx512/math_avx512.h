/* Vector helpers shared by the AVX-512 kernels: tail masks, the horizontal
 * max and expf; sums are the kernels' own, in kernels/ORDER.md's order. Only
 * static inline code: each kernel file gets its own copy, compiled with this
 * folder's flags. */
#ifndef LAMINA_KERNELS_AVX512_MATH_H
#define LAMINA_KERNELS_AVX512_MATH_H

#include <math.h>
#include <stdint.h>

#include <immintrin.h>

#include "exp_table.h"

/* Lanes below r (0 <= r <= 16) are set: masked loads neither read nor fault
 * past the end of a row, and masked-off lanes load as 0. */
static inline __mmask16 lm_avx512_mask16(int r) {
    return r >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << r) - 1u);
}

/* The same for bytes, 0 <= r <= 64. */
static inline __mmask64 lm_avx512_mask64(int r) {
    return r >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << r) - 1);
}

static inline float lm_avx512_hmax(__m512 a) {
    __m256 h = _mm256_max_ps(_mm512_castps512_ps256(a), _mm512_extractf32x8_ps(a, 1));
    __m128 q = _mm_max_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    q = _mm_max_ps(q, _mm_movehl_ps(q, q));
    q = _mm_max_ss(q, _mm_movehdup_ps(q));
    return _mm_cvtss_f32(q);
}

/* libm's expf for 8 doubles (see exp_table.h), with the steps, roundings and
 * fused multiply-adds of x86-64 glibc's FMA variant, the one it picks on every
 * CPU that runs this table: k by the 1.5 * 2^52 shift trick (ties to even),
 * r = x / ln2 * 32 - k in one fused step, 2^(k/32) from the table in four
 * registers (two 16-entry permutes and a blend). */
static inline __m512d lm_avx512_exp_f64(__m512d x) {
    const __m512d shift = _mm512_set1_pd(0x1.8p52), inv_ln2_32 = _mm512_set1_pd(LM_EXP_INV_LN2_32);
    __m512d kd = _mm512_fmadd_pd(x, inv_ln2_32, shift);
    const __m512i ki = _mm512_castpd_si512(kd); /* k in the low bits */
    kd = _mm512_sub_pd(kd, shift);
    const __m512d r = _mm512_fmsub_pd(x, inv_ln2_32, kd);
    const uint64_t *tab = lm_exp_table;
    __m512i lo =
        _mm512_permutex2var_epi64(_mm512_loadu_si512(tab), ki, _mm512_loadu_si512(tab + 8));
    __m512i hi =
        _mm512_permutex2var_epi64(_mm512_loadu_si512(tab + 16), ki, _mm512_loadu_si512(tab + 24));
    __m512i t = _mm512_mask_blend_epi64(_mm512_test_epi64_mask(ki, _mm512_set1_epi64(16)), lo, hi);
    t = _mm512_add_epi64(t, _mm512_slli_epi64(ki, 47));
    const __m512d p = _mm512_fmadd_pd(r, _mm512_set1_pd(LM_EXP_C0), _mm512_set1_pd(LM_EXP_C1));
    __m512d y = _mm512_fmadd_pd(r, _mm512_set1_pd(LM_EXP_C2), _mm512_set1_pd(1.0));
    y = _mm512_fmadd_pd(p, _mm512_mul_pd(r, r), y);
    return _mm512_mul_pd(y, _mm512_castsi512_pd(t));
}

/* expf of 16 floats, libm's bit for bit. Lanes with |x| >= 88 or NaN, where
 * glibc leaves its fast path too, make the whole vector call libm. */
static inline __m512 lm_avx512_exp(__m512 x) {
    if (_mm512_cmp_ps_mask(_mm512_abs_ps(x), _mm512_set1_ps(LM_EXP_FAST_LIMIT), _CMP_NLT_UQ)) {
        float v[16];
        _mm512_storeu_ps(v, x);
        for (int i = 0; i < 16; i++) v[i] = expf(v[i]);
        return _mm512_loadu_ps(v);
    }
    __m256 lo = _mm512_cvtpd_ps(lm_avx512_exp_f64(_mm512_cvtps_pd(_mm512_castps512_ps256(x))));
    __m256 hi = _mm512_cvtpd_ps(lm_avx512_exp_f64(_mm512_cvtps_pd(_mm512_extractf32x8_ps(x, 1))));
    return _mm512_insertf32x8(_mm512_castps256_ps512(lo), hi, 1);
}

#endif
