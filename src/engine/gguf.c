/* The GGUF parser (gguf.h). One pass reads the header, the metadata and the
 * tensor infos through a bounds-checked cursor; then the names are sorted
 * (duplicates refused, lookups by binary search) and the tensors' places in
 * the data section checked (sorted by offset: aligned, inside, disjoint).
 * Work and memory grow with the entries the file really holds, never with the
 * counts its header claims. */
#include "gguf.h"

#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct lm_gguf {
    const uint8_t *base;
    uint64_t size;
    char *name;
    int version;
    uint32_t alignment;
    uint64_t data_off;
    lm_gguf_kv *kv;
    uint64_t n_kv;
    const lm_gguf_kv **kv_sorted; /* by key */
    lm_gguf_tensor *t;
    uint64_t n_t;
    const lm_gguf_tensor **t_sorted; /* by name */
};

/* ---- names of types ------------------------------------------------------ */

/* Block size (values) and bytes per block of every ggml_type llama.cpp
 * defines (gguf-py's GGML_QUANT_SIZES); unused numbers have blk 0. */
static const struct ggml_type_info {
    const char *name;
    uint16_t blk, bytes;
} types[] = {
    [0] = {"F32", 1, 4},         [1] = {"F16", 1, 2},         [2] = {"Q4_0", 32, 18},
    [3] = {"Q4_1", 32, 20},      [6] = {"Q5_0", 32, 22},      [7] = {"Q5_1", 32, 24},
    [8] = {"Q8_0", 32, 34},      [9] = {"Q8_1", 32, 36},      [10] = {"Q2_K", 256, 84},
    [11] = {"Q3_K", 256, 110},   [12] = {"Q4_K", 256, 144},   [13] = {"Q5_K", 256, 176},
    [14] = {"Q6_K", 256, 210},   [15] = {"Q8_K", 256, 292},   [16] = {"IQ2_XXS", 256, 66},
    [17] = {"IQ2_XS", 256, 74},  [18] = {"IQ3_XXS", 256, 98}, [19] = {"IQ1_S", 256, 50},
    [20] = {"IQ4_NL", 32, 18},   [21] = {"IQ3_S", 256, 110},  [22] = {"IQ2_S", 256, 82},
    [23] = {"IQ4_XS", 256, 136}, [24] = {"I8", 1, 1},         [25] = {"I16", 1, 2},
    [26] = {"I32", 1, 4},        [27] = {"I64", 1, 8},        [28] = {"F64", 1, 8},
    [29] = {"IQ1_M", 256, 56},   [30] = {"BF16", 1, 2},       [34] = {"TQ1_0", 256, 54},
    [35] = {"TQ2_0", 256, 66},   [39] = {"MXFP4", 32, 17},    [40] = {"NVFP4", 64, 36},
    [41] = {"Q1_0", 128, 18},    [42] = {"Q2_0", 64, 18},
};
#define N_TYPES (sizeof types / sizeof types[0])

static const struct ggml_type_info *type_info(uint32_t t) {
    return t < N_TYPES && types[t].blk ? &types[t] : NULL;
}

const char *lm_gguf_type_name(uint32_t t, char buf[16]) {
    if (type_info(t)) return type_info(t)->name;
    snprintf(buf, 16, "type %u", t);
    return buf;
}

static const char *const vtype_names[] = {"u8",   "i8",     "u16",   "i16", "u32", "i32", "f32",
                                          "bool", "string", "array", "u64", "i64", "f64"};

const char *lm_gguf_vtype_name(uint32_t v) { return v <= LM_GGUF_F64 ? vtype_names[v] : "unknown"; }

