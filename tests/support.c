/* Shared helpers for the cmocka tests (see support.h). */
#include "support.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "agora/agora.h"

const char *test_tmp_path(const char *name)
{
    static char buf[8][4096];
    static int next;
    char *p = buf[next++ % 8];
    mkdir(AGORA_TEST_TMP, 0755);
    snprintf(p, 4096, "%s/%s", AGORA_TEST_TMP, name);
    return p;
}

const char *test_src_path(const char *rel)
{
    static char buf[8][4096];
    static int next;
    char *p = buf[next++ % 8];
    snprintf(p, 4096, "%s/%s", AGORA_SOURCE_DIR, rel);
    return p;
}

agora_scenario *test_scenario(const char *yaml)
{
    agora_scenario *sc = NULL;
    agora_error err;
    int rc = agora_scenario_parse(yaml, strlen(yaml), "test.yaml", NULL, &sc, &err);
    if (rc != 0) {
        char buf[1024];
        fail_msg("scenario did not load: %s", agora_error_format(&err, buf, sizeof buf));
    }
    return sc;
}

agora_world *test_world(const char *yaml, int threads)
{
    agora_scenario *sc = test_scenario(yaml);
    const json_t *cfg = agora_scenario_config(sc);
    agora_error err;
    agora_space *space = NULL;
    uint64_t seed = (uint64_t)json_integer_value(json_object_get(cfg, "seed"));
    agora_rng_key key = agora_rng_key_from_seed(seed);
    if (agora_space_create(json_object_get(cfg, "space"), key, agora_scenario_base_dir(sc), &space, &err) != 0) {
        char buf[1024];
        fail_msg("space: %s", agora_error_format(&err, buf, sizeof buf));
    }
    agora_world_config wc = {.model = agora_scenario_model(sc),
                             .space = space,
                             .params = json_object_get(cfg, "params"),
                             .seed = seed,
                             .threads = threads};
    agora_world *w = NULL;
    if (agora_world_create(&wc, &w, &err) != 0) {
        char buf[1024];
        fail_msg("world: %s", agora_error_format(&err, buf, sizeof buf));
    }
    agora_scenario_destroy(sc);
    return w;
}
