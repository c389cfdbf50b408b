/* agora — process set-up and version.
 *
 * GSL's and igraph's default error handlers abort the process; a library must not. agora_init turns them off once
 * per process (pthread_once, so concurrent worlds may race to call it). igraph's handler is replaced by one that
 * frees igraph's temporaries and keeps the reason in a thread-local buffer, where agora__igraph_reason() finds it
 * to build an agora_error. */
#include <pthread.h>
#include <stdio.h>

#include <gsl/gsl_errno.h>
#include <igraph.h>

#include "agora/agora.h"
#include "core/internal.h"

static _Thread_local char igraph_reason[256];

/* igraph reports an error once where it happens and again, with an empty reason, at every level it unwinds through;
 * the first report is the informative one, so later ones do not overwrite it (agora__igraph_reset clears it before
 * each igraph call). */
static void igraph_error_keep(const char *reason, const char *file, int line, igraph_error_t code)
{
    (void)file;
    (void)line;
    if (!igraph_reason[0])
        snprintf(igraph_reason, sizeof igraph_reason, "%s (%s)", reason && *reason ? reason : "igraph error",
                 igraph_strerror(code));
    IGRAPH_FINALLY_FREE();
}

static void igraph_warning_drop(const char *reason, const char *file, int line)
{
    (void)reason;
    (void)file;
    (void)line;
}

static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static void init_process(void)
{
    gsl_set_error_handler_off();
    igraph_set_error_handler(igraph_error_keep);
    igraph_set_warning_handler(igraph_warning_drop);
}

void agora_init(void)
{
    pthread_once(&init_once, init_process);
}

void agora__igraph_reset(void)
{
    igraph_reason[0] = '\0';
}

const char *agora__igraph_reason(void)
{
    return igraph_reason[0] ? igraph_reason : "igraph error";
}

const char *agora_version(void)
{
    return AGORA_VERSION;
}