/* Bytes of one value of a fixed-size type; 0 for STRING and ARRAY. */
static uint64_t vtype_bytes(uint32_t v) {
    static const uint8_t b[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    return v <= LM_GGUF_F64 ? b[v] : 0;
}

const char *lm_gguf_show(lm_gguf_str s, char buf[LM_GGUF_SHOW_BYTES]) {
    size_t o = 0, n = s.n > 64 ? 64 : (size_t)s.n;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s.p[i];
        if (ch >= 0x20 && ch < 0x7f && ch != '\\')
            buf[o++] = (char)ch;
        else
            o += (size_t)snprintf(buf + o, 5, "\\x%02x", ch);
    }
    if (s.n > n) memcpy(buf + o, "...", 3), o += 3;
    buf[o] = '\0';
    return buf;
}

/* ---- the cursor ----------------------------------------------------------- */

typedef struct cursor {
    const uint8_t *p;
    uint64_t off, size;
} cursor;

static uint64_t left(const cursor *c) { return c->size - c->off; }

static int get(cursor *c, void *out, uint64_t n) {
    if (left(c) < n) return -1;
    memcpy(out, c->p + c->off, (size_t)n);
    c->off += n;
    return 0;
}

static int get_u32(cursor *c, uint32_t *v) { return get(c, v, 4); }
static int get_u64(cursor *c, uint64_t *v) { return get(c, v, 8); }

/* A string: uint64 length, then that many bytes, all inside the file. */
static int get_str(cursor *c, lm_gguf_str *s) {
    uint64_t n;
    if (get_u64(c, &n) || n > left(c)) return -1;
    s->p = (const char *)c->p + c->off;
    s->n = n;
    c->off += n;
    return 0;
}

/* ---- metadata ------------------------------------------------------------- */

/* Parsing state: the cursor, the file's name and the message. */
typedef struct parse {
    cursor c;
    const char *name;
    lm_error *err;
    lm_gguf *g;
} parse;

/* Appends one zeroed element to *arr (n used, *cap allocated), doubling. */
static void *grow(void **arr, uint64_t n, uint64_t *cap, size_t elem) {
    if (n == *cap) {
        uint64_t want = *cap ? *cap * 2 : 16;
        void *p = realloc(*arr, (size_t)want * elem);
        if (!p) return NULL;
        *arr = p;
        *cap = want;
    }
    void *e = (char *)*arr + (size_t)n * elem;
    memset(e, 0, elem);
    return e;
}

static int value_fail(parse *ps, const lm_gguf_kv *kv, const char *what) {
    char b[LM_GGUF_SHOW_BYTES];
    return lm_fail(ps->err, "%s: GGUF key '%s': %s", ps->name, lm_gguf_show(kv->key, b), what);
}

/* The value of kv (its type already read): checked and skipped. */
static int read_value(parse *ps, lm_gguf_kv *kv) {
    cursor *c = &ps->c;
    char msg[120];
    kv->count = 1;
    kv->data = c->p + c->off;
    if (kv->type > LM_GGUF_F64) {
        snprintf(msg, sizeof msg, "unknown value type %u", (unsigned)kv->type);
        return value_fail(ps, kv, msg);
    }
    if (kv->type == LM_GGUF_STRING)
        return get_str(c, &kv->str) ? value_fail(ps, kv, "string runs past the end of the file")
                                    : 0;
    if (kv->type != LM_GGUF_ARRAY) {
        if (left(c) < vtype_bytes(kv->type))
            return value_fail(ps, kv, "value runs past the end of the file");
        c->off += vtype_bytes(kv->type);
        return 0;
    }
    uint32_t elem;
    if (get_u32(c, &elem) || get_u64(c, &kv->count))
        return value_fail(ps, kv, "array header runs past the end of the file");
    kv->elem_type = (lm_gguf_vtype)elem;
    kv->data = c->p + c->off;
    if (elem == LM_GGUF_ARRAY) return value_fail(ps, kv, "arrays of arrays are not supported");
    if (elem > LM_GGUF_F64) {
        snprintf(msg, sizeof msg, "array of unknown value type %u", (unsigned)elem);
        return value_fail(ps, kv, msg);
    }
    /* every element takes at least 1 byte (a string at least its 8-byte length) */
    uint64_t least = elem == LM_GGUF_STRING ? 8 : vtype_bytes(elem);
    if (lm_mul(kv->count, least) > left(c)) {
        snprintf(msg, sizeof msg, "array of %llu elements runs past the end of the file",
                 (unsigned long long)kv->count);
        return value_fail(ps, kv, msg);
    }
    if (elem != LM_GGUF_STRING) {
        c->off += kv->count * least;
        return 0;
    }
    for (uint64_t i = 0; i < kv->count; i++) {
        lm_gguf_str s;
        if (get_str(c, &s)) {
            snprintf(msg, sizeof msg, "string %llu of %llu runs past the end of the file",
                     (unsigned long long)i, (unsigned long long)kv->count);
            return value_fail(ps, kv, msg);
        }
    }
    return 0;
}

