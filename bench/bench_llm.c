/* agora — LLM round latency: N personas asked at once through the real HTTP client against the loopback server
 * (tests/llm_server.py, started here) answering each request after a fixed delay. Prints the median wall time of a
 * round and its ratio to the delay: concurrency makes a round cost about one delay, not N.
 *
 * Then a mixed run: a 1000x1000 SIR grid with N personas deciding every 10 steps through the persona runtime
 * (prompts, HTTP, validation): the round time, and the kernel's agent-updates/s between rounds against the same
 * world stepped with no personas.
 *
 *   bench/bench_llm [--personas N] [--delay-ms D] [--rounds R] [--provider openai|ollama] */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "agora/agora.h"
#include "bench_util.h"
#include "agora/llm.h"

static agora_world *grid_world(void)
{
    agora_space *sp = NULL;
    agora_error err;
    if (agora_space_grid_create(1000, 1000, 1, AGORA_MOORE, &sp, &err) != 0)
        return NULL;
    json_t *params = json_pack("{s:f, s:f, s:i}", "beta", 0.05, "gamma", 0.1, "initial_infected", 100);
    agora_world_config wc = {.model = agora_model_find("sir"), .space = sp, .params = params, .seed = 1};
    agora_world *w = NULL;
    int rc = agora_world_create(&wc, &w, &err);
    json_decref(params);
    return rc ? NULL : w;
}

/* Steps a world `steps` times; returns the agent-updates per second of steps 2..steps and the first step's time. */
static double kernel_rate(agora_world *w, int steps, double *first_s)
{
    double t0 = bench_now();
    agora_world_step(w);
    double t1 = bench_now();
    *first_s = t1 - t0;
    for (int s = 1; s < steps; s++)
        agora_world_step(w);
    return (double)(steps - 1) * (double)agora_world_n(w) / (bench_now() - t1);
}

static int mixed_run(const char *base, const char *provider, int personas, int delay_ms)
{
    const int every = 10, rounds = 12;
    json_t *list = json_array();
    for (int i = 0; i < personas; i++) {
        char id[32];
        snprintf(id, sizeof id, "p%d", i);
        json_array_append_new(list, json_pack("{s:s, s:s, s:i}", "id", id, "role", "minister", "every", every));
    }
    json_t *llm = json_pack("{s:s, s:s, s:s, s:i, s:b}", "provider", provider, "model", "bench", "base_url", base,
                            "max_concurrency", personas, "keep_threads_warm", getenv("AGORA_BENCH_COLD") == NULL);
    agora_personas *ps = NULL;
    agora_error err;
    if (agora_personas_create(llm, list, agora_model_find("sir"), &ps, &err) != 0) {
        fprintf(stderr, "bench_llm: %s\n", err.msg);
        return 1;
    }
    agora_world *a = grid_world(), *b = grid_world();
    if (!a || !b)
        return 1;
    double *round = calloc((size_t)rounds, sizeof *round), *with = calloc((size_t)rounds, sizeof *with),
           *without = calloc((size_t)rounds, sizeof *without), *first_with = calloc((size_t)rounds, sizeof(double)),
           *first_without = calloc((size_t)rounds, sizeof(double));
    for (int r = 0; r < rounds; r++) {
        /* alternate the two worlds so that machine noise hits both alike */
        double t0 = bench_now();
        if (agora_personas_act(ps, a, NULL, &err) != 0)
            fprintf(stderr, "bench_llm: %s\n", err.msg);
        round[r] = bench_now() - t0;
        /* The loopback server shares our two cores and finishes its request handling (logging, closing) for a few
         * ms after the replies; a remote server would not. Let it finish (untimed) before timing the kernel. */
        nanosleep(&(struct timespec){0, 50000000L}, NULL);
        with[r] = kernel_rate(a, every, &first_with[r]);
        /* The baseline waits as long as the round took, idle, so that both worlds are timed after the same pause:
         * on this VM, cores that idled for 200 ms run the next milliseconds slower whatever woke them. */
        double idle = round[r] + 0.05;
        nanosleep(&(struct timespec){(time_t)idle, (long)((idle - (double)(time_t)idle) * 1e9)}, NULL);
        without[r] = kernel_rate(b, every, &first_without[r]);
    }
    qsort(round, (size_t)rounds, sizeof *round, bench_cmp_double);
    qsort(with, (size_t)rounds, sizeof *with, bench_cmp_double);
    qsort(without, (size_t)rounds, sizeof *without, bench_cmp_double);
    qsort(first_with, (size_t)rounds, sizeof *first_with, bench_cmp_double);
    qsort(first_without, (size_t)rounds, sizeof *first_without, bench_cmp_double);
    printf("mixed run (SIR 1000x1000, %d personas every %d steps): persona round median %.1f ms = %.3f x the delay\n",
           personas, every, round[rounds / 2] * 1e3, delay_ms > 0 ? round[rounds / 2] * 1e3 / delay_ms : 0.0);
    printf("kernel between rounds (steps 2..%d after a round): %.3g agent-updates/s with personas, %.3g without "
           "(%+.1f %%)\n",
           every, with[rounds / 2], without[rounds / 2], 100.0 * (with[rounds / 2] / without[rounds / 2] - 1.0));
    printf("first step after a round: %.2f ms (after the same idle pause without personas: %.2f ms)\n",
           first_with[rounds / 2] * 1e3, first_without[rounds / 2] * 1e3);
    free(first_with);
    free(first_without);
    free(round);
    free(with);
    free(without);
    agora_world_destroy(a);
    agora_world_destroy(b);
    agora_personas_destroy(ps);
    json_decref(llm);
    json_decref(list);
    return 0;
}

