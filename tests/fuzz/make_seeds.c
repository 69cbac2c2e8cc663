/* Writes the seed corpora of the fuzz targets into OUT/<target>/ and checks
 * that each seed is what it claims: every checkpoint loads with its format
 * (v0, v1, v2, including a v2 whose scales are misaligned and one whose groups
 * straddle the rows of w2) and runs a forward step, every tokenizer loads.
 * The real files from tests/data are added by CMake beside these.
 *
 * usage: make_seeds OUT */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lamina.h"
#include "wimage_model.h"

static const char *out_dir;
static int failures;

#define FAIL(...)                                                                                  \
    do {                                                                                           \
        fprintf(stderr, "make_seeds: " __VA_ARGS__);                                               \
        fputc('\n', stderr);                                                                       \
        failures++;                                                                                \
    } while (0)

/* ---- a growable byte buffer -------------------------------------------- */

typedef struct buf {
    uint8_t *p;
    size_t n, cap;
} buf;

static void put(buf *b, const void *src, size_t n) {
    if (n == 0) return;
    if (b->n + n > b->cap) {
        while (b->n + n > b->cap) b->cap = b->cap ? 2 * b->cap : 4096;
        b->p = realloc(b->p, b->cap);
        if (!b->p) abort();
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}

static void put_i32(buf *b, int32_t v) { put(b, &v, 4); }
static void put_f32(buf *b, float v) { put(b, &v, 4); }

static char *seed_path(const char *target, const char *name) {
    static char path[4096];
    snprintf(path, sizeof path, "%s/%s", out_dir, target);
    mkdir(out_dir, 0755);
    if (mkdir(path, 0755) && errno != EEXIST) FAIL("cannot create %s", path);
    snprintf(path, sizeof path, "%s/%s/%s", out_dir, target, name);
    return path;
}

static void write_seed(const char *target, const char *name, const void *data, size_t n) {
    const char *path = seed_path(target, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, n, f) != n || fclose(f)) FAIL("cannot write %s", path);
}

/* ---- tiny checkpoints --------------------------------------------------- */

static uint64_t rng = 0x853c49e6748fea9bull;

static float rnd(void) { /* uniform in [-0.5, 0.5) */
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return (float)((rng * 0x2545F4914F6CDD1Dull) >> 40) / 16777216.0f - 0.5f;
}

static void put_random_f32(buf *b, uint64_t n) {
    for (uint64_t i = 0; i < n; i++) put_f32(b, rnd());
}

static void put_ones(buf *b, uint64_t n) {
    for (uint64_t i = 0; i < n; i++) put_f32(b, 1.0f);
}

/* One Q8_0 tensor: n int8 values, then n / gs scales (max|w| / 127 per group). */
static void put_q8(buf *b, uint64_t n, int gs) {
    float *w = malloc(n * sizeof *w), *s = malloc(n / gs * sizeof *s);
    int8_t *q = malloc(n);
    for (uint64_t i = 0; i < n; i++) w[i] = rnd();
    for (uint64_t g = 0; g < n / gs; g++) {
        float m = 0;
        for (int j = 0; j < gs; j++) m = fmaxf(m, fabsf(w[g * gs + j]));
        s[g] = m / 127.0f;
        for (int j = 0; j < gs; j++)
            q[g * gs + j] = (int8_t)(s[g] > 0 ? roundf(w[g * gs + j] / s[g]) : 0);
    }
    put(b, q, n);
    put(b, s, n / gs * sizeof *s);
    free(w);
    free(s);
    free(q);
}

typedef struct tiny {
    const char *name;
    int version, shared, gs;
    lm_config c;
} tiny;

static void put_header(buf *b, const tiny *t) {
    uint8_t h[256] = {0};
    uint32_t magic = 0x616b3432u;
    int32_t version = t->version;
    memcpy(h, &magic, 4);
    memcpy(h + 4, &version, 4);
    memcpy(h + 8, &t->c, 28);
    h[36] = (uint8_t)t->shared;
    if (t->version == 2) memcpy(h + 37, &t->gs, 4);
    put(b, h, sizeof h);
}

