/* Tests for the world's deep copy and field writes (src/core/world.c and each model's copy and set_field).
 *
 * Copies: for every model, rule and space kind, a world is stepped and given actions (so that lockdowns, rewired
 * graphs, stubbornness, policies and the per-step action counters are all in play), copied, and then the original
 * and the copy get the same actions, field writes and 20 steps: every metric and every byte of every field must stay
 * identical, also when the two run on different thread counts. The copy must be independent: stepping, acting on and
 * destroying the original leaves it untouched (ASan turns shared memory into a failure as well).
 *
 * Field writes: the counts, tallies and equilibria a model derives from a field are checked against brute force
 * recomputed from the fields, and the steps after a write against the transition rule (SIR with beta = 1 and
 * gamma = 0 is deterministic: exactly the susceptibles with an infected neighbour fall ill). Refused writes must leave
 * the world unchanged: the metrics, the bytes of every field and the next steps (compared with a copy taken before). */
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

enum { S = 0, I = 1, R = 2 };

/* ---- helpers ----------------------------------------------------------------------------------------------------- */

static int metric(const agora_world *w, const char *name)
{
    int i = agora_model_metric_index(agora_world_model(w), name);
    if (i < 0)
        fail_msg("no metric %s", name);
    return i;
}

static int field_index(const agora_world *w, const char *name)
{
    int i = agora_model_field_index(agora_world_model(w), name);
    if (i < 0)
        fail_msg("no field %s", name);
    return i;
}

static double metric_of(const agora_world *w, const char *name)
{
    double m[64];
    assert_true(agora_model_n_metrics(agora_world_model(w)) <= 64);
    agora_world_measure(w, m);
    return m[metric(w, name)];
}

static const void *field_of(const agora_world *w, const char *name)
{
    const void *p = agora_world_field(w, field_index(w, name), NULL);
    assert_non_null(p);
    return p;
}

static void apply_text(agora_world *w, const char *text)
{
    json_error_t jerr;
    json_t *a = json_loads(text, 0, &jerr);
    if (!a)
        fail_msg("bad JSON in the test: %s", text);
    agora_error err;
    int rc = agora_world_apply(w, a, &err);
    json_decref(a);
    if (rc != 0)
        fail_msg("action %s: %s", text, err.msg);
}

static agora_world *copy_of(const agora_world *w)
{
    agora_world *c = NULL;
    agora_error err;
    int rc = agora_world_copy(w, &c, &err);
    if (rc != 0)
        fail_msg("copy: %s", err.msg);
    assert_non_null(c);
    return c;
}

/* Everything a world shows: its time, every metric and the bytes of every field. */
typedef struct snap {
    int64_t t;
    int nm, nf;
    double m[64];
    void *f[8];
    size_t size[8];
} snap;

static void snap_take(const agora_world *w, snap *s)
{
    const agora_model *m = agora_world_model(w);
    s->t = agora_world_time(w);
    s->nm = agora_model_n_metrics(m);
    s->nf = agora_model_n_fields(m);
    assert_true(s->nm <= 64 && s->nf <= 8);
    agora_world_measure(w, s->m);
    for (int i = 0; i < s->nf; i++) {
        agora_dtype type;
        const void *p = agora_world_field(w, i, &type);
        assert_non_null(p);
        s->size[i] = (size_t)agora_world_n(w) * (size_t)agora_dtype_size(type);
        s->f[i] = malloc(s->size[i]);
        assert_non_null(s->f[i]);
        memcpy(s->f[i], p, s->size[i]);
    }
}

static void snap_free(snap *s)
{
    for (int i = 0; i < s->nf; i++)
        free(s->f[i]);
}

/* 0 if a and b are identical to the bit; else fills `why`. NaN metrics compare by their bits, which a deterministic
 * computation reproduces. */
static int snap_diff(const snap *a, const snap *b, const agora_model *m, char *why, size_t size)
{
    if (a->t != b->t) {
        snprintf(why, size, "time %lld vs %lld", (long long)a->t, (long long)b->t);
        return 1;
    }
    for (int i = 0; i < a->nm; i++)
        if (memcmp(&a->m[i], &b->m[i], sizeof a->m[i]) != 0) {
            snprintf(why, size, "metric %s: %.17g vs %.17g", m->metrics[i].name, a->m[i], b->m[i]);
            return 1;
        }
    for (int i = 0; i < a->nf; i++)
        if (a->size[i] != b->size[i] || memcmp(a->f[i], b->f[i], a->size[i]) != 0) {
            snprintf(why, size, "field %s differs", m->fields[i].name);
            return 1;
        }
    return 0;
}

static json_t *observation(const agora_world *w)
{
    json_t *o = NULL;
    agora_error err;
    if (agora_world_model(w)->observe(w, "observer", &o, &err) != 0)
        fail_msg("observe: %s", err.msg);
    assert_non_null(o);
    return o;
}

/* Identical metrics, fields and observations (which also show counters no metric has, such as rewired edges and the
 * steps a lockdown has left). */
static void assert_same(const agora_world *a, const agora_world *b, const char *label, int step)
{
    json_t *oa = observation(a), *ob = observation(b);
    if (!json_equal(oa, ob)) {
        char *ta = json_dumps(oa, JSON_SORT_KEYS | JSON_COMPACT), *tb = json_dumps(ob, JSON_SORT_KEYS | JSON_COMPACT);
        fail_msg("%s, step %d: observations differ:\n%s\n%s", label, step, ta, tb);
    }
    json_decref(oa);
    json_decref(ob);
    snap x, y;
    snap_take(a, &x);
    snap_take(b, &y);
    char why[256];
    int d = snap_diff(&x, &y, agora_world_model(a), why, sizeof why);
    snap_free(&x);
    snap_free(&y);
    if (d)
        fail_msg("%s, step %d: %s", label, step, why);
}

static void assert_unchanged(const agora_world *w, const snap *before, const char *label)
{
    snap now;
    snap_take(w, &now);
    char why[256];
    int d = snap_diff(before, &now, agora_world_model(w), why, sizeof why);
    snap_free(&now);
    if (d)
        fail_msg("%s: the world changed: %s", label, why);
}

static void set_field_ok(agora_world *w, const char *field, const int64_t *ids, int64_t count, const double *values)
{
    agora_error err;
    int rc = agora_world_set_field(w, field_index(w, field), ids, count, values, &err);
    if (rc != 0)
        fail_msg("set_field %s: %s", field, err.msg);
}

/* ---- copies ------------------------------------------------------------------------------------------------------ */

/* A scenario, the actions given before the copy (at the step of the copy), the actions given to both worlds after it
 * (right after the copy, at the same step, and again every 7 steps), and one field write given to both at step 10. */
