/* Packing and reading the Q4_K / Q5_K panels (layout in kq45.h). */
#include "kq45.h"

#include <omp.h>
#include <string.h>

#include "half.h"
#include "qtypes.h"

static size_t kq_panels(int rows) { return ((size_t)rows + LM_PANEL - 1) / LM_PANEL; }

size_t lm_kq_pack_bytes(int rows, int cols, int q5) {
    return kq_panels(rows) * (size_t)(cols / 256) * lm_kq_cell(q5);
}

/* Row l of one cell from the file block at src (unaligned: copied first). */
static void pack_row(uint8_t *cell, int l, const uint8_t *src, int q5) {
    const uint8_t *qs, *qh = NULL, *scales;
    uint16_t d, dmin;
    lm_block_q4_k b4;
    lm_block_q5_k b5;
    if (q5) {
        memcpy(&b5, src, sizeof b5);
        qs = b5.qs, qh = b5.qh, scales = b5.scales, d = b5.d, dmin = b5.dmin;
    } else {
        memcpy(&b4, src, sizeof b4);
        qs = b4.qs, scales = b4.scales, d = b4.d, dmin = b4.dmin;
    }
    for (int c = 0; c < 4; c++)
        for (int s = 0; s < 8; s++) memcpy(cell + c * 512 + s * 64 + l * 4, qs + 32 * c + 4 * s, 4);
    if (q5)
        for (int s = 0; s < 8; s++) memcpy(cell + LM_KQ_QH + s * 64 + l * 4, qh + 4 * s, 4);
    for (int i = 0; i < 12; i++) cell[lm_kq_scm(q5) + 16 * i + l] = scales[i];
    memcpy(cell + lm_kq_d(q5) + 2 * l, &d, 2);
    memcpy(cell + lm_kq_dmin(q5) + 2 * l, &dmin, 2);
}

void lm_kq_pack_part(lm_packed *out, void *mem, const void *blocks, int rows, int cols, int p0,
                     int p1, int q5) {
    const int nsb = cols / 256;
    const size_t cell = lm_kq_cell(q5), bb = q5 ? sizeof(lm_block_q5_k) : sizeof(lm_block_q4_k);
    uint8_t *dst = mem;
    const uint8_t *src = blocks;
    int threads =
        omp_get_max_threads() < omp_get_num_procs() ? omp_get_max_threads() : omp_get_num_procs();
#pragma omp parallel for schedule(static) num_threads(threads)
    for (long p = p0; p < p1; p++)
        for (int b = 0; b < nsb; b++) {
            uint8_t *c = dst + ((size_t)p * (size_t)nsb + (size_t)b) * cell;
            memset(c, 0, cell); /* rows past `rows`: zero weights */
            for (int l = 0; l < LM_PANEL; l++) {
                size_t r = (size_t)p * LM_PANEL + (size_t)l;
                if (r < (size_t)rows) pack_row(c, l, src + (r * (size_t)nsb + (size_t)b) * bb, q5);
            }
        }
    lm_kq_view(out, mem, rows, cols, q5);
}

void lm_kq_view(lm_packed *out, const void *mem, int rows, int cols, int q5) {
    *out = (lm_packed){.rows = rows,
                       .cols = cols,
                       .type = q5 ? LM_WT_Q5_K : LM_WT_Q4_K,
                       .blk = mem,
                       .blk_bytes = lm_kq_pack_bytes(rows, cols, q5)};
}

/* ggml's dequantization, ((d * sc) * q) - (dmin * m), from the panels. */
void lm_kq_packed_row(const lm_packed *w, int r, float *out, int q5) {
    const int p = r / LM_PANEL, l = r % LM_PANEL;
    for (int b = 0; b < w->cols / 256; b++) {
        const uint8_t *cell = lm_kq_cell_at(w, p, b, q5);
        uint16_t hd, hm;
        memcpy(&hd, cell + lm_kq_d(q5) + 2 * l, 2);
        memcpy(&hm, cell + lm_kq_dmin(q5) + 2 * l, 2);
        const float d = lm_f16_to_f32(hd), dmin = lm_f16_to_f32(hm);
        for (int j = 0; j < 8; j++) {
            int sc, m;
            lm_kq_cell_scale_min(cell, q5, l, j, &sc, &m);
            const float d1 = d * (float)sc, m1 = dmin * (float)m;
            for (int k = 0; k < 32; k++) {
                int off = (k / 4) * 64 + l * 4 + k % 4;
                int q = cell[LM_KQ_QS + (j / 2) * 512 + off];
                q = j & 1 ? q >> 4 : q & 15;
                if (q5) q |= ((cell[LM_KQ_QH + off] >> j) & 1) << 4;
                out[b * 256 + j * 32 + k] = d1 * (float)q - m1;
            }
        }
    }
}

void lm_kq_xsums(int16_t *xsum, const int8_t *x, int n) {
    for (int g = 0; g < n / 32; g++) {
        int s = 0;
        for (int k = 0; k < 32; k++) s += x[g * 32 + k];
        xsum[g] = (int16_t)s;
    }
}
