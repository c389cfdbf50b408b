/* agora — rule-language interpreter benchmark: expression evaluations per second for an SIR infection rule on a
 * Moore torus, against a hand-written C loop of the same rule with the same draws.
 *
 *   bench/bench_rules [--steps N] [--reps N] [--threads 1,2] [--grid WxH]
 *
 * The rule (one evaluation per agent per step, one byte of state, double-buffered):
 *
 *   if(state == S, if(bernoulli(1 - (1 - beta) ** nb_count(nb.state == I)), I, S),
 *      if(state == I, if(bernoulli(gamma), R, I), R))
 *
 * The C loop computes the same thing the way a plain C model would (count the infected neighbours, then the same
 * keyed draws: site 0 = stream base, site 1 = base + 1), without the built-in SIR's tricks (no threshold tables, no
 * vectorised column sums), so the ratio is the interpreter's overhead over straightforward C. Both write their next
 * state in row blocks under `omp parallel for`; the first repetition checks that both give identical states. This is
 * a benchmark, not a test. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agora/agora.h"
#include "bench_util.h"
#include "rules/expr.h"

static const char rule[] = "if(state == S, if(bernoulli(1 - (1 - beta) ** nb_count(nb.state == I)), I, S),\n"
                           "   if(state == I, if(bernoulli(gamma), R, I), R))";

static uint32_t thr31(double p)
{
    return agora_rng_threshold31(p);
}

/* The same rule in C, rows [y0, y1). */
static void c_rule(const uint8_t *cur, uint8_t *next, int64_t w, int64_t h, int64_t y0, int64_t y1, double beta,
                   double gamma, uint64_t base0, uint64_t base1)
{
    for (int64_t y = y0; y < y1; y++)
        for (int64_t x = 0; x < w; x++) {
            const int64_t i = y * w + x;
            const uint8_t s = cur[i];
            uint8_t o = s;
            if (s == 0) {
                int k = 0;
                for (int dy = -1; dy <= 1; dy++)
                    for (int dx = -1; dx <= 1; dx++) {
                        if (!dx && !dy)
                            continue;
                        const int64_t nx = (x + dx + w) % w, ny = (y + dy + h) % h;
                        k += cur[ny * w + nx] == 1;
                    }
                const double p = 1.0 - pow(1.0 - beta, (double)k);
                if (agora_rng_r31(agora_rng_at(base0, (uint64_t)i)) < thr31(p))
                    o = 1;
            } else if (s == 1) {
                if (agora_rng_r31(agora_rng_at(base1, (uint64_t)i)) < thr31(gamma))
                    o = 2;
            }
            next[i] = o;
        }
}

static void seed(uint8_t *st, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        st[i] = agora_rng_u01(agora_rng(99, 0, (uint64_t)i, 0)) < 0.01 ? 1 : 0;
}

/* Runs `steps` steps with the interpreter (interp = 1) or the C loop; returns evaluations per second. */
static double run(int interp, const agora__rx_prog *prog, const agora_space *sp, int threads, int steps,
                  uint8_t *final_state)
{
    const int64_t w = sp->grid.width, h = sp->grid.height, n = w * h;
    uint8_t *cur = malloc((size_t)n), *next = malloc((size_t)n);
    seed(cur, n);
    agora_rx_nbhd nb;
    agora__rx_nbhd_init(&nb, sp);
    agora_rx_value pv[2] = {{.r = 0.05}, {.r = 0.1}};
    const agora_rng_key key = agora_rng_key_from_seed(42);
    const double t0 = bench_now();
    for (int t = 0; t < steps; t++) {
        const void *cols[1] = {cur};
        agora_rx_ctx ctx = {cols, pv, &nb, n, t, key, NULL, threads, NULL};
        const uint64_t b0 = agora_rng_base(key, (uint64_t)t, AGORA_RNG_STREAM_MODEL),
                       b1 = agora_rng_base(key, (uint64_t)t, AGORA_RNG_STREAM_MODEL + 1);
#pragma omp parallel for schedule(static) num_threads(threads)
        for (int64_t y = 0; y < h; y += 16) {
            const int64_t y1 = y + 16 < h ? y + 16 : h;
            if (interp)
                agora__rx_eval_range(prog, &ctx, y * w, y1 * w, next, NULL);
            else
                c_rule(cur, next, w, h, y, y1, 0.05, 0.1, b0, b1);
        }
        uint8_t *tmp = cur;
        cur = next;
        next = tmp;
    }
    const double rate = (double)n * steps / (bench_now() - t0);
    if (final_state)
        memcpy(final_state, cur, (size_t)n);
    free(cur);
    free(next);
    return rate;
}

