/* `lamina bench`: end-to-end prefill and decode speed of random-weight models
 * of the stories / Llama-2 shapes (or of a checkpoint), with warm-up,
 * repetitions, a STREAM-style memory-bandwidth probe and Google
 * Benchmark-compatible JSON. bench/README.md explains the numbers.
 *
 * Exit status: 0 success, 1 a runtime error (allocation, a failed forward),
 * 2 a usage error (bad flag, unknown shape, unknown ISA). */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <omp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "cli_probe.h"
#include "lamina.h"

/* Test-only hook (bench/README.md, "regression gate"): cli_bench_slowdown.c,
 * linked only with -DLAMINA_BENCH_SLOWDOWN=ON, sets it to busy-wait after each
 * forward call in proportion to the call's wall-clock and CPU time. NULL in
 * every normal build. */
void (*cli_bench_after_forward)(double wall, double cpu) = NULL;
double cli_bench_slowdown_pct = 0.0;

typedef struct bench_shape {
    const char *name;
    lm_config config; /* dim, hidden, layers, heads, kv heads, vocab, seq_len */
    int f32_fits;     /* 7B in fp32 (26 GB) does not fit the machines we target */
} bench_shape;

static const bench_shape shapes[] = {
    {"260K", {64, 172, 5, 8, 4, 512, 512}, 1},
    {"15M", {288, 768, 6, 6, 6, 32000, 256}, 1},
    {"42M", {512, 1376, 8, 8, 8, 32000, 1024}, 1},
    {"110M", {768, 2048, 12, 12, 12, 32000, 1024}, 1},
    {"7B", {4096, 11008, 32, 32, 32, 32000, 4096}, 0},
};
#define N_SHAPES ((int)(sizeof shapes / sizeof shapes[0]))
#define MAX_THREADS_LIST 16

enum { DT_F32 = 1, DT_Q8 = 2 };

static const char usage[] =
    "usage: lamina bench [options]\n"
    "Measure prefill (one batch of prompt tokens through lm_forward) and decode\n"
    "(single-token forwards after it) speed of random-weight models in memory.\n"
    "\n"
    "  --shape NAME        260K, 15M, 42M, 110M, 7B or all; repeatable, or\n"
    "                      comma-separated (default: 15M unless --model is given)\n"
    "  --dtype D           f32, q8 or all (default all; 7B is q8 only)\n"
    "  --model PATH        also benchmark this checkpoint (its own dtype)\n"
    "  --threads N[,N..]   thread counts (default: 1 and all cores)\n"
    "  --isa NAME          kernel set (default: the best this CPU runs; also LAMINA_ISA)\n"
    "  --prompt-tokens N   prefill batch (default 128)\n"
    "  --gen-tokens N      decoded tokens per repetition (default 128)\n"
    "  --reps N            measured repetitions (default 5)\n"
    "  --warmup N          unmeasured repetitions first (default 1)\n"
    "  --json FILE         write Google Benchmark-compatible JSON ('-' = stdout)\n"
    "  --no-probes         skip the bandwidth and FMA probes (no % columns);\n"
    "                      --no-membw is the same\n"
    "  --seed N            seed of the random weights and token ids (default 1)\n"
    "  -h, --help          this help\n"
    "\n"
    "Prompt + generated tokens are clamped to the model's seq_len. Progress goes to\n"
    "stderr; the table to stdout. Decode GB/s = weight bytes read per token x tok/s;\n"
    "% BW compares it with the bandwidth probe (best pass reading 1 GiB, same\n"
    "threads). Prefill GFLOP/s = the products' and attention's flops per prompt\n"
    "x tok/s / prompt tokens; % FMA compares it with the FMA probe (independent\n"
    "fp32 multiply-add chains in the widest vectors, same threads).\n";

typedef struct bench_opts {
    unsigned shape_mask;
    int dtype_mask;
    const char *model_path;
    int threads[MAX_THREADS_LIST], n_threads;
    const char *isa;
    int prompt, gen, reps, warmup;
    const char *json;
    int probes;
    uint64_t seed;
} bench_opts;

static int usage_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("lamina: error: bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs(" (see lamina bench --help)\n", stderr);
    va_end(ap);
    return 2;
}

