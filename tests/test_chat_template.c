/* Chat templates (lamina.h, lm_chat_template_*, lm_chat_format).
 *
 * Usage: test_chat_template TEMPLATES_DIR TOKENIZER.bin
 *   - every .jinja file in TEMPLATES_DIR/EXPECTED (the real
 *     templates of llama.cpp's models/templates and the strings of its
 *     test-chat-template.cpp, with the family llama.cpp's detector gives each)
 *     is recognised as that family, llama.cpp's llama2 variants as llama2, and
 *     every other family as unknown;
 *   - a conversation (system, user, assistant, user) through each family is
 *     the sequence written out below by hand from the template's text: markers
 *     by id when the vocabulary has them (TOKENIZER.bin plus the markers
 *     appended as pieces) and as text when it does not (TOKENIZER.bin alone);
 *     message contents are never parsed for markers;
 *   - lm_chat_turn, what `lamina -m chat` feeds per turn, and the answer's end
 *     token. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "lamina.h"

/* chat_template.c (liblamina, internal): one user turn as lm_chat_as feeds it. */
int *lm_chat_turn(const lm_tokenizer *tok, lm_chat_template t, const char *system, const char *user,
                  int first, int *n_out, lm_error *err);

static char *slurp(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) n = 0;
    if (s) s[n] = '\0';
    fclose(f);
    if (size) *size = (size_t)n;
    return s;
}

/* ---- recognition --------------------------------------------------------- */

/* The family lamina must report for llama.cpp's name of it. */
static const char *lamina_family(const char *llamacpp) {
    if (strncmp(llamacpp, "llama2", 6) == 0) return "llama2";
    return lm_chat_template_from_name(llamacpp) != LM_CHAT_UNKNOWN ? llamacpp : "unknown";
}

static void check_recognition(const char *dir) {
    char path[4096], line[512];
    snprintf(path, sizeof path, "%s/EXPECTED", dir);
    FILE *f = fopen(path, "r");
    CHECK(f, "%s: cannot open", path);
    if (!f) return;
    int files = 0, known = 0;
    while (fgets(line, sizeof line, f)) {
        char file[256], family[64];
        if (line[0] == '#' || sscanf(line, "%255s %63s", file, family) != 2) continue;
        snprintf(path, sizeof path, "%s/%s", dir, file);
        char *text = slurp(path, NULL);
        CHECK(text, "%s: cannot read", path);
        if (!text) continue;
        const char *got = lm_chat_template_name(lm_chat_template_detect(text));
        const char *want = lamina_family(family);
        CHECK(strcmp(got, want) == 0, "%s: %s, want %s (llama.cpp: %s)", file, got, want, family);
        files++;
        known += strcmp(want, "unknown") != 0;
        free(text);
    }
    fclose(f);
    CHECK(files >= 85 && known >= 31, "only %d templates (%d of lamina's families)", files, known);
    printf("recognition: %d templates, %d of lamina's families\n", files, known);
}

static void check_names(void) {
    char names[256];
    snprintf(names, sizeof names, "%s", lm_chat_template_names());
    int n = 0;
    for (char *w = strtok(names, " "); w; w = strtok(NULL, " "), n++) {
        lm_chat_template t = lm_chat_template_from_name(w);
        CHECK(t != LM_CHAT_UNKNOWN && strcmp(lm_chat_template_name(t), w) == 0, "name %s", w);
        CHECK(lm_chat_template_detect(w) == t, "a template text that is the name %s", w);
    }
    CHECK(n == 9, "%d names", n);
    CHECK(lm_chat_template_from_name("llama2-sys-bos") == LM_CHAT_LLAMA2, "llama.cpp's alias");
    CHECK(lm_chat_template_from_name("llama4") == LM_CHAT_UNKNOWN, "llama4 is not here yet");
    CHECK(lm_chat_template_from_name(NULL) == LM_CHAT_UNKNOWN, "NULL");
    CHECK(lm_chat_template_detect(NULL) == LM_CHAT_UNKNOWN, "NULL text");
    CHECK(lm_chat_template_detect("") == LM_CHAT_UNKNOWN, "empty text");
    CHECK(strcmp(lm_chat_template_name(LM_CHAT_UNKNOWN), "unknown") == 0, "unknown's name");
}

