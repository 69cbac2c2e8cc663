/* Q4_K: ggml's block layout (kernels/qtypes.h), its dequantization and its
 * panels. Not implemented yet: the loader refuses a type whose descriptor has
 * no pack_part. */
#include "qtypes.h"

const lm_qtype lm_qtype_q4_k = {
    .type = LM_WT_Q4_K,
    .name = "Q4_K",
    .ggml_type = 12,
    .block_values = 256,
    .block_bytes = 144,
    .act_gs = 256,
    .version = 1,
    .dequant_row = lm_dequant_row_q4_k,
};
