/* Q4_K and Q5_K (kernels/quant/kq45.h, kernels/ORDER.md "Block-quantized
 * weights") on one ISA's table: usage test_kernels_kq ISA, exit 77 (skipped)
 * when this CPU lacks a feature the ISA needs. No tolerances:
 * - lm_packed_row on the panels gives ggml's dequantized values (a short
 *   ggml-order dequantization below, ((d * sc) * q) - (dmin * m)) bit for bit;
 *   packing in parts gives the bytes of packing at once;
 * - the scalar oracle on the panels equals lm_matmul_q*_k_ref on the file's
 *   row-major blocks, bit for bit;
 * - the table's product equals the oracle for T = 1..70, rows not a multiple
 *   of 16 and under 16, cols 256 .. 11008, row ranges starting at multiples
 *   of LM_ROW_BLOCK and split ranges.
 * Random blocks include scales and mins of 63 with all quants 15 / 31 and
 * activations of +-127 (the int32 bounds), zero and subnormal halves. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "check_kernels.h"
#include "dispatch.h"
#include "half.h"
#include "pack.h"
#include "qtypes.h"
#include "scalar/scalar.h"

static uint64_t rng = 0x243f6a8885a308d3ull;

static uint32_t next(void) {
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return (uint32_t)((rng * 0x2545F4914F6CDD1Dull) >> 32);
}

static float frand(void) { return (float)(next() >> 8) / 8388608.0f - 1.0f; }

/* A finite half: mostly ordinary scales, sometimes zero or subnormal. */
static uint16_t rand_half(void) {
    uint32_t r = next();
    switch (r % 16) {
    case 0: return 0;
    case 1: return (uint16_t)(r >> 16) & 0x83ff; /* subnormal */
    default:
        return (uint16_t)((r >> 16) & 0x8000) | (uint16_t)((2 + (r >> 8) % 18) << 10) |
               (uint16_t)((r >> 4) & 0x3ff);
    }
}

/* Block fields at their offsets: d, dmin, scales[12], (qh[32]), qs[128]. */
static void rand_block(uint8_t *blk, int q5, int extreme) {
    size_t bytes = q5 ? sizeof(lm_block_q5_k) : sizeof(lm_block_q4_k);
    for (size_t i = 0; i < bytes; i++) blk[i] = (uint8_t)next();
    uint16_t d = rand_half(), dmin = rand_half();
    memcpy(blk, &d, 2);
    memcpy(blk + 2, &dmin, 2);
    if (extreme) memset(blk + 4, extreme == 1 ? 0xff : 0x00, bytes - 4); /* 63s, all 15 / 31 */
}

/* ggml's dequantization of one row (its operations, its order). */
static void dequant_ggml(float *out, const uint8_t *row, int cols, int q5) {
    size_t bb = q5 ? sizeof(lm_block_q5_k) : sizeof(lm_block_q4_k);
    for (int b = 0; b < cols / 256; b++) {
        const uint8_t *blk = row + (size_t)b * bb;
        uint16_t hd, hm;
        memcpy(&hd, blk, 2);
        memcpy(&hm, blk + 2, 2);
        const float d = lm_f16_to_f32(hd), min = lm_f16_to_f32(hm);
        const uint8_t *sc = blk + 4, *qh = blk + 16, *qs = blk + (q5 ? 48 : 16);
        float *y = out + b * 256;
        for (int j = 0; j < 8; j++) {
            int s, m;
            if (j < 4) {
                s = sc[j] & 63, m = sc[j + 4] & 63;
            } else {
                s = (sc[j + 4] & 15) | ((sc[j - 4] >> 6) << 4);
                m = (sc[j + 4] >> 4) | ((sc[j] >> 6) << 4);
            }
            const float d1 = d * (float)s, m1 = min * (float)m;
            for (int l = 0; l < 32; l++) {
                int q = (j & 1) ? qs[32 * (j / 2) + l] >> 4 : qs[32 * (j / 2) + l] & 15;
                if (q5 && (qh[l] >> j) & 1) q += 16;
                y[j * 32 + l] = d1 * (float)q - m1;
            }
        }
    }
}

typedef struct {
    uint8_t *file;
    void *mem;
    lm_packed pk;
    int rows, cols, q5;
} mat;

