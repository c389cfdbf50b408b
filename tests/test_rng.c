/* Tests for the counter-based RNG (include/agora/rng.h) and its gsl_rng adapter.
 *
 * Statistical tests use fixed keys, so they are deterministic; each threshold is a p-value of 1e-6 (or 6 standard
 * errors), so a correct generator fails with negligible probability while a biased or correlated one (a constant,
 * a stuck bit, neighbouring agents sharing draws) fails by a wide margin. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <gsl/gsl_cdf.h>
#include <gsl/gsl_randist.h>

#include "agora/rng.h"
#include "agora/rng_gsl.h"

#define P_MIN 1e-6

/* Chi-square p-value of counts against a uniform expectation. */
static double chi2_uniform_p(const uint64_t *counts, int bins, uint64_t total)
{
    double expect = (double)total / bins, chi2 = 0;
    for (int i = 0; i < bins; i++)
        chi2 += ((double)counts[i] - expect) * ((double)counts[i] - expect) / expect;
    return gsl_cdf_chisq_Q(chi2, bins - 1);
}

static void rng_uniform_in_256_bins(void **state)
{
    (void)state;
    for (uint64_t seed = 0; seed < 4; seed++) {
        agora_rng_key key = agora_rng_key_from_seed(seed);
        uint64_t counts[256] = {0};
        const uint64_t n = 1 << 20;
        for (uint64_t i = 0; i < n; i++)
            counts[(int)(agora_rng_u01(agora_rng(key, seed * 7, i, 16)) * 256)]++;
        double p = chi2_uniform_p(counts, 256, n);
        assert_true(p > P_MIN);
    }
}

static void rng_every_bit_is_fair(void **state)
{
    (void)state;
    const uint64_t n = 1 << 18;
    uint64_t ones[64] = {0};
    agora_rng_key key = agora_rng_key_from_seed(42);
    for (uint64_t i = 0; i < n; i++) {
        uint64_t x = agora_rng(key, 3, i, 16);
        for (int b = 0; b < 64; b++)
            ones[b] += (x >> b) & 1;
    }
    /* Each bit count is Binomial(n, 1/2): standard deviation sqrt(n)/2; allow 6 of them. */
    double sd = sqrt((double)n) / 2;
    for (int b = 0; b < 64; b++)
        assert_true(fabs((double)ones[b] - n / 2.0) < 6 * sd);
}

/* Pearson correlation of u01 draws between pairs of counters. */
static double correlation(agora_rng_key key, int64_t dstep, int64_t dagent, uint32_t dstream)
{
    const int n = 1 << 20;
    double sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
    for (int i = 0; i < n; i++) {
        uint64_t step = (uint64_t)(i % 97) + 1, agent = (uint64_t)i + 5;
        double x = agora_rng_u01(agora_rng(key, step, agent, 16));
        double y = agora_rng_u01(agora_rng(key, step + dstep, agent + dagent, 16 + dstream));
        sx += x, sy += y, sxx += x * x, syy += y * y, sxy += x * y;
    }
    double cov = sxy / n - (sx / n) * (sy / n);
    return cov / sqrt((sxx / n - (sx / n) * (sx / n)) * (syy / n - (sy / n) * (sy / n)));
}

static void rng_neighbouring_streams_are_uncorrelated(void **state)
{
    (void)state;
    agora_rng_key key = agora_rng_key_from_seed(7);
    /* The sample correlation of independent uniforms has standard error 1/sqrt(n) = 0.00098; allow 6 of them. */
    const double tol = 6.0 / sqrt((double)(1 << 20));
    assert_true(fabs(correlation(key, 0, 1, 0)) < tol);  /* next agent, same step */
    assert_true(fabs(correlation(key, 1, 0, 0)) < tol);  /* same agent, next step */
    assert_true(fabs(correlation(key, 1, -1, 0)) < tol); /* diagonal neighbour */
    assert_true(fabs(correlation(key, 0, 0, 1)) < tol);  /* next stream */
}

static void rng_neighbour_pairs_fill_the_square(void **state)
{
    (void)state;
    /* 2-D chi-square over 16x16 cells of (draw of agent i, draw of agent i+1) and of (step t, step t+1). */
    agora_rng_key key = agora_rng_key_from_seed(11);
    for (int variant = 0; variant < 2; variant++) {
        uint64_t counts[256] = {0};
        const uint64_t n = 1 << 20;
        for (uint64_t i = 0; i < n; i++) {
            uint64_t a = agora_rng(key, 9, i, 16);
            uint64_t b = variant == 0 ? agora_rng(key, 9, i + 1, 16) : agora_rng(key, 10, i, 16);
            counts[(a >> 60) * 16 + (b >> 60)]++;
        }
        assert_true(chi2_uniform_p(counts, 256, n) > P_MIN);
    }
}

