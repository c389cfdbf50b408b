/* agora — rule-language models: the runtime behind the agora_model interface (see model.h, define.c).
 *
 * State: every variable's column twice (the state at t and the one being written at t+1), once for a variable whose
 * rule keeps it; the parameters in force; the actions' parameter changes with the step they end; counters. Nothing
 * else per agent — pairs keep no matching (it is computed block by block) — except two bits in models with moves
 * (who is empty, who wants to move), which say so in `agora models`.
 *
 * A step, with t the state's time:
 *   1. rules: population aggregates of each rule over the state at t, then every rule for every agent, in parallel
 *      over blocks of agents, each rule reading the columns at t and writing its own column at t+1; then the buffers
 *      swap. Results do not depend on threads: each value is a pure function of the state at t and the keyed draws.
 *   2. pairs: the kernel's conflict-free matching of the step (neighbours on grids and graphs, everyone in a mixed
 *      population), computed block by block (agora_match_partners_range); each pair rule is evaluated for the
 *      block's paired agents into its variable's second buffer, reading partner.x at the partner (ctx->pair_of;
 *      draws keyed by the pair, so both partners see the same numbers; `first` is true for the lower id), the
 *      unpaired keep their value, and the buffers swap.
 *   3. moves: agents where `want` holds (and `empty` does not) swap all their variables with empty sites, in a
 *      uniformly random pairing of the movers and the empty sites (min of their counts pairs; step_moves), found
 *      through two bitmaps and the counter RNG's permutations; the swaps run in parallel.
 * A fault (a NaN, 1/0, log of a negative number) stops the world (agora_world_fail) with the rule, agent and step:
 * the lowest faulting agent's, and among its faults the first rule's. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <omp.h>

#include "agora/log.h"
#include "agora/matching.h"
#include "agora/world.h"
#include "core/simd.h"
#include "rules/model.h"

#define BLOCK 4096

/* Agents per call of a rule's range function: at least BLOCK, else about eight blocks per thread (each native call
 * builds its transition tables once), at most 16 BLOCKs. Results do not depend on it: agents are independent, and
 * the fault kept is the lowest agent's. */
static int64_t block_of(int64_t n, int threads)
{
    int64_t b = n / (8 * (int64_t)(threads > 0 ? threads : 1));
    b = b < BLOCK ? BLOCK : b > 16 * BLOCK ? 16 * BLOCK : b;
    return (b + BLOCK - 1) / BLOCK * BLOCK;
}

typedef struct rx_world {
    const agora__rules_model *rm;
    int nv;
    void **cur, **next;     /* [nv]; next[i] is NULL for a variable without a rule or a pair rule */
    agora_rx_value *base;   /* [nrx]: the scenario's parameter values */
    agora_rx_value *params; /* [nrx + RX_INIT_NPSEUDO + args]: the values in force (then scratch) */
    agora_rx_value *pop;    /* scratch for population aggregates */
    int npop_max;
    int64_t *fx_until;      /* [nactions]: parameter changes of action k act on steps t < fx_until[k] */
    agora_rx_value *fx_val; /* [nactions * AGORA_RULES_MAX_PARAMS] */
    int64_t action_step, actions_in_step;
    agora_rx_nbhd nb;
    /* moves: who is empty and who wants to move, a bit per agent each, and each word's count of set bits before it in
     * its block (for a rank's agent without a scan) */
    uint64_t *bm_empty, *bm_move;
    uint16_t *wp_empty, *wp_move;
} rx_world;

static size_t elem(agora_rx_type t)
{
    return t == AGORA_RX_INT || t == AGORA_RX_REAL ? 8 : 1;
}

/* ---- parameters in force ----------------------------------------------------------------------------------------- */

static void params_in_force(rx_world *s, int64_t t)
{
    const agora__rules_model *m = s->rm;
    memcpy(s->params, s->base, (size_t)m->nrx * sizeof *s->params);
    for (int k = 0; k < m->nactions; k++)
        if (t < s->fx_until[k])
            for (int j = 0; j < m->actions[k].nfx; j++)
                s->params[m->rx_of_param[m->actions[k].fx_param[j]]] = s->fx_val[k * AGORA_RULES_MAX_PARAMS + j];
}

static agora_rx_ctx ctx_of(const agora_world *w, rx_world *s, const void *const *cols, int64_t n)
{
    agora_rx_ctx c;
    memset(&c, 0, sizeof c);
    c.cols = cols;
    c.params = s->params;
    c.nbhd = s->nb.kind ? &s->nb : NULL;
    c.n = n;
    c.t = agora_world_time(w);
    c.key = agora_world_key(w);
    c.threads = agora_world_threads(w);
    return c;
}

/* A fault as the world's error. */
static void fault_out(agora_world *w, const agora__rx_prog *p, agora_rx_fault *f)
{
    agora_error e;
    agora__rx_fault_error(p, f, &e);
    agora_world_fail(w, &e);
}

/* ---- lifecycle --------------------------------------------------------------------------------------------------- */

void agora__rules_destroy(agora_world *w)
{
    rx_world *s = agora_world_model_state(w);
    if (!s)
        return;
    for (int i = 0; i < s->nv; i++) {
        if (s->cur)
            free(s->cur[i]);
        if (s->next)
            free(s->next[i]);
    }
    free(s->cur);
    free(s->next);
    free(s->base);
    free(s->params);
    free(s->pop);
    free(s->fx_until);
    free(s->fx_val);
    free(s->bm_empty);
    free(s->bm_move);
    free(s->wp_empty);
    free(s->wp_move);
    free(s);
    agora_world_set_model_state(w, NULL);
}

static int max_pop(const agora__rules_model *m)
{
    int k = 1;
#define TAKE(p)                                                                                                        \
    do {                                                                                                               \
        if ((p) && agora__rx_prog_npop(p) > k)                                                                         \
            k = agora__rx_prog_npop(p);                                                                                \
    } while (0)
    for (int i = 0; i < m->nvars; i++) {
        TAKE(m->vars[i].rule);
        TAKE(m->vars[i].pair);
    }
    for (int i = 0; i < m->nmetrics; i++)
        TAKE(m->metric_progs[i]);
    for (int k2 = 0; k2 < m->nactions; k2++) {
        const rx_action *a = &m->actions[k2];
        for (int j = 0; j < a->nfx; j++)
            TAKE(a->fx[j]);
        for (int j = 0; j < a->nset; j++)
            TAKE(a->set[j]);
        TAKE(a->duration);
        TAKE(a->where);
        TAKE(a->share);
        TAKE(a->count);
    }
    TAKE(m->move_empty);
    TAKE(m->move_want);
#undef TAKE
    return k;
}

