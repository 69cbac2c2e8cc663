/* Prefixes in lm_batch (lm_seq_params.keep / prefix): a sequence that starts
 * from a kept prefix gives the same tokens, bit for bit, as the whole prompt
 * fed from position 0, for every prefix length, in the company of other
 * sequences, on every kernel set this CPU runs and 1 and 2 threads; a kept
 * prefix holds exactly the positions fed (the prompt and every sampled token
 * but the last), and a wrong prefix is refused.
 *
 * Usage: test_prefix MODEL... */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "lamina.h"

#define MAX_TOKENS 64
#define N_COMPANY 3

typedef struct run {
    int tokens[MAX_TOKENS];
    int n, finish;
    lm_prefix *kept;
} run;

static lm_seq_params params(int i, int n_ctx) {
    float temps[] = {0.0f, 1.0f, 0.8f};
    float topps[] = {0.0f, 0.9f, 0.0f};
    return (lm_seq_params){.n_ctx = n_ctx,
                           .temperature = temps[i % 3],
                           .topp = topps[i % 3],
                           .seed = 4242u + (uint64_t)i,
                           .stop_token = -1};
}

static int company_prompt(int i, int vocab, int *ids) {
    int n = 3 + 5 * i;
    ids[0] = LM_TOKEN_BOS;
    for (int k = 1; k < n; k++) ids[k] = 3 + (i * 13 + k * 11) % (vocab - 3);
    return n;
}

/* Run `main` (prompt ids[n] with params p) and, when company, N_COMPANY
 * other sequences beside it; out[0] is main's, out[1..] the company's. */
static void run_batch(const lm_model *m, const char *isa, int threads, const int *ids, int n,
                      lm_seq_params p, int company, run *out) {
    lm_error err;
    int vocab = lm_model_get_info(m).config.vocab_size;
    lm_batch *b = lm_batch_new(m, (lm_batch_params){1 + N_COMPANY, 64, threads, isa}, &err);
    CHECK(b != NULL, "%s", err.msg);
    if (!b) return;
    int seq_of[1 + N_COMPANY], total = 1 + (company ? N_COMPANY : 0);
    for (int i = 0; i < total; i++) out[i] = (run){.n = 0};
    for (int i = 1; i < total; i++) {
        int cids[32], cn = company_prompt(i, vocab, cids);
        seq_of[i] = lm_batch_add(b, cids, cn, params(i, 40), &err);
        CHECK(seq_of[i] >= 0, "company %d: %s", i, err.msg);
    }
    seq_of[0] = lm_batch_add(b, ids, n, p, &err);
    CHECK(seq_of[0] >= 0, "add: %s", err.msg);
    lm_batch_event ev[1 + N_COMPANY];
    for (int step = 0; step < 1000 && lm_batch_active(b); step++) {
        int got = lm_batch_step(b, ev, &err);
        CHECK(got >= 0, "step: %s", err.msg);
        for (int e = 0; e < got; e++) {
            int i = 0;
            while (i < total && seq_of[i] != ev[e].seq) i++;
            if (i == total) continue;
            run *r = &out[i];
            if (r->n < MAX_TOKENS) r->tokens[r->n++] = ev[e].token;
            if (ev[e].finish != LM_RUNNING) {
                r->finish = ev[e].finish;
                r->kept = ev[e].prefix;
                seq_of[i] = -1;
            }
        }
    }
    CHECK(lm_batch_kv_bytes(b) == 0, "finished sequences hold KV");
    lm_batch_free(b);
}

static int same(const run *a, const run *b) {
    return a->n == b->n && a->finish == b->finish &&
           memcmp(a->tokens, b->tokens, (size_t)a->n * sizeof(int)) == 0;
}