int main(int argc, char **argv)
{
    agora__omp_wait_policy(argv); /* the CLI's default wait policy (core/ompenv.h) */
    int personas = 8, delay_ms = 200, rounds = 15;
    const char *provider = "ollama";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--personas") == 0 && i + 1 < argc)
            personas = atoi(argv[++i]);
        else if (strcmp(argv[i], "--delay-ms") == 0 && i + 1 < argc)
            delay_ms = atoi(argv[++i]);
        else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
            rounds = atoi(argv[++i]);
        else if (strcmp(argv[i], "--provider") == 0 && i + 1 < argc)
            provider = argv[++i];
        else {
            fprintf(stderr, "usage: %s [--personas N] [--delay-ms D] [--rounds R] [--provider openai|ollama]\n",
                    argv[0]);
            return 2;
        }
    }
    if (personas < 1 || personas > 256 || rounds < 1 || delay_ms < 0) {
        fprintf(stderr, "bench_llm: bad arguments\n");
        return 2;
    }
    char dir[] = "/tmp/agora-bench-llm-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    char script[512], log[512];
    snprintf(script, sizeof script, "%s/script.json", dir);
    snprintf(log, sizeof log, "%s/log.jsonl", dir);
    FILE *f = fopen(script, "w");
    if (!f)
        return 1;
    fprintf(
        f, "{\"default\": {\"delay_ms\": %d, \"content\": \"{\\\"reasoning\\\": \\\"ok\\\", \\\"actions\\\": []}\"}}\n",
        delay_ms);
    fclose(f);
    pid_t pid;
    int port = bench_server_start("bench_llm", dir, script, log, &pid);
    if (!port)
        return 1;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    char base[64];
    snprintf(base, sizeof base, "http://127.0.0.1:%d", port);
    agora_llm_config cfg;
    agora_llm_config_defaults(&cfg);
    cfg.provider = agora_llm_provider_from_name(provider);
    cfg.model = "bench";
    cfg.base_url = base;
    cfg.max_concurrency = personas;
    agora_llm_request *rq = calloc((size_t)personas, sizeof *rq);
    agora_llm_result *res = calloc((size_t)personas, sizeof *res);
    char(*tags)[32] = calloc((size_t)personas, sizeof *tags);
    double *wall = calloc((size_t)rounds, sizeof *wall);
    json_t *schema = json_loads("{\"type\": \"object\", \"properties\": {\"reasoning\": {\"type\": \"string\"}, "
                                "\"actions\": {\"type\": \"array\"}}, \"required\": [\"reasoning\", \"actions\"]}",
                                0, NULL);
    int failures = 0;
    for (int r = 0; r < rounds; r++) {
        for (int i = 0; i < personas; i++) {
            snprintf(tags[i], sizeof tags[i], "persona%d/step-%d", i, r);
            rq[i] = (agora_llm_request){
                .system = "You are a persona.", .user = "Observation: {}", .schema = schema, .tag = tags[i]};
        }
        agora_error err;
        double t0 = bench_now();
        if (agora_llm_call_batch(&cfg, rq, personas, res, &err) != 0) {
            fprintf(stderr, "bench_llm: %s\n", err.msg);
            failures++;
        }
        wall[r] = bench_now() - t0;
        for (int i = 0; i < personas; i++) {
            failures += res[i].status != AGORA_LLM_OK;
            agora_llm_result_free(&res[i]);
        }
    }
    qsort(wall, (size_t)rounds, sizeof *wall, bench_cmp_double);
    double med = wall[rounds / 2];
    printf("agora %s bench_llm: %d personas per round, server delay %d ms, %s protocol, %d rounds\n", agora_version(),
           personas, delay_ms, provider, rounds);
    printf("client round wall time: median %.1f ms (min %.1f, max %.1f) = %.3f x the delay; %d failed calls\n",
           med * 1e3, wall[0] * 1e3, wall[rounds - 1] * 1e3, delay_ms > 0 ? med * 1e3 / delay_ms : 0.0, failures);
    failures += mixed_run(base, provider, personas, delay_ms);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    json_decref(schema);
    free(rq);
    free(res);
    free(tags);
    free(wall);
    curl_global_cleanup();
    unlink(script);
    char port_file[600];
    snprintf(port_file, sizeof port_file, "%s/port", dir);
    unlink(port_file);
    unlink(log);
    rmdir(dir);
    return failures ? 1 : 0;
}
