/* The Llama 2 chat template: the one place that turns chat messages into
 * tokens, for `lamina -m chat` (lm_chat_turn), `lamina batch` and `lamina serve`.
 * Meta's reference renders each user turn as "[INST] ... [/INST]" after BOS and
 * closes each answer with EOS; the CLI's chat tokenizes turn by turn (the answer is
 * sampled, not encoded), so this does the same: a turn encoded on its own. */
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "internal.h"
#include "vocab.h"

/* The vocabulary's BOS and EOS (a tokenizer.bin's are 1 and 2; a GGUF
 * vocabulary names its own), llama2.c's ids where it names none. */
static int bos_of(const lm_tokenizer *tok) {
    int id = lm_tokenizer_bos(tok);
    return id >= 0 ? id : LM_TOKEN_BOS;
}
static int eos_of(const lm_tokenizer *tok) {
    int id = lm_tokenizer_eos(tok);
    return id >= 0 ? id : LM_TOKEN_EOS;
}

/* "[INST] <<SYS>>\nSYS\n<</SYS>>\n\nUSER [/INST]", or "[INST] USER [/INST]". */
static char *render_turn(const char *system, const char *user) {
    int sys = system && *system;
    const char *fmt = sys ? "[INST] <<SYS>>\n%s\n<</SYS>>\n\n%s [/INST]" : "[INST] %s%s [/INST]";
    size_t len = strlen(fmt) + (sys ? strlen(system) : 0) + strlen(user) + 1;
    char *text = malloc(len);
    if (text) snprintf(text, len, fmt, sys ? system : "", user);
    return text;
}

/* A growing id array. */
typedef struct ids {
    int *v;
    int n, cap;
} ids;

static int append(ids *a, const int *src, int n) {
    if (a->n + n > a->cap) {
        int cap = a->cap ? a->cap : 64;
        while (cap < a->n + n) cap *= 2;
        int *v = realloc(a->v, (size_t)cap * sizeof *v);
        if (!v) return -1;
        a->v = v;
        a->cap = cap;
    }
    memcpy(a->v + a->n, src, (size_t)n * sizeof *src);
    a->n += n;
    return 0;
}

/* Encode `text` (with BOS when asked) onto the end of a. */
static int append_text(ids *a, const lm_tokenizer *tok, const char *text, int bos, lm_error *err) {
    int n = 0;
    int *t = lm_tokenize(tok, text, bos, 0, &n, err);
    if (!t) return -1;
    int rc = append(a, t, n);
    free(t);
    return rc ? lm_fail(err, "out of memory") : 0;
}

/* Messages must read: [system] user (assistant user)*; 0 or the error. */
static int check_order(const lm_chat_message *msgs, int n, lm_error *err) {
    static const char *with_article[] = {"a system", "a user", "an assistant"};
    if (n <= 0) return lm_fail(err, "messages: no messages");
    int first = msgs[0].role == LM_ROLE_SYSTEM;
    if (first && n == 1) return lm_fail(err, "messages: a system message needs a user message");
    for (int i = 0; i < n; i++) {
        if ((unsigned)msgs[i].role > LM_ROLE_ASSISTANT)
            return lm_fail(err, "messages[%d]: unknown role", i);
        if (!msgs[i].content) return lm_fail(err, "messages[%d]: no content", i);
        if (i < first) continue;
        lm_role want = (i - first) % 2 ? LM_ROLE_ASSISTANT : LM_ROLE_USER;
        if (msgs[i].role != want)
            return lm_fail(err,
                           "messages[%d]: %s message where %s message must come (the order "
                           "is: an optional system message, then user and assistant in turn)",
                           i, with_article[msgs[i].role], with_article[want]);
    }
    if (msgs[n - 1].role != LM_ROLE_USER)
        return lm_fail(err, "messages: the last message must be a user message");
    return 0;
}

