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

#include <cmocka.h>
#include <curl/curl.h>

#include "agora/agora.h"
#include "agora/persona.h"
#include "llm_server.h"
#include "support.h"

/* ---- conditions ---------------------------------------------------------------------------------------------------- */

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

/* ---- hooks that record ---------------------------------------------------------------------------------------------- */

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

/* ---- offline -------------------------------------------------------------------------------------------------------- */

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

/* ---- over HTTP ------------------------------------------------------------------------------------------------------ */

static char *llm_config(const llm_server *s, const char *provider, int retries)
{
    char *buf = malloc(512);
    snprintf(buf, 512,
             "{\"provider\": \"%s\", \"model\": \"test\", \"base_url\": \"%s\", \"timeout_s\": 5, "
             "\"max_retries\": %d, \"seed\": 1}",
             provider, s->base_url, retries);
    return buf;
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
    /* the wire: the tag per persona and step, the reply schema as Ollama's format */
    json_t *reqs = llm_server_requests(&s);
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
    json_t *reqs = llm_server_requests(&s);
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
        json_t *reqs = llm_server_requests(&s);
        assert_int_equal(json_array_size(reqs), 2);
        const json_t *msgs = json_object_get(json_object_get(json_array_get(reqs, 1), "body"), "messages");
        const json_t *last = json_array_get(msgs, json_array_size(msgs) - 1);
        const char *user = json_string_value(json_object_get(last, "content"));
        if (!user || strcmp(json_string_value(json_object_get(last, "role")), "user") != 0 ||
            !strstr(user, "It is not valid: "))
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
    assert_non_null(strstr(str_at(r.calls, 2, "prompt"), "It is not valid"));
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
        cmocka_unit_test(failed_calls_fall_back_to_the_rules),
        cmocka_unit_test(actions_apply_in_persona_order),
        cmocka_unit_test(messages_arrive_at_the_next_decision),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
