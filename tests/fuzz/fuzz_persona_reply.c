/* agora — libFuzzer harness for persona replies (src/llm/persona.c): what an LLM answers a persona goes through
 * the real decision round of agora_personas_act — parsed as one JSON object, validated against the reply schema
 * (the model's action schema inside), a repair request when invalid, the actions applied to the world, messages
 * routed to the other personas' inboxes, memory — with the replies taken from a recording (replay, lenient), so no
 * network is involved.
 *
 * Input: replies separated by lines "~~~~", answering in order: step 0 persona 1 (decision, then repair), persona 2
 * (decision, repair), then step 1 likewise; a missing reply is a failed call (the persona's rules stand in), and a
 * reply "!timeout" a call that timed out. A first line "# market" or "# opinion" picks that model's scenario
 * (default: SIR with the personas of scenarios/sir_lockdown.yaml). Worlds are tiny (100 agents), one thread.
 * Invariants: every failure has a message; every prompt is valid UTF-8 (it goes into a JSON request body); decisions
 * come from "llm", "rules" or "fallback", never apply more actions than they propose, and report them as a JSON array;
 * each action is "applied" or "rejected". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agora/agora.h"
#include "fuzz_util.h"

#define STEPS 2
#define MAX_REPLIES 16

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const scenario_texts[] = {
    "name: fuzz_sir\n"
    "mode: mixed\n"
    "model: sir\n"
    "space: {kind: grid, width: 10, height: 10, torus: true}\n"
    "params: {beta: 0.3, gamma: 0.1, initial_infected: 5}\n"
    "steps: 10\n"
    "personas:\n"
    "  - id: health\n"
    "    role: health minister\n"
    "    persona: Keep infections low.\n"
    "    memory: 2\n"
    "    offline_policy:\n"
    "      - when: \"I_frac > 0.02 and beta_eff == 0.3\"\n"
    "        do: {action: lockdown, strength: 0.6, steps: 3}\n"
    "      - do: [{action: vaccinate, fraction: 0.05}]\n"
    "  - id: economy\n"
    "    role: economy minister\n"
    "    offline_policy:\n"
    "      - when: \"beta_eff < 0.3 and I_frac < 0.01\"\n"
    "        do: {action: lockdown, strength: 0, steps: 1}\n",
    "name: fuzz_market\n"
    "mode: mixed\n"
    "model: market\n"
    "space: {kind: mixed, n: 100}\n"
    "steps: 10\n"
    "personas:\n"
    "  - id: regulator\n"
    "    role: market regulator\n"
    "    offline_policy:\n"
    "      - when: \"efficiency > 0.9 and tax_rate == 0\"\n"
    "        do: {action: set_tax, rate: 0.05}\n"
    "  - id: observer\n"
    "    role: journalist\n",
    "name: fuzz_opinion\n"
    "mode: mixed\n"
    "model: opinion\n"
    "space: {kind: graph, generator: watts_strogatz, n: 100, k: 4, p: 0.1}\n"
    "params: {rule: deffuant, epsilon: 0.3, mu: 0.3, initial: uniform}\n"
    "steps: 10\n"
    "personas:\n"
    "  - id: left\n"
    "    role: progressive newspaper\n"
    "    offline_policy:\n"
    "      - when: \"mean > 0.45\"\n"
    "        do: {action: broadcast, opinion: 0.2, reach: 0.1, strength: 0.2}\n"
    "  - id: right\n"
    "    role: conservative TV channel\n"
    "    offline_policy:\n"
    "      - when: \"mean < 0.55 or polarization > 0.5\"\n"
    "        do: {action: broadcast, opinion: 0.8, reach: 0.1, strength: 0.25}\n",
};
#define N_SCENARIOS (sizeof scenario_texts / sizeof scenario_texts[0])
static const char *const scenario_tags[N_SCENARIOS] = {"# sir", "# market", "# opinion"};
static agora_scenario *scenarios[N_SCENARIOS];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    agora_init();
    for (size_t i = 0; i < N_SCENARIOS; i++) {
        agora_error err;
        if (agora_scenario_parse(scenario_texts[i], strlen(scenario_texts[i]), "fuzz.yaml", NULL, &scenarios[i],
                                 &err) != 0)
            fuzz_fail("scenario %zu: %s", i, err.msg);
    }
    return 0;
}

static void on_call(void *ud, const agora_persona_call *c)
{
    (void)ud;
    if (!c->persona || !c->status || !c->error || !c->prompt || !c->reply)
        fuzz_fail("a call record with a NULL string");
    if (!fuzz_utf8(c->prompt))
        fuzz_fail("step %lld %s: the prompt is not valid UTF-8 (it goes into a JSON request body)", (long long)c->step,
                  c->persona);
    (void)strlen(c->reply), (void)strlen(c->error);
    if (fuzz_verbose())
        fprintf(stderr, "step %lld %s attempt %d: %s %s\n", (long long)c->step, c->persona, c->attempt, c->status,
                c->error);
}

static void on_action(void *ud, int64_t step, const char *persona, const char *action, const char *status,
                      const char *message)
{
    (void)ud, (void)step, (void)persona;
    if (strcmp(status, "applied") != 0 && strcmp(status, "rejected") != 0)
        fuzz_fail("action status \"%s\"", status);
    if (strcmp(status, "rejected") == 0 && !message[0])
        fuzz_fail("a rejected action without a reason: %s", action);
    json_error_t je;
    json_t *a = json_loads(action, 0, &je);
    if (!json_is_object(a))
        fuzz_fail("an action that is not a JSON object: %s", action);
    json_decref(a);
}

static void on_decision(void *ud, const agora_persona_decision *d)
{
    (void)ud;
    if (strcmp(d->source, "llm") != 0 && strcmp(d->source, "rules") != 0 && strcmp(d->source, "fallback") != 0)
        fuzz_fail("decision source \"%s\"", d->source);
    if (d->n_applied < 0 || d->n_applied > d->n_actions)
        fuzz_fail("%d of %d actions applied", d->n_applied, d->n_actions);
    json_error_t je;
    json_t *a = json_loads(d->actions, 0, &je);
    if (!json_is_array(a) || json_array_size(a) != (size_t)d->n_actions)
        fuzz_fail("decision actions %s for %d actions", d->actions, d->n_actions);
    json_decref(a);
    (void)strlen(d->reasoning);
    if (fuzz_verbose())
        fprintf(stderr, "step %lld %s: %s %s (%d applied) \"%s\"\n", (long long)d->step, d->persona, d->source,
                d->actions, d->n_applied, d->reasoning);
}

/* The recording: one row per (step, persona, attempt), in input order. */
static json_t *recording(const agora_personas *ps, const fuzz_part *replies, int n)
{
    json_t *calls = json_array();
    int k = 0;
    for (int64_t t = 0; t < STEPS; t++)
        for (int p = 0; p < agora_personas_count(ps); p++)
            for (int attempt = 1; attempt <= 2; attempt++, k++) {
                if (k >= n)
                    return calls;
                const int timeout = strcmp(replies[k].s, "!timeout") == 0;
                json_array_append_new(calls,
                                      json_pack("{s:I, s:s, s:i, s:s, s:s, s:s, s:s}", "step", (json_int_t)t, "persona",
                                                agora_personas_id(ps, p), "attempt", attempt, "prompt", "", "reply",
                                                timeout ? "" : replies[k].s, "status", timeout ? "timeout" : "ok",
                                                "error", timeout ? "timed out" : ""));
            }
    return calls;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t which = 0;
    for (size_t i = 1; i < N_SCENARIOS; i++) {
        const size_t n = strlen(scenario_tags[i]);
        if (size > n && memcmp(data, scenario_tags[i], n) == 0 && data[n] == '\n') {
            which = i;
            data += n + 1;
            size -= n + 1;
        }
    }
    const agora_scenario *sc = scenarios[which];
    const json_t *cfg = agora_scenario_config(sc);
    fuzz_part parts[MAX_REPLIES];
    int n = fuzz_split(data, size, parts, MAX_REPLIES);
    for (int i = 0; i < n; i++)
        if (!fuzz_utf8(parts[i].s)) { /* a reply comes out of a JSON response: it is UTF-8 */
            fuzz_parts_free(parts, n);
            return 0;
        }
    agora_space *space = NULL;
    agora_world *w = NULL;
    agora_personas *ps = NULL;
    json_t *calls = NULL;
    agora_error err;
    if (agora_space_create(json_object_get(cfg, "space"), agora_rng_key_from_seed(1), NULL, &space, &err) != 0)
        fuzz_fail("space: %s", err.msg);
    agora_world_config wc = {.model = agora_scenario_model(sc),
                             .space = space,
                             .params = json_object_get(cfg, "params"),
                             .seed = 3,
                             .threads = 1};
    if (agora_world_create(&wc, &w, &err) != 0)
        fuzz_fail("world: %s", err.msg);
    if (agora_personas_create(json_object_get(cfg, "llm"), json_object_get(cfg, "personas"), agora_scenario_model(sc),
                              &ps, &err) != 0)
        fuzz_fail("personas: %s", err.msg);
    calls = recording(ps, parts, n);
    agora_error_clear(&err);
    int rc = agora_personas_replay(ps, calls, -1, 1, &err);
    fuzz_check_error(rc, &err, "agora_personas_replay");
    const agora_persona_hooks hooks = {.on_call = on_call, .on_action = on_action, .on_decision = on_decision};
    for (int64_t t = 0; t < STEPS; t++) {
        agora_error_clear(&err);
        rc = agora_personas_act(ps, w, &hooks, &err);
        fuzz_check_error(rc, &err, "agora_personas_act");
        if (rc)
            break;
        agora_world_step(w);
    }
    agora_personas_destroy(ps);
    agora_world_destroy(w);
    json_decref(calls);
    fuzz_parts_free(parts, n);
    return 0;
}
