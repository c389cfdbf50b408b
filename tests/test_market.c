/* Tests for the market model (models/market.c): agreement with the literature (Gode & Sunder 1993: budget-
 * constrained traders reach the competitive equilibrium and high allocative efficiency), the invariants of every
 * trade and quote, each policy action's effect and rejections, and determinism across thread counts.
 *
 * The competitive equilibrium is recomputed here from the agents' valuations and costs read through the `value`
 * field (sort, walk the curves), not taken from the model's metric; efficiency is recomputed from the `traded` and
 * `value` fields. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agora/agora.h"
#include "support.h"

static const agora_model *market(void)
{
    const agora_model *m = agora_model_find("market");
    assert_non_null(m);
    return m;
}

static int metric(const char *name)
{
    int i = agora_model_metric_index(market(), name);
    assert_true(i >= 0);
    return i;
}

static const void *field(agora_world *w, const char *name)
{
    agora_dtype t;
    const void *p = agora_world_field(w, agora_model_field_index(market(), name), &t);
    assert_non_null(p);
    return p;
}

static const double *values(agora_world *w) { return field(w, "value"); }
static const double *quotes(agora_world *w) { return field(w, "quote"); }
static const double *prices(agora_world *w) { return field(w, "price"); }
static const uint8_t *traded(agora_world *w) { return field(w, "traded"); }

/* The double auction of the seed comparison: 100 buyers with valuations U(50, 150), 50 sellers with costs U(20, 80). */
static agora_world *double_auction(uint64_t seed, int threads)
{
    char yaml[512];
    snprintf(yaml, sizeof yaml,
             "model: market\nspace: {kind: mixed, n: 150}\n"
             "params: {buyers: 100, valuation_low: 50, valuation_high: 150, cost_low: 20, cost_high: 80,"
             " rounds_per_day: 20, learning_rate: 0.05}\nseed: %llu\n",
             (unsigned long long)seed);
    return test_world(yaml, threads);
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

typedef struct ce {
    double price, max_surplus;
    int64_t q;
} ce;

/* The CE of buyers [0, nb) and sellers [nb, n) from their values, with demand shifted to (v + sb) / (1 + tax) and
 * supply to c - ss: the largest q whose q-th demand is still >= the q-th supply, and the midpoint of the prices that
 * clear exactly q units. max_surplus is sum(v - c) over those q pairs with the undistorted values. */
static ce compute_ce(const double *value, int64_t n, int64_t nb, double sb, double ss, double tax)
{
    const int64_t ns = n - nb;
    double *v = malloc((size_t)nb * sizeof *v), *c = malloc((size_t)ns * sizeof *c);
    memcpy(v, value, (size_t)nb * sizeof *v);
    memcpy(c, value + nb, (size_t)ns * sizeof *c);
    qsort(v, (size_t)nb, sizeof *v, cmp_desc);
    qsort(c, (size_t)ns, sizeof *c, cmp_asc);
    ce r = {0, 0, 0};
    while (r.q < nb && r.q < ns && (v[r.q] + sb) / (1 + tax) >= c[r.q] - ss) {
        r.max_surplus += v[r.q] - c[r.q];
        r.q++;
    }
    double lo = r.q > 0 ? c[r.q - 1] - ss : -INFINITY, hi = r.q > 0 ? (v[r.q - 1] + sb) / (1 + tax) : INFINITY;
    if (r.q < nb)
        lo = fmax(lo, (v[r.q] + sb) / (1 + tax));
    if (r.q < ns)
        hi = fmin(hi, c[r.q] - ss);
    r.price = 0.5 * (lo + hi);
    free(v);
    free(c);
    return r;
}

/* Realised surplus of the last day from the fields. */
static double realised_surplus(agora_world *w, int64_t nb, int64_t *buyers_traded, int64_t *sellers_traded)
{
    const int64_t n = agora_world_n(w);
    const double *v = values(w);
    const uint8_t *t = traded(w);
    double s = 0;
    *buyers_traded = *sellers_traded = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!t[i])
            continue;
        if (i < nb) {
            s += v[i];
            (*buyers_traded)++;
        } else {
            s -= v[i];
            (*sellers_traded)++;
        }
    }
    return s;
}

