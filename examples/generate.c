/* A lamina library client: load a model and its tokenizer, then generate a
 * few tokens greedily, one lm_forward per position, printing the text.
 *
 *   generate [MODEL [TOKENIZER [PROMPT]]]
 *
 * MODEL and TOKENIZER default to the demo model that `cmake --install` put in
 * LAMINA_MODELS_DIR (set by find_package(lamina), or from pkg-config's
 * modelsdir variable; see CMakeLists.txt here and README.md). */
#include <stdio.h>
#include <stdlib.h>

#include <lamina.h>

#ifndef LAMINA_MODELS_DIR
#define LAMINA_MODELS_DIR "."
#endif
#define N_NEW 16 /* tokens to generate */

static int fail(const char *what, const lm_error *e) {
    fprintf(stderr, "generate: %s: %s\n", what, e->msg);
    return 1;
}

int main(int argc, char **argv) {
    const char *model_path = argc > 1 ? argv[1] : LAMINA_MODELS_DIR "/kjv1m.bin";
    const char *tok_path = argc > 2 ? argv[2] : LAMINA_MODELS_DIR "/tokenizer.bin";
    const char *prompt = argc > 3 ? argv[3] : "And it came to pass";
    lm_error e;
    lm_model *model = lm_model_load(model_path, &e);
    if (!model) return fail("model", &e);
    lm_config c = lm_model_get_info(model).config;
    lm_tokenizer *tok = lm_tokenizer_load(tok_path, c.vocab_size, &e);
    if (!tok) return fail("tokenizer", &e);

    int n = 0;
    int *ids = lm_tokenize(tok, prompt, 1, 0, &n, &e); /* BOS first */
    if (!ids) return fail("tokenize", &e);
    lm_context *ctx = lm_context_new(model, (lm_context_params){.n_ctx = n + N_NEW}, &e);
    if (!ctx) return fail("context", &e);
    lm_sampler *sampler = lm_sampler_new(c.vocab_size, 0.0f, 0.9f, 1, &e); /* greedy */
    if (!sampler) return fail("sampler", &e);

    /* The prompt goes through as one batch; then each sampled token is fed. */
    float *logits = lm_forward(ctx, ids, n, 0);
    int prev = ids[n - 1], generated = 0;
    fputs(prompt, stdout);
    for (int pos = n; logits && generated < N_NEW; pos++) {
        int next = lm_sample(sampler, logits);
        if (lm_token_ends(tok, next, 0)) break; /* the model ended the text (BOS: run.c) */
        fputs(lm_piece_text(lm_token_piece(tok, prev, next)), stdout);
        prev = next;
        if (++generated < N_NEW) logits = lm_forward(ctx, &next, 1, pos);
    }
    printf("\n");
    if (!logits)
        fputs("generate: the forward pass failed\n", stderr);
    else
        fprintf(stderr, "generate: %d tokens, %s kernels\n", generated, lm_context_isa(ctx));
    int rc = logits && generated > 0 ? 0 : 1;

    lm_sampler_free(sampler);
    lm_context_free(ctx);
    free(ids);
    lm_tokenizer_free(tok);
    lm_model_free(model);
    return rc;
}
