/* `lamina serve`: an OpenAI-compatible HTTP server on the batch engine.
 *
 * Threads: libmicrohttpd's polling thread runs the HTTP side (serve_http.c),
 * one engine thread owns the lm_batch and steps it (serve_engine.c), and the
 * main thread waits for SIGINT/SIGTERM (serve_main.c). A request's job is
 * shared between the two under one mutex (serve_engine.c's); the connection
 * is suspended while its job has nothing to send, and the engine resumes it.
 * The JSON shapes of OpenAI's API live in serve_api.c (no sockets: the fuzz
 * target drives it), the counters of /metrics in serve_metrics.c. */
#ifndef LAMINA_SERVE_H
#define LAMINA_SERVE_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "lamina.h"

/* ---- configuration (serve_main.c) ---------------------------------------- */

typedef struct serve_config {
    const char *model_path, *tokenizer_path;
    const char *host;
    const char *api_key;     /* NULL: no authentication */
    const char *isa;         /* the kernel set actually used */
    int port;                /* 0: any free port (the bound one is logged) */
    int parallel;            /* sequences running at once */
    int queue;               /* requests waiting beyond those */
    int ctx;                 /* the longest context a request may use */
    int threads;             /* 0: automatic */
    float temperature, topp; /* defaults for requests that do not say */
    int steps;               /* the CLI's -n: default positions of a request */
    uint64_t seed;           /* default seed; 0: a fresh one per request */
    size_t max_body;         /* bytes; larger bodies get 413 */
    int timeout_s;           /* idle connections are closed after this */
    int grace_s;             /* SIGTERM: running requests get this long to finish */
    /* --chat-template (NULL: the model's), the chat endpoint's template, and
     * why there is none (chat requests then get it as a 400) */
    const char *chat_template_name;
    lm_chat_template chat_template;
    char chat_error[512];
} serve_config;

/* What /v1/models and the request parser need to know about the model. */
typedef struct serve_model {
    const char *id; /* the checkpoint's file name without .bin */
    const char *format;
    lm_model_info info;
    const lm_tokenizer *tok;
    const serve_config *cfg;
    const char *kernels;
    int threads;
    long long created; /* when the server started (Unix seconds) */
} serve_model;

/* ---- OpenAI shapes (serve_api.c) ----------------------------------------- */

typedef enum serve_kind { SERVE_COMPLETION, SERVE_CHAT } serve_kind;

/* An error as OpenAI sends it: HTTP status and {error:{message,type,param,code}}. */
typedef struct serve_error {
    int status;
    const char *type;  /* "invalid_request_error", "authentication_error", ... */
    const char *param; /* the offending field, or NULL */
    const char *code;  /* NULL, "invalid_api_key", "model_not_found", ... */
    char message[512];
} serve_error;

void serve_error_set(serve_error *e, int status, const char *type, const char *param,
                     const char *code, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
char *serve_error_json(const serve_error *e); /* malloc'd */

struct serve_job;

/* Parse and check a request body; on success *job is a new job (not yet
 * queued). On failure returns -1 with e set (400 and OpenAI's error object). */
int serve_parse(const serve_model *m, serve_kind kind, const char *body, size_t len,
                struct serve_job **job, serve_error *e);

char *serve_models_json(const serve_model *m); /* GET /v1/models, malloc'd */

/* ---- jobs and the engine thread (serve_engine.c) ------------------------- */

typedef struct serve_engine serve_engine;
struct MHD_Connection;

serve_engine *serve_engine_start(const lm_model *model, const serve_model *m, lm_error *err);
/* Stop taking jobs (submit answers 503); give running and queued ones up to
 * grace_s seconds, then cancel the rest; join the thread and free. */
void serve_engine_drain(serve_engine *eng, double grace_s);
void serve_engine_free(serve_engine *eng);

/* Queue a parsed job for the connection conn (socket fd) and suspend the
 * connection until the engine has something for it. 0, or -1 with e set
 * (503: the queue is full or the server is stopping); then the caller still
 * owns the job. */
int serve_engine_submit(serve_engine *eng, struct serve_job *job, struct MHD_Connection *conn,
                        int fd, serve_error *e);

typedef enum serve_reply { SERVE_REPLY_ERROR, SERVE_REPLY_STREAM, SERVE_REPLY_BODY } serve_reply;
/* What a resumed connection answers: an error (e), a stream of events
 * (serve_job_read), or a JSON body (*body, malloc'd, *len bytes). */
serve_reply serve_job_reply(serve_engine *eng, struct serve_job *job, serve_error *e, char **body,
                            size_t *len);
/* A stream's next bytes (MHD's content reader): > 0 bytes, or MHD's end of
 * stream / error; 0 after suspending the connection until there are more. */
long serve_job_read(serve_engine *eng, struct serve_job *job, char *buf, size_t max);
/* The HTTP side is done with the job (answered, or the client left). */
void serve_job_release(serve_engine *eng, struct serve_job *job);
/* A job that was never submitted. */
void serve_job_free(struct serve_job *job);

/* ---- HTTP (serve_http.c) -------------------------------------------------- */

struct serve_http;
struct serve_http *serve_http_start(serve_engine *eng, const serve_model *m, lm_error *err);
int serve_http_port(const struct serve_http *h);
void serve_http_quiesce(struct serve_http *h); /* stop accepting; new requests get 503 */
void serve_http_stop(struct serve_http *h, double wait_s);

#endif