/* Gode & Sunder (1993): constrained traders reach the CE price and high efficiency. Over the last 100 of 300 days,
 * the mean trade price must lie within 5 % of the CE price and the mean efficiency above 0.9 — for each of three
 * seeds. (Measured: gaps about 1-2.5 %, efficiency about 0.96; the CE interval is only ~1 wide here because the CE
 * sits in the dense part of the valuations, so the tolerance is the market's own dispersion, not the CE's.) */
static void market_price_converges_to_competitive_equilibrium_gode_sunder(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 3; seed++) {
        agora_world *w = double_auction(seed, 2);
        const ce e = compute_ce(values(w), 150, 100, 0, 0, 0);
        assert_int_equal(e.q, 50); /* demand exceeds supply: every seller is intramarginal */
        double m[64], psum = 0, esum = 0;
        int days = 0;
        for (int t = 0; t < 300; t++) {
            agora_world_step(w);
            if (t < 200)
                continue;
            agora_world_measure(w, m);
            int64_t bt, st;
            double s = realised_surplus(w, 100, &bt, &st);
            assert_true(bt == st && (double)bt == m[metric("volume")]);
            assert_true(fabs(s / e.max_surplus - m[metric("efficiency")]) < 1e-9);
            assert_true(fabs(m[metric("ce_price")] - e.price) < 1e-9);
            assert_true(m[metric("volume")] > 0);
            psum += m[metric("price_mean")];
            esum += s / e.max_surplus;
            days++;
        }
        const double price = psum / days, eff = esum / days;
        print_message("seed %llu: CE price %.3f (q* %lld), mean price %.3f (gap %+.2f %%), efficiency %.3f\n",
                      (unsigned long long)seed, e.price, (long long)e.q, price, 100 * (price / e.price - 1), eff);
        assert_true(fabs(price / e.price - 1) < 0.05);
        assert_true(eff > 0.9);
        agora_world_destroy(w);
    }
}

static int apply_text(agora_world *w, const char *text, agora_error *err)
{
    json_error_t jerr;
    json_t *a = json_loads(text, 0, &jerr);
    if (!a)
        fail_msg("bad JSON in test: %s", jerr.text);
    int rc = agora_world_apply(w, a, err);
    json_decref(a);
    return rc;
}

/* Every day: each trade is within both traders' limits and their quotes of that morning, buyers and sellers trade in
 * equal numbers, volume <= min(B, S), efficiency in [0, 1], bids never above valuation + buyer subsidy, asks never
 * below cost - seller subsidy (and never above a ceiling). Run under a tax, then a ceiling, then subsidies. */
static void market_trades_respect_limits_quotes_and_counts(void **state)
{
    (void)state;
    agora_world *w = test_world("model: market\nspace: {kind: mixed, n: 3001}\n"
                                "params: {buyers: 0.4, valuation_low: 10, valuation_high: 100, cost_low: 0,"
                                " cost_high: 90, rounds_per_day: 6}\nseed: 5\n",
                                2);
    const int64_t n = agora_world_n(w), nb = (int64_t)llround(0.4 * (double)n), ns = n - nb;
    double *before = malloc((size_t)n * sizeof *before);
    double m[64];
    agora_error err;
    for (int t = 0; t < 160; t++) {
        if (t == 40)
            assert_int_equal(apply_text(w, "{\"action\": \"set_tax\", \"rate\": 0.15}", &err), 0);
        if (t == 80)
            assert_int_equal(apply_text(w, "{\"action\": \"price_ceiling\", \"price\": 40}", &err), 0);
        if (t == 120) {
            assert_int_equal(apply_text(w, "{\"action\": \"subsidy\", \"amount\": 7, \"side\": \"buyers\"}", &err), 0);
            assert_int_equal(apply_text(w, "{\"action\": \"subsidy\", \"amount\": 5, \"side\": \"sellers\"}", &err), 0);
        }
        agora_world_measure(w, m);
        const double tax = m[metric("tax_rate")], sb = m[metric("subsidy_buyers")], ss = m[metric("subsidy_sellers")];
        const double ceiling = isnan(m[metric("price_ceiling")]) ? INFINITY : m[metric("price_ceiling")];
        memcpy(before, quotes(w), (size_t)n * sizeof *before);
        agora_world_step(w);
        agora_world_measure(w, m);
        const double *v = values(w), *q = quotes(w), *p = prices(w);
        const uint8_t *tr = traded(w);
        int64_t bt = 0, st = 0;
        for (int64_t i = 0; i < n; i++) {
            assert_true(tr[i] == !isnan(p[i]));
            if (i < nb) {
                assert_true(q[i] <= v[i] + sb);
                if (tr[i]) {
                    bt++;
                    assert_true(p[i] * (1 + tax) <= before[i] * (1 + 1e-12)); /* paid at most the bid */
                    assert_true(p[i] * (1 + tax) - sb <= v[i] * (1 + 1e-12)); /* never above valuation */
                }
            } else {
                assert_true(q[i] >= v[i] - ss);
                if (v[i] - ss <= ceiling)
                    assert_true(q[i] <= ceiling);
                if (tr[i]) {
                    st++;
                    assert_true(p[i] >= before[i]);   /* received at least the ask */
                    assert_true(p[i] + ss >= v[i]);   /* never below cost */
                    assert_true(p[i] <= ceiling);
                }
            }
        }
        assert_true(bt == st);
        assert_true((double)st == m[metric("volume")]);
        assert_true(st <= (nb < ns ? nb : ns));
        if (t < 120) /* without subsidies no trade destroys surplus */
            assert_true(m[metric("efficiency")] >= 0 && m[metric("efficiency")] <= 1);
    }
    free(before);
    agora_world_destroy(w);
}

