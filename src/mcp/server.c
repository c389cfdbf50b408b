/* agora — the MCP server's protocol layer: JSON-RPC 2.0 messages, one per line (initialize, ping, tools/list,
 * tools/call), the tool table with every tool's JSON Schema, argument validation (-32602), results and isError
 * results, progress notifications, and the stdio loop.
 *
 * Batches (JSON arrays) are refused with -32600: MCP 2025-06-18 removed them and a line-based client never needs
 * them. Notifications (no id) are never answered. Replies from the client (to requests this server never sends)
 * are ignored. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "mcp/mcpint.h"

#define MCP_LATEST "2025-11-25"
static const char *const mcp_versions[] = {"2024-11-05", "2025-03-26", "2025-06-18", MCP_LATEST};

enum {
    RPC_PARSE = -32700,
    RPC_INVALID_REQUEST = -32600,
    RPC_NO_METHOD = -32601,
    RPC_INVALID_PARAMS = -32602,
    RPC_INTERNAL = -32603
};

/* ---- tools ----------------------------------------------------------------------------------------------------- */

/* Schema fragments shared by several tools. */
#define S_WORLD "\"world\": {\"type\": \"string\", \"minLength\": 1, \"description\": \"a world id from create_world\"}"
#define S_SNAPSHOT                                                                                                     \
    "\"snapshot\": {\"type\": \"string\", \"minLength\": 1, \"description\": \"a snapshot's id (s1) or the label "     \
    "given to snapshot_world\"}"
#define S_SCENARIO                                                                                                     \
    "\"scenario\": {\"type\": \"string\", \"minLength\": 1, \"description\": \"a scenario as YAML (or JSON) text\"},"  \
    "\"path\": {\"type\": \"string\", \"minLength\": 1, \"description\": \"a scenario file inside the server's "       \
    "read roots (see initialize or list_worlds: allow_read), e.g. scenarios/sir_grid.yaml\"},"                         \
    "\"set\": {\"type\": \"array\", \"items\": {\"type\": \"string\", \"minLength\": 3}, \"maxItems\": 256,"           \
    " \"description\": \"overrides as dotted.key=value, e.g. params.beta=0.1 or space.width=100\"}"
#define S_SELECT                                                                                                       \
    "\"ids\": {\"type\": \"array\", \"items\": {\"type\": \"integer\", \"minimum\": 0}, \"minItems\": 1,"              \
    " \"maxItems\": 100000, \"description\": \"agent ids (0-based)\"},"                                                \
    "\"range\": {\"type\": \"object\", \"properties\": {\"start\": {\"type\": \"integer\", \"minimum\": 0},"           \
    " \"stop\": {\"type\": \"integer\", \"minimum\": 1}}, \"required\": [\"start\", \"stop\"],"                        \
    " \"additionalProperties\": false, \"description\": \"agents start .. stop-1\"},"                                  \
    "\"region\": {\"type\": \"object\", \"properties\": {\"x0\": {\"type\": \"integer\", \"minimum\": 0},"             \
    " \"y0\": {\"type\": \"integer\", \"minimum\": 0}, \"x1\": {\"type\": \"integer\", \"minimum\": 1},"               \
    " \"y1\": {\"type\": \"integer\", \"minimum\": 1}}, \"required\": [\"x0\", \"y0\", \"x1\", \"y1\"],"               \
    " \"additionalProperties\": false, \"description\": \"grid worlds: the cells x0 <= x < x1, y0 <= y < y1"           \
    " (agent id = y * width + x)\"}"
#define S_OUTPUT                                                                                                       \
    "{\"type\": \"string\", \"minLength\": 1, \"maxLength\": 1024, \"description\": \"the run file's name, "           \
    "relative to the server's output directory (e.g. study/run1.h5; no absolute path, no ..); it must not exist "      \
    "yet. Default: a new file named after the scenario\"}"
#define S_LLM                                                                                                          \
    "\"llm\": {\"type\": \"object\", \"description\": \"LLM settings merged into the scenario's llm block, e.g."       \
    " {provider: openai|ollama, model, base_url}\"}"

#define S_MODEL_DEF                                                                                                    \
    "{\"type\": \"object\", \"description\": \"a model definition in the rule language, the mapping a "                \
    "models/*.yaml file holds: {name, summary, params: {p: {type: real, default, min, max}}, vars: {state: "           \
    "{values: [S, I, R], init: S, place: {I: initial}}}, rules: {state: <expression>}, metrics: {m: <expression>}, "   \
    "actions: {...}} (or {define: {...}}); check it first with validate_model. Once defined, the session can use "     \
    "it by its name\"}"
#define S_MODEL                                                                                                        \
    "\"model\": {\"oneOf\": [{\"type\": \"string\", \"minLength\": 1, \"description\": \"a model's name (see "         \
    "list_models) or a model file's path inside the read roots\"}, " S_MODEL_DEF "]}"

