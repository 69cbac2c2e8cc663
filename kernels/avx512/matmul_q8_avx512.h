/* The Q8_0 matrix product shared by matmul_q8_avx512.c and
 * matmul_q8_avx512vnni.c, which differ only in the int8 dot product: each
 * defines q8_dot(acc, u, s) = acc + (4-byte sums of u * s in 16 int32 lanes),
 * u unsigned and s signed bytes, before including this file.
 *
 * Bits: the oracle adds, per row, ((float)isum * s_w) * s_x for the groups in
 * order, and a last-bit difference can change greedy text of Q8_0 models
 * against runq.c's. Here the 16 lanes of the fp32 accumulator are 16 rows,
 * each adding its own groups' terms in that order with the same operations,
 * so every row has the oracle's bits whatever tile or row range computed it.
 *
 * Per 64-byte chunk, every row's products land in 16 int32 lanes of 4 bytes
 * each (the sign trick: u = |x| and s = w with x's sign; weights and
 * activations are in [-127, 127] as quantize_q8 makes them, so the negation
 * never overflows and maddubs' pair sums fit their int16). q8_lanes_to_rows
 * then transposes the 16 rows into lanes, adding the lanes of each group on
 * the way: integer sums, exact in any order.
 *
 * A tile of 16 rows goes through the groups in blocks of 16: the block's
 * weight scales are transposed once (rows into lanes), then every token
 * passes over the block while its weights are in L1. At T = 1 the kernel
 * streams the weights, so it prefetches them itself in address order.
 *
 * The fast path needs x->gs == w->gs and n % gs == 0 (every row holds whole
 * groups, so row i's scales start at s + i * n / gs) with gs a power of two
 * from 4 to 64 (a chunk holds 64 / gs groups) or a multiple of 64 (a group is
 * whole chunks). Anything else goes to the scalar oracle, which cuts rows at
 * every weight and activation group boundary. */
#ifndef LAMINA_KERNELS_AVX512_MATMUL_Q8_H
#define LAMINA_KERNELS_AVX512_MATMUL_Q8_H

#include <immintrin.h>

#include "math_avx512.h"
#include "scalar/scalar.h"

/* The even (odd) elements of a then of b: 32-bit elements within each 128-bit
 * block for levels 0 and 1, 128-bit blocks for levels 2 and 3. */
static inline __m512i q8_pick(__m512i a, __m512i b, int level, int odd) {
    if (level >= 2)
        return odd ? _mm512_shuffle_i32x4(a, b, _MM_SHUFFLE(3, 1, 3, 1))
                   : _mm512_shuffle_i32x4(a, b, _MM_SHUFFLE(2, 0, 2, 0));
    const __m512 fa = _mm512_castsi512_ps(a), fb = _mm512_castsi512_ps(b);
    return _mm512_castps_si512(odd ? _mm512_shuffle_ps(fa, fb, _MM_SHUFFLE(3, 1, 3, 1))
                                   : _mm512_shuffle_ps(fa, fb, _MM_SHUFFLE(2, 0, 2, 0)));
}

/* On entry v[r] holds row r's 16 int32 lanes for one chunk, in which a group
 * is L consecutive lanes (L = gs / 4, at most 16). On return v[g], g < 16 / L,
 * holds in lane r the sum of row r's lanes of the chunk's g-th group.
 *
 * Level l pairs neighbouring vectors and splits lane bit l between the pair's
 * even and odd picks: four levels transpose rows into lanes. At the levels
 * below log2(L) the bit is within a group, so the picks are added; above, both
 * are kept, as the lists of two different groups. */
static inline __attribute__((always_inline)) void q8_lanes_to_rows(__m512i v[16], int L) {
    int lists = 1, len = 16; /* v holds `lists` lists of `len` vectors */
    /* Fully unrolled, so that v stays in registers. */
#pragma GCC unroll 4
    for (int level = 0; level < 4; level++) {
        const int half = len / 2, add = (1 << level) < L;
        __m512i next[16];
#pragma GCC unroll 16
        for (int g = 0; g < lists; g++)
#pragma GCC unroll 16
            for (int j = 0; j < half; j++) {
                const __m512i a = v[g * len + 2 * j], b = v[g * len + 2 * j + 1];
                const __m512i e = q8_pick(a, b, level, 0), o = q8_pick(a, b, level, 1);
                if (add) {
                    next[g * half + j] = _mm512_add_epi32(e, o);
                } else {
                    next[g * half + j] = e;
                    next[(g + lists) * half + j] = o;
                }
            }
        lists = add ? lists : 2 * lists;
        len = half;
#pragma GCC unroll 16
        for (int j = 0; j < lists * len; j++) v[j] = next[j];
    }
}

