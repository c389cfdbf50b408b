/* Tests of the interactions engine (src/interact/) against the loopback LLM server (tests/llm_server.py) with
 * scripted, exact replies: actions that last several rounds and their outcomes, message routing through the topology,
 * the world engine (state changes, dynamics, /metrics), sequential and simultaneous turns, operator messages,
 * question -> scenario generation and its YAML, enrichment, the evaluation, per-actor analytics, faults of the LLM
 * server, and bit-exact replay from the run file with no server. Each test runs a scenario through the library
 * (agora_scenario_parse + agora_interact_run), then reads the run file back (agora_h5_table) and the prompts the
 * server received (its request log).
 *
 * Scripts and replies are written with ' for " to keep them readable (no text in them has an apostrophe). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "agora/agora.h"
#include "llm_server.h"
#include "support.h"

/* ---- helpers ----------------------------------------------------------------------------------------------------- */

#define js(sq) test_json("%s", sq)

/* Starts the server with `rules` (a JSON list, ' for ") before the defaults: a quiet world, an evaluator that scores
 * nothing and, for every other tag, an actor that does nothing. */
static void start(llm_server *s, const char *rules)
{
    json_t *list = js(rules ? rules : "[]");
    json_array_append_new(list, js("{'tag': 'world/*', 'responses': [{'content': {'narrative': 'quiet', "
                                   "'outcomes': [], 'state_changes': []}}]}"));
    json_array_append_new(list, js("{'tag': 'evaluator/*', 'responses': [{'content': {'scores': [], 'narrative': "
                                   "'n', 'synthesis': 's'}}]}"));
    json_t *script = json_pack("{s:o, s:o}", "rules", list, "default",
                               js("{'content': {'reasoning': 'idle', 'messages': [], 'actions': []}}"));
    char *text = json_dumps(script, JSON_COMPACT);
    assert_int_equal(llm_server_start(s, text), 0);
    free(text);
    json_decref(script);
}

/* A run of a scenario: the header (name, mode, seed, the llm at the server without retries, the output file under
 * the test directory) followed by `body`. */
typedef struct ixrun {
    int rc;
    agora_error err;
    agora_interact_result res;
    json_t *reqs;   /* the server's request log after the run */
    json_t *events; /* every event of the run: {kind, round, actor, target, status, text} */
    int said;       /* operator messages sent by the between_rounds hook */
} ixrun;

/* The header's llm block after its base_url: no retries, unless a test says otherwise. */
#define LLM_DEFAULT "max_retries: 0"
static const char *llm_extra = LLM_DEFAULT;

static agora_scenario *scenario(const char *url, const char *file, const char *body)
{
    size_t n = strlen(body) + 8192;
    char *yaml = malloc(n);
    snprintf(yaml, n,
             "name: t\nmode: interactions\nseed: 7\n"
             "llm: {provider: openai, model: test-model, base_url: \"%s\", %s}\n"
             "output: {path: \"%s\"}\n%s",
             url, llm_extra, test_tmp_path(file), body);
    agora_scenario *sc = test_scenario(yaml);
    free(yaml);
    return sc;
}

/* The hooks' user data: the run being recorded. */
static void on_event(void *ud, const agora_ix_event *e)
{
    ixrun *r = ud;
    json_array_append_new(r->events, json_pack("{s:i, s:I, s:s, s:s, s:s, s:s}", "kind", (int)e->kind, "round",
                                               (json_int_t)e->round, "actor", e->actor ? e->actor : "", "target",
                                               e->target ? e->target : "", "status", e->status ? e->status : "", "text",
                                               e->text ? e->text : ""));
}

static void run_with(ixrun *r, const llm_server *s, const char *url, const char *file, const char *body,
                     agora_interact_options opt)
{
    memset(r, 0, sizeof *r);
    agora_scenario *sc = scenario(url, file, body);
    r->events = json_array();
    opt.on_event = on_event;
    opt.ud = r;
    r->rc = agora_interact_run(sc, &opt, &r->res, &r->err);
    /* the chat requests (the endpoint check's GET before the first call left out) */
    json_t *all = s && s->pid > 0 ? llm_server_requests(s) : json_array();
    r->reqs = json_array();
    size_t i;
    json_t *q;
    json_array_foreach(all, i, q) {
        if (strcmp(json_string_value(json_object_get(q, "path")), "/v1/chat/completions") == 0)
            json_array_append(r->reqs, q);
    }
    json_decref(all);
    agora_scenario_destroy(sc);
}

/* Runs and fails the test unless the run ended with `status`. */
static void run_expect(ixrun *r, const llm_server *s, const char *file, const char *body, const char *status)
{
    run_with(r, s, s->base_url, file, body, (agora_interact_options){0});
    if (r->rc != 0) {
        char buf[1024];
        fail_msg("the run failed: %s", agora_error_format(&r->err, buf, sizeof buf));
    }
    assert_string_equal(r->res.status, status);
}

/* Runs and fails the test unless the run completed. */
static void run_ok(ixrun *r, const llm_server *s, const char *file, const char *body)
{
    run_expect(r, s, file, body, "complete");
}

static void run_free(ixrun *r)
{
    agora_interact_result_free(&r->res);
    json_decref(r->reqs);
    json_decref(r->events);
}

/* The message of `role` ("system", "user") in the first request tagged `tag`, or NULL. */
static const char *sent(const json_t *reqs, const char *tag, const char *role)
{
    size_t i, j;
    json_t *q, *m;
    json_array_foreach((json_t *)reqs, i, q) {
        const char *t = json_string_value(json_object_get(q, "tag"));
        if (!t || strcmp(t, tag) != 0)
            continue;
        json_array_foreach(json_object_get(json_object_get(q, "body"), "messages"), j, m) {
            if (strcmp(json_string_value(json_object_get(m, "role")), role) == 0)
                return json_string_value(json_object_get(m, "content"));
        }
    }
    return NULL;
}

static size_t count_tag(const json_t *reqs, const char *tag)
{
    size_t i, n = 0;
    json_t *q;
    json_array_foreach((json_t *)reqs, i, q) {
        const char *t = json_string_value(json_object_get(q, "tag"));
        n += t && strcmp(t, tag) == 0;
    }
    return n;
}

static const char *user_of(const ixrun *r, const char *tag)
{
    const char *u = sent(r->reqs, tag, "user");
    if (!u)
        fail_msg("the server got no request tagged %s", tag);
    return u;
}

#define EXPECT_IN(text, needle)                                                                                        \
    do {                                                                                                               \
        const char *t_ = (text);                                                                                       \
        if (!t_ || !strstr(t_, needle))                                                                                \
            fail_msg("expected \"%s\" in:\n%s", needle, t_ ? t_ : "(null)");                                           \
    } while (0)
#define EXPECT_NOT_IN(text, needle)                                                                                    \
    do {                                                                                                               \
        const char *t_ = (text);                                                                                       \
        if (t_ && strstr(t_, needle))                                                                                  \
            fail_msg("did not expect \"%s\" in:\n%s", needle, t_);                                                     \
    } while (0)

static json_t *table(const char *path, const char *name)
{
    json_t *rows = NULL;
    agora_error err;
    if (agora_h5_table(path, name, &rows, &err) != 0) {
        char buf[1024];
        fail_msg("%s %s: %s", path, name, agora_error_format(&err, buf, sizeof buf));
    }
    return rows;
}

static int same(const json_t *a, const json_t *b)
{
    if (json_is_number(a) && json_is_number(b))
        return json_number_value(a) == json_number_value(b);
    return json_equal(a, b);
}

/* The rows that have every member of `pattern` (JSON, ' for "; numbers compared by value). New reference. */
static json_t *where(const json_t *rows, const char *pattern)
{
    json_t *p = js(pattern), *out = json_array();
    size_t i;
    json_t *row;
    json_array_foreach((json_t *)rows, i, row) {
        int ok = 1;
        const char *k;
        json_t *v;
        json_object_foreach(p, k, v) {
            ok = ok && same(json_object_get(row, k), v);
        }
        if (ok)
            json_array_append(out, row);
    }
    json_decref(p);
    return out;
}

static size_t count(const json_t *rows, const char *pattern)
{
    json_t *w = where(rows, pattern);
    size_t n = json_array_size(w);
    json_decref(w);
    return n;
}

/* The one row matching `pattern` (borrowed from rows); fails unless there is exactly one. */
static const json_t *one(const json_t *rows, const char *pattern)
{
    json_t *w = where(rows, pattern);
    if (json_array_size(w) != 1) {
        char *all = json_dumps(rows, JSON_INDENT(1));
        fail_msg("%zu rows match %s in:\n%s", json_array_size(w), pattern, all);
    }
    const json_t *row = json_array_get(w, 0);
    json_decref(w); /* still held by rows */
    return row;
}

static const char *S(const json_t *row, const char *key)
{
    const char *s = json_string_value(json_object_get(row, key));
    return s ? s : "(missing)";
}

static double N(const json_t *row, const char *key)
{
    const json_t *v = json_object_get(row, key);
    if (!json_is_number(v))
        fail_msg("%s is not a number", key);
    return json_number_value(v);
}

static const char *const TWO_ACTORS = "actors:\n"
                                      "  - {id: a, name: Ana, role: mayor}\n"
                                      "  - {id: b, name: Ben, role: boat pilot}\n";

/* ---- actions ----------------------------------------------------------------------------------------------------- */

/* An action of duration 3 decided in round 1 runs rounds 1-3: the world sees it as under way in rounds 1 and 2 (its
 * premature outcomes are ignored) and resolves it in round 3; "failure" fails an action; an outcome the world leaves
 * out is "unknown". */
