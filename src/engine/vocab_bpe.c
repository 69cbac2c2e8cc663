/* Byte-level BPE (GGUF's tokenizer.ggml.model "gpt2"; src/FORMATS.md, "GGUF
 * vocabulary"): the pre-tokenizer's regular expressions (PCRE2, Unicode
 * properties, JIT where it runs) cut a text into words, each word's bytes
 * become GPT-2's byte-to-Unicode characters, and the merges apply by rank.
 * Tokens are handled as ids throughout: a merge maps a pair of ids to the id
 * of their concatenation, so the encoder never builds a string per merge. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "vocab.h"

/* A pre-tokenizer: llama.cpp's regular expressions for its `pre` names (src/
 * llama-vocab.cpp), applied in turn, each to the pieces the last one made
 * (matches and the text between them both stay pieces). */
#define RE_GPT2 "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"
#define RE_LLAMA3                                                                                  \
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"     \
    "\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
/* Qwen 2's: Llama 3's with each digit a word of its own */
#define RE_QWEN2                                                                                   \
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"     \
    "\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"

typedef struct pre_def {
    const char *name;
    const char *re[2]; /* NULL-terminated */
    int ignore_merges; /* a word that is a token whole is that token (Llama 3) */
    int add_bos;       /* llama.cpp's default for add_bos_token */
} pre_def;

/* llama.cpp's names: StarCoder's and Refact's are SmolLM's expressions. */
static const pre_def pre_defs[] = {
    {"llama-bpe", {RE_LLAMA3, NULL}, 1, 1},   {"llama3", {RE_LLAMA3, NULL}, 1, 1},
    {"llama-v3", {RE_LLAMA3, NULL}, 1, 1},    {"smollm", {"\\p{N}", RE_GPT2}, 0, 0},
    {"starcoder", {"\\p{N}", RE_GPT2}, 0, 0}, {"refact", {"\\p{N}", RE_GPT2}, 0, 0},
    {"qwen2", {RE_QWEN2, NULL}, 0, 0},        {"gpt-2", {RE_GPT2, NULL}, 0, 0},
    {"gpt2", {RE_GPT2, NULL}, 0, 0},
};
#define N_PRE ((int)(sizeof pre_defs / sizeof pre_defs[0]))
#define PRE_NAMES "llama-bpe, llama3, llama-v3, smollm, starcoder, refact, qwen2, gpt-2"

/* A merge: the pair (left, right) of ids becomes id, at rank. */
typedef struct merge {
    uint64_t key; /* left << 32 | right; UINT64_MAX = empty slot */
    int rank, id;
} merge;

struct lm_bpe {
    const pre_def *pre;
    pcre2_code *re[2];
    int n_re;
    int byte_id[256];         /* the token of each byte's character, or -1 */
    char byte_chr[256][3];    /* each byte's character, UTF-8, NUL-terminated */
    unsigned char unmap[512]; /* code point (< 512) -> byte, for decoding */
    short unmapped[512];      /* 1 where unmap holds a byte */
    merge *merges;            /* open addressing, mask + 1 slots */
    uint64_t mask;
    /* the pieces, for whole-word lookups (ignore_merges) */
    const char *const *piece;
    const int *len;
    int *table; /* ids or -1, tmask + 1 slots */
    uint32_t tmask;
};

/* ---- GPT-2's byte-to-Unicode map --------------------------------------- */

/* Printable bytes stand for themselves; the other 68 become U+0100.. in
 * order, so that every byte is a visible character. */
static int byte_cp(int b) {
    if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174) return b;
    int n = 0;
    for (int c = 0; c < b; c++)
        if (!((c >= 33 && c <= 126) || (c >= 161 && c <= 172) || c >= 174)) n++;
    return 256 + n;
}

static void build_map(lm_bpe *b) {
    for (int x = 0; x < 256; x++) {
        int cp = byte_cp(x);
        char *s = b->byte_chr[x];
        if (cp < 0x80) {
            s[0] = (char)cp, s[1] = 0;
        } else {
            s[0] = (char)(0xC0 | cp >> 6), s[1] = (char)(0x80 | (cp & 0x3F)), s[2] = 0;
        }
        b->unmap[cp] = (unsigned char)x;
        b->unmapped[cp] = 1;
    }
}

