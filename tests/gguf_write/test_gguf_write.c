/* The GGUF writer (src/engine/gguf_write.h) on its own: its misuse errors, and
 * a file with every value type, a 256-byte alignment and tensors of each
 * type (one copied raw) that check_convert.py's `writer` mode reads back
 * with gguf-py. Usage: test_gguf_write OUT.gguf */
#include <stdlib.h>
#include <string.h>

#include "../check.h"
#include "gguf_write.h"

/* The writer's first error after the calls of `setup`, or "" when none. */
static const char *error_of(void (*setup)(lm_gguf_writer *)) {
    static lm_error e;
    lm_gguf_writer *w = lm_gguf_writer_new(32, &e);
    if (!w) return e.msg;
    setup(w);
    FILE *f = tmpfile();
    int rc = f ? lm_gguf_write(w, f, NULL, NULL, &e) : -1;
    if (f) fclose(f);
    lm_gguf_writer_free(w);
    return rc ? e.msg : "";
}

static const float zeros[64];

static void dup_key(lm_gguf_writer *w) {
    lm_gguf_add_u32(w, "a.b", 1);
    lm_gguf_add_str(w, "a.b", "x");
}

static void dup_tensor(lm_gguf_writer *w) {
    uint64_t ne[1] = {4};
    lm_gguf_add_tensor(w, "t", 1, ne, LM_GGML_F32, zeros, LM_GGML_F32);
    lm_gguf_add_tensor(w, "t", 1, ne, LM_GGML_F32, zeros, LM_GGML_F32);
}

static void partial_block(lm_gguf_writer *w) {
    uint64_t ne[2] = {48, 1};
    lm_gguf_add_tensor(w, "q", 2, ne, LM_GGML_Q8_0, zeros, LM_GGML_F32);
}

static void five_dims(lm_gguf_writer *w) {
    uint64_t ne[5] = {1, 1, 1, 1, 1};
    lm_gguf_add_tensor(w, "d", 5, ne, LM_GGML_F32, zeros, LM_GGML_F32);
}

static void from_f16(lm_gguf_writer *w) {
    uint64_t ne[1] = {4};
    lm_gguf_add_tensor(w, "h", 1, ne, LM_GGML_BF16, zeros, LM_GGML_F16);
}

/* llama-quantize's fallback for rows that are not whole blocks of 32 */
static void f16_from_bf16(lm_gguf_writer *w) {
    uint64_t ne[1] = {4};
    lm_gguf_add_tensor(w, "h", 1, ne, LM_GGML_F16, zeros, LM_GGML_BF16);
}

static const float nan4[4] = {0.0f, 1.0f, __builtin_nanf(""), 2.0f};

static void nan_to_f16(lm_gguf_writer *w) {
    uint64_t ne[1] = {4};
    lm_gguf_add_tensor(w, "n", 1, ne, LM_GGML_F16, nan4, LM_GGML_F32);
}

static void check_errors(void) {
    lm_error e;
    CHECK(!lm_gguf_writer_new(48, &e) && strstr(e.msg, "48 is not a power of two"), "%s", e.msg);
    CHECK(strstr(error_of(dup_key), "GGUF key a.b added twice"), "%s", error_of(dup_key));
    CHECK(strstr(error_of(dup_tensor), "GGUF tensor t added twice"), "%s", error_of(dup_tensor));
    const char *m = error_of(partial_block);
    CHECK(strstr(m, "tensor q: rows of 48 values are not whole Q8_0 blocks of 32"), "%s", m);
    CHECK(strstr(error_of(five_dims), "tensor d: 5 dimensions"), "%s", error_of(five_dims));
    CHECK(strstr(error_of(from_f16), "tensor h: cannot write BF16 from F16"), "%s",
          error_of(from_f16));
    CHECK(!*error_of(f16_from_bf16), "%s", error_of(f16_from_bf16));
    m = error_of(nan_to_f16);
    CHECK(strstr(m, "tensor n: value 2 is nan, not a finite number"), "%s", m);
}

/* Spot values of the encoders (the bulk is compared with numpy and gguf-py
 * in check_convert.py). */
