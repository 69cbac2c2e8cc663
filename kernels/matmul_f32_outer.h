/* The fp32 product for many tokens (T >= OUTER_MIN_T), shared by
 * avx2/matmul_f32_avx2.c and avx512/matmul_f32_avx512.c, which differ only in
 * the vector width and the register budget. Each defines, before including
 * this file:
 *
 *   OUTER_VEC, OUTER_LANES      the vector type and its number of floats
 *   OUTER_ZERO(), OUTER_LOAD(p), OUTER_STORE(p, v)   aligned load and store
 *   OUTER_BCAST(p)              *p in every lane
 *   OUTER_FMA(a, b, c)          a * b + c
 *   OUTER_TRANSPOSE(dst, dn, src, sn)   dst[j][i] = src[i][j] for one
 *                               OUTER_LANES x OUTER_LANES block (row strides)
 *   OUTER_TOKENS                tokens per group (a multiple of OUTER_LANES)
 *   OUTER_MAX_V                 OUTER_TOKENS / OUTER_LANES, 2 to 4
 *   OUTER_MIN_T                 fewer tokens fill too few lanes: the caller's
 *                               inner-product tiles win there
 *   OUTER_K_BLOCK, OUTER_PANEL  k block (xt holds it) and rows per panel
 *   OUTER_ROWS                  rows per tile: OUTER_ROWS x OUTER_MAX_V
 *                               accumulators, the token vectors and one
 *                               broadcast fill the registers
 *
 * An outer product with lanes across tokens: a group of up to OUTER_TOKENS
 * tokens is transposed, one k block at a time, into xt[k][token] on the
 * stack; a tile of OUTER_ROWS rows keeps OUTER_ROWS x V accumulators (V
 * vectors of tokens) and, for each k, broadcasts w[i][k] of each row against
 * the V token vectors. Every lane is one output, so there is no horizontal
 * reduction, and the weights are read in place.
 *
 * Each output is one FMA chain over k in order (k blocks only park it in
 * `save`, which changes no bits), so a row's bits depend neither on the row
 * range, nor on the tile, panel or token group that covered it. */
#ifndef LAMINA_KERNELS_MATMUL_F32_OUTER_H
#define LAMINA_KERNELS_MATMUL_F32_OUTER_H

#include <stddef.h>

#define OUTER_ALIGN (4 * OUTER_LANES)
#define OUTER_PREFETCH 64 /* floats ahead in each weight row */

/* xt[k][c] = x[t0 + c][k0 + k] for k < kn, c < nc, by whole blocks where they
 * fit; lanes from nc up to the next multiple of OUTER_LANES are zero
 * (computed but never stored). */
static void outer_transpose_x(float *xt, const float *x, int n, int t0, int nc, int k0, int kn) {
    const int L = OUTER_LANES;
    const float *xb = x + (size_t)t0 * n + k0;
    const int cb = nc / L * L, kbl = kn / L * L, lanes = (nc + L - 1) / L * L;
    for (int c = 0; c < cb; c += L)
        for (int k = 0; k < kbl; k += L)
            OUTER_TRANSPOSE(xt + k * OUTER_TOKENS + c, OUTER_TOKENS, xb + (size_t)c * n + k, n);
    for (int c = 0; c < nc; c++)
        for (int k = c < cb ? kbl : 0; k < kn; k++)
            xt[k * OUTER_TOKENS + c] = xb[(size_t)c * n + k];
    for (int k = 0; k < kn; k++)
        for (int c = nc; c < lanes; c++) xt[k * OUTER_TOKENS + c] = 0.0f;
}

/* Rows [i0, i0 + nr) (missing rows repeat the last) against the nc tokens in
 * xt over k in [k0, k0 + kn). V is a constant at every call. */
