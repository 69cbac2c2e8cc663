/* ggml's reference quantizers, without an importance matrix, for the block
 * types lamina writes: what llama-quantize computes for each block of a row,
 * so that lamina's files have (at most) llama-quantize's error. */
#ifndef LAMINA_QUANT_BLOCKS_H
#define LAMINA_QUANT_BLOCKS_H

#include <stdint.h>

/* n values of src (a multiple of the type's block: 32, or 256 for the K
 * types) into blocks of ggml type ggml_type (2 Q4_0, 3 Q4_1, 6 Q5_0, 7 Q5_1,
 * 12 Q4_K, 13 Q5_K, 14 Q6_K). 0, or -1 for another type. */
int lm_quantize_blocks(int ggml_type, const float *src, void *dst, uint64_t n);

#endif