typedef struct copy_case {
    char label[96];
    char yaml[512];
    const char *before[4]; /* NULL-terminated */
    const char *after[4];
    const char *field;
    int64_t ids[3];
    double values[3];
} copy_case;

static const char *const opinion_spaces[][2] = {
    {"graph", "{kind: graph, generator: watts_strogatz, n: 3000, k: 6, p: 0.1}"},
    {"mixed", "{kind: mixed, n: 3000}"},
    {"grid", "{kind: grid, width: 60, height: 50, torus: true, neighborhood: moore}"},
};
static const char *const opinion_rules[] = {"degroot", "deffuant", "hk", "voter"};

/* Fills cases[] and returns their number. */
static int copy_cases(copy_case *cases)
{
    int n = 0;
    copy_case *c;
    /* SIR on a grid: all three actions, the lockdown still running after the copy. After the copy only actions that
     * do not recount a graph's tallies, so that the copy's own tallies are what its first steps read. */
    c = &cases[n++];
    *c = (copy_case){.before = {"{\"action\":\"lockdown\",\"strength\":0.5,\"steps\":12}",
                                "{\"action\":\"seed_infection\",\"count\":15}"},
                     .after = {"{\"action\":\"vaccinate\",\"fraction\":0.05}",
                               "{\"action\":\"lockdown\",\"strength\":0.3,\"steps\":5}"},
                     .field = "state",
                     .ids = {3, 50, 700},
                     .values = {1, 2, 0}};
    snprintf(c->label, sizeof c->label, "sir grid");
    snprintf(c->yaml, sizeof c->yaml,
             "model: sir\nspace: {kind: grid, width: 97, height: 61, torus: true, neighborhood: moore}\n"
             "params: {beta: 0.15, gamma: 0.08, initial_infected: 20}\nseed: 3\n");
    c = &cases[n++];
    *c = cases[0];
    snprintf(c->label, sizeof c->label, "sir bounded grid");
    snprintf(c->yaml, sizeof c->yaml,
             "model: sir\nspace: {kind: grid, width: 80, height: 45, torus: false, neighborhood: von_neumann}\n"
             "params: {beta: 0.3, gamma: 0.05, initial_infected: 0.01}\nseed: 4\n");
    /* SIR on a graph: the neighbour tallies are state too. */
    c = &cases[n++];
    *c = cases[0];
    snprintf(c->label, sizeof c->label, "sir graph");
    snprintf(c->yaml, sizeof c->yaml,
             "model: sir\nspace: {kind: graph, generator: watts_strogatz, n: 6000, k: 6, p: 0.1}\n"
             "params: {beta: 0.2, gamma: 0.08, initial_infected: 20}\nseed: 5\n");
    /* Opinion: every rule on every space; a rewire before the copy gives the original its own CSR. */
    for (int s = 0; s < 3; s++)
        for (int r = 0; r < 4; r++) {
            c = &cases[n++];
            *c = (copy_case){.before = {"{\"action\":\"set_stubbornness\",\"agents\":[1,5,9,200],\"value\":0.5}",
                                        "{\"action\":\"broadcast\",\"opinion\":1,\"reach\":0.2,\"strength\":0.6}"},
                             .after = {"{\"action\":\"broadcast\",\"opinion\":1,\"reach\":0.1,\"strength\":0.5}"},
                             .field = "opinion",
                             .ids = {2, 40, 999},
                             .values = {1, 0, 1}};
            if (s == 0) {
                c->before[2] = "{\"action\":\"rewire\",\"fraction\":0.2}";
                c->after[1] = "{\"action\":\"rewire\",\"fraction\":0.05}";
            }
            snprintf(c->label, sizeof c->label, "opinion %s %s", opinion_rules[r], opinion_spaces[s][0]);
            snprintf(c->yaml, sizeof c->yaml,
                     "model: opinion\nspace: %s\nparams: {rule: %s, epsilon: 0.3, stubbornness: 0.1}\nseed: 6\n",
                     opinion_spaces[s][1], opinion_rules[r]);
        }
    /* The market under every policy: tax, ceiling and subsidies move the equilibrium and clamp quotes. */
    c = &cases[n++];
    *c = (copy_case){.before = {"{\"action\":\"set_tax\",\"rate\":0.1}",
                                "{\"action\":\"subsidy\",\"amount\":4,\"side\":\"buyers\"}"},
                     .after = {"{\"action\":\"price_ceiling\",\"price\":70}",
                               "{\"action\":\"subsidy\",\"amount\":2,\"side\":\"sellers\"}"},
                     .field = "value",
                     .ids = {0, 1, 2999},
                     .values = {140, 60, 25}};
    snprintf(c->label, sizeof c->label, "market mixed");
    snprintf(c->yaml, sizeof c->yaml,
             "model: market\nspace: {kind: mixed, n: 3000}\nparams: {buyers: 0.45, rounds_per_day: 6}\nseed: 7\n");
    return n;
}

static void apply_all(agora_world *w, const char *const *actions)
{
    for (int a = 0; a < 4 && actions[a]; a++)
        apply_text(w, actions[a]);
}

/* A world saved and loaded into a fresh world of the same configuration: what a checkpoint and a resume do. */
static agora_world *reloaded(const agora_world *w, const char *yaml, int threads)
{
    test_mem_state m = {0};
    agora_state st = test_mem_state_of(&m);
    agora_error err;
    if (agora_world_save(w, &st, &err) != 0)
        fail_msg("save: %s", err.msg);
    agora_world *k = test_world(yaml, threads);
    if (agora_world_load(k, &st, &err) != 0)
        fail_msg("load: %s: %s", err.where, err.msg);
    test_mem_free(&m);
    return k;
}

