/* The AArch64 Advanced SIMD kernels. ASIMD is the AArch64 baseline, so every file
 * here is built for plain Armv8-A; only files named *dot* also get the Armv8.2-A
 * dot-product extension (sdot), and dispatch.c checks asimddp before using them. */
#ifndef LAMINA_KERNELS_NEON_H
#define LAMINA_KERNELS_NEON_H

#include "kernels.h"

void lm_matmul_f32_neon(float *y, const float *x, const lm_packed *w, int T, int r0, int r1);
void lm_matmul_f16_neon(float *y, const float *x, const lm_packed *w, int T, int r0, int r1);
void lm_matmul_bf16_neon(float *y, const float *x, const lm_packed *w, int T, int r0, int r1);
void lm_matmul_q8_neon(float *y, const lm_q8_act *x, const lm_packed *w, int T, int r0, int r1);
void lm_matmul_q8_neondot(float *y, const lm_q8_act *x, const lm_packed *w, int T, int r0, int r1);
void lm_matmul_q6_k_neon(float *y, const lm_q8_act *x, const lm_packed *w, int T, int r0, int r1);
void lm_matmul_q6_k_neondot(float *y, const lm_q8_act *x, const lm_packed *w, int T, int r0,
                            int r1);
void lm_matmul_q4_0_neon(float *y, const lm_q8_act *x, const lm_packed *w, int T, int r0, int r1);
void lm_matmul_q4_1_neon(float *y, const lm_q8_act *x, const lm_packed *w, int T, int r0, int r1);
void lm_matmul_q5_0_neon(float *y, const lm_q8_act *x, const lm_packed *w, int T, int r0, int r1);
void lm_matmul_q5_1_neon(float *y, const lm_q8_act *x, const lm_packed *w, int T, int r0, int r1);
void lm_matmul_q4_0_neondot(float *y, const lm_q8_act *x, const lm_packed *w, int T, int r0,
                            int r1);
void lm_matmul_q4_1_neondot(float *y, const lm_q8_act *x, const lm_packed *w, int T, int r0,
                            int r1);
void lm_matmul_q5_0_neondot(float *y, const lm_q8_act *x, const lm_packed *w, int T, int r0,
                            int r1);
void lm_matmul_q5_1_neondot(float *y, const lm_q8_act *x, const lm_packed *w, int T, int r0,
                            int r1);
void lm_quantize_q8_neon(int8_t *q, float *s, const float *x, int n, int gs);
void lm_rmsnorm_f32_neon(float *o, const float *x, const float *w, int n, float eps);
void lm_softmax_f32_neon(float *x, int n);
void lm_rope_f32_neon(float *v, int n, int head_size, const float *cs);
void lm_attention_f32_neon(float *out, const float *q, const float *k, const float *v, float *att,
                           int n_pos, int head_size, int stride);
void lm_attention_f16_neon(float *out, const float *q, const uint16_t *k, const uint16_t *v,
                           float *att, int n_pos, int head_size, int stride);
void lm_swiglu_f32_neon(float *a, const float *b, int n);

void lm_matmul_q4_k_neon(float *y, const lm_q8_act *x, const lm_packed *w, int T, int r0, int r1);
void lm_matmul_q5_k_neon(float *y, const lm_q8_act *x, const lm_packed *w, int T, int r0, int r1);
void lm_matmul_q4_k_neondot(float *y, const lm_q8_act *x, const lm_packed *w, int T, int r0,
                            int r1);
void lm_matmul_q5_k_neondot(float *y, const lm_q8_act *x, const lm_packed *w, int T, int r0,
                            int r1);

#endif
