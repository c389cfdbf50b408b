/* Tests of running a scenario (src/runner/run.c) and its pre-flight (src/runner/check.c, agora_run_check, what
 * `agora validate` runs): what a run would refuse before its first step is refused by the check too, without
 * writing anything (a missing edge-list file, a count larger than the population, a replay recording that is not
 * there, an output file agora may not overwrite); threads above the machine's cores are capped with a warning; an
 * intervention after a shortened `steps` is skipped with a warning and recorded; and the library honours every
 * argument its headers say may be NULL. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <hdf5.h>
#include <omp.h>

#include "agora/agora.h"
#include "agora/sweep.h"
#include "support.h"

/* A logger that keeps the warnings, for tests that check one was given. */
typedef struct kept {
    char text[4096];
} kept;

static void keep(void *ud, agora_log_level level, const char *msg)
{
    kept *k = ud;
    if (level <= AGORA_LOG_WARN)
        snprintf(k->text + strlen(k->text), sizeof k->text - strlen(k->text), "%s\n", msg);
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* A scenario from text, as if read from a file in the test directory (relative paths resolve there). */
static agora_scenario *scenario_in_tmp(const char *yaml)
{
    agora_scenario *sc = NULL;
    agora_error err;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", test_tmp_path(""));
    if (agora_scenario_parse(yaml, strlen(yaml), test_tmp_path("run_test.yaml"), dir, &sc, &err) != 0)
        fail_msg("%s", err.msg);
    return sc;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void run_with_no_result_or_options(void **state)
{
    (void)state;
    char yaml[4600];
    snprintf(yaml, sizeof yaml,
             "model: sir\nspace: {kind: grid, width: 6, height: 6}\nsteps: 3\noutput: {path: \"%s\"}\n",
             test_tmp_path("null_res.h5"));
    agora_scenario *sc = test_scenario(yaml);
    assert_int_equal(agora_run(sc, NULL, NULL, NULL), 0);
    assert_true(exists(test_tmp_path("null_res.h5")));
    agora_scenario_destroy(sc);
    /* an interactions scenario is refused with a NULL result too (this dereferenced it) */
    const char *ix = "mode: interactions\nactors: [{id: a, name: A, role: r}]\nworld: {description: w}\n";
    sc = test_scenario(ix);
    agora_error err;
    assert_int_equal(agora_run(sc, NULL, NULL, &err), AGORA_EINVAL);
    assert_string_equal(err.where, "mode");
    assert_int_equal(agora_run(sc, NULL, NULL, NULL), AGORA_EINVAL);
    agora_scenario_destroy(sc);
}

/* Every "may be NULL" and "NULL is allowed" of the public headers (include/agora), called with NULL. */
static void null_arguments_the_headers_allow_are_honoured(void **state)
{
    (void)state;
    agora_error err;
    /* error.h, log.h */
    assert_int_equal(agora_error_set(NULL, AGORA_EINVAL, NULL, "x"), AGORA_EINVAL);
    assert_int_equal(agora_error_set(&err, AGORA_EIO, NULL, "y %d", 1), AGORA_EIO);
    assert_string_equal(err.where, "");
    agora_error_clear(NULL);
    agora_log(NULL, AGORA_LOG_ERROR, "dropped");
    const agora_logger no_fn = {NULL, NULL, AGORA_LOG_DEBUG};
    agora_log(&no_fn, AGORA_LOG_ERROR, "dropped");
    /* destroyers */
    agora_scenario_destroy(NULL);
    agora_space_destroy(NULL);
    agora_world_destroy(NULL);
    agora_mcp_destroy(NULL);
    agora_run_result_free(NULL);
    assert_int_equal(agora_writer_close(NULL, "complete", 0, 0, NULL, NULL), 0);
    /* scenario.h, space.h: base_dir NULL; the report calls without errs or out */
    agora_scenario *sc = NULL;
    const char *y = "model: sir\nspace: {kind: grid, width: 4, height: 4}\n";
    assert_int_equal(agora_scenario_parse(y, strlen(y), NULL, NULL, &sc, NULL), 0);
    agora_scenario_destroy(sc);
    assert_int_equal(agora_scenario_parse_report(y, strlen(y), "x.yaml", NULL, NULL, NULL), 0);
    assert_int_equal(agora_scenario_load_report("/no/such/scenario.yaml", NULL, NULL), AGORA_EIO);
    json_t *spec = json_pack("{s:s, s:i, s:i}", "kind", "grid", "width", 4, "height", 4);
    agora_space *space = NULL;
    assert_int_equal(agora_space_create(spec, 1, NULL, &space, NULL), 0);
    json_decref(spec);
    /* world.h: params and logger NULL */
    agora_world_config wc = {.model = agora_model_find("sir"), .space = space, .seed = 1, .threads = 1};
    agora_world *w = NULL;
    assert_int_equal(agora_world_create(&wc, &w, NULL), 0);
    agora_world_destroy(w);
    /* model.h: params given NULL; schema.h: path NULL; persona.h: llm NULL */
    json_t *params = NULL;
    assert_int_equal(agora_params_resolve(agora_model_find("sir")->params, NULL, &params, NULL), 0);
    json_decref(params);
    json_t *schema = json_pack("{s:s}", "type", "number"), *v = json_string("x");
    assert_int_equal(agora_schema_validate(schema, v, NULL, &err), AGORA_ESCHEMA);
    json_decref(schema);
    json_decref(v);
    json_t *personas = test_json("[{'id': 'a', 'role': 'r', 'persona': 'p', 'every': 1, 'offline_policy': []}]");
    agora_personas *ps = NULL;
    assert_int_equal(agora_personas_create(NULL, personas, agora_model_find("sir"), &ps, NULL), 0);
    agora_personas_destroy(ps);
    json_decref(personas);
    /* matching.h: scratch NULL on a mixed space */
    agora_space *mixed = NULL;
    assert_int_equal(agora_space_mixed_create(10, &mixed, NULL), 0);
    int64_t partner[10];
    agora_match(mixed, agora_rng_key_from_seed(1), 0, 0, 1, partner, NULL);
    for (int i = 0; i < 10; i++)
        assert_true(partner[i] < 0 || partner[partner[i]] == i);
    agora_space_destroy(mixed);
    /* mcp.h: options NULL */
    agora_mcp *srv = NULL;
    assert_int_equal(agora_mcp_create(NULL, NULL, NULL, &srv, NULL), 0);
    agora_mcp_destroy(srv);
    /* interact.h: calls NULL (fails for want of an LLM, before any network) */
    json_t *made = NULL;
    assert_int_equal(agora_interact_generate("What if?", NULL, 0, &made, NULL, NULL), AGORA_EINVAL);
    assert_null(made);
    /* run.h: options and result NULL (above), and agora_run_check with NULL options */
    sc = test_scenario(y);
    assert_int_equal(agora_run_check(sc, NULL, NULL), 0);
    agora_scenario_destroy(sc);
    assert_int_equal(agora_run_check(NULL, NULL, NULL), AGORA_EINVAL);
    /* sweep.h: logger and cancel NULL are the defaults of the options; NULL options are an error, not a crash */
    agora_sweep_progress pg;
    assert_int_equal(agora_sweep_run("x.yaml", NULL, NULL, &pg, NULL), AGORA_EINVAL);
    assert_int_equal(agora_sweep_check("x.yaml", NULL, NULL, NULL), AGORA_EINVAL);
}

static void check_fails(agora_scenario *sc, const agora_run_options *opt, int code, const char *formatted)
{
    agora_error err;
    char buf[1024];
    int rc = agora_run_check(sc, opt, &err);
    if (rc != code)
        fail_msg("expected %s, got %s: %s", agora_errname(code), agora_errname(rc),
                 agora_error_format(&err, buf, sizeof buf));
    if (!strstr(agora_error_format(&err, buf, sizeof buf), formatted))
        fail_msg("expected \"%s\" in \"%s\"", formatted, buf);
}

static void the_check_finds_what_the_run_would_and_writes_nothing(void **state)
{
    (void)state;
    char yaml[8192];
    char out[4096]; /* test_tmp_path's buffers are reused: keep a copy */
    snprintf(out, sizeof out, "%s", test_tmp_path("check_out.h5"));
    unlink(out);
    /* a missing edge-list file: located at the key, as the loader's errors are */
    snprintf(yaml, sizeof yaml,
             "model: sir\nspace: {kind: graph, generator: file, path: no_such.edgelist}\noutput: {path: \"%s\"}\n",
             out);
    agora_scenario *sc = scenario_in_tmp(yaml);
    check_fails(sc, NULL, AGORA_EIO, "run_test.yaml:2:45: space.path: edge-list file not found");
    agora_error err;
    assert_int_equal(agora_run(sc, NULL, NULL, &err), AGORA_EIO);
    assert_int_equal(err.line, 2); /* the run says the same */
    agora_scenario_destroy(sc);
    /* a malformed one: its own file and line */
    write_text(test_tmp_path("broken.edgelist"), "0 1\n1 2\n2 x\n");
    snprintf(yaml, sizeof yaml,
             "model: sir\nspace: {kind: graph, generator: file, path: broken.edgelist}\noutput: {path: \"%s\"}\n", out);
    sc = scenario_in_tmp(yaml);
    check_fails(sc, NULL, AGORA_EPARSE, "broken.edgelist:3: expected two vertex ids");
    agora_scenario_destroy(sc);
    assert_false(exists(out));
    /* a count larger than the population */
    snprintf(yaml, sizeof yaml,
             "model: sir\nspace: {kind: grid, width: 10, height: 10}\nparams: {initial_infected: 500}\n"
             "output: {path: \"%s\"}\n",
             out);
    sc = scenario_in_tmp(yaml);
    check_fails(sc, NULL, AGORA_ESCHEMA,
                "run_test.yaml:3:28: params.initial_infected: expected a fraction in [0, 1) or a count of at most the "
                "population (100 agents), got 500");
    assert_int_equal(agora_run(sc, NULL, NULL, &err), AGORA_ESCHEMA);
    agora_scenario_destroy(sc);
    assert_false(exists(out));
    /* a replay recording that is not there (mixed) */
    snprintf(yaml, sizeof yaml,
             "model: sir\nspace: {kind: grid, width: 10, height: 10}\noutput: {path: \"%s\"}\n"
             "personas: [{id: a, role: r, persona: p, every: 1, offline_policy: []}]\n",
             out);
    sc = scenario_in_tmp(yaml);
    agora_run_options ro = {.replay = test_tmp_path("no_such_recording.h5")};
    check_fails(sc, &ro, AGORA_EIO, "--replay: ");
    check_fails(sc, &ro, AGORA_EIO, "no_such_recording.h5: cannot open the run file");
    assert_int_equal(agora_run_check(sc, NULL, &err), 0);
    agora_scenario_destroy(sc);
    assert_false(exists(out)); /* nothing was written by any check */
}

static void the_output_must_be_absent_or_an_agora_file_unless_forced(void **state)
{
    (void)state;
    char yaml[8192];
    char notes[4096], foreign[4096];
    snprintf(notes, sizeof notes, "%s", test_tmp_path("notes.txt"));
    snprintf(foreign, sizeof foreign, "%s", test_tmp_path("foreign.h5"));
    write_text(notes, "precious\n");
    hid_t f = H5Fcreate(foreign, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(f >= 0);
    H5Fclose(f);
    const char *targets[] = {notes, foreign};
    const char *said[] = {"notes.txt exists and is not an agora file (not HDF5): not overwritten",
                          "foreign.h5 exists and is an HDF5 file agora did not write: not overwritten"};
    for (int i = 0; i < 2; i++) {
        snprintf(yaml, sizeof yaml,
                 "model: sir\nspace: {kind: grid, width: 6, height: 6}\nsteps: 2\noutput: {path: \"%s\"}\n",
                 targets[i]);
        agora_scenario *sc = scenario_in_tmp(yaml);
        check_fails(sc, NULL, AGORA_EINVAL, said[i]);
        check_fails(sc, NULL, AGORA_EINVAL, "run_test.yaml:4:16: output.path: "); /* located at the key */
        agora_error err;
        assert_int_equal(agora_run(sc, NULL, NULL, &err), AGORA_EINVAL);
        assert_non_null(strstr(err.msg, said[i]));
        agora_run_options force = {.force = 1};
        assert_int_equal(agora_run_check(sc, &force, &err), 0);
        assert_int_equal(agora_run(sc, &force, NULL, &err), 0);
        /* now it is an agora run file: overwriting it again needs no force */
        assert_int_equal(agora_run(sc, NULL, NULL, &err), 0);
        agora_scenario_destroy(sc);
    }
    /* never the scenario itself */
    char self[4096];
    snprintf(self, sizeof self, "%s", test_tmp_path("self.yaml"));
    snprintf(yaml, sizeof yaml, "model: sir\nspace: {kind: grid, width: 6, height: 6}\noutput: {path: \"%s\"}\n", self);
    write_text(self, yaml);
    agora_scenario *sc = NULL;
    agora_error err;
    assert_int_equal(agora_scenario_load(self, &sc, &err), 0);
    check_fails(sc, NULL, AGORA_EINVAL, "self.yaml is the scenario file itself: not overwritten");
    assert_int_equal(agora_run(sc, NULL, NULL, &err), AGORA_EINVAL);
    agora_scenario_destroy(sc);
    assert_int_equal(agora_scenario_load(self, &sc, &err), 0); /* untouched */
    agora_scenario_destroy(sc);
}

static void threads_above_the_cores_are_capped_with_a_warning(void **state)
{
    (void)state;
    char yaml[4600];
    snprintf(yaml, sizeof yaml,
             "model: sir\nspace: {kind: grid, width: 6, height: 6}\nsteps: 2\nthreads: 1000\noutput: {path: \"%s\"}\n",
             test_tmp_path("threads.h5"));
    agora_scenario *sc = test_scenario(yaml);
    kept k = {""};
    agora_logger lg = {keep, &k, AGORA_LOG_WARN};
    agora_run_options opt = {.logger = &lg};
    agora_run_result res;
    agora_error err;
    assert_int_equal(agora_run(sc, &opt, &res, &err), 0);
    const int procs = omp_get_num_procs();
    assert_int_equal(res.threads, procs);
    char want[128];
    snprintf(want, sizeof want, "threads: 1000 requested, but this machine has %d core%s: using %d", procs,
             procs == 1 ? "" : "s", procs);
    assert_non_null(strstr(k.text, want));
    agora_run_result_free(&res);
    k.text[0] = '\0';
    assert_int_equal(agora_run_check(sc, &opt, &err), 0); /* validate says it too */
    assert_non_null(strstr(k.text, want));
    agora_scenario_destroy(sc);
}

static void keep_reply(void *ud, const char *line, size_t len)
{
    kept *k = ud;
    snprintf(k->text, sizeof k->text, "%.*s", (int)len, line);
}

/* The MCP server's worlds get the same cap (its create_world takes threads up to 1024). */
static void mcp_worlds_cap_their_threads_too(void **state)
{
    (void)state;
    kept reply = {""}, log = {""};
    agora_logger lg = {keep, &log, AGORA_LOG_WARN};
    agora_mcp_options o = {.logger = &lg};
    agora_mcp *srv = NULL;
    assert_int_equal(agora_mcp_create(&o, keep_reply, &reply, &srv, NULL), 0);
    const char *call = "{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": \"tools/call\", \"params\": {\"name\": "
                       "\"create_world\", \"arguments\": {\"scenario\": \"model: sir\\nspace: {kind: grid, width: 5, "
                       "height: 5}\\n\", \"threads\": 1000}}}";
    agora_mcp_handle(srv, call, strlen(call));
    json_t *msg = json_loads(reply.text, 0, NULL);
    assert_non_null(msg);
    const json_t *sc = json_object_get(json_object_get(msg, "result"), "structuredContent");
    if (!sc)
        fail_msg("no result: %s", reply.text);
    assert_int_equal(json_integer_value(json_object_get(sc, "threads")), omp_get_num_procs());
    assert_non_null(strstr(log.text, "threads: 1000 requested"));
    json_decref(msg);
    agora_mcp_destroy(srv);
}

static void interventions_after_a_shortened_run_are_skipped_and_recorded(void **state)
{
    (void)state;
    char yaml[4600];
    char out[4096];
    snprintf(out, sizeof out, "%s", test_tmp_path("short.h5"));
    snprintf(yaml, sizeof yaml,
             "model: sir\nspace: {kind: grid, width: 6, height: 6}\nsteps: 20\noutput: {path: \"%s\"}\n"
             "interventions:\n  - {at: 2, action: {action: vaccinate, fraction: 0.1}}\n"
             "  - {at: 15, action: {action: lockdown, strength: 0.5, steps: 3}, source: plan}\n",
             out);
    agora_scenario *sc = test_scenario(yaml);
    agora_error err;
    assert_int_equal(agora_scenario_set(sc, "steps=10", &err), 0);
    kept k = {""};
    agora_logger lg = {keep, &k, AGORA_LOG_WARN};
    agora_run_options opt = {.logger = &lg};
    assert_int_equal(agora_run_check(sc, &opt, &err), 0);
    assert_non_null(strstr(k.text, "interventions[1]: skipped: {\"action\":\"lockdown\""));
    assert_non_null(strstr(k.text, "scheduled at step 15, after the last step (10)"));
    k.text[0] = '\0';
    agora_run_result res;
    assert_int_equal(agora_run(sc, &opt, &res, &err), 0);
    assert_string_equal(res.status, "complete");
    assert_non_null(strstr(k.text, "interventions[1]: skipped"));
    agora_run_result_free(&res);
    json_t *rows = NULL;
    assert_int_equal(agora_h5_table(out, "/events", &rows, &err), 0);
    assert_int_equal(json_array_size(rows), 2);
    int skipped = 0, applied = 0;
    size_t i;
    json_t *r;
    json_array_foreach(rows, i, r) {
        const char *status = json_string_value(json_object_get(r, "status"));
        if (strcmp(status, "skipped") == 0) {
            skipped++;
            assert_int_equal(json_integer_value(json_object_get(r, "step")), 15);
            assert_string_equal(json_string_value(json_object_get(r, "source")), "plan");
        }
        applied += strcmp(status, "applied") == 0;
    }
    assert_int_equal(skipped, 1);
    assert_int_equal(applied, 1);
    json_decref(rows);
    agora_scenario_destroy(sc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(run_with_no_result_or_options),
        cmocka_unit_test(null_arguments_the_headers_allow_are_honoured),
        cmocka_unit_test(the_check_finds_what_the_run_would_and_writes_nothing),
        cmocka_unit_test(the_output_must_be_absent_or_an_agora_file_unless_forced),
        cmocka_unit_test(threads_above_the_cores_are_capped_with_a_warning),
        cmocka_unit_test(mcp_worlds_cap_their_threads_too),
        cmocka_unit_test(interventions_after_a_shortened_run_are_skipped_and_recorded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
