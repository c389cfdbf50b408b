/* agora CLI — stopping cleanly on a signal. A run, a sweep or an interaction stops at the next step (or call) and
 * closes its file with status "interrupted" whichever way it is told to stop: Ctrl-C (SIGINT), a batch system's
 * time limit, `timeout` or systemd (SIGTERM), a closed terminal (SIGHUP), or a reader that went away from a pipe
 * (`agora run ... | head`: SIGPIPE, after which writes to stdout fail instead of killing the process). The
 * handlers only set flags that the library polls; the exit code is then 128 + the signal, as a shell reports a
 * process killed by it. A second SIGINT, SIGTERM or SIGHUP ends the process at once (the file keeps what was
 * flushed). */
#include <signal.h>
#include <string.h>

#include "cli/cli.h"

volatile int cli_cancel;
static volatile sig_atomic_t first_signal;

static void on_signal(int sig)
{
    if (!first_signal)
        first_signal = sig;
    cli_cancel = 1;
    if (sig != SIGPIPE)
        signal(sig, SIG_DFL); /* the second one ends the process */
}

static const int stop_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGPIPE};

static void install(int flags)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
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
