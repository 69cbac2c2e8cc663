/* SentencePiece vocabularies built from arrays (src/engine/vocab.h): a small
 * hand-made vocabulary whose every merge is known, checking the rules that
 * differ from tokenizer.bin (U+2581 in pieces, user-defined tokens cut out
 * first, special-token names staying text, byte fallback found by name, the
 * end-of-generation set, decoding by token type), and every way a definition
 * can be broken. Usage: test_vocab SECTION (see tests/tokenizer.cmake). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "generate.h"
#include "gguf.h"
#include "vocab.h"

#define SP "\xe2\x96\x81" /* U+2581, sentencepiece's space */

enum { MAX_TOKENS = 300 };

typedef struct vocab {
    const char *piece[MAX_TOKENS];
    char bytes[256][8];
    int len[MAX_TOKENS], type[MAX_TOKENS];
    float score[MAX_TOKENS];
    int n;
} vocab;

static int add(vocab *v, const char *piece, float score, int type) {
    v->piece[v->n] = piece;
    v->len[v->n] = (int)strlen(piece);
    v->score[v->n] = score;
    v->type[v->n] = type;
    return v->n++;
}

/* Ids: 0 <unk>, 1 <s>, 2 </s>, 3..258 <0x00>..<0xFF>, then the pieces below. */
enum {
    T_SP = 259,
    T_A,
    T_B,
    T_SP_A,
    T_AB,
    T_SP_AB,
    T_USER,
    T_IM_END,
    T_LT,
    T_S,
    T_GT,
    T_LT_S,
    T_END
};

static void make(vocab *v) {
    memset(v, 0, sizeof *v);
    add(v, "<unk>", 0, LM_TT_UNKNOWN);
    add(v, "<s>", 0, LM_TT_CONTROL);
    add(v, "</s>", 0, LM_TT_CONTROL);
    for (int b = 0; b < 256; b++) {
        snprintf(v->bytes[b], sizeof v->bytes[b], "<0x%02X>", b);
        add(v, v->bytes[b], 0, LM_TT_BYTE);
    }
    add(v, SP, -1, LM_TT_NORMAL);
    add(v, "a", -2, LM_TT_NORMAL);
    add(v, "b", -3, LM_TT_NORMAL);
    add(v, SP "a", -0.5f, LM_TT_NORMAL);
    add(v, "ab", -0.7f, LM_TT_NORMAL);
    add(v, SP "ab", -0.1f, LM_TT_NORMAL);
    add(v, "<|u|>", 0, LM_TT_USER_DEFINED);
    add(v, "<|im_end|>", 0, LM_TT_CONTROL);
    add(v, "<", -5, LM_TT_NORMAL);
    add(v, "s", -5, LM_TT_NORMAL);
    add(v, ">", -5, LM_TT_NORMAL);
    add(v, "<s", -4, LM_TT_NORMAL);
    add(v, "<|end|>", 0, LM_TT_USER_DEFINED); /* named like an end: llama.cpp makes it control */
}

static lm_vocab_def def_of(const vocab *v) {
    return (lm_vocab_def){.name = "test",
                          .n = v->n,
                          .piece = v->piece,
                          .len = v->len,
                          .score = v->score,
                          .type = v->type,
                          .bos = 1,
                          .eos = 2,
                          .unk = 0,
                          .pad = -1,
                          .eot = -1,
                          .eom = -1,
                          .add_bos = 1,
                          .add_eos = 0,
                          .add_space_prefix = 1};
}

/* Encodes text and compares with want[0..n) (-1 ends want). */
static void expect(const lm_tokenizer *tok, const char *text, int bos, const int *want) {
    lm_error err = {{0}};
    int n = 0, *ids = lm_tokenize(tok, text, bos, 0, &n, &err);
    CHECK(ids != NULL, "'%s': %s", text, err.msg);
    if (!ids) return;
    int k = 0;
    while (want[k] >= 0) k++;
    int same = n == k;
    for (int i = 0; same && i < n; i++) same = ids[i] == want[i];
    char got[256] = "";
    for (int i = 0, m = 0; i < n && m < 200; i++)
        m += snprintf(got + m, 256 - (size_t)m, " %d", ids[i]);
    CHECK(same, "'%s' gave%s", text, got);
    free(ids);
}

/* Decodes ids (after BOS) back into a string. */
static void decoded(const lm_tokenizer *tok, const char *text, const char *want) {
    int n = 0, *ids = lm_tokenize(tok, text, 1, 0, &n, NULL);
    CHECK(ids != NULL, "'%s' encodes", text);
    if (!ids) return;
    char got[256] = "";
    for (int i = 1; i < n; i++)
        strncat(got, lm_token_piece(tok, ids[i - 1], ids[i]), sizeof got - strlen(got) - 1);
    CHECK(strcmp(got, want) == 0, "'%s' decodes to '%s', not '%s'", text, got, want);
    free(ids);
}

