/* What the front ends of the lamina command share (front.h): messages, the
 * model and tokenizer loaders, the CPUs available. A leaf of src/cli: main.c
 * and the commands call it, it calls none of them. */
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "demo.h"
#include "front.h"
#include "lamina.h"
#include "options.h"

const char *cli_isa;
wcache_opts cli_wcache;

static void print_note(void *arg, const char *line) {
    (void)arg;
    cli_warning("%s", line);
}

int cli_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("lamina: error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

void cli_warning(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("lamina: warning: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int cli_available_cpus(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) return CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

/* ---- models that change while in use ------------------------------------- */

/* The message for a SIGBUS, prepared while loading: a truncated mapped file
 * faults on the first page past its new end, and a bare "Bus error" with the
 * output cut mid-word says nothing about why. */
static char sigbus_message[512];
static size_t sigbus_length;

static void on_sigbus(int sig) {
    (void)sig;
    if (write(2, sigbus_message, sigbus_length) < 0) _exit(1);
    _exit(1);
}

static void watch_model(const char *path) {
    size_t len = strlen(path), room = sizeof sigbus_message - 80;
    const char *name = len > room ? path + len - room : path; /* keep the file's name */
    sigbus_length = (size_t)snprintf(sigbus_message, sizeof sigbus_message,
                                     "lamina: error: %s%s was truncated or changed while in use\n",
                                     len > room ? "..." : "", name);
    if (sigbus_length >= sizeof sigbus_message) sigbus_length = sizeof sigbus_message - 1;
    struct sigaction sa = {.sa_handler = on_sigbus};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, NULL);
}

lm_model *cli_load_model(const char *path, lm_error *err) {
    if (!path) {
        size_t size;
        const void *data = demo_model(&size);
        return lm_model_load_memory(data, size, DEMO_NAME, err);
    }
    watch_model(path);
    return wcache_load(path, &cli_wcache, print_note, NULL, err);
}

lm_tokenizer *cli_load_tokenizer(const char *path, const char *checkpoint, int vocab_size,
                                 lm_error *err) {
    if (path) return lm_tokenizer_load(path, vocab_size, err);
    if (!checkpoint) {
        size_t size;
        const void *data = demo_tokenizer(&size);
        return lm_tokenizer_load_memory(data, size, DEMO_TOKENIZER_NAME, vocab_size, err);
    }
    /* a GGUF model's own vocabulary, else tokenizer.bin in the checkpoint's folder */
    char buf[PATH_MAX];
    const char *beside = opt_tokenizer_default(checkpoint, buf, sizeof buf);
    if (!beside) {
        snprintf(err->msg, sizeof err->msg, "%.200s: the path is too long", checkpoint);
        return NULL;
    }
    if (beside == checkpoint) return lm_tokenizer_load(checkpoint, vocab_size, err);
    if (access(beside, F_OK) && errno == ENOENT) {
        snprintf(err->msg, sizeof err->msg,
                 "%s: no tokenizer beside the checkpoint; give its tokenizer.bin with -z PATH",
                 beside);
        return NULL;
    }
    return lm_tokenizer_load(beside, vocab_size, err);
}

const char *cli_tokenizer_default(const char *in, char *buf, size_t len) {
    const char *beside = opt_tokenizer_default(in, buf, len);
    if (!beside) cli_error("%.200s: the path is too long", in);
    return beside;
}

void cli_explain_tokenizer(const char *beside, lm_error *err) {
    /* only the default's own failure, and only when it is missing (after the
       checks of the checkpoint, whose messages come first) */
    if (strncmp(err->msg, beside, strlen(beside)) == 0 && access(beside, F_OK))
        snprintf(err->msg, sizeof err->msg,
                 "%.400s: no tokenizer beside the checkpoint; give its tokenizer.bin with -z",
                 beside);
}