static void actions_last_their_duration_and_resolve_when_they_end(void **state)
{
    (void)state;
    llm_server s;
    start(&s, "[{'tag': 'a/round-1', 'responses': [{'content': {'reasoning': 'build it', 'messages': [], 'actions': ["
              "  {'name': 'build levee', 'target': '', 'duration': 3, 'intent': 'hold the water'},"
              "  {'name': 'scout', 'target': 'b', 'duration': 1, 'intent': 'see the river'}]}}]},"
              " {'tag': 'b/round-2', 'responses': [{'content': {'reasoning': 'boats', 'messages': [], 'actions': ["
              "  {'name': 'fetch boats', 'target': 'dock', 'duration': 2, 'intent': 'more boats'}]}}]},"
              " {'tag': 'world/round-1', 'responses': [{'content': {'narrative': 'fog', 'state_changes': [],"
              "  'outcomes': [{'action_id': 1, 'result': 'failure', 'outcome': 'fog hid the river'},"
              "               {'action_id': 0, 'result': 'success', 'outcome': 'too early'}]}}]},"
              " {'tag': 'world/round-2', 'responses': [{'content': {'narrative': 'rain', 'state_changes': [],"
              "  'outcomes': [{'action_id': 0, 'result': 'success', 'outcome': 'still too early'}]}}]},"
              " {'tag': 'world/round-3', 'responses': [{'content': {'narrative': 'dry', 'state_changes': [],"
              "  'outcomes': [{'action_id': 0, 'result': 'success', 'outcome': 'the levee holds'}]}}]}]");
    ixrun r;
    char body[1024];
    snprintf(body, sizeof body,
             "rounds: 4\nworld: {description: \"A river town floods.\"}\n%sevaluation: {criteria: []}\n", TWO_ACTORS);
    run_ok(&r, &s, "ix/actions.h5", body);
    json_t *acts = table(r.res.path, "/interactions/actions");

    /* build levee: scheduled and active in round 1, nothing in round 2, completed in round 3 */
    assert_int_equal(count(acts, "{'action': 0}"), 3);
    const json_t *x = one(acts, "{'action': 0, 'status': 'scheduled'}");
    assert_true(N(x, "round") == 1 && N(x, "start") == 1 && N(x, "duration") == 3 && N(x, "end") == 3);
    assert_string_equal(S(x, "actor"), "a");
    assert_string_equal(S(x, "name"), "build levee");
    assert_string_equal(S(x, "intent"), "hold the water");
    assert_true(N(one(acts, "{'action': 0, 'status': 'active'}"), "round") == 1);
    x = one(acts, "{'action': 0, 'status': 'completed'}");
    assert_true(N(x, "round") == 3);
    assert_string_equal(S(x, "result"), "success");
    assert_string_equal(S(x, "outcome"), "the levee holds");
    assert_int_equal(count(acts, "{'action': 0, 'round': 2}"), 0);

    /* scout: one round, and the world's "failure" fails it */
    x = one(acts, "{'action': 1, 'round': 1, 'status': 'failed'}");
    assert_string_equal(S(x, "result"), "failure");
    assert_string_equal(S(x, "outcome"), "fog hid the river");
    assert_string_equal(S(x, "target"), "b");

    /* fetch boats: rounds 2-3, the world said nothing of it */
    x = one(acts, "{'action': 2, 'status': 'completed'}");
    assert_true(N(x, "round") == 3 && N(x, "start") == 2 && N(x, "end") == 3);
    assert_string_equal(S(x, "result"), "unknown");
    assert_string_equal(S(x, "outcome"), "the world engine reported no outcome");
    assert_int_equal(json_array_size(acts), 9);

    /* what the world engine was asked to resolve, round by round */
    const char *w1 = user_of(&r, "world/round-1"), *w2 = user_of(&r, "world/round-2"),
               *w3 = user_of(&r, "world/round-3");
    EXPECT_IN(w1, "- action_id 1: Ana (a) does \"scout\" on b, intent: see the river (rounds 1-1)");
    EXPECT_NOT_IN(w1, "action_id 0");
    EXPECT_IN(w1,
              "Actions still under way (for context, not to resolve yet):\n- Ana (a): \"build levee\" until round 3");
    EXPECT_IN(w2, "Actions completing this round (resolve each):\n- none\n");
    EXPECT_NOT_IN(w2, "action_id");
    EXPECT_IN(w2, "\"fetch boats\" on dock until round 3");
    EXPECT_IN(w3, "- action_id 0: Ana (a) does \"build levee\", intent: hold the water (rounds 1-3)");
    EXPECT_IN(w3, "- action_id 2: Ben (b) does \"fetch boats\" on dock, intent: more boats (rounds 2-3)");

    /* what the actors were told */
    EXPECT_IN(user_of(&r, "a/round-2"), "Your actions under way:\n- build levee (rounds 1-3)\n");
    EXPECT_IN(user_of(&r, "a/round-3"), "- build levee (rounds 1-3)");
    EXPECT_NOT_IN(user_of(&r, "a/round-4"), "Your actions under way");
    EXPECT_IN(user_of(&r, "a/round-2"), "Outcome of your action \"scout\" on b: failure. fog hid the river");
    EXPECT_IN(user_of(&r, "b/round-2"), "Ana (a) did \"scout\" to you: failure. fog hid the river");
    EXPECT_NOT_IN(user_of(&r, "a/round-3"), "still too early");
    EXPECT_IN(user_of(&r, "a/round-4"), "Outcome of your action \"build levee\": success. the levee holds");
    EXPECT_IN(user_of(&r, "b/round-4"),
              "Outcome of your action \"fetch boats\" on dock: unknown. the world engine reported no outcome");
    json_decref(acts);
    run_free(&r);
    llm_server_stop(&s);
}

/* ---- messages ---------------------------------------------------------------------------------------------------- */

static const char *const ROUTING_ACTORS =
    "actors:\n"
    "  - {id: a, name: Ana, role: mayor, rooms: [ops]}\n"
    "  - {id: b, name: Ben, role: boat pilot}\n"
    "  - {id: c, name: Cy, role: medic}\n"
    "  - {id: d, name: Dee, role: teacher}\n"
    "topology: {direct: [[a, b]], broadcast: [a], rooms: {ops: [c], yard: [b, d]}}\n";

/* Direct messages go only along topology.direct pairs, room messages only from and to the room's members, broadcasts
 * only from topology.broadcast; a blocked message is recorded with its reason and its sender told; an unknown room is
 * refused by the reply's schema (repaired). Delivered messages reach the recipients' next round, not this one. */
static void messages_follow_the_topology_and_arrive_next_round(void **state)
{
    (void)state;
    llm_server s;
    start(&s, "[{'tag': 'a/round-1', 'responses': [{'content': {'reasoning': '', 'actions': [], 'messages': ["
              "  {'to': 'b', 'text': 'hi b'}, {'to': 'room:ops', 'text': 'ops meet'},"
              "  {'to': 'all', 'text': 'town hall at 9'}, {'to': 'a', 'text': 'note to self'}]}}]},"
              " {'tag': 'b/round-1', 'responses': [{'content': {'reasoning': '', 'actions': [], 'messages': ["
              "  {'to': 'c', 'text': 'hi c'}, {'to': 'all', 'text': 'b shouts'},"
              "  {'to': 'room:ops', 'text': 'b knocks'}, {'to': 'room:yard', 'text': 'yard chat'}]}}]},"
              " {'tag': 'c/round-1', 'responses': [{'content': {'reasoning': '', 'actions': [], 'messages': ["
              "  {'to': 'room:ops', 'text': 'c reports'}]}}]},"
              " {'tag': 'd/round-1', 'responses': [{'content': {'reasoning': '', 'actions': [], 'messages': ["
              "  {'to': 'room:nowhere', 'text': 'lost'}]}}]},"
              " {'tag': 'd/round-1/repair', 'responses': [{'content': {'reasoning': '', 'actions': [], 'messages': ["
              "  {'to': 'room:yard', 'text': 'd answers'}]}}]}]");
    ixrun r;
    char body[2048];
    snprintf(body, sizeof body, "rounds: 3\n%sevaluation: {criteria: []}\n", ROUTING_ACTORS);
    run_ok(&r, &s, "ix/messages.h5", body);
    json_t *msgs = table(r.res.path, "/interactions/messages");

    const json_t *m = one(msgs, "{'from': 'a', 'text': 'hi b'}");
    assert_true(N(m, "round") == 1);
    assert_string_equal(S(m, "to"), "b");
    assert_string_equal(S(m, "kind"), "direct");
    assert_string_equal(S(m, "status"), "delivered");
    m = one(msgs, "{'from': 'a', 'text': 'ops meet'}");
    assert_string_equal(S(m, "kind"), "room");
    assert_string_equal(S(m, "room"), "ops");
    assert_string_equal(S(m, "status"), "delivered");
    m = one(msgs, "{'from': 'a', 'text': 'town hall at 9'}");
    assert_string_equal(S(m, "kind"), "broadcast");
    assert_string_equal(S(m, "status"), "delivered");
    m = one(msgs, "{'from': 'a', 'text': 'note to self'}");
    assert_string_equal(S(m, "status"), "blocked");
    assert_string_equal(S(m, "reason"), "a message to oneself");
    m = one(msgs, "{'from': 'b', 'text': 'hi c'}");
    assert_string_equal(S(m, "status"), "blocked");
    assert_string_equal(S(m, "reason"), "b cannot reach c directly");
    m = one(msgs, "{'from': 'b', 'text': 'b shouts'}");
    assert_string_equal(S(m, "status"), "blocked");
    assert_string_equal(S(m, "reason"), "b may not broadcast");
    m = one(msgs, "{'from': 'b', 'text': 'b knocks'}");
    assert_string_equal(S(m, "status"), "blocked");
    assert_string_equal(S(m, "reason"), "b is not in room ops");
    assert_string_equal(S(one(msgs, "{'from': 'b', 'text': 'yard chat'}"), "status"), "delivered");
    assert_string_equal(S(one(msgs, "{'from': 'c', 'text': 'c reports'}"), "status"), "delivered");
    /* the unknown room failed the reply's schema; the repaired reply was routed */
    assert_int_equal(count(msgs, "{'text': 'lost'}"), 0);
    assert_string_equal(S(one(msgs, "{'from': 'd', 'text': 'd answers'}"), "status"), "delivered");
    EXPECT_IN(user_of(&r, "d/round-1/repair"), "room:nowhere");
    assert_int_equal(json_array_size(msgs), 10);

    /* simultaneous turns: nothing arrives in the round it is sent */
    const char *tags[] = {"a/round-1", "b/round-1", "c/round-1", "d/round-1"};
    for (int i = 0; i < 4; i++) {
        EXPECT_IN(user_of(&r, tags[i]), "Messages to you: none\n");
        EXPECT_NOT_IN(user_of(&r, tags[i]), "Earlier this round");
    }
    /* round 2: each recipient has what the topology let through, and nothing else */
    const char *pa = user_of(&r, "a/round-2"), *pb = user_of(&r, "b/round-2"), *pc = user_of(&r, "c/round-2"),
               *pd = user_of(&r, "d/round-2");
    EXPECT_IN(pb, "- from Ana (a), to you: hi b\n");
    EXPECT_IN(pb, "- from Ana (a), to all: town hall at 9\n");
    EXPECT_IN(pb, "- from Dee (d), to room:yard: d answers\n");
    EXPECT_NOT_IN(pb, "ops meet");
    EXPECT_NOT_IN(pb, "to room:yard: yard chat"); /* not to the sender */
    EXPECT_IN(pc, "- from Ana (a), to room:ops: ops meet\n");
    EXPECT_IN(pc, "town hall at 9");
    EXPECT_NOT_IN(pc, "hi b");
    EXPECT_NOT_IN(pc, "hi c");
    EXPECT_NOT_IN(pc, "yard chat");
    EXPECT_IN(pd, "town hall at 9");
    EXPECT_IN(pd, "- from Ben (b), to room:yard: yard chat\n");
    EXPECT_NOT_IN(pd, "ops meet");
    EXPECT_IN(pa, "- from Cy (c), to room:ops: c reports\n");
    EXPECT_NOT_IN(pa, "to all: town hall at 9"); /* not to the sender */
    /* senders of blocked messages are told why */
    EXPECT_IN(pb, "Your message to c was not delivered: b cannot reach c directly.");
    EXPECT_IN(pb, "Your message to all was not delivered: b may not broadcast.");
    EXPECT_IN(pb, "Your message to room:ops was not delivered: b is not in room ops.");
    EXPECT_IN(pa, "Your message to a was not delivered: a message to oneself.");
    /* an inbox holds one round's messages */
    EXPECT_NOT_IN(user_of(&r, "b/round-3"), "hi b");
    EXPECT_IN(user_of(&r, "b/round-3"), "Messages to you: none\n");
    /* the prompts say whom one may write to */
    EXPECT_IN(sent(r.reqs, "a/round-1", "system"), "room:ops (everyone in that room), all (everyone)");
    EXPECT_IN(sent(r.reqs, "b/round-1", "system"), "Cy (id c, medic, you cannot write to them directly)");
    EXPECT_NOT_IN(sent(r.reqs, "b/round-1", "system"), "all (everyone)");
    /* the world engine hears what was said in public, not what was said in private */
    const char *w1 = user_of(&r, "world/round-1");
    EXPECT_IN(w1, "Said in public this round:\n- from Ana (a), to all: town hall at 9\n");
    EXPECT_NOT_IN(w1, "hi b");
    EXPECT_NOT_IN(w1, "b shouts");
    json_decref(msgs);
    run_free(&r);
    llm_server_stop(&s);
}

