/* A minimal test harness: CHECK records a failure with its location and goes
 * on, so one run reports every broken case; check_exit() sets the exit status. */
#ifndef LAMINA_TESTS_CHECK_H
#define LAMINA_TESTS_CHECK_H

#include <stdio.h>

static int check_failures;
static int check_count;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        check_count++;                                                                             \
        if (!(cond)) {                                                                             \
            if (check_failures++ < 20) {                                                           \
                fprintf(stderr, "%s:%d: FAILED: %s: ", __FILE__, __LINE__, #cond);                 \
                fprintf(stderr, __VA_ARGS__);                                                      \
                fputc('\n', stderr);                                                               \
            }                                                                                      \
        }                                                                                          \
    } while (0)

/* ctest treats this exit status as "skipped" (SKIP_RETURN_CODE). */
#define CHECK_SKIP 77

static inline int check_exit(const char *name) {
    printf("%s: %d checks, %d failed\n", name, check_count, check_failures);
    return check_failures ? 1 : 0;
}

#endif
