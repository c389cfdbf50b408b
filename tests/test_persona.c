/* Tests of persona agents: rule conditions, configuration errors, offline policies, and decisions over HTTP against
 * the loopback LLM server — valid replies applied, invalid ones repaired or dropped, failed calls falling back to the
 * rules, memory in the next prompt, and actions applied in persona order whatever order the replies arrive in. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "agora/agora.h"
#include "agora/persona.h"
#include "llm_server.h"
#include "support.h"

/* ---- conditions -------------------------------------------------------------------------------------------------- */

static void conditions_evaluate_and_report_syntax_errors(void **state)
{
    (void)state;
    json_t *obs = json_loads("{\"I_frac\": 0.06, \"step\": 12, \"lockdown\": {\"steps_left\": 3}, \"flag\": true}", 0,
                             NULL);
    agora_error err;
    assert_int_equal(agora_condition_eval("I_frac > 0.05", obs, &err), 1);
    assert_int_equal(agora_condition_eval("I_frac > 0.05 and step < 10", obs, &err), 0);
    assert_int_equal(agora_condition_eval("I_frac > 0.5 or step >= 12", obs, &err), 1);
    assert_int_equal(agora_condition_eval("not (I_frac > 0.05)", obs, &err), 0);
    assert_int_equal(agora_condition_eval("lockdown.steps_left == 3", obs, &err), 1);
    assert_int_equal(agora_condition_eval("flag and 0.01 < I_frac", obs, &err), 1);
    assert_int_equal(agora_condition_eval("missing > 0 or missing <= 0", obs, &err), 0); /* absent: false */
    assert_int_equal(agora_condition_eval("(step > 1 and (I_frac != 0))", obs, &err), 1);
    assert_int_equal(agora_condition_eval("I_frac >", obs, &err), -1);
    assert_non_null(strstr(err.msg, "column"));
    assert_int_equal(agora_condition_eval("I_frac > 0.05 extra", obs, &err), -1);
    assert_int_equal(agora_condition_eval("(step > 1", obs, &err), -1);
    json_decref(obs);
}

/* ---- configuration ----------------------------------------------------------------------------------------------- */
/* Parentheses and `not` nested past 100 levels are a syntax error, not a stack overflow (found by
 * tests/fuzz/fuzz_condition: a condition of a million "(" crashed the recursive parser, and with it `agora validate`
 * or an MCP server given the scenario). The message quotes the start of a long condition only, so that the reason
 * is not cut off. 100 levels still evaluate. */
static void deeply_nested_conditions_are_an_error_not_a_crash(void **state)
{
    (void)state;
    json_t *obs = json_loads("{\"x\": 1}", 0, NULL);
    agora_error err;
    const size_t deep = 1000000;
    char *text = malloc(2 * deep + 8);
    assert_non_null(text);
    static const char *const opens[] = {"(", "not "};
    for (size_t k = 0; k < 2; k++) {
        size_t n = 0;
        for (size_t i = 0; i < deep / strlen(opens[k]); i++, n += strlen(opens[k]))
            memcpy(text + n, opens[k], strlen(opens[k]));
        strcpy(text + n, "x");
        assert_int_equal(agora_condition_eval(text, obs, &err), -1);
        assert_non_null(strstr(err.msg, "too deeply nested"));
    }
    /* 100 parentheses around x, then 100 `not`s: still fine */
    size_t n = 0;
    for (int i = 0; i < 100; i++)
        text[n++] = '(';
    text[n++] = 'x';
    for (int i = 0; i < 100; i++)
        text[n++] = ')';
    text[n] = '\0';
    assert_int_equal(agora_condition_eval(text, obs, &err), 1);
    n = 0;
    for (int i = 0; i < 100; i++, n += 4)
        memcpy(text + n, "not ", 4);
    strcpy(text + n, "x");
    assert_int_equal(agora_condition_eval(text, obs, &err), 1); /* an even number of nots */
    free(text);
    json_decref(obs);
}

/* ---- configuration ------------------------------------------------------------------------------------------------- */

static const agora_model *sir(void)
{
    return agora_model_find("sir");
}

static int create_from(const char *llm, const char *personas, agora_personas **ps, agora_error *err)
{
    json_t *l = llm ? json_loads(llm, 0, NULL) : NULL, *p = json_loads(personas, 0, NULL);
    assert_non_null(p);
    int rc = agora_personas_create(l, p, sir(), ps, err);
    json_decref(l);
    json_decref(p);
    return rc;
}

