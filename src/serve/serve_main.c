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
#include "options.h"
#include "serve_args.h"
#include "wcache.h"

#define API_KEY_MAX 4096

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
    if (!c->tokenizer_path)
        c->tokenizer_path = opt_tokenizer_default(c->model_path, s->tok_path, sizeof s->tok_path);
    if (!c->tokenizer_path) return fail("the model's path is too long");
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
    if (n == 0 || strlen(s->key) != n || !serve_printable(s->key)) {
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
    if (!serve_printable(c->api_key))
        return usage_error("%s: the key must be printable ASCII", from);
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
    char err[512];
    int rc = serve_parse_args(argc, argv, &s->cfg, err, sizeof err);
    if (rc == 1) return serve_print_usage(stdout), 0;
    if (rc) return fprintf(stderr, "lamina: error: %s\n", err), rc < 0 ? 1 : 2;
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
