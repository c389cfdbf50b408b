/* agora CLI — entry point: global options (--help, --version), command dispatch, option parsing and logging.
 * libcurl is initialised here, once, before any thread starts (it is not safe to do inside the library). */
#include <stdlib.h>
#include <string.h>

#include <hdf5.h>

#include <curl/curl.h>

#include "cli/cli.h"
#include "core/ompenv.h"

static void cli_log(void *ud, agora_log_level level, const char *msg)
{
    (void)ud;
    fprintf(stderr, "agora: %s: %s\n", agora_log_level_name(level), msg);
}

agora_logger cli_logger = {cli_log, NULL, AGORA_LOG_WARN};

void cli_error(const char *cmd, const agora_error *err)
{
    char buf[1024];
    fprintf(stderr, "agora %s: %s\n", cmd, agora_error_format(err, buf, sizeof buf));
}

static const cli_opt help_opt = {"help", 'h', 0};
static const cli_opt version_opt = {"version", 'V', 0};

int cli_parse(const char *cmd, int argc, char **argv, const cli_opt *opts, cli_args *out)
{
    memset(out, 0, sizeof *out);
    int only_pos = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (only_pos || a[0] != '-' || a[1] == '\0') {
            if (out->n_pos >= (int)(sizeof out->pos / sizeof out->pos[0])) {
                fprintf(stderr, "agora %s: too many arguments\n", cmd);
                return CLI_USAGE;
            }
            out->pos[out->n_pos++] = a;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            only_pos = 1;
            continue;
        }
        const cli_opt *found = NULL;
        const char *value = NULL;
        if (a[1] == '-') {
            const char *name = a + 2, *eq = strchr(name, '=');
            size_t len = eq ? (size_t)(eq - name) : strlen(name);
            if (len == 4 && strncmp(name, "help", 4) == 0)
                found = &help_opt;
            if (len == 7 && strncmp(name, "version", 7) == 0)
                found = &version_opt;
            for (const cli_opt *o = opts; !found && o && o->name; o++)
                if (strlen(o->name) == len && strncmp(o->name, name, len) == 0)
                    found = o;
            if (found && eq) {
                if (!found->takes_value) {
                    fprintf(stderr, "agora %s: option --%s takes no value\n", cmd, found->name);
                    return CLI_USAGE;
                }
                value = eq + 1;
            }
        } else if (a[2] == '\0') {
            if (a[1] == 'h')
                found = &help_opt;
            if (a[1] == 'V')
                found = &version_opt;
            for (const cli_opt *o = opts; !found && o && o->name; o++)
                if (o->short_name == a[1])
                    found = o;
        }
        if (!found) {
            fprintf(stderr, "agora %s: unknown option %s (see agora %s --help)\n", cmd, a, cmd);
            return CLI_USAGE;
        }
        if (found->takes_value && !value) {
            if (i + 1 >= argc) {
                fprintf(stderr, "agora %s: option %s needs a value\n", cmd, a);
                return CLI_USAGE;
            }
            value = argv[++i];
        }
        if (out->n_opts >= (int)(sizeof out->opts / sizeof out->opts[0])) {
            fprintf(stderr, "agora %s: too many options\n", cmd);
            return CLI_USAGE;
        }
        out->opts[out->n_opts++] = (cli_arg){found, value};
    }
    return CLI_OK;
}

int cli_builtin(const cli_args *a, const char *help)
{
    if (cli_has(a, "help")) {
        fputs(help, stdout);
        return 1;
    }
    if (cli_has(a, "version")) {
        printf("agora %s\n", agora_version());
        return 1;
    }
    return 0;
}

const char *cli_get(const cli_args *a, const char *name)
{
    const char *v = NULL;
    for (int i = 0; i < a->n_opts; i++)
        if (strcmp(a->opts[i].opt->name, name) == 0)
            v = a->opts[i].value;
    return v;
}

int cli_has(const cli_args *a, const char *name)
{
    for (int i = 0; i < a->n_opts; i++)
        if (strcmp(a->opts[i].opt->name, name) == 0)
            return 1;
    return 0;
}