int *lm_chat_tokens(const lm_tokenizer *tok, const lm_chat_message *msgs, int n, int *n_out,
                    lm_error *err) {
    *n_out = 0;
    if (check_order(msgs, n, err)) return NULL;
    int first = msgs[0].role == LM_ROLE_SYSTEM;
    const char *system = first ? msgs[0].content : NULL;
    ids a = {0};
    for (int i = first; i < n; i++) {
        int rc;
        if (msgs[i].role == LM_ROLE_USER) {
            char *text = render_turn(i == first ? system : NULL, msgs[i].content);
            if (!text) {
                free(a.v);
                lm_fail(err, "out of memory");
                return NULL;
            }
            rc = append_text(&a, tok, text, 1, err);
            free(text);
        } else { /* the answer as the model would have sampled it, then EOS */
            rc = append_text(&a, tok, msgs[i].content, 0, err);
            if (!rc && append(&a, (const int[]){eos_of(tok)}, 1))
                rc = lm_fail(err, "out of memory");
        }
        if (rc) {
            free(a.v);
            return NULL;
        }
    }
    *n_out = a.n;
    return a.v;
}

/* ---- other templates ------------------------------------------------------
 *
 * Recognition follows llama.cpp's llm_chat_detect_template in its order (a
 * template that holds <|im_start|> and <|im_sep|> is Phi 4, not ChatML, and so
 * on), returning only the families rendered here; every other family is
 * unknown. Rendering follows llama.cpp's llm_chat_apply_template for the same
 * family, as a list of pieces: text, or a marker that goes in by id. */

static const char *const template_names[] = {
    [LM_CHAT_LLAMA2] = "llama2",         [LM_CHAT_MISTRAL_V1] = "mistral-v1",
    [LM_CHAT_MISTRAL_V3] = "mistral-v3", [LM_CHAT_MISTRAL_V3_TEKKEN] = "mistral-v3-tekken",
    [LM_CHAT_MISTRAL_V7] = "mistral-v7", [LM_CHAT_MISTRAL_V7_TEKKEN] = "mistral-v7-tekken",
    [LM_CHAT_CHATML] = "chatml",         [LM_CHAT_ZEPHYR] = "zephyr",
    [LM_CHAT_LLAMA3] = "llama3",
};
#define N_TEMPLATES ((int)(sizeof template_names / sizeof template_names[0]))

const char *lm_chat_template_names(void) {
    return "llama2 mistral-v1 mistral-v3 mistral-v3-tekken mistral-v7 mistral-v7-tekken chatml "
           "zephyr llama3";
}

const char *lm_chat_template_name(lm_chat_template t) {
    return (int)t >= 0 && (int)t < N_TEMPLATES ? template_names[t] : "unknown";
}

lm_chat_template lm_chat_template_from_name(const char *name) {
    static const char *const llama2_aliases[] = {"llama2-sys", "llama2-sys-bos",
                                                 "llama2-sys-strip"};
    if (!name) return LM_CHAT_UNKNOWN;
    for (int t = 0; t < N_TEMPLATES; t++)
        if (strcmp(name, template_names[t]) == 0) return (lm_chat_template)t;
    for (size_t i = 0; i < sizeof llama2_aliases / sizeof llama2_aliases[0]; i++)
        if (strcmp(name, llama2_aliases[i]) == 0) return LM_CHAT_LLAMA2;
    return LM_CHAT_UNKNOWN;
}

int lm_chat_template_choose(const char *name, const char *model_template, lm_chat_template *out,
                            lm_error *err) {
    *out = name             ? lm_chat_template_from_name(name)
           : model_template ? lm_chat_template_detect(model_template)
                            : LM_CHAT_LLAMA2;
    if (*out != LM_CHAT_UNKNOWN) return 0;
    if (name)
        return lm_fail(err, "chat template '%s' is unknown (lamina knows: %s)", name,
                       lm_chat_template_names());
    return lm_fail(err,
                   "the model's chat template (tokenizer.chat_template) is none lamina "
                   "recognises; name one of: %s (--chat-template)",
                   lm_chat_template_names());
}

/* The [INST] families: Mistral's official templates are told apart by what
 * their text spells; the rest are Llama 2 and its variants. */
