/* Tests of the session engine (src/runner/session.c, agora/session.h): the phase order (interventions of step t act
 * before the metrics of t), the memory recorder's history, pausing from the progress callback and going on (the
 * same history as a run never paused), saving and restoring (exact, repeatable, the schedule going back with the
 * world), copies that are independent, actions between steps (logged, the last row re-measured), the end step, a
 * file-recorded session that gives agora_run's metrics, an interactions run stepped round by round and paused (the
 * file agora_interact_run writes), and what a session refuses. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <hdf5.h>
#include <hdf5_hl.h>

#include "agora/agora.h"
#include "agora/session.h"
#include "llm_server.h"
#include "support.h"

/* SIR on a small torus with one intervention at step 3 (vaccinate: S falls at that very row). */
static const char *yaml = "name: session_test\n"
                          "model: sir\n"
                          "space: {kind: grid, width: 40, height: 40, torus: true, neighborhood: moore}\n"
                          "params: {beta: 0.3, gamma: 0.1, initial_infected: 10}\n"
                          "steps: 20\n"
                          "seed: 7\n"
                          "threads: 1\n"
                          "output: {path: session_test.h5, snapshot_every: 5}\n"
                          "interventions:\n"
                          "  - {at: 3, action: {action: vaccinate, fraction: 0.5}}\n";

static agora_scenario *scenario(const char *text)
{
    agora_scenario *sc = NULL;
    agora_error err;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", test_tmp_path(""));
    if (agora_scenario_parse(text, strlen(text), test_tmp_path("session_test.yaml"), dir, &sc, &err) != 0)
        fail_msg("%s", err.msg);
    return sc;
}

static agora_session *open_memory(const agora_scenario *sc, int unbounded)
{
    agora_session_options o = {.recorder = AGORA_RECORD_MEMORY, .unbounded = unbounded};
    agora_session *s = NULL;
    agora_error err;
    if (agora_session_open(sc, &o, &s, &err) != 0 || agora_session_begin(s, &err) != 0)
        fail_msg("%s", err.msg);
    return s;
}

static int metric(const agora_session *s, const char *name)
{
    return agora_model_metric_index(agora_world_model(agora_session_world_const(s)), name);
}

static void test_history_and_order(void **state)
{
    (void)state;
    agora_scenario *sc = scenario(yaml);
    agora_session *s = open_memory(sc, 0);
    agora_scenario_destroy(sc); /* the session keeps what it needs */
    agora_error err;
    agora_session_stop why = AGORA_SESSION_PAUSED;
    assert_int_equal(agora_session_run_until(s, -1, &why, &err), 0);
    assert_int_equal(why, AGORA_SESSION_REACHED);
    assert_int_equal(agora_session_time(s), 20);
    assert_int_equal(agora_session_end(s), 20);
    int64_t len;
    const double *h = agora_session_history(s, &len);
    assert_int_equal(len, 21);
    const int nm = agora_model_n_metrics(agora_world_model(agora_session_world(s)));
    const int S = metric(s, "S"), V = metric(s, "vaccinated");
    assert_true(S >= 0 && V >= 0);
    /* the vaccination of step 3 is in row 3 already, not before */
    assert_true(h[2 * nm + V] == 0);
    assert_true(h[3 * nm + V] > 0);
    assert_true(h[3 * nm + S] < h[2 * nm + S] - 100);
    /* the log holds it, at step 3 */
    int64_t total;
    const json_t *ev = agora_session_events(s, &total);
    assert_int_equal(total, 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(ev, 0), "step")), 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(ev, 0), "status")), "applied");
    /* the last row is the current metrics; at the end no step is left */
    assert_memory_equal(h + 20 * nm, agora_session_metrics(s), (size_t)nm * sizeof *h);
    assert_int_equal(agora_session_step(s, &err), AGORA_ERANGE);
    agora_run_result res;
    assert_int_equal(agora_session_close(s, 0, &res, &err), 0);
    assert_string_equal(res.status, "complete");
    assert_int_equal(res.steps_done, 20);
    assert_non_null(json_object_get(json_object_get(res.summary, "metrics"), "I"));
    agora_run_result_free(&res);
}

