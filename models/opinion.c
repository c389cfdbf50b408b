/* agora — opinion dynamics: voter, DeGroot / Friedkin–Johnsen, Deffuant–Weisbuch and Hegselmann–Krause, one model
 * with a `rule` parameter, on grids, graphs and well-mixed populations.
 *
 * Opinions are doubles in [0, 1] (the voter model uses only 0 and 1), double-buffered: a step reads `x` and writes
 * `xn`, then swaps. Each agent may be stubborn (s_i in [0, 1]) with an anchor a_i (its initial opinion, or its
 * opinion when set_stubbornness named it). For the continuous rules a step is
 *
 *     x_i(t+1) = s_i a_i + (1 - s_i) F_i(x(t))
 *
 * with the rule's update F (Friedkin & Johnsen 1990 for DeGroot; the same anchoring for the bounded-confidence
 * rules). The rules (N(i): the neighbours on a grid or graph; on a mixed space, everyone):
 *  - degroot:  F_i = (1 - rate) x_i + rate * mean_{j in N(i)} x_j; on a mixed space the mean is the population mean.
 *  - deffuant: a conflict-free random matching each step (agora_match: locally dominant on grids and graphs, a
 *              random perfect pairing on a mixed space); a matched pair with |x_i - x_j| < epsilon both move mu of
 *              the way toward each other: F_i = x_i + mu (x_j - x_i). Unmatched agents keep their opinion.
 *  - hk:       F_i = mean{x_j : j in N(i) u {i}, |x_j - x_i| <= epsilon} (synchronous). On a mixed space N(i) is
 *              everyone: a sorted copy of the opinions and (long double) prefix sums give each agent's window by two
 *              binary searches, O(n log n) per step instead of O(n^2).
 *  - voter:    (node update, lazy) each agent acts with probability lazy * (1 - s_i) and then copies a uniformly
 *              random neighbour (on a mixed space a uniformly random other agent). Laziness makes the synchronous
 *              update aperiodic: without it an even torus (bipartite) would oscillate for ever.
 * Every random choice is one counter-RNG draw per (step, agent), so results do not depend on the thread count.
 *
 * Metrics are computed in blocks of BLOCK agents in parallel, and the block results are added serially in block
 * order, so floating-point sums are bit-identical at any thread count. Opinion clusters are read off a 100-bin
 * histogram of [0, 1]: a cluster is a maximal run of non-empty bins (an empty bin, a gap of at least 0.01, separates
 * two clusters); a major cluster holds at least 5 % of the agents. Polarization is 4 * sum_{a<b} w_a w_b |c_a - c_b|
 * over the clusters (w: share of agents, c: mean opinion of the cluster): 0 at consensus, 1 for two equal camps at
 * 0 and 1 — twice the Gini mean difference of the opinions with each cluster collapsed to its mean.
 *
 * Actions: broadcast {opinion, reach, strength} pulls the reached agents strength of the way toward `opinion` (voter:
 * each reached agent adopts the opinion, 0 or 1, with probability strength); reach is a fraction of the agents
 * (chosen uniformly, exactly round(f n) of them, by selection sampling) or a list of agent ids.
 * set_stubbornness {agents: "all" | [ids], value} sets s_i and re-anchors those agents at their current opinion.
 * rewire {fraction} (graphs only) moves one end of round(fraction * edges) random edges to a random agent, keeping
 * the graph simple; the world's space is read-only, so the model then keeps its own CSR arrays (`view`).
 *
 * The field `opinion` is writable (agora_world_set_field): values in [0, 1], exactly 0 or 1 under the voter rule.
 * Like a broadcast of strength 1, a write moves the opinion an agent holds now and leaves its anchor and stubbornness
 * alone: a stubborn agent keeps being pulled toward the anchor it had (set_stubbornness re-anchors it at the written
 * opinion). A copy (agora_world_copy) takes the opinions, anchors, stubbornness, action counters and, after a rewire,
 * its own copy of the rewired CSR arrays. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <omp.h>

#include "agora/kernel.h"
#include "agora/matching.h"
#include "core/simd.h"

#define BLOCK 4096 /* agents per parallel work item; also the unit of deterministic floating-point sums */
#define NBINS 100  /* histogram bins for clusters */
#define MAJOR_SHARE 0.05
#define TWO_PI 6.283185307179586476925286766559
#define REWIRE_TRIES 64

enum { RULE_DEGROOT = 0, RULE_DEFFUANT = 1, RULE_HK = 2, RULE_VOTER = 3 };
enum { INIT_UNIFORM = 0, INIT_NORMAL = 1, INIT_BIMODAL = 2 };

/* The kernel-owned arrays (the model SDK), in this order. */
enum { F_X, F_ANCHOR, F_S, F_OFF, F_NBR, F_CHOICE, F_SORTED, F_PREFIX, F_BSUM, F_BBIN, F_BCNT };

static const agora_field_decl op_decl[] = {
    {.name = "opinion",
     .type = AGORA_DTYPE_F64,
     .flags = AGORA_FIELD_DOUBLE | AGORA_FIELD_SNAPSHOT | AGORA_FIELD_WRITABLE,
     .min = 0,
     .max = 1,
     .domain = "an opinion is a number in [0, 1]"},
    {.name = "anchor", .type = AGORA_DTYPE_F64, .doc = "a_i: the opinion a stubborn agent is pulled back to"},
    {.name = "stubbornness", .type = AGORA_DTYPE_F64, .doc = "s_i"},
    {.name = "offsets",
     .elem = sizeof(int64_t),
     .add = 1,
     .flags = AGORA_FIELD_ON_DEMAND,
     .spaces = AGORA_SPACES_GRAPH,
     .doc = "the model's own CSR rows after a rewire (the world's space is read-only)"},
    {.name = "neighbors",
     .elem = sizeof(int32_t),
     .extent = AGORA_EXTENT_EDGES,
     .flags = AGORA_FIELD_ON_DEMAND,
     .spaces = AGORA_SPACES_GRAPH,
     .doc = "the model's own CSR neighbours after a rewire"},
    {.name = "choice",
     .elem = sizeof(int64_t),
     .flags = AGORA_FIELD_ON_DEMAND | AGORA_FIELD_SCRATCH,
     .doc = "deffuant: each agent's choice of the step's matching (agora_match_choices)"},
    {.name = "sorted",
     .type = AGORA_DTYPE_F64,
     .flags = AGORA_FIELD_ON_DEMAND | AGORA_FIELD_SCRATCH,
     .spaces = AGORA_SPACES_MIXED,
     .doc = "hk on a mixed space: the opinions sorted"},
    {.name = "prefix",
     .elem = sizeof(long double),
     .add = 1,
     .flags = AGORA_FIELD_ON_DEMAND | AGORA_FIELD_SCRATCH,
     .spaces = AGORA_SPACES_MIXED,
     .doc = "hk on a mixed space: prefix sums of the sorted opinions"},
    {.name = "bsum", .type = AGORA_DTYPE_F64, .group = BLOCK, .flags = AGORA_FIELD_SCRATCH, .doc = "block sums"},
    {.name = "bbin",
     .type = AGORA_DTYPE_F64,
     .group = BLOCK,
     .mult = NBINS,
     .flags = AGORA_FIELD_SCRATCH,
     .doc = "per-block per-bin sums"},
    {.name = "bcnt",
     .elem = sizeof(int64_t),
     .group = BLOCK,
     .mult = NBINS,
     .flags = AGORA_FIELD_SCRATCH,
     .doc = "per-block per-bin counts"},
    {0}};

