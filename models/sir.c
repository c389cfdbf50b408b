/* agora — SIR epidemic model on grids and graphs.
 *
 * Each step, synchronously: a susceptible agent with k infected neighbours becomes infected with probability
 * 1 - (1 - beta)^k; an infected agent recovers with probability gamma; recovered agents stay recovered. Both events
 * use one draw per agent per step from the counter RNG (stream AGORA_RNG_STREAM_MODEL), compared with a 31-bit integer
 * threshold looked up by (state, k), so the hot loop has no floating point, no branches that depend on state and no
 * calls: the new state is `s + (r < threshold)` with states S = 0, I = 1, R = 2 (and `s & 1` is "infected").
 *
 * State is one byte per agent, double-buffered (2 bytes per agent). On a grid the loop runs over rows in tiles:
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

#include "agora/agora.h"
#include "core/simd.h"

enum { S = 0, I = 1, R = 2 };

/* Thresholds for a susceptible agent with k infected neighbours are kept for k = 0 .. max degree. */
typedef struct sir_state {
    uint8_t *cur, *next;
    uint8_t *zero_row;       /* a row of susceptibles, standing in for rows beyond a bounded grid's edge */
    uint32_t *k;             /* graphs: infected neighbours of each agent in `cur`, kept up to date */
    double beta, gamma;
    double beta_table;       /* the beta the infection thresholds were computed for */
    uint32_t *thr_inf;       /* [kmax + 1] */
    int64_t kmax;
    uint32_t thr_rec;
    double lockdown_strength;
    int64_t lockdown_until;  /* lockdown acts on steps t < lockdown_until */
    int64_t count[3];        /* agents in S, I, R at the current step */
    int64_t new_inf, new_rec;/* transitions during the last step */
    int64_t cumulative;      /* agents ever infected, including the initially infected */
    int64_t vaccinated;      /* agents moved S -> R by `vaccinate` */
    int64_t action_step, actions_in_step; /* to give each action of a step its own RNG stream */
} sir_state;

static const agora_param_spec sir_params[] = {
    {"beta", AGORA_PARAM_REAL, 0.05, 0.0, 1.0, "probability per step that one infected neighbour infects a susceptible agent", NULL},
    {"gamma", AGORA_PARAM_REAL, 0.1, 0.0, 1.0, "probability per step that an infected agent recovers", NULL},
    {"initial_infected", AGORA_PARAM_AMOUNT, 10, 0.0, 0.0, "agents infected at step 0: a fraction in [0, 1) or a count", NULL},
    {NULL, 0, 0, 0, 0, NULL, NULL}};

