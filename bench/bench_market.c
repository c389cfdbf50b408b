/* agora — market benchmark: trader-steps (one trader for one trading day) per second and bytes of state per trader.
 *
 * Runs the market model on a well-mixed population (default 10^6 traders, half buyers, valuations U(50, 150), costs
 * U(20, 80), 10 matching rounds a day) at each requested thread count, repeats each measurement from a fresh world
 * and prints the median and the spread. Only world steps are timed (no measuring, no output); the market starts far
 * from equilibrium, so the first days (most agents trading) and the later ones (extramarginal traders active in
 * every round) are both in the run.
 *
 *   bench/bench_market [--n N] [--steps N] [--reps N] [--threads 1,2] [--rounds R]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "agora/agora.h"
#include "bench_util.h"

static agora_world *make_world(long n, int threads, int rounds)
{
    char buf[1024];
    agora_error err;
    agora_space *space = NULL;
    agora_world *w = NULL;
    if (agora_space_mixed_create(n, &space, &err) != 0) {
        fprintf(stderr, "bench_market: %s\n", agora_error_format(&err, buf, sizeof buf));
        exit(1);
    }
    json_t *params = json_pack("{s:f, s:i}", "buyers", 0.5, "rounds_per_day", rounds);
    agora_world_config cfg = {.model = agora_model_find("market"), .space = space, .params = params, .seed = 1,
                              .threads = threads};
    if (agora_world_create(&cfg, &w, &err) != 0) {
        fprintf(stderr, "bench_market: world: %s\n", agora_error_format(&err, buf, sizeof buf));
        exit(1);
    }
    json_decref(params);
    return w;
}

static double bench(long n, int threads, int rounds, int steps, int reps)
{
    double *rates = calloc((size_t)reps, sizeof *rates);
    for (int r = 0; r < reps; r++) {
        agora_world *w = make_world(n, threads, rounds);
        double t0 = bench_now();
        for (int s = 0; s < steps; s++)
            agora_world_step(w);
        rates[r] = (double)n * steps / (bench_now() - t0);
        agora_world_destroy(w);
    }
    qsort(rates, (size_t)reps, sizeof *rates, bench_cmp_double);
    double median = rates[reps / 2];
    printf("market n=%ld rounds/day=%d threads=%d  %7.1f M trader-steps/s  (min %.1f, max %.1f; %d reps x %d days)\n",
           n, rounds, threads, median / 1e6, rates[0] / 1e6, rates[reps - 1] / 1e6, reps, steps);
    fflush(stdout);
    free(rates);
    return median;
}

int main(int argc, char **argv)
{
    agora__omp_wait_policy(argv); /* the CLI's default wait policy (core/ompenv.h) */
    long n = 1000000;
    int steps = 50, reps = 5, rounds = 10;
    char threads_list[64] = "1,2";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--n") == 0 && i + 1 < argc)
            n = atol(argv[++i]);
        else if (strcmp(argv[i], "--steps") == 0 && i + 1 < argc)
            steps = atoi(argv[++i]);
        else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
            rounds = atoi(argv[++i]);
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            snprintf(threads_list, sizeof threads_list, "%s", argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--n N] [--steps N] [--reps N] [--threads 1,2] [--rounds R]\n", argv[0]);
            return 2;
        }
    }
    if (n < 2 || steps < 1 || reps < 1 || rounds < 1 || rounds > 64) {
        fprintf(stderr, "bench_market: bad arguments\n");
        return 2;
    }
    agora_init();
    printf("agora %s bench_market: market, median of %d reps, each from a fresh world\n", agora_version(), reps);
    double r1 = 0, r2 = 0;
    char list[64];
    snprintf(list, sizeof list, "%s", threads_list);
    for (char *t = strtok(list, ","); t; t = strtok(NULL, ",")) {
        double r = bench(n, atoi(t), rounds, steps, reps);
        if (atoi(t) == 1)
            r1 = r;
        if (atoi(t) == 2)
            r2 = r;
    }
    if (r1 > 0 && r2 > 0)
        printf("speed-up, 2 threads over 1: %.2fx\n", r2 / r1);
    /* value, quote, price (8 B each), traded (1 B); the active agents between rounds (8 B quote + 8 B id + 1 B done
     * flag) and their round's trade price (8 B); the sorted curves (8 B). */
    printf("market memory: state 25 B/trader; active lists between rounds 25 B/trader; sorted valuations/costs "
           "8 B/trader\n");
    return 0;
}
