/* agora — checking a `mode: interactions` scenario: every key, with the key path of what is wrong, and the effective
 * configuration with defaults filled in (see include/agora/interact.h for the keys). The scenario loader calls
 * agora__interact_check in place of the model, space and params checks of the other modes. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/internal.h"
#include "interact/ixinternal.h"
#include "llm/llmconf.h"

#define MAX_ROUNDS 10000
#define MAX_ACTORS 64

static const char *const top_keys[] = {"name",   "description", "mode",       "seed",    "question",
                                       "rounds", "round_unit",  "turn_order", "llm",     "roles",
                                       "world",  "actors",      "topology",   "actions", "max_duration",
                                       "memory", "evaluation",  "enrich",     "output",  NULL};
static const char *const role_names[] = {"actors", "world", "enrich", "evaluation", NULL};
/* ids an actor may not take: they name the other callers in /llm/calls and the addresses of messages */
static const char *const reserved_ids[] = {"world", "evaluator", "operator", "generator", "all", NULL};

/* an actor id, room or state key: a name (at most 60 bytes, so "enrich:<id>" and tags stay short) */
static int id_ok(const char *s)
{
    return agora__name_ok(s) && strlen(s) <= 60;
}

static int integer(const json_t *o, const char *key, const char *where, long long lo, long long hi, long long dflt,
                   long long *out, agora_error *err)
{
    const json_t *v = json_object_get(o, key);
    *out = dflt;
    if (!v || json_is_null(v))
        return 0;
    double x = json_number_value(v);
    char w[256];
    snprintf(w, sizeof w, "%s%s%s", where, where[0] ? "." : "", key);
    if (!json_is_number(v) || x != floor(x) || x < (double)lo || x > (double)hi)
        return agora__cfg_bad(err, w, "expected an integer in [%lld, %lld]", lo, hi);
    *out = (long long)x;
    return 0;
}

static int text(const json_t *o, const char *key, const char *where, int required, const char *dflt, json_t *dst,
                agora_error *err)
{
    const json_t *v = json_object_get(o, key);
    char w[256];
    snprintf(w, sizeof w, "%s%s%s", where, where[0] ? "." : "", key);
    if (!v || json_is_null(v)) {
        if (required)
            return agora__cfg_bad(err, w, "required: %s", "a text");
        if (dflt)
            json_object_set_new(dst, key, json_string(dflt));
        return 0;
    }
    if (!json_is_string(v))
        return agora__cfg_bad(err, w, "expected %s", "a text");
    json_object_set_new(dst, key, json_string(json_string_value(v)));
    return 0;
}

/* A text or a list of texts, stored as a list. */
static int texts(const json_t *o, const char *key, const char *where, json_t *dst, agora_error *err)
{
    const json_t *v = json_object_get(o, key);
    json_t *list = json_array();
    json_object_set_new(dst, key, list);
    if (!v || json_is_null(v))
        return 0;
    char w[256];
    snprintf(w, sizeof w, "%s.%s", where, key);
    if (json_is_string(v)) {
        json_array_append_new(list, json_string(json_string_value(v)));
        return 0;
    }
    if (!json_is_array(v))
        return agora__cfg_bad(err, w, "expected %s", "a text or a list of texts");
    size_t i;
    json_t *x;
    json_array_foreach((json_t *)v, i, x) {
        if (!json_is_string(x)) {
            snprintf(w, sizeof w, "%s.%s[%zu]", where, key, i);
            return agora__cfg_bad(err, w, "expected %s", "a text");
        }
        json_array_append_new(list, json_string(json_string_value(x)));
    }
    return 0;
}

static int object_keys(const json_t *o, const char *const *keys, const char *where, const char *what, agora_error *err)
{
    if (o && !json_is_object(o))
        return agora__cfg_bad(err, where, "expected an object %s", what);
    return o ? agora__cfg_keys(o, keys, where, err) : 0;
}

