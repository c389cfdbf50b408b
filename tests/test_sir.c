/* Tests for the SIR model (models/sir.c): invariants, the transition rule itself, agreement with percolation
 * theory, and the actions personas use.
 *
 * The rule is checked independently of the kernel's code: the test counts each susceptible agent's infected
 * neighbours by brute force from the state field, groups agents by that count k, and compares how many were
 * infected with n_k * (1 - (1 - beta)^k). Tolerances are 6 binomial standard deviations (plus 1 for rounding), so a
 * correct kernel fails with negligible probability while a wrong neighbourhood, a wrong exponent or an off-by-one
 * buffer fails by far. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agora/agora.h"
#include "support.h"

enum { S = 0, I = 1, R = 2 };

static const agora_model *sir(void)
{
    const agora_model *m = agora_model_find("sir");
    assert_non_null(m);
    return m;
}

static int metric(const char *name)
{
    int i = agora_model_metric_index(sir(), name);
    assert_true(i >= 0);
    return i;
}

/* A world on `space` (taken) with the given parameters. */
static agora_world *make_world(agora_space *space, double beta, double gamma, double initial, uint64_t seed,
                               int threads)
{
    json_t *params = json_pack("{s:f, s:f, s:f}", "beta", beta, "gamma", gamma, "initial_infected", initial);
    if (initial >= 1)
        json_object_set_new(params, "initial_infected", json_integer((json_int_t)initial));
    agora_world_config cfg = {.model = sir(), .space = space, .params = params, .seed = seed, .threads = threads};
    agora_world *w = NULL;
    agora_error err;
    int rc = agora_world_create(&cfg, &w, &err);
    if (rc != 0)
        fail_msg("world: %s", err.msg);
    json_decref(params);
    return w;
}

static agora_space *grid(int64_t wd, int64_t ht, int torus, agora_neighborhood nb)
{
    agora_space *s = NULL;
    assert_int_equal(agora_space_grid_create(wd, ht, torus, nb, &s, NULL), 0);
    return s;
}

static agora_space *er_graph(int64_t n, double mean_degree, uint64_t seed)
{
    json_t *spec = json_pack("{s:s, s:s, s:I, s:f}", "kind", "graph", "generator", "erdos_renyi", "n", (json_int_t)n,
                             "mean_degree", mean_degree);
    agora_space *s = NULL;
    agora_error err;
    if (agora_space_create(spec, agora_rng_key_from_seed(seed), NULL, &s, &err) != 0)
        fail_msg("graph: %s", err.msg);
    json_decref(spec);
    return s;
}

static agora_space *ws_graph(int64_t n, int k, double p, uint64_t seed)
{
    json_t *spec = json_pack("{s:s, s:s, s:I, s:i, s:f}", "kind", "graph", "generator", "watts_strogatz", "n",
                             (json_int_t)n, "k", k, "p", p);
    agora_space *s = NULL;
    agora_error err;
    if (agora_space_create(spec, agora_rng_key_from_seed(seed), NULL, &s, &err) != 0)
        fail_msg("graph: %s", err.msg);
    json_decref(spec);
    return s;
}

static const uint8_t *state_of(const agora_world *w)
{
    agora_dtype t;
    const uint8_t *s = agora_world_field(w, agora_model_field_index(sir(), "state"), &t);
    assert_non_null(s);
    assert_int_equal(t, AGORA_DTYPE_U8);
    return s;
}

static void count_states(const uint8_t *st, int64_t n, int64_t c[3])
{
    c[0] = c[1] = c[2] = 0;
    for (int64_t i = 0; i < n; i++) {
        assert_true(st[i] <= R);
        c[st[i]]++;
    }
}

/* ---- invariants --------------------------------------------------------------------------------------------------- */

