/* agora — scenarios: loading a YAML/JSON experiment description, checking every key, filling in the defaults, and
 * command-line overrides (see agora/scenario.h).
 *
 * This file owns the scenario's keys and their rules; everything else is delegated so that each rule lives in one
 * place: the text becomes a jansson tree plus a location map in io/yaml.c, `space:` is checked by agora_space_check,
 * `params:` by agora_params_resolve against the model's table, and intervention actions by agora_schema_validate
 * against the model's action schema. All those checkers report a dotted key path ("params.beta"); one function,
 * locate(), turns it into file:line:col (or into the `--set` override that wrote the value) and prefixes the
 * message with the key path, so every error reads
 *
 *   scenarios/x.yaml:7:3: params.beta: expected a number in [0, 1], got "high"
 *
 * A scenario keeps three trees' worth of state: the raw tree (the file as parsed, with the overrides applied), the
 * location map of the file, and the effective configuration (checked, defaults filled in), which is rebuilt from the
 * raw tree after every override so that no combination of overrides can leave it unchecked. The `--set` key paths
 * and their writing into a tree are io/setpath.c's. A null value means the
 * same as an absent key (YAML's `key:` with nothing after it), which also lets `--set steps=` restore a default. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agora/agora.h" /* agora_version */
#include "agora/model.h"
#include "interact/ixinternal.h"
#include "agora/persona.h"
#include "agora/scenario.h"
#include "agora/schema.h"
#include "agora/sweep.h"
#include "agora/space.h"
#include "core/internal.h"
#include "io/setpath.h"
#include "io/yaml.h"
#include "rules/model.h"
#include "space/internal.h"

#define MAX_STEPS INT64_C(1000000000000)
#define MAX_THREADS 4096

typedef struct override {
    char *assignment; /* as given: "params.beta=0.1" */
    char *path;       /* its key path, normalised: "params.beta", "interventions[0].at" */
} override;

struct agora_scenario {
    char *path; /* the file, or the name given to agora_scenario_parse */
    char *base_dir;
    char *stem; /* the default name */
    char *text;
    json_t *raw;    /* the file's tree with the overrides applied */
    json_t *config; /* the effective configuration */
    agora__locmap *locs;
    const agora_model *model;
    override *ov;
    size_t n_ov;
    agora__rules_hooks hooks; /* how the model is resolved (agora__scenario_open); all NULL: the library's way */
};

static const char *const scenario_keys[] = {"name",          "description", "mode",     "model",   "space",
                                            "params",        "steps",       "seed",     "threads", "output",
                                            "interventions", "llm",         "personas", "sweep",   NULL};
static const char *const output_keys[] = {"path",        "snapshot_every", "snapshot_fields",
                                          "flush_every", "compression",    NULL};
static const char *const intervention_keys[] = {"at", "action", "source", NULL};

/* ---- locating errors --------------------------------------------------------------------------------------------- */

/* True when `path` is `base` or lies below it. */
static int path_within(const char *path, const char *base)
{
    size_t n = strlen(base);
    return strncmp(path, base, n) == 0 && (path[n] == '\0' || path[n] == '.' || path[n] == '[');
}

/* Turns an error whose where is a key path into file:line:col (or the override that wrote the value) and prefixes
 * the message with the key path. The value is pointed at, except for unknown keys, where the key is. */
static void locate(const char *file, const agora__locmap *locs, const override *ov, size_t n_ov, agora_error *err)
{
    if (!err)
        return;
    char key[sizeof err->where];
    int line = 0, col = 0;
    memcpy(key, err->where, sizeof key);
    int exact_in_file = agora__locmap_find(locs, key, &line, &col, 0) == 0;
    /* The latest override wins, as it does for the value. An override also owns the parents it created: an error
     * at a path the file does not have, above an override, is that override's doing ("--set params.x.y=1"). */
    for (size_t i = n_ov; i-- > 0;) {
        if (path_within(key, ov[i].path) || (!exact_in_file && key[0] && path_within(ov[i].path, key))) {
            snprintf(err->where, sizeof err->where, "--set %s", ov[i].assignment);
            err->line = err->column = 0;
            agora_error_prefix(err, key);
            return;
        }
    }
    int want_key = strncmp(err->msg, "unknown key", 11) == 0 || strncmp(err->msg, "unknown parameter", 17) == 0;
    agora__locmap_find(locs, key, &line, &col, want_key);
    snprintf(err->where, sizeof err->where, "%s", file);
    err->line = line;
    err->column = col;
    agora_error_prefix(err, key);
}

void agora_scenario_locate(const agora_scenario *sc, agora_error *err)
{
    if (sc)
        locate(sc->path, sc->locs, sc->ov, sc->n_ov, err);
}

/* ---- small checks ------------------------------------------------------------------------------------------------ */

/* A key's value, with null read as absent. */
static const json_t *get(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    return json_is_null(v) ? NULL : v;
}

static const char *brief(const json_t *v, char *buf, size_t size)
{
    return agora__json_brief(v, buf, size);
}

static void path_join(char *buf, size_t size, const char *parent, const char *key)
{
    snprintf(buf, size, "%s%s%s", parent, parent[0] ? "." : "", key);
}

/* Rejects a key of `obj` not in `known`, suggesting the closest known key within edit distance 2. */
static int check_keys(const json_t *obj, const char *const *known, const char *parent, agora_error *err)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v) {
        int ok = 0, best = 3;
        const char *guess = NULL;
        for (int i = 0; known[i] && !ok; i++) {
            ok = strcmp(known[i], key) == 0;
            int d = agora__edit_distance(known[i], key);
            if (d < best)
                best = d, guess = known[i];
        }
        if (ok)
            continue;
        char where[256];
        path_join(where, sizeof where, parent, key);
        if (guess)
            return agora_error_set(err, AGORA_ESCHEMA, where, "unknown key (did you mean \"%s\"?)", guess);
        char list[384] = "";
        size_t o = 0;
        for (int i = 0; known[i] && o < sizeof list; i++)
            o += (size_t)snprintf(list + o, sizeof list - o, "%s%s", i ? ", " : "", known[i]);
        return agora_error_set(err, AGORA_ESCHEMA, where, "unknown key (known: %s)", list);
    }
    return 0;
}

/* An integer value in [lo, hi]; whole reals (1e3) count. */
static int as_int(const json_t *v, json_int_t lo, json_int_t hi, json_int_t *out)
{
    if (json_is_integer(v)) {
        json_int_t x = json_integer_value(v);
        if (x < lo || x > hi)
            return 0;
        *out = x;
        return 1;
    }
    if (!json_is_real(v))
        return 0;
    double x = json_real_value(v);
    /* 2^63 itself is the first double above INT64_MAX, so the bound is strict. */
    if (!isfinite(x) || x != floor(x) || x < (double)lo || x > (double)hi || x >= 9223372036854775808.0)
        return 0;
    *out = (json_int_t)x;
    return 1;
}

/* An optional integer key (absent or null: def). */
static int get_int(const json_t *obj, const char *key, const char *parent, json_int_t lo, json_int_t hi, json_int_t def,
                   json_int_t *out, agora_error *err)
{
    const json_t *v = get(obj, key);
    char where[256], got[96];
    *out = def;
    if (!v || as_int(v, lo, hi, out))
        return 0;
    path_join(where, sizeof where, parent, key);
    if (hi == INT64_MAX)
        return agora_error_set(err, AGORA_ESCHEMA, where, "expected an integer >= %lld, got %s", (long long)lo,
                               brief(v, got, sizeof got));
    return agora_error_set(err, AGORA_ESCHEMA, where, "expected an integer in [%lld, %lld], got %s", (long long)lo,
                           (long long)hi, brief(v, got, sizeof got));
}

