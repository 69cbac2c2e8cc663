/* `lamina batch` (batch.h): reads requests as slots free up, steps the batch,
 * and writes each request's record once it and every earlier one are done. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "batch.h"
#include "batch_lines.h"
#include "batch_output.h"
#include "lamina.h"
#include "request.h"

static volatile sig_atomic_t got_signal;

static void on_signal(int sig) { got_signal = sig; }

typedef struct slot {
    lm_request_run *run;
    batch_record *rec;
} slot;

typedef struct batch_state {
    const batch_args *a;
    lm_model *model;
    lm_tokenizer *tok;
    lm_batch *b;
    int max_ctx;
    lm_request_rules rules;
    batch_lines in;
    batch_output out;
    slot *slots; /* (a->parallel) the running requests: [0, n_running) */
    int n_running;
    lm_batch_event *events;
    long line_no, done, total; /* total: requests in the input, -1 if unknown */
    long tokens;
    double t0, last_progress;
    int progress; /* stderr is a terminal */
    int failed_runtime;
    long first_bad_line;
    char first_bad[700];
} batch_state;

static int fail(const char *what, const char *msg) {
    fprintf(stderr, "lamina: error: %s%s%s\n", what, *what ? ": " : "", msg);
    return 1;
}

/* Record the first failed request for the summary. */
static void note_failure(batch_state *st, long line, const char *msg) {
    if (st->first_bad_line) return;
    st->first_bad_line = line;
    snprintf(st->first_bad, sizeof st->first_bad, "%s", msg);
}

static int finish_error(batch_state *st, batch_record *rec, const char *msg) {
    char text[700];
    snprintf(text, sizeof text, "line %ld: %s", rec->line, msg);
    note_failure(st, rec->line, text);
    st->done++;
    return batch_record_finish(rec, "error", "", 0, 0, text);
}

/* The id of a line that failed to parse, when it has a usable one: its record
 * should still sort where it belongs. */
static cJSON *salvage_id(const char *line, size_t len) {
    cJSON *obj = cJSON_ParseWithLength(line, len);
    cJSON *id = cJSON_GetObjectItemCaseSensitive(obj, "id");
    cJSON *copy = cJSON_IsString(id) || cJSON_IsNumber(id) ? cJSON_Duplicate(id, 0) : NULL;
    cJSON_Delete(obj);
    return copy;
}

static int blank(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!strchr(" \t\r\n\f\v", s[i]) || !s[i]) return 0;
    return 1;
}

/* Start the request on one input line (a slot is free): a running slot, or
 * an error record. -1 only when out of memory. */
static int admit(batch_state *st, const char *line, size_t len) {
    batch_record *rec = batch_output_open(&st->out, st->line_no);
    if (!rec) return -1;
    lm_request req;
    lm_error e = {{0}};
    if (lm_request_parse_text(line, len, &st->rules, &req, &e)) {
        rec->id = salvage_id(line, len);
        return finish_error(st, rec, e.msg);
    }
    rec->id = req.id;
    req.id = NULL;
    lm_request_run *run = lm_request_prepare(st->tok, st->max_ctx, &req, &e);
    lm_request_free(&req);
    if (!run) return finish_error(st, rec, e.msg);
    if (lm_request_submit(run, st->b, &e)) {
        lm_request_run_free(run);
        return finish_error(st, rec, e.msg);
    }
    st->slots[st->n_running++] = (slot){run, rec};
    return 0;
}

/* The run in slot i has finished: its record is complete, the slot free. */
static int complete(batch_state *st, int i) {
    slot s = st->slots[i];
    st->slots[i] = st->slots[--st->n_running];
    lm_request_finish f = lm_request_finish_reason(s.run);
    const char *text = lm_request_text(s.run, NULL);
    char msg[700];
    const char *err = NULL;
    if (f == LM_REQUEST_ERROR) {
        snprintf(msg, sizeof msg, "line %ld: %s", s.rec->line, lm_request_error(s.run));
        note_failure(st, s.rec->line, msg);
        err = msg;
    }
    int rc =
        batch_record_finish(s.rec, lm_request_finish_name(f), text, lm_request_prompt_tokens(s.run),
                            lm_request_completion_tokens(s.run), err);
    st->tokens += lm_request_completion_tokens(s.run);
    st->done++;
    lm_request_run_free(s.run);
    return rc;
}

