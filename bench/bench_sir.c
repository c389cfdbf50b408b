/* agora — SIR kernel benchmark: agent-updates per second and bytes of state per agent.
 *
 * Runs the SIR step loop on a grid (default 1000x1000 torus, Moore) and on a Watts–Strogatz network (default
 * N = 10^6, k = 10, p = 0.1) at each requested thread count, repeats each measurement and prints the median and the
 * spread, so runs can be compared over time. Only world steps are timed (no measuring, no output).
 *
 *   bench/bench_sir [--steps N] [--reps N] [--threads 1,2] [--grid WxH] [--ws N,K,P] [--big] [--only grid|ws]
 *
 * --big adds a 10^8-agent grid (10000x10000) and reports its resident memory.
 *
 * Every repetition starts a fresh world (on a copy of the space) and times only its steps. Grid work per agent does
 * not depend on the epidemic; network work does (each infection and recovery updates its neighbours' counts), so
 * networks run a slow and a fast epidemic and every line reports its slowest step as well. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "agora/agora.h"
#include "bench_util.h"

/* Peak resident set size of this process in MiB (VmHWM). */
static double peak_rss_mib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double kib = 0;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmHWM:", 6) == 0)
            kib = atof(line + 6);
    if (f)
        fclose(f);
    return kib / 1024.0;
}

/* A fresh SIR world on a copy of `space`. */
static agora_world *make_world(const agora_space *space, int threads, double beta, double gamma, double initial)
{
    return bench_world("bench_sir", "sir", space,
                       json_pack("{s:f, s:f, s:f}", "beta", beta, "gamma", gamma, "initial_infected", initial),
                       threads);
}

/* Times `steps` steps of a fresh world, `reps` times; prints the median and range of agent-updates/s over the whole
 * run and the slowest single step seen (on a network, the epidemic's peak, when most agents change state). */
static double bench(const char *label, const agora_space *space, double beta, double gamma, double initial,
                    int threads, int steps, int reps)
{
    double *rates = calloc((size_t)reps, sizeof *rates);
    double slowest = 1e300;
    for (int r = 0; r < reps; r++) {
        agora_world *w = make_world(space, threads, beta, gamma, initial);
        const double n = (double)agora_world_n(w);
        double t0 = bench_now();
        for (int s = 0; s < steps; s++) {
            double s0 = bench_now();
            agora_world_step(w);
            double rate = n / (bench_now() - s0);
            if (rate < slowest)
                slowest = rate;
        }
        rates[r] = n * steps / (bench_now() - t0);
        agora_world_destroy(w);
    }
    qsort(rates, (size_t)reps, sizeof *rates, bench_cmp_double);
    double median = rates[reps / 2];
    printf("%-46s threads=%d  %7.3f G agent-updates/s  (min %.3f, max %.3f; slowest step %.3f; %d reps x %d steps)\n",
           label, threads, median / 1e9, rates[0] / 1e9, rates[reps - 1] / 1e9, slowest / 1e9, reps, steps);
    fflush(stdout);
    free(rates);
    return median;
}

/* State bytes per agent (SIR: one byte, double-buffered) and what the space adds. */
static void print_memory(const char *label, const agora_space *space)
{
    /* On a graph SIR also keeps each agent's count of infected neighbours (uint32). */
    double state = 2.0, counts = space->kind == AGORA_SPACE_GRAPH ? 4.0 : 0.0;
    printf("%-46s state %.1f B/agent; neighbour counts %.1f B/agent; space %.1f B/agent\n", label, state, counts,
           (double)agora_space_bytes(space) / (double)space->n);
}

