/* llama-quantize's per-tensor types for a file type (llama-quant.cpp's
 * llama_tensor_get_type, for the llama architecture without experts and
 * without an importance matrix). */
#ifndef LAMINA_QUANT_MIX_H
#define LAMINA_QUANT_MIX_H

#include <stdint.h>

#include "ggml_type.h"
#include "lamina.h"

typedef struct lm_quant_mix {
    lm_quant_type type;
    int n_layers;
    int tied;       /* no output.weight: token_embd takes the output's type */
    int i_attn_v;   /* attn_v tensors seen so far, in file order */
    int i_ffn_down; /* likewise ffn_down */
} lm_quant_mix;

void lm_quant_mix_init(lm_quant_mix *m, lm_quant_type type, int n_layers, int tied);
/* The type of the next tensor (call in file order): 1-D tensors and norms
 * F32; output.weight (or a tied token_embd) Q6_K unless the mix is Q8_0 or its
 * rows are not whole blocks (then Q8_0); attn_v / ffn_down with more bits in
 * llama.cpp's layers for the _M and _S mixes; then the fallback for rows that
 * are not whole blocks (Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0; F16 when
 * even 32 does not divide them). */
lm_ggml_type lm_quant_mix_pick(lm_quant_mix *m, const char *name, int n_dims, uint64_t ne0);
/* general.file_type (llama_ftype) of the mix. */
uint32_t lm_quant_file_type(lm_quant_type t);

#endif