/* Chooses exactly `want` of the agents with flag[i] set, uniformly (selection sampling over the counter RNG), and
 * calls back for each in id order. Returns how many. */
static int64_t choose(const uint8_t *flag, int64_t n, int64_t have, int64_t want, uint64_t base, int64_t *out)
{
    int64_t needed = want < have ? want : have, k = 0, remaining = have;
    for (int64_t i = 0; i < n && needed > 0; i++) {
        if (!flag[i])
            continue;
        if ((int64_t)agora_rng_below(agora_rng_at(base, (uint64_t)i), (uint64_t)remaining) < needed) {
            out[k++] = i;
            needed--;
        }
        remaining--;
    }
    return k;
}

static void put_value(void *col, agora_rx_type t, int64_t i, agora_rx_value v)
{
    if (t == AGORA_RX_REAL)
        ((double *)col)[i] = v.r;
    else if (t == AGORA_RX_INT)
        ((int64_t *)col)[i] = v.i;
    else
        ((uint8_t *)col)[i] = (uint8_t)v.i;
}

int agora__rules_init(agora_world *w, const json_t *params, agora_error *err)
{
    const agora__rules_model *m = agora__rules_of(agora_world_model(w));
    if (!m)
        return agora_error_set(err, AGORA_EINVAL, "model", "not a rule-language model");
    const agora_space *sp = agora_world_space(w);
    const int64_t n = agora_world_n(w);
    rx_world *s = calloc(1, sizeof *s);
    if (!s)
        return agora_error_set(err, AGORA_ENOMEM, m->name, "out of memory");
    agora_world_set_model_state(w, s);
    s->rm = m;
    s->nv = m->nvars;
    if (!m->native_state) /* the first world of this model in the process says which path its rules take */
        agora_log(agora_world_logger(w), AGORA_LOG_INFO, "model %s: rules %s", m->name, agora__rules_native(m));
    s->action_step = -1;
    s->npop_max = max_pop(m);
    agora__rx_nbhd_init(&s->nb, sp);
    s->cur = calloc((size_t)m->nvars, sizeof *s->cur);
    s->next = calloc((size_t)m->nvars, sizeof *s->next);
    s->base = calloc((size_t)m->nrx + 1, sizeof *s->base);
    s->params = calloc((size_t)m->nrx + RX_INIT_NPSEUDO + AGORA_RULES_MAX_ARGS + 1, sizeof *s->params);
    s->pop = calloc((size_t)s->npop_max, sizeof *s->pop);
    s->fx_until = calloc((size_t)m->nactions + 1, sizeof *s->fx_until);
    s->fx_val = calloc(((size_t)m->nactions + 1) * AGORA_RULES_MAX_PARAMS, sizeof *s->fx_val);
    if (!s->cur || !s->next || !s->base || !s->params || !s->pop || !s->fx_until || !s->fx_val)
        return agora_error_set(err, AGORA_ENOMEM, m->name, "out of memory");
    for (int i = 0; i < m->nvars; i++) {
        const size_t bytes = (size_t)n * elem(m->vars[i].type) + 8;
        s->cur[i] = calloc(1, bytes);
        const int two = m->vars[i].rule || m->vars[i].pair; /* double-buffered */
        if (two)
            s->next[i] = calloc(1, bytes);
        if (!s->cur[i] || (two && !s->next[i]))
            return agora_error_set(err, AGORA_ENOMEM, m->name, "out of memory for %lld agents", (long long)n);
    }
    if (m->move_want) { /* whole words for each block of BLOCK agents (a multiple of 64) */
        const size_t words = (size_t)((n + BLOCK - 1) / BLOCK) * (BLOCK / 64);
        s->bm_empty = calloc(words + 1, sizeof *s->bm_empty);
        s->bm_move = calloc(words + 1, sizeof *s->bm_move);
        s->wp_empty = calloc(words + 1, sizeof *s->wp_empty);
        s->wp_move = calloc(words + 1, sizeof *s->wp_move);
        if (!s->bm_empty || !s->bm_move || !s->wp_empty || !s->wp_move)
            return agora_error_set(err, AGORA_ENOMEM, m->name, "out of memory for moves");
    }
    for (int i = 0; i < m->nparams; i++) {
        const int r = m->rx_of_param[i];
        if (r < 0)
            continue;
        const json_t *v = json_object_get(params, m->params[i].name);
        if (m->params[i].type == AGORA_PARAM_REAL)
            s->base[r].r = json_number_value(v);
        else if (m->params[i].type == AGORA_PARAM_INT)
            s->base[r].i = (int64_t)json_integer_value(v);
        else
            s->base[r].i = json_is_true(v);
    }
    params_in_force(s, 0);
    /* initial values, variable by variable (an init reads those before it), agent by agent */
    const int64_t width = sp->kind == AGORA_SPACE_GRID ? sp->grid.width : 0;
    for (int i = 0; i < m->nvars; i++) {
        const rx_vardef *vd = &m->vars[i];
        if (vd->init) {
            agora_rx_ctx c = ctx_of(w, s, (const void *const *)s->cur, n);
            c.nbhd = NULL;
            c.t = 0;
            agora_rx_value *pv = s->params + m->nrx;
            for (int64_t a = 0; a < n; a++) {
                pv[RX_INIT_ID].i = a;
                pv[RX_INIT_X].i = width ? a % width : 0;
                pv[RX_INIT_Y].i = width ? a / width : 0;
                agora_rx_value v;
                agora_rx_fault f;
                if (agora__rx_eval(vd->init, &c, a, &v, &f) != 0)
                    return agora__rx_fault_error(vd->init, &f, err);
                put_value(s->cur[i], vd->type, a, v);
            }
        }
        if (vd->nplace) {
            /* each value goes to exactly its amount of agents not placed before, chosen at random */
            uint8_t *free_ = malloc((size_t)n + 1);
            int64_t *chosen = malloc((size_t)n * sizeof *chosen + 8);
            if (!free_ || !chosen) {
                free(free_);
                free(chosen);
                return agora_error_set(err, AGORA_ENOMEM, m->name, "out of memory");
            }
            memset(free_, 1, (size_t)n);
            int64_t have = n;
            for (int j = 0; j < vd->nplace; j++) {
                const rx_place *pl = &vd->place[j];
                int64_t want;
                if (pl->param >= 0)
                    want = agora_param_amount(params, m->params[pl->param].name, n);
                else
                    want = pl->amount < 1 ? (int64_t)llround(pl->amount * (double)n) : (int64_t)pl->amount;
                if (want > have)
                    want = have;
                const uint64_t base =
                    agora_rng_base(agora_world_key(w), 0, RX_STREAM_PLACE + 64u * (uint32_t)i + (uint32_t)j);
                const int64_t k = choose(free_, n, have, want, base, chosen);
                agora_rx_value v = {.i = pl->value};
                for (int64_t q = 0; q < k; q++) {
                    put_value(s->cur[i], vd->type, chosen[q], v);
                    free_[chosen[q]] = 0;
                }
                have -= k;
            }
            free(free_);
            free(chosen);
        }
    }
    return 0;
}

