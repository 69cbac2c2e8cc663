/* Spin while it pays, else sleep on a futex (barrier.h says why). */
#include "barrier.h"

#include "lamina.h"

#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

/* How long a thread spins before it sleeps: on an idle machine the threads
 * of a memory-bound step arrive up to ~100 us apart, and waking a sleeping
 * thread costs tens of microseconds in a virtual machine (and the sleep
 * leaves the core idle). 50 us here halved 15M fp32 decode on 2 threads. */
#define SPIN_NS 200000
/* Barriers in a row with everyone within SPIN_NS before spinning resumes
 * after a late arrival: a descheduled sibling stays descheduled for a
 * scheduler slice (milliseconds), hundreds of barriers at decode speed. */
#define CLOSE_RUNS_TO_SPIN 64

static void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

/* lm_seconds, the engine's one clock, in nanoseconds (a double holds them
 * exactly for months of uptime). */
static long long now_ns(void) { return (long long)(lm_seconds() * 1e9); }

static void futex_wait(atomic_int *addr, int expected) {
    syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
}

static void futex_wake_all(atomic_int *addr) {
    syscall(SYS_futex, addr, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

void lm_barrier_init(lm_barrier *b, int n) {
    /* The forward pass sets its barrier up on every call: what it learnt
     * about late siblings carries over while the thread count stays. */
    if (n > 1 && b->learnt_n != n) {
        atomic_store(&b->close_runs, CLOSE_RUNS_TO_SPIN);
        b->learnt_n = n;
    }
    b->n = n;
    atomic_store(&b->arrived, 0);
    atomic_store(&b->generation, 0);
    atomic_store(&b->sleepers, 0);
}

/* Spins until the generation moves on or the spin time since `start` is
 * over; returns whether it moved on. */
static int spin(lm_barrier *b, int gen, long long start) {
    for (int i = 1;; i++) {
        if (atomic_load_explicit(&b->generation, memory_order_acquire) != gen) return 1;
        cpu_relax();
        if (i % 64 == 0 && now_ns() - start > SPIN_NS) return 0;
    }
}

/* After a wait: was the last thread within the spin time of this one? */
static void learn(lm_barrier *b, long long arrived_at) {
    long long late = atomic_load_explicit(&b->released, memory_order_relaxed) - arrived_at;
    if (late > SPIN_NS)
        atomic_store_explicit(&b->close_runs, 0, memory_order_relaxed);
    else if (atomic_load_explicit(&b->close_runs, memory_order_relaxed) < CLOSE_RUNS_TO_SPIN)
        atomic_fetch_add_explicit(&b->close_runs, 1, memory_order_relaxed);
}

void lm_barrier_wait(lm_barrier *b) {
    if (b->n <= 1) return;
    long long t = now_ns();
    int gen = atomic_load_explicit(&b->generation, memory_order_acquire);
    if (atomic_fetch_add_explicit(&b->arrived, 1, memory_order_acq_rel) == b->n - 1) {
        /* Last to arrive: no one can arrive again before the generation moves,
         * so resetting the count first is safe. */
        atomic_store_explicit(&b->arrived, 0, memory_order_relaxed);
        atomic_store_explicit(&b->released, t, memory_order_relaxed);
        atomic_fetch_add(&b->generation, 1); /* sequentially consistent with */
        if (atomic_load(&b->sleepers))       /* a sleeper's count-then-check */
            futex_wake_all(&b->generation);
        return;
    }
    int may_spin = atomic_load_explicit(&b->close_runs, memory_order_relaxed) >= CLOSE_RUNS_TO_SPIN;
    if (may_spin && spin(b, gen, t)) {
        learn(b, t);
        return;
    }
    atomic_fetch_add(&b->sleepers, 1);
    while (atomic_load(&b->generation) == gen) futex_wait(&b->generation, gen);
    atomic_fetch_sub(&b->sleepers, 1);
    learn(b, t);
}
