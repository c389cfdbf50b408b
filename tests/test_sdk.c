/* Tests for the model SDK (src/core/sdk.c): a tiny model declared through it, "clock", whose agents each hold a level
 * 0..3 that a step advances by one with probability 1/2 (one counter-RNG bit per agent), and a read-only weight. Its
 * scalar block counts the agents at level 3 (kept up to date by the step and by the write hook) and the hook's calls.
 *
 * Checked: every declared array is allocated (aligned, zero-filled, of the declared length on each space kind) and
 * the double buffer is swapped after each step; a copy shares no memory and steps bit-identically; save and load
 * round-trip every kept array, the scalars and an ON_DEMAND array; set_field refuses values outside the declared
 * domain, read-only fields and what the model's check refuses, leaving the world unchanged, and otherwise writes in
 * order and hands the hook what each write replaced; the memory accounting is the declaration's arithmetic. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agora/agora.h"
#include "support.h"

/* ---- the model ----------------------------------------------------------------------------------------------------
 */

enum { F_LEVEL, F_WEIGHT, F_WORK, F_EDGE, F_EXTRA };

static const agora_field_spec clock_fields[] = {
    {"level", AGORA_DTYPE_U8, "0..3, advanced by one with probability 1/2 each step"},
    {"weight", AGORA_DTYPE_F64, "agent index / n (read-only)"},
    {NULL, 0, NULL}};

static const agora_field_decl clock_decl[] = {
    {.name = "level",
     .type = AGORA_DTYPE_U8,
     .flags = AGORA_FIELD_DOUBLE | AGORA_FIELD_SNAPSHOT | AGORA_FIELD_WRITABLE,
     .min = 0,
     .max = 3,
     .domain = "a level is 0, 1, 2 or 3"},
    {.name = "weight", .type = AGORA_DTYPE_F64, .flags = AGORA_FIELD_SNAPSHOT},
    {.name = "work", .type = AGORA_DTYPE_F64, .flags = AGORA_FIELD_SCRATCH},
    {.name = "edge", .elem = sizeof(int32_t), .extent = AGORA_EXTENT_EDGES},
    {.name = "extra", .elem = sizeof(int64_t), .group = 10, .mult = 3, .add = 1, .flags = AGORA_FIELD_ON_DEMAND},
    {0}};

typedef struct clock_scalars {
    int64_t at3;     /* agents at level 3 */
    int64_t written; /* calls of the write hook */
    double last_old; /* what the last write of the last call replaced */
} clock_scalars;

static int clock_init(agora_world *w, const json_t *params, agora_error *err)
{
    (void)params;
    (void)err;
    double *weight = agora_sdk_cur(w, F_WEIGHT);
    const int64_t n = agora_world_n(w);
    for (int64_t i = 0; i < n; i++)
        weight[i] = (double)i / (double)n;
    return 0;
}

static void clock_step(agora_world *w)
{
    const uint8_t *cur = agora_sdk_cur(w, F_LEVEL);
    uint8_t *next = agora_sdk_next(w, F_LEVEL);
    double *work = agora_sdk_cur(w, F_WORK);
    clock_scalars *sc = agora_sdk_scalars(w);
    const uint64_t base = agora_rng_base(agora_world_key(w), (uint64_t)agora_world_time(w), AGORA_RNG_STREAM_MODEL);
    int64_t at3 = 0;
    for (int64_t i = 0; i < agora_world_n(w); i++) {
        next[i] = (uint8_t)((cur[i] + (agora_rng_at(base, (uint64_t)i) >> 63)) & 3);
        work[i] = next[i]; /* scratch: written before it is read */
        at3 += next[i] == 3;
    }
    sc->at3 = at3;
}

static void clock_measure(const agora_world *w, double *out)
{
    const clock_scalars *sc = agora_sdk_scalars(w);
    out[0] = (double)sc->at3;
    out[1] = (double)sc->written;
}

static const agora_metric_spec clock_metrics[] = {
    {"at3", "agents at level 3", NULL}, {"written", "write hook calls", NULL}, {NULL, NULL, NULL}};