/* An inbox keeps the last memory.max_inbox messages of a round, the memory the last memory.max_items rounds. */
static void inbox_and_memory_are_bounded(void **state)
{
    (void)state;
    llm_server s;
    start(&s, "[{'tag': 'a/round-1', 'responses': [{'content': {'reasoning': 'talk', 'actions': [], 'messages': ["
              "  {'to': 'b', 'text': 'm1'}, {'to': 'b', 'text': 'm2'}, {'to': 'b', 'text': 'm3'},"
              "  {'to': 'b', 'text': 'm4'}]}}]}]");
    ixrun r;
    char body[1024];
    snprintf(body, sizeof body, "rounds: 4\n%smemory: {max_items: 2, max_inbox: 2}\nevaluation: {criteria: []}\n",
             TWO_ACTORS);
    run_ok(&r, &s, "ix/bounded.h5", body);
    EXPECT_IN(user_of(&r, "b/round-2"), "Messages to you:\n- from Ana (a), to you: m3\n- from Ana (a), to you: m4\n\n");
    EXPECT_IN(user_of(&r, "a/round-2"), "Your memory (oldest first):\n- round 1: you thought \"talk\". You told b: "
                                        "\"m1\". You told b: \"m2\". You told b: \"m3\". You told b: \"m4\".\n");
    const char *a4 = user_of(&r, "a/round-4");
    EXPECT_IN(a4,
              "Your memory (oldest first):\n- round 2: you thought \"idle\".\n- round 3: you thought \"idle\".\n\n");
    EXPECT_NOT_IN(a4, "round 1:");
    run_free(&r);
    llm_server_stop(&s);
}

/* ---- the world engine -------------------------------------------------------------------------------------------- */

/* The environment's dynamics change the state before the world engine sees it (add, capped by max); the engine's
 * state changes of the right type apply and the others are ignored with a note; the numeric state is /metrics at
 * times 0..R; an action's outcome reaches its actor and its target, and the narrative everyone, next round. */
static void world_changes_state_and_delivers_outcomes(void **state)
{
    (void)state;
    llm_server s;
    start(&s, "[{'tag': 'a/round-1', 'responses': [{'content': {'reasoning': '', 'messages': [], 'actions': ["
              "  {'name': 'warn', 'target': 'b', 'duration': 1, 'intent': 'get ready'}]}}]},"
              " {'tag': 'world/round-1', 'responses': [{'content': {'narrative': 'the river rises',"
              "  'outcomes': [{'action_id': 0, 'result': 'success', 'outcome': 'Ben listened'}],"
              "  'state_changes': [{'key': 'evacuated', 'value': 10}, {'key': 'levee_intact', 'value': 'broken'},"
              "                    {'key': 'mood', 'value': 'tense'}]}}]},"
              " {'tag': 'world/round-2', 'responses': [{'content': {'narrative': 'rain', 'outcomes': [],"
              "  'state_changes': [{'key': 'evacuated', 'value': 'many'}]}}]},"
              " {'tag': 'world/round-3', 'responses': [{'content': {'narrative': 'the levee gives way', 'outcomes': [],"
              "  'state_changes': [{'key': 'level', 'value': 1.0}, {'key': 'evacuated', 'value': 25},"
              "                    {'key': 'levee_intact', 'value': false}]}}]}]");
    ixrun r;
    run_ok(&r, &s, "ix/world.h5",
           "rounds: 4\n"
           "world:\n"
           "  description: \"A river town floods.\"\n"
           "  rules: [\"Boats carry 10 people\"]\n"
           "  state: {level: 2.0, evacuated: 0, levee_intact: true, mood: calm}\n"
           "  dynamics: [{key: level, add: 0.5, max: 2.75}]\n"
           "actors:\n"
           "  - {id: a, name: Ana, role: mayor}\n"
           "  - {id: b, name: Ben, role: boat pilot}\n"
           "  - {id: c, name: Cy, role: medic}\n"
           "evaluation: {criteria: []}\n");

    /* /metrics: the numeric keys only, one row per time 0..4 */
    json_t *met = table(r.res.path, "/metrics");
    assert_int_equal(json_array_size(met), 5);
    const double level[] = {2.0, 2.5, 2.75, 1.0, 1.5}; /* +0.5, capped at 2.75, set to 1.0 by the world, +0.5 */
    const double evacuated[] = {0, 10, 10, 25, 25};    /* "many" is not a number: ignored */
    for (size_t t = 0; t < 5; t++) {
        const json_t *row = json_array_get(met, t);
        assert_true(N(row, "time") == (double)t);
        if (N(row, "level") != level[t] || N(row, "evacuated") != evacuated[t])
            fail_msg("time %zu: level %g evacuated %g, expected %g %g", t, N(row, "level"), N(row, "evacuated"),
                     level[t], evacuated[t]);
        assert_int_equal(json_object_size(row), 3); /* time, level, evacuated: not the flag nor the text */
    }
    json_decref(met);

    /* /interactions/world: the state after each round, as JSON */
    json_t *world = table(r.res.path, "/interactions/world");
    assert_int_equal(json_array_size(world), 4);
    const json_t *w = one(world, "{'round': 1}");
    assert_string_equal(S(w, "status"), "llm");
    assert_string_equal(S(w, "narrative"), "the river rises");
    /* the state after round 1, as JSON: the dynamics' level, the changes of the right type */
    EXPECT_IN(S(w, "state"), "{\"level\":2.5,\"evacuated\":10,\"levee_intact\":true,\"mood\":\"tense\"}");
    /* a boolean for a boolean applies */
    EXPECT_IN(S(one(world, "{'round': 3}"), "state"), "{\"level\":1.0,\"evacuated\":25,\"levee_intact\":false,");
    json_decref(world);

    /* the ignored changes were noted */
    assert_int_equal(count(r.events, "{'kind': 7, 'actor': 'world', 'round': 1}"), 1);
    EXPECT_IN(S(one(r.events, "{'kind': 7, 'round': 1}"), "text"), "state change of levee_intact ignored");
    EXPECT_IN(S(one(r.events, "{'kind': 7, 'round': 2}"), "text"), "state change of evacuated ignored");

    /* the world engine sees the state after the dynamics, with its rules */
    EXPECT_IN(user_of(&r, "world/round-2"),
              "World state: {\"level\":2.75,\"evacuated\":10,\"levee_intact\":true,\"mood\":\"tense\"}");
    EXPECT_IN(sent(r.reqs, "world/round-1", "system"), "Rules: Boats carry 10 people");
    EXPECT_IN(sent(r.reqs, "world/round-1", "system"), "The environment changes by itself every round");
    /* actors see the state at the start of their round */
    EXPECT_IN(user_of(&r, "a/round-1"), "World state: {\"level\":2.0,\"evacuated\":0");
    EXPECT_IN(user_of(&r, "c/round-4"), "\"level\":1.0,\"evacuated\":25,\"levee_intact\":false");

    /* the outcome: to the actor, to its target, not to a bystander; the narrative to all */
    EXPECT_IN(user_of(&r, "a/round-2"), "Outcome of your action \"warn\" on b: success. Ben listened");
    EXPECT_IN(user_of(&r, "b/round-2"), "Ana (a) did \"warn\" to you: success. Ben listened");
    EXPECT_NOT_IN(user_of(&r, "c/round-2"), "Ben listened");
    EXPECT_NOT_IN(user_of(&r, "b/round-1"), "Ben listened");
    EXPECT_IN(user_of(&r, "c/round-2"), "- The world: the river rises\n");
    EXPECT_IN(user_of(&r, "a/round-4"), "- The world: the levee gives way\n");
    EXPECT_NOT_IN(user_of(&r, "a/round-4"), "the river rises"); /* news is since the last turn */
    run_free(&r);
    llm_server_stop(&s);
}

/* ---- turn order -------------------------------------------------------------------------------------------------- */

static const char *const ORDER_RULES =
    "[{'tag': 'a/round-1', 'responses': [{'content': {'reasoning': 'lead', 'messages': ["
    "   {'to': 'all', 'text': 'meet at noon'}, {'to': 'b', 'text': 'psst b'}, {'to': 'room:ops', 'text': 'ops only'}],"
    "  'actions': [{'name': 'patrol', 'target': 'river', 'duration': 1, 'intent': 'watch'}]}}]},"
    " {'tag': 'b/round-1', 'responses': [{'content': {'reasoning': '', 'actions': [], 'messages': ["
    "   {'to': 'a', 'text': 'thanks a'}]}}]}]";

static const char *const ORDER_BODY = "rounds: 2\n"
                                      "actors:\n"
                                      "  - {id: a, name: Ana, role: mayor, rooms: [ops]}\n"
                                      "  - {id: b, name: Ben, role: boat pilot, rooms: [ops]}\n"
                                      "  - {id: c, name: Cy, role: medic}\n"
                                      "topology: {broadcast: [a]}\n"
                                      "evaluation: {criteria: []}\n";

