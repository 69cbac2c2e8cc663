#include "args.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lamina.h"

const char cli_usage[] =
    "usage: lamina [checkpoint.bin] [options]      generate text (or chat with -m chat)\n"
    "       lamina tokenize [-z tokenizer.bin|vocab.gguf] [--] TEXT\n"
    "                                               print the token ids of TEXT (with BOS)\n"
    "       lamina info [checkpoint.bin] [--parallel N [-n N]]   describe a checkpoint and\n"
    "                                               what it needs (N sequences' KV caches)\n"
    "       lamina quantize in.bin out.bin [--group-size N]   write a v2 (Q8_0) copy\n"
    "       lamina quantize in.bin out.gguf --type T   GGUF of q4_0 .. q6_k, q4_k_m ...\n"
    "                                               (lamina quantize --help)\n"
    "\n"
    "Without a checkpoint lamina runs its embedded demo model (King James Bible,\n"
    "1M parameters, linked into this binary) with the prompt \"And it came to pass\".\n"
    "A checkpoint is a llama2.c file (v0, v1 fp32, v2 Q8_0) or a GGUF file of the\n"
    "llama architecture (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K or\n"
    "Q6_K weights, mixed as llama-quantize mixes them), recognised by its contents.\n"
    "\n"
    "options (the same as llama2.c's run, plus long forms; numbers are decimal:\n"
    "integers are digits with an optional sign, reals may have a fraction and an\n"
    "exponent such as 1e-3; no hex, inf or nan):\n"
    "  -t, --temperature T   sampling temperature, 0 to 3.4e38; 0 = greedy (default 1.0)\n"
    "  -p, --top-p P         nucleus sampling, 0 to 1; 0 or 1 = off (default 0.9); a\n"
    "                        tiny P keeps only the likeliest tokens (near-greedy)\n"
    "  -s, --seed N          random seed, 0 to 18446744073709551615; 0 = current time\n"
    "                        (default 0)\n"
    "  -n, --steps N         positions to run, prompt included, 0 to 1073741824; more\n"
    "                        than seq_len = seq_len; 0 = the most that fits in the\n"
    "                        memory available, at most seq_len (default 256; the KV\n"
    "                        cache holds this many)\n"
    "  -i, --prompt TEXT     the prompt (default: empty, or the demo prompt)\n"
    "  -z, --tokenizer PATH  tokenizer.bin, or a GGUF file (a model or vocabulary only)\n"
    "                        whose vocabulary to use (default: a GGUF model's own,\n"
    "                        else tokenizer.bin beside the checkpoint)\n"
    "  -m, --mode MODE       generate (default) or chat (Llama 2 chat template; user\n"
    "                        turns are read line by line from standard input)\n"
    "  -y, --system TEXT     system prompt for chat\n"
    "      --chat-template NAME  chat: llama2, mistral-v1, mistral-v3, mistral-v3-tekken,\n"
    "                        mistral-v7, mistral-v7-tekken, chatml, zephyr or llama3 (default: "
    "the\n"
    "                        model's template; llama2 for .bin checkpoints)\n"
    "      --threads N       worker threads, 1 to 4096 (default: automatic, also\n"
    "                        OMP_NUM_THREADS); more than the CPUs is a warning\n"
    "      --isa NAME        force a kernel set, one of those `lamina --version` lists\n"
    "                        (default: the best this CPU runs; also LAMINA_ISA)\n"
    "      --kv-type TYPE    the KV cache's elements: f32 (default) or f16 (half the\n"
    "                        memory; keys and values rounded to half; other bits)\n"
    "      --parallel N      info: add up the KV caches of N sequences of -n positions\n"
    "                        (as lamina batch / serve --parallel N hold), 1 to 65536\n"
    "      --group-size N    quantize: Q8_0 group size, 1 to 4096 (default: 64, halved\n"
    "                        until it divides dim and hidden_dim)\n"
    "      --weights-cache DIR  keep the packed weights of each model in DIR (default:\n"
    "                        $XDG_CACHE_HOME/lamina/weights or ~/.cache/lamina/weights;\n"
    "                        see `lamina cache --help`)\n"
    "      --no-weights-cache  pack the weights in memory at every start\n"
    "      --tensors         info: list each GGUF tensor the model reads (type, shape)\n"
    "  --                    the arguments after it are not options\n"
    "  -h, --help            this help\n"
    "      --version         version, CPU features and the kernel set in use\n"
    "tokenize takes -z; info takes --isa, --parallel, --kv-type, -n, --tensors and the "
    "weights-cache "
    "options; quantize takes --group-size; an "
    "option\n"
    "a command does not use is an error.\n";

typedef enum { OPT_STRING, OPT_REAL, OPT_INT, OPT_SEED, OPT_MODE, OPT_FLAG } opt_kind;

/* The commands an option applies to. */
#define FOR_RUN (1u << CLI_RUN)
#define FOR_TOKENIZE (1u << CLI_TOKENIZE)
#define FOR_INFO (1u << CLI_INFO)
#define FOR_QUANTIZE (1u << CLI_QUANTIZE)

