/* lm_bytes: the growable byte buffer of lamina (request texts, server
 * responses and bodies, batch output, the CLI's input lines; in the engine the
 * chat renderer's text and the GGUF writer's metadata), written once. Clients
 * link lamina_bytes; liblamina compiles bytes.c in as one of its own hidden
 * sources, so it is no part of the public API. */
#ifndef LAMINA_BYTES_H
#define LAMINA_BYTES_H

#include <stddef.h>

typedef struct lm_bytes {
    char *p;    /* NUL-terminated once anything was added; NULL before */
    size_t len; /* bytes, not counting the NUL */
    size_t cap; /* allocated */
} lm_bytes;

/* Appends n bytes of s, keeping p NUL-terminated; the capacity doubles (from
 * min_cap, at least 1) so that n appends cost O(total). 0, or -1 out of
 * memory (or the size overflows) with b unchanged. */
int lm_bytes_add(lm_bytes *b, const void *s, size_t n, size_t min_cap);

#endif