static lm_chat_template detect_inst(const char *text) {
    if (strstr(text, "[SYSTEM_PROMPT]")) return LM_CHAT_MISTRAL_V7;
    if (strstr(text, "' [INST] ' + system_message") || strstr(text, "[AVAILABLE_TOOLS]")) {
        if (strstr(text, " [INST]")) return LM_CHAT_MISTRAL_V1;
        if (strstr(text, "\"[INST]\"")) return LM_CHAT_MISTRAL_V3_TEKKEN;
        return LM_CHAT_MISTRAL_V3;
    }
    return LM_CHAT_LLAMA2;
}

lm_chat_template lm_chat_template_detect(const char *text) {
    if (!text) return LM_CHAT_UNKNOWN;
    lm_chat_template named = lm_chat_template_from_name(text);
    if (named != LM_CHAT_UNKNOWN) return named;
    if (strstr(text, "<|im_start|>")) /* <|im_sep|>: Phi 4; <end_of_utterance>: SmolVLM */
        return strstr(text, "<|im_sep|>") || strstr(text, "<end_of_utterance>") ? LM_CHAT_UNKNOWN
                                                                                : LM_CHAT_CHATML;
    if (strncmp(text, "mistral", 7) == 0 || strstr(text, "[INST]")) return detect_inst(text);
    /* what llama.cpp tests before Zephyr: Phi 3, ChatGLM 4, Falcon 3, GLM-Edge */
    int assistant = strstr(text, "<|assistant|>") != NULL, user = strstr(text, "<|user|>") != NULL;
    if (assistant && (strstr(text, "<|end|>") || user)) return LM_CHAT_UNKNOWN;
    if (strstr(text, "[gMASK]<sop>")) return LM_CHAT_UNKNOWN;
    if (strstr(text, "<|{{ item['role'] }}|>") && strstr(text, "<|begin_of_image|>"))
        return LM_CHAT_UNKNOWN;
    if (user && strstr(text, "<|endoftext|>")) return LM_CHAT_ZEPHYR;
    /* what llama.cpp tests before Llama 3: Monarch, Gemma, Orion, OpenChat,
     * Vicuna, DeepSeek, Command R */
    static const char *const before_llama3[][2] = {{"bos_token + message['role']", ""},
                                                   {"<start_of_turn>", ""},
                                                   {"'\\n\\nAssistant: ' + eos_token", ""},
                                                   {"GPT4 Correct ", ""},
                                                   {"USER: ", "ASSISTANT: "},
                                                   {"### Instruction:", "<|EOT|>"},
                                                   {"<|START_OF_TURN_TOKEN|>", "<|USER_TOKEN|>"}};
    for (size_t i = 0; i < sizeof before_llama3 / sizeof before_llama3[0]; i++)
        if (strstr(text, before_llama3[i][0]) && strstr(text, before_llama3[i][1]))
            return LM_CHAT_UNKNOWN;
    if (strstr(text, "<|start_header_id|>") && strstr(text, "<|end_header_id|>"))
        return LM_CHAT_LLAMA3;
    return LM_CHAT_UNKNOWN;
}

/* The id of the piece spelled exactly `piece`, or -1. BOS and EOS are not
 * looked up (tokenizer.bin spells them "\n<s>\n" and "\n</s>\n"). */
static int find_piece(const lm_tokenizer *tok, const char *piece) {
    int n = lm_tokenizer_vocab_size(tok);
    for (int id = 0; id < n; id++)
        if (id != bos_of(tok) && id != eos_of(tok) &&
            strcmp(lm_token_piece(tok, -1, id), piece) == 0)
            return id;
    /* a control token decodes to nothing: found by its spelling (Llama 3's
     * <|start_header_id|>, <|eot_id|>) */
    int id = lm_tokenizer_find_piece(tok, piece);
    return id != bos_of(tok) && id != eos_of(tok) ? id : -1;
}

int lm_chat_end_token(const lm_tokenizer *tok, lm_chat_template t) {
    const char *end = t == LM_CHAT_CHATML   ? "<|im_end|>"
                      : t == LM_CHAT_ZEPHYR ? "<|endoftext|>"
                      : t == LM_CHAT_LLAMA3 ? "<|eot_id|>"
                                            : 0;
    int id = end ? find_piece(tok, end) : -1;
    return id >= 0 ? id : eos_of(tok);
}

