/* agora CLI — `agora interact`: runs a `mode: interactions` scenario and shows it as a transcript while it happens
 * (or first turns a question into a scenario with one LLM call, saved for editing); `--runs N` runs N worlds with
 * seeds seed, seed+1, ... concurrently and compares their evaluations; `--replay RUN.h5` re-runs a recorded run
 * with no network. `agora replay RUN.h5` prints a recorded run again, round by round, from its file. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agora/interact.h"
#include "cli/cli.h"

static const cli_opt interact_opts[] = {{"set", 0, 1},
                                        {"seed", 0, 1},
                                        {"rounds", 0, 1},
                                        {"output", 'o', 1},
                                        {"llm", 0, 1},
                                        {"llm-url", 0, 1},
                                        {"question", 0, 1},
                                        {"save", 0, 1},
                                        {"enrich", 0, 0},
                                        {"runs", 0, 1},
                                        {"pause-each-round", 0, 0},
                                        {"replay", 0, 1},
                                        {"replay-lenient", 0, 0},
                                        {"quiet", 'q', 0},
                                        {"force", 0, 0},
                                        {NULL, 0, 0}};

static const char interact_help[] =
    "usage: agora interact SCENARIO [options]\n"
    "       agora interact --question \"What happens if ...?\" --llm PROVIDER:MODEL [--save FILE] [options]\n"
    "\n"
    "Runs a scenario with mode: interactions: LLM actors who talk (direct, rooms, broadcast) and act (actions that\n"
    "last rounds) while a world engine resolves what happens; an evaluation scores the run at the end. The run is\n"
    "printed as a transcript as it happens and written to the scenario's output file (HDF5: /interactions/...,\n"
    "/llm/calls).\n"
    "\n"
    "options:\n"
    "      --question TEXT    first ask the LLM for a scenario answering TEXT (8-12 actors, the world, the time of\n"
    "                         a round, the number of rounds), save it (--save FILE, default <name>.yaml) and run it\n"
    "      --enrich           ask the LLM once per actor to deepen its profile (grounded in enrich.sources)\n"
    "      --runs N           run N worlds concurrently, seeds seed..seed+N-1 (files <output>-<seed>.h5), and\n"
    "                         compare their evaluation scores\n"
    "      --pause-each-round after each round, read lines for the actors: \"ID: message\" sends a message (delivered\n"
    "                         next round), an empty line continues, \"quit\" stops the run\n"
    "      --replay RUN.h5    answer every LLM call from a recorded run (no network): the same datasets, bit-exact\n"
    "      --replay-lenient   with --replay, answer even when a prompt differs from the recording\n"
    "      --llm SPEC         ollama:MODEL or openai:MODEL (replaces the scenario's llm provider and model)\n"
    "      --llm-url URL      the LLM server's base URL; API keys come from the environment\n"
    "      --seed N, --rounds N, -o FILE, --set KEY=VALUE   override the scenario\n"
    "      --force            write the run file even over a file that is not an agora file (refused otherwise,\n"
    "                         as is the scenario file itself)\n"
    "  -q, --quiet            print only the result\n"
    "  -h, --help             this help\n"
    "\n"
    "The scenario's llm.max_calls, llm.max_tokens (prompt + completion tokens of all calls) and llm.max_cost limit\n"
    "the run: once one is reached the actors pass and the world engine and the evaluator are not asked.\n"
    "\n"
    "exit status: 0 complete, 1 the run failed, 2 bad usage or scenario, 3 degraded (the run reached its end, but\n"
    "some turns got no answer from the LLM: no server, the circuit breaker, invalid replies; the summary says why),\n"
    "128+N interrupted by signal N (130 Ctrl-C, 143 SIGTERM, 129 SIGHUP, 141 stdout closed)\n";

/* ---- the live transcript ------------------------------------------------------------------------------------------
 */

typedef struct view {
    FILE *out;
    int quiet;
    int pause;
} view;

