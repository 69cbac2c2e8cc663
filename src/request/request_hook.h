/* The one logits hook a request installs on its batch sequence
 * (request_hook.c): logprobs, sampling controls and the constraint slot,
 * in a fixed order. Private to src/request. */
#ifndef LAMINA_REQUEST_HOOK_H
#define LAMINA_REQUEST_HOOK_H

#include "request.h"
#include "json_run.h"

typedef struct request_hook {
    int vocab;
    int logprobs, n_top;
    float presence, frequency, repeat, min_p;
    int repeat_last_n, top_k;
    const int *bias_ids; /* the request's (it outlives the run: copied below) */
    int *bias_id_copy;
    float *bias_value_copy;
    int n_bias;
    lm_json_run *constraint; /* response_format's (not owned), or NULL */
    const int *prompt;       /* the run's ids */
    int n_prompt;
    int *gen; /* tokens sampled so far */
    int n_gen, cap_gen;
    int *stamp; /* (vocab) for counting distinct tokens */
    int stamp_now;
    int *count;  /* (vocab) generated tokens' counts */
    float *work; /* (vocab) scratch for top_k */
    float *raw;  /* (vocab) the untouched logits of the row being sampled */
    double raw_max, raw_lse;
    lm_request_logprob pending; /* its top alternatives */
    lm_request_logprob *entries;
    int n_entries, cap_entries;
    int n_prompt_entries; /* the first entries: the echoed prompt's */
} request_hook;

/* Set up from the request; 0, or -1 without memory. constraint is taken
 * over (freed with the hook). */
int request_hook_init(request_hook *h, const lm_request *req, const int *prompt, int n_prompt,
                      int vocab, lm_json_run *constraint);
void request_hook_free(request_hook *h);
/* Whether the sequence needs the hook at all (without it: run.c's sampler). */
int request_hook_wanted(const request_hook *h);
/* lm_logits_fn: arg is the request_hook. */
void request_hook_logits(void *arg, int pos, float *logits, int vocab_size);
/* An entry for prompt token i (echo), with its text; its logprob comes from
 * the prompt tokens' logits. 0 or -1 without memory. */
int request_hook_prompt_entry(request_hook *h, int i, int prev, size_t offset, size_t len);
/* The token sampled after the last call at a sampling position; its text
 * (len 0 for the stop token, which gets no entry: with_entry 0). */
int request_hook_sampled(request_hook *h, int token, int prev, size_t offset, size_t len,
                         int with_entry);
/* A stop string cut the text at len: entries that begin at or after it go. */
void request_hook_cut(request_hook *h, size_t len);

#endif
