/* Tests of the plug-in loader (src/core/plugin.c) on the plug-ins tests/CMakeLists.txt builds from tests/plugin/:
 * the example registers its model, which then runs, copies and checkpoints like a built-in; loading a file twice
 * does nothing; and every way a plug-in can be wrong — another ABI, a name that is taken, an init that fails, a
 * model the registry refuses, no entry point, no file, not a shared object — is refused with a message that says
 * which, registers nothing, and leaves the process able to load the next one. This program exports the library's
 * API to the plug-ins as the agora command does (ENABLE_EXPORTS). */
#define _XOPEN_SOURCE 700 /* realpath */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agora/agora.h"
#include "support.h"

static const char *plugin(const char *name)
{
    static char buf[8][PATH_MAX];
    static int next;
    char *b = buf[next++ % 8];
    snprintf(b, PATH_MAX, "%s/%s.so", AGORA_TEST_PLUGINS, name);
    return b;
}

static int count(void)
{
    int n;
    agora_models(&n);
    return n;
}

/* Loads `name`, expecting it to fail with `code` and a message containing `want`; nothing may be registered. */
static void refused(const char *path, int code, const char *want)
{
    const int before = count();
    agora_error err;
    agora_error_clear(&err);
    int rc = agora_plugin_load(path, &err);
    if (rc != code || !strstr(err.msg, want))
        fail_msg("%s: got %d \"%s\", want %d \"%s\"", path, rc, err.msg, code, want);
    assert_string_equal(err.where, path);
    assert_int_equal(count(), before);
}

static void measure(agora_world *w, double out[3])
{
    agora_world_measure(w, out);
}

