/* fp32 matrix product, y[t][i] = w[i] . x[t], over register tiles of R rows by
 * C tokens with one 16-wide accumulator per output.
 *
 * Every output is computed the same way whatever the tile: one accumulator
 * over k in steps of 16, a masked step for the tail, then the shared reduction
 * tree of lm_avx512_reduce16. Tiles only change which outputs run together,
 * so a row's bits depend neither on the row range nor on the tile shape.
 *
 * T == 1 is a matrix-vector product bound by memory: tiles of 8 rows stream 8
 * weight rows at once (8 independent FMA chains hide the FMA latency). From
 * OUTER_MIN_T tokens on, outer_gemm() (matmul_f32_outer.h) takes over. Fewer tokens go in blocks of
 * at most 6, and a 4 x 6 tile keeps 24 accumulators, 4 weight vectors and one
 * token vector in the 32 registers, 10 loads per 24 FMAs (narrower blocks get
 * taller tiles). Rows are taken in panels sized to stay in L2 while every
 * token block passes over them, and a token block stays in L1 while the
 * panel's tiles pass over it. */
#include <immintrin.h>

#include "avx512.h"
#include "math_avx512.h"

/* Bytes of weights per panel: well inside a 1-2 MiB L2 with room for x. */
#define PANEL_BYTES (512 * 1024)

/* R rows from i0 and C tokens from t0, of which only the first nr rows and nc
 * tokens are real: the others repeat the last real one (their loads hit the
 * cache) and are not stored, so every tile runs the same unrolled code. R and
 * C are constants at every call site. */
static inline __attribute__((always_inline)) void tile(float *y, const float *x, const float *w,
                                                       int n, int d, int i0, int nr, int t0, int nc,
                                                       int R, int C) {
    __m512 acc[32];
    const float *wr[16], *xc[16];
    for (int r = 0; r < R; r++) wr[r] = w + (size_t)(i0 + (r < nr ? r : nr - 1)) * n;
    for (int c = 0; c < C; c++) xc[c] = x + (size_t)(t0 + (c < nc ? c : nc - 1)) * n;
    for (int o = 0; o < R * C; o++) acc[o] = _mm512_setzero_ps();

    /* At T = 1 the weights stream from memory, 8 interleaved rows, which the
     * hardware prefetchers do not follow: walk through the tile 4 ahead in
     * address order, a line per row per step, into L2 (1 thread: 20 -> 26
     * GB/s at 110M and 7B shapes). */
    const char *pf = (const char *)(w + (size_t)(i0 + 4 * R) * n);
    /* The smaller side of the tile stays in registers while the other side
     * streams through one register: R * C + min(R, C) + 1 <= 32. */
    int k = 0;
    for (; k + 16 <= n; k += 16) {
        if (C == 1)
            for (int r = 0; r < R; r++, pf += 64) _mm_prefetch(pf, _MM_HINT_T1);
        if (C <= R) {
            __m512 xv[8];
            for (int c = 0; c < C; c++) xv[c] = _mm512_loadu_ps(xc[c] + k);
            for (int r = 0; r < R; r++) {
                const __m512 wv = _mm512_loadu_ps(wr[r] + k);
                for (int c = 0; c < C; c++)
                    acc[c * R + r] = _mm512_fmadd_ps(wv, xv[c], acc[c * R + r]);
            }
        } else {
            __m512 wv[8];
            for (int r = 0; r < R; r++) wv[r] = _mm512_loadu_ps(wr[r] + k);
            for (int c = 0; c < C; c++) {
                const __m512 xv = _mm512_loadu_ps(xc[c] + k);
                for (int r = 0; r < R; r++)
                    acc[c * R + r] = _mm512_fmadd_ps(wv[r], xv, acc[c * R + r]);
            }
        }
    }
    if (k < n) {
        const __mmask16 m = lm_avx512_mask16(n - k);
        __m512 xv[8];
        for (int c = 0; c < C; c++) xv[c] = _mm512_maskz_loadu_ps(m, xc[c] + k);
        for (int r = 0; r < R; r++) {
            const __m512 wv = _mm512_maskz_loadu_ps(m, wr[r] + k);
            for (int c = 0; c < C; c++) acc[c * R + r] = _mm512_fmadd_ps(wv, xv[c], acc[c * R + r]);
        }
    }

    /* Outputs in groups of 16 (padded with zeros), lane o = c * R + r. */
    float out[32];
    for (int o0 = 0; o0 < R * C; o0 += 16) {
        __m512 v[16];
        for (int j = 0; j < 16; j++) v[j] = o0 + j < R * C ? acc[o0 + j] : _mm512_setzero_ps();
        _mm512_storeu_ps(out + o0, lm_avx512_reduce16(v));
    }
    for (int c = 0; c < nc; c++)
        for (int r = 0; r < nr; r++) y[(size_t)(t0 + c) * d + i0 + r] = out[c * R + r];
}

/* Rows [i0, i1) against tokens [t0, t0 + nc) with tiles of R rows. */
static inline __attribute__((always_inline)) void rows(float *y, const float *x, const float *w,
                                                       int n, int d, int i0, int i1, int t0, int nc,
                                                       int R, int C) {
    for (int i = i0; i < i1; i += R) tile(y, x, w, n, d, i, i1 - i < R ? i1 - i : R, t0, nc, R, C);
}

