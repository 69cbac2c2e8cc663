/* Every kernel of one ISA's table against the scalar oracle, on random data
 * over edge shapes (tails below, at and above each vector width), unaligned
 * pointers and partial row ranges. Usage: test_kernels ISA.
 * Exit 77 (skipped) when this CPU lacks a feature the ISA needs.
 *
 * No tolerances anywhere:
 * - F16 / BF16 products (matmul_f16, matmul_bf16): the bits of the f32 oracle
 *   and of the same table's matmul_f32 on the exactly widened weights, over
 *   the same shapes, T = 1..70, row splits, matrices packed in parts from
 *   unaligned 16-bit data, and every one of the 65536 values of each type;
 *   the plain-C widening is checked against ldexp on every half.
 * - The products (matmul_f32, matmul_q8) on every ISA give the bits of the
 *   written order (kernels.h) as the row-major oracle loops compute it
 *   (lm_matmul_*_ref), for T = 1..70, odd shapes, group sizes 4..128, any row
 *   range starting at a multiple of 16; and a row's bits do not depend on T
 *   (one T = 37 call equals 37 T = 1 calls) or on how rows are split.
 * - Every op but the products (quantize_q8, rmsnorm, softmax, swiglu, rope,
 *   attention), on every ISA: the oracle's bits, no tolerance. kernels/ORDER.md
 *   writes down the order of operations each must keep; their vector expf is
 *   libm's bit for bit (kernels/exp_table.h), swept over the float range. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "check_kernels.h"
#include "dispatch.h"
#include "half.h"
#include "pack.h"
#include "scalar/scalar.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static float frand(void) { /* uniform in [-1, 1) */
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return (float)((rng * 0x2545F4914F6CDD1Dull) >> 40) / 8388608.0f - 1.0f;
}

static int irand(int n) { return (int)((frand() + 1.0f) * 0.5f * (float)n) % n; }

static void fill(float *v, size_t n, float scale) {
    for (size_t i = 0; i < n; i++) v[i] = frand() * scale;
}

/* Buffers are offset by one element so no kernel may assume alignment. */
static float *falloc(size_t n) { return (float *)malloc((n + 1) * sizeof(float)) + 1; }
static void ffree(float *p) { free(p - 1); }

/* Whether got and want hold the same bits; reports the first difference. */
static int same_bits(const float *got, const float *want, size_t n, const char *what, int n_, int d,
                     int T, int gs, int r0, int r1) {
    for (size_t i = 0; i < n; i++)
        if (memcmp(&got[i], &want[i], sizeof(float)) != 0) {
            CHECK(0,
                  "%s n %d d %d T %d gs %d rows [%d,%d): element %zu (t %zu, row %zu) got %a "
                  "want %a",
                  what, n_, d, T, gs, r0, r1, i, i / (size_t)d, i % (size_t)d, got[i], want[i]);
            return 0;
        }
    return 1;
}

/* Quantize T random rows with the scalar oracle, as forward.c would. */
static lm_q8_act make_act(const float *x, int T, int n, int gs) {
    int groups = lm_q8_groups(n, gs);
    lm_q8_act a = {malloc((size_t)T * n), malloc((size_t)T * groups * sizeof(float)), gs};
    for (int t = 0; t < T; t++)
        lm_quantize_q8_scalar(a.q + t * n, a.s + t * groups, x + t * n, n, gs);
    return a;
}

/* ---- products ----------------------------------------------------------- */

/* A packed copy of a row-major matrix (64-byte aligned, as model.c packs). */
static void *pack_f32(lm_packed *pk, const float *w, int d, int n) {
    void *mem = aligned_alloc(64, (lm_pack_bytes(d, n, 0) + 63) / 64 * 64);
    lm_pack_f32(pk, mem, w, d, n);
    return mem;
}

static void *pack_q8(lm_packed *pk, const lm_q8 *w, int d, int n) {
    void *mem = aligned_alloc(64, (lm_pack_bytes(d, n, w->gs) + 63) / 64 * 64);
    lm_pack_q8(pk, mem, w, d, n);
    return mem;
}

/* Random int8 weights in [-128, 127] (-128 too: any file's value must be
 * exact) and positive scales, flattened groups of gs. */
static lm_q8 random_q8(int d, int n, int gs) {
    size_t nw = (size_t)d * n;
    int8_t *q = malloc(nw + 1);
    float *s = malloc((nw / gs + 1) * sizeof(float));
    for (size_t i = 0; i < nw; i++) q[i] = (int8_t)(irand(256) - 128);
    for (size_t i = 0; i < nw / gs + 1; i++) s[i] = (frand() + 1.5f) * 0.01f;
    return (lm_q8){q, s, gs};
}

/* One product of shape (d, n) over T tokens, rows [r0, r1): the kernel on
 * panels against the oracle on the row-major matrix, bit for bit; rows
 * outside the range must stay untouched. gs 0 = fp32. */
