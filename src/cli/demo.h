/* The embedded demo model (demo.c): King James Bible, 1M parameters. */
#ifndef LAMINA_CLI_DEMO_H
#define LAMINA_CLI_DEMO_H

#include <stddef.h>

#define DEMO_NAME "kjv1m.bin (embedded)"
#define DEMO_TOKENIZER_NAME "tokenizer.bin (embedded)"
#define DEMO_PROMPT "And it came to pass"

/* The file images and their sizes; they live as long as the program. */
const void *demo_model(size_t *size);
const void *demo_tokenizer(size_t *size);

#endif