static void bad_configurations_name_the_key(void **state)
{
    (void)state;
    agora_personas *ps = NULL;
    agora_error err;
    struct {
        const char *llm, *personas, *where;
    } cases[] = {
        {"{\"provider\": \"gpt\"}", "[{\"id\": \"a\"}]", "llm.provider"},
        {"{\"provider\": \"ollama\"}", "[{\"id\": \"a\"}]", "llm.model"},
        {"{\"provider\": \"ollama\", \"model\": \"m\", \"timeout_s\": -1}", "[{\"id\": \"a\"}]", "llm.timeout_s"},
        {"{\"provider\": \"ollama\", \"model\": \"m\", \"colour\": 1}", "[{\"id\": \"a\"}]", "llm.colour"},
        {"{\"provider\": \"ollama\", \"model\": \"m\", \"keep_threads_warm\": 1}", "[{\"id\": \"a\"}]",
         "llm.keep_threads_warm"},
        {NULL, "[]", "personas"},
        {NULL, "[{\"role\": \"x\"}]", "personas[0].id"},
        {NULL, "[{\"id\": \"a\"}, {\"id\": \"a\"}]", "personas[1].id"},
        {NULL, "[{\"id\": \"a\", \"every\": 0}]", "personas[0].every"},
        {NULL, "[{\"id\": \"a\", \"offline_policy\": [{\"when\": \"I_frac >\", \"do\": {\"action\": \"vaccinate\", \"fraction\": 0.1}}]}]",
         "personas[0].offline_policy[0].when"},
        {NULL, "[{\"id\": \"a\", \"offline_policy\": [{\"do\": {\"action\": \"vaccinate\", \"fraction\": 3}}]}]",
         "personas[0].offline_policy[0].do.fraction"},
        {NULL, "[{\"id\": \"a\", \"offline_policy\": [{\"do\": [{\"action\": \"nuke\"}]}]}]",
         "personas[0].offline_policy[0].do[0].action"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_not_equal(create_from(cases[i].llm, cases[i].personas, &ps, &err), 0);
        assert_null(ps);
        if (strcmp(err.where, cases[i].where) != 0)
            fail_msg("case %zu: error at %s (%s), expected at %s", i, err.where, err.msg, cases[i].where);
    }
}

/* ---- hooks that record ------------------------------------------------------------------------------------------- */

typedef struct record {
    json_t *calls, *actions, *decisions;
} record;

static void on_call(void *ud, const agora_persona_call *c)
{
    record *r = ud;
    json_array_append_new(r->calls, json_pack("{s:I, s:s, s:i, s:s, s:s, s:s, s:s, s:i}", "step", (json_int_t)c->step,
                                              "persona", c->persona, "attempt", c->attempt, "status", c->status,
                                              "error", c->error, "prompt", c->prompt, "reply", c->reply, "http",
                                              c->http_status));
}

static void on_action(void *ud, int64_t step, const char *persona, const char *action, const char *status,
                      const char *message)
{
    record *r = ud;
    json_array_append_new(r->actions, json_pack("{s:I, s:s, s:s, s:s, s:s}", "step", (json_int_t)step, "persona",
                                                persona, "action", action, "status", status, "message", message));
}

static void on_decision(void *ud, const agora_persona_decision *d)
{
    record *r = ud;
    json_array_append_new(r->decisions, json_pack("{s:I, s:s, s:s, s:s, s:i, s:i}", "step", (json_int_t)d->step,
                                                  "persona", d->persona, "source", d->source, "reasoning",
                                                  d->reasoning, "n_actions", d->n_actions, "n_applied", d->n_applied));
}

static agora_persona_hooks hooks(record *r)
{
    r->calls = json_array();
    r->actions = json_array();
    r->decisions = json_array();
    return (agora_persona_hooks){.ud = r, .on_call = on_call, .on_action = on_action, .on_decision = on_decision};
}

static void record_free(record *r)
{
    json_decref(r->calls);
    json_decref(r->actions);
    json_decref(r->decisions);
}

static const char *str_at(const json_t *arr, size_t i, const char *key)
{
    return json_string_value(json_object_get(json_array_get(arr, i), key));
}

static agora_world *sir_world(void)
{
    return test_world("model: sir\nspace: {kind: grid, width: 60, height: 60}\n"
                      "params: {beta: 0.2, gamma: 0.05, initial_infected: 20}\nseed: 3\n",
                      2);
}

static double metric(agora_world *w, const char *name)
{
    double m[64];
    agora_world_measure(w, m);
    return m[agora_model_metric_index(sir(), name)];
}

/* ---- offline ----------------------------------------------------------------------------------------------------- */

static void offline_rules_fire_when_due_and_are_labelled_rules(void **state)
{
    (void)state;
    agora_personas *ps = NULL;
    agora_error err;
    assert_int_equal(create_from(NULL,
                                 "[{\"id\": \"minister\", \"every\": 5, \"start\": 5, \"offline_policy\": ["
                                 " {\"when\": \"I_frac > 0 and step >= 5\", \"do\": {\"action\": \"lockdown\", \"strength\": 0.5, \"steps\": 3}},"
                                 " {\"when\": \"I_frac > 0.99\", \"do\": {\"action\": \"vaccinate\", \"fraction\": 1}}]}]",
                                 &ps, &err),
                     0);
    assert_true(agora_personas_offline(ps));
    agora_world *w = sir_world();
    record r;
    agora_persona_hooks h = hooks(&r);
    for (int t = 0; t <= 10; t++) {
        assert_int_equal(agora_personas_act(ps, w, &h, &err), 0);
        agora_world_step(w);
    }
    /* due at 5 and 10 only */
    assert_int_equal(json_array_size(r.decisions), 2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(r.decisions, 0), "step")), 5);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(r.decisions, 1), "step")), 10);
    assert_string_equal(str_at(r.decisions, 0, "source"), "rules");
    assert_int_equal(json_array_size(r.calls), 0); /* no LLM */
    /* the first rule holds at both decisions, the second never */
    assert_int_equal(json_array_size(r.actions), 2);
    size_t i;
    json_t *a;
    json_array_foreach(r.actions, i, a) {
        assert_string_equal(json_string_value(json_object_get(a, "status")), "applied");
        assert_non_null(strstr(json_string_value(json_object_get(a, "action")), "lockdown"));
    }
    record_free(&r);
    agora_world_destroy(w);
    agora_personas_destroy(ps);
}

/* ---- over HTTP --------------------------------------------------------------------------------------------------- */

static char *llm_config(const llm_server *s, const char *provider, int retries)
{
    char *buf = malloc(512);
    snprintf(buf, 512,
             "{\"provider\": \"%s\", \"model\": \"test\", \"base_url\": \"%s\", \"timeout_s\": 5, "
             "\"max_retries\": %d, \"seed\": 1}",
             provider, s->base_url, retries);
    return buf;
}

/* The chat requests the server received (the endpoint check's GET left out). */
static json_t *chat_requests(const llm_server *s)
{
    json_t *all = llm_server_requests(s), *out = json_array();
    size_t i;
    json_t *q;
    json_array_foreach(all, i, q) {
        const char *path = json_string_value(json_object_get(q, "path"));
        if (path && (strcmp(path, "/api/chat") == 0 || strcmp(path, "/v1/chat/completions") == 0))
            json_array_append(out, q);
    }
    json_decref(all);
    return out;
}

static size_t count_path(const llm_server *s, const char *path)
{
    json_t *all = llm_server_requests(s);
    size_t i, n = 0;
    json_t *q;
    json_array_foreach(all, i, q)
        n += strcmp(json_string_value(json_object_get(q, "path")), path) == 0;
    json_decref(all);
    return n;
}

static void valid_replies_are_applied_and_remembered(void **state)
{
    (void)state;
    llm_server s;
    assert_int_equal(
        llm_server_start(&s, "{\"rules\": [{\"tag\": \"minister/step-0\", \"responses\": [{\"content\": "
                             "\"{\\\"reasoning\\\": \\\"contain it\\\", \\\"actions\\\": [{\\\"action\\\": \\\"lockdown\\\", "
                             "\\\"strength\\\": 1.0, \\\"steps\\\": 2}]}\"}]},"
                             "{\"tag\": \"minister/*\", \"responses\": [{\"content\": "
                             "\"{\\\"reasoning\\\": \\\"wait\\\", \\\"actions\\\": []}\"}]}]}"),
        0);
    char *llm = llm_config(&s, "ollama", 1);
    agora_personas *ps = NULL;
    agora_error err;
    assert_int_equal(create_from(llm, "[{\"id\": \"minister\", \"role\": \"health minister\", \"every\": 2, "
                                      "\"persona\": \"Cautious, trusts data.\"}]",
                                 &ps, &err),
                     0);
    assert_false(agora_personas_offline(ps));
    agora_world *w = sir_world();
    record r;
    agora_persona_hooks h = hooks(&r);
    assert_int_equal(agora_personas_act(ps, w, &h, &err), 0);
    assert_true(metric(w, "beta_eff") == 0.0); /* the full lockdown is in force */
    assert_int_equal(json_array_size(r.calls), 1);
    assert_string_equal(str_at(r.calls, 0, "status"), "ok");
    assert_string_equal(str_at(r.decisions, 0, "source"), "llm");
    assert_string_equal(str_at(r.decisions, 0, "reasoning"), "contain it");
    const char *prompt = str_at(r.calls, 0, "prompt");
    assert_non_null(strstr(prompt, "health minister"));
    assert_non_null(strstr(prompt, "Cautious, trusts data."));
    assert_non_null(strstr(prompt, "\"I_frac\""));      /* the observation */
    assert_non_null(strstr(prompt, "seed_infection")); /* the action schema */
    agora_world_step(w);
    assert_int_equal(agora_personas_act(ps, w, &h, &err), 0); /* step 1: not due */
    assert_int_equal(json_array_size(r.calls), 1);
    agora_world_step(w);
    assert_int_equal(agora_personas_act(ps, w, &h, &err), 0); /* step 2: due, remembers step 0 */
    assert_int_equal(json_array_size(r.calls), 2);
    prompt = str_at(r.calls, 1, "prompt");
    assert_non_null(strstr(prompt, "step 0: you did [{\"action\":\"lockdown\""));
    assert_non_null(strstr(prompt, "contain it"));
    /* the wire: the tag per persona and step, the reply schema as Ollama's format (after one endpoint check) */
    json_t *reqs = chat_requests(&s);
    assert_int_equal(json_array_size(reqs), 2);
    assert_string_equal(str_at(reqs, 1, "tag"), "minister/step-2");
    json_t *format = json_object_get(json_object_get(json_array_get(reqs, 0), "body"), "format");
    assert_non_null(json_object_get(json_object_get(format, "properties"), "actions"));
    json_decref(reqs);
    record_free(&r);
    agora_world_destroy(w);
    agora_personas_destroy(ps);
    free(llm);
    llm_server_stop(&s);
}