static void check_product(const lm_kernels *k, int n, int d, int T, int gs, int r0, int r1) {
    float *x = falloc((size_t)T * n), *y = falloc((size_t)T * d), *ref = falloc((size_t)T * d);
    fill(x, (size_t)T * n, 2.0f);
    for (int i = 0; i < T * d; i++) y[i] = ref[i] = -12345.0f;
    lm_packed pk;
    void *mem;
    if (!gs) {
        float *w = falloc((size_t)d * n);
        fill(w, (size_t)d * n, 1.0f);
        mem = pack_f32(&pk, w, d, n);
        lm_matmul_f32_ref(ref, x, w, T, n, d, r0, r1);
        k->matmul_f32(y, x, &pk, T, r0, r1);
        ffree(w);
    } else {
        lm_q8 w = random_q8(d, n, gs);
        lm_q8_act a = make_act(x, T, n, gs);
        mem = pack_q8(&pk, &w, d, n);
        lm_matmul_q8_ref(ref, &a, &w, T, n, d, r0, r1);
        k->matmul_q8(y, &a, &pk, T, r0, r1);
        free((void *)w.q), free((void *)w.s), free(a.q), free(a.s);
    }
    same_bits(y, ref, (size_t)T * d, gs ? "matmul_q8" : "matmul_f32", n, d, T, gs, r0, r1);
    free(mem), ffree(x), ffree(y), ffree(ref);
}

/* A row range as a thread gets one: r0 at a multiple of 16, r1 anywhere. */
static void random_range(int d, int *r0, int *r1) {
    *r0 = d > LM_ROW_BLOCK ? irand(d / LM_ROW_BLOCK) * LM_ROW_BLOCK : 0;
    *r1 = *r0 + 1 + irand(d - *r0);
    if (irand(2)) *r1 = d;
}

static const int widths[] = {1, 2, 3, 4, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 172, 288};
#define N_WIDTHS (int)(sizeof widths / sizeof widths[0])

static void test_matmul_f32(const lm_kernels *k) {
    static const int ds[] = {1, 3, 8, 16, 17, 33, 50, 300};
    static const int Ts[] = {1, 2, 3, 4, 5, 6, 7, 12, 13, 37, 70};
    for (int a = 0; a < N_WIDTHS; a++)
        for (int b = 0; b < 8; b++)
            for (int c = 0; c < 11; c++) {
                int r0, r1;
                random_range(ds[b], &r0, &r1);
                check_product(k, widths[a], ds[b], Ts[c], 0, r0, r1);
            }
    /* every T from 1 to 70 on an odd shape */
    for (int T = 1; T <= 70; T++) check_product(k, 77, 45, T, 0, 0, 45);
}

static void test_matmul_q8(const lm_kernels *k) {
    static const int gss[] = {4, 8, 16, 32, 64, 128};
    static const int Ts[] = {1, 2, 3, 4, 5, 6, 7, 8, 13, 37};
    for (int g = 0; g < 6; g++)
        for (int m = 1; m <= 9; m += 4)
            for (int c = 0; c < 10; c++)
                for (int d = 1; d <= 50; d += 7) {
                    int r0, r1;
                    random_range(d, &r0, &r1);
                    check_product(k, gss[g] * m, d, Ts[c], gss[g], r0, r1);
                }
    for (int T = 1; T <= 70; T++) check_product(k, 96, 35, T, 32, 0, 35);
    /* stories260K's hidden 172 with gs 4 (panels), and shapes without
     * panels: weight groups straddle rows (w2 of stories42M: 1376 = 21.5 * 64)
     * or gs is not a multiple of 4. */
    check_product(k, 172, 64, 5, 4, 0, 64);
    check_product(k, 64, 172, 7, 4, 16, 172);
    check_product(k, 1376, 22, 3, 64, 0, 22); /* d * n is a multiple of gs, as in a file */
    check_product(k, 172, 8, 2, 32, 0, 8);
    check_product(k, 40, 4, 1, 32, 0, 4);
    check_product(k, 42, 19, 6, 2, 0, 19);
    check_product(k, 64 * 37, 33, 3, 64, 16, 33);
}

/* A row's bits do not depend on the call: rows computed in ranges split at
 * multiples of 16 (as threads do) equal one range, and the rows of one T = 37
 * call equal 37 calls of T = 1. */
