/* Text generation and chat on top of the forward pass, with llama2.c's
 * semantics: the prompt (BOS first) is fed, then tokens are sampled until the
 * step budget is used or BOS (generation) / EOS (a chat turn) comes out; a
 * GGUF vocabulary ends both at its end-of-generation tokens (lm_token_ends). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Print pieces[1..n) of a token sequence, each after its predecessor. */
static void print_tokens(const lm_tokenizer *tok, const int *ids, int n, FILE *out) {
    for (int i = 1; i < n; i++) fputs(lm_token_text(tok, ids[i - 1], ids[i]), out);
}

/* Whether every logit is finite: compares exponent bits, so the loop is
 * integer work the compiler vectorizes (about a microsecond for 32000). */
int lm_logits_finite(const float *logits, int n) {
    unsigned bad = 0;
    for (int i = 0; i < n; i++) {
        uint32_t bits;
        memcpy(&bits, &logits[i], sizeof bits);
        bad |= (bits & 0x7f800000u) == 0x7f800000u;
    }
    return !bad;
}

/* lm_forward, with its refusal (a token or position out of range: a bug of
 * ours or of a caller that shares the context) turned into an error, and
 * non-finite logits (NaN or Inf weights; sampling them would print garbage
 * and exit 0) stopping generation. */
static float *forward(lm_context *ctx, const int *ids, int n, int pos, lm_error *err) {
    float *logits = lm_forward(ctx, ids, n, pos);
    if (!logits)
        lm_fail(err, "the forward pass refused %d token(s) at position %d (context %d)", n, pos,
                lm_context_n_ctx(ctx));
    else if (!lm_logits_finite(logits, ctx->ws->model->c->vocab_size))
        return lm_fail(err,
                       "non-finite logits at position %d: the checkpoint holds NaN or Inf weights",
                       pos + n - 1),
               NULL;
    return logits;
}

/* The text so far reached `out`: a write error (a full disk, a closed pipe
 * with SIGPIPE ignored) ends generation instead of running on unseen. */
static int flush_out(FILE *out, lm_error *err) {
    errno = 0;
    if (fflush(out) == 0 && !ferror(out)) return 0;
    return lm_fail(err, "cannot write the output: %s", errno ? strerror(errno) : "I/O error");
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
    if (n == 0) {
        free(ids);
        return lm_fail(err, "the prompt is empty and the vocabulary adds no BOS: give a prompt");
    }
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
    int token = ids[n - 1], pos = n;
    free(ids);
    if (flush_out(out, err)) return -1;
    stats->prompt_tokens = n;
    stats->prompt_seconds = t1 - t0;
    for (;;) {
        int next = lm_sample(sampler, logits);
        stats->generated_tokens++;
        if (lm_token_ends(tok, next, 0)) break;
        fputs(lm_token_text(tok, token, next), out);
        if (flush_out(out, err)) return -1;
        if (pos >= steps) break;
        logits = forward(ctx, &next, 1, pos++, err);
        if (!logits) return -1;
        token = next;
    }
    fputc('\n', out);
    stats->generate_seconds = lm_seconds() - t1;
    return flush_out(out, err);
}

/* The next non-blank line of `in` into *line (malloc'd, without its line
 * ending). Returns 1, 0 at end of input, -1 on a read error (err says it), or
 * 2 when the line is longer than `cap` bytes (then *line is NULL and the rest
 * of the line is left unread: it cannot fit in the context anyway). */
static int read_line(FILE *in, FILE *out, int prompt_user, size_t cap, char **line, lm_error *err) {
    *line = NULL;
    for (;;) {
        if (prompt_user) {
            fputs("User: ", out);
            if (flush_out(out, err)) return -1;
        }
        size_t len = 0, size = 0;
        char *buf = NULL;
        int c;
        while ((c = getc(in)) != EOF && c != '\n') {
            if (len >= cap) {
                free(buf);
                return 2;
            }
            if (len + 1 >= size) {
                size_t bigger = size ? 2 * size : 128;
                char *p = realloc(buf, bigger);
                if (!p) {
                    free(buf);
                    return lm_fail(err, "out of memory reading a turn of %zu bytes", len);
                }
                buf = p, size = bigger;
            }
            buf[len++] = (char)c;
        }
        if (c == EOF && ferror(in)) {
            free(buf);
            return lm_fail(err, "cannot read the user's turn: %s", strerror(errno));
        }
        while (len > 0 && buf[len - 1] == '\r') len--;
        if (len > 0) { /* blank lines are not turns */
            buf[len] = '\0';
            *line = buf;
            return 1;
        }
        free(buf);
        if (c == EOF) return 0;
    }
}

