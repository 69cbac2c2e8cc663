/* The vocabulary in a GGUF file's metadata (src/FORMATS.md, "GGUF
 * vocabulary"): tokenizer.ggml.* read with llama.cpp's defaults, checked
 * key by key, and handed to lm_tokenizer_from_vocab as plain arrays. */
#include <ctype.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file.h"
#include "gguf.h"
#include "internal.h"
#include "vocab.h"

#define MAX_VOCAB (1 << 24) /* tokenizer.c's limit */

/* The vocabulary kind: SentencePiece ("llama") or byte-level BPE ("gpt2",
 * *bpe set). */
static int check_model(const lm_gguf *g, int *bpe, lm_error *err) {
    const char *name = lm_gguf_name(g);
    lm_gguf_str kind;
    char shown[LM_GGUF_SHOW_BYTES];
    int rc = lm_gguf_get_str(g, "tokenizer.ggml.model", &kind, err);
    if (rc < 0) return -1;
    if (rc == 1)
        return lm_fail(
            err, "%s: tokenizer.ggml.model: missing (the file has no vocabulary; give one with -z)",
            name);
    if (kind.n == 5 && memcmp(kind.p, "llama", 5) == 0) return 0;
    if (kind.n == 4 && memcmp(kind.p, "gpt2", 4) == 0) return *bpe = 1, 0;
    if ((kind.n == 8 && memcmp(kind.p, "no_vocab", 8) == 0) ||
        (kind.n == 4 && memcmp(kind.p, "none", 4) == 0))
        return lm_fail(
            err,
            "%s: tokenizer.ggml.model is \"%s\": the file has no vocabulary (give one with -z)",
            name, lm_gguf_show(kind, shown));
    return lm_fail(err,
                   "%s: tokenizer.ggml.model \"%s\" is not supported (lamina reads SentencePiece "
                   "vocabularies, \"llama\", and byte-level BPE ones, \"gpt2\")",
                   name, lm_gguf_show(kind, shown));
}

/* A special token id: *id keeps its default when the key is absent. */
/* A special token's id. 0xFFFFFFFF (or a signed -1) means "none": llama.cpp
 * writes it so (llama-convert-llama2c-to-ggml's padding_token_id). */
static int get_id(const lm_gguf *g, const char *key, int n, int *id, lm_error *err) {
    uint32_t v;
    int32_t s;
    lm_error ignored;
    int rc = lm_gguf_get_u32(g, key, &v, &ignored);
    if (rc < 0 && lm_gguf_get_i32(g, key, &s, &ignored) == 0 && s == -1) rc = 0, v = UINT32_MAX;
    if (rc < 0) return lm_gguf_get_u32(g, key, &v, err); /* the getter's own message */
    if (rc == 0 && v == UINT32_MAX) {
        *id = -1;
        return 0;
    }
    if (rc == 0 && v >= (uint32_t)n)
        return lm_fail(err, "%s: %s %u is out of range (%d tokens)", lm_gguf_name(g), key, v, n);
    if (rc == 0) *id = (int)v;
    return 0;
}

static int get_flag(const lm_gguf *g, const char *key, int *flag, lm_error *err) {
    return lm_gguf_get_bool(g, key, flag, err) < 0 ? -1 : 0;
}

/* llama.cpp's rule by name: general.name containing "phi-3" or "phi3" (any
 * case) makes user-defined tokens swallow the white space after them. */
static int is_phi3(const lm_gguf *g) {
    lm_gguf_str name;
    lm_error ignored;
    if (lm_gguf_get_str(g, "general.name", &name, &ignored) != 0) return 0;
    for (uint64_t i = 0; i + 4 <= name.n; i++) {
        char c[5];
        for (int k = 0; k < 5; k++)
            c[k] = i + (uint64_t)k < name.n ? (char)tolower((unsigned char)name.p[i + k]) : 0;
        if (!memcmp(c, "phi3", 4) || !memcmp(c, "phi-3", 5)) return 1;
    }
    return 0;
}

/* llama.cpp's defaults for "llama": BOS 1, EOS 2, UNK 0 (where in range), a
 * BOS added, no EOS, the dummy prefix on. */
