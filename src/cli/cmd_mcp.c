/* agora CLI — `agora mcp`: the MCP server on stdin/stdout (see include/agora/mcp.h). Logs go to stderr; stdout
 * carries protocol messages only. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static const cli_opt mcp_opts[] = {{"max-agents", 0, 1},    {"max-steps", 0, 1},  {"max-worlds", 0, 1},
                                   {"max-snapshots", 0, 1}, {"max-models", 0, 1}, {"max-wall", 0, 1},
                                   {"output-dir", 0, 1},    {"allow-read", 0, 1}, {"allow-llm", 0, 1},
                                   {"llm-key-env", 0, 1},   {"threads", 't', 1},  {"log-level", 0, 1},
                                   {"plugin", 0, 1},        {NULL, 0, 0}};

static const char mcp_help[] =
    "usage: agora mcp [OPTIONS]\n"
    "\n"
    "Serves the Model Context Protocol over stdin/stdout (JSON-RPC 2.0, one message per line), for LLM agents:\n"
    "simulate_mechanics, simulate_mixed, simulate_interactions, list_models, validate_model, and live worlds\n"
    "(create_world, advance_world, get_metrics, get_agent_state, set_agent_state, apply_action, snapshot_world,\n"
    "restore_world, copy_world, list_worlds, delete_world). Logs go to stderr.\n"
    "\n"
    "options:\n"
    "      --max-agents N      agents per world or simulation (default 10000000)\n"
    "      --max-steps N       steps per advance_world or simulate_* call (default 100000)\n"
    "      --max-worlds N      live worlds at once (default 32)\n"
    "      --max-snapshots N   snapshots per world (default 16)\n"
    "      --max-models N      model definitions a client may make (default 32, at most 128)\n"
    "      --max-wall S        seconds per call; a longer run stops there and says so (default 300)\n"
    "      --output-dir DIR    where simulate_* write run files: only there, by a relative name or a new one\n"
    "                          (default runs/mcp)\n"
    "      --allow-read DIR    a directory the tools may read files from (scenarios, edge lists, recordings);\n"
    "                          repeatable (default: the directory the server starts in)\n"
    "      --allow-llm URL     an LLM endpoint clients may name as llm.base_url, besides loopback hosts and the\n"
    "                          providers' defaults; repeatable\n"
    "      --llm-key-env NAME  an environment variable clients may name as llm.api_key_env, besides\n"
    "                          AGORA_API_KEY and OPENAI_API_KEY; repeatable\n"
    "  -t, --threads N         OpenMP threads per world (default: all cores)\n"
    "      --log-level LEVEL   error, warn (default), info or debug\n"
    "      --plugin FILE.so    serve the models of a C plug-in too (repeatable; also AGORA_PLUGINS); only the\n"
    "                          command line loads plug-ins, a client never can\n"
    "\n"
    "Claude Desktop / Claude Code: {\"mcpServers\": {\"agora\": {\"command\": \"/path/to/agora\", \"args\": "
    "[\"mcp\"]}}}\n";

int cmd_mcp(int argc, char **argv)
{
    cli_args a;
    int rc = cli_parse("mcp", argc, argv, mcp_opts, &a);
    if (rc != CLI_OK)
        return rc;
    if (cli_builtin(&a, mcp_help))
        return CLI_OK;
    if ((rc = cli_load_plugins("mcp", &a)) != CLI_OK)
        return rc;
    if (a.n_pos > 0) {
        fprintf(stderr, "agora mcp: takes no arguments (see agora mcp --help)\n");
        return CLI_USAGE;
    }
    agora_mcp_options opt = {0};
    struct {
        const char *name;
        int64_t *i64;
        int *i;
    } ints[] = {{"max-agents", &opt.limits.max_agents, NULL}, {"max-steps", &opt.limits.max_steps, NULL},
                {"max-worlds", NULL, &opt.limits.max_worlds}, {"max-snapshots", NULL, &opt.limits.max_snapshots},
                {"max-models", NULL, &opt.limits.max_models}, {"threads", NULL, &opt.threads}};
    for (size_t k = 0; k < sizeof ints / sizeof ints[0]; k++) {
        const char *v = cli_get(&a, ints[k].name);
        if (!v)
            continue;
        char opt_name[32];
        snprintf(opt_name, sizeof opt_name, "--%s", ints[k].name);
        long long x = cli_uint("mcp", opt_name, v);
        if (x < 1 || (ints[k].i && x > 1000000)) {
            if (x >= 0)
                fprintf(stderr, "agora mcp: %s expects a positive integer%s, got %s\n", opt_name,
                        ints[k].i ? " up to 1000000" : "", v);
            return CLI_USAGE;
        }
        if (ints[k].i64)
            *ints[k].i64 = x;
        else
            *ints[k].i = (int)x;
    }
    const char *wall = cli_get(&a, "max-wall");
    if (wall) {
        char *end = NULL;
        opt.limits.max_wall_s = strtod(wall, &end);
        if (!*wall || *end || !(opt.limits.max_wall_s > 0)) {
            fprintf(stderr, "agora mcp: --max-wall expects a positive number of seconds, got \"%s\"\n", wall);
            return CLI_USAGE;
        }
    }
    agora_logger logger = cli_logger;
    const char *level = cli_get(&a, "log-level");
    if (level && agora_log_level_parse(level, &logger.level) != 0) {
        fprintf(stderr, "agora mcp: --log-level expects error, warn, info or debug, got \"%s\"\n", level);
        return CLI_USAGE;
    }
    opt.output_dir = cli_get(&a, "output-dir");
    const char *roots[256];
    for (int i = 0; i < a.n_opts; i++)
        if (strcmp(a.opts[i].opt->name, "allow-read") == 0 && opt.n_allow_read < 256)
            roots[opt.n_allow_read++] = a.opts[i].value;
    opt.allow_read = roots;
    const char *urls[256], *keys[256];
    for (int i = 0; i < a.n_opts; i++) {
        if (strcmp(a.opts[i].opt->name, "allow-llm") == 0 && opt.n_allow_llm < 256)
            urls[opt.n_allow_llm++] = a.opts[i].value;
        if (strcmp(a.opts[i].opt->name, "llm-key-env") == 0 && opt.n_llm_key_env < 256)
            keys[opt.n_llm_key_env++] = a.opts[i].value;
    }
    opt.allow_llm = urls;
    opt.llm_key_env = keys;
    opt.logger = &logger;
    /* SIGTERM, SIGINT, SIGHUP: a running simulation closes its file "interrupted", then the server ends; the read
     * of the next message is interrupted rather than restarted. */
    cli_signals_install_interrupting();
    opt.cancel = &cli_cancel;
    signal(SIGPIPE, SIG_IGN); /* a client that goes away ends the input; writes to it must not kill us first */
    agora_log(&logger, AGORA_LOG_INFO, "MCP server on stdio (agora %s)", agora_version());
    agora_error err;
    if (agora_mcp_serve(stdin, stdout, &opt, &err) != 0) {
        cli_error("mcp", &err);
        return err.code == AGORA_EINVAL ? CLI_USAGE : CLI_FAILED; /* a bad --allow-read: before any message */
    }
    return cli_signalled() ? cli_signal_exit_code() : CLI_OK;
}