int main(int argc, char **argv)
{
    agora__omp_wait_policy(argv); /* the CLI's default wait policy (core/ompenv.h) */
    bench_shared o = {.steps = 20, .reps = 5, .threads = "1,2"};
    long gw = 1000, gh = 1000;
    for (int i = 1; i < argc; i++) {
        if (bench_shared_option(argc, argv, &i, &o))
            continue;
        if (strcmp(argv[i], "--grid") == 0 && i + 1 < argc) {
            sscanf(argv[++i], "%ldx%ld", &gw, &gh);
        } else {
            fprintf(stderr, "usage: %s [--steps N] [--reps N] [--threads 1,2] [--grid WxH]\n", argv[0]);
            return 2;
        }
    }
    if (o.steps < 1 || o.reps < 1 || gw < 3 || gh < 3) {
        fprintf(stderr, "bench_rules: --steps and --reps must be positive, the grid at least 3x3\n");
        return 2;
    }
    agora_init();
    char spec[256];
    snprintf(spec, sizeof spec,
             "{\"kind\":\"grid\",\"width\":%ld,\"height\":%ld,\"torus\":true,\"neighborhood\":\"moore\"}", gw, gh);
    agora_space *sp = bench_space("bench_rules", spec);
    static const char *const values[] = {"S", "I", "R"};
    const agora_rx_var vars[] = {{"state", AGORA_RX_CAT, values, 3}};
    const agora_rx_param params[] = {{"beta", AGORA_RX_REAL}, {"gamma", AGORA_RX_REAL}};
    agora_rx_env env = {vars, 1, params, 2, 1, AGORA_RNG_STREAM_MODEL, 0, "state", "bench", 0, 0};
    agora__rx_prog *prog = NULL;
    agora_error err;
    char buf[1024];
    if (agora__rx_compile(rule, strlen(rule), 1, 1, &env, AGORA_RX_CAT, 0, &prog, &err) != 0) {
        fprintf(stderr, "bench_rules: %s\n", agora_error_format(&err, buf, sizeof buf));
        return 1;
    }
    printf("agora %s bench_rules: SIR rule on a %ldx%ld Moore torus, %d steps, median of %d reps (%d instructions)\n",
           agora_version(), gw, gh, o.steps, o.reps, agora__rx_prog_size(prog));
    const int64_t n = gw * gh;
    uint8_t *a = malloc((size_t)n), *b = malloc((size_t)n);
    run(1, prog, sp, 1, o.steps, a);
    run(0, prog, sp, 1, o.steps, b);
    printf("interpreter and C loop give %s states after %d steps\n",
           memcmp(a, b, (size_t)n) ? "DIFFERENT" : "identical", o.steps);
    double *ri = calloc((size_t)o.reps, sizeof *ri), *rc = calloc((size_t)o.reps, sizeof *rc);
    char list[64];
    snprintf(list, sizeof list, "%s", o.threads);
    for (char *t = strtok(list, ","); t; t = strtok(NULL, ",")) {
        const int threads = atoi(t);
        for (int r = 0; r < o.reps; r++) {
            ri[r] = run(1, prog, sp, threads, o.steps, NULL);
            rc[r] = run(0, prog, sp, threads, o.steps, NULL);
        }
        qsort(ri, (size_t)o.reps, sizeof *ri, bench_cmp_double);
        qsort(rc, (size_t)o.reps, sizeof *rc, bench_cmp_double);
        const double mi = ri[o.reps / 2], mc = rc[o.reps / 2];
        printf("threads=%d  interpreter %7.1f M evals/s (min %.1f, max %.1f)  C loop %7.1f M/s (min %.1f, max %.1f)  "
               "ratio %.2f\n",
               threads, mi / 1e6, ri[0] / 1e6, ri[o.reps - 1] / 1e6, mc / 1e6, rc[0] / 1e6, rc[o.reps - 1] / 1e6,
               mi / mc);
        fflush(stdout);
    }
    free(ri);
    free(rc);
    free(a);
    free(b);
    agora__rx_free(prog);
    agora_space_destroy(sp);
    return 0;
}
