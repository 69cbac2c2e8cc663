/* The legacy block types Q4_0, Q4_1, Q5_0, Q5_1 on one ISA's table (usage:
 * test_qlegacy ISA; exit 77 when this CPU lacks the ISA). No tolerances:
 * - packing: a matrix packed in parts (kernels/quant/qlegacy.h's panels)
 *   gives, through packed_row, the values of ggml's own dequantization of the
 *   file blocks (written here in ggml's order), bit for bit; view describes
 *   the same panels;
 * - products: the scalar oracle on panels equals an independent loop of
 *   kernels/ORDER.md's formula on the file's row-major blocks, and the ISA's
 *   product equals both, bit for bit, for T = 1..70, odd shapes (rows not a
 *   multiple of 16, fewer than 16, cols 32 .. 4096), row ranges starting at
 *   multiples of 16 (rows outside stay untouched), a range computed in pieces
 *   equal to it computed whole, int8 activations over the full range
 *   [-128, 127] and special half scales (zero, subnormal, largest). */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "check_kernels.h"
#include "dispatch.h"
#include "half.h"
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
static float frand(void) { return (float)(next() >> 8) / 8388608.0f - 1.0f; } /* [-1, 1) */

typedef struct {
    lm_wtype type;
    int has_m, has_h, offset;
} ql_type;

static const ql_type types[] = {
    {LM_WT_Q4_0, 0, 0, 8},
    {LM_WT_Q4_1, 1, 0, 0},
    {LM_WT_Q5_0, 0, 1, 16},
    {LM_WT_Q5_1, 1, 1, 0},
};

/* A half: mostly a modest scale, sometimes one of the edge values. */
static uint16_t random_half(void) {
    static const uint16_t special[] = {0x0000, 0x8000, 0x0001, 0x03ff, 0x7bff, 0xfbff, 0x3c00};
    if (irand(16) == 0) return special[irand(7)];
    return lm_f32_to_f16(frand() * 0.05f);
}

/* d rows of nb random file blocks. */
static uint8_t *random_blocks(const lm_qtype *qt, const ql_type *ty, int d, int nb) {
    size_t bytes = (size_t)d * nb * qt->block_bytes;
    uint8_t *b = malloc(bytes + 1);
    for (size_t i = 0; i < bytes; i++) b[i] = (uint8_t)next();
    for (size_t k = 0; k < (size_t)d * nb; k++) {
        uint16_t h = random_half();
        memcpy(b + k * qt->block_bytes, &h, 2);
        if (ty->has_m) {
            h = random_half();
            memcpy(b + k * qt->block_bytes + 2, &h, 2);
        }
    }
    return b;
}

/* The integer value j of a file block (ggml's layout, qtypes.h). */
static int file_q(const uint8_t *blk, const lm_qtype *qt, const ql_type *ty, int j) {
    const uint8_t *qs = blk + qt->block_bytes - 16;
    int v = j < 16 ? qs[j] & 15 : qs[j - 16] >> 4;
    if (ty->has_h) {
        uint32_t qh;
        memcpy(&qh, blk + qt->block_bytes - 20, 4);
        v |= (int)((qh >> j) & 1) << 4;
    }
    return v - ty->offset;
}

static float file_half(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return lm_f16_to_f32(h);
}

/* ggml's dequantization of one row, in ggml's order: x * d (+ m). */
static void ggml_dequant(float *out, const uint8_t *row, const lm_qtype *qt, const ql_type *ty,
                         int nb) {
    for (int b = 0; b < nb; b++) {
        const uint8_t *blk = row + (size_t)b * qt->block_bytes;
        float d = file_half(blk), m = ty->has_m ? file_half(blk + 2) : 0.0f;
        for (int j = 0; j < 16; j++) {
            float x0 = (float)file_q(blk, qt, ty, j), x1 = (float)file_q(blk, qt, ty, j + 16);
            out[b * 32 + j] = ty->has_m ? x0 * d + m : x0 * d;
            out[b * 32 + j + 16] = ty->has_m ? x1 * d + m : x1 * d;
        }
    }
}

