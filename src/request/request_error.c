/* The one error writer of the request library (parsing and running). */
#include <stdarg.h>
#include <stdio.h>

#include "request.h"
#include "request_error.h"

int request_set_error(lm_error *err, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        /* a message cut to fit must not end in half a character */
        if (n >= (int)sizeof err->msg) {
            size_t keep = lm_utf8_trim_end(err->msg, sizeof err->msg - 1);
            err->msg[keep] = '\0';
        }
        /* Field names come from the request: a "\n" in one must not split
         * the one-line message (or forge a line of the caller's log). */
        for (char *c = err->msg; *c; c++)
            if ((unsigned char)*c < 0x20 || *c == 0x7f) *c = '?';
    }
    return -1;
}
