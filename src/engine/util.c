#include <stdarg.h>
#include <time.h>

#include "internal.h"

int lm_fail(lm_error *err, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return -1;
}

uint64_t lm_mul(uint64_t a, uint64_t b) {
    uint64_t r;
    return __builtin_mul_overflow(a, b, &r) ? UINT64_MAX : r;
}

uint64_t lm_add(uint64_t a, uint64_t b) {
    uint64_t r;
    return __builtin_add_overflow(a, b, &r) ? UINT64_MAX : r;
}

static double seconds_of(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int lm_order_version(void) { return LM_ORDER_VERSION; }

double lm_seconds(void) { return seconds_of(CLOCK_MONOTONIC); }

double lm_cpu_seconds(void) { return seconds_of(CLOCK_PROCESS_CPUTIME_ID); }
