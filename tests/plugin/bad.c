/* Plug-ins that go wrong on purpose, for tests/cli_plugin.sh and tests/test_plugin.c: compile with one of
 *   -DBAD_ABI      exports agora_plugin_abi by hand, one more than this agora's (built for another version)
 *   -DBAD_CLASH    registers a model named "sir", a built-in's name
 *   -DBAD_INIT     agora_plugin_init fails, saying why
 *   -DBAD_SPEC     registers a model whose parameter default lies outside its range
 *   -DBAD_NOENTRY  a shared object with no agora_plugin_init
 * Each model is the smallest one agora accepts: one metric, no parameters (but BAD_SPEC's). */
#include <stdlib.h>

#include <agora/agora.h>

static int tiny_init(agora_world *w, const json_t *params, agora_error *err)
{
    (void)w;
    (void)params;
    (void)err;
    return 0;
}

static void tiny_step(agora_world *w)
{
    (void)w;
}

static void tiny_measure(const agora_world *w, double *out)
{
    out[0] = (double)agora_world_time(w);
}

static void tiny_destroy(agora_world *w)
{
    (void)w;
}

static const agora_metric_spec tiny_metrics[] = {{"t", "the step", NULL}, {NULL, NULL, NULL}};
#ifdef BAD_SPEC
static const agora_param_spec bad_params[] = {
    {"p", AGORA_PARAM_REAL, 2.0, 0.0, 1.0, "a probability whose default is 2", NULL}, {NULL, 0, 0, 0, 0, NULL, NULL}};
#endif

#ifdef BAD_CLASH
#define TINY_NAME "sir"
#else
#define TINY_NAME "tiny"
#endif

static const agora_model tiny = {
    .name = TINY_NAME,
    .summary = "a model that does nothing",
#ifdef BAD_SPEC
    .params = bad_params,
#endif
    .metrics = tiny_metrics,
    .spaces = AGORA_SPACES_MIXED,
    .init = tiny_init,
    .step = tiny_step,
    .measure = tiny_measure,
    .destroy = tiny_destroy,
};

#ifdef BAD_ABI
AGORA_PLUGIN_EXPORT const int agora_plugin_abi = AGORA_MODEL_ABI + 1;
#else
AGORA_PLUGIN_ABI_DEFINE();
#endif

#ifdef BAD_NOENTRY
AGORA_PLUGIN_EXPORT int not_the_entry_point(void)
{
    return tiny.step != NULL;
}
#else
AGORA_PLUGIN_EXPORT int agora_plugin_init(const agora_plugin_host *host, agora_error *err)
{
#ifdef BAD_INIT
    (void)host;
    (void)&tiny;
    return agora_error_set(err, AGORA_EIO, NULL, "the licence file /nonexistent/licence is missing");
#else
    return host->register_model(host, &tiny, err);
#endif
}
#endif
