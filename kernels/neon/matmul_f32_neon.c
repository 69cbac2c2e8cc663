/* fp32 products: matrix-vector for one token, a register-tiled GEMM for several.
 *
 * Every output y[t][i] is computed the same way whatever tile holds it: one
 * 4-lane accumulator over j in steps of 4, reduced across lanes, then the n % 4
 * tail added in order. So a row's value does not depend on the row range (the
 * threads) nor on T (a prompt of T tokens gives the same logits as T single
 * steps); the tiles only decide how many independent FMA chains run at once. */
#include <arm_neon.h>
#include <stddef.h>

#include "neon.h"

#define LM_INLINE static inline __attribute__((always_inline))

/* R rows from i0 times TT tokens from t0; called with constant R and TT, so the
 * loops unroll and acc lives in registers (R * TT + R + TT of the 32). */
LM_INLINE void tile_f32(float *y, const float *x, const float *w, int n, int d, int i0, int t0,
                        const int R, const int TT) {
    float32x4_t acc[8][4];
    const float *wr[8], *xt[4];
#pragma GCC unroll 8
    for (int r = 0; r < R; r++) wr[r] = w + (size_t)(i0 + r) * n;
#pragma GCC unroll 4
    for (int t = 0; t < TT; t++) xt[t] = x + (size_t)(t0 + t) * n;
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int t = 0; t < TT; t++) acc[r][t] = vdupq_n_f32(0.0f);

    int j = 0;
    for (; j + 4 <= n; j += 4) {
        float32x4_t wv[8], xv[4];
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) wv[r] = vld1q_f32(wr[r] + j);
#pragma GCC unroll 4
        for (int t = 0; t < TT; t++) xv[t] = vld1q_f32(xt[t] + j);
#pragma GCC unroll 8
        for (int r = 0; r < R; r++)
#pragma GCC unroll 4
            for (int t = 0; t < TT; t++) acc[r][t] = vfmaq_f32(acc[r][t], wv[r], xv[t]);
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int t = 0; t < TT; t++) {
            float sum = vaddvq_f32(acc[r][t]);
            for (int k = j; k < n; k++) sum += wr[r][k] * xt[t][k];
            y[(size_t)(t0 + t) * d + i0 + r] = sum;
        }
}

/* One token: weights stream through once, 8 rows share each load of x. */
static void matvec(float *y, const float *x, const float *w, int n, int d, int r0, int r1) {
    int i = r0;
    for (; i + 8 <= r1; i += 8) tile_f32(y, x, w, n, d, i, 0, 8, 1);
    for (; i < r1; i++) tile_f32(y, x, w, n, d, i, 0, 1, 1);
}

/* TT tokens from t0 against R rows from i0, TT < 4 picked at run time. */
LM_INLINE void tile_tokens(float *y, const float *x, const float *w, int n, int d, int i0, int t0,
                           int TT, const int R) {
    switch (TT) {
    case 1: tile_f32(y, x, w, n, d, i0, t0, R, 1); break;
    case 2: tile_f32(y, x, w, n, d, i0, t0, R, 2); break;
    case 3: tile_f32(y, x, w, n, d, i0, t0, R, 3); break;
    }
}

/* Several tokens: 4 rows x 4 tokens per tile, so each loaded vector feeds four
 * FMAs. Rows are the outer loop: a block of 4 weight rows stays in L1 while all
 * tokens pass over it, and weights (the larger operand) are read once. */
static void gemm(float *y, const float *x, const float *w, int T, int n, int d, int r0, int r1) {
    int i = r0;
    for (; i + 4 <= r1; i += 4) {
        int t = 0;
        for (; t + 4 <= T; t += 4) tile_f32(y, x, w, n, d, i, t, 4, 4);
        if (t < T) tile_tokens(y, x, w, n, d, i, t, T - t, 4);
    }
    for (; i < r1; i++) {
        int t = 0;
        for (; t + 4 <= T; t += 4) tile_f32(y, x, w, n, d, i, t, 1, 4);
        if (t < T) tile_tokens(y, x, w, n, d, i, t, T - t, 1);
    }
}

void lm_matmul_f32_neon(float *y, const float *x, const float *w, int T, int n, int d, int r0,
                        int r1) {
    if (T == 1)
        matvec(y, x, w, n, d, r0, r1);
    else
        gemm(y, x, w, T, n, d, r0, r1);
}
