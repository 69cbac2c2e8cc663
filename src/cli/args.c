#include "args.h"

#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char cli_usage[] =
    "usage: lamina [checkpoint.bin] [options]      generate text (or chat with -m chat)\n"
    "       lamina tokenize [-z tokenizer.bin] TEXT  print the token ids of TEXT (with BOS)\n"
    "       lamina info checkpoint.bin              describe a checkpoint and what it needs\n"
    "       lamina quantize in.bin out.bin [--group-size N]   write a v2 (Q8_0) copy\n"
    "       lamina bench [--help]                   measure prefill and decode speed\n"
    "\n"
    "Without a checkpoint lamina runs its embedded demo model (King James Bible,\n"
    "1M parameters) with the prompt \"And it came to pass\".\n"
    "\n"
    "options (the same as llama2.c's run, plus long forms):\n"
    "  -t, --temperature T   sampling temperature, >= 0; 0 = greedy (default 1.0)\n"
    "  -p, --top-p P         nucleus sampling in [0, 1]; 0 or 1 = off (default 0.9)\n"
    "  -s, --seed N          random seed, >= 0; 0 = current time (default 0)\n"
    "  -n, --steps N         positions to run, prompt included; 0 = the model's seq_len\n"
    "                        (default 256; the KV cache holds this many)\n"
    "  -i, --prompt TEXT     the prompt (default: empty, or the demo prompt)\n"
    "  -z, --tokenizer PATH  tokenizer.bin (default: tokenizer.bin beside the checkpoint)\n"
    "  -m, --mode MODE       generate (default) or chat (Llama 2 chat template; user\n"
    "                        turns are read line by line from standard input)\n"
    "  -y, --system TEXT     system prompt for chat\n"
    "      --threads N       worker threads (default: automatic, also OMP_NUM_THREADS)\n"
    "      --isa NAME        force a kernel set: scalar, avx2, avx512, avx512vnni, neon,\n"
    "                        neondot (default: the best this CPU runs; also LAMINA_ISA)\n"
    "      --group-size N    quantize: Q8_0 group size (default: 64, halved until it\n"
    "                        divides dim and hidden_dim)\n"
    "  -h, --help            this help\n"
    "      --version         version, CPU features and the kernel set in use\n";

typedef enum { OPT_STRING, OPT_FLOAT, OPT_INT, OPT_SEED, OPT_MODE } opt_kind;

typedef struct option_spec {
    const char *short_name, *long_name;
    opt_kind kind;
    size_t offset;
    double min, max;
} option_spec;

#define AT(field) offsetof(cli_args, field)
static const option_spec options[] = {
    {"-t", "--temperature", OPT_FLOAT, AT(temperature), 0, INFINITY},
    {"-p", "--top-p", OPT_FLOAT, AT(topp), 0, 1},
    {"-s", "--seed", OPT_SEED, AT(seed), 0, 0},
    {"-n", "--steps", OPT_INT, AT(steps), 0, 1 << 30},
    {"-i", "--prompt", OPT_STRING, AT(prompt), 0, 0},
    {"-z", "--tokenizer", OPT_STRING, AT(tokenizer), 0, 0},
    {"-m", "--mode", OPT_MODE, AT(chat), 0, 0},
    {"-y", "--system", OPT_STRING, AT(system), 0, 0},
    {NULL, "--threads", OPT_INT, AT(threads), 1, 4096},
    {NULL, "--isa", OPT_STRING, AT(isa), 0, 0},
    {NULL, "--group-size", OPT_INT, AT(group_size), 1, 4096},
};

static int usage_error(char *err, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int usage_error(char *err, size_t len, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, len, fmt, ap);
    va_end(ap);
    return 2;
}

