/* The HTTP side of `lamina serve`, on libmicrohttpd's own polling thread:
 * routing, who may call (serve_guard.c's rules), the body limit, OpenAI's
 * error objects, server-sent events and the access log. Generation happens on the engine thread; a
 * request waiting for it has its connection suspended (no busy polling) and
 * the engine resumes it when there is something to send. */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "bytes.h"
#include "serve_job.h"
#include "serve_metrics.h"

#ifdef LAMINA_HAVE_PAGE
#include "page.h"
#endif

struct serve_http {
    struct MHD_Daemon *daemon;
    serve_engine *eng;
    const serve_model *m;
    const serve_config *cfg;
    int port;
    int loopback; /* bound to a loopback address: only loopback Host names */
    atomic_int draining;
    atomic_int open; /* requests whose completion has not been logged yet */
};

typedef enum route {
    R_NONE,
    R_ROOT,
    R_HEALTH,
    R_METRICS,
    R_MODELS,
    R_COMPLETIONS,
    R_CHAT,
    R_TOKENIZE,
    R_DETOKENIZE,
} route;

/* One HTTP request (MHD's per-request pointer). */
typedef struct conn_ctx {
    route route;
    int post, options, http11;
    char method[16];
    char path[96];
    char origin[256]; /* a --cors-origin page's origin, echoed in the CORS headers */
    char *body;
    size_t len, cap; /* cap: allocated for body */
    int too_big;
    int closing;           /* answered while draining: Connection: close, so a proxy reconnects */
    serve_error refused;   /* refused.status: the answer, once the body is read (and dropped) */
    int answered;          /* answered before the body (501) */
    struct serve_job *job; /* submitted to the engine */
    int status;
    size_t bytes;
    double start;   /* lm_seconds() */
    char note[128]; /* how it ended, for the log */
} conn_ctx;

static route route_of(const char *path) {
    static const struct {
        const char *path;
        route r;
    } table[] = {
        {"/", R_ROOT},
        {"/health", R_HEALTH},
        {"/metrics", R_METRICS},
        {"/v1/models", R_MODELS},
        {"/v1/completions", R_COMPLETIONS},
        {"/v1/chat/completions", R_CHAT},
        {"/tokenize", R_TOKENIZE},
        {"/detokenize", R_DETOKENIZE},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (strcmp(path, table[i].path) == 0) return table[i].r;
    return R_NONE;
}

static int wants_post(route r) {
    return r == R_COMPLETIONS || r == R_CHAT || r == R_TOKENIZE || r == R_DETOKENIZE;
}

static const char *methods_of(route r) {
    return wants_post(r) ? "POST, OPTIONS" : "GET, HEAD, OPTIONS";
}

static const char *header(struct MHD_Connection *conn, const char *name) {
    return MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);
}

/* What every response carries: the CORS answer for a listed origin (and
 * Vary, since the answer depends on the Origin), and per status the header
 * HTTP asks for. */
static void add_headers(struct MHD_Response *r, const conn_ctx *c, int status) {
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, MHD_HTTP_HEADER_VARY, "Origin");
    if (c->origin[0]) {
        MHD_add_response_header(r, MHD_HTTP_HEADER_ACCESS_CONTROL_ALLOW_ORIGIN, c->origin);
        MHD_add_response_header(r, MHD_HTTP_HEADER_ACCESS_CONTROL_EXPOSE_HEADERS, "Retry-After");
    }
    if (status == 401) MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    if (status == 503) MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    if (c->closing) MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    if (status == 405 || status == 204)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, methods_of(c->route));
}

/* Queue a response that owns a copy of body. */
static enum MHD_Result reply(struct MHD_Connection *conn, conn_ctx *c, int status, const char *type,
                             const char *body, size_t len) {
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    if (type) MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    add_headers(r, c, status);
    enum MHD_Result ok = MHD_queue_response(conn, (unsigned)status, r);
    MHD_destroy_response(r);
    c->status = status;
    c->bytes = len;
    return ok;
}