/* The copy runs at copy_threads, the original at src_threads; via_state: the "copy" is saved and loaded instead. */
static void check_copy_steps_like_original_via(const copy_case *c, int src_threads, int copy_threads, int via_state)
{
    char label[160];
    snprintf(label, sizeof label, "%s (threads %d -> %d%s)", c->label, src_threads, copy_threads,
             via_state ? ", saved and loaded" : "");
    agora_world *w = test_world(c->yaml, src_threads);
    for (int t = 0; t < 3; t++)
        agora_world_step(w);
    apply_all(w, c->before);
    agora_world *k = via_state ? reloaded(w, c->yaml, copy_threads) : copy_of(w);
    agora_world_set_threads(k, copy_threads);
    assert_int_equal(agora_world_time(k), agora_world_time(w));
    assert_int_equal(agora_world_seed(k), agora_world_seed(w));
    assert_int_equal(agora_world_n(k), agora_world_n(w));
    assert_ptr_equal(agora_world_model(k), agora_world_model(w));
    assert_true(json_equal((json_t *)agora_world_params(k), (json_t *)agora_world_params(w)));
    assert_ptr_not_equal(agora_world_space(k), agora_world_space(w));
    assert_same(w, k, label, 0);
    snap start;
    snap_take(w, &start);
    for (int t = 0; t < 20; t++) {
        if (t % 7 == 0) { /* t = 0: still at the step of the copy, whose action counter must have come over */
            apply_all(w, c->after);
            apply_all(k, c->after);
        }
        if (t == 10) {
            set_field_ok(w, c->field, c->ids, 3, c->values);
            set_field_ok(k, c->field, c->ids, 3, c->values);
        }
        agora_world_step(w);
        agora_world_step(k);
        assert_same(w, k, label, t + 1);
    }
    /* The comparison means something only if the worlds moved. */
    snap end;
    snap_take(w, &end);
    char why[256];
    if (!snap_diff(&start, &end, agora_world_model(w), why, sizeof why))
        fail_msg("%s: 20 steps changed nothing", label);
    snap_free(&start);
    snap_free(&end);
    agora_world_destroy(w);
    agora_world_destroy(k);
}

static void check_copy_steps_like_original(const copy_case *c, int src_threads, int copy_threads)
{
    check_copy_steps_like_original_via(c, src_threads, copy_threads, 0);
}

/* Every model on every space, after actions and a rewire: a world saved and loaded steps, measures, observes and
 * acts bit-identically to the original, also at another thread count. */
static void saved_world_loads_and_steps_bit_identical(void **state)
{
    (void)state;
    copy_case *cases = calloc(32, sizeof *cases);
    const int n = copy_cases(cases);
    for (int i = 0; i < n; i++) {
        check_copy_steps_like_original_via(&cases[i], 2, 2, 1);
        check_copy_steps_like_original_via(&cases[i], 1, 3, 1);
    }
    free(cases);
}

/* A saved state does not load into a world of another size, and a model without the hooks says so. */
static void saved_state_refuses_another_world(void **state)
{
    (void)state;
    test_mem_state m = {0};
    agora_state st = test_mem_state_of(&m);
    agora_error err;
    agora_world *w = test_world("model: sir\nspace: {kind: grid, width: 30, height: 20}\n", 1);
    assert_int_equal(agora_world_save(w, &st, &err), 0);
    agora_world *other = test_world("model: sir\nspace: {kind: grid, width: 31, height: 20}\n", 1);
    assert_int_equal(agora_world_load(other, &st, &err), AGORA_EINVAL);
    assert_non_null(strstr(err.msg, "agents"));
    agora_world *opinion = test_world("model: opinion\nspace: {kind: grid, width: 30, height: 20}\n", 1);
    assert_int_equal(agora_world_load(opinion, &st, &err), AGORA_EINVAL); /* no part "opinion" */
    test_mem_free(&m);
    agora_world_destroy(w);
    agora_world_destroy(other);
    agora_world_destroy(opinion);
}

static void copy_steps_bit_identical_to_the_original(void **state)
{
    (void)state;
    copy_case *cases = calloc(32, sizeof *cases);
    const int n = copy_cases(cases);
    for (int i = 0; i < n; i++)
        check_copy_steps_like_original(&cases[i], 2, 2);
    free(cases);
}

static void copy_stays_identical_at_other_thread_counts(void **state)
{
    (void)state;
    copy_case *cases = calloc(32, sizeof *cases);
    const int n = copy_cases(cases);
    for (int i = 0; i < n; i++) {
        check_copy_steps_like_original(&cases[i], 1, 4);
        check_copy_steps_like_original(&cases[i], 3, 1);
    }
    free(cases);
}

/* Two copies of one world; the original is stepped, acted on, written to and destroyed. The first copy must not have
 * changed meanwhile, and must then step exactly like the second. */
static void copy_is_independent_of_the_original(void **state)
{
    (void)state;
    copy_case *cases = calloc(32, sizeof *cases);
    const int n = copy_cases(cases);
    for (int i = 0; i < n; i++) {
        const copy_case *c = &cases[i];
        agora_world *w = test_world(c->yaml, 2);
        for (int t = 0; t < 3; t++)
            agora_world_step(w);
        apply_all(w, c->before);
        agora_world *k1 = copy_of(w), *k2 = copy_of(w);
        const agora_space *sw = agora_world_space(w), *s1 = agora_world_space(k1);
        if (sw->kind == AGORA_SPACE_GRAPH) {
            assert_ptr_not_equal(s1->graph.offsets, sw->graph.offsets);
            assert_ptr_not_equal(s1->graph.neighbors, sw->graph.neighbors);
        }
        for (int f = 0; f < agora_model_n_fields(agora_world_model(w)); f++)
            assert_ptr_not_equal(agora_world_field(k1, f, NULL), agora_world_field(w, f, NULL));
        snap before;
        snap_take(k1, &before);
        for (int t = 0; t < 5; t++) {
            apply_all(w, c->after);
            set_field_ok(w, c->field, c->ids, 3, c->values);
            agora_world_step(w);
        }
        apply_all(w, c->after); /* a rewire here frees the original's CSR */
        assert_unchanged(k1, &before, c->label);
        agora_world_destroy(w);
        for (int t = 0; t < 10; t++) {
            if (t == 0) {
                apply_all(k1, c->after);
                apply_all(k2, c->after);
            }
            agora_world_step(k1);
            agora_world_step(k2);
            assert_same(k1, k2, c->label, t + 1);
        }
        snap after;
        snap_take(k1, &after);
        char why[256];
        if (!snap_diff(&before, &after, agora_world_model(k1), why, sizeof why))
            fail_msg("%s: the copy did not move after the original was destroyed", c->label);
        snap_free(&before);
        snap_free(&after);
        agora_world_destroy(k1);
        agora_world_destroy(k2);
    }
    free(cases);
}

static void log_nothing(void *ud, agora_log_level level, const char *msg)
{
    (void)ud;
    (void)level;
    (void)msg;
}

static void copy_keeps_seed_threads_logger_and_time(void **state)
{
    (void)state;
    agora_space *space = NULL;
    assert_int_equal(agora_space_grid_create(30, 20, 1, AGORA_MOORE, &space, NULL), 0);
    int ud = 0;
    agora_logger lg = {.fn = log_nothing, .ud = &ud, .level = AGORA_LOG_DEBUG};
    agora_world_config cfg = {
        .model = agora_model_find("sir"), .space = space, .seed = 99, .threads = 3, .logger = &lg};
    agora_world *w = NULL;
    assert_int_equal(agora_world_create(&cfg, &w, NULL), 0);
    for (int t = 0; t < 4; t++)
        agora_world_step(w);
    agora_world *k = copy_of(w);
    assert_int_equal(agora_world_time(k), 4);
    assert_int_equal(agora_world_seed(k), 99);
    assert_int_equal(agora_world_threads(k), 3);
    assert_true(agora_world_key(k) == agora_world_key(w));
    assert_ptr_equal(agora_world_logger(k)->fn, log_nothing);
    assert_ptr_equal(agora_world_logger(k)->ud, &ud);
    assert_int_equal(agora_world_logger(k)->level, AGORA_LOG_DEBUG);
    agora_world_destroy(w);
    agora_world_destroy(k);
}

