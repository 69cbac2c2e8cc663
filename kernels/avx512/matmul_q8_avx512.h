/* The Q8_0 matrix product shared by matmul_q8_avx512.c and
 * matmul_q8_avx512vnni.c, which differ only in the int8 dot product: each
 * defines q8_dot(acc, u, s) = acc + (4-byte sums of u * s in 16 int32 lanes),
 * u unsigned and s signed bytes, before including this file; the VNNI file
 * also defines Q8_OFFSET (below).
 *
 * Both operands are signed, so one is made unsigned:
 * - the sign trick: u = |x| and s = w with x's sign (AVX-512 has no vpsignb
 *   for zmm: a masked subtract from zero where x < 0). Weights and activations
 *   are in [-127, 127] as quantize_q8 makes them, so the negation never
 *   overflows and maddubs' pair sums (at most 2 * 127 * 127) fit their int16;
 * - the offset trick (Q8_OFFSET, vpdpbusd only, whose 4-byte sums of
 *   255 * 127 cannot saturate): u = x + 128, and the accumulator starts at
 *   -128 * sum(w), computed once per weight chunk and shared by all tokens.
 *   Per token and row this saves the sign step; with one token it costs more
 *   than it saves, so single-token tiles keep the sign trick.
 * Both give the exact integer sums, so a row's value does not depend on which
 * trick its tile used.
 *
 * The fast path needs n % gs == 0, so that every row holds whole groups and
 * weight and activation groups coincide, and either gs a multiple of 64 (a
 * group is whole 64-byte chunks: exact int32 sums per group, then one fp32
 * scaling) or gs = 32 or 16 (a chunk holds 2 or 4 groups: every int32 lane is
 * converted and scaled by its own group's scales, spread over the lanes by a
 * permute). Anything else goes to the scalar oracle, which cuts rows at every
 * group boundary.
 *
 * As in matmul_f32, every output goes through the same steps whatever tile
 * covers it (same accumulator, same reduction tree), so rows do not depend on
 * the row range. */
#ifndef LAMINA_KERNELS_AVX512_MATMUL_Q8_H
#define LAMINA_KERNELS_AVX512_MATMUL_Q8_H

#include <immintrin.h>

#include "math_avx512.h"
#include "scalar/scalar.h"

#ifndef Q8_OFFSET
#define Q8_OFFSET 0
#endif

/* How a chunk of 64 bytes relates to the groups, a constant per call site. */
enum { Q8_G64 = 0, Q8_GBIG = 1, Q8_G32 = 2, Q8_G16 = 3 };

/* Bytes of weights per panel of rows: kept in L2 while every token block
 * passes over it. */
#define Q8_PANEL_BYTES (512 * 1024)

/* One token's chunk for either trick: u = x + 128 (offset), or u = |x| and
 * neg = x < 0 (sign). */
static inline __m512i q8_prepare(__m512i xv, __mmask64 *neg, int OFF) {
    if (OFF) return _mm512_xor_si512(xv, _mm512_set1_epi8(-128));
    *neg = _mm512_movepi8_mask(xv);
    return _mm512_abs_epi8(xv);
}

/* -128 * (4-byte sums of w): the offset trick's starting value. */
static inline __m512i q8_offset_start(__m512i acc, __m512i wv) {
    return _mm512_sub_epi32(acc, q8_dot(_mm512_setzero_si512(), _mm512_set1_epi8(-128), wv));
}

/* acc + x . w for one chunk (acc already holds the offset correction). */
static inline __m512i q8_step(__m512i acc, __m512i u, __mmask64 neg, __m512i wv, int OFF) {
    if (OFF) return q8_dot(acc, u, wv);
    return q8_dot(acc, u, _mm512_mask_sub_epi8(wv, neg, _mm512_setzero_si512(), wv));
}

/* R rows from i0, C tokens from t0, of which the first nr rows and nc tokens
 * are real; the others repeat the last real one and are not stored. */
