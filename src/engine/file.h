/* Files the engine reads and writes, opened so that no input can hang or
 * exhaust memory and no output can destroy a file the user did not name.
 *
 * Inputs are regular files only, opened with O_NONBLOCK (a FIFO or a device
 * fails at once instead of blocking) and read up to a size the format allows.
 * Outputs go to a temporary beside the target, are synced and renamed over it
 * only when complete; a failure, SIGINT or SIGTERM removes the temporary.
 *
 * What a file is (GGUF, a tokenizer given as a model, ...) is sniff.h's
 * business: this file only opens, reads and writes. */
#ifndef LAMINA_FILE_H
#define LAMINA_FILE_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "lamina.h"

/* A path for a message: its last 160 bytes, so that the reason after it
 * still fits in an lm_error ("..." marks the cut). */
#define LM_SHOWN_FMT "%s%s"
#define LM_SHOWN(path)                                                                             \
    (strlen(path) > 160 ? "..." : ""), (strlen(path) > 160 ? (path) + strlen(path) - 160 : (path))

/* Open path read-only if it is a regular file; *st describes it. Returns the
 * descriptor, or -1 with err: "PATH: cannot open WHAT: reason" or "PATH: not a
 * regular file (a FIFO)". */
int lm_open_regular(const char *path, const char *what, struct stat *st, lm_error *err);

/* Checks a file's size against what its format allows, from its first bytes
 * (head, n <= LM_HEAD_BYTES of them: fewer in a shorter file). 0 if it may be
 * read, else -1 with err saying why. */
#define LM_HEAD_BYTES 64
typedef int lm_size_check(const char *path, const unsigned char *head, size_t n, uint64_t size,
                          void *arg, lm_error *err);

/* Read a regular file whole (malloc'd; *size its length), after check()
 * accepted its size; NULL with err set otherwise. */
unsigned char *lm_read_regular(const char *path, const char *what, lm_size_check *check, void *arg,
                               size_t *size, lm_error *err);

/* An output file written whole or not at all. */
typedef struct lm_out_file {
    FILE *f;
    char *tmp;        /* the temporary beside the target */
    const char *path; /* the target */
    mode_t mode;      /* the target's mode when it existed, else 0666 & ~umask */
} lm_out_file;

/* Create a temporary for `path` in its directory. Refuses a target that is
 * the input (same device and inode: in_dev/in_ino, 0/0 for none), a symbolic
 * link, anything but a regular file, or a file the user cannot write. */
int lm_out_begin(lm_out_file *o, const char *path, uint64_t in_dev, uint64_t in_ino, lm_error *err);
/* Flush, fsync, rename over the target, fsync the directory. On failure the
 * temporary is removed and err says why; the target is untouched. */
int lm_out_commit(lm_out_file *o, lm_error *err);
/* Remove the temporary (after a failure while writing). */
void lm_out_abort(lm_out_file *o);

#endif
