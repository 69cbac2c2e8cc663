/* lamina quantize IN OUT.gguf --type T [-z tokenizer.bin]: a llama2.c
 * checkpoint or a GGUF file of F32/F16/BF16 weights as a GGUF file of ggml's block types, with
 * llama-quantize's per-tensor mixture (lm_quantize_gguf). Without --type, `lamina quantize` writes
 * llama2.c's v2 (quantize.c). The engine writes a temporary beside OUT and renames it only when
 * complete. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "front.h"

static const char usage[] =
    "usage: lamina quantize IN OUT.gguf --type T [-z tokenizer.bin]\n"
    "       lamina quantize IN OUT.bin [--group-size N]   llama2.c's v2 (Q8_0)\n"
    "Write a llama2.c checkpoint (v0 or v1, fp32) and its tokenizer.bin, or a GGUF\n"
    "file of the llama architecture with F32, F16 or BF16 weights (its metadata\n"
    "kept), as a GGUF v3 file quantized by ggml's reference quantizers, with\n"
    "llama-quantize's per-tensor mixture: the file llama-quantize writes.\n"
    "\n"
    "  --type T              q4_0, q4_1, q5_0, q5_1, q8_0, q4_k_s, q4_k_m, q5_k_s,\n"
    "                        q5_k_m or q6_k. Norms stay f32; output.weight (or a\n"
    "                        tied token_embd) is q6_k (q8_0 for q8_0); the _m\n"
    "                        mixes give attn_v and ffn_down q6_k in the first and\n"
    "                        last eighth of the layers and every third between,\n"
    "                        the _s ones q5_k in the first layers; rows that are\n"
    "                        not whole blocks of 256 fall back to q5_0 (q4_k),\n"
    "                        q5_1 (q5_k) or q8_0 (q6_k), f16 if not of 32\n"
    "  -z, --tokenizer PATH  a llama2.c model's tokenizer.bin (default:\n"
    "                        tokenizer.bin beside IN)\n"
    "  -h, --help            this help\n"
    "\n"
    "OUT appears only when complete and may not be IN or the tokenizer.\n";

static const char *const type_names[] = {
    [LM_QUANT_Q4_0] = "q4_0",     [LM_QUANT_Q4_1] = "q4_1",     [LM_QUANT_Q5_0] = "q5_0",
    [LM_QUANT_Q5_1] = "q5_1",     [LM_QUANT_Q8_0] = "q8_0",     [LM_QUANT_Q4_K_S] = "q4_k_s",
    [LM_QUANT_Q4_K_M] = "q4_k_m", [LM_QUANT_Q5_K_S] = "q5_k_s", [LM_QUANT_Q5_K_M] = "q5_k_m",
    [LM_QUANT_Q6_K] = "q6_k",
};

typedef struct quant_args {
    const char *in, *out, *tokenizer;
    int type; /* -1: not given */
} quant_args;

static int usage_error(const char *what, const char *arg) {
    fprintf(stderr, "lamina: error: quantize: %s%s (see lamina quantize --help)\n", what, arg);
    return 2;
}

static int parse_type(const char *s) {
    for (int i = 0; i < (int)(sizeof type_names / sizeof type_names[0]); i++)
        if (strcmp(s, type_names[i]) == 0) return i;
    return -1;
}

int cli_quantize_wants_gguf(int argc, char **argv) {
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "--type") == 0 || strncmp(argv[i], "--type=", 7) == 0 ||
            strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return 1;
    return 0;
}

/* Whether arg is option `name`, alone or as name=value. */
static int value_option(const char *arg, const char *name) {
    size_t n = strlen(name);
    return strncmp(arg, name, n) == 0 && (arg[n] == '\0' || (arg[n] == '=' && name[1] == '-'));
}

/* 0 to go on, 1 for --help (printed), else the exit status of a usage error. */
static int parse(int argc, char **argv, quant_args *a) {
    int n = 0, options_end = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        int option = !options_end && arg[0] == '-' && arg[1] != '\0';
        if (option && strcmp(arg, "--") == 0) {
            options_end = 1;
        } else if (option && (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0)) {
            fputs(usage, stdout);
            return 1;
        } else if (option && (value_option(arg, "--type") || value_option(arg, "-z") ||
                              value_option(arg, "--tokenizer"))) {
            /* --name value, or --name=value as the option table takes it */
            const char *eq = strchr(arg, '='), *v = eq ? eq + 1 : NULL;
            if (!v && i + 1 >= argc) return usage_error(arg, " needs a value");
            if (!v) v = argv[++i];
            if (strncmp(arg, "--type", 6) != 0)
                a->tokenizer = v;
            else if ((a->type = parse_type(v)) < 0)
                return usage_error("--type: not q4_0, q4_1, q5_0, q5_1, q8_0, q4_k_s, q4_k_m, "
                                   "q5_k_s, q5_k_m or q6_k: ",
                                   v);
        } else if (option) {
            return usage_error("unknown option ", arg);
        } else if (n < 2) {
            *(n++ ? &a->out : &a->in) = arg;
        } else {
            return usage_error("unexpected argument ", arg);
        }
    }
    if (n < 2) return usage_error("needs an input checkpoint and an output file", "");
    return a->type < 0 ? usage_error("needs --type T", "") : 0;
}

/* "lamina: quantize: NN%", rewritten when NN changes (a terminal) or one line
 * per tenth (not a terminal). */
static void show_progress(void *arg, uint64_t done, uint64_t total) {
    int *shown = arg, pct = total ? (int)(done * 100 / total) : 100;
    int tty = shown[1];
    if (tty && pct != shown[0]) fprintf(stderr, "\rlamina: quantize: %3d%%", pct);
    if (!tty && pct / 10 != shown[0] / 10) fprintf(stderr, "lamina: quantize: %3d%%\n", pct);
    if (tty && done == total) fputc('\n', stderr);
    shown[0] = pct;
}

/* tokenizer.bin in IN's folder (malloc'd), as `lamina IN` finds it. */
static char *tokenizer_beside(const char *in) {
    const char *slash = strrchr(in, '/');
    size_t dir = slash ? (size_t)(slash - in) + 1 : 0;
    char *p = malloc(dir + sizeof "tokenizer.bin");
    if (p) {
        memcpy(p, in, dir);
        memcpy(p + dir, "tokenizer.bin", sizeof "tokenizer.bin");
    }
    return p;
}

int cli_quantize_gguf(int argc, char **argv) {
    quant_args a = {NULL, NULL, NULL, -1};
    int rc = parse(argc, argv, &a);
    if (rc) return rc == 1 ? 0 : rc;
    char *beside = a.tokenizer ? NULL : tokenizer_beside(a.in);
    if (!a.tokenizer && !beside) return cli_error("out of memory");
    lm_error e;
    int shown[2] = {-1, isatty(2)};
    rc = lm_quantize_gguf(a.in, a.tokenizer ? a.tokenizer : beside, a.out, (lm_quant_type)a.type,
                          show_progress, shown, &e);
    if (rc && beside && strncmp(e.msg, beside, strlen(beside)) == 0 && access(beside, F_OK))
        snprintf(e.msg, sizeof e.msg,
                 "%.400s: no tokenizer beside the checkpoint; give its tokenizer.bin with -z",
                 beside);
    free(beside);
    if (rc) return cli_error("%s", e.msg);
    fprintf(stderr, "lamina: wrote %s (%s)\n", a.out, type_names[a.type]);
    return 0;
}
