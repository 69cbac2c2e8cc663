#include "args.h"

#include <float.h>
#include <stdio.h>
#include <string.h>

#include "lamina.h"

_Static_assert((int)CLI_RUN == (int)OPT_RUN && (int)CLI_TOKENIZE == (int)OPT_TOKENIZE &&
                   (int)CLI_INFO == (int)OPT_INFO && (int)CLI_QUANTIZE == (int)OPT_QUANTIZE,
               "cli_command and opt_command agree");

/* The commands of this parser, whose options the main help lists. */
#define MAIN_COMMANDS                                                                              \
    ((1u << OPT_RUN) | (1u << OPT_TOKENIZE) | (1u << OPT_INFO) | (1u << OPT_QUANTIZE))

static const char usage_head[] =
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
    "options (the same as llama2.c's run, plus long forms; --name=value is --name\n"
    "value; numbers are decimal: integers are digits with an optional sign, reals\n"
    "may have a fraction and an exponent such as 1e-3; no hex, inf or nan):\n";

void cli_print_usage(FILE *out) {
    fputs(usage_head, out);
    opt_help(out, MAIN_COMMANDS, OPT_RUN);
    fputs("  --                    the arguments after it are not options\n"
          "  -h, --help            this help\n"
          "      --version         version, CPU features and the kernel set in use\n",
          out);
    static const opt_command others[] = {OPT_TOKENIZE, OPT_INFO, OPT_QUANTIZE};
    static const char *const names[] = {"tokenize", "info", "quantize"};
    for (size_t i = 0; i < 3; i++) {
        char list[256];
        opt_names(others[i], list, sizeof list);
        fprintf(out, "%s takes %s\n", names[i], list);
    }
    fputs("(an option a command does not take is an error).\n", out);
}

static const char quantize_head[] =
    "usage: lamina quantize IN OUT.gguf --type T [-z tokenizer.bin]\n"
    "       lamina quantize IN OUT.bin [--group-size N]   llama2.c's v2 (Q8_0)\n"
    "Write a llama2.c checkpoint (v0 or v1, fp32) and its tokenizer.bin, or a GGUF\n"
    "file of the llama architecture with F32, F16 or BF16 weights (its metadata\n"
    "kept), as a GGUF v3 file quantized by ggml's reference quantizers, with\n"
    "llama-quantize's per-tensor mixture: the file llama-quantize writes. Without\n"
    "--type, a v2 (Q8_0) copy of a llama2.c checkpoint.\n"
    "\n";

void cli_print_quantize_usage(FILE *out) {
    opt_usage(out, OPT_QUANTIZE, quantize_head,
              "\nOUT appears only when complete and may not be IN or the tokenizer;\n"
              "SIGINT or SIGTERM stops it and removes the partial file.\n");
}

int cli_parse_uint(const char *s, uint64_t max, uint64_t *out) {
    return opt_parse_uint(s, max, out);
}

int cli_parse_real(const char *s, double min, double max, double *out, int *tiny) {
    return opt_parse_real(s, min, max, out, tiny);
}

static int usage_error(char *err, size_t len, const char *msg) {
    snprintf(err, len, "%s", msg);
    return 2;
}

typedef struct parse_state {
    cli_args *a;
    int positional; /* taken so far */
} parse_state;

static int take_positional(cli_args *a, const char *arg, int *n, char *err, size_t len);

/* Store one option's value (already checked against the table), or take a
 * positional argument (o NULL). */
static int store(void *ctx, const opt_spec *o, const opt_value *v, char *err, size_t len) {
    parse_state *st = ctx;
    cli_args *a = st->a;
    if (!o) return take_positional(a, v->str, &st->positional, err, len);
    switch (o->id) {
    case O_TEMPERATURE: a->temperature = (float)v->real; break;
    case O_TOPP: /* a tiny top-p stays a (near-greedy) nucleus rather than becoming 0, "off" */
        a->topp = v->tiny ? FLT_MIN : (float)v->real;
        break;
    case O_SEED: a->seed = v->u; break;
    case O_STEPS: a->steps = (int)v->u; break;
    case O_PROMPT: a->prompt = v->str; break;
    case O_TOKENIZER: a->tokenizer = v->str; break;
    case O_MODE: a->chat = v->u == 1; break;
    case O_SYSTEM: a->system = v->str; break;
    case O_CHAT_TEMPLATE: a->chat_template = v->str; break;
    case O_THREADS: a->threads = (int)v->u; break;
    case O_ISA: a->isa = v->str; break;
    case O_PARALLEL: a->parallel = (int)v->u; break;
    case O_KV_TYPE: a->kv_type = v->str; break;
    case O_GROUP_SIZE: a->group_size = (int)v->u; break;
    case O_QUANT_TYPE:
        a->quant_type = (int)v->u;
        break; /* the choices are in lm_quant_type's order */
    case O_WEIGHTS_CACHE: a->weights_cache = v->str; break;
    case O_NO_WEIGHTS_CACHE: a->no_weights_cache = 1; break;
    case O_TENSORS: a->tensors = 1; break;
    default: break; /* the table gives these commands no other option */
    }
    return 0;
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
    if (*n >= max) {
        snprintf(err, len, "unexpected argument '%s' (see lamina --help)", arg);
        return 2;
    }
    *slots[(*n)++] = arg;
    return 0;
}

static int ends_with(const char *s, const char *end) {
    size_t n = strlen(s), k = strlen(end);
    return n >= k && strcmp(s + n - k, end) == 0;
}

/* quantize writes llama2.c's v2 (--group-size) or, with --type, GGUF (-z):
 * each takes only its own options. */
static int check_quantize(const cli_args *a, int positional, char *err, size_t len) {
    if (a->quant_type >= 0) {
        if (positional < 2)
            return usage_error(err, len,
                               "quantize needs an input checkpoint and an output file "
                               "(see lamina quantize --help)");
        if (a->group_size)
            return usage_error(err, len,
                               "--group-size does not apply to quantize --type (see lamina "
                               "quantize --help)");
        return 0;
    }
    if (positional < 2)
        return usage_error(err, len, "quantize needs an input and an output checkpoint");
    if (ends_with(a->output, ".gguf"))
        return usage_error(err, len,
                           "quantize needs --type T to write a GGUF file (see lamina quantize "
                           "--help)");
    if (a->tokenizer)
        return usage_error(err, len,
                           "-z does not apply to quantize without --type (see lamina quantize "
                           "--help)");
    return 0;
}

int cli_parse(int argc, char **argv, cli_args *a, char *err, size_t len) {
    *a = (cli_args){
        .command = CLI_RUN, .temperature = 1.0f, .topp = 0.9f, .steps = 256, .quant_type = -1};
    int first = 1, status;
    if (argc > 1 && subcommand(argv[1], &a->command)) first = 2;
    parse_state st = {a, 0};
    switch (
        opt_parse_all((opt_command)a->command, argc, argv, first, store, &st, &status, err, len)) {
    case OPT_HELP: a->command = CLI_HELP; return 0;
    case OPT_VERSION: a->command = CLI_VERSION; return 0;
    case OPT_END: break;
    default: return 2;
    }
    if (a->command == CLI_TOKENIZE && !a->text)
        return usage_error(err, len, "tokenize needs a TEXT argument");
    if (a->command == CLI_QUANTIZE) return check_quantize(a, st.positional, err, len);
    return 0;
}
