/* The Q8_0 product on panels shared by matmul_q8_avx512.c and
 * matmul_q8_avx512vnni.c. Each defines, before including this file:
 *   Q8_BIAS: 128 if q8_step adds (w + 128) * x (vpdpbusd wants an unsigned
 *            operand), so that isum starts at -128 * sum(x) of the group;
 *            0 if q8_step is exact as it stands.
 *   q8_prep(w) -> q8_w: what q8_step needs from one 64-byte weight load.
 *   q8_step(acc, q8_w, xb): acc + the 4-byte dots of 16 rows with 4 bytes of
 *            activations broadcast in xb, exact in int32.
 *
 * Order (kernels.h): a zmm of int32 holds one group's exact sum for the 16
 * rows of a panel, then each row adds ((float)isum * s_w) * s_x to its fp32
 * lane with mul, mul, add: runq.c's arithmetic per row, group by group, with
 * no horizontal sums. Blocks of P panels x NT tokens reuse each weight load
 * for NT tokens. */
#ifndef LAMINA_KERNELS_AVX512_MATMUL_Q8_H
#define LAMINA_KERNELS_AVX512_MATMUL_Q8_H

#include <immintrin.h>
#include <string.h>

#include "scalar/scalar.h"

/* Activation group sums times -Q8_BIAS, tokens [t0, t0 + nt), into corr. */
#define Q8_CORR_MAX 4096

static inline __mmask16 q8_row_mask(int p, int r0, int r1) {
    int lo = r0 - p * LM_PANEL, hi = r1 - p * LM_PANEL;
    if (lo < 0) lo = 0;
    if (hi > LM_PANEL) hi = LM_PANEL;
    if (hi <= lo) return 0;
    return (__mmask16)(((1u << hi) - 1) & ~((1u << lo) - 1));
}

typedef struct q8_args {
    float *y;
    const int8_t *xq;    /* token t0's activations */
    const float *xs;     /* token t0's scales */
    const int32_t *corr; /* token t0's corrections */
    const lm_packed *w;
    int n, d, groups, r0, r1;
} q8_args;

static inline __attribute__((always_inline)) void q8_block(const q8_args *a, int p0, int t0,
                                                           const int P, const int NT) {
    const int n = a->n, gs = a->w->gs, groups = a->groups;
    const size_t ps = (size_t)LM_PANEL * n, ss = (size_t)LM_PANEL * groups;
    const int8_t *wq = a->w->q + (size_t)p0 * ps;
    const float *ws = a->w->s + (size_t)p0 * ss;
    const int8_t *xq = a->xq + (size_t)t0 * n;
    const float *xs = a->xs + (size_t)t0 * groups;
    const int32_t *corr = a->corr + (size_t)t0 * groups;
    __m512 val[4][6];
    for (int p = 0; p < P; p++)
        for (int t = 0; t < NT; t++) val[p][t] = _mm512_setzero_ps();
    for (int g = 0; g < groups; g++) {
        __m512i isum[4][6];
        for (int t = 0; t < NT; t++) {
            __m512i c = _mm512_set1_epi32(corr[(size_t)t * groups + g]);
            for (int p = 0; p < P; p++) isum[p][t] = c;
        }
        for (int k = g * gs; k < (g + 1) * gs; k += 4) {
            q8_w wv[4];
            for (int p = 0; p < P; p++) {
                const int8_t *src = wq + p * ps + (size_t)k * LM_PANEL;
                if (NT <= 2) _mm_prefetch((const char *)src + 1024, _MM_HINT_T0);
                wv[p] = q8_prep(_mm512_loadu_si512(src));
            }
            for (int t = 0; t < NT; t++) {
                int32_t x4;
                memcpy(&x4, xq + (size_t)t * n + k, 4);
                __m512i xb = _mm512_set1_epi32(x4);
                for (int p = 0; p < P; p++) isum[p][t] = q8_step(isum[p][t], wv[p], xb);
            }
        }
        for (int p = 0; p < P; p++) {
            __m512 sw = _mm512_loadu_ps(ws + p * ss + (size_t)g * LM_PANEL);
            for (int t = 0; t < NT; t++) {
                __m512 sx = _mm512_set1_ps(xs[(size_t)t * groups + g]);
                __m512 term = _mm512_mul_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(isum[p][t]), sw), sx);
                val[p][t] = _mm512_add_ps(val[p][t], term);
            }
        }
    }
    for (int p = 0; p < P; p++) {
        __mmask16 m = q8_row_mask(p0 + p, a->r0, a->r1);
        for (int t = 0; t < NT; t++)
            _mm512_mask_storeu_ps(a->y + (size_t)(t0 + t) * a->d + (size_t)(p0 + p) * LM_PANEL, m,
                                  val[p][t]);
    }
}

