/* One arithmetic order on every kernel set (issue 13, kernels/ORDER.md), seen
 * from the outside: seeded sampled generation gives the same text with every
 * kernel set this CPU runs and with 1 and 2 threads, through the public API
 * only. Temperature 1 samples from the whole distribution, so one last-bit
 * difference in any reduction soon changes a token; Q8_0 models, which
 * re-quantize every activation, show it first.
 *
 * Cases: the demo model as v0 fp32 and v2 Q8_0 with its tokenizer, each with
 * no prompt and with a prompt longer than 32 tokens (the batched prompt path),
 * and stories260K by token ids (no tokenizer needed). Every case runs every
 * seed (top-p 0.95 for odd seeds, plain multinomial for even ones); the
 * reference is the first kernel set (scalar, the oracle) at 1 thread.
 *
 * Usage: test_order DATA_DIR [seeds [tokens [threads [MODEL...]]]]: tokens
 * sampled after the prompt per seed, thread counts 1..threads (defaults 50,
 * 48 and 2; divergences showed within ~20 tokens). With MODELs (paths: the
 * GGUF block-type fixtures of tests/gguf) only they run, by token ids, with
 * and without a prompt, sampled per seed and greedy. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* open_memstream */
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "generate.h"
#include "lamina.h"

#define MAX_ISAS 8

static char data_dir[4096];
static int n_seeds = 50, n_gen = 48, max_threads = 2;

static const char *data(const char *rel) {
    static char path[4200];
    snprintf(path, sizeof path, "%s/%s", data_dir, rel);
    return path;
}

/* The kernel sets to compare: those this binary has and this CPU runs. */
static int n_isas;
static char isas[MAX_ISAS][32];

static void list_isas(void) {
    char list[256];
    snprintf(list, sizeof list, "%s", lm_isa_list());
    for (char *name = strtok(list, " "); name && n_isas < MAX_ISAS; name = strtok(NULL, " ")) {
        lm_error err;
        if (lm_isa_check(name, &err) != 0) {
            printf("%s: skipped (%s)\n", name, err.msg);
            continue;
        }
        snprintf(isas[n_isas++], sizeof isas[0], "%s", name);
    }
}

static float topp_of(int seed) { return seed % 2 ? 0.95f : 0.0f; }

/* The text of one seeded generation, malloc'ed (NULL on error). */
static char *generate_text(lm_batch *b, const lm_tokenizer *tok, int vocab, const char *prompt,
                           int steps, int seed) {
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    lm_error err;
    lm_sampler *s = lm_sampler_new(vocab, 1.0f, topp_of(seed), (uint64_t)seed, &err);
    cli_loop l = {b, tok, s, steps, steps, NULL, out, {0}};
    int rc = out && s ? cli_generate(&l, prompt, &err) : -1;
    CHECK(rc == 0, "generation failed: %s", rc == -1 ? "no sampler or stream" : err.msg);
    lm_sampler_free(s);
    if (out) fclose(out);
    if (rc != 0) free(text), text = NULL;
    return text;
}

/* The ids of one seeded generation as text: the prompt ids as one batch, then
 * run.c's loop (sample, feed, until steps positions or BOS). */
static char *generate_ids(lm_context *ctx, int vocab, const int *prompt, int n_prompt, int steps,
                          int seed, int greedy) {
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    lm_sampler *s =
        lm_sampler_new(vocab, greedy ? 0.0f : 1.0f, topp_of(seed), (uint64_t)seed, NULL);
    if (!out || !s) {
        CHECK(0, "no sampler or stream");
        if (out) fclose(out);
        free(text);
        lm_sampler_free(s);
        return NULL;
    }
    float *logits = lm_forward(ctx, prompt, n_prompt, 0);
    for (int pos = n_prompt; logits && pos < steps; pos++) {
        int next = lm_sample(s, logits);
        if (next == LM_TOKEN_BOS) break;
        fprintf(out, " %d", next);
        logits = lm_forward(ctx, &next, 1, pos);
    }
    CHECK(logits != NULL, "lm_forward refused a position");
    fclose(out);
    lm_sampler_free(s);
    return text;
}

typedef struct gen_case {
    const char *model, *tokenizer; /* tokenizer NULL: by ids */
    const char *prompt;            /* with a tokenizer */
    int n_ids;                     /* without: BOS + this many fixed ids */
    int greedy;                    /* by ids: temperature 0 (one text, seed 1 only) */
} gen_case;

/* Where two strings first differ. */
static size_t diverge_at(const char *a, const char *b) {
    size_t i = 0;
    while (a[i] && a[i] == b[i]) i++;
    return i;
}

