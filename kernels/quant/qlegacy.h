/* The panels of ggml's legacy 32-value block types Q4_0, Q4_1, Q5_0, Q5_1,
 * shared by kernels/quant/q4_0.c .. q5_1.c (each instantiates it with its
 * block's fields) and read by the products matmul_q4_0 .. matmul_q5_1.
 *
 * Panel p holds rows 16 p .. 16 p + 15 (rows past the matrix are zero) as
 * cols / 32 block-panels in block order; block-panel b of panel p starts at
 * blk + (p * nb + b) * LM_QL_BP(has_m, has_h) bytes (nb = cols / 32) and holds
 * the 16 rows' block b:
 *   d    16 halves (32 bytes): row l's d at [l] (IEEE half bits, as the file)
 *   m    16 halves (32 bytes), Q4_1 / Q5_1 only
 *   qh   64 bytes, Q5_0 / Q5_1 only: two 32-byte halves h (rows 8h .. 8h + 7);
 *        bit c of byte h * 32 + (l % 8) * 4 + j is the 5th bit of row l's
 *        value k = 4c + j
 *   qs   256 bytes: 8 quads c of 32 bytes; byte c * 32 + (l % 8) * 4 + j holds
 *        row l's 4-bit value k = 4c + j in its low nibble for l < 8, in its
 *        high nibble for l >= 8
 * So one 32-byte load is 4 consecutive k of all 16 rows: the low nibbles are
 * rows 0-7 (an AVX2 ymm, two NEON q registers), the high nibbles rows 8-15,
 * each row's 4 values in one 32-bit lane, as the Q8_0 panels; quad c's 5th
 * bits are bit c of the 32 qh bytes of the same rows (one shift and one mask).
 * Block-panels are 288, 320, 352 and 384 bytes: the file's bytes, rearranged,
 * nothing widened. */
#ifndef LAMINA_KERNELS_QUANT_QLEGACY_H
#define LAMINA_KERNELS_QUANT_QLEGACY_H

#include <omp.h>
#include <stdint.h>
#include <string.h>

#include "half.h"
#include "qtypes.h"

#define LM_QL_BP(has_m, has_h) (32 + 32 * (has_m) + 64 * (has_h) + 256)

/* Where the parts of a block-panel start. */
static inline size_t lm_ql_m_off(void) { return 32; }
static inline size_t lm_ql_qh_off(int has_m) { return 32 + 32 * (size_t)has_m; }
static inline size_t lm_ql_qs_off(int has_m, int has_h) {
    return 32 + 32 * (size_t)has_m + 64 * (size_t)has_h;
}

static inline size_t lm_ql_panels(int rows) { return ((size_t)rows + LM_PANEL - 1) / LM_PANEL; }

static inline size_t lm_ql_pack_bytes(int rows, int cols, int has_m, int has_h) {
    size_t b = lm_ql_panels(rows) * (size_t)(cols / 32) * LM_QL_BP(has_m, has_h);
    return (b + 63) / 64 * 64;
}

/* Row l's unsigned value k of block-panel bp (nibble | 5th bit << 4). */
static inline int lm_ql_value(const uint8_t *bp, int has_m, int has_h, int l, int k) {
    const uint8_t *qs = bp + lm_ql_qs_off(has_m, has_h);
    int i = (l % 8) * 4 + k % 4, c = k / 4;
    int v = l < 8 ? qs[c * 32 + i] & 15 : qs[c * 32 + i] >> 4;
    if (has_h) v |= ((bp[lm_ql_qh_off(has_m) + (l / 8) * 32 + i] >> c) & 1) << 4;
    return v;
}

static inline uint16_t lm_ql_half(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return h;
}

/* One file block (block_bytes bytes at src, any alignment) into row l of
 * block-panel bp. The file block is d [m] [qh[4]] qs[16]. */
static inline void lm_ql_put(uint8_t *bp, const uint8_t *src, int block_bytes, int has_m, int has_h,
                             int l) {
    memcpy(bp + 2 * l, src, 2);
    if (has_m) memcpy(bp + lm_ql_m_off() + 2 * l, src + 2, 2);
    const uint8_t *qs = src + block_bytes - 16;
    uint8_t *dqs = bp + lm_ql_qs_off(has_m, has_h) + (l % 8) * 4;
    /* file byte j holds values j (low nibble) and j + 16 (high): values
     * 4c .. 4c + 3 are 4 consecutive bytes of qs, moved as one word */
    for (int c = 0; c < 8; c++) {
        uint32_t v, cell;
        memcpy(&v, qs + 4 * (c % 4), 4);
        v = (c < 4 ? v : v >> 4) & 0x0f0f0f0fu;
        memcpy(&cell, dqs + c * 32, 4);
        cell |= l < 8 ? v : v << 4;
        memcpy(dqs + c * 32, &cell, 4);
    }
    if (!has_h) return;
    uint32_t qh;
    memcpy(&qh, src + block_bytes - 20, 4); /* little-endian, as the file */
    uint8_t *dqh = bp + lm_ql_qh_off(has_m) + (l / 8) * 32 + (l % 8) * 4;
    for (int j = 0; j < 4; j++) {
        unsigned byte = 0;
        for (int c = 0; c < 8; c++) byte |= ((qh >> (4 * c + j)) & 1u) << c;
        dqh[j] = (uint8_t)byte;
    }
}

