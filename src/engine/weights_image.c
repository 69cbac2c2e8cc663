/* Weights images: the panels of a model (kernels/pack.h) kept in a file in a
 * directory the caller names, so that a later load maps them instead of
 * packing again (src/FORMATS.md, "Weights images").
 *
 * A load runs only cheap checks: the header (its checksum, sizes, the layout
 * version), the model file identity recorded in it, and a hash of the first
 * bytes of every matrix (a crash can leave a renamed file of zeros). The
 * image is mapped MAP_SHARED read-only: processes share its pages, and a
 * writer never changes a file in place (a new image is a temporary renamed
 * over the old name), so a mapping in use never changes under its reader. */
#include "weights_image.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "pack.h"
#include "qtypes.h"

_Static_assert(sizeof(lm_wimage_head) == 160, "the stored header has no padding");
_Static_assert(sizeof(lm_wimage_entry) == 32, "the stored entry has no padding");

#define SAMPLE_BYTES 64

/* FNV-1a, 64 bits: the header checksum, the image key and the sample. */
static uint64_t fnv(uint64_t h, const void *p, size_t n) {
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}
#define FNV0 0xcbf29ce484222325ull

static int overflows(uint64_t a, uint64_t b) { return a > UINT64_MAX - b; }

lm_wimage_entry lm_wimage_entry_at(const lm_wimage *w, uint32_t i) {
    lm_wimage_entry e;
    memcpy(&e, w->p + sizeof(lm_wimage_head) + (size_t)i * sizeof e, sizeof e);
    return e;
}

static int check_entries(const lm_wimage *w, lm_error *err) {
    const lm_wimage_head *h = &w->h;
    for (uint32_t i = 0; i < h->n_mats; i++) {
        lm_wimage_entry e = lm_wimage_entry_at(w, i);
        if (e.type > LM_WT_Q6_K || e.rows <= 0 || e.cols <= 0 || e.gs < 0)
            return lm_fail(err, "matrix %u: bad type or shape", i);
        if (e.offset % 64 || overflows(e.offset, e.bytes) || e.offset + e.bytes > h->data_bytes)
            return lm_fail(err, "matrix %u: offset %llu + %llu bytes outside the data", i,
                           (unsigned long long)e.offset, (unsigned long long)e.bytes);
    }
    if (h->norms_offset % 64 || h->norms_bytes % 4 || overflows(h->norms_offset, h->norms_bytes) ||
        h->norms_offset + h->norms_bytes > h->data_bytes)
        return lm_fail(err, "norms outside the data");
    return 0;
}

int lm_wimage_parse(const uint8_t *p, uint64_t size, lm_wimage *out, lm_error *err) {
    lm_wimage_head *h = &out->h;
    out->p = p;
    if (size < sizeof *h) return lm_fail(err, "too small (%llu bytes)", (unsigned long long)size);
    memcpy(h, p, sizeof *h);
    if (memcmp(h->magic, LM_WIMAGE_MAGIC, 8)) return lm_fail(err, "not a weights image");
    if (h->endian != LM_WIMAGE_ENDIAN)
        return lm_fail(err, "written on a machine of another byte order");
    if (h->version != LM_WIMAGE_VERSION)
        return lm_fail(err, "image format version %u (this lamina writes %d)", h->version,
                       LM_WIMAGE_VERSION);
    if (h->n_mats > LM_WIMAGE_MAX_MATS || h->path_len > LM_WIMAGE_MAX_PATH)
        return lm_fail(err, "header claims %u matrices and a %u-byte path", h->n_mats, h->path_len);
    uint64_t need = sizeof *h + (uint64_t)h->n_mats * sizeof(lm_wimage_entry) + h->path_len;
    need = (need + 7) / 8 * 8 + 8; /* the checksum, 8-byte aligned */
    if (h->header_bytes != need || need > size)
        return lm_fail(err, "header of %llu bytes, expected %llu (file %llu)",
                       (unsigned long long)h->header_bytes, (unsigned long long)need,
                       (unsigned long long)size);
    uint64_t sum;
    memcpy(&sum, p + need - 8, 8);
    if (sum != fnv(FNV0, p, (size_t)need - 8)) return lm_fail(err, "header checksum mismatch");
    if (h->data_offset % LM_WIMAGE_ALIGN || h->data_offset < need ||
        overflows(h->data_offset, h->data_bytes) || h->data_offset + h->data_bytes != h->file_bytes)
        return lm_fail(err, "bad data offset or size");
    if (h->file_bytes != size)
        return lm_fail(err, "file is %llu bytes, header says %llu: truncated",
                       (unsigned long long)size, (unsigned long long)h->file_bytes);
    return check_entries(out, err);
}

