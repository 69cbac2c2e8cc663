/* lm_convert_file: a llama2.c checkpoint (v0/v1, fp32) and its tokenizer.bin
 * as a GGUF v3 file of the llama architecture, with the metadata keys and
 * tensor names llama.cpp's converters write (src/FORMATS.md, "GGUF").
 *
 * llama2.c's weights are already in the layout GGUF uses for Q and K (Meta's
 * interleaved RoPE pairs; llama.cpp's convert_hf_to_gguf permutes Hugging
 * Face's halves into it, llama2.c's export.py permutes them back out), so the
 * matrices are written as they are. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "file.h"
#include "gguf_write.h"
#include "internal.h"
#include "quant_gguf.h"
#include "quant_mix.h"

/* llama2.c's tokenizer.py writes BOS and EOS as "\n<s>\n" and "\n</s>\n" and
 * turns sentencepiece's U+2581 into spaces; GGUF keeps the pieces as they are. */
#define SPACE_MARK "\xe2\x96\x81" /* U+2581, 3 bytes */

/* llama.cpp's token types (llama_token_type / gguf-py's TokenType). */
enum { TT_NORMAL = 1, TT_UNKNOWN = 2, TT_CONTROL = 3, TT_BYTE = 6 };

typedef struct vocab {
    int n;
    char **piece;
    uint32_t *len;
    float *score;
    int32_t *type;
    char *block;
} vocab;

static void vocab_free(vocab *v) {
    free(v->piece);
    free(v->len);
    free(v->score);
    free(v->type);
    free(v->block);
}

static int is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'); }

static int32_t token_type(int id, const char *p, uint32_t len) {
    if (id == LM_TOKEN_UNK) return TT_UNKNOWN;
    if (id == LM_TOKEN_BOS || id == LM_TOKEN_EOS || len == 0) return TT_CONTROL;
    if (len == 6 && memcmp(p, "<0x", 3) == 0 && is_hex(p[3]) && is_hex(p[4]) && p[5] == '>')
        return TT_BYTE;
    return TT_NORMAL;
}

/* One piece of tokenizer.bin, restored to sentencepiece's form, into *out. */
static uint32_t restore_piece(int id, const unsigned char *p, uint32_t len, char *out) {
    if (id == LM_TOKEN_BOS) return (uint32_t)(memcpy(out, "<s>", 3), 3);
    if (id == LM_TOKEN_EOS) return (uint32_t)(memcpy(out, "</s>", 4), 4);
    uint32_t n = 0;
    for (uint32_t i = 0; i < len; i++) {
        if (p[i] == ' ') {
            memcpy(out + n, SPACE_MARK, 3);
            n += 3;
        } else {
            out[n++] = (char)p[i];
        }
    }
    return n;
}

static int32_t le_i32(const unsigned char *p) {
    uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    int32_t v;
    memcpy(&v, &u, sizeof v);
    return v;
}

/* The entries of a tokenizer.bin image that lm_tokenizer_load_memory has
 * already validated (n entries, each in bounds). */
static int vocab_parse(vocab *v, const unsigned char *buf, size_t size, int n, lm_error *err) {
    *v = (vocab){.n = n};
    v->piece = malloc((size_t)n * sizeof *v->piece);
    v->len = malloc((size_t)n * sizeof *v->len);
    v->score = malloc((size_t)n * sizeof *v->score);
    v->type = malloc((size_t)n * sizeof *v->type);
    v->block = malloc(3 * size + 16); /* a space becomes 3 bytes; "</s>" fits */
    if (!v->piece || !v->len || !v->score || !v->type || !v->block)
        return lm_fail(err, "out of memory for the vocabulary");
    size_t off = 4, at = 0;
    for (int i = 0; i < n; i++) {
        int32_t s = le_i32(buf + off), len = le_i32(buf + off + 4);
        memcpy(&v->score[i], &s, sizeof s);
        v->piece[i] = v->block + at;
        v->len[i] = restore_piece(i, buf + off + 8, (uint32_t)len, v->piece[i]);
        v->type[i] = token_type(i, v->piece[i], v->len[i]);
        at += v->len[i];
        off += 8 + (size_t)len;
    }
    return 0;
}

