/* The request fields of the sampling controls, logprobs and token prompts
 * (request_controls.c), for request_parse.c; private to src/request. */
#ifndef LAMINA_REQUEST_CONTROLS_H
#define LAMINA_REQUEST_CONTROLS_H

#include "request.h"

/* One field, if it is one of these: 0 parsed, -1 with err set, 1 not one of
 * them. */
int request_parse_control(const cJSON *f, const lm_request_rules *rules, lm_request *req,
                          lm_error *err);
/* "prompt" given as an array of token ids. */
int request_parse_prompt_ids(const cJSON *v, const lm_request_rules *rules, lm_request *req,
                             lm_error *err);
/* After every field: the checks that take several (max_tokens against
 * max_completion_tokens, logprobs against top_logprobs and the kind). */
int request_check_controls(const cJSON *obj, lm_request *req, lm_error *err);
void request_free_controls(lm_request *req);

#endif
