/* agora CLI — stopping cleanly on a signal. A run, a sweep or an interaction stops at the next step (or call) and
 * closes its file with status "interrupted" whichever way it is told to stop: Ctrl-C (SIGINT), a batch system's
 * time limit, `timeout` or systemd (SIGTERM), a closed terminal (SIGHUP), or a reader that went away from a pipe
 * (`agora run ... | head`: SIGPIPE, after which writes to stdout fail instead of killing the process). The
 * handlers only set flags that the library polls; the exit code is then 128 + the signal, as a shell reports a
 * process killed by it. A second Ctrl-C (SIGINT) at least half a second after the first ends the process at once
 * (the file keeps what was flushed). Repeated SIGTERM and SIGHUP are absorbed: `timeout` and batch systems send
 * the same signal twice, to the process and to its group, within microseconds, and follow up with SIGKILL when
 * they mean it. */
#include <signal.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"

volatile int cli_cancel;
static volatile sig_atomic_t first_signal;
static struct timespec first_at; /* written once, in the handler of the first signal */

static double since_first(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now); /* async-signal-safe */
    return (double)(now.tv_sec - first_at.tv_sec) + 1e-9 * (double)(now.tv_nsec - first_at.tv_nsec);
}

static void on_signal(int sig)
{
    cli_cancel = 1;
    if (!first_signal) {
        clock_gettime(CLOCK_MONOTONIC, &first_at);
        first_signal = sig;
        return;
    }
    if (sig == SIGINT && since_first() >= 0.5) { /* a person pressing Ctrl-C again */
        signal(SIGINT, SIG_DFL);
        raise(SIGINT);
    }
}

static const int stop_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGPIPE};

static void install(int flags)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof stop_signals / sizeof stop_signals[0]; i++)
        sigaddset(&sa.sa_mask, stop_signals[i]); /* one handler at a time */
    sa.sa_flags = flags;
    for (size_t i = 0; i < sizeof stop_signals / sizeof stop_signals[0]; i++)
        if (stop_signals[i] != SIGPIPE || flags)
            sigaction(stop_signals[i], &sa, NULL);
}

void cli_signals_install(void)
{
    install(SA_RESTART);
}

void cli_signals_install_interrupting(void)
{
    install(0); /* SIGPIPE left as the caller sets it */
}

void cli_signals_restore(void)
{
    for (size_t i = 0; i < sizeof stop_signals / sizeof stop_signals[0]; i++)
        signal(stop_signals[i], stop_signals[i] == SIGPIPE ? SIG_IGN : SIG_DFL);
}

int cli_signal_exit_code(void)
{
    return first_signal ? 128 + first_signal : CLI_INTERRUPTED;
}

int cli_signalled(void)
{
    return first_signal != 0;
}
