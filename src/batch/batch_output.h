/* The output of `lamina batch`: one JSONL record per request, written in input
 * order although requests finish out of order, each record whole. */
#ifndef LAMINA_BATCH_OUTPUT_H
#define LAMINA_BATCH_OUTPUT_H

#include <cjson/cJSON.h>
#include <stddef.h>

typedef struct batch_record {
    long line; /* 1-based line number in the input */
    char *id;  /* the JSON text of the request's id as the line wrote it (batch_id.h),
                  or NULL: the line number stands in */
    char *text;
    int prompt_tokens, completion_tokens;
    const char *finish; /* "stop", "length", "error", "cancelled"; NULL while running */
    char *error;        /* NULL unless finish is "error" */
    char *logprobs;     /* the record's "logprobs" as JSON text, or NULL (not asked for) */
    int n;              /* choices ("n" > 1): texts and finishes hold one each, text is NULL */
    char **texts;
    const char **finishes;
    char **choice_logprobs; /* with n > 1 and logprobs: each choice's, as JSON text */
} batch_record;

typedef struct batch_output {
    int fd;
    const char *name;     /* for messages: the -o path or "stdout" */
    batch_record **queue; /* records in input order, from the first unwritten one */
    size_t head, n, cap;  /* a ring: queue[(head + i) % cap], i < n */
    long written, failed; /* records written, and how many of them are errors */
    int write_errno;      /* the first failed write's errno; nothing is written after it */
} batch_output;

void batch_output_init(batch_output *o, int fd, const char *name);
void batch_output_free(batch_output *o);
/* Queue a new, unfinished record for `line` (in input order); NULL if out of
 * memory. The record belongs to the output. */
batch_record *batch_output_open(batch_output *o, long line);
/* Finish a record: its text is copied, error may be NULL. */
int batch_record_finish(batch_record *r, const char *finish, const char *text, int prompt_tokens,
                        int completion_tokens, const char *error);
/* Finish a record of n > 1 choices: {"id", "choices": [{"index", "text",
 * "finish_reason"}...], "prompt_tokens", "completion_tokens" (all the
 * choices'), "error": null}; the texts are copied. */
int batch_record_finish_choices(batch_record *r, int n, const char *const *finishes,
                                const char *const *texts, int prompt_tokens, int completion_tokens);
/* Write the finished records at the front of the queue, each whole, as one
 * write. Returns 0, or -1 on a write error (write_errno says which). */
int batch_output_flush(batch_output *o);

#endif
