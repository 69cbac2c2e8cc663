/* Requests for the batch engine, shared by `lamina batch` (src/batch) and
 * `lamina serve` (src/serve): a JSON request object parsed into lm_request, and
 * a per-request driver (lm_request_run) that turns lm_batch events into the
 * text the CLI would print, with stop strings, max_tokens and echo applied.
 *
 * Text: a request's text is what `lamina MODEL -i PROMPT -s S -t T -p P -n N`
 * prints to stdout, without the CLI's final newline (the CLI ends the output
 * line; the model did not generate it): with echo, stdout == text + "\n".
 * A token's text is lm_token_text's (the CLI prints the same).
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

/* ---- text ---------------------------------------------------------------- */

/* Every response and record must be valid UTF-8 (RFC 3629), and a request's
 * strings must be whole: these helpers are for the request parser and for
 * the callers that echo request text (serve's `model`, batch's `id`). */

/* The length of the longest prefix of s[0..n) made of whole, valid UTF-8
 * characters (n when all of it is valid). */
size_t lm_utf8_valid_len(const char *s, size_t n);
/* s[0..n) as valid UTF-8, malloc'd: each byte that starts no character
 * becomes U+FFFD (JSON text must be UTF-8; a GGUF model's text may not be).
 * NULL without memory. */
char *lm_utf8_repair(const char *s, size_t n);
/* 1 if the NUL-terminated s is valid UTF-8, else 0. */
int lm_utf8_valid(const char *s);
/* At most max bytes of the NUL-terminated s that end at a character
 * boundary: the precision for printing it cut, as "%.*s" (never "%.40s",
 * which can cut a character in two). */
int lm_utf8_clip(const char *s, int max);
/* n, less an incomplete character at the end of s[0..n) (a cut buffer). */
size_t lm_utf8_trim_end(const char *s, size_t n);

/* Check the strings of JSON text (len bytes) that cJSON has parsed, for what
 * the parsed tree cannot show: a \u0000 escape (or a raw NUL byte) inside a
 * string, which cJSON's strings end at, and bytes that are not UTF-8, in
 * values and field names alike. 0, or -1 with err naming the field
 * ("field 'messages[1].content': the string has a \u0000 (NUL) character,
 * which is not allowed (at byte 41)"). Never reads outside text[0..len);
 * text that is not JSON gets 0 (the parser reports it). */
int lm_json_check_text(const char *text, size_t len, lm_error *err);

/* ---- parsing ------------------------------------------------------------ */

/* Stop strings: at most 4 (OpenAI's limit) of at most 256 bytes each. Their
 * matching costs O(bytes generated x stops), whatever their length. */
#define LM_REQUEST_MAX_STOPS 4
#define LM_REQUEST_MAX_STOP_BYTES 256

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
    /* The vocabulary's size, for token ids in requests ("prompt" as ids,
     * "logit_bias"): ids outside [0, vocab_size) are refused. 0 = unchecked
     * here (lm_request_prepare checks them). */
    int vocab_size;
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
    char **stop; /* "stop": a string or an array of non-empty strings (limits above) */
    int n_stop;
    int echo;
    lm_chat_template chat_template; /* not a field: the caller's (default 0, llama2) */
    /* Sampling controls and logprobs (request_controls.c; README, "Sampling
     * controls and logprobs"). Absent = the defaults below, with which the
     * sampler is run.c's exactly. */
    int *prompt_ids; /* "prompt" as an array of token ids (used as given: no BOS added) */
    int n_prompt_ids;
    float presence_penalty;  /* OpenAI's, over generated tokens; 0 = off */
    float frequency_penalty; /* OpenAI's, over generated tokens; 0 = off */
    float repeat_penalty;    /* llama.cpp's; 1 = off */
    int repeat_last_n;       /* its window (prompt and generated tokens); default 64, -1 = all */
    int top_k;               /* 0 = off */
    float min_p;             /* 0 = off */
    int *bias_ids;           /* "logit_bias": ids and the values added to their logits */
    float *bias_values;
    int n_bias;
    int logprobs;     /* 1: logprobs wanted (completions: "logprobs": k; chat: true) */
    int top_logprobs; /* alternatives per token, 0..20 */
    /* "response_format": a compiled JSON schema (json_constraint.h), NULL for
     * none or {"type":"text"}. Not with "stop" (a stop string could cut the
     * JSON and still end with finish_reason "stop"). */
    struct lm_json_schema *response_format;
    int n; /* "n": choices, 1..LM_REQUEST_MAX_N (default 1) */
    /* Not a field: prompt_ids are a chat's turns so far (the CLI's chat, one
     * run per answer): the answer ends at chat_template's end token, as for
     * messages. */
    int chat_ids;
} lm_request;

/* The most choices ("n") one request may ask for. */
#define LM_REQUEST_MAX_N 16

/* Parse one request object. Returns 0, or -1 with err naming the field and
 * the problem ("field 'max_tokens': expected an integer >= 1, got a string");
 * on failure *req holds nothing to free. Null values count as absent. Every
 * field name and string must be valid UTF-8, and messages must come in the
 * chat template's order ([system] user (assistant user)*). A tree cannot show
 * a \u0000 that cut a string: callers that parse JSON text themselves run
 * lm_json_check_text on it too. */
int lm_request_parse(const cJSON *obj, const lm_request_rules *rules, lm_request *req,
                     lm_error *err);
/* The same from JSON text (len bytes, need not end in NUL): one object and
 * nothing after it but white space, checked by lm_json_check_text. */
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

