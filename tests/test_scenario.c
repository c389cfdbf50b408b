/* Tests for scenario loading (src/io/scenario.c) and the YAML layer under it (src/io/yaml.c): good files load with
 * their defaults filled in; every kind of broken file gives the right code and the exact file:line:col and key path;
 * `--set` overrides parse YAML values, create what is missing, are re-checked, name themselves in errors and leave
 * the scenario untouched when they fail; and the YAML layer resolves scalars by the YAML 1.2 core schema, expands
 * aliases, and records where every node is. Fixtures live in tests/data/scenarios/. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agora/agora.h"
#include "core/internal.h"
#include "io/yaml.h"
#include "rules/model.h"
#include "support.h"

static json_t *parse_json(const char *text)
{
    json_error_t jerr;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &jerr);
    if (!v)
        fail_msg("test JSON does not parse: %s: %s", jerr.text, text);
    return v;
}

static void assert_json(const json_t *got, const char *expected_text)
{
    json_t *want = parse_json(expected_text);
    if (!json_equal((json_t *)got, want)) {
        char *g = json_dumps(got, JSON_COMPACT | JSON_ENCODE_ANY);
        fail_msg("got %s\nwant %s", g ? g : "(null)", expected_text);
    }
    json_decref(want);
}

static const char *fixture(const char *name)
{
    static char buf[4][4096];
    static int next;
    char *p = buf[next++ % 4];
    snprintf(p, 4096, "%s", test_src_path("tests/data/scenarios/"));
    strncat(p, name, 4096 - strlen(p) - 1);
    return p;
}

/* Loads a fixture that must fail; checks the code and the whole formatted message, "<path>:<rest>". */
static void assert_load_fails(const char *name, int code, const char *rest)
{
    const char *path = fixture(name);
    agora_scenario *sc = NULL;
    agora_error err;
    agora_error_clear(&err);
    int rc = agora_scenario_load(path, &sc, &err);
    char got[1024], want[1024];
    agora_error_format(&err, got, sizeof got);
    snprintf(want, sizeof want, "%s:%s", path, rest);
    assert_null(sc);
    assert_string_equal(got, want);
    assert_int_equal(rc, code);
    assert_int_equal(err.code, code);
    /* the report of every error starts with exactly that one */
    agora_scenario_errors errs;
    assert_int_equal(agora_scenario_load_report(path, &sc, &errs), code);
    assert_null(sc);
    assert_true(errs.n >= 1);
    assert_string_equal(agora_error_format(&errs.e[0], got, sizeof got), want);
}

/* Parses text that must fail, named test.yaml; checks code and formatted message. */
static void assert_parse_fails(const char *text, int code, const char *formatted)
{
    agora_scenario *sc = NULL;
    agora_error err;
    agora_error_clear(&err);
    int rc = agora_scenario_parse(text, strlen(text), "test.yaml", NULL, &sc, &err);
    char got[1024];
    assert_null(sc);
    assert_string_equal(agora_error_format(&err, got, sizeof got), formatted);
    assert_int_equal(rc, code);
    agora_scenario_errors errs;
    assert_int_equal(agora_scenario_parse_report(text, strlen(text), "test.yaml", NULL, &sc, &errs), code);
    assert_null(sc);
    assert_true(errs.n >= 1);
    assert_string_equal(agora_error_format(&errs.e[0], got, sizeof got), formatted);
}

/* Parses text with several errors; checks that the report lists exactly `want` (formatted), in order. */
static void assert_reports(const char *text, const char *const *sets, int n_sets, const char *const *want, int n,
                           int more)
{
    agora_scenario *sc = NULL;
    agora_scenario_errors errs;
    agora_error single;
    char got[1024];
    int rc = agora_scenario_parse_report(text, strlen(text), "test.yaml", NULL, &sc, &errs);
    if (n_sets > 0) {
        assert_int_equal(rc, 0);
        assert_int_not_equal(agora_scenario_set_all(sc, sets, n_sets, &single), 0);
        rc = agora_scenario_set_all_report(sc, sets, n_sets, &errs);
        assert_non_null(sc); /* a failed override leaves the scenario as it was */
    } else {
        assert_int_not_equal(agora_scenario_parse(text, strlen(text), "test.yaml", NULL, &sc, &single), 0);
    }
    assert_int_not_equal(rc, 0);
    char first[1024];
    assert_string_equal(agora_error_format(&errs.e[0], got, sizeof got),
                        agora_error_format(&single, first, sizeof first));
    assert_int_equal(errs.n, n);
    for (int i = 0; i < n; i++)
        assert_string_equal(agora_error_format(&errs.e[i], got, sizeof got), want[i]);
    assert_int_equal(errs.more, more);
    agora_scenario_destroy(sc);
}

#define GRID "space: {kind: grid, width: 10, height: 10}\n"

/* ---- good files -------------------------------------------------------------------------------------------------- */

static void good_yaml_loads_with_defaults(void **state)
{
    (void)state;
    agora_scenario *sc = NULL;
    agora_error err;
    const char *path = fixture("good.yaml");
    int rc = agora_scenario_load(path, &sc, &err);
    if (rc) {
        char buf[1024];
        fail_msg("%s", agora_error_format(&err, buf, sizeof buf));
    }
    assert_json(agora_scenario_config(sc),
                "{\"name\": \"good-sir\", \"description\": \"A small epidemic on a grid.\", \"mode\": \"mechanics\","
                " \"model\": \"sir\","
                " \"space\": {\"kind\": \"grid\", \"width\": 20, \"height\": 10, \"torus\": true,"
                " \"neighborhood\": \"moore\"},"
                " \"params\": {\"beta\": 0.2, \"gamma\": 0.1, \"initial_infected\": 5},"
                " \"steps\": 50, \"seed\": 7, \"threads\": 0,"
                " \"output\": {\"path\": \"runs/good-sir.h5\", \"snapshot_every\": 0, \"snapshot_fields\": [\"state\"],"
                " \"flush_every\": 10, \"compression\": 4},"
                " \"interventions\": ["
                "  {\"at\": 10, \"action\": {\"action\": \"vaccinate\", \"fraction\": 0.25}, \"source\": \"scenario\"},"
                "  {\"at\": 20, \"action\": {\"action\": \"lockdown\", \"strength\": 0.5, \"steps\": 10},"
                "   \"source\": \"policy\"}]}");
    /* `steps: 1e1` is a YAML real; the schema asks for an integer, so the effective action holds one. */
    const json_t *steps = json_object_get(
        json_object_get(json_array_get(json_object_get(agora_scenario_config(sc), "interventions"), 1), "action"),
        "steps");
    assert_true(json_is_integer(steps));
    assert_string_equal(agora_scenario_model(sc)->name, "sir");
    assert_string_equal(agora_scenario_path(sc), path);
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", test_src_path("tests/data/scenarios"));
    assert_string_equal(agora_scenario_base_dir(sc), dir);
    assert_true(strncmp(agora_scenario_text(sc), "# A small SIR run", 17) == 0);
    assert_non_null(strstr(agora_scenario_text(sc), "source: policy\n"));
    agora_scenario_destroy(sc);
}

static void good_json_loads_with_defaults(void **state)
{
    (void)state;
    agora_scenario *sc = NULL;
    agora_error err;
    int rc = agora_scenario_load(fixture("good.json"), &sc, &err);
    if (rc) {
        char buf[1024];
        fail_msg("%s", agora_error_format(&err, buf, sizeof buf));
    }
    /* The name defaults to the file's stem, and the output path follows it. */
    assert_json(agora_scenario_config(sc),
                "{\"name\": \"good\", \"mode\": \"mechanics\", \"model\": \"sir\","
                " \"space\": {\"kind\": \"graph\", \"generator\": \"watts_strogatz\", \"n\": 100, \"k\": 4,"
                " \"p\": 0.1},"
                " \"params\": {\"beta\": 0.05, \"gamma\": 0.25, \"initial_infected\": 10},"
                " \"steps\": 30, \"seed\": 0, \"threads\": 0,"
                " \"output\": {\"path\": \"runs/good.h5\", \"snapshot_every\": 5, \"snapshot_fields\": [\"state\"],"
                " \"flush_every\": 10, \"compression\": 0},"
                " \"interventions\": []}");
    agora_scenario_destroy(sc);
}

