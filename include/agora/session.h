/* agora — a session: one world in time, and everything around it that every front needs.
 *
 * A session is a world plus its schedule (the scenario's interventions and, in mixed runs, the personas' rounds),
 * its recorder (the HDF5 run file, an in-memory history, or nothing), its metrics summary (final and peak of each
 * metric), a bounded log of the actions applied, and its control: step, run until a step, pause, stop, snapshot
 * and restore, checkpoint and resume. `agora run` (agora_run), the sweeps (which run agora_run in their workers),
 * the MCP server's live worlds and the one-shot simulate tools all drive sessions, so there is one step loop.
 *
 * Time. A session opens at step t0 (0, or a checkpoint's step); agora_session_begin does the phase of t0 (the
 * first agora_session_step or agora_session_run_until begins it when the caller did not). The phase of step t:
 *   1. the interventions scheduled at t are applied (file order among equal `at`) and logged (/events);
 *   2. the personas due at t decide and act, when the session has personas (mixed runs) and t is before the end;
 *   3. the metrics of t are measured, kept in the summary and recorded: a row of /metrics, a snapshot when due
 *      (t = 0, every output.snapshot_every steps, and the end step), a flush every output.flush_every steps and
 *      a checkpoint every checkpoint_every steps (file recorder);
 *   4. progress is reported (at most every progress_interval_s seconds, and always at the end step).
 * agora_session_step advances the world from t to t + 1 and does the phase of t + 1. So row t of /metrics describes
 * the state the step t -> t + 1 starts from, interventions of t included.
 *
 * An action applied between steps (agora_session_apply, e.g. from an MCP client) acts on the state at t: it is
 * logged at step t and the current metrics are measured again. The file recorder keeps the row of t it wrote; the
 * memory recorder's last row is replaced, so it always describes the current state.
 *
 * An interactions scenario (mode: interactions) is a session too, with agora_session_options.interact: a step is
 * one round (messages, every actor's turn, the world engine, the metrics); pause, stop and run_until work alike.
 *
 * Not thread-safe, except agora_session_pause, which another thread (or a signal handler) may call at any time. */
#ifndef AGORA_SESSION_H
#define AGORA_SESSION_H

#include <stdint.h>

#include <jansson.h>

#include "agora/error.h"
#include "agora/export.h"
#include "agora/run.h"
#include "agora/scenario.h"
#include "agora/world.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct agora_session agora_session;

typedef enum agora_session_recorder {
    AGORA_RECORD_FILE = 0, /* the run file output.path (agora/output.h), as agora_run writes it */
    AGORA_RECORD_MEMORY,   /* every step's metrics in memory (agora_session_history); no file */
    AGORA_RECORD_NONE      /* only the summary and the current metrics */
} agora_session_recorder;

typedef struct agora_session_options {
    /* Logger, progress, events, decisions, cancellation, replay, checkpoints, resume, LLM budget, force: as
     * agora_run takes them (agora/run.h). Checkpoints and resume need the file recorder. */
    agora_run_options run;
    agora_session_recorder recorder;
    /* Nonzero: the scenario's personas are left out (they neither act nor are built), as in an MCP live world. */
    int no_personas;
    /* A world built by the caller from this scenario (with its own limits): the session owns it from this call
     * on, even when opening fails. NULL: the session builds the scenario's world, as agora_run does. */
    agora_world *world;
    /* Nonzero: the session has no end step (an MCP live world); scenario `steps` only shortens nothing. */
    int unbounded;
    /* The actions kept in the session's log (agora_session_events); 0: 1000. */
    int max_events;
    /* A scenario with mode: interactions is a session only with these (agora/interact.h; they must outlive the
     * session): its rounds are the steps, recorded to its run file; it has no world, so no actions, history,
     * saved states or copies. NULL: such a scenario is refused. */
    const struct agora_interact_options *interact;
} agora_session_options;

/* Why agora_session_run_until returned. */
typedef enum agora_session_stop {
    AGORA_SESSION_REACHED = 0, /* the step asked for (or the session's end) */
    AGORA_SESSION_PAUSED,      /* agora_session_pause was called */
    AGORA_SESSION_STOPPED      /* the cancel flag or the progress callback asked to stop */
} agora_session_stop;

/* Opens a session on a mechanics or mixed scenario: builds (or takes) the world, checks what agora_run_check checks
 * for the recorder's needs and opens the recorder (file recorder: creates output.path, or reopens it with
 * run.resume). A failure here is the scenario's or the set-up's; a later one (agora_session_begin, _step) is the
 * run's. The session keeps its own reference to the scenario's configuration: the
 * scenario may be destroyed after this call. `opt` may be NULL (the file recorder, personas included). On failure
 * *out is NULL and a run file already created is closed with status "failed". */
