/* lm_forward_all and `lamina perplexity` against the one-token-at-a-time path.
 *
 *   test_perplexity logits MODEL...
 *     every row of lm_forward_all (a prompt of 150 tokens: three blocks of
 *     rows, the last one partial) bit-equal to lm_forward fed token by token,
 *     on every kernel set this CPU runs and 1 and 2 threads; bad arguments are
 *     refused with a message.
 *   test_perplexity reference MODEL TOKENIZER TEXT CTX [CHUNKS]
 *     prints what `lamina perplexity --json` must print, computed from logits
 *     that lm_forward gives one token at a time, on a loop of its own over
 *     llama-perplexity's protocol (tests/perplexity_test.sh compares). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "lamina.h"

#define PROMPT 150

static void check_rows(const lm_model *m, const char *isa, int threads) {
    int vocab = lm_model_get_info(m).config.vocab_size, ids[PROMPT];
    for (int i = 0; i < PROMPT; i++) ids[i] = i ? 3 + (i * 37) % (vocab - 3) : LM_TOKEN_BOS;
    lm_error err;
    lm_context_params p = {PROMPT, threads, isa};
    lm_context *all = lm_context_new(m, p, &err), *one = lm_context_new(m, p, &err);
    float *rows = malloc((size_t)PROMPT * (size_t)vocab * sizeof *rows);
    CHECK(all && one && rows, "%s", err.msg);
    if (!all || !one || !rows) goto done;
    CHECK(lm_forward_all(all, ids, PROMPT, 0, rows, &err) == 0, "%s", err.msg);
    int bad = -1;
    for (int i = 0; i < PROMPT && bad < 0; i++) {
        const float *l = lm_forward(one, ids + i, 1, i);
        if (!l || memcmp(l, rows + (size_t)i * vocab, (size_t)vocab * sizeof *l)) bad = i;
    }
    CHECK(bad < 0, "%s, %d threads: row %d differs from token-by-token", isa, threads, bad);
    /* a second call at a later position, over what the first one cached */
    CHECK(lm_forward_all(all, ids + 100, 50, 100, rows, &err) == 0, "%s", err.msg);
    CHECK(memcmp(rows + (size_t)49 * vocab, lm_forward(one, ids + 149, 1, 149),
                 (size_t)vocab * sizeof *rows) == 0,
          "%s: a call at position 100 differs", isa);
    err.msg[0] = '\0';
    CHECK(lm_forward_all(all, ids, PROMPT, 1, rows, &err) == -1 && strstr(err.msg, "fit"),
          "past the context: '%s'", err.msg);
    int wrong[2] = {1, vocab};
    CHECK(lm_forward_all(all, wrong, 2, 0, rows, &err) == -1 && strstr(err.msg, "vocabulary"),
          "a token outside the vocabulary: '%s'", err.msg);
    CHECK(lm_forward_all(all, ids, 0, 0, rows, &err) == -1, "no tokens");
    CHECK(lm_forward_all(all, ids, 1, 0, NULL, &err) == -1, "no buffer");
done:
    lm_context_free(all);
    lm_context_free(one);
    free(rows);
}

static int logits_mode(int argc, char **argv) {
    for (int a = 2; a < argc; a++) {
        lm_error err;
        lm_model *m = lm_model_load(argv[a], &err);
        CHECK(m, "%s", err.msg);
        if (!m) continue;
        char isas[256];
        snprintf(isas, sizeof isas, "%s", lm_isa_list());
        for (char *isa = strtok(isas, " "); isa; isa = strtok(NULL, " ")) {
            if (lm_isa_check(isa, &err)) {
                printf("%s: %s (not tested)\n", isa, err.msg);
                continue;
            }
            for (int threads = 1; threads <= 2; threads++) check_rows(m, isa, threads);
        }
        lm_model_free(m);
    }
    return check_exit("test_perplexity logits");
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) s[0] = '\0';
    if (s) s[n] = '\0';
    fclose(f);
    return s;
}

/* -ln p(tok): the maximum in float, the sum of expf(l - max) in double. */
static double nll(const float *l, int vocab, int tok) {
    float max = l[0];
    for (int i = 1; i < vocab; i++)
        if (l[i] > max) max = l[i];
    double sum = 0.0;
    for (int i = 0; i < vocab; i++) sum += expf(l[i] - max);
    return log(sum) - (double)(l[tok] - max);
}

static int reference_mode(int argc, char **argv) {
    lm_error err;
    lm_model *m = lm_model_load(argv[2], &err);
    int vocab = m ? lm_model_get_info(m).config.vocab_size : 0, n_ctx = atoi(argv[5]), n = 0;
    lm_tokenizer *tok = m ? lm_tokenizer_load(argv[3], vocab, &err) : NULL;
    char *text = slurp(argv[4]);
    int *ids = tok && text ? lm_tokenize(tok, text, 1, 0, &n, &err) : NULL;
    lm_context *ctx = ids ? lm_context_new(m, (lm_context_params){n_ctx, 1, NULL}, &err) : 0;
    if (!ctx) {
        fprintf(stderr, "test_perplexity: %s\n", text ? err.msg : "cannot read the text");
        return 1;
    }
    int chunks = n / n_ctx, count = 0, first = n_ctx / 2, limit = argc > 6 ? atoi(argv[6]) : 0;
    if (limit > 0 && limit < chunks) chunks = limit;
    double sum = 0, sum2 = 0, *per = calloc((size_t)chunks, sizeof *per);
    for (int c = 0; c < chunks; c++) {
        const int *t = ids + (size_t)c * n_ctx;
        for (int i = 0; i < n_ctx - 1; i++) {
            int token = i ? t[i] : LM_TOKEN_BOS;
            const float *l = lm_forward(ctx, &token, 1, i);
            if (i < first) continue;
            double v = nll(l, vocab, t[i + 1]);
            per[c] += v;
            sum += v;
            sum2 += v * v;
            count++;
        }
    }
    double mean = sum / count, var = sum2 / count - mean * mean, ppl = exp(mean);
    printf("{\"perplexity\":%.17g,\"error\":%.17g,\"tokens\":%d,\"chunks\":%d,\"ctx\":%d,"
           "\"text_tokens\":%d,\"nll\":%.17g,\"nll2\":%.17g,\"chunk_nll\":[",
           ppl, var > 0 ? sqrt(var / (count - 1)) * ppl : 0.0, count, chunks, n_ctx, n, sum, sum2);
    for (int c = 0; c < chunks; c++) printf(c ? ",%.17g" : "%.17g", per[c]);
    printf("]}\n");
    free(per);
    free(ids);
    free(text);
    lm_context_free(ctx);
    lm_tokenizer_free(tok);
    lm_model_free(m);
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 3 && strcmp(argv[1], "logits") == 0) return logits_mode(argc, argv);
    if ((argc == 6 || argc == 7) && strcmp(argv[1], "reference") == 0)
        return reference_mode(argc, argv);
    fprintf(stderr,
            "usage: test_perplexity logits MODEL... | reference MODEL TOK TEXT CTX [CHUNKS]\n");
    return 2;
}
