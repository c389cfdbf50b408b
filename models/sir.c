/* agora — SIR epidemic model on grids and graphs.
 *
 * Each step, synchronously: a susceptible agent with k infected neighbours becomes infected with probability
 * 1 - (1 - beta)^k; an infected agent recovers with probability gamma; recovered agents stay recovered. Both events
 * use one draw per agent per step from the counter RNG (stream AGORA_RNG_STREAM_MODEL), compared with a 31-bit integer
 * threshold looked up by (state, k), so the hot loop has no floating point, no branches that depend on state and no
 * calls: the new state is `s + (r < threshold)` with states S = 0, I = 1, R = 2 (and `s & 1` is "infected").
 *
 * State is one byte per agent, double-buffered (2 bytes per agent), plus on a graph each agent's infected-neighbour
 * tally (4 bytes): the kernel owns these arrays (the model SDK, sir_decl) and swaps the state's buffers after each
 * step, so this file keeps only the science. On a grid the loop runs over rows in tiles:
 * vertical sums of three rows, then horizontal sums, both vectorised; on a graph it sums the CSR row of each
 * susceptible agent. Counts of S, I, R and of the step's transitions are integer reductions, so they are exact and
 * independent of thread count.
 *
 * Actions (persona interventions): vaccinate {fraction} moves that fraction of the current susceptibles to R;
 * lockdown {strength, steps} multiplies beta by (1 - strength) for the next `steps` steps (a new lockdown replaces
 * the running one; strength 0 lifts it); seed_infection {count} infects `count` random susceptibles. Random choices
 * of agents use selection sampling (Knuth's Algorithm S) over the counter RNG, so exactly the requested number is
 * chosen, uniformly, in one pass and without memory.
 *
 * The field `state` is writable (agora_world_set_field): values 0, 1 or 2, whole numbers only. The counts follow;
 * an agent moved into I from S or R is a new case in cumulative_infected (moving it out never removes one); on a
 * graph the neighbours' infected tallies follow. `vaccinated` (doses given by actions) and new_infections /
 * new_recoveries (the transitions of the last step) are left as they were. A copy (agora_world_copy) takes the
 * state, the tallies, the thresholds in force and every counter, so it steps bit for bit like the original. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <omp.h>

#include "agora/kernel.h"
#include "core/simd.h"

enum { S = 0, I = 1, R = 2 };

/* The kernel-owned arrays (agora_field_decl), in this order. Thresholds for a susceptible agent with k infected
 * neighbours are kept for k = 0 .. the largest degree. */
enum { F_STATE, F_K, F_THR, F_ZERO_ROW };

static const agora_field_decl sir_decl[] = {
    {.name = "state",
     .type = AGORA_DTYPE_U8,
     .flags = AGORA_FIELD_DOUBLE | AGORA_FIELD_SNAPSHOT | AGORA_FIELD_WRITABLE,
     .min = S,
     .max = R,
     .domain = "a state is 0 (susceptible), 1 (infected) or 2 (recovered)"},
    {.name = "k",
     .elem = sizeof(uint32_t),
     .spaces = AGORA_SPACES_GRAPH,
     .doc = "infected neighbours of each agent in the current state, kept up to date"},
    {.name = "thr_inf",
     .elem = sizeof(uint32_t),
     .extent = AGORA_EXTENT_DEGREE,
     .doc = "infection thresholds by infected neighbours k = 0 .. max degree, for beta_table"},
    {.name = "zero_row",
     .elem = 1,
     .extent = AGORA_EXTENT_ROW,
     .flags = AGORA_FIELD_SCRATCH,
     .spaces = AGORA_SPACES_GRID,
     .doc = "a row of susceptibles beyond a bounded grid's edge (never written)"},
    {0}};

/* The scalars: plain data, copied and saved as bytes by the kernel. */
typedef struct sir_state {
    double beta, gamma;
    double beta_table; /* the beta the infection thresholds were computed for */
    uint32_t thr_rec;
    double lockdown_strength;
    int64_t lockdown_until;               /* lockdown acts on steps t < lockdown_until */
    int64_t count[3];                     /* agents in S, I, R at the current step */
    int64_t new_inf, new_rec;             /* transitions during the last step */
    int64_t cumulative;                   /* agents ever infected, including the initially infected */
    int64_t vaccinated;                   /* agents moved S -> R by `vaccinate` */
    int64_t action_step, actions_in_step; /* to give each action of a step its own RNG stream */
} sir_state;

