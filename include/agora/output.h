/* agora — the HDF5 run file: writing it during a run and reading it back.
 *
 * Layout (one file per run; see DESIGN.md):
 *   /                     attributes: agora_version, mode, model, seed, threads, n_agents, space, scenario (the file
 *                         as written), scenario_path, config (effective configuration, JSON), config_hash
 *                         (agora_scenario_hash), created (UTC ISO-8601),
 *                         status ("running" while written; "complete", "degraded", "interrupted" or "failed" once
 *                         closed),
 *                         and after closing: finished, steps_done, wall_time_s, summary (JSON)
 *   /time                 int64[T], unlimited, the `time` dimension scale
 *   /metrics/<name>       float64[T], attached to /time (xarray/h5netcdf read it without help)
 *   /snapshots/time       int64[S], dimension scale
 *   /snapshots/<field>    [S, H, W] on a grid (scales /snapshots/y, /snapshots/x) or [S, N] on a graph
 *                         (scale /snapshots/agent); chunked, deflate-compressed
 *   /events               table (compound): id, part, step, source, status, action (JSON), message
 *   /personas/<id>        one group per persona of a mixed run (in persona order), attributes name, role, provider,
 *                         model, persona (the persona text)
 *   /llm/calls            table (compound), one logical row per LLM call: id, part, step, persona, attempt (int32:
 *                         1 decision, 2 repair), provider, model, latency_ms, prompt_tokens, completion_tokens (-1
 *                         unknown), http_status, http_attempts (int32), status ("ok", "invalid", "http_error",
 *                         "timeout", ...), error, prompt, reply
 *                         /personas and /llm exist only when the run has personas (a mechanics run has neither).
 *
 * The file is written in SWMR mode: every dataset exists before writing starts, appends become visible to SWMR
 * readers (h5py `swmr=True`) at each agora_writer_flush, and a killed run keeps every flushed row. SWMR cannot
 * append variable-length strings safely (a killed writer leaves them unreadable), so text columns of tables are
 * fixed-width UTF-8; a value longer than its column continues in further rows of the same `id` with `part` 1, 2, ...
 * (readers join them; agora_h5_inspect and notebooks/agora_h5.py do). */
#ifndef AGORA_OUTPUT_H
#define AGORA_OUTPUT_H

#include <stdint.h>

#include <jansson.h>

#include "agora/error.h"
#include "agora/export.h"
#include "agora/model.h"
#include "agora/llmcall.h" /* agora_persona_call, the record of one LLM call */
#include "agora/space.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct agora_writer agora_writer;

/* A persona of a mixed run, as recorded under /personas/<id>. The id names the group: non-empty, no '/', not "."
 * or "..", unique. Other strings may be NULL (written empty). */
typedef struct agora_writer_persona {
    const char *id, *name, *role, *provider, *model, *persona;
} agora_writer_persona;

/* A table of the run's own (e.g. /interactions/messages): append-only rows of int64, float64 and UTF-8 text
 * columns, stored like /events (fixed-width text, `id`/`part` continuation rows that readers join). */
typedef enum agora_column_kind {
    AGORA_COLUMN_INT64 = 1,
    AGORA_COLUMN_FLOAT64 = 2,
    AGORA_COLUMN_TEXT = 3
} agora_column_kind;

typedef struct agora_writer_column {
    const char *name; /* not "id" or "part" */
    agora_column_kind kind;
    int width; /* text: bytes per stored row (>= 4); longer values continue in further rows */
} agora_writer_column;

typedef struct agora_writer_table {
    const char *path; /* "interactions/messages": groups on the way are created */
    int n_columns;
    const agora_writer_column *columns;
} agora_writer_table;

/* One value of a row: the member of the column's kind is read; s == NULL is "". */
typedef struct agora_writer_cell {
    int64_t i;
    double f;
    const char *s;
} agora_writer_cell;

