/* agora — the pre-flight of a run, shared by agora_run (which goes on to run) and agora_run_check (`agora validate`,
 * which stops there), so that the two cannot drift apart: building the space and the world from a scenario, the
 * personas and their replay recording, the output target's rules and the interventions a shortened run skips.
 * Internal (agora__ prefix); see src/runner/check.c. */
#ifndef AGORA_RUNNER_CHECK_H
#define AGORA_RUNNER_CHECK_H

#include <stddef.h>

#include <jansson.h>

#include "agora/error.h"
#include "agora/log.h"
#include "agora/output.h"
#include "agora/persona.h"
#include "agora/run.h"
#include "agora/scenario.h"
#include "agora/world.h"

/* What an output path holds now. */
typedef enum agora__out_kind {
    AGORA__OUT_ABSENT = 0, /* nothing: it will be created */
    AGORA__OUT_AGORA,      /* an HDF5 file agora wrote (root attribute agora_version): a run or sweep file */
    AGORA__OUT_SCENARIO,   /* the scenario file itself */
    AGORA__OUT_FOREIGN,    /* an HDF5 file agora did not write */
    AGORA__OUT_OTHER       /* anything else: not HDF5, a directory, ... */
} agora__out_kind;

/* Classifies `path` (scenario_path may be NULL; the two are compared after resolving links). For an agora file,
 * *attrs (when attrs is not NULL) receives its root attributes as JSON (a new reference; the attribute `sweep`
 * parsed), or NULL when they cannot be read. */
agora__out_kind agora__output_kind(const char *path, const char *scenario_path, json_t **attrs);

/* The rule for every file agora writes (agora run, agora interact, a sweep's master file): an absent path or an
 * agora file may be (over)written; the scenario itself, an HDF5 file agora did not write and any other file are
 * refused unless `force`. Errors: AGORA_EINVAL with err->where = `where` and a message that names the file, says
 * what it is and how to go on (`force_hint`, e.g. "--force"). Writes nothing. */
int agora__output_check(const char *path, const char *scenario_path, int force, const char *where,
                        const char *force_hint, agora_error *err);

/* A requested thread count capped at the cores this process may use (omp_get_num_procs), with a warning naming
 * both numbers; 0 (all cores) and counts within the machine pass unchanged. */
int agora__threads_cap(int threads, const agora_logger *lg);

/* Builds the space and the world a (mechanics or mixed) scenario describes, with the thread count capped; an
 * error about a scenario key (an edge-list file that is missing or malformed, a count larger than the population)
 * is located at file:line:col. Owned by the caller (agora_world_destroy). */
int agora__run_world(const agora_scenario *sc, const agora_logger *lg, agora_world **out, agora_error *err);

/* The personas of a mixed scenario (NULL *out when it has none), forced offline and answered from a recording as
 * the options say (--replay, or the scenario's llm: {provider: replay, path}); `output` is the run file, which may
 * not be the recording. *replay_used (size 4096, may be NULL) receives the recording's path, or "". */
int agora__run_personas(const agora_scenario *sc, const agora_run_options *opt, const char *output,
                        agora_personas **out, char *replay_used, agora_error *err);

/* Interventions scheduled after the last step (possible when steps was shortened by an override; the file's own
 * steps must cover them): each is logged as a warning and, when wr is not NULL, recorded in /events with status
 * "skipped" at its scheduled step. Returns 0 or the writer's error. */
int agora__run_late_interventions(const agora_scenario *sc, const agora_logger *lg, agora_writer *wr, agora_error *err);

/* The interactions half of agora_run_check: builds what agora_interact_run builds before its first round (the
 * actors' and roles' LLM configurations, the recording given by `replay` or the scenario) and frees it again.
 * Implemented in src/interact/interact.c. */
int agora__interact_preflight(const agora_scenario *sc, const json_t *replay, agora_error *err);

#endif
