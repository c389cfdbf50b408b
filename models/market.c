/* agora — a market of buyers and sellers trading one good over repeated days (a random-matching double auction).
 *
 * Population (well-mixed space {kind: mixed, n}): agents 0 .. B-1 are buyers, B .. n-1 sellers, B = `buyers`. Each
 * buyer has a private valuation v ~ U(valuation_low, valuation_high), each seller a cost c ~ U(cost_low, cost_high),
 * drawn once at step 0 (or, with valuation_dist / cost_dist = normal, a normal (mean, sd) truncated to [low, high]).
 * Every agent keeps a quote: a buyer's bid (the most it will pay, tax included) and a seller's ask (the least it will
 * take). Quotes start shaded away from the limits: bid = v (1 - m u), ask = c (1 + m u) with u ~ U(0, 1) and m =
 * `initial_markup`.
 *
 * One step is one trading day of `rounds_per_day` rounds; goods replenish every day and each agent trades at most
 * one unit a day. In each round the buyers and sellers that have not traded yet today are paired at random, without
 * conflicts: the k-th agent of the smaller active side meets agent π(k) of the larger one, π a random permutation
 * (agora_perm keyed by (key, day, AGORA_RNG_STREAM_MODEL + round)). A pair trades when
 *
 *     ask <= ceiling  and  bid >= ask (1 + tax),
 *
 * at the price p = (ask + bid / (1 + tax)) / 2 — the midpoint of the two quotes, both expressed as what the seller
 * receives — capped at the ceiling. The seller receives p; the buyer pays p (1 + tax); the government collects
 * tax p. So the price is never below the seller's ask and the buyer never pays more than its bid.
 *
 * At the end of the day every agent learns from its own outcome by moving its quote a fraction `learning_rate` of
 * the way toward a target: a buyer that bought moves toward what it paid, p (1 + tax) (it bids less); one that did
 * not toward its limit v + subsidy_buyers (it bids more); a seller that sold moves toward p (it asks more); one that
 * did not toward its limit c - subsidy_sellers (it asks less). The moves are convex combinations, so a bid never
 * exceeds the buyer's limit and an ask never falls below the seller's. With a price ceiling sellers also never ask
 * above it (unless their limit is above it: they sit the market out). Excess demand leaves buyers unserved and they
 * bid up; excess supply leaves sellers unsold and they ask less: a decentralised tatonnement toward the competitive
 * equilibrium, with extramarginal traders pushed to their limits and out of the market.
 *
 * Policy (persona actions): set_tax {rate} — an ad-valorem tax on the price, paid by the buyer on top of it (the
 * trade condition becomes bid >= ask (1 + rate)); price_ceiling {price | null} — trades happen at most at that
 * (pre-tax) price, null removes it; subsidy {amount, side} — a payment of `amount` per unit traded to every buyer (or
 * seller) that trades, which raises buyers' limits to v + amount (lowers sellers' to c - amount): the demand curve
 * shifts up (supply down) by the amount. A subsidy replaces the previous one on that side; 0 removes it. When a
 * limit moves, quotes beyond the new limit are pulled back to it at once.
 *
 * Metrics. The competitive equilibrium (CE) is computed from the day's demand curve (valuations sorted from high to
 * low, shifted by the buyer subsidy and divided by 1 + tax: what sellers would receive) and supply curve (costs from
 * low to high, shifted down by the seller subsidy): q* is the largest k with demand(k) >= supply(k), the CE price
 * interval is [max(supply(q*), demand(q*+1)), min(demand(q*), supply(q*+1))] and ce_price is its midpoint. The
 * ceiling is not part of the CE (price_gap shows how far a binding ceiling holds the market from it). Efficiency is
 * the realised surplus sum(v) - sum(c) over the day's trades divided by the maximum surplus (the sum of v_(k) - c_(k)
 * for k <= q* of the undistorted curves); taxes and subsidies are transfers and do not count, so they show as
 * deadweight loss. Valuations and costs only change order under no action (subsidies shift whole curves), so they
 * are sorted at init (and again when `value` is written) and the CE is recomputed (a binary search) only when the
 * policy or the values change.
 *
 * Writable fields (agora_world_set_field). `value`: a finite number >= 0; the sorted curves, the maximum surplus and
 * the CE are recomputed, and the agent's quote is pulled back inside its new limit as after a policy change.
 * `quote`: a finite number >= 0 that the agent's limits allow — a bid at most valuation + subsidy_buyers, an ask at
 * least cost - subsidy_sellers and at most the price ceiling (or exactly the limit when that is above the ceiling) —
 * the quotes the model itself can reach; others are refused, not clamped. After either write bid_mean and ask_mean
 * are the means of the quotes now. The last day's own measurements (prices, volume, surplus, tax revenue, subsidy
 * cost) describe trades that happened and stay. `price` and `traded` record today's trades and are read-only.
 *
 * Parallelism and determinism: the pairs of a round are disjoint and every trade reads only quotes fixed for the
 * day, so each round is one parallel loop. Active agents are listed by block counts, a serial prefix sum and a
 * parallel scatter; sums for the metrics are taken over fixed blocks of agents and added in block order. Results
 * are bit-identical at any thread count. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_cdf.h>
#include <omp.h>

#include "agora/kernel.h"
#include "agora/matching.h"
#include "core/simd.h"

#define BLOCK 4096 /* agents per block of the parallel scans and metric sums */
#define BATCH 32   /* pairs whose memory accesses a trading round overlaps */

enum { NSUM = 7 }; /* per-block sums: trades, sum(p - K), sum((p - K)^2), sum(v traded), sum(c traded), bids, asks */

/* The agents still active in a round after the first, compacted after the first round (buyers at [0, na_b),
 * sellers from s0) and then kept up to date by removing the agents that trade (remove_done). Their quotes are
 * copied in (so a round's random reads stay inside a working set that shrinks with the active agents), `done` marks
 * the agents that trade in this round, and `id` maps back to the agents. */
typedef struct actives {
    double *q;     /* [n] quotes */
    int64_t *id;   /* [n] agents */
    uint8_t *done; /* [n] 1: traded in this round (its price is in market_state.act_price) */
} actives;

