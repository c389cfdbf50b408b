/* Tests of the space module: grids (constructor, `space:` specs and their errors) and graphs (every igraph
 * generator, the edge-list reader, agora_space_graph_from_edges, determinism across seeds and threads, and a
 * million-vertex build). Every graph is checked against the CSR contract in space.h: rows sorted, no self-loops, no
 * repeated neighbours, and j in row i exactly when i is in row j. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <igraph.h>
#include <pthread.h>
#include <time.h>

#include "agora/agora.h"
#include "support.h"

/* ---- helpers --------------------------------------------------------------------------------------------------- */

static json_t *spec_of(const char *text)
{
    json_error_t jerr;
    json_t *spec = json_loads(text, 0, &jerr);
    if (!spec)
        fail_msg("bad JSON in test: %s (%s)", jerr.text, text);
    return spec;
}

/* Builds a space from JSON text and fails the test (with agora's message) if it cannot. */
static agora_space *build(const char *text, uint64_t key, const char *base_dir)
{
    json_t *spec = spec_of(text);
    agora_space *s = NULL;
    agora_error err;
    int rc = agora_space_create(spec, key, base_dir, &s, &err);
    json_decref(spec);
    if (rc != 0) {
        char buf[1024];
        fail_msg("agora_space_create(%s): %s", text, agora_error_format(&err, buf, sizeof buf));
    }
    assert_non_null(s);
    return s;
}

/* Expects agora_space_create to fail; returns the error for the caller to inspect. */
static agora_error build_fails(const char *text, const char *base_dir, int code)
{
    json_t *spec = spec_of(text);
    agora_space *s = (agora_space *)&s; /* must be reset to NULL on failure */
    agora_error err;
    memset(&err, 0, sizeof err);
    int rc = agora_space_create(spec, 1, base_dir, &s, &err);
    json_decref(spec);
    assert_int_equal(rc, code);
    assert_int_equal(err.code, code);
    assert_null(s);
    return err;
}

static int64_t degree(const agora_space *s, int64_t i)
{
    return s->graph.offsets[i + 1] - s->graph.offsets[i];
}

static int row_has(const agora_space *s, int64_t i, int64_t j)
{
    const int32_t *row = s->graph.neighbors + s->graph.offsets[i];
    int64_t lo = 0, hi = degree(s, i);
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (row[mid] < j)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < degree(s, i) && row[lo] == j;
}

/* The CSR contract: a graph space with offsets[0] = 0, non-decreasing offsets ending at 2*edges, every row strictly
 * increasing (sorted, no repeats) with ids in [0, n) and no self-loop, and every edge present in both rows. */
static void check_simple_graph(const agora_space *s)
{
    assert_int_equal(s->kind, AGORA_SPACE_GRAPH);
    assert_true(s->n >= 1);
    const int64_t *off = s->graph.offsets;
    const int32_t *nbr = s->graph.neighbors;
    assert_non_null(off);
    assert_non_null(nbr);
    assert_int_equal(off[0], 0);
    assert_int_equal(off[s->n], 2 * s->graph.edges);
    int64_t degree_sum = 0;
    for (int64_t i = 0; i < s->n; i++) {
        assert_true(off[i + 1] >= off[i]);
        degree_sum += off[i + 1] - off[i];
        for (int64_t k = off[i]; k < off[i + 1]; k++) {
            int64_t j = nbr[k];
            if (j < 0 || j >= s->n)
                fail_msg("row %lld holds id %lld outside [0, %lld)", (long long)i, (long long)j, (long long)s->n);
            if (j == i)
                fail_msg("row %lld holds a self-loop", (long long)i);
            if (k > off[i] && nbr[k - 1] >= j)
                fail_msg("row %lld is not strictly increasing at %lld", (long long)i, (long long)(k - off[i]));
            if (!row_has(s, j, i))
                fail_msg("edge %lld-%lld is missing from row %lld", (long long)i, (long long)j, (long long)j);
        }
    }
    assert_int_equal(degree_sum, 2 * s->graph.edges);
}

