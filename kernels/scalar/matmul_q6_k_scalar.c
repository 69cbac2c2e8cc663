/* Q6_K products in kernels/ORDER.md's order ("Block-quantized weights"):
 * per super-block b of 256 values, the exact int32 S = sum_j sc_j * isum_j
 * over its 16 sub-blocks of 16 (isum_j = sum q_k * x_k, q in -32..31), then
 * val = val + ((float)S * d) * s_x[b], unfused, from val = 0.
 * lm_matmul_q6_k_ref reads the file's row-major blocks (the oracle);
 * lm_matmul_q6_k_scalar the same arithmetic on the panels of quant/q6_k.c.
 * Bounds: |isum_j| <= 16 * 32 * 128 = 2^16, |S| <= 16 * 128 * 2^16 = 2^27. */
#include <string.h>

#include "half.h"
#include "quant/q6_k.h"
#include "scalar.h"

/* One row's super-block: q[256] (-32..31), sc[16], against x[256]. */
static int32_t q6k_S(const int8_t *q, const int8_t *sc, const int8_t *x) {
    int32_t S = 0;
    for (int j = 0; j < 16; j++) {
        int32_t isum = 0;
        for (int k = 16 * j; k < 16 * j + 16; k++) isum += (int32_t)q[k] * (int32_t)x[k];
        S += (int32_t)sc[j] * isum;
    }
    return S;
}

void lm_matmul_q6_k_ref(float *y, const lm_q8_act *x, const void *blocks, int T, int n, int d,
                        int r0, int r1) {
    const int nb = n / 256;
    const uint8_t *src = blocks;
    for (int i = r0; i < r1; i++) {
        for (int t = 0; t < T; t++) {
            const int8_t *xq = x->q + (size_t)t * n;
            const float *xs = x->s + (size_t)t * nb;
            float val = 0.0f;
            for (int b = 0; b < nb; b++) {
                const uint8_t *blk = src + ((size_t)i * nb + b) * 210;
                int8_t q[256], sc[16];
                for (int k = 0; k < 256; k++) { /* ggml's bit positions */
                    int h = k / 128, qd = (k % 128) / 32, l = k % 32;
                    int lo = blk[64 * h + l + 32 * (qd & 1)] >> (4 * (qd >> 1)) & 15;
                    int hi = blk[128 + 32 * h + l] >> (2 * qd) & 3;
                    q[k] = (int8_t)((lo | hi << 4) - 32);
                }
                memcpy(sc, blk + 192, 16);
                uint16_t hd;
                memcpy(&hd, blk + 208, 2);
                int32_t S = q6k_S(q, sc, xq + 256 * b);
                val = val + ((float)S * lm_f16_to_f32(hd)) * xs[b];
            }
            y[(size_t)t * d + i] = val;
        }
    }
}

void lm_matmul_q6_k_scalar(float *y, const lm_q8_act *x, const lm_packed *w, int T, int r0,
                           int r1) {
    const int n = w->cols, d = w->rows, nb = n / 256;
    if (r1 > d) r1 = d;
    for (int p = r0 / LM_PANEL; p * LM_PANEL < r1; p++) {
        int l0 = r0 > p * LM_PANEL ? r0 - p * LM_PANEL : 0;
        int l1 = r1 - p * LM_PANEL < LM_PANEL ? r1 - p * LM_PANEL : LM_PANEL;
        for (int l = l0; l < l1; l++) {
            /* y is the accumulator: each super-block is decoded once for all T */
            float *yi = y + p * LM_PANEL + l;
            for (int t = 0; t < T; t++) yi[(size_t)t * d] = 0.0f;
            for (int b = 0; b < nb; b++) {
                const uint8_t *unit = w->blk + ((size_t)p * nb + b) * LM_Q6K_UNIT;
                int8_t q[256], sc[16];
                for (int k = 0; k < 256; k++) q[k] = (int8_t)(lm_q6k_u(unit, l, k) - 32);
                for (int j = 0; j < 16; j++) sc[j] = (int8_t)lm_q6k_sc(unit, l, j);
                const float dw = lm_q6k_d(unit, l);
                for (int t = 0; t < T; t++) {
                    int32_t S = q6k_S(q, sc, x->q + (size_t)t * n + 256 * b);
                    float *v = yi + (size_t)t * d;
                    *v = *v + ((float)S * dw) * x->s[(size_t)t * nb + b];
                }
            }
        }
    }
}
