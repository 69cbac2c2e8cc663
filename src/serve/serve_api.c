/* OpenAI's API shapes for `lamina serve`: request bodies in (through the
 * shared request parser, src/request), completion objects, stream chunks,
 * error objects and the model list out. No sockets here, so the fuzz target
 * (tests/fuzz/fuzz_serve_body.c) drives serve_parse directly.
 *
 * GET /v1/models lists one model:
 *   {"object":"list","data":[{"id":"kjv1m","object":"model","created":T,
 *    "owned_by":"lamina", "format":"fp32"|"q8_0"|"gguf", "kernels":"avx2",
 *    "threads":2, "parallel":4, "queue":64, "ctx":256, "seq_len":256,
 *    "defaults":{"temperature":1.0,"top_p":0.9,"seed":0,"steps":256}}]}
 * (the extra fields feed the chat page's footer and controls). */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "bytes.h"
#include "serve_job.h"

/* The length of the valid UTF-8 character at s (n bytes left), or 0. */
static size_t utf8_char(const unsigned char *s, size_t n) {
    if (s[0] < 0x80) return 1;
    size_t len = s[0] >= 0xC2 && s[0] <= 0xDF   ? 2
                 : s[0] >= 0xE0 && s[0] <= 0xEF ? 3
                 : s[0] >= 0xF0 && s[0] <= 0xF4 ? 4
                                                : 0;
    if (len == 0 || len > n) return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    if (len == 3 && ((s[0] == 0xE0 && s[1] < 0xA0) || (s[0] == 0xED && s[1] >= 0xA0)))
        return 0; /* overlong, or a UTF-16 surrogate */
    if (len == 4 && ((s[0] == 0xF0 && s[1] < 0x90) || (s[0] == 0xF4 && s[1] >= 0x90)))
        return 0; /* overlong, or past U+10FFFF */
    return len;
}

static int utf8_valid(const char *s) {
    size_t n = strlen(s);
    for (size_t i = 0, k; i < n; i += k)
        if (!(k = utf8_char((const unsigned char *)s + i, n - i))) return 0;
    return 1;
}

/* Messages quote what clients sent and are cut to fit: every byte that is
 * not part of a whole UTF-8 character becomes '?', so that the error object
 * is valid JSON text whatever was quoted or where it was cut. */
static void utf8_repair(char *s) {
    size_t n = strlen(s);
    for (size_t i = 0, k; i < n; i += k)
        if (!(k = utf8_char((const unsigned char *)s + i, n - i))) s[i] = '?', k = 1;
}

void serve_error_set(serve_error *e, int status, const char *type, const char *param,
                     const char *code, const char *fmt, ...) {
    e->status = status;
    e->type = type;
    e->param = param;
    e->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    utf8_repair(e->message);
}

static cJSON *string_or_null(const char *s) {
    return s ? cJSON_CreateString(s) : cJSON_CreateNull();
}

static cJSON *error_object(const serve_error *e) {
    cJSON *root = cJSON_CreateObject();
    cJSON *err = cJSON_AddObjectToObject(root, "error");
    cJSON_AddStringToObject(err, "message", e->message);
    cJSON_AddStringToObject(err, "type", e->type ? e->type : "invalid_request_error");
    cJSON_AddItemToObject(err, "param", string_or_null(e->param));
    cJSON_AddItemToObject(err, "code", string_or_null(e->code));
    return root;
}

static char *print_free(cJSON *root) {
    char *s = root ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    return s;
}

char *serve_error_json(const serve_error *e) { return print_free(error_object(e)); }

static uint64_t random_u64(void) {
    uint64_t x = 0;
    if (getrandom(&x, sizeof x, 0) != (ssize_t)sizeof x) x = (uint64_t)time(NULL) * 2654435761u;
    return x;
}

/* ---- parsing --------------------------------------------------------------- */

static const char *const extra_fields[] = {"model", "stream", "stream_options", "user", NULL};