/* A model without copy and set_field: the kernel refuses both and hands out nothing. */
static void copy_and_set_field_unsupported_without_the_model_hooks(void **state)
{
    (void)state;
    agora_model bare = *agora_model_find("sir");
    bare.copy = NULL;
    bare.set_field = NULL;
    agora_space *space = NULL;
    assert_int_equal(agora_space_grid_create(10, 10, 1, AGORA_MOORE, &space, NULL), 0);
    agora_world_config cfg = {.model = &bare, .space = space, .seed = 1, .threads = 1};
    agora_world *w = NULL;
    assert_int_equal(agora_world_create(&cfg, &w, NULL), 0);
    agora_world *k = w; /* must be reset to NULL */
    agora_error err;
    assert_int_equal(agora_world_copy(w, &k, &err), AGORA_EUNSUPPORTED);
    assert_null(k);
    const int64_t id = 0;
    const double v = 1;
    assert_int_equal(agora_world_set_field(w, 0, &id, 1, &v, &err), AGORA_EUNSUPPORTED);
    assert_string_equal(err.where, "field");
    assert_int_equal(((const uint8_t *)agora_world_field(w, 0, NULL))[0], S);
    agora_world_destroy(w);
}

/* ---- SIR field writes -------------------------------------------------------------------------------------------- */

static const char *const sir_spaces[] = {
    "{kind: grid, width: 70, height: 50, torus: true, neighborhood: moore}",
    "{kind: grid, width: 64, height: 40, torus: false, neighborhood: von_neumann}",
    "{kind: graph, generator: watts_strogatz, n: 4000, k: 6, p: 0.1}",
    "{kind: graph, generator: erdos_renyi, n: 3000, mean_degree: 3}",
};
enum { N_SIR_SPACES = 4 };

static agora_world *sir_world(const char *space, const char *params, int threads)
{
    char yaml[512];
    snprintf(yaml, sizeof yaml, "model: sir\nspace: %s\nparams: %s\nseed: 11\n", space, params);
    return test_world(yaml, threads);
}

static void sir_counts(const agora_world *w, int64_t count[3])
{
    const uint8_t *st = field_of(w, "state");
    count[0] = count[1] = count[2] = 0;
    for (int64_t i = 0; i < agora_world_n(w); i++) {
        assert_true(st[i] <= 2);
        count[st[i]]++;
    }
}

/* The first `want` agents in state `s`, spread out: every `stride`-th match. */
static int64_t find_agents(const agora_world *w, uint8_t s, int64_t want, int64_t stride, int64_t *out)
{
    const uint8_t *st = field_of(w, "state");
    int64_t got = 0, seen = 0;
    for (int64_t i = 0; i < agora_world_n(w) && got < want; i++)
        if (st[i] == s && seen++ % stride == 0)
            out[got++] = i;
    return got;
}

static void sir_set_state_moves_counts_by_exactly_the_agents_written(void **state)
{
    (void)state;
    for (int s = 0; s < N_SIR_SPACES; s++) {
        agora_world *w = sir_world(sir_spaces[s], "{beta: 0.2, gamma: 0.1, initial_infected: 20}", 2);
        for (int t = 0; t < 8; t++)
            agora_world_step(w);
        apply_text(w, "{\"action\":\"vaccinate\",\"fraction\":0.05}");
        const int64_t n = agora_world_n(w);
        double m0[32], m1[32];
        agora_world_measure(w, m0);
        uint8_t *before = malloc((size_t)n);
        memcpy(before, field_of(w, "state"), (size_t)n);

        /* 5 susceptibles and 3 recovered fall ill: 8 new cases. */
        int64_t ids[8];
        assert_int_equal(find_agents(w, S, 5, 37, ids), 5);
        assert_int_equal(find_agents(w, R, 3, 5, ids + 5), 3);
        const double ones[8] = {1, 1, 1, 1, 1, 1, 1, 1};
        set_field_ok(w, "state", ids, 8, ones);
        agora_world_measure(w, m1);
        assert_true(m1[metric(w, "I")] == m0[metric(w, "I")] + 8);
        assert_true(m1[metric(w, "S")] == m0[metric(w, "S")] - 5);
        assert_true(m1[metric(w, "R")] == m0[metric(w, "R")] - 3);
        assert_true(m1[metric(w, "cumulative_infected")] == m0[metric(w, "cumulative_infected")] + 8);
        assert_true(m1[metric(w, "attack_rate")] == m1[metric(w, "cumulative_infected")] / (double)n);
        assert_true(m1[metric(w, "I_frac")] == m1[metric(w, "I")] / (double)n);
        assert_true(m1[metric(w, "new_infections")] == m0[metric(w, "new_infections")]);
        assert_true(m1[metric(w, "vaccinated")] == m0[metric(w, "vaccinated")]);
        const uint8_t *now = field_of(w, "state");
        for (int q = 0; q < 8; q++) {
            assert_int_equal(now[ids[q]], I);
            before[ids[q]] = I;
        }
        assert_memory_equal(before, now, (size_t)n); /* nobody else moved */
        int64_t c[3];
        sir_counts(w, c);
        assert_true(m1[metric(w, "S")] == (double)c[S] && m1[metric(w, "I")] == (double)c[I] &&
                    m1[metric(w, "R")] == (double)c[R]);

        /* Out of I: to S and R, no new cases; an agent written twice passes through I (one case) and ends in R. */
        int64_t out[5];
        assert_int_equal(find_agents(w, I, 4, 1, out), 4);
        assert_int_equal(find_agents(w, S, 1, 101, out + 4), 1);
        const int64_t ids2[6] = {out[0], out[1], out[2], out[3], out[4], out[4]};
        const double vals2[6] = {0, 2, 0, 2, 1, 2};
        set_field_ok(w, "state", ids2, 6, vals2);
        double m2[32];
        agora_world_measure(w, m2);
        assert_true(m2[metric(w, "I")] == m1[metric(w, "I")] - 4);
        assert_true(m2[metric(w, "S")] == m1[metric(w, "S")] + 2 - 1);
        assert_true(m2[metric(w, "R")] == m1[metric(w, "R")] + 3);
        assert_true(m2[metric(w, "cumulative_infected")] == m1[metric(w, "cumulative_infected")] + 1);
        now = field_of(w, "state");
        assert_int_equal(now[out[0]], S);
        assert_int_equal(now[out[1]], R);
        assert_int_equal(now[out[4]], R);
        sir_counts(w, c);
        assert_true(m2[metric(w, "S")] == (double)c[S] && m2[metric(w, "I")] == (double)c[I] &&
                    m2[metric(w, "R")] == (double)c[R]);

        /* Writing an agent's own state changes nothing. */
        agora_world_measure(w, m1);
        const double same = now[10];
        set_field_ok(w, "state", (const int64_t[]){10}, 1, &same);
        agora_world_measure(w, m2);
        assert_memory_equal(m1, m2, sizeof(double) * (size_t)agora_model_n_metrics(agora_world_model(w)));
        free(before);
        agora_world_destroy(w);
    }
}

