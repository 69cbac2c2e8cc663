/* Q5_1: ggml's block layout (kernels/qtypes.h), its dequantization and its
 * panels. The panel layout is the one of every legacy 32-value type, written
 * in kernels/quant/qlegacy.h. dequant_row is kernels/quant/dequant.c's. */
#include "qlegacy.h"

LM_QL_DEFINE(q5_1, LM_WT_Q5_1, 24, 1, 1, 0)

const lm_qtype lm_qtype_q5_1 = {
    .type = LM_WT_Q5_1,
    .name = "Q5_1",
    .ggml_type = LM_GGML_Q5_1,
    .block_values = 32,
    .block_bytes = 24,
    .act_gs = 32,
    .version = 1,
    .dequant_row = lm_dequant_row_q5_1,
    .pack_bytes = q5_1_pack_bytes,
    .pack_part = q5_1_pack_part,
    .view = q5_1_view,
    .packed_row = q5_1_packed_row,
};