/* A rendering in progress: text waits in `text` until a marker found in the
 * vocabulary (or the end) encodes it, as llama.cpp's tokenizer encodes the
 * text between two special tokens (with SentencePiece's space prefix). */
typedef struct render {
    const lm_tokenizer *tok;
    int cont; /* a turn after an answer's end token (lm_chat_turn): no BOS, the tail of that answer
               */
    ids out;
    lm_bytes text;
    int failed;
    lm_error *err;
} render;

static void put_text(render *r, const char *s, size_t n) {
    if (r->failed || n == 0) return;
    if (lm_bytes_add(&r->text, s, n, 256)) r->failed = lm_fail(r->err, "out of memory");
}

static void put(render *r, const char *s) { put_text(r, s, strlen(s)); }

/* Encode the waiting text. */
static void flush_text(render *r) {
    if (r->failed || r->text.len == 0) return;
    if (append_text(&r->out, r->tok, r->text.p, 0, r->err)) r->failed = -1;
    r->text.len = 0;
}

static void put_id(render *r, int id) {
    flush_text(r);
    if (!r->failed && append(&r->out, &id, 1)) r->failed = lm_fail(r->err, "out of memory");
}

/* A marker: by id where the vocabulary has it, else text. */
static void put_marker(render *r, const char *marker) {
    int id = find_piece(r->tok, marker);
    if (id >= 0)
        put_id(r, id);
    else
        put(r, marker);
}

/* llama.cpp's trim: white space off both ends. */
static void put_trimmed(render *r, const char *s) {
    size_t a = 0, b = strlen(s);
    while (a < b && strchr(" \t\n\r\f\v", s[a])) a++;
    while (b > a && strchr(" \t\n\r\f\v", s[b - 1])) b--;
    put_text(r, s + a, b - a);
}

static const char *const role_names[] = {"system", "user", "assistant"};

/* <|im_start|>ROLE\nCONTENT<|im_end|>\n ... <|im_start|>assistant\n */
static void render_chatml(render *r, const lm_chat_message *m, int n) {
    if (r->cont) put(r, "\n");
    for (int i = 0; i < n; i++) {
        put_marker(r, "<|im_start|>");
        put(r, role_names[m[i].role]);
        put(r, "\n");
        put(r, m[i].content);
        put_id(r, lm_chat_end_token(r->tok, LM_CHAT_CHATML));
        put(r, "\n");
    }
    put_marker(r, "<|im_start|>");
    put(r, "assistant\n");
}

/* <|ROLE|>\nCONTENT<|endoftext|>\n ... <|assistant|>\n */
static void render_zephyr(render *r, const lm_chat_message *m, int n) {
    static const char *const roles[] = {"<|system|>", "<|user|>", "<|assistant|>"};
    if (r->cont) put(r, "\n");
    for (int i = 0; i < n; i++) {
        put_marker(r, roles[m[i].role]);
        put(r, "\n");
        put(r, m[i].content);
        put_id(r, lm_chat_end_token(r->tok, LM_CHAT_ZEPHYR));
        put(r, "\n");
    }
    put_marker(r, "<|assistant|>");
    put(r, "\n");
}

/* <|start_header_id|>ROLE<|end_header_id|>\n\ntrim(CONTENT)<|eot_id|> ... then
 * the assistant's header; a later turn follows the answer's <|eot_id|>. */
static void render_llama3(render *r, const lm_chat_message *m, int n) {
    for (int i = 0; i < n; i++) {
        put_marker(r, "<|start_header_id|>");
        put(r, role_names[m[i].role]);
        put_marker(r, "<|end_header_id|>");
        put(r, "\n\n");
        put_trimmed(r, m[i].content);
        put_id(r, lm_chat_end_token(r->tok, LM_CHAT_LLAMA3));
    }
    put_marker(r, "<|start_header_id|>");
    put(r, "assistant");
    put_marker(r, "<|end_header_id|>");
    put(r, "\n\n");
}