/* The panel layout of this build: pack.c's LM_PACK_LAYOUT_VERSION x 1000 plus
 * the sum of the block types' panel versions (kernels/qtypes.h; they only go
 * up), so that raising any of them rebuilds every image (a new key, and the
 * header's layout differs) instead of misreading one. */
static uint32_t layout_now(void) {
    static const lm_wtype types[] = {LM_WT_Q4_0, LM_WT_Q4_1, LM_WT_Q5_0, LM_WT_Q5_1,
                                     LM_WT_Q4_K, LM_WT_Q5_K, LM_WT_Q6_K};
    uint32_t v = 0;
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        v += (uint32_t)lm_qtype_of(types[i])->version;
    return (uint32_t)LM_PACK_LAYOUT_VERSION * 1000u + v % 1000u;
}

int lm_weights_image_layout(void) { return (int)layout_now(); }

/* ---- matching a model ----------------------------------------------------- */

static void config_of(const lm_model *m, int32_t c[11]) {
    const lm_config *k = m->c;
    int32_t v[11] = {k->dim,
                     k->hidden_dim,
                     k->n_layers,
                     k->n_heads,
                     k->n_kv_heads,
                     k->vocab_size,
                     k->seq_len,
                     lm_head_size(k),
                     (int32_t)m->info.format,
                     m->info.group_size,
                     m->info.shared_classifier};
    memcpy(c, v, sizeof v);
}

/* The entries the model's matrices must have, offsets laid out as
 * pack_weights lays them out (norms last); returns how many. */
static uint32_t expected_entries(lm_model *m, lm_wimage_entry *e, uint64_t *norms_off,
                                 uint64_t *data_bytes) {
    uint32_t n = 0;
    uint64_t at = 0;
    for (int j = 0; j < lm_model_n_matrices(m); j++) {
        lm_matrix *w = lm_model_matrix(m, j);
        if (!w) continue;
        int gs;
        lm_wtype t = lm_matrix_packed_type(w, &gs);
        size_t bytes = lm_matrix_packed_bytes(w);
        e[n++] = (lm_wimage_entry){(uint32_t)t, w->rows, w->cols, gs, at, bytes};
        at += bytes;
    }
    *norms_off = at;
    *data_bytes = at + lm_model_norm_floats(m) * sizeof(float);
    return n;
}

static uint64_t sample_of(const uint8_t *data, const lm_wimage_entry *e, uint32_t n,
                          uint64_t norms_off, uint64_t norms_bytes) {
    uint64_t h = FNV0;
    for (uint32_t i = 0; i < n; i++)
        h = fnv(h, data + e[i].offset, e[i].bytes < SAMPLE_BYTES ? e[i].bytes : SAMPLE_BYTES);
    return fnv(h, data + norms_off, norms_bytes < SAMPLE_BYTES ? norms_bytes : SAMPLE_BYTES);
}

/* The identity a model file must still have for its image to be used. */
static int same_model(const lm_wimage_head *h, const lm_model *m) {
    return h->model_size == m->file_size && h->model_mtime_ns == m->file_mtime_ns &&
           h->model_ino == m->file_ino && h->model_dev == m->file_dev;
}

/* Whether the parsed image at w is the panels of m as this build packs them. */
static int image_matches(lm_model *m, const lm_wimage *w, lm_wimage_entry *want, lm_error *err) {
    const lm_wimage_head *h = &w->h;
    if (h->layout != layout_now())
        return lm_fail(err, "panel layout %u (this lamina packs %u)", h->layout, layout_now());
    if (!same_model(h, m)) return lm_fail(err, "stale: the model file changed since");
    int32_t c[11];
    config_of(m, c);
    uint64_t norms_off, data_bytes;
    uint32_t n = expected_entries(m, want, &norms_off, &data_bytes);
    if (memcmp(c, h->config, sizeof c) || n != h->n_mats || data_bytes != h->data_bytes ||
        norms_off != h->norms_offset || data_bytes - norms_off != h->norms_bytes)
        return lm_fail(err, "its shapes differ from the model's");
    for (uint32_t i = 0; i < n; i++) {
        lm_wimage_entry e = lm_wimage_entry_at(w, i);
        if (memcmp(&e, &want[i], sizeof e)) return lm_fail(err, "matrix %u differs", i);
    }
    if (sample_of(w->p + h->data_offset, want, n, norms_off, h->norms_bytes) != h->sample)
        return lm_fail(err, "its data does not match its header (damaged)");
    return 0;
}

/* Maps fd (an image of `size` bytes) and points m at it when it matches.
 * 0 on success; -1 (err says why) leaves m as it was. */