static void json_that_libyaml_refuses_falls_back_to_jansson(void **state)
{
    (void)state;
    agora_scenario *sc = NULL;
    agora_error err;
    int rc = agora_scenario_load(fixture("fallback.json"), &sc, &err);
    if (rc) {
        char buf[1024];
        fail_msg("%s", agora_error_format(&err, buf, sizeof buf));
    }
    assert_string_equal(json_string_value(json_object_get(agora_scenario_config(sc), "description")),
                        "a smile \xF0\x9F\x98\x80");
    agora_scenario_destroy(sc);
}

static void minimal_text_gets_every_default(void **state)
{
    (void)state;
    agora_scenario *sc = NULL;
    agora_error err;
    const char *text = "model: sir\n" GRID "params:\nsteps:\n";
    int rc = agora_scenario_parse(text, strlen(text), "some/dir/my run.yaml", NULL, &sc, &err);
    assert_int_equal(rc, 0);
    /* A stem with characters unsafe in file names is made safe; null values count as absent. */
    assert_json(agora_scenario_config(sc),
                "{\"name\": \"my_run\", \"mode\": \"mechanics\", \"model\": \"sir\","
                " \"space\": {\"kind\": \"grid\", \"width\": 10, \"height\": 10, \"torus\": true,"
                " \"neighborhood\": \"moore\"},"
                " \"params\": {\"beta\": 0.05, \"gamma\": 0.1, \"initial_infected\": 10},"
                " \"steps\": 100, \"seed\": 0, \"threads\": 0,"
                " \"output\": {\"path\": \"runs/my_run.h5\", \"snapshot_every\": 0, \"snapshot_fields\": [\"state\"],"
                " \"flush_every\": 10, \"compression\": 4},"
                " \"interventions\": []}");
    assert_string_equal(agora_scenario_base_dir(sc), ".");
    assert_string_equal(agora_scenario_text(sc), text);
    agora_scenario_destroy(sc);
}

static void aliases_are_copied(void **state)
{
    (void)state;
    agora_scenario *sc = NULL;
    agora_error err;
    int rc = agora_scenario_load(fixture("aliases.yaml"), &sc, &err);
    if (rc) {
        char buf[1024];
        fail_msg("%s", agora_error_format(&err, buf, sizeof buf));
    }
    assert_json(json_object_get(agora_scenario_config(sc), "interventions"),
                "[{\"at\": 5, \"action\": {\"action\": \"lockdown\", \"strength\": 0.8, \"steps\": 4},"
                "  \"source\": \"scenario\"},"
                " {\"at\": 25, \"action\": {\"action\": \"lockdown\", \"strength\": 0.8, \"steps\": 4},"
                "  \"source\": \"scenario\"},"
                " {\"at\": 30, \"action\": {\"action\": \"seed_infection\", \"count\": 3}, \"source\": \"aliased\"}]");
    assert_string_equal(json_string_value(json_object_get(agora_scenario_config(sc), "name")), "aliased");
    agora_scenario_destroy(sc);
}

/* ---- broken files ------------------------------------------------------------------------------------------------ */

static void bad_type_names_the_value(void **state)
{
    (void)state;
    assert_load_fails("bad_type.yaml", AGORA_ESCHEMA,
                      "3:8: steps: expected an integer in [0, 1000000000000], got \"ten\"");
}

static void out_of_range_names_the_value(void **state)
{
    (void)state;
    assert_load_fails("bad_range.yaml", AGORA_ESCHEMA, "5:9: params.beta: expected a number in [0, 1], got 1.5");
}

static void unknown_top_level_key_suggests_the_closest(void **state)
{
    (void)state;
    assert_load_fails("unknown_key.yaml", AGORA_ESCHEMA, "3:1: stpes: unknown key (did you mean \"steps\"?)");
    /* Nothing close: the known keys are listed. */
    assert_parse_fails("model: sir\n" GRID "colour: red\n", AGORA_ESCHEMA,
                       "test.yaml:3:1: colour: unknown key (known: name, description, mode, model, space, params, "
                       "steps, seed, threads, output, interventions, llm, personas, sweep)");
}

static void unknown_nested_keys_point_at_the_key(void **state)
{
    (void)state;
    assert_load_fails("unknown_nested_key.yaml", AGORA_ESCHEMA,
                      "5:3: output.compresion: unknown key (did you mean \"compression\"?)");
    assert_parse_fails("model: sir\nspace: {kind: grid, width: 10, height: 10, depth: 3}\n", AGORA_ESCHEMA,
                       "test.yaml:2:44: space.depth: unknown key (allowed here: kind width height torus neighborhood)");
    assert_parse_fails("model: sir\n" GRID "params:\n  beta: 0.1\n  delta: 0.2\n", AGORA_ESCHEMA,
                       "test.yaml:5:3: params.delta: unknown parameter (known: beta, gamma, initial_infected)");
    assert_parse_fails("model: sir\n" GRID "interventions:\n  - {at: 1, when: 2}\n", AGORA_ESCHEMA,
                       "test.yaml:4:13: interventions[0].when: unknown key (known: at, action, source)");
}

static void yaml_syntax_error_has_libyaml_position(void **state)
{
    (void)state;
    assert_load_fails("bad_syntax.yaml", AGORA_EPARSE,
                      "3:10: syntax error: mapping values are not allowed in this context");
    assert_parse_fails("model: sir\nspace:\n  - a\n kind: grid\n", AGORA_EPARSE,
                       "test.yaml:4:2: syntax error: did not find expected key (while parsing a block mapping that "
                       "starts at line 1, column 1)");
}

static void json_syntax_error_has_jansson_position(void **state)
{
    (void)state;
    const char *path = fixture("bad_syntax.json");
    agora_scenario *sc = NULL;
    agora_error err;
    assert_int_equal(agora_scenario_load(path, &sc, &err), AGORA_EPARSE);
    assert_null(sc);
    assert_string_equal(err.where, path);
    assert_int_equal(err.line, 3);
    assert_int_equal(err.column, 54); /* the second comma */
    assert_true(strncmp(err.msg, "syntax error: ", 14) == 0);
}

static void unknown_and_missing_model(void **state)
{
    (void)state;
    /* (models/seir.yaml exists now: the fixture names a model that is nowhere) */
    assert_load_fails("unknown_model.yaml", AGORA_ESCHEMA,
                      "1:8: model: unknown model \"no_such_model\" (known: sir, opinion, market)");
    assert_load_fails("missing_model.yaml", AGORA_ESCHEMA,
                      "1:1: model: required key is missing (one of: sir, opinion, market)");
    assert_parse_fails("model: [sir]\n" GRID, AGORA_ESCHEMA,
                       "test.yaml:1:8: model: expected a model name (one of: sir, opinion, market), a model file "
                       "(models/x.yaml) or {define: {...}}, got [\"sir\"]");
}

static void missing_file_is_an_io_error(void **state)
{
    (void)state;
    agora_scenario *sc = NULL;
    agora_error err;
    const char *path = test_tmp_path("no/such/scenario.yaml");
    char got[1024], want[4200];
    assert_int_equal(agora_scenario_load(path, &sc, &err), AGORA_EIO);
    assert_null(sc);
    snprintf(want, sizeof want, "%s: cannot open: No such file or directory", path);
    assert_string_equal(agora_error_format(&err, got, sizeof got), want);
}

