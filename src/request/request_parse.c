/* Parsing one request object (request.h): every field checked for its type and
 * range, unknown fields refused, null treated as absent. */
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "request.h"
#include "request_error.h"

/* "a string", "a number", ...: what the field held instead. */
static const char *kind(const cJSON *v) {
    if (cJSON_IsString(v)) return "a string";
    if (cJSON_IsNumber(v)) return "a number";
    if (cJSON_IsBool(v)) return "a boolean";
    if (cJSON_IsArray(v)) return "an array";
    if (cJSON_IsObject(v)) return "an object";
    return "null";
}

static int wrong(lm_error *err, const char *field, const char *want, const cJSON *v) {
    return request_set_error(err, "field '%s': expected %s, got %s", field, want, kind(v));
}

lm_request_rules lm_request_rules_default(void) {
    return (lm_request_rules){.allow_prompt = 1,
                              .allow_messages = 1,
                              .allow_echo = 1,
                              .temperature = 1.0f,
                              .topp = 0.9f,
                              .seed = 0,
                              .steps = 256};
}

/* A number that is an integer in [lo, hi] (JSON has only doubles). */
static int get_int(const cJSON *v, const char *field, double lo, double hi, double *out,
                   lm_error *err) {
    if (!cJSON_IsNumber(v)) return wrong(err, field, "an integer", v);
    double d = v->valuedouble;
    if (!isfinite(d) || d != floor(d) || d < lo || d > hi)
        return request_set_error(err, "field '%s': expected an integer in [%.0f, %.0f], got %g",
                                 field, lo, hi, d);
    *out = d;
    return 0;
}

static int get_float(const cJSON *v, const char *field, double lo, double hi, float *out,
                     lm_error *err) {
    if (!cJSON_IsNumber(v)) return wrong(err, field, "a number", v);
    double d = v->valuedouble;
    if (hi > FLT_MAX) hi = FLT_MAX; /* beyond it the float would be inf (1e39) */
    if (!isfinite(d) || d < lo || d > hi)
        return request_set_error(err, "field '%s': expected a number in [%g, %g], got %g", field,
                                 lo, hi, d);
    *out = (float)d;
    return 0;
}

static char *dup_string(const char *s, lm_error *err) {
    char *d = strdup(s);
    if (!d) request_set_error(err, "out of memory");
    return d;
}

static int parse_stop(const cJSON *v, lm_request *req, lm_error *err) {
    if (cJSON_IsString(v)) {
        if (!*v->valuestring) return request_set_error(err, "field 'stop': an empty string");
        req->stop = calloc(1, sizeof *req->stop);
        if (!req->stop || !(req->stop[0] = dup_string(v->valuestring, err)))
            return request_set_error(err, "out of memory");
        req->n_stop = 1;
        return 0;
    }
    if (!cJSON_IsArray(v)) return wrong(err, "stop", "a string or an array of strings", v);
    int n = cJSON_GetArraySize(v);
    req->stop = calloc(n ? (size_t)n : 1, sizeof *req->stop);
    if (!req->stop) return request_set_error(err, "out of memory");
    const cJSON *s;
    cJSON_ArrayForEach(s, v) {
        if (!cJSON_IsString(s))
            return request_set_error(err, "field 'stop[%d]': expected a string, got %s",
                                     req->n_stop, kind(s));
        if (!*s->valuestring)
            return request_set_error(err, "field 'stop[%d]': an empty string", req->n_stop);
        if (!(req->stop[req->n_stop] = dup_string(s->valuestring, err))) return -1;
        req->n_stop++;
    }
    return 0;
}

static int parse_role(const cJSON *v, int i, lm_role *role, lm_error *err) {
    static const char *names[] = {"system", "user", "assistant"};
    if (!cJSON_IsString(v))
        return request_set_error(err, "field 'messages[%d].role': expected a string, got %s", i,
                                 kind(v));
    for (int r = 0; r < 3; r++)
        if (strcmp(v->valuestring, names[r]) == 0) return *role = (lm_role)r, 0;
    return request_set_error(err,
                             "field 'messages[%d].role': '%.40s' is not system, user or assistant",
                             i, v->valuestring);
}

static int parse_message(const cJSON *m, int i, lm_chat_message *out, lm_error *err) {
    if (!cJSON_IsObject(m))
        return request_set_error(err, "field 'messages[%d]': expected an object, got %s", i,
                                 kind(m));
    const cJSON *role = NULL, *content = NULL, *f;
    cJSON_ArrayForEach(f, m) {
        if (strcmp(f->string, "role") == 0)
            role = f;
        else if (strcmp(f->string, "content") == 0)
            content = f;
        else
            return request_set_error(err, "field 'messages[%d].%.40s': unknown field", i,
                                     f->string);
    }
    if (!role) return request_set_error(err, "field 'messages[%d]': no 'role'", i);
    if (!content) return request_set_error(err, "field 'messages[%d]': no 'content'", i);
    if (parse_role(role, i, &out->role, err)) return -1;
    if (!cJSON_IsString(content))
        return request_set_error(err, "field 'messages[%d].content': expected a string, got %s", i,
                                 kind(content));
    return (out->content = dup_string(content->valuestring, err)) ? 0 : -1;
}

static int parse_messages(const cJSON *v, lm_request *req, lm_error *err) {
    if (!cJSON_IsArray(v)) return wrong(err, "messages", "an array of messages", v);
    int n = cJSON_GetArraySize(v);
    if (n == 0) return request_set_error(err, "field 'messages': an empty array");
    req->messages = calloc((size_t)n, sizeof *req->messages);
    if (!req->messages) return request_set_error(err, "out of memory");
    const cJSON *m;
    cJSON_ArrayForEach(m, v) {
        if (parse_message(m, req->n_messages, &req->messages[req->n_messages], err)) return -1;
        req->n_messages++;
    }
    return 0;
}

