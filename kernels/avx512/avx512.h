/* The AVX-512 kernels behind lm_kernels_avx512 and lm_kernels_avx512vnni (see
 * kernels.h for semantics). Only the files of this folder are compiled with
 * -mavx512f/bw/vl/dq, and only the *vnni* ones with -mavx512vnni. */
#ifndef LAMINA_KERNELS_AVX512_H
#define LAMINA_KERNELS_AVX512_H

#include "kernels.h"

void lm_matmul_f32_avx512(float *y, const float *x, const lm_packed *w, int T, int r0, int r1);
void lm_matmul_f16_avx512(float *y, const float *x, const lm_packed *w, int T, int r0, int r1);
void lm_matmul_bf16_avx512(float *y, const float *x, const lm_packed *w, int T, int r0, int r1);
void lm_matmul_q8_avx512(float *y, const lm_q8_act *x, const lm_packed *w, int T, int r0, int r1);
void lm_matmul_q8_avx512vnni(float *y, const lm_q8_act *x, const lm_packed *w, int T, int r0,
                             int r1);
/* Q6_K runs the AVX2 kernel (kernels/avx2/matmul_q6_k_avx2.c). */
void lm_matmul_q6_k_avx2(float *y, const lm_q8_act *x, const lm_packed *w, int T, int r0, int r1);
void lm_quantize_q8_avx512(int8_t *q, float *s, const float *x, int n, int gs);
void lm_rmsnorm_f32_avx512(float *o, const float *x, const float *w, int n, float eps);
void lm_softmax_f32_avx512(float *x, int n);
void lm_rope_f32_avx512(float *v, int n, int head_size, const float *cs);
void lm_attention_f32_avx512(float *out, const float *q, const float *k, const float *v, float *att,
                             int n_pos, int head_size, int stride);
void lm_attention_f16_avx512(float *out, const float *q, const uint16_t *k, const uint16_t *v,
                             float *att, int n_pos, int head_size, int stride);
void lm_swiglu_f32_avx512(float *a, const float *b, int n);

/* Q4_K / Q5_K: the AVX2 kernels (bit-identical by construction). */
void lm_matmul_q4_k_avx2(float *y, const lm_q8_act *x, const lm_packed *w, int T, int r0, int r1);
void lm_matmul_q5_k_avx2(float *y, const lm_q8_act *x, const lm_packed *w, int T, int r0, int r1);

#endif