/* v7: [SYSTEM_PROMPT] S[/SYSTEM_PROMPT][INST] U[/INST] A</s>; tekken: no spaces. */
static void render_mistral_v7(render *r, const lm_chat_message *m, int n, int tekken) {
    const char *sp = tekken ? "" : " ";
    for (int i = 0; i < n; i++) {
        if (m[i].role == LM_ROLE_SYSTEM) {
            put_marker(r, "[SYSTEM_PROMPT]");
            put(r, sp);
            put(r, m[i].content);
            put_marker(r, "[/SYSTEM_PROMPT]");
        } else if (m[i].role == LM_ROLE_USER) {
            put_marker(r, "[INST]");
            put(r, sp);
            put(r, m[i].content);
            put_marker(r, "[/INST]");
        } else {
            put(r, sp);
            put(r, m[i].content);
            put_id(r, eos_of(r->tok));
        }
    }
}

/* v1: " [INST] S\n\nU [/INST] A</s>"; v3: "[INST] S\n\nU[/INST] trim(A)</s>";
 * v3-tekken: "[INST]S\n\nU[/INST]A</s>". */
static void render_mistral(render *r, const lm_chat_message *m, int n, lm_chat_template t) {
    const char *lead = t == LM_CHAT_MISTRAL_V1 ? " " : "";
    const char *trail = t == LM_CHAT_MISTRAL_V3_TEKKEN ? "" : " ";
    int inside = 0;
    for (int i = 0; i < n; i++) {
        if (!inside) {
            put(r, lead);
            put_marker(r, "[INST]");
            put(r, trail);
            inside = 1;
        }
        if (m[i].role == LM_ROLE_SYSTEM) {
            put(r, m[i].content);
            put(r, "\n\n");
        } else if (m[i].role == LM_ROLE_USER) {
            put(r, m[i].content);
            put(r, lead);
            put_marker(r, "[/INST]");
        } else {
            put(r, trail);
            if (t == LM_CHAT_MISTRAL_V3)
                put_trimmed(r, m[i].content);
            else
                put(r, m[i].content);
            put_id(r, eos_of(r->tok));
            inside = 0;
        }
    }
}

static int *render_messages(render *r, lm_chat_template t, const lm_chat_message *msgs, int n,
                            int *n_out) {
    if (!r->cont) put_id(r, bos_of(r->tok));
    if (t == LM_CHAT_CHATML)
        render_chatml(r, msgs, n);
    else if (t == LM_CHAT_ZEPHYR)
        render_zephyr(r, msgs, n);
    else if (t == LM_CHAT_LLAMA3)
        render_llama3(r, msgs, n);
    else if (t == LM_CHAT_MISTRAL_V7 || t == LM_CHAT_MISTRAL_V7_TEKKEN)
        render_mistral_v7(r, msgs, n, t == LM_CHAT_MISTRAL_V7_TEKKEN);
    else
        render_mistral(r, msgs, n, t);
    flush_text(r);
    free(r->text.p);
    if (r->failed) {
        free(r->out.v);
        return NULL;
    }
    *n_out = r->out.n;
    return r->out.v;
}

static int known(lm_chat_template t, lm_error *err) {
    if ((int)t >= 0 && (int)t < N_TEMPLATES) return 1;
    lm_fail(err, "unknown chat template (%d)", (int)t);
    return 0;
}

int *lm_chat_format(const lm_tokenizer *tok, lm_chat_template t, const lm_chat_message *msgs, int n,
                    int *n_out, lm_error *err) {
    *n_out = 0;
    if (!known(t, err) || check_order(msgs, n, err)) return NULL;
    if (t == LM_CHAT_LLAMA2) return lm_chat_tokens(tok, msgs, n, n_out, err);
    render r = {.tok = tok, .err = err};
    return render_messages(&r, t, msgs, n, n_out);
}

int *lm_chat_turn(const lm_tokenizer *tok, lm_chat_template t, const char *system, const char *user,
                  int first, int *n_out, lm_error *err) {
    lm_chat_message m[2] = {{LM_ROLE_SYSTEM, system}, {LM_ROLE_USER, user}};
    int sys = first && system && *system;
    *n_out = 0;
    if (!known(t, err)) return NULL;
    if (first || t == LM_CHAT_LLAMA2) return lm_chat_format(tok, t, m + !sys, 1 + sys, n_out, err);
    render r = {.tok = tok, .err = err, .cont = 1};
    return render_messages(&r, t, m + 1, 1, n_out);
}