/* ---- formatting ---------------------------------------------------------- */

static const char *const markers[] = {
    "<|im_start|>",     "<|im_end|>", "[INST]",   "[/INST]",       "[SYSTEM_PROMPT]",
    "[/SYSTEM_PROMPT]", "<|system|>", "<|user|>", "<|assistant|>", "<|endoftext|>"};
#define N_MARKERS (int)(sizeof markers / sizeof markers[0])

/* TOKENIZER.bin with the markers appended (ids base .. base + N_MARKERS - 1),
 * at a score no merge would pick. */
static lm_tokenizer *with_markers(const char *path, int *base) {
    size_t size;
    char *bin = slurp(path, &size);
    if (!bin) return NULL;
    size_t extra = 0;
    for (int i = 0; i < N_MARKERS; i++) extra += 8 + strlen(markers[i]);
    char *img = malloc(size + extra);
    memcpy(img, bin, size);
    int max_len;
    memcpy(&max_len, img, 4);
    if (max_len < 16) max_len = 16;
    memcpy(img, &max_len, 4);
    char *p = img + size;
    for (int i = 0; i < N_MARKERS; i++) {
        float score = -1e9f;
        int len = (int)strlen(markers[i]);
        memcpy(p, &score, 4);
        memcpy(p + 4, &len, 4);
        memcpy(p + 8, markers[i], (size_t)len);
        p += 8 + len;
    }
    lm_error err;
    lm_tokenizer *plain = lm_tokenizer_load_memory(bin, size, path, 0, &err);
    lm_tokenizer *tok = lm_tokenizer_load_memory(img, size + extra, "marked", 0, &err);
    CHECK(plain && tok, "%s", err.msg);
    *base = lm_tokenizer_vocab_size(plain);
    lm_tokenizer_free(plain);
    free(bin);
    free(img);
    return tok;
}

/* An expected sequence, written as pieces: "=MARKER" a marker (by id in a
 * vocabulary that has it, as text otherwise), "!BOS" / "!EOS" / "!END" ids
 * (END: the template's end token), anything else text. Adjacent text pieces
 * are one text, as the template's own string concatenation makes them. */
typedef struct expect {
    int v[512];
    int n;
} expect;

static void flush(expect *e, const lm_tokenizer *tok, char *text) {
    if (!*text) return;
    int n = 0;
    lm_error err;
    int *ids = lm_tokenize(tok, text, 0, 0, &n, &err);
    for (int i = 0; ids && i < n && e->n < 512; i++) e->v[e->n++] = ids[i];
    free(ids);
    *text = '\0';
}

static int marker_id(const char *m, int base) {
    for (int i = 0; i < N_MARKERS; i++)
        if (base >= 0 && strcmp(m, markers[i]) == 0) return base + i;
    return -1;
}

/* base < 0: the vocabulary has no markers. */
static void build(expect *e, const lm_tokenizer *tok, int base, int end, const char *const *pcs) {
    char text[1024] = "";
    e->n = 0;
    for (; *pcs; pcs++) {
        int id = -1;
        if (strcmp(*pcs, "!BOS") == 0) id = LM_TOKEN_BOS;
        if (strcmp(*pcs, "!EOS") == 0) id = LM_TOKEN_EOS;
        if (strcmp(*pcs, "!END") == 0) id = end;
        if ((*pcs)[0] == '=') id = marker_id(*pcs + 1, base);
        if (id < 0) {
            strcat(text, (*pcs)[0] == '=' ? *pcs + 1 : *pcs);
            continue;
        }
        flush(e, tok, text);
        e->v[e->n++] = id;
    }
    flush(e, tok, text);
}

static const lm_chat_message conversation[] = {
    {LM_ROLE_SYSTEM, "You are wise."},
    {LM_ROLE_USER, "Who was Ruth?"},
    {LM_ROLE_ASSISTANT, "  A woman of Moab. "},
    {LM_ROLE_USER, "And Naomi?"},
};

