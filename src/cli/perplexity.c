/* lamina perplexity MODEL TEXTFILE: llama.cpp's llama-perplexity protocol, so
 * the figures compare with llama.cpp's and with published ones. The text is
 * tokenized once, BOS first; it is cut into non-overlapping chunks of n_ctx
 * tokens, each chunk's first token replaced by BOS; one batched pass gives the
 * logits after every position, and only the second half of each chunk is
 * scored (the model always has n_ctx / 2 tokens of context): the negative
 * log-likelihood of the next token, by a log-softmax whose sum runs in double
 * as llama.cpp's does. P = exp(mean NLL); its error is the standard error of
 * the mean NLL times P. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "args.h"
#include "bytes.h"
#include "cli.h"
#include "front.h"

/* llama-perplexity's default context, capped at the model's seq_len. */
#define PPL_DEFAULT_CTX 512
#define PPL_MIN_CTX 8

static const char ppl_usage[] =
    "usage: lamina perplexity MODEL TEXTFILE [options]\n"
    "\n"
    "The perplexity of MODEL on the text of TEXTFILE by llama.cpp's llama-perplexity\n"
    "protocol: the text tokenized once (BOS first), cut into chunks of --ctx tokens,\n"
    "each chunk's first token replaced by BOS, the second half of each chunk scored.\n"
    "The last line is 'perplexity: P ± E over T tokens (C chunks of N)'.\n"
    "\n"
    "options:\n"
    "  -z, --tokenizer PATH  tokenizer.bin (default: tokenizer.bin beside MODEL)\n"
    "      --ctx N           tokens per chunk, 8 to the model's seq_len (default: 512,\n"
    "                        llama.cpp's, or seq_len if smaller); the text needs 2N\n"
    "      --chunks N        score the first N chunks only, 1 to 1073741824 (default:\n"
    "                        all)\n"
    "      --json            print one JSON object instead (per-chunk sums included)\n"
    "      --threads N       worker threads, 1 to 4096 (default: automatic)\n"
    "      --isa NAME        force a kernel set (default: the best; also LAMINA_ISA)\n"
    "      --weights-cache DIR  keep the packed weights in DIR (default: the weights cache)\n"
    "      --no-weights-cache   pack the weights in memory\n"
    "      --kv-type TYPE    the KV cache's elements: f32 (default) or f16\n"
    "  -h, --help            this help\n";

typedef struct ppl_args {
    const char *model, *text, *tokenizer, *isa;
    int ctx, chunks, json, threads;
    const char *weights_cache; /* --weights-cache DIR */
    int no_weights_cache;      /* --no-weights-cache */
    lm_kv_type kv_type;        /* --kv-type */
} ppl_args;

static int usage(const char *fmt, const char *a, const char *b) {
    fputs("lamina: error: ", stderr);
    fprintf(stderr, fmt, a, b);
    fputc('\n', stderr);
    return 2;
}

/* An integer option's value in [min, max]; 0 or 2 (a usage error). */
static int int_value(const char *name, const char *value, int min, int max, int *out) {
    uint64_t v;
    int rc = cli_parse_uint(value, (uint64_t)max, &v);
    if (rc == CLI_NUM_SYNTAX) return usage("%s: '%s' is not a decimal integer", name, value);
    if (rc == CLI_NUM_RANGE || v < (uint64_t)min) {
        fprintf(stderr, "lamina: error: %s: %s is out of range (from %d to %d)\n", name, value, min,
                max);
        return 2;
    }
    *out = (int)v;
    return 0;
}

/* Returns 0, 2 (a usage error, said), or -1 for --help. */
static int parse(int argc, char **argv, ppl_args *a) {
    *a = (ppl_args){0};
    int positional = 0, options_end = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        int rc = 0;
        if (options_end || arg[0] != '-' || arg[1] == '\0') {
            if (positional >= 2)
                return usage("unexpected argument '%s'%s (see lamina perplexity --help)", arg, "");
            *(positional++ ? &a->text : &a->model) = arg;
            continue;
        }
        if (strcmp(arg, "--") == 0) {
            options_end = 1;
            continue;
        }
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) return -1;
        if (strcmp(arg, "--json") == 0) {
            a->json = 1;
            continue;
        }
        if (strcmp(arg, "--no-weights-cache") == 0) {
            a->no_weights_cache = 1;
            continue;
        }
        int is_z = strcmp(arg, "-z") == 0 || strcmp(arg, "--tokenizer") == 0;
        int known = is_z || strcmp(arg, "--ctx") == 0 || strcmp(arg, "--chunks") == 0 ||
                    strcmp(arg, "--threads") == 0 || strcmp(arg, "--isa") == 0 ||
                    strcmp(arg, "--weights-cache") == 0 || strcmp(arg, "--kv-type") == 0;
        if (!known) return usage("unknown option '%s'%s (see lamina perplexity --help)", arg, "");
        if (i + 1 >= argc) return usage("%s needs a value%s", arg, "");
        const char *v = argv[++i];
        if (is_z)
            a->tokenizer = v;
        else if (strcmp(arg, "--isa") == 0)
            a->isa = v;
        else if (strcmp(arg, "--weights-cache") == 0)
            a->weights_cache = v;
        else if (strcmp(arg, "--kv-type") == 0) {
            if (lm_kv_type_parse(v, &a->kv_type, NULL))
                return usage("--kv-type: '%s' is not one of f32, f16%s", v, "");
        } else if (strcmp(arg, "--ctx") == 0)
            rc = int_value(arg, v, PPL_MIN_CTX, 1 << 30, &a->ctx);
        else if (strcmp(arg, "--chunks") == 0)
            rc = int_value(arg, v, 1, 1 << 30, &a->chunks);
        else
            rc = int_value(arg, v, 1, 4096, &a->threads);
        if (rc) return rc;
    }
    if (positional < 2) return usage("perplexity needs a MODEL and a TEXTFILE%s%s", "", "");
    return 0;
}

