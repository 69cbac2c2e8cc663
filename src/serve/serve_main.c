/* `lamina serve MODEL [options]`: options, the model, the engine and HTTP
 * threads, then the main thread waits for SIGINT/SIGTERM and drains.
 * Exit status: 0 after a clean stop, 1 a file or runtime error, 2 a usage
 * error. */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "serve.h"
#include "wcache.h"

#define API_KEY_MAX 4096

static const char usage[] =
    "usage: lamina serve MODEL [options]\n"
    "An OpenAI-compatible HTTP server with continuous batching: POST /v1/completions,\n"
    "POST /v1/chat/completions, GET /v1/models, GET /health, GET /metrics, GET / (chat page).\n"
    "\n"
    "  -z, --tokenizer PATH  tokenizer.bin, or a GGUF file whose vocabulary to use\n"
    "                        (default: a GGUF MODEL's own, else tokenizer.bin beside MODEL)\n"
    "  --host ADDR           address to listen on (default 127.0.0.1: this machine only)\n"
    "  --allow-host NAME     also answer requests whose Host is NAME (a proxy's name;\n"
    "                        repeatable). Bound to loopback, only localhost, 127.0.0.1,\n"
    "                        [::1] and these are answered (DNS rebinding); bound\n"
    "                        elsewhere, any Host unless --allow-host narrows it\n"
    "  --cors-origin ORIGIN  let pages of ORIGIN (e.g. http://localhost:3000; * for any)\n"
    "                        call the API from a browser (repeatable; default none:\n"
    "                        other origins get 403)\n"
    "  --port N              TCP port; 0 = any free one, logged (default 8080)\n"
    "  --parallel N          requests generating at once (default 8)\n"
    "  --queue N             requests waiting beyond those; then 503 (default 64)\n"
    "  --ctx N               longest context of a request (default: the most that fits\n"
    "                        --parallel KV caches in the memory available, at most the\n"
    "                        model's seq_len; logged when less)\n"
    "  --kv-type TYPE        the KV caches' elements: f32 (default) or f16 (half the\n"
    "                        memory; keys and values rounded to half; other bits)\n"
    "  --threads N           worker threads (default: automatic)\n"
    "  --prompt-cache-mb N   keep finished requests' KV caches, up to N MiB, for later\n"
    "                        requests sharing a prefix (chat turns); answers are the\n"
    "                        same bytes; 0 = off (default: a quarter of the memory\n"
    "                        available, printed at start)\n"
    "  --isa NAME            kernel set (default: the best this CPU runs; also LAMINA_ISA)\n"
    "  --weights-cache DIR   keep the model's packed weights in DIR (default: the weights\n"
    "                        cache, $XDG_CACHE_HOME/lamina/weights; lamina cache --help)\n"
    "  --no-weights-cache    pack the weights in memory at every start\n"
    "  --chat-template NAME  the chat endpoint's template: llama2, mistral-v1, mistral-v3,\n"
    "                        mistral-v3-tekken, mistral-v7, mistral-v7-tekken, chatml,\n"
    "                        zephyr or llama3 (default: the model's; llama2 for .bin\n"
    "                        checkpoints)\n"
    "  --api-key KEY         require Authorization: Bearer KEY on /v1. Other users see\n"
    "                        KEY in ps and /proc/PID/cmdline: prefer LAMINA_API_KEY=KEY\n"
    "                        or --api-key-file\n"
    "  --api-key-file PATH   read the key from PATH (one line)\n"
    "  --alias NAME          the model's name in the API (default: its file name\n"
    "                        without .bin, still accepted), for clients with a fixed one\n"
    "  --max-body BYTES      larger request bodies get 413 (default 1048576)\n"
    "  --timeout S           close connections idle this long (default 30)\n"
    "  --grace S             on SIGTERM, running requests get this long (default 30);\n"
    "                        meanwhile the port stays open, /health and new requests\n"
    "                        answer 503 (a balancer routes elsewhere); exit 0 when the\n"
    "                        last one is done; a second signal stops at once\n"
    "  -t, -p, -s, -n        request defaults, as the CLI: temperature (1.0), top-p (0.9),\n"
    "                        seed (0 = a fresh one per request), steps (256)\n";

