/* The vocabulary as a trie of token texts, walked with the JSON automaton
 * (json_constraint.h). A token's text is what the request driver appends for
 * it: lm_token_text(tok, prev, t), which is the same for
 * every prev except BOS (SentencePiece's dummy-prefix space is dropped after
 * it); that case, a sequence's first token at most, is checked token by
 * token with the texts after BOS.
 *
 * Inside a string most tokens are plain text (no quote, backslash or control
 * byte, whole UTF-8 characters): those are allowed from a list sorted by
 * their length in characters, and only the other tokens are walked. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "json_internal.h"
#include "request_error.h"

typedef struct trie_node {
    int first, n_child; /* children: node[first .. first + n_child), by byte */
    int tok, n_tok;     /* tokens ending here: order[tok .. tok + n_tok) */
    unsigned char byte;
} trie_node;

typedef struct trie {
    trie_node *node;
    int n, cap;
    int *order; /* token ids sorted by text */
} trie;

struct lm_json_vocab {
    int n_vocab;
    int alt_prev;    /* the prev after which texts differ (BOS), or -1 */
    char **text;     /* each token's text (after any prev but alt_prev) */
    char **alt;      /* after alt_prev */
    int *plain;      /* the plain tokens, by length in characters */
    int *plain_upto; /* plain_upto[c]: how many have at most c characters */
    int max_chars;   /* of a plain token */
    int n_plain;
    trie all, special; /* every non-empty text; the non-plain ones */
    uint64_t hash;
    struct lm_json_vocab *next; /* the cache's list */
};

/* ---- building -------------------------------------------------------------- */

static const char *const *sort_texts; /* qsort's context: one thread builds at a time */

static int by_text(const void *a, const void *b) {
    return strcmp(sort_texts[*(const int *)a], sort_texts[*(const int *)b]);
}

static int trie_add_node(trie *t) {
    if (t->n == t->cap) {
        int cap = t->cap ? t->cap * 2 : 1024;
        trie_node *n = realloc(t->node, (size_t)cap * sizeof *n);
        if (!n) return -1;
        t->node = n;
        t->cap = cap;
    }
    t->node[t->n] = (trie_node){0};
    return t->n++;
}

/* The node for the prefix of length d shared by order[lo..hi): its tokens
 * (texts of length d come first), then one child per next byte. */
static int trie_fill(trie *t, char **text, int node, int lo, int hi, int d) {
    int k = lo;
    while (k < hi && text[t->order[k]][d] == '\0') k++;
    t->node[node].tok = lo, t->node[node].n_tok = k - lo;
    int groups = 0;
    for (int i = k; i < hi; i++)
        if (i == k || text[t->order[i]][d] != text[t->order[i - 1]][d]) groups++;
    int first = t->n;
    for (int g = 0; g < groups; g++)
        if (trie_add_node(t) < 0) return -1;
    t->node[node].first = first, t->node[node].n_child = groups;
    for (int i = k, g = 0; i < hi; g++) {
        int j = i;
        unsigned char b = (unsigned char)text[t->order[i]][d];
        while (j < hi && (unsigned char)text[t->order[j]][d] == b) j++;
        t->node[first + g].byte = b;
        if (trie_fill(t, text, first + g, i, j, d + 1)) return -1;
        i = j;
    }
    return 0;
}

static pthread_mutex_t sort_lock = PTHREAD_MUTEX_INITIALIZER;

/* A trie of the tokens ids[0..n) (texts non-empty). */
static int trie_build(trie *t, char **text, const int *ids, int n) {
    if (!(t->order = malloc(((size_t)n + 1) * sizeof *t->order))) return -1;
    memcpy(t->order, ids, (size_t)n * sizeof *ids);
    pthread_mutex_lock(&sort_lock);
    sort_texts = (const char *const *)text;
    qsort(t->order, (size_t)n, sizeof *t->order, by_text);
    pthread_mutex_unlock(&sort_lock);
    if (trie_add_node(t) < 0) return -1;
    return trie_fill(t, text, 0, 0, n, 0);
}

/* The bytes of one whole UTF-8 character at p (RFC 3629), or 0. */
static int utf8_char(const unsigned char *p) {
    unsigned char b = *p;
    if (b < 0x80) return 1;
    int lo = 0x80, hi = 0xBF, cont;
    if (b >= 0xC2 && b <= 0xDF)
        cont = 1;
    else if (b == 0xE0)
        cont = 2, lo = 0xA0;
    else if (b == 0xED)
        cont = 2, hi = 0x9F;
    else if (b >= 0xE1 && b <= 0xEF)
        cont = 2;
    else if (b == 0xF0)
        cont = 3, lo = 0x90;
    else if (b == 0xF4)
        cont = 3, hi = 0x8F;
    else if (b >= 0xF1 && b <= 0xF3)
        cont = 3;
    else
        return 0;
    for (int i = 1; i <= cont; i++, lo = 0x80, hi = 0xBF)
        if (p[i] < lo || p[i] > hi) return 0;
    return cont + 1;
}

