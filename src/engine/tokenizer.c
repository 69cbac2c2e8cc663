/* Tokenizer for llama2.c's tokenizer.bin (src/FORMATS.md, "`tokenizer.bin`"): a fully
 * validated loader, a BPE encoder that reproduces sentencepiece on the Llama 2
 * vocabulary, and piece decoding. Pieces are found through a hash table, and
 * merges come from a priority queue over a linked list of symbols, so that
 * encoding is O(n log n) in the text length. The same encoder serves GGUF's
 * SentencePiece vocabularies (vocab.h) with llama.cpp's rules for them. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "file.h"
#include "gguf.h"
#include "internal.h"
#include "sniff.h"
#include "vocab.h"

/* Far above any real vocabulary (Llama 2: 27); rejects a garbage header before
 * it sizes anything. */
#define MAX_TOKEN_LENGTH 65536
#define MAX_TOKENS (1 << 24) /* Llama 2 has 32000; keeps the hash table's size in range */

/* llama2.c's tokenizer.bin, a GGUF SentencePiece vocabulary, or a GGUF
 * byte-level BPE one (vocab_bpe.c; it shares the SentencePiece kind's
 * tables: types, decoded texts, special tokens, end tokens). */
enum { KIND_BIN, KIND_SPM, KIND_BPE };

struct lm_tokenizer {
    char *path; /* for messages */
    int kind;
    int n;
    char **piece; /* NUL-terminated, in block; a piece may hold a 0 byte, hence len */
    char *block;
    int *len;
    int max_piece; /* the longest piece, in bytes */
    float *score;
    int *table; /* open addressing, ids or -1; size mask + 1, a power of two */
    uint32_t mask;
    int byte_id[256];      /* the byte-fallback token of each byte, or -1 */
    char byte_str[256][2]; /* what a <0xHH> piece decodes to */
    int bos, eos;          /* ids, -1 = none */
    int add_bos, add_eos, add_space_prefix;
    lm_bpe *bpe; /* KIND_BPE only */
    /* KIND_SPM and KIND_BPE only (NULL otherwise): */
    unsigned char *type; /* (n) LM_TT_* */
    char **text;         /* (n) what each token decodes to, in text_block */
    char *text_block;
    /* (n_user) user-defined tokens, longest first: cut out of the text first;
     * for BPE control and unknown tokens too, cut out only when parsing them */
    int *user;
    int n_user;
    int rstrip_user;            /* lm_vocab_def.rstrip_user */
    int end[LM_MAX_END_TOKENS]; /* end-of-generation tokens */
    char *chat_template;        /* tokenizer.chat_template, or NULL */
    int n_end;
};

/* ---- loading ------------------------------------------------------------ */

static int32_t get_i32(const unsigned char *p) {
    uint32_t v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    int32_t r;
    memcpy(&r, &v, sizeof r);
    return r;
}

static float get_f32(const unsigned char *p) {
    int32_t v = get_i32(p);
    float r;
    memcpy(&r, &v, sizeof r);
    return r;
}

/* Checks one entry at *off and steps over it; the message names token i. */
static int scan_entry(const char *path, const unsigned char *buf, size_t size, size_t *off, int i,
                      int max_len, lm_error *err) {
    size_t left = size - *off;
    if (left < 4)
        return lm_fail(err, "%s: truncated at token %d (need 4 bytes for its score, %zu left)",
                       path, i, left);
    float score = get_f32(buf + *off);
    if (!isfinite(score))
        return lm_fail(err, "%s: token %d has a non-finite score (%g)", path, i, (double)score);
    if (left - 4 < 4)
        return lm_fail(err, "%s: truncated at token %d (need 4 bytes for its length, %zu left)",
                       path, i, left - 4);
    int len = get_i32(buf + *off + 4);
    if (len < 0) return lm_fail(err, "%s: token %d has a negative length (%d)", path, i, len);
    if (len > max_len)
        return lm_fail(err, "%s: token %d has length %d, more than max_token_length %d", path, i,
                       len, max_len);
    if ((size_t)len > left - 8)
        return lm_fail(err, "%s: truncated at token %d (need %d bytes for its piece, %zu left)",
                       path, i, len, left - 8);
    *off += 8 + (size_t)len;
    return 0;
}

/* Validates the whole file and counts its entries; nothing is allocated yet. */
static int scan(const char *path, const unsigned char *buf, size_t size, int vocab_size, int *count,
                lm_error *err) {
    if (size == 0) return lm_fail(err, "%s: empty file (no max_token_length header)", path);
    if (size < 4)
        return lm_fail(err, "%s: truncated header (need 4 bytes for max_token_length, %zu present)",
                       path, size);
    int max_len = get_i32(buf);
    if (max_len < 1 || max_len > MAX_TOKEN_LENGTH)
        return lm_fail(err, "%s: max_token_length %d is out of range (1..%d)", path, max_len,
                       MAX_TOKEN_LENGTH);
    int n = 0;
    for (size_t off = 4; off < size; n++) {
        if (n == MAX_TOKENS) return lm_fail(err, "%s: more than %d tokens", path, MAX_TOKENS);
        if (scan_entry(path, buf, size, &off, n, max_len, err)) return -1;
    }
    if (vocab_size > 0 && n != vocab_size)
        return lm_fail(err, "%s: holds %d tokens, but the model's vocab_size is %d", path, n,
                       vocab_size);
    if (n < 3)
        return lm_fail(err, "%s: holds %d tokens; at least 3 are needed (<unk>, <s>, </s>)", path,
                       n);
    *count = n;
    return 0;
}