/* A count the bytes left cannot hold (each entry takes at least `least`). */
static int count_fail(parse *ps, uint64_t n, uint64_t least, const char *what) {
    if (n <= left(&ps->c) / least) return 0;
    return lm_fail(ps->err,
                   "%s: GGUF header claims %llu %s, more than the %llu bytes left can hold: "
                   "truncated or corrupt",
                   ps->name, (unsigned long long)n, what, (unsigned long long)left(&ps->c));
}

static int read_kvs(parse *ps, uint64_t n) {
    lm_gguf *g = ps->g;
    uint64_t cap = 0;
    if (count_fail(ps, n, 8 + 4 + 1, "metadata entries")) return -1;
    for (uint64_t i = 0; i < n; i++) {
        lm_gguf_kv *kv = grow((void **)&g->kv, g->n_kv, &cap, sizeof *kv);
        if (!kv) return lm_fail(ps->err, "%s: out of memory reading GGUF metadata", ps->name);
        g->n_kv++;
        uint32_t type;
        if (get_str(&ps->c, &kv->key))
            return lm_fail(ps->err,
                           "%s: GGUF metadata entry %llu of %llu: key runs past the end of the "
                           "file (truncated, or a count or length that is too large)",
                           ps->name, (unsigned long long)i, (unsigned long long)n);
        if (get_u32(&ps->c, &type))
            return value_fail(ps, kv, "value type runs past the end of the file");
        kv->type = (lm_gguf_vtype)type;
        if (read_value(ps, kv)) return -1;
    }
    return 0;
}

/* ---- sorting and lookup ---------------------------------------------------- */

static int str_cmp(lm_gguf_str a, lm_gguf_str b) {
    int r = memcmp(a.p, b.p, (size_t)(a.n < b.n ? a.n : b.n));
    return r ? r : (a.n > b.n) - (a.n < b.n);
}

static int kv_cmp(const void *a, const void *b) {
    return str_cmp((*(const lm_gguf_kv *const *)a)->key, (*(const lm_gguf_kv *const *)b)->key);
}

static int t_name_cmp(const void *a, const void *b) {
    return str_cmp((*(const lm_gguf_tensor *const *)a)->name,
                   (*(const lm_gguf_tensor *const *)b)->name);
}

static int t_off_cmp(const void *a, const void *b) {
    const lm_gguf_tensor *x = *(const lm_gguf_tensor *const *)a,
                         *y = *(const lm_gguf_tensor *const *)b;
    return (x->offset > y->offset) - (x->offset < y->offset);
}

/* Sorted pointers to n elements of `elem` bytes at arr; NULL when out of memory. */
static const void **sorted(const void *arr, uint64_t n, size_t elem,
                           int (*cmp)(const void *, const void *)) {
    const void **s = malloc((size_t)(n ? n : 1) * sizeof *s);
    if (!s) return NULL;
    for (uint64_t i = 0; i < n; i++) s[i] = (const char *)arr + (size_t)i * elem;
    qsort(s, (size_t)n, sizeof *s, cmp);
    return s;
}

