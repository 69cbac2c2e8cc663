#include <math.h>

#include "scalar.h"

void lm_quantize_q8_scalar(int8_t *q, float *s, const float *x, int n, int gs) {
    for (int g0 = 0; g0 < n; g0 += gs) {
        int g1 = g0 + gs < n ? g0 + gs : n;
        float amax = 0.0f;
        for (int i = g0; i < g1; i++) amax = fmaxf(amax, fabsf(x[i]));
        float scale = amax / 127.0f;
        s[g0 / gs] = scale;
        /* Division, not a reciprocal multiply: runq.c divides, and the integer
         * products are only exact across ISAs if every q agrees. */
        for (int i = g0; i < g1; i++) {
            /* NaN becomes 0; a denormal scale can push |r| past 127: saturate as
             * the SIMD packs do, instead of an undefined cast. */
            float r = roundf(x[i] / scale);
            q[i] = scale > 0.0f && r == r ? (int8_t)fminf(fmaxf(r, -128.0f), 127.0f) : 0;
        }
    }
}
