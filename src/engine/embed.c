/* The embedding lookup: a token's row of the packed table (internal.h). */
#include "internal.h"
#include "pack.h"

/* The embedding row of `token` into out[dim], from the packed table. */
void lm_embed(const lm_model *m, int token, float *out) {
    lm_packed_row(&m->tok_emb.p, token, out);
}
