/* Q4_K: ggml's block layout (kernels/qtypes.h) and its panels: the layout is
 * kernels/quant/kq45.h's, shared with Q5_K; kq45.c packs and reads it. */
#include "kq45.h"
#include "qtypes.h"

static size_t pack_bytes(int rows, int cols) { return lm_kq_pack_bytes(rows, cols, 0); }

static void pack_part(lm_packed *out, void *mem, const void *blocks, int rows, int cols, int p0,
                      int p1) {
    lm_kq_pack_part(out, mem, blocks, rows, cols, p0, p1, 0);
}

static void view(lm_packed *out, const void *mem, int rows, int cols) {
    lm_kq_view(out, mem, rows, cols, 0);
}

static void packed_row(const lm_packed *w, int r, float *out) { lm_kq_packed_row(w, r, out, 0); }

const lm_qtype lm_qtype_q4_k = {
    .type = LM_WT_Q4_K,
    .name = "Q4_K",
    .ggml_type = LM_GGML_Q4_K,
    .block_values = 256,
    .block_bytes = 144,
    .act_gs = 256,
    .version = 2,
    .dequant_row = lm_dequant_row_q4_k,
    .pack_bytes = pack_bytes,
    .pack_part = pack_part,
    .view = view,
    .packed_row = packed_row,
};
