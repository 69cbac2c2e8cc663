/* Q5_1: ggml's block layout (kernels/qtypes.h), its dequantization and its
 * panels. Not implemented yet: the loader refuses a type whose descriptor has
 * no pack_part. */
#include "qtypes.h"

const lm_qtype lm_qtype_q5_1 = {
    .type = LM_WT_Q5_1,
    .name = "Q5_1",
    .ggml_type = 7,
    .block_values = 32,
    .block_bytes = 24,
    .act_gs = 32,
    .version = 1,
    .dequant_row = lm_dequant_row_q5_1,
};