static void bad_intervention_action_names_the_field(void **state)
{
    (void)state;
    assert_load_fails("bad_intervention.yaml", AGORA_ESCHEMA,
                      "10:17: interventions[1].action.fraction: expected a number <= 1, got 2");
    assert_parse_fails("model: sir\n" GRID "interventions:\n  - at: 3\n    action: {action: nuke}\n", AGORA_ESCHEMA,
                       "test.yaml:5:22: interventions[0].action.action: expected one of \"vaccinate\", \"lockdown\", "
                       "\"seed_infection\", got \"nuke\"");
    /* A missing key points at the entry that lacks it. */
    assert_parse_fails("model: sir\n" GRID "interventions:\n  - at: 3\n    action: {fraction: 0.1}\n", AGORA_ESCHEMA,
                       "test.yaml:5:13: interventions[0].action: required key \"action\" is missing");
    assert_parse_fails("model: sir\n" GRID "interventions:\n  - action: {action: vaccinate, fraction: 0.1}\n",
                       AGORA_ESCHEMA,
                       "test.yaml:4:5: interventions[0].at: required key is missing (the step to act at, 0 to 100)");
    /* `at` must fall inside the run, and the message says which range that is. */
    assert_parse_fails("model: sir\n" GRID "steps: 20\ninterventions:\n  - {at: 21, action: {action: vaccinate, "
                       "fraction: 0.1}}\n",
                       AGORA_ESCHEMA,
                       "test.yaml:5:10: interventions[0].at: expected a step in [0, 20] (0 to steps), got 21");
}

static void duplicate_key_points_at_the_second(void **state)
{
    (void)state;
    assert_load_fails("duplicate_key.yaml", AGORA_EPARSE, "6:3: params.beta: duplicate key (first given at line 4)");
}

static void non_finite_numbers_are_refused(void **state)
{
    (void)state;
    assert_load_fails("inf.yaml", AGORA_EPARSE, "4:9: params.beta: non-finite numbers are not allowed");
}

static void the_issue_example_comes_out_exactly(void **state)
{
    (void)state;
    /* Bad values are located at the value; here it starts at line 7, column 3. */
    const char *text = "# scenarios/x.yaml\n"
                       "name: x\n"
                       "model: sir\n"
                       "space: {kind: grid, width: 10, height: 10}\n"
                       "steps: 10\n"
                       "params: {gamma: 0.1, beta:\n"
                       "  high}\n";
    agora_scenario *sc = NULL;
    agora_error err;
    char buf[1024];
    assert_int_equal(agora_scenario_parse(text, strlen(text), "scenarios/x.yaml", NULL, &sc, &err), AGORA_ESCHEMA);
    assert_string_equal(agora_error_format(&err, buf, sizeof buf),
                        "scenarios/x.yaml:7:3: params.beta: expected a number in [0, 1], got \"high\"");
    assert_string_equal(err.where, "scenarios/x.yaml");
    assert_int_equal(err.line, 7);
    assert_int_equal(err.column, 3);
}

static void other_value_errors(void **state)
{
    (void)state;
    /* an interactions scenario has actors and a world, not a model */
    assert_parse_fails("mode: interactions\nmodel: sir\n" GRID, AGORA_ESCHEMA, "test.yaml:2:1: model: unknown key");
    assert_parse_fails("mode: interactions\nactors: [{id: a, role: mayor}, {id: a, role: pilot}]\n", AGORA_ESCHEMA,
                       "test.yaml:2:37: actors[1].id: \"a\" is the id of an earlier actor");
    assert_parse_fails("mode: interactions\nactors: [{id: a, role: mayor}]\nturn_order: random\n", AGORA_ESCHEMA,
                       "test.yaml:3:13: turn_order: expected simultaneous or sequential");
    assert_parse_fails("mode: mixed\nmodel: sir\n" GRID, AGORA_ESCHEMA,
                       "test.yaml:1:1: personas: required with mode: mixed (a list of personas [{id, role, persona, "
                       "every, offline_policy}])");
    /* persona errors point into the file */
    assert_parse_fails("model: sir\n" GRID "personas:\n  - id: minister\n    every: 0\n", AGORA_ESCHEMA,
                       "test.yaml:5:12: personas[0].every: expected a number in [1, 1e+09]");
    assert_parse_fails("model: sir\n" GRID "personas:\n  - id: m\n    offline_policy:\n      - when: I_frac >>\n"
                       "        do: {action: vaccinate, fraction: 0.1}\n",
                       AGORA_ESCHEMA,
                       "test.yaml:6:15: personas[0].offline_policy[0].when: in \"I_frac >>\" at column 9: expected a "
                       "number or a name");
    assert_parse_fails("mode: mechanics\nmodel: sir\n" GRID "personas: [{id: m}]\n", AGORA_ESCHEMA,
                       "test.yaml:4:11: personas: personas and llm belong to mode: mixed (this scenario says mode: "
                       "mechanics)");
    assert_parse_fails("mode: batch\nmodel: sir\n" GRID, AGORA_ESCHEMA,
                       "test.yaml:1:7: mode: expected one of \"mechanics\", \"mixed\", \"interactions\", got "
                       "\"batch\"");
    assert_parse_fails("name: my run\nmodel: sir\n" GRID, AGORA_ESCHEMA,
                       "test.yaml:1:7: name: expected a name of letters, digits, '_', '.' and '-' (it is used in file "
                       "names), got \"my run\"");
    assert_parse_fails("model: sir\nspace: {kind: grid, width: 10}\n", AGORA_ESCHEMA,
                       "test.yaml:2:1: space.height: required key is missing");
    assert_parse_fails("model: sir\n", AGORA_ESCHEMA,
                       "test.yaml:1:1: space: required key is missing (a grid, a graph or a mixed population, e.g. "
                       "{kind: grid, width: "
                       "100, height: 100})");
    assert_parse_fails("model: sir\n" GRID "seed: -1\n", AGORA_ESCHEMA,
                       "test.yaml:3:7: seed: expected an integer >= 0, got -1");
    assert_parse_fails("model: sir\n" GRID "threads: 5000\n", AGORA_ESCHEMA,
                       "test.yaml:3:10: threads: expected an integer in [0, 4096], got 5000");
    assert_parse_fails("model: sir\n" GRID "output: {flush_every: 0}\n", AGORA_ESCHEMA,
                       "test.yaml:3:23: output.flush_every: expected an integer >= 1, got 0");
    assert_parse_fails("model: sir\n" GRID "output: {compression: 10}\n", AGORA_ESCHEMA,
                       "test.yaml:3:23: output.compression: expected an integer in [0, 9], got 10");
    assert_parse_fails("model: sir\n" GRID "output:\n  snapshot_fields:\n    - state\n    - colour\n", AGORA_ESCHEMA,
                       "test.yaml:6:7: output.snapshot_fields[1]: expected a field of the model sir (one of: state), "
                       "got \"colour\"");
    assert_parse_fails("model: sir\n" GRID "output: {path: 3}\n", AGORA_ESCHEMA,
                       "test.yaml:3:16: output.path: expected a file path, got 3");
    assert_parse_fails("- model\n- sir\n", AGORA_ESCHEMA,
                       "test.yaml:1:1: expected a mapping of scenario keys (model, space, params, steps, ...), got "
                       "[\"model\",\"sir\"]");
    assert_parse_fails("# nothing but a comment\n", AGORA_ESCHEMA, "test.yaml: the scenario is empty");
    assert_parse_fails("", AGORA_ESCHEMA, "test.yaml: the scenario is empty");
}

