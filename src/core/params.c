/* agora — model parameters: checking a `params:` object against a model's table and reading resolved values, plus
 * the small queries over a model's spec arrays. Errors carry the key path "params.<name>" in err->where; the scenario
 * loader turns it into file:line:col. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "agora/model.h"
#include "core/internal.h"

const char *agora_param_type_name(agora_param_type t)
{
    switch (t) {
    case AGORA_PARAM_REAL:
        return "real";
    case AGORA_PARAM_INT:
        return "int";
    case AGORA_PARAM_BOOL:
        return "bool";
    case AGORA_PARAM_AMOUNT:
        return "amount";
    case AGORA_PARAM_CHOICE:
        return "choice";
    }
    return "?";
}

const char *agora_dtype_name(agora_dtype t)
{
    switch (t) {
    case AGORA_DTYPE_U8:
        return "uint8";
    case AGORA_DTYPE_I32:
        return "int32";
    case AGORA_DTYPE_F32:
        return "float32";
    case AGORA_DTYPE_F64:
        return "float64";
    case AGORA_DTYPE_I64:
        return "int64";
    }
    return "?";
}

int agora_dtype_size(agora_dtype t)
{
    switch (t) {
    case AGORA_DTYPE_U8:
        return 1;
    case AGORA_DTYPE_I32:
    case AGORA_DTYPE_F32:
        return 4;
    case AGORA_DTYPE_F64:
    case AGORA_DTYPE_I64:
        return 8;
    }
    return 0;
}

int agora_model_n_params(const agora_model *m)
{
    int n = 0;
    while (m->params && m->params[n].name)
        n++;
    return n;
}

int agora_model_n_metrics(const agora_model *m)
{
    int n = 0;
    while (m->metrics && m->metrics[n].name)
        n++;
    return n;
}

int agora_model_n_fields(const agora_model *m)
{
    int n = 0;
    while (m->fields && m->fields[n].name)
        n++;
    return n;
}

int agora_model_metric_index(const agora_model *m, const char *name)
{
    for (int i = 0; m->metrics && m->metrics[i].name; i++)
        if (strcmp(m->metrics[i].name, name) == 0)
            return i;
    return -1;
}

int agora_model_field_index(const agora_model *m, const char *name)
{
    for (int i = 0; m->fields && m->fields[i].name; i++)
        if (strcmp(m->fields[i].name, name) == 0)
            return i;
    return -1;
}

json_t *agora_model_action_schema(const agora_model *m, agora_error *err)
{
    if (!m->action_schema)
        return NULL;
    json_error_t jerr;
    json_t *s = json_loads(m->action_schema, 0, &jerr);
    if (!s)
        agora_error_set(err, AGORA_EINTERNAL, m->name, "action schema is not JSON: %s (line %d)", jerr.text,
                        jerr.line);
    return s;
}

/* True when `choices` ("a|b|c") contains `word`; writes the index. */
static int choice_index(const char *choices, const char *word, int *index)
{
    size_t wl = strlen(word);
    int i = 0;
    for (const char *p = choices; p && *p; i++) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == wl && strncmp(p, word, len) == 0) {
            *index = i;
            return 1;
        }
        p = bar ? bar + 1 : NULL;
    }
    return 0;
}

/* The index-th word of `choices` as a new JSON string. */
static json_t *choice_word(const char *choices, int index)
{
    const char *p = choices;
    for (int i = 0; p && i < index; i++) {
        p = strchr(p, '|');
        if (p)
            p++;
    }
    if (!p)
        return json_string("");
    const char *bar = strchr(p, '|');
    return json_stringn(p, bar ? (size_t)(bar - p) : strlen(p));
}

static json_t *default_value(const agora_param_spec *s)
{
    switch (s->type) {
    case AGORA_PARAM_REAL:
        return json_real(s->def);
    case AGORA_PARAM_INT:
        return json_integer((json_int_t)s->def);
    case AGORA_PARAM_BOOL:
        return json_boolean(s->def != 0.0);
    case AGORA_PARAM_AMOUNT:
        return s->def >= 1.0 ? json_integer((json_int_t)s->def) : json_real(s->def);
    case AGORA_PARAM_CHOICE:
        return choice_word(s->choices, (int)s->def);
    }
    return json_null();
}

