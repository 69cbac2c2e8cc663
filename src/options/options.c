/* The option table of every lamina command and its parser (options.h). */
#include "options.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "lamina.h"

#define RUN (1u << OPT_RUN)
#define TOKENIZE (1u << OPT_TOKENIZE)
#define INFO (1u << OPT_INFO)
#define QUANTIZE (1u << OPT_QUANTIZE)
#define BENCH (1u << OPT_BENCH)
#define BATCH (1u << OPT_BATCH)
#define SERVE (1u << OPT_SERVE)
#define REQUESTS (RUN | BATCH | SERVE) /* the commands that generate */
#define LOADERS (RUN | INFO | BATCH | SERVE)

/* One bound per quantity, whichever command reads it. */
#define MAX_POSITIONS (1 << 30)
#define MAX_THREADS 4096
#define MAX_SEQUENCES 4096
#define MAX_MIB (1 << 30)

/* Each option once. Entries with the same name and disjoint commands are the
 * same spelling with another grammar (bench's --threads takes a list). */
static const opt_spec table[] = {
    {O_TEMPERATURE, "-t", "--temperature", OPT_REAL, 0, FLT_MAX, REQUESTS, NULL, "T",
     "sampling temperature, 0 to 3.4e38; 0 = greedy (default 1.0)"},
    {O_TOPP, "-p", "--top-p", OPT_REAL, 0, 1, REQUESTS, NULL, "P",
     "nucleus sampling, 0 to 1; 0 or 1 = off (default 0.9); a\n"
     "tiny P keeps only the likeliest tokens (near-greedy)"},
    {O_SEED, "-s", "--seed", OPT_UINT, 0, (double)UINT64_MAX, REQUESTS, NULL, "N",
     "random seed, 0 to 18446744073709551615; 0 = current time\n"
     "(default 0)"},
    {O_STEPS, "-n", "--steps", OPT_UINT, 0, MAX_POSITIONS, REQUESTS | INFO, NULL, "N",
     "positions to run, prompt included, 0 to 1073741824; more\n"
     "than seq_len = seq_len; 0 = the most that fits in the\n"
     "memory available, at most seq_len (default 256; the KV\n"
     "cache holds this many)"},
    {O_PROMPT, "-i", "--prompt", OPT_STRING, 0, 0, RUN, NULL, "TEXT",
     "the prompt (default: empty, or the demo prompt)"},
    {O_TOKENIZER, "-z", "--tokenizer", OPT_STRING, 0, 0, RUN | TOKENIZE | QUANTIZE | BATCH | SERVE,
     NULL, "PATH",
     "tokenizer.bin, or a GGUF file (a model or vocabulary only)\n"
     "whose vocabulary to use (default: a GGUF model's own,\n"
     "else tokenizer.bin beside the checkpoint)"},
    {O_MODE, "-m", "--mode", OPT_CHOICE, 0, 0, RUN, "generate chat", "MODE",
     "generate (default) or chat (Llama 2 chat template; user\n"
     "turns are read line by line from standard input)"},
    {O_SYSTEM, "-y", "--system", OPT_STRING, 0, 0, RUN, NULL, "TEXT", "system prompt for chat"},
    {O_CHAT_TEMPLATE, NULL, "--chat-template", OPT_TEMPLATE, 0, 0, REQUESTS, NULL, "NAME",
     "chat: llama2, mistral-v1, mistral-v3,\n"
     "mistral-v3-tekken, mistral-v7, mistral-v7-tekken, chatml,\n"
     "zephyr or llama3 (default: the model's template; llama2\n"
     "for .bin checkpoints)"},
    {O_THREADS, NULL, "--threads", OPT_UINT, 1, MAX_THREADS, REQUESTS, NULL, "N",
     "worker threads, 1 to 4096 (default: automatic, also\n"
     "OMP_NUM_THREADS); more than the CPUs is a warning"},
    {O_THREAD_LIST, NULL, "--threads", OPT_COUNTS, 1, MAX_THREADS, BENCH, NULL, "N[,N..]",
     "thread counts, each 1 to 4096 (default: 1 and all cores)"},
    {O_ISA, NULL, "--isa", OPT_STRING, 0, 0, LOADERS | BENCH, NULL, "NAME",
     "force a kernel set, one of those `lamina --version` lists\n"
     "(default: the best this CPU runs; also LAMINA_ISA)"},
    {O_KV_TYPE, NULL, "--kv-type", OPT_KV_TYPE, 0, 0, LOADERS | BENCH, NULL, "TYPE",
     "the KV cache's elements: f32 (default) or f16 (half the\n"
     "memory; keys and values rounded to half; other bits)"},
    {O_PARALLEL, NULL, "--parallel", OPT_UINT, 1, MAX_SEQUENCES, INFO | BATCH | SERVE, NULL, "N",
     "info: add up the KV caches of N sequences of -n positions\n"
     "(as lamina batch / serve --parallel N hold), 1 to 4096"},
    {O_CTX, NULL, "--ctx", OPT_UINT, 0, MAX_POSITIONS, BATCH | SERVE, NULL, "N",
     "positions of each sequence's KV cache, the longest a\n"
     "request may use, 0 to 1073741824 (default 0: the most that\n"
     "fits --parallel caches in the memory available, at most\n"
     "seq_len; said on stderr when less)"},
    {O_PROMPT_CACHE_MB, NULL, "--prompt-cache-mb", OPT_UINT, 0, MAX_MIB, BATCH | SERVE, NULL, "N",
     "keep finished requests' KV caches, up to N MiB, for later\n"
     "requests sharing a prefix (chat turns); answers are the\n"
     "same bytes; 0 = off (default: a quarter of the memory\n"
     "available, printed at start)"},
    {O_GROUP_SIZE, NULL, "--group-size", OPT_UINT, 1, 4096, QUANTIZE, NULL, "N",
     "quantize: Q8_0 group size, 1 to 4096 (default: 64, halved\n"
     "until it divides dim and hidden_dim)"},
    {O_QUANT_TYPE, NULL, "--type", OPT_CHOICE, 0, 0, QUANTIZE,
     "q4_0 q4_1 q5_0 q5_1 q8_0 q4_k_s q4_k_m q5_k_s q5_k_m q6_k", "T",
     "quantize: write a GGUF file of T: q4_0, q4_1, q5_0, q5_1,\n"
     "q8_0, q4_k_s, q4_k_m, q5_k_s, q5_k_m or q6_k. Norms stay\n"
     "f32; output.weight (or a tied token_embd) is q6_k (q8_0\n"
     "for q8_0); the _m mixes give attn_v and ffn_down q6_k in\n"
     "the first and last eighth of the layers and every third\n"
     "between, the _s ones q5_k in the first layers; rows that\n"
     "are not whole blocks of 256 fall back to q5_0 (q4_k), q5_1\n"
     "(q5_k) or q8_0 (q6_k), f16 if not of 32"},
    {O_WEIGHTS_CACHE, NULL, "--weights-cache", OPT_STRING, 0, 0, LOADERS, NULL, "DIR",
     "keep the packed weights of each model in DIR (default:\n"
     "$XDG_CACHE_HOME/lamina/weights or ~/.cache/lamina/weights;\n"
     "see `lamina cache --help`)"},
    {O_TENSORS, NULL, "--tensors", OPT_FLAG, 0, 0, INFO, NULL, NULL,
     "info: list each GGUF tensor the model reads (type, shape)"},
    {O_NO_WEIGHTS_CACHE, NULL, "--no-weights-cache", OPT_FLAG, 0, 0, LOADERS, NULL, NULL,
     "pack the weights in memory at every start"},
    /* batch */
    {O_SHARD, NULL, "--shard", OPT_SHARD, 1, 1 << 20, BATCH, NULL, "I/N",
     "take only lines I, I+N, I+2N, ... counting the first line\n"
     "as 0 (0-based): N processes with I = 0 .. N-1 cover the\n"
     "input, and their outputs ordered by id give the unsharded\n"
     "output (line numbers stay those of the whole input)"},
    {O_OUTPUT, "-o", "--output", OPT_STRING, 0, 0, BATCH, NULL, "PATH",
     "write the records there (default stdout); a regular\n"
     "file is written to PATH.tmp-PID-N and renamed over PATH\n"
     "when done (also after SIGINT/SIGTERM); refused when it\n"
     "is an input (MODEL, the tokenizer, INPUT), or a link to\n"
     "one, or read-only"},
    {O_MAX_LINE_BYTES, NULL, "--max-line-bytes", OPT_UINT, 1, 1099511627776.0, BATCH, NULL, "N",
     "longer input lines are error records, not read whole, 1\n"
     "to 1 TiB (default: 1024 per context position, at least\n"
     "1 MiB)"},
    /* serve */
    {O_HOST, NULL, "--host", OPT_STRING, 0, 0, SERVE, NULL, "ADDR",
     "address to listen on (default 127.0.0.1: this machine only)"},
    {O_ALLOW_HOST, NULL, "--allow-host", OPT_STRING, 0, 0, SERVE, NULL, "NAME",
     "also answer requests whose Host is NAME (a proxy's name;\n"
     "repeatable). Bound to loopback, only localhost, 127.0.0.1,\n"
     "[::1] and these are answered (DNS rebinding); bound\n"
     "elsewhere, any Host unless --allow-host narrows it"},
    {O_CORS_ORIGIN, NULL, "--cors-origin", OPT_STRING, 0, 0, SERVE, NULL, "ORIGIN",
     "let pages of ORIGIN (e.g. http://localhost:3000; * for any)\n"
     "call the API from a browser (repeatable; default none:\n"
     "other origins get 403)"},
    {O_PORT, NULL, "--port", OPT_UINT, 0, 65535, SERVE, NULL, "N",
     "TCP port; 0 = any free one, logged (default 8080)"},
    {O_QUEUE, NULL, "--queue", OPT_UINT, 0, 100000, SERVE, NULL, "N",
     "requests waiting beyond --parallel, 0 to 100000; then 503\n"
     "(default 64)"},
    {O_API_KEY, NULL, "--api-key", OPT_STRING, 0, 0, SERVE, NULL, "KEY",
     "require Authorization: Bearer KEY on /v1. Other users see\n"
     "KEY in ps and /proc/PID/cmdline: prefer LAMINA_API_KEY=KEY\n"
     "or --api-key-file"},
    {O_API_KEY_FILE, NULL, "--api-key-file", OPT_STRING, 0, 0, SERVE, NULL, "PATH",
     "read the key from PATH (one line)"},
    {O_ALIAS, NULL, "--alias", OPT_STRING, 0, 0, SERVE, NULL, "NAME",
     "the model's name in the API (default: its file name\n"
     "without .bin, still accepted), for clients with a fixed one"},
    {O_MAX_BODY, NULL, "--max-body", OPT_UINT, 1, 1 << 30, SERVE, NULL, "BYTES",
     "larger request bodies get 413 (default 1048576)"},
    {O_TIMEOUT, NULL, "--timeout", OPT_UINT, 1, 86400, SERVE, NULL, "S",
     "close connections idle this long (default 30)"},
    {O_GRACE, NULL, "--grace", OPT_UINT, 0, 86400, SERVE, NULL, "S",
     "on SIGTERM, running requests get this long (default 30);\n"
     "meanwhile the port stays open, /health and new requests\n"
     "answer 503 (a balancer routes elsewhere); exit 0 when the\n"
     "last one is done; a second signal stops at once"},
    /* bench */
    {O_SHAPE, NULL, "--shape", OPT_STRING, 0, 0, BENCH, NULL, "NAME",
     "a model shape (--list-shapes) or all; repeatable, or\n"
     "comma-separated (default: 15M unless --model is given)"},
    {O_DTYPE, NULL, "--dtype", OPT_STRING, 0, 0, BENCH, NULL, "D[,D..]",
     "f32, q8, q4_0, q4_k_m, q5_k_m, q6_k or all (default f32,q8;\n"
     "7B is not f32; the block types get llama-quantize's\n"
     "per-tensor mixture of that file type)"},
    {O_MODEL, NULL, "--model", OPT_STRING, 0, 0, BENCH, NULL, "PATH",
     "also benchmark this checkpoint (its own dtype)"},
    {O_BATCH_LIST, NULL, "--batch", OPT_COUNTS, 1, MAX_SEQUENCES, BENCH, NULL, "N[,N..]",
     "also run N sequences at once (lm_batch): prefill of N\n"
     "prompts together, then N decoding together; tok/s is\n"
     "the aggregate of all N"},
    {O_PROMPT_TOKENS, NULL, "--prompt-tokens", OPT_UINT, 0, 1000000, BENCH, NULL, "N",
     "prefill batch (default 128)"},
    {O_GEN_TOKENS, NULL, "--gen-tokens", OPT_UINT, 0, 1000000, BENCH, NULL, "N",
     "decoded tokens per repetition (default 128)"},
    {O_REPS, NULL, "--reps", OPT_UINT, 1, 1000, BENCH, NULL, "N",
     "measured repetitions (default 5)"},
    {O_WARMUP, NULL, "--warmup", OPT_UINT, 0, 1000, BENCH, NULL, "N",
     "unmeasured repetitions first (default 1)"},
    {O_JSON, NULL, "--json", OPT_STRING, 0, 0, BENCH, NULL, "FILE",
     "write Google Benchmark-compatible JSON ('-' = stdout)"},
    {O_NO_PROBES, NULL, "--no-probes", OPT_FLAG, 0, 0, BENCH, NULL, NULL,
     "skip the bandwidth and FMA probes (no % columns);\n"
     "--no-membw is the same"},
    {O_NO_PROBES, NULL, "--no-membw", OPT_FLAG, 0, 0, BENCH, NULL, NULL, NULL},
    {O_BENCH_SEED, NULL, "--seed", OPT_UINT, 0, (double)UINT64_MAX, BENCH, NULL, "N",
     "seed of the random weights and token ids (default 1)"},
    {O_LIST_SHAPES, NULL, "--list-shapes", OPT_FLAG, 0, 0, BENCH, NULL, NULL,
     "print the shapes (name and the seven config numbers)"},
};

