/* The legacy block products (Q4_0, Q4_1, Q5_0, Q5_1) with NEON on the panels
 * of kernels/quant/qlegacy.h; matmul_<type>_neon.c and _neondot.c define
 * LM_QL_DOT16(acc, w, x) (the exact 4-byte dots of 4 rows with the activation
 * quad repeated in x, added to acc's int32 lanes: smull + addp + padal, or
 * sdot) and instantiate it. A quad's 32 bytes are two q registers: low
 * nibbles rows 0-3 and 4-7, high nibbles rows 8-11 and 12-15; Q5's 5th bits
 * are bit c of the qh bytes of the same rows, shifted to bit 4 and or-ed in.
 * The values (at most 31) are non-negative int8, so the dots are exact int32
 * sums; the offset (8, 16) is taken out as offset * xsum in int32. Each row's
 * lane then adds ((float)isum * d) * s_x (and ((float)xsum * m) * s_x) with
 * mul, mul, add: kernels/ORDER.md's order. */
#include <stdlib.h>
#include <string.h>

#include "quant/qlegacy.h"
#include "math_neon.h"

static inline __attribute__((always_inline)) void
ql_tile(float *y, const lm_q8_act *x, const int32_t *xsum, const lm_packed *w, int p, int t0,
        int r0, int r1, const int NT, const int has_m, const int has_h, const int offset) {
    const int n = w->cols, d = w->rows, nb = n / 32;
    const size_t bpb = LM_QL_BP(has_m, has_h);
    const uint8_t *panel = w->blk + (size_t)p * (size_t)nb * bpb;
    const int8_t *xq = x->q + (size_t)t0 * n;
    const float *xs = x->s + (size_t)t0 * nb;
    const int32_t *xsm = xsum + (size_t)t0 * nb;
    const uint8x16_t mask = vdupq_n_u8(15), m10 = vdupq_n_u8(0x10);
    float32x4_t val[2][4];
    for (int t = 0; t < NT; t++)
        for (int j = 0; j < 4; j++) val[t][j] = vdupq_n_f32(0.0f);
    for (int b = 0; b < nb; b++) {
        const uint8_t *bp = panel + (size_t)b * bpb;
        const uint8_t *qs = bp + lm_ql_qs_off(has_m, has_h);
        uint8x16_t hb[4];
        if (has_h)
            for (int j = 0; j < 4; j++) hb[j] = vld1q_u8(bp + lm_ql_qh_off(has_m) + 16 * j);
        int32x4_t isum[2][4];
        for (int t = 0; t < NT; t++)
            for (int j = 0; j < 4; j++) isum[t][j] = vdupq_n_s32(0);
        for (int c = 0; c < 8; c++) {
            uint8x16_t v0 = vld1q_u8(qs + 32 * c), v1 = vld1q_u8(qs + 32 * c + 16);
            /* rows 0-3, 4-7, 8-11, 12-15 */
            uint8x16_t u[4] = {vandq_u8(v0, mask), vandq_u8(v1, mask), vshrq_n_u8(v0, 4),
                               vshrq_n_u8(v1, 4)};
            if (has_h) {
                const int8x16_t sh = vdupq_n_s8((int8_t)(4 - c));
                for (int j = 0; j < 4; j++)
                    u[j] = vorrq_u8(u[j], vandq_u8(vshlq_u8(hb[j], sh), m10));
            }
            for (int t = 0; t < NT; t++) {
                int32_t x4;
                memcpy(&x4, xq + (size_t)t * n + 32 * b + 4 * c, 4);
                int8x16_t xb = vreinterpretq_s8_s32(vdupq_n_s32(x4));
                for (int j = 0; j < 4; j++)
                    isum[t][j] = LM_QL_DOT16(isum[t][j], vreinterpretq_s8_u8(u[j]), xb);
            }
        }
        float32x4_t dw[4], mw[4];
        for (int j = 0; j < 4; j++) {
            dw[j] = lm_neon_halves(bp + 8 * j);
            mw[j] = has_m ? lm_neon_halves(bp + lm_ql_m_off() + 8 * j) : vdupq_n_f32(0.0f);
        }
        for (int t = 0; t < NT; t++) {
            const int32_t xsv = xsm[(size_t)t * nb + b];
            const float32x4_t sx = vdupq_n_f32(xs[(size_t)t * nb + b]);
            const float32x4_t fx = vdupq_n_f32((float)xsv);
            for (int j = 0; j < 4; j++) {
                int32x4_t is = isum[t][j];
                if (offset) is = vsubq_s32(is, vdupq_n_s32(offset * xsv));
                val[t][j] =
                    vaddq_f32(val[t][j], vmulq_f32(vmulq_f32(vcvtq_f32_s32(is), dw[j]), sx));
                if (has_m) val[t][j] = vaddq_f32(val[t][j], vmulq_f32(vmulq_f32(fx, mw[j]), sx));
            }
        }
    }
    for (int t = 0; t < NT; t++) lm_neon_store_panel(y + (size_t)(t0 + t) * d, p, r0, r1, val[t]);
}

/* Activation sums of up to this many blocks (all tokens) live on the stack. */
#define QL_STACK_SUMS 4096

static inline __attribute__((always_inline)) void ql_neon(float *y, const lm_q8_act *x,
                                                          const lm_packed *w, int T, int r0, int r1,
                                                          lm_matmul_blk_fn oracle, const int has_m,
                                                          const int has_h, const int offset) {
    const int n = w->cols, d = w->rows, nb = n / 32;
    if (r1 > d) r1 = d;
    if (r0 >= r1 || T <= 0) return;
    int32_t stack[QL_STACK_SUMS], *xsum = stack;
    size_t cnt = (size_t)T * (size_t)nb;
    if (cnt > QL_STACK_SUMS && !(xsum = malloc(cnt * sizeof(int32_t)))) {
        oracle(y, x, w, T, r0, r1); /* the same bits, slower */
        return;
    }
    for (int t = 0; t < T; t++)
        for (int b = 0; b < nb; b++) {
            const int8_t *q = x->q + (size_t)t * n + 32 * b;
            xsum[(size_t)t * nb + b] = vaddlvq_s8(vld1q_s8(q)) + vaddlvq_s8(vld1q_s8(q + 16));
        }
    for (int p = r0 / LM_PANEL; p * LM_PANEL < r1; p++) {
        int t0 = 0;
        for (; t0 + 2 <= T; t0 += 2) ql_tile(y, x, xsum, w, p, t0, r0, r1, 2, has_m, has_h, offset);
        if (t0 < T) ql_tile(y, x, xsum, w, p, t0, r0, r1, 1, has_m, has_h, offset);
    }
    if (xsum != stack) free(xsum);
}