/* HH for a piece of the exact form <0xHH>, else -1. */
static int piece_byte(const char *s, int len) {
    static const char digits[] = "0123456789ABCDEF";
    if (len != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>') return -1;
    const char *hi = memchr(digits, toupper((unsigned char)s[3]), 16);
    const char *lo = memchr(digits, toupper((unsigned char)s[4]), 16);
    return hi && lo ? (int)((hi - digits) * 16 + (lo - digits)) : -1;
}

static uint32_t hash(const char *s, int len) {
    uint32_t h = 2166136261u; /* FNV-1a */
    for (int i = 0; i < len; i++) h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

/* The slot holding piece s, or the empty slot where it would go. */
static uint32_t slot(const lm_tokenizer *tok, const char *s, int len) {
    uint32_t i = hash(s, len) & tok->mask;
    for (;; i = (i + 1) & tok->mask) {
        int id = tok->table[i];
        if (id < 0 || (tok->len[id] == len && memcmp(tok->piece[id], s, (size_t)len) == 0))
            return i;
    }
}

/* Whether text may turn into token id (is in the table): never an empty
 * piece; for a tokenizer.bin never <unk>, <s>, </s> or a byte token, like
 * sentencepiece; for GGUF everything llama.cpp matches but control and
 * unknown tokens, whose names in a text stay text. */
static int matchable(const lm_tokenizer *tok, int id) {
    if (tok->len[id] == 0) return 0;
    if (tok->kind == KIND_BIN) return id >= 3 && piece_byte(tok->piece[id], tok->len[id]) < 0;
    return tok->type[id] != LM_TT_CONTROL && tok->type[id] != LM_TT_UNKNOWN;
}

/* The table of matchable pieces. A duplicate keeps its lowest id; *dup (if
 * not NULL) gets the first duplicate's id, or -1. */
static int build_table(lm_tokenizer *tok, int *dup) {
    uint32_t size = 1;
    while (size < 2 * (uint32_t)tok->n) size *= 2;
    tok->table = malloc(size * sizeof *tok->table);
    if (!tok->table) return -1;
    memset(tok->table, 0xff, size * sizeof *tok->table);
    tok->mask = size - 1;
    if (dup) *dup = -1;
    for (int id = 0; id < tok->n; id++) {
        if (!matchable(tok, id)) continue;
        uint32_t i = slot(tok, tok->piece[id], tok->len[id]);
        if (tok->table[i] < 0)
            tok->table[i] = id;
        else if (dup && *dup < 0)
            *dup = id;
    }
    return 0;
}

static int lookup(const lm_tokenizer *tok, const char *s, int len) {
    return tok->table[slot(tok, s, len)];
}

/* Byte b falls back to id b + 3 only where the vocabulary really has <0xHH>. */
static void build_bytes(lm_tokenizer *tok) {
    for (int b = 0; b < 256; b++) {
        int id = b + 3;
        int ok = id < tok->n && piece_byte(tok->piece[id], tok->len[id]) == b;
        tok->byte_id[b] = ok ? id : -1;
        tok->byte_str[b][0] = (char)b;
        tok->byte_str[b][1] = '\0';
    }
}

/* Copies the entries that scan() checked into one block of pieces. */
static int fill(lm_tokenizer *tok, const unsigned char *buf, size_t size) {
    tok->piece = malloc((size_t)tok->n * sizeof *tok->piece);
    tok->len = malloc((size_t)tok->n * sizeof *tok->len);
    tok->score = malloc((size_t)tok->n * sizeof *tok->score);
    char *block = tok->block = malloc(size); /* pieces and NULs fit: entries have 8-byte heads */
    if (!tok->piece || !tok->len || !tok->score || !block) return -1;
    size_t off = 4, used = 0;
    for (int i = 0; i < tok->n; i++) {
        tok->score[i] = get_f32(buf + off);
        tok->len[i] = get_i32(buf + off + 4);
        if (tok->len[i] > tok->max_piece) tok->max_piece = tok->len[i];
        tok->piece[i] = block + used;
        memcpy(block + used, buf + off + 8, (size_t)tok->len[i]);
        block[used + (size_t)tok->len[i]] = '\0';
        used += (size_t)tok->len[i] + 1;
        off += 8 + (size_t)tok->len[i];
    }
    return 0;
}

static lm_tokenizer *build(const char *path, const unsigned char *buf, size_t size, int n,
                           lm_error *err) {
    size_t path_size = strlen(path) + 1;
    lm_tokenizer *tok = calloc(1, sizeof *tok);
    if (tok) {
        tok->kind = KIND_BIN;
        tok->n = n;
        tok->path = malloc(path_size);
    }
    if (!tok || !tok->path || fill(tok, buf, size) || build_table(tok, NULL)) {
        lm_tokenizer_free(tok);
        lm_fail(err, "%s: out of memory for %d tokens", path, n);
        return NULL;
    }
    memcpy(tok->path, path, path_size);
    build_bytes(tok);
    tok->bos = LM_TOKEN_BOS;
    tok->eos = LM_TOKEN_EOS;
    tok->add_bos = 1;
    tok->add_space_prefix = 1;
    return tok;
}

/* A tokenizer holds its header, then at most vocab_size (else MAX_TOKENS)
 * entries of at most 8 + max_token_length bytes each: a larger file (or
 * /dev/zero's endless stream, had it been a regular file) is refused unread. */
static int check_size(const char *path, const unsigned char *head, size_t n, uint64_t size,
                      void *arg, lm_error *err) {
    int vocab_size = *(const int *)arg;
    int32_t max_len = n >= 4 ? get_i32(head) : 0;
    if (n < 4 || size <= n) return 0; /* read it all: scan() says what is wrong */
    if (max_len < 1 || max_len > MAX_TOKEN_LENGTH) {
        lm_fail(err, "%s: max_token_length %d is out of range (1..%d)", path, max_len,
                MAX_TOKEN_LENGTH);
        lm_file_explain(path, head, n, LM_WANT_TOKENIZER, err);
        return -1;
    }
    uint64_t entries = (uint64_t)(vocab_size > 0 ? vocab_size : MAX_TOKENS);
    uint64_t cap = 4 + entries * (8 + (uint64_t)max_len);
    if (size <= cap) return 0;
    if (vocab_size > 0)
        lm_fail(err,
                "%s: %llu bytes hold more than the model's vocab_size of %d tokens (at most %llu "
                "bytes with max_token_length %d): the tokenizer of another model?",
                path, (unsigned long long)size, vocab_size, (unsigned long long)cap, max_len);
    else
        lm_fail(err, "%s: %llu bytes is more than %llu tokens of at most %d bytes can take (%llu)",
                path, (unsigned long long)size, (unsigned long long)entries, max_len,
                (unsigned long long)cap);
    lm_file_explain(path, head, n, LM_WANT_TOKENIZER, err);
    return -1;
}

static lm_tokenizer *parse(const char *name, const unsigned char *buf, size_t size, int vocab_size,
                           lm_error *err) {
    int n = 0; /* set by scan() on success; 0 quiets a false maybe-uninitialized */
    if (scan(name, buf, size, vocab_size, &n, err)) {
        lm_file_explain(name, buf, size, LM_WANT_TOKENIZER, err);
        return NULL;
    }
    return build(name, buf, size, n, err);
}

static int check_args(const char *name, int vocab_size, lm_error *err) {
    if (!name) return lm_fail(err, "lm_tokenizer_load: no path given");
    if (vocab_size < 0)
        return lm_fail(err, "%s: invalid vocab_size %d (must be >= 0)", name, vocab_size);
    return 0;
}

lm_tokenizer *lm_tokenizer_load(const char *path, int vocab_size, lm_error *err) {
    if (check_args(path, vocab_size, err)) return NULL;
    if (lm_file_is_gguf(path)) return lm_tokenizer_gguf_file(path, vocab_size, err);
    size_t size;
    unsigned char *buf = lm_read_regular(path, "tokenizer", check_size, &vocab_size, &size, err);
    if (!buf) return NULL;
    lm_tokenizer *tok = parse(path, buf, size, vocab_size, err);
    free(buf);
    return tok;
}

lm_tokenizer *lm_tokenizer_load_memory(const void *data, size_t size, const char *name,
                                       int vocab_size, lm_error *err) {
    if (check_args(name, vocab_size, err)) return NULL;
    if (data && lm_gguf_is(data, size))
        return lm_tokenizer_gguf_memory(data, size, name, vocab_size, err);
    return parse(name, size ? data : "", size, vocab_size, err);
}

int lm_tokenizer_max_piece(const lm_tokenizer *tok) {
    return tok->max_piece > 0 ? tok->max_piece : 1;
}

void lm_tokenizer_free(lm_tokenizer *tok) {
    if (!tok) return;
    free(tok->block);
    free(tok->piece);
    free(tok->len);
    free(tok->score);
    free(tok->table);
    free(tok->path);
    free(tok->type);
    free(tok->text);
    free(tok->text_block);
    free(tok->user);
    free(tok->chat_template);
    lm_bpe_free(tok->bpe);
    free(tok);
}

const char *lm_tokenizer_chat_template(const lm_tokenizer *tok) {
    return tok ? tok->chat_template : NULL;
}

int lm_tokenizer_vocab_size(const lm_tokenizer *tok) { return tok ? tok->n : 0; }

/* ---- SentencePiece vocabularies from arrays (vocab.h) -------------------- */

static int check_id(const lm_vocab_def *v, const char *what, int id, lm_error *err) {
    if (id >= -1 && id < v->n) return 0;
    return lm_fail(err, "%s: %s %d is out of range (%d tokens)", v->name, what, id, v->n);
}

static int check_token(const lm_vocab_def *v, int i, lm_error *err) {
    if (v->len[i] < 0 || v->len[i] > MAX_TOKEN_LENGTH)
        return lm_fail(err, "%s: tokens[%d] has length %d (0..%d)", v->name, i, v->len[i],
                       MAX_TOKEN_LENGTH);
    if (v->score && !isfinite(v->score[i]))
        return lm_fail(err, "%s: scores[%d] is not finite (%g)", v->name, i, (double)v->score[i]);
    int type = v->type ? v->type[i] : LM_TT_NORMAL;
    if (type < LM_TT_UNDEFINED || type > LM_TT_BYTE)
        return lm_fail(err, "%s: token_type[%d] is %d (0..6)", v->name, i, type);
    if (type == LM_TT_BYTE && piece_byte(v->piece[i], v->len[i]) < 0)
        return lm_fail(err, "%s: tokens[%d] has token_type byte but is not spelled <0xHH>", v->name,
                       i);
    return 0;
}

static int check_def(const lm_vocab_def *v, lm_error *err) {
    if (v->n < 1 || v->n > MAX_TOKENS)
        return lm_fail(err, "%s: %d tokens (1..%d)", v->name, v->n, MAX_TOKENS);
    for (int i = 0; i < v->n; i++)
        if (check_token(v, i, err)) return -1;
    if (check_id(v, "bos_token_id", v->bos, err) || check_id(v, "eos_token_id", v->eos, err) ||
        check_id(v, "unknown_token_id", v->unk, err) ||
        check_id(v, "padding_token_id", v->pad, err) || check_id(v, "eot_token_id", v->eot, err) ||
        check_id(v, "eom_token_id", v->eom, err))
        return -1;
    if (v->add_bos && v->bos < 0)
        return lm_fail(err, "%s: add_bos_token is set but there is no bos_token_id", v->name);
    if (v->add_eos && v->eos < 0)
        return lm_fail(err, "%s: add_eos_token is set but there is no eos_token_id", v->name);
    return 0;
}

/* Copies the pieces, scores and types into one allocation each. */
static int fill_def(lm_tokenizer *tok, const lm_vocab_def *v) {
    size_t bytes = 0;
    for (int i = 0; i < v->n; i++) bytes += (size_t)v->len[i] + 1;
    tok->piece = malloc((size_t)v->n * sizeof *tok->piece);
    tok->len = malloc((size_t)v->n * sizeof *tok->len);
    tok->score = malloc((size_t)v->n * sizeof *tok->score);
    tok->type = malloc((size_t)v->n);
    tok->text = malloc((size_t)v->n * sizeof *tok->text);
    tok->block = malloc(bytes);
    tok->text_block = malloc(bytes); /* a decoded piece is never longer */
    if (!tok->piece || !tok->len || !tok->score || !tok->type || !tok->text || !tok->block ||
        !tok->text_block)
        return -1;
    size_t used = 0;
    for (int i = 0; i < v->n; i++) {
        tok->len[i] = v->len[i];
        tok->score[i] = v->score ? v->score[i] : 0.0f;
        tok->type[i] = (unsigned char)(v->type ? v->type[i] : LM_TT_NORMAL);
        tok->piece[i] = tok->block + used;
        memcpy(tok->piece[i], v->piece[i], (size_t)v->len[i]);
        tok->piece[i][v->len[i]] = '\0';
        used += (size_t)v->len[i] + 1;
    }
    return 0;
}

/* What token id decodes to, as llama.cpp's token_to_piece without special
 * tokens: a normal piece with U+2581 turned back into spaces, a user-defined
 * one as it is, a byte token its byte, anything else (control, unknown,
 * unused) nothing. Returns the length written at dst. */
static int decode_piece(const lm_tokenizer *tok, int id, char *dst) {
    const char *p = tok->piece[id];
    int len = tok->len[id], n = 0;
    switch (tok->type[id]) {
    case LM_TT_NORMAL:
        if (tok->bpe) return lm_bpe_decode(tok->bpe, p, len, dst);
        for (int i = 0; i < len;)
            if (i + 3 <= len && memcmp(p + i, "\xe2\x96\x81", 3) == 0) {
                dst[n++] = ' ';
                i += 3;
            } else {
                dst[n++] = p[i++];
            }
        break;
    case LM_TT_USER_DEFINED:
        memcpy(dst, p, (size_t)len);
        n = len;
        break;
    case LM_TT_BYTE: dst[n++] = (char)piece_byte(p, len); break;
    default: break;
    }
    dst[n] = '\0';
    return n;
}

static void build_text(lm_tokenizer *tok) {
    size_t used = 0;
    for (int id = 0; id < tok->n; id++) {
        tok->text[id] = tok->text_block + used;
        int n = decode_piece(tok, id, tok->text[id]);
        if (n > tok->max_piece) tok->max_piece = n;
        used += (size_t)tok->len[id] + 1;
    }
}

/* llama.cpp's byte fallback: the token spelled <0xHH> (upper-case hex),
 * else the one-byte piece, wherever they are in the vocabulary. */
static void build_spm_bytes(lm_tokenizer *tok) {
    for (int b = 0; b < 256; b++) {
        char name[8], one = (char)b;
        snprintf(name, sizeof name, "<0x%02X>", b);
        int id = lookup(tok, name, 6);
        tok->byte_id[b] = id >= 0 ? id : lookup(tok, &one, 1);
        tok->byte_str[b][0] = (char)b;
        tok->byte_str[b][1] = '\0';
    }
}

static int cmp_user(const void *a, const void *b, void *arg) {
    const lm_tokenizer *tok = arg;
    int x = *(const int *)a, y = *(const int *)b;
    if (tok->len[x] != tok->len[y]) return tok->len[x] > tok->len[y] ? -1 : 1;
    return (x > y) - (x < y);
}

/* User-defined tokens, longest first (llama.cpp's order), ties by id. */
static int build_user(lm_tokenizer *tok) {
    tok->user = malloc((size_t)tok->n * sizeof *tok->user);
    if (!tok->user) return -1;
    for (int id = 0; id < tok->n; id++)
        if (tok->len[id] > 0 && (tok->type[id] == LM_TT_USER_DEFINED ||
                                 (tok->kind == KIND_BPE && (tok->type[id] == LM_TT_CONTROL ||
                                                            tok->type[id] == LM_TT_UNKNOWN))))
            tok->user[tok->n_user++] = id;
    qsort_r(tok->user, (size_t)tok->n_user, sizeof *tok->user, cmp_user, tok);
    return 0;
}

static void add_end(lm_tokenizer *tok, int id) {
    if (id < 0 || tok->n_end == LM_MAX_END_TOKENS) return;
    for (int i = 0; i < tok->n_end; i++)
        if (tok->end[i] == id) return;
    tok->end[tok->n_end++] = id;
}

#define SP_ "\xe2\x96\x81"    /* U+2581, a space in a piece */
#define FW_BAR "\xef\xbd\x9c" /* U+FF5C, DeepSeek's bar */

/* Tokens llama.cpp ends generation at by their names (llama-vocab.cpp's
 * end-of-generation list). */
static const char *const end_names[] = {"<|eot_id|>",
                                        "<|im_end|>",
                                        "<|end|>",
                                        "<|return|>",
                                        "<|call|>",
                                        "<|flush|>",
                                        "<|calls|>",
                                        "<end_of_turn>",
                                        "<|endoftext|>",
                                        "</s>",
                                        "<|eom_id|>",
                                        "<EOT>",
                                        "_<EOT>",
                                        "[EOT]",
                                        "[EOS]",
                                        "<|end_of_text|>",
                                        "<end_of_utterance>",
                                        "<eos>",
                                        "<turn|>",
                                        "<|tool_response>",
                                        "<" FW_BAR "end" SP_ "of" SP_ "sentence" FW_BAR ">",
                                        "[e~["};

/* The other tokens llama.cpp finds by name (end of turn, fill-in-the-middle)
 * and makes control tokens, whatever their type says. */
static const char *const control_names[] = {"<PRE>",
                                            SP_ "<PRE>",
                                            "<SUF>",
                                            SP_ "<SUF>",
                                            "<MID>",
                                            SP_ "<MID>",
                                            "<PAD>",
                                            "<REPO>",
                                            "<reponame>",
                                            "<fim-prefix>",
                                            "<fim-suffix>",
                                            "<fim-middle>",
                                            "<fim-pad>",
                                            "<fim-repo>",
                                            "<fim_prefix>",
                                            "<fim_suffix>",
                                            "<fim_middle>",
                                            "<fim_pad>",
                                            "<|fim_prefix|>",
                                            "<|fim_suffix|>",
                                            "<|fim_middle|>",
                                            "<|fim_pad|>",
                                            "<|fim_repo|>",
                                            "<|file_sep|>",
                                            "<|repo_name|>",
                                            "<|code_prefix|>",
                                            "<|code_suffix|>",
                                            "<|code_middle|>",
                                            "<|prefix|>",
                                            "<|suffix|>",
                                            "<|middle|>",
                                            "[PAD]",
                                            "<" FW_BAR "fim" SP_ "begin" FW_BAR ">",
                                            "<" FW_BAR "fim" SP_ "hole" FW_BAR ">",
                                            "<" FW_BAR "fim" SP_ "end" FW_BAR ">"};

static int named(const lm_tokenizer *tok, int id, const char *const *names, size_t n) {
    for (size_t i = 0; i < n; i++)
        if ((size_t)tok->len[id] == strlen(names[i]) && !strcmp(tok->piece[id], names[i])) return 1;
    return 0;
}

#define N_OF(a) (sizeof(a) / sizeof *(a))

/* As llama.cpp: a token named like an end of generation or a FIM marker is
 * a control token (so its name in a text stays text, and it decodes to
 * nothing); the ends and eos, eot and eom end generation. */
static void build_end(lm_tokenizer *tok, const lm_vocab_def *v) {
    add_end(tok, v->eos);
    add_end(tok, v->eot);
    add_end(tok, v->eom);
    for (int id = 0; id < tok->n; id++) {
        int end = named(tok, id, end_names, N_OF(end_names));
        if (end) add_end(tok, id);
        if (end || named(tok, id, control_names, N_OF(control_names)))
            tok->type[id] = LM_TT_CONTROL;
    }
}

static int build_def(lm_tokenizer *tok, const lm_vocab_def *v, lm_error *err) {
    int dup = -1;
    if (fill_def(tok, v)) return lm_fail(err, "%s: out of memory for %d tokens", v->name, v->n);
    build_end(tok, v); /* first: it makes some tokens control tokens */
    if (tok->kind == KIND_BPE) {
        if (!(tok->bpe = lm_bpe_new(v, err))) return -1;
        lm_bpe_keep_pieces(tok->bpe, (const char *const *)tok->piece, tok->len);
    }
    if (build_table(tok, &dup) || build_user(tok))
        return lm_fail(err, "%s: out of memory for %d tokens", v->name, v->n);
    if (dup >= 0) /* llama.cpp refuses these too */
        return lm_fail(err, "%s: tokens[%d] repeats tokens[%d]", v->name, dup,
                       lookup(tok, tok->piece[dup], tok->len[dup]));
    build_text(tok);
    build_spm_bytes(tok);
    return 0;
}

lm_tokenizer *lm_tokenizer_from_vocab(const lm_vocab_def *v, lm_error *err) {
    if (check_def(v, err)) return NULL;
    lm_tokenizer *tok = calloc(1, sizeof *tok);
    if (!tok || !(tok->path = strdup(v->name))) {
        free(tok);
        lm_fail(err, "%s: out of memory for %d tokens", v->name, v->n);
        return NULL;
    }
    tok->kind = v->bpe ? KIND_BPE : KIND_SPM;
    tok->n = v->n;
    tok->bos = v->bos;
    tok->eos = v->eos;
    tok->add_bos = v->add_bos;
    tok->add_eos = v->add_eos;
    tok->add_space_prefix = v->add_space_prefix;
    tok->rstrip_user = v->rstrip_user;
    if (v->chat_template &&
        !(tok->chat_template = strndup(v->chat_template, v->chat_template_len))) {
        lm_tokenizer_free(tok);
        lm_fail(err, "%s: out of memory for the chat template", v->name);
        return NULL;
    }
    if (build_def(tok, v, err)) {
        lm_tokenizer_free(tok);
        return NULL;
    }
    return tok;
}

int lm_token_is_end(const lm_tokenizer *tok, int token) {
    if (!tok) return 0;
    for (int i = 0; i < tok->n_end; i++)
        if (tok->end[i] == token) return 1;
    return 0;
}

int lm_tokenizer_bos(const lm_tokenizer *tok) { return tok ? tok->bos : -1; }
int lm_tokenizer_eos(const lm_tokenizer *tok) { return tok ? tok->eos : -1; }

int lm_tokenizer_stop_token(const lm_tokenizer *tok, int chat) {
    if (!tok) return -1;
    if (tok->kind == KIND_BIN) return chat ? LM_TOKEN_EOS : LM_TOKEN_BOS;
    return tok->eos;
}

int lm_token_ends(const lm_tokenizer *tok, int token, int chat) {
    return token >= 0 &&
           (token == lm_tokenizer_stop_token(tok, chat) || lm_token_is_end(tok, token));
}

/* ---- encoding ----------------------------------------------------------- */

/* A run of the text in the linked list; len 0 once merged into its left. */
typedef struct symbol {
    int start, len, prev, next, id;
    int fixed; /* a byte-fallback token: sentencepiece never merges those */
} symbol;

/* A merge candidate. It goes stale when either side changes, which the check
 * on pop detects (left.next still right, same total length). */
typedef struct pair {
    float score;
    int left, right, len, id;
} pair;

typedef struct encoder {
    const lm_tokenizer *tok;
    const char *text; /* the dummy prefix and the text */
    symbol *sym;
    pair *heap; /* max-heap: best score, then leftmost, as sentencepiece and llama2.c */
    int n_heap;
} encoder;

static int before(const pair *a, const pair *b) {
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

static void heap_push(encoder *e, pair p) {
    int i = e->n_heap++;
    while (i > 0 && before(&p, &e->heap[(i - 1) / 2])) {
        e->heap[i] = e->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    e->heap[i] = p;
}

static pair heap_pop(encoder *e) {
    pair top = e->heap[0], last = e->heap[--e->n_heap];
    int i = 0;
    for (;;) {
        int c = 2 * i + 1;
        if (c >= e->n_heap) break;
        if (c + 1 < e->n_heap && before(&e->heap[c + 1], &e->heap[c])) c++;
        if (!before(&e->heap[c], &last)) break;
        e->heap[i] = e->heap[c];
        i = c;
    }
    e->heap[i] = last;
    return top;
}

static void try_pair(encoder *e, int left, int right) {
    if (left < 0 || right < 0) return;
    const symbol *l = &e->sym[left], *r = &e->sym[right];
    if (l->fixed || r->fixed) return;
    int id = lookup(e->tok, e->text + l->start, l->len + r->len);
    if (id >= 0) heap_push(e, (pair){e->tok->score[id], left, right, l->len + r->len, id});
}

/* Length of the valid UTF-8 sequence at s (RFC 3629: no overlongs, no
 * surrogates, nothing past U+10FFFF), or 1 for a stray or invalid byte. */
static int utf8_len(const unsigned char *s, size_t avail) {
    unsigned char c = s[0], lo = 0x80, hi = 0xBF;
    int n;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        lo = c == 0xE0 ? 0xA0 : lo;
        hi = c == 0xED ? 0x9F : hi;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        lo = c == 0xF0 ? 0x90 : lo;
        hi = c == 0xF4 ? 0x8F : hi;
    } else {
        return 1;
    }
    if ((size_t)n > avail || s[1] < lo || s[1] > hi) return 1;
    for (int i = 2; i < n; i++)
        if ((s[i] & 0xC0) != 0x80) return 1;
    return n;
}

static void add_symbol(encoder *e, int *n, int start, int len, int id, int fixed) {
    e->sym[*n] = (symbol){start, len, *n - 1, -1, id, fixed};
    if (*n > 0) e->sym[*n - 1].next = *n;
    (*n)++;
}

/* llama.cpp's character length: from the first byte alone, cut at the end
 * of the text. Invalid UTF-8 then groups as llama.cpp groups it (and, being
 * no piece, falls back to byte tokens all the same). */
static int lax_len(const unsigned char *s, size_t avail) {
    static const unsigned char len[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    size_t n = len[s[0] >> 4];
    return (int)(n < avail ? n : avail);
}

static int no_byte(const encoder *e, int at, int prefix, unsigned char byte, lm_error *err) {
    const lm_tokenizer *tok = e->tok;
    if (tok->kind != KIND_BIN)
        return lm_fail(err,
                       "%s: cannot encode byte 0x%02X of the text: no piece for it and no byte "
                       "token <0x%02X>",
                       tok->path, byte, byte);
    if (at < prefix)
        return lm_fail(err,
                       "%s: cannot encode the dummy-prefix space: no piece \" \" "
                       "and no byte token <0x20>",
                       tok->path);
    return lm_fail(err,
                   "%s: cannot encode the text at byte %d: no piece for it and no "
                   "byte token <0x%02X>",
                   tok->path, at - prefix, byte);
}

/* One symbol per code point in the vocabulary, else one byte token per byte.
 * Returns the number of symbols, or -1. */
static int split(encoder *e, int n_text, int prefix, lm_error *err) {
    const lm_tokenizer *tok = e->tok;
    int n = 0;
    for (int i = 0; i < n_text;) {
        const unsigned char *s = (const unsigned char *)e->text + i;
        size_t avail = (size_t)(n_text - i);
        int cl = tok->kind != KIND_BIN ? lax_len(s, avail) : utf8_len(s, avail);
        int id = lookup(tok, e->text + i, cl);
        if (id >= 0) {
            add_symbol(e, &n, i, cl, id, 0);
            i += cl;
            continue;
        }
        for (int k = 0; k < cl; k++) {
            if (tok->byte_id[s[k]] < 0) return no_byte(e, i + k, prefix, s[k], err);
            add_symbol(e, &n, i + k, 1, tok->byte_id[s[k]], 1);
        }
        i += cl;
    }
    return n;
}

static void merge_all(encoder *e, int n_sym) {
    for (int i = 0; i + 1 < n_sym; i++) try_pair(e, i, i + 1);
    while (e->n_heap > 0) {
        pair p = heap_pop(e);
        symbol *l = &e->sym[p.left], *r = &e->sym[p.right];
        if (l->len == 0 || l->next != p.right || l->len + r->len != p.len) continue;
        l->len = p.len;
        l->id = p.id;
        l->next = r->next;
        if (r->next >= 0) e->sym[r->next].prev = p.left;
        r->len = 0;
        try_pair(e, l->prev, p.left);
        try_pair(e, p.left, l->next);
    }
}

/* Encodes buf (its first `prefix` bytes the dummy prefix) into out (room for
 * a token per byte) and returns the id count, or -1. */
static int run(const lm_tokenizer *tok, const char *buf, int n_buf, int prefix, int *out,
               lm_error *err) {
    encoder e = {.tok = tok, .text = buf};
    e.sym = malloc(((size_t)n_buf + 1) * sizeof *e.sym);
    /* each merge pushes at most two pairs, after the first n - 1 */
    e.heap = malloc(3 * ((size_t)n_buf + 1) * sizeof *e.heap);
    int n = -1;
    if (!e.sym || !e.heap) {
        lm_fail(err, "%s: out of memory encoding %d bytes", tok->path, n_buf);
    } else {
        int n_sym = split(&e, n_buf, prefix, err);
        if (n_sym >= 0) {
            merge_all(&e, n_sym);
            n = 0;
            for (int i = n_sym > 0 ? 0 : -1; i >= 0; i = e.sym[i].next) out[n++] = e.sym[i].id;
        }
    }
    free(e.sym);
    free(e.heap);
    return n;
}

/* tokenizer.bin: sentencepiece's dummy prefix (a space), then the text; the
 * pieces hold plain spaces. */
static int encode_bin(const lm_tokenizer *tok, const char *text, int n_text, int *out,
                      lm_error *err) {
    int prefix = n_text > 0;
    char *buf = malloc((size_t)n_text + 1);
    if (!buf) return lm_fail(err, "%s: out of memory encoding %d bytes", tok->path, n_text);
    buf[0] = ' ';
    memcpy(buf + prefix, text, (size_t)n_text);
    int n = run(tok, buf, n_text + prefix, prefix, out, err);
    free(buf);
    return n;
}

/* A run of the text: raw text (id -1) or a user-defined token's. */
typedef struct segment {
    int start, len, id;
} segment;

/* Whether user-defined token u swallows the white space after it. */
static int rstrips(const lm_tokenizer *tok, int u) {
    const char *p = tok->piece[u];
    return tok->rstrip_user && strcmp(p, "<unk>") && strcmp(p, "<s>") && strcmp(p, "<|endoftext|>");
}

/* Cuts every occurrence of user-defined token u out of the raw segments of
 * a[0..na) into b; returns the new count. Leftmost first, as llama.cpp. */
static int cut(const lm_tokenizer *tok, const char *text, int u, const segment *a, int na,
               segment *b) {
    int nb = 0, ulen = tok->len[u], strip = tok->type[u] == LM_TT_USER_DEFINED && rstrips(tok, u);
    for (int i = 0; i < na; i++) {
        if (a[i].id >= 0 || a[i].len < ulen) {
            b[nb++] = a[i];
            continue;
        }
        int pos = a[i].start, end = a[i].start + a[i].len;
        const char *hit;
        while ((hit = memmem(text + pos, (size_t)(end - pos), tok->piece[u], (size_t)ulen))) {
            int at = (int)(hit - text);
            if (at > pos) b[nb++] = (segment){pos, at - pos, -1};
            b[nb++] = (segment){at, ulen, u};
            pos = at + ulen;
            while (strip && pos < end && isspace((unsigned char)text[pos])) pos++;
        }
        if (pos < end) b[nb++] = (segment){pos, end - pos, -1};
    }
    return nb;
}

/* The text split at its user-defined tokens (longest first); *n segments. */
static segment *partition(const lm_tokenizer *tok, const char *text, int n_text, int special,
                          int *n) {
    size_t cap = 2 * (size_t)n_text + 1; /* text and token runs alternate, none empty */
    segment *a = malloc(cap * sizeof *a), *b = tok->n_user ? malloc(cap * sizeof *b) : NULL;
    if (!a || (tok->n_user && !b)) {
        free(a);
        free(b);
        return NULL;
    }
    int na = 0;
    if (n_text > 0) a[na++] = (segment){0, n_text, -1};
    for (int i = 0; i < tok->n_user; i++) {
        if (!special && tok->type[tok->user[i]] != LM_TT_USER_DEFINED) continue;
        na = cut(tok, text, tok->user[i], a, na, b);
        segment *t = a;
        a = b, b = t;
    }
    free(b);
    *n = na;
    return a;
}

/* One raw segment: the dummy prefix if asked, spaces escaped to U+2581. */
static int encode_raw(const lm_tokenizer *tok, const char *s, int len, int prefix, int *out,
                      lm_error *err) {
    char *buf = malloc(3 * ((size_t)len + 1));
    if (!buf) return lm_fail(err, "%s: out of memory encoding %d bytes", tok->path, len);
    int n = 0;
    for (int i = -prefix; i < len; i++) {
        if (i < 0 || s[i] == ' ') {
            memcpy(buf + n, "\xe2\x96\x81", 3);
            n += 3;
        } else {
            buf[n++] = s[i];
        }
    }
    int got = run(tok, buf, n, 3 * prefix, out, err);
    free(buf);
    return got;
}

/* llama.cpp's SentencePiece tokenization without parsing special tokens:
 * user-defined tokens cut out first, the dummy prefix before the first raw
 * segment and after each such token. */
static int encode_spm(const lm_tokenizer *tok, const char *text, int n_text, int *out,
                      lm_error *err) {
    int n_seg = 0, n = 0, after_special = 1;
    segment *seg = partition(tok, text, n_text, 0, &n_seg);
    if (!seg) return lm_fail(err, "%s: out of memory encoding %d bytes", tok->path, n_text);
    for (int i = 0; i < n_seg && n >= 0; i++) {
        if (seg[i].id >= 0) {
            out[n++] = seg[i].id;
            after_special = 1;
            continue;
        }
        int prefix = tok->add_space_prefix && after_special;
        int got = encode_raw(tok, text + seg[i].start, seg[i].len, prefix, out + n, err);
        n = got < 0 ? -1 : n + got;
        after_special = 0;
    }
    free(seg);
    return n;
}

/* llama.cpp's byte-level BPE: special tokens cut out first (user-defined
 * ones always, control ones when parsed), the text between them encoded. */
static int encode_bpe(const lm_tokenizer *tok, const char *text, int n_text, int special, int *out,
                      lm_error *err) {
    int n_seg = 0, n = 0;
    segment *seg = partition(tok, text, n_text, special, &n_seg);
    if (!seg) return lm_fail(err, "%s: out of memory encoding %d bytes", tok->path, n_text);
    for (int i = 0; i < n_seg && n >= 0; i++) {
        if (seg[i].id >= 0) {
            out[n++] = seg[i].id;
            continue;
        }
        int got = lm_bpe_encode(tok->bpe, tok->path, text + seg[i].start, seg[i].len, out + n, err);
        n = got < 0 ? -1 : n + got;
    }
    free(seg);
    return n;
}

int *lm_tokenize(const lm_tokenizer *tok, const char *text, int bos, int eos, int *n_out,
                 lm_error *err) {
    return lm_tokenize_special(tok, text, bos, eos, 0, n_out, err);
}

int lm_tokenizer_find_piece(const lm_tokenizer *tok, const char *piece) {
    size_t n = strlen(piece);
    for (int id = 0; tok && id < tok->n; id++)
        if ((size_t)tok->len[id] == n && memcmp(tok->piece[id], piece, n) == 0) return id;
    return -1;
}

int *lm_tokenize_special(const lm_tokenizer *tok, const char *text, int bos, int eos,
                         int parse_special, int *n_out, lm_error *err) {
    if (!tok || !text || !n_out) {
        lm_fail(err, "lm_tokenize: %s is NULL", !tok ? "the tokenizer" : !text ? "text" : "n_out");
        return NULL;
    }
    size_t n_text = strlen(text);
    if (n_text > (tok->kind == KIND_SPM ? INT_MAX / 8 : INT_MAX / 4)) {
        lm_fail(err, "%s: text of %zu bytes is too long to encode", tok->path, n_text);
        return NULL;
    }
    /* BOS, EOS and a token per byte of what is encoded: for tokenizer.bin the
     * prefix and the text; for GGUF, with spaces escaped to 3 bytes and a
     * prefix per raw segment, at most 3 per text byte and 3 per segment */
    size_t cap = tok->kind == KIND_SPM ? 6 * n_text + 5 : n_text + 3;
    int *out = malloc(cap * sizeof *out);
    if (!out) {
        lm_fail(err, "%s: out of memory encoding %zu bytes", tok->path, n_text);
        return NULL;
    }
    int n = 0;
    if (bos && tok->add_bos) out[n++] = tok->bos;
    int got = tok->kind == KIND_BPE
                  ? encode_bpe(tok, text, (int)n_text, parse_special, out + n, err)
              : tok->kind == KIND_SPM ? encode_spm(tok, text, (int)n_text, out + n, err)
                                      : encode_bin(tok, text, (int)n_text, out + n, err);
    if (got < 0) {
        free(out);
        return NULL;
    }
    n += got;
    if ((eos || (bos && tok->add_eos)) && tok->eos >= 0) out[n++] = tok->eos;
    *n_out = n;
    return out;
}

/* ---- decoding ----------------------------------------------------------- */

const char *lm_token_piece(const lm_tokenizer *tok, int prev, int token) {
    if (!tok || token < 0 || token >= tok->n) return "";
    if (tok->kind == KIND_BPE) return tok->text[token]; /* the bytes, exactly */
    if (tok->kind == KIND_SPM) { /* llama.cpp drops the dummy prefix's space after BOS */
        const char *text = tok->text[token];
        return tok->add_space_prefix && prev == tok->bos && text[0] == ' ' ? text + 1 : text;
    }
    const char *piece = tok->piece[token];
    int b = piece_byte(piece, tok->len[token]);
    if (b >= 0) return tok->byte_str[b];
    /* sentencepiece's dummy prefix: the text itself did not start with it */
    if (prev == LM_TOKEN_BOS && piece[0] == ' ') piece++;
    return piece;
}

const char *lm_piece_text(const char *piece) {
    if (!piece || !piece[0]) return "";
    if (!piece[1]) {
        unsigned char c = (unsigned char)piece[0];
        if (!isprint(c) && !isspace(c)) return "";
    }
    return piece;
}

const char *lm_token_text(const lm_tokenizer *tok, int prev, int token) {
    const char *piece = lm_token_piece(tok, prev, token);
    return tok && tok->kind != KIND_BIN ? piece : lm_piece_text(piece);
}
