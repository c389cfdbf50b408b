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

json_t *test_json(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *t = malloc((size_t)n + 1);
    if (n < 0 || !t)
        fail_msg("out of memory");
    va_start(ap, fmt);
    vsnprintf(t, (size_t)n + 1, fmt, ap);
    va_end(ap);
    for (char *p = t; *p; p++)
        if (*p == '\'')
            *p = '"';
    json_error_t e;
    json_t *v = json_loads(t, JSON_DECODE_ANY, &e);
    if (!v)
        fail_msg("bad JSON in the test (%s): %s", e.text, t);
    free(t);
    return v;
}

int test_sir_infected_neighbours(const agora_space *sp, const uint8_t *st, int64_t i)
{
    enum { INFECTED = 1 };
    int k = 0;
    if (sp->kind == AGORA_SPACE_GRAPH) {
        for (int64_t e = sp->graph.offsets[i]; e < sp->graph.offsets[i + 1]; e++)
            k += st[sp->graph.neighbors[e]] == INFECTED;
        return k;
    }
    const int64_t W = sp->grid.width, H = sp->grid.height, x = i % W, y = i / W;
    for (int dy = -1; dy <= 1; dy++) {
        for (int dx = -1; dx <= 1; dx++) {
            if ((dx == 0 && dy == 0) || (sp->grid.nbhd == AGORA_VON_NEUMANN && dx != 0 && dy != 0))
                continue;
            int64_t nx = x + dx, ny = y + dy;
            if (sp->grid.torus) {
                nx = (nx + W) % W;
                ny = (ny + H) % H;
            } else if (nx < 0 || ny < 0 || nx >= W || ny >= H) {
                continue;
            }
            k += st[ny * W + nx] == INFECTED;
        }
    }
    return k;
}

static int mem_put(void *ud, const char *name, const void *data, size_t bytes, agora_error *err)
{
    test_mem_state *m = ud;
    if (test_mem_has(m, name))
        fail_msg("part %s saved twice", name);
    if (m->n == m->cap) {
        const int cap = m->cap ? 2 * m->cap : 16;
        char **nm = realloc(m->name, sizeof *nm * (size_t)cap);
        void **dt = nm ? realloc(m->data, sizeof *dt * (size_t)cap) : NULL;
        size_t *by = dt ? realloc(m->bytes, sizeof *by * (size_t)cap) : NULL;
        if (nm)
            m->name = nm;
        if (dt)
            m->data = dt;
        if (!by)
            return agora_error_set(err, AGORA_ENOMEM, name, "out of memory");
        m->bytes = by;
        m->cap = cap;
    }
    m->name[m->n] = strdup(name);
    m->data[m->n] = malloc(bytes ? bytes : 1);
    assert_true(m->name[m->n] && m->data[m->n]);
    memcpy(m->data[m->n], data, bytes);
    m->bytes[m->n++] = bytes;
    return 0;
}

static int mem_get(void *ud, const char *name, void *data, size_t bytes, agora_error *err)
{
    const test_mem_state *m = ud;
    for (int i = 0; i < m->n; i++)
        if (strcmp(m->name[i], name) == 0) {
            if (m->bytes[i] != bytes)
                return agora_error_set(err, AGORA_EINVAL, name, "saved %zu bytes, asked for %zu", m->bytes[i], bytes);
            memcpy(data, m->data[i], bytes);
            return 0;
        }
    return agora_error_set(err, AGORA_EINVAL, name, "no such part");
}

agora_state test_mem_state_of(test_mem_state *m)
{
    agora_state st = {.ud = m, .put = mem_put, .get = mem_get};
    return st;
}

int test_mem_has(const test_mem_state *m, const char *name)
{
    for (int i = 0; i < m->n; i++)
        if (strcmp(m->name[i], name) == 0)
            return 1;
    return 0;
}

void test_mem_free(test_mem_state *m)
{
    for (int i = 0; i < m->n; i++) {
        free(m->name[i]);
        free(m->data[i]);
    }
    free(m->name);
    free(m->data);
    free(m->bytes);
    memset(m, 0, sizeof *m);
}