/* An llm block (base merged with over) that parses; stored merged, or null when offline with no block. */
static int check_llm(const json_t *base, const json_t *over, const char *where, json_t *dst, const char *key,
                     agora_error *err)
{
    if (over && !json_is_null(over) && !json_is_object(over))
        return agora__cfg_bad(err, where, "expected an object %s", "{provider, model, base_url, ...}");
    /* the limits are the whole run's: an actor's or a role's block refines how it asks, not how much the run may */
    static const char *const limits[] = {"max_calls", "max_tokens", "max_cost"};
    for (int i = 0; strcmp(where, "llm") != 0 && json_is_object(over) && i < 3; i++)
        if (json_object_get(over, limits[i])) {
            char w[300];
            snprintf(w, sizeof w, "%s.%s", where, limits[i]);
            return agora__cfg_bad(err, w, "a limit of the whole run: set it in the top-level llm block");
        }
    json_t *m = agora__llm_conf_merge(base, over);
    agora__llm_conf c;
    int rc = agora__llm_conf_parse(json_object_size(m) ? m : NULL, where, &c, err);
    agora__llm_conf_free(&c);
    if (rc == 0)
        json_object_set(dst, key, json_object_size(m) ? m : json_null());
    json_decref(m);
    return rc;
}

static int actor_index(const json_t *actors, const char *id)
{
    size_t i;
    json_t *a;
    json_array_foreach((json_t *)actors, i, a)
        if (strcmp(json_string_value(json_object_get(a, "id")), id) == 0)
            return (int)i;
    return -1;
}

static int check_world(const json_t *raw, json_t *cfg, agora_error *err)
{
    static const char *const keys[] = {"description", "rules", "state", "dynamics", NULL};
    static const char *const dyn_keys[] = {"key", "add", "mul", "set", "min", "max", NULL};
    const json_t *w = json_object_get(raw, "world");
    int rc = object_keys(w, keys, "world", "{description, rules, state, dynamics}", err);
    if (rc)
        return rc;
    json_t *o = json_object();
    json_object_set_new(cfg, "world", o);
    if ((rc = text(w, "description", "world", 0, "", o, err)) || (rc = texts(w, "rules", "world", o, err)))
        return rc;
    const json_t *st = json_object_get(w, "state");
    json_t *state = json_object();
    json_object_set_new(o, "state", state);
    if (st && !json_is_null(st)) {
        if (!json_is_object(st))
            return agora__cfg_bad(err, "world.state", "expected %s", "an object {key: number, text or true/false}");
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)st, k, v) {
            char where[256];
            snprintf(where, sizeof where, "world.state.%s", k);
            if (!json_is_number(v) && !json_is_string(v) && !json_is_boolean(v))
                return agora__cfg_bad(err, where, "expected %s", "a number, a text or true/false");
            if (!id_ok(k))
                return agora__cfg_bad(err, where, "%s", "a state key is letters, digits, '_', '-' and '.'");
            json_object_set(state, k, v);
        }
    }
    const json_t *dyn = json_object_get(w, "dynamics");
    json_t *dl = json_array();
    json_object_set_new(o, "dynamics", dl);
    if (dyn && !json_is_null(dyn)) {
        if (!json_is_array(dyn))
            return agora__cfg_bad(err, "world.dynamics", "expected %s", "a list [{key, add|mul|set, min, max}]");
        size_t i;
        json_t *d;
        json_array_foreach((json_t *)dyn, i, d) {
            char where[96];
            snprintf(where, sizeof where, "world.dynamics[%zu]", i);
            if ((rc = object_keys(d, dyn_keys, where, "{key, add|mul|set, min, max}", err)))
                return rc;
            const char *key = json_string_value(json_object_get(d, "key"));
            char wk[128];
            snprintf(wk, sizeof wk, "%s.key", where);
            if (!key)
                return agora__cfg_bad(err, wk, "required: %s", "the state key it changes");
            if (!json_is_number(json_object_get(state, key)))
                return agora__cfg_bad(err, wk, "\"%s\" is not a numeric key of world.state", key);
            int ops = 0;
            json_t *nd = json_object();
            json_object_set_new(nd, "key", json_string(key));
            static const char *const nums[] = {"add", "mul", "set", "min", "max", NULL};
            for (int k = 0; nums[k]; k++) {
                const json_t *x = json_object_get(d, nums[k]);
                if (!x)
                    continue;
                snprintf(wk, sizeof wk, "%s.%s", where, nums[k]);
                if (!json_is_number(x)) {
                    json_decref(nd);
                    return agora__cfg_bad(err, wk, "expected %s", "a number");
                }
                ops += k < 3;
                json_object_set_new(nd, nums[k], json_real(json_number_value(x)));
            }
            json_array_append_new(dl, nd);
            if (ops != 1)
                return agora__cfg_bad(err, where, "expected %s", "exactly one of add, mul, set");
        }
    }
    return 0;
}