/* ---- the step ---------------------------------------------------------------------------------------------------- */

typedef struct fault_slot {
    agora_rx_fault f;
    const agora__rx_prog *p;
    int has;
} fault_slot;

/* Keeps the lowest agent's fault, and among one agent's the lowest rule's (so the choice is the same whatever the
 * threads did first). */
static void keep_fault(fault_slot *best, const agora_rx_fault *f, const agora__rx_prog *p, int order)
{
#pragma omp critical(agora_rules_fault)
    {
        if (!best->has || f->agent < best->f.agent || (f->agent == best->f.agent && order < best->has - 1)) {
            best->f = *f;
            best->p = p;
            best->has = order + 1;
        }
    }
}

/* Each program's population aggregates over the state in c, into popv[k] (pops[k] = popv[k], NULL without any). 0, or
 * an error with the world failed. */
static int rule_pops(agora_world *w, agora__rx_prog *const *progs, int np, const agora_rx_ctx *c,
                     agora_rx_value (*popv)[8], const agora_rx_value **pops)
{
    for (int k = 0; k < np; k++) {
        pops[k] = NULL;
        const int npop = agora__rx_prog_npop(progs[k]);
        if (!npop)
            continue;
        if (npop > 8)
            return AGORA_EINVAL; /* define.c keeps rules within 8 population aggregates */
        agora_rx_fault f;
        agora_error e;
        int rc = agora__rx_pop_aggregates(progs[k], c, popv[k], &f, &e);
        if (rc == AGORA_ERANGE) {
            fault_out(w, progs[k], &f);
            return rc;
        }
        if (rc) {
            agora_world_fail(w, &e);
            return rc;
        }
        pops[k] = popv[k];
    }
    return 0;
}

/* The buffers of the variables with a rule (pairs 0) or a pair rule (pairs 1) swap: t+1 becomes the state. */
static void swap_buffers(rx_world *s, int pairs)
{
    for (int i = 0; i < s->nv; i++)
        if (pairs ? s->rm->vars[i].pair != NULL : s->rm->vars[i].rule != NULL) {
            void *t = s->cur[i];
            s->cur[i] = s->next[i];
            s->next[i] = t;
        }
}

/* The world fails: out of memory for a step's `what`. */
static int fail_oom(agora_world *w, const agora__rules_model *m, const char *what)
{
    agora_error e;
    agora_error_set(&e, AGORA_ENOMEM, m->name, "out of memory for %s", what);
    agora_world_fail(w, &e);
    return AGORA_ENOMEM;
}

/* Evaluates programs progs[0 .. np) for agents [0, n) into outs, in parallel over blocks. 0, or AGORA_ERANGE with
 * the world failed. Each program's population aggregates are computed first into pops[k]. */
static int eval_all(agora_world *w, rx_world *s, agora__rx_prog *const *progs, void *const *outs, int np,
                    const void *const *cols, int64_t n, int nbhd, const agora__rx_range_fn *fns)
{
    agora_rx_value popv[AGORA_RULES_MAX_VARS][8];
    const agora_rx_value *pops[AGORA_RULES_MAX_VARS];
    agora_rx_ctx c = ctx_of(w, s, cols, n);
    if (!nbhd)
        c.nbhd = NULL;
    int rc = rule_pops(w, progs, np, &c, popv, pops);
    if (rc)
        return rc;
    fault_slot best = {0};
    const int64_t blk = block_of(n, agora_world_threads(w)), nblocks = (n + blk - 1) / blk;
#pragma omp parallel for schedule(static) num_threads(agora_world_threads(w))
    for (int64_t b = 0; b < nblocks; b++) {
        const int64_t lo = b * blk, hi = lo + blk < n ? lo + blk : n;
        agora_rx_ctx cc = c;
        for (int k = 0; k < np; k++) {
            cc.pop = pops[k];
            agora_rx_fault f;
            if ((fns ? fns[k] : agora__rx_eval_range)(progs[k], &cc, lo, hi, outs[k], &f) != 0)
                keep_fault(&best, &f, progs[k], k);
        }
    }
    if (best.has) {
        fault_out(w, best.p, &best.f);
        return AGORA_ERANGE;
    }
    return 0;
}

static int step_rules(agora_world *w, rx_world *s, int64_t n)
{
    const agora__rules_model *m = s->rm;
    agora__rx_prog *progs[AGORA_RULES_MAX_VARS];
    void *outs[AGORA_RULES_MAX_VARS];
    agora__rx_range_fn fns[AGORA_RULES_MAX_VARS];
    int np = 0;
    for (int i = 0; i < m->nvars; i++)
        if (m->vars[i].rule) {
            progs[np] = m->vars[i].rule;
            fns[np] = m->rule_fn[i] ? m->rule_fn[i] : agora__rx_eval_range;
            outs[np++] = s->next[i];
        }
    if (np == 0)
        return 0;
    int rc = eval_all(w, s, progs, outs, np, (const void *const *)s->cur, n, 1, fns);
    if (rc)
        return rc;
    swap_buffers(s, 0);
    return 0;
}