static int sort_kvs(parse *ps) {
    lm_gguf *g = ps->g;
    g->kv_sorted = (const lm_gguf_kv **)sorted(g->kv, g->n_kv, sizeof *g->kv, kv_cmp);
    if (!g->kv_sorted) return lm_fail(ps->err, "%s: out of memory", ps->name);
    for (uint64_t i = 1; i < g->n_kv; i++)
        if (!str_cmp(g->kv_sorted[i - 1]->key, g->kv_sorted[i]->key))
            return value_fail(ps, g->kv_sorted[i], "occurs more than once");
    return 0;
}

static lm_gguf_str cstr(const char *s) { return (lm_gguf_str){s, strlen(s)}; }

const lm_gguf_kv *lm_gguf_find(const lm_gguf *g, const char *key) {
    lm_gguf_str k = cstr(key);
    uint64_t lo = 0, hi = g->n_kv;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        int r = str_cmp(g->kv_sorted[mid]->key, k);
        if (!r) return g->kv_sorted[mid];
        if (r < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const lm_gguf_tensor *lm_gguf_find_tensor(const lm_gguf *g, const char *name) {
    lm_gguf_str k = cstr(name);
    uint64_t lo = 0, hi = g->n_t;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        int r = str_cmp(g->t_sorted[mid]->name, k);
        if (!r) return g->t_sorted[mid];
        if (r < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* ---- tensor infos ---------------------------------------------------------- */

static int tensor_fail(parse *ps, const lm_gguf_tensor *t, const char *what) {
    char b[LM_GGUF_SHOW_BYTES];
    return lm_fail(ps->err, "%s: GGUF tensor '%s': %s", ps->name, lm_gguf_show(t->name, b), what);
}

/* Type, dimensions and byte size of a tensor whose name has been read. */
static int read_shape(parse *ps, lm_gguf_tensor *t) {
    cursor *c = &ps->c;
    char msg[160], tb[16];
    uint32_t n_dims;
    if (get_u32(c, &n_dims)) return tensor_fail(ps, t, "info runs past the end of the file");
    if (n_dims < 1 || n_dims > LM_GGUF_MAX_DIMS) {
        snprintf(msg, sizeof msg, "%u dimensions (1 to %d allowed)", n_dims, LM_GGUF_MAX_DIMS);
        return tensor_fail(ps, t, msg);
    }
    t->n_dims = (int)n_dims;
    for (int d = 0; d < LM_GGUF_MAX_DIMS; d++) t->dims[d] = 1;
    uint64_t elems = 1;
    for (int d = 0; d < t->n_dims; d++) {
        if (get_u64(c, &t->dims[d]))
            return tensor_fail(ps, t, "info runs past the end of the file");
        if (t->dims[d] > INT64_MAX) return tensor_fail(ps, t, "a dimension exceeds 2^63");
        elems = lm_mul(elems, t->dims[d]);
    }
    if (get_u32(c, &t->type) || get_u64(c, &t->offset))
        return tensor_fail(ps, t, "info runs past the end of the file");
    const struct ggml_type_info *ti = type_info(t->type);
    if (!ti) {
        snprintf(msg, sizeof msg, "unknown tensor type %u", t->type);
        return tensor_fail(ps, t, msg);
    }
    if (t->dims[0] % ti->blk) {
        snprintf(msg, sizeof msg, "its innermost dimension %llu is not a multiple of %s's block %u",
                 (unsigned long long)t->dims[0], lm_gguf_type_name(t->type, tb), ti->blk);
        return tensor_fail(ps, t, msg);
    }
    t->bytes = lm_mul(elems / ti->blk, ti->bytes);
    if (elems == UINT64_MAX || t->bytes == UINT64_MAX)
        return tensor_fail(ps, t, "its size overflows 64 bits");
    if (t->bytes > ps->c.size) {
        snprintf(msg, sizeof msg, "its %llu bytes exceed the file (%llu bytes)",
                 (unsigned long long)t->bytes, (unsigned long long)ps->c.size);
        return tensor_fail(ps, t, msg);
    }
    return 0;
}

static int read_tensor_infos(parse *ps, uint64_t n) {
    lm_gguf *g = ps->g;
    uint64_t cap = 0;
    if (count_fail(ps, n, 8 + 4 + 8 + 4 + 8, "tensors")) return -1;
    for (uint64_t i = 0; i < n; i++) {
        lm_gguf_tensor *t = grow((void **)&g->t, g->n_t, &cap, sizeof *t);
        if (!t) return lm_fail(ps->err, "%s: out of memory reading GGUF tensor infos", ps->name);
        g->n_t++;
        if (get_str(&ps->c, &t->name))
            return lm_fail(ps->err,
                           "%s: GGUF tensor info %llu of %llu: name runs past the end of the "
                           "file (truncated, or a count or length that is too large)",
                           ps->name, (unsigned long long)i, (unsigned long long)n);
        if (read_shape(ps, t)) return -1;
    }
    return 0;
}

/* general.alignment: a power of two (default 32). */
static int read_alignment(parse *ps) {
    lm_gguf *g = ps->g;
    g->alignment = LM_GGUF_DEFAULT_ALIGNMENT;
    uint32_t a;
    int r = lm_gguf_get_u32(g, "general.alignment", &a, ps->err);
    if (r < 0) return -1;
    if (r == 0 && (a == 0 || (a & (a - 1))))
        return lm_fail(ps->err, "%s: GGUF key 'general.alignment': %u is not a power of two",
                       ps->name, a);
    if (r == 0) g->alignment = a;
    return 0;
}

/* Every tensor aligned, inside the data section, and disjoint from the others. */
static int place_tensors(parse *ps) {
    lm_gguf *g = ps->g;
    uint64_t a = g->alignment, end = ps->c.off;
    g->data_off = lm_add(end, (a - end % a) % a);
    if (g->n_t && g->data_off > ps->c.size)
        return lm_fail(ps->err,
                       "%s: GGUF data section would start at byte %llu, past the end of the "
                       "file (%llu bytes): truncated",
                       ps->name, (unsigned long long)g->data_off, (unsigned long long)ps->c.size);
    uint64_t room = g->n_t ? ps->c.size - g->data_off : 0;
    char msg[LM_GGUF_SHOW_BYTES + 100];
    for (uint64_t i = 0; i < g->n_t; i++) {
        lm_gguf_tensor *t = &g->t[i];
        if (t->offset % a) {
            snprintf(msg, sizeof msg, "offset %llu is not a multiple of the alignment %llu",
                     (unsigned long long)t->offset, (unsigned long long)a);
            return tensor_fail(ps, t, msg);
        }
        if (t->offset > room || t->bytes > room - t->offset) {
            snprintf(msg, sizeof msg,
                     "%llu bytes at offset %llu run past the end of the data section (%llu "
                     "bytes): truncated or corrupt",
                     (unsigned long long)t->bytes, (unsigned long long)t->offset,
                     (unsigned long long)room);
            return tensor_fail(ps, t, msg);
        }
        t->data = ps->c.p + g->data_off + t->offset;
    }
    const lm_gguf_tensor **by_off =
        (const lm_gguf_tensor **)sorted(g->t, g->n_t, sizeof *g->t, t_off_cmp);
    if (!by_off) return lm_fail(ps->err, "%s: out of memory", ps->name);
    int bad = 0;
    for (uint64_t i = 1; i < g->n_t && !bad; i++) {
        const lm_gguf_tensor *p = by_off[i - 1], *t = by_off[i];
        if (p->offset + p->bytes > t->offset && p->bytes && t->bytes) {
            char b[LM_GGUF_SHOW_BYTES];
            snprintf(msg, sizeof msg, "its data overlaps that of tensor '%s'",
                     lm_gguf_show(p->name, b));
            bad = tensor_fail(ps, t, msg);
        }
    }
    free(by_off);
    return bad;
}

static int sort_tensors(parse *ps) {
    lm_gguf *g = ps->g;
    g->t_sorted = (const lm_gguf_tensor **)sorted(g->t, g->n_t, sizeof *g->t, t_name_cmp);
    if (!g->t_sorted) return lm_fail(ps->err, "%s: out of memory", ps->name);
    for (uint64_t i = 1; i < g->n_t; i++)
        if (!str_cmp(g->t_sorted[i - 1]->name, g->t_sorted[i]->name))
            return tensor_fail(ps, g->t_sorted[i], "occurs more than once");
    return 0;
}

/* ---- the whole file ---------------------------------------------------------- */

int lm_gguf_is(const void *data, uint64_t size) {
    return size >= 4 && memcmp(data, LM_GGUF_MAGIC, 4) == 0;
}

static int read_header(parse *ps, uint64_t *n_t, uint64_t *n_kv) {
    uint32_t version;
    if (!lm_gguf_is(ps->c.p, ps->c.size))
        return lm_fail(ps->err, "%s: not a GGUF file (no GGUF magic)", ps->name);
    ps->c.off = 4;
    if (get_u32(&ps->c, &version) || get_u64(&ps->c, n_t) || get_u64(&ps->c, n_kv))
        return lm_fail(ps->err, "%s: truncated GGUF header (%llu bytes)", ps->name,
                       (unsigned long long)ps->c.size);
    if (version == 2 || version == 3) {
        ps->g->version = (int)version;
        return 0;
    }
    if (version == 0x02000000u || version == 0x03000000u)
        return lm_fail(ps->err, "%s: big-endian GGUF; lamina reads little-endian files", ps->name);
    return lm_fail(ps->err, "%s: unsupported GGUF version %u (lamina reads versions 2 and 3)",
                   ps->name, version);
}

lm_gguf *lm_gguf_parse(const void *data, uint64_t size, const char *name, lm_error *err) {
    lm_gguf *g = calloc(1, sizeof *g);
    char *copy = name ? strdup(name) : NULL;
    if (!g || (name && !copy)) {
        free(g);
        free(copy);
        lm_fail(err, "%s: out of memory", name ? name : "GGUF");
        return NULL;
    }
    g->name = copy;
    g->base = data;
    g->size = size;
    parse ps = {.c = {.p = data, .size = size}, .name = name ? name : "GGUF", .err = err, .g = g};
    uint64_t n_t = 0, n_kv = 0;
    if (read_header(&ps, &n_t, &n_kv) || read_kvs(&ps, n_kv) || sort_kvs(&ps) ||
        read_alignment(&ps) || read_tensor_infos(&ps, n_t) || sort_tensors(&ps) ||
        place_tensors(&ps)) {
        lm_gguf_free(g);
        return NULL;
    }
    return g;
}

void lm_gguf_free(lm_gguf *g) {
    if (!g) return;
    free(g->kv);
    free(g->kv_sorted);
    free(g->t);
    free(g->t_sorted);
    free(g->name);
    free(g);
}

int lm_gguf_version(const lm_gguf *g) { return g->version; }
uint32_t lm_gguf_alignment(const lm_gguf *g) { return g->alignment; }
uint64_t lm_gguf_data_offset(const lm_gguf *g) { return g->data_off; }
const char *lm_gguf_name(const lm_gguf *g) { return g->name ? g->name : "GGUF"; }
uint64_t lm_gguf_n_kv(const lm_gguf *g) { return g->n_kv; }
uint64_t lm_gguf_n_tensors(const lm_gguf *g) { return g->n_t; }

const lm_gguf_kv *lm_gguf_kv_at(const lm_gguf *g, uint64_t i) {
    return i < g->n_kv ? &g->kv[i] : NULL;
}

const lm_gguf_tensor *lm_gguf_tensor_at(const lm_gguf *g, uint64_t i) {
    return i < g->n_t ? &g->t[i] : NULL;
}

/* ---- typed getters --------------------------------------------------------- */

static int is_int(uint32_t v) { return v <= LM_GGUF_I32 || v == LM_GGUF_U64 || v == LM_GGUF_I64; }

/* The integer at p of type v (an integer type): as int64, *big set when it is
 * a u64 above INT64_MAX. */
static int64_t read_int(const uint8_t *p, uint32_t v, int *big) {
    *big = 0;
    switch (v) {
    case LM_GGUF_U8: return p[0];
    case LM_GGUF_I8: return (int8_t)p[0];
    case LM_GGUF_U16: {
        uint16_t x;
        memcpy(&x, p, 2);
        return x;
    }
    case LM_GGUF_I16: {
        int16_t x;
        memcpy(&x, p, 2);
        return x;
    }
    case LM_GGUF_U32: {
        uint32_t x;
        memcpy(&x, p, 4);
        return x;
    }
    case LM_GGUF_I32: {
        int32_t x;
        memcpy(&x, p, 4);
        return x;
    }
    case LM_GGUF_U64: {
        uint64_t x;
        memcpy(&x, p, 8);
        *big = x > INT64_MAX;
        return *big ? -1 : (int64_t)x;
    }
    default: {
        int64_t x;
        memcpy(&x, p, 8);
        return x;
    }
    }
}

static int type_fail(const lm_gguf *g, const lm_gguf_kv *kv, const char *want, lm_error *err) {
    char b[LM_GGUF_SHOW_BYTES];
    const char *has = kv->type == LM_GGUF_ARRAY ? "an array" : lm_gguf_vtype_name(kv->type);
    return lm_fail(err, "%s: GGUF key '%s' is %s, expected %s", lm_gguf_name(g),
                   lm_gguf_show(kv->key, b), has, want);
}

static int get_int(const lm_gguf *g, const char *key, int64_t lo, int64_t hi, const char *want,
                   int64_t *out, lm_error *err) {
    const lm_gguf_kv *kv = lm_gguf_find(g, key);
    if (!kv) return 1;
    if (!is_int(kv->type)) return type_fail(g, kv, want, err);
    int big;
    int64_t v = read_int(kv->data, kv->type, &big);
    if (big || v < lo || v > hi) {
        char b[LM_GGUF_SHOW_BYTES];
        return lm_fail(err, "%s: GGUF key '%s': value %s%lld out of range for %s", lm_gguf_name(g),
                       lm_gguf_show(kv->key, b), big ? "above " : "",
                       big ? (long long)INT64_MAX : (long long)v, want);
    }
    *out = v;
    return 0;
}

int lm_gguf_get_u32(const lm_gguf *g, const char *key, uint32_t *out, lm_error *err) {
    int64_t v;
    int r = get_int(g, key, 0, UINT32_MAX, "a u32", &v, err);
    if (!r) *out = (uint32_t)v;
    return r;
}

int lm_gguf_get_i32(const lm_gguf *g, const char *key, int32_t *out, lm_error *err) {
    int64_t v;
    int r = get_int(g, key, INT32_MIN, INT32_MAX, "an i32", &v, err);
    if (!r) *out = (int32_t)v;
    return r;
}

int lm_gguf_get_f32(const lm_gguf *g, const char *key, float *out, lm_error *err) {
    const lm_gguf_kv *kv = lm_gguf_find(g, key);
    if (!kv) return 1;
    if (kv->type != LM_GGUF_F32) return type_fail(g, kv, "f32", err);
    memcpy(out, kv->data, 4);
    return 0;
}

int lm_gguf_get_bool(const lm_gguf *g, const char *key, int *out, lm_error *err) {
    const lm_gguf_kv *kv = lm_gguf_find(g, key);
    if (!kv) return 1;
    if (kv->type != LM_GGUF_BOOL) return type_fail(g, kv, "bool", err);
    if (kv->data[0] > 1) {
        char b[LM_GGUF_SHOW_BYTES];
        return lm_fail(err, "%s: GGUF key '%s': bool byte %u is neither 0 nor 1", lm_gguf_name(g),
                       lm_gguf_show(kv->key, b), kv->data[0]);
    }
    *out = kv->data[0];
    return 0;
}

int lm_gguf_get_str(const lm_gguf *g, const char *key, lm_gguf_str *out, lm_error *err) {
    const lm_gguf_kv *kv = lm_gguf_find(g, key);
    if (!kv) return 1;
    if (kv->type != LM_GGUF_STRING) return type_fail(g, kv, "string", err);
    *out = kv->str;
    return 0;
}

int lm_gguf_get_arr(const lm_gguf *g, const char *key, int elem, const lm_gguf_kv **out,
                    lm_error *err) {
    const lm_gguf_kv *kv = lm_gguf_find(g, key);
    if (!kv) return 1;
    char want[40];
    snprintf(want, sizeof want, "an array of %s", elem < 0 ? "values" : lm_gguf_vtype_name(elem));
    if (kv->type != LM_GGUF_ARRAY) return type_fail(g, kv, want, err);
    if (elem >= 0 && kv->elem_type != (lm_gguf_vtype)elem) {
        char b[LM_GGUF_SHOW_BYTES];
        return lm_fail(err, "%s: GGUF key '%s' is an array of %s, expected %s", lm_gguf_name(g),
                       lm_gguf_show(kv->key, b), lm_gguf_vtype_name(kv->elem_type), want);
    }
    *out = kv;
    return 0;
}

int lm_gguf_arr_int(const lm_gguf_kv *kv, uint64_t i, int64_t *out) {
    if (kv->type != LM_GGUF_ARRAY || !is_int(kv->elem_type) || i >= kv->count) return -1;
    int big;
    *out = read_int(kv->data + i * vtype_bytes(kv->elem_type), kv->elem_type, &big);
    return big ? -1 : 0;
}

int lm_gguf_arr_f32(const lm_gguf_kv *kv, uint64_t i, float *out) {
    if (kv->type != LM_GGUF_ARRAY || kv->elem_type != LM_GGUF_F32 || i >= kv->count) return -1;
    memcpy(out, kv->data + i * 4, 4);
    return 0;
}

lm_gguf_iter lm_gguf_strings(const lm_gguf_kv *kv) {
    int ok = kv->type == LM_GGUF_ARRAY && kv->elem_type == LM_GGUF_STRING;
    return (lm_gguf_iter){ok ? kv->data : NULL, ok ? kv->count : 0};
}

int lm_gguf_next_str(lm_gguf_iter *it, lm_gguf_str *s) {
    if (!it->left) return 0;
    memcpy(&s->n, it->p, 8); /* checked by the parse */
    s->p = (const char *)it->p + 8;
    it->p += 8 + s->n;
    it->left--;
    return 1;
}

/* ---- number formats ----------------------------------------------------------- */

float lm_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31, e = (h >> 10) & 0x1f, m = h & 0x3ff, bits;
    if (e == 0x1f) {
        bits = sign | 0x7f800000u | (m << 13); /* inf, NaN (payload kept) */
    } else if (e) {
        bits = sign | ((e + 112) << 23) | (m << 13);
    } else if (!m) {
        bits = sign;
    } else { /* subnormal: normalise; exact, since f32 has the range */
        int shift = 0;
        while (!(m & 0x400)) m <<= 1, shift++;
        bits = sign | ((uint32_t)(113 - shift) << 23) | ((m & 0x3ff) << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

float lm_bf16_to_f32(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}
