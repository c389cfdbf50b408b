/* Tests for the opinion-dynamics model (models/opinion.c): each rule against a result of its literature or an
 * independent computation, determinism across thread counts, and the actions personas use.
 *
 *  - DeGroot converges to the consensus sum_i pi_i x_i(0), pi the left eigenvector of W = (1-rate) I + rate D^-1 A
 *    (computed here by power iteration on W^T); Friedkin–Johnsen reaches x* = (I - (I-S) W)^-1 S x(0) (GSL LU).
 *  - Deffuant on a well-mixed population: consensus for epsilon > 1/2 (Fortunato 2004); about 1/(2 epsilon) major
 *    clusters for epsilon = 0.2 (Deffuant et al. 2000).
 *  - Lazy voter model: P(consensus on 1) = degree-weighted initial share of 1s (Sood & Redner 2005), checked on a
 *    regular ring and on a star, where the degree weighting and the plain share differ by far.
 *  - Hegselmann–Krause: every step equals an O(n^2) brute force, on a mixed space (the sort-based path) and a graph;
 *    two separated camps stay two clusters; epsilon = 1 is consensus at the mean in one step.
 * Seeds are fixed; tolerances are stated where they are used. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <gsl/gsl_linalg.h>

#include "agora/agora.h"
#include "support.h"

static const agora_model *model(void)
{
    const agora_model *m = agora_model_find("opinion");
    assert_non_null(m);
    return m;
}

static int metric(const char *name)
{
    int i = agora_model_metric_index(model(), name);
    assert_true(i >= 0);
    return i;
}

static double get_metric(agora_world *w, const char *name)
{
    double m[16];
    assert_true(agora_model_n_metrics(model()) <= 16);
    agora_world_measure(w, m);
    return m[metric(name)];
}

static const double *opinions(agora_world *w)
{
    agora_dtype t;
    const double *x = agora_world_field(w, 0, &t);
    assert_int_equal(t, AGORA_DTYPE_F64);
    return x;
}

/* A world on `space` (taken) with parameters given as JSON text. */
static agora_world *make(agora_space *space, const char *params, uint64_t seed, int threads)
{
    json_error_t jerr;
    json_t *p = json_loads(params, 0, &jerr);
    if (!p)
        fail_msg("params: %s", jerr.text);
    agora_world_config cfg = {.model = model(), .space = space, .params = p, .seed = seed, .threads = threads};
    agora_world *w = NULL;
    agora_error err;
    if (agora_world_create(&cfg, &w, &err) != 0)
        fail_msg("world: %s", err.msg);
    json_decref(p);
    return w;
}

static agora_space *space_json(const char *text, uint64_t seed)
{
    json_t *spec = json_loads(text, 0, NULL);
    assert_non_null(spec);
    agora_space *s = NULL;
    agora_error err;
    if (agora_space_create(spec, agora_rng_key_from_seed(seed), NULL, &s, &err) != 0)
        fail_msg("space: %s", err.msg);
    json_decref(spec);
    return s;
}

static agora_space *edges_space(int64_t n, const int64_t *e, int64_t m)
{
    agora_space *s = NULL;
    assert_int_equal(agora_space_graph_from_edges(n, e, m, &s, NULL), 0);
    return s;
}

/* A connected, aperiodic, non-regular graph on 40 vertices: a ring plus chords from a fixed LCG. */
static agora_space *irregular_graph(void)
{
    int64_t e[2 * 120];
    int64_t m = 0;
    const int64_t n = 40;
    for (int64_t i = 0; i < n; i++) {
        e[2 * m] = i;
        e[2 * m + 1] = (i + 1) % n;
        m++;
    }
    uint64_t r = 12345;
    for (int k = 0; k < 40; k++) {
        r = r * 6364136223846793005u + 1442695040888963407u;
        int64_t a = (int64_t)((r >> 33) % 10); /* chords concentrate on vertices 0..9: degrees vary a lot */
        r = r * 6364136223846793005u + 1442695040888963407u;
        int64_t b = (int64_t)((r >> 33) % (uint64_t)n);
        e[2 * m] = a;
        e[2 * m + 1] = b;
        m++;
    }
    return edges_space(n, e, m);
}

static int apply_text(agora_world *w, const char *text, agora_error *err)
{
    json_t *a = json_loads(text, 0, NULL);
    assert_non_null(a);
    int rc = agora_world_apply(w, a, err);
    json_decref(a);
    return rc;
}

static void steps(agora_world *w, int k)
{
    for (int i = 0; i < k; i++)
        agora_world_step(w);
}

/* ---- DeGroot / Friedkin–Johnsen ------------------------------------------------------------------------------------
 */

