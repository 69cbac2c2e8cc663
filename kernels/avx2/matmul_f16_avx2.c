/* F16 / BF16 products on panels (kernels.h) with AVX2 + FMA + F16C: the f32
 * kernel's chains (one FMA per k per row lane, k ascending) on the weights
 * widened exactly in registers (vcvtph2ps; bfloat16: zero-extend and shift
 * left 16), so the bits are matmul_f32's on the widened matrix.
 * Decode (T < 3) widens each weight as it streams in, half the bytes of f32.
 * Prefill widens a panel's k block once into an L1 buffer of floats and runs
 * the tokens over it three at a time; a row's chain goes on from one k block
 * to the next through y (a float stored and loaded back is the same value). */
#include <immintrin.h>
#include <string.h>

#include "avx2.h"
#include "math_avx2.h"

/* The 16 rows of one k of a panel (32 bytes) as two vectors of 8 floats. */
static inline __attribute__((always_inline)) void widen16(const uint16_t *src, const int bf16,
                                                          __m256 *lo, __m256 *hi) {
    __m128i a = _mm_loadu_si128((const __m128i *)src);
    __m128i b = _mm_loadu_si128((const __m128i *)(src + 8));
    if (bf16) {
        *lo = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(a), 16));
        *hi = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(b), 16));
    } else {
        *lo = _mm256_cvtph_ps(a);
        *hi = _mm256_cvtph_ps(b);
    }
}

/* Rows [r0, r1) of panel p of one token's output row y. */
/* The sums stored by lm_avx2_store_panel (lanes outside [r0, r1) are 0, never stored). */
static inline void load_rows(const float *y, int p, int r0, int r1, __m256 *lo, __m256 *hi) {
    int base = p * LM_PANEL;
    if (base >= r0 && base + LM_PANEL <= r1) {
        *lo = _mm256_loadu_ps(y + base);
        *hi = _mm256_loadu_ps(y + base + 8);
        return;
    }
    float tmp[LM_PANEL] = {0};
    for (int l = 0; l < LM_PANEL; l++)
        if (base + l >= r0 && base + l < r1) tmp[l] = y[base + l];
    *lo = _mm256_loadu_ps(tmp);
    *hi = _mm256_loadu_ps(tmp + 8);
}

/* Decode: P panels x NT tokens over all k, widening in registers. */
static inline __attribute__((always_inline)) void block16(float *y, const float *x,
                                                          const uint16_t *w, int n, int d, int p0,
                                                          int r0, int r1, const int P, const int NT,
                                                          const int bf16) {
    __m256 acc[2][2][2];
    const size_t ps = (size_t)LM_PANEL * n;
    const uint16_t *wp = w + (size_t)p0 * ps;
    for (int p = 0; p < P; p++)
        for (int t = 0; t < NT; t++) acc[p][0][t] = acc[p][1][t] = _mm256_setzero_ps();
    for (int k = 0; k < n; k++) {
        __m256 lo[2], hi[2];
        for (int p = 0; p < P; p++) {
            const uint16_t *src = wp + p * ps + (size_t)k * LM_PANEL;
            _mm_prefetch((const char *)src + 1024, _MM_HINT_T0);
            widen16(src, bf16, &lo[p], &hi[p]);
        }
        for (int t = 0; t < NT; t++) {
            __m256 xb = _mm256_broadcast_ss(x + (size_t)t * n + k);
            for (int p = 0; p < P; p++) {
                acc[p][0][t] = _mm256_fmadd_ps(lo[p], xb, acc[p][0][t]);
                acc[p][1][t] = _mm256_fmadd_ps(hi[p], xb, acc[p][1][t]);
            }
        }
    }
    for (int p = 0; p < P; p++)
        for (int t = 0; t < NT; t++)
            lm_avx2_store_panel(y + (size_t)t * d, p0 + p, r0, r1, acc[p][0][t], acc[p][1][t]);
}

/* k per widened block: 16 x 256 floats, 16 KiB, in L1 under every token. */
#define KC 256

