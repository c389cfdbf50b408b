/* agora — a question turned into an interactions scenario by one LLM call (actors, world, time scale, rounds), and
 * scenarios written back as YAML a person can edit. See include/agora/interact.h. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agora/interact.h"
#include "core/internal.h"
#include "interact/ixinternal.h"
#include "llm/ask.h"
#include "llm/llmconf.h"

#define MIN_ACTORS 8
#define MAX_ACTORS 12

static json_t *str_schema(void)
{
    return json_pack("{s:s}", "type", "string");
}

json_t *agora__ix_strict_object(json_t *props)
{
    json_t *req = json_array();
    const char *k;
    json_t *v;
    json_object_foreach(props, k, v) {
        json_array_append_new(req, json_string(k));
    }
    return json_pack("{s:s, s:o, s:o, s:b}", "type", "object", "properties", props, "required", req,
                     "additionalProperties", 0);
}

static json_t *list_of(json_t *items, int min, int max)
{
    json_t *s = json_pack("{s:s, s:o}", "type", "array", "items", items);
    if (min > 0)
        json_object_set_new(s, "minItems", json_integer(min));
    if (max > 0)
        json_object_set_new(s, "maxItems", json_integer(max));
    return s;
}

static json_t *generate_schema(void)
{
    json_t *actor = agora__ix_strict_object(json_pack(
        "{s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "id", str_schema(), "name", str_schema(), "role", str_schema(), "traits",
        list_of(str_schema(), 0, 6), "goals", list_of(str_schema(), 0, 4), "history", str_schema(), "relationships",
        list_of(agora__ix_strict_object(json_pack("{s:o, s:o}", "with", str_schema(), "relation", str_schema())), 0,
                6)));
    json_t *state = agora__ix_strict_object(
        json_pack("{s:o, s:{s:[s, s, s]}}", "key", str_schema(), "value", "type", "number", "string", "boolean"));
    json_t *world = agora__ix_strict_object(json_pack("{s:o, s:o, s:o}", "description", str_schema(), "rules",
                                                      list_of(str_schema(), 0, 8), "state", list_of(state, 0, 8)));
    return agora__ix_strict_object(
        json_pack("{s:o, s:o, s:{s:s, s:[s, s, s, s, s, s]}, s:{s:s, s:i, s:i}, s:o, s:o, s:o}", "name", str_schema(),
                  "description", str_schema(), "round_unit", "type", "string", "enum", "hour", "day", "week", "month",
                  "quarter", "year", "rounds", "type", "integer", "minimum", 2, "maximum", 20, "world", world, "actors",
                  list_of(actor, MIN_ACTORS, MAX_ACTORS), "criteria", list_of(str_schema(), 0, 6)));
}

/* letters, digits, '_' from any text: "Central Bank!" -> "central_bank" (at most max bytes; "x" when empty) */
static void slug(const char *s, char *out, size_t max)
{
    size_t n = 0;
    for (const char *p = s ? s : ""; *p && n + 1 < max; p++) {
        unsigned char c = (unsigned char)*p;
        if (isalnum(c))
            out[n++] = (char)tolower(c);
        else if (n > 0 && out[n - 1] != '_' && (c == ' ' || c == '_' || c == '-' || c == '.'))
            out[n++] = '_';
    }
    while (n > 0 && out[n - 1] == '_')
        n--;
    if (n == 0)
        out[n++] = 'x';
    out[n] = '\0';
}

/* Each call of the generator, as a row of /llm/calls (the caller writes them once the scenario's file is open). */
static void keep_row(void *ud, agora__ask *q, const agora_persona_call *c)
{
    (void)q;
    json_array_append_new(
        ud, json_pack("{s:I, s:s, s:i, s:s, s:s, s:f, s:I, s:I, s:i, s:i, s:s, s:s, s:s, s:s}", "step",
                      (json_int_t)c->step, "persona", c->persona, "attempt", c->attempt, "provider", c->provider,
                      "model", c->model, "latency_ms", c->latency_ms, "prompt_tokens", (json_int_t)c->prompt_tokens,
                      "completion_tokens", (json_int_t)c->completion_tokens, "http_status", c->http_status,
                      "http_attempts", c->http_attempts, "status", c->status, "error", c->error, "prompt", c->prompt,
                      "reply", c->reply));
}