static int tokenizer_size_ok(const char *path, const unsigned char *head, size_t n, uint64_t size,
                             void *arg, lm_error *err) {
    if (size > (1u << 30)) return lm_fail(err, "%s: too large for a tokenizer.bin", path);
    return 0;
}

/* Read and validate the tokenizer (exactly the model's vocab_size entries). */
static int read_vocab(const char *path, int vocab_size, vocab *v, struct stat *st, lm_error *err) {
    size_t size;
    unsigned char *buf = lm_read_regular(path, "tokenizer", tokenizer_size_ok, NULL, &size, err);
    if (!buf) return -1;
    lm_tokenizer *tok = lm_tokenizer_load_memory(buf, size, path, vocab_size, err);
    int rc = -1;
    if (tok && stat(path, st) == 0)
        rc = vocab_parse(v, buf, size, vocab_size, err);
    else if (tok)
        lm_fail(err, "%s: %s", path, strerror(errno));
    lm_tokenizer_free(tok);
    free(buf);
    if (rc) {
        vocab_free(v);
        *v = (vocab){0};
    }
    return rc;
}

static lm_ggml_type gguf_type(lm_convert_type t) {
    return t == LM_CONVERT_F16    ? LM_GGML_F16
           : t == LM_CONVERT_BF16 ? LM_GGML_BF16
           : t == LM_CONVERT_Q8_0 ? LM_GGML_Q8_0
                                  : LM_GGML_F32;
}

/* llama.cpp's llama_ftype for a file whose matrices are of type t. */
static uint32_t file_type(lm_convert_type t) {
    return t == LM_CONVERT_F16 ? 1 : t == LM_CONVERT_BF16 ? 32 : t == LM_CONVERT_Q8_0 ? 7 : 0;
}

/* general.name: the input's file name without its folder and extension. */
static void model_name(const char *path, char *out, size_t cap) {
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    const char *dot = strrchr(base, '.');
    size_t n = dot && dot != base ? (size_t)(dot - base) : strlen(base);
    if (n >= cap) n = cap - 1;
    memcpy(out, base, n);
    out[n] = '\0';
}

static void add_config(lm_gguf_writer *w, const lm_model *m, const char *in, uint32_t ftype) {
    const lm_config *c = m->c;
    char name[256];
    model_name(in, name, sizeof name);
    lm_gguf_add_str(w, "general.architecture", "llama");
    lm_gguf_add_str(w, "general.name", name);
    lm_gguf_add_u32(w, "general.alignment", 32);
    lm_gguf_add_u32(w, "llama.vocab_size", (uint32_t)c->vocab_size);
    lm_gguf_add_u32(w, "llama.context_length", (uint32_t)c->seq_len);
    lm_gguf_add_u32(w, "llama.embedding_length", (uint32_t)c->dim);
    lm_gguf_add_u32(w, "llama.block_count", (uint32_t)c->n_layers);
    lm_gguf_add_u32(w, "llama.feed_forward_length", (uint32_t)c->hidden_dim);
    lm_gguf_add_u32(w, "llama.rope.dimension_count", (uint32_t)(c->dim / c->n_heads));
    lm_gguf_add_u32(w, "llama.attention.head_count", (uint32_t)c->n_heads);
    lm_gguf_add_u32(w, "llama.attention.head_count_kv", (uint32_t)c->n_kv_heads);
    /* the values run.c hard-codes */
    lm_gguf_add_f32(w, "llama.rope.freq_base", 10000.0f);
    lm_gguf_add_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
    lm_gguf_add_u32(w, "general.file_type", ftype);
    lm_gguf_add_u32(w, "general.quantization_version", 2);
}