/* "a, b, c" from "a|b|c". */
static void list_choices(const char *choices, char *buf, size_t size)
{
    size_t o = 0;
    for (const char *p = choices; p && *p && o + 3 < size; p++)
        o += (size_t)snprintf(buf + o, size - o, "%s", *p == '|' ? ", " : (char[]){*p, 0});
    if (o == 0 && size)
        buf[0] = '\0';
}

/* Checks one value; on success returns a new JSON value to store. */
static json_t *check_value(const agora_param_spec *s, const json_t *v, char *where, agora_error *err)
{
    char got[96];
    agora__json_brief(v, got, sizeof got);
    double x = json_is_number(v) ? json_number_value(v) : NAN;
    switch (s->type) {
    case AGORA_PARAM_REAL:
        if (!json_is_number(v) || !(x >= s->min && x <= s->max)) {
            agora_error_set(err, AGORA_ESCHEMA, where, "expected a number in [%g, %g], got %s", s->min, s->max, got);
            return NULL;
        }
        return json_real(x);
    case AGORA_PARAM_INT:
        if (!json_is_number(v) || x != floor(x) || !(x >= s->min && x <= s->max)) {
            agora_error_set(err, AGORA_ESCHEMA, where, "expected an integer in [%.0f, %.0f], got %s", s->min, s->max,
                            got);
            return NULL;
        }
        return json_integer((json_int_t)x);
    case AGORA_PARAM_BOOL:
        if (!json_is_boolean(v)) {
            agora_error_set(err, AGORA_ESCHEMA, where, "expected true or false, got %s", got);
            return NULL;
        }
        return json_boolean(json_is_true(v));
    case AGORA_PARAM_AMOUNT:
        if (!json_is_number(v) || !(x >= 0.0) || (x >= 1.0 && x != floor(x)) || (s->max > 0 && x > s->max)) {
            if (s->max > 0)
                agora_error_set(err, AGORA_ESCHEMA, where,
                                "expected a fraction in [0, 1) or a count (an integer from 1 to %.0f), got %s", s->max,
                                got);
            else
                agora_error_set(err, AGORA_ESCHEMA, where,
                                "expected a fraction in [0, 1) or a count (an integer >= 1), got %s", got);
            return NULL;
        }
        return x >= 1.0 ? json_integer((json_int_t)x) : json_real(x);
    case AGORA_PARAM_CHOICE: {
        int idx;
        if (!json_is_string(v) || !choice_index(s->choices, json_string_value(v), &idx)) {
            char list[256];
            list_choices(s->choices, list, sizeof list);
            agora_error_set(err, AGORA_ESCHEMA, where, "expected one of %s, got %s", list, got);
            return NULL;
        }
        return json_string(json_string_value(v));
    }
    }
    agora_error_set(err, AGORA_EINTERNAL, where, "unknown parameter type");
    return NULL;
}

int agora_params_resolve(const agora_param_spec *spec, const json_t *given, json_t **out, agora_error *err)
{
    *out = NULL;
    char where[256];
    if (given && !json_is_object(given) && !json_is_null(given)) {
        char got[96];
        return agora_error_set(err, AGORA_ESCHEMA, "params", "expected an object of parameters, got %s",
                               agora__json_brief(given, got, sizeof got));
    }
    const char *key;
    json_t *v;
    if (given && json_is_object(given)) {
        json_object_foreach((json_t *)given, key, v) {
            int known = 0;
            for (int i = 0; spec && spec[i].name; i++)
                known |= strcmp(spec[i].name, key) == 0;
            if (!known) {
                char names[384] = "";
                size_t o = 0;
                for (int i = 0; spec && spec[i].name && o < sizeof names; i++)
                    o += (size_t)snprintf(names + o, sizeof names - o, "%s%s", i ? ", " : "", spec[i].name);
                snprintf(where, sizeof where, "params.%s", key);
                return agora_error_set(err, AGORA_ESCHEMA, where, "unknown parameter (known: %s)",
                                       names[0] ? names : "none");
            }
        }
    }
    json_t *res = json_object();
    if (!res)
        return agora_error_set(err, AGORA_ENOMEM, "params", "out of memory");
    for (int i = 0; spec && spec[i].name; i++) {
        const json_t *gv = given && json_is_object(given) ? json_object_get(given, spec[i].name) : NULL;
        json_t *val;
        if (gv) {
            snprintf(where, sizeof where, "params.%s", spec[i].name);
            val = check_value(&spec[i], gv, where, err);
            if (!val) {
                json_decref(res);
                return err ? err->code : AGORA_ESCHEMA;
            }
        } else {
            val = default_value(&spec[i]);
        }
        json_object_set_new(res, spec[i].name, val);
    }
    *out = res;
    return 0;
}