/* Tool annotations (MCP 2025-03-26): hints a client shows or acts on. Read-only tools change nothing; destructive
 * ones may replace what exists (agents' state, a world, the state a restore replaces); idempotent ones have no
 * further effect when repeated with the same arguments; open-world ones may call an outside service (an LLM). The
 * simulate_* tools only add files (never an existing one) and so are not destructive. */
enum { A_READ_ONLY = 1, A_DESTRUCTIVE = 2, A_IDEMPOTENT = 4, A_OPEN_WORLD = 8 };

typedef struct mcp_tool {
    const char *name, *title, *description;
    const char *schema; /* the input schema; %lld is the steps limit where used */
    mcp_tool_fn fn;
    const char *output; /* the output schema (structuredContent), or NULL */
    int hints;          /* A_* */
} mcp_tool;

/* Output schemas: what a client may rely on (more keys may come). Metric values are null when not finite. */
#define O_NUM "{\"type\": [\"number\", \"null\"]}"
#define O_METRICS "{\"type\": \"object\", \"additionalProperties\": " O_NUM "}"
#define O_SERIES "{\"type\": \"object\", \"additionalProperties\": {\"type\": \"array\", \"items\": " O_NUM "}}"
#define O_SNAPS                                                                                                        \
    "{\"type\": \"array\", \"items\": {\"type\": \"object\", \"properties\": {\"snapshot\": {\"type\": \"string\"},"   \
    " \"t\": {\"type\": \"integer\"}, \"label\": {\"type\": \"string\"}}, \"required\": [\"snapshot\", \"t\"]}}"
#define O_WORLD                                                                                                        \
    "\"world\": {\"type\": \"string\"}, \"model\": {\"type\": \"string\"}, \"space\": {\"type\": \"string\"},"         \
    " \"n_agents\": {\"type\": \"integer\"}, \"t\": {\"type\": \"integer\"}, \"snapshots\": " O_SNAPS

