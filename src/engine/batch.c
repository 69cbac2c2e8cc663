/* Many sequences per forward pass (lamina.h, "batches"). Each step gathers
 * one token per running sequence (the one it sampled last) and fills the rest
 * of the block with prompt tokens of new sequences, oldest first; one forward
 * pass computes them all, reading each weight once, and every sequence whose
 * token was its last prompt token or a decode token samples its next token.
 * A token's arithmetic never depends on the other tokens of the pass
 * (kernels/ORDER.md), so a sequence gives the same tokens alone or in any
 * company. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "vocab.h"

typedef struct lm_seq {
    int active;
    uint64_t order; /* when it joined: prompts are fed oldest first */
    lm_kv kv;
    int *prompt;       /* (n_ctx) the prompt, then each sampled token as it is fed */
    int n_prompt, fed; /* prompt tokens, and how many positions have gone through */
    int keep;          /* hand the KV over as a prefix when it ends */
    int last;          /* the token sampled last: the next decode token */
    lm_sampler *sampler;
    int own_sampler; /* made here (not the caller's lm_seq_params.sampler) */
    int stop_token;
    const lm_tokenizer *end_tokens; /* NULL, or a vocabulary whose end tokens end it too */
    lm_logits_fn *logits_fn;        /* NULL, or the caller's look at the logits first */
    void *logits_arg;
    int prompt_logits; /* call logits_fn at every prompt token (lm_seq_params) */
} lm_seq;

struct lm_prefix {
    const lm_model *model;
    lm_kv kv; /* exactly len positions */
    int *tokens;
    int len;
};

struct lm_batch {
    const lm_model *model;
    lm_workspace *ws;
    lm_seq *seqs; /* (max_seqs) slots */
    int max_seqs, max_ctx;
    lm_kv_type kv_type;
    uint64_t joined;
    lm_tok *toks; /* (ws->max_toks) this step's tokens */
    int *out;     /* (max_seqs) tokens whose logits are wanted, ascending */
    int *out_seq; /* (max_seqs) the sequence of each */
    int *out_pos; /* (max_seqs) the position of each token */
};

static void seq_end(lm_seq *s) {
    lm_kv_free(&s->kv);
    if (s->own_sampler) lm_sampler_free(s->sampler);
    free(s->prompt);
    *s = (lm_seq){0};
}

int lm_prefix_length(const lm_prefix *p) { return p->len; }
const int *lm_prefix_tokens(const lm_prefix *p) { return p->tokens; }

uint64_t lm_prefix_bytes(const lm_prefix *p) {
    return lm_kv_bytes(p->model->c, p->len, p->kv.type) + (uint64_t)p->len * sizeof *p->tokens +
           sizeof *p;
}

void lm_prefix_free(lm_prefix *p) {
    if (!p) return;
    lm_kv_free(&p->kv);
    free(p->tokens);
    free(p);
}

/* The first n positions s has fed, copied into a prefix of exactly that size
 * (so a pool of prefixes holds no unused context), or NULL without memory. */
static lm_prefix *copy_prefix(const lm_model *m, const lm_seq *s, int n) {
    if (n < 1 || n > s->fed) return NULL;
    lm_prefix *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->model = m;
    p->len = n;
    p->tokens = malloc((size_t)n * sizeof *p->tokens);
    if (!p->tokens || lm_kv_alloc(&p->kv, m->c, n, s->kv.type)) {
        lm_prefix_free(p);
        return NULL;
    }
    memcpy(p->tokens, s->prompt, (size_t)n * sizeof *p->tokens);
    lm_kv_copy_prefix(&p->kv, &s->kv, m->c, n); /* same type, n within both */
    return p;
}

static lm_prefix *compact(const lm_model *m, const lm_seq *s) { return copy_prefix(m, s, s->fed); }

lm_prefix *lm_batch_snapshot(const lm_batch *b, int seq, int n, lm_error *err) {
    if (seq < 0 || seq >= b->max_seqs || !b->seqs[seq].active) {
        lm_fail(err, "no sequence %d is running", seq);
        return NULL;
    }
    lm_prefix *p = copy_prefix(b->model, &b->seqs[seq], n);
    if (!p)
        lm_fail(err, "cannot copy %d positions of a sequence that fed %d (or out of memory)", n,
                b->seqs[seq].fed);
    return p;
}

