/* Tests of the LLM HTTP client against a real loopback server (tests/llm_server.py) speaking the OpenAI and Ollama
 * protocols: the wire formats, retries and their bounds, Retry-After, timeouts, dropped connections, malformed and
 * refused replies, the json_schema fallback, concurrency, and that API keys never leave the header. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "agora/agora.h"
#include "agora/llm.h"
#include "llm_server.h"
#include "support.h"

static const char *SCHEMA = "{\"type\": \"object\", \"properties\": {\"reasoning\": {\"type\": \"string\"}, "
                            "\"actions\": {\"type\": \"array\"}}, \"required\": [\"reasoning\", \"actions\"], "
                            "\"additionalProperties\": false}";

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void config(agora_llm_config *c, agora_llm_provider p, const llm_server *s)
{
    agora_llm_config_defaults(c);
    c->provider = p;
    c->model = "test-model";
    c->base_url = s->base_url;
    c->timeout_s = 5;
    c->backoff_s = 0.05;
    c->max_total_s = 20;
    c->seed = 7;
    c->temperature = 0.2;
}

/* One request with a tag; the result is returned by value (strings owned by the caller). */
static agora_llm_result ask(const agora_llm_config *c, const char *tag, const json_t *schema)
{
    agora_llm_request rq = {.system = "You are a test persona.", .user = "What do you do?", .schema = schema,
                            .schema_name = "decision", .tag = tag};
    agora_llm_result r;
    agora_error err;
    assert_int_equal(agora_llm_call_batch(c, &rq, 1, &r, &err), 0);
    return r;
}

/* The logged requests whose tag is `tag`. */
static json_t *requests_tagged(const llm_server *s, const char *tag)
{
    json_t *all = llm_server_requests(s), *out = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(all, i, v) if (json_is_string(json_object_get(v, "tag")) &&
                                      strcmp(json_string_value(json_object_get(v, "tag")), tag) == 0)
        json_array_append(out, v);
    json_decref(all);
    return out;
}

static json_t *schema(void)
{
    json_t *s = json_loads(SCHEMA, 0, NULL);
    assert_non_null(s);
    return s;
}

static void openai_wire_format_and_reply(void **state)
{
    (void)state;
    llm_server s;
    assert_int_equal(llm_server_start(&s, "{\"rules\": [{\"tag\": \"a/1\", \"responses\": [{\"content\": "
                                          "\"{\\\"reasoning\\\": \\\"r\\\", \\\"actions\\\": []}\", "
                                          "\"prompt_tokens\": 11, \"completion_tokens\": 5}]}]}"),
                     0);
    agora_llm_config c;
    config(&c, AGORA_LLM_OPENAI, &s);
    json_t *sch = schema();
    agora_llm_result r = ask(&c, "a/1", sch);
    assert_int_equal(r.status, AGORA_LLM_OK);
    assert_int_equal(r.http_status, 200);
    assert_int_equal(r.attempts, 1);
    assert_string_equal(r.content, "{\"reasoning\": \"r\", \"actions\": []}");
    assert_int_equal(r.prompt_tokens, 11);
    assert_int_equal(r.completion_tokens, 5);
    json_t *reqs = requests_tagged(&s, "a/1");
    assert_int_equal(json_array_size(reqs), 1);
    json_t *q = json_array_get(reqs, 0);
    assert_string_equal(json_string_value(json_object_get(q, "path")), "/v1/chat/completions");
    assert_string_equal(json_string_value(json_object_get(json_object_get(q, "headers"), "content-type")),
                        "application/json");
    json_t *body = json_object_get(q, "body");
    assert_string_equal(json_string_value(json_object_get(body, "model")), "test-model");
    json_t *msgs = json_object_get(body, "messages");
    assert_int_equal(json_array_size(msgs), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(msgs, 0), "role")), "system");
    assert_string_equal(json_string_value(json_object_get(json_array_get(msgs, 1), "role")), "user");
    assert_string_equal(json_string_value(json_object_get(json_array_get(msgs, 1), "content")), "What do you do?");
    json_t *rf = json_object_get(body, "response_format");
    assert_string_equal(json_string_value(json_object_get(rf, "type")), "json_schema");
    json_t *js = json_object_get(rf, "json_schema");
    assert_string_equal(json_string_value(json_object_get(js, "name")), "decision");
    assert_true(json_equal(json_object_get(js, "schema"), sch));
    assert_true(json_is_true(json_object_get(js, "strict"))); /* closed and fully required: strict-ready */
    assert_int_equal(json_integer_value(json_object_get(body, "seed")), 7);
    assert_true(fabs(json_number_value(json_object_get(body, "temperature")) - 0.2) < 1e-12);
    json_decref(reqs);
    json_decref(sch);
    agora_llm_result_free(&r);
    llm_server_stop(&s);
}