static const mcp_tool mcp_tools[] = {
    {"simulate_mechanics", "Run a scenario (no LLM)",
     "Runs a mechanics scenario (rule-based agents on a grid or network: SIR epidemics, opinion dynamics, markets) "
     "to the end and writes its HDF5 run file. Give the scenario as YAML text or a file path, with overrides. Returns "
     "the final value and peak of every metric, the metrics over time (at most about 100 points) and the file's "
     "path. Personas, if the scenario has any, use their rule policies. model (a name, or a model definition object) "
     "replaces the scenario's model; a scenario text may also define one inline as model: {define: {...}}.",
     "{\"type\": \"object\", \"properties\": {" S_SCENARIO "," S_MODEL ","
     "\"steps\": {\"type\": \"integer\", \"minimum\": 0, \"maximum\": %lld},"
     "\"seed\": {\"type\": \"integer\", \"minimum\": 0},"
     "\"output\": " S_OUTPUT "},"
     "\"additionalProperties\": false}",
     agora__mcp_simulate_mechanics, NULL, 0},
    {"simulate_mixed", "Run a scenario with LLM personas",
     "Runs a mixed scenario: LLM personas (a health minister, a central bank, ...) decide every few steps and their "
     "validated actions steer the mechanical population. Like simulate_mechanics, plus every persona decision. "
     "offline: true uses the personas' rule policies instead of the LLM; llm overrides the scenario's LLM settings; "
     "model (a name, or a model definition object) replaces the scenario's model.",
     "{\"type\": \"object\", \"properties\": {" S_SCENARIO "," S_MODEL ","
     "\"steps\": {\"type\": \"integer\", \"minimum\": 0, \"maximum\": %lld},"
     "\"seed\": {\"type\": \"integer\", \"minimum\": 0},"
     "\"output\": " S_OUTPUT ","
     "\"offline\": {\"type\": \"boolean\"}," S_LLM "},"
     "\"additionalProperties\": false}",
     agora__mcp_simulate_mixed, NULL, A_OPEN_WORLD},
    {"simulate_interactions", "LLM actors in rounds",
     "Runs an interactions scenario: a few LLM actors exchange messages and take actions over rounds, a world engine "
     "resolves them, and an evaluation scores the run. Give a scenario (YAML text or path), or actors [{role, "
     "traits}] with rounds and a world description. Returns the evaluation, the world's narrative per round, the "
     "final state and the run file's path. Needs an LLM (llm: {provider, model, base_url}).",
     "{\"type\": \"object\", \"properties\": {" S_SCENARIO ","
     "\"actors\": {\"type\": \"array\", \"minItems\": 1, \"maxItems\": 32, \"items\": {\"type\": \"object\","
     " \"properties\": {\"role\": {\"type\": \"string\", \"minLength\": 1}, \"traits\": {\"type\": \"string\"},"
     " \"name\": {\"type\": \"string\"}, \"goals\": {\"type\": \"string\"}, \"id\": {\"type\": \"string\"}},"
     " \"required\": [\"role\"], \"additionalProperties\": false}},"
     "\"rounds\": {\"type\": \"integer\", \"minimum\": 1, \"maximum\": 1000},"
     "\"world\": {\"type\": \"string\", \"description\": \"the situation the actors are in\"},"
     "\"question\": {\"type\": \"string\"},"
     "\"seed\": {\"type\": \"integer\", \"minimum\": 0},"
     "\"output\": " S_OUTPUT "," S_LLM "},"
     "\"additionalProperties\": false}",
     agora__mcp_simulate_interactions, NULL, A_OPEN_WORLD},
    {"list_models", "List the models",
     "Lists the models: their parameters (type, default, range), metrics, per-agent fields, the spaces they run on "
     "and their actions with JSON Schemas; and the server's limits. origin says where each comes from: builtin, "
     "plugin, rules (a rule-language model file of the server) or session (defined by this client, e.g. through "
     "create_world's model; usable by its name for the rest of the session).",
     "{\"type\": \"object\", \"properties\": {\"model\": {\"type\": \"string\", \"description\": \"only this "
     "model\"}}, \"additionalProperties\": false}",
     agora__mcp_list_models,
     "{\"type\": \"object\", \"properties\": {\"models\": {\"type\": \"array\", \"items\": {\"type\": \"object\","
     " \"properties\": {\"name\": {\"type\": \"string\"}, \"origin\": {\"enum\": [\"builtin\", \"plugin\", "
     "\"rules\", \"session\"]}, \"hash\": {\"type\": \"string\"}}, \"required\": [\"name\", \"origin\"]}},"
     " \"limits\": {\"type\": \"object\"}}, \"required\": [\"models\", \"limits\"]}",
     A_READ_ONLY | A_IDEMPOTENT},
    {"validate_model", "Check a model definition",
     "Checks a model definition in the rule language (as an object, or as YAML text) without running or keeping it, "
     "and returns every error found in one pass, each with its key path (e.g. rules.state), its line and column "
     "(text only) and a message that often suggests the fix (did you mean ...?). ok: true comes with the model as "
     "list_models would describe it. An invalid definition is a normal result (ok: false), not a failed call. The "
     "language: see the README's 'Writing a model' or list_models' rule models, e.g. sir_rules.",
     "{\"type\": \"object\", \"properties\": {\"definition\": " S_MODEL_DEF ","
     "\"text\": {\"type\": \"string\", \"minLength\": 1, \"maxLength\": 1048576, \"description\": \"the "
     "definition as YAML (or JSON) text, as a model file holds it\"}},"
     "\"additionalProperties\": false}",
     agora__mcp_validate_model,
     "{\"type\": \"object\", \"properties\": {\"ok\": {\"type\": \"boolean\"}, \"model\": {\"type\": \"object\"},"
     " \"hash\": {\"type\": \"string\"}, \"errors\": {\"type\": \"array\", \"items\": {\"type\": \"object\","
     " \"properties\": {\"path\": {\"type\": \"string\"}, \"line\": {\"type\": \"integer\"}, \"col\": "
     "{\"type\": \"integer\"}, \"message\": {\"type\": \"string\"}}, \"required\": [\"path\", \"message\"]}},"
     " \"more\": {\"type\": \"string\"}}, \"required\": [\"ok\"]}",
     A_READ_ONLY | A_IDEMPOTENT},
    {"create_world", "Create a live world",
     "Creates a world that stays alive between calls, at step 0: from a scenario (YAML text or path, with "
     "overrides), or from inline fields model, space ({kind: grid, width, height} | {kind: graph, generator: "
     "watts_strogatz, n, k, p} | {kind: mixed, n} ...), params and seed. model is a model's name or a model "
     "definition (an object in the rule language: name, params, vars, rules, metrics, actions), which this session "
     "can then use by its name; with a scenario, model replaces the scenario's model. Scheduled interventions of a "
     "scenario are applied when their step comes. Returns the world id and its metrics at step 0.",
     "{\"type\": \"object\", \"properties\": {" S_SCENARIO "," S_MODEL ","
     "\"space\": {\"type\": \"object\"},"
     "\"params\": {\"type\": \"object\"}, \"seed\": {\"type\": \"integer\", \"minimum\": 0},"
     "\"threads\": {\"type\": \"integer\", \"minimum\": 0, \"maximum\": 1024},"
     "\"name\": {\"type\": \"string\", \"minLength\": 1, \"maxLength\": 60, \"description\": \"the world's id "
     "(letters, digits, _ . -); default w1, w2, ...\"}},"
     "\"additionalProperties\": false}",
     agora__mcp_create_world,
     "{\"type\": \"object\", \"properties\": {" O_WORLD ", \"metrics\": " O_METRICS
     "}, \"required\": [\"world\", \"model\", \"n_agents\", \"t\", \"metrics\"]}",
     0},
    {"advance_world", "Advance a world",
     "Advances a world by `steps` steps and returns every metric at each of those steps and the final values.",
     "{\"type\": \"object\", \"properties\": {" S_WORLD ","
     "\"steps\": {\"type\": \"integer\", \"minimum\": 1, \"maximum\": %lld}},"
     "\"required\": [\"world\", \"steps\"], \"additionalProperties\": false}",
     agora__mcp_advance_world,
     "{\"type\": \"object\", \"properties\": {\"world\": {\"type\": \"string\"}, \"t_start\": {\"type\": \"integer\"},"
     " \"t\": {\"type\": \"integer\"}, \"steps_done\": {\"type\": \"integer\"}, \"metrics\": " O_SERIES
     ", \"final\": " O_METRICS "},"
     " \"required\": [\"world\", \"t_start\", \"t\", \"steps_done\", \"metrics\", \"final\"]}",
     A_DESTRUCTIVE},
    {"get_metrics", "Read a world's metrics",
     "The metrics of a world over its history (step 0 to now), or the last `last` steps; `names` picks metrics.",
     "{\"type\": \"object\", \"properties\": {" S_WORLD ","
     "\"names\": {\"type\": \"array\", \"items\": {\"type\": \"string\"}, \"minItems\": 1},"
     "\"last\": {\"type\": \"integer\", \"minimum\": 1}},"
     "\"required\": [\"world\"], \"additionalProperties\": false}",
     agora__mcp_get_metrics,
     "{\"type\": \"object\", \"properties\": {\"world\": {\"type\": \"string\"}, \"t\": {\"type\": \"integer\"},"
     " \"steps\": {\"type\": \"array\", \"items\": {\"type\": \"integer\"}}, \"metrics\": " O_SERIES "},"
     " \"required\": [\"world\", \"t\", \"steps\", \"metrics\"]}",
     A_READ_ONLY | A_IDEMPOTENT},
    {"get_agent_state", "Read agents' state",
     "Per-agent fields (e.g. SIR state 0/1/2, opinion) of chosen agents: ids, a range, or a grid region (at most "
     "100000 agents; default agents 0-99), with each field's min, max and mean over them and, for small-integer "
     "fields, the count of each value.",
     "{\"type\": \"object\", \"properties\": {" S_WORLD "," S_SELECT ","
     "\"fields\": {\"type\": \"array\", \"items\": {\"type\": \"string\"}, \"minItems\": 1}},"
     "\"required\": [\"world\"], \"additionalProperties\": false}",
     agora__mcp_get_agent_state, NULL, A_READ_ONLY | A_IDEMPOTENT},
    {"set_agent_state", "Change agents' state",
     "Sets one per-agent field of chosen agents (ids, a range or a grid region) to one value, or to one value per "
     "agent. The model checks the values (SIR state must be 0, 1 or 2). Returns the metrics after the change.",
     "{\"type\": \"object\", \"properties\": {" S_WORLD "," S_SELECT ","
     "\"field\": {\"type\": \"string\", \"minLength\": 1},"
     "\"value\": {\"type\": \"number\"},"
     "\"values\": {\"type\": \"array\", \"items\": {\"type\": \"number\"}, \"minItems\": 1}},"
     "\"required\": [\"world\", \"field\"], \"additionalProperties\": false}",
     agora__mcp_set_agent_state, NULL, A_DESTRUCTIVE | A_IDEMPOTENT},
    {"apply_action", "Apply a model action",
     "Applies one of the model's actions (see list_models: e.g. {action: vaccinate, fraction: 0.2}, {action: "
     "lockdown, strength: 0.5, steps: 30}) now, validated as persona actions are. Returns the metrics after it.",
     "{\"type\": \"object\", \"properties\": {" S_WORLD ","
     "\"action\": {\"type\": \"object\", \"properties\": {\"action\": {\"type\": \"string\"}},"
     " \"required\": [\"action\"]}},"
     "\"required\": [\"world\", \"action\"], \"additionalProperties\": false}",
     agora__mcp_apply_action, NULL, A_DESTRUCTIVE},
    {"snapshot_world", "Snapshot a world",
     "Keeps an exact copy of a world's state and history; restore_world rolls back to it (as often as wanted), by "
     "its id (s1, s2, ...) or its label.",
     "{\"type\": \"object\", \"properties\": {" S_WORLD ","
     "\"label\": {\"type\": \"string\", \"maxLength\": 200, \"description\": \"a name for the snapshot, unique in "
     "the world and not of the form s<digits> (the ids), e.g. before-lockdown\"}},"
     "\"required\": [\"world\"], \"additionalProperties\": false}",
     agora__mcp_snapshot_world,
     "{\"type\": \"object\", \"properties\": {\"world\": {\"type\": \"string\"}, \"snapshot\": {\"type\": \"string\"},"
     " \"t\": {\"type\": \"integer\"}, \"label\": {\"type\": \"string\"}}, \"required\": [\"world\", \"snapshot\", "
     "\"t\"]}",
     0},
    {"restore_world", "Roll a world back",
     "Returns a world exactly to a snapshot: its state, step and metrics history. The snapshot is kept.",
     "{\"type\": \"object\", \"properties\": {" S_WORLD "," S_SNAPSHOT "},"
     "\"required\": [\"world\", \"snapshot\"], \"additionalProperties\": false}",
     agora__mcp_restore_world,
     "{\"type\": \"object\", \"properties\": {\"world\": {\"type\": \"string\"}, \"snapshot\": {\"type\": \"string\"},"
     " \"label\": {\"type\": \"string\"}, \"t\": {\"type\": \"integer\"}, \"metrics\": " O_METRICS
     "}, \"required\": [\"world\", \"snapshot\", \"t\", \"metrics\"]}",
     A_DESTRUCTIVE | A_IDEMPOTENT},
    {"copy_world", "Copy a world",
     "A new, independent world identical to this one (state, step, history): for what-if branches.",
     "{\"type\": \"object\", \"properties\": {" S_WORLD ","
     "\"name\": {\"type\": \"string\", \"minLength\": 1, \"maxLength\": 60}},"
     "\"required\": [\"world\"], \"additionalProperties\": false}",
     agora__mcp_copy_world, NULL, 0},
    {"list_worlds", "List the worlds",
     "The live worlds (model, space, agents, step, snapshots) and the server's limits.",
     "{\"type\": \"object\", \"properties\": {}, \"additionalProperties\": false}", agora__mcp_list_worlds,
     "{\"type\": \"object\", \"properties\": {\"worlds\": {\"type\": \"array\", \"items\": {\"type\": \"object\","
     " \"properties\": {" O_WORLD "}, \"required\": [\"world\", \"model\", \"n_agents\", \"t\", \"snapshots\"]}},"
     " \"limits\": {\"type\": \"object\"}}, \"required\": [\"worlds\", \"limits\"]}",
     A_READ_ONLY | A_IDEMPOTENT},
    {"delete_world", "Delete a world or a snapshot",
     "Frees a world and its snapshots; with `snapshot`, frees only that snapshot of the world.",
     "{\"type\": \"object\", \"properties\": {" S_WORLD "," S_SNAPSHOT "},"
     "\"required\": [\"world\"], \"additionalProperties\": false}",
     agora__mcp_delete_world, NULL, A_DESTRUCTIVE | A_IDEMPOTENT},
};

