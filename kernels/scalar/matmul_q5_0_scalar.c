/* Q5_0 product, the oracle: kernels/scalar/matmul_qlegacy_scalar.h. */
#include "matmul_qlegacy_scalar.h"

void lm_matmul_q5_0_scalar(float *y, const lm_q8_act *x, const lm_packed *w, int T, int r0,
                           int r1) {
    lm_ql_scalar(y, x, w, T, r0, r1, 0, 1, 16);
}
