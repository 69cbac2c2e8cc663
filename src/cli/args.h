/* Command-line parsing for the lamina CLI: a pure function (no I/O, no exit),
 * so that it can be tested and fuzzed on its own. */
#ifndef LAMINA_ARGS_H
#define LAMINA_ARGS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "options.h"

typedef enum cli_command {
    CLI_RUN,      /* generate or chat */
    CLI_TOKENIZE, /* print the ids of a text */
    CLI_INFO,     /* describe a checkpoint */
    CLI_QUANTIZE, /* write a v2 (Q8_0) copy of a checkpoint, or GGUF with --type */
    CLI_HELP,
    CLI_VERSION,
} cli_command;

typedef struct cli_args {
    cli_command command;
    const char *checkpoint; /* NULL: the embedded default model */
    const char *tokenizer;  /* NULL: tokenizer.bin beside the checkpoint */
    const char *prompt, *system, *isa;
    const char *output; /* quantize */
    const char *text;   /* tokenize */
    int chat;           /* -m chat */
    float temperature, topp;
    uint64_t seed;  /* 0: the current time */
    int steps;      /* 0: the model's seq_len */
    int threads;    /* 0: automatic */
    int parallel;   /* info: sequences whose KV caches to add up (lamina batch / serve) */
    int group_size; /* quantize; 0: the exporter's rule */
    int quant_type; /* quantize --type: an lm_quant_type; -1: none (a v2 output) */
    /* --chat-template NAME (chat); NULL: the model's */
    const char *chat_template;
    const char *weights_cache; /* --weights-cache DIR; NULL: the default (src/wcache) */
    int no_weights_cache;      /* --no-weights-cache */
    int tensors;               /* info --tensors */
    const char *kv_type;       /* --kv-type f32|f16; NULL: f32 */
} cli_args;

/* The number grammar of every option (src/options/options.h, which says it). */
enum { CLI_NUM_OK = OPT_NUM_OK, CLI_NUM_SYNTAX = OPT_NUM_SYNTAX, CLI_NUM_RANGE = OPT_NUM_RANGE };
/* An integer in 0..max into *out. */
int cli_parse_uint(const char *s, uint64_t max, uint64_t *out);
/* A real in min..max (finite) into *out; *tiny is set when it is not zero
 * but too small for a float. */
int cli_parse_real(const char *s, double min, double max, double *out, int *tiny);

/* Returns 0, or 2 (a usage error) with a one-line message in err. */
int cli_parse(int argc, char **argv, cli_args *args, char *err, size_t err_len);

/* The help of the main command line, generated from the option table. */
void cli_print_usage(FILE *out);
/* lamina quantize --help, generated from the option table likewise. */
void cli_print_quantize_usage(FILE *out);

#endif
