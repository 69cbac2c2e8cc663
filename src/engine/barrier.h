/* A barrier for the threads of one OpenMP region, used instead of
 * `#pragma omp barrier` between the steps of the forward pass.
 *
 * Why not OpenMP's: libgomp's waiting threads spin for a long time before they
 * sleep. When another program holds one of the cores, the thread that shares
 * that core runs only in the scheduler's time slices, and the others spin
 * through each slice at every barrier: 2 threads ran 18x slower than 1 on this
 * 2-core machine with a compile job beside them.
 *
 * This barrier spins only while spinning pays: for at most 200 microseconds
 * (more than the usual imbalance of a step on an idle machine), and not at
 * all once the last thread to arrive has been later than that (a sibling the
 * OS descheduled: spinning would only keep its core from it). Spinning comes
 * back after a run of barriers where everyone arrived close together. A
 * thread that does not spin sleeps in the kernel at once. */
#ifndef LAMINA_BARRIER_H
#define LAMINA_BARRIER_H

#include <stdatomic.h>

typedef struct lm_barrier {
    int n;                 /* threads that take part */
    int learnt_n;          /* the thread count close_runs was learnt with */
    atomic_int arrived;    /* threads at the barrier in this generation */
    atomic_int generation; /* bumped by the last thread to arrive */
    atomic_int sleepers;   /* threads asleep (or about to sleep) in the kernel */
    atomic_llong released; /* when the last thread arrived (monotonic ns) */
    atomic_int close_runs; /* barriers in a row where all arrived within the spin time */
} lm_barrier;

/* Set up for n threads; only while no thread is waiting. */
void lm_barrier_init(lm_barrier *b, int n);

/* Wait until all n threads have called it; memory written before the call by
 * any of them is visible to all after it. */
void lm_barrier_wait(lm_barrier *b);

#endif