/* Logprobs (requests with "logprobs"): one entry per token of the text, in
 * order: with echo every prompt token first (the first with no logprob),
 * then each sampled token whose text was kept (not the stop token, nor
 * tokens a stop string cut off whole). logprob is the log-softmax of the
 * model's logits at the position (request_logprobs.c says how it is
 * computed), before any sampling control; top[] holds the top_logprobs
 * likeliest tokens of that position, likeliest first (ties: lower id). */
#define LM_REQUEST_MAX_TOP_LOGPROBS 20
typedef struct lm_request_logprob {
    int token;
    int has_logprob; /* 0 for the first prompt token */
    double logprob;
    size_t offset, len; /* the token's text: text[offset..offset + len) */
    int prev;           /* the token before it (its piece depends on it) */
    int n_top;
    int top[LM_REQUEST_MAX_TOP_LOGPROBS];
    double top_logprob[LM_REQUEST_MAX_TOP_LOGPROBS];
} lm_request_logprob;

/* The entries so far (NULL and 0 without logprobs). */
const lm_request_logprob *lm_request_logprobs(const lm_request_run *run, int *n);
/* A token's text as the request's text shows it (lm_token_text after
 * prev): for logprobs' token strings. */
const char *lm_request_token_text(const lm_request_run *run, int prev, int token);

/* Whether the request asked for logprobs; whether it is a chat (messages). */
int lm_request_has_logprobs(const lm_request_run *run);
int lm_request_is_chat(const lm_request_run *run);
/* Entries [from, to) as a choice's "logprobs" (request_logprobs.c): OpenAI's
 * chat shape ({"content": [...]}) or the legacy completions shape. */
cJSON *lm_request_logprobs_json(const lm_request_run *run, int chat, int from, int to);

int lm_request_prompt_tokens(const lm_request_run *run);
int lm_request_completion_tokens(const lm_request_run *run);

/* ---- prompt cache (request_cache.c) ------------------------------------
 *
 * Finished runs leave their KV cache (the prompt and the tokens generated)
 * in a pool of at most cap bytes; a run submitted with the pool starts from
 * the longest prefix its prompt shares with an entry of the same partition
 * (serve: the API key; prefixes are never shared across partitions, so no
 * timing tells one user what another sent). Least recently used entries go
 * first. The text, usage and finish reason are byte-identical with and
 * without it (a sequence from a prefix equals the whole prompt fed). Like a
 * batch, one thread uses it. */
typedef struct lm_prompt_cache lm_prompt_cache;

typedef struct lm_prompt_cache_stats {
    uint64_t cap_bytes, bytes, entries;
    uint64_t hits, misses;  /* runs submitted with and without a reusable prefix */
    uint64_t tokens_reused; /* prompt positions copied instead of computed */
    uint64_t evictions;     /* entries dropped for room */
} lm_prompt_cache_stats;

lm_prompt_cache *lm_prompt_cache_new(uint64_t cap_bytes); /* NULL without memory */
void lm_prompt_cache_free(lm_prompt_cache *c);
void lm_prompt_cache_clear(lm_prompt_cache *c); /* drop every entry (memory is short) */
/* The entry of `partition` sharing the longest prefix with ids, and in *use
 * how many of its positions to take (< n_ids); NULL and 0 for none. Counts a
 * hit or a miss. */
const lm_prefix *lm_prompt_cache_find(lm_prompt_cache *c, const char *partition, const int *ids,
                                      int n_ids, int *use);
/* Take p (may be NULL) into the pool, evicting as needed; freed if it cannot
 * fit or an entry already holds all of it. */
void lm_prompt_cache_add(lm_prompt_cache *c, const char *partition, lm_prefix *p);
lm_prompt_cache_stats lm_prompt_cache_get_stats(const lm_prompt_cache *c);
/* The default cap: a quarter of the memory available now, less the batch's
 * own KV caches at their fullest. */
uint64_t lm_prompt_cache_default_bytes(uint64_t batch_kv_bytes);

/* Use the pool for this run (before submit): it starts from a cached prefix
 * and leaves its own behind when it ends. partition NULL = "". The run keeps
 * the pointers; both must outlive it. */
void lm_request_set_cache(lm_request_run *run, lm_prompt_cache *c, const char *partition);
/* Sample with the caller's sampler s (before submit; lm_seq_params.sampler):
 * the request's temperature, topp and seed are then unused. s must outlive
 * the run's sequence. */
void lm_request_set_sampler(lm_request_run *run, lm_sampler *s);
/* Prompt positions this run took from the cache (0 without). */
int lm_request_cached_tokens(const lm_request_run *run);

/* ---- n choices -----------------------------------------------------------
 *
 * Choice i of a request is the run lm_request_prepare_choice makes with
 * index i: the same prompt, sampled with seed + i (req->seed must be set:
 * callers fix a seed for all choices first). Its text equals a request of
 * its own with that seed. The prompt is prefilled once: choice 0 runs first
 * with lm_request_keep; at its first event (its prompt is fed) the caller
 * takes the prompt's KV but its last position (lm_batch_snapshot, or the
 * event's prefix when choice 0 ended there) and submits the other choices
 * from it with lm_request_submit_prefix: each feeds only the last token. */
lm_request_run *lm_request_prepare_choice(const lm_tokenizer *tok, int max_ctx,
                                          const lm_request *req, int index, lm_error *err);
void lm_request_keep(lm_request_run *run); /* its sequence hands its KV over when it ends */
/* lm_request_submit from prefix x's first `use` positions (x NULL: none). */
int lm_request_submit_prefix(lm_request_run *run, lm_batch *b, const lm_prefix *x, int use,
                             lm_error *err);

#ifdef __cplusplus
}
#endif
#endif
