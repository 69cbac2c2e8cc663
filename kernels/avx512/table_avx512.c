/* AVX-512 kernels, but rmsnorm and attention (below); VNNI differs only in matmul_q8. */
#include "scalar/scalar.h"
#include "avx512.h"
#include "avx2/avx2.h"

/* rmsnorm and attention stay on the scalar oracle: Q8_0 models re-quantize
 * every activation, so their reordered SIMD sums changed greedy text against
 * runq.c's golden output (kjv1m.q80, "In the beginning"). An order-preserving
 * vector version (lanes across positions) is the planned replacement.
 * matmul_q8 is the AVX2 kernel for the same reason: it adds groups in the
 * oracle's order, which the AVX-512/VNNI kernels (matmul_q8_avx512*.c) do not. */
const lm_kernels lm_kernels_avx512 = {
    .isa = "avx512",
    .matmul_f32 = lm_matmul_f32_avx512,
    .matmul_q8 = lm_matmul_q8_avx2,
    .quantize_q8 = lm_quantize_q8_avx512,
    .rmsnorm = lm_rmsnorm_f32_scalar,
    .softmax = lm_softmax_f32_avx512,
    .rope = lm_rope_f32_avx512,
    .attention = lm_attention_f32_scalar,
    .swiglu = lm_swiglu_f32_avx512,
};
