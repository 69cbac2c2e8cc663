/* RoPE: LD2/ST2 split each run of 4 pairs into even (first) and odd (second)
 * halves, so a rotation is whole-vector arithmetic; the cos/sin table is
 * interleaved the same way. Separate multiplies and adds, no FMA: the oracle
 * rounds each product, and q and k must match it bit for bit (a Q8_0 model
 * quantizes what attention makes of them). Pairs left over at the end of a head
 * (head_size % 8) are rotated one by one. */
#include <arm_neon.h>

#include "neon.h"

void lm_rope_f32_neon(float *v, int n, int head_size, const float *cs) {
    for (int h = 0; h < n; h += head_size) {
        float *vh = v + h;
        int i = 0;
        for (; i + 8 <= head_size; i += 8) {
            float32x4x2_t p = vld2q_f32(vh + i), t = vld2q_f32(cs + i);
            float32x4_t c = t.val[0], s = t.val[1], v0 = p.val[0], v1 = p.val[1];
            p.val[0] = vsubq_f32(vmulq_f32(v0, c), vmulq_f32(v1, s));
            p.val[1] = vaddq_f32(vmulq_f32(v0, s), vmulq_f32(v1, c));
            vst2q_f32(vh + i, p);
        }
        for (; i < head_size; i += 2) {
            float c = cs[i], s = cs[i + 1];
            float v0 = vh[i], v1 = vh[i + 1];
            vh[i] = v0 * c - v1 * s;
            vh[i + 1] = v0 * s + v1 * c;
        }
    }
}