static void errors_inside_aliases_point_at_the_anchor(void **state)
{
    (void)state;
    /* The aliased copy is wrong only where it is used; the value itself is written at the anchor. */
    assert_parse_fails("model: sir\n" GRID "steps: 10\n"
                       "extra: &bad {action: vaccinate, fraction: 3}\n",
                       AGORA_ESCHEMA,
                       "test.yaml:4:1: extra: unknown key (known: name, description, mode, model, "
                       "space, params, steps, seed, threads, output, interventions, llm, personas, sweep)");
    assert_parse_fails("model: sir\n" GRID "steps: 10\n"
                       "interventions:\n"
                       "  - {at: 1, action: &v {action: vaccinate, fraction: 0.5}}\n"
                       "  - {at: 2, action: &bad {action: vaccinate, fraction: 3}}\n"
                       "  - {at: 3, action: *v}\n",
                       AGORA_ESCHEMA,
                       "test.yaml:6:56: interventions[1].action.fraction: expected a number <= 1, got 3");
}

static void locate_turns_key_paths_into_positions(void **state)
{
    (void)state;
    agora_scenario *sc = test_scenario("model: sir\n"
                                       "space:\n"
                                       "  kind: grid\n"
                                       "  width: 10\n"
                                       "  height: 10\n");
    agora_error err;
    char buf[1024];
    agora_error_set(&err, AGORA_EIO, "space.width", "too wide for this machine");
    agora_scenario_locate(sc, &err);
    assert_string_equal(agora_error_format(&err, buf, sizeof buf),
                        "test.yaml:4:10: space.width: too wide for this machine");
    assert_int_equal(err.code, AGORA_EIO);
    /* A key that is not in the file points at its nearest ancestor's key. */
    agora_error_set(&err, AGORA_ESCHEMA, "space.torus", "required key is missing");
    agora_scenario_locate(sc, &err);
    assert_string_equal(agora_error_format(&err, buf, sizeof buf),
                        "test.yaml:2:1: space.torus: required key is missing");
    agora_scenario_destroy(sc);
}

/* ---- --set ------------------------------------------------------------------------------------------------------- */

static const char *set_base = "model: sir\n" GRID "params: {beta: 0.2}\nsteps: 50\n"
                              "interventions:\n  - {at: 10, action: {action: vaccinate, fraction: 0.1}}\n";

static void set_ok(agora_scenario *sc, const char *assignment)
{
    agora_error err;
    int rc = agora_scenario_set(sc, assignment, &err);
    if (rc) {
        char buf[1024];
        fail_msg("--set %s: %s", assignment, agora_error_format(&err, buf, sizeof buf));
    }
}

static const json_t *cfg_at(const agora_scenario *sc, const char *a, const char *b)
{
    const json_t *v = json_object_get(agora_scenario_config(sc), a);
    return b ? json_object_get(v, b) : v;
}

static void set_parses_values_as_yaml(void **state)
{
    (void)state;
    agora_scenario *sc = test_scenario(set_base);
    set_ok(sc, "params.beta=0.1");
    assert_true(json_is_real(cfg_at(sc, "params", "beta")));
    assert_true(json_real_value(cfg_at(sc, "params", "beta")) == 0.1);
    set_ok(sc, "space.torus=false");
    assert_true(json_is_false(cfg_at(sc, "space", "torus")));
    set_ok(sc, "name=other-run");
    assert_string_equal(json_string_value(cfg_at(sc, "name", NULL)), "other-run");
    /* The default output path follows the new name. */
    assert_string_equal(json_string_value(cfg_at(sc, "output", "path")), "runs/other-run.h5");
    set_ok(sc, "output.snapshot_fields=[state]");
    assert_json(cfg_at(sc, "output", "snapshot_fields"), "[\"state\"]");
    set_ok(sc, "steps = 1e3");
    assert_true(json_is_integer(cfg_at(sc, "steps", NULL)));
    assert_int_equal(json_integer_value(cfg_at(sc, "steps", NULL)), 1000);
    /* An empty value is null, which restores the default. */
    set_ok(sc, "steps=");
    assert_int_equal(json_integer_value(cfg_at(sc, "steps", NULL)), 100);
    agora_scenario_destroy(sc);
}

static void set_creates_missing_parents_and_indexes_lists(void **state)
{
    (void)state;
    agora_scenario *sc = test_scenario("model: sir\n" GRID);
    set_ok(sc, "output.compression=9");
    assert_int_equal(json_integer_value(cfg_at(sc, "output", "compression")), 9);
    set_ok(sc, "params.gamma=0.3");
    assert_true(json_real_value(cfg_at(sc, "params", "gamma")) == 0.3);
    set_ok(sc, "interventions[0]={at: 4, action: {action: seed_infection, count: 2}}");
    set_ok(sc, "interventions[0].at=5");
    set_ok(sc, "interventions[1]={at: 6, action: {action: vaccinate, fraction: 0.5}, source: cli}");
    assert_json(cfg_at(sc, "interventions", NULL),
                "[{\"at\": 5, \"action\": {\"action\": \"seed_infection\", \"count\": 2}, \"source\": \"scenario\"},"
                " {\"at\": 6, \"action\": {\"action\": \"vaccinate\", \"fraction\": 0.5}, \"source\": \"cli\"}]");
    set_ok(sc, "interventions[1].action.fraction=0.25");
    assert_true(
        json_real_value(json_object_get(json_object_get(json_array_get(cfg_at(sc, "interventions", NULL), 1), "action"),
                                        "fraction")) == 0.25);
    agora_scenario_destroy(sc);
}

static void bad_set_names_the_override_and_changes_nothing(void **state)
{
    (void)state;
    agora_scenario *sc = test_scenario(set_base);
    json_t *before = json_deep_copy(agora_scenario_config(sc));
    agora_error err;
    char buf[1024];
    assert_int_equal(agora_scenario_set(sc, "params.beta=high", &err), AGORA_ESCHEMA);
    assert_string_equal(err.where, "--set params.beta=high");
    assert_int_equal(err.line, 0);
    assert_string_equal(err.msg, "params.beta: expected a number in [0, 1], got \"high\"");
    assert_string_equal(agora_error_format(&err, buf, sizeof buf),
                        "--set params.beta=high: params.beta: expected a number in [0, 1], got \"high\"");
    assert_true(json_equal(before, (json_t *)agora_scenario_config(sc)));

    /* A new key the override creates is the override's doing too. */
    assert_int_equal(agora_scenario_set(sc, "params.delta.x=1", &err), AGORA_ESCHEMA);
    assert_string_equal(agora_error_format(&err, buf, sizeof buf),
                        "--set params.delta.x=1: params.delta: unknown parameter (known: beta, gamma, "
                        "initial_infected)");
    assert_int_equal(agora_scenario_set(sc, "interventions[0].action={action: nuke}", &err), AGORA_ESCHEMA);
    assert_string_equal(agora_error_format(&err, buf, sizeof buf),
                        "--set interventions[0].action={action: nuke}: interventions[0].action.action: expected one "
                        "of \"vaccinate\", \"lockdown\", \"seed_infection\", got \"nuke\"");
    /* An override that breaks a value written in the file: the file's value is where the problem shows. (This was
     * `steps=5` under the intervention at 10; a shortened run now skips that intervention with a warning instead,
     * issue 13: see shortened_steps_keep_later_interventions.) */
    assert_int_equal(agora_scenario_set(sc, "model=opinion", &err), AGORA_ESCHEMA);
    assert_string_equal(agora_error_format(&err, buf, sizeof buf),
                        "test.yaml:3:10: params.beta: unknown parameter (known: rule, epsilon, mu, rate, lazy, "
                        "stubbornness, initial, initial_sd, initial_fraction)");
    assert_true(json_equal(before, (json_t *)agora_scenario_config(sc)));
    json_decref(before);
    agora_scenario_destroy(sc);
}

