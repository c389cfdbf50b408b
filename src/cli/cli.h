/* agora CLI — shared declarations: the command table, option parsing and the stderr logger. The CLI is a thin
 * front over the library: it parses arguments, calls one library function and decides what to print and which exit
 * code to return (0 success, 1 the run failed, 2 bad usage or a bad scenario, 130 interrupted). */
#ifndef AGORA_CLI_H
#define AGORA_CLI_H

#include <stdio.h>

#include "agora/agora.h"

enum { CLI_OK = 0, CLI_FAILED = 1, CLI_USAGE = 2, CLI_INTERRUPTED = 130 };

/* One command-line option: --long or -s, with or without a value. */
typedef struct cli_opt {
    const char *name;  /* "seed" for --seed */
    char short_name;   /* 'o' for -o, or 0 */
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

/* The logger used by every command: "agora: warn: ..." on stderr. */
extern agora_logger cli_logger;

/* Prints an agora_error as "agora CMD: file:line:col: message". */
void cli_error(const char *cmd, const agora_error *err);

/* Prints every error of a scenario that does not load (agora_scenario_load_report), one line each, then how many
 * when there are several. */
void cli_errors(const char *cmd, const agora_scenario_errors *errs);

/* Loads the scenario (the one positional argument) and applies --seed/--steps/--rounds/--threads/-o/--set and
 * --llm PROVIDER:MODEL / --llm-url URL together through agora_scenario_set_all, so they are checked exactly like the
 * file. Returns NULL after printing the error (*rc: the exit code). */
agora_scenario *cli_load_scenario(const char *cmd, const cli_args *a, int *rc);

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
