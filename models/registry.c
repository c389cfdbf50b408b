/* agora — the model registry: every built-in model, in the order `agora models` lists them, then the models
 * registered at run time (agora_model_register; plug-ins through src/core/plugin.c).
 *
 * A new built-in model adds its `extern const agora_model` here and one line to the table. The registered part is
 * the library's one deliberate piece of process-wide mutable state, like the dynamic loader's own list of objects:
 * a model registered by a plug-in is visible to every world in the process. It only grows (a model is never
 * unregistered: worlds hold its pointer), into a fixed table behind a mutex, so agora_models can hand out the
 * table itself: the entries below the count it reports never change. */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "agora/model.h"
#include "agora/schema.h"
#include "core/internal.h"

extern const agora_model agora_model_sir;
extern const agora_model agora_model_opinion;
extern const agora_model agora_model_market;

enum { N_BUILTIN = 3, N_TABLE = N_BUILTIN + AGORA_MODEL_MAX_REGISTERED };

static const agora_model *registry[N_TABLE] = {
    &agora_model_sir,
    &agora_model_opinion,
    &agora_model_market,
};
/* origin[i] of registry[i]: NULL for the built-ins, a plug-in's path or "" (agora_model_origin). */
static const char *origin[N_TABLE];
static int n_registry = N_BUILTIN;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
/* models defined in a layer above the kernel (the rule language) are found through this, once that layer has
 * defined one (agora__models_set_finder): the kernel names nothing above it */
static const agora_model *(*finder)(const char *name);

void agora__models_set_finder(const agora_model *(*find)(const char *name))
{
    pthread_mutex_lock(&lock);
    finder = find;
    pthread_mutex_unlock(&lock);
}

const agora_model *const *agora_models(int *count)
{
    if (count) {
        pthread_mutex_lock(&lock);
        *count = n_registry;
        pthread_mutex_unlock(&lock);
    }
    return registry;
}

const agora_model *agora_model_find(const char *name)
{
    const agora_model *m = NULL;
    pthread_mutex_lock(&lock);
    for (int i = 0; name && i < n_registry && !m; i++)
        if (strcmp(registry[i]->name, name) == 0)
            m = registry[i];
    const agora_model *(*find)(const char *) = finder;
    pthread_mutex_unlock(&lock);
    return m ? m : find ? find(name) : NULL; /* else a model defined in the rule language in this process */
}

const char *agora_model_origin(const agora_model *m)
{
    const char *o = NULL;
    pthread_mutex_lock(&lock);
    for (int i = N_BUILTIN; m && i < n_registry && !o; i++)
        if (registry[i] == m)
            o = origin[i];
    pthread_mutex_unlock(&lock);
    return o;
}

/* ---- checks ------------------------------------------------------------------------------------------------------ */

/* The words of a CHOICE parameter: non-empty, no empty word, no word twice. Writes how many. */
static int choices_ok(const char *choices, int *n)
{
    *n = 0;
    if (!choices || !*choices)
        return 0;
    for (const char *p = choices; p;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == 0)
            return 0;
        for (const char *q = choices; q < p;) { /* an earlier word the same? */
            const char *qb = strchr(q, '|');
            if ((size_t)(qb - q) == len && strncmp(q, p, len) == 0)
                return 0;
            q = qb + 1;
        }
        (*n)++;
        p = bar ? bar + 1 : NULL;
    }
    return 1;
}

static int bad(agora_error *err, const char *model, const char *fmt, const char *a, const char *b)
{
    char msg[400];
    snprintf(msg, sizeof msg, fmt, a ? a : "", b ? b : "");
    return agora_error_set(err, AGORA_EINVAL, NULL, "model \"%s\": %s", model, msg);
}