/* Plain string content: the characters it adds (>= 1), or 0. */
static int plain_chars(const char *s) {
    int chars = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; chars++) {
        if (*p < 0x20 || *p == '"' || *p == '\\') return 0;
        int len = utf8_char(p);
        if (!len) return 0;
        p += len;
    }
    return chars;
}

static char *dup_text(const char *s) {
    char *d = strdup(s ? s : "");
    return d;
}

/* Texts, plain list and tries. */
static int vocab_fill(lm_json_vocab *v, const lm_tokenizer *tok) {
    int n = v->n_vocab, bos = lm_tokenizer_bos(tok), ref = bos == 0 ? 1 : 0;
    v->text = calloc((size_t)n, sizeof *v->text);
    v->alt = calloc((size_t)n, sizeof *v->alt);
    int *chars = calloc((size_t)n + 1, sizeof *chars);
    int *all = malloc(((size_t)n + 1) * sizeof *all),
        *special = malloc(((size_t)n + 1) * sizeof *special);
    v->plain = malloc(((size_t)n + 1) * sizeof *v->plain);
    int rc = -1, n_all = 0, n_special = 0;
    if (!v->text || !v->alt || !chars || !all || !special || !v->plain) goto out;
    v->alt_prev = bos;
    for (int t = 0; t < n; t++) {
        if (!(v->text[t] = dup_text(lm_token_text(tok, ref, t)))) goto out;
        const char *alt = bos >= 0 ? lm_token_text(tok, bos, t) : v->text[t];
        if (!(v->alt[t] = dup_text(alt))) goto out;
        if (!v->text[t][0]) continue;
        all[n_all++] = t;
        if ((chars[t] = plain_chars(v->text[t])) > 0) {
            v->plain[v->n_plain++] = t;
            if (chars[t] > v->max_chars) v->max_chars = chars[t];
        } else
            special[n_special++] = t;
    }
    /* the plain tokens by characters (a counting sort) */
    if (!(v->plain_upto = calloc((size_t)v->max_chars + 1, sizeof *v->plain_upto))) goto out;
    for (int i = 0; i < v->n_plain; i++) v->plain_upto[chars[v->plain[i]]]++;
    for (int c = 1; c <= v->max_chars; c++) v->plain_upto[c] += v->plain_upto[c - 1];
    int *sorted = malloc(((size_t)v->n_plain + 1) * sizeof *sorted);
    int *next = malloc(((size_t)v->max_chars + 1) * sizeof *next);
    if (!sorted || !next) {
        free(sorted), free(next);
        goto out;
    }
    memcpy(next, v->plain_upto, ((size_t)v->max_chars + 1) * sizeof *next);
    for (int i = v->n_plain - 1; i >= 0; i--) sorted[--next[chars[v->plain[i]]]] = v->plain[i];
    free(next);
    free(v->plain);
    v->plain = sorted;
    rc = trie_build(&v->all, v->text, all, n_all) ||
                 trie_build(&v->special, v->text, special, n_special)
             ? -1
             : 0;
out:
    free(chars);
    free(all);
    free(special);
    return rc;
}

void lm_json_vocab_free(lm_json_vocab *v) {
    if (!v) return;
    for (int t = 0; t < v->n_vocab; t++) {
        if (v->text) free(v->text[t]);
        if (v->alt) free(v->alt[t]);
    }
    free(v->text);
    free(v->alt);
    free(v->plain);
    free(v->plain_upto);
    free(v->all.node);
    free(v->all.order);
    free(v->special.node);
    free(v->special.order);
    free(v);
}

lm_json_vocab *lm_json_vocab_build(const lm_tokenizer *tok, lm_error *err) {
    lm_json_vocab *v = calloc(1, sizeof *v);
    if (v) v->n_vocab = lm_tokenizer_vocab_size(tok);
    if (!v || vocab_fill(v, tok)) {
        lm_json_vocab_free(v);
        request_set_error(err, "out of memory (the vocabulary's trie)");
        return NULL;
    }
    return v;
}

/* ---- the cache ------------------------------------------------------------- */

/* FNV-1a over every text (both variants) and the vocabulary size: the key
 * of the cache, so a tokenizer freed and another loaded at its address never
 * finds the wrong trie. */