/* What an option means to the commands that read it otherwise: the help
 * only (names, grammar and range stay those of the table). */
static const struct {
    opt_id id;
    unsigned commands;
    const char *help;
} help_for[] = {
    {O_TEMPERATURE, BATCH | SERVE,
     "the temperature of a request without \"temperature\", 0\n"
     "to 3.4e38; 0 = greedy (default 1.0)"},
    {O_TOPP, BATCH | SERVE,
     "the top-p of a request without \"top_p\", 0 to 1; 0 or 1\n"
     "= off (default 0.9)"},
    {O_SEED, BATCH,
     "the seed of a request without \"seed\", 0 to\n"
     "18446744073709551615; 0 = the current time (default 0)"},
    {O_SEED, SERVE,
     "the seed of a request without \"seed\", 0 to\n"
     "18446744073709551615; 0 = a fresh one per request\n"
     "(default 0)"},
    {O_STEPS, BATCH | SERVE,
     "positions of a request without \"max_tokens\", prompt\n"
     "included, as the CLI's -n, 0 to 1073741824; 0 = all that\n"
     "--ctx holds (default 256)"},
    {O_PARALLEL, BATCH, "sequences run at once, 1 to 4096 (default 16)"},
    {O_PARALLEL, SERVE, "requests generating at once, 1 to 4096 (default 8)"},
    {O_CHAT_TEMPLATE, BATCH,
     "the template of \"messages\": llama2, mistral-v1, mistral-v3,\n"
     "mistral-v3-tekken, mistral-v7, mistral-v7-tekken, chatml,\n"
     "zephyr or llama3 (default: the model's; llama2 for .bin\n"
     "checkpoints)"},
    {O_CHAT_TEMPLATE, SERVE,
     "the chat endpoint's template: llama2, mistral-v1,\n"
     "mistral-v3, mistral-v3-tekken, mistral-v7,\n"
     "mistral-v7-tekken, chatml, zephyr or llama3 (default: the\n"
     "model's; llama2 for .bin checkpoints)"},
    {O_TOKENIZER, QUANTIZE,
     "--type: a llama2.c model's tokenizer.bin (default:\n"
     "tokenizer.bin beside IN)"},
    {O_TOKENIZER, BATCH | SERVE,
     "tokenizer.bin, or a GGUF file whose vocabulary to use\n"
     "(default: a GGUF MODEL's own, else tokenizer.bin beside\n"
     "MODEL)"},
};