/* Sequential: each actor sees what the earlier ones did this round in public ("Earlier this round") and gets what
 * they said to it at once; a message to an actor who has already decided waits for the next round; a room's talk
 * stays in the room. */
static void sequential_turns_see_earlier_actors(void **state)
{
    (void)state;
    llm_server s;
    start(&s, ORDER_RULES);
    ixrun r;
    char body[1024];
    snprintf(body, sizeof body, "turn_order: sequential\n%s", ORDER_BODY);
    run_ok(&r, &s, "ix/sequential.h5", body);
    const char *a1 = user_of(&r, "a/round-1"), *b1 = user_of(&r, "b/round-1"), *c1 = user_of(&r, "c/round-1");
    EXPECT_NOT_IN(a1, "Earlier this round");
    EXPECT_IN(b1, "Earlier this round:\n");
    EXPECT_IN(b1, "- from Ana (a), to all: meet at noon\n");
    EXPECT_IN(b1, "- Ana (a) started \"patrol\" on river\n");
    EXPECT_IN(b1, "- from Ana (a), to you: psst b\n");
    EXPECT_IN(b1, "ops only"); /* b is in the room */
    EXPECT_IN(c1, "Earlier this round:\n");
    EXPECT_IN(c1, "meet at noon");
    EXPECT_IN(c1, "Ana (a) started \"patrol\" on river");
    EXPECT_NOT_IN(c1, "psst b");
    EXPECT_NOT_IN(c1, "ops only"); /* c is not */
    EXPECT_NOT_IN(c1, "thanks a");
    EXPECT_NOT_IN(a1, "thanks a");
    EXPECT_IN(user_of(&r, "a/round-2"), "- from Ben (b), to you: thanks a\n");
    /* one after another: each request starts after the previous reply */
    size_t i;
    json_t *q;
    const char *order[] = {"a/round-1", "b/round-1", "c/round-1", "world/round-1"};
    size_t k = 0;
    json_array_foreach(r.reqs, i, q) {
        if (k < 4 && strcmp(json_string_value(json_object_get(q, "tag")), order[k]) == 0)
            k++;
    }
    assert_int_equal(k, 4);
    run_free(&r);
    llm_server_stop(&s);
}

/* Lines that are cut to fit a buffer end on a whole UTF-8 character, so that they are not lost: with a target of 96
 * four-byte characters, "Ana (a) started ..." no longer fits its 400 bytes and the outcome of the action its 900,
 * and both were dropped (jansson refuses a string cut inside a character), so the later actor never saw the action
 * and its actor never heard the outcome. Found while fuzzing interaction replies (tests/fuzz/fuzz_interact_reply). */
static void long_non_ascii_targets_and_outcomes_still_reach_the_actors(void **state)
{
    (void)state;
    char target[400] = "", outcome[700] = "", rules[2048];
    for (int i = 0; i < 96; i++)
        strcat(target, "\xf0\x9f\x8c\x8a"); /* a water wave, 4 bytes */
    for (int i = 0; i < 300; i++)
        strcat(outcome, "\xc3\xa9");
    snprintf(rules, sizeof rules,
             "[{'tag': 'a/round-1', 'responses': [{'content': {'reasoning': '', 'messages': [],"
             "  'actions': [{'name': 'patrol', 'target': '%s', 'duration': 1, 'intent': 'watch'}]}}]},"
             " {'tag': 'world/round-1', 'responses': [{'content': {'narrative': 'wet', 'state_changes': [],"
             "  'outcomes': [{'action_id': 0, 'result': 'success', 'outcome': '%s'}]}}]}]",
             target, outcome);
    llm_server s;
    start(&s, rules);
    ixrun r;
    char body[1024];
    snprintf(body, sizeof body, "turn_order: sequential\n%s", ORDER_BODY);
    run_ok(&r, &s, "ix/utf8.h5", body);
    EXPECT_IN(user_of(&r, "b/round-1"), "- Ana (a) started \"patrol\" on \xf0\x9f\x8c\x8a");
    EXPECT_IN(user_of(&r, "a/round-2"), "Outcome of your action \"patrol\" on \xf0\x9f\x8c\x8a");
    EXPECT_IN(user_of(&r, "a/round-2"), ": success. \xc3\xa9\xc3\xa9");
    run_free(&r);
    llm_server_stop(&s);
}

/* Simultaneous: the same replies, but nobody sees this round's moves before deciding; they arrive next round. */
static void simultaneous_turns_see_nothing_of_the_round(void **state)
{
    (void)state;
    llm_server s;
    start(&s, ORDER_RULES);
    ixrun r;
    run_ok(&r, &s, "ix/simultaneous.h5", ORDER_BODY);
    const char *b1 = user_of(&r, "b/round-1"), *c1 = user_of(&r, "c/round-1");
    EXPECT_NOT_IN(b1, "Earlier this round");
    EXPECT_NOT_IN(b1, "meet at noon");
    EXPECT_NOT_IN(b1, "psst b");
    EXPECT_NOT_IN(c1, "patrol");
    const char *b2 = user_of(&r, "b/round-2");
    EXPECT_IN(b2, "- from Ana (a), to you: psst b\n");
    EXPECT_IN(b2, "- from Ana (a), to all: meet at noon\n");
    EXPECT_IN(b2, "- from Ana (a), to room:ops: ops only\n");
    EXPECT_NOT_IN(user_of(&r, "c/round-2"), "ops only");
    EXPECT_IN(user_of(&r, "a/round-2"), "- from Ben (b), to you: thanks a\n");
    run_free(&r);
    llm_server_stop(&s);
}

/* ---- the operator ------------------------------------------------------------------------------------------------ */

static int operator_hook(void *ud, agora_interact *ix, int64_t round)
{
    ixrun *r = ud;
    agora_error err;
    if (round == 1) {
        assert_int_equal(agora_interact_actor_count(ix), 2);
        assert_string_equal(agora_interact_actor_id(ix, 1), "b");
        assert_null(agora_interact_actor_id(ix, 2));
        assert_int_equal(agora_interact_say(ix, "b", "hold on", &err), 0);
        assert_int_equal(agora_interact_say(ix, "zed", "hello?", &err), AGORA_ENOTFOUND);
        r->said++;
        return 0;
    }
    return 1; /* stop after round 2 */
}

/* An operator message between rounds reaches its actor next round and is recorded; a hook that says stop ends the run
 * "interrupted", without the evaluation. */
static void operator_messages_arrive_next_round_and_a_stop_interrupts(void **state)
{
    (void)state;
    llm_server s;
    start(&s, NULL);
    ixrun r;
    char body[1024];
    snprintf(body, sizeof body, "rounds: 4\n%s", TWO_ACTORS);
    run_with(&r, &s, s.base_url, "ix/operator.h5", body, (agora_interact_options){.between_rounds = operator_hook});
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.said, 1);
    assert_string_equal(r.res.status, "interrupted");
    assert_int_equal(r.res.rounds_done, 2);
    assert_null(r.res.evaluation);
    assert_int_equal(count_tag(r.reqs, "evaluator/round-5"), 0);
    assert_int_equal(count_tag(r.reqs, "a/round-3"), 0);
    EXPECT_IN(user_of(&r, "b/round-2"), "- from the operator (outside the simulation), to you: hold on\n");
    EXPECT_NOT_IN(user_of(&r, "a/round-2"), "hold on");
    EXPECT_NOT_IN(user_of(&r, "b/round-1"), "hold on");
    json_t *msgs = table(r.res.path, "/interactions/messages");
    const json_t *m = one(msgs, "{'kind': 'operator'}");
    assert_string_equal(S(m, "from"), "operator");
    assert_string_equal(S(m, "to"), "b");
    assert_string_equal(S(m, "text"), "hold on");
    assert_string_equal(S(m, "status"), "delivered");
    json_decref(msgs);
    json_t *info = NULL;
    agora_error err;
    assert_int_equal(agora_h5_inspect(r.res.path, &info, &err), 0);
    assert_string_equal(json_string_value(json_object_get(info, "status")), "interrupted");
    json_decref(info);
    run_free(&r);
    llm_server_stop(&s);
}

/* ---- generation -------------------------------------------------------------------------------------------------- */

static json_t *gen_actor(const char *id, const char *name, json_t *rels)
{
    return json_pack("{s:s, s:s, s:s, s:[s], s:[s], s:s, s:o}", "id", id, "name", name, "role", "a role", "traits",
                     "stubborn", "goals", "win", "history", "a long story", "relationships",
                     rels ? rels : json_array());
}

/* A generator reply with n actors (ids to clean up: spaces and punctuation, a duplicate, a reserved id) and a world
 * whose state keys need cleaning, with texts that YAML must quote. */
static json_t *gen_reply(int n)
{
    static const char *const ids[] = {"Central Bank!", "mayor",  "mayor",    "world", "ana",    "Union-Rep",
                                      "press",         "dock.7", "lender_2", "x9",    "teller", "judge"};
    static const char *const names[] = {"The Bank", "Mo",  "Mo Two", "Wendy", "Ana Lopez", "Rita",
                                        "Pat",      "Dox", "Len",    "Xi",    "Tel",       "Jude"};
    json_t *actors = json_array();
    for (int i = 0; i < n; i++) {
        json_t *rels = NULL;
        if (i == 0)
            rels = js("[{'with': 'mayor', 'relation': 'ally'}, {'with': 'Ana Lopez', 'relation': 'rival'},"
                      " {'with': 'nobody', 'relation': 'stranger'}, {'with': 'Central Bank!', 'relation': 'self'}]");
        if (i == 3)
            rels = js("[{'with': 'central_bank', 'relation': 'lender of last resort'}]");
        json_array_append_new(actors, gen_actor(ids[i % 12], names[i % 12], rels));
    }
    json_t *r = js("{'name': 'Bank Run?', 'round_unit': 'day', 'rounds': 6, 'criteria': ['fairness', 'speed'],"
                   " 'world': {'rules': ['Deposits are insured up to 100k', 'no: a colon'],"
                   "  'state': [{'key': 'Water Level (m)', 'value': 2.5}, {'key': 'open', 'value': true},"
                   "            {'key': 'mood', 'value': 'calm'}]}}");
    json_object_set_new(r, "description", json_string("A bank wobbles.\n\"Quoted\": # not a comment, yes \xc3\xa9"));
    json_object_set_new(json_object_get(r, "world"), "description", json_string("yes"));
    json_object_set_new(r, "actors", actors);
    return r;
}

/* A server answering generator/round-0 with `first` and generator/round-0/repair with `repair` (may be NULL). */
static void start_generator(llm_server *s, json_t *first, json_t *repair)
{
    json_t *rules = json_array();
    json_array_append_new(rules,
                          json_pack("{s:s, s:[{s:o}]}", "tag", "generator/round-0", "responses", "content", first));
    if (repair)
        json_array_append_new(
            rules, json_pack("{s:s, s:[{s:o}]}", "tag", "generator/round-0/repair", "responses", "content", repair));
    json_t *script = json_pack("{s:o}", "rules", rules);
    char *text = json_dumps(script, JSON_COMPACT);
    assert_int_equal(llm_server_start(s, text), 0);
    free(text);
    json_decref(script);
}