/* The whole file as a string; NULL with err set (unreadable, or a NUL byte,
 * which would silently end the text early). */
static char *read_text(const char *path, lm_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err->msg, sizeof err->msg, "%s: %s", path, strerror(errno));
        return NULL;
    }
    lm_bytes b = {0};
    char chunk[1 << 16];
    int oom = lm_bytes_add(&b, "", 0, sizeof chunk); /* an empty file is an empty text */
    for (size_t got; !oom && (got = fread(chunk, 1, sizeof chunk, f)) > 0;)
        oom = lm_bytes_add(&b, chunk, got, sizeof chunk);
    int bad = ferror(f) ? errno : 0;
    fclose(f);
    if (oom || bad) {
        snprintf(err->msg, sizeof err->msg, "%s: %s", path, oom ? "out of memory" : strerror(bad));
        free(b.p);
        return NULL;
    }
    if (strlen(b.p) != b.len) {
        snprintf(err->msg, sizeof err->msg, "%s: a NUL byte at offset %zu: not a text file", path,
                 strlen(b.p));
        free(b.p);
        return NULL;
    }
    return b.p;
}

static int fail(lm_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(lm_error *err, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return -1;
}

/* -log p(token) from one row of logits, as llama-perplexity computes it: the
 * maximum in float, the sum of expf(l - max) in double, log in double. */
static double nll_of(const float *logits, int vocab, int token) {
    float max = logits[0];
    for (int i = 1; i < vocab; i++) max = logits[i] > max ? logits[i] : max;
    double sum = 0.0;
    for (int i = 0; i < vocab; i++) sum += expf(logits[i] - max);
    return -((double)(logits[token] - max) - log(sum));
}

typedef struct ppl_run {
    lm_context *ctx;
    const int *tokens; /* the whole text, BOS first */
    int n_tokens, n_ctx, n_chunks, vocab;
    float *logits; /* (n_ctx, vocab) */
    int *chunk;    /* (n_ctx) */
    double *chunk_nll;
    double nll, nll2;
    int count;
} ppl_run;

/* Score chunk c: its tokens with BOS first, every position's logits, the
 * second half's next tokens. */
static int score_chunk(ppl_run *r, int c, lm_error *err) {
    int n = r->n_ctx, first = n / 2;
    const int *t = r->tokens + (size_t)c * n;
    memcpy(r->chunk, t, (size_t)n * sizeof *t);
    r->chunk[0] = LM_TOKEN_BOS;
    if (lm_forward_all(r->ctx, r->chunk, n, 0, r->logits, err)) return -1;
    double sum = 0.0;
    for (int i = first; i < n - 1; i++) {
        const float *row = r->logits + (size_t)i * r->vocab;
        for (int k = 0; k < r->vocab; k++)
            if (!isfinite(row[k]))
                return fail(err, "non-finite logits at position %d of chunk %d", i, c + 1);
        double v = nll_of(row, r->vocab, t[i + 1]);
        sum += v;
        r->nll += v;
        r->nll2 += v * v;
    }
    r->chunk_nll[c] = sum;
    r->count += n - 1 - first;
    return 0;
}

/* P and its error, as llama-perplexity's final estimate. */
static void estimate(const ppl_run *r, double *ppl, double *error) {
    double nll = r->nll / r->count, nll2 = r->nll2 / r->count - nll * nll;
    *ppl = exp(nll);
    *error = nll2 > 0 ? sqrt(nll2 / (r->count - 1)) * *ppl : 0.0;
}

static void print_result(const ppl_run *r, int json) {
    double ppl, error;
    estimate(r, &ppl, &error);
    if (!json) {
        printf("perplexity: %.4f \u00b1 %.5f over %d tokens (%d chunks of %d)\n", ppl, error,
               r->count, r->n_chunks, r->n_ctx);
        return;
    }
    /* %.17g: every double printed exactly, so tests compare bits */
    printf("{\"perplexity\":%.17g,\"error\":%.17g,\"tokens\":%d,\"chunks\":%d,\"ctx\":%d,"
           "\"text_tokens\":%d,\"nll\":%.17g,\"nll2\":%.17g,\"chunk_nll\":[",
           ppl, error, r->count, r->n_chunks, r->n_ctx, r->n_tokens, r->nll, r->nll2);
    for (int c = 0; c < r->n_chunks; c++) printf(c ? ",%.17g" : "%.17g", r->chunk_nll[c]);
    printf("]}\n");
}

/* The chunks, with progress on a terminal. */
static int run_chunks(ppl_run *r, lm_error *err) {
    int progress = isatty(2);
    double t0 = lm_seconds();
    for (int c = 0; c < r->n_chunks; c++) {
        if (score_chunk(r, c, err)) return -1;
        if (progress) {
            double ppl, error, spent = lm_seconds() - t0;
            estimate(r, &ppl, &error);
            fprintf(stderr, "\rperplexity: chunk %d/%d: %.4f \u00b1 %.4f, ETA %.0f s   ", c + 1,
                    r->n_chunks, ppl, error, spent / (c + 1) * (r->n_chunks - c - 1));
        }
    }
    if (progress) fputc('\n', stderr);
    return 0;
}

/* The context of the chunks: --ctx, else llama.cpp's 512 within seq_len. */
static int choose_ctx(const ppl_args *a, const lm_config *c, lm_error *err) {
    if (a->ctx > c->seq_len)
        return fail(err, "--ctx %d exceeds the model's seq_len %d", a->ctx, c->seq_len);
    if (a->ctx) return a->ctx;
    int n = c->seq_len < PPL_DEFAULT_CTX ? c->seq_len : PPL_DEFAULT_CTX;
    if (n < PPL_MIN_CTX) return fail(err, "the model's seq_len %d is below %d", n, PPL_MIN_CTX);
    return n;
}

static int measure(const ppl_args *a, lm_model *m, const lm_tokenizer *tok, lm_error *err) {
    lm_config c = lm_model_get_info(m).config;
    ppl_run r = {.vocab = c.vocab_size};
    if ((r.n_ctx = choose_ctx(a, &c, err)) < 0) return -1;
    char *text = read_text(a->text, err);
    if (!text) return -1;
    int *tokens = lm_tokenize(tok, text, 1, 0, &r.n_tokens, err);
    free(text);
    if (!tokens) return -1;
    r.tokens = tokens;
    int rc = -1;
    if (r.n_tokens / 2 < r.n_ctx) {
        fail(err, "%s tokenizes to only %d tokens; a context of %d needs at least %d", a->text,
             r.n_tokens, r.n_ctx, 2 * r.n_ctx);
        goto done;
    }
    r.n_chunks = r.n_tokens / r.n_ctx;
    if (a->chunks && a->chunks < r.n_chunks) r.n_chunks = a->chunks;
    r.ctx = lm_context_new(m, (lm_context_params){r.n_ctx, a->threads, cli_isa, a->kv_type}, err);
    if (!r.ctx) goto done;
    r.logits = malloc((size_t)r.n_ctx * (size_t)r.vocab * sizeof *r.logits);
    r.chunk = malloc((size_t)r.n_ctx * sizeof *r.chunk);
    r.chunk_nll = malloc((size_t)r.n_chunks * sizeof *r.chunk_nll);
    if (!r.logits || !r.chunk || !r.chunk_nll)
        fail(err, "out of memory for the logits of %d positions", r.n_ctx);
    else if (run_chunks(&r, err) == 0)
        print_result(&r, a->json), rc = 0;
    lm_context_free(r.ctx);
    free(r.logits);
    free(r.chunk);
    free(r.chunk_nll);
done:
    free(tokens);
    return rc;
}

/* The kernel set: --isa, else LAMINA_ISA, else the best; 0 or 2. */
static int choose_isa(const ppl_args *a) {
    const char *env = getenv("LAMINA_ISA");
    const char *name = a->isa ? a->isa : env && *env ? env : NULL;
    lm_error e;
    cli_isa = lm_isa_best();
    if (!name) return 0;
    if (lm_isa_check(name, &e)) return usage("%s: %s", a->isa ? "--isa" : "LAMINA_ISA", e.msg);
    cli_isa = name;
    return 0;
}

int cli_perplexity(int argc, char **argv) {
    ppl_args a;
    int rc = parse(argc, argv, &a);
    if (rc < 0) return fputs(ppl_usage, stdout), 0;
    if (rc || (rc = choose_isa(&a))) return rc;
    if (cli_check_threads(cli_threads_wanted(a.threads))) return 1;
    lm_error e;
    cli_wcache = (wcache_opts){a.weights_cache, a.no_weights_cache, 0};
    lm_model *m = cli_load_model(a.model, &e);
    if (!m) return cli_error("%s", e.msg);
    lm_tokenizer *tok =
        cli_load_tokenizer(a.tokenizer, a.model, lm_model_get_info(m).config.vocab_size, &e);
    rc = tok ? measure(&a, m, tok, &e) : -1;
    lm_tokenizer_free(tok);
    lm_model_free(m);
    return rc ? cli_error("%s", e.msg) : 0;
}
