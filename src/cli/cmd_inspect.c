/* agora CLI — `agora inspect FILE`: a run file's provenance, status, size and final metrics (from
 * agora_h5_inspect), as text or JSON. A file left behind by a killed run is read too and reported as incomplete. */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/internal.h"

static const cli_opt inspect_opts[] = {{"json", 0, 0}, {"events", 'e', 0}, {NULL, 0, 0}};

static const char inspect_help[] =
    "usage: agora inspect FILE [--json] [--events]\n"
    "\n"
    "Shows what a run file holds: how it was made (version, scenario, seed, threads, space), whether the run\n"
    "completed (its status: complete, degraded and why, interrupted, failed; the LLM budget that stopped its calls),\n"
    "how many steps and snapshots it has, its events and its final metrics.\n"
    "\n"
    "options:\n"
    "      --json       everything as JSON\n"
    "  -e, --events     list every event (applied and rejected actions)\n"
    "  -h, --help       this help\n"
    "  -V, --version    print the version\n";

void cli_print_llm(FILE *out, const json_t *llm, int width, const char *what, const char *after)
{
    if (!json_is_object(llm))
        return;
    const json_int_t calls = json_integer_value(json_object_get(llm, "calls")),
                     skipped = json_integer_value(json_object_get(llm, "skipped")),
                     fallbacks = json_integer_value(json_object_get(llm, "fallbacks"));
    const json_t *used = json_object_get(llm, "used");
    if (calls == 0 && skipped == 0 && fallbacks == 0) /* rules only (offline): nothing to say */
        return;
    fprintf(out, "  %-*s %lld calls (%lld ok, %lld invalid, %lld failed)", width, "llm", (long long)calls,
            (long long)json_integer_value(json_object_get(llm, "ok")),
            (long long)json_integer_value(json_object_get(llm, "invalid")),
            (long long)json_integer_value(json_object_get(llm, "failed")));
    if (skipped > 0)
        fprintf(out, ", %lld not made", (long long)skipped);
    fprintf(out, ", %lld tokens", (long long)json_integer_value(json_object_get(used, "tokens")));
    if (json_number_value(json_object_get(used, "cost")) > 0)
        fprintf(out, ", cost %.4g", json_number_value(json_object_get(used, "cost")));
    if (fallbacks > 0)
        fprintf(out, "; %lld %s got no valid answer", (long long)fallbacks, what);
    fprintf(out, "\n");
    const json_t *b = json_object_get(llm, "budget");
    if (json_is_object(b)) {
        const json_t *v = json_object_get(b, "value");
        fprintf(out, "  %-*s %s = ", width, "llm budget", json_string_value(json_object_get(b, "limit")));
        if (json_is_integer(v))
            fprintf(out, "%lld", (long long)json_integer_value(v));
        else
            fprintf(out, "%g", json_number_value(v));
        fprintf(out, " reached at step %lld: %lld %s %s after it\n",
                (long long)json_integer_value(json_object_get(b, "reached_at_step")),
                (long long)json_integer_value(json_object_get(b, "skipped")), what, after);
    }
    const char *reason = json_string_value(json_object_get(llm, "degraded_reason"));
    if (json_is_true(json_object_get(llm, "degraded")) && reason)
        fprintf(out, "  %-*s %s\n", width, "degraded", reason);
}

static const char *attr_s(const json_t *attrs, const char *key)
{
    const char *s = json_string_value(json_object_get(attrs, key));
    return s ? s : "?";
}

