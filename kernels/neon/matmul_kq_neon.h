/* The Q4_K / Q5_K products with NEON on the panels of kernels/quant/kq45.h,
 * shared by matmul_kq_neon.c and matmul_kq_neondot.c; each defines
 * KQ_DOT16(acc, w, x) (the exact 4-byte dots of 4 rows with the 4 activation
 * bytes repeated in x, added to acc's int32 lanes) and KQ_FN(name) before
 * including it. 16 bytes of a cell are 4 k of 4 rows of two sub-blocks (low
 * and high nibbles, Q5_K's fifth bit or-ed in from QH); each sub-block's isum
 * stays in its row's int32 lane, then S += isum * sc and M += m * xsum in
 * int32 (exact), then the float steps of ORDER.md per lane with mul, mul,
 * add, sub (never fused). */
#include <arm_neon.h>
#include <string.h>

#include "neon.h"
#include "quant/kq45.h"
#include "scalar/scalar.h"
#include "math_neon.h"

/* 16 bytes (one per row) widened to four int32x4 of 4 rows. */
static inline void kq_widen16(int32x4_t *o, uint8x16_t v) {
    uint16x8_t lo = vmovl_u8(vget_low_u8(v)), hi = vmovl_high_u8(v);
    o[0] = vreinterpretq_s32_u32(vmovl_u16(vget_low_u16(lo)));
    o[1] = vreinterpretq_s32_u32(vmovl_high_u16(lo));
    o[2] = vreinterpretq_s32_u32(vmovl_u16(vget_low_u16(hi)));
    o[3] = vreinterpretq_s32_u32(vmovl_high_u16(hi));
}

/* Sub-block j's 6-bit scale (min: sub-block j's min) of the 16 rows from a
 * cell's SCM bytes: lm_kq_scale_min across rows (shift counts are literals;
 * j folds where the loops unroll). */
static inline __attribute__((always_inline)) uint8x16_t kq_six(const uint8_t *scm, const int j,
                                                               const int min) {
    const uint8x16_t lo6 = vdupq_n_u8(63), lo4 = vdupq_n_u8(15);
    if (j < 4) return vandq_u8(vld1q_u8(scm + 16 * (j + 4 * min)), lo6);
    const uint8x16_t r = vld1q_u8(scm + 16 * (j + 4));
    const uint8x16_t top = vld1q_u8(scm + 16 * (min ? j : j - 4));
    const uint8x16_t low = min ? vshrq_n_u8(r, 4) : vandq_u8(r, lo4);
    return vorrq_u8(low, vshlq_n_u8(vshrq_n_u8(top, 6), 4));
}

