/* lamina quantize IN OUT [--group-size N]: a v2 (Q8_0) copy of IN. The engine
 * writes a temporary beside OUT and renames it only when complete; it refuses
 * an OUT that is IN, a symbolic link, not a regular file, or read-only. */
#include <stdio.h>

#include "front.h"

int cmd_quantize(const cli_args *a) {
    lm_error e;
    lm_model *m = cli_load_model(a->checkpoint, &e);
    if (!m) return cli_error("%s", e.msg);
    int rc = lm_model_quantize(m, a->output, a->group_size, &e);
    lm_model_free(m);
    if (rc) return cli_error("%s", e.msg);
    fprintf(stderr, "lamina: wrote %s\n", a->output);
    return 0;
}