static void check_encoders(void) {
    CHECK(lm_f32_to_f16(1.0f) == 0x3c00, "1");
    CHECK(lm_f32_to_f16(65504.0f) == 0x7bff, "max");
    CHECK(lm_f32_to_f16(65520.0f) == 0x7c00, "65520 -> inf");
    CHECK(lm_f32_to_f16(0x1p-24f) == 0x0001, "smallest subnormal");
    CHECK(lm_f32_to_f16(0x1p-25f) == 0x0000, "half the smallest: ties to even 0");
    CHECK(lm_f32_to_f16(0x1.8p-24f) == 0x0002, "1.5 units: ties to even 2");
    CHECK(lm_f32_to_f16(-0.0f) == 0x8000, "-0");
    CHECK(lm_f32_to_bf16(1.0f + 0x1p-8f) == 0x3f80, "bf16 tie down");
    CHECK(lm_f32_to_bf16(1.0f + 0x3p-8f) == 0x3f82, "bf16 tie up");
}

static void progress(void *arg, uint64_t done, uint64_t total) {
    uint64_t *last = arg;
    CHECK(done > last[0] && done <= total, "progress %llu of %llu", (unsigned long long)done,
          (unsigned long long)total);
    last[0] = done, last[1] = total;
}

/* check_convert.py's `writer` mode expects exactly these. */
static int write_sample(const char *path) {
    static float v[2 * 64];
    for (int i = 0; i < 128; i++) v[i] = (float)(i - 64) / 8.0f;
    static const uint16_t raw[4] = {0x3c00, 0xc000, 0x0001, 0x7bff}; /* F16 copied as is */
    const char *strs[3] = {"alpha", "", "\xe2\x96\x81x"};
    const uint32_t lens[3] = {5, 0, 4};
    const float fs[2] = {0.5f, -2.0f};
    const int32_t is[3] = {1, -2, 3};
    lm_error e;
    lm_gguf_writer *w = lm_gguf_writer_new(256, &e);
    if (!w) return fprintf(stderr, "%s\n", e.msg), 1;
    lm_gguf_add_str(w, "general.architecture", "test");
    lm_gguf_add_u32(w, "general.alignment", 256);
    lm_gguf_add_u32(w, "t.u32", 4000000000u);
    lm_gguf_add_f32(w, "t.f32", 0.1f);
    lm_gguf_add_bool(w, "t.bool", 1);
    lm_gguf_add_str_array(w, "t.strs", strs, lens, 3);
    lm_gguf_add_f32_array(w, "t.f32s", fs, 2);
    lm_gguf_add_i32_array(w, "t.i32s", is, 3);
    uint64_t ne2[2] = {64, 2}, ne1[1] = {3}, ne4[1] = {4};
    lm_gguf_add_tensor(w, "f32", 2, ne2, LM_GGML_F32, v, LM_GGML_F32);
    lm_gguf_add_tensor(w, "odd", 1, ne1, LM_GGML_F32, v, LM_GGML_F32); /* 12 bytes: padding */
    lm_gguf_add_tensor(w, "f16", 2, ne2, LM_GGML_F16, v, LM_GGML_F32);
    lm_gguf_add_tensor(w, "bf16", 2, ne2, LM_GGML_BF16, v, LM_GGML_F32);
    lm_gguf_add_tensor(w, "q8_0", 2, ne2, LM_GGML_Q8_0, v, LM_GGML_F32);
    lm_gguf_add_tensor(w, "raw", 1, ne4, LM_GGML_F16, raw, LM_GGML_F16);
    FILE *f = fopen(path, "wb");
    uint64_t last[2] = {0, 0};
    int rc = f ? lm_gguf_write(w, f, progress, last, &e) : -1;
    CHECK(rc == 0, "write: %s", f ? e.msg : "cannot open");
    CHECK(last[0] == last[1] && last[1] % 256 == 0, "progress ended at %llu of %llu",
          (unsigned long long)last[0], (unsigned long long)last[1]);
    if (f && fclose(f)) CHECK(0, "close");
    lm_gguf_writer_free(w);
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 2) return fprintf(stderr, "usage: test_gguf_write OUT.gguf\n"), 2;
    check_errors();
    check_encoders();
    write_sample(argv[1]);
    return check_exit("gguf_write");
}
