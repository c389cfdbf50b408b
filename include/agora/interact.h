/* agora — simulate_interactions: a few LLM actors in rounds, with messages, actions that last several rounds, a
 * world engine that resolves them, and an evaluation of the whole run.
 *
 * A round: messages sent last round and operator messages arrive; scheduled actions whose start has come become
 * active; every actor decides (all at once with `turn_order: simultaneous`, one after another with `sequential`,
 * where each actor sees what the earlier ones did this round) from its profile, its bounded memory, its inbox and
 * the world state, replying {"reasoning", "messages": [{to, text}], "actions": [{name, target, duration, intent}]};
 * messages are routed through the scenario's topology (direct, rooms, broadcast; a message the topology does not
 * allow is recorded as blocked and the sender is told); the environment's dynamics change the state (a flood rising
 * each round); the world engine, a game master with the scenario's rules, resolves the actions completing this round
 * (conflicts included) into outcomes and state changes, delivered to the actors involved. After the last round an
 * evaluation call scores the run on the scenario's criteria.
 *
 * Every call goes through the persona LLM client (agora_llm_call_batch_each): retries, timeouts, validation of the
 * reply against its JSON Schema, one repair request, and the run goes on after any failure (an actor that cannot
 * answer passes its turn; a silent world engine leaves outcomes "unknown"), all recorded. A server that is not
 * there is found by one check before the first call and not asked again; one that fails 3 calls in a row is not
 * asked again (the circuit breaker); a run in which a turn, the world engine, the evaluator or an enrichment got no
 * valid answer from the LLM is "degraded". The top-level llm block's max_calls, max_tokens (prompt + completion of
 * all calls) and max_cost limit the run: once reached the actors pass ("budget"), the world engine and the evaluator
 * are not asked; the run stays "complete". See llm/guard.h. The run file holds
 * /interactions/{actors, turns, messages, actions, world, evaluation, analytics}, the numeric world state as
 * /metrics/<key> over rounds, and every prompt and reply in /llm/calls, from which `agora interact --replay`
 * re-runs the scenario bit-exact with no network.
 *
 * Scenario keys (mode: interactions; defaults in brackets):
 *   name, description, seed [0], question (the question a generated scenario answers),
 *   rounds [5], round_unit [round] (hour, day, month, ...), turn_order [simultaneous],
 *   llm: {provider, model, ..., max_calls, max_tokens, max_cost} (as for personas; the limits only here),
 *   roles: {actors, world, enrich, evaluation: {llm overrides}},
 *   world: {description, rules: [text], state: {key: number|text|bool}, dynamics: [{key, add|mul|set, min, max}]},
 *   actors: [{id, name, role, traits, goals, history, relationships: {id: text}, rooms: [room], llm, profile}],
 *   topology: {direct: all|none|[[a, b], ...], broadcast: all|none|[id, ...], rooms: {room: [id, ...]}},
 *   actions: [{name, description}] (the actions actors may take [any]), max_duration [10],
 *   memory: {max_items [10], max_inbox [20]},
 *   evaluation: {criteria [cooperation, ethics, strategy, coherence], scale [10]},
 *   enrich: {sources: [text files, relative to the scenario], max_chars [4000]},
 *   output: {path [runs/<name>.h5], compression [4]} */
#ifndef AGORA_INTERACT_H
#define AGORA_INTERACT_H

#include <stdint.h>

#include <jansson.h>

#include "agora/error.h"
#include "agora/export.h"
#include "agora/scenario.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct agora_interact agora_interact;

typedef enum agora_ix_kind {
    AGORA_IX_ROUND = 1,  /* a round begins: round, rounds, text = its time ("day 3") */
    AGORA_IX_TURN,       /* an actor decided: actor, text = reasoning, status = "llm", "invalid" or "failed" */
    AGORA_IX_MESSAGE,    /* actor = sender, target = actor id, "room:<name>" or "all", text, status "delivered" or
                          * "blocked" (detail: why) */
    AGORA_IX_ACTION,     /* action_id, actor, name, target, duration, text = intent, status = "scheduled",
                          * "active", "completed", "failed" or "unfinished" (the run ended first); detail = the
                          * outcome when resolved */
    AGORA_IX_WORLD,      /* the world engine's round: text = narrative, detail = the state as JSON, status */
    AGORA_IX_EVALUATION, /* text = narrative, detail = {"scores": {...}, "synthesis": ...} as JSON */
    AGORA_IX_NOTE        /* something failed and the run goes on: actor (or "world", "evaluator"), text */
} agora_ix_kind;

