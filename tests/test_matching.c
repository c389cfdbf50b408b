/* Tests of the random pairings: Feistel permutations are bijections and uniform; matchings are symmetric, use only
 * real neighbours, give every edge the same chance, and do not depend on the thread count. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agora/agora.h"

static const agora_rng_key KEY = UINT64_C(0x1234567890ABCDEF);

static void perm_is_a_bijection_for_every_size(void **state)
{
    (void)state;
    const uint64_t sizes[] = {1, 2, 3, 4, 5, 7, 16, 17, 100, 1000, 4097, 65536, 100003};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        const uint64_t n = sizes[s];
        unsigned char *seen = calloc(n, 1);
        agora_perm p;
        agora_perm_init(&p, n, KEY, 7, 16);
        for (uint64_t i = 0; i < n; i++) {
            uint64_t x = agora_perm_at(&p, i);
            assert_true(x < n);
            assert_int_equal(seen[x], 0);
            seen[x] = 1;
        }
        /* The batch form gives the same values. */
        for (uint64_t i = 0; i < n; i += AGORA_PERM_BATCH) {
            uint64_t fwd[AGORA_PERM_BATCH];
            const int c = n - i < AGORA_PERM_BATCH ? (int)(n - i) : AGORA_PERM_BATCH;
            agora_perm_batch(&p, i, c, fwd);
            for (int q = 0; q < c; q++) {
                assert_int_equal(fwd[q], agora_perm_at(&p, i + (uint64_t)q));
            }
        }
        free(seen);
    }
}

/* agora_perm_inverse undoes agora_perm_at, for domains whose halves differ in size and for the small ones. */
static void perm_inverse_undoes_it(void **state)
{
    (void)state;
    const uint64_t sizes[] = {1, 2, 3, 10, 255, 256, 257, 1000, 65537, 1000003};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        agora_perm p;
        agora_perm_init(&p, sizes[k], KEY, 5, 3);
        const uint64_t step = sizes[k] > 100000 ? 97 : 1;
        for (uint64_t i = 0; i < sizes[k]; i += step) {
            assert_int_equal(agora_perm_inverse(&p, agora_perm_at(&p, i)), i);
            assert_int_equal(agora__perm_feistel_inverse(&p, agora__perm_feistel(&p, i)), i);
        }
    }
}

static void perm_changes_with_step_and_stream(void **state)
{
    (void)state;
    const uint64_t n = 1000;
    agora_perm a, b, c;
    agora_perm_init(&a, n, KEY, 1, 16);
    agora_perm_init(&b, n, KEY, 2, 16);
    agora_perm_init(&c, n, KEY, 1, 17);
    int same_ab = 0, same_ac = 0;
    for (uint64_t i = 0; i < n; i++) {
        same_ab += agora_perm_at(&a, i) == agora_perm_at(&b, i);
        same_ac += agora_perm_at(&a, i) == agora_perm_at(&c, i);
    }
    /* Two independent permutations share about one fixed point on average. */
    assert_true(same_ab < 10);
    assert_true(same_ac < 10);
}

enum { BINS = 9 };

/* The share of [0, m) in bin i of BINS: the values v with floor(BINS v / m) == i. */
static double bin_share(uint64_t m, int i)
{
    return (ceil((double)(i + 1) * (double)m / BINS) - ceil((double)i * (double)m / BINS)) / (double)m;
}

/* Where element 0 lands, and where element 1 lands relative to it, over many steps: both uniform over BINS bins
 * (chi-square, 8 dof), for small and large domains, powers of two and not. */
static void perm_is_uniform(void **state)
{
    (void)state;
    const uint64_t sizes[] = {10, 16, 37, 1000, 1024, 100003, UINT64_C(3000000017)};
    const int trials = 50000;
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        const uint64_t n = sizes[s];
        double pos[BINS] = {0}, pair[BINS] = {0};
        for (int t = 0; t < trials; t++) {
            agora_perm p;
            agora_perm_init(&p, n, KEY, (uint64_t)t, 16);
            const uint64_t a = agora_perm_at(&p, 0), b = agora_perm_at(&p, 1);
            pos[(a * BINS) / n]++;
            pair[((((b + n - a) % n) - 1) * BINS) / (n - 1)]++; /* the offset, in [1, n) */
        }
        double c1 = 0, c2 = 0;
        for (int i = 0; i < BINS; i++) {
            const double e1 = trials * bin_share(n, i), e2 = trials * bin_share(n - 1, i);
            c1 += (pos[i] - e1) * (pos[i] - e1) / e1;
            c2 += (pair[i] - e2) * (pair[i] - e2) / e2;
        }
        printf("perm n=%llu: chi2 of the position %.1f, of the pair offset %.1f (8 dof)\n", (unsigned long long)n, c1,
               c2);
        /* chi-square 8 dof: P(X > 26.12) = 0.001 */
        assert_true(c1 < 26.12);
        assert_true(c2 < 26.12);
    }
}

