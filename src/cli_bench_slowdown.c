/* TEST ONLY: compiled into lamina_cli only with -DLAMINA_BENCH_SLOWDOWN=ON, to
 * show that the benchmark regression gate (bench/gate.sh) catches a slower
 * build. It makes `lamina bench` busy-wait, after every lm_forward call, for
 * LAMINA_BENCH_SLOWDOWN_PCT percent of that call's time (default 0: no
 * effect), so each token gets that much slower. The engine is untouched:
 * this file only sets a hook that cli_bench.c calls between forwards. */
#include <stdlib.h>
#include <time.h>

extern void (*cli_bench_after_forward)(double seconds);
extern double cli_bench_slowdown_pct;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void busy_wait(double seconds) {
    double end = now() + seconds * cli_bench_slowdown_pct / 100.0;
    while (now() < end) {
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
