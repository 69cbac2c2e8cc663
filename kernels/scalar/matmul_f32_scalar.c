#include "scalar.h"

void lm_matmul_f32_scalar(float *y, const float *x, const float *w, int T, int n, int d, int r0,
                          int r1) {
    for (int t = 0; t < T; t++) {
        const float *xt = x + (size_t)t * n;
        for (int i = r0; i < r1; i++) {
            const float *wi = w + (size_t)i * n;
            float sum = 0.0f;
            for (int j = 0; j < n; j++) sum += wi[j] * xt[j];
            y[(size_t)t * d + i] = sum;
        }
    }
}