static void add_vocab(lm_gguf_writer *w, const vocab *v) {
    lm_gguf_add_str(w, "tokenizer.ggml.model", "llama");
    lm_gguf_add_str_array(w, "tokenizer.ggml.tokens", (const char *const *)v->piece, v->len,
                          (uint64_t)v->n);
    lm_gguf_add_f32_array(w, "tokenizer.ggml.scores", v->score, (uint64_t)v->n);
    lm_gguf_add_i32_array(w, "tokenizer.ggml.token_type", v->type, (uint64_t)v->n);
    lm_gguf_add_u32(w, "tokenizer.ggml.bos_token_id", LM_TOKEN_BOS);
    lm_gguf_add_u32(w, "tokenizer.ggml.eos_token_id", LM_TOKEN_EOS);
    lm_gguf_add_u32(w, "tokenizer.ggml.unknown_token_id", LM_TOKEN_UNK);
    lm_gguf_add_bool(w, "tokenizer.ggml.add_bos_token", 1);
    lm_gguf_add_bool(w, "tokenizer.ggml.add_eos_token", 0);
}

static void add_vector(lm_gguf_writer *w, const char *name, const float *x, int n) {
    uint64_t ne[1] = {(uint64_t)n};
    lm_gguf_add_tensor(w, name, 1, ne, LM_GGML_F32, x, LM_GGML_F32);
}

/* Each tensor's GGUF type: convert's one type, or quantize's mixture. */
typedef struct picker {
    lm_ggml_type type;
    lm_quant_mix *mix; /* NULL: every matrix `type` */
} picker;

/* A matrix [rows, cols] as ne = {cols, rows}. Q8_0 needs rows of whole blocks
 * of 32; a matrix whose rows are not (stories260K's hidden_dim 172) is written
 * as F16 instead, as llama.cpp's convert_hf_to_gguf does. */
static void add_matrix(lm_gguf_writer *w, const char *name, const lm_matrix *x, picker *p) {
    uint64_t ne[2] = {(uint64_t)x->cols, (uint64_t)x->rows};
    lm_ggml_type t = p->type;
    if (p->mix) t = lm_quant_mix_pick(p->mix, name, 2, ne[0]);
    if (x->cols % lm_gguf_block_values(t)) t = LM_GGML_F16;
    lm_gguf_add_tensor(w, name, 2, ne, t, x->f32, LM_GGML_F32);
}

static void add_tensors(lm_gguf_writer *w, const lm_model *m, picker *t) {
    static const struct {
        const char *name;
        size_t at;
    } mats[] = {{"attn_q", offsetof(lm_layer, wq)},   {"attn_k", offsetof(lm_layer, wk)},
                {"attn_v", offsetof(lm_layer, wv)},   {"attn_output", offsetof(lm_layer, wo)},
                {"ffn_gate", offsetof(lm_layer, w1)}, {"ffn_down", offsetof(lm_layer, w2)},
                {"ffn_up", offsetof(lm_layer, w3)}};
    const int dim = m->c->dim;
    char name[64];
    add_matrix(w, "token_embd.weight", &m->tok_emb, t);
    for (int l = 0; l < m->c->n_layers; l++) {
        const lm_layer *L = &m->layers[l];
        snprintf(name, sizeof name, "blk.%d.attn_norm.weight", l);
        add_vector(w, name, L->rms_att, dim);
        for (size_t k = 0; k < sizeof mats / sizeof mats[0]; k++) {
            if (k == 4) {
                snprintf(name, sizeof name, "blk.%d.ffn_norm.weight", l);
                add_vector(w, name, L->rms_ffn, dim);
            }
            snprintf(name, sizeof name, "blk.%d.%s.weight", l, mats[k].name);
            add_matrix(w, name, (const lm_matrix *)((const char *)L + mats[k].at), t);
        }
    }
    add_vector(w, "output_norm.weight", m->rms_final, dim);
    if (!m->info.shared_classifier) add_matrix(w, "output.weight", &m->classifier, t);
}

/* The output may be neither input: lm_out_begin checks the checkpoint, this
 * the tokenizer (a hard link or the same path: same device and inode). */
