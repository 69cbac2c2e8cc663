/* The command line of `lamina serve` (serve_args.c), apart from the server so
 * that the options fuzz target can run it. */
#ifndef LAMINA_SERVE_ARGS_H
#define LAMINA_SERVE_ARGS_H

#include <stddef.h>
#include <stdio.h>

#include "serve.h"

/* 0 parsed, 1 --help asked, 2 a usage error, -1 out of memory; on 2 and -1
 * err holds the one line. c->allow_hosts and c->cors_origins are the
 * caller's to free, whatever the result. */
int serve_parse_args(int argc, char **argv, serve_config *c, char *err, size_t len);

void serve_print_usage(FILE *out);

/* Names, origins, keys and aliases end up in headers, JSON and logs:
 * printable ASCII only (spaces allowed where the caller does not refuse them). */
int serve_printable(const char *s);

#endif