/* "a, b" of the registry's model names. */
static void model_names(char *buf, size_t size)
{
    int n;
    const agora_model *const *all = agora_models(&n);
    size_t o = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && o < size; i++)
        o += (size_t)snprintf(buf + o, size - o, "%s%s", i ? ", " : "", all[i]->name);
}

/* Rewrites whole reals as integers where the schema asks for an integer, so that a model's apply can read
 * json_integer_value for `count: 1e3` (which YAML reads as a real). Follows properties, items, allOf and the first
 * anyOf/oneOf branch that accepts the value. Steals `v`; returns the value to store. */
static json_t *whole_to_int(const json_t *schema, json_t *v)
{
    if (!json_is_object(schema) || !v)
        return v;
    const json_t *t = json_object_get(schema, "type");
    int want_int = json_is_string(t) && strcmp(json_string_value(t), "integer") == 0;
    if (json_is_array(t)) {
        int has_int = 0, has_num = 0;
        for (size_t i = 0; i < json_array_size(t); i++) {
            const char *s = json_string_value(json_array_get(t, i));
            has_int |= s && strcmp(s, "integer") == 0;
            has_num |= s && strcmp(s, "number") == 0;
        }
        want_int = has_int && !has_num;
    }
    json_int_t iv;
    if (want_int && json_is_real(v) && as_int(v, INT64_MIN, INT64_MAX, &iv)) {
        json_t *i = json_integer(iv);
        if (i) {
            json_decref(v);
            return i;
        }
    }
    const json_t *sub;
    if (json_is_object(v)) {
        const json_t *props = json_object_get(schema, "properties");
        const json_t *extra = json_object_get(schema, "additionalProperties");
        const char *k;
        json_t *child;
        json_object_foreach(v, k, child) {
            const json_t *s = props ? json_object_get(props, k) : NULL;
            if (!s)
                s = extra;
            if (s)
                json_object_set_new(v, k, whole_to_int(s, json_incref(child)));
        }
    }
    if (json_is_array(v) && (sub = json_object_get(schema, "items")))
        for (size_t i = 0; i < json_array_size(v); i++)
            json_array_set_new(v, i, whole_to_int(sub, json_incref(json_array_get(v, i))));
    if ((sub = json_object_get(schema, "allOf")))
        for (size_t i = 0; i < json_array_size(sub); i++)
            v = whole_to_int(json_array_get(sub, i), v);
    const char *unions[] = {"anyOf", "oneOf"};
    for (int u = 0; u < 2; u++) {
        sub = json_object_get(schema, unions[u]);
        for (size_t i = 0; i < json_array_size(sub); i++)
            if (agora_schema_validate(json_array_get(sub, i), v, NULL, NULL) == 0) {
                v = whole_to_int(json_array_get(sub, i), v);
                break;
            }
    }
    return v;
}

/* ---- the checks, key by key -------------------------------------------------------------------------------------- */

static int check_space(const json_t *raw, const agora_model *model, json_t *cfg, agora_error *err)
{
    const json_t *v = get(raw, "space");
    char got[96];
    if (!v)
        return agora_error_set(
            err, AGORA_ESCHEMA, "space",
            "required key is missing (a grid, a graph or a mixed population, e.g. {kind: grid, width: 100, "
            "height: 100})");
    int rc = agora_space_check(v, err);
    if (rc)
        return rc;
    const char *kind = json_string_value(json_object_get(v, "kind"));
    unsigned need = strcmp(kind, "graph") == 0   ? AGORA_SPACES_GRAPH
                    : strcmp(kind, "mixed") == 0 ? AGORA_SPACES_MIXED
                                                 : AGORA_SPACES_GRID;
    if (!(model->spaces & need)) {
        char runs_on[64] = "";
        for (int k = AGORA_SPACE_GRID; k <= AGORA_SPACE_MIXED; k++)
            if (model->spaces & AGORA_SPACES_FLAG(k))
                snprintf(runs_on + strlen(runs_on), sizeof runs_on - strlen(runs_on), "%s%s", runs_on[0] ? ", " : "",
                         agora_space_kind_name((agora_space_kind)k));
        return agora_error_set(err, AGORA_ESCHEMA, "space.kind", "expected a space the model %s runs on (%s), got %s",
                               model->name, runs_on, brief(json_object_get(v, "kind"), got, sizeof got));
    }
    json_t *space = json_deep_copy(v);
    if (!space)
        return agora_error_set(err, AGORA_ENOMEM, "space", "out of memory");
    if (need == AGORA_SPACES_GRID) {
        if (!json_object_get(space, "torus"))
            json_object_set_new(space, "torus", json_true());
        if (!json_object_get(space, "neighborhood"))
            json_object_set_new(space, "neighborhood", json_string("moore"));
    }
    json_object_set_new(cfg, "space", space);
    return 0;
}

static int check_output(const json_t *raw, const agora_model *model, const char *name, json_t *cfg, agora_error *err)
{
    const json_t *out = get(raw, "output"), *v;
    char got[96], where[256];
    int rc;
    if (out && !json_is_object(out))
        return agora_error_set(err, AGORA_ESCHEMA, "output",
                               "expected an object (path, snapshot_every, snapshot_fields, flush_every, "
                               "compression), got %s",
                               brief(out, got, sizeof got));
    if (out && (rc = check_keys(out, output_keys, "output", err)) != 0)
        return rc;
    json_t *o = json_object();
    if (!o)
        return agora_error_set(err, AGORA_ENOMEM, "output", "out of memory");
    json_object_set_new(cfg, "output", o);

    if ((v = get(out, "path"))) {
        if (!json_is_string(v) || !json_string_value(v)[0])
            return agora_error_set(err, AGORA_ESCHEMA, "output.path", "expected a file path, got %s",
                                   brief(v, got, sizeof got));
        json_object_set_new(o, "path", json_string(json_string_value(v)));
    } else {
        char path[512];
        snprintf(path, sizeof path, "runs/%s.h5", name);
        json_object_set_new(o, "path", json_string(path));
    }

    json_int_t x;
    if ((rc = get_int(out, "snapshot_every", "output", 0, INT64_MAX, 0, &x, err)) != 0)
        return rc;
    json_object_set_new(o, "snapshot_every", json_integer(x));

    json_t *fields = json_array();
    json_object_set_new(o, "snapshot_fields", fields);
    if ((v = get(out, "snapshot_fields"))) {
        if (!json_is_array(v))
            return agora_error_set(err, AGORA_ESCHEMA, "output.snapshot_fields",
                                   "expected a list of field names, got %s", brief(v, got, sizeof got));
        for (size_t i = 0; i < json_array_size(v); i++) {
            const json_t *f = json_array_get(v, i);
            snprintf(where, sizeof where, "output.snapshot_fields[%zu]", i);
            if (!json_is_string(f) || agora_model_field_index(model, json_string_value(f)) < 0) {
                char known[256] = "";
                size_t len = 0;
                for (int k = 0; model->fields && model->fields[k].name && len < sizeof known; k++)
                    len +=
                        (size_t)snprintf(known + len, sizeof known - len, "%s%s", k ? ", " : "", model->fields[k].name);
                return agora_error_set(err, AGORA_ESCHEMA, where,
                                       "expected a field of the model %s (one of: %s), got %s", model->name,
                                       known[0] ? known : "none", brief(f, got, sizeof got));
            }
            for (size_t j = 0; j < i; j++)
                if (strcmp(json_string_value(json_array_get(v, j)), json_string_value(f)) == 0)
                    return agora_error_set(err, AGORA_ESCHEMA, where, "the field \"%s\" is already listed",
                                           json_string_value(f));
            json_array_append_new(fields, json_string(json_string_value(f)));
        }
    } else {
        for (int k = 0; model->fields && model->fields[k].name; k++)
            json_array_append_new(fields, json_string(model->fields[k].name));
    }

    if ((rc = get_int(out, "flush_every", "output", 1, INT64_MAX, 10, &x, err)) != 0)
        return rc;
    json_object_set_new(o, "flush_every", json_integer(x));
    if ((rc = get_int(out, "compression", "output", 0, 9, 4, &x, err)) != 0)
        return rc;
    json_object_set_new(o, "compression", json_integer(x));
    return 0;
}