/* kernels/ORDER.md's formula on the file's row-major blocks. */
static void ref_product(float *y, const lm_q8_act *x, const uint8_t *blocks, const lm_qtype *qt,
                        const ql_type *ty, int T, int n, int d) {
    const int nb = n / 32;
    for (int t = 0; t < T; t++)
        for (int i = 0; i < d; i++) {
            float val = 0.0f;
            for (int b = 0; b < nb; b++) {
                const uint8_t *blk = blocks + ((size_t)i * nb + b) * qt->block_bytes;
                const int8_t *xq = x->q + (size_t)t * n + b * 32;
                float sx = x->s[(size_t)t * nb + b];
                int32_t isum = 0, xsum = 0;
                for (int j = 0; j < 32; j++) {
                    isum += file_q(blk, qt, ty, j) * xq[j];
                    xsum += xq[j];
                }
                val = val + (float)isum * file_half(blk) * sx;
                if (ty->has_m) val = val + (float)xsum * file_half(blk + 2) * sx;
            }
            y[(size_t)t * d + i] = val;
        }
}

/* Activations: quantized from random floats as forward.c does, or (full)
 * arbitrary int8 values including -128 with arbitrary scales. */
static lm_q8_act random_act(int T, int n, int full) {
    int nb = n / 32;
    lm_q8_act a = {malloc((size_t)T * n), malloc((size_t)T * nb * sizeof(float)), 32};
    if (full) {
        for (size_t i = 0; i < (size_t)T * n; i++) a.q[i] = (int8_t)next();
        for (size_t i = 0; i < (size_t)T * nb; i++) a.s[i] = frand() * 0.1f;
        return a;
    }
    float *x = malloc((size_t)n * sizeof(float));
    for (int t = 0; t < T; t++) {
        for (int i = 0; i < n; i++) x[i] = frand() * 3.0f;
        if (irand(4) == 0) memset(x, 0, 32 * sizeof(float)); /* a zero group: scale 0 */
        lm_quantize_q8_scalar(a.q + (size_t)t * n, a.s + (size_t)t * nb, x, n, 32);
    }
    free(x);
    return a;
}

static int same(const float *got, const float *want, size_t cnt, const char *what,
                const lm_qtype *qt, int n, int d, int T, int r0, int r1) {
    for (size_t i = 0; i < cnt; i++)
        if (memcmp(&got[i], &want[i], sizeof(float)) != 0) {
            CHECK(0, "%s %s n %d d %d T %d rows [%d,%d): t %zu row %zu got %a want %a", what,
                  qt->name, n, d, T, r0, r1, i / (size_t)d, i % (size_t)d, got[i], want[i]);
            return 0;
        }
    return 1;
}

/* Pack in two parts split at a random panel, as a loader packs slices. */
static void *pack(lm_packed *pk, const lm_qtype *qt, const uint8_t *blocks, int d, int n) {
    size_t bytes = qt->pack_bytes(d, n);
    CHECK(bytes % 64 == 0, "%s pack_bytes %zu not a multiple of 64", qt->name, bytes);
    void *mem = aligned_alloc(64, bytes);
    memset(mem, 0xa5, bytes);
    int np = (d + LM_PANEL - 1) / LM_PANEL, split = irand(np + 1);
    lm_packed a, b;
    qt->pack_part(&a, mem, blocks, d, n, 0, split);
    qt->pack_part(&b, mem, blocks, d, n, split, np);
    CHECK(b.type == qt->type && b.rows == d && b.cols == n && b.blk == mem && b.blk_bytes == bytes,
          "%s pack_part's description", qt->name);
    qt->view(pk, mem, d, n);
    CHECK(pk->type == qt->type && pk->rows == d && pk->cols == n && pk->blk == mem &&
              pk->blk_bytes == bytes,
          "%s view's description", qt->name);
    return mem;
}

static void check_rows(const lm_packed *pk, const lm_qtype *qt, const ql_type *ty,
                       const uint8_t *blocks, int d, int n) {
    float *got = malloc((size_t)n * sizeof(float)), *want = malloc((size_t)n * sizeof(float));
    for (int r = 0; r < d; r++) {
        qt->packed_row(pk, r, got);
        ggml_dequant(want, blocks + (size_t)r * (n / 32) * qt->block_bytes, qt, ty, n / 32);
        if (!same(got, want, (size_t)n, "packed_row", qt, n, d, 1, r, r + 1)) break;
    }
    free(got), free(want);
}

