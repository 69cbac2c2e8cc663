/* The batch engine against the single-sequence path: a sequence's tokens must
 * be the same alone (lm_context, fed one position at a time) and among 15 others
 * of different lengths and settings, joining at different steps, for every
 * kernel set this CPU runs and 1 and 2 threads, fp32 and Q8_0.
 *
 * Usage: test_batch MODEL... */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "lamina.h"

#define N_SEQS 16
#define MAX_TOKENS 96

typedef struct want {
    int tokens[MAX_TOKENS];
    int n;
    int finish;
} want;

static lm_seq_params seq_params(int i) {
    /* greedy, sampled with and without top-p, different seeds and lengths */
    float temps[] = {0.0f, 1.0f, 0.8f, 1.2f};
    float topps[] = {0.9f, 0.0f, 0.95f, 0.5f};
    return (lm_seq_params){.n_ctx = 12 + 3 * i,
                           .temperature = temps[i % 4],
                           .topp = topps[(i / 4) % 4],
                           .seed = 1000u + (uint64_t)i * 77u,
                           .stop_token = LM_TOKEN_BOS};
}

/* Prompt i: BOS and i * 3 % 17 tokens of the vocabulary (different lengths). */
static int make_prompt(int i, int vocab, int *ids) {
    int n = 1 + (i * 3) % 17;
    ids[0] = LM_TOKEN_BOS;
    for (int k = 1; k < n; k++) ids[k] = 3 + (i * 31 + k * 7) % (vocab - 3);
    return n;
}

/* The reference: llama2.c's generate loop on a context of its own. */
static void alone(const lm_model *m, const char *isa, int threads, int i, want *w) {
    lm_config c = lm_model_get_info(m).config;
    lm_seq_params p = seq_params(i);
    int ids[32], n = make_prompt(i, c.vocab_size, ids);
    lm_error err;
    lm_context *ctx = lm_context_new(m, (lm_context_params){p.n_ctx, threads, isa}, &err);
    lm_sampler *s = lm_sampler_new(c.vocab_size, p.temperature, p.topp, p.seed, &err);
    CHECK(ctx && s, "%s", err.msg);
    float *logits = lm_forward(ctx, ids, n, 0);
    int pos = n;
    w->n = 0;
    for (;;) {
        int next = lm_sample(s, logits);
        w->tokens[w->n++] = next;
        if (next == p.stop_token) {
            w->finish = LM_FINISH_STOP;
            break;
        }
        if (pos >= p.n_ctx) {
            w->finish = LM_FINISH_LENGTH;
            break;
        }
        logits = lm_forward(ctx, &next, 1, pos++);
    }
    lm_sampler_free(s);
    lm_context_free(ctx);
}

/* All 16 in one batch of `slots` slots; sequence i joins after i % 5 steps
 * (or when a slot frees). */
static void together(const lm_model *m, const char *isa, int threads, int slots, const want *w) {
    lm_config c = lm_model_get_info(m).config;
    lm_error err;
    lm_batch *b = lm_batch_new(m, (lm_batch_params){slots, 0, threads, isa}, &err);
    CHECK(b != NULL, "%s", err.msg);
    if (!b) return;
    int id_of[N_SEQS], got_n[N_SEQS] = {0}, done[N_SEQS] = {0}, next = 0, finished = 0;
    int seq_of[64];
    int got[N_SEQS][MAX_TOKENS];
    lm_batch_event ev[64];
    for (int step = 0; finished < N_SEQS && step < 10000; step++) {
        while (next < N_SEQS && next % 5 <= step && lm_batch_free_slots(b) > 0) {
            int ids[32], n = make_prompt(next, c.vocab_size, ids);
            id_of[next] = lm_batch_add(b, ids, n, seq_params(next), &err);
            CHECK(id_of[next] >= 0, "add %d: %s", next, err.msg);
            seq_of[id_of[next]] = next;
            next++;
        }
        int n = lm_batch_step(b, ev, &err);
        CHECK(n >= 0, "step: %s", err.msg);
        for (int e = 0; e < n; e++) {
            int i = seq_of[ev[e].seq];
            if (got_n[i] < MAX_TOKENS) got[i][got_n[i]++] = ev[e].token;
            if (ev[e].finish != LM_RUNNING) {
                CHECK(ev[e].finish == w[i].finish, "seq %d: finish %d, alone %d", i, ev[e].finish,
                      w[i].finish);
                done[i] = 1;
                finished++;
            }
        }
    }
    for (int i = 0; i < N_SEQS; i++) {
        int same = done[i] && got_n[i] == w[i].n &&
                   memcmp(got[i], w[i].tokens, (size_t)w[i].n * sizeof(int)) == 0;
        CHECK(same,
              "%s, %d threads, %d slots: sequence %d differs from its solo run (%d vs %d tokens)",
              isa, threads, slots, i, got_n[i], w[i].n);
    }
    CHECK(lm_batch_active(b) == 0 && lm_batch_kv_bytes(b) == 0, "finished sequences hold slots");
    lm_batch_free(b);
}