/* The scales of groups [g0, g0 + 16) of a tile's 16 rows, transposed: sc[g]
 * lane r is row r's scale of group g0 + g (rows past nr repeat the last one,
 * groups past the row's end are 0 and unused). With L = 1 q8_lanes_to_rows is
 * a plain transpose; one per 16 groups costs much less than a gather per group
 * (about a third of the kernel's time at T = 1). Not inlined: one call per
 * 16 groups costs nothing measurable, and a copy in every tile variant made
 * clang's sanitizer builds take minutes per file. */
static __attribute__((noinline)) void q8_tile_scales(float sc[16][16], const float *ws, int groups,
                                                     int g0, int nr) {
    const __mmask16 m = lm_avx512_mask16(groups - g0);
    __m512i v[16];
#pragma GCC unroll 16
    for (int r = 0; r < 16; r++)
        v[r] = _mm512_maskz_loadu_epi32(m, ws + (size_t)(r < nr ? r : nr - 1) * groups + g0);
    q8_lanes_to_rows(v, 1);
#pragma GCC unroll 16
    for (int g = 0; g < 16; g++) _mm512_store_si512(sc[g], v[g]);
}

/* The oracle's step for the tile's rows: acc + (isum * s_w) * s_x. */
static inline __m512 q8_add_group(__m512 acc, __m512i isum, const float sc[16], float xs) {
    const __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(isum), _mm512_load_ps(sc));
    return _mm512_add_ps(acc, _mm512_mul_ps(f, _mm512_set1_ps(xs)));
}

/* A tile's rows (lane r is row min(r, nr - 1) of w0) against one token over
 * the groups [g0, g1) of a block, adding to acc in group order. L as in
 * q8_lanes_to_rows, a constant at every call site. Unless pf is NULL, *pf
 * walks ahead through the weights in address order, one line per row chunk,
 * into L2: the hardware prefetchers do not follow 16 interleaved streams
 * (about 10 GB/s instead of 16-20), and prefetching into L1 measured slower. */
static inline __attribute__((always_inline)) __m512
q8_block(__m512 acc, const int8_t *w0, int nr, const int8_t *xq, const float *xs,
         const float sc[16][16], int n, int gs, int g0, int g1, const char **pf, int L) {
    const int gpc = 16 / L; /* groups per chunk (1 if gs >= 64) */
    const __m512i zero = _mm512_setzero_si512();
    __m512i isum = zero; /* a group of several chunks (gs > 64) */
    const int end = g1 * gs < n ? g1 * gs : n;
    for (int j = g0 * gs; j < end; j += 64) {
        /* The last chunk may be partial: its bytes past n load as 0 (masked,
         * never read) and add nothing; their groups are not used. */
        const __mmask64 bm = lm_avx512_mask64(n - j);
        const int full = j + 64 <= n;
        const __m512i xv = full ? _mm512_loadu_si512(xq + j) : _mm512_maskz_loadu_epi8(bm, xq + j);
        const __mmask64 neg = _mm512_movepi8_mask(xv);
        const __m512i ax = _mm512_abs_epi8(xv);
        __m512i v[16];
#pragma GCC unroll 16
        for (int r = 0; r < 16; r++) {
            const int8_t *wr = w0 + (size_t)(r < nr ? r : nr - 1) * n + j;
            const __m512i wv = full ? _mm512_loadu_si512(wr) : _mm512_maskz_loadu_epi8(bm, wr);
            if (pf) {
                _mm_prefetch(*pf, _MM_HINT_T1);
                *pf += 64;
            }
            v[r] = q8_dot(zero, ax, _mm512_mask_sub_epi8(wv, neg, zero, wv));
        }
        q8_lanes_to_rows(v, L);
        if (gs <= 64) {
            /* g < gpc, a constant, keeps v in registers; the last chunk may
             * hold fewer groups. */
            const int gc = j / gs;
#pragma GCC unroll 16
            for (int g = 0; g < gpc; g++)
                if (gc + g < g1) acc = q8_add_group(acc, v[g], sc[gc + g - g0], xs[gc + g]);
        } else {
            isum = _mm512_add_epi32(isum, v[0]);
            if ((j + 64) % gs == 0) {
                acc = q8_add_group(acc, isum, sc[j / gs - g0], xs[j / gs]);
                isum = zero;
            }
        }
    }
    return acc;
}

