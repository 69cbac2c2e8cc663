/* The legacy block products (Q4_0, Q4_1, Q5_0, Q5_1) with AVX2 on the panels
 * of kernels/quant/qlegacy.h; each matmul_<type>_avx2.c instantiates it. One
 * 32-byte load is 4 consecutive k of 16 rows: its low nibbles (and 15) are
 * rows 0-7, its high nibbles (shift 4, and 15) rows 8-15, each row's 4 values
 * in its own int32 lane; Q5's 5th bits are bit c of the block's qh bytes of
 * the same rows, moved to bit 4 (shift, and 0x10) and or-ed in. maddubs
 * multiplies the unsigned values (at most 31) by the activation bytes (pair
 * sums at most 2 * 31 * 128, exact) and up to 8 quads (4 for Q5) of int16 sums
 * stay below 2^15 before madd widens them: the exact int32 sum of value * x.
 * The offset (8, 16) is taken out exactly as offset * xsum in int32, xsum the
 * block's activation sum, computed once per call. Then each row's lane adds
 * ((float)isum * d) * s_x (and ((float)xsum * m) * s_x) with mul, mul, add:
 * kernels/ORDER.md's order, no horizontal sums, no FMA. Decode (T = 1)
 * streams the panels; prefill takes 4 tokens per pass over a panel. */
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#include "avx2.h"
#include "quant/qlegacy.h"
#include "math_avx2.h"

/* The sum of each 32-byte block of one token's activations. */
static inline void ql_xsums(int32_t *out, const int8_t *xq, int nb) {
    const __m256i ones8 = _mm256_set1_epi8(1), ones16 = _mm256_set1_epi16(1);
    for (int b = 0; b < nb; b++) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(xq + 32 * b));
        __m256i s = _mm256_madd_epi16(_mm256_maddubs_epi16(ones8, v), ones16);
        __m128i h = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
        h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4e));
        h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0xb1));
        out[b] = _mm_cvtsi128_si32(h);
    }
}

/* Bit c of each byte of h moved to bit 4 (epi16 shifts by at most 4 keep
 * each byte's bit 4 inside its byte). */
static inline __m256i ql_bit4(__m256i h, int c) {
    __m256i s = c <= 4 ? _mm256_sll_epi16(h, _mm_cvtsi32_si128(4 - c))
                       : _mm256_srl_epi16(h, _mm_cvtsi32_si128(c - 4));
    return _mm256_and_si256(s, _mm256_set1_epi8(0x10));
}

