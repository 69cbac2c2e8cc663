/* The tiny model behind fuzz_wimage's weights images and their seeds
 * (make_seeds): a v1 checkpoint written to a file, one layer, shared
 * classifier, weights a fixed pattern. */
#ifndef LAMINA_FUZZ_WIMAGE_MODEL_H
#define LAMINA_FUZZ_WIMAGE_MODEL_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* dim 16, hidden 32, 1 layer, 2 heads, 2 kv heads, vocab 32, seq 8 */
static inline int wimage_model_write(const char *path) {
    const int32_t c[7] = {16, 32, 1, 2, 2, 32, 8};
    uint8_t head[256] = {0};
    const uint32_t magic = 0x616b3432u, version = 1;
    memcpy(head, &magic, 4);
    memcpy(head + 4, &version, 4);
    memcpy(head + 8, c, sizeof c);
    head[36] = 1; /* shared classifier */
    /* norms (2 * layers * dim + dim), embedding, wq wk wv wo, w1 w2 w3 */
    size_t n = 2 * 16 + 16 + 32 * 16 + 4 * 16 * 16 + 3 * 32 * 16;
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    int bad = fwrite(head, 1, sizeof head, f) != sizeof head;
    for (size_t i = 0; i < n && !bad; i++) {
        float v = i < 48 ? 1.0f : 0.01f * (float)((int)(i % 13) - 6);
        bad = fwrite(&v, sizeof v, 1, f) != 1;
    }
    return fclose(f) || bad ? -1 : 0;
}

#endif
