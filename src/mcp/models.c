/* agora — the MCP server's models: list_models, validate_model, and the models a client defines in its session (a
 * definition given as create_world's or simulate_*'s `model`, a scenario's model: {define: ...}, or a model file
 * the client names by path).
 *
 * Definitions live in the process-wide registry of the rule language (rules/define.c: interned by hash, never
 * freed, at most AGORA_RULES_MAX_MODELS), which a client must neither fill nor use to change what a name means for
 * anyone else. So every model resolution a client causes goes through the hooks below (agora__rules_hooks):
 *
 *  - A definition a client makes is registered unlisted: worlds hold it by pointer, and only this session finds it
 *    by name (its table srv->models). Other sessions of the process, and the library's own lookups by name, never
 *    see it.
 *  - Its name must be free: not a built-in or plug-in model's (define.c refuses those), not a model file's of the
 *    server's model directories (./models, $AGORA_MODEL_PATH, the installed ones) nor a model the process already
 *    knows by name, unless the definition is that very model (the same hash), and not another of this session's
 *    definitions unless it is the same one. A refused name is an error naming who holds it; nothing is shadowed.
 *  - A session defines at most lim.max_models distinct models (--max-models); the same definition again costs
 *    nothing.
 *  - A model file named by path is read only inside the read roots (agora__mcp_read_path), and only if it is a
 *    regular file; errors about one that is not a model definition do not show its text (paths.c).
 *
 * validate_model checks a definition without registering anything (agora__rules_build, then freed) and answers
 * {ok, errors: [{path, line, col, message}]} as a normal result: an invalid definition is the tool's answer, not
 * its failure. */
#define _XOPEN_SOURCE 700 /* PATH_MAX */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/internal.h"
#include "io/yaml.h"
#include "mcp/mcpint.h"
#include "rules/model.h"

/* ---- names ----------------------------------------------------------------------------------------------------- */

static const agora_model *session_find(const agora_mcp *srv, const char *name)
{
    for (int i = 0; name && i < srv->n_models; i++)
        if (strcmp(srv->models[i]->name, name) == 0)
            return srv->models[i];
    return NULL;
}

/* Whether `name` is a model file's in the server's model directories. */
static int in_model_dirs(const char *name)
{
    char names[8192] = "";
    agora__rules_dir_names(NULL, names, sizeof names);
    for (char *save = NULL, *tok = strtok_r(names, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save))
        if (strcmp(tok, name) == 0)
            return 1;
    return 0;
}

/* The model the server knows by `name` other than this session's definitions (a built-in, a plug-in's, a listed rule
 * model, a model file of the model directories, loaded), or NULL. *file_ok is cleared when the name is a model
 * file's that does not load. */
static const agora_model *known_model(const char *name, int *file_ok)
{
    *file_ok = 1;
    const agora_model *m = agora_model_find(name);
    if (m || !in_model_dirs(name))
        return m;
    json_t *v = json_string(name);
    agora_error e;
    if (agora__rules_resolve(v, NULL, NULL, "model", name, NULL, NULL, &m, &e, NULL) != 0)
        m = NULL;
    json_decref(v);
    *file_ok = m != NULL;
    return m;
}

/* Why this session may not define m under its name (a message in msg), or 0 when it may. *same is the model of that
 * name that m is (the same hash), which the session then uses instead. */
