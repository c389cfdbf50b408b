/* agora — the interactions engine: rounds of LLM actors with messages and actions that last, a world engine that
 * resolves them, an evaluation, and the run file. See include/agora/interact.h. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agora/interact.h"
#include "agora/output.h"
#include "agora/schema.h"
#include "agora/version.h"
#include "core/internal.h"
#include "interact/ixinternal.h"
#include "interact/ixrun.h"
#include "llm/ask.h"
#include "llm/guard.h"
#include "llm/llmconf.h"
#include "runner/check.h"

#define MAX_MESSAGES 4       /* messages one reply may send */
#define MAX_ACTIONS 3        /* actions one reply may start */
#define MAX_TEXT 600         /* characters of one message */
#define NEWS_MAX 12          /* news items (outcomes, notes) kept for the next prompt */
#define NARRATIVE_SHOWN 800  /* characters of the world's narrative shown to actors */
#define TRANSCRIPT_MAX 16000 /* characters of the run shown to the evaluator */

/* ---- text -------------------------------------------------------------------------------------------------------- */

/* At most `max` bytes of s, cut on a UTF-8 character boundary, with "..." when cut. Returns buf. */
static const char *cut(const char *s, size_t max, char *buf, size_t size)
{
    s = s ? s : "";
    size_t n = strlen(s);
    if (n <= max && n < size) {
        memcpy(buf, s, n + 1);
        return buf;
    }
    size_t k = max < size - 4 ? max : size - 4;
    while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80)
        k--;
    memcpy(buf, s, k);
    memcpy(buf + k, "...", 4);
    return buf;
}

static char *json_text(const json_t *v)
{
    char *s = agora__json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    return s ? s : strdup("null");
}

/* ---- state ------------------------------------------------------------------------------------------------------- */

typedef struct stats {
    int64_t turns, sent, received, blocked, actions, calls, failed, invalid, prompt_tokens, completion_tokens;
    int64_t latency_n;
    double latency_sum, latency_max, cost;
} stats;

typedef struct actor {
    const json_t *cfg; /* the actor's checked configuration */
    const char *id, *name, *role;
    agora__llm_conf conf;
    json_t *profile;            /* the configured profile, deepened by enrichment */
    json_t *inbox, *next_inbox; /* ["from X (direct): text", ...] */
    json_t *news;               /* outcomes and notes since its last turn */
    json_t *memory;             /* ["round 3: ...", ...], at most memory.max_items */
    int acted;                  /* has decided this round (sequential order) */
    stats st;
} actor;

enum { SCHEDULED, ACTIVE, COMPLETED, FAILED, UNFINISHED };
static const char *const status_names[] = {"scheduled", "active", "completed", "failed", "unfinished"};

typedef struct action {
    int64_t id;
    int actor;
    char *name, *target, *intent, *result, *outcome;
    int64_t proposed, start, end;
    int duration, status;
} action;

/* the columns of the /interactions tables, in the order of enum table */
enum table { T_ACTORS, T_TURNS, T_MESSAGES, T_ACTIONS, T_WORLD, T_EVALUATION, T_ANALYTICS, N_TABLES };
#define I AGORA_COLUMN_INT64
#define F AGORA_COLUMN_FLOAT64
#define T AGORA_COLUMN_TEXT
static const agora_writer_column c_actors[] = {{"actor", T, 64},    {"name", T, 128},  {"role", T, 256},
                                               {"provider", T, 32}, {"model", T, 128}, {"profile", T, 1024}};
static const agora_writer_column c_turns[] = {
    {"round", I, 0},   {"actor", T, 64},     {"source", T, 16},       {"reasoning", T, 512},      {"messages", I, 0},
    {"actions", I, 0}, {"latency_ms", F, 0}, {"prompt_tokens", I, 0}, {"completion_tokens", I, 0}};
static const agora_writer_column c_messages[] = {{"round", I, 0},   {"from", T, 64},   {"to", T, 64},
                                                 {"room", T, 64},   {"kind", T, 16},   {"text", T, 512},
                                                 {"status", T, 16}, {"reason", T, 160}};
static const agora_writer_column c_actions[] = {
    {"round", I, 0}, {"action", I, 0},   {"actor", T, 64}, {"name", T, 96},   {"target", T, 96}, {"intent", T, 256},
    {"start", I, 0}, {"duration", I, 0}, {"end", I, 0},    {"status", T, 16}, {"result", T, 16}, {"outcome", T, 512}};
static const agora_writer_column c_world[] = {
    {"round", I, 0}, {"status", T, 16}, {"narrative", T, 1024}, {"state", T, 512}};
static const agora_writer_column c_evaluation[] = {{"criterion", T, 64}, {"score", F, 0}, {"text", T, 1024}};
static const agora_writer_column c_analytics[] = {{"actor", T, 64},
                                                  {"kind", T, 16},
                                                  {"turns", I, 0},
                                                  {"messages_sent", I, 0},
                                                  {"messages_received", I, 0},
                                                  {"messages_blocked", I, 0},
                                                  {"actions", I, 0},
                                                  {"calls", I, 0},
                                                  {"failed_calls", I, 0},
                                                  {"invalid_replies", I, 0},
                                                  {"latency_ms_mean", F, 0},
                                                  {"latency_ms_max", F, 0},
                                                  {"prompt_tokens", I, 0},
                                                  {"completion_tokens", I, 0},
                                                  {"cost", F, 0}};
#undef I
#undef F
#undef T
#define COLS(c) (int)(sizeof c / sizeof c[0]), c
static const agora_writer_table tables[N_TABLES] = {
    {"interactions/actors", COLS(c_actors)},      {"interactions/turns", COLS(c_turns)},
    {"interactions/messages", COLS(c_messages)},  {"interactions/actions", COLS(c_actions)},
    {"interactions/world", COLS(c_world)},        {"interactions/evaluation", COLS(c_evaluation)},
    {"interactions/analytics", COLS(c_analytics)}};

struct agora_interact {
    const json_t *cfg;
    double t0;       /* when the run opened */
    int open_rc;     /* an error of the set-up after the file was opened (enrichment): the run fails with it */
    int64_t rounds_done;
    const agora_interact_options *opt;
    actor *a;
    int n;
    action *acts;
    size_t n_acts, cap_acts;
    json_t *state;      /* the world state */
    char **metric_keys; /* numeric state keys, written as /metrics */
    int n_metrics;
    agora__llm_conf world, evaluator, enricher;
    stats world_st, eval_st, enrich_st;
    agora_writer *wr;
    json_t *replay; /* index of recorded calls, or NULL */
    int64_t round, rounds;
    json_t *transcript; /* ["round 1: ...", ...] for the evaluator */
    json_t *reply_schema, *world_schema, *eval_schema, *enrich_schema;
    int64_t seed;
    size_t max_items, max_inbox; /* memory.max_items, memory.max_inbox */
    agora_error *err;            /* the first error that stops the run (a replay that does not match, the file) */
    int failed;
    agora__guard guard; /* the endpoint check, the breaker, the governor (the top-level llm block's limits) */
};

static void emit(agora_interact *ix, agora_ix_event ev)
{
    ev.round = ev.round ? ev.round : ix->round;
    ev.rounds = ix->rounds;
    if (ix->opt && ix->opt->on_event)
        ix->opt->on_event(ix->opt->ud, &ev);
}

static void note(agora_interact *ix, const char *who, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    emit(ix, (agora_ix_event){.kind = AGORA_IX_NOTE, .actor = who, .text = msg});
}

static int find_actor(const agora_interact *ix, const char *id)
{
    for (int i = 0; id && i < ix->n; i++)
        if (strcmp(ix->a[i].id, id) == 0)
            return i;
    return -1;
}

/* A line for the lists prompts show (inboxes, news, memory, the transcript). Lines are cut to fit fixed buffers, and
 * jansson refuses a string cut inside a UTF-8 character, which lost the whole line; the partial character is dropped
 * instead (sources are UTF-8 otherwise: the scenario and validated replies). */
static json_t *line_json(const char *text)
{
    json_t *v = json_string(text);
    const size_t n = text ? strlen(text) : 0;
    for (size_t drop = 1; !v && drop <= 3 && drop <= n; drop++)
        v = json_stringn(text, n - drop);
    return v;
}

static void push_bounded(json_t *list, const char *text, size_t max)
{
    json_array_append_new(list, line_json(text));
    while (json_array_size(list) > max)
        json_array_remove(list, 0);
}

static void row(agora_interact *ix, enum table t, const agora_writer_cell *cells)
{
    if (!ix->wr || ix->failed)
        return;
    if (agora_writer_row(ix->wr, (int)t, cells, NULL, ix->err) != 0)
        ix->failed = 1;
}

/* ---- schemas ----------------------------------------------------------------------------------------------------- */

static json_t *str_schema(int max)
{
    return max > 0 ? json_pack("{s:s, s:i}", "type", "string", "maxLength", max) : json_pack("{s:s}", "type", "string");
}