static const agora_param_spec sir_params[] = {
    {"beta", AGORA_PARAM_REAL, 0.05, 0.0, 1.0,
     "probability per step that one infected neighbour infects a susceptible agent", NULL},
    {"gamma", AGORA_PARAM_REAL, 0.1, 0.0, 1.0, "probability per step that an infected agent recovers", NULL},
    {"initial_infected", AGORA_PARAM_AMOUNT, 10, 0.0, 0.0, "agents infected at step 0: a fraction in [0, 1) or a count",
     NULL},
    {NULL, 0, 0, 0, 0, NULL, NULL}};

enum {
    M_S,
    M_I,
    M_R,
    M_S_FRAC,
    M_I_FRAC,
    M_R_FRAC,
    M_NEW_INF,
    M_NEW_REC,
    M_CUMULATIVE,
    M_ATTACK,
    M_VACCINATED,
    M_BETA_EFF,
    M_COUNT
};

static const agora_metric_spec sir_metrics[] = {
    {"S", "susceptible agents", NULL},
    {"I", "infected agents", "peak"},
    {"R", "recovered (or vaccinated) agents", NULL},
    {"S_frac", "fraction susceptible", NULL},
    {"I_frac", "fraction infected", "peak"},
    {"R_frac", "fraction recovered (or vaccinated)", NULL},
    {"new_infections", "infections during the step that led here", NULL},
    {"new_recoveries", "recoveries during the step that led here", NULL},
    {"cumulative_infected", "agents ever infected, initial cases included", NULL},
    {"attack_rate", "fraction of agents ever infected (the final size at the end)", "final"},
    {"vaccinated", "agents immunised by vaccinate actions so far (R = recovered + vaccinated)", "final"},
    {"beta_eff", "transmission probability in force (beta scaled by any lockdown)", NULL},
    {NULL, NULL, NULL}};

static const agora_field_spec sir_fields[] = {
    {"state", AGORA_DTYPE_U8, "0 susceptible, 1 infected, 2 recovered (writable)"}, {NULL, 0, NULL}};

static const char sir_action_schema[] =
    "{\"anyOf\": ["
    "{\"type\": \"object\", \"title\": \"vaccinate\","
    " \"description\": \"Immunise a fraction of the currently susceptible agents now (S to R).\","
    " \"properties\": {\"action\": {\"const\": \"vaccinate\"},"
    " \"fraction\": {\"type\": \"number\", \"minimum\": 0, \"maximum\": 1,"
    " \"description\": \"share of susceptible agents to immunise\"}},"
    " \"required\": [\"action\", \"fraction\"], \"additionalProperties\": false},"
    "{\"type\": \"object\", \"title\": \"lockdown\","
    " \"description\": \"Reduce transmission: beta is multiplied by (1 - strength) for the next `steps` steps;"
    " replaces a running lockdown; strength 0 lifts it.\","
    " \"properties\": {\"action\": {\"const\": \"lockdown\"},"
    " \"strength\": {\"type\": \"number\", \"minimum\": 0, \"maximum\": 1},"
    " \"steps\": {\"type\": \"integer\", \"minimum\": 1, \"maximum\": 1000000}},"
    " \"required\": [\"action\", \"strength\", \"steps\"], \"additionalProperties\": false},"
    "{\"type\": \"object\", \"title\": \"seed_infection\","
    " \"description\": \"Infect `count` randomly chosen susceptible agents now (all of them if fewer remain).\","
    " \"properties\": {\"action\": {\"const\": \"seed_infection\"},"
    " \"count\": {\"type\": \"integer\", \"minimum\": 1, \"maximum\": 1000000000000}},"
    " \"required\": [\"action\", \"count\"], \"additionalProperties\": false}"
    "]}";

/* ---- thresholds ---------------------------------------------------------------------------------------------- */

