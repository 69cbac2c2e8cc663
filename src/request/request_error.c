/* The one error writer of the request library (parsing and running). */
#include <stdarg.h>
#include <stdio.h>

#include "request_error.h"

int request_set_error(lm_error *err, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        /* Field names come from the request: a "\n" in one must not split
         * the one-line message (or forge a line of the caller's log). */
        for (char *c = err->msg; *c; c++)
            if ((unsigned char)*c < 0x20 || *c == 0x7f) *c = '?';
    }
    return -1;
}