/* What a persona keeps is cut to fit (its reasoning to 300 bytes in memory, a message to an inbox line), and a cut
 * ends on a whole UTF-8 character: the next prompts stay valid UTF-8 and their requests carry them. Found by
 * tests/fuzz/fuzz_persona_reply: a cut inside "é" made jansson refuse the prompt, so the request went out without
 * its user message (and the call record without the prompt). */
static void cut_memory_and_messages_keep_the_next_prompts_valid(void **state)
{
    (void)state;
    char reasoning[400], text[800];
    memset(reasoning, 'x', 299);
    strcpy(reasoning + 299, "\xc3\xa9 and more"); /* byte 300 is the first of "é" */
    for (int i = 0; i < 350; i++)
        memcpy(text + 2 * i, "\xc3\xa9", 2); /* 350 characters, 700 bytes: longer than an inbox line */
    text[700] = '\0';
    json_t *first = json_pack("{s:s, s:[], s:[{s:s, s:s}]}", "reasoning", reasoning, "actions", "messages", "to", "b",
                              "text", text);
    char *content = json_dumps(first, JSON_COMPACT);
    json_t *rules = json_pack("{s:[{s:s, s:[{s:s}]}, {s:s, s:[{s:s}]}]}", "rules", "tag", "a/step-0", "responses",
                              "content", content, "tag", "*", "responses", "content",
                              "{\"reasoning\": \"wait\", \"actions\": []}");
    char *rules_text = json_dumps(rules, JSON_COMPACT);
    llm_server s;
    assert_int_equal(llm_server_start(&s, rules_text), 0);
    char *llm = llm_config(&s, "ollama", 0);
    agora_personas *ps = NULL;
    agora_error err;
    assert_int_equal(create_from(llm, "[{\"id\": \"a\"}, {\"id\": \"b\"}]", &ps, &err), 0);
    agora_world *w = sir_world();
    record r;
    agora_persona_hooks h = hooks(&r);
    assert_int_equal(agora_personas_act(ps, w, &h, &err), 0);
    assert_string_equal(str_at(r.decisions, 0, "source"), "llm");
    agora_world_step(w);
    assert_int_equal(agora_personas_act(ps, w, &h, &err), 0);
    assert_int_equal(json_array_size(r.calls), 4); /* every call recorded, prompt included */
    assert_non_null(strstr(str_at(r.calls, 2, "prompt"), "step 0: you did [] because \"xxx"));
    assert_non_null(strstr(str_at(r.calls, 3, "prompt"), "from a (step 0): \xc3\xa9\xc3\xa9"));
    /* the wire: each request of step 1 (they arrive in either order) has its user message, with the memory or the
     * inbox in it */
    json_t *reqs = chat_requests(&s); /* the endpoint check's GET aside */
    assert_int_equal(json_array_size(reqs), 4);
    static const char *const tags[] = {"a/step-1", "b/step-1"}, *const needles[] = {"you did", "from a (step 0)"};
    for (size_t k = 0; k < 2; k++) {
        const json_t *msgs = NULL;
        for (size_t i = 0; i < 4; i++)
            if (strcmp(str_at(reqs, i, "tag"), tags[k]) == 0)
                msgs = json_object_get(json_object_get(json_array_get(reqs, i), "body"), "messages");
        const json_t *last = json_array_get(msgs, json_array_size(msgs) - 1);
        const char *role = json_string_value(json_object_get(last, "role"));
        const char *user = json_string_value(json_object_get(last, "content"));
        if (!role || strcmp(role, "user") != 0 || !user || !strstr(user, needles[k]))
            fail_msg("the request %s lacks its user message: %s", tags[k], json_dumps(msgs, JSON_COMPACT));
    }
    json_decref(reqs);
    record_free(&r);
    agora_world_destroy(w);
    agora_personas_destroy(ps);
    free(llm);
    llm_server_stop(&s);
    free(rules_text);
    json_decref(rules);
    free(content);
    json_decref(first);
}

/* The repair request quotes why the reply was invalid, and that text stays UTF-8, so the request carries its user
 * message. Found by tests/fuzz/fuzz_persona_reply: the brief quote of a long non-ASCII action name ended inside "é",
 * and jansson's error for a broken escape after "é" quotes the token it stopped in, half a character; either way the
 * repair went out without its user message. */
static void a_repair_quoting_a_long_non_ascii_value_is_sent_whole(void **state)
{
    (void)state;
    char name[700];
    for (int i = 0; i < 300; i++)
        memcpy(name + 2 * i, "\xc3\xa9", 2);
    name[600] = '\0';
    json_t *bad = json_pack("{s:s, s:[{s:s}]}", "reasoning", "r", "actions", "action", name);
    char *long_name = json_dumps(bad, JSON_COMPACT);
    const char *const replies[] = {long_name, "{\"reasoning\": \"\xc3\xa9=\\\xc3\xa9\", \"actions\": []}"};
    const char *const why[] = {"\xc3\xa9\xc3\xa9...", "not one JSON object"};
    for (int k = 0; k < 2; k++) {
        json_t *rules = json_pack("{s:[{s:s, s:[{s:s}]}, {s:s, s:[{s:s}]}]}", "rules", "tag", "a/step-0",
                                  "responses", "content", replies[k], "tag", "*", "responses", "content",
                                  "{\"reasoning\": \"ok\", \"actions\": []}");
        char *rules_text = json_dumps(rules, JSON_COMPACT);
        llm_server s;
        assert_int_equal(llm_server_start(&s, rules_text), 0);
        char *llm = llm_config(&s, "ollama", 0);
        agora_personas *ps = NULL;
        agora_error err;
        assert_int_equal(create_from(llm, "[{\"id\": \"a\"}]", &ps, &err), 0);
        agora_world *w = sir_world();
        record r;
        agora_persona_hooks h = hooks(&r);
        assert_int_equal(agora_personas_act(ps, w, &h, &err), 0);
        assert_int_equal(json_array_size(r.calls), 2); /* both recorded, the invalid one with why */
        assert_string_equal(str_at(r.calls, 0, "status"), "invalid");
        if (!strstr(str_at(r.calls, 0, "error"), why[k]))
            fail_msg("reply %d: %s", k, str_at(r.calls, 0, "error"));
        json_t *reqs = chat_requests(&s); /* the endpoint check's GET aside */
        assert_int_equal(json_array_size(reqs), 2);
        const json_t *msgs = json_object_get(json_object_get(json_array_get(reqs, 1), "body"), "messages");
        const json_t *last = json_array_get(msgs, json_array_size(msgs) - 1);
        const char *user = json_string_value(json_object_get(last, "content"));
        if (!user || strcmp(json_string_value(json_object_get(last, "role")), "user") != 0 ||
            !strstr(user, "Your previous reply could not be used: "))
            fail_msg("reply %d: the repair request lacks its user message: %s", k, json_dumps(msgs, JSON_COMPACT));
        json_decref(reqs);
        record_free(&r);
        agora_world_destroy(w);
        agora_personas_destroy(ps);
        free(llm);
        llm_server_stop(&s);
        free(rules_text);
        json_decref(rules);
    }
    free(long_name);
    json_decref(bad);
}

/* The ask service's parsing, the same for personas as for actors: a JSON object inside prose or a code fence is
 * taken, a reply with a key twice is refused (and repaired), and the repair quotes the refused reply. */
