/* agora — benchmark of the rule-language models as a user meets them: for every model file in models/ (or --models
 * DIR), how long checking its definition takes, how long its native code takes to build (a fresh cache) and to load
 * (from the cache), its memory per agent measured against what it declares, and its world's agent-updates per second
 * (agora_world_step with measuring, as `agora run` steps) on a 1000x1000 Moore torus (or 10^6 well-mixed agents
 * for a model without a grid); then the built-in SIR beside the rule-language SIR, world against world, interleaved
 * rep by rep.
 *
 *   bench/bench_models [--reps N] [--steps N] [--threads 1,2] [--grid WxH] [--models DIR] [--only NAME]
 *
 * Checking = agora__rules_load: read the file, parse the YAML, check every expression and compile it to bytecode
 * (a definition met again is interned, but only after it was checked in full, so every rep does the whole check).
 * Native = agora__rx_native_build of the model's rules and metric aggregates, as the first world of a model runs
 * it: "cold" into an empty cache directory (the C compiler runs), "cached" from it (hash, dlopen).
 * Memory = the resident set's growth while a world is created and stepped twice (glibc's mmap threshold is fixed so
 * that freed blocks of earlier worlds are not reused), divided by the agents; "declared" is each variable's size,
 * twice for a variable with a rule or a pair rule (the double buffer). This is a benchmark, not a test. */
#define _GNU_SOURCE /* mkdtemp */
#include <dirent.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "agora/agora.h"
#include "bench_util.h"
#include "rules/model.h"