static enum MHD_Result reply_json(struct MHD_Connection *conn, conn_ctx *c, int status,
                                  char *json) {
    if (!json) return MHD_NO;
    enum MHD_Result ok = reply(conn, c, status, "application/json", json, strlen(json));
    free(json);
    return ok;
}

static enum MHD_Result reply_error(struct MHD_Connection *conn, conn_ctx *c, const serve_error *e) {
    return reply_json(conn, c, e->status, serve_error_json(e));
}

/* A copy fit for the one-line log and for headers: the URL arrives
 * percent-decoded, so a client could otherwise write a newline (a forged log
 * line) or escapes. */
static void copy_printable(char *dst, size_t cap, const char *src) {
    size_t n = 0;
    for (; src[n] && n + 1 < cap; n++) {
        unsigned char ch = (unsigned char)src[n];
        dst[n] = ch < 0x20 || ch >= 0x7f || ch == '"' ? '?' : (char)ch;
    }
    dst[n] = '\0';
}

/* OPTIONS: the methods of the route, and for a --cors-origin page's
 * preflight what it may send (the headers it asks for, where they are plain
 * header names: the origin is trusted, and the OpenAI clients send their
 * own X-Stainless-* headers). */
static enum MHD_Result reply_options(struct MHD_Connection *conn, conn_ctx *c) {
    struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!r) return MHD_NO;
    add_headers(r, c, 204);
    if (c->origin[0]) {
        const char *asked = header(conn, MHD_HTTP_HEADER_ACCESS_CONTROL_REQUEST_HEADERS);
        static const char name_chars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                         "0123456789-_, ";
        int plain = asked && *asked && strlen(asked) < 1024 && !asked[strspn(asked, name_chars)];
        MHD_add_response_header(r, MHD_HTTP_HEADER_ACCESS_CONTROL_ALLOW_METHODS,
                                methods_of(c->route));
        MHD_add_response_header(r, MHD_HTTP_HEADER_ACCESS_CONTROL_ALLOW_HEADERS,
                                plain ? asked : "Authorization, Content-Type");
        MHD_add_response_header(r, MHD_HTTP_HEADER_ACCESS_CONTROL_MAX_AGE, "600");
    }
    enum MHD_Result ok = MHD_queue_response(conn, 204, r);
    MHD_destroy_response(r);
    c->status = 204;
    return ok;
}

/* The engine finished (or failed) a job whose connection was suspended. */
static ssize_t read_events(void *cls, uint64_t pos, char *buf, size_t max);

/* Set when the handler closes a connection on purpose (its answer went out
 * another way), so that MHD's "internal error" line for it is not logged. */
static _Thread_local int quiet_close;

/* A whole answer MHD is not to send (serve_job_outcome), for the log. */
static int answered_directly(struct serve_http *h, conn_ctx *c) {
    size_t bytes = 0;
    int status = c->job ? serve_job_outcome(h->eng, c->job, &bytes, c->note, sizeof c->note) : 0;
    if (!status) return 0;
    c->status = status;
    c->bytes = bytes;
    return 1;
}

static enum MHD_Result reply_job(struct serve_http *h, struct MHD_Connection *conn, conn_ctx *c) {
    serve_error e;
    char *body = NULL;
    size_t len = 0;
    if (answered_directly(h, c)) { /* nothing (more) to send: close */
        quiet_close = 1;
        return MHD_NO;
    }
    switch (serve_job_reply(h->eng, c->job, &e, &body, &len)) {
    case SERVE_REPLY_ERROR: return reply_error(conn, c, &e);
    case SERVE_REPLY_BODY: {
        enum MHD_Result ok = reply(conn, c, 200, "application/json", body, len);
        free(body);
        return ok;
    }
    case SERVE_REPLY_STREAM: break;
    }
    struct MHD_Response *r =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, read_events, c, NULL);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    MHD_add_response_header(r, "X-Accel-Buffering", "no");
    add_headers(r, c, 200);
    enum MHD_Result ok = MHD_queue_response(conn, 200, r);
    MHD_destroy_response(r);
    c->status = 200;
    return ok;
}