static const char *help_of(const opt_spec *o, opt_command view) {
    for (size_t i = 0; i < sizeof help_for / sizeof help_for[0]; i++)
        if (help_for[i].id == o->id && (help_for[i].commands & (1u << view)))
            return help_for[i].help;
    return o->help;
}

const opt_spec *opt_table(size_t *n) {
    *n = sizeof table / sizeof table[0];
    return table;
}

static const char *const programs[] = {
    [OPT_RUN] = "lamina",         [OPT_TOKENIZE] = "lamina",    [OPT_INFO] = "lamina",
    [OPT_QUANTIZE] = "lamina",    [OPT_BENCH] = "lamina bench", [OPT_BATCH] = "lamina batch",
    [OPT_SERVE] = "lamina serve",
};
static const char *const command_names[] = {
    [OPT_RUN] = "generation",    [OPT_TOKENIZE] = "tokenize", [OPT_INFO] = "info",
    [OPT_QUANTIZE] = "quantize", [OPT_BENCH] = "bench",       [OPT_BATCH] = "batch",
    [OPT_SERVE] = "serve",
};

const char *opt_program(opt_command c) { return programs[c]; }

static opt_event fail(char *err, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static opt_event fail(char *err, size_t len, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, len, fmt, ap);
    va_end(ap);
    return OPT_ERROR;
}

