/* Line reader over a file descriptor (batch_lines.h). */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batch_lines.h"

#define CHUNK 65536

void batch_lines_init(batch_lines *r, int fd) {
    *r = (batch_lines){.fd = fd, .max_line = SIZE_MAX};
}

void batch_lines_free(batch_lines *r) {
    free(r->buf);
    *r = (batch_lines){.fd = -1};
}

/* A line over max_line, whole or not yet: its first max_line bytes are
 * returned, the rest dropped (now, and as it arrives while skipping). */
static void take_long(batch_lines *r, char *nl, char **line, size_t *len) {
    char *s = r->buf + r->start;
    *line = s;
    *len = r->max_line;
    s[r->max_line] = '\0'; /* a byte of the dropped part */
    r->skipping = !nl && !r->eof;
    r->start = nl ? (size_t)(nl + 1 - r->buf) : r->end;
}

/* Drop the rest of a line over max_line as far as it has arrived. */
static void skip_rest(batch_lines *r) {
    char *nl = memchr(r->buf + r->start, '\n', r->end - r->start);
    r->start = nl ? (size_t)(nl + 1 - r->buf) : r->end;
    r->skipping = !nl && !r->eof;
}

/* A whole line in the buffer: returned and consumed. 1 a line, 2 a line over
 * max_line, 0 none yet. */
static int take_line(batch_lines *r, char **line, size_t *len) {
    char *s = r->buf + r->start;
    char *nl = memchr(s, '\n', r->end - r->start);
    size_t n = nl ? (size_t)(nl - s) : r->end - r->start;
    if (n > r->max_line) return take_long(r, nl, line, len), 2;
    if (!nl && !(r->eof && r->end > r->start)) return 0;
    s[n] = '\0'; /* the '\n', or the spare byte kept after end */
    *line = s;
    *len = n;
    r->start += n + (nl != NULL);
    return 1;
}

/* Room for CHUNK more bytes and a terminating NUL, moving the kept bytes to
 * the front first. */
static int make_room(batch_lines *r) {
    if (r->start) {
        memmove(r->buf, r->buf + r->start, r->end - r->start);
        r->end -= r->start;
        r->start = 0;
    }
    if (r->end + CHUNK + 1 <= r->cap) return 0;
    size_t cap = r->cap ? r->cap * 2 : CHUNK + 1;
    while (cap < r->end + CHUNK + 1) cap *= 2;
    char *b = realloc(r->buf, cap);
    if (!b) return -1;
    r->buf = b;
    r->cap = cap;
    return 0;
}

batch_lines_status batch_lines_next(batch_lines *r, int wait, char **line, size_t *len) {
    for (;;) {
        if (r->buf && r->skipping) skip_rest(r);
        int got = r->buf && !r->skipping ? take_line(r, line, len) : 0;
        if (got) return got == 1 ? LINES_OK : LINES_TOO_LONG;
        if (r->error) return LINES_ERROR;
        if (r->eof) return LINES_EOF;
        struct pollfd p = {.fd = r->fd, .events = POLLIN};
        int ready = poll(&p, 1, wait ? -1 : 0);
        if (ready < 0 && errno != EINTR) return r->error = errno, LINES_ERROR;
        if (ready <= 0) return LINES_AGAIN; /* nothing yet, or a signal */
        if (make_room(r)) return r->error = ENOMEM, LINES_ERROR;
        ssize_t n = read(r->fd, r->buf + r->end, CHUNK);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) return LINES_AGAIN;
        if (n < 0) return r->error = errno, LINES_ERROR;
        if (n == 0) r->eof = 1;
        r->end += (size_t)n;
        r->buf[r->end] = '\0';
    }
}
