/* No constraint (request_constraint.h): the default until JSON mode fills
 * these in. */
#include "request_constraint.h"

request_constraint *request_constraint_new(const lm_request *req, const lm_tokenizer *tok,
                                           lm_error *err) {
    (void)req, (void)tok, (void)err;
    return NULL;
}

void request_constraint_free(request_constraint *c) { (void)c; }

void request_constraint_mask(request_constraint *c, int pos, float *logits, int vocab_size) {
    (void)c, (void)pos, (void)logits, (void)vocab_size;
}

void request_constraint_accept(request_constraint *c, int token) { (void)c, (void)token; }