double agora_param_real(const json_t *params, const char *name)
{
    return json_number_value(json_object_get(params, name));
}

int64_t agora_param_int(const json_t *params, const char *name)
{
    const json_t *v = json_object_get(params, name);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : (int64_t)json_number_value(v);
}

int agora_param_bool(const json_t *params, const char *name)
{
    return json_is_true(json_object_get(params, name));
}

const char *agora_param_choice(const json_t *params, const char *name)
{
    const char *s = json_string_value(json_object_get(params, name));
    return s ? s : "";
}

int64_t agora_param_amount(const json_t *params, const char *name, int64_t n)
{
    const json_t *v = json_object_get(params, name);
    double x = json_number_value(v);
    if (json_is_integer(v) || x >= 1.0) {
        int64_t c = (int64_t)x;
        return c > n ? n : c;
    }
    int64_t c = (int64_t)llround(x * (double)n);
    return c > n ? n : c;
}

/* A parameter's default as JSON (a fraction or count for amounts, the word for choices). */
static json_t *default_json(const agora_param_spec *p)
{
    json_t *params = NULL;
    agora_param_spec one[2] = {*p, {0}};
    if (agora_params_resolve(one, NULL, &params, NULL) != 0)
        return json_null();
    json_t *v = json_incref(json_object_get(params, p->name));
    json_decref(params);
    return v;
}

json_t *agora_model_describe(const agora_model *m)
{
    json_t *params = json_array(), *metrics = json_array(), *fields = json_array(), *spaces = json_array();
    for (int i = 0; m->params && m->params[i].name; i++) {
        const agora_param_spec *p = &m->params[i];
        json_t *o = json_pack("{s:s, s:s, s:o, s:s}", "name", p->name, "type", agora_param_type_name(p->type),
                              "default", default_json(p), "doc", p->doc);
        if (p->type == AGORA_PARAM_REAL || p->type == AGORA_PARAM_INT) {
            json_object_set_new(o, "min", json_real(p->min));
            json_object_set_new(o, "max", json_real(p->max));
        }
        if (p->type == AGORA_PARAM_CHOICE)
            json_object_set_new(o, "choices", json_string(p->choices));
        json_array_append_new(params, o);
    }
    for (int i = 0; m->metrics && m->metrics[i].name; i++)
        json_array_append_new(metrics, json_pack("{s:s, s:s}", "name", m->metrics[i].name, "doc", m->metrics[i].doc));
    for (int i = 0; m->fields && m->fields[i].name; i++)
        json_array_append_new(fields, json_pack("{s:s, s:s, s:s}", "name", m->fields[i].name, "type",
                                                agora_dtype_name(m->fields[i].type), "doc", m->fields[i].doc));
    for (int k = AGORA_SPACE_GRID; k <= AGORA_SPACE_MIXED; k++)
        if (m->spaces & AGORA_SPACES_FLAG(k))
            json_array_append_new(spaces, json_string(agora_space_kind_name((agora_space_kind)k)));
    json_t *schema = agora_model_action_schema(m, NULL);
    return json_pack("{s:s, s:s, s:o, s:o, s:o, s:o, s:o}", "name", m->name, "summary", m->summary, "spaces", spaces,
                     "params", params, "metrics", metrics, "fields", fields, "action_schema",
                     schema ? schema : json_null());
}
