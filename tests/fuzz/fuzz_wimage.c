/* Fuzz target: weights images (src/engine/weights_image.c, src/FORMATS.md).
 *
 * The input is a whole image file. First lm_wimage_parse on the bytes: when
 * it accepts them, every matrix and the norms lie inside the data, aligned.
 * Then the bytes become the image of a tiny model (wimage_model.h) in a
 * private cache folder and the model is loaded through it (read-only, so the
 * input is never replaced): the load must succeed whatever the image holds
 * (a bad one is ignored and the weights packed in memory), and when the image
 * was mapped a forward step runs so that ASan sees every panel it points at.
 * An input whose header checksum is right gets the tiny model's identity
 * (inode, mtime...) written in and its checksum redone, so that mutations of
 * a valid image reach the checks behind the identity. Seeds: images make_seeds
 * writes (tests/fuzz/make_seeds.c) and tests/fuzz/regressions/wimage. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "lamina.h"
#include "weights_image.h"
#include "wimage_model.h"

static char dir[64], model[96], image[4200];
static struct stat model_st;

static void cleanup(void) {
    unlink(image);
    unlink(model);
    rmdir(dir);
}

static void setup(void) {
    if (dir[0]) return;
    strcpy(dir, "/tmp/lamina-fuzz-wimage-XXXXXX");
    atexit(cleanup);
    FUZZ_CHECK(mkdtemp(dir), "mkdtemp failed");
    snprintf(model, sizeof model, "%s/model.bin", dir);
    FUZZ_CHECK(wimage_model_write(model) == 0, "cannot write %s", model);
    FUZZ_CHECK(stat(model, &model_st) == 0, "stat failed");
    lm_error e;
    FUZZ_CHECK(lm_weights_image_path(model, dir, image, sizeof image, &e) == 0, "%s", e.msg);
}

static uint64_t fnv(const uint8_t *p, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

/* The tiny model's identity into a header whose checksum was right. */
static void adopt_identity(uint8_t *b, size_t size) {
    lm_wimage_head h;
    if (size < sizeof h) return;
    memcpy(&h, b, sizeof h);
    if (h.header_bytes < sizeof h + 8 || h.header_bytes > size) return;
    uint64_t sum;
    memcpy(&sum, b + h.header_bytes - 8, 8);
    if (sum != fnv(b, (size_t)h.header_bytes - 8)) return;
    h.model_size = (uint64_t)model_st.st_size;
    h.model_mtime_ns =
        (uint64_t)model_st.st_mtim.tv_sec * 1000000000u + (uint64_t)model_st.st_mtim.tv_nsec;
    h.model_ino = (uint64_t)model_st.st_ino, h.model_dev = (uint64_t)model_st.st_dev;
    memcpy(b, &h, sizeof h);
    sum = fnv(b, (size_t)h.header_bytes - 8);
    memcpy(b + h.header_bytes - 8, &sum, 8);
}

static void parse_only(const uint8_t *data, size_t size) {
    lm_wimage w;
    lm_error e;
    e.msg[0] = '\0';
    if (lm_wimage_parse(data, size, &w, &e)) {
        fuzz_check_message(e.msg, "lm_wimage_parse");
        return;
    }
    FUZZ_CHECK(w.h.file_bytes == size && w.h.data_offset + w.h.data_bytes == size, "sizes");
    for (uint32_t i = 0; i < w.h.n_mats; i++) {
        lm_wimage_entry x = lm_wimage_entry_at(&w, i);
        FUZZ_CHECK(x.offset % 64 == 0 && x.offset + x.bytes <= w.h.data_bytes, "entry %u", i);
    }
    FUZZ_CHECK(w.h.norms_offset + w.h.norms_bytes <= w.h.data_bytes, "norms");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    setup();
    parse_only(data, size);
    uint8_t *b = malloc(size ? size : 1);
    FUZZ_CHECK(b, "out of memory");
    memcpy(b, data, size);
    adopt_identity(b, size);
    FILE *f = fopen(image, "wb");
    FUZZ_CHECK(f && fwrite(b, 1, size, f) == size && fclose(f) == 0, "cannot write %s", image);
    free(b);
    lm_error e;
    lm_model_load_params p = {.image_dir = dir, .read_only = 1};
    lm_model *m = lm_model_load_ex(model, p, &e);
    FUZZ_CHECK(m, "the model failed to load beside a bad image: %s", e.msg);
    lm_model_info info = lm_model_get_info(m);
    FUZZ_CHECK(info.weights_image == LM_IMAGE_MAPPED || info.weights_image == LM_IMAGE_NONE,
               "state %d", info.weights_image);
    if (info.weights_image == LM_IMAGE_MAPPED) {
        lm_context *ctx = lm_context_new(m, (lm_context_params){.n_ctx = 4, .n_threads = 1}, &e);
        FUZZ_CHECK(ctx, "%s", e.msg);
        int tok = 1;
        lm_forward(ctx, &tok, 1, 0);
        lm_context_free(ctx);
    }
    lm_model_free(m);
    return 0;
}