/* The scalars: plain data, copied and saved as bytes by the kernel. */
typedef struct op_state {
    int rule;
    double epsilon, mu, rate, lazy;
    int any_stubborn; /* some s_i > 0 */
    int64_t nblocks;
    int64_t rewired; /* edges moved by rewire actions so far */
    int64_t action_step, actions_in_step;
} op_state;

/* The arrays as one function sees them, and the space as the model sees it (its own CSR after a rewire). */
typedef struct op_arrays {
    double *x, *xn; /* opinions now / next */
    double *anchor, *s;
    int64_t *choice;
    double *sorted;
    long double *prefix;
    double *bsum, *bbin;
    int64_t *bcnt;
    agora_space view;
} op_arrays;

static op_arrays arrays_of(const agora_world *w)
{
    op_arrays a = {.x = agora_sdk_cur(w, F_X),
                   .xn = agora_sdk_next(w, F_X),
                   .anchor = agora_sdk_cur(w, F_ANCHOR),
                   .s = agora_sdk_cur(w, F_S),
                   .choice = agora_sdk_cur(w, F_CHOICE),
                   .sorted = agora_sdk_cur(w, F_SORTED),
                   .prefix = agora_sdk_cur(w, F_PREFIX),
                   .bsum = agora_sdk_cur(w, F_BSUM),
                   .bbin = agora_sdk_cur(w, F_BBIN),
                   .bcnt = agora_sdk_cur(w, F_BCNT),
                   .view = *agora_world_space(w)};
    if (agora_sdk_cur(w, F_OFF)) {
        a.view.graph.offsets = agora_sdk_cur(w, F_OFF);
        a.view.graph.neighbors = agora_sdk_cur(w, F_NBR);
    }
    return a;
}

static const agora_param_spec op_params[] = {
    {"rule", AGORA_PARAM_CHOICE, 0, 0, 0,
     "update rule: degroot (averaging; Friedkin-Johnsen with stubbornness), deffuant (pairwise bounded confidence), "
     "hk (Hegselmann-Krause, synchronous bounded confidence), voter (lazy voter model, opinions 0/1)",
     "degroot|deffuant|hk|voter"},
    {"epsilon", AGORA_PARAM_REAL, 0.2, 0.0, 1.0,
     "confidence bound of deffuant and hk: agents closer than this interact", NULL},
    {"mu", AGORA_PARAM_REAL, 0.5, 0.0, 0.5,
     "deffuant convergence: a pair moves this share of its distance toward each other", NULL},
    {"rate", AGORA_PARAM_REAL, 0.1, 0.0, 1.0,
     "degroot: share of the way each agent moves toward its neighbours' mean per step", NULL},
    {"lazy", AGORA_PARAM_REAL, 0.5, 0.0, 1.0,
     "voter: probability that an agent acts (copies a random neighbour) in a step", NULL},
    {"stubbornness", AGORA_PARAM_REAL, 0.0, 0.0, 1.0,
     "every agent's initial stubbornness s: weight of its initial opinion in each update (voter: acts with "
     "probability lazy*(1-s))",
     NULL},
    {"initial", AGORA_PARAM_CHOICE, 0, 0, 0,
     "initial opinions (continuous rules): uniform on [0,1], normal around 0.5, or bimodal around 0.25 and 0.75 "
     "(sd initial_sd, clipped to [0,1])",
     "uniform|normal|bimodal"},
    {"initial_sd", AGORA_PARAM_REAL, 0.1, 0.0, 1.0, "standard deviation of the normal and bimodal initial opinions",
     NULL},
    {"initial_fraction", AGORA_PARAM_REAL, 0.5, 0.0, 1.0,
     "voter: share of agents that start with opinion 1 (exactly round(f*n), at random)", NULL},
    {NULL, 0, 0, 0, 0, NULL, NULL}};

enum { M_MEAN, M_VAR, M_NEAR, M_CLUSTERS, M_MAJOR, M_POLAR, M_COUNT };

static const agora_metric_spec op_metrics[] = {
    {"mean", "mean opinion (voter: share with opinion 1)", "final"},
    {"variance", "variance of the opinions (population variance)", "final"},
    {"near_mean", "share of agents within 0.05 of the mean opinion", "final"},
    {"clusters", "opinion clusters: runs of non-empty bins of a 100-bin histogram of [0,1], split by empty bins",
     "final"},
    {"major_clusters", "clusters holding at least 5% of the agents", "final"},
    {"polarization",
     "4 * sum over cluster pairs of share_a * share_b * |mean_a - mean_b|: 0 consensus, 1 two equal camps at 0 and 1",
     "peak"},
    {NULL, NULL, NULL}};

static const agora_field_spec op_fields[] = {{"opinion", AGORA_DTYPE_F64, "opinion of each agent in [0, 1] (writable)"},
                                             {NULL, 0, NULL}};