static void rng_equal_keys_give_equal_draws(void **state)
{
    (void)state;
    agora_rng_key k1 = agora_rng_key_from_seed(123), k2 = agora_rng_key_from_seed(123);
    assert_true(k1 == k2);
    for (uint64_t i = 0; i < 1000; i++) {
        assert_true(agora_rng(k1, 5, i, 16) == agora_rng(k2, 5, i, 16));
        /* The hoisted form used by hot loops is the same function. */
        assert_true(agora_rng_at(agora_rng_base(k1, 5, 16), i) == agora_rng(k1, 5, i, 16));
    }
    /* Any change of seed, step, agent or stream changes the draw. */
    uint64_t x = agora_rng(k1, 5, 9, 16);
    assert_true(x != agora_rng(agora_rng_key_from_seed(124), 5, 9, 16));
    assert_true(x != agora_rng(k1, 6, 9, 16));
    assert_true(x != agora_rng(k1, 5, 10, 16));
    assert_true(x != agora_rng(k1, 5, 9, 17));
}

static void rng_thresholds_are_exact_at_the_ends(void **state)
{
    (void)state;
    assert_int_equal(agora_rng_threshold31(0.0), 0);
    assert_int_equal(agora_rng_threshold31(-1.0), 0);
    assert_int_equal(agora_rng_threshold31(NAN), 0);
    assert_int_equal(agora_rng_threshold31(1.0), UINT32_C(1) << 31);
    assert_int_equal(agora_rng_threshold31(2.0), UINT32_C(1) << 31);
    agora_rng_key key = agora_rng_key_from_seed(5);
    const uint32_t never = agora_rng_threshold31(0), always = agora_rng_threshold31(1);
    const uint32_t third = agora_rng_threshold31(0.3);
    uint64_t hits = 0;
    const uint64_t n = 1 << 20;
    for (uint64_t i = 0; i < n; i++) {
        uint32_t r = agora_rng_r31(agora_rng(key, 1, i, 16));
        assert_false(r < never);
        assert_true(r < always);
        hits += r < third;
    }
    /* Binomial(n, 0.3): standard deviation sqrt(n * 0.21); allow 6. */
    assert_true(fabs((double)hits - 0.3 * n) < 6 * sqrt(n * 0.21));
}

static void rng_below_is_uniform(void **state)
{
    (void)state;
    agora_rng_key key = agora_rng_key_from_seed(77);
    uint64_t counts[7] = {0};
    const uint64_t n = 700000;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t v = agora_rng_below(agora_rng(key, 0, i, 16), 7);
        assert_true(v < 7);
        counts[v]++;
    }
    assert_true(chi2_uniform_p(counts, 7, n) > P_MIN);
}

static void rng_gsl_adapter_is_reproducible(void **state)
{
    (void)state;
    gsl_rng *a = agora_rng_gsl_alloc(), *b = agora_rng_gsl_alloc();
    assert_non_null(a);
    assert_non_null(b);
    agora_rng_key key = agora_rng_key_from_seed(9);
    agora_rng_gsl_reseed(a, key, 3, 100, 20);
    agora_rng_gsl_reseed(b, key, 3, 100, 20);
    for (int i = 0; i < 100; i++)
        assert_true(gsl_rng_get(a) == gsl_rng_get(b));
    /* A GSL distribution drawn after the same reseed is the same; after another agent's reseed it differs. */
    agora_rng_gsl_reseed(a, key, 3, 100, 20);
    agora_rng_gsl_reseed(b, key, 3, 100, 20);
    unsigned x = gsl_ran_binomial(a, 0.3, 1000), y = gsl_ran_binomial(b, 0.3, 1000);
    assert_int_equal(x, y);
    double g1 = 0, g2 = 0;
    agora_rng_gsl_reseed(a, key, 3, 101, 20);
    agora_rng_gsl_reseed(b, key, 3, 102, 20);
    for (int i = 0; i < 10; i++) {
        g1 += gsl_ran_gamma(a, 2.0, 1.0);
        g2 += gsl_ran_gamma(b, 2.0, 1.0);
    }
    assert_true(g1 != g2);
    /* The adapter's uniform doubles are uniform too. */
    uint64_t counts[64] = {0};
    agora_rng_gsl_reseed(a, key, 0, 0, 20);
    for (int i = 0; i < (1 << 18); i++)
        counts[(int)(gsl_rng_uniform(a) * 64)]++;
    assert_true(chi2_uniform_p(counts, 64, 1 << 18) > P_MIN);
    /* Mean of Binomial(1000, 0.3) draws over many agents is near 300 (sd of the mean = sqrt(210/2000)). */
    double sum = 0;
    for (uint64_t i = 0; i < 2000; i++) {
        agora_rng_gsl_reseed(a, key, 4, i, 20);
        sum += gsl_ran_binomial(a, 0.3, 1000);
    }
    assert_true(fabs(sum / 2000 - 300) < 6 * sqrt(210.0 / 2000));
    gsl_rng_free(a);
    gsl_rng_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rng_uniform_in_256_bins),
        cmocka_unit_test(rng_every_bit_is_fair),
        cmocka_unit_test(rng_neighbouring_streams_are_uncorrelated),
        cmocka_unit_test(rng_neighbour_pairs_fill_the_square),
        cmocka_unit_test(rng_equal_keys_give_equal_draws),
        cmocka_unit_test(rng_thresholds_are_exact_at_the_ends),
        cmocka_unit_test(rng_below_is_uniform),
        cmocka_unit_test(rng_gsl_adapter_is_reproducible),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