static int test_encode(void) {
    vocab v;
    make(&v);
    lm_vocab_def d = def_of(&v);
    lm_error err;
    lm_tokenizer *tok = lm_tokenizer_from_vocab(&d, &err);
    CHECK(tok != NULL, "%s", err.msg);
    if (!tok) return check_exit("vocab.encode");
    expect(tok, "", 1, (const int[]){1, -1});
    expect(tok, "", 0, (const int[]){-1});
    expect(tok, "ab", 1, (const int[]){1, T_SP_AB, -1});
    expect(tok, "a b", 0, (const int[]){T_SP_A, T_SP, T_B, -1});
    expect(tok, "  ab", 0, (const int[]){T_SP, T_SP, T_SP_AB, -1});
    /* byte fallback: c and the two bytes of é are no piece */
    expect(tok, "c\xc3\xa9", 0, (const int[]){T_SP, 3 + 'c', 3 + 0xc3, 3 + 0xa9, -1});
    /* names of control tokens stay text: <s> is "<s" ">", never id 1 */
    expect(tok, "<s>", 0, (const int[]){T_SP, T_LT_S, T_GT, -1});
    expect(tok, "<|im_end|>", 0,
           (const int[]){T_SP, T_LT, 3 + '|', 3 + 'i', 3 + 'm', 3 + '_', 3 + 'e', 3 + 'n', 3 + 'd',
                         3 + '|', T_GT, -1});
    /* a user-defined token is cut out first; the text after it gets the
     * dummy prefix again (llama.cpp), the text before it once */
    expect(tok, "a<|u|>ab", 0, (const int[]){T_SP_A, T_USER, T_SP_AB, -1});
    expect(tok, "<|u|><|u|>", 0, (const int[]){T_USER, T_USER, -1});
    expect(tok, "<|u|>", 1, (const int[]){1, T_USER, -1});
    expect(tok, "a<|u|>  ab", 0, (const int[]){T_SP_A, T_USER, T_SP, T_SP, T_SP_AB, -1});
    decoded(tok, "a b<|u|>ab c\xc3\xa9", "a b<|u|> ab c\xc3\xa9");
    decoded(tok, " ab", " ab");
    CHECK(strcmp(lm_token_piece(tok, 1, 1), "") == 0, "<s> decodes to nothing");
    CHECK(strcmp(lm_token_piece(tok, 5, 0), "") == 0, "<unk> decodes to nothing");
    CHECK(strcmp(lm_token_piece(tok, 5, T_IM_END), "") == 0, "a control token decodes to nothing");
    CHECK(strcmp(lm_token_piece(tok, 5, T_SP_AB), " ab") == 0, "U+2581 is a space");
    CHECK(strcmp(lm_token_piece(tok, 1, T_SP_AB), "ab") == 0, "after BOS the space goes");
    CHECK(lm_tokenizer_bos(tok) == 1 && lm_tokenizer_eos(tok) == 2, "BOS/EOS ids");
    CHECK(lm_tokenizer_stop_token(tok, 0) == 2 && lm_tokenizer_stop_token(tok, 1) == 2,
          "a GGUF vocabulary stops at EOS, chat or not");
    CHECK(lm_token_ends(tok, 2, 0) && lm_token_ends(tok, T_IM_END, 0) &&
              lm_token_ends(tok, T_IM_END, 1),
          "EOS and <|im_end|> end generation");
    CHECK(lm_token_ends(tok, T_END, 0) && strcmp(lm_token_piece(tok, 5, T_END), "") == 0,
          "a user-defined <|end|> ends generation and decodes to nothing, as a control token");
    expect(tok, "<|end|>", 0,
           (const int[]){T_SP, T_LT, 3 + '|', 3 + 'e', 3 + 'n', 3 + 'd', 3 + '|', T_GT, -1});
    CHECK(!lm_token_ends(tok, 1, 0) && !lm_token_ends(tok, T_A, 1) && !lm_token_ends(tok, -1, 0),
          "BOS, a piece and -1 do not end it");
    /* Phi-3's rule: the white space after a user-defined token goes */
    lm_tokenizer_free(tok);
    d.rstrip_user = 1;
    tok = lm_tokenizer_from_vocab(&d, &err);
    CHECK(tok != NULL, "%s", err.msg);
    if (tok)
        expect(tok, "a<|u|> \t\n ab <|u|>", 0,
               (const int[]){T_SP_A, T_USER, T_SP_AB, T_SP, T_USER, -1});
    d.rstrip_user = 0;
    /* add_eos_token: BOS and EOS both come with bos = 1 */
    lm_tokenizer_free(tok);
    d.add_eos = 1;
    d.add_space_prefix = 0;
    tok = lm_tokenizer_from_vocab(&d, &err);
    CHECK(tok != NULL, "%s", err.msg);
    if (tok) {
        expect(tok, "ab", 1, (const int[]){1, T_AB, 2, -1});
        expect(tok, "a<|u|>a", 0, (const int[]){T_A, T_USER, T_A, -1});
        CHECK(strcmp(lm_token_piece(tok, 1, T_SP_AB), " ab") == 0,
              "no dummy prefix: the space after BOS stays");
    }
    lm_tokenizer_free(tok);
    /* no byte token <0xC3>: the one-byte piece "\xC3" is the fallback */
    make(&v);
    v.piece[3 + 0xc3] = "\xc3";
    v.len[3 + 0xc3] = 1;
    v.type[3 + 0xc3] = LM_TT_NORMAL;
    d = def_of(&v);
    tok = lm_tokenizer_from_vocab(&d, &err);
    CHECK(tok != NULL, "%s", err.msg);
    if (tok) expect(tok, "\xc3\xa9", 0, (const int[]){T_SP, 3 + 0xc3, 3 + 0xa9, -1});
    lm_tokenizer_free(tok);
    /* neither <0x41> nor "A": an error naming the byte */
    v.piece[3 + 0x41] = "x";
    v.len[3 + 0x41] = 1;
    v.type[3 + 0x41] = LM_TT_NORMAL;
    d = def_of(&v);
    tok = lm_tokenizer_from_vocab(&d, &err);
    CHECK(tok != NULL, "%s", err.msg);
    if (tok) {
        int n = 0;
        err.msg[0] = '\0';
        int *ids = lm_tokenize(tok, "A", 0, 0, &n, &err);
        CHECK(ids == NULL && strstr(err.msg, "0x41") && !strchr(err.msg, '\n'),
              "no byte token for A: '%s'", err.msg);
        free(ids);
    }
    lm_tokenizer_free(tok);
    return check_exit("vocab.encode");
}

