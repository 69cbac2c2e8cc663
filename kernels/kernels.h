/* The kernel table: every hot operation of the forward pass, behind one struct
 * of function pointers. forward.c calls only through this table and never
 * names an ISA; dispatch.c fills it once from the detected CPU features.
 *
 * Two words for two things, here and in the engine (src/engine/internal.h):
 * an OUTPUT ROW is row i of a weight matrix w [rows, cols]: one output of a
 * product, y[t][i] for every token; "row" in this folder always means that.
 * A TOKEN is one token of some sequence at some position going through the
 * forward pass: its activations are x[t] of x [T, n] (T counts the tokens of
 * a call), and it is "tok" in the engine's names.
 *
 * Conventions shared by every implementation:
 * - Pointers may be unaligned; every size may have a tail that is not a
 *   multiple of the vector width (hidden_dim 172, head_size 8, ...).
 * - Weight matrices are packed at load into panels of LM_PANEL rows
 *   (lm_packed below, kernels/pack.h); activations are row-major [T, n].
 * - Kernels never open OpenMP regions. Products take a row range [r0, r1) of
 *   the output so that the caller can split rows across its threads; a kernel
 *   writes only those rows, so each output element has exactly one writer.
 *   The caller starts ranges at multiples of LM_ROW_BLOCK, and a row's value
 *   must not depend on the range it was computed in (bit for bit), so that the
 *   output does not depend on the thread count.
 * - This header is included by ISA-specific files: it holds declarations and
 *   plain types only, never vector types or inline code. */
#ifndef LAMINA_KERNELS_H
#define LAMINA_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* Q8_0 tensor: int8 values with one fp32 scale per group of `gs` consecutive
 * values of the tensor flattened row-major, so element e uses s[e / gs].
 * Weight rows need not start on a group boundary (w2 of stories42M). */
typedef struct lm_q8 {
    const int8_t *q;
    const float *s;
    int gs;
} lm_q8;

/* Quantized activations: each of the T tokens' n values is quantized on its
 * own in groups of gs (the last group of a token may be partial), so token
 * t's values start at q + t * n and its scales at s + t * lm_q8_groups(n, gs). */
typedef struct lm_q8_act {
    int8_t *q;
    float *s;
    int gs;
} lm_q8_act;

/* Row ranges given to the products start at multiples of this. */
#define LM_ROW_BLOCK 16

static inline int lm_q8_groups(int n, int gs) { return (n + gs - 1) / gs; }

/* ---- The order of the products (every kernel set, bit for bit) ----------
 *
 * f32: y[t][i] is one fp32 accumulator that starts at 0.0f and takes
 *   acc = fmaf(w[i][k], x[t][k], acc) for k = 0, 1, ..., n-1 in that order
 *   (fused multiply-add, k ascending). Nothing else: no split accumulators,
 *   no horizontal sums. So the bits of y[t][i] depend on row i of w and token
 *   t of x only, not on T, the row range, the thread count or the kernel set.
 *
 * Q8_0 (runq.c's order): per output element, val = 0.0f; for each group g of
 *   row i in order: isum = the exact int32 sum of q_w * q_x over the group
 *   (any integer order: it is exact); val = val + (((float)isum * s_w[g]) *
 *   s_x[g]), unfused: multiply, round, multiply, round, add, round (the build
 *   uses -ffp-contract=off; SIMD code uses mul, mul, add). Matrices whose
 *   groups straddle rows (n % gs != 0, stories42M's w2) or whose gs is not a
 *   multiple of 4 keep the file's layout and go through one generic loop on
 *   every kernel set (lm_matmul_q8_ref), which cuts each row wherever a weight
 *   or an activation group ends and adds the pieces in the same way.
 *
 * Layout that makes this order the fast one: panels of LM_PANEL = 16 rows with
 * rows in vector lanes and k running through memory, so each output row is a
 * lane accumulating in k order at every vector width (16 lanes AVX-512, 2 x 8
 * AVX2, 4 x 4 NEON). Tail rows of the last panel are zero.
 *
 * F16 / BF16 (GGUF's half and bfloat16 weights): the f32 order on the weights
 *   widened exactly to fp32 (every half and every bfloat16 is an fp32 value:
 *   F16C / AVX-512 vcvtph2ps, NEON fcvtl; bfloat16 bits << 16; kernels/half.h
 *   in plain C). So matmul_f16 / matmul_bf16 give the bits matmul_f32 gives
 *   on the widened matrix, with half the bytes read. */
#define LM_PANEL 16

/* What a packed matrix holds (lm_packed.type). */
typedef enum lm_wtype {
    LM_WT_F32 = 0,
    LM_WT_Q8_0,
    LM_WT_F16,
    LM_WT_BF16,
    /* ggml's block types (kernels/qtypes.h describes each; the panel layout
     * of each is written in its kernels/quant/<type>.c) */
    LM_WT_Q4_0,
    LM_WT_Q4_1,
    LM_WT_Q5_0,
    LM_WT_Q5_1,
    LM_WT_Q4_K,
    LM_WT_Q5_K,
    LM_WT_Q6_K,
} lm_wtype;