static double beta_effective(const sir_state *st, int64_t t)
{
    return t < st->lockdown_until ? st->beta * (1.0 - st->lockdown_strength) : st->beta;
}

/* Recomputes the infection thresholds when the effective beta changed (at most once per step). */
static void update_thresholds(agora_world *w, sir_state *st, double beta)
{
    if (beta == st->beta_table)
        return;
    uint32_t *thr_inf = agora_sdk_cur(w, F_THR);
    for (int64_t k = 0, kn = agora_sdk_length(w, F_THR); k < kn; k++)
        thr_inf[k] = agora_rng_threshold31(1.0 - pow(1.0 - beta, (double)k));
    st->beta_table = beta;
}

/* ---- the grid step --------------------------------------------------------------------------------------------- */

#define TILE 2048

/* The infected count of column c in rows up/mid/dn, with the grid's wrap or edge. */
static inline unsigned column_sum(const uint8_t *up, const uint8_t *mid, const uint8_t *dn, int64_t c, int64_t w,
                                  int torus)
{
    if (c < 0 || c >= w) {
        if (!torus)
            return 0;
        c = c < 0 ? c + w : c - w;
    }
    return (unsigned)((up[c] & 1) + (mid[c] & 1) + (dn[c] & 1));
}

static inline unsigned cell_inf(const uint8_t *row, int64_t c, int64_t w, int torus)
{
    if (c < 0 || c >= w) {
        if (!torus)
            return 0;
        c = c < 0 ? c + w : c - w;
    }
    return row[c] & 1u;
}

/* Updates columns [x0, x1) of one row. `index0` is the agent index of column 0 of the row. Returns the number of
 * S->I transitions in *ninf and I->R in *nrec. `thr` is the 3 x 16 table: thr[s * 16 + k]. */
AGORA_HOT static void grid_tile(uint8_t *restrict out, const uint8_t *restrict up, const uint8_t *restrict mid,
                                const uint8_t *restrict dn, int64_t w, int torus, int moore, int64_t x0, int64_t x1,
                                uint64_t base, uint64_t index0, const uint32_t *restrict thr, uint32_t *ninf,
                                uint32_t *nrec)
{
    uint8_t v[TILE + 2], k[TILE];
    const int n = (int)(x1 - x0);
    if (moore) {
        /* v[j] is the column sum of column x0 - 1 + j. */
        for (int j = 0; j < n; j++)
            v[j + 1] = (uint8_t)((up[x0 + j] & 1) + (mid[x0 + j] & 1) + (dn[x0 + j] & 1));
        v[0] = (uint8_t)column_sum(up, mid, dn, x0 - 1, w, torus);
        v[n + 1] = (uint8_t)column_sum(up, mid, dn, x1, w, torus);
        for (int j = 0; j < n; j++)
            k[j] = (uint8_t)(v[j] + v[j + 1] + v[j + 2] - (mid[x0 + j] & 1));
    } else {
        /* v[j] is the infected flag of column x0 - 1 + j of the middle row. */
        for (int j = 0; j < n; j++)
            v[j + 1] = mid[x0 + j] & 1;
        v[0] = (uint8_t)cell_inf(mid, x0 - 1, w, torus);
        v[n + 1] = (uint8_t)cell_inf(mid, x1, w, torus);
        for (int j = 0; j < n; j++)
            k[j] = (uint8_t)((up[x0 + j] & 1) + (dn[x0 + j] & 1) + v[j] + v[j + 2]);
    }
    uint32_t a = 0, b = 0;
    const uint64_t start = base + (index0 + (uint64_t)x0 + 1) * AGORA_RNG_GAMMA;
    for (int j = 0; j < n; j++) {
        const uint8_t s = mid[x0 + j];
        const uint32_t r = agora_rng_r31(agora_rng_mix64(start + (uint64_t)j * AGORA_RNG_GAMMA));
        const uint8_t step = (uint8_t)(r < thr[s * 16 + k[j]]);
        out[x0 + j] = (uint8_t)(s + step);
        a += step & (s == S);
        b += step & (s == I);
    }
    *ninf += a;
    *nrec += b;
}