static void check_invariance(const lm_kernels *k, int gs) {
    static const int shapes[][2] = {{64, 37},  {288, 70},  {172, 50},
                                    {128, 33}, {300, 290}, {96, 100}};
    enum { T = 37 };
    for (int s = 0; s < 6; s++) {
        int n = shapes[s][0], d = shapes[s][1];
        if (gs && n % gs) continue;
        float *x = falloc((size_t)T * n), *whole = falloc((size_t)T * d);
        float *parts = falloc((size_t)T * d), *one = falloc((size_t)T * d);
        fill(x, (size_t)T * n, 1.0f);
        lm_packed pk;
        void *mem;
        lm_q8 wq = {0};
        lm_q8_act a = {0};
        float *w = NULL;
        if (gs) {
            wq = random_q8(d, n, gs);
            a = make_act(x, T, n, gs);
            mem = pack_q8(&pk, &wq, d, n);
        } else {
            w = falloc((size_t)d * n);
            fill(w, (size_t)d * n, 1.0f);
            mem = pack_f32(&pk, w, d, n);
        }
#define PRODUCT(out, TT, x_off, r0, r1)                                                            \
    do {                                                                                           \
        if (gs) {                                                                                  \
            lm_q8_act at = {a.q + (size_t)(x_off)*n, a.s + (size_t)(x_off)*lm_q8_groups(n, gs),    \
                            gs};                                                                   \
            k->matmul_q8((out), &at, &pk, (TT), (r0), (r1));                                       \
        } else {                                                                                   \
            k->matmul_f32((out), x + (size_t)(x_off)*n, &pk, (TT), (r0), (r1));                    \
        }                                                                                          \
    } while (0)
        PRODUCT(whole, T, 0, 0, d);
        for (int cut = LM_ROW_BLOCK; cut < d; cut += LM_ROW_BLOCK) {
            PRODUCT(parts, T, 0, 0, cut);
            PRODUCT(parts, T, 0, cut, d);
            CHECK(memcmp(whole, parts, (size_t)T * d * sizeof(float)) == 0,
                  "%s n %d d %d: rows split at %d differ from one range",
                  gs ? "matmul_q8" : "matmul_f32", n, d, cut);
        }
        for (int t = 0; t < T; t++) PRODUCT(one + (size_t)t * d, 1, t, 0, d);
#undef PRODUCT
        CHECK(memcmp(whole, one, (size_t)T * d * sizeof(float)) == 0,
              "%s n %d d %d: a T = %d call differs from %d calls of T = 1",
              gs ? "matmul_q8" : "matmul_f32", n, d, T, T);
        free(mem), ffree(x), ffree(whole), ffree(parts), ffree(one);
        if (w) ffree(w);
        free((void *)wq.q), free((void *)wq.s), free(a.q), free(a.s);
    }
}

/* ---- F16 / BF16 products --------------------------------------------------- */

/* Random 16-bit weights: finite values of moderate size (exponents that keep
 * sums far from overflow), or with `special` also subnormals, zeros of both
 * signs, the largest finite halves and (special 2) infinities and NaNs. */
static uint16_t random_16(int bf16, int special) {
    uint16_t sign = (uint16_t)(irand(2) << 15);
    if (bf16) {
        int e = special && irand(4) == 0 ? (irand(2) ? 0 : 1 + irand(254)) : 110 + irand(22);
        if (special == 2 && irand(16) == 0) e = 255;
        return (uint16_t)(sign | e << 7 | irand(128));
    }
    int e = special && irand(4) == 0 ? (irand(2) ? 0 : 1 + irand(30)) : 5 + irand(16);
    if (special == 2 && irand(16) == 0) e = 31;
    return (uint16_t)(sign | e << 10 | irand(1024));
}

static float widen(uint16_t v, int bf16) { return bf16 ? lm_bf16_to_f32(v) : lm_f16_to_f32(v); }

/* Whether a and b agree: the same bits, or (with NaN weights) both NaN. */
static int agree(float a, float b, int nan_ok) {
    if (nan_ok && isnan(a) && isnan(b)) return 1;
    return memcmp(&a, &b, sizeof a) == 0;
}

static void *pack_16(lm_packed *pk, const void *w, int d, int n, int bf16) {
    lm_wtype type = bf16 ? LM_WT_BF16 : LM_WT_F16;
    size_t bytes = lm_pack_bytes_type(type, d, n, 0);
    CHECK(bytes % 64 == 0 && bytes >= (size_t)(d + 15) / 16 * 16 * (size_t)n * 2,
          "lm_pack_bytes_type(%d, %d, %d) = %zu", (int)type, d, n, bytes);
    void *mem = aligned_alloc(64, bytes);
    /* in two parts, as a loader packs a large matrix slice by slice */
    int panels = (d + LM_PANEL - 1) / LM_PANEL, cut = panels / 2;
    if (bf16) {
        lm_pack_bf16_part(pk, mem, w, d, n, 0, cut);
        lm_pack_bf16_part(pk, mem, w, d, n, cut, panels);
    } else {
        lm_pack_f16_part(pk, mem, w, d, n, 0, cut);
        lm_pack_f16_part(pk, mem, w, d, n, cut, panels);
    }
    CHECK(pk->type == type && pk->h == mem && !pk->f32 && pk->rows == d && pk->cols == n,
          "lm_pack_%s_part describes the matrix wrongly", bf16 ? "bf16" : "f16");
    return mem;
}

