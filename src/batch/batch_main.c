/* `lamina batch` (batch.h): reads requests as slots free up, steps the batch,
 * and writes each request's record once it and every earlier one are done. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "batch.h"
#include "batch_id.h"
#include "batch_lines.h"
#include "batch_output.h"
#include "lamina.h"
#include "options.h"
#include "outfile.h"
#include "request.h"
#include "wcache.h"

static volatile sig_atomic_t got_signal;

static void on_signal(int sig) { got_signal = sig; }

/* A request: its n choices (runs[0] = run), started in order as batch slots
 * free. The others start from choice 0's prompt KV (first: a copy of it,
 * held until they all have started) once choice 0 has fed its prompt. */
typedef struct slot {
    lm_request_run *run;
    batch_record *rec;
    lm_request_run *runs[LM_REQUEST_MAX_N];
    int n, started, fed; /* fed: choice 0's prompt is through */
    lm_prefix *first;
} slot;

typedef struct batch_state {
    const batch_args *a;
    lm_model *model;
    lm_tokenizer *tok;
    lm_batch *b;
    lm_prompt_cache *cache; /* NULL: --prompt-cache-mb 0 */
    int max_ctx;
    lm_chat_template chat; /* the template of "messages" */
    char chat_error[512];  /* why there is none: requests with messages fail with it */
    lm_request_rules rules;
    batch_lines in;
    lm_outfile file; /* where out writes: -o (a temporary until the end) or stdout */
    batch_output out;
    batch_ids ids; /* every record's id so far, to refuse one given twice */
    slot *slots;   /* (a->parallel) the running requests: [0, n_running) */
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

/* A note of the weights cache (an image it could not write). */
static void batch_note(void *arg, const char *line) {
    (void)arg;
    fprintf(stderr, "lamina: warning: %s\n", line);
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

/* The record's id: the line's "id" as written (rec->id), or its line number
 * when it has none. 0; 1 with err when the id cannot be echoed or is another
 * record's (the record becomes an error); -1 when out of memory. */
static int take_id(batch_state *st, batch_record *rec, const char *line, size_t len,
                   lm_error *err) {
    const char *v;
    size_t vn;
    char *key, number[32];
    if (batch_id_find(line, len, &v, &vn)) {
        if (batch_id_key(v, vn, &key, err)) return 1; /* the line number stands in */
        if (!(rec->id = strndup(v, vn))) return free(key), -1;
    } else {
        snprintf(number, sizeof number, "%ld", rec->line);
        if (batch_id_key(number, strlen(number), &key, err)) return -1;
    }
    long first = batch_ids_add(&st->ids, key, rec->line);
    if (first < 0) return -1;
    if (!first) return 0;
    if (rec->id)
        snprintf(err->msg, sizeof err->msg,
                 "field 'id': line %ld has the same id; ids must be unique", first);
    else
        snprintf(err->msg, sizeof err->msg,
                 "no 'id', and its line number is the id of line %ld; ids must be unique", first);
    return 1;
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
    lm_error e = {{0}}, id_err = {{0}};
    int id_bad = take_id(st, rec, line, len, &id_err);
    if (id_bad < 0) return -1;
    lm_request req;
    if (lm_request_parse_text(line, len, &st->rules, &req, &e)) return finish_error(st, rec, e.msg);
    if (id_bad) {
        lm_request_free(&req);
        return finish_error(st, rec, id_err.msg);
    }
    if (req.n > st->a->parallel) {
        char msg[120];
        snprintf(msg, sizeof msg, "field 'n': %d choices, more than --parallel %d", req.n,
                 st->a->parallel);
        lm_request_free(&req);
        return finish_error(st, rec, msg);
    }
    if (req.n > 1 && !req.seed) req.seed = (uint64_t)time(NULL); /* one seed for all: seed + i */
    req.chat_template = st->chat;
    if (req.messages && st->chat_error[0]) {
        lm_request_free(&req);
        return finish_error(st, rec, st->chat_error);
    }
    slot s = {.rec = rec, .n = req.n};
    for (int i = 0; i < req.n; i++) {
        s.runs[i] = lm_request_prepare_choice(st->tok, st->max_ctx, &req, i, &e);
        if (!s.runs[i]) {
            for (int k = 0; k < i; k++) lm_request_run_free(s.runs[k]);
            lm_request_free(&req);
            return finish_error(st, rec, e.msg);
        }
        lm_request_set_cache(s.runs[i], st->cache, NULL);
    }
    lm_request_free(&req);
    s.run = s.runs[0];
    if (s.n > 1) lm_request_keep(s.run); /* its prompt's KV for the others */
    st->slots[st->n_running++] = s;
    return 0;
}

/* A line over --max-line-bytes: an error record (its id, when the part kept
 * holds one whole), never parsed or tokenized. -1 only when out of memory. */
static int refuse_long(batch_state *st, const char *line, size_t len) {
    batch_record *rec = batch_output_open(&st->out, st->line_no);
    if (!rec) return -1;
    lm_error id_err = {{0}};
    if (take_id(st, rec, line, len, &id_err) < 0) return -1;
    char msg[160];
    snprintf(msg, sizeof msg, "the line is longer than %zu bytes, the limit (--max-line-bytes)",
             st->in.max_line);
    return finish_error(st, rec, msg);
}

/* A run's "logprobs" as JSON text (malloc'd), or NULL without memory. */
static char *logprobs_text(const lm_request_run *run) {
    cJSON *lp = lm_request_logprobs_json(run, lm_request_is_chat(run), 0, INT_MAX);
    char *t = lp ? cJSON_PrintUnformatted(lp) : NULL;
    cJSON_Delete(lp);
    return t;
}

/* The run in slot i has finished: its record is complete, the slot free. */
static int complete(batch_state *st, int i) {
    slot s = st->slots[i];
    st->slots[i] = st->slots[--st->n_running];
    lm_request_finish f = lm_request_finish_reason(s.run);
    const char *text = lm_request_text(s.run, NULL);
    char msg[700];
    const char *err = NULL;
    int completion = 0;
    for (int c = 0; c < s.n; c++) {
        completion += lm_request_completion_tokens(s.runs[c]);
        if (lm_request_finish_reason(s.runs[c]) == LM_REQUEST_ERROR && !err) {
            snprintf(msg, sizeof msg, "line %ld: %s", s.rec->line, lm_request_error(s.runs[c]));
            note_failure(st, s.rec->line, msg);
            err = msg;
            f = LM_REQUEST_ERROR;
        }
    }
    int rc;
    if (s.n == 1 || err) {
        rc = batch_record_finish(s.rec, lm_request_finish_name(f), err ? "" : text,
                                 lm_request_prompt_tokens(s.run), completion, err);
        if (!rc && !err && lm_request_has_logprobs(s.run)) /* after error: as serve's */
            rc = !(s.rec->logprobs = logprobs_text(s.run));
    } else {
        const char *texts[LM_REQUEST_MAX_N], *finishes[LM_REQUEST_MAX_N];
        for (int c = 0; c < s.n; c++) {
            texts[c] = lm_request_text(s.runs[c], NULL); /* as "text": with echo, the prompt too */
            finishes[c] = lm_request_finish_name(lm_request_finish_reason(s.runs[c]));
        }
        rc = batch_record_finish_choices(s.rec, s.n, finishes, texts,
                                         lm_request_prompt_tokens(s.run), completion);
        if (!rc && lm_request_has_logprobs(s.run)) {
            s.rec->choice_logprobs = calloc((size_t)s.n, sizeof *s.rec->choice_logprobs);
            rc = !s.rec->choice_logprobs;
            for (int c = 0; !rc && c < s.n; c++)
                rc = !(s.rec->choice_logprobs[c] = logprobs_text(s.runs[c]));
        }
    }
    st->tokens += completion;
    st->done++;
    for (int c = 0; c < s.n; c++) lm_request_run_free(s.runs[c]);
    lm_prefix_free(s.first);
    return rc;
}

/* Is this input line (1-based) in our shard? */
static int in_shard(const batch_state *st, long line) {
    return (line - 1) % st->a->shard_n == st->a->shard_i;
}

/* Sequences the running requests need, started or not. */
static int demand(const batch_state *st) {
    int n = 0;
    for (int i = 0; i < st->n_running; i++) n += st->slots[i].n;
    return n;
}

static int all_finished(const slot *s) {
    for (int c = 0; c < s->n; c++)
        if (!lm_request_finish_reason(s->runs[c])) return 0;
    return 1;
}

/* Start what can start, oldest request first: choice 0 when a batch slot is
 * free, the others once choice 0 has fed its prompt. A choice that cannot
 * start ends its request (the others are cancelled). Requests all of whose
 * choices have ended are completed. -1 only when out of memory. */
static int start_pending(batch_state *st) {
    lm_error e;
    for (int i = 0; i < st->n_running; i++) {
        slot *s = &st->slots[i];
        int use = lm_request_prompt_tokens(s->run) - 1;
        while (s->started < s->n && lm_batch_free_slots(st->b) > 0 && (s->started == 0 || s->fed)) {
            lm_request_run *r = s->runs[s->started];
            int rc = s->started == 0
                         ? lm_request_submit(r, st->b, &e)
                         : lm_request_submit_prefix(r, st->b, s->first, s->first ? use : 0, &e);
            s->started++;
            if (rc)
                for (int c = s->started; c < s->n; c++) lm_request_cancel(s->runs[c], st->b);
            if (rc) s->started = s->n;
        }
        if (s->started == s->n) {
            lm_prefix_free(s->first);
            s->first = NULL;
        }
    }
    for (int i = st->n_running - 1; i >= 0; i--)
        if (st->slots[i].started == st->slots[i].n && all_finished(&st->slots[i]) &&
            complete(st, i))
            return -1;
    return 0;
}

/* Read lines while slots are free; waits for input only when nothing runs.
 * Returns 1 at the end of input (or a read error, printed), else 0. */
static int read_requests(batch_state *st, int *read_failed) {
    while (!got_signal && demand(st) < st->a->parallel) {
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
        if (!in_shard(st, st->line_no) || (s == LINES_OK && blank(line, len))) continue;
        if (s == LINES_TOO_LONG ? refuse_long(st, line, len) : admit(st, line, len)) {
            fail("", "out of memory");
            *read_failed = 1;
            return 1;
        }
    }
    return 0;
}

/* Choice 0 has fed its prompt (ev is its first event): keep the prompt's KV
 * less its last position for the other choices (from the event when choice
 * 0 ended there; else a copy; none for a prompt of one token, or without
 * memory: they then feed the whole prompt, to the same text). */
static void take_first(batch_state *st, slot *s, lm_batch_event *ev) {
    s->fed = 1;
    int use = lm_request_prompt_tokens(s->run) - 1;
    if (use < 1) return;
    if (ev->prefix) {
        s->first = ev->prefix;
        ev->prefix = NULL;
    } else {
        s->first = lm_batch_snapshot(st->b, ev->seq, use, NULL);
    }
}

/* One batch step; its events fed to their runs. */
static void step(batch_state *st) {
    lm_error e = {{0}};
    int n = lm_batch_step(st->b, st->events, &e);
    if (n < 0) { /* the batch has ended every sequence */
        st->failed_runtime = 1;
        for (int i = 0; i < st->n_running; i++)
            for (int c = 0; c < st->slots[i].n; c++) lm_request_fail(st->slots[i].runs[c], e.msg);
        while (st->n_running) complete(st, st->n_running - 1);
        return;
    }
    for (int k = 0; k < n; k++)
        for (int i = 0; i < st->n_running; i++) {
            slot *s = &st->slots[i];
            int c = 0;
            while (c < s->n && lm_request_seq(s->runs[c]) != st->events[k].seq) c++;
            if (c == s->n) continue;
            if (c == 0 && s->n > 1 && !s->fed) take_first(st, s, &st->events[k]);
            lm_request_feed(s->runs[c], st->b, &st->events[k]);
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

/* Requests in a regular input file within our shard (for the progress line),
 * read in chunks: a line is never held whole. */
static long count_requests(const batch_state *st, const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    static char buf[65536];
    long n = 0, no = 0;
    int text = 0; /* the line so far has more than white space */
    ssize_t got;
    while ((got = read(fd, buf, sizeof buf)) > 0)
        for (ssize_t i = 0; i < got; i++) {
            if (buf[i] == '\n') {
                n += in_shard(st, ++no) && text;
                text = 0;
            } else if (!blank(buf + i, 1)) {
                text = 1;
            }
        }
    n += text && in_shard(st, ++no); /* a last line without '\n' */
    close(fd);
    return n;
}

/* The output is none of the files the command reads (outfile.h), checked
 * before anything is loaded or opened for writing. */
static int check_output(const batch_state *st, const char *tok) {
    const batch_args *a = st->a;
    int from_stdin = !a->input || !strcmp(a->input, "-");
    lm_outfile_input in[] = {{"the model", a->model, -1},
                             {"the tokenizer", tok, -1},
                             {"the input", from_stdin ? NULL : a->input, 0}};
    lm_error e;
    return lm_outfile_check(a->output, in, 3, &e) ? fail("", e.msg) : 0;
}

/* The prompt cache: --prompt-cache-mb, or a share of the memory available. */
static int open_cache(batch_state *st, const lm_config *c) {
    long mb = st->a->prompt_cache_mb;
    lm_kv_type kv = LM_KV_F32;
    if (st->a->kv_type) lm_kv_type_parse(st->a->kv_type, &kv, NULL); /* checked before */
    uint64_t bytes = mb >= 0 ? (uint64_t)mb << 20
                             : lm_prompt_cache_default_bytes(lm_kv_bytes(c, st->max_ctx, kv) *
                                                             (uint64_t)st->a->parallel);
    if (bytes == 0) return 0;
    st->cache = lm_prompt_cache_new(bytes);
    return st->cache ? 0 : -1;
}

static int open_engine(batch_state *st, const char *tok) {
    const batch_args *a = st->a;
    lm_error e;
    const char *env = getenv("LAMINA_ISA");
    const char *isa = a->isa ? a->isa : env && *env ? env : NULL;
    if (isa && lm_isa_check(isa, &e)) {
        fprintf(stderr, "lamina: error: %s: %s\n", a->isa ? "--isa" : "LAMINA_ISA", e.msg);
        return 2;
    }
    wcache_opts wc = {a->weights_cache, a->no_weights_cache, 0};
    st->model = wcache_load(a->model, &wc, batch_note, NULL, &e);
    if (!st->model) return fail("", e.msg);
    lm_model_info info = lm_model_get_info(st->model);
    st->tok = lm_tokenizer_load(tok, info.config.vocab_size, &e);
    if (!st->tok) return fail("", e.msg);
    st->rules.vocab_size = lm_tokenizer_vocab_size(st->tok); /* token ids in requests */
    lm_kv_type kv = LM_KV_F32;
    if (a->kv_type && lm_kv_type_parse(a->kv_type, &kv, &e)) return fail("", e.msg);
    if (a->ctx > info.config.seq_len) {
        snprintf(e.msg, sizeof e.msg, "--ctx %d is more than the model's seq_len %d", a->ctx,
                 info.config.seq_len);
        return fail("", e.msg);
    }
    st->max_ctx = a->ctx;
    if (!st->max_ctx) { /* the most that fits, said where it is less than seq_len */
        char why[256];
        st->max_ctx = lm_context_choose(st->model, a->parallel, kv, a->threads, why, sizeof why);
        if (st->max_ctx < info.config.seq_len) fprintf(stderr, "lamina: %s\n", why);
        if (st->max_ctx < 1) return fail("", "no memory for the KV caches");
    }
    /* A model whose template is unknown still runs prompts (a tokenizer.bin
     * has no template text: llama2). */
    if (lm_chat_template_choose(a->chat_template, lm_tokenizer_chat_template(st->tok), &st->chat,
                                &e))
        snprintf(st->chat_error, sizeof st->chat_error, "%s", e.msg);
    lm_batch_params p = {a->parallel, st->max_ctx, a->threads, isa, kv};
    st->b = lm_batch_new(st->model, p, &e);
    if (!st->b) return fail("", e.msg);
    if (open_cache(st, &info.config)) return fail("", "out of memory");
    st->slots = calloc((size_t)a->parallel, sizeof *st->slots);
    st->events = calloc((size_t)a->parallel, sizeof *st->events);
    return st->slots && st->events ? 0 : fail("", "out of memory");
}

/* The input, then the output (signal handlers are in place by then: a signal
 * commits what is done, so none may find a temporary unguarded). */
static int open_files(batch_state *st) {
    const batch_args *a = st->a;
    int in = 0;
    if (a->input && strcmp(a->input, "-")) {
        in = open(a->input, O_RDONLY | O_CLOEXEC);
        if (in < 0) return fail(a->input, strerror(errno));
        batch_lines_init(&st->in, in); /* closed by close_all */
        struct stat sb;
        if (fstat(in, &sb) == 0 && S_ISDIR(sb.st_mode)) return fail(a->input, "is a directory");
        if (S_ISREG(sb.st_mode)) st->total = count_requests(st, a->input);
    }
    batch_lines_init(&st->in, in);
    st->in.max_line = a->max_line ? a->max_line : batch_default_max_line(st->max_ctx);
    lm_error e;
    if (lm_outfile_open(&st->file, a->output, &e)) return fail("", e.msg);
    batch_output_init(&st->out, st->file.fd, st->file.name);
    return 0;
}

static void close_all(batch_state *st) {
    for (int i = 0; i < st->n_running; i++) {
        for (int c = 0; c < st->slots[i].n; c++) lm_request_run_free(st->slots[i].runs[c]);
        lm_prefix_free(st->slots[i].first);
    }
    if (st->in.fd > 0) close(st->in.fd);
    batch_lines_free(&st->in);
    lm_outfile_abort(&st->file); /* no temporary is left after a commit */
    batch_output_free(&st->out);
    batch_ids_free(&st->ids);
    free(st->slots);
    free(st->events);
    lm_batch_free(st->b);
    lm_prompt_cache_free(st->cache);
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
    if (st->a->prompt_cache_mb < 0) /* the default's size: once all is open */
        fprintf(stderr, "lamina: prompt cache %llu MiB (--prompt-cache-mb)\n",
                (unsigned long long)(lm_prompt_cache_get_stats(st->cache).cap_bytes >> 20));
    for (;;) {
        if (!eof) eof = read_requests(st, &read_failed);
        if (start_pending(st)) {
            fail("", "out of memory");
            read_failed = 1;
            break;
        }
        if (got_signal)
            while (st->n_running) {
                for (int c = 0; c < st->slots[0].n; c++)
                    lm_request_cancel(st->slots[0].runs[c], st->b);
                complete(st, 0);
            }
        if (batch_output_flush(&st->out)) break;
        progress(st, 0);
        if (got_signal || (eof && !st->n_running)) break;
        if (st->n_running) step(st);
    }
    progress(st, 1);
    if (st->out.write_errno) { /* the target keeps what it held before */
        char what[PATH_MAX + 16];
        snprintf(what, sizeof what, "writing %s", st->out.name);
        return fail(what, strerror(st->out.write_errno));
    }
    lm_error e;
    if (lm_outfile_commit(&st->file, &e)) return fail("", e.msg);
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
    if (rc) return rc > 0 ? (batch_print_usage(stdout), 0) : 2;
    batch_state st = {.a = &a, .total = -1, .progress = isatty(2)};
    st.rules = lm_request_rules_default();
    st.rules.temperature = a.temperature;
    st.rules.topp = a.topp;
    st.rules.seed = a.seed;
    st.rules.steps = a.steps;
    batch_lines_init(&st.in, -1);
    batch_output_init(&st.out, -1, "stdout");
    st.file = (lm_outfile){.fd = -1};
    char path[PATH_MAX + 32];
    const char *tok = a.tokenizer ? a.tokenizer : opt_tokenizer_default(a.model, path, sizeof path);
    if (!tok) return fprintf(stderr, "lamina: error: %s: the path is too long\n", a.model), 1;
    rc = check_output(&st, tok);
    if (!rc) rc = open_engine(&st, tok);
    if (!rc) {
        install_signals();
        rc = open_files(&st);
    }
    if (!rc) rc = run(&st);
    close_all(&st);
    return rc;
}
