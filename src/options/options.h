/* The one option table of the lamina commands (run, tokenize, info,
 * quantize, bench, batch, serve): each option's names, value grammar, range
 * and help text are written once in options.c; a command says which options
 * it takes (a bit of opt_spec.commands), reads them with opt_next and prints
 * its help with opt_help. Pure parsing: no exit; only opt_help writes. */
#ifndef LAMINA_OPTIONS_H
#define LAMINA_OPTIONS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* The commands, in the order of cli_command's first four (args.h). */
typedef enum opt_command {
    OPT_RUN,
    OPT_TOKENIZE,
    OPT_INFO,
    OPT_QUANTIZE,
    OPT_BENCH,
    OPT_BATCH,
    OPT_SERVE,
    OPT_N_COMMANDS
} opt_command;

/* Every option of every command. */
typedef enum opt_id {
    O_TEMPERATURE,
    O_TOPP,
    O_SEED,
    O_STEPS,
    O_PROMPT,
    O_TOKENIZER,
    O_MODE,
    O_SYSTEM,
    O_CHAT_TEMPLATE,
    O_THREADS,
    O_ISA,
    O_KV_TYPE,
    O_PARALLEL_INFO, /* info: the KV caches of N sequences */
    O_PARALLEL,      /* batch, serve: sequences running at once */
    O_GROUP_SIZE,
    O_WEIGHTS_CACHE,
    O_NO_WEIGHTS_CACHE,
    O_TENSORS,
    O_CTX,
    O_PROMPT_CACHE_MB,
    /* batch */
    O_OUTPUT,
    O_SHARD,
    O_MAX_LINE_BYTES,
    /* serve */
    O_HOST,
    O_ALLOW_HOST,
    O_CORS_ORIGIN,
    O_PORT,
    O_QUEUE,
    O_API_KEY,
    O_API_KEY_FILE,
    O_ALIAS,
    O_MAX_BODY,
    O_TIMEOUT,
    O_GRACE,
    /* bench */
    O_SHAPE,
    O_DTYPE,
    O_MODEL,
    O_THREAD_LIST,
    O_BATCH_LIST,
    O_PROMPT_TOKENS,
    O_GEN_TOKENS,
    O_REPS,
    O_WARMUP,
    O_JSON,
    O_NO_PROBES,
    O_BENCH_SEED,
    O_LIST_SHAPES,
    /* quantize */
    O_QUANT_TYPE, /* --type: lm_quant_type, in its order */
} opt_id;

/* Value grammars. */
typedef enum opt_kind {
    OPT_FLAG,     /* no value */
    OPT_STRING,   /* any text */
    OPT_REAL,     /* a decimal real in min..max */
    OPT_UINT,     /* a decimal integer in min..max */
    OPT_CHOICE,   /* one word of choices */
    OPT_KV_TYPE,  /* lm_kv_type_parse's names */
    OPT_TEMPLATE, /* lm_chat_template_from_name's names */
    OPT_COUNTS,   /* distinct integers in min..max, comma-separated */
    OPT_SHARD,    /* I/N with 0 <= I < N */
} opt_kind;

#define OPT_MAX_COUNTS 16

typedef struct opt_spec {
    opt_id id;
    const char *short_name, *long_name; /* short_name may be NULL */
    opt_kind kind;
    double min, max;
    unsigned commands;   /* bit c: command c takes it */
    const char *choices; /* OPT_CHOICE: the words, space-separated */
    const char *arg;     /* the value's name in help ("N", "PATH"), or NULL */
    const char *help;    /* lines separated by '\n' */
} opt_spec;

typedef struct opt_value {
    const char *str;                      /* the value as written (NULL for a flag) */
    uint64_t u;                           /* OPT_UINT; OPT_CHOICE: the word's index */
    double real;                          /* OPT_REAL */
    int tiny;                             /* OPT_REAL: not zero but too small for a float */
    int counts[OPT_MAX_COUNTS], n_counts; /* OPT_COUNTS */
    int shard_i, shard_n;                 /* OPT_SHARD */
} opt_value;

/* The number grammar of every option, decimal only. An integer is an optional
 * sign and digits ("-0" is 0; "+5" is 5); a real is an optional sign, digits
 * with an optional fraction (at least one digit in all), and an optional
 * exponent (e or E, optional sign, digits). Hex, inf, nan, spaces: syntax. */
enum { OPT_NUM_OK = 0, OPT_NUM_SYNTAX = 1, OPT_NUM_RANGE = 2 };
int opt_parse_uint(const char *s, uint64_t max, uint64_t *out);
int opt_parse_real(const char *s, double min, double max, double *out, int *tiny);

/* Walks argv[1..] of one command. */
typedef struct opt_parser {
    opt_command command;
    int argc;
    char **argv;
    int i; /* the next argument */
    int options_end;
} opt_parser;

typedef enum opt_event {
    OPT_END,        /* no more arguments */
    OPT_OPTION,     /* *spec with *value */
    OPT_POSITIONAL, /* value->str */
    OPT_HELP,       /* -h or --help */
    OPT_VERSION,    /* --version (the caller decides whether it takes it) */
    OPT_ERROR,      /* a usage error, its one line in err */
} opt_event;

void opt_begin(opt_parser *p, opt_command command, int argc, char **argv, int first);
opt_event opt_next(opt_parser *p, const opt_spec **spec, opt_value *value, char *err,
                   size_t err_len);

/* A command's store: one option (spec set) or positional argument (spec
 * NULL, value->str); 0, or an exit status with its one line in err. */
typedef int opt_take(void *ctx, const opt_spec *spec, const opt_value *value, char *err,
                     size_t err_len);
/* Walks argv[first..] through take until the end, -h/--help, --version or an
 * error: returns OPT_END, OPT_HELP, OPT_VERSION or OPT_ERROR (err set; *status
 * is take's result, or 2 for the parser's own usage errors). */
opt_event opt_parse_all(opt_command command, int argc, char **argv, int first, opt_take *take,
                        void *ctx, int *status, char *err, size_t err_len);

/* "lamina" or "lamina batch": the program a command's messages name. */
const char *opt_program(opt_command command);

/* The options of the commands in mask, in table order, as help lines, with
 * the texts of command view where an option means more to it. */
void opt_help(FILE *out, unsigned mask, opt_command view);
/* A command's whole --help: head, its options, -h, tail (NULL: none). */
void opt_usage(FILE *out, opt_command command, const char *head, const char *tail);
/* The names of the options a command takes, ", "-separated, into buf. */
void opt_names(opt_command command, char *buf, size_t len);

const opt_spec *opt_table(size_t *n);

/* -z's default for a model file: a GGUF model carries its vocabulary (the
 * model itself); a llama2.c checkpoint has tokenizer.bin in its folder (into
 * buf). NULL when the path does not fit in buf. */
const char *opt_tokenizer_default(const char *model, char *buf, size_t len);

#endif