/* One product of shape (d, n) over T tokens, rows [r0, r1), on 16-bit
 * weights read from an odd address: the kernel against the f32 oracle and
 * against this table's matmul_f32, both on the widened matrix. */
static void check_product16(const lm_kernels *k, int n, int d, int T, int bf16, int special, int r0,
                            int r1) {
    const char *what = bf16 ? "matmul_bf16" : "matmul_f16";
    size_t nw = (size_t)d * n;
    unsigned char *raw = malloc(nw * 2 + 1), *w16 = raw + 1;
    float *wf = falloc(nw), *x = falloc((size_t)T * n);
    float *y = falloc((size_t)T * d), *y32 = falloc((size_t)T * d), *ref = falloc((size_t)T * d);
    for (size_t i = 0; i < nw; i++) {
        uint16_t v = random_16(bf16, special);
        memcpy(w16 + 2 * i, &v, 2);
        wf[i] = widen(v, bf16);
    }
    fill(x, (size_t)T * n, special ? 0.25f : 2.0f);
    for (int i = 0; i < T * d; i++) y[i] = y32[i] = ref[i] = -12345.0f;
    lm_packed pk, pk32;
    void *mem = pack_16(&pk, w16, d, n, bf16), *mem32 = pack_f32(&pk32, wf, d, n);
    lm_matmul_f32_ref(ref, x, wf, T, n, d, r0, r1);
    k->matmul_f32(y32, x, &pk32, T, r0, r1);
    (bf16 ? k->matmul_bf16 : k->matmul_f16)(y, x, &pk, T, r0, r1);
    int nan_ok = special == 2;
    for (size_t i = 0; i < (size_t)T * d; i++)
        if (!agree(y[i], ref[i], nan_ok) || !agree(y[i], y32[i], nan_ok)) {
            CHECK(0,
                  "%s n %d d %d T %d special %d rows [%d,%d): element %zu (t %zu, row %zu) got "
                  "%a, oracle %a, matmul_f32 %a",
                  what, n, d, T, special, r0, r1, i, i / (size_t)d, i % (size_t)d, y[i], ref[i],
                  y32[i]);
            break;
        }
    /* lm_packed_row widens as the products do */
    float *row = falloc(n);
    for (int r = 0; r < d; r += 1 + d / 3) {
        lm_packed_row(&pk, r, row);
        CHECK(memcmp(row, wf + (size_t)r * n, (size_t)n * sizeof(float)) == 0 || nan_ok,
              "lm_packed_row %s n %d d %d row %d", what, n, d, r);
    }
    ffree(row), free(raw), ffree(wf), ffree(x), ffree(y), ffree(y32), ffree(ref);
    free(mem), free(mem32);
}

static void test_matmul_16(const lm_kernels *k, int bf16) {
    static const int ds[] = {1, 3, 16, 17, 33, 50, 300};
    static const int Ts[] = {1, 2, 3, 4, 5, 6, 7, 12, 13, 37};
    for (int a = 0; a < N_WIDTHS; a++)
        for (int b = 0; b < 7; b++)
            for (int c = 0; c < 10; c++) {
                int r0, r1;
                random_range(ds[b], &r0, &r1);
                check_product16(k, widths[a], ds[b], Ts[c], bf16, c % 3 == 1, r0, r1);
            }
    /* every T from 1 to 70 on an odd shape; large k runs (the AVX-512
     * prefill's k blocks of 128) with tails */
    for (int T = 1; T <= 70; T++) check_product16(k, 77, 45, T, bf16, T % 2, 0, 45);
    for (int T = 1; T <= 13; T += 4) check_product16(k, 300, 70, T, bf16, 1, 16, 70);
    check_product16(k, 1000, 129, 64, bf16, 1, 0, 129);
    check_product16(k, 257, 200, 70, bf16, 0, 32, 200);
    /* infinities and NaNs: NaN where the oracle has one, else its bits */
    for (int T = 1; T <= 8; T++) check_product16(k, 33, 35, T, bf16, 2, 0, 35);
}

/* Every one of the 65536 values through the kernel: y[i] = fma(w[i], 1, 0)
 * with one column, is the widened value (bar -0, which the add makes +0, as
 * in the oracle); at T = 1 and T = 7, so decode and prefill paths widen. */