static void ollama_wire_format_and_reply(void **state)
{
    (void)state;
    llm_server s;
    assert_int_equal(llm_server_start(&s, "{\"rules\": [{\"tag\": \"o/1\", \"responses\": [{\"content\": \"{}\", "
                                          "\"prompt_tokens\": 21, \"completion_tokens\": 2}]}]}"),
                     0);
    agora_llm_config c;
    config(&c, AGORA_LLM_OLLAMA, &s);
    json_t *sch = schema();
    agora_llm_result r = ask(&c, "o/1", sch);
    assert_int_equal(r.status, AGORA_LLM_OK);
    assert_string_equal(r.content, "{}");
    assert_int_equal(r.prompt_tokens, 21);
    assert_int_equal(r.completion_tokens, 2);
    json_t *reqs = requests_tagged(&s, "o/1");
    json_t *q = json_array_get(reqs, 0);
    assert_string_equal(json_string_value(json_object_get(q, "path")), "/api/chat");
    json_t *body = json_object_get(q, "body");
    assert_true(json_is_false(json_object_get(body, "stream")));
    assert_true(json_equal(json_object_get(body, "format"), sch));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(body, "options"), "seed")), 7);
    assert_non_null(json_object_get(json_object_get(body, "options"), "temperature"));
    assert_null(json_object_get(body, "response_format"));
    json_decref(reqs);
    json_decref(sch);
    agora_llm_result_free(&r);
    llm_server_stop(&s);
}

static void retries_honour_retry_after_and_stop_on_client_errors(void **state)
{
    (void)state;
    llm_server s;
    assert_int_equal(
        llm_server_start(&s, "{\"rules\": ["
                             "{\"tag\": \"r429\", \"responses\": [{\"status\": 429, \"retry_after\": 1}, {\"content\": \"{}\"}]},"
                             "{\"tag\": \"r500\", \"responses\": [{\"status\": 500}, {\"status\": 503}, {\"content\": \"{}\"}]},"
                             "{\"tag\": \"r401\", \"responses\": [{\"status\": 401}, {\"content\": \"{}\"}]},"
                             "{\"tag\": \"quota\", \"responses\": [{\"status\": 429, \"error_code\": \"insufficient_quota\"}, {\"content\": \"{}\"}]},"
                             "{\"tag\": \"always500\", \"responses\": [{\"status\": 500}]}"
                             "]}"),
        0);
    agora_llm_config c;
    config(&c, AGORA_LLM_OPENAI, &s);
    double t0 = now_s();
    agora_llm_result r = ask(&c, "r429", NULL);
    double dt = now_s() - t0;
    assert_int_equal(r.status, AGORA_LLM_OK);
    assert_int_equal(r.attempts, 2);
    assert_true(dt >= 0.95); /* waited the Retry-After second */
    assert_true(r.latency_s >= 0.95);
    agora_llm_result_free(&r);

    r = ask(&c, "r500", NULL);
    assert_int_equal(r.status, AGORA_LLM_OK);
    assert_int_equal(r.attempts, 3);
    agora_llm_result_free(&r);

    r = ask(&c, "r401", NULL); /* a client error is final */
    assert_int_equal(r.status, AGORA_LLM_HTTP_ERROR);
    assert_int_equal(r.http_status, 401);
    assert_int_equal(r.attempts, 1);
    agora_llm_result_free(&r);

    r = ask(&c, "quota", NULL); /* out of credit: no retry */
    assert_int_equal(r.status, AGORA_LLM_HTTP_ERROR);
    assert_int_equal(r.attempts, 1);
    agora_llm_result_free(&r);

    c.max_retries = 2; /* bounded: three attempts, then the error */
    r = ask(&c, "always500", NULL);
    assert_int_equal(r.status, AGORA_LLM_HTTP_ERROR);
    assert_int_equal(r.http_status, 500);
    assert_int_equal(r.attempts, 3);
    agora_llm_result_free(&r);
    json_t *reqs = requests_tagged(&s, "always500");
    assert_int_equal(json_array_size(reqs), 3);
    json_decref(reqs);
    llm_server_stop(&s);
}