static int usage_error(const char *fmt, const char *arg) {
    fputs("lamina: error: ", stderr);
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    return 2;
}

static int fail(const char *msg) {
    fprintf(stderr, "lamina: error: %s\n", msg);
    return 1;
}

static int parse_long(const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

static int parse_float(const char *s, float lo, float hi, float *out) {
    char *end;
    errno = 0;
    float v = strtof(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi)) return -1;
    *out = v;
    return 0;
}

typedef struct int_opt {
    const char *name;
    long lo, hi;
    void *dst;
    int is_size;
} int_opt;

/* A value repeatable options collect (--allow-host, --cors-origin). */
static int add_value(const char ***list, int *n, int cap, const char *v) {
    if (!*list && !(*list = calloc((size_t)cap, sizeof **list))) return -1;
    (*list)[(*n)++] = v;
    return 0;
}

/* Names, origins, keys and aliases end up in headers, JSON and logs:
 * printable ASCII only (spaces allowed where the caller does not refuse them). */
static int printable(const char *s) {
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p >= 0x7f) return 0;
    return *s != '\0';
}

static int parse_text_opt(const char *a, const char *v, serve_config *c, int cap) {
    if (strcmp(a, "-z") == 0 || strcmp(a, "--tokenizer") == 0)
        c->tokenizer_path = v;
    else if (strcmp(a, "--host") == 0)
        c->host = v;
    else if (strcmp(a, "--api-key") == 0)
        c->api_key = v;
    else if (strcmp(a, "--api-key-file") == 0)
        c->api_key_file = v;
    else if (strcmp(a, "--isa") == 0)
        c->isa = v;
    else if (strcmp(a, "--weights-cache") == 0)
        c->weights_cache = v;
    else if (strcmp(a, "--chat-template") == 0) {
        if (lm_chat_template_from_name(v) == LM_CHAT_UNKNOWN)
            return usage_error("--chat-template: '%s' is not one of: llama2 mistral-v1 "
                               "mistral-v3 mistral-v3-tekken mistral-v7 mistral-v7-tekken "
                               "chatml zephyr llama3",
                               v);
        c->chat_template_name = v;
    } else if (strcmp(a, "--kv-type") == 0) {
        lm_error e;
        if (lm_kv_type_parse(v, &c->kv_type, &e)) return usage_error("--kv-type: %s", e.msg);
    } else if (strcmp(a, "--alias") == 0) {
        if (!printable(v) || strlen(v) > 255)
            return usage_error("bad value for %s (1 to 255 printable ASCII characters)", a);
        c->alias = v;
    } else if (strcmp(a, "--allow-host") == 0) {
        if (!printable(v) || strchr(v, '/') || strchr(v, ' '))
            return usage_error("bad value for %s (a host name or address)", a);
        if (add_value(&c->allow_hosts, &c->n_allow_hosts, cap, v)) return fail("out of memory");
    } else if (strcmp(a, "--cors-origin") == 0) {
        if (!printable(v) || strchr(v, ' ') ||
            (strcmp(v, "*") != 0 && strncmp(v, "http://", 7) != 0 &&
             strncmp(v, "https://", 8) != 0))
            return usage_error("bad value for %s (scheme://host[:port], or *)", a);
        if (add_value(&c->cors_origins, &c->n_cors_origins, cap, v)) return fail("out of memory");
    } else
        return usage_error("unknown option '%s' (lamina serve --help)", a);
    return 0;
}