static void test_all_values_16(const lm_kernels *k, int bf16) {
    enum { D = 65536 };
    uint16_t *w = malloc(D * sizeof *w);
    float *wf = falloc(D), *x = falloc(7), *y = falloc((size_t)7 * D), *ref = falloc((size_t)7 * D);
    for (int i = 0; i < D; i++) w[i] = (uint16_t)i, wf[i] = widen((uint16_t)i, bf16);
    for (int t = 0; t < 7; t++) x[t] = t == 3 ? -0.5f : 1.0f;
    lm_packed pk;
    void *mem = pack_16(&pk, w, D, 1, bf16);
    for (int T = 1; T <= 7; T += 6) {
        lm_matmul_f32_ref(ref, x, wf, T, 1, D, 0, D);
        (bf16 ? k->matmul_bf16 : k->matmul_f16)(y, x, &pk, T, 0, D);
        for (int i = 0; i < T * D; i++)
            if (!agree(y[i], ref[i], 1)) {
                CHECK(0, "%s of every value: T %d value %#x got %a want %a",
                      bf16 ? "matmul_bf16" : "matmul_f16", T, i % D, y[i], ref[i]);
                break;
            }
    }
    free(w), ffree(wf), ffree(x), ffree(y), ffree(ref), free(mem);
}

/* The plain-C widening (the oracle's) against the definition of binary16 on
 * every half: (-1)^s 2^(e-15) (1 + m/1024), subnormals 2^-14 m/1024, and
 * infinities and quiet NaNs with the payload moved to fp32's high bits. */
static void test_widen_16(void) {
    for (uint32_t h = 0; h < 65536; h++) {
        int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
        float want;
        if (e == 31 && m)
            want = lm_bits_f32((uint32_t)s << 31 | 0x7fc00000u | (uint32_t)m << 13);
        else if (e == 31)
            want = s ? -INFINITY : INFINITY;
        else
            want = (s ? -1.0f : 1.0f) * ldexpf((float)(e ? 1024 + m : m), (e ? e : 1) - 25);
        float got = lm_f16_to_f32((uint16_t)h), bf = lm_bf16_to_f32((uint16_t)h);
        uint32_t bb;
        memcpy(&bb, &bf, 4);
        CHECK(memcmp(&got, &want, 4) == 0, "lm_f16_to_f32(%#x) = %a, want %a", h, got, want);
        CHECK(bb == h << 16, "lm_bf16_to_f32(%#x) has bits %#x", h, bb);
    }
}

/* A row's bits do not depend on the call (16-bit weights): rows split at
 * multiples of 16 equal one range; one T = 37 call equals 37 of T = 1. */
static void check_invariance_16(const lm_kernels *k, int bf16) {
    static const int shapes[][2] = {{64, 37}, {288, 70}, {172, 50}, {300, 290}, {96, 100}};
    enum { T = 37 };
    void (*mm)(float *, const float *, const lm_packed *, int, int, int) =
        bf16 ? k->matmul_bf16 : k->matmul_f16;
    for (int s = 0; s < 5; s++) {
        int n = shapes[s][0], d = shapes[s][1];
        uint16_t *w = malloc((size_t)d * n * sizeof *w);
        for (size_t i = 0; i < (size_t)d * n; i++) w[i] = random_16(bf16, 1);
        float *x = falloc((size_t)T * n), *whole = falloc((size_t)T * d);
        float *parts = falloc((size_t)T * d), *one = falloc((size_t)T * d);
        fill(x, (size_t)T * n, 1.0f);
        lm_packed pk;
        void *mem = pack_16(&pk, w, d, n, bf16);
        mm(whole, x, &pk, T, 0, d);
        for (int cut = LM_ROW_BLOCK; cut < d; cut += LM_ROW_BLOCK) {
            mm(parts, x, &pk, T, 0, cut);
            mm(parts, x, &pk, T, cut, d);
            CHECK(memcmp(whole, parts, (size_t)T * d * sizeof(float)) == 0,
                  "%s n %d d %d: rows split at %d differ from one range",
                  bf16 ? "matmul_bf16" : "matmul_f16", n, d, cut);
        }
        for (int t = 0; t < T; t++) mm(one + (size_t)t * d, x + (size_t)t * n, &pk, 1, 0, d);
        CHECK(memcmp(whole, one, (size_t)T * d * sizeof(float)) == 0,
              "%s n %d d %d: a T = %d call differs from %d calls of T = 1",
              bf16 ? "matmul_bf16" : "matmul_f16", n, d, T, T);
        free(w), free(mem), ffree(x), ffree(whole), ffree(parts), ffree(one);
    }
}

/* The non-matmul ops are compared over these sizes: every n from 1 to 70
 * (every tail of every vector width, T = 1..70 of per-token work), then the
 * model shapes and their odd neighbours (hidden_dim 172, w2 of stories42M). */
static const int more_sizes[] = {127, 128, 129, 172, 255, 256, 257, 288, 352, 768, 1376};
#define N_SIZES (70 + (int)(sizeof more_sizes / sizeof more_sizes[0]))
static int size_at(int i) { return i < 70 ? i + 1 : more_sizes[i - 70]; }

/* The same bits (kernels/ORDER.md: no tolerance for any non-matmul op). */
static void check_bits(const float *got, const float *want, int n, const char *what, int a, int b) {
    int i = 0;
    while (i < n && memcmp(&got[i], &want[i], sizeof(float)) == 0) i++;
    CHECK(i == n, "%s (%d, %d) element %d: got %a want %a", what, a, b, i, i < n ? got[i] : 0.0f,
          i < n ? want[i] : 0.0f);
}