static void check_matching(const agora_space *sp, const int64_t *partner, double *coverage)
{
    int64_t matched = 0;
    for (int64_t u = 0; u < sp->n; u++) {
        int64_t v = partner[u];
        if (v < 0)
            continue;
        assert_true(v < sp->n);
        assert_int_equal(partner[v], u);
        assert_true(v != u);
        matched++;
        if (sp->kind == AGORA_SPACE_GRAPH) {
            int found = 0;
            for (int64_t e = sp->graph.offsets[u]; e < sp->graph.offsets[u + 1]; e++)
                found |= sp->graph.neighbors[e] == v;
            assert_true(found);
        } else if (sp->kind == AGORA_SPACE_GRID) {
            int64_t nb[8];
            int k = agora_grid_neighbors(&sp->grid, u, nb), found = 0;
            for (int j = 0; j < k; j++)
                found |= nb[j] == v;
            assert_true(found);
        }
    }
    *coverage = (double)matched / (double)sp->n;
}

static agora_space *build(const char *json)
{
    json_error_t je;
    json_t *spec = json_loads(json, 0, &je);
    assert_non_null(spec);
    agora_space *sp = NULL;
    agora_error err;
    if (agora_space_create(spec, KEY, NULL, &sp, &err) != 0)
        fail_msg("%s", err.msg);
    json_decref(spec);
    return sp;
}

static void matchings_are_symmetric_neighbourly_and_thread_independent(void **state)
{
    (void)state;
    const char *spaces[] = {
        "{\"kind\": \"grid\", \"width\": 101, \"height\": 57, \"torus\": true, \"neighborhood\": \"moore\"}",
        "{\"kind\": \"grid\", \"width\": 64, \"height\": 40, \"torus\": false, \"neighborhood\": \"von_neumann\"}",
        "{\"kind\": \"grid\", \"width\": 1, \"height\": 9, \"torus\": true, \"neighborhood\": \"moore\"}",
        "{\"kind\": \"graph\", \"generator\": \"watts_strogatz\", \"n\": 20000, \"k\": 10, \"p\": 0.1}",
        "{\"kind\": \"graph\", \"generator\": \"barabasi_albert\", \"n\": 5000, \"m\": 3}",
        "{\"kind\": \"mixed\", \"n\": 10001}",
        "{\"kind\": \"mixed\", \"n\": 1}",
    };
    for (size_t s = 0; s < sizeof spaces / sizeof spaces[0]; s++) {
        agora_space *sp = build(spaces[s]);
        const int64_t n = sp->n;
        int64_t *p1 = malloc((size_t)n * sizeof *p1), *p2 = malloc((size_t)n * sizeof *p2),
                *scratch = malloc((size_t)n * sizeof *scratch);
        double cov_sum = 0;
        for (uint64_t step = 0; step < 20; step++) {
            double cov;
            agora_match(sp, KEY, step, 16, 1, p1, scratch);
            check_matching(sp, p1, &cov);
            cov_sum += cov;
            /* The choices form the same matching. */
            agora_match_choices(sp, KEY, step, 16, 2, p2);
            for (int64_t u = 0; u < n; u++)
                assert_int_equal(p2[u] >= 0 && p2[p2[u]] == u ? p2[u] : -1, p1[u]);
            for (int threads = 2; threads <= 4; threads += 2) {
                agora_match(sp, KEY, step, 16, threads, p2, scratch);
                assert_memory_equal(p1, p2, (size_t)n * sizeof *p1);
            }
            /* Block by block, without the other agents' choices: the same partners, for blocks of any size. */
            const int64_t blocks[] = {1, 7, 4096, n};
            for (size_t b = 0; b < sizeof blocks / sizeof blocks[0]; b++)
                for (int64_t lo = 0; lo < n; lo += blocks[b]) {
                    const int64_t hi = lo + blocks[b] < n ? lo + blocks[b] : n;
                    agora_match_partners_range(sp, KEY, step, 16, lo, hi, p2, scratch);
                    if (memcmp(p2, p1 + lo, (size_t)(hi - lo) * sizeof *p2) != 0)
                        fail_msg("%s step %llu: partners of [%lld, %lld) differ", spaces[s], (unsigned long long)step,
                                 (long long)lo, (long long)hi);
                    if (blocks[b] == 1 && lo >= 64 && n > 1000)
                        break; /* one agent at a time: the first 64 */
                }
        }
        double mean = cov_sum / 20;
        printf("%-100s paired %.1f %% of agents per step\n", spaces[s], 100 * mean);
        if (sp->kind == AGORA_SPACE_MIXED)
            assert_true(fabs(mean - (double)(n - n % 2) / (double)n) < 1e-12);
        else
            assert_true(mean > 0.25);
        free(p1);
        free(p2);
        free(scratch);
        agora_space_destroy(sp);
    }
}

