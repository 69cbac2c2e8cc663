/* `lamina bench` output (bench.h): progress on stderr, the table, the probes'
 * lines and Google Benchmark-compatible JSON. */
#include <limits.h>
#include <omp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "probe.h"

static int progress_tty;
static FILE *table;
static double progress_last;
static int last_row_batched = -1; /* the header printed last: -1 none, 0 single, 1 batch */

void bench_output_init(FILE *t) {
    table = t;
    progress_tty = isatty(2);
}

FILE *bench_table(void) { return table; }
int bench_progress_tty(void) { return progress_tty; }

void bench_progress_clear(void) {
    if (progress_tty) fputs("\r\033[K", stderr);
}

/* The TTY line is rewritten at most every 0.1 s (or when `force`). */
void bench_progress(int force, const char *fmt, ...) {
    if (!progress_tty) {
        if (!force) return;
        fputs("bench: ", stderr);
    } else {
        double t = lm_seconds();
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

/* ---- the table ------------------------------------------------------------- */

static void fmt_tps(char *buf, size_t len, const double *v, int n, int tokens) {
    if (!tokens) {
        snprintf(buf, len, "-");
        return;
    }
    bench_summary s = bench_summarize(v, n);
    int d = s.median >= 100 ? 0 : 1;
    if (n > 1)
        snprintf(buf, len, "%.*f (%.*f-%.*f)", d, s.median, d, s.min, d, s.max);
    else
        snprintf(buf, len, "%.*f", d, s.median);
}

void bench_print_header(void) {
    fprintf(table, "%-8s %-6s %-11s %3s %-24s %7s %5s  %-24s %8s %5s\n", "shape", "dtype", "isa",
            "thr", "prefill tok/s (min-max)", "GFLOP/s", "% FMA", "decode tok/s (min-max)",
            "dec GB/s", "% BW");
    fflush(table);
    last_row_batched = 0;
}

/* Batched rows: tok/s of all sequences together; decode is compared with the
 * FMA peak, as a batch turns decode from reading weights into computing. */
static void print_batch_header(void) {
    fprintf(table, "%-8s %-6s %-11s %3s %-24s %7s %5s  %-24s %8s %5s\n", "batch", "dtype", "isa",
            "thr", "prefill tok/s (min-max)", "GFLOP/s", "% FMA", "decode tok/s (min-max)",
            "GFLOP/s", "% FMA");
    last_row_batched = 1;
}

/* "value" and "percent of peak" cells; "-" where there is no figure. */
static void fmt_rate(char *val, char *pct, size_t len, double v, double peak) {
    snprintf(val, len, "%.1f", v);
    if (peak > 0) snprintf(pct, len, "%.0f%%", 100 * v / peak);
}

/* Flops per decoded token: its products, its attention over the positions
 * before it (on average those of the middle of the decode) and the classifier. */
static double decode_flops_per_token(const bench_result *r) {
    return r->decode_flops / (r->gen ? r->gen : 1);
}

void bench_print_row(const bench_result *r) {
    char pre[64], dec[64], gf[32] = "-", fpct[32] = "-", gbs[32] = "-", bpct[32] = "-";
    char shape[sizeof r->shape + 16];
    if (r->batch && last_row_batched != 1) print_batch_header();
    if (!r->batch && last_row_batched != 0) bench_print_header();
    fmt_tps(pre, sizeof pre, r->prefill_tps, r->reps, r->prompt);
    fmt_tps(dec, sizeof dec, r->decode_tps, r->reps, r->gen);
    if (r->prompt) {
        double tps = bench_summarize(r->prefill_tps, r->reps).median;
        fmt_rate(gf, fpct, sizeof gf, r->prefill_flops / r->prompt * tps / 1e9, r->fma_peak);
    }
    if (r->gen) {
        double tps = bench_summarize(r->decode_tps, r->reps).median;
        if (r->batch)
            fmt_rate(gbs, bpct, sizeof gbs, decode_flops_per_token(r) * tps / 1e9, r->fma_peak);
        else
            fmt_rate(gbs, bpct, sizeof gbs, (double)r->weight_bytes * tps / 1e9, r->membw);
    }
    if (r->batch)
        snprintf(shape, sizeof shape, "%s x%d", r->shape, r->batch);
    else
        snprintf(shape, sizeof shape, "%s", r->shape);
    fprintf(table, "%-8s %-6s %-11s %3d %-24s %7s %5s  %-24s %8s %5s\n", shape, r->dtype, r->isa,
            r->threads, pre, gf, fpct, dec, gbs, bpct);
    fflush(table);
}

int bench_run_probes(const bench_opts *o, double *gbs, double *gflops) {
    bench_progress(1, "memory bandwidth probe (%lu MiB) and FMA probe", PROBE_BYTES >> 20);
    if (probe_membw(o->threads, o->n_threads, gbs)) return -1;
    probe_fma(o->threads, o->n_threads, gflops);
    bench_progress_clear();
    fprintf(table, "memory read bandwidth:");
    for (int i = 0; i < o->n_threads; i++)
        fprintf(table, " %.1f GB/s (%d thread%s)%s", gbs[i], o->threads[i],
                o->threads[i] == 1 ? "" : "s", i + 1 < o->n_threads ? "," : "");
    fprintf(table, "\nfp32 FMA peak (%s):", probe_fma_kind());
    for (int i = 0; i < o->n_threads; i++)
        fprintf(table, " %.1f GFLOP/s (%d thread%s)%s", gflops[i], o->threads[i],
                o->threads[i] == 1 ? "" : "s", i + 1 < o->n_threads ? "," : "");
    fprintf(table, "\n");
    return 0;
}

/* ---- JSON -------------------------------------------------------------------- */

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

/* The rates of one entry: tok/s and what it means against the probes. */
static void json_rates(FILE *f, const bench_result *r, double tps, int decode) {
    if (r->batch) fprintf(f, ",\n      \"batch\": %d", r->batch);
    if (decode) {
        double g = (double)r->weight_bytes * tps / (r->batch ? r->batch : 1) / 1e9;
        fprintf(f, ",\n      \"weight_GBps\": %.6e", g);
        if (r->membw > 0) fprintf(f, ",\n      \"mem_bw_pct\": %.6e", 100 * g / r->membw);
        if (!r->batch) return;
        double gf = decode_flops_per_token(r) * tps / 1e9;
        fprintf(f, ",\n      \"GFLOPs\": %.6e", gf);
        if (r->fma_peak > 0) fprintf(f, ",\n      \"fma_peak_pct\": %.6e", 100 * gf / r->fma_peak);
    } else {
        double g = r->prefill_flops / r->prompt * tps / 1e9;
        fprintf(f, ",\n      \"GFLOPs\": %.6e", g);
        if (r->fma_peak > 0) fprintf(f, ",\n      \"fma_peak_pct\": %.6e", 100 * g / r->fma_peak);
    }
}

/* One Google Benchmark entry; iterations are tokens and times are per token. */
static void json_entry(FILE *f, int *first, const char *name, int family, const char *run_type,
                       const char *aggregate, int rep, const bench_result *r, int tokens,
                       double tps, double cpu_per_token, int decode) {
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
            0);
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
    json_rates(f, r, tps, decode);
    fprintf(f, ",\n      \"label\": ");
    json_string(f, r->isa);
    fprintf(f, "\n    }");
}

static void json_stddev(FILE *f, const char *name, int family, const bench_result *r, int tokens,
                        double ms, double cpu) {
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
            r->reps, r->threads, tokens, ms, cpu * 1e3);
}

