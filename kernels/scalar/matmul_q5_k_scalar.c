/* Q5_K products: the oracle on the file's blocks and on the panels
 * (matmul_kq_scalar.h). */
#include "scalar.h"

#include "matmul_kq_scalar.h"

void lm_matmul_q5_k_ref(float *y, const lm_q8_act *x, const void *blocks, int T, int n, int d,
                        int r0, int r1) {
    kq_ref(y, x, blocks, T, n, d, r0, r1, 1);
}

void lm_matmul_q5_k_scalar(float *y, const lm_q8_act *x, const lm_packed *w, int T, int r0,
                           int r1) {
    kq_panels(y, x, w, T, r0, r1, 1);
}
