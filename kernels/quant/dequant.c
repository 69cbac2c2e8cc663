/* ggml's dequantization of each block type: the fp32 values gguf-py's
 * quants.dequantize gives, bit for bit (kernels/ORDER.md, "Dequantized
 * values"). Every operation is one rounded fp32 operation in the written
 * association; the build forbids contraction, so no product is fused into the
 * following addition. */
#include "half.h"
#include "qtypes.h"

/* Value j of a 32-value block: low nibbles are values 0..15, high 16..31. */
static int nibble(const uint8_t *qs, int j) { return j < 16 ? qs[j] & 15 : qs[j - 16] >> 4; }

/* The 5th bit of value j of a Q5_0 / Q5_1 block (qh is a little-endian u32). */
static int high_bit(const uint8_t *qh, int j) { return (qh[j >> 3] >> (j & 7)) & 1; }

void lm_dequant_row_q4_0(float *out, const void *blocks, int cols) {
    const lm_block_q4_0 *b = blocks;
    for (int i = 0; i < cols / 32; i++, out += 32) {
        float d = lm_f16_to_f32(b[i].d);
        for (int j = 0; j < 32; j++) out[j] = (float)(nibble(b[i].qs, j) - 8) * d;
    }
}

void lm_dequant_row_q4_1(float *out, const void *blocks, int cols) {
    const lm_block_q4_1 *b = blocks;
    for (int i = 0; i < cols / 32; i++, out += 32) {
        float d = lm_f16_to_f32(b[i].d), m = lm_f16_to_f32(b[i].m);
        for (int j = 0; j < 32; j++) out[j] = (float)nibble(b[i].qs, j) * d + m;
    }
}

void lm_dequant_row_q5_0(float *out, const void *blocks, int cols) {
    const lm_block_q5_0 *b = blocks;
    for (int i = 0; i < cols / 32; i++, out += 32) {
        float d = lm_f16_to_f32(b[i].d);
        for (int j = 0; j < 32; j++) {
            int q = (nibble(b[i].qs, j) | high_bit(b[i].qh, j) << 4) - 16;
            out[j] = (float)q * d;
        }
    }
}

void lm_dequant_row_q5_1(float *out, const void *blocks, int cols) {
    const lm_block_q5_1 *b = blocks;
    for (int i = 0; i < cols / 32; i++, out += 32) {
        float d = lm_f16_to_f32(b[i].d), m = lm_f16_to_f32(b[i].m);
        for (int j = 0; j < 32; j++) {
            int q = nibble(b[i].qs, j) | high_bit(b[i].qh, j) << 4;
            out[j] = (float)q * d + m;
        }
    }
}

/* ggml's packing of 8 six-bit scales and mins in 12 bytes: sub-blocks 0..3
 * in the low 6 bits of bytes 0..3 (scales) and 4..7 (mins); 4..7 in the
 * nibbles of bytes 8..11 with their top 2 bits in the spare bits of 0..7. */
void lm_k_scale_min(const uint8_t *s, int j, int *sc, int *m) {
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (s[j + 4] & 15) | (s[j - 4] >> 6) << 4;
        *m = (s[j + 4] >> 4) | (s[j] >> 6) << 4;
    }
}

/* Q4_K / Q5_K: 8 sub-blocks of 32; sub-block j's values are the low (j even)
 * or high (j odd) nibbles of qs[32 (j / 2) ..], plus bit j of qh[] for Q5_K. */
static void dequant_k(float *out, uint16_t dh, uint16_t dminh, const uint8_t *scales,
                      const uint8_t *qs, const uint8_t *qh) {
    float d = lm_f16_to_f32(dh), dmin = lm_f16_to_f32(dminh);
    for (int j = 0; j < 8; j++, out += 32) {
        int sc, m;
        lm_k_scale_min(scales, j, &sc, &m);
        float ds = d * (float)sc, dm = dmin * (float)m;
        const uint8_t *q = qs + 32 * (j / 2);
        for (int l = 0; l < 32; l++) {
            int v = j & 1 ? q[l] >> 4 : q[l] & 15;
            if (qh) v |= ((qh[l] >> j) & 1) << 4;
            out[l] = ds * (float)v - dm;
        }
    }
}

void lm_dequant_row_q4_k(float *out, const void *blocks, int cols) {
    const lm_block_q4_k *b = blocks;
    for (int i = 0; i < cols / 256; i++)
        dequant_k(out + 256 * i, b[i].d, b[i].dmin, b[i].scales, b[i].qs, NULL);
}

void lm_dequant_row_q5_k(float *out, const void *blocks, int cols) {
    const lm_block_q5_k *b = blocks;
    for (int i = 0; i < cols / 256; i++)
        dequant_k(out + 256 * i, b[i].d, b[i].dmin, b[i].scales, b[i].qs, b[i].qh);
}

/* Q6_K value k of a super-block: in half h = k / 128, quarter c = k % 128 / 32,
 * lane l = k % 32: low 4 bits from ql[64 h + l + 32 (c & 1)] (high nibble for
 * c >= 2), top 2 bits from qh[32 h + l] at bit 2 c; scale sc[k / 16]. */
int lm_q6_k_value(const lm_block_q6_k *b, int k) {
    int h = k / 128, c = k % 128 / 32, l = k % 32;
    uint8_t lo = b->ql[64 * h + l + 32 * (c & 1)];
    int low = c >= 2 ? lo >> 4 : lo & 15;
    int high = (b->qh[32 * h + l] >> (2 * c)) & 3;
    return (low | high << 4) - 32;
}

void lm_dequant_row_q6_k(float *out, const void *blocks, int cols) {
    const lm_block_q6_k *b = blocks;
    for (int i = 0; i < cols / 256; i++, out += 256) {
        float d = lm_f16_to_f32(b[i].d);
        for (int j = 0; j < 16; j++) {
            float ds = d * (float)b[i].scales[j];
            for (int l = 0; l < 16; l++)
                out[16 * j + l] = ds * (float)lm_q6_k_value(&b[i], 16 * j + l);
        }
    }
}
