/* Panels for the products: see lm_packed in kernels.h for the layout and
 * the order of arithmetic it serves. */
#include "pack.h"
#include "qtypes.h"

#include <omp.h>
#include <string.h>

#include "half.h"

/* Threads for a packing loop: OpenMP's default (OMP_NUM_THREADS), at most one
 * per CPU. libgomp sizes a team's bookkeeping on the stack: OMP_NUM_THREADS=
 * 100000 overflowed it (SIGSEGV) at the first loop, --threads 1 or not. */
static int pack_threads(void) {
    int n = omp_get_max_threads(), cpus = omp_get_num_procs();
    return n < cpus ? n : cpus;
}

/* Columns a panel is filled in at a time: 16 x 64 bytes of f32 output. */
#define TILE_K 64

static size_t n_panels(int rows) { return ((size_t)rows + LM_PANEL - 1) / LM_PANEL; }

int lm_pack_q8_panels(int cols, int gs) { return gs > 0 && gs % 4 == 0 && cols % gs == 0; }

static size_t round64(size_t b) { return (b + 63) / 64 * 64; }

size_t lm_pack_bytes(int rows, int cols, int gs) {
    size_t cells = n_panels(rows) * LM_PANEL * (size_t)cols;
    if (!gs) return cells * sizeof(float);
    if (!lm_pack_q8_panels(cols, gs)) {
        size_t n = (size_t)rows * (size_t)cols;
        return round64(n) + (n / (size_t)gs) * sizeof(float);
    }
    return round64(cells) + cells / (size_t)gs * sizeof(float);
}

size_t lm_pack_bytes_type(lm_wtype type, int rows, int cols, int gs) {
    switch (type) {
    case LM_WT_F16:
    case LM_WT_BF16: return round64(n_panels(rows) * LM_PANEL * (size_t)cols * sizeof(uint16_t));
    case LM_WT_Q8_0: return lm_pack_bytes(rows, cols, gs);
    case LM_WT_F32: return lm_pack_bytes(rows, cols, 0);
    default: return lm_qtype_of(type)->pack_bytes(rows, cols);
    }
}

void lm_pack_f32_part(lm_packed *out, void *mem, const float *w, int rows, int cols, int p0,
                      int p1) {
    float *dst = mem;
#pragma omp parallel for schedule(static) num_threads(pack_threads())
    for (long p = p0; p < p1; p++) {
        float *panel = dst + (size_t)p * LM_PANEL * (size_t)cols;
        /* in tiles of TILE_K columns: the tile's cache lines stay in L1 while
         * all 16 rows fill them (row by row over whole columns, every line
         * of a wide panel was fetched 16 times) */
        for (int k0 = 0; k0 < cols; k0 += TILE_K) {
            int k1 = k0 + TILE_K < cols ? k0 + TILE_K : cols;
            for (int l = 0; l < LM_PANEL; l++) {
                int r = (int)p * LM_PANEL + l;
                const float *row = w + (size_t)r * (size_t)cols;
                for (int k = k0; k < k1; k++)
                    panel[(size_t)k * LM_PANEL + l] = r < rows ? row[k] : 0.0f;
            }
        }
    }
    *out = (lm_packed){.rows = rows, .cols = cols, .type = LM_WT_F32, .f32 = dst};
}

/* The f32 panels with 16-bit values; w's bytes are read with memcpy, as a
 * tensor in a file image need not be 2-byte aligned. */