static mat make_mat(int rows, int cols, int q5, int extreme_every) {
    const lm_qtype *qt = lm_qtype_of(q5 ? LM_WT_Q5_K : LM_WT_Q4_K);
    mat m = {.rows = rows, .cols = cols, .q5 = q5};
    size_t nb = (size_t)rows * (size_t)(cols / 256);
    m.file = malloc(nb * (size_t)qt->block_bytes + 1) + 1; /* unaligned blocks */
    for (size_t i = 0; i < nb; i++)
        rand_block(m.file + i * (size_t)qt->block_bytes, q5,
                   extreme_every && i % (size_t)extreme_every == 0 ? 1 + (int)(i / 7 % 2) : 0);
    size_t bytes = qt->pack_bytes(rows, cols);
    CHECK(bytes % 64 == 0, "pack_bytes %zu not a multiple of 64", bytes);
    m.mem = aligned_alloc(64, bytes);
    int np = (rows + LM_PANEL - 1) / LM_PANEL;
    /* in two parts, the second first: each part fills only its panels */
    qt->pack_part(&m.pk, m.mem, m.file, rows, cols, np / 2, np);
    qt->pack_part(&m.pk, m.mem, m.file, rows, cols, 0, np / 2);
    CHECK(m.pk.blk == m.mem && m.pk.blk_bytes == bytes && m.pk.type == qt->type &&
              m.pk.rows == rows && m.pk.cols == cols,
          "pack_part's description");
    void *once = aligned_alloc(64, bytes);
    lm_packed pk1, view;
    qt->pack_part(&pk1, once, m.file, rows, cols, 0, np);
    CHECK(memcmp(once, m.mem, bytes) == 0, "packing in parts differs (%d x %d)", rows, cols);
    qt->view(&view, once, rows, cols);
    CHECK(view.blk == once && view.blk_bytes == bytes && view.type == qt->type, "view");
    free(once);
    return m;
}

static void free_mat(mat *m) {
    free(m->file - 1);
    free(m->mem);
}

static lm_q8_act make_act(int T, int n, int extreme) {
    float *x = malloc((size_t)T * n * sizeof(float));
    for (int i = 0; i < T * n; i++) x[i] = frand() * 3.0f;
    if (extreme) /* every value +-1: the activations are all +-127 */
        for (int i = 0; i < T * n; i++) x[i] = (extreme == 1 || i % 512 < 256) ? 1.0f : -1.0f;
    int groups = n / 256;
    lm_q8_act a = {malloc((size_t)T * n), malloc((size_t)T * groups * sizeof(float)), 256};
    for (int t = 0; t < T; t++)
        lm_quantize_q8_scalar(a.q + (size_t)t * n, a.s + (size_t)t * groups, x + (size_t)t * n, n,
                              256);
    free(x);
    return a;
}

static int same(const float *got, const float *want, size_t n, const char *what, const mat *m,
                int T, int r0, int r1) {
    for (size_t i = 0; i < n; i++)
        if (memcmp(&got[i], &want[i], 4) != 0) {
            CHECK(0, "%s Q%d_K %d x %d T %d rows [%d,%d): element %zu got %a want %a", what,
                  4 + m->q5, m->rows, m->cols, T, r0, r1, i, got[i], want[i]);
            return 0;
        }
    return 1;
}

static void check_dequant(const mat *m) {
    float *a = malloc((size_t)m->cols * sizeof(float)),
          *b = malloc((size_t)m->cols * sizeof(float));
    size_t rb = (size_t)(m->cols / 256) * (m->q5 ? sizeof(lm_block_q5_k) : sizeof(lm_block_q4_k));
    for (int r = 0; r < m->rows; r++) {
        dequant_ggml(a, m->file + (size_t)r * rb, m->cols, m->q5);
        lm_packed_row(&m->pk, r, b);
        if (!same(b, a, (size_t)m->cols, "packed_row", m, 0, r, r + 1)) break;
    }
    free(a);
    free(b);
}

static lm_matmul_blk_fn fn_of(const lm_kernels *k, int q5) {
    return q5 ? k->matmul_q5_k : k->matmul_q4_k;
}

/* One product over rows [r0, r1) against the oracle; NaN-filled outputs, so
 * rows outside the range must stay untouched. */