/* `--steps 5` on a file whose intervention is at step 10 is accepted (the run skips it with a warning, see
 * test_run.c); the file's own steps must still cover its interventions, and so must an override of `at`. */
static void shortened_steps_keep_later_interventions(void **state)
{
    (void)state;
    agora_scenario *sc = test_scenario(set_base);
    agora_error err;
    char buf[1024];
    assert_int_equal(agora_scenario_set(sc, "steps=5", &err), 0);
    const json_t *cfg = agora_scenario_config(sc);
    assert_int_equal(json_integer_value(json_object_get(cfg, "steps")), 5);
    assert_int_equal(
        json_integer_value(json_object_get(json_array_get(json_object_get(cfg, "interventions"), 0), "at")), 10);
    agora_scenario_destroy(sc);
    assert_parse_fails("model: sir\n" GRID "steps: 20\ninterventions:\n  - {at: 21, action: {action: vaccinate, "
                       "fraction: 0.1}}\n",
                       AGORA_ESCHEMA,
                       "test.yaml:5:10: interventions[0].at: expected a step in [0, 20] (0 to steps), got 21");
    sc = test_scenario(set_base);
    assert_int_equal(agora_scenario_set(sc, "interventions[0].at=70", &err), AGORA_ESCHEMA);
    assert_string_equal(agora_error_format(&err, buf, sizeof buf),
                        "--set interventions[0].at=70: interventions[0].at: expected a step in [0, 50] (0 to steps), "
                        "got 70");
    agora_scenario_destroy(sc);
}

/* ---- every error at once ------------------------------------------------------------------------------------- */

static void every_error_of_a_file_is_reported_with_its_line(void **state)
{
    (void)state;
    /* an unknown key, bad values in two blocks, a bad persona and two bad interventions */
    const char *text = "model: sir\n"                                                             /* 1 */
                       "space: {kind: grid, width: 0, height: 10}\n"                              /* 2 */
                       "params: {beta: high, gamma: 0.1}\n"                                       /* 3 */
                       "stpes: 10\n"                                                              /* 4 */
                       "steps: 20\n"                                                              /* 5 */
                       "interventions:\n"                                                         /* 6 */
                       "  - {at: 30, action: {action: vaccinate, fraction: 0.1}}\n"               /* 7 */
                       "  - {at: 5, action: {action: vaccinate, fraction: 0.1}}\n"                /* 8 */
                       "  - {at: 6, action: {action: nuke}}\n"                                    /* 9 */
                       "personas:\n"                                                              /* 10 */
                       "  - {id: minister, role: r, persona: p, every: 0, offline_policy: []}\n"; /* 11 */
    const char *want[] = {
        "test.yaml:4:1: stpes: unknown key (did you mean \"steps\"?)",
        "test.yaml:2:28: space.width: expected an integer in [1, 2147483648], got 0",
        "test.yaml:3:16: params.beta: expected a number in [0, 1], got \"high\"",
        "test.yaml:7:10: interventions[0].at: expected a step in [0, 20] (0 to steps), got 30",
        "test.yaml:9:30: interventions[2].action.action: expected one of \"vaccinate\", \"lockdown\", "
        "\"seed_infection\", got \"nuke\"",
        "test.yaml:11:48: personas[0].every: expected a number in [1, 1e+09]",
    };
    assert_reports(text, NULL, 0, want, 6, 0);
    /* a missing space is stood in for, so what follows it is still checked */
    const char *no_space = "model: sir\nparams: {beta: 2}\noutput: {compression: 12}\n";
    const char *want2[] = {"test.yaml:1:1: space: required key is missing (a grid, a graph or a mixed population, "
                           "e.g. {kind: grid, width: 100, height: 100})",
                           "test.yaml:2:16: params.beta: expected a number in [0, 1], got 2",
                           "test.yaml:3:23: output.compression: expected an integer in [0, 9], got 12"};
    assert_reports(no_space, NULL, 0, want2, 3, 0);
    /* an unknown model: nothing after it can be checked, but the keys before it are */
    const char *want3[] = {"test.yaml:3:1: bogus: unknown key (known: name, description, mode, model, space, params, "
                           "steps, seed, threads, output, interventions, llm, personas, sweep)",
                           "test.yaml:1:8: model: unknown model \"sri\" (known: sir, opinion, market)"};
    assert_reports("model: sri\n" GRID "bogus: 1\n", NULL, 0, want3, 2, 0);
    /* overrides: each bad one named (output.path= restores the default: no error) */
    const char *sets[] = {"params.beta=7", "space.width=0", "output.path=", "seed=-1"};
    const char *want4[] = {"--set space.width=0: space.width: expected an integer in [1, 2147483648], got 0",
                           "--set params.beta=7: params.beta: expected a number in [0, 1], got 7",
                           "--set seed=-1: seed: expected an integer >= 0, got -1"};
    assert_reports("model: sir\n" GRID, sets, 4, want4, 3, 0);
}

static void at_most_twenty_errors_then_and_more(void **state)
{
    (void)state;
    char text[4096] = "model: sir\n" GRID "params:\n";
    for (int i = 0; i < 25; i++)
        snprintf(text + strlen(text), sizeof text - strlen(text), "  p%02d: 1\n", i);
    agora_scenario *sc = NULL;
    agora_scenario_errors errs;
    char got[1024];
    assert_int_equal(agora_scenario_parse_report(text, strlen(text), "test.yaml", NULL, &sc, &errs), AGORA_ESCHEMA);
    assert_null(sc);
    assert_int_equal(errs.n, AGORA_SCENARIO_MAX_ERRORS);
    assert_int_equal(errs.more, 1);
    for (int i = 0; i < errs.n; i++) {
        char want[128];
        snprintf(want, sizeof want, "test.yaml:%d:3: params.p%02d: unknown parameter", 4 + i, i);
        assert_non_null(strstr(agora_error_format(&errs.e[i], got, sizeof got), want));
    }
    /* one error: just that; none: n = 0 */
    const char *one = "model: sir\n" GRID "steps: x\n";
    assert_int_equal(agora_scenario_parse_report(one, strlen(one), "test.yaml", NULL, &sc, &errs), AGORA_ESCHEMA);
    assert_int_equal(errs.n, 1);
    assert_int_equal(errs.more, 0);
    const char *good = "model: sir\n" GRID;
    assert_int_equal(agora_scenario_parse_report(good, strlen(good), "test.yaml", NULL, &sc, &errs), 0);
    assert_int_equal(errs.n, 0);
    assert_non_null(sc);
    agora_scenario_destroy(sc);
    /* a syntax error or a missing file: one error */
    const char *bad = "model: sir\nspace: {kind: grid\n";
    assert_int_equal(agora_scenario_parse_report(bad, strlen(bad), "test.yaml", NULL, &sc, &errs), AGORA_EPARSE);
    assert_int_equal(errs.n, 1);
    assert_int_equal(agora_scenario_load_report("/no/such.yaml", &sc, &errs), AGORA_EIO);
    assert_int_equal(errs.n, 1);
    assert_non_null(strstr(errs.e[0].msg, "cannot open"));
}