static int parse_args(int argc, char **argv, serve_config *c) {
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
    long seed = 0, max_body = (long)c->max_body;
    int_opt ints[] = {
        {"--port", 0, 65535, &c->port, 0},
        {"--parallel", 1, 1024, &c->parallel, 0},
        {"--queue", 0, 100000, &c->queue, 0},
        {"--ctx", 0, 1 << 20, &c->ctx, 0},
        {"--threads", 0, 1024, &c->threads, 0},
        {"--timeout", 1, 86400, &c->timeout_s, 0},
        {"--grace", 0, 86400, &c->grace_s, 0},
        {"-n", 0, 1 << 20, &c->steps, 0},
        {"--max-body", 1, 1L << 30, &max_body, 1},
        {"-s", 0, LONG_MAX, &seed, 1},
        {"--prompt-cache-mb", 0, 1L << 30, &c->prompt_cache_mb, 1},
    };
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) return fputs(usage, stdout), -1;
        if (a[0] != '-') {
            if (c->model_path) return usage_error("unexpected argument '%s'", a);
            c->model_path = a;
            continue;
        }
        if (strcmp(a, "--no-weights-cache") == 0) {
            c->no_weights_cache = 1;
            continue;
        }
        if (i + 1 >= argc) return usage_error("%s needs a value", a);
        const char *v = argv[++i];
        int matched = 0;
        for (size_t k = 0; k < sizeof ints / sizeof ints[0]; k++) {
            if (strcmp(a, ints[k].name) != 0) continue;
            long x;
            if (parse_long(v, ints[k].lo, ints[k].hi, &x))
                return usage_error("bad value for %s", a);
            if (ints[k].is_size)
                *(long *)ints[k].dst = x;
            else
                *(int *)ints[k].dst = (int)x;
            matched = 1;
        }
        if (matched) continue;
        if (strcmp(a, "-t") == 0 || strcmp(a, "--temperature") == 0) {
            if (parse_float(v, 0.0f, 100.0f, &c->temperature))
                return usage_error("bad value for %s (a number >= 0)", a);
        } else if (strcmp(a, "-p") == 0 || strcmp(a, "--top-p") == 0) {
            if (parse_float(v, 0.0f, 1.0f, &c->topp))
                return usage_error("bad value for %s (a number in [0, 1])", a);
        } else {
            int rc = parse_text_opt(a, v, c, argc);
            if (rc) return rc;
        }
    }
    if (!c->model_path)
        return usage_error("%s", "lamina serve needs a MODEL (lamina serve --help)");
    c->seed = (uint64_t)seed;
    c->max_body = (size_t)max_body;
    return 0;
}

static const char *format_name(lm_format f) {
    return f == LM_FORMAT_GGUF ? "gguf"
           : f == LM_FORMAT_V2 ? "q8_0"
           : f == LM_FORMAT_V1 ? "fp32"
                               : "fp32 (v0)";
}

/* The model's id: its file name without .bin. */
static const char *model_id(const char *path, char *buf, size_t cap) {
    char copy[PATH_MAX];
    snprintf(copy, sizeof copy, "%s", path);
    snprintf(buf, cap, "%s", basename(copy));
    size_t n = strlen(buf);
    if (n > 4 && strcmp(buf + n - 4, ".bin") == 0) buf[n - 4] = '\0';
    return buf;
}

typedef struct server {
    serve_config cfg;
    serve_model m;
    lm_model *model;
    lm_tokenizer *tok;
    serve_engine *eng;
    struct serve_http *http;
    char id[256], tok_path[PATH_MAX + 32], kernels[32];
    char key[API_KEY_MAX + 2]; /* read from --api-key-file */
} server;

/* Settings the engine resolves itself (kernel set, automatic threads), read
 * from a one-position context. */
static int resolve(server *s, lm_error *e) {
    lm_context *ctx =
        lm_context_new(s->model, (lm_context_params){1, s->cfg.threads, s->cfg.isa}, e);
    if (!ctx) return -1;
    snprintf(s->kernels, sizeof s->kernels, "%s", lm_context_isa(ctx));
    s->m.threads = lm_context_n_threads(ctx);
    lm_context_free(ctx);
    s->cfg.isa = s->kernels;
    return 0;
}

/* A note of the weights cache (an image it could not write). */
static void serve_note(void *arg, const char *line) {
    (void)arg;
    fprintf(stderr, "lamina: warning: %s\n", line);
}