static void degroot_converges_to_left_eigenvector_consensus(void **state)
{
    (void)state;
    const double rate = 0.3;
    agora_world *w = make(irregular_graph(), "{\"rule\": \"degroot\", \"rate\": 0.3}", 7, 2);
    const agora_space *sp = agora_world_space(w);
    const int64_t n = sp->n, *off = sp->graph.offsets;
    const int32_t *nb = sp->graph.neighbors;
    double x0[40], pi[40], tmp[40];
    memcpy(x0, opinions(w), sizeof x0);
    /* Left eigenvector of W for eigenvalue 1: pi <- W^T pi, from uniform. W is primitive (connected, self-weight
     * 1 - rate > 0), so this converges geometrically; 20000 iterations are far past 1e-15. */
    for (int i = 0; i < n; i++)
        pi[i] = 1.0 / (double)n;
    for (int it = 0; it < 20000; it++) {
        for (int j = 0; j < n; j++)
            tmp[j] = (1 - rate) * pi[j];
        for (int i = 0; i < n; i++)
            for (int64_t e = off[i]; e < off[i + 1]; e++)
                tmp[nb[e]] += rate * pi[i] / (double)(off[i + 1] - off[i]);
        memcpy(pi, tmp, sizeof pi);
    }
    double c = 0, plain = 0, z = 0;
    for (int i = 0; i < n; i++) {
        c += pi[i] * x0[i];
        plain += x0[i] / (double)n;
        z += pi[i];
    }
    c /= z;
    /* The test discriminates: the plain mean is a different answer on this graph. */
    assert_true(fabs(c - plain) > 1e-3);
    steps(w, 3000);
    const double *x = opinions(w);
    /* After 3000 steps the disagreement has decayed below 1e-12 (the spectral gap of W is > 0.01); 1e-9 leaves
     * room for rounding. */
    for (int i = 0; i < n; i++)
        assert_true(fabs(x[i] - c) < 1e-9);
    assert_true(fabs(get_metric(w, "mean") - c) < 1e-9);
    assert_true(get_metric(w, "variance") < 1e-18);
    assert_int_equal((int)get_metric(w, "major_clusters"), 1);
    assert_true(get_metric(w, "near_mean") == 1.0);
    agora_world_destroy(w);
}

static void friedkin_johnsen_reaches_the_linear_fixed_point(void **state)
{
    (void)state;
    const double rate = 0.4;
    agora_world *w = make(irregular_graph(), "{\"rule\": \"degroot\", \"rate\": 0.4, \"stubbornness\": 0.2}", 8, 2);
    agora_error err;
    /* Agents 0..4 much more stubborn; at step 0 their anchor is still their initial opinion. */
    assert_int_equal(apply_text(w, "{\"action\": \"set_stubbornness\", \"agents\": [0,1,2,3,4], \"value\": 0.9}", &err),
                     0);
    const agora_space *sp = agora_world_space(w);
    const int n = (int)sp->n;
    const int64_t *off = sp->graph.offsets;
    const int32_t *nb = sp->graph.neighbors;
    double x0[40];
    memcpy(x0, opinions(w), sizeof x0);
    /* M = I - (I - S) W, b = S x0. */
    gsl_matrix *M = gsl_matrix_calloc((size_t)n, (size_t)n);
    gsl_vector *b = gsl_vector_alloc((size_t)n), *xs = gsl_vector_alloc((size_t)n);
    gsl_permutation *perm = gsl_permutation_alloc((size_t)n);
    for (int i = 0; i < n; i++) {
        const double s = i < 5 ? 0.9 : 0.2;
        const double d = (double)(off[i + 1] - off[i]);
        *gsl_matrix_ptr(M, (size_t)i, (size_t)i) += 1.0 - (1 - s) * (1 - rate);
        for (int64_t e = off[i]; e < off[i + 1]; e++)
            *gsl_matrix_ptr(M, (size_t)i, (size_t)nb[e]) -= (1 - s) * rate / d;
        gsl_vector_set(b, (size_t)i, s * x0[i]);
    }
    int signum;
    assert_int_equal(gsl_linalg_LU_decomp(M, perm, &signum), 0);
    assert_int_equal(gsl_linalg_LU_solve(M, perm, b, xs), 0);
    steps(w, 500);
    const double *x = opinions(w);
    /* The iteration contracts by at most 0.8 per step (every s_i >= 0.2): 0.8^500 ~ 1e-49; 1e-10 covers rounding. */
    int spread = 0;
    for (int i = 0; i < n; i++) {
        assert_true(fabs(x[i] - gsl_vector_get(xs, (size_t)i)) < 1e-10);
        spread += fabs(x[i] - x[0]) > 1e-3;
    }
    assert_true(spread > 0); /* no consensus: the stubborn agents keep the opinions apart */
    gsl_matrix_free(M);
    gsl_vector_free(b);
    gsl_vector_free(xs);
    gsl_permutation_free(perm);
    agora_world_destroy(w);
}

static void degroot_mixed_keeps_the_mean_and_reaches_consensus(void **state)
{
    (void)state;
    agora_world *w =
        make(space_json("{\"kind\": \"mixed\", \"n\": 2000}", 1), "{\"rule\": \"degroot\", \"rate\": 0.2}", 3, 2);
    const double m0 = get_metric(w, "mean");
    steps(w, 200);
    /* Everyone moves toward the population mean, so the mean stays (up to rounding) and the spread shrinks by
     * 0.8 per step. */
    assert_true(fabs(get_metric(w, "mean") - m0) < 1e-12);
    assert_true(get_metric(w, "variance") < 1e-30);
    assert_true(get_metric(w, "near_mean") == 1.0);
    agora_world_destroy(w);
}

