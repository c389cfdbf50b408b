/* agora — rule-language models: checking a definition and building its agora_model (see model.h).
 *
 * A definition (YAML, or JSON from an MCP client):
 *
 *   name: frustration               # an identifier; a model file's default is its stem
 *   summary: one line for `agora models`
 *   spaces: [grid, graph]           # optional: default grid and graph, and mixed when no expression reads neighbours
 *   params:                         # as built-ins declare them: --set, sweeps and `agora models` work unchanged
 *     fail_rate: {type: real, default: 0.1, min: 0, max: 1, doc: ...}   # or just `fail_rate: 0.1`
 *     initial: {type: amount, default: 10}                              # a fraction in [0, 1) or a count
 *   vars:                           # agent variables, in order: bool, int, real or a category of named values
 *     state: {values: [S, I, R], init: S, place: {I: initial}}          # place: exactly that many, at random
 *     level: {type: real, init: uniform(0, 1)}                          # or just `level: real`
 *   rules:                          # the synchronous step: every variable's value at t+1 from the state at t
 *     state: if(state == S and bernoulli(...), I, state)
 *     level: level                  # a variable that keeps its value says so
 *   pairs:                          # optional: then agents paired by the kernel's random matching interact
 *     level: (level + partner.level) / 2
 *   moves: {empty: state == none, want: not happy}   # optional: who wants to move swaps with a random empty site
 *   metrics:                        # numbers about the population, one per step
 *     infected: {expr: pop_mean(state == I), summary: peak, doc: ...}   # or just `infected: pop_mean(...)`
 *   actions:                        # what personas and MCP clients may do; the JSON Schema is generated
 *     repair:
 *       doc: ...
 *       args: {share: {type: real, min: 0, max: 1}}
 *       where: frustrated           # the agents it may touch
 *       share: share                # or count: ..., or ids: <an argument of type ids>
 *       set: {frustrated: false}
 *     campaign:
 *       args: {strength: {type: real, min: 0, max: 1}, steps: {type: int, min: 1, max: 1000}}
 *       params: {fail_rate: fail_rate * (1 - strength)}
 *       steps: steps                # how long the parameters stay changed (absent: until replaced)
 *   observe: [infected]             # metrics personas see (default: all)
 *
 * Every error is reported with file:line:col and its key path, each part checked even after another failed. */
#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>

#include "agora/version.h"
#include "core/internal.h"
#include "io/yaml.h"
#include "rules/model.h"

/* ---- errors ------------------------------------------------------------------------------------------------------ */

typedef struct dctx {
    const agora__locmap *locs;
    const char *prefix, *file, *text;
    agora_scenario_errors *errs;
    agora_error first;
    int nerr;
} dctx;

static void full_path(const dctx *d, const char *path, char *buf, size_t size)
{
    if (d->prefix && d->prefix[0])
        snprintf(buf, size, "%s%s%s", d->prefix, path[0] && path[0] != '[' ? "." : "", path);
    else
        snprintf(buf, size, "%s", path);
}

static void position(const dctx *d, const char *path, int want_key, int *line, int *col)
{
    char full[512];
    full_path(d, path, full, sizeof full);
    *line = *col = 0;
    if (d->locs)
        agora__locmap_find(d->locs, full, line, col, want_key);
}

static void add(dctx *d, const agora_error *e)
{
    if (d->nerr++ == 0)
        d->first = *e;
    if (d->errs) {
        if (d->errs->n < AGORA_SCENARIO_MAX_ERRORS)
            d->errs->e[d->errs->n++] = *e;
        else
            d->errs->more = 1;
    }
}

#if defined(__GNUC__)
__attribute__((format(printf, 5, 6)))
#endif
static int
fail(dctx *d, const char *path, int want_key, int code, const char *fmt, ...)
{
    agora_error e;
    char msg[sizeof e.msg], full[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    full_path(d, path, full, sizeof full);
    agora_error_set(&e, code, d->file, "%s%s%s", full, full[0] ? ": " : "", msg);
    position(d, path, want_key, &e.line, &e.column);
    add(d, &e);
    return code;
}

static const char *kind_of(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "a mapping";
    case JSON_ARRAY:
        return "a list";
    case JSON_STRING:
        return "text";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    default:
        return "nothing";
    }
}

/* Unknown keys of a mapping, with a suggestion. */
static int check_keys(dctx *d, const json_t *obj, const char *path, const char *const *known)
{
    const char *k;
    const json_t *v;
    int rc = 0;
    json_object_foreach((json_t *)obj, k, v) {
        int ok = 0;
        for (int i = 0; known[i]; i++)
            ok |= strcmp(k, known[i]) == 0;
        if (ok)
            continue;
        agora__suggest s;
        agora__suggest_start(&s, k, strlen(k) <= 4 ? 1 : 2);
        char list[256] = "";
        size_t o = 0;
        for (int i = 0; known[i]; i++) {
            agora__suggest_offer(&s, known[i]);
            o += (size_t)snprintf(list + o, o < sizeof list ? sizeof list - o : 0, "%s%s", i ? ", " : "", known[i]);
        }
        char p[512];
        snprintf(p, sizeof p, "%s%s%s", path, path[0] ? "." : "", k);
        if (s.best)
            rc = fail(d, p, 1, AGORA_ESCHEMA, "unknown key; did you mean \"%s\"?", s.best);
        else
            rc = fail(d, p, 1, AGORA_ESCHEMA, "unknown key (known: %s)", list);
    }
    return rc;
}

/* Names the runtime gives expressions itself, or that would read ambiguously. */
static const char *const taken[] = {"id",   "xcor",  "ycor", "partner", "first", "t",  "degree", "nb",
                                    "true", "false", "and",  "or",      "not",   "if", NULL};

static int check_name(dctx *d, const char *path, const char *what, const char *s)
{
    if (!agora__ident_ok(s))
        return fail(d, path, 1, AGORA_ESCHEMA,
                    "%s \"%.64s\": expected a name of letters, digits and _ (at most 63, not starting with a digit)",
                    what, s);
    for (int i = 0; taken[i]; i++)
        if (strcmp(s, taken[i]) == 0)
            return fail(d, path, 1, AGORA_ESCHEMA,
                        "%s \"%s\": the name is reserved (id, xcor, ycor, partner, first, t, degree, nb, true, false, "
                        "and, or, not, if and the function names)",
                        what, s);
    for (int f = 0; f < RX_F_COUNT; f++)
        if (strcmp(s, agora__rx_fns[f].name) == 0)
            return fail(d, path, 1, AGORA_ESCHEMA, "%s \"%s\": %s is a function name", what, s, s);
    return 0;
}

/* ---- expressions ------------------------------------------------------------------------------------------------- */

