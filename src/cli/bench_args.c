/* `lamina bench` options (bench.h). */
#include <errno.h>
#include <limits.h>
#include <omp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

static const char usage[] =
    "usage: lamina bench [options]\n"
    "Measure prefill (one batch of prompt tokens through lm_forward) and decode\n"
    "(single-token forwards after it) speed of random-weight models in memory.\n"
    "\n"
    "  --shape NAME        a model shape (--list-shapes) or all; repeatable, or\n"
    "                      comma-separated (default: 15M unless --model is given)\n"
    "  --dtype D[,D..]     f32, q8, q4_0, q4_k_m, q5_k_m, q6_k or all (default f32,q8;\n"
    "                      7B is not f32; the block types get llama-quantize's\n"
    "                      per-tensor mixture of that file type)\n"
    "  --model PATH        also benchmark this checkpoint (its own dtype)\n"
    "  --threads N[,N..]   thread counts (default: 1 and all cores)\n"
    "  --batch N[,N..]     also run N sequences at once (lm_batch): prefill of N\n"
    "                      prompts together, then N decoding together; tok/s is\n"
    "                      the aggregate of all N\n"
    "  --isa NAME          kernel set (default: the best this CPU runs; also LAMINA_ISA)\n"
    "  --kv-type TYPE      the KV caches' elements: f32 (default) or f16\n"
    "  --prompt-tokens N   prefill batch (default 128)\n"
    "  --gen-tokens N      decoded tokens per repetition (default 128)\n"
    "  --reps N            measured repetitions (default 5)\n"
    "  --warmup N          unmeasured repetitions first (default 1)\n"
    "  --json FILE         write Google Benchmark-compatible JSON ('-' = stdout)\n"
    "  --no-probes         skip the bandwidth and FMA probes (no % columns);\n"
    "                      --no-membw is the same\n"
    "  --seed N            seed of the random weights and token ids (default 1)\n"
    "  --list-shapes       print the shapes (name and the seven config numbers)\n"
    "  -h, --help          this help\n"
    "\n"
    "Prompt + generated tokens are clamped to the model's seq_len. Progress goes to\n"
    "stderr; the table to stdout. Decode GB/s = weight bytes read per token x tok/s;\n"
    "% BW compares it with the bandwidth probe (best pass reading 1 GiB, same\n"
    "threads). Prefill GFLOP/s = the products' and attention's flops per prompt\n"
    "x tok/s / prompt tokens; % FMA compares it with the FMA probe (independent\n"
    "fp32 multiply-add chains in the widest vectors, same threads).\n";

/* "lamina: error: bench: MESSAGE[TAIL]" on stderr; returns status. */
static int report(int status, const char *tail, const char *fmt, va_list ap) {
    fputs("lamina: error: bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs(tail, stderr);
    return status;
}

int bench_usage_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int status = report(2, " (see lamina bench --help)\n", fmt, ap);
    va_end(ap);
    return status;
}

int bench_runtime_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int status = report(1, "\n", fmt, ap);
    va_end(ap);
    return status;
}

/* A whole-string integer in [lo, hi]. */
static int parse_int(const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

/* Sets the bit of each named shape (bit i: the i-th of lm_config_presets). */
static int add_shapes(bench_opts *o, const char *list) {
    const char *names = lm_config_presets();
    char buf[256];
    snprintf(buf, sizeof buf, "%s", list);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        int all = strcmp(tok, "all") == 0, found = 0;
        char name[32];
        for (int i = 0; bench_shape_name(i, name, sizeof name); i++)
            if (all || strcmp(name, tok) == 0) o->shape_mask |= 1u << i, found = 1;
        if (!found) return bench_usage_error("unknown shape '%s' (%s, all)", tok, names);
    }
    return 0;
}

/* A comma-separated list of distinct counts in [1, hi]. */
static int set_counts(const char *flag, int *out, int *n, const char *list, long hi) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", list);
    *n = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        long v;
        if (parse_int(tok, 1, hi, &v))
            return bench_usage_error("%s: '%s' is not a count in 1..%ld", flag, tok, hi);
        int dup = 0;
        for (int i = 0; i < *n; i++) dup |= out[i] == (int)v;
        if (dup) continue;
        if (*n == BENCH_MAX_LIST)
            return bench_usage_error("%s: at most %d counts", flag, BENCH_MAX_LIST);
        out[(*n)++] = (int)v;
    }
    if (!*n) return bench_usage_error("%s needs a count", flag);
    return 0;
}