/* `at` must fall inside the run, except when `steps` comes from an override (--steps 20 on a file written for 100):
 * then a later intervention is kept, and the run skips it with a warning (agora__run_late_interventions). */
static int check_interventions(const json_t *raw, const agora_model *model, json_int_t steps, int steps_overridden,
                               json_t *cfg, agora_error *err)
{
    const json_t *list = get(raw, "interventions");
    char got[96], where[256];
    json_t *schema = NULL, *out = json_array();
    int rc = 0;
    if (!out)
        return agora_error_set(err, AGORA_ENOMEM, "interventions", "out of memory");
    json_object_set_new(cfg, "interventions", out);
    if (!list)
        return 0;
    if (!json_is_array(list))
        return agora_error_set(err, AGORA_ESCHEMA, "interventions",
                               "expected a list of interventions ({at: STEP, action: {action: NAME, ...}}), got %s",
                               brief(list, got, sizeof got));
    for (size_t i = 0; i < json_array_size(list); i++) {
        const json_t *item = json_array_get(list, i), *v;
        snprintf(where, sizeof where, "interventions[%zu]", i);
        if (!json_is_object(item)) {
            rc = agora_error_set(err, AGORA_ESCHEMA, where,
                                 "expected an object {at: STEP, action: {action: NAME, ...}}, got %s",
                                 brief(item, got, sizeof got));
            goto done;
        }
        if ((rc = check_keys(item, intervention_keys, where, err)) != 0)
            goto done;
        char sub[300];
        json_int_t at;
        snprintf(sub, sizeof sub, "%s.at", where);
        if (!(v = get(item, "at"))) {
            rc = agora_error_set(err, AGORA_ESCHEMA, sub, "required key is missing (the step to act at, 0 to %lld)",
                                 (long long)steps);
            goto done;
        }
        if (!as_int(v, 0, steps_overridden ? MAX_STEPS : steps, &at)) {
            rc = agora_error_set(err, AGORA_ESCHEMA, sub, "expected a step in [0, %lld] (0 to steps), got %s",
                                 (long long)steps, brief(v, got, sizeof got));
            goto done;
        }
        snprintf(sub, sizeof sub, "%s.action", where);
        const json_t *action = get(item, "action");
        if (!action) {
            rc = agora_error_set(err, AGORA_ESCHEMA, sub,
                                 "required key is missing (an action object, e.g. {action: NAME, ...})");
            goto done;
        }
        if (!schema) {
            if (!model->action_schema) {
                rc = agora_error_set(err, AGORA_ESCHEMA, sub, "the model %s takes no actions", model->name);
                goto done;
            }
            if (!(schema = agora_model_action_schema(model, err))) {
                rc = err ? err->code : AGORA_EINTERNAL;
                goto done;
            }
        }
        if ((rc = agora_schema_validate(schema, action, sub, err)) != 0)
            goto done;
        snprintf(sub, sizeof sub, "%s.source", where);
        const json_t *source = get(item, "source");
        if (source && (!json_is_string(source) || !json_string_value(source)[0])) {
            rc = agora_error_set(err, AGORA_ESCHEMA, sub, "expected a label such as \"scenario\", got %s",
                                 brief(source, got, sizeof got));
            goto done;
        }
        json_t *copy = whole_to_int(schema, json_deep_copy(action));
        json_t *entry = json_pack("{s:I, s:o, s:s}", "at", (json_int_t)at, "action", copy, "source",
                                  source ? json_string_value(source) : "scenario");
        if (!copy || !entry || json_array_append_new(out, entry) != 0) {
            rc = agora_error_set(err, AGORA_ENOMEM, where, "out of memory");
            goto done;
        }
    }
done:
    json_decref(schema);
    return rc;
}

/* Checks a raw scenario tree and builds its effective configuration. Errors carry the key path in err->where (""
 * for the whole document); the caller locates them. */
/* `sweep:` {vary: {KEY: "START:STOP:COUNT" | "a,b" | [values]}, seeds: N, max_calls, max_tokens, max_cost}: kept as
 * axes {KEY: {key, values}} and the sweep's LLM budget for `agora sweep`; `agora run` ignores it. */
static int check_sweep(const json_t *raw, json_t *cfg, agora_error *err)
{
    const json_t *sw = get(raw, "sweep");
    char got[96];
    if (!sw)
        return 0;
    if (!json_is_object(sw))
        return agora_error_set(err, AGORA_ESCHEMA, "sweep", "expected {vary: {KEY: VALUES}, seeds: N}, got %s",
                               brief(sw, got, sizeof got));
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)sw, k, v)
        if (strcmp(k, "vary") != 0 && strcmp(k, "seeds") != 0 && strcmp(k, "max_calls") != 0 &&
            strcmp(k, "max_tokens") != 0 && strcmp(k, "max_cost") != 0) {
            char w[160];
            snprintf(w, sizeof w, "sweep.%s", k);
            return agora_error_set(err, AGORA_ESCHEMA, w,
                                   "unknown key (allowed here: vary seeds max_calls max_tokens max_cost)");
        }
    json_int_t seeds = 1, max_calls = 0, max_tokens = 0;
    int rc = get_int(sw, "seeds", "sweep.", 1, 100000, 1, &seeds, err);
    if (rc || (rc = get_int(sw, "max_calls", "sweep.", 1, INT64_MAX, 0, &max_calls, err)) ||
        (rc = get_int(sw, "max_tokens", "sweep.", 1, INT64_MAX, 0, &max_tokens, err)))
        return rc;
    const json_t *cost = get(sw, "max_cost");
    if (cost && (!json_is_number(cost) || !(json_number_value(cost) > 0) || json_number_value(cost) > 1e12))
        return agora_error_set(err, AGORA_ESCHEMA, "sweep.max_cost",
                               "expected an amount > 0: the most all the sweep's runs may spend on LLM calls, got %s",
                               brief(cost, got, sizeof got));
    const json_t *vary = json_object_get(sw, "vary");
    if (vary && !json_is_object(vary))
        return agora_error_set(err, AGORA_ESCHEMA, "sweep.vary",
                               "expected {KEY: \"START:STOP:COUNT\" or a list of values}, got %s",
                               brief(vary, got, sizeof got));
    json_t *axes = json_object();
    json_object_foreach((json_t *)vary, k, v) {
        char w[300];
        snprintf(w, sizeof w, "sweep.vary.%s", k);
        json_t *axis = NULL;
        if (json_is_array(v) && json_array_size(v) > 0) {
            axis = json_pack("{s:s, s:O}", "key", k, "values", v);
        } else if (json_is_string(v) || json_is_number(v) || json_is_boolean(v)) {
            char *spec = json_is_string(v) ? strdup(json_string_value(v)) : json_dumps(v, JSON_ENCODE_ANY);
            size_t len = strlen(k) + (spec ? strlen(spec) : 0) + 2;
            char *a = malloc(len);
            if (a)
                snprintf(a, len, "%s=%s", k, spec ? spec : "");
            agora_error e;
            rc = a ? agora_sweep_axis(a, &axis, &e) : AGORA_ENOMEM;
            free(a);
            free(spec);
            if (rc) {
                json_decref(axes);
                return agora_error_set(err, AGORA_ESCHEMA, w, "%s", e.msg);
            }
        } else {
            json_decref(axes);
            return agora_error_set(err, AGORA_ESCHEMA, w,
                                   "expected \"START:STOP:COUNT\", \"a,b,c\" or a non-empty list, got %s",
                                   brief(v, got, sizeof got));
        }
        json_object_set_new(axes, k, axis);
    }
    json_t *block = json_pack("{s:o, s:I}", "vary", axes, "seeds", seeds);
    if (max_calls > 0)
        json_object_set_new(block, "max_calls", json_integer(max_calls));
    if (max_tokens > 0)
        json_object_set_new(block, "max_tokens", json_integer(max_tokens));
    if (cost)
        json_object_set_new(block, "max_cost", json_real(json_number_value(cost)));
    json_object_set_new(cfg, "sweep", block);
    return 0;
}