static int open_model(server *s) {
    serve_config *c = &s->cfg;
    lm_error e;
    wcache_opts wc = {c->weights_cache, c->no_weights_cache, 0};
    s->model = wcache_load(c->model_path, &wc, serve_note, NULL, &e);
    if (!s->model) return fail(e.msg);
    lm_model_info info = lm_model_get_info(s->model);
    if (!c->tokenizer_path && lm_file_is_gguf(c->model_path)) /* it carries its vocabulary */
        c->tokenizer_path = c->model_path;
    if (!c->tokenizer_path) {
        char copy[PATH_MAX];
        snprintf(copy, sizeof copy, "%s", c->model_path);
        snprintf(s->tok_path, sizeof s->tok_path, "%s/tokenizer.bin", dirname(copy));
        c->tokenizer_path = s->tok_path;
    }
    s->tok = lm_tokenizer_load(c->tokenizer_path, info.config.vocab_size, &e);
    if (!s->tok) return fail(e.msg);
    if (c->ctx == 0) { /* the most that fits, said where it is less than seq_len */
        char why[256];
        c->ctx = lm_context_choose(s->model, c->parallel, c->kv_type, c->threads, why, sizeof why);
        if (c->ctx < info.config.seq_len) fprintf(stderr, "lamina: %s\n", why);
        if (c->ctx < 1) return fail("no memory for the KV caches");
    }
    if (c->ctx > info.config.seq_len) {
        fprintf(stderr, "lamina: error: --ctx %d is more than the model's seq_len %d\n", c->ctx,
                info.config.seq_len);
        return 2;
    }
    if (c->steps == 0 || c->steps > c->ctx) c->steps = c->ctx;
    if (lm_chat_template_choose(c->chat_template_name, lm_tokenizer_chat_template(s->tok),
                                &c->chat_template, &e))
        snprintf(c->chat_error, sizeof c->chat_error, "%s", e.msg);
    if (resolve(s, &e)) return fail(e.msg);
    const char *file_id = model_id(c->model_path, s->id, sizeof s->id);
    s->m = (serve_model){.id = c->alias ? c->alias : file_id,
                         .file_id = file_id,
                         .format = format_name(info.format),
                         .info = info,
                         .tok = s->tok,
                         .cfg = c,
                         .kernels = s->kernels,
                         .threads = s->m.threads,
                         .created = (long long)time(NULL)};
    return 0;
}

static void close_server(server *s) {
    serve_engine_free(s->eng);
    lm_tokenizer_free(s->tok);
    lm_model_free(s->model);
}

/* The key's one line from --api-key-file (a final newline is not part of it). */
static int read_key_file(server *s) {
    const char *path = s->cfg.api_key_file;
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "lamina: error: --api-key-file %s: %s\n", path, strerror(errno));
        return 1;
    }
    size_t n = fread(s->key, 1, sizeof s->key - 1, f);
    int err = ferror(f);
    fclose(f);
    if (err) {
        fprintf(stderr, "lamina: error: --api-key-file %s: cannot read it\n", path);
        return 1;
    }
    if (n > API_KEY_MAX) {
        fprintf(stderr, "lamina: error: --api-key-file %s: longer than %d bytes\n", path,
                API_KEY_MAX);
        return 2;
    }
    s->key[n] = '\0';
    if (n && s->key[n - 1] == '\n') s->key[--n] = '\0';
    if (n && s->key[n - 1] == '\r') s->key[--n] = '\0';
    if (n == 0 || strlen(s->key) != n || !printable(s->key)) {
        fprintf(stderr, "lamina: error: --api-key-file %s: %s\n", path,
                n == 0 ? "the file is empty" : "the key must be one line of printable ASCII");
        return 2;
    }
    s->cfg.api_key = s->key;
    return 0;
}

/* The API key: --api-key, --api-key-file or LAMINA_API_KEY. A key given but
 * empty is refused wherever it comes from, never taken for "no key": a
 * server meant to be closed must not start open. */