static int get_specials(const lm_gguf *g, lm_vocab_def *v, lm_error *err) {
    v->bos = v->n > 1 ? 1 : -1;
    v->eos = v->n > 2 ? 2 : -1;
    v->unk = 0;
    v->pad = v->eot = v->eom = -1;
    v->add_bos = 1;
    v->add_eos = 0;
    v->add_space_prefix = 1;
    if (v->bpe) { /* llama.cpp's for "gpt2": BOS and EOS 11, BOS as the pre-tokenizer says */
        v->bos = v->eos = v->n > 11 ? 11 : -1;
        v->unk = -1;
        v->add_bos = v->pre && lm_bpe_pre_add_bos(v->pre, v->pre_len) && v->bos >= 0;
        v->add_space_prefix = 0;
    }
    v->rstrip_user = is_phi3(g);
    lm_gguf_str tmpl;
    int rc = lm_gguf_get_str(g, "tokenizer.chat_template", &tmpl, err);
    if (rc < 0) return -1;
    if (rc == 0) {
        if (memchr(tmpl.p, 0, tmpl.n))
            return lm_fail(err, "%s: tokenizer.chat_template holds a NUL byte", lm_gguf_name(g));
        v->chat_template = tmpl.p;
        v->chat_template_len = tmpl.n;
    }
    if (get_id(g, "tokenizer.ggml.bos_token_id", v->n, &v->bos, err) ||
        get_id(g, "tokenizer.ggml.eos_token_id", v->n, &v->eos, err) ||
        get_id(g, "tokenizer.ggml.unknown_token_id", v->n, &v->unk, err) ||
        get_id(g, "tokenizer.ggml.padding_token_id", v->n, &v->pad, err) ||
        get_id(g, "tokenizer.ggml.eot_token_id", v->n, &v->eot, err) ||
        get_id(g, "tokenizer.ggml.eom_token_id", v->n, &v->eom, err))
        return -1;
    return get_flag(g, "tokenizer.ggml.add_bos_token", &v->add_bos, err) ||
                   get_flag(g, "tokenizer.ggml.add_eos_token", &v->add_eos, err) ||
                   get_flag(g, "tokenizer.ggml.add_space_prefix", &v->add_space_prefix, err)
               ? -1
               : 0;
}

/* An optional array with one element per token, of an accepted type. */
static int get_per_token(const lm_gguf *g, const char *key, int n, int want1, int want2,
                         const lm_gguf_kv **kv, lm_error *err) {
    *kv = NULL;
    int rc = lm_gguf_get_arr(g, key, -1, kv, err);
    if (rc) return rc < 0 ? -1 : 0;
    if ((int)(*kv)->elem_type != want1 && (int)(*kv)->elem_type != want2)
        return lm_fail(err, "%s: %s: elements are %s, expected %s", lm_gguf_name(g), key,
                       lm_gguf_vtype_name((*kv)->elem_type), lm_gguf_vtype_name((uint32_t)want1));
    if ((*kv)->count != (uint64_t)n)
        return lm_fail(err, "%s: %s: %llu entries for %d tokens", lm_gguf_name(g), key,
                       (unsigned long long)(*kv)->count, n);
    return 0;
}

typedef struct arrays {
    const char **piece;
    int *len, *type;
    float *score;
    const char **merge;
    int *merge_len;
} arrays;

static void arrays_free(arrays *a) {
    free(a->merge);
    free(a->merge_len);
    free(a->piece);
    free(a->len);
    free(a->type);
    free(a->score);
}

static int get_tokens(const lm_gguf *g, lm_vocab_def *v, arrays *a, lm_error *err) {
    const char *name = lm_gguf_name(g);
    const lm_gguf_kv *kv;
    int rc = lm_gguf_get_arr(g, "tokenizer.ggml.tokens", -1, &kv, err);
    if (rc < 0) return -1;
    if (rc == 1) return lm_fail(err, "%s: tokenizer.ggml.tokens: missing", name);
    if (kv->elem_type != LM_GGUF_STRING)
        return lm_fail(err, "%s: tokenizer.ggml.tokens: elements are %s, expected string", name,
                       lm_gguf_vtype_name(kv->elem_type));
    if (kv->count < 1 || kv->count > MAX_VOCAB)
        return lm_fail(err, "%s: tokenizer.ggml.tokens: %llu tokens (1..%d)", name,
                       (unsigned long long)kv->count, MAX_VOCAB);
    v->n = (int)kv->count;
    a->piece = malloc((size_t)v->n * sizeof *a->piece);
    a->len = malloc((size_t)v->n * sizeof *a->len);
    if (!a->piece || !a->len) return lm_fail(err, "%s: out of memory for %d tokens", name, v->n);
    lm_gguf_iter it = lm_gguf_strings(kv);
    lm_gguf_str s;
    for (int i = 0; i < v->n && lm_gguf_next_str(&it, &s); i++) {
        a->piece[i] = s.p;
        a->len[i] = s.n > INT_MAX ? INT_MAX : (int)s.n; /* lm_tokenizer_from_vocab refuses it */
    }
    return 0;
}

static int get_scores(const lm_gguf *g, lm_vocab_def *v, arrays *a, lm_error *err) {
    const lm_gguf_kv *kv;
    if (get_per_token(g, "tokenizer.ggml.scores", v->n, LM_GGUF_F32, LM_GGUF_I32, &kv, err))
        return -1;
    if (!kv) return 0; /* all 0, as llama.cpp */
    if (!(a->score = malloc((size_t)v->n * sizeof *a->score)))
        return lm_fail(err, "%s: out of memory for %d tokens", lm_gguf_name(g), v->n);
    for (int i = 0; i < v->n; i++) {
        int64_t x = 0;
        if (kv->elem_type == LM_GGUF_F32)
            lm_gguf_arr_f32(kv, (uint64_t)i, &a->score[i]);
        else if (!lm_gguf_arr_int(kv, (uint64_t)i, &x))
            a->score[i] = (float)x;
    }
    return 0;
}

