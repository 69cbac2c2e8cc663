/* Command-line parsing for the lamina CLI: a pure function (no I/O, no exit),
 * so that it can be tested and fuzzed on its own. */
#ifndef LAMINA_ARGS_H
#define LAMINA_ARGS_H

#include <stddef.h>
#include <stdint.h>

typedef enum cli_command {
    CLI_RUN,      /* generate or chat */
    CLI_TOKENIZE, /* print the ids of a text */
    CLI_INFO,     /* describe a checkpoint */
    CLI_QUANTIZE, /* write a v2 (Q8_0) copy of a checkpoint */
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
    int group_size; /* quantize; 0: the exporter's rule */
} cli_args;

/* Returns 0, or 2 (a usage error) with a one-line message in err. */
int cli_parse(int argc, char **argv, cli_args *args, char *err, size_t err_len);

extern const char cli_usage[];

#endif