#define N_TOOLS ((int)(sizeof mcp_tools / sizeof mcp_tools[0]))

static const mcp_tool *tool_find(const char *name)
{
    for (int i = 0; name && i < N_TOOLS; i++)
        if (strcmp(mcp_tools[i].name, name) == 0)
            return &mcp_tools[i];
    return NULL;
}

static int build_tools(agora_mcp *srv, agora_error *err)
{
    srv->tools = json_array();
    srv->schemas = json_object();
    if (!srv->tools || !srv->schemas)
        return agora_error_set(err, AGORA_ENOMEM, NULL, "out of memory");
    for (int i = 0; i < N_TOOLS; i++) {
        const mcp_tool *t = &mcp_tools[i];
        char text[8192];
        snprintf(text, sizeof text, t->schema, (long long)srv->lim.max_steps);
        json_error_t je;
        json_t *schema = json_loads(text, 0, &je);
        agora_error se;
        if (!schema || agora_schema_check(schema, &se) != 0) {
            json_decref(schema);
            return agora_error_set(err, AGORA_EINTERNAL, t->name, "tool schema: %s", schema ? se.msg : je.text);
        }
        json_t *output = t->output ? json_loads(t->output, 0, &je) : NULL;
        if (t->output && (!output || agora_schema_check(output, &se) != 0)) {
            json_decref(schema);
            json_decref(output);
            return agora_error_set(err, AGORA_EINTERNAL, t->name, "tool output schema: %s", output ? se.msg : je.text);
        }
        json_object_set(srv->schemas, t->name, schema);
        json_t *entry = json_pack("{s:s, s:s, s:s, s:o, s:{s:s, s:b, s:b, s:b, s:b}}", "name", t->name, "title",
                                  t->title, "description", t->description, "inputSchema", schema, "annotations",
                                  "title", t->title, "readOnlyHint", (t->hints & A_READ_ONLY) != 0, "destructiveHint",
                                  (t->hints & A_DESTRUCTIVE) != 0, "idempotentHint", (t->hints & A_IDEMPOTENT) != 0,
                                  "openWorldHint", (t->hints & A_OPEN_WORLD) != 0);
        if (output)
            json_object_set_new(entry, "outputSchema", output);
        json_array_append_new(srv->tools, entry);
    }
    return 0;
}