/* ---- the pieces' table ------------------------------------------------- */

static uint32_t fnv(const char *s, size_t n) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

static int find(const lm_bpe *b, const char *s, size_t n) {
    for (uint32_t i = fnv(s, n) & b->tmask;; i = (i + 1) & b->tmask) {
        int id = b->table[i];
        if (id < 0 || ((size_t)b->len[id] == n && memcmp(b->piece[id], s, n) == 0)) return id;
    }
}

/* Every token, control ones too: llama.cpp's BPE looks merged words up in
 * its whole vocabulary (Qwen 2's merges make "</s>", a control token by
 * name). Special tokens' names in a text still stay text: the regular
 * expressions never make a word of "<|eot_id|>" or "</s>". */
static int build_table(lm_bpe *b, const lm_vocab_def *v) {
    uint32_t size = 1;
    while (size < 2 * (uint32_t)v->n) size *= 2;
    if (!(b->table = malloc(size * sizeof *b->table))) return -1;
    memset(b->table, 0xff, size * sizeof *b->table);
    b->tmask = size - 1;
    b->piece = v->piece, b->len = v->len;
    for (int id = 0; id < v->n; id++) {
        if (v->len[id] == 0) continue;
        uint32_t i = fnv(v->piece[id], (size_t)v->len[id]) & b->tmask;
        while (b->table[i] >= 0) {
            int o = b->table[i];
            if (b->len[o] == v->len[id] && !memcmp(b->piece[o], v->piece[id], (size_t)v->len[id]))
                break; /* a duplicate keeps its lowest id (tokenizer.c refuses the file) */
            i = (i + 1) & b->tmask;
        }
        if (b->table[i] < 0) b->table[i] = id;
    }
    return 0;
}

/* ---- merges ------------------------------------------------------------ */

static uint64_t mix(uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    return k;
}

static const merge *find_merge(const lm_bpe *b, int left, int right) {
    uint64_t key = (uint64_t)(uint32_t)left << 32 | (uint32_t)right;
    for (uint64_t i = mix(key) & b->mask;; i = (i + 1) & b->mask) {
        const merge *m = &b->merges[i];
        if (m->key == key || m->key == UINT64_MAX) return m;
    }
}

/* Merge i, "LEFT RIGHT": both sides and their concatenation are tokens. */
static int add_merge(lm_bpe *b, const lm_vocab_def *v, int i, lm_error *err) {
    const char *s = v->merge[i];
    int n = v->merge_len[i];
    const char *sp = n > 1 ? memchr(s + 1, ' ', (size_t)n - 1) : NULL;
    if (!sp || sp + 1 == s + n)
        return lm_fail(err, "%s: tokenizer.ggml.merges[%d] is not two tokens split by a space",
                       v->name, i);
    int nl = (int)(sp - s), nr = n - nl - 1;
    int left = find(b, s, (size_t)nl), right = find(b, sp + 1, (size_t)nr);
    char *cat = malloc((size_t)n);
    if (!cat) return lm_fail(err, "%s: out of memory for the merges", v->name);
    memcpy(cat, s, (size_t)nl);
    memcpy(cat + nl, sp + 1, (size_t)nr);
    int id = find(b, cat, (size_t)(nl + nr));
    free(cat);
    if (left < 0 || right < 0 || id < 0)
        return lm_fail(err, "%s: tokenizer.ggml.merges[%d] names %s that is not in the vocabulary",
                       v->name, i,
                       left < 0    ? "a left token"
                       : right < 0 ? "a right token"
                                   : "a merged token");
    merge *m = (merge *)find_merge(b, left, right);
    if (m->key == UINT64_MAX) /* a repeated merge keeps its first rank */
        *m = (merge){(uint64_t)(uint32_t)left << 32 | (uint32_t)right, i, id};
    return 0;
}