/* The reply turned into a scenario: ids made safe and unique, relationships by id, the state as an object. */
static json_t *to_scenario(const json_t *r, const char *question, int64_t seed)
{
    char name[48];
    slug(json_string_value(json_object_get(r, "name")), name, sizeof name);
    json_t *sc = json_pack("{s:s, s:s, s:s, s:s, s:I, s:O, s:O, s:s}", "name", name, "description",
                           json_string_value(json_object_get(r, "description")), "mode", "interactions", "question",
                           question, "seed", (json_int_t)seed, "rounds", json_object_get(r, "rounds"), "round_unit",
                           json_object_get(r, "round_unit"), "turn_order", "simultaneous");
    const json_t *w = json_object_get(r, "world");
    json_t *state = json_object();
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(w, "state"), i, x) {
        char key[64];
        slug(json_string_value(json_object_get(x, "key")), key, sizeof key);
        json_object_set(state, key, json_object_get(x, "value"));
    }
    json_object_set_new(sc, "world",
                        json_pack("{s:O, s:O, s:o}", "description", json_object_get(w, "description"), "rules",
                                  json_object_get(w, "rules"), "state", state));
    /* actors: ids first (unique), then relationships naming them by id or name */
    const json_t *as = json_object_get(r, "actors");
    json_t *actors = json_array(), *ids = json_array();
    json_array_foreach(as, i, x) {
        char id[48], uniq[64];
        slug(json_string_value(json_object_get(x, "id")), id, sizeof id);
        snprintf(uniq, sizeof uniq, "%s", id);
        static const char *const reserved[] = {"world", "evaluator", "operator", "generator", "all", NULL};
        for (int k = 0; reserved[k]; k++)
            if (strcmp(uniq, reserved[k]) == 0)
                snprintf(uniq, sizeof uniq, "%s_actor", id);
        for (int n = 2;; n++) {
            int taken = 0;
            size_t j;
            json_t *y;
            json_array_foreach(ids, j, y) {
                taken |= strcmp(json_string_value(y), uniq) == 0;
            }
            if (!taken)
                break;
            snprintf(uniq, sizeof uniq, "%s_%d", id, n);
        }
        json_array_append_new(ids, json_string(uniq));
    }
    json_array_foreach(as, i, x) {
        json_t *rel = json_object();
        size_t j;
        json_t *y;
        json_array_foreach(json_object_get(x, "relationships"), j, y) {
            const char *with = json_string_value(json_object_get(y, "with"));
            char ws[48];
            slug(with, ws, sizeof ws);
            size_t k;
            json_t *z;
            json_array_foreach(as, k, z) {
                char zs[48];
                slug(json_string_value(json_object_get(z, "name")), zs, sizeof zs);
                if (k != i && (strcmp(json_string_value(json_array_get(ids, k)), ws) == 0 || strcmp(zs, ws) == 0)) {
                    json_object_set(rel, json_string_value(json_array_get(ids, k)), json_object_get(y, "relation"));
                    break;
                }
            }
        }
        json_array_append_new(actors,
                              json_pack("{s:O, s:O, s:O, s:O, s:O, s:O, s:o}", "id", json_array_get(ids, i), "name",
                                        json_object_get(x, "name"), "role", json_object_get(x, "role"), "traits",
                                        json_object_get(x, "traits"), "goals", json_object_get(x, "goals"), "history",
                                        json_object_get(x, "history"), "relationships", rel));
    }
    json_decref(ids);
    json_object_set_new(sc, "actors", actors);
    const json_t *crit = json_object_get(r, "criteria");
    if (json_array_size(crit) > 0)
        json_object_set_new(sc, "evaluation", json_pack("{s:O}", "criteria", crit));
    return sc;
}

int agora_interact_generate(const char *question, const json_t *llm, int64_t seed, json_t **scenario, json_t **calls,
                            agora_error *err)
{
    *scenario = NULL;
    if (calls)
        *calls = NULL;
    if (!question || !question[0])
        return agora_error_set(err, AGORA_EINVAL, "--question", "the question is empty");
    agora__llm_conf c;
    int rc = agora__llm_conf_parse(llm, "llm", &c, err);
    if (rc)
        return rc;
    if (c.offline) {
        agora__llm_conf_free(&c);
        return agora_error_set(err, AGORA_EINVAL, "--question",
                               "turning a question into a scenario needs an LLM "
                               "(--llm ollama:MODEL or openai:MODEL)");
    }
    if (c.llm.seed < 0)
        c.llm.seed = seed;
    json_t *schema = generate_schema(), *rows = json_array();
    char *user = NULL;
    {
        size_t n = strlen(question) + 2048;
        user = malloc(n);
        if (user)
            snprintf(user, n,
                     "The question: %s\n\nDesign a simulation that explores it: %d to %d actors (people or "
                     "institutions) with a short id, a name, a role, traits, goals, a history and their relationships "
                     "to other actors (by id); the world (a description, rules the world engine applies, and a few "
                     "state variables with starting values); the time one round stands for (hour, day, week, month, "
                     "quarter or year) and how many rounds to run; and the criteria to judge the run by. Answer with "
                     "one JSON object that follows the schema.",
                     question, MIN_ACTORS, MAX_ACTORS);
    }
    const char *system = "You design social simulations: you turn a question into a cast of actors with real "
                         "stakes and a world they act in. You answer in JSON only.";
    json_t *reply = NULL;
    if (user) {
        /* one ask through the ask service (llm/ask.h), with one repair; no guard: the one call says itself
         * whether the server is there */
        agora__ask q = {.conf = &c,
                        .who = "generator",
                        .system = system,
                        .user = user,
                        .schema = schema,
                        .schema_name = "scenario",
                        .tag = "generator/round-0"};
        agora__asker asker = {.on_call = keep_row, .ud = rows};
        rc = agora__ask_all(&asker, 0, &q, 1, err);
        if (rc == 0 && strcmp(q.source, "invalid") == 0)
            rc = agora_error_set(err, AGORA_EHTTP, "--question", "the LLM's scenario was invalid twice: %s", q.why);
        else if (rc == 0 && !q.reply)
            rc = agora_error_set(err, AGORA_EHTTP, "--question", "the LLM did not answer: %s (%s)",
                                 agora_llm_status_name(q.status), q.why);
        reply = q.reply;
        q.reply = NULL;
    }
    if (!user)
        rc = agora_error_set(err, AGORA_ENOMEM, "--question", "out of memory");
    if (rc == 0 && reply)
        *scenario = to_scenario(reply, question, seed);
    if (calls)
        *calls = rows;
    else
        json_decref(rows);
    json_decref(reply);
    json_decref(schema);
    free(user);
    agora__llm_conf_free(&c);
    return rc;
}