/* Mean of a metric over `days` steps. */
static double run_mean(agora_world *w, const char *name, int days)
{
    double m[64], s = 0;
    for (int t = 0; t < days; t++) {
        agora_world_step(w);
        agora_world_measure(w, m);
        s += m[metric(name)];
    }
    return s / days;
}

/* A balanced market (CE price 50 with valuations U(0, 100) and costs U(0, 100)). */
static agora_world *balanced(uint64_t seed)
{
    char yaml[512];
    snprintf(yaml, sizeof yaml,
             "model: market\nspace: {kind: mixed, n: 4000}\n"
             "params: {buyers: 0.5, valuation_low: 0, valuation_high: 100, cost_low: 0, cost_high: 100,"
             " rounds_per_day: 10}\nseed: %llu\n",
             (unsigned long long)seed);
    return test_world(yaml, 2);
}

/* A tax drives a wedge: fewer trades, sellers receive less, buyers pay more, revenue = rate * price * volume; the
 * CE moves to the taxed curves' crossing. */
static void market_tax_lowers_volume_and_drives_a_wedge(void **state)
{
    (void)state;
    agora_world *w = balanced(11);
    double m[64];
    run_mean(w, "volume", 150);
    const double vol0 = run_mean(w, "volume", 50), p0 = run_mean(w, "price_mean", 50);
    agora_error err;
    assert_int_equal(apply_text(w, "{\"action\": \"set_tax\", \"rate\": 0.5}", &err), 0);
    agora_world_measure(w, m);
    const ce e = compute_ce(values(w), 4000, 2000, 0, 0, 0.5), e0 = compute_ce(values(w), 4000, 2000, 0, 0, 0);
    assert_true(fabs(m[metric("ce_price")] - e.price) < 1e-9 && m[metric("ce_quantity")] == (double)e.q);
    assert_true(e.q < e0.q && e.price < e0.price);
    run_mean(w, "volume", 150);
    const double vol1 = run_mean(w, "volume", 50), p1 = run_mean(w, "price_mean", 50);
    agora_world_measure(w, m);
    print_message("tax 0.5: volume %.0f -> %.0f (CE %lld -> %lld), seller price %.2f -> %.2f, buyers pay %.2f\n", vol0,
                  vol1, (long long)e0.q, (long long)e.q, p0, p1, p1 * 1.5);
    assert_true(vol1 < 0.85 * vol0);
    assert_true(p1 < p0 && p1 * 1.5 > p0);
    assert_true(fabs(m[metric("tax_revenue")] - 0.5 * m[metric("price_mean")] * m[metric("volume")]) <
                1e-9 * m[metric("tax_revenue")]);
    assert_true(fabs(p1 / e.price - 1) < 0.1); /* the market follows the new equilibrium */
    /* Removing the tax restores the volume. */
    assert_int_equal(apply_text(w, "{\"action\": \"set_tax\", \"rate\": 0}", &err), 0);
    run_mean(w, "volume", 150);
    assert_true(run_mean(w, "volume", 50) > 0.95 * vol0);
    agora_world_destroy(w);
}