static int name_refused(const agora_mcp *srv, const agora__rules_model *m, const agora_model **same, char *msg,
                        size_t size)
{
    *same = NULL;
    const agora_model *mine = session_find(srv, m->name);
    if (mine) {
        if (strcmp(agora__rules_of(mine)->hash, m->hash) == 0) {
            *same = mine;
            return 0;
        }
        snprintf(msg, size,
                 "this session defined another model named %s already (definition %.12s); a definition is kept for "
                 "the session, so give this one another name",
                 m->name, agora__rules_of(mine)->hash);
        return AGORA_EINVAL;
    }
    int file_ok;
    const agora_model *known = known_model(m->name, &file_ok);
    if (known && agora__rules_of(known) && strcmp(agora__rules_of(known)->hash, m->hash) == 0) {
        *same = known;
        return 0;
    }
    if (known || !file_ok) {
        const agora__rules_model *r = known ? agora__rules_of(known) : NULL;
        char who[300];
        if (r)
            snprintf(who, sizeof who, "the server's model file %s", r->origin);
        else if (known)
            snprintf(who, sizeof who, "the built-in or plug-in model %s", m->name);
        else
            snprintf(who, sizeof who, "a model file of the server's model directories (one that does not load)");
        snprintf(msg, size,
                 "the name %s is taken by %s: use that model by its name, or give this definition another name",
                 m->name, who);
        return AGORA_EINVAL;
    }
    if (srv->n_models >= srv->lim.max_models) {
        snprintf(msg, size,
                 "this session has defined %d models, the most it may (agora mcp --max-models): use one of them by "
                 "its name (list_models)",
                 srv->n_models);
        return AGORA_ERANGE;
    }
    return 0;
}

/* ---- the hooks ------------------------------------------------------------------------------------------------- */

static int hook_may_read(void *ud, const char *path, char *real, agora_error *err)
{
    agora_mcp *srv = ud;
    int rc = agora__mcp_read_path(srv, path, NULL, "model", real, err);
    if (rc != 0)
        return rc;
    struct stat st;
    if (stat(real, &st) != 0 || !S_ISREG(st.st_mode))
        return agora_error_set(err, AGORA_EINVAL, "model", "\"%s\" is not a regular file", path);
    snprintf(srv->model_file, sizeof srv->model_file, "%s", real);
    return 0;
}

static const agora_model *hook_find(void *ud, const char *name)
{
    return session_find(ud, name);
}

static int hook_defined(void *ud, agora__rules_model *m, const agora_model **out, agora_error *err)
{
    agora_mcp *srv = ud;
    char msg[480];
    const agora_model *same = NULL;
    int rc = name_refused(srv, m, &same, msg, sizeof msg);
    if (rc != 0 || same) {
        agora__rules_free(m);
        *out = same;
        return rc ? agora_error_set(err, rc, "model", "%s", msg) : 0;
    }
    const agora_model **list = realloc(srv->models, (size_t)(srv->n_models + 1) * sizeof *list);
    if (!list) {
        agora__rules_free(m);
        return agora_error_set(err, AGORA_ENOMEM, "model", "out of memory");
    }
    srv->models = list;
    if ((rc = agora__rules_intern(m, 0, out, err)) != 0)
        return rc;
    srv->models[srv->n_models++] = *out;
    return 0;
}

void agora__mcp_models_init(agora_mcp *srv)
{
    srv->hooks = (agora__rules_hooks){.ud = srv, .may_read = hook_may_read, .find = hook_find, .defined = hook_defined};
}

void agora__mcp_models_free(agora_mcp *srv)
{
    free(srv->models); /* the models themselves are the registry's */
    srv->models = NULL;
    srv->n_models = 0;
}

/* ---- errors an LLM can act on ---------------------------------------------------------------------------------- */

/* An error as {path, line, col, message}: the key path the message starts with ("rules.x: ...") taken apart. */
static json_t *error_json(const agora_error *e)
{
    const char *msg = e->msg, *colon = strstr(msg, ": ");
    size_t n = colon ? (size_t)(colon - msg) : 0;
    for (size_t i = 0; i < n; i++)
        if (!agora__name_char_ok(msg[i]) && msg[i] != '[' && msg[i] != ']')
            n = 0;
    json_t *o = json_pack("{s:s%, s:s}", "path", msg, n, "message", n ? colon + 2 : msg);
    if (e->line > 0) {
        json_object_set_new(o, "line", json_integer(e->line));
        json_object_set_new(o, "col", json_integer(e->column));
    }
    return o;
}