/* The pair rules, on the state after the rules: block by block, the kernel matching's partners of the block's agents
 * (agora_match_partners_range: no per-agent matching is kept), then each variable with a pair rule is computed
 * into its second buffer for the paired agents, reading partner.x straight from the columns (the unpaired keep
 * their value), and the buffers swap. */
static int step_pairs(agora_world *w, rx_world *s, int64_t n)
{
    const agora__rules_model *m = s->rm;
    const agora_space *sp = agora_world_space(w);
    const int64_t t = agora_world_time(w);
    const int threads = agora_world_threads(w);
    agora__rx_prog *progs[AGORA_RULES_MAX_VARS];
    void *outs[AGORA_RULES_MAX_VARS];
    const char *srcs[AGORA_RULES_MAX_VARS];
    size_t sz[AGORA_RULES_MAX_VARS];
    agora__rx_range_fn fns[AGORA_RULES_MAX_VARS];
    int np = 0;
    for (int i = 0; i < m->nvars; i++)
        if (m->vars[i].pair) {
            progs[np] = m->vars[i].pair;
            fns[np] = m->pair_fn[i] ? m->pair_fn[i] : agora__rx_eval_range;
            srcs[np] = s->cur[i];
            sz[np] = elem(m->vars[i].type);
            outs[np++] = s->next[i];
        }
    /* pair rules read no neighbours (nb_* in a pair rule is refused by define.c); pop_* is over everyone */
    agora_rx_value popv[AGORA_RULES_MAX_VARS][8];
    const agora_rx_value *pops[AGORA_RULES_MAX_VARS];
    agora_rx_ctx c = ctx_of(w, s, (const void *const *)s->cur, n);
    c.nbhd = NULL;
    int rc = rule_pops(w, progs, np, &c, popv, pops);
    if (rc)
        return rc;
    fault_slot best = {0};
    int oom = 0;
    const int64_t blk = block_of(n, threads), nblocks = (n + blk - 1) / blk;
#pragma omp parallel num_threads(threads)
    {
        int64_t *partner = malloc((size_t)blk * sizeof *partner + 8), *work = malloc((size_t)blk * sizeof *work + 8);
        if (!partner || !work) {
#pragma omp atomic write
            oom = 1;
        }
#pragma omp for schedule(static)
        for (int64_t b = 0; b < nblocks; b++) {
            if (!partner || !work)
                continue;
            const int64_t lo = b * blk, hi = lo + blk < n ? lo + blk : n;
            agora_match_partners_range(sp, agora_world_key(w), (uint64_t)t, RX_STREAM_MATCH, lo, hi, partner, work);
            agora_rx_ctx cc = c;
            cc.pair_of = partner;
            cc.pair_base = lo;
            for (int k = 0; k < np; k++) {
                /* the unpaired keep their value */
                memcpy((char *)outs[k] + (size_t)lo * sz[k], srcs[k] + (size_t)lo * sz[k], (size_t)(hi - lo) * sz[k]);
                cc.pop = pops[k];
                agora_rx_fault f;
                if (fns[k](progs[k], &cc, lo, hi, outs[k], &f) != 0)
                    keep_fault(&best, &f, progs[k], k);
            }
        }
        free(partner);
        free(work);
    }
    if (best.has) {
        fault_out(w, best.p, &best.f);
        return AGORA_ERANGE;
    }
    if (oom)
        return fail_oom(w, m, "pairs");
    swap_buffers(s, 1);
    return 0;
}

static void swap_sites(rx_world *s, int64_t a, int64_t b)
{
    for (int i = 0; i < s->nv; i++) {
        const size_t sz = elem(s->rm->vars[i].type);
        char tmp[8], *c = s->cur[i];
        memcpy(tmp, c + (size_t)a * sz, sz);
        memcpy(c + (size_t)a * sz, c + (size_t)b * sz, sz);
        memcpy(c + (size_t)b * sz, tmp, sz);
    }
}

/* The position of the r-th set bit (r from 0) in a block's bitmap words w, whose counts before each word are wp[]:
 * the word by halving the prefixes, then the bit by halving the word. */
static inline int64_t select_bit(const uint64_t *w, const uint16_t *wp, int nw, int64_t r)
{
    int lo = 0, hi = nw - 1; /* the last word whose prefix is <= r */
    while (lo < hi) {
        const int mid = (lo + hi + 1) / 2;
        if (wp[mid] <= r)
            lo = mid;
        else
            hi = mid - 1;
    }
    r -= wp[lo];
    uint64_t x = w[lo];
    int pos = 0;
    for (int width = 32; width; width >>= 1) {
        const int low = __builtin_popcountll(x & ((UINT64_C(1) << width) - 1));
        if (r >= low) {
            r -= low;
            x >>= width;
            pos += width;
        }
    }
    return (int64_t)lo * 64 + pos;
}

/* Block b's bitmap words from its two conditions (flag[0]: empty, flag[1]: wants to move); its counts. */
AGORA_HOT static void block_bits(const uint8_t (*flag)[BLOCK], int64_t len, uint64_t *we_out, uint64_t *wm_out,
                                 uint16_t *pe_out, uint16_t *pm_out, int64_t *nm, int64_t *ne)
{
    int64_t cm = 0, ce = 0;
    for (int64_t q = 0; q < (len + 63) / 64; q++) {
        uint64_t we = 0, wm = 0;
        for (int64_t i = q * 64; i < q * 64 + 64 && i < len; i++) {
            we |= (uint64_t)(flag[0][i] != 0) << (i - q * 64);
            wm |= (uint64_t)(flag[0][i] == 0 && flag[1][i] != 0) << (i - q * 64);
        }
        we_out[q] = we;
        wm_out[q] = wm;
        pe_out[q] = (uint16_t)ce;
        pm_out[q] = (uint16_t)cm;
        ce += __builtin_popcountll(we);
        cm += __builtin_popcountll(wm);
    }
    *nm = cm;
    *ne = ce;
}

