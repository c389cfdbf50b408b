/* agora — MCP server internals shared by the protocol layer (server.c), the world tools (worlds.c) and the
 * simulation tools (simulate.c). */
#ifndef AGORA_MCP_INTERNAL_H
#define AGORA_MCP_INTERNAL_H

#include <jansson.h>

#include "agora/agora.h"
#include "core/internal.h"
#include "rules/model.h"

typedef struct mcp_world mcp_world;

struct agora_mcp {
    agora_mcp_limits lim;
    const volatile int *cancel; /* agora_mcp_options.cancel */
    char *output_dir;            /* absolute (not resolved: it may not exist yet) */
    char **roots, **roots_given; /* the read roots: real paths, and as given (absolute) */
    int n_roots;
    char **llm_urls;             /* --allow-llm: origins clients may send LLM calls to, besides loopback */
    int n_llm_urls;
    char **key_envs;             /* --llm-key-env: variables a client may name as llm.api_key_env */
    int n_key_envs;
    int threads;
    agora_logger logger;
    agora_mcp_write_fn write;
    void *write_ud;
    json_t *tools;      /* the tools/list array */
    json_t *schemas;    /* tool name -> input schema (borrowed from tools) */
    mcp_world **worlds; /* in creation order */
    int n_worlds;
    int64_t world_seq; /* worlds created so far, for the next "w<k>" */
    const agora_model **models; /* the models this session defined, in order (models.c); the registry owns them */
    int n_models;
    agora__rules_hooks hooks; /* how every model a client names or defines is resolved (models.c) */
    char model_file[4096];    /* the model file a client's path named last (its errors hide non-models' text) */
};

/* One tools/call in progress. */
typedef struct mcp_call {
    agora_mcp *srv;
    const json_t *progress_token; /* NULL: the client asked for no progress */
    double t0, last_progress;
    int invalid_params; /* set by a tool: its error is a JSON-RPC -32602, not an isError result */
} mcp_call;

/* A tool: fills *out (a new object, the structuredContent) and returns 0, or returns an AGORA_E* code with err set
 * (an isError result, or -32602 when it set call->invalid_params). */
typedef int (*mcp_tool_fn)(mcp_call *call, const json_t *args, json_t **out, agora_error *err);

/* Sends notifications/progress when the client asked for it, while work remains (progress < total): the first at
 * once, then at most every 0.2 s. */
void agora__mcp_progress(mcp_call *call, double progress, double total, const char *message);

/* Marks the call's error as invalid arguments (-32602) and sets err. */
int agora__mcp_bad_args(mcp_call *call, agora_error *err, const char *where, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* A scenario from the arguments {scenario: YAML text} or {path: file} (and {model: a name, path or definition} in
 * place of its model; a definition is defined for the session first), its model resolved through the session's
 * hooks (models.c), with the `set` overrides and then `extra`
 * (may be NULL; "steps=10") applied together, and every file it makes the library read checked against the read
 * roots (a `path` before it is opened). Errors from the scenario are tool errors, and those about a `path` file
 * show none of its text; giving both or neither is invalid arguments. own_output (may be NULL) receives the
 * output.path the client's own words name (its scenario text's, or one its overrides change; owned, NULL when
 * none). */
int agora__mcp_scenario(mcp_call *call, const json_t *args, const char *const *extra, int n_extra, agora_scenario **out,
                        char **own_output, agora_error *err);

/* The agents a scenario's space will hold, when known from its config (grid, mixed, generated graphs); -1 for a
 * graph read from a file. */
int64_t agora__mcp_space_agents(const json_t *space);

/* AGORA_ERANGE, saying so, when n agents exceed --max-agents. */
int agora__mcp_check_agents(const agora_mcp *srv, int64_t n, agora_error *err);

/* A JSON number, or null for a value that is not finite (JSON has no NaN). */
json_t *agora__mcp_number(double v);

/* The tools, by name. */
int agora__mcp_list_models(mcp_call *call, const json_t *args, json_t **out, agora_error *err);
int agora__mcp_validate_model(mcp_call *call, const json_t *args, json_t **out, agora_error *err);
int agora__mcp_create_world(mcp_call *call, const json_t *args, json_t **out, agora_error *err);
int agora__mcp_advance_world(mcp_call *call, const json_t *args, json_t **out, agora_error *err);
int agora__mcp_get_metrics(mcp_call *call, const json_t *args, json_t **out, agora_error *err);
int agora__mcp_get_agent_state(mcp_call *call, const json_t *args, json_t **out, agora_error *err);
int agora__mcp_set_agent_state(mcp_call *call, const json_t *args, json_t **out, agora_error *err);
int agora__mcp_apply_action(mcp_call *call, const json_t *args, json_t **out, agora_error *err);
int agora__mcp_snapshot_world(mcp_call *call, const json_t *args, json_t **out, agora_error *err);
int agora__mcp_restore_world(mcp_call *call, const json_t *args, json_t **out, agora_error *err);
int agora__mcp_copy_world(mcp_call *call, const json_t *args, json_t **out, agora_error *err);
int agora__mcp_list_worlds(mcp_call *call, const json_t *args, json_t **out, agora_error *err);
int agora__mcp_delete_world(mcp_call *call, const json_t *args, json_t **out, agora_error *err);
int agora__mcp_simulate_mechanics(mcp_call *call, const json_t *args, json_t **out, agora_error *err);
int agora__mcp_simulate_mixed(mcp_call *call, const json_t *args, json_t **out, agora_error *err);
int agora__mcp_simulate_interactions(mcp_call *call, const json_t *args, json_t **out, agora_error *err);

