/* `response_format` and the JSON Schema subset (json_constraint.h): a schema
 * object compiled into nodes, every keyword checked; an unsupported one is
 * an error naming it and its path. Every compiled node can be satisfied (no
 * empty enum, min <= max, required properties declared), which is what
 * keeps the automaton free of dead ends. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_internal.h"
#include "request.h"
#include "request_error.h"

typedef struct compiler {
    lm_json_schema *s;
    lm_error *err;
} compiler;

/* A field path for errors, cut to fit (a character is never split). */
typedef struct path_buf {
    char p[200];
} path_buf;

/* A name or value from the request, for a message: it must be UTF-8 (the
 * text parsers check that first; a cJSON tree built otherwise may not). */
static const char *safe(const char *s) { return lm_utf8_valid(s) ? s : "(not UTF-8)"; }

static path_buf sub_path(const char *base, const char *sep, const char *name) {
    name = safe(name);
    path_buf b;
    /* cut to fit (the return value is the untruncated length) */
    if (snprintf(b.p, sizeof b.p, "%s%s%.*s", base, sep, lm_utf8_clip(name, 60), name) >=
        (int)sizeof b.p)
        b.p[lm_utf8_trim_end(b.p, sizeof b.p - 1)] = '\0';
    return b;
}

static int new_node(lm_json_schema *s, int kind) {
    if (s->n == s->cap) {
        int cap = s->cap ? s->cap * 2 : 16;
        json_node *n = realloc(s->node, (size_t)cap * sizeof *n);
        if (!n) return -1;
        s->node = n;
        s->cap = cap;
    }
    s->node[s->n] = (json_node){.kind = kind, .max = -1};
    return s->n++;
}

/* Append a text to a node's s/len (and child, for objects). */
static int add_text(json_node *nd, const char *text, int child) {
    char **s = realloc(nd->s, (size_t)(nd->n + 1) * sizeof *s);
    if (s) nd->s = s;
    int *len = realloc(nd->len, (size_t)(nd->n + 1) * sizeof *len);
    if (len) nd->len = len;
    int *c = realloc(nd->child, (size_t)(nd->n + 1) * sizeof *c);
    if (c) nd->child = c;
    char *d = strdup(text);
    if (!s || !len || !c || !d) return free(d), -1;
    nd->s[nd->n] = d;
    nd->len[nd->n] = (int)strlen(d);
    nd->child[nd->n] = child;
    nd->n++;
    return 0;
}

/* Sort texts by bytes, a prefix first (the automaton narrows ranges of
 * them); with objects, their children and required bits move along. */
static void sort_texts(json_node *nd) {
    for (int i = 1; i < nd->n; i++)
        for (int j = i; j > 0 && strcmp(nd->s[j - 1], nd->s[j]) > 0; j--) {
            char *t = nd->s[j];
            nd->s[j] = nd->s[j - 1], nd->s[j - 1] = t;
            int l = nd->len[j];
            nd->len[j] = nd->len[j - 1], nd->len[j - 1] = l;
            int c = nd->child[j];
            nd->child[j] = nd->child[j - 1], nd->child[j - 1] = c;
            uint64_t bj = nd->required >> j & 1, bi = nd->required >> (j - 1) & 1;
            nd->required &= ~((1ull << j) | (1ull << (j - 1)));
            nd->required |= bj << (j - 1) | bi << j;
        }
}

static int oom(compiler *c) { return request_set_error(c->err, "out of memory"); }

static int builtins(lm_json_schema *s) {
    static const int kinds[JN_BUILTIN] = {JK_ANY, JK_STR, JK_NUM, JK_LIT, JK_ARR, JK_OBJ_ANY};
    for (int i = 0; i < JN_BUILTIN; i++)
        if (new_node(s, kinds[i]) < 0) return -1;
    s->node[JN_ARR].items = JN_ANY;
    const char *lits[] = {"false", "null", "true"};
    for (int i = 0; i < 3; i++)
        if (add_text(&s->node[JN_LIT], lits[i], 0)) return -1;
    return 0;
}