/* Each broken definition is refused with a one-line message naming it. */
static void refused(const lm_vocab_def *d, const char *what) {
    lm_error err = {{0}};
    lm_tokenizer *tok = lm_tokenizer_from_vocab(d, &err);
    CHECK(tok == NULL, "accepted: %s", what);
    CHECK(strstr(err.msg, what) != NULL && !strchr(err.msg, '\n'), "'%s' does not say '%s'",
          err.msg, what);
    lm_tokenizer_free(tok);
}

static int test_bad(void) {
    vocab v;
    make(&v);
    lm_vocab_def d = def_of(&v);
    d.bos = v.n;
    refused(&d, "bos_token_id 272 is out of range (272 tokens)");
    d = def_of(&v), d.eos = -2;
    refused(&d, "eos_token_id -2 is out of range");
    d = def_of(&v), d.unk = 1000;
    refused(&d, "unknown_token_id");
    d = def_of(&v), d.pad = 1 << 30;
    refused(&d, "padding_token_id");
    d = def_of(&v), d.eot = v.n + 5;
    refused(&d, "eot_token_id");
    d = def_of(&v), d.bos = -1;
    refused(&d, "add_bos_token is set but there is no bos_token_id");
    d = def_of(&v), d.n = 0;
    refused(&d, "0 tokens");
    v.type[T_A] = 7;
    d = def_of(&v);
    refused(&d, "token_type[260] is 7");
    make(&v);
    v.type[T_A] = LM_TT_BYTE;
    d = def_of(&v);
    refused(&d, "tokens[260] has token_type byte but is not spelled <0xHH>");
    make(&v);
    v.score[T_B] = NAN;
    d = def_of(&v);
    refused(&d, "scores[261] is not finite");
    make(&v);
    v.score[T_B] = -INFINITY;
    d = def_of(&v);
    refused(&d, "scores[261] is not finite");
    make(&v);
    v.piece[T_B] = "a";
    d = def_of(&v);
    refused(&d, "tokens[261] repeats tokens[260]");
    make(&v);
    v.len[T_B] = -1;
    d = def_of(&v);
    refused(&d, "tokens[261] has length -1");
    return check_exit("vocab.bad");
}

/* ---- GGUF metadata: crafted files --------------------------------------- */

typedef struct gbuf {
    unsigned char *p;
    size_t n, cap;
    int n_kv;
} gbuf;

static void gput(gbuf *b, const void *d, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        if (!(b->p = realloc(b->p, b->cap))) abort();
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}
static void g32(gbuf *b, uint32_t v) { gput(b, &v, 4); } /* little-endian hosts only */
static void g64(gbuf *b, uint64_t v) { gput(b, &v, 8); }
static void gstr(gbuf *b, const char *s) {
    g64(b, strlen(s));
    gput(b, s, strlen(s));
}
static void gkey(gbuf *b, const char *key, uint32_t type) {
    gstr(b, key);
    g32(b, type);
    b->n_kv++;
}

/* What the crafted vocabulary gets wrong (all zero: a valid one). */
typedef struct gspec {
    const char *model;     /* tokenizer.ggml.model; NULL = "llama"; "" = absent */
    int n_scores, n_types; /* entries (0 = one per token) */
    uint32_t score_type;   /* element type of scores (0 = F32) */
    uint32_t token_elem;   /* element type of tokens (0 = STRING) */
    int tokens_scalar;     /* tokens as a plain string */
    int no_tokens;         /* no tokenizer.ggml.tokens */
    int bos;               /* bos_token_id (0 = 1) */
    int bos_as_string;     /* bos_token_id as a string */
    int add_bos_u32;       /* add_bos_token as a u32 */
    int type2;             /* token 2's type (0 = normal) */
    int dup;               /* token 3 spelled as token 2 */
} gspec;

enum { G_TOKENS = 5 };