static json_t *gen_llm(const llm_server *s)
{
    return json_pack("{s:s, s:s, s:s, s:i}", "provider", "openai", "model", "test-model", "base_url", s->base_url,
                     "max_retries", 0);
}

static int id_safe(const char *id)
{
    if (!id || !id[0] || strlen(id) > 60)
        return 0;
    for (const char *p = id; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
            return 0;
    return 1;
}

/* A valid reply becomes a scenario: 8-12 actors with unique, safe ids (none reserved), relationships by id (to
 * others only), the state keys cleaned up; the call is recorded as step 0 of "generator". */
static void a_question_becomes_a_scenario_with_safe_unique_ids(void **state)
{
    (void)state;
    llm_server s;
    start_generator(&s, gen_reply(8), NULL);
    json_t *llm = gen_llm(&s), *sc = NULL, *calls = NULL;
    agora_error err;
    int rc = agora_interact_generate("What if the bank fails?", llm, 5, &sc, &calls, &err);
    if (rc != 0) {
        char buf[1024];
        fail_msg("generate: %s", agora_error_format(&err, buf, sizeof buf));
    }
    const json_t *actors = json_object_get(sc, "actors");
    assert_true(json_array_size(actors) >= 8 && json_array_size(actors) <= 12);
    const char *want[] = {"central_bank", "mayor", "mayor_2", "world_actor", "ana", "union_rep", "press", "dock_7"};
    for (size_t i = 0; i < json_array_size(actors); i++) {
        const char *id = S(json_array_get(actors, i), "id");
        assert_true(id_safe(id));
        assert_string_equal(id, want[i]);
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(id, S(json_array_get(actors, j), "id"));
    }
    json_t *rel = json_object_get(json_array_get(actors, 0), "relationships");
    json_t *want_rel = js("{'mayor': 'ally', 'ana': 'rival'}"); /* by id and by name; strangers and self dropped */
    assert_true(json_equal(rel, want_rel));
    json_decref(want_rel);
    want_rel = js("{'central_bank': 'lender of last resort'}");
    assert_true(json_equal(json_object_get(json_array_get(actors, 3), "relationships"), want_rel));
    json_decref(want_rel);
    assert_string_equal(S(sc, "mode"), "interactions");
    assert_string_equal(S(sc, "name"), "bank_run");
    assert_string_equal(S(sc, "question"), "What if the bank fails?");
    assert_int_equal(json_integer_value(json_object_get(sc, "seed")), 5);
    json_t *want_state = js("{'water_level_m': 2.5, 'open': true, 'mood': 'calm'}");
    assert_true(json_equal(json_object_get(json_object_get(sc, "world"), "state"), want_state));
    json_decref(want_state);
    /* the call: one row, as /llm/calls records it */
    assert_int_equal(json_array_size(calls), 1);
    const json_t *c = json_array_get(calls, 0);
    assert_string_equal(S(c, "persona"), "generator");
    assert_string_equal(S(c, "status"), "ok");
    assert_int_equal(json_integer_value(json_object_get(c, "step")), 0);
    assert_int_equal(json_integer_value(json_object_get(c, "attempt")), 1);
    EXPECT_IN(S(c, "prompt"), "The question: What if the bank fails?");
    json_t *reqs = llm_server_requests(&s);
    assert_int_equal(json_array_size(reqs), 1);
    assert_int_equal(count_tag(reqs, "generator/round-0"), 1);
    EXPECT_IN(sent(reqs, "generator/round-0", "user"), "8 to 12 actors");

    /* its YAML loads back as the same scenario, tricky texts included */
    char *yaml = agora_interact_yaml(sc);
    assert_non_null(yaml);
    agora_scenario *back = NULL;
    rc = agora_scenario_parse(yaml, strlen(yaml), "generated.yaml", NULL, &back, &err);
    if (rc != 0) {
        char buf[1024];
        fail_msg("the YAML does not load: %s\n%s", agora_error_format(&err, buf, sizeof buf), yaml);
    }
    const json_t *cfg = agora_scenario_config(back);
    assert_string_equal(S(cfg, "mode"), "interactions");
    assert_string_equal(S(cfg, "description"), S(sc, "description"));
    assert_string_equal(S(cfg, "question"), "What if the bank fails?");
    assert_int_equal(json_integer_value(json_object_get(cfg, "rounds")), 6);
    assert_string_equal(S(cfg, "round_unit"), "day");
    const json_t *w = json_object_get(cfg, "world");
    assert_string_equal(S(w, "description"), "yes");
    assert_true(json_equal(json_object_get(w, "rules"), json_object_get(json_object_get(sc, "world"), "rules")));
    assert_true(json_equal(json_object_get(w, "state"), json_object_get(json_object_get(sc, "world"), "state")));
    want_rel = js("['fairness', 'speed']");
    assert_true(json_equal(json_object_get(json_object_get(cfg, "evaluation"), "criteria"), want_rel));
    json_decref(want_rel);
    const json_t *ca = json_object_get(cfg, "actors");
    assert_int_equal(json_array_size(ca), json_array_size(actors));
    for (size_t i = 0; i < json_array_size(ca); i++) {
        const json_t *x = json_array_get(ca, i), *y = json_array_get(actors, i);
        static const char *const keys[] = {"id", "name", "role", "traits", "goals", "history", "relationships"};
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
            if (!json_equal(json_object_get(x, keys[k]), json_object_get(y, keys[k])))
                fail_msg("actor %zu: %s differs after the YAML round trip", i, keys[k]);
    }
    agora_scenario_destroy(back);
    free(yaml);
    json_decref(reqs);
    json_decref(calls);
    json_decref(sc);
    json_decref(llm);
    llm_server_stop(&s);
}

/* A reply that is not JSON, or one with too few actors, gets one repair request whose valid answer is used. */
static void a_bad_generation_is_repaired_once(void **state)
{
    (void)state;
    json_t *three = gen_reply(3);
    json_t *firsts[] = {json_string("Sure! Here is a scenario about a bank."), three};
    for (int k = 0; k < 2; k++) {
        llm_server s;
        start_generator(&s, firsts[k], gen_reply(9));
        json_t *llm = gen_llm(&s), *sc = NULL, *calls = NULL;
        agora_error err;
        assert_int_equal(agora_interact_generate("What if the bank fails?", llm, 0, &sc, &calls, &err), 0);
        assert_int_equal(json_array_size(json_object_get(sc, "actors")), 9);
        assert_int_equal(json_array_size(calls), 2);
        assert_string_equal(S(json_array_get(calls, 0), "status"), "invalid");
        assert_string_equal(S(json_array_get(calls, 1), "status"), "ok");
        assert_int_equal(json_integer_value(json_object_get(json_array_get(calls, 1), "attempt")), 2);
        json_t *reqs = llm_server_requests(&s);
        assert_int_equal(count_tag(reqs, "generator/round-0"), 1);
        assert_int_equal(count_tag(reqs, "generator/round-0/repair"), 1);
        const char *rp = sent(reqs, "generator/round-0/repair", "user");
        EXPECT_IN(rp, "Your previous reply could not be used: ");
        EXPECT_IN(rp, k == 0 ? "Sure! Here is a scenario about a bank." : "\"Central Bank!\"");
        json_decref(reqs);
        json_decref(calls);
        json_decref(sc);
        json_decref(llm);
        llm_server_stop(&s);
    }
}

/* Two invalid replies: an error, no scenario, both calls recorded; no LLM at all: an error before any call. */
static void generation_fails_after_two_invalid_replies(void **state)
{
    (void)state;
    llm_server s;
    start_generator(&s, gen_reply(3), json_string("still not a scenario"));
    json_t *llm = gen_llm(&s), *sc = NULL, *calls = NULL;
    agora_error err;
    assert_int_equal(agora_interact_generate("What if?", llm, 0, &sc, &calls, &err), AGORA_EHTTP);
    assert_null(sc);
    EXPECT_IN(err.msg, "invalid twice");
    assert_int_equal(json_array_size(calls), 2);
    assert_string_equal(S(json_array_get(calls, 1), "status"), "invalid");
    json_decref(calls);
    json_decref(llm);
    llm_server_stop(&s);
    /* a dead server: one failed call, an error */
    llm =
        json_pack("{s:s, s:s, s:s, s:i}", "provider", "openai", "model", "m", "base_url", s.base_url, "max_retries", 0);
    assert_int_equal(agora_interact_generate("What if?", llm, 0, &sc, &calls, &err), AGORA_EHTTP);
    assert_null(sc);
    assert_int_equal(json_array_size(calls), 1);
    assert_string_equal(S(json_array_get(calls, 0), "status"), "connect");
    json_decref(calls);
    json_decref(llm);
    assert_int_equal(agora_interact_generate("What if?", NULL, 0, &sc, &calls, &err), AGORA_EINVAL);
    assert_int_equal(agora_interact_generate("", NULL, 0, &sc, NULL, &err), AGORA_EINVAL);
}

/* ---- enrichment -------------------------------------------------------------------------------------------------- */

/* With enrich, one call per actor before round 1 deepens its profile (grounded in the sources): a valid reply is
 * merged into the profile, an invalid one repaired, one invalid twice dropped, and the run goes on. */
static void enrichment_deepens_profiles_and_survives_bad_replies(void **state)
{
    (void)state;
    FILE *f = fopen(test_tmp_path("ix-notes.txt"), "w");
    assert_non_null(f);
    fputs("The mill closed in 1998.\n", f);
    fclose(f);
    llm_server s;
    start(&s, "[{'tag': 'enrich:a/round-0', 'responses': [{'content': {'background': 'grew up by the river',"
              "  'memories': ['the 1998 flood'], 'stances': [{'topic': 'levee', 'stance': 'build it'}]}}]},"
              " {'tag': 'enrich:b/round-0', 'responses': [{'content': 'no idea'}]},"
              " {'tag': 'enrich:b/round-0/repair', 'responses': [{'content': {'background': 'a pilot',"
              "  'memories': [], 'stances': []}}]},"
              " {'tag': 'enrich:c/*', 'responses': [{'content': {'background': 5, 'memories': [], 'stances': []}}]}]");
    ixrun r;
    char body[2048];
    snprintf(body, sizeof body,
             "rounds: 1\n"
             "actors:\n"
             "  - {id: a, name: Ana, role: mayor}\n"
             "  - {id: b, name: Ben, role: boat pilot}\n"
             "  - {id: c, name: Cy, role: medic, profile: {background: given}}\n"
             "enrich: {sources: [\"%s\"]}\n"
             "evaluation: {criteria: []}\n",
             test_tmp_path("ix-notes.txt"));
    run_with(&r, &s, s.base_url, "ix/enrich.h5", body, (agora_interact_options){.enrich = 1});
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.res.status, "degraded"); /* c's profile stayed as configured: no valid answer */
    EXPECT_IN(json_string_value(json_object_get(json_object_get(r.res.summary, "llm"), "degraded_reason")), "enrich:c");
    EXPECT_IN(user_of(&r, "enrich:a/round-0"), "The mill closed in 1998.");
    EXPECT_IN(user_of(&r, "enrich:a/round-0"), "You are Ana, mayor.");
    assert_int_equal(count_tag(r.reqs, "enrich:c/round-0/repair"), 1);

    json_t *actors = table(r.res.path, "/interactions/actors");
    assert_int_equal(json_array_size(actors), 3);
    json_t *pa = json_loads(S(one(actors, "{'actor': 'a'}"), "profile"), 0, NULL),
           *pb = json_loads(S(one(actors, "{'actor': 'b'}"), "profile"), 0, NULL),
           *pc = json_loads(S(one(actors, "{'actor': 'c'}"), "profile"), 0, NULL);
    json_t *want = js("{'background': 'grew up by the river', 'memories': ['the 1998 flood'], "
                      "'stances': [{'topic': 'levee', 'stance': 'build it'}]}");
    assert_true(json_equal(pa, want));
    json_decref(want);
    assert_string_equal(S(pb, "background"), "a pilot");
    want = js("{'background': 'given'}");
    assert_true(json_equal(pc, want)); /* the configured profile, untouched */
    json_decref(want);
    assert_string_equal(S(one(actors, "{'actor': 'b'}"), "provider"), "openai");
    assert_string_equal(S(one(actors, "{'actor': 'b'}"), "model"), "test-model");
    json_decref(pa);
    json_decref(pb);
    json_decref(pc);
    json_decref(actors);
    /* the deepened profile is part of who the actor is */
    EXPECT_IN(sent(r.reqs, "a/round-1", "system"), "More about you: {\"background\":\"grew up by the river\"");
    EXPECT_IN(sent(r.reqs, "c/round-1", "system"), "More about you: {\"background\":\"given\"}");
    json_t *an = table(r.res.path, "/interactions/analytics");
    const json_t *e = one(an, "{'actor': 'enrich'}");
    assert_string_equal(S(e, "kind"), "enrich");
    assert_true(N(e, "calls") == 5 && N(e, "invalid_replies") == 3 && N(e, "turns") == 2);
    json_decref(an);
    json_t *calls = table(r.res.path, "/llm/calls");
    assert_int_equal(count(calls, "{'step': 0, 'persona': 'enrich:c', 'status': 'invalid'}"), 2);
    json_decref(calls);
    run_free(&r);
    llm_server_stop(&s);
}

