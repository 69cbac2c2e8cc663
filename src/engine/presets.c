/* The model shapes that benchmarks and tests name: llama2.c's tinyllamas
 * (stories260K, 15M, 42M, 110M) and Llama 2 7B. */
#include <stdio.h>
#include <string.h>

#include "lamina.h"

static const struct preset {
    const char *name;
    lm_config config; /* dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len */
} presets[] = {
    {"260K", {64, 172, 5, 8, 4, 512, 512, 0, 0, 0}},
    {"15M", {288, 768, 6, 6, 6, 32000, 256, 0, 0, 0}},
    {"42M", {512, 1376, 8, 8, 8, 32000, 1024, 0, 0, 0}},
    {"110M", {768, 2048, 12, 12, 12, 32000, 1024, 0, 0, 0}},
    {"7B", {4096, 11008, 32, 32, 32, 32000, 4096, 0, 0, 0}},
};

int lm_config_preset(const char *name, lm_config *out) {
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++)
        if (strcmp(name, presets[i].name) == 0) {
            *out = presets[i].config;
            return 0;
        }
    return -1;
}

const char *lm_config_presets(void) {
    static char names[64];
    if (!names[0])
        for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++)
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? " " : "",
                     presets[i].name);
    return names;
}