/* The kernel-owned arrays (the model SDK), in this order: the public fields first. */
enum {
    F_VALUE,
    F_QUOTE,
    F_PRICE,
    F_TRADED,
    F_SORTED,
    F_ACT_Q,
    F_ACT_ID,
    F_ACT_DONE,
    F_ACT_PRICE,
    F_BLOCK_COUNT,
    F_BLOCK_SUM
};

static const agora_field_decl market_decl[] = {
    {.name = "value",
     .type = AGORA_DTYPE_F64,
     .flags = AGORA_FIELD_SNAPSHOT | AGORA_FIELD_WRITABLE,
     .min = 0,
     .max = INFINITY,
     .domain = "a valuation (buyers) or cost (sellers) is a finite number >= 0"},
    {.name = "quote",
     .type = AGORA_DTYPE_F64,
     .flags = AGORA_FIELD_SNAPSHOT | AGORA_FIELD_WRITABLE,
     .min = 0,
     .max = INFINITY,
     .domain = "a bid (buyers) or ask (sellers) is a finite number >= 0"},
    {.name = "price", .type = AGORA_DTYPE_F64, .flags = AGORA_FIELD_SNAPSHOT},
    {.name = "traded", .type = AGORA_DTYPE_U8, .flags = AGORA_FIELD_SNAPSHOT},
    {.name = "sorted",
     .type = AGORA_DTYPE_F64,
     .doc = "the demand and supply curves: valuations high to low [0, nb), then costs low to high [nb, n)"},
    {.name = "act_q", .type = AGORA_DTYPE_F64, .flags = AGORA_FIELD_SCRATCH, .doc = "the actives' quotes"},
    {.name = "act_id", .elem = sizeof(int64_t), .flags = AGORA_FIELD_SCRATCH, .doc = "the actives' agents"},
    {.name = "act_done", .elem = 1, .flags = AGORA_FIELD_SCRATCH, .doc = "1: the active traded in this round"},
    {.name = "act_price",
     .type = AGORA_DTYPE_F64,
     .flags = AGORA_FIELD_SCRATCH,
     .doc = "by position in the current actives: the price of a trade this round"},
    /* Buyers and sellers are blocked apart: at most one block more than the agents' blocks, and a total. */
    {.name = "block_count", .elem = sizeof(int64_t), .group = BLOCK, .add = 2, .flags = AGORA_FIELD_SCRATCH},
    {.name = "block_sum",
     .type = AGORA_DTYPE_F64,
     .group = BLOCK,
     .mult = NSUM,
     .add = NSUM,
     .flags = AGORA_FIELD_SCRATCH},
    {0}};

/* The scalars: plain data, copied and saved as bytes by the kernel. */
typedef struct market_scalars {
    int64_t n, nb, ns; /* agents, buyers (0 .. nb-1), sellers (nb .. n-1) */
    int64_t nblk_b, nblk_s;
    int rounds;
    double learning_rate;
    /* policy */
    double tax, ceiling, sub_b, sub_s; /* ceiling = INFINITY when none */
    /* the CE of the current policy and the undistorted maximum surplus */
    double ce_price, ce_lo, ce_hi, max_surplus;
    int64_t ce_q, max_q;
    /* the last day's measurements */
    int64_t volume;
    double price_mean, price_std, surplus, bid_mean, ask_mean;
    double tax_revenue, subsidy_cost; /* under the policy of that day */
} market_scalars;

/* What one function sees: the scalars and the arrays. */
typedef struct market_state {
    market_scalars *sc;
    double *value;     /* [n] valuation (buyers) or cost (sellers) */
    double *quote;     /* [n] bid (buyers) or ask (sellers) */
    double *price;     /* [n] the price of the agent's trade today, NaN if none */
    uint8_t *traded;   /* [n] 1 if the agent traded today (written at the end of the day, from price) */
    double *v_sorted;  /* [nb] valuations, high to low */
    double *c_sorted;  /* [ns] costs, low to high */
    actives act;       /* the agents active after the first round: buyers first, then sellers */
    double *act_price; /* [n] by position in the current actives: the price of a trade this round */
    int64_t *block_count;
    double *block_sum;
} market_state;

static market_state market_of(const agora_world *w)
{
    market_scalars *sc = agora_sdk_scalars(w);
    double *sorted = agora_sdk_cur(w, F_SORTED);
    return (market_state){
        .sc = sc,
        .value = agora_sdk_cur(w, F_VALUE),
        .quote = agora_sdk_cur(w, F_QUOTE),
        .price = agora_sdk_cur(w, F_PRICE),
        .traded = agora_sdk_cur(w, F_TRADED),
        .v_sorted = sorted,
        .c_sorted = sorted + sc->nb,
        .act = {.q = agora_sdk_cur(w, F_ACT_Q), .id = agora_sdk_cur(w, F_ACT_ID), .done = agora_sdk_cur(w, F_ACT_DONE)},
        .act_price = agora_sdk_cur(w, F_ACT_PRICE),
        .block_count = agora_sdk_cur(w, F_BLOCK_COUNT),
        .block_sum = agora_sdk_cur(w, F_BLOCK_SUM)};
}

