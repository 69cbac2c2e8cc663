/* fp32 matrix product, y[t][i] = w[i] . x[t], over register tiles of R rows by
 * C tokens with one 8-wide accumulator per output.
 *
 * Every output is computed the same way whatever the tile: one accumulator
 * over k in steps of 8, a masked step for the tail, then the shared reduction
 * tree. Tiles only change which outputs run together, so a row's bits do not
 * depend on the row range or on the tile that happened to cover it. */
#include <immintrin.h>

#include "avx2.h"
#include "math_avx2.h"

#define MAX_R 8
#define MAX_C 3

/* R rows from i0 by C tokens from t0 over k in [k0, k1) (k0 a multiple of 8).
 * R and C are constants at every call site, so the loops unroll and the
 * accumulators live in registers. Between k blocks the accumulators wait in
 * `save` (exactly: a store and a load change no bits); the block that reaches
 * n adds the masked tail and writes y. */
static inline __attribute__((always_inline)) void tile(float *y, const float *x, const float *w,
                                                       int n, int d, int i0, int t0, int R, int C,
                                                       int k0, int k1, __m256 *save) {
    __m256 acc[MAX_R][MAX_C];
    const float *wr[MAX_R], *xc[MAX_C];
    for (int r = 0; r < R; r++) wr[r] = w + (size_t)(i0 + r) * n;
    for (int c = 0; c < C; c++) xc[c] = x + (size_t)(t0 + c) * n;
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) acc[r][c] = k0 == 0 ? _mm256_setzero_ps() : save[r * C + c];

    /* One token streams the weights: see the prefetch note at gemv. */
    const char *pf = (const char *)(w + (size_t)(i0 + 4 * R) * n);
    int k = k0;
    for (; k + 8 <= k1; k += 8) {
        if (C == 1 && k % 16 == 0)
            for (int r = 0; r < R; r++, pf += 64) _mm_prefetch(pf, _MM_HINT_T1);
        __m256 xv[MAX_C];
        for (int c = 0; c < C; c++) xv[c] = _mm256_loadu_ps(xc[c] + k);
        for (int r = 0; r < R; r++) {
            __m256 wv = _mm256_loadu_ps(wr[r] + k);
            for (int c = 0; c < C; c++) acc[r][c] = _mm256_fmadd_ps(wv, xv[c], acc[r][c]);
        }
    }
    if (k1 < n) {
        for (int r = 0; r < R; r++)
            for (int c = 0; c < C; c++) save[r * C + c] = acc[r][c];
        return;
    }
    if (k < n) {
        __m256i m = lm_avx2_tail_mask(n - k);
        __m256 xv[MAX_C];
        for (int c = 0; c < C; c++) xv[c] = _mm256_maskload_ps(xc[c] + k, m);
        for (int r = 0; r < R; r++) {
            __m256 wv = _mm256_maskload_ps(wr[r] + k, m);
            for (int c = 0; c < C; c++) acc[r][c] = _mm256_fmadd_ps(wv, xv[c], acc[r][c]);
        }
    }

    const __m256 z = _mm256_setzero_ps();
    for (int c = 0; c < C; c++) {
        float *yc = y + (size_t)(t0 + c) * d + i0;
        __m256 a[MAX_R];
        for (int r = 0; r < MAX_R; r++) a[r] = r < R ? acc[r][c] : z;
        if (R == 8) {
            _mm256_storeu_ps(yc, lm_avx2_reduce8(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]));
        } else if (R == 4) {
            _mm_storeu_ps(yc, lm_avx2_reduce4(a[0], a[1], a[2], a[3]));
        } else {
            float s[4];
            _mm_storeu_ps(s, lm_avx2_reduce4(a[0], a[1], a[2], a[3]));
            for (int r = 0; r < R; r++) yc[r] = s[r];
        }
    }
}

/* One token: a matrix-vector product bound by streaming the weights, so 8 rows
 * at a time give 8 independent FMA chains per load of x. The hardware
 * prefetchers do not keep up with 8 interleaved row streams, so each tile
 * walks through the weights of the tile 4 ahead in address order, a line per
 * row per 16 columns, into L2 (measured: 15M decode, 1 thread, 250 -> 360-400
 * tok/s). */
static void gemv(float *y, const float *x, const float *w, int n, int d, int i0, int i1) {
    int i = i0;
    for (; i + 8 <= i1; i += 8) tile(y, x, w, n, d, i, 0, 8, 1, 0, n, NULL);
    if (i + 4 <= i1) tile(y, x, w, n, d, i, 0, 4, 1, 0, n, NULL), i += 4;
    switch (i1 - i) {
    case 3: tile(y, x, w, n, d, i, 0, 3, 1, 0, n, NULL); break;
    case 2: tile(y, x, w, n, d, i, 0, 2, 1, 0, n, NULL); break;
    case 1: tile(y, x, w, n, d, i, 0, 1, 1, 0, n, NULL); break;
    default: break;
    }
}

#define TILE_RC(R, C) tile(y, x, w, n, d, i, t0, R, C, k0, k1, save)