/* ---- the number grammar ------------------------------------------------- */

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* Digits from s; returns how many, and whether one was not 0. */
static size_t digits(const char *s, int *nonzero) {
    size_t n = 0;
    for (; is_digit(s[n]); n++)
        if (s[n] != '0') *nonzero = 1;
    return n;
}

int opt_parse_uint(const char *s, uint64_t max, uint64_t *out) {
    int negative = *s == '-', nonzero = 0;
    const char *d = s + (*s == '-' || *s == '+');
    size_t n = digits(d, &nonzero);
    if (n == 0 || d[n] != '\0') return OPT_NUM_SYNTAX;
    if (negative && nonzero) return OPT_NUM_RANGE;
    errno = 0;
    unsigned long long v = strtoull(d, NULL, 10);
    if (errno == ERANGE || v > max) return OPT_NUM_RANGE;
    *out = v;
    return OPT_NUM_OK;
}

int opt_parse_real(const char *s, double min, double max, double *out, int *tiny) {
    int nonzero = 0, exp_nonzero = 0;
    const char *p = s + (*s == '-' || *s == '+');
    size_t whole = digits(p, &nonzero), frac = 0;
    p += whole;
    if (*p == '.') {
        frac = digits(++p, &nonzero);
        p += frac;
    }
    if (whole + frac == 0) return OPT_NUM_SYNTAX;
    if (*p == 'e' || *p == 'E') {
        p += 1 + (p[1] == '-' || p[1] == '+');
        size_t e = digits(p, &exp_nonzero);
        if (e == 0) return OPT_NUM_SYNTAX;
        p += e;
    }
    if (*p != '\0') return OPT_NUM_SYNTAX;
    errno = 0;
    double v = strtod(s, NULL); /* the grammar above is a subset of strtod's */
    if (!isfinite(v) || v < min || v > max) return OPT_NUM_RANGE;
    *tiny = nonzero && (float)v == 0.0f; /* too small for a float, but not zero */
    if (v == 0.0) v = 0.0;               /* -0 is 0 */
    *out = v;
    return OPT_NUM_OK;
}

