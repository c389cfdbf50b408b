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

#ifdef __cplusplus
}
#endif
#endif