static const agora_param_spec market_params[] = {
    {"buyers", AGORA_PARAM_AMOUNT, 0.5, 0.0, 0.0,
     "buyers: a fraction of the agents in [0, 1) or a count; agents 0..buyers-1 buy, the rest sell", NULL},
    {"valuation_dist", AGORA_PARAM_CHOICE, 0, 0, 0,
     "distribution of the buyers' valuations on [valuation_low, valuation_high]: uniform, or a normal "
     "(valuation_mean, valuation_sd) truncated to that interval",
     "uniform|normal"},
    {"valuation_low", AGORA_PARAM_REAL, 50, 0, 1e12, "lowest valuation", NULL},
    {"valuation_high", AGORA_PARAM_REAL, 150, 0, 1e12, "highest valuation", NULL},
    {"valuation_mean", AGORA_PARAM_REAL, 100, 0, 1e12, "mean of the normal valuations (before truncation)", NULL},
    {"valuation_sd", AGORA_PARAM_REAL, 25, 1e-9, 1e12, "standard deviation of the normal valuations", NULL},
    {"cost_dist", AGORA_PARAM_CHOICE, 0, 0, 0,
     "distribution of the sellers' costs on [cost_low, cost_high]: uniform, or a normal (cost_mean, cost_sd) "
     "truncated to that interval",
     "uniform|normal"},
    {"cost_low", AGORA_PARAM_REAL, 20, 0, 1e12, "lowest cost", NULL},
    {"cost_high", AGORA_PARAM_REAL, 80, 0, 1e12, "highest cost", NULL},
    {"cost_mean", AGORA_PARAM_REAL, 50, 0, 1e12, "mean of the normal costs (before truncation)", NULL},
    {"cost_sd", AGORA_PARAM_REAL, 15, 1e-9, 1e12, "standard deviation of the normal costs", NULL},
    {"rounds_per_day", AGORA_PARAM_INT, 10, 1, 64,
     "matching rounds per day (one step): agents that have not traded meet a new random partner each round", NULL},
    {"learning_rate", AGORA_PARAM_REAL, 0.05, 0.0, 1.0,
     "fraction of the way a quote moves each day toward the price got (after a trade) or the own limit (after none)",
     NULL},
    {"initial_markup", AGORA_PARAM_REAL, 0.3, 0.0, 1.0,
     "initial shading: bid = v (1 - m u), ask = c (1 + m u), u uniform on [0, 1)", NULL},
    {NULL, 0, 0, 0, 0, NULL, NULL}};

enum {
    M_PRICE_MEAN,
    M_PRICE_STD,
    M_VOLUME,
    M_EFFICIENCY,
    M_SURPLUS,
    M_MAX_SURPLUS,
    M_CE_PRICE,
    M_CE_QUANTITY,
    M_GAP,
    M_GAP_REL,
    M_BID_MEAN,
    M_ASK_MEAN,
    M_TAX_REVENUE,
    M_SUBSIDY_COST,
    M_TAX_RATE,
    M_CEILING,
    M_SUB_B,
    M_SUB_S,
    M_COUNT
};

static const agora_metric_spec market_metrics[] = {
    {"price_mean", "mean price of the day's trades (received by sellers, before tax); NaN without trades", "final"},
    {"price_std", "standard deviation of the day's trade prices; NaN without trades", NULL},
    {"volume", "units traded during the day", "final"},
    {"efficiency", "realised surplus / maximum surplus (taxes and subsidies are transfers, not surplus)", "final"},
    {"surplus", "realised surplus: valuations minus costs over the day's trades", NULL},
    {"max_surplus", "maximum surplus of the undistorted supply and demand curves", NULL},
    {"ce_price", "competitive equilibrium price (seller's price, midpoint of the CE interval) under tax and subsidies",
     NULL},
    {"ce_quantity", "competitive equilibrium quantity under tax and subsidies", NULL},
    {"price_gap", "price_mean - ce_price; NaN without trades", "final"},
    {"price_gap_rel", "(price_mean - ce_price) / ce_price; NaN without trades", NULL},
    {"bid_mean", "mean bid of all buyers at the end of the day", NULL},
    {"ask_mean", "mean ask of all sellers at the end of the day", NULL},
    {"tax_revenue", "tax collected during the day", NULL},
    {"subsidy_cost", "subsidies paid during the day", NULL},
    {"tax_rate", "ad-valorem tax rate in force", NULL},
    {"price_ceiling", "price ceiling in force; NaN when there is none", NULL},
    {"subsidy_buyers", "per-unit subsidy to buyers in force", NULL},
    {"subsidy_sellers", "per-unit subsidy to sellers in force", NULL},
    {NULL, NULL, NULL}};

static const agora_field_spec market_fields[] = {
    {"value", AGORA_DTYPE_F64, "valuation (buyers, agents 0..buyers-1) or cost (sellers); writable, >= 0"},
    {"quote", AGORA_DTYPE_F64, "bid (buyers) or ask (sellers) for the next day; writable, within the agent's limits"},
    {"price", AGORA_DTYPE_F64, "price of the agent's trade today (before tax), NaN if it did not trade; read-only"},
    {"traded", AGORA_DTYPE_U8, "1 if the agent traded today; read-only"},
    {NULL, 0, NULL}};

static const char market_action_schema[] =
    "{\"anyOf\": ["
    "{\"type\": \"object\", \"title\": \"set_tax\","
    " \"description\": \"Set an ad-valorem tax on every trade, paid by the buyer on top of the price: a trade needs"
    " bid >= ask * (1 + rate). 0 removes it.\","
    " \"properties\": {\"action\": {\"const\": \"set_tax\"},"
    " \"rate\": {\"type\": \"number\", \"minimum\": 0, \"maximum\": 1, \"description\": \"tax as a fraction of the "
    "price\"}},"
    " \"required\": [\"action\", \"rate\"], \"additionalProperties\": false},"
    "{\"type\": \"object\", \"title\": \"price_ceiling\","
    " \"description\": \"Cap the price sellers may receive (before tax); sellers whose cost is above it stop selling."
    " null removes the ceiling.\","
    " \"properties\": {\"action\": {\"const\": \"price_ceiling\"},"
    " \"price\": {\"type\": [\"number\", \"null\"], \"minimum\": 0, \"maximum\": 1000000000000}},"
    " \"required\": [\"action\", \"price\"], \"additionalProperties\": false},"
    "{\"type\": \"object\", \"title\": \"subsidy\","
    " \"description\": \"Pay `amount` per unit traded to every buyer (or seller) that trades: buyers will pay up to"
    " valuation + amount, sellers accept down to cost - amount. Replaces that side's subsidy; 0 removes it.\","
    " \"properties\": {\"action\": {\"const\": \"subsidy\"},"
    " \"amount\": {\"type\": \"number\", \"minimum\": 0, \"maximum\": 1000000000000},"
    " \"side\": {\"enum\": [\"buyers\", \"sellers\"]}},"
    " \"required\": [\"action\", \"amount\", \"side\"], \"additionalProperties\": false}"
    "]}";