/* One thing that happened, for the live transcript. Strings are borrowed for the duration of the hook. */
typedef struct agora_ix_event {
    agora_ix_kind kind;
    int64_t round, rounds;
    const char *actor, *target, *name, *text, *status, *detail;
    int64_t action_id;
    int duration;
} agora_ix_event;

typedef struct agora_interact_options {
    void *ud;
    void (*on_event)(void *ud, const agora_ix_event *ev);
    /* After each round but the last, before the next begins (operator messages go in here with
     * agora_interact_say); nonzero stops the run, which is then "interrupted". */
    int (*between_rounds)(void *ud, agora_interact *ix, int64_t round);
    const char *output;         /* overrides output.path */
    const json_t *replay;       /* recorded /llm/calls rows (agora_h5_llm_calls): every call answered from them */
    int replay_lenient;         /* a prompt that differs from the recording is answered anyway */
    int enrich;                 /* deepen every actor's profile with one LLM call each before round 1 */
    const json_t *prior_calls;  /* call rows to record first (the question's generation call), may be NULL */
    const volatile int *cancel; /* set (e.g. by SIGINT): stop after the current call, file closed "interrupted" */
    int force;                  /* write the run file even over a file that is not an agora file, or over the
                                 * scenario itself (both refused otherwise, as agora_run refuses them) */
} agora_interact_options;

typedef struct agora_interact_result {
    char status[16]; /* "complete", "degraded" (the end was reached, but something that was to come from the LLM
                      * did not: summary.llm says why), "interrupted", "failed" */
    int64_t rounds_done;
    double wall_time_s;
    char path[4096];    /* the run file */
    json_t *evaluation; /* {"scores": {criterion: score}, "narrative", "synthesis"} or NULL */
    json_t *summary;    /* {"state": final world state, "analytics": {who: {...}}, "rounds_done", "llm": the calls,
                         * the budget, why degraded (the keys of agora_personas_llm_summary; steps are rounds)} */
} agora_interact_result;

/* Runs a `mode: interactions` scenario to the end (or until cancelled / stopped). Returns 0 when the run completed
 * or was stopped, with *res filled (free with agora_interact_result_free); an error for a scenario of another mode,
 * a file that cannot be written, or a replay that does not match. LLM failures never fail the run. */
AGORA_API int agora_interact_run(const agora_scenario *sc, const agora_interact_options *opt,
                                 agora_interact_result *res, agora_error *err);
AGORA_API void agora_interact_result_free(agora_interact_result *res);

/* From a between_rounds hook: a message from the operator to an actor (its id), delivered next round. */
AGORA_API int agora_interact_say(agora_interact *ix, const char *to, const char *text, agora_error *err);

/* The actors of a running interaction, for an operator prompt. */
AGORA_API int agora_interact_actor_count(const agora_interact *ix);
AGORA_API const char *agora_interact_actor_id(const agora_interact *ix, int i);

/* Asks the LLM (`llm`, an llm block: the CLI builds it from --llm and --llm-url) once to turn a
 * question into an interactions scenario: 8-12 actors with name, role, traits, goals, history and relationships,
 * the world (description, rules, state), the time of a round and the number of rounds. An invalid reply gets one
 * repair request. *scenario (new reference) is a scenario object ready for agora_interact_yaml; *calls (new
 * reference, may be NULL) receives the call records ({step: 0, persona: "generator", ...} rows as in /llm/calls).
 * Errors: AGORA_EINVAL (no LLM configured), AGORA_EHTTP (no valid reply). */
AGORA_API int agora_interact_generate(const char *question, const json_t *llm, int64_t seed, json_t **scenario,
                                      json_t **calls, agora_error *err);

/* A scenario object as YAML text a person can edit (block style; strings double-quoted). Free with free(). */
AGORA_API char *agora_interact_yaml(const json_t *scenario);

#ifdef __cplusplus
}
#endif

#endif