static void a_reply_in_prose_is_taken_and_duplicate_keys_are_refused(void **state)
{
    (void)state;
    llm_server s;
    assert_int_equal(
        llm_server_start(
            &s, "{\"rules\": ["
                "{\"tag\": \"a/step-0\", \"responses\": [{\"content\": \"Here you go:\\n```json\\n{\\\"reasoning\\\": "
                "\\\"fence\\\", \\\"actions\\\": [{\\\"action\\\": \\\"vaccinate\\\", \\\"fraction\\\": 0.5}]}\\n```\"}]},"
                "{\"tag\": \"b/step-0\", \"responses\": [{\"content\": \"{\\\"reasoning\\\": \\\"x\\\", \\\"reasoning\\\": "
                "\\\"y\\\", \\\"actions\\\": []}\"}]},"
                "{\"tag\": \"b/step-0/repair\", \"responses\": [{\"content\": \"{\\\"reasoning\\\": \\\"z\\\", "
                "\\\"actions\\\": []}\"}]}"
                "]}"),
        0);
    char *llm = llm_config(&s, "openai", 0);
    agora_personas *ps = NULL;
    agora_error err;
    assert_int_equal(create_from(llm, "[{\"id\": \"a\"}, {\"id\": \"b\"}]", &ps, &err), 0);
    agora_world *w = sir_world();
    record r;
    agora_persona_hooks h = hooks(&r);
    assert_int_equal(agora_personas_act(ps, w, &h, &err), 0);
    assert_int_equal(json_array_size(r.calls), 3);
    assert_string_equal(str_at(r.calls, 0, "status"), "ok"); /* a: the object inside the fence */
    assert_string_equal(str_at(r.calls, 1, "status"), "invalid");
    assert_non_null(strstr(str_at(r.calls, 1, "error"), "duplicate"));
    assert_string_equal(str_at(r.calls, 2, "status"), "ok");
    assert_non_null(strstr(str_at(r.calls, 2, "prompt"), "Your previous reply was:"));
    assert_non_null(strstr(str_at(r.calls, 2, "prompt"), "\"reasoning\": \"y\""));
    assert_int_equal(json_array_size(r.actions), 1);
    assert_string_equal(str_at(r.actions, 0, "persona"), "a");
    record_free(&r);
    agora_world_destroy(w);
    agora_personas_destroy(ps);
    free(llm);
    llm_server_stop(&s);
}

static void invalid_replies_get_one_repair_then_nothing(void **state)
{
    (void)state;
    llm_server s;
    assert_int_equal(
        llm_server_start(
            &s, "{\"rules\": ["
                "{\"tag\": \"a/step-0\", \"responses\": [{\"content\": \"Sure! Here is my answer: lockdown now\"}]},"
                "{\"tag\": \"a/step-0/repair\", \"responses\": [{\"content\": \"{\\\"reasoning\\\": \\\"ok\\\", \\\"actions\\\": "
                "[{\\\"action\\\": \\\"vaccinate\\\", \\\"fraction\\\": 0.5}]}\"}]},"
                "{\"tag\": \"b/step-0\", \"responses\": [{\"content\": \"{\\\"reasoning\\\": \\\"x\\\", \\\"actions\\\": "
                "[{\\\"action\\\": \\\"vaccinate\\\", \\\"fraction\\\": 1e9}]}\"}]},"
                "{\"tag\": \"b/step-0/repair\", \"responses\": [{\"content\": \"{\\\"reasoning\\\": \\\"x\\\", \\\"actions\\\": "
                "[{\\\"action\\\": \\\"launch_missiles\\\"}]}\"}]}"
                "]}"),
        0);
    char *llm = llm_config(&s, "openai", 0);
    agora_personas *ps = NULL;
    agora_error err;
    assert_int_equal(create_from(llm, "[{\"id\": \"a\"}, {\"id\": \"b\"}]", &ps, &err), 0);
    agora_world *w = sir_world();
    const double s0 = metric(w, "S");
    record r;
    agora_persona_hooks h = hooks(&r);
    assert_int_equal(agora_personas_act(ps, w, &h, &err), 0);
    /* a: invalid, repaired, applied; b: out of range, then an unknown action: nothing */
    assert_int_equal(json_array_size(r.calls), 4);
    assert_string_equal(str_at(r.calls, 0, "status"), "invalid");
    assert_string_equal(str_at(r.calls, 1, "status"), "invalid");
    assert_non_null(strstr(str_at(r.calls, 1, "error"), "fraction"));
    assert_int_equal(json_integer_value(json_object_get(json_array_get(r.calls, 2), "attempt")), 2);
    assert_string_equal(str_at(r.calls, 2, "status"), "ok");
    assert_string_equal(str_at(r.calls, 3, "status"), "invalid");
    assert_non_null(strstr(str_at(r.calls, 2, "prompt"), "Your previous reply could not be used: "));
    assert_int_equal(json_array_size(r.actions), 1);
    assert_string_equal(str_at(r.actions, 0, "persona"), "a");
    assert_true(metric(w, "S") == s0 - round(0.5 * s0));
    assert_string_equal(str_at(r.decisions, 1, "persona"), "b");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(r.decisions, 1), "n_actions")), 0);
    record_free(&r);
    agora_world_destroy(w);
    agora_personas_destroy(ps);
    free(llm);
    llm_server_stop(&s);
}

static void failed_calls_fall_back_to_the_rules(void **state)
{
    (void)state;
    llm_server s;
    assert_int_equal(llm_server_start(&s, "{\"default\": {\"status\": 500}}"), 0);
    char *llm = llm_config(&s, "ollama", 1);
    agora_personas *ps = NULL;
    agora_error err;
    assert_int_equal(create_from(llm, "[{\"id\": \"a\", \"offline_policy\": [{\"do\": {\"action\": \"seed_infection\", "
                                      "\"count\": 7}}]}]",
                                 &ps, &err),
                     0);
    agora_world *w = sir_world();
    const double i0 = metric(w, "I");
    record r;
    agora_persona_hooks h = hooks(&r);
    assert_int_equal(agora_personas_act(ps, w, &h, &err), 0);
    assert_string_equal(str_at(r.calls, 0, "status"), "http_error");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(r.calls, 0), "http")), 500);
    assert_string_equal(str_at(r.decisions, 0, "source"), "fallback");
    assert_true(metric(w, "I") == i0 + 7);
    /* --llm offline: the rules without asking */
    agora_personas_force_offline(ps);
    assert_int_equal(agora_personas_act(ps, w, &h, &err), 0);
    assert_int_equal(json_array_size(r.calls), 1);
    assert_string_equal(str_at(r.decisions, 1, "source"), "rules");
    record_free(&r);
    agora_world_destroy(w);
    agora_personas_destroy(ps);
    free(llm);
    llm_server_stop(&s);
}