/* ---- the competitive equilibrium --------------------------------------------------------------------------------- */

/* Demand and supply at rank k (1-based) in the seller's price, under the policy. */
static inline double demand_at(const market_state *st, int64_t k, double sub_b, double tax)
{
    return (st->v_sorted[k - 1] + sub_b) / (1.0 + tax);
}

static inline double supply_at(const market_state *st, int64_t k, double sub_s)
{
    return st->c_sorted[k - 1] - sub_s;
}

/* The largest k <= min(nb, ns) with demand(k) >= supply(k) (demand falls, supply rises: a binary search), and the
 * CE price interval. */
static int64_t ce_solve(const market_state *st, double sub_b, double sub_s, double tax, double *lo, double *hi)
{
    int64_t a = 0, b = st->sc->nb < st->sc->ns ? st->sc->nb : st->sc->ns; /* invariant: q* in [a, b] */
    while (a < b) {
        int64_t mid = a + (b - a + 1) / 2;
        if (demand_at(st, mid, sub_b, tax) >= supply_at(st, mid, sub_s))
            a = mid;
        else
            b = mid - 1;
    }
    const int64_t q = a;
    /* Prices where exactly q units are demanded and supplied: at least the q-th seller's limit and the (q+1)-th
     * buyer's, at most the q-th buyer's limit and the (q+1)-th seller's. With q = 0 the interval is the gap between
     * the highest buyer and the cheapest seller. */
    double l = -INFINITY, h = INFINITY;
    if (q > 0) {
        l = supply_at(st, q, sub_s);
        h = demand_at(st, q, sub_b, tax);
    }
    if (q < st->sc->nb) {
        double d = demand_at(st, q + 1, sub_b, tax);
        l = d > l ? d : l;
    }
    if (q < st->sc->ns) {
        double s = supply_at(st, q + 1, sub_s);
        h = s < h ? s : h;
    }
    if (q == 0 && l > h) { /* no trade possible: report the gap between the curves */
        double t = l;
        l = h;
        h = t;
    }
    *lo = l;
    *hi = h;
    return q;
}

static void ce_update(market_state *st)
{
    st->sc->ce_q = ce_solve(st, st->sc->sub_b, st->sc->sub_s, st->sc->tax, &st->sc->ce_lo, &st->sc->ce_hi);
    st->sc->ce_price = 0.5 * (st->sc->ce_lo + st->sc->ce_hi);
}

static int cmp_desc(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x < y) - (x > y);
}

static int cmp_asc(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Sorts the valuations and costs into the demand and supply curves and computes from them the undistorted maximum
 * surplus and the CE under the policy in force. */
static void curves_update(market_state *st)
{
    memcpy(st->v_sorted, st->value, (size_t)st->sc->nb * sizeof *st->v_sorted);
    memcpy(st->c_sorted, st->value + st->sc->nb, (size_t)st->sc->ns * sizeof *st->c_sorted);
    qsort(st->v_sorted, (size_t)st->sc->nb, sizeof *st->v_sorted, cmp_desc);
    qsort(st->c_sorted, (size_t)st->sc->ns, sizeof *st->c_sorted, cmp_asc);
    double lo, hi;
    st->sc->max_q = ce_solve(st, 0, 0, 0, &lo, &hi);
    st->sc->max_surplus = 0;
    for (int64_t k = 0; k < st->sc->max_q; k++)
        st->sc->max_surplus += st->v_sorted[k] - st->c_sorted[k];
    ce_update(st);
}

/* ---- one day -------------------------------------------------------------------------------------------------------
 */

/* Writes to dst, from position `at`, the agents off .. off+len-1 that have not traded yet today (price NaN), with
 * their quotes, in order, and returns how many. Parallel over blocks: count, prefix-sum, then a branch-free
 * compaction (each block writes only inside its own part). */
static int64_t filter_active(const double *restrict price, const double *restrict quote, int64_t off, int64_t len,
                             const actives *dst, int64_t at, int64_t *restrict cnt, int threads)
{
    const int64_t nblk = (len + BLOCK - 1) / BLOCK;
    double *restrict dq = dst->q + at;
    int64_t *restrict did = dst->id + at;
    uint8_t *restrict ddone = dst->done + at;
    int64_t total = 0;
#pragma omp parallel num_threads(threads)
    {
#pragma omp for schedule(static)
        for (int64_t k = 0; k < nblk; k++) {
            const int64_t a = k * BLOCK, b = a + BLOCK < len ? a + BLOCK : len;
            int64_t c = 0;
            for (int64_t q = a; q < b; q++)
                c += isnan(price[off + q]) != 0;
            cnt[k] = c;
        }
#pragma omp single
        {
            int64_t sum = 0;
            for (int64_t k = 0; k < nblk; k++) {
                const int64_t c = cnt[k];
                cnt[k] = sum;
                sum += c;
            }
            cnt[nblk] = sum;
            total = sum;
        }
#pragma omp for schedule(static)
        for (int64_t k = 0; k < nblk; k++) {
            const int64_t a = k * BLOCK, b = a + BLOCK < len ? a + BLOCK : len, lim = cnt[k + 1];
            int64_t o = cnt[k];
            for (int64_t q = a; q < b; q++) {
                const int64_t i = off + q;
                if (o < lim) { /* false only past this block's last kept agent */
                    dq[o] = quote[i];
                    did[o] = i;
                    ddone[o] = 0;
                }
                o += isnan(price[i]) != 0;
            }
        }
    }
    return total;
}

/* Removes from the active segment [base, base+len) the agents that traded in the last round, writing their prices
 * back, and returns the new length. Each removed agent's place is taken by the segment's last agent; scanning from
 * the end makes that last agent one that stays. O(len) over one byte per agent plus O(trades): after the first
 * rounds few agents trade per round, so this costs far less than compacting the lists again. Sequential, so the
 * order of the lists (and with it the next pairing) does not depend on the thread count. */
static int64_t remove_done(market_state *st, int64_t base, int64_t len)
{
    double *restrict q = st->act.q + base, *restrict price = st->price;
    const double *restrict ap = st->act_price + base;
    int64_t *restrict id = st->act.id + base;
    uint8_t *restrict done = st->act.done + base;
    for (int64_t pos = len - 1; pos >= 0; pos--) {
        if (!done[pos])
            continue;
        price[id[pos]] = ap[pos];
        len--;
        q[pos] = q[len];
        id[pos] = id[len];
        done[pos] = 0; /* done[len] is 0: every position after pos has been seen and kept */
    }
    return len;
}

/* The trade rule, for both kinds of round: a pair trades when ask <= ceiling and bid >= ask (1 + tax); *price is
 * then the midpoint of the quotes as the seller receives them, capped at the ceiling. inv = 1 / (1 + tax). */
static inline int trades(double bid, double ask, double tax, double inv, double ceiling, double *price)
{
    const double mid = 0.5 * (ask + bid * inv);
    *price = mid < ceiling ? mid : ceiling;
    return (ask <= ceiling) & (bid >= ask * (1.0 + tax));
}

/* A round after the first, on the actives: the k-th of the smaller side meets the π(k)-th of the larger. Only
 * trades are written (most pairs of a later round do not trade: the agents left are largely extramarginal), which
 * also keeps the cores from fighting over the cache lines of the far side, which both touch at random. */
AGORA_HOT static void trade_compact(const market_state *st, int threads, const agora_perm *perm, int64_t na_b,
                                    int64_t s0, int64_t na_s)
{
    const double tax = st->sc->tax, inv = 1.0 / (1.0 + st->sc->tax), ceiling = st->sc->ceiling;
    const double *restrict q = st->act.q;
    uint8_t *restrict done = st->act.done;
    double *restrict ap = st->act_price;
    const int buyers_small = na_b <= na_s;
    const int64_t m = buyers_small ? na_b : na_s, nbatch = (m + BATCH - 1) / BATCH;
    const int64_t near0 = buyers_small ? 0 : s0, far0 = buyers_small ? s0 : 0;
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t bi = 0; bi < nbatch; bi++) {
        const int64_t k0 = bi * BATCH, cnt = k0 + BATCH < m ? BATCH : m - k0;
        uint64_t js[BATCH];
        agora_perm_batch(perm, (uint64_t)k0, (int)cnt, js);
        for (int64_t e = 0; e < cnt; e++)
            __builtin_prefetch(&q[far0 + (int64_t)js[e]], 0, 0);
        for (int64_t e = 0; e < cnt; e++) {
            const int64_t kn = near0 + k0 + e, kf = far0 + (int64_t)js[e];
            const int64_t b = buyers_small ? kn : kf, s = buyers_small ? kf : kn;
            double p;
            if (trades(q[b], q[s], tax, inv, ceiling, &p)) {
                done[b] = done[s] = 1;
                ap[b] = ap[s] = p;
            }
        }
    }
}

