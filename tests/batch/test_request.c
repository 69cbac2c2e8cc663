/* The request parser and the chat template (src/request, chat_template.c):
 * every field's type and range, unknown and duplicate fields, null as absent,
 * the template's tokens against the text lm_chat renders, and stop strings on
 * a real batch (the streamed prefix never changes).
 *
 * usage: test_request TOKENIZER MODEL */
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
        {{{LM_ROLE_ASSISTANT, "a"}}, 1, "messages[0]: a assistant message where a user"},
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

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: test_request TOKENIZER MODEL\n");
        return 2;
    }
    rules = lm_request_rules_default();
    test_fields();
    test_errors();
    test_rules();
    lm_error e;
    lm_tokenizer *tok = lm_tokenizer_load(argv[1], 0, &e);
    CHECK(tok, "%s", e.msg);
    if (tok) test_template(tok);
    if (tok) test_stop_strings(argv[2], tok);
    lm_tokenizer_free(tok);
    return check_exit("test_request");
}
