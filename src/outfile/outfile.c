/* Output files of the lamina clients (outfile.h). */
#include "outfile.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sync_dir.h"

static int set_error(lm_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int set_error(lm_error *err, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        for (char *c = err->msg; *c; c++) /* a path with a newline stays one line */
            if ((unsigned char)*c < 0x20 || *c == 0x7f) *c = '?';
    }
    return -1;
}

/* A path for a message: its last 160 bytes, cut at a character boundary, so
 * that the reason after it still fits in an lm_error. */
static const char *shown(const char *path) {
    size_t n = strlen(path);
    if (n <= 160) return path;
    const char *s = path + n - 160;
    while ((*s & 0xC0) == 0x80) s++;
    return s;
}
#define SHOWN(p) (strlen(p) > 160 ? "..." : ""), shown(p)

static const char *out_name(const char *out) { return out && strcmp(out, "-") ? out : "stdout"; }

int lm_outfile_check(const char *out, const lm_outfile_input *inputs, int n, lm_error *err) {
    struct stat os;
    int have = out && strcmp(out, "-") ? stat(out, &os) : fstat(1, &os);
    if (have || !S_ISREG(os.st_mode)) return 0;
    for (int i = 0; i < n; i++) {
        struct stat is;
        const lm_outfile_input *in = &inputs[i];
        if (in->path ? stat(in->path, &is) : fstat(in->fd, &is)) continue;
        if (is.st_dev != os.st_dev || is.st_ino != os.st_ino) continue;
        const char *path = in->path ? in->path : in->fd == 0 ? "stdin" : "a descriptor";
        return set_error(err, "%s%s: is the same file as %s (%s%s); refusing to overwrite it",
                         SHOWN(out_name(out)), in->what, SHOWN(path));
    }
    return 0;
}

/* Room for ".tmp-PID-N" after the target's name. */
enum { TMP_SUFFIX_MAX = 32 };

/* TARGET.tmp-PID-N, created (mode 0600 until the caller sets it); a stale name
 * left by an earlier process with our pid is skipped (O_EXCL). */
static int create_temporary(lm_outfile *o) {
    size_t len = strlen(o->target);
    if (len + TMP_SUFFIX_MAX > PATH_MAX) return errno = ENAMETOOLONG, -1;
    if (!(o->tmp = malloc(len + TMP_SUFFIX_MAX))) return errno = ENOMEM, -1;
    memcpy(o->tmp, o->target, len);
    for (int attempt = 0; attempt < 100; attempt++) {
        snprintf(o->tmp + len, TMP_SUFFIX_MAX, ".tmp-%ld-%d", (long)getpid(), attempt);
        int fd = open(o->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd >= 0 || errno != EEXIST) return fd;
    }
    return -1;
}

/* The file a regular (or new) output replaces, and the mode its replacement
 * gets; 0, or -1 with err. */
static int resolve_target(lm_outfile *o, const char *path, mode_t *mode, lm_error *err) {
    struct stat ls, st;
    mode_t mask = umask(0);
    umask(mask);
    *mode = 0666 & ~mask;
    if (lstat(path, &ls)) {
        if (errno != ENOENT)
            return set_error(err, "%s%s: cannot write: %s", SHOWN(path), strerror(errno));
        o->target = strdup(path);
        return o->target ? 0 : set_error(err, "out of memory");
    }
    if (stat(path, &st))
        return set_error(err, "%s%s: a symbolic link to nothing (%s); give the path of the file",
                         SHOWN(path), strerror(errno));
    /* root passes access(): a file without any write bit is refused for it too */
    if (access(path, W_OK) || !(st.st_mode & (S_IWUSR | S_IWGRP | S_IWOTH)))
        return set_error(err, "%s%s: is read-only; refusing to replace it", SHOWN(path));
    *mode = st.st_mode & 07777;
    o->target = S_ISLNK(ls.st_mode) ? realpath(path, NULL) : strdup(path);
    return o->target ? 0 : set_error(err, "%s%s: %s", SHOWN(path), strerror(errno));
}

int lm_outfile_open(lm_outfile *o, const char *path, lm_error *err) {
    *o = (lm_outfile){.fd = -1, .name = out_name(path)};
    if (!path || !strcmp(path, "-")) return o->fd = 1, 0;
    struct stat st;
    if (!*path) return set_error(err, "the output path is empty");
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return set_error(err, "%s%s: is a directory", SHOWN(path));
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) { /* a FIFO, a device: as it is */
        o->fd = open(path, O_WRONLY | O_NOCTTY | O_CLOEXEC);
        return o->fd >= 0 ? 0 : set_error(err, "%s%s: %s", SHOWN(path), strerror(errno));
    }
    mode_t mode;
    if (resolve_target(o, path, &mode, err)) {
        free(o->target);
        return -1;
    }
    o->fd = create_temporary(o);
    if (o->fd < 0 || fchmod(o->fd, mode)) {
        set_error(err, "%s%s: cannot create a temporary beside it: %s", SHOWN(path),
                  strerror(errno));
        lm_outfile_abort(o);
        return -1;
    }
    return 0;
}

void lm_outfile_abort(lm_outfile *o) {
    if (o->fd > 2) close(o->fd);
    o->fd = -1;
    if (o->tmp) unlink(o->tmp);
    free(o->tmp);
    free(o->target);
    o->tmp = o->target = NULL;
}

int lm_outfile_commit(lm_outfile *o, lm_error *err) {
    if (!o->tmp) { /* direct: stdout stays open for the caller */
        int rc = o->fd > 2 ? close(o->fd) : 0;
        o->fd = -1;
        return rc ? set_error(err, "writing %s%s: %s", SHOWN(o->name), strerror(errno)) : 0;
    }
    int bad = fsync(o->fd);
    int e = errno;
    if (close(o->fd) && !bad) bad = 1, e = errno;
    o->fd = -1;
    if (!bad && rename(o->tmp, o->target)) bad = 1, e = errno;
    if (bad) {
        set_error(err, "writing %s%s: %s", SHOWN(o->name), strerror(e));
        lm_outfile_abort(o);
        return -1;
    }
    lm_sync_directory(o->target);
    free(o->tmp);
    free(o->target);
    o->tmp = o->target = NULL;
    return 0;
}