static void the_example_registers_a_model_that_runs_like_a_builtin(void **state)
{
    (void)state;
    const int before = count();
    agora_error err;
    assert_null(agora_model_find("voter"));
    if (agora_plugin_load(plugin("voter"), &err) != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(count(), before + 1);
    const agora_model *m = agora_model_find("voter");
    assert_non_null(m);
    assert_ptr_equal(agora_models(NULL)[before], m);
    char real[PATH_MAX];
    assert_non_null(realpath(plugin("voter"), real));
    assert_string_equal(agora_model_origin(m), real);

    const char *yaml = "model: voter\nspace: {kind: grid, width: 20, height: 20}\nparams: {initial: 0.3, rate: "
                       "0.5, noise: 0.02}\nseed: 3\n";
    agora_world *a = test_world(yaml, 1);
    double ma[3], mb[3];
    measure(a, ma);
    assert_true(ma[1] > 0.15 && ma[1] < 0.45); /* 400 draws at 0.3: sd 0.023, so +-0.15 is over 6 sd */
    for (int t = 0; t < 10; t++)
        agora_world_step(a);
    measure(a, ma);
    assert_true(ma[2] > 0); /* with rate 0.5 somebody changed their mind in step 10 */

    /* a copy and a checkpoint go on exactly as the original */
    agora_world *c = NULL;
    assert_int_equal(agora_world_copy(a, &c, &err), 0);
    test_mem_state mem = {0};
    agora_state st = test_mem_state_of(&mem);
    assert_int_equal(agora_world_save(a, &st, &err), 0);
    agora_world *r = test_world(yaml, 1);
    assert_int_equal(agora_world_load(r, &st, &err), 0);
    json_t *act = test_json("{'action': 'broadcast', 'opinion': 1, 'fraction': 0.5}");
    for (int t = 0; t < 10; t++) {
        agora_world_step(a);
        agora_world_step(c);
        agora_world_step(r);
        if (t == 4) {
            assert_int_equal(agora_world_apply(a, act, &err), 0);
            assert_int_equal(agora_world_apply(c, act, &err), 0);
            assert_int_equal(agora_world_apply(r, act, &err), 0);
        }
    }
    measure(a, ma);
    measure(c, mb);
    assert_memory_equal(ma, mb, sizeof ma);
    measure(r, mb);
    assert_memory_equal(ma, mb, sizeof ma);

    /* the kernel validates actions against the plug-in's schema before the model sees them */
    json_t *bad = test_json("{'action': 'broadcast', 'opinion': 2, 'fraction': 0.5}");
    assert_int_equal(agora_world_apply(a, bad, &err), AGORA_ESCHEMA);
    assert_non_null(strstr(err.where, "opinion"));
    json_decref(bad);
    json_decref(act);
    agora_world_destroy(a);
    agora_world_destroy(c);
    agora_world_destroy(r);
    test_mem_free(&mem);
}

static void loading_the_same_file_again_does_nothing(void **state)
{
    (void)state;
    const int before = count();
    const agora_model *m = agora_model_find("voter");
    agora_error err;
    char other[PATH_MAX];
    snprintf(other, sizeof other, "%s/./../plugins/voter.so", AGORA_TEST_PLUGINS);
    assert_int_equal(agora_plugin_load(plugin("voter"), &err), 0);
    assert_int_equal(agora_plugin_load(other, &err), 0);
    assert_int_equal(count(), before);
    assert_ptr_equal(agora_model_find("voter"), m);
}

static void a_copy_of_a_loaded_plugin_is_a_name_clash(void **state)
{
    (void)state;
    const char *copy = test_tmp_path("voter_copy.so");
    char cmd[3 * PATH_MAX];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", plugin("voter"), copy);
    assert_int_equal(system(cmd), 0);
    char real[PATH_MAX], want[PATH_MAX + 128];
    assert_non_null(realpath(plugin("voter"), real));
    snprintf(want, sizeof want,
             "agora_plugin_init failed: model \"voter\": the name is taken by the model of plug-in %s", real);
    refused(copy, AGORA_EINVAL, want);
}

static void a_plugin_built_for_another_abi_is_refused_before_it_runs(void **state)
{
    (void)state;
    char want[160];
    snprintf(want, sizeof want,
             "built for agora model ABI %d, this agora has ABI %d; rebuild the plug-in against this version",
             AGORA_MODEL_ABI + 1, AGORA_MODEL_ABI);
    refused(plugin("bad_abi"), AGORA_EINVAL, want);
    assert_null(agora_model_find("tiny"));
}

static void a_builtin_name_is_refused(void **state)
{
    (void)state;
    refused(plugin("bad_clash"), AGORA_EINVAL, "model \"sir\": the name is taken by the built-in model sir");
    assert_ptr_equal(agora_model_find("sir"), agora_models(NULL)[0]);
}

static void a_failing_init_is_reported_with_its_reason(void **state)
{
    (void)state;
    /* twice: a failed load is undone, not remembered as loaded */
    for (int i = 0; i < 2; i++)
        refused(plugin("bad_init"), AGORA_EIO,
                "agora_plugin_init failed: the licence file /nonexistent/licence is missing");
}

static void a_model_the_registry_refuses_fails_the_load(void **state)
{
    (void)state;
    refused(plugin("bad_spec"), AGORA_EINVAL,
            "agora_plugin_init failed: model \"tiny\": the default of p is not valid: expected a number in [0, 1]");
    assert_null(agora_model_find("tiny"));
}

static void files_that_are_no_plugin_are_refused(void **state)
{
    (void)state;
    refused(plugin("bad_noentry"), AGORA_EINVAL, "not an agora plug-in: it exports no agora_plugin_init");
    refused(test_tmp_path("nosuch.so"), AGORA_ENOTFOUND, "no such plug-in file");
    const char *text = test_tmp_path("text.so");
    FILE *f = fopen(text, "w");
    assert_non_null(f);
    fputs("not a shared object\n", f);
    fclose(f);
    refused(text, AGORA_EINVAL, "not a shared object (no ELF header)");
    refused(AGORA_TEST_PLUGINS, AGORA_EINVAL, "not a plug-in: a directory or special file");
    agora_error err;
    assert_int_equal(agora_plugin_load("", &err), AGORA_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_example_registers_a_model_that_runs_like_a_builtin),
        cmocka_unit_test(loading_the_same_file_again_does_nothing),
        cmocka_unit_test(a_copy_of_a_loaded_plugin_is_a_name_clash),
        cmocka_unit_test(a_plugin_built_for_another_abi_is_refused_before_it_runs),
        cmocka_unit_test(a_builtin_name_is_refused),
        cmocka_unit_test(a_failing_init_is_reported_with_its_reason),
        cmocka_unit_test(a_model_the_registry_refuses_fails_the_load),
        cmocka_unit_test(files_that_are_no_plugin_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
