/* Fuzz target "prompt": prompt encoding against the Llama 2 vocabulary.
 *
 * The input is the prompt: arbitrary bytes (invalid UTF-8 included) up to the
 * first NUL. The vocabulary (32000 pieces) is loaded once, from the path in
 * $LAMINA_FUZZ_VOCAB or else the one compiled in (LAMINA_FUZZ_VOCAB_PATH).
 * Oracles:
 * - decoding the ids (lm_token_piece, as the CLI prints them) gives back the
 *   text byte for byte;
 * - no two adjacent ids that are not byte tokens concatenate to a piece (BPE
 *   stops only when nothing merges);
 * - for texts up to REFERENCE_MAX bytes, the ids equal those of a naive
 *   O(n^2) encoder written here from src/FORMATS.md (llama2.c's loop: merge the
 *   best-scoring adjacent pair, leftmost on ties, until none is left), with its
 *   own UTF-8 decoder and a sorted-array lookup instead of lamina's hash table. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <string.h>

#include "fuzz_common.h"
#include "lamina.h"

#ifndef LAMINA_FUZZ_VOCAB_PATH
#define LAMINA_FUZZ_VOCAB_PATH "llama2-32k.bin"
#endif
#define REFERENCE_MAX 256

typedef struct ref_piece {
    const char *s;
    int len, id;
    float score;
} ref_piece;

static lm_tokenizer *tok;
static int vocab_n;
static ref_piece *pieces; /* by id */
static ref_piece *sorted; /* mergeable pieces (ids >= 3, not <0xHH>), by bytes then id */
static int n_sorted;
static int byte_id[256]; /* -1 when the vocabulary lacks <0xHH> at id b + 3 */
static int is_byte_token[1 << 16];
static FILE *devnull;

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

static int piece_as_byte(const char *s, int len) {
    if (len != 6 || memcmp(s, "<0x", 3) || s[5] != '>') return -1;
    int hi = hexval(s[3]), lo = hexval(s[4]);
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

static int cmp_bytes(const char *a, int alen, const char *b, int blen) {
    int n = alen < blen ? alen : blen;
    int c = memcmp(a, b, (size_t)n);
    return c ? c : (alen > blen) - (alen < blen);
}

static int cmp_piece(const void *x, const void *y) {
    const ref_piece *a = x, *b = y;
    int c = cmp_bytes(a->s, a->len, b->s, b->len);
    return c ? c : (a->id > b->id) - (a->id < b->id);
}

/* The lowest id whose piece is exactly s[0..len), or -1. */
static int ref_lookup(const char *s, int len) {
    int lo = 0, hi = n_sorted;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (cmp_bytes(sorted[mid].s, sorted[mid].len, s, len) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n_sorted && cmp_bytes(sorted[lo].s, sorted[lo].len, s, len) == 0 ? sorted[lo].id
                                                                                 : -1;
}

static void load_reference(const char *path) {
    FILE *f = fopen(path, "rb");
    FUZZ_CHECK(f != NULL, "cannot open %s (set LAMINA_FUZZ_VOCAB)", path);
    static char buf[1 << 20];
    size_t size = fread(buf, 1, sizeof buf, f);
    fclose(f);
    FUZZ_CHECK(size > 4 && size < sizeof buf, "%s: unexpected size", path);
    pieces = calloc(1 << 16, sizeof *pieces);
    sorted = calloc(1 << 16, sizeof *sorted);
    size_t off = 4;
    while (off < size) {
        FUZZ_CHECK(vocab_n < (1 << 16) && off + 8 <= size, "%s: malformed", path);
        ref_piece p = {.id = vocab_n};
        memcpy(&p.score, buf + off, 4);
        memcpy(&p.len, buf + off + 4, 4);
        p.s = buf + off + 8;
        off += 8 + (size_t)p.len;
        pieces[vocab_n++] = p;
    }
    for (int b = 0; b < 256; b++)
        byte_id[b] =
            b + 3 < vocab_n && piece_as_byte(pieces[b + 3].s, pieces[b + 3].len) == b ? b + 3 : -1;
    for (int id = 3; id < vocab_n; id++) {
        if (piece_as_byte(pieces[id].s, pieces[id].len) >= 0)
            is_byte_token[id] = 1;
        else
            sorted[n_sorted++] = pieces[id];
    }
    qsort(sorted, (size_t)n_sorted, sizeof *sorted, cmp_piece);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    const char *path = getenv("LAMINA_FUZZ_VOCAB");
    if (!path || !*path) path = LAMINA_FUZZ_VOCAB_PATH;
    lm_error err;
    tok = lm_tokenizer_load(path, 0, &err);
    FUZZ_CHECK(tok != NULL, "%s", err.msg);
    load_reference(path);
    FUZZ_CHECK(vocab_n == lm_tokenizer_vocab_size(tok), "vocab %d vs %d", vocab_n,
               lm_tokenizer_vocab_size(tok));
    devnull = fopen("/dev/null", "w");
    return 0;
}

/* Bytes of the code point at s (valid UTF-8 per RFC 3629), or 1. */
static int ref_utf8(const unsigned char *s, int avail) {
    int n = s[0] < 0x80             ? 1
            : (s[0] & 0xE0) == 0xC0 ? 2
            : (s[0] & 0xF0) == 0xE0 ? 3
            : (s[0] & 0xF8) == 0xF0 ? 4
                                    : 0;
    if (n <= 1 || n > avail) return 1;
    uint32_t cp = s[0] & (0x7F >> n);
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) return 1;
        cp = cp << 6 | (s[i] & 0x3F);
    }
    static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 1;
    return n;
}