/* ---- output ---------------------------------------------------------------------------------------------------- */

static void send_json(agora_mcp *srv, json_t *msg)
{
    char *s = json_dumps(msg, JSON_COMPACT | JSON_ENSURE_ASCII);
    if (s) {
        srv->write(srv->write_ud, s, strlen(s));
        free(s);
    }
    json_decref(msg);
}

/* Messages can hold bytes that are not UTF-8 (a line of a binary file quoted in an error, jansson's text quoting the
 * token it stopped in) and jansson refuses to put them in a JSON string: the reply would be lost and the client left
 * waiting. Every message is therefore cleaned (agora__utf8_clean) before it goes out. */
static void send_error(agora_mcp *srv, const json_t *id, int code, const char *fmt, ...);

/* Takes result; a result that cannot be encoded (or NULL: out of memory) still gets an answer, an internal error. */
static void send_result(agora_mcp *srv, const json_t *id, json_t *result)
{
    json_t *msg = result ? json_pack("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id", id, "result", result) : NULL;
    if (!msg) {
        send_error(srv, id, RPC_INTERNAL, "internal error: the result could not be encoded as JSON");
        return;
    }
    send_json(srv, msg);
}

static void send_error(agora_mcp *srv, const json_t *id, int code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    agora__utf8_clean(msg);
    json_t *null_id = json_null();
    send_json(srv, json_pack("{s:s, s:O, s:{s:i, s:s}}", "jsonrpc", "2.0", "id", id ? id : null_id, "error", "code",
                             code, "message", msg));
    json_decref(null_id);
}