static lm_json_schema *schema_new(void) {
    lm_json_schema *s = calloc(1, sizeof *s);
    if (s && builtins(s)) lm_json_schema_free(s), s = NULL;
    return s;
}

lm_json_schema *lm_json_schema_ref(lm_json_schema *s) {
    if (s) atomic_fetch_add(&s->refs, 1);
    return s;
}

void lm_json_schema_free(lm_json_schema *s) {
    if (!s || atomic_fetch_sub(&s->refs, 1) > 0) return;
    for (int i = 0; i < s->n; i++) {
        for (int j = 0; j < s->node[i].n; j++) free(s->node[i].s[j]);
        free(s->node[i].s);
        free(s->node[i].len);
        free(s->node[i].child);
    }
    free(s->node);
    free(s);
}

lm_json_schema *lm_json_schema_any_object(lm_error *err) {
    lm_json_schema *s = schema_new();
    if (!s) return request_set_error(err, "out of memory"), NULL;
    s->root = JN_OBJ;
    return s;
}

/* ---- keywords ------------------------------------------------------------ */

enum {
    T_OBJECT = 1,
    T_ARRAY = 2,
    T_STRING = 4,
    T_NUMBER = 8,
    T_INTEGER = 16,
    T_BOOLEAN = 32,
    T_NULL = 64
};
static const char *const type_names[] = {"object",  "array",   "string", "number",
                                         "integer", "boolean", "null"};

static int type_bit(const char *name) {
    for (int i = 0; i < 7; i++)
        if (strcmp(name, type_names[i]) == 0) return 1 << i;
    return 0;
}

static int parse_type(compiler *c, const cJSON *t, const char *path, int *types) {
    path_buf p = sub_path(path, ".", "type");
    if (cJSON_IsString(t)) {
        if (!(*types = type_bit(t->valuestring)))
            return request_set_error(c->err, "field '%s': unknown type '%.*s'", p.p,
                                     lm_utf8_clip(safe(t->valuestring), 40), safe(t->valuestring));
        return 0;
    }
    if (!cJSON_IsArray(t) || !cJSON_GetArraySize(t))
        return request_set_error(c->err, "field '%s': expected a type name or an array of them",
                                 p.p);
    const cJSON *e;
    cJSON_ArrayForEach(e, t) {
        int bit = cJSON_IsString(e) ? type_bit(e->valuestring) : 0;
        if (!bit || (*types & bit))
            return request_set_error(c->err, "field '%s': expected distinct type names", p.p);
        *types |= bit;
    }
    return 0;
}

/* An integer keyword (maxLength, minItems, ...) in [0, 1e6]. */
static int get_count(compiler *c, const cJSON *v, const char *path, int *out) {
    if (!v) return 0;
    path_buf p = sub_path(path, ".", v->string);
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < 0 ||
        v->valuedouble > 1e6)
        return request_set_error(c->err, "field '%s': expected an integer in [0, 1000000]", p.p);
    *out = (int)v->valuedouble;
    return 0;
}

static const char *const known[] = {
    "type",        "properties", "required",  "additionalProperties",
    "items",       "minItems",   "maxItems",  "enum",
    "const",       "maxLength",  "minLength", "title",
    "description", "$schema",    "default",   "examples",
    "$comment",    "$id",        NULL};

static int check_keywords(compiler *c, const cJSON *sch, const char *path) {
    const cJSON *f;
    cJSON_ArrayForEach(f, sch) {
        int ok = 0;
        for (const char *const *k = known; *k && !ok; k++) ok = strcmp(*k, f->string) == 0;
        if (!ok) {
            path_buf p = sub_path(path, ".", f->string);
            return request_set_error(c->err,
                                     "field '%s': unsupported keyword '%.*s' (see the "
                                     "README's JSON mode for the supported subset)",
                                     p.p, lm_utf8_clip(safe(f->string), 40), safe(f->string));
        }
        for (const cJSON *g = sch->child; g != f; g = g->next)
            if (strcmp(g->string, f->string) == 0) {
                path_buf p = sub_path(path, ".", f->string);
                return request_set_error(c->err, "field '%s': given twice", p.p);
            }
    }
    return 0;
}

