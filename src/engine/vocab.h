/* Vocabularies other than llama2.c's tokenizer.bin: SentencePiece (GGUF's
 * tokenizer.ggml.model "llama"), built from plain arrays by
 * lm_tokenizer_from_vocab and read from GGUF metadata by
 * lm_tokenizer_from_gguf (vocab_gguf.c). Internal to liblamina.
 *
 * Such a vocabulary keeps U+2581 for spaces in its pieces, as llama.cpp and
 * sentencepiece do: the encoder escapes the text's spaces instead. Its rules
 * are llama.cpp's with special tokens not parsed (--no-parse-special):
 * user-defined tokens are cut out of the text first, control and unknown
 * tokens are never produced from text, and each piece of text between them
 * is merged by score (the dummy-prefix space only at the start and after a
 * user-defined token). */
#ifndef LAMINA_VOCAB_H
#define LAMINA_VOCAB_H

#include "lamina.h"

/* tokenizer.ggml.token_type values (llama.cpp's llama_token_type). */
enum {
    LM_TT_UNDEFINED = 0,
    LM_TT_NORMAL = 1,
    LM_TT_UNKNOWN = 2,
    LM_TT_CONTROL = 3,
    LM_TT_USER_DEFINED = 4,
    LM_TT_UNUSED = 5,
    LM_TT_BYTE = 6,
};

/* The most end-of-generation tokens kept (eos, eot, eom and the tokens named
 * like them); real vocabularies have one to three. */
#define LM_MAX_END_TOKENS 16

typedef struct lm_vocab_def {
    const char *name;         /* for messages */
    int n;                    /* tokens */
    const char *const *piece; /* (n) as the vocabulary spells them, U+2581 for a space */
    const int *len;           /* (n) their byte lengths (pieces need not end in NUL) */
    const float *score;       /* (n) merge scores, or NULL: all 0 */
    const int *type;          /* (n) LM_TT_*, or NULL: all normal */
    int bos, eos, unk, pad;   /* token ids, -1 = none */
    int eot, eom;             /* end of turn / of message, -1 = none */
    int add_bos, add_eos, add_space_prefix;
    /* User-defined tokens (but <unk>, <s>, <|endoftext|>) swallow the white
     * space after them: llama.cpp's rule for files whose general.name says
     * Phi-3, where </s> is user-defined. */
    int rstrip_user;
    /* tokenizer.chat_template: the template's text (chat_template_len bytes,
     * no NUL inside), or NULL. */
    const char *chat_template;
    size_t chat_template_len;
    /* Byte-level BPE (tokenizer.ggml.model "gpt2", vocab_bpe.c) where bpe is
     * set: pieces spelled through GPT-2's byte-to-Unicode map, the
     * pre-tokenizer's name (pre_len bytes; NULL = missing) and the merges,
     * "LEFT RIGHT" each (merge_len[i] bytes), by rank. */
    int bpe;
    const char *pre;
    size_t pre_len;
    const char *const *merge;
    const int *merge_len;
    int n_merges;
} lm_vocab_def;

/* Validates the definition (ids in range, finite scores, known types, byte
 * tokens spelled <0xHH>, no duplicate piece) and copies it. */
lm_tokenizer *lm_tokenizer_from_vocab(const lm_vocab_def *v, lm_error *err);

/* Whether token is one of a vocabulary's end-of-generation tokens (never, for
 * a tokenizer.bin: run.c's stop rules stay with stop_token). */
int lm_token_is_end(const lm_tokenizer *tok, int token);

/* Byte-level BPE (vocab_bpe.c). lm_bpe_new checks the pre-tokenizer's name
 * and the merges (each "LEFT RIGHT", both sides and their concatenation
 * tokens of the vocabulary, of any type). The pieces are looked up while
 * encoding: lm_bpe_keep_pieces gives it the tokenizer's own copies before
 * the first encoding. */
typedef struct lm_bpe lm_bpe;
lm_bpe *lm_bpe_new(const lm_vocab_def *v, lm_error *err);
void lm_bpe_keep_pieces(lm_bpe *b, const char *const *piece, const int *len);
void lm_bpe_free(lm_bpe *b);
/* llama.cpp's default add_bos_token for a pre-tokenizer (1 for Llama 3's). */
int lm_bpe_pre_add_bos(const char *pre, size_t n);
/* Encodes text[0..n) (no special tokens inside) into out (room for n ids);
 * the id count, or -1 with err set. `name` starts messages. */
int lm_bpe_encode(const lm_bpe *b, const char *name, const char *text, int n, int *out,
                  lm_error *err);
/* A normal piece's bytes at dst (room for len + 1): its length. */
int lm_bpe_decode(const lm_bpe *b, const char *piece, int len, char *dst);
/* A name for a message: at most 64 bytes, others as \xHH. */
#define LM_BPE_SHOW 300
const char *lm_bpe_show(const char *s, size_t n, char *buf);

/* Tokenizes like lm_tokenize; parse_special 1 also turns the names of
 * control tokens in the text into those tokens (llama.cpp's parse_special,
 * Hugging Face's default), for BPE vocabularies only. */
int *lm_tokenize_special(const lm_tokenizer *tok, const char *text, int bos, int eos,
                         int parse_special, int *n_out, lm_error *err);
/* The id of the token spelled exactly `piece` (any type), or -1. */
int lm_tokenizer_find_piece(const lm_tokenizer *tok, const char *piece);

struct lm_gguf;
/* The vocabulary in a parsed GGUF's metadata; vocab_size > 0 must equal its
 * token count. A vocabulary kind other than "llama" is a one-line error. */
lm_tokenizer *lm_tokenizer_from_gguf(const struct lm_gguf *g, int vocab_size, lm_error *err);
/* The same from a GGUF image in memory (not kept) and from a file (mapped
 * while it is read: only the metadata's pages are touched). */
lm_tokenizer *lm_tokenizer_gguf_memory(const void *data, size_t size, const char *name,
                                       int vocab_size, lm_error *err);
lm_tokenizer *lm_tokenizer_gguf_file(const char *path, int vocab_size, lm_error *err);

#endif