enum {
    M_S, M_I, M_R, M_S_FRAC, M_I_FRAC, M_R_FRAC, M_NEW_INF, M_NEW_REC, M_CUMULATIVE, M_ATTACK, M_VACCINATED, M_BETA_EFF, M_COUNT
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
static void update_thresholds(sir_state *st, double beta)
{
    if (beta == st->beta_table)
        return;
    for (int64_t k = 0; k <= st->kmax; k++)
        st->thr_inf[k] = agora_rng_threshold31(1.0 - pow(1.0 - beta, (double)k));
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
    for (int kk = 0; kk <= 8; kk++) {
        thr[S * 16 + kk] = st->thr_inf[kk];
        thr[I * 16 + kk] = st->thr_rec;
    }
    const uint8_t *restrict cur = st->cur;
    uint8_t *restrict nxt = st->next;
    int64_t ninf = 0, nrec = 0;
#pragma omp parallel for schedule(static) num_threads(agora_world_threads(w)) reduction(+ : ninf, nrec)
    for (int64_t y = 0; y < H; y++) {
        const uint8_t *mid = cur + y * W;
        const uint8_t *up = y > 0 ? mid - W : (torus ? cur + (H - 1) * W : st->zero_row);
        const uint8_t *dn = y < H - 1 ? mid + W : (torus ? cur : st->zero_row);
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

/* Infected neighbours of every agent, from scratch (at start-up and after an action infects agents). */
static void recount_neighbours(agora_world *w, sir_state *st)
{
    const agora_space *sp = agora_world_space(w);
    const int64_t *off = sp->graph.offsets;
    const int32_t *nbr = sp->graph.neighbors;
    const uint8_t *cur = st->cur;
    uint32_t *k = st->k;
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
    const int64_t nblocks = (n + GRAPH_BLOCK - 1) / GRAPH_BLOCK;
    const int threads = agora_world_threads(w);
    int64_t ninf = 0, nrec = 0;
#pragma omp parallel for schedule(static) num_threads(threads) reduction(+ : ninf, nrec)
    for (int64_t bi = 0; bi < nblocks; bi++) {
        int64_t i0 = bi * GRAPH_BLOCK, i1 = i0 + GRAPH_BLOCK < n ? i0 + GRAPH_BLOCK : n;
        uint32_t a = 0, b = 0;
        graph_update(st->next, st->cur, st->k, i0, i1, base, st->thr_inf, st->thr_rec, &a, &b);
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
            propagate(st->k, st->cur, st->next, sp->graph.offsets, sp->graph.neighbors, i0, i1, threads > 1);
        }
    }
    uint8_t *tmp = st->cur;
    st->cur = st->next;
    st->next = tmp;
    if (recount)
        recount_neighbours(w, st);
}

static void sir_step(agora_world *w)
{
    sir_state *st = agora_world_model_state(w);
    const int64_t t = agora_world_time(w);
    update_thresholds(st, beta_effective(st, t));
    const uint64_t base = agora_rng_base(agora_world_key(w), (uint64_t)t, AGORA_RNG_STREAM_MODEL);
    if (agora_world_space(w)->kind == AGORA_SPACE_GRID) {
        grid_step(w, st, base);
        uint8_t *tmp = st->cur;
        st->cur = st->next;
        st->next = tmp;
    } else {
        graph_step(w, st, base); /* swaps the buffers itself, before it may recount from the new one */
    }
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
    int64_t remaining = st->count[S], needed = count < remaining ? count : remaining, moved = 0;
    const uint64_t base = agora_rng_base(agora_world_key(w), step, stream);
    for (int64_t i = 0; i < n && needed > 0; i++) {
        if (st->cur[i] != S)
            continue;
        if ((int64_t)agora_rng_below(agora_rng_at(base, (uint64_t)i), (uint64_t)remaining) < needed) {
            st->cur[i] = to;
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

static void sir_destroy(agora_world *w)
{
    sir_state *st = agora_world_model_state(w);
    if (!st)
        return;
    free(st->cur);
    free(st->next);
    free(st->zero_row);
    free(st->k);
    free(st->thr_inf);
    free(st);
    agora_world_set_model_state(w, NULL);
}

static int sir_init(agora_world *w, const json_t *params, agora_error *err)
{
    const agora_space *sp = agora_world_space(w);
    const int64_t n = sp->n;
    sir_state *st = calloc(1, sizeof *st);
    if (!st)
        return agora_error_set(err, AGORA_ENOMEM, "sir", "out of memory");
    agora_world_set_model_state(w, st);
    st->kmax = 8;
    if (sp->kind == AGORA_SPACE_GRAPH)
        for (int64_t i = 0; i < n; i++)
            if (sp->graph.offsets[i + 1] - sp->graph.offsets[i] > st->kmax)
                st->kmax = sp->graph.offsets[i + 1] - sp->graph.offsets[i];
    /* Both buffers are written whole every step; calloc leaves them all susceptible. */
    st->cur = calloc((size_t)n, 1);
    st->next = calloc((size_t)n, 1);
    st->thr_inf = calloc((size_t)st->kmax + 1, sizeof *st->thr_inf);
    if (sp->kind == AGORA_SPACE_GRID)
        st->zero_row = calloc((size_t)sp->grid.width, 1);
    else
        st->k = calloc((size_t)n, sizeof *st->k);
    if (!st->cur || !st->next || !st->thr_inf || (sp->kind == AGORA_SPACE_GRID ? !st->zero_row : !st->k))
        return agora_error_set(err, AGORA_ENOMEM, "sir", "out of memory for %lld agents", (long long)n);
    st->beta = agora_param_real(params, "beta");
    st->gamma = agora_param_real(params, "gamma");
    st->beta_table = NAN;
    st->thr_rec = agora_rng_threshold31(st->gamma);
    st->count[S] = n;
    st->action_step = -1;
    st->cumulative = move_susceptibles(w, st, agora_param_amount(params, "initial_infected", n), I, 0,
                                       AGORA_RNG_STREAM_INIT);
    if (sp->kind == AGORA_SPACE_GRAPH)
        recount_neighbours(w, st);
    return 0;
}

static void sir_measure(const agora_world *w, double *out)
{
    const sir_state *st = agora_world_model_state(w);
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
    const sir_state *st = agora_world_model_state(w);
    double m[M_COUNT];
    sir_measure(w, m);
    json_t *o = json_object();
    json_object_set_new(o, "step", json_integer(agora_world_time(w)));
    json_object_set_new(o, "population", json_integer(agora_world_n(w)));
    for (int i = 0; i < M_COUNT; i++)
        json_object_set_new(o, sir_metrics[i].name, json_real(m[i]));
    if (agora_world_time(w) < st->lockdown_until)
        json_object_set_new(o, "lockdown", json_pack("{s:f, s:I}", "strength", st->lockdown_strength,
                                                     "steps_left", (json_int_t)(st->lockdown_until - agora_world_time(w))));
    *obs = o;
    return 0;
}

static int sir_apply(agora_world *w, const json_t *action, agora_error *err)
{
    (void)err;
    sir_state *st = agora_world_model_state(w);
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
            recount_neighbours(w, st);
    } else {
        return agora_error_set(err, AGORA_EINVAL, "action.action", "unknown action \"%s\"", name ? name : "");
    }
    return 0;
}

static const void *sir_field(const agora_world *w, int i)
{
    const sir_state *st = agora_world_model_state(w);
    return i == 0 ? st->cur : NULL;
}

/* ---- copies and writes ----------------------------------------------------------------------------------------- */

/* d gets every scalar of `from` (parameters, lockdown, counts, counters, the beta of the thresholds) and keeps its
 * own arrays; a copy and a load then fill the arrays. */
static void take_scalars(sir_state *d, const sir_state *from)
{
    sir_state keep = *d;
    *d = *from;
    d->cur = keep.cur;
    d->next = keep.next;
    d->zero_row = keep.zero_row;
    d->k = keep.k;
    d->thr_inf = keep.thr_inf;
}

static int sir_copy(const agora_world *src, agora_world *dst, agora_error *err)
{
    (void)err;
    const sir_state *s = agora_world_model_state(src);
    sir_state *d = agora_world_model_state(dst);
    const int64_t n = agora_world_n(src);
    /* Every scalar (parameters, lockdown, counts, counters, the beta of the thresholds) comes over in one assignment;
     * then the arrays go back to dst's own and get src's contents. `next` and `zero_row` need nothing: a step writes
     * `next` whole before reading it, and `zero_row` stays all susceptible. */
    take_scalars(d, s);
    memcpy(d->cur, s->cur, (size_t)n);
    memcpy(d->thr_inf, s->thr_inf, ((size_t)s->kmax + 1) * sizeof *d->thr_inf);
    if (s->k)
        memcpy(d->k, s->k, (size_t)n * sizeof *d->k);
    return 0;
}

/* A checkpoint: the scalars (with the pointers blanked, since they mean nothing in another process), the states,
 * the infection thresholds of the beta in force and, on graphs, the infected tallies. */
static int sir_save(const agora_world *w, const agora_state *st, agora_error *err)
{
    const sir_state *s = agora_world_model_state(w);
    const size_t n = (size_t)agora_world_n(w);
    sir_state scalars = *s;
    scalars.cur = scalars.next = scalars.zero_row = NULL;
    scalars.k = scalars.thr_inf = NULL;
    int rc;
    if ((rc = st->put(st->ud, "sir", &scalars, sizeof scalars, err)) ||
        (rc = st->put(st->ud, "state", s->cur, n, err)) ||
        (rc = st->put(st->ud, "thr_inf", s->thr_inf, ((size_t)s->kmax + 1) * sizeof *s->thr_inf, err)))
        return rc;
    return s->k ? st->put(st->ud, "k", s->k, n * sizeof *s->k, err) : 0;
}

static int sir_load(agora_world *w, const agora_state *st, agora_error *err)
{
    sir_state *d = agora_world_model_state(w);
    const size_t n = (size_t)agora_world_n(w);
    sir_state scalars;
    int rc = st->get(st->ud, "sir", &scalars, sizeof scalars, err);
    if (rc)
        return rc;
    if (scalars.kmax != d->kmax)
        return agora_error_set(err, AGORA_EINVAL, "state", "the saved SIR state is for another neighbourhood");
    take_scalars(d, &scalars);
    if ((rc = st->get(st->ud, "state", d->cur, n, err)) ||
        (rc = st->get(st->ud, "thr_inf", d->thr_inf, ((size_t)d->kmax + 1) * sizeof *d->thr_inf, err)))
        return rc;
    return d->k ? st->get(st->ud, "k", d->k, n * sizeof *d->k, err) : 0;
}

/* Adds d (+1 or -1 mod 2^32) to the infected tally of each neighbour of agent i. */
static void tally_neighbours(const agora_space *sp, uint32_t *k, int64_t i, uint32_t d)
{
    for (int64_t e = sp->graph.offsets[i]; e < sp->graph.offsets[i + 1]; e++)
        k[sp->graph.neighbors[e]] += d;
}

static int sir_set_field(agora_world *w, int i, const int64_t *ids, int64_t count, const double *values,
                         agora_error *err)
{
    (void)i; /* the kernel has checked it: `state` is the only field */
    sir_state *st = agora_world_model_state(w);
    const agora_space *sp = agora_world_space(w);
    for (int64_t q = 0; q < count; q++) {
        const double v = values[q];
        if (!(v == S || v == I || v == R))
            return agora_error_set(err, AGORA_EINVAL, "values",
                                   "values[%lld] = %g (agent %lld): a state is 0 (susceptible), 1 (infected) or 2 "
                                   "(recovered)",
                                   (long long)q, v, (long long)ids[q]);
    }
    /* Many changes: one parallel recount of the tallies afterwards is cheaper than updating them agent by agent (both
     * give the same integers). */
    const int recount = sp->kind == AGORA_SPACE_GRAPH && count * 2 > sp->n;
    for (int64_t q = 0; q < count; q++) {
        const int64_t a = ids[q];
        const uint8_t from = st->cur[a], to = (uint8_t)values[q];
        if (from == to)
            continue;
        st->cur[a] = to;
        st->count[from]--;
        st->count[to]++;
        if (to == I)
            st->cumulative++;
        if (sp->kind == AGORA_SPACE_GRAPH && !recount && (from == I || to == I))
            tally_neighbours(sp, st->k, a, to == I ? 1u : UINT32_MAX);
    }
    if (recount)
        recount_neighbours(w, st);
    return 0;
}

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
    .field = sir_field,
    .destroy = sir_destroy,
    .copy = sir_copy,
    .set_field = sir_set_field,
    .save = sir_save,
    .load = sir_load,
};