/* On a ring every edge must act equally often: the frequencies of the 12 edges over many steps are uniform. */
static void every_edge_is_equally_likely(void **state)
{
    (void)state;
    const int64_t n = 12;
    int64_t edges[24];
    for (int64_t i = 0; i < n; i++) {
        edges[2 * i] = i;
        edges[2 * i + 1] = (i + 1) % n;
    }
    agora_space *sp = NULL;
    agora_error err;
    assert_int_equal(agora_space_graph_from_edges(n, edges, n, &sp, &err), 0);
    int64_t partner[12], scratch[12];
    double count[12] = {0}, total = 0;
    for (uint64_t step = 0; step < 40000; step++) {
        agora_match(sp, KEY, step, 16, 1, partner, scratch);
        for (int64_t i = 0; i < n; i++)
            if (partner[i] == (i + 1) % n) {
                count[i]++;
                total++;
            }
    }
    double e = total / (double)n, chi = 0;
    for (int i = 0; i < 12; i++)
        chi += (count[i] - e) * (count[i] - e) / e;
    /* chi-square 11 dof: P(X > 31.26) = 0.001 */
    assert_true(chi < 31.26);
    /* On a cycle an edge wins when it beats both adjacent edges: probability 1/3. */
    assert_true(fabs(total / (40000.0 * (double)n) - 1.0 / 3.0) < 0.01);
    agora_space_destroy(sp);
}

static void grid_neighbours_follow_the_geometry(void **state)
{
    (void)state;
    agora_space *sp = NULL;
    agora_error err;
    int64_t nb[8];
    assert_int_equal(agora_space_grid_create(5, 4, 0, AGORA_MOORE, &sp, &err), 0);
    assert_int_equal(agora_grid_neighbors(&sp->grid, 0, nb), 3); /* a corner */
    assert_int_equal(agora_grid_neighbors(&sp->grid, 2, nb), 5); /* an edge */
    assert_int_equal(agora_grid_neighbors(&sp->grid, 7, nb), 8); /* inside */
    agora_space_destroy(sp);
    assert_int_equal(agora_space_grid_create(5, 4, 1, AGORA_VON_NEUMANN, &sp, &err), 0);
    assert_int_equal(agora_grid_neighbors(&sp->grid, 0, nb), 4);
    int64_t want[4] = {4, 1, 15, 5}; /* west wraps to x=4, east, north wraps to y=3, south */
    assert_memory_equal(nb, want, sizeof want);
    agora_space_destroy(sp);
}

/* The stencil gives an interior cell exactly agora_grid_neighbors' list, in its order; the interior is columns 1 ..
 * w - 2 of rows 1 .. h - 2, empty on grids narrower or lower than 3, for every kind of grid. */
static void the_stencil_is_the_interior_neighbourhood(void **state)
{
    (void)state;
    const int64_t sizes[][2] = {{1, 1}, {2, 5}, {3, 3}, {5, 4}, {7, 2}, {9, 6}};
    for (size_t z = 0; z < sizeof sizes / sizeof sizes[0]; z++)
        for (int torus = 0; torus < 2; torus++)
            for (int nbh = AGORA_MOORE; nbh <= AGORA_VON_NEUMANN; nbh++) {
                agora_space *sp = NULL;
                agora_error err;
                assert_int_equal(
                    agora_space_grid_create(sizes[z][0], sizes[z][1], torus, (agora_neighborhood)nbh, &sp, &err), 0);
                const agora_grid *g = &sp->grid;
                agora_stencil st;
                agora_grid_stencil(g, &st);
                assert_int_equal(st.count, nbh == AGORA_MOORE ? 8 : 4);
                int64_t interior = 0;
                for (int64_t y = 0; y < g->height; y++) {
                    int64_t i0, i1;
                    agora_grid_interior(g, y, &i0, &i1);
                    assert_true(i0 >= y * g->width && i1 <= (y + 1) * g->width && i0 <= i1);
                    for (int64_t i = i0; i < i1; i++, interior++) {
                        int64_t nb[8];
                        assert_int_equal(agora_grid_neighbors(g, i, nb), st.count);
                        for (int k = 0; k < st.count; k++)
                            assert_int_equal(nb[k], i + st.off[k]);
                    }
                }
                const int64_t w = g->width, h = g->height;
                assert_int_equal(interior, w >= 3 && h >= 3 ? (w - 2) * (h - 2) : 0);
                agora_space_destroy(sp);
            }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(perm_is_a_bijection_for_every_size),
        cmocka_unit_test(perm_inverse_undoes_it),
        cmocka_unit_test(perm_changes_with_step_and_stream),
        cmocka_unit_test(perm_is_uniform),
        cmocka_unit_test(matchings_are_symmetric_neighbourly_and_thread_independent),
        cmocka_unit_test(every_edge_is_equally_likely),
        cmocka_unit_test(grid_neighbours_follow_the_geometry),
        cmocka_unit_test(the_stencil_is_the_interior_neighbourhood),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
