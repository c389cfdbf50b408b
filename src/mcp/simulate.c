/* agora — the MCP server's one-shot tools: simulate_mechanics, simulate_mixed (agora_run) and simulate_interactions
 * (agora_interact_run), and the scenario loading they share with create_world (its model resolved through the
 * session's hooks, models.c).
 *
 * A run writes its HDF5 file under the server's output directory: by the name the call gives (`output`, or an
 * output.path in its own scenario text or `set` overrides; a scenario file's output.path is the CLI's and is not
 * used), or a new name after the scenario. The name is checked and the file reserved (paths.c) once everything else
 * about the call has been checked, right before the run. Results are summaries an LLM can read in one go: final values
 * and peaks, the metrics over time thinned to about 100 points (the file has every step), the persona decisions, the
 * evaluation. Runs stop at the wall-time limit per call and say so; the file then has status "interrupted" and every
 * step done. */
#define _XOPEN_SOURCE 700 /* PATH_MAX */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "io/yaml.h"
#include "mcp/mcpint.h"

#define SERIES_POINTS 100
#define MAX_DECISIONS 500
#define MAX_EVENTS 200

/* ---- scenarios ------------------------------------------------------------------------------------------------- */

/* Whether scenario text names its own output.path (rather than taking the default). */
static int names_output(const char *text)
{
    json_t *root = NULL;
    agora_error e;
    if (agora__yaml_parse(text, strlen(text), "scenario", &root, NULL, &e) != 0)
        return 0;
    const int named = json_is_string(json_object_get(json_object_get(root, "output"), "path"));
    json_decref(root);
    return named;
}

static const char *output_path_of(const agora_scenario *sc)
{
    return json_string_value(json_object_get(json_object_get(agora_scenario_config(sc), "output"), "path"));
}

int agora__mcp_scenario(mcp_call *call, const json_t *args, const char *const *extra, int n_extra, agora_scenario **out,
                        char **own_output, agora_error *err)
{
    *out = NULL;
    if (own_output)
        *own_output = NULL;
    const char *text = json_string_value(json_object_get(args, "scenario"));
    const char *path = json_string_value(json_object_get(args, "path"));
    if (!text == !path)
        return agora__mcp_bad_args(call, err, "scenario",
                                   "give the scenario as YAML text (scenario) or as a file "
                                   "(path), %s",
                                   text ? "not both" : "one of them");
    agora_scenario *sc = NULL;
    char real[PATH_MAX] = "";
    int rc;
    /* the call's own model (a name, a path or a definition) in place of the scenario's */
    const json_t *model_arg = json_object_get(args, "model");
    json_t *model = NULL;
    if (json_is_object(model_arg)) {
        const agora_model *defined = NULL;
        if ((rc = agora__mcp_define(call, model_arg, &defined, err)) != 0)
            return rc;
        model = json_string(defined->name); /* this session's name for it */
    } else if (model_arg) {
        model = json_incref((json_t *)model_arg);
    }
    call->srv->model_file[0] = '\0';
    if (text) {
        rc = agora__scenario_open(text, strlen(text), "scenario", &call->srv->hooks, model, &sc, err);
    } else if ((rc = agora__mcp_read_path(call->srv, path, NULL, "path", real, err)) == 0) {
        /* the file that was checked, by its real path; errors about it show none of its text */
        if ((rc = agora__scenario_open(NULL, 0, real, &call->srv->hooks, model, &sc, err)) != 0)
            agora__mcp_hide_content(err, real, path);
    }
    json_decref(model);
    if (rc != 0 && call->srv->model_file[0])
        agora__mcp_hide_model_content(err, call->srv->model_file); /* a model file the client named by path */
    if (rc != 0)
        return rc;
    /* the output.path the client's own words give: its scenario text's, or one its overrides change */
    const int named = text && names_output(text);
    char *before = named ? NULL : strdup(output_path_of(sc) ? output_path_of(sc) : "");
    if (!named && !before) {
        agora_scenario_destroy(sc);
        return agora_error_set(err, AGORA_ENOMEM, NULL, "out of memory");
    }
    const json_t *set = json_object_get(args, "set");
    const size_t n_set = json_array_size(set);
    const char **all = calloc(n_set + (size_t)n_extra + 1, sizeof *all);
    if (!all) {
        agora_scenario_destroy(sc);
        return agora_error_set(err, AGORA_ENOMEM, NULL, "out of memory");
    }
    for (size_t i = 0; i < n_set; i++)
        all[i] = json_string_value(json_array_get(set, i));
    for (int i = 0; i < n_extra; i++)
        all[n_set + (size_t)i] = extra[i];
    if (n_set + (size_t)n_extra > 0)
        rc = agora_scenario_set_all(sc, all, (int)(n_set + (size_t)n_extra), err);
    free(all);
    if (rc != 0 && !text)
        agora__mcp_hide_content(err, real, path);
    if (rc != 0 && call->srv->model_file[0])
        agora__mcp_hide_model_content(err, call->srv->model_file);
    if (rc == 0)
        rc = agora__mcp_check_reads(call->srv, sc, err);
    if (rc == 0)
        rc = agora__mcp_check_llm(call->srv, sc, err);
    const char *after = output_path_of(sc);
    if (rc == 0 && own_output && after && (!before || strcmp(before, after) != 0) && !(*own_output = strdup(after)))
        rc = agora_error_set(err, AGORA_ENOMEM, NULL, "out of memory");
    free(before);
    if (rc != 0) {
        agora_scenario_destroy(sc);
        return rc;
    }
    *out = sc;
    return 0;
}