/* With beta = 1 and gamma = 0 a step is deterministic: a susceptible falls ill iff it has an infected neighbour and
 * nothing else changes. Stale neighbour tallies (a graph's k) would infect the wrong agents. */
static void check_deterministic_steps(agora_world *w, int steps, const char *label)
{
    const int64_t n = agora_world_n(w);
    const agora_space *sp = agora_world_space(w);
    uint8_t *expect = malloc((size_t)n);
    for (int t = 0; t < steps; t++) {
        const uint8_t *cur = field_of(w, "state");
        int64_t infections = 0;
        for (int64_t i = 0; i < n; i++) {
            expect[i] = cur[i] == S && test_sir_infected_neighbours(sp, cur, i) > 0 ? I : cur[i];
            infections += expect[i] != cur[i];
        }
        agora_world_step(w);
        const uint8_t *got = field_of(w, "state");
        for (int64_t i = 0; i < n; i++)
            if (got[i] != expect[i])
                fail_msg("%s, step %d: agent %lld is %d, expected %d", label, t, (long long)i, got[i], expect[i]);
        assert_true(metric_of(w, "new_infections") == (double)infections);
        int64_t c[3];
        sir_counts(w, c);
        assert_true(metric_of(w, "I") == (double)c[I] && metric_of(w, "S") == (double)c[S]);
    }
    free(expect);
}

static void sir_set_state_keeps_neighbour_tallies_for_the_next_steps(void **state)
{
    (void)state;
    for (int s = 0; s < N_SIR_SPACES; s++)
        for (int threads = 1; threads <= 3; threads += 2) {
            agora_world *w = sir_world(sir_spaces[s], "{beta: 1, gamma: 0, initial_infected: 0}", threads);
            const int64_t n = agora_world_n(w);
            const agora_space *sp = agora_world_space(w);
            assert_true(metric_of(w, "I") == 0);
            /* An agent with neighbours infected and cured again before any step: nobody may catch it from a stale
             * tally. */
            int64_t a = 7;
            while (sp->kind == AGORA_SPACE_GRAPH && sp->graph.offsets[a + 1] == sp->graph.offsets[a])
                a++;
            const double in = I, cured = R, back = S;
            set_field_ok(w, "state", &a, 1, &in);
            set_field_ok(w, "state", &a, 1, &cured);
            set_field_ok(w, "state", &a, 1, &back);
            assert_true(metric_of(w, "I") == 0);
            assert_true(metric_of(w, "cumulative_infected") == 1);
            check_deterministic_steps(w, 1, sir_spaces[s]);
            assert_true(metric_of(w, "I") == 0);
            /* A few agents infected one by one (the tallies are updated agent by agent). */
            const int64_t ids[3] = {7, n / 2, n - 1};
            const double ones[3] = {1, 1, 1};
            set_field_ok(w, "state", ids, 3, ones);
            assert_true(metric_of(w, "I") == 3);
            assert_true(metric_of(w, "cumulative_infected") == 4);
            check_deterministic_steps(w, 2, sir_spaces[s]);
            /* Infected agents leave I again: to R and to S; their neighbours must lose them. */
            int64_t out[4];
            const int64_t got = find_agents(w, I, 4, 3, out);
            assert_true(got >= 3);
            const double vals[4] = {2, 0, 2, 0};
            set_field_ok(w, "state", out, got, vals);
            check_deterministic_steps(w, 2, sir_spaces[s]);
            /* A write of every agent (the tallies are recounted): all infected recover, every 97th agent falls ill. */
            int64_t *all = malloc((size_t)n * sizeof *all);
            double *v = malloc((size_t)n * sizeof *v);
            const uint8_t *cur = field_of(w, "state");
            for (int64_t i = 0; i < n; i++) {
                all[i] = i;
                v[i] = i % 97 == 0 ? I : cur[i] == I ? R : cur[i];
            }
            set_field_ok(w, "state", all, n, v);
            check_deterministic_steps(w, 3, sir_spaces[s]);
            free(all);
            free(v);
            agora_world_destroy(w);
        }
}

/* Refused writes: a valid value first, then the bad one, so a write that is not all-or-nothing shows. The world's
 * metrics and fields must be unchanged, and it must then step exactly like a copy taken before. */
static void sir_bad_writes_are_refused_and_leave_the_world_unchanged(void **state)
{
    (void)state;
    for (int s = 0; s < N_SIR_SPACES; s++) {
        agora_world *w = sir_world(sir_spaces[s], "{beta: 0.2, gamma: 0.1, initial_infected: 20}", 2);
        for (int t = 0; t < 5; t++)
            agora_world_step(w);
        const int64_t n = agora_world_n(w);
        agora_world *ref = copy_of(w);
        snap before;
        snap_take(w, &before);
        int64_t sus;
        assert_int_equal(find_agents(w, S, 1, 1, &sus), 1);
        const double bad[] = {3, 0.5, -1, NAN, INFINITY, 1e300, -0.5};
        agora_error err;
        for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
            const int64_t ids[2] = {sus, (sus + 1) % n};
            const double vals[2] = {1, bad[b]};
            memset(&err, 0, sizeof err);
            assert_int_equal(agora_world_set_field(w, 0, ids, 2, vals, &err), AGORA_EINVAL);
            assert_string_equal(err.where, "values");
            assert_non_null(strstr(err.msg, "values[1]"));
            assert_unchanged(w, &before, "sir bad value");
        }
        const int64_t bad_ids[] = {-1, n, n + 1000, INT64_MIN};
        for (size_t b = 0; b < sizeof bad_ids / sizeof bad_ids[0]; b++) {
            const int64_t ids[2] = {sus, bad_ids[b]};
            const double vals[2] = {1, 1};
            assert_int_equal(agora_world_set_field(w, 0, ids, 2, vals, &err), AGORA_EINVAL);
            assert_string_equal(err.where, "ids");
            assert_unchanged(w, &before, "sir bad id");
        }
        const double one = 1;
        assert_int_equal(agora_world_set_field(w, 1, &sus, 1, &one, &err), AGORA_EINVAL);
        assert_string_equal(err.where, "field");
        assert_int_equal(agora_world_set_field(w, -1, &sus, 1, &one, &err), AGORA_EINVAL);
        assert_string_equal(err.where, "field");
        assert_int_equal(agora_world_set_field(w, 0, &sus, -1, &one, &err), AGORA_EINVAL);
        assert_int_equal(agora_world_set_field(w, 0, NULL, 1, &one, &err), AGORA_EINVAL);
        assert_int_equal(agora_world_set_field(w, 0, &sus, 1, NULL, &err), AGORA_EINVAL);
        assert_int_equal(agora_world_set_field(w, 0, NULL, 0, NULL, &err), 0); /* nothing to write */
        assert_unchanged(w, &before, "sir bad call");
        for (int t = 0; t < 10; t++) {
            agora_world_step(w);
            agora_world_step(ref);
            assert_same(w, ref, sir_spaces[s], t + 1);
        }
        snap_free(&before);
        agora_world_destroy(w);
        agora_world_destroy(ref);
    }
}

