/* The request parser and the chat template (src/request, chat_template.c):
 * every field's type and range, unknown and duplicate fields, null as absent,
 * UTF-8 and \u0000 in strings and field names, the order of messages, the
 * template's tokens against the text lm_chat renders, and stop strings: their
 * limits, their matching on chosen token splits (the cut the same however the
 * text is split), and on a real batch (the streamed prefix never changes).
 *
 * usage: test_request TOKENIZER MODEL LLAMA2_TOKENIZER */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../check.h"
#include "request.h"

static lm_request_rules rules;

/* Parse `json`; want_err NULL = must succeed, else the error must contain it. */
static void parse(const char *json, const char *want_err, lm_request *req) {
    lm_error e = {{0}};
    int rc = lm_request_parse_text(json, strlen(json), &rules, req, &e);
    if (!want_err)
        CHECK(rc == 0, "%s: %s", json, e.msg);
    else
        CHECK(rc != 0 && strstr(e.msg, want_err), "%s: want '%s', got rc %d '%s'", json, want_err,
              rc, e.msg);
}

static void bad(const char *json, const char *want_err) {
    lm_request req;
    parse(json, want_err, &req);
    lm_request_free(&req);
}

static void test_fields(void) {
    lm_request r;
    parse("{\"prompt\":\"In the beginning\"}", NULL, &r);
    CHECK(r.prompt && !strcmp(r.prompt, "In the beginning"), "prompt");
    CHECK(r.temperature == 1.0f && r.topp == 0.9f && r.seed == 0 && r.steps == 256, "defaults");
    CHECK(!r.id && !r.max_tokens && !r.n_stop && !r.echo, "absent fields");
    lm_request_free(&r);

    parse(" {\"id\":\"a\",\"prompt\":\"x\",\"max_tokens\":5,\"temperature\":0,\"top_p\":1,"
          "\"seed\":42,\"stop\":[\"\\n\",\"And\"],\"echo\":true} \r\n",
          NULL, &r);
    CHECK(cJSON_IsString(r.id) && !strcmp(r.id->valuestring, "a"), "id");
    CHECK(r.max_tokens == 5 && r.temperature == 0 && r.topp == 1 && r.seed == 42, "numbers");
    CHECK(r.n_stop == 2 && !strcmp(r.stop[0], "\n") && !strcmp(r.stop[1], "And"), "stop array");
    CHECK(r.echo == 1, "echo");
    lm_request_free(&r);

    parse("{\"id\":7,\"prompt\":\"x\",\"stop\":\"ye\",\"seed\":null,\"max_tokens\":null}", NULL,
          &r);
    CHECK(cJSON_IsNumber(r.id) && r.id->valuedouble == 7, "numeric id");
    CHECK(r.n_stop == 1 && !strcmp(r.stop[0], "ye"), "stop string");
    CHECK(r.seed == 0 && r.max_tokens == 0, "null = absent");
    lm_request_free(&r);

    parse("{\"messages\":[{\"role\":\"system\",\"content\":\"S\"},{\"role\":\"user\","
          "\"content\":\"U\"},{\"content\":\"A\",\"role\":\"assistant\"},{\"role\":\"user\","
          "\"content\":\"V\"}]}",
          NULL, &r);
    CHECK(r.n_messages == 4 && !r.prompt, "messages");
    CHECK(r.n_messages == 4 && r.messages[0].role == LM_ROLE_SYSTEM &&
              r.messages[2].role == LM_ROLE_ASSISTANT && !strcmp(r.messages[3].content, "V"),
          "roles and content");
    lm_request_free(&r);
}