static int adopt(lm_model *m, int fd, uint64_t size, lm_error *err) {
    if (size < sizeof(lm_wimage_head) || size > SIZE_MAX / 2)
        return lm_fail(err, "too small (%llu bytes)", (unsigned long long)size);
    void *map = mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) return lm_fail(err, "cannot map: %s", strerror(errno));
    lm_wimage w;
    lm_wimage_entry *want = malloc((size_t)lm_model_n_matrices(m) * sizeof *want);
    /* the RoPE table (rope.c) is the model's, not the image's: made here as
     * pack_weights makes it (a GGUF's rope_freqs made it while parsing) */
    int bad = !want ? lm_fail(err, "out of memory")
                    : lm_wimage_parse(map, size, &w, err) || image_matches(m, &w, want, err) ||
                          (!m->rope_freq && lm_rope_table(m, NULL, "weights image", err));
    if (bad) {
        free(want);
        munmap(map, (size_t)size);
        return -1;
    }
    uint64_t *off = (uint64_t *)want; /* reuse: offsets only */
    for (uint32_t i = 0; i < w.h.n_mats; i++) off[i] = want[i].offset;
    lm_model_point(m, (const char *)map + w.h.data_offset, off, w.h.norms_offset);
    free(want);
    m->image = map, m->image_size = (size_t)size;
    return 0;
}

/* ---- the key and the path ------------------------------------------------ */

/* One image per model file (device and inode, so that every path and hard
 * link to it shares one) and panel layout; the rest of the identity is
 * checked in the header, so that a model rewritten in place replaces its
 * image instead of adding one. */
static uint64_t image_key(uint64_t dev, uint64_t ino) {
    uint64_t v[5] = {dev, ino, LM_WIMAGE_VERSION, layout_now(), LM_PANEL};
    return fnv(FNV0, v, sizeof v);
}

static int path_in(char *out, size_t len, const char *dir, uint64_t dev, uint64_t ino,
                   lm_error *err) {
    int n = snprintf(out, len, "%s/%016llx.lmw", dir, (unsigned long long)image_key(dev, ino));
    if (n < 0 || (size_t)n >= len) return lm_fail(err, "%s: path too long", dir);
    return 0;
}

int lm_weights_image_path(const char *model_path, const char *dir, char *out, size_t out_len,
                          lm_error *err) {
    struct stat st;
    if (stat(model_path, &st))
        return lm_fail(err, "%s: cannot open checkpoint: %s", model_path, strerror(errno));
    return path_in(out, out_len, dir, (uint64_t)st.st_dev, (uint64_t)st.st_ino, err);
}

/* ---- writing ------------------------------------------------------------- */

/* mkdir -p for the cache directory: the folders it makes are private. */
static int make_dir(const char *dir) {
    char buf[PATH_MAX];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof buf) return errno = ENAMETOOLONG, -1;
    memcpy(buf, dir, n + 1);
    for (char *s = buf + 1; *s; s++)
        if (*s == '/') {
            *s = '\0';
            if (mkdir(buf, 0700) && errno != EEXIST) return -1;
            *s = '/';
        }
    if (mkdir(buf, 0700) && errno != EEXIST) return -1;
    return 0;
}

static int write_all(int fd, const void *p, size_t n, uint64_t at) {
    const char *b = p;
    while (n) {
        ssize_t w = pwrite(fd, b, n < (1u << 30) ? n : (1u << 30), (off_t)at);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return w ? -1 : (errno = ENOSPC, -1);
        b += w, n -= (size_t)w, at += (uint64_t)w;
    }
    return 0;
}

/* The header of m's packed memory (m->packed) as an image, in a buffer of
 * *data_offset bytes (zeros after the header up to the data). */