/* Many tokens: matmul_f32_outer.h's outer product with lanes across tokens:
 * groups of up to 64 tokens, 6 rows x up to 4 vectors of 16 tokens. More
 * rows per tile would not help: rows that are a multiple of 4 KiB apart
 * (n = 1024, 2048) evict one another from their L1 set, and the row streams
 * outrun the prefetchers. The stack holds xt (32 KiB), save (64 KiB) and one
 * tile's outputs: about 100 KiB. */
#define OUTER_VEC __m512
#define OUTER_LANES 16
#define OUTER_ZERO() _mm512_setzero_ps()
#define OUTER_LOAD(p) _mm512_load_ps(p)
#define OUTER_STORE(p, v) _mm512_store_ps(p, v)
#define OUTER_BCAST(p) _mm512_set1_ps(*(p))
#define OUTER_FMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define OUTER_TRANSPOSE transpose16
#define OUTER_TOKENS 64
#define OUTER_MAX_V 4
#define OUTER_MIN_T 32
#define OUTER_K_BLOCK 128
#define OUTER_PANEL 256
#define OUTER_ROWS 6

/* dst[j][i] = src[i][j] for a 16 x 16 block (row strides sn and dn): pairs,
 * then quads within 128-bit lanes, then the lanes themselves. */
static inline void transpose16(float *dst, int dn, const float *src, int sn) {
    __m512 a[16], b[16];
    for (int i = 0; i < 16; i++) a[i] = _mm512_loadu_ps(src + (size_t)i * sn);
    for (int i = 0; i < 16; i += 2) {
        b[i] = _mm512_unpacklo_ps(a[i], a[i + 1]);
        b[i + 1] = _mm512_unpackhi_ps(a[i], a[i + 1]);
    }
    /* a[4g + j], lane q: rows 4g..4g+3 of column 4q + j. */
    for (int i = 0; i < 16; i += 4)
        for (int h = 0; h < 2; h++) {
            const __m512d lo = _mm512_castps_pd(b[i + h]), hi = _mm512_castps_pd(b[i + h + 2]);
            a[i + 2 * h] = _mm512_castpd_ps(_mm512_unpacklo_pd(lo, hi));
            a[i + 2 * h + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(lo, hi));
        }
    for (int j = 0; j < 4; j++) {
        const __m512 u0 = _mm512_shuffle_f32x4(a[j], a[4 + j], 0x88);
        const __m512 u1 = _mm512_shuffle_f32x4(a[j], a[4 + j], 0xdd);
        const __m512 u2 = _mm512_shuffle_f32x4(a[8 + j], a[12 + j], 0x88);
        const __m512 u3 = _mm512_shuffle_f32x4(a[8 + j], a[12 + j], 0xdd);
        _mm512_storeu_ps(dst + (size_t)j * dn, _mm512_shuffle_f32x4(u0, u2, 0x88));
        _mm512_storeu_ps(dst + (size_t)(4 + j) * dn, _mm512_shuffle_f32x4(u1, u3, 0x88));
        _mm512_storeu_ps(dst + (size_t)(8 + j) * dn, _mm512_shuffle_f32x4(u0, u2, 0xdd));
        _mm512_storeu_ps(dst + (size_t)(12 + j) * dn, _mm512_shuffle_f32x4(u1, u3, 0xdd));
    }
}

#include "matmul_f32_outer.h"

void lm_matmul_f32_avx512(float *y, const float *x, const float *w, int T, int n, int d, int r0,
                          int r1) {
    if (r0 >= r1 || T <= 0) return;
    if (T == 1) {
        rows(y, x, w, n, d, r0, r1, 0, 1, 8, 1);
        return;
    }
    if (T >= OUTER_MIN_T && n > 0) {
        outer_gemm(y, x, w, T, n, d, r0, r1);
        return;
    }
    int panel = PANEL_BYTES / (4 * (n > 0 ? n : 1));
    panel = panel < 24 ? 24 : panel / 24 * 24;
    /* Tokens in blocks of at most 6, as even as possible (16 = 6 + 5 + 5, not
     * 6 + 6 + 4), each with the tile of its width that fills the registers.
     * The blocks depend on T only, so no row depends on the row range. */
    const int blocks = (T + 5) / 6;
    for (int p0 = r0; p0 < r1; p0 += panel) {
        const int p1 = r1 - p0 < panel ? r1 : p0 + panel;
        for (int b = 0, t = 0; b < blocks; b++) {
            const int nc = T / blocks + (b < T % blocks);
            switch (nc) {
            case 1: rows(y, x, w, n, d, p0, p1, t, 1, 8, 1); break;
            case 2: rows(y, x, w, n, d, p0, p1, t, 2, 12, 2); break;
            case 3: rows(y, x, w, n, d, p0, p1, t, 3, 8, 3); break;
            case 4: rows(y, x, w, n, d, p0, p1, t, 4, 6, 4); break;
            case 5: rows(y, x, w, n, d, p0, p1, t, 5, 4, 5); break;
            default: rows(y, x, w, n, d, p0, p1, t, 6, 4, 6); break;
            }
            t += nc;
        }
    }
}