static int check_actors(const json_t *raw, json_t *cfg, agora_error *err)
{
    static const char *const keys[] = {"id",    "name", "role",    "traits", "goals", "history", "relationships",
                                       "rooms", "llm",  "profile", NULL};
    const json_t *as = json_object_get(raw, "actors");
    if (!json_is_array(as) || json_array_size(as) == 0)
        return agora__cfg_bad(err, "actors", "required: %s",
                              "a list of actors [{id, name, role, traits, goals, history, relationships}]");
    if (json_array_size(as) > MAX_ACTORS)
        return agora__cfg_bad(err, "actors", "at most %d actors", MAX_ACTORS);
    json_t *list = json_array();
    json_object_set_new(cfg, "actors", list);
    const json_t *base = json_object_get(json_object_get(cfg, "roles"), "actors");
    size_t i;
    json_t *a;
    int rc;
    json_array_foreach((json_t *)as, i, a) {
        char where[64], w[128];
        snprintf(where, sizeof where, "actors[%zu]", i);
        if ((rc = object_keys(a, keys, where, "{id, name, role, traits, goals, history, relationships}", err)))
            return rc;
        if (!a)
            return agora__cfg_bad(err, where, "expected %s", "an actor {id, role, ...}");
        const char *id = json_string_value(json_object_get(a, "id"));
        snprintf(w, sizeof w, "%s.id", where);
        if (!id_ok(id))
            return agora__cfg_bad(err, w, "%s", "required: an id of letters, digits, '_', '-' and '.' (at most 60)");
        for (int r = 0; reserved_ids[r]; r++)
            if (strcmp(reserved_ids[r], id) == 0)
                return agora__cfg_bad(err, w, "\"%s\" is reserved (world, evaluator, operator, generator, all)", id);
        if (actor_index(list, id) >= 0)
            return agora__cfg_bad(err, w, "\"%s\" is the id of an earlier actor", id);
        json_t *o = json_object();
        json_array_append_new(list, o);
        json_object_set_new(o, "id", json_string(id));
        if ((rc = text(a, "name", where, 0, id, o, err)) || (rc = text(a, "role", where, 1, NULL, o, err)) ||
            (rc = texts(a, "traits", where, o, err)) || (rc = texts(a, "goals", where, o, err)) ||
            (rc = text(a, "history", where, 0, "", o, err)) || (rc = texts(a, "rooms", where, o, err)))
            return rc;
        const json_t *rel = json_object_get(a, "relationships");
        snprintf(w, sizeof w, "%s.relationships", where);
        if (rel && !json_is_null(rel) && !json_is_object(rel))
            return agora__cfg_bad(err, w, "expected %s", "an object {actor id: how this actor sees them}");
        json_object_set_new(o, "relationships", rel && json_is_object(rel) ? json_deep_copy(rel) : json_object());
        const json_t *prof = json_object_get(a, "profile");
        snprintf(w, sizeof w, "%s.profile", where);
        if (prof && !json_is_null(prof) && !json_is_object(prof))
            return agora__cfg_bad(err, w, "expected %s", "an object {background, memories, stances}");
        json_object_set_new(o, "profile", prof && json_is_object(prof) ? json_deep_copy(prof) : json_object());
        snprintf(w, sizeof w, "%s.llm", where);
        if ((rc = check_llm(base, json_object_get(a, "llm"), w, o, "llm", err)))
            return rc;
    }
    /* relationships name actors */
    json_array_foreach(list, i, a) {
        const char *k;
        json_t *v;
        json_object_foreach(json_object_get(a, "relationships"), k, v) {
            char w[160];
            snprintf(w, sizeof w, "actors[%zu].relationships.%s", i, k);
            if (actor_index(list, k) < 0)
                return agora__cfg_bad(err, w, "\"%s\" is not the id of an actor", k);
            if (!json_is_string(v))
                return agora__cfg_bad(err, w, "expected %s", "a text");
        }
    }
    return 0;
}

