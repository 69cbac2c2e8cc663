/* `lamina bench` options (bench.h). */
#include <omp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "options.h"

static const char usage_head[] =
    "usage: lamina bench [options]\n"
    "Measure prefill (one batch of prompt tokens through lm_forward) and decode\n"
    "(single-token forwards after it) speed of random-weight models in memory.\n"
    "\n";
static const char usage_tail[] =
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

/* Sets the bit of each named shape (bit i: the i-th of lm_config_presets()). */
static int add_shapes(bench_opts *o, const char *list, char *err, size_t len) {
    const char *names = lm_config_presets();
    char buf[256];
    snprintf(buf, sizeof buf, "%s", list);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        int all = strcmp(tok, "all") == 0, found = 0;
        char name[32];
        for (int i = 0; bench_shape_name(i, name, sizeof name); i++)
            if (all || strcmp(name, tok) == 0) o->shape_mask |= 1u << i, found = 1;
        if (!found) return snprintf(err, len, "unknown shape '%s' (%s, all)", tok, names), 2;
    }
    return 0;
}

/* The dtype names (bench.h's DT_*), for parsing and the table. */
static const struct {
    int dt;
    const char *name;
} names[] = {{DT_F32, "f32"},       {DT_Q8, "q8"},         {DT_Q4_0, "q4_0"},
             {DT_Q4_K_M, "q4_k_m"}, {DT_Q5_K_M, "q5_k_m"}, {DT_Q6_K, "q6_k"}};

const char *bench_dtype_name(int dt) {
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (names[i].dt == dt) return names[i].name;
    return "?";
}

int bench_dtype_parse(const char *name) {
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (strcmp(names[i].name, name) == 0) return names[i].dt;
    return 0;
}

/* --dtype: comma-separated names (bench_dtype_parse) or all. */
static int set_dtypes(bench_opts *o, const char *val, char *err, size_t len) {
    char buf[128];
    snprintf(buf, sizeof buf, "%s", val);
    o->dtype_mask = 0;
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        int d = strcmp(t, "all") == 0 ? DT_ALL : bench_dtype_parse(t);
        if (!d)
            return snprintf(err, len,
                            "--dtype: '%s' is not f32, q8, q4_0, q4_k_m, q5_k_m, q6_k or all", t),
                   2;
        o->dtype_mask |= d;
    }
    if (!o->dtype_mask) return snprintf(err, len, "--dtype needs a type"), 2;
    return 0;
}

/* Store one option of the table (src/options); 0 or 2 with err set. */
static int set_option(void *ctx, const opt_spec *s, const opt_value *v, char *err, size_t len) {
    bench_opts *o = ctx;
    if (!s) /* bench takes no positional argument */
        return snprintf(err, len, "unexpected argument '%s' (see lamina bench --help)", v->str), 2;
    switch (s->id) {
    case O_SHAPE: return add_shapes(o, v->str, err, len);
    case O_DTYPE: return set_dtypes(o, v->str, err, len);
    case O_MODEL: o->model_path = v->str; return 0;
    case O_THREAD_LIST:
        memcpy(o->threads, v->counts, sizeof o->threads);
        o->n_threads = v->n_counts;
        return 0;
    case O_BATCH_LIST:
        memcpy(o->batch, v->counts, sizeof o->batch);
        o->n_batch = v->n_counts;
        return 0;
    case O_ISA: o->isa = v->str; return 0;
    case O_KV_TYPE: o->kv_type = (lm_kv_type)v->u; return 0;
    case O_JSON: o->json = v->str; return 0;
    case O_BENCH_SEED: o->seed = v->u; return 0;
    case O_PROMPT_TOKENS: o->prompt = (int)v->u; return 0;
    case O_GEN_TOKENS: o->gen = (int)v->u; return 0;
    case O_REPS: o->reps = (int)v->u; return 0;
    case O_WARMUP: o->warmup = (int)v->u; return 0;
    case O_NO_PROBES: o->probes = 0; return 0;
    case O_LIST_SHAPES: o->list_shapes = 1; return 0;
    default: return 0; /* the table gives bench no other option */
    }
}

int bench_parse_opts(int argc, char **argv, bench_opts *o, char *err, size_t len) {
    _Static_assert(BENCH_MAX_LIST == OPT_MAX_COUNTS, "bench's lists are the table's");
    *o = (bench_opts){.dtype_mask = DT_F32 | DT_Q8,
                      .prompt = 128,
                      .gen = 128,
                      .reps = 5,
                      .warmup = 1,
                      .probes = 1,
                      .seed = 1};
    int status;
    switch (opt_parse_all(OPT_BENCH, argc, argv, 1, set_option, o, &status, err, len)) {
    case OPT_END: break;
    case OPT_HELP: return 1;
    default: return 2;
    }
    if (o->prompt + o->gen == 0)
        return snprintf(err, len, "--prompt-tokens and --gen-tokens are both 0"), 2;
    if (!o->shape_mask && !o->model_path) add_shapes(o, "15M", err, len);
    return 0;
}

int bench_parse(int argc, char **argv, bench_opts *o) {
    char err[512];
    int rc = bench_parse_opts(argc, argv, o, err, sizeof err);
    if (rc == 1) {
        opt_usage(stdout, OPT_BENCH, usage_head, usage_tail);
        return 0;
    }
    if (rc) return fprintf(stderr, "lamina: error: bench: %s\n", err), 2;
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
