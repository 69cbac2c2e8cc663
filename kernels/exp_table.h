/* The data of glibc's expf (sysdeps/ieee754/flt-32/e_expf.c, from Arm's
 * optimized-routines, MIT), which each ISA's vector exp (math_<isa>.h)
 * reproduces bit for bit: in double precision, x / ln2 = k/32 + r/32 with
 * |r| <= 1/2, 2^(k/32) from a 32-entry table, 2^(r/32) by a cubic, one final
 * rounding to float; 0.502 ulp.
 *
 * Why not a cheaper ~1 ulp float exp: a Q8_0 model re-quantizes every
 * activation, so an exp that differs from libm's in the last bit flips some
 * roundings and greedy text drifts from llama2.c's (and from the oracle's). */
#ifndef LAMINA_KERNELS_EXP_TABLE_H
#define LAMINA_KERNELS_EXP_TABLE_H

#include <stdint.h>

#define LM_EXP_INV_LN2_32 (0x1.71547652b82fep+0 * 32)
#define LM_EXP_C0 (0x1.c6af84b912394p-5 / (32.0 * 32.0 * 32.0))
#define LM_EXP_C1 (0x1.ebfce50fac4f3p-3 / (32.0 * 32.0))
#define LM_EXP_C2 (0x1.62e42ff0c52d6p-1 / 32.0)

/* Below this magnitude (and for no NaN) the vector code is valid; glibc itself
 * takes a slow path from here, so the kernels call libm for such lanes. */
#define LM_EXP_FAST_LIMIT 88.0f

/* lm_exp_table[i] = bits(2^(i/32)) - (i << 47): adding k << 47 to entry
 * k % 32 gives the bits of 2^(k/32), the exponent field taking k / 32. */
extern const uint64_t lm_exp_table[32];

#endif
