/* The counters behind GET /metrics (Prometheus text format 0.0.4). Updated
 * from the HTTP thread (requests by status) and the engine thread (tokens,
 * queue, active), so every field is behind one mutex of its own: a scrape
 * never waits for a forward pass. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lamina.h"
#include "serve_metrics.h"

#define N_STATUS 8
#define WINDOW 10 /* seconds of tokens behind the tok/s gauge */

static const int statuses[N_STATUS] = {200, 400, 401, 404, 405, 413, 500, 503};

static struct {
    pthread_mutex_t mu;
    unsigned long long requests[N_STATUS + 1]; /* the last: any other status */
    unsigned long long prompt_tokens, generated_tokens;
    int queued, active;
    unsigned long long prompt_computed;
    lm_prompt_cache_stats cache;
    /* tokens per whole second over the last WINDOW seconds (a ring) */
    long long bucket_sec[WINDOW];
    unsigned long long bucket_tokens[WINDOW];
} m = {.mu = PTHREAD_MUTEX_INITIALIZER};

static long long now_sec(void) { return (long long)lm_seconds(); }

void serve_metrics_request(int status) {
    int i = 0;
    while (i < N_STATUS && statuses[i] != status) i++;
    pthread_mutex_lock(&m.mu);
    m.requests[i]++;
    pthread_mutex_unlock(&m.mu);
}

void serve_metrics_tokens(int prompt, int generated) {
    long long s = now_sec();
    int b = (int)(s % WINDOW);
    pthread_mutex_lock(&m.mu);
    m.prompt_tokens += (unsigned long long)prompt;
    m.generated_tokens += (unsigned long long)generated;
    if (m.bucket_sec[b] != s) {
        m.bucket_sec[b] = s;
        m.bucket_tokens[b] = 0;
    }
    m.bucket_tokens[b] += (unsigned long long)generated;
    pthread_mutex_unlock(&m.mu);
}

void serve_metrics_load(int queued, int active) {
    pthread_mutex_lock(&m.mu);
    m.queued = queued;
    m.active = active;
    pthread_mutex_unlock(&m.mu);
}

void serve_metrics_prompt(int computed, lm_prompt_cache_stats cache) {
    pthread_mutex_lock(&m.mu);
    m.prompt_computed += (unsigned long long)computed;
    m.cache = cache;
    pthread_mutex_unlock(&m.mu);
}

static void cache_text(FILE *f) {
    fprintf(f,
            "# HELP lamina_prompt_tokens_computed_total Prompt positions run through the model "
            "(prompt tokens less those the prompt cache gave).\n"
            "# TYPE lamina_prompt_tokens_computed_total counter\n"
            "lamina_prompt_tokens_computed_total %llu\n"
            "# HELP lamina_prompt_cache_tokens_reused_total Prompt positions copied from the "
            "prompt cache.\n"
            "# TYPE lamina_prompt_cache_tokens_reused_total counter\n"
            "lamina_prompt_cache_tokens_reused_total %llu\n"
            "# HELP lamina_prompt_cache_hits_total Requests that started from a cached prefix.\n"
            "# TYPE lamina_prompt_cache_hits_total counter\n"
            "lamina_prompt_cache_hits_total %llu\n"
            "# HELP lamina_prompt_cache_misses_total Requests the cache had no prefix for.\n"
            "# TYPE lamina_prompt_cache_misses_total counter\n"
            "lamina_prompt_cache_misses_total %llu\n"
            "# HELP lamina_prompt_cache_evictions_total Entries dropped for room.\n"
            "# TYPE lamina_prompt_cache_evictions_total counter\n"
            "lamina_prompt_cache_evictions_total %llu\n"
            "# HELP lamina_prompt_cache_bytes Memory the prompt cache holds.\n"
            "# TYPE lamina_prompt_cache_bytes gauge\n"
            "lamina_prompt_cache_bytes %llu\n"
            "# HELP lamina_prompt_cache_capacity_bytes The cache's cap (--prompt-cache-mb).\n"
            "# TYPE lamina_prompt_cache_capacity_bytes gauge\n"
            "lamina_prompt_cache_capacity_bytes %llu\n"
            "# HELP lamina_prompt_cache_entries Sequences the prompt cache holds.\n"
            "# TYPE lamina_prompt_cache_entries gauge\n"
            "lamina_prompt_cache_entries %llu\n",
            m.prompt_computed, (unsigned long long)m.cache.tokens_reused,
            (unsigned long long)m.cache.hits, (unsigned long long)m.cache.misses,
            (unsigned long long)m.cache.evictions, (unsigned long long)m.cache.bytes,
            (unsigned long long)m.cache.cap_bytes, (unsigned long long)m.cache.entries);
}

/* Tokens of the last WINDOW complete seconds, per second. */
static double tok_per_s(long long now) {
    unsigned long long sum = 0;
    for (int i = 0; i < WINDOW; i++)
        if (m.bucket_sec[i] < now && m.bucket_sec[i] >= now - WINDOW) sum += m.bucket_tokens[i];
    return (double)sum / WINDOW;
}

char *serve_metrics_text(void) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return NULL;
    pthread_mutex_lock(&m.mu);
    fputs("# HELP lamina_requests_total HTTP requests answered, by status.\n"
          "# TYPE lamina_requests_total counter\n",
          f);
    for (int i = 0; i < N_STATUS; i++)
        fprintf(f, "lamina_requests_total{status=\"%d\"} %llu\n", statuses[i], m.requests[i]);
    fprintf(f, "lamina_requests_total{status=\"other\"} %llu\n", m.requests[N_STATUS]);
    fprintf(f,
            "# HELP lamina_prompt_tokens_total Prompt tokens fed.\n"
            "# TYPE lamina_prompt_tokens_total counter\n"
            "lamina_prompt_tokens_total %llu\n"
            "# HELP lamina_generated_tokens_total Tokens generated.\n"
            "# TYPE lamina_generated_tokens_total counter\n"
            "lamina_generated_tokens_total %llu\n"
            "# HELP lamina_queue_depth Requests waiting for a slot.\n"
            "# TYPE lamina_queue_depth gauge\n"
            "lamina_queue_depth %d\n"
            "# HELP lamina_active_sequences Sequences in the batch.\n"
            "# TYPE lamina_active_sequences gauge\n"
            "lamina_active_sequences %d\n"
            "# HELP lamina_tokens_per_second Tokens generated per second over the last %d s.\n"
            "# TYPE lamina_tokens_per_second gauge\n"
            "lamina_tokens_per_second %.2f\n",
            m.prompt_tokens, m.generated_tokens, m.queued, m.active, WINDOW, tok_per_s(now_sec()));
    cache_text(f);
    pthread_mutex_unlock(&m.mu);
    if (fclose(f)) {
        free(buf);
        return NULL;
    }
    return buf;
}