/* One shape: packed_row, then each T in [T0, T1] over the range [r0, r1). */
static void check_shape(const lm_kernels *k, const ql_type *ty, int n, int d, int T0, int T1,
                        int r0, int r1) {
    const lm_qtype *qt = lm_qtype_of(ty->type);
    lm_matmul_blk_fn fn = lm_kernels_blk(k, ty->type),
                     oracle = lm_kernels_blk(&lm_kernels_scalar, ty->type);
    CHECK(fn && oracle, "%s: no product in the %s table", qt->name, k->isa);
    if (!fn || !oracle) return;
    uint8_t *blocks = random_blocks(qt, ty, d, n / 32);
    lm_packed pk;
    void *mem = pack(&pk, qt, blocks, d, n);
    check_rows(&pk, qt, ty, blocks, d, n);
    for (int T = T0; T <= T1; T++) {
        lm_q8_act x = random_act(T, n, T % 3 == 0);
        size_t cnt = (size_t)T * d;
        float *ref = malloc(cnt * sizeof(float)), *want = malloc(cnt * sizeof(float));
        float *got = malloc(cnt * sizeof(float)), *parts = malloc(cnt * sizeof(float));
        ref_product(ref, &x, blocks, qt, ty, T, n, d);
        for (size_t i = 0; i < cnt; i++) {
            int row = (int)(i % (size_t)d);
            if (row < r0 || row >= r1) ref[i] = -12345.0f;
            want[i] = got[i] = parts[i] = -12345.0f;
        }
        oracle(want, &x, &pk, T, r0, r1);
        fn(got, &x, &pk, T, r0, r1);
        /* the same range in pieces starting at multiples of LM_ROW_BLOCK */
        for (int a = r0; a < r1;) {
            int b = a + LM_ROW_BLOCK * (1 + irand(3));
            if (b > r1) b = r1;
            fn(parts, &x, &pk, T, a, b);
            a = b;
        }
        same(want, ref, cnt, "oracle vs ORDER.md on file blocks", qt, n, d, T, r0, r1);
        same(got, ref, cnt, k->isa, qt, n, d, T, r0, r1);
        same(parts, ref, cnt, "range in pieces", qt, n, d, T, r0, r1);
        free(ref), free(want), free(got), free(parts), free(x.q), free(x.s);
    }
    free(mem), free(blocks);
}

int main(int argc, char **argv) {
    int rc;
    const lm_kernels *k = check_kernels_arg(argc, argv, "test_qlegacy", &rc);
    if (!k) return rc;
    static const int ds[] = {1, 3, 15, 16, 17, 31, 33, 47, 64, 100};
    static const int ns[] = {32, 64, 96, 160, 256, 288};
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        const ql_type *ty = &types[ti];
        check_shape(k, ty, 96, 45, 1, 70, 0, 45);
        for (size_t a = 0; a < sizeof ds / sizeof ds[0]; a++)
            for (size_t b = 0; b < sizeof ns / sizeof ns[0]; b++)
                check_shape(k, ty, ns[b], ds[a], 1 + irand(3), 5 + irand(5), 0, ds[a]);
        for (int i = 0; i < 40; i++) { /* thread-like ranges */
            int d = 1 + irand(120), n = 32 * (1 + irand(12));
            int r0 = d > LM_ROW_BLOCK ? irand(d / LM_ROW_BLOCK) * LM_ROW_BLOCK : 0;
            int r1 = irand(2) ? d : r0 + 1 + irand(d - r0);
            check_shape(k, ty, n, d, 1 + irand(9), 1 + irand(9) + 9, r0, r1);
        }
        check_shape(k, ty, 4096, 40, 1, 5, 0, 40);
        check_shape(k, ty, 4096, 257, 1, 1, 16, 257);
    }
    return check_exit(argv[1]);
}
