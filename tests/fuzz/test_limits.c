/* Resource limits: headers that claim absurd sizes are refused with a clear
 * error before anything that large is allocated or read, and the KV cache of
 * a context is checked against the machine before it is allocated. Plain C,
 * no libFuzzer: part of the normal test suite (tests/hardening.cmake). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <limits.h>
#include <math.h>
#include <string.h>

#include "../check.h"
#include "args.h"
#include "fuzz_common.h"
#include "lamina.h"

static fuzz_file file;

static void put_i32(uint8_t *p, int32_t v) { memcpy(p, &v, 4); }

/* A v1/v2 header followed by `payload` zero bytes, written to the memfd. */
static void write_header(int version, lm_config c, int shared, int gs, size_t payload) {
    size_t size = 256 + payload;
    uint8_t *img = calloc(1, size);
    put_i32(img, 0x616b3432);
    put_i32(img + 4, version);
    memcpy(img + 8, &c, 28);
    img[36] = (uint8_t)shared;
    put_i32(img + 37, gs);
    fuzz_file_write(&file, img, size);
    free(img);
}

/* Bytes of a v1 file of config c (shared classifier). */
static size_t v1_payload(lm_config c) {
    size_t dim = (size_t)c.dim, hid = (size_t)c.hidden_dim, L = (size_t)c.n_layers;
    size_t kv = (size_t)c.n_kv_heads * (dim / (size_t)c.n_heads);
    size_t floats = 2 * L * dim + dim + (size_t)c.vocab_size * dim +
                    L * (2 * dim * dim + 2 * kv * dim + 3 * hid * dim);
    return floats * 4;
}

static int contains(const char *msg, const char *part) { return strstr(msg, part) != NULL; }

/* The brief's case: a v1 header with seq_len 2^30 loads (v1 has no RoPE
 * tables, so the file does not grow with seq_len), but a context of the full
 * seq_len must be refused with the KV cache's size, not allocated; without a
 * context length the engine fits one (lm_context_fit). */
static void huge_seq_len_kv_cache(void) {
    const int seqs[] = {1 << 30, INT_MAX};
    for (size_t s = 0; s < 2; s++) {
        lm_config c = {64, 4, 4, 2, 2, 4, seqs[s]};
        write_header(1, c, 1, 0, v1_payload(c));
        lm_error err = {{0}};
        lm_model *m = lm_model_load(file.path, &err);
        CHECK(m != NULL, "seq_len %d: %s", seqs[s], err.msg);
        if (!m) continue;
        uint64_t kv = lm_kv_cache_bytes(&c, c.seq_len);
        CHECK(kv == 2ull * 4 * (uint64_t)seqs[s] * 64 * 4, "kv bytes %llu", (unsigned long long)kv);
        err.msg[0] = '\0';
        /* asked for: refused; not asked for (n_ctx 0): what fits, not seq_len
         * (tests/test_kv_f16.c makes such a context) */
        int fit = lm_context_fit(m, 1, LM_KV_F32, 1);
        CHECK(fit > 0 && fit < c.seq_len, "seq_len %d: the fitted context is %d", seqs[s], fit);
        lm_context *ctx = lm_context_new(m, (lm_context_params){c.seq_len, 1, NULL}, &err);
        CHECK(ctx == NULL, "a %llu-byte KV cache was allocated", (unsigned long long)kv);
        CHECK(contains(err.msg, "KV cache") && contains(err.msg, "GiB"),
              "message does not name the KV cache size: '%s'", err.msg);
        lm_context_free(ctx);
        /* a context of a few positions of the same model is fine */
        ctx = lm_context_new(m, (lm_context_params){16, 1, NULL}, &err);
        CHECK(ctx != NULL, "n_ctx 16: %s", err.msg);
        if (ctx) {
            int token = 3;
            CHECK(lm_forward(ctx, &token, 1, 15) != NULL, "forward at the last position");
            CHECK(lm_forward(ctx, &token, 1, 16) == NULL, "forward past n_ctx");
        }
        lm_context_free(ctx);
        lm_model_free(m);
    }
}

