/* JSON mode (src/request/json_constraint.h): the schema compiler's errors,
 * the automaton on texts it must accept and refuse, and the token masks
 * compared with brute force (every token's text fed to a copy of the
 * automaton) along random walks through real vocabularies, whose finished
 * outputs must parse (cJSON) and satisfy the schema's checks below.
 * Usage: test_json VOCAB... (tokenizer.bin or GGUF vocabulary files). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "json_constraint.h"

static lm_json_schema *compile(const char *text, lm_error *err) {
    cJSON *j = cJSON_Parse(text);
    if (!j) return NULL;
    lm_json_schema *s = lm_json_schema_compile(j, "schema", err);
    cJSON_Delete(j);
    return s;
}

/* 1 if text is a complete valid value, 0 if a valid prefix, -1 if neither. */
static int run(const lm_json_schema *s, const char *text) {
    lm_json_state st;
    lm_json_state_init(&st, s);
    if (!lm_json_feed(&st, text, strlen(text))) return -1;
    return lm_json_can_end(&st);
}

typedef struct text_case {
    const char *schema;
    const char *text;
    int want; /* as run() */
} text_case;

static const text_case cases[] = {
    {"{}", "{\"a\": [1, -2.5e+10, true, null, \"x\\u00e9\\n\"]}", 1},
    {"{}", "-0", 1},
    {"{}", "01", -1},
    {"{}", "1.", 0},
    {"{}", "1.e5", -1},
    {"{}", "[1,]", -1},
    {"{}", "{\"a\" 1}", -1},
    {"{}", "\"\\x\"", -1},
    {"{}", "\"\\ud800\"", -1},
    {"{}", "\"\\uD7FF\"", 1},
    {"{}", "\"\xc3\xa9\"", 1},
    {"{}", "\"\xc3\"", -1},
    {"{}", "\"\xed\xa0\x80\"", -1}, /* a surrogate in UTF-8 */
    {"{}", "\"\xe0\x80\xaf\"", -1}, /* overlong */
    {"{}", "\"a\tb\"", -1},
    {"{}", "[1]    ", -1},  /* nothing after the value */
    {"{}", "[     1]", -1}, /* more white space than LM_JSON_MAX_WS */
    {"{}", "[    1]", 1},
    {"{}", "[\n 1\n]", 1},
    {"{}", "[\t1]", -1}, /* only spaces and newlines */
    {"{}", "[1\r]", -1},
    {"{}", "12345678901234567", -1}, /* 17 digits */
    {"{}", "1234567890123456", 1},
    {"{}", "1e123", -1},
    {"{}", "tru", 0},
    {"{}", "truex", -1},
    {"{\"type\":\"integer\"}", "12", 1},
    {"{\"type\":\"integer\"}", "1.5", -1},
    {"{\"type\":\"integer\"}", "1e2", -1},
    {"{\"type\":\"number\"}", "1.5", 1},
    {"{\"type\":\"boolean\"}", "null", -1},
    {"{\"type\":\"boolean\"}", "false", 1},
    {"{\"type\":[\"string\",\"null\"]}", "null", 1},
    {"{\"type\":[\"string\",\"null\"]}", "\"x\"", 1},
    {"{\"type\":[\"string\",\"null\"]}", "1", -1},
    {"{\"type\":\"string\",\"maxLength\":3}", "\"a\xc3\xa9\\n\"", 1},
    {"{\"type\":\"string\",\"maxLength\":3}", "\"abcd", -1},
    {"{\"type\":\"string\",\"minLength\":2}", "\"a\"", -1},
    {"{\"enum\":[\"red\",\"green\",1,12,null]}", "\"green\"", 1},
    {"{\"enum\":[\"red\",\"green\",1,12,null]}", "\"gre\"", -1},
    {"{\"enum\":[\"red\",\"green\",1,12,null]}", "1", 1},
    {"{\"enum\":[\"red\",\"green\",1,12,null]}", "12", 1},
    {"{\"enum\":[\"red\",\"green\",1,12,null]}", "13", -1},
    {"{\"enum\":[\"a\",\"b\"],\"type\":\"string\"}", "\"b\"", 1},
    {"{\"const\":{\"k\":[1,2]}}", "{\"k\":[1,2]}", 1},
    {"{\"type\":\"array\",\"items\":{\"type\":\"integer\"},\"minItems\":1,\"maxItems\":2}", "[]",
     -1},
    {"{\"type\":\"array\",\"items\":{\"type\":\"integer\"},\"minItems\":1,\"maxItems\":2}", "[1,2]",
     1},
    {"{\"type\":\"array\",\"items\":{\"type\":\"integer\"},\"minItems\":1,\"maxItems\":2}", "[1,2,",
     -1},
    {"{\"type\":\"array\",\"maxItems\":0}", "[]", 1},
    {"{\"type\":\"array\",\"maxItems\":0}", "[1", -1},
    {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"},\"ab\":{\"type\":"
     "\"boolean\"}},\"required\":[\"ab\"]}",
     "{\"a\": 1, \"ab\": true}", 1},
    {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"},\"ab\":{\"type\":"
     "\"boolean\"}},\"required\":[\"ab\"]}",
     "{\"a\": 1}", -1},
    {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"},\"ab\":{\"type\":"
     "\"boolean\"}},\"required\":[\"ab\"]}",
     "{\"a\": 1, \"a\": 2", -1}, /* a property twice */
    {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"},\"ab\":{\"type\":"
     "\"boolean\"}},\"required\":[\"ab\"]}",
     "{\"c\"", -1}, /* not declared */
    {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}},\"additionalProperties\":"
     "false}",
     "{}", 1},
    {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}}}", "{\"a\":1,", -1},
    {"{\"type\":\"object\"}", "{\"any\":{\"x\":[]}}", 1},
};