lm_batch *lm_batch_new(const lm_model *m, lm_batch_params p, lm_error *err) {
    const lm_config *c = m->c;
    if (!lm_kv_type_name(p.kv_type)) {
        lm_fail(err, "KV cache type %d is not one of LM_KV_F32, LM_KV_F16", (int)p.kv_type);
        return NULL;
    }
    int max_ctx = p.max_ctx > 0 ? p.max_ctx : lm_context_fit(m, p.max_seqs, p.kv_type, p.n_threads);
    if (max_ctx < 1 && p.max_seqs >= 1) {
        lm_fail(err, "no memory for %d KV caches: %.1f GiB available", p.max_seqs,
                (double)lm_memory_available() / (1 << 30));
        return NULL;
    }
    if (p.max_seqs < 1 || max_ctx > c->seq_len) {
        lm_fail(err,
                "a batch needs at least one sequence (got %d) and contexts within the "
                "model's seq_len %d (got %d)",
                p.max_seqs, c->seq_len, max_ctx);
        return NULL;
    }
    int max_toks = p.max_seqs + LM_MAX_BATCH;
    uint64_t kv = lm_mul(lm_kv_bytes(c, max_ctx, p.kv_type), (uint64_t)p.max_seqs);
    uint64_t total = lm_add(kv, lm_workspace_bytes(m, p.n_threads > 0 ? p.n_threads : 1, max_toks,
                                                   p.max_seqs, max_ctx));
    char what[128];
    snprintf(what, sizeof what, "the KV cache for %d positions", max_ctx);
    if (p.max_seqs == 1 && lm_check_memory(kv, what, err)) return NULL; /* as lm_context_new */
    snprintf(what, sizeof what, "%d sequences of %d positions (%s KV caches and activations)",
             p.max_seqs, max_ctx, lm_kv_type_name(p.kv_type));
    if (lm_check_memory(total, what, err)) return NULL;
    lm_batch *b = calloc(1, sizeof *b);
    if (!b) {
        lm_fail(err, "out of memory");
        return NULL;
    }
    b->model = m;
    b->max_seqs = p.max_seqs;
    b->max_ctx = max_ctx;
    b->kv_type = p.kv_type;
    b->ws = lm_workspace_new(m, p.isa, p.n_threads, max_toks, p.max_seqs, max_ctx, err);
    b->seqs = calloc((size_t)p.max_seqs, sizeof *b->seqs);
    b->toks = malloc((size_t)max_toks * sizeof *b->toks);
    b->out = malloc((size_t)p.max_seqs * sizeof *b->out);
    b->out_seq = malloc((size_t)p.max_seqs * sizeof *b->out_seq);
    b->out_pos = malloc((size_t)p.max_seqs * sizeof *b->out_pos);
    if (!b->ws || !b->seqs || !b->toks || !b->out || !b->out_seq || !b->out_pos) {
        if (b->ws) lm_fail(err, "out of memory");
        lm_batch_free(b);
        return NULL;
    }
    return b;
}

void lm_batch_free(lm_batch *b) {
    if (!b) return;
    for (int i = 0; b->seqs && i < b->max_seqs; i++) seq_end(&b->seqs[i]);
    lm_workspace_free(b->ws);
    free(b->seqs);
    free(b->toks);
    free(b->out);
    free(b->out_seq);
    free(b->out_pos);
    free(b);
}

static int free_slot(const lm_batch *b) {
    for (int i = 0; i < b->max_seqs; i++)
        if (!b->seqs[i].active) return i;
    return -1;
}

/* A prefix must be this model's, hold prefix_len positions whose tokens
 * begin the prompt, and leave at least one prompt token to feed. */
static int check_prefix(const lm_batch *b, const int *prompt, int n_prompt, const lm_seq_params *p,
                        lm_error *err) {
    if (!p->prefix) return 0;
    const lm_prefix *x = p->prefix;
    if (x->model != b->model) return lm_fail(err, "the prefix belongs to another model");
    if (x->kv.type != b->kv_type)
        return lm_fail(err, "the prefix's KV cache is %s but the batch's is %s",
                       lm_kv_type_name(x->kv.type), lm_kv_type_name(b->kv_type));
    if (p->prompt_logits) /* the prefix's tokens would have no logits */
        return lm_fail(err, "a sequence with prompt_logits cannot start from a prefix");
    if (p->prefix_len < 1 || p->prefix_len > x->len || p->prefix_len >= n_prompt)
        return lm_fail(err,
                       "prefix_len %d must be in 1..%d (the prefix's positions) and below the "
                       "prompt's %d tokens",
                       p->prefix_len, x->len, n_prompt);
    for (int i = 0; i < p->prefix_len; i++)
        if (prompt[i] != x->tokens[i])
            return lm_fail(err, "prompt token %d is %d but the prefix has %d there", i, prompt[i],
                           x->tokens[i]);
    return 0;
}

