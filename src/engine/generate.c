/* Text generation and chat on top of the forward pass, with llama2.c's
 * semantics: the prompt (BOS first) is fed, then tokens are sampled until the
 * step budget is used or BOS (generation) / EOS (a chat turn) comes out. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Print pieces[1..n) of a token sequence, each after its predecessor. */
static void print_tokens(const lm_tokenizer *tok, const int *ids, int n, FILE *out) {
    for (int i = 1; i < n; i++) lm_print_piece(out, lm_token_piece(tok, ids[i - 1], ids[i]));
}

/* lm_forward, with its refusal (a token or position out of range: a bug of
 * ours or of a caller that shares the context) turned into an error. */
static float *forward(lm_context *ctx, const int *ids, int n, int pos, lm_error *err) {
    float *logits = lm_forward(ctx, ids, n, pos);
    if (!logits)
        lm_fail(err, "the forward pass refused %d token(s) at position %d (context %d)", n, pos,
                lm_context_n_ctx(ctx));
    return logits;
}

int lm_generate(lm_context *ctx, const lm_tokenizer *tok, lm_sampler *sampler, const char *prompt,
                int steps, FILE *out, lm_stats *stats, lm_error *err) {
    *stats = (lm_stats){0};
    if (steps > lm_context_n_ctx(ctx))
        return lm_fail(err, "%d steps do not fit a context of %d positions", steps,
                       lm_context_n_ctx(ctx));
    int n = 0;
    int *ids = lm_tokenize(tok, prompt ? prompt : "", 1, 0, &n, err);
    if (!ids) return -1;
    if (n > steps) {
        free(ids);
        return lm_fail(err,
                       "the prompt is %d tokens (with BOS) but only %d fit in -n %d steps; "
                       "raise -n (at most the model's seq_len %d)",
                       n, steps, steps, ctx->ws->model->c->seq_len);
    }
    double t0 = lm_seconds();
    float *logits = forward(ctx, ids, n, 0, err);
    double t1 = lm_seconds();
    if (!logits) {
        free(ids);
        return -1;
    }
    print_tokens(tok, ids, n, out);
    fflush(out);
    int token = ids[n - 1], pos = n;
    free(ids);
    stats->prompt_tokens = n;
    stats->prompt_seconds = t1 - t0;
    for (;;) {
        int next = lm_sample(sampler, logits);
        stats->generated_tokens++;
        if (next == LM_TOKEN_BOS) break;
        lm_print_piece(out, lm_token_piece(tok, token, next));
        fflush(out);
        if (pos >= steps) break;
        logits = forward(ctx, &next, 1, pos++, err);
        if (!logits) return -1;
        token = next;
    }
    fputc('\n', out);
    stats->generate_seconds = lm_seconds() - t1;
    return 0;
}

/* One user turn through the Llama 2 chat template (chat_template.c), with the
 * system prompt in the first turn only. */
static int *render_turn(const lm_tokenizer *tok, const char *system, const char *user, int *n,
                        lm_error *err) {
    lm_chat_message m[2] = {{LM_ROLE_SYSTEM, system}, {LM_ROLE_USER, user}};
    int sys = system && *system;
    return lm_chat_tokens(tok, m + !sys, 1 + sys, n, err);
}

/* One line from `in` without its line ending; NULL at EOF. Any length. */
static char *read_line(FILE *in, FILE *out, int prompt_user) {
    char *line = NULL;
    size_t cap = 0;
    for (;;) {
        if (prompt_user) {
            fputs("User: ", out);
            fflush(out);
        }
        ssize_t len = getline(&line, &cap, in);
        if (len < 0) {
            free(line);
            return NULL;
        }
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = '\0';
        if (len > 0) return line; /* blank lines are not turns */
    }
}

static int context_full(lm_context *ctx, int pos, lm_error *err) {
    lm_fail(err, "context full: %d of %d positions used (raise -n, at most the model's seq_len %d)",
            pos, lm_context_n_ctx(ctx), ctx->ws->model->c->seq_len);
    return LM_CONTEXT_FULL;
}

/* Sample the assistant's answer until EOS; returns the new position, -1 if
 * the context filled up first, -2 if the forward pass failed (err says why). */
static int answer(lm_context *ctx, const lm_tokenizer *tok, lm_sampler *sampler, float *logits,
                  int token, int pos, FILE *out, lm_stats *stats, lm_error *err) {
    fputs("Assistant: ", out);
    for (;;) {
        int next = lm_sample(sampler, logits);
        stats->generated_tokens++;
        if (next == LM_TOKEN_EOS) break;
        lm_print_piece(out, lm_token_piece(tok, token, next));
        fflush(out);
        if (pos >= lm_context_n_ctx(ctx)) {
            fputc('\n', out);
            return -1;
        }
        logits = forward(ctx, &next, 1, pos++, err);
        if (!logits) return -2;
        token = next;
    }
    fputc('\n', out);
    fflush(out);
    return pos;
}

int lm_chat(lm_context *ctx, const lm_tokenizer *tok, lm_sampler *sampler, const char *system,
            const char *first_user, int prompt_user, FILE *in, FILE *out, lm_stats *stats,
            lm_error *err) {
    *stats = (lm_stats){0};
    int pos = 0;
    for (int turn = 0;; turn++) {
        int given = turn == 0 && first_user;
        char *user = given ? strdup(first_user) : read_line(in, out, prompt_user);
        if (!user) return given ? lm_fail(err, "out of memory") : 0; /* else EOF */
        int n = 0;
        int *ids = render_turn(tok, turn == 0 ? system : NULL, user, &n, err);
        free(user);
        if (!ids) return -1;
        /* After the first turn the previous answer's EOS closes it: the context
         * reads "... answer </s><s>[INST] ..." as Llama 2 was trained on. */
        int eos = turn > 0;
        if (pos + eos + n > lm_context_n_ctx(ctx)) {
            free(ids);
            return context_full(ctx, pos, err);
        }
        double t0 = lm_seconds();
        float *logits = NULL;
        if (!eos || forward(ctx, (const int[]){LM_TOKEN_EOS}, 1, pos++, err))
            logits = forward(ctx, ids, n, pos, err);
        stats->prompt_tokens += n + eos;
        stats->prompt_seconds += lm_seconds() - t0;
        pos += n;
        int last = ids[n - 1];
        free(ids);
        if (!logits) return -1;
        t0 = lm_seconds();
        pos = answer(ctx, tok, sampler, logits, last, pos, out, stats, err);
        stats->generate_seconds += lm_seconds() - t0;
        if (pos == -2) return -1;
        if (pos < 0) return context_full(ctx, lm_context_n_ctx(ctx), err);
    }
}
