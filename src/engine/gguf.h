/* GGUF (llama.cpp's file format, versions 2 and 3) parsed and validated in
 * memory; internal to liblamina. src/FORMATS.md, "GGUF", describes the format.
 *
 * lm_gguf_parse checks the whole image before anything points into it: the
 * magic, the version, that every count and string length fits in the bytes
 * that are left, every value type (arrays of arrays are refused), that no key
 * and no tensor name occurs twice, general.alignment (a power of two), and for
 * each tensor its type, dimensions (1 to 4, innermost first), byte size (with
 * overflow checks) and offset (relative to the data section, which starts at
 * the first multiple of the alignment after the tensor infos: aligned, inside
 * the file, overlapping no other tensor). After a successful parse every
 * pointer the API hands out is inside the image, and every string and array
 * may be walked without further checks.
 *
 * Nothing is copied: the image must outlive the lm_gguf. Values in the image
 * are little-endian and may be unaligned: the getters below read them with
 * memcpy; a caller reading `data` pointers itself must do the same.
 *
 * Errors are one line, "NAME: ..." naming the key or tensor at fault. */
#ifndef LAMINA_GGUF_H
#define LAMINA_GGUF_H

#include <stdint.h>

#include "ggml_type.h" /* kernels/: the tensor type ids, LM_GGML_* */
#include "lamina.h"

#define LM_GGUF_MAGIC "GGUF"
#define LM_GGUF_MAX_DIMS 4
#define LM_GGUF_DEFAULT_ALIGNMENT 32

/* Value types of metadata (gguf_type). */
typedef enum lm_gguf_vtype {
    LM_GGUF_U8 = 0,
    LM_GGUF_I8 = 1,
    LM_GGUF_U16 = 2,
    LM_GGUF_I16 = 3,
    LM_GGUF_U32 = 4,
    LM_GGUF_I32 = 5,
    LM_GGUF_F32 = 6,
    LM_GGUF_BOOL = 7,
    LM_GGUF_STRING = 8,
    LM_GGUF_ARRAY = 9,
    LM_GGUF_U64 = 10,
    LM_GGUF_I64 = 11,
    LM_GGUF_F64 = 12,
} lm_gguf_vtype;

#define LM_GGUF_Q8_0_BLOCK 32 /* values per Q8_0 block: fp16 scale d, then 32 int8 */
#define LM_GGUF_Q8_0_BYTES 34

/* A string in the image: n bytes at p, not NUL-terminated, any bytes. */
typedef struct lm_gguf_str {
    const char *p;
    uint64_t n;
} lm_gguf_str;

/* One metadata entry. For a scalar, count is 1 and data points at the value
 * (a STRING's data points at its uint64 length, which `str` has decoded).
 * For an ARRAY, elem_type is the elements' type, count their number and data
 * points at the first element (strings: at the first one's length). */
typedef struct lm_gguf_kv {
    lm_gguf_str key;
    lm_gguf_vtype type;
    lm_gguf_vtype elem_type; /* ARRAY only */
    uint64_t count;
    const uint8_t *data;
    lm_gguf_str str; /* STRING only */
} lm_gguf_kv;

/* One tensor. dims[0] is the innermost (fastest-varying) dimension: a
 * row-major matrix [rows, cols] has dims {cols, rows}; unused dims are 1. */
typedef struct lm_gguf_tensor {
    lm_gguf_str name;
    uint32_t type; /* ggml_type: LM_GGML_F32, ... */
    int n_dims;
    uint64_t dims[LM_GGUF_MAX_DIMS];
    uint64_t offset; /* from the start of the data section */
    uint64_t bytes;
    const uint8_t *data; /* in the image */
} lm_gguf_tensor;

typedef struct lm_gguf lm_gguf;

/* Parse and validate the image [data, data + size); `name` (the file's path)
 * starts every message. NULL with err set on any problem. */
lm_gguf *lm_gguf_parse(const void *data, uint64_t size, const char *name, lm_error *err);
void lm_gguf_free(lm_gguf *g);

/* 1 if the image starts with the GGUF magic (any version). */
int lm_gguf_is(const void *data, uint64_t size);