/* The progress callback pauses the session at step 8; going on gives the history of a run never paused. */
static int pause_at_8(void *ud, const agora_progress *p)
{
    if (p->step == 8)
        agora_session_pause(ud);
    return 0;
}

static void test_pause_and_go_on(void **state)
{
    (void)state;
    agora_scenario *sc = scenario(yaml);
    agora_session *plain = open_memory(sc, 0);
    agora_error err;
    assert_int_equal(agora_session_run_until(plain, -1, NULL, &err), 0);

    agora_session_options o = {.recorder = AGORA_RECORD_MEMORY};
    agora_session *s = NULL;
    assert_int_equal(agora_session_open(sc, &o, &s, &err), 0);
    agora_session_control(s, pause_at_8, s);
    agora_session_stop why;
    assert_int_equal(agora_session_run_until(s, -1, &why, &err), 0);
    assert_int_equal(why, AGORA_SESSION_PAUSED);
    assert_int_equal(agora_session_time(s), 8);
    assert_int_equal(agora_session_run_until(s, 12, &why, &err), 0); /* a step short of the end */
    assert_int_equal(why, AGORA_SESSION_REACHED);
    assert_int_equal(agora_session_time(s), 12);
    assert_int_equal(agora_session_step(s, &err), 0);
    assert_int_equal(agora_session_time(s), 13);
    assert_int_equal(agora_session_run_until(s, 1000, &why, &err), 0); /* beyond the end: the end */
    assert_int_equal(agora_session_time(s), 20);
    int64_t la, lb;
    const double *a = agora_session_history(plain, &la), *b = agora_session_history(s, &lb);
    assert_int_equal(la, lb);
    const int nm = agora_model_n_metrics(agora_scenario_model(sc));
    assert_memory_equal(a, b, (size_t)(la * nm) * sizeof *a);
    agora_session_close(plain, 0, NULL, NULL);
    agora_session_close(s, 0, NULL, NULL);
    agora_scenario_destroy(sc);
}

/* Saved at step 2 (before the intervention of step 3), moved on, restored twice: each time the same future, the
 * intervention applied again at 3; a copy goes its own way. */