static void one_setting(const lm_model *m, const char *isa, int threads) {
    int vocab = lm_model_get_info(m).config.vocab_size;
    for (int kind = 0; kind < 3; kind++) {
        /* turn 1: a prompt of 12, kept */
        int ids[64], n = 12;
        ids[0] = LM_TOKEN_BOS;
        for (int k = 1; k < n; k++) ids[k] = 3 + (k * 37 + kind) % (vocab - 3);
        lm_seq_params p = params(kind, 24);
        p.keep = 1;
        run first[1 + N_COMPANY];
        run_batch(m, isa, threads, ids, n, p, 0, first);
        lm_prefix *x = first[0].kept;
        CHECK(x != NULL, "%s: no prefix kept", isa);
        if (!x) continue;
        int len = lm_prefix_length(x);
        /* LENGTH: the last token was sampled at position 24, every one fed but it */
        CHECK(len == 24 && first[0].n == 24 - n + 1 && len == n + first[0].n - 1,
              "%s: kept %d positions after %d tokens, want 24", isa, len, first[0].n);
        CHECK(memcmp(lm_prefix_tokens(x), ids, (size_t)n * sizeof(int)) == 0 &&
                  memcmp(lm_prefix_tokens(x) + n, first[0].tokens,
                         (size_t)(len - n) * sizeof(int)) == 0,
              "%s: the prefix's tokens are not the prompt and the sampled ones", isa);
        lm_config c = lm_model_get_info(m).config;
        CHECK(lm_prefix_bytes(x) >= lm_kv_cache_bytes(&c, len) &&
                  lm_prefix_bytes(x) < lm_kv_cache_bytes(&c, len + 1),
              "%s: a prefix of %d positions holds %llu bytes", isa, len,
              (unsigned long long)lm_prefix_bytes(x));
        /* turn 2: the history and 5 new tokens, from several prefix lengths */
        int ids2[64], n2 = len + 5;
        memcpy(ids2, lm_prefix_tokens(x), (size_t)len * sizeof(int));
        for (int k = len; k < n2; k++) ids2[k] = 3 + (k * 7) % (vocab - 3);
        lm_seq_params p2 = params(kind + 1, 50);
        run whole[1 + N_COMPANY], from[1 + N_COMPANY];
        run_batch(m, isa, threads, ids2, n2, p2, 1, whole);
        int lens[] = {1, len / 2, len};
        for (int li = 0; li < 3; li++) {
            lm_seq_params q = p2;
            q.prefix = x;
            q.prefix_len = lens[li];
            run_batch(m, isa, threads, ids2, n2, q, li != 1, from);
            CHECK(same(&from[0], &whole[0]),
                  "%s, %d threads: from a prefix of %d the tokens differ (%d vs %d)", isa, threads,
                  lens[li], from[0].n, whole[0].n);
            for (int o = 1; li != 1 && o <= N_COMPANY; o++)
                CHECK(same(&from[o], &whole[o]), "%s: company %d differs", isa, o);
        }
        lm_prefix_free(x);
    }
}

/* lm_batch_snapshot (n choices): a copy of a running sequence's prompt but
 * its last position; a sequence from it samples what the original does. */
static void snapshot(const lm_model *m) {
    lm_error err;
    lm_batch *b = lm_batch_new(m, (lm_batch_params){2, 64, 1, NULL}, &err);
    CHECK(b != NULL, "%s", err.msg);
    if (!b) return;
    int ids[6] = {LM_TOKEN_BOS, 10, 11, 12, 13, 14}, first[3];
    lm_seq_params p = params(1, 30);
    int s = lm_batch_add(b, ids, 6, p, &err);
    lm_batch_event ev[2];
    for (int k = 0; k < 3; k++) {
        CHECK(lm_batch_step(b, ev, &err) == 1, "step: %s", err.msg);
        first[k] = ev[0].token;
    }
    lm_prefix *snap = lm_batch_snapshot(b, s, 5, &err);
    CHECK(snap && lm_prefix_length(snap) == 5 && lm_batch_active(b) == 1, "snapshot: %s", err.msg);
    CHECK(lm_batch_snapshot(b, s, 9, &err) == NULL, "a snapshot beyond the positions fed");
    CHECK(lm_batch_snapshot(b, 1, 1, &err) == NULL, "a snapshot of no sequence");
    lm_seq_params q = p;
    q.prefix = snap;
    q.prefix_len = 5;
    int s2 = lm_batch_add(b, ids, 6, q, &err), got = 0, same_tokens = 1;
    CHECK(s2 >= 0, "add from a snapshot: %s", err.msg);
    for (int step = 0; got < 3 && s2 >= 0 && step < 10; step++) {
        int n = lm_batch_step(b, ev, &err);
        for (int e = 0; e < n; e++)
            if (ev[e].seq == s2) same_tokens &= ev[e].token == first[got++];
    }
    CHECK(same_tokens && got == 3, "a sequence from a snapshot differs from the original");
    lm_prefix_free(snap);
    lm_batch_free(b);
}

