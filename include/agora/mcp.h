/* agora — the MCP server: LLM agents run, steer and inspect simulations through tool calls.
 *
 * A Model Context Protocol server (JSON-RPC 2.0, one message per line) over the library, not a copy of it: its
 * tools call agora_run (simulate_mechanics, simulate_mixed), agora_interact_run (simulate_interactions) and the world
 * API (create_world, advance_world, get_metrics, get_agent_state, set_agent_state, apply_action, snapshot_world,
 * restore_world, copy_world, list_worlds, delete_world), plus list_models and validate_model. Worlds stay alive
 * between calls, so an agent can experiment: snapshot, change, advance, compare, roll back. A client may define
 * models in the rule language (create_world's and simulate_*'s `model` as a definition, a scenario's
 * model: {define: ...}); they are its session's, found by name only there, under names no known model has, at
 * most limits.max_models of them.
 *
 * Every tool's arguments are checked against its JSON Schema (the one tools/list shows): a violation is JSON-RPC
 * error -32602 naming the argument. A failure inside a tool (an unknown world, a scenario error with its line, an
 * action the model refuses, a limit reached) is a result with isError: true and a message the caller can act on.
 * Nothing a client sends stops the server. Limits on agents per world, steps per call, worlds, snapshots and wall
 * time per call are configurable and reported in the initialize instructions and by list_worlds/list_models.
 * When a tools/call carries _meta.progressToken, long tools send notifications/progress before their result.
 *
 * The client may be an LLM agent that was prompt-injected, so the tools stay in the places they were given. Run
 * files go under the output directory only, by a plain relative name (the `output` argument, or an output.path in
 * the client's own scenario text or `set` overrides) or a new one; absolute names, ".." and symbolic links on the
 * way are refused, and an existing file is never overwritten. Files are read (a scenario `path`, a model file named
 * by path, an edge list, a replay recording, enrich sources) only inside the read roots, checked after resolving
 * links. An error about a
 * file named by `path` says what is wrong and where, never what the file holds. tools/list gives every tool MCP
 * annotations (readOnlyHint, destructiveHint, idempotentHint, openWorldHint). */
#ifndef AGORA_MCP_H
#define AGORA_MCP_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "agora/error.h"
#include "agora/export.h"
#include "agora/log.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct agora_mcp agora_mcp;

/* Limits; a field <= 0 takes its default (in brackets). */
typedef struct agora_mcp_limits {
    int64_t max_agents; /* agents in one world or one simulation [10,000,000] */
    int64_t max_steps;  /* steps per advance_world or simulate_* call [100,000] */
    int max_worlds;     /* worlds alive at once [32] */
    int max_snapshots;  /* snapshots kept per world [16] */
    double max_wall_s;  /* wall time per call: a longer run stops there and says so [300] */
    int max_models;     /* distinct model definitions a session may make (create_world's model, ...) [32] */
} agora_mcp_limits;

typedef struct agora_mcp_options {
    agora_mcp_limits limits;
    const char *output_dir; /* where simulate_* write their run files, by a relative name or a new one [runs/mcp] */
    const char *const *allow_read; /* n_allow_read directories the tools may read files from [the working dir] */
    int n_allow_read;
    /* LLM endpoints (base URLs; their scheme, host and port count) a client may direct calls to with llm.base_url,
     * besides loopback hosts and the providers' defaults (or OLLAMA_HOST / OPENAI_BASE_URL of the server's
     * environment), which are always allowed. */
    const char *const *allow_llm;
    int n_allow_llm;
    /* Environment variables a client may name as llm.api_key_env, besides AGORA_API_KEY and OPENAI_API_KEY. */
    const char *const *llm_key_env;
    int n_llm_key_env;
    int threads;                /* OpenMP threads per world and run (<= 0: all cores) */
    /* May be NULL; once nonzero (a signal handler sets it), a running simulation or advance_world stops at its next
     * step (the run file is closed "interrupted" and the result says so) and agora_mcp_serve returns. */
    const volatile int *cancel;
    const agora_logger *logger; /* may be NULL; never stdout */
} agora_mcp_options;

/* Writes one protocol message (a JSON text without newline); the server calls it for replies and notifications. */
typedef void (*agora_mcp_write_fn)(void *ud, const char *line, size_t len);

/* A server with no worlds. `opt` may be NULL (defaults); it is copied, and its read roots resolved (real paths) now.
 * Owned by the caller (agora_mcp_destroy). Errors: AGORA_EINVAL (a read root that is not a directory), AGORA_ENOMEM. */
AGORA_API int agora_mcp_create(const agora_mcp_options *opt, agora_mcp_write_fn write, void *ud, agora_mcp **out,
                               agora_error *err);

/* Handles one incoming line: writes its reply (none for a notification), after any progress notifications. */
AGORA_API void agora_mcp_handle(agora_mcp *srv, const char *line, size_t len);

/* The limits in force (defaults filled in). */
AGORA_API agora_mcp_limits agora_mcp_get_limits(const agora_mcp *srv);

/* Frees the server and every world it holds; NULL is allowed. */
AGORA_API void agora_mcp_destroy(agora_mcp *srv);

/* Serves `in` until end of input (or opt->cancel), writing to `out` (flushed after every message). Returns 0 at end of input or when cancelled,
 * AGORA_EIO when reading fails. */
AGORA_API int agora_mcp_serve(FILE *in, FILE *out, const agora_mcp_options *opt, agora_error *err);

#ifdef __cplusplus
}
#endif
#endif