static gbuf gguf_vocab(gspec s) {
    static const char *const piece[G_TOKENS] = {"<unk>", "<s>", SP, "a", SP "a"};
    static const int type[G_TOKENS] = {LM_TT_UNKNOWN, LM_TT_CONTROL, LM_TT_NORMAL, LM_TT_NORMAL,
                                       LM_TT_NORMAL};
    gbuf b = {0};
    gkey(&b, "general.architecture", LM_GGUF_STRING);
    gstr(&b, "llama");
    if (!s.model || *s.model) {
        gkey(&b, "tokenizer.ggml.model", LM_GGUF_STRING);
        gstr(&b, s.model ? s.model : "llama");
    }
    if (s.tokens_scalar) {
        gkey(&b, "tokenizer.ggml.tokens", LM_GGUF_STRING);
        gstr(&b, "a");
    } else if (!s.no_tokens) {
        gkey(&b, "tokenizer.ggml.tokens", LM_GGUF_ARRAY);
        g32(&b, s.token_elem ? s.token_elem : LM_GGUF_STRING);
        g64(&b, G_TOKENS);
        for (int i = 0; i < G_TOKENS; i++)
            if (s.token_elem)
                g32(&b, (uint32_t)i);
            else
                gstr(&b, s.dup && i == 3 ? piece[2] : piece[i]);
    }
    int n_scores = s.n_scores ? s.n_scores : G_TOKENS, n_types = s.n_types ? s.n_types : G_TOKENS;
    gkey(&b, "tokenizer.ggml.scores", LM_GGUF_ARRAY);
    g32(&b, s.score_type ? s.score_type : LM_GGUF_F32);
    g64(&b, (uint64_t)n_scores);
    for (int i = 0; i < n_scores; i++) {
        float f = -(float)i;
        gput(&b, &f, 4);
    }
    gkey(&b, "tokenizer.ggml.token_type", LM_GGUF_ARRAY);
    g32(&b, LM_GGUF_I32);
    g64(&b, (uint64_t)n_types);
    for (int i = 0; i < n_types; i++)
        g32(&b, (uint32_t)(i == 2 && s.type2 ? s.type2 : type[i % G_TOKENS]));
    if (s.bos_as_string) {
        gkey(&b, "tokenizer.ggml.bos_token_id", LM_GGUF_STRING);
        gstr(&b, "1");
    } else {
        gkey(&b, "tokenizer.ggml.bos_token_id", LM_GGUF_U32);
        g32(&b, (uint32_t)(s.bos ? s.bos : 1));
    }
    gkey(&b, "tokenizer.ggml.eos_token_id", LM_GGUF_U32);
    g32(&b, 1);
    if (s.add_bos_u32) {
        gkey(&b, "tokenizer.ggml.add_bos_token", LM_GGUF_U32);
        g32(&b, 1);
    } else {
        gkey(&b, "tokenizer.ggml.add_bos_token", LM_GGUF_BOOL);
        gput(&b, "\1", 1);
    }
    /* the header, in front */
    gbuf h = {0};
    gput(&h, "GGUF", 4);
    g32(&h, 3);
    g64(&h, 0); /* tensors */
    g64(&h, (uint64_t)b.n_kv);
    gput(&h, b.p, b.n);
    while (h.n % 32) gput(&h, "", 1);
    free(b.p);
    return h;
}

/* Loading the crafted file fails with one line containing `what`. */
static void gguf_refused(gspec s, int vocab_size, const char *what) {
    gbuf b = gguf_vocab(s);
    lm_error err = {{0}};
    lm_tokenizer *tok = lm_tokenizer_load_memory(b.p, b.n, "v.gguf", vocab_size, &err);
    if (getenv("TEST_VOCAB_VERBOSE")) printf("%s\n", err.msg);
    CHECK(tok == NULL, "accepted: %s", what);
    CHECK(strstr(err.msg, what) && !strchr(err.msg, '\n') && !strncmp(err.msg, "v.gguf", 6),
          "'%s' does not say '%s'", err.msg, what);
    lm_tokenizer_free(tok);
    free(b.p);
}

static int test_gguf(void) {
    gbuf b = gguf_vocab((gspec){0});
    lm_error err = {{0}};
    lm_tokenizer *tok = lm_tokenizer_load_memory(b.p, b.n, "v.gguf", G_TOKENS, &err);
    CHECK(tok != NULL, "the valid file: %s", err.msg);
    if (tok) {
        expect(tok, "a a", 1, (const int[]){1, 4, 4, -1});
        CHECK(lm_tokenizer_eos(tok) == 1 && lm_tokenizer_stop_token(tok, 0) == 1, "eos 1");
    }
    lm_tokenizer_free(tok);
    free(b.p);
    gguf_refused((gspec){.model = "gpt2"}, 0, "tokenizer.ggml.merges: missing");
    gguf_refused((gspec){.model = "bert"}, 0, "tokenizer.ggml.model \"bert\" is not supported");
    gguf_refused((gspec){.model = "no_vocab"}, 0, "the file has no vocabulary");
    gguf_refused((gspec){.model = ""}, 0, "tokenizer.ggml.model: missing");
    gguf_refused((gspec){.no_tokens = 1}, 0, "tokenizer.ggml.tokens: missing");
    gguf_refused((gspec){.tokens_scalar = 1}, 0, "tokenizer.ggml.tokens");
    gguf_refused((gspec){.token_elem = LM_GGUF_U32}, 0,
                 "tokenizer.ggml.tokens: elements are u32, expected string");
    gguf_refused((gspec){.n_scores = 3}, 0, "tokenizer.ggml.scores: 3 entries for 5 tokens");
    gguf_refused((gspec){.n_scores = 6}, 0, "tokenizer.ggml.scores: 6 entries for 5 tokens");
    gguf_refused((gspec){.n_types = 7}, 0, "tokenizer.ggml.token_type: 7 entries for 5 tokens");
    gguf_refused((gspec){.score_type = LM_GGUF_U32}, 0,
                 "tokenizer.ggml.scores: elements are u32, expected f32");
    gguf_refused((gspec){.bos = 5}, 0, "tokenizer.ggml.bos_token_id 5 is out of range (5 tokens)");
    gguf_refused((gspec){.bos = 1 << 30}, 0, "tokenizer.ggml.bos_token_id");
    gguf_refused((gspec){.bos_as_string = 1}, 0, "tokenizer.ggml.bos_token_id");
    gguf_refused((gspec){.add_bos_u32 = 1}, 0, "tokenizer.ggml.add_bos_token");
    gguf_refused((gspec){.type2 = 9}, 0, "token_type[2] is 9 (0..6)");
    gguf_refused((gspec){.dup = 1}, 0, "tokens[3] repeats tokens[2]");
    gguf_refused((gspec){0}, 6, "holds 5 tokens, but the model's vocab_size is 6");
    return check_exit("vocab.gguf");
}

