/* Tests of the model registry (models/registry.c): agora_model_register adds models after the built-ins, finds
 * them by name, refuses a name already taken (saying by whom) and every model the kernel could not run safely
 * (each refusal names the culprit), stays consistent under concurrent registrations, and is bounded. The tests run
 * in order in one process and the registry only grows: each uses names of its own, and the bound comes last. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "agora/agora.h"
#include "core/internal.h"
#include "support.h"

/* Registered models must outlive the process's worlds: static storage. */
static agora_model pool[AGORA_MODEL_MAX_REGISTERED + 8];
static char names[AGORA_MODEL_MAX_REGISTERED + 8][32];
static int n_pool;

/* A copy of the built-in sir under another name: a model that certainly runs. */
static agora_model *sir_as(const char *name)
{
    assert_true(n_pool < (int)(sizeof pool / sizeof pool[0]));
    agora_model *m = &pool[n_pool];
    *m = *agora_model_find("sir");
    snprintf(names[n_pool], sizeof names[n_pool], "%s", name);
    m->name = names[n_pool++];
    return m;
}

static int count(void)
{
    int n;
    agora_models(&n);
    return n;
}

static void builtin_models_pass_the_registration_checks(void **state)
{
    (void)state;
    int n;
    const agora_model *const *all = agora_models(&n);
    assert_int_equal(n, 3);
    for (int i = 0; i < n; i++) {
        agora_error err;
        agora_error_clear(&err);
        if (agora__model_check(all[i], &err) != 0)
            fail_msg("built-in %s: %s", all[i]->name, err.msg);
        assert_null(agora_model_origin(all[i]));
    }
}

static void a_registered_model_comes_after_the_builtins_and_runs(void **state)
{
    (void)state;
    agora_model *m = sir_as("sir_copy");
    agora_error err;
    assert_int_equal(agora_model_register(m, &err), 0);
    int n;
    const agora_model *const *all = agora_models(&n);
    assert_int_equal(n, 4);
    assert_ptr_equal(all[3], m);
    assert_string_equal(all[0]->name, "sir");
    assert_ptr_equal(agora_model_find("sir_copy"), m);
    assert_non_null(agora_model_origin(m));
    assert_string_equal(agora_model_origin(m), ""); /* registered by the program, not a plug-in */

    /* a scenario names it like a built-in, and it runs exactly as the model it copies */
    agora_world *a = test_world("model: sir_copy\nspace: {kind: grid, width: 30, height: 30}\nseed: 5\n", 1);
    agora_world *b = test_world("model: sir\nspace: {kind: grid, width: 30, height: 30}\nseed: 5\n", 1);
    assert_ptr_equal(agora_world_model(a), m);
    double ma[16], mb[16];
    for (int t = 0; t < 20; t++) {
        agora_world_step(a);
        agora_world_step(b);
    }
    agora_world_measure(a, ma);
    agora_world_measure(b, mb);
    assert_memory_equal(ma, mb, sizeof(double) * (size_t)agora_model_n_metrics(m));
    agora_world_destroy(a);
    agora_world_destroy(b);
}

static void a_taken_name_is_refused_naming_who_has_it(void **state)
{
    (void)state;
    const int before = count();
    agora_error err;
    assert_int_equal(agora_model_register(sir_as("sir"), &err), AGORA_EINVAL);
    assert_string_equal(err.msg, "model \"sir\": the name is taken by the built-in model sir");
    assert_int_equal(agora_model_register(sir_as("sir_copy"), &err), AGORA_EINVAL);
    assert_non_null(strstr(err.msg, "model \"sir_copy\": the name is taken by a model registered before"));
    /* the same pointer again is a clash too */
    assert_int_equal(agora_model_register(agora_model_find("sir_copy"), &err), AGORA_EINVAL);
    assert_int_equal(count(), before);
    assert_ptr_equal(agora_model_find("sir"), agora_models(NULL)[0]);
}

/* Mutations of a good model, each something the registry must refuse, and the text its refusal must contain. */
static const agora_param_spec dup_params[] = {{"a", AGORA_PARAM_REAL, 0, 0, 1, "a", NULL},
                                              {"a", AGORA_PARAM_REAL, 0, 0, 1, "again", NULL},
                                              {NULL, 0, 0, 0, 0, NULL, NULL}};
static const agora_param_spec out_params[] = {{"p", AGORA_PARAM_REAL, 2, 0, 1, "a probability", NULL},
                                              {NULL, 0, 0, 0, 0, NULL, NULL}};
static const agora_param_spec int_params[] = {{"k", AGORA_PARAM_INT, 1, 0.5, 3, "a count", NULL},
                                              {NULL, 0, 0, 0, 0, NULL, NULL}};
static const agora_param_spec minmax_params[] = {{"x", AGORA_PARAM_REAL, 0.5, 1, 0, "backwards", NULL},
                                                 {NULL, 0, 0, 0, 0, NULL, NULL}};
