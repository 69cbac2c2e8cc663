/* Q5_0 product with AVX2: kernels/avx2/matmul_qlegacy_avx2.h. */
#include "matmul_qlegacy_avx2.h"
#include "scalar/scalar.h"

void lm_matmul_q5_0_avx2(float *y, const lm_q8_act *x, const lm_packed *w, int T, int r0, int r1) {
    ql_avx2(y, x, w, T, r0, r1, lm_matmul_q5_0_scalar, 0, 1, 16);
}
