/* Q8_0 matrix product: per piece of a row that has one weight scale and one
 * activation scale, an exact integer dot product (8 int32 lanes), converted to
 * fp32 and accumulated with both scales into an 8-wide accumulator per output,
 * reduced with the shared tree at the end.
 *
 * int8 x int8 products use the sign trick: maddubs multiplies unsigned by
 * signed bytes, so it gets |x| and w * sign(x); a pair sum is at most
 * 2 * 127 * 127 and fits its int16 (weights and activations are in [-127, 127]
 * as quantize_q8 makes them), and madd with ones widens pairs to int32.
 *
 * Every output goes through the same steps whatever tile covers it, so rows do
 * not depend on the row range. */
#include <string.h>

#include <immintrin.h>

#include "avx2.h"
#include "math_avx2.h"

#define MAX_R 4
#define MAX_C 4
#define ROW_BLOCK 16

static inline __m256i dot32(__m256i ax, __m256i x, __m256i w) {
    __m256i p = _mm256_maddubs_epi16(ax, _mm256_sign_epi8(w, x));
    return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
}

/* Fast path: n % gs == 0 and gs % 32 == 0, so every row holds whole groups and
 * weight and activation groups coincide. R rows by C tokens; R, C and CH (the
 * 32-byte chunks per group, when known) are constants at the call sites. */
static inline __attribute__((always_inline)) void tile(float *y, const lm_q8_act *x, const lm_q8 *w,
                                                       int n, int d, int i0, int t0, int R, int C,
                                                       int CH) {
    const int gs = w->gs, groups = n / gs;
    const int8_t *wr[MAX_R], *xc[MAX_C];
    const float *wsr[MAX_R], *xsc[MAX_C];
    __m256 acc[MAX_R][MAX_C];
    for (int r = 0; r < R; r++) {
        wr[r] = w->q + (size_t)(i0 + r) * n;
        wsr[r] = w->s + (size_t)(i0 + r) * groups;
    }
    for (int c = 0; c < C; c++) {
        xc[c] = x->q + (size_t)(t0 + c) * n;
        xsc[c] = x->s + (size_t)(t0 + c) * groups;
    }
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) acc[r][c] = _mm256_setzero_ps();

    const int ch = CH ? CH : gs / 32;
    /* The hardware prefetchers do not keep up with R interleaved rows (about
     * half the bandwidth at 110M, T = 1): during the first token pair, fetch
     * the rows two row blocks ahead into L2 in address order, R * gs bytes
     * per group, as many as the tile reads. */
    const char *pf = (const char *)(wr[0] + (size_t)2 * ROW_BLOCK * n);
    for (int g = 0; g < groups; g++) {
        if (t0 == 0) {
            for (int k = 0; k < R * gs; k += 64) _mm_prefetch(pf + k, _MM_HINT_T1);
            pf += R * gs;
        }
        __m256i isum[MAX_R][MAX_C];
        for (int r = 0; r < R; r++)
            for (int c = 0; c < C; c++) isum[r][c] = _mm256_setzero_si256();
        for (int k = g * gs, ke = k + ch * 32; k < ke; k += 32) {
            __m256i xv[MAX_C], ax[MAX_C];
            for (int c = 0; c < C; c++) {
                xv[c] = _mm256_loadu_si256((const __m256i *)(xc[c] + k));
                ax[c] = _mm256_sign_epi8(xv[c], xv[c]);
            }
            for (int r = 0; r < R; r++) {
                __m256i wv = _mm256_loadu_si256((const __m256i *)(wr[r] + k));
                for (int c = 0; c < C; c++)
                    isum[r][c] = _mm256_add_epi32(isum[r][c], dot32(ax[c], xv[c], wv));
            }
        }
        for (int r = 0; r < R; r++)
            for (int c = 0; c < C; c++) {
                __m256 sc = _mm256_set1_ps(wsr[r][g] * xsc[c][g]);
                acc[r][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[r][c]), sc, acc[r][c]);
            }
    }

    const __m256 z = _mm256_setzero_ps();
    for (int c = 0; c < C; c++) {
        float *yc = y + (size_t)(t0 + c) * d + i0;
        __m256 a[4];
        for (int r = 0; r < 4; r++) a[r] = r < R ? acc[r][c] : z;
        if (R == 4) {
            _mm_storeu_ps(yc, lm_avx2_reduce4(a[0], a[1], a[2], a[3]));
        } else {
            float s[4];
            _mm_storeu_ps(s, lm_avx2_reduce4(a[0], a[1], a[2], a[3]));
            for (int r = 0; r < R; r++) yc[r] = s[r];
        }
    }
}

#define ROWS(C, CH)                                                                                \
    do {                                                                                           \
        int i = r0;                                                                                \
        for (; i + 4 <= r1; i += 4) tile(y, x, w, n, d, i, t0, 4, C, CH);                          \
        switch (r1 - i) {                                                                          \
        case 3: tile(y, x, w, n, d, i, t0, 3, C, CH); break;                                       \
        case 2: tile(y, x, w, n, d, i, t0, 2, C, CH); break;                                       \
        case 1: tile(y, x, w, n, d, i, t0, 1, C, CH); break;                                       \
        default: break;                                                                            \
        }                                                                                          \
    } while (0)

