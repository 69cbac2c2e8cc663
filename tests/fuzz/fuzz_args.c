/* Fuzz target: the option parsers of every command, all on the one table of
 * src/options: cli_parse (run, tokenize, info, quantize; src/cli/args.c),
 * bench_parse_opts (src/cli/bench_args.c), batch_parse_opts
 * (src/batch/batch_args.c) and serve_parse_args (src/serve/serve_args.c).
 *
 * The input is split on NUL bytes into argv[1..] (argv[0] is "lamina"); each
 * argument is its own allocation so that ASan sees any read past its end.
 * Every parser gets the same argv. cli_parse must return 0 or 2; on 2 it
 * leaves a one-line message; on 0 every value is in its documented range and
 * every string points into argv; the others likewise. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <math.h>
#include <string.h>

#include "args.h"
#include "lamina.h"
#include "batch.h"
#include "bench.h"
#include "serve_args.h"
#include "fuzz_common.h"

#define MAX_ARGS 64

/* s is an argument, or the value of one written --name=value (the text after
 * its first '='). */
static int in_argv(const char *s, char **argv, int argc) {
    if (!s) return 1;
    for (int i = 0; i < argc; i++) {
        if (s == argv[i]) return 1;
        const char *eq = strchr(argv[i], '=');
        if (argv[i][0] == '-' && eq && s == eq + 1) return 1;
    }
    return 0;
}

/* The same bounds in every command (src/options/options.c). */
static void check_request_defaults(float temperature, float topp, int steps, int threads) {
    FUZZ_CHECK(isfinite(temperature) && temperature >= 0, "temperature %g", (double)temperature);
    FUZZ_CHECK(topp >= 0 && topp <= 1, "top-p %g", (double)topp);
    FUZZ_CHECK(steps >= 0 && steps <= (1 << 30), "steps %d", steps);
    FUZZ_CHECK(threads >= 0 && threads <= 4096, "threads %d", threads);
}

static void check_message(int rc, const char *err, size_t size) {
    if (rc == 2)
        FUZZ_CHECK(err[0] != '\0' && memchr(err, '\0', size), "empty or unterminated message");
}

static void fuzz_bench(int argc, char **argv) {
    bench_opts o;
    char err[256] = "";
    int rc = bench_parse_opts(argc, argv, &o, err, sizeof err);
    FUZZ_CHECK(rc >= 0 && rc <= 2, "bench rc %d", rc);
    check_message(rc, err, sizeof err);
    if (rc != 0) return;
    FUZZ_CHECK(o.n_threads >= 0 && o.n_threads <= BENCH_MAX_LIST, "bench threads n %d",
               o.n_threads);
    for (int i = 0; i < o.n_threads; i++)
        FUZZ_CHECK(o.threads[i] >= 1 && o.threads[i] <= 4096, "bench threads %d", o.threads[i]);
    for (int i = 0; i < o.n_batch; i++)
        FUZZ_CHECK(o.batch[i] >= 1 && o.batch[i] <= 4096, "bench batch %d", o.batch[i]);
    FUZZ_CHECK(o.reps >= 1 && o.reps <= 1000 && o.warmup >= 0 && o.warmup <= 1000, "bench reps");
    FUZZ_CHECK(o.prompt + o.gen > 0, "bench with no tokens");
    FUZZ_CHECK(in_argv(o.model_path, argv, argc) && in_argv(o.json, argv, argc) &&
                   in_argv(o.isa, argv, argc),
               "bench string not from argv");
}

static void fuzz_batch(int argc, char **argv) {
    batch_args a;
    char err[256] = "";
    int rc = batch_parse_opts(argc, argv, &a, err, sizeof err);
    FUZZ_CHECK(rc >= 0 && rc <= 2, "batch rc %d", rc);
    check_message(rc, err, sizeof err);
    if (rc != 0) return;
    check_request_defaults(a.temperature, a.topp, a.steps, a.threads);
    FUZZ_CHECK(a.parallel >= 1 && a.parallel <= 4096, "batch parallel %d", a.parallel);
    FUZZ_CHECK(a.shard_i >= 0 && a.shard_i < a.shard_n, "batch shard %d/%d", a.shard_i, a.shard_n);
    FUZZ_CHECK(a.ctx >= 0 && a.ctx <= (1 << 30), "batch ctx %d", a.ctx);
    FUZZ_CHECK(a.model && in_argv(a.model, argv, argc) && in_argv(a.input, argv, argc) &&
                   in_argv(a.output, argv, argc) && in_argv(a.tokenizer, argv, argc),
               "batch string not from argv");
}