static void timeouts_drops_and_the_total_bound(void **state)
{
    (void)state;
    llm_server s;
    assert_int_equal(llm_server_start(&s, "{\"rules\": ["
                                          "{\"tag\": \"hang\", \"responses\": [{\"hang\": true}]},"
                                          "{\"tag\": \"drop\", \"responses\": [{\"drop\": true}, {\"content\": \"{}\"}]},"
                                          "{\"tag\": \"slow500\", \"responses\": [{\"status\": 500, \"retry_after\": 1}]}"
                                          "]}"),
                     0);
    agora_llm_config c;
    config(&c, AGORA_LLM_OLLAMA, &s);
    c.timeout_s = 0.3;
    c.max_retries = 1;
    double t0 = now_s();
    agora_llm_result r = ask(&c, "hang", NULL);
    double dt = now_s() - t0;
    assert_int_equal(r.status, AGORA_LLM_TIMEOUT);
    assert_int_equal(r.attempts, 2);
    assert_true(dt < 2.0); /* two attempts of 0.3 s and a short backoff: nothing stalls */
    agora_llm_result_free(&r);

    c.timeout_s = 5;
    r = ask(&c, "drop", NULL);
    assert_int_equal(r.status, AGORA_LLM_OK);
    assert_int_equal(r.attempts, 2);
    agora_llm_result_free(&r);

    /* Retry-After 1 s, but only 1.5 s in all: the second wait would pass the bound, so it gives up early. */
    c.max_retries = 10;
    c.max_total_s = 1.5;
    t0 = now_s();
    r = ask(&c, "slow500", NULL);
    dt = now_s() - t0;
    assert_int_equal(r.status, AGORA_LLM_GAVE_UP);
    assert_int_equal(r.attempts, 2);
    assert_true(dt < 1.5);
    assert_non_null(strstr(r.error, "gave up"));
    agora_llm_result_free(&r);
    llm_server_stop(&s);

    /* Nothing listening: a connection error, retried, bounded. */
    agora_llm_config d;
    agora_llm_config_defaults(&d);
    d.provider = AGORA_LLM_OPENAI;
    d.model = "m";
    d.base_url = "http://127.0.0.1:9"; /* discard port: closed */
    d.max_retries = 2;
    d.backoff_s = 0.01;
    r = ask(&d, "none", NULL);
    assert_int_equal(r.status, AGORA_LLM_CONNECT);
    assert_int_equal(r.attempts, 3);
    agora_llm_result_free(&r);
}