/* ---- opinion field writes ---------------------------------------------------------------------------------------- */

static agora_world *opinion_world(const char *space, const char *params, int threads)
{
    char yaml[512];
    snprintf(yaml, sizeof yaml, "model: opinion\nspace: %s\nparams: %s\nseed: 12\n", space, params);
    return test_world(yaml, threads);
}

static double mean_of(const double *x, int64_t n)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += x[i];
    return s / (double)n;
}

static void opinion_set_moves_opinions_and_the_next_step_reads_them(void **state)
{
    (void)state;
    /* DeGroot on a graph, no stubbornness: x_j(t+1) = (1 - rate) x_j + rate * mean of the neighbours' x. */
    agora_world *w = opinion_world("{kind: graph, generator: watts_strogatz, n: 2000, k: 6, p: 0.1}",
                                   "{rule: degroot, rate: 0.3}", 2);
    for (int t = 0; t < 3; t++)
        agora_world_step(w);
    const int64_t n = agora_world_n(w);
    double *before = malloc((size_t)n * sizeof *before);
    memcpy(before, field_of(w, "opinion"), (size_t)n * sizeof *before);
    const int64_t ids[3] = {10, 20, 30};
    const double vals[3] = {0, 1, 0.25};
    set_field_ok(w, "opinion", ids, 3, vals);
    const double *x = field_of(w, "opinion");
    for (int q = 0; q < 3; q++) {
        assert_true(x[ids[q]] == vals[q]);
        before[ids[q]] = vals[q];
    }
    assert_memory_equal(before, x, (size_t)n * sizeof *x);
    /* The mean is a block sum in the model, a serial sum here: equal to rounding (n ulps of 1 at most). */
    assert_true(fabs(metric_of(w, "mean") - mean_of(x, n)) < 1e-12);
    const agora_space *sp = agora_world_space(w);
    agora_world_step(w);
    x = field_of(w, "opinion");
    for (int64_t e = sp->graph.offsets[10]; e < sp->graph.offsets[11]; e++) {
        const int64_t j = sp->graph.neighbors[e];
        double s = 0;
        for (int64_t f = sp->graph.offsets[j]; f < sp->graph.offsets[j + 1]; f++)
            s += before[sp->graph.neighbors[f]];
        const double want = 0.7 * before[j] + 0.3 * (s / (double)(sp->graph.offsets[j + 1] - sp->graph.offsets[j]));
        if (fabs(x[j] - want) > 1e-12)
            fail_msg("agent %lld: %.17g after the step, expected %.17g", (long long)j, x[j], want);
    }
    free(before);
    agora_world_destroy(w);
}

/* A write moves the opinion, not the anchor: a fully stubborn agent returns to the anchor it had. */
static void opinion_set_keeps_anchors(void **state)
{
    (void)state;
    const char *const rules[] = {"degroot", "hk", "deffuant"};
    for (int r = 0; r < 3; r++) {
        char params[128];
        snprintf(params, sizeof params, "{rule: %s, epsilon: 0.3}", rules[r]);
        agora_world *w =
            opinion_world("{kind: grid, width: 40, height: 30, torus: true, neighborhood: moore}", params, 2);
        agora_world_step(w);
        apply_text(w, "{\"action\":\"set_stubbornness\",\"agents\":[50],\"value\":1}");
        const double anchor = ((const double *)field_of(w, "opinion"))[50];
        const int64_t id = 50;
        const double v = anchor < 0.5 ? 0.9 : 0.1;
        set_field_ok(w, "opinion", &id, 1, &v);
        assert_true(((const double *)field_of(w, "opinion"))[50] == v);
        agora_world_step(w);
        assert_true(((const double *)field_of(w, "opinion"))[50] == anchor);
        /* set_stubbornness afterwards re-anchors at the written opinion. */
        set_field_ok(w, "opinion", &id, 1, &v);
        apply_text(w, "{\"action\":\"set_stubbornness\",\"agents\":[50],\"value\":1}");
        agora_world_step(w);
        assert_true(((const double *)field_of(w, "opinion"))[50] == v);
        agora_world_destroy(w);
    }
}

