/* agora — the world: one model on one space at one step, with its RNG key and thread count.
 *
 * The world owns the space, the resolved parameters, the parsed action schema and (through the model's init and
 * destroy) the model state. It holds no global state, so any number of worlds coexist. A deep copy is a new world
 * built from the same configuration on a copy of the space, whose model state the model's copy hook then overwrites;
 * field writes are checked here (field index, ids) and then left to the model, which keeps its derived state. For a
 * model that declares its fields (agora_model.sdk) the world also holds their store (sdk.c): created before init,
 * double buffers swapped after each step, freed last. */
#include <stdio.h>
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
    agora__sdk *sdk; /* the arrays and scalars of a model that declares them (agora_model.sdk), else NULL */
    int failed;      /* a model reported a fault (agora_world_fail): steps stop */
    agora_error error;
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
    /* An amount given as a count (initial_infected: 500) must fit the population the space turned out to have. */
    for (const agora_param_spec *p = cfg->model->params; p && p->name; p++) {
        const json_t *v = json_object_get(w->params, p->name);
        if (p->type != AGORA_PARAM_AMOUNT || !json_is_integer(v) || json_integer_value(v) <= w->space->n)
            continue;
        char where[256];
        snprintf(where, sizeof where, "params.%s", p->name);
        rc = agora_error_set(err, AGORA_ESCHEMA, where,
                             "expected a fraction in [0, 1) or a count of at most the population (%lld agents), "
                             "got %lld",
                             (long long)w->space->n, (long long)json_integer_value(v));
        goto done;
    }
    if (cfg->model->action_schema) {
        w->action_schema = agora_model_action_schema(cfg->model, err);
        if (!w->action_schema) {
            rc = err ? err->code : AGORA_EINTERNAL;
            goto done;
        }
    }
    if (cfg->model->sdk && (rc = agora__sdk_create(cfg->model, w->space, &w->sdk, err)) != 0)
        goto done;
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
    agora__sdk_destroy(w->sdk);
    json_decref(w->params);
    json_decref(w->action_schema);
    agora_space_destroy(w->space);
    free(w);
}

void agora_world_step(agora_world *w)
{
    if (w->failed)
        return;
    w->model->step(w);
    if (w->failed)
        return;
    if (w->sdk)
        agora__sdk_swap(w->sdk);
    w->t++;
}

void agora_world_fail(agora_world *w, const agora_error *err)
{
    if (!w || w->failed)
        return;
    w->failed = 1;
    if (err)
        w->error = *err;
    else
        agora_error_set(&w->error, AGORA_EINVAL, "model", "the model %s failed", w->model->name);
}

const agora_error *agora_world_error(const agora_world *w)
{
    return w && w->failed ? &w->error : NULL;
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

int agora_world_copy(const agora_world *src, agora_world **out, agora_error *err)
{
    *out = NULL;
    if (!src->model->copy)
        return agora_error_set(err, AGORA_EUNSUPPORTED, "model", "the model %s cannot copy its worlds",
                               src->model->name);
    agora_world *dst = NULL;
    agora_space *space = NULL;
    int rc = agora_space_copy(src->space, &space, err);
    if (rc != 0)
        return rc;
    /* A fresh world on the copied space (init allocates the model's state, the create takes the space even when it
     * fails), then the model overwrites that state with src's. The time is the only state the kernel itself keeps
     * per world besides what the config carries. */
    agora_world_config cfg = {.model = src->model,
                              .space = space,
                              .params = src->params,
                              .seed = src->seed,
                              .threads = src->threads,
                              .logger = &src->logger};
    if ((rc = agora_world_create(&cfg, &dst, err)) != 0)
        goto done;
    dst->t = src->t;
    rc = src->model->copy(src, dst, err);
done:
    if (rc != 0) {
        agora_world_destroy(dst);
        return rc;
    }
    *out = dst;
    return 0;
}

int agora_world_set_field(agora_world *w, int i, const int64_t *ids, int64_t count, const double *values,
                          agora_error *err)
{
    const int nf = agora_model_n_fields(w->model);
    if (i < 0 || i >= nf)
        return agora_error_set(err, AGORA_EINVAL, "field", "no field %d: the model %s has %d field%s", i,
                               w->model->name, nf, nf == 1 ? "" : "s");
    if (!w->model->set_field)
        return agora_error_set(err, AGORA_EUNSUPPORTED, "field", "the field %s of the model %s is read-only",
                               w->model->fields[i].name, w->model->name);
    if (count < 0 || (count > 0 && (!ids || !values)))
        return agora_error_set(err, AGORA_EINVAL, "ids", "expected count >= 0 ids and values");
    const int64_t n = w->space->n;
    for (int64_t k = 0; k < count; k++)
        if (ids[k] < 0 || ids[k] >= n)
            return agora_error_set(err, AGORA_EINVAL, "ids", "no agent %lld (ids[%lld]): ids run from 0 to %lld",
                                   (long long)ids[k], (long long)k, (long long)(n - 1));
    return w->model->set_field(w, i, ids, count, values, err);
}

int agora_world_save(const agora_world *w, const agora_state *st, agora_error *err)
{
    if (!w || !st || !st->put)
        return agora_error_set(err, AGORA_EINVAL, "state", "agora_world_save needs a world and a place to save to");
    if (!w->model->save)
        return agora_error_set(err, AGORA_EUNSUPPORTED, "model", "the model %s cannot save its state", w->model->name);
    /* The agent count guards against loading into a world of another size; the model's parts check the rest. */
    const int64_t header[2] = {w->t, w->space->n};
    int rc = st->put(st->ud, "world", header, sizeof header, err);
    return rc ? rc : w->model->save(w, st, err);
}

int agora_world_load(agora_world *w, const agora_state *st, agora_error *err)
{
    if (!w || !st || !st->get)
        return agora_error_set(err, AGORA_EINVAL, "state", "agora_world_load needs a world and a place to load from");
    if (!w->model->load)
        return agora_error_set(err, AGORA_EUNSUPPORTED, "model", "the model %s cannot load a saved state",
                               w->model->name);
    int64_t header[2];
    int rc = st->get(st->ud, "world", header, sizeof header, err);
    if (rc)
        return rc;
    if (header[1] != w->space->n || header[0] < 0)
        return agora_error_set(err, AGORA_EINVAL, "state",
                               "the saved world has %lld agents at step %lld, this one %lld", (long long)header[1],
                               (long long)header[0], (long long)w->space->n);
    w->t = header[0];
    return w->model->load(w, st, err);
}

const agora_model *agora_world_model(const agora_world *w)
{
    return w->model;
}
const agora_space *agora_world_space(const agora_world *w)
{
    return w->space;
}
int64_t agora_world_n(const agora_world *w)
{
    return w->space->n;
}
int64_t agora_world_time(const agora_world *w)
{
    return w->t;
}
uint64_t agora_world_seed(const agora_world *w)
{
    return w->seed;
}
agora_rng_key agora_world_key(const agora_world *w)
{
    return w->key;
}
int agora_world_threads(const agora_world *w)
{
    return w->threads;
}
void agora_world_set_threads(agora_world *w, int threads)
{
    w->threads = default_threads(threads);
}
const json_t *agora_world_params(const agora_world *w)
{
    return w->params;
}
const agora_logger *agora_world_logger(const agora_world *w)
{
    return &w->logger;
}
void *agora_world_model_state(const agora_world *w)
{
    return w->state;
}
void agora_world_set_model_state(agora_world *w, void *state)
{
    w->state = state;
}
agora__sdk *agora__world_sdk(const agora_world *w)
{
    return w->sdk;
}
