#include "scalar.h"

const lm_kernels lm_kernels_scalar = {
    .isa = "scalar",
    .matmul_f32 = lm_matmul_f32_scalar,
    .matmul_q8 = lm_matmul_q8_scalar,
    .matmul_f16 = lm_matmul_f16_scalar,
    .matmul_bf16 = lm_matmul_bf16_scalar,
    .matmul_q6_k = lm_matmul_q6_k_scalar,
    .matmul_q4_0 = lm_matmul_q4_0_scalar,
    .matmul_q4_1 = lm_matmul_q4_1_scalar,
    .matmul_q5_0 = lm_matmul_q5_0_scalar,
    .matmul_q5_1 = lm_matmul_q5_1_scalar,
    .matmul_q4_k = lm_matmul_q4_k_scalar,
    .matmul_q5_k = lm_matmul_q5_k_scalar,
    .quantize_q8 = lm_quantize_q8_scalar,
    .rmsnorm = lm_rmsnorm_f32_scalar,
    .softmax = lm_softmax_f32_scalar,
    .rope = lm_rope_f32_scalar,
    .attention = lm_attention_f32_scalar,
    .attention_f16 = lm_attention_f16_scalar,
    .swiglu = lm_swiglu_f32_scalar,
};