static const char op_action_schema[] =
    "{\"anyOf\": ["
    "{\"type\": \"object\", \"title\": \"broadcast\","
    " \"description\": \"A media voice: the reached agents move `strength` of the way toward `opinion` (voter model:"
    " each reached agent adopts `opinion`, which must be 0 or 1, with probability `strength`).\","
    " \"properties\": {\"action\": {\"const\": \"broadcast\"},"
    " \"opinion\": {\"type\": \"number\", \"minimum\": 0, \"maximum\": 1},"
    " \"reach\": {\"anyOf\": [{\"type\": \"number\", \"minimum\": 0, \"maximum\": 1,"
    " \"description\": \"share of all agents, chosen at random\"},"
    " {\"type\": \"array\", \"minItems\": 1, \"items\": {\"type\": \"integer\", \"minimum\": 0},"
    " \"description\": \"agent ids\"}]},"
    " \"strength\": {\"type\": \"number\", \"minimum\": 0, \"maximum\": 1}},"
    " \"required\": [\"action\", \"opinion\", \"reach\", \"strength\"], \"additionalProperties\": false},"
    "{\"type\": \"object\", \"title\": \"set_stubbornness\","
    " \"description\": \"Set the stubbornness of agents (\\\"all\\\" or a list of ids): each update keeps `value` of"
    " the opinion they hold now (their new anchor).\","
    " \"properties\": {\"action\": {\"const\": \"set_stubbornness\"},"
    " \"agents\": {\"anyOf\": [{\"const\": \"all\"},"
    " {\"type\": \"array\", \"minItems\": 1, \"items\": {\"type\": \"integer\", \"minimum\": 0}}]},"
    " \"value\": {\"type\": \"number\", \"minimum\": 0, \"maximum\": 1}},"
    " \"required\": [\"action\", \"agents\", \"value\"], \"additionalProperties\": false},"
    "{\"type\": \"object\", \"title\": \"rewire\","
    " \"description\": \"A platform changing who sees whom (graphs only): one end of this share of the edges moves"
    " to a random agent; the graph stays simple.\","
    " \"properties\": {\"action\": {\"const\": \"rewire\"},"
    " \"fraction\": {\"type\": \"number\", \"minimum\": 0, \"maximum\": 1}},"
    " \"required\": [\"action\", \"fraction\"], \"additionalProperties\": false}"
    "]}";

/* ---- helpers ------------------------------------------------------------------------------------------------------
 */

static inline int64_t blk_end(int64_t b, int64_t n)
{
    return (b + 1) * BLOCK < n ? (b + 1) * BLOCK : n;
}

/* Sum of x[0..n) in fixed blocks, added in block order: the same bits at any thread count. */
static double det_sum(const double *x, int64_t n, double *bsum, int threads)
{
    const int64_t nb = (n + BLOCK - 1) / BLOCK;
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t b = 0; b < nb; b++) {
        double s = 0;
        for (int64_t i = b * BLOCK; i < blk_end(b, n); i++)
            s += x[i];
        bsum[b] = s;
    }
    double s = 0;
    for (int64_t b = 0; b < nb; b++)
        s += bsum[b];
    return s;
}

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static inline double anchored(const double *restrict s, const double *restrict anchor, int64_t i, double f)
{
    return s[i] * anchor[i] + (1.0 - s[i]) * f;
}

/* ---- the step -----------------------------------------------------------------------------------------------------
 */

/* The rule's update F_i on a grid or graph for agent i (not voter, not deffuant). */
static inline double local_update(const op_state *st, const op_arrays *a, const double *restrict x, int64_t i)
{
    const agora_space *sp = &a->view;
    const double xi = x[i];
    int64_t buf[8];
    const int64_t *nb;
    int64_t k;
    const int32_t *gnb = NULL;
    if (sp->kind == AGORA_SPACE_GRAPH) {
        const int64_t o = sp->graph.offsets[i];
        gnb = sp->graph.neighbors + o;
        k = sp->graph.offsets[i + 1] - o;
        nb = NULL;
    } else {
        k = agora_grid_neighbors(&sp->grid, i, buf);
        nb = buf;
    }
    if (st->rule == RULE_DEGROOT) {
        if (k == 0)
            return xi;
        double s = 0;
        for (int64_t q = 0; q < k; q++)
            s += x[gnb ? gnb[q] : nb[q]];
        return (1.0 - st->rate) * xi + st->rate * (s / (double)k);
    }
    /* hk */
    double s = xi;
    int64_t c = 1;
    for (int64_t q = 0; q < k; q++) {
        const double v = x[gnb ? gnb[q] : nb[q]];
        if (fabs(v - xi) <= st->epsilon) {
            s += v;
            c++;
        }
    }
    return s / (double)c;
}

/* degroot and hk on a grid, rows y0 .. y1: interior runs through the space's stencil (the neighbours of
 * agora_grid_neighbors, in its order, so the same sums), the border through local_update. */
AGORA_HOT static void grid_local_rows(const op_state *st, const op_arrays *a, const double *restrict x,
                                      double *restrict xn, int64_t y0, int64_t y1)
{
    const agora_grid *g = &a->view.grid;
    agora_stencil sc;
    agora_grid_stencil(g, &sc);
    const int64_t w = g->width;
    const int k = sc.count;
    const double rate = st->rate, eps = st->epsilon;
    for (int64_t y = y0; y < y1; y++) {
        int64_t i0, i1;
        agora_grid_interior(g, y, &i0, &i1);
        for (int64_t i = y * w; i < i0; i++)
            xn[i] = local_update(st, a, x, i);
        if (st->rule == RULE_DEGROOT) {
            for (int64_t i = i0; i < i1; i++) {
                double s = 0;
                for (int q = 0; q < k; q++)
                    s += x[i + sc.off[q]];
                xn[i] = (1.0 - rate) * x[i] + rate * (s / (double)k);
            }
        } else {
            for (int64_t i = i0; i < i1; i++) {
                const double xi = x[i];
                double s = xi;
                int64_t c = 1;
                for (int q = 0; q < k; q++) {
                    const double v = x[i + sc.off[q]];
                    if (fabs(v - xi) <= eps) {
                        s += v;
                        c++;
                    }
                }
                xn[i] = s / (double)c;
            }
        }
        for (int64_t i = i1 > y * w ? i1 : y * w; i < y * w + w; i++)
            xn[i] = local_update(st, a, x, i);
    }
}

/* The lazy voter on a grid, rows y0 .. y1: the same draw and the same neighbour as through agora_grid_neighbors, the
 * interior through the stencil. */
