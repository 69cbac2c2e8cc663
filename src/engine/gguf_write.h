/* A GGUF v3 writer (llama.cpp's format: ggml's docs/gguf.md): typed metadata,
 * then tensor infos, then the tensors' data, each at a multiple of the
 * alignment. General: any keys, any tensors; convert.c and quantize_gguf.c
 * write through it (the block encoders are quant_blocks.c's).
 *
 * The writer collects metadata and tensor descriptions in memory (not the
 * weights: a tensor's source is read only when lm_gguf_write reaches it, so a
 * model larger than memory streams through). A failing call (no memory, a
 * duplicate key or tensor, a shape its type cannot hold) marks the writer
 * failed; later calls do nothing and lm_gguf_write reports the first error.
 * No I/O but the FILE * given to lm_gguf_write, or lm_gguf_write_out's file. */
#ifndef LAMINA_GGUF_WRITE_H
#define LAMINA_GGUF_WRITE_H

#include <stdint.h>
#include <stdio.h>

#include "ggml_type.h"
#include "lamina.h"

/* Tensor types are kernels/ggml_type.h's ids (LM_GGML_F32 ...), which gguf.h
 * shares: the two headers go together in one file. */

/* "F32", "F16", "Q8_0", "BF16", "Q4_K"...: the types this writer writes; NULL for others
 * (gguf.h's lm_gguf_type_name names every ggml type). */
const char *lm_gguf_writable_name(lm_ggml_type t);
/* Values per block (1 for the float types, 32 for Q8_0) and bytes per block. */
int lm_gguf_block_values(lm_ggml_type t);
int lm_gguf_block_bytes(lm_ggml_type t);

/* The exact encodings (each a bit-for-bit twin of the numpy code llama.cpp's
 * gguf-py uses, so that its files and ours agree):
 * - F16: round to nearest even; overflow to infinity, subnormals kept, NaN
 *   stays NaN (as numpy's astype(float16));
 * - BF16: round to nearest even, NaN made quiet (ggml's fp32 -> bf16);
 * - Q8_0: per block d = max|x| / 127, q = roundf(x * (1 / d)) (0 when d is 0),
 *   d stored as F16 (ggml's quantize_row_q8_0_ref);
 * - Q4_0 .. Q6_K: ggml's reference quantizers (quant_blocks.c).
 * n is a multiple of lm_gguf_block_values(t); dst holds n / values * bytes. */
uint16_t lm_f32_to_f16(float x);
uint16_t lm_f32_to_bf16(float x);
void lm_gguf_encode(lm_ggml_type t, const float *src, void *dst, uint64_t n);

typedef struct lm_gguf_writer lm_gguf_writer;

/* alignment: a power of two, 1 or more (GGUF's default is 32); it is not
 * written as general.alignment unless the caller adds that key. */
lm_gguf_writer *lm_gguf_writer_new(uint32_t alignment, lm_error *err);
void lm_gguf_writer_free(lm_gguf_writer *w);

/* Metadata, written in the order added. Strings are bytes (len given for
 * arrays, NUL-terminated for single values). */
void lm_gguf_add_u32(lm_gguf_writer *w, const char *key, uint32_t v);
void lm_gguf_add_f32(lm_gguf_writer *w, const char *key, float v);
void lm_gguf_add_bool(lm_gguf_writer *w, const char *key, int v);
void lm_gguf_add_str(lm_gguf_writer *w, const char *key, const char *v);
void lm_gguf_add_str_array(lm_gguf_writer *w, const char *key, const char *const *v,
                           const uint32_t *len, uint64_t n);
void lm_gguf_add_f32_array(lm_gguf_writer *w, const char *key, const float *v, uint64_t n);
/* A value of GGUF value type `type` whose encoding (as a GGUF file holds it,
 * after the type: an array's element type, count and elements) is the given
 * bytes: a value copied from another file. */
void lm_gguf_add_raw(lm_gguf_writer *w, const char *key, uint32_t type, const void *value,
                     uint64_t n);
void lm_gguf_add_i32_array(lm_gguf_writer *w, const char *key, const int32_t *v, uint64_t n);

/* A tensor of n_dims (1..4) dimensions ne[] (innermost first, as GGUF lists
 * them), stored as `type`. Its values come from `data`, row-major (ne[0]
 * consecutive values a row): f32 (or f16 / bf16, widened exactly) values
 * encoded to `type`, or, when data_type == type, bytes copied as they are. data must stay valid
 * until lm_gguf_write. ne[0] must be a multiple of the type's block. */
void lm_gguf_add_tensor(lm_gguf_writer *w, const char *name, int n_dims, const uint64_t *ne,
                        lm_ggml_type type, const void *data, lm_ggml_type data_type);

/* The whole file to f (from its current position, taken as offset 0). 0, or
 * -1 with err: the writer's first error, or "write failed" (errno says why).
 * progress (may be NULL) is called after each tensor's data: bytes of tensor
 * data written so far and in all. */
int lm_gguf_write(lm_gguf_writer *w, FILE *f, lm_progress_fn *progress, void *arg, lm_error *err);
/* lm_gguf_write stops between tensors with "cancelled" once *cancel is
 * nonzero (lamina.h's lm_cancel_flag; NULL: never). */
void lm_gguf_writer_cancel_on(lm_gguf_writer *w, const volatile sig_atomic_t *cancel);

/* w's file written to out whole or not at all (file.h's lm_out_*: never over
 * the input, in_dev/in_ino), stopping once *cancel is set; a failure of the
 * writer reads "OUT: why". The end of convert and quantize. */
int lm_gguf_write_out(lm_gguf_writer *w, const char *out, uint64_t in_dev, uint64_t in_ino,
                      lm_progress_fn *progress, void *arg, const lm_cancel_flag *cancel,
                      lm_error *err);

#endif
