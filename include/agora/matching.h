/* agora — conflict-free random pairings for pairwise models (bounded confidence, voter pairs, trades).
 *
 * Every pairing is a pure function of (key, step, stream): computed in parallel with no locks and identical at any
 * thread count. Two kinds:
 *
 *  - agora_match (agora_match_choices) on a grid or graph: a locally dominant matching. Every edge {u, v} gets a random
 *    priority from the counter RNG (symmetric in u and v); u and v are paired when their edge has the highest
 *    priority among all edges of u and among all edges of v. One round, so not maximal: about half the agents are
 *    paired per step on grids and Watts-Strogatz graphs, 40 % on Barabasi-Albert (tests/test_matching.c prints it);
 *    on a cycle each edge acts with probability 1/3, every edge with the same chance.
 *
 *  - agora_perm: a random permutation of [0, n) that can be evaluated at any index in O(1) — a keyed Feistel
 *    network on the smallest power of two >= n, with cycle-walking back into [0, n). agora_match_mixed pairs
 *    the permutation's consecutive elements, so in a well-mixed population every agent (but one when n is odd) has
 *    a partner every step, uniformly at random.
 *
 * DESIGN.md suggests a permutation from sorted counter keys for well-mixed populations; the Feistel permutation
 * gives the same (a keyed pseudo-random bijection) in O(n) work without a sort, and lets a model ask for π(i) alone. */
