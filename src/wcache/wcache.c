/* The weights cache of the lamina programs: where images live, the cap and
 * its least-recently-used eviction, and `lamina cache`. */
#include "wcache.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void wcache_dir(const wcache_opts *opts, char *out, size_t len) {
    out[0] = '\0';
    if (opts && opts->off) return;
    if (opts && opts->dir) {
        snprintf(out, len, "%s", opts->dir);
        return;
    }
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    /* the XDG spec: a relative XDG_CACHE_HOME is invalid and ignored */
    if (xdg && xdg[0] == '/')
        snprintf(out, len, "%s/lamina/weights", xdg);
    else if (home && home[0] == '/')
        snprintf(out, len, "%s/.cache/lamina/weights", home);
}

int wcache_max(uint64_t *out, char *err, size_t len) {
    const char *s = getenv("LAMINA_WEIGHTS_CACHE_MAX");
    *out = WCACHE_DEFAULT_MAX;
    if (!s || !*s) return 0;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    int shift = 0;
    switch (*end) {
    case 'K': shift = 10, end++; break;
    case 'M': shift = 20, end++; break;
    case 'G': shift = 30, end++; break;
    case 'T': shift = 40, end++; break;
    default: break;
    }
    if (errno || end == s || *end || s[0] == '-' || (shift && v > (UINT64_MAX >> shift))) {
        snprintf(err, len,
                 "LAMINA_WEIGHTS_CACHE_MAX=%.100s: not a size (bytes, or a number with K, M, G or "
                 "T); using %llu GiB",
                 s, (unsigned long long)(WCACHE_DEFAULT_MAX >> 30));
        return -1;
    }
    *out = (uint64_t)v << shift;
    return 0;
}

/* ---- the images of a directory ----------------------------------------- */

typedef struct entry {
    char path[PATH_MAX];
    uint64_t bytes;
    uint64_t used; /* mtime in ns: written or last mapped */
    int stale;     /* model changed or gone, damaged, or a dead writer's temporary */
} entry;

static int is_image(const char *name) {
    size_t n = strlen(name);
    return n > 4 && strcmp(name + n - 4, ".lmw") == 0;
}

/* NAME.lmw.tmp-PID-N of a process that is gone (a live writer's stays). */
static int dead_temporary(const char *name) {
    const char *t = strstr(name, ".lmw.tmp-");
    if (!t) return 0;
    long pid = strtol(t + 9, NULL, 10);
    return pid > 0 && kill((pid_t)pid, 0) && errno == ESRCH;
}

/* The images (and dead temporaries) of dir, malloc'd; *n of them. */
static entry *scan(const char *dir, int *n) {
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) return NULL;
    entry *list = NULL;
    int cap = 0;
    for (struct dirent *de; (de = readdir(d));) {
        int img = is_image(de->d_name), tmp = !img && dead_temporary(de->d_name);
        if (!img && !tmp) continue;
        if (*n == cap) {
            entry *grown = realloc(list, (size_t)(cap = cap ? 2 * cap : 16) * sizeof *list);
            if (!grown) break;
            list = grown;
        }
        entry *e = &list[*n];
        struct stat st;
        if (snprintf(e->path, sizeof e->path, "%s/%s", dir, de->d_name) >= (int)sizeof e->path ||
            lstat(e->path, &st) || !S_ISREG(st.st_mode))
            continue;
        e->bytes = (uint64_t)st.st_size,
        e->used = (uint64_t)st.st_mtim.tv_sec * 1000000000u + (uint64_t)st.st_mtim.tv_nsec;
        e->stale = tmp;
        lm_weights_image_desc desc;
        lm_error err;
        if (img) e->stale = lm_weights_image_describe(e->path, &desc, &err) || desc.stale;
        (*n)++;
    }
    closedir(d);
    return list;
}

/* Stale ones first, then the least recently used. */
static int by_eviction_order(const void *a, const void *b) {
    const entry *x = a, *y = b;
    if (x->stale != y->stale) return y->stale - x->stale;
    return (x->used > y->used) - (x->used < y->used);
}

int wcache_evict(const char *dir, uint64_t cap, const char *keep) {
    int n, removed = 0;
    entry *list = scan(dir, &n);
    uint64_t total = 0;
    for (int i = 0; i < n; i++) total += list[i].bytes;
    if (n) qsort(list, (size_t)n, sizeof *list, by_eviction_order);
    for (int i = 0; i < n; i++) {
        entry *e = &list[i];
        if (keep && strcmp(e->path, keep) == 0) continue;
        if (!e->stale && (cap == 0 || total <= cap)) continue;
        if (unlink(e->path) == 0) total -= e->bytes, removed++;
    }
    free(list);
    return removed;
}