static int runtime_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("lamina: error: bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
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

static int add_shapes(bench_opts *o, const char *list) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", list);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        if (strcmp(tok, "all") == 0) {
            o->shape_mask = (1u << N_SHAPES) - 1;
            continue;
        }
        int found = 0;
        for (int i = 0; i < N_SHAPES; i++)
            if (strcmp(tok, shapes[i].name) == 0) o->shape_mask |= 1u << i, found = 1;
        if (!found) return usage_error("unknown shape '%s' (260K, 15M, 42M, 110M, 7B, all)", tok);
    }
    return 0;
}

static int set_threads(bench_opts *o, const char *list) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", list);
    o->n_threads = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        long v;
        if (parse_int(tok, 1, 1024, &v))
            return usage_error("--threads: '%s' is not a count in 1..1024", tok);
        int dup = 0;
        for (int i = 0; i < o->n_threads; i++) dup |= o->threads[i] == (int)v;
        if (dup) continue;
        if (o->n_threads == MAX_THREADS_LIST)
            return usage_error("--threads: at most %d counts", MAX_THREADS_LIST);
        o->threads[o->n_threads++] = (int)v;
    }
    if (!o->n_threads) return usage_error("--threads needs a count");
    return 0;
}

/* Returns -1 to go on, or an exit status (0 after --help). */
static int parse(int argc, char **argv, bench_opts *o) {
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
        if (strncmp(arg, "--", 2) != 0) return usage_error("unexpected argument '%s'", arg);
        const char *eq = strchr(arg, '=');
        size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
        if (len >= sizeof name) return usage_error("unknown option '%s'", arg);
        memcpy(name, arg, len);
        name[len] = '\0';
        static const char *const known[] = {
            "--shape",      "--dtype", "--model",  "--threads", "--isa", "--prompt-tokens",
            "--gen-tokens", "--reps",  "--warmup", "--json",    "--seed"};
        int k = -1;
        for (int j = 0; j < (int)(sizeof known / sizeof known[0]); j++)
            if (strcmp(name, known[j]) == 0) k = j;
        if (k < 0) return usage_error("unknown option '%s'", name);
        if (eq)
            val = eq + 1;
        else if (i + 1 < argc)
            val = argv[++i];
        else
            return usage_error("%s needs a value", name);
        long v;
        int rc = 0;
        switch (k) {
        case 0: rc = add_shapes(o, val); break;
        case 1:
            if (strcmp(val, "f32") == 0)
                o->dtype_mask = DT_F32;
            else if (strcmp(val, "q8") == 0)
                o->dtype_mask = DT_Q8;
            else if (strcmp(val, "all") == 0)
                o->dtype_mask = DT_F32 | DT_Q8;
            else
                rc = usage_error("--dtype: '%s' is not f32, q8 or all", val);
            break;
        case 2: o->model_path = val; break;
        case 3: rc = set_threads(o, val); break;
        case 4: o->isa = val; break;
        case 5:
        case 6:
        case 7:
        case 8:
            if (parse_int(val, k == 7 ? 1 : 0, k == 7 || k == 8 ? 1000 : 1000000, &v))
                rc = usage_error("%s: '%s' is not a valid count", name, val);
            else
                *(k == 5 ? &o->prompt : k == 6 ? &o->gen : k == 7 ? &o->reps : &o->warmup) = (int)v;
            break;
        case 9: o->json = val; break;
        case 10:
            if (parse_int(val, 0, LONG_MAX, &v))
                rc = usage_error("--seed: '%s' is not a valid seed", val);
            else
                o->seed = (uint64_t)v;
            break;
        }
        if (rc) return rc;
    }
    if (o->prompt + o->gen == 0) return usage_error("--prompt-tokens and --gen-tokens are both 0");
    if (!o->shape_mask && !o->model_path) o->shape_mask = 1u << 1; /* 15M */
    if (!o->n_threads) {
        int cores = omp_get_num_procs();
        o->threads[o->n_threads++] = 1;
        if (cores > 1) o->threads[o->n_threads++] = cores;
    }
    return -1;
}

/* ---- statistics ------------------------------------------------------------ */

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct summary {
    double median, mean, stddev, min, max;
} summary;