/* ---- Deffuant -------------------------------------------------------------------------------------------------------
 */

static void deffuant_mixed_epsilon_above_half_reaches_consensus(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 3; seed++) {
        agora_world *w = make(space_json("{\"kind\": \"mixed\", \"n\": 1000}", seed),
                              "{\"rule\": \"deffuant\", \"epsilon\": 0.6, \"mu\": 0.5}", seed, 2);
        assert_true(get_metric(w, "major_clusters") == 1); /* uniform start: one run of bins */
        steps(w, 400);
        assert_int_equal((int)get_metric(w, "clusters"), 1);
        assert_int_equal((int)get_metric(w, "major_clusters"), 1);
        assert_true(get_metric(w, "variance") < 1e-8);
        assert_true(get_metric(w, "polarization") == 0);
        agora_world_destroy(w);
    }
}

static void deffuant_mixed_epsilon_0_2_ends_in_two_or_three_major_clusters(void **state)
{
    (void)state;
    /* 1/(2 epsilon) = 2.5: Deffuant et al. (2000) find 2 or 3 major clusters at epsilon = 0.2. */
    int total = 0;
    for (uint64_t seed = 1; seed <= 5; seed++) {
        agora_world *w = make(space_json("{\"kind\": \"mixed\", \"n\": 1000}", seed),
                              "{\"rule\": \"deffuant\", \"epsilon\": 0.2, \"mu\": 0.5}", seed, 2);
        steps(w, 2000);
        const int major = (int)get_metric(w, "major_clusters");
        assert_true(major >= 2 && major <= 3);
        assert_true(get_metric(w, "polarization") > 0.2);
        total += major;
        agora_world_destroy(w);
    }
    print_message("deffuant epsilon 0.2: %.1f major clusters on average over 5 seeds\n", total / 5.0);
}

/* ---- voter ----------------------------------------------------------------------------------------------------------
 */

/* Runs until consensus (variance 0); returns the consensus opinion. */
static int voter_consensus(agora_world *w)
{
    for (int t = 0; t < 200000; t++) {
        const double m = get_metric(w, "mean");
        if (m == 0.0 || m == 1.0)
            return (int)m;
        agora_world_step(w);
    }
    fail_msg("no consensus in 200000 steps");
    return -1;
}

static void voter_ring_consensus_probability_is_initial_fraction(void **state)
{
    (void)state;
    /* A 4-regular ring of 24 (i ~ i+-1, i+-2): degree weighting is the plain share, round(0.3 * 24) / 24 = 7/24. */
    int64_t e[2 * 48];
    for (int64_t i = 0; i < 24; i++) {
        e[4 * i] = i, e[4 * i + 1] = (i + 1) % 24;
        e[4 * i + 2] = i, e[4 * i + 3] = (i + 2) % 24;
    }
    const int runs = 1500;
    int ones = 0;
    for (int r = 0; r < runs; r++) {
        agora_world *w =
            make(edges_space(24, e, 48), "{\"rule\": \"voter\", \"initial_fraction\": 0.3}", (uint64_t)r + 100, 1);
        assert_true(get_metric(w, "mean") == 7.0 / 24.0);
        ones += voter_consensus(w);
        agora_world_destroy(w);
    }
    const double p = 7.0 / 24.0, se = sqrt(p * (1 - p) / runs), got = (double)ones / runs;
    print_message("voter ring: P(consensus on 1) = %.4f, expected %.4f +- %.4f\n", got, p, se);
    assert_true(fabs(got - p) < 3 * se); /* 3 standard errors */
}

static void voter_star_consensus_probability_is_degree_weighted(void **state)
{
    (void)state;
    /* A star: hub 0 of degree 10, leaves of degree 1, sum of degrees 20. All start at 0 (initial_fraction 0) and a
     * broadcast of strength 1 sets (a) the hub, (b) three leaves to 1. Degree-weighted shares: 10/20 and 3/20; the
     * plain shares 1/11 and 3/11 are many standard errors away. */
    int64_t e[20];
    for (int64_t i = 0; i < 10; i++)
        e[2 * i] = 0, e[2 * i + 1] = i + 1;
    const char *who[2] = {"[0]", "[1, 2, 3]"};
    const double want[2] = {0.5, 0.15}, plain[2] = {1.0 / 11, 3.0 / 11};
    const int runs = 1500;
    for (int c = 0; c < 2; c++) {
        int ones = 0;
        char act[128];
        snprintf(act, sizeof act, "{\"action\": \"broadcast\", \"opinion\": 1, \"reach\": %s, \"strength\": 1}",
                 who[c]);
        for (int r = 0; r < runs; r++) {
            agora_world *w = make(edges_space(11, e, 10), "{\"rule\": \"voter\", \"initial_fraction\": 0}",
                                  (uint64_t)r + 1000 * (c + 1), 1);
            agora_error err;
            assert_int_equal(apply_text(w, act, &err), 0);
            ones += voter_consensus(w);
            agora_world_destroy(w);
        }
        const double se = sqrt(want[c] * (1 - want[c]) / runs), got = (double)ones / runs;
        print_message("voter star %s: P(consensus on 1) = %.4f, expected %.4f +- %.4f (plain share %.4f)\n", who[c],
                      got, want[c], se, plain[c]);
        assert_true(fabs(got - want[c]) < 3 * se);
        assert_true(fabs(got - plain[c]) > 3 * se);
    }
}