static void run_case(const gen_case *c) {
    lm_error err;
    lm_model *m = lm_model_load(c->model[0] == '/' ? c->model : data(c->model), &err);
    lm_tokenizer *tok = NULL;
    if (m && c->tokenizer)
        tok = lm_tokenizer_load(data(c->tokenizer), lm_model_get_info(m).config.vocab_size, &err);
    CHECK(m && (tok || !c->tokenizer), "%s: %s", c->model, err.msg);
    if (!m || (c->tokenizer && !tok)) {
        lm_model_free(m);
        return;
    }
    const int vocab = lm_model_get_info(m).config.vocab_size;
    int ids[64] = {LM_TOKEN_BOS};
    for (int p = 1; p <= c->n_ids && p < 64; p++) ids[p] = (p * 7919 + 13) % vocab;
    /* positions: the prompt (BOS included), then n_gen sampled tokens */
    int steps = 1 + c->n_ids + n_gen, n_prompt = 0;
    if (tok) {
        int *prompt_ids = lm_tokenize(tok, c->prompt, 1, 0, &n_prompt, &err);
        CHECK(prompt_ids != NULL, "%s: the prompt does not tokenize", c->model);
        free(prompt_ids);
        steps = n_prompt + n_gen;
    }
    const char *what = c->tokenizer ? (c->prompt[0] ? "with a prompt" : "no prompt")
                       : c->greedy  ? (c->n_ids ? "ids, greedy, with a prompt" : "ids, greedy")
                                    : (c->n_ids ? "ids, with a prompt" : "ids, no prompt");
    int seeds = c->greedy ? 1 : n_seeds;

    char **ref = calloc((size_t)n_seeds, sizeof *ref);
    for (int i = 0; i < n_isas; i++)
        for (int threads = 1; threads <= max_threads; threads++) {
            /* text through the CLI's loop (a batch of one), ids through lm_forward */
            lm_context *ctx = lm_context_new(m, (lm_context_params){steps, threads, isas[i]}, &err);
            lm_batch *b = ctx && tok
                              ? lm_batch_new(m, (lm_batch_params){1, steps, threads, isas[i]}, &err)
                              : NULL;
            CHECK(ctx != NULL && (b || !tok), "%s %s: %s", c->model, isas[i],
                  ctx && (b || !tok) ? "" : err.msg);
            if (!ctx || (tok && !b)) {
                lm_context_free(ctx);
                continue;
            }
            int differ = 0, first = 0;
            size_t at = 0;
            for (int seed = 1; seed <= seeds; seed++) {
                char *text =
                    tok ? generate_text(b, tok, vocab, c->prompt, steps, seed)
                        : generate_ids(ctx, vocab, ids, 1 + c->n_ids, steps, seed, c->greedy);
                if (!text) continue;
                char **r = &ref[seed - 1];
                if (!*r) {
                    *r = text;
                    continue;
                }
                if (strcmp(text, *r) != 0 && !differ++) first = seed, at = diverge_at(text, *r);
                free(text);
            }
            CHECK(!differ,
                  "%s, %s: %s at %d threads gives other text than %s at 1 for %d of %d seeds "
                  "(first: seed %d, from byte %zu)",
                  c->model, what, isas[i], threads, isas[0], differ, seeds, first, at);
            lm_context_free(ctx);
            lm_batch_free(b);
        }
    printf("%s, %s: %d seeds, %d positions, compared over %d kernel sets x %d thread counts\n",
           c->model, what, seeds, steps, n_isas, max_threads);
    for (int s = 0; s < n_seeds; s++) free(ref[s]);
    free(ref);
    lm_tokenizer_free(tok);
    lm_model_free(m);
}

int main(int argc, char **argv) {
    if (argc < 2)
        return fprintf(stderr,
                       "usage: test_order DATA_DIR [seeds [tokens [threads [MODEL...]]]]\n"),
               2;
    snprintf(data_dir, sizeof data_dir, "%s", argv[1]);
    if (argc > 2) n_seeds = atoi(argv[2]);
    if (argc > 3) n_gen = atoi(argv[3]);
    if (argc > 4) max_threads = atoi(argv[4]);
    if (n_seeds < 1 || n_gen < 1) return fprintf(stderr, "test_order: seeds, tokens >= 1\n"), 2;
    list_isas();
    if (argc > 5) { /* the given models by ids: sampled and greedy, with and without a prompt */
        for (int a = 5; a < argc; a++)
            for (int k = 0; k < 4; k++)
                run_case(&(gen_case){argv[a], NULL, NULL, k % 2 ? 40 : 0, k / 2});
        return check_exit("order");
    }
    /* 40-odd tokens of the demo vocabulary: past 32, where prompts take the
     * batched products. */
    static const char *verse = "In the beginning God created the heaven and the earth. And the "
                               "earth was without form, and void; and darkness was upon the face "
                               "of the deep.";
    const gen_case cases[] = {
        {"models/kjv1m.q80.bin", "models/tok1024-kjv.bin", "", 0},
        {"models/kjv1m.q80.bin", "models/tok1024-kjv.bin", verse, 0},
        {"models/kjv1m.bin", "models/tok1024-kjv.bin", "", 0},
        {"models/kjv1m.bin", "models/tok1024-kjv.bin", verse, 0},
        {"models/stories260K.bin", NULL, NULL, 0},
        {"models/stories260K.bin", NULL, NULL, 40},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_case(&cases[i]);
    return check_exit("order");
}