static const agora_param_spec choice_params[] = {{"rule", AGORA_PARAM_CHOICE, 0, 0, 0, "a rule", "a||b"},
                                                 {NULL, 0, 0, 0, 0, NULL, NULL}};
static const agora_param_spec choice_def_params[] = {{"rule", AGORA_PARAM_CHOICE, 2, 0, 0, "a rule", "a|b"},
                                                     {NULL, 0, 0, 0, 0, NULL, NULL}};
static const agora_param_spec bool_params[] = {{"on", AGORA_PARAM_BOOL, 2, 0, 1, "a switch", NULL},
                                               {NULL, 0, 0, 0, 0, NULL, NULL}};
static const agora_param_spec type_params[] = {{"z", (agora_param_type)9, 0, 0, 1, "?", NULL},
                                               {NULL, 0, 0, 0, 0, NULL, NULL}};
static const agora_param_spec nodoc_params[] = {{"z", AGORA_PARAM_REAL, 0, 0, 1, NULL, NULL},
                                                {NULL, 0, 0, 0, 0, NULL, NULL}};
static const agora_metric_spec no_metrics[] = {{NULL, NULL, NULL}};
static const agora_metric_spec dup_metrics[] = {{"m", "one", NULL}, {"m", "two", NULL}, {NULL, NULL, NULL}};
static const agora_metric_spec summary_metrics[] = {{"m", "one", "max"}, {NULL, NULL, NULL}};
static const agora_metric_spec slash_metrics[] = {{"a/b", "a path", NULL}, {NULL, NULL, NULL}};
static const agora_field_spec type_fields[] = {{"f", (agora_dtype)7, "?"}, {NULL, 0, NULL}};

static void set_name(agora_model *m, const char *v)
{
    m->name = v;
}

static void broken_models_are_refused_with_the_reason(void **state)
{
    (void)state;
    static const char long_name[] = "a123456789012345678901234567890123456789012345678901234567890123"; /* 64 */
    const struct {
        const char *what;
        void (*mutate)(agora_model *m, const char *v);
        const char *value;
        const char *want;
    } cases[] = {
        {"a name that starts with a digit", set_name, "9lives", "model name \"9lives\" is not an identifier"},
        {"a name with a dash", set_name, "has-dash", "is not an identifier"},
        {"no name", set_name, NULL, "model name \"(NULL)\" is not an identifier"},
        {"a name of 64 characters", set_name, long_name, "at most 63 characters"},
    };
    const int before = count();
    agora_error err;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        agora_model *m = sir_as("broken");
        cases[i].mutate(m, cases[i].value);
        assert_int_equal(agora_model_register(m, &err), AGORA_EINVAL);
        if (!strstr(err.msg, cases[i].want))
            fail_msg("%s: got \"%s\", want \"%s\"", cases[i].what, err.msg, cases[i].want);
    }
    /* The other fields, one mutation each, on a model named "broken". */
    struct {
        const char *what, *want;
        agora_model m;
    } more[32];
    int n = 0;
#define BROKEN(desc, text, ...)                                                                                        \
    do {                                                                                                               \
        more[n].what = desc;                                                                                           \
        more[n].want = text;                                                                                           \
        more[n].m = *agora_model_find("sir");                                                                          \
        more[n].m.name = "broken";                                                                                     \
        agora_model *b = &more[n++].m;                                                                                 \
        __VA_ARGS__;                                                                                                   \
    } while (0)
    BROKEN("no summary", "model \"broken\": has no summary", b->summary = NULL);
    BROKEN("no init", "function init is not set", b->init = NULL);
    BROKEN("no step", "function step is not set", b->step = NULL);
    BROKEN("no measure", "function measure is not set", b->measure = NULL);
    BROKEN("no destroy and no SDK", "function destroy (or an SDK declaration", (b->destroy = NULL, b->sdk = NULL));
    BROKEN("fields but no field()", "function field (it declares fields) is not set", b->field = NULL);
    BROKEN("a schema but no apply()", "function apply (it has an action schema) is not set", b->apply = NULL);
    BROKEN("no space", "spaces must be a non-empty set", b->spaces = 0);
    BROKEN("an unknown space", "spaces must be a non-empty set", b->spaces = 8);
    BROKEN("no metrics", "declares no metrics", b->metrics = no_metrics);
    BROKEN("a NULL metric table", "declares no metrics", b->metrics = NULL);
    BROKEN("a metric twice", "metric \"m\" is declared twice", b->metrics = dup_metrics);
    BROKEN("a summary that is no summary", "summary must be NULL, \"peak\" or \"final\", not \"max\"",
           b->metrics = summary_metrics);
    BROKEN("a metric name with a slash", "metric \"a/b\": the name is not an identifier", b->metrics = slash_metrics);
    BROKEN("a field of no type", "field f has an unknown type", b->fields = type_fields);
    BROKEN("a parameter twice", "parameter \"a\" is declared twice", b->params = dup_params);
    BROKEN("a default out of range", "the default of p is not valid: expected a number in [0, 1], got 2",
           b->params = out_params);
    BROKEN("an int range that is not whole", "parameter k: an int's min and max must be whole", b->params = int_params);
    BROKEN("min above max", "parameter x: min is above max", b->params = minmax_params);
    BROKEN("an empty choice", "choices must be '|'-separated words, none empty or twice (got \"a||b\")",
           b->params = choice_params);
    BROKEN("a choice default past the words", "a choice's default is the index of one of its words",
           b->params = choice_def_params);
    BROKEN("a bool default of 2", "a bool's default must be 0 (false) or 1 (true)", b->params = bool_params);
    BROKEN("a parameter of no type", "parameter z has an unknown type", b->params = type_params);
    BROKEN("a parameter without doc", "parameter z has no doc text", b->params = nodoc_params);
    BROKEN("a schema that is not JSON", "action schema is not JSON", b->action_schema = "{\"anyOf\": [");
    BROKEN("a schema that is not an object", "the action schema is not a JSON object", b->action_schema = "[1]");
    BROKEN("a schema keyword agora does not know", "the action schema is not one agora can use",
           b->action_schema = "{\"type\": \"object\", \"patternProperties\": {}}");
