/* Q5_0: ggml's block layout (kernels/qtypes.h), its dequantization and its
 * panels. Not implemented yet: the loader refuses a type whose descriptor has
 * no pack_part. */
#include "qtypes.h"

const lm_qtype lm_qtype_q5_0 = {
    .type = LM_WT_Q5_0,
    .name = "Q5_0",
    .ggml_type = 6,
    .block_values = 32,
    .block_bytes = 22,
    .act_gs = 32,
    .version = 1,
    .dequant_row = lm_dequant_row_q5_0,
};
