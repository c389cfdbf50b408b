/* agora — the MCP server's live worlds: create_world, advance_world, get_metrics, get_agent_state,
 * set_agent_state, apply_action, snapshot_world, restore_world, copy_world, list_worlds, delete_world.
 *
 * A live world is a session (agora/session.h) recorded in memory, with no end and no personas: its metrics history
 * (one row per step since 0, the last row re-measured after an action or a state change, so it always describes
 * the current state), the scenario's scheduled interventions (applied when their step comes, as in agora_run:
 * interventions of step t act before the metrics of t are measured) and its log of the actions applied are the
 * session's. A snapshot is a saved session state (agora_session_save: the world, the history and the log), so
 * restoring it is exact however the world moved since, and can be done again. A snapshot is named by its id (s1, s2, ...) or by its label: labels are
 * unique in a world and may not look like an id, so a name means one snapshot (an id would win). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "agora/session.h"
#include "core/internal.h"
#include "mcp/mcpint.h"
#include "runner/check.h"

#define MAX_GET_AGENTS 100000
#define DEFAULT_GET_AGENTS 100
#define MAX_EVENTS 1000 /* actions kept in a world's log */

typedef struct mcp_snap {
    char id[24];
    char *label;
    agora_session_state *st;
} mcp_snap;

struct mcp_world {
    char id[64];
    char scenario[128]; /* the scenario's name */
    char space[256];    /* agora_space_describe */
    agora_session *s;
    agora_world *w; /* the session's world (it changes with a restore) */
    int nm;         /* metrics */
    mcp_snap *snaps;
    int n_snaps;
    int64_t snap_seq;
};

/* ---- helpers --------------------------------------------------------------------------------------------------- */

static void snap_free(mcp_snap *s)
{
    free(s->label);
    agora_session_state_free(s->st);
}

static void world_free(mcp_world *mw)
{
    if (!mw)
        return;
    for (int i = 0; i < mw->n_snaps; i++)
        snap_free(&mw->snaps[i]);
    free(mw->snaps);
    if (mw->s)
        agora_session_close(mw->s, 0, NULL, NULL);
    free(mw);
}

void agora__mcp_free_worlds(agora_mcp *srv)
{
    for (int i = 0; i < srv->n_worlds; i++)
        world_free(srv->worlds[i]);
    free(srv->worlds);
    srv->worlds = NULL;
    srv->n_worlds = 0;
}

static int find_index(const agora_mcp *srv, const char *id)
{
    for (int i = 0; id && i < srv->n_worlds; i++)
        if (strcmp(srv->worlds[i]->id, id) == 0)
            return i;
    return -1;
}

static mcp_world *find_world(mcp_call *call, const json_t *args, agora_error *err)
{
    const char *id = json_string_value(json_object_get(args, "world"));
    int i = find_index(call->srv, id);
    if (i >= 0)
        return call->srv->worlds[i];
    agora__buf names = {0};
    for (int k = 0; k < call->srv->n_worlds; k++)
        agora__buf_add(&names, "%s%s", k ? ", " : "", call->srv->worlds[k]->id);
    agora_error_set(err, AGORA_ENOTFOUND, "world", "no world \"%s\" (%s%s)", id ? id : "",
                    names.s ? "live worlds: " : "no live worlds: create one with create_world", names.s ? names.s : "");
    free(names.s);
    return NULL;
}

/* Whether a name has the form of a snapshot id: "s" and digits. */
static int looks_like_id(const char *s)
{
    if (s[0] != 's' || !s[1])
        return 0;
    for (const char *p = s + 1; *p; p++)
        if (*p < '0' || *p > '9')
            return 0;
    return 1;
}

/* The snapshot a name means: its id, else its label (labels are unique in a world and never look like an id, so
 * at most one matches); -1 with err set when none does, listing the world's snapshots. */
static int find_snap(const mcp_world *mw, const char *name, agora_error *err)
{
    for (int i = 0; i < mw->n_snaps; i++)
        if (strcmp(mw->snaps[i].id, name) == 0)
            return i;
    for (int i = 0; i < mw->n_snaps; i++)
        if (mw->snaps[i].label[0] && strcmp(mw->snaps[i].label, name) == 0)
            return i;
    agora__buf known = {0};
    for (int i = 0; i < mw->n_snaps; i++) {
        agora__buf_add(&known, "%s%s", i ? ", " : "", mw->snaps[i].id);
        if (mw->snaps[i].label[0])
            agora__buf_add(&known, " (\"%s\")", mw->snaps[i].label);
    }
    agora_error_set(err, AGORA_ENOTFOUND, "snapshot", "world %s has no snapshot with the id or label \"%s\"%s%s",
                    mw->id, name, known.s ? "; its snapshots: " : ": take one with snapshot_world",
                    known.s ? known.s : "");
    free(known.s);
    return -1;
}