static void check_invariants_on(agora_world *w, int steps)
{
    const int64_t n = agora_world_n(w);
    double m[32];
    for (int t = 0; t <= steps; t++) {
        agora_world_measure(w, m);
        int64_t c[3];
        count_states(state_of(w), n, c);
        /* The metrics are kept incrementally; they must equal a recount of the field. */
        assert_int_equal((int64_t)m[metric("S")], c[S]);
        assert_int_equal((int64_t)m[metric("I")], c[I]);
        assert_int_equal((int64_t)m[metric("R")], c[R]);
        assert_int_equal((int64_t)(m[metric("S")] + m[metric("I")] + m[metric("R")]), n);
        assert_true(fabs(m[metric("S_frac")] + m[metric("I_frac")] + m[metric("R_frac")] - 1.0) < 1e-12);
        assert_int_equal((int64_t)m[metric("cumulative_infected")], c[I] + c[R] - (int64_t)m[metric("vaccinated")]);
        agora_world_step(w);
    }
}

static void sir_s_plus_i_plus_r_is_n_every_step(void **state)
{
    (void)state;
    agora_world *w = make_world(grid(97, 61, 1, AGORA_MOORE), 0.1, 0.1, 0.01, 1, 2);
    check_invariants_on(w, 80);
    agora_world_destroy(w);
    w = make_world(grid(64, 33, 0, AGORA_VON_NEUMANN), 0.3, 0.05, 5, 2, 3);
    check_invariants_on(w, 80);
    agora_world_destroy(w);
    w = make_world(ws_graph(3000, 6, 0.1, 3), 0.1, 0.1, 0.01, 3, 2);
    check_invariants_on(w, 80);
    agora_world_destroy(w);
}

static void sir_initial_infected_count_and_fraction(void **state)
{
    (void)state;
    double m[32];
    agora_world *w = make_world(grid(100, 100, 1, AGORA_MOORE), 0.1, 0.1, 37, 1, 1);
    agora_world_measure(w, m);
    assert_int_equal((int64_t)m[metric("I")], 37);
    agora_world_destroy(w);
    w = make_world(grid(100, 100, 1, AGORA_MOORE), 0.1, 0.1, 0.25, 1, 1);
    agora_world_measure(w, m);
    assert_int_equal((int64_t)m[metric("I")], 2500);
    agora_world_destroy(w);
    /* A count of N infects everyone; a count above N is an error (it used to be capped silently: issue 13). */
    w = make_world(grid(10, 10, 1, AGORA_MOORE), 0.1, 0.1, 100, 1, 1);
    agora_world_measure(w, m);
    assert_int_equal((int64_t)m[metric("I")], 100);
    agora_world_destroy(w);
    json_t *params = json_pack("{s:i}", "initial_infected", 1000);
    agora_world_config cfg = {.model = sir(), .space = grid(10, 10, 1, AGORA_MOORE), .params = params, .seed = 1};
    agora_error err;
    assert_int_equal(agora_world_create(&cfg, &w, &err), AGORA_ESCHEMA);
    assert_null(w);
    assert_string_equal(err.where, "params.initial_infected");
    assert_string_equal(err.msg, "expected a fraction in [0, 1) or a count of at most the population (100 agents), "
                                 "got 1000");
    json_decref(params);
}

static void sir_beta_zero_never_infects(void **state)
{
    (void)state;
    agora_world *w = make_world(grid(120, 80, 1, AGORA_MOORE), 0.0, 0.05, 0.2, 4, 2);
    double m[32], prev_i = 1e300;
    const double cumulative0 = 0.2 * 120 * 80;
    for (int t = 0; t < 60; t++) {
        agora_world_measure(w, m);
        assert_true(m[metric("new_infections")] == 0);
        assert_true(m[metric("I")] <= prev_i);
        assert_true(m[metric("cumulative_infected")] == cumulative0);
        prev_i = m[metric("I")];
        agora_world_step(w);
    }
    assert_true(prev_i < cumulative0); /* recoveries did happen */
    agora_world_destroy(w);
}