/* The agent of rank e among those set in bitmap bm (blocks of BLOCK agents, whose exclusive counts are pre[2 b]). */
static inline int64_t agent_of_rank(const uint64_t *bm, const uint16_t *wp, const int64_t *pre, int64_t nb, int64_t n,
                                    int64_t total, int64_t e)
{
    /* the last block whose prefix is <= e: guessed as if the set were spread evenly, then walked to */
    int64_t blo = (int64_t)((double)e / (double)total * (double)nb);
    blo = blo < 0 ? 0 : blo >= nb ? nb - 1 : blo;
    while (blo > 0 && pre[2 * blo] > e)
        blo--;
    while (blo + 1 < nb && pre[2 * (blo + 1)] <= e)
        blo++;
    const int64_t l2 = blo * BLOCK, h2 = l2 + BLOCK < n ? l2 + BLOCK : n;
    return l2 + select_bit(bm + l2 / 64, wp + l2 / 64, (int)((h2 - l2 + 63) / 64), e - pre[2 * blo]);
}

/* Pass 2 for block b of the smaller set (its bitmap bs; every member is in a pair): the member of rank r is pair
 * q = ps^-1(r), whose other end is the agent of rank po(q) in the other set (bitmap bo, word prefixes wo, block
 * prefixes cnt + co). */
AGORA_HOT static void block_pairs(rx_world *s, int64_t b, int64_t n, int64_t nb, const int64_t *cnt, int cs,
                                  const uint64_t *bs, const agora_perm *ps, const uint64_t *bo, const uint16_t *wo,
                                  const agora_perm *po, int64_t other_total)
{
    const int64_t lo = b * BLOCK, hi = lo + BLOCK < n ? lo + BLOCK : n;
    int64_t r = cnt[2 * b + cs];
    for (int64_t q = 0; q < (hi - lo + 63) / 64; q++)
        for (uint64_t x = bs[lo / 64 + q]; x; x &= x - 1, r++) {
            const uint64_t pq = agora_perm_inverse(ps, (uint64_t)r);
            const int64_t other =
                agent_of_rank(bo, wo, cnt + (1 - cs), nb, n, other_total, (int64_t)agora_perm_at(po, pq));
            swap_sites(s, lo + q * 64 + __builtin_ctzll(x), other);
        }
}

/* The moves, on the state after the rules and pairs. Pass 1, block by block: both conditions into buffers of the
 * block's own; two bitmaps (who is empty, who wants to move: not empty and `want`) and each block's counts. Then
 * min(M, E) pairs, for M movers and E empty sites: pair q < min(M, E) is the mover of rank sigma(q) (ranks in id
 * order) and the empty site of rank tau(q), for random permutations sigma of [0, M) and tau of [0, E) of the counter
 * RNG (agora_perm) — a uniformly random pairing of movers and empty sites, with no list of either. Pass 2 walks the
 * smaller of the two sets block by block in id order (every member of it is in a pair): the member of rank r is in
 * pair q = its permutation's inverse at r, and the other end is found by its block's count and bitmap; the pairs
 * are disjoint, so the swaps run in parallel. */
static int step_moves(agora_world *w, rx_world *s, int64_t n)
{
    const agora__rules_model *m = s->rm;
    const int64_t t = agora_world_time(w);
    const int threads = agora_world_threads(w);
    agora__rx_prog *progs[2] = {m->move_empty, m->move_want};
    const agora__rx_range_fn fns[2] = {m->move_fn[0] ? m->move_fn[0] : agora__rx_eval_range,
                                       m->move_fn[1] ? m->move_fn[1] : agora__rx_eval_range};
    agora_rx_ctx c = ctx_of(w, s, (const void *const *)s->cur, n);
    agora_rx_value popv[2][8];
    const agora_rx_value *pops[2];
    int rc = rule_pops(w, progs, 2, &c, popv, pops);
    if (rc)
        return rc;
    const int64_t nb = (n + BLOCK - 1) / BLOCK;
    int64_t *cnt = calloc(2 * (size_t)nb + 2, sizeof *cnt); /* movers, empty sites of block b; then their prefixes */
    if (!cnt)
        return fail_oom(w, m, "moves");
    uint64_t *const bm_empty = s->bm_empty, *const bm_move = s->bm_move;
    fault_slot best = {0};
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t b = 0; b < nb; b++) {
        const int64_t lo = b * BLOCK, hi = lo + BLOCK < n ? lo + BLOCK : n;
        uint8_t flag[2][BLOCK];
        agora_rx_ctx cc = c;
        cc.out_base = lo;
        int bad = 0;
        for (int k = 0; k < 2; k++) { /* both: the lowest agent's fault is kept, whichever condition it is in */
            cc.pop = pops[k];
            agora_rx_fault f;
            if (fns[k](progs[k], &cc, lo, hi, flag[k], &f) != 0) {
                keep_fault(&best, &f, progs[k], k);
                bad = 1;
            }
        }
        if (bad)
            continue;
        int64_t nm = 0, ne = 0;
        block_bits((const uint8_t(*)[BLOCK])flag, hi - lo, bm_empty + lo / 64, bm_move + lo / 64, s->wp_empty + lo / 64,
                   s->wp_move + lo / 64, &nm, &ne);
        cnt[2 * b] = nm, cnt[2 * b + 1] = ne;
    }
    if (best.has) {
        free(cnt);
        fault_out(w, best.p, &best.f);
        return AGORA_ERANGE;
    }
    int64_t M = 0, E = 0;
    for (int64_t b = 0; b < nb; b++) { /* exclusive prefixes in place */
        const int64_t cm = cnt[2 * b], ce = cnt[2 * b + 1];
        cnt[2 * b] = M, cnt[2 * b + 1] = E;
        M += cm, E += ce;
    }
    const int64_t k = M < E ? M : E;
    if (k > 0) {
        agora_perm sigma, tau;
        const uint32_t stream = RX_STREAM_MATCH + 1;
        agora_perm_init(&sigma, (uint64_t)M, agora_world_key(w), (uint64_t)t, stream);
        agora_perm_init(&tau, (uint64_t)E, agora_world_key(w), (uint64_t)t, stream + 1);
        /* walk the smaller set in id order (all of it pairs): one permutation inverse and one lookup per pair */
        const int empties = E <= M;
#pragma omp parallel for schedule(static) num_threads(threads)
        for (int64_t b = 0; b < nb; b++) {
            if (empties)
                block_pairs(s, b, n, nb, cnt, 1, s->bm_empty, &tau, s->bm_move, s->wp_move, &sigma, M);
            else
                block_pairs(s, b, n, nb, cnt, 0, s->bm_move, &sigma, s->bm_empty, s->wp_empty, &tau, E);
        }
    }
    free(cnt);
    return 0;
}

