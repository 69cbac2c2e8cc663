/* The HTTP side of `lamina serve`, on libmicrohttpd's own polling thread:
 * routing, the API key, the body limit, OpenAI's error objects, server-sent
 * events and the access log. Generation happens on the engine thread; a
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
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "serve.h"
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
} route;

/* One HTTP request (MHD's per-request pointer). */
typedef struct conn_ctx {
    route route;
    int post;
    char method[16];
    char path[96];
    char *body;
    size_t len;
    int too_big;
    struct serve_job *job; /* submitted to the engine */
    int status;
    size_t bytes;
    double start; /* lm_seconds() */
} conn_ctx;

static route route_of(const char *url) {
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
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (strcmp(url, table[i].path) == 0) return table[i].r;
    return R_NONE;
}

/* Queue a response that owns a copy of body. */
static enum MHD_Result reply(struct MHD_Connection *conn, conn_ctx *c, int status, const char *type,
                             const char *body, size_t len) {
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    if (status == 401) MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    if (status == 503) MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "1");
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

/* "Bearer KEY" against the expected key in time that depends only on the
 * expected key's length, so a timing attack learns nothing of the key. */
static int key_matches(const char *header, const char *key) {
    static const char prefix[] = "Bearer ";
    if (!header || strncmp(header, prefix, sizeof prefix - 1) != 0) return 0;
    const char *given = header + sizeof prefix - 1;
    size_t n_given = strlen(given), n_key = strlen(key);
    unsigned char diff = n_given != n_key;
    for (size_t i = 0; i < n_key; i++)
        diff |= (unsigned char)((i < n_given ? given[i] : 0) ^ key[i]);
    return diff == 0;
}

/* The engine finished (or failed) a job whose connection was suspended. */
static ssize_t read_events(void *cls, uint64_t pos, char *buf, size_t max);

static enum MHD_Result reply_job(struct serve_http *h, struct MHD_Connection *conn, conn_ctx *c) {
    serve_error e;
    char *body = NULL;
    size_t len = 0;
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
    enum MHD_Result ok = MHD_queue_response(conn, 200, r);
    MHD_destroy_response(r);
    c->status = 200;
    (void)h;
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
        serve_error_set(&e, 503, "server_error", NULL, "shutting_down", "the server is stopping");
        return reply_error(conn, c, &e);
    }
    const union MHD_ConnectionInfo *fd =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    c->job = job;
    if (serve_engine_submit(h->eng, job, conn, fd ? fd->connect_fd : -1, &e)) {
        c->job = NULL;
        serve_job_free(job);
        return reply_error(conn, c, &e);
    }
    return MHD_YES; /* suspended: the engine resumes it, and MHD calls us again */
}

static enum MHD_Result get_page(struct MHD_Connection *conn, conn_ctx *c) {
#ifdef LAMINA_HAVE_PAGE
    return reply(conn, c, 200, "text/html; charset=utf-8", lm_page_html, lm_page_html_len);
#else
    static const char msg[] = "this lamina was built without the chat page\n";
    return reply(conn, c, 404, "text/plain; charset=utf-8", msg, sizeof msg - 1);
#endif
}

static enum MHD_Result dispatch(struct serve_http *h, struct MHD_Connection *conn, conn_ctx *c) {
    serve_error e;
    int is_get = strcmp(c->method, "GET") == 0 || strcmp(c->method, "HEAD") == 0;
    int wants_post = c->route == R_COMPLETIONS || c->route == R_CHAT;
    if (c->route == R_NONE) {
        serve_error_set(&e, 404, "invalid_request_error", NULL, "not_found", "no route %s %s",
                        c->method, c->path);
        return reply_error(conn, c, &e);
    }
    if (wants_post ? !c->post : !is_get) {
        serve_error_set(&e, 405, "invalid_request_error", NULL, "method_not_allowed",
                        "%s is not allowed on %s", c->method, c->path);
        return reply_error(conn, c, &e);
    }
    int v1 = c->route == R_MODELS || wants_post;
    if (v1 && h->cfg->api_key &&
        !key_matches(
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION),
            h->cfg->api_key)) {
        serve_error_set(&e, 401, "invalid_request_error", NULL, "invalid_api_key",
                        "missing or wrong API key (send Authorization: Bearer KEY)");
        return reply_error(conn, c, &e);
    }
    switch (c->route) {
    case R_ROOT: return get_page(conn, c);
    case R_HEALTH:
        if (atomic_load(&h->draining)) {
            static const char body[] = "{\"status\":\"stopping\"}";
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
    default: return generate(h, conn, c);
    }
}

/* A copy fit for the one-line log: the URL arrives percent-decoded, so a
 * client could otherwise write a newline (a forged log line) or escapes. */
static void copy_printable(char *dst, size_t cap, const char *src) {
    snprintf(dst, cap, "%s", src);
    for (char *p = dst; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f || *p == '"') *p = '?';
}

static conn_ctx *conn_new(struct serve_http *h, const char *url, const char *method) {
    conn_ctx *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->start = lm_seconds();
    copy_printable(c->method, sizeof c->method, method);
    copy_printable(c->path, sizeof c->path, url);
    c->route = route_of(url);
    c->post = strcmp(method, "POST") == 0;
    atomic_fetch_add(&h->open, 1);
    return c;
}

/* Collect the body up to the limit; past it, read and drop the rest so the
 * client gets its 413 rather than a reset connection. */
static void take_body(struct serve_http *h, conn_ctx *c, const char *data, size_t n) {
    if (c->too_big) return;
    if (c->len + n > h->cfg->max_body) {
        free(c->body);
        c->body = NULL;
        c->len = 0;
        c->too_big = 1;
        return;
    }
    char *grown = realloc(c->body, c->len + n + 1);
    if (!grown) {
        c->too_big = 1;
        return;
    }
    memcpy(grown + c->len, data, n);
    c->len += n;
    grown[c->len] = '\0';
    c->body = grown;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls) {
    struct serve_http *h = cls;
    conn_ctx *c = *con_cls;
    if (!c) {
        *con_cls = c = conn_new(h, url, method);
        return c ? MHD_YES : MHD_NO;
    }
    if (*upload_data_size) {
        take_body(h, c, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (c->job) return reply_job(h, conn, c); /* resumed by the engine */
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
    int status = c->status ? c->status : 499; /* nginx's "client closed the request" */
    const char *how = toe == MHD_REQUEST_TERMINATED_COMPLETED_OK      ? ""
                      : toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED ? " (timed out)"
                      : toe == MHD_REQUEST_TERMINATED_CLIENT_ABORT    ? " (client closed)"
                                                                      : " (aborted)";
    if (c->job && toe != MHD_REQUEST_TERMINATED_COMPLETED_OK && c->status == 200)
        how = " (client closed mid-stream)";
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

/* Stop accepting connections; requests on open ones get 503. */
void serve_http_quiesce(struct serve_http *h) {
    atomic_store(&h->draining, 1);
    MHD_socket fd = MHD_quiesce_daemon(h->daemon);
    if (fd != MHD_INVALID_SOCKET) close(fd);
}

/* Give answered requests up to wait_s to finish sending, then close. */
void serve_http_stop(struct serve_http *h, double wait_s) {
    double t0 = lm_seconds();
    while (atomic_load(&h->open) > 0 && lm_seconds() - t0 < wait_s) usleep(10000);
    MHD_stop_daemon(h->daemon);
    free(h);
}
