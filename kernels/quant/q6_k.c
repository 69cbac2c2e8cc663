/* Q6_K: ggml's block layout (kernels/qtypes.h), its dequantization and its
 * panels.
 *
 * A file block holds 256 values of one row: ql[128] (low 4 bits), qh[64]
 * (high 2 bits), scales[16] (signed 8-bit, one per sub-block of 16 values)
 * and d (half). Value k has u = low | high << 4 (0..63), q = u - 32, and
 * weight (d * sc[k / 16]) * q.
 *
 * Panels: rows in panels of LM_PANEL = 16 (tail rows of the last panel are
 * zero weights: d = 0, scales 0, q = 0). Panel p, super-block b of a matrix
 * with nb = cols / 256 super-blocks is one unit of LM_Q6K_UNIT = 3360 bytes
 * (the file's 16 x 210, so the panels take no memory beyond the file's) at
 * blk + (p * nb + b) * 3360:
 *
 *   [0, 32)      d of rows 0..15 as the file's half bits (the kernels widen
 *                them exactly: vcvtph2ps, fcvtl, lm_f16_to_f32).
 *   [32, 288)    scales: 8 blocks of 32 bytes, one per sub-block pair
 *                (2 jp, 2 jp + 1); row l's pair at 16 (l / 8) + 2 (l % 8):
 *                sign-extended to int16, 16 bytes are 8 rows' (sc_j, sc_j+1)
 *                in one int32 lane each (AVX2 madd, NEON widen).
 *   [288, 3360)  32 groups of 96 bytes, group g = values k = 8 g .. 8 g + 7:
 *                cell A = k 8g .. 8g+3, cell B = k 8g+4 .. 8g+7; within a cell
 *                byte position c = 4 (l % 8) + k % 4 (4 k of 8 rows: Q8_0's
 *                AVX2 panel order).
 *                  [0, 32)   low 4 bits of cell A: rows 0-7 in the low nibble
 *                            of byte c, rows 8-15 in the high nibble;
 *                  [32, 64)  the same for cell B;
 *                  [64, 96)  high 2 bits of both cells, byte c: bits 0-1 cell
 *                            A rows 0-7, 2-3 cell A rows 8-15, 4-5 cell B
 *                            rows 0-7, 6-7 cell B rows 8-15.
 *                One 32-byte load of low bits is 64 values (two registers of
 *                4 k x 8 rows after a mask and a shift), one of high bits 128.
 *
 * Packing only moves bits, so the panels hold the file's
 * values; packed_row gives ggml's dequantized values, bit for bit. */
#include "q6_k.h"

#include <omp.h>
#include <string.h>

#include "half.h"
#include "qtypes.h"

static size_t q6k_panels(int rows) { return ((size_t)rows + LM_PANEL - 1) / LM_PANEL; }

static size_t q6k_pack_bytes(int rows, int cols) {
    return q6k_panels(rows) * (size_t)(cols / 256) * LM_Q6K_UNIT;
}

/* u (0..63) of the 256 values of one file block, in k order. */
static void block_u(uint8_t *u, const uint8_t *blk) {
    for (int h = 0; h < 2; h++) {
        const uint8_t *ql = blk + 64 * h, *qh = blk + 128 + 32 * h;
        uint8_t *o = u + 128 * h;
        for (int l = 0; l < 32; l++) {
            o[l] = (uint8_t)((ql[l] & 15) | (qh[l] & 3) << 4);
            o[l + 32] = (uint8_t)((ql[l + 32] & 15) | (qh[l] >> 2 & 3) << 4);
            o[l + 64] = (uint8_t)((ql[l] >> 4) | (qh[l] >> 4 & 3) << 4);
            o[l + 96] = (uint8_t)((ql[l + 32] >> 4) | (qh[l] >> 6 & 3) << 4);
        }
    }
}