static summary summarize(const double *v, int n) {
    summary s = {0};
    if (n <= 0) return s;
    double *c = malloc((size_t)n * sizeof *c);
    if (!c) return s;
    memcpy(c, v, (size_t)n * sizeof *c);
    qsort(c, (size_t)n, sizeof *c, cmp_double);
    s.median = n % 2 ? c[n / 2] : 0.5 * (c[n / 2 - 1] + c[n / 2]);
    s.min = c[0];
    s.max = c[n - 1];
    for (int i = 0; i < n; i++) s.mean += c[i] / n;
    for (int i = 0; i < n; i++) s.stddev += (c[i] - s.mean) * (c[i] - s.mean);
    s.stddev = n > 1 ? sqrt(s.stddev / (n - 1)) : 0;
    free(c);
    return s;
}

/* ---- progress -------------------------------------------------------------- */

static int progress_tty;
static FILE *table; /* stdout, or stderr when the JSON goes to stdout */
static double progress_last;

static void progress_clear(void) {
    if (progress_tty) fputs("\r\033[K", stderr);
}

/* The TTY line is rewritten at most every 0.1 s (or when `force`). */
static void progress(int force, const char *fmt, ...) {
    if (!progress_tty) {
        if (!force) return;
        fputs("bench: ", stderr);
    } else {
        double t = now();
        if (!force && t - progress_last < 0.1) return;
        progress_last = t;
        fputs("\r\033[K", stderr);
    }
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (!progress_tty) fputc('\n', stderr);
    fflush(stderr);
}

/* ---- one configuration ------------------------------------------------------- */

typedef struct bench_result {
    char shape[64];
    const char *dtype;
    char isa[32];
    int threads, prompt, gen, reps;
    double *prefill_tps, *decode_tps; /* [reps] tokens per second */
    double *prefill_cpu, *decode_cpu; /* [reps] process CPU seconds per token */
    uint64_t weight_bytes;
    double prefill_flops; /* of the whole prompt */
    double membw;         /* GB/s of the probe at this thread count, 0 if not probed */
    double fma_peak;      /* GFLOP/s of the probe at this thread count, 0 if not probed */
} bench_result;

