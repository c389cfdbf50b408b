/* agora CLI — `agora run` and `agora validate`: load a scenario, apply command-line overrides, then run it (with a
 * progress bar on a terminal, event lines, a summary at the end) or just check it.
 *
 * Ctrl-C, SIGTERM, SIGHUP and a closed stdout stop a run cleanly (signals.c): the handler only sets a flag that
 * agora_run polls between steps; the file is flushed and closed with status "interrupted" and the exit code is 128
 * + the signal. A second Ctrl-C kills the process (the file keeps what was flushed). */
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/internal.h"

static const cli_opt run_opts[] = {
    {"output", 'o', 1},       {"seed", 0, 1},      {"steps", 0, 1},     {"threads", 't', 1},   {"set", 's', 1},
    {"quiet", 'q', 0},        {"verbose", 'v', 0}, {"log-level", 0, 1}, {"no-progress", 0, 0}, {"json", 0, 0},
    {"print", 0, 0},          {"llm", 0, 1},       {"llm-url", 0, 1},   {"replay", 0, 1},      {"replay-until", 0, 1},
    {"replay-lenient", 0, 0}, {"checkpoint-every", 0, 1}, {"resume", 0, 1}, {"force", 0, 0},
    {"plugin", 0, 1},         {NULL, 0, 0}};

static const char run_help[] =
    "usage: agora run SCENARIO [options]\n"
    "       agora run --resume FILE [SCENARIO] [options]\n"
    "\n"
    "Runs a scenario (YAML or JSON) and writes one HDF5 file: metrics every step, snapshots, events, provenance.\n"
    "\n"
    "options:\n"
    "  -o, --output FILE     run file to write (default: the scenario's output.path, else runs/<name>.h5); an\n"
    "                        existing file there must be an agora file (never the scenario itself)\n"
    "      --force           write the run file even over a file that is not an agora file\n"
    "      --seed N          random seed (same scenario + seed = bit-identical results at any thread count)\n"
    "      --steps N         number of steps\n"
    "  -t, --threads N       OpenMP threads (default: all cores; more than the machine has are capped, with a\n"
    "                        warning); results do not depend on it\n"
    "  -s, --set KEY=VALUE   override any scenario key, e.g. --set params.beta=0.1 --set space.width=500\n"
    "                        (checked like the file: unknown keys and out-of-range values are errors)\n"
    "  -q, --quiet           no progress bar, no event lines, no summary\n"
    "  -v, --verbose         log what the run does (same as --log-level info)\n"
    "      --log-level L     error, warn (default), info or debug\n"
    "      --no-progress     no progress bar even on a terminal\n"
    "      --json            print the result as JSON on stdout instead of the summary\n"
    "      --llm SPEC        mixed runs: offline (the personas' rules, no LLM), ollama:MODEL or openai:MODEL\n"
    "                        (replaces the scenario's llm provider and model)\n"
    "      --llm-url URL     mixed runs: the LLM server's base URL (e.g. http://127.0.0.1:11434); API keys come\n"
    "                        from the environment (OPENAI_API_KEY or the scenario's llm.api_key_env)\n"
    "      --replay RUN.h5   mixed runs: answer every persona call from that run's recorded transcript, with no\n"
    "                        network; the same scenario and seed give bit-identical datasets. A prompt that\n"
    "                        differs from the recording is an error naming the step and persona\n"
    "      --replay-until N  answer from the recording up to step N, then ask the live LLM (a counterfactual fork)\n"
    "      --replay-lenient  use the recorded replies even where the prompts differ\n"
    "      --checkpoint-every N  save the run's state every N steps (and when interrupted) to FILE.ckpt beside the\n"
    "                        run file FILE; removed when the run completes\n"
    "      --resume FILE     go on with FILE (a run killed or interrupted after a checkpoint) from its last\n"
    "                        checkpoint; the result is exactly the uninterrupted run's. The scenario is the one\n"
    "                        recorded in FILE, or SCENARIO with the same overrides (anything else is refused)\n"
    "      --plugin FILE.so  load the models of a C plug-in first (repeatable; also AGORA_PLUGINS=A.so:B.so)\n"
    "  -h, --help            this help\n"
    "  -V, --version         print the version\n"
    "\n"
    "\n"
    "Every scenario error is reported at once (up to 20), each with file:line:col and the key; so are problems found\n"
    "while building the run (a missing edge-list file, a count larger than the population, an output file that is\n"
    "not an agora file). An intervention after a shortened --steps is skipped with a warning.\n"
    "\n"
    "LLM limits of the run (scenario keys, also with --set): llm.max_calls, llm.max_tokens (prompt + completion\n"
    "tokens of all calls together), llm.max_cost (from llm.cost_per_1k_prompt / cost_per_1k_completion); once one is\n"
    "reached the personas follow their rules, and the summary says so.\n"
    "\n"
    "exit status: 0 complete, 1 the run failed, 2 bad usage or scenario, 3 degraded (the run reached its end, but\n"
    "some persona decisions got no answer from the LLM: no server, the circuit breaker, invalid replies; the rules\n"
    "stood in and the summary says why), 128+N interrupted by signal N (130 Ctrl-C, 143 SIGTERM, 129 SIGHUP,\n"
    "141 stdout closed); the file is then closed as \"interrupted\"\n";

