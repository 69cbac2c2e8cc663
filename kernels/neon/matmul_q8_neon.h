/* The Q8_0 product shared by matmul_q8_neon.c and matmul_q8_neondot.c, which
 * differ only in the 16-byte integer dot they pass in (vmull/vpadal or sdot);
 * the driver is always inlined so that call becomes that instruction sequence.
 *
 * Fast path (n % gs == 0, gs % 16 == 0, same gs for weights and activations):
 * every group lies inside one row, so per group an exact int32 dot; four
 * groups at a time are folded into one vector of group sums, converted and
 * scaled by the weight and activation scales (the oracle's two roundings),
 * then added to the row's fp32 sum in group order. Integer sums are exact in
 * any order, so the result equals the scalar oracle's bit for bit, whatever the
 * tile, row range or T. Other shapes go to the scalar oracle. */
#ifndef LAMINA_KERNELS_NEON_MATMUL_Q8_H
#define LAMINA_KERNELS_NEON_MATMUL_Q8_H

#include <arm_neon.h>
#include <stddef.h>

#include "scalar/scalar.h"

#define LM_Q8_INLINE static inline __attribute__((always_inline))

/* acc += the 16 products a[k] * b[k], spread over acc's four lanes. */
typedef int32x4_t (*lm_q8_dot16)(int32x4_t acc, int8x16_t a, int8x16_t b);

/* The integer dot of group g for R rows x TT tokens; zero where the group does
 * not exist (the last batch of a row may hold fewer than four groups). */
LM_Q8_INLINE void lm_q8_group_dot(int32x4_t acc[4][2], const int8_t *wq[4], const int8_t *xq[2],
                                  int g, int gs, int active, const int R, const int TT,
                                  lm_q8_dot16 dot16) {
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 2
        for (int t = 0; t < TT; t++) acc[r][t] = vdupq_n_s32(0);
    if (!active) return;
    const size_t o = (size_t)g * gs;
    for (int c = 0; c < gs; c += 16) {
        int8x16_t wv[4], xv[2];
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) wv[r] = vld1q_s8(wq[r] + o + c);
#pragma GCC unroll 2
        for (int t = 0; t < TT; t++) xv[t] = vld1q_s8(xq[t] + o + c);
#pragma GCC unroll 4
        for (int r = 0; r < R; r++)
#pragma GCC unroll 2
            for (int t = 0; t < TT; t++) acc[r][t] = dot16(acc[r][t], wv[r], xv[t]);
    }
}

/* Four scales from p, or the 1 <= nk < 4 that exist and zeros: reading past
 * the last group of the last row would leave the buffer. */
LM_Q8_INLINE float32x4_t lm_q8_scales(const float *p, int nk) {
    if (nk == 4) return vld1q_f32(p);
    float32x4_t v = vsetq_lane_f32(p[0], vdupq_n_f32(0.0f), 0);
    if (nk > 1) v = vsetq_lane_f32(p[1], v, 1);
    if (nk > 2) v = vsetq_lane_f32(p[2], v, 2);
    return v;
}

/* Groups g .. g + nk - 1 (nk <= 4) of R rows x TT tokens, added to sum. */
LM_Q8_INLINE void lm_q8_batch(float sum[4][2], const int8_t *wq[4], const float *ws[4],
                              const int8_t *xq[2], const float *xs[2], int g, int gs, int nk,
                              const int R, const int TT, lm_q8_dot16 dot16) {
    int32x4_t a0[4][2], a1[4][2], half[2][4][2];
#pragma GCC unroll 2
    for (int h = 0; h < 2; h++) {
        lm_q8_group_dot(a0, wq, xq, g + 2 * h, gs, 2 * h < nk, R, TT, dot16);
        lm_q8_group_dot(a1, wq, xq, g + 2 * h + 1, gs, 2 * h + 1 < nk, R, TT, dot16);
#pragma GCC unroll 4
        for (int r = 0; r < R; r++)
#pragma GCC unroll 2
            for (int t = 0; t < TT; t++) half[h][r][t] = vpaddq_s32(a0[r][t], a1[r][t]);
    }
    float32x4_t wsv[4], xsv[2];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) wsv[r] = lm_q8_scales(ws[r] + g, nk);
