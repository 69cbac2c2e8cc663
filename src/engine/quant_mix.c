/* llama-quantize's tensor types (quant_mix.h): the rules of llama-quant.cpp
 * that apply to the llama architecture, rewritten for lamina's types. */
#include "quant_mix.h"

#include <string.h>

#include "gguf_write.h"

/* Per mix: its base type and its llama_ftype number. */
static const struct {
    lm_ggml_type base;
    uint32_t ftype;
} mixes[] = {
    [LM_QUANT_Q4_0] = {LM_GGML_Q4_0, 2},    [LM_QUANT_Q4_1] = {LM_GGML_Q4_1, 3},
    [LM_QUANT_Q5_0] = {LM_GGML_Q5_0, 8},    [LM_QUANT_Q5_1] = {LM_GGML_Q5_1, 9},
    [LM_QUANT_Q8_0] = {LM_GGML_Q8_0, 7},    [LM_QUANT_Q4_K_S] = {LM_GGML_Q4_K, 14},
    [LM_QUANT_Q4_K_M] = {LM_GGML_Q4_K, 15}, [LM_QUANT_Q5_K_S] = {LM_GGML_Q5_K, 16},
    [LM_QUANT_Q5_K_M] = {LM_GGML_Q5_K, 17}, [LM_QUANT_Q6_K] = {LM_GGML_Q6_K, 18},
};

void lm_quant_mix_init(lm_quant_mix *m, lm_quant_type type, int n_layers, int tied) {
    *m = (lm_quant_mix){type, n_layers, tied, 0, 0};
}

uint32_t lm_quant_file_type(lm_quant_type t) { return mixes[t].ftype; }

/* llama.cpp's use_more_bits: the first and last eighth of the layers and
 * every third one between. */
static int more_bits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

static int ends_with(const char *s, const char *tail) {
    size_t n = strlen(s), k = strlen(tail);
    return n >= k && strcmp(s + n - k, tail) == 0;
}

static lm_ggml_type for_output(lm_ggml_type base, uint64_t ne0) {
    if (ne0 % (uint64_t)lm_gguf_block_values(base)) return LM_GGML_Q8_0;
    return base == LM_GGML_Q8_0 ? LM_GGML_Q8_0 : LM_GGML_Q6_K;
}

static lm_ggml_type mixed(lm_quant_mix *m, const char *name, uint64_t ne0) {
    lm_ggml_type base = mixes[m->type].base;
    int km = m->type == LM_QUANT_Q4_K_M || m->type == LM_QUANT_Q5_K_M;
    if (strcmp(name, "output.weight") == 0 || (m->tied && strcmp(name, "token_embd.weight") == 0))
        return for_output(base, ne0);
    if (ends_with(name, ".attn_v.weight")) {
        int i = m->i_attn_v++;
        if (km && more_bits(i, m->n_layers)) return LM_GGML_Q6_K;
        if (m->type == LM_QUANT_Q4_K_S && i < 4) return LM_GGML_Q5_K;
    } else if (ends_with(name, ".ffn_down.weight")) {
        int i = m->i_ffn_down++;
        if (km && more_bits(i, m->n_layers)) return LM_GGML_Q6_K;
        if (m->type == LM_QUANT_Q4_K_S && i < m->n_layers / 8) return LM_GGML_Q5_K;
    }
    return base;
}

/* llama-quant.cpp's tensor_type_fallback. */
static lm_ggml_type fallback(lm_ggml_type t, uint64_t ne0) {
    if (ne0 % (uint64_t)lm_gguf_block_values(t) == 0) return t;
    t = t == LM_GGML_Q4_K   ? LM_GGML_Q5_0
        : t == LM_GGML_Q5_K ? LM_GGML_Q5_1
        : t == LM_GGML_Q6_K ? LM_GGML_Q8_0
                            : t;
    return ne0 % (uint64_t)lm_gguf_block_values(t) ? LM_GGML_F16 : t;
}

lm_ggml_type lm_quant_mix_pick(lm_quant_mix *m, const char *name, int n_dims, uint64_t ne0) {
    if (n_dims < 2 || strstr(name, "_norm.weight")) return LM_GGML_F32;
    return fallback(mixed(m, name, ne0), ne0);
}
