/* Exact widening of IEEE half (binary16) and bfloat16 to fp32, in plain C:
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

static inline float lm_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
    if (e == 0x1f) /* inf, or NaN made quiet (fp32's quiet bit is bit 22) */
        return lm_bits_f32(sign | 0x7f800000u | m << 13 | (m ? 0x400000u : 0));
    if (e) /* normal: rebias the exponent from 15 to 127 */
        return lm_bits_f32(sign | (e + 112) << 23 | m << 13);
    /* zero or subnormal: m * 2^-24, exact (m < 2^10; the result is a normal
     * float or zero, so no flush-to-zero mode can touch it) */
    float v = (float)m * 0x1p-24f;
    return sign ? -v : v;
}

static inline float lm_bf16_to_f32(uint16_t b) { return lm_bits_f32((uint32_t)b << 16); }

#endif