/* The JSON type bit of a value (integers count as both). */
static int value_types(const cJSON *v) {
    if (cJSON_IsString(v)) return T_STRING;
    if (cJSON_IsBool(v)) return T_BOOLEAN;
    if (cJSON_IsNull(v)) return T_NULL;
    if (cJSON_IsArray(v)) return T_ARRAY;
    if (cJSON_IsObject(v)) return T_OBJECT;
    double d = v->valuedouble;
    return isfinite(d) && d == floor(d) && fabs(d) < 1e15 ? T_NUMBER | T_INTEGER : T_NUMBER;
}

static int add_literal(compiler *c, int node, const cJSON *v, const char *path) {
    char *text = cJSON_PrintUnformatted(v);
    if (!text) return oom(c);
    if (!lm_utf8_valid(text)) /* the output must be UTF-8 */
        return free(text), request_set_error(c->err, "field '%s': a value is not UTF-8", path);
    json_node *nd = &c->s->node[node];
    for (int i = 0; i < nd->n; i++)
        if (strcmp(nd->s[i], text) == 0) return free(text), 0; /* a repeated value */
    int rc = add_text(nd, text, 0);
    free(text);
    return rc ? oom(c) : 0;
}

/* enum / const: the values of the allowed types, as their JSON texts. */
static int compile_literals(compiler *c, const cJSON *sch, const char *path, int types) {
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(sch, "enum");
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(sch, "const");
    if (e && k) return request_set_error(c->err, "field '%s': both 'enum' and 'const'", path);
    if (e && (!cJSON_IsArray(e) || !cJSON_GetArraySize(e))) {
        path_buf p = sub_path(path, ".", "enum");
        return request_set_error(c->err, "field '%s': expected a non-empty array", p.p);
    }
    if (e && cJSON_GetArraySize(e) > LM_JSON_MAX_ENUM) { /* each byte scans them */
        path_buf p = sub_path(path, ".", "enum");
        return request_set_error(c->err, "field '%s': more than %d values", p.p, LM_JSON_MAX_ENUM);
    }
    int node = new_node(c->s, JK_LIT);
    if (node < 0) return oom(c);
    const cJSON *v;
    if (k) {
        if (!types || (value_types(k) & types))
            if (add_literal(c, node, k, path)) return -1;
    } else
        cJSON_ArrayForEach(v, e) {
            if (!types || (value_types(v) & types))
                if (add_literal(c, node, v, path)) return -1;
        }
    if (!c->s->node[node].n)
        return request_set_error(c->err, "field '%s': no value of '%s' has the schema's type", path,
                                 k ? "const" : "enum");
    sort_texts(&c->s->node[node]);
    return node;
}

static int compile_node(compiler *c, const cJSON *sch, const char *path, int depth);

static int compile_string(compiler *c, const cJSON *sch, const char *path) {
    int node = new_node(c->s, JK_STR);
    if (node < 0) return oom(c);
    int min = 0, max = -1;
    if (get_count(c, cJSON_GetObjectItemCaseSensitive(sch, "minLength"), path, &min) ||
        get_count(c, cJSON_GetObjectItemCaseSensitive(sch, "maxLength"), path, &max))
        return -1;
    if (max >= 0 && min > max)
        return request_set_error(c->err, "field '%s': minLength is more than maxLength", path);
    c->s->node[node].min = min, c->s->node[node].max = max;
    return node;
}