static void check_product(const lm_kernels *k, const mat *m, const lm_q8_act *x, int T, int r0,
                          int r1, int against_ref) {
    size_t n = (size_t)T * (size_t)m->rows;
    float *got = malloc(n * sizeof(float)), *want = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) got[i] = want[i] = -1.5f;
    fn_of(&lm_kernels_scalar, m->q5)(want, x, &m->pk, T, r0, r1);
    if (against_ref) {
        float *ref = malloc(n * sizeof(float));
        for (size_t i = 0; i < n; i++) ref[i] = -1.5f;
        (m->q5 ? lm_matmul_q5_k_ref : lm_matmul_q4_k_ref)(ref, x, m->file, T, m->cols, m->rows, r0,
                                                          r1);
        same(want, ref, n, "oracle on panels vs _ref", m, T, r0, r1);
        free(ref);
    }
    fn_of(k, m->q5)(got, x, &m->pk, T, r0, r1);
    same(got, want, n, k->isa, m, T, r0, r1);
    /* the same rows in two calls split at a multiple of LM_ROW_BLOCK */
    int cut = r0 + (r1 - r0) / 2 / LM_ROW_BLOCK * LM_ROW_BLOCK;
    if (cut > r0) {
        for (size_t i = 0; i < n; i++) got[i] = -1.5f;
        fn_of(k, m->q5)(got, x, &m->pk, T, r0, cut);
        fn_of(k, m->q5)(got, x, &m->pk, T, cut, r1);
        same(got, want, n, "split", m, T, r0, r1);
    }
    free(got);
    free(want);
}

static void free_act(lm_q8_act *a) {
    free(a->q);
    free(a->s);
}

static void test_type(const lm_kernels *k, int q5) {
    static const int rows[] = {1, 5, 15, 16, 17, 33, 45, 64, 70};
    static const int cols[] = {256, 512, 768, 4096, 11008};
    for (size_t ci = 0; ci < sizeof cols / sizeof cols[0]; ci++)
        for (size_t ri = 0; ri < sizeof rows / sizeof rows[0]; ri++) {
            int d = rows[ri], n = cols[ci];
            if (n > 1000 && d > 33) continue;
            mat m = make_mat(d, n, q5, 5);
            check_dequant(&m);
            for (int e = 0; e < 3; e++) {
                int T = e ? 3 : 5;
                lm_q8_act x = make_act(T, n, e);
                check_product(k, &m, &x, T, 0, d, 1);
                for (int r0 = 16; r0 < d; r0 += 16) check_product(k, &m, &x, T, r0, d, 0);
                if (d > 20) check_product(k, &m, &x, T, 16, d - 3, 0);
                free_act(&x);
            }
            free_mat(&m);
        }
    /* rows past the AVX2 pre-decode's 64 super-blocks, and token chunks of
     * 11008 columns whose last chunk is short (one or two tokens) */
    mat wide = make_mat(17, 16640, q5, 9), tall = make_mat(33, 11008, q5, 11);
    for (int T = 3; T <= 4; T++) {
        lm_q8_act x = make_act(T, 16640, T == 4);
        check_product(k, &wide, &x, T, 0, 17, 1);
        free_act(&x);
    }
    for (int T = 24; T <= 26; T++) {
        lm_q8_act x = make_act(T, 11008, T % 2);
        check_product(k, &tall, &x, T, 0, 33, T == 25);
        check_product(k, &tall, &x, T, 16, 30, 0);
        free_act(&x);
    }
    free_mat(&wide);
    free_mat(&tall);
    /* T = 1..70 on odd shapes */
    mat a = make_mat(45, 512, q5, 7), b = make_mat(17, 256, q5, 3);
    for (int T = 1; T <= 70; T++) {
        lm_q8_act xa = make_act(T, 512, T % 3), xb = make_act(T, 256, T % 5 == 0);
        check_product(k, &a, &xa, T, 0, 45, T % 10 == 1);
        check_product(k, &a, &xa, T, 16, 45, 0);
        check_product(k, &b, &xb, T, 0, 17, T % 10 == 1);
        free_act(&xa);
        free_act(&xb);
    }
    free_mat(&a);
    free_mat(&b);
    /* all-extreme blocks: the largest |S| and |M| */
    for (int e = 1; e <= 2; e++) {
        mat m = make_mat(20, 4096, q5, 1);
        lm_q8_act x = make_act(2, 4096, e);
        check_dequant(&m);
        check_product(k, &m, &x, 2, 0, 20, 1);
        free_act(&x);
        free_mat(&m);
    }
}

int main(int argc, char **argv) {
    int rc;
    const lm_kernels *k = check_kernels_arg(argc, argv, "test_kernels_kq", &rc);
    if (!k) return rc;
    if (!k->matmul_q4_k || !k->matmul_q5_k) {
        CHECK(0, "%s has no Q4_K / Q5_K product", k->isa);
        return check_exit(argv[1]);
    }
    test_type(k, 0);
    test_type(k, 1);
    return check_exit(argv[1]);
}
