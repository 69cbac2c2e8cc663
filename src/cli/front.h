/* What the front ends of the lamina command (run.c, info.c, tokenize.c,
 * quantize.c, perplexity.c, convert.c) and main.c share: front.c and
 * threads.c, leaves that call none of them (no call cycles in src/cli). */
#ifndef LAMINA_CLI_FRONT_H
#define LAMINA_CLI_FRONT_H

#include "args.h"
#include "lamina.h"
#include "wcache.h"

/* The kernel set chosen by main(): --isa, else LAMINA_ISA, else the best. */
extern const char *cli_isa;
/* The weights cache cli_load_model uses (--weights-cache, --no-weights-cache). */
extern wcache_opts cli_wcache;

/* "lamina: error: ..." on stderr; returns 1 (a file or runtime error). */
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "lamina: warning: ..." on stderr. */
void cli_warning(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The checkpoint at path, or the embedded demo model for NULL. A mapped file
 * is watched: a SIGBUS (the file truncated under us) ends with a one-line
 * error naming it. */
lm_model *cli_load_model(const char *path, lm_error *err);
/* The tokenizer at path; for NULL the one beside `checkpoint` (a message
 * mentioning -z when there is none), or the embedded one beside the demo. */
lm_tokenizer *cli_load_tokenizer(const char *path, const char *checkpoint, int vocab_size,
                                 lm_error *err);
/* convert's and quantize's -z default for IN: opt_tokenizer_default (IN
 * itself when it is GGUF, else tokenizer.bin in its folder) into buf[len];
 * NULL after a one-line error when the path does not fit. */
const char *cli_tokenizer_default(const char *in, char *buf, size_t len);
/* After a failed convert or quantize that used that default: when the error
 * is about the default and the file is missing, err says to give it with -z. */
void cli_explain_tokenizer(const char *beside, lm_error *err);
/* The CPUs this process may run on. */
int cli_available_cpus(void);
/* threads.c: the most threads a parallel region may use, and whether that
 * many can be created (1 and a one-line error if not). */
int cli_threads_wanted(int requested);
/* The most threads --threads takes; OMP_NUM_THREADS above it is clamped. */
#define CLI_MAX_THREADS 4096
/* A one-line warning when OMP_NUM_THREADS asks for more than CLI_MAX_THREADS
 * (the engine never starts more threads than CPUs unless told with --threads,
 * so such a value only ever meant "all of them"). Every subcommand calls it. */
void cli_check_env_threads(void);
int cli_check_threads(int n);

int cmd_run(const cli_args *a);
int cmd_info(const cli_args *a);
int cmd_tokenize(const cli_args *a);
/* cancel.c: SIGINT/SIGTERM set cli_cancel while a file is written (the
 * library's writers stop on it and remove their temporary); cli_cancel_end
 * restores the handlers and, when a signal came and rc is a failure, raises
 * it again (exit 130 or 143), else returns rc. */
extern lm_cancel_flag cli_cancel;
void cli_cancel_begin(void);
int cli_cancel_end(int rc);

int cmd_quantize(const cli_args *a);
int cmd_quantize_gguf(const cli_args *a); /* quantize --type (quantize_gguf.c) */

#endif