static void grid_step(agora_world *w, sir_state *st, uint64_t base)
{
    const agora_grid *g = &agora_world_space(w)->grid;
    const int64_t W = g->width, H = g->height;
    const int torus = g->torus, moore = g->nbhd == AGORA_MOORE;
    /* thr[s * 16 + k]: S uses the infection table, I the recovery threshold, R never changes. */
    uint32_t thr[48] = {0};
    const uint32_t *thr_inf = agora_sdk_cur(w, F_THR);
    for (int64_t kk = 0, kn = agora_sdk_length(w, F_THR); kk < kn; kk++) { /* 9 (Moore) or 5 (von Neumann) */
        thr[S * 16 + kk] = thr_inf[kk];
        thr[I * 16 + kk] = st->thr_rec;
    }
    const uint8_t *restrict cur = agora_sdk_cur(w, F_STATE), *zero_row = agora_sdk_cur(w, F_ZERO_ROW);
    uint8_t *restrict nxt = agora_sdk_next(w, F_STATE);
    int64_t ninf = 0, nrec = 0;
#pragma omp parallel for schedule(static) num_threads(agora_world_threads(w)) reduction(+ : ninf, nrec)
    for (int64_t y = 0; y < H; y++) {
        const uint8_t *mid = cur + y * W;
        const uint8_t *up = y > 0 ? mid - W : (torus ? cur + (H - 1) * W : zero_row);
        const uint8_t *dn = y < H - 1 ? mid + W : (torus ? cur : zero_row);
        uint32_t a = 0, b = 0;
        for (int64_t x0 = 0; x0 < W; x0 += TILE) {
            int64_t x1 = x0 + TILE < W ? x0 + TILE : W;
            grid_tile(nxt + y * W, up, mid, dn, W, torus, moore, x0, x1, base, (uint64_t)(y * W), thr, &a, &b);
        }
        ninf += a;
        nrec += b;
    }
    st->new_inf = ninf;
    st->new_rec = nrec;
}

/* ---- the graph step -------------------------------------------------------------------------------------------- */

#define GRAPH_BLOCK 4096 /* agents per parallel work item on a graph */

/* Infected neighbours of every agent in `cur`, from scratch (at start-up and after an action infects agents). */
static void recount_neighbours(const agora_world *w, const uint8_t *cur)
{
    const agora_space *sp = agora_world_space(w);
    const int64_t *off = sp->graph.offsets;
    const int32_t *nbr = sp->graph.neighbors;
    uint32_t *k = agora_sdk_cur(w, F_K);
#pragma omp parallel for schedule(dynamic, GRAPH_BLOCK) num_threads(agora_world_threads(w))
    for (int64_t i = 0; i < sp->n; i++) {
        uint32_t c = 0;
        for (int64_t e = off[i]; e < off[i + 1]; e++)
            c += cur[nbr[e]] == I;
        k[i] = c;
    }
}

/* The update of agents [i0, i1) given their infected-neighbour counts: the same branch-free form as the grid's. */
AGORA_HOT static void graph_update(uint8_t *restrict out, const uint8_t *restrict cur, const uint32_t *restrict k,
                                   int64_t i0, int64_t i1, uint64_t base, const uint32_t *restrict thr_inf,
                                   uint32_t thr_rec, uint32_t *ninf, uint32_t *nrec)
{
    const int n = (int)(i1 - i0);
    const uint8_t *restrict c = cur + i0;
    const uint32_t *restrict kk = k + i0;
    uint8_t *restrict o = out + i0;
    const uint64_t start = base + ((uint64_t)i0 + 1) * AGORA_RNG_GAMMA;
    uint32_t a = 0, b = 0;
    for (int q = 0; q < n; q++) {
        const uint8_t s = c[q];
        /* The table is read for every agent (k is a valid index for all of them) and the state selects the
         * threshold with masks, not branches, so that the loop vectorises. */
        const uint32_t t = (thr_inf[kk[q]] & -(uint32_t)(s == S)) | (thr_rec & -(uint32_t)(s == I));
        const uint32_t r = agora_rng_r31(agora_rng_mix64(start + (uint64_t)q * AGORA_RNG_GAMMA));
        const uint8_t step = (uint8_t)(r < t);
        o[q] = (uint8_t)(s + step);
        a += step & (s == S);
        b += step & (s == I);
    }
    *ninf += a;
    *nrec += b;
}

