/* agora CLI — `agora sweep SCENARIO --vary KEY=VALUES ... --seeds N -o sweep.h5`: many runs of one scenario, in
 * parallel, into run files linked from one master file with a table of every run's parameters and final metrics. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef AGORA_HAVE_MPI
#include <mpi.h>
#endif

#include "agora/sweep.h"
#include "cli/cli.h"
#include "core/internal.h"

static const cli_opt sweep_opts[] = {
    {"vary", 0, 1},      {"seeds", 0, 1},     {"output", 'o', 1},    {"threads", 't', 1}, {"set", 's', 1},
    {"quiet", 'q', 0},   {"verbose", 'v', 0}, {"no-progress", 0, 0}, {"dry-run", 0, 0},   {"steps", 0, 1},
    {"log-level", 0, 1}, {"max-calls", 0, 1}, {"max-tokens", 0, 1},  {"max-cost", 0, 1},  {"overwrite", 0, 0},
    {"force", 0, 0},     {"plugin", 0, 1},    {NULL, 0, 0}};

static const char sweep_help[] =
    "usage: agora sweep SCENARIO [--vary KEY=VALUES]... [--seeds N] [-o FILE] [options]\n"
    "\n"
    "Runs a scenario for every combination of the varied keys and every seed: each run into its own run file\n"
    "(FILE.runs/<id>.h5, the layout of agora run), linked from FILE as /runs/<id>, with /sweep/table holding one row\n"
    "per run: its id, seed, status, varied values and final metrics. Runs go in parallel on all cores (many runs:\n"
    "one core each; fewer runs than cores: one after another with every core); results do not depend on it.\n"
    "Run the same command again after an interruption: runs already complete are skipped. A run file is reused\n"
    "only when it completed with exactly the configuration the run has now (values, steps, scenario, model and\n"
    "agora version, checked by its config_hash); another sweep into the same FILE (other --vary, --seeds, --set or\n"
    "--steps) is refused unless --overwrite.\n"
    "\n"
    "options:\n"
    "      --vary KEY=VALUES  a range START:STOP:COUNT (both ends included) or a list a,b,c of any scenario key,\n"
    "                         e.g. --vary params.beta=0.02:0.2:10 --vary space.kind=grid,graph (repeatable;\n"
    "                         adds to the scenario's sweep: block)\n"
    "      --seeds N          seeds per combination: the scenario's seed, seed+1, ... (default: the sweep: block's,\n"
    "                         else 1)\n"
    "  -o, --output FILE      the sweep file (default runs/<name>_sweep.h5)\n"
    "      --overwrite        replace FILE when it holds another sweep (or is not a sweep file), rerunning the runs\n"
    "                         that changed (--force is the same)\n"
    "  -t, --threads N        cores to use (default: all)\n"
    "  -s, --set KEY=VALUE    override a key in every run\n"
    "      --steps N          steps of every run (same as --set steps=N)\n"
    "      --max-calls N      mixed scenarios: at most N LLM calls over all the runs together (the workers share\n"
    "                         the count; MPI ranks split it evenly); then the personas follow their rules\n"
    "      --max-tokens N     at most N tokens (prompt + completion) over all the runs' calls\n"
    "      --max-cost X       at most X spent over all the runs (from llm.cost_per_1k_prompt / _completion)\n"
    "                         (also sweep: {max_calls, max_tokens, max_cost} in the scenario; each run's own\n"
    "                         llm.max_* limits apply as well; the table's llm_budget column says which runs a\n"
    "                         budget stopped and where)\n"
    "      --dry-run          list the runs and stop\n"
    "      --plugin FILE.so   load the models of a C plug-in first (repeatable; also AGORA_PLUGINS=A.so:B.so);\n"
    "                         the workers and every MPI rank have them too\n"
    "  -q, --quiet            no progress bar\n"
    "  -v, --verbose          log what happens\n"
    "      --log-level L      error, warn (default), info or debug\n"
    "  -h, --help             this help\n"
    "\n"
    "exit status: 0 every run complete, 1 a run failed, 2 bad usage or scenario (FILE holds another sweep),\n"
    "3 a run degraded (its LLM did not answer; none failed; degraded runs run again on a restart),\n"
    "128+N interrupted by signal N (130 Ctrl-C, 143 SIGTERM)\n";


#ifdef AGORA_HAVE_MPI
static void mpi_barrier(void *ud)
{
    (void)ud;
    MPI_Barrier(MPI_COMM_WORLD);
}
#endif

typedef struct view {
    int bar;
} view;

static int on_progress(void *ud, const agora_sweep_progress *p)
{
    view *v = ud;
    if (!v->bar)
        return 0;
    const int width = 28;
    const double frac = p->total ? (double)p->done / (double)p->total : 1;
    char bar[64];
    for (int i = 0; i < width; i++)
        bar[i] = i < (int)(frac * width) ? '#' : '-';
    bar[width] = '\0';
    const int64_t ran = p->done - p->skipped;
    const double eta = ran > 0 ? p->elapsed_s / (double)ran * (double)(p->total - p->done) : 0;
    fprintf(stderr, "\r\033[K[%s] %lld/%lld runs%s  %.1fs  ETA %.1fs", bar, (long long)p->done, (long long)p->total,
            p->failed ? "  (some failed)" : "", p->elapsed_s, eta);
    fflush(stderr);
    return 0;
}

int cmd_sweep(int argc, char **argv)
{
    cli_args a;
    int rc = cli_parse("sweep", argc, argv, sweep_opts, &a);
    if (rc != CLI_OK)
        return rc;
    if (cli_builtin(&a, sweep_help))
        return CLI_OK;
    if ((rc = cli_load_plugins("sweep", &a)) != CLI_OK)
        return rc;
    if (a.n_pos != 1) {
        fprintf(stderr, "agora sweep: expected one scenario file (see agora sweep --help)\n");
        return CLI_USAGE;
    }
    if (cli_has(&a, "verbose"))
        cli_logger.level = AGORA_LOG_INFO;
    if (cli_get(&a, "log-level") && agora_log_level_parse(cli_get(&a, "log-level"), &cli_logger.level) != 0) {
        fprintf(stderr, "agora sweep: --log-level expects error, warn, info or debug\n");
        return CLI_USAGE;
    }
    agora_scenario *sc = NULL;
    agora_error err;
    if (agora_scenario_load(a.pos[0], &sc, &err) != 0) {
        cli_error("sweep", &err);
        return CLI_USAGE;
    }
    const json_t *cfg = agora_scenario_config(sc), *block = json_object_get(cfg, "sweep");
    /* the axes: the scenario's sweep.vary, then --vary (which replaces a key the block also varies) */
    json_t *axes = json_array(), *runs = NULL;
    const char *sets[256];
    char steps_set[64];
    int n_sets = 0;
    long long seeds = block && json_object_get(block, "seeds") ? json_integer_value(json_object_get(block, "seeds")) : 1;
    const char *key;
    json_t *v;
    json_object_foreach(json_object_get(block, "vary"), key, v) json_array_append(axes, v);
    rc = CLI_USAGE;
    for (int i = 0; i < a.n_opts; i++) {
        const char *name = a.opts[i].opt->name, *value = a.opts[i].value;
        if (strcmp(name, "vary") == 0) {
            json_t *axis = NULL;
            if (agora_sweep_axis(value, &axis, &err) != 0) {
                cli_error("sweep", &err);
                goto done;
            }
            for (size_t k = 0; k < json_array_size(axes); k++)
                if (json_equal(json_object_get(json_array_get(axes, k), "key"), json_object_get(axis, "key"))) {
                    json_array_remove(axes, k);
                    break;
                }
            json_array_append_new(axes, axis);
        } else if (strcmp(name, "seeds") == 0) {
            if ((seeds = cli_uint("sweep", "--seeds", value)) < 1) {
                if (seeds == 0)
                    fprintf(stderr, "agora sweep: --seeds must be at least 1\n");
                goto done;
            }
        } else if (strcmp(name, "set") == 0 && n_sets < 256) {
            sets[n_sets++] = value;
        } else if (strcmp(name, "steps") == 0 && n_sets < 256) {
            if (cli_uint("sweep", "--steps", value) < 0)
                goto done;
            snprintf(steps_set, sizeof steps_set, "steps=%s", value);
            sets[n_sets++] = steps_set;
        }
    }
    /* every varied key and --set must be valid for the scenario: check the first and last values now */
    for (size_t k = 0; k < json_array_size(axes); k++) {
        const json_t *axis = json_array_get(axes, k), *vals = json_object_get(axis, "values");
        for (int end = 0; end < 2; end++) {
            char *val = agora__json_dumps(json_array_get(vals, end ? json_array_size(vals) - 1 : 0), JSON_COMPACT);
            char assignment[4200];
            snprintf(assignment, sizeof assignment, "%s=%s", json_string_value(json_object_get(axis, "key")),
                     val ? val : "null");
            free(val);
            const char *list[257];
            for (int s = 0; s < n_sets; s++)
                list[s] = sets[s];
            list[n_sets] = assignment;
            agora_scenario *probe = NULL;
            if (agora_scenario_load(a.pos[0], &probe, &err) != 0 ||
                agora_scenario_set_all(probe, list, n_sets + 1, &err) != 0) {
                agora_scenario_destroy(probe);
                cli_error("sweep", &err);
                goto done;
            }
            agora_scenario_destroy(probe);
        }
    }
    if (agora_sweep_expand(axes, seeds, (uint64_t)json_integer_value(json_object_get(cfg, "seed")), &runs, &err)) {
        cli_error("sweep", &err);
        goto done;
    }
    char out[4096];
    if (cli_get(&a, "output"))
        snprintf(out, sizeof out, "%s", cli_get(&a, "output"));
    else
        snprintf(out, sizeof out, "runs/%s_sweep.h5", json_string_value(json_object_get(cfg, "name")));
    if (cli_has(&a, "dry-run")) {
        size_t i;
        json_array_foreach(runs, i, v) {
            char *ov = agora__json_dumps(json_object_get(v, "overrides"), JSON_COMPACT);
            printf("%s seed %lld %s\n", json_string_value(json_object_get(v, "id")),
                   (long long)json_integer_value(json_object_get(v, "seed")), ov ? ov : "{}");
            free(ov);
        }
        rc = CLI_OK;
        goto done;
    }
    long long threads = 0;
    if (cli_get(&a, "threads") && (threads = cli_uint("sweep", "--threads", cli_get(&a, "threads"))) < 0)
        goto done;
    /* the sweep's LLM budget: the scenario's sweep: block, then the options */
    long long max_calls = json_integer_value(json_object_get(block, "max_calls")),
              max_tokens = json_integer_value(json_object_get(block, "max_tokens"));
    double max_cost = json_number_value(json_object_get(block, "max_cost"));
    if (cli_get(&a, "max-calls") && (max_calls = cli_uint("sweep", "--max-calls", cli_get(&a, "max-calls"))) < 1) {
        if (max_calls == 0)
            fprintf(stderr, "agora sweep: --max-calls must be at least 1 (--set llm.provider=offline makes none)\n");
        goto done;
    }
    if (cli_get(&a, "max-tokens") && (max_tokens = cli_uint("sweep", "--max-tokens", cli_get(&a, "max-tokens"))) < 1) {
        if (max_tokens == 0)
            fprintf(stderr, "agora sweep: --max-tokens must be at least 1 (the tokens of all the runs' calls)\n");
        goto done;
    }
    if (cli_get(&a, "max-cost")) {
        char *end = NULL;
        max_cost = strtod(cli_get(&a, "max-cost"), &end);
        if (!end || *end || !(max_cost > 0) || max_cost > 1e12) {
            fprintf(stderr, "agora sweep: --max-cost expects an amount > 0, got \"%s\"\n", cli_get(&a, "max-cost"));
            goto done;
        }
    }
    const int overwrite = cli_has(&a, "overwrite") || cli_has(&a, "force");
    {
        /* FILE holds another sweep (or is no sweep file): say so and stop before anything is written */
        agora_sweep_options check = {.output = out, .sets = sets, .n_sets = n_sets, .overwrite = overwrite};
        if (agora_sweep_check(a.pos[0], runs, &check, &err) != 0) {
            cli_error("sweep", &err);
            rc = err.code == AGORA_ENOMEM || err.code == AGORA_EHDF5 ? CLI_FAILED : CLI_USAGE;
            goto done;
        }
    }
    int rank = 0, size = 1;
