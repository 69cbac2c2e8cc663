/* Fuzz target: GGUF files, the parser (src/engine/gguf.h) and the model
 * loader on top of it.
 *
 * The input is a whole file. First lm_gguf_parse on the bytes: when it
 * accepts them, every key is looked up again by name and read through every
 * getter, every string of every string array walked, every tensor found by
 * name with its data inside the input and no larger than it. Then the same
 * bytes as a file (memfd) through lm_model_load: a model that loads has a
 * consistent info block and, when small, runs two decode steps so that ASan
 * sees every weight the loader pointed at. Any refusal must be a one-line
 * message. The same bytes as a vocabulary (lm_tokenizer_load_memory): one
 * that loads encodes a text from the input's tail to ids inside it and
 * decodes every id it gave. Seeds: tests/fuzz/regressions/gguf (tiny models
 * gguf-py wrote) and the replay inputs (a vocabulary-only GGUF). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "gguf.h"
#include "lamina.h"

#define FORWARD_MAX_FILE (1u << 20)

static fuzz_file file;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fuzz_file_init(&file, "gguf");
    return 0;
}

static void inside(const void *p, uint64_t n, const uint8_t *data, size_t size, const char *what) {
    const uint8_t *b = p;
    FUZZ_CHECK(b >= data && n <= size && (uint64_t)(b - data) <= size - n, "%s outside the input",
               what);
}

static void walk_kv(const lm_gguf *g, const lm_gguf_kv *kv, const uint8_t *data, size_t size) {
    char key[LM_GGUF_SHOW_BYTES];
    lm_error e;
    inside(kv->key.p, kv->key.n, data, size, "key");
    if (memchr(kv->key.p, 0, (size_t)kv->key.n)) return; /* not findable as a C string */
    char *k = strndup(kv->key.p, (size_t)kv->key.n);
    FUZZ_CHECK(k, "out of memory");
    FUZZ_CHECK(lm_gguf_find(g, k) == kv, "key '%s' not found again", lm_gguf_show(kv->key, key));
    uint32_t u;
    int32_t i;
    float f;
    int b;
    lm_gguf_str s;
    const lm_gguf_kv *arr;
    /* each getter either reads it or says why not, in one line */
    if (lm_gguf_get_u32(g, k, &u, &e) < 0) fuzz_check_message(e.msg, "get_u32");
    if (lm_gguf_get_i32(g, k, &i, &e) < 0) fuzz_check_message(e.msg, "get_i32");
    if (lm_gguf_get_f32(g, k, &f, &e) < 0) fuzz_check_message(e.msg, "get_f32");
    if (lm_gguf_get_bool(g, k, &b, &e) < 0) fuzz_check_message(e.msg, "get_bool");
    if (lm_gguf_get_str(g, k, &s, &e) == 0) inside(s.p, s.n, data, size, "string");
    if (lm_gguf_get_arr(g, k, -1, &arr, &e) == 0) {
        int64_t v;
        for (uint64_t j = 0; j < arr->count && j < 4096; j++) {
            lm_gguf_arr_int(arr, j, &v);
            lm_gguf_arr_f32(arr, j, &f);
        }
        lm_gguf_iter it = lm_gguf_strings(arr);
        uint64_t n = 0;
        while (lm_gguf_next_str(&it, &s)) inside(s.p, s.n, data, size, "array string"), n++;
        FUZZ_CHECK(arr->elem_type != LM_GGUF_STRING || n == arr->count, "%llu of %llu strings",
                   (unsigned long long)n, (unsigned long long)arr->count);
    }
    free(k);
}

static void parse_only(const uint8_t *data, size_t size) {
    lm_error e;
    e.msg[0] = '\0';
    lm_gguf *g = lm_gguf_parse(data, size, "input.gguf", &e);
    if (!g) {
        fuzz_check_message(e.msg, "lm_gguf_parse");
        return;
    }
    for (uint64_t i = 0; i < lm_gguf_n_kv(g); i++) walk_kv(g, lm_gguf_kv_at(g, i), data, size);
    for (uint64_t i = 0; i < lm_gguf_n_tensors(g); i++) {
        const lm_gguf_tensor *t = lm_gguf_tensor_at(g, i);
        inside(t->data, t->bytes, data, size, "tensor data");
        FUZZ_CHECK((t->offset % lm_gguf_alignment(g)) == 0, "misaligned tensor accepted");
        if (!memchr(t->name.p, 0, (size_t)t->name.n)) {
            char *n = strndup(t->name.p, (size_t)t->name.n);
            FUZZ_CHECK(n && lm_gguf_find_tensor(g, n) == t, "tensor not found again");
            free(n);
        }
    }
    lm_gguf_free(g);
}

