/* One request on a batch (request.h): its prompt tokens and context size, and
 * the text its sampled tokens print as, with stop strings and max_tokens. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "request.h"
#include "request_error.h"

struct lm_request_run {
    const lm_tokenizer *tok;
    int *ids; /* the prompt, BOS first */
    int n_ids;
    lm_seq_params params;
    int max_tokens; /* 0 = the context bounds it */
    char **stop;
    int n_stop;
    int seq;  /* in the batch; -1 when not there */
    int prev; /* the last token, for its successor's piece */
    char *text;
    size_t len, cap;
    size_t completion; /* where the completion starts in text */
    size_t stable;
    int completion_tokens;
    lm_request_finish finish;
    lm_error error;
};

const char *lm_request_finish_name(lm_request_finish f) {
    switch (f) {
    case LM_REQUEST_STOP: return "stop";
    case LM_REQUEST_LENGTH: return "length";
    case LM_REQUEST_CANCELLED: return "cancelled";
    case LM_REQUEST_ERROR: return "error";
    default: return NULL;
    }
}

static int append(lm_request_run *r, const char *s) {
    size_t n = strlen(s);
    if (r->len + n + 1 > r->cap) {
        size_t cap = r->cap ? r->cap : 256;
        while (cap < r->len + n + 1) cap *= 2;
        char *t = realloc(r->text, cap);
        if (!t) return -1;
        r->text = t;
        r->cap = cap;
    }
    memcpy(r->text + r->len, s, n + 1);
    r->len += n;
    return 0;
}

/* The positions the sequence may use (request.h, "Lengths"). */
static int context_size(const lm_request *req, int n_prompt, int max_ctx) {
    if (req->max_tokens > 0) {
        long long want = (long long)n_prompt + req->max_tokens - 1;
        return want < max_ctx ? (int)want : max_ctx;
    }
    return req->steps <= 0 || req->steps > max_ctx ? max_ctx : req->steps;
}

static int *encode(const lm_tokenizer *tok, const lm_request *req, int *n, lm_error *err) {
    if (req->messages) return lm_chat_tokens(tok, req->messages, req->n_messages, n, err);
    return lm_tokenize(tok, req->prompt ? req->prompt : "", 1, 0, n, err);
}

static int copy_stops(lm_request_run *r, const lm_request *req) {
    if (!req->n_stop) return 0;
    r->stop = calloc((size_t)req->n_stop, sizeof *r->stop);
    if (!r->stop) return -1;
    for (; r->n_stop < req->n_stop; r->n_stop++)
        if (!(r->stop[r->n_stop] = strdup(req->stop[r->n_stop]))) return -1;
    return 0;
}

/* The echoed prompt: the pieces the CLI prints for it (all but BOS). */
static int echo_prompt(lm_request_run *r) {
    for (int i = 1; i < r->n_ids; i++)
        if (append(r, lm_piece_text(lm_token_piece(r->tok, r->ids[i - 1], r->ids[i])))) return -1;
    return 0;
}

lm_request_run *lm_request_prepare(const lm_tokenizer *tok, int max_ctx, const lm_request *req,
                                   lm_error *err) {
    lm_request_run *r = calloc(1, sizeof *r);
    if (!r) return request_set_error(err, "out of memory"), NULL;
    r->tok = tok;
    r->seq = -1;
    r->ids = encode(tok, req, &r->n_ids, err);
    if (!r->ids) return lm_request_run_free(r), NULL;
    if (r->n_ids == 0) { /* a GGUF vocabulary without add_bos_token, and no text */
        request_set_error(err, "the prompt is empty and the vocabulary adds no BOS");
        return lm_request_run_free(r), NULL;
    }
    int n_ctx = context_size(req, r->n_ids, max_ctx);
    if (r->n_ids > n_ctx) {
        request_set_error(err,
                          "the prompt is %d tokens (with BOS) but the context holds %d positions%s",
                          r->n_ids, n_ctx, n_ctx < max_ctx ? " (raise max_tokens or -n)" : "");
        return lm_request_run_free(r), NULL;
    }
    r->params = (lm_seq_params){
        .n_ctx = n_ctx,
        .temperature = req->temperature,
        .topp = req->topp,
        .seed = req->seed ? req->seed : (uint64_t)time(NULL), /* as the CLI's -s 0 */
        .stop_token = lm_tokenizer_stop_token(tok, req->messages != NULL),
        .end_tokens = tok,
    };
    r->max_tokens = req->max_tokens;
    r->prev = r->ids[r->n_ids - 1];
    if (copy_stops(r, req) || append(r, "") || (req->echo && echo_prompt(r))) {
        request_set_error(err, "out of memory");
        return lm_request_run_free(r), NULL;
    }
    r->completion = r->stable = r->len;
    return r;
}