/* `llm:` and `personas:`: checked by building the persona runtime (errors carry the key path), then kept as given. */
static int check_personas(const json_t *raw, const agora_model *model, const char *mode, json_t *cfg, agora_error *err)
{
    const json_t *llm = get(raw, "llm"), *personas = get(raw, "personas");
    if (strcmp(mode, "mixed") != 0) {
        if (personas || llm)
            return agora_error_set(err, AGORA_ESCHEMA, personas ? "personas" : "llm",
                                   "personas and llm belong to mode: mixed (this scenario says mode: %s)", mode);
        return 0;
    }
    if (!personas)
        return agora_error_set(err, AGORA_ESCHEMA, "personas",
                               "required with mode: mixed (a list of personas [{id, role, persona, every, "
                               "offline_policy}])");
    agora_personas *ps = NULL;
    int rc = agora_personas_create(llm, personas, model, &ps, err);
    if (rc)
        return rc;
    agora_personas_destroy(ps);
    if (llm)
        json_object_set_new(cfg, "llm", json_deep_copy(llm));
    json_object_set_new(cfg, "personas", json_deep_copy(personas));
    return 0;
}

/* `sc` gives the file's text, positions and directory, for a model defined inline or in a model file; when that
 * model's definition has errors they are located already and go to model_errs (all of them) with the first in err
 * (err->where then empty: nothing to set aside). */
static int check_scenario(const json_t *raw, const agora_scenario *sc, int steps_overridden, json_t **out,
                          const agora_model **model_out, agora_error *err, agora_scenario_errors *model_errs)
{
    const char *stem = sc->stem;
    json_t *cfg = NULL, *params = NULL;
    const json_t *v;
    const agora_model *model = NULL;
    char got[96], names[1024];
    json_int_t steps, x;
    int rc = 0;
    *out = NULL;
    if (!raw || json_is_null(raw))
        return agora_error_set(err, AGORA_ESCHEMA, "", "the scenario is empty");
    if (!json_is_object(raw))
        return agora_error_set(err, AGORA_ESCHEMA, "",
                               "expected a mapping of scenario keys (model, space, params, steps, ...), got %s",
                               brief(raw, got, sizeof got));
    const json_t *mv = get(raw, "mode");
    const int interactions = json_is_string(mv) && strcmp(json_string_value(mv), "interactions") == 0;
    if (!interactions && (rc = check_keys(raw, scenario_keys, "", err)) != 0)
        goto done;
    if (!(cfg = json_object())) {
        rc = agora_error_set(err, AGORA_ENOMEM, "", "out of memory");
        goto done;
    }

    const char *name = stem;
    if ((v = get(raw, "name"))) {
        if (!json_is_string(v) || !agora__name_ok(json_string_value(v))) {
            rc = agora_error_set(err, AGORA_ESCHEMA, "name",
                                 "expected a name of letters, digits, '_', '.' and '-' (it is used in file names), "
                                 "got %s",
                                 brief(v, got, sizeof got));
            goto done;
        }
        name = json_string_value(v);
    }
    json_object_set_new(cfg, "name", json_string(name));

    if ((v = get(raw, "description"))) {
        if (!json_is_string(v)) {
            rc = agora_error_set(err, AGORA_ESCHEMA, "description", "expected text, got %s", brief(v, got, sizeof got));
            goto done;
        }
        json_object_set_new(cfg, "description", json_string(json_string_value(v)));
    }

    if ((v = get(raw, "mode"))) {
        const char *m = json_string_value(v);
        if (!m || (strcmp(m, "mechanics") != 0 && strcmp(m, "mixed") != 0 && strcmp(m, "interactions") != 0)) {
            rc = agora_error_set(err, AGORA_ESCHEMA, "mode",
                                 "expected one of \"mechanics\", \"mixed\", \"interactions\", got %s",
                                 brief(v, got, sizeof got));
            goto done;
        }
    }
    /* mixed: personas steer the population; the mode follows from their presence when not given */
    const char *mode = (v = get(raw, "mode")) ? json_string_value(v) : get(raw, "personas") ? "mixed" : "mechanics";
    json_object_set_new(cfg, "mode", json_string(mode));
    if (interactions) { /* actors and a world engine instead of a model, a space and params */
        if ((rc = agora__interact_check(raw, name, cfg, err)) != 0)
            goto done;
        *out = cfg;
        cfg = NULL;
        if (model_out)
            *model_out = NULL;
        goto done;
    }

    model_names(names, sizeof names);
    /* a server's model directories are its own, not the ones beside a scenario its client chose */
    const int hooked = sc->hooks.may_read || sc->hooks.find || sc->hooks.defined;
    agora__rules_dir_names(hooked ? NULL : sc->base_dir, names, sizeof names);
    if (!(v = get(raw, "model"))) {
        rc = agora_error_set(err, AGORA_ESCHEMA, "model", "required key is missing (one of: %s)", names);
        goto done;
    }
    if (!json_is_string(v) && !json_is_object(v)) {
        rc = agora_error_set(err, AGORA_ESCHEMA, "model",
                             "expected a model name (one of: %s), a model file (models/x.yaml) or {define: {...}}, "
                             "got %s",
                             names, brief(v, got, sizeof got));
        goto done;
    }
    {
        agora_scenario_errors merrs;
        memset(&merrs, 0, sizeof merrs);
        rc = agora__rules_resolve(v, sc->base_dir, sc->locs, "model", sc->path, sc->text, &sc->hooks, &model, err,
                                  &merrs);
        if (rc == AGORA_ENOTFOUND && json_is_string(v)) {
            rc = agora_error_set(err, AGORA_ESCHEMA, "model", "unknown model %s (known: %s)", brief(v, got, sizeof got),
                                 names);
            goto done;
        }
        if (rc) {
            if (model_errs)
                *model_errs = merrs;
            if (merrs.n)
                *err = merrs.e[0];
            if (!model_errs)
                err->where[0] = '\0'; /* located already: nothing for collect_errors to set aside */
            goto done;
        }
    }
    /* a defined model travels with the configuration (a run file can be resumed, and hashed, without its file) */
    if (agora__rules_of(model))
        json_object_set_new(cfg, "model", json_pack("{s:O}", "define", agora__rules_of(model)->def));
    else
        json_object_set_new(cfg, "model", json_string(model->name));

    if ((rc = check_space(raw, model, cfg, err)) != 0)
        goto done;
    if ((rc = agora_params_resolve(model->params, get(raw, "params"), &params, err)) != 0)
        goto done;
    json_object_set_new(cfg, "params", params);

    if ((rc = get_int(raw, "steps", "", 0, MAX_STEPS, 100, &steps, err)) != 0)
        goto done;
    json_object_set_new(cfg, "steps", json_integer(steps));
    if ((rc = get_int(raw, "seed", "", 0, INT64_MAX, 0, &x, err)) != 0)
        goto done;
    json_object_set_new(cfg, "seed", json_integer(x));
    if ((rc = get_int(raw, "threads", "", 0, MAX_THREADS, 0, &x, err)) != 0)
        goto done;
    json_object_set_new(cfg, "threads", json_integer(x));

    if ((rc = check_output(raw, model, name, cfg, err)) != 0 ||
        (rc = check_interventions(raw, model, steps, steps_overridden, cfg, err)) != 0 ||
        (rc = check_personas(raw, model, mode, cfg, err)) != 0 || (rc = check_sweep(raw, cfg, err)) != 0)
        goto done;

    *out = cfg;
    cfg = NULL;
    if (model_out)
        *model_out = model;
done:
    json_decref(cfg);
    return rc;
}

