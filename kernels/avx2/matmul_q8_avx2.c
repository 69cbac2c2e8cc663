/* Q8_0 product on panels (kernels.h) with AVX2: a panel's 4 consecutive k of
 * 16 rows are two ymm (rows 0-7, 8-15). maddubs multiplies |w| (unsigned, at
 * most 128) by x with w's sign (activations are in [-127, 127] as quantize_q8
 * makes them; pair sums fit int16) and madd with ones adds the pairs into the
 * row's int32 lane: the exact 4-byte dots, for any int8 weight. After each
 * group every row adds ((float)isum * s_w) * s_x with mul, mul, add: runq.c's
 * arithmetic per row, in lanes, no horizontal sums. */
#include <immintrin.h>
#include <string.h>

#include "avx2.h"
#include "scalar/scalar.h"
#include "math_avx2.h"

static inline __m256i dot4(__m256i acc, __m256i wabs, __m256i w, __m256i xb) {
    __m256i pairs = _mm256_maddubs_epi16(wabs, _mm256_sign_epi8(xb, w));
    return _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
}

static inline __attribute__((always_inline)) void block(float *y, const lm_q8_act *x,
                                                        const lm_packed *w, int p0, int t0, int r0,
                                                        int r1, const int NT) {
    const int n = w->cols, d = w->rows, gs = w->gs, groups = n / gs;
    const int8_t *wq = w->q + (size_t)p0 * LM_PANEL * n;
    const float *ws = w->s + (size_t)p0 * LM_PANEL * groups;
    const int8_t *xq = x->q + (size_t)t0 * n;
    const float *xs = x->s + (size_t)t0 * groups;
    __m256 val[2][2];
    for (int t = 0; t < NT; t++) val[t][0] = val[t][1] = _mm256_setzero_ps();
    for (int g = 0; g < groups; g++) {
        __m256i isum[2][2];
        for (int t = 0; t < NT; t++) isum[t][0] = isum[t][1] = _mm256_setzero_si256();
        for (int k = g * gs; k < (g + 1) * gs; k += 4) {
            const int8_t *src = wq + (size_t)k * LM_PANEL;
            if (NT == 1) _mm_prefetch((const char *)src + 1024, _MM_HINT_T0);
            __m256i lo = _mm256_loadu_si256((const __m256i *)src);
            __m256i hi = _mm256_loadu_si256((const __m256i *)(src + 32));
            __m256i alo = _mm256_abs_epi8(lo), ahi = _mm256_abs_epi8(hi);
            for (int t = 0; t < NT; t++) {
                int32_t x4;
                memcpy(&x4, xq + (size_t)t * n + k, 4);
                __m256i xb = _mm256_set1_epi32(x4);
                isum[t][0] = dot4(isum[t][0], alo, lo, xb);
                isum[t][1] = dot4(isum[t][1], ahi, hi, xb);
            }
        }
        __m256 swlo = _mm256_loadu_ps(ws + (size_t)g * LM_PANEL);
        __m256 swhi = _mm256_loadu_ps(ws + (size_t)g * LM_PANEL + 8);
        for (int t = 0; t < NT; t++) {
            __m256 sx = _mm256_set1_ps(xs[(size_t)t * groups + g]);
            __m256 a = _mm256_mul_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(isum[t][0]), swlo), sx);
            __m256 b = _mm256_mul_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(isum[t][1]), swhi), sx);
            val[t][0] = _mm256_add_ps(val[t][0], a);
            val[t][1] = _mm256_add_ps(val[t][1], b);
        }
    }
    for (int t = 0; t < NT; t++)
        lm_avx2_store_panel(y + (size_t)(t0 + t) * d, p0, r0, r1, val[t][0], val[t][1]);
}

void lm_matmul_q8_avx2(float *y, const lm_q8_act *x, const lm_packed *w, int T, int r0, int r1) {
    const int d = w->rows;
    if (r1 > d) r1 = d;
    if (r0 >= r1) return;
    if (!w->q) {
        lm_matmul_q8_ref(y, x, &w->flat, T, w->cols, d, r0, r1);
        return;
    }
    const int first = r0 / LM_PANEL, last = (r1 + LM_PANEL - 1) / LM_PANEL;
    for (int p = first; p < last; p++) {
        int t0 = 0;
        for (; t0 + 2 <= T; t0 += 2) block(y, x, w, p, t0, r0, r1, 2);
        if (t0 < T) block(y, x, w, p, t0, r0, r1, 1);
    }
}
