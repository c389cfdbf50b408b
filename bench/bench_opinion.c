/* agora — opinion-dynamics benchmark: agent-updates per second for each rule and bytes of state per agent.
 *
 * Runs every rule of the opinion model on a Watts–Strogatz network (default N = 10^6, k = 10, p = 0.1) and on a
 * well-mixed population of the same size, at each requested thread count; each measurement is repeated and the
 * median and range printed. Only world steps are timed (no measuring, no output). An agent-update is one agent
 * advanced by one step (for deffuant the step includes drawing the matching).
 *
 * With --lattice W it also runs each rule on a W x W von Neumann torus twice — as a grid and as the same lattice stored
 * as a graph (generator lattice) — and prints the grid path's speed against the graph path's.
 *
 *   bench/bench_opinion [--steps N] [--reps N] [--threads 1,2] [--ws N,K,P] [--mixed N] [--lattice W (0: skip)]
 *                       [--rules voter,deffuant,...] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "agora/agora.h"
#include "bench_util.h"

static const char *rule_params(const char *rule)
{
    if (strcmp(rule, "voter") == 0)
        return "{\"rule\": \"voter\", \"lazy\": 0.5}";
    if (strcmp(rule, "deffuant") == 0)
        return "{\"rule\": \"deffuant\", \"epsilon\": 0.2, \"mu\": 0.5}";
    if (strcmp(rule, "hk") == 0)
        return "{\"rule\": \"hk\", \"epsilon\": 0.2}";
    return "{\"rule\": \"degroot\", \"rate\": 0.1}";
}

static agora_world *make_world(const agora_space *space, const char *rule, int threads)
{
    return bench_world("bench_opinion", "opinion", space, json_loads(rule_params(rule), 0, NULL), threads);
}

static double bench(const char *label, const agora_space *space, const char *rule, int threads, int steps, int reps)
{
    double *rates = calloc((size_t)reps, sizeof *rates);
    for (int r = 0; r < reps; r++) {
        agora_world *w = make_world(space, rule, threads);
        const double n = (double)agora_world_n(w);
        agora_world_step(w); /* warm-up: first touch of the buffers */
        double t0 = bench_now();
        for (int s = 0; s < steps; s++)
            agora_world_step(w);
        rates[r] = n * steps / (bench_now() - t0);
        agora_world_destroy(w);
    }
    qsort(rates, (size_t)reps, sizeof *rates, bench_cmp_double);
    double median = rates[reps / 2];
    printf("%-40s %-9s threads=%d  %8.1f M agent-updates/s  (min %.1f, max %.1f; %d reps x %d steps)\n", label, rule,
           threads, median / 1e6, rates[0] / 1e6, rates[reps - 1] / 1e6, reps, steps);
    fflush(stdout);
    free(rates);
    return median;
}

/* State bytes per agent by rule: opinions double-buffered, anchor and stubbornness (4 x 8 B); deffuant adds the
 * matching (each agent's choice, 8 B); hk on a mixed space the sorted copy and long-double prefix sums. */
static void print_memory(const agora_space *space)
{
    printf("memory: state 32 B/agent (voter, degroot, hk on graphs), +8 B/agent deffuant (matching), "
           "+24 B/agent hk on a mixed space; space %.1f B/agent (%s)\n",
           (double)agora_space_bytes(space) / (double)space->n, agora_space_kind_name(space->kind));
}

