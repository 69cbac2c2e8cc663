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

void lm_matmul_q8_scalar(float *y, const lm_q8_act *x, const lm_q8 *w, int T, int n, int d, int r0,
                         int r1) {
    const int groups = lm_q8_groups(n, x->gs);
    for (int t = 0; t < T; t++) {
        const int8_t *xq = x->q + (size_t)t * n;
        const float *xs = x->s + (size_t)t * groups;
        for (int i = r0; i < r1; i++)
            y[(size_t)t * d + i] = dot_row_q8(xq, xs, w, (size_t)i * n, n);
    }
}