#ifndef AGORA_MATCHING_H
#define AGORA_MATCHING_H
#include <stdint.h>
#include "agora/export.h"
#include "agora/rng.h"
#include "agora/space.h"
#ifdef __cplusplus
extern "C" {
#endif

/* ---- a random permutation evaluated pointwise ---------------------------------------------------------------------
 */

#define AGORA_PERM_MAX_ROUNDS 8

typedef struct agora_perm {
    uint64_t n;            /* the domain [0, n) */
    unsigned bits;         /* the Feistel domain is [0, 2^bits), the smallest power of 2 >= n */
    unsigned lbits, rbits; /* the halves: lbits = bits / 2, rbits = bits - lbits */
    int rounds;            /* even */
    uint64_t round_key[AGORA_PERM_MAX_ROUNDS];
} agora_perm;

/* A permutation of [0, n) (1 <= n <= 2^62) keyed by (key, step, stream). */
AGORA_API void agora_perm_init(agora_perm *p, uint64_t n, agora_rng_key key, uint64_t step, uint32_t stream);

/* An unbalanced Feistel network on [0, 2^bits): the halves trade places (and sizes) every round, so after an even
 * number of rounds the layout is back; 4 rounds (8 on domains up to 2^16) of a full-avalanche round function
 * (Luby & Rackoff 1988). */
static inline uint64_t agora__perm_feistel(const agora_perm *p, uint64_t x)
{
    unsigned lb = p->lbits, rb = p->rbits;
    uint64_t l = x >> rb, r = x & ((UINT64_C(1) << rb) - 1);
    for (int k = 0; k < p->rounds; k++) {
        const uint64_t t = l ^ (agora_rng_mix64(r ^ p->round_key[k]) & ((UINT64_C(1) << lb) - 1));
        const unsigned s = lb;
        l = r;
        r = t;
        lb = rb;
        rb = s;
    }
    return (l << rb) | r;
}

/* The i-th element of the permutation (i < n). Cycle-walking: values >= n are permuted again; the domain is below
 * 2n, so fewer than 2 evaluations are expected. */
static inline uint64_t agora_perm_at(const agora_perm *p, uint64_t i)
{
    uint64_t x = agora__perm_feistel(p, i);
    while (x >= p->n)
        x = agora__perm_feistel(p, x);
    return x;
}

/* The inverse of the Feistel network: agora__perm_feistel_inverse(p, agora__perm_feistel(p, x)) == x. */
static inline uint64_t agora__perm_feistel_inverse(const agora_perm *p, uint64_t y)
{
    /* after an even number of rounds the halves have their first sizes again */
    unsigned lb = p->lbits, rb = p->rbits;
    uint64_t l = y >> rb, r = y & ((UINT64_C(1) << rb) - 1);
    for (int k = p->rounds; k-- > 0;) {
        /* round k made (l, r) = (r0, l0 ^ F(r0)) from (l0, r0), whose sizes were (rb, lb) */
        const uint64_t r0 = l, l0 = r ^ (agora_rng_mix64(r0 ^ p->round_key[k]) & ((UINT64_C(1) << rb) - 1));
        l = l0;
        r = r0;
        const unsigned s = lb;
        lb = rb;
        rb = s;
    }
    return (l << rb) | r;
}

/* The position of x in the permutation: agora_perm_inverse(p, agora_perm_at(p, i)) == i (x < n). Cycle-walks back. */
static inline uint64_t agora_perm_inverse(const agora_perm *p, uint64_t x)
{
    uint64_t i = agora__perm_feistel_inverse(p, x);
    while (i >= p->n)
        i = agora__perm_feistel_inverse(p, i);
    return i;
}

/* out[q] = agora_perm_at(p, first + q) for q < count (count <= AGORA_PERM_BATCH): the same values, computed a
 * batch at a time with the Feistel rounds vectorised across the batch and branch-free cycle-walking. */
#define AGORA_PERM_BATCH 64
AGORA_API void agora_perm_batch(const agora_perm *p, uint64_t first, int count, uint64_t *out);

/* ---- matchings ----------------------------------------------------------------------------------------------------
 */

/* partner[i] = the agent paired with i at this step, or -1; partner[partner[i]] == i. `partner` and `scratch`
 * have space->n entries (scratch is working memory, unused on a mixed space, may then be NULL). Grids use their
 * neighbourhood (Moore or von Neumann, torus or bounded), graphs their edges, mixed populations everyone. Runs on
 * `threads` OpenMP threads (<= 0: omp_get_max_threads()); the result does not depend on it. */
AGORA_API void agora_match(const agora_space *space, agora_rng_key key, uint64_t step, uint32_t stream, int threads,
                           int64_t *partner, int64_t *scratch);

/* The same matching as agora_match, given as each agent's choice: u and choice[u] are paired exactly when
 * choice[choice[u]] == u (choice[u] is -1 for an agent without neighbours; on a mixed space the choices are the
 * pairing itself). A model that reads its
 * partner's state anyway can test this in its own loop and save agora_match's extra pass. */
AGORA_API void agora_match_choices(const agora_space *space, agora_rng_key key, uint64_t step, uint32_t stream,
                                   int threads, int64_t *choice);

/* agora_match's partners of agents [lo, hi) alone: partner[i - lo] = the agent paired with i, or -1, without memory
 * for the other agents (work: hi - lo entries of scratch; unused on a mixed space, may then be NULL). A model that
 * steps in blocks calls it per block and keeps no per-agent matching: each choice of an agent outside the block
 * that is needed is computed again from the edge priorities (on a mixed space, from the permutation's inverse). */
AGORA_API void agora_match_partners_range(const agora_space *space, agora_rng_key key, uint64_t step, uint32_t stream,
                                          int64_t lo, int64_t hi, int64_t *partner, int64_t *work);

/* Pairs π(2j) with π(2j+1) for a random permutation π of [0, n); with n odd, π(n-1) has no partner. */
AGORA_API void agora_match_mixed(int64_t n, agora_rng_key key, uint64_t step, uint32_t stream, int threads,
                                 int64_t *partner);

/* The priority of edge {u, v} in the matching of a step: symmetric in u and v. */
static inline uint64_t agora_match_edge_priority(uint64_t base, uint64_t u, uint64_t v)
{
    /* (lo, hi) packed into one word is injective for ids below 2^32 (every graph; grids up to 2^32 cells); the
     * finaliser's avalanche makes neighbouring words unrelated. */
    const uint64_t lo = u < v ? u : v, hi = u < v ? v : u;
    return agora_rng_mix64(base ^ ((lo << 32) + hi));
}

#ifdef __cplusplus
}
#endif
#endif