static void print_text(const json_t *info, int list_events)
{
    const json_t *attrs = json_object_get(info, "attributes");
    const json_t *time = json_object_get(info, "time");
    const json_t *snaps = json_object_get(info, "snapshots");
    const json_t *events = json_object_get(info, "events");
    int complete = json_is_true(json_object_get(info, "complete"));
    const char *status = json_string_value(json_object_get(info, "status"));
    printf("%s\n", json_string_value(json_object_get(info, "path")));
    if (complete || (status && strcmp(status, "running") != 0))
        printf("  status      %s (finished %s)\n", status ? status : "?", attr_s(attrs, "finished"));
    else
        printf("  status      incomplete: the run did not close this file (still running, or killed); "
               "%lld steps were flushed\n",
               (long long)json_integer_value(json_object_get(time, "rows")));
    const char *why = json_string_value(json_object_get(attrs, "error"));
    if (why && *why)
        printf("  error       %s\n", why);
    const int interactions = strcmp(attr_s(attrs, "mode"), "interactions") == 0;
    cli_print_llm(stdout, json_object_get(json_object_get(attrs, "summary"), "llm"), 11,
                  interactions ? "LLM turns" : "persona decisions",
                  interactions ? "passed or were skipped" : "followed the rules");
    printf("  made by     agora %s, created %s\n", attr_s(attrs, "agora_version"), attr_s(attrs, "created"));
    printf("  scenario    %s (mode %s, model %s)\n", attr_s(attrs, "scenario_path"), attr_s(attrs, "mode"),
           attr_s(attrs, "model"));
    printf("  space       %s, %lld agents\n", attr_s(attrs, "space"),
           (long long)json_integer_value(json_object_get(attrs, "n_agents")));
    /* A seed above 2^63 comes back as a decimal string (JSON integers are signed 64-bit). */
    char *seed = json_dumps(json_object_get(attrs, "seed"), JSON_ENCODE_ANY);
    printf("  seed        %s, threads %lld\n", seed ? seed : "?",
           (long long)json_integer_value(json_object_get(attrs, "threads")));
    free(seed);
    printf("  time        %lld rows (steps %lld..%lld)", (long long)json_integer_value(json_object_get(time, "rows")),
           (long long)json_integer_value(json_object_get(time, "first")),
           (long long)json_integer_value(json_object_get(time, "last")));
    if (json_object_get(attrs, "wall_time_s"))
        printf(", wall time %.3f s", json_number_value(json_object_get(attrs, "wall_time_s")));
    printf("\n");
    printf("  snapshots   %lld", (long long)json_integer_value(json_object_get(snaps, "count")));
    const char *key;
    json_t *v;
    json_object_foreach(json_object_get(snaps, "fields"), key, v) {
        printf(" %s[", key);
        for (size_t i = 0; i < json_array_size(v); i++)
            printf("%s%lld", i ? "x" : "", (long long)json_integer_value(json_array_get(v, i)));
        printf("]");
    }
    printf("\n");
    printf("  events      %lld%s\n", (long long)json_integer_value(json_object_get(events, "count")),
           list_events || json_integer_value(json_object_get(events, "count")) == 0 ? "" : " (list them with --events)");
    if (list_events) {
        size_t i;
        json_array_foreach(json_object_get(events, "rows"), i, v) {
            const char *msg = json_string_value(json_object_get(v, "message"));
            printf("    step %-6lld %-10s %-9s %s%s%s\n", (long long)json_integer_value(json_object_get(v, "step")),
                   json_string_value(json_object_get(v, "source")), json_string_value(json_object_get(v, "status")),
                   json_string_value(json_object_get(v, "action")), msg && *msg ? "  " : "", msg ? msg : "");
        }
    }
    const json_t *personas = json_object_get(info, "personas"), *llm = json_object_get(info, "llm");
    if (json_array_size(personas) > 0) {
        printf("  personas    %zu\n", json_array_size(personas));
        size_t i;
        json_t *p;
        json_array_foreach(personas, i, p) {
            const char *id = json_string_value(json_object_get(p, "id"));
            const json_t *t = json_object_get(json_object_get(llm, "per_persona"), id ? id : "");
            const char *prov = json_string_value(json_object_get(p, "provider"));
            printf("    %-12s %-24s %s%s%s", id ? id : "?", json_string_value(json_object_get(p, "role")),
                   prov ? prov : "", prov && strcmp(prov, "offline") != 0 ? ":" : "",
                   prov && strcmp(prov, "offline") != 0 ? json_string_value(json_object_get(p, "model")) : " (rules)");
            if (t && json_integer_value(json_object_get(t, "calls")) > 0)
                printf("  calls %lld (ok %lld, invalid %lld, failed %lld), tokens %lld in / %lld out, latency mean "
                       "%.0f ms, max %.0f ms",
                       (long long)json_integer_value(json_object_get(t, "calls")),
                       (long long)json_integer_value(json_object_get(t, "ok")),
                       (long long)json_integer_value(json_object_get(t, "invalid")),
                       (long long)json_integer_value(json_object_get(t, "failed")),
                       (long long)json_integer_value(json_object_get(t, "prompt_tokens")),
                       (long long)json_integer_value(json_object_get(t, "completion_tokens")),
                       json_number_value(json_object_get(t, "latency_ms_mean")),
                       json_number_value(json_object_get(t, "latency_ms_max")));
            printf("\n");
        }
    }
    printf("  final metrics (step %lld):\n", (long long)json_integer_value(json_object_get(time, "last")));
    json_object_foreach(json_object_get(info, "metrics"), key, v) {
        if (json_is_number(v))
            printf("    %-22s %.6g\n", key, json_number_value(v));
        else /* NaN in the file: undefined at that step (e.g. no price ceiling, no trade) */
            printf("    %-22s n/a\n", key);
    }
}

int cmd_inspect(int argc, char **argv)
{
    cli_args a;
    int rc = cli_parse("inspect", argc, argv, inspect_opts, &a);
    if (rc != CLI_OK)
        return rc;
    if (cli_builtin(&a, inspect_help))
        return CLI_OK;
    if (a.n_pos != 1) {
        fprintf(stderr, "agora inspect: expected one run file (see agora inspect --help)\n");
        return CLI_USAGE;
    }
    json_t *info = NULL;
    agora_error err;
    if (agora_h5_inspect(a.pos[0], &info, &err) != 0) {
        cli_error("inspect", &err);
        return CLI_FAILED;
    }
    if (cli_has(&a, "json")) {
        char *s = agora__json_dumps(info, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        puts(s ? s : "{}");
        free(s);
    } else {
        print_text(info, cli_has(&a, "events"));
    }
    json_decref(info);
    return CLI_OK;
}
