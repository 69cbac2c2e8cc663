/* Q4_1: ggml's block layout (kernels/qtypes.h), its dequantization and its
 * panels. The panel layout is the one of every legacy 32-value type, written
 * in kernels/quant/qlegacy.h. dequant_row is kernels/quant/dequant.c's. */
#include "qlegacy.h"

LM_QL_DEFINE(q4_1, LM_WT_Q4_1, 20, 1, 0, 0)

const lm_qtype lm_qtype_q4_1 = {
    .type = LM_WT_Q4_1,
    .name = "Q4_1",
    .ggml_type = LM_GGML_Q4_1,
    .block_values = 32,
    .block_bytes = 20,
    .act_gs = 32,
    .version = 1,
    .dequant_row = lm_dequant_row_q4_1,
    .pack_bytes = q4_1_pack_bytes,
    .pack_part = q4_1_pack_part,
    .view = q4_1_view,
    .packed_row = q4_1_packed_row,
};