/* The overrides a call's steps, seed, output path (or a new file under the output directory), rounds and llm
 * settings make, as "key=value" strings (owned: free_overrides). `failed` is set when memory ran out. */
typedef struct overrides {
    char **items;
    int n, cap, failed;
} overrides;

static void add_override(overrides *o, const char *key, const json_t *value)
{
    if (o->n == o->cap) {
        int cap = o->cap ? 2 * o->cap : 8;
        char **items = realloc(o->items, (size_t)cap * sizeof *items);
        if (!items) {
            o->failed = 1;
            return;
        }
        o->items = items;
        o->cap = cap;
    }
    char *v = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
    size_t len = strlen(key) + (v ? strlen(v) : 4) + 2;
    char *s = v ? malloc(len) : NULL;
    if (s) {
        snprintf(s, len, "%s=%s", key, v);
        o->items[o->n++] = s;
    } else {
        o->failed = 1;
    }
    free(v);
}

static void free_overrides(overrides *o)
{
    for (int i = 0; i < o->n; i++)
        free(o->items[i]);
    free(o->items);
    *o = (overrides){0};
}

static void call_overrides(const json_t *args, overrides *o)
{
    static const char *const keys[] = {"steps", "seed", "rounds"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (json_object_get(args, keys[i]))
            add_override(o, keys[i], json_object_get(args, keys[i]));
    const char *key;
    json_t *v;
    json_object_foreach(json_object_get(args, "llm"), key, v) {
        char k[128];
        snprintf(k, sizeof k, "llm.%s", key);
        add_override(o, k, v);
    }
}

/* Points the scenario's output at its run file, reserved under the output directory: the call's `output`, else the
 * output.path of the client's own text (`own`, may be NULL), else a new name after the scenario. */
static int place_run_file(mcp_call *call, const json_t *args, agora_scenario *sc, const char *own, char *path,
                          size_t size, agora_error *err)
{
    const char *given = json_string_value(json_object_get(args, "output"));
    const char *stem = json_string_value(json_object_get(agora_scenario_config(sc), "name"));
    int rc = agora__mcp_place_output(call, given ? given : own, given ? "output" : "output.path", given != NULL, stem,
                                     path, size, err);
    if (rc != 0) {
        if (!given && own)
            agora_scenario_locate(sc, err); /* the line of the scenario text, or the override, that named it */
        return rc;
    }
    json_t *pv = json_string(path);
    overrides po = {0};
    add_override(&po, "output.path", pv);
    json_decref(pv);
    rc = po.failed ? agora_error_set(err, AGORA_ENOMEM, NULL, "out of memory")
                   : agora_scenario_set(sc, po.items[0], err);
    free_overrides(&po);
    if (rc != 0) {
        agora__mcp_release_output(path);
        path[0] = '\0';
    }
    return rc;
}

/* ---- simulate_mechanics and simulate_mixed --------------------------------------------------------------------- */

typedef struct run_ctx {
    mcp_call *call;
    int nm;
    double *rows; /* [(steps + 1) * nm]: the metrics of every step */
    int64_t n_rows, steps;
    int stopped;
    json_t *decisions, *events;
} run_ctx;

static int run_progress(void *ud, const agora_progress *p)
{
    run_ctx *rc = ud;
    if (p->step >= 0 && p->step <= rc->steps) {
        memcpy(rc->rows + p->step * rc->nm, p->metrics, (size_t)rc->nm * sizeof *rc->rows);
        rc->n_rows = p->step + 1;
    }
    char msg[96];
    snprintf(msg, sizeof msg, "step %lld of %lld", (long long)p->step, (long long)p->steps);
    agora__mcp_progress(rc->call, (double)p->step, (double)p->steps, msg);
    if (p->step < p->steps && agora__now() - rc->call->t0 > rc->call->srv->lim.max_wall_s) {
        rc->stopped = 1;
        return 1;
    }
    return agora__mcp_cancelled(rc->call->srv); /* the server is stopping: the run closes "interrupted" */
}

static void run_event(void *ud, int64_t step, const char *source, const char *action_json, const char *status,
                      const char *message)
{
    run_ctx *rc = ud;
    if (json_array_size(rc->events) >= MAX_EVENTS)
        return;
    json_t *action = json_loads(action_json ? action_json : "null", JSON_DECODE_ANY, NULL);
    json_t *e = json_pack("{s:I, s:s, s:o, s:s}", "step", (json_int_t)step, "source", source ? source : "", "action",
                          action ? action : json_null(), "status", status ? status : "");
    if (message && *message)
        json_object_set_new(e, "message", json_string(message));
    json_array_append_new(rc->events, e);
}

static void run_decision(void *ud, const agora_persona_decision *d)
{
    run_ctx *rc = ud;
    if (json_array_size(rc->decisions) >= MAX_DECISIONS)
        return;
    json_t *actions = json_loads(d->actions ? d->actions : "[]", 0, NULL);
    json_array_append_new(rc->decisions,
                          json_pack("{s:I, s:s, s:s, s:s, s:o, s:i}", "step", (json_int_t)d->step, "persona",
                                    d->persona, "source", d->source, "reasoning", d->reasoning ? d->reasoning : "",
                                    "actions", actions ? actions : json_array(), "applied", d->n_applied));
}

/* The metrics over time, thinned to about SERIES_POINTS evenly spaced steps (the last one always included). */
static json_t *series_json(const agora_model *m, const double *rows, int64_t n_rows, int nm)
{
    const int64_t stride = n_rows > SERIES_POINTS ? (n_rows + SERIES_POINTS - 1) / SERIES_POINTS : 1;
    json_t *t = json_array(), *o = json_object();
    json_object_set_new(o, "t", t);
    for (int64_t s = 0; s < n_rows; s += stride)
        json_array_append_new(t, json_integer((json_int_t)s));
    if (n_rows > 0 && (n_rows - 1) % stride != 0)
        json_array_append_new(t, json_integer((json_int_t)(n_rows - 1)));
    for (int k = 0; k < nm; k++) {
        json_t *a = json_array();
        size_t i;
        json_t *tv;
        json_array_foreach(t, i, tv) {
            json_array_append_new(a, agora__mcp_number(rows[json_integer_value(tv) * nm + k]));
        }
        json_object_set_new(o, m->metrics[k].name, a);
    }
    return o;
}

static int simulate(mcp_call *call, const json_t *args, int mixed, json_t **out, agora_error *err)
{
    agora_mcp *srv = call->srv;
    overrides o = {0};
    agora_scenario *sc = NULL;
    run_ctx ctx = {.call = call};
    agora_run_result res = {0};
    char *own = NULL, path[PATH_MAX + 64] = "";
    int rc;
    call_overrides(args, &o);
    if (o.failed) {
        rc = agora_error_set(err, AGORA_ENOMEM, NULL, "out of memory");
        goto done;
    }
    if ((rc = agora__mcp_scenario(call, args, (const char *const *)o.items, o.n, &sc, &own, err)) != 0)
        goto done;
    const json_t *cfg = agora_scenario_config(sc);
    const agora_model *model = agora_scenario_model(sc);
    if (!model) {
        rc = agora_error_set(err, AGORA_EINVAL, "mode",
                             "this is an interactions scenario: run it with "
                             "simulate_interactions");
        goto done;
    }
    if (mixed && !json_object_get(cfg, "personas")) {
        rc = agora_error_set(err, AGORA_EINVAL, "personas",
                             "this scenario has no personas: simulate_mechanics runs "
                             "it (simulate_mixed needs a personas: block)");
        goto done;
    }
    ctx.steps = json_integer_value(json_object_get(cfg, "steps"));
    if (ctx.steps > srv->lim.max_steps) {
        rc = agora_error_set(err, AGORA_ERANGE, "steps",
                             "the scenario runs %lld steps; the server's limit is %lld "
                             "per call (agora mcp --max-steps): set steps lower",
                             (long long)ctx.steps, (long long)srv->lim.max_steps);
        goto done;
    }
    if ((rc = agora__mcp_check_agents(srv, agora__mcp_space_agents(json_object_get(cfg, "space")), err)) != 0)
        goto done;
    ctx.nm = agora_model_n_metrics(model);
    ctx.rows = malloc((size_t)((ctx.steps + 1) * ctx.nm) * sizeof *ctx.rows);
    ctx.decisions = json_array();
    ctx.events = json_array();
    if (!ctx.rows || !ctx.decisions || !ctx.events) {
        rc = agora_error_set(err, AGORA_ENOMEM, NULL, "out of memory");
        goto done;
    }
    agora_run_options opt = {.logger = &srv->logger,
                             .progress = run_progress,
                             .on_event = run_event,
                             .on_decision = run_decision,
                             .ud = &ctx,
                             .progress_interval_s = 0,
                             .llm_offline = !mixed || json_is_true(json_object_get(args, "offline")),
                             .replay_until = -1,
                             /* the file is the empty one place_run_file reserved under --output-dir (O_EXCL) */
                             .force = 1};
    if ((rc = place_run_file(call, args, sc, own, path, sizeof path, err)) != 0)
        goto done;
    if ((rc = agora_run(sc, &opt, &res, err)) != 0) {
        agora__mcp_release_output(path);
        if (rc == AGORA_EPARSE)
            agora__mcp_hide_quoted_line(err); /* an edge-list file's line */
        goto done;
    }
    json_t *final = json_object();
    for (int k = 0; k < ctx.nm && ctx.n_rows > 0; k++)
        json_object_set_new(final, model->metrics[k].name, agora__mcp_number(ctx.rows[(ctx.n_rows - 1) * ctx.nm + k]));
    *out = json_pack("{s:s, s:s, s:s, s:I, s:I, s:f, s:f, s:o, s:O, s:o, s:O}", "path", res.output, "status",
                     res.status, "model", model->name, "steps", (json_int_t)res.steps_done, "n_agents",
                     (json_int_t)res.n_agents, "wall_s", round(res.wall_s * 1e4) / 1e4, "updates_per_s",
                     round(res.updates_per_s), "final", final, "summary", json_object_get(res.summary, "metrics"),
                     "series", series_json(model, ctx.rows, ctx.n_rows, ctx.nm), "events", ctx.events);
    if (mixed)
        json_object_set(*out, "decisions", ctx.decisions);
    if (json_object_get(res.summary, "llm")) /* the LLM's calls, the budget, why a "degraded" run is so */
        json_object_set(*out, "llm", json_object_get(res.summary, "llm"));
    if (ctx.stopped)
        json_object_set_new(*out, "stopped", agora__mcp_stopped(srv));
done:
    agora_run_result_free(&res);
    free(ctx.rows);
    json_decref(ctx.decisions);
    json_decref(ctx.events);
    agora_scenario_destroy(sc);
    free_overrides(&o);
    free(own);
    return rc;
}

int agora__mcp_simulate_mechanics(mcp_call *call, const json_t *args, json_t **out, agora_error *err)
{
    return simulate(call, args, 0, out, err);
}

int agora__mcp_simulate_mixed(mcp_call *call, const json_t *args, json_t **out, agora_error *err)
{
    return simulate(call, args, 1, out, err);
}

/* ---- simulate_interactions ------------------------------------------------------------------------------------- */

typedef struct ix_ctx {
    mcp_call *call;
    json_t *rounds, *notes;
    volatile int cancel;
    int stopped;
} ix_ctx;

static void ix_event(void *ud, const agora_ix_event *ev)
{
    ix_ctx *c = ud;
    if (ev->kind == AGORA_IX_ROUND) {
        char msg[96];
        snprintf(msg, sizeof msg, "round %lld of %lld", (long long)ev->round, (long long)ev->rounds);
        agora__mcp_progress(c->call, (double)(ev->round - 1), (double)ev->rounds, msg);
    } else if (ev->kind == AGORA_IX_WORLD) {
        json_array_append_new(c->rounds, json_pack("{s:I, s:s, s:s}", "round", (json_int_t)ev->round, "narrative",
                                                   ev->text ? ev->text : "", "status", ev->status ? ev->status : ""));
    } else if (ev->kind == AGORA_IX_NOTE && json_array_size(c->notes) < MAX_EVENTS) {
        json_array_append_new(c->notes, json_pack("{s:I, s:s, s:s}", "round", (json_int_t)ev->round, "who",
                                                  ev->actor ? ev->actor : "", "text", ev->text ? ev->text : ""));
    }
    if (!c->cancel && agora__now() - c->call->t0 > c->call->srv->lim.max_wall_s) {
        c->stopped = 1;
        c->cancel = 1;
    }
    if (agora__mcp_cancelled(c->call->srv))
        c->cancel = 1;
}

/* Whether an llm block of the scenario (its own, a role's or an actor's) names a provider other than offline. */
static int has_llm(const json_t *cfg)
{
    const json_t *blocks[64];
    int n = 0;
    blocks[n++] = json_object_get(cfg, "llm");
    const char *key;
    json_t *v;
    json_object_foreach(json_object_get(cfg, "roles"), key, v) {
        if (n < 32)
            blocks[n++] = v;
    }
    size_t i;
    json_array_foreach(json_object_get(cfg, "actors"), i, v) {
        if (n < 64)
            blocks[n++] = json_object_get(v, "llm");
    }
    for (int k = 0; k < n; k++) {
        const char *provider = json_string_value(json_object_get(blocks[k], "provider"));
        if (provider && strcmp(provider, "offline") != 0)
            return 1;
    }
    return 0;
}

/* A scenario object from a list of actors {role, traits, name, goals, id}. */
static json_t *actors_scenario(const json_t *args)
{
    const char *world = json_string_value(json_object_get(args, "world"));
    const char *question = json_string_value(json_object_get(args, "question"));
    json_t *actors = json_array();
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(args, "actors"), i, a) {
        char id[32];
        snprintf(id, sizeof id, "a%zu", i + 1);
        const char *role = json_string_value(json_object_get(a, "role"));
        const char *name = json_string_value(json_object_get(a, "name"));
        json_t *actor =
            json_pack("{s:s, s:s, s:s}", "id",
                      json_string_value(json_object_get(a, "id")) ? json_string_value(json_object_get(a, "id")) : id,
                      "name", name ? name : role, "role", role);
        if (json_object_get(a, "traits"))
            json_object_set(actor, "traits", json_object_get(a, "traits"));
        if (json_object_get(a, "goals"))
            json_object_set(actor, "goals", json_object_get(a, "goals"));
        json_array_append_new(actors, actor);
    }
    json_t *sc = json_pack("{s:s, s:s, s:{s:s}, s:o}", "name", "mcp_interactions", "mode", "interactions", "world",
                           "description",
                           world      ? world
                           : question ? question
                                      : "The actors meet to deal with a shared situation.",
                           "actors", actors);
    if (question)
        json_object_set_new(sc, "question", json_string(question));
    return sc;
}

