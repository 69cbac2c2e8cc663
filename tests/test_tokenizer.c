/* Tokenizer tests: sentencepiece's ids for the Llama 2 vocabulary (golden file),
 * round trips, every way a tokenizer.bin can be broken, byte fallback on
 * invalid UTF-8, a long prompt, and the demo vocabulary.
 * Usage: test_tokenizer SECTION [FILES...] (see tests/tokenizer.cmake). */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "lamina.h"

/* ---- small utilities ---------------------------------------------------- */

typedef struct buffer {
    char *d;
    size_t n, cap;
} buffer;

static void put(buffer *b, const void *p, size_t n) {
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->d = realloc(b->d, b->cap);
        if (!b->d) abort();
    }
    memcpy(b->d + b->n, p, n);
    b->n += n;
    b->d[b->n] = '\0';
}

static void put_str(buffer *b, const char *s) { put(b, s, strlen(s)); }

static void put_i32(buffer *b, int32_t v) {
    unsigned char le[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                           (unsigned char)(v >> 24)};
    put(b, le, 4);
}

static void put_entry(buffer *b, float score, const char *piece, int len) {
    int32_t bits;
    memcpy(&bits, &score, 4);
    put_i32(b, bits);
    put_i32(b, len);
    put(b, piece, strlen(piece));
}

static void put_piece(buffer *b, float score, const char *piece) {
    put_entry(b, score, piece, (int)strlen(piece));
}

static char *read_all(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    buffer b = {0};
    char chunk[4096];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) put(&b, chunk, got);
    fclose(f);
    return b.d;
}

static void write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, n, f) != n || fclose(f) != 0) {
        fprintf(stderr, "cannot write %s: %s\n", path, strerror(errno));
        exit(1);
    }
}

static char tmp_dir[] = "/tmp/lamina-tok-XXXXXX";

static const char *tmp_path(const char *name) {
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", tmp_dir, name);
    return path;
}

/* Ids back to text, dropping BOS's own piece as generation does. */
static char *decode(const lm_tokenizer *tok, const int *ids, int n) {
    buffer b = {0};
    put(&b, "", 0);
    for (int i = 0; i < n; i++)
        if (!(i == 0 && ids[i] == LM_TOKEN_BOS))
            put_str(&b, lm_token_piece(tok, i ? ids[i - 1] : -1, ids[i]));
    return b.d;
}

static void print_ids(FILE *out, const char *label, const int *ids, int n) {
    fprintf(out, "  %s (%d):", label, n);
    for (int i = 0; i < n; i++) fprintf(out, " %d", ids[i]);
    fputc('\n', out);
}

static int same_ids(const int *a, int na, const int *b, int nb) {
    return na == nb && (na == 0 || memcmp(a, b, (size_t)na * sizeof *a) == 0);
}

/* Encodes text (with BOS) and checks the ids, printing both on a mismatch. */
static void expect_ids(const lm_tokenizer *tok, const char *text, const int *want, int n_want) {
    lm_error err = {{0}};
    int n = 0;
    int *ids = lm_tokenize(tok, text, 1, 0, &n, &err);
    CHECK(ids != NULL, "encoding \"%s\": %s", text, err.msg);
    if (!ids) return;
    CHECK(same_ids(ids, n, want, n_want), "ids differ for \"%s\"", text);
    if (!same_ids(ids, n, want, n_want)) {
        print_ids(stderr, "want", want, n_want);
        print_ids(stderr, "got ", ids, n);
    }
    free(ids);
}

static void expect_round_trip(const lm_tokenizer *tok, const char *text) {
    lm_error err = {{0}};
    int n = 0;
    int *ids = lm_tokenize(tok, text, 1, 0, &n, &err);
    CHECK(ids != NULL, "encoding \"%s\": %s", text, err.msg);
    if (!ids) return;
    char *back = decode(tok, ids, n);
    CHECK(strcmp(back, text) == 0, "round trip of \"%s\" gave \"%s\"", text, back);
    free(back);
    free(ids);
}

