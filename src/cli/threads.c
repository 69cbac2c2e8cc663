/* Threads: libgomp prints its own multi-line message and exits when it cannot
 * create its threads (a thread or memory limit). lamina creates as many
 * first, with libgomp's stack size, all alive at once, so that those causes
 * are lamina's one-line error instead. */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "front.h"

/* OMP_STACKSIZE as libgomp reads it (a size, K by default), or 0. */
static size_t omp_stack_size(void) {
    const char *s = getenv("OMP_STACKSIZE");
    if (!s || !*s) return 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    int unit = *end == 'B' || *end == 'b'   ? 0
               : *end == 'M' || *end == 'm' ? 20
               : *end == 'G' || *end == 'g' ? 30
                                            : 10;
    return v && v < (1ull << (63 - unit)) ? (size_t)(v << unit) : 0;
}

static pthread_mutex_t hold = PTHREAD_MUTEX_INITIALIZER;

static void *held(void *arg) {
    pthread_mutex_lock(&hold);
    pthread_mutex_unlock(&hold);
    return arg;
}

int cli_check_threads(int n) {
    pthread_t t[64];
    pthread_attr_t attr;
    size_t stack = omp_stack_size();
    int made = 0, rc = 0, tries = n > 64 ? 64 : n; /* beyond 64 the limits have shown */
    pthread_attr_init(&attr);
    if (stack) pthread_attr_setstacksize(&attr, stack);
    pthread_mutex_lock(&hold);
    while (made < tries - 1 && !(rc = pthread_create(&t[made], &attr, held, NULL))) made++;
    pthread_mutex_unlock(&hold);
    for (int i = 0; i < made; i++) pthread_join(t[i], NULL);
    pthread_attr_destroy(&attr);
    if (rc)
        return cli_error("cannot start %d threads: %s (try fewer with --threads)", n, strerror(rc));
    return 0;
}

/* OMP_NUM_THREADS's first value (it may be a list, one per nesting level) as
 * a thread count, clamped to CLI_MAX_THREADS; 0 when unset or not a number
 * (libgomp then says so itself and ignores it). */
static int env_threads(void) {
    const char *env = getenv("OMP_NUM_THREADS");
    if (!env) return 0;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(env, &end, 10);
    if (end == env || !isdigit((unsigned char)*env) || (*end && *end != ',')) return 0;
    return errno || v > CLI_MAX_THREADS ? CLI_MAX_THREADS : (int)v;
}

void cli_check_env_threads(void) {
    const char *env = getenv("OMP_NUM_THREADS");
    if (env_threads() == CLI_MAX_THREADS && strtoull(env, NULL, 10) != CLI_MAX_THREADS)
        cli_warning("OMP_NUM_THREADS=%.20s%s is more than %d threads, the most --threads takes; "
                    "using at most %d",
                    env, strlen(env) > 20 ? "..." : "", CLI_MAX_THREADS, CLI_MAX_THREADS);
}

/* The most threads a parallel region of this process may use: --threads,
 * OMP_NUM_THREADS or the CPUs (the loader's parallel loops use the latter). */
int cli_threads_wanted(int requested) {
    const char *limit = getenv("OMP_THREAD_LIMIT");
    int n = cli_available_cpus(), from_env = env_threads(), cap = limit ? atoi(limit) : 0;
    if (from_env > n) n = from_env;
    if (requested > n) n = requested;
    return cap > 0 && n > cap ? cap : n; /* OpenMP never starts more than its limit */
}
