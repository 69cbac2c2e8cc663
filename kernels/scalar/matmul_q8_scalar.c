/* Q8_0 products in runq.c's order (kernels.h). lm_matmul_q8_ref is the loop
 * on the file's row-major layout: the oracle, and the one generic path every
 * kernel set uses for matrices without panels (groups straddling rows).
 * lm_matmul_q8_scalar is the same arithmetic on panels. */
#include "scalar.h"

/* One output: the row is cut wherever a weight group or an activation group
 * ends, so every piece has one weight scale and one activation scale. When n is
 * a multiple of gs the pieces are exactly the groups, as in runq.c; otherwise
 * weight groups straddle rows (flattened grouping) and the cuts keep it exact. */
static float dot_row_q8(const int8_t *xq, const float *xs, const lm_q8 *w, size_t base, int n) {
    const int gs = w->gs;
    float sum = 0.0f;
    int j = 0;
    while (j < n) {
        size_t e = base + (size_t)j;
        size_t w_end = (e / (size_t)gs + 1) * (size_t)gs - base;
        int x_end = (j / gs + 1) * gs;
        int end = n;
        if ((size_t)end > w_end) end = (int)w_end;
        if (end > x_end) end = x_end;
        int32_t isum = 0;
        for (int k = j; k < end; k++) isum += (int32_t)xq[k] * (int32_t)w->q[base + (size_t)k];
        sum += (float)isum * w->s[e / (size_t)gs] * xs[j / gs];
        j = end;
    }
    return sum;
}

void lm_matmul_q8_ref(float *y, const lm_q8_act *x, const lm_q8 *w, int T, int n, int d, int r0,
                      int r1) {
    const int groups = lm_q8_groups(n, x->gs);
    for (int t = 0; t < T; t++) {
        const int8_t *xq = x->q + (size_t)t * n;
        const float *xs = x->s + (size_t)t * groups;
        for (int i = r0; i < r1; i++)
            y[(size_t)t * d + i] = dot_row_q8(xq, xs, w, (size_t)i * n, n);
    }
}

void lm_matmul_q8_scalar(float *y, const lm_q8_act *x, const lm_packed *w, int T, int r0, int r1) {
    const int n = w->cols, d = w->rows;
    if (r1 > d) r1 = d;
    if (!w->q) {
        lm_matmul_q8_ref(y, x, &w->flat, T, n, d, r0, r1);
        return;
    }
    const int gs = w->gs, groups = n / gs;
    for (int p = r0 / LM_PANEL; p * LM_PANEL < r1; p++) {
        const int8_t *qp = w->q + (size_t)p * LM_PANEL * n;
        const float *sp = w->s + (size_t)p * LM_PANEL * groups;
        for (int t = 0; t < T; t++) {
            const int8_t *xq = x->q + (size_t)t * n;
            const float *xs = x->s + (size_t)t * groups;
            float val[LM_PANEL] = {0};
            for (int g = 0; g < groups; g++) {
                int32_t isum[LM_PANEL] = {0};
                for (int k = g * gs; k < (g + 1) * gs; k += 4)
                    for (int l = 0; l < LM_PANEL; l++)
                        for (int j = 0; j < 4; j++)
                            isum[l] += (int32_t)qp[(size_t)k * LM_PANEL + l * 4 + j] * xq[k + j];
                for (int l = 0; l < LM_PANEL; l++)
                    val[l] = val[l] + (float)isum[l] * sp[g * LM_PANEL + l] * xs[g];
            }
            for (int l = 0; l < LM_PANEL; l++) {
                int i = p * LM_PANEL + l;
                if (i >= r0 && i < r1) y[(size_t)t * d + i] = val[l];
            }
        }
    }
}
