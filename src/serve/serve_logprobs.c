/* A choice's "logprobs" in serve's answers (lm_request_logprobs_json): the
 * whole answer has every entry; a stream's chunk those of the tokens whose
 * text begins before the chunk's end, not sent before. */
#include <stdlib.h>

#include "serve_job.h"

cJSON *serve_logprobs_json(struct serve_job *job, int i, size_t upto) {
    if (!job->req.logprobs) return cJSON_CreateNull();
    int n = 0;
    const lm_request_logprob *e = lm_request_logprobs(job->runs[i], &n);
    int end = job->lp_sent[i];
    while (end < n && e[end].offset < upto) end++;
    cJSON *o =
        lm_request_logprobs_json(job->runs[i], job->kind == SERVE_CHAT, job->lp_sent[i], end);
    job->lp_sent[i] = end;
    return o;
}