typedef struct agora_writer_config {
    const char *path; /* created (parent directories too) or truncated */
    /* provenance, written as root attributes; strings may be NULL (written empty) */
    const char *mode, *model, *scenario_text, *scenario_path, *config_json;
    const char *config_hash; /* agora_scenario_hash of what made the run (root attribute config_hash) */
    uint64_t seed;
    int threads;
    /* metrics, in the order agora_writer_metrics receives them */
    int n_metrics;
    const agora_metric_spec *metrics;
    /* snapshot fields, in the order agora_writer_snapshot receives them, and the space that shapes them */
    int n_fields;
    const agora_field_spec *fields;
    const agora_space *space;
    int compression; /* deflate level 0..9; 0 = none */
    /* the personas of a mixed run; 0 (a mechanics run): the file has neither /personas nor /llm */
    int n_personas;
    const agora_writer_persona *personas;
    int llm_calls; /* nonzero: /llm/calls even without personas (an interactions run) */
    /* tables of the run's own, in the order agora_writer_row numbers them */
    int n_tables;
    const agora_writer_table *tables;
} agora_writer_config;

/* Creates the file with every group, dataset and attribute, then starts SWMR writing. Owned by the caller until
 * agora_writer_close. Errors: AGORA_EIO (cannot create the file or its directory), AGORA_EHDF5. */
AGORA_API int agora_writer_create(const agora_writer_config *cfg, agora_writer **out, agora_error *err);

/* Appends one row (time t, then n_metrics values), buffered until the next flush. */
AGORA_API int agora_writer_metrics(agora_writer *wr, int64_t t, const double *values, agora_error *err);

/* Appends one snapshot at time t: data[i] is field i's array of n agents, of the field's type. */
AGORA_API int agora_writer_snapshot(agora_writer *wr, int64_t t, const void *const *data, agora_error *err);

/* Appends one row to /events: an action applied ("applied") or refused ("rejected") at `step`, by `source`
 * ("scenario", "persona:<id>", "mcp"), with the action as JSON text and a message (the reason when refused).
 * Strings may be NULL. */
AGORA_API int agora_writer_event(agora_writer *wr, int64_t step, const char *source, const char *action_json,
                                 const char *status, const char *message, agora_error *err);

/* Appends one LLM call to /llm/calls, buffered until the next flush like events. The strings are copied (NULL is
 * written empty); prompt and reply may be of any length. Errors: AGORA_EINVAL (no writer or call, or a file created
 * without personas), AGORA_ENOMEM, AGORA_EHDF5. */
AGORA_API int agora_writer_llm_call(agora_writer *wr, const agora_persona_call *call, agora_error *err);

/* Appends one row (cells[c] for column c) to the config's table number `table`, buffered until the next flush;
 * *id (may be NULL) receives the row's id (0, 1, ... in the table). */
AGORA_API int agora_writer_row(agora_writer *wr, int table, const agora_writer_cell *cells, int64_t *id,
                               agora_error *err);

/* Writes buffered rows and flushes every dataset: SWMR readers and a killed run see everything so far. */
AGORA_API int agora_writer_flush(agora_writer *wr, agora_error *err);

/* Where the file stands, right after agora_writer_flush, as a new JSON object owned by the caller: rows of /time,
 * snapshots, the stored rows and next row id of every table, and the per-persona call totals. A checkpoint keeps
 * it so that a resumed run can go on from there. Errors: AGORA_EINVAL (rows are buffered: flush first). */
AGORA_API int agora_writer_marks(const agora_writer *wr, json_t **marks, agora_error *err);

/* Reopens the run file cfg->path, written earlier from the same configuration (a killed or interrupted run), cuts
 * every dataset back to `marks` (agora_writer_marks at a checkpoint), sets its status to "running" again (and the
 * attribute `resumed` to `note`, if not NULL) and goes on writing after the marks in SWMR mode, as
 * agora_writer_create does after creating. A file left open by a killed writer is opened all the same (its
 * "open for writing" mark is cleared). Errors: AGORA_EIO (cannot open), AGORA_EHDF5 (a dataset is missing or has
 * other columns: not the same configuration), AGORA_EINVAL. */
AGORA_API int agora_writer_resume(const agora_writer_config *cfg, const json_t *marks, const char *note,
                                  agora_writer **out, agora_error *err);

/* Records why the run failed (the formatted error), written at agora_writer_close as the root attribute `error`,
 * which `agora inspect` shows. NULL clears it. */
AGORA_API void agora_writer_set_error(agora_writer *wr, const char *message);

