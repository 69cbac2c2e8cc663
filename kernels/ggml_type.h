/* ggml's tensor type ids (ggml.h's enum ggml_type, the GGUF spec's
 * GGML_TYPE_*), as a GGUF file stores them: the one home of these numbers for
 * the GGUF reader and writer (src/engine/gguf*.h), quantize, convert and the
 * block types' descriptors (qtypes.h). Here in kernels/ because kernels/ must
 * not include src/engine's headers while the engine includes kernels'. Only
 * the types lamina reads or writes are named; gguf.c's table knows the block
 * sizes of every type llama.cpp defines. */
#ifndef LAMINA_KERNELS_GGML_TYPE_H
#define LAMINA_KERNELS_GGML_TYPE_H

typedef enum lm_ggml_type {
    LM_GGML_F32 = 0,
    LM_GGML_F16 = 1,
    LM_GGML_Q4_0 = 2,
    LM_GGML_Q4_1 = 3,
    LM_GGML_Q5_0 = 6,
    LM_GGML_Q5_1 = 7,
    LM_GGML_Q8_0 = 8, /* blocks of 32: an fp16 scale, 32 int8 */
    LM_GGML_Q4_K = 12,
    LM_GGML_Q5_K = 13,
    LM_GGML_Q6_K = 14,
    LM_GGML_BF16 = 30,
} lm_ggml_type;

#endif