/* Overrides valid only together pass when given together; a bad one among them changes nothing and is named. */
static void set_all_checks_the_overrides_together(void **state)
{
    (void)state;
    agora_scenario *sc = test_scenario(set_base);
    json_t *before = json_deep_copy(agora_scenario_config(sc));
    agora_error err;
    char buf[1024];
    const char *together[] = {"steps=5", "interventions[0].at=3"};
    assert_int_equal(agora_scenario_set_all(sc, together, 2, &err), 0);
    assert_int_equal(json_integer_value(cfg_at(sc, "steps", NULL)), 5);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(cfg_at(sc, "interventions", NULL), 0), "at")),
                     3);
    json_decref(before);
    before = json_deep_copy(agora_scenario_config(sc));
    const char *bad[] = {"params.beta=0.3", "params.gamma=2", "steps=9"};
    assert_int_equal(agora_scenario_set_all(sc, bad, 3, &err), AGORA_ESCHEMA);
    assert_string_equal(agora_error_format(&err, buf, sizeof buf),
                        "--set params.gamma=2: params.gamma: expected a number in [0, 1], got 2");
    assert_true(json_equal(before, (json_t *)agora_scenario_config(sc)));
    /* The override list stays consistent: a later error still names the right override. */
    assert_int_equal(agora_scenario_set(sc, "params.beta=high", &err), AGORA_ESCHEMA);
    assert_string_equal(err.where, "--set params.beta=high");
    json_decref(before);
    agora_scenario_destroy(sc);
}

static void malformed_set_is_invalid(void **state)
{
    (void)state;
    agora_scenario *sc = test_scenario(set_base);
    agora_error err;
    assert_int_equal(agora_scenario_set(sc, "params.beta", &err), AGORA_EINVAL);
    assert_string_equal(err.where, "--set params.beta");
    assert_string_equal(err.msg, "expected KEY=VALUE, e.g. params.beta=0.1");
    assert_int_equal(agora_scenario_set(sc, "=0.1", &err), AGORA_EINVAL);
    assert_int_equal(agora_scenario_set(sc, " =0.1", &err), AGORA_EINVAL);
    assert_int_equal(agora_scenario_set(sc, "params..beta=0.1", &err), AGORA_EINVAL);
    assert_int_equal(agora_scenario_set(sc, "params.beta.=0.1", &err), AGORA_EINVAL);
    assert_int_equal(agora_scenario_set(sc, "interventions[x].at=1", &err), AGORA_EINVAL);
    assert_int_equal(agora_scenario_set(sc, "interventions[5].at=1", &err), AGORA_EINVAL);
    assert_string_equal(err.msg, "cannot set interventions[5].at: the list has 1 item, so the index can be at most 1 "
                                 "(to append)");
    assert_int_equal(agora_scenario_set(sc, "steps.x=1", &err), AGORA_EINVAL);
    assert_string_equal(err.msg, "cannot set steps.x: steps is an integer, not a mapping");
    /* A value that is not YAML. */
    assert_int_equal(agora_scenario_set(sc, "params.beta=[0.1,", &err), AGORA_EPARSE);
    assert_string_equal(err.where, "--set params.beta=[0.1,");
    assert_int_equal(err.line, 0);
    assert_true(strncmp(err.msg, "syntax error: ", 14) == 0);
    /* {kind:grid} is YAML for one key "kind:grid": said so, with how to write it */
    assert_int_equal(agora_scenario_set(sc, "space={kind:grid,width:2}", &err), AGORA_EINVAL);
    assert_string_equal(err.msg, "the key \"kind:grid\" holds a colon: YAML needs a space after it (write kind: grid)");
    assert_int_equal(agora_scenario_set(sc, "output.path=a:b.h5", &err), 0); /* a colon in a value is a value */
    assert_int_equal(agora_scenario_set(sc, "output.path=", &err), 0);
    /* None of these changed anything. */
    assert_true(json_real_value(cfg_at(sc, "params", "beta")) == 0.2);
    agora_scenario_destroy(sc);
}

static void later_errors_in_an_overridden_subtree_name_the_override(void **state)
{
    (void)state;
    agora_scenario *sc = test_scenario(set_base);
    set_ok(sc, "space={kind: graph, generator: file, path: edges.txt}");
    agora_error err;
    char buf[1024];
    /* E.g. the runner finds the graph file unreadable after loading. */
    agora_error_set(&err, AGORA_EIO, "space.path", "cannot open: No such file or directory");
    agora_scenario_locate(sc, &err);
    assert_string_equal(agora_error_format(&err, buf, sizeof buf),
                        "--set space={kind: graph, generator: file, path: edges.txt}: space.path: cannot open: No such "
                        "file or directory");
    /* Outside the override, the file's position. */
    agora_error_set(&err, AGORA_EINVAL, "params.beta", "odd");
    agora_scenario_locate(sc, &err);
    assert_string_equal(agora_error_format(&err, buf, sizeof buf), "test.yaml:3:16: params.beta: odd");
    agora_scenario_destroy(sc);
}

/* ---- the YAML layer ---------------------------------------------------------------------------------------------- */

static json_t *yaml_ok(const char *text, agora__locmap **locs)
{
    json_t *root = NULL;
    agora_error err;
    int rc = agora__yaml_parse(text, strlen(text), "t.yaml", &root, locs, &err);
    if (rc) {
        char buf[1024];
        fail_msg("%s", agora_error_format(&err, buf, sizeof buf));
    }
    return root;
}

static void yaml_fails(const char *text, const char *formatted)
{
    json_t *root = NULL;
    agora__locmap *locs = NULL;
    agora_error err;
    char buf[1024];
    int rc = agora__yaml_parse(text, strlen(text), "t.yaml", &root, &locs, &err);
    assert_int_equal(rc, AGORA_EPARSE);
    assert_null(root);
    assert_null(locs);
    assert_string_equal(agora_error_format(&err, buf, sizeof buf), formatted);
}

static void yaml_core_schema_scalars(void **state)
{
    (void)state;
    json_t *v = yaml_ok("a: null\nb: Null\nc: ~\nd:\ne: true\nf: FALSE\ng: 0x1F\nh: 0o17\ni: -42\nj: 1.5\n"
                        "k: 1e-3\nl: -.5\nm: 1_000\nn: \"5\"\no: '0x10'\np: !!str 12\nq: yes\nr: 007\ns: +3\nt: 1.\n"
                        "u: .5e2\nv: !!float 3\nw: 9223372036854775807\nx: |\n  two\n  lines\ny: TRUE\nz: nul\n",
                        NULL);
    assert_json(v, "{\"a\": null, \"b\": null, \"c\": null, \"d\": null, \"e\": true, \"f\": false, \"g\": 31,"
                   " \"h\": 15, \"i\": -42, \"j\": 1.5, \"k\": 0.001, \"l\": -0.5, \"m\": \"1_000\", \"n\": \"5\","
                   " \"o\": \"0x10\", \"p\": \"12\", \"q\": \"yes\", \"r\": 7, \"s\": 3, \"t\": 1.0, \"u\": 50.0,"
                   " \"v\": 3.0, \"w\": 9223372036854775807, \"x\": \"two\\nlines\\n\", \"y\": true, \"z\": \"nul\"}");
    /* json_equal tells integers from reals: these must be reals. */
    assert_true(json_is_real(json_object_get(v, "t")));
    assert_true(json_is_real(json_object_get(v, "v")));
    assert_true(json_is_integer(json_object_get(v, "r")));
    json_decref(v);
}

static void yaml_scalar_errors(void **state)
{
    (void)state;
    yaml_fails("x: 9223372036854775808\n", "t.yaml:1:4: x: integer out of range (beyond 64 bits): 9223372036854775808");
    yaml_fails("x: 0xFFFFFFFFFFFFFFFFF\n", "t.yaml:1:4: x: integer out of range (beyond 64 bits): 0xFFFFFFFFFFFFFFFFF");
    yaml_fails("x: [1, .NaN]\n", "t.yaml:1:8: x[1]: non-finite numbers are not allowed");
    yaml_fails("x: -.inf\n", "t.yaml:1:4: x: non-finite numbers are not allowed");
    yaml_fails("x: 1e400\n", "t.yaml:1:4: x: number out of range: 1e400");
    yaml_fails("x: !!int abc\n", "t.yaml:1:4: x: \"abc\" is not a valid !!int");
    yaml_fails("x: !color red\n",
               "t.yaml:1:4: x: unsupported tag \"!color\" (only the core schema's !!str, !!int, !!float, !!bool and "
               "!!null are understood)");
}