static void test_errors(void) {
    bad("", "not valid JSON");
    bad("{\"prompt\":\"x\"", "not valid JSON");
    bad("{\"prompt\":\"x\"} {}", "text after the object");
    bad("[1,2]", "expected a JSON object, got an array");
    bad("\"hello\"", "expected a JSON object, got a string");
    bad("{}", "no 'prompt' or 'messages'");
    bad("{\"prompt\":null}", "field 'prompt': expected a string, got null");
    bad("{\"prompt\":5}", "field 'prompt': expected a string, got a number");
    bad("{\"prompt\":\"x\",\"messages\":[{\"role\":\"user\",\"content\":\"y\"}]}", "both");
    bad("{\"prompt\":\"x\",\"max_tokens\":\"5\"}",
        "field 'max_tokens': expected an integer, got a string");
    bad("{\"prompt\":\"x\",\"max_tokens\":0}", "field 'max_tokens': expected an integer in [1,");
    bad("{\"prompt\":\"x\",\"max_tokens\":2.5}", "field 'max_tokens'");
    bad("{\"prompt\":\"x\",\"temperature\":-1}",
        "field 'temperature': expected a number in [0, 3.40282e+38]");
    bad("{\"prompt\":\"x\",\"temperature\":true}",
        "field 'temperature': expected a number, got a boolean");
    bad("{\"prompt\":\"x\",\"top_p\":1.5}", "field 'top_p': expected a number in [0, 1]");
    bad("{\"prompt\":\"x\",\"seed\":-3}", "field 'seed'");
    bad("{\"prompt\":\"x\",\"seed\":1e300}", "field 'seed'");
    bad("{\"prompt\":\"x\",\"stop\":\"\"}", "field 'stop': an empty string");
    bad("{\"prompt\":\"x\",\"stop\":[\"a\",3]}",
        "field 'stop[1]': expected a string, got a number");
    bad("{\"prompt\":\"x\",\"stop\":{}}", "field 'stop': expected a string or an array");
    bad("{\"prompt\":\"x\",\"echo\":1}", "field 'echo': expected true or false, got a number");
    bad("{\"prompt\":\"x\",\"id\":[1]}", "field 'id': expected a string or a number, got an array");
    bad("{\"prompt\":\"x\",\"model\":\"m\"}", "field 'model': unknown field");
    bad("{\"prompt\":\"x\",\"prompt\":\"y\"}", "field 'prompt': given twice");
    bad("{\"messages\":[]}", "field 'messages': an empty array");
    bad("{\"messages\":{}}", "field 'messages': expected an array of messages, got an object");
    bad("{\"messages\":[3]}", "field 'messages[0]': expected an object, got a number");
    bad("{\"messages\":[{\"role\":\"user\"}]}", "field 'messages[0]': no 'content'");
    bad("{\"messages\":[{\"content\":\"x\"}]}", "field 'messages[0]': no 'role'");
    bad("{\"messages\":[{\"role\":\"bot\",\"content\":\"x\"}]}",
        "'bot' is not system, user or assistant");
    bad("{\"messages\":[{\"role\":\"user\",\"content\":1}]}",
        "field 'messages[0].content': expected a string");
    bad("{\"messages\":[{\"role\":\"user\",\"content\":\"x\",\"name\":\"n\"}]}",
        "field 'messages[0].name': unknown field");
    bad("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"echo\":true}",
        "'echo': works with 'prompt' only");
}

static void test_rules(void) {
    static const char *const extra[] = {"model", "stream", NULL};
    lm_request_rules saved = rules;
    rules.extra_fields = extra;
    rules.allow_messages = 0;
    rules.allow_echo = 0;
    rules.temperature = 0.5f;
    lm_request r;
    parse("{\"prompt\":\"x\",\"model\":\"m\",\"stream\":true}", NULL, &r);
    CHECK(r.temperature == 0.5f, "the rules' default temperature");
    lm_request_free(&r);
    bad("{\"prompt\":\"x\",\"user\":\"u\"}", "field 'user': unknown field");
    bad("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
        "field 'messages': unknown field");
    bad("{\"prompt\":\"x\",\"echo\":false}", "field 'echo': unknown field");
    bad("{\"model\":\"m\"}", "no 'prompt'");
    rules = saved;
}

/* Tokens of `text` (BOS when asked) appended to want. */
static int add_text(const lm_tokenizer *tok, const char *text, int bos, int *want, int n) {
    int k = 0;
    int *t = lm_tokenize(tok, text, bos, 0, &k, NULL);
    memcpy(want + n, t, (size_t)k * sizeof *t);
    free(t);
    return n + k;
}

static void expect_tokens(const lm_tokenizer *tok, const lm_chat_message *m, int n, const int *want,
                          int n_want, const char *what) {
    int got_n = 0;
    lm_error e = {{0}};
    int *got = lm_chat_tokens(tok, m, n, &got_n, &e);
    CHECK(got && got_n == n_want && !memcmp(got, want, (size_t)n_want * sizeof *want),
          "%s: %d tokens, want %d (%s)", what, got_n, n_want, e.msg);
    free(got);
}

