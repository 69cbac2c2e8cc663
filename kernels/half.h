/* Exact widening of IEEE half (binary16) and bfloat16 to fp32, in plain C
 * (and the rounding of fp32 to half that an F16 KV cache stores):
 * the scalar oracle's conversions, and the one a loader uses for fp16 scales.
 * Every half and every bfloat16 is an fp32 value, so the result is that
 * value: subnormal halves become normal floats, infinities stay infinite, a
 * NaN keeps its sign and payload and is made quiet, as F16C's vcvtph2ps and
 * AArch64's fcvtl do (a bfloat16 NaN keeps its bits, as the SIMD shift does). */
#ifndef LAMINA_KERNELS_HALF_H
#define LAMINA_KERNELS_HALF_H

#include <stdint.h>
#include <string.h>

static inline float lm_bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* Written without branches (every case computed, one chosen) so that a
 * compiler can vectorise a loop of them: the scalar product kernel is the
 * oracle of whole-model tests. */
static inline float lm_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, em = h & 0x7fffu, e = em >> 10;
    /* normal: rebias the exponent from 15 to 127 */
    uint32_t normal = (em << 13) + (112u << 23);
    /* inf, or NaN made quiet (fp32's quiet bit is bit 22) */
    uint32_t special = 0x7f800000u | em << 13 | (uint32_t)((em & 0x3ffu) != 0) << 22;
    /* zero or subnormal: m * 2^-24, exact (m < 2^10; the result is a normal
     * float or zero, so no flush-to-zero mode can touch it) */
    float tiny = (float)(int32_t)em * 0x1p-24f;
    uint32_t tb;
    memcpy(&tb, &tiny, sizeof tb);
    uint32_t is_tiny = 0u - (uint32_t)(e == 0), is_special = 0u - (uint32_t)(e == 31);
    return lm_bits_f32(sign | (tb & is_tiny) | (special & is_special) |
                       (normal & ~(is_tiny | is_special)));
}

static inline float lm_bf16_to_f32(uint16_t b) { return lm_bits_f32((uint32_t)b << 16); }

/* fp32 to IEEE half, rounded to nearest even (as F16C's vcvtps2ph with
 * rounding mode 0 and AArch64's fcvtn): what an F16 KV cache stores. Values
 * past the largest half become infinities, values under half the smallest
 * subnormal become zeros (signed), a NaN stays a quiet NaN with the top of
 * its payload. Integer arithmetic only, so no FP mode can change it. */
static inline uint16_t lm_f32_to_f16(float f) {
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    uint32_t sign = (x >> 16) & 0x8000u, ax = x & 0x7fffffffu;
    if (ax > 0x7f800000u) return (uint16_t)(sign | 0x7e00u | ((ax >> 13) & 0x3ffu));
    if (ax >= 0x47800000u) return (uint16_t)(sign | 0x7c00u); /* >= 2^16, inf */
    uint32_t h, rest, half;
    if (ax >= 0x38800000u) { /* a normal half (or rounds up to inf) */
        h = (ax - (112u << 23)) >> 13;
        rest = ax & 0x1fffu;
        half = 0x1000u;
    } else { /* a subnormal half or zero: units of 2^-24 */
        uint32_t e = ax >> 23, shift = 126u - e;
        if (e == 0 || shift > 24u) return (uint16_t)sign; /* under 2^-25 */
        uint32_t m = (ax & 0x7fffffu) | 0x800000u;
        h = m >> shift;
        rest = m & ((1u << shift) - 1u);
        half = 1u << (shift - 1u);
    }
    h += rest > half || (rest == half && (h & 1u)); /* a carry may reach inf: right */
    return (uint16_t)(sign | h);
}

#endif