static buf build_checkpoint(const tiny *t) {
    const lm_config *c = &t->c;
    uint64_t L = (uint64_t)c->n_layers, dim = (uint64_t)c->dim, hid = (uint64_t)c->hidden_dim;
    uint64_t hs = dim / (uint64_t)c->n_heads, kv = (uint64_t)c->n_kv_heads * hs;
    uint64_t vocab = (uint64_t)c->vocab_size;
    /* per-layer matrices in file order: wq, wk, wv, wo, w1, w2, w3 */
    const uint64_t mats[7] = {dim * dim, kv * dim,  kv * dim, dim * dim,
                              hid * dim, dim * hid, hid * dim};
    buf b = {0};
    if (t->version == 0) {
        lm_config h = *c;
        if (!t->shared) h.vocab_size = -h.vocab_size;
        put(&b, &h, 28);
        put_random_f32(&b, vocab * dim);
        put_ones(&b, L * dim);
        for (int k = 0; k < 4; k++) put_random_f32(&b, L * mats[k]);
        put_ones(&b, L * dim);
        for (int k = 4; k < 7; k++) put_random_f32(&b, L * mats[k]);
        put_ones(&b, dim);
        put_random_f32(&b, (uint64_t)c->seq_len * hs); /* the two RoPE tables */
        if (!t->shared) put_random_f32(&b, vocab * dim);
        return b;
    }
    put_header(&b, t);
    put_ones(&b, 2 * L * dim + dim); /* rms_att, rms_ffn, rms_final */
    if (t->version == 1) {
        put_random_f32(&b, vocab * dim);
        for (int k = 0; k < 7; k++) put_random_f32(&b, L * mats[k]);
        if (!t->shared) put_random_f32(&b, vocab * dim);
    } else {
        put_q8(&b, vocab * dim, t->gs);
        for (int k = 0; k < 7; k++)
            for (uint64_t l = 0; l < L; l++) put_q8(&b, mats[k], t->gs);
        if (!t->shared) put_q8(&b, vocab * dim, t->gs);
    }
    return b;
}

static void check_checkpoint(const char *path, const tiny *t) {
    lm_error err;
    lm_model *m = lm_model_load(path, &err);
    if (!m) {
        FAIL("%s does not load: %s", t->name, err.msg);
        return;
    }
    lm_model_info i = lm_model_get_info(m);
    if ((int)i.format != t->version || i.shared_classifier != t->shared ||
        (t->version == 2 && i.group_size != t->gs))
        FAIL("%s loads as v%d shared %d gs %d", t->name, (int)i.format, i.shared_classifier,
             i.group_size);
    lm_context *ctx = lm_context_new(m, (lm_context_params){1, 1, NULL}, &err);
    if (!ctx) {
        FAIL("%s: no context: %s", t->name, err.msg);
    } else {
        int token = t->c.vocab_size - 1;
        const float *logits = lm_forward(ctx, &token, 1, 0);
        if (!logits || !isfinite(logits[0])) FAIL("%s: forward failed", t->name);
        lm_context_free(ctx);
    }
    lm_model_free(m);
}

static void checkpoints(void) {
    const lm_config small = {8, 12, 2, 2, 1, 16, 8}; /* GQA: 2 heads share 1 kv head */
    const tiny models[] = {
        {"v0_shared.bin", 0, 1, 0, small},
        {"v0_unshared.bin", 0, 0, 0, small},
        {"v0_seq1.bin", 0, 1, 0, {8, 12, 1, 2, 2, 16, 1}},
        {"v1_shared.bin", 1, 1, 0, small},
        {"v1_unshared.bin", 1, 0, 0, small},
        {"v1_mha.bin", 1, 1, 0, {16, 24, 1, 4, 4, 8, 4}},
        /* gs 8: w2 rows of 12 values straddle groups (src/FORMATS.md: flat groups) */
        {"v2_gs8.bin", 2, 1, 8, small},
        {"v2_gs4_unshared.bin", 2, 0, 4, small},
        /* 10 int8 values before the first scales: misaligned, copied by the loader */
        {"v2_misaligned.bin", 2, 1, 2, {2, 3, 1, 1, 1, 5, 4}},
    };
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
        buf b = build_checkpoint(&models[i]);
        write_seed("checkpoint", models[i].name, b.p, b.n);
        check_checkpoint(seed_path("checkpoint", models[i].name), &models[i]);
        free(b.p);
    }
}

/* ---- tiny tokenizers ---------------------------------------------------- */