static void run(const lm_model *m, const lm_model_info *info) {
    lm_error e;
    int n_ctx = info->config.seq_len < 2 ? info->config.seq_len : 2;
    lm_context *ctx = lm_context_new(m, (lm_context_params){n_ctx, 1, NULL}, &e);
    if (!ctx) {
        fuzz_check_message(e.msg, "lm_context_new");
        return;
    }
    int tokens[2] = {0, info->config.vocab_size - 1};
    for (int pos = 0; pos < n_ctx; pos++) {
        const float *logits = lm_forward(ctx, &tokens[pos], 1, pos);
        FUZZ_CHECK(logits != NULL, "lm_forward refused a valid token at pos %d", pos);
        volatile float sink = 0;
        for (int i = 0; i < info->config.vocab_size; i++) sink += logits[i];
        (void)sink;
    }
    lm_context_free(ctx);
}

/* tokenizer.ggml.* through the tokenizer. */
static void vocab(const uint8_t *data, size_t size) {
    lm_error e;
    e.msg[0] = '\0';
    lm_tokenizer *tok = lm_tokenizer_load_memory(data, size, "input.gguf", 0, &e);
    if (!tok) {
        fuzz_check_message(e.msg, "lm_tokenizer_load_memory");
        return;
    }
    char text[33];
    size_t len = size < 32 ? size : 32;
    memcpy(text, data + size - len, len);
    text[len] = '\0';
    int n = 0, n_vocab = lm_tokenizer_vocab_size(tok);
    int *ids = lm_tokenize(tok, text, 1, 1, &n, &e);
    if (!ids) fuzz_check_message(e.msg, "lm_tokenize");
    for (int i = 0; ids && i < n; i++) {
        FUZZ_CHECK(ids[i] >= 0 && ids[i] < n_vocab, "id %d of %d", ids[i], n_vocab);
        FUZZ_CHECK(lm_token_piece(tok, i ? ids[i - 1] : -1, ids[i]) != NULL, "NULL piece");
    }
    free(ids);
    lm_tokenizer_free(tok);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    parse_only(data, size);
    vocab(data, size);
    fuzz_file_write(&file, data, size);
    lm_error err;
    err.msg[0] = '\0';
    lm_model *m = lm_model_load(file.path, &err);
    if (!m) {
        fuzz_check_message(err.msg, "lm_model_load");
        return 0;
    }
    lm_model_info info = lm_model_get_info(m);
    const lm_config *c = &info.config;
    FUZZ_CHECK(info.format == LM_FORMAT_GGUF || info.format <= LM_FORMAT_V2, "format %d",
               (int)info.format);
    FUZZ_CHECK(c->dim > 0 && c->hidden_dim > 0 && c->n_layers > 0 && c->n_heads > 0 &&
                   c->n_kv_heads > 0 && c->n_heads % c->n_kv_heads == 0 && c->head_size > 0 &&
                   c->head_size % 2 == 0 && c->vocab_size > 0 && c->seq_len > 0,
               "inconsistent config accepted");
    FUZZ_CHECK(c->rope_theta > 0 && c->norm_eps > 0, "theta %g eps %g", (double)c->rope_theta,
               (double)c->norm_eps);
    /* Llama 3's rope scaling: factors positive and finite (rope.c) */
    FUZZ_CHECK(info.rope_scaling == LM_ROPE_NONE ||
                   (info.rope_scaling == LM_ROPE_LLAMA3 && info.rope_factor_min > 0 &&
                    info.rope_factor_min <= info.rope_factor_max &&
                    isfinite(info.rope_factor_max) && info.rope_pairs_scaled >= 0 &&
                    info.rope_pairs_scaled <= c->head_size / 2),
               "rope scaling %d, factors %g to %g", (int)info.rope_scaling,
               (double)info.rope_factor_min, (double)info.rope_factor_max);
    FUZZ_CHECK(info.rope_orig_ctx >= 0, "original context %d", info.rope_orig_ctx);
    FUZZ_CHECK(info.n_params <= (uint64_t)size, "%llu parameters in %zu bytes",
               (unsigned long long)info.n_params, size);
    if (size <= FORWARD_MAX_FILE) run(m, &info);
    lm_model_free(m);
    return 0;
}