/* A binding ceiling caps every price and cuts the volume to what sellers supply at the ceiling; null removes it. */
static void market_binding_price_ceiling_caps_prices_and_volume(void **state)
{
    (void)state;
    agora_world *w = balanced(12);
    double m[64];
    run_mean(w, "volume", 150);
    const double vol0 = run_mean(w, "volume", 50);
    agora_error err;
    assert_int_equal(apply_text(w, "{\"action\": \"price_ceiling\", \"price\": 30}", &err), 0);
    agora_world_measure(w, m);
    assert_true(m[metric("price_ceiling")] == 30);
    for (int t = 0; t < 150; t++) {
        agora_world_step(w);
        const double *p = prices(w);
        for (int64_t i = 0; i < 4000; i++)
            assert_true(isnan(p[i]) || p[i] <= 30);
    }
    const double vol1 = run_mean(w, "volume", 50);
    /* Sellers with cost above 30 cannot sell: supply at the ceiling is about 30 % of 2000 sellers. */
    int64_t supply = 0;
    for (int64_t i = 2000; i < 4000; i++)
        supply += values(w)[i] <= 30;
    print_message("ceiling 30: volume %.0f -> %.0f (sellers with cost <= 30: %lld)\n", vol0, vol1, (long long)supply);
    assert_true(vol1 <= (double)supply && vol1 < 0.7 * vol0);
    assert_int_equal(apply_text(w, "{\"action\": \"price_ceiling\", \"price\": null}", &err), 0);
    agora_world_measure(w, m);
    assert_true(isnan(m[metric("price_ceiling")]));
    run_mean(w, "volume", 150);
    assert_true(run_mean(w, "volume", 50) > 0.95 * vol0);
    assert_true(run_mean(w, "price_mean", 20) > 40);
    agora_world_destroy(w);
}

/* A subsidy shifts a curve by its amount: to buyers raises the CE price and quantity, to sellers lowers the price
 * and raises the quantity; the market follows and the cost is amount x volume. */
static void market_subsidy_shifts_the_curves(void **state)
{
    (void)state;
    agora_world *w = balanced(13);
    double m[64];
    agora_error err;
    run_mean(w, "volume", 150);
    const double vol0 = run_mean(w, "volume", 50), p0 = run_mean(w, "price_mean", 50);
    assert_int_equal(apply_text(w, "{\"action\": \"subsidy\", \"amount\": 20, \"side\": \"buyers\"}", &err), 0);
    agora_world_measure(w, m);
    ce e = compute_ce(values(w), 4000, 2000, 20, 0, 0);
    assert_true(fabs(m[metric("ce_price")] - e.price) < 1e-9 && m[metric("ce_quantity")] == (double)e.q);
    run_mean(w, "volume", 150);
    const double vol1 = run_mean(w, "volume", 50), p1 = run_mean(w, "price_mean", 50);
    agora_world_measure(w, m);
    assert_true(m[metric("subsidy_cost")] == 20 * m[metric("volume")]);
    print_message("buyer subsidy 20: price %.2f -> %.2f (CE %.2f), volume %.0f -> %.0f\n", p0, p1, e.price, vol0, vol1);
    assert_true(p1 > p0 + 5 && vol1 > vol0 && fabs(p1 / e.price - 1) < 0.1);
    /* Move the subsidy to the sellers: the price falls below the undistorted one. */
    assert_int_equal(apply_text(w, "{\"action\": \"subsidy\", \"amount\": 0, \"side\": \"buyers\"}", &err), 0);
    assert_int_equal(apply_text(w, "{\"action\": \"subsidy\", \"amount\": 20, \"side\": \"sellers\"}", &err), 0);
    agora_world_measure(w, m);
    e = compute_ce(values(w), 4000, 2000, 0, 20, 0);
    assert_true(fabs(m[metric("ce_price")] - e.price) < 1e-9);
    /* Quotes were pulled inside the new limits at once. */
    for (int64_t i = 0; i < 2000; i++)
        assert_true(quotes(w)[i] <= values(w)[i]);
    run_mean(w, "volume", 150);
    const double vol2 = run_mean(w, "volume", 50), p2 = run_mean(w, "price_mean", 50);
    print_message("seller subsidy 20: price %.2f (CE %.2f), volume %.0f\n", p2, e.price, vol2);
    assert_true(p2 < p0 - 5 && vol2 > vol0 && fabs(p2 / e.price - 1) < 0.1);
    agora_world_destroy(w);
}

static uint64_t fnv1a(const void *p, size_t n)
{
    const unsigned char *b = p;
    uint64_t h = UINT64_C(1469598103934665603);
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * UINT64_C(1099511628211);
    return h;
}

