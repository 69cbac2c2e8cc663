/* `lamina bench`: the plan (every shape, dtype and thread count asked for)
 * and the timed runs (bench.h). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "cli.h"
#include "outfile.h"
#include "probe.h"

/* fp32 weights above this are not built (7B: 26 GB, more than the machines
 * we target have). */
#define F32_MAX_BYTES (16ull << 30)

static uint64_t rng_next(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* n random token ids, never UNK, BOS or EOS. */
static void random_tokens(int *tokens, int n, const lm_config *c, uint64_t *s) {
    int lo = c->vocab_size > 3 ? 3 : 0;
    for (int i = 0; i < n; i++)
        tokens[i] = lo + (int)(rng_next(s) % (uint64_t)(c->vocab_size - lo));
}

static double timed_forward(lm_context *ctx, const int *tokens, int n, int pos, int *failed) {
    double t0 = lm_seconds(), c0 = bench_cpu_seconds();
    if (!lm_forward(ctx, tokens, n, pos)) *failed = 1;
    bench_slowdown(lm_seconds() - t0, bench_cpu_seconds() - c0);
    return lm_seconds() - t0;
}

/* Prompt + generated tokens fit seq_len: both are scaled down, keeping the ratio. */
static void clamp_tokens(const bench_opts *o, const bench_result *r, const lm_config *c, int *P,
                         int *G) {
    *P = o->prompt, *G = o->gen;
    if (*P + *G <= c->seq_len) return;
    int p = (int)((long long)*P * c->seq_len / (*P + *G));
    if (*P && !p) p = 1;
    *G = c->seq_len - p < *G ? c->seq_len - p : *G;
    *P = p;
    bench_progress_clear();
    fprintf(stderr, "bench: note: %s seq_len %d < %d + %d tokens: clamped to %d + %d\n", r->shape,
            c->seq_len, o->prompt, o->gen, *P, *G);
}

static void rep_label(char *what, size_t len, int rep, const bench_opts *o) {
    if (rep < 0)
        snprintf(what, len, "warm-up %d/%d", rep + o->warmup + 1, o->warmup);
    else
        snprintf(what, len, "rep %d/%d", rep + 1, o->reps);
}

/* One sequence through lm_forward: the prompt as one batch, then one token
 * at a time. */
static int run_single(const lm_model *m, const bench_opts *o, bench_result *r, const char *label,
                      const int *tokens) {
    lm_error e;
    int P = r->prompt, G = r->gen;
    lm_context *ctx =
        lm_context_new(m, (lm_context_params){P + G, r->threads, r->isa, o->kv_type}, &e);
    if (!ctx) return bench_runtime_error("%s %s: %s", r->shape, r->dtype, e.msg);
    r->threads = lm_context_n_threads(ctx);
    int failed = 0, tty = bench_progress_tty();
    for (int rep = -o->warmup; rep < o->reps && !failed; rep++) {
        char what[64];
        rep_label(what, sizeof what, rep, o);
        if (tty) bench_progress(1, "%s %s: prefill %d tokens", label, what, P);
        double c0 = bench_cpu_seconds(), tp = P ? timed_forward(ctx, tokens, P, 0, &failed) : 0;
        double cp = bench_cpu_seconds() - c0, td = 0;
        c0 = bench_cpu_seconds();
        for (int i = 0; i < G && !failed; i++) {
            td += timed_forward(ctx, tokens + P + i, 1, P + i, &failed);
            if (tty) bench_progress(0, "%s %s: decode %d/%d", label, what, i + 1, G);
        }
        double cd = bench_cpu_seconds() - c0;
        if (failed) break;
        double ptps = P && tp > 0 ? P / tp : 0, dtps = G && td > 0 ? G / td : 0;
        if (rep >= 0) {
            r->prefill_tps[rep] = ptps, r->decode_tps[rep] = dtps;
            r->prefill_cpu[rep] = P ? cp / P : 0, r->decode_cpu[rep] = G ? cd / G : 0;
        }
        if (!tty)
            bench_progress(1, "%s %s: prefill %.1f tok/s, decode %.1f tok/s", label, what, ptps,
                           dtps);
    }
    lm_context_free(ctx);
    if (failed) return bench_runtime_error("%s %s: lm_forward failed", r->shape, r->dtype);
    return 0;
}

static int run_batch(const lm_model *m, const bench_opts *o, bench_result *r, const char *label,
                     uint64_t *seed);

static int run_config(const lm_model *m, const bench_opts *o, bench_result *r, int index,
                      int total) {
    lm_model_info info = lm_model_get_info(m);
    const lm_config *c = &info.config;
    int P, G;
    clamp_tokens(o, r, c, &P, &G);
    if (r->batch && !P) P = 1; /* a sequence of a batch starts from a prompt */
    r->prompt = P, r->gen = G, r->reps = o->reps;
    r->weight_bytes = info.weight_bytes;
    r->prefill_flops = bench_prefill_flops(c, P);
    r->decode_flops = bench_decode_flops(c, P, G);
    uint64_t s = o->seed * 0x9E3779B97F4A7C15ull + 12345;
    char label[160];
    snprintf(label, sizeof label, "[%d/%d] %s %s %s threads:%d", index, total, r->shape, r->dtype,
             r->isa, r->threads);
    if (r->batch) {
        size_t at = strlen(label);
        snprintf(label + at, sizeof label - at, " batch:%d", r->batch);
        return run_batch(m, o, r, label, &s);
    }
    int *tokens = malloc((size_t)(P + G + 1) * sizeof *tokens);
    if (!tokens) return bench_runtime_error("out of memory");
    random_tokens(tokens, P + G, c, &s);
    int rc = run_single(m, o, r, label, tokens);
    free(tokens);
    return rc;
}

/* One step of a batch, timed as timed_forward; counts the events of
 * sequences that were already decoding (`decoding`, by slot id) apart from
 * those that end a prompt. Returns -1 if the step failed. */
static int timed_step(lm_batch *b, lm_batch_event *ev, char *decoding, int *first, int *later,
                      lm_error *e) {
    double t0 = lm_seconds(), c0 = bench_cpu_seconds();
    int n = lm_batch_step(b, ev, e);
    bench_slowdown(lm_seconds() - t0, bench_cpu_seconds() - c0);
    for (int i = 0; i < n; i++) {
        if (decoding[ev[i].seq])
            (*later)++;
        else
            (*first)++, decoding[ev[i].seq] = 1;
    }
    return n < 0 ? -1 : 0;
}

/* One repetition: N sequences, each with its own prompt, join at once; the
 * prefill lasts until every one has sampled its first token, the decode until
 * all have used their n_ctx. Rates are of all N together. */
static int batch_rep(lm_batch *b, const bench_result *r, const int *prompts, double *tps,
                     double *cpu, lm_error *e) {
    int N = r->batch, P = r->prompt, G = r->gen, first = 0, later = 0;
    lm_batch_event *ev = calloc((size_t)N, sizeof *ev);
    char *decoding = calloc((size_t)N, 1);
    if (!ev || !decoding) {
        free(ev), free(decoding);
        return snprintf(e->msg, sizeof e->msg, "out of memory"), -1;
    }
    /* Greedy, and a stop token no sampler returns: every sequence runs its length. */
    lm_seq_params sp = {.n_ctx = P + G, .temperature = 0, .topp = 0.9f, .stop_token = -1};
    int rc = 0;
    for (int i = 0; i < N && !rc; i++) {
        sp.seed = (uint64_t)i + 1;
        int id = lm_batch_add(b, prompts + (size_t)i * (size_t)P, P, sp, e);
        if (id < 0 || id >= N) rc = -1;
    }
    double t0 = lm_seconds(), c0 = bench_cpu_seconds();
    while (!rc && first < N) rc = timed_step(b, ev, decoding, &first, &later, e);
    double tp = lm_seconds() - t0, cp = bench_cpu_seconds() - c0;
    int before = later;
    t0 = lm_seconds(), c0 = bench_cpu_seconds();
    while (!rc && lm_batch_active(b)) rc = timed_step(b, ev, decoding, &first, &later, e);
    double td = lm_seconds() - t0, cd = bench_cpu_seconds() - c0;
    int decoded = later - before;
    tps[0] = tp > 0 ? (double)N * P / tp : 0, cpu[0] = cp / ((double)N * P);
    tps[1] = decoded && td > 0 ? decoded / td : 0, cpu[1] = decoded ? cd / decoded : 0;
    free(ev), free(decoding);
    return rc;
}

/* --batch N: N sequences through lm_batch, prefill of N prompts together and
 * then N decoding together. */
static int run_batch(const lm_model *m, const bench_opts *o, bench_result *r, const char *label,
                     uint64_t *seed) {
    lm_error e;
    const lm_config c = lm_model_get_info(m).config;
    int N = r->batch, P = r->prompt, G = r->gen;
    lm_batch *b = lm_batch_new(m, (lm_batch_params){N, P + G, r->threads, r->isa, o->kv_type}, &e);
    if (!b) return bench_runtime_error("%s %s batch %d: %s", r->shape, r->dtype, N, e.msg);
    int *prompts = malloc((size_t)N * (size_t)P * sizeof *prompts);
    if (!prompts) {
        lm_batch_free(b);
        return bench_runtime_error("out of memory");
    }
    random_tokens(prompts, N * P, &c, seed);
    for (int i = 0; i < N; i++) prompts[(size_t)i * (size_t)P] = LM_TOKEN_BOS;
    int rc = 0;
    for (int rep = -o->warmup; rep < o->reps && !rc; rep++) {
        char what[64];
        double tps[2], cpu[2];
        rep_label(what, sizeof what, rep, o);
        if (bench_progress_tty()) bench_progress(1, "%s %s: %d sequences", label, what, N);
        rc = batch_rep(b, r, prompts, tps, cpu, &e);
        if (!rc && !bench_progress_tty())
            bench_progress(1, "%s %s: prefill %.1f tok/s, decode %.1f tok/s (all %d)", label, what,
                           tps[0], tps[1], N);
        if (rc || rep < 0) continue;
        r->prefill_tps[rep] = tps[0], r->decode_tps[rep] = tps[1];
        r->prefill_cpu[rep] = cpu[0], r->decode_cpu[rep] = cpu[1];
    }
    free(prompts);
    lm_batch_free(b);
    if (rc) return bench_runtime_error("%s %s batch %d: %s", r->shape, r->dtype, N, e.msg);
    return 0;
}

/* ---- the plan ------------------------------------------------------------------- */

typedef struct plan_entry {
    int shape; /* bit of shape_mask, or -1 for --model */
    int dtype;
} plan_entry;

static int f32_fits(const lm_config *c) {
    uint64_t kv_dim = (uint64_t)c->n_kv_heads * (uint64_t)(c->dim / c->n_heads);
    uint64_t per_layer = (uint64_t)c->dim * (2 * (uint64_t)c->dim + 2 * kv_dim) +
                         3 * (uint64_t)c->dim * (uint64_t)c->hidden_dim;
    uint64_t n = (uint64_t)c->n_layers * per_layer + (uint64_t)c->vocab_size * (uint64_t)c->dim;
    return n * 4 <= F32_MAX_BYTES;
}

/* The block types need rows of whole 256-value super-blocks (the K types,
 * and the Q6_K classifier of every mixture): dim and hidden_dim multiples of
 * 256 (110M, 7B; llama-quantize would fall back to other types elsewhere). */
static int blocks_fit(const lm_config *c) { return c->dim % 256 == 0 && c->hidden_dim % 256 == 0; }

/* Every (shape, dtype) that fits; returns how many (0: a usage error, said). */
static int make_plan(const bench_opts *o, plan_entry *plan) {
    int n = 0, skipped = 0, skipped_blocks = 0;
    char name[32];
    for (int i = 0; bench_shape_name(i, name, sizeof name); i++) {
        lm_config c;
        if (!(o->shape_mask & (1u << i)) || lm_config_preset(name, &c)) continue;
        for (int d = DT_F32; d <= DT_LAST; d <<= 1) {
            if (!(o->dtype_mask & d)) continue;
            if (d == DT_F32 && !f32_fits(&c)) {
                skipped = 1;
                continue;
            }
            if (d > DT_Q8 && !blocks_fit(&c)) {
                skipped_blocks = 1;
                continue;
            }
            plan[n].shape = i, plan[n++].dtype = d;
        }
    }
    if (o->model_path) plan[n].shape = -1, plan[n++].dtype = 0;
    if (!n)
        bench_usage_error("nothing to run: 7B is not f32 (its fp32 weights need 26 GB), the "
                          "block types need dim and hidden_dim multiples of 256");
    if (skipped) fputs("bench: note: 7B does not run f32 (its fp32 weights need 26 GB)\n", stderr);
    if (skipped_blocks)
        fputs("bench: note: the block types run only the shapes whose dim and hidden_dim are "
              "multiples of 256 (110M, 7B)\n",
              stderr);
    return n;
}

static const char *base_name(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* A random model of a shape, or the --model checkpoint; shape and dtype named. */
/* The weights' type for the report; a GGUF file's by the types it holds. */
static const char *model_dtype(const lm_model *m) {
    if (!m) return "f32";
    lm_model_info i = lm_model_get_info(m);
    /* a GGUF of ggml's block types: its type or mixture, "q4_k_m" (weight_type) */
    static _Thread_local char blk[16];
    if (i.format == LM_FORMAT_GGUF && i.weight_type[0] == 'Q' &&
        strncmp(i.weight_type, "Q8_0", 4)) {
        size_t n = strcspn(i.weight_type, " ");
        for (size_t k = 0; k < n && k < sizeof blk - 1; k++)
            blk[k] =
                (char)(i.weight_type[k] >= 'A' && i.weight_type[k] <= 'Z' ? i.weight_type[k] + 32
                                                                          : i.weight_type[k]);
        blk[n < sizeof blk - 1 ? n : sizeof blk - 1] = '\0';
        return blk;
    }
    if (i.format == LM_FORMAT_V2 || strstr(i.tensor_types, "Q8_0")) return "q8";
    if (strstr(i.tensor_types, "BF16")) return "bf16";
    if (strstr(i.tensor_types, "F16")) return "f16";
    return "f32";
}

/* A random model in a block type: a GGUF image in memory (bench_blocks.c),
 * kept in *image until the model is freed; *read_bytes its bytes per token. */
static lm_model *block_model(const lm_config *c, const char *shape, int dt, uint64_t seed,
                             void **image, uint64_t *read_bytes, lm_error *e) {
    size_t size;
    double bits;
    *image = bench_block_image(c, dt, seed, &size, read_bytes, &bits);
    if (!*image) {
        snprintf(e->msg, sizeof e->msg, "%s %s: out of memory", shape, bench_dtype_name(dt));
        return NULL;
    }
    fprintf(stderr, "bench: %s %s: %.1f MB of weights read per token, %.3f bits per weight\n",
            shape, bench_dtype_name(dt), (double)*read_bytes / 1e6, bits);
    char name[96];
    snprintf(name, sizeof name, "random %s %s", shape, bench_dtype_name(dt));
    lm_model *m = lm_model_load_memory(*image, size, name, e);
    if (!m) free(*image), *image = NULL;
    return m;
}

static lm_model *open_model(const bench_opts *o, plan_entry p, char *shape, size_t len,
                            const char **dtype, void **image, uint64_t *read_bytes, lm_error *e) {
    *image = NULL, *read_bytes = 0;
    if (p.shape < 0) {
        bench_progress(1, "loading %s", o->model_path);
        lm_model *m = lm_model_load(o->model_path, e);
        snprintf(shape, len, "%s", base_name(o->model_path));
        char *dot = strrchr(shape, '.');
        if (dot && dot != shape) *dot = '\0';
        for (char *q = shape; *q; q++)
            if (*q == '/' || *q == ' ' || *q == '"') *q = '_';
        *dtype = model_dtype(m);
        return m;
    }
    lm_config c;
    bench_shape_name(p.shape, shape, len);
    lm_config_preset(shape, &c);
    *dtype = bench_dtype_name(p.dtype);
    bench_progress(1, "building a random %s %s model", shape, *dtype);
    if (p.dtype > DT_Q8) return block_model(&c, shape, p.dtype, o->seed, image, read_bytes, e);
    return lm_model_random(&c, p.dtype == DT_F32 ? LM_FORMAT_V1 : LM_FORMAT_V2, 0, o->seed, e);
}

static void list_shapes(void) {
    char name[32];
    printf("%-6s %6s %10s %8s %7s %10s %10s %7s\n", "shape", "dim", "hidden_dim", "n_layers",
           "n_heads", "n_kv_heads", "vocab_size", "seq_len");
    for (int i = 0; bench_shape_name(i, name, sizeof name); i++) {
        lm_config c;
        lm_config_preset(name, &c);
        printf("%-6s %6d %10d %8d %7d %10d %10d %7d\n", name, c.dim, c.hidden_dim, c.n_layers,
               c.n_heads, c.n_kv_heads, c.vocab_size, c.seq_len);
    }
}

/* Runs every configuration of one model: each thread count, one sequence and
 * then each --batch size. */
static int run_model(const lm_model *m, const bench_opts *o, const char *shape, const char *dtype,
                     uint64_t read_bytes, bench_result *res, double *samples, const double *gbs,
                     const double *gflops, int *done, int total) {
    int per_threads = 1 + o->n_batch;
    for (int k = 0; k < o->n_threads * per_threads; k++) {
        int ti = k / per_threads, bi = k % per_threads - 1;
        bench_result *r = &res[*done];
        double *base = samples + (size_t)*done * 4 * (size_t)o->reps;
        r->prefill_tps = base, r->decode_tps = base + o->reps;
        r->prefill_cpu = base + 2 * o->reps, r->decode_cpu = base + 3 * o->reps;
        snprintf(r->shape, sizeof r->shape, "%s", shape);
        snprintf(r->isa, sizeof r->isa, "%s", o->isa);
        r->dtype = dtype;
        r->threads = o->threads[ti];
        r->batch = bi < 0 ? 0 : o->batch[bi];
        r->membw = gbs[ti];
        r->fma_peak = gflops[ti];
        int rc = run_config(m, o, r, *done + 1, total);
        if (rc) return rc;
        if (read_bytes) r->weight_bytes = read_bytes; /* counted from the blocks */
        if (r->threads != o->threads[ti]) r->membw = r->fma_peak = 0;
        bench_progress_clear();
        bench_print_row(r);
        (*done)++;
    }
    return 0;
}

/* The kernel set: --isa, else LAMINA_ISA, else the best this CPU runs. */
static int choose_isa(bench_opts *o) {
    lm_error e;
    const char *env = getenv("LAMINA_ISA");
    if (!o->isa && env && *env) o->isa = env;
    if (o->isa && lm_isa_check(o->isa, &e))
        return fprintf(stderr, "lamina: error: bench: %s: %s\n",
                       o->isa == env ? "LAMINA_ISA" : "--isa", e.msg),
               2;
    if (!o->isa) o->isa = lm_isa_best();
    return 0;
}

static int run_all(const bench_opts *o, const plan_entry *plan, int n_models, FILE *json) {
    /* The probes run first, before any model takes memory. */
    double gbs[BENCH_MAX_LIST] = {0}, gflops[BENCH_MAX_LIST] = {0};
    if (o->probes && bench_run_probes(o, gbs, gflops)) {
        if (json && json != stdout) fclose(json);
        return bench_runtime_error("cannot allocate the %lu MiB bandwidth probe",
                                   PROBE_BYTES >> 20);
    }
    fprintf(bench_table(),
            "cpu: %s\nkernels: %s; prompt %d tokens, decode %d tokens, %d reps after %d warm-up\n",
            lm_cpu_description(), o->isa, o->prompt, o->gen, o->reps, o->warmup);
    int total = n_models * o->n_threads * (1 + o->n_batch), done = 0, rc = 0;
    bench_result *res = calloc((size_t)total, sizeof *res);
    double *samples = calloc((size_t)total * 4 * (size_t)o->reps, sizeof *samples);
    if (!res || !samples) rc = bench_runtime_error("out of memory");
    if (!rc) bench_print_header();
    for (int mi = 0; mi < n_models && !rc; mi++) {
        lm_error e;
        char shape[64];
        const char *dtype;
        void *image;
        uint64_t read_bytes;
        lm_model *m = open_model(o, plan[mi], shape, sizeof shape, &dtype, &image, &read_bytes, &e);
        if (!m) {
            bench_progress_clear();
            rc = bench_runtime_error("%s", e.msg);
            break;
        }
        bench_progress_clear();
        fprintf(stderr, "bench: %s %s: weights packed into panels in %.3f s\n", shape, dtype,
                lm_model_get_info(m).pack_seconds);
        rc = run_model(m, o, shape, dtype, read_bytes, res, samples, gbs, gflops, &done, total);
        lm_model_free(m);
        free(image);
    }
    bench_progress_clear();
    if (json && !rc)
        rc = bench_write_json(json, o, res, done, gbs, gflops, o->probes ? o->n_threads : 0);
    else if (json && json != stdout)
        fclose(json);
    free(samples);
    free(res);
    return rc;
}

int cli_bench(int argc, char **argv) {
    bench_opts o;
    int rc = bench_parse(argc, argv, &o);
    if (rc >= 0) return rc;
    if (o.list_shapes) return list_shapes(), 0;
    rc = choose_isa(&o);
    if (rc) return rc;
    plan_entry plan[6 * 32 + 1]; /* every dtype of every shape, and --model */
    int n_models = make_plan(&o, plan);
    if (!n_models) return 2;
    bench_output_init(o.json && strcmp(o.json, "-") == 0 ? stderr : stdout);
    if (o.model_path && access(o.model_path, R_OK) != 0)
        return bench_runtime_error("%s: %s", o.model_path, strerror(errno));
    /* --json FILE: never the model (outfile.h), written to a temporary that
     * replaces FILE only after a complete report; opened now so that a bad
     * path fails before the run */
    FILE *json = NULL;
    lm_outfile out = {.fd = -1};
    lm_error e;
    lm_outfile_input in[] = {{"the model", o.model_path, -1}};
    if (o.json && (lm_outfile_check(o.json, in, o.model_path ? 1 : 0, &e) ||
                   lm_outfile_open(&out, o.json, &e)))
        return bench_runtime_error("cannot write %s", e.msg);
    if (o.json) { /* a copy of the descriptor: the report's fclose leaves out.fd to commit */
        int fd = out.fd == 1 ? 1 : dup(out.fd);
        json = fd == 1 ? stdout : fd >= 0 ? fdopen(fd, "w") : NULL;
        if (!json) {
            int err = errno;
            if (fd > 1) close(fd);
            lm_outfile_abort(&out);
            return bench_runtime_error("cannot write %s: %s", o.json, strerror(err));
        }
    }
    if (bench_slowdown_pct() > 0)
        fprintf(stderr,
                "bench: TEST BUILD: busy-waiting %g%% of each forward's time "
                "(LAMINA_BENCH_SLOWDOWN_PCT)\n",
                bench_slowdown_pct());
    rc = run_all(&o, plan, n_models, json);
    if (rc || !o.json) return lm_outfile_abort(&out), rc;
    return lm_outfile_commit(&out, &e) ? bench_runtime_error("%s", e.msg) : 0;
}