static void build_schemas(agora_interact *ix)
{
    /* addresses: every actor, every room ("room:<name>"), "all"; the topology decides later what is delivered */
    json_t *to = json_array();
    for (int i = 0; i < ix->n; i++)
        json_array_append_new(to, json_string(ix->a[i].id));
    const char *room;
    json_t *members;
    json_object_foreach(json_object_get(json_object_get(ix->cfg, "topology"), "rooms"), room, members) {
        char r[128];
        snprintf(r, sizeof r, "room:%s", room);
        json_array_append_new(to, json_string(r));
    }
    json_array_append_new(to, json_string("all"));
    json_t *msg = agora__ix_strict_object(
        json_pack("{s:{s:s, s:o}, s:o}", "to", "type", "string", "enum", to, "text", str_schema(MAX_TEXT)));
    json_t *name = str_schema(96);
    const json_t *vocab = json_object_get(ix->cfg, "actions");
    if (json_array_size(vocab) > 0) {
        json_t *names = json_array();
        size_t i;
        json_t *a;
        json_array_foreach(vocab, i, a) {
            json_array_append(names, json_object_get(a, "name"));
        }
        json_object_set_new(name, "enum", names);
        json_object_del(name, "maxLength");
    }
    json_t *act = agora__ix_strict_object(
        json_pack("{s:o, s:o, s:{s:s, s:i, s:I}, s:o}", "name", name, "target", str_schema(96), "duration", "type",
                  "integer", "minimum", 1, "maximum",
                  (json_int_t)json_integer_value(json_object_get(ix->cfg, "max_duration")), "intent", str_schema(300)));
    ix->reply_schema = agora__ix_strict_object(json_pack(
        "{s:o, s:{s:s, s:i, s:o}, s:{s:s, s:i, s:o}}", "reasoning", str_schema(0), "messages", "type", "array",
        "maxItems", MAX_MESSAGES, "items", msg, "actions", "type", "array", "maxItems", MAX_ACTIONS, "items", act));
    /* the world engine: outcomes of the actions completing, and changes to the state's keys */
    json_t *keys = json_array();
    const char *k;
    json_t *v;
    json_object_foreach(ix->state, k, v) {
        json_array_append_new(keys, json_string(k));
    }
    json_t *outcome = agora__ix_strict_object(json_pack("{s:{s:s}, s:{s:s, s:[s, s, s]}, s:o}", "action_id", "type",
                                                        "integer", "result", "type", "string", "enum", "success",
                                                        "partial", "failure", "outcome", str_schema(0)));
    /* a state without keys takes no changes: an empty enum is not a valid schema */
    const size_t n_keys = json_array_size(keys);
    json_t *key = json_pack("{s:s}", "type", "string");
    if (n_keys > 0)
        json_object_set_new(key, "enum", keys);
    else
        json_decref(keys);
    json_t *change = agora__ix_strict_object(
        json_pack("{s:o, s:{s:[s, s, s]}}", "key", key, "value", "type", "number", "string", "boolean"));
    json_t *changes = json_pack("{s:s, s:o}", "type", "array", "items", change);
    if (n_keys == 0)
        json_object_set_new(changes, "maxItems", json_integer(0));
    ix->world_schema =
        agora__ix_strict_object(json_pack("{s:o, s:{s:s, s:o}, s:o}", "narrative", str_schema(0), "outcomes", "type",
                                          "array", "items", outcome, "state_changes", changes));
    /* the evaluator: a score per criterion */
    const json_t *ev = json_object_get(ix->cfg, "evaluation");
    json_t *score = agora__ix_strict_object(
        json_pack("{s:{s:s, s:O}, s:{s:s, s:i, s:I}, s:o}", "criterion", "type", "string", "enum",
                  json_object_get(ev, "criteria"), "score", "type", "number", "minimum", 0, "maximum",
                  (json_int_t)json_integer_value(json_object_get(ev, "scale")), "rationale", str_schema(0)));
    ix->eval_schema = agora__ix_strict_object(json_pack("{s:{s:s, s:o}, s:o, s:o}", "scores", "type", "array", "items",
                                                        score, "narrative", str_schema(0), "synthesis", str_schema(0)));
    ix->enrich_schema = agora__ix_strict_object(json_pack(
        "{s:o, s:{s:s, s:i, s:o}, s:{s:s, s:i, s:o}}", "background", str_schema(0), "memories", "type", "array",
        "maxItems", 5, "items", str_schema(300), "stances", "type", "array", "maxItems", 5, "items",
        agora__ix_strict_object(json_pack("{s:o, s:o}", "topic", str_schema(120), "stance", str_schema(300)))));
}

/* ---- calls ------------------------------------------------------------------------------------------------------- */

typedef struct ask {
    const agora__llm_conf *conf;
    const char *who;     /* recorded as /llm/calls.persona: an actor id, "world", "evaluator", "enrich:<id>" */
    char *system, *user; /* owned */
    const json_t *schema;
    const char *schema_name;
    stats *st;
    json_t *reply;   /* the valid reply, or NULL */
    char source[16]; /* "llm", "invalid", "failed", "budget" (a limit of the run stopped the call) */
    char why[300];   /* what went wrong, when not "llm" */
    double latency_ms;
    int64_t prompt_tokens, completion_tokens;
} ask;

/* The guard's warnings (no server at the URL, the breaker opening, a limit reached), once each, as notes. */
static void guard_note(void *ud, const char *msg)
{
    note((agora_interact *)ud, "llm", "%s", msg);
}

/* Each call the ask service made: the asker's analytics, /llm/calls, and a note when it failed or stayed invalid. */
static void on_call(void *ud, agora__ask *aq, const agora_persona_call *c)
{
    agora_interact *ix = ud;
    const ask *q = aq->ud;
    stats *st = q->st;
    const int ok = strcmp(c->status, "ok") == 0, invalid = strcmp(c->status, "invalid") == 0;
    st->calls++;
    st->invalid += invalid;
    st->failed += !ok && !invalid;
    st->latency_sum += c->latency_ms;
    st->latency_n++;
    st->latency_max = c->latency_ms > st->latency_max ? c->latency_ms : st->latency_max;
    st->prompt_tokens += c->prompt_tokens > 0 ? c->prompt_tokens : 0;
    st->completion_tokens += c->completion_tokens > 0 ? c->completion_tokens : 0;
    st->cost += (c->prompt_tokens > 0 ? (double)c->prompt_tokens * q->conf->price_prompt / 1000 : 0) +
                (c->completion_tokens > 0 ? (double)c->completion_tokens * q->conf->price_completion / 1000 : 0);
    if (ix->wr && !ix->failed && agora_writer_llm_call(ix->wr, c, ix->err) != 0)
        ix->failed = 1;
    /* a call not made was said once for all (the guard's note); a failed one is said each time */
    if (!ok && !invalid && strcmp(c->status, "budget") != 0 && strcmp(c->status, "unreachable") != 0 &&
        strcmp(c->status, "circuit_open") != 0)
        note(ix, q->who, "%s: the call failed (%s: %s)", q->who, c->status, c->error);
    if (invalid && c->attempt == 2)
        note(ix, q->who, "%s: the reply was invalid twice (%s); nothing done", q->who, c->error);
}

/* Asks every ask concurrently through the ask service (llm/ask.h): one repair for an invalid reply. Fills q->reply
 * (or NULL), q->source and q->why, and reports each outcome that was to come from the LLM to the guard. */
static int ask_all(agora_interact *ix, ask *qs, int n)
{
    agora__ask *aq = calloc((size_t)n + 1, sizeof *aq);
    char(*tags)[160] = calloc((size_t)n + 1, sizeof *tags);
    if (!aq || !tags) {
        free(aq);
        free(tags);
        return agora_error_set(ix->err, AGORA_ENOMEM, "interact", "out of memory");
    }
    for (int i = 0; i < n; i++) {
        snprintf(tags[i], sizeof tags[i], "%s/round-%lld", qs[i].who, (long long)ix->round);
        aq[i] = (agora__ask){.conf = (agora__llm_conf *)qs[i].conf,
                             .who = qs[i].who,
                             .system = qs[i].system,
                             .user = qs[i].user,
                             .schema = qs[i].schema,
                             .schema_name = qs[i].schema_name,
                             .tag = tags[i],
                             .ud = &qs[i]};
    }
    ix->guard.warn = guard_note;
    ix->guard.warn_ud = ix;
    agora__asker asker = {.guard = &ix->guard,
                          .replay = ix->replay,
                          .replay_kind = "caller",
                          .replay_until = INT64_MAX,
                          .replay_lenient = ix->opt ? ix->opt->replay_lenient : 0,
                          .unnamed_provider = "offline",
                          .on_call = on_call,
                          .ud = ix};
    int rc = agora__ask_all(&asker, ix->round, aq, n, ix->err);
    for (int i = 0; i < n; i++) {
        ask *q = &qs[i];
        q->reply = aq[i].reply;
        aq[i].reply = NULL;
        snprintf(q->source, sizeof q->source, "%s", aq[i].source);
        if (strcmp(q->source, "invalid") == 0)
            snprintf(q->why, sizeof q->why, "the reply of %s in round %lld stayed invalid after a repair: %.200s",
                     q->who, (long long)ix->round, aq[i].why);
        else if (strcmp(q->source, "llm") != 0)
            snprintf(q->why, sizeof q->why, "%s: %.250s", agora_llm_status_name(aq[i].status), aq[i].why);
        q->latency_ms = aq[i].latency_ms;
        q->prompt_tokens = aq[i].prompt_tokens;
        q->completion_tokens = aq[i].completion_tokens;
    }
    /* the outcome of each ask that was to come from the LLM (a live server, or a recording of one) */
    for (int i = 0; rc == 0 && i < n; i++) {
        const ask *q = &qs[i];
        if (!ix->replay && q->conf->offline)
            continue;
        agora__guard_outcome(&ix->guard,
                             strcmp(q->source, "llm") == 0      ? AGORA__OUT_LLM
                             : strcmp(q->source, "budget") == 0 ? AGORA__OUT_BUDGET
                                                                : AGORA__OUT_FALLBACK,
                             q->why);
    }
    free(aq);
    free(tags);
    return rc;
}

