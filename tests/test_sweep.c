/* Tests of sweep axes and their expansion: ranges, lists, products, seeds, ids, and the errors; and of running a
 * sweep again into the same file: a restart reuses complete runs, another sweep is refused (or rerun with
 * overwrite), and a run file is reused only when its config_hash matches. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "agora/agora.h"
#include "agora/sweep.h"
#include "support.h"

static json_t *axis(const char *vary)
{
    json_t *a = NULL;
    agora_error err;
    if (agora_sweep_axis(vary, &a, &err) != 0)
        fail_msg("%s: %s", vary, err.msg);
    return a;
}

static void ranges_include_both_ends_and_read_as_written(void **state)
{
    (void)state;
    json_t *a = axis("params.beta=0.02:0.2:10");
    assert_string_equal(json_string_value(json_object_get(a, "key")), "params.beta");
    json_t *v = json_object_get(a, "values");
    assert_int_equal(json_array_size(v), 10);
    assert_true(json_real_value(json_array_get(v, 0)) == 0.02);
    assert_true(json_real_value(json_array_get(v, 1)) == 0.04); /* the decimal, not 0.04000000000000001 */
    assert_true(json_real_value(json_array_get(v, 9)) == 0.2);
    json_decref(a);
    a = axis("space.width=100:400:4");
    v = json_object_get(a, "values");
    assert_true(json_is_integer(json_array_get(v, 1)));
    assert_int_equal(json_integer_value(json_array_get(v, 1)), 200);
    json_decref(a);
    a = axis("params.gamma=0.5:0.9:1"); /* one value: the start */
    assert_int_equal(json_array_size(json_object_get(a, "values")), 1);
    assert_true(json_real_value(json_array_get(json_object_get(a, "values"), 0)) == 0.5);
    json_decref(a);
}

static void lists_are_yaml_scalars(void **state)
{
    (void)state;
    json_t *a = axis("space.kind=grid,graph");
    json_t *v = json_object_get(a, "values");
    assert_int_equal(json_array_size(v), 2);
    assert_string_equal(json_string_value(json_array_get(v, 1)), "graph");
    json_decref(a);
    a = axis("space.torus=true,false");
    assert_true(json_is_true(json_array_get(json_object_get(a, "values"), 0)));
    json_decref(a);
    a = axis("params.initial_infected=10,0.01");
    v = json_object_get(a, "values");
    assert_true(json_is_integer(json_array_get(v, 0)));
    assert_true(json_is_real(json_array_get(v, 1)));
    json_decref(a);
}

static void bad_axes_are_refused(void **state)
{
    (void)state;
    const char *bad[] = {"params.beta", "=1,2", "params.beta=0.1:0.2", "params.beta=a:b:3", "params.beta=0:1:0",
                         "params.beta=0:1:2.5", "params.beta=1,,2", "params.beta=", "params.beta=[1, 2]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *a = NULL;
        agora_error err;
        assert_int_not_equal(agora_sweep_axis(bad[i], &a, &err), 0);
        assert_null(a);
        assert_non_null(strstr(err.where, "--vary"));
    }
}

