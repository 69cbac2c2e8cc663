/* The prompt cache (request.h, "prompt cache"): finished sequences' KV
 * caches (lm_prefix) in a pool of at most cap bytes, least recently used
 * first out. A new request starts from the entry of its partition that shares
 * the longest prefix with its prompt.
 *
 * Lookup is a scan of the partition's entries comparing token ids up to the
 * first difference: O(tokens compared), which for any pool that fits in
 * memory is a few microseconds beside the forward pass of one token. An
 * entry that another begins with (the earlier turn of a chat) is redundant
 * and dropped, so a conversation holds one entry, its latest turn. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "request.h"

typedef struct cache_entry {
    lm_prefix *prefix;
    uint64_t partition; /* a hash of the partition's name (the API key) */
    uint64_t used;      /* the clock when last looked up or added: LRU order */
    uint64_t bytes;
} cache_entry;

struct lm_prompt_cache {
    uint64_t cap, bytes, clock;
    cache_entry *e;
    int n, size;
    lm_prompt_cache_stats stats;
};

/* FNV-1a of the partition name: entries of other names never match. Two
 * names with one hash would share prefixes, so the full 64 bits are kept. */
static uint64_t partition_hash(const char *name) {
    uint64_t h = 14695981039346656037ull;
    for (const unsigned char *p = (const unsigned char *)(name ? name : ""); *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    return h;
}

lm_prompt_cache *lm_prompt_cache_new(uint64_t cap_bytes) {
    lm_prompt_cache *c = calloc(1, sizeof *c);
    if (c) c->cap = c->stats.cap_bytes = cap_bytes;
    return c;
}

static void drop(lm_prompt_cache *c, int i) {
    lm_prefix_free(c->e[i].prefix);
    c->bytes -= c->e[i].bytes;
    c->e[i] = c->e[--c->n];
}

void lm_prompt_cache_clear(lm_prompt_cache *c) {
    while (c && c->n > 0) drop(c, c->n - 1);
}

void lm_prompt_cache_free(lm_prompt_cache *c) {
    if (!c) return;
    lm_prompt_cache_clear(c);
    free(c->e);
    free(c);
}

static int common(const int *a, int na, const int *b, int nb) {
    int n = na < nb ? na : nb, i = 0;
    while (i < n && a[i] == b[i]) i++;
    return i;
}

const lm_prefix *lm_prompt_cache_find(lm_prompt_cache *c, const char *partition, const int *ids,
                                      int n_ids, int *use) {
    *use = 0;
    if (!c) return NULL;
    uint64_t h = partition_hash(partition);
    int best = -1, best_len = 0;
    for (int i = 0; i < c->n; i++) {
        if (c->e[i].partition != h) continue;
        const lm_prefix *p = c->e[i].prefix;
        int len = common(lm_prefix_tokens(p), lm_prefix_length(p), ids, n_ids);
        if (len > best_len) best = i, best_len = len;
    }
    /* at least one prompt token is fed: it gives the logits of the first sample */
    if (best_len > n_ids - 1) best_len = n_ids - 1;
    if (best < 0 || best_len < 1) {
        c->stats.misses++;
        return NULL;
    }
    c->e[best].used = ++c->clock;
    c->stats.hits++;
    c->stats.tokens_reused += (uint64_t)best_len;
    *use = best_len;
    return c->e[best].prefix;
}

static int make_room(lm_prompt_cache *c, uint64_t need) {
    while (c->n > 0 && c->bytes + need > c->cap) {
        int lru = 0;
        for (int i = 1; i < c->n; i++)
            if (c->e[i].used < c->e[lru].used) lru = i;
        drop(c, lru);
        c->stats.evictions++;
    }
    if (c->n == c->size) {
        int size = c->size ? 2 * c->size : 16;
        cache_entry *e = realloc(c->e, (size_t)size * sizeof *e);
        if (!e) return -1;
        c->e = e;
        c->size = size;
    }
    return 0;
}

void lm_prompt_cache_add(lm_prompt_cache *c, const char *partition, lm_prefix *p) {
    if (!p) return;
    uint64_t bytes = lm_prefix_bytes(p), h = partition_hash(partition);
    if (!c || bytes > c->cap) {
        lm_prefix_free(p);
        return;
    }
    const int *t = lm_prefix_tokens(p);
    int len = lm_prefix_length(p);
    for (int i = c->n - 1; i >= 0; i--) {
        if (c->e[i].partition != h) continue;
        const lm_prefix *q = c->e[i].prefix;
        int qlen = lm_prefix_length(q), same = common(lm_prefix_tokens(q), qlen, t, len);
        if (same == len) { /* an entry holds all of p already */
            c->e[i].used = ++c->clock;
            lm_prefix_free(p);
            return;
        }
        if (same == qlen) drop(c, i); /* p holds all of the entry */
    }
    if (make_room(c, bytes) || c->bytes + bytes > c->cap) {
        lm_prefix_free(p);
        return;
    }
    c->e[c->n++] = (cache_entry){p, h, ++c->clock, bytes};
    c->bytes += bytes;
}

lm_prompt_cache_stats lm_prompt_cache_get_stats(const lm_prompt_cache *c) {
    lm_prompt_cache_stats s = {0};
    if (!c) return s;
    s = c->stats;
    s.bytes = c->bytes;
    s.entries = (uint64_t)c->n;
    return s;
}

/* MemAvailable (free memory plus what the kernel can reclaim), else free pages. */
static uint64_t available_memory(void) {
    FILE *f = fopen("/proc/meminfo", "r");
    if (f) {
        char line[256];
        unsigned long long kb;
        while (fgets(line, sizeof line, f))
            if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) {
                fclose(f);
                return (uint64_t)kb * 1024;
            }
        fclose(f);
    }
    long pages = sysconf(_SC_AVPHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    return pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page : 0;
}

uint64_t lm_prompt_cache_default_bytes(uint64_t batch_kv_bytes) {
    uint64_t have = available_memory();
    have = have > batch_kv_bytes ? have - batch_kv_bytes : 0;
    return have / 4;
}