static const char validate_help[] =
    "usage: agora validate SCENARIO [--set KEY=VALUE]... [run options] [--print]\n"
    "\n"
    "Checks a scenario and its overrides without running it or writing anything: everything agora run checks\n"
    "before its first step. Every error in the file is reported (up to 20), each with file:line:col and the key;\n"
    "then the run's set-up is checked: the space is built (an edge-list file must be there and well formed), the\n"
    "parameters are checked against the population (a count may not exceed it), the personas and a --replay\n"
    "recording are read, and the output file (-o or output.path) must be absent or an agora file. Warnings (threads\n"
    "capped at the machine's cores, interventions a shortened --steps skips) are printed too.\n"
    "\n"
    "options:\n"
    "  -s, --set KEY=VALUE   override a key, checked like the file; agora run's other options (-o, --steps,\n"
    "                        --seed, --threads, --llm, --replay, --force, ...) are taken too and checked alike\n"
    "      --print           print the effective configuration (defaults filled in) as JSON\n"
    "      --plugin FILE.so  load the models of a C plug-in first (repeatable; also AGORA_PLUGINS=A.so:B.so)\n"
    "  -h, --help            this help\n"
    "  -V, --version         print the version\n"
    "\n"
    "exit status: 0 valid, 2 not\n";

void cli_errors(const char *cmd, const agora_scenario_errors *errs)
{
    int unknown_model = 0;
    for (int i = 0; i < errs->n; i++) {
        cli_error(cmd, &errs->e[i]);
        unknown_model |= strstr(errs->e[i].msg, "unknown model \"") != NULL;
    }
    if (unknown_model)
        fprintf(stderr, "agora %s: a model from a C plug-in needs --plugin FILE.so (or AGORA_PLUGINS)\n", cmd);
    if (errs->n > 1 || errs->more)
        fprintf(stderr, "agora %s: %d errors%s\n", cmd, errs->n,
                errs->more ? " shown, and more (fix these and check again)" : "");
}

/* The exit status of a run that failed: 2 when the scenario or the command line is at fault (a value that does not
 * fit its schema, a syntax error, or an error located in the scenario file or an override: a missing edge-list
 * file, a count larger than the population, an output file agora may not overwrite), else 1. */
static int failure_status(const agora_scenario *sc, const agora_error *err)
{
    if (err->code == AGORA_ESCHEMA || err->code == AGORA_EPARSE)
        return CLI_USAGE;
    if (err->code == AGORA_ENOMEM || err->code == AGORA_EINTERNAL || err->code == AGORA_EHDF5)
        return CLI_FAILED;
    const char *path = agora_scenario_path(sc);
    return strncmp(err->where, "--set ", 6) == 0 || (path && strcmp(err->where, path) == 0) ? CLI_USAGE : CLI_FAILED;
}

