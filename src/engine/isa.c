/* Which kernel table a context uses: the best the CPU supports, unless its
 * parameters name one (the CLI's --isa and LAMINA_ISA, tests, A/B runs). The
 * choice lives in each context, never in a process-wide setting. */
#include <string.h>

#include "dispatch.h"
#include "internal.h"

const char *lm_isa_best(void) { return lm_kernels_best()->isa; }

const char *lm_cpu_description(void) { return lm_kernels_cpu_description(); }

int lm_isa_check(const char *name, lm_error *err) {
    const lm_kernels *k = lm_kernels_by_name(name ? name : "");
    if (!k)
        return lm_fail(err, "unknown kernel set '%s' (this build has: %s)", name, lm_isa_list());
    const char *missing = lm_kernels_missing_feature(k);
    if (missing)
        return lm_fail(err, "kernel set '%s' needs the CPU feature %s, which this CPU lacks", name,
                       missing);
    return 0;
}

const lm_kernels *lm_kernels_for(const char *name, lm_error *err) {
    if (!name || !*name) return lm_kernels_best();
    if (lm_isa_check(name, err)) return NULL;
    return lm_kernels_by_name(name);
}

const char *lm_isa_list(void) {
    static char list[128];
    if (!list[0])
        for (int i = 0; lm_kernel_tables[i]; i++) {
            if (i) strcat(list, " ");
            strcat(list, lm_kernel_tables[i]->isa);
        }
    return list;
}
