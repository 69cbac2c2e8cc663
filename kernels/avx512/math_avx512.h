/* Vector helpers shared by the AVX-512 kernels: tail masks, horizontal
 * reductions and expf. Only static inline code: each kernel file gets its own
 * copy, compiled with this folder's flags. */
#ifndef LAMINA_KERNELS_AVX512_MATH_H
#define LAMINA_KERNELS_AVX512_MATH_H

#include <stdint.h>

#include <immintrin.h>

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

/* expf as in Cephes: x = n ln2 + r with |r| <= ln2 / 2 (ln2 in two parts, so
 * n ln2 is exact), a degree-7 polynomial for e^r, about 1 ulp, and 2^n applied
 * by scalef, which goes gradually to 0 and to inf like expf. The clamp keeps n
 * small enough for the reduction to stay exact: below -104 expf is 0 anyway,
 * above 89 it is inf anyway, and NaN or -inf inputs cannot produce NaN. */
static inline __m512 lm_avx512_exp(__m512 x) {
    x = _mm512_max_ps(x, _mm512_set1_ps(-104.0f));
    x = _mm512_min_ps(x, _mm512_set1_ps(89.0f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(p, n);
}

#endif