/* ---- evaluation -------------------------------------------------------------------------------------------------- */

/* After the last round the evaluator scores the run on each criterion (a score above the scale is repaired; a
 * criterion it leaves out is "not scored"), from a transcript of the rounds; stored per criterion, with the
 * narrative and the synthesis, and returned in the result. */
static void evaluation_is_stored_per_criterion(void **state)
{
    (void)state;
    llm_server s;
    start(&s, "[{'tag': 'world/round-1', 'responses': [{'content': {'narrative': 'the river rises', 'outcomes': [],"
              "  'state_changes': []}}]},"
              " {'tag': 'evaluator/round-3', 'responses': [{'content': {'scores': ["
              "  {'criterion': 'cooperation', 'score': 12, 'rationale': 'too generous'}], 'narrative': 'x',"
              "  'synthesis': 'y'}}]},"
              " {'tag': 'evaluator/round-3/repair', 'responses': [{'content': {'scores': ["
              "  {'criterion': 'cooperation', 'score': 7, 'rationale': 'worked together'},"
              "  {'criterion': 'speed', 'score': 3.5, 'rationale': 'slow'}],"
              "  'narrative': 'they coped', 'synthesis': 'Ana led, Ben followed'}}]}]");
    ixrun r;
    char body[1024];
    snprintf(body, sizeof body, "rounds: 2\n%sevaluation: {criteria: [cooperation, ethics, speed], scale: 10}\n",
             TWO_ACTORS);
    run_ok(&r, &s, "ix/evaluation.h5", body);
    const char *ev = user_of(&r, "evaluator/round-3");
    EXPECT_IN(ev, "round 1: the river rises State: ");
    EXPECT_IN(ev, "round 2: quiet State: ");
    EXPECT_IN(ev, "Score the run from 0 to 10 on each criterion: cooperation, ethics, speed.");
    EXPECT_IN(user_of(&r, "evaluator/round-3/repair"), "too generous");
    json_t *rows = table(r.res.path, "/interactions/evaluation");
    assert_int_equal(json_array_size(rows), 5);
    const json_t *x = one(rows, "{'criterion': 'cooperation'}");
    assert_true(N(x, "score") == 7);
    assert_string_equal(S(x, "text"), "worked together");
    x = one(rows, "{'criterion': 'ethics'}");
    assert_true(json_is_null(json_object_get(x, "score")));
    assert_string_equal(S(x, "text"), "not scored");
    assert_true(N(one(rows, "{'criterion': 'speed'}"), "score") == 3.5);
    assert_string_equal(S(one(rows, "{'criterion': 'narrative'}"), "text"), "they coped");
    assert_string_equal(S(one(rows, "{'criterion': 'synthesis'}"), "text"), "Ana led, Ben followed");
    json_decref(rows);
    json_t *want = js("{'scores': {'cooperation': 7.0, 'ethics': null, 'speed': 3.5}, 'narrative': 'they coped', "
                      "'synthesis': 'Ana led, Ben followed'}");
    assert_true(json_equal(r.res.evaluation, want));
    assert_true(json_equal(json_object_get(r.res.summary, "evaluation"), want));
    json_decref(want);
    assert_int_equal(count(r.events, "{'kind': 6, 'status': 'llm', 'text': 'they coped'}"), 1);
    json_t *calls = table(r.res.path, "/llm/calls");
    assert_int_equal(count(calls, "{'step': 3, 'persona': 'evaluator', 'attempt': 1, 'status': 'invalid'}"), 1);
    assert_int_equal(count(calls, "{'step': 3, 'persona': 'evaluator', 'attempt': 2, 'status': 'ok'}"), 1);
    json_decref(calls);
    run_free(&r);
    llm_server_stop(&s);
}

/* ---- analytics --------------------------------------------------------------------------------------------------- */

/* Per actor: turns, messages sent / received / blocked, actions, calls, tokens as the server reported them, and the
 * cost at the configured prices. */
static void analytics_count_messages_calls_tokens_and_cost(void **state)
{
    (void)state;
    llm_server s;
    start(&s, "[{'tag': 'a/round-1', 'responses': [{'prompt_tokens': 1000, 'completion_tokens': 50, 'content': {"
              "  'reasoning': '', 'messages': [{'to': 'b', 'text': 'hello'}, {'to': 'all', 'text': 'hear me'}],"
              "  'actions': [{'name': 'dig', 'target': '', 'duration': 1, 'intent': 'drain'}]}}]},"
              " {'tag': 'a/round-2', 'responses': [{'prompt_tokens': 1000, 'completion_tokens': 50, 'content': {"
              "  'reasoning': '', 'messages': [{'to': 'b', 'text': 'again'}], 'actions': []}}]},"
              " {'tag': 'b/*', 'responses': [{'prompt_tokens': 300, 'completion_tokens': 7, 'content': {"
              "  'reasoning': '', 'messages': [], 'actions': []}}]}]");
    ixrun r;
    run_ok(&r, &s, "ix/analytics.h5",
           "rounds: 2\n"
           "actors:\n"
           "  - {id: a, name: Ana, role: mayor, llm: {cost_per_1k_prompt: 2.0, cost_per_1k_completion: 10.0}}\n"
           "  - {id: b, name: Ben, role: boat pilot}\n"
           "topology: {broadcast: none}\n");
    json_t *an = table(r.res.path, "/interactions/analytics");
    assert_int_equal(json_array_size(an), 4); /* a, b, world, evaluator */
    const json_t *a = one(an, "{'actor': 'a'}");
    assert_string_equal(S(a, "kind"), "actor");
    assert_true(N(a, "turns") == 2 && N(a, "calls") == 2 && N(a, "failed_calls") == 0);
    assert_true(N(a, "messages_sent") == 2 && N(a, "messages_blocked") == 1 && N(a, "messages_received") == 0);
    assert_true(N(a, "actions") == 1);
    assert_true(N(a, "prompt_tokens") == 2000 && N(a, "completion_tokens") == 100);
    /* 2 x (1000 x 2.0 + 50 x 10.0) / 1000, exact in binary */
    if (N(a, "cost") != 5.0)
        fail_msg("cost %g, expected 5", N(a, "cost"));
    assert_true(N(a, "latency_ms_max") >= N(a, "latency_ms_mean") && N(a, "latency_ms_mean") > 0);
    const json_t *b = one(an, "{'actor': 'b'}");
    assert_true(N(b, "messages_received") == 2 && N(b, "messages_sent") == 0);
    assert_true(N(b, "prompt_tokens") == 600 && N(b, "completion_tokens") == 14);
    assert_true(N(b, "cost") == 0); /* no prices configured */
    const json_t *w = one(an, "{'actor': 'world'}");
    assert_string_equal(S(w, "kind"), "world");
    assert_true(N(w, "turns") == 2 && N(w, "calls") == 2);
    assert_true(N(one(an, "{'actor': 'evaluator'}"), "calls") == 1);
    json_decref(an);
    /* the same in the result's summary and per turn */
    const json_t *sa = json_object_get(json_object_get(r.res.summary, "analytics"), "a");
    assert_true(json_number_value(json_object_get(sa, "cost")) == 5.0);
    assert_int_equal(json_integer_value(json_object_get(sa, "messages_blocked")), 1);
    json_t *turns = table(r.res.path, "/interactions/turns");
    assert_int_equal(json_array_size(turns), 4);
    const json_t *t = one(turns, "{'actor': 'a', 'round': 1}");
    assert_true(N(t, "prompt_tokens") == 1000 && N(t, "completion_tokens") == 50);
    assert_true(N(t, "messages") == 2 && N(t, "actions") == 1);
    assert_string_equal(S(t, "source"), "llm");
    json_decref(turns);
    run_free(&r);
    llm_server_stop(&s);
}

/* ---- faults ------------------------------------------------------------------------------------------------------ */

