/* As lm_kernels_avx512, but matmul_q8 uses vpdpbusd. */
#include "avx512.h"
#include "avx2/avx2.h"

const lm_kernels lm_kernels_avx512vnni = {
    .isa = "avx512vnni",
    .matmul_f32 = lm_matmul_f32_avx512,
    .matmul_q8 = lm_matmul_q8_avx512vnni,
    .matmul_f16 = lm_matmul_f16_avx512,
    .matmul_bf16 = lm_matmul_bf16_avx512,
    .matmul_q6_k = lm_matmul_q6_k_avx2,
    .matmul_q4_0 = lm_matmul_q4_0_avx2, /* AVX2 (kernels/avx2): the same bits */
    .matmul_q4_1 = lm_matmul_q4_1_avx2, /* AVX2 (kernels/avx2): the same bits */
    .matmul_q5_0 = lm_matmul_q5_0_avx2, /* AVX2 (kernels/avx2): the same bits */
    .matmul_q5_1 = lm_matmul_q5_1_avx2, /* AVX2 (kernels/avx2): the same bits */
    .matmul_q4_k = lm_matmul_q4_k_avx2,
    .matmul_q5_k = lm_matmul_q5_k_avx2,
    .quantize_q8 = lm_quantize_q8_avx512,
    .rmsnorm = lm_rmsnorm_f32_avx512,
    .softmax = lm_softmax_f32_avx512,
    .rope = lm_rope_f32_avx512,
    .attention = lm_attention_f32_avx512,
    .attention_f16 = lm_attention_f16_avx512,
    .swiglu = lm_swiglu_f32_avx512,
};
