/* agora — persona agents: a few LLM-driven (or rule-driven) actors that observe a running world every few steps
 * and act on it through the model's actions.
 *
 * At a step where personas are due, agora_personas_act asks all of them concurrently (agora_llm_call_batch), each
 * with a prompt built from its role and persona text, the model's observation for that role, the recent trend of
 * the observation's numbers, and a bounded memory of its own earlier decisions and what followed them. A reply must
 * be one JSON object {"reasoning": text, "actions": [action, ...]} whose actions follow the model's action schema;
 * an invalid reply gets one repair request quoting the validation error, and is dropped (no action, recorded) when
 * still invalid. A call that fails after the client's retries falls back to the persona's offline policy. Actions
 * are applied in persona order, so the result is deterministic given the replies.
 *
 * Without an LLM (provider "offline", or none configured) personas follow their `offline_policy`: rules
 * {when: "I_frac > 0.05 and step >= 10", do: {action...}} evaluated on the observation, every true rule firing in
 * order. Decisions made that way are labelled "rules", never "llm".
 *
 * A dead LLM does not make a run wait or look fine: before the first live call the server is checked once
 * (agora_llm_check_endpoint) and, when none answers, no call is made to it; a server that fails 3 calls in a row
 * (after the client's retries) is not asked again (the circuit breaker). Such decisions fall back to the rules and
 * make the run degraded (agora_personas_degraded). The governor stops the calls at the scenario's llm.max_calls,
 * max_tokens (prompt + completion of all calls) or max_cost (from cost_per_1k_prompt / cost_per_1k_completion), or a
 * sweep's shared budget: the personas then follow their rules ("budget"). See llm/guard.h for the exact rules.
 *
 * Configuration (the scenario's `llm:` and `personas:`; checked by agora_personas_create with key paths):
 *   llm: {provider: ollama|openai|replay|offline, model, base_url, api_key_env, timeout_s, max_retries,
 * max_concurrency, temperature, seed, max_prompt_tokens, keep_threads_warm, cost_per_1k_prompt, cost_per_1k_completion,
 *         max_calls, max_tokens, max_cost}
 *   personas: [{id, name, role, persona, every, start, memory, offline_policy: [{when, do}]}] */
