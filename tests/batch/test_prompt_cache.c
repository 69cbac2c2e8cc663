/* The prompt cache's pool (src/request/request_cache.c): the longest shared
 * prefix is found, never in another partition (API key); least recently
 * used entries go first; an entry a newer one extends is dropped; the cap
 * holds; at least one prompt token is left to feed.
 *
 * Usage: test_prompt_cache MODEL */
#include <stdio.h>
#include <string.h>

#include "../check.h"
#include "request.h"

/* A kept prefix of ids[0..n): a sequence of n_ctx n ends at its first sample
 * with all n positions fed. */
static lm_prefix *make(lm_batch *b, const int *ids, int n) {
    lm_error err;
    lm_seq_params p = {.n_ctx = n, .stop_token = -1, .keep = 1};
    CHECK(lm_batch_add(b, ids, n, p, &err) >= 0, "add: %s", err.msg);
    lm_batch_event ev[1];
    while (lm_batch_step(b, ev, &err) == 0) {
    }
    CHECK(ev[0].prefix && lm_prefix_length(ev[0].prefix) == n, "no prefix of %d kept", n);
    return ev[0].prefix;
}

static void fill(int *ids, int n, int base) {
    ids[0] = LM_TOKEN_BOS;
    for (int i = 1; i < n; i++) ids[i] = 3 + (base + i * 7) % 1000;
}

int main(int argc, char **argv) {
    if (argc < 2) return fprintf(stderr, "usage: test_prompt_cache MODEL\n"), 2;
    lm_error err;
    lm_model *m = lm_model_load(argv[1], &err);
    lm_batch *b = m ? lm_batch_new(m, (lm_batch_params){1, 64, 1, NULL}, &err) : NULL;
    CHECK(b != NULL, "%s", err.msg);
    if (!b) return check_exit("prompt cache");
    int a[40], c[40], d[40], use = 0;
    fill(a, 40, 1);
    fill(c, 40, 2);
    fill(d, 40, 3);
    lm_prefix *pa = make(b, a, 20);
    uint64_t one = lm_prefix_bytes(pa);
    lm_prompt_cache *pc = lm_prompt_cache_new(one * 11 / 4); /* room for two of 20, not three */
    lm_prompt_cache_add(pc, "key-a", pa);
    CHECK(!lm_prompt_cache_find(pc, "key-b", a, 30, &use) && use == 0,
          "another partition's prefix was found");
    CHECK(lm_prompt_cache_find(pc, "key-a", a, 30, &use) && use == 20, "longest prefix: %d", use);
    CHECK(lm_prompt_cache_find(pc, "key-a", a, 20, &use) && use == 19,
          "a prompt equal to the entry must keep one token to feed: %d", use);
    int other[40];
    memcpy(other, a, sizeof other);
    other[12] = 999;
    CHECK(lm_prompt_cache_find(pc, "key-a", other, 30, &use) && use == 12, "shared 12: %d", use);
    /* LRU: a was used last; c, then d, evicts c */
    lm_prompt_cache_add(pc, "key-a", make(b, c, 20));
    CHECK(lm_prompt_cache_find(pc, "key-a", a, 25, &use) && use == 20, "a still there");
    lm_prompt_cache_add(pc, "key-a", make(b, d, 20));
    lm_prompt_cache_stats s = lm_prompt_cache_get_stats(pc);
    CHECK(s.entries == 2 && s.evictions == 1 && s.bytes <= s.cap_bytes,
          "%llu entries, %llu evictions, %llu of %llu bytes", (unsigned long long)s.entries,
          (unsigned long long)s.evictions, (unsigned long long)s.bytes,
          (unsigned long long)s.cap_bytes);
    lm_prompt_cache_find(pc, "key-a", c, 25, &use); /* BOS is all it shares with a and d */
    CHECK(use == 1, "the least recently used stayed: %d of its tokens found", use);
    CHECK(lm_prompt_cache_find(pc, "key-a", a, 25, &use) && use == 20, "a was evicted");
    /* a longer sequence of a's tokens replaces a's entry */
    lm_prompt_cache_add(pc, "key-a", make(b, a, 30));
    s = lm_prompt_cache_get_stats(pc);
    CHECK(s.entries == 2 && s.bytes <= s.cap_bytes, "extended entry: %llu entries",
          (unsigned long long)s.entries);
    CHECK(lm_prompt_cache_find(pc, "key-a", a, 40, &use) && use == 30, "extended: %d", use);
    /* one already held adds nothing; one larger than the cap is not kept */
    lm_prompt_cache_add(pc, "key-a", make(b, a, 10));
    CHECK(lm_prompt_cache_get_stats(pc).entries == 2, "a prefix of an entry was added");
    lm_prompt_cache *small = lm_prompt_cache_new(one / 2);
    lm_prompt_cache_add(small, "", make(b, a, 20));
    CHECK(lm_prompt_cache_get_stats(small).entries == 0 &&
              lm_prompt_cache_get_stats(small).bytes == 0,
          "an entry over the cap was kept");
    s = lm_prompt_cache_get_stats(pc);
    CHECK(s.hits == 7 && s.misses == 1 && s.tokens_reused == 20 + 19 + 12 + 20 + 1 + 20 + 30,
          "counters: %llu hits, %llu misses, %llu reused", (unsigned long long)s.hits,
          (unsigned long long)s.misses, (unsigned long long)s.tokens_reused);
    lm_prompt_cache_free(small);
    lm_prompt_cache_free(pc);
    lm_batch_free(b);
    lm_model_free(m);
    return check_exit("prompt cache");
}
