/* What the machine can do at best, measured by `lamina bench` in the same run
 * as the model, so that tok/s can be read as a fraction of a roofline: the
 * memory read bandwidth (decode reads every weight once per token) and the
 * fp32 fused multiply-add peak (prefill multiplies matrices). */
#ifndef LAMINA_CLI_PROBE_H
#define LAMINA_CLI_PROBE_H

/* Size of the bandwidth probe's buffer: far larger than any cache. */
#define PROBE_BYTES ((unsigned long)1 << 30)

/* gbs[i] = best read GB/s over a few passes with threads[i] threads, each
 * reading its own contiguous share. Returns -1 if the buffer cannot be had. */
int probe_membw(const int *threads, int n, double *gbs);

/* gflops[i] = best fp32 GFLOP/s of independent FMA chains in the widest
 * vectors the CPU has, with threads[i] threads. */
void probe_fma(const int *threads, int n, double *gflops);

/* What the FMA probe runs on this CPU: "avx512f", "avx2+fma", "neon" or
 * "generic (multiply + add)". */
const char *probe_fma_kind(void);

#endif