/* ---- the stop rule: a GGUF vocabulary ends generation at its end tokens -- */

/* tokenizer.bin's entries as a GGUF vocabulary (spaces as U+2581, ids 0..2
 * unknown/control, <0xHH> byte tokens) with the given eos and eot ids. */
static gbuf gguf_from_bin(const char *path, int eos, int eot, int *n_tokens) {
    gbuf b = {0}, out = {0};
    char *bin = NULL;
    FILE *f = fopen(path, "rb");
    long size = f && !fseek(f, 0, SEEK_END) ? ftell(f) : -1;
    if (size > 4 && !fseek(f, 0, SEEK_SET) && (bin = malloc((size_t)size)) &&
        fread(bin, 1, (size_t)size, f) != (size_t)size)
        size = -1;
    if (f) fclose(f);
    CHECK(bin && size > 4, "cannot read %s", path);
    if (!bin || size <= 4) return out;
    int n = 0;
    for (long off = 4; off + 8 <= size; n++) {
        int32_t len;
        memcpy(&len, bin + off + 4, 4);
        off += 8 + len;
    }
    gkey(&b, "tokenizer.ggml.model", LM_GGUF_STRING);
    gstr(&b, "llama");
    gkey(&b, "tokenizer.ggml.tokens", LM_GGUF_ARRAY);
    g32(&b, LM_GGUF_STRING);
    g64(&b, (uint64_t)n);
    gbuf scores = {0}, types = {0};
    long off = 4;
    for (int i = 0; i < n; i++) {
        int32_t len;
        memcpy(&len, bin + off + 4, 4);
        gbuf piece = {0};
        for (int k = 0; k < len; k++)
            if (bin[off + 8 + k] == ' ')
                gput(&piece, SP, 3);
            else
                gput(&piece, bin + off + 8 + k, 1);
        g64(&b, piece.n);
        gput(&b, piece.p, piece.n);
        free(piece.p);
        gput(&scores, bin + off, 4);
        int byte = len == 6 && !memcmp(bin + off + 8, "<0x", 3);
        g32(&types, (uint32_t)(i == 0  ? LM_TT_UNKNOWN
                               : i < 3 ? LM_TT_CONTROL
                               : byte  ? LM_TT_BYTE
                                       : LM_TT_NORMAL));
        off += 8 + len;
    }
    gkey(&b, "tokenizer.ggml.scores", LM_GGUF_ARRAY);
    g32(&b, LM_GGUF_F32);
    g64(&b, (uint64_t)n);
    gput(&b, scores.p, scores.n);
    gkey(&b, "tokenizer.ggml.token_type", LM_GGUF_ARRAY);
    g32(&b, LM_GGUF_I32);
    g64(&b, (uint64_t)n);
    gput(&b, types.p, types.n);
    gkey(&b, "tokenizer.ggml.eos_token_id", LM_GGUF_U32);
    g32(&b, (uint32_t)eos);
    if (eot >= 0) {
        gkey(&b, "tokenizer.ggml.eot_token_id", LM_GGUF_U32);
        g32(&b, (uint32_t)eot);
    }
    gput(&out, "GGUF", 4);
    g32(&out, 3);
    g64(&out, 0);
    g64(&out, (uint64_t)b.n_kv);
    gput(&out, b.p, b.n);
    free(b.p);
    free(scores.p);
    free(types.p);
    free(bin);
    *n_tokens = n;
    return out;
}

/* Greedy tokens of one sequence through the batch API until it finishes;
 * returns how many, *finish how it ended. */
static int run_seq(lm_batch *b, const lm_tokenizer *tok, const int *prompt, int n_prompt, int *out,
                   int cap, int *finish) {
    lm_error err = {{0}};
    lm_seq_params p = {.n_ctx = cap,
                       .temperature = 0,
                       .topp = 0,
                       .seed = 1,
                       .stop_token = lm_tokenizer_stop_token(tok, 0),
                       .end_tokens = tok};
    int seq = lm_batch_add(b, prompt, n_prompt, p, &err), n = 0;
    CHECK(seq >= 0, "lm_batch_add: %s", err.msg);
    *finish = LM_RUNNING;
    lm_batch_event ev;
    while (seq >= 0 && *finish == LM_RUNNING && lm_batch_step(b, &ev, &err) >= 0)
        if (ev.seq == seq) out[n++] = ev.token, *finish = ev.finish;
    return n;
}

/* A tokenizer.bin runs until the context is full (the model never samples
 * BOS here); the same vocabulary as GGUF with EOS (or EOT) set to the k-th
 * token sampled stops right there, in the batch API and in the CLI's loop, whose
 * text is the first k - 1 tokens' (the end token prints nothing). */
