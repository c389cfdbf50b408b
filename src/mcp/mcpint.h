/* agora — MCP server internals shared by the protocol layer (server.c), the world tools (worlds.c) and the
 * simulation tools (simulate.c). */
#ifndef AGORA_MCP_INTERNAL_H
#define AGORA_MCP_INTERNAL_H

#include <jansson.h>

#include "agora/agora.h"

typedef struct mcp_world mcp_world;

struct agora_mcp {
    agora_mcp_limits lim;
    char *output_dir;
    int threads;
    agora_logger logger;
    agora_mcp_write_fn write;
    void *write_ud;
    json_t *tools;      /* the tools/list array */
    json_t *schemas;    /* tool name -> input schema (borrowed from tools) */
    mcp_world **worlds; /* in creation order */
    int n_worlds;
    int64_t world_seq; /* worlds created so far, for the next "w<k>" */
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

/* A scenario from the arguments {scenario: YAML text} or {path: file}, with the `set` overrides and then `extra`
 * (may be NULL; "steps=10") applied together. Errors from the scenario are tool errors; giving both or neither is
 * invalid arguments. */
int agora__mcp_scenario(mcp_call *call, const json_t *args, const char *const *extra, int n_extra, agora_scenario **out,
                        agora_error *err);

/* The agents a scenario's space will hold, when known from its config (grid, mixed, generated graphs); -1 for a
 * graph read from a file. */
int64_t agora__mcp_space_agents(const json_t *space);

/* AGORA_ERANGE, saying so, when n agents exceed --max-agents. */
int agora__mcp_check_agents(const agora_mcp *srv, int64_t n, agora_error *err);

/* A JSON number, or null for a value that is not finite (JSON has no NaN). */
json_t *agora__mcp_number(double v);

/* The tools, by name. */
int agora__mcp_list_models(mcp_call *call, const json_t *args, json_t **out, agora_error *err);
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

/* Frees every world (server shutdown). */
void agora__mcp_free_worlds(agora_mcp *srv);

/* The "stopped" note of a call cut short by the wall-time limit. */
json_t *agora__mcp_stopped(const agora_mcp *srv);

/* The limits as a JSON object. */
json_t *agora__mcp_limits_json(const agora_mcp *srv);

#endif
