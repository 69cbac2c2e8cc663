/* The CLI's signal policy for its file writers (quantize, convert): SIGINT
 * and SIGTERM set the library's cancel flag (lamina.h, lm_cancel_flag); the
 * writer removes its temporary and fails with "OUT: cancelled"; then the
 * signal is raised again with its earlier disposition, so that the exit
 * status says which ended us (130, 143). An ignored signal stays ignored. */
#include <signal.h>
#include <stdio.h>

#include "front.h"

lm_cancel_flag cli_cancel;
static volatile sig_atomic_t caught; /* the signal that set cli_cancel */
static const int sigs[2] = {SIGINT, SIGTERM};
static struct sigaction saved[2];

static void on_signal(int sig) {
    caught = sig;
    cli_cancel = 1;
}

void cli_cancel_begin(void) {
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    for (int i = 0; i < 2; i++) {
        sigaction(sigs[i], NULL, &saved[i]);
        if (saved[i].sa_handler != SIG_IGN) sigaction(sigs[i], &sa, NULL);
    }
}

int cli_cancel_end(int rc) {
    for (int i = 0; i < 2; i++) sigaction(sigs[i], &saved[i], NULL);
    if (rc && caught) {
        fflush(stderr);
        raise(caught); /* the earlier disposition: usually the default, which ends us */
    }
    return rc;
}
