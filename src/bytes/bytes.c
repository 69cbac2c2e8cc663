/* The growable byte buffer (bytes.h). */
#include "bytes.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int lm_bytes_add(lm_bytes *b, const void *s, size_t n, size_t min_cap) {
    if (n > SIZE_MAX - 1 - b->len) return -1;
    size_t need = b->len + n + 1;
    if (need > b->cap) {
        size_t cap = b->cap ? b->cap : min_cap ? min_cap : 1;
        while (cap < need) {
            if (cap > SIZE_MAX / 2) return -1;
            cap *= 2;
        }
        char *p = realloc(b->p, cap);
        if (!p) return -1;
        b->p = p;
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}
