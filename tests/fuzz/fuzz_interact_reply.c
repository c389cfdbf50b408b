/* agora — libFuzzer harness for interaction replies (src/interact/interact.c): what the LLM answers actors, the
 * world engine, the evaluator and the profile enricher goes through a whole `mode: interactions` run —
 * agora__ask_parse (one JSON object, or the first {...} inside text), validation against the role's
 * schema, one repair request, then messages routed through the topology (direct, rooms, broadcast, blocked), actions
 * scheduled and resolved by the world engine's outcomes, state changes, scores — answered from a recording (replay,
 * lenient), so no network is involved. The run file goes to the scratch directory and is removed after each input.
 *
 * Input: replies separated by lines "~~~~", answering in order, for round 1 and 2: actors chief, pilot and medic
 * (each a decision, then a repair), then the world engine (decision, repair); then the evaluator (decision, repair).
 * A missing reply is a failed call; "!timeout" a call that timed out. Leading lines "# sequential" (actors take turns,
 * each seeing the earlier ones) and "# enrich" (first one profile call per actor, before round 1) change the run.
 * Invariants: every failure has a message; the run ends "complete"; events carry the strings their kind promises;
 * every prompt recorded in the run file is valid UTF-8 (a live run sends it in a JSON request body). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agora/agora.h"
#include "fuzz_util.h"

#define ROUNDS 2
#define MAX_REPLIES 32

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SCENARIO(order)                                                                                                \
    "name: fuzz_ix\n"                                                                                                  \
    "mode: interactions\n"                                                                                             \
    "rounds: 2\n"                                                                                                      \
    "round_unit: hour\n"                                                                                               \
    "turn_order: " order "\n"                                                                                          \
    "world:\n"                                                                                                         \
    "  description: A town is flooding.\n"                                                                             \
    "  rules: [\"One helicopter: one task per hour.\"]\n"                                                              \
    "  state: {water_level_m: 2.6, stranded: 120, levee_reinforced: false, weather: rain}\n"                           \
    "  dynamics:\n"                                                                                                    \
    "    - {key: water_level_m, add: 0.35, max: 6.0}\n"                                                                \
    "    - {key: stranded, mul: 0.9, min: 0}\n"                                                                        \
    "actors:\n"                                                                                                        \
    "  - {id: chief, name: Dana, role: incident commander, traits: [decisive], goals: [everyone out], rooms: [ops]}\n" \
    "  - {id: pilot, name: Sam, role: helicopter pilot, relationships: {chief: trusts her}, rooms: [ops]}\n"           \
    "  - {id: medic, name: Priya, role: doctor}\n"                                                                     \
    "topology:\n"                                                                                                      \
    "  direct: [[chief, pilot], [chief, medic]]\n"                                                                     \
    "  broadcast: [chief]\n"                                                                                           \
    "  rooms: {ops: [chief, pilot]}\n"                                                                                 \
    "actions:\n"                                                                                                       \
    "  - {name: helicopter_lift, description: lift people from a roof}\n"                                              \
    "  - {name: triage, description: treat evacuees}\n"                                                                \
    "  - {name: coordinate, description: assign tasks}\n"                                                              \
    "max_duration: 2\n"                                                                                                \
    "memory: {max_items: 3, max_inbox: 4}\n"                                                                           \
    "evaluation: {criteria: [cooperation, ethics], scale: 10}\n"                                                       \
    "output: {compression: 0}\n"

static const char *const actors[] = {"chief", "pilot", "medic"};
#define N_ACTORS (sizeof actors / sizeof actors[0])
static agora_scenario *simultaneous, *sequential;
static char output[4200];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    agora_init();
    static const char a[] = SCENARIO("simultaneous"), b[] = SCENARIO("sequential");
    agora_error err;
    if (agora_scenario_parse(a, strlen(a), "fuzz.yaml", NULL, &simultaneous, &err) != 0 ||
        agora_scenario_parse(b, strlen(b), "fuzz.yaml", NULL, &sequential, &err) != 0)
        fuzz_fail("scenario: %s", err.msg);
    snprintf(output, sizeof output, "%s/ix.h5", fuzz_tmpdir());
    return 0;
}

static void on_event(void *ud, const agora_ix_event *ev)
{
    (void)ud;
    switch (ev->kind) {
    case AGORA_IX_TURN:
    case AGORA_IX_MESSAGE:
    case AGORA_IX_ACTION:
        if (!ev->actor || !ev->status)
            fuzz_fail("event %d without actor or status", (int)ev->kind);
        break;
    case AGORA_IX_WORLD:
    case AGORA_IX_EVALUATION:
        if (!ev->detail || !ev->status)
            fuzz_fail("event %d without detail or status", (int)ev->kind);
        break;
    default:
        break;
    }
    if (fuzz_verbose())
        fprintf(stderr, "round %lld kind %d: actor %s target %s name %s status %s: %s | %s\n", (long long)ev->round,
                (int)ev->kind, ev->actor ? ev->actor : "-", ev->target ? ev->target : "-", ev->name ? ev->name : "-",
                ev->status ? ev->status : "-", ev->text ? ev->text : "-", ev->detail ? ev->detail : "-");
    const char *s[] = {ev->actor, ev->target, ev->name, ev->text, ev->status, ev->detail};
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++)
        if (s[i])
            (void)strlen(s[i]);
}

static void add(json_t *calls, int64_t round, const char *who, int attempt, const fuzz_part *reply)
{
    const int timeout = strcmp(reply->s, "!timeout") == 0;
    json_array_append_new(calls, json_pack("{s:I, s:s, s:i, s:s, s:s, s:s, s:s}", "step", (json_int_t)round, "persona",
                                           who, "attempt", attempt, "prompt", "", "reply", timeout ? "" : reply->s,
                                           "status", timeout ? "timeout" : "ok", "error", timeout ? "timed out" : ""));
}

/* The recording: rows for (round, who, attempt) in the order the header of this file gives. */
static json_t *recording(const fuzz_part *replies, int n, int enrich)
{
    json_t *calls = json_array();
    int k = 0;
    for (size_t i = 0; enrich && i < N_ACTORS; i++)
        for (int attempt = 1; attempt <= 2; attempt++)
            if (k < n) {
                char who[64];
                snprintf(who, sizeof who, "enrich:%s", actors[i]);
                add(calls, 0, who, attempt, &replies[k++]);
            }
    for (int64_t r = 1; r <= ROUNDS; r++) {
        for (size_t i = 0; i <= N_ACTORS; i++)
            for (int attempt = 1; attempt <= 2; attempt++)
                if (k < n)
                    add(calls, r, i < N_ACTORS ? actors[i] : "world", attempt, &replies[k++]);
    }
    for (int attempt = 1; attempt <= 2; attempt++)
        if (k < n)
            add(calls, ROUNDS + 1, "evaluator", attempt, &replies[k++]);
    return calls;
}