static void ask_free(ask *q)
{
    free(q->system);
    free(q->user);
    json_decref(q->reply);
    memset(q, 0, sizeof *q);
}

/* ---- prompts ----------------------------------------------------------------------------------------------------- */

static void list_texts(agora__buf *b, const char *label, const json_t *list)
{
    if (json_array_size(list) == 0)
        return;
    agora__buf_add(b, "%s: ", label);
    size_t i;
    json_t *t;
    json_array_foreach(list, i, t) {
        agora__buf_add(b, "%s%s", i ? "; " : "", json_string_value(t));
    }
    agora__buf_add(b, "\n");
}

/* Whom actor i may write to: "direct", "broadcast", rooms. */
static int may_direct(const agora_interact *ix, int from, int to)
{
    const json_t *d = json_object_get(json_object_get(ix->cfg, "topology"), "direct");
    if (json_is_string(d))
        return strcmp(json_string_value(d), "all") == 0;
    size_t i;
    json_t *p;
    json_array_foreach(d, i, p) {
        const char *a = json_string_value(json_array_get(p, 0)), *b = json_string_value(json_array_get(p, 1));
        if ((strcmp(a, ix->a[from].id) == 0 && strcmp(b, ix->a[to].id) == 0) ||
            (strcmp(b, ix->a[from].id) == 0 && strcmp(a, ix->a[to].id) == 0))
            return 1;
    }
    return 0;
}

static int in_list(const json_t *list, const char *id)
{
    size_t i;
    json_t *x;
    json_array_foreach(list, i, x) {
        if (strcmp(json_string_value(x), id) == 0)
            return 1;
    }
    return 0;
}

static int may_broadcast(const agora_interact *ix, int from)
{
    const json_t *b = json_object_get(json_object_get(ix->cfg, "topology"), "broadcast");
    if (json_is_string(b))
        return strcmp(json_string_value(b), "all") == 0;
    return in_list(b, ix->a[from].id);
}

static const json_t *room_members(const agora_interact *ix, const char *room)
{
    return json_object_get(json_object_get(json_object_get(ix->cfg, "topology"), "rooms"), room);
}

static char *actor_system(const agora_interact *ix, int i)
{
    const actor *a = &ix->a[i];
    const json_t *c = ix->cfg, *w = json_object_get(c, "world");
    agora__buf b = {0};
    agora__buf_add(
        &b,
        "You are %s, %s. You take part in a simulation of people interacting over %lld rounds; each round is "
        "one %s. Stay in character: decide as %s would, from what you know.\n\n",
        a->name, a->role, (long long)ix->rounds, json_string_value(json_object_get(c, "round_unit")), a->name);
    agora__buf_add(&b, "About you:\n");
    list_texts(&b, "Traits", json_object_get(a->cfg, "traits"));
    list_texts(&b, "Goals", json_object_get(a->cfg, "goals"));
    const char *hist = json_string_value(json_object_get(a->cfg, "history"));
    if (hist && hist[0])
        agora__buf_add(&b, "History: %s\n", hist);
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(a->cfg, "relationships"), k, v) {
        int j = find_actor(ix, k);
        agora__buf_add(&b, "About %s (%s): %s\n", j >= 0 ? ix->a[j].name : k, k, json_string_value(v));
    }
    if (json_object_size(a->profile) > 0) {
        char *p = json_text(a->profile);
        agora__buf_add(&b, "More about you: %s\n", p);
        free(p);
    }
    const char *desc = json_string_value(json_object_get(w, "description"));
    agora__buf_add(&b, "\nThe situation: %s\n", desc && desc[0] ? desc : "(not described)");
    list_texts(&b, "Rules of the world", json_object_get(w, "rules"));
    agora__buf_add(&b, "\nThe others:");
    for (int j = 0; j < ix->n; j++)
        if (j != i)
            agora__buf_add(&b, " %s (id %s, %s%s);", ix->a[j].name, ix->a[j].id, ix->a[j].role,
                           may_direct(ix, i, j) ? "" : ", you cannot write to them directly");
    agora__buf_add(&b, "\nYou can send messages to: an actor's id (directly)");
    const char *room;
    json_t *members;
    json_object_foreach(json_object_get(json_object_get(c, "topology"), "rooms"), room, members) {
        if (in_list(members, a->id))
            agora__buf_add(&b, ", room:%s (everyone in that room)", room);
    }
    if (may_broadcast(ix, i))
        agora__buf_add(&b, ", all (everyone)");
    agora__buf_add(&b, ". Messages arrive at the start of the next round.\n");
    const json_t *vocab = json_object_get(c, "actions");
    if (json_array_size(vocab) > 0) {
        agora__buf_add(&b, "Actions you can take:");
        size_t n;
        json_t *x;
        json_array_foreach(vocab, n, x) {
            const char *d = json_string_value(json_object_get(x, "description"));
            agora__buf_add(&b, "%s %s%s%s", n ? ";" : "", json_string_value(json_object_get(x, "name")),
                           d && d[0] ? ": " : "", d ? d : "");
        }
        agora__buf_add(&b, ".\n");
    } else {
        agora__buf_add(&b, "Actions: any concrete thing you do in the world, named in a few words.\n");
    }
    agora__buf_add(&b,
                   "An action lasts `duration` rounds (1 to %lld); the world decides its outcome when it ends, and you "
                   "are told.\n\nAnswer with one JSON object and nothing else: {\"reasoning\": \"a few sentences\", "
                   "\"messages\": [{\"to\": \"<id>|room:<name>|all\", \"text\": \"...\"}], \"actions\": [{\"name\": "
                   "\"...\", \"target\": \"<actor id, place or thing; empty if none>\", \"duration\": 1, \"intent\": "
                   "\"...\"}]}. At most %d messages and %d actions; empty lists are fine.",
                   (long long)json_integer_value(json_object_get(c, "max_duration")), MAX_MESSAGES, MAX_ACTIONS);
    return b.s;
}

static void state_text(agora__buf *b, const json_t *state)
{
    char *s = json_text(state);
    agora__buf_add(b, "World state: %s\n", s);
    free(s);
}

static char *actor_user(const agora_interact *ix, int i, const json_t *earlier)
{
    const actor *a = &ix->a[i];
    char t[64];
    agora__interact_time(ix->cfg, ix->round, t, sizeof t);
    agora__buf b = {0};
    agora__buf_add(&b, "Round %lld of %lld (%s).\n", (long long)ix->round, (long long)ix->rounds, t);
    state_text(&b, ix->state);
    if (json_array_size(a->memory) > 0) {
        agora__buf_add(&b, "\nYour memory (oldest first):\n");
        size_t k;
        json_t *m;
        json_array_foreach(a->memory, k, m) {
            agora__buf_add(&b, "- %s\n", json_string_value(m));
        }
    }
    if (json_array_size(a->news) > 0) {
        agora__buf_add(&b, "\nSince your last turn:\n");
        size_t k;
        json_t *m;
        json_array_foreach(a->news, k, m) {
            agora__buf_add(&b, "- %s\n", json_string_value(m));
        }
    }
    int busy = 0;
    for (size_t k = 0; k < ix->n_acts; k++) {
        const action *x = &ix->acts[k];
        if (x->actor == i && (x->status == ACTIVE || x->status == SCHEDULED)) {
            if (!busy++)
                agora__buf_add(&b, "\nYour actions under way:\n");
            agora__buf_add(&b, "- %s%s%s (rounds %lld-%lld)\n", x->name, x->target[0] ? " -> " : "", x->target,
                           (long long)x->start, (long long)x->end);
        }
    }
    agora__buf_add(&b, "\nMessages to you:");
    if (json_array_size(a->inbox) == 0)
        agora__buf_add(&b, " none\n");
    else {
        agora__buf_add(&b, "\n");
        size_t k;
        json_t *m;
        json_array_foreach(a->inbox, k, m) {
            agora__buf_add(&b, "- %s\n", json_string_value(m));
        }
    }
    if (json_array_size(earlier) > 0) {
        agora__buf_add(&b, "\nEarlier this round:\n");
        size_t k;
        json_t *m;
        json_array_foreach((json_t *)earlier, k, m) {
            agora__buf_add(&b, "- %s\n", json_string_value(m));
        }
    }
    agora__buf_add(&b, "\nWhat do you do this round?");
    return b.s;
}

/* ---- a round ----------------------------------------------------------------------------------------------------- */

static action *new_action(agora_interact *ix)
{
    if (ix->n_acts == ix->cap_acts) {
        size_t cap = ix->cap_acts ? 2 * ix->cap_acts : 32;
        action *p = realloc(ix->acts, cap * sizeof *p);
        if (!p)
            return NULL;
        ix->acts = p;
        ix->cap_acts = cap;
    }
    action *x = &ix->acts[ix->n_acts];
    memset(x, 0, sizeof *x);
    x->id = (int64_t)ix->n_acts++;
    return x;
}