static void yaml_structure_errors(void **state)
{
    (void)state;
    yaml_fails("a: 1\n---\nb: 2\n", "t.yaml:2:1: more than one document (only one is allowed)");
    yaml_fails("a:\n  b: 1\n  b: 2\n", "t.yaml:3:3: a.b: duplicate key (first given at line 2)");
    yaml_fails("a: {[1]: 2}\n", "t.yaml:1:5: a: keys must be strings, not lists or mappings");
    yaml_fails("a: *nope\n", "t.yaml:1:4: a: alias *nope refers to no complete node before it");
    /* An alias inside its own anchor would be a cycle. */
    yaml_fails("a: &x [1, *x]\n", "t.yaml:1:11: a[1]: alias *x refers to no complete node before it");
    yaml_fails("a: b: c\n", "t.yaml:1:5: syntax error: mapping values are not allowed in this context");
}

static void yaml_guards_against_deep_nesting_and_alias_bombs(void **state)
{
    (void)state;
    char deep[2 * 600 + 8];
    memset(deep, '[', 600);
    memset(deep + 600, ']', 600);
    deep[1200] = '\0';
    json_t *root = NULL;
    agora_error err;
    assert_int_equal(agora__yaml_parse(deep, strlen(deep), "t.yaml", &root, NULL, &err), AGORA_EPARSE);
    assert_non_null(strstr(err.msg, "too deeply nested"));
    /* Each level multiplies by ten: the sixth has 10^6 leaves, beyond the 2^20-node cap. */
    const char *bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                       "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                       "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                       "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                       "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
                       "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n";
    assert_int_equal(agora__yaml_parse(bomb, strlen(bomb), "t.yaml", &root, NULL, &err), AGORA_EPARSE);
    assert_null(root);
    assert_non_null(strstr(err.msg, "too many nodes"));
}

static void yaml_empty_input_has_no_document(void **state)
{
    (void)state;
    json_t *root = (json_t *)1;
    agora__locmap *locs = NULL;
    agora_error err;
    assert_int_equal(agora__yaml_parse("", 0, "t.yaml", &root, &locs, &err), 0);
    assert_null(root);
    assert_int_equal(agora__locmap_count(locs), 0);
    agora__locmap_free(locs);
    assert_int_equal(agora__yaml_parse("# just this\n", 12, "t.yaml", &root, NULL, &err), 0);
    assert_null(root);
}

static void yaml_records_key_and_value_positions(void **state)
{
    (void)state;
    agora__locmap *locs = NULL;
    json_t *v = yaml_ok("# top\nparams:\n  beta: 0.1\nlist:\n  - a\n  - {x: 1}\n", &locs);
    int line, col;
    assert_int_equal(agora__locmap_count(locs), 7); /* root, params, params.beta, list, list[0], list[1], list[1].x */
    assert_int_equal(agora__locmap_find(locs, "params.beta", &line, &col, 1), 0);
    assert_int_equal(line, 3);
    assert_int_equal(col, 3);
    assert_int_equal(agora__locmap_find(locs, "params.beta", &line, &col, 0), 0);
    assert_int_equal(line, 3);
    assert_int_equal(col, 9);
    assert_int_equal(agora__locmap_find(locs, "list[1].x", &line, &col, 0), 0);
    assert_int_equal(line, 6);
    assert_int_equal(col, 9);
    assert_int_equal(agora__locmap_find(locs, "list[1].x", &line, &col, 1), 0);
    assert_int_equal(col, 6);
    /* Missing nodes walk up: to the nearest ancestor's key, or its value when it has no key (a list item). */
    assert_int_equal(agora__locmap_find(locs, "params.gamma", &line, &col, 0), 1);
    assert_int_equal(line, 2);
    assert_int_equal(col, 1);
    assert_int_equal(agora__locmap_find(locs, "list[1].y.z", &line, &col, 0), 1);
    assert_int_equal(line, 6);
    assert_int_equal(col, 5);
    /* The root stands for the whole document. */
    assert_int_equal(agora__locmap_find(locs, "nothing", &line, &col, 0), 1);
    assert_int_equal(line, 1);
    assert_int_equal(col, 1);
    assert_int_equal(agora__locmap_find(NULL, "x", &line, &col, 0), AGORA_ENOTFOUND);
    assert_int_equal(line, 0);
    json_decref(v);
    agora__locmap_free(locs);
}

static void yaml_aliases_copy_values_and_positions(void **state)
{
    (void)state;
    agora__locmap *locs = NULL;
    json_t *v = yaml_ok("base: &b {x: 1, y: [2]}\ncopy: *b\nname: &n hello\n? *n\n: world\n", &locs);
    assert_json(v, "{\"base\": {\"x\": 1, \"y\": [2]}, \"copy\": {\"x\": 1, \"y\": [2]}, \"name\": \"hello\","
                   " \"hello\": \"world\"}");
    int line, col;
    /* The alias itself is where it stands; what it copies is where it was written. */
    assert_int_equal(agora__locmap_find(locs, "copy", &line, &col, 0), 0);
    assert_int_equal(line, 2);
    assert_int_equal(col, 7);
    assert_int_equal(agora__locmap_find(locs, "copy.y[0]", &line, &col, 0), 0);
    assert_int_equal(line, 1);
    assert_int_equal(col, 21);
    /* A copy is a copy: changing it leaves the original alone. */
    json_object_set_new(json_object_get(v, "copy"), "x", json_integer(5));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(v, "base"), "x")), 1);
    json_decref(v);
    agora__locmap_free(locs);
}

static void json_text_goes_through_the_same_parser(void **state)
{
    (void)state;
    agora__locmap *locs = NULL;
    json_t *root = NULL;
    agora_error err;
    const char *text = "{\"a\": [1, 2.5, \"x\", null, true],\n \"b\": {\"c\": \"\\u00e9\"}}";
    assert_int_equal(agora__yaml_parse(text, strlen(text), "t.json", &root, &locs, &err), 0);
    assert_json(root, "{\"a\": [1, 2.5, \"x\", null, true], \"b\": {\"c\": \"\\u00e9\"}}");
    int line, col;
    assert_int_equal(agora__locmap_find(locs, "b.c", &line, &col, 0), 0);
    assert_int_equal(line, 2);
    assert_int_equal(col, 13);
    json_decref(root);
    agora__locmap_free(locs);
    /* A byte-order mark is not an error in JSON either. */
    const char *bom = "\xEF\xBB\xBF{\"k\": 1}";
    assert_int_equal(agora__yaml_parse(bom, strlen(bom), "t.json", &root, NULL, &err), 0);
    assert_json(root, "{\"k\": 1}");
    json_decref(root);
    /* Broken JSON is reported with jansson's position, even where YAML would accept it (here "b" as null). */
    const char *bad = "{\"a\": 1,\n \"b\": }";
    assert_int_equal(agora__yaml_parse(bad, strlen(bad), "t.json", &root, &locs, &err), AGORA_EPARSE);
    assert_string_equal(err.where, "t.json");
    assert_int_equal(err.line, 2);
    assert_int_equal(err.column, 7);
}