AGORA_HOT static void voter_grid_rows(const op_state *st, const op_arrays *a, const double *restrict x,
                                      double *restrict xn, int64_t y0, int64_t y1, uint64_t base, uint64_t thr)
{
    const agora_grid *g = &a->view.grid;
    agora_stencil sc;
    agora_grid_stencil(g, &sc);
    const int64_t w = g->width;
    const uint64_t k = (uint64_t)sc.count;
    const double *restrict sv = a->s;
    const double lazy = st->lazy;
    const int stub = st->any_stubborn;
    for (int64_t y = y0; y < y1; y++) {
        int64_t i0, i1;
        agora_grid_interior(g, y, &i0, &i1);
        for (int64_t i = y * w; i < y * w + w; i++) {
            const uint64_t r = agora_rng_at(base, (uint64_t)i);
            const uint64_t tt = stub ? (uint64_t)(lazy * (1.0 - sv[i]) * 4294967296.0) : thr;
            const uint64_t low = r & 0xFFFFFFFFu;
            double v = x[i];
            if ((r >> 32) < tt) {
                if (i >= i0 && i < i1) {
                    v = x[i + sc.off[(low * k) >> 32]];
                } else {
                    int64_t nbr[8];
                    const int kk = agora_grid_neighbors(g, i, nbr);
                    if (kk > 0)
                        v = x[nbr[(low * (uint64_t)kk) >> 32]];
                }
            }
            xn[i] = v;
        }
    }
}

AGORA_HOT static void graph_local_block(const op_state *st, const op_arrays *a, const double *restrict x,
                                        double *restrict xn, int64_t i0, int64_t i1)
{
    const int64_t *restrict off = a->view.graph.offsets;
    const int32_t *restrict nbr = a->view.graph.neighbors;
    const double rate = st->rate, eps = st->epsilon;
    if (st->rule == RULE_DEGROOT) {
        for (int64_t i = i0; i < i1; i++) {
            const int64_t a = off[i], b = off[i + 1];
            double s = 0;
            for (int64_t e = a; e < b; e++)
                s += x[nbr[e]];
            xn[i] = b > a ? (1.0 - rate) * x[i] + rate * (s / (double)(b - a)) : x[i];
        }
    } else {
        for (int64_t i = i0; i < i1; i++) {
            const double xi = x[i];
            double s = xi, c = 1;
            for (int64_t e = off[i]; e < off[i + 1]; e++) {
                const double v = x[nbr[e]];
                const int in = fabs(v - xi) <= eps;
                s += in ? v : 0.0;
                c += in;
            }
            xn[i] = s / c;
        }
    }
}

/* Lazy voter on a graph: one draw per agent; its high 32 bits decide whether the agent acts, its low 32 bits pick
 * the neighbour. */
AGORA_HOT static void voter_graph_block(const op_state *st, const op_arrays *a, const double *restrict x,
                                        double *restrict xn, int64_t i0, int64_t i1, uint64_t base, uint64_t thr)
{
    const int64_t *restrict off = a->view.graph.offsets;
    const int32_t *restrict nbr = a->view.graph.neighbors;
    const double *restrict s = a->s;
    const int stub = st->any_stubborn;
    for (int64_t i = i0; i < i1; i++) {
        const uint64_t r = agora_rng_at(base, (uint64_t)i);
        const int64_t a = off[i], d = off[i + 1] - a;
        const uint64_t t = stub ? (uint64_t)(st->lazy * (1.0 - s[i]) * 4294967296.0) : thr;
        double v = x[i];
        if ((r >> 32) < t && d > 0)
            v = x[nbr[a + (int64_t)(((r & 0xFFFFFFFFu) * (uint64_t)d) >> 32)]];
        xn[i] = v;
    }
}