static void test_quantize_q8(const lm_kernels *k) {
    static const int gss[] = {4, 8, 16, 32, 64, 128};
    for (int g = 0; g < 6; g++)
        for (int a = 0; a < N_SIZES; a++) {
            /* unaligned: offsets of 1..4 floats and 1..4 bytes */
            int gs = gss[g], n = size_at(a), off = a % 4;
            int groups = lm_q8_groups(n, gs);
            float *xb = falloc(n + 3), *x = xb + off, *s = falloc(groups), *sref = falloc(groups);
            int8_t *q = malloc(n + 4), *qref = malloc(n + 4);
            fill(x, n, 4.0f);
            /* Exact ties: in the first group max |x| is 127, so the scale is 1
             * and x.5 must round away from zero; the second group is all zero. */
            if (n >= gs) {
                x[0] = 127.0f;
                for (int i = 1; i < gs; i++) x[i] = (float)(i % 7) - 3.5f;
            }
            if (n >= 2 * gs)
                for (int i = gs; i < 2 * gs; i++) x[i] = 0.0f;
            lm_quantize_q8_scalar(qref + 1, sref, x, n, gs);
            k->quantize_q8(q + 1 + off, s, x, n, gs);
            CHECK(memcmp(q + 1 + off, qref + 1, n) == 0, "n %d gs %d: quantized values differ", n,
                  gs);
            check_bits(s, sref, groups, "quantize_q8 scales (n, gs)", n, gs);
            ffree(xb), ffree(s), ffree(sref), free(q), free(qref);
        }
}

static void test_elementwise(const lm_kernels *k) {
    for (int a = 0; a < N_SIZES; a++) {
        int n = size_at(a), off = a % 4;
        float *xb = falloc(n + 3), *x = xb + off, *w = falloc(n), *o = falloc(n);
        float *ref = falloc(n), *b = falloc(n);
        fill(x, n, 3.0f), fill(w, n, 1.0f), fill(b, n, 2.0f);

        /* llama2.c's epsilon, then others as GGUF files carry them */
        static const float eps[] = {1e-5f, 1e-6f, 1e-2f};
        for (int e = 0; e < 3; e++) {
            lm_rmsnorm_f32_scalar(ref, x, w, n, eps[e]);
            k->rmsnorm(o, x, w, n, eps[e]);
            check_bits(o, ref, n, "rmsnorm (n, eps index)", n, e);
            memcpy(o, x, n * sizeof(float));
            k->rmsnorm(o, o, w, n, eps[e]); /* in place, as forward.c may call it */
            check_bits(o, ref, n, "rmsnorm in place (n, eps index)", n, e);
        }
        if (n == 64) { /* the epsilon is used: a large one changes the result */
            float o2[64];
            k->rmsnorm(o2, x, w, n, 1.0f);
            lm_rmsnorm_f32_scalar(ref, x, w, n, 1e-5f);
            CHECK(memcmp(o2, ref, sizeof o2) != 0, "rmsnorm ignores its epsilon");
        }

        /* softmax over a wide range, including large logits, then with ties
         * for the max and attention-like scores */
        for (int pass = 0; pass < 2; pass++) {
            fill(ref, n, pass ? 4.0f : 30.0f);
            if (pass)
                for (int i = 0; i < n; i += 3) ref[i] = 4.0f;
            memcpy(x, ref, n * sizeof(float));
            lm_softmax_f32_scalar(ref, n);
            k->softmax(x, n);
            check_bits(x, ref, n, "softmax (n, pass)", n, pass);
        }

        fill(ref, n, 12.0f);
        memcpy(x, ref, n * sizeof(float));
        lm_swiglu_f32_scalar(ref, b, n);
        k->swiglu(x, b, n);
        check_bits(x, ref, n, "swiglu (n, offset)", n, off);
        ffree(xb), ffree(w), ffree(o), ffree(ref), ffree(b);
    }
}

/* swiglu over every 4099th float bit pattern (about a million, both signs,
 * subnormals, the exp overflow and underflow edges, inf and NaN): its exp
 * must be libm's everywhere, not only on the random data above. */
static void test_swiglu_sweep(const lm_kernels *k) {
    enum { STEP = 4099, N = 4096 };
    float *a = falloc(N), *ref = falloc(N), *b = falloc(N);
    for (int i = 0; i < N; i++) b[i] = 1.5f;
    for (uint64_t bits = 0; bits < (1ull << 32);) {
        int n = 0;
        for (; n < N && bits < (1ull << 32); n++, bits += STEP) {
            uint32_t u = (uint32_t)bits;
            memcpy(&ref[n], &u, sizeof u);
        }
        memcpy(a, ref, (size_t)n * sizeof(float));
        lm_swiglu_f32_scalar(ref, b, n);
        k->swiglu(a, b, n);
        for (int i = 0; i < n; i++)
            CHECK(isnan(a[i]) ? isnan(ref[i]) : memcmp(&a[i], &ref[i], sizeof(float)) == 0,
                  "swiglu sweep: got %a want %a", a[i], ref[i]);
    }
    ffree(a), ffree(ref), ffree(b);
}