static void context_longer_than_model(void) {
    lm_config c = {8, 4, 1, 2, 2, 4, 8};
    write_header(1, c, 1, 0, v1_payload(c));
    lm_error err = {{0}};
    lm_model *m = lm_model_load(file.path, &err);
    CHECK(m != NULL, "%s", err.msg);
    if (!m) return;
    lm_context *ctx = lm_context_new(m, (lm_context_params){9, 1, NULL}, &err);
    CHECK(ctx == NULL && contains(err.msg, "seq_len"), "n_ctx 9 > seq_len 8: '%s'", err.msg);
    lm_context_free(ctx);
    lm_model_free(m);
}

/* Headers whose implied size overflows or is absurd: refused by the size
 * check with the header in the message; nothing is allocated from them. */
static void absurd_headers(void) {
    const struct {
        int version;
        lm_config c;
        int gs;
        const char *expect;
    } cases[] = {
        {1, {1 << 30, 1 << 30, 1 << 30, 2, 2, 1 << 30, 1 << 30}, 0, "truncated or corrupt"},
        {1, {INT_MAX - 1, INT_MAX, INT_MAX, 1, 1, INT_MAX, INT_MAX}, 0, "truncated or corrupt"},
        {2, {1 << 30, 1 << 30, 1 << 30, 2, 2, 1 << 30, 1 << 30}, 64, "truncated or corrupt"},
        {2, {64, 64, 1, 2, 2, 4, 8}, 0, "group size"},
        {2, {64, 64, 1, 2, 2, 4, 8}, -64, "group size"},
        {2, {64, 64, 1, 2, 2, 4, 8}, 48, "group size"},
        {1, {64, 64, 1, 3, 3, 4, 8}, 0, "n_heads"},
        {1, {64, 64, 1, 4, 3, 4, 8}, 0, "n_kv_heads"},
        {1, {6, 64, 1, 2, 2, 4, 8}, 0, "even"},
        {1, {64, 64, 0, 2, 2, 4, 8}, 0, "n_layers"},
        {1, {64, 64, 1, 2, 2, INT_MIN, 8}, 0, "vocab_size"},
        {3, {64, 64, 1, 2, 2, 4, 8}, 0, "version"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_header(cases[i].version, cases[i].c, 1, cases[i].gs, 4096);
        lm_error err = {{0}};
        lm_model *m = lm_model_load(file.path, &err);
        CHECK(m == NULL && contains(err.msg, cases[i].expect), "case %zu: '%s'", i, err.msg);
        lm_model_free(m);
    }
    /* v0: seq_len 2^30 makes the RoPE tables 4 GiB: the size check refuses it */
    uint8_t v0[28 + 64];
    lm_config c = {8, 4, 1, 2, 2, -4, 1 << 30};
    memcpy(v0, &c, 28);
    memset(v0 + 28, 0, 64);
    fuzz_file_write(&file, v0, sizeof v0);
    lm_error err = {{0}};
    lm_model *m = lm_model_load(file.path, &err);
    CHECK(m == NULL && contains(err.msg, "truncated or corrupt"), "v0 seq 2^30: '%s'", err.msg);
    lm_model_free(m);
    /* a shared_classifier byte other than 0 or 1 */
    lm_config ok = {8, 4, 1, 2, 2, 4, 8};
    write_header(1, ok, 7, 0, v1_payload(ok));
    m = lm_model_load(file.path, &err);
    CHECK(m == NULL && contains(err.msg, "shared_classifier"), "shared 7: '%s'", err.msg);
    lm_model_free(m);
}

/* Tokenizer files that claim huge lengths: refused without sizing anything
 * from the claim. */
static void absurd_tokenizers(void) {
    uint8_t f[4 + 3 * 9];
    memset(f, 0, sizeof f);
    put_i32(f, 1);
    for (int i = 0; i < 3; i++) {
        put_i32(f + 4 + 9 * i + 4, 1);
        f[4 + 9 * i + 8] = (uint8_t)('a' + i);
    }
    fuzz_file_write(&file, f, sizeof f);
    lm_error err = {{0}};
    lm_tokenizer *tok = lm_tokenizer_load(file.path, 0, &err);
    CHECK(tok && lm_tokenizer_vocab_size(tok) == 3, "the valid base file: %s", err.msg);
    lm_tokenizer_free(tok);
    tok = lm_tokenizer_load(file.path, INT_MAX, &err);
    CHECK(!tok && contains(err.msg, "vocab_size"), "vocab_size INT_MAX: '%s'", err.msg);
    lm_tokenizer_free(tok);

    const int32_t max_lens[] = {1 << 30, INT_MAX, -1, 0};
    for (size_t i = 0; i < 4; i++) {
        put_i32(f, max_lens[i]);
        fuzz_file_write(&file, f, sizeof f);
        tok = lm_tokenizer_load(file.path, 0, &err);
        CHECK(!tok && contains(err.msg, "max_token_length"), "max_len %d: '%s'", max_lens[i],
              err.msg);
        lm_tokenizer_free(tok);
    }
    put_i32(f, 1);
    const int32_t lens[] = {1 << 30, INT_MAX, -1, 100};
    for (size_t i = 0; i < 4; i++) {
        put_i32(f + 4 + 9 + 4, lens[i]); /* token 1's length */
        fuzz_file_write(&file, f, sizeof f);
        tok = lm_tokenizer_load(file.path, 0, &err);
        CHECK(!tok && contains(err.msg, "token 1"), "len %d: '%s'", lens[i], err.msg);
        lm_tokenizer_free(tok);
    }
}

/* Extreme but accepted numbers: a temperature whose scaled logits overflow
 * samples greedily (was NaN: <unk> after <unk>); flags that would overflow a
 * float or wrap an unsigned seed are usage errors. */
static void extreme_values(void) {
    lm_error err;
    lm_sampler *s = lm_sampler_new(4, 1e-40f, 0.0f, 1, &err);
    CHECK(s != NULL, "%s", err.msg);
    float logits[4] = {1.0f, 3.0f, -2.0f, 2.0f};
    CHECK(lm_sample(s, logits) == 1, "temperature 1e-40 is not greedy");
    float negative[4] = {-5.0f, -1.0f, -3.0f, -1.0f};
    CHECK(lm_sample(s, negative) == 1, "temperature 1e-40, negative logits");
    lm_sampler_free(s);
    s = lm_sampler_new(4, 1e-40f, 0.5f, 1, &err);
    CHECK(s != NULL, "%s", err.msg);
    float topp[4] = {1.0f, 3.0f, -2.0f, 2.0f};
    CHECK(lm_sample(s, topp) == 1, "temperature 1e-40 with top-p is not greedy");
    lm_sampler_free(s);

    const char *bad[][3] = {{"lamina", "-t", "1e39"}, {"lamina", "-p", "1e39"},
                            {"lamina", "-s", " -1"},  {"lamina", "-s", "-1"},
                            {"lamina", "-n", "1e3"},  {"lamina", "--seed", "\t1"},
                            {"lamina", "-n", "0x10"}, {"lamina", "-t", "inf"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cli_args a;
        char msg[256] = "";
        CHECK(cli_parse(3, (char **)bad[i], &a, msg, sizeof msg) == 2 && msg[0], "%s '%s' accepted",
              bad[i][1], bad[i][2]);
    }
    const char *good[] = {"lamina", "-t", "3.4e38", "-s", "18446744073709551615"};
    cli_args a;
    char msg[256] = "";
    CHECK(cli_parse(5, (char **)good, &a, msg, sizeof msg) == 0 && isfinite(a.temperature) &&
              a.seed == UINT64_MAX,
          "largest values: %s", msg);
    /* one grammar: a sign is allowed on every number; a tiny top-p stays a nucleus */
    const char *signed_[] = {"lamina", "-s", "+5", "-n", "+16", "-p", "1e-50"};
    CHECK(cli_parse(7, (char **)signed_, &a, msg, sizeof msg) == 0 && a.seed == 5 &&
              a.steps == 16 && a.topp > 0.0f && a.topp < 1e-30f,
          "signed values, tiny top-p: %s", msg);
}

int main(void) {
    fuzz_file_init(&file, "limits");
    huge_seq_len_kv_cache();
    context_longer_than_model();
    absurd_headers();
    absurd_tokenizers();
    extreme_values();
    return check_exit("test_limits");
}