static void action_event(agora_interact *ix, const action *x)
{
    agora_writer_cell cells[] = {
        {.i = ix->round}, {.i = x->id},     {.s = ix->a[x->actor].id}, {.s = x->name}, {.s = x->target},
        {.s = x->intent}, {.i = x->start},  {.i = x->duration},        {.i = x->end},  {.s = status_names[x->status]},
        {.s = x->result}, {.s = x->outcome}};
    row(ix, T_ACTIONS, cells);
    emit(ix, (agora_ix_event){.kind = AGORA_IX_ACTION,
                              .action_id = x->id,
                              .actor = ix->a[x->actor].id,
                              .name = x->name,
                              .target = x->target,
                              .duration = x->duration,
                              .text = x->intent,
                              .status = status_names[x->status],
                              .detail = x->outcome});
}

static void message_row(agora_interact *ix, const char *from, const char *to, const char *room, const char *kind,
                        const char *text, const char *status, const char *reason)
{
    agora_writer_cell cells[] = {{.i = ix->round}, {.s = from}, {.s = to},     {.s = room},
                                 {.s = kind},      {.s = text}, {.s = status}, {.s = reason}};
    row(ix, T_MESSAGES, cells);
}

/* Delivers to actor j: this round when it has not acted yet (sequential turns), else next round. */
static void deliver(agora_interact *ix, int j, const char *line, int now)
{
    actor *r = &ix->a[j];
    push_bounded(now && !r->acted ? r->inbox : r->next_inbox, line, ix->max_inbox);
    r->st.received++;
}

/* Routes one message of actor i. Broadcasts are public: `seen` (the later actors of a sequential round, may be NULL)
 * and `said` (the world engine) hear them; a room's talk reaches its members only. */
static void route(agora_interact *ix, int i, const char *to, const char *text, int sequential, json_t *seen,
                  json_t *said)
{
    actor *a = &ix->a[i];
    char line[MAX_TEXT + 200], reason[160] = "";
    const char *kind = "direct", *room = "";
    int ok = 1;
    if (strcmp(to, "all") == 0) {
        kind = "broadcast";
        room = "all";
        if (!(ok = may_broadcast(ix, i)))
            snprintf(reason, sizeof reason, "%s may not broadcast", a->id);
    } else if (strncmp(to, "room:", 5) == 0) {
        kind = "room";
        room = to + 5;
        const json_t *members = room_members(ix, room);
        if (!members)
            ok = 0, snprintf(reason, sizeof reason, "there is no room %s", room);
        else if (!(ok = in_list(members, a->id)))
            snprintf(reason, sizeof reason, "%s is not in room %s", a->id, room);
    } else {
        int j = find_actor(ix, to);
        if (j < 0 || j == i)
            ok = 0, snprintf(reason, sizeof reason, j < 0 ? "no actor %s" : "a message to oneself", to);
        else if (!(ok = may_direct(ix, i, j)))
            snprintf(reason, sizeof reason, "%s cannot reach %s directly", a->id, to);
    }
    message_row(ix, a->id, strcmp(kind, "direct") == 0 ? to : "", room, kind, text, ok ? "delivered" : "blocked",
                reason);
    emit(ix, (agora_ix_event){.kind = AGORA_IX_MESSAGE,
                              .actor = a->id,
                              .target = to,
                              .text = text,
                              .status = ok ? "delivered" : "blocked",
                              .detail = reason});
    if (!ok) {
        a->st.blocked++;
        char msg[400];
        snprintf(msg, sizeof msg, "Your message to %s was not delivered: %s.", to, reason);
        push_bounded(a->news, msg, NEWS_MAX);
        return;
    }
    a->st.sent++;
    char shown[MAX_TEXT + 8];
    cut(text, MAX_TEXT, shown, sizeof shown);
    if (strcmp(kind, "direct") == 0)
        snprintf(line, sizeof line, "from %s (%s), to you: %s", a->name, a->id, shown);
    else
        snprintf(line, sizeof line, "from %s (%s), to %s: %s", a->name, a->id, strcmp(kind, "room") == 0 ? to : "all",
                 shown);
    for (int j = 0; j < ix->n; j++) {
        if (j == i)
            continue;
        int to_j = strcmp(kind, "broadcast") == 0 ||
                   (strcmp(kind, "room") == 0 && in_list(room_members(ix, room), ix->a[j].id)) ||
                   (strcmp(kind, "direct") == 0 && strcmp(ix->a[j].id, to) == 0);
        if (to_j)
            deliver(ix, j, line, sequential);
    }
    if (strcmp(kind, "broadcast") == 0) /* later actors of a sequential round already have it in their inbox */
        json_array_append_new(said, line_json(line));
    (void)seen;
    char tl[MAX_TEXT + 200];
    snprintf(tl, sizeof tl, "  %s -> %s: %s", a->id, to, shown);
    json_array_append_new(ix->transcript, line_json(tl));
}

/* Applies actor i's decision (q->reply may be NULL: a failed or invalid turn). */
static void take_turn(agora_interact *ix, int i, ask *q, int sequential, json_t *seen, json_t *said)
{
    actor *a = &ix->a[i];
    const json_t *r = q->reply;
    const char *reasoning = r ? json_string_value(json_object_get(r, "reasoning")) : "";
    const json_t *msgs = json_object_get(r, "messages"), *acts = json_object_get(r, "actions");
    a->st.turns++;
    a->acted = 1;
    agora_writer_cell cells[] = {{.i = ix->round},
                                 {.s = a->id},
                                 {.s = q->source},
                                 {.s = reasoning},
                                 {.i = (int64_t)json_array_size(msgs)},
                                 {.i = (int64_t)json_array_size(acts)},
                                 {.f = q->latency_ms},
                                 {.i = q->prompt_tokens},
                                 {.i = q->completion_tokens}};
    row(ix, T_TURNS, cells);
    emit(ix, (agora_ix_event){.kind = AGORA_IX_TURN, .actor = a->id, .text = reasoning, .status = q->source});
    json_array_clear(a->news);
    agora__buf mem = {0};
    char t[64], buf[400];
    agora__interact_time(ix->cfg, ix->round, t, sizeof t);
    agora__buf_add(&mem, "%s:", t);
    if (!r)
        agora__buf_add(&mem, " you could not act (%s).", q->source);
    else if (reasoning && reasoning[0])
        agora__buf_add(&mem, " you thought \"%s\".", cut(reasoning, 200, buf, sizeof buf));
    size_t k;
    json_t *m;
    json_array_foreach(msgs, k, m) {
        const char *to = json_string_value(json_object_get(m, "to")),
                   *text = json_string_value(json_object_get(m, "text"));
        route(ix, i, to, text, sequential, seen, said);
        agora__buf_add(&mem, " You told %s: \"%s\".", to, cut(text, 160, buf, sizeof buf));
    }
    json_array_foreach(acts, k, m) {
        action *x = new_action(ix);
        if (!x)
            break;
        x->actor = i;
        x->name = strdup(json_string_value(json_object_get(m, "name")));
        x->target = strdup(json_string_value(json_object_get(m, "target")));
        x->intent = strdup(json_string_value(json_object_get(m, "intent")));
        x->result = strdup("");
        x->outcome = strdup("");
        x->duration = (int)json_integer_value(json_object_get(m, "duration"));
        x->proposed = x->start = ix->round;
        x->end = ix->round + x->duration - 1;
        x->status = SCHEDULED;
        a->st.actions++;
        action_event(ix, x);
        agora__buf_add(&mem, " You started \"%s\"%s%s for %d round%s.", x->name, x->target[0] ? " on " : "", x->target,
                       x->duration, x->duration == 1 ? "" : "s");
        snprintf(buf, sizeof buf, "%s (%s) started \"%s\"%s%s", a->name, a->id, x->name, x->target[0] ? " on " : "",
                 x->target);
        if (seen)
            json_array_append_new(seen, line_json(buf));
        char tl[500];
        snprintf(tl, sizeof tl, "  %s for %d round%s", buf, x->duration, x->duration == 1 ? "" : "s");
        json_array_append_new(ix->transcript, line_json(tl));
    }
    push_bounded(a->memory, mem.s ? mem.s : t, ix->max_items);
    free(mem.s);
}

static int decide(agora_interact *ix, json_t *said)
{
    const int sequential = strcmp(json_string_value(json_object_get(ix->cfg, "turn_order")), "sequential") == 0;
    ask *qs = calloc((size_t)ix->n, sizeof *qs);
    json_t *seen = sequential ? json_array() : NULL;
    int rc = 0;
    if (!qs)
        return agora_error_set(ix->err, AGORA_ENOMEM, "interact", "out of memory");
    for (int i = 0; i < ix->n; i++) {
        qs[i] = (ask){.conf = &ix->a[i].conf,
                      .who = ix->a[i].id,
                      .system = actor_system(ix, i),
                      .schema = ix->reply_schema,
                      .schema_name = "turn",
                      .st = &ix->a[i].st};
        ix->a[i].acted = 0;
    }
    if (!sequential) { /* everyone at once, on what they knew at the start of the round */
        for (int i = 0; i < ix->n; i++)
            qs[i].user = actor_user(ix, i, NULL);
        if ((rc = ask_all(ix, qs, ix->n)))
            goto done;
        for (int i = 0; i < ix->n; i++)
            take_turn(ix, i, &qs[i], 0, NULL, said);
    } else { /* one after another, each seeing what the earlier ones did in public and said to it */
        for (int i = 0; i < ix->n && !(ix->opt && ix->opt->cancel && *ix->opt->cancel); i++) {
            qs[i].user = actor_user(ix, i, seen);
            if ((rc = ask_all(ix, &qs[i], 1)))
                goto done;
            take_turn(ix, i, &qs[i], 1, seen, said);
        }
    }
done:
    for (int i = 0; i < ix->n; i++)
        ask_free(&qs[i]);
    free(qs);
    json_decref(seen);
    return rc;
}