static void opinion_bad_writes_are_refused_and_leave_the_world_unchanged(void **state)
{
    (void)state;
    const char *const rules[] = {"degroot", "voter"};
    for (int r = 0; r < 2; r++) {
        char params[64];
        snprintf(params, sizeof params, "{rule: %s}", rules[r]);
        agora_world *w = opinion_world("{kind: graph, generator: erdos_renyi, n: 2500, mean_degree: 5}", params, 2);
        for (int t = 0; t < 3; t++)
            agora_world_step(w);
        const int64_t n = agora_world_n(w);
        agora_world *ref = copy_of(w);
        snap before;
        snap_take(w, &before);
        const int voter = r == 1;
        /* 0.5 is an opinion of the continuous rules, not of the voter model. */
        const double bad_all[] = {-0.1, 1.1, NAN, INFINITY, -INFINITY, 2, 0.5};
        const int nbad = voter ? 7 : 6;
        agora_error err;
        for (int b = 0; b < nbad; b++) {
            const int64_t ids[2] = {3, 4};
            const double vals[2] = {1, bad_all[b]};
            assert_int_equal(agora_world_set_field(w, 0, ids, 2, vals, &err), AGORA_EINVAL);
            assert_string_equal(err.where, "values");
            assert_unchanged(w, &before, rules[r]);
        }
        const int64_t bad_ids[2] = {3, n};
        const double vals[2] = {1, 1};
        assert_int_equal(agora_world_set_field(w, 0, bad_ids, 2, vals, &err), AGORA_EINVAL);
        assert_string_equal(err.where, "ids");
        assert_int_equal(agora_world_set_field(w, 1, bad_ids, 1, vals, &err), AGORA_EINVAL);
        assert_string_equal(err.where, "field");
        assert_unchanged(w, &before, rules[r]);
        for (int t = 0; t < 5; t++) {
            agora_world_step(w);
            agora_world_step(ref);
            assert_same(w, ref, rules[r], t + 1);
        }
        /* What the rule allows is taken: 0 and 1 by both, 0.5 by the continuous rule. */
        const int64_t ids[3] = {3, 4, 5};
        const double ok[3] = {1, 0, voter ? 1 : 0.5};
        set_field_ok(w, "opinion", ids, 3, ok);
        const double *x = field_of(w, "opinion");
        for (int q = 0; q < 3; q++)
            assert_true(x[ids[q]] == ok[q]);
        assert_true(fabs(metric_of(w, "mean") - mean_of(x, n)) < 1e-12);
        snap_free(&before);
        agora_world_destroy(w);
        agora_world_destroy(ref);
    }
}

/* ---- market field writes ----------------------------------------------------------------------------------------- */

static agora_world *market_world(int threads)
{
    return test_world("model: market\nspace: {kind: mixed, n: 2000}\nparams: {buyers: 0.5}\nseed: 13\n", threads);
}

static int cmp_desc(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x < y) - (x > y);
}