/* Is this input line (1-based) in our shard? */
static int in_shard(const batch_state *st, long line) {
    return (line - 1) % st->a->shard_n == st->a->shard_i;
}

/* Read lines while slots are free; waits for input only when nothing runs.
 * Returns 1 at the end of input (or a read error, printed), else 0. */
static int read_requests(batch_state *st, int *read_failed) {
    while (!got_signal && st->n_running < st->a->parallel) {
        char *line;
        size_t len;
        batch_lines_status s = batch_lines_next(&st->in, st->n_running == 0, &line, &len);
        if (s == LINES_AGAIN) return 0;
        if (s == LINES_EOF) return 1;
        if (s == LINES_ERROR) {
            fail("reading the input", strerror(st->in.error));
            *read_failed = 1;
            return 1;
        }
        st->line_no++;
        if (!in_shard(st, st->line_no) || blank(line, len)) continue;
        if (admit(st, line, len)) {
            fail("", "out of memory");
            *read_failed = 1;
            return 1;
        }
    }
    return 0;
}

/* One batch step; its events fed to their runs. */
static void step(batch_state *st) {
    lm_error e = {{0}};
    int n = lm_batch_step(st->b, st->events, &e);
    if (n < 0) { /* the batch has ended every sequence */
        st->failed_runtime = 1;
        for (int i = 0; i < st->n_running; i++) lm_request_fail(st->slots[i].run, e.msg);
        while (st->n_running) complete(st, st->n_running - 1);
        return;
    }
    for (int k = 0; k < n; k++)
        for (int i = 0; i < st->n_running; i++)
            if (lm_request_seq(st->slots[i].run) == st->events[k].seq) {
                if (lm_request_feed(st->slots[i].run, st->b, &st->events[k])) complete(st, i);
                break;
            }
}

static void progress(batch_state *st, int last) {
    if (!st->progress) return;
    double now = lm_seconds(), dt = now - st->t0;
    if (!last && now - st->last_progress < 0.25) return;
    st->last_progress = now;
    double rate = dt > 0 ? (double)st->tokens / dt : 0;
    char eta[32] = "?";
    if (st->total >= 0 && st->done > 0) {
        long s = (long)(dt / (double)st->done * (double)(st->total - st->done));
        snprintf(eta, sizeof eta, "%ld:%02ld", s / 60, s % 60);
    }
    if (st->total >= 0)
        fprintf(stderr, "\rlamina batch: %ld/%ld requests, %.1f tok/s, ETA %s   ", st->done,
                st->total, rate, eta);
    else
        fprintf(stderr, "\rlamina batch: %ld requests, %.1f tok/s   ", st->done, rate);
    if (last) fputc('\n', stderr);
}

/* Requests in a regular input file within our shard (for the progress line). */
static long count_requests(const batch_state *st, const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    char *line = NULL;
    size_t cap = 0;
    long n = 0, no = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, f)) >= 0)
        if (in_shard(st, ++no) && !blank(line, (size_t)len)) n++;
    free(line);
    fclose(f);
    return n;
}

/* tokenizer.bin in the checkpoint's folder, as the CLI looks for it. */
/* A GGUF model carries its vocabulary; a llama2.c checkpoint has its
 * tokenizer.bin in its folder. */
static const char *tokenizer_beside(const char *checkpoint, char *buf, size_t size) {
    if (lm_file_is_gguf(checkpoint)) return checkpoint;
    char copy[PATH_MAX];
    snprintf(copy, sizeof copy, "%s", checkpoint);
    snprintf(buf, size, "%s/tokenizer.bin", dirname(copy));
    return buf;
}

static int open_engine(batch_state *st) {
    const batch_args *a = st->a;
    lm_error e;
    const char *env = getenv("LAMINA_ISA");
    const char *isa = a->isa ? a->isa : env && *env ? env : NULL;
    if (isa && lm_isa_check(isa, &e)) {
        fprintf(stderr, "lamina: error: %s: %s\n", a->isa ? "--isa" : "LAMINA_ISA", e.msg);
        return 2;
    }
    st->model = lm_model_load(a->model, &e);
    if (!st->model) return fail("", e.msg);
    lm_model_info info = lm_model_get_info(st->model);
    char path[PATH_MAX + 32];
    const char *tok = a->tokenizer ? a->tokenizer : tokenizer_beside(a->model, path, sizeof path);
    st->tok = lm_tokenizer_load(tok, info.config.vocab_size, &e);
    if (!st->tok) return fail("", e.msg);
    st->max_ctx = info.config.seq_len;
    lm_batch_params p = {a->parallel, st->max_ctx, a->threads, isa};
    st->b = lm_batch_new(st->model, p, &e);
    if (!st->b) return fail("", e.msg);
    st->slots = calloc((size_t)a->parallel, sizeof *st->slots);
    st->events = calloc((size_t)a->parallel, sizeof *st->events);
    return st->slots && st->events ? 0 : fail("", "out of memory");
}