/* The text of an expression value: text as it is, a number or a boolean as written. */
static int expr_text(const json_t *v, char *buf, size_t size, const char **text)
{
    if (json_is_string(v)) {
        *text = json_string_value(v);
        return 0;
    }
    if (json_is_integer(v))
        snprintf(buf, size, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        snprintf(buf, size, "%.17g", json_real_value(v));
    else if (json_is_boolean(v))
        snprintf(buf, size, "%s", json_is_true(v) ? "true" : "false");
    else
        return -1;
    *text = buf;
    return 0;
}

/* Where the expression's text starts in the file: after an opening quote, or on the line after a block scalar's
 * indicator (| or >) at its indentation. *indent is what later lines of a block lose to de-indentation. */
static void expr_start(const dctx *d, const char *path, int *line, int *col, int *indent)
{
    position(d, path, 0, line, col);
    *indent = 0;
    if (!d->text || *line <= 0)
        return;
    const char *p = d->text;
    for (int l = 1; l < *line && *p; p++)
        if (*p == '\n')
            l++;
    for (int c = 1; c < *col && *p && *p != '\n'; c++)
        p++;
    if (*p == '"' || *p == '\'') {
        (*col)++;
    } else if (*p == '|' || *p == '>') {
        while (*p && *p != '\n')
            p++;
        if (!*p)
            return;
        p++;
        int n = 0;
        while (p[n] == ' ')
            n++;
        (*line)++;
        *col = n + 1;
        *indent = n;
    }
}

static int expr(dctx *d, const json_t *v, const char *path, const agora_rx_env *env, agora_rx_type want, int want_cat,
                agora__rx_prog **out)
{
    char buf[64];
    const char *text;
    *out = NULL;
    if (expr_text(v, buf, sizeof buf, &text) != 0)
        return fail(d, path, 0, AGORA_ESCHEMA, "expected an expression (text, a number or true/false), got %s",
                    kind_of(v));
    int line, col, indent;
    expr_start(d, path, &line, &col, &indent);
    agora_rx_env e = *env;
    e.where = d->file;
    agora_error err;
    int rc =
        agora__rx_compile(text, strlen(text), line > 0 ? line : 1, col > 0 ? col : 1, &e, want, want_cat, out, &err);
    if (rc) {
        if (line <= 0)
            err.line = err.column = 0;
        else if (err.line > line)
            err.column += indent;
        char full[512], msg[sizeof err.msg + 520];
        full_path(d, path, full, sizeof full);
        snprintf(msg, sizeof msg, "%s: %s", full, err.msg);
        memcpy(err.msg, msg, sizeof err.msg);
        add(d, &err);
        return rc;
    }
    if (env->rule >= 0 && agora__rx_prog_npop(*out) > 8) {
        agora__rx_free(*out);
        *out = NULL;
        return fail(d, path, 0, AGORA_ESCHEMA, "more than 8 population aggregates in one rule");
    }
    if (agora__rx_prog_streams(*out) > AGORA_RULES_MAX_SITES) {
        agora__rx_free(*out);
        *out = NULL;
        return fail(d, path, 0, AGORA_ESCHEMA, "more than %d random draws in one expression", AGORA_RULES_MAX_SITES);
    }
    return 0;
}

/* Whether a program reads neighbours (it then cannot run on a mixed space). */
static int reads_neighbours(const agora__rx_prog *p)
{
    for (int i = 0; p && i < p->ncode; i++)
        switch ((rx_op)p->code[i].op) {
        case RX_OP_LDN8:
        case RX_OP_LDNI:
        case RX_OP_LDNR:
        case RX_OP_LDDEG:
        case RX_OP_NB_BEGIN:
        case RX_OP_RNB:
        case RX_OP_NB_CNT8K:
        case RX_OP_NB_SUMV8:
        case RX_OP_NB_SUMVI:
        case RX_OP_NB_SUMVR:
            return 1;
        default:
            break;
        }
    return 0;
}

/* The highest own-variable column a program reads, or -1. */
static int max_column(const agora__rx_prog *p)
{
    int m = -1;
    for (int i = 0; p && i < p->ncode; i++) {
        const rx_ins *in = &p->code[i];
        switch ((rx_op)in->op) {
        case RX_OP_LDV8:
        case RX_OP_LDVI:
        case RX_OP_LDVR:
        case RX_OP_EQV8K:
            m = in->x > m ? in->x : m;
            break;
        case RX_OP_JV8K:
            m = in->d > m ? in->d : m;
            break;
        default:
            break;
        }
    }
    return m;
}

/* ---- the model being built ------------------------------------------------------------------------------------- */

static void free_prog_array(agora__rx_prog **p, int n)
{
    for (int i = 0; p && i < n; i++)
        agora__rx_free(p[i]);
    free(p);
}

static void model_free(agora__rules_model *m)
{
    if (!m)
        return;
    agora__rx_native_free(m->native);
    for (int i = 0; m->params && i < m->nparams; i++) {
        free((char *)m->params[i].name);
        free((char *)m->params[i].doc);
        free((char *)m->params[i].choices);
    }
    free(m->params);
    free(m->rxparams);
    free(m->rx_of_param);
    for (int i = 0; m->vars && i < m->nvars; i++) {
        rx_vardef *v = &m->vars[i];
        free(v->name);
        free(v->doc);
        for (int j = 0; j < v->nvalues; j++)
            free(v->values[j]);
        free(v->values);
        agora__rx_free(v->init);
        agora__rx_free(v->rule);
        agora__rx_free(v->pair);
        free(v->place);
    }
    free(m->vars);
    if (m->rxvars)
        for (int i = m->nvars; i < 2 * m->nvars + 1; i++)
            free((char *)m->rxvars[i].name);
    free(m->rxvars);
    for (int i = 0; m->metrics && i < m->nmetrics; i++) {
        free((char *)m->metrics[i].name);
        free((char *)m->metrics[i].doc);
        free((char *)m->metrics[i].summary);
    }
    free(m->metrics);
    free_prog_array(m->metric_progs, m->nmetrics);
    free_prog_array(m->agg_prog, m->nagg);
    free(m->agg_fn);
    free(m->observed);
    free(m->fields);
    for (int i = 0; m->actions && i < m->nactions; i++) {
        rx_action *a = &m->actions[i];
        free(a->name);
        free(a->doc);
        for (int j = 0; j < a->nargs; j++) {
            free(a->args[j].name);
            free(a->args[j].doc);
        }
        free(a->args);
        free(a->fx_param);
        free_prog_array(a->fx, a->nfx);
        agora__rx_free(a->duration);
        agora__rx_free(a->where);
        agora__rx_free(a->share);
        agora__rx_free(a->count);
        free(a->set_var);
        free_prog_array(a->set, a->nset);
    }
    free(m->actions);
    free(m->action_schema);
    agora__rx_free(m->move_empty);
    agora__rx_free(m->move_want);
    json_decref(m->def);
    free(m->name);
    free(m->summary);
    free(m->origin);
    free(m);
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static const char *str_of(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* ---- parameters -------------------------------------------------------------------------------------------------- */

static int number_of(const json_t *v, double *out)
{
    if (!json_is_number(v))
        return -1;
    *out = json_number_value(v);
    return 0;
}

static int define_params(dctx *d, agora__rules_model *m, const json_t *params)
{
    static const char *const keys[] = {"type", "default", "min", "max", "doc", NULL};
    int rc = 0;
    if (params && !json_is_object(params))
        return fail(d, "params", 0, AGORA_ESCHEMA, "expected a mapping of parameter names, got %s", kind_of(params));
    const int n = params ? (int)json_object_size(params) : 0;
    if (n > AGORA_RULES_MAX_PARAMS)
        return fail(d, "params", 0, AGORA_ESCHEMA, "%d parameters, at most %d", n, AGORA_RULES_MAX_PARAMS);
    m->params = calloc((size_t)n + 1, sizeof *m->params);
    m->rx_of_param = calloc((size_t)n + 1, sizeof *m->rx_of_param);
    m->rxparams = calloc((size_t)n + RX_INIT_NPSEUDO + AGORA_RULES_MAX_ARGS, sizeof *m->rxparams);
    if (!m->params || !m->rx_of_param || !m->rxparams)
        return fail(d, "params", 0, AGORA_ENOMEM, "out of memory");
    const char *name;
    const json_t *v;
    json_object_foreach((json_t *)params, name, v) {
        char path[256];
        snprintf(path, sizeof path, "params.%s", name);
        if (check_name(d, path, "parameter", name)) {
            rc = AGORA_ESCHEMA;
            continue;
        }
        agora_param_spec *p = &m->params[m->nparams];
        const char *type = NULL;
        double def = 0, lo = -DBL_MAX, hi = DBL_MAX;
        const json_t *dv;
        if (json_is_object(v)) {
            if (check_keys(d, v, path, keys)) {
                rc = AGORA_ESCHEMA;
                continue;
            }
            type = str_of(v, "type");
            dv = json_object_get(v, "default");
            if (json_object_get(v, "type") && !type) {
                rc = fail(d, path, 0, AGORA_ESCHEMA, "type: expected real, int, bool or amount");
                continue;
            }
        } else {
            dv = v;
        }
        if (!dv) {
            rc = fail(d, path, 1, AGORA_ESCHEMA, "a parameter needs a default (default: ...)");
            continue;
        }
        if (!type)
            type = json_is_boolean(dv) ? "bool" : json_is_integer(dv) ? "int" : "real";
        char dpath[300];
        snprintf(dpath, sizeof dpath, json_is_object(v) ? "%s.default" : "%s", path);
        if (strcmp(type, "bool") == 0) {
            p->type = AGORA_PARAM_BOOL;
            if (!json_is_boolean(dv)) {
                rc = fail(d, dpath, 0, AGORA_ESCHEMA, "expected true or false, got %s", kind_of(dv));
                continue;
            }
            def = json_is_true(dv);
            lo = 0;
            hi = 1;
        } else if (strcmp(type, "real") == 0 || strcmp(type, "int") == 0 || strcmp(type, "amount") == 0) {
            p->type = type[0] == 'r' ? AGORA_PARAM_REAL : type[0] == 'i' ? AGORA_PARAM_INT : AGORA_PARAM_AMOUNT;
            if (number_of(dv, &def) != 0 || (p->type == AGORA_PARAM_INT && !json_is_integer(dv))) {
                rc = fail(d, dpath, 0, AGORA_ESCHEMA, "expected %s, got %s",
                          p->type == AGORA_PARAM_INT ? "an integer" : "a number", kind_of(dv));
                continue;
            }
            if (p->type == AGORA_PARAM_AMOUNT) {
                lo = hi = 0;
                if (def < 0 || (def >= 1 && def != floor(def))) {
                    rc = fail(d, dpath, 0, AGORA_ESCHEMA, "an amount is a fraction in [0, 1) or a whole count");
                    continue;
                }
            }
            const json_t *mn = json_is_object(v) ? json_object_get(v, "min") : NULL;
            const json_t *mx = json_is_object(v) ? json_object_get(v, "max") : NULL;
            if ((mn && number_of(mn, &lo)) || (mx && number_of(mx, &hi))) {
                rc = fail(d, path, 0, AGORA_ESCHEMA, "min and max are numbers");
                continue;
            }
            if (p->type != AGORA_PARAM_AMOUNT && (lo > hi || def < lo || def > hi)) {
                rc = fail(d, dpath, 0, AGORA_ESCHEMA, "the default %g is outside [min, max] = [%g, %g]", def, lo, hi);
                continue;
            }
        } else {
            rc = fail(d, path, 0, AGORA_ESCHEMA, "type \"%s\": expected real, int, bool or amount", type);
            continue;
        }
        p->def = def;
        p->min = lo;
        p->max = hi;
        p->name = strdup(name);
        p->doc = strdup(json_is_object(v) && str_of(v, "doc") ? str_of(v, "doc") : "");
        if (p->type == AGORA_PARAM_AMOUNT) {
            m->rx_of_param[m->nparams] = -1;
        } else {
            m->rx_of_param[m->nparams] = m->nrx;
            m->rxparams[m->nrx].name = p->name;
            m->rxparams[m->nrx].type = p->type == AGORA_PARAM_REAL  ? AGORA_RX_REAL
                                       : p->type == AGORA_PARAM_INT ? AGORA_RX_INT
                                                                    : AGORA_RX_BOOL;
            m->nrx++;
        }
        m->nparams++;
    }
    return rc;
}

static int param_index(const agora__rules_model *m, const char *name)
{
    for (int i = 0; i < m->nparams; i++)
        if (strcmp(m->params[i].name, name) == 0)
            return i;
    return -1;
}

/* ---- variables --------------------------------------------------------------------------------------------------- */

static agora_rx_env base_env(const agora__rules_model *m)
{
    agora_rx_env e;
    memset(&e, 0, sizeof e);
    e.vars = m->rxvars;
    e.nvars = m->nvars;
    e.params = m->rxparams;
    e.nparams = m->nrx;
    e.has_neighbours = 1;
    return e;
}

static int define_vars(dctx *d, agora__rules_model *m, const json_t *vars)
{
    static const char *const keys[] = {"type", "values", "init", "place", "doc", NULL};
    int rc = 0;
    if (!vars)
        return fail(d, "", 0, AGORA_ESCHEMA, "vars: required key is missing (the agents' variables)");
    if (!json_is_object(vars) || json_object_size(vars) == 0)
        return fail(d, "vars", 0, AGORA_ESCHEMA, "expected a mapping of variable names to types, got %s",
                    kind_of(vars));
    const int n = (int)json_object_size(vars);
    if (n > AGORA_RULES_MAX_VARS)
        return fail(d, "vars", 0, AGORA_ESCHEMA, "%d variables, at most %d", n, AGORA_RULES_MAX_VARS);
    m->vars = calloc((size_t)n, sizeof *m->vars);
    m->rxvars = calloc(2 * (size_t)n + 1, sizeof *m->rxvars);
    if (!m->vars || !m->rxvars)
        return fail(d, "vars", 0, AGORA_ENOMEM, "out of memory");
    const char *name;
    const json_t *v;
    json_object_foreach((json_t *)vars, name, v) {
        char path[256];
        snprintf(path, sizeof path, "vars.%s", name);
        rx_vardef *vd = &m->vars[m->nvars];
        if (check_name(d, path, "variable", name)) {
            rc = AGORA_ESCHEMA;
            continue;
        }
        if (param_index(m, name) >= 0) {
            rc = fail(d, path, 1, AGORA_ESCHEMA, "\"%s\" is also a parameter", name);
            continue;
        }
        /* a variable is a snapshot field, beside the dimension scales of /snapshots (h5writer.c refuses these) */
        if (!strcmp(name, "time") || !strcmp(name, "x") || !strcmp(name, "y") || !strcmp(name, "agent")) {
            rc = fail(d, path, 1, AGORA_ESCHEMA,
                      "variable \"%s\": the name is taken by the snapshots' scales (time, x, y, agent)", name);
            continue;
        }
        const json_t *type = json_is_object(v) ? json_object_get(v, "type") : v;
        const json_t *values = json_is_object(v) ? json_object_get(v, "values") : NULL;
        if (json_is_object(v) && check_keys(d, v, path, keys)) {
            rc = AGORA_ESCHEMA;
            continue;
        }
        if (json_is_array(type)) {
            values = type;
            type = NULL;
        }
        const char *ts = json_string_value(type);
        if (values || (ts && strcmp(ts, "category") == 0)) {
            if (!json_is_array(values) || json_array_size(values) < 1 || json_array_size(values) > 255) {
                rc = fail(d, path, 0, AGORA_ESCHEMA, "a category lists its values: values: [S, I, R] (1 to 255)");
                continue;
            }
            vd->type = AGORA_RX_CAT;
            vd->values = calloc(json_array_size(values), sizeof *vd->values);
            if (!vd->values)
                return fail(d, path, 0, AGORA_ENOMEM, "out of memory");
            for (size_t j = 0; j < json_array_size(values); j++) {
                const char *s = json_string_value(json_array_get(values, j));
                char vp[300];
                snprintf(vp, sizeof vp, "%s.values[%zu]", path, j);
                if (!s || check_name(d, vp, "category value", s ? s : "")) {
                    rc = AGORA_ESCHEMA;
                    continue;
                }
                if (param_index(m, s) >= 0) {
                    rc = fail(d, vp, 0, AGORA_ESCHEMA, "\"%s\" is also a parameter", s);
                    continue;
                }
                vd->values[vd->nvalues++] = strdup(s);
            }
        } else if (ts && (strcmp(ts, "bool") == 0 || strcmp(ts, "int") == 0 || strcmp(ts, "real") == 0)) {
            vd->type = ts[0] == 'b' ? AGORA_RX_BOOL : ts[0] == 'i' ? AGORA_RX_INT : AGORA_RX_REAL;
        } else {
            rc =
                fail(d, path, 0, AGORA_ESCHEMA, "expected a type: bool, int, real, or a category's values [A, B, ...]");
            continue;
        }
        vd->dtype = vd->type == AGORA_RX_INT    ? AGORA_DTYPE_I64
                    : vd->type == AGORA_RX_REAL ? AGORA_DTYPE_F64
                                                : AGORA_DTYPE_U8;
        vd->name = strdup(name);
        vd->doc = dup_or_null(json_is_object(v) ? str_of(v, "doc") : NULL);
        m->rxvars[m->nvars].name = vd->name;
        m->rxvars[m->nvars].type = vd->type;
        m->rxvars[m->nvars].values = (const char *const *)vd->values;
        m->rxvars[m->nvars].nvalues = vd->nvalues;
        m->nvars++;
    }
    if (rc)
        return rc;
    agora_rx_env env = base_env(m);
    agora_error e;
    if ((rc = agora__rx_env_check(&env, &e)) != 0)
        return fail(d, "vars", 0, rc, "%s", e.msg);
    return 0;
}

/* init and place of every variable (after all are declared: an init reads parameters, id, xcor, ycor and the
 * variables declared before it). */
static int define_inits(dctx *d, agora__rules_model *m, const json_t *vars)
{
    int rc = 0;
    static const char *const pseudo[RX_INIT_NPSEUDO] = {"id", "xcor", "ycor"};
    for (int k = 0; k < RX_INIT_NPSEUDO; k++) {
        m->rxparams[m->nrx + k].name = pseudo[k];
        m->rxparams[m->nrx + k].type = AGORA_RX_INT;
    }
    for (int i = 0; i < m->nvars; i++) {
        rx_vardef *vd = &m->vars[i];
        const json_t *v = json_object_get(vars, vd->name);
        if (!json_is_object(v))
            continue;
        char path[256];
        const json_t *init = json_object_get(v, "init");
        if (init) {
            snprintf(path, sizeof path, "vars.%s.init", vd->name);
            agora_rx_env env = base_env(m);
            env.nparams = m->nrx + RX_INIT_NPSEUDO;
            env.has_neighbours = 0;
            env.stream_base = RX_STREAM_INIT + 64u * (uint32_t)i;
            env.rule_name = vd->name;
            env.rule = i;
            if (expr(d, init, path, &env, vd->type, i, &vd->init)) {
                rc = AGORA_ESCHEMA;
            } else if (max_column(vd->init) >= i) {
                rc = fail(d, path, 0, AGORA_ESCHEMA, "reads %s, which is initialised after %s (declare it first)",
                          m->vars[max_column(vd->init)].name, vd->name);
            } else if (agora__rx_prog_npop(vd->init) > 0) {
                rc = fail(d, path, 0, AGORA_ESCHEMA, "an initial value cannot read population aggregates");
            }
        }
        const json_t *place = json_object_get(v, "place");
        if (!place)
            continue;
        snprintf(path, sizeof path, "vars.%s.place", vd->name);
        if (!json_is_object(place) || (vd->type != AGORA_RX_CAT && vd->type != AGORA_RX_BOOL)) {
            rc = fail(d, path, 0, AGORA_ESCHEMA,
                      "place: a mapping from a value to how many agents get it ({I: initial_infected}, {true: 0.1}); "
                      "for bool and category variables");
            continue;
        }
        vd->place = calloc(json_object_size(place) + 1, sizeof *vd->place);
        if (!vd->place)
            return fail(d, path, 0, AGORA_ENOMEM, "out of memory");
        const char *key;
        const json_t *amount;
        json_object_foreach((json_t *)place, key, amount) {
            char pp[320];
            snprintf(pp, sizeof pp, "%s.%s", path, key);
            rx_place *pl = &vd->place[vd->nplace];
            pl->value = -1;
            if (vd->type == AGORA_RX_BOOL)
                pl->value = strcmp(key, "true") == 0 ? 1 : strcmp(key, "false") == 0 ? 0 : -1;
            for (int j = 0; vd->type == AGORA_RX_CAT && j < vd->nvalues; j++)
                if (strcmp(vd->values[j], key) == 0)
                    pl->value = j;
            if (pl->value < 0) {
                rc = fail(d, pp, 1, AGORA_ESCHEMA, "\"%s\" is not a value of %s", key, vd->name);
                continue;
            }
            pl->param = -1;
            if (json_is_string(amount)) {
                const int pi = param_index(m, json_string_value(amount));
                if (pi < 0 || m->params[pi].type != AGORA_PARAM_AMOUNT) {
                    rc = fail(d, pp, 0, AGORA_ESCHEMA, "expected a parameter of type amount, or a number");
                    continue;
                }
                pl->param = pi;
            } else if (number_of(amount, &pl->amount) != 0 || pl->amount < 0 ||
                       (pl->amount >= 1 && pl->amount != floor(pl->amount))) {
                rc = fail(d, pp, 0, AGORA_ESCHEMA,
                          "expected a fraction in [0, 1), a whole count, or an amount "
                          "parameter");
                continue;
            }
            vd->nplace++;
        }
    }
    return rc;
}

/* ---- rules, pairs, moves --------------------------------------------------------------------------------------- */

static int var_index(const agora__rules_model *m, const char *name)
{
    for (int i = 0; i < m->nvars; i++)
        if (strcmp(m->vars[i].name, name) == 0)
            return i;
    return -1;
}

static int unknown_var(dctx *d, const agora__rules_model *m, const char *path, const char *name)
{
    agora__suggest s;
    agora__suggest_start(&s, name, strlen(name) <= 3 ? 1 : 2);
    for (int i = 0; i < m->nvars; i++)
        agora__suggest_offer(&s, m->vars[i].name);
    if (s.best)
        return fail(d, path, 1, AGORA_ESCHEMA, "%s: unknown variable; did you mean \"%s\"?", name, s.best);
    return fail(d, path, 1, AGORA_ESCHEMA, "%s: unknown variable (declare it under vars)", name);
}

static void note_nb(agora__rules_model *m, const dctx *d, const char *path, const agora__rx_prog *p)
{
    if (!reads_neighbours(p) || m->uses_nb)
        return;
    m->uses_nb = 1;
    int line, col;
    position(d, path, 0, &line, &col);
    if (line > 0)
        snprintf(m->nb_where, sizeof m->nb_where, "%s at %s:%d:%d", path, d->file, line, col);
    else
        snprintf(m->nb_where, sizeof m->nb_where, "%s", path);
}

static int is_identity(const json_t *v, const char *name)
{
    const char *s = json_string_value(v);
    if (!s)
        return 0;
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(name);
    if (strncmp(s, name, n) != 0)
        return 0;
    for (s += n; *s; s++)
        if (!isspace((unsigned char)*s))
            return 0;
    return 1;
}

static int define_rules(dctx *d, agora__rules_model *m, const json_t *rules)
{
    int rc = 0;
    if (!rules)
        return 0; /* every variable's pair rule stands in (define_every_rule) */
    if (!json_is_object(rules))
        return fail(d, "rules", 0, AGORA_ESCHEMA, "expected a mapping from each variable to its rule, got %s",
                    kind_of(rules));
    const char *name;
    const json_t *v;
    json_object_foreach((json_t *)rules, name, v) {
        char path[256];
        snprintf(path, sizeof path, "rules.%s", name);
        const int i = var_index(m, name);
        if (i < 0) {
            rc = unknown_var(d, m, path, name);
            continue;
        }
        if (is_identity(v, name))
            continue;
        agora_rx_env env = base_env(m);
        env.stream_base = RX_STREAM_RULE(i);
        env.rule = i;
        env.rule_name = m->vars[i].name;
        if (expr(d, v, path, &env, m->vars[i].type, i, &m->vars[i].rule))
            rc = AGORA_ESCHEMA;
        else
            note_nb(m, d, path, m->vars[i].rule);
    }
    return rc;
}

/* Every variable has a rule (rules.x) or a pair rule (pairs.x: then it keeps its value between encounters); with
 * moves, a variable without either is the agent's own, carried where it moves (Schelling's group). */
static int define_every_rule(dctx *d, agora__rules_model *m, const json_t *rules, const json_t *pairs,
                             const json_t *moves)
{
    if (moves)
        return 0;
    if (!rules && !pairs)
        return fail(d, "", 0, AGORA_ESCHEMA,
                    "rules: required key is missing (the step: one expression per variable, its value at t+1)");
    int rc = 0;
    for (int i = 0; i < m->nvars; i++)
        if (!json_object_get(rules, m->vars[i].name) && !json_object_get(pairs, m->vars[i].name)) {
            char path[256];
            snprintf(path, sizeof path, "vars.%s", m->vars[i].name);
            const char *v = m->vars[i].name;
            if (pairs)
                rc = fail(d, path, 1, AGORA_ESCHEMA,
                          "%s has no rule: add rules.%s or pairs.%s (write `%s: %s` in rules to keep it as it is)", v,
                          v, v, v, v);
            else
                rc = fail(d, path, 1, AGORA_ESCHEMA, "%s has no rule: add rules.%s (write `%s: %s` to keep it as it is)",
                          v, v, v, v);
        }
    return rc;
}

static int define_pairs(dctx *d, agora__rules_model *m, const json_t *pairs)
{
    int rc = 0;
    if (!pairs)
        return 0;
    if (!json_is_object(pairs))
        return fail(d, "pairs", 0, AGORA_ESCHEMA, "expected a mapping from variables to pair rules, got %s",
                    kind_of(pairs));
    /* the pair environment: own variables, then partner.x for each, then first */
    for (int i = 0; i < m->nvars; i++) {
        char buf[80];
        snprintf(buf, sizeof buf, "partner.%s", m->vars[i].name);
        m->rxvars[m->nvars + i] = m->rxvars[i];
        m->rxvars[m->nvars + i].name = strdup(buf);
    }
    m->rxvars[2 * m->nvars].name = strdup("first");
    m->rxvars[2 * m->nvars].type = AGORA_RX_BOOL;
    const char *name;
    const json_t *v;
    json_object_foreach((json_t *)pairs, name, v) {
        char path[256];
        snprintf(path, sizeof path, "pairs.%s", name);
        const int i = var_index(m, name);
        if (i < 0) {
            rc = unknown_var(d, m, path, name);
            continue;
        }
        if (is_identity(v, name))
            continue;
        agora_rx_env env = base_env(m);
        env.nvars = 2 * m->nvars + 1;
        env.pair = 1;
        env.stream_base = RX_STREAM_PAIR(i);
        env.has_neighbours = 0; /* pair rules run on the matched agents' gathered values */
        env.rule = m->nvars + i;
        env.rule_name = m->vars[i].name;
        if (expr(d, v, path, &env, m->vars[i].type, i, &m->vars[i].pair)) {
            rc = AGORA_ESCHEMA;
        } else {
            note_nb(m, d, path, m->vars[i].pair);
            m->npairs++;
        }
    }
    return rc;
}

static int define_moves(dctx *d, agora__rules_model *m, const json_t *moves)
{
    static const char *const keys[] = {"empty", "want", NULL};
    if (!moves)
        return 0;
    if (!json_is_object(moves))
        return fail(d, "moves", 0, AGORA_ESCHEMA, "expected {empty: <which sites are empty>, want: <who moves>}");
    int rc = check_keys(d, moves, "moves", keys);
    for (int k = 0; k < 2; k++) {
        const char *key = keys[k];
        char path[64];
        snprintf(path, sizeof path, "moves.%s", key);
        const json_t *v = json_object_get(moves, key);
        if (!v) {
            rc = fail(d, "moves", 1, AGORA_ESCHEMA, "%s: required key is missing", key);
            continue;
        }
        agora_rx_env env = base_env(m);
        env.stream_base = RX_STREAM_MOVE(k);
        env.rule = 2 * m->nvars + k;
        env.rule_name = key;
        agora__rx_prog **p = k == 0 ? &m->move_empty : &m->move_want;
        if (expr(d, v, path, &env, AGORA_RX_BOOL, -1, p))
            rc = AGORA_ESCHEMA;
        else
            note_nb(m, d, path, *p);
    }
    return rc;
}

/* ---- metrics ----------------------------------------------------------------------------------------------------- */

static int define_metrics(dctx *d, agora__rules_model *m, const json_t *metrics)
{
    static const char *const keys[] = {"expr", "summary", "doc", NULL};
    int rc = 0;
    if (!metrics)
        return fail(d, "", 0, AGORA_ESCHEMA,
                    "metrics: required key is missing (numbers about the population, such as "
                    "infected: pop_mean(state == I))");
    if (!json_is_object(metrics) || json_object_size(metrics) == 0)
        return fail(d, "metrics", 0, AGORA_ESCHEMA, "expected a mapping of metric names to expressions, got %s",
                    kind_of(metrics));
    const int n = (int)json_object_size(metrics);
    if (n > AGORA_RULES_MAX_METRICS)
        return fail(d, "metrics", 0, AGORA_ESCHEMA, "%d metrics, at most %d", n, AGORA_RULES_MAX_METRICS);
    m->metrics = calloc((size_t)n + 1, sizeof *m->metrics);
    m->metric_progs = calloc((size_t)n, sizeof *m->metric_progs);
    m->observed = calloc((size_t)n, sizeof *m->observed);
    if (!m->metrics || !m->metric_progs || !m->observed)
        return fail(d, "metrics", 0, AGORA_ENOMEM, "out of memory");
    const char *name;
    const json_t *v;
    json_object_foreach((json_t *)metrics, name, v) {
        char path[256];
        snprintf(path, sizeof path, "metrics.%s", name);
        if (check_name(d, path, "metric", name)) {
            rc = AGORA_ESCHEMA;
            continue;
        }
        const json_t *e = v;
        const char *summary = NULL, *doc = NULL;
        char epath[300];
        snprintf(epath, sizeof epath, "%s", path);
        if (json_is_object(v)) {
            if (check_keys(d, v, path, keys)) {
                rc = AGORA_ESCHEMA;
                continue;
            }
            e = json_object_get(v, "expr");
            summary = str_of(v, "summary");
            doc = str_of(v, "doc");
            snprintf(epath, sizeof epath, "%s.expr", path);
            if (!e) {
                rc = fail(d, path, 1, AGORA_ESCHEMA, "expr: required key is missing");
                continue;
            }
            if (json_object_get(v, "summary") &&
                (!summary || (strcmp(summary, "peak") != 0 && strcmp(summary, "final") != 0))) {
                rc = fail(d, path, 0, AGORA_ESCHEMA, "summary: expected peak or final");
                continue;
            }
        }
        agora_rx_env env = base_env(m);
        env.vars_in_pop_only = 1; /* pop_mean(nb_count(nb.group == group)): neighbours inside the aggregate */
        env.stream_base = RX_STREAM_INIT; /* metrics draw nothing (checked below) */
        env.rule = -1 - m->nmetrics;
        env.rule_name = name;
        agora__rx_prog *p = NULL;
        if (expr(d, e, epath, &env, AGORA_RX_REAL, -1, &p)) {
            rc = AGORA_ESCHEMA;
            continue;
        }
        if (agora__rx_prog_streams(p) > 0) {
            agora__rx_free(p);
            rc = fail(d, epath, 0, AGORA_ESCHEMA, "a metric cannot draw random numbers");
            continue;
        }
        note_nb(m, d, epath, p);
        agora_metric_spec *ms = &m->metrics[m->nmetrics];
        ms->name = strdup(name);
        ms->doc = strdup(doc ? doc : json_is_string(e) ? json_string_value(e) : "");
        ms->summary = dup_or_null(summary);
        m->metric_progs[m->nmetrics] = p;
        m->observed[m->nmetrics] = 1;
        m->nmetrics++;
    }
    return rc;
}

/* The metrics' population aggregates as programs of their own, for the fused measuring pass. */
static int define_aggregates(dctx *d, agora__rules_model *m)
{
    int n = 0;
    for (int k = 0; k < m->nmetrics; k++)
        n += agora__rx_prog_npop(m->metric_progs[k]);
    if (n == 0)
        return 0;
    m->agg_prog = calloc((size_t)n, sizeof *m->agg_prog);
    m->agg_fn = calloc((size_t)n, sizeof *m->agg_fn);
    if (!m->agg_prog || !m->agg_fn)
        return fail(d, "metrics", 0, AGORA_ENOMEM, "out of memory");
    for (int k = 0; k < m->nmetrics; k++)
        for (int j = 0; j < agora__rx_prog_npop(m->metric_progs[k]); j++) {
            const int rc = agora__rx_pop_program(m->metric_progs[k], j, &m->agg_prog[m->nagg]);
            if (rc)
                return fail(d, "metrics", 0, rc, rc == AGORA_ENOMEM ? "out of memory"
                                                                    : "internal error: an aggregate is not a program");
            m->agg_fn[m->nagg++] = agora__rx_eval_range;
        }
    return 0;
}

static int define_observe(dctx *d, agora__rules_model *m, const json_t *obs)
{
    if (!obs)
        return 0;
    const json_t *list = json_is_object(obs) ? json_object_get(obs, "metrics") : obs;
    if (!json_is_array(list))
        return fail(d, "observe", 0, AGORA_ESCHEMA, "expected a list of metric names personas see");
    for (int i = 0; i < m->nmetrics; i++)
        m->observed[i] = 0;
    int rc = 0;
    for (size_t j = 0; j < json_array_size(list); j++) {
        const char *s = json_string_value(json_array_get(list, j));
        int found = 0;
        for (int i = 0; s && i < m->nmetrics; i++)
            if (strcmp(m->metrics[i].name, s) == 0)
                found = m->observed[i] = 1;
        if (!found) {
            char path[64];
            snprintf(path, sizeof path, json_is_object(obs) ? "observe.metrics[%zu]" : "observe[%zu]", j);
            rc = fail(d, path, 0, AGORA_ESCHEMA, "%s: not a metric of this model", s ? s : "(not text)");
        }
    }
    return rc;
}

/* ---- actions ----------------------------------------------------------------------------------------------------- */

static int define_args(dctx *d, rx_action *a, const json_t *args, const char *apath)
{
    static const char *const keys[] = {"type", "min", "max", "doc", NULL};
    char path[256];
    snprintf(path, sizeof path, "%s.args", apath);
    if (!args)
        return 0;
    if (!json_is_object(args) || json_object_size(args) > AGORA_RULES_MAX_ARGS)
        return fail(d, path, 0, AGORA_ESCHEMA, "expected a mapping of at most %d argument names to types",
                    AGORA_RULES_MAX_ARGS);
    a->args = calloc(json_object_size(args) + 1, sizeof *a->args);
    if (!a->args)
        return fail(d, path, 0, AGORA_ENOMEM, "out of memory");
    int rc = 0;
    const char *name;
    const json_t *v;
    json_object_foreach((json_t *)args, name, v) {
        char p[320];
        snprintf(p, sizeof p, "%s.%s", path, name);
        if (check_name(d, p, "argument", name) || strcmp(name, "action") == 0) {
            rc = strcmp(name, "action") == 0 ? fail(d, p, 1, AGORA_ESCHEMA, "\"action\" names the action itself")
                                             : AGORA_ESCHEMA;
            continue;
        }
        if (json_is_object(v) && check_keys(d, v, p, keys)) {
            rc = AGORA_ESCHEMA;
            continue;
        }
        const char *ts = json_is_object(v) ? str_of(v, "type") : json_string_value(v);
        rx_arg *g = &a->args[a->nargs];
        if (!ts) {
            rc = fail(d, p, 0, AGORA_ESCHEMA, "expected a type: real, int, bool or ids");
            continue;
        }
        g->type = strcmp(ts, "real") == 0   ? AGORA_RX_REAL
                  : strcmp(ts, "int") == 0  ? AGORA_RX_INT
                  : strcmp(ts, "bool") == 0 ? AGORA_RX_BOOL
                  : strcmp(ts, "ids") == 0  ? RX_ARG_IDS
                                            : -1;
        if (g->type < 0) {
            rc = fail(d, p, 0, AGORA_ESCHEMA, "type \"%s\": expected real, int, bool or ids", ts);
            continue;
        }
        if (json_is_object(v)) {
            const json_t *mn = json_object_get(v, "min"), *mx = json_object_get(v, "max");
            if ((mn && number_of(mn, &g->min)) || (mx && number_of(mx, &g->max))) {
                rc = fail(d, p, 0, AGORA_ESCHEMA, "min and max are numbers");
                continue;
            }
            g->has_min = mn != NULL;
            g->has_max = mx != NULL;
            g->doc = dup_or_null(str_of(v, "doc"));
        }
        g->name = strdup(name);
        a->nargs++;
    }
    return rc;
}

static int define_action(dctx *d, agora__rules_model *m, rx_action *a, int k, const char *name, const json_t *v)
{
    static const char *const keys[] = {"doc", "args", "params", "steps", "where", "share", "count", "ids", "set", NULL};
    char path[256];
    snprintf(path, sizeof path, "actions.%s", name);
    if (check_name(d, path, "action", name))
        return AGORA_ESCHEMA;
    if (!json_is_object(v))
        return fail(d, path, 0, AGORA_ESCHEMA,
                    "expected a mapping (doc, args, params, steps, where, share, count, "
                    "ids, set)");
    if (check_keys(d, v, path, keys))
        return AGORA_ESCHEMA;
    a->name = strdup(name);
    a->doc = dup_or_null(str_of(v, "doc"));
    a->ids_arg = -1;
    int rc = define_args(d, a, json_object_get(v, "args"), path);
    if (rc)
        return rc;
    /* the action's expressions read the parameters and the arguments (as parameters) */
    agora_rx_param aparams[AGORA_RULES_MAX_PARAMS + AGORA_RULES_MAX_ARGS];
    int na = 0;
    for (int i = 0; i < m->nrx; i++)
        aparams[na++] = m->rxparams[i];
    for (int j = 0; j < a->nargs; j++)
        if (a->args[j].type != RX_ARG_IDS)
            aparams[na++] = (agora_rx_param){a->args[j].name, (agora_rx_type)a->args[j].type};
    agora_rx_env env = base_env(m);
    env.params = aparams;
    env.nparams = na;
    env.rule = -100 - k;
    env.rule_name = a->name;
    agora_error e;
    if ((rc = agora__rx_env_check(&env, &e)) != 0)
        return fail(d, path, 0, rc, "%s", e.msg);
    uint32_t stream = RX_STREAM_ACTIONS + 64u * RX_ACTION_EXPRS * (uint32_t)k;
    const uint32_t stream_end = stream + 64u * RX_ACTION_EXPRS;
    char p[320];
    const json_t *fx = json_object_get(v, "params");
    if (fx) {
        snprintf(p, sizeof p, "%s.params", path);
        if (!json_is_object(fx))
            return fail(d, p, 0, AGORA_ESCHEMA, "expected a mapping from parameters to new values");
        a->fx_param = calloc(json_object_size(fx) + 1, sizeof *a->fx_param);
        a->fx = calloc(json_object_size(fx) + 1, sizeof *a->fx);
        if (!a->fx_param || !a->fx)
            return fail(d, p, 0, AGORA_ENOMEM, "out of memory");
        const char *pn;
        const json_t *pv;
        json_object_foreach((json_t *)fx, pn, pv) {
            char pp[400];
            snprintf(pp, sizeof pp, "%s.%s", p, pn);
            const int pi = param_index(m, pn);
            if (pi < 0 || m->rx_of_param[pi] < 0) {
                rc = fail(d, pp, 1, AGORA_ESCHEMA, "%s: not a real, int or bool parameter of this model", pn);
                continue;
            }
            agora_rx_env pe = env;
            pe.has_neighbours = 0;
            pe.vars_in_pop_only = 1;
            pe.stream_base = stream;
            stream += 64;
            if (expr(d, pv, pp, &pe, m->rxparams[m->rx_of_param[pi]].type, -1, &a->fx[a->nfx])) {
                rc = AGORA_ESCHEMA;
                continue;
            }
            a->fx_param[a->nfx++] = pi;
        }
    }
    const json_t *steps = json_object_get(v, "steps");
    if (steps) {
        snprintf(p, sizeof p, "%s.steps", path);
        agora_rx_env pe = env;
        pe.has_neighbours = 0;
        pe.vars_in_pop_only = 1;
        pe.stream_base = stream;
        stream += 64;
        if (!fx)
            rc = fail(d, p, 1, AGORA_ESCHEMA, "steps says how long the parameter changes last; this action has none");
        else if (expr(d, steps, p, &pe, AGORA_RX_INT, -1, &a->duration))
            rc = AGORA_ESCHEMA;
    }
    const json_t *where = json_object_get(v, "where"), *share = json_object_get(v, "share"),
                 *count = json_object_get(v, "count"), *ids = json_object_get(v, "ids"),
                 *set = json_object_get(v, "set");
    if ((share != NULL) + (count != NULL) + (ids != NULL) > 1)
        rc = fail(d, path, 0, AGORA_ESCHEMA, "give one of share, count and ids");
    if ((where || share || count || ids) && !set)
        rc = fail(d, path, 0, AGORA_ESCHEMA, "where, share, count and ids choose agents for set: add set: {...}");
    if (!fx && !set)
        rc = fail(d, path, 0, AGORA_ESCHEMA, "an action changes parameters (params:) or agents (set:), or both");
    if (where) {
        snprintf(p, sizeof p, "%s.where", path);
        agora_rx_env pe = env;
        pe.stream_base = stream;
        stream += 64;
        if (expr(d, where, p, &pe, AGORA_RX_BOOL, -1, &a->where))
            rc = AGORA_ESCHEMA;
    }
    if (share || count) {
        snprintf(p, sizeof p, "%s.%s", path, share ? "share" : "count");
        agora_rx_env pe = env;
        pe.has_neighbours = 0;
        pe.vars_in_pop_only = 1;
        pe.stream_base = stream;
        stream += 64;
        if (expr(d, share ? share : count, p, &pe, share ? AGORA_RX_REAL : AGORA_RX_INT, -1,
                 share ? &a->share : &a->count))
            rc = AGORA_ESCHEMA;
    }
    if (ids) {
        snprintf(p, sizeof p, "%s.ids", path);
        const char *s = json_string_value(ids);
        for (int j = 0; s && j < a->nargs; j++)
            if (a->args[j].type == RX_ARG_IDS && strcmp(a->args[j].name, s) == 0)
                a->ids_arg = j;
        if (a->ids_arg < 0)
            rc = fail(d, p, 0, AGORA_ESCHEMA, "expected the name of an argument of type ids");
    }
    if (set) {
        snprintf(p, sizeof p, "%s.set", path);
        if (!json_is_object(set) || json_object_size(set) == 0)
            return fail(d, p, 0, AGORA_ESCHEMA, "expected a mapping from variables to their new values");
        a->set_var = calloc(json_object_size(set), sizeof *a->set_var);
        a->set = calloc(json_object_size(set), sizeof *a->set);
        if (!a->set_var || !a->set)
            return fail(d, p, 0, AGORA_ENOMEM, "out of memory");
        const char *vn;
        const json_t *vv;
        json_object_foreach((json_t *)set, vn, vv) {
            char pp[400];
            snprintf(pp, sizeof pp, "%s.%s", p, vn);
            const int vi = var_index(m, vn);
            if (vi < 0) {
                rc = unknown_var(d, m, pp, vn);
                continue;
            }
            agora_rx_env pe = env;
            pe.stream_base = stream;
            stream += 64;
            if (expr(d, vv, pp, &pe, m->vars[vi].type, vi, &a->set[a->nset])) {
                rc = AGORA_ESCHEMA;
                continue;
            }
            a->set_var[a->nset++] = vi;
        }
    }
    if (stream > stream_end)
        rc = fail(d, path, 0, AGORA_ESCHEMA, "an action has at most %d expressions", RX_ACTION_EXPRS);
    return rc;
}

static int define_actions(dctx *d, agora__rules_model *m, const json_t *actions)
{
    if (!actions)
        return 0;
    if (!json_is_object(actions) || json_object_size(actions) > AGORA_RULES_MAX_ACTIONS)
        return fail(d, "actions", 0, AGORA_ESCHEMA, "expected a mapping of at most %d action names",
                    AGORA_RULES_MAX_ACTIONS);
    m->actions = calloc(json_object_size(actions) + 1, sizeof *m->actions);
    if (!m->actions)
        return fail(d, "actions", 0, AGORA_ENOMEM, "out of memory");
    int rc = 0;
    const char *name;
    const json_t *v;
    json_object_foreach((json_t *)actions, name, v) {
        if (define_action(d, m, &m->actions[m->nactions], m->nactions, name, v))
            rc = AGORA_ESCHEMA;
        m->nactions++;
    }
    return rc;
}

/* The actions' JSON Schema: anyOf one object per action, {action: const name, arguments...}, all required. */
static char *action_schema(const agora__rules_model *m)
{
    if (m->nactions == 0)
        return NULL;
    json_t *any = json_array();
    for (int k = 0; k < m->nactions; k++) {
        const rx_action *a = &m->actions[k];
        json_t *props = json_object(), *req = json_array();
        json_object_set_new(props, "action", json_pack("{s:s}", "const", a->name));
        json_array_append_new(req, json_string("action"));
        for (int j = 0; j < a->nargs; j++) {
            const rx_arg *g = &a->args[j];
            json_t *s;
            if (g->type == RX_ARG_IDS) {
                s = json_pack("{s:s, s:{s:s, s:i}, s:i}", "type", "array", "items", "type", "integer", "minimum", 0,
                              "maxItems", 100000);
            } else {
                s = json_pack("{s:s}", "type",
                              g->type == AGORA_RX_REAL  ? "number"
                              : g->type == AGORA_RX_INT ? "integer"
                                                        : "boolean");
                if (g->has_min)
                    json_object_set_new(s, "minimum", json_real(g->min));
                if (g->has_max)
                    json_object_set_new(s, "maximum", json_real(g->max));
            }
            if (g->doc)
                json_object_set_new(s, "description", json_string(g->doc));
            json_object_set_new(props, g->name, s);
            json_array_append_new(req, json_string(g->name));
        }
        json_t *o = json_pack("{s:s, s:s, s:o, s:o, s:b}", "type", "object", "title", a->name, "properties", props,
                              "required", req, "additionalProperties", 0);
        if (a->doc)
            json_object_set_new(o, "description", json_string(a->doc));
        json_array_append_new(any, o);
    }
    json_t *root = json_pack("{s:o}", "anyOf", any);
    char *text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);
    return text;
}

/* ---- spaces ------------------------------------------------------------------------------------------------------ */

static int define_spaces(dctx *d, agora__rules_model *m, const json_t *spaces)
{
    if (!spaces) {
        m->m.spaces = AGORA_SPACES_GRID | AGORA_SPACES_GRAPH | (m->uses_nb ? 0 : AGORA_SPACES_MIXED);
        return 0;
    }
    if (!json_is_array(spaces) || json_array_size(spaces) == 0)
        return fail(d, "spaces", 0, AGORA_ESCHEMA, "expected a list of grid, graph and mixed");
    unsigned s = 0;
    int rc = 0;
    for (size_t i = 0; i < json_array_size(spaces); i++) {
        const char *k = json_string_value(json_array_get(spaces, i));
        char path[64];
        snprintf(path, sizeof path, "spaces[%zu]", i);
        if (k && strcmp(k, "grid") == 0)
            s |= AGORA_SPACES_GRID;
        else if (k && strcmp(k, "graph") == 0)
            s |= AGORA_SPACES_GRAPH;
        else if (k && strcmp(k, "mixed") == 0) {
            s |= AGORA_SPACES_MIXED;
            if (m->uses_nb)
                rc = fail(d, path, 0, AGORA_ESCHEMA,
                          "a mixed population has no neighbours, but %s reads them (nb_..., random_nb or degree)",
                          m->nb_where);
        } else
            rc = fail(d, path, 0, AGORA_ESCHEMA, "expected grid, graph or mixed");
    }
    m->m.spaces = s;
    return rc;
}

/* ---- the registry of defined models ------------------------------------------------------------------------------ */

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static agora__rules_model *registry[AGORA_RULES_MAX_MODELS];
static int n_registry;

const char *agora__rules_native(const agora__rules_model *cm)
{
    agora__rules_model *m = (agora__rules_model *)cm; /* the build is the model's one piece of mutable state */
    pthread_mutex_lock(&reg_lock);
    if (!m->native_state) {
        /* the rules, the pair rules, the moves' conditions, then the metrics' aggregates: one compiler run */
        const agora__rx_prog **progs = malloc(sizeof *progs * (2 * (size_t)m->nvars + (size_t)m->nagg + 3));
        int idx[2 * AGORA_RULES_MAX_VARS + 2], nr = 0;
        for (int i = 0; progs && i < m->nvars; i++)
            if (m->vars[i].rule) {
                idx[nr] = i;
                progs[nr++] = m->vars[i].rule;
            }
        for (int i = 0; progs && i < m->nvars; i++)
            if (m->vars[i].pair) {
                idx[nr] = m->nvars + i;
                progs[nr++] = m->vars[i].pair;
            }
        const agora__rx_prog *mv[2] = {m->move_empty, m->move_want};
        for (int k = 0; progs && k < 2; k++)
            if (mv[k]) {
                idx[nr] = 2 * m->nvars + k;
                progs[nr++] = mv[k];
            }
        for (int j = 0; progs && j < m->nagg; j++)
            progs[nr + j] = m->agg_prog[j];
        agora_error e;
        if (!progs || (nr + m->nagg && agora__rx_native_build(progs, nr + m->nagg, &m->native, &e) != 0))
            m->native = NULL;
        free(progs);
        for (int i = 0; i < m->nvars; i++)
            m->rule_fn[i] = m->pair_fn[i] = agora__rx_eval_range;
        m->move_fn[0] = m->move_fn[1] = agora__rx_eval_range;
        for (int k = 0; m->native && k < nr; k++) {
            if (idx[k] < m->nvars)
                m->rule_fn[idx[k]] = agora__rx_native_fn(m->native, k);
            else if (idx[k] < 2 * m->nvars)
                m->pair_fn[idx[k] - m->nvars] = agora__rx_native_fn(m->native, k);
            else
                m->move_fn[idx[k] - 2 * m->nvars] = agora__rx_native_fn(m->native, k);
        }
        for (int j = 0; m->native && j < m->nagg; j++)
            m->agg_fn[j] = agora__rx_native_fn(m->native, nr + j);
        m->native_state = 1;
    }
    pthread_mutex_unlock(&reg_lock);
    return m->native ? agora__rx_native_status(m->native) : "interpreter (no rules to compile, or out of memory)";
}

const agora__rules_model *agora__rules_of(const agora_model *m)
{
    const agora__rules_model *r = NULL;
    if (!m || m->init != agora__rules_init)
        return NULL;
    pthread_mutex_lock(&reg_lock);
    for (int i = 0; i < n_registry && !r; i++)
        if (&registry[i]->m == m)
            r = registry[i];
    pthread_mutex_unlock(&reg_lock);
    return r;
}

const agora_model *agora__rules_find(const char *name)
{
    const agora_model *r = NULL;
    pthread_mutex_lock(&reg_lock);
    for (int i = n_registry; i-- > 0 && !r && name;)
        if (registry[i]->listed && strcmp(registry[i]->name, name) == 0)
            r = &registry[i]->m;
    pthread_mutex_unlock(&reg_lock);
    return r;
}

const agora_model **agora__rules_list(int *count)
{
    pthread_mutex_lock(&reg_lock);
    const agora_model **list = malloc(((size_t)n_registry + 1) * sizeof *list);
    int n = 0;
    for (int i = 0; list && i < n_registry; i++)
        list[n++] = &registry[i]->m;
    pthread_mutex_unlock(&reg_lock);
    *count = n;
    return list;
}

void agora__rules_free(agora__rules_model *m)
{
    model_free(m);
}

int agora__rules_intern(agora__rules_model *m, int listed, const agora_model **out, agora_error *err)
{
    pthread_mutex_lock(&reg_lock);
    for (int i = 0; i < n_registry; i++)
        if (strcmp(registry[i]->hash, m->hash) == 0) {
            registry[i]->listed |= listed;
            *out = &registry[i]->m;
            pthread_mutex_unlock(&reg_lock);
            model_free(m);
            return 0;
        }
    if (n_registry == AGORA_RULES_MAX_MODELS) {
        pthread_mutex_unlock(&reg_lock);
        model_free(m);
        *out = NULL;
        return agora_error_set(err, AGORA_ERANGE, "model", "this process has defined %d models, the most it keeps",
                               AGORA_RULES_MAX_MODELS);
    }
    m->listed = listed;
    registry[n_registry++] = m;
    *out = &m->m;
    pthread_mutex_unlock(&reg_lock);
    agora__models_set_finder(agora__rules_find); /* from now on agora_model_find also finds these */
    return 0;
}

/* ---- the whole definition -------------------------------------------------------------------------------------- */

int agora__rules_build(const json_t *def, const void *locs, const char *prefix, const char *file, const char *text,
                       const char *stem, agora__rules_model **out, agora_error *err, agora_scenario_errors *errs)
{
    static const char *const keys[] = {"name",  "summary", "doc",     "spaces",  "params",  "vars", "rules",
                                       "pairs", "moves",   "metrics", "actions", "observe", NULL};
    dctx d = {
        .locs = locs, .prefix = prefix ? prefix : "", .file = file ? file : "<model>", .text = text, .errs = errs};
    *out = NULL;
    agora__rules_model *m = NULL;
    if (!json_is_object(def)) {
        fail(&d, "", 0, AGORA_ESCHEMA,
             "expected a model definition: a mapping with name, params, vars, rules, metrics (and pairs, moves, "
             "actions, observe), got %s",
             kind_of(def));
        goto done;
    }
    if (!(m = calloc(1, sizeof *m))) {
        fail(&d, "", 0, AGORA_ENOMEM, "out of memory");
        goto done;
    }
    check_keys(&d, def, "", keys);
    const char *name = str_of(def, "name");
    if (json_object_get(def, "name") && !name)
        fail(&d, "name", 0, AGORA_ESCHEMA, "expected a name, got %s", kind_of(json_object_get(def, "name")));
    else if (!name && !stem)
        fail(&d, "", 0, AGORA_ESCHEMA, "name: required key is missing (the model's name, an identifier)");
    else if (!name && !agora__ident_ok(stem))
        fail(&d, "", 0, AGORA_ESCHEMA, "name: required key is missing (the file name %s is not an identifier)", stem);
    else if (!name || check_name(&d, "name", "model name", name) == 0) {
        name = name ? name : stem;
        if (agora_model_find(name) && !agora__rules_find(name))
            fail(&d, "name", 0, AGORA_ESCHEMA, "%s is a built-in or plug-in model: give yours another name", name);
    }
    const char *summary = str_of(def, "summary");
    if (json_object_get(def, "summary") && !summary)
        fail(&d, "summary", 0, AGORA_ESCHEMA, "expected text");
    /* declarations first: the expressions are checked against them */
    const int decl =
        define_params(&d, m, json_object_get(def, "params")) || define_vars(&d, m, json_object_get(def, "vars"));
    if (!decl) {
        define_inits(&d, m, json_object_get(def, "vars"));
        define_rules(&d, m, json_object_get(def, "rules"));
        define_pairs(&d, m, json_object_get(def, "pairs"));
        define_every_rule(&d, m, json_object_get(def, "rules"), json_object_get(def, "pairs"),
                          json_object_get(def, "moves"));
        define_moves(&d, m, json_object_get(def, "moves"));
        define_metrics(&d, m, json_object_get(def, "metrics"));
        define_observe(&d, m, json_object_get(def, "observe"));
        define_actions(&d, m, json_object_get(def, "actions"));
        define_spaces(&d, m, json_object_get(def, "spaces"));
    }
    if (d.nerr || define_aggregates(&d, m))
        goto done;

    /* the canonical definition (with its name), its hash, and the agora_model */
    m->def = json_deep_copy(def);
    if (!m->def || json_object_set_new(m->def, "name", json_string(name)) != 0) {
        fail(&d, "", 0, AGORA_ENOMEM, "out of memory");
        goto done;
    }
    char *canon = json_dumps(m->def, JSON_COMPACT | JSON_SORT_KEYS);
    if (!canon || strlen(canon) > AGORA_RULES_MAX_DEF_BYTES) {
        fail(&d, "", 0, canon ? AGORA_ESCHEMA : AGORA_ENOMEM, "the definition is larger than %d bytes",
             AGORA_RULES_MAX_DEF_BYTES);
        free(canon);
        goto done;
    }
    agora__sha256 h;
    agora__sha256_init(&h);
    agora__sha256_add(&h, canon, strlen(canon));
    free(canon);
    agora__sha256_hex(&h, m->hash);
    m->name = strdup(name);
    m->summary = strdup(summary ? summary : "a model written in the rule language");
    m->origin = strdup(file ? file : "inline");
    m->fields = calloc((size_t)m->nvars + 1, sizeof *m->fields);
    if (!m->name || !m->summary || !m->origin || !m->fields) {
        fail(&d, "", 0, AGORA_ENOMEM, "out of memory");
        goto done;
    }
    for (int i = 0; i < m->nvars; i++) {
        m->fields[i].name = m->vars[i].name;
        m->fields[i].type = m->vars[i].dtype;
        m->fields[i].doc = m->vars[i].doc ? m->vars[i].doc : "";
    }
    m->action_schema = action_schema(m);
    agora_model *am = &m->m;
    am->name = m->name;
    am->summary = m->summary;
    am->params = m->params;
    am->metrics = m->metrics;
    am->fields = m->fields;
    am->action_schema = m->action_schema;
    am->init = agora__rules_init;
    am->step = agora__rules_step;
    am->measure = agora__rules_measure;
    am->observe = agora__rules_observe;
    am->apply = agora__rules_apply;
    am->field = agora__rules_field;
    am->destroy = agora__rules_destroy;
    am->copy = agora__rules_copy;
    am->set_field = agora__rules_set_field;
    am->save = agora__rules_save;
    am->load = agora__rules_load_state;
    if (m->action_schema) {
        agora_error e;
        json_t *s = agora_model_action_schema(am, &e);
        if (!s) {
            fail(&d, "actions", 0, AGORA_ESCHEMA, "the generated action schema is invalid: %s", e.msg);
            goto done;
        }
        json_decref(s);
    }
    *out = m;
    m = NULL;
done:
    model_free(m);
    if (d.nerr) {
        *out = NULL;
        if (err)
            *err = d.first;
        return d.first.code;
    }
    return 0;
}

int agora__rules_define(const json_t *def, const void *locs, const char *prefix, const char *file, const char *text,
                        const char *stem, const agora__rules_hooks *hooks, const agora_model **out, agora_error *err,
                        agora_scenario_errors *errs)
{
    agora__rules_model *m = NULL;
    *out = NULL;
    int rc = agora__rules_build(def, locs, prefix, file, text, stem, &m, err, errs);
    if (rc != 0)
        return rc;
    agora_error e;
    if (hooks && hooks->defined) {
        if ((rc = hooks->defined(hooks->ud, m, out, &e)) == 0)
            return 0;
        /* about the definition's name: located there */
        dctx d = {
            .locs = locs, .prefix = prefix ? prefix : "", .file = file ? file : "<model>", .text = text, .errs = errs};
        fail(&d, "name", 0, rc, "%s", e.msg);
        if (err)
            *err = d.first;
        *out = NULL;
        return rc;
    }
    if ((rc = agora__rules_intern(m, 1, out, &e)) != 0) {
        dctx d = {.errs = errs};
        add(&d, &e);
        if (err)
            *err = e;
    }
    return rc;
}

/* ---- files and names ------------------------------------------------------------------------------------------- */

static char *read_all(const char *path, size_t *len, agora_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        agora_error_set(err, AGORA_EIO, path, "cannot open the model file: %s", strerror(errno));
        return NULL;
    }
    size_t cap = 8192, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf)
            break;
        if (n + 1 >= cap) {
            char *b = cap > 4 * AGORA_RULES_MAX_DEF_BYTES ? NULL : realloc(buf, cap * 2);
            if (!b) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = b;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (!got)
            break;
    }
    fclose(f);
    if (!buf) {
        agora_error_set(err, AGORA_ERANGE, path, "the model file is too large (or out of memory)");
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* agora__rules_load, the definition given to hooks (may be NULL) rather than the registry. */
static int load_with(const char *path, const agora__rules_hooks *hooks, const agora_model **out, agora_error *err,
                     agora_scenario_errors *errs)
{
    size_t len = 0;
    agora_error e;
    *out = NULL;
    char *text = read_all(path, &len, &e);
    if (!text) {
        if (err)
            *err = e;
        if (errs && errs->n < AGORA_SCENARIO_MAX_ERRORS)
            errs->e[errs->n++] = e;
        return e.code;
    }
    json_t *root = NULL;
    agora__locmap *locs = NULL;
    int rc = agora__yaml_parse(text, len, path, &root, &locs, &e);
    if (rc) {
        if (err)
            *err = e;
        if (errs && errs->n < AGORA_SCENARIO_MAX_ERRORS)
            errs->e[errs->n++] = e;
    } else {
        const char *base = strrchr(path, '/');
        base = base ? base + 1 : path;
        char stem[128];
        snprintf(stem, sizeof stem, "%s", base);
        char *dot = strrchr(stem, '.');
        if (dot && dot != stem)
            *dot = '\0';
        rc = agora__rules_define(root, locs, "", path, text, stem, hooks, out, err, errs);
    }
    json_decref(root);
    agora__locmap_free(locs);
    free(text);
    return rc;
}

int agora__rules_load(const char *path, const agora_model **out, agora_error *err, agora_scenario_errors *errs)
{
    return load_with(path, NULL, out, err, errs);
}

static int file_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static int model_dirs(const char *base_dir, const char **dirs, char buf[][4096]);

/* The model directories, in search order, for a name: writes the first NAME.yaml (or .yml, .json) found. */
static int find_model_file(const char *name, const char *base_dir, char *found, size_t size, char *tried,
                           size_t tried_size)
{
    const char *dirs[8];
    char buf[3][4096];
    const int nd = model_dirs(base_dir, dirs, buf);
    size_t o = 0;
    tried[0] = '\0';
    static const char *const ext[] = {".yaml", ".yml", ".json"};
    for (int i = 0; i < nd; i++) {
        /* AGORA_MODEL_PATH may hold several directories separated by ':' */
        const char *p = dirs[i];
        while (p && *p) {
            const char *colon = strchr(p, ':');
            size_t n = colon ? (size_t)(colon - p) : strlen(p);
            for (int e = 0; e < 3; e++) {
                snprintf(found, size, "%.*s/%s%s", (int)n, p, name, ext[e]);
                if (file_exists(found))
                    return 0;
            }
            if (o < tried_size)
                o += (size_t)snprintf(tried + o, tried_size - o, "%s%.*s", o ? ", " : "", (int)n, p);
            p = colon ? colon + 1 : NULL;
        }
    }
    return -1;
}

/* The model directories for base_dir, in search order (a ':'-list may sit in one entry). */
static int model_dirs(const char *base_dir, const char **dirs, char buf[][4096])
{
    int nd = 0;
    if (base_dir) { /* not base_dir itself: that is where scenarios live */
        snprintf(buf[0], 4096, "%s/models", base_dir);
        dirs[nd++] = buf[0];
        snprintf(buf[1], 4096, "%s/../models", base_dir);
        dirs[nd++] = buf[1];
    }
    dirs[nd++] = "models";
    const char *env = getenv("AGORA_MODEL_PATH");
    if (env && *env) {
        snprintf(buf[2], 4096, "%s", env);
        dirs[nd++] = buf[2];
    }
#ifdef AGORA_DATADIR
    dirs[nd++] = AGORA_DATADIR "/agora/models";
#endif
    return nd;
}

void agora__rules_dir_names(const char *base_dir, char *buf, size_t size)
{
    const char *dirs[8];
    char dbuf[3][4096];
    const int nd = model_dirs(base_dir, dirs, dbuf);
    size_t o = strlen(buf);
    for (int i = 0; i < nd; i++) {
        const char *p = dirs[i];
        while (p && *p) {
            const char *colon = strchr(p, ':');
            char dir[4096];
            snprintf(dir, sizeof dir, "%.*s", (int)(colon ? (size_t)(colon - p) : strlen(p)), p);
            p = colon ? colon + 1 : NULL;
            DIR *dh = opendir(dir);
            struct dirent *de;
            while (dh && (de = readdir(dh)) != NULL) {
                const char *dot = strrchr(de->d_name, '.');
                if (!dot || (strcmp(dot, ".yaml") != 0 && strcmp(dot, ".yml") != 0))
                    continue;
                char name[256];
                snprintf(name, sizeof name, "%.*s", (int)(dot - de->d_name), de->d_name);
                /* once each, and not a registered name */
                char pat[260];
                snprintf(pat, sizeof pat, ", %s,", name);
                char hay[4100];
                snprintf(hay, sizeof hay, ", %s,", buf);
                if (!agora__ident_ok(name) || strstr(hay, pat) || o + strlen(name) + 3 >= size)
                    continue;
                o += (size_t)snprintf(buf + o, size - o, "%s%s", o ? ", " : "", name);
            }
            if (dh)
                closedir(dh);
        }
    }
}

int agora__rules_resolve(const json_t *v, const char *base_dir, const void *locs, const char *path, const char *file,
                         const char *text, const agora__rules_hooks *hooks, const agora_model **out, agora_error *err,
                         agora_scenario_errors *errs)
{
    *out = NULL;
    if (json_is_object(v)) {
        const json_t *def = json_object_get(v, "define");
        if (!def || json_object_size(v) != 1) {
            dctx d = {.locs = locs, .prefix = "", .file = file, .text = text, .errs = errs};
            fail(&d, path, 0, AGORA_ESCHEMA,
                 "expected a model's name, a model file's path, or {define: {...}} (a definition inline)");
            if (err)
                *err = d.first;
            return AGORA_ESCHEMA;
        }
        char prefix[256];
        snprintf(prefix, sizeof prefix, "%s.define", path);
        return agora__rules_define(def, locs, prefix, file, text, NULL, hooks, out, err, errs);
    }
    const char *s = json_string_value(v);
    if (!s)
        return AGORA_ENOTFOUND;
    const agora_model *m = hooks && hooks->find ? hooks->find(hooks->ud, s) : NULL;
    if (!m)
        m = agora_model_find(s);
    if (m) {
        *out = m;
        return 0;
    }
    const size_t n = strlen(s);
    const int is_path = strchr(s, '/') || (n > 5 && strcmp(s + n - 5, ".yaml") == 0) ||
                        (n > 4 && (strcmp(s + n - 4, ".yml") == 0 || strcmp(s + n - 4, ".json") == 0));
    char full[4096], tried[2048];
    if (is_path) {
        if (s[0] == '/' || !base_dir)
            snprintf(full, sizeof full, "%s", s);
        else
            snprintf(full, sizeof full, "%s/%s", base_dir, s);
        if (hooks && hooks->may_read) {
            char real[4096];
            agora_error e;
            int rc = hooks->may_read(hooks->ud, full, real, &e);
            if (rc != 0) {
                /* where the scenario names the file */
                dctx d = {.locs = locs, .prefix = "", .file = file, .text = text, .errs = errs};
                fail(&d, path, 0, rc, "%s", e.msg);
                if (err)
                    *err = d.first;
                return rc;
            }
            snprintf(full, sizeof full, "%s", real);
        }
        return load_with(full, hooks, out, err, errs);
    }
    /* with hooks (a server), the model directories are the server's own, not those beside the client's scenario */
    const int hooked = hooks && (hooks->may_read || hooks->find || hooks->defined);
    if (!agora__ident_ok(s) ||
        find_model_file(s, hooked ? NULL : base_dir, full, sizeof full, tried, sizeof tried) != 0)
        return AGORA_ENOTFOUND;
    return agora__rules_load(full, out, err, errs); /* the model directories' files: listed by name */
}
