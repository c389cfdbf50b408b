/* agora — conflict-free random pairings: locally dominant matchings on grids and graphs, Feistel permutations for
 * well-mixed populations. See include/agora/matching.h. */
#include <omp.h>

#include "agora/matching.h"
#include "simd.h"

void agora_perm_init(agora_perm *p, uint64_t n, agora_rng_key key, uint64_t step, uint32_t stream)
{
    unsigned bits = 1; /* at least one bit in each half */
    while (bits < 62 && (UINT64_C(1) << bits) < n)
        bits++;
    if (bits < 2)
        bits = 2;
    p->n = n;
    p->bits = bits;
    p->lbits = bits / 2;
    p->rbits = bits - p->lbits;
    /* Small domains need more rounds: with 2-8 bit halves, 4 or 6 rounds leave the position of one element and the
     * offset between two measurably non-uniform (tests/test_matching.c: n = 10 fails at 6 rounds, passes at 8);
     * above 2^16 four rounds pass the same tests. */
    p->rounds = bits <= 16 ? 8 : 4;
    const uint64_t base = agora_rng_base(key, step, stream);
    for (int k = 0; k < p->rounds; k++)
        p->round_key[k] = agora_rng_at(base, (uint64_t)k);
}

/* The Feistel network on x[0 .. count), rounds outermost so that the inner loop runs across the batch (SIMD). */
AGORA_HOT static void feistel_many(const agora_perm *p, uint64_t *restrict x, int count)
{
    uint64_t l[AGORA_PERM_BATCH], r[AGORA_PERM_BATCH];
    unsigned lb = p->lbits, rb = p->rbits;
    const uint64_t rmask = (UINT64_C(1) << rb) - 1;
    for (int q = 0; q < count; q++) {
        l[q] = x[q] >> rb;
        r[q] = x[q] & rmask;
    }
    for (int k = 0; k < p->rounds; k++) {
        const uint64_t key = p->round_key[k], m = (UINT64_C(1) << lb) - 1;
        for (int q = 0; q < count; q++) {
            const uint64_t t = l[q] ^ (agora_rng_mix64(r[q] ^ key) & m);
            l[q] = r[q];
            r[q] = t;
        }
        const unsigned s = lb;
        lb = rb;
        rb = s;
    }
    for (int q = 0; q < count; q++)
        x[q] = (l[q] << rb) | r[q];
}

/* Permutes out[0 .. count) and cycle-walks the values that fall outside [0, n): gathers them, permutes them
 * again together, scatters them back, until none is left. */
static void walk(const agora_perm *p, int count, uint64_t *out)
{
    feistel_many(p, out, count);
    uint64_t v[AGORA_PERM_BATCH];
    int at[AGORA_PERM_BATCH], np = 0;
    for (int q = 0; q < count; q++) {
        at[np] = q;
        np += out[q] >= p->n;
    }
    while (np > 0) {
        for (int j = 0; j < np; j++)
            v[j] = out[at[j]];
        feistel_many(p, v, np);
        int left = 0;
        for (int j = 0; j < np; j++) {
            out[at[j]] = v[j];
            at[left] = at[j];
            left += v[j] >= p->n;
        }
        np = left;
    }
}

void agora_perm_batch(const agora_perm *p, uint64_t first, int count, uint64_t *out)
{
    for (int q = 0; q < count; q++)
        out[q] = first + (uint64_t)q;
    walk(p, count, out);
}

static int team(int threads)
{
    return threads > 0 ? threads : omp_get_max_threads();
}

void agora_match_mixed(int64_t n, agora_rng_key key, uint64_t step, uint32_t stream, int threads, int64_t *partner)
{
    agora_perm p;
    agora_perm_init(&p, (uint64_t)n, key, step, stream);
    const int64_t pairs = n / 2;
#pragma omp parallel for schedule(static) num_threads(team(threads))
    for (int64_t j = 0; j < pairs; j++) {
        int64_t a = (int64_t)agora_perm_at(&p, (uint64_t)(2 * j)),
                b = (int64_t)agora_perm_at(&p, (uint64_t)(2 * j + 1));
        partner[a] = b;
        partner[b] = a;
    }
    if (n % 2)
        partner[agora_perm_at(&p, (uint64_t)(n - 1))] = -1;
}

