/* lamina: the command-line front end, a drop-in for llama2.c's `run`.
 * Exit status: 0 success, 1 a file or runtime error, 2 a usage error. */
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "args.h"
#include "cli.h"
#include "lamina.h"

#define DEMO_MODEL "kjv1m.bin"
#define DEMO_PROMPT "And it came to pass"

static int fail(const char *msg) {
    fprintf(stderr, "lamina: error: %s\n", msg);
    return 1;
}

static int file_exists(const char *path) { return access(path, R_OK) == 0; }

/* The embedded demo model: beside an installed binary (bin/../share/lamina/
 * models), else in the source tree this binary was built from. */
static const char *demo_model_path(void) {
    static char path[PATH_MAX + 64];
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        snprintf(path, sizeof path, "%s/../share/lamina/models/" DEMO_MODEL, dirname(exe));
        if (file_exists(path)) return path;
    }
    return LAMINA_SOURCE_MODELS "/" DEMO_MODEL;
}

/* tokenizer.bin in the checkpoint's folder. */
static const char *tokenizer_beside(const char *checkpoint) {
    static char path[PATH_MAX + 32];
    char copy[PATH_MAX];
    snprintf(copy, sizeof copy, "%s", checkpoint);
    snprintf(path, sizeof path, "%s/tokenizer.bin", dirname(copy));
    return path;
}

/* The kernel set: --isa, else LAMINA_ISA, else the best the CPU runs. */
static const char *chosen_isa;

static int choose_isa(const cli_args *a) {
    lm_error e;
    const char *env = getenv("LAMINA_ISA");
    const char *name = a->isa ? a->isa : env && *env ? env : NULL;
    if (name && lm_isa_check(name, &e)) {
        fprintf(stderr, "lamina: error: %s: %s\n", a->isa ? "--isa" : "LAMINA_ISA", e.msg);
        return 2;
    }
    chosen_isa = name ? name : lm_isa_best();
    return 0;
}

static int print_version(void) {
    printf("lamina %s\n", LM_VERSION);
    printf("cpu: %s\n", lm_cpu_description());
    printf("kernels: %s (built: %s)\n", chosen_isa, lm_isa_list());
    return 0;
}

static double mib(uint64_t bytes) { return (double)bytes / (1024.0 * 1024.0); }

static int info(const char *path) {
    lm_error e;
    lm_model *m = lm_model_load(path, &e);
    if (!m) return fail(e.msg);
    lm_model_info i = lm_model_get_info(m);
    const lm_config *c = &i.config;
    int head_size = c->dim / c->n_heads;
    printf("file:        %s (%llu bytes)\n", path, (unsigned long long)i.file_size);
    printf("format:      v%d (%s)\n", (int)i.format,
           i.format == LM_FORMAT_V0   ? "llama2.c legacy, fp32"
           : i.format == LM_FORMAT_V1 ? "fp32"
                                      : "Q8_0 int8");
    printf("config:      dim %d, hidden_dim %d, n_layers %d, n_heads %d, n_kv_heads %d, "
           "vocab_size %d, seq_len %d (head_size %d)\n",
           c->dim, c->hidden_dim, c->n_layers, c->n_heads, c->n_kv_heads, c->vocab_size, c->seq_len,
           head_size);
    printf("parameters:  %llu (%.2fM)\n", (unsigned long long)i.n_params, (double)i.n_params / 1e6);
    printf("classifier:  %s\n",
           i.shared_classifier ? "shared with the token embedding" : "separate");
    if (i.format == LM_FORMAT_V2)
        printf("group size:  %d\n", i.group_size);
    else
        printf("group size:  - (not quantized)\n");
    printf("memory:      weights %.1f MiB mapped from the file (%.1f MiB read per token); "
           "KV cache %.1f MiB for -n 256, %.1f MiB for the full seq_len %d\n",
           mib(i.file_size), mib(i.weight_bytes),
           mib(lm_kv_cache_bytes(c, c->seq_len < 256 ? c->seq_len : 256)),
           mib(lm_kv_cache_bytes(c, c->seq_len)), c->seq_len);
    printf("kernels:     %s; cpu: %s\n", chosen_isa, lm_cpu_description());
    lm_model_free(m);
    return 0;
}

static int quantize(const cli_args *a) {
    lm_error e;
    lm_model *m = lm_model_load(a->checkpoint, &e);
    if (!m) return fail(e.msg);
    int rc = lm_model_quantize(m, a->output, a->group_size, &e);
    lm_model_free(m);
    if (rc) return fail(e.msg);
    fprintf(stderr, "lamina: wrote %s\n", a->output);
    return 0;
}

static int tokenize(const cli_args *a) {
    lm_error e;
    const char *path = a->tokenizer ? a->tokenizer : tokenizer_beside(demo_model_path());
    lm_tokenizer *tok = lm_tokenizer_load(path, 0, &e);
    if (!tok) return fail(e.msg);
    int n = 0;
    int *ids = lm_tokenize(tok, a->text, 1, 0, &n, &e);
    if (!ids) {
        lm_tokenizer_free(tok);
        return fail(e.msg);
    }
    for (int i = 0; i < n; i++) printf(i ? " %d" : "%d", ids[i]);
    putchar('\n');
    free(ids);
    lm_tokenizer_free(tok);
    return 0;
}