static void print_event(void *ud, const agora_ix_event *e)
{
    view *v = ud;
    if (v->quiet)
        return;
    FILE *o = v->out;
    switch (e->kind) {
    case AGORA_IX_ROUND:
        fprintf(o, "\n== Round %lld/%lld (%s) ==\n", (long long)e->round, (long long)e->rounds, e->text);
        break;
    case AGORA_IX_TURN:
        if (strcmp(e->status, "llm") != 0)
            fprintf(o, "[%s] (no decision: %s)\n", e->actor, e->status);
        else if (e->text && e->text[0])
            fprintf(o, "[%s] thinks: %s\n", e->actor, e->text);
        break;
    case AGORA_IX_MESSAGE:
        if (strcmp(e->status, "blocked") == 0)
            fprintf(o, "[%s] -> %s: %s  (blocked: %s)\n", e->actor, e->target, e->text, e->detail);
        else
            fprintf(o, "[%s] -> %s: %s\n", e->actor, e->target, e->text);
        break;
    case AGORA_IX_ACTION:
        if (strcmp(e->status, "scheduled") == 0)
            fprintf(o, "[%s] acts: %s%s%s for %d round%s (#%lld) - %s\n", e->actor, e->name,
                    e->target && e->target[0] ? " -> " : "", e->target ? e->target : "", e->duration,
                    e->duration == 1 ? "" : "s", (long long)e->action_id, e->text);
        else if (strcmp(e->status, "completed") == 0 || strcmp(e->status, "failed") == 0)
            fprintf(o, "  #%lld %s (%s) %s: %s\n", (long long)e->action_id, e->name, e->actor, e->status, e->detail);
        break;
    case AGORA_IX_WORLD:
        fprintf(o, "World%s: %s\n  state %s\n", strcmp(e->status, "llm") == 0 ? "" : " (no engine reply)",
                e->text && e->text[0] ? e->text : "-", e->detail);
        break;
    case AGORA_IX_EVALUATION:
        fprintf(o, "\n== Evaluation ==\n%s\n%s\n", e->detail, e->text);
        break;
    case AGORA_IX_NOTE:
        fprintf(stderr, "agora interact: warn: %s\n", e->text);
        break;
    }
    fflush(o);
}

static int between_rounds(void *ud, agora_interact *ix, int64_t round)
{
    view *v = ud;
    if (!v->pause)
        return cli_cancel;
    fprintf(stderr, "-- after round %lld: \"ID: message\" to an actor, empty line to go on, \"quit\" to stop --\n",
            (long long)round);
    char line[2048];
    while (fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (!line[0])
            return 0;
        if (strcmp(line, "quit") == 0 || strcmp(line, "q") == 0)
            return 1;
        char *colon = strchr(line, ':');
        agora_error err;
        if (!colon) {
            fprintf(stderr, "expected \"ID: message\" (actors:");
            for (int i = 0; i < agora_interact_actor_count(ix); i++)
                fprintf(stderr, " %s", agora_interact_actor_id(ix, i));
            fprintf(stderr, ")\n");
            continue;
        }
        *colon = '\0';
        const char *text = colon + 1;
        while (*text == ' ')
            text++;
        if (agora_interact_say(ix, line, text, &err) != 0)
            cli_error("interact", &err);
    }
    return cli_cancel; /* end of input: go on without pausing */
}

/* ---- --runs: several worlds at once ------------------------------------------------------------------------------ */

typedef struct job {
    agora_scenario *sc;
    agora_interact_options opt;
    char out[4200];
    agora_interact_result res;
    agora_error err;
    int rc;
    long long seed;
} job;

static void *run_job(void *p)
{
    job *j = p;
    j->rc = agora_interact_run(j->sc, &j->opt, &j->res, &j->err);
    return NULL;
}

