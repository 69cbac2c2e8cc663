/* Requests for the batch engine, shared by `lamina batch` (src/batch) and
 * `lamina serve` (src/serve): a JSON request object parsed into lm_request, and
 * a per-request driver (lm_request_run) that turns lm_batch events into the
 * text the CLI would print, with stop strings, max_tokens and echo applied.
 *
 * Text: a request's text is what `lamina MODEL -i PROMPT -s S -t T -p P -n N`
 * prints to stdout, without the CLI's final newline (the CLI ends the output
 * line; the model did not generate it): with echo, stdout == text + "\n".
 * Pieces go through lm_piece_text, the filter lm_print_piece uses.
 *
 * Lengths (max_tokens and the context):
 *   - without max_tokens, the sequence holds `steps` positions, the prompt
 *     included, as the CLI's -n (0 or more than the limit = the limit): it
 *     samples up to steps - prompt_tokens + 1 tokens, as the CLI does;
 *   - with max_tokens M, it samples at most M tokens (the context holds
 *     prompt_tokens + M - 1 positions, capped at the limit).
 *   So `-n N` and max_tokens = N - prompt_tokens + 1 give the same text.
 * completion_tokens counts every sampled token, a final stop token included
 * (the CLI's "generated N tokens"); prompt_tokens counts BOS (and for chat the
 * template and the EOS tokens that close earlier answers).
 *
 * A prompt ends at BOS (as llama2.c's run does); chat messages at EOS. A seed of
 * 0 means the current time, as the CLI's -s 0. Not thread-safe: like lm_batch,
 * one thread drives a run. */
#ifndef LAMINA_REQUEST_H
#define LAMINA_REQUEST_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "lamina.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- parsing ------------------------------------------------------------ */

typedef struct lm_request_rules {
    /* Field names the caller accepts and reads itself (e.g. "model",
     * "stream"), NULL-terminated; NULL = none. Any other unknown field is an
     * error. */
    const char *const *extra_fields;
    int allow_prompt;   /* "prompt" may appear */
    int allow_messages; /* "messages" may appear */
    int allow_echo;     /* "echo" may appear (with a prompt only) */
    /* Defaults for absent (or null) fields: the CLI's -t, -p, -s, -n. */
    float temperature;
    float topp;
    uint64_t seed;
    int steps;
} lm_request_rules;

/* The rules of `lamina batch`: prompt or messages, echo, no extra fields, and
 * the CLI's defaults (-t 1.0 -p 0.9 -s 0 -n 256). */
lm_request_rules lm_request_rules_default(void);

typedef struct lm_request {
    cJSON *id;                 /* a copy of "id" (a string or a number), or NULL when absent */
    char *prompt;              /* "prompt", or NULL when the request has messages */
    lm_chat_message *messages; /* "messages" (roles system/user/assistant) */
    int n_messages;
    int max_tokens; /* 0 = absent (then `steps` bounds the length) */
    int steps;      /* the rules' default (-n) */
    float temperature;
    float topp;
    uint64_t seed;
    char **stop; /* "stop": a string or an array of non-empty strings */
    int n_stop;
    int echo;
    lm_chat_template chat_template; /* not a field: the caller's (default 0, llama2) */
} lm_request;

/* Parse one request object. Returns 0, or -1 with err naming the field and
 * the problem ("field 'max_tokens': expected an integer >= 1, got a string");
 * on failure *req holds nothing to free. Null values count as absent. */
int lm_request_parse(const cJSON *obj, const lm_request_rules *rules, lm_request *req,
                     lm_error *err);
/* The same from JSON text (len bytes, need not end in NUL): one object and
 * nothing after it but white space. */
int lm_request_parse_text(const char *text, size_t len, const lm_request_rules *rules,
                          lm_request *req, lm_error *err);
void lm_request_free(lm_request *req);

/* ---- running on a batch ------------------------------------------------- */

typedef enum lm_request_finish {
    LM_REQUEST_RUNNING = 0,
    LM_REQUEST_STOP,      /* the stop token, or a stop string (cut off the text) */
    LM_REQUEST_LENGTH,    /* max_tokens or the context */
    LM_REQUEST_CANCELLED, /* lm_request_cancel */
    LM_REQUEST_ERROR,     /* lm_request_fail, or a refused lm_request_submit */
} lm_request_finish;

/* "stop", "length", "cancelled", "error"; NULL while running. */
const char *lm_request_finish_name(lm_request_finish f);

typedef struct lm_request_run lm_request_run;

/* Tokenize the request (BOS first, or the chat template) and size its
 * context; max_ctx is the longest context a sequence may have (the batch's
 * max_ctx, resolved: at most the model's seq_len). NULL with err set for a
 * prompt longer than the context (a bad request) or no memory. The run keeps
 * pointers to tok; it copies what it needs from req. */
lm_request_run *lm_request_prepare(const lm_tokenizer *tok, int max_ctx, const lm_request *req,
                                   lm_error *err);
void lm_request_run_free(lm_request_run *run);

/* Add the prepared run to the batch (it needs a free slot). 0, or -1 with
 * err set and the run finished with LM_REQUEST_ERROR. */
int lm_request_submit(lm_request_run *run, lm_batch *b, lm_error *err);

/* The run's sequence id in the batch; -1 before submit and after it ends. */
int lm_request_seq(const lm_request_run *run);

/* Apply one event of lm_batch_step whose seq is this run's. Appends the
 * token's text, applies stop strings and max_tokens (cancelling the sequence
 * in b when one ends it early). Returns 1 if the run has finished, else 0. */
int lm_request_feed(lm_request_run *run, lm_batch *b, const lm_batch_event *ev);

/* End the run: CANCELLED (a client left, a signal), its sequence cancelled in
 * b if still there. No effect on a finished run. */
void lm_request_cancel(lm_request_run *run, lm_batch *b);
/* End the run with an error (lm_batch_step failed: the batch has already
 * ended every sequence). No effect on a finished run. */
void lm_request_fail(lm_request_run *run, const char *msg);

lm_request_finish lm_request_finish_reason(const lm_request_run *run);
const char *lm_request_error(const lm_request_run *run); /* "" unless ERROR */

/* The text so far (the echoed prompt first when echo), NUL-terminated. */
const char *lm_request_text(const lm_request_run *run, size_t *len);
/* Bytes of text that are final: a stop string can still cut the ones after
 * them (a stop string's beginning may be arriving). Streaming sends only
 * these; once finished, all of the text is final. */
size_t lm_request_stable_len(const lm_request_run *run);
/* Where the completion starts in the text (after the echoed prompt). */
size_t lm_request_completion_offset(const lm_request_run *run);

int lm_request_prompt_tokens(const lm_request_run *run);
int lm_request_completion_tokens(const lm_request_run *run);

#ifdef __cplusplus
}
#endif
#endif
