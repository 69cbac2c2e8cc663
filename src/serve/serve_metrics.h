/* Counters for GET /metrics; thread-safe. */
#ifndef LAMINA_SERVE_METRICS_H
#define LAMINA_SERVE_METRICS_H

#include "request.h"

void serve_metrics_request(int status);               /* one answered HTTP request */
void serve_metrics_tokens(int prompt, int generated); /* fed / sampled this step */
void serve_metrics_load(int queued, int active);      /* queue depth, sequences running */
/* prompt positions computed for a request just admitted (its prompt less
 * what the prompt cache gave), and the cache's figures now */
void serve_metrics_prompt(int computed, lm_prompt_cache_stats cache);
char *serve_metrics_text(void); /* the Prometheus text, malloc'd; NULL without memory */

#endif