static void expansion_is_the_product_with_seeds_innermost(void **state)
{
    (void)state;
    json_t *axes = json_array();
    json_array_append_new(axes, axis("params.beta=0.1,0.2,0.3"));
    json_array_append_new(axes, axis("space.kind=grid,graph"));
    json_t *runs = NULL;
    agora_error err;
    assert_int_equal(agora_sweep_expand(axes, 4, 100, &runs, &err), 0);
    assert_int_equal(json_array_size(runs), 3 * 2 * 4);
    /* run k: seed innermost, then the last axis, then the first */
    for (size_t k = 0; k < json_array_size(runs); k++) {
        json_t *r = json_array_get(runs, k), *ov = json_object_get(r, "overrides");
        char id[32];
        snprintf(id, sizeof id, "r%05zu", k);
        assert_string_equal(json_string_value(json_object_get(r, "id")), id);
        assert_int_equal(json_integer_value(json_object_get(r, "seed")), 100 + (int)(k % 4));
        const double beta[] = {0.1, 0.2, 0.3};
        assert_true(json_real_value(json_object_get(ov, "params.beta")) == beta[k / 8]);
        assert_string_equal(json_string_value(json_object_get(ov, "space.kind")), (k / 4) % 2 ? "graph" : "grid");
    }
    /* every combination exactly once */
    for (size_t a = 0; a < json_array_size(runs); a++)
        for (size_t b = a + 1; b < json_array_size(runs); b++) {
            json_t *x = json_array_get(runs, a), *y = json_array_get(runs, b);
            assert_false(json_equal(json_object_get(x, "overrides"), json_object_get(y, "overrides")) &&
                         json_equal(json_object_get(x, "seed"), json_object_get(y, "seed")));
        }
    json_decref(runs);
    /* no axes: just the seeds */
    json_t *none = json_array();
    assert_int_equal(agora_sweep_expand(none, 3, 7, &runs, &err), 0);
    assert_int_equal(json_array_size(runs), 3);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(runs, 2), "seed")), 9);
    json_decref(runs);
    json_decref(none);
    /* the same key twice, zero seeds, too many runs */
    json_array_append_new(axes, axis("params.beta=1,2"));
    assert_int_not_equal(agora_sweep_expand(axes, 1, 0, &runs, &err), 0);
    assert_non_null(strstr(err.msg, "varied twice"));
    json_decref(axes);
    axes = json_array();
    assert_int_not_equal(agora_sweep_expand(axes, 0, 0, &runs, &err), 0);
    json_array_append_new(axes, axis("params.beta=0:1:100000"));
    json_array_append_new(axes, axis("params.gamma=0:1:100"));
    assert_int_not_equal(agora_sweep_expand(axes, 1, 0, &runs, &err), 0);
    assert_non_null(strstr(err.msg, "more than"));
    json_decref(axes);
}

/* Runs of axes given as --vary texts, one seed each. */
static json_t *runs_of(const char *vary1, const char *vary2)
{
    json_t *axes = json_array(), *runs = NULL;
    json_array_append_new(axes, axis(vary1));
    if (vary2)
        json_array_append_new(axes, axis(vary2));
    agora_error err;
    if (agora_sweep_expand(axes, 1, 1, &runs, &err) != 0)
        fail_msg("%s", err.msg);
    json_decref(axes);
    return runs;
}

static int sweep(const char *scenario, const json_t *runs, const char *set, int overwrite, agora_sweep_progress *pg,
                 agora_error *err)
{
    const char *sets[] = {set};
    agora_sweep_options opt = {.output = test_tmp_path("sw_master.h5"),
                               .sets = sets,
                               .n_sets = set ? 1 : 0,
                               .threads = 1,
                               .overwrite = overwrite};
    return agora_sweep_run(scenario, runs, &opt, pg, err);
}

/* The value of `column` in row `row` of the master file's /sweep/table. */
static double table_value(size_t row, const char *column)
{
    json_t *rows = NULL;
    agora_error err;
    if (agora_h5_table(test_tmp_path("sw_master.h5"), "/sweep/table", &rows, &err) != 0)
        fail_msg("%s", err.msg);
    const json_t *v = json_object_get(json_array_get(rows, row), column);
    double x = json_is_number(v) ? json_number_value(v) : -1;
    json_decref(rows);
    return x;
}