static inline __attribute__((always_inline)) void outer_tile(float *y, float *save, const float *xt,
                                                             const float *w, int n, int d, int i0,
                                                             int nr, int t0, int nc, int k0, int kn,
                                                             int V) {
    const int L = OUTER_LANES;
    OUTER_VEC acc[OUTER_ROWS * OUTER_MAX_V];
    const float *wr[OUTER_ROWS];
    for (int r = 0; r < OUTER_ROWS; r++) wr[r] = w + (size_t)(i0 + (r < nr ? r : nr - 1)) * n + k0;
    for (int r = 0; r < OUTER_ROWS; r++)
        for (int v = 0; v < V; v++) {
            const float *s = save + (r < nr ? r : nr - 1) * OUTER_TOKENS + L * v;
            acc[r * V + v] = k0 == 0 ? OUTER_ZERO() : OUTER_LOAD(s);
        }
    /* Each row is a stream of one float per step: the prefetchers do not keep
     * up with several such streams, so each row's line ahead is asked for. */
    for (int k16 = 0; k16 < kn; k16 += 16) {
        for (int r = 0; r < OUTER_ROWS; r++)
            _mm_prefetch((const char *)(wr[r] + k16 + OUTER_PREFETCH), _MM_HINT_T0);
        const int k16e = kn - k16 < 16 ? kn : k16 + 16;
        for (int k = k16; k < k16e; k++) {
            OUTER_VEC xv[OUTER_MAX_V];
            for (int v = 0; v < V; v++) xv[v] = OUTER_LOAD(xt + k * OUTER_TOKENS + L * v);
            for (int r = 0; r < OUTER_ROWS; r++) {
                const OUTER_VEC wv = OUTER_BCAST(wr[r] + k);
                for (int v = 0; v < V; v++) acc[r * V + v] = OUTER_FMA(wv, xv[v], acc[r * V + v]);
            }
        }
    }
    if (k0 + kn < n) {
        /* Constant loop bounds: with r < nr the loops do not unroll and acc
         * leaves the registers (AVX2 prefill at half speed). */
        for (int r = 0; r < OUTER_ROWS; r++)
            for (int v = 0; v < V; v++)
                if (r < nr) OUTER_STORE(save + r * OUTER_TOKENS + L * v, acc[r * V + v]);
        return;
    }
    /* Rows stay consecutive in y: each token's row values share a line. */
    _Alignas(OUTER_ALIGN) float out[OUTER_ROWS * OUTER_TOKENS];
    for (int r = 0; r < OUTER_ROWS; r++)
        for (int v = 0; v < V; v++) OUTER_STORE(out + r * OUTER_TOKENS + L * v, acc[r * V + v]);
    for (int c = 0; c < nc; c++)
        for (int r = 0; r < nr; r++) y[(size_t)(t0 + c) * d + i0 + r] = out[r * OUTER_TOKENS + c];
}

/* Rows [p0, p1) against one token group over one k block. From OUTER_MIN_T
 * tokens on every group is at least half of OUTER_TOKENS wide, so it needs 2
 * to OUTER_MAX_V vectors; each width gets its own unrolled tile. */
static void outer_rows(float *y, float *save, const float *xt, const float *w, int n, int d, int p0,
                       int p1, int t0, int nc, int k0, int kn) {
    const int V = (nc + OUTER_LANES - 1) / OUTER_LANES;
    for (int i = p0; i < p1; i += OUTER_ROWS) {
        float *s = save + (i - p0) * OUTER_TOKENS;
        const int nr = p1 - i < OUTER_ROWS ? p1 - i : OUTER_ROWS;
        switch (V) {
#if OUTER_MAX_V > 2
        case 3: outer_tile(y, s, xt, w, n, d, i, nr, t0, nc, k0, kn, 3); break;
        case 4: outer_tile(y, s, xt, w, n, d, i, nr, t0, nc, k0, kn, 4); break;
#endif
        default: outer_tile(y, s, xt, w, n, d, i, nr, t0, nc, k0, kn, 2); break;
        }
    }
}

/* y[t][i] for rows [r0, r1) and all T tokens: token groups as even as
 * possible, row panels whose partial sums wait in `save` between k blocks. */
static void outer_gemm(float *y, const float *x, const float *w, int T, int n, int d, int r0,
                       int r1) {
    _Alignas(OUTER_ALIGN) float xt[OUTER_K_BLOCK * OUTER_TOKENS];
    _Alignas(OUTER_ALIGN) float save[OUTER_PANEL * OUTER_TOKENS];
    const int groups = (T + OUTER_TOKENS - 1) / OUTER_TOKENS;
    /* Even k blocks: a short last one would pay the tile overhead for little. */
    const int nkb = (n + OUTER_K_BLOCK - 1) / OUTER_K_BLOCK, kb = (n + nkb - 1) / nkb;
    /* Even panels: each one pays for transposing x again. */
    const int panels = (r1 - r0 + OUTER_PANEL - 1) / OUTER_PANEL;
    const int step = (r1 - r0 + panels - 1) / panels;
    for (int g = 0, t0 = 0; g < groups; g++) {
        const int nc = T / groups + (g < T % groups);
        for (int p = 0; p < panels; p++) {
            const int p0 = r0 + p * step, p1 = r1 - p0 < step ? r1 : p0 + step;
            for (int k0 = 0; k0 < n; k0 += kb) {
                const int kn = n - k0 < kb ? n - k0 : kb;
                outer_transpose_x(xt, x, n, t0, nc, k0, kn);
                outer_rows(y, save, xt, w, n, d, p0, p1, t0, nc, k0, kn);
            }
        }
        t0 += nc;
    }
}

#endif
