/* The subcommands that parse their own arguments: `lamina NAME ARGS...` calls
 * run(argc - 1, argv + 1), so the command sees argv[0] == NAME. Adding one is
 * one line here, its declaration in cli.h, and its sources in lamina_cli. */
#include <stddef.h>

#include "cli.h"
#include "wcache.h"

const cli_subcommand cli_subcommands[] = {
    {"bench", cli_bench, "measure prefill and decode speed"},
    {"batch", cli_batch, "run the requests of a JSONL file on the batch engine"},
    {"serve", cli_serve, "an OpenAI-compatible HTTP server with continuous batching"},
    {"convert", cli_convert, "write a llama2.c checkpoint as GGUF (f32, f16, bf16, q8_0)"},
    {"perplexity", cli_perplexity, "the perplexity of a model on a text (llama.cpp's protocol)"},
    {"cache", wcache_command, "list, clear or verify the packed weights images (weights cache)"},
    {NULL, NULL, NULL},
};