static void sir_gamma_one_recovers_everyone_next_step(void **state)
{
    (void)state;
    agora_world *w = make_world(grid(90, 70, 1, AGORA_MOORE), 0.2, 1.0, 0.05, 5, 2);
    const int64_t n = agora_world_n(w);
    uint8_t *before = malloc((size_t)n);
    double m0[32], m1[32];
    int64_t seen_infected = 0;
    for (int t = 0; t < 20; t++) {
        memcpy(before, state_of(w), (size_t)n);
        agora_world_measure(w, m0);
        agora_world_step(w);
        agora_world_measure(w, m1);
        const uint8_t *after = state_of(w);
        for (int64_t i = 0; i < n; i++)
            if (before[i] == I) {
                assert_int_equal(after[i], R);
                seen_infected++;
            }
        assert_true(m1[metric("new_recoveries")] == m0[metric("I")]);
    }
    assert_true(seen_infected > 0);
    free(before);
    agora_world_destroy(w);
}

/* ---- the transition rule -------------------------------------------------------------------------------------------- */

/* Steps `steps` times; for each step groups susceptibles by infected-neighbour count and accumulates how many were
 * infected, then compares every class with its binomial expectation; does the same for recoveries. */
static void check_rule(agora_world *w, double beta, double gamma, int steps)
{
    const agora_space *sp = agora_world_space(w);
    const int64_t n = agora_world_n(w);
    uint8_t *before = malloc((size_t)n);
    uint8_t *kk = malloc((size_t)n);
    int64_t trials[1024] = {0}, hits[1024] = {0}, rec_trials = 0, rec_hits = 0;
    for (int t = 0; t < steps; t++) {
        memcpy(before, state_of(w), (size_t)n);
        for (int64_t i = 0; i < n; i++)
            kk[i] = before[i] == S ? (uint8_t)test_sir_infected_neighbours(sp, before, i) : 0;
        agora_world_step(w);
        const uint8_t *after = state_of(w);
        for (int64_t i = 0; i < n; i++) {
            if (before[i] == S) {
                trials[kk[i]]++;
                hits[kk[i]] += after[i] == I;
                assert_true(after[i] == S || after[i] == I);
            } else if (before[i] == I) {
                rec_trials++;
                rec_hits += after[i] == R;
                assert_true(after[i] == I || after[i] == R);
            } else {
                assert_int_equal(after[i], R);
            }
        }
    }
    int classes = 0;
    for (int k = 0; k < 1024; k++) {
        if (trials[k] == 0)
            continue;
        double p = 1.0 - pow(1.0 - beta, k), mean = trials[k] * p, sd = sqrt(trials[k] * p * (1 - p));
        if (fabs(hits[k] - mean) > 6 * sd + 1)
            fail_msg("k=%d: %lld infected of %lld, expected %.1f (sd %.1f)", k, (long long)hits[k],
                     (long long)trials[k], mean, sd);
        classes += trials[k] >= 100;
    }
    assert_true(classes >= 3); /* the test saw several neighbour counts with real sample sizes */
    double mean = rec_trials * gamma, sd = sqrt(rec_trials * gamma * (1 - gamma));
    assert_true(rec_trials > 1000);
    if (fabs(rec_hits - mean) > 6 * sd + 1)
        fail_msg("%lld recoveries of %lld, expected %.1f", (long long)rec_hits, (long long)rec_trials, mean);
    free(before);
    free(kk);
}

static void sir_infection_probability_is_one_minus_one_minus_beta_to_the_k(void **state)
{
    (void)state;
    struct {
        int torus;
        agora_neighborhood nb;
    } grids[] = {{1, AGORA_MOORE}, {0, AGORA_MOORE}, {1, AGORA_VON_NEUMANN}, {0, AGORA_VON_NEUMANN}};
    for (size_t g = 0; g < sizeof grids / sizeof grids[0]; g++) {
        /* A width that is not a multiple of the kernel's tile exercises tile edges and the wrap. */
        agora_world *w = make_world(grid(2100, 40, grids[g].torus, grids[g].nb), 0.15, 0.2, 0.3, 10 + g, 2);
        check_rule(w, 0.15, 0.2, 6);
        agora_world_destroy(w);
    }
    agora_world *w = make_world(ws_graph(20000, 10, 0.2, 8), 0.08, 0.3, 0.3, 8, 2);
    check_rule(w, 0.08, 0.3, 6);
    agora_world_destroy(w);
}