/* The first round: buyer k meets seller π(k) (or seller k meets buyer π(k), whichever side is smaller), over the
 * quote and price arrays themselves.
 *
 * The partner's quote is a random access into an array of n doubles, and whether the pair trades depends on it, so
 * a plain loop stalls on every miss and then mispredicts. The loop therefore works in batches: it evaluates the
 * permutation for a batch, prefetches the partners' quotes and prices, then decides every pair without branches.
 * Every agent is in at most one pair, so writing price for both agents of every pair — the trade price or NaN —
 * changes nothing for pairs that do not trade (their prices are NaN already). */
AGORA_HOT static void trade_first(market_state *st, int threads, const agora_perm *perm)
{
    const double *restrict quote = st->quote;
    double *restrict price = st->price;
    const double tax = st->sc->tax, inv = 1.0 / (1.0 + st->sc->tax), ceiling = st->sc->ceiling;
    const int64_t na_b = st->sc->nb, na_s = st->sc->ns, off_s = st->sc->nb;
    const int buyers_small = na_b <= na_s;
    const int64_t m = buyers_small ? na_b : na_s, nbatch = (m + BATCH - 1) / BATCH;
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t bi = 0; bi < nbatch; bi++) {
        const int64_t k0 = bi * BATCH, cnt = k0 + BATCH < m ? BATCH : m - k0;
        int64_t bs[BATCH], ss[BATCH];
        uint64_t js[BATCH];
        agora_perm_batch(perm, (uint64_t)k0, (int)cnt, js);
        for (int64_t q = 0; q < cnt; q++) {
            const int64_t k = k0 + q, j = (int64_t)js[q];
            bs[q] = buyers_small ? k : j;
            ss[q] = off_s + (buyers_small ? j : k);
            const int64_t far = buyers_small ? ss[q] : bs[q];
            __builtin_prefetch(&quote[far], 0, 0);
            __builtin_prefetch(&price[far], 1, 0);
        }
        for (int64_t q = 0; q < cnt; q++) {
            const int64_t b = bs[q], s = ss[q];
            double p;
            const double out = trades(quote[b], quote[s], tax, inv, ceiling, &p) ? p : NAN;
            price[b] = out;
            price[s] = out;
        }
    }
}

/* End of the day: every agent moves its quote; per-block sums for the metrics. Prices are summed relative to the CE
 * price (K) so that the variance does not lose digits to cancellation. */