/* Persona b answers first (a is slow), yet a's actions are applied first: the result depends only on the replies. */
static void actions_apply_in_persona_order(void **state)
{
    (void)state;
    llm_server s;
    assert_int_equal(
        llm_server_start(&s, "{\"rules\": ["
                             "{\"tag\": \"a/*\", \"responses\": [{\"delay_ms\": 300, \"content\": \"{\\\"reasoning\\\": \\\"\\\", "
                             "\\\"actions\\\": [{\\\"action\\\": \\\"lockdown\\\", \\\"strength\\\": 0.25, \\\"steps\\\": 5}]}\"}]},"
                             "{\"tag\": \"b/*\", \"responses\": [{\"content\": \"{\\\"reasoning\\\": \\\"\\\", "
                             "\\\"actions\\\": [{\\\"action\\\": \\\"lockdown\\\", \\\"strength\\\": 0.75, \\\"steps\\\": 5}]}\"}]}"
                             "]}"),
        0);
    char *llm = llm_config(&s, "openai", 0);
    /* with the world's threads spinning through the wait: the same outcome */
    char *warm = malloc(strlen(llm) + 64);
    snprintf(warm, strlen(llm) + 64, "%.*s, \"keep_threads_warm\": true}", (int)strlen(llm) - 1, llm);
    free(llm);
    llm = warm;
    agora_personas *ps = NULL;
    agora_error err;
    assert_int_equal(create_from(llm, "[{\"id\": \"a\"}, {\"id\": \"b\"}]", &ps, &err), 0);
    agora_world *w = sir_world();
    record r;
    agora_persona_hooks h = hooks(&r);
    assert_int_equal(agora_personas_act(ps, w, &h, &err), 0);
    assert_string_equal(str_at(r.actions, 0, "persona"), "a");
    assert_string_equal(str_at(r.actions, 1, "persona"), "b");
    /* the later lockdown replaces the earlier: b's 0.75 is in force */
    assert_true(fabs(metric(w, "beta_eff") - 0.2 * 0.25) < 1e-12);
    record_free(&r);
    agora_world_destroy(w);
    agora_personas_destroy(ps);
    free(llm);
    llm_server_stop(&s);
}

/* A message sent at a decision reaches its addressee at its next decision, not before; "all" reaches everyone else. */
static void messages_arrive_at_the_next_decision(void **state)
{
    (void)state;
    llm_server s;
    assert_int_equal(
        llm_server_start(&s, "{\"rules\": ["
                             "{\"tag\": \"a/step-0\", \"responses\": [{\"content\": \"{\\\"reasoning\\\": \\\"\\\", "
                             "\\\"actions\\\": [], \\\"messages\\\": [{\\\"to\\\": \\\"b\\\", \\\"text\\\": \\\"hold the line\\\"}, "
                             "{\\\"to\\\": \\\"all\\\", \\\"text\\\": \\\"meeting at noon\\\"}]}\"}]}],"
                             "\"default\": {\"content\": \"{\\\"reasoning\\\": \\\"\\\", \\\"actions\\\": []}\"}}"),
        0);
    char *llm = llm_config(&s, "ollama", 0);
    agora_personas *ps = NULL;
    agora_error err;
    assert_int_equal(create_from(llm, "[{\"id\": \"a\"}, {\"id\": \"b\"}, {\"id\": \"c\", \"every\": 2}]", &ps, &err), 0);
    agora_world *w = sir_world();
    record r;
    agora_persona_hooks h = hooks(&r);
    assert_int_equal(agora_personas_act(ps, w, &h, &err), 0); /* step 0: a, b, c */
    assert_int_equal(json_array_size(r.calls), 3);
    assert_null(strstr(str_at(r.calls, 1, "prompt"), "hold the line")); /* b decides in the same round: not yet */
    assert_non_null(strstr(str_at(r.calls, 0, "prompt"), "b (b, the b)")); /* a is told who else decides */
    agora_world_step(w);
    assert_int_equal(agora_personas_act(ps, w, &h, &err), 0); /* step 1: a, b */
    assert_int_equal(json_array_size(r.calls), 5);
    const char *pb = str_at(r.calls, 4, "prompt");
    assert_non_null(strstr(pb, "from a (step 0): hold the line"));
    assert_non_null(strstr(pb, "from a (step 0): meeting at noon"));
    assert_null(strstr(str_at(r.calls, 3, "prompt"), "meeting at noon")); /* not to the sender */
    agora_world_step(w);
    assert_int_equal(agora_personas_act(ps, w, &h, &err), 0); /* step 2: a, b, c */
    assert_null(strstr(str_at(r.calls, 6, "prompt"), "hold the line")); /* b read it already */
    const char *pc = str_at(r.calls, 7, "prompt");
    assert_non_null(strstr(pc, "meeting at noon")); /* c's next decision */
    assert_null(strstr(pc, "hold the line"));
    record_free(&r);
    agora_world_destroy(w);
    agora_personas_destroy(ps);
    free(llm);
    llm_server_stop(&s);
}

/* ---- a dead LLM, the circuit breaker, the governor (issue 13, defects 5 and 6) ----------------------------------- */

