/* lamina tokenize [-z TOKENIZER] TEXT: the ids of TEXT, BOS first (where the vocabulary
 * adds one: always for tokenizer.bin; a GGUF file says so in add_bos_token). */
#include <stdio.h>
#include <stdlib.h>

#include "front.h"

int cmd_tokenize(const cli_args *a) {
    lm_error e;
    lm_tokenizer *tok = cli_load_tokenizer(a->tokenizer, NULL, 0, &e);
    if (!tok) return cli_error("%s", e.msg);
    int n = 0;
    int *ids = lm_tokenize(tok, a->text, 1, 0, &n, &e);
    lm_tokenizer_free(tok);
    if (!ids) return cli_error("%s", e.msg);
    for (int i = 0; i < n; i++) printf(i ? " %d" : "%d", ids[i]);
    putchar('\n');
    free(ids);
    return 0; /* main() checks that stdout took it all */
}