/* ---- values --------------------------------------------------------------- */

static uint64_t umax(const opt_spec *o) { /* (double)UINT64_MAX is 2^64 */
    return o->max >= (double)UINT64_MAX ? UINT64_MAX : (uint64_t)o->max;
}

static opt_event number_error(const opt_spec *o, const char *name, const char *v, int rc, char *err,
                              size_t len) {
    if (rc == OPT_NUM_SYNTAX)
        return fail(err, len, "%s: '%s' is not a %s", name, v,
                    o->kind == OPT_REAL ? "decimal number" : "decimal integer");
    if (o->kind != OPT_REAL && o->max >= (double)UINT64_MAX)
        return fail(err, len, "%s: %s is out of range (from %g to %llu)", name, v, o->min,
                    (unsigned long long)UINT64_MAX);
    return fail(err, len, "%s: %s is out of range (from %g to %g)", name, v, o->min, o->max);
}

/* An integer in o's range. */
static int get_uint(const opt_spec *o, const char *name, const char *v, uint64_t *out, char *err,
                    size_t len) {
    int rc = opt_parse_uint(v, umax(o), out);
    if (rc == OPT_NUM_OK && *out < (uint64_t)o->min) rc = OPT_NUM_RANGE;
    return rc ? (number_error(o, name, v, rc, err, len), -1) : 0;
}