static int compile_array(compiler *c, const cJSON *sch, const char *path, int depth) {
    int min = 0, max = -1, items = JN_ANY;
    if (get_count(c, cJSON_GetObjectItemCaseSensitive(sch, "minItems"), path, &min) ||
        get_count(c, cJSON_GetObjectItemCaseSensitive(sch, "maxItems"), path, &max))
        return -1;
    if (max >= 0 && min > max)
        return request_set_error(c->err, "field '%s': minItems is more than maxItems", path);
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(sch, "items");
    if (it) {
        path_buf p = sub_path(path, ".", "items");
        if ((items = compile_node(c, it, p.p, depth + 1)) < 0) return -1;
    }
    int node = new_node(c->s, JK_ARR);
    if (node < 0) return oom(c);
    c->s->node[node].min = min, c->s->node[node].max = max, c->s->node[node].items = items;
    return node;
}

/* additionalProperties: true or false (only declared properties are ever
 * generated, which every value of it allows). */
static int check_additional(compiler *c, const cJSON *sch, const char *path, int *closed) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(sch, "additionalProperties");
    *closed = a && cJSON_IsFalse(a);
    if (a && !cJSON_IsBool(a)) {
        path_buf p = sub_path(path, ".", "additionalProperties");
        return request_set_error(c->err, "field '%s': only true or false is supported", p.p);
    }
    return 0;
}

static int add_property(compiler *c, int node, const cJSON *f, const char *path, int depth) {
    path_buf p = sub_path(path, ".", f->string);
    if (!lm_utf8_valid(f->string))
        return request_set_error(c->err, "field '%s': a property name is not UTF-8", path);
    int child = compile_node(c, f, p.p, depth + 1);
    if (child < 0) return -1;
    cJSON *name = cJSON_CreateString(f->string);
    char *text = name ? cJSON_PrintUnformatted(name) : NULL;
    cJSON_Delete(name);
    if (!text) return oom(c);
    int rc = add_text(&c->s->node[node], text, child);
    free(text);
    return rc ? oom(c) : 0;
}

static int mark_required(compiler *c, int node, const cJSON *req, const char *path) {
    path_buf p = sub_path(path, ".", "required");
    if (!req) return 0;
    if (!cJSON_IsArray(req))
        return request_set_error(c->err, "field '%s': expected an array of names", p.p);
    const cJSON *r;
    cJSON_ArrayForEach(r, req) {
        json_node *nd = &c->s->node[node];
        int found = -1;
        cJSON *name = cJSON_IsString(r) ? cJSON_CreateString(r->valuestring) : NULL;
        char *text = name ? cJSON_PrintUnformatted(name) : NULL;
        cJSON_Delete(name);
        for (int i = 0; text && i < nd->n; i++)
            if (strcmp(nd->s[i], text) == 0) found = i;
        free(text);
        if (!cJSON_IsString(r))
            return request_set_error(c->err, "field '%s': expected an array of names", p.p);
        if (found < 0)
            return request_set_error(c->err,
                                     "field '%s': '%.*s' is not in 'properties' (only declared "
                                     "properties are generated)",
                                     p.p, lm_utf8_clip(safe(r->valuestring), 40),
                                     safe(r->valuestring));
        nd->required |= 1ull << found;
    }
    return 0;
}

static int compile_object(compiler *c, const cJSON *sch, const char *path, int depth) {
    int closed;
    if (check_additional(c, sch, path, &closed)) return -1;
    const cJSON *props = cJSON_GetObjectItemCaseSensitive(sch, "properties");
    const cJSON *req = cJSON_GetObjectItemCaseSensitive(sch, "required");
    if (!props && !req && !closed) return JN_OBJ; /* any object */
    path_buf pp = sub_path(path, ".", "properties");
    if (props && !cJSON_IsObject(props))
        return request_set_error(c->err, "field '%s': expected an object", pp.p);
    if (cJSON_GetArraySize(props) > LM_JSON_MAX_PROPS)
        return request_set_error(c->err, "field '%s': more than %d properties", pp.p,
                                 LM_JSON_MAX_PROPS);
    int node = new_node(c->s, JK_OBJ);
    if (node < 0) return oom(c);
    const cJSON *f;
    cJSON_ArrayForEach(f, props) {
        for (const cJSON *g = props->child; g != f; g = g->next)
            if (strcmp(g->string, f->string) == 0)
                return request_set_error(c->err, "field '%s.%.*s': given twice", pp.p,
                                         lm_utf8_clip(safe(f->string), 40), safe(f->string));
        if (add_property(c, node, f, pp.p, depth)) return -1;
    }
    if (mark_required(c, node, req, path)) return -1;
    sort_texts(&c->s->node[node]);
    return node;
}