/* ---- theory ------------------------------------------------------------------------------------------------------- */

/* The bond-percolation final size on an Erdős–Rényi graph: r = 1 - (1 - r0) exp(-<k> T r), solved by bisection on
 * the non-trivial root. */
static double percolation_final_size(double mean_k, double beta, double gamma, double r0)
{
    double T = beta / (beta + gamma - beta * gamma);
    double lo = r0, hi = 1.0;
    for (int i = 0; i < 200; i++) {
        double mid = 0.5 * (lo + hi);
        if (mid - 1 + (1 - r0) * exp(-mean_k * T * mid) < 0)
            lo = mid;
        else
            hi = mid;
    }
    return 0.5 * (lo + hi);
}

static void sir_final_size_matches_percolation_theory_on_erdos_renyi(void **state)
{
    (void)state;
    const int64_t n = 20000;
    const double mean_k = 20, gamma = 0.2, r0 = 0.005;
    /* Two transmissibilities: <k>T about 1.4 (final size about 0.5, where the curve is steep) and about 2.2. */
    const double betas[] = {0.015, 0.025};
    for (size_t b = 0; b < 2; b++) {
        const double beta = betas[b];
        double sum = 0;
        const int seeds = 6;
        for (int s = 0; s < seeds; s++) {
            agora_space *sp = er_graph(n, mean_k, 100 + s);
            double realised_k = 2.0 * (double)sp->graph.edges / (double)n;
            assert_true(fabs(realised_k - mean_k) < 1e-9);
            agora_world *w = make_world(sp, beta, gamma, r0, 100 + s, 2);
            double m[32];
            for (int t = 0; t < 5000; t++) {
                agora_world_measure(w, m);
                if (m[metric("I")] == 0)
                    break;
                agora_world_step(w);
            }
            assert_true(m[metric("I")] == 0); /* the epidemic ended */
            sum += m[metric("attack_rate")];
            agora_world_destroy(w);
        }
        double mean = sum / seeds, theory = percolation_final_size(mean_k, beta, gamma, r0);
        print_message("beta=%.3f gamma=%.2f <k>=%.0f: mean final size %.4f over %d seeds, theory %.4f\n", beta, gamma,
                      mean_k, mean, seeds, theory);
        /* The issue's bound: within 2 percentage points. */
        assert_true(fabs(mean - theory) < 0.02);
    }
}

/* ---- actions ------------------------------------------------------------------------------------------------------ */

static json_t *action(const char *text)
{
    json_error_t jerr;
    json_t *a = json_loads(text, 0, &jerr);
    assert_non_null(a);
    return a;
}

static int apply_text(agora_world *w, const char *text, agora_error *err)
{
    json_t *a = action(text);
    int rc = agora_world_apply(w, a, err);
    json_decref(a);
    return rc;
}

static void sir_vaccinate_moves_that_fraction_of_susceptibles_to_r(void **state)
{
    (void)state;
    agora_world *w = make_world(grid(200, 100, 1, AGORA_MOORE), 0.1, 0.1, 100, 1, 2);
    double m0[32], m1[32];
    agora_world_measure(w, m0);
    agora_error err;
    assert_int_equal(apply_text(w, "{\"action\": \"vaccinate\", \"fraction\": 0.25}", &err), 0);
    agora_world_measure(w, m1);
    double moved = round(0.25 * m0[metric("S")]);
    assert_true(m1[metric("S")] == m0[metric("S")] - moved);
    assert_true(m1[metric("R")] == m0[metric("R")] + moved);
    assert_true(m1[metric("I")] == m0[metric("I")]);
    assert_true(m1[metric("cumulative_infected")] == m0[metric("cumulative_infected")]);
    assert_true(m1[metric("vaccinated")] == moved);
    check_invariants_on(w, 3);
    /* Vaccinating everyone stops the epidemic from reaching anyone new. */
    assert_int_equal(apply_text(w, "{\"action\": \"vaccinate\", \"fraction\": 1}", &err), 0);
    agora_world_measure(w, m1);
    assert_true(m1[metric("S")] == 0);
    agora_world_step(w);
    agora_world_measure(w, m1);
    assert_true(m1[metric("new_infections")] == 0);
    agora_world_destroy(w);
}

