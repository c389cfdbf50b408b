/* agora — scenarios: a YAML (or JSON) file describing one experiment.
 *
 * The file is parsed into one jansson tree, with the line and column of every key and value kept aside, and checked
 * against the scenario's schema, the model's parameters, the space's options and the model's action schema. Every
 * error names file:line:col, the key and what was expected:
 *
 *   scenarios/x.yaml:7:3: params.beta: expected a number in [0, 1], got "high"
 *
 * Unknown keys are errors. `agora_scenario_set` applies a command-line override ("params.beta=0.1", the value
 * read as a YAML scalar or flow collection) and re-runs every check; errors then name the override.
 *
 * Keys (defaults in brackets):
 *   name [file stem], description, mode [mechanics], model (required), space (required), params [model defaults],
 *   steps [100], seed [0], threads [0: all cores],
 *   output: {path [runs/<name>.h5], snapshot_every [0: first and last step only], snapshot_fields [all],
 *            flush_every [10], compression [4]},
 *   interventions: [{at: STEP, action: {action: NAME, ...}, source [scenario]}] (STEP in [0, steps]; when `steps`
 *   comes from an override, a later STEP is kept and the run skips it with a warning)
 *
 * The loader stops at the first error; agora_scenario_load_report and friends report every error at once. */
#ifndef AGORA_SCENARIO_H
#define AGORA_SCENARIO_H

#include <stddef.h>

#include <jansson.h>

#include "agora/error.h"
#include "agora/export.h"
#include "agora/model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct agora_scenario agora_scenario;

/* Loads and checks a scenario file (.yaml, .yml or .json). Owned by the caller (agora_scenario_destroy).
 * Errors: AGORA_EIO (missing/unreadable file), AGORA_EPARSE (syntax), AGORA_ESCHEMA (a value or key is wrong);
 * err->where/line/column locate the problem and err->msg starts with the key path. */
AGORA_API int agora_scenario_load(const char *path, agora_scenario **out, agora_error *err);

/* The same from text in memory. `name` is used in error messages in place of a path; relative paths inside the
 * scenario resolve against base_dir (NULL: the working directory). */
AGORA_API int agora_scenario_parse(const char *text, size_t len, const char *name, const char *base_dir,
                                   agora_scenario **out, agora_error *err);

/* Applies "dotted.key=value" and re-checks the whole scenario; on error the scenario is unchanged and the error
 * names the override (where = "--set params.beta=high"). Creates intermediate objects as needed. */
AGORA_API int agora_scenario_set(agora_scenario *sc, const char *assignment, agora_error *err);

/* Applies n assignments in order (a later one wins over an earlier one on the same key), then checks the whole
 * scenario once: overrides that are only valid together are accepted. On error nothing is applied and the error
 * names the override responsible for the bad key (or the file position when the file's own value is wrong). */
AGORA_API int agora_scenario_set_all(agora_scenario *sc, const char *const *assignments, int n, agora_error *err);

/* The effective configuration: checked, overrides applied, defaults filled in; borrowed. */
AGORA_API const json_t *agora_scenario_config(const agora_scenario *sc);

/* The SHA-256 (64 hex digits) of what makes the scenario's results: the effective configuration with overrides
 * (every key that can change a dataset: model, space, params, steps, seed, snapshots, interventions, LLM,
 * personas, ... but not output.path, flush_every, compression, threads or a sweep block), the model's definition
 * (its parameters, metrics, fields and actions), the contents of an edge-list file and the agora version. A run
 * file records it as the root attribute `config_hash`; a sweep reuses a run file, and `agora run --resume`
 * continues one, only when the hashes are equal. */
AGORA_API int agora_scenario_hash(const agora_scenario *sc, char hex[65], agora_error *err);

/* The file's text as written (for provenance); borrowed. */
AGORA_API const char *agora_scenario_text(const agora_scenario *sc);

/* The path it was loaded from (or the name given to agora_scenario_parse), and its directory; borrowed. */
AGORA_API const char *agora_scenario_path(const agora_scenario *sc);
AGORA_API const char *agora_scenario_base_dir(const agora_scenario *sc);

/* The model the scenario names. */
AGORA_API const agora_model *agora_scenario_model(const agora_scenario *sc);

/* Fills err->where/line/column from the scenario's source positions for an error whose err->where is a key path
 * (as validators report it), prefixing err->msg with the key path. Used for errors found after loading (e.g. a
 * graph file named in the scenario is malformed). */
AGORA_API void agora_scenario_locate(const agora_scenario *sc, agora_error *err);

/* ---- every error at once ------------------------------------------------------------------------------------- */

#define AGORA_SCENARIO_MAX_ERRORS 20

/* The errors of a scenario that does not load (agora_scenario_load_report). e[0] is always exactly the error the
 * single-error calls (agora_scenario_load, agora_scenario_set_all) report; the others follow in the order the
 * checks meet them, each as it would read if it were the only one (file:line:col, key path, what was expected). */
typedef struct agora_scenario_errors {
    int n;    /* errors in e[0 .. n) */
    int more; /* nonzero: there were more than AGORA_SCENARIO_MAX_ERRORS */
    agora_error e[AGORA_SCENARIO_MAX_ERRORS];
} agora_scenario_errors;

/* agora_scenario_load, agora_scenario_parse and agora_scenario_set_all, reporting every error they can find when
 * they fail, up to AGORA_SCENARIO_MAX_ERRORS: each bad key is set aside (its default then applies, an unknown key
 * is dropped) and the rest checked again, so one pass shows unknown keys, bad values, bad personas and bad
 * interventions together. A file that cannot be read or parsed, or a malformed override, has one error. Return
 * values, *out and the scenario after a failed override are as for the single-error calls; `out` may be NULL
 * (check only: the scenario is freed). errs may be NULL; it is cleared on success (n = 0). */
AGORA_API int agora_scenario_load_report(const char *path, agora_scenario **out, agora_scenario_errors *errs);
AGORA_API int agora_scenario_parse_report(const char *text, size_t len, const char *name, const char *base_dir,
                                          agora_scenario **out, agora_scenario_errors *errs);
AGORA_API int agora_scenario_set_all_report(agora_scenario *sc, const char *const *assignments, int n,
                                            agora_scenario_errors *errs);

/* Frees a scenario; NULL is allowed. */
AGORA_API void agora_scenario_destroy(agora_scenario *sc);

#ifdef __cplusplus
}
#endif
#endif