static const char *const bad_schemas[][2] = {
    {"{\"type\":\"string\",\"pattern\":\"x\"}", "field 'schema.pattern': unsupported keyword"},
    {"{\"properties\":{\"a\":{\"minimum\":1}}}",
     "field 'schema.properties.a.minimum': unsupported keyword"},
    {"{\"type\":\"strin\"}", "field 'schema.type': unknown type"},
    {"{\"type\":\"object\",\"required\":[\"x\"]}", "field 'schema.required': 'x' is not in"},
    {"{\"type\":\"array\",\"minItems\":3,\"maxItems\":2}", "minItems is more than maxItems"},
    {"{\"type\":\"string\",\"enum\":[1]}", "no value of 'enum' has the schema's type"},
    {"{\"anyOf\":[]}", "field 'schema.anyOf': unsupported keyword"},
    {"{\"additionalProperties\":{}}", "only true or false"},
    {"{\"type\":\"string\",\"maxLength\":-1}", "field 'schema.maxLength': expected an integer"},
    {"[]", "expected a schema object"},
    {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"object\",\"properties\":{\"b\":"
     "{\"enum\":[]}}}}}",
     "field 'schema.properties.a.properties.b.enum': expected a non-empty array"},
};

static void test_texts(void) {
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        lm_error err = {0};
        lm_json_schema *s = compile(cases[i].schema, &err);
        CHECK(s, "%s: %s", cases[i].schema, err.msg);
        if (!s) continue;
        int got = run(s, cases[i].text);
        CHECK(got == cases[i].want, "schema %s text %s: got %d, want %d", cases[i].schema,
              cases[i].text, got, cases[i].want);
        lm_json_schema_free(s);
    }
    for (size_t i = 0; i < sizeof bad_schemas / sizeof *bad_schemas; i++) {
        lm_error err = {0};
        lm_json_schema *s = compile(bad_schemas[i][0], &err);
        CHECK(!s && strstr(err.msg, bad_schemas[i][1]), "%s: got '%s', want '%s'",
              bad_schemas[i][0], err.msg, bad_schemas[i][1]);
        lm_json_schema_free(s);
    }
    /* every prefix of a valid text is a valid prefix */
    lm_error err = {0};
    lm_json_schema *s = lm_json_schema_any_object(&err);
    const char *t = cases[0].text;
    lm_json_state st;
    lm_json_state_init(&st, s);
    for (size_t i = 0; t[i]; i++) CHECK(lm_json_step(&st, (unsigned char)t[i]), "byte %zu", i);
    CHECK(run(s, "[1]") == -1, "json_object mode wants an object");
    lm_json_schema_free(s);
}

/* ---- masks on real vocabularies ---------------------------------------------- */

static uint64_t rng = 88172645463325252ull;
static int finished; /* walks that ended with a complete value */
static uint64_t next_rand(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return rng;
}

static const char *const walk_schemas[] = {
    "{}",
    "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\",\"maxLength\":5},"
    "\"colour\":{\"enum\":[\"red\",\"green\",\"blue\",\"Jerusalem\"]},\"n\":{\"type\":\"integer\"},"
    "\"ok\":{\"type\":\"boolean\"},\"tags\":{\"type\":\"array\",\"items\":{\"type\":\"string\","
    "\"maxLength\":3},\"maxItems\":2}},\"required\":[\"name\",\"colour\",\"n\",\"ok\",\"tags\"],"
    "\"additionalProperties\":false}",
    "{\"type\":\"array\",\"items\":{\"type\":[\"number\",\"null\"]},\"minItems\":2,\"maxItems\":3}",
    "{\"enum\":[\"the Lord\",\"thee\",\"the\"]}",
};