/* Every prompt the run recorded is valid UTF-8: a live run sends it in a JSON request body, which jansson cannot
 * build from anything else. */
static void check_prompts(void)
{
    json_t *rows = NULL;
    agora_error err;
    if (agora_h5_llm_calls(output, &rows, &err) != 0)
        fuzz_fail("the run file's /llm/calls: %s", err.msg);
    size_t i;
    json_t *r;
    json_array_foreach(rows, i, r) {
        const char *prompt = json_string_value(json_object_get(r, "prompt"));
        if (!prompt || !fuzz_utf8(prompt))
            fuzz_fail("round %lld %s: the prompt is not valid UTF-8",
                      (long long)json_integer_value(json_object_get(r, "step")),
                      json_string_value(json_object_get(r, "persona")));
    }
    json_decref(rows);
}

/* Consumes a leading line "# <word>" when it is there. */
static int header(const uint8_t **data, size_t *size, const char *line)
{
    const size_t n = strlen(line);
    if (*size > n && memcmp(*data, line, n) == 0 && (*data)[n] == '\n') {
        *data += n + 1;
        *size -= n + 1;
        return 1;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const int seq = header(&data, &size, "# sequential");
    const int enrich = header(&data, &size, "# enrich");
    fuzz_part parts[MAX_REPLIES];
    int n = fuzz_split(data, size, parts, MAX_REPLIES);
    for (int i = 0; i < n; i++)
        if (!fuzz_utf8(parts[i].s)) { /* a reply comes out of a JSON response: it is UTF-8 */
            fuzz_parts_free(parts, n);
            return 0;
        }
    json_t *calls = recording(parts, n, enrich);
    agora_interact_options opt = {
        .on_event = on_event, .output = output, .replay = calls, .replay_lenient = 1, .enrich = enrich};
    agora_interact_result res;
    agora_error err;
    agora_error_clear(&err);
    int rc = agora_interact_run(seq ? sequential : simultaneous, &opt, &res, &err);
    fuzz_check_error(rc, &err, "agora_interact_run");
    /* degraded: some reply stayed invalid after its repair (an actor passed), which is what fuzzed replies do */
    if (rc == 0 && strcmp(res.status, "complete") != 0 && strcmp(res.status, "degraded") != 0)
        fuzz_fail("the run ended \"%s\"", res.status);
    if (rc == 0 && res.rounds_done != ROUNDS)
        fuzz_fail("%lld rounds done of %d", (long long)res.rounds_done, ROUNDS);
    if (rc == 0)
        check_prompts();
    agora_interact_result_free(&res);
    json_decref(calls);
    fuzz_parts_free(parts, n);
    fuzz_tmp_clean();
    return 0;
}