static json_t *metrics_now(const mcp_world *mw)
{
    const agora_model *m = agora_world_model(mw->w);
    const double *row = agora_session_metrics(mw->s);
    json_t *o = json_object();
    for (int k = 0; k < mw->nm; k++)
        json_object_set_new(o, m->metrics[k].name, agora__mcp_number(row[k]));
    return o;
}

/* AGORA_ERANGE when the server holds --max-worlds worlds already. */
static int room_for_a_world(const agora_mcp *srv, agora_error *err)
{
    if (srv->n_worlds < srv->lim.max_worlds)
        return 0;
    return agora_error_set(err, AGORA_ERANGE, "world",
                           "the server holds %d worlds, its limit (agora mcp --max-worlds): delete_world one first",
                           srv->n_worlds);
}

int agora__mcp_check_agents(const agora_mcp *srv, int64_t n, agora_error *err)
{
    if (n <= srv->lim.max_agents)
        return 0;
    return agora_error_set(err, AGORA_ERANGE, "space",
                           "that is %lld agents; the server's limit is %lld per world or run (agora mcp "
                           "--max-agents): make the space smaller",
                           (long long)n, (long long)srv->lim.max_agents);
}

static int register_world(mcp_call *call, mcp_world *mw, const char *name, agora_error *err)
{
    agora_mcp *srv = call->srv;
    int rc = room_for_a_world(srv, err);
    if (rc != 0)
        return rc;
    if (name) {
        if (!agora__name_ok(name))
            return agora__mcp_bad_args(call, err, "name",
                                       "a world name uses letters, digits, '_', '.' and '-', "
                                       "got \"%s\"",
                                       name);
        if (find_index(srv, name) >= 0)
            return agora_error_set(err, AGORA_EINVAL, "name", "a world named \"%s\" exists already", name);
        snprintf(mw->id, sizeof mw->id, "%s", name);
    } else {
        do
            snprintf(mw->id, sizeof mw->id, "w%lld", (long long)++srv->world_seq);
        while (find_index(srv, mw->id) >= 0);
    }
    mcp_world **list = realloc(srv->worlds, (size_t)(srv->n_worlds + 1) * sizeof *list);
    if (!list)
        return agora_error_set(err, AGORA_ENOMEM, NULL, "out of memory");
    srv->worlds = list;
    srv->worlds[srv->n_worlds++] = mw;
    return 0;
}

static json_t *world_info(const mcp_world *mw)
{
    json_t *snaps = json_array();
    for (int i = 0; i < mw->n_snaps; i++)
        json_array_append_new(snaps, json_pack("{s:s, s:I, s:s}", "snapshot", mw->snaps[i].id, "t",
                                               (json_int_t)agora_session_state_time(mw->snaps[i].st), "label",
                                               mw->snaps[i].label ? mw->snaps[i].label : ""));
    return json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:i, s:o}", "world", mw->id, "scenario", mw->scenario, "model",
                     agora_world_model(mw->w)->name, "space", mw->space, "n_agents", (json_int_t)agora_world_n(mw->w),
                     "t", (json_int_t)agora_world_time(mw->w), "threads", agora_world_threads(mw->w), "snapshots",
                     snaps);
}

/* ---- create, list, delete, copy -------------------------------------------------------------------------------- */

int64_t agora__mcp_space_agents(const json_t *space)
{
    const char *kind = json_string_value(json_object_get(space, "kind"));
    const char *gen = json_string_value(json_object_get(space, "generator"));
    if (kind && strcmp(kind, "graph") == 0 && gen && strcmp(gen, "file") == 0)
        return -1;
    if (json_object_get(space, "n"))
        return json_integer_value(json_object_get(space, "n"));
    double cells =
        json_number_value(json_object_get(space, "width")) * json_number_value(json_object_get(space, "height"));
    return cells > 9e18 ? INT64_MAX : (int64_t)cells;
}

