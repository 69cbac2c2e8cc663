/* lamina quantize IN OUT [--group-size N]: a v2 (Q8_0) copy of IN. The engine
 * writes a temporary beside OUT and renames it only when complete; it refuses
 * an OUT that is IN, a symbolic link, not a regular file, or read-only. */
#include <stdio.h>

#include "front.h"

int cmd_quantize(const cli_args *a) {
    lm_error e;
    cli_cancel_begin();
    int rc = lm_quantize_file(a->checkpoint, a->output, a->group_size, &cli_cancel, &e);
    if (rc) return cli_cancel_end(cli_error("%s", e.msg));
    cli_cancel_end(0);
    fprintf(stderr, "lamina: wrote %s\n", a->output);
    return 0;
}
