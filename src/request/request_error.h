/* Private to src/request: fill err (if any) with a printf-style message kept
 * to one line; returns -1. */
#ifndef LAMINA_REQUEST_ERROR_H
#define LAMINA_REQUEST_ERROR_H

#include "lamina.h"

int request_set_error(lm_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
