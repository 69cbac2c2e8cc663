/* Roofline probes for `lamina bench` (probe.h). They pick their own
 * instructions with the compiler's target attributes and __builtin_cpu_supports
 * instead of the kernel table: they measure the machine, not lamina. */
#include "probe.h"

#include <omp.h>
#include <stdint.h>
#include <stdlib.h>

#include "lamina.h"

#define MEMBW_PASSES 5
#define FMA_PASSES 5
#define FMA_CHAINS 12       /* independent accumulators: covers latency x pipes */
#define FMA_ITERS (1 << 21) /* per pass and thread: tens of milliseconds */

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define X86_PROBES 1
#include <immintrin.h>
#elif defined(__aarch64__)
#include <arm_neon.h>
#endif

/* ---- memory bandwidth ------------------------------------------------------ */

/* Sum of buf[a, b): 8 independent sums so that loads, not the add chain, are
 * the limit. */
static uint64_t sum_range(const uint64_t *buf, size_t a, size_t b) {
    uint64_t s[8] = {0};
    size_t i = a;
    for (; i + 8 <= b; i += 8)
        for (int j = 0; j < 8; j++) s[j] += buf[i + j];
    for (; i < b; i++) s[0] += buf[i];
    return s[0] + s[1] + s[2] + s[3] + s[4] + s[5] + s[6] + s[7];
}

#ifdef X86_PROBES
/* 256-bit loads reach ~20% more bandwidth from one core than SSE2. */
__attribute__((target("avx2"))) static uint64_t sum_range_avx2(const uint64_t *buf, size_t a,
                                                               size_t b) {
    __m256i s0 = _mm256_setzero_si256(), s1 = s0, s2 = s0, s3 = s0;
    size_t i = a;
    for (; i + 16 <= b; i += 16) {
        s0 = _mm256_add_epi64(s0, _mm256_loadu_si256((const __m256i *)(buf + i)));
        s1 = _mm256_add_epi64(s1, _mm256_loadu_si256((const __m256i *)(buf + i + 4)));
        s2 = _mm256_add_epi64(s2, _mm256_loadu_si256((const __m256i *)(buf + i + 8)));
        s3 = _mm256_add_epi64(s3, _mm256_loadu_si256((const __m256i *)(buf + i + 12)));
    }
    uint64_t o[4];
    _mm256_storeu_si256((__m256i *)o,
                        _mm256_add_epi64(_mm256_add_epi64(s0, s1), _mm256_add_epi64(s2, s3)));
    return o[0] + o[1] + o[2] + o[3] + sum_range(buf, i, b);
}
#endif

static uint64_t sum_share(const uint64_t *buf, size_t a, size_t b) {
#ifdef X86_PROBES
    if (__builtin_cpu_supports("avx2")) return sum_range_avx2(buf, a, b);
#endif
    return sum_range(buf, a, b);
}

static double read_gbs(const uint64_t *buf, size_t n, int threads) {
    double best = 0;
    volatile uint64_t sink = 0;
    for (int pass = 0; pass < MEMBW_PASSES; pass++) {
        uint64_t total = 0;
        double t0 = lm_seconds();
#pragma omp parallel num_threads(threads) reduction(+ : total)
        {
            size_t nt = (size_t)omp_get_num_threads(), t = (size_t)omp_get_thread_num();
            size_t chunk = (n / nt + 7) & ~(size_t)7;
            size_t a = t * chunk < n ? t * chunk : n, b = a + chunk < n ? a + chunk : n;
            total += sum_share(buf, a, b);
        }
        double gbs = (double)(n * sizeof *buf) / (lm_seconds() - t0) / 1e9;
        sink += total;
        if (gbs > best) best = gbs;
    }
    (void)sink;
    return best;
}

int probe_membw(const int *threads, int n, double *gbs) {
    size_t words = PROBE_BYTES / sizeof(uint64_t);
    uint64_t *buf = malloc(PROBE_BYTES);
    if (!buf) return -1;
    int most = 1;
    for (int i = 0; i < n; i++) most = threads[i] > most ? threads[i] : most;
#pragma omp parallel for num_threads(most) schedule(static)
    for (size_t i = 0; i < words; i++) buf[i] = i * 0x9E3779B97F4A7C15ull;
    for (int i = 0; i < n; i++) gbs[i] = read_gbs(buf, words, threads[i]);
    free(buf);
    return 0;
}

