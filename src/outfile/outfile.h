/* Output files of the lamina clients (`lamina batch -o` and writers to come).
 *
 * 1. lm_outfile_check, before anything is opened for writing: the output is
 *    refused when it is one of the command's inputs (model, tokenizer, JSONL
 *    input, ...), compared by device and inode after following symbolic
 *    links, so a symbolic or a hard link to an input is refused too.
 * 2. lm_outfile_open: a regular file (or a new one) is written to a temporary
 *    beside it (TARGET.tmp-PID-N; a symbolic link is followed, and the file it
 *    names is replaced); stdout ("-" or NULL), FIFOs and devices are written
 *    directly.
 * 3. lm_outfile_commit renames the temporary over the target (after fsync), so
 *    readers see the old file or the whole new one; lm_outfile_abort removes it
 *    and leaves the target as it was.
 *
 * No signal handlers: the caller decides what a signal means (lamina batch
 * commits the records completed so far; a caller killed outright leaves its
 * TARGET.tmp-PID-N behind, never a cut target). Messages are one line, naming
 * the path (its last 160 bytes when longer). */
#ifndef LAMINA_OUTFILE_H
#define LAMINA_OUTFILE_H

#include "lamina.h"

typedef struct lm_outfile_input {
    const char *what; /* for messages: "the model", "the tokenizer", "the input" */
    const char *path; /* the file, or NULL: the open descriptor fd (stdin: 0) */
    int fd;
} lm_outfile_input;

/* 0 when the output `out` (a path; NULL or "-": stdout) is none of the n
 * inputs, else -1 with err: "OUT: is the same file as the model (PATH);
 * refusing to overwrite it". Only a regular output file can clash (stdin and
 * stdout both /dev/null are fine); an input or output that does not exist (yet)
 * clashes with nothing. */
int lm_outfile_check(const char *out, const lm_outfile_input *inputs, int n, lm_error *err);

typedef struct lm_outfile {
    int fd;           /* where to write; -1 when closed */
    char *tmp;        /* the temporary; NULL when written directly */
    char *target;     /* what the temporary replaces (symbolic links resolved) */
    const char *name; /* for messages: the path given, or "stdout" */
} lm_outfile;

/* Open the output (path NULL or "-": stdout, fd 1). Refuses a directory, a
 * symbolic link to nothing and a read-only file (as the CLI's quantize does).
 * -1 with err set; nothing to free then. */
int lm_outfile_open(lm_outfile *o, const char *path, lm_error *err);
/* Done writing: fsync and rename the temporary over the target (then fsync
 * its directory, best effort), or close a direct output (stdout stays open).
 * -1 with err when that fails; the temporary is then removed. */
int lm_outfile_commit(lm_outfile *o, lm_error *err);
/* Give up: remove the temporary (the target is untouched) and close. */
void lm_outfile_abort(lm_outfile *o);

#endif
