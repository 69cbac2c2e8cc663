/* Record ids of `lamina batch`: the JSON text of a request's "id", echoed
 * byte for byte as the input line wrote it (a number is never read as a
 * double: 5000000000000001, 1e400, -0 and 1.50 come back as written), and
 * ids kept per input to refuse one given twice.
 *
 * An id is echoed when it is a string of valid UTF-8 without raw control
 * characters or \u0000, or a number in JSON's grammar; any other id is an
 * error naming the field 'id', and the record carries the line number. Two
 * ids are the same when their values are: strings after unescaping ("\u0041"
 * is "A"), numbers by exact decimal value (1.50 is 1.5, -0 is 0, 1e2 is 100);
 * a string and a number never are. A request without an id has its line
 * number as id, which counts too. */
#ifndef LAMINA_BATCH_ID_H
#define LAMINA_BATCH_ID_H

#include <stddef.h>

#include "lamina.h"

/* The value of the top-level member "id" (its name possibly escaped) of the
 * JSON object text [line, line + len): 1 with *val, *vlen its text; 0 when
 * there is none, it is null, or the text ends or breaks before its value
 * does (a line cut at a length limit, or not JSON). The first "id" counts. */
int batch_id_find(const char *line, size_t len, const char **val, size_t *vlen);

/* Checks an id's JSON text: 0 with *key (malloc'd) the value it stands for,
 * or -1 with err ("field 'id': ..."); out of memory is -1 too. */
int batch_id_key(const char *val, size_t vlen, char **key, lm_error *err);

/* The ids seen so far, each with the line that gave it first. */
typedef struct batch_ids {
    char **keys;
    long *lines;
    size_t n, cap; /* cap: a power of two, or 0 */
} batch_ids;

/* Adds key (taking it) for `line`: 0 if new; else the line that had it
 * (key freed); -1 if out of memory (key freed). */
long batch_ids_add(batch_ids *s, char *key, long line);
void batch_ids_free(batch_ids *s);

#endif