/* Store one option's value, checking that it is a number in range. */
static int set_option(const option_spec *o, const char *name, const char *value, cli_args *args,
                      char *err, size_t len) {
    void *field = (char *)args + o->offset;
    char *end = NULL;
    errno = 0;
    if (o->kind == OPT_STRING) {
        *(const char **)field = value;
        return 0;
    }
    if (o->kind == OPT_MODE) {
        if (strcmp(value, "generate") && strcmp(value, "chat"))
            return usage_error(err, len, "%s: '%s' is not a mode (generate or chat)", name, value);
        *(int *)field = strcmp(value, "chat") == 0;
        return 0;
    }
    if (o->kind == OPT_SEED) {
        unsigned long long v = strtoull(value, &end, 10);
        if (!*value || *end || errno || !isdigit((unsigned char)value[0])) /* " -1" wraps */
            return usage_error(err, len, "%s: '%s' is not a non-negative integer", name, value);
        *(uint64_t *)field = v;
        return 0;
    }
    double v = strtod(value, &end);
    if (!*value || *end || errno || !isfinite(v))
        return usage_error(err, len, "%s: '%s' is not a number", name, value);
    if (o->kind == OPT_INT && v != floor(v))
        return usage_error(err, len, "%s: '%s' is not an integer", name, value);
    if (v < o->min || v > o->max) {
        char range[64];
        snprintf(range, sizeof range, o->max == INFINITY ? "at least %g" : "from %g to %g", o->min,
                 o->max);
        return usage_error(err, len, "%s: %s is out of range (%s)", name, value, range);
    }
    if (o->kind == OPT_FLOAT && v > FLT_MAX) /* would become inf */
        return usage_error(err, len, "%s: %s is out of range (at most %g)", name, value, FLT_MAX);
    if (o->kind == OPT_INT)
        *(int *)field = (int)v;
    else
        *(float *)field = (float)v;
    return 0;
}

static const option_spec *find_option(const char *arg) {
    for (size_t i = 0; i < sizeof options / sizeof options[0]; i++)
        if ((options[i].short_name && strcmp(arg, options[i].short_name) == 0) ||
            strcmp(arg, options[i].long_name) == 0)
            return &options[i];
    return NULL;
}

static int subcommand(const char *word, cli_command *cmd) {
    static const struct {
        const char *name;
        cli_command cmd;
    } subs[] = {{"tokenize", CLI_TOKENIZE}, {"info", CLI_INFO}, {"quantize", CLI_QUANTIZE}};
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++)
        if (strcmp(word, subs[i].name) == 0) return *cmd = subs[i].cmd, 1;
    return 0;
}

/* Positional arguments each command takes: run [ckpt], tokenize TEXT,
 * info CKPT, quantize IN OUT. */
static int take_positional(cli_args *a, const char *arg, int *n, char *err, size_t len) {
    const char **slots[2] = {NULL, NULL};
    int max = 1;
    switch (a->command) {
    case CLI_RUN: slots[0] = &a->checkpoint; break;
    case CLI_TOKENIZE: slots[0] = &a->text; break;
    case CLI_INFO: slots[0] = &a->checkpoint; break;
    case CLI_QUANTIZE: slots[0] = &a->checkpoint, slots[1] = &a->output, max = 2; break;
    default: break;
    }
    if (*n >= max)
        return usage_error(err, len, "unexpected argument '%s' (see lamina --help)", arg);
    *slots[(*n)++] = arg;
    return 0;
}

int cli_parse(int argc, char **argv, cli_args *a, char *err, size_t len) {
    *a = (cli_args){.command = CLI_RUN, .temperature = 1.0f, .topp = 0.9f, .steps = 256};
    int i = 1, positional = 0;
    if (argc > 1 && subcommand(argv[1], &a->command)) i = 2;
    for (; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            a->command = CLI_HELP;
            return 0;
        }
        if (strcmp(arg, "--version") == 0) {
            a->command = CLI_VERSION;
            return 0;
        }
        if (arg[0] == '-' && arg[1] != '\0') {
            const option_spec *o = find_option(arg);
            if (!o) return usage_error(err, len, "unknown option '%s' (see lamina --help)", arg);
            if (i + 1 >= argc) return usage_error(err, len, "%s needs a value", arg);
            int rc = set_option(o, arg, argv[++i], a, err, len);
            if (rc) return rc;
        } else if (take_positional(a, arg, &positional, err, len)) {
            return 2;
        }
    }
    if (a->command == CLI_TOKENIZE && !a->text)
        return usage_error(err, len, "tokenize needs a TEXT argument");
    if (a->command == CLI_INFO && !a->checkpoint)
        return usage_error(err, len, "info needs a checkpoint argument");
    if (a->command == CLI_QUANTIZE && positional < 2)
        return usage_error(err, len, "quantize needs an input and an output checkpoint");
    return 0;
}