/* A logger that keeps what the runtime says at warning level. */
static void keep_warnings(void *ud, agora_log_level level, const char *msg)
{
    if (level <= AGORA_LOG_WARN)
        json_array_append_new((json_t *)ud, json_string(msg));
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Runs steps 0 .. steps-1 (acting, then stepping the world). */
static void act_steps(agora_personas *ps, agora_world *w, const agora_persona_hooks *h, int steps)
{
    agora_error err;
    for (int t = 0; t < steps; t++) {
        if (agora_personas_act(ps, w, h, &err) != 0) {
            char buf[700];
            fail_msg("act at step %d: %s", t, agora_error_format(&err, buf, sizeof buf));
        }
        agora_world_step(w);
    }
}

static json_t *llm_summary(const agora_personas *ps)
{
    json_t *s = agora_personas_llm_summary(ps);
    assert_non_null(s);
    return s;
}

static const char *RULES_A = "[{\"id\": \"a\", \"offline_policy\": [{\"do\": {\"action\": \"seed_infection\", "
                             "\"count\": 1}}]}]";

/* No server at the URL: one check says so (once, at warning level), no call is attempted and nothing waits out the
 * five configured retries; every decision falls back to the rules and the runtime says it is degraded. */
static void a_closed_port_is_checked_once_and_nothing_waits(void **state)
{
    (void)state;
    agora_personas *ps = NULL;
    agora_error err;
    assert_int_equal(create_from("{\"provider\": \"ollama\", \"model\": \"m\", \"base_url\": \"http://127.0.0.1:9\", "
                                 "\"max_retries\": 5}",
                                 RULES_A, &ps, &err),
                     0);
    agora_world *w = sir_world();
    const double i0 = metric(w, "I");
    record r;
    agora_persona_hooks h = hooks(&r);
    json_t *warnings = json_array();
    agora_logger lg = {.fn = keep_warnings, .ud = warnings, .level = AGORA_LOG_DEBUG};
    h.logger = &lg;
    const double t0 = now_s();
    act_steps(ps, w, &h, 6);
    assert_true(now_s() - t0 < 1.0);
    assert_int_equal(json_array_size(r.calls), 6);
    for (size_t i = 0; i < 6; i++) {
        assert_string_equal(str_at(r.calls, i, "status"), "unreachable");
        assert_string_equal(str_at(r.decisions, i, "source"), "fallback");
        assert_non_null(strstr(str_at(r.calls, i, "error"), "no LLM server at http://127.0.0.1:9: connection refused"));
    }
    assert_true(metric(w, "I") >= i0); /* the rules acted (infections seeded, some may have recovered) */
    size_t said = 0;
    for (size_t i = 0; i < json_array_size(warnings); i++)
        said +=
            strstr(json_string_value(json_array_get(warnings, i)),
                   "no LLM server at http://127.0.0.1:9: connection refused; start it, or run with --llm offline") !=
            NULL;
    assert_int_equal(said, 1);
    assert_true(agora_personas_degraded(ps));
    json_t *sum = llm_summary(ps);
    assert_true(json_is_true(json_object_get(sum, "degraded")));
    assert_int_equal(json_integer_value(json_object_get(sum, "calls")), 0);
    assert_int_equal(json_integer_value(json_object_get(sum, "skipped")), 6);
    assert_int_equal(json_integer_value(json_object_get(sum, "fallbacks")), 6);
    assert_non_null(strstr(json_string_value(json_object_get(sum, "endpoint_check")), "no LLM server at"));
    assert_non_null(strstr(json_string_value(json_object_get(sum, "degraded_reason")), "connection refused"));
    assert_true(json_is_null(json_object_get(sum, "budget")));
    json_decref(sum);
    json_decref(warnings);
    record_free(&r);
    agora_world_destroy(w);
    agora_personas_destroy(ps);
}

/* Connection failures and 5xx after the retries count; K = 3 in a row opens the breaker and no request is sent after
 * it; an answer in between resets the count; 429 (rate limits) and other 4xx never open it. */
static void the_breaker_opens_after_three_failed_calls_in_a_row(void **state)
{
    (void)state;
    static const struct {
        const char *fault;
        int opens;
    } cases[] = {{"{\"drop\": true}", 1}, {"{\"status\": 500}", 1}, {"{\"status\": 429}", 0}, {"{\"status\": 400}", 0}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char script[512];
        snprintf(script, sizeof script,
                 "{\"rules\": [{\"tag\": \"a/step-1\", \"responses\": [{\"content\": \"{\\\"reasoning\\\": \\\"\\\", "
                 "\\\"actions\\\": []}\"}]}], \"default\": %s}",
                 cases[c].fault);
        llm_server s;
        assert_int_equal(llm_server_start(&s, script), 0);
        char *llm = llm_config(&s, "ollama", 0);
        agora_personas *ps = NULL;
        agora_error err;
        assert_int_equal(create_from(llm, RULES_A, &ps, &err), 0);
        agora_world *w = sir_world();
        record r;
        agora_persona_hooks h = hooks(&r);
        act_steps(ps, w, &h, 8);
        /* step 0 fails, step 1 answers (the count restarts), steps 2, 3, 4 fail: open from step 5 */
        assert_int_equal(json_array_size(r.calls), 8);
        assert_string_equal(str_at(r.calls, 1, "status"), "ok");
        for (size_t i = 5; i < 8; i++)
            assert_string_equal(str_at(r.calls, i, "status"),
                                cases[c].opens ? "circuit_open" : str_at(r.calls, 4, "status"));
        assert_int_equal(count_path(&s, "/api/chat"), cases[c].opens ? 5 : 8);
        json_t *sum = llm_summary(ps);
        if (cases[c].opens) {
            assert_int_equal(json_integer_value(json_object_get(sum, "circuit_open_at_step")), 4);
            assert_non_null(strstr(json_string_value(json_object_get(sum, "degraded_reason")), "3 calls in a row"));
        } else {
            assert_true(json_is_null(json_object_get(sum, "circuit_open_at_step")));
        }
        assert_true(json_is_true(json_object_get(sum, "degraded"))); /* failed calls fell back either way */
        assert_int_equal(json_integer_value(json_object_get(sum, "fallbacks")), 7);
        json_decref(sum);
        record_free(&r);
        agora_world_destroy(w);
        agora_personas_destroy(ps);
        free(llm);
        llm_server_stop(&s);
    }
}

static const char *OK_REPLY = "{\"default\": {\"content\": \"{\\\"reasoning\\\": \\\"fine\\\", \\\"actions\\\": []}\", "
                              "\"prompt_tokens\": 900, \"completion_tokens\": 100}}";

/* llm.max_calls caps a batch in persona order; later decisions follow the rules, labelled "budget", recorded with
 * no request sent; a budget stop is not degraded. */
static void max_calls_caps_a_batch_in_persona_order(void **state)
{
    (void)state;
    llm_server s;
    assert_int_equal(llm_server_start(&s, OK_REPLY), 0);
    char *llm = llm_config(&s, "openai", 0);
    char lim[600];
    snprintf(lim, sizeof lim, "%.*s, \"max_calls\": 4}", (int)strlen(llm) - 1, llm);
    agora_personas *ps = NULL;
    agora_error err;
    assert_int_equal(create_from(lim,
                                 "[{\"id\": \"a\", \"offline_policy\": [{\"do\": {\"action\": \"seed_infection\", "
                                 "\"count\": 1}}]}, {\"id\": \"b\"}, {\"id\": \"c\"}]",
                                 &ps, &err),
                     0);
    agora_world *w = sir_world();
    record r;
    agora_persona_hooks h = hooks(&r);
    act_steps(ps, w, &h, 3);
    assert_int_equal(count_path(&s, "/v1/chat/completions"), 4);
    /* step 0: a, b, c asked; step 1: a asked (the 4th), b and c follow the rules; step 2: nobody asked */
    static const char *const want[] = {"llm", "llm", "llm", "llm", "budget", "budget", "budget", "budget", "budget"};
    assert_int_equal(json_array_size(r.decisions), 9);
    for (size_t i = 0; i < 9; i++)
        assert_string_equal(str_at(r.decisions, i, "source"), want[i]);
    assert_string_equal(str_at(r.calls, 4, "status"), "budget");
    assert_non_null(strstr(str_at(r.calls, 4, "error"), "llm.max_calls = 4"));
    assert_int_equal(json_integer_value(json_object_get(json_array_get(r.calls, 4), "http")), 0);
    assert_int_equal(json_array_size(r.actions), 1); /* a's rule at step 2 */
    assert_false(agora_personas_degraded(ps));
    json_t *sum = llm_summary(ps);
    json_t *b = json_object_get(sum, "budget");
    assert_string_equal(json_string_value(json_object_get(b, "limit")), "max_calls");
    assert_int_equal(json_integer_value(json_object_get(b, "value")), 4);
    assert_int_equal(json_integer_value(json_object_get(b, "reached_at_step")), 1);
    assert_int_equal(json_integer_value(json_object_get(b, "skipped")), 5);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(sum, "used"), "calls")), 4);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(sum, "used"), "tokens")), 4000);
    assert_false(json_is_true(json_object_get(sum, "degraded")));
    json_decref(sum);
    record_free(&r);
    agora_world_destroy(w);
    agora_personas_destroy(ps);
    free(llm);
    llm_server_stop(&s);
}

/* max_tokens (the run's total, prompt + completion) and max_cost (from cost_per_1k_*) are checked before each batch:
 * the run overshoots by at most one batch. Tokens a server does not report are estimated from the text (4
 * characters a token). A repair counts like any call. */