/* One node for one type of a schema (its keywords for other types unused). */
static int compile_type(compiler *c, const cJSON *sch, const char *path, int depth, int type) {
    switch (type) {
    case T_OBJECT: return compile_object(c, sch, path, depth);
    case T_ARRAY: return compile_array(c, sch, path, depth);
    case T_STRING: return compile_string(c, sch, path);
    case T_NUMBER: return new_node(c->s, JK_NUM) < 0 ? oom(c) : c->s->n - 1;
    case T_INTEGER: return new_node(c->s, JK_INT) < 0 ? oom(c) : c->s->n - 1;
    default: { /* boolean, null */
        int node = new_node(c->s, JK_LIT);
        if (node < 0) return oom(c);
        const char *a = type == T_NULL ? "null" : "false", *b = type == T_NULL ? NULL : "true";
        if (add_text(&c->s->node[node], a, 0) || (b && add_text(&c->s->node[node], b, 0)))
            return oom(c);
        return node;
    }
    }
}

/* Without "type": the type its keywords imply, else any value. */
static int implied_types(const cJSON *sch) {
    if (cJSON_GetObjectItemCaseSensitive(sch, "properties") ||
        cJSON_GetObjectItemCaseSensitive(sch, "required") ||
        cJSON_GetObjectItemCaseSensitive(sch, "additionalProperties"))
        return T_OBJECT;
    if (cJSON_GetObjectItemCaseSensitive(sch, "items") ||
        cJSON_GetObjectItemCaseSensitive(sch, "minItems") ||
        cJSON_GetObjectItemCaseSensitive(sch, "maxItems"))
        return T_ARRAY;
    if (cJSON_GetObjectItemCaseSensitive(sch, "maxLength") ||
        cJSON_GetObjectItemCaseSensitive(sch, "minLength"))
        return T_STRING;
    return 0;
}

static int compile_node(compiler *c, const cJSON *sch, const char *path, int depth) {
    if (c->s->n > LM_JSON_MAX_NODES) /* frames hold a node in 16 bits */
        return request_set_error(c->err, "field '%s': the schema has more than %d parts", path,
                                 LM_JSON_MAX_NODES);
    if (depth > LM_JSON_MAX_SCHEMA_DEPTH)
        return request_set_error(c->err, "field '%s': the schema nests more than %d levels", path,
                                 LM_JSON_MAX_SCHEMA_DEPTH);
    if (cJSON_IsBool(sch) && cJSON_IsTrue(sch)) return JN_ANY;
    if (!cJSON_IsObject(sch))
        return request_set_error(c->err, "field '%s': expected a schema object", path);
    if (check_keywords(c, sch, path)) return -1;
    int types = 0;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(sch, "type");
    if (t && parse_type(c, t, path, &types)) return -1;
    if (cJSON_GetObjectItemCaseSensitive(sch, "enum") ||
        cJSON_GetObjectItemCaseSensitive(sch, "const"))
        return compile_literals(c, sch, path, types);
    if (!types && !(types = implied_types(sch))) return JN_ANY;
    if ((types & T_NUMBER) && (types & T_INTEGER)) types &= ~T_INTEGER; /* number covers both */
    if (!(types & (types - 1))) return compile_type(c, sch, path, depth, types);
    /* a union: its types start with different bytes ({ [ " digit f/t n) */
    int node = new_node(c->s, JK_UNION);
    if (node < 0) return oom(c);
    for (int bit = 1; bit <= T_NULL; bit <<= 1) {
        if (!(types & bit)) continue;
        int child = compile_type(c, sch, path, depth, bit);
        if (child < 0 || add_text(&c->s->node[node], "", child)) return child < 0 ? -1 : oom(c);
    }
    return node;
}

