/* fp32 product on panels (kernels.h) with ASIMD: a panel's 16 rows are four
 * q registers per token, each lane one row taking one fused multiply-add per
 * k in k order: exactly the oracle's fmaf chain per row. Blocks of 1 panel x
 * NT tokens reuse each weight load for NT tokens. */
#include <arm_neon.h>

#include "neon.h"
#include "math_neon.h"

static inline __attribute__((always_inline)) void block(float *y, const float *x, const float *w,
                                                        int n, int d, int p, int t0, int r0, int r1,
                                                        const int NT) {
    float32x4_t acc[4][4];
    const float *wp = w + (size_t)p * LM_PANEL * n;
    const float *xt = x + (size_t)t0 * n;
    for (int t = 0; t < NT; t++)
        for (int v = 0; v < 4; v++) acc[t][v] = vdupq_n_f32(0.0f);
    for (int k = 0; k < n; k++) {
        float32x4_t wv[4];
        for (int v = 0; v < 4; v++) wv[v] = vld1q_f32(wp + (size_t)k * LM_PANEL + 4 * v);
        for (int t = 0; t < NT; t++) {
            float32x4_t xb = vdupq_n_f32(xt[(size_t)t * n + k]);
            for (int v = 0; v < 4; v++) acc[t][v] = vfmaq_f32(acc[t][v], wv[v], xb);
        }
    }
    for (int t = 0; t < NT; t++) lm_neon_store_panel(y + (size_t)(t0 + t) * d, p, r0, r1, acc[t]);
}

void lm_matmul_f32_neon(float *y, const float *x, const lm_packed *w, int T, int r0, int r1) {
    const int n = w->cols, d = w->rows;
    if (r1 > d) r1 = d;
    for (int p = r0 / LM_PANEL; p * LM_PANEL < r1; p++) {
        int t0 = 0;
        for (; t0 + 4 <= T; t0 += 4) block(y, x, w->f32, n, d, p, t0, r0, r1, 4);
        switch (T - t0) {
        case 1: block(y, x, w->f32, n, d, p, t0, r0, r1, 1); break;
        case 2: block(y, x, w->f32, n, d, p, t0, r0, r1, 2); break;
        case 3: block(y, x, w->f32, n, d, p, t0, r0, r1, 3); break;
        default: break;
        }
    }
}