static void tokens_and_cost_stop_after_the_batch_that_reaches_them(void **state)
{
    (void)state;
    llm_server s;
    assert_int_equal(llm_server_start(&s, OK_REPLY), 0);
    char *llm = llm_config(&s, "ollama", 0);
    static const char *const limits[] = {"\"max_tokens\": 1500",
                                         "\"max_cost\": 2.5, \"cost_per_1k_prompt\": 1, \"cost_per_1k_completion\": 3"};
    for (int k = 0; k < 2; k++) {
        char lim[700];
        snprintf(lim, sizeof lim, "%.*s, %s}", (int)strlen(llm) - 1, llm, limits[k]);
        agora_personas *ps = NULL;
        agora_error err;
        assert_int_equal(create_from(lim, "[{\"id\": \"a\"}, {\"id\": \"b\"}]", &ps, &err), 0);
        agora_world *w = sir_world();
        record r;
        agora_persona_hooks h = hooks(&r);
        act_steps(ps, w, &h, 3);
        /* step 0: both asked (2000 tokens, cost 2 x 1.2 = 2.4 < 2.5: step 1 too for cost) */
        const size_t asked = k == 0 ? 2 : 4;
        assert_int_equal(count_path(&s, "/api/chat"), (k == 0 ? 0 : 2) + asked);
        json_t *sum = llm_summary(ps);
        json_t *b = json_object_get(sum, "budget");
        assert_string_equal(json_string_value(json_object_get(b, "limit")), k == 0 ? "max_tokens" : "max_cost");
        assert_int_equal(json_integer_value(json_object_get(b, "reached_at_step")), k == 0 ? 1 : 2);
        const json_t *used = json_object_get(sum, "used");
        if (k == 1)
            assert_true(fabs(json_number_value(json_object_get(used, "cost")) - 4.8) < 1e-9);
        json_decref(sum);
        record_free(&r);
        agora_world_destroy(w);
        agora_personas_destroy(ps);
    }
    /* unknown usage: estimated from the text */
    llm_server_stop(&s);
    assert_int_equal(llm_server_start(&s,
                                      "{\"default\": {\"content\": \"{\\\"reasoning\\\": \\\"fine\\\", "
                                      "\\\"actions\\\": []}\", \"prompt_tokens\": null, \"completion_tokens\": null}}"),
                     0);
    free(llm);
    llm = llm_config(&s, "ollama", 0);
    agora_personas *ps = NULL;
    agora_error err;
    char lim[700];
    snprintf(lim, sizeof lim, "%.*s, \"max_tokens\": 100}", (int)strlen(llm) - 1, llm);
    assert_int_equal(create_from(lim, "[{\"id\": \"a\"}]", &ps, &err), 0);
    agora_world *w = sir_world();
    record r;
    agora_persona_hooks h = hooks(&r);
    act_steps(ps, w, &h, 2);
    assert_int_equal(count_path(&s, "/api/chat"), 1); /* a prompt of well over 400 characters is over 100 tokens */
    json_t *sum = llm_summary(ps);
    const size_t chars = strlen(str_at(r.calls, 0, "prompt"));
    assert_true(json_integer_value(json_object_get(json_object_get(sum, "used"), "tokens")) >=
                (json_int_t)(chars / 4) - 8);
    json_decref(sum);
    record_free(&r);
    agora_world_destroy(w);
    agora_personas_destroy(ps);
    free(llm);
    llm_server_stop(&s);
}

/* A sweep's budget, shared by two runtimes (two runs): their calls together stop at its max_calls, and each says the
 * sweep's limit stopped it. */
static void a_sweep_budget_is_shared_by_runs(void **state)
{
    (void)state;
    llm_server s;
    assert_int_equal(llm_server_start(&s, OK_REPLY), 0);
    char *llm = llm_config(&s, "ollama", 0);
    agora_llm_budget *b = NULL;
    agora_error err;
    assert_int_equal(agora_llm_budget_create(3, 0, 0, &b, &err), 0);
    agora_personas *p1 = NULL, *p2 = NULL;
    assert_int_equal(create_from(llm, "[{\"id\": \"a\"}]", &p1, &err), 0);
    assert_int_equal(create_from(llm, "[{\"id\": \"a\"}]", &p2, &err), 0);
    agora_personas_set_budget(p1, b);
    agora_personas_set_budget(p2, b);
    agora_world *w1 = sir_world(), *w2 = sir_world();
    record r1, r2;
    agora_persona_hooks h1 = hooks(&r1), h2 = hooks(&r2);
    for (int t = 0; t < 3; t++) {
        assert_int_equal(agora_personas_act(p1, w1, &h1, &err), 0);
        assert_int_equal(agora_personas_act(p2, w2, &h2, &err), 0);
        agora_world_step(w1);
        agora_world_step(w2);
    }
    assert_int_equal(count_path(&s, "/api/chat"), 3);
    json_t *sum = llm_summary(p2);
    assert_string_equal(json_string_value(json_object_get(json_object_get(sum, "budget"), "limit")), "sweep.max_calls");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(sum, "budget"), "reached_at_step")), 1);
    json_decref(sum);
    record_free(&r1);
    record_free(&r2);
    agora_world_destroy(w1);
    agora_world_destroy(w2);
    agora_personas_destroy(p1);
    agora_personas_destroy(p2);
    agora_llm_budget_destroy(b);
    free(llm);
    llm_server_stop(&s);
}

/* ---- saving and restoring the runtime's state (checkpoints) ------------------------------------------------------ */

/* Runs steps [from, to) with ps on w, appending calls and decisions to r. */
static void run_range(agora_personas *ps, agora_world *w, record *r, int from, int to)
{
    agora_persona_hooks h = {.ud = r, .on_call = on_call, .on_action = on_action, .on_decision = on_decision};
    agora_error err;
    for (int t = from; t < to; t++) {
        assert_int_equal(agora_world_time(w), t);
        if (agora_personas_act(ps, w, &h, &err) != 0) {
            char buf[700];
            fail_msg("act at step %d: %s", t, agora_error_format(&err, buf, sizeof buf));
        }
        agora_world_step(w);
    }
}

/* The rows of `all` from step `from` on. */
static json_t *from_step(const json_t *all, int64_t from)
{
    json_t *out = json_array();
    size_t i;
    json_t *v;
    json_array_foreach((json_t *)all, i, v)
        if (json_integer_value(json_object_get(v, "step")) >= from)
            json_array_append(out, v);
    return out;
}

/* A run saved after step k and continued by a fresh runtime that loaded the state (through its JSON text, as a
 * checkpoint file holds it) makes exactly the calls, prompts and decisions of the uninterrupted run from k + 1 on:
 * memory with its observations, messages in flight, the breaker's count and the governor's counters included. */