/* The errors of a definition that failed as one message: the first few, and how many. */
static int errors_message(const agora_scenario_errors *errs, const agora_error *first, agora_error *err)
{
    agora_error_set(err, first->code, NULL, "the model definition is not valid");
    agora__buf b = {0};
    const int n = errs->n ? errs->n : 1;
    agora__buf_add(&b, "the model definition has %d%s error%s:", n, errs->more ? "+" : "", n == 1 ? "" : "s");
    for (int i = 0; i < n; i++)
        agora__buf_add(&b, " %s%s", errs->n ? errs->e[i].msg : first->msg, i + 1 < n ? ";" : "");
    agora__buf_add(&b, " (validate_model lists each with its key path)");
    snprintf(err->msg, sizeof err->msg, "%s", b.s ? b.s : first->msg);
    free(b.s);
    return first->code;
}

/* The definition itself: v, or what {define: ...} holds (with its prefix). */
static const json_t *unwrap(const json_t *v, const char **prefix)
{
    const json_t *inner = json_object_get(v, "define");
    *prefix = "";
    if (inner && json_object_size(v) == 1) {
        *prefix = "define";
        return inner;
    }
    return v;
}

/* The refusal of a definition larger than the registry keeps, before checking it. */
static int too_large(const json_t *def, agora_error *err)
{
    char *s = json_dumps(def, JSON_COMPACT);
    const size_t n = s ? strlen(s) : 0;
    free(s);
    if (!s)
        return agora_error_set(err, AGORA_ENOMEM, "model", "out of memory");
    if (n > AGORA_RULES_MAX_DEF_BYTES)
        return agora_error_set(err, AGORA_ERANGE, "model", "the definition is %zu bytes of JSON; at most %d", n,
                               AGORA_RULES_MAX_DEF_BYTES);
    return 0;
}

int agora__mcp_define(mcp_call *call, const json_t *v, const agora_model **out, agora_error *err)
{
    const char *prefix;
    const json_t *def = unwrap(v, &prefix);
    int rc = too_large(def, err);
    if (rc != 0)
        return rc;
    agora_scenario_errors errs;
    memset(&errs, 0, sizeof errs);
    agora_error first;
    call->srv->model_file[0] = '\0';
    rc = agora__rules_define(def, NULL, prefix, "model", NULL, NULL, &call->srv->hooks, out, &first, &errs);
    if (rc != 0)
        return errors_message(&errs, &first, err);
    return 0;
}

/* ---- validate_model -------------------------------------------------------------------------------------------- */

int agora__mcp_validate_model(mcp_call *call, const json_t *args, json_t **out, agora_error *err)
{
    const json_t *given = json_object_get(args, "definition");
    const char *text = json_string_value(json_object_get(args, "text"));
    if (!given == !text)
        return agora__mcp_bad_args(call, err, "definition",
                                   "give the model definition as an object (definition) or as YAML text (text), %s",
                                   text ? "not both" : "one of them");
    json_t *root = NULL, *errors = json_array();
    agora__locmap *locs = NULL;
    agora__rules_model *m = NULL;
    const agora_model *same = NULL;
    agora_scenario_errors errs;
    memset(&errs, 0, sizeof errs);
    agora_error first;
    int rc = 0;
    const char *prefix = "";
    const json_t *def = given;
    if (text) {
        if (agora__yaml_parse(text, strlen(text), "definition", &root, &locs, &first) != 0) {
            json_array_append_new(errors, error_json(&first));
            goto answer;
        }
        def = root;
    }
    def = unwrap(def, &prefix);
    if ((rc = too_large(def, &first)) != 0) {
        if (rc == AGORA_ENOMEM)
            goto done;
        json_array_append_new(errors, error_json(&first));
        goto answer;
    }
    if (agora__rules_build(def, locs, prefix, "definition", text, NULL, &m, &first, &errs) != 0) {
        for (int i = 0; i < errs.n; i++)
            json_array_append_new(errors, error_json(&errs.e[i]));
        if (errs.n == 0)
            json_array_append_new(errors, error_json(&first));
        goto answer;
    }
    /* whether create_world would take it under this name (the session's limit aside: it says so itself) */
    char msg[480];
    if (name_refused(call->srv, m, &same, msg, sizeof msg) == AGORA_EINVAL) {
        char path[64];
        snprintf(path, sizeof path, "%s%sname", prefix, prefix[0] ? "." : "");
        json_array_append_new(errors, json_pack("{s:s, s:s}", "path", path, "message", msg));
    }
answer:
    *out = json_pack("{s:b}", "ok", json_array_size(errors) == 0);
    if (json_array_size(errors) == 0) {
        json_t *d = agora_model_describe(&m->m);
        json_object_set_new(
            d, "origin", json_string(same ? (same == session_find(call->srv, m->name) ? "session" : "rules") : "new"));
        json_object_set_new(*out, "model", d);
        json_object_set_new(*out, "hash", json_string(m->hash));
    } else {
        json_object_set(*out, "errors", errors);
        if (errs.more)
            json_object_set_new(*out, "more", json_string("more errors follow: fix these and validate again"));
    }
done:
    json_decref(errors);
    json_decref(root);
    agora__locmap_free(locs);
    agora__rules_free(m);
    return rc == AGORA_ENOMEM ? agora_error_set(err, rc, NULL, "out of memory") : 0;
}