static void voter_on_grid_and_mixed_keeps_binary_opinions(void **state)
{
    (void)state;
    const char *spaces[2] = {
        "{\"kind\": \"grid\", \"width\": 30, \"height\": 20, \"torus\": true, \"neighborhood\": \"moore\"}",
        "{\"kind\": \"mixed\", \"n\": 600}"};
    for (int s = 0; s < 2; s++) {
        agora_world *w = make(space_json(spaces[s], 1), "{\"rule\": \"voter\", \"initial_fraction\": 0.4}", 5, 2);
        assert_true(get_metric(w, "mean") == 0.4);
        steps(w, 50);
        const double *x = opinions(w);
        for (int i = 0; i < 600; i++)
            assert_true(x[i] == 0.0 || x[i] == 1.0);
        assert_true(get_metric(w, "clusters") <= 2);
        agora_world_destroy(w);
    }
}

/* ---- Hegselmann–Krause --------------------------------------------------------------------------------------------
 */

/* One synchronous HK step by brute force; `all` means everyone is a neighbour, otherwise the CSR of sp. */
static void hk_brute(const agora_space *sp, int all, const double *x, double eps, double *out)
{
    const int64_t n = sp->n;
    for (int64_t i = 0; i < n; i++) {
        double s = 0;
        int64_t c = 0;
        if (all) {
            for (int64_t j = 0; j < n; j++)
                if (fabs(x[j] - x[i]) <= eps)
                    s += x[j], c++;
        } else {
            s = x[i], c = 1;
            for (int64_t e = sp->graph.offsets[i]; e < sp->graph.offsets[i + 1]; e++) {
                double v = x[sp->graph.neighbors[e]];
                if (fabs(v - x[i]) <= eps)
                    s += v, c++;
            }
        }
        out[i] = s / (double)c;
    }
}

static void hk_sorted_mixed_and_graph_steps_match_brute_force(void **state)
{
    (void)state;
    const char *spaces[2] = {
        "{\"kind\": \"mixed\", \"n\": 500}",
        "{\"kind\": \"graph\", \"generator\": \"watts_strogatz\", \"n\": 500, \"k\": 6, \"p\": 0.1}"};
    for (int s = 0; s < 2; s++) {
        agora_world *w = make(space_json(spaces[s], 2), "{\"rule\": \"hk\", \"epsilon\": 0.15}", 11, 2);
        const agora_space *sp = agora_world_space(w);
        double prev[500], want[500];
        for (int t = 0; t < 12; t++) {
            memcpy(prev, opinions(w), sizeof prev);
            hk_brute(sp, s == 0, prev, 0.15, want);
            agora_world_step(w);
            const double *x = opinions(w);
            /* Prefix sums (long double) versus a direct sum: the same set of agents, rounding differs by ~1e-16. */
            for (int i = 0; i < 500; i++)
                assert_true(fabs(x[i] - want[i]) < 1e-12);
        }
        agora_world_destroy(w);
    }
}

/* On grids the step walks rows through the space's stencil: every cell gets exactly what its neighbour list gives
 * (agora_grid_neighbors, in its order, with the step's arithmetic), bit for bit, interior and border, for DeGroot
 * and HK on tori and bounded grids, Moore and von Neumann, narrow ones included. */
static void grid_steps_equal_the_neighbour_lists(void **state)
{
    (void)state;
    const char *grids[] = {
        "{\"kind\": \"grid\", \"width\": 9, \"height\": 7, \"torus\": true, \"neighborhood\": \"moore\"}",
        "{\"kind\": \"grid\", \"width\": 10, \"height\": 3, \"torus\": false, \"neighborhood\": \"von_neumann\"}",
        "{\"kind\": \"grid\", \"width\": 2, \"height\": 5, \"torus\": true, \"neighborhood\": \"moore\"}",
        "{\"kind\": \"grid\", \"width\": 6, \"height\": 6, \"torus\": false, \"neighborhood\": \"moore\"}"};
    for (size_t g = 0; g < sizeof grids / sizeof grids[0]; g++)
        for (int hk = 0; hk < 2; hk++) {
            agora_world *w =
                make(space_json(grids[g], 2),
                     hk ? "{\"rule\": \"hk\", \"epsilon\": 0.2}" : "{\"rule\": \"degroot\", \"rate\": 0.3}", 5, 2);
            const agora_space *sp = agora_world_space(w);
            const int64_t n = sp->n;
            double prev[64], want[64];
            for (int t = 0; t < 3; t++) {
                memcpy(prev, opinions(w), (size_t)n * sizeof *prev);
                for (int64_t i = 0; i < n; i++) {
                    int64_t nb[8];
                    const int k = agora_grid_neighbors(&sp->grid, i, nb);
                    if (!hk) {
                        double sum = 0;
                        for (int q = 0; q < k; q++)
                            sum += prev[nb[q]];
                        want[i] = k ? (1.0 - 0.3) * prev[i] + 0.3 * (sum / (double)k) : prev[i];
                    } else {
                        double sum = prev[i];
                        int64_t c = 1;
                        for (int q = 0; q < k; q++)
                            if (fabs(prev[nb[q]] - prev[i]) <= 0.2)
                                sum += prev[nb[q]], c++;
                        want[i] = sum / (double)c;
                    }
                }
                agora_world_step(w);
                if (memcmp(opinions(w), want, (size_t)n * sizeof *want) != 0)
                    fail_msg("%s on %s: step %d differs from the neighbour lists", hk ? "hk" : "degroot", grids[g], t);
            }
            agora_world_destroy(w);
        }
}

