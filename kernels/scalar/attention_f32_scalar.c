#include <math.h>
#include <string.h>

#include "scalar.h"

void lm_attention_f32_scalar(float *out, const float *q, const float *k, const float *v, float *att,
                             int n_pos, int head_size, int stride) {
    const float scale = sqrtf((float)head_size);
    for (int p = 0; p < n_pos; p++) {
        const float *kp = k + (size_t)p * stride;
        float score = 0.0f;
        for (int i = 0; i < head_size; i++) score += q[i] * kp[i];
        att[p] = score / scale;
    }
    lm_softmax_f32_scalar(att, n_pos);
    memset(out, 0, (size_t)head_size * sizeof(float));
    for (int p = 0; p < n_pos; p++) {
        const float *vp = v + (size_t)p * stride;
        for (int i = 0; i < head_size; i++) out[i] += att[p] * vp[i];
    }
}
