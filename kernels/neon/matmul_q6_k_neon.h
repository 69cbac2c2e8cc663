/* The Q6_K panel product shared by matmul_q6_k_neon.c and
 * matmul_q6_k_neondot.c (kernels/quant/q6_k.c has the layout); each defines
 * LM_DOT16(acc, w, x) (the exact 4-byte dots of 4 rows with the 4 activation
 * bytes repeated in x, added to acc's int32 lanes) and the function name
 * LM_Q6K_NEON_FN before including it. Values are unpacked to q = u - 32
 * (-32..31), so every dot is exact for any int8 activation; each sub-block's
 * int32 sums are multiplied by the row's scale (mla) into S, then
 * ((float)S * d) * s_x is added with mul, mul, add: ORDER.md's order, each
 * row in its own lane (rows 4R .. 4R + 3 in register R). */

#include "math_neon.h"
#include "quant/q6_k.h"

/* q (-32..31) of one 96-byte group: wa[R] cell A, wb[R] cell B, rows 4R.. */
static inline void q6k_unpack(const uint8_t *src, int8x16_t *wa, int8x16_t *wb) {
    const uint8x16_t m4 = vdupq_n_u8(15), m3 = vdupq_n_u8(3);
    const int8x16_t off = vdupq_n_s8(32);
    for (int h = 0; h < 2; h++) {
        uint8x16_t la = vld1q_u8(src + 16 * h), lb = vld1q_u8(src + 32 + 16 * h);
        uint8x16_t hb = vld1q_u8(src + 64 + 16 * h);
        uint8x16_t ua0 = vorrq_u8(vandq_u8(la, m4), vshlq_n_u8(vandq_u8(hb, m3), 4));
        uint8x16_t ua1 =
            vorrq_u8(vshrq_n_u8(la, 4), vshlq_n_u8(vandq_u8(vshrq_n_u8(hb, 2), m3), 4));
        uint8x16_t ub0 = vorrq_u8(vandq_u8(lb, m4), vshlq_n_u8(vandq_u8(vshrq_n_u8(hb, 4), m3), 4));
        uint8x16_t ub1 = vorrq_u8(vshrq_n_u8(lb, 4), vshlq_n_u8(vshrq_n_u8(hb, 6), 4));
        /* bytes 0-15 are rows 0-3 (low) and 8-11 (high), 16-31 rows 4-7, 12-15 */
        wa[h] = vsubq_s8(vreinterpretq_s8_u8(ua0), off);
        wa[2 + h] = vsubq_s8(vreinterpretq_s8_u8(ua1), off);
        wb[h] = vsubq_s8(vreinterpretq_s8_u8(ub0), off);
        wb[2 + h] = vsubq_s8(vreinterpretq_s8_u8(ub1), off);
    }
}

/* Scales of sub-block j for rows 4R .. 4R + 3, widened to int32. */
static inline int32x4_t q6k_scales(const uint8_t *unit, int j, int R) {
    const int8_t *sc = (const int8_t *)unit + LM_Q6K_SC + (j / 2) * 32 + (R / 2) * 16 + (R % 2) * 8;
    int16x8_t pairs = vmovl_s8(vld1_s8(sc));
    int16x8_t pick = (j & 1) ? vuzp2q_s16(pairs, pairs) : vuzp1q_s16(pairs, pairs);
    return vmovl_s16(vget_low_s16(pick));
}

static inline __attribute__((always_inline)) void q6k_block(float *y, const lm_q8_act *x,
                                                            const lm_packed *w, int p, int t0,
                                                            int r0, int r1, const int NT) {
    const int n = w->cols, d = w->rows, nb = n / 256;
    float32x4_t val[2][4];
    for (int t = 0; t < NT; t++)
        for (int R = 0; R < 4; R++) val[t][R] = vdupq_n_f32(0.0f);
    for (int b = 0; b < nb; b++) {
        const uint8_t *unit = w->blk + ((size_t)p * nb + b) * LM_Q6K_UNIT;
        int32x4_t S[2][4];
        for (int t = 0; t < NT; t++)
            for (int R = 0; R < 4; R++) S[t][R] = vdupq_n_s32(0);
        for (int j = 0; j < 16; j++) {
            int32x4_t isum[2][4];
            for (int t = 0; t < NT; t++)
                for (int R = 0; R < 4; R++) isum[t][R] = vdupq_n_s32(0);
            for (int cp = 0; cp < 2; cp++) {
                const int g = 2 * j + cp;
                int8x16_t wa[4], wb[4];
                q6k_unpack(unit + LM_Q6K_VALS + LM_Q6K_GROUP * g, wa, wb);
                for (int t = 0; t < NT; t++) {
                    const int8_t *xk = x->q + (size_t)(t0 + t) * n + 256 * b + 8 * g;
                    int32_t a4, b4;
                    memcpy(&a4, xk, 4);
                    memcpy(&b4, xk + 4, 4);
                    int8x16_t xa = vreinterpretq_s8_s32(vdupq_n_s32(a4));
                    int8x16_t xb = vreinterpretq_s8_s32(vdupq_n_s32(b4));
                    for (int R = 0; R < 4; R++) {
                        isum[t][R] = LM_DOT16(isum[t][R], wa[R], xa);
                        isum[t][R] = LM_DOT16(isum[t][R], wb[R], xb);
                    }
                }
            }
            for (int R = 0; R < 4; R++) {
                int32x4_t sc = q6k_scales(unit, j, R);
                for (int t = 0; t < NT; t++) S[t][R] = vmlaq_s32(S[t][R], isum[t][R], sc);
            }
        }
        for (int t = 0; t < NT; t++) {
            float32x4_t sx = vdupq_n_f32(x->s[(size_t)(t0 + t) * nb + b]);
            for (int R = 0; R < 4; R++) {
                float32x4_t dw = lm_neon_halves(unit + LM_Q6K_D + 8 * R);
                float32x4_t term = vmulq_f32(vmulq_f32(vcvtq_f32_s32(S[t][R]), dw), sx);
                val[t][R] = vaddq_f32(val[t][R], term);
            }
        }
    }
    for (int t = 0; t < NT; t++) lm_neon_store_panel(y + (size_t)(t0 + t) * d, p, r0, r1, val[t]);
}

void LM_Q6K_NEON_FN(float *y, const lm_q8_act *x, const lm_packed *w, int T, int r0, int r1) {
    const int d = w->rows;
    if (r1 > d) r1 = d;
    if (r0 >= r1) return;
    for (int p = r0 / LM_PANEL; p * LM_PANEL < r1; p++) {
        int t0 = 0;
        for (; t0 + 2 <= T; t0 += 2) q6k_block(y, x, w, p, t0, r0, r1, 2);
        if (t0 < T) q6k_block(y, x, w, p, t0, r0, r1, 1);
    }
}
