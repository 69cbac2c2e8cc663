/* The portable scalar kernels: the oracle every SIMD kernel is tested against,
 * and the fallback an ISA table uses for operations it does not specialise.
 * Each loop follows llama2.c's run.c / runq.c in the order of its arithmetic. */
#ifndef LAMINA_KERNELS_SCALAR_H
#define LAMINA_KERNELS_SCALAR_H

#include "kernels.h"

extern const lm_kernels lm_kernels_scalar;

/* fmaf is one instruction where the CPU has FMA and a libm call elsewhere;
 * both round once, so a clone built for FMA gives the same bits, faster (the
 * golden and order tests run the oracle table on whole models). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define LM_FMA_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define LM_FMA_CLONES
#endif

/* The written order on row-major matrices (the oracle; also the generic Q8_0
 * path for matrices without panels). */
void lm_matmul_f32_ref(float *y, const float *x, const float *w, int T, int n, int d, int r0,
                       int r1);
void lm_matmul_q8_ref(float *y, const lm_q8_act *x, const lm_q8 *w, int T, int n, int d, int r0,
                      int r1);
/* The same on panels: the scalar table's products. */
void lm_matmul_f32_scalar(float *y, const float *x, const lm_packed *w, int T, int r0, int r1);
void lm_matmul_f16_scalar(float *y, const float *x, const lm_packed *w, int T, int r0, int r1);
void lm_matmul_bf16_scalar(float *y, const float *x, const lm_packed *w, int T, int r0, int r1);
void lm_matmul_q8_scalar(float *y, const lm_q8_act *x, const lm_packed *w, int T, int r0, int r1);
/* Q6_K (kernels/quant/q6_k.c): the oracle on the file's row-major blocks
 * (210 bytes each) and the same arithmetic on panels. */
void lm_matmul_q6_k_ref(float *y, const lm_q8_act *x, const void *blocks, int T, int n, int d,
                        int r0, int r1);
void lm_matmul_q6_k_scalar(float *y, const lm_q8_act *x, const lm_packed *w, int T, int r0, int r1);
/* The legacy block types (kernels/quant/qlegacy.h's panels). */
void lm_matmul_q4_0_scalar(float *y, const lm_q8_act *x, const lm_packed *w, int T, int r0, int r1);
void lm_matmul_q4_1_scalar(float *y, const lm_q8_act *x, const lm_packed *w, int T, int r0, int r1);
void lm_matmul_q5_0_scalar(float *y, const lm_q8_act *x, const lm_packed *w, int T, int r0, int r1);
void lm_matmul_q5_1_scalar(float *y, const lm_q8_act *x, const lm_packed *w, int T, int r0, int r1);
void lm_quantize_q8_scalar(int8_t *q, float *s, const float *x, int n, int gs);
void lm_rmsnorm_f32_scalar(float *o, const float *x, const float *w, int n, float eps);
void lm_softmax_f32_scalar(float *x, int n);
void lm_rope_f32_scalar(float *v, int n, int head_size, const float *cs);
void lm_attention_f32_scalar(float *out, const float *q, const float *k, const float *v, float *att,
                             int n_pos, int head_size, int stride);
void lm_attention_f16_scalar(float *out, const float *q, const uint16_t *k, const uint16_t *v,
                             float *att, int n_pos, int head_size, int stride);
void lm_swiglu_f32_scalar(float *a, const float *b, int n);

/* Q4_K / Q5_K (kernels/ORDER.md, "Block-quantized weights"): the oracle on the
 * file's row-major blocks (n % 256 == 0) and the same chains on the panels. */
void lm_matmul_q4_k_ref(float *y, const lm_q8_act *x, const void *blocks, int T, int n, int d,
                        int r0, int r1);
void lm_matmul_q5_k_ref(float *y, const lm_q8_act *x, const void *blocks, int T, int n, int d,
                        int r0, int r1);
void lm_matmul_q4_k_scalar(float *y, const lm_q8_act *x, const lm_packed *w, int T, int r0, int r1);
void lm_matmul_q5_k_scalar(float *y, const lm_q8_act *x, const lm_packed *w, int T, int r0, int r1);

#endif