static opt_event get_counts(const opt_spec *o, const char *name, const char *v, opt_value *val,
                            char *err, size_t len) {
    const char *p = v;
    do {
        size_t n = strcspn(p, ",");
        char item[32];
        if (n >= sizeof item)
            return fail(err, len, "%s: '%.*s' is not a decimal integer", name,
                        (int)(n > 40 ? 40 : n), p);
        memcpy(item, p, n);
        item[n] = '\0';
        uint64_t u;
        if (get_uint(o, name, item, &u, err, len)) return OPT_ERROR;
        int dup = 0;
        for (int i = 0; i < val->n_counts; i++) dup |= val->counts[i] == (int)u;
        if (!dup && val->n_counts == OPT_MAX_COUNTS)
            return fail(err, len, "%s: at most %d counts", name, OPT_MAX_COUNTS);
        if (!dup) val->counts[val->n_counts++] = (int)u;
        p += n + (p[n] == ',');
    } while (*p);
    return OPT_OPTION;
}

static opt_event get_shard(const opt_spec *o, const char *name, const char *v, opt_value *val,
                           char *err, size_t len) {
    const char *slash = strchr(v, '/');
    char first[32];
    uint64_t i, n;
    size_t k = slash ? (size_t)(slash - v) : 0;
    if (slash && k < sizeof first) memcpy(first, v, k), first[k] = '\0';
    if (!slash || k >= sizeof first || opt_parse_uint(first, UINT64_MAX, &i) ||
        opt_parse_uint(slash + 1, umax(o), &n) || n < 1 || i >= n)
        return fail(err, len, "%s: '%s' is not I/N with 0 <= I < N <= %g", name, v, o->max);
    val->shard_i = (int)i;
    val->shard_n = (int)n;
    return OPT_OPTION;
}

