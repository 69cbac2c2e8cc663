/* The Q4_K / Q5_K products with AVX2 on the panels of kernels/quant/kq45.h,
 * shared by matmul_q4_k_avx2.c and matmul_q5_k_avx2.c. One 32-byte load is
 * 4 k of 8 rows of two sub-blocks (low and high nibbles; Q5_K ors in the
 * fifth bit from QH). maddubs multiplies the unsigned quants (at most 31) by
 * the activation bytes (pair sums at most 2 * 31 * 128, exact in int16); the
 * pairs add up in int16 over 8 k-steps for Q4_K (8 * 3840 < 2^15) and 4 for
 * Q5_K (4 * 7936 < 2^15), then madd with the sub-block's scale repeated in
 * both halves of each row's lane gives sc_j * isum_j in int32: S exactly. M
 * is madd of the mins (two sub-blocks a lane) with the activation sums.
 * Then per row lane the float steps of ORDER.md with mul, mul, add, sub
 * (never fused). Rows in lanes, no horizontal sums: the oracle's chains. */
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#include "avx2.h"
#include "quant/kq45.h"
#include "scalar/scalar.h"
#include "math_avx2.h"

/* Fifth bits of sub-blocks 2c (lo) and 2c + 1 (hi) moved to bit 4 of each
 * byte: one 16-bit shift each by a constant (c is unrolled), bits 2c and
 * 2c + 1 travel at most 4 places and stay in their byte; the mask drops the
 * rest. */
static inline __attribute__((always_inline)) __m256i kq_hbit(__m256i h, const int from) {
    const __m256i b4 = _mm256_set1_epi8(0x10);
    if (from < 4) h = _mm256_slli_epi16(h, 4 - from);
    if (from > 4) h = _mm256_srli_epi16(h, from - 4);
    return _mm256_and_si256(h, b4);
}

/* Sub-block j's 6-bit scale (min: sub-block j's min) of the 16 rows from a
 * cell's SCM bytes: lm_kq_scale_min across rows. The 16-bit shifts move a
 * byte's bits 6-7 to 4-5 and its high nibble to the low one; the masks drop
 * what crossed in from the neighbouring byte. j is a constant where the loops
 * are unrolled (the shifts are literals either way). */
static inline __attribute__((always_inline)) __m128i kq_six(const uint8_t *scm, const int j,
                                                            const int min) {
    const __m128i lo6 = _mm_set1_epi8(63), lo4 = _mm_set1_epi8(15), b45 = _mm_set1_epi8(0x30);
    if (j < 4)
        return _mm_and_si128(_mm_loadu_si128((const __m128i *)(scm + 16 * (j + 4 * min))), lo6);
    const __m128i r = _mm_loadu_si128((const __m128i *)(scm + 16 * (j + 4)));
    const __m128i top = _mm_loadu_si128((const __m128i *)(scm + 16 * (min ? j : j - 4)));
    const __m128i low = min ? _mm_and_si128(_mm_srli_epi16(r, 4), lo4) : _mm_and_si128(r, lo4);
    return _mm_or_si128(low, _mm_and_si128(_mm_srli_epi16(top, 2), b45));
}

/* Sub-block scales v (one byte per row) of rows 0-7 (hi: 8-15), each as an
 * int16 pair (sc, sc). */
static inline __m256i kq_scales(__m128i v16, int hi) {
    __m256i v = _mm256_broadcastsi128_si256(v16);
    const char z = (char)0x80;
    const char o = hi ? 8 : 0;
    __m256i mask = _mm256_setr_epi8(o, z, o, z, o + 1, z, o + 1, z, o + 2, z, o + 2, z, o + 3, z,
                                    o + 3, z, o + 4, z, o + 4, z, o + 5, z, o + 5, z, o + 6, z,
                                    o + 6, z, o + 7, z, o + 7, z);
    return _mm256_shuffle_epi8(v, mask);
}