int lm_gguf_version(const lm_gguf *g);          /* 2 or 3 */
uint32_t lm_gguf_alignment(const lm_gguf *g);   /* general.alignment, default 32 */
uint64_t lm_gguf_data_offset(const lm_gguf *g); /* where the data section starts */
const char *lm_gguf_name(const lm_gguf *g);     /* the name given to lm_gguf_parse */

/* Entries in file order. */
uint64_t lm_gguf_n_kv(const lm_gguf *g);
const lm_gguf_kv *lm_gguf_kv_at(const lm_gguf *g, uint64_t i);
/* The entry with this key (a C string), or NULL. O(log n). */
const lm_gguf_kv *lm_gguf_find(const lm_gguf *g, const char *key);

uint64_t lm_gguf_n_tensors(const lm_gguf *g);
const lm_gguf_tensor *lm_gguf_tensor_at(const lm_gguf *g, uint64_t i);
const lm_gguf_tensor *lm_gguf_find_tensor(const lm_gguf *g, const char *name);

/* Typed getters. Each returns 0 with *out set when the key is there with a
 * value of a fitting type, 1 when the key is absent (*out untouched), and -1
 * with err naming the key when it has another type or a value out of range.
 * - u32 / i32: any integer type whose value fits;
 * - f32: F32 only (an F64 would need rounding);
 * - bool: BOOL whose byte is 0 or 1;
 * - string: STRING (*out is in the image, not NUL-terminated). */
int lm_gguf_get_u32(const lm_gguf *g, const char *key, uint32_t *out, lm_error *err);
int lm_gguf_get_i32(const lm_gguf *g, const char *key, int32_t *out, lm_error *err);
int lm_gguf_get_f32(const lm_gguf *g, const char *key, float *out, lm_error *err);
int lm_gguf_get_bool(const lm_gguf *g, const char *key, int *out, lm_error *err);
int lm_gguf_get_str(const lm_gguf *g, const char *key, lm_gguf_str *out, lm_error *err);
/* An ARRAY entry whose elements have type elem (any element type when elem is
 * -1): 0 with *out set, 1 absent, -1 another type. */
int lm_gguf_get_arr(const lm_gguf *g, const char *key, int elem, const lm_gguf_kv **out,
                    lm_error *err);

/* Element i < kv->count of a numeric array (read with memcpy): integers of
 * any integer element type as int64 (a U64 above INT64_MAX gives -1), floats
 * of an F32 array. Out-of-range i or another element type returns -1. */
int lm_gguf_arr_int(const lm_gguf_kv *kv, uint64_t i, int64_t *out);
int lm_gguf_arr_f32(const lm_gguf_kv *kv, uint64_t i, float *out);

/* Walks the strings of a STRING array in order:
 *   lm_gguf_iter it = lm_gguf_strings(kv); lm_gguf_str s;
 *   while (lm_gguf_next_str(&it, &s)) ...
 * (an iterator over anything else yields nothing). */
typedef struct lm_gguf_iter {
    const uint8_t *p;
    uint64_t left;
} lm_gguf_iter;
lm_gguf_iter lm_gguf_strings(const lm_gguf_kv *kv);
int lm_gguf_next_str(lm_gguf_iter *it, lm_gguf_str *s);

/* Names for messages: a tensor type ("Q4_K", "IQ2_XS", or "type 77" for one
 * llama.cpp does not define) and a value type ("u32", "string", ...). */
const char *lm_gguf_type_name(uint32_t ggml_type, char buf[16]);
const char *lm_gguf_vtype_name(uint32_t vtype);
/* A string shown in a message: at most 64 bytes, bytes that are not printable
 * ASCII as \xHH, so the message stays one line. Returns buf (80+ bytes). */
#define LM_GGUF_SHOW_BYTES 300
const char *lm_gguf_show(lm_gguf_str s, char buf[LM_GGUF_SHOW_BYTES]);

/* The exact f32 value of an IEEE half and of a bfloat16. */
float lm_f16_to_f32(uint16_t h);
float lm_bf16_to_f32(uint16_t h);

#endif
