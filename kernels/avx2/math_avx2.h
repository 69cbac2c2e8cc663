/* Vector helpers shared by the AVX2 kernels: tail masks, horizontal sums and
 * expf. Only static inline code: each kernel file gets its own copy. */
#ifndef LAMINA_KERNELS_AVX2_MATH_H
#define LAMINA_KERNELS_AVX2_MATH_H

#include <immintrin.h>

/* Lanes below r are set: masked loads and stores read and write nothing past
 * the end of a row, so tails never touch memory outside the buffers. */
static inline __m256i lm_avx2_tail_mask(int r) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(r), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* The horizontal sums all use one tree per vector, (a0+a1)+(a2+a3) plus
 * (a4+a5)+(a6+a7), whether they reduce one vector or eight at once: a dot
 * product then has the same bits whichever tile or row range computed it. */
static inline __m256 lm_avx2_reduce8(__m256 a0, __m256 a1, __m256 a2, __m256 a3, __m256 a4,
                                     __m256 a5, __m256 a6, __m256 a7) {
    __m256 u0 = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
    __m256 u1 = _mm256_hadd_ps(_mm256_hadd_ps(a4, a5), _mm256_hadd_ps(a6, a7));
    return _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20),
                         _mm256_permute2f128_ps(u0, u1, 0x31));
}

static inline __m128 lm_avx2_reduce4(__m256 a0, __m256 a1, __m256 a2, __m256 a3) {
    __m256 u = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
    return _mm_add_ps(_mm256_castps256_ps128(u), _mm256_extractf128_ps(u, 1));
}

static inline float lm_avx2_hsum(__m256 a) {
    __m256 u = _mm256_hadd_ps(a, a);
    u = _mm256_hadd_ps(u, u);
    return _mm_cvtss_f32(_mm_add_ss(_mm256_castps256_ps128(u), _mm256_extractf128_ps(u, 1)));
}

static inline float lm_avx2_hmax(__m256 a) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

/* expf in the manner of Cephes: x = n ln2 + r with |r| <= ln2/2 (ln2 split in
 * two so that n ln2 is exact), a degree-7 polynomial for e^r, and 2^n built in
 * the exponent bits. About 1 ulp over the normal range. Inputs are clamped so
 * that n stays in [-127, 127]: below about -87.3 (results under FLT_MIN) the
 * result is flushed to 0 rather than denormal, and above 88.37 it saturates at
 * about 2^127.5 instead of inf, so 1 / (1 + exp(-x)) stays finite either way. */
static inline __m256 lm_avx2_exp(__m256 x) {
    x = _mm256_min_ps(x, _mm256_set1_ps(88.3762626647949f));
    x = _mm256_max_ps(x, _mm256_set1_ps(-88.3762626647949f));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    /* n = -127 gives exponent bits 0, i.e. the flush to zero described above. */
    __m256i e =
        _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

#endif