#pragma GCC unroll 2
    for (int t = 0; t < TT; t++) xsv[t] = lm_q8_scales(xs[t] + g, nk);
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 2
        for (int t = 0; t < TT; t++) {
            /* lane k = the exact integer dot of group g + k */
            int32x4_t isum = vpaddq_s32(half[0][r][t], half[1][r][t]);
            float32x4_t term = vmulq_f32(vmulq_f32(vcvtq_f32_s32(isum), wsv[r]), xsv[t]);
            /* In group order, one rounding per group, as runq.c: four serial
             * adds per batch are cheap next to the integer work, and they make
             * the result bit-exact with the oracle (absent groups add +0). */
            float acc = sum[r][t];
            acc += vgetq_lane_f32(term, 0);
            acc += vgetq_lane_f32(term, 1);
            acc += vgetq_lane_f32(term, 2);
            acc += vgetq_lane_f32(term, 3);
            sum[r][t] = acc;
        }
}

/* R rows from i0 x TT tokens from t0, on the fast path's shapes. */
LM_Q8_INLINE void lm_q8_tile(float *y, const lm_q8_act *x, const lm_q8 *w, int n, int d, int i0,
                             int t0, const int R, const int TT, lm_q8_dot16 dot16) {
    const int gs = w->gs, groups = n / gs;
    const int8_t *wq[4], *xq[2];
    const float *ws[4], *xs[2];
    float sum[4][2];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) {
        wq[r] = w->q + (size_t)(i0 + r) * n;
        ws[r] = w->s + (size_t)(i0 + r) * groups;
    }
#pragma GCC unroll 2
    for (int t = 0; t < TT; t++) {
        xq[t] = x->q + (size_t)(t0 + t) * n;
        xs[t] = x->s + (size_t)(t0 + t) * groups;
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 2
        for (int t = 0; t < TT; t++) sum[r][t] = 0.0f;
    int g = 0;
    for (; g + 4 <= groups; g += 4) lm_q8_batch(sum, wq, ws, xq, xs, g, gs, 4, R, TT, dot16);
    if (g < groups) lm_q8_batch(sum, wq, ws, xq, xs, g, gs, groups - g, R, TT, dot16);
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 2
        for (int t = 0; t < TT; t++) y[(size_t)(t0 + t) * d + i0 + r] = sum[r][t];
}

/* One token: 4 rows share each load of x. Several: 2 rows x 2 tokens, so each
 * weight load serves two tokens (weights are the larger stream). */
LM_Q8_INLINE void lm_matmul_q8_tiled(float *y, const lm_q8_act *x, const lm_q8 *w, int T, int n,
                                     int d, int r0, int r1, lm_q8_dot16 dot16) {
    const int gs = w->gs;
    if (gs <= 0 || gs % 16 != 0 || n % gs != 0 || x->gs != gs) {
        lm_matmul_q8_scalar(y, x, w, T, n, d, r0, r1);
        return;
    }
    if (T == 1) {
        int i = r0;
        for (; i + 4 <= r1; i += 4) lm_q8_tile(y, x, w, n, d, i, 0, 4, 1, dot16);
        for (; i < r1; i++) lm_q8_tile(y, x, w, n, d, i, 0, 1, 1, dot16);
        return;
    }
    int i = r0;
    for (; i + 2 <= r1; i += 2) {
        int t = 0;
        for (; t + 2 <= T; t += 2) lm_q8_tile(y, x, w, n, d, i, t, 2, 2, dot16);
        if (t < T) lm_q8_tile(y, x, w, n, d, i, t, 2, 1, dot16);
    }
    for (; i < r1; i++) {
        int t = 0;
        for (; t + 2 <= T; t += 2) lm_q8_tile(y, x, w, n, d, i, t, 1, 2, dot16);
        if (t < T) lm_q8_tile(y, x, w, n, d, i, t, 1, 1, dot16);
    }
}

#endif