typedef struct ref_sym {
    int start, len, id, fixed;
} ref_sym;

/* The naive encoder; returns the id count (no BOS/EOS), -1 if a byte lacks a token. */
static int ref_encode(const char *text, int *out) {
    static char buf[REFERENCE_MAX + 2];
    static ref_sym sym[REFERENCE_MAX + 2];
    int n_text = (int)strlen(text), prefix = n_text > 0, n = 0;
    buf[0] = ' ';
    memcpy(buf + prefix, text, (size_t)n_text);
    n_text += prefix;
    for (int i = 0; i < n_text;) {
        int cl = ref_utf8((const unsigned char *)buf + i, n_text - i);
        int id = ref_lookup(buf + i, cl);
        if (id >= 0) {
            sym[n++] = (ref_sym){i, cl, id, 0};
        } else {
            for (int k = 0; k < cl; k++) {
                int b = byte_id[(unsigned char)buf[i + k]];
                if (b < 0) return -1;
                sym[n++] = (ref_sym){i + k, 1, b, 1};
            }
        }
        i += cl;
    }
    for (;;) {
        int best = -1, best_id = -1;
        float best_score = 0;
        for (int i = 0; i + 1 < n; i++) {
            if (sym[i].fixed || sym[i + 1].fixed) continue;
            int id = ref_lookup(buf + sym[i].start, sym[i].len + sym[i + 1].len);
            if (id >= 0 && (best < 0 || pieces[id].score > best_score)) {
                best = i;
                best_id = id;
                best_score = pieces[id].score;
            }
        }
        if (best < 0) break;
        sym[best].len += sym[best + 1].len;
        sym[best].id = best_id;
        memmove(&sym[best + 1], &sym[best + 2], (size_t)(n - best - 2) * sizeof *sym);
        n--;
    }
    for (int i = 0; i < n; i++) out[i] = sym[i].id;
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    size_t len = strlen(text);
    lm_error err;
    err.msg[0] = '\0';
    int n = -1;
    int *ids = lm_tokenize(tok, text, 1, 1, &n, &err);
    FUZZ_CHECK(ids != NULL, "lm_tokenize failed: %s", err.msg); /* Llama 2 has every byte */
    FUZZ_CHECK(n >= 2 && (size_t)n <= len + 3, "%d ids for %zu bytes", n, len);
    FUZZ_CHECK(ids[0] == LM_TOKEN_BOS && ids[n - 1] == LM_TOKEN_EOS, "BOS/EOS");
    FUZZ_CHECK(len == 0 ? n == 2 : n >= 3, "%d ids for %zu bytes", n, len);

    /* decode: the pieces, printed after their predecessor, are the text again */
    char *back = malloc(len + 1);
    size_t at = 0;
    for (int i = 1; i < n - 1; i++) {
        FUZZ_CHECK(ids[i] >= 3 && ids[i] < vocab_n, "id %d", ids[i]);
        const char *piece = lm_token_piece(tok, ids[i - 1], ids[i]);
        size_t plen = is_byte_token[ids[i]] ? 1 : strlen(piece); /* <0x00> is "\0" */
        FUZZ_CHECK(at + plen <= len, "decoded text longer than the input");
        memcpy(back + at, piece, plen);
        at += plen;
        fputs(lm_piece_text(piece), devnull);
        if (i + 1 < n - 1 && !is_byte_token[ids[i]] && !is_byte_token[ids[i + 1]]) {
            char pair[256];
            int l1 = pieces[ids[i]].len, l2 = pieces[ids[i + 1]].len;
            if (l1 + l2 <= (int)sizeof pair) {
                memcpy(pair, pieces[ids[i]].s, (size_t)l1);
                memcpy(pair + l1, pieces[ids[i + 1]].s, (size_t)l2);
                FUZZ_CHECK(ref_lookup(pair, l1 + l2) < 0, "ids %d and %d at %d still merge into %d",
                           ids[i], ids[i + 1], i, ref_lookup(pair, l1 + l2));
            }
        }
    }
    FUZZ_CHECK(at == len && memcmp(back, text, len) == 0, "decoding does not give the text back");

    if (len <= REFERENCE_MAX) {
        static int want[REFERENCE_MAX + 2];
        int n_want = ref_encode(text, want);
        FUZZ_CHECK(n_want == n - 2, "reference gives %d ids, lamina %d", n_want, n - 2);
        for (int i = 0; i < n_want; i++)
            FUZZ_CHECK(want[i] == ids[i + 1], "id %d: reference %d, lamina %d", i, want[i],
                       ids[i + 1]);
    }
    free(back);
    free(ids);
    free(text);
    return 0;
}
