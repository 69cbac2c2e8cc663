/* The products of the forward pass: which rows each thread computes, and the
 * call into the kernel table. Called by every thread of the forward pass's
 * OpenMP region; each output row has exactly one writer. */
#include <omp.h>
#include <stdatomic.h>
#include <string.h>

#include "internal.h"
#include "qtypes.h"
#include "pack.h"

/* This thread's share [*a, *b) of n items, cut at multiples of `block`. */
void lm_share(int n, int block, int *a, int *b) {
    int nt = omp_get_num_threads(), t = omp_get_thread_num();
    int chunk = (n + nt - 1) / nt;
    chunk = (chunk + block - 1) / block * block;
    *a = t * chunk < n ? t * chunk : n;
    *b = *a + chunk < n ? *a + chunk : n;
}

/* Dynamic claiming. Every thread of a forward pass makes the same sequence of
 * calls (it runs the same code), so a call is numbered by a per-thread
 * counter; the call's shared slot holds (epoch << 24 | next chunk), where the
 * epoch is unique to that call of that pass. The first thread to see an old
 * epoch takes chunk 0 and starts the new one. A slot is reused LM_CLAIM_SLOTS
 * calls later; barriers come far more often than that, so no thread is still
 * claiming from the call that used the slot before. */
static _Thread_local uint64_t next_call;

void lm_claims_begin(const lm_workspace *ws) { next_call = ws->epoch; }

uint64_t lm_claims_next_call(void) { return next_call++; }

void lm_claims_end(lm_workspace *ws) { ws->epoch = next_call + 1; }

int lm_claim(lm_workspace *ws, uint64_t call, int n_chunks) {
    _Atomic uint64_t *slot = &ws->claims[call % LM_CLAIM_SLOTS];
    uint64_t epoch = call & ((UINT64_C(1) << 40) - 1);
    uint64_t v = atomic_load_explicit(slot, memory_order_relaxed);
    for (;;) {
        if (v >> 24 != epoch) {
            if (n_chunks <= 0) return -1;
            if (atomic_compare_exchange_weak(slot, &v, epoch << 24 | 1)) return 0;
        } else {
            int next = (int)(v & 0xffffff);
            if (next >= n_chunks) return -1;
            if (atomic_compare_exchange_weak(slot, &v, v + 1)) return next;
        }
    }
}

/* Rows go out in chunks of whole row blocks, about four per thread, so a
 * thread that runs alone for a while takes over the others' share. */
void lm_matmul(lm_workspace *ws, float *y, const float *x, const lm_matrix *w, int T) {
    int blocks = (w->rows + LM_ROW_BLOCK - 1) / LM_ROW_BLOCK;
    int per = (blocks + 4 * ws->n_threads - 1) / (4 * ws->n_threads);
    int rows_per_chunk = per * LM_ROW_BLOCK,
        n_chunks = (w->rows + rows_per_chunk - 1) / rows_per_chunk;
    uint64_t call = lm_claims_next_call();
    for (int c; (c = lm_claim(ws, call, n_chunks)) >= 0;) {
        int r0 = c * rows_per_chunk;
        int r1 = r0 + rows_per_chunk < w->rows ? r0 + rows_per_chunk : w->rows;
        switch (w->p.type) {
        case LM_WT_F32: ws->k->matmul_f32(y, x, &w->p, T, r0, r1); break;
        case LM_WT_Q8_0: ws->k->matmul_q8(y, &ws->xq[w->act], &w->p, T, r0, r1); break;
        case LM_WT_F16: ws->k->matmul_f16(y, x, &w->p, T, r0, r1); break;
        case LM_WT_BF16: ws->k->matmul_bf16(y, x, &w->p, T, r0, r1); break;
        default: lm_kernels_blk(ws->k, w->p.type)(y, &ws->xq[w->act], &w->p, T, r0, r1); break;
        }
    }
}

/* The embedding row of `token` into out[dim], from the packed table. */
void lm_embed(const lm_model *m, int token, float *out) {
    lm_packed_row(&m->tok_emb.p, token, out);
}
