/* The engine thread of `lamina serve`: it alone owns the lm_batch. Between
 * two steps it drops jobs whose client left, admits queued jobs into free
 * slots, then runs one lm_batch_step and hands each event to its job's
 * request driver (src/request), which turns tokens into the CLI's text.
 *
 * Everything a job shares with the HTTP side is guarded by eng->mu; the
 * forward pass runs without it. A connection waiting for its job is
 * suspended in MHD (it costs no polling); the engine resumes it when there is
 * output, after releasing mu (MHD takes locks of its own). A client that
 * leaves while its connection is suspended is noticed here, by peeking at its
 * socket, since MHD does not watch suspended connections. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <microhttpd.h>

#include "serve_job.h"
#include "serve_metrics.h"

#define SWEEP_SECONDS 0.02 /* how often sockets are checked for a client that left */

struct serve_engine {
    pthread_mutex_t mu;
    pthread_cond_t wake;
    pthread_t thread;
    int started;
    lm_batch *batch;
    lm_prompt_cache *cache; /* NULL: --prompt-cache-mb 0 */
    const serve_model *m;
    int parallel, queue_max;
    struct serve_job *head, *tail; /* the queue, oldest first */
    int n_queued;
    struct serve_job **running; /* [parallel] */
    int n_running;
    int draining; /* no new jobs */
    int quit;     /* cancel what is left and end the thread */
    lm_batch_event *events;
    struct MHD_Connection **resume; /* connections to resume once mu is released */
    int n_resume, cap_resume;
    double last_sweep;
    long step_delay_ns; /* tests only (LAMINA_SERVE_TEST_STEP_MS): a pause after each step */
};

static void job_unref(struct serve_job *job) {
    if (--job->refs == 0) serve_job_free(job);
}

/* Wake the job's connection if it waits (mu held; resumed after unlock). */
static void wake(serve_engine *eng, struct serve_job *job) {
    if (!job->suspended) return;
    job->suspended = 0;
    if (eng->n_resume == eng->cap_resume) {
        int cap = eng->cap_resume ? 2 * eng->cap_resume : 64;
        struct MHD_Connection **grown = realloc(eng->resume, (size_t)cap * sizeof *grown);
        if (!grown) abort(); /* a connection never resumed would hang forever */
        eng->resume = grown;
        eng->cap_resume = cap;
    }
    eng->resume[eng->n_resume++] = job->conn;
}

static void unlock_and_resume(serve_engine *eng) {
    if (eng->n_resume == 0) {
        pthread_mutex_unlock(&eng->mu);
        return;
    }
    int n = eng->n_resume;
    struct MHD_Connection *batch[256];
    if (n > 256) n = 256;
    memcpy(batch, eng->resume, (size_t)n * sizeof *batch);
    memmove(eng->resume, eng->resume + n, (size_t)(eng->n_resume - n) * sizeof *batch);
    eng->n_resume -= n;
    int more = eng->n_resume > 0;
    pthread_mutex_unlock(&eng->mu);
    for (int i = 0; i < n; i++) MHD_resume_connection(batch[i]);
    if (more) {
        pthread_mutex_lock(&eng->mu);
        unlock_and_resume(eng);
    }
}