/* Prefill: NT tokens (from t0) over the widened k block [k0, k1) of panel p,
 * buf[(k - k0) * 16 + lane], going on from the sums in y when k0 > 0. */
static inline __attribute__((always_inline)) void block_buf(float *y, const float *x,
                                                            const float *buf, int n, int d, int p,
                                                            int t0, int r0, int r1, int k0, int k1,
                                                            const int NT) {
    __m256 acc[2][3];
    for (int t = 0; t < NT; t++) {
        if (k0)
            load_rows(y + (size_t)(t0 + t) * d, p, r0, r1, &acc[0][t], &acc[1][t]);
        else
            acc[0][t] = acc[1][t] = _mm256_setzero_ps();
    }
    const float *xt = x + (size_t)t0 * n;
    for (int k = k0; k < k1; k++) {
        __m256 lo = _mm256_loadu_ps(buf + (size_t)(k - k0) * LM_PANEL);
        __m256 hi = _mm256_loadu_ps(buf + (size_t)(k - k0) * LM_PANEL + 8);
        for (int t = 0; t < NT; t++) {
            __m256 xb = _mm256_broadcast_ss(xt + (size_t)t * n + k);
            acc[0][t] = _mm256_fmadd_ps(lo, xb, acc[0][t]);
            acc[1][t] = _mm256_fmadd_ps(hi, xb, acc[1][t]);
        }
    }
    for (int t = 0; t < NT; t++)
        lm_avx2_store_panel(y + (size_t)(t0 + t) * d, p, r0, r1, acc[0][t], acc[1][t]);
}

static inline __attribute__((always_inline)) void
matmul16(float *y, const float *x, const lm_packed *w, int T, int r0, int r1, const int bf16) {
    const int n = w->cols, d = w->rows;
    if (r1 > d) r1 = d;
    if (r0 >= r1) return;
    const int first = r0 / LM_PANEL, last = (r1 + LM_PANEL - 1) / LM_PANEL;
    if (T < 3) {
        int p = first;
        for (; p + 2 <= last; p += 2) {
            if (T == 1)
                block16(y, x, w->h, n, d, p, r0, r1, 2, 1, bf16);
            else
                block16(y, x, w->h, n, d, p, r0, r1, 2, 2, bf16);
        }
        if (p < last) {
            if (T == 1)
                block16(y, x, w->h, n, d, p, r0, r1, 1, 1, bf16);
            else
                block16(y, x, w->h, n, d, p, r0, r1, 1, 2, bf16);
        }
        return;
    }
    float buf[KC * LM_PANEL] __attribute__((aligned(32)));
    for (int p = first; p < last; p++) {
        const uint16_t *panel = w->h + (size_t)p * LM_PANEL * n;
        for (int k0 = 0; k0 < n; k0 += KC) {
            int k1 = k0 + KC < n ? k0 + KC : n;
            for (int k = k0; k < k1; k++) {
                __m256 lo, hi;
                widen16(panel + (size_t)k * LM_PANEL, bf16, &lo, &hi);
                _mm256_store_ps(buf + (size_t)(k - k0) * LM_PANEL, lo);
                _mm256_store_ps(buf + (size_t)(k - k0) * LM_PANEL + 8, hi);
            }
            int t0 = 0;
            for (; t0 + 3 <= T; t0 += 3) block_buf(y, x, buf, n, d, p, t0, r0, r1, k0, k1, 3);
            if (T - t0 == 1) block_buf(y, x, buf, n, d, p, t0, r0, r1, k0, k1, 1);
            if (T - t0 == 2) block_buf(y, x, buf, n, d, p, t0, r0, r1, k0, k1, 2);
        }
    }
}

void lm_matmul_f16_avx2(float *y, const float *x, const lm_packed *w, int T, int r0, int r1) {
    matmul16(y, x, w, T, r0, r1, 0);
}

void lm_matmul_bf16_avx2(float *y, const float *x, const lm_packed *w, int T, int r0, int r1) {
    matmul16(y, x, w, T, r0, r1, 1);
}