static struct serve_http *the_http; /* read_events' engine (one server per process) */

static ssize_t read_events(void *cls, uint64_t pos, char *buf, size_t max) {
    conn_ctx *c = cls;
    ssize_t n = (ssize_t)serve_job_read(the_http->eng, c->job, buf, max);
    if (n > 0) c->bytes += (size_t)n;
    return n;
}

static enum MHD_Result generate(struct serve_http *h, struct MHD_Connection *conn, conn_ctx *c) {
    serve_error e;
    if (c->too_big) {
        serve_error_set(&e, 413, "invalid_request_error", NULL, "request_too_large",
                        "request body over the limit of %zu bytes", h->cfg->max_body);
        return reply_error(conn, c, &e);
    }
    struct serve_job *job = NULL;
    serve_kind kind = c->route == R_CHAT ? SERVE_CHAT : SERVE_COMPLETION;
    if (serve_parse(h->m, kind, c->body ? c->body : "", c->len, &job, &e))
        return reply_error(conn, c, &e);
    if (atomic_load(&h->draining)) {
        serve_job_free(job);
        c->closing = 1;
        serve_error_set(&e, 503, "server_error", NULL, "shutting_down",
                        "the server is stopping: it finishes its running requests and takes no "
                        "new ones (send this one to another server)");
        return reply_error(conn, c, &e);
    }
    const union MHD_ConnectionInfo *fd =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    job->http11 = c->http11;
    snprintf(job->origin, sizeof job->origin, "%s", c->origin);
    c->job = job;
    if (serve_engine_submit(h->eng, job, conn, fd ? fd->connect_fd : -1, &e)) {
        c->job = NULL;
        serve_job_free(job);
        return reply_error(conn, c, &e);
    }
    /* A stream's 200 goes out now and its reader waits for events; a whole
     * answer's connection is suspended until the engine resumes it, and MHD
     * calls us again. */
    return job->stream ? reply_job(h, conn, c) : MHD_YES;
}

/* POST /tokenize and /detokenize: answered here, without the engine. */
static enum MHD_Result tokens(struct serve_http *h, struct MHD_Connection *conn, conn_ctx *c) {
    serve_error e;
    if (c->too_big) {
        serve_error_set(&e, 413, "invalid_request_error", NULL, "request_too_large",
                        "request body over the limit of %zu bytes", h->cfg->max_body);
        return reply_error(conn, c, &e);
    }
    char *json =
        serve_tokens_json(h->m, c->route == R_DETOKENIZE, c->body ? c->body : "", c->len, &e);
    if (!json) return reply_error(conn, c, &e);
    return reply_json(conn, c, 200, json);
}

static enum MHD_Result get_page(struct MHD_Connection *conn, conn_ctx *c) {
#ifdef LAMINA_HAVE_PAGE
    return reply(conn, c, 200, "text/html; charset=utf-8", lm_page_html, lm_page_html_len);
#else
    static const char msg[] = "this lamina was built without the chat page\n";
    return reply(conn, c, 404, "text/plain; charset=utf-8", msg, sizeof msg - 1);
#endif
}