/* Flushes, ends SWMR writing and records the final status ("complete", "degraded", "interrupted", "failed"), the
 * steps done,
 * the wall time and a summary (JSON text, may be NULL) as root attributes. Frees wr in every case; NULL is allowed.
 * After this the file opens in any HDF5 tool without flags.
 *
 * Running out of room (a full disk, `ulimit -f`): every writing call checks the room first and fails with AGORA_EIO
 * ("no space left on device: ...") while a reserve for closing remains, so the file closes with status "failed"
 * and its `error` attribute. A write that fails in the operating system anyway (errno in the message) breaks the
 * writer: later calls fail at once, and the close records "failed" in the file as of its last flush when there is
 * room again, else removes the file (the error then ends with "the incomplete run file was removed"). */
AGORA_API int agora_writer_close(agora_writer *wr, const char *status, int64_t steps_done, double wall_time_s,
                                 const char *summary_json, agora_error *err);

/* Reads a run file's provenance, status and last metrics into a new JSON object owned by the caller:
 *   {path, status, complete (bool), attributes: {...}, time: {rows, first, last},
 *    metrics: {name: last value}, snapshots: {count, times: [...], fields: {name: [dims]}}, events: {count, rows:
 * [...]}} and, when the file has personas (a mixed run): personas: [{id, name, role, provider, model}] in persona
 * order, llm: {calls: N (rows of /llm/calls), per_persona: {<id>: {calls (made), ok, invalid, failed (any other
 *         status), skipped (not made: unreachable, circuit_open, budget), prompt_tokens, completion_tokens (sums over
 *         the calls that report them), latency_ms_mean (null without calls), latency_ms_max}},
 *         and the other members of the summary's llm object (degraded, degraded_reason, budget, endpoint_check,
 *         circuit_open_at_step, fallbacks, skipped, used, limits, ...) when the run recorded one}
 * (every persona of /personas is listed in per_persona, with zeros when it made no call).
 * A file left open by a killed writer is read through SWMR; its status stays "running" and `complete` is false.
 * Errors: AGORA_EIO (missing or not HDF5), AGORA_EHDF5. */
AGORA_API int agora_h5_inspect(const char *path, json_t **info, agora_error *err);

/* Reads every recorded LLM call of a run file (/llm/calls), in the order they were written, into a new JSON array
 * owned by the caller: one object per call {id (0, 1, ... in order), step, persona, attempt, provider, model,
 * latency_ms (null if it was not finite), prompt_tokens, completion_tokens, http_status, http_attempts, status,
 * error, prompt, reply}, the texts exactly as written (continuation rows joined). A file without personas gives an
 * empty array. Like agora_h5_inspect, a file left open by a killed writer is read through SWMR (its flushed calls).
 * Errors: AGORA_EIO (missing or not HDF5), AGORA_EHDF5. */
AGORA_API int agora_h5_llm_calls(const char *path, json_t **rows, agora_error *err);

/* Lists the tables of a run file (or a sweep file) into a new JSON array owned by the caller, one object
 * {path, kind, columns} each, found by walking the file's groups depth first, each group's members in creation
 * order, along hard links only (a sweep file's /runs/<id> links into other files are not followed):
 *   - kind "table": every dataset written as an append-only table (a one-dimensional compound whose first members
 *     are the integers `id` and `part`: /events, /llm/calls, /sweep/table, a run's own tables, ...); columns are
 *     the names of the logical rows agora_h5_table gives, in dataset order: id first, `part` left out;
 *   - kind "metrics": /metrics, as one table whose columns are "time" and then every metric in creation order.
 * Like agora_h5_inspect, a file left open by a killed writer is read through SWMR.
 * Errors: AGORA_EIO (missing or not HDF5), AGORA_EHDF5. */
AGORA_API int agora_h5_tables(const char *path, json_t **tables, agora_error *err);

/* Reads one table listed by agora_h5_tables, named by its path ("/llm/calls"; the leading '/' may be left out),
 * into a new JSON array owned by the caller: one object per logical row, keyed by the table's columns, text parts
 * joined. For "/metrics", one row per step {time, <metric>: value, ...}; a value that is not finite (or missing in
 * a killed run's file) is null, as are non-finite floats of other tables.
 * Errors: AGORA_ENOTFOUND (no such object), AGORA_EINVAL (not a table), AGORA_EIO, AGORA_EHDF5. */
AGORA_API int agora_h5_table(const char *path, const char *table, json_t **rows, agora_error *err);

#ifdef __cplusplus
}
#endif
#endif
