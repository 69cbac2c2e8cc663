/* The JSON/schema automaton over bytes (json_constraint.h). A frame is an
 * open value; a byte changes the top frame, pushes one (a container's value,
 * a free object's key) or pops (a value complete). Numbers and literals end
 * only when a byte that cannot extend them arrives: they pop and hand the
 * byte to their parent. One byte changes at most the top three frames and
 * the slot above them, which is what the trie walk saves and restores. */
#include <string.h>

#include "json_internal.h"

#define MAX_DIGITS 16 /* before and after the point */
#define MAX_EXP_DIGITS 2

void lm_json_state_init(lm_json_state *st, const lm_json_schema *s) {
    st->schema = s;
    st->depth = 1;
    st->ws = 0;
    st->f[0] = (lm_json_frame){.node = (uint16_t)s->root, .mode = M_VALUE};
}

static const json_node *node_of(const lm_json_state *st, const lm_json_frame *f) {
    return &st->schema->node[f->node];
}

/* White space between tokens: spaces and newlines (JSON also allows tabs and
 * carriage returns; a small model strews them around, pretty-printing needs
 * neither). */
static int is_ws(unsigned char b) { return b == ' ' || b == '\n'; }
static int is_digit(unsigned char b) { return b >= '0' && b <= '9'; }

static int structural(const lm_json_frame *f) {
    if (f->mode == M_VALUE) return 1;
    if (f->mode == M_OBJ) return f->sub != O_KEY;
    return f->mode == M_ARR;
}

static int num_complete(const lm_json_frame *f) {
    return f->sub == N_ZERO || f->sub == N_INT || f->sub == N_FRAC || f->sub == N_EXP;
}

static int lit_complete(const lm_json_state *st, const lm_json_frame *f) {
    return node_of(st, f)->len[f->a] == f->c;
}

/* The value on top is complete: pop it and tell its container. */
static void value_done(lm_json_state *st) {
    if (--st->depth == 0) return;
    lm_json_frame *p = &st->f[st->depth - 1];
    if (p->mode == M_OBJ)
        p->sub = p->sub == O_KEYSTR ? O_COLON : O_AFTER;
    else { /* an array */
        p->a++;
        p->sub = A_AFTER;
    }
}

static int push(lm_json_state *st, int node, int mode, int sub) {
    if (st->depth >= LM_JSON_MAX_DEPTH) return 0;
    st->f[st->depth++] =
        (lm_json_frame){.node = (uint16_t)node, .mode = (uint8_t)mode, .sub = (uint8_t)sub};
    return 1;
}

/* Can a value of node start with byte b? (For unions.) */
static int starts(const lm_json_state *st, int node, unsigned char b) {
    const json_node *n = &st->schema->node[node];
    switch (n->kind) {
    case JK_OBJ:
    case JK_OBJ_ANY: return b == '{';
    case JK_ARR: return b == '[';
    case JK_STR: return b == '"';
    case JK_NUM:
    case JK_INT: return b == '-' || is_digit(b);
    case JK_LIT:
        for (int i = 0; i < n->n; i++)
            if ((unsigned char)n->s[i][0] == b) return 1;
        return 0;
    default: return 0;
    }
}

/* M_VALUE: the first byte picks what the frame becomes. 1 if the byte is to
 * be handled again by the (changed) top frame, 0 to reject. */
static int begin_value(lm_json_state *st, lm_json_frame *f, unsigned char b) {
    const json_node *n = node_of(st, f);
    switch (n->kind) {
    case JK_ANY: {
        int node = b == '{'                  ? JN_OBJ
                   : b == '['                ? JN_ARR
                   : b == '"'                ? JN_STR
                   : b == '-' || is_digit(b) ? JN_NUM
                                             : JN_LIT;
        if ((b == '{' || b == '[') && st->depth >= LM_JSON_MAX_ANY_DEPTH) return 0;
        f->node = (uint16_t)node;
        return 1;
    }
    case JK_UNION:
        for (int i = 0; i < n->n; i++)
            if (starts(st, n->child[i], b)) return f->node = (uint16_t)n->child[i], 1;
        return 0;
    case JK_OBJ:
    case JK_OBJ_ANY:
        if (b != '{') return 0;
        *f = (lm_json_frame){.node = f->node, .mode = M_OBJ, .sub = O_START};
        break;
    case JK_ARR:
        if (b != '[') return 0;
        *f = (lm_json_frame){.node = f->node, .mode = M_ARR, .sub = A_START};
        break;
    case JK_STR:
        if (b != '"') return 0;
        *f = (lm_json_frame){.node = f->node, .mode = M_STR, .sub = S_CHARS};
        break;
    case JK_NUM:
    case JK_INT: *f = (lm_json_frame){.node = f->node, .mode = M_NUM, .sub = N_START}; return 1;
    default: *f = (lm_json_frame){.node = f->node, .mode = M_LIT, .a = 0, .b = n->n}; return 1;
    }
    /* objects, arrays and strings: b must be the opening byte, which this is */
    return 2;
}