/* Llama 3.1's factor for pair i / 2 (kernels/ORDER.md "RoPE": rope_freqs.weight,
 * from factor 8, low 1, high 4, an original context of 8192), as llama.cpp's
 * converter computes them. */
static float llama3_factor(int i, int hs, float theta) {
    double freq = 1.0 / pow(theta, (double)i / hs), wavelen = 6.283185307179586 / freq;
    if (wavelen < 8192.0 / 4.0) return 1.0f;
    if (wavelen > 8192.0) return 8.0f;
    double smooth = (8192.0 / wavelen - 1.0) / 3.0;
    return (float)(1.0 / ((1.0 - smooth) / 8.0 + smooth));
}

static void test_rope(const lm_kernels *k) {
    /* every even head_size to 70 (head_size 8 of the tiny models, tails of
     * every vector width), then model sizes (64, 128 of Llama 3); 1 to 7
     * heads (n_kv_heads < n_heads) */
    for (int hs = 2; hs <= 130; hs += hs < 70 ? 2 : hs < 128 ? 128 - hs : 2)
        for (int nh = 1; nh <= 7; nh += 2) {
            int n = hs * nh, off = (hs / 2 + nh) % 4, scaled = (hs + nh) % 4 == 0;
            float *vb = falloc(n + 3), *v = vb + off, *ref = falloc(n), *cs = falloc(hs);
            fill(v, n, 2.0f);
            memcpy(ref, v, n * sizeof(float));
            /* angles as forward.c makes them from the model's frequency table
             * (with Llama 3's scaling at Llama 3's positions to 128k, or not) */
            float theta = scaled ? 500000.0f : 10000.0f;
            int pos = irand(scaled ? 131072 : 4096);
            for (int i = 0; i < hs; i += 2) {
                float freq = 1.0f / powf(theta, (float)i / (float)hs);
                if (scaled) freq = freq / llama3_factor(i, hs, theta);
                float angle = (float)pos * freq;
                cs[i] = cosf(angle), cs[i + 1] = sinf(angle);
            }
            lm_rope_f32_scalar(ref, n, hs, cs);
            k->rope(v, n, hs, cs);
            check_bits(v, ref, n, "rope (head_size, heads)", hs, nh);
            ffree(vb), ffree(ref), ffree(cs);
        }
}

static void attention_case(const lm_kernels *k, int hs, int np, int stride) {
    float *q = falloc(hs), *kc = falloc((size_t)np * stride), *vc = falloc((size_t)np * stride);
    float *out = falloc(hs), *ref = falloc(hs), *att = falloc(np), *att2 = falloc(np);
    fill(q, hs, 1.0f);
    fill(kc, (size_t)np * stride, 1.0f);
    fill(vc, (size_t)np * stride, 1.0f);
    lm_attention_f32_scalar(ref, q, kc, vc, att, np, hs, stride);
    k->attention(out, q, kc, vc, att2, np, hs, stride);
    check_bits(att2, att, np, "attention weights (head_size, positions)", hs, np);
    check_bits(out, ref, hs, "attention output (head_size, positions)", hs, np);
    ffree(q), ffree(kc), ffree(vc), ffree(out), ffree(ref), ffree(att), ffree(att2);
}

static void test_attention(const lm_kernels *k) {
    static const int heads[] = {2, 4, 6, 8, 10, 12, 16, 18, 24, 32, 48, 64, 72, 128};
    for (int h = 0; h < 14; h++) {
        /* positions 1..70: T = 1..70 of a prompt's first block; strides of a
         * KV cache row with more heads (odd, so unaligned) and of one head */
        for (int np = 1; np <= 70; np++) attention_case(k, heads[h], np, heads[h] * 3 + 1);
        attention_case(k, heads[h], 100, heads[h]);
        attention_case(k, heads[h], 257, heads[h] * 2 + 1);
    }
}

/* The F16 KV cache's rounding: every half's value maps back to that half;
 * a value between two neighbouring finite halves rounds to the nearer one,
 * a tie to the one with an even last bit; past 65520 (the tie above the
 * largest half) to infinity; NaN stays NaN. Checked at each half's value,
 * the midpoint to the next half (exact in fp32) and one fp32 ulp either side. */
