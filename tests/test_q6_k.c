/* Q6_K (kernels/quant/q6_k.c) on one ISA's table, bit for bit, no tolerances:
 * - packed_row on the panels equals ggml's dequantization of the file blocks
 *   (dequant_ggml below: dequantize_row_q6_K's operations), tail rows too;
 * - packing in parts equals packing whole, and a view of the bytes reads the
 *   same;
 * - the scalar oracle on panels equals lm_matmul_q6_k_ref on the file blocks,
 *   and the ref equals an int64 recomputation (the int32 bounds hold) on
 *   blocks of extreme scales (-128, 127) and values (-32, 31) against
 *   activations of -128 and 127;
 * - the table's matmul_q6_k equals the ref over T = 1..70, odd shapes (rows
 *   1..50 and 32000, cols 256 .. 11008), row ranges from multiples of 16, and
 *   a row's bits do not depend on the row split or on T.
 * Usage: test_q6_k ISA; exit 77 when this CPU cannot run the ISA. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "check_kernels.h"
#include "dispatch.h"
#include "half.h"
#include "pack.h"
#include "qtypes.h"
#include "scalar/scalar.h"

static uint64_t rng = 0x2545f4914f6cdd1dull;

static uint32_t next(void) {
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return (uint32_t)((rng * 0x2545F4914F6CDD1Dull) >> 32);
}
static int irand(int n) { return (int)(next() % (uint32_t)n); }

/* ggml's dequantize_row_q6_K, operation for operation: (d * sc) * q. */
static void dequant_ggml(float *y, const lm_block_q6_k *x, int cols) {
    for (int i = 0; i < cols / 256; i++) {
        const float d = lm_f16_to_f32(x[i].d);
        const uint8_t *ql = x[i].ql, *qh = x[i].qh;
        const int8_t *sc = x[i].scales;
        float *o = y + 256 * i;
        for (int n = 0; n < 256; n += 128) {
            for (int l = 0; l < 32; l++) {
                int is = l / 16;
                int q1 = ((ql[l] & 15) | ((qh[l] >> 0) & 3) << 4) - 32;
                int q2 = ((ql[l + 32] & 15) | ((qh[l] >> 2) & 3) << 4) - 32;
                int q3 = ((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4) - 32;
                int q4 = ((ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4) - 32;
                o[l] = d * (float)sc[is] * (float)q1;
                o[l + 32] = d * (float)sc[is + 2] * (float)q2;
                o[l + 64] = d * (float)sc[is + 4] * (float)q3;
                o[l + 96] = d * (float)sc[is + 6] * (float)q4;
            }
            o += 128, ql += 64, qh += 32, sc += 8;
        }
    }
}

/* Random blocks: any bits for the values, scales with the extremes -128 and
 * 127 often, d a finite half of either sign (mode 1: every value -32 or 31
 * and every scale -128 or 127, the int32 bounds; mode 2: every value -32 and
 * every scale -128, so that S reaches -2^27 against activations of -128). */
static lm_block_q6_k *random_blocks(int rows, int cols, int mode) {
    size_t nb = (size_t)rows * (size_t)(cols / 256);
    lm_block_q6_k *b = malloc(nb * sizeof *b + 1);
    for (size_t i = 0; i < nb; i++) {
        for (int k = 0; k < 128; k++) b[i].ql[k] = (uint8_t)next();
        for (int k = 0; k < 64; k++) b[i].qh[k] = (uint8_t)next();
        for (int j = 0; j < 16; j++) {
            int r = irand(8);
            b[i].scales[j] = (int8_t)(r == 0 ? -128 : r == 1 ? 127 : irand(256) - 128);
        }
        /* exponent 5..24 (2^-10 .. 2^9), random sign and mantissa */
        b[i].d =
            (uint16_t)((next() & 0x8000u) | (uint32_t)(5 + irand(20)) << 10 | (next() & 0x3ffu));
        if (mode == 1) {
            int neg = irand(2);
            memset(b[i].ql, neg ? 0x00 : 0xff, 128); /* q = -32 or 31 */
            memset(b[i].qh, neg ? 0x00 : 0xff, 64);
            for (int j = 0; j < 16; j++) b[i].scales[j] = (int8_t)(irand(2) ? -128 : 127);
        }
        if (mode == 2) {
            memset(b[i].ql, 0, 128), memset(b[i].qh, 0, 64);
            memset(b[i].scales, 0x80, 16);
        }
    }
    return b;
}

/* Activations of T rows: quantized random floats, or (mode 1) extremes
 * -128 / 127 with random positive scales, as the int32 bounds assume, or
 * (mode 2) all -128. */
static lm_q8_act random_act(int T, int n, int mode) {
    int nb = n / 256;
    lm_q8_act a = {malloc((size_t)T * n + 1), malloc(((size_t)T * nb + 1) * sizeof(float)), 256};
    float *x = malloc((size_t)n * sizeof(float));
    for (int t = 0; t < T; t++) {
        if (mode) {
            for (int k = 0; k < n; k++)
                a.q[(size_t)t * n + k] = (int8_t)(mode == 2 || irand(2) ? -128 : 127);
            for (int b = 0; b < nb; b++)
                a.s[(size_t)t * nb + b] = (float)(1 + irand(1000)) * 0x1p-12f;
            continue;
        }
        float amp = (float)(1 + irand(100)) / 16.0f;
        for (int k = 0; k < n; k++) x[k] = ((float)irand(1 << 20) / (float)(1 << 19) - 1.0f) * amp;
        lm_quantize_q8_scalar(a.q + (size_t)t * n, a.s + (size_t)t * nb, x, n, 256);
    }
    free(x);
    return a;
}

static void *pack(lm_packed *pk, const lm_block_q6_k *w, int rows, int cols) {
    size_t bytes = lm_qtype_q6_k.pack_bytes(rows, cols);
    void *mem = aligned_alloc(64, (bytes + 64) / 64 * 64); /* aligned_alloc: a multiple of 64 */
    lm_qtype_q6_k.pack_part(pk, mem, w, rows, cols, 0, (rows + LM_PANEL - 1) / LM_PANEL);
    return mem;
}

static int same(const float *got, const float *want, size_t n, const char *what, int rows, int cols,
                int T, int r0, int r1) {
    for (size_t i = 0; i < n; i++)
        if (memcmp(&got[i], &want[i], sizeof(float)) != 0) {
            CHECK(0, "%s rows %d cols %d T %d [%d,%d): element %zu got %a want %a", what, rows,
                  cols, T, r0, r1, i, got[i], want[i]);
            return 0;
        }
    return 1;
}

/* ---- packing and dequantization ------------------------------------------ */

static void check_pack(int rows, int cols) {
    lm_block_q6_k *w = random_blocks(rows, cols, 0);
    lm_packed pk, parts, view;
    void *mem = pack(&pk, w, rows, cols);
    size_t bytes = lm_qtype_q6_k.pack_bytes(rows, cols);
    /* the panels take the file's bytes: 16 rows of 210-byte blocks per unit */
    size_t file_rows = (size_t)(rows + LM_PANEL - 1) / LM_PANEL * LM_PANEL;
    CHECK(bytes == file_rows * (size_t)(cols / 256) * sizeof(lm_block_q6_k) &&
              pk.blk_bytes == bytes && pk.type == LM_WT_Q6_K && pk.rows == rows && pk.cols == cols,
          "descriptor rows %d cols %d", rows, cols);
    /* in two parts, as a loader packs a large matrix slice by slice */
    int panels = (rows + LM_PANEL - 1) / LM_PANEL, cut = panels / 2;
    void *mem2 = aligned_alloc(64, (bytes + 64) / 64 * 64);
    memset(mem2, 0xa5, bytes);
    lm_qtype_q6_k.pack_part(&parts, mem2, w, rows, cols, 0, cut);
    lm_qtype_q6_k.pack_part(&parts, mem2, w, rows, cols, cut, panels);
    CHECK(memcmp(mem, mem2, bytes) == 0, "packed in parts differs: rows %d cols %d", rows, cols);
    lm_pack_view(&view, LM_WT_Q6_K, mem2, rows, cols, 0);
    CHECK(view.blk == mem2 && view.blk_bytes == bytes, "view rows %d cols %d", rows, cols);
    float *got = malloc((size_t)cols * sizeof(float)), *want = malloc((size_t)cols * sizeof(float));
    for (int r = 0; r < rows; r++) {
        dequant_ggml(want, w + (size_t)r * (cols / 256), cols);
        lm_packed_row(&view, r, got);
        if (!same(got, want, (size_t)cols, "packed_row", rows, cols, 1, r, r + 1)) break;
    }
    free(got), free(want), free(mem), free(mem2), free(w);
}

/* ---- products -------------------------------------------------------------- */

/* The oracle on panels equals the ref on blocks; with mode 1 (extremes) the
 * ref also equals the order computed in int64. */
static void check_oracle(int rows, int cols, int T, int mode) {
    lm_block_q6_k *w = random_blocks(rows, cols, mode);
    lm_q8_act a = random_act(T, cols, mode);
    lm_packed pk;
    void *mem = pack(&pk, w, rows, cols);
    size_t ny = (size_t)T * rows;
    float *ref = malloc(ny * sizeof(float)), *got = malloc(ny * sizeof(float));
    lm_matmul_q6_k_ref(ref, &a, w, T, cols, rows, 0, rows);
    lm_matmul_q6_k_scalar(got, &a, &pk, T, 0, rows);
    same(got, ref, ny, "oracle on panels vs ref", rows, cols, T, 0, rows);
    const int nb = cols / 256;
    for (int t = 0; t < T; t++)
        for (int i = 0; i < rows; i++) {
            float val = 0.0f;
            for (int b = 0; b < nb; b++) {
                const lm_block_q6_k *blk = w + (size_t)i * nb + b;
                int64_t S = 0;
                for (int k = 0; k < 256; k++) {
                    /* ggml's bit positions, decoded here on their own */
                    int h = k / 128, qd = (k % 128) / 32, l = k % 32;
                    int lo = blk->ql[64 * h + l + 32 * (qd & 1)] >> (4 * (qd >> 1)) & 15;
                    int hi = blk->qh[32 * h + l] >> (2 * qd) & 3;
                    S += (int64_t)blk->scales[k / 16] * ((lo | hi << 4) - 32) *
                         a.q[(size_t)t * cols + 256 * b + k];
                }
                CHECK(S >= -(1 << 27) && S <= (1 << 27), "S out of bounds: %lld", (long long)S);
                if (mode == 2) CHECK(S == -(1 << 27), "mode 2: S %lld", (long long)S);
                val = val + ((float)S * lm_f16_to_f32(blk->d)) * a.s[(size_t)t * nb + b];
            }
            if (memcmp(&val, &ref[(size_t)t * rows + i], sizeof val) != 0) {
                CHECK(0, "ref vs int64 order rows %d cols %d row %d t %d: %a vs %a", rows, cols, i,
                      t, ref[(size_t)t * rows + i], val);
                t = T;
                break;
            }
        }
    free(ref), free(got), free(mem), free(w), free(a.q), free(a.s);
}

/* The table's product on rows [r0, r1) equals the ref; other rows untouched. */
static void check_product(const lm_kernels *k, int rows, int cols, int T, int r0, int r1,
                          int mode) {
    lm_block_q6_k *w = random_blocks(rows, cols, mode);
    lm_q8_act a = random_act(T, cols, mode);
    lm_packed pk;
    void *mem = pack(&pk, w, rows, cols);
    size_t ny = (size_t)T * rows;
    float *ref = malloc(ny * sizeof(float)), *got = malloc(ny * sizeof(float));
    for (size_t i = 0; i < ny; i++) ref[i] = got[i] = -12345.0f;
    lm_matmul_q6_k_ref(ref, &a, w, T, cols, rows, r0, r1);
    k->matmul_q6_k(got, &a, &pk, T, r0, r1);
    same(got, ref, ny, "matmul_q6_k", rows, cols, T, r0, r1);
    free(ref), free(got), free(mem), free(w), free(a.q), free(a.s);
}

static void random_range(int d, int *r0, int *r1) {
    *r0 = d > LM_ROW_BLOCK ? irand(d / LM_ROW_BLOCK) * LM_ROW_BLOCK : 0;
    *r1 = *r0 + 1 + irand(d - *r0);
    if (irand(2)) *r1 = d;
}

/* Rows split at every multiple of 16 equal one range; a T = 37 call equals
 * 37 calls of T = 1. */
static void check_invariance(const lm_kernels *k, int rows, int cols) {
    enum { T = 37 };
    lm_block_q6_k *w = random_blocks(rows, cols, 0);
    lm_q8_act a = random_act(T, cols, 0);
    lm_packed pk;
    void *mem = pack(&pk, w, rows, cols);
    size_t ny = (size_t)T * rows;
    float *whole = malloc(ny * sizeof(float)), *parts = malloc(ny * sizeof(float));
    k->matmul_q6_k(whole, &a, &pk, T, 0, rows);
    for (int cut = LM_ROW_BLOCK; cut < rows; cut += LM_ROW_BLOCK) {
        k->matmul_q6_k(parts, &a, &pk, T, 0, cut);
        k->matmul_q6_k(parts, &a, &pk, T, cut, rows);
        CHECK(memcmp(whole, parts, ny * sizeof(float)) == 0, "rows %d cols %d split at %d", rows,
              cols, cut);
    }
    const int nb = cols / 256;
    for (int t = 0; t < T; t++) {
        lm_q8_act at = {a.q + (size_t)t * cols, a.s + (size_t)t * nb, 256};
        k->matmul_q6_k(parts + (size_t)t * rows, &at, &pk, 1, 0, rows);
    }
    CHECK(memcmp(whole, parts, ny * sizeof(float)) == 0, "rows %d cols %d: T = 37 vs 37 x T = 1",
          rows, cols);
    free(whole), free(parts), free(mem), free(w), free(a.q), free(a.s);
}

int main(int argc, char **argv) {
    int rc;
    const lm_kernels *k = check_kernels_arg(argc, argv, "test_q6_k", &rc);
    if (!k) return rc;
    CHECK(k->matmul_q6_k != NULL, "%s has no matmul_q6_k", argv[1]);
    if (!k->matmul_q6_k) return check_exit(argv[1]);
    static const int rowss[] = {1, 3, 15, 16, 17, 33, 50};
    static const int colss[] = {256, 512, 768};
    for (int r = 0; r < 7; r++)
        for (int c = 0; c < 3; c++) check_pack(rowss[r], colss[c]);
    check_pack(20, 4096);
    check_pack(5, 11008);
    check_oracle(35, 512, 3, 0);
    check_oracle(17, 768, 2, 1);
    check_oracle(3, 4096, 2, 1);
    check_oracle(18, 512, 2, 2); /* S = -2^27 */
    for (int r = 0; r < 7; r++)
        for (int c = 0; c < 3; c++)
            for (int T = 1; T <= 9; T += 4) {
                int r0, r1;
                random_range(rowss[r], &r0, &r1);
                check_product(k, rowss[r], colss[c], T, r0, r1, 0);
            }
    for (int T = 1; T <= 70; T++) check_product(k, 35, 512, T, 0, 35, 0);
    for (int T = 1; T <= 6; T++) check_product(k, 33, 768, T, 16, 33, 1);
    for (int T = 1; T <= 6; T++) check_product(k, 18, 512, T, 0, 18, 2);
    check_product(k, 40, 4096, 5, 0, 40, 0);
    check_product(k, 20, 11008, 3, 0, 20, 0);
    check_product(k, 19, 11008, 2, 16, 19, 1);
    check_product(k, 32000, 256, 1, 0, 32000, 0);
    check_product(k, 32000, 256, 3, 16000, 31990, 0);
    check_invariance(k, 70, 512);
    check_invariance(k, 33, 256);
    return check_exit(argv[1]);
}