/* The scenario a create_world call describes: a scenario text or file, or inline model/space/params/seed. */
static int creation_scenario(mcp_call *call, const json_t *args, agora_scenario **sc, agora_error *err)
{
    const json_t *model = json_object_get(args, "model");
    const int has_scenario = json_object_get(args, "scenario") || json_object_get(args, "path");
    char seed[64];
    const char *extra[1];
    int n_extra = 0;
    if (json_object_get(args, "seed")) {
        snprintf(seed, sizeof seed, "seed=%lld", (long long)json_integer_value(json_object_get(args, "seed")));
        extra[n_extra++] = seed;
    }
    if (has_scenario) {
        if (json_object_get(args, "space") || json_object_get(args, "params"))
            return agora__mcp_bad_args(call, err, "space",
                                       "give either a scenario (scenario or path, with set, and model to replace "
                                       "its model) or model, space and params, not both");
        return agora__mcp_scenario(call, args, extra, n_extra, sc, NULL, err);
    }
    if (!model || !json_object_get(args, "space"))
        return agora__mcp_bad_args(call, err, "model",
                                   "give a scenario (scenario: YAML text, or path) or a model "
                                   "and a space (see list_models)");
    if (json_object_get(args, "set"))
        return agora__mcp_bad_args(call, err, "set", "set applies to a scenario; with model and space, give params");
    const agora_model *defined = NULL;
    int rc;
    if (json_is_object(model) && (rc = agora__mcp_define(call, model, &defined, err)) != 0)
        return rc; /* every error of the definition, not only the first */
    json_t *cfg = json_pack("{s:s, s:o, s:O}", "name", "world", "model",
                            defined ? json_string(defined->name) : json_incref((json_t *)model), "space",
                            json_object_get(args, "space"));
    if (json_object_get(args, "params"))
        json_object_set(cfg, "params", json_object_get(args, "params"));
    if (json_object_get(args, "seed"))
        json_object_set(cfg, "seed", json_object_get(args, "seed"));
    char *text = json_dumps(cfg, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(cfg);
    if (!text)
        return agora_error_set(err, AGORA_ENOMEM, NULL, "out of memory");
    call->srv->model_file[0] = '\0';
    rc = agora__scenario_open(text, strlen(text), "create_world", &call->srv->hooks, NULL, sc, err);
    free(text);
    if (rc != 0 && call->srv->model_file[0])
        agora__mcp_hide_model_content(err, call->srv->model_file); /* a model file the client named by path */
    if (rc == 0 && (rc = agora__mcp_check_reads(call->srv, *sc, err)) != 0) {
        agora_scenario_destroy(*sc);
        *sc = NULL;
    }
    return rc;
}

int agora__mcp_create_world(mcp_call *call, const json_t *args, json_t **out, agora_error *err)
{
    agora_mcp *srv = call->srv;
    agora_scenario *sc = NULL;
    agora_space *space = NULL;
    mcp_world *mw = NULL;
    int rc;
    if ((rc = creation_scenario(call, args, &sc, err)) != 0)
        goto done;
    const agora_model *model = agora_scenario_model(sc);
    const json_t *cfg = agora_scenario_config(sc);
    if (!model) {
        rc = agora_error_set(err, AGORA_EINVAL, "mode",
                             "an interactions scenario has no live world: run it with "
                             "simulate_interactions");
        goto done;
    }
    /* Both checked before the space is built: a space over the limit could take all the memory. */
    if ((rc = room_for_a_world(srv, err)) != 0 ||
        (rc = agora__mcp_check_agents(srv, agora__mcp_space_agents(json_object_get(cfg, "space")), err)) != 0)
        goto done;
    const uint64_t seed = (uint64_t)json_integer_value(json_object_get(cfg, "seed"));
    if ((rc = agora_space_create(json_object_get(cfg, "space"), agora_rng_key_from_seed(seed),
                                 agora_scenario_base_dir(sc), &space, err)) != 0) {
        if (rc == AGORA_EPARSE)
            agora__mcp_hide_quoted_line(err); /* an edge-list file's line */
        goto done;
    }
    if ((rc = agora__mcp_check_agents(srv, space->n, err)) != 0) /* a graph read from a file */
        goto done;
    int threads = (int)json_integer_value(json_object_get(cfg, "threads"));
    if (json_object_get(args, "threads"))
        threads = (int)json_integer_value(json_object_get(args, "threads"));
    else if (threads <= 0)
        threads = srv->threads;
    threads = agora__threads_cap(threads, &srv->logger); /* at the machine's cores, with a warning (as runs do) */
    mw = calloc(1, sizeof *mw);
    if (!mw) {
        rc = agora_error_set(err, AGORA_ENOMEM, NULL, "out of memory");
        goto done;
    }
    agora_space_describe(space, mw->space, sizeof mw->space);
    agora_world_config wc = {.model = model,
                             .space = space,
                             .params = json_object_get(cfg, "params"),
                             .seed = seed,
                             .threads = threads,
                             .logger = &srv->logger};
    space = NULL; /* the world owns it, even on failure */
    agora_world *w = NULL;
    if ((rc = agora_world_create(&wc, &w, err)) != 0)
        goto done;
    /* A session in memory with no end: the scenario's interventions of step 0 act now, its personas not at all. */
    agora_session_options so = {.run = {.logger = &srv->logger},
                                .recorder = AGORA_RECORD_MEMORY,
                                .no_personas = 1,
                                .world = w,
                                .unbounded = 1,
                                .max_events = MAX_EVENTS};
    if ((rc = agora_session_open(sc, &so, &mw->s, err)) != 0 || (rc = agora_session_begin(mw->s, err)) != 0)
        goto done;
    mw->w = agora_session_world(mw->s);
    snprintf(mw->scenario, sizeof mw->scenario, "%s", json_string_value(json_object_get(cfg, "name")));
    mw->nm = agora_model_n_metrics(model);
    if ((rc = register_world(call, mw, json_string_value(json_object_get(args, "name")), err)) != 0)
        goto done;
    *out = world_info(mw);
    json_object_set_new(*out, "metrics", metrics_now(mw));
    json_object_set_new(*out, "interventions",
                        json_integer((json_int_t)json_array_size(json_object_get(cfg, "interventions"))));
    if (json_object_get(cfg, "personas"))
        json_object_set_new(*out, "note",
                            json_string("this scenario's personas do not act in a live world; "
                                        "simulate_mixed runs them"));
    json_object_set_new(*out, "limits", agora__mcp_limits_json(srv));
    mw = NULL;
done:
    world_free(mw);
    agora_space_destroy(space);
    agora_scenario_destroy(sc);
    return rc;
}

int agora__mcp_list_worlds(mcp_call *call, const json_t *args, json_t **out, agora_error *err)
{
    (void)args;
    (void)err;
    json_t *list = json_array();
    for (int i = 0; i < call->srv->n_worlds; i++)
        json_array_append_new(list, world_info(call->srv->worlds[i]));
    *out = json_pack("{s:o, s:o}", "worlds", list, "limits", agora__mcp_limits_json(call->srv));
    return 0;
}

int agora__mcp_delete_world(mcp_call *call, const json_t *args, json_t **out, agora_error *err)
{
    agora_mcp *srv = call->srv;
    mcp_world *mw = find_world(call, args, err);
    if (!mw)
        return err->code;
    const char *snap = json_string_value(json_object_get(args, "snapshot"));
    if (snap) {
        const int k = find_snap(mw, snap, err);
        if (k < 0)
            return err->code;
        *out = json_pack("{s:s, s:s, s:s}", "world", mw->id, "deleted", mw->snaps[k].id, "label", mw->snaps[k].label);
        snap_free(&mw->snaps[k]);
        memmove(mw->snaps + k, mw->snaps + k + 1, (size_t)(mw->n_snaps - k - 1) * sizeof *mw->snaps);
        mw->n_snaps--;
        return 0;
    }
    int i = find_index(srv, mw->id);
    *out = json_pack("{s:s}", "deleted", mw->id);
    world_free(mw);
    memmove(srv->worlds + i, srv->worlds + i + 1, (size_t)(srv->n_worlds - i - 1) * sizeof *srv->worlds);
    srv->n_worlds--;
    return 0;
}

int agora__mcp_copy_world(mcp_call *call, const json_t *args, json_t **out, agora_error *err)
{
    mcp_world *src = find_world(call, args, err);
    if (!src)
        return err->code;
    int rc = room_for_a_world(call->srv, err);
    if (rc != 0)
        return rc;
    mcp_world *mw = calloc(1, sizeof *mw);
    if (!mw)
        return agora_error_set(err, AGORA_ENOMEM, NULL, "out of memory");
    memcpy(mw->scenario, src->scenario, sizeof mw->scenario);
    memcpy(mw->space, src->space, sizeof mw->space);
    mw->nm = src->nm;
    if ((rc = agora_session_copy(src->s, &mw->s, err)) != 0)
        goto done;
    mw->w = agora_session_world(mw->s);
    if ((rc = register_world(call, mw, json_string_value(json_object_get(args, "name")), err)) != 0)
        goto done;
    *out = world_info(mw);
    json_object_set_new(*out, "source", json_string(src->id));
    mw = NULL;
done:
    world_free(mw);
    return rc;
}

/* ---- time and metrics ------------------------------------------------------------------------------------------ */

typedef struct advance_ctl {
    mcp_call *call;
    int64_t t0, steps;
    int stopped;
} advance_ctl;

/* After each step: the client's progress notification, and the server's wall-time limit and cancellation. */
static int advance_progress(void *ud, const agora_progress *p)
{
    advance_ctl *c = ud;
    const double done = (double)(p->step - c->t0);
    char msg[64];
    snprintf(msg, sizeof msg, "step %lld", (long long)p->step);
    agora__mcp_progress(c->call, done, (double)c->steps, msg);
    if (agora__now() - c->call->t0 > c->call->srv->lim.max_wall_s || agora__mcp_cancelled(c->call->srv)) {
        c->stopped = 1;
        return 1;
    }
    return 0;
}

int agora__mcp_advance_world(mcp_call *call, const json_t *args, json_t **out, agora_error *err)
{
    mcp_world *mw = find_world(call, args, err);
    if (!mw)
        return err->code;
    const int64_t steps = json_integer_value(json_object_get(args, "steps"));
    const int64_t t0 = agora_world_time(mw->w);
    int64_t events0;
    agora_session_events(mw->s, &events0);
    advance_ctl ctl = {.call = call, .t0 = t0, .steps = steps};
    agora__mcp_progress(call, 0, (double)steps, "advancing");
    int rc = 0;
    if (agora__now() - call->t0 > call->srv->lim.max_wall_s || agora__mcp_cancelled(call->srv))
        ctl.stopped = 1;
    else {
        agora_session_control(mw->s, advance_progress, &ctl);
        rc = agora_session_run_until(mw->s, t0 + steps, NULL, err);
        agora_session_control(mw->s, NULL, NULL);
    }
    if (rc != 0)
        return rc;
    const int64_t done = agora_world_time(mw->w) - t0;
    int64_t hist_len;
    const double *hist = agora_session_history(mw->s, &hist_len);
    const agora_model *m = agora_world_model(mw->w);
    json_t *series = json_object();
    for (int k = 0; k < mw->nm; k++) {
        json_t *a = json_array();
        for (int64_t s = 0; s < done; s++)
            json_array_append_new(a, agora__mcp_number(hist[(t0 + 1 + s) * mw->nm + k]));
        json_object_set_new(series, m->metrics[k].name, a);
    }
    int64_t events1;
    const json_t *log = agora_session_events(mw->s, &events1);
    json_t *events = json_array();
    const size_t n_log = json_array_size(log);
    const size_t n_new = (size_t)(events1 - events0) < n_log ? (size_t)(events1 - events0) : n_log;
    for (size_t i = n_log - n_new; i < n_log; i++)
        json_array_append(events, json_array_get(log, i));
    *out = json_pack("{s:s, s:I, s:I, s:I, s:o, s:o, s:o}", "world", mw->id, "t_start", (json_int_t)t0, "t",
                     (json_int_t)agora_world_time(mw->w), "steps_done", (json_int_t)done, "metrics", series, "final",
                     metrics_now(mw), "events", events);
    if (ctl.stopped)
        json_object_set_new(*out, "stopped", agora__mcp_stopped(call->srv));
    return 0;
}

int agora__mcp_get_metrics(mcp_call *call, const json_t *args, json_t **out, agora_error *err)
{
    mcp_world *mw = find_world(call, args, err);
    if (!mw)
        return err->code;
    const agora_model *m = agora_world_model(mw->w);
    const json_t *names = json_object_get(args, "names");
    int *pick = calloc((size_t)mw->nm, sizeof *pick);
    if (!pick)
        return agora_error_set(err, AGORA_ENOMEM, NULL, "out of memory");
    int n_pick = 0;
    if (names) {
        size_t i;
        json_t *v;
        json_array_foreach(names, i, v) {
            int k = agora_model_metric_index(m, json_string_value(v));
            if (k < 0) {
                agora__buf known = {0};
                for (int j = 0; j < mw->nm; j++)
                    agora__buf_add(&known, "%s%s", j ? ", " : "", m->metrics[j].name);
                agora_error_set(err, AGORA_ENOTFOUND, "names", "the model %s has no metric \"%s\" (metrics: %s)",
                                m->name, json_string_value(v), known.s ? known.s : "");
                free(known.s);
                free(pick);
                return err->code;
            }
            pick[n_pick++] = k;
        }
    } else {
        for (int k = 0; k < mw->nm; k++)
            pick[n_pick++] = k;
    }
    int64_t first = 0, hist_len;
    const double *hist = agora_session_history(mw->s, &hist_len);
    if (json_object_get(args, "last")) {
        int64_t last = json_integer_value(json_object_get(args, "last"));
        first = hist_len > last ? hist_len - last : 0;
    }
    json_t *steps = json_array(), *series = json_object();
    for (int64_t s = first; s < hist_len; s++)
        json_array_append_new(steps, json_integer((json_int_t)s));
    for (int j = 0; j < n_pick; j++) {
        json_t *a = json_array();
        for (int64_t s = first; s < hist_len; s++)
            json_array_append_new(a, agora__mcp_number(hist[s * mw->nm + pick[j]]));
        json_object_set_new(series, m->metrics[pick[j]].name, a);
    }
    free(pick);
    *out = json_pack("{s:s, s:I, s:o, s:o}", "world", mw->id, "t", (json_int_t)agora_world_time(mw->w), "steps", steps,
                     "metrics", series);
    return 0;
}

/* ---- agents ---------------------------------------------------------------------------------------------------- */

/* The agents chosen by ids, range or region (at most one of them); with none, agents 0 .. def-1 (def 0: an error).
 * More than `max` agents is an error. *ids is owned by the caller. */
static int select_agents(mcp_call *call, const mcp_world *mw, const json_t *args, int64_t def, int64_t max,
                         int64_t **ids, int64_t *count, agora_error *err)
{
    const json_t *list = json_object_get(args, "ids"), *range = json_object_get(args, "range"),
                 *region = json_object_get(args, "region");
    const int64_t n = agora_world_n(mw->w);
    *ids = NULL;
    *count = 0;
    if ((list != NULL) + (range != NULL) + (region != NULL) > 1)
        return agora__mcp_bad_args(call, err, "ids", "choose agents with one of ids, range or region");
    int64_t c = 0, start = 0, stop = 0, x0 = 0, y0 = 0, x1 = 0, y1 = 0, width = 0;
    if (list) {
        c = (int64_t)json_array_size(list);
    } else if (range) {
        start = json_integer_value(json_object_get(range, "start"));
        stop = json_integer_value(json_object_get(range, "stop"));
        if (stop <= start || stop > n)
            return agora_error_set(err, AGORA_ERANGE, "range",
                                   "range must satisfy 0 <= start < stop <= %lld (the "
                                   "world's agents), got start %lld, stop %lld",
                                   (long long)n, (long long)start, (long long)stop);
        c = stop - start;
    } else if (region) {
        const agora_space *sp = agora_world_space(mw->w);
        if (sp->kind != AGORA_SPACE_GRID)
            return agora_error_set(err, AGORA_EINVAL, "region",
                                   "region needs a grid world; this one is a %s: use "
                                   "ids or range",
                                   agora_space_kind_name(sp->kind));
        width = sp->grid.width;
        x0 = json_integer_value(json_object_get(region, "x0"));
        y0 = json_integer_value(json_object_get(region, "y0"));
        x1 = json_integer_value(json_object_get(region, "x1"));
        y1 = json_integer_value(json_object_get(region, "y1"));
        if (x0 >= x1 || y0 >= y1 || x1 > sp->grid.width || y1 > sp->grid.height)
            return agora_error_set(err, AGORA_ERANGE, "region",
                                   "region must satisfy x0 < x1 <= %lld and y0 < y1 <= "
                                   "%lld (the grid), got x %lld..%lld, y %lld..%lld",
                                   (long long)sp->grid.width, (long long)sp->grid.height, (long long)x0, (long long)x1,
                                   (long long)y0, (long long)y1);
        c = (x1 - x0) * (y1 - y0);
    } else {
        if (def <= 0)
            return agora__mcp_bad_args(call, err, "ids", "choose the agents: ids, range or region");
        stop = def < n ? def : n;
        c = stop;
    }
    if (c > max)
        return agora_error_set(err, AGORA_ERANGE,
                               list    ? "ids"
                               : range ? "range"
                                       : "region",
                               "that is %lld agents; at most %lld per call: choose fewer", (long long)c,
                               (long long)max);
    int64_t *v = malloc((size_t)(c ? c : 1) * sizeof *v);
    if (!v)
        return agora_error_set(err, AGORA_ENOMEM, NULL, "out of memory");
    if (list) {
        for (int64_t k = 0; k < c; k++) {
            v[k] = json_integer_value(json_array_get(list, (size_t)k));
            if (v[k] >= n) {
                agora_error_set(err, AGORA_ERANGE, "ids",
                                "ids[%lld] = %lld is not an agent: this world has agents "
                                "0..%lld",
                                (long long)k, (long long)v[k], (long long)(n - 1));
                free(v);
                return err->code;
            }
        }
    } else if (region) {
        int64_t k = 0;
        for (int64_t y = y0; y < y1; y++)
            for (int64_t x = x0; x < x1; x++)
                v[k++] = y * width + x;
    } else {
        for (int64_t k = 0; k < c; k++)
            v[k] = start + k;
    }
    *ids = v;
    *count = c;
    return 0;
}

static double field_value(const void *data, agora_dtype type, int64_t i)
{
    switch (type) {
    case AGORA_DTYPE_U8:
        return ((const uint8_t *)data)[i];
    case AGORA_DTYPE_I32:
        return ((const int32_t *)data)[i];
    case AGORA_DTYPE_I64:
        return (double)((const int64_t *)data)[i];
    case AGORA_DTYPE_F32:
        return ((const float *)data)[i];
    default:
        return ((const double *)data)[i];
    }
}

/* One field of the chosen agents: values, and min, max, mean and (small integer fields) the count of each value. */
static void field_json(const void *data, agora_dtype type, const int64_t *ids, int64_t count, json_t **values,
                       json_t **stats)
{
    const int integral = type == AGORA_DTYPE_U8 || type == AGORA_DTYPE_I32 || type == AGORA_DTYPE_I64;
    double lo = INFINITY, hi = -INFINITY, sum = 0;
    int64_t finite = 0;
    *values = json_array();
    for (int64_t k = 0; k < count; k++) {
        double v = field_value(data, type, ids[k]);
        json_array_append_new(*values, integral ? json_integer((json_int_t)v) : agora__mcp_number(v));
        if (isfinite(v)) {
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
            sum += v;
            finite++;
        }
    }
    *stats = json_pack("{s:I, s:o, s:o, s:o}", "count", (json_int_t)finite, "min", agora__mcp_number(lo), "max",
                       agora__mcp_number(hi), "mean", agora__mcp_number(finite ? sum / (double)finite : NAN));
    if (integral && finite && hi - lo <= 16) {
        int64_t counts[17] = {0};
        for (int64_t k = 0; k < count; k++)
            counts[(int)(field_value(data, type, ids[k]) - lo)]++;
        json_t *c = json_object();
        for (int b = 0; b <= (int)(hi - lo); b++) {
            char key[32];
            snprintf(key, sizeof key, "%d", (int)lo + b);
            if (counts[b])
                json_object_set_new(c, key, json_integer((json_int_t)counts[b]));
        }
        json_object_set_new(*stats, "values", c);
    }
}

static int field_index(const mcp_world *mw, const char *name, agora_error *err)
{
    const agora_model *m = agora_world_model(mw->w);
    int i = agora_model_field_index(m, name);
    if (i >= 0)
        return i;
    agora__buf known = {0};
    for (int j = 0; j < agora_model_n_fields(m); j++)
        agora__buf_add(&known, "%s%s", j ? ", " : "", m->fields[j].name);
    agora_error_set(err, AGORA_ENOTFOUND, "field", "the model %s has no field \"%s\" (fields: %s)", m->name,
                    name ? name : "", known.s ? known.s : "none");
    free(known.s);
    return -1;
}

int agora__mcp_get_agent_state(mcp_call *call, const json_t *args, json_t **out, agora_error *err)
{
    mcp_world *mw = find_world(call, args, err);
    if (!mw)
        return err->code;
    const agora_model *m = agora_world_model(mw->w);
    const json_t *names = json_object_get(args, "fields");
    const int nf = names ? (int)json_array_size(names) : agora_model_n_fields(m);
    int *pick = calloc((size_t)nf + 1, sizeof *pick);
    if (!pick)
        return agora_error_set(err, AGORA_ENOMEM, NULL, "out of memory");
    for (int j = 0; j < nf; j++)
        if ((pick[j] = names ? field_index(mw, json_string_value(json_array_get(names, (size_t)j)), err) : j) < 0) {
            free(pick);
            return err->code;
        }
    int64_t *ids = NULL, count = 0;
    int rc = select_agents(call, mw, args, DEFAULT_GET_AGENTS, MAX_GET_AGENTS, &ids, &count, err);
    if (rc != 0) {
        free(pick);
        return rc;
    }
    json_t *fields = json_object(), *stats = json_object(), *idv = json_array();
    for (int64_t k = 0; k < count; k++)
        json_array_append_new(idv, json_integer((json_int_t)ids[k]));
    for (int j = 0; j < nf; j++) {
        agora_dtype type;
        const void *data = agora_world_field(mw->w, pick[j], &type);
        if (!data)
            continue;
        json_t *values, *st;
        field_json(data, type, ids, count, &values, &st);
        json_object_set_new(fields, m->fields[pick[j]].name, values);
        json_object_set_new(stats, m->fields[pick[j]].name, st);
    }
    free(pick);
    free(ids);
    *out = json_pack("{s:s, s:I, s:I, s:o, s:o, s:o}", "world", mw->id, "t", (json_int_t)agora_world_time(mw->w),
                     "count", (json_int_t)count, "ids", idv, "fields", fields, "stats", stats);
    return 0;
}

int agora__mcp_set_agent_state(mcp_call *call, const json_t *args, json_t **out, agora_error *err)
{
    mcp_world *mw = find_world(call, args, err);
    if (!mw)
        return err->code;
    const json_t *value = json_object_get(args, "value"), *values = json_object_get(args, "values");
    if (!value == !values)
        return agora__mcp_bad_args(call, err, "value",
                                   "give value (one for all the agents) or values (one per "
                                   "agent), not %s",
                                   value ? "both" : "neither");
    const int fi = field_index(mw, json_string_value(json_object_get(args, "field")), err);
    if (fi < 0)
        return err->code;
    int64_t *ids = NULL, count = 0;
    double *v = NULL;
    int rc = select_agents(call, mw, args, 0, call->srv->lim.max_agents, &ids, &count, err);
    if (rc != 0)
        return rc;
    if (values && (int64_t)json_array_size(values) != count) {
        rc = agora__mcp_bad_args(call, err, "values", "values has %zu numbers for %lld agents: give one per agent",
                                 json_array_size(values), (long long)count);
        goto done;
    }
    if (!(v = malloc((size_t)(count ? count : 1) * sizeof *v))) {
        rc = agora_error_set(err, AGORA_ENOMEM, NULL, "out of memory");
        goto done;
    }
    for (int64_t k = 0; k < count; k++)
        v[k] = json_number_value(values ? json_array_get(values, (size_t)k) : value);
    if ((rc = agora_world_set_field(mw->w, fi, ids, count, v, err)) != 0)
        goto done;
    agora_session_remeasure(mw->s);
    json_t *action = json_pack("{s:s, s:s, s:I}", "action", "set_agent_state", "field",
                               agora_world_model(mw->w)->fields[fi].name, "agents", (json_int_t)count);
    rc = agora_session_log(mw->s, "mcp", action, "applied", NULL, err);
    json_decref(action);
    if (rc != 0)
        goto done;
    *out = json_pack("{s:s, s:I, s:I, s:o}", "world", mw->id, "t", (json_int_t)agora_world_time(mw->w), "changed",
                     (json_int_t)count, "metrics", metrics_now(mw));
done:
    free(ids);
    free(v);
    return rc;
}

int agora__mcp_apply_action(mcp_call *call, const json_t *args, json_t **out, agora_error *err)
{
    mcp_world *mw = find_world(call, args, err);
    if (!mw)
        return err->code;
    const json_t *action = json_object_get(args, "action");
    int rc = agora_session_apply(mw->s, action, "mcp", err);
    if (rc != 0)
        return rc;
    *out = json_pack("{s:s, s:I, s:b, s:o}", "world", mw->id, "t", (json_int_t)agora_world_time(mw->w), "applied", 1,
                     "metrics", metrics_now(mw));
    return 0;
}

/* ---- snapshots ------------------------------------------------------------------------------------------------- */

int agora__mcp_snapshot_world(mcp_call *call, const json_t *args, json_t **out, agora_error *err)
{
    mcp_world *mw = find_world(call, args, err);
    if (!mw)
        return err->code;
    if (mw->n_snaps >= call->srv->lim.max_snapshots)
        return agora_error_set(err, AGORA_ERANGE, "snapshot",
                               "world %s has %d snapshots, the limit (agora mcp "
                               "--max-snapshots): delete_world with a snapshot frees one",
                               mw->id, mw->n_snaps);
    const char *label = json_string_value(json_object_get(args, "label"));
    if (label && label[0] && looks_like_id(label))
        return agora_error_set(err, AGORA_EINVAL, "label",
                               "the label \"%s\" reads as a snapshot id (s1, s2, ...): choose a label of another "
                               "form, such as \"before-%s\"",
                               label, label);
    for (int i = 0; label && label[0] && i < mw->n_snaps; i++)
        if (strcmp(mw->snaps[i].label, label) == 0)
            return agora_error_set(err, AGORA_EINVAL, "label",
                                   "world %s has a snapshot labelled \"%s\" already (%s): choose another label, or "
                                   "delete_world that snapshot first",
                                   mw->id, label, mw->snaps[i].id);
    mcp_snap *list = realloc(mw->snaps, (size_t)(mw->n_snaps + 1) * sizeof *list);
    if (!list)
        return agora_error_set(err, AGORA_ENOMEM, NULL, "out of memory");
    mw->snaps = list;
    mcp_snap s = {0};
    int rc = agora_session_save(mw->s, &s.st, err);
    s.label = strdup(label ? label : "");
    if (rc == 0 && !s.label)
        rc = agora_error_set(err, AGORA_ENOMEM, NULL, "out of memory");
    if (rc != 0) {
        snap_free(&s);
        return rc;
    }
    snprintf(s.id, sizeof s.id, "s%lld", (long long)++mw->snap_seq);
    mw->snaps[mw->n_snaps++] = s;
    *out = json_pack("{s:s, s:s, s:I, s:s}", "world", mw->id, "snapshot", s.id, "t",
                     (json_int_t)agora_session_state_time(s.st), "label", s.label);
    return 0;
}

int agora__mcp_restore_world(mcp_call *call, const json_t *args, json_t **out, agora_error *err)
{
    mcp_world *mw = find_world(call, args, err);
    if (!mw)
        return err->code;
    const int k = find_snap(mw, json_string_value(json_object_get(args, "snapshot")), err);
    if (k < 0)
        return err->code;
    mcp_snap *s = &mw->snaps[k];
    int rc = agora_session_restore(mw->s, s->st, err);
    if (rc != 0)
        return rc;
    mw->w = agora_session_world(mw->s);
    *out = json_pack("{s:s, s:s, s:s, s:I, s:o}", "world", mw->id, "snapshot", s->id, "label", s->label, "t",
                     (json_int_t)agora_world_time(mw->w), "metrics", metrics_now(mw));
    return 0;
}