static void hk_two_separated_camps_stay_two_clusters(void **state)
{
    (void)state;
    /* Camps around 0.25 and 0.75 (sd 0.03, so no agent is within 0.2 of the other camp with any real chance:
     * that would take a 4-sigma draw in each camp): each camp collapses to its own mean. */
    agora_world *w = make(space_json("{\"kind\": \"mixed\", \"n\": 1000}", 3),
                          "{\"rule\": \"hk\", \"epsilon\": 0.2, \"initial\": \"bimodal\", \"initial_sd\": 0.03}", 3, 2);
    steps(w, 30);
    assert_int_equal((int)get_metric(w, "clusters"), 2);
    assert_int_equal((int)get_metric(w, "major_clusters"), 2);
    const double pol = get_metric(w, "polarization");
    assert_true(pol > 0.4 && pol < 0.6); /* two near-equal camps 0.5 apart: 4 * 0.25 * 0.5 = 0.5 */
    const double *x = opinions(w);
    for (int i = 0; i < 1000; i++)
        assert_true(fabs(x[i] - 0.25) < 0.02 || fabs(x[i] - 0.75) < 0.02);
    agora_world_destroy(w);
}

static void hk_epsilon_one_is_consensus_at_the_mean_in_one_step(void **state)
{
    (void)state;
    agora_world *w =
        make(space_json("{\"kind\": \"mixed\", \"n\": 777}", 4), "{\"rule\": \"hk\", \"epsilon\": 1}", 4, 2);
    const double m0 = get_metric(w, "mean");
    agora_world_step(w);
    const double *x = opinions(w);
    for (int i = 0; i < 777; i++)
        assert_true(fabs(x[i] - m0) < 1e-12);
    assert_int_equal((int)get_metric(w, "clusters"), 1);
    agora_world_destroy(w);
}

/* ---- determinism ----------------------------------------------------------------------------------------------------
 */

#define DET_STEPS 25

static void run_record(const char *space, const char *params, int threads, double *metrics, double *field, int64_t *n)
{
    agora_world *w = make(space_json(space, 9), params, 9, threads);
    const int nm = agora_model_n_metrics(model());
    const int graph = agora_world_space(w)->kind == AGORA_SPACE_GRAPH;
    agora_error err;
    for (int t = 0; t < DET_STEPS; t++) {
        if (t == 3)
            assert_int_equal(
                apply_text(w, "{\"action\": \"set_stubbornness\", \"agents\": [1, 5, 9], \"value\": 0.5}", &err), 0);
        if (t == 6)
            assert_int_equal(
                apply_text(w, "{\"action\": \"broadcast\", \"opinion\": 1, \"reach\": 0.3, \"strength\": 0.7}", &err),
                0);
        if (t == 8 && graph)
            assert_int_equal(apply_text(w, "{\"action\": \"rewire\", \"fraction\": 0.2}", &err), 0);
        agora_world_measure(w, metrics + t * nm);
        agora_world_step(w);
    }
    *n = agora_world_n(w);
    memcpy(field, opinions(w), (size_t)*n * sizeof *field);
    agora_world_destroy(w);
}

static void every_rule_is_bit_identical_at_1_2_and_4_threads(void **state)
{
    (void)state;
    const char *spaces[3] = {
        "{\"kind\": \"graph\", \"generator\": \"watts_strogatz\", \"n\": 9000, \"k\": 6, \"p\": 0.1}",
        "{\"kind\": \"grid\", \"width\": 97, \"height\": 93, \"torus\": false, \"neighborhood\": \"moore\"}",
        "{\"kind\": \"mixed\", \"n\": 9001}"};
    const char *params[5] = {"{\"rule\": \"degroot\", \"rate\": 0.3, \"stubbornness\": 0.1}",
                             "{\"rule\": \"deffuant\", \"epsilon\": 0.3, \"initial\": \"normal\", \"initial_sd\": 0.3}",
                             "{\"rule\": \"hk\", \"epsilon\": 0.1}", "{\"rule\": \"voter\", \"initial_fraction\": 0.3}",
                             "{\"rule\": \"voter\", \"initial_fraction\": 0.5, \"stubbornness\": 0.3, \"lazy\": 0.9}"};
    const int nm = agora_model_n_metrics(model());
    double *m1 = malloc(sizeof(double) * DET_STEPS * (size_t)nm), *mk = malloc(sizeof(double) * DET_STEPS * (size_t)nm);
    double *f1 = malloc(sizeof(double) * 9100), *fk = malloc(sizeof(double) * 9100);
    for (int s = 0; s < 3; s++)
        for (int p = 0; p < 5; p++) {
            int64_t n1, nk;
            run_record(spaces[s], params[p], 1, m1, f1, &n1);
            for (int threads = 2; threads <= 4; threads *= 2) {
                run_record(spaces[s], params[p], threads, mk, fk, &nk);
                if (memcmp(m1, mk, sizeof(double) * DET_STEPS * (size_t)nm) != 0 ||
                    memcmp(f1, fk, sizeof(double) * (size_t)n1) != 0)
                    fail_msg("%s on %s differs at %d threads", params[p], spaces[s], threads);
            }
            /* The run actually moved: the final state differs from the first step's metrics. */
            assert_true(memcmp(m1, m1 + (DET_STEPS - 1) * nm, sizeof(double) * (size_t)nm) != 0);
        }
    free(m1);
    free(mk);
    free(f1);
    free(fk);
}