static inline __attribute__((always_inline)) void kq_block(float *y, const lm_q8_act *x,
                                                           const lm_packed *w, const int16_t *xsum,
                                                           int p, int t0, int r0, int r1,
                                                           const int NT, const int Q5) {
    const int n = w->cols, d = w->rows, nsb = n / 256, ng = n / 32;
    const int8_t *xq = x->q + (size_t)t0 * n;
    const float *xs = x->s + (size_t)t0 * nsb;
    const uint8x16_t m4 = vdupq_n_u8(0x0f), b4 = vdupq_n_u8(0x10);
    float32x4_t val[2][4];
    for (int t = 0; t < NT; t++)
        for (int j = 0; j < 4; j++) val[t][j] = vdupq_n_f32(0.0f);
    for (int b = 0; b < nsb; b++) {
        const uint8_t *cell = lm_kq_cell_at(w, p, b, Q5);
        int32x4_t S[2][4], M[2][4];
        for (int t = 0; t < NT; t++)
            for (int j = 0; j < 4; j++) S[t][j] = M[t][j] = vdupq_n_s32(0);
        for (int c = 0; c < 4; c++) {
            int32x4_t ia[2][4], ib[2][4];
            for (int t = 0; t < NT; t++)
                for (int j = 0; j < 4; j++) ia[t][j] = ib[t][j] = vdupq_n_s32(0);
            const int8x16_t sha = vdupq_n_s8((int8_t)(4 - 2 * c)),
                            shb = vdupq_n_s8((int8_t)(3 - 2 * c));
            for (int s = 0; s < 8; s++) {
                int8x16_t wa[4], wb[4];
                for (int j = 0; j < 4; j++) {
                    uint8x16_t v = vld1q_u8(cell + LM_KQ_QS + c * 512 + s * 64 + 16 * j);
                    uint8x16_t a = vandq_u8(v, m4), bb = vshrq_n_u8(v, 4);
                    if (Q5) {
                        uint8x16_t h = vld1q_u8(cell + LM_KQ_QH + s * 64 + 16 * j);
                        a = vorrq_u8(a, vandq_u8(vshlq_u8(h, sha), b4));
                        bb = vorrq_u8(bb, vandq_u8(vshlq_u8(h, shb), b4));
                    }
                    wa[j] = vreinterpretq_s8_u8(a);
                    wb[j] = vreinterpretq_s8_u8(bb);
                }
                for (int t = 0; t < NT; t++) {
                    const int8_t *xt = xq + (size_t)t * n + b * 256 + c * 64 + s * 4;
                    int32_t xa4, xb4;
                    memcpy(&xa4, xt, 4);
                    memcpy(&xb4, xt + 32, 4);
                    int8x16_t xa = vreinterpretq_s8_s32(vdupq_n_s32(xa4));
                    int8x16_t xb = vreinterpretq_s8_s32(vdupq_n_s32(xb4));
                    for (int j = 0; j < 4; j++) {
                        ia[t][j] = KQ_DOT16(ia[t][j], wa[j], xa);
                        ib[t][j] = KQ_DOT16(ib[t][j], wb[j], xb);
                    }
                }
            }
            int32x4_t sa[4], sb[4];
            kq_widen16(sa, kq_six(cell + lm_kq_scm(Q5), 2 * c, 0));
            kq_widen16(sb, kq_six(cell + lm_kq_scm(Q5), 2 * c + 1, 0));
            for (int t = 0; t < NT; t++)
                for (int j = 0; j < 4; j++) {
                    S[t][j] = vmlaq_s32(S[t][j], ia[t][j], sa[j]);
                    S[t][j] = vmlaq_s32(S[t][j], ib[t][j], sb[j]);
                }
        }
        for (int jp = 0; jp < 4; jp++) {
            uint8x16x2_t mm = {{kq_six(cell + lm_kq_scm(Q5), 2 * jp, 1),
                                kq_six(cell + lm_kq_scm(Q5), 2 * jp + 1, 1)}};
            for (int e = 0; e < 2; e++) {
                int16x8_t lo = vreinterpretq_s16_u16(vmovl_u8(vget_low_u8(mm.val[e])));
                int16x8_t hi = vreinterpretq_s16_u16(vmovl_high_u8(mm.val[e]));
                for (int t = 0; t < NT; t++) {
                    int16_t xv = xsum[(size_t)t * ng + b * 8 + jp * 2 + e];
                    M[t][0] = vmlal_n_s16(M[t][0], vget_low_s16(lo), xv);
                    M[t][1] = vmlal_high_n_s16(M[t][1], lo, xv);
                    M[t][2] = vmlal_n_s16(M[t][2], vget_low_s16(hi), xv);
                    M[t][3] = vmlal_high_n_s16(M[t][3], hi, xv);
                }
            }
        }
        float32x4_t dv[4], mv[4];
        for (int j = 0; j < 4; j++) {
            dv[j] = lm_neon_halves(cell + lm_kq_d(Q5) + 8 * j);
            mv[j] = lm_neon_halves(cell + lm_kq_dmin(Q5) + 8 * j);
        }
        for (int t = 0; t < NT; t++) {
            float32x4_t sx = vdupq_n_f32(xs[(size_t)t * nsb + b]);
            for (int j = 0; j < 4; j++) {
                float32x4_t a = vmulq_f32(vmulq_f32(vcvtq_f32_s32(S[t][j]), dv[j]), sx);
                float32x4_t m = vmulq_f32(vmulq_f32(vcvtq_f32_s32(M[t][j]), mv[j]), sx);
                val[t][j] = vsubq_f32(vaddq_f32(val[t][j], a), m);
            }
        }
    }
    for (int t = 0; t < NT; t++) lm_neon_store_panel(y + (size_t)(t0 + t) * d, p, r0, r1, val[t]);
}

/* Activation sums of this many groups at most live on the stack; the tokens
 * are taken in chunks that fit. */
#define KQ_XSUMS 8192

static inline __attribute__((always_inline)) void
kq_matmul(float *y, const lm_q8_act *x, const lm_packed *w, int T, int r0, int r1, const int Q5) {
    const int n = w->cols, d = w->rows, ng = n / 32;
    if (r1 > d) r1 = d;
    if (r0 >= r1 || T <= 0) return;
    if (ng > KQ_XSUMS) { /* rows of over 262144 values: the oracle, plain */
        (Q5 ? lm_matmul_q5_k_scalar : lm_matmul_q4_k_scalar)(y, x, w, T, r0, r1);
        return;
    }
    int16_t xsum[KQ_XSUMS];
    const int chunk = KQ_XSUMS / ng;
    const int first = r0 / LM_PANEL, last = (r1 + LM_PANEL - 1) / LM_PANEL;
    for (int c0 = 0; c0 < T; c0 += chunk) {
        const int c1 = c0 + chunk < T ? c0 + chunk : T;
        for (int t = c0; t < c1; t++)
            lm_kq_xsums(xsum + (size_t)(t - c0) * ng, x->q + (size_t)t * n, n);
        lm_q8_act xc = {x->q + (size_t)c0 * n, x->s + (size_t)c0 * (n / 256), x->gs};
        float *yc = y + (size_t)c0 * d;
        for (int p = first; p < last; p++) {
            int t0 = 0, nt = c1 - c0;
            for (; t0 + 2 <= nt; t0 += 2)
                kq_block(yc, &xc, w, xsum + t0 * ng, p, t0, r0, r1, 2, Q5);
            if (t0 < nt) kq_block(yc, &xc, w, xsum + t0 * ng, p, t0, r0, r1, 1, Q5);
        }
    }
}

void KQ_FN(4)(float *y, const lm_q8_act *x, const lm_packed *w, int T, int r0, int r1) {
    kq_matmul(y, x, w, T, r0, r1, 0);
}

void KQ_FN(5)(float *y, const lm_q8_act *x, const lm_packed *w, int T, int r0, int r1) {
    kq_matmul(y, x, w, T, r0, r1, 1);
}
