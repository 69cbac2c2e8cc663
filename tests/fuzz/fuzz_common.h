/* Shared by the fuzz targets: an in-memory file (memfd) the loaders can open
 * by path, and a check that aborts (so libFuzzer records the input) whatever
 * NDEBUG says. */
#ifndef LAMINA_FUZZ_COMMON_H
#define LAMINA_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#define FUZZ_CHECK(cond, ...)                                                                      \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant failed: %s: ", __FILE__, __LINE__, #cond);           \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* One memfd per process, rewritten for each input; the loaders see a regular
 * file at /proc/self/fd/N. Whatever mapped it must be gone before the next
 * rewrite (a shrunk file would fault a live mapping). */
typedef struct fuzz_file {
    int fd;
    char path[64];
} fuzz_file;

static inline void fuzz_file_init(fuzz_file *f, const char *name) {
    f->fd = memfd_create(name, MFD_CLOEXEC);
    FUZZ_CHECK(f->fd >= 0, "memfd_create failed");
    snprintf(f->path, sizeof f->path, "/proc/self/fd/%d", f->fd);
}

static inline void fuzz_file_write(fuzz_file *f, const uint8_t *data, size_t size) {
    FUZZ_CHECK(ftruncate(f->fd, 0) == 0, "ftruncate failed");
    size_t done = 0;
    while (done < size) {
        ssize_t n = pwrite(f->fd, data + done, size - done, (off_t)done);
        FUZZ_CHECK(n > 0, "pwrite failed");
        done += (size_t)n;
    }
}

/* An error message must be set, terminated and one line. */
static inline void fuzz_check_message(const char *msg, const char *what) {
    size_t n = 0;
    while (n < 512 && msg[n]) n++;
    FUZZ_CHECK(n > 0 && n < 512, "%s: empty or unterminated error message", what);
    for (size_t i = 0; i < n; i++)
        FUZZ_CHECK(msg[i] != '\n', "%s: multi-line message: %s", what, msg);
}

#endif