/* A cell's scales and mins decoded once for every token of a prefill (kq_block
 * reads them there when PRE, a constant, is set):
 * KQ_DEC bytes, sub-block j's 16 scales at 16 j, then the mins of sub-blocks
 * 2jp and 2jp + 1 as (m, m') byte pairs of rows 0-15 at 128 + 32 jp. */
#define KQ_DEC 256
static inline void kq_decode(uint8_t *o, const uint8_t *cell, const int Q5) {
    const uint8_t *scm = cell + lm_kq_scm(Q5);
#pragma GCC unroll 4
    for (int c = 0; c < 4; c++) {
        _mm_storeu_si128((__m128i *)(o + 32 * c), kq_six(scm, 2 * c, 0));
        _mm_storeu_si128((__m128i *)(o + 32 * c + 16), kq_six(scm, 2 * c + 1, 0));
        const __m128i ma = kq_six(scm, 2 * c, 1), mb = kq_six(scm, 2 * c + 1, 1);
        _mm_storeu_si128((__m128i *)(o + 128 + 32 * c), _mm_unpacklo_epi8(ma, mb));
        _mm_storeu_si128((__m128i *)(o + 128 + 32 * c + 16), _mm_unpackhi_epi8(ma, mb));
    }
}

static inline __attribute__((always_inline)) void
kq_block(float *y, const lm_q8_act *x, const lm_packed *w, const int16_t *xsum, const uint8_t *dec,
         int p, int t0, int r0, int r1, const int NT, const int Q5, const int PRE) {
    const int n = w->cols, d = w->rows, nsb = n / 256, ng = n / 32;
    const int8_t *xq = x->q + (size_t)t0 * n;
    const float *xs = x->s + (size_t)t0 * nsb;
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    const int steps = Q5 ? 4 : 8; /* k-steps summed in int16 before the scales */
    __m256 val[4][2];
    for (int t = 0; t < NT; t++) val[t][0] = val[t][1] = _mm256_setzero_ps();
    for (int b = 0; b < nsb; b++) {
        const uint8_t *cell = lm_kq_cell_at(w, p, b, Q5);
        __m256i S[4][2], M[4][2];
        for (int t = 0; t < NT; t++) S[t][0] = S[t][1] = M[t][0] = M[t][1] = _mm256_setzero_si256();
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++) {
            const uint8_t *scm = cell + lm_kq_scm(Q5), *db = PRE ? dec + (size_t)b * KQ_DEC : scm;
            const __m128i sca =
                PRE ? _mm_loadu_si128((const __m128i *)(db + 32 * c)) : kq_six(scm, 2 * c, 0);
            const __m128i scb = PRE ? _mm_loadu_si128((const __m128i *)(db + 32 * c + 16))
                                    : kq_six(scm, 2 * c + 1, 0);
            const __m256i sa0 = kq_scales(sca, 0), sa1 = kq_scales(sca, 1);
            const __m256i sb0 = kq_scales(scb, 0), sb1 = kq_scales(scb, 1);
            for (int s0 = 0; s0 < 8; s0 += steps) {
                __m256i acc[4][4];
                for (int t = 0; t < NT; t++)
                    acc[t][0] = acc[t][1] = acc[t][2] = acc[t][3] = _mm256_setzero_si256();
                    /* not unrolled further: gcc spilled every product of a full unroll */
#pragma GCC unroll 2
                for (int s = s0; s < s0 + steps; s++) {
                    const uint8_t *q = cell + LM_KQ_QS + c * 512 + s * 64;
                    if (NT == 1) _mm_prefetch((const char *)q + 1024, _MM_HINT_T0);
                    __m256i v0 = _mm256_loadu_si256((const __m256i *)q);
                    __m256i v1 = _mm256_loadu_si256((const __m256i *)(q + 32));
                    __m256i a0 = _mm256_and_si256(v0, m4), a1 = _mm256_and_si256(v1, m4);
                    __m256i b0 = _mm256_and_si256(_mm256_srli_epi16(v0, 4), m4);
                    __m256i b1 = _mm256_and_si256(_mm256_srli_epi16(v1, 4), m4);
                    if (Q5) {
                        const uint8_t *qh = cell + LM_KQ_QH + s * 64;
                        /* the next cell's QH is read first, before its QS
                         * that the prefetch above runs along: fetch it now */
                        if (NT == 1 && c == 0)
                            _mm_prefetch((const char *)qh + LM_Q5K_CELL, _MM_HINT_T0);
                        __m256i h0 = _mm256_loadu_si256((const __m256i *)qh);
                        __m256i h1 = _mm256_loadu_si256((const __m256i *)(qh + 32));
                        a0 = _mm256_or_si256(a0, kq_hbit(h0, 2 * c));
                        a1 = _mm256_or_si256(a1, kq_hbit(h1, 2 * c));
                        b0 = _mm256_or_si256(b0, kq_hbit(h0, 2 * c + 1));
                        b1 = _mm256_or_si256(b1, kq_hbit(h1, 2 * c + 1));
                    }
                    for (int t = 0; t < NT; t++) {
                        const int8_t *xt = xq + (size_t)t * n + b * 256 + c * 64 + s * 4;
                        int32_t xa4, xb4;
                        memcpy(&xa4, xt, 4);
                        memcpy(&xb4, xt + 32, 4);
                        __m256i xa = _mm256_set1_epi32(xa4), xb = _mm256_set1_epi32(xb4);
                        acc[t][0] = _mm256_add_epi16(acc[t][0], _mm256_maddubs_epi16(a0, xa));
                        acc[t][1] = _mm256_add_epi16(acc[t][1], _mm256_maddubs_epi16(a1, xa));
                        acc[t][2] = _mm256_add_epi16(acc[t][2], _mm256_maddubs_epi16(b0, xb));
                        acc[t][3] = _mm256_add_epi16(acc[t][3], _mm256_maddubs_epi16(b1, xb));
                    }
                }
                for (int t = 0; t < NT; t++) {
                    S[t][0] = _mm256_add_epi32(S[t][0], _mm256_madd_epi16(acc[t][0], sa0));
                    S[t][1] = _mm256_add_epi32(S[t][1], _mm256_madd_epi16(acc[t][1], sa1));
                    S[t][0] = _mm256_add_epi32(S[t][0], _mm256_madd_epi16(acc[t][2], sb0));
                    S[t][1] = _mm256_add_epi32(S[t][1], _mm256_madd_epi16(acc[t][3], sb1));
                }
            }
        }
        for (int jp = 0; jp < 4; jp++) {
            /* the mins of sub-blocks 2jp and 2jp + 1 as (m, m') int16 pairs */
            const uint8_t *scm = cell + lm_kq_scm(Q5);
            const uint8_t *db = PRE ? dec + (size_t)b * KQ_DEC + 128 : scm;
            __m128i pa, pb;
            if (PRE) {
                pa = _mm_loadu_si128((const __m128i *)(db + 32 * jp));
                pb = _mm_loadu_si128((const __m128i *)(db + 32 * jp + 16));
            } else {
                const __m128i ma = kq_six(scm, 2 * jp, 1), mb = kq_six(scm, 2 * jp + 1, 1);
                pa = _mm_unpacklo_epi8(ma, mb), pb = _mm_unpackhi_epi8(ma, mb);
            }
            __m256i m0 = _mm256_cvtepu8_epi16(pa), m1 = _mm256_cvtepu8_epi16(pb);
            for (int t = 0; t < NT; t++) {
                int32_t x2;
                memcpy(&x2, xsum + (size_t)t * ng + b * 8 + jp * 2, 4);
                __m256i xv = _mm256_set1_epi32(x2);
                M[t][0] = _mm256_add_epi32(M[t][0], _mm256_madd_epi16(m0, xv));
                M[t][1] = _mm256_add_epi32(M[t][1], _mm256_madd_epi16(m1, xv));
            }
        }
        __m256 dv[2], mv[2];
        for (int h = 0; h < 2; h++) {
            dv[h] =
                _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(cell + lm_kq_d(Q5) + 16 * h)));
            mv[h] =
                _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(cell + lm_kq_dmin(Q5) + 16 * h)));
        }
        for (int t = 0; t < NT; t++) {
            __m256 sx = _mm256_set1_ps(xs[(size_t)t * nsb + b]);
            for (int h = 0; h < 2; h++) {
                __m256 a = _mm256_mul_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(S[t][h]), dv[h]), sx);
                __m256 m = _mm256_mul_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(M[t][h]), mv[h]), sx);
                val[t][h] = _mm256_sub_ps(_mm256_add_ps(val[t][h], a), m);
            }
        }
    }
    for (int t = 0; t < NT; t++)
        lm_avx2_store_panel(y + (size_t)(t0 + t) * d, p, r0, r1, val[t][0], val[t][1]);
}

