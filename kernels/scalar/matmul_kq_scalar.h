/* The Q4_K / Q5_K products in kernels/ORDER.md's order ("Block-quantized
 * weights"), shared by matmul_q4_k_scalar.c and matmul_q5_k_scalar.c (KQ_Q5
 * picks the type): kq_ref on the file's row-major blocks (the oracle) and
 * kq_panels on the panels of kernels/quant/kq45.h. Per output element:
 * val = +0; per super-block b, S = sum_j sc_j isum_j and M = sum_j m_j xsum_j
 * in int32 (exact), then val = (val + ((float)S * d) * s_x) - ((float)M *
 * dmin) * s_x, each operation rounded on its own (-ffp-contract=off). */
#include <string.h>

#include "half.h"
#include "qtypes.h"
#include "quant/kq45.h"

static inline float kq_step(float val, int32_t S, int32_t M, float d, float dmin, float sx) {
    float a = ((float)S * d) * sx;
    float b = ((float)M * dmin) * sx;
    return (val + a) - b;
}

/* One output from the file's blocks of row `row` (nsb super-blocks). */
static float kq_dot_ref(const uint8_t *row, const int8_t *xq, const float *xs, int nsb, int q5) {
    const size_t bb = q5 ? sizeof(lm_block_q5_k) : sizeof(lm_block_q4_k);
    float val = 0.0f;
    for (int b = 0; b < nsb; b++) {
        lm_block_q5_k blk; /* Q4_K read into the same fields */
        lm_block_q4_k b4;
        if (q5) {
            memcpy(&blk, row + (size_t)b * bb, bb);
        } else {
            memcpy(&b4, row + (size_t)b * bb, bb);
            blk.d = b4.d, blk.dmin = b4.dmin;
            memcpy(blk.scales, b4.scales, 12);
            memcpy(blk.qs, b4.qs, 128);
            memset(blk.qh, 0, 32);
        }
        const int8_t *x = xq + b * 256;
        int32_t S = 0, M = 0;
        for (int j = 0; j < 8; j++) {
            int sc, m;
            lm_kq_scale_min(blk.scales, j, &sc, &m);
            int32_t isum = 0, xsum = 0;
            for (int k = 0; k < 32; k++) {
                int q = blk.qs[32 * (j / 2) + k];
                q = j & 1 ? q >> 4 : q & 15;
                q |= ((blk.qh[k] >> j) & 1) << 4;
                isum += q * x[32 * j + k];
                xsum += x[32 * j + k];
            }
            S += sc * isum;
            M += m * xsum;
        }
        val = kq_step(val, S, M, lm_f16_to_f32(blk.d), lm_f16_to_f32(blk.dmin), xs[b]);
    }
    return val;
}

static void kq_ref(float *y, const lm_q8_act *x, const void *blocks, int T, int n, int d, int r0,
                   int r1, int q5) {
    const int nsb = n / 256;
    const size_t rb = (size_t)nsb * (q5 ? sizeof(lm_block_q5_k) : sizeof(lm_block_q4_k));
    for (int t = 0; t < T; t++)
        for (int i = r0; i < r1 && i < d; i++)
            y[(size_t)t * d + i] =
                kq_dot_ref((const uint8_t *)blocks + (size_t)i * rb, x->q + (size_t)t * n,
                           x->s + (size_t)t * nsb, nsb, q5);
}

/* The same chains on the panels, 16 rows of a cell at a time (each cell is
 * read once per token, as the vector kernels read it). */
static void kq_cell(int32_t *S, int32_t *M, const uint8_t *cell, const int8_t *xb, int q5) {
    for (int l = 0; l < LM_PANEL; l++) S[l] = M[l] = 0;
    for (int j = 0; j < 8; j++) {
        int32_t isum[LM_PANEL] = {0}, xsum = 0;
        for (int k = 0; k < 32; k++) xsum += xb[32 * j + k];
        for (int s = 0; s < 8; s++) {
            const uint8_t *qs = cell + LM_KQ_QS + (j / 2) * 512 + s * 64;
            const uint8_t *qh = cell + LM_KQ_QH + s * 64;
            for (int l = 0; l < LM_PANEL; l++)
                for (int i = 0; i < 4; i++) {
                    int q = j & 1 ? qs[l * 4 + i] >> 4 : qs[l * 4 + i] & 15;
                    if (q5) q |= ((qh[l * 4 + i] >> j) & 1) << 4;
                    isum[l] += q * xb[32 * j + 4 * s + i];
                }
        }
        for (int l = 0; l < LM_PANEL; l++) {
            int sc, m;
            lm_kq_cell_scale_min(cell, q5, l, j, &sc, &m);
            S[l] += sc * isum[l];
            M[l] += m * xsum;
        }
    }
}

static void kq_panels(float *y, const lm_q8_act *x, const lm_packed *w, int T, int r0, int r1,
                      int q5) {
    const int n = w->cols, d = w->rows, nsb = n / 256;
    if (r1 > d) r1 = d;
    for (int p = r0 / LM_PANEL; p * LM_PANEL < r1; p++)
        for (int t = 0; t < T; t++) {
            float val[LM_PANEL] = {0};
            for (int b = 0; b < nsb; b++) {
                const uint8_t *cell = lm_kq_cell_at(w, p, b, q5);
                int32_t S[LM_PANEL], M[LM_PANEL];
                kq_cell(S, M, cell, x->q + (size_t)t * n + b * 256, q5);
                for (int l = 0; l < LM_PANEL; l++) {
                    uint16_t hd, hm;
                    memcpy(&hd, cell + lm_kq_d(q5) + 2 * l, 2);
                    memcpy(&hm, cell + lm_kq_dmin(q5) + 2 * l, 2);
                    val[l] = kq_step(val[l], S[l], M[l], lm_f16_to_f32(hd), lm_f16_to_f32(hm),
                                     x->s[(size_t)t * nsb + b]);
                }
            }
            for (int l = 0; l < LM_PANEL; l++) {
                int i = p * LM_PANEL + l;
                if (i >= r0 && i < r1) y[(size_t)t * d + i] = val[l];
            }
        }
}