static int test_stop(const char *model_path, const char *bin_path) {
    enum { CTX = 48 };
    lm_error err = {{0}};
    lm_model *m = lm_model_load(model_path, &err);
    lm_tokenizer *bin = m ? lm_tokenizer_load(bin_path, 0, &err) : NULL;
    CHECK(m && bin, "%s", err.msg);
    if (!m || !bin) return check_exit("vocab.stop");
    lm_batch *b = lm_batch_new(m, (lm_batch_params){1, CTX, 1, NULL}, &err);
    int n_prompt = 0, *prompt = lm_tokenize(bin, "And it came to pass", 1, 0, &n_prompt, &err);
    CHECK(b && prompt, "%s", err.msg);
    int all[CTX], fin, n_all = b && prompt ? run_seq(b, bin, prompt, n_prompt, all, CTX, &fin) : 0;
    CHECK(n_all == CTX - n_prompt + 1 && fin == LM_FINISH_LENGTH, "%d tokens, finish %d", n_all,
          fin);
    /* the first token from the 6th on that did not occur before it */
    int k = 5;
    for (int seen = 1; k < n_all && seen; k += seen)
        for (int j = seen = 0; j < k; j++) seen |= all[j] == all[k];
    CHECK(k < n_all && all[k] > 2, "no fresh token among %d", n_all);
    for (int variant = 0; variant < 2 && k < n_all; variant++) {
        int n_tok = 0, got[CTX];
        gbuf g = gguf_from_bin(bin_path, variant ? 5 : all[k], variant ? all[k] : -1, &n_tok);
        lm_tokenizer *gg = lm_tokenizer_load_memory(g.p, g.n, "kjv.gguf", n_tok, &err);
        free(g.p);
        CHECK(gg != NULL, "%s", err.msg);
        if (!gg) continue;
        int n_gg = 0, *p2 = lm_tokenize(gg, "And it came to pass", 1, 0, &n_gg, &err);
        CHECK(p2 && n_gg == n_prompt && !memcmp(p2, prompt, (size_t)n_gg * sizeof *p2),
              "the GGUF copy encodes the prompt alike");
        int n = run_seq(b, gg, prompt, n_prompt, got, CTX, &fin);
        CHECK(n == k + 1 && fin == LM_FINISH_STOP && got[k] == all[k],
              "%s: stopped after %d tokens (finish %d), want %d", variant ? "eot" : "eos", n, fin,
              k + 1);
        /* the CLI's loop (cli_generate) prints the same text up to the end token */
        char want[4096] = "";
        for (int i = 1; i < n_prompt; i++)
            strcat(want, lm_token_piece(bin, prompt[i - 1], prompt[i]));
        for (int i = 0; i < k; i++)
            strcat(want, lm_token_text(bin, i ? all[i - 1] : prompt[n_prompt - 1], all[i]));
        strcat(want, "\n");
        char text[4096] = "";
        FILE *out = fmemopen(text, sizeof text - 1, "w");
        lm_sampler *s = lm_sampler_new(lm_model_get_info(m).config.vocab_size, 0, 0, 1, &err);
        cli_loop l = {b, gg, s, CTX, CTX, NULL, out, {0}};
        CHECK(s && out && !cli_generate(&l, "And it came to pass", &err), "cli_generate: %s",
              err.msg);
        if (out) fclose(out);
        CHECK(!strcmp(text, want) && l.stats.generated_tokens == k + 1,
              "cli_generate (%s) printed '%s' in %d tokens; want '%s' in %d",
              variant ? "eot" : "eos", text, l.stats.generated_tokens, want, k + 1);
        lm_sampler_free(s);
        free(p2);
        lm_tokenizer_free(gg);
    }
    free(prompt);
    lm_batch_free(b);
    lm_tokenizer_free(bin);
    lm_model_free(m);
    return check_exit("vocab.stop");
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *d = malloc(cap + 1);
    size_t got;
    while (d && (got = fread(d + n, 1, cap - n, f)) > 0)
        if ((n += got) == cap) d = realloc(d, (cap *= 2) + 1);
    fclose(f);
    if (d) d[n] = '\0';
    return d;
}

/* The ids of `text` (no BOS) as " 1 2 3", llama.cpp's .out lines. */
static void ids_line(const lm_tokenizer *tok, const char *text, char *line, size_t cap) {
    lm_error err = {{0}};
    int n = 0, *ids = lm_tokenize(tok, text, 0, 0, &n, &err);
    size_t m = 0;
    line[0] = '\0';
    if (!ids) snprintf(line, cap, "error: %s", err.msg);
    for (int i = 0; ids && i < n && m + 16 < cap; i++)
        m += (size_t)snprintf(line + m, cap - m, " %d", ids[i]);
    free(ids);
}

/* Decoding after BOS gives back the text. */
static int round_trips(const lm_tokenizer *tok, const char *text) {
    int n = 0, *ids = lm_tokenize(tok, text, 1, 0, &n, NULL);
    if (!ids) return 0;
    size_t cap = strlen(text) + 64, m = 0;
    char *got = calloc(1, cap);
    int ok = got != NULL;
    /* a vocabulary that adds no BOS (GPT-2's) decodes from its first id */
    int first = n > 0 && ids[0] == lm_tokenizer_bos(tok) ? 1 : 0;
    for (int i = first; ok && i < n; i++) {
        const char *p = lm_token_text(tok, i ? ids[i - 1] : -1, ids[i]) /* as printed */;
        size_t k = strlen(p);
        ok = m + k < cap;
        if (ok) memcpy(got + m, p, k), m += k;
    }
    ok = ok && m == strlen(text) && memcmp(got, text, m) == 0;
    free(got);
    free(ids);
    return ok;
}

/* llama.cpp's tokenizer cases (models/ggml-vocab-NAME.gguf.inp / .out: texts
 * separated by a marker line, and the ids llama.cpp gives each without BOS):
 * every case's ids exactly, and each text back from its ids. */