static int context_full(lm_context *ctx, int pos, lm_error *err) {
    lm_fail(err, "context full: %d of %d positions used (raise -n, at most the model's seq_len %d)",
            pos, lm_context_n_ctx(ctx), ctx->ws->model->c->seq_len);
    return LM_CONTEXT_FULL;
}

/* Sample the assistant's answer until `end`; returns the new position, -1 if
 * the context filled up first, -2 if the forward pass failed (err says why). */
static int answer(lm_context *ctx, const lm_tokenizer *tok, lm_sampler *sampler, float *logits,
                  int token, int end, int pos, FILE *out, lm_stats *stats, lm_error *err) {
    fputs("Assistant: ", out);
    for (;;) {
        int next = lm_sample(sampler, logits);
        stats->generated_tokens++;
        if (next == end || lm_token_ends(tok, next, 1)) break;
        fputs(lm_token_text(tok, token, next), out);
        if (flush_out(out, err)) return -2;
        if (pos >= lm_context_n_ctx(ctx)) {
            fputc('\n', out);
            return -1;
        }
        logits = forward(ctx, &next, 1, pos++, err);
        if (!logits) return -2;
        token = next;
    }
    fputc('\n', out);
    return flush_out(out, err) ? -2 : pos;
}

int lm_chat(lm_context *ctx, const lm_tokenizer *tok, lm_sampler *sampler, const char *system,
            const char *first_user, int prompt_user, FILE *in, FILE *out, lm_stats *stats,
            lm_error *err) {
    return lm_chat_as(ctx, tok, LM_CHAT_LLAMA2, sampler, system, first_user, prompt_user, in, out,
                      stats, err);
}

int lm_chat_as(lm_context *ctx, const lm_tokenizer *tok, lm_chat_template t, lm_sampler *sampler,
               const char *system, const char *first_user, int prompt_user, FILE *in, FILE *out,
               lm_stats *stats, lm_error *err) {
    *stats = (lm_stats){0};
    int end = lm_chat_end_token(tok, t);
    int pos = 0;
    for (int turn = 0;; turn++) {
        int given = turn == 0 && first_user, n_ctx = lm_context_n_ctx(ctx);
        /* A turn of B bytes is at least B / max_piece tokens: longer lines
         * cannot fit, so they are never read whole. */
        size_t cap = (size_t)(n_ctx - pos) * (size_t)lm_tokenizer_max_piece(tok);
        char *user = NULL;
        int got = given ? (user = strdup(first_user)) ? 1 : lm_fail(err, "out of memory")
                        : read_line(in, out, prompt_user, cap, &user, err);
        if (got <= 0) return got; /* end of input, or an error */
        int n = 0, *ids = NULL;
        if (user) {
            ids = lm_chat_turn(tok, t, system, user, turn == 0, &n, err);
            free(user);
            if (!ids) return -1;
        }
        /* After the first turn the previous answer's end token closes it: the
         * context reads "... answer </s><s>[INST] ..." as Llama 2 was trained on. */
        int eos = turn > 0;
        if (!ids || pos + eos + n > n_ctx) {
            free(ids);
            if (turn == 0) /* nothing was said: an error, as a prompt too long in generate mode */
                return ids ? lm_fail(err,
                                     "the first turn is %d tokens (with the template) but the "
                                     "context holds %d; raise -n (at most the model's seq_len %d)",
                                     n, n_ctx, ctx->ws->model->c->seq_len)
                           : lm_fail(err,
                                     "the first turn is more than %zu bytes: it cannot fit in "
                                     "the context of %d positions",
                                     cap, n_ctx);
            return context_full(ctx, pos, err);
        }
        double t0 = lm_seconds();
        float *logits = NULL;
        if (!eos || forward(ctx, &end, 1, pos++, err)) logits = forward(ctx, ids, n, pos, err);
        stats->prompt_tokens += n + eos;
        stats->prompt_seconds += lm_seconds() - t0;
        pos += n;
        int last = ids[n - 1];
        free(ids);
        if (!logits) return -1;
        t0 = lm_seconds();
        pos = answer(ctx, tok, sampler, logits, last, end, pos, out, stats, err);
        stats->generate_seconds += lm_seconds() - t0;
        if (pos == -2) return -1;
        if (pos < 0) return context_full(ctx, lm_context_n_ctx(ctx), err);
    }
}