/* Brings the neighbour counts of agents [i0, i1)'s neighbours up to date with the step cur -> next: an agent that
 * became infected adds one to each neighbour, one that recovered takes one away. Several threads may update the same
 * neighbour, so the adds are atomic; integer addition commutes, so the counts do not depend on their order. */
static void propagate(uint32_t *k, const uint8_t *restrict cur, const uint8_t *restrict next,
                      const int64_t *restrict off, const int32_t *restrict nbr, int64_t i0, int64_t i1, int atomic)
{
    for (int64_t i = i0; i < i1; i++) {
        if (next[i] == cur[i])
            continue;
        const uint32_t d = next[i] == I ? 1u : UINT32_MAX; /* S -> I: +1; I -> R: -1 (mod 2^32) */
        if (atomic)
            for (int64_t e = off[i]; e < off[i + 1]; e++)
                __atomic_fetch_add(&k[nbr[e]], d, __ATOMIC_RELAXED);
        else
            for (int64_t e = off[i]; e < off[i + 1]; e++)
                k[nbr[e]] += d;
    }
}

/* On a graph every agent's infected-neighbour count k is kept up to date instead of being recounted: a step reads k
 * in one vectorised pass, then brings k up to date for its infections and recoveries. Two ways do that and give the
 * same counts, so the step takes the cheaper: scattering +1/-1 to the neighbours of the agents that changed (plain
 * adds on one thread, atomic adds on several), or, when many changed, recounting every row in parallel (no atomics;
 * an atomic add costs about as much as reading ten neighbours). Over a quiet epidemic that is a few visits per edge
 * in all, instead of one per edge and step. */
static void graph_step(agora_world *w, sir_state *st, uint64_t base)
{
    const agora_space *sp = agora_world_space(w);
    const int64_t n = sp->n;
    const uint8_t *cur = agora_sdk_cur(w, F_STATE);
    uint8_t *next = agora_sdk_next(w, F_STATE);
    uint32_t *k = agora_sdk_cur(w, F_K);
    const uint32_t *thr_inf = agora_sdk_cur(w, F_THR);
    const int64_t nblocks = (n + GRAPH_BLOCK - 1) / GRAPH_BLOCK;
    const int threads = agora_world_threads(w);
    int64_t ninf = 0, nrec = 0;
#pragma omp parallel for schedule(static) num_threads(threads) reduction(+ : ninf, nrec)
    for (int64_t bi = 0; bi < nblocks; bi++) {
        int64_t i0 = bi * GRAPH_BLOCK, i1 = i0 + GRAPH_BLOCK < n ? i0 + GRAPH_BLOCK : n;
        uint32_t a = 0, b = 0;
        graph_update(next, cur, k, i0, i1, base, thr_inf, st->thr_rec, &a, &b);
        ninf += a;
        nrec += b;
    }
    st->new_inf = ninf;
    st->new_rec = nrec;
    const int64_t changed = ninf + nrec;
    const int recount = threads > 1 ? changed * 16 > n : changed * 2 > n;
    if (!recount && changed > 0) {
#pragma omp parallel for schedule(dynamic, 4) num_threads(threads)
        for (int64_t bi = 0; bi < nblocks; bi++) {
            int64_t i0 = bi * GRAPH_BLOCK, i1 = i0 + GRAPH_BLOCK < n ? i0 + GRAPH_BLOCK : n;
            propagate(k, cur, next, sp->graph.offsets, sp->graph.neighbors, i0, i1, threads > 1);
        }
    }
    if (recount)
        recount_neighbours(w, next); /* the new state, which the kernel makes current after the step */
}

static void sir_step(agora_world *w)
{
    sir_state *st = agora_sdk_scalars(w);
    const int64_t t = agora_world_time(w);
    update_thresholds(w, st, beta_effective(st, t));
    const uint64_t base = agora_rng_base(agora_world_key(w), (uint64_t)t, AGORA_RNG_STREAM_MODEL);
    if (agora_world_space(w)->kind == AGORA_SPACE_GRID)
        grid_step(w, st, base);
    else
        graph_step(w, st, base);
    st->count[S] -= st->new_inf;
    st->count[I] += st->new_inf - st->new_rec;
    st->count[R] += st->new_rec;
    st->cumulative += st->new_inf;
}