static void fuzz_serve(int argc, char **argv) {
    serve_config c;
    char err[256] = "";
    int rc = serve_parse_args(argc, argv, &c, err, sizeof err);
    FUZZ_CHECK(rc >= -1 && rc <= 2, "serve rc %d", rc);
    if (rc == 0) {
        check_request_defaults(c.temperature, c.topp, c.steps, c.threads);
        FUZZ_CHECK(c.port >= 0 && c.port <= 65535, "serve port %d", c.port);
        FUZZ_CHECK(c.parallel >= 1 && c.parallel <= 4096, "serve parallel %d", c.parallel);
        FUZZ_CHECK(c.model_path && in_argv(c.model_path, argv, argc), "serve model");
        for (int i = 0; i < c.n_allow_hosts; i++)
            FUZZ_CHECK(serve_printable(c.allow_hosts[i]), "serve allow-host");
    } else if (rc != 1) {
        FUZZ_CHECK(err[0] != '\0' && memchr(err, '\0', sizeof err), "serve: empty message");
    }
    free(c.allow_hosts);
    free(c.cors_origins);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *argv[MAX_ARGS + 2];
    int argc = 0;
    argv[argc++] = strdup("lamina");
    for (size_t start = 0; size > 0 && start <= size && argc <= MAX_ARGS;) {
        const uint8_t *nul = memchr(data + start, 0, size - start);
        size_t len = nul ? (size_t)(nul - (data + start)) : size - start;
        char *arg = malloc(len + 1);
        memcpy(arg, data + start, len);
        arg[len] = '\0';
        argv[argc++] = arg;
        if (!nul) break;
        start += len + 1;
    }
    argv[argc] = NULL;

    cli_args a;
    char err[128];
    err[0] = '\0';
    int rc = cli_parse(argc, argv, &a, err, sizeof err);
    FUZZ_CHECK(rc == 0 || rc == 2, "rc %d", rc);
    if (rc == 2) {
        /* the message may quote an argument, newlines and all */
        FUZZ_CHECK(err[0] != '\0' && memchr(err, '\0', sizeof err),
                   "empty or unterminated message");
    } else {
        FUZZ_CHECK(a.command >= CLI_RUN && a.command <= CLI_VERSION, "command %d", a.command);
        {
            FUZZ_CHECK(isfinite(a.temperature) && a.temperature >= 0, "temperature %g",
                       (double)a.temperature);
            FUZZ_CHECK(a.topp >= 0 && a.topp <= 1, "top-p %g", (double)a.topp);
            FUZZ_CHECK(a.steps >= 0, "steps %d", a.steps);
            FUZZ_CHECK(a.threads >= 0 && a.threads <= 4096, "threads %d", a.threads);
            FUZZ_CHECK(a.chat == 0 || a.chat == 1, "chat %d", a.chat);
            const char *strings[] = {a.checkpoint, a.tokenizer, a.prompt, a.system, a.isa, a.text};
            for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++)
                FUZZ_CHECK(in_argv(strings[i], argv, argc), "string %zu not from argv", i);
            if (a.command == CLI_TOKENIZE) FUZZ_CHECK(a.text != NULL, "tokenize without text");
            /* quantize: IN and OUT; --type (GGUF) or --group-size (v2), never both */
            if (a.command == CLI_QUANTIZE)
                FUZZ_CHECK(a.checkpoint && a.output && in_argv(a.output, argv, argc) &&
                               a.quant_type >= -1 && a.quant_type <= LM_QUANT_Q6_K &&
                               (a.quant_type < 0 || a.group_size == 0) &&
                               (a.quant_type >= 0 || a.tokenizer == NULL),
                           "quantize type %d group %d", a.quant_type, a.group_size);
            /* `info` without a checkpoint describes the embedded demo model. */
            if (a.command == CLI_INFO && a.parallel)
                FUZZ_CHECK(a.parallel >= 1 && a.parallel <= 65536, "parallel %d", a.parallel);
        }
    }
    fuzz_bench(argc, argv);
    fuzz_batch(argc, argv);
    fuzz_serve(argc, argv);
    for (int i = 0; i < argc; i++) free(argv[i]);
    return 0;
}