static int test_cases(const char *gguf, const char *inp, const char *out) {
    lm_error err = {{0}};
    lm_tokenizer *tok = lm_tokenizer_load(gguf, 0, &err);
    char *in = slurp(inp), *want = slurp(out);
    CHECK(tok && in && want,
          "cannot read %s / %s / %s (%s); the llama.cpp tree is made by "
          "tests/llamacpp/source.sh",
          gguf, inp, out, err.msg);
    if (!tok || !in || !want) return check_exit("vocab.cases");
    static const char sep[] = "\n__ggml_vocab_test__\n";
    char *text = in, *line = want, got[1 << 14];
    int cases = 0;
    while (*text && *line) {
        char *end = strstr(text, sep), *eol = strchr(line, '\n');
        if (end) *end = '\0';
        if (eol) *eol = '\0';
        ids_line(tok, text, got, sizeof got);
        CHECK(strcmp(got, line) == 0, "case %d '%s': want%s, got%s", cases, text, line, got);
        CHECK(round_trips(tok, text), "case %d '%s' does not decode back", cases, text);
        cases++;
        if (!end || !eol) break;
        text = end + sizeof sep - 1;
        line = eol + 1;
    }
    CHECK(cases >= 10, "only %d cases in %s", cases, inp);
    printf("%s: %d cases\n", gguf, cases);
    free(in);
    free(want);
    lm_tokenizer_free(tok);
    return check_exit("vocab.cases");
}

/* ---- byte-level BPE: a reference's ids, invalid UTF-8, Llama 3's chat ---- */

static int unhex(const char *h, size_t n, char *out) {
    for (size_t i = 0; i + 1 < n; i += 2) {
        unsigned v;
        if (sscanf(h + i, "%2x", &v) != 1 || v == 0) return -1;
        *out++ = (char)v;
    }
    *out = '\0';
    return 0;
}

/* Lines "HEX<TAB>IDS" (tests/bpe/reference.mjs: Llama 3's tokenizer.json
 * through transformers.js, special tokens parsed): lamina's ids with control
 * tokens parsed equal IDS, and the text decodes back from its ids (special
 * names then stay text). */
static int test_ref(const char *gguf, const char *path) {
    lm_error err = {{0}};
    lm_tokenizer *tok = lm_tokenizer_load(gguf, 0, &err);
    char *all = slurp(path);
    CHECK(tok && all, "cannot read %s / %s (%s)", gguf, path, err.msg);
    if (!tok || !all) return check_exit("vocab.ref");
    int cases = 0;
    for (char *line = all, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = '\0';
        char *tab = strchr(line, '\t');
        CHECK(tab, "line %d has no tab", cases);
        if (!tab) break;
        char *text = malloc((size_t)(tab - line) / 2 + 1), want[1 << 15], got[1 << 15];
        CHECK(text && !unhex(line, (size_t)(tab - line), text), "line %d: bad hex", cases);
        if (!text) break;
        snprintf(want, sizeof want, "%s", tab + 1);
        int n = 0, *ids = lm_tokenize_special(tok, text, 0, 0, 1, &n, &err);
        size_t m = 0;
        got[0] = '\0';
        for (int i = 0; ids && i < n && m + 16 < sizeof got; i++)
            m += (size_t)snprintf(got + m, sizeof got - m, i ? " %d" : "%d", ids[i]);
        CHECK(ids && strcmp(got, want) == 0, "text %d '%s': reference [%s], lamina [%s] %s", cases,
              text, want, got, ids ? "" : err.msg);
        CHECK(round_trips(tok, text), "text %d '%s' does not decode back", cases, text);
        free(ids);
        free(text);
        cases++;
    }
    CHECK(cases >= 300, "only %d texts in %s", cases, path);
    printf("%s: %d texts equal the reference's ids\n", gguf, cases);
    free(all);
    lm_tokenizer_free(tok);
    return check_exit("vocab.ref");
}

/* Bytes that are not UTF-8 (no reference encodes them: JavaScript and
 * Hugging Face take Unicode text) come back exactly, and cut the words where
 * llama.cpp's U+FFFD would: the valid text around them encodes as it does
 * alone. */
