/* Q6_K product on panels (kernels/quant/q6_k.c) with AVX2, in ORDER.md's
 * order. The 6-bit values are unpacked to u = q + 32 (0..63) with masks and
 * shifts: one 32-byte load of low bits gives two registers of 4 k x 8 rows,
 * one of high bits four. maddubs(u, x) makes exact int16 pair sums (at most
 * 2 * 63 * 128), two cells of one sub-block are added in int16 (at most
 * 32256), and madd with the row's scale sc_j (both int16 halves of its lane)
 * gives sc_j * sum u x in the row's int32 lane. sum_j sc_j * 32 * xsum_j is
 * subtracted per sub-block pair (xsum_j: the activations' sums, made once per
 * call), so S = sum_j sc_j * sum (u - 32) x exactly; activations may be any
 * int8, -128 included. Then ((float)S * d) * s_x is added with mul, mul, add
 * per row lane. Tokens are taken NT at a time so that each unpacked panel
 * feeds several of them (prefill). */
/* gcc -O3 (the Release flags) made decode about 20% slower than -O2 here
 * (4096 x 4096, T = 1, best of 100: 820 against 660 us; prefill the same). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O2")
#endif
#include <immintrin.h>
#include <string.h>

#include "avx2.h"
#include "quant/q6_k.h"
#include "scalar/scalar.h"
#include "math_avx2.h"

/* int32 entries of the activation sums buffer: per token nb * 8 (one pair of
 * int16 sub-block sums per lane); tokens are done in chunks that fit. */
#define XS_CAP 16384
#ifndef LM_Q6K_PF
#define LM_Q6K_PF 4096
#endif

static void act_sums(int32_t *xs, const int8_t *xq, int nb) {
    for (int b = 0; b < nb; b++)
        for (int jp = 0; jp < 8; jp++) {
            int s0 = 0, s1 = 0;
            const int8_t *v = xq + 256 * b + 32 * jp;
            for (int k = 0; k < 16; k++) s0 += v[k], s1 += v[16 + k];
            xs[b * 8 + jp] = (int32_t)((uint32_t)(uint16_t)s0 | (uint32_t)(uint16_t)s1 << 16);
        }
}