agora_scenario *cli_load_scenario(const char *cmd, const cli_args *a, int *rc)
{
    agora_scenario *sc = NULL;
    *rc = CLI_USAGE;
    if (a->n_pos != 1) {
        fprintf(stderr, "agora %s: expected one scenario file (see agora %s --help)\n", cmd, cmd);
        return NULL;
    }
    agora_scenario_errors errs;
    if (agora_scenario_load_report(a->pos[0], &sc, &errs) != 0) {
        cli_errors(cmd, &errs);
        return NULL;
    }
    return cli_apply_overrides(cmd, a, sc, rc);
}

agora_scenario *cli_apply_overrides(const char *cmd, const cli_args *a, agora_scenario *sc, int *rc)
{
    agora_scenario_errors errs;
    *rc = CLI_USAGE;
    static const struct {
        const char *opt, *key;
        int numeric;
    } shorthand[] = {{"seed", "seed", 1},
                     {"steps", "steps", 1},
                     {"rounds", "rounds", 1},
                     {"threads", "threads", 1},
                     {"output", "output.path", 0}};
    char **list = calloc(4 * (size_t)a->n_opts + 1, sizeof *list); /* --llm may add four */
    int n_list = 0;
    if (!list) {
        fprintf(stderr, "agora %s: out of memory\n", cmd);
        goto fail;
    }
    for (int i = 0; i < a->n_opts; i++) {
        const char *name = a->opts[i].opt->name, *value = a->opts[i].value;
        char assignment[4200];
        if (strcmp(name, "llm") == 0 || strcmp(name, "llm-url") == 0) {
            /* --llm PROVIDER:MODEL and --llm-url URL are overrides of the scenario's llm block, checked like it;
             * --llm offline is a run option (the personas' rules, whatever the scenario configures). */
            if (strcmp(name, "llm") == 0 && strcmp(value, "offline") == 0)
                continue;
            char *q1 = NULL;
            const char *colon = strchr(value, ':');
            char prov[32] = "";
            if (strcmp(name, "llm") == 0) {
                snprintf(prov, sizeof prov, "%.*s", colon ? (int)(colon - value) : 0, value);
                if (!colon || !colon[1] || !agora_llm_provider_from_name(prov)) {
                    fprintf(stderr, "agora %s: --llm expects offline, ollama:MODEL or openai:MODEL, got \"%s\"\n", cmd,
                            value);
                    goto fail;
                }
            }
            json_t *js = json_string(strcmp(name, "llm") == 0 ? colon + 1 : value);
            q1 = js ? json_dumps(js, JSON_ENCODE_ANY) : NULL;
            json_decref(js);
            if (!q1) {
                fprintf(stderr, "agora %s: --%s expects UTF-8 text\n", cmd, name);
                goto fail;
            }
            int ok = 1;
            if (strcmp(name, "llm-url") == 0) {
                snprintf(assignment, sizeof assignment, "llm.base_url=%s", q1);
                ok = (list[n_list++] = strdup(assignment)) != NULL;
            } else {
                const char *old =
                    json_string_value(json_object_get(json_object_get(agora_scenario_config(sc), "llm"), "provider"));
                snprintf(assignment, sizeof assignment, "llm.provider=%s", prov);
                ok = (list[n_list++] = strdup(assignment)) != NULL;
                snprintf(assignment, sizeof assignment, "llm.model=%s", q1);
                ok = ok && (list[n_list++] = strdup(assignment)) != NULL;
                if (old && strcmp(old, prov) != 0) { /* another provider: its own default URL and key variable */
                    ok = ok && (list[n_list++] = strdup("llm.base_url=")) != NULL;
                    ok = ok && (list[n_list++] = strdup("llm.api_key_env=")) != NULL;
                }
            }
            free(q1);
            if (!ok) {
                fprintf(stderr, "agora %s: out of memory\n", cmd);
                goto fail;
            }
            continue;
        }
        if (strcmp(name, "set") == 0) {
            snprintf(assignment, sizeof assignment, "%s", value);
        } else {
            size_t k = 0;
            while (k < sizeof shorthand / sizeof shorthand[0] && strcmp(shorthand[k].opt, name) != 0)
                k++;
            if (k == sizeof shorthand / sizeof shorthand[0])
                continue;
            char optname[32];
            snprintf(optname, sizeof optname, "--%s", name);
            if (shorthand[k].numeric && cli_uint(cmd, optname, value) < 0)
                goto fail;
            /* A path is given as a quoted YAML string so that names like "true" or "1.h5" stay strings. */
            if (shorthand[k].numeric) {
                snprintf(assignment, sizeof assignment, "%s=%s", shorthand[k].key, value);
            } else {
                json_t *js = json_string(value);
                char *q = js ? json_dumps(js, JSON_ENCODE_ANY) : NULL;
                json_decref(js);
                if (!q) {
                    fprintf(stderr, "agora %s: %s expects a UTF-8 path\n", cmd, optname);
                    goto fail;
                }
                snprintf(assignment, sizeof assignment, "%s=%s", shorthand[k].key, q);
                free(q);
            }
        }
        if (!(list[n_list++] = strdup(assignment))) {
            fprintf(stderr, "agora %s: out of memory\n", cmd);
            goto fail;
        }
    }
    /* All at once: overrides that only make sense together (--steps 20 with interventions moved earlier) pass. */
    if (agora_scenario_set_all_report(sc, (const char *const *)list, n_list, &errs) != 0) {
        cli_errors(cmd, &errs);
        goto fail;
    }
    for (int i = 0; i < n_list; i++)
        free(list[i]);
    free(list);
    *rc = CLI_OK;
    return sc;
fail:
    for (int i = 0; list && i < n_list; i++)
        free(list[i]);
    free(list);
    agora_scenario_destroy(sc);
    return NULL;
}