/* Refuses level 2 for agent 0 (what a declared domain cannot say). */
static int clock_check(const agora_world *w, int f, const int64_t *ids, int64_t count, const double *values,
                       agora_error *err)
{
    (void)w;
    assert_int_equal(f, F_LEVEL);
    for (int64_t q = 0; q < count; q++)
        if (ids[q] == 0 && values[q] == 2)
            return agora_error_set(err, AGORA_EINVAL, "values", "agent 0 never holds level 2");
    return 0;
}

static void clock_written(agora_world *w, int f, const int64_t *ids, int64_t count, const double *old,
                          const double *values)
{
    (void)ids;
    assert_int_equal(f, F_LEVEL);
    clock_scalars *sc = agora_sdk_scalars(w);
    for (int64_t q = 0; q < count; q++)
        sc->at3 += (values[q] == 3) - (old[q] == 3);
    sc->written++;
    sc->last_old = count > 0 ? old[count - 1] : -1;
}

static const agora_model_sdk clock_sdk = {
    .fields = clock_decl, .scalars = sizeof(clock_scalars), .check = clock_check, .written = clock_written};

static const agora_model clock_model = {
    .name = "clock",
    .summary = "a test model of the SDK",
    .metrics = clock_metrics,
    .fields = clock_fields,
    .spaces = AGORA_SPACES_GRID | AGORA_SPACES_GRAPH | AGORA_SPACES_MIXED,
    .init = clock_init,
    .step = clock_step,
    .measure = clock_measure,
    AGORA_SDK_HOOKS,
    .sdk = &clock_sdk,
};

/* ---- helpers ------------------------------------------------------------------------------------------------------
 */

static agora_world *world_on(agora_space *space, const agora_model *m)
{
    agora_world_config cfg = {.model = m, .space = space, .seed = 5, .threads = 1};
    agora_world *w = NULL;
    agora_error err;
    if (agora_world_create(&cfg, &w, &err) != 0)
        fail_msg("create: %s", err.msg);
    return w;
}

static agora_world *grid_world(int64_t width, int64_t height)
{
    agora_space *sp = NULL;
    assert_int_equal(agora_space_grid_create(width, height, 1, AGORA_MOORE, &sp, NULL), 0);
    return world_on(sp, &clock_model);
}

/* A ring of n agents: 2n adjacency entries. */
static agora_world *ring_world(int64_t n)
{
    int64_t *e = malloc((size_t)(2 * n) * sizeof *e);
    assert_non_null(e);
    for (int64_t i = 0; i < n; i++) {
        e[2 * i] = i;
        e[2 * i + 1] = (i + 1) % n;
    }
    agora_space *sp = NULL;
    assert_int_equal(agora_space_graph_from_edges(n, e, n, &sp, NULL), 0);
    free(e);
    return world_on(sp, &clock_model);
}

/* 0 when the kept arrays and the scalars of a and b are identical to the byte. */
static int differ(const agora_world *a, const agora_world *b)
{
    const int kept[] = {F_LEVEL, F_WEIGHT, F_EDGE, F_EXTRA};
    for (size_t k = 0; k < sizeof kept / sizeof kept[0]; k++) {
        const int f = kept[k];
        const int64_t len = agora_sdk_length(a, f);
        if (len != agora_sdk_length(b, f))
            return 1;
        const size_t elem = f == F_LEVEL ? 1 : f == F_EDGE ? 4 : 8;
        if (len > 0 && memcmp(agora_sdk_cur(a, f), agora_sdk_cur(b, f), (size_t)len * elem) != 0)
            return 1;
    }
    return memcmp(agora_sdk_scalars(a), agora_sdk_scalars(b), sizeof(clock_scalars)) != 0;
}

/* ---- tests --------------------------------------------------------------------------------------------------------
 */

