/* agora — simulate_mechanics: one scenario, end to end, into one HDF5 run file.
 *
 * Order within a time step t (0 <= t <= steps): the interventions scheduled at t are applied (and recorded in
 * /events), then the personas due at t decide and act (mixed runs; calls in /llm/calls, actions in /events), then
 * the metrics of t are measured and appended, a snapshot is taken when due (t = 0, every
 * snapshot_every steps, and the last step), the file is flushed every flush_every steps, progress is reported, and
 * unless t is the last step the world advances to t + 1. So row t of /metrics describes the state the step
 * t -> t + 1 starts from, interventions of t included.
 *
 * A mixed run that reached its end with a persona decision that was to come from the LLM and got no valid answer
 * is "degraded" (agora_personas_degraded), with the reason in the summary's "llm" object.
 *
 * The run is a session (agora/session.h, src/runner/session.c) recorded to the run file and stepped to its end:
 * the order above is the session's phase of a step. Nothing here depends on the model. */
#include <stdio.h>
#include <string.h>

#include "agora/run.h"
#include "agora/session.h"
#include "core/internal.h"

int agora_run(const agora_scenario *sc, const agora_run_options *options, agora_run_result *res, agora_error *err)
{
    static const agora_run_options no_options;
    const agora_run_options *opt = options ? options : &no_options;
    const double t_start = agora__now();
    agora_session_options so = {.run = *opt, .recorder = AGORA_RECORD_FILE};
    agora_session *s = NULL;
    int rc = agora_session_open(sc, &so, &s, err);
    if (rc) {
        if (res) {
            memset(res, 0, sizeof *res);
            const char *path = json_string_value(json_object_get(json_object_get(agora_scenario_config(sc), "output"), "path"));
            snprintf(res->output, sizeof res->output, "%s", path ? path : "");
            snprintf(res->status, sizeof res->status, "failed");
            res->wall_s = agora__now() - t_start;
        }
        return rc;
    }
    rc = agora_session_run_until(s, -1, NULL, err);
    return agora_session_close(s, rc, res, err);
}

void agora_run_result_free(agora_run_result *res)
{
    if (!res)
        return;
    json_decref(res->summary);
    res->summary = NULL;
}