static uint64_t rng_next(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static double timed_forward(lm_context *ctx, const int *tokens, int n, int pos, int *failed) {
    double t0 = now(), c0 = cpu_now();
    if (!lm_forward(ctx, tokens, n, pos)) *failed = 1;
    if (cli_bench_after_forward) cli_bench_after_forward(now() - t0, cpu_now() - c0);
    return now() - t0;
}

/* Flops of a prefill of P tokens from position 0: the layers' products, the
 * attention scores and weighted sums (position t attends to t + 1), and the
 * classifier on the last token. */
static double prefill_flops(const lm_config *c, int P) {
    double hs = (double)c->dim / c->n_heads, kv_dim = c->n_kv_heads * hs, dim = c->dim;
    double per_token = 2.0 * c->n_layers * (dim * (2 * dim + 2 * kv_dim) + 3 * dim * c->hidden_dim);
    double attention = 4.0 * c->n_layers * dim * (double)P * (P + 1) / 2;
    return per_token * P + attention + 2.0 * dim * c->vocab_size;
}

static int run_config(const lm_model *m, const bench_opts *o, bench_result *r, int index,
                      int total) {
    lm_model_info info = lm_model_get_info(m);
    const lm_config *c = &info.config;
    int P = o->prompt, G = o->gen;
    if (P + G > c->seq_len) { /* clamp, keeping the ratio */
        int p = (int)((long long)P * c->seq_len / (P + G));
        if (P && !p) p = 1;
        G = c->seq_len - p < G ? c->seq_len - p : G;
        P = p;
        progress_clear();
        fprintf(stderr, "bench: note: %s seq_len %d < %d + %d tokens: clamped to %d + %d\n",
                r->shape, c->seq_len, o->prompt, o->gen, P, G);
    }
    r->prompt = P, r->gen = G, r->reps = o->reps;
    r->weight_bytes = info.weight_bytes;
    r->prefill_flops = prefill_flops(c, P);
    lm_error e;
    lm_context *ctx = lm_context_new(m, (lm_context_params){P + G, r->threads, r->isa}, &e);
    if (!ctx) return runtime_error("%s %s: %s", r->shape, r->dtype, e.msg);
    r->threads = lm_context_n_threads(ctx);

    int *tokens = malloc((size_t)(P + G + 1) * sizeof *tokens);
    if (!tokens) {
        lm_context_free(ctx);
        return runtime_error("out of memory");
    }
    uint64_t s = o->seed * 0x9E3779B97F4A7C15ull + 12345;
    int lo = c->vocab_size > 3 ? 3 : 0; /* skip UNK, BOS, EOS */
    for (int i = 0; i < P + G; i++)
        tokens[i] = lo + (int)(rng_next(&s) % (uint64_t)(c->vocab_size - lo));

    char label[160];
    snprintf(label, sizeof label, "[%d/%d] %s %s %s threads:%d", index, total, r->shape, r->dtype,
             r->isa, r->threads);
    int failed = 0;
    for (int rep = -o->warmup; rep < o->reps && !failed; rep++) {
        char what[64];
        if (rep < 0)
            snprintf(what, sizeof what, "warm-up %d/%d", rep + o->warmup + 1, o->warmup);
        else
            snprintf(what, sizeof what, "rep %d/%d", rep + 1, o->reps);
        if (progress_tty) progress(1, "%s %s: prefill %d tokens", label, what, P);
        double c0 = cpu_now(), tp = P ? timed_forward(ctx, tokens, P, 0, &failed) : 0;
        double cp = cpu_now() - c0, td = 0;
        c0 = cpu_now();
        for (int i = 0; i < G && !failed; i++) {
            td += timed_forward(ctx, tokens + P + i, 1, P + i, &failed);
            if (progress_tty) progress(0, "%s %s: decode %d/%d", label, what, i + 1, G);
        }
        double cd = cpu_now() - c0;
        if (failed) break;
        double ptps = P && tp > 0 ? P / tp : 0, dtps = G && td > 0 ? G / td : 0;
        if (rep >= 0) {
            r->prefill_tps[rep] = ptps, r->decode_tps[rep] = dtps;
            r->prefill_cpu[rep] = P ? cp / P : 0, r->decode_cpu[rep] = G ? cd / G : 0;
        }
        if (!progress_tty)
            progress(1, "%s %s: prefill %.1f tok/s, decode %.1f tok/s", label, what, ptps, dtps);
    }
    free(tokens);
    lm_context_free(ctx);
    if (failed) return runtime_error("%s %s: lm_forward failed", r->shape, r->dtype);
    return 0;
}

/* ---- output ---------------------------------------------------------------- */

static void fmt_tps(char *buf, size_t len, const double *v, int n, int tokens) {
    if (!tokens) {
        snprintf(buf, len, "-");
        return;
    }
    summary s = summarize(v, n);
    int d = s.median >= 100 ? 0 : 1;
    if (n > 1)
        snprintf(buf, len, "%.*f (%.*f-%.*f)", d, s.median, d, s.min, d, s.max);
    else
        snprintf(buf, len, "%.*f", d, s.median);
}

static void print_header(void) {
    fprintf(table, "%-8s %-5s %-11s %3s %-24s %7s %5s  %-24s %8s %5s\n", "shape", "dtype", "isa",
            "thr", "prefill tok/s (min-max)", "GFLOP/s", "% FMA", "decode tok/s (min-max)",
            "dec GB/s", "% BW");
    fflush(table);
}

/* "value" and "percent of peak" cells; "-" where there is no figure. */
static void fmt_rate(char *val, char *pct, size_t len, double v, double peak) {
    snprintf(val, len, "%.1f", v);
    if (peak > 0) snprintf(pct, len, "%.0f%%", 100 * v / peak);
}

static void print_row(const bench_result *r) {
    char pre[64], dec[64], gf[32] = "-", fpct[32] = "-", gbs[32] = "-", bpct[32] = "-";
    fmt_tps(pre, sizeof pre, r->prefill_tps, r->reps, r->prompt);
    fmt_tps(dec, sizeof dec, r->decode_tps, r->reps, r->gen);
    if (r->prompt) {
        double tps = summarize(r->prefill_tps, r->reps).median;
        fmt_rate(gf, fpct, sizeof gf, r->prefill_flops / r->prompt * tps / 1e9, r->fma_peak);
    }
    if (r->gen) {
        double tps = summarize(r->decode_tps, r->reps).median;
        fmt_rate(gbs, bpct, sizeof gbs, (double)r->weight_bytes * tps / 1e9, r->membw);
    }
    fprintf(table, "%-8s %-5s %-11s %3d %-24s %7s %5s  %-24s %8s %5s\n", r->shape, r->dtype, r->isa,
            r->threads, pre, gf, fpct, dec, gbs, bpct);
    fflush(table);
}

static void json_string(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if (ch < 0x20)
            fprintf(f, "\\u%04x", ch);
        else
            fputc(ch, f);
    }
    fputc('"', f);
}