/* ---- list_models ----------------------------------------------------------------------------------------------- */

static void add_model(json_t *list, const agora_model *m, const char *origin, const char *only)
{
    if (only && strcmp(only, m->name) != 0)
        return;
    size_t i;
    json_t *x;
    json_array_foreach(list, i, x) {
        if (strcmp(json_string_value(json_object_get(x, "name")), m->name) == 0)
            return; /* once, as found first */
    }
    json_t *d = agora_model_describe(m);
    json_object_set_new(d, "origin", json_string(origin));
    const agora__rules_model *r = agora__rules_of(m);
    const char *file = r ? r->origin : agora_model_origin(m);
    if (file && file[0] && strcmp(origin, "session") != 0)
        json_object_set_new(d, "file", json_string(file));
    if (r)
        json_object_set_new(d, "hash", json_string(r->hash));
    json_array_append_new(list, d);
}

int agora__mcp_list_models(mcp_call *call, const json_t *args, json_t **out, agora_error *err)
{
    agora_mcp *srv = call->srv;
    const char *only = json_string_value(json_object_get(args, "model"));
    int n;
    const agora_model *const *all = agora_models(&n);
    json_t *list = json_array();
    for (int i = 0; i < n; i++)
        add_model(list, all[i], agora_model_origin(all[i]) ? "plugin" : "builtin", only);
    /* the model files of the server's model directories */
    char names[8192] = "";
    agora__rules_dir_names(NULL, names, sizeof names);
    for (char *save = NULL, *tok = strtok_r(names, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
        if (only && strcmp(only, tok) != 0)
            continue;
        json_t *v = json_string(tok);
        const agora_model *m = NULL;
        agora_error e;
        if (agora__rules_resolve(v, NULL, NULL, "model", tok, NULL, NULL, &m, &e, NULL) == 0 && m)
            add_model(list, m, agora__rules_of(m) ? "rules" : "builtin", only);
        else
            agora_log(&srv->logger, AGORA_LOG_WARN, "list_models: the model file of %s does not load: %s", tok, e.msg);
        json_decref(v);
    }
    for (int i = 0; i < srv->n_models; i++)
        add_model(list, srv->models[i], "session", only);
    if (only && json_array_size(list) == 0) {
        agora__buf known = {0};
        json_t *every = NULL, *none = json_object();
        if (agora__mcp_list_models(call, none, &every, err) == 0) {
            size_t i;
            json_t *x;
            json_array_foreach(json_object_get(every, "models"), i, x)
                agora__buf_add(&known, "%s%s", i ? ", " : "", json_string_value(json_object_get(x, "name")));
        }
        json_decref(every);
        json_decref(none);
        json_decref(list);
        agora_error_set(err, AGORA_ENOTFOUND, "model", "no model \"%s\" (models: %s)", only, known.s ? known.s : "");
        free(known.s);
        return err->code;
    }
    *out = json_pack("{s:o, s:o}", "models", list, "limits", agora__mcp_limits_json(srv));
    return 0;
}