/* ---- progress bar ------------------------------------------------------------------------------------------------ */

typedef struct run_view {
    int bar;      /* draw a progress bar (stderr is a terminal) */
    int events;   /* print event lines */
    int drawn;    /* a bar is on the current line */
    int headline; /* index of the first "peak" metric, shown on the bar, or -1 */
} run_view;

static void clear_bar(run_view *v)
{
    if (v->drawn) {
        fputs("\r\033[K", stderr);
        v->drawn = 0;
    }
}

static int on_progress(void *ud, const agora_progress *p)
{
    run_view *v = ud;
    if (!v->bar)
        return 0;
    const int width = 28;
    double frac = p->steps > 0 ? (double)p->step / (double)p->steps : 1.0;
    int fill = (int)(frac * width);
    char bar[64];
    for (int i = 0; i < width; i++)
        bar[i] = i < fill ? '#' : '-';
    bar[width] = '\0';
    double rate = p->elapsed_s > 0 ? (double)p->step * (double)p->n_agents / p->elapsed_s : 0;
    double eta = frac > 0 ? p->elapsed_s * (1 - frac) / frac : 0;
    char metric[96] = "";
    if (v->headline >= 0)
        snprintf(metric, sizeof metric, "  %s %.6g", p->model->metrics[v->headline].name, p->metrics[v->headline]);
    fprintf(stderr, "\r\033[K[%s] %3.0f%%  step %lld/%lld%s  %.3g agent-updates/s  ETA %.1fs", bar, 100 * frac,
            (long long)p->step, (long long)p->steps, metric, rate, eta);
    fflush(stderr);
    v->drawn = 1;
    return 0;
}

/* One line per persona decision: who, how (llm, rules, fallback), what, why. */
static void on_decision(void *ud, const agora_persona_decision *d)
{
    run_view *v = ud;
    if (!v->events)
        return;
    clear_bar(v);
    fprintf(stderr, "step %lld: %s (%s) %s%s%s%s\n", (long long)d->step, d->persona, d->source,
            d->n_actions ? d->actions : "does nothing", d->n_applied < d->n_actions ? " [some rejected]" : "",
            d->reasoning[0] ? " - " : "", d->reasoning);
}

static void on_event(void *ud, int64_t step, const char *source, const char *action, const char *status,
                     const char *message)
{
    run_view *v = ud;
    if (!v->events)
        return;
    if (strncmp(source, "persona:", 8) == 0 && strcmp(status, "applied") == 0)
        return; /* the decision line shows it */
    clear_bar(v);
    fprintf(stderr, "step %lld: %s %s %s%s%s\n", (long long)step, source, status, action,
            message && *message ? ": " : "", message ? message : "");
}