static double cpu_mhz(void) {
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[256];
    double mhz = 0;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "cpu MHz", 7) == 0 && sscanf(strchr(line, ':') + 1, "%lf", &mhz) == 1)
            break;
    if (f) fclose(f);
    return mhz;
}

/* Both probes at every thread count of the run, printed above the table;
 * returns -1 if the bandwidth probe's buffer cannot be had. */
static int run_probes(const bench_opts *o, double *gbs, double *gflops) {
    progress(1, "memory bandwidth probe (%lu MiB) and FMA probe", CLI_PROBE_BYTES >> 20);
    if (cli_probe_membw(o->threads, o->n_threads, gbs)) return -1;
    cli_probe_fma(o->threads, o->n_threads, gflops);
    progress_clear();
    fprintf(table, "memory read bandwidth:");
    for (int i = 0; i < o->n_threads; i++)
        fprintf(table, " %.1f GB/s (%d thread%s)%s", gbs[i], o->threads[i],
                o->threads[i] == 1 ? "" : "s", i + 1 < o->n_threads ? "," : "");
    fprintf(table, "\nfp32 FMA peak (%s):", cli_probe_fma_kind());
    for (int i = 0; i < o->n_threads; i++)
        fprintf(table, " %.1f GFLOP/s (%d thread%s)%s", gflops[i], o->threads[i],
                o->threads[i] == 1 ? "" : "s", i + 1 < o->n_threads ? "," : "");
    fprintf(table, "\n");
    return 0;
}

/* One Google Benchmark entry; iterations are tokens and times are per token. */
static void json_entry(FILE *f, int *first, const char *name, int family, int instance,
                       const char *run_type, const char *aggregate, int rep, const bench_result *r,
                       int tokens, double tps, double cpu_per_token, int decode) {
    fprintf(f, "%s    {\n", *first ? "" : ",\n");
    *first = 0;
    fprintf(f, "      \"name\": ");
    char full[256];
    if (aggregate)
        snprintf(full, sizeof full, "%s_%s", name, aggregate);
    else
        snprintf(full, sizeof full, "%s", name);
    json_string(f, full);
    fprintf(f, ",\n      \"family_index\": %d,\n      \"per_family_instance_index\": %d,\n", family,
            instance);
    fprintf(f, "      \"run_name\": ");
    json_string(f, name);
    fprintf(f, ",\n      \"run_type\": \"%s\",\n      \"repetitions\": %d,\n", run_type, r->reps);
    if (aggregate)
        fprintf(f,
                "      \"threads\": %d,\n      \"aggregate_name\": \"%s\",\n"
                "      \"aggregate_unit\": \"time\",\n",
                r->threads, aggregate);
    else
        fprintf(f, "      \"repetition_index\": %d,\n      \"threads\": %d,\n", rep, r->threads);
    double ms = tps > 0 ? 1e3 / tps : 0;
    fprintf(f,
            "      \"iterations\": %d,\n      \"real_time\": %.6e,\n      \"cpu_time\": %.6e,\n"
            "      \"time_unit\": \"ms\",\n      \"tok_per_s\": %.6e",
            tokens, ms, cpu_per_token * 1e3, tps);
    if (decode) {
        double g = (double)r->weight_bytes * tps / 1e9;
        fprintf(f, ",\n      \"weight_GBps\": %.6e", g);
        if (r->membw > 0) fprintf(f, ",\n      \"mem_bw_pct\": %.6e", 100 * g / r->membw);
    } else {
        double g = r->prefill_flops / r->prompt * tps / 1e9;
        fprintf(f, ",\n      \"GFLOPs\": %.6e", g);
        if (r->fma_peak > 0) fprintf(f, ",\n      \"fma_peak_pct\": %.6e", 100 * g / r->fma_peak);
    }
    fprintf(f, ",\n      \"label\": ");
    json_string(f, r->isa);
    fprintf(f, "\n    }");
}