void agora__rules_step(agora_world *w)
{
    rx_world *s = agora_world_model_state(w);
    const int64_t n = agora_world_n(w);
    params_in_force(s, agora_world_time(w));
    if (step_rules(w, s, n))
        return;
    if (s->rm->npairs && step_pairs(w, s, n))
        return;
    if (s->rm->move_want)
        step_moves(w, s, n);
}

/* ---- metrics and observations ------------------------------------------------------------------------------------ */

/* Evaluates a program that reads the population only (a metric, a share): its aggregates, then once. */
static int eval_population(const agora_world *w, rx_world *s, const agora__rx_prog *p, agora_rx_value *out,
                           agora_rx_fault *f, agora_error *err)
{
    agora_rx_ctx c = ctx_of(w, s, (const void *const *)s->cur, agora_world_n(w));
    agora_rx_value popv[64];
    const int npop = agora__rx_prog_npop(p);
    if (npop > 64)
        return agora_error_set(err, AGORA_EINVAL, "model", "too many population aggregates");
    if (npop) {
        int rc = agora__rx_pop_aggregates(p, &c, popv, f, err);
        if (rc)
            return rc;
        c.pop = popv;
    }
    return agora__rx_eval(p, &c, 0, out, f);
}

/* The metrics: their population aggregates all in one pass (agora__rx_pop_aggregates_fused, native where the rules
 * are), then each metric's expression once. A metric whose aggregates fault is measured alone, which names the
 * fault as the interpreter does. */
void agora__rules_measure(const agora_world *w, double *out)
{
    rx_world *s = agora_world_model_state(w);
    const agora__rules_model *m = s->rm;
    params_in_force(s, agora_world_time(w));
    agora_rx_value aggbuf[256]; /* every step: no allocation for the usual few aggregates */
    agora_rx_value *agg = !m->nagg ? NULL : m->nagg <= 256 ? aggbuf : malloc(sizeof *agg * (size_t)m->nagg);
    uint8_t ok[AGORA_RULES_MAX_METRICS];
    memset(ok, 0, sizeof ok);
    if (agg) {
        agora_rx_ctx c = ctx_of(w, s, (const void *const *)s->cur, agora_world_n(w)); /* with neighbours */
        agora_error e;
        if (agora__rx_pop_aggregates_fused((const agora__rx_prog *const *)m->metric_progs, m->nmetrics,
                                           (const agora__rx_prog *const *)m->agg_prog, m->agg_fn, &c, agg, ok, &e) != 0)
            memset(ok, 0, sizeof ok);
    }
    for (int k = 0, j = 0; k < m->nmetrics; j += agora__rx_prog_npop(m->metric_progs[k]), k++) {
        agora_rx_value v;
        agora_rx_fault f;
        agora_error e;
        int rc;
        if (agg && ok[k]) {
            agora_rx_ctx c = ctx_of(w, s, (const void *const *)s->cur, agora_world_n(w));
            c.pop = agg + j;
            rc = agora__rx_eval(m->metric_progs[k], &c, 0, &v, &f);
        } else {
            rc = eval_population(w, s, m->metric_progs[k], &v, &f, &e);
        }
        out[k] = rc ? NAN : v.r;
        if (rc == AGORA_ERANGE)
            fault_out((agora_world *)w, m->metric_progs[k], &f);
        else if (rc)
            agora_world_fail((agora_world *)w, &e);
    }
    if (agg != aggbuf)
        free(agg);
}

int agora__rules_observe(const agora_world *w, const char *role, json_t **obs, agora_error *err)
{
    (void)role;
    (void)err;
    rx_world *s = agora_world_model_state(w);
    const agora__rules_model *m = s->rm;
    double *v = malloc(((size_t)m->nmetrics + 1) * sizeof *v);
    json_t *o = json_object();
    if (!v || !o) {
        free(v);
        json_decref(o);
        return agora_error_set(err, AGORA_ENOMEM, m->name, "out of memory");
    }
    agora__rules_measure(w, v);
    json_object_set_new(o, "step", json_integer(agora_world_time(w)));
    json_object_set_new(o, "population", json_integer(agora_world_n(w)));
    for (int k = 0; k < m->nmetrics; k++)
        if (m->observed[k])
            json_object_set_new(o, m->metrics[k].name, isfinite(v[k]) ? json_real(v[k]) : json_null());
    free(v);
    const int64_t t = agora_world_time(w);
    json_t *in_force = NULL;
    for (int k = 0; k < m->nactions; k++)
        if (t < s->fx_until[k] && s->fx_until[k] != INT64_MAX) {
            if (!in_force)
                in_force = json_object();
            json_object_set_new(in_force, m->actions[k].name,
                                json_pack("{s:I}", "steps_left", (json_int_t)(s->fx_until[k] - t)));
        }
    if (in_force)
        json_object_set_new(o, "in_force", in_force);
    *obs = o;
    return 0;
}

/* ---- actions ----------------------------------------------------------------------------------------------------- */