/* Rows [i0, i0 + nr), nr <= 16, against every token: lane r is row i0 + r
 * (lanes past nr repeat the last row and are not stored). Blocks of 16 groups,
 * each against every token while its weights are in L1; between blocks a
 * token's partial sums wait in y (a float goes through memory unchanged). */
static inline __attribute__((always_inline)) void
q8_tile(float *y, const lm_q8_act *x, const lm_q8 *w, int T, int n, int d, int i0, int nr, int L) {
    const int gs = w->gs, groups = n / gs;
    const int8_t *w0 = w->q + (size_t)i0 * n;
    const float *ws = w->s + (size_t)i0 * groups;
    const __mmask16 rows = lm_avx512_mask16(nr);
    const char *pf = (const char *)(w->q + (size_t)(i0 + 4 * 16) * n); /* 4 tiles ahead */
    for (int g0 = 0; g0 < groups; g0 += 16) {
        const int g1 = g0 + 16 < groups ? g0 + 16 : groups;
        _Alignas(64) float sc[16][16];
        q8_tile_scales(sc, ws, groups, g0, nr);
        for (int t = 0; t < T; t++) {
            float *yt = y + (size_t)t * d + i0;
            __m512 acc = g0 ? _mm512_maskz_loadu_ps(rows, yt) : _mm512_setzero_ps();
            acc = q8_block(acc, w0, nr, x->q + (size_t)t * n, x->s + (size_t)t * groups, sc, n, gs,
                           g0, g1, t ? NULL : &pf, L);
            _mm512_mask_storeu_ps(yt, rows, acc);
        }
    }
}

/* The last, partial tile of a row range: at most one per thread and product.
 * A function of its own, not forced inline: an inlined copy per constant L
 * (next to the 16-row copy) made clang's sanitizer builds take minutes per
 * file, and GCC's release build is as fast either way. */
static void q8_tile_tail(float *y, const lm_q8_act *x, const lm_q8 *w, int T, int n, int d, int i0,
                         int nr, int L) {
    q8_tile(y, x, w, T, n, d, i0, nr, L);
}

/* Blocks of 16 rows. A constant nr = 16 lets the compiler address the rows
 * as w0 + r * n from a few registers instead of 16 pointers, which spill. */
static inline __attribute__((always_inline)) void q8_matmul(float *y, const lm_q8_act *x,
                                                            const lm_q8 *w, int T, int n, int d,
                                                            int r0, int r1, int L) {
    for (int i = r0; i < r1; i += 16) {
        if (r1 - i >= 16)
            q8_tile(y, x, w, T, n, d, i, 16, L);
        else
            q8_tile_tail(y, x, w, T, n, d, i, r1 - i, L);
    }
}

/* The entry point's body: the fast path for each group size, or the oracle. */
static inline __attribute__((always_inline)) void
q8_dispatch(float *y, const lm_q8_act *x, const lm_q8 *w, int T, int n, int d, int r0, int r1) {
    const int gs = w->gs;
    if (r0 >= r1 || T <= 0) return;
    if (gs <= 0 || x->gs != gs || n % gs != 0) {
        lm_matmul_q8_scalar(y, x, w, T, n, d, r0, r1);
        return;
    }
    switch (gs) {
    case 4: q8_matmul(y, x, w, T, n, d, r0, r1, 1); break;
    case 8: q8_matmul(y, x, w, T, n, d, r0, r1, 2); break;
    case 16: q8_matmul(y, x, w, T, n, d, r0, r1, 4); break;
    case 32: q8_matmul(y, x, w, T, n, d, r0, r1, 8); break;
    default:
        if (gs % 64 == 0)
            q8_matmul(y, x, w, T, n, d, r0, r1, 16);
        else
            lm_matmul_q8_scalar(y, x, w, T, n, d, r0, r1);
        break;
    }
}

#endif