/* ---- actions --------------------------------------------------------------------------------------------------------
 */

static void broadcast_pulls_the_reached_agents(void **state)
{
    (void)state;
    const char *ws = "{\"kind\": \"graph\", \"generator\": \"watts_strogatz\", \"n\": 1000, \"k\": 6, \"p\": 0.1}";
    agora_world *w = make(space_json(ws, 1), "{\"rule\": \"degroot\"}", 1, 2);
    agora_error err;
    double before[1000];
    memcpy(before, opinions(w), sizeof before);
    /* A list of ids, strength 0.5: exactly halfway to the target, nobody else moves. */
    assert_int_equal(
        apply_text(w, "{\"action\": \"broadcast\", \"opinion\": 0.9, \"reach\": [3, 700], \"strength\": 0.5}", &err),
        0);
    const double *x = opinions(w);
    for (int i = 0; i < 1000; i++) {
        double want = (i == 3 || i == 700) ? before[i] + 0.5 * (0.9 - before[i]) : before[i];
        assert_true(x[i] == want);
    }
    /* A fraction with strength 1: exactly round(0.25 * 1000) agents now hold 0.9 (none did before). */
    assert_int_equal(
        apply_text(w, "{\"action\": \"broadcast\", \"opinion\": 0.9, \"reach\": 0.25, \"strength\": 1}", &err), 0);
    int at = 0;
    for (int i = 0; i < 1000; i++)
        at += x[i] == 0.9;
    assert_int_equal(at, 250); /* agents 3 and 700 hold 0.9 only if they were among the 250 */
    agora_world_destroy(w);

    /* Voter: adopt with probability strength; strength 1 sets exactly the fraction's agents to 1. */
    w = make(space_json(ws, 1), "{\"rule\": \"voter\", \"initial_fraction\": 0}", 1, 2);
    assert_int_equal(
        apply_text(w, "{\"action\": \"broadcast\", \"opinion\": 1, \"reach\": 0.4, \"strength\": 1}", &err), 0);
    assert_true(get_metric(w, "mean") == 0.4);
    assert_int_equal(
        apply_text(w, "{\"action\": \"broadcast\", \"opinion\": 0, \"reach\": 1, \"strength\": 0.5}", &err), 0);
    const double m = get_metric(w, "mean");
    assert_true(m > 0.15 && m < 0.25); /* 400 ones each kept with probability 1/2: 200 +- 10 (sd), 5 sd margin */
    agora_world_destroy(w);
}

/* Applies a rejected action to `a` and nothing to `b` (same world); both must stay identical, now and after
 * stepping (so hidden state such as stubbornness is untouched too). */
static void expect_rejected(agora_world *a, agora_world *b, const char *action, int code, const char *msg_part)
{
    agora_error err;
    const int64_t n = agora_world_n(a);
    int rc = apply_text(a, action, &err);
    if (rc != code)
        fail_msg("%s: expected %d, got %d (%s)", action, code, rc, err.msg);
    if (msg_part && !strstr(err.msg, msg_part))
        fail_msg("%s: message \"%s\" lacks \"%s\"", action, err.msg, msg_part);
    assert_memory_equal(opinions(a), opinions(b), (size_t)n * sizeof(double));
    steps(a, 3);
    steps(b, 3);
    assert_memory_equal(opinions(a), opinions(b), (size_t)n * sizeof(double));
}

