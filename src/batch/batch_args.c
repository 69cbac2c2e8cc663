/* The command line of `lamina batch` (batch.h). */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "lamina.h"

const char batch_usage[] =
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
    "options:\n"
    "  -z, --tokenizer PATH  tokenizer.bin, or a GGUF file whose vocabulary to use\n"
    "                        (default: a GGUF MODEL's own, else tokenizer.bin beside MODEL)\n"
    "  --parallel N          sequences run at once (default 16)\n"
    "  --threads N           worker threads (default: automatic)\n"
    "  --isa NAME            kernel set (default: LAMINA_ISA, else the best this CPU runs)\n"
    "  --weights-cache DIR   keep the model's packed weights in DIR (default: the weights\n"
    "                        cache, $XDG_CACHE_HOME/lamina/weights; lamina cache --help)\n"
    "  --no-weights-cache    pack the weights in memory at every start\n"
    "  --ctx N               positions of each sequence's KV cache, the longest a\n"
    "                        request may use (default: the most that fits --parallel\n"
    "                        caches in the memory available, at most seq_len; said\n"
    "                        on stderr when less)\n"
    "  --kv-type TYPE        the KV caches' elements: f32 (default) or f16 (half the\n"
    "                        memory; keys and values rounded to half; other bits)\n"
    "  --chat-template NAME  the template of \"messages\": llama2, mistral-v1, mistral-v3,\n"
    "                        mistral-v3-tekken, mistral-v7, mistral-v7-tekken, chatml,\n"
    "                        zephyr or llama3 (default: the model's; llama2 for .bin\n"
    "                        checkpoints)\n"
    "  --shard I/N           take only lines I, I+N, I+2N, ... counting the first line\n"
    "                        as 0 (0-based): N processes with I = 0 .. N-1 cover the\n"
    "                        input, and their outputs ordered by id give the unsharded\n"
    "                        output (line numbers stay those of the whole input)\n"
    "  -o, --output PATH     write the records there (default stdout); a regular\n"
    "                        file is written to PATH.tmp-PID-N and renamed over PATH\n"
    "                        when done (also after SIGINT/SIGTERM); refused when it\n"
    "                        is an input (MODEL, the tokenizer, INPUT), or a link to\n"
    "                        one, or read-only\n"
    "  --prompt-cache-mb N   keep finished requests' KV caches, up to N MiB, for later\n"
    "                        requests sharing a prefix (the same records; 0 = off;\n"
    "                        default: a quarter of the memory available, printed)\n"
    "  --max-line-bytes N    longer input lines are error records, not read whole\n"
    "                        (default: 1024 per context position, at least 1 MiB)\n"
    "  -t, --temperature T   default temperature, >= 0 (default 1.0)\n"
    "  -p, --top-p P         default top-p in [0, 1] (default 0.9)\n"
    "  -s, --seed N          default seed, >= 0; 0 = the current time (default 0)\n"
    "  -n, --steps N         default positions per request, prompt included, when it\n"
    "                        has no max_tokens; 0 = the model's seq_len (default 256)\n"
    "  -h, --help            this help\n"
    "\n"
    "Exit status: 0 every request done; 1 a request failed (error records, a count\n"
    "on stderr), or a file, model or output error; 2 a usage error; 130 / 143 after\n"
    "SIGINT / SIGTERM (no new lines are read, running requests end as cancelled,\n"
    "and every record read so far is written whole). A progress line goes to stderr\n"
    "when it is a terminal.\n";

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("lamina: error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs(" (lamina batch --help)\n", stderr);
    va_end(ap);
    return -1;
}

static int parse_number(const char *name, const char *v, double lo, double hi, int integer,
                        double *out) {
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (!*v || *end || errno || !isfinite(d) || isspace((unsigned char)*v))
        return usage_error("%s: '%s' is not a number", name, v);
    if (integer && d != floor(d)) return usage_error("%s: '%s' is not an integer", name, v);
    if (d < lo || d > hi) return usage_error("%s: %s is out of range [%g, %g]", name, v, lo, hi);
    *out = d;
    return 0;
}

static int parse_seed(const char *v, uint64_t *out) {
    char *end;
    errno = 0;
    unsigned long long s = strtoull(v, &end, 10);
    if (!*v || *end || errno || !isdigit((unsigned char)v[0]))
        return usage_error("-s: '%s' is not a non-negative integer", v);
    *out = s;
    return 0;
}

