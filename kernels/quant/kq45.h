/* The panels of Q4_K and Q5_K (kernels/quant/q4_k.c, q5_k.c), shared by the
 * descriptors and every kernel set's products.
 *
 * A matrix [rows, cols] is cut into panels of LM_PANEL = 16 rows; a panel is
 * cols / 256 super-block cells, one after the other, each holding super-block
 * b of the panel's 16 rows (rows past `rows` are zero: d = dmin = 0, q = 0):
 *
 *   QS   [c 4][s 8][row 16][4 bytes]  the file's qs bytes 32c + 4s .. + 3 of
 *        the row: low nibbles are values 4s .. 4s + 3 of sub-block 2c, high
 *        nibbles the same values of sub-block 2c + 1. One 32-byte load is 4 k
 *        of 8 rows of two sub-blocks; a 16-byte one 4 k of 4 rows.
 *   QH   (Q5_K only) [s 8][row 16][4 bytes]  the file's qh bytes 4s .. 4s + 3:
 *        bit j is the fifth bit of value 4s + i of sub-block j.
 *   SCM  [i 12][row 16]  the file's 12 bytes of 6-bit scales and mins of
 *        each row, byte i of the 16 rows together, so that one 16-byte load
 *        and a shift or two give sub-block j's scale (or min) of all 16 rows
 *        (lm_kq_scale_min's formula applied across rows).
 *   D    [row 16]  d as the file's half bits; DMIN likewise (the kernels widen
 *        them exactly: vcvtph2ps, fcvtl, lm_f16_to_f32).
 *
 * Packing only moves bytes (exact). A cell is 2304 bytes for Q4_K and 2816
 * for Q5_K, the file's own size for 16 rows: the panels need no memory
 * beyond the file's (a 7B Q4_K_M file's scales unpacked to bytes were 88 MiB
 * more). */
#ifndef LAMINA_KERNELS_KQ45_H
#define LAMINA_KERNELS_KQ45_H

#include <stddef.h>
#include <stdint.h>

#include "kernels.h"

enum {
    LM_KQ_QS = 0,
    LM_KQ_QH = 2048,
    LM_Q4K_SCM = 2048,
    LM_Q5K_SCM = 2560,
    LM_KQ_SCM_BYTES = 192,
    LM_KQ_D_BYTES = 32,
    LM_Q4K_CELL = 2304,
    LM_Q5K_CELL = 2816,
};

/* The offsets of a cell's parts; q5 says which type. */
static inline int lm_kq_scm(int q5) { return q5 ? LM_Q5K_SCM : LM_Q4K_SCM; }
static inline int lm_kq_d(int q5) { return lm_kq_scm(q5) + LM_KQ_SCM_BYTES; }
static inline int lm_kq_dmin(int q5) { return lm_kq_d(q5) + LM_KQ_D_BYTES; }
static inline size_t lm_kq_cell(int q5) { return q5 ? LM_Q5K_CELL : LM_Q4K_CELL; }

/* Cell b of panel p. */
static inline const uint8_t *lm_kq_cell_at(const lm_packed *w, int p, int b, int q5) {
    return w->blk + ((size_t)p * (size_t)(w->cols / 256) + (size_t)b) * lm_kq_cell(q5);
}

/* ggml's 6-bit packing of scales[12]: sub-block j's scale and min. */
static inline void lm_kq_scale_min(const uint8_t *s, int j, int *sc, int *m) {
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (s[j + 4] & 15) | ((s[j - 4] >> 6) << 4);
        *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
}

/* Row l's scale and min of sub-block j in a cell (the scalar kernels). */
static inline void lm_kq_cell_scale_min(const uint8_t *cell, int q5, int l, int j, int *sc,
                                        int *m) {
    uint8_t s[12];
    for (int i = 0; i < 12; i++) s[i] = cell[lm_kq_scm(q5) + 16 * i + l];
    lm_kq_scale_min(s, j, sc, m);
}

/* The descriptors' parts (kq45.c); q5 picks Q5_K. */
size_t lm_kq_pack_bytes(int rows, int cols, int q5);
void lm_kq_pack_part(lm_packed *out, void *mem, const void *blocks, int rows, int cols, int p0,
                     int p1, int q5);
void lm_kq_view(lm_packed *out, const void *mem, int rows, int cols, int q5);
void lm_kq_packed_row(const lm_packed *w, int r, float *out, int q5);

/* Activation sums for the mins: xsum[g] = the sum of the 32 int8 values of
 * group g of x[n] (n % 32 == 0), exact in int16 (|sum| <= 4096). */
void lm_kq_xsums(int16_t *xsum, const int8_t *x, int n);

#endif
