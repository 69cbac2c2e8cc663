/* Repacking weight matrices into the panels of lm_packed (kernels.h), done
 * once at model load. Plain C; the work is split over OpenMP threads by panel
 * (the result does not depend on the thread count: it is a permutation). */
#ifndef LAMINA_KERNELS_PACK_H
#define LAMINA_KERNELS_PACK_H

#include "kernels.h"

/* The version of the panel layout lm_pack_* write (kernels.h, lm_packed):
 * raise it whenever pack.c's output changes for any input, so that weights
 * images written by an earlier layout (src/FORMATS.md, "Weights images") are
 * rebuilt instead of read. It and LM_PANEL are all that decide the layout
 * today; a layout that came to depend on the CPU or the kernel set would have
 * to join the image key (weights_image.c) too. */
#define LM_PACK_LAYOUT_VERSION 1

/* Whether Q8_0 weights of this shape get panels (else the file's layout). */
int lm_pack_q8_panels(int cols, int gs);

/* Bytes lm_pack_* needs for a matrix of this shape (gs 0 = fp32, else Q8_0). */
size_t lm_pack_bytes(int rows, int cols, int gs);

/* The same for any type (gs is read for LM_WT_Q8_0 only). F16 and BF16 take
 * 2 bytes a value (rows rounded up to panels of 16), rounded up to 64. */
size_t lm_pack_bytes_type(lm_wtype type, int rows, int cols, int gs);

/* Pack row-major fp32 w[rows, cols] into mem (lm_pack_bytes(rows, cols, 0)
 * bytes, 64-byte aligned) and describe it in *out. */
void lm_pack_f32(lm_packed *out, void *mem, const float *w, int rows, int cols);

/* Pack Q8_0 w (flattened groups, as in the file) likewise; a shape that gets
 * no panels is copied as it is into mem and described through out->flat. */
void lm_pack_q8(lm_packed *out, void *mem, const lm_q8 *w, int rows, int cols);

/* Pack row-major 16-bit weights w[rows, cols] (IEEE half for f16, bfloat16
 * for bf16, little-endian bits as in a GGUF file; w need not be aligned) into
 * mem (lm_pack_bytes_type(LM_WT_F16 or LM_WT_BF16, rows, cols, 0) bytes,
 * 64-byte aligned). The values are moved, not converted: the products widen
 * them. */
void lm_pack_f16(lm_packed *out, void *mem, const void *w, int rows, int cols);
void lm_pack_bf16(lm_packed *out, void *mem, const void *w, int rows, int cols);

/* Only panels [p0, p1) of the same packing (rows 16 p0 .. 16 p1 of w), with
 * *out described in full: a loader packs a large matrix slice by slice and
 * gives back each slice of its file image once packed. */
void lm_pack_f32_part(lm_packed *out, void *mem, const float *w, int rows, int cols, int p0,
                      int p1);
void lm_pack_q8_part(lm_packed *out, void *mem, const lm_q8 *w, int rows, int cols, int p0, int p1);
void lm_pack_f16_part(lm_packed *out, void *mem, const void *w, int rows, int cols, int p0, int p1);
void lm_pack_bf16_part(lm_packed *out, void *mem, const void *w, int rows, int cols, int p0,
                       int p1);

/* Describe in *out a matrix already packed at mem (by lm_pack_* for this
 * type and shape; gs for LM_WT_Q8_0 only), copying nothing: a mapped image. */
void lm_pack_view(lm_packed *out, lm_wtype type, const void *mem, int rows, int cols, int gs);

/* Row r of a packed matrix as fp32 (Q8_0 dequantized, F16 / BF16 widened
 * exactly as the products widen them) into out[cols]. */
void lm_packed_row(const lm_packed *w, int r, float *out);

#endif
