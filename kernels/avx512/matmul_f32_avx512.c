/* fp32 product on panels (kernels.h): each zmm holds one panel's 16 rows for
 * one token and takes one FMA per k, in k order: exactly the oracle's fmaf
 * chain per row. A block of P panels x NT tokens keeps P * NT accumulators, so
 * each weight load serves NT tokens (prefill) and P independent chains hide the
 * FMA latency (decode). */
#include <immintrin.h>

#include "avx512.h"

/* Lanes of panel p that fall in [r0, r1). */
static inline __mmask16 row_mask(int p, int r0, int r1) {
    int lo = r0 - p * LM_PANEL, hi = r1 - p * LM_PANEL;
    if (lo < 0) lo = 0;
    if (hi > LM_PANEL) hi = LM_PANEL;
    if (hi <= lo) return 0;
    return (__mmask16)(((1u << hi) - 1) & ~((1u << lo) - 1));
}

static inline __attribute__((always_inline)) void block(float *y, const float *x, const float *w,
                                                        int n, int d, int p0, int t0, int r0,
                                                        int r1, int k0, int k1, const int P,
                                                        const int NT) {
    __m512 acc[4][6];
    const size_t ps = (size_t)LM_PANEL * n;
    const float *wp = w + (size_t)p0 * ps;
    const float *xt = x + (size_t)t0 * n;
    /* k0 > 0: go on from the sums stored after k0 (a float stored and loaded
     * back is the same value, so the chain per row is unbroken) */
    for (int p = 0; p < P; p++) {
        __mmask16 m = row_mask(p0 + p, r0, r1);
        for (int t = 0; t < NT; t++)
            acc[p][t] = k0 ? _mm512_maskz_loadu_ps(m, y + (size_t)(t0 + t) * d +
                                                          (size_t)(p0 + p) * LM_PANEL)
                           : _mm512_setzero_ps();
    }
    for (int k = k0; k < k1; k++) {
        __m512 wv[4];
        for (int p = 0; p < P; p++) {
            if (NT <= 2)
                _mm_prefetch((const char *)(wp + p * ps + (size_t)k * 16 + 256), _MM_HINT_T0);
            wv[p] = _mm512_loadu_ps(wp + p * ps + (size_t)k * LM_PANEL);
        }
        for (int t = 0; t < NT; t++) {
            __m512 xb = _mm512_set1_ps(xt[(size_t)t * n + k]);
            for (int p = 0; p < P; p++) acc[p][t] = _mm512_fmadd_ps(wv[p], xb, acc[p][t]);
        }
    }
    for (int p = 0; p < P; p++) {
        __mmask16 m = row_mask(p0 + p, r0, r1);
        for (int t = 0; t < NT; t++)
            _mm512_mask_storeu_ps(y + (size_t)(t0 + t) * d + (size_t)(p0 + p) * LM_PANEL, m,
                                  acc[p][t]);
    }
}

/* Tokens t0.. of one block width NT over panels [pa, pb), P at a time, k in [k0, k1). */
#define PANELS(P, NT)                                                                              \
    do {                                                                                           \
        int p = pa;                                                                                \
        for (; p + (P) <= pb; p += (P))                                                            \
            block(y, x, w->f32, n, d, p, t0, r0, r1, k0, k1, (P), (NT));                           \
        for (; p < pb; p++) block(y, x, w->f32, n, d, p, t0, r0, r1, k0, k1, 1, (NT));             \
    } while (0)

/* k per pass of a 4-panel group under the tokens: 4 x 16 x 128 floats, 32 KiB,
 * stay in L1 while every block of 6 tokens reads them. */
#define KC 128

void lm_matmul_f32_avx512(float *y, const float *x, const lm_packed *w, int T, int r0, int r1) {
    const int n = w->cols, d = w->rows;
    if (r1 > d) r1 = d;
    if (r0 >= r1) return;
    const int first = r0 / LM_PANEL, last = (r1 + LM_PANEL - 1) / LM_PANEL;
    int t0 = 0, pa = first, pb = last, k0 = 0, k1 = n;
    switch (T) { /* decode and short blocks: 4 panels of independent chains */
    case 1: PANELS(4, 1); return;
    case 2: PANELS(4, 2); return;
    case 3: PANELS(4, 3); return;
    case 4: PANELS(3, 4); return;
    case 5: PANELS(2, 5); return;
    default: break;
    }
    /* Four panels (64 rows) at a time pass under every token, KC values of k
     * at a time (in L1), 6 tokens a step: 24 accumulators take 4 weight loads
     * and 6 broadcasts per 24 FMAs. */
    for (pa = first; pa < last; pa += 4) {
        pb = pa + 4 < last ? pa + 4 : last;
        for (k0 = 0; k0 < n; k0 += KC) {
            k1 = k0 + KC < n ? k0 + KC : n;
            for (t0 = 0; t0 + 6 <= T; t0 += 6) PANELS(4, 6);
            switch (T - t0) {
            case 1: PANELS(4, 1); break;
            case 2: PANELS(4, 2); break;
            case 3: PANELS(4, 3); break;
            case 4: PANELS(4, 4); break;
            case 5: PANELS(4, 5); break;
            default: break;
            }
        }
    }
}