static void op_step(agora_world *w)
{
    op_state *st = agora_sdk_scalars(w);
    const op_arrays A = arrays_of(w), *a = &A;
    const agora_space *sp = &a->view;
    const int64_t n = sp->n, nb = st->nblocks;
    const int threads = agora_world_threads(w);
    const int64_t t = agora_world_time(w);
    const double *restrict x = a->x, *restrict sv = a->s, *restrict anchor = a->anchor;
    double *restrict xn = a->xn;

    if (st->rule == RULE_VOTER) {
        const uint64_t base = agora_rng_base(agora_world_key(w), (uint64_t)t, AGORA_RNG_STREAM_MODEL);
        const uint64_t thr = (uint64_t)(st->lazy * 4294967296.0);
        const double lazy = st->lazy;
        const int stub = st->any_stubborn;
        if (sp->kind == AGORA_SPACE_GRAPH) {
#pragma omp parallel for schedule(static) num_threads(threads)
            for (int64_t b = 0; b < nb; b++)
                voter_graph_block(st, a, x, xn, b * BLOCK, blk_end(b, n), base, thr);
        } else if (sp->kind == AGORA_SPACE_GRID) {
            const int64_t h = sp->grid.height;
#pragma omp parallel for schedule(static) num_threads(threads)
            for (int64_t y = 0; y < h; y++)
                voter_grid_rows(st, a, x, xn, y, y + 1, base, thr);
        } else {
#pragma omp parallel for schedule(static) num_threads(threads)
            for (int64_t i = 0; i < n; i++) {
                const uint64_t r = agora_rng_at(base, (uint64_t)i);
                const uint64_t tt = stub ? (uint64_t)(lazy * (1.0 - sv[i]) * 4294967296.0) : thr;
                const uint64_t low = r & 0xFFFFFFFFu;
                double v = x[i];
                if ((r >> 32) < tt) {
                    if (sp->kind == AGORA_SPACE_GRID) {
                        int64_t nbr[8];
                        const int k = agora_grid_neighbors(&sp->grid, i, nbr);
                        if (k > 0)
                            v = x[nbr[(low * (uint64_t)k) >> 32]];
                    } else if (n > 1) {
                        int64_t j = (int64_t)((low * (uint64_t)(n - 1)) >> 32);
                        v = x[j >= i ? j + 1 : j];
                    }
                }
                xn[i] = v;
            }
        }
        goto swap; /* the voter's stubbornness acts on whether an agent acts, not by anchoring */
    } else if (st->rule == RULE_DEFFUANT) {
        agora_match_choices(sp, agora_world_key(w), (uint64_t)t, AGORA_RNG_STREAM_MODEL + 1, threads, a->choice);
        const int64_t *restrict choice = a->choice;
        const double eps = st->epsilon, mu = st->mu;
        const int stub = st->any_stubborn;
#pragma omp parallel for schedule(static) num_threads(threads)
        for (int64_t b = 0; b < nb; b++)
            for (int64_t i = b * BLOCK, end = blk_end(b, n); i < end; i++) {
                /* The partner of an agent a little ahead is often far away (a rewired edge): fetch it early. */
                if (i + 32 < end) {
                    const int64_t c = choice[i + 32];
                    __builtin_prefetch(&choice[c >= 0 ? c : i]);
                    __builtin_prefetch(&x[c >= 0 ? c : i]);
                }
                /* Branch-free: i and j are paired when they chose each other (an agent without neighbours looks
                 * at itself, and choice[i] = -1 != i); a pair closer than eps moves mu of the way. */
                const int64_t c = choice[i], j = c >= 0 ? c : i;
                const double xi = x[i], d = x[j] - xi;
                const int acts = (choice[j] == i) & (fabs(d) < eps);
                const double f = xi + (acts ? mu * d : 0.0);
                xn[i] = stub ? anchored(sv, anchor, i, f) : f;
            }
        goto swap; /* anchored above */
    } else if (sp->kind == AGORA_SPACE_MIXED) {
        if (st->rule == RULE_DEGROOT) {
            const double m = det_sum(x, n, a->bsum, threads) / (double)n, rate = st->rate;
#pragma omp parallel for schedule(static) num_threads(threads)
            for (int64_t i = 0; i < n; i++)
                xn[i] = (1.0 - rate) * x[i] + rate * m;
        } else {
            /* hk: sort a copy, prefix sums, then each agent's window [lo, hi) by binary search. The predicates are
             * the brute force's |x_j - x_i| <= eps written as (x_i - v) <= eps and (v - x_i) <= eps, each monotone
             * in v, so the window holds exactly the agents the O(n^2) rule would average. */
            double *v = a->sorted;
            memcpy(v, x, (size_t)n * sizeof *v);
            qsort(v, (size_t)n, sizeof *v, cmp_double);
            long double *P = a->prefix;
            P[0] = 0;
            for (int64_t i = 0; i < n; i++)
                P[i + 1] = P[i] + (long double)v[i];
            const double eps = st->epsilon;
#pragma omp parallel for schedule(static) num_threads(threads)
            for (int64_t i = 0; i < n; i++) {
                const double xi = x[i];
                int64_t lo = 0, hi = n; /* first index with xi - v <= eps */
                while (lo < hi) {
                    int64_t mid = lo + (hi - lo) / 2;
                    if (xi - v[mid] <= eps)
                        hi = mid;
                    else
                        lo = mid + 1;
                }
                int64_t a = lo;
                lo = a;
                hi = n; /* first index with v - xi > eps */
                while (lo < hi) {
                    int64_t mid = lo + (hi - lo) / 2;
                    if (v[mid] - xi <= eps)
                        lo = mid + 1;
                    else
                        hi = mid;
                }
                xn[i] = (double)((P[lo] - P[a]) / (long double)(lo - a));
            }
        }
    } else if (sp->kind == AGORA_SPACE_GRAPH) {
#pragma omp parallel for schedule(static) num_threads(threads)
        for (int64_t b = 0; b < nb; b++)
            graph_local_block(st, a, x, xn, b * BLOCK, blk_end(b, n));
    } else {
        const int64_t h = sp->grid.height;
#pragma omp parallel for schedule(static) num_threads(threads)
        for (int64_t y = 0; y < h; y++)
            grid_local_rows(st, a, x, xn, y, y + 1);
    }
    if (st->any_stubborn) {
#pragma omp parallel for schedule(static) num_threads(threads)
        for (int64_t i = 0; i < n; i++)
            xn[i] = anchored(sv, anchor, i, xn[i]);
    }
swap:; /* the kernel swaps x and xn after the step */
}

/* ---- measuring ----------------------------------------------------------------------------------------------------
 */

typedef struct op_summary {
    double mean, var, near;
    int clusters, major;
    double polar;
} op_summary;

static void summarize(const agora_world *w, op_summary *o)
{
    const op_state *st = agora_sdk_scalars(w);
    const op_arrays A = arrays_of(w), *a = &A;
    const int64_t n = a->view.n, nb = st->nblocks;
    const int threads = agora_world_threads(w);
    const double *x = a->x;
    double *bbin = a->bbin;
    int64_t *bcnt = a->bcnt;
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t b = 0; b < nb; b++) {
        double *sb = bbin + b * NBINS;
        int64_t *cb = bcnt + b * NBINS;
        memset(sb, 0, NBINS * sizeof *sb);
        memset(cb, 0, NBINS * sizeof *cb);
        double s = 0;
        for (int64_t i = b * BLOCK; i < blk_end(b, n); i++) {
            const double v = x[i];
            int k = (int)(v * NBINS);
            k = k < 0 ? 0 : k >= NBINS ? NBINS - 1 : k;
            sb[k] += v;
            cb[k]++;
            s += v;
        }
        a->bsum[b] = s;
    }
    double total = 0;
    for (int64_t b = 0; b < nb; b++)
        total += a->bsum[b];
    const double mean = total / (double)n;
    int64_t near = 0;
