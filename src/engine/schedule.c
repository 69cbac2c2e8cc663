/* The work scheduler of the forward pass: which items each thread of the
 * OpenMP region takes, by a static share (lm_share) or by claiming chunks
 * (lm_claim, for the products: matmul.c). Declared in internal.h. */
#include <omp.h>
#include <stdatomic.h>

#include "internal.h"

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
