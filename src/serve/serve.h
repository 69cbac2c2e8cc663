/* `lamina serve`: an OpenAI-compatible HTTP server on the batch engine.
 *
 * Threads: libmicrohttpd's polling thread runs the HTTP side (serve_http.c),
 * one engine thread owns the lm_batch and steps it (serve_engine.c), and the
 * main thread waits for SIGINT/SIGTERM (serve_main.c). A request's job is
 * shared between the two under one mutex (serve_engine.c's); the connection
 * is suspended while its job has nothing to send, and the engine resumes it.
 * The JSON shapes of OpenAI's API live in serve_api.c (no sockets: the fuzz
 * target drives it), who may call (Host, Origin, Content-Type, the key) in
 * serve_guard.c, the counters of /metrics in serve_metrics.c. */
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
    const char *api_key;      /* NULL: no authentication */
    const char *api_key_file; /* --api-key-file: where api_key is read from */
    const char *alias;        /* --alias: the model's name in the API; NULL: its file name */
    const char **allow_hosts; /* --allow-host NAMEs admitted beside loopback's */
    int n_allow_hosts;
    const char **cors_origins; /* --cors-origin ORIGINs whose pages may call the API */
    int n_cors_origins;
    const char *isa;           /* the kernel set actually used */
    const char *weights_cache; /* --weights-cache DIR; NULL: the default (src/wcache) */
    int no_weights_cache;      /* --no-weights-cache */
    int port;                  /* 0: any free port (the bound one is logged) */
    int parallel;              /* sequences running at once */
    int queue;                 /* requests waiting beyond those */
    int ctx;                   /* the longest context a request may use */
    lm_kv_type kv_type;        /* --kv-type: every sequence's KV cache */
    int threads;               /* 0: automatic */
    float temperature, topp;   /* defaults for requests that do not say */
    int steps;                 /* the CLI's -n: default positions of a request */
    uint64_t seed;             /* default seed; 0: a fresh one per request */
    size_t max_body;           /* bytes; larger bodies get 413 */
    int timeout_s;             /* idle connections are closed after this */
    int grace_s;               /* SIGTERM: running requests get this long to finish */
    /* --chat-template (NULL: the model's), the chat endpoint's template, and
     * why there is none (chat requests then get it as a 400) */
    const char *chat_template_name;
    lm_chat_template chat_template;
    char chat_error[512];
    long prompt_cache_mb; /* --prompt-cache-mb; -1: a quarter of the memory available */
} serve_config;

/* What /v1/models and the request parser need to know about the model. */
typedef struct serve_model {
    const char *id;      /* --alias, else the checkpoint's file name without .bin */
    const char *file_id; /* the checkpoint's file name without .bin (also accepted) */
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

/* The status of a job whose client is gone (nginx's "client closed the
 * request"): never sent, only logged. */
#define SERVE_CLIENT_GONE 499

void serve_error_set(serve_error *e, int status, const char *type, const char *param,
                     const char *code, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
char *serve_error_json(const serve_error *e); /* malloc'd */

struct serve_job;

/* Parse and check a request body; on success *job is a new job (not yet
 * queued). On failure returns -1 with e set (400 and OpenAI's error object). */
int serve_parse(const serve_model *m, serve_kind kind, const char *body, size_t len,
                struct serve_job **job, serve_error *e);

char *serve_models_json(const serve_model *m); /* GET /v1/models, malloc'd */

/* POST /tokenize (detok 0) and /detokenize (1), serve_tokens.c: the answer's
 * JSON (malloc'd), or NULL with e set (400, or 500 without memory). */
char *serve_tokens_json(const serve_model *m, int detok, const char *body, size_t len,
                        serve_error *e);

/* ---- jobs and the engine thread (serve_engine.c) ------------------------- */

typedef struct serve_engine serve_engine;
struct MHD_Connection;

serve_engine *serve_engine_start(const lm_model *model, const serve_model *m, lm_error *err);
/* Stop taking jobs (submit answers 503); give running and queued ones up to
 * grace_s seconds, then cancel the rest; join the thread and free. */
void serve_engine_drain(serve_engine *eng, double grace_s);
void serve_engine_free(serve_engine *eng);
/* The prompt cache's cap in bytes (0: off), for the start-up line. */
uint64_t serve_engine_cache_bytes(const serve_engine *eng);

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
/* A whole answer that MHD does not send: written by the engine itself (a
 * client that half-closed its socket; *bytes of it), or never (the client
 * is gone). Its status for the log and a note on what happened, or 0. */
int serve_job_outcome(serve_engine *eng, struct serve_job *job, size_t *bytes, char *note,
                      size_t cap);
/* The HTTP side is done with the job (answered, or the client left). */
void serve_job_release(serve_engine *eng, struct serve_job *job);
/* A job that was never submitted. */
void serve_job_free(struct serve_job *job);

/* ---- who may call (serve_guard.c) ------------------------------------------ */

struct sockaddr;
int serve_address_is_loopback(const struct sockaddr *sa);
/* May a request naming this Host (NULL: none) be answered? */
int serve_host_allowed(const serve_config *cfg, int loopback_bound, const char *host);
typedef enum serve_origin {
    SERVE_ORIGIN_NONE,    /* no Origin header: not a cross-origin browser request */
    SERVE_ORIGIN_SAME,    /* the page came from this server */
    SERVE_ORIGIN_ALLOWED, /* listed with --cors-origin */
    SERVE_ORIGIN_REFUSED,
} serve_origin;
serve_origin serve_origin_check(const serve_config *cfg, const char *origin, const char *host);
/* application/json, with at most a UTF-8 charset parameter. */
int serve_json_content_type(const char *value);
int serve_key_matches(const char *authorization, const char *key);
/* The path of a request target; an absolute-form target's authority goes
 * to authority (else it is set empty). */
const char *serve_target_path(const char *url, char *authority, size_t cap);

/* ---- HTTP (serve_http.c) -------------------------------------------------- */

struct serve_http;
struct serve_http *serve_http_start(serve_engine *eng, const serve_model *m, lm_error *err);
int serve_http_port(const struct serve_http *h);
/* Drain: the listener stays open; /health and new generation requests get 503. */
void serve_http_quiesce(struct serve_http *h);
void serve_http_stop(struct serve_http *h, double wait_s);

#endif
