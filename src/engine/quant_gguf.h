/* lm_quantize_gguf's GGUF input (quantize_gguf.c). */
#ifndef LAMINA_QUANT_GGUF_H
#define LAMINA_QUANT_GGUF_H

#include <stdint.h>

#include "lamina.h"

int lm_quantize_from_gguf(const char *in, const char *out, lm_quant_type type,
                          lm_progress_fn *progress, void *arg, const lm_cancel_flag *cancel,
                          lm_error *err);

#endif
