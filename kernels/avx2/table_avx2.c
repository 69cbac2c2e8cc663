/* The AVX2 + FMA table: its own kernels, but rmsnorm and attention (below). */
#include "scalar/scalar.h"
#include "avx2.h"

/* rmsnorm and attention stay on the scalar oracle: Q8_0 models re-quantize
 * every activation, so their reordered SIMD sums changed greedy text against
 * runq.c's golden output (kjv1m.q80, "In the beginning"). An order-preserving
 * vector version (lanes across positions) is the planned replacement. */
const lm_kernels lm_kernels_avx2 = {
    .isa = "avx2",
    .matmul_f32 = lm_matmul_f32_avx2,
    .matmul_q8 = lm_matmul_q8_avx2,
    .quantize_q8 = lm_quantize_q8_avx2,
    .rmsnorm = lm_rmsnorm_f32_scalar,
    .softmax = lm_softmax_f32_avx2,
    .rope = lm_rope_f32_avx2,
    .attention = lm_attention_f32_scalar,
    .swiglu = lm_swiglu_f32_avx2,
};