/* ---- fp32 FMA peak ----------------------------------------------------------- */

/* Each returns the flops it did: FMA_CHAINS chains of acc = acc * a + b, whose
 * values stay finite (they converge to b / (1 - a)). */
#ifdef X86_PROBES
__attribute__((target("avx512f"))) static double fma_avx512(void) {
    __m512 acc[FMA_CHAINS];
    const __m512 a = _mm512_set1_ps(0.5f), b = _mm512_set1_ps(1.0f);
    for (int c = 0; c < FMA_CHAINS; c++) acc[c] = _mm512_set1_ps((float)c);
    for (long i = 0; i < FMA_ITERS; i++)
        for (int c = 0; c < FMA_CHAINS; c++) acc[c] = _mm512_fmadd_ps(acc[c], a, b);
    volatile float sink = 0;
    for (int c = 0; c < FMA_CHAINS; c++) sink += _mm512_reduce_add_ps(acc[c]);
    return 2.0 * 16 * FMA_CHAINS * (double)FMA_ITERS;
}

__attribute__((target("avx2,fma"))) static double fma_avx2(void) {
    __m256 acc[FMA_CHAINS];
    const __m256 a = _mm256_set1_ps(0.5f), b = _mm256_set1_ps(1.0f);
    for (int c = 0; c < FMA_CHAINS; c++) acc[c] = _mm256_set1_ps((float)c);
    for (long i = 0; i < FMA_ITERS; i++)
        for (int c = 0; c < FMA_CHAINS; c++) acc[c] = _mm256_fmadd_ps(acc[c], a, b);
    float out[8];
    volatile float sink = 0;
    for (int c = 0; c < FMA_CHAINS; c++) {
        _mm256_storeu_ps(out, acc[c]);
        sink += out[0];
    }
    return 2.0 * 8 * FMA_CHAINS * (double)FMA_ITERS;
}
#elif defined(__aarch64__)
static double fma_neon(void) {
    float32x4_t acc[FMA_CHAINS];
    const float32x4_t a = vdupq_n_f32(0.5f), b = vdupq_n_f32(1.0f);
    for (int c = 0; c < FMA_CHAINS; c++) acc[c] = vdupq_n_f32((float)c);
    for (long i = 0; i < FMA_ITERS; i++)
        for (int c = 0; c < FMA_CHAINS; c++) acc[c] = vfmaq_f32(b, acc[c], a);
    volatile float sink = 0;
    for (int c = 0; c < FMA_CHAINS; c++) sink += vgetq_lane_f32(acc[c], 0);
    return 2.0 * 4 * FMA_CHAINS * (double)FMA_ITERS;
}
#endif

/* Separate multiply and add, for CPUs with none of the above. */
static double fma_generic(void) {
    float acc[FMA_CHAINS];
    for (int c = 0; c < FMA_CHAINS; c++) acc[c] = (float)c;
    for (long i = 0; i < FMA_ITERS; i++)
        for (int c = 0; c < FMA_CHAINS; c++) acc[c] = acc[c] * 0.5f + 1.0f;
    volatile float sink = 0;
    for (int c = 0; c < FMA_CHAINS; c++) sink += acc[c];
    return 2.0 * FMA_CHAINS * (double)FMA_ITERS;
}

typedef double (*fma_fn)(void);

static fma_fn pick_fma(const char **kind) {
    const char *k = "generic (multiply + add)";
    fma_fn f = fma_generic;
#ifdef X86_PROBES
    if (__builtin_cpu_supports("avx512f"))
        k = "avx512f", f = fma_avx512;
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        k = "avx2+fma", f = fma_avx2;
#elif defined(__aarch64__)
    k = "neon", f = fma_neon;
#endif
    if (kind) *kind = k;
    return f;
}

const char *probe_fma_kind(void) {
    const char *kind;
    pick_fma(&kind);
    return kind;
}

void probe_fma(const int *threads, int n, double *gflops) {
    fma_fn f = pick_fma(NULL);
    for (int i = 0; i < n; i++) {
        gflops[i] = 0;
        for (int pass = 0; pass < FMA_PASSES; pass++) {
            double flops = 0, t0 = lm_seconds();
#pragma omp parallel num_threads(threads[i]) reduction(+ : flops)
            flops += f();
            double g = flops / (lm_seconds() - t0) / 1e9;
            if (g > gflops[i]) gflops[i] = g;
        }
    }
}