static void apply_dynamics(agora_interact *ix)
{
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(json_object_get(ix->cfg, "world"), "dynamics"), i, d) {
        const char *key = json_string_value(json_object_get(d, "key"));
        double v = json_number_value(json_object_get(ix->state, key));
        const json_t *x;
        if ((x = json_object_get(d, "set")))
            v = json_number_value(x);
        if ((x = json_object_get(d, "add")))
            v += json_number_value(x);
        if ((x = json_object_get(d, "mul")))
            v *= json_number_value(x);
        if ((x = json_object_get(d, "min")) && v < json_number_value(x))
            v = json_number_value(x);
        if ((x = json_object_get(d, "max")) && v > json_number_value(x))
            v = json_number_value(x);
        json_object_set_new(ix->state, key, json_real(v));
    }
}

static char *world_system(const agora_interact *ix)
{
    const json_t *w = json_object_get(ix->cfg, "world");
    agora__buf b = {0};
    agora__buf_add(
        &b,
        "You are the world engine (the game master) of a simulation in rounds; a round is one %s. You decide "
        "impartially and plausibly what actually happens: the outcome of each action that completes this "
        "round (success, partial or failure, given the world's state, the rules and any conflict between "
        "actions), and how the world state changes. Actors may fail; conflicting actions cannot all "
        "succeed.\n\nThe situation: %s\n",
        json_string_value(json_object_get(ix->cfg, "round_unit")),
        json_string_value(json_object_get(w, "description")));
    list_texts(&b, "Rules", json_object_get(w, "rules"));
    if (json_array_size(json_object_get(w, "dynamics")) > 0)
        agora__buf_add(&b, "The environment changes by itself every round (already applied to the state you see).\n");
    agora__buf_add(&b, "The actors:");
    for (int i = 0; i < ix->n; i++)
        agora__buf_add(&b, " %s (id %s, %s);", ix->a[i].name, ix->a[i].id, ix->a[i].role);
    agora__buf_add(&b,
                   "\n\nAnswer with one JSON object and nothing else: {\"narrative\": \"what happened this round, a "
                   "short paragraph\", \"outcomes\": [{\"action_id\": 0, \"result\": \"success|partial|failure\", "
                   "\"outcome\": \"what came of it\"}] (one per completing action), \"state_changes\": [{\"key\": "
                   "\"<a key of the world state>\", \"value\": ...}]}.");
    return b.s;
}

static char *world_user(const agora_interact *ix, const json_t *said)
{
    char t[64];
    agora__interact_time(ix->cfg, ix->round, t, sizeof t);
    agora__buf b = {0};
    agora__buf_add(&b, "Round %lld of %lld (%s).\n", (long long)ix->round, (long long)ix->rounds, t);
    state_text(&b, ix->state);
    agora__buf_add(&b, "\nActions completing this round (resolve each):\n");
    int any = 0;
    for (size_t k = 0; k < ix->n_acts; k++) {
        const action *x = &ix->acts[k];
        if (x->status == ACTIVE && x->end == ix->round) {
            agora__buf_add(&b, "- action_id %lld: %s (%s) does \"%s\"%s%s, intent: %s (rounds %lld-%lld)\n",
                           (long long)x->id, ix->a[x->actor].name, ix->a[x->actor].id, x->name,
                           x->target[0] ? " on " : "", x->target, x->intent, (long long)x->start, (long long)x->end);
            any = 1;
        }
    }
    if (!any)
        agora__buf_add(&b, "- none\n");
    any = 0;
    for (size_t k = 0; k < ix->n_acts; k++) {
        const action *x = &ix->acts[k];
        if (x->status == ACTIVE && x->end > ix->round) {
            if (!any++)
                agora__buf_add(&b, "\nActions still under way (for context, not to resolve yet):\n");
            agora__buf_add(&b, "- %s (%s): \"%s\"%s%s until round %lld\n", ix->a[x->actor].name, ix->a[x->actor].id,
                           x->name, x->target[0] ? " on " : "", x->target, (long long)x->end);
        }
    }
    if (json_array_size(said) > 0) {
        agora__buf_add(&b, "\nSaid in public this round:\n");
        size_t k;
        json_t *m;
        json_array_foreach((json_t *)said, k, m) {
            agora__buf_add(&b, "- %s\n", json_string_value(m));
        }
    }
    agora__buf_add(&b, "\nWhat happens?");
    return b.s;
}

static int same_kind(const json_t *a, const json_t *b)
{
    return (json_is_number(a) && json_is_number(b)) || (json_is_string(a) && json_is_string(b)) ||
           (json_is_boolean(a) && json_is_boolean(b));
}

static int world_turn(agora_interact *ix, const json_t *said)
{
    /* actions decided this round start now */
    for (size_t k = 0; k < ix->n_acts; k++)
        if (ix->acts[k].status == SCHEDULED && ix->acts[k].start <= ix->round) {
            ix->acts[k].status = ACTIVE;
            action_event(ix, &ix->acts[k]);
        }
    apply_dynamics(ix);
    ask q = {.conf = &ix->world,
             .who = "world",
             .system = world_system(ix),
             .user = world_user(ix, said),
             .schema = ix->world_schema,
             .schema_name = "world",
             .st = &ix->world_st};
    int rc = ask_all(ix, &q, 1);
    if (rc) {
        ask_free(&q);
        return rc;
    }
    const json_t *r = q.reply;
    const char *narrative = r ? json_string_value(json_object_get(r, "narrative")) : "";
    ix->world_st.turns++;
    size_t k;
    json_t *c;
    json_array_foreach(json_object_get(r, "state_changes"), k, c) {
        const char *key = json_string_value(json_object_get(c, "key"));
        const json_t *v = json_object_get(c, "value"), *old = json_object_get(ix->state, key);
        if (old && same_kind(old, v))
            json_object_set(ix->state, key, (json_t *)v);
        else
            note(ix, "world", "world: state change of %s ignored (a %s for a %s)", key, agora__json_kind(v),
                 agora__json_kind(old));
    }
    /* the outcomes of the actions completing now, delivered to the actor and its target */
    for (size_t a = 0; a < ix->n_acts; a++) {
        action *x = &ix->acts[a];
        if (x->status != ACTIVE || x->end != ix->round)
            continue;
        const json_t *o = NULL;
        size_t j;
        json_t *y;
        json_array_foreach(json_object_get(r, "outcomes"), j, y) {
            if (json_integer_value(json_object_get(y, "action_id")) == x->id) {
                o = y;
                break;
            }
        }
        free(x->result);
        free(x->outcome);
        x->result = strdup(o ? json_string_value(json_object_get(o, "result")) : "unknown");
        x->outcome = strdup(o   ? json_string_value(json_object_get(o, "outcome"))
                            : r ? "the world engine reported no outcome"
                            : strcmp(q.source, "budget") == 0
                                ? "the world engine was not asked (the LLM budget was reached); the outcome is unknown"
                                : "the world engine did not answer; the outcome is unknown");
        x->status = strcmp(x->result, "failure") == 0 ? FAILED : COMPLETED;
        action_event(ix, x);
        char msg[900], oc[600];
        cut(x->outcome, 500, oc, sizeof oc);
        snprintf(msg, sizeof msg, "Outcome of your action \"%s\"%s%s: %s. %s", x->name, x->target[0] ? " on " : "",
                 x->target, x->result, oc);
        push_bounded(ix->a[x->actor].news, msg, NEWS_MAX);
        push_bounded(ix->a[x->actor].memory, msg, ix->max_items);
        int t = find_actor(ix, x->target);
        if (t >= 0 && t != x->actor) {
            snprintf(msg, sizeof msg, "%s (%s) did \"%s\" to you: %s. %s", ix->a[x->actor].name, ix->a[x->actor].id,
                     x->name, x->result, oc);
            push_bounded(ix->a[t].news, msg, NEWS_MAX);
        }
        char line[1200];
        snprintf(line, sizeof line, "  %s by %s: %s (%s)", x->name, ix->a[x->actor].id, x->result, oc);
        json_array_append_new(ix->transcript, line_json(line));
    }
    if (narrative && narrative[0]) {
        char msg[NARRATIVE_SHOWN + 64], nv[NARRATIVE_SHOWN + 8];
        snprintf(msg, sizeof msg, "The world: %s", cut(narrative, NARRATIVE_SHOWN, nv, sizeof nv));
        for (int i = 0; i < ix->n; i++)
            push_bounded(ix->a[i].news, msg, NEWS_MAX);
    }
    char *st = json_text(ix->state);
    agora_writer_cell cells[] = {{.i = ix->round}, {.s = q.source}, {.s = narrative}, {.s = st}};
    row(ix, T_WORLD, cells);
    emit(ix, (agora_ix_event){.kind = AGORA_IX_WORLD, .text = narrative, .detail = st, .status = q.source});
    char t[64], line[1400], nv[1200];
    agora__interact_time(ix->cfg, ix->round, t, sizeof t);
    snprintf(line, sizeof line, "%s: %s State: %s", t, cut(narrative, 1000, nv, sizeof nv), st);
    json_array_append_new(ix->transcript, line_json(line));
    free(st);
    ask_free(&q);
    return 0;
}