AGORA_API int agora_session_open(const agora_scenario *sc, const agora_session_options *opt, agora_session **out,
                                 agora_error *err);

/* Does the phase of the first step (a resumed session: measures it only, its rows are in the file). Once. */
AGORA_API int agora_session_begin(agora_session *s, agora_error *err);

/* Advances one step and does the phase of the new step (begins the session first when it was not). Refused (AGORA_ERANGE) at the session's end. A rule's
 * fault (a NaN, a division by zero) ends the session: it returns that error, and every later step is refused. */
AGORA_API int agora_session_step(agora_session *s, agora_error *err);

/* Steps until step `t` (the end step when t < 0 or beyond the end), a pause or a stop, whichever comes first;
 * *why (may be NULL) says which. A pause or stop leaves the session at a whole step: it can go on. */
AGORA_API int agora_session_run_until(agora_session *s, int64_t t, agora_session_stop *why, agora_error *err);

/* Asks a running agora_session_run_until to return after the step in progress. Async-signal-safe; a pause asked
 * while nothing runs makes the next agora_session_run_until return before stepping. */
AGORA_API void agora_session_pause(agora_session *s);

/* Applies a model action now (see the top of this file); `source` names who applied it (NULL: "session"). A
 * rejected action is logged and returned as the error. */
AGORA_API int agora_session_apply(agora_session *s, const json_t *action, const char *source, agora_error *err);

/* Logs (and records in /events) a change the caller made itself at the current step, e.g. agents' state set
 * directly: `what` describes it as an action does. */
AGORA_API int agora_session_log(agora_session *s, const char *source, const json_t *what, const char *status,
                                const char *message, agora_error *err);

/* Replaces the progress callback and its user data (progress_interval_s becomes 0: after every step), e.g. for one
 * call of a front that reports each step to its own client; NULL removes it. */
AGORA_API void agora_session_control(agora_session *s, agora_progress_fn progress, void *ud);

/* Measures the current metrics again, after the caller changed the world's state itself. */
AGORA_API void agora_session_remeasure(agora_session *s);

AGORA_API agora_world *agora_session_world(agora_session *s);
AGORA_API const agora_world *agora_session_world_const(const agora_session *s);
AGORA_API int64_t agora_session_time(const agora_session *s);
/* The end step (scenario `steps`), or -1 for an unbounded session. */
AGORA_API int64_t agora_session_end(const agora_session *s);
/* The metrics of the current step, in the model's order. */
AGORA_API const double *agora_session_metrics(const agora_session *s);
/* Memory recorder: the rows of every step since the first (row k = step k; *len rows of the model's metrics);
 * NULL and *len = 0 for the other recorders. */
AGORA_API const double *agora_session_history(const agora_session *s, int64_t *len);
/* The log of actions applied ([{step, source, action, status, message?}], the last max_events, oldest first); not
 * a new reference. *total (may be NULL) receives how many were ever logged, so a caller can take the new ones. */
AGORA_API const json_t *agora_session_events(const agora_session *s, int64_t *total);
/* {"metrics": {name: {final, peak, peak_step}}, "steps_done"} (and "llm" with personas): a new reference. */
AGORA_API json_t *agora_session_summary(const agora_session *s);

/* A saved state of a session not recording to a file: the world, the history, the log, the personas. Restoring it
 * is exact however the session moved since, and can be done again. */
typedef struct agora_session_state agora_session_state;
AGORA_API int agora_session_save(const agora_session *s, agora_session_state **out, agora_error *err);
AGORA_API int agora_session_restore(agora_session *s, const agora_session_state *st, agora_error *err);
AGORA_API int64_t agora_session_state_time(const agora_session_state *st);
AGORA_API void agora_session_state_free(agora_session_state *st);

/* An independent copy of a session not recording to a file and without personas (MCP copy_world). */
AGORA_API int agora_session_copy(const agora_session *s, agora_session **out, agora_error *err);

/* Closes the session: file recorder: flushes, writes a checkpoint when it was stopped and checkpoints are on (and
 * removes it when it ended), and closes the file with its status: "failed" when `rc` (the caller's verdict, e.g.
 * an error from agora_session_step) is not 0, "interrupted" when it stopped before its end, "degraded" or
 * "complete". Fills `res` (may be NULL; free its summary with agora_run_result_free) and frees the session.
 * Returns rc, or the error closing the file met. `err` receives that error (it keeps rc's when rc is not 0). */
AGORA_API int agora_session_close(agora_session *s, int rc, agora_run_result *res, agora_error *err);

#ifdef __cplusplus
}
#endif
#endif
