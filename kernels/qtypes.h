/* ggml's block-quantized weight types (Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K,
 * Q6_K): one descriptor per type, the one place that says how a type's file
 * blocks are read, dequantized and packed. Each type lives in its own file,
 * kernels/quant/<type>.c, which documents its panel layout; the products are
 * the kernel table's matmul_<type> (kernels.h), the order kernels/ORDER.md's
 * "Block-quantized weights". Plain C, no vector code. */
#ifndef LAMINA_KERNELS_QTYPES_H
#define LAMINA_KERNELS_QTYPES_H

#include <assert.h> /* static_assert, in C and C++ */
#include <stddef.h>
#include <stdint.h>

#include "ggml_type.h" /* the values of ggml_type below */
#include "kernels.h"

typedef struct lm_qtype {
    lm_wtype type;
    const char *name; /* ggml's name: "Q4_K" */
    int ggml_type;    /* the GGUF tensor type id (LM_GGML_Q4_K) */
    int block_values; /* values per block: 32, or 256 for the K types */
    int block_bytes;  /* bytes per block in a GGUF file */
    int act_gs;       /* the Q8 activation group its products take: 32 or 256 */
    int version;      /* raise when this type's panel layout changes (weights images) */

    /* ggml's fp32 values of one row from its file blocks (cols values,
     * cols % block_values == 0), computed with ggml's operations in ggml's
     * order (the values gguf-py's quants.dequantize gives, bit for bit). */
    void (*dequant_row)(float *out, const void *blocks, int cols);

    /* Bytes the panels of a [rows, cols] matrix take (a multiple of 64). */
    size_t (*pack_bytes)(int rows, int cols);

    /* Pack panels [p0, p1) (rows 16 p0 .. 16 p1) of the file's row-major
     * blocks into mem (pack_bytes, 64-byte aligned) and describe the whole
     * matrix in *out (type, rows, cols, blk, blk_bytes). Rows past `rows` in
     * the last panel are zero weights. */
    void (*pack_part)(lm_packed *out, void *mem, const void *blocks, int rows, int cols, int p0,
                      int p1);

    /* Describe in *out panels already packed at mem (a mapped image). */
    void (*view)(lm_packed *out, const void *mem, int rows, int cols);

    /* Row r of packed panels as fp32: the same values as dequant_row. */
    void (*packed_row)(const lm_packed *w, int r, float *out);
} lm_qtype;

/* The descriptor of a block type; NULL for F32, Q8_0, F16, BF16. */
const lm_qtype *lm_qtype_of(lm_wtype t);
/* The descriptor of a GGUF tensor type id; NULL if it is not a block type. */
const lm_qtype *lm_qtype_ggml(int ggml_type);
/* A kernel set's product for a block type (NULL for the other types). */
lm_matmul_blk_fn lm_kernels_blk(const lm_kernels *k, lm_wtype t);

/* ggml's file blocks, byte for byte (little-endian; d / dmin are IEEE half
 * bits). Sizes are the GGUF block sizes. */
typedef struct {
    uint16_t d;
    uint8_t qs[16]; /* value j < 16: qs[j] & 15; j >= 16: qs[j - 16] >> 4; minus 8 */
} lm_block_q4_0;
typedef struct {
    uint16_t d, m;
    uint8_t qs[16]; /* as Q4_0, no offset: w = d q + m */
} lm_block_q4_1;
typedef struct {
    uint16_t d;
    uint8_t qh[4];  /* bit j (little-endian uint32): the 5th bit of value j */
    uint8_t qs[16]; /* low 4 bits as Q4_0; minus 16 */
} lm_block_q5_0;
typedef struct {
    uint16_t d, m;
    uint8_t qh[4];
    uint8_t qs[16];
} lm_block_q5_1;
typedef struct {
    uint16_t d, dmin;
    uint8_t scales[12]; /* 8 six-bit scales and 8 six-bit mins, packed */
    uint8_t qs[128];
} lm_block_q4_k;
typedef struct {
    uint16_t d, dmin;
    uint8_t scales[12];
    uint8_t qh[32];
    uint8_t qs[128];
} lm_block_q5_k;
typedef struct {
    uint8_t ql[128];
    uint8_t qh[64];
    int8_t scales[16];
    uint16_t d;
} lm_block_q6_k;

static_assert(sizeof(lm_block_q4_0) == 18, "Q4_0 block");
static_assert(sizeof(lm_block_q4_1) == 20, "Q4_1 block");
static_assert(sizeof(lm_block_q5_0) == 22, "Q5_0 block");
static_assert(sizeof(lm_block_q5_1) == 24, "Q5_1 block");
static_assert(sizeof(lm_block_q4_k) == 144, "Q4_K block");
static_assert(sizeof(lm_block_q5_k) == 176, "Q5_K block");
static_assert(sizeof(lm_block_q6_k) == 210, "Q6_K block");

/* One descriptor per type, each defined in its kernels/quant/<type>.c. */
extern const lm_qtype lm_qtype_q4_0, lm_qtype_q4_1, lm_qtype_q5_0, lm_qtype_q5_1;
extern const lm_qtype lm_qtype_q4_k, lm_qtype_q5_k, lm_qtype_q6_k;

/* ggml's fp32 values of one row of file blocks (kernels/quant/dequant.c; the
 * descriptors' dequant_row): ORDER.md's "Dequantized values". */
void lm_dequant_row_q4_0(float *out, const void *blocks, int cols);
void lm_dequant_row_q4_1(float *out, const void *blocks, int cols);
void lm_dequant_row_q5_0(float *out, const void *blocks, int cols);
void lm_dequant_row_q5_1(float *out, const void *blocks, int cols);
void lm_dequant_row_q4_k(float *out, const void *blocks, int cols);
void lm_dequant_row_q5_k(float *out, const void *blocks, int cols);
void lm_dequant_row_q6_k(float *out, const void *blocks, int cols);
/* Sub-block j's 6-bit scale and min from a Q4_K / Q5_K scales[12]. */
void lm_k_scale_min(const uint8_t *scales, int j, int *sc, int *m);
/* The integer value (-32..31) of value k (0..255) of a Q6_K block. */
int lm_q6_k_value(const lm_block_q6_k *b, int k);

#endif
