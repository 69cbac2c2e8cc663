/* The work scheduler of the forward pass: which items each thread of the
 * OpenMP region takes, by a static share (lm_share) or by claiming chunks
 * (lm_claim, for the products: matmul.c), and how many threads a pass runs on
 * when other programs contend for the cores (lm_threads_for_pass). Declared
 * in internal.h. */
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

/* How many threads the passes run on. While another program keeps one of our
 * threads off its core, every step of a pass waits a scheduler slice for it:
 * the passes then get less CPU time than wall time x threads (spinning counts
 * as CPU time; being descheduled does not). That share is measured over
 * windows of LM_SHARE_WINDOW seconds (the kernel adds up other threads' CPU
 * time at its ticks, so one short pass says nothing); under LM_FAIR_SHARE,
 * the passes run on one thread for LM_SOLO_SECONDS, then on all of them for
 * another window to see whether the cores are free again. The output does
 * not depend on the thread count. (An earlier rule, "a sibling reached a
 * barrier more than 50 us late", also fired on an idle machine, where work
 * chunks alone leave threads that far apart, and halved 110M decode.) */
#define LM_SHARE_WINDOW 0.05
#define LM_SOLO_SECONDS 1.0
#define LM_FAIR_SHARE 0.8

int lm_threads_for_pass(const lm_workspace *ws) { return ws->solo ? 1 : ws->n_threads; }

/* Adds a pass of `threads` threads to the current window; decides at its end. */
void lm_learn_share(lm_workspace *ws, int threads, double wall, double cpu) {
    ws->window_wall += wall;
    ws->window_cpu += cpu;
    double limit = ws->solo ? LM_SOLO_SECONDS : LM_SHARE_WINDOW;
    if (ws->n_threads == 1 || ws->window_wall < limit) return;
    ws->solo = !ws->solo && ws->window_cpu < LM_FAIR_SHARE * ws->window_wall * threads;
    ws->window_wall = ws->window_cpu = 0.0;
}