/* Threads for packing: as pack.c (OpenMP's default, at most one per CPU). */
static inline int lm_ql_threads(void) {
    int n = omp_get_max_threads(), cpus = omp_get_num_procs();
    return n < cpus ? n : cpus;
}

static inline void lm_ql_pack_part(lm_packed *out, void *mem, const void *blocks, int rows,
                                   int cols, int p0, int p1, lm_wtype type, int block_bytes,
                                   int has_m, int has_h) {
    const int nb = cols / 32;
    const size_t bpb = LM_QL_BP(has_m, has_h);
    uint8_t *dst = mem;
    const uint8_t *src = blocks;
#pragma omp parallel for schedule(static) num_threads(lm_ql_threads())
    for (long p = p0; p < p1; p++) {
        uint8_t *panel = dst + (size_t)p * (size_t)nb * bpb;
        memset(panel, 0, (size_t)nb * bpb); /* tail rows stay zero */
        for (int l = 0; l < LM_PANEL; l++) {
            size_t r = (size_t)p * LM_PANEL + (size_t)l;
            if (r >= (size_t)rows) break;
            const uint8_t *row = src + r * (size_t)nb * (size_t)block_bytes;
            for (int b = 0; b < nb; b++)
                lm_ql_put(panel + (size_t)b * bpb, row + (size_t)b * (size_t)block_bytes,
                          block_bytes, has_m, has_h, l);
        }
    }
    *out = (lm_packed){.rows = rows,
                       .cols = cols,
                       .type = type,
                       .blk = dst,
                       .blk_bytes = lm_ql_pack_bytes(rows, cols, has_m, has_h)};
}

static inline void lm_ql_view(lm_packed *out, const void *mem, int rows, int cols, lm_wtype type,
                              int has_m, int has_h) {
    *out = (lm_packed){.rows = rows,
                       .cols = cols,
                       .type = type,
                       .blk = mem,
                       .blk_bytes = lm_ql_pack_bytes(rows, cols, has_m, has_h)};
}

/* ggml's dequantized row: float(q) * d, plus m for the types with one
 * (kernels/ORDER.md, "Dequantized values"); q = value - offset. */
static inline void lm_ql_packed_row(const lm_packed *w, int r, float *out, int has_m, int has_h,
                                    int offset) {
    const int nb = w->cols / 32, l = r % LM_PANEL;
    const size_t bpb = LM_QL_BP(has_m, has_h);
    const uint8_t *panel = w->blk + (size_t)(r / LM_PANEL) * (size_t)nb * bpb;
    for (int b = 0; b < nb; b++) {
        const uint8_t *bp = panel + (size_t)b * bpb;
        float d = lm_f16_to_f32(lm_ql_half(bp + 2 * l));
        float m = has_m ? lm_f16_to_f32(lm_ql_half(bp + lm_ql_m_off() + 2 * l)) : 0.0f;
        for (int k = 0; k < 32; k++) {
            float v = (float)(lm_ql_value(bp, has_m, has_h, l, k) - offset) * d;
            out[b * 32 + k] = has_m ? v + m : v;
        }
    }
}

/* The descriptor functions of one type: NAME, the lm_wtype, the file block's
 * bytes, whether it has m and 5th bits, and the offset subtracted from q. */
#define LM_QL_DEFINE(NAME, TYPE, BYTES, HAS_M, HAS_H, OFFSET)                                      \
    static size_t NAME##_pack_bytes(int rows, int cols) {                                          \
        return lm_ql_pack_bytes(rows, cols, HAS_M, HAS_H);                                         \
    }                                                                                              \
    static void NAME##_pack_part(lm_packed *out, void *mem, const void *blocks, int rows,          \
                                 int cols, int p0, int p1) {                                       \
        lm_ql_pack_part(out, mem, blocks, rows, cols, p0, p1, TYPE, BYTES, HAS_M, HAS_H);          \
    }                                                                                              \
    static void NAME##_view(lm_packed *out, const void *mem, int rows, int cols) {                 \
        lm_ql_view(out, mem, rows, cols, TYPE, HAS_M, HAS_H);                                      \
    }                                                                                              \
    static void NAME##_packed_row(const lm_packed *w, int r, float *out) {                         \
        lm_ql_packed_row(w, r, out, HAS_M, HAS_H, OFFSET);                                         \
    }

#endif
