/* The AVX2 + FMA kernels behind lm_kernels_avx2 (see kernels.h for semantics).
 * Only the files of this folder are compiled with -mavx2 -mfma -mf16c. */
#ifndef LAMINA_KERNELS_AVX2_H
#define LAMINA_KERNELS_AVX2_H

#include "kernels.h"

void lm_matmul_f32_avx2(float *y, const float *x, const lm_packed *w, int T, int r0, int r1);
void lm_matmul_f16_avx2(float *y, const float *x, const lm_packed *w, int T, int r0, int r1);
void lm_matmul_bf16_avx2(float *y, const float *x, const lm_packed *w, int T, int r0, int r1);
void lm_matmul_q8_avx2(float *y, const lm_q8_act *x, const lm_packed *w, int T, int r0, int r1);
void lm_matmul_q6_k_avx2(float *y, const lm_q8_act *x, const lm_packed *w, int T, int r0, int r1);
void lm_matmul_q4_0_avx2(float *y, const lm_q8_act *x, const lm_packed *w, int T, int r0, int r1);
void lm_matmul_q4_1_avx2(float *y, const lm_q8_act *x, const lm_packed *w, int T, int r0, int r1);
void lm_matmul_q5_0_avx2(float *y, const lm_q8_act *x, const lm_packed *w, int T, int r0, int r1);
void lm_matmul_q5_1_avx2(float *y, const lm_q8_act *x, const lm_packed *w, int T, int r0, int r1);
void lm_quantize_q8_avx2(int8_t *q, float *s, const float *x, int n, int gs);
void lm_rmsnorm_f32_avx2(float *o, const float *x, const float *w, int n, float eps);
void lm_softmax_f32_avx2(float *x, int n);
void lm_rope_f32_avx2(float *v, int n, int head_size, const float *cs);
void lm_attention_f32_avx2(float *out, const float *q, const float *k, const float *v, float *att,
                           int n_pos, int head_size, int stride);
void lm_attention_f16_avx2(float *out, const float *q, const uint16_t *k, const uint16_t *v,
                           float *att, int n_pos, int head_size, int stride);
void lm_swiglu_f32_avx2(float *a, const float *b, int n);

void lm_matmul_q4_k_avx2(float *y, const lm_q8_act *x, const lm_packed *w, int T, int r0, int r1);
void lm_matmul_q5_k_avx2(float *y, const lm_q8_act *x, const lm_packed *w, int T, int r0, int r1);

#endif
