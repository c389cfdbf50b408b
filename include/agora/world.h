/* agora — a world: one model instance on one space, at one time step.
 *
 * A world owns its space, its model state and its RNG key; nothing is global, so several worlds run side by side
 * in one process (threads, sweeps, the MCP server). Parallel loops inside a model use agora_world_threads(w)
 * threads (`#pragma omp parallel for num_threads(...)`); results do not depend on it. */
#ifndef AGORA_WORLD_H
#define AGORA_WORLD_H

#include <stdint.h>

#include <jansson.h>

#include "agora/error.h"
#include "agora/export.h"
#include "agora/log.h"
#include "agora/model.h"
#include "agora/rng.h"
#include "agora/space.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct agora_world_config {
    const agora_model *model;     /* required */
    agora_space *space;           /* required; ownership passes to the world, even when creation fails */
    const json_t *params;         /* the model's parameters (may be NULL: defaults); validated here */
    uint64_t seed;
    int threads;                  /* <= 0: OpenMP's default (omp_get_max_threads); taken as given (a run from a
                                   * scenario caps it at the machine's cores first: agora_run_check) */
    const agora_logger *logger;   /* may be NULL; copied */
} agora_world_config;

/* Creates a world at t = 0 with the model's initial conditions. Owned by the caller (agora_world_destroy).
 * Errors: AGORA_EINVAL (model does not run on this space kind), AGORA_ESCHEMA (bad params, or an amount given as a
 * count larger than the space's population; err->where names "params.<name>"), AGORA_ENOMEM, or whatever the
 * model's init reports. */
AGORA_API int agora_world_create(const agora_world_config *cfg, agora_world **out, agora_error *err);

/* Frees a world, its space and its model state; NULL is allowed. */
AGORA_API void agora_world_destroy(agora_world *w);

/* Advances one step (t -> t + 1). After a model fault (agora_world_error), does nothing: t stays. */
AGORA_API void agora_world_step(agora_world *w);

/* For models whose step or measure meets a fault it cannot recover from (a rule producing NaN): records the error
 * (the first one is kept); later steps do nothing, and the runner stops with it. */
AGORA_API void agora_world_fail(agora_world *w, const agora_error *err);

/* The fault a model recorded, or NULL while the world is healthy. */
AGORA_API const agora_error *agora_world_error(const agora_world *w);

/* Writes the model's metrics at the current step into out[0 .. agora_model_n_metrics). */
AGORA_API void agora_world_measure(const agora_world *w, double *out);

/* Validates `action` against the model's action schema and applies it at the current step. On error (AGORA_ESCHEMA
 * with the offending key in the message, or the model's own refusal) the world is unchanged. */
AGORA_API int agora_world_apply(agora_world *w, const json_t *action, agora_error *err);

/* The current buffer of field `i` and its type; valid until the next step. */
AGORA_API const void *agora_world_field(const agora_world *w, int i, agora_dtype *type);

/* A deep copy of a world (space, parameters, model state, time, seed, threads, logger): the copy steps, measures and
 * takes actions exactly as the original would, and shares no memory with it. Owned by the caller
 * (agora_world_destroy). Errors: AGORA_EUNSUPPORTED (the model has no copy), AGORA_ENOMEM. */
AGORA_API int agora_world_copy(const agora_world *src, agora_world **out, agora_error *err);

/* Sets field `i` of the agents ids[0 .. count) to values[0 .. count), in order (see agora_model.set_field). Errors:
 * AGORA_EINVAL (a field index or id out of range, where = "field" / "ids"; a value outside the field's domain,
 * where = "values"), AGORA_EUNSUPPORTED (read-only field, where = "field"). The world is unchanged on error. */
AGORA_API int agora_world_set_field(agora_world *w, int i, const int64_t *ids, int64_t count, const double *values,
                                    agora_error *err);

/* Saves the world's time and model state (agora_model.save) to `st`, for a checkpoint. Errors: AGORA_EUNSUPPORTED
 * (the model cannot save), or what st->put reports. */
AGORA_API int agora_world_save(const agora_world *w, const agora_state *st, agora_error *err);

/* Loads a saved time and model state into `w`, a world just created from the same configuration (model, space,
 * params, seed): afterwards w steps, measures and acts exactly as the saved world would. On error w is unusable
 * (destroy it). Errors: AGORA_EUNSUPPORTED, AGORA_EINVAL (a part missing or of another size: not the same
 * configuration), or what st->get reports. */
AGORA_API int agora_world_load(agora_world *w, const agora_state *st, agora_error *err);

AGORA_API const agora_model *agora_world_model(const agora_world *w);
AGORA_API const agora_space *agora_world_space(const agora_world *w);
AGORA_API int64_t agora_world_n(const agora_world *w);
AGORA_API int64_t agora_world_time(const agora_world *w);
AGORA_API uint64_t agora_world_seed(const agora_world *w);
AGORA_API agora_rng_key agora_world_key(const agora_world *w);
AGORA_API int agora_world_threads(const agora_world *w);
/* Changes the thread count of later steps (<= 0: OpenMP's default). */
AGORA_API void agora_world_set_threads(agora_world *w, int threads);
/* The resolved parameters (every declared parameter present); borrowed. */
AGORA_API const json_t *agora_world_params(const agora_world *w);
AGORA_API const agora_logger *agora_world_logger(const agora_world *w);

/* For models: their private state. */
AGORA_API void *agora_world_model_state(const agora_world *w);
AGORA_API void agora_world_set_model_state(agora_world *w, void *state);

#ifdef __cplusplus
}
#endif
#endif
