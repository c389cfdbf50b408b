/* agora — LLM round latency: N personas asked at once through the real HTTP client against the loopback server
 * (tests/llm_server.py, started here) answering each request after a fixed delay. Prints the median wall time of a
 * round and its ratio to the delay: concurrency makes a round cost about one delay, not N.
 *
 *   bench/bench_llm [--personas N] [--delay-ms D] [--rounds R] [--provider openai|ollama] */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "agora/agora.h"
#include "agora/llm.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
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
    char script[512], port_file[512], log[512], server[1024];
    snprintf(script, sizeof script, "%s/script.json", dir);
    snprintf(port_file, sizeof port_file, "%s/port", dir);
    snprintf(log, sizeof log, "%s/log.jsonl", dir);
    snprintf(server, sizeof server, "%s/tests/llm_server.py", AGORA_SOURCE_DIR);
    FILE *f = fopen(script, "w");
    if (!f)
        return 1;
    fprintf(f, "{\"default\": {\"delay_ms\": %d, \"content\": \"{\\\"reasoning\\\": \\\"ok\\\", \\\"actions\\\": []}\"}}\n",
            delay_ms);
    fclose(f);
    pid_t pid = fork();
    if (pid == 0) {
        if (!freopen("/dev/null", "w", stdout)) /* the server announces its port there; we read the port file */
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
        fprintf(stderr, "bench_llm: the loopback server (%s) did not start\n", server);
        kill(pid, SIGTERM);
        return 1;
    }
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
    char (*tags)[32] = calloc((size_t)personas, sizeof *tags);
    double *wall = calloc((size_t)rounds, sizeof *wall);
    json_t *schema = json_loads("{\"type\": \"object\", \"properties\": {\"reasoning\": {\"type\": \"string\"}, "
                                "\"actions\": {\"type\": \"array\"}}, \"required\": [\"reasoning\", \"actions\"]}",
                                0, NULL);
    int failures = 0;
    for (int r = 0; r < rounds; r++) {
        for (int i = 0; i < personas; i++) {
            snprintf(tags[i], sizeof tags[i], "persona%d/step-%d", i, r);
            rq[i] = (agora_llm_request){.system = "You are a persona.", .user = "Observation: {}", .schema = schema,
                                        .tag = tags[i]};
        }
        agora_error err;
        double t0 = now_s();
        if (agora_llm_call_batch(&cfg, rq, personas, res, &err) != 0) {
            fprintf(stderr, "bench_llm: %s\n", err.msg);
            failures++;
        }
        wall[r] = now_s() - t0;
        for (int i = 0; i < personas; i++) {
            failures += res[i].status != AGORA_LLM_OK;
            agora_llm_result_free(&res[i]);
        }
    }
    qsort(wall, (size_t)rounds, sizeof *wall, cmp_double);
    double med = wall[rounds / 2];
    printf("agora %s bench_llm: %d personas per round, server delay %d ms, %s protocol, %d rounds\n",
           agora_version(), personas, delay_ms, provider, rounds);
    printf("round wall time: median %.1f ms (min %.1f, max %.1f) = %.3f x the delay; %d failed calls\n", med * 1e3,
           wall[0] * 1e3, wall[rounds - 1] * 1e3, delay_ms > 0 ? med * 1e3 / delay_ms : 0.0, failures);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    json_decref(schema);
    free(rq);
    free(res);
    free(tags);
    free(wall);
    curl_global_cleanup();
    unlink(script);
    unlink(port_file);
    unlink(log);
    rmdir(dir);
    return failures ? 1 : 0;
}
