/* Which kernel table new contexts use: the best the CPU supports, chosen once,
 * unless lm_set_isa forces one (the CLI's --isa and LAMINA_ISA, tests, A/B runs). */
#include <string.h>

#include "dispatch.h"
#include "internal.h"

static const lm_kernels *forced;

const lm_kernels *lm_active_kernels(void) {
    static const lm_kernels *best;
    if (forced) return forced;
    if (!best) best = lm_kernels_best();
    return best;
}

int lm_set_isa(const char *name, lm_error *err) {
    if (!name || !*name) {
        forced = NULL;
        return 0;
    }
    const lm_kernels *k = lm_kernels_by_name(name);
    if (!k) return lm_fail(err, "unknown ISA '%s' (this build has: %s)", name, lm_isa_list());
    const char *missing = lm_kernels_missing_feature(k);
    if (missing)
        return lm_fail(err, "ISA '%s' needs the CPU feature %s, which this CPU lacks", name,
                       missing);
    forced = k;
    return 0;
}

const char *lm_isa(void) { return lm_active_kernels()->isa; }

const char *lm_isa_list(void) {
    static char list[128];
    if (!list[0])
        for (int i = 0; lm_kernel_tables[i]; i++) {
            if (i) strcat(list, " ");
            strcat(list, lm_kernel_tables[i]->isa);
        }
    return list;
}