/* Every repetition, then mean / median / min / max / stddev of one phase.
 * Aggregates are over the per-token time, as Google Benchmark's are;
 * tok_per_s is 1000 / real_time of each (stddev: of the time only). */
static void json_phase(FILE *f, int *first, int family, const bench_result *r, int decode) {
    int tokens = decode ? r->gen : r->prompt;
    const double *tps = decode ? r->decode_tps : r->prefill_tps;
    const double *cpu = decode ? r->decode_cpu : r->prefill_cpu;
    char name[200], batch[32] = "";
    if (r->batch) snprintf(batch, sizeof batch, "batch:%d/", r->batch);
    snprintf(name, sizeof name, "%s/%s/%s/%s/%sthreads:%d", decode ? "decode" : "prefill", r->shape,
             r->dtype, r->isa, batch, r->threads);
    for (int k = 0; k < r->reps; k++)
        json_entry(f, first, name, family, "iteration", NULL, k, r, tokens, tps[k], cpu[k], decode);
    double *ms = malloc((size_t)r->reps * sizeof *ms);
    if (!ms) return;
    for (int j = 0; j < r->reps; j++) ms[j] = tps[j] > 0 ? 1e3 / tps[j] : 0;
    bench_summary st = bench_summarize(ms, r->reps), sc = bench_summarize(cpu, r->reps);
    free(ms);
    struct {
        const char *name;
        double ms, cpu;
    } aggs[] = {{"mean", st.mean, sc.mean},
                {"median", st.median, sc.median},
                {"min", st.min, sc.min},
                {"max", st.max, sc.max}};
    for (int k = 0; k < 4; k++)
        json_entry(f, first, name, family, "aggregate", aggs[k].name, 0, r, tokens,
                   aggs[k].ms > 0 ? 1e3 / aggs[k].ms : 0, aggs[k].cpu, decode);
    json_stddev(f, name, family, r, tokens, st.stddev, sc.stddev);
}