static void test_round_f16(void) {
    for (uint32_t h = 0; h < 0x10000u; h++) {
        uint16_t x = (uint16_t)h;
        float v = lm_f16_to_f32(x);
        if (isnan(v)) {
            CHECK(isnan(lm_f16_to_f32(lm_f32_to_f16(v))), "lm_f32_to_f16(NaN %#x) not NaN", h);
            continue;
        }
        CHECK(lm_f32_to_f16(v) == x, "lm_f32_to_f16(%a) = %#x, want %#x", v, lm_f32_to_f16(v), h);
        if ((x & 0x7fffu) >= 0x7c00u) continue; /* infinities */
        uint16_t next = (uint16_t)(x + 1);      /* the neighbour away from zero */
        float w = (x & 0x7fffu) == 0x7bffu ? copysignf(65536.0f, v) : lm_f16_to_f32(next);
        float mid = v + (w - v) * 0.5f; /* exact: both have at most 11 significant bits */
        uint16_t even = (x & 1u) ? next : x;
        CHECK(lm_f32_to_f16(mid) == even, "lm_f32_to_f16(tie %a) = %#x, want %#x", mid,
              lm_f32_to_f16(mid), even);
        CHECK(lm_f32_to_f16(nextafterf(mid, 0.0f)) == x, "lm_f32_to_f16(below %a) = %#x, want %#x",
              mid, lm_f32_to_f16(nextafterf(mid, 0.0f)), h);
        uint16_t up = (x & 0x7fffu) == 0x7bffu ? (uint16_t)((x & 0x8000u) | 0x7c00u) : next;
        CHECK(lm_f32_to_f16(nextafterf(mid, 2.0f * w)) == up,
              "lm_f32_to_f16(above %a) = %#x, want %#x", mid,
              lm_f32_to_f16(nextafterf(mid, 2.0f * w)), up);
    }
    CHECK(lm_f32_to_f16(1e30f) == 0x7c00u && lm_f32_to_f16(-1e-30f) == 0x8000u,
          "lm_f32_to_f16: overflow or underflow wrong");
}

/* Attention over an F16 cache: the oracle's bits, and those of the f32
 * attention on the widened cache (the order ORDER.md writes down). The 16-bit
 * buffers start one element off, so nothing may assume alignment. */
static void attention_f16_case(const lm_kernels *k, int hs, int np, int stride) {
    size_t n = (size_t)np * stride;
    uint16_t *kh = (uint16_t *)malloc((2 * n + 2) * sizeof(uint16_t)) + 1, *vh = kh + n;
    float *q = falloc(hs), *kw = falloc(n), *vw = falloc(n), *out = falloc(hs), *ref = falloc(hs);
    float *f32 = falloc(hs), *att = falloc(np), *att2 = falloc(np), *att3 = falloc(np);
    fill(q, hs, 1.0f);
    for (size_t i = 0; i < n; i++) {
        kh[i] = lm_f32_to_f16(frand() * 4.0f);
        vh[i] = lm_f32_to_f16(frand() * 4.0f);
        kw[i] = lm_f16_to_f32(kh[i]);
        vw[i] = lm_f16_to_f32(vh[i]);
    }
    lm_attention_f16_scalar(ref, q, kh, vh, att, np, hs, stride);
    lm_attention_f32_scalar(f32, q, kw, vw, att3, np, hs, stride);
    k->attention_f16(out, q, kh, vh, att2, np, hs, stride);
    check_bits(att2, att, np, "attention_f16 weights (head_size, positions)", hs, np);
    check_bits(out, ref, hs, "attention_f16 output (head_size, positions)", hs, np);
    check_bits(ref, f32, hs, "attention_f16 oracle vs f32 on widened (head_size, positions)", hs,
               np);
    free(kh - 1);
    ffree(q), ffree(kw), ffree(vw), ffree(out), ffree(ref), ffree(f32), ffree(att), ffree(att2);
    ffree(att3);
}

static void test_attention_f16(const lm_kernels *k) {
    static const int heads[] = {2, 3, 4, 6, 8, 10, 12, 16, 18, 24, 32, 48, 64, 72, 128};
    for (int h = 0; h < 15; h++) {
        for (int np = 1; np <= 70; np++) attention_f16_case(k, heads[h], np, heads[h] * 3 + 1);
        attention_f16_case(k, heads[h], 100, heads[h]);
        attention_f16_case(k, heads[h], 257, heads[h] * 2 + 1);
    }
}

int main(int argc, char **argv) {
    int rc;
    const lm_kernels *k = check_kernels_arg(argc, argv, "test_kernels", &rc);
    if (!k) return rc;
    test_quantize_q8(k);
    test_matmul_f32(k);
    test_matmul_q8(k);
    check_invariance(k, 0);
    check_invariance(k, 4);
    check_invariance(k, 32);
    test_widen_16();
    for (int bf16 = 0; bf16 < 2; bf16++) {
        test_matmul_16(k, bf16);
        test_all_values_16(k, bf16);
        check_invariance_16(k, bf16);
    }
    test_elementwise(k);
    test_swiglu_sweep(k);
    test_rope(k);
    test_attention(k);
    test_round_f16();
    test_attention_f16(k);
    return check_exit(argv[1]);
}