/* Brute force: which tokens may follow, feeding each token's text. */
static void brute(const lm_tokenizer *tok, const lm_json_state *st, int prev, const int *end,
                  int n_end, uint8_t *want) {
    int n = lm_tokenizer_vocab_size(tok);
    for (int t = 0; t < n; t++) {
        const char *text = lm_token_text(tok, prev, t);
        lm_json_state w = *st;
        want[t] = text[0] && lm_json_feed(&w, text, strlen(text));
    }
    for (int i = 0; i < n_end; i++) want[end[i]] = (uint8_t)lm_json_can_end(st);
}

/* One random walk: tokens drawn among the allowed ones (an end token as soon
 * as allowed, half of the time) until an end token or `steps`. */
static void walk_once(const lm_tokenizer *tok, const lm_json_vocab *v, const char *schema_text,
                      const int *end, int n_end, uint8_t *got, uint8_t *want, int steps) {
    lm_error err = {0};
    lm_json_schema *s = schema_text ? compile(schema_text, &err) : lm_json_schema_any_object(&err);
    CHECK(s, "%s", err.msg);
    if (!s) return;
    lm_json_state st;
    lm_json_state_init(&st, s);
    int n = lm_tokenizer_vocab_size(tok), prev = lm_tokenizer_bos(tok);
    if (prev < 0) prev = 0;
    char text[8192] = "";
    size_t len = 0;
    for (int step = 0; step < steps; step++) {
        int count = lm_json_allowed(v, &st, prev, end, n_end, got);
        brute(tok, &st, prev, end, n_end, want);
        int diff = -1;
        for (int t = 0; t < n && diff < 0; t++)
            if (got[t] != want[t]) diff = t;
        CHECK(diff < 0, "%s after '%s': token %d ('%s') mask %d, brute force %d", schema_text, text,
              diff, diff >= 0 ? lm_token_piece(tok, prev, diff) : "", diff >= 0 ? got[diff] : 0,
              diff >= 0 ? want[diff] : 0);
        CHECK(count > 0, "%s after '%s': no token allowed", schema_text, text);
        if (diff >= 0 || count == 0) break;
        if (lm_json_can_end(&st) && next_rand() % 2) {
            cJSON *j = cJSON_Parse(text);
            CHECK(j, "%s: finished text '%s' does not parse", schema_text, text);
            CHECK(!j || schema_text || cJSON_IsObject(j), "json_object mode: '%s'", text);
            cJSON_Delete(j);
            finished++;
            break;
        }
        int pick = (int)(next_rand() % (uint64_t)count), t = 0;
        for (;; t++)
            if (got[t] && pick-- == 0) break;
        int is_end = 0;
        for (int i = 0; i < n_end; i++) is_end |= end[i] == t;
        if (is_end) continue; /* drawn while it may end: the coin above decides */
        const char *piece = lm_token_text(tok, prev, t);
        size_t pl = strlen(piece);
        if (len + pl >= sizeof text) break;
        memcpy(text + len, piece, pl + 1);
        len += pl;
        CHECK(lm_json_feed(&st, piece, pl), "an allowed token refused");
        prev = t;
    }
    lm_json_schema_free(s);
}

static void test_vocab(const char *path) {
    lm_error err = {0};
    lm_tokenizer *tok = lm_tokenizer_load(path, 0, &err);
    CHECK(tok, "%s: %s", path, err.msg);
    if (!tok) return;
    lm_json_vocab *v = lm_json_vocab_build(tok, &err);
    CHECK(v, "%s", err.msg);
    int n = lm_tokenizer_vocab_size(tok);
    uint8_t *got = malloc((size_t)n), *want = malloc((size_t)n);
    int *end = malloc(((size_t)n + 1) * sizeof *end), n_end = 0;
    end[n_end++] = lm_tokenizer_stop_token(tok, 0);
    for (int t = 0; t < n; t++)
        if (t != end[0] && lm_token_ends(tok, t, 0)) end[n_end++] = t;
    int walks = n > 4096 ? 3 : 12, before = finished;
    for (size_t k = 0; v && k < sizeof walk_schemas / sizeof *walk_schemas + 1; k++)
        for (int w = 0; w < walks; w++)
            walk_once(tok, v, k ? walk_schemas[k - 1] : NULL, end, n_end, got, want,
                      n > 4096 ? 40 : 120);
    CHECK(finished > before, "%s: no walk finished", path);
    /* the cache returns one trie per vocabulary */
    const lm_json_vocab *a = lm_json_vocab_get(tok, &err), *b = lm_json_vocab_get(tok, &err);
    CHECK(a && a == b, "the cache");
    printf("%s: %d tokens, %d end tokens, %d walks finished\n", path, n, n_end, finished - before);
    free(got), free(want), free(end);
    lm_json_vocab_free(v);
    lm_tokenizer_free(tok);
}

int main(int argc, char **argv) {
    test_texts();
    for (int i = 1; i < argc; i++) test_vocab(argv[i]);
    return check_exit("test_json");
}
