/* Fuzz target: tokenizer.bin loading, then use of what loaded; an input
 * with GGUF's magic is a GGUF vocabulary (tokenizer.ggml.*) instead.
 *
 * The input is a whole tokenizer file, written to a memfd and loaded by path
 * with vocab_size 0 (read to the end) and with a fixed size (259: the
 * specials and the 256 byte tokens). A file that loads with 0 and holds n
 * entries must load with exactly n and be refused with n + 1. A loaded
 * vocabulary then encodes a text taken from the input's tail (arbitrary bytes,
 * against an arbitrary vocabulary: duplicate, empty and NUL-holding pieces,
 * missing byte tokens) and decodes every piece. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <string.h>

#include "fuzz_common.h"
#include "lamina.h"

#define FIXED_VOCAB 259
#define TEXT_MAX 64

static fuzz_file file;
static FILE *devnull;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fuzz_file_init(&file, "tokenizer");
    devnull = fopen("/dev/null", "w");
    FUZZ_CHECK(devnull != NULL, "cannot open /dev/null");
    return 0;
}

static int is_gguf(const uint8_t *data, size_t size) {
    return size >= 4 && memcmp(data, "GGUF", 4) == 0;
}

/* A GGUF vocabulary names its own BOS and EOS (or none), may add no BOS,
 * escapes each space to 3 bytes and may cut out user-defined tokens. */
static void check_gguf_ids(const lm_tokenizer *tok, const int *ids, int n_ids, size_t text_len) {
    int n = lm_tokenizer_vocab_size(tok), eos = lm_tokenizer_eos(tok);
    FUZZ_CHECK(n_ids >= 0 && (size_t)n_ids <= 6 * text_len + 5, "%d ids for %zu bytes", n_ids,
               text_len);
    FUZZ_CHECK(eos < 0 || (n_ids > 0 && ids[n_ids - 1] == eos), "EOS missing");
    for (int i = 0; i < n_ids; i++)
        FUZZ_CHECK(ids[i] >= 0 && ids[i] < n, "id %d out of range (vocab %d)", ids[i], n);
}

static void use(const lm_tokenizer *tok, const uint8_t *data, size_t size) {
    int n = lm_tokenizer_vocab_size(tok);
    /* decode pieces after each special (and after themselves): the first
     * 1024 ids, the last two, and the ids just out of range */
    for (int id = -1; id <= n; id = id == 1024 && n > 1026 ? n - 2 : id + 1) {
        const int prevs[] = {LM_TOKEN_UNK, LM_TOKEN_BOS, LM_TOKEN_EOS, id};
        for (int p = 0; p < 4; p++) {
            const char *piece = lm_token_piece(tok, prevs[p], id);
            FUZZ_CHECK(piece != NULL, "NULL piece for %d", id);
            fputs(lm_piece_text(piece), devnull);
        }
    }
    /* encode the input's last bytes as text */
    size_t len = size < TEXT_MAX ? size : TEXT_MAX;
    char text[TEXT_MAX + 1];
    memcpy(text, data + size - len, len);
    text[len] = '\0';
    lm_error err;
    err.msg[0] = '\0';
    int n_ids = -1;
    int *ids = lm_tokenize(tok, text, 1, 1, &n_ids, &err);
    if (!ids) {
        fuzz_check_message(err.msg, "lm_tokenize");
        return;
    }
    size_t text_len = strlen(text);
    if (is_gguf(data, size)) {
        check_gguf_ids(tok, ids, n_ids, text_len);
        free(ids);
        return;
    }
    FUZZ_CHECK(n_ids >= 2 && (size_t)n_ids <= text_len + 3, "%d ids for %zu bytes", n_ids,
               text_len);
    FUZZ_CHECK(ids[0] == LM_TOKEN_BOS && ids[n_ids - 1] == LM_TOKEN_EOS, "BOS/EOS missing");
    for (int i = 1; i < n_ids - 1; i++)
        FUZZ_CHECK(ids[i] >= 3 && ids[i] < n, "id %d out of range (vocab %d)", ids[i], n);
    free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_file_write(&file, data, size);
    lm_error err;
    err.msg[0] = '\0';
    lm_tokenizer *tok = lm_tokenizer_load(file.path, 0, &err);
    if (!tok) {
        fuzz_check_message(err.msg, "lm_tokenizer_load(0)");
    } else {
        int n = lm_tokenizer_vocab_size(tok);
        FUZZ_CHECK(n >= 3, "vocabulary of %d", n);
        lm_tokenizer *same = lm_tokenizer_load(file.path, n, &err);
        FUZZ_CHECK(same && lm_tokenizer_vocab_size(same) == n, "reload with vocab_size %d", n);
        lm_tokenizer_free(same);
        err.msg[0] = '\0';
        FUZZ_CHECK(!lm_tokenizer_load(file.path, n + 1, &err), "accepted vocab_size %d", n + 1);
        fuzz_check_message(err.msg, "lm_tokenizer_load(n + 1)");
        use(tok, data, size);
        lm_tokenizer_free(tok);
    }
    err.msg[0] = '\0';
    tok = lm_tokenizer_load(file.path, FIXED_VOCAB, &err);
    if (!tok) {
        fuzz_check_message(err.msg, "lm_tokenizer_load(259)");
        return 0;
    }
    FUZZ_CHECK(lm_tokenizer_vocab_size(tok) == FIXED_VOCAB, "vocab %d",
               lm_tokenizer_vocab_size(tok));
    use(tok, data, size);
    lm_tokenizer_free(tok);
    return 0;
}
