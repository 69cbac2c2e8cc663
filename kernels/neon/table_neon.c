/* Plain ASIMD (every AArch64 CPU). */
#include "neon.h"

const lm_kernels lm_kernels_neon = {
    .isa = "neon",
    .matmul_f32 = lm_matmul_f32_neon,
    .matmul_q8 = lm_matmul_q8_neon,
    .matmul_f16 = lm_matmul_f16_neon,
    .matmul_bf16 = lm_matmul_bf16_neon,
    .matmul_q6_k = lm_matmul_q6_k_neon,
    .matmul_q4_0 = lm_matmul_q4_0_neon,
    .matmul_q4_1 = lm_matmul_q4_1_neon,
    .matmul_q5_0 = lm_matmul_q5_0_neon,
    .matmul_q5_1 = lm_matmul_q5_1_neon,
    .matmul_q4_k = lm_matmul_q4_k_neon,
    .matmul_q5_k = lm_matmul_q5_k_neon,
    .quantize_q8 = lm_quantize_q8_neon,
    .rmsnorm = lm_rmsnorm_f32_neon,
    .softmax = lm_softmax_f32_neon,
    .rope = lm_rope_f32_neon,
    .attention = lm_attention_f32_neon,
    .attention_f16 = lm_attention_f16_neon,
    .swiglu = lm_swiglu_f32_neon,
};