/* A vertex's choice: the top 32 bits of the edge priority above the neighbour's id, so one unsigned max picks the
 * highest-priority edge and breaks ties by the larger id — branch-free, vectorisable. Ids are below 2^32 here
 * (graphs have < 2^31 vertices; grids with more than 2^32 cells use the wide path below). */
static inline uint64_t packed(uint64_t base, uint64_t u, uint64_t v)
{
    return (agora_match_edge_priority(base, u, v) & UINT64_C(0xFFFFFFFF00000000)) | v;
}

/* u's choice on a graph: the packed maximum over its row. m = 0 is a valid choice (neighbour 0 with priority bits 0);
 * only an isolated vertex has none. */
static inline int64_t graph_choice(const int64_t *off, const int32_t *nb, uint64_t base, int64_t u)
{
    uint64_t m = 0;
    const int64_t end = off[u + 1];
    for (int64_t e = off[u]; e < end; e++) {
        const uint64_t k = packed(base, (uint64_t)u, (uint64_t)(uint32_t)nb[e]);
        m = k > m ? k : m;
    }
    return end > off[u] ? (int64_t)(m & 0xFFFFFFFFu) : -1;
}

AGORA_HOT static void best_rows(const int64_t *restrict off, const int32_t *restrict nb, uint64_t base, int64_t lo,
                                int64_t hi, int64_t *restrict best)
{
    for (int64_t u = lo; u < hi; u++)
        best[u - lo] = graph_choice(off, nb, base, u);
}

/* u's choice among its k grid neighbours nbr[]: across its highest-priority edge (ties: the larger id), -1 if none. */
static inline int64_t grid_best(uint64_t base, int64_t u, const int64_t *nbr, int k)
{
    int64_t b = -1;
    uint64_t bp = 0;
    for (int j = 0; j < k; j++) {
        const uint64_t pr = agora_match_edge_priority(base, (uint64_t)u, (uint64_t)nbr[j]);
        if (b < 0 || pr > bp || (pr == bp && nbr[j] > b)) {
            b = nbr[j];
            bp = pr;
        }
    }
    return b;
}

/* u's choice on a grid, from its neighbour list. */
static inline int64_t grid_choice(const agora_grid *g, uint64_t base, int64_t u)
{
    int64_t nbr[8];
    const int k = agora_grid_neighbors(g, u, nbr);
    return grid_best(base, u, nbr, k);
}

/* The choices of cells [lo, hi) of a grid into best[u - lo]: interior runs through the stencil (the same neighbours
 * in the same order as agora_grid_neighbors, so the same ties), the border through grid_choice. */
AGORA_HOT static void grid_choices(const agora_grid *g, uint64_t base, int64_t lo, int64_t hi, int64_t *restrict best)
{
    agora_stencil st;
    agora_grid_stencil(g, &st);
    const int64_t w = g->width;
    for (int64_t y = lo / w; y * w < hi; y++) {
        int64_t i0, i1;
        agora_grid_interior(g, y, &i0, &i1);
        const int64_t r0 = y * w > lo ? y * w : lo, r1 = y * w + w < hi ? y * w + w : hi;
        i0 = i0 < r0 ? r0 : i0 > r1 ? r1 : i0;
        i1 = i1 > r1 ? r1 : i1 < i0 ? i0 : i1;
        for (int64_t u = r0; u < i0; u++)
            best[u - lo] = grid_choice(g, base, u);
        for (int64_t u = i0; u < i1; u++) { /* grid_best's rule on u + off[k], unrolled: all neighbours exist */
            int64_t b = u + st.off[0];
            uint64_t bp = agora_match_edge_priority(base, (uint64_t)u, (uint64_t)b);
            for (int k = 1; k < st.count; k++) {
                const int64_t v = u + st.off[k];
                const uint64_t pr = agora_match_edge_priority(base, (uint64_t)u, (uint64_t)v);
                if (pr > bp || (pr == bp && v > b)) {
                    b = v;
                    bp = pr;
                }
            }
            best[u - lo] = b;
        }
        for (int64_t u = i1; u < r1; u++)
            best[u - lo] = grid_choice(g, base, u);
    }
}

