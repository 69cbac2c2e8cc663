/* F16 / BF16 products on panels (kernels.h) with ASIMD: the f32 kernel's
 * chains (one fused multiply-add per k per row lane, k ascending) on the
 * weights widened exactly in registers (fcvtl; bfloat16: shll by 16), so the
 * bits are matmul_f32's on the widened matrix. Blocks of 1 panel x NT tokens
 * widen each k of the panel once for NT tokens. */
#include <arm_neon.h>

#include "neon.h"
#include "math_neon.h"

/* The 16 rows of one k of a panel (32 bytes) as four vectors of 4 floats. */
static inline __attribute__((always_inline)) void widen16(const uint16_t *src, const int bf16,
                                                          float32x4_t *wv) {
    uint16x8_t a = vld1q_u16(src), b = vld1q_u16(src + 8);
    if (bf16) {
        wv[0] = vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(a), 16));
        wv[1] = vreinterpretq_f32_u32(vshll_high_n_u16(a, 16));
        wv[2] = vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(b), 16));
        wv[3] = vreinterpretq_f32_u32(vshll_high_n_u16(b, 16));
    } else {
        float16x8_t ha = vreinterpretq_f16_u16(a), hb = vreinterpretq_f16_u16(b);
        wv[0] = vcvt_f32_f16(vget_low_f16(ha));
        wv[1] = vcvt_high_f32_f16(ha);
        wv[2] = vcvt_f32_f16(vget_low_f16(hb));
        wv[3] = vcvt_high_f32_f16(hb);
    }
}

static inline __attribute__((always_inline)) void block(float *y, const float *x, const uint16_t *w,
                                                        int n, int d, int p, int t0, int r0, int r1,
                                                        const int NT, const int bf16) {
    float32x4_t acc[4][4];
    const uint16_t *wp = w + (size_t)p * LM_PANEL * n;
    const float *xt = x + (size_t)t0 * n;
    for (int t = 0; t < NT; t++)
        for (int v = 0; v < 4; v++) acc[t][v] = vdupq_n_f32(0.0f);
    for (int k = 0; k < n; k++) {
        float32x4_t wv[4];
        widen16(wp + (size_t)k * LM_PANEL, bf16, wv);
        for (int t = 0; t < NT; t++) {
            float32x4_t xb = vdupq_n_f32(xt[(size_t)t * n + k]);
            for (int v = 0; v < 4; v++) acc[t][v] = vfmaq_f32(acc[t][v], wv[v], xb);
        }
    }
    for (int t = 0; t < NT; t++) lm_neon_store_panel(y + (size_t)(t0 + t) * d, p, r0, r1, acc[t]);
}

static inline __attribute__((always_inline)) void
matmul16(float *y, const float *x, const lm_packed *w, int T, int r0, int r1, const int bf16) {
    const int n = w->cols, d = w->rows;
    if (r1 > d) r1 = d;
    for (int p = r0 / LM_PANEL; p * LM_PANEL < r1; p++) {
        int t0 = 0;
        for (; t0 + 4 <= T; t0 += 4) block(y, x, w->h, n, d, p, t0, r0, r1, 4, bf16);
        switch (T - t0) {
        case 1: block(y, x, w->h, n, d, p, t0, r0, r1, 1, bf16); break;
        case 2: block(y, x, w->h, n, d, p, t0, r0, r1, 2, bf16); break;
        case 3: block(y, x, w->h, n, d, p, t0, r0, r1, 3, bf16); break;
        default: break;
        }
    }
}

void lm_matmul_f16_neon(float *y, const float *x, const lm_packed *w, int T, int r0, int r1) {
    matmul16(y, x, w, T, r0, r1, 0);
}

void lm_matmul_bf16_neon(float *y, const float *x, const lm_packed *w, int T, int r0, int r1) {
    matmul16(y, x, w, T, r0, r1, 1);
}