static inline __attribute__((always_inline)) void q8_tile(float *y, const lm_q8_act *x,
                                                          const lm_q8 *w, int n, int d, int i0,
                                                          int nr, int t0, int nc, int R, int C,
                                                          int MODE, int OFF) {
    const int gs = w->gs, groups = n / gs;
    const int8_t *wq[8], *xq[8];
    const float *ws[8], *xs[8];
    for (int r = 0; r < R; r++) {
        const int i = i0 + (r < nr ? r : nr - 1);
        wq[r] = w->q + (size_t)i * n;
        ws[r] = w->s + (size_t)i * groups;
    }
    for (int c = 0; c < C; c++) {
        const int t = t0 + (c < nc ? c : nc - 1);
        xq[c] = x->q + (size_t)t * n;
        xs[c] = x->s + (size_t)t * groups;
    }
    __m512 acc[32];
    for (int o = 0; o < R * C; o++) acc[o] = _mm512_setzero_ps();
    const __m512i zero = _mm512_setzero_si512();

    if (MODE == Q8_G64) {
        /* A group is one chunk: each row's products go straight to fp32, so
         * only C int32 sums are live at a time, not R * C. */
        for (int g = 0; g < groups; g++) {
            const size_t j = (size_t)g * 64;
            __m512i u[8];
            __mmask64 neg[8] = {0};
            for (int c = 0; c < C; c++)
                u[c] = q8_prepare(_mm512_loadu_si512(xq[c] + j), &neg[c], OFF);
            for (int r = 0; r < R; r++) {
                const __m512i wv = _mm512_loadu_si512(wq[r] + j);
                const __m512i start = OFF ? q8_offset_start(zero, wv) : zero;
                const __m512 wsv = _mm512_set1_ps(ws[r][g]);
                for (int c = 0; c < C; c++) {
                    const __m512i is = q8_step(start, u[c], neg[c], wv, OFF);
                    const __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(is), wsv);
                    acc[c * R + r] = _mm512_fmadd_ps(f, _mm512_set1_ps(xs[c][g]), acc[c * R + r]);
                }
            }
        }
    } else if (MODE == Q8_GBIG) {
        const int chunks = gs / 64;
        for (int g = 0; g < groups; g++) {
            const size_t j0 = (size_t)g * gs;
            __m512i isum[32];
            for (int r = 0; r < R; r++) {
                __m512i start = zero;
                if (OFF)
                    for (int ch = 0; ch < chunks; ch++)
                        start = q8_offset_start(start, _mm512_loadu_si512(wq[r] + j0 + 64 * ch));
                for (int c = 0; c < C; c++) isum[c * R + r] = start;
            }
            for (int ch = 0; ch < chunks; ch++) {
                const size_t j = j0 + 64 * (size_t)ch;
                __m512i u[8];
                __mmask64 neg[8] = {0};
                for (int c = 0; c < C; c++)
                    u[c] = q8_prepare(_mm512_loadu_si512(xq[c] + j), &neg[c], OFF);
                for (int r = 0; r < R; r++) {
                    const __m512i wv = _mm512_loadu_si512(wq[r] + j);
                    for (int c = 0; c < C; c++)
                        isum[c * R + r] = q8_step(isum[c * R + r], u[c], neg[c], wv, OFF);
                }
            }
            for (int r = 0; r < R; r++) {
                const __m512 wsv = _mm512_set1_ps(ws[r][g]);
                for (int c = 0; c < C; c++) {
                    const __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(isum[c * R + r]), wsv);
                    acc[c * R + r] = _mm512_fmadd_ps(f, _mm512_set1_ps(xs[c][g]), acc[c * R + r]);
                }
            }
        }
    } else {
        /* Lane l covers bytes 4l .. 4l + 3 of the chunk, in its group l / (gs / 4). */
        const __m512i lane =
            _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        const __m512i idx = _mm512_srli_epi32(lane, MODE == Q8_G32 ? 3 : 2);
        const int gpc = MODE == Q8_G32 ? 2 : 4; /* groups per chunk */
        for (int j = 0; j < n; j += 64) {
            /* Masked loads for the last, partial chunk; the loaded scales past
             * the row's groups are 0 and so are the bytes they would scale. */
            const int bytes = n - j < 64 ? n - j : 64;
            const __mmask64 bm = lm_avx512_mask64(bytes);
            const __mmask16 gm = lm_avx512_mask16(bytes < 64 ? (bytes + gs - 1) / gs : gpc);
            const int g = j / gs;
            __m512i u[8];
            __mmask64 neg[8] = {0};
            __m512 xsv[8];
            for (int c = 0; c < C; c++) {
                u[c] = q8_prepare(_mm512_maskz_loadu_epi8(bm, xq[c] + j), &neg[c], OFF);
                xsv[c] = _mm512_permutexvar_ps(idx, _mm512_maskz_loadu_ps(gm, xs[c] + g));
            }
            for (int r = 0; r < R; r++) {
                const __m512i wv = _mm512_maskz_loadu_epi8(bm, wq[r] + j);
                const __m512 wsv = _mm512_permutexvar_ps(idx, _mm512_maskz_loadu_ps(gm, ws[r] + g));
                const __m512i start = OFF ? q8_offset_start(zero, wv) : zero;
                for (int c = 0; c < C; c++) {
                    const __m512i is = q8_step(start, u[c], neg[c], wv, OFF);
                    const __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(is), wsv);
                    acc[c * R + r] = _mm512_fmadd_ps(f, xsv[c], acc[c * R + r]);
                }
            }
        }
    }

    float out[32];
    for (int o0 = 0; o0 < R * C; o0 += 16) {
        __m512 v[16];
        for (int j = 0; j < 16; j++) v[j] = o0 + j < R * C ? acc[o0 + j] : _mm512_setzero_ps();
        _mm512_storeu_ps(out + o0, lm_avx512_reduce16(v));
    }
    for (int c = 0; c < nc; c++)
        for (int r = 0; r < nr; r++) y[(size_t)(t0 + c) * d + i0 + r] = out[c * R + r];
}

