/* The oracle of the legacy block products (Q4_0, Q4_1, Q5_0, Q5_1): the plain
 * loop of kernels/ORDER.md's "Block-quantized weights" on the panels of
 * kernels/quant/qlegacy.h, one row at a time. Each matmul_<type>_scalar.c
 * instantiates it. Per block b of 32 values, in block order:
 *   isum = sum_k (value_k - offset) * x_k, xsum = sum_k x_k   (exact int32)
 *   val = val + ((float)isum * d) * s_x[b]                    (mul, mul, add)
 *   val = val + ((float)xsum * m) * s_x[b]                    (types with m) */
#include "quant/qlegacy.h"
#include "scalar.h"

static inline void lm_ql_scalar(float *y, const lm_q8_act *x, const lm_packed *w, int T, int r0,
                                int r1, int has_m, int has_h, int offset) {
    const int n = w->cols, d = w->rows, nb = n / 32;
    const size_t bpb = LM_QL_BP(has_m, has_h);
    if (r1 > d) r1 = d;
    for (int i = r0; i < r1; i++) {
        const int l = i % LM_PANEL;
        const uint8_t *panel = w->blk + (size_t)(i / LM_PANEL) * (size_t)nb * bpb;
        for (int t = 0; t < T; t++) {
            const int8_t *xq = x->q + (size_t)t * n;
            const float *xs = x->s + (size_t)t * nb;
            float val = 0.0f;
            for (int b = 0; b < nb; b++) {
                const uint8_t *bp = panel + (size_t)b * bpb;
                int32_t isum = 0, xsum = 0;
                for (int k = 0; k < 32; k++) {
                    int32_t xk = xq[b * 32 + k];
                    isum += (lm_ql_value(bp, has_m, has_h, l, k) - offset) * xk;
                    xsum += xk;
                }
                float dw = lm_f16_to_f32(lm_ql_half(bp + 2 * l));
                val = val + (float)isum * dw * xs[b];
                if (has_m) {
                    float mw = lm_f16_to_f32(lm_ql_half(bp + lm_ql_m_off() + 2 * l));
                    val = val + (float)xsum * mw * xs[b];
                }
            }
            y[(size_t)t * d + i] = val;
        }
    }
}
