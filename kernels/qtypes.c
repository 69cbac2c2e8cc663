#include "qtypes.h"

static const lm_qtype *const all[] = {
    &lm_qtype_q4_0, &lm_qtype_q4_1, &lm_qtype_q5_0, &lm_qtype_q5_1,
    &lm_qtype_q4_k, &lm_qtype_q5_k, &lm_qtype_q6_k,
};

const lm_qtype *lm_qtype_of(lm_wtype t) {
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (all[i]->type == t) return all[i];
    return NULL;
}

const lm_qtype *lm_qtype_ggml(int ggml_type) {
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (all[i]->ggml_type == ggml_type) return all[i];
    return NULL;
}

lm_matmul_blk_fn lm_kernels_blk(const lm_kernels *k, lm_wtype t) {
    switch (t) {
    case LM_WT_Q4_0: return k->matmul_q4_0;
    case LM_WT_Q4_1: return k->matmul_q4_1;
    case LM_WT_Q5_0: return k->matmul_q5_0;
    case LM_WT_Q5_1: return k->matmul_q5_1;
    case LM_WT_Q4_K: return k->matmul_q4_k;
    case LM_WT_Q5_K: return k->matmul_q5_k;
    case LM_WT_Q6_K: return k->matmul_q6_k;
    default: return NULL;
    }
}
