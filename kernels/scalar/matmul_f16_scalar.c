/* F16 / BF16 products on panels (kernels.h): the f32 order on the weights
 * widened exactly (kernels/half.h), one fmaf chain per row in k order, so the
 * bits equal lm_matmul_f32_ref on the widened row-major matrix. */
#include <math.h>

#include "half.h"
#include "scalar.h"

static inline __attribute__((always_inline)) void
matmul_16(float *y, const float *x, const lm_packed *w, int T, int r0, int r1, const int bf16) {
    const int n = w->cols, d = w->rows;
    if (r1 > d) r1 = d;
    for (int p = r0 / LM_PANEL; p * LM_PANEL < r1; p++) {
        const uint16_t *panel = w->h + (size_t)p * LM_PANEL * n;
        for (int t = 0; t < T; t++) {
            const float *xt = x + (size_t)t * n;
            float acc[LM_PANEL] = {0};
            for (int k = 0; k < n; k++) {
                const uint16_t *v = panel + (size_t)k * LM_PANEL;
                float wk[LM_PANEL]; /* two plain loops, each one the compiler vectorises */
                for (int l = 0; l < LM_PANEL; l++)
                    wk[l] = bf16 ? lm_bf16_to_f32(v[l]) : lm_f16_to_f32(v[l]);
                for (int l = 0; l < LM_PANEL; l++) acc[l] = fmaf(wk[l], xt[k], acc[l]);
            }
            for (int l = 0; l < LM_PANEL; l++) {
                int i = p * LM_PANEL + l;
                if (i >= r0 && i < r1) y[(size_t)t * d + i] = acc[l];
            }
        }
    }
}

LM_FMA_CLONES void lm_matmul_f16_scalar(float *y, const float *x, const lm_packed *w, int T, int r0,
                                        int r1) {
    matmul_16(y, x, w, T, r0, r1, 0);
}

LM_FMA_CLONES void lm_matmul_bf16_scalar(float *y, const float *x, const lm_packed *w, int T,
                                         int r0, int r1) {
    matmul_16(y, x, w, T, r0, r1, 1);
}