static int write_metrics(agora_interact *ix)
{
    if (ix->n_metrics == 0 || !ix->wr || ix->failed)
        return 0;
    double v[256];
    for (int m = 0; m < ix->n_metrics && m < 256; m++) {
        const json_t *x = json_object_get(ix->state, ix->metric_keys[m]);
        v[m] = json_is_number(x) ? json_number_value(x) : NAN;
    }
    if (agora_writer_metrics(ix->wr, ix->round, v, ix->err) != 0)
        ix->failed = 1;
    return 0;
}

/* ---- enrichment and evaluation ----------------------------------------------------------------------------------- */

static char *read_sources(const agora_interact *ix, const char *base_dir)
{
    const json_t *en = json_object_get(ix->cfg, "enrich");
    size_t max = (size_t)json_integer_value(json_object_get(en, "max_chars"));
    agora__buf b = {0};
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(en, "sources"), i, s) {
        char path[4200];
        const char *p = json_string_value(s);
        snprintf(path, sizeof path, "%s%s%s", p[0] == '/' || !base_dir ? "" : base_dir,
                 p[0] == '/' || !base_dir ? "" : "/", p);
        FILE *f = fopen(path, "rb");
        if (!f)
            continue;
        char *buf = malloc(max + 1);
        size_t n = buf ? fread(buf, 1, max, f) : 0;
        fclose(f);
        if (buf) {
            buf[n] = '\0';
            agora__buf_add(&b, "--- %s ---\n%s\n", p, buf);
        }
        free(buf);
        if (b.n >= max)
            break;
    }
    if (b.s && b.n > max)
        b.s[max] = '\0';
    return b.s;
}

static int enrich(agora_interact *ix, const char *base_dir)
{
    char *sources = read_sources(ix, base_dir);
    ask *qs = calloc((size_t)ix->n, sizeof *qs);
    char(*who)[96] = calloc((size_t)ix->n, sizeof *who);
    int rc = 0;
    if (!qs || !who) {
        rc = agora_error_set(ix->err, AGORA_ENOMEM, "interact", "out of memory");
        goto done;
    }
    for (int i = 0; i < ix->n; i++) {
        snprintf(who[i], sizeof who[i], "enrich:%s", ix->a[i].id);
        agora__buf u = {0};
        char *sys = actor_system(ix, i);
        agora__buf_add(&u, "Here is the profile of a character in a simulation:\n\n%s\n\n", sys);
        free(sys);
        if (sources && sources[0])
            agora__buf_add(&u, "Ground it in this material:\n%s\n\n", sources);
        agora__buf_add(&u,
                       "Deepen this character: write a background (a paragraph), up to 5 concrete memories that shape "
                       "how they act, and up to 5 stances on the issues at stake. Stay consistent with the profile. "
                       "Answer with one JSON object: {\"background\": \"...\", \"memories\": [\"...\"], \"stances\": "
                       "[{\"topic\": \"...\", \"stance\": \"...\"}]}.");
        qs[i] = (ask){.conf = &ix->enricher,
                      .who = who[i],
                      .system = strdup("You are a writer who builds rich, believable characters for social "
                                       "simulations. You answer in JSON only."),
                      .user = u.s,
                      .schema = ix->enrich_schema,
                      .schema_name = "profile",
                      .st = &ix->enrich_st};
    }
    if ((rc = ask_all(ix, qs, ix->n)))
        goto done;
    for (int i = 0; i < ix->n; i++)
        if (qs[i].reply) {
            json_object_update(ix->a[i].profile, qs[i].reply);
            ix->enrich_st.turns++;
        }
done:
    for (int i = 0; qs && i < ix->n; i++)
        ask_free(&qs[i]);
    free(qs);
    free(who);
    free(sources);
    return rc;
}

static int evaluate(agora_interact *ix, json_t **evaluation)
{
    const json_t *ev = json_object_get(ix->cfg, "evaluation");
    agora__buf u = {0};
    const char *desc = json_string_value(json_object_get(json_object_get(ix->cfg, "world"), "description"));
    agora__buf_add(&u, "The situation: %s\nThe actors:", desc);
    for (int i = 0; i < ix->n; i++)
        agora__buf_add(&u, " %s (id %s, %s);", ix->a[i].name, ix->a[i].id, ix->a[i].role);
    agora__buf_add(&u, "\n\nWhat happened, round by round:\n");
    /* the most recent part of the run when it is too long */
    size_t total = 0, first = json_array_size(ix->transcript);
    while (first > 0 && total + strlen(json_string_value(json_array_get(ix->transcript, first - 1))) < TRANSCRIPT_MAX)
        total += strlen(json_string_value(json_array_get(ix->transcript, --first)));
    if (first > 0)
        agora__buf_add(&u, "(the first %zu lines are left out)\n", first);
    for (size_t k = first; k < json_array_size(ix->transcript); k++)
        agora__buf_add(&u, "%s\n", json_string_value(json_array_get(ix->transcript, k)));
    state_text(&u, ix->state);
    agora__buf_add(&u, "\nScore the run from 0 to %lld on each criterion:",
                   (long long)json_integer_value(json_object_get(ev, "scale")));
    size_t k;
    json_t *c;
    json_array_foreach(json_object_get(ev, "criteria"), k, c) {
        agora__buf_add(&u, "%s %s", k ? "," : "", json_string_value(c));
    }
    agora__buf_add(&u,
                   ". Then write a narrative of the run and a synthesis of its social dynamics (alliances, conflicts, "
                   "influence, turning points). Answer with one JSON object: {\"scores\": [{\"criterion\": \"...\", "
                   "\"score\": 0, \"rationale\": \"...\"}], \"narrative\": \"...\", \"synthesis\": \"...\"}.");
    ask q = {.conf = &ix->evaluator,
             .who = "evaluator",
             .system = strdup("You are an impartial evaluator of social simulations. You judge what the actors did, "
                              "not what they said they would do. You answer in JSON only."),
             .user = u.s,
             .schema = ix->eval_schema,
             .schema_name = "evaluation",
             .st = &ix->eval_st};
    int rc = ask_all(ix, &q, 1);
    if (rc == 0 && q.reply) {
        ix->eval_st.turns++;
        json_t *scores = json_object();
        json_array_foreach(json_object_get(ev, "criteria"), k, c) {
            const char *name = json_string_value(c);
            const json_t *s = NULL;
            size_t j;
            json_t *y;
            json_array_foreach(json_object_get(q.reply, "scores"), j, y) {
                if (strcmp(json_string_value(json_object_get(y, "criterion")), name) == 0)
                    s = y;
            }
            double v = s ? json_number_value(json_object_get(s, "score")) : NAN;
            agora_writer_cell cells[] = {
                {.s = name}, {.f = v}, {.s = s ? json_string_value(json_object_get(s, "rationale")) : "not scored"}};
            row(ix, T_EVALUATION, cells);
            json_object_set_new(scores, name, isnan(v) ? json_null() : json_real(v));
        }
        const char *narr = json_string_value(json_object_get(q.reply, "narrative")),
                   *syn = json_string_value(json_object_get(q.reply, "synthesis"));
        agora_writer_cell n1[] = {{.s = "narrative"}, {.f = NAN}, {.s = narr}};
        agora_writer_cell n2[] = {{.s = "synthesis"}, {.f = NAN}, {.s = syn}};
        row(ix, T_EVALUATION, n1);
        row(ix, T_EVALUATION, n2);
        *evaluation = json_pack("{s:o, s:s, s:s}", "scores", scores, "narrative", narr, "synthesis", syn);
        char *detail = json_text(*evaluation);
        emit(ix, (agora_ix_event){.kind = AGORA_IX_EVALUATION, .text = narr, .detail = detail, .status = "llm"});
        free(detail);
    } else if (rc == 0) {
        agora_writer_cell cells[] = {{.s = "evaluation"},
                                     {.f = NAN},
                                     {.s = strcmp(q.source, "budget") == 0
                                               ? "not scored: the LLM budget was reached before the evaluation"
                                               : "the evaluator gave no valid answer"}};
        row(ix, T_EVALUATION, cells);
    }
    ask_free(&q);
    return rc;
}