AGORA_HOT static void learn_block(market_state *st, int64_t k, double K)
{
    const int buyer = k < st->sc->nblk_b;
    const int64_t i0 = buyer ? k * BLOCK : st->sc->nb + (k - st->sc->nblk_b) * BLOCK;
    const int64_t end = buyer ? st->sc->nb : st->sc->n, i1 = i0 + BLOCK < end ? i0 + BLOCK : end;
    const double lr = st->sc->learning_rate, gross = 1.0 + st->sc->tax, ceiling = st->sc->ceiling;
    const double *restrict value = st->value, *restrict price = st->price;
    uint8_t *restrict traded = st->traded;
    double *restrict quote = st->quote;
    double trades = 0, sp = 0, sp2 = 0, sv = 0, sq = 0;
    if (buyer) {
        const double sub = st->sc->sub_b;
        for (int64_t i = i0; i < i1; i++) {
            const double cap = value[i] + sub, q = quote[i];
            const int t = !isnan(price[i]);
            traded[i] = (uint8_t)t;
            const double target = t ? price[i] * gross : cap;
            double nq = q + lr * (target - q);
            nq = nq < cap ? nq : cap;
            quote[i] = nq;
            sv += t ? value[i] : 0.0;
            sq += nq;
        }
    } else {
        const double sub = st->sc->sub_s;
        for (int64_t i = i0; i < i1; i++) {
            const double floor_ = value[i] - sub, q = quote[i];
            const double p = price[i];
            const int t = !isnan(p);
            traded[i] = (uint8_t)t;
            const double target = t ? p : floor_;
            double nq = q + lr * (target - q);
            nq = nq < ceiling ? nq : ceiling;
            nq = nq > floor_ ? nq : floor_;
            quote[i] = nq;
            const double d = t ? p - K : 0.0;
            trades += t;
            sp += d;
            sp2 += d * d;
            sv += t ? value[i] : 0.0;
            sq += nq;
        }
    }
    double *out = st->block_sum + k * NSUM;
    out[0] = trades;
    out[1] = sp;
    out[2] = sp2;
    out[3] = buyer ? sv : 0.0;
    out[4] = buyer ? 0.0 : sv;
    out[5] = buyer ? sq : 0.0;
    out[6] = buyer ? 0.0 : sq;
}

static void market_step(agora_world *w)
{
    market_state M = market_of(w), *st = &M;
    const int threads = agora_world_threads(w);
    const int64_t t = agora_world_time(w), n = st->sc->n;
    {
        double *restrict price = st->price;
#pragma omp parallel for schedule(static) num_threads(threads)
        for (int64_t i = 0; i < n; i++)
            price[i] = NAN;
    }
    int64_t na_b = st->sc->nb, na_s = st->sc->ns; /* active buyers and sellers */
    int64_t s0 = 0;                               /* after the first round: where the active sellers start in st->act */
    int compact = 0;                              /* st->act holds the active agents */
    for (int r = 0; r < st->sc->rounds; r++) {
        if (r == 1) {
            na_b = filter_active(st->price, st->quote, 0, na_b, &st->act, 0, st->block_count, threads);
            s0 = na_b;
            na_s = filter_active(st->price, st->quote, st->sc->nb, na_s, &st->act, s0, st->block_count, threads);
            compact = 1;
        } else if (r > 1) {
            na_b = remove_done(st, 0, na_b);
            na_s = remove_done(st, s0, na_s);
        }
        if (na_b == 0 || na_s == 0)
            break;
        agora_perm perm;
        agora_perm_init(&perm, (uint64_t)(na_b > na_s ? na_b : na_s), agora_world_key(w), (uint64_t)t,
                        AGORA_RNG_STREAM_MODEL + (uint32_t)r);
        if (r == 0)
            trade_first(st, threads, &perm);
        else
            trade_compact(st, threads, &perm, na_b, s0, na_s);
    }
    if (compact) { /* the last round's trades */
        remove_done(st, 0, na_b);
        remove_done(st, s0, na_s);
    }
    const int64_t nblk = st->sc->nblk_b + st->sc->nblk_s;
    const double K = isfinite(st->sc->ce_price) ? st->sc->ce_price : 0.0;
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t k = 0; k < nblk; k++)
        learn_block(st, k, K);
    double s[NSUM] = {0};
    for (int64_t k = 0; k < nblk; k++)
        for (int j = 0; j < NSUM; j++)
            s[j] += st->block_sum[k * NSUM + j];
    st->sc->volume = (int64_t)s[0];
    if (st->sc->volume > 0) {
        const double v = (double)st->sc->volume, d = s[1] / v;
        st->sc->price_mean = K + d;
        double var = s[2] / v - d * d;
        st->sc->price_std = sqrt(var > 0 ? var : 0);
    } else {
        st->sc->price_mean = st->sc->price_std = NAN;
    }
    st->sc->surplus = s[3] - s[4];
    st->sc->tax_revenue = st->sc->volume > 0 ? st->sc->tax * st->sc->price_mean * (double)st->sc->volume : 0.0;
    st->sc->subsidy_cost = (st->sc->sub_b + st->sc->sub_s) * (double)st->sc->volume;
    st->sc->bid_mean = s[5] / (double)st->sc->nb;
    st->sc->ask_mean = s[6] / (double)st->sc->ns;
}

/* ---- lifecycle -----------------------------------------------------------------------------------------------------
 */

/* bid_mean and ask_mean from the quotes as they are, outside a trading day: at step 0 (the metrics of day 0) and
 * after a write to `value` or `quote`. */
static void quote_means(market_state *st)
{
    double sb = 0, ss = 0;
    for (int64_t i = 0; i < st->sc->nb; i++)
        sb += st->quote[i];
    for (int64_t i = st->sc->nb; i < st->sc->n; i++)
        ss += st->quote[i];
    st->sc->bid_mean = sb / (double)st->sc->nb;
    st->sc->ask_mean = ss / (double)st->sc->ns;
}

/* A limit (valuation or cost) from u uniform in [0, 1): uniform on [lo, hi], or a normal (mean, sd) truncated to
 * [lo, hi] by inverting its CDF on [Φ(lo), Φ(hi)] — exact, one draw, no rejection. */
typedef struct limit_dist {
    int normal;
    double lo, hi, mean, sd, plo, phi; /* plo, phi: the normal CDF at lo and hi */
} limit_dist;

static limit_dist limit_dist_of(const json_t *params, const char *side)
{
    char key[32];
    limit_dist d;
#define P(name) (snprintf(key, sizeof key, "%s_%s", side, name), agora_param_real(params, key))
    snprintf(key, sizeof key, "%s_dist", side);
    d.normal = strcmp(agora_param_choice(params, key), "normal") == 0;
    d.lo = P("low");
    d.hi = P("high");
    d.mean = P("mean");
    d.sd = P("sd");
#undef P
    d.plo = gsl_cdf_gaussian_P(d.lo - d.mean, d.sd);
    d.phi = gsl_cdf_gaussian_P(d.hi - d.mean, d.sd);
    return d;
}

