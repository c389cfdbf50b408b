/* agora — parameter sweeps: expanding `--vary KEY=SPEC` axes and seeds into the list of runs.
 *
 * An axis is a scenario key and its values:
 *   params.beta=0.02:0.2:10     a range: 10 values from 0.02 to 0.2, both ends included, evenly spaced
 *   space.kind=grid,graph       a list: each item read as YAML (numbers, booleans, words)
 *   params.gamma=0.1            one value
 * The runs are the Cartesian product of the axes (the first axis varies slowest) times `seeds` seeds (innermost):
 * run k has id "r%05d" % k, its overrides {key: value, ...} and seed base_seed + (k mod seeds). The order and the
 * ids depend only on the axes and the seeds, so a sweep restarted with the same command finds its runs again. */
#ifndef AGORA_SWEEP_H
#define AGORA_SWEEP_H
#include <stdint.h>
#include <jansson.h>
#include "agora/error.h"
#include "agora/export.h"
#include "agora/log.h"
#ifdef __cplusplus
extern "C" {
#endif

/* Parses one "KEY=SPEC" into an axis {"key": KEY, "values": [...]} (a new reference in *axis). Errors name the
 * axis in err->where ("--vary params.beta=...") and say what was expected. */
AGORA_API int agora_sweep_axis(const char *vary, json_t **axis, agora_error *err);

/* Expands axes (an array of axes) and seeds (>= 1) into runs: [{"id", "index", "seed", "overrides": {key: value}}].
 * At most 10^6 runs. */
AGORA_API int agora_sweep_expand(const json_t *axes, int64_t seeds, uint64_t base_seed, json_t **runs,
                                 agora_error *err);

/* ---- running a sweep ------------------------------------------------------------------------------------------- */

typedef struct agora_sweep_progress {
    int64_t done, total, skipped, failed; /* runs finished (skipped ones included), in all, found complete, failed */
    double elapsed_s;
    int64_t degraded;                     /* runs that ended "degraded" (mixed runs whose LLM did not answer) */
    /* run files found complete but made by another configuration (their config_hash differs: other values, steps,
     * scenario text, model or agora version), rerun rather than reused */
    int64_t replaced;
} agora_sweep_progress;

typedef struct agora_sweep_options {
    const char *output;             /* the master file, e.g. sweep.h5; runs go to <output>.runs/<id>.h5 */
    const char *const *sets;        /* --set overrides applied to every run (before the run's own) */
    int n_sets;
    int threads;                    /* cores to use (<= 0: all; more than the machine has: capped, with a warning) */
    const agora_logger *logger;     /* may be NULL */
    int (*progress)(void *ud, const agora_sweep_progress *p); /* nonzero stops the sweep */
    void *ud;
    const volatile int *cancel;     /* may be NULL */
    /* Several processes sharing one sweep (MPI ranks): this one is `rank` of `size` (size <= 1: alone). Each runs
     * every size-th run (by run index) into its run file; after `barrier` (called by every rank), rank 0 writes the
     * master file from all the run files. The result equals a single-process sweep. */
    int rank, size;
    void (*barrier)(void *ud);
    /* The sweep's LLM budget over all its runs (mixed scenarios; 0: none), besides each run's llm.max_* limits:
     * max_calls, max_tokens (prompt + completion tokens of every call of every run), max_cost (from the runs'
     * cost_per_1k_* prices). Shared by the worker processes through shared memory; split evenly between MPI ranks.
     * Once reached, every later persona decision of every run follows its rules ("budget"); which runs get the
     * calls depends on the order the runs happen to ask in, so a budget-stopped sweep is not reproducible run by run.
     * The runs stay "complete"; /sweep/table's llm_budget column says which runs a budget stopped, and where. */
    int64_t max_calls, max_tokens;
    double max_cost;
    /* Nonzero: replace `output` even when it holds another sweep, is not a sweep file, or is the scenario itself
     * (agora_sweep_check refuses those otherwise), and remove run files of the old sweep the new one has no use
     * for. Run files this sweep can reuse are kept either way. */
    int overwrite;
} agora_sweep_options;

/* Whether opt->output may receive this sweep, without writing anything. The master file records its sweep's
 * definition (root attribute `sweep`, JSON: the scenario, the hash of its configuration with the sweep's --set,
 * the --set list, the axes, the seeds and a hash of the runs), so that running the same command again resumes the
 * sweep while a different one is told apart. Accepted: no file there, or a sweep file of this same sweep, or
 * opt->overwrite. Refused (AGORA_EINVAL; the message starts with the output path): a sweep file of another sweep,
 * saying what it holds and what this one is ("runs/x.h5 holds a sweep of params.beta=0.1,0.5 x 2 seeds; this one is
 * params.gamma=0.01,0.9 x 2 seeds: rerun with --overwrite to replace it, or choose another -o"), an agora run file,
 * any other file, and the scenario file itself. agora_sweep_run checks this first too. */
AGORA_API int agora_sweep_check(const char *scenario_path, const json_t *runs, const agora_sweep_options *opt,
                                agora_error *err);

/* Runs every run of `runs` (agora_sweep_expand) of the scenario file, each into its own run file, reusing a run file
 * only when it is complete and its config_hash equals the hash of the configuration the run would have now (a
 * restarted sweep finishes the rest and equals an uninterrupted one; a run file made by another configuration is
 * rerun and counted in `replaced`). The master file is written first (with the sweep's definition, the runs already
 * complete and the others "not run"), then again at the end. Many runs:
 * runs in parallel, one thread each; fewer runs than cores: one after another with all threads (results do not
 * depend on it). Then writes the master file: /runs/<id> external links to the run files and /sweep/table, one
 * row per run: id, seed, status ("complete", "degraded", "failed", "not run"), llm_budget (mixed scenarios: the
 * limit that stopped the run's calls and the step, e.g. "sweep.max_calls reached at step 7", or ""), each varied key,
 * each model metric's final value. A degraded run is not skipped on a restart (it runs again, with the server up).
 * Returns 0 when every run completed or was degraded (result->degraded counts those); AGORA_ECANCELLED-like errors
 * or the first run failure otherwise (the master file is written anyway). */
AGORA_API int agora_sweep_run(const char *scenario_path, const json_t *runs, const agora_sweep_options *opt,
                              agora_sweep_progress *result, agora_error *err);

#ifdef __cplusplus
}
#endif
#endif