static void actions_reject_bad_values_and_leave_the_world_untouched(void **state)
{
    (void)state;
    const char *ws = "{\"kind\": \"graph\", \"generator\": \"watts_strogatz\", \"n\": 500, \"k\": 6, \"p\": 0.1}";
    const char *p = "{\"rule\": \"degroot\", \"rate\": 0.2}";
    agora_world *a = make(space_json(ws, 1), p, 1, 2), *b = make(space_json(ws, 1), p, 1, 2);
    expect_rejected(a, b, "{\"action\": \"broadcast\", \"opinion\": 1.5, \"reach\": 0.1, \"strength\": 1}",
                    AGORA_ESCHEMA, NULL);
    expect_rejected(a, b, "{\"action\": \"broadcast\", \"opinion\": 0.5, \"reach\": 2, \"strength\": 1}", AGORA_ESCHEMA,
                    NULL);
    expect_rejected(a, b, "{\"action\": \"broadcast\", \"opinion\": 0.5, \"reach\": [1, 500], \"strength\": 1}",
                    AGORA_EINVAL, "no agent 500");
    expect_rejected(a, b, "{\"action\": \"broadcast\", \"opinion\": 0.5, \"reach\": [-1], \"strength\": 1}",
                    AGORA_ESCHEMA, NULL);
    expect_rejected(a, b, "{\"action\": \"set_stubbornness\", \"agents\": \"all\", \"value\": -0.1}", AGORA_ESCHEMA,
                    NULL);
    expect_rejected(a, b, "{\"action\": \"set_stubbornness\", \"agents\": \"some\", \"value\": 0.5}", AGORA_ESCHEMA,
                    NULL);
    expect_rejected(a, b, "{\"action\": \"set_stubbornness\", \"agents\": [0, 9999], \"value\": 0.5}", AGORA_EINVAL,
                    "no agent 9999");
    expect_rejected(a, b, "{\"action\": \"rewire\", \"fraction\": 1.2}", AGORA_ESCHEMA, NULL);
    expect_rejected(a, b, "{\"action\": \"rewire\"}", AGORA_ESCHEMA, NULL);
    expect_rejected(a, b, "{\"action\": \"polarize\"}", AGORA_ESCHEMA, NULL);
    agora_world_destroy(a);
    agora_world_destroy(b);

    const char *others[2] = {"{\"kind\": \"grid\", \"width\": 20, \"height\": 20}",
                             "{\"kind\": \"mixed\", \"n\": 400}"};
    for (int s = 0; s < 2; s++) {
        a = make(space_json(others[s], 1), p, 1, 2);
        b = make(space_json(others[s], 1), p, 1, 2);
        expect_rejected(a, b, "{\"action\": \"rewire\", \"fraction\": 0.1}", AGORA_EINVAL,
                        s == 0 ? "a grid" : "a mixed");
        agora_world_destroy(a);
        agora_world_destroy(b);
    }
    a = make(space_json(ws, 1), "{\"rule\": \"voter\"}", 1, 2);
    b = make(space_json(ws, 1), "{\"rule\": \"voter\"}", 1, 2);
    expect_rejected(a, b, "{\"action\": \"broadcast\", \"opinion\": 0.5, \"reach\": 0.5, \"strength\": 1}",
                    AGORA_EINVAL, "0 or 1");
    agora_world_destroy(a);
    agora_world_destroy(b);
}

static void set_stubbornness_freezes_agents_at_their_current_opinion(void **state)
{
    (void)state;
    const char *ws = "{\"kind\": \"graph\", \"generator\": \"watts_strogatz\", \"n\": 500, \"k\": 6, \"p\": 0.1}";
    agora_world *w = make(space_json(ws, 1), "{\"rule\": \"deffuant\", \"epsilon\": 0.5}", 1, 2);
    agora_error err;
    steps(w, 5);
    double held[3];
    for (int k = 0; k < 3; k++)
        held[k] = opinions(w)[10 * k];
    assert_int_equal(apply_text(w, "{\"action\": \"set_stubbornness\", \"agents\": [0, 10, 20], \"value\": 1}", &err),
                     0);
    steps(w, 50);
    for (int k = 0; k < 3; k++)
        assert_true(opinions(w)[10 * k] == held[k]);
    /* "all" with value 1 freezes everyone. */
    assert_int_equal(apply_text(w, "{\"action\": \"set_stubbornness\", \"agents\": \"all\", \"value\": 1}", &err), 0);
    double before[500];
    memcpy(before, opinions(w), sizeof before);
    steps(w, 10);
    assert_memory_equal(before, opinions(w), sizeof before);
    /* And value 0 for all releases them: opinions move again. */
    assert_int_equal(apply_text(w, "{\"action\": \"set_stubbornness\", \"agents\": \"all\", \"value\": 0}", &err), 0);
    steps(w, 10);
    assert_true(memcmp(before, opinions(w), sizeof before) != 0);
    agora_world_destroy(w);
}

/* Recovers the model's current graph through its dynamics: all opinions to 0, agent j to 1, one DeGroot step with
 * rate 1 gives x_i = [j ~ i] / d_i. So x_i > 0 marks the neighbours of j and 1 / x_i is i's degree. */
static void probe_graph(agora_world *w, int n, int *adj, int *deg)
{
    agora_error err;
    char act[128];
    for (int j = 0; j < n; j++) {
        assert_int_equal(
            apply_text(w, "{\"action\": \"broadcast\", \"opinion\": 0, \"reach\": 1, \"strength\": 1}", &err), 0);
        snprintf(act, sizeof act, "{\"action\": \"broadcast\", \"opinion\": 1, \"reach\": [%d], \"strength\": 1}", j);
        assert_int_equal(apply_text(w, act, &err), 0);
        agora_world_step(w);
        const double *x = opinions(w);
        for (int i = 0; i < n; i++) {
            adj[i * n + j] = x[i] > 0;
            if (x[i] > 0) {
                const int d = (int)lround(1.0 / x[i]);
                assert_true(fabs(1.0 / x[i] - d) < 1e-9); /* one edge i-j, not two: x_i = 1/d_i exactly */
                if (deg[i] >= 0)
                    assert_int_equal(deg[i], d);
                deg[i] = d;
            }
        }
    }
}