/* ---- loading ----------------------------------------------------------------------------------------------------- */

/* The file name without directory and extension, made safe for file names: the default `name`. */
static char *stem_of(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    size_t n = dot && dot != base ? (size_t)(dot - base) : strlen(base);
    char *s = malloc(n + sizeof "scenario");
    if (!s)
        return NULL;
    for (size_t i = 0; i < n; i++)
        s[i] = agora__name_char_ok(base[i]) ? base[i] : '_';
    s[n] = '\0';
    if (n == 0)
        strcpy(s, "scenario");
    return s;
}

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

void agora_scenario_destroy(agora_scenario *sc)
{
    if (!sc)
        return;
    free(sc->path);
    free(sc->base_dir);
    free(sc->stem);
    free(sc->text);
    json_decref(sc->raw);
    json_decref(sc->config);
    agora__locmap_free(sc->locs);
    for (size_t i = 0; i < sc->n_ov; i++) {
        free(sc->ov[i].assignment);
        free(sc->ov[i].path);
    }
    free(sc->ov);
    free(sc);
}

static void collect_errors(const agora_scenario *sc, const json_t *tree, size_t n_ov, int steps_overridden,
                           const char *first_path, const agora_error *first, agora_scenario_errors *errs);

/* Builds a scenario from text it takes ownership of (text[len] is '\0'). With errs, a failed check reports every
 * error it can find there. */
static int scenario_from_text(char *text, size_t len, const char *name, const char *base_dir,
                              const agora__rules_hooks *hooks, const json_t *model, agora_scenario **out,
                              agora_error *err, agora_scenario_errors *errs)
{
    agora_scenario *sc = calloc(1, sizeof *sc);
    int rc = 0;
    if (!sc) {
        free(text);
        return agora_error_set(err, AGORA_ENOMEM, name, "out of memory");
    }
    sc->text = text;
    sc->path = strdup(name);
    sc->base_dir = strdup(base_dir ? base_dir : ".");
    sc->stem = stem_of(name);
    if (!sc->path || !sc->base_dir || !sc->stem) {
        rc = agora_error_set(err, AGORA_ENOMEM, name, "out of memory");
        goto done;
    }
    if (hooks)
        sc->hooks = *hooks;
    if ((rc = agora__yaml_parse(text, len, name, &sc->raw, &sc->locs, err)) != 0)
        goto done;
    if (model && json_is_object(sc->raw) && json_object_set(sc->raw, "model", (json_t *)model) != 0) {
        rc = agora_error_set(err, AGORA_ENOMEM, name, "out of memory");
        goto done;
    }
    agora_error e;
    agora_scenario_errors merrs;
    memset(&merrs, 0, sizeof merrs);
    if ((rc = check_scenario(sc->raw, sc, 0, &sc->config, &sc->model, &e, &merrs)) != 0) {
        if (merrs.n) { /* the model's definition: its errors, located in their file */
            if (errs)
                *errs = merrs;
            if (err)
                *err = merrs.e[0];
            goto done;
        }
        char first_path[sizeof e.where];
        memcpy(first_path, e.where, sizeof first_path);
        locate(sc->path, sc->locs, NULL, 0, &e);
        if (errs)
            collect_errors(sc, sc->raw, 0, 0, first_path, &e, errs);
        if (err)
            *err = e;
        goto done;
    }
done:
    if (rc) {
        agora_scenario_destroy(sc);
        sc = NULL;
    }
    *out = sc;
    return rc;
}

static int parse_text(const char *text, size_t len, const char *name, const char *base_dir,
                      const agora__rules_hooks *hooks, const json_t *model, agora_scenario **out, agora_error *err,
                      agora_scenario_errors *errs)
{
    *out = NULL;
    if (!name)
        name = "scenario";
    if (!text && len)
        return agora_error_set(err, AGORA_EINVAL, name, "no text");
    char *copy = malloc(len + 1);
    if (!copy)
        return agora_error_set(err, AGORA_ENOMEM, name, "out of memory");
    if (len)
        memcpy(copy, text, len);
    copy[len] = '\0';
    return scenario_from_text(copy, len, name, base_dir, hooks, model, out, err, errs);
}

int agora_scenario_parse(const char *text, size_t len, const char *name, const char *base_dir, agora_scenario **out,
                         agora_error *err)
{
    return parse_text(text, len, name, base_dir, NULL, NULL, out, err, NULL);
}

static int load_file(const char *path, const agora__rules_hooks *hooks, const json_t *model, agora_scenario **out,
                     agora_error *err, agora_scenario_errors *errs)
{
    char *text = NULL, *dir = NULL;
    size_t len = 0, cap = 0;
    int rc = 0;
    *out = NULL;
    if (!path || !path[0])
        return agora_error_set(err, AGORA_EINVAL, "", "no scenario path given");
    FILE *f = fopen(path, "rb");
    if (!f)
        return agora_error_set(err, AGORA_EIO, path, "cannot open: %s", strerror(errno));
    /* Read in chunks rather than trusting the size from stat, so pipes and /dev/stdin work too. */
    for (;;) {
        if (len + 1 >= cap) {
            size_t ncap = cap ? 2 * cap : 8192;
            char *t = realloc(text, ncap);
            if (!t) {
                rc = agora_error_set(err, AGORA_ENOMEM, path, "out of memory");
                goto done;
            }
            text = t;
            cap = ncap;
        }
        size_t got = fread(text + len, 1, cap - len - 1, f);
        len += got;
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        rc = agora_error_set(err, AGORA_EIO, path, "cannot read: %s", strerror(errno));
        goto done;
    }
    text[len] = '\0';
    if (!(dir = dir_of(path))) {
        rc = agora_error_set(err, AGORA_ENOMEM, path, "out of memory");
        goto done;
    }
    rc = scenario_from_text(text, len, path, dir, hooks, model, out, err, errs);
    text = NULL;
done:
    fclose(f);
    free(text);
    free(dir);
    return rc;
}

int agora_scenario_load(const char *path, agora_scenario **out, agora_error *err)
{
    return load_file(path, NULL, NULL, out, err, NULL);
}

int agora__scenario_open(const char *text, size_t len, const char *path, const agora__rules_hooks *hooks,
                         const json_t *model, agora_scenario **out, agora_error *err)
{
    if (text)
        return parse_text(text, len, path, NULL, hooks, model, out, err, NULL);
    return load_file(path, hooks, model, out, err, NULL);
}

/* ---- overrides (the --set language itself: io/setpath.c) -----------------------------------------------------------
 */