/* One unit from 16 rows' blocks (NULL: a tail row, zero weights). */
static void pack_unit(uint8_t *unit, const uint8_t *const blks[LM_PANEL]) {
    uint8_t u[LM_PANEL][256];
    uint16_t d[LM_PANEL];
    for (int l = 0; l < LM_PANEL; l++) {
        uint8_t *sc = unit + LM_Q6K_SC + (l >> 3) * 16 + (l & 7) * 2;
        if (!blks[l]) {
            memset(u[l], 32, 256);
            d[l] = 0; /* +0 */
            for (int j = 0; j < 16; j++) sc[(j / 2) * 32 + (j & 1)] = 0;
            continue;
        }
        block_u(u[l], blks[l]);
        memcpy(&d[l], blks[l] + 208, 2);
        for (int j = 0; j < 16; j++) sc[(j / 2) * 32 + (j & 1)] = blks[l][192 + j];
    }
    memcpy(unit + LM_Q6K_D, d, sizeof d);
    for (int g = 0; g < 32; g++) {
        /* the four 32-byte planes of 4 k x 8 rows (cell A / B, rows 0-7 /
         * 8-15), gathered 4 bytes a row; then byte-wise, which vectorises */
        uint8_t pl[4][32];
        for (int q = 0; q < 4; q++)
            for (int l = 0; l < 8; l++)
                memcpy(&pl[q][4 * l], &u[l + 8 * (q & 1)][8 * g + 4 * (q >> 1)], 4);
        uint8_t *o = unit + LM_Q6K_VALS + g * LM_Q6K_GROUP;
        for (int c = 0; c < 32; c++) {
            o[c] = (uint8_t)((pl[0][c] & 15) | (pl[1][c] & 15) << 4);
            o[32 + c] = (uint8_t)((pl[2][c] & 15) | (pl[3][c] & 15) << 4);
            o[64 + c] = (uint8_t)(pl[0][c] >> 4 | (pl[1][c] >> 4) << 2 | (pl[2][c] >> 4) << 4 |
                                  (pl[3][c] >> 4) << 6);
        }
    }
}

static void q6k_describe(lm_packed *out, const void *mem, int rows, int cols) {
    *out = (lm_packed){.rows = rows,
                       .cols = cols,
                       .type = LM_WT_Q6_K,
                       .blk = mem,
                       .blk_bytes = q6k_pack_bytes(rows, cols)};
}

/* Threads for packing: OpenMP's default, at most one per CPU (as pack.c). */
static int q6k_threads(void) {
    int n = omp_get_max_threads(), cpus = omp_get_num_procs();
    return n < cpus ? n : cpus;
}

static void q6k_pack_part(lm_packed *out, void *mem, const void *blocks, int rows, int cols, int p0,
                          int p1) {
    const int nb = cols / 256;
    const uint8_t *src = blocks;
    uint8_t *dst = mem;
#pragma omp parallel for schedule(static) num_threads(q6k_threads())
    for (long p = p0; p < p1; p++) {
        for (int b = 0; b < nb; b++) {
            const uint8_t *blks[LM_PANEL];
            for (int l = 0; l < LM_PANEL; l++) {
                size_t r = (size_t)p * LM_PANEL + (size_t)l;
                blks[l] = r < (size_t)rows ? src + (r * (size_t)nb + (size_t)b) * 210 : NULL;
            }
            pack_unit(dst + ((size_t)p * (size_t)nb + (size_t)b) * LM_Q6K_UNIT, blks);
        }
    }
    q6k_describe(out, mem, rows, cols);
}

static void q6k_view(lm_packed *out, const void *mem, int rows, int cols) {
    q6k_describe(out, mem, rows, cols);
}

/* ggml's value: (d * float(sc)) * float(q), two roundings. */
static void q6k_packed_row(const lm_packed *w, int r, float *out) {
    const int nb = w->cols / 256, l = r % LM_PANEL;
    const size_t p = (size_t)(r / LM_PANEL);
    for (int b = 0; b < nb; b++) {
        const uint8_t *unit = w->blk + (p * (size_t)nb + (size_t)b) * LM_Q6K_UNIT;
        const float d = lm_q6k_d(unit, l);
        for (int k = 0; k < 256; k++) {
            float ds = d * (float)lm_q6k_sc(unit, l, k / 16);
            out[b * 256 + k] = ds * (float)(lm_q6k_u(unit, l, k) - 32);
        }
    }
}

const lm_qtype lm_qtype_q6_k = {
    .type = LM_WT_Q6_K,
    .name = "Q6_K",
    .ggml_type = LM_GGML_Q6_K,
    .block_values = 256,
    .block_bytes = 210,
    .act_gs = 256,
    .version = 2,
    .pack_bytes = q6k_pack_bytes,
    .pack_part = q6k_pack_part,
    .view = q6k_view,
    .packed_row = q6k_packed_row,
    .dequant_row = lm_dequant_row_q6_k,
};
