/* The slot for a constraint on the tokens a request may sample (JSON mode,
 * response_format): the request hook (request_hook.c) calls it after the
 * logit bias and penalties and before top_k / min_p. The default
 * (request_constraint.c) is no constraint; the JSON mode replaces that file's
 * bodies. Private to src/request. */
#ifndef LAMINA_REQUEST_CONSTRAINT_H
#define LAMINA_REQUEST_CONSTRAINT_H

#include "request.h"

typedef struct request_constraint request_constraint;

/* The request's constraint, or NULL (none: *err untouched) or NULL with
 * err->msg set (a bad request). */
request_constraint *request_constraint_new(const lm_request *req, const lm_tokenizer *tok,
                                           lm_error *err);
void request_constraint_free(request_constraint *c);
/* Set the logits of forbidden tokens to -INFINITY (leaving one finite). */
void request_constraint_mask(request_constraint *c, int pos, float *logits, int vocab_size);
/* The token sampled at the masked position. */
void request_constraint_accept(request_constraint *c, int token);

#endif
