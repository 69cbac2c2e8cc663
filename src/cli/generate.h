/* Generation and chat for the lamina command line, on the request driver
 * (src/request) that `lamina batch` and `lamina serve` use: a single sequence
 * is a batch of one, so one rule decides length, stop tokens and non-finite
 * logits for every front end. The loops read turns from `in` and print to
 * `out`; liblamina does no I/O. */
#ifndef LAMINA_CLI_GENERATE_H
#define LAMINA_CLI_GENERATE_H

#include <stdio.h>

#include "lamina.h"

typedef struct cli_stats {
    int prompt_tokens;    /* tokens fed from prompts (BOS, templates, end tokens) */
    int generated_tokens; /* tokens sampled, final stop tokens included */
    double prompt_seconds;
    double generate_seconds;
} cli_stats;

typedef struct cli_loop {
    lm_batch *batch; /* one slot (max_seqs 1), free; max_ctx >= n_ctx */
    const lm_tokenizer *tok;
    lm_sampler *sampler; /* the run's random stream, across a chat's turns */
    int n_ctx;           /* positions: the CLI's -n */
    int seq_len;         /* the model's, for messages */
    FILE *in, *out;
    cli_stats stats;
} cli_loop;

/* llama2.c's generate(): feed the prompt (with BOS), print it, then sample
 * until n_ctx positions are used or the stop token comes (lm_token_ends:
 * BOS for a tokenizer.bin, as run.c); the text goes out as it comes, then a
 * newline. 0, or -1 with err set. */
int cli_generate(cli_loop *l, const char *prompt, lm_error *err);

/* Chat through template t: user turns line by line from `in` (first_user,
 * if not NULL, is the first), answers on `out` after "Assistant: ", until
 * EOF (0) or until the context is full (CLI_CONTEXT_FULL, err says how
 * full); -1 with err set on an error. prompt_user: print "User: " before
 * reading each line (a terminal). system may be NULL. */
#define CLI_CONTEXT_FULL 1
int cli_chat(cli_loop *l, lm_chat_template t, const char *system, const char *first_user,
             int prompt_user, lm_error *err);

#endif