static double limit_draw(const limit_dist *d, double u)
{
    if (!d->normal || d->hi <= d->lo)
        return d->lo + (d->hi - d->lo) * u;
    double x = d->mean + gsl_cdf_gaussian_Pinv(d->plo + (d->phi - d->plo) * u, d->sd);
    return x < d->lo ? d->lo : x > d->hi ? d->hi : x; /* rounding at the ends */
}

static int market_init(agora_world *w, const json_t *params, agora_error *err)
{
    const int64_t n = agora_world_n(w);
    const double vl = agora_param_real(params, "valuation_low"), vh = agora_param_real(params, "valuation_high");
    const double cl = agora_param_real(params, "cost_low"), ch = agora_param_real(params, "cost_high");
    const limit_dist vdist = limit_dist_of(params, "valuation"), cdist = limit_dist_of(params, "cost");
    if ((vdist.normal && !(vdist.phi > vdist.plo)) || (cdist.normal && !(cdist.phi > cdist.plo)))
        return agora_error_set(err, AGORA_ESCHEMA,
                               vdist.normal && !(vdist.phi > vdist.plo) ? "params.valuation_mean" : "params.cost_mean",
                               "the normal distribution puts no probability on [low, high]: move its mean closer or "
                               "widen its sd");
    const double markup = agora_param_real(params, "initial_markup");
    if (vl > vh)
        return agora_error_set(err, AGORA_ESCHEMA, "params.valuation_high",
                               "valuation_high (%g) must be at least valuation_low (%g)", vh, vl);
    if (cl > ch)
        return agora_error_set(err, AGORA_ESCHEMA, "params.cost_high", "cost_high (%g) must be at least cost_low (%g)",
                               ch, cl);
    market_scalars *sc = agora_sdk_scalars(w);
    sc->n = n;
    sc->nb = agora_param_amount(params, "buyers", n);
    sc->ns = n - sc->nb;
    if (sc->nb < 1 || sc->ns < 1)
        return agora_error_set(err, AGORA_ESCHEMA, "params.buyers",
                               "a market needs at least one buyer and one seller: %lld buyers of %lld agents",
                               (long long)sc->nb, (long long)n);
    sc->rounds = (int)agora_param_int(params, "rounds_per_day");
    sc->learning_rate = agora_param_real(params, "learning_rate");
    sc->nblk_b = (sc->nb + BLOCK - 1) / BLOCK;
    sc->nblk_s = (sc->ns + BLOCK - 1) / BLOCK;
    market_state M = market_of(w), *st = &M;
    /* Two draws per agent: 2i for the limit, 2i + 1 for the initial shading. */
    const uint64_t base = agora_rng_base(agora_world_key(w), 0, AGORA_RNG_STREAM_INIT);
    const int64_t nb = st->sc->nb;
#pragma omp parallel for schedule(static) num_threads(agora_world_threads(w))
    for (int64_t i = 0; i < n; i++) {
        const double u = agora_rng_u01(agora_rng_at(base, 2 * (uint64_t)i));
        const double shade = markup * agora_rng_u01(agora_rng_at(base, 2 * (uint64_t)i + 1));
        if (i < nb) {
            st->value[i] = limit_draw(&vdist, u);
            st->quote[i] = st->value[i] * (1.0 - shade);
        } else {
            st->value[i] = limit_draw(&cdist, u);
            st->quote[i] = st->value[i] * (1.0 + shade);
        }
        st->price[i] = NAN;
    }
    st->sc->ceiling = INFINITY;
    curves_update(st);
    st->sc->price_mean = st->sc->price_std = NAN;
    quote_means(st);
    return 0;
}

static void market_measure(const agora_world *w, double *out)
{
    const market_state M = market_of(w), *st = &M;
    const double vol = (double)st->sc->volume;
    out[M_PRICE_MEAN] = st->sc->price_mean;
    out[M_PRICE_STD] = st->sc->price_std;
    out[M_VOLUME] = vol;
    out[M_EFFICIENCY] =
        st->sc->max_surplus > 0 ? st->sc->surplus / st->sc->max_surplus : (st->sc->surplus == 0 ? 1.0 : 0.0);
    out[M_SURPLUS] = st->sc->surplus;
    out[M_MAX_SURPLUS] = st->sc->max_surplus;
    out[M_CE_PRICE] = st->sc->ce_price;
    out[M_CE_QUANTITY] = (double)st->sc->ce_q;
    out[M_GAP] = st->sc->price_mean - st->sc->ce_price;
    out[M_GAP_REL] = (st->sc->price_mean - st->sc->ce_price) / st->sc->ce_price;
    out[M_BID_MEAN] = st->sc->bid_mean;
    out[M_ASK_MEAN] = st->sc->ask_mean;
    out[M_TAX_REVENUE] = st->sc->tax_revenue;
    out[M_SUBSIDY_COST] = st->sc->subsidy_cost;
    out[M_TAX_RATE] = st->sc->tax;
    out[M_CEILING] = isfinite(st->sc->ceiling) ? st->sc->ceiling : NAN;
    out[M_SUB_B] = st->sc->sub_b;
    out[M_SUB_S] = st->sc->sub_s;
}

static int market_observe(const agora_world *w, const char *role, json_t **obs, agora_error *err)
{
    (void)role;
    (void)err;
    const market_state M = market_of(w), *st = &M;
    double m[M_COUNT];
    market_measure(w, m);
    json_t *o = json_object();
    json_object_set_new(o, "step", json_integer(agora_world_time(w)));
    json_object_set_new(o, "buyers", json_integer(st->sc->nb));
    json_object_set_new(o, "sellers", json_integer(st->sc->ns));
    /* NaN is not JSON: absent values are null. */
    for (int i = 0; i < M_COUNT; i++)
        json_object_set_new(o, market_metrics[i].name, isfinite(m[i]) ? json_real(m[i]) : json_null());
    *obs = o;
    return 0;
}

