/* fp32 product on panels (kernels.h) with AVX2 + FMA: a panel's 16 rows are
 * two ymm per token, each lane one row taking one FMA per k in k order:
 * exactly the oracle's fmaf chain per row. Blocks of P panels x NT tokens
 * reuse each weight load for NT tokens and keep 2 * P * NT chains in flight. */
#include <immintrin.h>
#include <string.h>

#include "avx2.h"
#include "math_avx2.h"

static inline __attribute__((always_inline)) void block(float *y, const float *x, const float *w,
                                                        int n, int d, int p0, int t0, int r0,
                                                        int r1, const int P, const int NT) {
    __m256 acc[2][2][3];
    const size_t ps = (size_t)LM_PANEL * n;
    const float *wp = w + (size_t)p0 * ps;
    const float *xt = x + (size_t)t0 * n;
    for (int p = 0; p < P; p++)
        for (int t = 0; t < NT; t++) acc[p][0][t] = acc[p][1][t] = _mm256_setzero_ps();
    for (int k = 0; k < n; k++) {
        __m256 lo[2], hi[2];
        for (int p = 0; p < P; p++) {
            const float *src = wp + p * ps + (size_t)k * LM_PANEL;
            if (NT == 1) _mm_prefetch((const char *)src + 1024, _MM_HINT_T0);
            lo[p] = _mm256_loadu_ps(src);
            hi[p] = _mm256_loadu_ps(src + 8);
        }
        for (int t = 0; t < NT; t++) {
            __m256 xb = _mm256_broadcast_ss(xt + (size_t)t * n + k);
            for (int p = 0; p < P; p++) {
                acc[p][0][t] = _mm256_fmadd_ps(lo[p], xb, acc[p][0][t]);
                acc[p][1][t] = _mm256_fmadd_ps(hi[p], xb, acc[p][1][t]);
            }
        }
    }
    for (int p = 0; p < P; p++)
        for (int t = 0; t < NT; t++)
            lm_avx2_store_panel(y + (size_t)(t0 + t) * d, p0 + p, r0, r1, acc[p][0][t],
                                acc[p][1][t]);
}

/* One panel under 4 tokens with the eight accumulators as named variables:
 * the same chains as block(), which gcc leaves in an array on the stack for
 * this shape (a store per FMA pair, a third of the FMA rate). Eight chains of
 * one FMA per k cover the FMA latency of two units; six loads feed them. */
#define F32_STEP(a, b, xr)                                                                         \
    do {                                                                                           \
        const __m256 xb = _mm256_broadcast_ss(xr + k);                                             \
        a = _mm256_fmadd_ps(lo, xb, a);                                                            \
        b = _mm256_fmadd_ps(hi, xb, b);                                                            \
    } while (0)

static void panel_t4(float *y, const float *x, const float *w, int n, int d, int p, int t0, int r0,
                     int r1) {
    const float *src = w + (size_t)p * LM_PANEL * n;
    const float *x0 = x + (size_t)t0 * n, *x1 = x0 + n, *x2 = x1 + n, *x3 = x2 + n;
    __m256 a0 = _mm256_setzero_ps(), b0 = a0, a1 = a0, b1 = a0, a2 = a0, b2 = a0, a3 = a0, b3 = a0;
    for (int k = 0; k < n; k++, src += LM_PANEL) {
        const __m256 lo = _mm256_loadu_ps(src), hi = _mm256_loadu_ps(src + 8);
        F32_STEP(a0, b0, x0);
        F32_STEP(a1, b1, x1);
        F32_STEP(a2, b2, x2);
        F32_STEP(a3, b3, x3);
    }
    lm_avx2_store_panel(y + (size_t)t0 * d, p, r0, r1, a0, b0);
    lm_avx2_store_panel(y + (size_t)(t0 + 1) * d, p, r0, r1, a1, b1);
    lm_avx2_store_panel(y + (size_t)(t0 + 2) * d, p, r0, r1, a2, b2);
    lm_avx2_store_panel(y + (size_t)(t0 + 3) * d, p, r0, r1, a3, b3);
}

#define PANELS(P, NT)                                                                              \
    do {                                                                                           \
        int p = pa;                                                                                \
        for (; p + (P) <= pb; p += (P)) block(y, x, w->f32, n, d, p, t0, r0, r1, (P), (NT));       \
        for (; p < pb; p++) block(y, x, w->f32, n, d, p, t0, r0, r1, 1, (NT));                     \
    } while (0)

void lm_matmul_f32_avx2(float *y, const float *x, const lm_packed *w, int T, int r0, int r1) {
    const int n = w->cols, d = w->rows;
    if (r1 > d) r1 = d;
    if (r0 >= r1) return;
    const int first = r0 / LM_PANEL, last = (r1 + LM_PANEL - 1) / LM_PANEL;
    int t0 = 0, pa = first, pb = last;
    if (T < 3) {
        if (T == 1)
            PANELS(2, 1);
        else
            PANELS(2, 2);
        return;
    }
    /* One panel (in L1 / L2) passes under every token, 4 tokens a step. */
    for (pa = first; pa < last; pa++) {
        pb = pa + 1;
        for (t0 = 0; t0 + 4 <= T; t0 += 4) panel_t4(y, x, w->f32, n, d, pa, t0, r0, r1);
        if (T - t0 == 1) PANELS(1, 1);
        if (T - t0 == 2) PANELS(1, 2);
        if (T - t0 == 3) PANELS(1, 3); /* a tail: block()'s stack-held chains */
    }
}