/* ---- choosing agents ------------------------------------------------------------------------------------------- */

/* Moves exactly min(count, #S) susceptible agents, chosen uniformly at random, to state `to` (Algorithm S: each
 * susceptible is taken with probability needed / remaining). Returns how many moved. */
static int64_t move_susceptibles(const agora_world *w, sir_state *st, int64_t count, uint8_t to, uint64_t step,
                                 uint32_t stream)
{
    const int64_t n = agora_world_n(w);
    uint8_t *cur = agora_sdk_cur(w, F_STATE);
    int64_t remaining = st->count[S], needed = count < remaining ? count : remaining, moved = 0;
    const uint64_t base = agora_rng_base(agora_world_key(w), step, stream);
    for (int64_t i = 0; i < n && needed > 0; i++) {
        if (cur[i] != S)
            continue;
        if ((int64_t)agora_rng_below(agora_rng_at(base, (uint64_t)i), (uint64_t)remaining) < needed) {
            cur[i] = to;
            needed--;
            moved++;
        }
        remaining--;
    }
    st->count[S] -= moved;
    st->count[to] += moved;
    return moved;
}

/* ---- lifecycle ------------------------------------------------------------------------------------------------- */

static int sir_init(agora_world *w, const json_t *params, agora_error *err)
{
    (void)err;
    const agora_space *sp = agora_world_space(w);
    const int64_t n = sp->n;
    sir_state *st = agora_sdk_scalars(w); /* the kernel has allocated every array zero-filled: all susceptible */
    st->beta = agora_param_real(params, "beta");
    st->gamma = agora_param_real(params, "gamma");
    st->beta_table = NAN;
    st->thr_rec = agora_rng_threshold31(st->gamma);
    st->count[S] = n;
    st->action_step = -1;
    st->cumulative =
        move_susceptibles(w, st, agora_param_amount(params, "initial_infected", n), I, 0, AGORA_RNG_STREAM_INIT);
    if (sp->kind == AGORA_SPACE_GRAPH)
        recount_neighbours(w, agora_sdk_cur(w, F_STATE));
    return 0;
}

static void sir_measure(const agora_world *w, double *out)
{
    const sir_state *st = agora_sdk_scalars(w);
    const double n = (double)agora_world_n(w);
    out[M_S] = (double)st->count[S];
    out[M_I] = (double)st->count[I];
    out[M_R] = (double)st->count[R];
    out[M_S_FRAC] = (double)st->count[S] / n;
    out[M_I_FRAC] = (double)st->count[I] / n;
    out[M_R_FRAC] = (double)st->count[R] / n;
    out[M_NEW_INF] = (double)st->new_inf;
    out[M_NEW_REC] = (double)st->new_rec;
    out[M_CUMULATIVE] = (double)st->cumulative;
    out[M_ATTACK] = (double)st->cumulative / n;
    out[M_VACCINATED] = (double)st->vaccinated;
    out[M_BETA_EFF] = beta_effective(st, agora_world_time(w));
}

static int sir_observe(const agora_world *w, const char *role, json_t **obs, agora_error *err)
{
    (void)role;
    (void)err;
    const sir_state *st = agora_sdk_scalars(w);
    double m[M_COUNT];
    sir_measure(w, m);
    json_t *o = json_object();
    json_object_set_new(o, "step", json_integer(agora_world_time(w)));
    json_object_set_new(o, "population", json_integer(agora_world_n(w)));
    for (int i = 0; i < M_COUNT; i++)
        json_object_set_new(o, sir_metrics[i].name, json_real(m[i]));
    if (agora_world_time(w) < st->lockdown_until)
        json_object_set_new(o, "lockdown",
                            json_pack("{s:f, s:I}", "strength", st->lockdown_strength, "steps_left",
                                      (json_int_t)(st->lockdown_until - agora_world_time(w))));
    *obs = o;
    return 0;
}