/* The logits hook: it sees each position the sequence samples, in order, and
 * a mask of -INFINITY keeps the sampler (every kernel set's softmax) on the
 * tokens it allows, at temperature 0 and 1, with and without top-p. */
typedef struct hook_state {
    int calls, next_pos;
} hook_state;

static int allowed(int token) { return token == 5 || token == 9 || token == 13; }

static void mask_hook(void *arg, int pos, float *logits, int vocab) {
    hook_state *h = arg;
    CHECK(pos == h->next_pos, "hook called for position %d, expected %d", pos, h->next_pos);
    h->next_pos = pos + 1;
    h->calls++;
    for (int t = 0; t < vocab; t++)
        if (!allowed(t)) logits[t] = -INFINITY;
}

static void hooked(const lm_model *m, const char *isa, int *tokens_out) {
    float temps[] = {0.0f, 1.0f, 1.0f};
    float topps[] = {0.0f, 0.0f, 0.9f};
    for (int k = 0; k < 3; k++) {
        lm_error err;
        lm_batch *b = lm_batch_new(m, (lm_batch_params){1, 0, 1, isa}, &err);
        CHECK(b != NULL, "%s", err.msg);
        if (!b) return;
        int prompt[3] = {LM_TOKEN_BOS, 20, 21};
        hook_state h = {0, 3};
        lm_seq_params p = {.n_ctx = 40,
                           .temperature = temps[k],
                           .topp = topps[k],
                           .seed = 7,
                           .stop_token = -1,
                           .logits_fn = mask_hook,
                           .logits_arg = &h};
        CHECK(lm_batch_add(b, prompt, 3, p, &err) >= 0, "add: %s", err.msg);
        lm_batch_event ev[1];
        int n = 0, step;
        for (step = 0; step < 100 && lm_batch_active(b); step++) {
            int got = lm_batch_step(b, ev, &err);
            CHECK(got >= 0, "step: %s", err.msg);
            if (got == 1) {
                CHECK(allowed(ev[0].token), "%s: the hook forbade token %d", isa, ev[0].token);
                tokens_out[k * 40 + n++] = ev[0].token;
            }
        }
        CHECK(n == 38 && h.calls == 38, "%s: %d tokens, %d hook calls, want 38", isa, n, h.calls);
        lm_batch_free(b);
    }
}

int main(int argc, char **argv) {
    for (int a = 1; a < argc; a++) {
        lm_error err;
        lm_model *m = lm_model_load(argv[a], &err);
        CHECK(m != NULL, "%s", err.msg);
        if (!m) continue;
        char list[256];
        snprintf(list, sizeof list, "%s", lm_isa_list());
        int first_hooked[120] = {0}, have_first = 0;
        for (char *save = NULL, *isa = strtok_r(list, " ", &save); isa;
             isa = strtok_r(NULL, " ", &save)) {
            if (lm_isa_check(isa, &err)) {
                printf("%s: skipped: %s\n", isa, err.msg);
                continue;
            }
            for (int threads = 1; threads <= 2; threads++) {
                want w[N_SEQS];
                for (int i = 0; i < N_SEQS; i++) alone(m, isa, threads, i, &w[i]);
                together(m, isa, threads, N_SEQS, w);
                together(m, isa, threads, 5, w); /* sequences wait for slots */
            }
            int toks[120] = {0};
            hooked(m, isa, toks);
            if (!have_first) memcpy(first_hooked, toks, sizeof toks);
            have_first = 1;
            CHECK(memcmp(toks, first_hooked, sizeof toks) == 0,
                  "%s: masked sampling differs from the first kernel set's", isa);
            printf("%s %s: 16 sequences alone and batched agree; the logits hook holds\n", argv[a],
                   isa);
        }
        lm_model_free(m);
    }
    return check_exit("batch");
}
