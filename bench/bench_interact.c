/* agora — interactions round latency: a run of N actors over R rounds against the loopback LLM server
 * (tests/llm_server.py, started here) answering every call after a fixed delay with a reply generated from the
 * request's schema. Actors are asked concurrently, then the world engine: a round should take about two delays, not
 * N + 1. Prints the wall time against the bound 1.25 x R x (2 delays), and the prompt tokens of each round (the
 * server counts words), which must stay bounded as memories grow.
 *
 *   bench/bench_interact [--actors N] [--rounds R] [--delay-ms D] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <curl/curl.h>

#include "agora/agora.h"
#include "bench_util.h"

int main(int argc, char **argv)
{
    agora__omp_wait_policy(argv); /* the CLI's default wait policy (core/ompenv.h) */
    int actors = 10, rounds = 5, delay_ms = 200;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--actors") == 0 && i + 1 < argc)
            actors = atoi(argv[++i]);
        else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
            rounds = atoi(argv[++i]);
        else if (strcmp(argv[i], "--delay-ms") == 0 && i + 1 < argc)
            delay_ms = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--actors N] [--rounds R] [--delay-ms D]\n", argv[0]);
            return 2;
        }
    }
    if (actors < 2 || actors > 64 || rounds < 1 || delay_ms < 0)
        return 2;
    agora_init();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    char dir[] = "/tmp/agora-bench-interact-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    char script[600], log[600], scen[600], out[600];
    snprintf(script, sizeof script, "%s/script.json", dir);
    snprintf(log, sizeof log, "%s/log.jsonl", dir);
    snprintf(scen, sizeof scen, "%s/bench.yaml", dir);
    snprintf(out, sizeof out, "%s/run.h5", dir);
    FILE *f = fopen(script, "w");
    if (!f)
        return 1;
    fprintf(f, "{\"default\": {\"auto\": true, \"delay_ms\": %d}}\n", delay_ms);
    fclose(f);
    pid_t pid;
    int port = bench_server_start("bench_interact", dir, script, log, &pid);
    if (!port)
        return 1;
    f = fopen(scen, "w");
    if (!f)
        return 1;
    fprintf(f,
            "name: bench\nmode: interactions\nrounds: %d\nround_unit: day\nevaluation: {criteria: []}\n"
            "llm: {provider: openai, model: bench, base_url: \"http://127.0.0.1:%d\", max_concurrency: 64}\n"
            "world: {description: \"A town council faces a budget crisis.\", rules: [\"Spending needs a vote\"], "
            "state: {budget: 100, trust: 50}, dynamics: [{key: budget, add: -5}]}\nactors:\n",
            rounds, port);
    for (int i = 0; i < actors; i++)
        fprintf(f, "  - {id: a%d, name: Actor %d, role: councillor, traits: [careful], goals: [balance the budget]}\n",
                i, i);
    fclose(f);
    agora_scenario *sc = NULL;
    agora_error err;
    char buf[1024];
    if (agora_scenario_load(scen, &sc, &err) != 0) {
        fprintf(stderr, "bench_interact: %s\n", agora_error_format(&err, buf, sizeof buf));
        return 1;
    }
    agora_interact_options opt = {.output = out};
    agora_interact_result res;
    double t0 = bench_now();
    int rc = agora_interact_run(sc, &opt, &res, &err);
    double wall = bench_now() - t0;
    if (rc) {
        fprintf(stderr, "bench_interact: %s\n", agora_error_format(&err, buf, sizeof buf));
        return 1;
    }
    const double bound = 1.25 * rounds * 2 * delay_ms / 1e3;
    printf("agora %s bench_interact: %d actors, %d rounds, server delay %d ms (actors asked concurrently, then the "
           "world engine)\n",
           agora_version(), actors, rounds, delay_ms);
    printf("wall time %.3f s (%.1f ms a round) against the bound 1.25 x %d x (2 x %d ms) = %.3f s; one by one "
           "would take %.1f s\n",
           wall, 1e3 * wall / rounds, rounds, delay_ms, bound, rounds * (actors + 1) * delay_ms / 1e3);
    /* the actors' prompt tokens, round by round */
    json_t *turns = NULL;
    if (agora_h5_table(out, "/interactions/turns", &turns, &err) == 0) {
        printf("actors' prompt tokens per round:");
        for (int r = 1; r <= rounds; r++) {
            long long sum = 0;
            size_t i;
            json_t *t;
            json_array_foreach(turns, i, t) {
                if (json_integer_value(json_object_get(t, "round")) == r)
                    sum += json_integer_value(json_object_get(t, "prompt_tokens"));
            }
            printf(" %lld", sum);
        }
        printf("\n");
        json_decref(turns);
    }
    printf("status %s, %s\n", res.status, wall <= bound ? "within the bound" : "ABOVE the bound");
    agora_interact_result_free(&res);
    agora_scenario_destroy(sc);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    bench_remove_tree(dir);
    curl_global_cleanup();
    return 0;
}