/* ---- YAML -------------------------------------------------------------------------------------------------------- */

static void puts_(agora__buf *b, const char *s)
{
    agora__buf_put(b, s, strlen(s));
}

static void indent(agora__buf *b, int n)
{
    for (int i = 0; i < n; i++)
        agora__buf_put(b, "  ", 2);
}

/* A scalar: numbers, true/false, null as is; text as a double-quoted string (JSON escapes are YAML escapes). */
static void scalar(agora__buf *b, const json_t *v)
{
    char *s = agora__json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    puts_(b, s ? s : "null");
    free(s);
}

static int plain_key(const char *k)
{
    if (!k[0])
        return 0;
    for (const char *p = k; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-' && *p != '.')
            return 0;
    return !isdigit((unsigned char)k[0]) && strcmp(k, "true") && strcmp(k, "false") && strcmp(k, "null") &&
           strcmp(k, "yes") && strcmp(k, "no") && strcmp(k, "on") && strcmp(k, "off");
}

static void key(agora__buf *b, const char *k)
{
    if (plain_key(k)) {
        puts_(b, k);
    } else {
        json_t *s = json_string(k);
        scalar(b, s);
        json_decref(s);
    }
    puts_(b, ":");
}

static int is_scalar(const json_t *v)
{
    return !json_is_object(v) && !json_is_array(v);
}

static void node(agora__buf *b, const json_t *v, int depth);

static void object_body(agora__buf *b, const json_t *o, int depth, int first_inline)
{
    const char *k;
    json_t *v;
    int first = 1;
    json_object_foreach((json_t *)o, k, v) {
        if (!(first && first_inline))
            indent(b, depth);
        first = 0;
        key(b, k);
        if (is_scalar(v) || (json_is_object(v) && json_object_size(v) == 0) ||
            (json_is_array(v) && json_array_size(v) == 0)) {
            puts_(b, " ");
            node(b, v, depth + 1);
            puts_(b, "\n");
        } else {
            puts_(b, "\n");
            node(b, v, depth + 1);
        }
    }
}

static void node(agora__buf *b, const json_t *v, int depth)
{
    if (json_is_object(v)) {
        if (json_object_size(v) == 0)
            puts_(b, "{}");
        else
            object_body(b, v, depth, 0);
    } else if (json_is_array(v)) {
        if (json_array_size(v) == 0) {
            puts_(b, "[]");
            return;
        }
        size_t i;
        json_t *x;
        json_array_foreach((json_t *)v, i, x) {
            indent(b, depth);
            puts_(b, "- ");
            if (json_is_object(x) && json_object_size(x) > 0) {
                object_body(b, x, depth + 1, 1);
            } else if (json_is_array(x) && json_array_size(x) > 0) {
                char *s = agora__json_dumps(x, JSON_COMPACT); /* a nested list: flow style */
                puts_(b, s ? s : "[]");
                free(s);
                puts_(b, "\n");
            } else {
                node(b, x, depth + 1);
                puts_(b, "\n");
            }
        }
    } else {
        scalar(b, v);
    }
}

char *agora_interact_yaml(const json_t *scenario)
{
    agora__buf b = {0};
    puts_(&b, "# agora interactions scenario");
    const char *q = json_string_value(json_object_get(scenario, "question"));
    if (q)
        puts_(&b, ", generated by `agora interact --question`; edit it and rerun with `agora interact FILE`");
    puts_(&b, "\n");
    if (json_is_object(scenario))
        object_body(&b, scenario, 0, 0);
    return b.s;
}
