/* Every kernel of one ISA's table against the scalar oracle, on random data
 * over edge shapes (tails below, at and above each vector width), unaligned
 * pointers and partial row ranges. Usage: test_kernels ISA.
 * Exit 77 (skipped) when this CPU lacks a feature the ISA needs.
 *
 * Tolerances, per kernel:
 * - quantize_q8: bit-exact values and scales (the integer products rely on it).
 * - Bit-exact too where a kernel keeps the oracle's order of operations (see
 *   exact()): Q8_0 models re-quantize every activation, so a last-bit
 *   difference can change greedy text against runq.c's.
 * - matmul_q8 otherwise: integer group sums are exact, so only the fp32
 *   scaling and the order of accumulating groups may differ: 1e-5 of the sum
 *   of |group terms|.
 * - matmul_f32, attention otherwise: sums are reordered; the error bound grows
 *   with the reduction: 1e-5 of sum |a_i b_i| (plus 1e-6).
 * - Every op but the products (quantize_q8, rmsnorm, softmax, swiglu, rope,
 *   attention), on every ISA: the oracle's bits, no tolerance. kernels/ORDER.md
 *   writes down the order of operations each must keep; their vector expf is
 *   libm's bit for bit (kernels/exp_table.h), swept over the float range. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "dispatch.h"
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

static int close_enough(float got, float want, float bound) {
    return fabsf(got - want) <= bound && !isnan(got);
}

/* Whether the table's kernel keeps the oracle's order of operations: softmax
 * and swiglu everywhere, rmsnorm and attention on x86, matmul_q8 on AVX-512
 * (and the oracle itself). */
static int exact(const lm_kernels *k, const char *kernel) {
    if (strcmp(k->isa, "scalar") == 0) return 1;
    if (strcmp(kernel, "softmax") == 0 || strcmp(kernel, "swiglu") == 0) return 1;
    if (strcmp(kernel, "matmul_q8") == 0) return strncmp(k->isa, "avx512", 6) == 0;
    return strncmp(k->isa, "avx", 3) == 0;
}

/* The same bits where the kernel is exact, else within bound. */
static int matches(float got, float want, float bound, int bits) {
    return bits ? memcmp(&got, &want, sizeof got) == 0 : close_enough(got, want, bound);
}

/* Quantize T random rows with the scalar oracle, as forward.c would. */
static lm_q8_act make_act(const float *x, int T, int n, int gs) {
    int groups = lm_q8_groups(n, gs);
    lm_q8_act a = {malloc((size_t)T * n), malloc((size_t)T * groups * sizeof(float)), gs};
    for (int t = 0; t < T; t++)
        lm_quantize_q8_scalar(a.q + t * n, a.s + t * groups, x + t * n, n, gs);
    return a;
}

static const int widths[] = {1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 172, 288, 352};
#define N_WIDTHS (int)(sizeof widths / sizeof widths[0])

static void test_matmul_f32(const lm_kernels *k) {
    /* d 300 and T from 32 on: several row panels of the AVX-512 GEMM. */
    static const int ds[] = {1, 3, 8, 17, 33, 300};
    static const int Ts[] = {1, 2, 3, 4, 5, 8, 13, 16, 17, 32, 33, 64, 70};
    for (int a = 0; a < N_WIDTHS; a++)
        for (int b = 0; b < 6; b++)
            for (int c = 0; c < 13; c++) {
                int n = widths[a], d = ds[b], T = Ts[c];
                int r0 = d > 2 ? irand(d / 2) : 0, r1 = d - (d > 2 ? irand(d / 2) : 0);
                float *w = falloc((size_t)d * n), *x = falloc((size_t)T * n);
                float *y = falloc((size_t)T * d), *ref = falloc((size_t)T * d);
                fill(w, (size_t)d * n, 1.0f);
                fill(x, (size_t)T * n, 2.0f);
                for (int i = 0; i < T * d; i++) y[i] = ref[i] = -12345.0f;
                lm_matmul_f32_scalar(ref, x, w, T, n, d, r0, r1);
                k->matmul_f32(y, x, w, T, n, d, r0, r1);
                for (int t = 0; t < T; t++)
                    for (int i = 0; i < d; i++) {
                        float mag = 0;
                        for (int j = 0; j < n; j++) mag += fabsf(w[i * n + j] * x[t * n + j]);
                        float want = ref[t * d + i], got = y[t * d + i];
                        CHECK(close_enough(got, want, 1e-5f * mag + 1e-6f),
                              "n %d d %d T %d rows [%d,%d) t %d i %d: got %g want %g", n, d, T, r0,
                              r1, t, i, got, want);
                    }
                ffree(w), ffree(x), ffree(y), ffree(ref);
            }
}