static int check_params(const agora_model *m, agora_error *err)
{
    const char *name = m->name;
    for (int i = 0; m->params && m->params[i].name; i++) {
        const agora_param_spec *p = &m->params[i];
        if (!agora__ident_ok(p->name))
            return bad(err, name, "parameter \"%s\": the name is not an identifier ([A-Za-z_][A-Za-z0-9_]*)", p->name,
                       NULL);
        for (int k = 0; k < i; k++)
            if (strcmp(m->params[k].name, p->name) == 0)
                return bad(err, name, "parameter \"%s\" is declared twice", p->name, NULL);
        if (!p->doc)
            return bad(err, name, "parameter %s has no doc text", p->name, NULL);
        if (isnan(p->def) || isnan(p->min) || isnan(p->max))
            return bad(err, name, "parameter %s: its default, min or max is NaN", p->name, NULL);
        int n_words = 0;
        switch (p->type) {
        case AGORA_PARAM_REAL:
        case AGORA_PARAM_INT:
            if (p->min > p->max)
                return bad(err, name, "parameter %s: min is above max", p->name, NULL);
            if (p->type == AGORA_PARAM_INT && (p->min != floor(p->min) || p->max != floor(p->max)))
                return bad(err, name, "parameter %s: an int's min and max must be whole", p->name, NULL);
            break;
        case AGORA_PARAM_BOOL:
            if (p->def != 0.0 && p->def != 1.0)
                return bad(err, name, "parameter %s: a bool's default must be 0 (false) or 1 (true)", p->name, NULL);
            break;
        case AGORA_PARAM_AMOUNT:
            if (p->max < 0 || p->max != floor(p->max))
                return bad(err, name,
                           "parameter %s: an amount's max (a cap on counts, 0 for none) must be a whole "
                           "number >= 0",
                           p->name, NULL);
            break;
        case AGORA_PARAM_CHOICE:
            if (!choices_ok(p->choices, &n_words))
                return bad(err, name,
                           "parameter %s: choices must be '|'-separated words, none empty or twice (got "
                           "\"%s\")",
                           p->name, p->choices ? p->choices : "(none)");
            if (p->def != floor(p->def) || p->def < 0 || p->def >= n_words)
                return bad(err, name, "parameter %s: a choice's default is the index of one of its words (%s)", p->name,
                           p->choices);
            break;
        default:
            return bad(err, name, "parameter %s has an unknown type (not an AGORA_PARAM_*)", p->name, NULL);
        }
    }
    /* Every default must be a value the scenario loader would accept for it: validate the defaults as given values. */
    json_t *defaults = NULL, *again = NULL;
    agora_error e;
    int rc = agora_params_resolve(m->params, NULL, &defaults, &e);
    if (rc == 0)
        rc = agora_params_resolve(m->params, defaults, &again, &e);
    json_decref(defaults);
    json_decref(again);
    if (rc != 0)
        return agora_error_set(err, AGORA_EINVAL, NULL, "model \"%s\": the default of %s is not valid: %s", name,
                               strncmp(e.where, "params.", 7) == 0 ? e.where + 7 : e.where, e.msg);
    return 0;
}

static int check_specs(const agora_model *m, agora_error *err)
{
    const char *name = m->name;
    if (!m->metrics || !m->metrics[0].name)
        return bad(err, name, "declares no metrics (metrics must hold at least one, then a {NULL} entry)", NULL, NULL);
    for (int i = 0; m->metrics[i].name; i++) {
        const agora_metric_spec *s = &m->metrics[i];
        if (!agora__ident_ok(s->name))
            return bad(err, name, "metric \"%s\": the name is not an identifier ([A-Za-z_][A-Za-z0-9_]*)", s->name,
                       NULL);
        for (int k = 0; k < i; k++)
            if (strcmp(m->metrics[k].name, s->name) == 0)
                return bad(err, name, "metric \"%s\" is declared twice", s->name, NULL);
        if (!s->doc)
            return bad(err, name, "metric %s has no doc text", s->name, NULL);
        if (s->summary && strcmp(s->summary, "peak") != 0 && strcmp(s->summary, "final") != 0)
            return bad(err, name, "metric %s: summary must be NULL, \"peak\" or \"final\", not \"%s\"", s->name,
                       s->summary);
    }
    for (int i = 0; m->fields && m->fields[i].name; i++) {
        const agora_field_spec *f = &m->fields[i];
        if (!agora__ident_ok(f->name))
            return bad(err, name, "field \"%s\": the name is not an identifier ([A-Za-z_][A-Za-z0-9_]*)", f->name,
                       NULL);
        for (int k = 0; k < i; k++)
            if (strcmp(m->fields[k].name, f->name) == 0)
                return bad(err, name, "field \"%s\" is declared twice", f->name, NULL);
        if (!f->doc)
            return bad(err, name, "field %s has no doc text", f->name, NULL);
        if (agora_dtype_size(f->type) <= 0)
            return bad(err, name, "field %s has an unknown type (not an AGORA_DTYPE_*)", f->name, NULL);
    }
    return 0;
}