/* --dtype: comma-separated names (bench_dtype_parse) or all. */
static int set_dtypes(bench_opts *o, const char *val) {
    char buf[128];
    snprintf(buf, sizeof buf, "%s", val);
    o->dtype_mask = 0;
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        int d = strcmp(t, "all") == 0 ? DT_ALL : bench_dtype_parse(t);
        if (!d)
            return bench_usage_error(
                "--dtype: '%s' is not f32, q8, q4_0, q4_k_m, q5_k_m, q6_k or all", t);
        o->dtype_mask |= d;
    }
    if (!o->dtype_mask) return bench_usage_error("--dtype needs a type");
    return 0;
}

static const char *const known[] = {
    "--shape", "--dtype",  "--model", "--threads", "--isa",   "--prompt-tokens", "--gen-tokens",
    "--reps",  "--warmup", "--json",  "--seed",    "--batch", "--kv-type"};
enum {
    O_SHAPE,
    O_DTYPE,
    O_MODEL,
    O_THREADS,
    O_ISA,
    O_PROMPT,
    O_GEN,
    O_REPS,
    O_WARMUP,
    O_JSON,
    O_SEED,
    O_BATCH,
    O_KV_TYPE,
    N_KNOWN
};

static int set_option(bench_opts *o, int k, const char *name, const char *val) {
    long v;
    switch (k) {
    case O_SHAPE: return add_shapes(o, val);
    case O_DTYPE: return set_dtypes(o, val);
    case O_MODEL: o->model_path = val; return 0;
    case O_THREADS: return set_counts("--threads", o->threads, &o->n_threads, val, 1024);
    case O_BATCH: return set_counts("--batch", o->batch, &o->n_batch, val, 4096);
    case O_ISA: o->isa = val; return 0;
    case O_KV_TYPE:
        if (lm_kv_type_parse(val, &o->kv_type, NULL))
            return bench_usage_error("--kv-type: '%s' is not f32 or f16", val);
        return 0;
    case O_JSON: o->json = val; return 0;
    case O_SEED:
        if (parse_int(val, 0, LONG_MAX, &v))
            return bench_usage_error("--seed: '%s' is not a valid seed", val);
        o->seed = (uint64_t)v;
        return 0;
    default: /* the four counts */
        if (parse_int(val, k == O_REPS ? 1 : 0, k == O_REPS || k == O_WARMUP ? 1000 : 1000000, &v))
            return bench_usage_error("%s: '%s' is not a valid count", name, val);
        *(k == O_PROMPT ? &o->prompt
          : k == O_GEN  ? &o->gen
          : k == O_REPS ? &o->reps
                        : &o->warmup) = (int)v;
        return 0;
    }
}

int bench_parse(int argc, char **argv, bench_opts *o) {
    *o = (bench_opts){.dtype_mask = DT_F32 | DT_Q8,
                      .prompt = 128,
                      .gen = 128,
                      .reps = 5,
                      .warmup = 1,
                      .probes = 1,
                      .seed = 1};
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *val = NULL;
        char name[64];
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            fputs(usage, stdout);
            return 0;
        }
        if (strcmp(arg, "--no-probes") == 0 || strcmp(arg, "--no-membw") == 0) {
            o->probes = 0;
            continue;
        }
        if (strcmp(arg, "--list-shapes") == 0) {
            o->list_shapes = 1;
            continue;
        }
        if (strncmp(arg, "--", 2) != 0) return bench_usage_error("unexpected argument '%s'", arg);
        const char *eq = strchr(arg, '=');
        size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
        if (len >= sizeof name) return bench_usage_error("unknown option '%s'", arg);
        memcpy(name, arg, len);
        name[len] = '\0';
        int k = -1;
        for (int j = 0; j < N_KNOWN; j++)
            if (strcmp(name, known[j]) == 0) k = j;
        if (k < 0) return bench_usage_error("unknown option '%s'", name);
        if (eq)
            val = eq + 1;
        else if (i + 1 < argc)
            val = argv[++i];
        else
            return bench_usage_error("%s needs a value", name);
        int rc = set_option(o, k, name, val);
        if (rc) return rc;
    }
    if (o->prompt + o->gen == 0)
        return bench_usage_error("--prompt-tokens and --gen-tokens are both 0");
    if (!o->shape_mask && !o->model_path) add_shapes(o, "15M");
    if (!o->n_threads) {
        int cores = omp_get_num_procs();
        o->threads[o->n_threads++] = 1;
        if (cores > 1) o->threads[o->n_threads++] = cores;
    }
    return -1;
}

int bench_shape_name(int i, char *name, size_t len) {
    const char *p = lm_config_presets();
    for (; i > 0 && *p; i--) p += strcspn(p, " ") + (p[strcspn(p, " ")] == ' ');
    size_t n = strcspn(p, " ");
    if (!n || n >= len) return 0;
    memcpy(name, p, n);
    name[n] = '\0';
    return 1;
}
