/* The Q8_0 panel product shared by matmul_q8_neon.c and matmul_q8_neondot.c;
 * each defines LM_DOT16(acc, w, x) (the exact 4-byte dots of 4 rows with the 4
 * activation bytes repeated in x, added to acc's int32 lanes) and the function
 * name LM_Q8_NEON_FN before including it. A panel's 16 rows are 4 q registers
 * per token; each lane is one row in runq.c's order (kernels.h). */

#include "math_neon.h"

static inline __attribute__((always_inline)) void q8_block(float *y, const lm_q8_act *x,
                                                           const lm_packed *w, int p, int t0,
                                                           int r0, int r1, const int NT) {
    const int n = w->cols, d = w->rows, gs = w->gs, groups = n / gs;
    const int8_t *wq = w->q + (size_t)p * LM_PANEL * n;
    const float *ws = w->s + (size_t)p * LM_PANEL * groups;
    const int8_t *xq = x->q + (size_t)t0 * n;
    const float *xs = x->s + (size_t)t0 * groups;
    float32x4_t val[2][4];
    for (int t = 0; t < NT; t++)
        for (int j = 0; j < 4; j++) val[t][j] = vdupq_n_f32(0.0f);
    for (int g = 0; g < groups; g++) {
        int32x4_t isum[2][4];
        for (int t = 0; t < NT; t++)
            for (int j = 0; j < 4; j++) isum[t][j] = vdupq_n_s32(0);
        for (int k = g * gs; k < (g + 1) * gs; k += 4) {
            int8x16_t wv[4];
            for (int j = 0; j < 4; j++) wv[j] = vld1q_s8(wq + (size_t)k * LM_PANEL + 16 * j);
            for (int t = 0; t < NT; t++) {
                int32_t x4;
                memcpy(&x4, xq + (size_t)t * n + k, 4);
                int8x16_t xb = vreinterpretq_s8_s32(vdupq_n_s32(x4));
                for (int j = 0; j < 4; j++) isum[t][j] = LM_DOT16(isum[t][j], wv[j], xb);
            }
        }
        float32x4_t sw[4];
        for (int j = 0; j < 4; j++) sw[j] = vld1q_f32(ws + (size_t)g * LM_PANEL + 4 * j);
        for (int t = 0; t < NT; t++) {
            float32x4_t sx = vdupq_n_f32(xs[(size_t)t * groups + g]);
            for (int j = 0; j < 4; j++) {
                float32x4_t term = vmulq_f32(vmulq_f32(vcvtq_f32_s32(isum[t][j]), sw[j]), sx);
                val[t][j] = vaddq_f32(val[t][j], term);
            }
        }
    }
    for (int t = 0; t < NT; t++) lm_neon_store_panel(y + (size_t)(t0 + t) * d, p, r0, r1, val[t]);
}

void LM_Q8_NEON_FN(float *y, const lm_q8_act *x, const lm_packed *w, int T, int r0, int r1) {
    const int d = w->rows;
    if (r1 > d) r1 = d;
    if (r0 >= r1) return;
    if (!w->q) {
        lm_matmul_q8_ref(y, x, &w->flat, T, w->cols, d, r0, r1);
        return;
    }
    for (int p = r0 / LM_PANEL; p * LM_PANEL < r1; p++) {
        int t0 = 0;
        for (; t0 + 2 <= T; t0 += 2) q8_block(y, x, w, p, t0, r0, r1, 2);
        if (t0 < T) q8_block(y, x, w, p, t0, r0, r1, 1);
    }
}
