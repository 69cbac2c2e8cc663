/* A request's JSON constraint (json_run.c), for request_run.c. */
#ifndef LAMINA_JSON_RUN_H
#define LAMINA_JSON_RUN_H

#include <stddef.h>

#include "json_constraint.h"

typedef struct lm_json_run lm_json_run;

/* For a sequence whose prompt ends with `prev`, ending at stop_token or the
 * vocabulary's end tokens (lm_token_ends with `chat`). Holds a reference to
 * schema. NULL with err set when out of memory. */
lm_json_run *lm_json_run_new(const lm_tokenizer *tok, lm_json_schema *schema, int stop_token,
                             int chat, int prev, lm_error *err);
void lm_json_run_free(lm_json_run *j);
/* The lm_logits_fn (arg: the run): -INFINITY for every token that cannot
 * extend the text; if none can, only the stop token stays (run_dead). */
void lm_json_run_logits(void *arg, int pos, float *logits, int vocab_size);
/* The sampled token and the text it added. -1 if the automaton refuses it
 * (cannot happen for a token the mask allowed). */
int lm_json_run_feed(lm_json_run *j, int token, const char *text, size_t n);
int lm_json_run_dead(const lm_json_run *j);

#endif
