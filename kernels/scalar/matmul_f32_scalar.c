/* fp32 products in the written order (kernels.h): one accumulator per output,
 * fmaf in k order. lm_matmul_f32_ref is that loop on a row-major matrix (the
 * oracle the tests hold every kernel set to); lm_matmul_f32_scalar is the same
 * arithmetic on panels, written so that a compiler may vectorise it over the
 * 16 rows of a panel (lanes are independent, so the bits stay the same). */
#include <math.h>

#include "scalar.h"

LM_FMA_CLONES void lm_matmul_f32_ref(float *y, const float *x, const float *w, int T, int n, int d,
                                     int r0, int r1) {
    for (int t = 0; t < T; t++) {
        const float *xt = x + (size_t)t * n;
        for (int i = r0; i < r1; i++) {
            const float *wi = w + (size_t)i * n;
            float acc = 0.0f;
            for (int k = 0; k < n; k++) acc = fmaf(wi[k], xt[k], acc);
            y[(size_t)t * d + i] = acc;
        }
    }
}

LM_FMA_CLONES void lm_matmul_f32_scalar(float *y, const float *x, const lm_packed *w, int T, int r0,
                                        int r1) {
    const int n = w->cols, d = w->rows;
    if (r1 > d) r1 = d;
    for (int p = r0 / LM_PANEL; p * LM_PANEL < r1; p++) {
        const float *panel = w->f32 + (size_t)p * LM_PANEL * n;
        for (int t = 0; t < T; t++) {
            const float *xt = x + (size_t)t * n;
            float acc[LM_PANEL] = {0};
            for (int k = 0; k < n; k++)
                for (int l = 0; l < LM_PANEL; l++)
                    acc[l] = fmaf(panel[(size_t)k * LM_PANEL + l], xt[k], acc[l]);
            for (int l = 0; l < LM_PANEL; l++) {
                int i = p * LM_PANEL + l;
                if (i >= r0 && i < r1) y[(size_t)t * d + i] = acc[l];
            }
        }
    }
}