/* ---- models (models.c) ---- */

/* Sets up srv->hooks, which every scenario and definition from a client is resolved with; frees the session's table. */
void agora__mcp_models_init(agora_mcp *srv);
void agora__mcp_models_free(agora_mcp *srv);

/* Defines a client's model definition (an object, or {define: {...}}) for this session (see models.c: names, the
 * session's limit). On failure err's message lists the definition's errors (the first few) and says how many. */
int agora__mcp_define(mcp_call *call, const json_t *def, const agora_model **out, agora_error *err);

/* Frees every world (server shutdown). */
void agora__mcp_free_worlds(agora_mcp *srv);

/* The "stopped" note of a call cut short by the wall-time limit. */
json_t *agora__mcp_stopped(const agora_mcp *srv);

/* The limits as a JSON object (with the output directory and the read roots). */
json_t *agora__mcp_limits_json(const agora_mcp *srv);

/* ---- places (paths.c): where the tools may write and read ---- */

/* Sets srv->output_dir and the read roots from the options (default: the working directory). Errors: AGORA_EINVAL
 * naming a root that is not a directory, AGORA_ENOMEM. */
int agora__mcp_places_init(agora_mcp *srv, const agora_mcp_options *opt, agora_error *err);
void agora__mcp_places_free(agora_mcp *srv);

/* Adds output_dir and allow_read to a limits object; a sentence saying both to a buffer (the instructions). */
void agora__mcp_places_add(const agora_mcp *srv, json_t *limits);
void agora__mcp_places_describe(const agora_mcp *srv, agora__buf *b);

/* Checks that the file `path` (relative: to base_dir, or with base_dir NULL or "." to the working directory) lies
 * in a read root, as written and once resolved; writes its real path to real (PATH_MAX bytes). Errors name `key`:
 * AGORA_EINVAL outside the roots (without looking at the file), AGORA_EIO when it cannot be resolved. */
int agora__mcp_read_path(const agora_mcp *srv, const char *path, const char *base_dir, const char *key, char *real,
                         agora_error *err);

/* Checks every file a loaded scenario makes the library read: an edge list (space.path), replay recordings
 * ({provider: replay, path} anywhere in the configuration), enrich sources. */
int agora__mcp_check_reads(const agora_mcp *srv, const agora_scenario *sc, agora_error *err);

/* Refuses an LLM endpoint a client chose that the server has not allowed (llm.base_url, in any llm block: the top
 * one, roles, actors, personas), and an llm.api_key_env other than the server's: a prompt-injected client must not
 * send the server's keys, or any other variable of its environment, to a host of its choosing. */
/* Whether the server was told to stop (agora_mcp_options.cancel). */
int agora__mcp_cancelled(const agora_mcp *srv);

int agora__mcp_check_llm(const agora_mcp *srv, const agora_scenario *sc, agora_error *err);

/* The run file: `name` (a relative name under the output directory; NULL: a new file <stem>.h5, <stem>-2.h5, ...)
 * reserved as a new empty file, without following links, its real path in out. Refusals name `key`; a malformed
 * name is -32602 when `argument` is set (the tool's own argument), else a tool error. */
int agora__mcp_place_output(mcp_call *call, const char *name, const char *key, int argument, const char *stem,
                            char *out, size_t size, agora_error *err);

/* Removes a reserved run file that is still empty (the run failed before writing it). */
void agora__mcp_release_output(const char *path);

/* For an error about the scenario file `file` (its real path; shown as `shown`): keeps what was wrong and where,
 * drops what the file holds (values; a non-scenario's keys; a syntax error's context). Errors about overrides are
 * left alone. */
void agora__mcp_hide_content(agora_error *err, const char *file, const char *shown);

/* The same for an error about the model file `file` (its real path) a client named by path: a file that holds a
 * model definition keeps its errors; any other says only that it is not one. */
void agora__mcp_hide_model_content(agora_error *err, const char *file);

/* Drops the quoted line of an edge-list file's error ("..., got \"...\""). */
void agora__mcp_hide_quoted_line(agora_error *err);

#endif