static inline __attribute__((always_inline)) void
ql_tile(float *y, const lm_q8_act *x, const int32_t *xsum, const lm_packed *w, int p, int t0,
        int r0, int r1, const int NT, const int has_m, const int has_h, const int offset) {
    const int n = w->cols, d = w->rows, nb = n / 32;
    const size_t bpb = LM_QL_BP(has_m, has_h);
    const uint8_t *panel = w->blk + (size_t)p * (size_t)nb * bpb;
    const int8_t *xq = x->q + (size_t)t0 * n;
    const float *xs = x->s + (size_t)t0 * nb;
    const int32_t *xsm = xsum + (size_t)t0 * nb;
    const __m256i mask = _mm256_set1_epi8(15), ones16 = _mm256_set1_epi16(1);
    __m256 val[4][2];
    for (int t = 0; t < NT; t++) val[t][0] = val[t][1] = _mm256_setzero_ps();
    for (int b = 0; b < nb; b++) {
        const uint8_t *bp = panel + (size_t)b * bpb;
        if (NT == 1)
            for (size_t o = 0; o < bpb; o += 64)
                _mm_prefetch((const char *)bp + 1536 + o, _MM_HINT_T0);
        const uint8_t *qs = bp + lm_ql_qs_off(has_m, has_h);
        __m256i hlo = _mm256_setzero_si256(), hhi = hlo;
        if (has_h) {
            hlo = _mm256_loadu_si256((const __m256i *)(bp + lm_ql_qh_off(has_m)));
            hhi = _mm256_loadu_si256((const __m256i *)(bp + lm_ql_qh_off(has_m) + 32));
        }
        __m256i acc[4][2], isum[4][2];
        for (int t = 0; t < NT; t++) {
            acc[t][0] = acc[t][1] = _mm256_setzero_si256();
            isum[t][0] = isum[t][1] = _mm256_setzero_si256();
        }
#pragma GCC unroll 8
        for (int c = 0; c < 8; c++) {
            __m256i v = _mm256_loadu_si256((const __m256i *)(qs + 32 * c));
            __m256i lo = _mm256_and_si256(v, mask);
            __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), mask);
            if (has_h) {
                lo = _mm256_or_si256(lo, ql_bit4(hlo, c));
                hi = _mm256_or_si256(hi, ql_bit4(hhi, c));
            }
            for (int t = 0; t < NT; t++) {
                int32_t x4;
                memcpy(&x4, xq + (size_t)t * n + 32 * b + 4 * c, 4);
                __m256i xb = _mm256_set1_epi32(x4);
                acc[t][0] = _mm256_add_epi16(acc[t][0], _mm256_maddubs_epi16(lo, xb));
                acc[t][1] = _mm256_add_epi16(acc[t][1], _mm256_maddubs_epi16(hi, xb));
            }
            if (c == 7 || (has_h && c == 3)) /* int16 sums stay exact */
                for (int t = 0; t < NT; t++)
                    for (int h = 0; h < 2; h++) {
                        isum[t][h] =
                            _mm256_add_epi32(isum[t][h], _mm256_madd_epi16(acc[t][h], ones16));
                        acc[t][h] = _mm256_setzero_si256();
                    }
        }
        __m256 dlo = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)bp));
        __m256 dhi = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(bp + 16)));
        __m256 mlo = _mm256_setzero_ps(), mhi = mlo;
        if (has_m) {
            mlo = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(bp + lm_ql_m_off())));
            mhi = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(bp + lm_ql_m_off() + 16)));
        }
        for (int t = 0; t < NT; t++) {
            const int32_t xsv = xsm[(size_t)t * nb + b];
            const __m256 sx = _mm256_set1_ps(xs[(size_t)t * nb + b]);
            __m256i i0 = isum[t][0], i1 = isum[t][1];
            if (offset) {
                __m256i corr = _mm256_set1_epi32(offset * xsv);
                i0 = _mm256_sub_epi32(i0, corr);
                i1 = _mm256_sub_epi32(i1, corr);
            }
            val[t][0] = _mm256_add_ps(
                val[t][0], _mm256_mul_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(i0), dlo), sx));
            val[t][1] = _mm256_add_ps(
                val[t][1], _mm256_mul_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(i1), dhi), sx));
            if (has_m) {
                const __m256 fx = _mm256_set1_ps((float)xsv);
                val[t][0] = _mm256_add_ps(val[t][0], _mm256_mul_ps(_mm256_mul_ps(fx, mlo), sx));
                val[t][1] = _mm256_add_ps(val[t][1], _mm256_mul_ps(_mm256_mul_ps(fx, mhi), sx));
            }
        }
    }
    for (int t = 0; t < NT; t++)
        lm_avx2_store_panel(y + (size_t)(t0 + t) * d, p, r0, r1, val[t][0], val[t][1]);
}

/* Activation sums of up to this many blocks (all tokens) live on the stack. */
#define QL_STACK_SUMS 4096

static inline __attribute__((always_inline)) void ql_avx2(float *y, const lm_q8_act *x,
                                                          const lm_packed *w, int T, int r0, int r1,
                                                          lm_matmul_blk_fn oracle, const int has_m,
                                                          const int has_h, const int offset) {
    const int n = w->cols, d = w->rows, nb = n / 32;
    if (r1 > d) r1 = d;
    if (r0 >= r1 || T <= 0) return;
    int32_t stack[QL_STACK_SUMS], *xsum = stack;
    size_t cnt = (size_t)T * (size_t)nb;
    if (cnt > QL_STACK_SUMS && !(xsum = malloc(cnt * sizeof(int32_t)))) {
        oracle(y, x, w, T, r0, r1); /* the same bits, slower */
        return;
    }
    for (int t = 0; t < T; t++) ql_xsums(xsum + (size_t)t * nb, x->q + (size_t)t * n, nb);
    const int first = r0 / LM_PANEL, last = (r1 + LM_PANEL - 1) / LM_PANEL;
    for (int p = first; p < last; p++) {
        int t0 = 0;
        for (; t0 + 4 <= T; t0 += 4) ql_tile(y, x, xsum, w, p, t0, r0, r1, 4, has_m, has_h, offset);
        for (; t0 < T; t0++) ql_tile(y, x, xsum, w, p, t0, r0, r1, 1, has_m, has_h, offset);
    }
    if (xsum != stack) free(xsum);
}