static int build_merges(lm_bpe *b, const lm_vocab_def *v, lm_error *err) {
    uint64_t size = 1;
    while (size < 2 * (uint64_t)v->n_merges + 2) size *= 2;
    if (!(b->merges = malloc(size * sizeof *b->merges)))
        return lm_fail(err, "%s: out of memory for %d merges", v->name, v->n_merges);
    memset(b->merges, 0xff, size * sizeof *b->merges);
    b->mask = size - 1;
    for (int i = 0; i < v->n_merges; i++)
        if (add_merge(b, v, i, err)) return -1;
    return 0;
}

/* ---- loading ----------------------------------------------------------- */

static int compile(lm_bpe *b, const char *name, lm_error *err) {
    for (b->n_re = 0; b->n_re < 2 && b->pre->re[b->n_re]; b->n_re++) {
        int code;
        PCRE2_SIZE at;
        pcre2_code *re =
            pcre2_compile((PCRE2_SPTR)b->pre->re[b->n_re], PCRE2_ZERO_TERMINATED,
                          PCRE2_UTF | PCRE2_UCP | PCRE2_NO_UTF_CHECK, &code, &at, NULL);
        if (!re) {
            PCRE2_UCHAR msg[120];
            pcre2_get_error_message(code, msg, sizeof msg);
            return lm_fail(err, "%s: pre-tokenizer %s: PCRE2 refuses its expression: %s", name,
                           b->pre->name, (const char *)msg);
        }
        pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* the interpreter where JIT is missing */
        b->re[b->n_re] = re;
    }
    return 0;
}

int lm_bpe_pre_add_bos(const char *pre, size_t n) {
    for (int i = 0; i < N_PRE; i++)
        if (strlen(pre_defs[i].name) == n && !memcmp(pre_defs[i].name, pre, n))
            return pre_defs[i].add_bos;
    return 0;
}

lm_bpe *lm_bpe_new(const lm_vocab_def *v, lm_error *err) {
    const pre_def *pre = NULL;
    for (int i = 0; i < N_PRE && v->pre; i++)
        if (strlen(pre_defs[i].name) == v->pre_len && !memcmp(pre_defs[i].name, v->pre, v->pre_len))
            pre = &pre_defs[i];
    if (!pre) {
        char shown[LM_BPE_SHOW];
        if (v->pre)
            lm_fail(err, "%s: tokenizer.ggml.pre \"%s\" is not a pre-tokenizer lamina knows (%s)",
                    v->name, lm_bpe_show(v->pre, v->pre_len, shown), PRE_NAMES);
        else
            lm_fail(err, "%s: tokenizer.ggml.pre: missing (lamina knows %s)", v->name, PRE_NAMES);
        return NULL;
    }
    lm_bpe *b = calloc(1, sizeof *b);
    if (!b) {
        lm_fail(err, "%s: out of memory", v->name);
        return NULL;
    }
    b->pre = pre;
    build_map(b);
    if (build_table(b, v)) {
        lm_fail(err, "%s: out of memory for %d tokens", v->name, v->n);
    } else if (!compile(b, v->name, err) && !build_merges(b, v, err)) {
        for (int x = 0; x < 256; x++)
            b->byte_id[x] = find(b, b->byte_chr[x], strlen(b->byte_chr[x]));
        /* the pieces are the caller's: only kept while loading */
        b->piece = NULL, b->len = NULL;
        return b;
    }
    lm_bpe_free(b);
    return NULL;
}

void lm_bpe_free(lm_bpe *b) {
    if (!b) return;
    for (int i = 0; i < b->n_re; i++) pcre2_code_free(b->re[i]);
    free(b->merges);
    free(b->table);
    free(b);
}

void lm_bpe_keep_pieces(lm_bpe *b, const char *const *piece, const int *len) {
    b->piece = piece, b->len = len;
}

const char *lm_bpe_show(const char *s, size_t n, char *buf) {
    size_t m = 0;
    for (size_t i = 0; s && i < n && i < 64; i++) {
        unsigned char c = (unsigned char)s[i];
        m += (size_t)snprintf(buf + m, LM_BPE_SHOW - m, c >= 32 && c < 127 ? "%c" : "\\x%02X", c);
    }
    buf[m] = '\0';
    return buf;
}