/* best[u] = u's neighbour across u's highest-priority edge (ties: the larger neighbour id), -1 if u has none. */
static void best_edges(const agora_space *sp, uint64_t base, int threads, int64_t *best)
{
    const int64_t n = sp->n;
    if (sp->kind == AGORA_SPACE_GRAPH) {
        const int64_t block = 8192, blocks = (n + block - 1) / block;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
        for (int64_t b = 0; b < blocks; b++)
            best_rows(sp->graph.offsets, sp->graph.neighbors, base, b * block,
                      b * block + block < n ? b * block + block : n, best + b * block);
        return;
    }
    const int64_t block = 8192, blocks = (n + block - 1) / block;
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t b = 0; b < blocks; b++)
        grid_choices(&sp->grid, base, b * block, b * block + block < n ? b * block + block : n, best + b * block);
}

void agora_match_choices(const agora_space *sp, agora_rng_key key, uint64_t step, uint32_t stream, int threads,
                         int64_t *choice)
{
    if (sp->kind == AGORA_SPACE_MIXED)
        agora_match_mixed(sp->n, key, step, stream, threads, choice); /* a pairing is its own choice */
    else
        best_edges(sp, agora_rng_base(key, step, stream), team(threads), choice);
}

void agora_match(const agora_space *sp, agora_rng_key key, uint64_t step, uint32_t stream, int threads,
                 int64_t *partner, int64_t *scratch)
{
    threads = team(threads);
    if (sp->kind == AGORA_SPACE_MIXED) {
        agora_match_mixed(sp->n, key, step, stream, threads, partner);
        return;
    }
    const int64_t n = sp->n;
    int64_t *best = scratch;
    best_edges(sp, agora_rng_base(key, step, stream), threads, best);
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t u = 0; u < n; u++) {
        const int64_t v = best[u];
        partner[u] = v >= 0 && best[v] == u ? v : -1;
    }
}

void agora_match_partners_range(const agora_space *sp, agora_rng_key key, uint64_t step, uint32_t stream, int64_t lo,
                                int64_t hi, int64_t *partner, int64_t *work)
{
    if (lo >= hi)
        return;
    if (sp->kind == AGORA_SPACE_MIXED) {
        /* i sits at position q of the permutation; its partner at q ^ 1 (none past the end, n odd) */
        agora_perm p;
        agora_perm_init(&p, (uint64_t)sp->n, key, step, stream);
        for (int64_t i = lo; i < hi; i++) {
            const uint64_t q = agora_perm_inverse(&p, (uint64_t)i) ^ 1u;
            partner[i - lo] = q < (uint64_t)sp->n ? (int64_t)agora_perm_at(&p, q) : -1;
        }
        return;
    }
    const uint64_t base = agora_rng_base(key, step, stream);
    const int graph = sp->kind == AGORA_SPACE_GRAPH;
    if (graph)
        best_rows(sp->graph.offsets, sp->graph.neighbors, base, lo, hi, work);
    else
        grid_choices(&sp->grid, base, lo, hi, work);
    for (int64_t u = lo; u < hi; u++) {
        const int64_t v = work[u - lo];
        const int64_t cv = v < 0               ? -1
                           : v >= lo && v < hi ? work[v - lo]
                           : graph             ? graph_choice(sp->graph.offsets, sp->graph.neighbors, base, v)
                                               : grid_choice(&sp->grid, base, v);
        partner[u - lo] = v >= 0 && cv == u ? v : -1;
    }
}
