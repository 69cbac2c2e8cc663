#include "dispatch.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <cpu_features_macros.h>

#include "scalar/scalar.h"

#if defined(CPU_FEATURES_ARCH_X86_64)
#include <cpuinfo_x86.h>
extern const lm_kernels lm_kernels_avx2, lm_kernels_avx512, lm_kernels_avx512vnni;
const lm_kernels *const lm_kernel_tables[] = {&lm_kernels_scalar, &lm_kernels_avx2,
                                              &lm_kernels_avx512, &lm_kernels_avx512vnni, NULL};

/* The CPU is probed once per process: an immutable fact. Each CPUID is a VM
 * exit under a hypervisor, and the sampler asks for the best table per token. */
static X86Info cpu_info;
static pthread_once_t cpu_once = PTHREAD_ONCE_INIT;
static void cpu_probe(void) { cpu_info = GetX86Info(); }
static const X86Info *cpu(void) {
    pthread_once(&cpu_once, cpu_probe);
    return &cpu_info;
}

/* An ISA tier is a group of features; cpu_features reports a wide-register
 * feature only when the OS also saves those registers (XCR0). */
const char *lm_kernels_missing_feature(const lm_kernels *table) {
    const X86Features f = cpu()->features;
    int vnni = table == &lm_kernels_avx512vnni;
    if (table == &lm_kernels_avx512 || vnni) {
        if (!f.avx512f) return "avx512f";
        if (!f.avx512bw) return "avx512bw";
        if (!f.avx512vl) return "avx512vl";
        if (!f.avx512dq) return "avx512dq";
        if (vnni && !f.avx512vnni) return "avx512vnni";
    }
    if (table != &lm_kernels_scalar) {
        if (!f.avx2) return "avx2";
        if (!f.fma3) return "fma";
        if (!f.f16c) return "f16c";
    }
    return NULL;
}

const char *lm_kernels_cpu_description(void) {
    static char buf[256];
    const X86Info info = *cpu();
    const X86Features f = info.features;
    snprintf(buf, sizeof buf, "%s; avx2 %s, fma %s, avx512f/bw/vl/dq %s, avx512vnni %s",
             info.brand_string, f.avx2 ? "yes" : "no", f.fma3 ? "yes" : "no",
             f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq ? "yes" : "no",
             f.avx512vnni ? "yes" : "no");
    return buf;
}

#elif defined(CPU_FEATURES_ARCH_AARCH64)
#include <cpuinfo_aarch64.h>
extern const lm_kernels lm_kernels_neon, lm_kernels_neondot;
const lm_kernels *const lm_kernel_tables[] = {&lm_kernels_scalar, &lm_kernels_neon,
                                              &lm_kernels_neondot, NULL};

/* Probed once per process, as on x86. */
static Aarch64Features cpu_features;
static pthread_once_t cpu_once = PTHREAD_ONCE_INIT;
static void cpu_probe(void) { cpu_features = GetAarch64Info().features; }
static const Aarch64Features *cpu(void) {
    pthread_once(&cpu_once, cpu_probe);
    return &cpu_features;
}

const char *lm_kernels_missing_feature(const lm_kernels *table) {
    const Aarch64Features f = *cpu();
    if (table != &lm_kernels_scalar && !f.asimd) return "asimd";
    if (table == &lm_kernels_neondot && !f.asimddp) return "asimddp";
    return NULL;
}

const char *lm_kernels_cpu_description(void) {
    static char buf[128];
    const Aarch64Features f = *cpu();
    snprintf(buf, sizeof buf, "aarch64; asimd %s, asimddp (sdot) %s", f.asimd ? "yes" : "no",
             f.asimddp ? "yes" : "no");
    return buf;
}

#else
const lm_kernels *const lm_kernel_tables[] = {&lm_kernels_scalar, NULL};

const char *lm_kernels_missing_feature(const lm_kernels *table) {
    (void)table;
    return NULL;
}

const char *lm_kernels_cpu_description(void) {
    return "unknown architecture (scalar kernels only)";
}
#endif

const lm_kernels *lm_kernels_by_name(const char *name) {
    for (int i = 0; lm_kernel_tables[i]; i++)
        if (strcmp(lm_kernel_tables[i]->isa, name) == 0) return lm_kernel_tables[i];
    return NULL;
}

static const lm_kernels *best_table;
static pthread_once_t best_once = PTHREAD_ONCE_INIT;
static void choose_best(void) {
    best_table = &lm_kernels_scalar;
    for (int i = 0; lm_kernel_tables[i]; i++)
        if (!lm_kernels_missing_feature(lm_kernel_tables[i])) best_table = lm_kernel_tables[i];
}

const lm_kernels *lm_kernels_best(void) {
    pthread_once(&best_once, choose_best);
    return best_table;
}