/* A packed weight matrix [rows, cols] (kernels/pack.h makes them); `type`
 * says which of the layouts below it holds.
 * - f32: panel p = f32 + p * 16 * cols; element (r, k) at [k * 16 + r % 16].
 * - Q8_0 (gs % 4 == 0, cols % gs == 0): panel p = q + p * 16 * cols bytes,
 *   element (r, k) at [(k / 4) * 64 + (r % 16) * 4 + k % 4] (4 consecutive k
 *   of 16 rows: one AVX-512 register, four NEON ones); scales of panel p at
 *   s + p * 16 * groups, group g of row r at [g * 16 + r % 16].
 * - Q8_0 otherwise: q == NULL and `flat` holds the file's row-major layout.
 * - F16 / BF16: the f32 layout with 16-bit values (IEEE half or bfloat16
 *   bits) at h: panel p = h + p * 16 * cols, element (r, k) at
 *   [k * 16 + r % 16]; f32, q and flat are unused. One k of a panel is 32
 *   bytes: one ymm widened to a zmm, two xmm to two ymm, four d to four q. */
typedef struct lm_packed {
    int rows, cols;
    lm_wtype type;
    const float *f32;
    const uint16_t *h;
    const int8_t *q;
    const float *s;
    int gs;
    lm_q8 flat;
    /* ggml block types (Q4_0 .. Q6_K): the packed panels, in the layout its
     * kernels/quant/<type>.c documents; blk_bytes is what they take. */
    const uint8_t *blk;
    size_t blk_bytes;
} lm_packed;

/* A product on ggml block weights (w->type Q4_0 .. Q6_K): the activations
 * are Q8 with x->gs == the type's act_gs (kernels/qtypes.h: 32 for the legacy
 * types, 256 for the K types), in the order of kernels/ORDER.md. */
typedef void (*lm_matmul_blk_fn)(float *y, const lm_q8_act *x, const lm_packed *w, int T, int r0,
                                 int r1);

typedef struct lm_kernels {
    const char *isa; /* "scalar", "avx2", "avx512", "avx512vnni", "neon", "neondot" */

    /* y[t * rows + i] = sum_k w(i, k) * x[t * cols + k] for t < T and
     * r0 <= i < r1, in the written order above (rows, cols from w). Writes
     * only those rows; r0 is normally a multiple of LM_ROW_BLOCK. */
    void (*matmul_f32)(float *y, const float *x, const lm_packed *w, int T, int r0, int r1);

    /* The same product with Q8_0 weights and activations (x->gs == w->gs),
     * in runq.c's order above. */
    void (*matmul_q8)(float *y, const lm_q8_act *x, const lm_packed *w, int T, int r0, int r1);

    /* The f32 product on F16 / BF16 weights (w->type LM_WT_F16 / LM_WT_BF16):
     * the bits of matmul_f32 on the exactly widened matrix, for any T, range. */
    void (*matmul_f16)(float *y, const float *x, const lm_packed *w, int T, int r0, int r1);
    void (*matmul_bf16)(float *y, const float *x, const lm_packed *w, int T, int r0, int r1);

    /* Products on ggml's block types (ORDER.md, "Block-quantized weights").
     * kernels/qtypes.h's lm_kernels_blk() picks one by type. */
    lm_matmul_blk_fn matmul_q4_0, matmul_q4_1, matmul_q5_0, matmul_q5_1;
    lm_matmul_blk_fn matmul_q4_k, matmul_q5_k, matmul_q6_k;

    /* Quantize one token's x[n] into q[n], s[lm_q8_groups(n, gs)]:
     * scale = max|x| / 127 per group, q = round_half_away(x / scale), q = 0
     * where scale is 0. Bit-exact across ISAs (the integer products depend on it). */
    void (*quantize_q8)(int8_t *q, float *s, const float *x, int n, int gs);

    /* o[i] = w[i] * x[i] / sqrt(mean(x^2) + eps). o may alias x. llama2.c's
     * files use eps = 1e-5f; a GGUF file says its own. */
    void (*rmsnorm)(float *o, const float *x, const float *w, int n, float eps);

    /* In place: x[i] = exp(x[i] - max) / sum. */
    void (*softmax)(float *x, int n);

    /* Rotate the pairs (v[2i], v[2i+1]) of each of the n / head_size heads by
     * the angle whose cosine and sine are cs[2i] and cs[2i+1] (i < head_size/2). */
    void (*rope)(float *v, int n, int head_size, const float *cs);

    /* One query head at one position, over n_pos cached positions:
     * att[p] = q . k[p] / sqrt(head_size), softmax, out = sum_p att[p] * v[p],
     * where k[p] = k + p * stride (likewise v). att is scratch of n_pos floats. */
    void (*attention)(float *out, const float *q, const float *k, const float *v, float *att,
                      int n_pos, int head_size, int stride);

    /* The same over an F16 KV cache (IEEE half bits): the bits of attention
     * on the keys and values widened exactly to fp32. */
    void (*attention_f16)(float *out, const float *q, const uint16_t *k, const uint16_t *v,
                          float *att, int n_pos, int head_size, int stride);

    /* a[i] = silu(a[i]) * b[i], silu(x) = x / (1 + exp(-x)). */
    void (*swiglu)(float *a, const float *b, int n);
} lm_kernels;

#endif
