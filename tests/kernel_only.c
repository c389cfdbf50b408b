/* The kernel alone (issue 15, layers): this program links against agora_kernel only — the kernel's sources built
 * with GSL, OpenMP, igraph and jansson, without libcurl, HDF5 or libyaml (CMakeLists.txt) — so that it links at all
 * shows the kernel needs nothing above it. It then runs every built-in model on each kind of space it declares:
 * found by name, created, stepped, measured (finite metrics), copied (the copy steps bit for bit like the original)
 * and identical at 1 and 2 threads. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agora/kernel.h"

static agora_space *space_of(int kind)
{
    agora_space *sp = NULL;
    agora_error err;
    if (kind == AGORA_SPACE_GRID) {
        assert_int_equal(agora_space_grid_create(40, 30, 1, AGORA_MOORE, &sp, &err), 0);
    } else if (kind == AGORA_SPACE_GRAPH) {
        int64_t e[2 * 2400];
        for (int64_t i = 0; i < 1200; i++) { /* a ring with chords */
            e[4 * i] = i, e[4 * i + 1] = (i + 1) % 1200;
            e[4 * i + 2] = i, e[4 * i + 3] = (i * 37 + 11) % 1200;
        }
        assert_int_equal(agora_space_graph_from_edges(1200, e, 2400, &sp, &err), 0);
    } else {
        assert_int_equal(agora_space_mixed_create(1200, &sp, &err), 0);
    }
    return sp;
}

static agora_world *world_of(const agora_model *m, int kind, int threads)
{
    agora_world_config cfg = {.model = m, .space = space_of(kind), .seed = 7, .threads = threads};
    agora_world *w = NULL;
    agora_error err;
    if (agora_world_create(&cfg, &w, &err) != 0)
        fail_msg("%s: %s (%s)", m->name, err.msg, err.where);
    return w;
}

static void measure(agora_world *w, double *v, int nm)
{
    agora_world_measure(w, v);
    for (int k = 0; k < nm; k++)
        assert_false(isinf(v[k]));
}

static void every_builtin_runs_on_the_kernel_alone(void **state)
{
    (void)state;
    static const char *const names[] = {"sir", "opinion", "market"};
    int ran = 0;
    for (size_t q = 0; q < sizeof names / sizeof names[0]; q++) {
        const agora_model *m = agora_model_find(names[q]);
        assert_non_null(m);
        const int nm = agora_model_n_metrics(m);
        for (int kind = AGORA_SPACE_GRID; kind <= AGORA_SPACE_MIXED; kind++) {
            const unsigned bit = kind == AGORA_SPACE_GRID    ? AGORA_SPACES_GRID
                                 : kind == AGORA_SPACE_GRAPH ? AGORA_SPACES_GRAPH
                                                             : AGORA_SPACES_MIXED;
            if (!(m->spaces & bit))
                continue;
            agora_world *a = world_of(m, kind, 1), *b = world_of(m, kind, 2), *c = NULL;
            agora_error err;
            double *va = calloc((size_t)nm + 1, sizeof *va), *vb = calloc((size_t)nm + 1, sizeof *vb),
                   *vc = calloc((size_t)nm + 1, sizeof *vc);
            for (int t = 0; t < 6; t++) {
                if (t == 3)
                    assert_int_equal(agora_world_copy(a, &c, &err), 0);
                agora_world_step(a);
                agora_world_step(b);
                if (c)
                    agora_world_step(c);
                measure(a, va, nm);
                measure(b, vb, nm);
                if (memcmp(va, vb, sizeof *va * (size_t)nm) != 0)
                    fail_msg("%s on space kind %d: 1 and 2 threads differ at step %d", m->name, kind, t);
                if (c) {
                    measure(c, vc, nm);
                    if (memcmp(va, vc, sizeof *va * (size_t)nm) != 0)
                        fail_msg("%s on space kind %d: the copy differs at step %d", m->name, kind, t);
                }
            }
            assert_null(agora_world_error(a));
            free(va);
            free(vb);
            free(vc);
            agora_world_destroy(a);
            agora_world_destroy(b);
            agora_world_destroy(c);
            ran++;
        }
    }
    assert_true(ran >= 6); /* sir, opinion and market on their spaces */
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(every_builtin_runs_on_the_kernel_alone)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