void agora__mcp_progress(mcp_call *call, double progress, double total, const char *message)
{
    /* Nothing once the work is done: the result follows at once and says so, and a notification that reaches the
     * client in the same read as the result is one some clients drop as "for an unknown token" (the TypeScript
     * SDK: typescript-sdk#2580) or even treat as a transport error. */
    if (!call->progress_token || progress >= total)
        return;
    const double now = agora__now();
    if (now - call->last_progress < 0.2)
        return;
    call->last_progress = now;
    json_t *params =
        json_pack("{s:O, s:f, s:f}", "progressToken", call->progress_token, "progress", progress, "total", total);
    if (message)
        json_object_set_new(params, "message", json_string(message));
    send_json(call->srv,
              json_pack("{s:s, s:s, s:o}", "jsonrpc", "2.0", "method", "notifications/progress", "params", params));
}

int agora__mcp_bad_args(mcp_call *call, agora_error *err, const char *where, const char *fmt, ...)
{
    call->invalid_params = 1;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return agora_error_set(err, AGORA_EINVAL, where, "%s", msg);
}

json_t *agora__mcp_number(double v)
{
    json_t *r = json_real(v); /* NULL for NaN and infinities */
    return r ? r : json_null();
}

json_t *agora__mcp_stopped(const agora_mcp *srv)
{
    return json_pack("{s:s, s:f}", "reason",
                     "the wall-time limit per call (agora mcp --max-wall): what was done is "
                     "kept; call again to go on",
                     "max_wall_s", srv->lim.max_wall_s);
}

json_t *agora__mcp_limits_json(const agora_mcp *srv)
{
    json_t *o = json_pack("{s:I, s:I, s:i, s:i, s:f, s:i, s:i}", "max_agents", (json_int_t)srv->lim.max_agents,
                          "max_steps", (json_int_t)srv->lim.max_steps, "max_worlds", srv->lim.max_worlds,
                          "max_snapshots", srv->lim.max_snapshots, "max_wall_s", srv->lim.max_wall_s, "max_models",
                          srv->lim.max_models, "models_defined", srv->n_models);
    agora__mcp_places_add(srv, o);
    return o;
}

/* ---- methods --------------------------------------------------------------------------------------------------- */