static void malformed_refused_and_fallback_replies(void **state)
{
    (void)state;
    llm_server s;
    assert_int_equal(llm_server_start(&s, "{\"reject_json_schema\": true, \"rules\": ["
                                          "{\"tag\": \"raw\", \"responses\": [{\"raw_body\": \"{not json\"}]},"
                                          "{\"tag\": \"refuse\", \"responses\": [{\"refusal\": \"I cannot help\"}]},"
                                          "{\"tag\": \"fb\", \"responses\": [{\"content\": \"{\\\"ok\\\": 1}\"}]}"
                                          "]}"),
                     0);
    agora_llm_config c;
    config(&c, AGORA_LLM_OPENAI, &s);
    c.json_object_only = 1;
    agora_llm_result r = ask(&c, "raw", NULL);
    assert_int_equal(r.status, AGORA_LLM_BAD_RESPONSE);
    assert_null(r.content);
    assert_string_equal(r.response_body, "{not json");
    agora_llm_result_free(&r);
    r = ask(&c, "refuse", NULL);
    assert_int_equal(r.status, AGORA_LLM_REFUSED);
    assert_non_null(strstr(r.error, "I cannot help"));
    agora_llm_result_free(&r);

    /* The server refuses json_schema: the client asks again with json_object and the schema in the prompt. */
    c.json_object_only = 0;
    json_t *sch = schema();
    r = ask(&c, "fb", sch);
    assert_int_equal(r.status, AGORA_LLM_OK);
    assert_int_equal(r.used_json_object, 1);
    assert_int_equal(r.attempts, 2);
    assert_string_equal(r.content, "{\"ok\": 1}");
    agora_llm_result_free(&r);
    json_t *reqs = requests_tagged(&s, "fb");
    assert_int_equal(json_array_size(reqs), 2);
    json_t *second = json_object_get(json_array_get(reqs, 1), "body");
    assert_string_equal(json_string_value(json_object_get(json_object_get(second, "response_format"), "type")),
                        "json_object");
    const char *sys = json_string_value(json_object_get(json_array_get(json_object_get(second, "messages"), 0), "content"));
    assert_non_null(strstr(sys, "JSON Schema"));
    assert_non_null(strstr(sys, "\"reasoning\""));
    json_decref(reqs);
    json_decref(sch);
    llm_server_stop(&s);
}

/* Eight requests answered after 200 ms each take about 200 ms together, not 1.6 s; a cap of 2 serialises them. */
static void requests_run_concurrently_up_to_the_cap(void **state)
{
    (void)state;
    llm_server s;
    assert_int_equal(llm_server_start(&s, "{\"default\": {\"delay_ms\": 200, \"content\": \"{}\"}}"), 0);
    agora_llm_config c;
    config(&c, AGORA_LLM_OLLAMA, &s);
    agora_llm_request rq[8];
    agora_llm_result res[8];
    char tags[8][16];
    for (int i = 0; i < 8; i++) {
        snprintf(tags[i], sizeof tags[i], "p%d/1", i);
        rq[i] = (agora_llm_request){.system = "s", .user = "u", .tag = tags[i]};
    }
    agora_error err;
    double t0 = now_s();
    assert_int_equal(agora_llm_call_batch(&c, rq, 8, res, &err), 0);
    double together = now_s() - t0;
    for (int i = 0; i < 8; i++) {
        assert_int_equal(res[i].status, AGORA_LLM_OK);
        agora_llm_result_free(&res[i]);
    }
    c.max_concurrency = 2;
    t0 = now_s();
    assert_int_equal(agora_llm_call_batch(&c, rq, 8, res, &err), 0);
    double capped = now_s() - t0;
    for (int i = 0; i < 8; i++)
        agora_llm_result_free(&res[i]);
    printf("8 requests of 200 ms: %.3f s with 8 in flight, %.3f s with 2\n", together, capped);
    assert_true(together < 0.6);
    assert_true(capped >= 0.79);
    llm_server_stop(&s);
}