#ifndef AGORA_PERSONA_H
#define AGORA_PERSONA_H
#include <stdint.h>
#include <jansson.h>
#include "agora/error.h"
#include "agora/export.h"
#include "agora/llm.h"
#include "agora/llmcall.h"
#include "agora/log.h"
#include "agora/world.h"
#ifdef __cplusplus
extern "C" {
#endif

typedef struct agora_personas agora_personas;

/* What a persona decided at a step. */
typedef struct agora_persona_decision {
    int64_t step;
    const char *persona;
    const char *source;       /* "llm", "rules" (offline policy), "fallback" (rules after a failed call, an
                               * unreachable server or an open circuit breaker) or "budget" (rules once a limit
                               * of the run or the sweep stopped the calls) */
    const char *reasoning;    /* may be "" */
    const char *actions;      /* the proposed actions as a JSON array */
    int n_actions, n_applied; /* actions proposed; applied without error */
} agora_persona_decision;

typedef struct agora_persona_hooks {
    void *ud;
    void (*on_call)(void *ud, const agora_persona_call *call);
    /* each action, after it was applied (status "applied") or refused by the model ("rejected", message says why) */
    void (*on_action)(void *ud, int64_t step, const char *persona, const char *action_json, const char *status,
                      const char *message);
    void (*on_decision)(void *ud, const agora_persona_decision *d);
    /* may be NULL: where the runtime says, once each, at warning level, that no server answers at the URL, that the
     * circuit breaker opened, or that a limit was reached */
    const agora_logger *logger;
} agora_persona_hooks;

/* Checks `llm` (may be NULL: offline) and `personas` (an array) against the model and builds the runtime. Errors
 * name the key path ("personas[1].offline_policy[0].when") in err->where. */
AGORA_API int agora_personas_create(const json_t *llm, const json_t *personas, const agora_model *model,
                                    agora_personas **out, agora_error *err);

/* Forces the offline policies even when an LLM is configured (--llm offline). */
AGORA_API void agora_personas_force_offline(agora_personas *ps);

/* True when the personas run on rules only (no LLM configured, or forced). */
AGORA_API int agora_personas_offline(const agora_personas *ps);

/* The provider name ("ollama", "openai", "offline") and model the personas ask ("" offline). */
AGORA_API const char *agora_personas_provider(const agora_personas *ps);
AGORA_API const char *agora_personas_model(const agora_personas *ps);

/* With `llm: {provider: replay, path: RUN.h5}`: that path (as written; relative to the scenario), else NULL. */
AGORA_API const char *agora_personas_replay_path(const agora_personas *ps);

/* Number of personas, and the id of persona i. */
AGORA_API int agora_personas_count(const agora_personas *ps);
AGORA_API const char *agora_personas_id(const agora_personas *ps, int i);

/* Asks every persona due at the world's current step and applies their actions. Returns 0, or an error only for
 * misuse or out of memory: LLM failures are recorded through the hooks and the run goes on. */
AGORA_API int agora_personas_act(agora_personas *ps, agora_world *w, const agora_persona_hooks *hooks,
                                 agora_error *err);

/* Answers the LLM calls of steps <= until (until < 0: all) from a recorded run's calls (agora_h5_llm_calls), with
 * no network: each decision's prompt must equal the recorded one, else agora_personas_act fails naming the step and
 * persona (lenient: the recorded reply is used anyway; a call missing from the recording counts as failed). The
 * same scenario and seed then give bit-identical datasets. */
AGORA_API int agora_personas_replay(agora_personas *ps, const json_t *calls, int64_t until, int lenient,
                                    agora_error *err);

/* A sweep's budget shared with other runs (borrowed: it must outlive the runtime), checked besides the scenario's
 * llm.max_calls / max_tokens / max_cost. NULL: none. */
AGORA_API void agora_personas_set_budget(agora_personas *ps, agora_llm_budget *budget);

/* The runtime's LLM use so far, the summary's "llm" object (a new reference; README "The llm summary"):
 *   {"provider", "model", "calls" (requests made), "ok", "invalid", "failed" (their final status), "skipped"
 *    (calls not made: unreachable, circuit_open, budget), "fallbacks" (decisions that were to come from the LLM and
 *    got no valid answer), "endpoint_check" ("ok", "not made", or the message of a failed check),
 *    "circuit_open_at_step" (or null), "used": {"calls", "tokens", "cost"}, "limits": {"max_calls", "max_tokens",
 *    "max_cost", "sweep"}, "budget": null or {"limit", "value", "reached_at_step", "skipped"}, "degraded",
 *    "degraded_reason" (or null), "endpoints": [{"url", "provider", "check", "circuit_open_at_step", "reason"}]} */
AGORA_API json_t *agora_personas_llm_summary(const agora_personas *ps);

/* Nonzero when a decision that was to come from the LLM got no valid answer (a failed, unreachable or circuit-open
 * call, or a reply still invalid after its repair): the run is "degraded". A budget stop alone is not. */
AGORA_API int agora_personas_degraded(const agora_personas *ps);

/* Every bit of state that shapes later prompts, decisions and records, for a checkpoint: each persona's memory
 * (decisions, observations), the messages waiting in inboxes, the json_object fallback of the client, the endpoint
 * check, the circuit breaker, the governor's counters and the tallies of the summary. *state is a new reference;
 * numbers round-trip exactly through json_dumps / json_loads (reals are written with 17 digits; the cost as the
 * bits of its double). Not saved: the configuration (the same scenario makes it again), a replay recording (given
 * again with agora_personas_replay), the sweep's budget. */
/* Answers the calls `calls` holds (rows as agora_personas_replay takes them; their prompts must be the ones asked,
 * else an error) from them, and asks the live LLM for every call they lack: a resumed run's calls made after its
 * checkpoint and before it was killed are not asked again. An empty list changes nothing. */
AGORA_API int agora_personas_replay_partial(agora_personas *ps, const json_t *calls, agora_error *err);

AGORA_API int agora_personas_save(const agora_personas *ps, json_t **state, agora_error *err);

/* Restores what agora_personas_save saved into a runtime made from the same scenario; AGORA_EINVAL (nothing
 * changed) when the state is not one, or of other personas. */
AGORA_API int agora_personas_load(agora_personas *ps, const json_t *state, agora_error *err);

AGORA_API void agora_personas_destroy(agora_personas *ps);

/* A rule condition, checked and evaluated on a JSON object of numbers: comparisons (< <= > >= == !=) between numbers
 * and keys (dotted for nested objects), joined by and / or / not and parentheses. Returns 1 true, 0 false, and -1
 * for a syntax error (err says where); a key missing from `obs` makes its comparison false. */
AGORA_API int agora_condition_eval(const char *expr, const json_t *obs, agora_error *err);

#ifdef __cplusplus
}
#endif
#endif