/* Activation sums of this many groups at most live on the stack; the tokens
 * are taken in chunks that fit. */
#define KQ_XSUMS 8192
/* Rows of up to this many super-blocks get their scales decoded per panel. */
#define KQ_DEC_CELLS 64

static inline __attribute__((always_inline)) void
kq_matmul(float *y, const lm_q8_act *x, const lm_packed *w, int T, int r0, int r1, const int Q5) {
    const int n = w->cols, d = w->rows, ng = n / 32;
    if (r1 > d) r1 = d;
    if (r0 >= r1 || T <= 0) return;
    if (ng > KQ_XSUMS) { /* rows of over 262144 values: the oracle, plain */
        (Q5 ? lm_matmul_q5_k_scalar : lm_matmul_q4_k_scalar)(y, x, w, T, r0, r1);
        return;
    }
    int16_t xsum[KQ_XSUMS];
    _Alignas(32) uint8_t decoded[KQ_DEC_CELLS * KQ_DEC];
    const int nsb = n / 256;
    const int chunk = KQ_XSUMS / ng;
    const int first = r0 / LM_PANEL, last = (r1 + LM_PANEL - 1) / LM_PANEL;
    for (int c0 = 0; c0 < T; c0 += chunk) {
        const int c1 = c0 + chunk < T ? c0 + chunk : T;
        for (int t = c0; t < c1; t++)
            lm_kq_xsums(xsum + (size_t)(t - c0) * ng, x->q + (size_t)t * n, n);
        lm_q8_act xc = {x->q + (size_t)c0 * n, x->s + (size_t)c0 * (n / 256), x->gs};
        float *yc = y + (size_t)c0 * d;
        for (int p = first; p < last; p++) {
            int t0 = 0, nt = c1 - c0;
            /* several token pairs: each cell's scales decoded once, not per pair */
            const uint8_t *dec = NULL;
            if (nt > 2 && nsb <= KQ_DEC_CELLS) {
                for (int b = 0; b < nsb; b++)
                    kq_decode(decoded + (size_t)b * KQ_DEC, lm_kq_cell_at(w, p, b, Q5), Q5);
                dec = decoded;
            }
            if (dec) {
                for (; t0 + 2 <= nt; t0 += 2)
                    kq_block(yc, &xc, w, xsum + t0 * ng, dec, p, t0, r0, r1, 2, Q5, 1);
                if (t0 < nt) kq_block(yc, &xc, w, xsum + t0 * ng, dec, p, t0, r0, r1, 1, Q5, 1);
                continue;
            }
            for (; t0 + 2 <= nt; t0 += 2)
                kq_block(yc, &xc, w, xsum + t0 * ng, NULL, p, t0, r0, r1, 2, Q5, 0);
            if (t0 < nt) kq_block(yc, &xc, w, xsum + t0 * ng, NULL, p, t0, r0, r1, 1, Q5, 0);
        }
    }
}