/* The field an lm_request_parse message names ("field 'max_tokens': ..."),
 * copied into buf, for the error object's param. */
static const char *field_named(const char *msg, char *buf, size_t cap) {
    const char *p = strstr(msg, "field '");
    if (!p) return NULL;
    p += 7;
    size_t n = strcspn(p, "'");
    if (n == 0 || n >= cap || p[n] != '\'') return NULL;
    memcpy(buf, p, n);
    buf[n] = '\0';
    utf8_repair(buf); /* the name as the client wrote it, maybe not UTF-8 */
    return buf;
}

static int bad(serve_error *e, const char *param, const char *code, const char *fmt,
               const char *arg) {
    serve_error_set(e, 400, "invalid_request_error", param, code, fmt, arg);
    return -1;
}

static int check_model(const serve_model *m, const cJSON *model, serve_error *e) {
    if (!model || cJSON_IsNull(model)) return 0;
    if (!cJSON_IsString(model))
        return bad(e, "model", NULL, "field 'model': expected a string%s", "");
    if (!utf8_valid(model->valuestring))
        return bad(e, "model", NULL, "field 'model': not valid UTF-8%s", "");
    if (strcmp(model->valuestring, m->id) != 0 &&
        !(m->file_id && strcmp(model->valuestring, m->file_id) == 0)) {
        bad(e, "model", "model_not_found",
            "model '%.200s' is not served here (GET /v1/models lists the one that is)",
            model->valuestring);
        e->status = 404; /* as OpenAI answers */
        return -1;
    }
    return 0;
}

/* The fields the server reads itself: model, stream, stream_options, user. */
static int parse_extras(const serve_model *m, const cJSON *root, int *stream, int *usage,
                        serve_error *e) {
    if (check_model(m, cJSON_GetObjectItemCaseSensitive(root, "model"), e)) return -1;
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(root, "stream");
    if (s && !cJSON_IsNull(s) && !cJSON_IsBool(s))
        return bad(e, "stream", NULL, "field 'stream': expected true or false%s", "");
    *stream = cJSON_IsTrue(s);
    const cJSON *so = cJSON_GetObjectItemCaseSensitive(root, "stream_options");
    *usage = 0;
    if (so && !cJSON_IsNull(so)) {
        if (!cJSON_IsObject(so))
            return bad(e, "stream_options", NULL, "field 'stream_options': expected an object%s",
                       "");
        if (!*stream)
            return bad(e, "stream_options", NULL,
                       "field 'stream_options': only allowed when 'stream' is true%s", "");
        for (const cJSON *f = so->child; f; f = f->next) {
            if (strcmp(f->string, "include_usage") != 0)
                return bad(e, "stream_options", NULL,
                           "field 'stream_options': unknown field '%.100s'", f->string);
            if (!cJSON_IsBool(f))
                return bad(e, "stream_options", NULL,
                           "field 'stream_options.include_usage': expected true or false%s", "");
            *usage = cJSON_IsTrue(f);
        }
    }
    const cJSON *user = cJSON_GetObjectItemCaseSensitive(root, "user");
    if (user && !cJSON_IsNull(user) && !cJSON_IsString(user))
        return bad(e, "user", NULL, "field 'user': expected a string%s", "");
    return 0;
}

static lm_request_rules rules_for(const serve_model *m, serve_kind kind) {
    const serve_config *cfg = m->cfg;
    lm_request_rules r = lm_request_rules_default();
    r.extra_fields = extra_fields;
    r.allow_prompt = kind == SERVE_COMPLETION;
    r.allow_messages = kind == SERVE_CHAT;
    r.allow_echo = kind == SERVE_COMPLETION;
    r.temperature = cfg->temperature;
    r.topp = cfg->topp;
    r.steps = cfg->steps;
    /* Without a seed each request gets its own (the CLI's -s 0 would give
     * every request of the same second the same one). */
    r.seed = cfg->seed ? cfg->seed : (random_u64() | 1);
    r.vocab_size = lm_tokenizer_vocab_size(m->tok);
    return r;
}