static opt_event get_choice(const opt_spec *o, const char *name, const char *v, opt_value *val,
                            char *err, size_t len) {
    const char *p = o->choices;
    size_t vl = strlen(v);
    for (uint64_t k = 0; *p; k++) {
        size_t n = strcspn(p, " ");
        if (n == vl && strncmp(p, v, n) == 0) return val->u = k, OPT_OPTION;
        p += n + (p[n] == ' ');
    }
    char words[160];
    snprintf(words, sizeof words, "%s", o->choices);
    char *last = strrchr(words, ' ');
    if (last && last == strchr(words, ' ')) { /* two words: "a or b" */
        memmove(last + 4, last + 1, strlen(last + 1) + 1);
        memcpy(last, " or ", 4);
    } else if (last) { /* more: "a, b, ... or z", and the value after the list */
        char list[sizeof words + 64] = "";
        for (const char *w = o->choices; *w;) {
            size_t n = strcspn(w, " "), used = strlen(list);
            const char *sep = !used ? "" : w[n] ? ", " : " or ";
            snprintf(list + used, sizeof list - used, "%s%.*s", sep, (int)n, w);
            w += n + (w[n] == ' ');
        }
        return fail(err, len, "%s: not %s: '%s'", name, list, v);
    }
    char noun[16] = "";
    for (size_t k = 0; o->arg[k] && k + 1 < sizeof noun; k++)
        noun[k] = (char)(o->arg[k] - 'A' + 'a'), noun[k + 1] = '\0';
    return fail(err, len, "%s: '%s' is not a %s (%s)", name, v, noun, words);
}

static opt_event get_value(const opt_spec *o, const char *name, const char *v, opt_value *val,
                           char *err, size_t len) {
    *val = (opt_value){.str = v};
    switch (o->kind) {
    case OPT_REAL: {
        int rc = opt_parse_real(v, o->min, o->max, &val->real, &val->tiny);
        return rc ? number_error(o, name, v, rc, err, len) : OPT_OPTION;
    }
    case OPT_UINT: return get_uint(o, name, v, &val->u, err, len) ? OPT_ERROR : OPT_OPTION;
    case OPT_COUNTS: return get_counts(o, name, v, val, err, len);
    case OPT_SHARD: return get_shard(o, name, v, val, err, len);
    case OPT_CHOICE: return get_choice(o, name, v, val, err, len);
    case OPT_KV_TYPE: {
        lm_kv_type t;
        lm_error e;
        if (lm_kv_type_parse(v, &t, &e)) return fail(err, len, "%s: %s", name, e.msg);
        return val->u = (uint64_t)t, OPT_OPTION;
    }
    case OPT_TEMPLATE:
        if (lm_chat_template_from_name(v) == LM_CHAT_UNKNOWN)
            return fail(err, len, "%s: '%s' is not one of: %s", name, v, lm_chat_template_names());
        return OPT_OPTION;
    default: return OPT_OPTION;
    }
}

/* ---- the walk ----------------------------------------------------------- */

/* The entry named name (up to n bytes) that command takes, else any entry
 * of that name (*applies = 0), else NULL. */
static const opt_spec *find(const char *name, size_t n, opt_command command, int *applies) {
    const opt_spec *other = NULL;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        const opt_spec *o = &table[i];
        int match =
            (o->short_name && strlen(o->short_name) == n && strncmp(name, o->short_name, n) == 0) ||
            (strlen(o->long_name) == n && strncmp(name, o->long_name, n) == 0);
        if (!match) continue;
        if (o->commands & (1u << command)) return *applies = 1, o;
        other = o;
    }
    *applies = 0;
    return other;
}

void opt_begin(opt_parser *p, opt_command command, int argc, char **argv, int first) {
    *p = (opt_parser){.command = command, .argc = argc, .argv = argv, .i = first};
}