static uint64_t vocab_hash(const lm_tokenizer *tok) {
    uint64_t h = 1469598103934665603ull;
    int n = lm_tokenizer_vocab_size(tok), bos = lm_tokenizer_bos(tok), ref = bos == 0 ? 1 : 0;
    for (int t = 0; t < n; t++)
        for (int k = 0; k < 2; k++) {
            const char *s = lm_token_text(tok, k ? bos : ref, t);
            for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
            h = (h ^ 0xffu) * 1099511628211ull; /* a separator no text holds */
        }
    return h ^ (uint64_t)n << 32 ^ (uint64_t)(unsigned)bos;
}

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static lm_json_vocab *cache;

const lm_json_vocab *lm_json_vocab_get(const lm_tokenizer *tok, lm_error *err) {
    uint64_t h = vocab_hash(tok);
    int n = lm_tokenizer_vocab_size(tok);
    pthread_mutex_lock(&cache_lock);
    lm_json_vocab *v = cache;
    while (v && !(v->hash == h && v->n_vocab == n)) v = v->next;
    if (!v && (v = lm_json_vocab_build(tok, err))) {
        v->hash = h;
        v->next = cache;
        cache = v;
    }
    pthread_mutex_unlock(&cache_lock);
    return v;
}

/* ---- walking ----------------------------------------------------------------- */

/* What one byte may change: the depth, the white-space run and the frames
 * from three below the top to the slot above it (json_constraint.c). */
typedef struct saved {
    int depth, ws, lo;
    lm_json_frame f[4];
} saved;

static void save(const lm_json_state *st, saved *s) {
    s->depth = st->depth, s->ws = st->ws;
    s->lo = st->depth >= 3 ? st->depth - 3 : 0;
    int hi = st->depth < LM_JSON_MAX_DEPTH ? st->depth + 1 : LM_JSON_MAX_DEPTH;
    memcpy(s->f, &st->f[s->lo], (size_t)(hi - s->lo) * sizeof *s->f);
}

static void restore(lm_json_state *st, const saved *s) {
    st->depth = s->depth, st->ws = s->ws;
    int hi = s->depth < LM_JSON_MAX_DEPTH ? s->depth + 1 : LM_JSON_MAX_DEPTH;
    memcpy(&st->f[s->lo], s->f, (size_t)(hi - s->lo) * sizeof *s->f);
}

/* Every token below `node` whose bytes the automaton accepts from st. */
static void walk(const trie *t, int node, lm_json_state *st, uint8_t *allowed) {
    const trie_node *nd = &t->node[node];
    for (int c = nd->first; c < nd->first + nd->n_child; c++) {
        saved s;
        save(st, &s);
        if (lm_json_step(st, t->node[c].byte)) {
            const trie_node *ch = &t->node[c];
            for (int i = 0; i < ch->n_tok; i++) allowed[t->order[ch->tok + i]] = 1;
            if (ch->n_child) walk(t, c, st, allowed);
        }
        restore(st, &s);
    }
}

/* In a string, no escape or character begun: plain tokens by length. */
static int in_plain_string(const lm_json_state *st) {
    if (st->depth == 0) return 0;
    const lm_json_frame *f = &st->f[st->depth - 1];
    return f->mode == M_STR && f->sub == S_CHARS;
}

int lm_json_allowed(const lm_json_vocab *v, const lm_json_state *st, int prev,
                    const int *end_tokens, int n_end, uint8_t *allowed) {
    memset(allowed, 0, (size_t)v->n_vocab);
    lm_json_state w = *st;
    if (prev >= 0 && prev == v->alt_prev) { /* after BOS: token by token */
        for (int t = 0; t < v->n_vocab; t++) {
            w = *st;
            allowed[t] = v->alt[t][0] && lm_json_feed(&w, v->alt[t], strlen(v->alt[t]));
        }
    } else if (in_plain_string(st)) {
        const lm_json_frame *f = &st->f[st->depth - 1];
        const json_node *n = &st->schema->node[f->node];
        int room = n->max < 0 || n->max - f->a > v->max_chars ? v->max_chars : n->max - f->a;
        for (int i = 0; i < v->plain_upto[room]; i++) allowed[v->plain[i]] = 1;
        walk(&v->special, 0, &w, allowed);
    } else
        walk(&v->all, 0, &w, allowed);
    int end = lm_json_can_end(st);
    for (int i = 0; i < n_end; i++)
        if (end_tokens[i] >= 0 && end_tokens[i] < v->n_vocab) allowed[end_tokens[i]] = (uint8_t)end;
    int count = 0;
    for (int t = 0; t < v->n_vocab; t++) count += allowed[t];
    return count;
}