static struct serve_job *job_new(const serve_model *m, serve_kind kind) {
    struct serve_job *job = calloc(1, sizeof *job);
    if (!job) return NULL;
    job->kind = kind;
    job->model = m->id;
    job->created = (long long)time(NULL);
    job->seq = -1;
    job->fd = -1;
    snprintf(job->id, sizeof job->id, "%s-%016llx", kind == SERVE_CHAT ? "chatcmpl" : "cmpl",
             (unsigned long long)random_u64());
    return job;
}

void serve_job_free(struct serve_job *job) {
    if (!job) return;
    lm_prefix_free(job->first);
    for (int i = 1; i < job->req.n; i++) lm_request_run_free(job->runs[i]);
    lm_request_run_free(job->run);
    lm_request_free(&job->req);
    free(job->out);
    free(job);
}

/* cJSON stops at the end of the first value; anything after it but white
 * space makes the body malformed. */
static int only_space(const char *p, const char *end) {
    for (; p < end; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') return 0;
    return 1;
}

/* Where the body writes \u0000 inside a string (a NUL, at which cJSON's
 * C strings would silently end): the offsets of the escapes' "0000", up to
 * cap of them; returns how many there are. */
static size_t nul_escapes(const char *body, size_t len, size_t *at, size_t cap) {
    size_t n = 0;
    for (size_t i = 0, in = 0; i < len; i++) {
        if (!in) {
            in = body[i] == '"';
        } else if (body[i] == '\\') {
            if (i + 5 < len && body[i + 1] == 'u' && memcmp(body + i + 2, "0000", 4) == 0) {
                if (n < cap) at[n] = i + 2;
                n++;
            }
            i++;
        } else if (body[i] == '"') {
            in = 0;
        }
    }
    return n;
}

/* Has a string under a (member names included) come out shorter than its
 * twin in b, the same body with every \u0000 read as \u0001? */
static int cut_by_nul(const cJSON *a, const cJSON *b) {
    for (; a && b; a = a->next, b = b->next) {
        if (a->string && b->string && strlen(a->string) != strlen(b->string)) return 1;
        if (cJSON_IsString(a) && strlen(a->valuestring) != strlen(b->valuestring)) return 1;
        if (cut_by_nul(a->child, b->child)) return 1;
    }
    return 0;
}

/* A \u0000 in any string is refused naming the top-level field it is in,
 * found by parsing the body again with each one read as \u0001. */
static int refuse_nul(const cJSON *root, const char *body, size_t len, serve_error *e) {
    size_t at[64];
    size_t n = nul_escapes(body, len, at, 64);
    if (n == 0) return 0;
    static __thread char name[64];
    snprintf(name, sizeof name, "?");
    char *copy = malloc(len);
    cJSON *twin = NULL;
    if (copy) {
        memcpy(copy, body, len);
        for (size_t i = 0; i < n && i < 64; i++) copy[at[i] + 3] = '1';
        twin = cJSON_ParseWithLength(copy, len);
    }
    /* (More than 64 escapes: the first cut field is still found among them,
     * or the message names no field.) */
    for (const cJSON *a = root->child, *b = twin ? twin->child : NULL; a && b;
         a = a->next, b = b->next) {
        if (!(a->string && strlen(a->string) != strlen(b->string)) &&
            !(cJSON_IsString(a) && strlen(a->valuestring) != strlen(b->valuestring)) &&
            !cut_by_nul(a->child, b->child))
            continue;
        snprintf(name, sizeof name, "%s", a->string ? a->string : "?");
        utf8_repair(name);
        break;
    }
    cJSON_Delete(twin);
    free(copy);
    return bad(e, name, NULL, "field '%s': \\u0000 (a NUL character) is not allowed in a string",
               name);
}

int serve_parse(const serve_model *m, serve_kind kind, const char *body, size_t len,
                struct serve_job **out, serve_error *e) {
    *out = NULL;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
    if (!root || !end || !only_space(end, body + len)) {
        cJSON_Delete(root);
        return bad(e, NULL, NULL, "the body is not valid JSON%s", "");
    }
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return bad(e, NULL, NULL, "the body must be a JSON object%s", "");
    }
    if (refuse_nul(root, body, len, e)) {
        cJSON_Delete(root);
        return -1;
    }
    int stream = 0, usage = 0;
    if (parse_extras(m, root, &stream, &usage, e)) {
        cJSON_Delete(root);
        return -1;
    }
    struct serve_job *job = job_new(m, kind);
    if (!job) {
        cJSON_Delete(root);
        serve_error_set(e, 500, "server_error", NULL, NULL, "out of memory");
        return -1;
    }
    job->stream = stream;
    job->include_usage = usage;
    lm_request_rules rules = rules_for(m, kind);
    lm_error err;
    int rc = lm_request_parse(root, &rules, &job->req, &err);
    cJSON_Delete(root);
    static __thread char param[64];
    if (rc) {
        free(job);
        return bad(e, field_named(err.msg, param, sizeof param), NULL, "%s", err.msg);
    }
    job->req.chat_template = m->cfg->chat_template;
    if (kind == SERVE_CHAT && m->cfg->chat_error[0]) {
        serve_job_free(job);
        return bad(e, "messages", NULL, "%s", m->cfg->chat_error);
    }
    if (job->req.n > m->cfg->parallel) {
        static __thread char msg[160];
        snprintf(msg, sizeof msg,
                 "field 'n': %d choices, but this server runs at most %d sequences at once "
                 "(--parallel)",
                 job->req.n, m->cfg->parallel);
        serve_job_free(job);
        return bad(e, "n", NULL, "%s", msg);
    }
    for (int i = 0; i < job->req.n; i++) {
        job->runs[i] = lm_request_prepare_choice(m->tok, m->cfg->ctx, &job->req, i, &err);
        job->run = job->runs[0];
        if (!job->runs[i]) {
            serve_job_free(job);
            return bad(e, kind == SERVE_CHAT ? "messages" : "prompt", "context_length_exceeded",
                       "%s", err.msg);
        }
    }
    *out = job;
    return 0;
}

