/* Fuzz target: checkpoint loading, all three formats (v0, v1, v2).
 *
 * The input is a whole checkpoint file. It is written to a memfd and loaded
 * by path, exactly as a file on disk would be. A model that loads must have a
 * consistent info block, and when it is small (file <= 4 MiB) one context of
 * two positions runs two decode steps (token 0, then the last token) so that
 * every weight the loader pointed at is read, under ASan, by the kernel table
 * that the input's size picks among those this CPU runs. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <string.h>

#include "fuzz_common.h"
#include "lamina.h"

#define FORWARD_MAX_FILE (4u << 20)

static fuzz_file file;
static char isas[8][16];
static int n_isas;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fuzz_file_init(&file, "checkpoint");
    /* the kernel tables this binary has and this CPU runs */
    char list[256];
    snprintf(list, sizeof list, "%s", lm_isa_list());
    for (char *save = NULL, *name = strtok_r(list, " ", &save); name && n_isas < 8;
         name = strtok_r(NULL, " ", &save)) {
        if (lm_isa_check(name, NULL) == 0) snprintf(isas[n_isas++], sizeof isas[0], "%s", name);
    }
    if (getenv("LAMINA_ISA") && *getenv("LAMINA_ISA")) { /* pin one table */
        n_isas = 1;
        snprintf(isas[0], sizeof isas[0], "%s", getenv("LAMINA_ISA"));
    }
    return 0;
}

static void check_info(const lm_model_info *i, size_t size) {
    const lm_config *c = &i->config;
    FUZZ_CHECK(i->file_size == size, "file_size %llu != %zu", (unsigned long long)i->file_size,
               size);
    FUZZ_CHECK(c->dim > 0 && c->hidden_dim > 0 && c->n_layers > 0 && c->n_heads > 0 &&
                   c->n_kv_heads > 0 && c->vocab_size > 0 && c->seq_len > 0,
               "non-positive config value accepted");
    FUZZ_CHECK(c->dim % c->n_heads == 0 && c->n_heads % c->n_kv_heads == 0 &&
                   (c->dim / c->n_heads) % 2 == 0,
               "inconsistent heads accepted: dim %d heads %d kv %d", c->dim, c->n_heads,
               c->n_kv_heads);
    FUZZ_CHECK(i->format <= LM_FORMAT_V2, "format %d", (int)i->format);
    if (i->format == LM_FORMAT_V2)
        FUZZ_CHECK(i->group_size > 0 && c->dim % i->group_size == 0, "group size %d, dim %d",
                   i->group_size, c->dim);
    else
        FUZZ_CHECK(i->group_size == 0, "group size %d in an fp32 model", i->group_size);
    /* every parameter is at least one byte of the file */
    FUZZ_CHECK(i->n_params <= size, "%llu parameters in %zu bytes", (unsigned long long)i->n_params,
               size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_file_write(&file, data, size);
    lm_error err;
    err.msg[0] = '\0';
    lm_model *m = lm_model_load(file.path, &err);
    if (!m) {
        fuzz_check_message(err.msg, "lm_model_load");
        return 0;
    }
    lm_model_info info = lm_model_get_info(m);
    check_info(&info, size);
    if (size <= FORWARD_MAX_FILE) {
        const char *isa = n_isas > 0 ? isas[size % (size_t)n_isas] : NULL;
        int n_ctx = info.config.seq_len < 2 ? info.config.seq_len : 2;
        lm_context *ctx = lm_context_new(m, (lm_context_params){n_ctx, 1, isa}, &err);
        if (!ctx) {
            fuzz_check_message(err.msg, "lm_context_new");
        } else {
            int tokens[2] = {0, info.config.vocab_size - 1};
            for (int pos = 0; pos < n_ctx; pos++) {
                const float *logits = lm_forward(ctx, &tokens[pos], 1, pos);
                FUZZ_CHECK(logits != NULL, "lm_forward refused a valid token at pos %d", pos);
                /* read every logit: ASan/MSan see the whole row */
                volatile float sink = 0;
                for (int i = 0; i < info.config.vocab_size; i++) sink += logits[i];
                (void)sink;
            }
            FUZZ_CHECK(lm_forward(ctx, tokens, 1, n_ctx) == NULL, "forward past n_ctx accepted");
            int bad = info.config.vocab_size;
            FUZZ_CHECK(lm_forward(ctx, &bad, 1, 0) == NULL, "token %d accepted", bad);
            lm_context_free(ctx);
        }
    }
    lm_model_free(m);
    return 0;
}