static int is_extra(const lm_request_rules *rules, const char *name) {
    for (const char *const *e = rules->extra_fields; e && *e; e++)
        if (strcmp(*e, name) == 0) return 1;
    return 0;
}

/* One field of the request object; 0 or -1 with err set. */
static int parse_field(const cJSON *f, const lm_request_rules *rules, lm_request *req,
                       lm_error *err) {
    const char *name = f->string;
    double d = 0;
    if (rules->allow_prompt && strcmp(name, "prompt") == 0) {
        if (!cJSON_IsString(f)) return wrong(err, name, "a string", f);
        return (req->prompt = dup_string(f->valuestring, err)) ? 0 : -1;
    }
    if (rules->allow_messages && strcmp(name, "messages") == 0) return parse_messages(f, req, err);
    if (strcmp(name, "id") == 0) {
        if (!cJSON_IsString(f) && !cJSON_IsNumber(f))
            return wrong(err, name, "a string or a number", f);
        return (req->id = cJSON_Duplicate(f, 0)) ? 0 : request_set_error(err, "out of memory");
    }
    if (strcmp(name, "max_tokens") == 0) {
        if (get_int(f, name, 1, 1 << 30, &d, err)) return -1;
        req->max_tokens = (int)d;
        return 0;
    }
    if (strcmp(name, "temperature") == 0)
        return get_float(f, name, 0, INFINITY, &req->temperature, err);
    if (strcmp(name, "top_p") == 0) return get_float(f, name, 0, 1, &req->topp, err);
    if (strcmp(name, "seed") == 0) {
        if (get_int(f, name, 0, 9007199254740992.0, &d, err)) return -1; /* 2^53 */
        req->seed = (uint64_t)d;
        return 0;
    }
    if (strcmp(name, "stop") == 0) return parse_stop(f, req, err);
    if (rules->allow_echo && strcmp(name, "echo") == 0) {
        if (!cJSON_IsBool(f)) return wrong(err, name, "true or false", f);
        req->echo = cJSON_IsTrue(f);
        return 0;
    }
    if (is_extra(rules, name)) return 0;
    return request_set_error(err, "field '%.60s': unknown field", name);
}

/* Names seen so far, to refuse a field given twice (cJSON keeps both). */
static int duplicate(const cJSON *obj, const cJSON *f) {
    for (const cJSON *g = obj->child; g != f; g = g->next)
        if (strcmp(g->string, f->string) == 0) return 1;
    return 0;
}

static int parse_fields(const cJSON *obj, const lm_request_rules *rules, lm_request *req,
                        lm_error *err) {
    if (!cJSON_IsObject(obj))
        return request_set_error(err, "expected a JSON object, got %s", kind(obj));
    const cJSON *f;
    cJSON_ArrayForEach(f, obj) {
        if (duplicate(obj, f))
            return request_set_error(err, "field '%.60s': given twice", f->string);
        if (cJSON_IsNull(f) && strcmp(f->string, "prompt") && strcmp(f->string, "messages"))
            continue; /* an optional field sent as null */
        if (parse_field(f, rules, req, err)) return -1;
    }
    int prompt = req->prompt != NULL, messages = req->messages != NULL;
    if (prompt && messages) return request_set_error(err, "both 'prompt' and 'messages': give one");
    if (!prompt && !messages) {
        if (rules->allow_prompt && rules->allow_messages)
            return request_set_error(err, "no 'prompt' or 'messages'");
        return request_set_error(err, "no '%s'", rules->allow_prompt ? "prompt" : "messages");
    }
    if (req->echo && messages)
        return request_set_error(err, "field 'echo': works with 'prompt' only");
    return 0;
}

int lm_request_parse(const cJSON *obj, const lm_request_rules *rules, lm_request *req,
                     lm_error *err) {
    *req = (lm_request){.temperature = rules->temperature,
                        .topp = rules->topp,
                        .seed = rules->seed,
                        .steps = rules->steps};
    if (parse_fields(obj, rules, req, err)) {
        lm_request_free(req);
        return -1;
    }
    return 0;
}

int lm_request_parse_text(const char *text, size_t len, const lm_request_rules *rules,
                          lm_request *req, lm_error *err) {
    *req = (lm_request){0};
    const char *end = NULL;
    cJSON *obj = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!obj) { /* end points at the error (cJSON's global error pointer is not thread-safe) */
        size_t off = end && end >= text && end <= text + len ? (size_t)(end - text) : 0;
        return request_set_error(err, "not valid JSON (at byte %zu)", off + 1);
    }
    size_t used = (size_t)(end - text);
    while (used < len && strchr(" \t\r\n", text[used]) && text[used]) used++;
    int rc =
        used < len
            ? request_set_error(err, "not valid JSON (text after the object at byte %zu)", used + 1)
            : lm_request_parse(obj, rules, req, err);
    cJSON_Delete(obj);
    return rc;
}

void lm_request_free(lm_request *req) {
    if (!req) return;
    cJSON_Delete(req->id);
    free(req->prompt);
    for (int i = 0; i < req->n_messages; i++) free((char *)req->messages[i].content);
    free(req->messages);
    for (int i = 0; i < req->n_stop; i++) free(req->stop[i]);
    free(req->stop);
    *req = (lm_request){0};
}
