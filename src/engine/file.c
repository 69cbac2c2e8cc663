/* Safe input and output files (file.h says what "safe" means here). */
#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "sync_dir.h"

static const char *file_type(mode_t m) {
    return S_ISDIR(m)    ? "a directory"
           : S_ISFIFO(m) ? "a FIFO"
           : S_ISCHR(m)  ? "a character device"
           : S_ISBLK(m)  ? "a block device"
           : S_ISSOCK(m) ? "a socket"
           : S_ISLNK(m)  ? "a symbolic link"
                         : "not a plain file";
}

int lm_open_regular(const char *path, const char *what, struct stat *st, lm_error *err) {
    /* O_NONBLOCK: opening a FIFO with no writer (or a device) returns at once. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0)
        return lm_fail(err, LM_SHOWN_FMT ": cannot open %s: %s", LM_SHOWN(path), what,
                       strerror(errno));
    if (fstat(fd, st)) {
        int e = errno;
        close(fd);
        return lm_fail(err, LM_SHOWN_FMT ": cannot open %s: %s", LM_SHOWN(path), what, strerror(e));
    }
    if (!S_ISREG(st->st_mode)) {
        close(fd);
        return lm_fail(err, LM_SHOWN_FMT ": not a regular file (%s)", LM_SHOWN(path),
                       file_type(st->st_mode));
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    return fd;
}

unsigned char *lm_read_regular(const char *path, const char *what, lm_size_check *check, void *arg,
                               size_t *size, lm_error *err) {
    struct stat st;
    int fd = lm_open_regular(path, what, &st, err);
    if (fd < 0) return NULL;
    uint64_t n = (uint64_t)st.st_size;
    unsigned char head[LM_HEAD_BYTES];
    ssize_t got_head = pread(fd, head, n < sizeof head ? (size_t)n : sizeof head, 0);
    unsigned char *buf = NULL;
    if (got_head < 0)
        lm_fail(err, LM_SHOWN_FMT ": cannot read: %s", LM_SHOWN(path), strerror(errno));
    else if (n >= SIZE_MAX)
        lm_fail(err, LM_SHOWN_FMT ": too large to read (%llu bytes)", LM_SHOWN(path),
                (unsigned long long)n);
    else if (check(path, head, (size_t)got_head, n, arg, err) == 0 &&
             !(buf = malloc(n ? (size_t)n : 1)))
        lm_fail(err, LM_SHOWN_FMT ": out of memory reading %llu bytes", LM_SHOWN(path),
                (unsigned long long)n);
    for (size_t got = 0; buf && got < n;) {
        ssize_t r = read(fd, buf + got, (size_t)n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            lm_fail(err, r ? "%s: cannot read: %s" : "%s: the file shrank while being read%s", path,
                    r ? strerror(errno) : "");
            free(buf);
            buf = NULL;
        }
        got += r > 0 ? (size_t)r : 0;
    }
    close(fd);
    *size = (size_t)n;
    return buf;
}

/* ---- outputs ------------------------------------------------------------ */

/* Checks on an existing target; 0 when it may be replaced. */
static int check_target(const char *path, const struct stat *st, uint64_t in_dev, uint64_t in_ino,
                        lm_error *err) {
    if (S_ISLNK(st->st_mode))
        return lm_fail(err, LM_SHOWN_FMT ": is a symbolic link; give the path of the file itself",
                       LM_SHOWN(path));
    if (!S_ISREG(st->st_mode))
        return lm_fail(err, LM_SHOWN_FMT ": not a regular file (%s); refusing to replace it",
                       LM_SHOWN(path), file_type(st->st_mode));
    if ((in_dev || in_ino) && (uint64_t)st->st_dev == in_dev && (uint64_t)st->st_ino == in_ino)
        return lm_fail(err, LM_SHOWN_FMT ": is the input checkpoint; write to another path",
                       LM_SHOWN(path));
    /* root passes access(): a file without any write bit is refused for it too */
    if (access(path, W_OK) || !(st->st_mode & (S_IWUSR | S_IWGRP | S_IWOTH)))
        return lm_fail(err, LM_SHOWN_FMT ": is read-only; refusing to replace it", LM_SHOWN(path));
    return 0;
}

/* Room for ".tmp-PID-N" after OUT's name. */
enum { TMP_SUFFIX_MAX = 32 };

/* Creates OUT.tmp-PID-N beside OUT. A stale name left by an earlier process
 * with our pid is skipped (O_EXCL). No signal handlers here: the writers stop
 * on their caller's cancel flag (lamina.h, lm_cancel_flag) and remove it. */
static int create_temporary(char *tmp, size_t len) {
    for (int attempt = 0; attempt < 100; attempt++) {
        snprintf(tmp + len, TMP_SUFFIX_MAX, ".tmp-%ld-%d", (long)getpid(), attempt);
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd >= 0) return fd;
        if (errno != EEXIST) return -1;
    }
    return -1;
}

int lm_out_begin(lm_out_file *o, const char *path, uint64_t in_dev, uint64_t in_ino,
                 lm_error *err) {
    *o = (lm_out_file){.path = path};
    struct stat st;
    mode_t mask = umask(0);
    umask(mask);
    o->mode = 0666 & ~mask;
    if (lstat(path, &st) == 0) {
        if (check_target(path, &st, in_dev, in_ino, err)) return -1;
        o->mode = st.st_mode & 07777;
    } else if (errno != ENOENT) {
        return lm_fail(err, LM_SHOWN_FMT ": cannot write: %s", LM_SHOWN(path), strerror(errno));
    }
    size_t len = strlen(path);
    if (len == 0 || len > PATH_MAX - TMP_SUFFIX_MAX)
        return lm_fail(err, LM_SHOWN_FMT ": cannot write: path %s", LM_SHOWN(path),
                       len ? "too long" : "empty");
    o->tmp = malloc(len + TMP_SUFFIX_MAX);
    if (!o->tmp) return lm_fail(err, LM_SHOWN_FMT ": out of memory", LM_SHOWN(path));
    memcpy(o->tmp, path, len);
    int fd = create_temporary(o->tmp, len);
    if (fd < 0) {
        lm_fail(err, LM_SHOWN_FMT ": cannot create a temporary beside it: %s", LM_SHOWN(path),
                strerror(errno));
        free(o->tmp);
        o->tmp = NULL;
        return -1;
    }
    o->f = fdopen(fd, "wb");
    if (!o->f || fchmod(fd, o->mode)) {
        lm_fail(err, LM_SHOWN_FMT ": cannot write: %s", LM_SHOWN(o->tmp), strerror(errno));
        if (!o->f) close(fd);
        lm_out_abort(o);
        return -1;
    }
    return 0;
}

void lm_out_abort(lm_out_file *o) {
    if (o->f) fclose(o->f);
    o->f = NULL;
    if (o->tmp) unlink(o->tmp);
    free(o->tmp);
    o->tmp = NULL;
}

int lm_out_commit(lm_out_file *o, lm_error *err) {
    int bad = fflush(o->f) || ferror(o->f) || fsync(fileno(o->f));
    int e = errno;
    bad |= fclose(o->f) != 0;
    o->f = NULL;
    if (!bad && rename(o->tmp, o->path)) bad = 1, e = errno;
    if (bad) {
        lm_fail(err, LM_SHOWN_FMT ": write failed: %s", LM_SHOWN(o->path),
                e ? strerror(e) : "I/O error");
        lm_out_abort(o);
        return -1;
    }
    free(o->tmp);
    o->tmp = NULL;
    lm_sync_directory(o->path);
    return 0;
}
