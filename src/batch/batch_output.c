/* Ordered JSONL output (batch_output.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batch_output.h"
#include "bytes.h"
#include "request.h"

void batch_output_init(batch_output *o, int fd, const char *name) {
    *o = (batch_output){.fd = fd, .name = name};
}

static void record_free(batch_record *r) {
    if (!r) return;
    free(r->id);
    free(r->text);
    free(r->error);
    free(r->logprobs);
    for (int i = 0; r->texts && i < r->n; i++) free(r->texts[i]);
    free(r->texts);
    free(r->finishes);
    for (int i = 0; r->choice_logprobs && i < r->n; i++) free(r->choice_logprobs[i]);
    free(r->choice_logprobs);
    free(r);
}

void batch_output_free(batch_output *o) {
    for (size_t i = 0; i < o->n; i++) record_free(o->queue[(o->head + i) % o->cap]);
    free(o->queue);
    *o = (batch_output){.fd = -1};
}

static int grow(batch_output *o) {
    size_t cap = o->cap ? o->cap * 2 : 64;
    batch_record **q = malloc(cap * sizeof *q);
    if (!q) return -1;
    for (size_t i = 0; i < o->n; i++) q[i] = o->queue[(o->head + i) % o->cap];
    free(o->queue);
    o->queue = q;
    o->cap = cap;
    o->head = 0;
    return 0;
}

batch_record *batch_output_open(batch_output *o, long line) {
    if (o->n == o->cap && grow(o)) return NULL;
    batch_record *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->line = line;
    o->queue[(o->head + o->n++) % o->cap] = r;
    return r;
}

int batch_record_finish(batch_record *r, const char *finish, const char *text, int prompt_tokens,
                        int completion_tokens, const char *error) {
    r->text = strdup(text ? text : "");
    r->error = error ? strdup(error) : NULL;
    r->prompt_tokens = prompt_tokens;
    r->completion_tokens = completion_tokens;
    r->finish = finish;
    return r->text && (!error || r->error) ? 0 : -1;
}

int batch_record_finish_choices(batch_record *r, int n, const char *const *finishes,
                                const char *const *texts, int prompt_tokens,
                                int completion_tokens) {
    r->texts = calloc((size_t)n, sizeof *r->texts);
    r->finishes = calloc((size_t)n, sizeof *r->finishes);
    if (!r->texts || !r->finishes) return -1;
    r->n = n;
    for (int i = 0; i < n; i++) {
        r->finishes[i] = finishes[i];
        if (!(r->texts[i] = strdup(texts[i]))) return -1;
    }
    r->prompt_tokens = prompt_tokens;
    r->completion_tokens = completion_tokens;
    r->finish = "choices";
    return 0;
}

/* A text field: JSON text is UTF-8, a GGUF model's text may not be (U+FFFD
 * for each byte that starts no character; the CLI prints the bytes). */
static void add_text(cJSON *o, const char *key, const char *s) {
    char *t = lm_utf8_repair(s, strlen(s));
    if (t) cJSON_AddStringToObject(o, key, t);
    free(t);
}

/* {"id", "choices", "prompt_tokens", "completion_tokens", "error"}. */
static char *render_choices(const batch_record *r, cJSON *o, cJSON *id) {
    cJSON *list = cJSON_AddArrayToObject(o, "choices");
    for (int i = 0; list && i < r->n; i++) {
        cJSON *c = cJSON_CreateObject();
        if (!c) break;
        cJSON_AddNumberToObject(c, "index", i);
        add_text(c, "text", r->texts[i]);
        cJSON_AddStringToObject(c, "finish_reason", r->finishes[i]);
        if (r->choice_logprobs && r->choice_logprobs[i])
            cJSON_AddItemToObject(c, "logprobs", cJSON_CreateRaw(r->choice_logprobs[i]));
        cJSON_AddItemToArray(list, c);
    }
    cJSON_AddNumberToObject(o, "prompt_tokens", r->prompt_tokens);
    cJSON_AddNumberToObject(o, "completion_tokens", r->completion_tokens);
    cJSON_AddNullToObject(o, "error");
    char *s = id && list && cJSON_GetArraySize(list) == r->n && cJSON_GetArraySize(o) == 5
                  ? cJSON_PrintUnformatted(o)
                  : NULL;
    cJSON_Delete(o);
    return s;
}

/* The record as one JSON line, malloc'd; NULL if out of memory. */
static char *render(const batch_record *r) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    /* the id's own text, never a double's: 5000000000000001 stays itself */
    cJSON *id = r->id ? cJSON_CreateRaw(r->id) : cJSON_CreateNumber((double)r->line);
    if (id) cJSON_AddItemToObject(o, "id", id);
    if (r->n > 1) return render_choices(r, o, id);
    add_text(o, "text", r->text ? r->text : "");
    cJSON_AddNumberToObject(o, "prompt_tokens", r->prompt_tokens);
    cJSON_AddNumberToObject(o, "completion_tokens", r->completion_tokens);
    cJSON_AddStringToObject(o, "finish_reason", r->finish);
    if (r->error)
        cJSON_AddStringToObject(o, "error", r->error);
    else
        cJSON_AddNullToObject(o, "error");
    cJSON *lp = r->logprobs ? cJSON_CreateRaw(r->logprobs) : NULL;
    if (lp) cJSON_AddItemToObject(o, "logprobs", lp);
    char *s = id && cJSON_GetArraySize(o) == 6 + !!r->logprobs ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    return s;
}

/* write() until done; a signal in between does not cut a record. */
static int write_all(int fd, const char *p, size_t n) {
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* The finished records at the front, rendered into one buffer (*buf NULL
 * when none is finished); -1 if out of memory. */
static int render_front(batch_output *o, char **buf, size_t *len, size_t *count) {
    lm_bytes b = {0};
    size_t k = 0;
    for (; k < o->n; k++) {
        batch_record *r = o->queue[(o->head + k) % o->cap];
        if (!r->finish) break;
        char *s = render(r);
        int failed = !s || lm_bytes_add(&b, s, strlen(s), 4096) || lm_bytes_add(&b, "\n", 1, 0);
        free(s);
        if (failed) {
            free(b.p);
            *buf = NULL;
            return -1;
        }
    }
    *buf = b.p;
    *len = b.len;
    *count = k;
    return 0;
}

int batch_output_flush(batch_output *o) {
    if (o->write_errno) return -1;
    char *buf;
    size_t len = 0, count = 0;
    if (render_front(o, &buf, &len, &count)) return o->write_errno = ENOMEM, -1;
    if (!count) return 0;
    int rc = write_all(o->fd, buf, len);
    if (rc) o->write_errno = errno ? errno : EIO;
    free(buf);
    if (rc) return -1;
    for (size_t i = 0; i < count; i++) {
        batch_record *r = o->queue[o->head];
        o->failed += r->error != NULL;
        record_free(r);
        o->head = (o->head + 1) % o->cap;
        o->n--;
    }
    o->written += (long)count;
    return 0;
}