static void api_keys_stay_in_the_header(void **state)
{
    (void)state;
    llm_server s;
    assert_int_equal(llm_server_start(&s, "{}"), 0);
    setenv("AGORA_TEST_LLM_KEY", "sk-test-secret-42", 1);
    agora_llm_config c;
    config(&c, AGORA_LLM_OPENAI, &s);
    c.api_key_env = "AGORA_TEST_LLM_KEY";
    agora_llm_result r = ask(&c, "key", NULL);
    assert_int_equal(r.status, AGORA_LLM_OK);
    assert_null(strstr(r.request_body, "sk-test"));
    assert_null(r.response_body ? strstr(r.response_body, "sk-test") : NULL);
    json_t *reqs = requests_tagged(&s, "key");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(json_array_get(reqs, 0), "headers"), "authorization")),
        "Bearer");
    json_decref(reqs);
    agora_llm_result_free(&r);
    unsetenv("AGORA_TEST_LLM_KEY");
    r = ask(&c, "nokey", NULL); /* no key in the environment: no Authorization header at all */
    reqs = requests_tagged(&s, "nokey");
    assert_null(json_object_get(json_object_get(json_array_get(reqs, 0), "headers"), "authorization"));
    json_decref(reqs);
    agora_llm_result_free(&r);
    /* No variable named: AGORA_API_KEY, else OPENAI_API_KEY; a base URL ending in /v1 (OPENAI_BASE_URL style). */
    c.api_key_env = NULL;
    unsetenv("AGORA_API_KEY");
    setenv("OPENAI_API_KEY", "sk-openai-env-7", 1);
    char v1[128];
    snprintf(v1, sizeof v1, "%s/v1", s.base_url);
    c.base_url = v1;
    r = ask(&c, "envkey", NULL);
    assert_int_equal(r.status, AGORA_LLM_OK);
    reqs = requests_tagged(&s, "envkey");
    assert_string_equal(json_string_value(json_object_get(json_array_get(reqs, 0), "path")), "/v1/chat/completions");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(json_array_get(reqs, 0), "headers"), "authorization")),
        "Bearer");
    json_decref(reqs);
    agora_llm_result_free(&r);
    unsetenv("OPENAI_API_KEY");
    llm_server_stop(&s);
}

/* The endpoint check: any HTTP answer means a server is there (401 and 404 included: chat may still work); only
 * failing to reach one fails it, with a message naming the URL and the reason, at once. */
static void the_endpoint_check_tells_a_dead_server_from_a_live_one(void **state)
{
    (void)state;
    llm_server s;
    assert_int_equal(llm_server_start(&s, "{\"models_status\": 401}"), 0);
    agora_llm_config c;
    char msg[512];
    for (int p = 0; p < 2; p++) {
        config(&c, p ? AGORA_LLM_OPENAI : AGORA_LLM_OLLAMA, &s);
        assert_int_equal(agora_llm_check_endpoint(&c, msg, sizeof msg), 0);
    }
    json_t *reqs = llm_server_requests(&s);
    assert_int_equal(json_array_size(reqs), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(reqs, 0), "path")), "/api/version");
    assert_string_equal(json_string_value(json_object_get(json_array_get(reqs, 1), "path")), "/v1/models");
    json_decref(reqs);
    /* TLS to a plain-HTTP server: no LLM server there for this URL */
    char tls[128];
    snprintf(tls, sizeof tls, "https://127.0.0.1:%d", s.port);
    c.base_url = tls;
    assert_int_equal(agora_llm_check_endpoint(&c, msg, sizeof msg), AGORA_EHTTP);
    assert_non_null(strstr(msg, "no LLM server at https://127.0.0.1:"));
    llm_server_stop(&s);
    /* a closed port: refused at once */
    c.base_url = "http://127.0.0.1:9";
    c.timeout_s = 30;
    double t0 = now_s();
    assert_int_equal(agora_llm_check_endpoint(&c, msg, sizeof msg), AGORA_EHTTP);
    assert_true(now_s() - t0 < 1.0);
    assert_string_equal(msg, "no LLM server at http://127.0.0.1:9: connection refused; start it, or run with --llm "
                             "offline");
    c.base_url = "127.0.0.1:9"; /* OLLAMA_HOST style, no scheme: shown as asked */
    c.provider = AGORA_LLM_OLLAMA;
    assert_int_equal(agora_llm_check_endpoint(&c, msg, sizeof msg), AGORA_EHTTP);
    assert_non_null(strstr(msg, "no LLM server at http://127.0.0.1:9: connection refused"));
}