static uint64_t world_hash(agora_world *w)
{
    const size_t n = (size_t)agora_world_n(w);
    return fnv1a(values(w), n * 8) ^ 3 * fnv1a(quotes(w), n * 8) ^ 5 * fnv1a(prices(w), n * 8) ^
           7 * fnv1a(traded(w), n);
}

static void market_bad_actions_are_rejected_and_leave_the_world_untouched(void **state)
{
    (void)state;
    agora_world *w = balanced(14);
    for (int t = 0; t < 5; t++)
        agora_world_step(w);
    agora_error err;
    assert_int_equal(apply_text(w, "{\"action\": \"set_tax\", \"rate\": 0.1}", &err), 0);
    const uint64_t h0 = world_hash(w);
    double m0[64], m1[64];
    agora_world_measure(w, m0);
    const char *bad[] = {
        "{\"action\": \"set_tax\", \"rate\": 1.5}",
        "{\"action\": \"set_tax\", \"rate\": -0.1}",
        "{\"action\": \"set_tax\", \"rate\": \"high\"}",
        "{\"action\": \"set_tax\"}",
        "{\"action\": \"set_tax\", \"rate\": 0.2, \"on\": \"buyers\"}",
        "{\"action\": \"price_ceiling\", \"price\": -1}",
        "{\"action\": \"price_ceiling\", \"price\": \"cheap\"}",
        "{\"action\": \"price_ceiling\"}",
        "{\"action\": \"subsidy\", \"amount\": 5, \"side\": \"government\"}",
        "{\"action\": \"subsidy\", \"amount\": -5, \"side\": \"buyers\"}",
        "{\"action\": \"subsidy\", \"amount\": 5}",
        "{\"action\": \"nationalise\"}",
        "{\"rate\": 0.2}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        agora_error_clear(&err);
        assert_int_not_equal(apply_text(w, bad[i], &err), 0);
        assert_true(err.msg[0] != '\0');
        agora_world_measure(w, m1);
        assert_memory_equal(m0, m1, sizeof(double) * (size_t)agora_model_n_metrics(market()));
        assert_true(world_hash(w) == h0);
    }
    assert_true(m0[metric("tax_rate")] == 0.1);
    agora_world_destroy(w);
}

static void market_rejects_bad_parameters(void **state)
{
    (void)state;
    const char *bad[] = {
        "params: {buyers: 150}", /* no sellers */
        "params: {valuation_low: 100, valuation_high: 50}",
        "params: {cost_low: 90, cost_high: 10}",
        "params: {valuation_dist: normal, valuation_low: 50, valuation_high: 60, valuation_mean: 1000, "
        "valuation_sd: 1}", /* no probability on [low, high] */
    }; /* (ranges of single parameters are the loader's job, tested in test_scenario.c) */
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char yaml[512];
        snprintf(yaml, sizeof yaml, "model: market\nspace: {kind: mixed, n: 150}\n%s\nseed: 1\n", bad[i]);
        agora_scenario *sc = test_scenario(yaml);
        const json_t *cfg = agora_scenario_config(sc);
        agora_space *space = NULL;
        agora_error err;
        assert_int_equal(agora_space_create(json_object_get(cfg, "space"), 1, NULL, &space, &err), 0);
        agora_world_config wc = {.model = market(), .space = space, .params = json_object_get(cfg, "params"), .seed = 1};
        agora_world *w = NULL;
        assert_int_not_equal(agora_world_create(&wc, &w, &err), 0);
        assert_null(w);
        assert_non_null(strstr(err.where, "params."));
        agora_scenario_destroy(sc);
    }
}

/* Normal limits truncated to [low, high]: every draw inside, and the sample mean and sd match the truncated
 * normal's (computed here from its closed form), for buyers and sellers. */