/* ---- summary ----------------------------------------------------------------------------------------------------- */

/* A summary value: an integer when it is one, else 4 significant digits; "n/a" for null (undefined, e.g. NaN). */
static void print_value(const json_t *v)
{
    if (!json_is_number(v)) {
        printf("n/a");
        return;
    }
    const double x = json_number_value(v);
    if (x == floor(x) && fabs(x) < 1e15)
        printf("%.0f", x);
    else
        printf("%.4g", x);
}

static void print_summary(const agora_scenario *sc, const agora_run_result *r)
{
    const agora_model *model = agora_scenario_model(sc);
    const json_t *cfg = agora_scenario_config(sc);
    const json_t *metrics = json_object_get(r->summary, "metrics");
    printf("%s: %s, %lld agents, %lld steps, seed %lld, %d threads\n", json_string_value(json_object_get(cfg, "name")),
           model->name, (long long)r->n_agents, (long long)r->steps_done,
           (long long)json_integer_value(json_object_get(cfg, "seed")), r->threads);
    for (int i = 0; model->metrics[i].name; i++) {
        const char *kind = model->metrics[i].summary;
        const json_t *mj = json_object_get(metrics, model->metrics[i].name);
        if (!kind || !mj)
            continue;
        if (strcmp(kind, "peak") == 0) {
            printf("  peak %-16s ", model->metrics[i].name);
            print_value(json_object_get(mj, "peak"));
            printf(" at step %lld\n", (long long)json_integer_value(json_object_get(mj, "peak_step")));
        } else {
            printf("  final %-15s ", model->metrics[i].name);
            print_value(json_object_get(mj, "final"));
            printf("\n");
        }
    }
    printf("  wall time              %.3f s (model steps %.3f s)\n", r->wall_s, r->step_s);
    printf("  speed                  %.3g agent-updates/s (%.3g in model steps)\n", r->updates_per_s,
           r->step_s > 0 ? (double)r->steps_done * (double)r->n_agents / r->step_s : 0.0);
    cli_print_llm(stdout, json_object_get(r->summary, "llm"), 22, "persona decisions", "followed the rules");
    printf("  output                 %s (%s)\n", r->output, r->status);
}

static void print_json(const agora_run_result *r)
{
    json_t *o = json_pack("{s:s, s:s, s:I, s:I, s:i, s:f, s:f, s:f, s:O}", "status", r->status, "output", r->output,
                          "steps_done", (json_int_t)r->steps_done, "n_agents", (json_int_t)r->n_agents, "threads",
                          r->threads, "wall_s", r->wall_s, "step_s", r->step_s, "updates_per_s", r->updates_per_s,
                          "summary", r->summary ? r->summary : json_null());
    char *s = agora__json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (s)
        puts(s);
    free(s);
    json_decref(o);
}

static int set_log_level(const char *cmd, const cli_args *a)
{
    if (cli_has(a, "verbose"))
        cli_logger.level = AGORA_LOG_INFO;
    if (cli_has(a, "quiet"))
        cli_logger.level = AGORA_LOG_ERROR;
    const char *lv = cli_get(a, "log-level");
    if (lv && agora_log_level_parse(lv, &cli_logger.level) != 0) {
        fprintf(stderr, "agora %s: --log-level expects error, warn, info or debug, got \"%s\"\n", cmd, lv);
        return CLI_USAGE;
    }
    return CLI_OK;
}

/* The scenario of a run to resume: SCENARIO with its overrides, or else the effective configuration FILE records
 * (its relative paths resolved against the directory of the scenario it was made from), then output.path = FILE.
 * Either way agora_run checks that it is the configuration the run started with. */
