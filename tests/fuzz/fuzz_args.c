/* Fuzz target: the CLI argument parser (src/cli/args.c).
 *
 * The input is split on NUL bytes into argv[1..] (argv[0] is "lamina"); each
 * argument is its own allocation so that ASan sees any read past its end.
 * cli_parse must return 0 or 2; on 2 it leaves a one-line message; on 0 every
 * value is in its documented range and every string points into argv. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <math.h>
#include <string.h>

#include "args.h"
#include "fuzz_common.h"

#define MAX_ARGS 64

static int in_argv(const char *s, char **argv, int argc) {
    if (!s) return 1;
    for (int i = 0; i < argc; i++)
        if (s == argv[i]) return 1;
    return 0;
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
            /* `info` without a checkpoint describes the embedded demo model. */
            if (a.command == CLI_INFO && a.parallel)
                FUZZ_CHECK(a.parallel >= 1 && a.parallel <= 65536, "parallel %d", a.parallel);
        }
    }
    for (int i = 0; i < argc; i++) free(argv[i]);
    return 0;
}