static long rss_bytes(void)
{
    long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &size, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return resident * sysconf(_SC_PAGESIZE);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The world's space: the grid when the model runs on one, else a well-mixed population of the same size. */
static agora_space *space_for(const agora_model *m, long gw, long gh)
{
    char spec[256];
    if (m->spaces & AGORA_SPACES_GRID)
        snprintf(spec, sizeof spec,
                 "{\"kind\":\"grid\",\"width\":%ld,\"height\":%ld,\"torus\":true,\"neighborhood\":\"moore\"}", gw, gh);
    else
        snprintf(spec, sizeof spec, "{\"kind\":\"mixed\",\"n\":%ld}", gw * gh);
    return bench_space("bench_models", spec);
}

static agora_world *world_of(const agora_model *m, long gw, long gh, int threads)
{
    agora_error err;
    agora_world *w = NULL;
    char buf[1024];
    agora_world_config cfg = {.model = m, .space = space_for(m, gw, gh), .seed = 1, .threads = threads};
    if (agora_world_create(&cfg, &w, &err) != 0) {
        fprintf(stderr, "bench_models: %s: world: %s\n", m->name, agora_error_format(&err, buf, sizeof buf));
        exit(1);
    }
    return w;
}

/* Agent-updates per second of `steps` steps, each followed by measuring the metrics (as a run does); *share (may be
 * NULL) is the fraction of the time spent measuring. */
static double step_rate(const agora_model *m, long gw, long gh, int threads, int steps, double *share)
{
    agora_world *w = world_of(m, gw, gh, threads);
    double *v = malloc(sizeof *v * (size_t)(agora_model_n_metrics(m) + 1));
    const double t0 = bench_now();
    double in_measure = 0.0;
    for (int s = 0; s < steps; s++) {
        agora_world_step(w);
        const double t1 = bench_now();
        agora_world_measure(w, v);
        in_measure += bench_now() - t1;
    }
    const double dt = bench_now() - t0;
    if (share)
        *share = dt > 0 ? in_measure / dt : 0.0;
    const int failed = agora_world_error(w) != NULL;
    const double rate = (double)agora_world_n(w) * steps / dt;
    free(v);
    agora_world_destroy(w);
    return failed ? -1 : rate;
}

/* The programs agora__rules_native builds: the rules, then the metrics' aggregates. */
static int native_programs(const agora__rules_model *rm, const agora__rx_prog **progs)
{
    int n = 0;
    for (int i = 0; i < rm->nvars; i++)
        if (rm->vars[i].rule)
            progs[n++] = rm->vars[i].rule;
    for (int j = 0; j < rm->nagg; j++)
        progs[n++] = rm->agg_prog[j];
    return n;
}

static void bench_model(const char *path, const bench_shared *o, long gw, long gh, const char *cache_root)
{
    agora_error err;
    char buf[1024];
    const agora_model *m = NULL;
    double *t = calloc((size_t)o->reps, sizeof *t);
    for (int r = 0; r < o->reps; r++) {
        const double t0 = bench_now();
        if (agora__rules_load(path, &m, &err, NULL) != 0) {
            printf("%s: %s\n", path, agora_error_format(&err, buf, sizeof buf));
            free(t);
            return;
        }
        t[r] = bench_now() - t0;
    }
    const double check_ms = bench_median(t, o->reps) * 1e3, check_max = t[o->reps - 1] * 1e3;
    const agora__rules_model *rm = agora__rules_of(m);

    /* native code: cold into a fresh cache directory, then from that cache */
    const agora__rx_prog **progs = malloc(sizeof *progs * ((size_t)rm->nvars + (size_t)rm->nagg + 1));
    const int np = native_programs(rm, progs);
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/%s", cache_root, m->name);
    setenv("AGORA_CACHE_DIR", dir, 1);
    double cold_ms = -1, cached_ms = -1;
    char status[160] = "no programs";
    if (np) {
        agora__rx_native *nat = NULL;
        double t0 = bench_now();
        if (agora__rx_native_build(progs, np, &nat, &err) == 0) {
            cold_ms = (bench_now() - t0) * 1e3;
            snprintf(status, sizeof status, "%.150s", agora__rx_native_status(nat));
            agora__rx_native_free(nat);
            for (int r = 0; r < o->reps; r++) {
                t0 = bench_now();
                if (agora__rx_native_build(progs, np, &nat, &err) != 0)
                    break;
                t[r] = bench_now() - t0;
                agora__rx_native_free(nat);
            }
            cached_ms = bench_median(t, o->reps) * 1e3;
        }
    }
    free(progs);
    free(t);
    char *cut = strchr(status, ':'); /* "native (compiled in 812 ms: /path)": the path is noise here */
    if (cut)
        *cut = '\0';

    /* memory per agent: the world's growth of the resident set, against the declared variables */
    double declared = 0;
    for (int i = 0; i < rm->nvars; i++)
        declared += (rm->vars[i].type == AGORA_RX_INT || rm->vars[i].type == AGORA_RX_REAL ? 8 : 1) *
                    (rm->vars[i].rule || rm->vars[i].pair ? 2 : 1);
    malloc_trim(0); /* what earlier models freed goes back first, or its return would hide this world's growth */
    const long before = rss_bytes();
    agora_world *w = world_of(m, gw, gh, 1);
    agora_world_step(w); /* twice: both buffers of every variable written at least once */
    agora_world_step(w);
    const double measured = (double)(rss_bytes() - before) / (double)agora_world_n(w);
    const int64_t n = agora_world_n(w);
    agora_world_destroy(w);

    printf("%-12s check %6.2f ms (max %.2f)  native: cold %7.0f ms, cached %5.2f ms (%s)  memory %5.1f B/agent "
           "(declared %.0f)  %s %lld\n",
           m->name, check_ms, check_max, cold_ms, cached_ms, status, measured, declared,
           m->spaces & AGORA_SPACES_GRID ? "grid" : "mixed", (long long)n);
    char list[64];
    snprintf(list, sizeof list, "%s", o->threads);
    for (char *tt = strtok(list, ","); tt; tt = strtok(NULL, ",")) {
        const int threads = atoi(tt);
        double *rate = calloc((size_t)o->reps, sizeof *rate), *share = calloc((size_t)o->reps, sizeof *share);
        for (int r = 0; r < o->reps; r++)
            rate[r] = step_rate(m, gw, gh, threads, o->steps, &share[r]);
        const double med = bench_median(rate, o->reps);
        printf("             threads=%d: %8.1f M agent-updates/s with metrics (min %.1f, max %.1f; metrics %.0f%% of "
               "the time)\n",
               threads, med / 1e6, rate[0] / 1e6, rate[o->reps - 1] / 1e6, 100.0 * bench_median(share, o->reps));
        free(rate);
        free(share);
    }
    fflush(stdout);
}

int main(int argc, char **argv)
{
    agora__omp_wait_policy(argv);
    bench_shared o = {.steps = 10, .reps = 5, .threads = "1,2"};
    long gw = 1000, gh = 1000;
    const char *dirp = AGORA_SOURCE_DIR "/models", *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (bench_shared_option(argc, argv, &i, &o))
            continue;
        if (strcmp(argv[i], "--grid") == 0 && i + 1 < argc)
            sscanf(argv[++i], "%ldx%ld", &gw, &gh);
        else if (strcmp(argv[i], "--models") == 0 && i + 1 < argc)
            dirp = argv[++i];
        else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc)
            only = argv[++i];
        else {
            fprintf(stderr,
                    "usage: %s [--reps N] [--steps N] [--threads 1,2] [--grid WxH] [--models DIR] [--only NAME]\n",
                    argv[0]);
            return 2;
        }
    }
    if (o.steps < 1 || o.reps < 1 || gw < 3 || gh < 3) {
        fprintf(stderr, "bench_models: --steps and --reps must be positive, the grid at least 3x3\n");
        return 2;
    }
    mallopt(M_MMAP_THRESHOLD, 128 * 1024); /* fixed: big blocks always mmapped, so RSS growth is the new world's */
    agora_init();
    char cache_root[] = "/tmp/agora-bench-models-XXXXXX";
    if (!mkdtemp(cache_root)) {
        perror("bench_models: mkdtemp");
        return 1;
    }
    DIR *d = opendir(dirp);
    if (!d) {
        fprintf(stderr, "bench_models: %s: cannot open\n", dirp);
        return 1;
    }
    char *files[256];
    int nf = 0;
    struct dirent *e;
    while ((e = readdir(d)) && nf < 256) {
        const size_t len = strlen(e->d_name);
        if (len > 5 && strcmp(e->d_name + len - 5, ".yaml") == 0 &&
            (!only || (strncmp(e->d_name, only, len - 5) == 0 && strlen(only) == len - 5))) {
            char *p = malloc(strlen(dirp) + len + 2);
            sprintf(p, "%s/%s", dirp, e->d_name);
            files[nf++] = p;
        }
    }
    closedir(d);
    qsort(files, (size_t)nf, sizeof *files, cmp_str);
    printf("agora %s bench_models: %d model files in %s; %ldx%ld grid (or %ld mixed), %d steps, median of %d reps, "
           "load %.2f\n",
           agora_version(), nf, dirp, gw, gh, gw * gh, o.steps, o.reps, bench_load1());
    for (int i = 0; i < nf; i++) {
        bench_model(files[i], &o, gw, gh, cache_root);
        free(files[i]);
    }

    /* the built-in SIR beside the rule-language SIR, world against world */
    const agora_model *builtin = agora_model_find("sir"), *rules = NULL;
    agora_error err;
    char path[4200];
    snprintf(path, sizeof path, "%s/sir_rules.yaml", dirp);
    if (builtin && agora__rules_load(path, &rules, &err, NULL) == 0 && (!only || strcmp(only, "sir_rules") == 0)) {
        char list[64];
        snprintf(list, sizeof list, "%s", o.threads);
        for (char *tt = strtok(list, ","); tt; tt = strtok(NULL, ",")) {
            const int threads = atoi(tt);
            double *rb = calloc((size_t)o.reps, sizeof *rb), *rr = calloc((size_t)o.reps, sizeof *rr);
            const double l0 = bench_load1();
            for (int r = 0; r < o.reps; r++) { /* interleaved: drift in the machine's speed hits both alike */
                rb[r] = step_rate(builtin, gw, gh, threads, o.steps, NULL);
                rr[r] = step_rate(rules, gw, gh, threads, o.steps, NULL);
            }
            const double mb = bench_median(rb, o.reps), mr = bench_median(rr, o.reps);
            printf("SIR worlds, threads=%d (load %.2f before, %.2f after): built-in %.1f, sir_rules %.1f M "
                   "agent-updates/s with metrics: %.2fx\n",
                   threads, l0, bench_load1(), mb / 1e6, mr / 1e6, mr / mb);
            free(rb);
            free(rr);
        }
    }
    bench_remove_tree(cache_root);
    return 0;
}