static lm_tokenizer *load_or_report(const char *path, int vocab_size) {
    lm_error err = {{0}};
    lm_tokenizer *tok = lm_tokenizer_load(path, vocab_size, &err);
    CHECK(tok != NULL, "loading %s: %s", path, err.msg);
    return tok;
}

/* ---- a JSON reader for exactly [{"text": "...", "ids": [1, ...]}, ...] --- */

typedef struct json {
    const char *p;
    int bad;
} json;

typedef struct golden_case {
    char *text;
    int *ids, n;
} golden_case;

static int eat(json *j, char c) {
    while (*j->p && strchr(" \n\r\t", *j->p)) j->p++;
    if (*j->p != c) return 0;
    j->p++;
    return 1;
}

static void expect_char(json *j, char c) {
    if (!eat(j, c)) j->bad = 1;
}

static unsigned hex4(json *j) {
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = *j->p;
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0) {
            j->bad = 1;
            return 0;
        }
        v = v * 16 + (unsigned)d;
        j->p++;
    }
    return v;
}

static void put_utf8(buffer *b, unsigned cp) {
    unsigned char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (unsigned char)cp, n = 1;
    } else if (cp < 0x800) {
        u[0] = (unsigned char)(0xC0 | cp >> 6), u[1] = (unsigned char)(0x80 | (cp & 0x3F)), n = 2;
    } else if (cp < 0x10000) {
        u[0] = (unsigned char)(0xE0 | cp >> 12), u[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
        u[2] = (unsigned char)(0x80 | (cp & 0x3F)), n = 3;
    } else {
        u[0] = (unsigned char)(0xF0 | cp >> 18), u[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
        u[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F)), u[3] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    put(b, u, n);
}

/* A \uXXXX escape (after the "\u"), joining a surrogate pair. */
static unsigned json_code_point(json *j) {
    unsigned cp = hex4(j);
    if (cp >= 0xD800 && cp < 0xDC00) {
        if (j->p[0] != '\\' || j->p[1] != 'u') {
            j->bad = 1;
            return 0;
        }
        j->p += 2;
        unsigned lo = hex4(j);
        if (lo < 0xDC00 || lo > 0xDFFF) j->bad = 1;
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    } else if (cp >= 0xDC00 && cp < 0xE000) {
        j->bad = 1;
    }
    if (cp == 0) j->bad = 1; /* a C string cannot hold it */
    return cp;
}

/* One escape, after its backslash. */
static void json_escape(json *j, buffer *b) {
    static const char from[] = "nt\"\\/bfr", to[] = "\n\t\"\\/\b\f\r";
    char c = *j->p;
    const char *hit = c ? strchr(from, c) : NULL;
    if (c) j->p++;
    if (hit)
        put(b, to + (hit - from), 1);
    else if (c == 'u')
        put_utf8(b, json_code_point(j));
    else
        j->bad = 1;
}

static char *json_string(json *j) {
    buffer b = {0};
    put(&b, "", 0);
    expect_char(j, '"');
    while (!j->bad && *j->p != '"') {
        char c = *j->p;
        if (c == '\0')
            j->bad = 1;
        else
            j->p++;
        if (c == '\\')
            json_escape(j, &b);
        else if (c)
            put(&b, &c, 1);
    }
    if (!j->bad) j->p++;
    return b.d;
}

static int *json_ints(json *j, int *n) {
    buffer b = {0};
    *n = 0;
    expect_char(j, '[');
    while (!j->bad && !eat(j, ']')) {
        if (*n > 0) expect_char(j, ',');
        char *end;
        long v = strtol(j->p, &end, 10);
        if (end == j->p || v < INT_MIN || v > INT_MAX) j->bad = 1;
        j->p = end;
        int iv = (int)v;
        put(&b, &iv, sizeof iv);
        (*n)++;
    }
    return (int *)(void *)b.d;
}

static void json_case(json *j, golden_case *c) {
    expect_char(j, '{');
    for (int k = 0; !j->bad && !eat(j, '}'); k++) {
        if (k > 0) expect_char(j, ',');
        char *key = json_string(j);
        expect_char(j, ':');
        if (strcmp(key, "text") == 0 && !c->text)
            c->text = json_string(j);
        else if (strcmp(key, "ids") == 0 && !c->ids)
            c->ids = json_ints(j, &c->n);
        else
            j->bad = 1;
        free(key);
    }
    if (!c->text || !c->ids) j->bad = 1;
}

static golden_case *load_golden(const char *path, int *n_cases) {
    char *text = read_all(path);
    if (!text) {
        fprintf(stderr, "cannot read %s: %s\n", path, strerror(errno));
        return NULL;
    }
    json j = {text, 0};
    golden_case *cases = NULL;
    int n = 0;
    expect_char(&j, '[');
    while (!j.bad && !eat(&j, ']')) {
        if (n > 0) expect_char(&j, ',');
        cases = realloc(cases, (size_t)(n + 1) * sizeof *cases);
        if (!cases) abort();
        cases[n] = (golden_case){0};
        json_case(&j, &cases[n++]);
    }
    if (j.bad) fprintf(stderr, "%s: bad JSON near byte %td\n", path, j.p - text);
    free(text);
    *n_cases = n;
    return j.bad ? NULL : cases;
}

/* ---- sections ----------------------------------------------------------- */

static int golden(const char *json_path, const char *vocab, int round_trip) {
    int n_cases = 0;
    golden_case *cases = load_golden(json_path, &n_cases);
    CHECK(cases != NULL && n_cases == 24, "%s: read %d cases, expected 24", json_path, n_cases);
    lm_tokenizer *tok = load_or_report(vocab, 32000);
    for (int i = 0; tok && cases && i < n_cases; i++) {
        if (round_trip)
            expect_round_trip(tok, cases[i].text);
        else
            expect_ids(tok, cases[i].text, cases[i].ids, cases[i].n);
    }
    for (int i = 0; cases && i < n_cases; i++) {
        free(cases[i].text);
        free(cases[i].ids);
    }
    free(cases);
    lm_tokenizer_free(tok);
    return check_exit(round_trip ? "tokenizer.round_trip" : "tokenizer.golden");
}

/* Loading path must fail, with a one-line message naming it and holding phrase. */
static void expect_load_error(const char *path, int vocab_size, const char *phrase) {
    lm_error err = {{0}};
    lm_tokenizer *tok = lm_tokenizer_load(path, vocab_size, &err);
    CHECK(tok == NULL, "%s (vocab_size %d) loaded but should fail with \"%s\"", path, vocab_size,
          phrase);
    lm_tokenizer_free(tok);
    CHECK(strstr(err.msg, path) != NULL, "message does not name %s: %s", path, err.msg);
    CHECK(strstr(err.msg, phrase) != NULL, "message lacks \"%s\": %s", phrase, err.msg);
    CHECK(strchr(err.msg, '\n') == NULL, "message is not one line: %s", err.msg);
}

static void expect_bad_bytes(const buffer *b, int vocab_size, const char *phrase) {
    const char *path = tmp_path("tokenizer.bin");
    write_file(path, b->d, b->n);
    expect_load_error(path, vocab_size, phrase);
}

/* The file every truncation is cut from: five entries, max_token_length 8. */
static const char *small_pieces[] = {"<unk>", "<s>", "</s>", "a", "bc"};

static buffer small_file(void) {
    buffer b = {0};
    put_i32(&b, 8);
    for (int i = 0; i < 5; i++) put_piece(&b, -(float)i, small_pieces[i]);
    return b;
}

/* What loading the first cut bytes of small_file() as a 5-token vocab says. */
static void truncation_phrase(size_t cut, char *phrase, size_t size) {
    if (cut == 0) {
        snprintf(phrase, size, "empty file");
        return;
    }
    if (cut < 4) {
        snprintf(phrase, size, "truncated header (need 4 bytes for max_token_length, %zu", cut);
        return;
    }
    size_t start = 4; /* of entry i, the one the cut falls in */
    int i = 0;
    for (; i < 5 && start + 8 + strlen(small_pieces[i]) <= cut; i++)
        start += 8 + strlen(small_pieces[i]);
    size_t in = cut - start;
    const char *trunc = "truncated at token";
    if (in == 0)
        snprintf(phrase, size, "holds %d tokens, but the model's vocab_size is 5", i);
    else if (in < 4)
        snprintf(phrase, size, "%s %d (need 4 bytes for its score, %zu left)", trunc, i, in);
    else if (in < 8)
        snprintf(phrase, size, "%s %d (need 4 bytes for its length, %zu left)", trunc, i, in - 4);
    else
        snprintf(phrase, size, "%s %d (need %zu bytes for its piece, %zu left)", trunc, i,
                 strlen(small_pieces[i]), in - 8);
}

static void bad_truncations(void) {
    buffer full = small_file();
    for (size_t cut = 0; cut < full.n; cut++) {
        buffer b = {0};
        put(&b, full.d, cut);
        char phrase[160];
        truncation_phrase(cut, phrase, sizeof phrase);
        expect_bad_bytes(&b, 5, phrase);
        free(b.d);
    }
    write_file(tmp_path("tokenizer.bin"), full.d, full.n);
    lm_tokenizer *tok = load_or_report(tmp_path("tokenizer.bin"), 5);
    CHECK(lm_tokenizer_vocab_size(tok) == 5, "vocab size %d", lm_tokenizer_vocab_size(tok));
    lm_tokenizer_free(tok);
    free(full.d);
}

static buffer header_and_specials(int max_len) {
    buffer b = {0};
    put_i32(&b, max_len);
    for (int i = 0; i < 3; i++) put_piece(&b, 0, small_pieces[i]);
    return b;
}

static void bad_entries(void) {
    buffer b = header_and_specials(8);
    put_entry(&b, 0, "", -1);
    expect_bad_bytes(&b, 0, "token 3 has a negative length (-1)");
    free(b.d);

    b = header_and_specials(8);
    put_piece(&b, 0, "ninebytes");
    expect_bad_bytes(&b, 0, "token 3 has length 9, more than max_token_length 8");
    free(b.d);

    b = header_and_specials(8);
    put_entry(&b, 0, "abc", 8);
    expect_bad_bytes(&b, 0, "truncated at token 3 (need 8 bytes for its piece, 3 left)");
    free(b.d);

    b = header_and_specials(8);
    put_piece(&b, (float)NAN, "x");
    expect_bad_bytes(&b, 0, "token 3 has a non-finite score");
    free(b.d);

    b = header_and_specials(-5);
    expect_bad_bytes(&b, 0, "max_token_length -5 is out of range");
    free(b.d);

    b = header_and_specials(0x7fffffff);
    expect_bad_bytes(&b, 0, "max_token_length 2147483647 is out of range");
    free(b.d);

    b = (buffer){0};
    put_i32(&b, 8);
    put_piece(&b, 0, "<unk>");
    put_piece(&b, 0, "<s>");
    expect_bad_bytes(&b, 0, "holds 2 tokens; at least 3 are needed");
    free(b.d);

    b = (buffer){0};
    put(&b, "", 0);
    expect_bad_bytes(&b, 0, "empty file");
    free(b.d);
}

static void bad_sizes_and_paths(void) {
    buffer b = {0};
    put_i32(&b, 8);
    for (int i = 0; i < 1024; i++) {
        char piece[16];
        snprintf(piece, sizeof piece, " %d", i);
        put_piece(&b, 0, piece);
    }
    /* more entries than the model's vocabulary: refused by size, unread */
    expect_bad_bytes(&b, 512, "hold more than the model's vocab_size of 512 tokens");
    expect_bad_bytes(&b, 2048, "holds 1024 tokens, but the model's vocab_size is 2048");
    expect_bad_bytes(&b, -1, "invalid vocab_size -1");
    lm_tokenizer *tok = load_or_report(tmp_path("tokenizer.bin"), 1024);
    CHECK(lm_tokenizer_vocab_size(tok) == 1024, "vocab size %d", lm_tokenizer_vocab_size(tok));
    lm_tokenizer_free(tok);
    free(b.d);

    expect_load_error(tmp_path("no-such-tokenizer.bin"), 0, "cannot open");
    expect_load_error(tmp_dir, 0, "not a regular file (a directory)");
    CHECK(lm_tokenizer_load(tmp_dir, 0, NULL) == NULL, "a NULL err must be accepted");
}

static int bad_files(void) {
    if (!mkdtemp(tmp_dir)) {
        fprintf(stderr, "mkdtemp: %s\n", strerror(errno));
        return 1;
    }
    bad_truncations();
    bad_entries();
    bad_sizes_and_paths();
    remove(tmp_path("tokenizer.bin"));
    remove(tmp_dir);
    return check_exit("tokenizer.bad_files");
}

/* Invalid UTF-8 falls back to byte tokens (byte + 3) and decodes to itself. */
static void invalid_utf8(const lm_tokenizer *tok) {
    const char *texts[] = {
        "\x80",         "\xff",         "a\xe6\x97",          "\xc0\xaf",
        "\xe0\x80\xaf", "\xed\xa0\x80", "x\xf4\x90\x80\x80y", "\xe6\x97\xa5\x80\xe6"};
    for (size_t t = 0; t < sizeof texts / sizeof *texts; t++) expect_round_trip(tok, texts[t]);
    expect_ids(tok, "\x80", (int[]){1, 29871, 0x80 + 3}, 3);
    expect_ids(tok, "\xc0\xaf", (int[]){1, 29871, 0xc0 + 3, 0xaf + 3}, 4);
    expect_ids(tok, "a\xe6\x97", (int[]){1, 263, 0xe6 + 3, 0x97 + 3}, 4);
}

/* Cases beyond the golden file, from sentencepiece on llama2-32k.model: text
 * that spells a byte token or a control token must not become one. */
static void sentencepiece_extras(const lm_tokenizer *tok) {
    expect_ids(tok, "<0x41>", (int[]){1, 529, 29900, 29916, 29946, 29896, 29958}, 7);
    expect_ids(tok, "a<0x41>b", (int[]){1, 263, 29966, 29900, 29916, 29946, 29896, 29958, 29890},
               9);
    expect_ids(tok, "<unk></s>", (int[]){1, 529, 2960, 2565, 29879, 29958}, 6);
    expect_ids(tok, "\xf0\x9f\x98\x80 ok", (int[]){1, 29871, 243, 162, 155, 131, 3431}, 7);
    expect_ids(tok, "aaaaaaa", (int[]){1, 263, 27137, 7340}, 4);
    expect_ids(tok, "e\xcc\x81", (int[]){1, 321, 30103}, 3);
}

static void decoding(const lm_tokenizer *tok) {
    CHECK(strcmp(lm_token_piece(tok, 0, -1), "") == 0, "id -1");
    CHECK(strcmp(lm_token_piece(tok, 0, 32000), "") == 0, "id 32000");
    CHECK(strcmp(lm_token_piece(tok, 0, INT_MAX), "") == 0, "id INT_MAX");
    CHECK(strcmp(lm_token_piece(NULL, 0, 5), "") == 0, "NULL tokenizer");
    CHECK(strcmp(lm_token_piece(tok, 1, 3186), "world") == 0, "after BOS the space goes");
    CHECK(strcmp(lm_token_piece(tok, 22172, 3186), " world") == 0, "elsewhere it stays");
    CHECK(strcmp(lm_token_piece(tok, 1, 0x20 + 3), " ") == 0, "<0x20> after BOS is a space");
    CHECK(strcmp(lm_token_piece(tok, 5, 0x41 + 3), "A") == 0, "<0x41> is A");
    CHECK(lm_token_piece(tok, 5, 0xe6 + 3)[0] == '\xe6', "<0xE6> is the raw byte");

    FILE *f = tmpfile();
    const char *pieces[] = {NULL, "", "\x01", "\x80", "\n", "a", " world", "\x7f"};
    for (size_t i = 0; i < sizeof pieces / sizeof *pieces; i++) fputs(lm_piece_text(pieces[i]), f);
    rewind(f);
    char printed[32] = {0};
    size_t got = fread(printed, 1, sizeof printed - 1, f);
    fclose(f);
    CHECK(got == 8 && strcmp(printed, "\na world") == 0, "printed \"%s\"", printed);
}

static lm_tokenizer *stand_in(const buffer *b, int vocab_size) {
    write_file(tmp_path("stand-in.bin"), b->d, b->n);
    return load_or_report(tmp_path("stand-in.bin"), vocab_size);
}

static void expect_encode_error(const lm_tokenizer *tok, const char *text, const char *phrase) {
    lm_error err = {{0}};
    int n = -1;
    int *ids = lm_tokenize(tok, text, 1, 1, &n, &err);
    CHECK(ids == NULL, "\"%s\" encoded but should fail with \"%s\"", text, phrase);
    CHECK(strstr(err.msg, tmp_path("stand-in.bin")) && strstr(err.msg, phrase), "message: %s",
          err.msg);
    free(ids);
}

/* Without byte tokens, text the pieces cannot spell is an error, never a wrong
 * id (here id 1 + 3 is "a", not <0x01>); nor without " " for the dummy prefix. */
static void no_byte_tokens(void) {
    buffer b = header_and_specials(8);
    put_piece(&b, -1, " ");
    put_piece(&b, -2, "a");
    put_piece(&b, -3, " a");
    lm_tokenizer *tok = stand_in(&b, 6);
    expect_ids(tok, "a a", (int[]){1, 5, 5}, 3);
    expect_encode_error(tok, "a\xc3\xa9", "at byte 1: no piece for it and no byte token <0xC3>");
    expect_encode_error(tok, "\x01", "at byte 0: no piece for it and no byte token <0x01>");
    lm_tokenizer_free(tok);
    free(b.d);

    b = header_and_specials(8);
    put_piece(&b, -1, "a");
    tok = stand_in(&b, 4);
    expect_ids(tok, "", (int[]){1}, 1);
    expect_encode_error(tok, "a", "dummy-prefix space");
    lm_tokenizer_free(tok);
    free(b.d);
}

/* With byte tokens but no " ", the dummy prefix falls back to <0x20>; and
 * merges never produce a byte token, even where the pieces spell one. */
static void byte_tokens(void) {
    buffer b = header_and_specials(8);
    for (int i = 0; i < 256; i++) {
        char piece[8];
        snprintf(piece, sizeof piece, "<0x%02X>", i);
        put_piece(&b, 0, piece);
    }
    const char *pieces[] = {"a", "<", "0", "x", "4", "1", ">", "<0", "<0x", "<0x4", "<0x41"};
    for (int i = 0; i < 11; i++) put_piece(&b, -(float)i, pieces[i]);
    lm_tokenizer *tok = stand_in(&b, 270);
    expect_ids(tok, "a\xc3", (int[]){1, 0x20 + 3, 259, 0xc3 + 3}, 4);
    expect_ids(tok, "<0x41>", (int[]){1, 0x20 + 3, 269, 265}, 4);
    lm_tokenizer_free(tok);
    free(b.d);
    remove(tmp_path("stand-in.bin"));
}

static int bytes(const char *vocab) {
    if (!mkdtemp(tmp_dir)) {
        fprintf(stderr, "mkdtemp: %s\n", strerror(errno));
        return 1;
    }
    lm_tokenizer *tok = load_or_report(vocab, 32000);
    if (tok) {
        invalid_utf8(tok);
        sentencepiece_extras(tok);
        decoding(tok);
        int n = 0;
        int *ids = lm_tokenize(tok, "hi", 1, 1, &n, NULL);
        CHECK(ids && same_ids(ids, n, (int[]){1, 7251, 2}, 3), "BOS and EOS around \"hi\"");
        free(ids);
    }
    lm_tokenizer_free(tok);
    no_byte_tokens();
    byte_tokens();
    remove(tmp_dir);
    return check_exit("tokenizer.bytes");
}

static void time_prompt(const lm_tokenizer *tok, const char *label, const char *text) {
    clock_t t0 = clock();
    int n = 0;
    lm_error err = {{0}};
    int *ids = lm_tokenize(tok, text, 1, 0, &n, &err);
    double s = (double)(clock() - t0) / CLOCKS_PER_SEC;
    CHECK(ids != NULL, "%s: %s", label, err.msg);
    if (!ids) return;
    printf("%s: %zu bytes -> %d tokens in %.3f s\n", label, strlen(text), n, s);
    char *back = decode(tok, ids, n);
    CHECK(strcmp(back, text) == 0, "%s: the round trip differs", label);
    free(back);
    free(ids);
}

static int long_prompt(const char *vocab) {
    const char *parts[] = {"Once upon a time, there was a little dog. ",
                           "na\xc3\xafve caf\xc3\xa9 ",
                           "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e ",
                           "\xf0\x9f\x98\x80\xf0\x9f\x8e\x89",
                           "\x80\xff\xe6\x97 ",
                           "x[i] += y[i];\n\t",
                           "    ",
                           "aaaaaaaaaaaa"};
    const size_t target = 100 * 1024;
    buffer mixed = {0}, same = {0}, spaces = {0};
    for (size_t i = 0; mixed.n < target; i = (i + 3) % 8) put_str(&mixed, parts[i]);
    while (same.n < target) put_str(&same, "a");
    while (spaces.n < target) put_str(&spaces, " ");
    lm_tokenizer *tok = load_or_report(vocab, 32000);
    if (tok) {
        time_prompt(tok, "mixed", mixed.d);
        time_prompt(tok, "all 'a'", same.d);
        time_prompt(tok, "all spaces", spaces.d);
    }
    lm_tokenizer_free(tok);
    free(mixed.d);
    free(same.d);
    free(spaces.d);
    return check_exit("tokenizer.long_prompt");
}

/* The demo vocabulary; ids from sentencepiece on tok1024-kjv.model. */
static int kjv(const char *vocab) {
    lm_tokenizer *tok = load_or_report(vocab, 1024);
    if (tok) {
        const char *text = "And it came to pass";
        int n = 0;
        int *ids = lm_tokenize(tok, text, 1, 0, &n, NULL);
        if (ids) print_ids(stdout, text, ids, n);
        free(ids);
        expect_ids(tok, text, (int[]){1, 300, 359, 478, 293, 609}, 6);
        expect_ids(tok, "In the beginning God created the heaven and the earth.",
                   (int[]){1, 299, 968, 261, 821, 268, 968, 294, 392, 282, 559, 285, 261, 735, 270,
                           261, 621, 985},
                   18);
        expect_round_trip(tok, text);
    }
    lm_tokenizer_free(tok);
    return check_exit("tokenizer.kjv");
}

int main(int argc, char **argv) {
    const char *section = argc > 1 ? argv[1] : "";
    if (strcmp(section, "golden") == 0 && argc == 4) return golden(argv[2], argv[3], 0);
    if (strcmp(section, "round_trip") == 0 && argc == 4) return golden(argv[2], argv[3], 1);
    if (strcmp(section, "bad_files") == 0 && argc == 2) return bad_files();
    if (strcmp(section, "bytes") == 0 && argc == 3) return bytes(argv[2]);
    if (strcmp(section, "long_prompt") == 0 && argc == 3) return long_prompt(argv[2]);
    if (strcmp(section, "kjv") == 0 && argc == 3) return kjv(argv[2]);
    fprintf(stderr, "usage: test_tokenizer golden|round_trip JSON VOCAB | bad_files |"
                    " bytes|long_prompt VOCAB32K | kjv VOCAB1024\n");
    return 2;
}