static void test_save_restore_copy(void **state)
{
    (void)state;
    agora_scenario *sc = scenario(yaml);
    agora_session *s = open_memory(sc, 1);
    agora_scenario_destroy(sc);
    agora_error err;
    const int nm = agora_model_n_metrics(agora_world_model(agora_session_world(s)));
    assert_int_equal(agora_session_end(s), -1);
    assert_int_equal(agora_session_run_until(s, 2, NULL, &err), 0);
    agora_session_state *st = NULL;
    assert_int_equal(agora_session_save(s, &st, &err), 0);
    assert_int_equal(agora_session_state_time(st), 2);
    assert_int_equal(agora_session_run_until(s, 30, NULL, &err), 0); /* unbounded: past the scenario's steps */
    assert_int_equal(agora_session_time(s), 30);
    int64_t len0, total0;
    double *first = malloc(31 * (size_t)nm * sizeof *first);
    memcpy(first, agora_session_history(s, &len0), (size_t)(31 * nm) * sizeof *first);
    agora_session_events(s, &total0);
    assert_int_equal(len0, 31);
    assert_int_equal(total0, 1);
    for (int k = 0; k < 2; k++) {
        assert_int_equal(agora_session_restore(s, st, &err), 0);
        int64_t len;
        agora_session_history(s, &len);
        assert_int_equal(len, 3);
        assert_int_equal(agora_session_time(s), 2);
        assert_int_equal(agora_session_run_until(s, 30, NULL, &err), 0);
        const double *h = agora_session_history(s, &len);
        assert_int_equal(len, 31);
        assert_memory_equal(h, first, (size_t)(31 * nm) * sizeof *h);
        int64_t total;
        agora_session_events(s, &total);
        assert_int_equal(total, 1); /* the log went back too, then the intervention came again */
    }
    agora_session *c = NULL;
    assert_int_equal(agora_session_copy(s, &c, &err), 0);
    assert_int_equal(agora_session_step(c, &err), 0);
    assert_int_equal(agora_session_time(c), 31);
    assert_int_equal(agora_session_time(s), 30);
    /* an action between steps: logged at the current step, the last row re-measured */
    const int V = metric(s, "vaccinated");
    json_t *act = json_pack("{s:s, s:f}", "action", "vaccinate", "fraction", 0.5);
    const double before = agora_session_metrics(s)[V];
    assert_int_equal(agora_session_apply(s, act, "test", &err), 0);
    int64_t len;
    const double *h = agora_session_history(s, &len);
    assert_int_equal(len, 31);
    assert_true(h[30 * nm + V] > before);
    assert_true(h[30 * nm + V] == agora_session_metrics(s)[V]);
    const json_t *ev = agora_session_events(s, NULL);
    const json_t *last = json_array_get(ev, json_array_size(ev) - 1);
    assert_string_equal(json_string_value(json_object_get(last, "source")), "test");
    assert_int_equal(json_integer_value(json_object_get(last, "step")), 30);
    /* the copy saw none of it */
    assert_true(agora_session_metrics(c)[V] < agora_session_metrics(s)[V]);
    /* a rejected action is an error, and logged */
    json_t *bad = json_pack("{s:s}", "action", "no_such_action");
    assert_int_not_equal(agora_session_apply(s, bad, NULL, &err), 0);
    ev = agora_session_events(s, NULL);
    last = json_array_get(ev, json_array_size(ev) - 1);
    assert_string_equal(json_string_value(json_object_get(last, "status")), "rejected");
    assert_string_equal(json_string_value(json_object_get(last, "source")), "session");
    json_decref(act);
    json_decref(bad);
    agora_session_state_free(st);
    agora_session_close(c, 0, NULL, NULL);
    agora_session_close(s, 0, NULL, NULL);
    free(first);
}

static double *read_metric(const char *path, const char *name, hsize_t *n)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(f >= 0);
    char ds[128];
    snprintf(ds, sizeof ds, "/metrics/%s", name);
    int rank;
    assert_true(H5LTget_dataset_ndims(f, ds, &rank) >= 0);
    H5T_class_t cls;
    size_t sz;
    assert_true(H5LTget_dataset_info(f, ds, n, &cls, &sz) >= 0);
    double *x = malloc(*n * sizeof *x);
    assert_true(H5LTread_dataset_double(f, ds, x) >= 0);
    H5Fclose(f);
    return x;
}

/* The metric `name` of two run files: n rows each, bit for bit the same. */
static void same_metric(const char *a, const char *b, const char *name, hsize_t n)
{
    hsize_t na, nb;
    double *x = read_metric(a, name, &na), *y = read_metric(b, name, &nb);
    assert_int_equal(na, n);
    assert_int_equal(nb, n);
    assert_memory_equal(x, y, na * sizeof *x);
    free(x);
    free(y);
}

