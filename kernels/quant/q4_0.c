/* Q4_0: ggml's block layout (kernels/qtypes.h), its dequantization and its
 * panels. The panel layout is the one of every legacy 32-value type, written
 * in kernels/quant/qlegacy.h. dequant_row is kernels/quant/dequant.c's. */
#include "qlegacy.h"

LM_QL_DEFINE(q4_0, LM_WT_Q4_0, 18, 0, 0, 8)

const lm_qtype lm_qtype_q4_0 = {
    .type = LM_WT_Q4_0,
    .name = "Q4_0",
    .ggml_type = LM_GGML_Q4_0,
    .block_values = 32,
    .block_bytes = 18,
    .act_gs = 32,
    .version = 1,
    .dequant_row = lm_dequant_row_q4_0,
    .pack_bytes = q4_0_pack_bytes,
    .pack_part = q4_0_pack_part,
    .view = q4_0_view,
    .packed_row = q4_0_packed_row,
};