int lm_batch_add(lm_batch *b, const int *prompt, int n_prompt, lm_seq_params p, lm_error *err) {
    const lm_config *c = b->model->c;
    int n_ctx = p.n_ctx > 0 ? p.n_ctx : b->max_ctx, slot = free_slot(b);
    if (slot < 0) return lm_fail(err, "no free slot: %d sequences are running", b->max_seqs);
    if (n_ctx > b->max_ctx)
        return lm_fail(err, "a context of %d positions exceeds the batch's %d", n_ctx, b->max_ctx);
    if (n_prompt < 1 || n_prompt > n_ctx)
        return lm_fail(err, "the prompt is %d tokens but the context holds %d positions", n_prompt,
                       n_ctx);
    for (int i = 0; i < n_prompt; i++)
        if (prompt[i] < 0 || prompt[i] >= c->vocab_size)
            return lm_fail(err, "prompt token %d is %d, outside the vocabulary of %d", i, prompt[i],
                           c->vocab_size);
    if (check_prefix(b, prompt, n_prompt, &p, err)) return -1;
    lm_seq *s = &b->seqs[slot];
    s->own_sampler = !p.sampler;
    s->sampler =
        p.sampler ? p.sampler : lm_sampler_new(c->vocab_size, p.temperature, p.topp, p.seed, err);
    if (!s->sampler) return -1;
    lm_sampler_set_kernels(s->sampler, b->ws->k);
    s->prompt = malloc((size_t)n_ctx * sizeof *s->prompt);
    if (!s->prompt || lm_kv_alloc(&s->kv, c, n_ctx, b->kv_type)) {
        seq_end(s);
        return lm_fail(err, "out of memory for a context of %d positions", n_ctx);
    }
    memcpy(s->prompt, prompt, (size_t)n_prompt * sizeof *prompt);
    s->n_prompt = n_prompt;
    if (p.prefix) { /* checked above: its positions are this prompt's first */
        lm_kv_copy_prefix(&s->kv, &p.prefix->kv, c, p.prefix_len); /* checked: cannot fail */
        s->fed = p.prefix_len;
    }
    s->keep = p.keep;
    s->stop_token = p.stop_token;
    s->end_tokens = p.end_tokens;
    s->logits_fn = p.logits_fn;
    s->logits_arg = p.logits_arg;
    s->prompt_logits = p.prompt_logits && p.logits_fn;
    s->order = b->joined++;
    s->active = 1;
    return slot;
}

void lm_batch_cancel(lm_batch *b, int seq) {
    if (seq >= 0 && seq < b->max_seqs && b->seqs[seq].active) seq_end(&b->seqs[seq]);
}

lm_prefix *lm_batch_detach(lm_batch *b, int seq, lm_error *err) {
    if (seq < 0 || seq >= b->max_seqs || !b->seqs[seq].active) {
        lm_fail(err, "no sequence %d is running", seq);
        return NULL;
    }
    lm_prefix *p = compact(b->model, &b->seqs[seq]);
    if (!p) lm_fail(err, "no position fed yet, or out of memory");
    seq_end(&b->seqs[seq]);
    return p;
}

int lm_batch_active(const lm_batch *b) {
    int n = 0;
    for (int i = 0; i < b->max_seqs; i++) n += b->seqs[i].active;
    return n;
}

int lm_batch_free_slots(const lm_batch *b) { return b->max_seqs - lm_batch_active(b); }

const char *lm_batch_isa(const lm_batch *b) { return b->ws->k->isa; }
int lm_batch_n_threads(const lm_batch *b) { return b->ws->n_threads; }

uint64_t lm_batch_kv_bytes(const lm_batch *b) {
    uint64_t n = 0;
    for (int i = 0; i < b->max_seqs; i++)
        if (b->seqs[i].active) n += lm_kv_bytes(b->model->c, b->seqs[i].kv.n_ctx, b->kv_type);
    return n;
}

/* The position of a sequence's next token: every prompt token fed so far, plus
 * one per token sampled (the last of which is not fed yet). */
static int next_pos(const lm_seq *s) { return s->fed; }

/* The oldest sequence still feeding its prompt that is not before `after`. */
static int oldest_prompt(const lm_batch *b, uint64_t after) {
    int best = -1;
    for (int i = 0; i < b->max_seqs; i++) {
        const lm_seq *s = &b->seqs[i];
        if (s->active && s->fed < s->n_prompt && s->order >= after &&
            (best < 0 || s->order < b->seqs[best].order))
            best = i;
    }
    return best;
}

