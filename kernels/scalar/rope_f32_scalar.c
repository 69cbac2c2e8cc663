#include "scalar.h"

void lm_rope_f32_scalar(float *v, int n, int head_size, const float *cs) {
    for (int h = 0; h < n; h += head_size) {
        for (int i = 0; i < head_size; i += 2) {
            float c = cs[i], s = cs[i + 1];
            float v0 = v[h + i], v1 = v[h + i + 1];
            v[h + i] = v0 * c - v1 * s;
            v[h + i + 1] = v0 * s + v1 * c;
        }
    }
}