/* A file-recorded session stepped by hand gives the file agora_run writes; it cannot go back in time. */
static void test_file_recorder(void **state)
{
    (void)state;
    agora_scenario *sc = scenario(yaml);
    agora_error err;
    char a[4096], b[4096];
    snprintf(a, sizeof a, "%s", test_tmp_path("session_run.h5"));
    snprintf(b, sizeof b, "%s", test_tmp_path("session_steps.h5"));
    char set[4200];
    snprintf(set, sizeof set, "output.path=%s", a);
    assert_int_equal(agora_scenario_set(sc, set, &err), 0);
    agora_run_result res;
    assert_int_equal(agora_run(sc, NULL, &res, &err), 0);
    agora_run_result_free(&res);
    snprintf(set, sizeof set, "output.path=%s", b);
    assert_int_equal(agora_scenario_set(sc, set, &err), 0);
    agora_session *s = NULL;
    assert_int_equal(agora_session_open(sc, NULL, &s, &err), 0);
    while (agora_session_time(s) < 20 || agora_session_time(s) == 0)
        if (agora_session_step(s, &err) != 0)
            fail_msg("%s", err.msg);
    agora_session_state *st = NULL;
    assert_int_equal(agora_session_save(s, &st, &err), AGORA_EINVAL);
    assert_null(st);
    int64_t len;
    assert_null(agora_session_history(s, &len));
    assert_int_equal(len, 0);
    assert_int_equal(agora_session_close(s, 0, &res, &err), 0);
    assert_string_equal(res.status, "complete");
    agora_run_result_free(&res);
    same_metric(a, b, "I", 21);
    /* closed before its end: interrupted */
    assert_int_equal(agora_session_open(sc, NULL, &s, &err), 0);
    assert_int_equal(agora_session_run_until(s, 5, NULL, &err), 0);
    assert_int_equal(agora_session_close(s, 0, &res, &err), 0);
    assert_string_equal(res.status, "interrupted");
    assert_int_equal(res.steps_done, 5);
    agora_run_result_free(&res);
    /* checkpoints need a file */
    agora_session_options o = {.recorder = AGORA_RECORD_NONE, .run = {.checkpoint_every = 5}};
    assert_int_equal(agora_session_open(sc, &o, &s, &err), AGORA_EINVAL);
    assert_null(s);
    agora_scenario_destroy(sc);
}

/* The none recorder: the current metrics and the summary only. */
static void test_no_recorder(void **state)
{
    (void)state;
    agora_scenario *sc = scenario(yaml);
    agora_session_options o = {.recorder = AGORA_RECORD_NONE};
    agora_session *s = NULL;
    agora_error err;
    assert_int_equal(agora_session_open(sc, &o, &s, &err), 0);
    assert_int_equal(agora_session_run_until(s, -1, NULL, &err), 0);
    int64_t len;
    assert_null(agora_session_history(s, &len));
    json_t *sum = agora_session_summary(s);
    const int I = metric(s, "I");
    assert_true(json_real_value(json_object_get(json_object_get(json_object_get(sum, "metrics"), "I"), "final")) ==
                agora_session_metrics(s)[I]);
    assert_int_equal(json_integer_value(json_object_get(sum, "steps_done")), 20);
    json_decref(sum);
    agora_session_close(s, 0, NULL, NULL);
    agora_scenario_destroy(sc);
}

/* The shipped station_failure scenario against the loopback server (replies generated from each request's schema),
 * with the file at `out`. */
static agora_scenario *station(const llm_server *srv, const char *out)
{
    agora_scenario *sc = NULL;
    agora_error err;
    if (agora_scenario_load(test_src_path("scenarios/station_failure.yaml"), &sc, &err) != 0)
        fail_msg("%s", err.msg);
    char set[4300];
    snprintf(set, sizeof set, "llm.base_url=%s", srv->base_url);
    assert_int_equal(agora_scenario_set(sc, set, &err), 0);
    snprintf(set, sizeof set, "output.path=%s", out);
    assert_int_equal(agora_scenario_set(sc, set, &err), 0);
    assert_int_equal(agora_scenario_set(sc, "rounds=3", &err), 0);
    return sc;
}

static int pause_after_round_1(void *ud, agora_interact *ix, int64_t round)
{
    (void)ix;
    if (round == 1)
        agora_session_pause(*(agora_session **)ud);
    return 0;
}