static json_t *initialize(agora_mcp *srv, const json_t *params)
{
    const char *asked = json_string_value(json_object_get(params, "protocolVersion"));
    const char *version = MCP_LATEST;
    for (size_t i = 0; asked && i < sizeof mcp_versions / sizeof mcp_versions[0]; i++)
        if (strcmp(asked, mcp_versions[i]) == 0)
            version = mcp_versions[i];
    agora__buf ins = {0};
    agora__buf_add(
        &ins,
        "agora runs agent-based simulations. One-shot runs: simulate_mechanics (no LLM), simulate_mixed (LLM "
        "personas steering a population), simulate_interactions (LLM actors in rounds). Experiments: "
        "create_world, then advance_world, get_metrics, get_agent_state / set_agent_state, apply_action, "
        "snapshot_world / restore_world, copy_world. list_models tells the parameters, metrics and actions. "
        "New models: write a definition in the rule language, check it with validate_model, then pass it as "
        "create_world's model (or simulate_*'s); the session knows it by its name from then on. "
        "Limits: %lld agents per world, %lld steps per call, %d worlds, %d snapshots per world, %g s per "
        "call, %d model definitions.",
        (long long)srv->lim.max_agents, (long long)srv->lim.max_steps, srv->lim.max_worlds, srv->lim.max_snapshots,
        srv->lim.max_wall_s, srv->lim.max_models);
    agora__mcp_places_describe(srv, &ins);
    json_t *r = json_pack("{s:s, s:{s:{s:b}}, s:{s:s, s:s, s:s}, s:s}", "protocolVersion", version, "capabilities",
                          "tools", "listChanged", 0, "serverInfo", "name", "agora", "title", "agora simulations",
                          "version", agora_version(), "instructions", ins.s ? ins.s : "");
    free(ins.s);
    return r;
}

static void tools_call(agora_mcp *srv, const json_t *id, const json_t *params)
{
    const json_t *name_v = json_object_get(params, "name");
    const char *name = json_string_value(name_v);
    if (!name) {
        send_error(srv, id, RPC_INVALID_PARAMS, "tools/call needs params.name, a tool name (see tools/list)");
        return;
    }
    const mcp_tool *tool = tool_find(name);
    if (!tool) {
        send_error(srv, id, RPC_INVALID_PARAMS, "unknown tool \"%s\" (see tools/list)", name);
        return;
    }
    json_t *args = json_object_get(params, "arguments");
    json_t *empty = NULL;
    if (!args || json_is_null(args))
        args = empty = json_object();
    agora_error err;
    agora_error_clear(&err);
    if (agora_schema_validate(json_object_get(srv->schemas, name), args, "arguments", &err) != 0) {
        send_error(srv, id, RPC_INVALID_PARAMS, "invalid arguments for %s: %s: %s", name, err.where, err.msg);
        json_decref(empty);
        return;
    }
    mcp_call call = {.srv = srv, .t0 = agora__now()};
    call.progress_token = json_object_get(json_object_get(params, "_meta"), "progressToken");
    if (call.progress_token && !json_is_string(call.progress_token) && !json_is_integer(call.progress_token))
        call.progress_token = NULL;
    json_t *out = NULL;
    int rc = tool->fn(&call, args, &out, &err);
    json_decref(empty);
    char msg[1024];
    if (rc != 0) {
        json_decref(out);
        if (err.where[0] && !strstr(err.msg, err.where))
            agora_error_format(&err, msg, sizeof msg);
        else
            snprintf(msg, sizeof msg, "%s", err.msg);
        agora__utf8_clean(msg);
        if (call.invalid_params) {
            send_error(srv, id, RPC_INVALID_PARAMS, "invalid arguments for %s: %s", name, msg);
            return;
        }
        agora_log(&srv->logger, AGORA_LOG_INFO, "%s: %s", name, msg);
        send_result(srv, id, json_pack("{s:[{s:s, s:s}], s:b}", "content", "type", "text", "text", msg, "isError", 1));
        return;
    }
    char *text = agora__json_dumps(out, JSON_COMPACT | JSON_PRESERVE_ORDER);
    send_result(srv, id,
                json_pack("{s:[{s:s, s:s}], s:o, s:b}", "content", "type", "text", "text", text ? text : "{}",
                          "structuredContent", out, "isError", 0));
    free(text);
}

