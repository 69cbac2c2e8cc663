/* TEST ONLY: compiled into lamina_cli only with -DLAMINA_BENCH_SLOWDOWN=ON, to
 * show that the benchmark regression gate (bench/gate.sh) catches a slower
 * build. It makes `lamina bench` busy-wait, after every lm_forward call, until
 * both the wall clock and the process's CPU time have advanced by
 * LAMINA_BENCH_SLOWDOWN_PCT percent of what that call took on each (default 0:
 * no effect), so each token gets that much slower whichever clock the gate
 * reads (with several threads the single spinning thread makes the wall-clock
 * slowdown larger, never smaller). The engine is untouched: this file only
 * sets a hook that cli_bench.c calls between forwards. */
#include <stdlib.h>
#include <time.h>

extern void (*cli_bench_after_forward)(double wall, double cpu);
extern double cli_bench_slowdown_pct;

static double clock_seconds(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void busy_wait(double wall, double cpu) {
    double f = cli_bench_slowdown_pct / 100.0;
    double wall_end = clock_seconds(CLOCK_MONOTONIC) + wall * f;
    double cpu_end = clock_seconds(CLOCK_PROCESS_CPUTIME_ID) + cpu * f;
    while (clock_seconds(CLOCK_MONOTONIC) < wall_end ||
           clock_seconds(CLOCK_PROCESS_CPUTIME_ID) < cpu_end) {
    }
}

__attribute__((constructor)) static void install(void) {
    const char *env = getenv("LAMINA_BENCH_SLOWDOWN_PCT");
    double pct = env ? strtod(env, NULL) : 0.0;
    if (pct > 0) {
        cli_bench_slowdown_pct = pct;
        cli_bench_after_forward = busy_wait;
    }
}