static void pack_16_part(lm_packed *out, lm_wtype type, void *mem, const void *w, int rows,
                         int cols, int p0, int p1) {
    uint16_t *dst = mem;
    const unsigned char *src = w;
#pragma omp parallel for schedule(static) num_threads(pack_threads())
    for (long p = p0; p < p1; p++) {
        uint16_t *panel = dst + (size_t)p * LM_PANEL * (size_t)cols;
        for (int k0 = 0; k0 < cols; k0 += TILE_K) { /* tiles: as lm_pack_f32_part */
            int k1 = k0 + TILE_K < cols ? k0 + TILE_K : cols;
            for (int l = 0; l < LM_PANEL; l++) {
                int r = (int)p * LM_PANEL + l;
                if (r >= rows) { /* tail rows of the last panel are zero */
                    for (int k = k0; k < k1; k++) panel[(size_t)k * LM_PANEL + l] = 0;
                    continue;
                }
                const unsigned char *row = src + (size_t)r * (size_t)cols * sizeof(uint16_t);
                for (int k = k0; k < k1; k++)
                    memcpy(&panel[(size_t)k * LM_PANEL + l], row + (size_t)k * sizeof(uint16_t),
                           sizeof(uint16_t));
            }
        }
    }
    *out = (lm_packed){.rows = rows, .cols = cols, .type = type, .h = dst};
}

void lm_pack_f16_part(lm_packed *out, void *mem, const void *w, int rows, int cols, int p0,
                      int p1) {
    pack_16_part(out, LM_WT_F16, mem, w, rows, cols, p0, p1);
}

void lm_pack_bf16_part(lm_packed *out, void *mem, const void *w, int rows, int cols, int p0,
                       int p1) {
    pack_16_part(out, LM_WT_BF16, mem, w, rows, cols, p0, p1);
}

void lm_pack_f16(lm_packed *out, void *mem, const void *w, int rows, int cols) {
    lm_pack_f16_part(out, mem, w, rows, cols, 0, (int)n_panels(rows));
}

void lm_pack_bf16(lm_packed *out, void *mem, const void *w, int rows, int cols) {
    lm_pack_bf16_part(out, mem, w, rows, cols, 0, (int)n_panels(rows));
}

void lm_pack_f32(lm_packed *out, void *mem, const float *w, int rows, int cols) {
    lm_pack_f32_part(out, mem, w, rows, cols, 0, (int)n_panels(rows));
}

/* Rows [r0, r1) of a shape without panels: the file's layout, copied. */
static void copy_flat(lm_packed *out, void *mem, const lm_q8 *w, int cols, size_t r0, size_t r1,
                      size_t rows) {
    const int gs = w->gs;
    size_t n = rows * (size_t)cols, a = r0 * (size_t)cols, b = r1 * (size_t)cols;
    int8_t *q = mem;
    float *s = (float *)((char *)mem + round64(n));
    /* groups may straddle rows here: take every group that [a, b) touches */
    size_t ga = a / (size_t)gs, gb = (b + (size_t)gs - 1) / (size_t)gs;
    memcpy(q + a, w->q + a, b - a);
    memcpy(s + ga, w->s + ga, (gb - ga) * sizeof(float));
    out->flat = (lm_q8){q, s, gs};
}