/* Has the client shut its writing side (or closed altogether)? */
static int peer_eof(struct serve_job *job) {
    char c;
    if (!job->peer_eof && job->fd >= 0 && recv(job->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0)
        job->peer_eof = 1;
    return job->peer_eof;
}

/* A whole answer for a client that half-closed its socket is written here,
 * not by MHD: libmicrohttpd 0.9.75 resumes a connection suspended after its
 * request by reading it first, and closes it on the end-of-input it finds
 * there. The answer is small (one completion); a client that does not read
 * it within a moment is given up on rather than stall the engine. */
static void answer_directly(struct serve_job *job) {
    size_t len = 0, sent = 0;
    int status = 0;
    char *resp = serve_api_http_response(job, &len, &status);
    double t0 = lm_seconds();
    while (resp && sent < len && lm_seconds() - t0 < 0.2) {
        ssize_t n = send(job->fd, resp + sent, len - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0)
            sent += (size_t)n;
        else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            break;
        else
            poll(&(struct pollfd){.fd = job->fd, .events = POLLOUT}, 1, 10);
    }
    free(resp);
    job->direct = sent == len ? status : SERVE_CLIENT_GONE;
    job->direct_bytes = sent;
}

/* The job ends: its last output is written and its connection woken. A
 * stream that has started ends with an error event when the job failed. */
static void finish(serve_engine *eng, struct serve_job *job) {
    job->state = JOB_DONE;
    if (!job->gone) {
        int rc = 0;
        if (job->open_stream)
            rc = job->err.status ? serve_api_stream_error(job) : serve_api_final(job);
        else if (!job->err.status)
            rc = serve_api_final(job);
        if (rc) serve_error_set(&job->err, 500, "server_error", NULL, NULL, "out of memory");
        if (!job->stream && job->err.status != SERVE_CLIENT_GONE && peer_eof(job))
            answer_directly(job);
        wake(eng, job);
    }
    job_unref(job);
}

/* Send the text that can no longer change, cut before an incomplete UTF-8
 * character so each chunk is valid JSON text on its own. */
static void stream_text(struct serve_job *job, int i) {
    size_t n = 0;
    lm_request_run *run = job->runs[i];
    const char *text = lm_request_text(run, &n);
    size_t from = job->req.echo ? 0 : lm_request_completion_offset(run);
    size_t stable = lm_request_stable_len(run);
    if (stable <= from) return;
    size_t len = stable - from;
    const unsigned char *t = (const unsigned char *)text + from;
    for (size_t back = 1; back <= 3 && back <= len; back++) {
        unsigned char c = t[len - back];
        if ((c & 0xC0) == 0x80) continue; /* a continuation byte: look further back */
        size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
        if (need > back) len -= back; /* the character is not complete yet */
        break;
    }
    if (len <= job->sent[i]) return;
    if (serve_api_delta_at(job, i, (const char *)t + job->sent[i], len - job->sent[i]) == 0)
        job->sent[i] = len;
}

static void remove_running(serve_engine *eng, int i) {
    eng->running[i] = eng->running[--eng->n_running];
}

/* Is the client still there? A client that half-closes its socket (shuts
 * its writing side, as `nc -N` and some proxies do) still reads its answer,
 * so end-of-input alone cancels nothing: only a reset or a failed write
 * does. While no byte of the answer is out, a client at end-of-input is
 * sent an interim "100 Continue" (HTTP/1.1 clients take any number of 1xx
 * responses before the real one): one that closed its socket altogether
 * answers it with a reset, seen at a later sweep. A stream (its 200 is out
 * at once) is sent a comment line instead, to the same end.
 * Returns NULL, or what happened. (Only for a connection MHD has not let go
 * of, so the descriptor is still this client's.) */
static const char *client_gone(serve_engine *eng, struct serve_job *job) {
    if (job->gone) return "the client left";
    if (job->fd < 0) return NULL;
    if (job->peer_eof) {
        int err = 0;
        socklen_t n = sizeof err;
        if (getsockopt(job->fd, SOL_SOCKET, SO_ERROR, &err, &n) == 0 && err)
            return "the client reset the connection";
        return NULL;
    }
    char c;
    ssize_t r = recv(job->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (r > 0 || (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)))
        return NULL;
    if (r < 0) return "the client reset the connection";
    job->peer_eof = 1;
    if (job->open_stream) { /* MHD sends it: an event-stream comment, which readers skip */
        if (serve_api_comment(job) == 0) wake(eng, job);
        return NULL;
    }
    if (!job->http11) return NULL;
    static const char probe[] = "HTTP/1.1 100 Continue\r\n\r\n";
    if (send(job->fd, probe, sizeof probe - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 &&
        errno != EAGAIN && errno != EWOULDBLOCK)
        return "the client closed the connection";
    return NULL;
}

/* End a job early: the client is gone (why), or the server stops (NULL). */
static void cancel(serve_engine *eng, struct serve_job *job, const char *why) {
    job->cancelled = 1;
    for (int i = 0; i < job->req.n; i++)
        if (job->runs[i]) lm_request_cancel(job->runs[i], eng->batch);
    if (!job->gone) {
        if (why)
            serve_error_set(&job->err, SERVE_CLIENT_GONE, "client_error", NULL, "client_gone", "%s",
                            why);
        else
            serve_error_set(&job->err, 503, "server_error", NULL, "cancelled",
                            "the server stopped before this request finished");
    }
    finish(eng, job);
}

static void sweep(serve_engine *eng) {
    const char *why;
    for (int i = eng->n_running - 1; i >= 0; i--)
        if ((why = client_gone(eng, eng->running[i]))) {
            struct serve_job *job = eng->running[i];
            remove_running(eng, i);
            cancel(eng, job, why);
        }
    for (struct serve_job **p = &eng->head; *p;) {
        struct serve_job *job = *p;
        if (!(why = client_gone(eng, job))) {
            p = &job->next;
            continue;
        }
        *p = job->next;
        if (eng->tail == job) eng->tail = NULL;
        eng->n_queued--;
        cancel(eng, job, why);
    }
    if (!eng->head)
        eng->tail = NULL;
    else
        for (eng->tail = eng->head; eng->tail->next;) eng->tail = eng->tail->next;
}

/* Slots promised to choices that start once their choice 0's prompt is fed. */
static int reserved(const serve_engine *eng) {
    int n = 0;
    for (int i = 0; i < eng->n_running; i++)
        if (!eng->running[i]->followers) n += eng->running[i]->req.n - 1;
    return n;
}

static void admit(serve_engine *eng) {
    while (eng->head && eng->n_running < eng->parallel &&
           lm_batch_free_slots(eng->batch) - reserved(eng) >= eng->head->req.n) {
        struct serve_job *job = eng->head;
        eng->head = job->next;
        if (!eng->head) eng->tail = NULL;
        eng->n_queued--;
        lm_error err;
        /* one key (--api-key) at most: every request is one partition */
        lm_request_set_cache(job->run, eng->cache, eng->m->cfg->api_key);
        if (job->req.n > 1) lm_request_keep(job->run); /* its prompt's KV for the others */
        if (lm_request_submit(job->run, eng->batch, &err)) {
            /* short of memory (the cache already dropped): the server is
             * busy, not broken */
            int oom = strstr(err.msg, "out of memory") != NULL;
            serve_error_set(&job->err, oom ? 503 : 500, "server_error", NULL,
                            oom ? "out_of_memory" : NULL, "%s", err.msg);
            finish(eng, job);
            continue;
        }
        serve_metrics_prompt(lm_request_prompt_tokens(job->run) -
                                 lm_request_cached_tokens(job->run),
                             lm_prompt_cache_get_stats(eng->cache));
        job->seq = lm_request_seq(job->run);
        job->state = JOB_RUNNING;
        eng->running[eng->n_running++] = job;
        if (job->stream) wake(eng, job); /* its reader may wait */
    }
}

/* The running job with a choice on batch sequence seq: *index is the job's
 * place in running, *choice the choice's. */
static struct serve_job *running_seq(serve_engine *eng, int seq, int *index, int *choice) {
    for (int i = 0; i < eng->n_running; i++)
        for (int c = 0; c < eng->running[i]->req.n; c++)
            if (eng->running[i]->runs[c] && lm_request_seq(eng->running[i]->runs[c]) == seq)
                return *index = i, *choice = c, eng->running[i];
    return NULL;
}

/* Choice 0's prompt is fed (ev is its first event): keep its KV less the
 * last position (handed over in the event if choice 0 ended at once), for
 * the other choices to start from once every event of the step is out.
 * They may not start sooner: a slot freed this step may still have an event
 * to come, and a follower placed there would be taken for its owner. */
static void take_first(serve_engine *eng, struct serve_job *job, lm_batch_event *ev) {
    job->followers = 1;
    job->first_pending = 1;
    int use = lm_request_prompt_tokens(job->run) - 1;
    if (use < 1) return;
    if (ev->prefix) {
        job->first = ev->prefix;
        ev->prefix = NULL;
    } else {
        job->first = lm_batch_snapshot(eng->batch, ev->seq, use, NULL);
    }
}

/* The other choices start from choice 0's prompt (take_first), each feeding
 * the last token, so the prompt is computed once. */
static void start_followers(serve_engine *eng, struct serve_job *job) {
    job->first_pending = 0;
    int use = lm_request_prompt_tokens(job->run) - 1;
    for (int c = 1; c < job->req.n; c++) {
        lm_error err;
        lm_request_set_cache(job->runs[c], eng->cache, eng->m->cfg->api_key);
        if (lm_request_submit_prefix(job->runs[c], eng->batch, job->first, job->first ? use : 0,
                                     &err)) {
            serve_error_set(&job->err, 500, "server_error", NULL, NULL, "%s", err.msg);
            continue;
        }
        serve_metrics_prompt(lm_request_prompt_tokens(job->runs[c]) -
                                 lm_request_cached_tokens(job->runs[c]),
                             lm_prompt_cache_get_stats(eng->cache));
    }
    lm_prefix_free(job->first);
    job->first = NULL;
}

static int all_finished(const struct serve_job *job) {
    for (int c = 0; c < job->req.n; c++)
        if (!lm_request_finish_reason(job->runs[c])) return 0;
    return 1;
}

/* Running job i after an event of its choice c: finished, or its new text out. */
static void after_event(serve_engine *eng, int i, int c) {
    struct serve_job *job = eng->running[i];
    if (job->err.status) /* a choice could not start */
        for (int o = 0; o < job->req.n; o++) lm_request_cancel(job->runs[o], eng->batch);
    if (all_finished(job)) {
        remove_running(eng, i);
        serve_metrics_tokens(lm_request_prompt_tokens(job->run), 0);
        serve_metrics_prompt(0, lm_prompt_cache_get_stats(eng->cache));
        finish(eng, job);
    } else if (c >= 0 && job->stream && !job->gone) {
        stream_text(job, c);
        if (job->out_pos < job->out_len) wake(eng, job);
    }
}

static void deliver(serve_engine *eng, lm_batch_event *ev, int n) {
    int generated = 0;
    for (int k = 0; k < n; k++) {
        int i, c;
        struct serve_job *job = running_seq(eng, ev[k].seq, &i, &c);
        if (!job) {
            lm_prefix_free(ev[k].prefix);
            continue;
        }
        generated++;
        if (c == 0 && job->req.n > 1 && !job->followers) take_first(eng, job, &ev[k]);
        lm_request_feed(job->runs[c], eng->batch, &ev[k]);
        after_event(eng, i, c);
    }
    /* every event is out: the followers of prompts fed this step start */
    for (int i = eng->n_running - 1; i >= 0; i--)
        if (eng->running[i]->first_pending) {
            start_followers(eng, eng->running[i]);
            after_event(eng, i, -1);
        }
    serve_metrics_tokens(0, generated);
}

static void fail_all(serve_engine *eng, const char *msg) {
    while (eng->n_running > 0) {
        struct serve_job *job = eng->running[eng->n_running - 1];
        eng->n_running--;
        for (int c = 0; c < job->req.n; c++) lm_request_fail(job->runs[c], msg);
        serve_error_set(&job->err, 500, "server_error", NULL, NULL, "%s", msg);
        finish(eng, job);
    }
}

static void *engine_main(void *arg) {
    serve_engine *eng = arg;
    pthread_mutex_lock(&eng->mu);
    for (;;) {
        if (lm_seconds() - eng->last_sweep >= SWEEP_SECONDS) {
            sweep(eng);
            eng->last_sweep = lm_seconds();
        }
        if (eng->quit) {
            for (struct serve_job *job; (job = eng->head);) {
                eng->head = job->next;
                eng->n_queued--;
                cancel(eng, job, NULL);
            }
            eng->tail = NULL;
            while (eng->n_running > 0) {
                struct serve_job *job = eng->running[--eng->n_running];
                cancel(eng, job, NULL);
            }
            break;
        }
        admit(eng);
        serve_metrics_load(eng->n_queued, eng->n_running);
        if (eng->n_running == 0) {
            unlock_and_resume(eng);
            pthread_mutex_lock(&eng->mu);
            if (eng->n_running == 0 && !eng->head && !eng->quit) {
                struct timespec t;
                clock_gettime(CLOCK_REALTIME, &t);
                t.tv_nsec += 100 * 1000 * 1000;
                if (t.tv_nsec >= 1000000000) t.tv_sec++, t.tv_nsec -= 1000000000;
                pthread_cond_timedwait(&eng->wake, &eng->mu, &t);
            }
            continue;
        }
        unlock_and_resume(eng);
        lm_error err;
        int n = lm_batch_step(eng->batch, eng->events, &err);
        if (eng->step_delay_ns) nanosleep(&(struct timespec){0, eng->step_delay_ns}, NULL);
        pthread_mutex_lock(&eng->mu);
        if (n < 0)
            fail_all(eng, err.msg);
        else
            deliver(eng, eng->events, n);
    }
    serve_metrics_load(0, 0);
    unlock_and_resume(eng);
    return NULL;
}

/* The prompt cache: --prompt-cache-mb, or a share of the memory available
 * beside the batch's KV caches at their fullest (printed). */
static int open_cache(serve_engine *eng, const lm_model *model, const serve_config *cfg,
                      lm_error *err) {
    lm_config c = lm_model_get_info(model).config;
    uint64_t bytes = cfg->prompt_cache_mb >= 0
                         ? (uint64_t)cfg->prompt_cache_mb << 20
                         : lm_prompt_cache_default_bytes(lm_kv_bytes(&c, cfg->ctx, cfg->kv_type) *
                                                         (uint64_t)cfg->parallel);
    if (bytes == 0) return 0;
    eng->cache = lm_prompt_cache_new(bytes);
    if (!eng->cache) return snprintf(err->msg, sizeof err->msg, "out of memory"), -1;
    return 0;
}

serve_engine *serve_engine_start(const lm_model *model, const serve_model *m, lm_error *err) {
    const serve_config *cfg = m->cfg;
    serve_engine *eng = calloc(1, sizeof *eng);
    if (!eng) return snprintf(err->msg, sizeof err->msg, "out of memory"), NULL;
    eng->m = m;
    eng->parallel = cfg->parallel;
    eng->queue_max = cfg->queue;
    /* The tests slow the engine down so that a disconnect or a signal
     * surely lands while a request is still generating. */
    const char *delay = getenv("LAMINA_SERVE_TEST_STEP_MS");
    if (delay && atoi(delay) > 0 && atoi(delay) < 1000) eng->step_delay_ns = atoi(delay) * 1000000L;
    pthread_mutex_init(&eng->mu, NULL);
    pthread_cond_init(&eng->wake, NULL);
    eng->running = calloc((size_t)cfg->parallel, sizeof *eng->running);
    eng->events = calloc((size_t)cfg->parallel, sizeof *eng->events);
    if (!eng->running || !eng->events) {
        snprintf(err->msg, sizeof err->msg, "out of memory");
        serve_engine_free(eng);
        return NULL;
    }
    eng->batch = lm_batch_new(
        model, (lm_batch_params){cfg->parallel, cfg->ctx, cfg->threads, cfg->isa, cfg->kv_type},
        err);
    if (!eng->batch || open_cache(eng, model, cfg, err)) {
        serve_engine_free(eng);
        return NULL;
    }
    if (pthread_create(&eng->thread, NULL, engine_main, eng)) {
        snprintf(err->msg, sizeof err->msg, "cannot start the engine thread");
        serve_engine_free(eng);
        return NULL;
    }
    eng->started = 1;
    return eng;
}

int serve_engine_submit(serve_engine *eng, struct serve_job *job, struct MHD_Connection *conn,
                        int fd, serve_error *e) {
    pthread_mutex_lock(&eng->mu);
    if (eng->draining) {
        pthread_mutex_unlock(&eng->mu);
        serve_error_set(e, 503, "server_error", NULL, "shutting_down", "the server is stopping");
        return -1;
    }
    int free_slots = eng->parallel - eng->n_running;
    if (eng->n_queued >= eng->queue_max + (free_slots > 0 ? free_slots : 0)) {
        pthread_mutex_unlock(&eng->mu);
        serve_error_set(e, 503, "server_error", NULL, "overloaded",
                        "the server is busy: %d requests running and %d waiting; retry later",
                        eng->parallel, eng->queue_max);
        return -1;
    }
    job->conn = conn;
    job->fd = fd;
    job->refs = 2; /* the HTTP side and the engine */
    job->state = JOB_QUEUED;
    job->next = NULL;
    if (eng->tail)
        eng->tail->next = job;
    else
        eng->head = job;
    eng->tail = job;
    eng->n_queued++;
    if (job->stream) {
        /* Its 200 and event stream are queued at once by the caller, and
         * the stream's reader waits for events (serve_job_read). */
        job->open_stream = 1;
    } else {
        job->suspended = 1;
        MHD_suspend_connection(conn);
    }
    pthread_cond_signal(&eng->wake);
    pthread_mutex_unlock(&eng->mu);
    return 0;
}

serve_reply serve_job_reply(serve_engine *eng, struct serve_job *job, serve_error *e, char **body,
                            size_t *len) {
    serve_reply r;
    pthread_mutex_lock(&eng->mu);
    if (job->err.status && !job->open_stream) {
        *e = job->err;
        r = SERVE_REPLY_ERROR;
    } else if (job->stream) {
        r = SERVE_REPLY_STREAM;
    } else {
        *body = job->out;
        *len = job->out_len;
        job->out = NULL;
        job->out_len = job->out_cap = 0;
        r = *body ? SERVE_REPLY_BODY : SERVE_REPLY_ERROR;
        if (!*body) serve_error_set(e, 500, "server_error", NULL, NULL, "no response was made");
    }
    pthread_mutex_unlock(&eng->mu);
    return r;
}

long serve_job_read(serve_engine *eng, struct serve_job *job, char *buf, size_t max) {
    long n;
    pthread_mutex_lock(&eng->mu);
    if (job->out_pos < job->out_len) {
        size_t k = job->out_len - job->out_pos;
        if (k > max) k = max;
        memcpy(buf, job->out + job->out_pos, k);
        job->out_pos += k;
        n = (long)k;
    } else if (job->state == JOB_DONE) {
        n = MHD_CONTENT_READER_END_OF_STREAM;
    } else {
        job->suspended = 1;
        MHD_suspend_connection(job->conn);
        n = 0;
    }
    pthread_mutex_unlock(&eng->mu);
    return n;
}

int serve_job_outcome(serve_engine *eng, struct serve_job *job, size_t *bytes, char *note,
                      size_t cap) {
    pthread_mutex_lock(&eng->mu);
    int status = job->direct;
    *bytes = job->direct_bytes;
    if (status)
        snprintf(note, cap, "%s",
                 status == SERVE_CLIENT_GONE ? " (half-closed client did not read its answer)"
                                             : " (half-closed client)");
    else if (job->err.status == SERVE_CLIENT_GONE && !job->open_stream)
        status = SERVE_CLIENT_GONE, snprintf(note, cap, " (%.100s)", job->err.message);
    pthread_mutex_unlock(&eng->mu);
    return status;
}

void serve_job_release(serve_engine *eng, struct serve_job *job) {
    pthread_mutex_lock(&eng->mu);
    job->gone = 1;
    job->fd = -1;
    job_unref(job);
    pthread_cond_signal(&eng->wake);
    pthread_mutex_unlock(&eng->mu);
}

void serve_engine_drain(serve_engine *eng, double grace_s) {
    double t0 = lm_seconds();
    pthread_mutex_lock(&eng->mu);
    eng->draining = 1;
    while ((eng->n_running > 0 || eng->head) && lm_seconds() - t0 < grace_s) {
        pthread_mutex_unlock(&eng->mu);
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
        pthread_mutex_lock(&eng->mu);
    }
    eng->quit = 1;
    pthread_cond_signal(&eng->wake);
    pthread_mutex_unlock(&eng->mu);
    pthread_join(eng->thread, NULL);
    eng->started = 0;
}

uint64_t serve_engine_cache_bytes(const serve_engine *eng) {
    return lm_prompt_cache_get_stats(eng->cache).cap_bytes;
}

void serve_engine_free(serve_engine *eng) {
    if (!eng) return;
    if (eng->started) serve_engine_drain(eng, 0);
    lm_batch_free(eng->batch);
    lm_prompt_cache_free(eng->cache);
    free(eng->running);
    free(eng->events);
    free(eng->resume);
    pthread_mutex_destroy(&eng->mu);
    pthread_cond_destroy(&eng->wake);
    free(eng);
}