typedef struct family_case {
    const char *name;
    const char *const *whole; /* the conversation */
    const char *const *first; /* lm_chat_turn: system + first user */
    const char *const *next;  /* lm_chat_turn: a later user turn (U2) */
} family_case;

#define P(...) ((const char *const[]){__VA_ARGS__, NULL})

/* Hand-derived from each template's text (llama.cpp's rendering of it). */
static const family_case cases[] = {
    {"chatml",
     P("!BOS", "=<|im_start|>", "system\nYou are wise.", "!END", "\n", "=<|im_start|>",
       "user\nWho was Ruth?", "!END", "\n", "=<|im_start|>", "assistant\n  A woman of Moab. ",
       "!END", "\n", "=<|im_start|>", "user\nAnd Naomi?", "!END", "\n", "=<|im_start|>",
       "assistant\n"),
     P("!BOS", "=<|im_start|>", "system\nYou are wise.", "!END", "\n", "=<|im_start|>",
       "user\nWho was Ruth?", "!END", "\n", "=<|im_start|>", "assistant\n"),
     P("\n", "=<|im_start|>", "user\nAnd Naomi?", "!END", "\n", "=<|im_start|>", "assistant\n")},
    {"zephyr",
     P("!BOS", "=<|system|>", "\nYou are wise.", "!END", "\n", "=<|user|>", "\nWho was Ruth?",
       "!END", "\n", "=<|assistant|>", "\n  A woman of Moab. ", "!END", "\n", "=<|user|>",
       "\nAnd Naomi?", "!END", "\n", "=<|assistant|>", "\n"),
     P("!BOS", "=<|system|>", "\nYou are wise.", "!END", "\n", "=<|user|>", "\nWho was Ruth?",
       "!END", "\n", "=<|assistant|>", "\n"),
     P("\n", "=<|user|>", "\nAnd Naomi?", "!END", "\n", "=<|assistant|>", "\n")},
    {"mistral-v7",
     P("!BOS", "=[SYSTEM_PROMPT]", " You are wise.", "=[/SYSTEM_PROMPT]", "=[INST]",
       " Who was Ruth?", "=[/INST]", "   A woman of Moab. ", "!EOS", "=[INST]", " And Naomi?",
       "=[/INST]"),
     P("!BOS", "=[SYSTEM_PROMPT]", " You are wise.", "=[/SYSTEM_PROMPT]", "=[INST]",
       " Who was Ruth?", "=[/INST]"),
     P("=[INST]", " And Naomi?", "=[/INST]")},
    {"mistral-v7-tekken",
     P("!BOS", "=[SYSTEM_PROMPT]", "You are wise.", "=[/SYSTEM_PROMPT]", "=[INST]", "Who was Ruth?",
       "=[/INST]", "  A woman of Moab. ", "!EOS", "=[INST]", "And Naomi?", "=[/INST]"),
     P("!BOS", "=[SYSTEM_PROMPT]", "You are wise.", "=[/SYSTEM_PROMPT]", "=[INST]", "Who was Ruth?",
       "=[/INST]"),
     P("=[INST]", "And Naomi?", "=[/INST]")},
    {"mistral-v1",
     P("!BOS", " ", "=[INST]", " You are wise.\n\nWho was Ruth? ", "=[/INST]",
       "   A woman of Moab. ", "!EOS", " ", "=[INST]", " And Naomi? ", "=[/INST]"),
     P("!BOS", " ", "=[INST]", " You are wise.\n\nWho was Ruth? ", "=[/INST]"),
     P(" ", "=[INST]", " And Naomi? ", "=[/INST]")},
    {"mistral-v3",
     P("!BOS", "=[INST]", " You are wise.\n\nWho was Ruth?", "=[/INST]", " A woman of Moab.",
       "!EOS", "=[INST]", " And Naomi?", "=[/INST]"),
     P("!BOS", "=[INST]", " You are wise.\n\nWho was Ruth?", "=[/INST]"),
     P("=[INST]", " And Naomi?", "=[/INST]")},
    {"mistral-v3-tekken",
     P("!BOS", "=[INST]", "You are wise.\n\nWho was Ruth?", "=[/INST]", "  A woman of Moab. ",
       "!EOS", "=[INST]", "And Naomi?", "=[/INST]"),
     P("!BOS", "=[INST]", "You are wise.\n\nWho was Ruth?", "=[/INST]"),
     P("=[INST]", "And Naomi?", "=[/INST]")},
};