static int same_csr(const agora_space *a, const agora_space *b)
{
    return a->n == b->n && a->graph.edges == b->graph.edges &&
           memcmp(a->graph.offsets, b->graph.offsets, (size_t)(a->n + 1) * sizeof(int64_t)) == 0 &&
           memcmp(a->graph.neighbors, b->graph.neighbors, (size_t)(2 * a->graph.edges) * sizeof(int32_t)) == 0;
}

static const char *write_file(const char *name, const char *text)
{
    const char *path = test_tmp_path(name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static double seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- grids ----------------------------------------------------------------------------------------------------- */

static void grid_create_sets_size_and_layout(void **state)
{
    (void)state;
    agora_space *s = NULL;
    agora_error err;
    assert_int_equal(agora_space_grid_create(20, 10, 0, AGORA_VON_NEUMANN, &s, &err), 0);
    assert_int_equal(s->kind, AGORA_SPACE_GRID);
    assert_int_equal(s->n, 200);
    assert_int_equal(s->grid.width, 20);
    assert_int_equal(s->grid.height, 10);
    assert_int_equal(s->grid.torus, 0);
    assert_int_equal(s->grid.nbhd, AGORA_VON_NEUMANN);
    assert_int_equal(agora_space_bytes(s), 0);
    char buf[128];
    assert_string_equal(agora_space_describe(s, buf, sizeof buf), "grid 20x10 bounded von_neumann");
    agora_space_destroy(s);
    agora_space_destroy(NULL);
}

static void grid_create_rejects_bad_sizes(void **state)
{
    (void)state;
    agora_space *s = (agora_space *)&s;
    agora_error err;
    assert_int_equal(agora_space_grid_create(0, 10, 1, AGORA_MOORE, &s, &err), AGORA_EINVAL);
    assert_null(s);
    assert_int_equal(agora_space_grid_create(10, -1, 1, AGORA_MOORE, &s, &err), AGORA_EINVAL);
    /* 2^21 x 2^20 = 2^41 cells is above the 2^40 limit; 2^20 x 2^20 is not (but is not allocated: a grid stores
     * nothing per cell). */
    assert_int_equal(agora_space_grid_create(INT64_C(1) << 21, INT64_C(1) << 20, 1, AGORA_MOORE, &s, &err),
                     AGORA_EINVAL);
    assert_int_equal(agora_space_grid_create(INT64_C(1) << 20, INT64_C(1) << 20, 1, AGORA_MOORE, &s, &err), 0);
    assert_int_equal(s->n, INT64_C(1) << 40);
    agora_space_destroy(s);
    assert_int_equal(agora_space_grid_create(4, 4, 1, (agora_neighborhood)7, &s, &err), AGORA_EINVAL);
    assert_string_equal(err.where, "space.neighborhood");
}

static void grid_spec_defaults_to_torus_moore(void **state)
{
    (void)state;
    agora_space *s = build("{\"kind\": \"grid\", \"width\": 7, \"height\": 5}", 1, NULL);
    assert_int_equal(s->kind, AGORA_SPACE_GRID);
    assert_int_equal(s->n, 35);
    assert_int_equal(s->grid.torus, 1);
    assert_int_equal(s->grid.nbhd, AGORA_MOORE);
    agora_space_destroy(s);

    s = build("{\"kind\": \"grid\", \"width\": 3, \"height\": 4, \"torus\": false, \"neighborhood\": \"von_neumann\"}",
              1, NULL);
    assert_int_equal(s->n, 12);
    assert_int_equal(s->grid.torus, 0);
    assert_int_equal(s->grid.nbhd, AGORA_VON_NEUMANN);
    agora_space_destroy(s);
}

static void space_check_names_the_bad_key(void **state)
{
    (void)state;
    static const struct {
        const char *spec, *where;
    } cases[] = {
        {"{\"kind\": \"grid\", \"width\": 3, \"height\": 3, \"foo\": 1}", "space.foo"},
        {"{\"kind\": \"grid\", \"width\": 3, \"height\": 3, \"neighborhood\": \"hex\"}", "space.neighborhood"},
        {"{\"kind\": \"grid\", \"height\": 3}", "space.width"},
        {"{\"kind\": \"grid\", \"width\": 0, \"height\": 3}", "space.width"},
        {"{\"kind\": \"ring\"}", "space.kind"},
        {"{\"kind\": \"graph\", \"generator\": \"watts_strogatz\", \"n\": 100, \"k\": 3, \"p\": 0.1}", "space.k"},
        {"{\"kind\": \"graph\", \"generator\": \"file\"}", "space.path"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *spec = spec_of(cases[i].spec);
        agora_error err;
        memset(&err, 0, sizeof err);
        int rc = agora_space_check(spec, &err);
        json_decref(spec);
        if (rc != AGORA_ESCHEMA || strcmp(err.where, cases[i].where) != 0)
            fail_msg("%s: expected ESCHEMA at %s, got %d at \"%s\" (%s)", cases[i].spec, cases[i].where, rc,
                     err.where, err.msg);
    }
    /* agora_space_create reports the same error and builds nothing. */
    agora_error err = build_fails("{\"kind\": \"grid\", \"width\": 3, \"height\": 3, \"foo\": 1}", NULL, AGORA_ESCHEMA);
    assert_string_equal(err.where, "space.foo");
}

/* ---- graphs from edge arrays ------------------------------------------------------------------------------------ */

static void from_edges_drops_loops_and_repeats(void **state)
{
    (void)state;
    /* A triangle 0-1-2 given with a repeat in each direction, a self-loop, and vertex 3 isolated. */
    const int64_t edges[] = {0, 1, 1, 0, 1, 2, 2, 0, 2, 2, 0, 1, 2, 1};
    agora_space *s = NULL;
    agora_error err;
    assert_int_equal(agora_space_graph_from_edges(4, edges, 7, &s, &err), 0);
    check_simple_graph(s);
    assert_int_equal(s->n, 4);
    assert_int_equal(s->graph.edges, 3);
    assert_string_equal(s->graph.generator, "edges");
    const int64_t offsets[] = {0, 2, 4, 6, 6};
    const int32_t neighbors[] = {1, 2, 0, 2, 0, 1};
    assert_memory_equal(s->graph.offsets, offsets, sizeof offsets);
    assert_memory_equal(s->graph.neighbors, neighbors, sizeof neighbors);
    assert_int_equal(agora_space_bytes(s), 5 * 8 + 6 * 4);
    agora_space_destroy(s);

    /* No edges at all is a valid graph of isolated vertices. */
    assert_int_equal(agora_space_graph_from_edges(3, NULL, 0, &s, &err), 0);
    check_simple_graph(s);
    assert_int_equal(s->graph.edges, 0);
    agora_space_destroy(s);
}

static void from_edges_rejects_bad_ids_and_sizes(void **state)
{
    (void)state;
    agora_space *s = (agora_space *)&s;
    agora_error err;
    const int64_t out_of_range[] = {0, 1, 1, 5};
    assert_int_equal(agora_space_graph_from_edges(5, out_of_range, 2, &s, &err), AGORA_EINVAL);
    assert_null(s);
    assert_non_null(strstr(err.msg, "edge 1 (1, 5)"));
    const int64_t negative[] = {-1, 0};
    assert_int_equal(agora_space_graph_from_edges(5, negative, 1, &s, &err), AGORA_EINVAL);
    assert_int_equal(agora_space_graph_from_edges(INT64_C(1) << 31, negative, 0, &s, &err), AGORA_EINVAL);
    assert_int_equal(agora_space_graph_from_edges(0, NULL, 0, &s, &err), AGORA_EINVAL);
    assert_int_equal(agora_space_graph_from_edges(5, NULL, 1, &s, &err), AGORA_EINVAL);
}

/* ---- generators ------------------------------------------------------------------------------------------------ */

static void watts_strogatz_keeps_nk_over_2_edges(void **state)
{
    (void)state;
    agora_space *s =
        build("{\"kind\": \"graph\", \"generator\": \"watts_strogatz\", \"n\": 2000, \"k\": 10, \"p\": 0.1}", 7, NULL);
    check_simple_graph(s);
    assert_int_equal(s->n, 2000);
    assert_string_equal(s->graph.generator, "watts_strogatz");
    /* Rewiring moves edges and refuses loops and repeats, so the count n*k/2 is exact, and so the mean degree is k. */
    assert_int_equal(s->graph.edges, 2000 * 10 / 2);
    assert_int_equal(s->graph.offsets[s->n], 2000 * 10);
    /* With p = 0.1 some vertices must have gained or lost edges (P(all degrees 10) is astronomically small). */
    int64_t not_k = 0;
    for (int64_t i = 0; i < s->n; i++)
        not_k += degree(s, i) != 10;
    assert_true(not_k > 0);
    agora_space_destroy(s);
}

static void watts_strogatz_without_rewiring_is_the_ring_lattice(void **state)
{
    (void)state;
    agora_space *s = build("{\"kind\": \"graph\", \"generator\": \"watts_strogatz\", \"n\": 50, \"k\": 6, \"p\": 0}", 7,
                           NULL);
    check_simple_graph(s);
    assert_int_equal(s->graph.edges, 150);
    for (int64_t i = 0; i < 50; i++) {
        assert_int_equal(degree(s, i), 6);
        for (int64_t d = 1; d <= 3; d++) {
            assert_true(row_has(s, i, (i + d) % 50));
            assert_true(row_has(s, i, (i - d + 50) % 50));
        }
    }
    agora_space_destroy(s);
}

static void barabasi_albert_has_the_psumtree_edge_count(void **state)
{
    (void)state;
    agora_space *s =
        build("{\"kind\": \"graph\", \"generator\": \"barabasi_albert\", \"n\": 3000, \"m\": 3}", 11, NULL);
    check_simple_graph(s);
    assert_int_equal(s->n, 3000);
    /* igraph's psumtree algorithm starts from one vertex and vertex i (1 <= i < n) cites min(m, i) distinct earlier
     * vertices: the first m vertices form a clique of m(m-1)/2 edges and the other n - m bring m each. */
    int64_t n = 3000, m = 3;
    assert_int_equal(s->graph.edges, m * (m - 1) / 2 + (n - m) * m);
    /* Every vertex cites (or is cited by) at least min(m, i) others, so the minimum degree is m... */
    int64_t max_degree = 0;
    for (int64_t i = 0; i < n; i++) {
        assert_true(degree(s, i) >= m);
        if (degree(s, i) > max_degree)
            max_degree = degree(s, i);
    }
    /* ...and preferential attachment makes hubs: the largest degree grows like m*sqrt(n) (about 160 here), while a
     * uniform-attachment tree of the same size would rarely pass 40. 60 separates the two with a wide margin. */
    assert_true(max_degree > 60);
    agora_space_destroy(s);
}

static void erdos_renyi_gnm_has_exactly_m_edges(void **state)
{
    (void)state;
    agora_space *s = build("{\"kind\": \"graph\", \"generator\": \"erdos_renyi\", \"n\": 1001, \"mean_degree\": 5}", 3,
                           NULL);
    check_simple_graph(s);
    assert_int_equal(s->n, 1001);
    /* m = round(1001 * 5 / 2) = round(2502.5), and round() takes halves away from zero: 2503. */
    assert_int_equal(s->graph.edges, 2503);
    assert_string_equal(s->graph.generator, "erdos_renyi");
    agora_space_destroy(s);
}

static void erdos_renyi_gnp_edge_count_is_binomial(void **state)
{
    (void)state;
    agora_space *s = build("{\"kind\": \"graph\", \"generator\": \"erdos_renyi\", \"n\": 2000, \"p\": 0.005}", 3, NULL);
    check_simple_graph(s);
    /* Edges ~ Binomial(n(n-1)/2, p): mean 9995, sd sqrt(9995 * 0.995) = 99.7. Five sd (a 1-in-1.7-million miss,
     * and the seed is fixed anyway) is +-500. */
    assert_true(s->graph.edges > 9995 - 500 && s->graph.edges < 9995 + 500);
    agora_space_destroy(s);
}

static void lattice_torus_is_4_regular_in_grid_order(void **state)
{
    (void)state;
    const int64_t w = 10, h = 7;
    agora_space *s = build("{\"kind\": \"graph\", \"generator\": \"lattice\", \"width\": 10, \"height\": 7}", 1, NULL);
    check_simple_graph(s);
    assert_int_equal(s->n, w * h);
    assert_int_equal(s->graph.edges, 2 * w * h);
    for (int64_t y = 0; y < h; y++)
        for (int64_t x = 0; x < w; x++) {
            int64_t i = x + w * y;
            assert_int_equal(degree(s, i), 4);
            /* Vertex index x + width*y: the neighbours are the four wrapped grid neighbours. */
            assert_true(row_has(s, i, (x + 1) % w + w * y));
            assert_true(row_has(s, i, (x + w - 1) % w + w * y));
            assert_true(row_has(s, i, x + w * ((y + 1) % h)));
            assert_true(row_has(s, i, x + w * ((y + h - 1) % h)));
        }
    agora_space_destroy(s);
}

static void lattice_bounded_has_degree_2_corners(void **state)
{
    (void)state;
    const int64_t w = 10, h = 7;
    agora_space *s = build(
        "{\"kind\": \"graph\", \"generator\": \"lattice\", \"width\": 10, \"height\": 7, \"torus\": false}", 1, NULL);
    check_simple_graph(s);
    assert_int_equal(s->graph.edges, (w - 1) * h + w * (h - 1));
    assert_int_equal(degree(s, 0), 2);
    assert_int_equal(degree(s, w - 1), 2);
    assert_int_equal(degree(s, w * (h - 1)), 2);
    assert_int_equal(degree(s, w * h - 1), 2);
    assert_int_equal(degree(s, 1), 3);          /* an edge cell */
    assert_int_equal(degree(s, 1 + w * 1), 4); /* an interior cell */
    agora_space_destroy(s);
}

static void lattice_narrow_torus_drops_wrapped_repeats(void **state)
{
    (void)state;
    /* On a 2-wide torus, x+1 and x-1 are the same cell; on a 1-high torus, y+-1 is the cell itself. */
    agora_space *s = build("{\"kind\": \"graph\", \"generator\": \"lattice\", \"width\": 2, \"height\": 1}", 1, NULL);
    check_simple_graph(s);
    assert_int_equal(s->n, 2);
    assert_int_equal(s->graph.edges, 1);
    agora_space_destroy(s);
}

static void same_key_same_graph_other_key_other_graph(void **state)
{
    (void)state;
    static const char *specs[] = {
        "{\"kind\": \"graph\", \"generator\": \"watts_strogatz\", \"n\": 1000, \"k\": 4, \"p\": 0.2}",
        "{\"kind\": \"graph\", \"generator\": \"barabasi_albert\", \"n\": 1000, \"m\": 2}",
        "{\"kind\": \"graph\", \"generator\": \"erdos_renyi\", \"n\": 1000, \"mean_degree\": 4}",
        "{\"kind\": \"graph\", \"generator\": \"erdos_renyi\", \"n\": 1000, \"p\": 0.004}",
    };
    agora_rng_key k1 = agora_rng_key_from_seed(42), k2 = agora_rng_key_from_seed(43);
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
        agora_space *a = build(specs[i], k1, NULL), *b = build(specs[i], k1, NULL), *c = build(specs[i], k2, NULL);
        if (!same_csr(a, b))
            fail_msg("%s: the same key gave different graphs", specs[i]);
        if (same_csr(a, c))
            fail_msg("%s: different keys gave the same graph", specs[i]);
        agora_space_destroy(a);
        agora_space_destroy(b);
        agora_space_destroy(c);
    }
}

static void hopeless_sizes_fail_fast(void **state)
{
    (void)state;
    /* spec.c accepts n and k separately; together they ask for 2^61 edges, which must be refused before igraph
     * starts (it would otherwise run until the process is killed for memory). */
    agora_error err = build_fails(
        "{\"kind\": \"graph\", \"generator\": \"watts_strogatz\", \"n\": 2147483647, \"k\": 2147483646, \"p\": 0.5}",
        NULL, AGORA_ENOMEM);
    assert_string_equal(err.where, "space");
    assert_non_null(strstr(err.msg, "GB"));
    err = build_fails("{\"kind\": \"graph\", \"generator\": \"erdos_renyi\", \"n\": 2147483647, \"p\": 1}", NULL,
                      AGORA_ENOMEM);
}

/* ---- edge-list files ------------------------------------------------------------------------------------------- */

static void karate_file_loads_against_base_dir(void **state)
{
    (void)state;
    /* A relative path resolved against base_dir (the source tree), not the working directory (the build tree). */
    agora_space *s = build(
        "{\"kind\": \"graph\", \"generator\": \"file\", \"path\": \"data/networks/karate.edgelist\"}", 1,
        AGORA_SOURCE_DIR);
    check_simple_graph(s);
    assert_int_equal(s->n, 34);
    assert_int_equal(s->graph.edges, 78);
    assert_int_equal(degree(s, 0), 16);  /* the instructor, "Mr. Hi" */
    assert_int_equal(degree(s, 33), 17); /* the administrator */
    assert_string_equal(s->graph.generator, "file");
    char buf[128];
    assert_string_equal(agora_space_describe(s, buf, sizeof buf), "graph file n=34 edges=78");

    /* The shipped file must be igraph's own copy of Zachary's network, edge for edge. */
    agora_init();
    igraph_t z;
    assert_int_equal(igraph_famous(&z, "Zachary"), IGRAPH_SUCCESS);
    assert_int_equal(igraph_vcount(&z), 34);
    assert_int_equal(igraph_ecount(&z), 78);
    for (igraph_integer_t e = 0; e < igraph_ecount(&z); e++)
        if (!row_has(s, IGRAPH_FROM(&z, e), IGRAPH_TO(&z, e)))
            fail_msg("karate.edgelist lacks Zachary edge %lld-%lld", (long long)IGRAPH_FROM(&z, e),
                     (long long)IGRAPH_TO(&z, e));
    igraph_destroy(&z);
    agora_space_destroy(s);

    /* An absolute path ignores base_dir. */
    char spec[4200];
    snprintf(spec, sizeof spec, "{\"kind\": \"graph\", \"generator\": \"file\", \"path\": \"%s\"}",
             test_src_path("data/networks/karate.edgelist"));
    s = build(spec, 1, "/nonexistent");
    assert_int_equal(s->graph.edges, 78);
    agora_space_destroy(s);
}

static void file_drops_loops_repeats_and_weights(void **state)
{
    (void)state;
    write_file("messy.edgelist", "% KONECT-style header\n"
                                 "# and a hash comment\n"
                                 "\n"
                                 "0 1\n"
                                 "1 0 2.5\n"
                                 "  0\t1   # repeated, with a trailing comment\n"
                                 "2 2\n"
                                 "1 2 1e-3\r\n"
                                 "4 2\n");
    /* Relative to base_dir = the test scratch directory. */
    agora_space *s = build("{\"kind\": \"graph\", \"generator\": \"file\", \"path\": \"messy.edgelist\"}", 1,
                           AGORA_TEST_TMP);
    check_simple_graph(s);
    assert_int_equal(s->n, 5); /* max id 4, vertex 3 isolated */
    assert_int_equal(s->graph.edges, 3);
    assert_int_equal(degree(s, 3), 0);
    assert_true(row_has(s, 0, 1) && row_has(s, 1, 2) && row_has(s, 2, 4));
    agora_space_destroy(s);
}

static void file_index_base_1(void **state)
{
    (void)state;
    write_file("one_based.edgelist", "1 2\n2 3\n3 1\n3 4\n");
    agora_space *s = build(
        "{\"kind\": \"graph\", \"generator\": \"file\", \"path\": \"one_based.edgelist\", \"index_base\": 1}", 1,
        AGORA_TEST_TMP);
    check_simple_graph(s);
    assert_int_equal(s->n, 4);
    assert_int_equal(s->graph.edges, 4);
    assert_true(row_has(s, 0, 1) && row_has(s, 1, 2) && row_has(s, 2, 0) && row_has(s, 2, 3));
    agora_space_destroy(s);

    /* Id 0 in a 1-based file is an error on its line. */
    write_file("zero_in_one_based.edgelist", "1 2\n0 2\n");
    agora_error err = build_fails(
        "{\"kind\": \"graph\", \"generator\": \"file\", \"path\": \"zero_in_one_based.edgelist\", \"index_base\": 1}",
        AGORA_TEST_TMP, AGORA_EPARSE);
    assert_int_equal(err.line, 2);
    assert_non_null(strstr(err.msg, "below index_base 1"));
}

static void file_bad_line_reports_its_number(void **state)
{
    (void)state;
    const char *path = write_file("bad.edgelist", "# header\n0 1\n\n1 2\n3 x\n4 5\n");
    agora_error err = build_fails("{\"kind\": \"graph\", \"generator\": \"file\", \"path\": \"bad.edgelist\"}",
                                  AGORA_TEST_TMP, AGORA_EPARSE);
    assert_string_equal(err.where, path);
    assert_int_equal(err.line, 5);
    assert_string_equal(err.msg, "expected two vertex ids, got \"3 x\"");

    static const struct {
        const char *text;
        int line;
        const char *msg_part;
    } cases[] = {
        {"0 1\n7\n", 2, "expected two vertex ids"},
        {"-1 2\n", 1, "expected two vertex ids"},
        {"0 1\n1 2 heavy\n", 2, "optional numeric weight"},
        {"0 1 1 1\n", 1, "optional numeric weight"},
        {"0 3000000000\n", 1, "too large"},
        {"# only comments\n\n", 0, "no edges"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_file("bad_case.edgelist", cases[i].text);
        err = build_fails("{\"kind\": \"graph\", \"generator\": \"file\", \"path\": \"bad_case.edgelist\"}",
                          AGORA_TEST_TMP, AGORA_EPARSE);
        if (err.line != cases[i].line || !strstr(err.msg, cases[i].msg_part))
            fail_msg("case %zu: expected line %d and \"%s\", got line %d: %s", i, cases[i].line, cases[i].msg_part,
                     err.line, err.msg);
    }
}

/* Ids of 19 digits and more: "too large", not a product wrapped round to a negative id "below index_base" (found by
 * tests/fuzz/fuzz_edgelist: signed overflow in the digit loop, undefined behaviour). */
static void file_ids_beyond_64_bits_are_too_large(void **state)
{
    (void)state;
    static const char *const texts[] = {"0 10000000000000000000\n", "22222222222222222222222222222222 1\n",
                                        "0 9223372036854775807\n", "0 4611686018427387904\n"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        write_file("huge_id.edgelist", texts[i]);
        agora_error err = build_fails("{\"kind\": \"graph\", \"generator\": \"file\", \"path\": \"huge_id.edgelist\"}",
                                      AGORA_TEST_TMP, AGORA_EPARSE);
        if (err.line != 1 || !strstr(err.msg, "is too large") || strstr(err.msg, "id -"))
            fail_msg("%s: expected \"too large\" on line 1, got line %d: %s", texts[i], err.line, err.msg);
    }
}

static void file_missing_is_eio_naming_both_paths(void **state)
{
    (void)state;
    agora_error err = build_fails("{\"kind\": \"graph\", \"generator\": \"file\", \"path\": \"no/such.edgelist\"}",
                                  "/tmp/agora-no-such-dir", AGORA_EIO);
    assert_string_equal(err.where, "space.path");
    assert_non_null(strstr(err.msg, "/tmp/agora-no-such-dir/no/such.edgelist"));
    assert_non_null(strstr(err.msg, "\"no/such.edgelist\""));

    err = build_fails("{\"kind\": \"graph\", \"generator\": \"file\", \"path\": \"/no/such.edgelist\"}", NULL,
                      AGORA_EIO);
    assert_string_equal(err.where, "space.path");
    assert_non_null(strstr(err.msg, "/no/such.edgelist"));
}

/* ---- threads and size ------------------------------------------------------------------------------------------ */

typedef struct {
    const char *spec;
    uint64_t key;
    agora_space *out[4];
    int rc;
} build_job;

static void *build_thread(void *arg)
{
    build_job *job = arg;
    json_t *spec = json_loads(job->spec, 0, NULL);
    job->rc = 0;
    for (int r = 0; r < 4 && job->rc == 0; r++) {
        agora_error err;
        job->rc = agora_space_create(spec, job->key, NULL, &job->out[r], &err);
    }
    json_decref(spec);
    return NULL;
}

static void concurrent_builds_match_sequential(void **state)
{
    (void)state;
    /* Two threads generate four graphs each at the same time. igraph's RNG is process-wide, so without the lock in
     * graph.c their draws would interleave and the graphs would differ from the sequential ones (or igraph's state
     * would be corrupted). */
    build_job jobs[2] = {
        {.spec = "{\"kind\": \"graph\", \"generator\": \"watts_strogatz\", \"n\": 20000, \"k\": 6, \"p\": 0.3}",
         .key = 101},
        {.spec = "{\"kind\": \"graph\", \"generator\": \"barabasi_albert\", \"n\": 20000, \"m\": 3}", .key = 202},
    };
    agora_space *expect[2] = {build(jobs[0].spec, jobs[0].key, NULL), build(jobs[1].spec, jobs[1].key, NULL)};
    pthread_t th[2];
    for (int t = 0; t < 2; t++)
        assert_int_equal(pthread_create(&th[t], NULL, build_thread, &jobs[t]), 0);
    for (int t = 0; t < 2; t++)
        assert_int_equal(pthread_join(th[t], NULL), 0);
    for (int t = 0; t < 2; t++) {
        assert_int_equal(jobs[t].rc, 0);
        for (int r = 0; r < 4; r++) {
            if (!same_csr(jobs[t].out[r], expect[t]))
                fail_msg("thread %d, build %d differs from the sequential build", t, r);
            agora_space_destroy(jobs[t].out[r]);
        }
        agora_space_destroy(expect[t]);
    }
}

static void watts_strogatz_million_vertices(void **state)
{
    (void)state;
    double t0 = seconds();
    agora_space *s = build(
        "{\"kind\": \"graph\", \"generator\": \"watts_strogatz\", \"n\": 1000000, \"k\": 10, \"p\": 0.1}", 5, NULL);
    double t1 = seconds();
    /* Reported, not asserted: timing depends on the machine. */
    print_message("watts_strogatz n=1e6 k=10 p=0.1 built in %.2f s (%.0f MB of CSR)\n", t1 - t0,
                  (double)agora_space_bytes(s) / 1e6);
    assert_int_equal(s->n, 1000000);
    assert_int_equal(s->graph.edges, 5000000);
    check_simple_graph(s);
    agora_space_destroy(s);
}

int main(void)
{
    agora_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(grid_create_sets_size_and_layout),
        cmocka_unit_test(grid_create_rejects_bad_sizes),
        cmocka_unit_test(grid_spec_defaults_to_torus_moore),
        cmocka_unit_test(space_check_names_the_bad_key),
        cmocka_unit_test(from_edges_drops_loops_and_repeats),
        cmocka_unit_test(from_edges_rejects_bad_ids_and_sizes),
        cmocka_unit_test(watts_strogatz_keeps_nk_over_2_edges),
        cmocka_unit_test(watts_strogatz_without_rewiring_is_the_ring_lattice),
        cmocka_unit_test(barabasi_albert_has_the_psumtree_edge_count),
        cmocka_unit_test(erdos_renyi_gnm_has_exactly_m_edges),
        cmocka_unit_test(erdos_renyi_gnp_edge_count_is_binomial),
        cmocka_unit_test(lattice_torus_is_4_regular_in_grid_order),
        cmocka_unit_test(lattice_bounded_has_degree_2_corners),
        cmocka_unit_test(lattice_narrow_torus_drops_wrapped_repeats),
        cmocka_unit_test(same_key_same_graph_other_key_other_graph),
        cmocka_unit_test(hopeless_sizes_fail_fast),
        cmocka_unit_test(karate_file_loads_against_base_dir),
        cmocka_unit_test(file_drops_loops_repeats_and_weights),
        cmocka_unit_test(file_index_base_1),
        cmocka_unit_test(file_bad_line_reports_its_number),
        cmocka_unit_test(file_ids_beyond_64_bits_are_too_large),
        cmocka_unit_test(file_missing_is_eio_naming_both_paths),
        cmocka_unit_test(concurrent_builds_match_sequential),
        cmocka_unit_test(watts_strogatz_million_vertices),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