opt_event opt_next(opt_parser *p, const opt_spec **spec, opt_value *val, char *err, size_t len) {
    if (p->i >= p->argc) return OPT_END;
    const char *arg = p->argv[p->i++];
    int is_option = !p->options_end && arg[0] == '-' && arg[1] != '\0';
    if (is_option && strcmp(arg, "--") == 0) {
        p->options_end = 1;
        return opt_next(p, spec, val, err, len);
    }
    if (!is_option) return *val = (opt_value){.str = arg}, OPT_POSITIONAL;
    if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) return OPT_HELP;
    if (strcmp(arg, "--version") == 0 && p->command <= OPT_QUANTIZE) return OPT_VERSION;
    const char *eq = arg[1] == '-' ? strchr(arg, '=') : NULL; /* --name=value */
    size_t n = eq ? (size_t)(eq - arg) : strlen(arg);
    int applies;
    const opt_spec *o = find(arg, n, p->command, &applies);
    const char *prog = programs[p->command];
    if (!o) return fail(err, len, "unknown option '%.*s' (see %s --help)", (int)n, arg, prog);
    const char *name = arg;
    char buf[64];
    if (eq) snprintf(buf, sizeof buf, "%.*s", (int)n, arg), name = buf;
    if (!applies)
        return fail(err, len, "%s does not apply to %s (see %s --help)", name,
                    command_names[p->command], prog);
    *spec = o;
    if (o->kind == OPT_FLAG) {
        if (eq) return fail(err, len, "%s takes no value", name);
        return *val = (opt_value){0}, OPT_OPTION;
    }
    const char *v = eq ? eq + 1 : NULL;
    if (!v && p->i >= p->argc) return fail(err, len, "%s needs a value", name);
    if (!v) v = p->argv[p->i++];
    return get_value(o, name, v, val, err, len);
}

opt_event opt_parse_all(opt_command command, int argc, char **argv, int first, opt_take *take,
                        void *ctx, int *status, char *err, size_t len) {
    opt_parser p;
    opt_begin(&p, command, argc, argv, first);
    *status = 0;
    for (;;) {
        const opt_spec *spec = NULL;
        opt_value v;
        opt_event e = opt_next(&p, &spec, &v, err, len);
        if (e == OPT_ERROR) *status = 2;
        if (e != OPT_OPTION && e != OPT_POSITIONAL) return e;
        if ((*status = take(ctx, e == OPT_OPTION ? spec : NULL, &v, err, len))) return OPT_ERROR;
    }
}

/* ---- help --------------------------------------------------------------- */

#define HELP_COLUMN 24

void opt_help(FILE *out, unsigned mask, opt_command view) {
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        const opt_spec *o = &table[i];
        if (!(o->commands & mask) || !o->help) continue;
        const char *help = help_of(o, view);
        char head[64];
        int n = snprintf(head, sizeof head, "  %s%s%s%s%s", o->short_name ? o->short_name : "   ",
                         o->short_name ? ", " : " ", o->long_name, o->arg ? " " : "",
                         o->arg ? o->arg : "");
        fputs(head, out);
        fprintf(out, "%*s", n + 2 > HELP_COLUMN ? 2 : HELP_COLUMN - n, "");
        for (const char *h = help; *h;) {
            size_t k = strcspn(h, "\n");
            fprintf(out, "%.*s\n", (int)k, h);
            h += k;
            if (*h == '\n' && *++h) fprintf(out, "%*s", HELP_COLUMN, "");
        }
    }
}

void opt_usage(FILE *out, opt_command command, const char *head, const char *tail) {
    fputs(head, out);
    opt_help(out, 1u << command, command);
    fputs("  -h, --help            this help\n", out);
    if (tail) fputs(tail, out);
}

void opt_names(opt_command command, char *buf, size_t len) {
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof table / sizeof table[0] && used < len; i++) {
        const opt_spec *o = &table[i];
        if (!(o->commands & (1u << command)) || !o->help) continue;
        int n = snprintf(buf + used, len - used, "%s%s", used ? ", " : "",
                         o->short_name ? o->short_name : o->long_name);
        if (n < 0) break;
        used += (size_t)n;
    }
}

const char *opt_tokenizer_default(const char *model, char *buf, size_t len) {
    if (lm_file_is_gguf(model)) return model;
    const char *slash = strrchr(model, '/');
    int dir = slash ? (int)(slash - model) + 1 : 0;
    int n = snprintf(buf, len, "%.*stokenizer.bin", dir, model);
    return n >= 0 && (size_t)n < len ? buf : NULL;
}
