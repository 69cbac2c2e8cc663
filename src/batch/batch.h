/* `lamina batch`: JSONL requests run on one lm_batch (src/request drives each
 * request); the entry point cli_batch is declared in src/cli/cli.h. */
#ifndef LAMINA_BATCH_H
#define LAMINA_BATCH_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct batch_args {
    const char *model, *tokenizer, *input, *output, *isa;
    const char *chat_template; /* --chat-template NAME, or NULL: the model's */
    const char *weights_cache; /* --weights-cache DIR, or NULL: the default (src/wcache) */
    int no_weights_cache;      /* --no-weights-cache */
    int parallel, threads, steps;
    int shard_i, shard_n;
    size_t max_line; /* --max-line-bytes; 0: batch_default_max_line */
    float temperature, topp;
    uint64_t seed;
    long prompt_cache_mb; /* --prompt-cache-mb; -1: the default share of free memory */
    const char *kv_type;  /* --kv-type f32|f16; NULL: f32 */
    int ctx;              /* --ctx N; 0: the most that fits, at most seq_len */
} batch_args;

/* The help of `lamina batch` (its options from src/options). */
void batch_print_usage(FILE *out);

/* Lines longer than this are error records, never parsed or tokenized: 1 KiB
 * per position of the context, at least 1 MiB. A prompt that fits is at most
 * max_piece bytes per position (tens of bytes in Llama vocabularies), and
 * JSON escaping makes a byte at most 6, so only odd white space or a long
 * list of stop strings comes near it. */
size_t batch_default_max_line(int max_ctx);

/* 0 parsed, 1 --help asked, -1 a usage error (already printed). */
int batch_parse_args(int argc, char **argv, batch_args *a);
/* The same without I/O (the fuzz target's entry): 0 parsed, 1 --help asked,
 * 2 a usage error with its line in err. */
int batch_parse_opts(int argc, char **argv, batch_args *a, char *err, size_t len);

int cli_batch(int argc, char **argv);

#endif
