/* agora — sweep throughput: 200 small runs (a 100x100 SIR grid, 10^4 agents, 100 steps) through agora_sweep_run
 * on 1 core and on 2 (worker processes), and the per-run overhead (open, write, close: the same sweep with 0
 * steps). Files go to a temporary directory.
 *
 *   bench/bench_sweep [--runs N] [--steps N] [--reps N] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agora/agora.h"
#include "agora/sweep.h"
#include "bench_util.h"

static double sweep_seconds(const char *scenario, const json_t *runs, const char *dir, int cores, int steps)
{
    char out[4096], steps_set[64];
    snprintf(out, sizeof out, "%s/sweep_%d_%d.h5", dir, cores, steps);
    snprintf(steps_set, sizeof steps_set, "steps=%d", steps);
    const char *sets[] = {steps_set};
    agora_sweep_options opt = {.output = out, .sets = sets, .n_sets = 1, .threads = cores};
    agora_sweep_progress res;
    agora_error err;
    double t0 = bench_now();
    if (agora_sweep_run(scenario, runs, &opt, &res, &err) != 0) {
        char buf[1024];
        fprintf(stderr, "bench_sweep: %s\n", agora_error_format(&err, buf, sizeof buf));
        exit(1);
    }
    double dt = bench_now() - t0;
    char runs_dir[4200];
    snprintf(runs_dir, sizeof runs_dir, "%s.runs", out);
    bench_remove_tree(runs_dir);
    unlink(out);
    return dt;
}

int main(int argc, char **argv)
{
    agora__omp_wait_policy(argv); /* the CLI's default wait policy (core/ompenv.h) */
    int n_runs = 200, steps = 100, reps = 3;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc)
            n_runs = atoi(argv[++i]);
        else if (strcmp(argv[i], "--steps") == 0 && i + 1 < argc)
            steps = atoi(argv[++i]);
        else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc)
            reps = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--runs N] [--steps N] [--reps N]\n", argv[0]);
            return 2;
        }
    }
    agora_init();
    char dir[] = "/tmp/agora-bench-sweep-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    char scenario[4200];
    snprintf(scenario, sizeof scenario, "%s/small.yaml", dir);
    FILE *f = fopen(scenario, "w");
    if (!f)
        return 1;
    fprintf(f, "model: sir\nspace: {kind: grid, width: 100, height: 100}\nparams: {beta: 0.1, gamma: 0.1, "
               "initial_infected: 20}\nseed: 1\noutput: {snapshot_every: 0}\n");
    fclose(f);
    char vary[64];
    snprintf(vary, sizeof vary, "params.beta=0.02:0.3:%d", n_runs);
    json_t *axes = json_array(), *axis = NULL, *runs = NULL;
    agora_error err;
    if (agora_sweep_axis(vary, &axis, &err) || (json_array_append_new(axes, axis), 0) ||
        agora_sweep_expand(axes, 1, 1, &runs, &err)) {
        fprintf(stderr, "bench_sweep: %s\n", err.msg);
        return 1;
    }
    double one[16], two[16], zero[16];
    reps = reps < 1 ? 1 : reps > 16 ? 16 : reps;
    for (int r = 0; r < reps; r++) {
        one[r] = sweep_seconds(scenario, runs, dir, 1, steps);
        two[r] = sweep_seconds(scenario, runs, dir, 2, steps);
        zero[r] = sweep_seconds(scenario, runs, dir, 1, 0);
    }
    qsort(one, (size_t)reps, sizeof *one, bench_cmp_double);
    qsort(two, (size_t)reps, sizeof *two, bench_cmp_double);
    qsort(zero, (size_t)reps, sizeof *zero, bench_cmp_double);
    const double a = one[reps / 2], b = two[reps / 2], z = zero[reps / 2];
    printf("agora %s bench_sweep: %d runs of a 100x100 SIR grid (10^4 agents), %d steps, median of %d\n",
           agora_version(), n_runs, steps, reps);
    printf("1 core: %.2f s (%.1f runs/s)   2 cores: %.2f s (%.1f runs/s)   speed-up %.2fx\n", a, n_runs / a, b,
           n_runs / b, a / b);
    printf("per-run overhead (the same runs with 0 steps: load the scenario, create, write and close the file): "
           "%.2f ms\n",
           1e3 * z / n_runs);
    json_decref(axes);
    json_decref(runs);
    bench_remove_tree(dir);
    return 0;
}