static int check_not_tokenizer(const char *out, const struct stat *tok, lm_error *err) {
    struct stat st;
    if (stat(out, &st) == 0 && st.st_dev == tok->st_dev && st.st_ino == tok->st_ino)
        return lm_fail(err, "%s: is the input tokenizer; write to another path", out);
    return 0;
}

static int write_gguf(lm_gguf_writer *w, const lm_model *m, const char *out, const struct stat *tok,
                      lm_progress_fn *progress, void *arg, const lm_cancel_flag *cancel,
                      lm_error *err) {
    if (check_not_tokenizer(out, tok, err)) return -1;
    return lm_gguf_write_out(w, out, m->file_dev, m->file_ino, progress, arg, cancel, err);
}

static int check_input(const lm_model *m, const char *in, lm_convert_type type, lm_error *err) {
    if ((unsigned)type > LM_CONVERT_Q8_0) return lm_fail(err, "unknown GGUF type %d", (int)type);
    if (m->info.format != LM_FORMAT_V0 && m->info.format != LM_FORMAT_V1)
        return lm_fail(err,
                       "%s: a Q8_0 (v2) checkpoint; convert its fp32 original (v0/v1) instead "
                       "(GGUF's Q8_0 has fp16 scales and blocks of 32, so v2's f32 scales "
                       "cannot carry over exactly)",
                       in);
    return 0;
}

/* A llama2.c v0/v1 checkpoint as GGUF: every matrix of `type`, or (quant not
 * NULL) of llama-quantize's mixture for that file type. */
static int bin_to_gguf(const char *in, const char *tokenizer, const char *out, lm_convert_type type,
                       const lm_quant_type *quant, lm_progress_fn *progress, void *arg,
                       const lm_cancel_flag *cancel, lm_error *err) {
    if (!tokenizer)
        return lm_fail(err, "%s needs the model's tokenizer.bin", quant ? "quantize" : "convert");
    lm_model *m = lm_model_map(in, err);
    if (!m) return -1;
    vocab v = {0};
    struct stat tok;
    int rc = -1;
    lm_gguf_writer *w = NULL;
    if (check_input(m, in, type, err) == 0 &&
        read_vocab(tokenizer, m->c->vocab_size, &v, &tok, err) == 0 &&
        (w = lm_gguf_writer_new(32, err))) {
        lm_quant_mix mix;
        picker p = {gguf_type(type), NULL};
        if (quant) {
            lm_quant_mix_init(&mix, *quant, m->c->n_layers, m->info.shared_classifier);
            p.mix = &mix;
        }
        add_config(w, m, in, quant ? lm_quant_file_type(*quant) : file_type(type));
        add_vocab(w, &v);
        add_tensors(w, m, &p);
        rc = write_gguf(w, m, out, &tok, progress, arg, cancel, err);
    }
    vocab_free(&v);
    lm_gguf_writer_free(w);
    lm_model_free(m);
    return rc;
}

int lm_convert_file(const char *in, const char *tokenizer, const char *out, lm_convert_type type,
                    lm_progress_fn *progress, void *arg, const lm_cancel_flag *cancel,
                    lm_error *err) {
    return bin_to_gguf(in, tokenizer, out, type, NULL, progress, arg, cancel, err);
}

/* lm_quantize_gguf: as lm_convert_file, each tensor of the mixture's type. */
int lm_quantize_gguf(const char *in, const char *tokenizer, const char *out, lm_quant_type type,
                     lm_progress_fn *progress, void *arg, const lm_cancel_flag *cancel,
                     lm_error *err) {
    if ((unsigned)type > LM_QUANT_Q6_K)
        return lm_fail(err, "unknown quantization type %d", (int)type);
    if (lm_file_is_gguf(in))
        return lm_quantize_from_gguf(in, out, type, progress, arg, cancel, err);
    return bin_to_gguf(in, tokenizer, out, LM_CONVERT_F32, &type, progress, arg, cancel, err);
}
