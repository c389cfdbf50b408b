/* bench_mcp — what an MCP tool call costs on top of the work it does, and how fast live worlds snapshot and restore.
 *
 * The server runs in-process (agora_mcp_handle with a write callback that keeps the last reply), so the figures
 * are the server's own: JSON-RPC parsing, argument validation against the tool's schema, the tool, and the reply's
 * serialisation; a stdio client adds a pipe round trip. Printed per call, medians of `reps` calls:
 *   - ping and list_worlds (protocol overhead),
 *   - advance_world by 1 step on a small world (overhead per call) and by `steps` on the big one (agent-updates/s),
 *     and the same steps by the library alone (agora_world_step + agora_world_measure) on an identical world,
 *   - snapshot_world and restore_world of the big world (ms, and GB/s of agent state),
 *   - get_agent_state of 100,000 agents (ms).
 *
 * usage: bench_mcp [--side N (big grid N x N, default 1000)] [--steps S (default 20)] [--reps R (default 9)]
 *                  [--threads T] */
#include <string.h>

#include "bench_util.h"

typedef struct sink {
    char *last;
    size_t bytes;
} sink;

static void keep(void *ud, const char *line, size_t len)
{
    sink *s = ud;
    free(s->last);
    s->last = strndup(line, len);
    s->bytes = len;
}

static double call(agora_mcp *srv, sink *s, const char *line)
{
    double t0 = bench_now();
    agora_mcp_handle(srv, line, strlen(line));
    double dt = bench_now() - t0;
    if (!s->last || strstr(s->last, "\"isError\":true") || strstr(s->last, "\"error\"")) {
        fprintf(stderr, "bench_mcp: %s\n  -> %s\n", line, s->last ? s->last : "(no reply)");
        exit(1);
    }
    return dt;
}

static double median_call(agora_mcp *srv, sink *s, const char *line, int reps)
{
    double *t = calloc((size_t)reps, sizeof *t);
    for (int r = 0; r < reps; r++)
        t[r] = call(srv, s, line);
    qsort(t, (size_t)reps, sizeof *t, bench_cmp_double);
    double m = t[reps / 2];
    free(t);
    return m;
}