static int write_json(FILE *f, const char *path, const bench_opts *o, const bench_result *res,
                      int n, const int *probe_threads, const double *probe_gbs,
                      const double *probe_gflops, int n_probe) {
    char host[256] = "", date[64] = "", exe[PATH_MAX] = "";
    gethostname(host, sizeof host - 1);
    time_t t = time(NULL);
    struct tm tm;
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S%z", localtime_r(&t, &tm));
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len > 0) exe[len] = '\0';
    double load[3] = {0};
    FILE *la = fopen("/proc/loadavg", "r");
    if (la) {
        if (fscanf(la, "%lf %lf %lf", &load[0], &load[1], &load[2]) != 3)
            load[0] = load[1] = load[2] = 0;
        fclose(la);
    }
    fprintf(f, "{\n  \"context\": {\n    \"date\": ");
    json_string(f, date);
    fprintf(f, ",\n    \"host_name\": ");
    json_string(f, host);
    fprintf(f, ",\n    \"executable\": ");
    json_string(f, exe);
    fprintf(f,
            ",\n    \"num_cpus\": %d,\n    \"mhz_per_cpu\": %.0f,\n"
            "    \"cpu_scaling_enabled\": false,\n    \"caches\": [],\n"
            "    \"load_avg\": [%g, %g, %g],\n",
            omp_get_num_procs(), cpu_mhz(), load[0], load[1], load[2]);
#ifdef NDEBUG
    fprintf(f, "    \"library_build_type\": \"release\",\n");
#else
    fprintf(f, "    \"library_build_type\": \"debug\",\n");
