/* The command line of `lamina batch` (batch.h). */
#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "lamina.h"
#include "options.h"

static const char usage_head[] =
    "usage: lamina batch MODEL [options] [INPUT]\n"
    "\n"
    "Runs the requests of a JSONL file (INPUT, or stdin when absent or '-'), one JSON\n"
    "object per line, many at once on one batch (continuous batching), and writes one\n"
    "JSONL record per request, in input order.\n"
    "\n"
    "Request fields: \"prompt\" (string) or \"messages\" ([{\"role\": system|user|assistant,\n"
    "\"content\": string}], the model's chat template, as -m chat), and optionally \"id\"\n"
    "(string or number, echoed byte for byte as written; unique within the input;\n"
    "default: the line number), \"max_tokens\", \"temperature\",\n"
    "\"top_p\", \"seed\" (defaults: -t, -p, -s below; without max_tokens, -n bounds the\n"
    "length as the CLI's -n), \"stop\" (string or array of strings), \"echo\" (the text\n"
    "starts with the prompt as the CLI prints it), \"n\" (1-16 choices, at most\n"
    "--parallel: choice i is sampled with seed + i; the prompt is computed once).\n"
    "Unknown fields are errors; blank lines are skipped. Also: \"prompt\" as an array of\n"
    "token ids, the sampling controls \"max_completion_tokens\", \"presence_penalty\",\n"
    "\"frequency_penalty\", \"logit_bias\", \"top_k\", \"min_p\", \"repeat_penalty\",\n"
    "\"repeat_last_n\", and \"logprobs\" (k for a prompt; true with \"top_logprobs\": k for\n"
    "messages), which adds a \"logprobs\" field to the record (README, \"Sampling controls\n"
    "and logprobs\"; with \"n\", to each choice).\n"
    "JSON mode: \"response_format\" {\"type\": \"json_object\"} or {\"type\": \"json_schema\",\n"
    "\"json_schema\": {\"schema\": ...}} constrains the text (a subset of JSON Schema: README).\n"
    "\n"
    "Output fields: \"id\", \"text\", \"prompt_tokens\", \"completion_tokens\",\n"
    "\"finish_reason\" (stop, length, error, cancelled), \"error\" (null, or the line\n"
    "number and the problem). With echo and the same -s -t -p -n, \"text\" is what\n"
    "`lamina MODEL -i PROMPT` prints, without its final newline. A request with n > 1\n"
    "gets \"choices\": [{\"index\", \"text\", \"finish_reason\"}...] instead of \"text\" and\n"
    "\"finish_reason\" (completion_tokens sums them; the prompt counts once).\n"
    "\n"
    "options:\n";

static const char usage_tail[] =
    "\n"
    "Exit status: 0 every request done; 1 a request failed (error records, a count\n"
    "on stderr), or a file, model or output error; 2 a usage error; 130 / 143 after\n"
    "SIGINT / SIGTERM (no new lines are read, running requests end as cancelled,\n"
    "and every record read so far is written whole). A progress line goes to stderr\n"
    "when it is a terminal.\n";

void batch_print_usage(FILE *out) { opt_usage(out, OPT_BATCH, usage_head, usage_tail); }

static int positional(const char *v, batch_args *a, char *err, size_t len);

/* Store one option of the table (src/options), or take a positional
 * argument (s NULL). */
static int store(void *ctx, const opt_spec *s, const opt_value *v, char *err, size_t len) {
    batch_args *a = ctx;
    if (!s) return positional(v->str, a, err, len);
    switch (s->id) {
    case O_TOKENIZER: a->tokenizer = v->str; break;
    case O_OUTPUT: a->output = v->str; break;
    case O_ISA: a->isa = v->str; break;
    case O_WEIGHTS_CACHE: a->weights_cache = v->str; break;
    case O_NO_WEIGHTS_CACHE: a->no_weights_cache = 1; break;
    case O_KV_TYPE: a->kv_type = v->str; break;
    case O_CTX: a->ctx = (int)v->u; break;
    case O_CHAT_TEMPLATE: a->chat_template = v->str; break;
    case O_SHARD: a->shard_i = v->shard_i, a->shard_n = v->shard_n; break;
    case O_SEED: a->seed = v->u; break;
    case O_PARALLEL: a->parallel = (int)v->u; break;
    case O_PROMPT_CACHE_MB: a->prompt_cache_mb = (long)v->u; break;
    case O_MAX_LINE_BYTES: a->max_line = (size_t)v->u; break;
    case O_THREADS: a->threads = (int)v->u; break;
    case O_STEPS: a->steps = (int)v->u; break;
    case O_TEMPERATURE: a->temperature = (float)v->real; break;
    case O_TOPP: a->topp = v->tiny ? FLT_MIN : (float)v->real; break; /* as the CLI's -p */
    default: break; /* the table gives batch no other option */
    }
    return 0;
}

static int positional(const char *v, batch_args *a, char *err, size_t len) {
    if (!a->model) return a->model = v, 0;
    if (!a->input) return a->input = v, 0;
    snprintf(err, len, "unexpected argument '%s': one MODEL and at most one INPUT", v);
    return 2;
}

size_t batch_default_max_line(int max_ctx) {
    size_t n = (size_t)(max_ctx > 0 ? max_ctx : 0) * 1024;
    return n > (1u << 20) ? n : 1u << 20;
}

int batch_parse_opts(int argc, char **argv, batch_args *a, char *err, size_t len) {
    *a = (batch_args){.parallel = 16,
                      .steps = 256,
                      .temperature = 1.0f,
                      .topp = 0.9f,
                      .shard_n = 1,
                      .prompt_cache_mb = -1};
    int status;
    switch (opt_parse_all(OPT_BATCH, argc, argv, 1, store, a, &status, err, len)) {
    case OPT_END: break;
    case OPT_HELP: return 1;
    default: return 2;
    }
    if (!a->model) return snprintf(err, len, "no MODEL given (lamina batch --help)"), 2;
    return 0;
}

int batch_parse_args(int argc, char **argv, batch_args *a) {
    char err[512];
    int rc = batch_parse_opts(argc, argv, a, err, sizeof err);
    if (rc == 2) fprintf(stderr, "lamina: error: %s\n", err);
    return rc == 2 ? -1 : rc;
}
