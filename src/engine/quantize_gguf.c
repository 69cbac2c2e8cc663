/* lm_quantize_gguf from a GGUF file of F32, F16 or BF16 weights (the llama
 * architecture): its metadata copied as it is (general.file_type and
 * general.quantization_version set as llama-quantize sets them), each matrix
 * quantized to the mixture's type (quant_mix.c), the other tensors (norms,
 * 1-D) copied in their own type, as llama-quantize does. The input is mapped
 * and read in place; tensors stream through the writer a slice at a time. */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file.h"
#include "gguf.h"
#include "gguf_write.h"
#include "internal.h"
#include "quant_gguf.h"
#include "quant_mix.h"

static uint64_t scalar_bytes(lm_gguf_vtype t) {
    switch (t) {
    case LM_GGUF_U8:
    case LM_GGUF_I8:
    case LM_GGUF_BOOL: return 1;
    case LM_GGUF_U16:
    case LM_GGUF_I16: return 2;
    case LM_GGUF_U64:
    case LM_GGUF_I64:
    case LM_GGUF_F64: return 8;
    default: return 4;
    }
}

static uint64_t le64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

/* A value's encoding in the image (after its type): *start and its length.
 * The parser has checked every length, so the walk stays inside. */
static uint64_t raw_value(const lm_gguf_kv *kv, const uint8_t **start) {
    if (kv->type == LM_GGUF_STRING) return *start = kv->data, 8 + kv->str.n;
    if (kv->type != LM_GGUF_ARRAY) return *start = kv->data, scalar_bytes(kv->type);
    *start = kv->data - 12; /* element type (u32) and count (u64) */
    if (kv->elem_type != LM_GGUF_STRING) return 12 + kv->count * scalar_bytes(kv->elem_type);
    const uint8_t *p = kv->data;
    for (uint64_t i = 0; i < kv->count; i++) p += 8 + le64(p);
    return (uint64_t)(p - *start);
}

static int is_key(const lm_gguf_kv *kv, const char *key) {
    return kv->key.n == strlen(key) && memcmp(kv->key.p, key, kv->key.n) == 0;
}

static int copy_metadata(lm_gguf_writer *w, const lm_gguf *g, lm_quant_type type, lm_error *err) {
    char key[256];
    for (uint64_t i = 0; i < lm_gguf_n_kv(g); i++) {
        const lm_gguf_kv *kv = lm_gguf_kv_at(g, i);
        if (is_key(kv, "general.file_type") || is_key(kv, "general.quantization_version")) continue;
        if (kv->key.n >= sizeof key || memchr(kv->key.p, 0, kv->key.n))
            return lm_fail(err, "%s: a metadata key of %llu bytes", lm_gguf_name(g),
                           (unsigned long long)kv->key.n);
        memcpy(key, kv->key.p, kv->key.n);
        key[kv->key.n] = '\0';
        const uint8_t *p;
        uint64_t n = raw_value(kv, &p);
        lm_gguf_add_raw(w, key, kv->type, p, n);
    }
    lm_gguf_add_u32(w, "general.quantization_version", 2);
    lm_gguf_add_u32(w, "general.file_type", lm_quant_file_type(type));
    return 0;
}

static int source_ok(const lm_gguf *g, const lm_gguf_tensor *t, const char *name, lm_error *err) {
    if (t->type == LM_GGML_F32 || t->type == LM_GGML_F16 || t->type == LM_GGML_BF16) return 0;
    char buf[16];
    return lm_fail(err, "%s: tensor %s is %s; quantize reads F32, F16 or BF16 weights",
                   lm_gguf_name(g), name, lm_gguf_type_name(t->type, buf));
}

static int add_tensors(lm_gguf_writer *w, const lm_gguf *g, lm_quant_mix *mix, lm_error *err) {
    char name[256];
    for (uint64_t i = 0; i < lm_gguf_n_tensors(g); i++) {
        const lm_gguf_tensor *t = lm_gguf_tensor_at(g, i);
        if (t->name.n >= sizeof name || memchr(t->name.p, 0, t->name.n))
            return lm_fail(err, "%s: a tensor name of %llu bytes", lm_gguf_name(g),
                           (unsigned long long)t->name.n);
        memcpy(name, t->name.p, t->name.n);
        name[t->name.n] = '\0';
        if (source_ok(g, t, name, err)) return -1;
        lm_ggml_type src = (lm_ggml_type)t->type; /* F32, F16 or BF16 (source_ok) */
        lm_ggml_type type = lm_quant_mix_pick(mix, name, t->n_dims, t->dims[0]);
        if (type == LM_GGML_F32) type = src; /* not quantized: kept as it is */
        lm_gguf_add_tensor(w, name, t->n_dims, t->dims, type, t->data, src);
    }
    return 0;
}

/* The architecture (llama only: the mixture's rules are llama.cpp's for it)
 * and its layer count. */
static int layers_of(const lm_gguf *g, int *n_layers, lm_error *err) {
    lm_gguf_str arch;
    uint32_t n;
    if (lm_gguf_get_str(g, "general.architecture", &arch, err)) return -1;
    if (arch.n != 5 || memcmp(arch.p, "llama", 5) != 0) {
        char b[LM_GGUF_SHOW_BYTES];
        return lm_fail(err, "%s: architecture %s; quantize reads llama models", lm_gguf_name(g),
                       lm_gguf_show(arch, b));
    }
    if (lm_gguf_get_u32(g, "llama.block_count", &n, err)) return -1;
    *n_layers = (int)n;
    return 0;
}

int lm_quantize_from_gguf(const char *in, const char *out, lm_quant_type type,
                          lm_progress_fn *progress, void *arg, const lm_cancel_flag *cancel,
                          lm_error *err) {
    struct stat st;
    int fd = lm_open_regular(in, "model", &st, err);
    if (fd < 0) return -1;
    size_t size = (size_t)st.st_size;
    void *map = size ? mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
    close(fd);
    if (map == MAP_FAILED) return lm_fail(err, "%s: cannot map the file", in);
    lm_gguf *g = lm_gguf_parse(map, size, in, err);
    lm_gguf_writer *w = NULL;
    int rc = -1, n_layers = 0;
    if (g && layers_of(g, &n_layers, err) == 0 &&
        (w = lm_gguf_writer_new(lm_gguf_alignment(g), err))) {
        lm_quant_mix mix;
        lm_quant_mix_init(&mix, type, n_layers, !lm_gguf_find_tensor(g, "output.weight"));
        if (copy_metadata(w, g, type, err) == 0 && add_tensors(w, g, &mix, err) == 0)
            rc = lm_gguf_write_out(w, out, (uint64_t)st.st_dev, (uint64_t)st.st_ino, progress, arg,
                                   cancel, err);
    }
    lm_gguf_writer_free(w);
    lm_gguf_free(g);
    munmap(map, size);
    return rc;
}