/* Rows computed in split ranges (as threads do) equal rows computed in one
 * range, bit for bit: the forward pass's output must not depend on threads. */
static void check_split_invariance(const lm_kernels *k, int quantized) {
    static const int shapes[][3] = {{64, 37, 1},  {288, 70, 3},   {172, 50, 2},
                                    {128, 33, 5}, {300, 290, 40}, {33, 100, 64}};
    for (int s = 0; s < 6; s++) {
        int n = shapes[s][0], d = shapes[s][1], T = shapes[s][2], gs = 32;
        float *w = falloc((size_t)d * n), *x = falloc((size_t)T * n);
        float *whole = falloc((size_t)T * d), *parts = falloc((size_t)T * d);
        fill(w, (size_t)d * n, 1.0f), fill(x, (size_t)T * n, 1.0f);
        int8_t *wq = malloc((size_t)d * n);
        float *ws = malloc((size_t)d * n / gs * sizeof(float) + sizeof(float));
        for (int i = 0; i < d * n; i++) wq[i] = (int8_t)(irand(255) - 127);
        for (int i = 0; i < d * n / gs; i++) ws[i] = 0.01f + 0.001f * (float)(i % 7);
        lm_q8 wm = {wq, ws, gs};
        lm_q8_act a = make_act(x, T, n, gs);
        for (int cut = LM_ROW_BLOCK; cut < d; cut += LM_ROW_BLOCK) {
            if (quantized) {
                k->matmul_q8(whole, &a, &wm, T, n, d, 0, d);
                k->matmul_q8(parts, &a, &wm, T, n, d, 0, cut);
                k->matmul_q8(parts, &a, &wm, T, n, d, cut, d);
            } else {
                k->matmul_f32(whole, x, w, T, n, d, 0, d);
                k->matmul_f32(parts, x, w, T, n, d, 0, cut);
                k->matmul_f32(parts, x, w, T, n, d, cut, d);
            }
            CHECK(memcmp(whole, parts, (size_t)T * d * sizeof(float)) == 0,
                  "%s n %d d %d T %d: rows split at %d differ from one range",
                  quantized ? "matmul_q8" : "matmul_f32", n, d, T, cut);
        }
        ffree(w), ffree(x), ffree(whole), ffree(parts), free(wq), free(ws), free(a.q), free(a.s);
    }
}

static void test_matmul_q8_case(const lm_kernels *k, int n, int d, int T, int gs) {
    size_t nw = (size_t)d * n;
    int8_t *wq = malloc(nw + 1);
    float *ws = malloc((nw / gs + 1) * sizeof(float));
    for (size_t i = 0; i < nw; i++) wq[i] = (int8_t)(irand(255) - 127);
    for (size_t i = 0; i < nw / gs + 1; i++) ws[i] = (frand() + 1.5f) * 0.01f;
    lm_q8 w = {wq, ws, gs};
    float *x = falloc((size_t)T * n), *y = falloc((size_t)T * d), *ref = falloc((size_t)T * d);
    fill(x, (size_t)T * n, 3.0f);
    lm_q8_act a = make_act(x, T, n, gs);
    int r0 = d > 2 ? irand(d / 2) : 0, r1 = d;
    for (int i = 0; i < T * d; i++) y[i] = ref[i] = -12345.0f;
    lm_matmul_q8_scalar(ref, &a, &w, T, n, d, r0, r1);
    k->matmul_q8(y, &a, &w, T, n, d, r0, r1);
    int groups = lm_q8_groups(n, gs);
    for (int t = 0; t < T; t++)
        for (int i = 0; i < d; i++) {
            /* Bound from the terms' magnitudes: sum |q_w q_x| s_w s_x. */
            float mag = 0;
            for (int j = 0; j < n; j++) {
                size_t e = (size_t)i * n + j;
                mag += fabsf((float)wq[e] * a.q[t * n + j]) * ws[e / gs] * a.s[t * groups + j / gs];
            }
            float want = ref[t * d + i], got = y[t * d + i];
            CHECK(matches(got, want, 1e-5f * mag + 1e-6f, exact(k, "matmul_q8")),
                  "n %d d %d T %d gs %d rows [%d,%d) t %d i %d: got %g want %g", n, d, T, gs, r0,
                  r1, t, i, got, want);
        }
    free(wq), free(ws), free(a.q), free(a.s), ffree(x), ffree(y), ffree(ref);
}

