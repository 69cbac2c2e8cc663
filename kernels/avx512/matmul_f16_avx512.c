/* F16 / BF16 products on panels (kernels.h) with AVX-512: the f32 kernel's
 * chains (each zmm one panel's 16 rows for one token, one FMA per k, k
 * ascending) on the weights widened exactly (vcvtph2ps; bfloat16:
 * zero-extend and shift left 16), so the bits are matmul_f32's on the
 * widened matrix.
 * Decode and short blocks (T <= 5) widen each weight in registers as it
 * streams in: half the bytes of f32. Prefill widens a 4-panel x 128-k block
 * once into an L1 buffer of floats and runs the f32 tile (4 panels x 6
 * tokens) over it; a row's chain goes on from one k block to the next
 * through y (a float stored and loaded back is the same value). */
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

enum { F32 = 0, F16 = 1, BF16 = 2 };

/* The 16 rows of one k of a panel, from 16-bit panels or the float buffer. */
static inline __attribute__((always_inline)) __m512 load_w(const void *w, size_t at,
                                                           const int kind) {
    if (kind == F32) return _mm512_loadu_ps((const float *)w + at);
    __m256i h = _mm256_loadu_si256((const __m256i *)((const uint16_t *)w + at));
    if (kind == F16) return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/* P panels x NT tokens (from t0) over k in [k0, k1); panel p0 + p's weights
 * for k at w + p * ps + (k - kw) * 16 (kw: the first k that w holds). */
static inline __attribute__((always_inline)) void block(float *y, const float *x, const void *w,
                                                        size_t ps, int kw, int n, int d, int p0,
                                                        int t0, int r0, int r1, int k0, int k1,
                                                        const int P, const int NT, const int kind) {
    __m512 acc[4][6];
    const float *xt = x + (size_t)t0 * n;
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
            size_t at = p * ps + (size_t)(k - kw) * LM_PANEL;
            if (kind != F32)
                _mm_prefetch((const char *)((const uint16_t *)w + at + 512), _MM_HINT_T0);
            wv[p] = load_w(w, at, kind);
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

/* Decode: panels [first, last) P at a time straight from the 16-bit panels. */
#define DIRECT(P, NT)                                                                              \
    do {                                                                                           \
        int p = first;                                                                             \
        for (; p + (P) <= last; p += (P))                                                          \
            block(y, x, w->h + (size_t)p * ps, ps, 0, n, d, p, 0, r0, r1, 0, n, (P), (NT), kind);  \
        for (; p < last; p++)                                                                      \
            block(y, x, w->h + (size_t)p * ps, ps, 0, n, d, p, 0, r0, r1, 0, n, 1, (NT), kind);    \
    } while (0)

/* k per widened block: 4 x 16 x 128 floats, 32 KiB, stay in L1 while every
 * block of 6 tokens reads them (the f32 kernel's KC). */
#define KC 128

/* Panels [pa, pb) (at most 4) widened for k in [k0, k1) into buf, panel p at
 * buf + (p - pa) * 16 * KC. */
static inline __attribute__((always_inline)) void widen_block(float *buf, const uint16_t *h,
                                                              size_t ps, int pa, int pb, int k0,
                                                              int k1, const int kind) {
    for (int p = pa; p < pb; p++)
        for (int k = k0; k < k1; k++)
            _mm512_store_ps(buf + (size_t)(p - pa) * LM_PANEL * KC + (size_t)(k - k0) * LM_PANEL,
                            load_w(h, (size_t)p * ps + (size_t)k * LM_PANEL, kind));
}

/* Tokens t0.. of width NT over the widened panels [pa, pb). */
#define BUFFERED(NT)                                                                               \
    do {                                                                                           \
        if (pb - pa == 4)                                                                          \
            block(y, x, buf, bs, k0, n, d, pa, t0, r0, r1, k0, k1, 4, (NT), F32);                  \
        else                                                                                       \
            for (int p = pa; p < pb; p++)                                                          \
                block(y, x, buf + (size_t)(p - pa) * bs, bs, k0, n, d, p, t0, r0, r1, k0, k1, 1,   \
                      (NT), F32);                                                                  \
    } while (0)

static inline __attribute__((always_inline)) void
matmul16(float *y, const float *x, const lm_packed *w, int T, int r0, int r1, const int kind) {
    const int n = w->cols, d = w->rows;
    if (r1 > d) r1 = d;
    if (r0 >= r1) return;
    const int first = r0 / LM_PANEL, last = (r1 + LM_PANEL - 1) / LM_PANEL;
    const size_t ps = (size_t)LM_PANEL * n, bs = (size_t)LM_PANEL * KC;
    switch (T) { /* decode and short blocks: independent chains of 4 panels */
    case 1: DIRECT(4, 1); return;
    case 2: DIRECT(4, 2); return;
    case 3: DIRECT(4, 3); return;
    case 4: DIRECT(3, 4); return;
    case 5: DIRECT(2, 5); return;
    default: break;
    }
    float buf[4 * LM_PANEL * KC] __attribute__((aligned(64)));
    for (int pa = first; pa < last; pa += 4) {
        int pb = pa + 4 < last ? pa + 4 : last;
        for (int k0 = 0; k0 < n; k0 += KC) {
            int k1 = k0 + KC < n ? k0 + KC : n, t0 = 0;
            widen_block(buf, w->h, ps, pa, pb, k0, k1, kind);
            for (; t0 + 6 <= T; t0 += 6) BUFFERED(6);
            switch (T - t0) {
            case 1: BUFFERED(1); break;
            case 2: BUFFERED(2); break;
            case 3: BUFFERED(3); break;
            case 4: BUFFERED(4); break;
            case 5: BUFFERED(5); break;
            default: break;
            }
        }
    }
}

void lm_matmul_f16_avx512(float *y, const float *x, const lm_packed *w, int T, int r0, int r1) {
    matmul16(y, x, w, T, r0, r1, F16);
}

void lm_matmul_bf16_avx512(float *y, const float *x, const lm_packed *w, int T, int r0, int r1) {
    matmul16(y, x, w, T, r0, r1, BF16);
}
