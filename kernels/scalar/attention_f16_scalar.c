/* Attention over an F16 KV cache: the f32 order (kernels/ORDER.md) on the
 * keys and values widened exactly to fp32 (kernels/half.h), so the bits are
 * lm_attention_f32_scalar's on the widened cache. */
#include <math.h>
#include <string.h>

#include "half.h"
#include "scalar.h"

void lm_attention_f16_scalar(float *out, const float *q, const uint16_t *k, const uint16_t *v,
                             float *att, int n_pos, int head_size, int stride) {
    const float scale = sqrtf((float)head_size);
    for (int p = 0; p < n_pos; p++) {
        const uint16_t *kp = k + (size_t)p * stride;
        float score = 0.0f;
        for (int i = 0; i < head_size; i++) score += q[i] * lm_f16_to_f32(kp[i]);
        att[p] = score / scale;
    }
    lm_softmax_f32_scalar(att, n_pos);
    memset(out, 0, (size_t)head_size * sizeof(float));
    for (int p = 0; p < n_pos; p++) {
        const uint16_t *vp = v + (size_t)p * stride;
        for (int i = 0; i < head_size; i++) out[i] += att[p] * lm_f16_to_f32(vp[i]);
    }
}