static void test_template(const lm_tokenizer *tok) {
    int want[512], n = 0;
    lm_chat_message sys_user[] = {{LM_ROLE_SYSTEM, "Speak as a prophet."},
                                  {LM_ROLE_USER, "Who art thou?"}};
    n = add_text(tok, "[INST] <<SYS>>\nSpeak as a prophet.\n<</SYS>>\n\nWho art thou? [/INST]", 1,
                 want, 0);
    expect_tokens(tok, sys_user, 2, want, n, "system + user");
    CHECK(want[0] == LM_TOKEN_BOS, "BOS first");

    lm_chat_message empty_sys[] = {{LM_ROLE_SYSTEM, ""}, {LM_ROLE_USER, "Who art thou?"}};
    n = add_text(tok, "[INST] Who art thou? [/INST]", 1, want, 0);
    expect_tokens(tok, empty_sys, 2, want, n, "empty system = none");
    expect_tokens(tok, empty_sys + 1, 1, want, n, "user only");

    lm_chat_message turns[] = {{LM_ROLE_SYSTEM, "S"},
                               {LM_ROLE_USER, "u1"},
                               {LM_ROLE_ASSISTANT, "a1"},
                               {LM_ROLE_USER, "u2"}};
    n = add_text(tok, "[INST] <<SYS>>\nS\n<</SYS>>\n\nu1 [/INST]", 1, want, 0);
    n = add_text(tok, "a1", 0, want, n);
    want[n++] = LM_TOKEN_EOS;
    n = add_text(tok, "[INST] u2 [/INST]", 1, want, n);
    expect_tokens(tok, turns, 4, want, n, "two turns");

    struct {
        lm_chat_message m[3];
        int n;
        const char *err;
    } bad_orders[] = {
        {{{LM_ROLE_SYSTEM, "S"}}, 1, "a system message needs a user message"},
        {{{LM_ROLE_ASSISTANT, "a"}}, 1, "messages[0]: an assistant message where a user"},
        {{{LM_ROLE_USER, "u"}, {LM_ROLE_USER, "v"}}, 2, "messages[1]: a user message where a"},
        {{{LM_ROLE_USER, "u"}, {LM_ROLE_ASSISTANT, "a"}}, 2, "the last message must be a user"},
        {{{LM_ROLE_USER, "u"}, {LM_ROLE_SYSTEM, "s"}, {LM_ROLE_USER, "v"}}, 3, "messages[1]"},
        {{{0}}, 0, "no messages"},
    };
    for (size_t i = 0; i < sizeof bad_orders / sizeof *bad_orders; i++) {
        lm_error e = {{0}};
        int k = -1;
        int *t = lm_chat_tokens(tok, bad_orders[i].m, bad_orders[i].n, &k, &e);
        CHECK(!t && strstr(e.msg, bad_orders[i].err), "order %zu: want '%s', got '%s'", i,
              bad_orders[i].err, e.msg);
        free(t);
    }
}

/* Run `json` alone on a batch; the final text, and streaming checks on the
 * way: the stable prefix only grows and never changes once reported. */
static char *run_streamed(lm_batch *b, const lm_tokenizer *tok, const char *json,
                          lm_request_finish *finish) {
    lm_request req;
    lm_error e = {{0}};
    CHECK(!lm_request_parse_text(json, strlen(json), &rules, &req, &e), "%s", e.msg);
    lm_request_run *run = lm_request_prepare(tok, 256, &req, &e);
    lm_request_free(&req);
    CHECK(run && !lm_request_submit(run, b, &e), "%s", e.msg);
    if (!run) return NULL;
    char *seen = strdup("");
    size_t seen_len = 0;
    lm_batch_event ev[4];
    for (int done = 0; !done;) {
        int n = lm_batch_step(b, ev, &e);
        CHECK(n >= 0, "%s", e.msg);
        if (n < 0) break;
        for (int i = 0; i < n; i++) done |= lm_request_feed(run, b, &ev[i]);
        size_t len, stable = lm_request_stable_len(run);
        const char *text = lm_request_text(run, &len);
        CHECK(stable >= seen_len && stable <= len, "stable %zu, seen %zu, len %zu", stable,
              seen_len, len);
        CHECK(!memcmp(text, seen, seen_len), "streamed text changed");
        free(seen);
        seen = strndup(text, stable);
        seen_len = stable;
    }
    *finish = lm_request_finish_reason(run);
    CHECK(lm_batch_active(b) == 0, "the sequence left the batch");
    lm_request_run_free(run);
    return seen;
}

static void test_stop_strings(const char *model_path, const lm_tokenizer *tok) {
    lm_error e;
    lm_model *m = lm_model_load(model_path, &e);
    CHECK(m, "%s", e.msg);
    if (!m) return;
    lm_batch *b = lm_batch_new(m, (lm_batch_params){.max_seqs = 2, .n_threads = 1}, &e);
    CHECK(b, "%s", e.msg);
    lm_request_finish f1, f2;
    char *full = run_streamed(b, tok, "{\"prompt\":\"And\",\"seed\":5,\"max_tokens\":150}", &f1);
    CHECK(f1 == LM_REQUEST_LENGTH, "without stop: length");
    /* a stop string that spans tokens: the text's first ", and" */
    char *cut = run_streamed(
        b, tok, "{\"prompt\":\"And\",\"seed\":5,\"max_tokens\":150,\"stop\":[\"zzz\",\", and\"]}",
        &f2);
    const char *at = full ? strstr(full, ", and") : NULL;
    CHECK(at, "the text has no ', and' to stop at: %s", full ? full : "");
    if (at && cut)
        CHECK(f2 == LM_REQUEST_STOP && strlen(cut) == (size_t)(at - full) &&
                  !strncmp(cut, full, strlen(cut)),
              "cut '%s' (finish %d), full '%s'", cut, f2, full);
    free(full);
    free(cut);
    lm_batch_free(b);
    lm_model_free(m);
}

