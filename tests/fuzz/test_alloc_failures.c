/* Allocation failures are errors, not crashes: every allocation the library
 * makes while loading a model and a tokenizer, creating a context and a
 * sampler, generating and chatting (the CLI's loops on the request driver)
 * is made to fail in turn (malloc, calloc,
 * realloc, posix_memalign and strdup are wrapped at link time with
 * -Wl,--wrap, which catches the calls from liblamina's objects). Each run
 * must either succeed or return an error with a message; under ASan, LeakSanitizer
 * then checks that the error paths free what they took.
 *
 * usage: test_alloc_failures SEEDS_DIR CHECKPOINT TOKENIZER
 * (SEEDS_DIR from make_seeds; CHECKPOINT/TOKENIZER a real pair, e.g. kjv1m.q80.bin
 * and tok1024-kjv.bin) */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../check.h"
#include "generate.h"
#include "lamina.h"

static long fail_at = -1, n_allocs;

static int inject(void) { return fail_at >= 0 && n_allocs++ == fail_at; }

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
int __real_posix_memalign(void **p, size_t align, size_t n);
char *__real_strdup(const char *s);

void *__wrap_malloc(size_t n) { return inject() ? NULL : __real_malloc(n); }
void *__wrap_calloc(size_t n, size_t size) { return inject() ? NULL : __real_calloc(n, size); }
void *__wrap_realloc(void *p, size_t n) { return inject() ? NULL : __real_realloc(p, n); }
int __wrap_posix_memalign(void **p, size_t align, size_t n) {
    return inject() ? 12 /* ENOMEM */ : __real_posix_memalign(p, align, n);
}
char *__wrap_strdup(const char *s) { return inject() ? NULL : __real_strdup(s); }

static const char *checkpoint, *tokenizer;

/* One session of the CLI's kind (its loops, src/cli/generate.c, on a batch
 * of one). Returns 0 on success, -1 on a reported error. */
static int session(lm_error *err) {
    int rc = -1;
    lm_tokenizer *tok = NULL;
    lm_batch *b = NULL;
    lm_sampler *sampler = NULL;
    lm_model *m = lm_model_load(checkpoint, err);
    if (!m) goto out;
    int vocab = lm_model_get_info(m).config.vocab_size;
    if (!(tok = lm_tokenizer_load(tokenizer, vocab, err))) goto out;
    if (!(b = lm_batch_new(m, (lm_batch_params){1, 48, 1, NULL}, err))) goto out;
    if (!(sampler = lm_sampler_new(vocab, 0.8f, 0.9f, 7, err))) goto out;
    FILE *out = fopen("/dev/null", "w");
    cli_loop l = {b, tok, sampler, 12, 48, NULL, out, {0}};
    if (cli_generate(&l, "And it came to pass", err)) {
        fclose(out);
        goto out;
    }
    CHECK(l.stats.generated_tokens > 0, "generate succeeded without generating");
    char turns[] = "who art thou\nand whence\n";
    FILE *in = fmemopen(turns, strlen(turns), "r");
    l = (cli_loop){b, tok, sampler, 48, 48, in, out, {0}};
    int chat = cli_chat(&l, LM_CHAT_LLAMA2, "be brief", "hello", 0, err);
    fclose(in);
    fclose(out);
    if (chat == -1) goto out;
    /* EOF (0) or a full context (CLI_CONTEXT_FULL) are both normal ends, but
     * only after the first turn was answered */
    CHECK(l.stats.generated_tokens > 0, "chat returned %d without answering", chat);
    rc = 0;
out:
    lm_sampler_free(sampler);
    lm_batch_free(b);
    lm_tokenizer_free(tok);
    lm_model_free(m);
    return rc;
}

static int load_seed_model(lm_error *err) {
    lm_model *m = lm_model_load(checkpoint, err);
    if (!m) return -1;
    lm_context *ctx = lm_context_new(m, (lm_context_params){0, 1, NULL}, err);
    int token = 0, rc = ctx && lm_forward(ctx, &token, 1, 0) ? 0 : -1;
    lm_context_free(ctx);
    lm_model_free(m);
    return rc;
}

static int tokenize_with_seed(lm_error *err) {
    lm_tokenizer *tok = lm_tokenizer_load(tokenizer, 0, err);
    if (!tok) return -1;
    int n;
    int *ids = lm_tokenize(tok, " the aab\xc3\xa9 \xff", 1, 1, &n, err);
    free(ids);
    lm_tokenizer_free(tok);
    return ids ? 0 : -1;
}

/* Fail allocation 0, 1, 2, ... until a run makes no more allocations than that. */
static void each_failure(const char *name, int (*run)(lm_error *)) {
    int failures = 0;
    for (long k = 0;; k++) {
        lm_error err;
        memset(err.msg, 0, sizeof err.msg);
        n_allocs = 0;
        fail_at = k;
        int rc = run(&err);
        fail_at = -1;
        if (n_allocs <= k) { /* nothing failed: the run is complete */
            CHECK(rc == 0, "%s: fails with no injected failure: %s", name, err.msg);
            printf("%s: %ld allocations, each failed in turn\n", name, k);
            break;
        }
        if (rc == 0) {
            failures++; /* a failure the library survived: fine if it was optional */
            continue;
        }
        CHECK(err.msg[0] != '\0', "%s: allocation %ld failed: error without a message", name, k);
    }
    (void)failures;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: test_alloc_failures SEEDS_DIR CHECKPOINT TOKENIZER\n");
        return 2;
    }
    static char path1[4096], path2[4096];
    snprintf(path1, sizeof path1, "%s/checkpoint/v2_misaligned.bin", argv[1]);
    snprintf(path2, sizeof path2, "%s/tokenizer/merges.bin", argv[1]);
    checkpoint = path1;
    each_failure("v2 model with copied scales", load_seed_model);
    tokenizer = path2;
    each_failure("tokenizer and encoding", tokenize_with_seed);
    checkpoint = argv[2];
    tokenizer = argv[3];
    each_failure("session (load, context, sampler, generate, chat)", session);
    return check_exit("test_alloc_failures");
}
