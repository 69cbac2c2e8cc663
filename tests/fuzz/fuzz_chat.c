/* Fuzz target: the chat reader and loop (cli_chat, src/cli/generate.c).
 *
 * A tiny random-weight model on the Llama 2 vocabulary answers the input as
 * standard input: any bytes, lines of any length, NULs, CRs, no final
 * newline. The first byte picks the context size (8..71 positions), whether
 * there is a system prompt and whether the first line is given as the first
 * turn. cli_chat must return 0, CLI_CONTEXT_FULL or -1 with a one-line message,
 * and a line longer than the context can hold must not be read whole (the
 * harness caps the input at 64 KiB; the reader's cap is what keeps memory
 * bounded on an endless line). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <string.h>

#include "fuzz_common.h"
#include "generate.h"
#include "lamina.h"

static lm_tokenizer *tok;
static lm_model *model;
static FILE *sink;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    lm_error e;
    tok = lm_tokenizer_load(LAMINA_FUZZ_VOCAB_PATH, 0, &e);
    FUZZ_CHECK(tok != NULL, "%s", e.msg);
    lm_config c = {.dim = 16,
                   .hidden_dim = 32,
                   .n_layers = 1,
                   .n_heads = 2,
                   .n_kv_heads = 1,
                   .vocab_size = lm_tokenizer_vocab_size(tok),
                   .seq_len = 128};
    model = lm_model_random(&c, LM_FORMAT_V1, 0, 7, &e);
    FUZZ_CHECK(model != NULL, "%s", e.msg);
    sink = fopen("/dev/null", "w");
    FUZZ_CHECK(sink != NULL, "/dev/null");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!tok) LLVMFuzzerInitialize(NULL, NULL);
    if (size < 1 || size > 65536) return 0;
    int n_ctx = 8 + (data[0] & 63), system = data[0] & 64, given = data[0] & 128;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    char *first = NULL;
    if (given) { /* the first line becomes the first turn, as -i does */
        const char *nl = memchr(text, '\n', len);
        size_t n = nl ? (size_t)(nl - text) : len;
        first = malloc(n + 1); /* not strndup: the input has no NUL */
        if (!first) return 0;
        memcpy(first, text, n);
        first[n] = '\0';
        text += nl ? n + 1 : n, len -= nl ? n + 1 : n;
    }
    FILE *in = fmemopen(len ? (void *)text : (void *)"", len ? len : 1, "r");
    if (!in) {
        free(first);
        return 0;
    }
    if (!len) getc(in); /* an empty stream: consume the placeholder byte */
    lm_error e;
    lm_batch *b = lm_batch_new(model, (lm_batch_params){1, n_ctx, 1, NULL}, &e);
    FUZZ_CHECK(b != NULL, "%s", e.msg);
    lm_sampler *s = lm_sampler_new(lm_tokenizer_vocab_size(tok), 0.0f, 0.9f, 1, &e);
    FUZZ_CHECK(s != NULL, "%s", e.msg);
    cli_loop l = {b, tok, s, n_ctx, 128, in, sink, {0}};
    e.msg[0] = '\0';
    int rc = cli_chat(&l, LM_CHAT_LLAMA2, system ? "Be brief." : NULL, first, 0, &e);
    FUZZ_CHECK(rc == 0 || rc == CLI_CONTEXT_FULL || rc == -1, "rc %d", rc);
    if (rc) fuzz_check_message(e.msg, "cli_chat");
    cli_stats st = l.stats;
    FUZZ_CHECK(st.prompt_tokens + st.generated_tokens <= n_ctx + 1, "%d + %d tokens in %d",
               st.prompt_tokens, st.generated_tokens, n_ctx);
    lm_sampler_free(s);
    lm_batch_free(b);
    fclose(in);
    free(first);
    return 0;
}
