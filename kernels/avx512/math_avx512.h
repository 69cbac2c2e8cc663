/* Vector helpers shared by the AVX-512 kernels: tail masks, horizontal
 * reductions and expf. Only static inline code: each kernel file gets its own
 * copy, compiled with this folder's flags. */
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

/* Sixteen horizontal sums at once: lane i of the result is the sum of v[i].
 * Every sum uses the same tree whatever the other vectors hold, lane l with
 * lane l + 8, then + 4, + 2, + 1 (float addition is commutative bit for bit),
 * so a dot product has the same bits whichever tile or row range computed it
 * and whatever stood beside it (unused inputs may be anything, e.g. zero). */
static inline __attribute__((always_inline)) __m512 lm_avx512_reduce16(const __m512 v[16]) {
    __m512 u[8], s[4], z[2];
    for (int j = 0; j < 8; j++) /* [a: l + (l+8) for l < 8 | b: likewise] */
        u[j] = _mm512_add_ps(_mm512_shuffle_f32x4(v[2 * j], v[2 * j + 1], 0x44),
                             _mm512_shuffle_f32x4(v[2 * j], v[2 * j + 1], 0xee));
    for (int j = 0; j < 4; j++) /* 128-bit block m holds the 4 partials of v[4j + m] */
        s[j] = _mm512_add_ps(_mm512_shuffle_f32x4(u[2 * j], u[2 * j + 1], 0x88),
                             _mm512_shuffle_f32x4(u[2 * j], u[2 * j + 1], 0xdd));
    for (int j = 0; j < 2; j++) /* block m: 2 partials of v[8j + m], then of v[8j + 4 + m] */
        z[j] = _mm512_add_ps(_mm512_shuffle_ps(s[2 * j], s[2 * j + 1], 0x44),
                             _mm512_shuffle_ps(s[2 * j], s[2 * j + 1], 0xee));
    /* Lane 4m + k now holds the sum of v[m + 4k]: transpose the 4 x 4. */
    __m512 r =
        _mm512_add_ps(_mm512_shuffle_ps(z[0], z[1], 0x88), _mm512_shuffle_ps(z[0], z[1], 0xdd));
    const __m512i idx = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    return _mm512_permutexvar_ps(idx, r);
}

static inline float lm_avx512_hsum(__m512 a) {
    __m256 h = _mm256_add_ps(_mm512_castps512_ps256(a), _mm512_extractf32x8_ps(a, 1));
    __m128 q = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    q = _mm_add_ps(q, _mm_movehl_ps(q, q));
    q = _mm_add_ss(q, _mm_movehdup_ps(q));
    return _mm_cvtss_f32(q);
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
