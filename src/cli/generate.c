/* Generation and chat on the request driver (generate.h): each prompt, or
 * each chat turn with the conversation before it, is one lm_request_run on
 * a batch; the run's text is printed as it grows. */
#include "generate.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "request.h"

static int fail(lm_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(lm_error *err, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    if (err) vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return -1;
}

/* The text so far reached `out`: a write error (a full disk, a closed pipe
 * with SIGPIPE ignored) ends generation instead of running on unseen. */
static int put(FILE *out, const char *s, size_t n, lm_error *err) {
    errno = 0;
    if (fwrite(s, 1, n, out) == n && fflush(out) == 0 && !ferror(out)) return 0;
    return fail(err, "cannot write the output: %s", errno ? strerror(errno) : "I/O error");
}

/* Step the batch until the run ends, printing its text as it grows: `head`
 * first, once the prompt is fed (the first token sampled). The sampled
 * tokens go to got[] (room for n_ctx), their count to *n_got; with keep, the
 * fed positions come back in *kept (NULL if the batch could not copy them).
 * Returns the finish reason, or -1 with err set. */
static int drive(cli_loop *l, lm_request_run *run, const char *head, int *got, int *n_got,
                 lm_prefix **kept, lm_error *err) {
    size_t printed = 0;
    int first = 1;
    double t0 = lm_seconds(), t1 = t0;
    while (!lm_request_finish_reason(run)) {
        lm_batch_event ev;
        int n = lm_batch_step(l->batch, &ev, err);
        if (n < 0) return -1; /* the batch ended the sequence */
        if (n == 0 && !lm_batch_active(l->batch))
            return fail(err, "the sequence ended without a token");
        if (n == 0) continue; /* a prompt longer than one step's rows */
        if (ev.prefix) *kept = ev.prefix, ev.prefix = NULL; /* the conversation's KV */
        if (first) {
            t1 = lm_seconds();
            l->stats.prompt_seconds += t1 - t0;
            first = 0;
            if (head && put(l->out, head, strlen(head), err))
                return lm_request_cancel(run, l->batch), -1;
        }
        if (got) got[(*n_got)++] = ev.token;
        lm_request_feed(run, l->batch, &ev);
        size_t len;
        const char *text = lm_request_text(run, &len);
        if (put(l->out, text + printed, len - printed, err))
            return lm_request_cancel(run, l->batch), -1;
        printed = len;
    }
    l->stats.generate_seconds += lm_seconds() - t1;
    l->stats.generated_tokens += lm_request_completion_tokens(run);
    l->stats.prompt_tokens += lm_request_prompt_tokens(run) - lm_request_cached_tokens(run);
    if (lm_request_finish_reason(run) == LM_REQUEST_ERROR)
        return fail(err, "%s", lm_request_error(run));
    return lm_request_finish_reason(run);
}

/* A request for ids as the CLI runs them: the context is n_ctx positions
 * (-n), sampled by the loop's sampler (-t, -p, -s), no sampling control. */
static lm_request_run *prepare(cli_loop *l, const int *ids, int n, int echo, int chat,
                               lm_chat_template t, lm_error *err) {
    lm_request req = {.prompt_ids = (int *)ids,
                      .n_prompt_ids = n,
                      .steps = l->n_ctx,
                      .seed = 1, /* unused: the loop's sampler */
                      .echo = echo,
                      .chat_template = t,
                      .chat_ids = chat,
                      .repeat_penalty = 1.0f,
                      .repeat_last_n = 64,
                      .n = 1};
    lm_request_run *run = lm_request_prepare(l->tok, l->n_ctx, &req, err);
    if (run) lm_request_set_sampler(run, l->sampler);
    return run;
}

int cli_generate(cli_loop *l, const char *prompt, lm_error *err) {
    int n = 0;
    int *ids = lm_tokenize(l->tok, prompt ? prompt : "", 1, 0, &n, err);
    if (!ids) return -1;
    int rc = -1;
    lm_request_run *run = NULL;
    if (n == 0)
        fail(err, "the prompt is empty and the vocabulary adds no BOS: give a prompt");
    else if (n > l->n_ctx)
        fail(err,
             "the prompt is %d tokens (with BOS) but only %d fit in -n %d steps; raise -n (at most "
             "the model's seq_len %d)",
             n, l->n_ctx, l->n_ctx, l->seq_len);
    else if ((run = prepare(l, ids, n, 1, 0, LM_CHAT_LLAMA2, err)) &&
             !lm_request_submit(run, l->batch, err) &&
             drive(l, run, NULL, NULL, NULL, NULL, err) > 0)
        rc = put(l->out, "\n", 1, err);
    lm_request_run_free(run);
    free(ids);
    return rc;
}

/* The next non-blank line of `in` into *line (malloc'd, without its line
 * ending). Returns 1, 0 at end of input, -1 on a read error (err says it), or
 * 2 when the line is longer than `cap` bytes (then *line is NULL and the rest
 * of the line is left unread: it cannot fit in the context anyway). */
static int read_line(cli_loop *l, int prompt_user, size_t cap, char **line, lm_error *err) {
    *line = NULL;
    for (;;) {
        if (prompt_user && put(l->out, "User: ", 6, err)) return -1;
        lm_bytes b = {0};
        int c;
        while ((c = getc(l->in)) != EOF && c != '\n') {
            if (b.len >= cap) {
                free(b.p);
                return 2;
            }
            char ch = (char)c;
            if (lm_bytes_add(&b, &ch, 1, 128)) {
                free(b.p);
                return fail(err, "out of memory reading a turn of %zu bytes", b.len);
            }
        }
        if (c == EOF && ferror(l->in)) {
            free(b.p);
            return fail(err, "cannot read the user's turn: %s", strerror(errno));
        }
        while (b.len > 0 && b.p[b.len - 1] == '\r') b.len--;
        if (b.len > 0) { /* blank lines are not turns */
            b.p[b.len] = '\0';
            *line = b.p;
            return 1;
        }
        free(b.p);
        if (c == EOF) return 0;
    }
}

static int context_full(cli_loop *l, int pos, lm_error *err) {
    fail(err, "context full: %d of %d positions used (raise -n, at most the model's seq_len %d)",
         pos, l->n_ctx, l->seq_len);
    return CLI_CONTEXT_FULL;
}

/* A chat in progress: the positions fed so far (hist[0..n_hist)) and their
 * KV cache when the batch could keep it. */
typedef struct conversation {
    int *hist, n_hist;
    int *got; /* (n_ctx) this answer's sampled tokens */
    lm_prefix *kv;
} conversation;

/* This turn's prompt: the conversation, the previous answer's end token
 * (the context reads "... answer </s><s>[INST] ..." as Llama 2 was trained
 * on), then the turn's ids. */
static int answer(cli_loop *l, conversation *c, lm_chat_template t, const int *ids, int n,
                  lm_error *err) {
    int end = lm_chat_end_token(l->tok, t), n_got = 0;
    if (c->n_hist > 0) c->hist[c->n_hist++] = end;
    memcpy(c->hist + c->n_hist, ids, (size_t)n * sizeof *ids);
    c->n_hist += n;
    lm_request_run *run = prepare(l, c->hist, c->n_hist, 0, 1, t, err);
    if (!run) return -1;
    lm_request_keep(run);
    int use = c->kv ? lm_prefix_length(c->kv) : 0;
    int rc = lm_request_submit_prefix(run, l->batch, c->kv, use, err);
    lm_prefix_free(c->kv); /* copied into the sequence */
    c->kv = NULL;
    if (!rc) rc = drive(l, run, "Assistant: ", c->got, &n_got, &c->kv, err);
    lm_request_run_free(run);
    if (rc < 0) return -1;
    /* every sampled token but the last (the end token, or the one at the
     * context's last position) went through the model */
    memcpy(c->hist + c->n_hist, c->got, (size_t)(n_got - 1) * sizeof *c->got);
    c->n_hist += n_got - 1;
    if (put(l->out, "\n", 1, err)) return -1;
    return rc == LM_REQUEST_LENGTH ? context_full(l, l->n_ctx, err) : 0;
}

/* One turn: read it (or take first_user), check that it fits, answer it. */
static int turn(cli_loop *l, conversation *c, lm_chat_template t, const char *system,
                const char *given, int prompt_user, lm_error *err) {
    int first = c->n_hist == 0;
    /* A turn of B bytes is at least B / max_piece tokens: longer lines
     * cannot fit, so they are never read whole. */
    size_t cap = (size_t)(l->n_ctx - c->n_hist) * (size_t)lm_tokenizer_max_piece(l->tok);
    char *user = NULL;
    int got = given ? (user = strdup(given)) ? 1 : fail(err, "out of memory")
                    : read_line(l, prompt_user, cap, &user, err);
    if (got <= 0) return got - 1; /* end of input (-1), or an error (-2) */
    int n = 0, *ids = NULL;
    if (user) {
        ids = lm_chat_turn(l->tok, t, system, user, first, &n, err);
        free(user);
        if (!ids) return -2;
    }
    if (!ids || c->n_hist + !first + n > l->n_ctx) {
        free(ids);
        if (first) /* nothing was said: an error, as a prompt too long in generate mode */
            return ids ? fail(err,
                              "the first turn is %d tokens (with the template) but the context "
                              "holds %d; raise -n (at most the model's seq_len %d)",
                              n, l->n_ctx, l->seq_len) -
                             1
                       : fail(err,
                              "the first turn is more than %zu bytes: it cannot fit in the "
                              "context of %d positions",
                              cap, l->n_ctx) -
                             1;
        return context_full(l, c->n_hist, err);
    }
    int rc = answer(l, c, t, ids, n, err);
    free(ids);
    return rc < 0 ? -2 : rc;
}

int cli_chat(cli_loop *l, lm_chat_template t, const char *system, const char *first_user,
             int prompt_user, lm_error *err) {
    conversation c = {0};
    c.hist = malloc((size_t)l->n_ctx * sizeof *c.hist);
    c.got = malloc((size_t)l->n_ctx * sizeof *c.got);
    int rc = c.hist && c.got ? 0 : fail(err, "out of memory") - 1;
    for (int i = 0; rc == 0; i++)
        rc = turn(l, &c, t, system, i == 0 ? first_user : NULL, prompt_user, err);
    lm_prefix_free(c.kv);
    free(c.hist);
    free(c.got);
    return rc == -1 ? 0 : rc == -2 ? -1 : rc; /* EOF ends a chat normally */
}
