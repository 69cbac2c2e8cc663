/* Q6_K panel layout constants shared by the descriptor (q6_k.c) and the
 * kernels of every set; q6_k.c documents the layout. */
#ifndef LAMINA_KERNELS_QUANT_Q6_K_H
#define LAMINA_KERNELS_QUANT_Q6_K_H

#include <stdint.h>
#include <string.h>

#include "half.h"

/* One unit: 16 rows of one 256-value super-block. */
#define LM_Q6K_UNIT 3360
#define LM_Q6K_D 0      /* 16 d as the file's half bits, row l at [l] */
#define LM_Q6K_SC 32    /* 8 x 32 bytes of int8 scales */
#define LM_Q6K_VALS 288 /* 32 groups of 96 bytes (8 k of 16 rows each) */
#define LM_Q6K_GROUP 96

/* The 6-bit value u (q + 32, 0..63) of row l (0..15), k (0..255) in a unit. */
static inline int lm_q6k_u(const uint8_t *unit, int l, int k) {
    const uint8_t *g = unit + LM_Q6K_VALS + (k / 8) * LM_Q6K_GROUP;
    int cell = (k / 4) & 1, b = (l & 7) * 4 + (k & 3), top = l >> 3;
    int lo = (g[cell * 32 + b] >> (4 * top)) & 15;
    int hi = (g[64 + b] >> (4 * cell + 2 * top)) & 3;
    return lo | hi << 4;
}

/* The int8 scale of row l, sub-block j (0..15) in a unit. */
static inline int lm_q6k_sc(const uint8_t *unit, int l, int j) {
    return (int8_t)unit[LM_Q6K_SC + (j / 2) * 32 + (l >> 3) * 16 + (l & 7) * 2 + (j & 1)];
}

/* d of row l in a unit, widened exactly. */
static inline float lm_q6k_d(const uint8_t *unit, int l) {
    uint16_t h;
    memcpy(&h, unit + LM_Q6K_D + 2 * l, 2);
    return lm_f16_to_f32(h);
}

#endif
