/* The kernel set a kernel test runs, named by its one argument (ctest runs
 * each test once per set of kernels/CMakeLists.txt's LAMINA_ISAS). */
#ifndef LAMINA_TESTS_CHECK_KERNELS_H
#define LAMINA_TESTS_CHECK_KERNELS_H

#include <stdio.h>

#include "check.h"
#include "dispatch.h"

/* The set named by argv[1], or NULL with *rc the exit status: 2 for a usage
 * error, 1 for a set this binary lacks, CHECK_SKIP (said on stdout) for one
 * this CPU cannot run. */
static inline const lm_kernels *check_kernels_arg(int argc, char **argv, const char *test,
                                                  int *rc) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s ISA\n", test);
        return *rc = 2, NULL;
    }
    const lm_kernels *k = lm_kernels_by_name(argv[1]);
    if (!k) {
        fprintf(stderr, "this binary has no '%s' kernels\n", argv[1]);
        return *rc = 1, NULL;
    }
    const char *missing = lm_kernels_missing_feature(k);
    if (missing) {
        printf("SKIPPED: %s kernels need %s, which this CPU lacks\n", argv[1], missing);
        return *rc = CHECK_SKIP, NULL;
    }
    return k;
}

#endif
