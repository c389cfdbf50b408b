/* agora CLI — shared declarations: the command table, option parsing and the stderr logger. The CLI is a thin
 * front over the library: it parses arguments, calls one library function and decides what to print and which exit
 * code to return (0 success, 1 the run failed, 2 bad usage or a bad scenario, 3 the run was degraded, 128 + the
 * signal interrupted). */
#ifndef AGORA_CLI_H
#define AGORA_CLI_H

#include <stdio.h>

#include "agora/agora.h"

/* Exit statuses (README "Exit status"): a degraded run reached its end, but some of what was to come from the LLM
 * did not (the rules stood in; the summary says why). */
enum { CLI_OK = 0, CLI_FAILED = 1, CLI_USAGE = 2, CLI_DEGRADED = 3, CLI_INTERRUPTED = 130 };

/* One command-line option: --long or -s, with or without a value. */
typedef struct cli_opt {
    const char *name; /* "seed" for --seed */
    char short_name;  /* 'o' for -o, or 0 */
    int takes_value;
} cli_opt;

/* A parsed option occurrence (options may repeat, e.g. --set). */
typedef struct cli_arg {
    const cli_opt *opt;
    const char *value;
} cli_arg;

typedef struct cli_args {
    cli_arg opts[256];
    int n_opts;
    const char *pos[16];
    int n_pos;
} cli_args;

/* Parses argv against `opts` (--name value, --name=value, -s value; `--` ends options). Prints the problem and
 * returns CLI_USAGE on an unknown option or a missing value. --help/-h and --version/-V are always accepted (as
 * options "help" and "version"). */
int cli_parse(const char *cmd, int argc, char **argv, const cli_opt *opts, cli_args *out);

/* Handles --help (prints `help`) and --version; returns 1 when the command should exit 0 right away. */
int cli_builtin(const cli_args *a, const char *help);

/* The last value of an option, or NULL; whether a flag was given. */
const char *cli_get(const cli_args *a, const char *name);
int cli_has(const cli_args *a, const char *name);

/* Parses a non-negative integer option value; prints an error and returns -1 when it is not one. */
long long cli_uint(const char *cmd, const char *opt, const char *value);

/* Loads the plug-ins of AGORA_PLUGINS (colon-separated paths), then those of each --plugin option, in order
 * (agora_plugin_load: a file loaded twice is loaded once). Prints the first error and returns CLI_USAGE; CLI_OK when
 * all loaded. Every command that resolves a model name calls it before anything else; a sweep's workers and MPI
 * ranks get the models that way too (forked after it, or running the same command line). */
int cli_load_plugins(const char *cmd, const cli_args *a);

/* The logger used by every command: "agora: warn: ..." on stderr. */
extern agora_logger cli_logger;

/* The lines of a summary's "llm" object (agora_personas_llm_summary; the interactions engine's): its calls, the
 * budget that stopped them, why the run is degraded — each "  LABEL VALUE" with the label padded to `width`.
 * `what` names the decisions ("persona decisions", "turns"), `after` what they did once the budget was reached
 * ("followed the rules"). Nothing for NULL. */
void cli_print_llm(FILE *out, const json_t *llm, int width, const char *what, const char *after);

/* Prints an agora_error as "agora CMD: file:line:col: message". */
void cli_error(const char *cmd, const agora_error *err);

/* Prints every error of a scenario that does not load (agora_scenario_load_report), one line each, then how many
 * when there are several. */
void cli_errors(const char *cmd, const agora_scenario_errors *errs);

/* Loads the scenario (the one positional argument) and applies --seed/--steps/--rounds/--threads/-o/--set and
 * --llm PROVIDER:MODEL / --llm-url URL together through agora_scenario_set_all, so they are checked exactly like the
 * file. Returns NULL after printing the error (*rc: the exit code). */
agora_scenario *cli_load_scenario(const char *cmd, const cli_args *a, int *rc);

/* Stopping on SIGINT, SIGTERM, SIGHUP and SIGPIPE (signals.c): install sets cli_cancel (the library's cancel
 * flag) on the first of them; restore puts the defaults back (SIGPIPE stays ignored, so a closed stdout is an
 * error on write). The exit code of an interrupted command is 128 + the first signal (130 for Ctrl-C, 143 for
 * SIGTERM, 129 for SIGHUP, 141 for a closed pipe), or 130 when it stopped for another reason. */
extern volatile int cli_cancel;
void cli_signals_install(void);
/* The same for a command that waits on reads (agora mcp): system calls are interrupted, not restarted, and
 * SIGPIPE is left alone. */
void cli_signals_install_interrupting(void);
void cli_signals_restore(void);
int cli_signal_exit_code(void);
int cli_signalled(void);

/* The second half of cli_load_scenario: the overrides applied to a scenario already loaded (taken over: destroyed
 * on error). */
agora_scenario *cli_apply_overrides(const char *cmd, const cli_args *a, agora_scenario *sc, int *rc);

int cmd_run(int argc, char **argv);
int cmd_interact(int argc, char **argv);
int cmd_replay(int argc, char **argv);
int cmd_validate(int argc, char **argv);
int cmd_models(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_sweep(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_mcp(int argc, char **argv);

#endif