static void buffers_are_allocated_zeroed_aligned_and_swapped_after_each_step(void **state)
{
    (void)state;
    agora_world *w = grid_world(13, 7);
    const int64_t n = 91;
    const uint8_t *cur = agora_sdk_cur(w, F_LEVEL), *next = agora_sdk_next(w, F_LEVEL);
    assert_non_null(cur);
    assert_non_null(next);
    assert_ptr_not_equal(cur, next);
    for (int f = F_LEVEL; f <= F_WORK; f++)
        assert_int_equal((uintptr_t)agora_sdk_cur(w, f) % 64, 0);
    for (int64_t i = 0; i < n; i++)
        assert_int_equal(cur[i] | next[i], 0);
    assert_null(agora_sdk_next(w, F_WEIGHT)); /* not double-buffered */
    assert_int_equal(agora_sdk_length(w, F_LEVEL), n);
    assert_int_equal(agora_sdk_length(w, F_EDGE), 0); /* a grid has no adjacency entries */
    assert_null(agora_sdk_cur(w, F_EDGE));
    assert_null(agora_sdk_cur(w, F_EXTRA)); /* on demand: not yet */
    assert_ptr_equal(agora_world_field(w, 0, NULL), cur);
    assert_ptr_equal(agora_world_field(w, 1, NULL), agora_sdk_cur(w, F_WEIGHT));
    assert_true(((const double *)agora_world_field(w, 1, NULL))[90] == 90.0 / 91.0);
    for (int t = 0; t < 4; t++) {
        const void *c = agora_sdk_cur(w, F_LEVEL), *x = agora_sdk_next(w, F_LEVEL);
        agora_world_step(w);
        assert_ptr_equal(agora_sdk_cur(w, F_LEVEL), x);
        assert_ptr_equal(agora_sdk_next(w, F_LEVEL), c);
        assert_ptr_equal(agora_world_field(w, 0, NULL), x);
    }
    /* The step read the current buffer and wrote the next: after 4 steps some agents have moved. */
    int64_t moved = 0;
    for (int64_t i = 0; i < n; i++)
        moved += ((const uint8_t *)agora_sdk_cur(w, F_LEVEL))[i] != 0;
    assert_true(moved > 0);
    agora_world_destroy(w);

    agora_world *g = ring_world(50);
    assert_int_equal(agora_sdk_length(g, F_EDGE), 100);
    agora_error err;
    assert_int_equal(agora_sdk_enable(g, F_EXTRA, &err), 0);
    assert_int_equal(agora_sdk_length(g, F_EXTRA), 3 * 5 + 1); /* mult * ceil(50 / 10) + add */
    const void *extra = agora_sdk_cur(g, F_EXTRA);
    assert_int_equal(agora_sdk_enable(g, F_EXTRA, &err), 0); /* enabled already: the same array */
    assert_ptr_equal(agora_sdk_cur(g, F_EXTRA), extra);
    assert_int_equal(agora_sdk_enable(g, 99, &err), AGORA_EINVAL);
    agora_world_destroy(g);
}

static void copy_is_independent_and_steps_bit_identical(void **state)
{
    (void)state;
    agora_world *w = ring_world(300);
    for (int t = 0; t < 3; t++)
        agora_world_step(w);
    assert_int_equal(agora_sdk_enable(w, F_EXTRA, NULL), 0);
    ((int64_t *)agora_sdk_cur(w, F_EXTRA))[2] = 42;
    ((int32_t *)agora_sdk_cur(w, F_EDGE))[7] = -9;
    agora_world *k = NULL;
    agora_error err;
    if (agora_world_copy(w, &k, &err) != 0)
        fail_msg("copy: %s", err.msg);
    assert_int_equal(agora_world_time(k), 3);
    assert_int_equal(differ(w, k), 0);
    for (int f = F_LEVEL; f <= F_EXTRA; f++)
        assert_ptr_not_equal(agora_sdk_cur(k, f), agora_sdk_cur(w, f));
    assert_ptr_not_equal(agora_sdk_scalars(k), agora_sdk_scalars(w));
    assert_int_equal(((const int64_t *)agora_sdk_cur(k, F_EXTRA))[2], 42);
    for (int t = 0; t < 10; t++) {
        agora_world_step(w);
        agora_world_step(k);
        if (differ(w, k))
            fail_msg("the copy differs after %d steps", t + 1);
    }
    /* Writing to the original leaves the copy alone. */
    const uint8_t before = ((const uint8_t *)agora_sdk_cur(k, F_LEVEL))[5];
    const int64_t id = 5;
    const double v = before == 3 ? 0 : 3;
    assert_int_equal(agora_world_set_field(w, 0, &id, 1, &v, &err), 0);
    ((int64_t *)agora_sdk_cur(w, F_EXTRA))[2] = 7;
    assert_int_equal(((const uint8_t *)agora_sdk_cur(k, F_LEVEL))[5], before);
    assert_int_equal(((const int64_t *)agora_sdk_cur(k, F_EXTRA))[2], 42);
    assert_true(differ(w, k));
    agora_world_destroy(w);
    agora_world_step(k); /* still usable alone (ASan: nothing of w's) */
    agora_world_destroy(k);
}

