/* agora — what the benchmark programs share: a monotonic clock, sorting for medians, and building spaces and
 * worlds (exiting with the error on failure: a benchmark has no other use for a bad setup). */
#ifndef AGORA_BENCH_UTIL_H
#define AGORA_BENCH_UTIL_H
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "agora/agora.h"
#include "core/ompenv.h"

static inline double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static inline int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median of v[0 .. n) (sorted here, in place): the middle value, or the mean of the middle two. */
static inline double bench_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, bench_cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* The 1-minute load average now, or -1 (the machine is shared: benchmarks print it beside their figures). */
static inline double bench_load1(void)
{
    double l = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &l) != 1)
            l = -1;
        fclose(f);
    }
    return l;
}

/* The options bench_sir and bench_opinion share: --steps N, --reps N, --threads 1,2 (a list), --ws N,K,P (a
 * Watts-Strogatz graph). Set the defaults, then call bench_shared_option for each argument. */
typedef struct bench_shared {
    int steps, reps;
    char threads[64];
    long ws_n, ws_k;
    double ws_p;
} bench_shared;

/* Reads argv[*i] (and its value, advancing *i) when it is a shared option; returns 0 when it is not. */
static inline int bench_shared_option(int argc, char **argv, int *i, bench_shared *o)
{
    const char *a = argv[*i];
    if (*i + 1 >= argc)
        return 0;
    if (strcmp(a, "--steps") == 0)
        o->steps = atoi(argv[++*i]);
    else if (strcmp(a, "--reps") == 0)
        o->reps = atoi(argv[++*i]);
    else if (strcmp(a, "--threads") == 0)
        snprintf(o->threads, sizeof o->threads, "%s", argv[++*i]);
    else if (strcmp(a, "--ws") == 0)
        sscanf(argv[++*i], "%ld,%ld,%lf", &o->ws_n, &o->ws_k, &o->ws_p);
    else
        return 0;
    return 1;
}

/* The thread counts of a --threads list ("1,2") into out[0 .. max); returns how many. */
static inline int bench_threads(const char *list, int *out, int max)
{
    int n = 0;
    for (const char *p = list; *p && n < max;) {
        out[n++] = atoi(p);
        p = strchr(p, ',');
        if (!p)
            break;
        p++;
    }
    return n;
}

/* Starts the loopback LLM server (tests/llm_server.py) on a free port with `script` (a JSON script file) and its log
 * in `log`, at the lowest priority: it stands in for a remote machine and must not compete with what is measured.
 * Returns the port (*pid: the server, to kill with SIGTERM), or 0 after printing why. */
static inline int bench_server_start(const char *prog, const char *dir, const char *script, const char *log, pid_t *pid)
{
    char port_file[600], server[1024];
    snprintf(port_file, sizeof port_file, "%s/port", dir);
    snprintf(server, sizeof server, "%s/tests/llm_server.py", AGORA_SOURCE_DIR);
    *pid = fork();
    if (*pid == 0) {
        if (!freopen("/dev/null", "w", stdout)) /* the server announces its port there; we read the port file */
            _exit(127);
        if (setpriority(PRIO_PROCESS, 0, 19) != 0)
            _exit(127);
        execl("/usr/bin/python3", "python3", server, "--script", script, "--log", log, "--port", "0", "--port-file",
              port_file, (char *)NULL);
        _exit(127);
    }
    int port = 0;
    for (int i = 0; i < 200 && port == 0; i++) {
        FILE *p = fopen(port_file, "r");
        if (p) {
            if (fscanf(p, "%d", &port) != 1)
                port = 0;
            fclose(p);
        }
        if (!port)
            nanosleep(&(struct timespec){0, 50000000L}, NULL);
    }
    if (!port) {
        fprintf(stderr, "%s: the loopback server (%s) did not start\n", prog, server);
        kill(*pid, SIGTERM);
    }
    return port;
}

/* Removes a temporary directory and everything in it. */
static inline void bench_remove_tree(const char *dir)
{
    char cmd[4300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

/* The space a JSON `space:` object describes (seed 1). */
static inline agora_space *bench_space(const char *prog, const char *space_json)
{
    json_error_t jerr;
    json_t *spec = json_loads(space_json, 0, &jerr);
    agora_error err;
    agora_space *space = NULL;
    char buf[1024];
    if (!spec || agora_space_create(spec, agora_rng_key_from_seed(1), NULL, &space, &err) != 0) {
        fprintf(stderr, "%s: space: %s\n", prog, spec ? agora_error_format(&err, buf, sizeof buf) : jerr.text);
        exit(1);
    }
    json_decref(spec);
    return space;
}

/* A fresh world of `model` on a copy of `space` (seed 1); takes `params` (a new reference). */
static inline agora_world *bench_world(const char *prog, const char *model, const agora_space *space, json_t *params,
                                       int threads)
{
    agora_error err;
    agora_space *copy = NULL;
    agora_world *w = NULL;
    char buf[1024];
    if (agora_space_copy(space, &copy, &err) != 0) {
        fprintf(stderr, "%s: %s\n", prog, agora_error_format(&err, buf, sizeof buf));
        exit(1);
    }
    agora_world_config cfg = {
        .model = agora_model_find(model), .space = copy, .params = params, .seed = 1, .threads = threads};
    if (agora_world_create(&cfg, &w, &err) != 0) {
        fprintf(stderr, "%s: world: %s\n", prog, agora_error_format(&err, buf, sizeof buf));
        exit(1);
    }
    json_decref(params);
    return w;
}

#endif