static uint8_t *build_header(lm_model *m, const char *model_path, uint64_t *data_offset) {
    int nm = lm_model_n_matrices(m);
    lm_wimage_entry *e = malloc((size_t)nm * sizeof *e);
    if (!e) return NULL;
    lm_wimage_head h = {
        .version = LM_WIMAGE_VERSION, .layout = layout_now(), .endian = LM_WIMAGE_ENDIAN};
    memcpy(h.magic, LM_WIMAGE_MAGIC, 8);
    h.n_mats = expected_entries(m, e, &h.norms_offset, &h.data_bytes);
    h.norms_bytes = h.data_bytes - h.norms_offset;
    size_t plen = strlen(model_path);
    h.path_len = (uint32_t)(plen < LM_WIMAGE_MAX_PATH ? plen : 0);
    h.header_bytes = (sizeof h + (uint64_t)h.n_mats * sizeof *e + h.path_len + 7) / 8 * 8 + 8;
    h.data_offset = (h.header_bytes + LM_WIMAGE_ALIGN - 1) / LM_WIMAGE_ALIGN * LM_WIMAGE_ALIGN;
    h.file_bytes = h.data_offset + h.data_bytes;
    h.model_size = m->file_size, h.model_mtime_ns = m->file_mtime_ns;
    h.model_ino = m->file_ino, h.model_dev = m->file_dev;
    config_of(m, h.config);
    h.sample = sample_of(m->packed, e, h.n_mats, h.norms_offset, h.norms_bytes);
    uint8_t *buf = calloc(1, (size_t)h.data_offset);
    if (buf) {
        memcpy(buf, &h, sizeof h);
        memcpy(buf + sizeof h, e, (size_t)h.n_mats * sizeof *e);
        memcpy(buf + sizeof h + (size_t)h.n_mats * sizeof *e, model_path, h.path_len);
        uint64_t sum = fnv(FNV0, buf, (size_t)h.header_bytes - 8);
        memcpy(buf + h.header_bytes - 8, &sum, 8);
    }
    free(e);
    *data_offset = h.data_offset;
    return buf;
}

/* Write m's packed panels as the image `final` (temporary + rename) and map
 * it in their place. 0, or -1 with err saying why (m unchanged). */
static int write_image(lm_model *m, const char *dir, const char *final, const char *model_path,
                       lm_error *err) {
    if (make_dir(dir)) return lm_fail(err, "cannot create %s: %s", dir, strerror(errno));
    char tmp[PATH_MAX];
    int fd = -1;
    for (int i = 0; i < 100 && fd < 0; i++) {
        if (snprintf(tmp, sizeof tmp, "%s.tmp-%ld-%d", final, (long)getpid(), i) >= (int)sizeof tmp)
            return lm_fail(err, "%s: path too long", dir);
        fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0 && errno != EEXIST) break;
    }
    if (fd < 0) return lm_fail(err, "cannot write in %s: %s", dir, strerror(errno));
    uint64_t data_offset = 0;
    uint8_t *head = build_header(m, model_path, &data_offset);
    lm_wimage_head h;
    int bad = !head;
    if (head) memcpy(&h, head, sizeof h);
    if (!bad && (write_all(fd, head, (size_t)data_offset, 0) ||
                 write_all(fd, m->packed, (size_t)h.data_bytes, data_offset)))
        bad = 1;
    int e = bad && head ? errno : ENOMEM;
    free(head);
    if (!bad && adopt(m, fd, h.file_bytes, err)) bad = 1, e = EIO;
    if (!bad && rename(tmp, final)) {
        /* m already reads the temporary: keep it (unlinked, it lives while mapped) */
        e = errno;
        unlink(tmp);
        close(fd);
        return lm_fail(err, "cannot rename into %s: %s", dir, strerror(e));
    }
    if (bad) {
        unlink(tmp);
        close(fd);
        return lm_fail(err, "cannot write in %s: %s", dir, strerror(e));
    }
    close(fd);
    return 0;
}

/* ---- loading ------------------------------------------------------------- */

static void note(const lm_model_load_params *p, const char *fmt, const char *a, const char *b) {
    if (!p->note) return;
    char line[1024];
    snprintf(line, sizeof line, fmt, a, b);
    p->note(p->note_arg, line);
}

/* Map the image at path if it is m's; 0 mapped, 1 absent, -1 unusable. */
static int try_map(lm_model *m, const char *path, int touch, lm_error *why) {
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return errno == ENOENT ? 1 : lm_fail(why, "cannot open: %s", strerror(errno));
    struct stat st;
    int rc = fstat(fd, &st)         ? lm_fail(why, "cannot stat: %s", strerror(errno))
             : !S_ISREG(st.st_mode) ? lm_fail(why, "not a regular file")
                                    : adopt(m, fd, (uint64_t)st.st_size, why);
    if (rc == 0 && touch) futimens(fd, NULL); /* its last use, for eviction; best effort */
    close(fd);
    return rc;
}