#endif
    fprintf(f, "    \"lamina_version\": \"%s\",\n    \"lamina_cpu\": ", LM_VERSION);
    json_string(f, lm_cpu_description());
    fprintf(f, ",\n    \"lamina_isa\": ");
    json_string(f, o->isa);
    fprintf(f, ",\n    \"lamina_isa_list\": ");
    json_string(f, lm_isa_list());
    fprintf(f,
            ",\n    \"prompt_tokens\": %d,\n    \"gen_tokens\": %d,\n    \"reps\": %d,\n"
            "    \"warmup\": %d,\n    \"seed\": %llu,\n    \"slowdown_pct\": %g",
            o->prompt, o->gen, o->reps, o->warmup, (unsigned long long)o->seed,
            cli_bench_after_forward ? cli_bench_slowdown_pct : 0.0);
    for (int i = 0; i < n_probe; i++)
        fprintf(f, ",\n    \"mem_bw_GBps_threads_%d\": %.3f,\n    \"fma_GFLOPs_threads_%d\": %.3f",
                probe_threads[i], probe_gbs[i], probe_threads[i], probe_gflops[i]);
    fprintf(f, "\n  },\n  \"benchmarks\": [\n");
    int first = 1, family = 0;
    for (int i = 0; i < n; i++) {
        const bench_result *r = &res[i];
        for (int phase = 0; phase < 2; phase++) {
            int tokens = phase ? r->gen : r->prompt;
            if (!tokens) continue;
            const double *tps = phase ? r->decode_tps : r->prefill_tps;
            const double *cpu = phase ? r->decode_cpu : r->prefill_cpu;
            char name[200];
            snprintf(name, sizeof name, "%s/%s/%s/%s/threads:%d", phase ? "decode" : "prefill",
                     r->shape, r->dtype, r->isa, r->threads);
            for (int k = 0; k < r->reps; k++)
                json_entry(f, &first, name, family, 0, "iteration", NULL, k, r, tokens, tps[k],
                           cpu[k], phase);
            /* Aggregates are over the per-token time, as Google Benchmark's are;
             * tok_per_s is 1000 / real_time of each (stddev: of the time only). */
            double *ms = malloc((size_t)r->reps * sizeof *ms);
            if (!ms) continue;
            for (int j = 0; j < r->reps; j++) ms[j] = tps[j] > 0 ? 1e3 / tps[j] : 0;
            summary st = summarize(ms, r->reps), sc = summarize(cpu, r->reps);
            free(ms);
            struct {
                const char *name;
                double ms, cpu;
            } aggs[] = {{"mean", st.mean, sc.mean},
                        {"median", st.median, sc.median},
                        {"min", st.min, sc.min},
                        {"max", st.max, sc.max}};
            for (int k = 0; k < 4; k++)
                json_entry(f, &first, name, family, 0, "aggregate", aggs[k].name, 0, r, tokens,
                           aggs[k].ms > 0 ? 1e3 / aggs[k].ms : 0, aggs[k].cpu, phase);
            fprintf(f, ",\n    {\n      \"name\": ");
            char full[256];
            snprintf(full, sizeof full, "%s_stddev", name);
            json_string(f, full);
            fprintf(f,
                    ",\n      \"family_index\": %d,\n      \"per_family_instance_index\": 0,\n"
                    "      \"run_name\": ",
                    family);
            json_string(f, name);
            fprintf(f,
                    ",\n      \"run_type\": \"aggregate\",\n      \"repetitions\": %d,\n"
                    "      \"threads\": %d,\n      \"aggregate_name\": \"stddev\",\n"
                    "      \"aggregate_unit\": \"time\",\n      \"iterations\": %d,\n"
                    "      \"real_time\": %.6e,\n      \"cpu_time\": %.6e,\n"
                    "      \"time_unit\": \"ms\"\n    }",
                    r->reps, r->threads, tokens, st.stddev, sc.stddev * 1e3);
            family++;
        }
    }
    fprintf(f, "\n  ]\n}\n");
    int bad = ferror(f);
    if (f != stdout)
        bad |= fclose(f) != 0;
    else
        fflush(f);
    if (bad) return runtime_error("error writing %s", path);
    return 0;
}

/* ---- main ------------------------------------------------------------------- */

