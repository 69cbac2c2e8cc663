/* The AVX2 + FMA table: every operation has its own kernel. rmsnorm and
 * attention keep the scalar oracle's order of operations (bit-identical), as
 * Q8_0 models re-quantize every activation and reordered sums changed greedy
 * text against runq.c's golden output. */
#include "avx2.h"

const lm_kernels lm_kernels_avx2 = {
    .isa = "avx2",
    .matmul_f32 = lm_matmul_f32_avx2,
    .matmul_q8 = lm_matmul_q8_avx2,
    .matmul_f16 = lm_matmul_f16_avx2,
    .matmul_bf16 = lm_matmul_bf16_avx2,
    .matmul_q6_k = lm_matmul_q6_k_avx2,
    .matmul_q4_0 = lm_matmul_q4_0_avx2,
    .matmul_q4_1 = lm_matmul_q4_1_avx2,
    .matmul_q5_0 = lm_matmul_q5_0_avx2,
    .matmul_q5_1 = lm_matmul_q5_1_avx2,
    .matmul_q4_k = lm_matmul_q4_k_avx2,
    .matmul_q5_k = lm_matmul_q5_k_avx2,
    .quantize_q8 = lm_quantize_q8_avx2,
    .rmsnorm = lm_rmsnorm_f32_avx2,
    .softmax = lm_softmax_f32_avx2,
    .rope = lm_rope_f32_avx2,
    .attention = lm_attention_f32_avx2,
    .attention_f16 = lm_attention_f16_avx2,
    .swiglu = lm_swiglu_f32_avx2,
};