/* Parses one "dotted.key=value" and applies it to `cand`; records it as override sc->ov[sc->n_ov + staged]
 * (not yet counted in n_ov). */
static int stage_override(agora_scenario *sc, json_t *cand, const char *assignment, size_t staged, agora_error *err)
{
    char where[sizeof err->where], norm[256];
    json_t *comps = NULL, *value = NULL;
    int rc = 0;
    snprintf(where, sizeof where, "--set %s", assignment);
    const char *eq = strchr(assignment, '=');
    if (!eq)
        return agora_error_set(err, AGORA_EINVAL, where, "expected KEY=VALUE, e.g. params.beta=0.1");
    const char *k0 = assignment, *k1 = eq;
    while (k0 < k1 && (*k0 == ' ' || *k0 == '\t'))
        k0++;
    while (k1 > k0 && (k1[-1] == ' ' || k1[-1] == '\t'))
        k1--;
    if (k0 == k1)
        return agora_error_set(err, AGORA_EINVAL, where, "the key is empty (expected KEY=VALUE, e.g. params.beta=0.1)");
    if ((rc = agora__set_key_path(k0, (size_t)(k1 - k0), &comps, norm, sizeof norm)) == AGORA_ENOMEM)
        return agora_error_set(err, rc, where, "out of memory");
    if (rc)
        return agora_error_set(err, rc, where,
                               "malformed key \"%.*s\" (expected a dotted path such as params.beta or "
                               "interventions[0].at)",
                               (int)(k1 - k0), k0);

    /* The value is YAML: 0.1 is a number, true a boolean, [1, 2] a list, high a string, nothing at all null. */
    if ((rc = agora__yaml_parse(eq + 1, strlen(eq + 1), where, &value, NULL, err)) != 0) {
        if (err)
            err->line = err->column = 0;
        goto done;
    }
    if (!value)
        value = json_null();
    if ((rc = agora__set_value_check(value, where, err)) != 0)
        goto done;
    rc = agora__set_apply(cand, comps, value, norm, where, err);
    value = NULL;
    if (rc)
        goto done;
    override *ov = realloc(sc->ov, (sc->n_ov + staged + 1) * sizeof *ov);
    if (!ov) {
        rc = agora_error_set(err, AGORA_ENOMEM, where, "out of memory");
        goto done;
    }
    sc->ov = ov;
    ov[sc->n_ov + staged] = (override){strdup(assignment), strdup(norm)};
    if (!ov[sc->n_ov + staged].assignment || !ov[sc->n_ov + staged].path) {
        free(ov[sc->n_ov + staged].assignment);
        free(ov[sc->n_ov + staged].path);
        rc = agora_error_set(err, AGORA_ENOMEM, where, "out of memory");
    }
done:
    json_decref(comps);
    json_decref(value);
    return rc;
}

static int set_all(agora_scenario *sc, const char *const *assignments, int n, agora_error *err,
                   agora_scenario_errors *errs)
{
    json_t *cand = NULL, *cfg = NULL;
    const agora_model *model = NULL;
    size_t staged = 0;
    int rc = 0;
    if (!sc || (n > 0 && !assignments))
        return agora_error_set(err, AGORA_EINVAL, "--set", "no scenario or assignment");
    if (!(cand = json_deep_copy(sc->raw)))
        return agora_error_set(err, AGORA_ENOMEM, "--set", "out of memory");
    for (int i = 0; i < n; i++) {
        if ((rc = stage_override(sc, cand, assignments[i], staged, err)) != 0)
            goto drop;
        staged++;
    }
    /* Checked once with every override in place, so that overrides that only make sense together (--steps 20 with
     * interventions moved before step 20) are accepted; an error names the override that set the bad key. */
    int steps_overridden = 0;
    for (size_t i = 0; i < sc->n_ov + staged; i++)
        steps_overridden |= strcmp(sc->ov[i].path, "steps") == 0;
    agora_error e;
    agora_scenario_errors merrs;
    memset(&merrs, 0, sizeof merrs);
    if ((rc = check_scenario(cand, sc, steps_overridden, &cfg, &model, &e, &merrs)) != 0) {
        if (merrs.n) {
            if (errs)
                *errs = merrs;
            if (err)
                *err = merrs.e[0];
            goto drop;
        }
        char first_path[sizeof e.where];
        memcpy(first_path, e.where, sizeof first_path);
        locate(sc->path, sc->locs, sc->ov, sc->n_ov + staged, &e);
        if (errs)
            collect_errors(sc, cand, sc->n_ov + staged, steps_overridden, first_path, &e, errs);
        if (err)
            *err = e;
        goto drop;
    }
    sc->n_ov += staged;
    json_decref(sc->raw);
    json_decref(sc->config);
    sc->raw = cand;
    sc->config = cfg;
    sc->model = model;
    return 0;
drop:
    for (size_t i = 0; i < staged; i++) {
        free(sc->ov[sc->n_ov + i].assignment);
        free(sc->ov[sc->n_ov + i].path);
    }
    json_decref(cand);
    return rc;
}

int agora_scenario_set_all(agora_scenario *sc, const char *const *assignments, int n, agora_error *err)
{
    return set_all(sc, assignments, n, err, NULL);
}

int agora_scenario_set(agora_scenario *sc, const char *assignment, agora_error *err)
{
    return agora_scenario_set_all(sc, &assignment, 1, err);
}

/* ---- every error of a file -------------------------------------------------------------------------------------
 *
 * The checks stop at the first error, and each error stays exactly what it is one by one. To report more at once,
 * the tree is checked again on a scratch copy with each bad key set aside: after an error at key path P, P is
 * removed (a bad value then takes its default, an unknown key is gone), and the check runs again, until it passes,
 * an error repeats or AGORA_SCENARIO_MAX_ERRORS are found. An error the removal itself causes ("required key is
 * missing" where the value was, a complaint about the key's parent) is not reported: the parent is set aside
 * instead, and a missing `space` is stood in for by a small valid one so the keys after it are still checked.
 * Items removed from a list shift the later ones, so paths are mapped back to the file's indices before they are
 * located. */

typedef struct removed {
    char path[256]; /* in the file's coordinates */
    int list_item;  /* 1: path is "<list>[i]" and the item was taken out of the list */
    char list[256]; /* that list's path */
    size_t index;   /* and the item's index in the file */
} removed;

typedef struct scratch {
    json_t *tree;
    removed *rm;
    size_t n_rm, cap_rm;
} scratch;

/* The file's index of item `i` of the scratch list at `list` (file coordinates): later items moved down by one for
 * every earlier item removed. */
static size_t file_index(const scratch *sx, const char *list, size_t i)
{
    size_t o = i;
    for (int moved = 1; moved;) {
        moved = 0;
        size_t below = 0;
        for (size_t k = 0; k < sx->n_rm; k++)
            below += sx->rm[k].list_item && strcmp(sx->rm[k].list, list) == 0 && sx->rm[k].index <= o;
        if (i + below != o) {
            o = i + below;
            moved = 1;
        }
    }
    return o;
}

/* Walks a key path (as validators report it: "a.b[2].c"; keys may hold dots themselves, as sweep.vary's do: the
 * longest key present wins) down the scratch tree. On success *parent is the object or list holding the value, the
 * last component is a key (key) or an index (*index, *is_index), the file's path is written to orig and the length
 * of the path's parent part to *parent_len. Returns 0 when every component exists. */
