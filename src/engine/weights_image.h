/* Weights images (src/FORMATS.md, "Weights images"): the packed panels of a
 * model kept in a file, mapped read-only by later loads. The header parser is
 * its own function so that it can be fuzzed (tests/fuzz/fuzz_wimage.c). */
#ifndef LAMINA_WEIGHTS_IMAGE_H
#define LAMINA_WEIGHTS_IMAGE_H

#include <stdint.h>

#include "lamina.h"

#define LM_WIMAGE_MAGIC "lmWIMG\r\n" /* 8 bytes; \r\n catches text-mode copies */
#define LM_WIMAGE_VERSION 1
#define LM_WIMAGE_ENDIAN 0x01020304u
#define LM_WIMAGE_ALIGN 4096 /* the panel data starts on a page */
#define LM_WIMAGE_MAX_MATS (1u << 22)
#define LM_WIMAGE_MAX_PATH 4096

/* The fixed part of the header, as stored (native byte order). */
typedef struct lm_wimage_head {
    char magic[8];
    uint32_t version, layout, endian, n_mats;
    uint64_t header_bytes; /* this, the entries, the path and the checksum */
    uint64_t data_offset, data_bytes, file_bytes;
    uint64_t model_size, model_mtime_ns, model_ino, model_dev;
    int32_t config[11]; /* dim hidden layers heads kv_heads vocab seq head_size format gs shared */
    uint32_t path_len;
    uint64_t norms_offset, norms_bytes; /* in the data, like the entries' offsets */
    uint64_t sample; /* hash of the first bytes of every matrix and of the norms */
} lm_wimage_head;

/* One matrix, in the order of lm_model_matrix. */
typedef struct lm_wimage_entry {
    uint32_t type; /* lm_wtype */
    int32_t rows, cols, gs;
    uint64_t offset, bytes;
} lm_wimage_entry;

/* A parsed header: p points at the file (entries and path are read from it). */
typedef struct lm_wimage {
    lm_wimage_head h;
    const uint8_t *p;
} lm_wimage;

/* Check the header of the `size` bytes at p (a whole image file): magic,
 * version, byte order, checksum, every offset and size inside the file. 0 and
 * *out filled, or -1 with err naming the first problem. Reads nothing past
 * the header; matches nothing against a model (the layout version included). */
int lm_wimage_parse(const uint8_t *p, uint64_t size, lm_wimage *out, lm_error *err);
lm_wimage_entry lm_wimage_entry_at(const lm_wimage *w, uint32_t i);

#endif