static void test_matmul_q8(const lm_kernels *k) {
    static const int gss[] = {32, 64, 16, 8, 4, 128};
    static const int Ts[] = {1, 2, 3, 4, 5, 8};
    for (int g = 0; g < 6; g++)
        for (int m = 1; m <= 12; m += (m < 4 ? 1 : 4))
            for (int c = 0; c < 6; c++)
                for (int d = 1; d <= 19; d += 6)
                    test_matmul_q8_case(k, gss[g] * m, d, Ts[c], gss[g]);
    /* Rows of more than 16 groups, whose partial sums the AVX-512 kernels
     * carry from one block of 16 groups to the next (the last one partial). */
    for (int g = 0; g < 6; g++) test_matmul_q8_case(k, gss[g] * 37, 21, 3, gss[g]);
    /* Rows that do not hold whole groups: w2 of stories42M (1376 = 21.5 * 64),
     * and shorter odd widths, so weight groups straddle rows. */
    test_matmul_q8_case(k, 1376, 7, 3, 64);
    test_matmul_q8_case(k, 172, 9, 2, 32);
    test_matmul_q8_case(k, 40, 5, 1, 32);
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

        lm_rmsnorm_f32_scalar(ref, x, w, n);
        k->rmsnorm(o, x, w, n);
        check_bits(o, ref, n, "rmsnorm (n, offset)", n, off);
        memcpy(o, x, n * sizeof(float));
        k->rmsnorm(o, o, w, n); /* in place, as forward.c may call it */
        check_bits(o, ref, n, "rmsnorm in place (n, offset)", n, off);

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

static void test_rope(const lm_kernels *k) {
    /* every even head_size to 70 (head_size 8 of the tiny models, tails of
     * every vector width), then model sizes; 1 to 7 heads (n_kv_heads < n_heads) */
    for (int hs = 2; hs <= 130; hs += hs < 70 ? 2 : 30)
        for (int nh = 1; nh <= 7; nh += 2) {
            int n = hs * nh, off = (hs / 2 + nh) % 4;
            float *vb = falloc(n + 3), *v = vb + off, *ref = falloc(n), *cs = falloc(hs);
            fill(v, n, 2.0f);
            memcpy(ref, v, n * sizeof(float));
            /* angles as forward.c makes them, at a random position */
            int pos = irand(4096);
            for (int i = 0; i < hs; i += 2) {
                float angle = (float)pos * (1.0f / powf(10000.0f, (float)i / (float)hs));
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

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: test_kernels ISA\n");
        return 2;
    }
    const lm_kernels *k = lm_kernels_by_name(argv[1]);
    if (!k) {
        fprintf(stderr, "this binary has no '%s' kernels\n", argv[1]);
        return 1;
    }
    const char *missing = lm_kernels_missing_feature(k);
    if (missing) {
        printf("SKIPPED: %s kernels need %s, which this CPU lacks\n", argv[1], missing);
        return CHECK_SKIP;
    }
    test_quantize_q8(k);
    test_matmul_f32(k);
    test_matmul_q8(k);
    check_split_invariance(k, 0);
    check_split_invariance(k, 1);
    test_elementwise(k);
    test_swiglu_sweep(k);
    test_rope(k);
    test_attention(k);
    return check_exit(argv[1]);
}