int agora__model_check(const agora_model *m, agora_error *err)
{
    if (!m)
        return agora_error_set(err, AGORA_EINVAL, NULL, "no model (NULL)");
    if (!agora__ident_ok(m->name))
        return agora_error_set(err, AGORA_EINVAL, NULL,
                               "model name \"%s\" is not an identifier ([A-Za-z_][A-Za-z0-9_]*, at most 63 characters)",
                               m->name ? m->name : "(NULL)");
    if (!m->summary)
        return bad(err, m->name, "has no summary", NULL, NULL);
    struct {
        const char *what;
        int missing;
    } fns[] = {{"init", !m->init},
               {"step", !m->step},
               {"measure", !m->measure},
               {"destroy (or an SDK declaration, whose state the kernel frees)", !m->destroy && !m->sdk},
               {"field (it declares fields)", m->fields && m->fields[0].name && !m->field},
               {"apply (it has an action schema)", m->action_schema && !m->apply}};
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++)
        if (fns[i].missing)
            return bad(err, m->name, "function %s is not set", fns[i].what, NULL);
    if (m->spaces == 0 || (m->spaces & ~(AGORA_SPACES_GRID | AGORA_SPACES_GRAPH | AGORA_SPACES_MIXED)))
        return bad(err, m->name, "spaces must be a non-empty set of AGORA_SPACES_GRID, _GRAPH and _MIXED", NULL, NULL);
    int rc;
    if ((rc = check_params(m, err)) != 0 || (rc = check_specs(m, err)) != 0)
        return rc;
    if (m->action_schema) {
        agora_error e;
        json_t *schema = agora_model_action_schema(m, &e);
        if (!schema)
            return agora_error_set(err, AGORA_EINVAL, NULL, "model \"%s\": %s", m->name, e.msg);
        rc = json_is_object(schema) ? agora_schema_check(schema, &e) : -1;
        json_decref(schema);
        if (rc == -1)
            return bad(err, m->name, "the action schema is not a JSON object", NULL, NULL);
        if (rc != 0)
            return agora_error_set(err, AGORA_EINVAL, NULL,
                                   "model \"%s\": the action schema is not one agora can use: "
                                   "%s%s%s",
                                   m->name, e.where, e.where[0] ? ": " : "", e.msg);
    }
    return 0;
}

/* The registry's entry named `name`, or -1; with the lock held. */
static int index_of(const char *name)
{
    for (int i = 0; i < n_registry; i++)
        if (strcmp(registry[i]->name, name) == 0)
            return i;
    return -1;
}

int agora__models_add(const agora_model *const *ms, int n, const char *from, int dry_run, agora_error *err)
{
    int rc = 0;
    pthread_mutex_lock(&lock);
    for (int i = 0; i < n && rc == 0; i++) {
        int k = index_of(ms[i]->name);
        int twice = 0;
        for (int j = 0; j < i; j++)
            twice |= strcmp(ms[j]->name, ms[i]->name) == 0;
        if (k >= 0 && k < N_BUILTIN)
            rc = agora_error_set(err, AGORA_EINVAL, NULL, "model \"%s\": the name is taken by the built-in model %s",
                                 ms[i]->name, registry[k]->name);
        else if (k >= 0 && origin[k][0])
            rc = agora_error_set(err, AGORA_EINVAL, NULL, "model \"%s\": the name is taken by the model of plug-in %s",
                                 ms[i]->name, origin[k]);
        else if (k >= 0)
            rc = agora_error_set(err, AGORA_EINVAL, NULL,
                                 "model \"%s\": the name is taken by a model registered before (agora_model_register)",
                                 ms[i]->name);
        else if (twice)
            rc = agora_error_set(err, AGORA_EINVAL, NULL, "model \"%s\" is registered twice", ms[i]->name);
    }
    if (rc == 0 && n_registry + n > N_TABLE)
        rc = agora_error_set(err, AGORA_ERANGE, NULL, "too many registered models (at most %d)",
                             AGORA_MODEL_MAX_REGISTERED);
    for (int i = 0; rc == 0 && !dry_run && i < n; i++) {
        origin[n_registry] = from ? from : "";
        registry[n_registry++] = ms[i];
    }
    pthread_mutex_unlock(&lock);
    return rc;
}

int agora_model_register(const agora_model *m, agora_error *err)
{
    int rc = agora__model_check(m, err);
    return rc ? rc : agora__models_add(&m, 1, NULL, 0, err);
}