static inline int32_t load4(const int8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

static inline __attribute__((always_inline)) void block(float *y, const lm_q8_act *x,
                                                        const lm_packed *w, const int32_t *xs,
                                                        int p, int t0, int r0, int r1,
                                                        const int NT) {
    const int n = w->cols, d = w->rows, nb = n / 256;
    const __m256i m4 = _mm256_set1_epi8(15), m30 = _mm256_set1_epi8(0x30);
    const __m256i dup0 = _mm256_setr_epi8(0, 1, 0, 1, 4, 5, 4, 5, 8, 9, 8, 9, 12, 13, 12, 13, 0, 1,
                                          0, 1, 4, 5, 4, 5, 8, 9, 8, 9, 12, 13, 12, 13);
    const __m256i dup1 = _mm256_add_epi8(dup0, _mm256_set1_epi8(2));
    __m256 val[4][2];
    for (int t = 0; t < NT; t++) val[t][0] = val[t][1] = _mm256_setzero_ps();
    for (int b = 0; b < nb; b++) {
        const uint8_t *unit = w->blk + ((size_t)p * nb + b) * LM_Q6K_UNIT;
        __m256i acc[4][2];
        for (int t = 0; t < NT; t++) acc[t][0] = acc[t][1] = _mm256_setzero_si256();
        for (int jp = 0; jp < 8; jp++) {
            const uint8_t *sc = unit + LM_Q6K_SC + 32 * jp;
            __m256i P0 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)sc));
            __m256i P1 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(sc + 16)));
            __m256i C0 = _mm256_slli_epi16(P0, 5), C1 = _mm256_slli_epi16(P1, 5);
            for (int t = 0; t < NT; t++) {
                __m256i xp = _mm256_set1_epi32(xs[(size_t)t * nb * 8 + (size_t)b * 8 + jp]);
                acc[t][0] = _mm256_sub_epi32(acc[t][0], _mm256_madd_epi16(C0, xp));
                acc[t][1] = _mm256_sub_epi32(acc[t][1], _mm256_madd_epi16(C1, xp));
            }
            for (int half = 0; half < 2; half++) {
                __m256i s0 = _mm256_shuffle_epi8(P0, half ? dup1 : dup0);
                __m256i s1 = _mm256_shuffle_epi8(P1, half ? dup1 : dup0);
                for (int cp = 0; cp < 2; cp++) {
                    const int g = jp * 4 + half * 2 + cp;
                    const uint8_t *src = unit + LM_Q6K_VALS + g * LM_Q6K_GROUP;
                    if (NT == 1) _mm_prefetch((const char *)src + LM_Q6K_PF, _MM_HINT_T0);
                    __m256i la = _mm256_loadu_si256((const __m256i *)src);
                    __m256i lb = _mm256_loadu_si256((const __m256i *)(src + 32));
                    __m256i hb = _mm256_loadu_si256((const __m256i *)(src + 64));
                    __m256i a0 = _mm256_or_si256(_mm256_and_si256(la, m4),
                                                 _mm256_and_si256(_mm256_slli_epi16(hb, 4), m30));
                    __m256i a1 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(la, 4), m4),
                                                 _mm256_and_si256(_mm256_slli_epi16(hb, 2), m30));
                    __m256i b0 =
                        _mm256_or_si256(_mm256_and_si256(lb, m4), _mm256_and_si256(hb, m30));
                    __m256i b1 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(lb, 4), m4),
                                                 _mm256_and_si256(_mm256_srli_epi16(hb, 2), m30));
                    for (int t = 0; t < NT; t++) {
                        const int8_t *xk = x->q + (size_t)(t0 + t) * n + 256 * b + 8 * g;
                        __m256i xa = _mm256_set1_epi32(load4(xk));
                        __m256i xb = _mm256_set1_epi32(load4(xk + 4));
                        __m256i lo = _mm256_add_epi16(_mm256_maddubs_epi16(a0, xa),
                                                      _mm256_maddubs_epi16(b0, xb));
                        __m256i hi = _mm256_add_epi16(_mm256_maddubs_epi16(a1, xa),
                                                      _mm256_maddubs_epi16(b1, xb));
                        acc[t][0] = _mm256_add_epi32(acc[t][0], _mm256_madd_epi16(lo, s0));
                        acc[t][1] = _mm256_add_epi32(acc[t][1], _mm256_madd_epi16(hi, s1));
                    }
                }
            }
        }
        __m256 d0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(unit + LM_Q6K_D)));
        __m256 d1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(unit + LM_Q6K_D + 16)));
        for (int t = 0; t < NT; t++) {
            __m256 sx = _mm256_set1_ps(x->s[(size_t)(t0 + t) * nb + b]);
            __m256 e0 = _mm256_mul_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(acc[t][0]), d0), sx);
            __m256 e1 = _mm256_mul_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(acc[t][1]), d1), sx);
            val[t][0] = _mm256_add_ps(val[t][0], e0);
            val[t][1] = _mm256_add_ps(val[t][1], e1);
        }
    }
    for (int t = 0; t < NT; t++)
        lm_avx2_store_panel(y + (size_t)(t0 + t) * d, p, r0, r1, val[t][0], val[t][1]);
}

void lm_matmul_q6_k_avx2(float *y, const lm_q8_act *x, const lm_packed *w, int T, int r0, int r1) {
    const int d = w->rows, nb = w->cols / 256;
    if (r1 > d) r1 = d;
    if (r0 >= r1 || T <= 0) return;
    if (nb * 8 > XS_CAP) { /* rows past 512k values: no chunk fits */
        lm_matmul_q6_k_scalar(y, x, w, T, r0, r1);
        return;
    }
    int32_t xs[XS_CAP];
    const int chunk = XS_CAP / (nb * 8);
    const int first = r0 / LM_PANEL, last = (r1 + LM_PANEL - 1) / LM_PANEL;
    for (int c0 = 0; c0 < T; c0 += chunk) {
        const int c1 = c0 + chunk < T ? c0 + chunk : T;
        for (int t = c0; t < c1; t++)
            act_sums(xs + (size_t)(t - c0) * nb * 8, x->q + (size_t)t * w->cols, nb);
        for (int p = first; p < last; p++) {
            int t = c0;
            for (; t + 4 <= c1; t += 4)
                block(y, x, w, xs + (size_t)(t - c0) * nb * 8, p, t, r0, r1, 4);
            for (; t + 2 <= c1; t += 2)
                block(y, x, w, xs + (size_t)(t - c0) * nb * 8, p, t, r0, r1, 2);
            if (t < c1) block(y, x, w, xs + (size_t)(t - c0) * nb * 8, p, t, r0, r1, 1);
        }
    }
}