static const char *base_name(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

int cli_bench(int argc, char **argv) {
    bench_opts o;
    int rc = parse(argc, argv, &o);
    if (rc >= 0) return rc;
    lm_error e;
    const char *env = getenv("LAMINA_ISA");
    if (!o.isa && env && *env) o.isa = env;
    if (o.isa && lm_isa_check(o.isa, &e))
        return fprintf(stderr, "lamina: error: bench: %s: %s\n",
                       o.isa == env ? "LAMINA_ISA" : "--isa", e.msg),
               2;
    if (!o.isa) o.isa = lm_isa_best();

    /* The plan: every (shape, dtype) that fits, times every thread count. */
    int n_models = 0, skipped_7b = 0;
    struct {
        int shape; /* index in shapes[], or -1 for --model */
        int dtype;
    } plan[2 * N_SHAPES + 1];
    for (int i = 0; i < N_SHAPES; i++) {
        if (!(o.shape_mask & (1u << i))) continue;
        for (int d = DT_F32; d <= DT_Q8; d <<= 1) {
            if (!(o.dtype_mask & d)) continue;
            if (d == DT_F32 && !shapes[i].f32_fits) {
                skipped_7b = 1;
                continue;
            }
            plan[n_models].shape = i, plan[n_models++].dtype = d;
        }
    }
    if (o.model_path) plan[n_models].shape = -1, plan[n_models++].dtype = 0;
    if (!n_models)
        return usage_error("nothing to run: 7B is q8 only (its fp32 weights need 26 GB)");
    if (skipped_7b) fputs("bench: note: 7B runs q8 only (its fp32 weights need 26 GB)\n", stderr);

    progress_tty = isatty(2);
    table = o.json && strcmp(o.json, "-") == 0 ? stderr : stdout;
    if (o.model_path && access(o.model_path, R_OK) != 0)
        return runtime_error("%s: %s", o.model_path, strerror(errno));
    FILE *json = NULL; /* opened now so that a bad path fails before the run */
    if (o.json) {
        json = strcmp(o.json, "-") == 0 ? stdout : fopen(o.json, "w");
        if (!json) return runtime_error("cannot write %s: %s", o.json, strerror(errno));
    }
    if (cli_bench_after_forward)
        fprintf(stderr,
                "bench: TEST BUILD: busy-waiting %g%% of each forward's time "
                "(LAMINA_BENCH_SLOWDOWN_PCT)\n",
                cli_bench_slowdown_pct);

    /* The probes run first, before any model takes memory. */
    double probe_gbs[MAX_THREADS_LIST] = {0}, probe_gflops[MAX_THREADS_LIST] = {0};
    if (o.probes && run_probes(&o, probe_gbs, probe_gflops)) {
        if (json && json != stdout) fclose(json);
        return runtime_error("cannot allocate the %lu MiB bandwidth probe", CLI_PROBE_BYTES >> 20);
    }
    fprintf(table,
            "cpu: %s\nkernels: %s; prompt %d tokens, decode %d tokens, %d reps after %d warm-up\n",
            lm_cpu_description(), o.isa, o.prompt, o.gen, o.reps, o.warmup);

    int n_results = n_models * o.n_threads;
    bench_result *res = calloc((size_t)n_results, sizeof *res);
    double *samples = calloc((size_t)n_results * 4 * (size_t)o.reps, sizeof *samples);
    if (!res || !samples) {
        free(res), free(samples);
        if (json && json != stdout) fclose(json);
        return runtime_error("out of memory");
    }
    print_header();
    int done = 0;
    rc = 0;
    for (int mi = 0; mi < n_models && !rc; mi++) {
        lm_model *m;
        char shape[64];
        const char *dtype;
        if (plan[mi].shape >= 0) {
            const bench_shape *s = &shapes[plan[mi].shape];
            dtype = plan[mi].dtype == DT_F32 ? "f32" : "q8";
            progress(1, "building a random %s %s model", s->name, dtype);
            m = lm_model_random(&s->config, plan[mi].dtype == DT_F32 ? LM_FORMAT_V1 : LM_FORMAT_V2,
                                0, o.seed, &e);
            snprintf(shape, sizeof shape, "%s", s->name);
        } else {
            progress(1, "loading %s", o.model_path);
            m = lm_model_load(o.model_path, &e);
            snprintf(shape, sizeof shape, "%s", base_name(o.model_path));
            char *dot = strrchr(shape, '.');
            if (dot && dot != shape) *dot = '\0';
            for (char *p = shape; *p; p++)
                if (*p == '/' || *p == ' ' || *p == '"') *p = '_';
            dtype = m && lm_model_get_info(m).format == LM_FORMAT_V2 ? "q8" : "f32";
        }
        if (!m) {
            progress_clear();
            rc = runtime_error("%s", e.msg);
            break;
        }
        for (int ti = 0; ti < o.n_threads && !rc; ti++) {
            bench_result *r = &res[done];
            double *base = samples + (size_t)done * 4 * (size_t)o.reps;
            r->prefill_tps = base, r->decode_tps = base + o.reps;
            r->prefill_cpu = base + 2 * o.reps, r->decode_cpu = base + 3 * o.reps;
            snprintf(r->shape, sizeof r->shape, "%s", shape);
            snprintf(r->isa, sizeof r->isa, "%s", o.isa);
            r->dtype = dtype;
            r->threads = o.threads[ti];
            r->membw = probe_gbs[ti];
            r->fma_peak = probe_gflops[ti];
            rc = run_config(m, &o, r, done + 1, n_results);
            if (rc) break;
            if (r->threads != o.threads[ti]) r->membw = r->fma_peak = 0;
            progress_clear();
            print_row(r);
            done++;
        }
        lm_model_free(m);
    }
    progress_clear();
    if (json && !rc)
        rc = write_json(json, o.json, &o, res, done, o.threads, probe_gbs, probe_gflops,
                        o.probes ? o.n_threads : 0);
    else if (json && json != stdout)
        fclose(json);
    free(samples);
    free(res);
    return rc;
}