int lm_weights_image_attach(lm_model *m, const char *model_path, const lm_model_load_params *p,
                            lm_error *err) {
    double t0 = lm_seconds();
    char path[PATH_MAX];
    if (path_in(path, sizeof path, p->image_dir, m->file_dev, m->file_ino, err)) return -1;
    lm_error why = {{0}};
    if (try_map(m, path, !p->read_only, &why) == 0) {
        m->info.weights_image = LM_IMAGE_MAPPED;
        m->info.pack_seconds = lm_seconds() - t0;
        return 0;
    }
    if (lm_model_pack(m, model_path, err)) return -1;
    m->info.weights_image = LM_IMAGE_NONE;
    if (p->read_only) return 0;
    char abs[PATH_MAX];
    const char *shown = realpath(model_path, abs) ? abs : model_path;
    if (write_image(m, p->image_dir, path, shown, &why) == 0) {
        m->info.weights_image = LM_IMAGE_WRITTEN;
    } else {
        note(p, "weights cache: %.600s; the weights are packed in memory", why.msg, "");
        m->info.weights_image = LM_IMAGE_NONE;
    }
    m->info.pack_seconds = lm_seconds() - t0;
    return 0;
}

/* ---- listing and verification -------------------------------------------- */

/* The image at path mapped and its header parsed; NULL with err set. */
static void *map_parsed(const char *path, lm_wimage *w, size_t *size, lm_error *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        lm_fail(err, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    void *map = MAP_FAILED;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0)
        map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    lm_error why;
    if (map == MAP_FAILED) {
        lm_fail(err, "%s: cannot map (empty or not a regular file)", path);
        return NULL;
    }
    if (lm_wimage_parse(map, (uint64_t)st.st_size, w, &why)) {
        lm_fail(err, "%s: %s", path, why.msg);
        munmap(map, (size_t)st.st_size);
        return NULL;
    }
    *size = (size_t)st.st_size;
    return map;
}

int lm_weights_image_describe(const char *image_path, lm_weights_image_desc *out, lm_error *err) {
    memset(out, 0, sizeof *out);
    lm_wimage w;
    size_t size;
    void *map = map_parsed(image_path, &w, &size, err);
    if (!map) return -1;
    size_t n = w.h.path_len < sizeof out->model_path ? w.h.path_len : sizeof out->model_path - 1;
    memcpy(out->model_path, (const char *)map + sizeof w.h + (size_t)w.h.n_mats * 32, n);
    out->model_path[n] = '\0';
    out->model_size = w.h.model_size, out->model_mtime_ns = w.h.model_mtime_ns;
    out->image_bytes = w.h.file_bytes;
    out->layout_version = (int)w.h.layout;
    struct stat st;
    out->stale = w.h.layout != layout_now() || !n || stat(out->model_path, &st) ||
                 (uint64_t)st.st_size != w.h.model_size || (uint64_t)st.st_ino != w.h.model_ino ||
                 (uint64_t)st.st_dev != w.h.model_dev ||
                 (uint64_t)st.st_mtim.tv_sec * 1000000000u + (uint64_t)st.st_mtim.tv_nsec !=
                     w.h.model_mtime_ns;
    munmap(map, size);
    return 0;
}

/* Compare the image's panels, matrix by matrix, with m's fresh packing. */
static int compare_data(lm_model *m, const lm_wimage *w, const char *path, lm_error *err) {
    lm_wimage_entry *want = malloc((size_t)lm_model_n_matrices(m) * sizeof *want);
    if (!want) return lm_fail(err, "out of memory"), -1;
    lm_error why;
    int rc = 0;
    if (image_matches(m, w, want, &why)) rc = 1, lm_fail(err, "%s: %s", path, why.msg);
    const uint8_t *data = w->p + w->h.data_offset, *mine = m->packed;
    for (uint32_t i = 0; !rc && i < w->h.n_mats; i++)
        if (memcmp(data + want[i].offset, mine + want[i].offset, (size_t)want[i].bytes))
            rc = 1, lm_fail(err, "%s: matrix %u (%d x %d) differs from a fresh packing", path, i,
                            want[i].rows, want[i].cols);
    if (!rc && memcmp(data + w->h.norms_offset, mine + w->h.norms_offset, w->h.norms_bytes))
        rc = 1, lm_fail(err, "%s: the norms differ from the model's", path);
    free(want);
    return rc;
}

int lm_weights_image_verify(const char *model_path, const char *dir, lm_error *err) {
    char path[PATH_MAX];
    if (lm_weights_image_path(model_path, dir, path, sizeof path, err)) return -1;
    lm_model *m = lm_model_map(model_path, err);
    if (!m) return -1;
    if (lm_model_pack(m, model_path, err)) {
        lm_model_free(m);
        return -1;
    }
    lm_wimage w;
    size_t size;
    lm_error why;
    void *map = map_parsed(path, &w, &size, &why);
    int rc = 1;
    if (!map) {
        lm_fail(err, "%s", why.msg);
        rc = access(path, F_OK) ? -1 : 1;
    } else {
        rc = compare_data(m, &w, path, err);
        munmap(map, size);
    }
    lm_model_free(m);
    return rc;
}