static void a_changed_sweep_is_refused_or_rerun_never_reused(void **state)
{
    (void)state;
    char scenario[4096]; /* test_tmp_path's buffers are reused */
    snprintf(scenario, sizeof scenario, "%s", test_tmp_path("sw.yaml"));
    FILE *f = fopen(scenario, "w");
    assert_non_null(f);
    fputs("model: sir\nspace: {kind: grid, width: 12, height: 12}\nparams: {initial_infected: 3}\nsteps: 12\n", f);
    fclose(f);
    char rm[8300];
    snprintf(rm, sizeof rm, "rm -rf '%s' '%s.runs'", test_tmp_path("sw_master.h5"), test_tmp_path("sw_master.h5"));
    assert_int_equal(system(rm), 0);
    json_t *beta = runs_of("params.beta=0.1,0.9", NULL), *gamma = runs_of("params.gamma=0.05,0.5", NULL);
    agora_sweep_progress pg;
    agora_error err;
    assert_int_equal(sweep(scenario, beta, NULL, 0, &pg, &err), 0);
    assert_int_equal(pg.skipped, 0);
    const double attack_beta = table_value(1, "attack_rate");
    /* the same again: a restart, both runs reused */
    assert_int_equal(sweep(scenario, beta, NULL, 0, &pg, &err), 0);
    assert_int_equal(pg.skipped, 2);
    assert_int_equal(pg.replaced, 0);
    /* other axes into the same file: refused, saying what it holds */
    assert_int_equal(sweep(scenario, gamma, NULL, 0, &pg, &err), AGORA_EINVAL);
    assert_non_null(
        strstr(err.msg, "holds a sweep of params.beta=0.1,0.9 x 1 seed; this one is params.gamma=0.05,0.5"));
    assert_int_equal(pg.done, 0);
    assert_true(table_value(1, "attack_rate") == attack_beta); /* untouched */
    /* with overwrite: both runs rerun, and the table holds the new ones */
    assert_int_equal(sweep(scenario, gamma, NULL, 1, &pg, &err), 0);
    assert_int_equal(pg.skipped, 0);
    assert_int_equal(pg.replaced, 2);
    assert_true(table_value(1, "params.gamma") == 0.5);
    const double attack_gamma = table_value(1, "attack_rate");
    assert_true(attack_gamma != attack_beta);
    /* other --set (steps) on the same axes: another sweep too */
    assert_int_equal(sweep(scenario, gamma, "steps=5", 0, &pg, &err), AGORA_EINVAL);
    assert_non_null(strstr(err.msg, "this one is params.gamma=0.05,0.5 x 1 seed with --set steps=5"));
    /* without the master file, each run file is still checked on its own: 12-step runs are not 5-step runs */
    assert_int_equal(unlink(test_tmp_path("sw_master.h5")), 0);
    assert_int_equal(sweep(scenario, gamma, "steps=5", 0, &pg, &err), 0);
    assert_int_equal(pg.skipped, 0);
    assert_int_equal(pg.replaced, 2);
    json_t *rows = NULL;
    assert_int_equal(agora_h5_table(test_tmp_path("sw_master.h5.runs/r00001.h5"), "/metrics", &rows, &err), 0);
    assert_int_equal(json_array_size(rows), 6);
    json_decref(rows);
    /* and a run file made by the same configuration is reused even so */
    assert_int_equal(unlink(test_tmp_path("sw_master.h5")), 0);
    assert_int_equal(sweep(scenario, gamma, "steps=5", 0, &pg, &err), 0);
    assert_int_equal(pg.skipped, 2);
    /* the check alone, and its arguments */
    agora_sweep_options opt = {.output = test_tmp_path("sw_master.h5")};
    assert_int_equal(agora_sweep_check(scenario, beta, &opt, &err), AGORA_EINVAL);
    assert_int_equal(agora_sweep_check(scenario, gamma, NULL, &err), AGORA_EINVAL);
    assert_int_equal(agora_sweep_check(NULL, gamma, &opt, &err), AGORA_EINVAL);
    opt.output = scenario; /* the scenario itself */
    assert_int_equal(agora_sweep_check(scenario, gamma, &opt, &err), AGORA_EINVAL);
    assert_non_null(strstr(err.msg, "is the scenario file itself"));
    json_decref(beta);
    json_decref(gamma);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ranges_include_both_ends_and_read_as_written),
        cmocka_unit_test(lists_are_yaml_scalars),
        cmocka_unit_test(bad_axes_are_refused),
        cmocka_unit_test(expansion_is_the_product_with_seeds_innermost),
        cmocka_unit_test(a_changed_sweep_is_refused_or_rerun_never_reused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
