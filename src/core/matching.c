/* agora — conflict-free random pairings: locally dominant matchings on grids and graphs, Feistel permutations for
 * well-mixed populations. See include/agora/matching.h. */
#include <omp.h>

#include "agora/matching.h"

void agora_perm_init(agora_perm *p, uint64_t n, agora_rng_key key, uint64_t step, uint32_t stream)
{
    unsigned bits = 2; /* the Feistel domain 2^bits: an even power of two >= n, at least 4 */
    while (bits < 64 && (UINT64_C(1) << bits) < n)
        bits += 2;
    p->n = n;
    p->half = bits / 2;
    p->mask = (UINT64_C(1) << p->half) - 1;
    const uint64_t base = agora_rng_base(key, step, stream);
    for (int k = 0; k < AGORA_PERM_ROUNDS; k++)
        p->round_key[k] = agora_rng_at(base, (uint64_t)k);
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
        int64_t a = (int64_t)agora_perm_at(&p, (uint64_t)(2 * j)), b = (int64_t)agora_perm_at(&p, (uint64_t)(2 * j + 1));
        partner[a] = b;
        partner[b] = a;
    }
    if (n % 2)
        partner[agora_perm_at(&p, (uint64_t)(n - 1))] = -1;
}

/* best[u] = u's neighbour across u's highest-priority edge (ties: the larger neighbour id), -1 if u has none. */
static void best_edges(const agora_space *sp, uint64_t base, int threads, int64_t *best)
{
    const int64_t n = sp->n;
    if (sp->kind == AGORA_SPACE_GRAPH) {
        const int64_t *off = sp->graph.offsets;
        const int32_t *nb = sp->graph.neighbors;
#pragma omp parallel for schedule(dynamic, 4096) num_threads(threads)
        for (int64_t u = 0; u < n; u++) {
            int64_t b = -1;
            uint64_t bp = 0;
            for (int64_t e = off[u]; e < off[u + 1]; e++) {
                const int64_t v = nb[e];
                const uint64_t pr = agora_match_edge_priority(base, (uint64_t)u, (uint64_t)v);
                if (b < 0 || pr > bp || (pr == bp && v > b)) {
                    b = v;
                    bp = pr;
                }
            }
            best[u] = b;
        }
        return;
    }
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t u = 0; u < n; u++) {
        int64_t nbr[8], b = -1;
        uint64_t bp = 0;
        const int k = agora_grid_neighbors(&sp->grid, u, nbr);
        for (int j = 0; j < k; j++) {
            const uint64_t pr = agora_match_edge_priority(base, (uint64_t)u, (uint64_t)nbr[j]);
            if (b < 0 || pr > bp || (pr == bp && nbr[j] > b)) {
                b = nbr[j];
                bp = pr;
            }
        }
        best[u] = b;
    }
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
