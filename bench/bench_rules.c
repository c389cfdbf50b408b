/* agora — rule-language benchmark: agent-updates per second of the SIR infection rule on a Moore torus, run by the
 * interpreter, by the native backend (the rule compiled to C at run time, src/rules/native.c), by a hand-written C
 * loop of the same rule with the same draws, and by the built-in hand-optimised SIR model (models/sir.c) stepping a
 * world on the same grid; and Conway's Life as a rule (interpreted and native), in cell-updates per second.
 *
 *   bench/bench_rules [--steps N] [--reps N] [--threads 1,2] [--grid WxH]
 *
 * The rules (one evaluation per agent per step, one byte of state, double-buffered):
 *
 *   state: if(state == S, if(bernoulli(1 - (1 - beta) ** nb_count(nb.state == I)), I, S),
 *             if(state == I, if(bernoulli(gamma), R, I), R))
 *   alive: nb_count(nb.alive) == 3 or (alive and nb_count(nb.alive) == 2)
 *
 * The C loop computes the SIR rule the way a plain C model would (count the infected neighbours, then the same
 * keyed draws: site 0 = stream base, site 1 = base + 1), without the built-in SIR's tricks. The built-in model runs
 * its own (different, equivalent) draws, so only its rate is compared. Rules write their next state in row blocks
 * under `omp parallel for`; the first repetition checks that interpreter, native code and C loop give identical
 * states. The native module is built once (or loaded from the cache) before timing; its status line says which.
 * This is a benchmark, not a test. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "agora/agora.h"
#include "bench_util.h"
#include "rules/expr.h"

static const char rule[] = "if(state == S, if(bernoulli(1 - (1 - beta) ** nb_count(nb.state == I)), I, S),\n"
                           "   if(state == I, if(bernoulli(gamma), R, I), R))";
static const char life_rule[] = "nb_count(nb.alive) == 3 or (alive and nb_count(nb.alive) == 2)";

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

static void seed(uint8_t *st, int64_t n, double frac)
{
    for (int64_t i = 0; i < n; i++)
        st[i] = agora_rng_u01(agora_rng(99, 0, (uint64_t)i, 0)) < frac ? 1 : 0;
}

enum { RUN_C, RUN_RULE };

/* Runs `steps` steps of a rule through fn (RUN_RULE) or the SIR C loop (RUN_C); returns evaluations per second. */
static double run(int how, agora__rx_range_fn fn, const agora__rx_prog *prog, const agora_space *sp, int threads,
                  int steps, double frac, uint8_t *final_state)
{
    const int64_t w = sp->grid.width, h = sp->grid.height, n = w * h;
    uint8_t *cur = malloc((size_t)n), *next = malloc((size_t)n);
    seed(cur, n, frac);
    agora_rx_nbhd nb;
    agora__rx_nbhd_init(&nb, sp);
    agora_rx_value pv[2] = {{.r = 0.05}, {.r = 0.1}};
    const agora_rng_key key = agora_rng_key_from_seed(42);
    const double t0 = bench_now();
    for (int t = 0; t < steps; t++) {
        const void *cols[1] = {cur};
        agora_rx_ctx ctx = {cols, pv, &nb, n, t, key, NULL, threads, NULL, 0, 0};
        const uint64_t b0 = agora_rng_base(key, (uint64_t)t, AGORA_RNG_STREAM_MODEL),
                       b1 = agora_rng_base(key, (uint64_t)t, AGORA_RNG_STREAM_MODEL + 1);
#pragma omp parallel for schedule(static) num_threads(threads)
        for (int64_t y = 0; y < h; y += 16) {
            const int64_t y1 = y + 16 < h ? y + 16 : h;
            if (how == RUN_RULE)
                fn(prog, &ctx, y * w, y1 * w, next, NULL);
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

/* The built-in SIR model stepping a fresh world on a copy of sp: agent-updates per second. */
static double run_builtin(const agora_space *sp, int threads, int steps)
{
    agora_world *w =
        bench_world("bench_rules", "sir", sp,
                    json_pack("{s:f, s:f, s:f}", "beta", 0.05, "gamma", 0.1, "initial_infected", 0.01), threads);
    const double n = (double)agora_world_n(w), t0 = bench_now();
    for (int s = 0; s < steps; s++)
        agora_world_step(w);
    const double rate = n * steps / (bench_now() - t0);
    agora_world_destroy(w);
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
    static const agora_rx_var life_vars[] = {{"alive", AGORA_RX_BOOL, NULL, 0}};
    agora_rx_env life_env = {life_vars, 1, NULL, 0, 1, AGORA_RNG_STREAM_MODEL + 64, 1, "alive", "bench", 0, 0};
    agora__rx_prog *prog = NULL, *life = NULL;
    agora_error err;
    char buf[1024];
    if (agora__rx_compile(rule, strlen(rule), 1, 1, &env, AGORA_RX_CAT, 0, &prog, &err) != 0 ||
        agora__rx_compile(life_rule, strlen(life_rule), 1, 1, &life_env, AGORA_RX_BOOL, -1, &life, &err) != 0) {
        fprintf(stderr, "bench_rules: %s\n", agora_error_format(&err, buf, sizeof buf));
        return 1;
    }
    const agora__rx_prog *const progs[2] = {prog, life};
    agora__rx_native *native = NULL;
    if (agora__rx_native_build(progs, 2, &native, &err) != 0) {
        fprintf(stderr, "bench_rules: %s\n", agora_error_format(&err, buf, sizeof buf));
        return 1;
    }
    const agora__rx_range_fn sir_native = agora__rx_native_fn(native, 0), life_native = agora__rx_native_fn(native, 1);
    printf("agora %s bench_rules: SIR and Life rules on a %ldx%ld Moore torus, %d steps, median of %d reps (%d and %d "
           "instructions)\nrules: %s\n",
           agora_version(), gw, gh, o.steps, o.reps, agora__rx_prog_size(prog), agora__rx_prog_size(life),
           agora__rx_native_status(native));
    const int64_t n = gw * gh;
    uint8_t *a = malloc((size_t)n), *b = malloc((size_t)n), *c = malloc((size_t)n);
    run(RUN_RULE, agora__rx_eval_range, prog, sp, 1, o.steps, 0.01, a);
    run(RUN_RULE, sir_native, prog, sp, 1, o.steps, 0.01, b);
    run(RUN_C, NULL, prog, sp, 1, o.steps, 0.01, c);
    printf("SIR: interpreter, native and C loop give %s states after %d steps\n",
           memcmp(a, b, (size_t)n) || memcmp(a, c, (size_t)n) ? "DIFFERENT" : "identical", o.steps);
    run(RUN_RULE, agora__rx_eval_range, life, sp, 1, o.steps, 0.3, a);
    run(RUN_RULE, life_native, life, sp, 1, o.steps, 0.3, b);
    printf("Life: interpreter and native give %s states after %d steps\n",
           memcmp(a, b, (size_t)n) ? "DIFFERENT" : "identical", o.steps);
    double *rb = calloc((size_t)o.reps, sizeof *rb), *ri = calloc((size_t)o.reps, sizeof *ri);
    double *rn = calloc((size_t)o.reps, sizeof *rn), *rc = calloc((size_t)o.reps, sizeof *rc);
    double *li = calloc((size_t)o.reps, sizeof *li), *ln = calloc((size_t)o.reps, sizeof *ln);
    char list[64];
    snprintf(list, sizeof list, "%s", o.threads);
    for (char *t = strtok(list, ","); t; t = strtok(NULL, ",")) {
        const int threads = atoi(t);
        const double load_before = bench_load1();
        for (int r = 0; r < o.reps; r++) { /* interleaved, so drift in the machine's speed hits all alike */
            rb[r] = run_builtin(sp, threads, o.steps);
            ri[r] = run(RUN_RULE, agora__rx_eval_range, prog, sp, threads, o.steps, 0.01, NULL);
            rn[r] = run(RUN_RULE, sir_native, prog, sp, threads, o.steps, 0.01, NULL);
            rc[r] = run(RUN_C, NULL, prog, sp, threads, o.steps, 0.01, NULL);
            li[r] = run(RUN_RULE, agora__rx_eval_range, life, sp, threads, o.steps, 0.3, NULL);
            ln[r] = run(RUN_RULE, life_native, life, sp, threads, o.steps, 0.3, NULL);
        }
        const double mb = bench_median(rb, o.reps), mi = bench_median(ri, o.reps), mn = bench_median(rn, o.reps);
        const double mc = bench_median(rc, o.reps), mli = bench_median(li, o.reps), mln = bench_median(ln, o.reps);
        printf("threads=%d (load %.2f before, %.2f after), M agent-updates/s:\n"
               "  SIR built-in model   %8.1f (min %.1f, max %.1f)\n"
               "  SIR rule, interp.    %8.1f (min %.1f, max %.1f)  %.2fx built-in\n"
               "  SIR rule, native     %8.1f (min %.1f, max %.1f)  %.2fx built-in, %.2fx interpreter\n"
               "  SIR plain C loop     %8.1f (min %.1f, max %.1f)  %.2fx built-in\n"
               "  Life rule, interp.   %8.1f (min %.1f, max %.1f)\n"
               "  Life rule, native    %8.1f (min %.1f, max %.1f)  %.2fx interpreter\n",
               threads, load_before, bench_load1(), mb / 1e6, rb[0] / 1e6, rb[o.reps - 1] / 1e6, mi / 1e6, ri[0] / 1e6,
               ri[o.reps - 1] / 1e6, mi / mb, mn / 1e6, rn[0] / 1e6, rn[o.reps - 1] / 1e6, mn / mb, mn / mi, mc / 1e6,
               rc[0] / 1e6, rc[o.reps - 1] / 1e6, mc / mb, mli / 1e6, li[0] / 1e6, li[o.reps - 1] / 1e6, mln / 1e6,
               ln[0] / 1e6, ln[o.reps - 1] / 1e6, mln / mli);
        fflush(stdout);
    }
    free(rb);
    free(ri);
    free(rn);
    free(rc);
    free(li);
    free(ln);
    free(a);
    free(b);
    free(c);
    agora__rx_native_free(native);
    agora__rx_free(prog);
    agora__rx_free(life);
    agora_space_destroy(sp);
    return 0;
}