static int parse_shard(const char *v, batch_args *a) {
    int i, n, used = 0;
    if (sscanf(v, "%d/%d%n", &i, &n, &used) != 2 || v[used] || n < 1 || i < 0 || i >= n)
        return usage_error("--shard: '%s' is not I/N with 0 <= I < N", v);
    a->shard_i = i;
    a->shard_n = n;
    return 0;
}

/* One option with its value; 0, or -1 after a message. */
static int parse_option(const char *opt, const char *v, batch_args *a) {
    double d;
    if (!strcmp(opt, "-z") || !strcmp(opt, "--tokenizer")) return a->tokenizer = v, 0;
    if (!strcmp(opt, "-o") || !strcmp(opt, "--output")) return a->output = v, 0;
    if (!strcmp(opt, "--isa")) return a->isa = v, 0;
    if (!strcmp(opt, "--weights-cache")) return a->weights_cache = v, 0;
    if (!strcmp(opt, "--kv-type")) {
        lm_kv_type t;
        lm_error e;
        if (lm_kv_type_parse(v, &t, &e)) return usage_error("--kv-type: %s", e.msg);
        return a->kv_type = v, 0;
    }
    if (!strcmp(opt, "--ctx")) {
        if (parse_number(opt, v, 1, 1 << 30, 1, &d)) return -1;
        return a->ctx = (int)d, 0;
    }
    if (!strcmp(opt, "--chat-template")) {
        if (lm_chat_template_from_name(v) == LM_CHAT_UNKNOWN)
            return usage_error("--chat-template: '%s' is not one of: %s", v,
                               lm_chat_template_names());
        return a->chat_template = v, 0;
    }
    if (!strcmp(opt, "--shard")) return parse_shard(v, a);
    if (!strcmp(opt, "-s") || !strcmp(opt, "--seed")) return parse_seed(v, &a->seed);
    if (!strcmp(opt, "--parallel")) {
        if (parse_number(opt, v, 1, 4096, 1, &d)) return -1;
        return a->parallel = (int)d, 0;
    }
    if (!strcmp(opt, "--prompt-cache-mb")) {
        if (parse_number(opt, v, 0, 1 << 30, 1, &d)) return -1;
        return a->prompt_cache_mb = (long)d, 0;
    }
    if (!strcmp(opt, "--max-line-bytes")) {
        if (parse_number(opt, v, 1, 1099511627776.0, 1, &d)) return -1; /* 1 TiB */
        return a->max_line = (size_t)d, 0;
    }
    if (!strcmp(opt, "--threads")) {
        if (parse_number(opt, v, 1, 4096, 1, &d)) return -1;
        return a->threads = (int)d, 0;
    }
    if (!strcmp(opt, "-n") || !strcmp(opt, "--steps")) {
        if (parse_number(opt, v, 0, 1 << 30, 1, &d)) return -1;
        return a->steps = (int)d, 0;
    }
    if (!strcmp(opt, "-t") || !strcmp(opt, "--temperature")) {
        if (parse_number(opt, v, 0, INFINITY, 0, &d)) return -1;
        return a->temperature = (float)d, 0;
    }
    if (!strcmp(opt, "-p") || !strcmp(opt, "--top-p")) {
        if (parse_number(opt, v, 0, 1, 0, &d)) return -1;
        return a->topp = (float)d, 0;
    }
    return usage_error("unknown option %s", opt);
}

static int positional(const char *v, batch_args *a) {
    if (!a->model) return a->model = v, 0;
    if (!a->input) return a->input = v, 0;
    return usage_error("unexpected argument '%s': one MODEL and at most one INPUT", v);
}

size_t batch_default_max_line(int max_ctx) {
    size_t n = (size_t)(max_ctx > 0 ? max_ctx : 0) * 1024;
    return n > (1u << 20) ? n : 1u << 20;
}

int batch_parse_args(int argc, char **argv, batch_args *a) {
    *a = (batch_args){.parallel = 16,
                      .steps = 256,
                      .temperature = 1.0f,
                      .topp = 0.9f,
                      .shard_n = 1,
                      .prompt_cache_mb = -1};
    int options = 1;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        if (options && (!strcmp(s, "-h") || !strcmp(s, "--help"))) return 1;
        if (options && !strcmp(s, "--")) {
            options = 0;
        } else if (options && !strcmp(s, "--no-weights-cache")) {
            a->no_weights_cache = 1;
        } else if (options && s[0] == '-' && s[1]) {
            if (i + 1 >= argc) return usage_error("%s needs a value", s);
            if (parse_option(s, argv[++i], a)) return -1;
        } else if (positional(s, a)) {
            return -1;
        }
    }
    if (!a->model) return usage_error("no MODEL given");
    return 0;
}