static inline __attribute__((always_inline)) void q8_rows(float *y, const lm_q8_act *x,
                                                          const lm_q8 *w, int n, int d, int i0,
                                                          int i1, int t0, int nc, int R, int C,
                                                          int MODE, int OFF) {
    for (int i = i0; i < i1; i += R)
        q8_tile(y, x, w, n, d, i, i1 - i < R ? i1 - i : R, t0, nc, R, C, MODE, OFF);
}

/* Rows [r0, r1) in panels, each against every token block. Tokens go in
 * blocks of at most 4, as even as possible, each with the tile of its width
 * that fills the registers; the blocks depend on T only. */
static inline __attribute__((always_inline)) void q8_matmul(float *y, const lm_q8_act *x,
                                                            const lm_q8 *w, int T, int n, int d,
                                                            int r0, int r1, int MODE) {
    if (T == 1) {
        q8_rows(y, x, w, n, d, r0, r1, 0, 1, 8, 1, MODE, 0);
        return;
    }
    int panel = Q8_PANEL_BYTES / (n > 0 ? n : 1);
    panel = panel < 24 ? 24 : panel / 24 * 24;
    const int blocks = (T + 3) / 4;
    for (int p0 = r0; p0 < r1; p0 += panel) {
        const int p1 = r1 - p0 < panel ? r1 : p0 + panel;
        for (int b = 0, t = 0; b < blocks; b++) {
            const int nc = T / blocks + (b < T % blocks);
            switch (nc) {
            case 1: q8_rows(y, x, w, n, d, p0, p1, t, 1, 8, 1, MODE, 0); break;
            case 2: q8_rows(y, x, w, n, d, p0, p1, t, 2, 8, 2, MODE, Q8_OFFSET); break;
            case 3: q8_rows(y, x, w, n, d, p0, p1, t, 3, 6, 3, MODE, Q8_OFFSET); break;
            default: q8_rows(y, x, w, n, d, p0, p1, t, 4, 4, 4, MODE, Q8_OFFSET); break;
            }
            t += nc;
        }
    }
}

/* The entry point's body: the fast path's modes, or the scalar oracle. */
static inline __attribute__((always_inline)) void
q8_dispatch(float *y, const lm_q8_act *x, const lm_q8 *w, int T, int n, int d, int r0, int r1) {
    const int gs = w->gs;
    if (r0 >= r1 || T <= 0) return;
    if (gs <= 0 || x->gs != gs || n % gs != 0) {
        lm_matmul_q8_scalar(y, x, w, T, n, d, r0, r1);
    } else if (gs == 64) {
        q8_matmul(y, x, w, T, n, d, r0, r1, Q8_G64);
    } else if (gs % 64 == 0) {
        q8_matmul(y, x, w, T, n, d, r0, r1, Q8_GBIG);
    } else if (gs == 32) {
        q8_matmul(y, x, w, T, n, d, r0, r1, Q8_G32);
    } else if (gs == 16) {
        q8_matmul(y, x, w, T, n, d, r0, r1, Q8_G16);
    } else {
        lm_matmul_q8_scalar(y, x, w, T, n, d, r0, r1);
    }
}

#endif