static int walk(const scratch *sx, const char *path, json_t **parent, char *key, size_t key_size, size_t *index,
                int *is_index, char *orig, size_t orig_size, size_t *parent_len)
{
    json_t *node = sx->tree;
    const char *p = path;
    orig[0] = '\0';
    *parent = NULL;
    *parent_len = 0;
    while (*p) {
        size_t olen = strlen(orig);
        *parent = node;
        *parent_len = (size_t)(p - path);
        if (*parent_len && path[*parent_len - 1] == '.')
            (*parent_len)--;
        if (*p == '[') {
            char *end;
            unsigned long long i = strtoull(p + 1, &end, 10);
            if (end == p + 1 || *end != ']' || !json_is_array(node) || i >= json_array_size(node))
                return -1;
            *is_index = 1;
            *index = (size_t)i;
            char list[256];
            snprintf(list, sizeof list, "%s", orig);
            snprintf(orig + olen, orig_size - olen, "[%zu]", file_index(sx, list, (size_t)i));
            node = json_array_get(node, (size_t)i);
            p = end + 1;
        } else {
            if (!json_is_object(node))
                return -1;
            /* the longest key present, ending at '.', '[' or the end */
            size_t best = 0, n = strcspn(p, "[");
            for (size_t len = n; len > 0 && !best; len--)
                if ((p[len] == '\0' || p[len] == '.' || p[len] == '[') && len < key_size) {
                    char k[256];
                    snprintf(k, sizeof k, "%.*s", (int)len, p);
                    if (json_object_get(node, k))
                        best = len;
                }
            if (!best)
                return -1;
            *is_index = 0;
            snprintf(key, key_size, "%.*s", (int)best, p);
            snprintf(orig + olen, orig_size - olen, "%s%s", olen ? "." : "", key);
            node = json_object_get(node, key);
            p += best;
        }
        if (*p == '.')
            p++;
    }
    return *parent ? 0 : -1;
}

/* The file's path of a scratch path: mapped component by component as far as the scratch tree has it (a missing
 * key, say, keeps its name after its mapped parent). */
static void file_path(const scratch *sx, const char *path, char *orig, size_t size)
{
    json_t *parent;
    char key[256];
    size_t index, plen;
    int is_index;
    if (walk(sx, path, &parent, key, sizeof key, &index, &is_index, orig, size, &plen) == 0)
        return;
    const char *dot = strrchr(path, '.'), *br = strrchr(path, '[');
    const char *cut = dot > br ? dot : br;
    if (!cut || cut == path) {
        snprintf(orig, size, "%s", path);
        return;
    }
    char head[256], mapped[256];
    snprintf(head, sizeof head, "%.*s", (int)(cut - path), path);
    file_path(sx, head, mapped, sizeof mapped);
    snprintf(orig, size, "%s%s", mapped, cut);
}

/* Whether the file path `p` is, is below or is above something already set aside: then an error there is the
 * removal's doing. */
static int touches_removed(const scratch *sx, const char *p)
{
    for (size_t k = 0; k < sx->n_rm; k++)
        if (path_within(p, sx->rm[k].path) || path_within(sx->rm[k].path, p))
            return 1;
    return 0;
}

/* Whether the file path `p` was set aside itself, or lies below something that was. */
static int is_removed(const scratch *sx, const char *p)
{
    for (size_t k = 0; k < sx->n_rm; k++)
        if (path_within(p, sx->rm[k].path))
            return 1;
    return 0;
}

/* Sets aside the value at scratch path `path` (file path `orig`): removes it from its object or list. Recorded
 * either way, so that a repeat is recognised. */
static void set_aside(scratch *sx, const char *path, const char *orig)
{
    json_t *parent;
    char key[256], o[256];
    size_t index, plen;
    int is_index = 0;
    int found = walk(sx, path, &parent, key, sizeof key, &index, &is_index, o, sizeof o, &plen) == 0;
    if (sx->n_rm == sx->cap_rm) {
        size_t cap = sx->cap_rm ? 2 * sx->cap_rm : 16;
        removed *r = realloc(sx->rm, cap * sizeof *r);
        if (!r)
            return;
        sx->rm = r;
        sx->cap_rm = cap;
    }
    removed *r = &sx->rm[sx->n_rm];
    memset(r, 0, sizeof *r);
    snprintf(r->path, sizeof r->path, "%s", orig);
    if (found && is_index) {
        const char *br = strrchr(orig, '[');
        snprintf(r->list, sizeof r->list, "%.*s", br ? (int)(br - orig) : 0, orig);
        r->index = br ? (size_t)strtoull(br + 1, NULL, 10) : 0;
        r->list_item = 1;
        json_array_remove(parent, index);
    } else if (found) {
        json_object_del(parent, key);
    }
    sx->n_rm++;
}

/* The parent part of a scratch path (its length from walk), or -1 at the top level / when the path is not there. */
static int parent_of(const scratch *sx, const char *path, char *out, size_t size)
{
    json_t *parent;
    char key[256], o[256];
    size_t index, plen;
    int is_index;
    if (walk(sx, path, &parent, key, sizeof key, &index, &is_index, o, sizeof o, &plen) != 0) {
        /* a missing key: its parent is what the path names before the last '.' or '[' */
        const char *dot = strrchr(path, '.'), *br = strrchr(path, '[');
        const char *cut = dot > br ? dot : br;
        if (!cut)
            return -1;
        plen = (size_t)(cut - path);
    }
    if (plen == 0)
        return -1;
    snprintf(out, size, "%.*s", (int)plen, path);
    return 0;
}

/* A space a model runs on, small and valid: stands in for a `space` that had to be set aside. */
static json_t *stand_in_space(const json_t *tree)
{
    const json_t *mv = json_object_get(tree, "model");
    const agora_model *m = agora_model_find(json_string_value(mv));
    if (!m && json_is_object(mv))
        m = agora__rules_find(json_string_value(json_object_get(json_object_get(mv, "define"), "name")));
    if (!m || (m->spaces & AGORA_SPACES_GRID))
        return json_pack("{s:s, s:i, s:i}", "kind", "grid", "width", 10, "height", 10);
    if (m->spaces & AGORA_SPACES_MIXED)
        return json_pack("{s:s, s:i}", "kind", "mixed", "n", 100);
    return json_pack("{s:s, s:s, s:i, s:i}", "kind", "graph", "generator", "lattice", "width", 10, "height", 10);
}

static int add_error(agora_scenario_errors *errs, const agora_error *e)
{
    char a[1024], b[1024];
    agora_error_format(e, a, sizeof a);
    for (int i = 0; i < errs->n; i++)
        if (strcmp(agora_error_format(&errs->e[i], b, sizeof b), a) == 0)
            return 0;
    if (errs->n == AGORA_SCENARIO_MAX_ERRORS) {
        errs->more = 1;
        return 0;
    }
    errs->e[errs->n++] = *e;
    return 1;
}

/* An edge-list file that is not there is reported with the file's other errors, not only once they are fixed (the
 * pre-flight, agora_run_check, finds it then), unless space.path is wrong already. */
static void missing_edge_list(const agora_scenario *sc, const json_t *tree, size_t n_ov, agora_scenario_errors *errs)
{
    const json_t *space = json_object_get(tree, "space");
    const char *gen = json_string_value(json_object_get(space, "generator"));
    const char *path = json_string_value(json_object_get(space, "path"));
    if (!gen || strcmp(gen, "file") != 0 || !path || !path[0])
        return;
    for (int i = 0; i < errs->n; i++)
        if (strcmp(errs->e[i].where, "space") == 0 || strcmp(errs->e[i].where, "space.path") == 0 ||
            strcmp(errs->e[i].where, "space.generator") == 0)
            return;
    char *resolved = NULL;
    agora_error e;
    if (agora__graph_find_file(path, sc->base_dir, &resolved, &e) != 0) {
        locate(sc->path, sc->locs, sc->ov, n_ov, &e);
        add_error(errs, &e);
    }
    free(resolved);
}