int agora__rules_apply(agora_world *w, const json_t *action, agora_error *err)
{
    rx_world *s = agora_world_model_state(w);
    const agora__rules_model *m = s->rm;
    uint8_t *flag = NULL;   /* the agents where `where` holds (for the action only) */
    int64_t *chosen = NULL; /* the agents it changes */
    const int64_t t = agora_world_time(w), n = agora_world_n(w);
    const char *name = json_string_value(json_object_get(action, "action"));
    const rx_action *a = NULL;
    int k = 0;
    for (; name && k < m->nactions; k++)
        if (strcmp(m->actions[k].name, name) == 0) {
            a = &m->actions[k];
            break;
        }
    if (!a)
        return agora_error_set(err, AGORA_EINVAL, "action.action", "unknown action \"%s\"", name ? name : "");
    if (s->action_step != t) {
        s->action_step = t;
        s->actions_in_step = 0;
    }
    const uint64_t use = (uint64_t)s->actions_in_step++;
    /* the action's expressions: parameters (the scenario's values, so repeated uses do not compound) then the
     * arguments, in the order define.c declared them */
    params_in_force(s, t);
    agora_rx_value saved[AGORA_RULES_MAX_PARAMS];
    memcpy(saved, s->params, (size_t)m->nrx * sizeof *saved);
    int na = m->nrx;
    for (int j = 0; j < a->nargs; j++) {
        const json_t *v = json_object_get(action, a->args[j].name);
        if (a->args[j].type == RX_ARG_IDS)
            continue;
        if (a->args[j].type == AGORA_RX_REAL)
            s->params[na].r = json_number_value(v);
        else if (a->args[j].type == AGORA_RX_INT)
            s->params[na].i = (int64_t)json_integer_value(v);
        else
            s->params[na].i = json_is_true(v);
        na++;
    }
    /* a key of its own for each use of an action within a step, so two uses draw differently */
    const agora_rng_key key = agora_rng_mix64(agora_world_key(w) ^ (0x9E3779B97F4A7C15ull * (use + 1)));
    agora_rx_ctx c = ctx_of(w, s, (const void *const *)s->cur, n);
    c.key = key;
    agora_rx_fault f;
    agora_rx_value v;
    int rc = 0;
    /* parameter changes: computed from the scenario's values and the arguments */
    agora_rx_value fxv[AGORA_RULES_MAX_PARAMS];
    int64_t until = INT64_MAX;
    for (int j = 0; j < a->nfx; j++) {
        memcpy(s->params, s->base, (size_t)m->nrx * sizeof *s->params);
        agora_rx_value popv[64];
        c.pop = NULL;
        if (agora__rx_prog_npop(a->fx[j]) && (rc = agora__rx_pop_aggregates(a->fx[j], &c, popv, &f, err)) != 0)
            goto fault;
        c.pop = popv;
        if ((rc = agora__rx_eval(a->fx[j], &c, 0, &fxv[j], &f)) != 0)
            goto fault;
    }
    if (a->duration) {
        c.pop = NULL;
        if ((rc = agora__rx_eval(a->duration, &c, 0, &v, &f)) != 0)
            goto fault;
        if (v.i < 0) {
            rc =
                agora_error_set(err, AGORA_EINVAL, "action", "%s: steps is %lld, not a count", a->name, (long long)v.i);
            goto done;
        }
        until = t + v.i;
    }
    memcpy(s->params, saved, (size_t)m->nrx * sizeof *saved);
    /* agents: where, then a share, a count or the listed ids */
    if (a->nset) {
        int64_t have = 0, want;
        flag = malloc((size_t)n + 8);
        chosen = malloc((size_t)n * sizeof *chosen + 8);
        if (!flag || !chosen) {
            rc = agora_error_set(err, AGORA_ENOMEM, a->name, "out of memory");
            goto done;
        }
        c.pop = NULL;
        agora_rx_value popv[64];
        if (a->where) {
            if (agora__rx_prog_npop(a->where) && (rc = agora__rx_pop_aggregates(a->where, &c, popv, &f, err)) != 0)
                goto fault;
            c.pop = popv;
            if ((rc = agora__rx_eval_range(a->where, &c, 0, n, flag, &f)) != 0)
                goto fault;
        } else {
            memset(flag, 1, (size_t)n);
        }
        for (int64_t i = 0; i < n; i++)
            have += flag[i];
        const json_t *ids = a->ids_arg >= 0 ? json_object_get(action, a->args[a->ids_arg].name) : NULL;
        int64_t k2 = 0;
        if (ids) {
            size_t j;
            const json_t *id;
            json_array_foreach(ids, j, id) {
                const json_int_t x = json_integer_value(id);
                if (x < 0 || x >= n) {
                    rc = agora_error_set(err, AGORA_EINVAL, "action", "%s: agent %lld does not exist (0 .. %lld)",
                                         a->name, (long long)x, (long long)n - 1);
                    goto done;
                }
                if (flag[x] == 1) { /* once each, and only where `where` holds */
                    chosen[k2++] = x;
                    flag[x] = 2;
                }
            }
        } else {
            if (a->share || a->count) {
                c.pop = NULL;
                const agora__rx_prog *p = a->share ? a->share : a->count;
                if ((rc = eval_population(w, s, p, &v, &f, err)) != 0)
                    goto fault_p;
                want = a->share ? (int64_t)llround(fmin(fmax(v.r, 0.0), 1.0) * (double)have) : v.i;
            } else {
                want = have;
            }
            const uint64_t base = agora_rng_base(key, (uint64_t)t, AGORA_RNG_STREAM_ACTION + (uint32_t)(k << 8));
            k2 = choose(flag, n, have, want < 0 ? 0 : want, base, chosen);
        }
        /* every set reads the state before the action: values first, then written */
        agora_rx_value *vals = malloc(((size_t)k2 * (size_t)a->nset + 1) * sizeof *vals);
        if (!vals) {
            rc = agora_error_set(err, AGORA_ENOMEM, a->name, "out of memory");
            goto done;
        }
        for (int j = 0; j < a->nset && !rc; j++) {
            c.pop = NULL;
            if (agora__rx_prog_npop(a->set[j]) && (rc = agora__rx_pop_aggregates(a->set[j], &c, popv, &f, err)) != 0)
                break;
            c.pop = popv;
            for (int64_t q = 0; q < k2 && !rc; q++)
                rc = agora__rx_eval(a->set[j], &c, chosen[q], &vals[(size_t)j * (size_t)k2 + (size_t)q], &f);
        }
        if (rc) {
            free(vals);
            goto fault;
        }
        for (int j = 0; j < a->nset; j++)
            for (int64_t q = 0; q < k2; q++)
                put_value(s->cur[a->set_var[j]], m->vars[a->set_var[j]].type, chosen[q],
                          vals[(size_t)j * (size_t)k2 + (size_t)q]);
        free(vals);
    }
    /* the parameter changes take effect (the world is unchanged above on any error but a late fault) */
    for (int j = 0; j < a->nfx; j++)
        s->fx_val[k * AGORA_RULES_MAX_PARAMS + j] = fxv[j];
    if (a->nfx)
        s->fx_until[k] = until;
    params_in_force(s, t);
    free(flag);
    free(chosen);
    return 0;
fault_p:
fault:
    if (rc == AGORA_ERANGE) {
        agora_error e;
        agora__rx_fault_error(NULL, &f, &e);
        rc = agora_error_set(err, AGORA_EINVAL, "action", "%s: %s", a->name, e.msg);
    }
done:
    params_in_force(s, t);
    free(flag);
    free(chosen);
    return rc;
}

