/* One query head: scores = K q / sqrt(head_size), softmax, out = V^T att.
 *
 * Scores take 8 positions at a time, one accumulator each (8 independent FMA
 * chains per load of q), reduced together. The weighted sum keeps up to 32
 * output columns in registers across all positions, with two sets of
 * accumulators (even and odd positions) so that short heads are not bound by
 * FMA latency. */
#include <immintrin.h>
#include <math.h>

#include "avx2.h"
#include "math_avx2.h"

static inline __attribute__((always_inline)) __m256 dot_rows(const float *q, const float *k,
                                                             int stride, int hs, int R) {
    __m256 acc[8];
    for (int r = 0; r < 8; r++) acc[r] = _mm256_setzero_ps();
    int j = 0;
    for (; j + 8 <= hs; j += 8) {
        __m256 qv = _mm256_loadu_ps(q + j);
        for (int r = 0; r < R; r++)
            acc[r] = _mm256_fmadd_ps(_mm256_loadu_ps(k + (size_t)r * stride + j), qv, acc[r]);
    }
    if (j < hs) {
        __m256i m = lm_avx2_tail_mask(hs - j);
        __m256 qv = _mm256_maskload_ps(q + j, m);
        for (int r = 0; r < R; r++)
            acc[r] = _mm256_fmadd_ps(_mm256_maskload_ps(k + (size_t)r * stride + j, m), qv, acc[r]);
    }
    return lm_avx2_reduce8(acc[0], acc[1], acc[2], acc[3], acc[4], acc[5], acc[6], acc[7]);
}

/* out[j0 .. j0 + 8 * NV) (the last vector masked by m) += sum_p att[p] v[p]. */
static inline __attribute__((always_inline)) void weighted_sum(float *out, const float *v,
                                                               const float *att, int n_pos,
                                                               int stride, int j0, int NV,
                                                               __m256i m) {
    __m256 a0[4], a1[4];
    for (int c = 0; c < NV; c++) a0[c] = a1[c] = _mm256_setzero_ps();
    const float *vp = v + j0;
    int p = 0;
    for (; p + 2 <= n_pos; p += 2, vp += 2 * (size_t)stride) {
        __m256 w0 = _mm256_broadcast_ss(att + p), w1 = _mm256_broadcast_ss(att + p + 1);
        for (int c = 0; c < NV; c++) {
            __m256 x0, x1;
            if (c == NV - 1) {
                x0 = _mm256_maskload_ps(vp + 8 * c, m);
                x1 = _mm256_maskload_ps(vp + stride + 8 * c, m);
            } else {
                x0 = _mm256_loadu_ps(vp + 8 * c);
                x1 = _mm256_loadu_ps(vp + stride + 8 * c);
            }
            a0[c] = _mm256_fmadd_ps(w0, x0, a0[c]);
            a1[c] = _mm256_fmadd_ps(w1, x1, a1[c]);
        }
    }
    if (p < n_pos) {
        __m256 w0 = _mm256_broadcast_ss(att + p);
        for (int c = 0; c < NV; c++) {
            __m256 x0 =
                c == NV - 1 ? _mm256_maskload_ps(vp + 8 * c, m) : _mm256_loadu_ps(vp + 8 * c);
            a0[c] = _mm256_fmadd_ps(w0, x0, a0[c]);
        }
    }
    for (int c = 0; c < NV; c++) {
        __m256 s = _mm256_add_ps(a0[c], a1[c]);
        if (c == NV - 1)
            _mm256_maskstore_ps(out + j0 + 8 * c, m, s);
        else
            _mm256_storeu_ps(out + j0 + 8 * c, s);
    }
}

void lm_attention_f32_avx2(float *out, const float *q, const float *k, const float *v, float *att,
                           int n_pos, int head_size, int stride) {
    const __m256 scale = _mm256_set1_ps(sqrtf((float)head_size));
    int p = 0;
    for (; p + 8 <= n_pos; p += 8)
        _mm256_storeu_ps(
            att + p,
            _mm256_div_ps(dot_rows(q, k + (size_t)p * stride, stride, head_size, 8), scale));
    if (p < n_pos) {
        __m256 s;
        switch (n_pos - p) {
        case 7: s = dot_rows(q, k + (size_t)p * stride, stride, head_size, 7); break;
        case 6: s = dot_rows(q, k + (size_t)p * stride, stride, head_size, 6); break;
        case 5: s = dot_rows(q, k + (size_t)p * stride, stride, head_size, 5); break;
        case 4: s = dot_rows(q, k + (size_t)p * stride, stride, head_size, 4); break;
        case 3: s = dot_rows(q, k + (size_t)p * stride, stride, head_size, 3); break;
        case 2: s = dot_rows(q, k + (size_t)p * stride, stride, head_size, 2); break;
        default: s = dot_rows(q, k + (size_t)p * stride, stride, head_size, 1); break;
        }
        _mm256_maskstore_ps(att + p, lm_avx2_tail_mask(n_pos - p), _mm256_div_ps(s, scale));
    }

    lm_softmax_f32_avx2(att, n_pos);

    /* Column blocks of 32; the last block's last vector is masked (an all-set
     * mask when head_size is a multiple of 8). */
    for (int j0 = 0; j0 < head_size; j0 += 32) {
        int cols = head_size - j0 < 32 ? head_size - j0 : 32;
        int nv = (cols + 7) / 8;
        __m256i m = lm_avx2_tail_mask(cols - 8 * (nv - 1));
        switch (nv) {
        case 4: weighted_sum(out, v, att, n_pos, stride, j0, 4, m); break;
        case 3: weighted_sum(out, v, att, n_pos, stride, j0, 3, m); break;
        case 2: weighted_sum(out, v, att, n_pos, stride, j0, 2, m); break;
        default: weighted_sum(out, v, att, n_pos, stride, j0, 1, m); break;
        }
    }
}
