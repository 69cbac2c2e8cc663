/* The Llama 2 chat template: the one place that turns chat messages into
 * tokens, for `lamina -m chat` (lm_chat), `lamina batch` and `lamina serve`.
 * Meta's reference renders each user turn as "[INST] ... [/INST]" after BOS and
 * closes each answer with EOS; lm_chat tokenizes turn by turn (the answer is
 * sampled, not encoded), so this does the same: a turn encoded on its own. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

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
            if (!rc && append(&a, (const int[]){LM_TOKEN_EOS}, 1))
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
