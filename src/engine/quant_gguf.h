/* lm_quantize_gguf's GGUF input (quantize_gguf.c), and the writing of a
 * GGUF file that it and lm_convert_file share. */
#ifndef LAMINA_QUANT_GGUF_H
#define LAMINA_QUANT_GGUF_H

#include <stdint.h>

#include "lamina.h"

/* gguf_write.h's writer, named here without that header (its enumerators
 * clash with gguf.h's, which quantize_gguf.c includes). */
typedef struct lm_gguf_writer lm_gguf_writer;

int lm_quantize_from_gguf(const char *in, const char *out, lm_quant_type type,
                          lm_progress_fn *progress, void *arg, const lm_cancel_flag *cancel,
                          lm_error *err);

/* w's file written to out whole or not at all (file.h's lm_out_*: never over
 * the input, in_dev/in_ino), stopping once *cancel is set; a failure of the
 * writer reads "OUT: why". */
int lm_gguf_write_out(lm_gguf_writer *w, const char *out, uint64_t in_dev, uint64_t in_ino,
                      lm_progress_fn *progress, void *arg, const lm_cancel_flag *cancel,
                      lm_error *err);

#endif