/* run.c asks for a system prompt when chatting at a terminal without -y. */
static char *ask_system_prompt(void) {
    char *line = NULL;
    size_t cap = 0;
    fputs("Enter system prompt (optional): ", stdout);
    fflush(stdout);
    ssize_t n = getline(&line, &cap, stdin);
    if (n < 0) {
        free(line);
        return NULL;
    }
    line[strcspn(line, "\r\n")] = '\0';
    return line;
}

static void print_summary(const lm_stats *s, const lm_context *ctx) {
    fprintf(
        stderr,
        "lamina: prompt %d tokens, %.1f tok/s; generated %d tokens, %.1f tok/s (%s, %d thread%s)\n",
        s->prompt_tokens, s->prompt_seconds > 0 ? s->prompt_tokens / s->prompt_seconds : 0.0,
        s->generated_tokens,
        s->generate_seconds > 0 ? s->generated_tokens / s->generate_seconds : 0.0,
        lm_context_isa(ctx), lm_context_n_threads(ctx), lm_context_n_threads(ctx) == 1 ? "" : "s");
}

typedef struct session {
    lm_model *model;
    lm_tokenizer *tok;
    lm_context *ctx;
    lm_sampler *sampler;
} session;

static void session_free(session *s) {
    lm_sampler_free(s->sampler);
    lm_context_free(s->ctx);
    lm_tokenizer_free(s->tok);
    lm_model_free(s->model);
}

static int session_open(session *s, const cli_args *a, const char *checkpoint, lm_error *e) {
    s->model = lm_model_load(checkpoint, e);
    if (!s->model) return -1;
    lm_model_info info = lm_model_get_info(s->model);
    const char *tok_path = a->tokenizer ? a->tokenizer : tokenizer_beside(checkpoint);
    s->tok = lm_tokenizer_load(tok_path, info.config.vocab_size, e);
    if (!s->tok) return -1;
    int steps = a->steps == 0 || a->steps > info.config.seq_len ? info.config.seq_len : a->steps;
    s->ctx = lm_context_new(s->model, (lm_context_params){steps, a->threads, chosen_isa}, e);
    if (!s->ctx) return -1;
    uint64_t seed = a->seed ? a->seed : (uint64_t)time(NULL);
    s->sampler = lm_sampler_new(info.config.vocab_size, a->temperature, a->topp, seed, e);
    return s->sampler ? 0 : -1;
}

static int run(const cli_args *a) {
    lm_error e;
    session s = {0};
    const char *checkpoint = a->checkpoint ? a->checkpoint : demo_model_path();
    const char *prompt = a->prompt ? a->prompt : a->checkpoint ? "" : DEMO_PROMPT;
    int rc = session_open(&s, a, checkpoint, &e);
    lm_stats stats;
    if (!rc && a->chat) {
        char *asked = !a->system && isatty(0) ? ask_system_prompt() : NULL;
        rc = lm_chat(s.ctx, s.tok, s.sampler, a->system ? a->system : asked, a->prompt, isatty(0),
                     stdin, stdout, &stats, &e);
        free(asked);
        if (rc == LM_CONTEXT_FULL) {
            fprintf(stderr, "lamina: %s\n", e.msg);
            rc = 0;
        }
    } else if (!rc) {
        rc = lm_generate(s.ctx, s.tok, s.sampler, prompt, lm_context_n_ctx(s.ctx), stdout, &stats,
                         &e);
    }
    if (rc)
        fail(e.msg);
    else
        print_summary(&stats, s.ctx);
    session_free(&s);
    return rc ? 1 : 0;
}

/* The subcommands that parse their own arguments (cli.h, commands.c). */
static const cli_subcommand *find_subcommand(int argc, char **argv) {
    for (const cli_subcommand *c = cli_subcommands; argc > 1 && c->name; c++)
        if (strcmp(argv[1], c->name) == 0) return c;
    return NULL;
}

int main(int argc, char **argv) {
    cli_args a;
    char err[512];
    const cli_subcommand *sub = find_subcommand(argc, argv);
    if (sub) return sub->run(argc - 1, argv + 1);
    if (cli_parse(argc, argv, &a, err, sizeof err)) {
        fprintf(stderr, "lamina: error: %s\n", err);
        return 2;
    }
    if (a.command == CLI_HELP) return fputs(cli_usage, stdout), 0;
    int rc = choose_isa(&a);
    if (rc) return rc;
    switch (a.command) {
    case CLI_VERSION: return print_version();
    case CLI_INFO: return info(a.checkpoint);
    case CLI_TOKENIZE: return tokenize(&a);
    case CLI_QUANTIZE: return quantize(&a);
    default: return run(&a);
    }
}