/* ---- UTF-8 and \u0000 ------------------------------------------------------ */

static void test_utf8(void) {
    static const struct {
        const char *s;
        size_t valid;
    } cases[] = {
        {"abc", 3},
        {"a\xC3\xA9", 3},                /* é */
        {"a\xC3", 1},                    /* cut */
        {"\xE4\xB8\xAD\xE6\x96\x87", 6}, /* 中文 */
        {"\xF0\x9F\x98\x80!", 5},        /* U+1F600 */
        {"\xC0\x80", 0},                 /* overlong NUL */
        {"\xE0\x80\x80", 0},             /* overlong */
        {"\xED\xA0\x80", 0},             /* a surrogate */
        {"\xF4\x90\x80\x80", 0},         /* beyond U+10FFFF */
        {"x\xFFy", 1},
        {"\xE4\xB8x", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        size_t n = strlen(cases[i].s);
        CHECK(lm_utf8_valid_len(cases[i].s, n) == cases[i].valid, "case %zu: %zu, want %zu", i,
              lm_utf8_valid_len(cases[i].s, n), cases[i].valid);
        CHECK(lm_utf8_valid(cases[i].s) == (cases[i].valid == n), "case %zu: valid", i);
    }
    CHECK(lm_utf8_clip("a\xC3\xA9", 2) == 1, "clip inside é");
    CHECK(lm_utf8_clip("a\xC3\xA9", 3) == 3, "clip after é");
    CHECK(lm_utf8_clip("abc", 10) == 3, "clip: shorter than max");
    CHECK(lm_utf8_clip("\xE4\xB8\xAD\xE6\x96\x87", 4) == 3, "clip inside 文");
    CHECK(lm_utf8_clip("\xE4\xB8\xAD", 0) == 0, "clip to 0");
    CHECK(lm_utf8_trim_end("a\xE4\xB8", 3) == 1, "trim a cut 中");
    CHECK(lm_utf8_trim_end("a\xE4\xB8\xAD", 4) == 4, "trim: whole");
    CHECK(lm_utf8_trim_end("ab", 2) == 2 && lm_utf8_trim_end("", 0) == 0, "trim: ASCII");
}

/* lm_json_check_text on len bytes: want_err NULL = passes, else the message
 * must contain it (and be valid UTF-8). */
static void json_text(const char *text, size_t len, const char *want_err) {
    lm_error e = {{0}};
    int rc = lm_json_check_text(text, len, &e);
    if (!want_err)
        CHECK(rc == 0, "%s: %s", text, e.msg);
    else
        CHECK(rc == -1 && strstr(e.msg, want_err) && lm_utf8_valid(e.msg),
              "%s: want '%s', got rc %d '%s'", text, want_err, rc, e.msg);
}

static void test_json_text(void) {
#define JT(text, want) json_text(text, strlen(text), want)
    JT("{\"prompt\":\"And\\u0000 it came\"}",
       "field 'prompt': the string has a \\u0000 (NUL) character");
    JT("{\"messages\":[{\"role\":\"user\",\"content\":\"x\\u0000\"}]}",
       "field 'messages[0].content': the string has a \\u0000");
    JT("{\"stop\":[\"a\",\"b\\u0000\"]}", "field 'stop[1]': the string has a \\u0000");
    JT("{\"model\":\"kjv1m\\u0000evil\"}", "field 'model': the string has a \\u0000");
    JT("{\"pro\\u0000mpt\":\"x\"}", "a field name has a \\u0000");
    JT("{\"a\":{\"b\xFF\":1}}", "field 'a': a field name is not valid UTF-8 (at byte 9)");
    JT("{\"prompt\":\"caf\xC3\"}", "field 'prompt': the string is not valid UTF-8 (at byte 15)");
    JT("{\"x\\\"y\":[0,{\"z\":\"\\u0000\"}]}", "field 'x\\\"y[1].z'");
    JT("\"\\u0000\"", "a string has a \\u0000");
    JT("{\"prompt\":\"a\\\\\\u0000\"}", "field 'prompt'"); /* an escaped \, then \u0000 */
    /* what must pass: an escaped backslash before "u0000", other escapes */
    JT("{\"prompt\":\"\\\\u0000\"}", NULL);
    JT("{\"prompt\":\"\\u00e9\\ud83d\\ude00 caf\xC3\xA9 \\\"q\\\"\",\"n\":[1,true,null,-2e5]}",
       NULL);
    JT(" { } ", NULL);
    /* a raw NUL byte inside a string ends a cJSON string too */
    json_text("{\"prompt\":\"a\0b\"}", 15, "field 'prompt': the string has a NUL byte");
    /* text that is not JSON: no error here, and nothing read past its end */
    const char *broken[] = {"{\"a\":\"\\u00", "{\"a\":\"\\", "{\"a\"", "[1,",
                            "{\"a\":[\"x\"",  "{",           "",       "\"abc",
                            "{\"a\" 1}",      "[\"\\u0000"};
    for (size_t i = 0; i < sizeof broken / sizeof *broken; i++) {
        size_t n = strlen(broken[i]);
        char *copy = malloc(n ? n : 1); /* exact size: ASan sees a read past it */
        memcpy(copy, broken[i], n);
        lm_error e = {{0}};
        int rc = lm_json_check_text(copy, n, &e);
        CHECK(rc == 0 || (i == 9 && rc == -1), "broken %zu: rc %d %s", i, rc, e.msg);
        free(copy);
    }
    /* a long path is cut at a character boundary */
    char text[2048] = "{\"";
    for (int i = 0; i < 200; i++) strcat(text, "\xC3\xA9");
    strcat(text, "\":\"\\u0000\"}");
    JT(text, "the string has a \\u0000");
#undef JT
}

/* Requests whose strings are cut by \u0000 or are not UTF-8: errors naming
 * the field, and every message valid UTF-8. */
static void test_strings(void) {
    bad("{\"prompt\":\"And\\u0000 it came\"}", "field 'prompt': the string has a \\u0000");
    bad("{\"prompt\":\"x\",\"stop\":[\"\\u0000\"]}", "field 'stop[0]': the string has a \\u0000");
    bad("{\"messages\":[{\"role\":\"user\",\"content\":\"A\\u0000B\"}]}",
        "field 'messages[0].content'");
    bad("{\"prompt\":\"x\",\"id\":\"a\\u0000b\"}", "field 'id'");
    bad("{\"prompt\":\"x\",\"id\":\"\xC3\"}", "field 'id': the string is not valid UTF-8");
    bad("{\"prompt\":\"x\",\"\xFF\":1}", "a field name is not valid UTF-8");

    /* echoed user strings are cut at a character boundary */
    char json[512], want[128];
    strcpy(json, "{\"messages\":[{\"role\":\"a");
    for (int i = 0; i < 30; i++) strcat(json, "\xC3\xA9");
    strcat(json, "\",\"content\":\"x\"}]}");
    lm_request r;
    lm_error e = {{0}};
    CHECK(lm_request_parse_text(json, strlen(json), &rules, &r, &e) == -1 && lm_utf8_valid(e.msg) &&
              strstr(e.msg, "is not system, user or assistant"),
          "a long role: '%s'", e.msg);
    strcpy(json, "{\"prompt\":\"x\",\"a");
    for (int i = 0; i < 40; i++) strcat(json, "\xE4\xB8\xAD");
    strcat(json, "\":1}");
    CHECK(lm_request_parse_text(json, strlen(json), &rules, &r, &e) == -1 && lm_utf8_valid(e.msg) &&
              strstr(e.msg, "unknown field"),
          "a long field name: '%s'", e.msg);
    snprintf(want, sizeof want, "field 'a%s", "\xE4\xB8\xAD");
    CHECK(strstr(e.msg, want), "the name echoed: '%s'", e.msg);

    /* lm_request_parse on a tree (serve's way): UTF-8 checked there too */
    static const struct {
        const char *json, *err;
    } tree[] = {
        {"{\"prompt\":\"caf\xC3\"}", "field 'prompt': not valid UTF-8"},
        {"{\"prompt\":\"x\",\"k\xC3\":1}", "a field name is not valid UTF-8"},
        {"{\"prompt\":\"x\",\"id\":\"\xFF\"}", "field 'id': not valid UTF-8"},
        {"{\"prompt\":\"x\",\"stop\":[\"a\",\"\xFF\"]}", "field 'stop[1]': not valid UTF-8"},
        {"{\"messages\":[{\"role\":\"\xFF\",\"content\":\"x\"}]}",
         "field 'messages[0].role': not valid UTF-8"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"\xED\xA0\x80\"}]}",
         "field 'messages[0].content': not valid UTF-8"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"x\",\"\xC0\":1}]}",
         "field 'messages[0]': a field name is not valid UTF-8"},
    };
    for (size_t i = 0; i < sizeof tree / sizeof *tree; i++) {
        cJSON *obj = cJSON_Parse(tree[i].json);
        CHECK(obj, "tree %zu: cJSON refused it", i);
        int rc = lm_request_parse(obj, &rules, &r, &e);
        CHECK(rc == -1 && strstr(e.msg, tree[i].err), "tree %zu: want '%s', got rc %d '%s'", i,
              tree[i].err, rc, e.msg);
        if (!rc) lm_request_free(&r);
        cJSON_Delete(obj);
    }
}

/* Messages out of the template's order: a bad request naming the message. */
static void test_order(void) {
    bad("{\"messages\":[{\"role\":\"user\",\"content\":\"u\"},{\"role\":\"assistant\","
        "\"content\":\"a\"}]}",
        "field 'messages[1]': the last message must be a user message, not an assistant message");
    bad("{\"messages\":[{\"role\":\"assistant\",\"content\":\"a\"}]}",
        "field 'messages[0]': an assistant message where a user message must come");
    bad("{\"messages\":[{\"role\":\"system\",\"content\":\"s\"},{\"role\":\"system\","
        "\"content\":\"t\"},{\"role\":\"user\",\"content\":\"u\"}]}",
        "field 'messages[1]': a system message where a user message must come");
    bad("{\"messages\":[{\"role\":\"user\",\"content\":\"u\"},{\"role\":\"user\","
        "\"content\":\"v\"}]}",
        "field 'messages[1]': a user message where an assistant message must come");
    bad("{\"messages\":[{\"role\":\"system\",\"content\":\"s\"}]}",
        "field 'messages': a system message needs a user message");
}

/* ---- stop strings ------------------------------------------------------------ */

static void test_stop_limits(void) {
    char json[2048], s256[257], s257[258];
    memset(s256, 'a', 256);
    s256[256] = '\0';
    memset(s257, 'b', 257);
    s257[257] = '\0';
    lm_request r;
    snprintf(json, sizeof json, "{\"prompt\":\"x\",\"stop\":[\"%s\",\"b\",\"c\",\"d\"]}", s256);
    parse(json, NULL, &r);
    CHECK(r.n_stop == 4 && strlen(r.stop[0]) == 256, "4 stop strings, one of 256 bytes");
    lm_request_free(&r);
    bad("{\"prompt\":\"x\",\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}",
        "field 'stop': 5 strings, more than the limit of 4");
    snprintf(json, sizeof json, "{\"prompt\":\"x\",\"stop\":[\"a\",\"%s\"]}", s257);
    bad(json, "field 'stop[1]': 257 bytes, more than the limit of 256");
    snprintf(json, sizeof json, "{\"prompt\":\"x\",\"stop\":\"%s\"}", s257);
    bad(json, "field 'stop': 257 bytes, more than the limit of 256");
    /* 128 two-byte characters are 256 bytes; 129 are too many */
    char *p = json + sprintf(json, "{\"prompt\":\"x\",\"stop\":\"");
    for (int i = 0; i < 129; i++) p += sprintf(p, "\xC3\xA9");
    strcpy(p, "\"}");
    bad(json, "field 'stop': 258 bytes");
    /* a huge array is refused by its count */
    size_t n = 100000;
    char *big = malloc(n * 4 + 64);
    char *q = big + sprintf(big, "{\"prompt\":\"x\",\"stop\":[");
    for (size_t i = 0; i < n; i++) q += sprintf(q, "%s\"s\"", i ? "," : "");
    strcpy(q, "]}");
    bad(big, "field 'stop': 100000 strings");
    free(big);
}

/* The token whose piece (after a token that is not BOS) is `piece`, or -1;
 * the last few found are kept (a vocabulary scan per piece is slow). */
static int token_for(const lm_tokenizer *tok, const char *piece) {
    static struct {
        const lm_tokenizer *tok;
        char piece[16];
        int id;
    } seen[32];
    static int next;
    for (int i = 0; i < 32; i++)
        if (seen[i].tok == tok && !strcmp(seen[i].piece, piece)) return seen[i].id;
    int found = -1;
    for (int id = 3; id < lm_tokenizer_vocab_size(tok) && found < 0; id++)
        if (!strcmp(lm_token_piece(tok, 3, id), piece)) found = id;
    if (strlen(piece) < sizeof seen[0].piece) {
        seen[next].tok = tok;
        strcpy(seen[next].piece, piece);
        seen[next].id = found;
        next = (next + 1) % 32;
    }
    return found;
}

/* Feed the pieces (a NULL-terminated list) to a run of `json` on b as if the
 * batch had sampled them, checking the stream on the way: the stable prefix
 * only grows, never changes, and ends at a character boundary. The text when
 * the run ended or the pieces ran out; *finish RUNNING for the latter. */
static char *feed(lm_batch *b, const lm_tokenizer *tok, const char *json, const char *const *pieces,
                  lm_request_finish *finish) {
    lm_request req;
    lm_error e = {{0}};
    *finish = LM_REQUEST_ERROR;
    CHECK(!lm_request_parse_text(json, strlen(json), &rules, &req, &e), "%s: %s", json, e.msg);
    lm_request_run *run = lm_request_prepare(tok, 256, &req, &e);
    lm_request_free(&req);
    CHECK(run && !lm_request_submit(run, b, &e), "%s: %s", json, e.msg);
    if (!run) return strdup("");
    char *seen = strdup("");
    size_t seen_len = 0;
    int done = 0;
    for (int i = 0; pieces[i] && !done; i++) {
        int id = token_for(tok, pieces[i]);
        CHECK(id >= 0, "no token with the piece '%s'", pieces[i]);
        lm_batch_event ev = {.seq = lm_request_seq(run), .token = id, .finish = LM_RUNNING};
        done = lm_request_feed(run, b, &ev);
        size_t len, stable = lm_request_stable_len(run);
        const char *text = lm_request_text(run, &len);
        CHECK(stable >= seen_len && stable <= len && !memcmp(text, seen, seen_len),
              "%s: the stream changed", json);
        CHECK(lm_utf8_valid_len(text, stable) == stable, "%s: stable text cuts a character", json);
        free(seen);
        seen = strndup(text, stable);
        seen_len = stable;
    }
    char *out = strdup(lm_request_text(run, NULL));
    *finish = lm_request_finish_reason(run);
    if (!done) lm_request_cancel(run, b);
    CHECK(lm_batch_active(b) == 0, "%s: the sequence left the batch", json);
    lm_request_run_free(run);
    free(seen);
    return out;
}

/* `json` with `pieces` must end with `want` and finish `f`. */
static void expect_feed(lm_batch *b, const lm_tokenizer *tok, const char *json,
                        const char *const *pieces, const char *want, lm_request_finish f) {
    lm_request_finish got;
    char *text = feed(b, tok, json, pieces, &got);
    CHECK(!strcmp(text, want) && got == f, "%s: got '%s' (finish %d), want '%s' (%d)", json, text,
          got, want, f);
    free(text);
}

/* The reference for a text that arrives whole: the cut before the stop
 * string that ends first (the longest of those ending at that byte), or -1. */
static long naive_cut(const char *text, char stops[][8], int n_stop) {
    for (size_t e = 0; text[e]; e++) {
        long cut = -1;
        for (int i = 0; i < n_stop; i++) {
            size_t n = strlen(stops[i]);
            if (e + 1 >= n && !memcmp(text + e + 1 - n, stops[i], n) &&
                (cut < 0 || (long)(e + 1 - n) < cut))
                cut = (long)(e + 1 - n);
        }
        if (cut >= 0) return cut;
    }
    return -1;
}

/* Random texts over {a, b} in random pieces, random stop strings: the cut
 * is the reference's whatever the split. */
static void random_stops(lm_batch *b, const lm_tokenizer *llama2) {
    static const char *const alphabet[] = {"a", "b", "aa", "ab", "ba", "bb"};
    for (int i = 0; i < 6; i++)
        CHECK(token_for(llama2, alphabet[i]) >= 0, "no piece '%s'", alphabet[i]);
    uint64_t x = 88172645463325252u; /* xorshift64 */
#define RND() (x ^= x << 13, x ^= x >> 7, x ^= x << 17, x)
    for (int round = 0; round < 400; round++) {
        const char *pieces[40];
        char text[100] = "", stops[4][8], json[256];
        int n_pieces = 1 + (int)(RND() % 30), n_stop = 1 + (int)(RND() % 4);
        for (int i = 0; i < n_pieces; i++) {
            pieces[i] = alphabet[RND() % 6];
            strcat(text, pieces[i]);
        }
        pieces[n_pieces] = NULL;
        char *j = json + sprintf(json, "{\"prompt\":\"\",\"max_tokens\":100,\"stop\":[");
        for (int i = 0; i < n_stop; i++) {
            int n = 1 + (int)(RND() % 5);
            for (int k = 0; k < n; k++) stops[i][k] = RND() % 3 ? 'a' : 'b';
            stops[i][n] = '\0';
            j += sprintf(j, "%s\"%s\"", i ? "," : "", stops[i]);
        }
        strcpy(j, "]}");
        long cut = naive_cut(text, stops, n_stop);
        if (cut >= 0) text[cut] = '\0';
        expect_feed(b, llama2, json, pieces, text, cut >= 0 ? LM_REQUEST_STOP : LM_REQUEST_RUNNING);
    }
#undef RND
}

static void test_stop_matching(const char *model_path, const lm_tokenizer *tok,
                               const lm_tokenizer *llama2) {
    lm_error e;
    lm_model *m = lm_model_load(model_path, &e);
    CHECK(m, "%s", e.msg);
    if (!m) return;
    lm_batch *b = lm_batch_new(m, (lm_batch_params){.max_seqs = 1, .n_threads = 1}, &e);
    CHECK(b, "%s", e.msg);
    if (!b) return lm_model_free(m);
    const lm_request_finish STOP = LM_REQUEST_STOP, RUN = LM_REQUEST_RUNNING;
    /* "and the LORD said" split two ways: one byte a token, and longer pieces */
    static const char *const bytes[] = {"a", "n", "d", " ", "t", "h", "e", " ", "L",
                                        "O", "R", "D", " ", "s", "a", "i", "d", NULL};
    static const char *const words[] = {"a", "nd", " the", " L", "ORD", " said", NULL};
    const char *const *splits[] = {bytes, words};
    for (int k = 0; k < 2; k++) {
        const char *const *p = splits[k];
        const char *J = "{\"prompt\":\"And\",\"max_tokens\":100,\"stop\":";
        char json[256];
#define STOPS(list) (snprintf(json, sizeof json, "%s%s}", J, list), json)
        expect_feed(b, tok, STOPS("[\"zzz\"]"), p, "and the LORD said", RUN);
        /* across token boundaries */
        expect_feed(b, tok, STOPS("[\"d the LO\"]"), p, "an", STOP);
        /* at the very start */
        expect_feed(b, tok, STOPS("\"and\""), p, "", STOP);
        expect_feed(b, tok, STOPS("\"a\""), p, "", STOP);
        /* overlapping: the one completed first wins, however the bytes came */
        expect_feed(b, tok, STOPS("[\"the LORD\",\"LO\"]"), p, "and the ", STOP);
        expect_feed(b, tok, STOPS("[\"e LORD said\",\"ORD\"]"), p, "and the L", STOP);
        /* two ending at the same byte: the longer one goes */
        expect_feed(b, tok, STOPS("[\"RD\",\"LORD\",\"D\"]"), p, "and the ", STOP);
        /* a prefix held back, then released */
        expect_feed(b, tok, STOPS("[\"LORDS\",\"said!\"]"), p, "and the LORD said", RUN);
        /* the matcher falls back within a stop string (a naive one misses these) */
        expect_feed(b, tok, STOPS("\"e LORD s\""), p, "and th", STOP);
#undef STOPS
    }
    static const char *const aaab[] = {"a", "a", "a", "b", "a", "b", "a", "b", "c", NULL};
    expect_feed(b, tok, "{\"prompt\":\"And\",\"stop\":\"aab\"}", aaab, "a", STOP);
    expect_feed(b, tok, "{\"prompt\":\"And\",\"stop\":\"ababc\"}", aaab, "aaab", STOP);
    expect_feed(b, tok, "{\"prompt\":\"And\",\"stop\":[\"bc\",\"ababab\"]}", aaab, "aa", STOP);
    /* the echoed prompt is not searched */
    expect_feed(b, tok, "{\"prompt\":\"And\",\"echo\":true,\"stop\":\"And\"}", aaab, "Andaaabababc",
                RUN);
    /* a 256-byte stop string */
    static const char *a300[302];
    for (int i = 0; i < 300; i++) a300[i] = "a";
    a300[300] = NULL;
    char json[600];
    char *p = json + sprintf(json, "{\"prompt\":\"And\",\"max_tokens\":400,\"stop\":\"");
    memset(p, 'a', 256);
    strcpy(p + 256, "\"}");
    expect_feed(b, tok, json, a300, "", STOP);
    a300[255] = "b";
    char want[301] = {0};
    memset(want, 'a', 300);
    want[255] = 'b';
    expect_feed(b, tok, json, a300, want, RUN);
    /* multi-byte characters (the Llama 2 vocabulary has them as pieces) */
    static const char *const cafe[] = {
        "c", "a", "f", "\xC3\xA9", " ", "\xE4\xB8\xAD", "\xE6\x96\x87",
        "!", NULL}; /* "café 中文!" */
    expect_feed(b, llama2, "{\"prompt\":\"\",\"stop\":\"\xC3\xA9 \xE4\xB8\xAD\"}", cafe, "caf",
                STOP);
    expect_feed(b, llama2, "{\"prompt\":\"\",\"stop\":\"\xE6\x96\x87\"}", cafe,
                "caf\xC3\xA9 \xE4\xB8\xAD", STOP);
    expect_feed(b, llama2,
                "{\"prompt\":\"\",\"stop\":[\"\xE4\xB8\xAD\xE6\x96\x87?\",\"\xC3\xA9\xC3\xA9\"]}",
                cafe, "caf\xC3\xA9 \xE4\xB8\xAD\xE6\x96\x87!", RUN);
    random_stops(b, llama2);
    lm_batch_free(b);
    lm_model_free(m);
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: test_request TOKENIZER MODEL LLAMA2_TOKENIZER\n");
        return 2;
    }
    rules = lm_request_rules_default();
    test_fields();
    test_errors();
    test_rules();
    test_utf8();
    test_json_text();
    test_strings();
    test_order();
    test_stop_limits();
    lm_error e;
    lm_tokenizer *tok = lm_tokenizer_load(argv[1], 0, &e);
    CHECK(tok, "%s", e.msg);
    if (tok) test_template(tok);
    if (tok) test_stop_strings(argv[2], tok);
    lm_tokenizer *llama2 = lm_tokenizer_load(argv[3], 0, &e);
    CHECK(llama2, "%s", e.msg);
    if (tok && llama2) test_stop_matching(argv[2], tok, llama2);
    lm_tokenizer_free(llama2);
    lm_tokenizer_free(tok);
    return check_exit("test_request");
}