int main(int argc, char **argv)
{
    agora__omp_wait_policy(argv); /* the CLI's default wait policy (core/ompenv.h) */
    bench_shared o = {.steps = 200, .reps = 7, .threads = "1,2", .ws_n = 1000000, .ws_k = 10, .ws_p = 0.1};
    int big = 0;
    char only[16] = "";
    long gw = 1000, gh = 1000;
    for (int i = 1; i < argc; i++) {
        if (bench_shared_option(argc, argv, &i, &o))
            continue;
        if (strcmp(argv[i], "--grid") == 0 && i + 1 < argc)
            sscanf(argv[++i], "%ldx%ld", &gw, &gh);
        else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc)
            snprintf(only, sizeof only, "%s", argv[++i]);
        else if (strcmp(argv[i], "--big") == 0)
            big = 1;
        else {
            fprintf(stderr, "usage: %s [--steps N] [--reps N] [--threads 1,2] [--grid WxH] [--ws N,K,P] [--big] "
                            "[--only grid|ws]\n", argv[0]);
            return 2;
        }
    }
    if (o.steps < 1 || o.reps < 1) {
        fprintf(stderr, "bench_sir: --steps and --reps must be positive\n");
        return 2;
    }
    agora_init();
    printf("agora %s bench_sir: SIR, median of %d reps, each from a fresh world\n", agora_version(), o.reps);
    char grid_json[256], ws_json[256], label[96], list[64];
    snprintf(grid_json, sizeof grid_json,
             "{\"kind\":\"grid\",\"width\":%ld,\"height\":%ld,\"torus\":true,\"neighborhood\":\"moore\"}", gw, gh);
    snprintf(ws_json, sizeof ws_json,
             "{\"kind\":\"graph\",\"generator\":\"watts_strogatz\",\"n\":%ld,\"k\":%ld,\"p\":%g}", o.ws_n, o.ws_k,
             o.ws_p);
    if (!only[0] || strcmp(only, "grid") == 0) {
        agora_space *grid = bench_space("bench_sir", grid_json);
        double grid1 = 0, grid2 = 0;
        snprintf(label, sizeof label, "grid %ldx%ld torus moore, b=0.05 g=0.1", gw, gh);
        snprintf(list, sizeof list, "%s", o.threads);
        for (char *t = strtok(list, ","); t; t = strtok(NULL, ",")) {
            double r = bench(label, grid, 0.05, 0.1, 0.01, atoi(t), o.steps, o.reps);
            if (atoi(t) == 1)
                grid1 = r;
            if (atoi(t) == 2)
                grid2 = r;
        }
        if (grid1 > 0 && grid2 > 0)
            printf("grid speed-up, 2 threads over 1: %.2fx\n", grid2 / grid1);
        print_memory("grid memory", grid);
        agora_space_destroy(grid);
    }
    if (!only[0] || strcmp(only, "ws") == 0) {
        double t0 = bench_now();
        agora_space *ws = bench_space("bench_sir", ws_json);
        printf("watts_strogatz n=%ld k=%ld p=%g built in %.1f s (igraph + CSR)\n", o.ws_n, o.ws_k, o.ws_p,
               bench_now() - t0);
        /* Work per step depends on the epidemic on a network: every agent is updated, and each infection or
         * recovery then updates its neighbours' counts. Two epidemics from 1% infected: a slow one and a fast one
         * with heavy turnover; each line also reports its slowest step (the peak). */
        const struct {
            const char *what;
            double beta, gamma, initial;
        } regimes[] = {{"epidemic b=0.05 g=0.1", 0.05, 0.1, 0.01}, {"fast epidemic b=0.3 g=0.5", 0.3, 0.5, 0.01}};
        for (size_t g = 0; g < sizeof regimes / sizeof regimes[0]; g++) {
            snprintf(label, sizeof label, "watts_strogatz n=%ld k=%ld, %s", o.ws_n, o.ws_k, regimes[g].what);
            snprintf(list, sizeof list, "%s", o.threads);
            for (char *t = strtok(list, ","); t; t = strtok(NULL, ","))
                bench(label, ws, regimes[g].beta, regimes[g].gamma, regimes[g].initial, atoi(t), o.steps, o.reps);
        }
        print_memory("watts_strogatz memory", ws);
        agora_space_destroy(ws);
    }
    if (big) {
        agora_space *g = bench_space("bench_sir", "{\"kind\":\"grid\",\"width\":10000,\"height\":10000,\"torus\":true,"
                                    "\"neighborhood\":\"moore\"}");
        snprintf(list, sizeof list, "%s", o.threads);
        for (char *t = strtok(list, ","); t; t = strtok(NULL, ","))
            bench("grid 10000x10000 (10^8 agents), b=0.05 g=0.1", g, 0.05, 0.1, 0.01, atoi(t),
                  o.steps / 10 > 0 ? o.steps / 10 : 1, o.reps < 3 ? o.reps : 3);
        agora_space_destroy(g);
        printf("peak resident memory of this process: %.0f MiB\n", peak_rss_mib());
    }
    return 0;
}
