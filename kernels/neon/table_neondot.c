/* ASIMD plus the dot-product extension: the neon table with sdot for matmul_q8,
 * the only operation it speeds up. */
#include "neon.h"

const lm_kernels lm_kernels_neondot = {
    .isa = "neondot",
    .matmul_f32 = lm_matmul_f32_neon,
    .matmul_q8 = lm_matmul_q8_neondot,
    .matmul_f16 = lm_matmul_f16_neon,
    .matmul_bf16 = lm_matmul_bf16_neon,
    .matmul_q6_k = lm_matmul_q6_k_neondot,
    .matmul_q4_0 = lm_matmul_q4_0_neondot,
    .matmul_q4_1 = lm_matmul_q4_1_neondot,
    .matmul_q5_0 = lm_matmul_q5_0_neondot,
    .matmul_q5_1 = lm_matmul_q5_1_neondot,
    .matmul_q4_k = lm_matmul_q4_k_neondot,
    .matmul_q5_k = lm_matmul_q5_k_neondot,
    .quantize_q8 = lm_quantize_q8_neon,
    .rmsnorm = lm_rmsnorm_f32_neon,
    .softmax = lm_softmax_f32_neon,
    .rope = lm_rope_f32_neon,
    .attention = lm_attention_f32_neon,
    .attention_f16 = lm_attention_f16_neon,
    .swiglu = lm_swiglu_f32_neon,
};