#ifdef AGORA_HAVE_MPI
    int mpi_ready = 0;
    MPI_Initialized(&mpi_ready);
    if (!mpi_ready)
        MPI_Init(NULL, NULL);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
#endif
    view vw = {.bar = rank == 0 && !cli_has(&a, "quiet") && !cli_has(&a, "no-progress") && isatty(STDERR_FILENO)};
    cli_signals_install();
    agora_sweep_options opt = {.output = out,
                               .sets = sets,
                               .n_sets = n_sets,
                               .threads = (int)threads,
                               .logger = &cli_logger,
                               .progress = on_progress,
                               .ud = &vw,
                               .cancel = &cli_cancel,
                               .rank = rank,
                               .size = size,
                               .max_calls = max_calls,
                               .max_tokens = max_tokens,
                               .max_cost = max_cost,
                               .overwrite = overwrite};
#ifdef AGORA_HAVE_MPI
    opt.barrier = mpi_barrier;
#endif
    agora_sweep_progress res;
    int src = agora_sweep_run(a.pos[0], runs, &opt, &res, &err);
#ifdef AGORA_HAVE_MPI
    MPI_Finalize();
#endif
    if (vw.bar)
        fputs("\r\033[K", stderr);
    if (!cli_has(&a, "quiet") && rank == 0) {
        char replaced[96] = "";
        if (res.replaced)
            snprintf(replaced, sizeof replaced, ", %lld rerun: their configuration changed", (long long)res.replaced);
        char degraded[48] = "";
        if (res.degraded)
            snprintf(degraded, sizeof degraded, ", %lld degraded", (long long)res.degraded);
        printf("%s: %lld runs (%lld already complete%s, %lld failed%s) in %.1f s -> %s\n",
               json_string_value(json_object_get(cfg, "name")), (long long)res.total, (long long)res.skipped, replaced,
               (long long)res.failed, degraded, res.elapsed_s, out);
    }
    if (src) {
        cli_error("sweep", &err);
        rc = cli_cancel || src == AGORA_ECANCELED ? cli_signal_exit_code() : CLI_FAILED;
    } else if (res.degraded > 0) {
        fprintf(stderr,
                "agora sweep: warn: %lld run%s degraded: %s LLM did not answer every call (exit status 3; "
                "agora inspect a run file says why)\n",
                (long long)res.degraded, res.degraded == 1 ? " is" : "s are", res.degraded == 1 ? "its" : "their");
        rc = CLI_DEGRADED;
    } else {
        rc = CLI_OK;
    }
done:
    json_decref(axes);
    json_decref(runs);
    agora_scenario_destroy(sc);
    return rc;
}
