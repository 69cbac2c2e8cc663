/* Run-time choice of the kernel table: detect once, choose once, override for
 * tests. Compiled without ISA flags so nothing wide runs before the check. */
#ifndef LAMINA_KERNELS_DISPATCH_H
#define LAMINA_KERNELS_DISPATCH_H

#include "kernels.h"

/* Every table built into this binary, best last; NULL-terminated. */
extern const lm_kernels *const lm_kernel_tables[];

/* The feature this CPU lacks to run `table` ("avx512bw"), or NULL if it runs. */
const char *lm_kernels_missing_feature(const lm_kernels *table);

/* The table with that name, or NULL if this binary has none. */
const lm_kernels *lm_kernels_by_name(const char *name);

/* The best table this CPU supports. */
const lm_kernels *lm_kernels_best(void);

/* One line naming the CPU and its features that matter here. */
const char *lm_kernels_cpu_description(void);

#endif