lm_model *wcache_load(const char *path, const wcache_opts *opts, lm_note_fn *note, void *arg,
                      lm_error *err) {
    char dir[PATH_MAX];
    wcache_dir(opts, dir, sizeof dir);
    lm_model_load_params p = {
        .image_dir = dir, .note = note, .note_arg = arg, .read_only = opts && opts->read_only};
    lm_model *m = lm_model_load_ex(path, p, err);
    if (!m || !dir[0] || p.read_only) return m;
    char msg[256], image[PATH_MAX];
    uint64_t cap;
    if (wcache_max(&cap, msg, sizeof msg) && note) note(arg, msg);
    lm_error e;
    if (lm_weights_image_path(path, dir, image, sizeof image, &e) == 0)
        wcache_evict(dir, cap, image);
    return m;
}

/* ---- lamina cache -------------------------------------------------------- */

static const char usage[] =
    "usage: lamina cache list|clear [--weights-cache DIR]\n"
    "       lamina cache verify MODEL [--weights-cache DIR]\n"
    "       lamina cache dir\n"
    "The weights cache holds each model's weights packed into panels, written\n"
    "on its first run and mapped by later ones (README, \"Weights cache\").\n"
    "  list     the images: size, last use, model, and whether stale\n"
    "  clear    remove every image (and temporaries of writers that died)\n"
    "  verify   compare MODEL's image byte for byte with a fresh packing\n"
    "  dir      print the directory in use\n"
    "The directory is --weights-cache DIR, else $XDG_CACHE_HOME/lamina/weights,\n"
    "else ~/.cache/lamina/weights; its size cap is LAMINA_WEIGHTS_CACHE_MAX\n"
    "(bytes, or K, M, G, T; 0 = none; default 32G): after each load the least\n"
    "recently used images beyond it are removed, stale ones first.\n";

static int list(const char *dir) {
    int n;
    entry *es = scan(dir, &n);
    uint64_t total = 0;
    if (n) qsort(es, (size_t)n, sizeof *es, by_eviction_order);
    for (int i = n - 1; i >= 0; i--) {
        lm_weights_image_desc d;
        lm_error e;
        char when[32];
        time_t t = (time_t)(es[i].used / 1000000000u);
        strftime(when, sizeof when, "%Y-%m-%d %H:%M", localtime(&t));
        int ok = lm_weights_image_describe(es[i].path, &d, &e) == 0;
        printf("%s  %8.1f MiB  used %s  %s%s\n", es[i].path, (double)es[i].bytes / 1048576.0, when,
               ok ? d.model_path : e.msg, es[i].stale ? "  (stale)" : "");
        total += es[i].bytes;
    }
    printf("%d image%s, %.1f MiB in %s\n", n, n == 1 ? "" : "s", (double)total / 1048576.0, dir);
    free(es);
    return 0;
}

static int clear(const char *dir) {
    int n, removed = 0;
    entry *es = scan(dir, &n);
    for (int i = 0; i < n; i++) removed += unlink(es[i].path) == 0;
    printf("removed %d of %d file%s from %s\n", removed, n, n == 1 ? "" : "s", dir);
    free(es);
    return removed == n ? 0 : 1;
}

int wcache_command(int argc, char **argv) {
    wcache_opts o = {0};
    const char *verb = NULL, *model = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return fputs(usage, stdout), 0;
        if (strcmp(argv[i], "--weights-cache") == 0 && i + 1 < argc) {
            o.dir = argv[++i];
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "lamina: error: cache: unknown option '%s' (see lamina cache --help)\n",
                    argv[i]);
            return 2;
        } else if (!verb) {
            verb = argv[i];
        } else if (!model && strcmp(verb, "verify") == 0) {
            model = argv[i];
        } else {
            fprintf(stderr, "lamina: error: cache: unexpected argument '%s'\n", argv[i]);
            return 2;
        }
    }
    int known = verb && (strcmp(verb, "list") == 0 || strcmp(verb, "clear") == 0 ||
                         strcmp(verb, "dir") == 0 || (strcmp(verb, "verify") == 0 && model));
    if (!known) {
        fprintf(stderr, "lamina: error: cache: %s (see lamina cache --help)\n",
                verb ? "unknown or incomplete command" : "list, clear, verify or dir?");
        return 2;
    }
    char dir[PATH_MAX];
    wcache_dir(&o, dir, sizeof dir);
    if (!dir[0]) {
        fprintf(stderr, "lamina: error: cache: no directory (set HOME or XDG_CACHE_HOME)\n");
        return 1;
    }
    if (strcmp(verb, "dir") == 0) return printf("%s\n", dir), 0;
    if (strcmp(verb, "list") == 0) return list(dir);
    if (strcmp(verb, "clear") == 0) return clear(dir);
    lm_error e;
    int rc = lm_weights_image_verify(model, dir, &e);
    if (rc) {
        fprintf(stderr, "lamina: error: %s\n", e.msg);
        return 1;
    }
    char image[PATH_MAX];
    lm_weights_image_path(model, dir, image, sizeof image, &e);
    printf("%s: equal to a fresh packing of %s\n", image, model);
    return 0;
}