/* "all", "none" or a list of actor ids */
static int who_list(const json_t *v, const json_t *actors, const char *where, json_t **out, agora_error *err)
{
    if (!v || json_is_null(v) || (json_is_string(v) && strcmp(json_string_value(v), "all") == 0)) {
        *out = json_string("all");
        return 0;
    }
    if (json_is_string(v) && strcmp(json_string_value(v), "none") == 0) {
        *out = json_string("none");
        return 0;
    }
    if (!json_is_array(v))
        return agora__cfg_bad(err, where, "expected %s", "all, none or a list of actor ids");
    *out = json_array();
    size_t i;
    json_t *x;
    json_array_foreach((json_t *)v, i, x) {
        char w[160];
        snprintf(w, sizeof w, "%s[%zu]", where, i);
        if (!json_is_string(x) || actor_index(actors, json_string_value(x)) < 0) {
            json_decref(*out);
            *out = NULL;
            return agora__cfg_bad(err, w, "expected %s", "the id of an actor");
        }
        json_array_append_new(*out, json_string(json_string_value(x)));
    }
    return 0;
}

static int check_topology(const json_t *raw, json_t *cfg, agora_error *err)
{
    static const char *const keys[] = {"direct", "broadcast", "rooms", NULL};
    const json_t *t = json_object_get(raw, "topology"), *actors = json_object_get(cfg, "actors");
    int rc = object_keys(t, keys, "topology", "{direct, broadcast, rooms}", err);
    if (rc)
        return rc;
    json_t *o = json_object(), *x = NULL;
    json_object_set_new(cfg, "topology", o);
    const json_t *d = json_object_get(t, "direct");
    if (json_is_array(d)) { /* pairs of actors who may write to each other */
        json_t *pairs = json_array();
        json_object_set_new(o, "direct", pairs);
        size_t i;
        json_t *p;
        json_array_foreach((json_t *)d, i, p) {
            char w[96];
            snprintf(w, sizeof w, "topology.direct[%zu]", i);
            if (!json_is_array(p) || json_array_size(p) != 2 || !json_is_string(json_array_get(p, 0)) ||
                !json_is_string(json_array_get(p, 1)) ||
                actor_index(actors, json_string_value(json_array_get(p, 0))) < 0 ||
                actor_index(actors, json_string_value(json_array_get(p, 1))) < 0)
                return agora__cfg_bad(err, w, "expected %s", "a pair of actor ids [a, b]");
            json_array_append(pairs, p);
        }
    } else {
        if ((rc = who_list(d, actors, "topology.direct", &x, err)))
            return rc;
        if (json_is_array(x)) {
            json_decref(x);
            return agora__cfg_bad(err, "topology.direct", "expected %s", "all, none or a list of pairs [[a, b], ...]");
        }
        json_object_set_new(o, "direct", x);
    }
    if ((rc = who_list(json_object_get(t, "broadcast"), actors, "topology.broadcast", &x, err)))
        return rc;
    json_object_set_new(o, "broadcast", x);
    /* rooms: the topology's, joined by the rooms actors list */
    json_t *rooms = json_object();
    json_object_set_new(o, "rooms", rooms);
    const json_t *r = json_object_get(t, "rooms");
    if (r && !json_is_null(r)) {
        if (!json_is_object(r))
            return agora__cfg_bad(err, "topology.rooms", "expected %s", "an object {room: [actor ids]}");
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)r, k, v) {
            char w[160];
            snprintf(w, sizeof w, "topology.rooms.%s", k);
            if (!id_ok(k))
                return agora__cfg_bad(err, w, "%s", "a room name is letters, digits, '_', '-' and '.'");
            if ((rc = who_list(v, actors, w, &x, err)))
                return rc;
            if (!json_is_array(x)) {
                json_decref(x);
                return agora__cfg_bad(err, w, "expected %s", "a list of actor ids");
            }
            json_object_set_new(rooms, k, x);
        }
    }
    size_t i;
    json_t *a;
    json_array_foreach(actors, i, a) {
        size_t j;
        json_t *room;
        json_array_foreach(json_object_get(a, "rooms"), j, room) {
            const char *name = json_string_value(room);
            char w[160];
            snprintf(w, sizeof w, "actors[%zu].rooms[%zu]", i, j);
            if (!id_ok(name))
                return agora__cfg_bad(err, w, "%s", "a room name is letters, digits, '_', '-' and '.'");
            json_t *members = json_object_get(rooms, name);
            if (!members)
                json_object_set_new(rooms, name, members = json_array());
            const char *id = json_string_value(json_object_get(a, "id"));
            int has = 0;
            size_t k;
            json_t *m;
            json_array_foreach(members, k, m)
                has |= strcmp(json_string_value(m), id) == 0;
            if (!has)
                json_array_append_new(members, json_string(id));
        }
    }
    return 0;
}