static int open_files(batch_state *st) {
    const batch_args *a = st->a;
    int in = 0, out = 1;
    if (a->input && strcmp(a->input, "-")) {
        in = open(a->input, O_RDONLY | O_CLOEXEC);
        if (in < 0) return fail(a->input, strerror(errno));
        batch_lines_init(&st->in, in); /* closed by close_all */
        struct stat sb;
        if (fstat(in, &sb) == 0 && S_ISDIR(sb.st_mode)) return fail(a->input, "is a directory");
        if (S_ISREG(sb.st_mode)) st->total = count_requests(st, a->input);
    }
    batch_lines_init(&st->in, in);
    if (a->output && strcmp(a->output, "-")) {
        out = open(a->output, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
        if (out < 0) return fail(a->output, strerror(errno));
    }
    batch_output_init(&st->out, out, a->output && strcmp(a->output, "-") ? a->output : "stdout");
    return 0;
}

static void close_all(batch_state *st) {
    for (int i = 0; i < st->n_running; i++) lm_request_run_free(st->slots[i].run);
    if (st->in.fd > 0) close(st->in.fd);
    batch_lines_free(&st->in);
    if (st->out.fd > 1) close(st->out.fd);
    batch_output_free(&st->out);
    free(st->slots);
    free(st->events);
    lm_batch_free(st->b);
    lm_tokenizer_free(st->tok);
    lm_model_free(st->model);
}

static void install_signals(void) {
    struct sigaction sa = {0};
    sa.sa_handler = on_signal; /* no SA_RESTART: a blocking read returns */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN); /* a closed pipe is a write error (EPIPE), reported */
}

/* The main loop; returns the exit status. */
static int run(batch_state *st) {
    int eof = 0, read_failed = 0;
    st->t0 = lm_seconds();
    for (;;) {
        if (!eof) eof = read_requests(st, &read_failed);
        if (got_signal)
            while (st->n_running) {
                lm_request_cancel(st->slots[0].run, st->b);
                complete(st, 0);
            }
        if (batch_output_flush(&st->out)) break;
        progress(st, 0);
        if (got_signal || (eof && !st->n_running)) break;
        if (st->n_running) step(st);
    }
    progress(st, 1);
    if (st->out.write_errno) {
        char what[PATH_MAX + 16];
        snprintf(what, sizeof what, "writing %s", st->out.name);
        return fail(what, strerror(st->out.write_errno));
    }
    fprintf(stderr, "lamina: %ld requests, %ld tokens generated in %.1f s (%.1f tok/s)\n",
            st->out.written, st->tokens, lm_seconds() - st->t0,
            st->tokens / (lm_seconds() - st->t0 + 1e-9));
    if (got_signal) {
        fprintf(stderr,
                "lamina: stopped by signal %d: running requests cancelled, input read "
                "up to line %ld\n",
                (int)got_signal, st->line_no);
        return 128 + got_signal;
    }
    if (st->out.failed)
        fprintf(stderr, "lamina: error: %ld of %ld requests failed (first: %s)\n", st->out.failed,
                st->out.written, st->first_bad);
    return st->out.failed || read_failed || st->failed_runtime ? 1 : 0;
}

int cli_batch(int argc, char **argv) {
    batch_args a;
    int rc = batch_parse_args(argc, argv, &a);
    if (rc) return rc > 0 ? (fputs(batch_usage, stdout), 0) : 2;
    batch_state st = {.a = &a, .total = -1, .progress = isatty(2)};
    st.rules = lm_request_rules_default();
    st.rules.temperature = a.temperature;
    st.rules.topp = a.topp;
    st.rules.seed = a.seed;
    st.rules.steps = a.steps;
    batch_lines_init(&st.in, -1);
    batch_output_init(&st.out, -1, "stdout");
    rc = open_engine(&st);
    if (!rc) rc = open_files(&st);
    if (!rc) {
        install_signals();
        rc = run(&st);
    }
    close_all(&st);
    return rc;
}