typedef struct option_spec {
    const char *short_name, *long_name;
    opt_kind kind;
    size_t offset;
    double min, max;
    unsigned commands;
} option_spec;

#define AT(field) offsetof(cli_args, field)
static const option_spec options[] = {
    {"-t", "--temperature", OPT_REAL, AT(temperature), 0, FLT_MAX, FOR_RUN},
    {"-p", "--top-p", OPT_REAL, AT(topp), 0, 1, FOR_RUN},
    {"-s", "--seed", OPT_SEED, AT(seed), 0, 0, FOR_RUN},
    {"-n", "--steps", OPT_INT, AT(steps), 0, 1 << 30, FOR_RUN | FOR_INFO},
    {"-i", "--prompt", OPT_STRING, AT(prompt), 0, 0, FOR_RUN},
    {"-z", "--tokenizer", OPT_STRING, AT(tokenizer), 0, 0, FOR_RUN | FOR_TOKENIZE},
    {"-m", "--mode", OPT_MODE, AT(chat), 0, 0, FOR_RUN},
    {"-y", "--system", OPT_STRING, AT(system), 0, 0, FOR_RUN},
    {NULL, "--chat-template", OPT_STRING, AT(chat_template), 0, 0, FOR_RUN},
    {NULL, "--threads", OPT_INT, AT(threads), 1, 4096, FOR_RUN},
    {NULL, "--isa", OPT_STRING, AT(isa), 0, 0, FOR_RUN | FOR_INFO},
    {NULL, "--parallel", OPT_INT, AT(parallel), 1, 65536, FOR_INFO},
    {NULL, "--kv-type", OPT_STRING, AT(kv_type), 0, 0, FOR_RUN | FOR_INFO},
    {NULL, "--group-size", OPT_INT, AT(group_size), 1, 4096, FOR_QUANTIZE},
    {NULL, "--weights-cache", OPT_STRING, AT(weights_cache), 0, 0, FOR_RUN | FOR_INFO},
    {NULL, "--no-weights-cache", OPT_FLAG, AT(no_weights_cache), 0, 0, FOR_RUN | FOR_INFO},
    {NULL, "--tensors", OPT_FLAG, AT(tensors), 0, 0, FOR_INFO},
};

static const char *const command_names[] = {[CLI_RUN] = "generation",
                                            [CLI_TOKENIZE] = "tokenize",
                                            [CLI_INFO] = "info",
                                            [CLI_QUANTIZE] = "quantize"};

static int usage_error(char *err, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int usage_error(char *err, size_t len, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, len, fmt, ap);
    va_end(ap);
    return 2;
}

/* ---- the number grammar ------------------------------------------------- */

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* Digits from s; returns how many, and whether one was not 0. */
static size_t digits(const char *s, int *nonzero) {
    size_t n = 0;
    for (; is_digit(s[n]); n++)
        if (s[n] != '0') *nonzero = 1;
    return n;
}

int cli_parse_uint(const char *s, uint64_t max, uint64_t *out) {
    int negative = *s == '-', nonzero = 0;
    const char *d = s + (*s == '-' || *s == '+');
    size_t n = digits(d, &nonzero);
    if (n == 0 || d[n] != '\0') return CLI_NUM_SYNTAX;
    if (negative && nonzero) return CLI_NUM_RANGE;
    errno = 0;
    unsigned long long v = strtoull(d, NULL, 10);
    if (errno == ERANGE || v > max) return CLI_NUM_RANGE;
    *out = v;
    return CLI_NUM_OK;
}

int cli_parse_real(const char *s, double min, double max, double *out, int *tiny) {
    int nonzero = 0, exp_nonzero = 0;
    const char *p = s + (*s == '-' || *s == '+');
    size_t whole = digits(p, &nonzero), frac = 0;
    p += whole;
    if (*p == '.') {
        frac = digits(++p, &nonzero);
        p += frac;
    }
    if (whole + frac == 0) return CLI_NUM_SYNTAX;
    if (*p == 'e' || *p == 'E') {
        p += 1 + (p[1] == '-' || p[1] == '+');
        size_t e = digits(p, &exp_nonzero);
        if (e == 0) return CLI_NUM_SYNTAX;
        p += e;
    }
    if (*p != '\0') return CLI_NUM_SYNTAX;
    errno = 0;
    double v = strtod(s, NULL); /* the grammar above is a subset of strtod's */
    if (!isfinite(v) || v < min || v > max) return CLI_NUM_RANGE;
    *tiny = nonzero && (float)v == 0.0f; /* too small for a float, but not zero */
    if (v == 0.0) v = 0.0;               /* -0 is 0 */
    *out = v;
    return CLI_NUM_OK;
}

static void describe_range(char *buf, size_t len, const option_spec *o) {
    if (o->kind == OPT_SEED)
        snprintf(buf, len, "from 0 to %llu", (unsigned long long)UINT64_MAX);
    else
        snprintf(buf, len, "from %g to %g", o->min, o->max);
}