static int compare_runs(const char *cmd, agora_scenario *base, const cli_args *a, int n, view *v)
{
    const json_t *cfg = agora_scenario_config(base);
    long long seed0 = (long long)json_integer_value(json_object_get(cfg, "seed"));
    const char *out = json_string_value(json_object_get(json_object_get(cfg, "output"), "path"));
    job *jobs = calloc((size_t)n, sizeof *jobs);
    pthread_t *th = calloc((size_t)n, sizeof *th);
    int rc = CLI_OK;
    if (!jobs || !th) {
        free(jobs);
        free(th);
        return CLI_FAILED;
    }
    for (int i = 0; i < n; i++) {
        job *j = &jobs[i];
        j->seed = seed0 + i;
        int lrc;
        if (!(j->sc = cli_load_scenario(cmd, a, &lrc))) {
            rc = lrc;
            n = i;
            break;
        }
        char set[64];
        snprintf(set, sizeof set, "seed=%lld", j->seed);
        agora_error err;
        if (agora_scenario_set(j->sc, set, &err) != 0) {
            cli_error(cmd, &err);
            rc = CLI_USAGE;
            n = i + 1;
            break;
        }
        size_t len = strlen(out);
        int ext = len > 3 && strcmp(out + len - 3, ".h5") == 0;
        snprintf(j->out, sizeof j->out, "%.*s-%lld.h5", (int)(ext ? len - 3 : len), out, j->seed);
        j->opt = (agora_interact_options){
            .output = j->out, .enrich = cli_has(a, "enrich"), .cancel = &cli_cancel, .force = cli_has(a, "force")};
    }
    if (rc != CLI_OK) {
        for (int i = 0; i < n; i++)
            agora_scenario_destroy(jobs[i].sc);
        free(jobs);
        free(th);
        return rc;
    }
    if (!v->quiet)
        fprintf(v->out, "running %d worlds (seeds %lld-%lld) concurrently...\n", n, seed0, seed0 + n - 1);
    for (int i = 0; i < n; i++)
        if (pthread_create(&th[i], NULL, run_job, &jobs[i]) != 0)
            run_job(&jobs[i]), th[i] = 0;
    for (int i = 0; i < n; i++)
        if (th[i])
            pthread_join(th[i], NULL);
    /* the comparison: one row per world, one column per criterion */
    const json_t *crit = json_object_get(json_object_get(cfg, "evaluation"), "criteria");
    fprintf(v->out, "\n%-8s %-12s", "seed", "status");
    size_t k;
    json_t *c;
    json_array_foreach(crit, k, c) {
        fprintf(v->out, " %12.12s", json_string_value(c));
    }
    fprintf(v->out, "  file\n");
    double *sum = calloc(json_array_size(crit) + 1, sizeof *sum);
    int *cnt = calloc(json_array_size(crit) + 1, sizeof *cnt);
    for (int i = 0; i < n; i++) {
        job *j = &jobs[i];
        if (j->rc) {
            cli_error(cmd, &j->err);
            rc = CLI_FAILED;
        }
        fprintf(v->out, "%-8lld %-12s", j->seed, j->rc ? "error" : j->res.status);
        const json_t *scores = json_object_get(j->res.evaluation, "scores");
        json_array_foreach(crit, k, c) {
            const json_t *s = json_object_get(scores, json_string_value(c));
            if (json_is_number(s)) {
                fprintf(v->out, " %12.2f", json_number_value(s));
                sum[k] += json_number_value(s);
                cnt[k]++;
            } else {
                fprintf(v->out, " %12s", "-");
            }
        }
        fprintf(v->out, "  %s\n", j->out);
    }
    fprintf(v->out, "%-8s %-12s", "mean", "");
    json_array_foreach(crit, k, c) {
        if (cnt && cnt[k])
            fprintf(v->out, " %12.2f", sum[k] / cnt[k]);
        else
            fprintf(v->out, " %12s", "-");
    }
    fprintf(v->out, "\n");
    free(sum);
    free(cnt);
    for (int i = 0; rc == CLI_OK && i < n; i++) /* no run failed: degraded when one was */
        if (strcmp(jobs[i].res.status, "degraded") == 0)
            rc = CLI_DEGRADED;
    for (int i = 0; i < n; i++) {
        agora_interact_result_free(&jobs[i].res);
        agora_scenario_destroy(jobs[i].sc);
    }
    free(jobs);
    free(th);
    return cli_cancel ? cli_signal_exit_code() : rc;
}