static void rewire_moves_edges_and_keeps_the_graph_simple(void **state)
{
    (void)state;
    enum { N = 60 };
    const char *ws = "{\"kind\": \"graph\", \"generator\": \"watts_strogatz\", \"n\": 60, \"k\": 4, \"p\": 0.1}";
    agora_world *w = make(space_json(ws, 1), "{\"rule\": \"degroot\", \"rate\": 1}", 1, 2);
    static int before[N * N], after[N * N];
    int deg[N];
    memset(deg, -1, sizeof deg);
    probe_graph(w, N, before, deg);
    const agora_space *sp = agora_world_space(w);
    for (int i = 0; i < N; i++)
        for (int64_t e = sp->graph.offsets[i]; e < sp->graph.offsets[i + 1]; e++)
            assert_int_equal(before[i * N + sp->graph.neighbors[e]], 1); /* the probe sees the real graph */
    agora_error err;
    assert_int_equal(apply_text(w, "{\"action\": \"rewire\", \"fraction\": 0.5}", &err), 0);
    json_t *obs = NULL;
    assert_int_equal(model()->observe(w, "platform", &obs, &err), 0);
    const int64_t E = json_integer_value(json_object_get(obs, "edges"));
    const int64_t moved = json_integer_value(json_object_get(obs, "rewired_edges"));
    json_decref(obs);
    assert_int_equal(E, 120);
    assert_true(moved >= 55 && moved <= 60); /* 60 chosen; an edge stays only if 64 random ends all fail */
    memset(deg, -1, sizeof deg);
    probe_graph(w, N, after, deg);
    int edges = 0, same = 0;
    for (int i = 0; i < N; i++) {
        assert_int_equal(after[i * N + i], 0); /* no self-loops */
        for (int j = i + 1; j < N; j++) {
            assert_int_equal(after[i * N + j], after[j * N + i]); /* undirected */
            edges += after[i * N + j];
            same += after[i * N + j] && before[i * N + j];
        }
    }
    assert_int_equal(edges, 120); /* as many edges (no duplicates: a duplicate would show as x_i = 2/d_i) */
    /* Each moved edge removed one edge of the old graph, unless a later move recreated an edge removed earlier. */
    assert_true(same >= 120 - moved && same <= 120 - moved + 5);
    /* The world's own space is untouched (read-only to models). */
    int64_t total = 0;
    for (int i = 0; i < N; i++)
        total += sp->graph.offsets[i + 1] - sp->graph.offsets[i];
    assert_int_equal(total, 240);
    /* fraction 0 is a no-op. */
    assert_int_equal(apply_text(w, "{\"action\": \"rewire\", \"fraction\": 0}", &err), 0);
    agora_world_destroy(w);
}

static void model_is_listed_with_its_params_metrics_and_actions(void **state)
{
    (void)state;
    const agora_model *m = model();
    assert_true(m->spaces == (AGORA_SPACES_GRID | AGORA_SPACES_GRAPH | AGORA_SPACES_MIXED));
    const char *names[] = {"mean", "variance", "near_mean", "clusters", "major_clusters", "polarization"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        assert_int_equal(agora_model_metric_index(m, names[i]), (int)i);
    assert_int_equal(agora_model_field_index(m, "opinion"), 0);
    agora_error err;
    json_t *schema = agora_model_action_schema(m, &err);
    assert_non_null(schema);
    assert_int_equal(json_array_size(json_object_get(schema, "anyOf")), 3);
    json_decref(schema);
}

int main(void)
{
    agora_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(model_is_listed_with_its_params_metrics_and_actions),
        cmocka_unit_test(degroot_converges_to_left_eigenvector_consensus),
        cmocka_unit_test(friedkin_johnsen_reaches_the_linear_fixed_point),
        cmocka_unit_test(degroot_mixed_keeps_the_mean_and_reaches_consensus),
        cmocka_unit_test(deffuant_mixed_epsilon_above_half_reaches_consensus),
        cmocka_unit_test(deffuant_mixed_epsilon_0_2_ends_in_two_or_three_major_clusters),
        cmocka_unit_test(voter_ring_consensus_probability_is_initial_fraction),
        cmocka_unit_test(voter_star_consensus_probability_is_degree_weighted),
        cmocka_unit_test(voter_on_grid_and_mixed_keeps_binary_opinions),
        cmocka_unit_test(grid_steps_equal_the_neighbour_lists),
        cmocka_unit_test(hk_sorted_mixed_and_graph_steps_match_brute_force),
        cmocka_unit_test(hk_two_separated_camps_stay_two_clusters),
        cmocka_unit_test(hk_epsilon_one_is_consensus_at_the_mean_in_one_step),
        cmocka_unit_test(every_rule_is_bit_identical_at_1_2_and_4_threads),
        cmocka_unit_test(broadcast_pulls_the_reached_agents),
        cmocka_unit_test(actions_reject_bad_values_and_leave_the_world_untouched),
        cmocka_unit_test(set_stubbornness_freezes_agents_at_their_current_opinion),
        cmocka_unit_test(rewire_moves_edges_and_keeps_the_graph_simple),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