int main(int argc, char **argv)
{
    agora__omp_wait_policy(argv); /* the CLI's default wait policy (core/ompenv.h) */
    bench_shared o = {.steps = 20, .reps = 5, .threads = "1,2", .ws_n = 1000000, .ws_k = 10, .ws_p = 0.1};
    char rules[128] = "voter,deffuant,degroot,hk";
    long mixn = 1000000, lattice = 0;
    for (int i = 1; i < argc; i++) {
        if (bench_shared_option(argc, argv, &i, &o))
            continue;
        if (strcmp(argv[i], "--mixed") == 0 && i + 1 < argc)
            mixn = atol(argv[++i]);
        else if (strcmp(argv[i], "--lattice") == 0 && i + 1 < argc)
            lattice = atol(argv[++i]);
        else if (strcmp(argv[i], "--rules") == 0 && i + 1 < argc)
            snprintf(rules, sizeof rules, "%s", argv[++i]);
        else {
            fprintf(stderr,
                    "usage: %s [--steps N] [--reps N] [--threads 1,2] [--ws N,K,P] [--mixed N (0: skip)] "
                    "[--lattice W] [--rules voter,deffuant,degroot,hk]\n",
                    argv[0]);
            return 2;
        }
    }
    if (o.steps < 1 || o.reps < 1) {
        fprintf(stderr, "bench_opinion: --steps and --reps must be positive\n");
        return 2;
    }
    agora_init();
    printf("agora %s bench_opinion: opinion model, median of %d reps, each from a fresh world\n", agora_version(),
           o.reps);
    char json[256], label[96], rl[128];
    int thr[16];
    const int nthr = bench_threads(o.threads, thr, 16);
    if (lattice > 0) {
        /* the grid path against the graph path of the same lattice */
        snprintf(json, sizeof json,
                 "{\"kind\":\"grid\",\"width\":%ld,\"height\":%ld,\"torus\":true,\"neighborhood\":\"von_neumann\"}",
                 lattice, lattice);
        agora_space *gr = bench_space("bench_opinion", json);
        snprintf(json, sizeof json,
                 "{\"kind\":\"graph\",\"generator\":\"lattice\",\"width\":%ld,\"height\":%ld,"
                 "\"torus\":true}",
                 lattice, lattice);
        agora_space *lg = bench_space("bench_opinion", json);
        snprintf(rl, sizeof rl, "%s", rules);
        for (char *r = strtok(rl, ","); r; r = strtok(NULL, ","))
            for (int q = 0; q < nthr; q++) {
                snprintf(label, sizeof label, "grid %ldx%ld von_neumann torus", lattice, lattice);
                const double g = bench(label, gr, r, thr[q], o.steps, o.reps);
                snprintf(label, sizeof label, "lattice graph %ldx%ld", lattice, lattice);
                const double c = bench(label, lg, r, thr[q], o.steps, o.reps);
                printf("%-40s %-9s threads=%d  grid path / graph path: %.2fx\n", "", r, thr[q], g / c);
            }
        agora_space_destroy(gr);
        agora_space_destroy(lg);
    }
    snprintf(json, sizeof json, "{\"kind\":\"graph\",\"generator\":\"watts_strogatz\",\"n\":%ld,\"k\":%ld,\"p\":%g}",
             o.ws_n, o.ws_k, o.ws_p);
    double t0 = bench_now();
    agora_space *ws = bench_space("bench_opinion", json);
    printf("watts_strogatz n=%ld k=%ld p=%g built in %.1f s\n", o.ws_n, o.ws_k, o.ws_p, bench_now() - t0);
    snprintf(label, sizeof label, "watts_strogatz n=%ld k=%ld p=%g", o.ws_n, o.ws_k, o.ws_p);
    snprintf(rl, sizeof rl, "%s", rules);
    for (char *r = strtok(rl, ","); r; r = strtok(NULL, ","))
        for (int q = 0; q < nthr; q++)
            bench(label, ws, r, thr[q], o.steps, o.reps);
    print_memory(ws);
    agora_space_destroy(ws);
    if (mixn > 0) {
        snprintf(json, sizeof json, "{\"kind\":\"mixed\",\"n\":%ld}", mixn);
        agora_space *mx = bench_space("bench_opinion", json);
        snprintf(label, sizeof label, "mixed n=%ld", mixn);
        snprintf(rl, sizeof rl, "%s", rules);
        for (char *r = strtok(rl, ","); r; r = strtok(NULL, ","))
            for (int q = 0; q < nthr; q++)
                bench(label, mx, r, thr[q], o.steps, o.reps);
        print_memory(mx);
        agora_space_destroy(mx);
    }
    return 0;
}