/* ---- --question -------------------------------------------------------------------------------------------------- */

/* The llm block for the question: --llm PROVIDER:MODEL and --llm-url. */
static json_t *question_llm(const cli_args *a)
{
    const char *spec = cli_get(a, "llm"), *url = cli_get(a, "llm-url");
    const char *colon = spec ? strchr(spec, ':') : NULL;
    if (!colon || !colon[1])
        return NULL;
    json_t *llm = json_pack("{s:s%, s:s}", "provider", spec, (size_t)(colon - spec), "model", colon + 1);
    if (url)
        json_object_set_new(llm, "base_url", json_string(url));
    return llm;
}

static int from_question(const cli_args *a, char *saved, size_t size, json_t **calls)
{
    json_t *llm = question_llm(a);
    if (!llm) {
        fprintf(stderr, "agora interact: --question needs --llm ollama:MODEL or openai:MODEL (and --llm-url URL)\n");
        return CLI_USAGE;
    }
    const char *seed_s = cli_get(a, "seed");
    json_t *scenario = NULL;
    agora_error err;
    fprintf(stderr, "agora interact: asking %s for a scenario...\n", json_string_value(json_object_get(llm, "model")));
    int rc = agora_interact_generate(cli_get(a, "question"), llm, seed_s ? atoll(seed_s) : 0, &scenario, calls, &err);
    if (rc) {
        json_decref(llm);
        cli_error("interact", &err);
        return CLI_FAILED;
    }
    /* the scenario keeps the llm it was made with, so that rerunning it asks the same model */
    json_object_set_new(scenario, "llm", llm);
    const char *save = cli_get(a, "save");
    if (save)
        snprintf(saved, size, "%s", save);
    else
        snprintf(saved, size, "%s.yaml", json_string_value(json_object_get(scenario, "name")));
    char *yaml = agora_interact_yaml(scenario);
    json_decref(scenario);
    FILE *f = yaml ? fopen(saved, "w") : NULL;
    int ok = f && fputs(yaml, f) >= 0;
    if (f && fclose(f) != 0)
        ok = 0;
    free(yaml);
    if (!ok) {
        fprintf(stderr, "agora interact: cannot write %s\n", saved);
        return CLI_FAILED;
    }
    fprintf(stderr, "agora interact: saved the scenario as %s (edit it and rerun: agora interact %s)\n", saved, saved);
    return CLI_OK;
}