long long cli_uint(const char *cmd, const char *opt, const char *value)
{
    char *end = NULL;
    long long v = value && *value ? strtoll(value, &end, 10) : -1;
    if (!value || !*value || *end || v < 0) {
        fprintf(stderr, "agora %s: %s expects a non-negative integer, got \"%s\"\n", cmd, opt, value ? value : "");
        return -1;
    }
    return v;
}

int cli_load_plugins(const char *cmd, const cli_args *a)
{
    agora_error err;
    const char *env = getenv("AGORA_PLUGINS");
    if (env && *env) {
        char *list = strdup(env);
        if (!list) {
            fprintf(stderr, "agora %s: out of memory\n", cmd);
            return CLI_USAGE;
        }
        for (char *save = NULL, *p = strtok_r(list, ":", &save); p; p = strtok_r(NULL, ":", &save))
            if (agora_plugin_load(p, &err) != 0) {
                char buf[1024];
                fprintf(stderr, "agora %s: AGORA_PLUGINS: %s\n", cmd, agora_error_format(&err, buf, sizeof buf));
                free(list);
                return CLI_USAGE;
            }
        free(list);
    }
    for (int i = 0; i < a->n_opts; i++)
        if (strcmp(a->opts[i].opt->name, "plugin") == 0 && agora_plugin_load(a->opts[i].value, &err) != 0) {
            cli_error(cmd, &err);
            return CLI_USAGE;
        }
    return CLI_OK;
}

static const char usage[] =
    "usage: agora COMMAND [OPTIONS]\n"
    "\n"
    "agora runs agent-based simulations (SIR epidemics, ...) on grids and networks and writes each run to HDF5.\n"
    "\n"
    "commands:\n"
    "  run SCENARIO        run a scenario file and write its HDF5 run file\n"
    "  validate SCENARIO   check a scenario (and --set overrides) without running it\n"
    "  models [NAME]       list the models: parameters, metrics, fields and actions\n"
    "  inspect FILE        show a run file's provenance, status and final metrics\n"
    "  sweep SCENARIO      run a scenario over parameter values and seeds, in parallel, into one sweep file\n"
    "  export FILE         write a run file's tables (metrics, events, LLM calls, ...) as CSV files\n"
    "  interact SCENARIO   LLM actors in rounds: messages, actions, a world engine, an evaluation (--question Q\n"
    "                      makes the scenario first)\n"
    "  replay FILE         print a recorded interactions run again, round by round\n"
    "  mcp                 serve the Model Context Protocol on stdin/stdout: LLM agents run, steer and inspect\n"
    "                      simulations as tools\n"
    "\n"
    "options:\n"
    "  -h, --help          this help (also after a command: agora run --help)\n"
    "  -V, --version       print the version\n"
    "\n"
    "run, validate, models, sweep and mcp take --plugin FILE.so: models compiled apart from agora (README \"C\n"
    "plug-ins\"); AGORA_PLUGINS=A.so:B.so loads plug-ins for them too.\n";

int main(int argc, char **argv)
{
    agora__omp_wait_policy(argv); /* see core/ompenv.h */
    /* HDF5 closes itself at exit by default, and crashes doing so when a write to a full disk left a file it could
     * not close (agora_writer_close handles the file; the library's leftovers are dropped with the process). */
    H5dont_atexit();
    if (argc < 2) {
        fputs(usage, stderr);
        return CLI_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
        fputs(usage, stdout);
        return CLI_OK;
    }
    if (strcmp(cmd, "-V") == 0 || strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("agora %s\n", agora_version());
        return CLI_OK;
    }
    struct {
        const char *name;
        int (*fn)(int, char **);
    } cmds[] = {{"run", cmd_run},           {"validate", cmd_validate}, {"models", cmd_models},
                {"inspect", cmd_inspect},   {"sweep", cmd_sweep},       {"export", cmd_export},
                {"interact", cmd_interact}, {"replay", cmd_replay},     {"mcp", cmd_mcp}};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        if (strcmp(cmd, cmds[i].name) == 0) {
            curl_global_init(CURL_GLOBAL_DEFAULT);
            agora_init();
            int rc = cmds[i].fn(argc - 2, argv + 2);
            curl_global_cleanup();
            return rc;
        }
    }
    fprintf(stderr, "agora: unknown command \"%s\"\n\n%s", cmd, usage);
    return CLI_USAGE;
}