void agora_mcp_handle(agora_mcp *srv, const char *line, size_t len)
{
    while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
        len--;
    size_t i = 0;
    while (i < len && (line[i] == ' ' || line[i] == '\t'))
        i++;
    if (i == len)
        return; /* a blank line is not a message */
    json_error_t je;
    json_t *msg = json_loadb(line, len, JSON_DECODE_ANY, &je);
    if (!msg) {
        send_error(srv, NULL, RPC_PARSE, "parse error: %s (column %d)", je.text, je.column);
        return;
    }
    if (json_is_array(msg)) {
        send_error(srv, NULL, RPC_INVALID_REQUEST, "batches are not supported: send one message per line");
        json_decref(msg);
        return;
    }
    if (!json_is_object(msg)) {
        send_error(srv, NULL, RPC_INVALID_REQUEST, "a JSON-RPC message must be an object, got %s",
                   agora__json_kind(msg));
        json_decref(msg);
        return;
    }
    const json_t *id = json_object_get(msg, "id");
    const json_t *method_v = json_object_get(msg, "method");
    const char *method = json_string_value(method_v);
    const json_t *params = json_object_get(msg, "params");
    if (id && !json_is_string(id) && !json_is_integer(id)) {
        send_error(srv, NULL, RPC_INVALID_REQUEST, "id must be a string or an integer");
        goto done;
    }
    if (!method_v && (json_object_get(msg, "result") || json_object_get(msg, "error")))
        goto done; /* a response from the client: this server sends no requests */
    if (!id) {
        /* A notification (notifications/initialized, notifications/cancelled, ...): never answered. */
        goto done;
    }
    if (!method) {
        send_error(srv, id, RPC_INVALID_REQUEST, "a request needs a string \"method\"");
        goto done;
    }
    if (!json_is_string(json_object_get(msg, "jsonrpc")) ||
        strcmp(json_string_value(json_object_get(msg, "jsonrpc")), "2.0") != 0) {
        send_error(srv, id, RPC_INVALID_REQUEST, "\"jsonrpc\" must be \"2.0\"");
        goto done;
    }
    if (params && !json_is_object(params)) {
        send_error(srv, id, RPC_INVALID_PARAMS, "params must be an object");
        goto done;
    }
    if (strcmp(method, "initialize") == 0)
        send_result(srv, id, initialize(srv, params));
    else if (strcmp(method, "ping") == 0)
        send_result(srv, id, json_object());
    else if (strcmp(method, "tools/list") == 0)
        send_result(srv, id, json_pack("{s:O}", "tools", srv->tools));
    else if (strcmp(method, "tools/call") == 0)
        tools_call(srv, id, params);
    else
        send_error(srv, id, RPC_NO_METHOD,
                   "method not found: %s (this server has initialize, ping, tools/list and "
                   "tools/call)",
                   method);
done:
    json_decref(msg);
}

/* ---- lifecycle ------------------------------------------------------------------------------------------------- */

int agora_mcp_create(const agora_mcp_options *opt, agora_mcp_write_fn write, void *ud, agora_mcp **out,
                     agora_error *err)
{
    agora_init();
    *out = NULL;
    agora_mcp *srv = calloc(1, sizeof *srv);
    if (!srv)
        return agora_error_set(err, AGORA_ENOMEM, NULL, "out of memory");
    static const agora_mcp_options none;
    if (!opt)
        opt = &none;
    srv->lim = opt->limits;
    srv->cancel = opt->cancel;
    if (srv->lim.max_agents <= 0)
        srv->lim.max_agents = 10000000;
    if (srv->lim.max_steps <= 0)
        srv->lim.max_steps = 100000;
    if (srv->lim.max_worlds <= 0)
        srv->lim.max_worlds = 32;
    if (srv->lim.max_snapshots <= 0)
        srv->lim.max_snapshots = 16;
    if (!(srv->lim.max_wall_s > 0))
        srv->lim.max_wall_s = 300;
    if (srv->lim.max_models <= 0 || srv->lim.max_models > AGORA_RULES_MAX_MODELS / 2)
        srv->lim.max_models = srv->lim.max_models <= 0 ? 32 : AGORA_RULES_MAX_MODELS / 2;
    agora__mcp_models_init(srv);
    srv->threads = opt->threads;
    if (opt->logger)
        srv->logger = *opt->logger;
    srv->write = write;
    srv->write_ud = ud;
    int rc = agora__mcp_places_init(srv, opt, err);
    if (rc == 0)
        rc = build_tools(srv, err);
    if (rc != 0) {
        agora_mcp_destroy(srv);
        return rc;
    }
    *out = srv;
    return 0;
}

agora_mcp_limits agora_mcp_get_limits(const agora_mcp *srv)
{
    return srv->lim;
}

void agora_mcp_destroy(agora_mcp *srv)
{
    if (!srv)
        return;
    agora__mcp_free_worlds(srv);
    agora__mcp_models_free(srv);
    json_decref(srv->tools);
    json_decref(srv->schemas);
    agora__mcp_places_free(srv);
    free(srv);
}

static void write_line(void *ud, const char *line, size_t len)
{
    FILE *out = ud;
    fwrite(line, 1, len, out);
    fputc('\n', out);
    fflush(out);
}

int agora__mcp_cancelled(const agora_mcp *srv)
{
    return srv && srv->cancel && *srv->cancel;
}

int agora_mcp_serve(FILE *in, FILE *out, const agora_mcp_options *opt, agora_error *err)
{
    agora_mcp *srv = NULL;
    int rc = agora_mcp_create(opt, write_line, out, &srv, err);
    if (rc != 0)
        return rc;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    errno = 0;
    while (!agora__mcp_cancelled(srv) && (n = getline(&line, &cap, in)) >= 0)
        agora_mcp_handle(srv, line, (size_t)n);
    if (ferror(in) && !agora__mcp_cancelled(srv)) /* a signal interrupting the read is no read error */
        rc = agora_error_set(err, AGORA_EIO, "stdin", "reading the input failed: %s", strerror(errno));
    free(line);
    agora_mcp_destroy(srv);
    return rc;
}