static int check_actions(const json_t *raw, json_t *cfg, agora_error *err)
{
    static const char *const keys[] = {"name", "description", NULL};
    const json_t *as = json_object_get(raw, "actions");
    json_t *list = json_array();
    json_object_set_new(cfg, "actions", list);
    long long md;
    int rc = integer(raw, "max_duration", "", 1, 1000, 10, &md, err);
    if (rc)
        return rc;
    json_object_set_new(cfg, "max_duration", json_integer(md));
    if (!as || json_is_null(as))
        return 0;
    if (!json_is_array(as))
        return agora__cfg_bad(err, "actions", "expected %s",
                              "a list [{name, description}] of the actions actors may take");
    size_t i;
    json_t *a;
    json_array_foreach((json_t *)as, i, a) {
        char where[64];
        snprintf(where, sizeof where, "actions[%zu]", i);
        if ((rc = object_keys(a, keys, where, "{name, description}", err)))
            return rc;
        if (!a)
            return agora__cfg_bad(err, where, "expected %s", "{name, description}");
        json_t *o = json_object();
        json_array_append_new(list, o);
        if ((rc = text(a, "name", where, 1, NULL, o, err)) || (rc = text(a, "description", where, 0, "", o, err)))
            return rc;
    }
    return 0;
}

static int check_blocks(const json_t *raw, const char *name, json_t *cfg, agora_error *err)
{
    static const char *const mem_keys[] = {"max_items", "max_inbox", NULL};
    static const char *const eval_keys[] = {"criteria", "scale", NULL};
    static const char *const enrich_keys[] = {"sources", "max_chars", NULL};
    static const char *const out_keys[] = {"path", "compression", "flush_every", NULL};
    const json_t *m = json_object_get(raw, "memory"), *e = json_object_get(raw, "evaluation"),
                 *en = json_object_get(raw, "enrich"), *out = json_object_get(raw, "output");
    long long x, y;
    int rc;
    if ((rc = object_keys(m, mem_keys, "memory", "{max_items, max_inbox}", err)) ||
        (rc = integer(m, "max_items", "memory", 1, 100, 10, &x, err)) ||
        (rc = integer(m, "max_inbox", "memory", 1, 200, 20, &y, err)))
        return rc;
    json_object_set_new(cfg, "memory", json_pack("{s:I, s:I}", "max_items", (json_int_t)x, "max_inbox", (json_int_t)y));
    if ((rc = object_keys(e, eval_keys, "evaluation", "{criteria, scale}", err)) ||
        (rc = integer(e, "scale", "evaluation", 1, 100, 10, &x, err)))
        return rc;
    json_t *eo = json_object();
    json_object_set_new(cfg, "evaluation", eo);
    json_object_set_new(eo, "scale", json_integer(x));
    if (e && json_object_get(e, "criteria")) {
        if ((rc = texts(e, "criteria", "evaluation", eo, err)))
            return rc;
    } else {
        json_object_set_new(eo, "criteria",
                            json_pack("[s, s, s, s]", "cooperation", "ethics", "strategy", "coherence"));
    }
    if ((rc = object_keys(en, enrich_keys, "enrich", "{sources, max_chars}", err)) ||
        (rc = integer(en, "max_chars", "enrich", 100, 1000000, 4000, &x, err)))
        return rc;
    json_t *eno = json_object();
    json_object_set_new(cfg, "enrich", eno);
    json_object_set_new(eno, "max_chars", json_integer(x));
    if ((rc = texts(en, "sources", "enrich", eno, err)))
        return rc;
    if ((rc = object_keys(out, out_keys, "output", "{path, compression}", err)) ||
        (rc = integer(out, "compression", "output", 0, 9, 4, &x, err)) ||
        (rc = integer(out, "flush_every", "output", 1, 1000000, 1, &y, err)))
        return rc;
    json_t *oo = json_object();
    json_object_set_new(cfg, "output", oo);
    char path[512];
    snprintf(path, sizeof path, "runs/%s.h5", name);
    if ((rc = text(out, "path", "output", 0, path, oo, err)))
        return rc;
    if (!json_string_value(json_object_get(oo, "path"))[0])
        return agora__cfg_bad(err, "output.path", "expected %s", "a file path");
    json_object_set_new(oo, "compression", json_integer(x));
    json_object_set_new(oo, "flush_every", json_integer(y));
    return 0;
}