/* A 429 with Retry-After then a reply, a hang past the timeout, a garbage body, a dropped connection, and replies
 * invalid twice: the run completes, each call is recorded with its status, the turns that got nothing are "failed"
 * (or "invalid") and the actors are told next round. */
static void llm_faults_are_recorded_and_the_run_goes_on(void **state)
{
    (void)state;
    llm_server s;
    start(&s, "[{'tag': 'a/round-1', 'responses': [{'status': 429, 'retry_after': 1},"
              "  {'content': {'reasoning': 'after the wait', 'messages': [], 'actions': []}}]},"
              " {'tag': 'b/round-1', 'responses': [{'hang': true}]},"
              " {'tag': 'c/round-1', 'responses': [{'raw_body': 'this is not json {'}]},"
              " {'tag': 'd/round-1', 'responses': [{'drop': true}]},"
              " {'tag': 'e/round-1*', 'responses': [{'content': 'I will not answer in JSON'}]}]");
    ixrun r;
    /* calls that failed (b, c, d) or stayed invalid (e): the run goes on, and is recorded as degraded */
    run_expect(&r, &s, "ix/faults.h5",
               "rounds: 2\n"
               "actors:\n"
               "  - {id: a, name: Ana, role: mayor, llm: {max_retries: 1}}\n"
               "  - {id: b, name: Ben, role: boat pilot, llm: {timeout_s: 0.5}}\n"
               "  - {id: c, name: Cy, role: medic}\n"
               "  - {id: d, name: Dee, role: teacher}\n"
               "  - {id: e, name: Eve, role: clerk}\n"
               "evaluation: {criteria: []}\n",
               "degraded");
    assert_int_equal(r.res.rounds_done, 2);
    const json_t *llm = json_object_get(r.res.summary, "llm");
    assert_true(json_is_true(json_object_get(llm, "degraded")));
    assert_int_equal(json_integer_value(json_object_get(llm, "fallbacks")), 4); /* b, c, d failed; e invalid twice */
    EXPECT_IN(json_string_value(json_object_get(llm, "degraded_reason")), "4 ");
    json_t *calls = table(r.res.path, "/llm/calls");
    const json_t *c = one(calls, "{'step': 1, 'persona': 'a'}");
    assert_string_equal(S(c, "status"), "ok");
    assert_true(N(c, "http_attempts") == 2 && N(c, "http_status") == 200);
    assert_true(N(c, "latency_ms") >= 900); /* Retry-After: 1 was waited out (less 10% for clock granularity) */
    c = one(calls, "{'step': 1, 'persona': 'b'}");
    assert_string_equal(S(c, "status"), "timeout");
    /* the 0.5 s timeout, not the server's hour-long hang (generous bounds: a loaded machine is slow to wake) */
    assert_true(N(c, "latency_ms") >= 400 && N(c, "latency_ms") < 5000);
    assert_string_equal(S(one(calls, "{'step': 1, 'persona': 'c'}"), "status"), "bad_response");
    assert_string_equal(S(one(calls, "{'step': 1, 'persona': 'd'}"), "status"), "connect");
    assert_int_equal(count(calls, "{'step': 1, 'persona': 'e', 'status': 'invalid'}"), 2);
    assert_string_equal(S(one(calls, "{'step': 1, 'persona': 'e', 'attempt': 2}"), "reply"),
                        "I will not answer in JSON");
    assert_int_equal(count(calls, "{'step': 2, 'status': 'ok'}"), 6); /* five actors and the world */
    json_decref(calls);
    json_t *turns = table(r.res.path, "/interactions/turns");
    assert_string_equal(S(one(turns, "{'round': 1, 'actor': 'a'}"), "source"), "llm");
    assert_string_equal(S(one(turns, "{'round': 1, 'actor': 'a'}"), "reasoning"), "after the wait");
    assert_string_equal(S(one(turns, "{'round': 1, 'actor': 'b'}"), "source"), "failed");
    assert_string_equal(S(one(turns, "{'round': 1, 'actor': 'c'}"), "source"), "failed");
    assert_string_equal(S(one(turns, "{'round': 1, 'actor': 'd'}"), "source"), "failed");
    assert_string_equal(S(one(turns, "{'round': 1, 'actor': 'e'}"), "source"), "invalid");
    assert_int_equal(count(turns, "{'round': 2, 'source': 'llm'}"), 5);
    json_decref(turns);
    EXPECT_IN(user_of(&r, "b/round-2"), "round 1: you could not act (failed).");
    EXPECT_IN(user_of(&r, "e/round-2"), "you could not act (invalid).");
    assert_int_equal(count(r.events, "{'kind': 7, 'actor': 'b'}"), 1);
    json_t *an = table(r.res.path, "/interactions/analytics");
    assert_true(N(one(an, "{'actor': 'b'}"), "failed_calls") == 1);
    assert_true(N(one(an, "{'actor': 'e'}"), "invalid_replies") == 2);
    assert_true(N(one(an, "{'actor': 'a'}"), "failed_calls") == 0);
    json_decref(an);
    run_free(&r);
    llm_server_stop(&s);
}

/* ---- replay ------------------------------------------------------------------------------------------------------ */

static const char *const REPLAY_RULES =
    "[{'tag': 'a/round-1', 'responses': [{'content': {'reasoning': 'plan', 'messages': [{'to': 'all', 'text': 'go'},"
    "   {'to': 'b', 'text': 'help'}], 'actions': [{'name': 'dig', 'target': 'b', 'duration': 2, 'intent': "
    "'drain'}]}}]},"
    " {'tag': 'b/round-1', 'responses': [{'content': 'not json'}]},"
    " {'tag': 'b/round-1/repair', 'responses': [{'content': {'reasoning': 'ok', 'messages': [{'to': 'c', 'text': "
    "   'blocked?'}], 'actions': []}}]},"
    " {'tag': 'c/round-2', 'responses': [{'status': 500}]},"
    " {'tag': 'world/round-2', 'responses': [{'content': {'narrative': 'drained', 'outcomes': [{'action_id': 0, "
    "   'result': 'partial', 'outcome': 'half dry'}], 'state_changes': [{'key': 'level', 'value': 1.25}]}}]},"
    " {'tag': 'evaluator/round-4', 'responses': [{'content': {'scores': [{'criterion': 'cooperation', 'score': 6,"
    "   'rationale': 'fair'}], 'narrative': 'a wet week', 'synthesis': 'Ana drove it'}}]}]";

static const char *const REPLAY_BODY = "rounds: 3\n"
                                       "round_unit: day\n"
                                       "world: {description: \"%s\", state: {level: 2.0, open: true},"
                                       " dynamics: [{key: level, add: 0.25}]}\n"
                                       "actors:\n"
                                       "  - {id: a, name: Ana, role: mayor}\n"
                                       "  - {id: b, name: Ben, role: boat pilot%s}\n"
                                       "  - {id: c, name: Cy, role: medic}\n"
                                       "topology: {direct: [[a, b], [a, c]], broadcast: [a]}\n"
                                       "evaluation: {criteria: [cooperation]}\n";

static const char *const IX_TABLES[] = {"/interactions/actors",
                                        "/interactions/turns",
                                        "/interactions/messages",
                                        "/interactions/actions",
                                        "/interactions/world",
                                        "/interactions/evaluation",
                                        "/interactions/analytics",
                                        "/metrics",
                                        "/llm/calls"};

/* A run replayed from its own /llm/calls with no server gives every table equal; a changed scenario stops with an
 * error naming the step and the caller, unless lenient; a longer scenario finds no recorded call. */
static void replay_is_bit_exact_without_a_server(void **state)
{
    (void)state;
    llm_server s;
    start(&s, REPLAY_RULES);
    char body[2048], url[64];
    snprintf(body, sizeof body, REPLAY_BODY, "A river town floods.", "");
    ixrun r;
    run_expect(&r, &s, "ix/recorded.h5", body, "degraded"); /* c's call fails in round 2 */
    snprintf(url, sizeof url, "%s", s.base_url);
    size_t n_requests = json_array_size(r.reqs);
    llm_server_stop(&s); /* from here on, nothing answers at url */
    assert_true(n_requests >= 3 * 4 + 2);

    json_t *calls = NULL;
    agora_error err;
    assert_int_equal(agora_h5_llm_calls(r.res.path, &calls, &err), 0);
    assert_int_equal(json_array_size(calls), n_requests);
    assert_int_equal(count(calls, "{'status': 'http_error'}"), 1);
    ixrun re;
    run_with(&re, NULL, url, "ix/replayed.h5", body, (agora_interact_options){.replay = calls});
    if (re.rc != 0) {
        char buf[1024];
        fail_msg("replay: %s", agora_error_format(&re.err, buf, sizeof buf));
    }
    assert_string_equal(re.res.status, "degraded"); /* the recorded failure, replayed */
    for (size_t i = 0; i < sizeof IX_TABLES / sizeof IX_TABLES[0]; i++) {
        json_t *x = table(r.res.path, IX_TABLES[i]), *y = table(re.res.path, IX_TABLES[i]);
        assert_true(json_array_size(x) > 0);
        if (!json_equal(x, y)) {
            char *a = json_dumps(x, JSON_INDENT(1)), *b = json_dumps(y, JSON_INDENT(1));
            fail_msg("%s differs after replay:\n%s\n---\n%s", IX_TABLES[i], a, b);
        }
        json_decref(x);
        json_decref(y);
    }
    assert_true(json_equal(r.res.evaluation, re.res.evaluation));
    assert_true(json_equal(json_object_get(r.res.summary, "state"), json_object_get(re.res.summary, "state")));
    run_free(&re);

    /* another world description: the first actor's prompt differs */
    snprintf(body, sizeof body, REPLAY_BODY, "A mountain town burns.", "");
    run_with(&re, NULL, url, "ix/changed.h5", body, (agora_interact_options){.replay = calls});
    assert_int_not_equal(re.rc, 0);
    assert_string_equal(re.err.where, "--replay");
    EXPECT_IN(re.err.msg, "step 1, caller a: the prompt differs from the recording");
    assert_string_equal(re.res.status, "failed");
    json_t *info = NULL;
    assert_int_equal(agora_h5_inspect(re.res.path, &info, &err), 0);
    assert_string_equal(json_string_value(json_object_get(info, "status")), "failed");
    json_decref(info);
    run_free(&re);
    /* lenient: the recorded replies anyway */
    run_with(&re, NULL, url, "ix/lenient.h5", body, (agora_interact_options){.replay = calls, .replay_lenient = 1});
    assert_int_equal(re.rc, 0);
    assert_string_equal(re.res.status, "degraded");
    json_t *x = table(r.res.path, "/interactions/messages"), *y = table(re.res.path, "/interactions/messages");
    assert_true(json_equal(x, y)); /* the same replies, so the same messages */
    json_decref(x);
    json_decref(y);
    run_free(&re);
    /* another trait of b: a's prompt is the same (answered), b's is not */
    snprintf(body, sizeof body, REPLAY_BODY, "A river town floods.", ", traits: [calm]");
    run_with(&re, NULL, url, "ix/changed-b.h5", body, (agora_interact_options){.replay = calls});
    assert_int_not_equal(re.rc, 0);
    EXPECT_IN(re.err.msg, "step 1, caller b: the prompt differs from the recording");
    run_free(&re);
    /* a recording without the evaluator's call: the run stops there, naming it */
    json_t *partial = json_array();
    size_t i;
    json_t *row;
    json_array_foreach(calls, i, row) {
        if (strcmp(S(row, "persona"), "evaluator") != 0)
            json_array_append(partial, row);
    }
    snprintf(body, sizeof body, REPLAY_BODY, "A river town floods.", "");
    run_with(&re, NULL, url, "ix/partial.h5", body, (agora_interact_options){.replay = partial});
    assert_int_not_equal(re.rc, 0);
    EXPECT_IN(re.err.msg, "step 4, caller evaluator: the recording has no call for a decision here");
    assert_int_equal(re.res.rounds_done, 3);
    run_free(&re);
    json_decref(partial);
    json_decref(calls);
    run_free(&r);
}