/* ---- responses ---------------------------------------------------------- */

static int append(struct serve_job *job, const char *s, size_t n) {
    lm_bytes b = {job->out, job->out_len, job->out_cap};
    if (lm_bytes_add(&b, s, n, 1024)) return -1;
    job->out = b.p, job->out_len = b.len, job->out_cap = b.cap;
    return 0;
}

/* One server-sent event: "data: JSON\n\n". */
static int append_event(struct serve_job *job, cJSON *obj) {
    char *s = print_free(obj);
    if (!s) return -1;
    int rc = append(job, "data: ", 6) || append(job, s, strlen(s)) || append(job, "\n\n", 2);
    free(s);
    return rc ? -1 : 0;
}

static cJSON *object_head(const struct serve_job *job, const char *object) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", job->id);
    cJSON_AddStringToObject(o, "object", object);
    cJSON_AddNumberToObject(o, "created", (double)job->created);
    cJSON_AddStringToObject(o, "model", job->model);
    return o;
}

/* The prompt counts once, however many choices were sampled from it. */
static cJSON *usage_object(const struct serve_job *job) {
    int p = lm_request_prompt_tokens(job->run), c = 0;
    for (int i = 0; i < job->req.n; i++) c += lm_request_completion_tokens(job->runs[i]);
    cJSON *u = cJSON_CreateObject();
    cJSON_AddNumberToObject(u, "prompt_tokens", p);
    cJSON_AddNumberToObject(u, "completion_tokens", c);
    cJSON_AddNumberToObject(u, "total_tokens", p + c);
    return u;
}