static void a_saved_state_continues_like_the_uninterrupted_run(void **state)
{
    (void)state;
    const int N = 14, K = 6;
    /* replies per persona and step: reasoning naming the step, a message to everyone, a seeded infection. The
     * faulty run drops b's call at step 5 and a's at 6 (two failures in a row before the save) and a's at 7 (the
     * third, after it, opens the breaker); in the other the governor (15 calls) stops the run at step 10. */
    for (int faulty = 0; faulty < 2; faulty++) {
        json_t *rules = json_array();
        for (int t = 0; t < N; t++) {
            for (int p = 0; p < 2; p++) {
                char tag[64], content[400];
                snprintf(tag, sizeof tag, "%s/step-%d", p ? "b" : "a", t);
                snprintf(content, sizeof content,
                         "{\"reasoning\": \"step %d thoughts of %s\", \"actions\": [{\"action\": \"seed_infection\", "
                         "\"count\": %d}], \"messages\": [{\"to\": \"all\", \"text\": \"note %d from %s\"}]}",
                         t, p ? "b" : "a", 1 + t % 3, t, p ? "b" : "a");
                int drop = faulty && ((p == 0 && (t == 6 || t == 7)) || (p == 1 && t == 5));
                json_array_append_new(rules,
                                      json_pack("{s:s, s:[o]}", "tag", tag, "responses",
                                                drop ? json_pack("{s:b}", "drop", 1)
                                                     : json_pack("{s:s, s:i, s:i}", "content", content, "prompt_tokens",
                                                                 500, "completion_tokens", 50)));
            }
        }
        json_t *script = json_pack("{s:o}", "rules", rules);
        char *text = json_dumps(script, JSON_COMPACT);
        json_decref(script);
        llm_server s;
        assert_int_equal(llm_server_start(&s, text), 0);
        free(text);
        char llm[700];
        snprintf(llm, sizeof llm,
                 "{\"provider\": \"openai\", \"model\": \"test\", \"base_url\": \"%s\", \"max_retries\": 0, "
                 "\"max_calls\": %d, \"cost_per_1k_prompt\": 0.1, \"cost_per_1k_completion\": 0.3}",
                 s.base_url, faulty ? 100 : 15);
        const char *personas = "[{\"id\": \"a\", \"memory\": 3, \"offline_policy\": [{\"do\": {\"action\": "
                               "\"vaccinate\", \"fraction\": 0.01}}]}, {\"id\": \"b\", \"every\": 2, \"start\": 1}]";
        /* the uninterrupted run, saved after step K */
        agora_personas *p1 = NULL;
        agora_error err;
        assert_int_equal(create_from(llm, personas, &p1, &err), 0);
        agora_world *w1 = sir_world();
        record r1 = {json_array(), json_array(), json_array()};
        run_range(p1, w1, &r1, 0, K + 1);
        json_t *saved = NULL;
        assert_int_equal(agora_personas_save(p1, &saved, &err), 0);
        char *saved_text = json_dumps(saved, JSON_COMPACT);
        assert_non_null(saved_text);
        run_range(p1, w1, &r1, K + 1, N);
        /* the same world up to K with another runtime, then a fresh one that loads the state */
        agora_personas *p2 = NULL, *p3 = NULL;
        assert_int_equal(create_from(llm, personas, &p2, &err), 0);
        agora_world *w2 = sir_world();
        record r2 = {json_array(), json_array(), json_array()};
        run_range(p2, w2, &r2, 0, K + 1);
        agora_personas_destroy(p2);
        record_free(&r2);
        r2 = (record){json_array(), json_array(), json_array()};
        assert_int_equal(create_from(llm, personas, &p3, &err), 0);
        json_t *loaded = json_loads(saved_text, 0, NULL);
        assert_non_null(loaded);
        if (agora_personas_load(p3, loaded, &err) != 0) {
            char buf[700];
            fail_msg("load: %s", agora_error_format(&err, buf, sizeof buf));
        }
        /* the state of the loaded runtime is the saved state, bit for bit */
        json_t *again = NULL;
        assert_int_equal(agora_personas_save(p3, &again, &err), 0);
        assert_true(json_equal(again, saved));
        const size_t before = count_path(&s, "/v1/models");
        run_range(p3, w2, &r2, K + 1, N);
        assert_int_equal(count_path(&s, "/v1/models"), before); /* the endpoint was checked already */
        json_t *c1 = from_step(r1.calls, K + 1), *d1 = from_step(r1.decisions, K + 1);
        assert_true(json_array_size(c1) > 4);
        if (!json_equal(c1, r2.calls)) {
            char *a = json_dumps(c1, JSON_INDENT(1)), *b = json_dumps(r2.calls, JSON_INDENT(1));
            fail_msg("the calls after the restore differ:\n%s\n---\n%s", a, b);
        }
        assert_true(json_equal(d1, r2.decisions));
        assert_true(metric(w1, "I") == metric(w2, "I") && metric(w1, "vaccinated") == metric(w2, "vaccinated"));
        /* what the restore had to carry: memory and messages (in the prompts), and per run the breaker or the
         * governor */
        assert_non_null(strstr(str_at(r2.calls, 0, "prompt"), "Your recent decisions"));
        int messages = 0;
        for (size_t i = 0; i < json_array_size(r2.calls); i++)
            messages += strstr(str_at(r2.calls, i, "prompt"), "Messages to you") != NULL;
        assert_true(faulty || messages > 0);
        json_t *sum1 = llm_summary(p1), *sum3 = llm_summary(p3);
        assert_true(json_equal(sum1, sum3));
        if (faulty)
            assert_int_equal(json_integer_value(json_object_get(sum3, "circuit_open_at_step")), 7);
        else
            assert_int_equal(json_integer_value(json_object_get(json_object_get(sum3, "budget"), "reached_at_step")),
                             10);
        json_decref(sum1);
        json_decref(sum3);
        json_decref(c1);
        json_decref(d1);
        json_decref(again);
        json_decref(loaded);
        json_decref(saved);
        free(saved_text);
        record_free(&r1);
        record_free(&r2);
        agora_world_destroy(w1);
        agora_world_destroy(w2);
        agora_personas_destroy(p1);
        agora_personas_destroy(p3);
        llm_server_stop(&s);
    }
}

/* A state that is not this runtime's is refused, naming what differs; doubles survive the JSON text exactly. */
static void a_foreign_state_is_refused(void **state)
{
    (void)state;
    agora_personas *ps = NULL, *other = NULL;
    agora_error err;
    assert_int_equal(create_from(NULL, "[{\"id\": \"a\"}]", &ps, &err), 0);
    assert_int_equal(create_from(NULL, "[{\"id\": \"z\"}]", &other, &err), 0);
    agora_world *w = sir_world();
    record r;
    agora_persona_hooks h = hooks(&r);
    act_steps(ps, w, &h, 3);
    json_t *st = NULL;
    assert_int_equal(agora_personas_save(ps, &st, &err), 0);
    assert_int_not_equal(agora_personas_load(other, st, &err), 0);
    assert_non_null(strstr(err.msg, "\"a\""));
    json_t *junk = json_pack("{s:i}", "version", 99);
    assert_int_not_equal(agora_personas_load(ps, junk, &err), 0);
    json_decref(junk);
    /* %.17g: every double comes back as itself */
    const double x[] = {0.1 + 0.2, 1.0 / 3.0, 5e-324, 1.7976931348623157e308, -0.0, 123456789.123456789};
    for (size_t i = 0; i < sizeof x / sizeof x[0]; i++) {
        json_t *v = json_pack("[f]", x[i]);
        char *t = json_dumps(v, JSON_COMPACT);
        json_t *back = json_loads(t, 0, NULL);
        double y = json_real_value(json_array_get(back, 0));
        assert_memory_equal(&x[i], &y, sizeof y);
        free(t);
        json_decref(v);
        json_decref(back);
    }
    json_decref(st);
    record_free(&r);
    agora_world_destroy(w);
    agora_personas_destroy(ps);
    agora_personas_destroy(other);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(conditions_evaluate_and_report_syntax_errors),
        cmocka_unit_test(deeply_nested_conditions_are_an_error_not_a_crash),
        cmocka_unit_test(bad_configurations_name_the_key),
        cmocka_unit_test(offline_rules_fire_when_due_and_are_labelled_rules),
        cmocka_unit_test(valid_replies_are_applied_and_remembered),
        cmocka_unit_test(cut_memory_and_messages_keep_the_next_prompts_valid),
        cmocka_unit_test(a_repair_quoting_a_long_non_ascii_value_is_sent_whole),
        cmocka_unit_test(invalid_replies_get_one_repair_then_nothing),
        cmocka_unit_test(a_reply_in_prose_is_taken_and_duplicate_keys_are_refused),
        cmocka_unit_test(failed_calls_fall_back_to_the_rules),
        cmocka_unit_test(actions_apply_in_persona_order),
        cmocka_unit_test(messages_arrive_at_the_next_decision),
        cmocka_unit_test(a_closed_port_is_checked_once_and_nothing_waits),
        cmocka_unit_test(the_breaker_opens_after_three_failed_calls_in_a_row),
        cmocka_unit_test(max_calls_caps_a_batch_in_persona_order),
        cmocka_unit_test(tokens_and_cost_stop_after_the_batch_that_reaches_them),
        cmocka_unit_test(a_sweep_budget_is_shared_by_runs),
        cmocka_unit_test(a_saved_state_continues_like_the_uninterrupted_run),
        cmocka_unit_test(a_foreign_state_is_refused),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