/* Store one option's value, checking that it is a number in range. */
static int set_option(const option_spec *o, const char *name, const char *value, cli_args *args,
                      char *err, size_t len) {
    void *field = (char *)args + o->offset;
    if (o->kind == OPT_STRING) {
        lm_kv_type t;
        if (o->offset == AT(kv_type) && lm_kv_type_parse(value, &t, NULL))
            return usage_error(err, len, "%s: '%s' is not f32 or f16", name, value);
        *(const char **)field = value;
        return 0;
    }
    if (o->kind == OPT_MODE) {
        if (strcmp(value, "generate") && strcmp(value, "chat"))
            return usage_error(err, len, "%s: '%s' is not a mode (generate or chat)", name, value);
        *(int *)field = strcmp(value, "chat") == 0;
        return 0;
    }
    int rc, tiny = 0;
    uint64_t u = 0;
    double v = 0;
    if (o->kind == OPT_REAL)
        rc = cli_parse_real(value, o->min, o->max, &v, &tiny);
    else
        rc = cli_parse_uint(value, o->kind == OPT_SEED ? UINT64_MAX : (uint64_t)o->max, &u);
    if (rc == CLI_NUM_OK && o->kind == OPT_INT && u < (uint64_t)o->min) rc = CLI_NUM_RANGE;
    if (rc == CLI_NUM_SYNTAX)
        return usage_error(err, len, "%s: '%s' is not a %s", name, value,
                           o->kind == OPT_REAL ? "decimal number" : "decimal integer");
    if (rc == CLI_NUM_RANGE) {
        char range[64];
        describe_range(range, sizeof range, o);
        return usage_error(err, len, "%s: %s is out of range (%s)", name, value, range);
    }
    if (o->kind == OPT_SEED)
        *(uint64_t *)field = u;
    else if (o->kind == OPT_INT)
        *(int *)field = (int)u;
    else /* a tiny top-p stays a (near-greedy) nucleus rather than becoming 0, "off" */
        *(float *)field = tiny && o->offset == AT(topp) ? FLT_MIN : (float)v;
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
 * info [CKPT], quantize IN OUT. */
static int take_positional(cli_args *a, const char *arg, int *n, char *err, size_t len) {
    const char **slots[2] = {NULL, NULL};
    int max = 1;
    switch (a->command) {
    case CLI_RUN: slots[0] = &a->checkpoint; break;
    case CLI_TOKENIZE: slots[0] = &a->text; break;
    case CLI_INFO: slots[0] = &a->checkpoint; break;
    case CLI_QUANTIZE: slots[0] = &a->checkpoint, slots[1] = &a->output, max = 2; break;
    default: max = 0; break;
    }
    if (*n >= max)
        return usage_error(err, len, "unexpected argument '%s' (see lamina --help)", arg);
    *slots[(*n)++] = arg;
    return 0;
}

static int take_option(cli_args *a, int argc, char **argv, int *i, char *err, size_t len) {
    const char *arg = argv[*i];
    const option_spec *o = find_option(arg);
    if (!o) return usage_error(err, len, "unknown option '%s' (see lamina --help)", arg);
    if (!(o->commands & (1u << a->command)))
        return usage_error(err, len, "%s does not apply to %s (see lamina --help)", arg,
                           command_names[a->command]);
    if (o->kind == OPT_FLAG) return *(int *)((char *)a + o->offset) = 1, 0;
    if (*i + 1 >= argc) return usage_error(err, len, "%s needs a value", arg);
    return set_option(o, arg, argv[++*i], a, err, len);
}

int cli_parse(int argc, char **argv, cli_args *a, char *err, size_t len) {
    *a = (cli_args){.command = CLI_RUN, .temperature = 1.0f, .topp = 0.9f, .steps = 256};
    int i = 1, positional = 0, options_end = 0;
    if (argc > 1 && subcommand(argv[1], &a->command)) i = 2;
    for (; i < argc; i++) {
        const char *arg = argv[i];
        int is_option = !options_end && arg[0] == '-' && arg[1] != '\0';
        if (is_option && strcmp(arg, "--") == 0) {
            options_end = 1;
        } else if (is_option && (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0)) {
            a->command = CLI_HELP;
            return 0;
        } else if (is_option && strcmp(arg, "--version") == 0) {
            a->command = CLI_VERSION;
            return 0;
        } else if (is_option) {
            int rc = take_option(a, argc, argv, &i, err, len);
            if (rc) return rc;
        } else if (take_positional(a, arg, &positional, err, len)) {
            return 2;
        }
    }
    if (a->command == CLI_TOKENIZE && !a->text)
        return usage_error(err, len, "tokenize needs a TEXT argument");
    if (a->command == CLI_QUANTIZE && positional < 2)
        return usage_error(err, len, "quantize needs an input and an output checkpoint");
    return 0;
}