/* ---- decoding ---------------------------------------------------------- */

int lm_bpe_decode(const lm_bpe *b, const char *piece, int len, char *dst) {
    int n = 0;
    for (int i = 0; i < len;) {
        unsigned char c = (unsigned char)piece[i];
        if (c >= 0xC0 && c < 0xE0 && i + 1 < len) {
            int cp = (c & 0x1F) << 6 | ((unsigned char)piece[i + 1] & 0x3F);
            if (cp < 512 && b->unmapped[cp]) {
                dst[n++] = (char)b->unmap[cp];
                i += 2;
                continue;
            }
        } else if (c < 0x80 && b->unmapped[c]) {
            dst[n++] = (char)b->unmap[c];
            i++;
            continue;
        }
        dst[n++] = piece[i++]; /* outside the map: kept as it is spelled */
    }
    dst[n] = '\0';
    return n;
}

/* ---- encoding ---------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s (RFC 3629, as PCRE2 checks it), or
 * 0 for a byte that starts none. */
static int utf8_valid(const unsigned char *s, size_t avail) {
    unsigned char c = s[0], lo = 0x80, hi = 0xBF;
    int n;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF)
        n = 2;
    else if (c >= 0xE0 && c <= 0xEF)
        n = 3, lo = c == 0xE0 ? 0xA0 : lo, hi = c == 0xED ? 0x9F : hi;
    else if (c >= 0xF0 && c <= 0xF4)
        n = 4, lo = c == 0xF0 ? 0x90 : lo, hi = c == 0xF4 ? 0x8F : hi;
    else
        return 0;
    if ((size_t)n > avail || s[1] < lo || s[1] > hi) return 0;
    for (int i = 2; i < n; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    return n;
}

/* One encoding in progress: scratch space reused word after word. */
typedef struct sym {
    int id, prev, next;
} sym;
typedef struct cand {
    int rank, left, right, id;
} cand;
typedef struct work {
    const lm_bpe *b;
    const char *name;
    sym *sym;
    cand *heap;
    int n_heap;
    char *mapped; /* a word's bytes as characters (ignore_merges) */
    int *out;
    int n_out;
    lm_error *err;
} work;

static int cand_before(const cand *x, const cand *y) {
    return x->rank < y->rank || (x->rank == y->rank && x->left < y->left);
}

