/* agora — the world: one model on one space at one step, with its RNG key and thread count.
 *
 * The world owns the space, the resolved parameters, the parsed action schema and (through the model's init and
 * destroy) the model state. It holds no global state, so any number of worlds coexist. */
#include <stdlib.h>
#include <string.h>

#include <omp.h>

#include "agora/agora.h"
#include "core/internal.h"

struct agora_world {
    const agora_model *model;
    agora_space *space;
    json_t *params;
    json_t *action_schema;
    uint64_t seed;
    agora_rng_key key;
    int64_t t;
    int threads;
    agora_logger logger;
    void *state;
};

static int default_threads(int threads)
{
    return threads > 0 ? threads : omp_get_max_threads();
}

int agora_world_create(const agora_world_config *cfg, agora_world **out, agora_error *err)
{
    agora_init();
    *out = NULL;
    agora_space *space = cfg ? cfg->space : NULL;
    agora_world *w = NULL;
    int rc = 0;
    if (!cfg || !cfg->model || !space) {
        rc = agora_error_set(err, AGORA_EINVAL, NULL, "a world needs a model and a space");
        goto done;
    }
    if (!(cfg->model->spaces & AGORA_SPACES_FLAG(space->kind))) {
        rc = agora_error_set(err, AGORA_EINVAL, "space.kind", "the model %s does not run on a %s", cfg->model->name,
                             agora_space_kind_name(space->kind));
        goto done;
    }
    w = calloc(1, sizeof *w);
    if (!w) {
        rc = agora_error_set(err, AGORA_ENOMEM, NULL, "out of memory");
        goto done;
    }
    w->model = cfg->model;
    w->space = space;
    space = NULL; /* the world owns it now */
    w->seed = cfg->seed;
    w->key = agora_rng_key_from_seed(cfg->seed);
    w->threads = default_threads(cfg->threads);
    if (cfg->logger)
        w->logger = *cfg->logger;
    if ((rc = agora_params_resolve(cfg->model->params, cfg->params, &w->params, err)) != 0)
        goto done;
    if (cfg->model->action_schema) {
        w->action_schema = agora_model_action_schema(cfg->model, err);
        if (!w->action_schema) {
            rc = err ? err->code : AGORA_EINTERNAL;
            goto done;
        }
    }
    if ((rc = cfg->model->init(w, w->params, err)) != 0)
        goto done;
done:
    if (rc != 0) {
        agora_world_destroy(w);
        agora_space_destroy(space);
        return rc;
    }
    *out = w;
    return 0;
}

void agora_world_destroy(agora_world *w)
{
    if (!w)
        return;
    if (w->state && w->model->destroy)
        w->model->destroy(w);
    json_decref(w->params);
    json_decref(w->action_schema);
    agora_space_destroy(w->space);
    free(w);
}

void agora_world_step(agora_world *w)
{
    w->model->step(w);
    w->t++;
}

void agora_world_measure(const agora_world *w, double *out)
{
    w->model->measure(w, out);
}

int agora_world_apply(agora_world *w, const json_t *action, agora_error *err)
{
    if (!w->model->apply || !w->action_schema)
        return agora_error_set(err, AGORA_EUNSUPPORTED, "action", "the model %s takes no actions", w->model->name);
    int rc = agora_schema_validate(w->action_schema, action, "action", err);
    if (rc != 0)
        return rc;
    return w->model->apply(w, action, err);
}

const void *agora_world_field(const agora_world *w, int i, agora_dtype *type)
{
    if (i < 0 || i >= agora_model_n_fields(w->model) || !w->model->field)
        return NULL;
    if (type)
        *type = w->model->fields[i].type;
    return w->model->field(w, i);
}

const agora_model *agora_world_model(const agora_world *w) { return w->model; }
const agora_space *agora_world_space(const agora_world *w) { return w->space; }
int64_t agora_world_n(const agora_world *w) { return w->space->n; }
int64_t agora_world_time(const agora_world *w) { return w->t; }
uint64_t agora_world_seed(const agora_world *w) { return w->seed; }
agora_rng_key agora_world_key(const agora_world *w) { return w->key; }
int agora_world_threads(const agora_world *w) { return w->threads; }
void agora_world_set_threads(agora_world *w, int threads) { w->threads = default_threads(threads); }
const json_t *agora_world_params(const agora_world *w) { return w->params; }
const agora_logger *agora_world_logger(const agora_world *w) { return &w->logger; }
void *agora_world_model_state(const agora_world *w) { return w->state; }
void agora_world_set_model_state(agora_world *w, void *state) { w->state = state; }