/* Add seq i's next n tokens and note each one whose logits are wanted. */
static void add_toks(lm_batch *b, int i, int n, int *n_toks, int *n_out) {
    lm_seq *s = &b->seqs[i];
    for (int k = 0; k < n; k++) {
        int pos = next_pos(s);
        int token = s->fed < s->n_prompt ? s->prompt[s->fed] : s->last;
        s->prompt[pos] = token; /* a decode token joins the history */
        b->toks[(*n_toks)++] = (lm_tok){token, pos, &s->kv};
        s->fed++;
        /* the last prompt token or a decode token (any token of a
         * prompt_logits sequence) */
        if (s->fed >= s->n_prompt || s->prompt_logits) {
            b->out[*n_out] = *n_toks - 1;
            b->out_pos[*n_out] = pos;
            b->out_seq[(*n_out)++] = i;
        }
    }
}

/* Prompt tokens seq i may add now, out of room: out[] holds max_seqs tokens,
 * a prompt_logits sequence takes one per token and the others one for their
 * last prompt token. (Progress: the oldest prompt comes first, and decode tokens
 * take at most max_seqs - 1, as it has none.) */
static int prompt_room(const lm_batch *b, int i, int room, int n_out) {
    const lm_seq *s = &b->seqs[i];
    int outs = b->max_seqs - n_out, left = s->n_prompt - s->fed;
    if (s->prompt_logits) return outs < room ? outs : room;
    if (left <= room && outs < 1) return left - 1; /* its last token waits */
    return room;
}

/* This step's tokens: one decode token per running sequence, in slot order,
 * then prompt tokens, oldest sequence first, while the block has room. */
static void gather(lm_batch *b, int *n_toks, int *n_out) {
    *n_toks = *n_out = 0;
    for (int i = 0; i < b->max_seqs; i++)
        if (b->seqs[i].active && b->seqs[i].fed >= b->seqs[i].n_prompt)
            add_toks(b, i, 1, n_toks, n_out);
    uint64_t after = 0;
    for (int i; *n_toks < b->ws->max_toks && (i = oldest_prompt(b, after)) >= 0;) {
        lm_seq *s = &b->seqs[i];
        int room = prompt_room(b, i, b->ws->max_toks - *n_toks, *n_out),
            left = s->n_prompt - s->fed;
        add_toks(b, i, left < room ? left : room, n_toks, n_out);
        after = s->order + 1;
    }
}

/* Whether every logit is finite (NaN or Inf weights give garbage text and
 * exit 0 otherwise): compares exponent bits, so the loop is integer work the
 * compiler vectorizes (about a microsecond for 32000). */
static int all_finite(const float *x, int n) {
    unsigned bad = 0;
    for (int i = 0; i < n; i++) {
        uint32_t bits;
        memcpy(&bits, &x[i], sizeof bits);
        bad |= (bits & 0x7f800000u) == 0x7f800000u;
    }
    return !bad;
}

int lm_batch_step(lm_batch *b, lm_batch_event *events, lm_error *err) {
    int n_toks, n_out, vocab = b->model->c->vocab_size;
    gather(b, &n_toks, &n_out);
    if (n_toks == 0) return 0;
    /* out[] is ascending by construction: decode tokens come first in slot
     * order, and each prompt's final token is its sequence's last (a
     * prompt_logits sequence's tokens are all there, in order). */
    lm_forward_toks(b->ws, b->toks, n_toks, b->out, n_out);
    int n_events = 0;
    for (int j = 0; j < n_out; j++) {
        lm_seq *s = &b->seqs[b->out_seq[j]];
        float *logits = b->ws->logits + (size_t)j * vocab;
        if (!all_finite(logits, vocab)) {
            lm_fail(err,
                    "non-finite logits at position %d: the checkpoint holds NaN or Inf weights",
                    b->out_pos[j]);
            for (int k = 0; k < n_events; k++) lm_prefix_free(events[k].prefix);
            for (int i = 0; i < b->max_seqs; i++) seq_end(&b->seqs[i]);
            return -1;
        }
        if (b->out_pos[j] + 1 < s->n_prompt) { /* a prompt token of a prompt_logits sequence */
            s->logits_fn(s->logits_arg, b->out_pos[j] + 1, logits, vocab);
            continue;
        }
        if (s->logits_fn) s->logits_fn(s->logits_arg, s->fed, logits, vocab);
        int token = lm_sample(s->sampler, logits);
        int stop = token == s->stop_token || lm_token_is_end(s->end_tokens, token);
        int finish = stop ? LM_FINISH_STOP : s->fed >= s->kv.n_ctx ? LM_FINISH_LENGTH : LM_RUNNING;
        events[n_events++] = (lm_batch_event){b->out_seq[j], token, finish, NULL};
        s->last = token;
        if (finish != LM_RUNNING) {
            if (s->keep) events[n_events - 1].prefix = compact(b->model, s);
            seq_end(s);
        }
    }
    return n_events;
}