/* ---- fields, copies, checkpoints ------------------------------------------------------------------------------- */

const void *agora__rules_field(const agora_world *w, int i)
{
    const rx_world *s = agora_world_model_state(w);
    return i >= 0 && i < s->nv ? s->cur[i] : NULL;
}

int agora__rules_set_field(agora_world *w, int i, const int64_t *ids, int64_t count, const double *values,
                           agora_error *err)
{
    rx_world *s = agora_world_model_state(w);
    const rx_vardef *vd = &s->rm->vars[i];
    for (int64_t k = 0; k < count; k++) {
        const double x = values[k];
        const int whole = x == floor(x);
        const int ok = vd->type == AGORA_RX_REAL   ? isfinite(x)
                       : vd->type == AGORA_RX_INT  ? whole && fabs(x) <= 9007199254740992.0
                       : vd->type == AGORA_RX_BOOL ? (x == 0 || x == 1)
                                                   : whole && x >= 0 && x < vd->nvalues;
        if (!ok)
            return agora_error_set(err, AGORA_EINVAL, "values", "%s: %g is not a value of a %s%s", vd->name, x,
                                   agora__rx_type_name(vd->type), vd->type == AGORA_RX_CAT ? " (0 .. values - 1)" : "");
    }
    for (int64_t k = 0; k < count; k++) {
        agora_rx_value v;
        if (vd->type == AGORA_RX_REAL)
            v.r = values[k];
        else
            v.i = (int64_t)values[k];
        put_value(s->cur[i], vd->type, ids[k], v);
    }
    return 0;
}

/* The scalars of a world's state (no pointers): what copy and save carry besides the columns. */
typedef struct rx_scalars {
    int64_t action_step, actions_in_step;
    int32_t nv, nrx, nactions, pad;
} rx_scalars;

int agora__rules_copy(const agora_world *src, agora_world *dst, agora_error *err)
{
    (void)err;
    const rx_world *a = agora_world_model_state(src);
    rx_world *b = agora_world_model_state(dst);
    const agora__rules_model *m = a->rm;
    const int64_t n = agora_world_n(src);
    for (int i = 0; i < m->nvars; i++)
        memcpy(b->cur[i], a->cur[i], (size_t)n * elem(m->vars[i].type));
    memcpy(b->base, a->base, (size_t)m->nrx * sizeof *b->base);
    memcpy(b->fx_until, a->fx_until, (size_t)m->nactions * sizeof *b->fx_until);
    memcpy(b->fx_val, a->fx_val, (size_t)m->nactions * AGORA_RULES_MAX_PARAMS * sizeof *b->fx_val);
    b->action_step = a->action_step;
    b->actions_in_step = a->actions_in_step;
    params_in_force(b, agora_world_time(dst));
    return 0;
}

int agora__rules_save(const agora_world *w, const agora_state *st, agora_error *err)
{
    const rx_world *s = agora_world_model_state(w);
    const agora__rules_model *m = s->rm;
    const size_t n = (size_t)agora_world_n(w);
    rx_scalars sc = {s->action_step, s->actions_in_step, m->nvars, m->nrx, m->nactions, 0};
    int rc;
    if ((rc = st->put(st->ud, "rules", &sc, sizeof sc, err)) ||
        (rc = st->put(st->ud, "rules_params", s->base, (size_t)m->nrx * sizeof *s->base, err)) ||
        (rc = st->put(st->ud, "rules_fx_until", s->fx_until, (size_t)m->nactions * sizeof *s->fx_until, err)) ||
        (rc = st->put(st->ud, "rules_fx_val", s->fx_val,
                      (size_t)m->nactions * AGORA_RULES_MAX_PARAMS * sizeof *s->fx_val, err)))
        return rc;
    for (int i = 0; i < m->nvars; i++) {
        char name[96];
        snprintf(name, sizeof name, "var_%s", m->vars[i].name);
        if ((rc = st->put(st->ud, name, s->cur[i], n * elem(m->vars[i].type), err)))
            return rc;
    }
    return 0;
}

int agora__rules_load_state(agora_world *w, const agora_state *st, agora_error *err)
{
    rx_world *s = agora_world_model_state(w);
    const agora__rules_model *m = s->rm;
    const size_t n = (size_t)agora_world_n(w);
    rx_scalars sc;
    int rc;
    if ((rc = st->get(st->ud, "rules", &sc, sizeof sc, err)))
        return rc;
    if (sc.nv != m->nvars || sc.nrx != m->nrx || sc.nactions != m->nactions)
        return agora_error_set(err, AGORA_EINVAL, "state", "the saved state is of another model definition");
    s->action_step = sc.action_step;
    s->actions_in_step = sc.actions_in_step;
    if ((rc = st->get(st->ud, "rules_params", s->base, (size_t)m->nrx * sizeof *s->base, err)) ||
        (rc = st->get(st->ud, "rules_fx_until", s->fx_until, (size_t)m->nactions * sizeof *s->fx_until, err)) ||
        (rc = st->get(st->ud, "rules_fx_val", s->fx_val,
                      (size_t)m->nactions * AGORA_RULES_MAX_PARAMS * sizeof *s->fx_val, err)))
        return rc;
    for (int i = 0; i < m->nvars; i++) {
        char name[96];
        snprintf(name, sizeof name, "var_%s", m->vars[i].name);
        if ((rc = st->get(st->ud, name, s->cur[i], n * elem(m->vars[i].type), err)))
            return rc;
    }
    params_in_force(s, agora_world_time(w));
    return 0;
}