static void analytics_row(agora_interact *ix, const char *who, const char *kind, const stats *s, json_t *out)
{
    double mean = s->latency_n ? s->latency_sum / (double)s->latency_n : NAN;
    agora_writer_cell cells[] = {{.s = who},
                                 {.s = kind},
                                 {.i = s->turns},
                                 {.i = s->sent},
                                 {.i = s->received},
                                 {.i = s->blocked},
                                 {.i = s->actions},
                                 {.i = s->calls},
                                 {.i = s->failed},
                                 {.i = s->invalid},
                                 {.f = mean},
                                 {.f = s->latency_max},
                                 {.i = s->prompt_tokens},
                                 {.i = s->completion_tokens},
                                 {.f = s->cost}};
    row(ix, T_ANALYTICS, cells);
    json_object_set_new(out, who,
                        json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:f, s:I, s:I, s:f}", "kind",
                                  kind, "turns", (json_int_t)s->turns, "messages_sent", (json_int_t)s->sent,
                                  "messages_received", (json_int_t)s->received, "messages_blocked",
                                  (json_int_t)s->blocked, "actions", (json_int_t)s->actions, "calls",
                                  (json_int_t)s->calls, "failed_calls", (json_int_t)s->failed, "invalid_replies",
                                  (json_int_t)s->invalid, "latency_ms_mean",
                                  isnan(mean) ? json_null() : json_real(mean), "latency_ms_max", s->latency_max,
                                  "prompt_tokens", (json_int_t)s->prompt_tokens, "completion_tokens",
                                  (json_int_t)s->completion_tokens, "cost", s->cost));
}

/* ---- the run ----------------------------------------------------------------------------------------------------- */

int agora_interact_say(agora_interact *ix, const char *to, const char *text, agora_error *err)
{
    int j = ix ? find_actor(ix, to) : -1;
    if (j < 0)
        return agora_error_set(err, AGORA_ENOTFOUND, "say", "no actor \"%s\"", to ? to : "");
    char line[MAX_TEXT + 64], shown[MAX_TEXT + 8];
    snprintf(line, sizeof line, "from the operator (outside the simulation), to you: %s",
             cut(text, MAX_TEXT, shown, sizeof shown));
    message_row(ix, "operator", to, "", "operator", text, "delivered", "");
    emit(ix, (agora_ix_event){.kind = AGORA_IX_MESSAGE,
                              .actor = "operator",
                              .target = to,
                              .text = text,
                              .status = "delivered",
                              .detail = ""});
    push_bounded(ix->a[j].next_inbox, line, 200);
    return 0;
}

int agora_interact_actor_count(const agora_interact *ix)
{
    return ix ? ix->n : 0;
}

const char *agora_interact_actor_id(const agora_interact *ix, int i)
{
    return ix && i >= 0 && i < ix->n ? ix->a[i].id : NULL;
}

void agora_interact_result_free(agora_interact_result *res)
{
    if (!res)
        return;
    json_decref(res->evaluation);
    json_decref(res->summary);
    res->evaluation = res->summary = NULL;
}

static void ix_free(agora_interact *ix)
{
    for (int i = 0; ix->a && i < ix->n; i++) {
        actor *a = &ix->a[i];
        agora__llm_conf_free(&a->conf);
        json_decref(a->profile);
        json_decref(a->inbox);
        json_decref(a->next_inbox);
        json_decref(a->news);
        json_decref(a->memory);
    }
    free(ix->a);
    for (size_t k = 0; k < ix->n_acts; k++) {
        action *x = &ix->acts[k];
        free(x->name);
        free(x->target);
        free(x->intent);
        free(x->result);
        free(x->outcome);
    }
    free(ix->acts);
    free(ix->metric_keys);
    json_decref(ix->state);
    agora__llm_conf_free(&ix->world);
    agora__llm_conf_free(&ix->evaluator);
    agora__llm_conf_free(&ix->enricher);
    json_decref(ix->replay);
    json_decref(ix->transcript);
    json_decref(ix->reply_schema);
    json_decref(ix->world_schema);
    json_decref(ix->eval_schema);
    json_decref(ix->enrich_schema);
    agora__guard_free(&ix->guard);
}

static int conf_for(const json_t *cfg, const char *role, agora__llm_conf *c, agora_error *err)
{
    const json_t *l = json_object_get(json_object_get(cfg, "roles"), role);
    char where[64];
    snprintf(where, sizeof where, "roles.%s", role);
    return agora__llm_conf_parse(json_is_object(l) ? l : NULL, where, c, err);
}

/* The request seed: the llm block's, else the scenario's, so runs of other seeds sample differently. */
static void seed_conf(agora__llm_conf *c, int64_t seed)
{
    if (c->llm.seed < 0)
        c->llm.seed = seed;
}

static int setup(agora_interact *ix, const agora_scenario *sc, agora_error *err)
{
    const json_t *cfg = ix->cfg;
    int rc;
    ix->seed = (int64_t)json_integer_value(json_object_get(cfg, "seed"));
    ix->rounds = (int64_t)json_integer_value(json_object_get(cfg, "rounds"));
    const json_t *mem = json_object_get(cfg, "memory");
    ix->max_items = (size_t)json_integer_value(json_object_get(mem, "max_items"));
    ix->max_inbox = (size_t)json_integer_value(json_object_get(mem, "max_inbox"));
    ix->state = json_deep_copy(json_object_get(json_object_get(cfg, "world"), "state"));
    ix->transcript = json_array();
    /* the run's limits: the top-level llm block's (actors and roles may not set their own) */
    agora__llm_conf top;
    const json_t *top_llm = json_object_get(cfg, "llm");
    if ((rc = agora__llm_conf_parse(json_is_object(top_llm) ? top_llm : NULL, "llm", &top, err))) {
        agora__llm_conf_free(&top);
        agora__guard_init(&ix->guard, NULL, "round", "turn", "");
        return rc;
    }
    agora__guard_init(&ix->guard, &top, "round", "turn",
                      "the actors pass their turns; the world engine and the evaluator are not asked");
    agora__llm_conf_free(&top);
    const json_t *actors = json_object_get(cfg, "actors");
    ix->n = (int)json_array_size(actors);
    if (!(ix->a = calloc((size_t)ix->n, sizeof *ix->a)))
        return agora_error_set(err, AGORA_ENOMEM, "interact", "out of memory");
    for (int i = 0; i < ix->n; i++) {
        actor *a = &ix->a[i];
        a->cfg = json_array_get(actors, (size_t)i);
        a->id = json_string_value(json_object_get(a->cfg, "id"));
        a->name = json_string_value(json_object_get(a->cfg, "name"));
        a->role = json_string_value(json_object_get(a->cfg, "role"));
        a->profile = json_deep_copy(json_object_get(a->cfg, "profile"));
        a->inbox = json_array();
        a->next_inbox = json_array();
        a->news = json_array();
        a->memory = json_array();
        char where[96];
        snprintf(where, sizeof where, "actors[%d].llm", i);
        const json_t *l = json_object_get(a->cfg, "llm");
        if ((rc = agora__llm_conf_parse(json_is_object(l) ? l : NULL, where, &a->conf, err)))
            return rc;
        seed_conf(&a->conf, ix->seed);
    }
    if ((rc = conf_for(cfg, "world", &ix->world, err)) || (rc = conf_for(cfg, "evaluation", &ix->evaluator, err)) ||
        (rc = conf_for(cfg, "enrich", &ix->enricher, err)))
        return rc;
    seed_conf(&ix->world, ix->seed);
    seed_conf(&ix->evaluator, ix->seed);
    seed_conf(&ix->enricher, ix->seed);
    /* replay: from the options, or the scenario's `llm: {provider: replay, path}` */
    const json_t *calls = ix->opt ? ix->opt->replay : NULL;
    json_t *loaded = NULL;
    const char *rp = ix->world.replay_path ? ix->world.replay_path : NULL;
    if (!calls && rp) {
        char path[4200];
        const char *base = agora_scenario_base_dir(sc);
        snprintf(path, sizeof path, "%s%s%s", rp[0] == '/' || !base ? "" : base, rp[0] == '/' || !base ? "" : "/", rp);
        if ((rc = agora_h5_llm_calls(path, &loaded, err)))
            return rc;
        calls = loaded;
    }
    if (calls) {
        ix->replay = agora__llm_replay_index(calls);
        json_decref(loaded);
        if (!ix->replay || json_object_size(ix->replay) == 0)
            return agora_error_set(err, AGORA_EINVAL, "--replay", "the recording holds no LLM calls to replay");
    }
    /* numeric state keys become /metrics */
    ix->metric_keys = calloc(json_object_size(ix->state) + 1, sizeof *ix->metric_keys);
    const char *k;
    json_t *v;
    json_object_foreach(ix->state, k, v) {
        if (json_is_number(v) && ix->n_metrics < 256)
            ix->metric_keys[ix->n_metrics++] = (char *)k;
    }
    build_schemas(ix);
    return 0;
}

int agora__interact_preflight(const agora_scenario *sc, const json_t *replay, agora_error *err)
{
    const agora_interact_options o = {.replay = replay};
    agora_interact ix = {.cfg = agora_scenario_config(sc), .opt = &o, .err = err};
    int rc = setup(&ix, sc, err);
    ix_free(&ix);
    return rc;
}

static int open_file(agora_interact *ix, const agora_scenario *sc, const char *path, agora_error *err)
{
    agora_metric_spec *ms = calloc((size_t)ix->n_metrics + 1, sizeof *ms);
    if (!ms)
        return agora_error_set(err, AGORA_ENOMEM, "interact", "out of memory");
    for (int m = 0; m < ix->n_metrics; m++)
        ms[m] = (agora_metric_spec){.name = ix->metric_keys[m], .doc = "world state, by round", .summary = "final"};
    char *config = json_text(ix->cfg);
    char config_hash[65];
    agora_scenario_hash(sc, config_hash, NULL); /* "" when it cannot be computed (out of memory) */
    agora_writer_config wc = {
        .path = path,
        .config_hash = config_hash,
        .mode = "interactions",
        .model = "",
        .scenario_text = agora_scenario_text(sc),
        .scenario_path = agora_scenario_path(sc),
        .config_json = config,
        .seed = (uint64_t)ix->seed,
        .threads = 1,
        .n_metrics = ix->n_metrics,
        .metrics = ms,
        .compression = (int)json_integer_value(json_object_get(json_object_get(ix->cfg, "output"), "compression")),
        .llm_calls = 1,
        .n_tables = N_TABLES,
        .tables = tables};
    int rc = agora_writer_create(&wc, &ix->wr, err);
    free(config);
    free(ms);
    return rc;
}