static void save_and_load_round_trip_fields_scalars_and_on_demand_arrays(void **state)
{
    (void)state;
    agora_world *w = ring_world(120);
    for (int t = 0; t < 5; t++)
        agora_world_step(w);
    assert_int_equal(agora_sdk_enable(w, F_EXTRA, NULL), 0);
    ((int64_t *)agora_sdk_cur(w, F_EXTRA))[0] = 1234;
    ((clock_scalars *)agora_sdk_scalars(w))->written = 17;
    test_mem_state m = {0};
    agora_state st = test_mem_state_of(&m);
    agora_error err;
    assert_int_equal(agora_world_save(w, &st, &err), 0);
    /* The declared names; scratch is not saved. */
    assert_true(test_mem_has(&m, "layout") && test_mem_has(&m, "scalars") && test_mem_has(&m, "level") && test_mem_has(&m, "weight") &&
                test_mem_has(&m, "edge") && test_mem_has(&m, "extra"));
    assert_false(test_mem_has(&m, "work"));
    agora_world *k = ring_world(120);
    assert_null(agora_sdk_cur(k, F_EXTRA));
    if (agora_world_load(k, &st, &err) != 0)
        fail_msg("load: %s", err.msg);
    assert_int_equal(agora_world_time(k), 5);
    assert_int_equal(differ(w, k), 0);
    assert_int_equal(((const int64_t *)agora_sdk_cur(k, F_EXTRA))[0], 1234);
    for (int t = 0; t < 8; t++) {
        agora_world_step(w);
        agora_world_step(k);
        assert_int_equal(differ(w, k), 0);
    }
    /* Another size is refused (by the world's header); so is another layout (a grid has no edge array saved with
     * the same size): the part sizes are compared. */
    agora_world *other = ring_world(121);
    assert_int_equal(agora_world_load(other, &st, &err), AGORA_EINVAL);
    agora_world *grid = grid_world(12, 10);
    assert_int_equal(agora_world_load(grid, &st, &err), AGORA_EINVAL);
    test_mem_free(&m);
    agora_world_destroy(w);
    agora_world_destroy(k);
    agora_world_destroy(other);
    agora_world_destroy(grid);
}

static void set_field_checks_the_domain_then_the_model_and_hands_the_hook_the_old_values(void **state)
{
    (void)state;
    agora_world *w = grid_world(10, 10);
    for (int t = 0; t < 6; t++)
        agora_world_step(w);
    agora_world *ref = NULL;
    assert_int_equal(agora_world_copy(w, &ref, NULL), 0);
    agora_error err;
    const double bad[] = {4, 0.5, -1, NAN, INFINITY, -INFINITY, 255};
    for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
        const int64_t ids[2] = {3, 4};
        const double vals[2] = {1, bad[b]};
        assert_int_equal(agora_world_set_field(w, 0, ids, 2, vals, &err), AGORA_EINVAL);
        assert_string_equal(err.where, "values");
        assert_non_null(strstr(err.msg, "values[1]"));
        assert_non_null(strstr(err.msg, "a level is 0, 1, 2 or 3"));
        assert_int_equal(differ(w, ref), 0);
    }
    /* The model's check: refused before anything is written, the hook not called. */
    const int64_t ids0[2] = {1, 0};
    const double two[2] = {3, 2};
    assert_int_equal(agora_world_set_field(w, 0, ids0, 2, two, &err), AGORA_EINVAL);
    assert_string_equal(err.msg, "agent 0 never holds level 2");
    assert_int_equal(differ(w, ref), 0);
    /* Read-only. */
    const int64_t one = 1;
    const double half = 0.5;
    assert_int_equal(agora_world_set_field(w, 1, &one, 1, &half, &err), AGORA_EUNSUPPORTED);
    assert_string_equal(err.where, "field");
    assert_non_null(strstr(err.msg, "weight"));
    assert_non_null(strstr(err.msg, "writable: level"));
    assert_int_equal(differ(w, ref), 0);

    /* A write in order, agent 7 twice: it ends with its last value, and the hook sees what each write replaced. */
    uint8_t *level = agora_sdk_cur(w, F_LEVEL);
    level[7] = 1;
    level[8] = 3;
    int64_t at3 = 0;
    for (int64_t i = 0; i < 100; i++)
        at3 += level[i] == 3;
    clock_scalars *sc = agora_sdk_scalars(w);
    sc->at3 = at3;
    const int64_t ids[3] = {7, 8, 7};
    const double vals[3] = {3, 0, 2};
    assert_int_equal(agora_world_set_field(w, 0, ids, 3, vals, &err), 0);
    assert_int_equal(level[7], 2);
    assert_int_equal(level[8], 0);
    assert_int_equal(sc->written, 1);
    assert_true(sc->last_old == 3); /* the third write replaced the first one's 3 */
    assert_int_equal(sc->at3, at3 - 1);
    double m[2];
    agora_world_measure(w, m);
    assert_true(m[0] == (double)(at3 - 1));
    agora_world_destroy(w);
    agora_world_destroy(ref);
}

