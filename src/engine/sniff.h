/* What a file is, from its first bytes: format sniffing, apart from opening
 * (file.h). A loader that fails asks lm_file_explain whether the input is
 * recognisably another kind of file, so the user reads "this is a tokenizer"
 * instead of a complaint about a header field. lm_file_is_gguf (lamina.h)
 * lives in sniff.c too; lm_gguf_is (gguf.h) is the one test of GGUF's magic. */
#ifndef LAMINA_SNIFF_H
#define LAMINA_SNIFF_H

#include <stdint.h>

#include "lamina.h"

/* What the first bytes of a file that failed to load as `want` look like: when
 * they are recognisably another kind of file (a tokenizer given as a model, a
 * sentencepiece .model given as a tokenizer, GGUF, ...), err is replaced by a
 * message naming it and 1 is returned; otherwise 0 and err is kept. */
enum { LM_WANT_CHECKPOINT, LM_WANT_TOKENIZER };
int lm_file_explain(const char *path, const uint8_t *p, uint64_t size, int want, lm_error *err);

#endif