static void market_normal_limits_follow_the_truncated_normal(void **state)
{
    (void)state;
    agora_world *w = test_world("model: market\nspace: {kind: mixed, n: 40000}\n"
                                "params: {buyers: 0.5, valuation_dist: normal, valuation_low: 50, valuation_high: 150,"
                                " valuation_mean: 120, valuation_sd: 30, cost_dist: normal, cost_low: 20,"
                                " cost_high: 80, cost_mean: 40, cost_sd: 10}\nseed: 5\n",
                                2);
    const double *v = values(w);
    const struct { int64_t from, to; double lo, hi, mu, sd; } side[2] = {{0, 20000, 50, 150, 120, 30},
                                                                          {20000, 40000, 20, 80, 40, 10}};
    for (int k = 0; k < 2; k++) {
        double sum = 0, sum2 = 0;
        const double cnt = (double)(side[k].to - side[k].from);
        for (int64_t i = side[k].from; i < side[k].to; i++) {
            assert_true(v[i] >= side[k].lo && v[i] <= side[k].hi);
            sum += v[i];
            sum2 += v[i] * v[i];
        }
        const double a = (side[k].lo - side[k].mu) / side[k].sd, b = (side[k].hi - side[k].mu) / side[k].sd;
        const double pa = exp(-a * a / 2) / sqrt(2 * 3.14159265358979323846), pb = exp(-b * b / 2) / sqrt(2 * 3.14159265358979323846);
        const double Z = 0.5 * (erf(b / sqrt(2)) - erf(a / sqrt(2)));
        const double mean = side[k].mu + side[k].sd * (pa - pb) / Z;
        const double var = side[k].sd * side[k].sd * (1 + (a * pa - b * pb) / Z - ((pa - pb) / Z) * ((pa - pb) / Z));
        const double m = sum / cnt, sd = sqrt(sum2 / cnt - m * m);
        printf("side %d: sample mean %.3f (truncated normal %.3f), sd %.3f (%.3f)\n", k, m, mean, sd, sqrt(var));
        assert_true(fabs(m - mean) < 4 * sqrt(var / cnt)); /* 4 standard errors */
        assert_true(fabs(sd - sqrt(var)) / sqrt(var) < 0.03);
    }
    agora_world_destroy(w);
}

/* Same seed: bit-identical metrics and fields at 1, 2 and 4 threads, actions included; another seed differs. */
typedef struct trace {
    uint64_t hash[41];
    double metrics[41][32];
} trace;

static void run_trace(uint64_t seed, int threads, trace *tr)
{
    char yaml[512];
    snprintf(yaml, sizeof yaml,
             "model: market\nspace: {kind: mixed, n: 30011}\nparams: {buyers: 0.45, rounds_per_day: 7}\nseed: %llu\n",
             (unsigned long long)seed);
    agora_world *w = test_world(yaml, threads);
    memset(tr, 0, sizeof *tr);
    for (int t = 0; t <= 40; t++) {
        if (t == 15) {
            assert_int_equal(apply_text(w, "{\"action\": \"set_tax\", \"rate\": 0.1}", NULL), 0);
            assert_int_equal(apply_text(w, "{\"action\": \"subsidy\", \"amount\": 3, \"side\": \"sellers\"}", NULL), 0);
        }
        if (t == 25)
            assert_int_equal(apply_text(w, "{\"action\": \"price_ceiling\", \"price\": 80}", NULL), 0);
        agora_world_measure(w, tr->metrics[t]);
        tr->hash[t] = world_hash(w);
        agora_world_step(w);
    }
    agora_world_destroy(w);
}

static void market_is_bit_identical_across_thread_counts(void **state)
{
    (void)state;
    trace *a = malloc(sizeof *a), *b = malloc(sizeof *b);
    run_trace(21, 1, a);
    for (int threads = 2; threads <= 4; threads *= 2) {
        run_trace(21, threads, b);
        for (int t = 0; t <= 40; t++) {
            if (a->hash[t] != b->hash[t])
                fail_msg("fields differ at step %d with %d threads", t, threads);
            assert_memory_equal(a->metrics[t], b->metrics[t], sizeof a->metrics[t]);
        }
    }
    run_trace(22, 2, b);
    assert_true(a->hash[40] != b->hash[40]);
    free(a);
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(market_price_converges_to_competitive_equilibrium_gode_sunder),
        cmocka_unit_test(market_trades_respect_limits_quotes_and_counts),
        cmocka_unit_test(market_tax_lowers_volume_and_drives_a_wedge),
        cmocka_unit_test(market_binding_price_ceiling_caps_prices_and_volume),
        cmocka_unit_test(market_subsidy_shifts_the_curves),
        cmocka_unit_test(market_bad_actions_are_rejected_and_leave_the_world_untouched),
        cmocka_unit_test(market_rejects_bad_parameters),
        cmocka_unit_test(market_normal_limits_follow_the_truncated_normal),
        cmocka_unit_test(market_is_bit_identical_across_thread_counts),
    };
    agora_init();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