/* Quote q of agent i pulled back inside its limits: a bid to at most v + subsidy, an ask to at most the ceiling and
 * at least c - subsidy (the limit wins when it is above the ceiling). */
static inline double clamped_quote(const market_state *st, int64_t i, double q)
{
    if (i < st->sc->nb) {
        const double cap = st->value[i] + st->sc->sub_b;
        return q < cap ? q : cap;
    }
    const double floor_ = st->value[i] - st->sc->sub_s;
    q = q < st->sc->ceiling ? q : st->sc->ceiling;
    return q > floor_ ? q : floor_;
}

/* Pulls quotes back inside the limits after a policy change (subsidy or ceiling). */
static void clamp_quotes(agora_world *w, market_state *st)
{
    const int64_t n = st->sc->n;
#pragma omp parallel for schedule(static) num_threads(agora_world_threads(w))
    for (int64_t i = 0; i < n; i++)
        st->quote[i] = clamped_quote(st, i, st->quote[i]);
}

static int market_apply(agora_world *w, const json_t *action, agora_error *err)
{
    market_state M = market_of(w), *st = &M;
    const char *name = json_string_value(json_object_get(action, "action"));
    if (!name)
        return agora_error_set(err, AGORA_EINVAL, "action.action", "missing action name");
    if (strcmp(name, "set_tax") == 0) {
        const double rate = json_number_value(json_object_get(action, "rate"));
        if (!(rate >= 0 && rate <= 1))
            return agora_error_set(err, AGORA_EINVAL, "action.rate", "expected a rate in [0, 1], got %g", rate);
        st->sc->tax = rate;
    } else if (strcmp(name, "price_ceiling") == 0) {
        const json_t *p = json_object_get(action, "price");
        if (!p)
            return agora_error_set(err, AGORA_EINVAL, "action.price", "expected a price or null");
        if (json_is_null(p)) {
            st->sc->ceiling = INFINITY;
        } else {
            const double c = json_number_value(p);
            if (!json_is_number(p) || !(c >= 0) || !isfinite(c))
                return agora_error_set(err, AGORA_EINVAL, "action.price", "expected a price >= 0 or null");
            st->sc->ceiling = c;
            clamp_quotes(w, st);
        }
    } else if (strcmp(name, "subsidy") == 0) {
        const double amount = json_number_value(json_object_get(action, "amount"));
        const char *side = json_string_value(json_object_get(action, "side"));
        if (!(amount >= 0) || !isfinite(amount))
            return agora_error_set(err, AGORA_EINVAL, "action.amount", "expected an amount >= 0, got %g", amount);
        if (side && strcmp(side, "buyers") == 0)
            st->sc->sub_b = amount;
        else if (side && strcmp(side, "sellers") == 0)
            st->sc->sub_s = amount;
        else
            return agora_error_set(err, AGORA_EINVAL, "action.side", "expected \"buyers\" or \"sellers\", got \"%s\"",
                                   side ? side : "");
        clamp_quotes(w, st);
    } else {
        return agora_error_set(err, AGORA_EINVAL, "action.action", "unknown action \"%s\"", name);
    }
    ce_update(st);
    return 0;
}

/* ---- field writes -------------------------------------------------------------------------------------------------
 */

/* The declared domain makes values finite and >= 0; a quote must also lie inside its agent's limits — the quotes the
 * model itself can reach; others are refused, not clamped. */
static int market_check(const agora_world *w, int f, const int64_t *ids, int64_t count, const double *values,
                        agora_error *err)
{
    const market_state M = market_of(w), *st = &M;
    for (int64_t q = 0; f == F_QUOTE && q < count; q++) {
        const int64_t a = ids[q];
        const double v = values[q];
        if (clamped_quote(st, a, v) == v)
            continue;
        const double limit = a < st->sc->nb ? st->value[a] + st->sc->sub_b : st->value[a] - st->sc->sub_s;
        if (a < st->sc->nb)
            return agora_error_set(err, AGORA_EINVAL, "values",
                                   "values[%lld] = %g (agent %lld): a bid is at most the buyer's limit, valuation "
                                   "+ subsidy = %g",
                                   (long long)q, v, (long long)a, limit);
        if (v < limit)
            return agora_error_set(err, AGORA_EINVAL, "values",
                                   "values[%lld] = %g (agent %lld): an ask is at least the seller's limit, cost - "
                                   "subsidy = %g",
                                   (long long)q, v, (long long)a, limit);
        return agora_error_set(err, AGORA_EINVAL, "values",
                               "values[%lld] = %g (agent %lld): an ask is at most the price ceiling %g (a seller "
                               "whose limit %g is above it asks exactly that limit)",
                               (long long)q, v, (long long)a, st->sc->ceiling, limit);
    }
    return 0;
}

/* After the kernel wrote the values: moved limits pull the quotes beyond them back, as a policy change does, and the
 * curves and the equilibrium follow; either way bid_mean and ask_mean are the means of the quotes now. */
static void market_written(agora_world *w, int f, const int64_t *ids, int64_t count, const double *old,
                           const double *values)
{
    (void)old;
    (void)values;
    market_state M = market_of(w), *st = &M;
    if (f == F_VALUE) {
        for (int64_t q = 0; q < count; q++)
            st->quote[ids[q]] = clamped_quote(st, ids[q], st->quote[ids[q]]);
        curves_update(st);
    }
    quote_means(st);
}

static const agora_model_sdk market_sdk = {
    .fields = market_decl, .scalars = sizeof(market_scalars), .check = market_check, .written = market_written};

const agora_model agora_model_market = {
    .name = "market",
    .summary = "double-auction market: buyers (valuations) and sellers (costs) meet at random each day, trade when "
               "bid >= ask at the midpoint, and learn their quotes from their own outcomes",
    .params = market_params,
    .metrics = market_metrics,
    .fields = market_fields,
    .action_schema = market_action_schema,
    .spaces = AGORA_SPACES_MIXED,
    .init = market_init,
    .step = market_step,
    .measure = market_measure,
    .observe = market_observe,
    .apply = market_apply,
    AGORA_SDK_HOOKS,
    .sdk = &market_sdk,
};