static void put_piece(buf *b, float score, const char *s, int len) {
    put_f32(b, score);
    put_i32(b, len);
    put(b, s, (size_t)len);
}

static void put_specials(buf *b, int bytes) {
    put_piece(b, 0, "<unk>", 5);
    put_piece(b, 0, "\n<s>\n", 5);
    put_piece(b, 0, "\n</s>\n", 6);
    for (int i = 0; bytes && i < 256; i++) {
        char s[8];
        snprintf(s, sizeof s, "<0x%02X>", i);
        put_piece(b, 0, s, 6);
    }
}

static void put_word(buf *b, float score, const char *s) { put_piece(b, score, s, (int)strlen(s)); }

static void check_tokenizer(const char *name, int expect_n) {
    lm_error err;
    lm_tokenizer *tok = lm_tokenizer_load(seed_path("tokenizer", name), 0, &err);
    if (!tok)
        FAIL("%s does not load: %s", name, err.msg);
    else if (lm_tokenizer_vocab_size(tok) != expect_n)
        FAIL("%s holds %d tokens, not %d", name, lm_tokenizer_vocab_size(tok), expect_n);
    lm_tokenizer_free(tok);
}

static void tokenizers(void) {
    /* the specials and 256 byte tokens: the fuzz target's fixed size, 259 */
    buf b = {0};
    put_i32(&b, 7);
    put_specials(&b, 1);
    write_seed("tokenizer", "bytes259.bin", b.p, b.n);
    check_tokenizer("bytes259.bin", 259);

    /* with merges, UTF-8 pieces and ties */
    static const char *words[] = {" ",   "a",   "b",        "ab",           " a",
                                  " ab", "ab ", "\xc3\xa9", "\xe2\x96\x81", "\xf0\x9f\x98\x80",
                                  "ba",  "aa",  "aaa",      "th",           " th",
                                  "the", " the"};
    b.n = 0;
    put_i32(&b, 16);
    put_specials(&b, 1);
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        put_word(&b, -(float)(i % 5), words[i]);
    write_seed("tokenizer", "merges.bin", b.p, b.n);
    check_tokenizer("merges.bin", 259 + (int)(sizeof words / sizeof words[0]));

    /* no byte tokens: text outside the pieces cannot be encoded (a clean error) */
    b.n = 0;
    put_i32(&b, 6);
    put_specials(&b, 0);
    put_word(&b, 0, " ");
    put_word(&b, -1, "a");
    put_word(&b, -2, "b");
    put_word(&b, -3, "ab");
    write_seed("tokenizer", "nobytes.bin", b.p, b.n);
    check_tokenizer("nobytes.bin", 7);

    /* odd but valid: duplicates, an empty piece, a NUL inside a piece, byte
     * tokens out of place, lower-case hex */
    b.n = 0;
    put_i32(&b, 8);
    put_specials(&b, 0);
    put_word(&b, 1, "a");
    put_word(&b, 2, "a");
    put_piece(&b, 3, "", 0);
    put_piece(&b, 4, "a\0b", 3);
    put_word(&b, 5, "<0x41>");
    put_word(&b, 6, "<0xff>");
    put_word(&b, 7, "aa");
    write_seed("tokenizer", "odd.bin", b.p, b.n);
    check_tokenizer("odd.bin", 10);
    free(b.p);
}

/* ---- prompts and command lines ----------------------------------------- */