static int choose_key(server *s) {
    serve_config *c = &s->cfg;
    if (c->api_key && c->api_key_file)
        return usage_error("%s", "--api-key and --api-key-file: give one of them");
    if (c->api_key_file) return read_key_file(s);
    const char *env = getenv("LAMINA_API_KEY");
    const char *from = c->api_key ? "--api-key" : "LAMINA_API_KEY";
    if (!c->api_key) c->api_key = env;
    if (!c->api_key) return 0;
    if (!*c->api_key) return usage_error("%s is empty (unset it to serve without a key)", from);
    if (!printable(c->api_key)) return usage_error("%s: the key must be printable ASCII", from);
    return 0;
}

static int choose_isa(serve_config *c) {
    const char *env = getenv("LAMINA_ISA");
    const char *name = c->isa ? c->isa : env && *env ? env : NULL;
    lm_error e;
    if (name && lm_isa_check(name, &e)) {
        fprintf(stderr, "lamina: error: %s: %s\n", c->isa ? "--isa" : "LAMINA_ISA", e.msg);
        return 2;
    }
    c->isa = name;
    return 0;
}

/* A second SIGINT/SIGTERM while draining: stop now (exit 1, requests cut). */
static void *second_signal(void *arg) {
    sigset_t *sigs = arg;
    int sig;
    if (sigwait(sigs, &sig) == 0) {
        fprintf(stderr, "lamina serve: %s again: stopping now\n", strsignal(sig));
        _exit(1);
    }
    return NULL;
}

static void stop(server *s, int sig, sigset_t *sigs) {
    fprintf(stderr,
            "lamina serve: %s: draining: /health and new requests answer 503; running ones get "
            "up to %d s (signal again to stop now)\n",
            strsignal(sig), s->cfg.grace_s);
    pthread_t t;
    if (pthread_create(&t, NULL, second_signal, sigs) == 0) pthread_detach(t);
    serve_http_quiesce(s->http);
    serve_engine_drain(s->eng, s->cfg.grace_s);
    serve_http_stop(s->http, 5.0);
    fprintf(stderr, "lamina serve: stopped\n");
}

static int run_server(server *s, int argc, char **argv);

int cli_serve(int argc, char **argv) {
    server *s = calloc(1, sizeof *s);
    if (!s) return fail("out of memory");
    int rc = run_server(s, argc, argv);
    free(s->cfg.allow_hosts);
    free(s->cfg.cors_origins);
    free(s);
    return rc;
}

static int run_server(server *s, int argc, char **argv) {
    /* SIGINT/SIGTERM are taken by sigwait alone: blocked before any thread
     * (OpenMP's workers included) starts, so every thread inherits the mask. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    int rc = parse_args(argc, argv, &s->cfg);
    if (rc) return rc < 0 ? 0 : rc;
    if ((rc = choose_isa(&s->cfg))) return rc;
    if ((rc = choose_key(s))) return rc;
    if ((rc = open_model(s))) {
        close_server(s);
        return rc;
    }
    lm_error e;
    s->eng = serve_engine_start(s->model, &s->m, &e);
    if (s->eng) s->http = serve_http_start(s->eng, &s->m, &e);
    if (!s->eng || !s->http) {
        close_server(s);
        return fail(e.msg);
    }
    int ipv6 = strchr(s->cfg.host, ':') != NULL;
    fprintf(stderr,
            "lamina serve: listening on http://%s%s%s:%d/ (model %s, %s, kernels %s, %d thread%s, "
            "parallel %d, queue %d, ctx %d, prompt cache %llu MiB%s%s)\n",
            ipv6 ? "[" : "", s->cfg.host, ipv6 ? "]" : "", serve_http_port(s->http), s->m.id,
            s->m.format, s->kernels, s->m.threads, s->m.threads == 1 ? "" : "s", s->cfg.parallel,
            s->cfg.queue, s->cfg.ctx, (unsigned long long)(serve_engine_cache_bytes(s->eng) >> 20),
            s->cfg.prompt_cache_mb < 0 ? " (default; --prompt-cache-mb)" : "",
            s->cfg.api_key ? ", API key required" : "");
    int sig = 0;
    while (sigwait(&sigs, &sig) != 0) {
    }
    stop(s, sig, &sigs);
    close_server(s);
    return 0;
}