/* Narrow the literal range [a, b) at position c to the texts with byte ch
 * there, skipping (for object keys) the ones in `used`. */
static int narrow(const json_node *n, lm_json_frame *f, unsigned char ch, uint64_t used) {
    int lo = f->a, hi = f->b, k = f->c;
    while (lo < hi && (n->len[lo] <= k || (unsigned char)n->s[lo][k] < ch)) lo++;
    int end = lo;
    while (end < hi && (unsigned char)n->s[end][k] == ch) end++;
    int any = 0;
    for (int i = lo; i < end && !any; i++) any = i >= 64 || !(used >> i & 1); /* 64 tracked */
    if (!any) return 0;
    f->a = lo, f->b = end, f->c = k + 1;
    return 1;
}

/* Properties not yet given. */
static uint64_t unused(const json_node *n, const lm_json_frame *f) {
    uint64_t all = n->n >= 64 ? ~0ull : (1ull << n->n) - 1;
    return all & ~f->used;
}

static int obj_step(lm_json_state *st, lm_json_frame *f, unsigned char b) {
    const json_node *n = node_of(st, f);
    int any = n->kind == JK_OBJ_ANY;
    switch (f->sub) {
    case O_START:
    case O_NEXT:
        if (b == '}' && f->sub == O_START && (any || !(n->required & ~f->used)))
            return value_done(st), 1;
        if (b != '"') return 0;
        if (any) return f->sub = O_KEYSTR, push(st, JN_STR, M_STR, S_CHARS);
        if (!unused(n, f)) return 0;
        f->sub = O_KEY, f->a = 0, f->b = n->n, f->c = 0;
        return narrow(n, f, b, f->used);
    case O_KEY:
        if (!narrow(n, f, b, f->used)) return 0;
        if (n->len[f->a] == f->c) { /* the closing quote: one name left */
            f->used |= 1ull << f->a;
            f->sub = O_COLON;
        }
        return 1;
    case O_COLON:
        if (b != ':') return 0;
        f->sub = O_VALUE;
        return push(st, any ? JN_ANY : n->child[f->a], M_VALUE, 0);
    case O_AFTER:
        if (b == '}' && (any || !(n->required & ~f->used))) return value_done(st), 1;
        if (b == ',' && (any || unused(n, f))) return f->sub = O_NEXT, 1;
        return 0;
    default: return 0;
    }
}

/* Arrays: 1 accepted, 0 rejected, 2 = the byte starts an item (pushed). */
static int arr_step(lm_json_state *st, lm_json_frame *f, unsigned char b) {
    const json_node *n = node_of(st, f);
    switch (f->sub) {
    case A_START:
        if (b == ']') return n->min == 0 ? (value_done(st), 1) : 0;
        if (n->max == 0) return 0;
        break;
    case A_AFTER:
        if (b == ']') return f->a >= n->min ? (value_done(st), 1) : 0;
        if (b == ',') return n->max < 0 || f->a < n->max ? (f->sub = A_NEXT, 1) : 0;
        return 0;
    case A_NEXT: break;
    default: return 0;
    }
    f->sub = A_VALUE;
    return push(st, n->items, M_VALUE, 0) ? 2 : 0;
}

static int hex(unsigned char b) {
    if (is_digit(b)) return b - '0';
    if (b >= 'a' && b <= 'f') return b - 'a' + 10;
    if (b >= 'A' && b <= 'F') return b - 'A' + 10;
    return -1;
}

/* The continuation bytes a UTF-8 lead byte needs and the range of the
 * first (RFC 3629: no overlongs, surrogates or values past U+10FFFF). */
static int utf8_lead(unsigned char b, int *range) {
    *range = 0x80BF;
    if (b >= 0xC2 && b <= 0xDF) return 1;
    if (b == 0xE0) return *range = 0xA0BF, 2;
    if (b == 0xED) return *range = 0x809F, 2;
    if (b >= 0xE1 && b <= 0xEF) return 2;
    if (b == 0xF0) return *range = 0x90BF, 3;
    if (b == 0xF4) return *range = 0x808F, 3;
    if (b >= 0xF1 && b <= 0xF3) return 3;
    return 0;
}