#pragma omp parallel for schedule(static) num_threads(threads) reduction(+ : near)
    for (int64_t b = 0; b < nb; b++) {
        double s = 0;
        int64_t c = 0;
        for (int64_t i = b * BLOCK; i < blk_end(b, n); i++) {
            const double d = x[i] - mean;
            s += d * d;
            c += fabs(d) <= 0.05;
        }
        a->bsum[b] = s;
        near += c;
    }
    double ss = 0;
    for (int64_t b = 0; b < nb; b++)
        ss += a->bsum[b];
    /* Histogram: merge the blocks in order. */
    double hs[NBINS] = {0};
    int64_t hc[NBINS] = {0};
    for (int64_t b = 0; b < nb; b++)
        for (int k = 0; k < NBINS; k++) {
            hs[k] += bbin[b * NBINS + k];
            hc[k] += bcnt[b * NBINS + k];
        }
    /* Clusters: maximal runs of non-empty bins. */
    double cw[NBINS / 2 + 1], cm[NBINS / 2 + 1];
    int nc = 0, major = 0;
    for (int k = 0; k < NBINS;) {
        if (hc[k] == 0) {
            k++;
            continue;
        }
        double s = 0;
        int64_t c = 0;
        while (k < NBINS && hc[k] > 0) {
            s += hs[k];
            c += hc[k];
            k++;
        }
        cw[nc] = (double)c / (double)n;
        cm[nc] = s / (double)c;
        major += cw[nc] >= MAJOR_SHARE;
        nc++;
    }
    double pol = 0;
    for (int a = 0; a < nc; a++)
        for (int b = a + 1; b < nc; b++)
            pol += cw[a] * cw[b] * fabs(cm[a] - cm[b]);
    o->mean = mean;
    o->var = ss / (double)n;
    o->near = (double)near / (double)n;
    o->clusters = nc;
    o->major = major;
    o->polar = 4.0 * pol;
}

static void op_measure(const agora_world *w, double *out)
{
    op_summary o;
    summarize(w, &o);
    out[M_MEAN] = o.mean;
    out[M_VAR] = o.var;
    out[M_NEAR] = o.near;
    out[M_CLUSTERS] = o.clusters;
    out[M_MAJOR] = o.major;
    out[M_POLAR] = o.polar;
}

/* ---- lifecycle ----------------------------------------------------------------------------------------------------
 */

static int rule_index(const char *name)
{
    static const char *const names[] = {"degroot", "deffuant", "hk", "voter"};
    for (int i = 0; i < 4; i++)
        if (strcmp(name, names[i]) == 0)
            return i;
    return RULE_DEGROOT;
}

static double clip01(double v)
{
    return v < 0 ? 0 : v > 1 ? 1 : v;
}

static int op_init(agora_world *w, const json_t *params, agora_error *err)
{
    const agora_space *sp = agora_world_space(w);
    const int64_t n = sp->n;
    op_state *st = agora_sdk_scalars(w);
    st->rule = rule_index(agora_param_choice(params, "rule"));
    st->epsilon = agora_param_real(params, "epsilon");
    st->mu = agora_param_real(params, "mu");
    st->rate = agora_param_real(params, "rate");
    st->lazy = agora_param_real(params, "lazy");
    st->action_step = -1;
    st->nblocks = (n + BLOCK - 1) / BLOCK;
    /* The rules' own working memory: the matching for deffuant, the sorted opinions for hk on a mixed space. */
    int rc;
    if (st->rule == RULE_DEFFUANT && (rc = agora_sdk_enable(w, F_CHOICE, err)) != 0)
        return rc;
    if (st->rule == RULE_HK && sp->kind == AGORA_SPACE_MIXED &&
        ((rc = agora_sdk_enable(w, F_SORTED, err)) != 0 || (rc = agora_sdk_enable(w, F_PREFIX, err)) != 0))
        return rc;
    const op_arrays A = arrays_of(w), *a = &A;

    const double s0 = agora_param_real(params, "stubbornness");
    st->any_stubborn = s0 > 0;
    const uint64_t base = agora_rng_base(agora_world_key(w), 0, AGORA_RNG_STREAM_INIT);
    if (st->rule == RULE_VOTER) {
        /* Exactly round(f n) agents start at 1, chosen uniformly (selection sampling). */
        int64_t needed = llround(agora_param_real(params, "initial_fraction") * (double)n);
        for (int64_t i = 0; i < n; i++) {
            const int take = (int64_t)agora_rng_below(agora_rng_at(base, (uint64_t)i), (uint64_t)(n - i)) < needed;
            a->x[i] = take ? 1.0 : 0.0;
            needed -= take;
        }
    } else {
        const char *init = agora_param_choice(params, "initial");
        const int kind = strcmp(init, "normal") == 0    ? INIT_NORMAL
                         : strcmp(init, "bimodal") == 0 ? INIT_BIMODAL
                                                        : INIT_UNIFORM;
        const double sd = agora_param_real(params, "initial_sd");
        for (int64_t i = 0; i < n; i++) {
            const double u1 = agora_rng_u01(agora_rng_at(base, 3 * (uint64_t)i));
            if (kind == INIT_UNIFORM) {
                a->x[i] = u1;
                continue;
            }
            const double u2 = agora_rng_u01(agora_rng_at(base, 3 * (uint64_t)i + 1));
            const double z = sqrt(-2.0 * log(1.0 - u1)) * cos(TWO_PI * u2);
            double c = 0.5;
            if (kind == INIT_BIMODAL)
                c = agora_rng_at(base, 3 * (uint64_t)i + 2) >> 63 ? 0.75 : 0.25;
            a->x[i] = clip01(c + sd * z);
        }
    }
    for (int64_t i = 0; i < n; i++) {
        a->anchor[i] = a->x[i];
        a->s[i] = s0;
    }
    return 0;
}

static int op_observe(const agora_world *w, const char *role, json_t **obs, agora_error *err)
{
    (void)role;
    (void)err;
    const op_state *st = agora_sdk_scalars(w);
    const op_arrays A = arrays_of(w), *a = &A;
    static const char *const names[] = {"degroot", "deffuant", "hk", "voter"};
    double m[M_COUNT];
    op_measure(w, m);
    json_t *o = json_object();
    json_object_set_new(o, "step", json_integer(agora_world_time(w)));
    json_object_set_new(o, "population", json_integer(agora_world_n(w)));
    json_object_set_new(o, "rule", json_string(names[st->rule]));
    for (int i = 0; i < M_COUNT; i++)
        json_object_set_new(o, op_metrics[i].name, json_real(m[i]));
    if (a->view.kind == AGORA_SPACE_GRAPH) {
        json_object_set_new(o, "edges", json_integer(a->view.graph.edges));
        json_object_set_new(o, "rewired_edges", json_integer(st->rewired));
    }
    *obs = o;
    return 0;
}

/* ---- actions ------------------------------------------------------------------------------------------------------
 */