/* A choice: {"index":0, text or message or delta, "logprobs":null,
 * "finish_reason":...}. finish NULL = null (a chunk before the last). */
static cJSON *choice(struct serve_job *job, int index, const char *text, size_t len,
                     const char *finish, int chunk, size_t lp_upto) {
    cJSON *c = cJSON_CreateObject();
    cJSON_AddNumberToObject(c, "index", index);
    char *t = lm_utf8_repair(text ? text : "", text ? len : 0); /* JSON: UTF-8 */
    if (job->kind == SERVE_COMPLETION) {
        cJSON_AddStringToObject(c, "text", t ? t : "");
    } else {
        cJSON *msg = cJSON_AddObjectToObject(c, chunk ? "delta" : "message");
        if (!chunk || !job->roles[index]) cJSON_AddStringToObject(msg, "role", "assistant");
        if (!chunk || len) cJSON_AddStringToObject(msg, "content", t ? t : "");
    }
    free(t);
    cJSON_AddItemToObject(c, "logprobs", serve_logprobs_json(job, index, lp_upto));
    cJSON_AddItemToObject(c, "finish_reason", string_or_null(finish));
    return c;
}

static const char *chunk_object(const struct serve_job *job) {
    return job->kind == SERVE_CHAT ? "chat.completion.chunk" : "text_completion";
}

int serve_api_delta_at(struct serve_job *job, int i, const char *text, size_t len) {
    cJSON *o = object_head(job, chunk_object(job));
    cJSON *choices = cJSON_AddArrayToObject(o, "choices");
    /* logprobs for the tokens whose text begins before this chunk's end */
    size_t upto = (size_t)(text - lm_request_text(job->runs[i], NULL)) + len;
    cJSON_AddItemToArray(choices, choice(job, i, text, len, NULL, 1, upto));
    job->roles[i] = 1;
    return append_event(job, o);
}

int serve_api_delta(struct serve_job *job, const char *text, size_t len) {
    return serve_api_delta_at(job, 0, text, len);
}

/* The text a client sees: with echo the prompt first, else the completion. */
static const char *visible_text(const struct serve_job *job, int i, size_t *len) {
    size_t n = 0;
    const char *t = lm_request_text(job->runs[i], &n);
    size_t from = job->req.echo ? 0 : lm_request_completion_offset(job->runs[i]);
    if (from > n) from = n;
    *len = n - from;
    return t + from;
}

static const char *finish_name(const struct serve_job *job, int i) {
    const char *f = lm_request_finish_name(lm_request_finish_reason(job->runs[i]));
    return f ? f : "stop";
}

/* A stream's end of choice i: the rest of its text, then its finish reason
 * in a chunk of its own. */
static int stream_end(struct serve_job *job, int i) {
    size_t len;
    const char *text = visible_text(job, i, &len);
    if (len > job->sent[i] && serve_api_delta_at(job, i, text + job->sent[i], len - job->sent[i]))
        return -1;
    job->sent[i] = len;
    cJSON *o = object_head(job, chunk_object(job));
    cJSON *choices = cJSON_AddArrayToObject(o, "choices");
    cJSON_AddItemToArray(choices, choice(job, i, "", 0, finish_name(job, i), 1, SIZE_MAX));
    job->roles[i] = 1;
    return append_event(job, o);
}