/* Strings: a = characters so far (a maxLength counts them). */
static int str_step(lm_json_state *st, lm_json_frame *f, unsigned char b) {
    const json_node *n = node_of(st, f);
    int room = n->max < 0 || f->a < n->max;
    switch (f->sub) {
    case S_CHARS:
        if (b == '"') return f->a >= n->min ? (value_done(st), 1) : 0;
        if (b < 0x20 || !room) return 0;
        if (b == '\\') return f->a++, f->sub = S_ESC, 1;
        if (b < 0x80) return f->a++, 1;
        if (!(f->b = utf8_lead(b, &f->c))) return 0;
        return f->a++, f->sub = S_UTF8, 1;
    case S_UTF8:
        if (b < (f->c >> 8) || b > (f->c & 0xff)) return 0;
        f->c = 0x80BF;
        if (--f->b == 0) f->sub = S_CHARS;
        return 1;
    case S_ESC:
        if (b == 'u') return f->sub = S_HEX, f->b = 0, 1;
        if (!strchr("\"\\/bfnrt", b) || !b) return 0;
        return f->sub = S_CHARS, 1;
    default: { /* S_HEX: no surrogate halves (\uD800-\uDFFF) */
        int h = hex(b);
        if (h < 0) return 0;
        if (f->b == 0) f->c = h;
        if (f->b == 1 && f->c == 0xD && h >= 8) return 0;
        if (++f->b == 4) f->sub = S_CHARS;
        return 1;
    }
    }
}

/* Numbers: 1 accepted, 0 rejected, 3 = the number ended before b. */
static int num_step(const lm_json_state *st, lm_json_frame *f, unsigned char b) {
    int integer = node_of(st, f)->kind == JK_INT;
    int d = is_digit(b);
    switch (f->sub) {
    case N_START:
        if (b == '-') return f->sub = N_MINUS, 1;
        /* fall through */
    case N_MINUS:
        if (!d) return 0;
        f->sub = b == '0' ? N_ZERO : N_INT;
        f->a = 1;
        return 1;
    case N_INT:
        if (d) return f->a < MAX_DIGITS ? (f->a++, 1) : 0;
        /* fall through */
    case N_ZERO:
        if (b == '.' && !integer) return f->sub = N_DOT, 1;
        if ((b == 'e' || b == 'E') && !integer) return f->sub = N_E, 1;
        return d ? 0 : 3;
    case N_DOT:
        if (!d) return 0;
        return f->sub = N_FRAC, f->a = 1, 1;
    case N_FRAC:
        if (d) return f->a < MAX_DIGITS ? (f->a++, 1) : 0;
        if (b == 'e' || b == 'E') return f->sub = N_E, 1;
        return 3;
    case N_E:
        if (b == '+' || b == '-') return f->sub = N_ESIGN, 1;
        /* fall through */
    case N_ESIGN:
        if (!d) return 0;
        return f->sub = N_EXP, f->a = 1, 1;
    default: /* N_EXP */
        if (d) return f->a < MAX_EXP_DIGITS ? (f->a++, 1) : 0;
        return 3;
    }
}

int lm_json_step(lm_json_state *st, unsigned char b) {
    for (;;) {
        if (st->depth == 0) return 0;
        lm_json_frame *f = &st->f[st->depth - 1];
        if (is_ws(b) && structural(f)) {
            if (st->ws >= LM_JSON_MAX_WS) return 0;
            st->ws++;
            return 1;
        }
        int r;
        switch (f->mode) {
        case M_VALUE:
            if (!(r = begin_value(st, f, b))) return 0;
            if (r == 1) continue; /* the changed frame reads the byte */
            r = 1;                /* it was the opening byte */
            break;
        case M_OBJ: r = obj_step(st, f, b); break;
        case M_ARR:
            if ((r = arr_step(st, f, b)) == 2) continue;
            break;
        case M_STR: r = str_step(st, f, b); break;
        case M_NUM:
            if ((r = num_step(st, f, b)) == 3) {
                value_done(st);
                continue;
            }
            break;
        default: { /* M_LIT */
            const json_node *n = node_of(st, f);
            if ((r = narrow(n, f, b, 0))) break;
            if (!lit_complete(st, f)) return 0;
            value_done(st);
            continue;
        }
        }
        if (r) st->ws = 0;
        return r;
    }
}

int lm_json_feed(lm_json_state *st, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!lm_json_step(st, (unsigned char)s[i])) return 0;
    return 1;
}

int lm_json_can_end(const lm_json_state *st) {
    if (st->depth == 0) return 1;
    if (st->depth > 1) return 0;
    const lm_json_frame *f = &st->f[0];
    return (f->mode == M_NUM && num_complete(f)) || (f->mode == M_LIT && lit_complete(st, f));
}