/* Checks a list of agent ids; the schema has made them non-negative integers. */
static int check_ids(const json_t *ids, int64_t n, const char *where, agora_error *err)
{
    size_t k;
    const json_t *v;
    json_array_foreach(ids, k, v) {
        const json_int_t id = json_integer_value(v);
        if (id < 0 || id >= n)
            return agora_error_set(err, AGORA_EINVAL, where, "no agent %lld: ids run from 0 to %lld", (long long)id,
                                   (long long)(n - 1));
    }
    return 0;
}

static void pull(const op_state *st, const op_arrays *a, int64_t i, double target, double strength, uint64_t base)
{
    if (st->rule == RULE_VOTER) {
        if (agora_rng_u01(agora_rng_at(base, (uint64_t)i)) < strength)
            a->x[i] = target;
    } else {
        a->x[i] += strength * (target - a->x[i]);
    }
}

static int broadcast(agora_world *w, op_state *st, const op_arrays *a, const json_t *act, uint64_t t, uint32_t stream,
                     agora_error *err)
{
    const int64_t n = a->view.n;
    const double target = json_number_value(json_object_get(act, "opinion"));
    const double strength = json_number_value(json_object_get(act, "strength"));
    const json_t *reach = json_object_get(act, "reach");
    if (st->rule == RULE_VOTER && target != 0.0 && target != 1.0)
        return agora_error_set(err, AGORA_EINVAL, "action.opinion", "the voter model's opinions are 0 or 1, got %g",
                               target);
    if (json_is_array(reach)) {
        int rc = check_ids(reach, n, "action.reach", err);
        if (rc)
            return rc;
    }
    /* Draws for voter adoption and for choosing agents use two sub-streams of the action's stream. */
    const uint64_t adopt = agora_rng_base(agora_world_key(w), t, stream);
    if (json_is_array(reach)) {
        size_t k;
        const json_t *v;
        json_array_foreach(reach, k, v)
            pull(st, a, (int64_t)json_integer_value(v), target, strength, adopt);
    } else {
        const uint64_t choose = agora_rng_base(agora_world_key(w), t, stream + 1);
        int64_t needed = llround(json_number_value(reach) * (double)n);
        for (int64_t i = 0; i < n && needed > 0; i++)
            if ((int64_t)agora_rng_below(agora_rng_at(choose, (uint64_t)i), (uint64_t)(n - i)) < needed) {
                pull(st, a, i, target, strength, adopt);
                needed--;
            }
    }
    return 0;
}

static int set_stubbornness(op_state *st, const op_arrays *a, const json_t *act, agora_error *err)
{
    const int64_t n = a->view.n;
    const double value = json_number_value(json_object_get(act, "value"));
    const json_t *agents = json_object_get(act, "agents");
    if (json_is_array(agents)) {
        int rc = check_ids(agents, n, "action.agents", err);
        if (rc)
            return rc;
        size_t k;
        const json_t *v;
        json_array_foreach(agents, k, v) {
            const int64_t i = (int64_t)json_integer_value(v);
            a->s[i] = value;
            a->anchor[i] = a->x[i];
        }
    } else {
        for (int64_t i = 0; i < n; i++) {
            a->s[i] = value;
            a->anchor[i] = a->x[i];
        }
    }
    int any = 0;
    for (int64_t i = 0; i < n && !any; i++)
        any = a->s[i] > 0;
    st->any_stubborn = any;
    return 0;
}

/* An open-addressing set of undirected edges keyed lo << 32 | hi (lo < hi, so 0 never occurs: it is "empty"). */
#define EDGE_TOMB UINT64_MAX

static inline uint64_t edge_key(int64_t u, int64_t v)
{
    return u < v ? ((uint64_t)u << 32) | (uint64_t)v : ((uint64_t)v << 32) | (uint64_t)u;
}

