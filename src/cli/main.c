/* lamina: the command-line front end, a drop-in for llama2.c's `run`.
 * Exit status: 0 success, 1 a file or runtime error (a write that failed
 * included), 2 a usage error; 141 (SIGPIPE) when the reader of a pipe left
 * and SIGPIPE has its default action. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "args.h"
#include "bench.h"
#include "cli.h"
#include "demo.h"
#include "front.h"
#include "lamina.h"

/* ---- standard streams ---------------------------------------------------- */

/* A closed standard stream gets a placeholder open the wrong way round, so
 * that the next file opened cannot take its number (and receive our output)
 * while writing to it still fails (EBADF) as writing to a closed one would. */
static void hold_standard_fds(void) {
    for (int fd = 0; fd <= 2; fd++)
        if (fcntl(fd, F_GETFD) < 0 && errno == EBADF) {
            int held = open("/dev/null", fd == 0 ? O_WRONLY : O_RDONLY);
            if (held >= 0 && held != fd) close(held); /* a lower one was free: leave it */
        }
}

/* Everything printed reached stdout (a full disk, a closed descriptor, a
 * reader gone with SIGPIPE ignored are errors, not a silent exit 0). */
static int finish_output(int rc) {
    errno = 0;
    int bad = fflush(stdout) != 0 || ferror(stdout);
    int saved = errno;
    if (fclose(stdout) != 0 && !bad) bad = 1, saved = errno;
    if (bad && rc == 0)
        rc = cli_error("cannot write the output: %s", saved ? strerror(saved) : "I/O error");
    if (ferror(stderr) && rc == 0) rc = 1; /* nothing left to say it with */
    return rc;
}

/* ---- commands ------------------------------------------------------------ */

/* The kernel set: --isa, else LAMINA_ISA, else the best the CPU runs. A bad
 * LAMINA_ISA is an error, except for --version, which says it and goes on. */
static int choose_isa(const cli_args *a) {
    lm_error e;
    const char *env = getenv("LAMINA_ISA");
    const char *name = a->isa ? a->isa : env && *env ? env : NULL;
    cli_isa = lm_isa_best();
    if (name && lm_isa_check(name, &e)) {
        if (!a->isa && a->command == CLI_VERSION) {
            cli_warning("LAMINA_ISA: %s (ignored)", e.msg);
            return 0;
        }
        fprintf(stderr, "lamina: error: %s: %s\n", a->isa ? "--isa" : "LAMINA_ISA", e.msg);
        return 2;
    }
    if (name) cli_isa = name;
    return 0;
}

static int print_version(void) {
    printf("lamina %s\n", LM_VERSION);
    printf("cpu: %s\n", lm_cpu_description());
    printf("kernels: %s (built: %s)\n", cli_isa, lm_isa_list());
    printf("arithmetic order: v%d (kernels/ORDER.md)\n", lm_order_version());
    return 0;
}

static void print_usage(void) {
    cli_print_usage(stdout);
    fputs("\ncommands with their own options (lamina COMMAND --help):\n", stdout);
    for (const cli_subcommand *c = cli_subcommands; c->name; c++)
        printf("  lamina %-10s %s\n", c->name, c->summary);
}

/* The subcommands that parse their own arguments (cli.h, commands.c). */
static const cli_subcommand *find_subcommand(int argc, char **argv) {
    for (const cli_subcommand *c = cli_subcommands; argc > 1 && c->name; c++)
        if (strcmp(argv[1], c->name) == 0) return c;
    return NULL;
}

static int dispatch(int argc, char **argv) {
    cli_args a;
    char err[512];
    cli_check_env_threads();
    const cli_subcommand *sub = find_subcommand(argc, argv);
    if (sub) return sub->run(argc - 1, argv + 1);
    if (cli_parse(argc, argv, &a, err, sizeof err)) {
        fprintf(stderr, "lamina: error: %s\n", err);
        return 2;
    }
    if (a.command == CLI_HELP && argc > 1 && strcmp(argv[1], "quantize") == 0)
        return cli_print_quantize_usage(stdout), 0;
    if (a.command == CLI_HELP) return print_usage(), 0;
    cli_wcache = (wcache_opts){a.weights_cache, a.no_weights_cache, 0};
    int rc = choose_isa(&a);
    if (rc) return rc;
    if (a.command != CLI_VERSION && a.command != CLI_TOKENIZE &&
        cli_check_threads(cli_threads_wanted(a.threads)))
        return 1;
    switch (a.command) {
    case CLI_VERSION: return print_version();
    case CLI_INFO: return cmd_info(&a);
    case CLI_TOKENIZE: return cmd_tokenize(&a);
    case CLI_QUANTIZE: return a.quant_type >= 0 ? cmd_quantize_gguf(&a) : cmd_quantize(&a);
    default: return cmd_run(&a);
    }
}

int main(int argc, char **argv) {
    bench_slowdown_start(); /* test-only builds (gate self-test); nothing otherwise */
    hold_standard_fds();
    return finish_output(dispatch(argc, argv));
}
