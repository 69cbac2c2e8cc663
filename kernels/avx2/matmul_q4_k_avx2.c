/* Q4_K product with AVX2 (matmul_kq_avx2.h). */
#include "matmul_kq_avx2.h"

void lm_matmul_q4_k_avx2(float *y, const lm_q8_act *x, const lm_packed *w, int T, int r0, int r1) {
    kq_matmul(y, x, w, T, r0, r1, 0);
}