static void texts(void) {
    static const char *prompts[] = {
        "",
        "a",
        "hello world",
        "Once upon a time",
        "  two  spaces  ",
        "\ttab\tseparated\n",
        "It's a dog's life, isn't it?",
        "Translate English to French:\n\n        sea otter => loutre de mer",
        "\xe4\xbd\xa0\xe5\xa5\xbd\xe4\xb8\x96\xe7\x95\x8c", /* CJK */
        "\xf0\x9f\x98\x80\xf0\x9f\x91\x8d emoji",           /* 4-byte code points */
        "caf\xc3\xa9 na\xc3\xafve \xe2\x82\xac 100",        /* Latin-1 range, euro */
        "\xff\xfe\x80 stray bytes \xc3",                    /* invalid and truncated */
        "\xc0\xaf\xe0\x80\xaf overlong \xed\xa0\x80 surrogate \xf4\x90\x80\x80 beyond",
        "<s> </s> <unk> <0x41> literal specials",
        "[INST] <<SYS>>\nYou are helpful.\n<</SYS>>\n\nHi there [/INST]",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "1234567890 3.14159 0x7fffffff",
    };
    for (size_t i = 0; i < sizeof prompts / sizeof prompts[0]; i++) {
        char name[32];
        snprintf(name, sizeof name, "prompt%02zu", i);
        write_seed("prompt", name, prompts[i], strlen(prompts[i]));
    }

    static const char *const cmds[][12] = {
        {"models/kjv1m.bin", "-n", "16", "-t", "0.5", "-p", "0.9", "-s", "42", NULL},
        {"-i", "And it came to pass", "-n", "0", "--threads", "2", "--isa", "scalar", NULL},
        {"model.bin", "-m", "chat", "-y", "system prompt", "-z", "tok.bin", NULL},
        {"--temperature", "1e-3", "--top-p", "1", "--seed", "18446744073709551615", NULL},
        {"--steps", "1073741824", "--prompt", "", "--mode", "generate", NULL},
        {"tokenize", "-z", "tokenizer.bin", "hello world", NULL},
        {"info", "models/kjv1m.q80.bin", NULL},
        {"bench", "--help", "-n", "3", NULL},
        {"--version", NULL},
        {"-h", NULL},
        {"-n", NULL},
        {"-t", "nan", NULL},
        {"-n", "2.5", NULL},
        {"a.bin", "b.bin", NULL},
        {"-", "-x", NULL},
        {"--tokenizer", "t.bin", "--system", "s", "--isa", "avx512vnni", NULL},
    };
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        buf b = {0};
        for (int k = 0; cmds[i][k]; k++) {
            if (k) put(&b, "", 1);
            put(&b, cmds[i][k], strlen(cmds[i][k]));
        }
        char name[32];
        snprintf(name, sizeof name, "argv%02zu", i);
        write_seed("args", name, b.p, b.n);
        free(b.p);
    }
}

/* ---- chat input and option numbers --------------------------------------- */

static void chat_and_numbers(void) {
    static const char *chats[] = {
        "\x20Who is the LORD?\n\nAnd who is Moses?\nWhat is the law?\n",
        "\xe0Hello there\nsecond turn\r\nthird turn without a newline",
        "\x08\n\n\n\r\n",
        "\x3f"
        "a very long line that cannot fit in a small context, repeated, repeated, "
        "repeated, repeated, repeated, repeated, repeated, repeated, repeated\n",
        "\x41\x00nul\x00bytes\n\xff\xfe invalid utf-8\n",
        "\xc0",
    };
    for (size_t i = 0; i < sizeof chats / sizeof chats[0]; i++) {
        char name[32];
        snprintf(name, sizeof name, "chat%02zu", i);
        write_seed("chat", name, chats[i], strlen(chats[i]) + (i == 5));
    }
    static const char *numbers[] = {"0",
                                    "+5",
                                    "-0",
                                    "-3",
                                    "12x",
                                    "1e3",
                                    "0x10",
                                    "1e309",
                                    "1e-50",
                                    "1e-400",
                                    ".5",
                                    "5.",
                                    "-.5e+2",
                                    "inf",
                                    "nan",
                                    " 1",
                                    "1 ",
                                    "",
                                    "+",
                                    "e5",
                                    "1e",
                                    "1e+",
                                    "18446744073709551615",
                                    "18446744073709551616",
                                    "1073741824",
                                    "1073741825",
                                    "3.4028235e38",
                                    "3.5e38",
                                    "0.9",
                                    "1.0000000000000001"};
    for (size_t i = 0; i < sizeof numbers / sizeof numbers[0]; i++) {
        char name[32];
        snprintf(name, sizeof name, "number%02zu", i);
        write_seed("numbers", name, numbers[i], strlen(numbers[i]));
    }
}

/* ---- request lines (fuzz_request) ------------------------------------------- */

/* JSONL for fuzz_request: the shapes of issue 21's limits and checks, one
 * seed per shape and one with all of them (the target reads every line). */