static void test_interactions_session(void **state)
{
    (void)state;
    llm_server srv;
    assert_int_equal(llm_server_start(&srv, "{\"default\": {\"auto\": true}}"), 0);
    char a[4096], b[4096];
    snprintf(a, sizeof a, "%s", test_tmp_path("session_ix_run.h5"));
    snprintf(b, sizeof b, "%s", test_tmp_path("session_ix_steps.h5"));
    agora_error err;
    agora_scenario *sc = station(&srv, a);
    agora_interact_result ir;
    assert_int_equal(agora_interact_run(sc, NULL, &ir, &err), 0);
    assert_string_equal(ir.status, "complete");
    assert_int_equal(ir.rounds_done, 3);
    agora_interact_result_free(&ir);
    agora_scenario_destroy(sc);

    /* the same run as a session: paused after round 1 (by the between-rounds hook), one step, then to the end */
    sc = station(&srv, b);
    agora_session *s = NULL;
    agora_interact_options io = {.between_rounds = pause_after_round_1, .ud = &s};
    agora_session_options o = {.interact = &io};
    assert_int_equal(agora_session_open(sc, &o, &s, &err), 0);
    agora_scenario_destroy(sc);
    assert_null(agora_session_world(s));
    assert_int_equal(agora_session_end(s), 3);
    assert_int_equal(agora_session_time(s), 0);
    agora_session_stop why;
    assert_int_equal(agora_session_run_until(s, -1, &why, &err), 0);
    assert_int_equal(why, AGORA_SESSION_PAUSED);
    assert_int_equal(agora_session_time(s), 1);
    assert_int_equal(agora_session_step(s, &err), 0);
    assert_int_equal(agora_session_time(s), 2);
    json_t *act = json_pack("{s:s}", "action", "anything");
    assert_int_equal(agora_session_apply(s, act, NULL, &err), AGORA_EINVAL); /* no world to act on */
    json_decref(act);
    agora_session_state *st = NULL;
    assert_int_not_equal(agora_session_save(s, &st, &err), 0);
    assert_int_equal(agora_session_run_until(s, -1, &why, &err), 0);
    assert_int_equal(why, AGORA_SESSION_REACHED);
    assert_int_equal(agora_session_step(s, &err), AGORA_ERANGE);
    agora_run_result res;
    assert_int_equal(agora_session_close(s, 0, &res, &err), 0);
    assert_string_equal(res.status, "complete");
    assert_int_equal(res.steps_done, 3);
    assert_non_null(json_object_get(res.summary, "evaluation"));
    agora_run_result_free(&res);
    /* the two files hold the same run (latencies aside) */
    json_t *ca = NULL, *cb = NULL;
    assert_int_equal(agora_h5_llm_calls(a, &ca, &err), 0);
    assert_int_equal(agora_h5_llm_calls(b, &cb, &err), 0);
    assert_true(json_array_size(ca) > 10);
    assert_int_equal(json_array_size(ca), json_array_size(cb));
    for (size_t i = 0; i < json_array_size(ca); i++) {
        json_t *x = json_array_get(ca, i), *y = json_array_get(cb, i);
        assert_string_equal(json_string_value(json_object_get(x, "prompt")), json_string_value(json_object_get(y, "prompt")));
        assert_string_equal(json_string_value(json_object_get(x, "reply")), json_string_value(json_object_get(y, "reply")));
    }
    json_decref(ca);
    json_decref(cb);
    same_metric(a, b, "morale", 4);
    /* a session closed before its last round: interrupted */
    snprintf(b, sizeof b, "%s", test_tmp_path("session_ix_short.h5"));
    sc = station(&srv, b);
    agora_interact_options none = {0};
    o.interact = &none;
    assert_int_equal(agora_session_open(sc, &o, &s, &err), 0);
    assert_int_equal(agora_session_step(s, &err), 0);
    assert_int_equal(agora_session_close(s, 0, &res, &err), 0);
    assert_string_equal(res.status, "interrupted");
    assert_int_equal(res.steps_done, 1);
    agora_run_result_free(&res);
    /* without interaction options, or in memory, an interactions scenario is refused */
    o.interact = NULL;
    assert_int_equal(agora_session_open(sc, &o, &s, &err), AGORA_EINVAL);
    o = (agora_session_options){.interact = &none, .recorder = AGORA_RECORD_MEMORY};
    assert_int_equal(agora_session_open(sc, &o, &s, &err), AGORA_EINVAL);
    agora_scenario_destroy(sc);
    llm_server_stop(&srv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_history_and_order), cmocka_unit_test(test_pause_and_go_on),
        cmocka_unit_test(test_save_restore_copy), cmocka_unit_test(test_file_recorder),
        cmocka_unit_test(test_no_recorder),     cmocka_unit_test(test_interactions_session),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
