/* lamina convert IN OUT.gguf [--type T] [-z tokenizer.bin]: a llama2.c
 * checkpoint as GGUF (lm_convert_file). The engine writes a temporary beside
 * OUT and renames it only when complete; SIGINT or SIGTERM meanwhile removes
 * the temporary (file.c), so an interrupted run leaves no partial file. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "front.h"

static const char usage[] =
    "usage: lamina convert IN OUT.gguf [--type f32|f16|bf16|q8_0] [-z tokenizer.bin]\n"
    "Write a llama2.c checkpoint (v0 or v1, fp32) and its tokenizer.bin as a GGUF v3\n"
    "file (llama architecture) that llama.cpp and other GGUF tools read.\n"
    "\n"
    "  --type T              the matrices' type (norms stay f32): f32 (default,\n"
    "                        exact), f16 or bf16 (round to nearest even), q8_0\n"
    "                        (ggml's Q8_0; a matrix whose rows are not whole\n"
    "                        blocks of 32 is written f16)\n"
    "  -z, --tokenizer PATH  the model's tokenizer.bin (default: tokenizer.bin beside\n"
    "                        IN)\n"
    "  -h, --help            this help\n"
    "\n"
    "A v2 (Q8_0) checkpoint is refused: convert its fp32 original. OUT appears only\n"
    "when complete and may not be IN or the tokenizer.\n";

typedef struct convert_args {
    const char *in, *out, *tokenizer;
    lm_convert_type type;
} convert_args;

static int usage_error(const char *what, const char *arg) {
    fprintf(stderr, "lamina: error: convert: %s%s (see lamina convert --help)\n", what, arg);
    return 2;
}

static int parse_type(const char *s, lm_convert_type *t) {
    static const char *const names[] = {"f32", "f16", "bf16", "q8_0"};
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0) return *t = (lm_convert_type)i, 0;
    return -1;
}

/* 0 to go on, 1 for --help (printed), else the exit status of a usage error. */
static int parse(int argc, char **argv, convert_args *a) {
    int n = 0, options_end = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        int option = !options_end && arg[0] == '-' && arg[1] != '\0';
        if (option && strcmp(arg, "--") == 0) {
            options_end = 1;
        } else if (option && (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0)) {
            fputs(usage, stdout);
            return 1;
        } else if (option && (strcmp(arg, "--type") == 0 || strcmp(arg, "-z") == 0 ||
                              strcmp(arg, "--tokenizer") == 0)) {
            if (i + 1 >= argc) return usage_error(arg, " needs a value");
            const char *v = argv[++i];
            if (strcmp(arg, "--type") == 0) {
                if (parse_type(v, &a->type))
                    return usage_error("--type: not f32, f16, bf16 or q8_0: ", v);
            } else {
                a->tokenizer = v;
            }
        } else if (option) {
            return usage_error("unknown option ", arg);
        } else if (n < 2) {
            *(n++ ? &a->out : &a->in) = arg;
        } else {
            return usage_error("unexpected argument ", arg);
        }
    }
    return n < 2 ? usage_error("needs an input checkpoint and an output file", "") : 0;
}

/* "lamina: convert: NN%" on a terminal, rewritten when NN changes. */
static void show_progress(void *arg, uint64_t done, uint64_t total) {
    int *shown = arg, pct = total ? (int)(done * 100 / total) : 100;
    if (pct != *shown) fprintf(stderr, "\rlamina: convert: %3d%%", pct);
    if (done == total) fputc('\n', stderr);
    *shown = pct;
}

int cli_convert(int argc, char **argv) {
    convert_args a = {0};
    int rc = parse(argc, argv, &a);
    if (rc) return rc == 1 ? 0 : rc;
    char buf[PATH_MAX];
    const char *beside = a.tokenizer ? NULL : cli_tokenizer_default(a.in, buf, sizeof buf);
    if (!a.tokenizer && !beside) return 1;
    lm_error e;
    lm_progress_fn *progress = isatty(2) ? show_progress : NULL;
    int shown = -1;
    cli_cancel_begin();
    rc = lm_convert_file(a.in, a.tokenizer ? a.tokenizer : beside, a.out, a.type, progress, &shown,
                         &cli_cancel, &e);
    if (rc && beside) cli_explain_tokenizer(beside, &e);
    if (rc) return cli_cancel_end(cli_error("%s", e.msg));
    cli_cancel_end(0);
    fprintf(stderr, "lamina: wrote %s\n", a.out);
    return 0;
}
