/* One generation request of `lamina serve`, shared by the HTTP side and the
 * engine thread. Fields under "shared" are read and written only with the
 * engine's mutex held; the rest is set before the job is submitted. */
#ifndef LAMINA_SERVE_JOB_H
#define LAMINA_SERVE_JOB_H

#include <stddef.h>

#include "request.h"
#include "serve.h"

typedef enum job_state { JOB_QUEUED, JOB_RUNNING, JOB_DONE } job_state;

struct serve_job {
    serve_kind kind;
    int stream;        /* server-sent events */
    int include_usage; /* stream_options.include_usage: a last chunk with usage */
    char id[48];       /* "cmpl-..." or "chatcmpl-..." */
    long long created; /* Unix seconds */
    const char *model; /* the model id (serve_model's) */
    lm_request req;
    lm_request_run *run; /* prepared: tokenized, context sized */
    int http11;          /* the client speaks HTTP/1.1: it takes an interim 100 response */
    char origin[256];    /* a --cors-origin page's origin, for an answer written directly */

    /* shared */
    job_state state;
    int seq;                     /* the batch sequence while running */
    struct MHD_Connection *conn; /* set by serve_engine_submit */
    int fd;                      /* the connection's socket, to notice a client leaving */
    int suspended;               /* the connection waits for this job */
    int gone;                    /* the HTTP side let go: the client left or was answered */
    int refs;                    /* the HTTP side and the engine */
    int cancelled;               /* ended because the client left or the server stopped */
    int peer_eof;                /* the client shut its writing side (it may still read) */
    int direct;                  /* the answer's status, written by the engine itself */
    size_t direct_bytes;
    int open_stream; /* a stream admitted to the batch: its 200 may be out */
    serve_error err; /* err.status != 0: the job failed */
    char *out;       /* bytes to send: events, or the whole JSON body */
    size_t out_len, out_cap, out_pos;
    struct serve_job *next; /* the engine's queue */
    /* n choices (request.h): runs[0] is run; the others start from choice
     * 0's prompt once it is fed (followers: 1 when they have) */
    lm_request_run *runs[LM_REQUEST_MAX_N];
    size_t sent[LM_REQUEST_MAX_N]; /* streams: bytes of each choice's text sent */
    int roles[LM_REQUEST_MAX_N];   /* chat streams: the choice's role is out */
    int lp_sent[LM_REQUEST_MAX_N]; /* logprobs entries already sent (serve_logprobs.c) */
    int followers;                 /* choice 0's prompt was fed: the others are (being) started */
    int first_pending;             /* ... at the end of this step, from first */
    lm_prefix *first;              /* choice 0's KV less the last position, until they start */
};

/* serve_api.c: the OpenAI objects for a job. Each appends to job->out and
 * returns 0, or -1 without memory. */
int serve_api_delta(struct serve_job *job, const char *text, size_t len); /* a stream chunk */
/* The same for choice i of an n-choice job. */
int serve_api_delta_at(struct serve_job *job, int i, const char *text, size_t len);
int serve_api_final(struct serve_job *job); /* the end: last chunk(s) and [DONE], or the body */
int serve_api_stream_error(struct serve_job *job); /* an error event and [DONE] */
int serve_api_comment(struct serve_job *job);      /* ": \n\n", which stream readers skip */
/* serve_logprobs.c: choice i's "logprobs" (null without them), with the
 * entries not sent yet whose text begins before byte upto of its run's text. */
cJSON *serve_logprobs_json(struct serve_job *job, int i, size_t upto);
/* The whole HTTP response for a job's answer (job->out, or its error), as
 * MHD would send it (malloc'd, *len bytes), for the engine to write itself;
 * *status is its status. NULL without memory. */
char *serve_api_http_response(const struct serve_job *job, size_t *len, int *status);

#endif