/* A request that passed screen(): its answer. */
static enum MHD_Result dispatch(struct serve_http *h, struct MHD_Connection *conn, conn_ctx *c) {
    switch (c->route) {
    case R_ROOT: return get_page(conn, c);
    case R_HEALTH:
        if (atomic_load(&h->draining)) { /* a balancer's check: route no more requests here */
            static const char body[] = "{\"status\":\"draining\"}";
            c->closing = 1;
            return reply(conn, c, 503, "application/json", body, sizeof body - 1);
        } else {
            static const char body[] = "{\"status\":\"ok\"}";
            return reply(conn, c, 200, "application/json", body, sizeof body - 1);
        }
    case R_METRICS: {
        char *text = serve_metrics_text();
        if (!text) return MHD_NO;
        enum MHD_Result ok =
            reply(conn, c, 200, "text/plain; version=0.0.4; charset=utf-8", text, strlen(text));
        free(text);
        return ok;
    }
    case R_MODELS: return reply_json(conn, c, 200, serve_models_json(h->m));
    case R_TOKENIZE:
    case R_DETOKENIZE: return tokens(h, conn, c);
    default: return generate(h, conn, c);
    }
}

#define REFUSE(c, status, code, ...)                                                               \
    serve_error_set(&(c)->refused, status, "invalid_request_error", NULL, code, __VA_ARGS__)

/* Who may call and how, from the headers alone (serve_guard.c says why);
 * a refusal is kept in c->refused and answered once the body is dropped. */
static void screen(struct serve_http *h, struct MHD_Connection *conn, conn_ctx *c,
                   const char *authority) {
    const serve_config *cfg = h->cfg;
    const char *host = authority[0] ? authority : header(conn, MHD_HTTP_HEADER_HOST);
    char shown[80];
    if (!serve_host_allowed(cfg, h->loopback, host)) {
        copy_printable(shown, sizeof shown, host ? host : "");
        REFUSE(c, 403, "host_not_allowed",
               "Host '%s' is not a name of this server (bound to loopback it answers localhost, "
               "127.0.0.1 and [::1]; add names with --allow-host NAME)",
               shown);
        return;
    }
    if (c->route == R_NONE) {
        REFUSE(c, 404, "not_found", "no route %s %s", c->method, c->path);
        return;
    }
    const char *origin = header(conn, MHD_HTTP_HEADER_ORIGIN);
    serve_origin o = serve_origin_check(cfg, origin, host);
    if (o == SERVE_ORIGIN_REFUSED) {
        copy_printable(shown, sizeof shown, origin);
        REFUSE(c, 403, "origin_not_allowed",
               "requests from pages of %s are not allowed here (the server allows an origin "
               "with --cors-origin ORIGIN)",
               shown);
        return;
    }
    if (o == SERVE_ORIGIN_ALLOWED) copy_printable(c->origin, sizeof c->origin, origin);
    if (c->options) return;
    int is_get = strcmp(c->method, "GET") == 0 || strcmp(c->method, "HEAD") == 0;
    if (wants_post(c->route) ? !c->post : !is_get) {
        REFUSE(c, 405, "method_not_allowed", "%s is not allowed on %s", c->method, c->path);
        return;
    }
    if ((c->route == R_MODELS || wants_post(c->route)) && cfg->api_key &&
        !serve_key_matches(header(conn, MHD_HTTP_HEADER_AUTHORIZATION), cfg->api_key)) {
        REFUSE(c, 401, "invalid_api_key",
               "missing or wrong API key (send Authorization: Bearer KEY)");
        return;
    }
    const char *type = header(conn, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (c->post && !serve_json_content_type(type)) {
        copy_printable(shown, sizeof shown, type ? type : "none");
        REFUSE(c, 415, "unsupported_media_type",
               "the body must be sent as Content-Type: application/json (this one: %s)", shown);
    }
}

/* A body MHD cannot read (a transfer coding but chunked: RFC 9112 6.1 says
 * 501) is answered at once, and the connection closed. */
static int unreadable_body(struct MHD_Connection *conn, conn_ctx *c) {
    const char *te = header(conn, MHD_HTTP_HEADER_TRANSFER_ENCODING);
    if (!te || strcasecmp(te, "chunked") == 0) return 0;
    char shown[64];
    copy_printable(shown, sizeof shown, te);
    serve_error e;
    serve_error_set(&e, 501, "invalid_request_error", NULL, "unsupported_transfer_encoding",
                    "Transfer-Encoding '%s' is not supported (send the body as it is, with "
                    "Content-Length or chunked)",
                    shown);
    char *json = serve_error_json(&e);
    if (!json) return 0;
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(json), json, MHD_RESPMEM_MUST_FREE);
    if (!r) return free(json), 0;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    add_headers(r, c, 501);
    c->bytes = strlen(json);
    MHD_queue_response(conn, 501, r);
    MHD_destroy_response(r);
    c->status = 501;
    c->answered = 1;
    return 1;
}