static void json_context(FILE *f, const bench_opts *o, const double *probe_gbs,
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
    fprintf(f, "    \"lamina_version\": \"%s\",\n", LM_VERSION);
    fprintf(f, "    \"lamina_order_version\": %d,\n    \"lamina_cpu\": ", lm_order_version());
    json_string(f, lm_cpu_description());
    fprintf(f, ",\n    \"lamina_isa\": ");
    json_string(f, o->isa);
    fprintf(f, ",\n    \"lamina_isa_list\": ");
    json_string(f, lm_isa_list());
    fprintf(f,
            ",\n    \"prompt_tokens\": %d,\n    \"gen_tokens\": %d,\n    \"reps\": %d,\n"
            "    \"warmup\": %d,\n    \"seed\": %llu,\n    \"slowdown_pct\": %g",
            o->prompt, o->gen, o->reps, o->warmup, (unsigned long long)o->seed,
            bench_slowdown_pct());
    for (int i = 0; i < n_probe; i++)
        fprintf(f, ",\n    \"mem_bw_GBps_threads_%d\": %.3f,\n    \"fma_GFLOPs_threads_%d\": %.3f",
                o->threads[i], probe_gbs[i], o->threads[i], probe_gflops[i]);
    fprintf(f, "\n  },\n");
}

int bench_write_json(FILE *f, const bench_opts *o, const bench_result *res, int n,
                     const double *probe_gbs, const double *probe_gflops, int n_probe) {
    json_context(f, o, probe_gbs, probe_gflops, n_probe);
    fprintf(f, "  \"benchmarks\": [\n");
    int first = 1, family = 0;
    for (int i = 0; i < n; i++)
        for (int decode = 0; decode < 2; decode++)
            if (decode ? res[i].gen : res[i].prompt)
                json_phase(f, &first, family++, &res[i], decode);
    fprintf(f, "\n  ]\n}\n");
    int bad = ferror(f);
    if (f != stdout)
        bad |= fclose(f) != 0;
    else
        fflush(f);
    if (bad) return bench_runtime_error("error writing %s", o->json);
    return 0;
}