lm_json_schema *lm_json_schema_compile(const cJSON *schema, const char *path, lm_error *err) {
    lm_json_schema *s = schema_new();
    if (!s) return request_set_error(err, "out of memory"), NULL;
    compiler c = {s, err};
    if ((s->root = compile_node(&c, schema, path, 0)) < 0) return lm_json_schema_free(s), NULL;
    return s;
}

/* ---- response_format ----------------------------------------------------- */

static int only_fields(const cJSON *v, const char *path, const char *const *names, lm_error *err) {
    const cJSON *f;
    cJSON_ArrayForEach(f, v) {
        int ok = 0;
        for (const char *const *n = names; *n && !ok; n++) ok = strcmp(*n, f->string) == 0;
        if (!ok)
            return request_set_error(err, "field '%s.%.*s': unknown field", path,
                                     lm_utf8_clip(safe(f->string), 40), safe(f->string));
    }
    return 0;
}

static int parse_json_schema(const cJSON *js, lm_json_schema **out, lm_error *err) {
    static const char *const names[] = {"name", "schema", "strict", "description", NULL};
    const char *path = "response_format.json_schema";
    if (!cJSON_IsObject(js)) return request_set_error(err, "field '%s': expected an object", path);
    if (only_fields(js, path, names, err)) return -1;
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(js, "name");
    const cJSON *strict = cJSON_GetObjectItemCaseSensitive(js, "strict");
    const cJSON *schema = cJSON_GetObjectItemCaseSensitive(js, "schema");
    if (name && !cJSON_IsString(name))
        return request_set_error(err, "field '%s.name': expected a string", path);
    if (strict && !cJSON_IsBool(strict) && !cJSON_IsNull(strict))
        return request_set_error(err, "field '%s.strict': expected true or false", path);
    if (!schema) return request_set_error(err, "field '%s': no 'schema'", path);
    return (*out = lm_json_schema_compile(schema, "response_format.json_schema.schema", err)) ? 0
                                                                                              : -1;
}

int lm_response_format_parse(const cJSON *v, lm_json_schema **out, lm_error *err) {
    static const char *const names[] = {"type", "json_schema", "schema", NULL};
    *out = NULL;
    if (!cJSON_IsObject(v))
        return request_set_error(err, "field 'response_format': expected an object");
    if (only_fields(v, "response_format", names, err)) return -1;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(v, "type");
    const cJSON *js = cJSON_GetObjectItemCaseSensitive(v, "json_schema");
    const cJSON *schema = cJSON_GetObjectItemCaseSensitive(v, "schema");
    if (!cJSON_IsString(t))
        return request_set_error(err, "field 'response_format.type': expected \"text\", "
                                      "\"json_object\" or \"json_schema\"");
    int text = strcmp(t->valuestring, "text") == 0,
        obj = strcmp(t->valuestring, "json_object") == 0;
    int sch = strcmp(t->valuestring, "json_schema") == 0;
    if (!text && !obj && !sch)
        return request_set_error(err,
                                 "field 'response_format.type': '%.*s' is not text, "
                                 "json_object or json_schema",
                                 lm_utf8_clip(safe(t->valuestring), 40), safe(t->valuestring));
    if ((js && !sch) || (schema && !obj))
        return request_set_error(err, "field 'response_format.%s': not with type '%s'",
                                 js ? "json_schema" : "schema", t->valuestring);
    if (text) return 0;
    if (sch) return parse_json_schema(js, out, err);
    if (schema) /* llama.cpp's form: json_object with a schema */
        return (*out = lm_json_schema_compile(schema, "response_format.schema", err)) ? 0 : -1;
    return (*out = lm_json_schema_any_object(err)) ? 0 : -1;
}