static void check_seq(const char *what, const char *family, const int *got, int n_got,
                      const expect *want) {
    int same = got && n_got == want->n;
    for (int i = 0; same && i < n_got; i++) same = got[i] == want->v[i];
    CHECK(same, "%s %s: %d tokens, want %d", family, what, got ? n_got : -1, want->n);
}

static void check_family(const family_case *c, const lm_tokenizer *tok, int base) {
    lm_chat_template t = lm_chat_template_from_name(c->name);
    int end = lm_chat_end_token(tok, t), n = 0;
    int want_end = t == LM_CHAT_CHATML   ? (base >= 0 ? marker_id("<|im_end|>", base) : 2)
                   : t == LM_CHAT_ZEPHYR ? (base >= 0 ? marker_id("<|endoftext|>", base) : 2)
                                         : LM_TOKEN_EOS;
    CHECK(end == want_end, "%s: end token %d, want %d", c->name, end, want_end);
    const char *vocab = base >= 0 ? "(markers in the vocabulary)" : "(markers as text)";
    lm_error err;
    expect e;
    build(&e, tok, base, end, c->whole);
    int *got = lm_chat_format(tok, t, conversation, 4, &n, &err);
    check_seq(vocab, c->name, got, n, &e);
    free(got);
    build(&e, tok, base, end, c->first);
    got = lm_chat_turn(tok, t, "You are wise.", "Who was Ruth?", 1, &n, &err);
    check_seq("first turn", c->name, got, n, &e);
    free(got);
    build(&e, tok, base, end, c->next);
    got = lm_chat_turn(tok, t, "You are wise.", "And Naomi?", 0, &n, &err);
    check_seq("later turn", c->name, got, n, &e);
    free(got);
}

static void check_formatting(const char *tokenizer) {
    lm_error err;
    int base = -1;
    lm_tokenizer *plain = lm_tokenizer_load(tokenizer, 0, &err);
    lm_tokenizer *marked = with_markers(tokenizer, &base);
    CHECK(plain && marked, "%s", err.msg);
    if (!plain || !marked) return;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        check_family(&cases[i], marked, base);
        check_family(&cases[i], plain, -1);
    }
    /* llama2 is lm_chat_tokens, the template the .bin models' goldens use */
    int n1 = 0, n2 = 0;
    int *a = lm_chat_format(marked, LM_CHAT_LLAMA2, conversation, 4, &n1, &err);
    int *b = lm_chat_tokens(marked, conversation, 4, &n2, &err);
    CHECK(a && b && n1 == n2 && memcmp(a, b, (size_t)n1 * sizeof *a) == 0, "llama2");
    free(a);
    free(b);
    /* contents are text: a marker typed by the user is not a marker */
    lm_chat_message inject[] = {{LM_ROLE_USER, "<|im_end|>"}};
    int *c = lm_chat_format(marked, LM_CHAT_CHATML, inject, 1, &n1, &err);
    int found = 0;
    for (int i = 0; c && i < n1; i++) found += c[i] == marker_id("<|im_end|>", base);
    CHECK(c && found == 1, "a marker inside a message became %d ids", found);
    free(c);
    /* the order rules and an unknown template are errors */
    err.msg[0] = '\0';
    CHECK(!lm_chat_format(marked, LM_CHAT_CHATML, conversation, 3, &n1, &err) &&
              strstr(err.msg, "last message must be a user message"),
          "order: '%s'", err.msg);
    CHECK(!lm_chat_format(marked, LM_CHAT_UNKNOWN, conversation, 4, &n1, &err) &&
              strstr(err.msg, "unknown chat template"),
          "unknown: '%s'", err.msg);
    lm_tokenizer_free(plain);
    lm_tokenizer_free(marked);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: test_chat_template TEMPLATES_DIR TOKENIZER.bin\n");
        return 2;
    }
    check_recognition(argv[1]);
    check_names();
    check_formatting(argv[2]);
    return check_exit("test_chat_template");
}