static void push(work *w, cand c) {
    int i = w->n_heap++;
    while (i > 0 && cand_before(&c, &w->heap[(i - 1) / 2])) {
        w->heap[i] = w->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    w->heap[i] = c;
}

static cand pop(work *w) {
    cand top = w->heap[0], last = w->heap[--w->n_heap];
    int i = 0;
    for (;;) {
        int c = 2 * i + 1;
        if (c >= w->n_heap) break;
        if (c + 1 < w->n_heap && cand_before(&w->heap[c + 1], &w->heap[c])) c++;
        if (!cand_before(&w->heap[c], &last)) break;
        w->heap[i] = w->heap[c];
        i = c;
    }
    w->heap[i] = last;
    return top;
}

static void try_pair(work *w, int left, int right) {
    if (left < 0 || right < 0) return;
    const merge *m = find_merge(w->b, w->sym[left].id, w->sym[right].id);
    if (m->key != UINT64_MAX) push(w, (cand){m->rank, left, right, m->id});
}

/* A word: its bytes' tokens, merged lowest rank first (leftmost on a tie). */
static int encode_word(work *w, const unsigned char *s, int n) {
    const lm_bpe *b = w->b;
    if (b->pre->ignore_merges) {
        int m = 0;
        for (int i = 0; i < n; i++)
            for (const char *c = b->byte_chr[s[i]]; *c; c++) w->mapped[m++] = *c;
        int id = find(b, w->mapped, (size_t)m);
        if (id >= 0) {
            w->out[w->n_out++] = id;
            return 0;
        }
    }
    for (int i = 0; i < n; i++) {
        int id = b->byte_id[s[i]];
        if (id < 0)
            return lm_fail(w->err, "%s: cannot encode byte 0x%02X: the vocabulary has no token %s",
                           w->name, s[i], b->byte_chr[s[i]]);
        w->sym[i] = (sym){id, i - 1, i + 1 < n ? i + 1 : -1};
    }
    w->n_heap = 0;
    for (int i = 0; i + 1 < n; i++) try_pair(w, i, i + 1);
    while (w->n_heap > 0) {
        cand c = pop(w);
        sym *l = &w->sym[c.left], *r = &w->sym[c.right];
        /* stale: a side merged since (its id changed or it is gone) */
        if (l->id < 0 || r->id < 0 || l->next != c.right) continue;
        const merge *m = find_merge(b, l->id, r->id);
        if (m->id != c.id || m->rank != c.rank) continue;
        l->id = c.id;
        l->next = r->next;
        if (r->next >= 0) w->sym[r->next].prev = c.left;
        r->id = -1;
        try_pair(w, l->prev, c.left);
        try_pair(w, c.left, l->next);
    }
    for (int i = 0; i >= 0; i = w->sym[i].next) w->out[w->n_out++] = w->sym[i].id;
    return 0;
}

/* Splits [start, end) of the (sanitized) text with expression k, and the
 * pieces with the expressions after it; the last one's pieces are words. */
static int split(work *w, const char *clean, const char *text, int start, int end, int k,
                 pcre2_match_data *md) {
    if (start >= end) return 0;
    if (k == w->b->n_re) return encode_word(w, (const unsigned char *)text + start, end - start);
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    int pos = start;
    while (pos < end) {
        int rc = pcre2_match(w->b->re[k], (PCRE2_SPTR)clean, (PCRE2_SIZE)end, (PCRE2_SIZE)pos,
                             PCRE2_NO_UTF_CHECK, md, NULL);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
            PCRE2_UCHAR msg[120];
            pcre2_get_error_message(rc, msg, sizeof msg);
            return lm_fail(w->err, "%s: pre-tokenizer %s: %s", w->name, w->b->pre->name,
                           (const char *)msg);
        }
        int a = (int)ov[0], z = (int)ov[1];
        if (z <= a) { /* no expression here matches empty text; a guard all the same */
            z = a + 1;
            while (z < end && ((unsigned char)clean[z] & 0xC0) == 0x80) z++;
        }
        if (split(w, clean, text, pos, a, k + 1, md) || split(w, clean, text, a, z, k + 1, md))
            return -1;
        pos = z;
    }
    return split(w, clean, text, pos, end, k + 1, md);
}

/* The text with each byte that is not valid UTF-8 replaced by 0x01: like
 * llama.cpp's U+FFFD it is neither letter, digit nor space, so the words fall
 * where llama.cpp puts them, while the bytes encoded stay the text's own
 * (byte-level BPE has a token for every byte: the text decodes back). */
static char *sanitize(const char *text, int n) {
    char *c = malloc((size_t)n + 1);
    if (!c) return NULL;
    for (int i = 0; i < n;) {
        int k = utf8_valid((const unsigned char *)text + i, (size_t)(n - i));
        if (k == 0) {
            c[i++] = 1;
        } else {
            memcpy(c + i, text + i, (size_t)k);
            i += k;
        }
    }
    c[n] = '\0';
    return c;
}

int lm_bpe_encode(const lm_bpe *b, const char *name, const char *text, int n, int *out,
                  lm_error *err) {
    work w = {.b = b, .name = name, .out = out, .err = err};
    char *clean = sanitize(text, n);
    pcre2_match_data *md = pcre2_match_data_create(4, NULL);
    w.sym = malloc(((size_t)n + 1) * sizeof *w.sym);
    w.heap = malloc(3 * ((size_t)n + 1) * sizeof *w.heap);
    w.mapped = malloc(2 * (size_t)n + 1);
    int rc = -1;
    if (!clean || !md || !w.sym || !w.heap || !w.mapped)
        lm_fail(err, "%s: out of memory encoding %d bytes", name, n);
    else
        rc = split(&w, clean, text, 0, n, 0, md);
    free(clean);
    pcre2_match_data_free(md);
    free(w.sym);
    free(w.heap);
    free(w.mapped);
    return rc < 0 ? -1 : w.n_out;
}