static int cmp_asc(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The competitive equilibrium of the value field by brute force (the definition in models/market.c): q* the largest
 * k with demand(k) >= supply(k) by a linear scan, the midpoint of its price interval, and the undistorted maximum
 * surplus. */
static void market_ce(const agora_world *w, double *q, double *price, double *max_surplus)
{
    const int64_t n = agora_world_n(w), nb = n / 2, ns = n - nb;
    const double *value = field_of(w, "value");
    const double tax = metric_of(w, "tax_rate"), sb = metric_of(w, "subsidy_buyers");
    const double ss = metric_of(w, "subsidy_sellers");
    double *v = malloc((size_t)nb * sizeof *v), *c = malloc((size_t)ns * sizeof *c);
    memcpy(v, value, (size_t)nb * sizeof *v);
    memcpy(c, value + nb, (size_t)ns * sizeof *c);
    qsort(v, (size_t)nb, sizeof *v, cmp_desc);
    qsort(c, (size_t)ns, sizeof *c, cmp_asc);
    const int64_t m = nb < ns ? nb : ns;
    int64_t k = 0, k0 = 0;
    for (int64_t j = 1; j <= m; j++) {
        if ((v[j - 1] + sb) / (1 + tax) >= c[j - 1] - ss)
            k = j;
        if (v[j - 1] >= c[j - 1])
            k0 = j;
    }
    double lo = -INFINITY, hi = INFINITY;
    if (k > 0) {
        lo = c[k - 1] - ss;
        hi = (v[k - 1] + sb) / (1 + tax);
    }
    if (k < nb)
        lo = fmax(lo, (v[k] + sb) / (1 + tax));
    if (k < ns)
        hi = fmin(hi, c[k] - ss);
    if (k == 0 && lo > hi) {
        double t = lo;
        lo = hi;
        hi = t;
    }
    double surplus = 0;
    for (int64_t j = 0; j < k0; j++)
        surplus += v[j] - c[j];
    *q = (double)k;
    *price = 0.5 * (lo + hi);
    *max_surplus = surplus;
    free(v);
    free(c);
}

static void assert_close(double got, double want, const char *what)
{
    if (!(fabs(got - want) <= 1e-9 * fmax(1.0, fabs(want))))
        fail_msg("%s: %.17g, expected %.17g", what, got, want);
}

static void market_set_value_recomputes_curves_equilibrium_and_quote_means(void **state)
{
    (void)state;
    agora_world *w = market_world(2);
    apply_text(w, "{\"action\":\"set_tax\",\"rate\":0.1}");
    apply_text(w, "{\"action\":\"subsidy\",\"amount\":5,\"side\":\"buyers\"}");
    for (int t = 0; t < 4; t++)
        agora_world_step(w);
    const int64_t n = agora_world_n(w), nb = n / 2;
    double q0, p0, s0;
    market_ce(w, &q0, &p0, &s0);
    assert_true(metric_of(w, "ce_quantity") == q0); /* the brute force agrees before any write */
    assert_close(metric_of(w, "ce_price"), p0, "ce_price before");
    double m0[32];
    agora_world_measure(w, m0);
    double *quote0 = malloc((size_t)n * sizeof *quote0);
    memcpy(quote0, field_of(w, "quote"), (size_t)n * sizeof *quote0);
    uint8_t *traded0 = malloc((size_t)n);
    memcpy(traded0, field_of(w, "traded"), (size_t)n);
    double *price0 = malloc((size_t)n * sizeof *price0);
    memcpy(price0, field_of(w, "price"), (size_t)n * sizeof *price0);

    /* A rich buyer, a buyer who values the good at 0, a free seller, a dear one, and half the buyers moved up. */
    const int64_t few[4] = {0, 1, nb, n - 1};
    const double fewv[4] = {1000, 0, 0, 500};
    set_field_ok(w, "value", few, 4, fewv);
    const double *value = field_of(w, "value"), *quote = field_of(w, "quote");
    for (int q = 0; q < 4; q++)
        assert_true(value[few[q]] == fewv[q]);
    assert_true(quote[0] == quote0[0]);                      /* still inside its new limit */
    assert_true(quote[1] == fmin(quote0[1], 0 + 5));         /* pulled down to valuation + subsidy */
    assert_true(quote[nb] == quote0[nb]);                    /* an ask above a cost of 0 stays */
    assert_true(quote0[n - 1] < 500 && quote[n - 1] == 500); /* pulled up to the new cost */
    double q1, p1, s1;
    market_ce(w, &q1, &p1, &s1);
    assert_true(q1 != q0 || s1 != s0); /* the write moved the curves, so the check below can fail */
    assert_true(metric_of(w, "ce_quantity") == q1);
    assert_close(metric_of(w, "ce_price"), p1, "ce_price");
    assert_close(metric_of(w, "max_surplus"), s1, "max_surplus");
    double sb = 0, ss = 0;
    for (int64_t i = 0; i < n; i++)
        *(i < nb ? &sb : &ss) += quote[i];
    assert_close(metric_of(w, "bid_mean"), sb / (double)nb, "bid_mean");
    assert_close(metric_of(w, "ask_mean"), ss / (double)(n - nb), "ask_mean");
    /* The last day's trades happened: their record and measurements stay. */
    double m1[32];
    agora_world_measure(w, m1);
    const char *const kept[] = {"price_mean", "price_std", "volume", "surplus", "tax_revenue", "subsidy_cost"};
    for (int k = 0; k < 6; k++)
        assert_memory_equal(&m1[metric(w, kept[k])], &m0[metric(w, kept[k])], sizeof(double));
    assert_memory_equal(traded0, field_of(w, "traded"), (size_t)n);
    assert_memory_equal(price0, field_of(w, "price"), (size_t)n * sizeof *price0);

    /* Every buyer priced out (valuation 0, no subsidy; the free seller gets a cost again): no trade is possible, and
     * the next day has none. */
    apply_text(w, "{\"action\":\"subsidy\",\"amount\":0,\"side\":\"buyers\"}");
    int64_t *buyers = malloc((size_t)(nb + 1) * sizeof *buyers);
    double *zeros = calloc((size_t)nb + 1, sizeof *zeros);
    for (int64_t i = 0; i <= nb; i++)
        buyers[i] = i;
    zeros[nb] = 40;
    set_field_ok(w, "value", buyers, nb + 1, zeros);
    assert_true(metric_of(w, "ce_quantity") == 0);
    assert_true(metric_of(w, "max_surplus") == 0);
    assert_true(metric_of(w, "bid_mean") == 0);
    agora_world_step(w);
    assert_true(metric_of(w, "volume") == 0);
    free(buyers);
    free(zeros);
    free(quote0);
    free(traded0);
    free(price0);
    agora_world_destroy(w);
}

static void market_quote_writes_stay_inside_the_limits(void **state)
{
    (void)state;
    agora_world *w = market_world(2);
    for (int t = 0; t < 3; t++)
        agora_world_step(w);
    apply_text(w, "{\"action\":\"price_ceiling\",\"price\":60}");
    apply_text(w, "{\"action\":\"subsidy\",\"amount\":3,\"side\":\"sellers\"}");
    const int64_t n = agora_world_n(w), nb = n / 2;
    const double *value = field_of(w, "value");
    /* A seller below the ceiling and one whose limit (cost - 3) is above it. */
    int64_t cheap = -1, dear = -1;
    for (int64_t i = nb; i < n; i++) {
        if (cheap < 0 && value[i] - 3 < 50)
            cheap = i;
        if (dear < 0 && value[i] - 3 > 60)
            dear = i;
    }
    assert_true(cheap >= 0 && dear >= 0);
    agora_world *ref = copy_of(w);
    snap before;
    snap_take(w, &before);
    struct {
        int64_t id;
        double v;
    } bad[] = {
        {2, value[2] + 0.001}, /* a bid above the buyer's valuation */
        {2, -1},               /* negative */
        {2, NAN},
        {2, INFINITY},
        {cheap, value[cheap] - 3.5}, /* an ask below cost - subsidy */
        {cheap, 60.5},               /* an ask above the ceiling */
        {dear, value[dear] - 2},     /* above the ceiling and not the limit */
    };
    agora_error err;
    const int iq = field_index(w, "quote");
    for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
        const int64_t ids[2] = {3, bad[b].id};
        const double vals[2] = {0, bad[b].v};
        assert_int_equal(agora_world_set_field(w, iq, ids, 2, vals, &err), AGORA_EINVAL);
        assert_string_equal(err.where, "values");
        assert_unchanged(w, &before, "market bad quote");
    }
    const double neg = -5;
    const int64_t one = 4;
    assert_int_equal(agora_world_set_field(w, field_index(w, "value"), &one, 1, &neg, &err), AGORA_EINVAL);
    assert_string_equal(err.where, "values");
    /* Today's trades are a record, not state. */
    const char *const ro[] = {"price", "traded"};
    for (int k = 0; k < 2; k++) {
        const double zero = 0;
        assert_int_equal(agora_world_set_field(w, field_index(w, ro[k]), &one, 1, &zero, &err), AGORA_EUNSUPPORTED);
        assert_string_equal(err.where, "field");
        assert_non_null(strstr(err.msg, ro[k]));
    }
    assert_unchanged(w, &before, "market refused writes");
    for (int t = 0; t < 5; t++) {
        agora_world_step(w);
        agora_world_step(ref);
        assert_same(w, ref, "market refused writes", t + 1);
    }
    /* The edges of the limits are taken: a bid at the valuation, an ask at cost - subsidy, at the ceiling, and at the
     * limit of a seller priced out by the ceiling. */
    value = field_of(w, "value");
    const int64_t ids[4] = {2, cheap, cheap, dear};
    const double ok[4] = {value[2], value[cheap] - 3, 60, value[dear] - 3};
    for (int q = 0; q < 4; q++) {
        set_field_ok(w, "quote", &ids[q], 1, &ok[q]);
        assert_true(((const double *)field_of(w, "quote"))[ids[q]] == ok[q]);
    }
    const double *quote = field_of(w, "quote");
    double sb = 0;
    for (int64_t i = 0; i < nb; i++)
        sb += quote[i];
    assert_close(metric_of(w, "bid_mean"), sb / (double)nb, "bid_mean");
    snap_free(&before);
    agora_world_destroy(w);
    agora_world_destroy(ref);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(copy_steps_bit_identical_to_the_original),
        cmocka_unit_test(saved_world_loads_and_steps_bit_identical),
        cmocka_unit_test(saved_state_refuses_another_world),
        cmocka_unit_test(copy_stays_identical_at_other_thread_counts),
        cmocka_unit_test(copy_is_independent_of_the_original),
        cmocka_unit_test(copy_keeps_seed_threads_logger_and_time),
        cmocka_unit_test(copy_and_set_field_unsupported_without_the_model_hooks),
        cmocka_unit_test(sir_set_state_moves_counts_by_exactly_the_agents_written),
        cmocka_unit_test(sir_set_state_keeps_neighbour_tallies_for_the_next_steps),
        cmocka_unit_test(sir_bad_writes_are_refused_and_leave_the_world_unchanged),
        cmocka_unit_test(opinion_set_moves_opinions_and_the_next_step_reads_them),
        cmocka_unit_test(opinion_set_keeps_anchors),
        cmocka_unit_test(opinion_bad_writes_are_refused_and_leave_the_world_unchanged),
        cmocka_unit_test(market_set_value_recomputes_curves_equilibrium_and_quote_means),
        cmocka_unit_test(market_quote_writes_stay_inside_the_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