static void rows_fast(float *y, const lm_q8_act *x, const lm_q8 *w, int n, int d, int r0, int r1,
                      int t0, int C) {
    if (w->gs == 64) { /* runq.c's default: let the compiler unroll the group */
        switch (C) {
        case 2: ROWS(2, 2); break;
        default: ROWS(1, 2); break;
        }
    } else {
        switch (C) {
        case 2: ROWS(2, 0); break;
        default: ROWS(1, 0); break;
        }
    }
}

/* Any other shape: rows are cut wherever a weight group or an activation group
 * ends (weight groups may straddle rows), as in the oracle. One row at a time
 * for up to MAX_C tokens; each piece is 32-byte chunks, the last one masked. */
static inline __attribute__((always_inline)) void
row_general(float *y, const lm_q8_act *x, const lm_q8 *w, int n, int d, int i, int t0, int C) {
    const int gs = w->gs, xgroups = lm_q8_groups(n, gs);
    const size_t base = (size_t)i * n;
    const int8_t *wr = w->q + base;
    const int8_t *xc[MAX_C];
    const float *xsc[MAX_C];
    __m256 acc[MAX_C];
    for (int c = 0; c < C; c++) {
        xc[c] = x->q + (size_t)(t0 + c) * n;
        xsc[c] = x->s + (size_t)(t0 + c) * xgroups;
        acc[c] = _mm256_setzero_ps();
    }
    const __m256i iota =
        _mm256_setr_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20,
                         21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31);

    /* Walk the two sets of group boundaries without dividing per piece. */
    size_t wg = base / (size_t)gs;
    int w_next = (int)((wg + 1) * (size_t)gs - base);
    int xg = 0, x_next = gs;
    for (int j = 0; j < n;) {
        int end = n < w_next ? n : w_next;
        if (end > x_next) end = x_next;
        __m256i isum[MAX_C];
        for (int c = 0; c < C; c++) isum[c] = _mm256_setzero_si256();
        for (int k = j; k < end; k += 32) {
            __m256i wv, xv[MAX_C];
            if (k + 32 <= n) {
                wv = _mm256_loadu_si256((const __m256i *)(wr + k));
                for (int c = 0; c < C; c++)
                    xv[c] = _mm256_loadu_si256((const __m256i *)(xc[c] + k));
            } else { /* the end of a row may be the end of the buffer */
                int8_t buf[32] = {0};
                memcpy(buf, wr + k, (size_t)(n - k));
                wv = _mm256_loadu_si256((const __m256i *)buf);
                for (int c = 0; c < C; c++) {
                    memcpy(buf, xc[c] + k, (size_t)(n - k));
                    xv[c] = _mm256_loadu_si256((const __m256i *)buf);
                }
            }
            if (end - k < 32) /* zero weights past the piece: their products vanish */
                wv = _mm256_and_si256(wv,
                                      _mm256_cmpgt_epi8(_mm256_set1_epi8((char)(end - k)), iota));
            for (int c = 0; c < C; c++) {
                __m256i ax = _mm256_sign_epi8(xv[c], xv[c]);
                isum[c] = _mm256_add_epi32(isum[c], dot32(ax, xv[c], wv));
            }
        }
        const float ws = w->s[wg];
        for (int c = 0; c < C; c++) {
            __m256 sc = _mm256_set1_ps(ws * xsc[c][xg]);
            acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[c]), sc, acc[c]);
        }
        j = end;
        if (j == w_next) wg++, w_next += gs;
        if (j == x_next) xg++, x_next += gs;
    }
    for (int c = 0; c < C; c++) y[(size_t)(t0 + c) * d + i] = lm_avx2_hsum(acc[c]);
}

void lm_matmul_q8_avx2(float *y, const lm_q8_act *x, const lm_q8 *w, int T, int n, int d, int r0,
                       int r1) {
    if (n % w->gs == 0 && w->gs % 32 == 0) {
        /* A block of rows stays in L1 while every token pair passes over it. */
        for (int i = r0; i < r1; i += ROW_BLOCK) {
            int ie = i + ROW_BLOCK < r1 ? i + ROW_BLOCK : r1;
            int t0 = 0;
            for (; t0 + 2 <= T; t0 += 2) rows_fast(y, x, w, n, d, i, ie, t0, 2);
            if (t0 < T) rows_fast(y, x, w, n, d, i, ie, t0, 1);
        }
        return;
    }
    for (int i = r0; i < r1; i++) {
        int t0 = 0;
        for (; t0 + MAX_C <= T; t0 += MAX_C) row_general(y, x, w, n, d, i, t0, MAX_C);
        switch (T - t0) {
        case 3: row_general(y, x, w, n, d, i, t0, 3); break;
        case 2: row_general(y, x, w, n, d, i, t0, 2); break;
        case 1: row_general(y, x, w, n, d, i, t0, 1); break;
        default: break;
        }
    }
}