static void requests(void) {
    static const char *lines[] = {
        /* \u0000 and raw NUL in values and field names */
        "{\"prompt\":\"And\\u0000 it came\"}",
        "{\"pro\\u0000mpt\":\"x\"}",
        "{\"prompt\":\"\\\\u0000 is text\",\"stop\":[\"\\\\\\u0000\"]}",
        "{\"messages\":[{\"role\":\"user\",\"content\":\"A\\u0000B\"}],\"id\":\"i\\u0000\"}",
        /* invalid UTF-8: a cut character, overlong, a surrogate, in a key */
        "{\"prompt\":\"caf\xC3\"}",
        "{\"prompt\":\"x\",\"id\":\"\xC0\x80\"}",
        "{\"messages\":[{\"role\":\"user\",\"content\":\"\xED\xA0\x80\"}]}",
        "{\"prompt\":\"x\",\"\xE4\xB8\":1}",
        "{\"messages\":[{\"role\":"
        "\"a\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9"
        "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9"
        "\xC3\xA9\",\"content\":\"x\"}]}",
        /* stop strings: 4 and 5, overlapping, multi-byte */
        "{\"prompt\":\"x\",\"stop\":[\"a\",\"ab\",\"bab\",\"\xE4\xB8\xAD\xE6\x96\x87\"]}",
        "{\"prompt\":\"x\",\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}",
        "{\"prompt\":\"x\",\"stop\":\"\\u00e9\\ud83d\\ude00\"}",
        /* messages out of order */
        "{\"messages\":[{\"role\":\"user\",\"content\":\"u\"},{\"role\":\"assistant\","
        "\"content\":\"a\"}]}",
        "{\"messages\":[{\"role\":\"system\",\"content\":\"s\"},{\"role\":\"system\","
        "\"content\":\"t\"},{\"role\":\"user\",\"content\":\"u\"}]}",
    };
    buf all = {0};
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        char name[32];
        snprintf(name, sizeof name, "request%02zu", i);
        write_seed("request", name, lines[i], strlen(lines[i]));
        put(&all, lines[i], strlen(lines[i]));
        put(&all, "\n", 1);
    }
    /* stop strings at the byte limit and one byte over it */
    char line[700];
    int n = snprintf(line, sizeof line, "{\"prompt\":\"x\",\"stop\":[\"");
    memset(line + n, 'a', 257);
    strcpy(line + n + 257, "\"]}");
    write_seed("request", "stop257", line, strlen(line));
    put(&all, line, strlen(line));
    put(&all, "\n", 1);
    strcpy(line + n + 256, "\"]}");
    write_seed("request", "stop256", line, strlen(line));
    put(&all, line, strlen(line));
    write_seed("request", "all", all.p, all.n);
    free(all.p);
}

/* Weights images of wimage_model.h's tiny model (fuzz_wimage): a valid one,
 * its header alone, and one with a panel byte changed. */
static void images(void) {
    char tmp[] = "/tmp/lamina-seeds-XXXXXX", model[64], image[4200];
    if (!mkdtemp(tmp)) FAIL("mkdtemp failed");
    snprintf(model, sizeof model, "%s/model.bin", tmp);
    lm_error e;
    lm_model *m = NULL;
    if (wimage_model_write(model) ||
        !(m = lm_model_load_ex(model, (lm_model_load_params){.image_dir = tmp}, &e)) ||
        lm_model_get_info(m).weights_image != LM_IMAGE_WRITTEN ||
        lm_weights_image_path(model, tmp, image, sizeof image, &e))
        FAIL("the tiny model's image was not written");
    lm_model_free(m);
    size_t n = 0;
    unsigned char *b = NULL;
    FILE *f = fopen(image, "rb");
    if (f && fseek(f, 0, SEEK_END) == 0 && (n = (size_t)ftell(f)) > 4096 && (b = malloc(n))) {
        rewind(f);
        if (fread(b, 1, n, f) == n) {
            write_seed("wimage", "valid.lmw", b, n);
            write_seed("wimage", "header.lmw", b, 4096);
            b[n / 2] ^= 0x40;
            write_seed("wimage", "panel-byte.lmw", b, n);
        }
    }
    if (!b) FAIL("cannot read %s", image);
    if (f) fclose(f);
    free(b);
    unlink(image), unlink(model), rmdir(tmp);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: make_seeds OUT\n");
        return 2;
    }
    out_dir = argv[1];
    checkpoints();
    tokenizers();
    texts();
    chat_and_numbers();
    requests();
    images();
    if (failures) fprintf(stderr, "make_seeds: %d failures\n", failures);
    return failures ? 1 : 0;
}