/* FIPS 180-4's examples (and the empty message), fed whole and in odd-sized pieces across block boundaries. */
static void sha256_matches_the_standard_vectors(void **state)
{
    (void)state;
    static const struct {
        const char *msg, *hex;
    } v[] = {{"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
             {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
             {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
              "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"}};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        for (size_t piece = 1; piece <= 64; piece *= 3) {
            agora__sha256 h;
            char hex[65];
            agora__sha256_init(&h);
            size_t n = strlen(v[i].msg);
            for (size_t k = 0; k < n; k += piece)
                agora__sha256_add(&h, v[i].msg + k, n - k < piece ? n - k : piece);
            agora__sha256_hex(&h, hex);
            assert_string_equal(hex, v[i].hex);
        }
    }
    /* a million 'a': many blocks */
    agora__sha256 h;
    char hex[65], a[1000];
    memset(a, 'a', sizeof a);
    agora__sha256_init(&h);
    for (int k = 0; k < 1000; k++)
        agora__sha256_add(&h, a, sizeof a);
    agora__sha256_hex(&h, hex);
    assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

static void hash_of(const char *path, const char *const *sets, int n, char hex[65])
{
    agora_scenario *sc = NULL;
    agora_error err;
    assert_int_equal(agora_scenario_load(path, &sc, &err), 0);
    if (n > 0)
        assert_int_equal(agora_scenario_set_all(sc, sets, n, &err), 0);
    assert_int_equal(agora_scenario_hash(sc, hex, &err), 0);
    assert_int_equal(strlen(hex), 64);
    agora_scenario_destroy(sc);
}

/* The configuration hash changes with every key that changes results, and not with where the file goes, its
 * flushing or compression, or the thread count. */
static void config_hash_follows_what_changes_results(void **state)
{
    (void)state;
    const char *path = test_src_path("scenarios/sir_karate.yaml");
    char base[65], h[65];
    hash_of(path, NULL, 0, base);
    static const char *const same[] = {"output.path=\"elsewhere.h5\"", "threads=3", "output.flush_every=1",
                                       "output.compression=0"};
    hash_of(path, same, 4, h);
    assert_string_equal(h, base);
    static const char *const differ[] = {"params.beta=0.5", "params.gamma=0.9", "steps=7", "seed=99",
                                         "output.snapshot_every=3"};
    for (size_t i = 0; i < sizeof differ / sizeof differ[0]; i++) {
        hash_of(path, &differ[i], 1, h);
        if (strcmp(h, base) == 0)
            fail_msg("%s does not change the hash", differ[i]);
    }
    assert_int_equal(agora_scenario_hash(NULL, h, NULL), AGORA_EINVAL);
}

/* ---- model resolution through a server's hooks (agora__scenario_open) ------------------------------------------ */

static int hook_reads;

static int refuse_reads(void *ud, const char *path, char *real, agora_error *err)
{
    (void)ud, (void)real;
    hook_reads++;
    return agora_error_set(err, AGORA_EINVAL, "model", "%s: not for you", path);
}

static int define_unlisted(void *ud, agora__rules_model *m, const agora_model **out, agora_error *err)
{
    (*(int *)ud)++;
    return agora__rules_intern(m, 0, out, err);
}

/* A server's hooks see every model file a scenario names by path before it is read (a refusal is the scenario's
 * error, the file unread), and take every definition in place of the registry: one registered unlisted is not found
 * by name (so it cannot change what a name means for anyone else) until the same definition is defined the
 * library's way. */
static void hooks_decide_model_files_and_definitions(void **state)
{
    (void)state;
    int defined = 0;
    agora__rules_hooks hooks = {.ud = &defined, .may_read = refuse_reads, .defined = define_unlisted};
    const char *text = "model: {define: {name: hooked_flip, vars: {on: bool}, rules: {on: not on}, metrics: {f: "
                       "pop_mean(on)}}}\nspace: {kind: grid, width: 3, height: 3}\n";
    agora_scenario *sc = NULL;
    agora_error err;
    assert_int_equal(agora__scenario_open(text, strlen(text), "t", &hooks, NULL, &sc, &err), 0);
    const agora_model *m = agora_scenario_model(sc);
    assert_string_equal(m->name, "hooked_flip");
    assert_int_equal(defined, 1);
    assert_null(agora_model_find("hooked_flip"));
    agora_scenario_destroy(sc);
    /* the library's own way registers it by name: the same model */
    assert_int_equal(agora_scenario_parse(text, strlen(text), "t", NULL, &sc, &err), 0);
    assert_ptr_equal(agora_scenario_model(sc), m);
    assert_ptr_equal(agora_model_find("hooked_flip"), m);
    agora_scenario_destroy(sc);
    /* a path: asked first, refused, not read */
    const char *by_path = "model: /etc/passwd\nspace: {kind: grid, width: 3, height: 3}\n";
    assert_int_not_equal(agora__scenario_open(by_path, strlen(by_path), "t", &hooks, NULL, &sc, &err), 0);
    assert_null(sc);
    assert_int_equal(hook_reads, 1);
    assert_non_null(strstr(err.msg, "not for you"));
    /* and an override naming one */
    const char *plain = "model: sir\nspace: {kind: grid, width: 3, height: 3}\n";
    assert_int_equal(agora__scenario_open(plain, strlen(plain), "t", &hooks, NULL, &sc, &err), 0);
    assert_int_not_equal(agora_scenario_set(sc, "model=../x.yaml", &err), 0);
    assert_int_equal(hook_reads, 2);
    assert_string_equal(agora_scenario_model(sc)->name, "sir"); /* unchanged */
    agora_scenario_destroy(sc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(good_yaml_loads_with_defaults),
        cmocka_unit_test(good_json_loads_with_defaults),
        cmocka_unit_test(json_that_libyaml_refuses_falls_back_to_jansson),
        cmocka_unit_test(minimal_text_gets_every_default),
        cmocka_unit_test(sha256_matches_the_standard_vectors),
        cmocka_unit_test(config_hash_follows_what_changes_results),
        cmocka_unit_test(aliases_are_copied),
        cmocka_unit_test(bad_type_names_the_value),
        cmocka_unit_test(out_of_range_names_the_value),
        cmocka_unit_test(unknown_top_level_key_suggests_the_closest),
        cmocka_unit_test(unknown_nested_keys_point_at_the_key),
        cmocka_unit_test(yaml_syntax_error_has_libyaml_position),
        cmocka_unit_test(json_syntax_error_has_jansson_position),
        cmocka_unit_test(unknown_and_missing_model),
        cmocka_unit_test(missing_file_is_an_io_error),
        cmocka_unit_test(bad_intervention_action_names_the_field),
        cmocka_unit_test(duplicate_key_points_at_the_second),
        cmocka_unit_test(non_finite_numbers_are_refused),
        cmocka_unit_test(the_issue_example_comes_out_exactly),
        cmocka_unit_test(other_value_errors),
        cmocka_unit_test(errors_inside_aliases_point_at_the_anchor),
        cmocka_unit_test(locate_turns_key_paths_into_positions),
        cmocka_unit_test(set_parses_values_as_yaml),
        cmocka_unit_test(set_creates_missing_parents_and_indexes_lists),
        cmocka_unit_test(bad_set_names_the_override_and_changes_nothing),
        cmocka_unit_test(set_all_checks_the_overrides_together),
        cmocka_unit_test(shortened_steps_keep_later_interventions),
        cmocka_unit_test(every_error_of_a_file_is_reported_with_its_line),
        cmocka_unit_test(at_most_twenty_errors_then_and_more),
        cmocka_unit_test(malformed_set_is_invalid),
        cmocka_unit_test(later_errors_in_an_overridden_subtree_name_the_override),
        cmocka_unit_test(yaml_core_schema_scalars),
        cmocka_unit_test(yaml_scalar_errors),
        cmocka_unit_test(yaml_structure_errors),
        cmocka_unit_test(yaml_guards_against_deep_nesting_and_alias_bombs),
        cmocka_unit_test(yaml_empty_input_has_no_document),
        cmocka_unit_test(yaml_records_key_and_value_positions),
        cmocka_unit_test(yaml_aliases_copy_values_and_positions),
        cmocka_unit_test(json_text_goes_through_the_same_parser),
        cmocka_unit_test(hooks_decide_model_files_and_definitions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