static int get_types(const lm_gguf *g, lm_vocab_def *v, arrays *a, lm_error *err) {
    const lm_gguf_kv *kv;
    if (get_per_token(g, "tokenizer.ggml.token_type", v->n, LM_GGUF_I32, LM_GGUF_I32, &kv, err))
        return -1;
    if (!kv) return 0; /* all normal */
    if (!(a->type = malloc((size_t)v->n * sizeof *a->type)))
        return lm_fail(err, "%s: out of memory for %d tokens", lm_gguf_name(g), v->n);
    for (int i = 0; i < v->n; i++) {
        int64_t x = 0;
        lm_gguf_arr_int(kv, (uint64_t)i, &x);
        a->type[i] = (int)x; /* an I32 fits */
    }
    return 0;
}

/* Byte-level BPE: tokenizer.ggml.pre (a name vocab_bpe.c checks) and
 * tokenizer.ggml.merges (strings, by rank). */
static int get_bpe(const lm_gguf *g, lm_vocab_def *v, arrays *a, lm_error *err) {
    const char *name = lm_gguf_name(g);
    lm_gguf_str pre;
    int rc = lm_gguf_get_str(g, "tokenizer.ggml.pre", &pre, err);
    if (rc < 0) return -1;
    if (rc == 0) v->pre = pre.p, v->pre_len = pre.n;
    const lm_gguf_kv *kv;
    rc = lm_gguf_get_arr(g, "tokenizer.ggml.merges", -1, &kv, err);
    if (rc < 0) return -1;
    if (rc == 1)
        return lm_fail(err, "%s: tokenizer.ggml.merges: missing (a BPE vocabulary needs them)",
                       name);
    if (kv->elem_type != LM_GGUF_STRING)
        return lm_fail(err, "%s: tokenizer.ggml.merges: elements are %s, expected string", name,
                       lm_gguf_vtype_name(kv->elem_type));
    if (kv->count > MAX_VOCAB * 4ULL)
        return lm_fail(err, "%s: tokenizer.ggml.merges: %llu merges (at most %d)", name,
                       (unsigned long long)kv->count, MAX_VOCAB * 4);
    v->n_merges = (int)kv->count;
    a->merge = malloc(((size_t)v->n_merges + 1) * sizeof *a->merge);
    a->merge_len = malloc(((size_t)v->n_merges + 1) * sizeof *a->merge_len);
    if (!a->merge || !a->merge_len)
        return lm_fail(err, "%s: out of memory for %d merges", name, v->n_merges);
    lm_gguf_iter it = lm_gguf_strings(kv);
    lm_gguf_str s;
    for (int i = 0; i < v->n_merges && lm_gguf_next_str(&it, &s); i++) {
        if (s.n > 1 << 20)
            return lm_fail(err, "%s: tokenizer.ggml.merges[%d] is %llu bytes long", name, i,
                           (unsigned long long)s.n);
        a->merge[i] = s.p;
        a->merge_len[i] = (int)s.n;
    }
    v->merge = a->merge, v->merge_len = a->merge_len;
    return 0;
}

lm_tokenizer *lm_tokenizer_from_gguf(const lm_gguf *g, int vocab_size, lm_error *err) {
    lm_vocab_def v = {.name = lm_gguf_name(g)};
    arrays a = {0};
    lm_tokenizer *tok = NULL;
    if (!check_model(g, &v.bpe, err) && !get_tokens(g, &v, &a, err) &&
        !get_scores(g, &v, &a, err) && !get_types(g, &v, &a, err) &&
        !(v.bpe && get_bpe(g, &v, &a, err)) && !get_specials(g, &v, err)) {
        v.piece = a.piece, v.len = a.len, v.score = a.score, v.type = a.type;
        if (vocab_size > 0 && v.n != vocab_size)
            lm_fail(err,
                    "%s: tokenizer.ggml.tokens holds %d tokens, but the model's vocab_size is %d",
                    v.name, v.n, vocab_size);
        else
            tok = lm_tokenizer_from_vocab(&v, err);
    }
    arrays_free(&a);
    return tok;
}

lm_tokenizer *lm_tokenizer_gguf_memory(const void *data, size_t size, const char *name,
                                       int vocab_size, lm_error *err) {
    lm_gguf *g = lm_gguf_parse(data, size, name, err);
    if (!g) return NULL;
    lm_tokenizer *tok = lm_tokenizer_from_gguf(g, vocab_size, err);
    lm_gguf_free(g);
    return tok;
}

/* Mapped, not read: a model's metadata is a few MB at the start of a file of
 * many GB, and only the pages parsed are touched. */
lm_tokenizer *lm_tokenizer_gguf_file(const char *path, int vocab_size, lm_error *err) {
    struct stat st;
    int fd = lm_open_regular(path, "GGUF file", &st, err);
    if (fd < 0) return NULL;
    size_t size = (size_t)st.st_size;
    void *map = size ? mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
    close(fd);
    if (map == MAP_FAILED) {
        lm_fail(err, "%s: cannot map the GGUF file (%zu bytes)", path, size);
        return NULL;
    }
    lm_tokenizer *tok = lm_tokenizer_gguf_memory(map, size, path, vocab_size, err);
    munmap(map, size);
    return tok;
}