int agora__interact_check(const json_t *raw, const char *name, json_t *cfg, agora_error *err)
{
    int rc = agora__cfg_keys(raw, top_keys, "", err);
    if (rc)
        return rc;
    long long x;
    if ((rc = integer(raw, "seed", "", 0, INT64_MAX, 0, &x, err)))
        return rc;
    json_object_set_new(cfg, "seed", json_integer(x));
    if ((rc = integer(raw, "rounds", "", 1, MAX_ROUNDS, 5, &x, err)))
        return rc;
    json_object_set_new(cfg, "rounds", json_integer(x));
    if ((rc = text(raw, "question", "", 0, NULL, cfg, err)) || (rc = text(raw, "round_unit", "", 0, "round", cfg, err)))
        return rc;
    const char *to = json_string_value(json_object_get(raw, "turn_order"));
    if (json_object_get(raw, "turn_order") &&
        (!to || (strcmp(to, "simultaneous") != 0 && strcmp(to, "sequential") != 0)))
        return agora__cfg_bad(err, "turn_order", "expected %s", "simultaneous or sequential");
    json_object_set_new(cfg, "turn_order", json_string(to ? to : "simultaneous"));
    /* the llm block, and each role's refinement of it */
    const json_t *llm = json_object_get(raw, "llm");
    if ((rc = check_llm(NULL, llm, "llm", cfg, "llm", err)))
        return rc;
    const json_t *roles = json_object_get(raw, "roles");
    if ((rc = object_keys(roles, role_names, "roles", "{actors, world, enrich, evaluation}", err)))
        return rc;
    json_t *ro = json_object();
    json_object_set_new(cfg, "roles", ro);
    for (int i = 0; role_names[i]; i++) {
        char w[64];
        snprintf(w, sizeof w, "roles.%s", role_names[i]);
        const json_t *base = json_object_get(cfg, "llm");
        if ((rc = check_llm(json_is_object(base) ? base : NULL, json_object_get(roles, role_names[i]), w, ro,
                            role_names[i], err)))
            return rc;
    }
    if ((rc = check_world(raw, cfg, err)) || (rc = check_actors(raw, cfg, err)) ||
        (rc = check_topology(raw, cfg, err)) || (rc = check_actions(raw, cfg, err)) ||
        (rc = check_blocks(raw, name, cfg, err)))
        return rc;
    return 0;
}

void agora__interact_time(const json_t *cfg, int64_t round, char *buf, size_t size)
{
    const char *u = json_string_value(json_object_get(cfg, "round_unit"));
    snprintf(buf, size, "%s %lld", u && u[0] ? u : "round", (long long)round);
}