static void sir_lockdown_scales_beta_for_its_duration(void **state)
{
    (void)state;
    agora_world *w = make_world(grid(200, 200, 1, AGORA_MOORE), 0.2, 0.02, 0.05, 2, 2);
    double m[32];
    agora_error err;
    for (int t = 0; t < 3; t++)
        agora_world_step(w);
    assert_int_equal(apply_text(w, "{\"action\": \"lockdown\", \"strength\": 1.0, \"steps\": 10}", &err), 0);
    for (int t = 0; t < 10; t++) {
        agora_world_measure(w, m);
        assert_true(m[metric("beta_eff")] == 0.0);
        agora_world_step(w);
        agora_world_measure(w, m);
        assert_true(m[metric("new_infections")] == 0); /* a full lockdown stops transmission */
    }
    agora_world_measure(w, m);
    assert_true(m[metric("beta_eff")] == 0.2); /* it ended after 10 steps */
    agora_world_step(w);
    agora_world_measure(w, m);
    assert_true(m[metric("new_infections")] > 0);
    /* A partial lockdown halves beta, and the rule holds with the halved value. */
    assert_int_equal(apply_text(w, "{\"action\": \"lockdown\", \"strength\": 0.5, \"steps\": 100}", &err), 0);
    agora_world_measure(w, m);
    assert_true(fabs(m[metric("beta_eff")] - 0.1) < 1e-15);
    check_rule(w, 0.1, 0.02, 3);
    /* Strength 0 lifts it at once. */
    assert_int_equal(apply_text(w, "{\"action\": \"lockdown\", \"strength\": 0, \"steps\": 5}", &err), 0);
    agora_world_measure(w, m);
    assert_true(m[metric("beta_eff")] == 0.2);
    agora_world_destroy(w);
}

static void sir_seed_infection_infects_exactly_count_susceptibles(void **state)
{
    (void)state;
    agora_world *w = make_world(grid(100, 100, 1, AGORA_MOORE), 0.1, 0.1, 0, 3, 1);
    double m0[32], m1[32];
    agora_error err;
    agora_world_measure(w, m0);
    assert_true(m0[metric("I")] == 0);
    assert_int_equal(apply_text(w, "{\"action\": \"seed_infection\", \"count\": 123}", &err), 0);
    agora_world_measure(w, m1);
    assert_true(m1[metric("I")] == 123);
    assert_true(m1[metric("S")] == m0[metric("S")] - 123);
    assert_true(m1[metric("cumulative_infected")] == 123);
    /* Two seedings in the same step pick different agents (their own RNG streams). */
    assert_int_equal(apply_text(w, "{\"action\": \"seed_infection\", \"count\": 123}", &err), 0);
    agora_world_measure(w, m1);
    assert_true(m1[metric("I")] == 246);
    /* More than remain: everyone susceptible is infected. */
    assert_int_equal(apply_text(w, "{\"action\": \"seed_infection\", \"count\": 1000000}", &err), 0);
    agora_world_measure(w, m1);
    assert_true(m1[metric("S")] == 0 && m1[metric("I")] == 10000);
    agora_world_destroy(w);
}

