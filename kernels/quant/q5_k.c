/* Q5_K: ggml's block layout (kernels/qtypes.h), its dequantization and its
 * panels. Not implemented yet: the loader refuses a type whose descriptor has
 * no pack_part. */
#include "qtypes.h"

const lm_qtype lm_qtype_q5_k = {
    .type = LM_WT_Q5_K,
    .name = "Q5_K",
    .ggml_type = 13,
    .block_values = 256,
    .block_bytes = 176,
    .act_gs = 256,
    .version = 1,
    .dequant_row = lm_dequant_row_q5_k,
};
