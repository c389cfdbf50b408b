/* agora — running a scenario end to end (simulate_mechanics).
 *
 * agora_run builds the world a scenario describes, opens the run file, then for t = 0 .. steps: applies the
 * interventions due at t, lets the personas due at t decide and act (mixed runs), measures and records the metrics of t, takes a snapshot when due, flushes every
 * flush_every steps, and steps the world. Progress and cancellation go through the options, so the CLI (a progress
 * bar, Ctrl-C) and other fronts (MCP) use the same call. */
#ifndef AGORA_RUN_H
#define AGORA_RUN_H

#include <stdint.h>

#include <jansson.h>

#include "agora/error.h"
#include "agora/export.h"
#include "agora/log.h"
#include "agora/model.h"
#include "agora/scenario.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct agora_progress {
    int64_t step, steps;       /* steps done, steps in all */
    int64_t n_agents;
    double elapsed_s;
    const agora_model *model;
    const double *metrics;     /* the model's metrics at `step` */
} agora_progress;

/* Called after each step (at most every progress_interval_s seconds, and always at the last). Return nonzero to
 * stop the run: the file is closed with status "interrupted". */
typedef int (*agora_progress_fn)(void *ud, const agora_progress *p);

/* Called for each action applied or rejected. */
typedef void (*agora_event_fn)(void *ud, int64_t step, const char *source, const char *action_json,
                               const char *status, const char *message);

struct agora_persona_decision;
/* Called for each persona decision (mixed runs). */
typedef void (*agora_decision_fn)(void *ud, const struct agora_persona_decision *d);

typedef struct agora_run_options {
    const agora_logger *logger;       /* may be NULL */
    agora_progress_fn progress;       /* may be NULL */
    agora_event_fn on_event;          /* may be NULL */
    void *ud;                         /* passed to progress and on_event */
    double progress_interval_s;       /* 0: after every step */
    const volatile int *cancel;       /* may be NULL; nonzero stops the run at the next step (signal-safe) */
    agora_decision_fn on_decision;    /* may be NULL */
    /* Mixed runs: nonzero forces the personas' rule policies even where the scenario configures an LLM. (Another
     * provider, model or URL is a scenario override: llm.provider, llm.model, llm.base_url, as `agora run --llm`
     * does it.) */
    int llm_offline;
    /* Mixed runs: answer the personas' LLM calls from this recorded run file (no network) up to replay_until
     * (< 0: to the end; later steps ask the live LLM); replay_lenient accepts prompts that differ. */
    const char *replay;
    int64_t replay_until;
    int replay_lenient;
    /* > 0: write a checkpoint (agora/checkpoint.h) to <output>.ckpt every checkpoint_every steps, and when the run
     * is interrupted; it is removed once the run completes. */
    int64_t checkpoint_every;
    /* Nonzero: go on with the run file output.path from its checkpoint <output>.ckpt (a run killed or interrupted
     * after a checkpoint), instead of starting afresh. The scenario must be the one the run started with (the same
     * agora_scenario_hash); the datasets end exactly as an uninterrupted run's. */
    int resume;
    /* Mixed runs: a budget of LLM use shared with other runs (a sweep's; agora_sweep_run sets it), checked besides
     * the scenario's llm.max_calls / max_tokens / max_cost. May be NULL. */
    struct agora_llm_budget *llm_budget;
    /* Nonzero: write the run file even over a file that is not an agora file, or over the scenario itself (which
     * are refused otherwise: agora_run_check). */
    int force;
} agora_run_options;

typedef struct agora_run_result {
    char output[4096];      /* path of the run file */
    char status[16];        /* "complete", "degraded" (mixed runs: it reached its end, but a persona decision that
                             * was to come from the LLM got none: summary.llm says why), "interrupted" or "failed" */
    int64_t steps_done, n_agents;
    int threads;
    double wall_s;          /* whole run: build, steps, measurements, output */
    double step_s;          /* time inside model steps only */
    double updates_per_s;   /* steps_done * n_agents / wall time of the step loop (with measuring and output) */
    json_t *summary;        /* {"metrics": {name: {final, peak, peak_step}}, "steps_done", and for mixed runs "llm"
                             * (agora_personas_llm_summary)}; free with agora_run_result_free */
    int started;            /* 1 once the step loop began: a failure after that is the run's (a rule's NaN, a full
                             * disk), not the scenario's */
} agora_run_result;

/* Runs the scenario. Returns 0 when the run completed, was degraded or was interrupted (see res->status); a negative
 * code when it could not start or failed midway (the file, if created, is closed with status "failed"). `opt` and
 * `res` may be NULL. Before the first step it checks what agora_run_check checks (the output target included). */
AGORA_API int agora_run(const agora_scenario *sc, const agora_run_options *opt, agora_run_result *res,
                        agora_error *err);

/* Everything agora_run checks before its first step, without writing anything (what `agora validate` runs):
 * builds the space (an edge-list file must exist and be well formed) and the world (parameters against the
 * population: a count such as initial_infected may not exceed it; `threads` above the machine's cores is capped
 * with a warning through opt->logger), the personas and LLM block, reads the replay recording (opt->replay or the
 * scenario's llm: {provider: replay, path}), warns about interventions a shortened `steps` skips, and checks the
 * output target: an existing file there must be an agora file (HDF5 with the root attribute agora_version), and
 * never the scenario itself, unless opt->force. Interactions scenarios get their own set-up checked (actors' and
 * roles' LLM blocks, the recording). `opt` may be NULL. Errors about a scenario key carry file:line:col (or the
 * override that set it) as the loader's do; AGORA_EINVAL with where "output.path" (located) for a refused output. */
AGORA_API int agora_run_check(const agora_scenario *sc, const agora_run_options *opt, agora_error *err);

/* Frees what a result owns (the summary); the struct itself is the caller's. */
AGORA_API void agora_run_result_free(agora_run_result *res);

#ifdef __cplusplus
}
#endif
#endif