static void collect_errors(const agora_scenario *sc, const json_t *tree, size_t n_ov, int steps_overridden,
                           const char *first_path, const agora_error *first, agora_scenario_errors *errs)
{
    memset(errs, 0, sizeof *errs);
    errs->e[errs->n++] = *first;
    scratch sx = {.tree = json_deep_copy(tree)};
    if (!sx.tree || first->code == AGORA_ENOMEM || !first_path[0])
        goto done;
    char orig[256], up[256];
    int stood_in = 0;
    file_path(&sx, first_path, orig, sizeof orig);
    set_aside(&sx, first_path, orig);
    /* every round sets one key aside, so the rounds are bounded by the keys of the tree; this bound is looser */
    for (int round = 0; round < 8 * AGORA_SCENARIO_MAX_ERRORS && !errs->more; round++) {
        json_t *cfg = NULL;
        const agora_model *model = NULL;
        agora_error e;
        int rc = check_scenario(sx.tree, sc, steps_overridden, &cfg, &model, &e, NULL);
        json_decref(cfg);
        if (rc == 0 || rc == AGORA_ENOMEM || !e.where[0])
            break;
        char at[sizeof e.where];
        memcpy(at, e.where, sizeof at);
        file_path(&sx, at, orig, sizeof orig);
        if (touches_removed(&sx, orig)) {
            /* the removal's doing: set the parent aside instead (or stand in for the space, or stop) */
            if (parent_of(&sx, at, up, sizeof up) == 0) {
                char up_orig[256];
                file_path(&sx, up, up_orig, sizeof up_orig);
                if (!is_removed(&sx, up_orig)) {
                    set_aside(&sx, up, up_orig);
                    continue;
                }
            }
            if (!stood_in && (strcmp(orig, "space") == 0 || strncmp(orig, "space.", 6) == 0)) {
                stood_in = 1;
                json_t *space = stand_in_space(sx.tree);
                if (space && json_object_set_new(sx.tree, "space", space) == 0)
                    continue;
            }
            break;
        }
        snprintf(e.where, sizeof e.where, "%s", orig);
        locate(sc->path, sc->locs, sc->ov, n_ov, &e);
        add_error(errs, &e);
        set_aside(&sx, at, orig);
    }
    missing_edge_list(sc, tree, n_ov, errs);
done:
    json_decref(sx.tree);
    free(sx.rm);
}

/* errs after a failed call that found no check error to collect (the file, its syntax, an override's form): the
 * one error. */
static int report_one(int rc, const agora_error *err, agora_scenario_errors *errs)
{
    if (rc && errs && errs->n == 0) {
        errs->e[0] = *err;
        errs->n = 1;
    }
    return rc;
}

/* *out = sc, or sc freed when the caller only checks (out == NULL). */
static void hand_over(agora_scenario *sc, agora_scenario **out)
{
    if (out)
        *out = sc;
    else
        agora_scenario_destroy(sc);
}

int agora_scenario_load_report(const char *path, agora_scenario **out, agora_scenario_errors *errs)
{
    agora_error err;
    agora_scenario *sc = NULL;
    if (errs)
        memset(errs, 0, sizeof *errs);
    int rc = report_one(load_file(path, NULL, NULL, &sc, &err, errs), &err, errs);
    hand_over(sc, out);
    return rc;
}

int agora_scenario_parse_report(const char *text, size_t len, const char *name, const char *base_dir,
                                agora_scenario **out, agora_scenario_errors *errs)
{
    agora_error err;
    agora_scenario *sc = NULL;
    if (errs)
        memset(errs, 0, sizeof *errs);
    int rc = report_one(parse_text(text, len, name, base_dir, NULL, NULL, &sc, &err, errs), &err, errs);
    hand_over(sc, out);
    return rc;
}

int agora_scenario_set_all_report(agora_scenario *sc, const char *const *assignments, int n,
                                  agora_scenario_errors *errs)
{
    agora_error err;
    if (errs)
        memset(errs, 0, sizeof *errs);
    return report_one(set_all(sc, assignments, n, &err, errs), &err, errs);
}

/* ---- accessors --------------------------------------------------------------------------------------------------- */

const json_t *agora_scenario_config(const agora_scenario *sc)
{
    return sc ? sc->config : NULL;
}

/* Adds a file's bytes to the hash; a file that cannot be read adds its name and the word "unreadable" (the run
 * itself will then fail and say why). */
static void hash_file(agora__sha256 *h, const char *base_dir, const char *path)
{
    char full[4096];
    if (path[0] == '/' || !base_dir || !base_dir[0])
        snprintf(full, sizeof full, "%s", path);
    else
        snprintf(full, sizeof full, "%s/%s", base_dir, path);
    FILE *f = fopen(full, "rb");
    if (!f && path[0] != '/')
        f = fopen(path, "rb"); /* as the space does: the scenario's directory, then the working directory */
    if (!f) {
        agora__sha256_add(h, "unreadable:", 11);
        agora__sha256_add(h, path, strlen(path));
        return;
    }
    unsigned char buf[65536];
    size_t n;
    agora__sha256_add(h, "file:", 5);
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        agora__sha256_add(h, buf, n);
    fclose(f);
}

int agora_scenario_hash(const agora_scenario *sc, char hex[65], agora_error *err)
{
    hex[0] = '\0';
    if (!sc)
        return agora_error_set(err, AGORA_EINVAL, NULL, "agora_scenario_hash needs a scenario");
    /* What cannot change a dataset is left out: where the file goes, how often it is flushed, its compression, the
     * thread count (results do not depend on it) and a sweep block (each run's values are in its own config). */
    json_t *c = json_deep_copy(sc->config);
    json_t *model = sc->model ? agora_model_describe(sc->model) : json_null();
    json_t *doc =
        c && model ? json_pack("{s:s, s:O, s:O}", "agora_version", agora_version(), "model", model, "config", c) : NULL;
    json_decref(model);
    if (!doc) {
        json_decref(c);
        return agora_error_set(err, AGORA_ENOMEM, NULL, "out of memory");
    }
    json_t *out = json_object_get(c, "output");
    json_object_del(out, "path");
    json_object_del(out, "flush_every");
    json_object_del(out, "compression");
    json_object_del(c, "threads");
    json_object_del(c, "sweep");
    char *text = agora__json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    json_decref(c);
    json_decref(doc);
    if (!text)
        return agora_error_set(err, AGORA_ENOMEM, NULL, "out of memory");
    agora__sha256 h;
    agora__sha256_init(&h);
    agora__sha256_add(&h, text, strlen(text));
    free(text);
    /* The contents of an edge-list file shape the graph, so they are part of the configuration too. */
    const json_t *space = json_object_get(sc->config, "space");
    const char *gpath = json_string_value(json_object_get(space, "path"));
    if (gpath && json_is_string(json_object_get(space, "generator")) &&
        strcmp(json_string_value(json_object_get(space, "generator")), "file") == 0)
        hash_file(&h, sc->base_dir, gpath);
    agora__sha256_hex(&h, hex);
    return 0;
}

const char *agora_scenario_text(const agora_scenario *sc)
{
    return sc ? sc->text : NULL;
}

const char *agora_scenario_path(const agora_scenario *sc)
{
    return sc ? sc->path : NULL;
}

const char *agora_scenario_base_dir(const agora_scenario *sc)
{
    return sc ? sc->base_dir : NULL;
}

const agora_model *agora_scenario_model(const agora_scenario *sc)
{
    return sc ? sc->model : NULL;
}