/* Refusals, and lm_batch_detach's prefix of the positions fed so far. */
static void edges(const lm_model *m) {
    lm_error err;
    lm_batch *b = lm_batch_new(m, (lm_batch_params){2, 64, 1, NULL}, &err);
    CHECK(b != NULL, "%s", err.msg);
    if (!b) return;
    int ids[6] = {LM_TOKEN_BOS, 10, 11, 12, 13, 14};
    lm_seq_params p = params(0, 30);
    int s = lm_batch_add(b, ids, 6, p, &err);
    lm_batch_event ev[2];
    for (int k = 0; k < 3; k++) CHECK(lm_batch_step(b, ev, &err) == 1, "step: %s", err.msg);
    lm_prefix *x = lm_batch_detach(b, s, &err);
    CHECK(x && lm_prefix_length(x) == 8 && lm_batch_active(b) == 0,
          "detach after 3 tokens: %d positions", x ? lm_prefix_length(x) : -1);
    CHECK(lm_batch_detach(b, s, &err) == NULL && strstr(err.msg, "no sequence"), "detach twice");
    if (!x) return;
    lm_seq_params q = p;
    q.prefix = x;
    q.prefix_len = 6;
    CHECK(lm_batch_add(b, ids, 6, q, &err) < 0 && strstr(err.msg, "below the prompt"),
          "a prefix covering the whole prompt: %s", err.msg);
    int other[7] = {LM_TOKEN_BOS, 10, 11, 99, 13, 14, 15};
    q.prefix_len = 5;
    CHECK(lm_batch_add(b, other, 7, q, &err) < 0 && strstr(err.msg, "prompt token 3 is 99"),
          "a prefix of other tokens: %s", err.msg);
    q.prefix_len = 9;
    int longer[12] = {0};
    memcpy(longer, lm_prefix_tokens(x), 8 * sizeof(int));
    CHECK(lm_batch_add(b, longer, 12, q, &err) < 0 && strstr(err.msg, "1..8"),
          "prefix_len beyond the prefix: %s", err.msg);
    q.prefix_len = 0;
    CHECK(lm_batch_add(b, longer, 12, q, &err) < 0, "prefix_len 0 with a prefix");
    CHECK(lm_batch_active(b) == 0, "refused sequences hold slots");
    lm_prefix_free(x);
    lm_batch_free(b);
}

int main(int argc, char **argv) {
    for (int a = 1; a < argc; a++) {
        lm_error err;
        lm_model *m = lm_model_load(argv[a], &err);
        CHECK(m != NULL, "%s", err.msg);
        if (!m) continue;
        char list[256];
        snprintf(list, sizeof list, "%s", lm_isa_list());
        for (char *save = NULL, *isa = strtok_r(list, " ", &save); isa;
             isa = strtok_r(NULL, " ", &save)) {
            if (lm_isa_check(isa, &err)) {
                printf("%s: skipped: %s\n", isa, err.msg);
                continue;
            }
            for (int threads = 1; threads <= 2; threads++) one_setting(m, isa, threads);
            printf("%s %s: sequences from prefixes equal whole prompts\n", argv[a], isa);
        }
        edges(m);
        snapshot(m);
        lm_model_free(m);
    }
    return check_exit("prefix");
}