void lm_pack_q8_part(lm_packed *out, void *mem, const lm_q8 *w, int rows, int cols, int p0,
                     int p1) {
    const int gs = w->gs;
    *out = (lm_packed){.rows = rows, .cols = cols, .type = LM_WT_Q8_0, .gs = gs};
    if (!lm_pack_q8_panels(cols, gs)) {
        size_t r1 = (size_t)p1 * LM_PANEL;
        copy_flat(out, mem, w, cols, (size_t)p0 * LM_PANEL, r1 < (size_t)rows ? r1 : (size_t)rows,
                  (size_t)rows);
        return;
    }
    size_t cells = n_panels(rows) * LM_PANEL * (size_t)cols;
    int8_t *q = mem;
    float *s = (float *)((char *)mem + round64(cells));
    const int groups = cols / gs;
#pragma omp parallel for schedule(static) num_threads(pack_threads())
    for (long p = p0; p < p1; p++) {
        int8_t *qp = q + (size_t)p * LM_PANEL * (size_t)cols;
        float *sp = s + (size_t)p * LM_PANEL * (size_t)groups;
        /* 4 consecutive k of row l go to bytes 4l.. of each 64-byte cell;
         * in tiles of 4 TILE_K columns (TILE_K cells), as lm_pack_f32_part */
        for (int k0 = 0; k0 < cols; k0 += 4 * TILE_K) {
            int k1 = k0 + 4 * TILE_K < cols ? k0 + 4 * TILE_K : cols;
            for (int l = 0; l < LM_PANEL; l++) {
                int r = (int)p * LM_PANEL + l;
                const int8_t *row = w->q + (size_t)r * (size_t)cols;
                for (int k = k0; k < k1; k += 4) {
                    int8_t *cell = qp + (size_t)(k / 4) * 64 + l * 4;
                    if (r < rows)
                        memcpy(cell, row + k, 4);
                    else
                        memset(cell, 0, 4);
                }
            }
        }
        for (int l = 0; l < LM_PANEL; l++) {
            int r = (int)p * LM_PANEL + l;
            for (int g = 0; g < groups; g++)
                sp[(size_t)g * LM_PANEL + l] =
                    r < rows ? w->s[(size_t)r * (size_t)groups + (size_t)g] : 0.0f;
        }
    }
    out->q = q;
    out->s = s;
}

void lm_pack_q8(lm_packed *out, void *mem, const lm_q8 *w, int rows, int cols) {
    lm_pack_q8_part(out, mem, w, rows, cols, 0, (int)n_panels(rows));
}

void lm_pack_view(lm_packed *out, lm_wtype type, const void *mem, int rows, int cols, int gs) {
    *out = (lm_packed){.rows = rows, .cols = cols, .type = type};
    const char *b = mem;
    const lm_qtype *qt = lm_qtype_of(type);
    if (qt) {
        qt->view(out, mem, rows, cols);
    } else if (type == LM_WT_F32) {
        out->f32 = mem;
    } else if (type == LM_WT_F16 || type == LM_WT_BF16) {
        out->h = mem;
    } else if (lm_pack_q8_panels(cols, gs)) {
        out->gs = gs;
        out->q = mem;
        out->s = (const float *)(b + round64(n_panels(rows) * LM_PANEL * (size_t)cols));
    } else {
        out->gs = gs;
        size_t n = (size_t)rows * (size_t)cols;
        out->flat = (lm_q8){mem, (const float *)(b + round64(n)), gs};
    }
}

void lm_packed_row(const lm_packed *w, int r, float *out) {
    const int n = w->cols, l = r % LM_PANEL;
    const size_t p = (size_t)(r / LM_PANEL);
    if (w->blk) {
        lm_qtype_of(w->type)->packed_row(w, r, out);
    } else if (w->h) {
        const uint16_t *panel = w->h + p * LM_PANEL * (size_t)n;
        for (int k = 0; k < n; k++) {
            uint16_t v = panel[(size_t)k * LM_PANEL + l];
            out[k] = w->type == LM_WT_BF16 ? lm_bf16_to_f32(v) : lm_f16_to_f32(v);
        }
    } else if (w->f32) {
        const float *panel = w->f32 + p * LM_PANEL * (size_t)n;
        for (int k = 0; k < n; k++) out[k] = panel[(size_t)k * LM_PANEL + l];
    } else if (w->q) {
        const int8_t *qp = w->q + p * LM_PANEL * (size_t)n;
        const float *sp = w->s + p * LM_PANEL * (size_t)(n / w->gs);
        for (int k = 0; k < n; k++)
            out[k] = (float)qp[(size_t)(k / 4) * 64 + l * 4 + k % 4] *
                     sp[(size_t)(k / w->gs) * LM_PANEL + l];
    } else {
        size_t row = (size_t)r * (size_t)n;
        for (int k = 0; k < n; k++)
            out[k] = (float)w->flat.q[row + k] * w->flat.s[(row + k) / (size_t)w->flat.gs];
    }
}