int serve_api_final(struct serve_job *job) {
    if (!job->stream) {
        cJSON *o =
            object_head(job, job->kind == SERVE_CHAT ? "chat.completion" : "text_completion");
        cJSON *choices = cJSON_AddArrayToObject(o, "choices");
        for (int i = 0; i < job->req.n; i++) {
            size_t len;
            const char *text = visible_text(job, i, &len);
            cJSON_AddItemToArray(choices,
                                 choice(job, i, text, len, finish_name(job, i), 0, SIZE_MAX));
        }
        cJSON_AddItemToObject(o, "usage", usage_object(job));
        char *body = print_free(o);
        int rc = body ? append(job, body, strlen(body)) : -1;
        free(body);
        return rc;
    }
    for (int i = 0; i < job->req.n; i++)
        if (stream_end(job, i)) return -1;
    cJSON *o;
    if (job->include_usage) {
        o = object_head(job, chunk_object(job));
        cJSON_AddArrayToObject(o, "choices");
        cJSON_AddItemToObject(o, "usage", usage_object(job));
        if (append_event(job, o)) return -1;
    }
    return append(job, "data: [DONE]\n\n", 14);
}

int serve_api_comment(struct serve_job *job) { return append(job, ": \n\n", 4); }

int serve_api_stream_error(struct serve_job *job) {
    if (append_event(job, error_object(&job->err))) return -1;
    return append(job, "data: [DONE]\n\n", 14);
}

static const char *reason_phrase(int status) {
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 503: return "Service Unavailable";
    default: return "Internal Server Error";
    }
}

char *serve_api_http_response(const struct serve_job *job, size_t *len, int *status) {
    *status = job->err.status ? job->err.status : 200;
    char *err = job->err.status ? serve_error_json(&job->err) : NULL;
    const char *body = job->err.status ? err : job->out;
    if (!body) return NULL;
    size_t n = job->err.status ? strlen(body) : job->out_len;
    char head[768];
    int k = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nConnection: close\r\nContent-Type: application/json\r\n"
                     "X-Content-Type-Options: nosniff\r\nVary: Origin\r\n%s%s%s%s"
                     "Content-Length: %zu\r\n\r\n",
                     *status, reason_phrase(*status),
                     job->origin[0] ? "Access-Control-Allow-Origin: " : "", job->origin,
                     job->origin[0] ? "\r\nAccess-Control-Expose-Headers: Retry-After\r\n" : "",
                     *status == 503 ? "Retry-After: 1\r\n" : "", n);
    char *out = k > 0 && (size_t)k < sizeof head ? malloc((size_t)k + n) : NULL;
    if (out) {
        memcpy(out, head, (size_t)k);
        memcpy(out + k, body, n);
        *len = (size_t)k + n;
    }
    free(err);
    return out;
}

/* 0.9f printed as 0.9, not 0.899999976158142. */
static double decimal(float x) { return round((double)x * 1e6) / 1e6; }

char *serve_models_json(const serve_model *m) {
    const serve_config *cfg = m->cfg;
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "object", "list");
    cJSON *data = cJSON_AddArrayToObject(root, "data");
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToArray(data, o);
    cJSON_AddStringToObject(o, "id", m->id);
    cJSON_AddStringToObject(o, "object", "model");
    cJSON_AddNumberToObject(o, "created", (double)m->created);
    cJSON_AddStringToObject(o, "owned_by", "lamina");
    cJSON_AddStringToObject(o, "format", m->format);
    cJSON_AddStringToObject(o, "kernels", m->kernels);
    cJSON_AddNumberToObject(o, "threads", m->threads);
    cJSON_AddNumberToObject(o, "parallel", cfg->parallel);
    cJSON_AddNumberToObject(o, "queue", cfg->queue);
    cJSON_AddNumberToObject(o, "ctx", cfg->ctx);
    cJSON_AddNumberToObject(o, "seq_len", m->info.config.seq_len);
    cJSON *d = cJSON_AddObjectToObject(o, "defaults");
    cJSON_AddNumberToObject(d, "temperature", decimal(cfg->temperature));
    cJSON_AddNumberToObject(d, "top_p", decimal(cfg->topp));
    cJSON_AddNumberToObject(d, "seed", (double)cfg->seed);
    cJSON_AddNumberToObject(d, "steps", cfg->steps);
    return print_free(root);
}
