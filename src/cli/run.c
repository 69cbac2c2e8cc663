/* lamina [MODEL] [options]: generation, or chat with -m chat. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "demo.h"
#include "front.h"
#include "generate.h"

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

static void print_summary(const cli_stats *s, const lm_batch *b) {
    fflush(stdout); /* the text, which ends its line, comes first on a shared terminal */
    fprintf(
        stderr,
        "lamina: prompt %d tokens, %.1f tok/s; generated %d tokens, %.1f tok/s (%s, %d thread%s)\n",
        s->prompt_tokens, s->prompt_seconds > 0 ? s->prompt_tokens / s->prompt_seconds : 0.0,
        s->generated_tokens,
        s->generate_seconds > 0 ? s->generated_tokens / s->generate_seconds : 0.0, lm_batch_isa(b),
        lm_batch_n_threads(b), lm_batch_n_threads(b) == 1 ? "" : "s");
}

/* ---- generation and chat ------------------------------------------------ */

typedef struct session {
    lm_model *model;
    lm_tokenizer *tok;
    lm_batch *batch; /* one sequence: the CLI runs on the batch engine */
    lm_sampler *sampler;
    int steps, seq_len;
} session;

static void session_free(session *s) {
    lm_sampler_free(s->sampler);
    lm_batch_free(s->batch);
    lm_tokenizer_free(s->tok);
    lm_model_free(s->model);
}

static int session_open(session *s, const cli_args *a, lm_error *e) {
    s->model = cli_load_model(a->checkpoint, e);
    if (!s->model) return -1;
    lm_model_info info = lm_model_get_info(s->model);
    s->tok = cli_load_tokenizer(a->tokenizer, a->checkpoint, info.config.vocab_size, e);
    if (!s->tok) return -1;
    lm_kv_type kv = LM_KV_F32;
    if (a->kv_type && lm_kv_type_parse(a->kv_type, &kv, e)) return -1;
    int steps = a->steps > info.config.seq_len ? info.config.seq_len : a->steps;
    if (steps == 0) { /* the most that fits, said where it is less than seq_len */
        char why[256];
        steps = lm_context_choose(s->model, 1, kv, a->threads, why, sizeof why);
        if (steps < info.config.seq_len) fprintf(stderr, "lamina: %s\n", why);
        if (steps < 1) return snprintf(e->msg, sizeof e->msg, "no memory for a KV cache"), -1;
    }
    s->steps = steps;
    s->seq_len = info.config.seq_len;
    s->batch = lm_batch_new(s->model, (lm_batch_params){1, steps, a->threads, cli_isa, kv}, e);
    if (!s->batch) return -1;
    uint64_t seed = a->seed ? a->seed : (uint64_t)time(NULL);
    s->sampler = lm_sampler_new(info.config.vocab_size, a->temperature, a->topp, seed, e);
    if (!s->sampler) return -1;
    return lm_sampler_set_isa(s->sampler, lm_batch_isa(s->batch), e);
}

static int chat(session *s, cli_loop *l, const cli_args *a, lm_error *e) {
    lm_chat_template t;
    if (lm_chat_template_choose(a->chat_template, lm_tokenizer_chat_template(s->tok), &t, e))
        return -1;
    char *asked = !a->system && isatty(0) ? ask_system_prompt() : NULL;
    int rc = cli_chat(l, t, a->system ? a->system : asked, a->prompt, isatty(0), e);
    free(asked);
    if (rc == CLI_CONTEXT_FULL) { /* the normal end of a long chat */
        fprintf(stderr, "lamina: %s\n", e->msg);
        rc = 0;
    }
    return rc;
}

int cmd_run(const cli_args *a) {
    lm_error e;
    session s = {0};
    int cpus = cli_available_cpus();
    if (a->threads > cpus)
        cli_warning("--threads %d is more than the %d CPU%s available: threads will wait for "
                    "each other",
                    a->threads, cpus, cpus == 1 ? "" : "s");
    const char *prompt = a->prompt ? a->prompt : a->checkpoint ? "" : DEMO_PROMPT;
    if (a->chat_template && (!a->chat || lm_chat_template_from_name(a->chat_template) < 0)) {
        fprintf(stderr, "lamina: error: --chat-template: %s\n",
                a->chat ? "unknown template (one of: llama2 mistral-v1 mistral-v3 "
                          "mistral-v3-tekken mistral-v7 mistral-v7-tekken chatml zephyr llama3)"
                        : "applies to chat (-m chat)");
        return 2;
    }
    int rc = session_open(&s, a, &e);
    cli_loop l = {s.batch, s.tok, s.sampler, s.steps, s.seq_len, stdin, stdout, {0}};
    if (!rc && a->chat)
        rc = chat(&s, &l, a, &e);
    else if (!rc)
        rc = cli_generate(&l, prompt, &e);
    if (rc)
        cli_error("%s", e.msg);
    else
        print_summary(&l.stats, s.batch);
    session_free(&s);
    return rc ? 1 : 0;
}