static conn_ctx *conn_new(struct serve_http *h, struct MHD_Connection *conn, const char *url,
                          const char *method, const char *version) {
    conn_ctx *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    atomic_fetch_add(&h->open, 1);
    c->start = lm_seconds();
    copy_printable(c->method, sizeof c->method, method);
    copy_printable(c->path, sizeof c->path, url);
    char authority[256];
    c->route = route_of(serve_target_path(url, authority, sizeof authority));
    c->post = strcmp(method, "POST") == 0;
    c->options = strcmp(method, "OPTIONS") == 0;
    c->http11 = strcmp(version, "HTTP/1.1") == 0;
    if (!unreadable_body(conn, c)) screen(h, conn, c, authority);
    return c;
}

/* Collect the body up to the limit; past it, or for a refused request, read
 * and drop the rest so the client gets its answer rather than a reset
 * connection. */
static void take_body(struct serve_http *h, conn_ctx *c, const char *data, size_t n) {
    if (c->too_big || c->refused.status || c->options || c->answered) return;
    if (c->len + n > h->cfg->max_body) {
        free(c->body);
        c->body = NULL;
        c->len = c->cap = 0;
        c->too_big = 1;
        return;
    }
    /* doubling: a body in many small pieces costs O(its size), not O(size^2) */
    lm_bytes b = {c->body, c->len, c->cap};
    if (lm_bytes_add(&b, data, n, 4096)) {
        c->too_big = 1;
        return;
    }
    c->body = b.p, c->len = b.len, c->cap = b.cap;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls) {
    struct serve_http *h = cls;
    conn_ctx *c = *con_cls;
    if (!c) {
        *con_cls = c = conn_new(h, conn, url, method, version);
        return c ? MHD_YES : MHD_NO;
    }
    if (*upload_data_size) {
        take_body(h, c, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (c->answered) return MHD_YES;
    if (c->job) return reply_job(h, conn, c); /* resumed by the engine */
    if (c->refused.status) return reply_error(conn, c, &c->refused);
    if (c->options) return reply_options(conn, c);
    return dispatch(h, conn, c);
}

static void peer_of(struct MHD_Connection *conn, char *out, size_t cap) {
    const union MHD_ConnectionInfo *i =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    snprintf(out, cap, "-");
    if (!i || !i->client_addr) return;
    const struct sockaddr *sa = i->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out,
                  (socklen_t)cap);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out,
                  (socklen_t)cap);
}

/* The request is over (answered, or the client went away): the access log
 * line, the metrics, and the job handed back to the engine. */
static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
    struct serve_http *h = cls;
    conn_ctx *c = *con_cls;
    if (!c) return;
    *con_cls = NULL;
    char peer[INET6_ADDRSTRLEN + 1];
    peer_of(conn, peer, sizeof peer);
    answered_directly(h, c);
    int status = c->status ? c->status : 499; /* nginx's "client closed the request" */
    const char *how = toe == MHD_REQUEST_TERMINATED_COMPLETED_OK      ? ""
                      : toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED ? " (timed out)"
                      : toe == MHD_REQUEST_TERMINATED_CLIENT_ABORT    ? " (client closed)"
                                                                      : " (aborted)";
    if (c->job && toe != MHD_REQUEST_TERMINATED_COMPLETED_OK && c->status == 200)
        how = " (client closed mid-stream)";
    if (c->note[0]) how = c->note;
    fprintf(stderr, "lamina serve: %s \"%s %s\" %d %zu %.3fs%s\n", peer, c->method, c->path, status,
            c->bytes, lm_seconds() - c->start, how);
    serve_metrics_request(status);
    if (c->job) serve_job_release(h->eng, c->job);
    free(c->body);
    free(c);
    atomic_fetch_sub(&h->open, 1);
}