static agora_scenario *scenario_to_resume(const cli_args *a, const char *file, int *rc)
{
    *rc = CLI_USAGE;
    if (cli_get(a, "output")) {
        fprintf(stderr, "agora run: --resume goes on writing %s itself; leave out -o\n", file);
        return NULL;
    }
    agora_scenario *sc = NULL;
    agora_error err;
    if (a->n_pos > 1) {
        fprintf(stderr, "agora run: --resume takes the run file and at most one scenario\n");
        return NULL;
    }
    if (a->n_pos == 1) {
        if (!(sc = cli_load_scenario("run", a, rc)))
            return NULL;
    } else {
        json_t *info = NULL;
        if (agora_h5_inspect(file, &info, &err) != 0) {
            cli_error("run", &err);
            return NULL;
        }
        const json_t *attrs = json_object_get(info, "attributes");
        const json_t *config = json_object_get(attrs, "config");
        const char *from = json_string_value(json_object_get(attrs, "scenario_path"));
        char *text = json_is_object(config) ? json_dumps(config, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        char dir[4096] = ".";
        if (from && strrchr(from, '/'))
            snprintf(dir, sizeof dir, "%.*s", (int)(strrchr(from, '/') - from), from);
        if (!text) {
            fprintf(stderr, "agora run: %s records no configuration to resume from (not an agora run file?)\n", file);
        } else if (agora_scenario_parse(text, strlen(text), from && *from ? from : file, dir[0] ? dir : "/", &sc,
                                        &err) != 0) {
            cli_error("run", &err);
            sc = NULL;
        }
        free(text);
        json_decref(info);
        if (!sc || !(sc = cli_apply_overrides("run", a, sc, rc)))
            return NULL;
    }
    json_t *js = json_string(file);
    char *q = js ? json_dumps(js, JSON_ENCODE_ANY) : NULL;
    json_decref(js);
    char assignment[4200];
    snprintf(assignment, sizeof assignment, "output.path=%s", q ? q : "\"\"");
    free(q);
    if (agora_scenario_set(sc, assignment, &err) != 0) {
        cli_error("run", &err);
        agora_scenario_destroy(sc);
        return NULL;
    }
    *rc = CLI_OK;
    return sc;
}

int cmd_run(int argc, char **argv)
{
    cli_args a;
    int rc = cli_parse("run", argc, argv, run_opts, &a);
    if (rc != CLI_OK)
        return rc;
    if (cli_builtin(&a, run_help))
        return CLI_OK;
    if ((rc = set_log_level("run", &a)) != CLI_OK || (rc = cli_load_plugins("run", &a)) != CLI_OK)
        return rc;
    const char *resume = cli_get(&a, "resume");
    agora_scenario *sc = resume ? scenario_to_resume(&a, resume, &rc) : cli_load_scenario("run", &a, &rc);
    if (!sc)
        return rc;
    long long ckpt_every = 0;
    if (cli_get(&a, "checkpoint-every") &&
        (ckpt_every = cli_uint("run", "--checkpoint-every", cli_get(&a, "checkpoint-every"))) < 1) {
        if (ckpt_every == 0)
            fprintf(stderr, "agora run: --checkpoint-every expects a number of steps >= 1\n");
        agora_scenario_destroy(sc);
        return CLI_USAGE;
    }

    int quiet = cli_has(&a, "quiet"), json = cli_has(&a, "json");
    const agora_model *model = agora_scenario_model(sc);
    if (!model) {
        fprintf(stderr, "agora run: %s has mode: interactions; run it with: agora interact %s\n",
                agora_scenario_path(sc), agora_scenario_path(sc));
        agora_scenario_destroy(sc);
        return CLI_USAGE;
    }
    run_view view = {
        .bar = !quiet && !cli_has(&a, "no-progress") && isatty(STDERR_FILENO), .events = !quiet, .headline = -1};
    for (int i = 0; model->metrics[i].name && view.headline < 0; i++)
        if (model->metrics[i].summary && strcmp(model->metrics[i].summary, "peak") == 0)
            view.headline = i;

    int64_t replay_until = -1;
    if (cli_get(&a, "replay-until")) {
        long long v = cli_uint("run", "--replay-until", cli_get(&a, "replay-until"));
        if (v < 0) {
            agora_scenario_destroy(sc);
            return CLI_USAGE;
        }
        if (!cli_get(&a, "replay")) {
            fprintf(stderr, "agora run: --replay-until needs --replay RUN.h5\n");
            agora_scenario_destroy(sc);
            return CLI_USAGE;
        }
        replay_until = v;
    }
    if (cli_get(&a, "replay") && !json_object_get(agora_scenario_config(sc), "personas")) {
        fprintf(stderr, "agora run: --replay needs a scenario with personas (mode: mixed)\n");
        agora_scenario_destroy(sc);
        return CLI_USAGE;
    }
    cli_signals_install();
    agora_run_options opt = {.logger = &cli_logger,
                             .progress = on_progress,
                             .on_event = on_event,
                             .on_decision = on_decision,
                             .llm_offline = cli_get(&a, "llm") && strcmp(cli_get(&a, "llm"), "offline") == 0,
                             .replay = cli_get(&a, "replay"),
                             .replay_until = replay_until,
                             .replay_lenient = cli_has(&a, "replay-lenient"),
                             .ud = &view,
                             .progress_interval_s = 0.1,
                             .cancel = &cli_cancel,
                             .checkpoint_every = ckpt_every,
                             .resume = resume != NULL,
                             .force = cli_has(&a, "force")};
    agora_run_result res;
    agora_error err;
    agora_error_clear(&err);
    int run_rc = agora_run(sc, &opt, &res, &err);
    clear_bar(&view);
    cli_signals_restore();
    if (run_rc != 0) {
        cli_error("run", &err);
        rc = res.started ? CLI_FAILED
             : resume && (err.code == AGORA_ENOTFOUND || strcmp(err.where, "--resume") == 0) ? CLI_USAGE
                                                                                              : failure_status(sc, &err);
    } else {
        if (json)
            print_json(&res);
        else if (!quiet)
            print_summary(sc, &res);
        rc = cli_signalled() || strcmp(res.status, "interrupted") == 0 ? cli_signal_exit_code()
             : strcmp(res.status, "degraded") == 0                      ? CLI_DEGRADED
                                                                        : CLI_OK;
        if (rc == CLI_DEGRADED)
            fprintf(stderr, "agora run: warn: the run is degraded (exit status 3): %s\n",
                    json_string_value(json_object_get(json_object_get(res.summary, "llm"), "degraded_reason")));
    }
    agora_run_result_free(&res);
    agora_scenario_destroy(sc);
    return rc;
}

int cmd_validate(int argc, char **argv)
{
    cli_args a;
    int rc = cli_parse("validate", argc, argv, run_opts, &a);
    if (rc != CLI_OK)
        return rc;
    if (cli_builtin(&a, validate_help))
        return CLI_OK;
    if ((rc = set_log_level("validate", &a)) != CLI_OK || (rc = cli_load_plugins("validate", &a)) != CLI_OK)
        return rc;
    agora_scenario *sc = cli_load_scenario("validate", &a, &rc);
    if (!sc)
        return rc;
    /* what agora run checks before its first step, writing nothing */
    agora_run_options opt = {.logger = &cli_logger,
                             .llm_offline = cli_get(&a, "llm") && strcmp(cli_get(&a, "llm"), "offline") == 0,
                             .replay = cli_get(&a, "replay"),
                             .replay_until = -1,
                             .replay_lenient = cli_has(&a, "replay-lenient"),
                             .force = cli_has(&a, "force")};
    agora_error err;
    if (agora_run_check(sc, &opt, &err) != 0) {
        cli_error("validate", &err);
        agora_scenario_destroy(sc);
        return CLI_USAGE;
    }
    if (cli_has(&a, "print")) {
        char *s = agora__json_dumps(agora_scenario_config(sc), JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        if (s)
            puts(s);
        free(s);
    } else {
        const agora_model *m = agora_scenario_model(sc);
        if (m)
            printf("%s: valid (model %s)\n", agora_scenario_path(sc), m->name);
        else
            printf("%s: valid (interactions: %zu actors, %lld rounds)\n", agora_scenario_path(sc),
                   json_array_size(json_object_get(agora_scenario_config(sc), "actors")),
                   (long long)json_integer_value(json_object_get(agora_scenario_config(sc), "rounds")));
    }
    agora_scenario_destroy(sc);
    return CLI_OK;
}