int cmd_interact(int argc, char **argv)
{
    cli_args a;
    int rc = cli_parse("interact", argc, argv, interact_opts, &a);
    if (rc != CLI_OK)
        return rc;
    if (cli_builtin(&a, interact_help))
        return CLI_OK;
    view v = {.out = stdout, .quiet = cli_has(&a, "quiet"), .pause = cli_has(&a, "pause-each-round")};
    json_t *prior = NULL;
    char saved[4200];
    if (cli_get(&a, "question")) {
        if (a.n_pos != 0) {
            fprintf(stderr, "agora interact: --question makes the scenario; give no scenario file with it\n");
            return CLI_USAGE;
        }
        if ((rc = from_question(&a, saved, sizeof saved, &prior)) != CLI_OK)
            return rc;
        a.pos[a.n_pos++] = saved;
    }
    agora_scenario *sc = cli_load_scenario("interact", &a, &rc);
    if (!sc) {
        json_decref(prior);
        return rc;
    }
    cli_signals_install();
    const char *runs_s = cli_get(&a, "runs");
    long long runs = runs_s ? cli_uint("interact", "--runs", runs_s) : 1;
    if (runs < 1 || runs > 64) {
        if (runs >= 0)
            fprintf(stderr, "agora interact: --runs expects 1 to 64\n");
        agora_scenario_destroy(sc);
        json_decref(prior);
        return CLI_USAGE;
    }
    if (runs > 1) {
        rc = compare_runs("interact", sc, &a, (int)runs, &v);
        agora_scenario_destroy(sc);
        json_decref(prior);
        cli_signals_restore();
        return rc;
    }
    json_t *replay = NULL;
    agora_error err;
    if (cli_get(&a, "replay") && agora_h5_llm_calls(cli_get(&a, "replay"), &replay, &err) != 0) {
        cli_error("interact", &err);
        agora_scenario_destroy(sc);
        json_decref(prior);
        return CLI_USAGE;
    }
    agora_interact_options opt = {.ud = &v,
                                  .on_event = print_event,
                                  .between_rounds = between_rounds,
                                  .replay = replay,
                                  .replay_lenient = cli_has(&a, "replay-lenient"),
                                  .enrich = cli_has(&a, "enrich"),
                                  .prior_calls = prior,
                                  .cancel = &cli_cancel,
                                  .force = cli_has(&a, "force")};
    agora_interact_result res;
    rc = agora_interact_run(sc, &opt, &res, &err);
    cli_signals_restore();
    if (rc) {
        cli_error("interact", &err);
        /* a recording that does not fit, a scenario of another mode (as agora run refuses this one): usage */
        /* ... or an output file agora may not overwrite (located at output.path or the -o override) */
        rc = strcmp(err.where, "--replay") == 0 || strcmp(err.where, "mode") == 0 || err.code == AGORA_ESCHEMA ||
                     strncmp(err.where, "--set ", 6) == 0 || strcmp(err.where, agora_scenario_path(sc)) == 0 ||
                     strcmp(err.where, "-o") == 0
                 ? CLI_USAGE
                 : CLI_FAILED;
    } else {
        fprintf(v.quiet ? stdout : stderr, "agora interact: %s, %lld rounds in %.1f s -> %s\n", res.status,
                (long long)res.rounds_done, res.wall_time_s, res.path);
        const json_t *llm = json_object_get(res.summary, "llm");
        if (!v.quiet || strcmp(res.status, "degraded") == 0 || json_is_object(json_object_get(llm, "budget")))
            cli_print_llm(v.quiet ? stdout : stderr, llm, 10, "LLM turns", "passed or were skipped");
        rc = strcmp(res.status, "complete") == 0   ? CLI_OK
             : strcmp(res.status, "degraded") == 0 ? CLI_DEGRADED
                                                   : cli_signal_exit_code();
    }
    agora_interact_result_free(&res);
    json_decref(replay);
    json_decref(prior);
    agora_scenario_destroy(sc);
    return rc;
}

/* ---- agora replay ------------------------------------------------------------------------------------------------ */

static const cli_opt replay_opts[] = {{NULL, 0, 0}};

static const char replay_help[] = "usage: agora replay RUN.h5\n"
                                  "\n"
                                  "Prints a recorded interactions run again, round by round, from its file: each\n"
                                  "actor's reasoning, messages and actions, the world's outcomes, the evaluation.\n";

static json_t *table(const char *path, const char *name, int *rc)
{
    json_t *rows = NULL;
    agora_error err;
    if (agora_h5_table(path, name, &rows, &err) != 0) {
        cli_error("replay", &err);
        *rc = CLI_FAILED;
        return NULL;
    }
    return rows;
}

