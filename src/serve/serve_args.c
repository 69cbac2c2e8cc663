/* `lamina serve`'s options (serve_args.h): the table of src/options, and the
 * checks only a server needs (names that end up in headers). */
#include "serve_args.h"

#include <float.h>
#include <stdlib.h>
#include <string.h>

#include "options.h"

static const char usage_head[] =
    "usage: lamina serve MODEL [options]\n"
    "An OpenAI-compatible HTTP server with continuous batching: POST /v1/completions,\n"
    "POST /v1/chat/completions, GET /v1/models, GET /health, GET /metrics, GET / (chat page).\n"
    "-t, -p, -s, -n and --chat-template are the defaults of requests, as the CLI's.\n"
    "\n";

void serve_print_usage(FILE *out) { opt_usage(out, OPT_SERVE, usage_head, NULL); }

int serve_printable(const char *s) {
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p >= 0x7f) return 0;
    return *s != '\0';
}

/* A value repeatable options collect (--allow-host, --cors-origin). */
static int add_value(const char ***list, int *n, int cap, const char *v) {
    if (!*list && !(*list = calloc((size_t)cap, sizeof **list))) return -1;
    (*list)[(*n)++] = v;
    return 0;
}

static int bad(char *err, size_t len, const char *name, const char *what) {
    snprintf(err, len, "bad value for %s (%s)", name, what);
    return 2;
}

static int store_text(serve_config *c, const opt_spec *s, const char *v, int cap, char *err,
                      size_t len) {
    switch (s->id) {
    case O_ALIAS:
        if (!serve_printable(v) || strlen(v) > 255)
            return bad(err, len, "--alias", "1 to 255 printable ASCII characters");
        c->alias = v;
        return 0;
    case O_ALLOW_HOST:
        if (!serve_printable(v) || strchr(v, '/') || strchr(v, ' '))
            return bad(err, len, "--allow-host", "a host name or address");
        return add_value(&c->allow_hosts, &c->n_allow_hosts, cap, v);
    case O_CORS_ORIGIN:
        if (!serve_printable(v) || strchr(v, ' ') ||
            (strcmp(v, "*") != 0 && strncmp(v, "http://", 7) != 0 &&
             strncmp(v, "https://", 8) != 0))
            return bad(err, len, "--cors-origin", "scheme://host[:port], or *");
        return add_value(&c->cors_origins, &c->n_cors_origins, cap, v);
    default: return 0;
    }
}

typedef struct parse_state {
    serve_config *c;
    int cap; /* of the repeatable options' lists: argc */
} parse_state;

/* Store one option of the table, or take MODEL (s NULL); 0, 2 (usage) or -1
 * (memory). */
static int store(void *ctx, const opt_spec *s, const opt_value *v, char *err, size_t len) {
    parse_state *st = ctx;
    serve_config *c = st->c;
    if (!s) {
        if (c->model_path) return snprintf(err, len, "unexpected argument '%s'", v->str), 2;
        c->model_path = v->str;
        return 0;
    }
    switch (s->id) {
    case O_TOKENIZER: c->tokenizer_path = v->str; break;
    case O_HOST: c->host = v->str; break;
    case O_API_KEY: c->api_key = v->str; break;
    case O_API_KEY_FILE: c->api_key_file = v->str; break;
    case O_ISA: c->isa = v->str; break;
    case O_WEIGHTS_CACHE: c->weights_cache = v->str; break;
    case O_NO_WEIGHTS_CACHE: c->no_weights_cache = 1; break;
    case O_CHAT_TEMPLATE: c->chat_template_name = v->str; break;
    case O_KV_TYPE: c->kv_type = (lm_kv_type)v->u; break;
    case O_PORT: c->port = (int)v->u; break;
    case O_PARALLEL: c->parallel = (int)v->u; break;
    case O_QUEUE: c->queue = (int)v->u; break;
    case O_CTX: c->ctx = (int)v->u; break;
    case O_THREADS: c->threads = (int)v->u; break;
    case O_TIMEOUT: c->timeout_s = (int)v->u; break;
    case O_GRACE: c->grace_s = (int)v->u; break;
    case O_STEPS: c->steps = (int)v->u; break;
    case O_MAX_BODY: c->max_body = (size_t)v->u; break;
    case O_SEED: c->seed = v->u; break;
    case O_PROMPT_CACHE_MB: c->prompt_cache_mb = (long)v->u; break;
    case O_TEMPERATURE: c->temperature = (float)v->real; break;
    case O_TOPP: c->topp = v->tiny ? FLT_MIN : (float)v->real; break; /* as the CLI's -p */
    default: {
        int rc = store_text(c, s, v->str, st->cap, err, len);
        if (rc < 0) snprintf(err, len, "out of memory");
        return rc;
    }
    }
    return 0;
}

int serve_parse_args(int argc, char **argv, serve_config *c, char *err, size_t len) {
    *c = (serve_config){.host = "127.0.0.1",
                        .port = 8080,
                        .parallel = 8,
                        .queue = 64,
                        .temperature = 1.0f,
                        .topp = 0.9f,
                        .steps = 256,
                        .max_body = 1 << 20,
                        .timeout_s = 30,
                        .grace_s = 30,
                        .prompt_cache_mb = -1};
    parse_state st = {c, argc};
    int status;
    switch (opt_parse_all(OPT_SERVE, argc, argv, 1, store, &st, &status, err, len)) {
    case OPT_END: break;
    case OPT_HELP: return 1;
    default: return status;
    }
    if (!c->model_path)
        return snprintf(err, len, "lamina serve needs a MODEL (lamina serve --help)"), 2;
    return 0;
}
