/* Private to json_schema.c and json_constraint.c: the compiled schema. */
#ifndef LAMINA_JSON_INTERNAL_H
#define LAMINA_JSON_INTERNAL_H

#include <stdatomic.h>
#include <stdint.h>

#include "json_constraint.h"

enum json_kind {
    JK_ANY,     /* any JSON value */
    JK_OBJ_ANY, /* any object (keys free strings, values JK_ANY) */
    JK_OBJ,     /* declared properties (only those are generated) */
    JK_ARR,     /* items, min..max of them */
    JK_STR,     /* min..max characters */
    JK_NUM,     /* JSON number */
    JK_INT,     /* JSON integer (no fraction, no exponent) */
    JK_LIT,     /* one of the texts s[0..n) (sorted): enum, const, booleans, null */
    JK_UNION,   /* one of child[0..n), each starting with other bytes (type arrays) */
};

/* The built-in nodes every schema starts with (free JSON uses them). */
enum { JN_ANY = 0, JN_STR, JN_NUM, JN_LIT, JN_ARR, JN_OBJ, JN_BUILTIN };

/* Frames (lm_json_frame): mode, and each mode's sub-states. */
enum { M_VALUE, M_OBJ, M_ARR, M_STR, M_NUM, M_LIT };
enum { O_START, O_KEY, O_KEYSTR, O_COLON, O_VALUE, O_AFTER, O_NEXT };
enum { A_START, A_VALUE, A_AFTER, A_NEXT };
enum { S_CHARS, S_ESC, S_HEX, S_UTF8 };
enum { N_START, N_MINUS, N_ZERO, N_INT, N_DOT, N_FRAC, N_E, N_ESIGN, N_EXP };

#define LM_JSON_MAX_PROPS 64
#define LM_JSON_MAX_ENUM 1024
#define LM_JSON_MAX_NODES 60000
#define LM_JSON_MAX_SCHEMA_DEPTH 32
#define LM_JSON_MAX_ANY_DEPTH 48

typedef struct json_node {
    int kind;
    int min, max;      /* JK_ARR: items; JK_STR: characters; max -1 = no limit */
    int items;         /* JK_ARR: node of the items */
    int n;             /* JK_OBJ: properties; JK_LIT: texts; JK_UNION: children */
    char **s;          /* JK_OBJ: the names as JSON strings ("\"name\""), JK_LIT: texts; sorted */
    int *len;          /* their lengths */
    int *child;        /* JK_OBJ: the property's node; JK_UNION: the alternatives */
    uint64_t required; /* JK_OBJ: bit i = s[i] is required */
} json_node;

struct lm_json_schema {
    atomic_int refs; /* references less one */
    json_node *node;
    int n, cap;
    int root;
};

#endif