static void sir_bad_actions_are_rejected_and_leave_the_world_untouched(void **state)
{
    (void)state;
    agora_world *w = make_world(grid(50, 50, 1, AGORA_MOORE), 0.1, 0.1, 20, 9, 1);
    agora_world_step(w);
    const int64_t n = agora_world_n(w);
    uint8_t *before = malloc((size_t)n);
    memcpy(before, state_of(w), (size_t)n);
    double m0[32], m1[32];
    agora_world_measure(w, m0);
    const struct {
        const char *action, *key;
    } bad[] = {
        {"{\"action\": \"vaccinate\", \"fraction\": 1.5}", "fraction"},
        {"{\"action\": \"vaccinate\", \"fraction\": -0.1}", "fraction"},
        {"{\"action\": \"vaccinate\", \"fraction\": \"half\"}", "fraction"},
        {"{\"action\": \"vaccinate\"}", "fraction"},
        {"{\"action\": \"vaccinate\", \"fraction\": 0.1, \"everyone\": true}", "everyone"},
        {"{\"action\": \"lockdown\", \"strength\": 2, \"steps\": 5}", "strength"},
        {"{\"action\": \"lockdown\", \"strength\": 0.5, \"steps\": 0}", "steps"},
        {"{\"action\": \"lockdown\", \"strength\": 0.5, \"steps\": 2.5}", "steps"},
        {"{\"action\": \"seed_infection\", \"count\": 0}", "count"},
        {"{\"action\": \"nuke\", \"yield\": 9}", "nuke"},
        {"{\"fraction\": 0.5}", "action"},
        {"[1, 2, 3]", "action"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        agora_error err;
        agora_error_clear(&err);
        json_t *a = action(bad[i].action);
        int rc = agora_world_apply(w, a, &err);
        json_decref(a);
        if (rc == 0)
            fail_msg("accepted %s", bad[i].action);
        assert_int_equal(rc, AGORA_ESCHEMA);
        char msg[1024];
        agora_error_format(&err, msg, sizeof msg);
        if (!strstr(msg, bad[i].key))
            fail_msg("message for %s does not name %s: %s", bad[i].action, bad[i].key, msg);
        agora_world_measure(w, m1);
        assert_memory_equal(m0, m1, sizeof(double) * (size_t)agora_model_n_metrics(sir()));
        assert_memory_equal(before, state_of(w), (size_t)n);
    }
    free(before);
    agora_world_destroy(w);
}

static void sir_runs_on_bounded_grids_of_one_row_and_column(void **state)
{
    (void)state;
    /* Degenerate shapes: a single row, a single column, a single cell, torus and bounded. */
    const int64_t shapes[][2] = {{1, 1}, {1, 50}, {50, 1}, {3, 3}};
    for (size_t s = 0; s < 4; s++)
        for (int torus = 0; torus < 2; torus++) {
            agora_world *w = make_world(grid(shapes[s][0], shapes[s][1], torus, AGORA_MOORE), 0.5, 0.1, 1, 1, 2);
            check_invariants_on(w, 10);
            agora_world_destroy(w);
        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sir_s_plus_i_plus_r_is_n_every_step),
        cmocka_unit_test(sir_initial_infected_count_and_fraction),
        cmocka_unit_test(sir_beta_zero_never_infects),
        cmocka_unit_test(sir_gamma_one_recovers_everyone_next_step),
        cmocka_unit_test(sir_infection_probability_is_one_minus_one_minus_beta_to_the_k),
        cmocka_unit_test(sir_final_size_matches_percolation_theory_on_erdos_renyi),
        cmocka_unit_test(sir_vaccinate_moves_that_fraction_of_susceptibles_to_r),
        cmocka_unit_test(sir_lockdown_scales_beta_for_its_duration),
        cmocka_unit_test(sir_seed_infection_infects_exactly_count_susceptibles),
        cmocka_unit_test(sir_bad_actions_are_rejected_and_leave_the_world_untouched),
        cmocka_unit_test(sir_runs_on_bounded_grids_of_one_row_and_column),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
