/* One request's JSON constraint (json_constraint.h, request_run.c): the
 * automaton's state after the text so far, and the logits hook that masks
 * the tokens that cannot extend it. The mask is a function of the state and
 * the previous token only, so a seeded request samples the same tokens
 * every time. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "json_internal.h"
#include "json_run.h"
#include "request_error.h"

struct lm_json_run {
    const lm_json_vocab *vocab;
    lm_json_schema *schema; /* a reference (lm_json_schema_ref) */
    lm_json_state state;
    int prev;
    int *end; /* the tokens that end the sequence */
    int n_end;
    uint8_t *allowed;
    int n_vocab;
    int dead; /* no token could continue (a vocabulary that cannot spell it) */
};

lm_json_run *lm_json_run_new(const lm_tokenizer *tok, lm_json_schema *schema, int stop_token,
                             int chat, int prev, lm_error *err) {
    lm_json_run *j = calloc(1, sizeof *j);
    int n = lm_tokenizer_vocab_size(tok);
    if (!j || !(j->allowed = malloc((size_t)n)) ||
        !(j->end = malloc(((size_t)n + 1) * sizeof *j->end))) {
        lm_json_run_free(j);
        return request_set_error(err, "out of memory"), NULL;
    }
    if (!(j->vocab = lm_json_vocab_get(tok, err))) return lm_json_run_free(j), NULL;
    j->n_vocab = n;
    j->schema = lm_json_schema_ref(schema);
    lm_json_state_init(&j->state, schema);
    j->prev = prev;
    j->end[j->n_end++] = stop_token;
    for (int t = 0; t < n; t++)
        if (t != stop_token && lm_token_ends(tok, t, chat)) j->end[j->n_end++] = t;
    return j;
}

void lm_json_run_free(lm_json_run *j) {
    if (!j) return;
    lm_json_schema_free(j->schema);
    free(j->allowed);
    free(j->end);
    free(j);
}

void lm_json_run_logits(void *arg, int pos, float *logits, int vocab_size) {
    (void)pos;
    lm_json_run *j = arg;
    int count = lm_json_allowed(j->vocab, &j->state, j->prev, j->end, j->n_end, j->allowed);
    if (count == 0) { /* leave one token (the stop token): the run ends with an error */
        j->dead = 1;
        j->allowed[j->end[0] >= 0 && j->end[0] < j->n_vocab ? j->end[0] : 0] = 1;
    }
    for (int t = 0; t < vocab_size; t++)
        if (t >= j->n_vocab || !j->allowed[t]) logits[t] = -INFINITY;
}

int lm_json_run_feed(lm_json_run *j, int token, const char *text, size_t n) {
    j->prev = token;
    return lm_json_feed(&j->state, text, n) ? 0 : -1;
}

int lm_json_run_dead(const lm_json_run *j) { return j->dead; }