static void prior_calls(agora_interact *ix)
{
    size_t i;
    json_t *r;
    json_array_foreach(ix->opt ? ix->opt->prior_calls : NULL, i, r) {
        agora_persona_call c = {.step = json_integer_value(json_object_get(r, "step")),
                                .persona = json_string_value(json_object_get(r, "persona")),
                                .attempt = (int)json_integer_value(json_object_get(r, "attempt")),
                                .provider = json_string_value(json_object_get(r, "provider")),
                                .model = json_string_value(json_object_get(r, "model")),
                                .latency_ms = json_number_value(json_object_get(r, "latency_ms")),
                                .prompt_tokens = json_integer_value(json_object_get(r, "prompt_tokens")),
                                .completion_tokens = json_integer_value(json_object_get(r, "completion_tokens")),
                                .http_status = (int)json_integer_value(json_object_get(r, "http_status")),
                                .http_attempts = (int)json_integer_value(json_object_get(r, "http_attempts")),
                                .status = json_string_value(json_object_get(r, "status")),
                                .error = json_string_value(json_object_get(r, "error")),
                                .prompt = json_string_value(json_object_get(r, "prompt")),
                                .reply = json_string_value(json_object_get(r, "reply"))};
        if (ix->wr && agora_writer_llm_call(ix->wr, &c, ix->err) != 0)
            ix->failed = 1;
    }
}

static int cancelled(const agora_interact *ix)
{
    return ix->opt && ix->opt->cancel && *ix->opt->cancel;
}

/* ---- a run in three parts, which the session engine drives (src/runner/session.c) ----------------------------- */

int agora__ix_mode_check(const agora_scenario *sc, agora_error *err)
{
    const char *mode = json_string_value(json_object_get(agora_scenario_config(sc), "mode"));
    if (!mode || strcmp(mode, "interactions") != 0)
        return agora_error_set(err, AGORA_EINVAL, "mode",
                               "agora interact runs scenarios with mode: interactions (this one is %s; use agora run)",
                               mode ? mode : "?");
    return 0;
}

int agora__ix_open(const agora_scenario *sc, const agora_interact_options *opt, agora_interact **out,
                   agora_interact_result *res, agora_error *err)
{
    *out = NULL;
    memset(res, 0, sizeof *res);
    snprintf(res->status, sizeof res->status, "failed");
    const json_t *cfg = agora_scenario_config(sc);
    int rc = agora__ix_mode_check(sc, err);
    if (rc)
        return rc;
    agora_interact *ix = calloc(1, sizeof *ix);
    if (!ix)
        return agora_error_set(err, AGORA_ENOMEM, "interact", "out of memory");
    *ix = (agora_interact){.cfg = cfg, .opt = opt, .err = err, .t0 = agora__now()};
    rc = setup(ix, sc, err);
    const char *path =
        opt && opt->output ? opt->output : json_string_value(json_object_get(json_object_get(cfg, "output"), "path"));
    snprintf(res->path, sizeof res->path, "%s", path);
    if (rc == 0 &&
        (rc = agora__output_check(path, agora_scenario_path(sc), opt && opt->force,
                                  opt && opt->output ? "-o" : "output.path", "--force", err)) &&
        !(opt && opt->output))
        agora_scenario_locate(sc, err);
    if (rc == 0)
        rc = open_file(ix, sc, path, err);
    if (rc) {
        ix_free(ix);
        free(ix);
        return rc;
    }
    prior_calls(ix);
    /* actors, as configured */
    if (opt && opt->enrich && (rc = enrich(ix, agora_scenario_base_dir(sc))))
        ix->open_rc = rc; /* the run is opened, and fails at once: agora__ix_close records why */
    for (int i = 0; rc == 0 && i < ix->n; i++) {
        char *profile = json_text(ix->a[i].profile);
        agora_writer_cell cells[] = {{.s = ix->a[i].id},
                                     {.s = ix->a[i].name},
                                     {.s = ix->a[i].role},
                                     {.s = ix->a[i].conf.provider_name ? ix->a[i].conf.provider_name : "offline"},
                                     {.s = ix->a[i].conf.model ? ix->a[i].conf.model : ""},
                                     {.s = profile}};
        row(ix, T_ACTORS, cells);
        free(profile);
    }
    if (rc == 0) {
        write_metrics(ix); /* the state before round 1, at time 0 */
        if (ix->wr && !ix->failed && agora_writer_flush(ix->wr, err) != 0)
            ix->failed = 1;
    }
    *out = ix;
    return 0;
}

int64_t agora__ix_round_now(const agora_interact *ix)
{
    return ix->round;
}

int64_t agora__ix_rounds(const agora_interact *ix)
{
    return ix->rounds;
}

int agora__ix_cancelled(const agora_interact *ix)
{
    return cancelled(ix) || ix->failed || ix->open_rc;
}

int agora__ix_round(agora_interact *ix, int *stop)
{
    *stop = 0;
    if (ix->open_rc)
        return ix->open_rc;
    if (ix->failed) /* the file failed: nothing more is written */
        return 0;
    ix->round++;
    const json_t *cfg = ix->cfg;
    char t[64];
    agora__interact_time(cfg, ix->round, t, sizeof t);
    emit(ix, (agora_ix_event){.kind = AGORA_IX_ROUND, .text = t});
    json_t *said = json_array(); /* public messages of the round, for the world engine */
    for (int i = 0; i < ix->n; i++) {
        json_decref(ix->a[i].inbox);
        ix->a[i].inbox = ix->a[i].next_inbox;
        ix->a[i].next_inbox = json_array();
    }
    int rc = decide(ix, said);
    if (rc == 0)
        rc = world_turn(ix, said);
    json_decref(said);
    if (rc)
        return rc;
    write_metrics(ix);
    if (ix->wr && !ix->failed && agora_writer_flush(ix->wr, ix->err) != 0)
        ix->failed = 1;
    ix->rounds_done = ix->round;
    if (cancelled(ix)) {
        *stop = 1;
        return 0;
    }
    const agora_interact_options *opt = ix->opt;
    if (ix->round < ix->rounds && opt && opt->between_rounds && opt->between_rounds(opt->ud, ix, ix->round))
        *stop = 1;
    return 0;
}

int agora__ix_close(agora_interact *ix, int rc, int interrupted, agora_interact_result *res, agora_error *err)
{
    const json_t *cfg = ix->cfg;
    const char *status = interrupted || ix->rounds_done < ix->rounds ? "interrupted" : "complete";
    if (!rc)
        rc = ix->open_rc;
    res->rounds_done = ix->rounds_done;
    if (!rc) {
        /* actions that would end after the last round are cut short: recorded as unfinished, at the last round */
        for (size_t k = 0; k < ix->n_acts; k++) {
            action *x = &ix->acts[k];
            if (x->status == SCHEDULED || x->status == ACTIVE) {
                x->status = UNFINISHED;
                free(x->outcome);
                x->outcome = strdup(strcmp(status, "complete") == 0 ? "the run ended before it was done"
                                                                    : "the run was stopped before it was done");
                ix->round = res->rounds_done;
                action_event(ix, x);
            }
        }
        ix->round = ix->rounds + 1; /* the evaluation is recorded after the last round */
        if (strcmp(status, "complete") == 0 && !ix->failed &&
            json_array_size(json_object_get(json_object_get(cfg, "evaluation"), "criteria")) > 0)
            rc = evaluate(ix, &res->evaluation);
    }
    json_t *an = json_object();
    for (int i = 0; i < ix->n; i++)
        analytics_row(ix, ix->a[i].id, "actor", &ix->a[i].st, an);
    analytics_row(ix, "world", "world", &ix->world_st, an);
    analytics_row(ix, "evaluator", "evaluator", &ix->eval_st, an);
    if (ix->opt && ix->opt->enrich)
        analytics_row(ix, "enrich", "enrich", &ix->enrich_st, an);
    if (strcmp(status, "complete") == 0 && agora__guard_degraded(&ix->guard))
        status = "degraded"; /* the end was reached, but some turns got no answer from the LLM */
    if (rc || ix->failed)
        status = "failed";
    res->summary = json_pack("{s:O, s:o, s:I, s:o}", "state", ix->state, "analytics", an, "rounds_done",
                             (json_int_t)res->rounds_done, "llm", agora__guard_summary(&ix->guard));
    if (res->evaluation)
        json_object_set(res->summary, "evaluation", res->evaluation);
    char *summary = json_text(res->summary);
    res->wall_time_s = agora__now() - ix->t0;
    agora_error later;
    int rc2 = agora_writer_close(ix->wr, status, res->rounds_done, res->wall_time_s, summary, rc ? &later : err);
    free(summary);
    snprintf(res->status, sizeof res->status, "%s", status);
    ix_free(ix);
    free(ix);
    return rc ? rc : rc2;
}
