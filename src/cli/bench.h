/* `lamina bench`: end-to-end prefill and decode speed of random-weight models
 * of the stories / Llama-2 shapes (lm_config_preset) or of a checkpoint, with
 * warm-up, repetitions, roofline probes (memory bandwidth, FMA peak) and
 * Google Benchmark-compatible JSON. bench/README.md explains the numbers.
 *
 * The parts: bench_args.c (options), bench_run.c (the plan and the timed
 * runs, one sequence or a batch of them), bench_stats.c (summaries and flop
 * counts), bench_report.c (progress, table, JSON), probe.c (the probes).
 *
 * Exit status: 0 success, 1 a runtime error (allocation, a failed forward),
 * 2 a usage error (bad flag, unknown shape, unknown ISA). */
#ifndef LAMINA_CLI_BENCH_H
#define LAMINA_CLI_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "lamina.h"

#define BENCH_MAX_LIST 16 /* thread counts, batch sizes, shapes */

/* Weight types of the random models; DT_Q4_0 .. DT_Q6_K are GGUF images with
 * llama-quantize's per-tensor mixture of that file type (bench_blocks.c). */
enum {
    DT_F32 = 1,
    DT_Q8 = 2,
    DT_Q4_0 = 4,
    DT_Q4_K_M = 8,
    DT_Q5_K_M = 16,
    DT_Q6_K = 32,
    DT_LAST = DT_Q6_K
};
#define DT_ALL (2 * DT_LAST - 1)

typedef struct bench_opts {
    unsigned shape_mask; /* bit i: the i-th name of lm_config_presets() */
    int dtype_mask;
    const char *model_path;
    int threads[BENCH_MAX_LIST], n_threads;
    int batch[BENCH_MAX_LIST], n_batch; /* --batch: sequences decoding together */
    const char *isa;
    int prompt, gen, reps, warmup;
    const char *json;
    int probes;
    int list_shapes;
    uint64_t seed;
    lm_kv_type kv_type; /* --kv-type */
} bench_opts;

/* bench_args.c: returns -1 to go on, or an exit status (0 after --help). */
int bench_parse(int argc, char **argv, bench_opts *o);
/* The same without I/O or defaults that need the machine (the fuzz target's
 * entry): 0 parsed, 1 --help asked, 2 a usage error with its line in err. */
int bench_parse_opts(int argc, char **argv, bench_opts *o, char *err, size_t len);
int bench_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));   /* 2 */
int bench_runtime_error(const char *fmt, ...) __attribute__((format(printf, 1, 2))); /* 1 */

/* The i-th name of lm_config_presets() into name; 0 past the last. */
int bench_shape_name(int i, char *name, size_t len);

/* bench_blocks.c: a dtype's name ("q4_k_m") and back (0: unknown). */
const char *bench_dtype_name(int dt);
int bench_dtype_parse(const char *name);
/* A GGUF image (aligned_alloc'd, the caller frees it after lm_model_free) of a
 * random model of config c in block dtype dt; *read_bytes = weight bytes read
 * per token, *bits their average bits per weight. NULL: out of memory. */
void *bench_block_image(const lm_config *c, int dt, uint64_t seed, size_t *size,
                        uint64_t *read_bytes, double *bits);

/* bench_stats.c */
typedef struct bench_summary {
    double median, mean, stddev, min, max;
} bench_summary;

bench_summary bench_summarize(const double *v, int n);
/* Flops of a prefill of P tokens from position 0 (layers, attention, and the
 * classifier on the last token). */
double bench_prefill_flops(const lm_config *c, int P);
/* Flops of decoding G tokens one by one after a prompt of P. */
double bench_decode_flops(const lm_config *c, int P, int G);

/* One measured configuration: a model, a thread count and (with --batch) a
 * number of sequences. Token rates are aggregate over the batch. */
typedef struct bench_result {
    char shape[64];
    const char *dtype;
    char isa[32];
    int threads, prompt, gen, reps;
    int batch;                        /* sequences at once; 0 = one, through lm_forward */
    double *prefill_tps, *decode_tps; /* [reps] tokens per second */
    double *prefill_cpu, *decode_cpu; /* [reps] process CPU seconds per token */
    uint64_t weight_bytes;
    double prefill_flops; /* of the whole prompt (of one sequence) */
    double decode_flops;  /* of the whole decode (of one sequence) */
    double membw;         /* GB/s of the probe at this thread count, 0 if not probed */
    double fma_peak;      /* GFLOP/s of the probe at this thread count, 0 if not probed */
} bench_result;

/* bench_run.c */
double bench_cpu_seconds(void); /* the process's CPU time */

/* bench_report.c: progress on stderr (a rewritten line at a terminal), the
 * table on `table` (stdout, or stderr when the JSON goes to stdout). */
void bench_output_init(FILE *table);
FILE *bench_table(void);
int bench_progress_tty(void);
void bench_progress(int force, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void bench_progress_clear(void);
void bench_print_header(void);
void bench_print_row(const bench_result *r);
/* Both probes at every thread count of the run, printed above the table;
 * returns -1 if the bandwidth probe's buffer cannot be had. */
int bench_run_probes(const bench_opts *o, double *gbs, double *gflops);
int bench_write_json(FILE *f, const bench_opts *o, const bench_result *res, int n,
                     const double *probe_gbs, const double *probe_gflops, int n_probe);

/* Test only (bench/gate_selftest.sh): bench_slowdown.c, compiled only into a
 * -DLAMINA_BENCH_SLOWDOWN=ON build, whose binary is named lamina-slow and is
 * never installed, busy-waits after each forward call; bench_slowdown_start
 * (called first thing in main) busy-waits LAMINA_BENCH_SLOWDOWN_START_MS, a
 * start-up regression for the gate's whole-process metrics. Other builds have
 * neither the code nor a hook. */
#ifdef LAMINA_BENCH_SLOWDOWN
void bench_slowdown(double wall, double cpu);
double bench_slowdown_pct(void);
void bench_slowdown_start(void);
#else
#define bench_slowdown(wall, cpu) ((void)(wall), (void)(cpu))
#define bench_slowdown_pct() 0.0
#define bench_slowdown_start() ((void)0)
#endif

#endif
