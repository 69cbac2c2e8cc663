/* Format sniffing (sniff.h): what a file is, from its first bytes. */
#include "sniff.h"

#include <limits.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "file.h"
#include "gguf.h"
#include "internal.h"

static int32_t i32_at(const uint8_t *p) {
    int32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* A llama2.c tokenizer.bin: max_token_length, then <unk>'s entry. */
static int looks_like_tokenizer(const uint8_t *p, uint64_t n) {
    if (n < 4 + 8 + 5) return 0;
    int32_t max_len = i32_at(p), len = i32_at(p + 8);
    float score;
    memcpy(&score, p + 4, sizeof score);
    return max_len > 0 && max_len <= 65536 && isfinite(score) && len == 5 &&
           memcmp(p + 12, "<unk>", 5) == 0;
}

/* A sentencepiece ModelProto: field 1 (pieces), length-delimited, whose own
 * field 1 is the first piece's text, "<unk>" in Llama's models. */
static int looks_like_sentencepiece(const uint8_t *p, uint64_t n) {
    uint64_t i = 1;
    if (n < 16 || p[0] != 0x0a) return 0;
    while (i < 6 && (p[i] & 0x80)) i++; /* the varint length */
    i++;
    if (i + 2 >= n || p[i] != 0x0a) return 0;
    size_t head = n < 64 ? (size_t)n : 64;
    return memmem(p, head, "<unk>", 5) || memmem(p, head, "<s>", 3);
}

/* A v0 checkpoint's seven header ints are a plausible configuration. */
static int looks_like_v0(const uint8_t *p, uint64_t n) {
    if (n < 28) return 0;
    int32_t c[7];
    memcpy(c, p, sizeof c);
    int32_t vocab = c[5] < 0 && c[5] != INT32_MIN ? -c[5] : c[5];
    for (int i = 0; i < 7; i++)
        if ((i == 5 ? vocab : c[i]) <= 0) return 0;
    return c[0] <= 65536 && c[0] % c[3] == 0 && c[3] % c[4] == 0 && c[6] <= (1 << 22);
}

int lm_file_explain(const char *path, const uint8_t *p, uint64_t n, int want, lm_error *err) {
    const char *is = NULL, *hint = "";
    int checkpoint = want == LM_WANT_CHECKPOINT;
    if (n >= 8 && (uint32_t)i32_at(p) == LM_MAGIC && !checkpoint) {
        is = "a llama2.c checkpoint, not a tokenizer";
        hint = " (give the checkpoint as the model and its tokenizer.bin with -z)";
    } else if (lm_gguf_is(p, n)) {
        is = "a GGUF file (llama.cpp)";
        hint = "; lamina reads llama2.c's checkpoints and tokenizer.bin";
    } else if (n >= 4 && memcmp(p, "PK\x03\x04", 4) == 0) {
        is = "a zip archive (a PyTorch .pt/.pth file?)";
        hint = "; export it with llama2.c's export.py first";
    } else if (n >= 10 && p[8] == '{' && p[9] == '"') {
        is = "a safetensors file";
        hint = "; export it with llama2.c's export.py first";
    } else if (looks_like_sentencepiece(p, n)) {
        is = "a sentencepiece .model file";
        hint = checkpoint
                   ? ", not a checkpoint"
                   : ", not a llama2.c tokenizer.bin (convert it with llama2.c's tokenizer.py)";
    } else if (checkpoint && looks_like_tokenizer(p, n)) {
        is = "a llama2.c tokenizer, not a checkpoint";
        hint = " (give it with -z, and the checkpoint as the model)";
    } else if (!checkpoint && looks_like_v0(p, n)) {
        is = "a llama2.c checkpoint (v0), not a tokenizer";
        hint = " (give the checkpoint as the model and its tokenizer.bin with -z)";
    }
    if (!is) return 0;
    lm_fail(err, LM_SHOWN_FMT ": this is %s%s", LM_SHOWN(path), is, hint);
    return 1;
}

/* Opened as every input is (regular files only, never blocking on a FIFO). */
int lm_file_is_gguf(const char *path) {
    unsigned char head[4];
    struct stat st;
    lm_error ignored;
    int fd = path ? lm_open_regular(path, "file", &st, &ignored) : -1;
    int yes = fd >= 0 && read(fd, head, 4) == 4 && lm_gguf_is(head, 4);
    if (fd >= 0) close(fd);
    return yes;
}