/* A scenario of another mode is refused; an interactions scenario that does not check names the key. */
static void other_modes_and_bad_scenarios_are_refused(void **state)
{
    (void)state;
    agora_scenario *sc = test_scenario("model: sir\nspace: {kind: grid, width: 10, height: 10}\n");
    agora_interact_result res;
    agora_error err;
    assert_int_equal(agora_interact_run(sc, NULL, &res, &err), AGORA_EINVAL);
    assert_string_equal(err.where, "mode");
    assert_string_equal(res.status, "failed");
    agora_scenario_destroy(sc);
    struct {
        const char *yaml, *where;
    } cases[] = {
        {"actors: [{id: a, role: r}, {id: a, role: r}]", "actors[1].id"},
        {"actors: [{id: world, role: r}]", "actors[0].id"},
        {"actors: [{id: a, role: r, relationships: {b: friend}}]", "actors[0].relationships.b"},
        {"actors: [{id: a, role: r}]\ntopology: {direct: [[a, z]]}", "topology.direct[0]"},
        {"actors: [{id: a, role: r}]\ntopology: {broadcast: [z]}", "topology.broadcast[0]"},
        {"actors: [{id: a, role: r}]\nworld: {state: {x: 1}, dynamics: [{key: y, add: 1}]}", "world.dynamics[0].key"},
        {"actors: [{id: a, role: r}]\nworld: {state: {x: 1}, dynamics: [{key: x, add: 1, mul: 2}]}",
         "world.dynamics[0]"},
        {"actors: [{id: a, role: r}]\nturn_order: random", "turn_order"},
        {"actors: [{id: a, role: r}]\nrounds: 0", "rounds"},
        {"actors: [{id: a, role: r}]\ncolour: red", "colour"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char yaml[1024];
        snprintf(yaml, sizeof yaml, "mode: interactions\n%s\n", cases[i].yaml);
        sc = NULL;
        if (agora_scenario_parse(yaml, strlen(yaml), "bad.yaml", NULL, &sc, &err) == 0)
            fail_msg("case %zu loaded:\n%s", i, yaml);
        /* where names the file; the message starts with the key path */
        size_t n = strlen(cases[i].where);
        if (strncmp(err.msg, cases[i].where, n) != 0 || err.msg[n] != ':')
            fail_msg("case %zu: %s, expected at %s", i, err.msg, cases[i].where);
        assert_true(err.line > 0);
    }
}

/* ---- a dead LLM and the governor --------------------------------------------------------------------------------- */

/* No server at the URL: checked once, nothing sent or waited for (five retries configured), every actor passes,
 * the world engine and the evaluator are skipped, and the run is degraded, saying why. */
static void a_dead_llm_degrades_the_run_at_once(void **state)
{
    (void)state;
    ixrun r;
    llm_extra = "max_retries: 5";
    run_with(&r, NULL, "http://127.0.0.1:9", "ix/dead.h5",
             "rounds: 4\nactors:\n  - {id: a, name: Ana, role: mayor}\n  - {id: b, name: Ben, role: pilot}\n",
             (agora_interact_options){0});
    llm_extra = LLM_DEFAULT;
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.res.status, "degraded");
    /* five retries with backoff from 0.5 s would wait at least 7.75 s for one call: none was retried */
    assert_true(r.res.wall_time_s < 5.0);
    assert_int_equal(r.res.rounds_done, 4);
    const json_t *llm = json_object_get(r.res.summary, "llm");
    EXPECT_IN(json_string_value(json_object_get(llm, "degraded_reason")),
              "no LLM server at http://127.0.0.1:9: connection refused");
    assert_int_equal(json_integer_value(json_object_get(llm, "calls")), 0);
    json_t *calls = table(r.res.path, "/llm/calls");
    assert_int_equal(count(calls, "{'status': 'unreachable'}"), json_array_size(calls));
    assert_int_equal(count(calls, "{'persona': 'world'}"), 4);
    json_decref(calls);
    /* said once, as a note the CLI shows */
    int said = 0;
    size_t i;
    json_t *e;
    json_array_foreach(r.events, i, e)
        said += strstr(S(e, "text"), "no LLM server at") != NULL;
    assert_int_equal(said, 1);
    json_t *info = NULL;
    agora_error err;
    assert_int_equal(agora_h5_inspect(r.res.path, &info, &err), 0);
    assert_string_equal(json_string_value(json_object_get(info, "status")), "degraded");
    json_decref(info);
    run_free(&r);
}

/* llm.max_calls over a run of actors, world engine and evaluator: a round's actors are capped in actor order, then
 * they pass ("budget"), the world engine and the evaluator are skipped; recorded, and the run stays complete. Limits
 * belong to the whole run: an actor's llm block may not set them. */
static void the_budget_makes_actors_pass(void **state)
{
    (void)state;
    llm_server s;
    start(&s, NULL);
    ixrun r;
    llm_extra = "max_retries: 0, max_calls: 3";
    run_ok(&r, &s, "ix/budget.h5",
           "rounds: 3\nactors:\n  - {id: a, name: Ana, role: mayor}\n  - {id: b, name: Ben, role: pilot}\n");
    llm_extra = LLM_DEFAULT;
    assert_int_equal(json_array_size(r.reqs), 3); /* round 1: a, b, the world */
    json_t *turns = table(r.res.path, "/interactions/turns");
    assert_int_equal(count(turns, "{'source': 'llm'}"), 2);
    assert_int_equal(count(turns, "{'source': 'budget'}"), 4);
    json_decref(turns);
    json_t *world = table(r.res.path, "/interactions/world");
    assert_int_equal(count(world, "{'status': 'budget'}"), 2);
    json_decref(world);
    json_t *ev = table(r.res.path, "/interactions/evaluation");
    EXPECT_IN(S(json_array_get(ev, 0), "text"), "budget");
    json_decref(ev);
    const json_t *b = json_object_get(json_object_get(r.res.summary, "llm"), "budget");
    assert_string_equal(json_string_value(json_object_get(b, "limit")), "max_calls");
    assert_int_equal(json_integer_value(json_object_get(b, "reached_at_step")), 2);
    EXPECT_IN(user_of(&r, "a/round-1"), "Round 1"); /* asked in round 1 */
    run_free(&r);
    /* an actor's own limit is refused, naming the key */
    agora_scenario *sc = NULL;
    agora_error err;
    const char *yaml = "mode: interactions\nllm: {provider: openai, model: m}\n"
                       "actors: [{id: a, role: r, llm: {max_calls: 2}}]\n";
    assert_int_not_equal(agora_scenario_parse(yaml, strlen(yaml), "x.yaml", NULL, &sc, &err), 0);
    EXPECT_IN(err.msg, "actors[0].llm.max_calls");
    EXPECT_IN(err.msg, "top-level llm");
    llm_server_stop(&s);
}

/* A dynamics entry with a value that is not a number is refused naming it, and the entry built so far is freed (found
 * by tests/fuzz/fuzz_scenario: a leak, which the sanitizer build's leak check at exit reports). */
static void a_dynamics_value_that_is_not_a_number_is_refused(void **state)
{
    (void)state;
    static const char *const ops[] = {"add", "mul", "set", "min", "max"};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        char yaml[512], where[64];
        snprintf(yaml, sizeof yaml,
                 "mode: interactions\nactors: [{id: a, role: r}]\n"
                 "world: {state: {x: 1}, dynamics: [{key: x, add: 1}, {key: x, %s: high}]}\n",
                 ops[i]);
        snprintf(where, sizeof where, "world.dynamics[1].%s: expected a number", ops[i]);
        agora_scenario *sc = NULL;
        agora_error err;
        assert_int_equal(agora_scenario_parse(yaml, strlen(yaml), "bad.yaml", NULL, &sc, &err), AGORA_ESCHEMA);
        assert_null(sc);
        if (strncmp(err.msg, where, strlen(where)) != 0)
            fail_msg("%s: %s, expected %s", ops[i], err.msg, where);
    }
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(actions_last_their_duration_and_resolve_when_they_end),
        cmocka_unit_test(messages_follow_the_topology_and_arrive_next_round),
        cmocka_unit_test(inbox_and_memory_are_bounded),
        cmocka_unit_test(world_changes_state_and_delivers_outcomes),
        cmocka_unit_test(sequential_turns_see_earlier_actors),
        cmocka_unit_test(long_non_ascii_targets_and_outcomes_still_reach_the_actors),
        cmocka_unit_test(simultaneous_turns_see_nothing_of_the_round),
        cmocka_unit_test(operator_messages_arrive_next_round_and_a_stop_interrupts),
        cmocka_unit_test(a_question_becomes_a_scenario_with_safe_unique_ids),
        cmocka_unit_test(a_bad_generation_is_repaired_once),
        cmocka_unit_test(generation_fails_after_two_invalid_replies),
        cmocka_unit_test(enrichment_deepens_profiles_and_survives_bad_replies),
        cmocka_unit_test(evaluation_is_stored_per_criterion),
        cmocka_unit_test(analytics_count_messages_calls_tokens_and_cost),
        cmocka_unit_test(llm_faults_are_recorded_and_the_run_goes_on),
        cmocka_unit_test(replay_is_bit_exact_without_a_server),
        cmocka_unit_test(other_modes_and_bad_scenarios_are_refused),
        cmocka_unit_test(a_dead_llm_degrades_the_run_at_once),
        cmocka_unit_test(the_budget_makes_actors_pass),
        cmocka_unit_test(a_dynamics_value_that_is_not_a_number_is_refused),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
