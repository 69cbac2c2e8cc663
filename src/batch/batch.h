/* `lamina batch`: JSONL requests run on one lm_batch (src/request drives each
 * request); the entry point cli_batch is declared in src/cli/cli.h. */
#ifndef LAMINA_BATCH_H
#define LAMINA_BATCH_H

#include <stdint.h>

typedef struct batch_args {
    const char *model, *tokenizer, *input, *output, *isa;
    const char *chat_template; /* --chat-template NAME, or NULL: the model's */
    int parallel, threads, steps;
    int shard_i, shard_n;
    float temperature, topp;
    uint64_t seed;
} batch_args;

extern const char batch_usage[];

/* 0 parsed, 1 --help asked, -1 a usage error (already printed). */
int batch_parse_args(int argc, char **argv, batch_args *a);

int cli_batch(int argc, char **argv);

#endif