int agora__mcp_simulate_interactions(mcp_call *call, const json_t *args, json_t **out, agora_error *err)
{
    agora_mcp *srv = call->srv;
    overrides o = {0};
    agora_scenario *sc = NULL;
    json_t *built = NULL, *run_args = NULL;
    agora_interact_result res = {0};
    ix_ctx ctx = {.call = call, .rounds = json_array(), .notes = json_array()};
    char *own = NULL, path[PATH_MAX + 64] = "";
    int rc;
    const int has_actors = json_object_get(args, "actors") != NULL;
    if (has_actors && (json_object_get(args, "scenario") || json_object_get(args, "path"))) {
        rc = agora__mcp_bad_args(call, err, "actors", "give a scenario (scenario or path) or actors, not both");
        goto done;
    }
    if (!has_actors && (json_object_get(args, "world") || json_object_get(args, "question"))) {
        rc = agora__mcp_bad_args(call, err, "world", "world and question go with actors; a scenario has its own");
        goto done;
    }
    run_args = json_deep_copy(args);
    if (has_actors) {
        /* The actors become a scenario text, checked like any file. */
        built = actors_scenario(args);
        char *text = agora_interact_yaml(built);
        json_object_del(run_args, "actors");
        json_object_set_new(run_args, "scenario", json_string(text ? text : ""));
        free(text);
    }
    call_overrides(args, &o);
    if (o.failed) {
        rc = agora_error_set(err, AGORA_ENOMEM, NULL, "out of memory");
        goto done;
    }
    if ((rc = agora__mcp_scenario(call, run_args, (const char *const *)o.items, o.n, &sc, &own, err)) != 0)
        goto done;
    if (agora_scenario_model(sc)) {
        rc = agora_error_set(err, AGORA_EINVAL, "mode",
                             "this is a mechanics scenario: run it with "
                             "simulate_mechanics (or simulate_mixed)");
        goto done;
    }
    const json_t *cfg = agora_scenario_config(sc);
    if (!has_llm(cfg)) {
        rc = agora_error_set(err, AGORA_EINVAL, "llm",
                             "simulate_interactions needs an LLM and this scenario names "
                             "none: give llm: {provider: openai|ollama, model, base_url}");
        goto done;
    }
    if (json_integer_value(json_object_get(cfg, "rounds")) > srv->lim.max_steps) {
        rc = agora_error_set(err, AGORA_ERANGE, "rounds", "%lld rounds; the server's limit is %lld per call",
                             (long long)json_integer_value(json_object_get(cfg, "rounds")),
                             (long long)srv->lim.max_steps);
        goto done;
    }
    agora_interact_options opt = {.ud = &ctx, .on_event = ix_event, .cancel = &ctx.cancel, .force = 1};
    if ((rc = place_run_file(call, run_args, sc, own, path, sizeof path, err)) != 0)
        goto done;
    if ((rc = agora_interact_run(sc, &opt, &res, err)) != 0) {
        agora__mcp_release_output(path);
        goto done;
    }
    *out = json_pack("{s:s, s:s, s:I, s:f, s:O, s:o, s:o}", "path", res.path, "status", res.status, "rounds",
                     (json_int_t)res.rounds_done, "wall_s", round(res.wall_time_s * 1e4) / 1e4, "evaluation",
                     res.evaluation ? res.evaluation : json_null(), "round_narratives", ctx.rounds, "notes", ctx.notes);
    ctx.rounds = ctx.notes = NULL;
    const json_t *narrative = json_object_get(res.evaluation, "narrative");
    json_object_set_new(*out, "narrative",
                        json_string(json_string_value(narrative) ? json_string_value(narrative) : ""));
    if (res.summary)
        json_object_set(*out, "state", json_object_get(res.summary, "state"));
    if (json_object_get(res.summary, "llm")) /* the LLM's calls, the budget, why a "degraded" run is so */
        json_object_set(*out, "llm", json_object_get(res.summary, "llm"));
    if (ctx.stopped)
        json_object_set_new(*out, "stopped", agora__mcp_stopped(srv));
done:
    agora_interact_result_free(&res);
    json_decref(ctx.rounds);
    json_decref(ctx.notes);
    json_decref(built);
    json_decref(run_args);
    agora_scenario_destroy(sc);
    free_overrides(&o);
    free(own);
    return rc;
}