int main(int argc, char **argv)
{
    agora__omp_wait_policy(argv); /* the CLI's default wait policy (core/ompenv.h) */
    long side = 1000, steps = 20, reps = 9, threads = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--side") == 0)
            side = atol(argv[i + 1]);
        else if (strcmp(argv[i], "--steps") == 0)
            steps = atol(argv[i + 1]);
        else if (strcmp(argv[i], "--reps") == 0)
            reps = atol(argv[i + 1]);
        else if (strcmp(argv[i], "--threads") == 0)
            threads = atol(argv[i + 1]);
        else {
            fprintf(stderr, "usage: bench_mcp [--side N] [--steps S] [--reps R] [--threads T]\n");
            return 2;
        }
    }
    if (side < 10 || steps < 1 || reps < 1) {
        fprintf(stderr, "bench_mcp: --side >= 10, --steps >= 1, --reps >= 1\n");
        return 2;
    }
    agora_mcp_options opt = {.output_dir = "/tmp/bench_mcp", .threads = (int)threads};
    agora_mcp *srv = NULL;
    sink s = {0};
    agora_error err;
    if (agora_mcp_create(&opt, keep, &s, &srv, &err) != 0) {
        fprintf(stderr, "bench_mcp: %s\n", err.msg);
        return 1;
    }
    char line[1024];
    call(srv, &s,
         "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{\"protocolVersion\":"
         "\"2025-06-18\",\"capabilities\":{},\"clientInfo\":{\"name\":\"bench\",\"version\":\"1\"}}}");
    call(srv, &s,
         "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"create_world\","
         "\"arguments\":{\"name\":\"small\",\"model\":\"sir\",\"space\":{\"kind\":\"grid\",\"width\":32,"
         "\"height\":32},\"seed\":1}}}");
    snprintf(line, sizeof line,
             "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{\"name\":\"create_world\","
             "\"arguments\":{\"name\":\"big\",\"model\":\"sir\",\"space\":{\"kind\":\"grid\",\"width\":%ld,"
             "\"height\":%ld},\"params\":{\"beta\":0.08,\"gamma\":0.05,\"initial_infected\":100},\"seed\":1}}}",
             side, side);
    call(srv, &s, line);
    const double n = (double)side * (double)side;

    printf("bench_mcp: in-process server, big world SIR grid %ldx%ld (%.0f agents), medians of %ld calls\n", side, side,
           n, reps);
    double ping = median_call(srv, &s, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"ping\"}", (int)reps);
    printf("  ping                         %10.1f us\n", ping * 1e6);
    double lw = median_call(srv, &s,
                            "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"tools/call\",\"params\":{\"name\":"
                            "\"list_worlds\",\"arguments\":{}}}",
                            (int)reps);
    printf("  list_worlds                  %10.1f us\n", lw * 1e6);
    double adv1 = median_call(srv, &s,
                              "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"tools/call\",\"params\":{\"name\":"
                              "\"advance_world\",\"arguments\":{\"world\":\"small\",\"steps\":1}}}",
                              (int)reps);
    printf("  advance_world 1 step, 1024 agents %5.1f us per call\n", adv1 * 1e6);

    snprintf(line, sizeof line,
             "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"tools/call\",\"params\":{\"name\":\"advance_world\","
             "\"arguments\":{\"world\":\"big\",\"steps\":%ld}}}",
             steps);
    double adv = median_call(srv, &s, line, (int)reps);
    printf("  advance_world %ld steps         %10.2f ms  %.3g agent-updates/s (reply %zu bytes)\n", steps, adv * 1e3,
           n * (double)steps / adv, s.bytes);
    /* The same world driven by the library alone, over the same steps: step and measure, as advance_world does. */
    char spec[256];
    snprintf(spec, sizeof spec, "{\"kind\": \"grid\", \"width\": %ld, \"height\": %ld}", side, side);
    agora_space *space = bench_space("bench_mcp", spec);
    agora_world *w = bench_world("bench_mcp", "sir", space,
                                 json_pack("{s:f, s:f, s:i}", "beta", 0.08, "gamma", 0.05, "initial_infected", 100),
                                 (int)threads);
    double *m = calloc((size_t)agora_model_n_metrics(agora_world_model(w)), sizeof *m);
    double *td = calloc((size_t)reps, sizeof *td);
    for (int r = 0; r < reps; r++) {
        double t0 = bench_now();
        for (long k = 0; k < steps; k++) {
            agora_world_step(w);
            agora_world_measure(w, m);
        }
        td[r] = bench_now() - t0;
    }
    qsort(td, (size_t)reps, sizeof *td, bench_cmp_double);
    printf("  the same steps, library only   %10.2f ms  (MCP overhead %.2f ms per call)\n", td[reps / 2] * 1e3,
           (adv - td[reps / 2]) * 1e3);
    free(td);
    free(m);
    agora_world_destroy(w);
    agora_space_destroy(space);

    call(srv, &s,
         "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\",\"params\":{\"name\":\"snapshot_world\","
         "\"arguments\":{\"world\":\"big\"}}}");
    /* Snapshots are limited per world: take one, then time restores of it, and time snapshots on copies. */
    double rest = median_call(srv, &s,
                              "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"tools/call\",\"params\":{\"name\":"
                              "\"restore_world\",\"arguments\":{\"world\":\"big\",\"snapshot\":\"s1\"}}}",
                              (int)reps);
    double *ts = calloc((size_t)reps, sizeof *ts);
    for (int r = 0; r < reps; r++) {
        call(srv, &s,
             "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"tools/call\",\"params\":{\"name\":\"copy_world\","
             "\"arguments\":{\"world\":\"big\",\"name\":\"branch\"}}}");
        ts[r] = call(srv, &s,
                     "{\"jsonrpc\":\"2.0\",\"id\":10,\"method\":\"tools/call\",\"params\":{\"name\":"
                     "\"snapshot_world\",\"arguments\":{\"world\":\"branch\"}}}");
        call(srv, &s,
             "{\"jsonrpc\":\"2.0\",\"id\":11,\"method\":\"tools/call\",\"params\":{\"name\":"
             "\"delete_world\",\"arguments\":{\"world\":\"branch\"}}}");
    }
    qsort(ts, (size_t)reps, sizeof *ts, bench_cmp_double);
    const double snap = ts[reps / 2];
    free(ts);
    printf("  snapshot_world               %10.2f ms  (%.1f ns per agent)\n", snap * 1e3, snap / n * 1e9);
    printf("  restore_world                %10.2f ms  (%.1f ns per agent)\n", rest * 1e3, rest / n * 1e9);
    const long take = n < 100000 ? (long)n : 100000;
    snprintf(line, sizeof line,
             "{\"jsonrpc\":\"2.0\",\"id\":12,\"method\":\"tools/call\",\"params\":{\"name\":\"get_agent_state\","
             "\"arguments\":{\"world\":\"big\",\"range\":{\"start\":0,\"stop\":%ld}}}}",
             take);
    double get = median_call(srv, &s, line, (int)reps);
    printf("  get_agent_state %ld agents %9.2f ms  (reply %zu bytes)\n", take, get * 1e3, s.bytes);
    agora_mcp_destroy(srv);
    free(s.last);
    return 0;
}