static void memory_is_the_declared_arrays_and_the_scalars(void **state)
{
    (void)state;
    agora_world *g = ring_world(1000);
    const int64_t n = 1000, entries = 2000;
    /* level twice (double-buffered), weight, work (scratch is allocated too), edge, scalars. */
    const int64_t want = 2 * n * 1 + n * 8 + n * 8 + entries * 4 + (int64_t)sizeof(clock_scalars);
    assert_int_equal(agora_sdk_bytes(g), want);
    assert_int_equal(agora_sdk_enable(g, F_EXTRA, NULL), 0);
    assert_int_equal(agora_sdk_bytes(g), want + (3 * 100 + 1) * 8);
    agora_world_destroy(g);
    agora_world *grid = grid_world(40, 25);
    assert_int_equal(agora_sdk_bytes(grid), 2 * n + n * 8 + n * 8 + (int64_t)sizeof(clock_scalars));
    agora_world_destroy(grid);
    /* A model without a declaration holds nothing in the SDK. */
    agora_space *sp = NULL;
    assert_int_equal(agora_space_grid_create(10, 10, 1, AGORA_MOORE, &sp, NULL), 0);
    agora_world *sir = world_on(sp, agora_model_find("sir"));
    assert_true(agora_sdk_bytes(sir) > 0); /* sir is an SDK model */
    agora_world_destroy(sir);
}

static void a_declaration_that_does_not_match_the_public_fields_is_refused(void **state)
{
    (void)state;
    static const agora_field_spec wrong[] = {{"weight", AGORA_DTYPE_F64, ""}, {"level", AGORA_DTYPE_U8, ""}, {0}};
    agora_model m = clock_model;
    m.fields = wrong;
    agora_space *sp = NULL;
    assert_int_equal(agora_space_grid_create(5, 5, 1, AGORA_MOORE, &sp, NULL), 0);
    agora_world_config cfg = {.model = &m, .space = sp, .seed = 1, .threads = 1};
    agora_world *w = NULL;
    agora_error err;
    assert_int_equal(agora_world_create(&cfg, &w, &err), AGORA_EINTERNAL);
    assert_null(w);
    assert_non_null(strstr(err.msg, "level"));
    /* Without the SDK hooks the kernel refuses copies and writes, as for any model. */
    agora_model bare = clock_model;
    bare.copy = NULL;
    bare.set_field = NULL;
    assert_int_equal(agora_space_grid_create(5, 5, 1, AGORA_MOORE, &sp, NULL), 0);
    w = world_on(sp, &bare);
    agora_world *k = w;
    assert_int_equal(agora_world_copy(w, &k, &err), AGORA_EUNSUPPORTED);
    assert_null(k);
    const int64_t id = 0;
    const double v = 1;
    assert_int_equal(agora_world_set_field(w, 0, &id, 1, &v, &err), AGORA_EUNSUPPORTED);
    agora_world_destroy(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(buffers_are_allocated_zeroed_aligned_and_swapped_after_each_step),
        cmocka_unit_test(copy_is_independent_and_steps_bit_identical),
        cmocka_unit_test(save_and_load_round_trip_fields_scalars_and_on_demand_arrays),
        cmocka_unit_test(set_field_checks_the_domain_then_the_model_and_hands_the_hook_the_old_values),
        cmocka_unit_test(memory_is_the_declared_arrays_and_the_scalars),
        cmocka_unit_test(a_declaration_that_does_not_match_the_public_fields_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