void lm_request_run_free(lm_request_run *r) {
    if (!r) return;
    free(r->ids);
    for (int i = 0; i < r->n_stop; i++) free(r->stop[i]);
    free(r->stop);
    free(r->text);
    free(r);
}

static void finish(lm_request_run *r, lm_request_finish f) {
    r->finish = f;
    r->seq = -1;
    r->stable = r->len;
}

int lm_request_submit(lm_request_run *r, lm_batch *b, lm_error *err) {
    if (r->finish) return request_set_error(err, "the request has already finished");
    r->seq = lm_batch_add(b, r->ids, r->n_ids, r->params, &r->error);
    if (r->seq >= 0) return 0;
    request_set_error(err, "%s", r->error.msg);
    finish(r, LM_REQUEST_ERROR);
    return -1;
}

/* Cut the text at the first stop string that ends in text[from..]; 1 if cut. */
static int cut_at_stop(lm_request_run *r, size_t from) {
    for (size_t p = from; p < r->len; p++)
        for (int i = 0; i < r->n_stop; i++) {
            size_t n = strlen(r->stop[i]);
            if (n <= r->len - p && memcmp(r->text + p, r->stop[i], n) == 0) {
                r->len = p;
                r->text[p] = '\0';
                return 1;
            }
        }
    return 0;
}

/* The longest tail of the completion that begins some stop string. */
static size_t held_back(const lm_request_run *r) {
    size_t held = 0, avail = r->len - r->completion;
    for (int i = 0; i < r->n_stop; i++) {
        size_t n = strlen(r->stop[i]);
        for (size_t k = n - 1 < avail ? n - 1 : avail; k > held; k--)
            if (memcmp(r->text + r->len - k, r->stop[i], k) == 0) {
                held = k;
                break;
            }
    }
    return held;
}

static size_t longest_stop(const lm_request_run *r) {
    size_t m = 0;
    for (int i = 0; i < r->n_stop; i++)
        if (strlen(r->stop[i]) > m) m = strlen(r->stop[i]);
    return m;
}

/* End early (a stop string, max_tokens, no memory): out of the batch too. */
static int end_early(lm_request_run *r, lm_batch *b, const lm_batch_event *ev,
                     lm_request_finish f) {
    if (ev->finish == LM_RUNNING) lm_batch_cancel(b, ev->seq);
    finish(r, f);
    return 1;
}

int lm_request_feed(lm_request_run *r, lm_batch *b, const lm_batch_event *ev) {
    if (r->finish) return 1;
    r->completion_tokens++;
    if (ev->finish == LM_FINISH_STOP) return finish(r, LM_REQUEST_STOP), 1;
    size_t old = r->len;
    if (append(r, lm_piece_text(lm_token_piece(r->tok, r->prev, ev->token)))) {
        snprintf(r->error.msg, sizeof r->error.msg, "out of memory");
        return end_early(r, b, ev, LM_REQUEST_ERROR);
    }
    r->prev = ev->token;
    size_t reach = longest_stop(r);
    size_t from = old - r->completion >= reach ? old - reach + 1 : r->completion;
    if (r->n_stop && cut_at_stop(r, from)) return end_early(r, b, ev, LM_REQUEST_STOP);
    if (ev->finish != LM_RUNNING) return finish(r, LM_REQUEST_LENGTH), 1;
    if (r->max_tokens && r->completion_tokens >= r->max_tokens)
        return end_early(r, b, ev, LM_REQUEST_LENGTH);
    r->stable = r->len - held_back(r);
    return 0;
}

void lm_request_cancel(lm_request_run *r, lm_batch *b) {
    if (r->finish) return;
    if (r->seq >= 0) lm_batch_cancel(b, r->seq);
    finish(r, LM_REQUEST_CANCELLED);
}

void lm_request_fail(lm_request_run *r, const char *msg) {
    if (r->finish) return;
    snprintf(r->error.msg, sizeof r->error.msg, "%s", msg);
    finish(r, LM_REQUEST_ERROR);
}

lm_request_finish lm_request_finish_reason(const lm_request_run *r) { return r->finish; }

const char *lm_request_error(const lm_request_run *r) {
    return r->finish == LM_REQUEST_ERROR ? r->error.msg : "";
}

const char *lm_request_text(const lm_request_run *r, size_t *len) {
    if (len) *len = r->len;
    return r->text;
}

size_t lm_request_stable_len(const lm_request_run *r) { return r->stable; }
size_t lm_request_completion_offset(const lm_request_run *r) { return r->completion; }
int lm_request_seq(const lm_request_run *r) { return r->seq; }
int lm_request_prompt_tokens(const lm_request_run *r) { return r->n_ids; }
int lm_request_completion_tokens(const lm_request_run *r) { return r->completion_tokens; }