/* A server that accepts the connection but never answers the check is there (a busy server): the check passes
 * within its bound rather than calling it dead. */
static void a_slow_server_passes_the_check_within_its_bound(void **state)
{
    (void)state;
    llm_server s;
    assert_int_equal(llm_server_start(&s, "{\"models_hang\": true}"), 0);
    agora_llm_config c;
    config(&c, AGORA_LLM_OLLAMA, &s);
    c.timeout_s = 1;
    char msg[512];
    double t0 = now_s();
    assert_int_equal(agora_llm_check_endpoint(&c, msg, sizeof msg), 0);
    const double took = now_s() - t0;
    assert_true(took >= 0.9 && took < 3);
    llm_server_stop(&s);
}

/* The shared budget of a sweep: reservations never exceed max_calls, even from forked processes. */
static void a_shared_budget_is_shared_across_processes(void **state)
{
    (void)state;
    agora_llm_budget *b = NULL;
    agora_error err;
    assert_int_equal(agora_llm_budget_create(10, 0, 0, &b, &err), 0);
    fflush(NULL);
    pid_t kids[4];
    for (int k = 0; k < 4; k++) {
        kids[k] = fork();
        assert_true(kids[k] >= 0);
        if (kids[k] == 0) {
            int got = 0;
            for (int i = 0; i < 20; i++)
                got += agora_llm_budget_reserve(b, 1);
            _exit(got);
        }
    }
    int total = 0;
    for (int k = 0; k < 4; k++) {
        int st = 0;
        waitpid(kids[k], &st, 0);
        assert_true(WIFEXITED(st));
        total += WEXITSTATUS(st);
    }
    assert_int_equal(total, 10);
    int64_t calls = -1, tokens = -1;
    double cost = -1;
    agora_llm_budget_used(b, &calls, &tokens, &cost);
    assert_int_equal(calls, 10);
    assert_int_equal(agora_llm_budget_reserve(b, 3), 0);
    agora_llm_budget_destroy(b);
    /* tokens and cost: a call is let through while the total is below the limit */
    assert_int_equal(agora_llm_budget_create(0, 100, 1.5, &b, &err), 0);
    assert_int_equal(agora_llm_budget_reserve(b, 4), 4);
    agora_llm_budget_add(b, 150, 0.5);
    assert_int_equal(agora_llm_budget_reserve(b, 1), 0);
    assert_string_equal(agora_llm_budget_reached(b), "max_tokens");
    agora_llm_budget_destroy(b);
    assert_int_not_equal(agora_llm_budget_create(-1, 0, 0, &b, &err), 0);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(openai_wire_format_and_reply),
        cmocka_unit_test(ollama_wire_format_and_reply),
        cmocka_unit_test(retries_honour_retry_after_and_stop_on_client_errors),
        cmocka_unit_test(timeouts_drops_and_the_total_bound),
        cmocka_unit_test(malformed_refused_and_fallback_replies),
        cmocka_unit_test(requests_run_concurrently_up_to_the_cap),
        cmocka_unit_test(api_keys_stay_in_the_header),
        cmocka_unit_test(the_endpoint_check_tells_a_dead_server_from_a_live_one),
        cmocka_unit_test(a_slow_server_passes_the_check_within_its_bound),
        cmocka_unit_test(a_shared_budget_is_shared_across_processes),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