#undef BROKEN
    for (int i = 0; i < n; i++) {
        agora_error_clear(&err);
        assert_int_equal(agora_model_register(&more[i].m, &err), AGORA_EINVAL);
        if (!strstr(err.msg, more[i].want))
            fail_msg("%s: got \"%s\", want \"%s\"", more[i].what, err.msg, more[i].want);
    }
    assert_int_equal(count(), before);
    assert_null(agora_model_find("broken"));
    assert_int_equal(agora_model_register(NULL, &err), AGORA_EINVAL);
}

/* ---- concurrency ------------------------------------------------------------------------------------------------ */

enum { N_THREADS = 8, PER_THREAD = 12 };
static agora_model threaded[N_THREADS][PER_THREAD];
static char threaded_names[N_THREADS][PER_THREAD][16];
static int threaded_rc[N_THREADS];

static void *register_some(void *arg)
{
    const int k = (int)(intptr_t)arg;
    for (int j = 0; j < PER_THREAD; j++) {
        /* a reader between every write: the listing it gets must be whole */
        int n;
        const agora_model *const *all = agora_models(&n);
        for (int i = 0; i < n; i++)
            if (!all[i] || !all[i]->name)
                threaded_rc[k] = -100;
        agora_error err;
        int rc = agora_model_register(&threaded[k][j], &err);
        if (rc != 0)
            threaded_rc[k] = rc;
        if (agora_model_find(threaded_names[k][j]) != &threaded[k][j])
            threaded_rc[k] = -101;
    }
    return NULL;
}

static void concurrent_registrations_all_arrive_once(void **state)
{
    (void)state;
    const int before = count();
    for (int k = 0; k < N_THREADS; k++)
        for (int j = 0; j < PER_THREAD; j++) {
            threaded[k][j] = *agora_model_find("sir");
            snprintf(threaded_names[k][j], sizeof threaded_names[k][j], "t%d_%d", k, j);
            threaded[k][j].name = threaded_names[k][j];
        }
    pthread_t th[N_THREADS];
    for (int k = 0; k < N_THREADS; k++)
        assert_int_equal(pthread_create(&th[k], NULL, register_some, (void *)(intptr_t)k), 0);
    for (int k = 0; k < N_THREADS; k++) {
        pthread_join(th[k], NULL);
        assert_int_equal(threaded_rc[k], 0);
    }
    int n;
    const agora_model *const *all = agora_models(&n);
    assert_int_equal(n, before + N_THREADS * PER_THREAD);
    /* each thread's models keep that thread's order */
    for (int k = 0; k < N_THREADS; k++) {
        int last = -1;
        for (int j = 0; j < PER_THREAD; j++) {
            int at = -1;
            for (int i = before; i < n; i++)
                if (all[i] == &threaded[k][j])
                    at = i;
            assert_true(at > last);
            last = at;
        }
    }
}

static void the_registry_is_bounded(void **state)
{
    (void)state;
    agora_error err;
    int rc = 0, added = 0;
    while (rc == 0 && added <= AGORA_MODEL_MAX_REGISTERED) {
        char name[32];
        snprintf(name, sizeof name, "fill_%d", added);
        if ((rc = agora_model_register(sir_as(name), &err)) == 0)
            added++;
    }
    assert_int_equal(rc, AGORA_ERANGE);
    assert_non_null(strstr(err.msg, "too many registered models (at most 256)"));
    assert_int_equal(count(), 3 + AGORA_MODEL_MAX_REGISTERED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(builtin_models_pass_the_registration_checks),
        cmocka_unit_test(a_registered_model_comes_after_the_builtins_and_runs),
        cmocka_unit_test(a_taken_name_is_refused_naming_who_has_it),
        cmocka_unit_test(broken_models_are_refused_with_the_reason),
        cmocka_unit_test(concurrent_registrations_all_arrive_once),
        cmocka_unit_test(the_registry_is_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