int cmd_replay(int argc, char **argv)
{
    cli_args a;
    int rc = cli_parse("replay", argc, argv, replay_opts, &a);
    if (rc != CLI_OK)
        return rc;
    if (cli_builtin(&a, replay_help))
        return CLI_OK;
    if (a.n_pos != 1) {
        fprintf(stderr, "agora replay: expected one run file (see agora replay --help)\n");
        return CLI_USAGE;
    }
    const char *path = a.pos[0];
    rc = CLI_OK;
    json_t *turns = table(path, "/interactions/turns", &rc),
           *msgs = turns ? table(path, "/interactions/messages", &rc) : NULL,
           *acts = msgs ? table(path, "/interactions/actions", &rc) : NULL,
           *world = acts ? table(path, "/interactions/world", &rc) : NULL,
           *eval = world ? table(path, "/interactions/evaluation", &rc) : NULL;
    if (rc == CLI_OK) {
        view v = {.out = stdout};
        long long last = 0;
        size_t i;
        json_t *r;
        json_array_foreach(world, i, r) {
            long long t = (long long)json_integer_value(json_object_get(r, "round"));
            last = t > last ? t : last;
        }
        for (long long t = 1; t <= last; t++) {
            char label[32];
            snprintf(label, sizeof label, "round %lld", t);
            print_event(&v, &(agora_ix_event){.kind = AGORA_IX_ROUND, .round = t, .rounds = last, .text = label});
#define ROUND_OF(row) ((long long)json_integer_value(json_object_get(row, "round")))
#define S(row, k) json_string_value(json_object_get(row, k))
            json_array_foreach(turns, i, r) {
                if (ROUND_OF(r) == t)
                    print_event(&v, &(agora_ix_event){.kind = AGORA_IX_TURN,
                                                      .actor = S(r, "actor"),
                                                      .text = S(r, "reasoning"),
                                                      .status = S(r, "source")});
            }
            json_array_foreach(msgs, i, r) {
                if (ROUND_OF(r) != t)
                    continue;
                const char *kind = S(r, "kind");
                char to[160];
                snprintf(to, sizeof to, "%s%s", strcmp(kind, "room") == 0 ? "room:" : "",
                         strcmp(kind, "direct") == 0 || strcmp(kind, "operator") == 0 ? S(r, "to") : S(r, "room"));
                print_event(&v, &(agora_ix_event){.kind = AGORA_IX_MESSAGE,
                                                  .actor = S(r, "from"),
                                                  .target = to,
                                                  .text = S(r, "text"),
                                                  .status = S(r, "status"),
                                                  .detail = S(r, "reason")});
            }
            json_array_foreach(acts, i, r) {
                if (ROUND_OF(r) != t)
                    continue;
                print_event(&v, &(agora_ix_event){.kind = AGORA_IX_ACTION,
                                                  .action_id = json_integer_value(json_object_get(r, "action")),
                                                  .actor = S(r, "actor"),
                                                  .name = S(r, "name"),
                                                  .target = S(r, "target"),
                                                  .duration = (int)json_integer_value(json_object_get(r, "duration")),
                                                  .text = S(r, "intent"),
                                                  .status = S(r, "status"),
                                                  .detail = S(r, "outcome")});
            }
            json_array_foreach(world, i, r) {
                if (ROUND_OF(r) == t)
                    print_event(&v, &(agora_ix_event){.kind = AGORA_IX_WORLD,
                                                      .text = S(r, "narrative"),
                                                      .detail = S(r, "state"),
                                                      .status = S(r, "status")});
            }
        }
        if (json_array_size(eval) > 0) {
            printf("\n== Evaluation ==\n");
            json_array_foreach(eval, i, r) {
                double s = json_number_value(json_object_get(r, "score"));
                if (json_is_number(json_object_get(r, "score")))
                    printf("%s: %g - %s\n", S(r, "criterion"), s, S(r, "text"));
                else
                    printf("%s: %s\n", S(r, "criterion"), S(r, "text"));
            }
        }
#undef ROUND_OF
#undef S
    }
    json_decref(turns);
    json_decref(msgs);
    json_decref(acts);
    json_decref(world);
    json_decref(eval);
    return rc;
}