static int bind_address(const char *host, int port, struct sockaddr_storage *ss, int *ipv6) {
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *res = NULL;
    if (getaddrinfo(host, NULL, &hints, &res) || !res) return -1;
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *ipv6 = res->ai_family == AF_INET6;
    if (*ipv6)
        ((struct sockaddr_in6 *)(void *)ss)->sin6_port = htons((uint16_t)port);
    else
        ((struct sockaddr_in *)(void *)ss)->sin_port = htons((uint16_t)port);
    freeaddrinfo(res);
    return 0;
}

/* libmicrohttpd's own messages (a client gone mid-response, ...), marked as such. */
static void mhd_log(void *cls, const char *fmt, va_list ap) {
    if (quiet_close) { /* MHD logs it as "%s\n" and the message */
        quiet_close = 0;
        va_list copy;
        va_copy(copy, ap);
        const char *text = strcmp(fmt, "%s\n") == 0 ? va_arg(copy, const char *) : fmt;
        int skip = text && strstr(text, "internal error") != NULL;
        va_end(copy);
        if (skip) return;
    }
    fputs("lamina serve: libmicrohttpd: ", stderr);
    vfprintf(stderr, fmt, ap);
}

struct serve_http *serve_http_start(serve_engine *eng, const serve_model *m, lm_error *err) {
    const serve_config *cfg = m->cfg;
    struct serve_http *h = calloc(1, sizeof *h);
    if (!h) return snprintf(err->msg, sizeof err->msg, "out of memory"), NULL;
    *h = (struct serve_http){.eng = eng, .m = m, .cfg = cfg};
    the_http = h;
    struct sockaddr_storage ss;
    int ipv6 = 0;
    if (bind_address(cfg->host, cfg->port, &ss, &ipv6)) {
        snprintf(err->msg, sizeof err->msg, "--host %s: not an address of this machine", cfg->host);
        free(h);
        return NULL;
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ERROR_LOG | (ipv6 ? MHD_USE_IPv6 : 0);
    /* Room for every running and queued request, twice over, plus the
     * requests that only read (health, metrics): past the queue a client gets
     * a 503 from us, not a refused connection. */
    unsigned limit = (unsigned)(2 * (cfg->parallel + cfg->queue) + 64);
    h->loopback = serve_address_is_loopback((const struct sockaddr *)&ss);
    h->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, h, MHD_OPTION_EXTERNAL_LOGGER,
                                 mhd_log, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                                 MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->timeout_s,
                                 MHD_OPTION_CONNECTION_LIMIT, limit, MHD_OPTION_END);
    if (!h->daemon) {
        snprintf(err->msg, sizeof err->msg, "cannot listen on %s port %d (in use?)", cfg->host,
                 cfg->port);
        free(h);
        return NULL;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
    h->port = di ? di->port : cfg->port;
    return h;
}

int serve_http_port(const struct serve_http *h) { return h->port; }

/* Drain: the listener stays open, so that a load balancer's health check
 * reads 503 on /health (and takes this server out of its pool) rather than a
 * refused connection it could take for a crash, and a request it still sends
 * here gets a 503 it may retry elsewhere. Running requests go on. */
void serve_http_quiesce(struct serve_http *h) { atomic_store(&h->draining, 1); }

/* Give answered requests up to wait_s to finish sending, then close. */
void serve_http_stop(struct serve_http *h, double wait_s) {
    double t0 = lm_seconds();
    while (atomic_load(&h->open) > 0 && lm_seconds() - t0 < wait_s) usleep(10000);
    MHD_stop_daemon(h->daemon);
    free(h);
}