static int test_invalid(const char *gguf) {
    lm_error err = {{0}};
    lm_tokenizer *tok = lm_tokenizer_load(gguf, 0, &err);
    CHECK(tok, "%s: %s", gguf, err.msg);
    if (!tok) return check_exit("vocab.invalid");
    static const char *const texts[] = {"invalid \xff\xfe utf-8",
                                        "cut \xe2\x96"
                                        "a sequence",
                                        "lone \xc3",
                                        "\x80",
                                        "\xc0\xaf overlong",
                                        "\xed\xa0\x80 surrogate",
                                        "\xf4\x90\x80\x80 past U+10FFFF",
                                        "a\xff"
                                        "b\xfe\xfd c",
                                        "\xe4\xbd",
                                        "emoji cut \xf0\x9f\xa6 and whole \xf0\x9f\xa6\x99"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
        CHECK(round_trips(tok, texts[i]), "'%s' does not decode back", texts[i]);
    /* "Hello\xff world": "Hello", the byte, " world" as in "Hello" + " world" */
    int n1 = 0, n2 = 0, n3 = 0;
    int *a = lm_tokenize(tok, "Hello\xff world", 0, 0, &n1, &err);
    int *b = lm_tokenize(tok, "Hello", 0, 0, &n2, &err);
    int *c = lm_tokenize(tok, " world", 0, 0, &n3, &err);
    CHECK(a && b && c && n1 == n2 + 1 + n3 && !memcmp(a, b, (size_t)n2 * sizeof *a) &&
              !memcmp(a + n2 + 1, c, (size_t)n3 * sizeof *a),
          "an invalid byte is a word of its own");
    free(a), free(b), free(c);
    lm_tokenizer_free(tok);
    return check_exit("vocab.invalid");
}

/* llama.cpp's test-chat-template.cpp conversation through lamina's llama3
 * template: the ids of llama.cpp's expected text (its llama3 case, BOS
 * first, special tokens parsed); the end tokens of Llama 3's vocabulary. */
static int test_llama3(const char *gguf) {
    static const char expected[] =
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are a helpful "
        "assistant<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|><|start_"
        "header_id|>assistant<|end_header_id|>\n\nHi there<|eot_id|><|start_header_id|>user<|end_"
        "header_id|>\n\nWho are you<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nI am "
        "an assistant<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nAnother "
        "question<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n";
    static const lm_chat_message conv[] = {{LM_ROLE_SYSTEM, "You are a helpful assistant"},
                                           {LM_ROLE_USER, "Hello"},
                                           {LM_ROLE_ASSISTANT, "Hi there"},
                                           {LM_ROLE_USER, "Who are you"},
                                           {LM_ROLE_ASSISTANT, "   I am an assistant   "},
                                           {LM_ROLE_USER, "Another question"}};
    lm_error err = {{0}};
    lm_tokenizer *tok = lm_tokenizer_load(gguf, 0, &err);
    CHECK(tok, "%s: %s", gguf, err.msg);
    if (!tok) return check_exit("vocab.llama3");
    int nw = 0, ng = 0;
    int *want = lm_tokenize_special(tok, expected, 0, 0, 1, &nw, &err);
    int *got = lm_chat_format(tok, LM_CHAT_LLAMA3, conv, 6, &ng, &err);
    CHECK(want && got && nw == ng && !memcmp(want, got, (size_t)nw * sizeof *want),
          "llama3 chat: %d ids, llama.cpp's text gives %d (%s)", ng, nw, err.msg);
    CHECK(want && want[0] == 128000 && want[1] == 128006 && want[nw - 1] == 271,
          "the expected text's ids: BOS, <|start_header_id|> ... \\n\\n");
    /* the same text without parsing: the names stay text */
    int np = 0, *plain = lm_tokenize(tok, expected, 0, 0, &np, &err);
    CHECK(plain && np > nw, "special names stay text in lm_tokenize");
    free(plain);
    free(want);
    free(got);
    CHECK(lm_chat_end_token(tok, LM_CHAT_LLAMA3) == 128009, "the turn ends at <|eot_id|>");
    /* Llama 3.0's vocabulary: 128008 is still a reserved token (3.1 names it
     * <|eom_id|>, an end token by name as in llama.cpp) */
    CHECK(lm_token_ends(tok, 128001, 0) && lm_token_ends(tok, 128009, 0) &&
              lm_token_ends(tok, 128009, 1) && !lm_token_ends(tok, 128006, 1) &&
              !lm_token_ends(tok, 128008, 1),
          "Llama 3 ends at <|end_of_text|> (eos) and <|eot_id|> (by name)");
    lm_chat_template t;
    CHECK(!lm_chat_template_choose(NULL, "{{ '<|start_header_id|>' + r + '<|end_header_id|>' }}",
                                   &t, &err) &&
              t == LM_CHAT_LLAMA3,
          "a template with the header ids is llama3");
    lm_tokenizer_free(tok);
    return check_exit("vocab.llama3");
}

/* Long runs (one word of 1 MiB letters, white space, digits, punctuation,
 * random bytes): encoded without error (no regex stack or match limit hit)
 * and decoded back, in well under the test's timeout (no O(n^2) merge). */
static int test_long(const char *gguf) {
    lm_error err = {{0}};
    lm_tokenizer *tok = lm_tokenizer_load(gguf, 0, &err);
    CHECK(tok, "%s: %s", gguf, err.msg);
    if (!tok) return check_exit("vocab.long");
    enum { N = 1 << 20 };
    char *text = malloc(N + 1);
    uint64_t r = 24;
    for (int kind = 0; text && kind < 6; kind++) {
        for (int i = 0; i < N; i++) {
            r = r * 6364136223846793005ULL + 1442695040888963407ULL;
            static const char cls[] = "a \n7.";
            text[i] = kind < 5 ? cls[kind] : (char)(1 + (r >> 33) % 255);
        }
        text[N] = '\0';
        CHECK(round_trips(tok, text), "a run of 1 MiB (kind %d) does not decode back", kind);
    }
    free(text);
    lm_tokenizer_free(tok);
    return check_exit("vocab.long");
}

int main(int argc, char **argv) {
    const char *section = argc > 1 ? argv[1] : "";
    if (!strcmp(section, "cases") && argc == 5) return test_cases(argv[2], argv[3], argv[4]);
    if (!strcmp(section, "ref") && argc == 4) return test_ref(argv[2], argv[3]);
    if (!strcmp(section, "invalid") && argc == 3) return test_invalid(argv[2]);
    if (!strcmp(section, "long") && argc == 3) return test_long(argv[2]);
    if (!strcmp(section, "llama3") && argc == 3) return test_llama3(argv[2]);
    if (!strcmp(section, "encode")) return test_encode();
    if (!strcmp(section, "bad")) return test_bad();
    if (!strcmp(section, "gguf")) return test_gguf();
    if (!strcmp(section, "stop") && argc == 4) return test_stop(argv[2], argv[3]);
    fprintf(stderr,
            "usage: test_vocab encode|bad|gguf|stop MODEL TOKENIZER|cases VOCAB.gguf INP OUT|ref "
            "VOCAB.gguf REF|invalid|long|llama3 VOCAB.gguf\n");
    return 2;
}