static inline uint64_t *edge_find(uint64_t *tab, uint64_t mask, uint64_t key, int for_insert)
{
    uint64_t h = agora_rng_mix64(key) & mask;
    uint64_t *tomb = NULL;
    for (;; h = (h + 1) & mask) {
        if (tab[h] == key)
            return for_insert ? NULL : &tab[h];
        if (tab[h] == 0)
            return for_insert ? (tomb ? tomb : &tab[h]) : NULL;
        if (tab[h] == EDGE_TOMB && !tomb)
            tomb = &tab[h];
    }
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

static int rewire(agora_world *w, op_state *st, op_arrays *a, double fraction, uint64_t t, uint32_t stream,
                  agora_error *err)
{
    agora_graph *g = &a->view.graph;
    const int64_t n = a->view.n, E = g->edges;
    int64_t needed = llround(fraction * (double)E);
    if (needed == 0)
        return 0;
    uint64_t cap = 16;
    while (cap < 2 * (uint64_t)E)
        cap <<= 1;
    int32_t *eu = malloc((size_t)E * sizeof *eu), *ev = malloc((size_t)E * sizeof *ev);
    uint64_t *tab = calloc(cap, sizeof *tab);
    int64_t *off = calloc((size_t)n + 1, sizeof *off);
    int32_t *nbr = malloc((size_t)(2 * E) * sizeof *nbr);
    int rc = 0;
    if (!eu || !ev || !tab || !off || !nbr) {
        rc = agora_error_set(err, AGORA_ENOMEM, "action", "out of memory rewiring %lld edges", (long long)E);
        goto done;
    }
    int64_t m = 0;
    for (int64_t u = 0; u < n; u++)
        for (int64_t e = g->offsets[u]; e < g->offsets[u + 1]; e++)
            if (g->neighbors[e] > u) {
                eu[m] = (int32_t)u;
                ev[m] = g->neighbors[e];
                *edge_find(tab, cap - 1, edge_key(u, g->neighbors[e]), 1) = edge_key(u, g->neighbors[e]);
                m++;
            }
    /* Choose exactly `needed` edges (selection sampling); each keeps a random end and moves the other to a random
     * agent that is neither itself nor already its neighbour (up to REWIRE_TRIES draws, else the edge stays). */
    const uint64_t choose = agora_rng_base(agora_world_key(w), t, stream);
    const uint64_t target = agora_rng_base(agora_world_key(w), t, stream + 1);
    int64_t moved = 0;
    for (int64_t k = 0; k < E && needed > 0; k++) {
        const uint64_t r = agora_rng_at(choose, (uint64_t)k);
        if ((int64_t)agora_rng_below(r, (uint64_t)(E - k)) >= needed)
            continue;
        needed--;
        const int flip = (int)(agora_rng_at(target, (uint64_t)k * (REWIRE_TRIES + 1)) >> 63);
        const int64_t keep = flip ? ev[k] : eu[k], old = flip ? eu[k] : ev[k];
        for (int a = 1; a <= REWIRE_TRIES; a++) {
            const int64_t nv = (int64_t)agora_rng_below(
                agora_rng_at(target, (uint64_t)k * (REWIRE_TRIES + 1) + (uint64_t)a), (uint64_t)n);
            if (nv == keep || nv == old)
                continue;
            uint64_t *slot = edge_find(tab, cap - 1, edge_key(keep, nv), 1);
            if (!slot)
                continue; /* already an edge */
            *slot = edge_key(keep, nv);
            *edge_find(tab, cap - 1, edge_key(keep, old), 0) = EDGE_TOMB;
            eu[k] = (int32_t)keep;
            ev[k] = (int32_t)nv;
            moved++;
            break;
        }
    }
    /* The new CSR, rows sorted. */
    for (int64_t k = 0; k < E; k++) {
        off[eu[k] + 1]++;
        off[ev[k] + 1]++;
    }
    for (int64_t i = 0; i < n; i++)
        off[i + 1] += off[i];
    int64_t *fill = malloc((size_t)n * sizeof *fill);
    if (!fill) {
        rc = agora_error_set(err, AGORA_ENOMEM, "action", "out of memory rewiring");
        goto done;
    }
    memcpy(fill, off, (size_t)n * sizeof *fill);
    for (int64_t k = 0; k < E; k++) {
        nbr[fill[eu[k]]++] = ev[k];
        nbr[fill[ev[k]]++] = eu[k];
    }
    free(fill);
    for (int64_t i = 0; i < n; i++)
        qsort(nbr + off[i], (size_t)(off[i + 1] - off[i]), sizeof *nbr, cmp_i32);
    /* The model's own CSR, from now on (the first rewire allocates it; the edge count never changes). */
    if ((rc = agora_sdk_enable(w, F_OFF, err)) != 0 || (rc = agora_sdk_enable(w, F_NBR, err)) != 0)
        goto done;
    memcpy(agora_sdk_cur(w, F_OFF), off, ((size_t)n + 1) * sizeof *off);
    memcpy(agora_sdk_cur(w, F_NBR), nbr, (size_t)(2 * E) * sizeof *nbr);
    g->offsets = agora_sdk_cur(w, F_OFF);
    g->neighbors = agora_sdk_cur(w, F_NBR);
    st->rewired += moved;
done:
    free(eu);
    free(ev);
    free(tab);
    free(off);
    free(nbr);
    return rc;
}

static int op_apply(agora_world *w, const json_t *action, agora_error *err)
{
    op_state *st = agora_sdk_scalars(w);
    op_arrays A = arrays_of(w), *a = &A;
    const int64_t t = agora_world_time(w);
    const char *name = json_string_value(json_object_get(action, "action"));
    if (st->action_step != t) {
        st->action_step = t;
        st->actions_in_step = 0;
    }
    const uint32_t stream = AGORA_RNG_STREAM_ACTION + (uint32_t)(st->actions_in_step << 8);
    int rc;
    if (name && strcmp(name, "broadcast") == 0) {
        rc = broadcast(w, st, a, action, (uint64_t)t, stream, err);
    } else if (name && strcmp(name, "set_stubbornness") == 0) {
        rc = set_stubbornness(st, a, action, err);
    } else if (name && strcmp(name, "rewire") == 0) {
        if (a->view.kind != AGORA_SPACE_GRAPH)
            return agora_error_set(err, AGORA_EINVAL, "action.action",
                                   "rewire changes a graph's edges; this world's space is a %s",
                                   agora_space_kind_name(a->view.kind));
        rc = rewire(w, st, a, json_number_value(json_object_get(action, "fraction")), (uint64_t)t, stream, err);
    } else {
        return agora_error_set(err, AGORA_EINVAL, "action.action", "unknown action \"%s\"", name ? name : "");
    }
    if (rc == 0)
        st->actions_in_step++;
    return rc;
}

/* ---- checks the kernel cannot make ------------------------------------------------------------------------------- */

/* The declared domain is [0, 1]; the voter model's opinions are 0 or 1. */
static int op_check(const agora_world *w, int f, const int64_t *ids, int64_t count, const double *values,
                    agora_error *err)
{
    (void)f; /* `opinion` is the only writable field */
    const op_state *st = agora_sdk_scalars(w);
    for (int64_t q = 0; st->rule == RULE_VOTER && q < count; q++)
        if (!(values[q] == 0.0 || values[q] == 1.0))
            return agora_error_set(err, AGORA_EINVAL, "values",
                                   "values[%lld] = %g (agent %lld): the voter model's opinions are 0 or 1",
                                   (long long)q, values[q], (long long)ids[q]);
    /* Metrics are computed from the opinions when measured, and anchors stay (see the file's header): once written,
     * nothing else is to bring up to date. */
    return 0;
}

/* A saved state holds the rule it ran; one whose rule is not this world's would step without its working memory. */
static int op_loaded(agora_world *w, agora_error *err)
{
    const op_state *st = agora_sdk_scalars(w);
    if (st->rule != rule_index(agora_param_choice(agora_world_params(w), "rule")) ||
        st->nblocks != (agora_world_n(w) + BLOCK - 1) / BLOCK)
        return agora_error_set(err, AGORA_EINVAL, "state", "the saved opinion state is for another world");
    return 0;
}

static const agora_model_sdk op_sdk = {
    .fields = op_decl, .scalars = sizeof(op_state), .check = op_check, .loaded = op_loaded};

const agora_model agora_model_opinion = {
    .name = "opinion",
    .summary = "opinion dynamics: voter, DeGroot/Friedkin-Johnsen averaging, Deffuant and Hegselmann-Krause bounded "
               "confidence",
    .params = op_params,
    .metrics = op_metrics,
    .fields = op_fields,
    .action_schema = op_action_schema,
    .spaces = AGORA_SPACES_GRID | AGORA_SPACES_GRAPH | AGORA_SPACES_MIXED,
    .init = op_init,
    .step = op_step,
    .measure = op_measure,
    .observe = op_observe,
    .apply = op_apply,
    AGORA_SDK_HOOKS,
    .sdk = &op_sdk,
};
