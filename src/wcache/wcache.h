/* The weights cache of the lamina programs (README, "Weights cache"): the
 * policy around liblamina's weights images (lm_model_load_ex). */
#ifndef LAMINA_WCACHE_H
#define LAMINA_WCACHE_H

#include <stdint.h>
#include <stdio.h>

#include "lamina.h"

/* The options every program takes (--weights-cache DIR, --no-weights-cache). */
typedef struct wcache_opts {
    const char *dir; /* NULL: the default */
    int off;         /* 1: pack in memory, no image */
    int read_only;   /* 1: map an image if there is one, write none (lamina info) */
} wcache_opts;

/* The directory in use into out[len]: opts->dir, else $XDG_CACHE_HOME/lamina/
 * weights, else $HOME/.cache/lamina/weights; "" when off (or no home). */
void wcache_dir(const wcache_opts *opts, char *out, size_t len);

/* The size cap: $LAMINA_WEIGHTS_CACHE_MAX (bytes, or with a K, M, G or T
 * suffix; 0 = no cap), else WCACHE_DEFAULT_MAX. -1 for a bad value. */
#define WCACHE_DEFAULT_MAX ((uint64_t)32 << 30)
int wcache_max(uint64_t *out, char *err, size_t len);

/* Load the model at path through the cache (lm_model_load_ex), then evict the
 * least recently used other images beyond the cap. Notes (an image that
 * could not be written, a bad cap) go to note(arg, line). */
lm_model *wcache_load(const char *path, const wcache_opts *opts, lm_note_fn *note, void *arg,
                      lm_error *err);

/* Remove the least recently used images of dir (mtime: each use touches it)
 * other than `keep` until they total at most cap bytes; stale images (their
 * model changed or gone) and leftover temporaries of dead writers go first.
 * Returns how many were removed. */
int wcache_evict(const char *dir, uint64_t cap, const char *keep);

/* `lamina cache list|clear|verify|dir`: argv[0] == "cache". */
int wcache_command(int argc, char **argv);

#endif
