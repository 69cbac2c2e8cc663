/* Reading JSONL input line by line from a file descriptor, without stdio, so
 * that `lamina batch` can ask "is a line there?" without blocking while
 * sequences run, and a signal interrupts a blocking wait (EINTR). */
#ifndef LAMINA_BATCH_LINES_H
#define LAMINA_BATCH_LINES_H

#include <stddef.h>

typedef struct batch_lines {
    int fd;
    char *buf; /* bytes read, not yet returned: [start, end) */
    size_t start, end, cap;
    size_t max_line; /* longer lines are LINES_TOO_LONG (SIZE_MAX: no limit) */
    int skipping;    /* discarding the rest of a line over max_line */
    int eof;         /* read() returned 0 */
    int error;       /* errno of a failed read, 0 if none */
} batch_lines;

typedef enum {
    LINES_OK = 0,   /* *line holds a line (without its '\n'), valid until the next call */
    LINES_AGAIN,    /* no whole line yet (only when not waiting), or a signal came */
    LINES_EOF,      /* no more lines */
    LINES_ERROR,    /* a read failed; error holds errno */
    LINES_TOO_LONG, /* a line over max_line: *line holds its first max_line bytes;
                       the rest is read and dropped, never held whole */
} batch_lines_status;

/* max_line: SIZE_MAX; set it after init. Memory held: max_line + 64 KiB. */
void batch_lines_init(batch_lines *r, int fd);
void batch_lines_free(batch_lines *r);
/* The next line. wait = 0: never block (LINES_AGAIN when nothing is ready);
 * wait = 1: block until a line, end of input, or a signal (LINES_AGAIN). A last
 * line without '\n' counts. */
batch_lines_status batch_lines_next(batch_lines *r, int wait, char **line, size_t *len);

#endif