#define Q8_PANELS(P, NT)                                                                           \
    do {                                                                                           \
        int p = pa;                                                                                \
        for (; p + (P) <= pb; p += (P)) q8_block(a, p, t0, (P), (NT));                             \
        for (; p < pb; p++) q8_block(a, p, t0, 1, (NT));                                           \
    } while (0)

/* Tokens [0, T) of a (already offset to the chunk's first token). */
static inline void q8_tokens(const q8_args *a, int T, int first, int last) {
    int t0 = 0, pa = first, pb = last;
    switch (T) {
    case 1: Q8_PANELS(4, 1); return;
    case 2: Q8_PANELS(4, 2); return;
    case 3: Q8_PANELS(3, 3); return;
    case 4: Q8_PANELS(2, 4); return;
    case 5: Q8_PANELS(2, 5); return;
    default: break;
    }
    for (pa = first; pa < last; pa += 2) {
        pb = pa + 2 < last ? pa + 2 : last;
        for (t0 = 0; t0 + 6 <= T; t0 += 6) Q8_PANELS(2, 6);
        switch (T - t0) {
        case 1: Q8_PANELS(2, 1); break;
        case 2: Q8_PANELS(2, 2); break;
        case 3: Q8_PANELS(2, 3); break;
        case 4: Q8_PANELS(2, 4); break;
        case 5: Q8_PANELS(2, 5); break;
        default: break;
        }
    }
}

static void q8_panels(float *y, const lm_q8_act *x, const lm_packed *w, int T, int r0, int r1) {
    const int n = w->cols, d = w->rows;
    if (r1 > d) r1 = d;
    if (r0 >= r1) return;
    if (!w->q) {
        lm_matmul_q8_ref(y, x, &w->flat, T, n, d, r0, r1);
        return;
    }
    const int gs = w->gs, groups = n / gs;
    int32_t corr[Q8_CORR_MAX];
    int chunk = Q8_CORR_MAX / groups;
    if (chunk < 1) { /* absurdly many groups: not a shape worth a fast path */
        lm_matmul_q8_scalar(y, x, w, T, r0, r1);
        return;
    }
    for (int c0 = 0; c0 < T; c0 += chunk) {
        int nt = T - c0 < chunk ? T - c0 : chunk;
        for (int t = 0; t < nt; t++)
            for (int g = 0; g < groups; g++) {
                int32_t sum = 0;
                const int8_t *xg = x->q + (size_t)(c0 + t) * n + (size_t)g * gs;
                for (int j = 0; j < gs; j++) sum += xg[j];
                corr[t * groups + g] = -Q8_BIAS * sum;
            }
        q8_args a = {y + (size_t)c0 * d,
                     x->q + (size_t)c0 * n,
                     x->s + (size_t)c0 * groups,
                     corr,
                     w,
                     n,
                     d,
                     groups,
                     r0,
                     r1};
        q8_tokens(&a, nt, r0 / LM_PANEL, (r1 + LM_PANEL - 1) / LM_PANEL);
    }
}

#endif
