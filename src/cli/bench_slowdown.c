/* TEST ONLY: compiled only into a -DLAMINA_BENCH_SLOWDOWN=ON build (its
 * binary is lamina-slow, never installed), to show that the benchmark
 * regression gate (bench/gate.sh) catches a slower build. `lamina bench`
 * calls bench_slowdown after every lm_forward call; it busy-waits until both
 * the wall clock and the process's CPU time have advanced by
 * LAMINA_BENCH_SLOWDOWN_PCT percent of what that call took on each (default
 * 0: no effect), so each token gets that much slower whichever clock the gate
 * reads (with several threads the single spinning thread makes the wall-clock
 * slowdown larger, never smaller). bench_slowdown_start, first thing in
 * main, busy-waits LAMINA_BENCH_SLOWDOWN_START_MS milliseconds on both clocks
 * (default 0): every process starts that much later, as a start-up or
 * sampler regression would make it, which only the gate's whole-process
 * metrics see. The engine is untouched. */
#include <stdlib.h>

#include "bench.h"

double bench_slowdown_pct(void) {
    static double pct = -1;
    if (pct < 0) {
        const char *env = getenv("LAMINA_BENCH_SLOWDOWN_PCT");
        pct = env ? strtod(env, NULL) : 0.0;
        if (!(pct > 0)) pct = 0;
    }
    return pct;
}

void bench_slowdown(double wall, double cpu) {
    double f = bench_slowdown_pct() / 100.0;
    if (f <= 0) return;
    double wall_end = lm_seconds() + wall * f, cpu_end = bench_cpu_seconds() + cpu * f;
    while (lm_seconds() < wall_end || bench_cpu_seconds() < cpu_end) {
    }
}

void bench_slowdown_start(void) {
    const char *env = getenv("LAMINA_BENCH_SLOWDOWN_START_MS");
    double s = env ? strtod(env, NULL) / 1000.0 : 0.0;
    if (!(s > 0)) return;
    double wall_end = lm_seconds() + s, cpu_end = bench_cpu_seconds() + s;
    while (lm_seconds() < wall_end || bench_cpu_seconds() < cpu_end) {
    }
}