static int sir_apply(agora_world *w, const json_t *action, agora_error *err)
{
    (void)err;
    sir_state *st = agora_sdk_scalars(w);
    const int64_t t = agora_world_time(w);
    const char *name = json_string_value(json_object_get(action, "action"));
    if (st->action_step != t) {
        st->action_step = t;
        st->actions_in_step = 0;
    }
    const uint32_t stream = AGORA_RNG_STREAM_ACTION + (uint32_t)(st->actions_in_step++ << 8);
    if (strcmp(name, "vaccinate") == 0) {
        double f = json_number_value(json_object_get(action, "fraction"));
        st->vaccinated += move_susceptibles(w, st, (int64_t)llround(f * (double)st->count[S]), R, (uint64_t)t, stream);
    } else if (strcmp(name, "lockdown") == 0) {
        st->lockdown_strength = json_number_value(json_object_get(action, "strength"));
        st->lockdown_until =
            st->lockdown_strength > 0 ? t + (int64_t)json_number_value(json_object_get(action, "steps")) : t;
    } else if (strcmp(name, "seed_infection") == 0) {
        st->cumulative += move_susceptibles(w, st, (int64_t)json_number_value(json_object_get(action, "count")), I,
                                            (uint64_t)t, stream);
        if (agora_world_space(w)->kind == AGORA_SPACE_GRAPH)
            recount_neighbours(w, agora_sdk_cur(w, F_STATE));
    } else {
        return agora_error_set(err, AGORA_EINVAL, "action.action", "unknown action \"%s\"", name ? name : "");
    }
    return 0;
}

/* ---- field writes ---------------------------------------------------------------------------------------------- */

/* Adds d (+1 or -1 mod 2^32) to the infected tally of each neighbour of agent i. */
static void tally_neighbours(const agora_space *sp, uint32_t *k, int64_t i, uint32_t d)
{
    for (int64_t e = sp->graph.offsets[i]; e < sp->graph.offsets[i + 1]; e++)
        k[sp->graph.neighbors[e]] += d;
}

/* After a write to `state` (the kernel has checked the values and written them in order): the counts follow every
 * change, an agent moved into I is a new case, and on a graph the neighbours' tallies follow. */
static void sir_written(agora_world *w, int f, const int64_t *ids, int64_t count, const double *old,
                        const double *values)
{
    (void)f; /* `state` is the only writable field */
    sir_state *st = agora_sdk_scalars(w);
    const agora_space *sp = agora_world_space(w);
    uint32_t *k = agora_sdk_cur(w, F_K);
    /* Many changes: one parallel recount of the tallies afterwards is cheaper than updating them agent by agent (both
     * give the same integers). */
    const int recount = sp->kind == AGORA_SPACE_GRAPH && count * 2 > sp->n;
    for (int64_t q = 0; q < count; q++) {
        const uint8_t from = (uint8_t)old[q], to = (uint8_t)values[q];
        if (from == to)
            continue;
        st->count[from]--;
        st->count[to]++;
        if (to == I)
            st->cumulative++;
        if (sp->kind == AGORA_SPACE_GRAPH && !recount && (from == I || to == I))
            tally_neighbours(sp, k, ids[q], to == I ? 1u : UINT32_MAX);
    }
    if (recount)
        recount_neighbours(w, agora_sdk_cur(w, F_STATE));
}

static const agora_model_sdk sir_sdk = {.fields = sir_decl, .scalars = sizeof(sir_state), .written = sir_written};

const agora_model agora_model_sir = {
    .name = "sir",
    .summary = "SIR epidemic: infection from infected neighbours with probability 1-(1-beta)^k, recovery with "
               "probability gamma",
    .params = sir_params,
    .metrics = sir_metrics,
    .fields = sir_fields,
    .action_schema = sir_action_schema,
    .spaces = AGORA_SPACES_GRID | AGORA_SPACES_GRAPH,
    .init = sir_init,
    .step = sir_step,
    .measure = sir_measure,
    .observe = sir_observe,
    .apply = sir_apply,
    AGORA_SDK_HOOKS,
    .sdk = &sir_sdk,
};