/* Up to 4 rows from i by up to 3 tokens from t0, constants for each shape. */
static void tile_any(float *y, const float *x, const float *w, int n, int d, int i, int R, int t0,
                     int C, int k0, int k1, __m256 *save) {
    switch (C * 4 + R) {
    case 3 * 4 + 4: TILE_RC(4, 3); break;
    case 3 * 4 + 3: TILE_RC(3, 3); break;
    case 3 * 4 + 2: TILE_RC(2, 3); break;
    case 3 * 4 + 1: TILE_RC(1, 3); break;
    case 2 * 4 + 4: TILE_RC(4, 2); break;
    case 2 * 4 + 3: TILE_RC(3, 2); break;
    case 2 * 4 + 2: TILE_RC(2, 2); break;
    case 2 * 4 + 1: TILE_RC(1, 2); break;
    case 1 * 4 + 4: TILE_RC(4, 1); break;
    case 1 * 4 + 3: TILE_RC(3, 1); break;
    case 1 * 4 + 2: TILE_RC(2, 1); break;
    default: TILE_RC(1, 1); break;
    }
}

/* Several tokens, fewer than OUTER_MIN_T: tiles of 4 rows x 3 tokens, 12
 * accumulators fed by 7 loads per 12 FMAs, blocked so that the loads hit L1:
 * a block of ROW_BLOCK rows by at most K_BLOCK columns of weights (24 KiB)
 * stays in L1 while the token tiles pass over it, and each token tile (9 KiB)
 * serves all the rows of the block; the activations of TOKEN_BLOCK tokens
 * (over one k block) stay in L2. */
#define ROW_BLOCK 8
#define K_BLOCK 768
#define TOKEN_BLOCK 48

/* Many tokens: matmul_f32_outer.h's outer product with lanes across tokens,
 * as on AVX-512 but with 16 registers: 6 rows x 2 vectors of 8 tokens, 2
 * token vectors and 1 broadcast. xt is 16 KiB, save 16 KiB. */
#define OUTER_VEC __m256
#define OUTER_LANES 8
#define OUTER_ZERO() _mm256_setzero_ps()
#define OUTER_LOAD(p) _mm256_load_ps(p)
#define OUTER_STORE(p, v) _mm256_store_ps(p, v)
#define OUTER_BCAST(p) _mm256_broadcast_ss(p)
#define OUTER_FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define OUTER_TRANSPOSE transpose8
#define OUTER_TOKENS 16
#define OUTER_MAX_V 2
#define OUTER_MIN_T 32
#define OUTER_K_BLOCK 256
#define OUTER_PANEL 256
#define OUTER_ROWS 6

/* dst[j][i] = src[i][j] for an 8 x 8 block (row strides sn and dn): pairs,
 * then quads within 128-bit lanes, then the lanes themselves. */
static inline void transpose8(float *dst, int dn, const float *src, int sn) {
    __m256 a[8], b[8];
    for (int i = 0; i < 8; i++) a[i] = _mm256_loadu_ps(src + (size_t)i * sn);
    for (int i = 0; i < 8; i += 2) {
        b[i] = _mm256_unpacklo_ps(a[i], a[i + 1]);
        b[i + 1] = _mm256_unpackhi_ps(a[i], a[i + 1]);
    }
    /* a[4g + j], lane q: rows 4g..4g+3 of column 4q + j. */
    for (int i = 0; i < 8; i += 4)
        for (int h = 0; h < 2; h++) {
            a[i + 2 * h] = _mm256_shuffle_ps(b[i + h], b[i + h + 2], 0x44);
            a[i + 2 * h + 1] = _mm256_shuffle_ps(b[i + h], b[i + h + 2], 0xee);
        }
    for (int j = 0; j < 4; j++) {
        _mm256_storeu_ps(dst + (size_t)j * dn, _mm256_permute2f128_ps(a[j], a[4 + j], 0x20));
        _mm256_storeu_ps(dst + (size_t)(4 + j) * dn, _mm256_permute2f128_ps(a[j], a[4 + j], 0x31));
    }
}

#include "matmul_f32_outer.h"

void lm_matmul_f32_avx2(float *y, const float *x, const float *w, int T, int n, int d, int r0,
                        int r1) {
    if (T == 1) {
        gemv(y, x, w, n, d, r0, r1);
        return;
    }
    if (T >= OUTER_MIN_T && n > 0 && r0 < r1) {
        outer_gemm(y, x, w, T, n, d, r0, r1);
        return;
    }
    /* Equal k blocks (a multiple of 8, so that only the last has a tail)
     * rather than a short last one, which would cost tile overhead. */
    const int nkb = (n + K_BLOCK - 1) / K_BLOCK;
    const int kb = ((n + nkb - 1) / nkb + 7) & ~7;
    /* The accumulators of one row block's tiles between k blocks: 13 KiB. */
    __m256 save[TOKEN_BLOCK / 3 + 1][ROW_BLOCK / 4][MAX_C * 4];
    for (int tb = 0; tb < T; tb += TOKEN_BLOCK) {
        const int te = tb + TOKEN_BLOCK < T ? tb + TOKEN_BLOCK : T;
        for (int ib = r0; ib < r1; ib += ROW_BLOCK) {
            const int ie = ib + ROW_BLOCK < r1 ? ib + ROW_BLOCK : r1;
            for (int k0 = 0; k0 < n; k0 += kb) {
                const int k1 = k0 + kb < n ? k0 + kb : n;
                /* Tiles of 3 tokens, but 4 = 2 + 2: a 1-token tile has 5 loads
                 * per 4 FMAs. */
                for (int t0 = tb, tt = 0; t0 < te; tt++) {
                    const int left = te - t0, C = left == 4 || left == 2 ? 2 : left < 3 ? left : 3;
                    for (int i = ib; i < ie; i += 4) {
                        const int R = ie - i < 4 ? ie - i : 4;
                        tile_any(y, x, w, n, d, i, R, t0, C, k0, k1, save[tt][(i - ib) / 4]);
                    }
                    t0 += C;
                }
            }
        }
    }
}
