/* Tests for the loopback LLM test server itself (tests/llm_server.py, started through tests/llm_server.c), driven
 * with plain libcurl so that they do not depend on agora's own client: scripted replies per tag in order, the exact
 * reply shapes of both protocols, request validation (Ollama without stream:false, a rejected json_schema), the
 * faults (drop, hang), a log that never holds an API key, and `auto` replies generated from the request's schema
 * (checked with agora's own validator). Two servers run side by side for the whole group and are stopped in the
 * group teardown whatever happened. */
#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include "agora/schema.h"
#include "llm_server.h"
#include "support.h"

static const char *SCRIPT = "{\"rules\": ["
                            " {\"tag\": \"minister/step-1\", \"responses\": ["
                            "   {\"status\": 429, \"retry_after\": 1}, {\"content\": \"{\\\"x\\\":1}\"}]},"
                            " {\"tag\": \"media/*\", \"responses\": [{\"content\": \"wild\"}]},"
                            " {\"tag\": \"drop\", \"responses\": [{\"drop\": true}]},"
                            " {\"tag\": \"hang\", \"responses\": [{\"hang\": true}]},"
                            " {\"tag\": \"quota\", \"responses\": [{\"status\": 429, \"error_code\": "
                            "\"insufficient_quota\"}]},"
                            " {\"tag\": \"auto/*\", \"responses\": [{\"auto\": true}]},"
                            " {\"tag\": \"auto-items\", \"responses\": [{\"auto\": true, \"auto_items\": 9, "
                            "\"auto_text\": \"hi\", \"completion_tokens\": 5}]}"
                            "]}";

static llm_server server, rejecting;

static int group_setup(void **state)
{
    (void)state;
    if (llm_server_start(&server, SCRIPT) != 0)
        return -1;
    if (llm_server_start(&rejecting, "{\"reject_json_schema\": true}") != 0) {
        llm_server_stop(&server);
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    llm_server_stop(&server);
    llm_server_stop(&rejecting);
    return 0;
}

typedef struct reply {
    long status;
    char body[65536];
    size_t body_len;
    char headers[8192];
    size_t headers_len;
} reply;

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
    reply *r = ud;
    size_t len = size * n, room = sizeof r->body - 1 - r->body_len;
    memcpy(r->body + r->body_len, data, len < room ? len : room);
    r->body_len += len < room ? len : room;
    r->body[r->body_len] = 0;
    return len;
}

static size_t on_header(char *data, size_t size, size_t n, void *ud)
{
    reply *r = ud;
    size_t len = size * n, room = sizeof r->headers - 1 - r->headers_len;
    memcpy(r->headers + r->headers_len, data, len < room ? len : room);
    r->headers_len += len < room ? len : room;
    r->headers[r->headers_len] = 0;
    return len;
}

/* POSTs body to base_url + path with an X-Agora-Tag (if tag) and an Authorization header (if auth); fills r. */
static CURLcode post(const llm_server *s, const char *path, const char *body, const char *tag, const char *auth,
                     long timeout_ms, reply *r)
{
    memset(r, 0, sizeof *r);
    CURL *c = curl_easy_init();
    assert_non_null(c);
    char url[256], tag_header[256], auth_header[256];
    snprintf(url, sizeof url, "%s%s", s->base_url, path);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    if (tag) {
        snprintf(tag_header, sizeof tag_header, "X-Agora-Tag: %s", tag);
        h = curl_slist_append(h, tag_header);
    }
    if (auth) {
        snprintf(auth_header, sizeof auth_header, "Authorization: %s", auth);
        h = curl_slist_append(h, auth_header);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms : 10000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return rc;
}

static json_t *body_json(const reply *r)
{
    json_error_t jerr;
    json_t *v = json_loads(r->body, 0, &jerr);
    if (!v)
        fail_msg("reply is not JSON (%s): %s", jerr.text, r->body);
    return v;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

#define OPENAI_BODY                                                                                                  \
    "{\"model\": \"gpt-test\", \"messages\": [{\"role\": \"system\", \"content\": \"You are a minister.\"},"         \
    " {\"role\": \"user\", \"content\": \"cases are rising fast\"}],"                                                \
    " \"response_format\": {\"type\": \"json_schema\", \"json_schema\": {\"name\": \"reply\", \"strict\": true,"     \
    " \"schema\": {\"type\": \"object\", \"properties\": {\"x\": {\"type\": \"integer\"}}, \"required\": [\"x\"],"   \
    " \"additionalProperties\": false}}}}"

#define OLLAMA_BODY_STREAMING                                                                                        \
    "{\"model\": \"llama3.2\", \"messages\": [{\"role\": \"user\", \"content\": \"hello there\"}],"                  \
    " \"format\": {\"type\": \"object\"}, \"options\": {\"seed\": 7}"

/* A tag walks its responses in order: 429 with Retry-After first, then the content, in OpenAI's exact shape. */
static void openai_tag_gets_429_with_retry_after_then_reply(void **state)
{
    (void)state;
    reply r;
    assert_int_equal(post(&server, "/v1/chat/completions", OPENAI_BODY, "minister/step-1", NULL, 0, &r), CURLE_OK);
    assert_int_equal(r.status, 429);
    assert_non_null(strstr(r.headers, "Retry-After: 1\r\n"));
    json_t *err = body_json(&r);
    assert_string_equal(json_string_value(json_object_get(json_object_get(err, "error"), "type")), "requests");
    assert_string_equal(json_string_value(json_object_get(json_object_get(err, "error"), "code")),
                        "rate_limit_exceeded");
    json_decref(err);

    assert_int_equal(post(&server, "/v1/chat/completions", OPENAI_BODY, "minister/step-1", NULL, 0, &r), CURLE_OK);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.headers, "Content-Type: application/json\r\n"));
    assert_null(strstr(r.headers, "Retry-After"));
    json_t *v = body_json(&r);
    assert_int_equal(json_object_size(v), 6);
    assert_true(strncmp(json_string_value(json_object_get(v, "id")), "chatcmpl-", 9) == 0);
    assert_string_equal(json_string_value(json_object_get(v, "object")), "chat.completion");
    assert_true(json_is_integer(json_object_get(v, "created")));
    assert_string_equal(json_string_value(json_object_get(v, "model")), "gpt-test");
    json_t *choices = json_object_get(v, "choices");
    assert_int_equal(json_array_size(choices), 1);
    json_t *choice = json_array_get(choices, 0);
    assert_int_equal(json_object_size(choice), 3);
    assert_int_equal(json_integer_value(json_object_get(choice, "index")), 0);
    assert_string_equal(json_string_value(json_object_get(choice, "finish_reason")), "stop");
    json_t *msg = json_object_get(choice, "message");
    assert_int_equal(json_object_size(msg), 3);
    assert_string_equal(json_string_value(json_object_get(msg, "role")), "assistant");
    assert_string_equal(json_string_value(json_object_get(msg, "content")), "{\"x\":1}");
    assert_true(json_is_null(json_object_get(msg, "refusal")));
    /* Default usage: words in the messages (4 + 4) and in the content (1). */
    json_t *usage = json_object_get(v, "usage");
    assert_int_equal(json_object_size(usage), 3);
    assert_int_equal(json_integer_value(json_object_get(usage, "prompt_tokens")), 8);
    assert_int_equal(json_integer_value(json_object_get(usage, "completion_tokens")), 1);
    assert_int_equal(json_integer_value(json_object_get(usage, "total_tokens")), 9);
    json_decref(v);

    /* Past the end of its list a tag repeats the last response. */
    assert_int_equal(post(&server, "/v1/chat/completions", OPENAI_BODY, "minister/step-1", NULL, 0, &r), CURLE_OK);
    assert_int_equal(r.status, 200);
}

/* A wildcard rule serves every tag it prefixes; an unknown tag gets the default reply; insufficient_quota is in the
 * error body. */
static void wildcard_default_and_quota_replies(void **state)
{
    (void)state;
    reply r;
    assert_int_equal(post(&server, "/v1/chat/completions", OPENAI_BODY, "media/step-3", NULL, 0, &r), CURLE_OK);
    assert_int_equal(r.status, 200);
    json_t *v = body_json(&r);
    json_t *msg = json_object_get(json_array_get(json_object_get(v, "choices"), 0), "message");
    assert_string_equal(json_string_value(json_object_get(msg, "content")), "wild");
    json_decref(v);

    assert_int_equal(post(&server, "/v1/chat/completions", OPENAI_BODY, "nobody/step-1", NULL, 0, &r), CURLE_OK);
    assert_int_equal(r.status, 200);
    v = body_json(&r);
    msg = json_object_get(json_array_get(json_object_get(v, "choices"), 0), "message");
    assert_string_equal(json_string_value(json_object_get(msg, "content")),
                        "{\"reasoning\": \"default reply\", \"actions\": []}");
    json_decref(v);

    assert_int_equal(post(&server, "/v1/chat/completions", OPENAI_BODY, "quota", NULL, 0, &r), CURLE_OK);
    assert_int_equal(r.status, 429);
    v = body_json(&r);
    assert_string_equal(json_string_value(json_object_get(json_object_get(v, "error"), "code")),
                        "insufficient_quota");
    json_decref(v);
}

/* Ollama streams unless told not to: a request without stream:false is a 400; with it, the documented reply. */
static void ollama_requires_stream_false_and_replies_in_its_shape(void **state)
{
    (void)state;
    reply r;
    assert_int_equal(post(&server, "/api/chat", OLLAMA_BODY_STREAMING "}", NULL, NULL, 0, &r), CURLE_OK);
    assert_int_equal(r.status, 400);
    json_t *v = body_json(&r);
    assert_true(json_is_string(json_object_get(v, "error")));
    json_decref(v);

    assert_int_equal(post(&server, "/api/chat", OLLAMA_BODY_STREAMING ", \"stream\": false}", "media/step-1", NULL,
                          0, &r),
                     CURLE_OK);
    assert_int_equal(r.status, 200);
    v = body_json(&r);
    assert_int_equal(json_object_size(v), 11);
    assert_string_equal(json_string_value(json_object_get(v, "model")), "llama3.2");
    const char *created = json_string_value(json_object_get(v, "created_at"));
    assert_non_null(created);
    assert_true(strlen(created) > 20 && created[4] == '-' && created[10] == 'T' && created[strlen(created) - 1] == 'Z');
    json_t *msg = json_object_get(v, "message");
    assert_string_equal(json_string_value(json_object_get(msg, "role")), "assistant");
    assert_string_equal(json_string_value(json_object_get(msg, "content")), "wild");
    assert_true(json_is_true(json_object_get(v, "done")));
    assert_string_equal(json_string_value(json_object_get(v, "done_reason")), "stop");
    assert_int_equal(json_integer_value(json_object_get(v, "prompt_eval_count")), 2);
    assert_int_equal(json_integer_value(json_object_get(v, "eval_count")), 1);
    const char *durations[] = {"total_duration", "load_duration", "prompt_eval_duration", "eval_duration"};
    for (int i = 0; i < 4; i++)
        assert_true(json_integer_value(json_object_get(v, durations[i])) > 0);
    json_decref(v);
}

/* Bad requests are answered like the real servers: not JSON, no messages, an unknown response_format, an unknown
 * path. */
static void malformed_requests_are_rejected(void **state)
{
    (void)state;
    reply r;
    assert_int_equal(post(&server, "/v1/chat/completions", "{not json", NULL, NULL, 0, &r), CURLE_OK);
    assert_int_equal(r.status, 400);
    assert_int_equal(post(&server, "/v1/chat/completions", "{\"model\": \"m\"}", NULL, NULL, 0, &r), CURLE_OK);
    assert_int_equal(r.status, 400);
    json_t *v = body_json(&r);
    assert_string_equal(json_string_value(json_object_get(json_object_get(v, "error"), "type")),
                        "invalid_request_error");
    json_decref(v);
    assert_int_equal(post(&server, "/v1/chat/completions",
                          "{\"model\": \"m\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}],"
                          " \"response_format\": {\"type\": \"yaml\"}}",
                          NULL, NULL, 0, &r),
                     CURLE_OK);
    assert_int_equal(r.status, 400);
    assert_int_equal(post(&server, "/v1/chat/completions",
                          "{\"model\": \"m\", \"messages\": [{\"role\": \"user\"}]}", NULL, NULL, 0, &r),
                     CURLE_OK);
    assert_int_equal(r.status, 400);
    assert_int_equal(post(&server, "/v1/completions", OPENAI_BODY, NULL, NULL, 0, &r), CURLE_OK);
    assert_int_equal(r.status, 404);
    json_decref(body_json(&r));
}

/* reject_json_schema: a json_schema request is a 400 naming response_format; json_object is served. */
static void reject_json_schema_answers_400_and_json_object_passes(void **state)
{
    (void)state;
    reply r;
    assert_int_equal(post(&rejecting, "/v1/chat/completions", OPENAI_BODY, "a/1", NULL, 0, &r), CURLE_OK);
    assert_int_equal(r.status, 400);
    json_t *v = body_json(&r);
    json_t *e = json_object_get(v, "error");
    assert_string_equal(json_string_value(json_object_get(e, "message")),
                        "response_format json_schema is not supported");
    assert_string_equal(json_string_value(json_object_get(e, "type")), "invalid_request_error");
    assert_string_equal(json_string_value(json_object_get(e, "param")), "response_format");
    json_decref(v);

    assert_int_equal(post(&rejecting, "/v1/chat/completions",
                          "{\"model\": \"m\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}],"
                          " \"response_format\": {\"type\": \"json_object\"}}",
                          "a/1", NULL, 0, &r),
                     CURLE_OK);
    assert_int_equal(r.status, 200);
}

/* A drop closes the connection with no reply at all. */
static void drop_closes_without_a_reply(void **state)
{
    (void)state;
    reply r;
    CURLcode rc = post(&server, "/v1/chat/completions", OPENAI_BODY, "drop", NULL, 0, &r);
    assert_true(rc == CURLE_GOT_NOTHING || rc == CURLE_RECV_ERROR);
    assert_int_equal(r.status, 0);
}

/* A hang never answers: the client's timeout fires on time. */
static void hang_makes_the_client_time_out(void **state)
{
    (void)state;
    reply r;
    double t0 = now_s();
    assert_int_equal(post(&server, "/v1/chat/completions", OPENAI_BODY, "hang", NULL, 500, &r),
                     CURLE_OPERATION_TIMEDOUT);
    /* 500 ms plus scheduling slack on a loaded 2-core machine. */
    assert_true(now_s() - t0 < 3.0);
}

/* The log holds every request with its tag, body and served fault (the drop and the hang of the tests above), and an
 * Authorization header only as its scheme. */
static void log_records_requests_but_never_the_key(void **state)
{
    (void)state;
    reply r;
    assert_int_equal(post(&server, "/v1/chat/completions", OPENAI_BODY, "keyed/step-1", "Bearer sk-test-123", 0, &r),
                     CURLE_OK);
    assert_int_equal(r.status, 200);

    json_t *log = llm_server_requests(&server);
    assert_non_null(log);
    int keyed = 0, hangs = 0, drops = 0;
    size_t i;
    json_t *e;
    json_array_foreach(log, i, e) {
        const char *tag = json_string_value(json_object_get(e, "tag"));
        const char *kind = json_string_value(json_object_get(json_object_get(e, "response"), "kind"));
        assert_non_null(kind);
        if (tag && strcmp(tag, "keyed/step-1") == 0) {
            keyed++;
            assert_string_equal(json_string_value(json_object_get(e, "path")), "/v1/chat/completions");
            json_t *headers = json_object_get(e, "headers");
            assert_string_equal(json_string_value(json_object_get(headers, "authorization")), "Bearer");
            assert_string_equal(json_string_value(json_object_get(headers, "x-agora-tag")), "keyed/step-1");
            assert_string_equal(json_string_value(json_object_get(headers, "content-type")), "application/json");
            assert_string_equal(json_string_value(json_object_get(json_object_get(e, "body"), "model")), "gpt-test");
            assert_string_equal(kind, "content");
            assert_int_equal(json_integer_value(json_object_get(json_object_get(e, "response"), "status")), 200);
        }
        if (strcmp(kind, "hang") == 0)
            hangs++;
        if (strcmp(kind, "drop") == 0)
            drops++;
    }
    assert_int_equal(keyed, 1);
    assert_int_equal(hangs, 1);
    assert_int_equal(drops, 1);
    json_decref(log);

    FILE *f = fopen(server.log_path, "r");
    assert_non_null(f);
    char buf[4096];
    size_t overlap = 0, n;
    /* Read in chunks, keeping the tail of the last chunk so a key split across two reads is still seen. */
    while ((n = fread(buf + overlap, 1, sizeof buf - 1 - overlap, f)) > 0) {
        buf[overlap + n] = 0;
        assert_null(strstr(buf, "sk-test-123"));
        size_t len = overlap + n, keep = len < 16 ? len : 16;
        memmove(buf, buf + len - keep, keep);
        overlap = keep;
    }
    fclose(f);
}

/* A nested schema for the auto replies: an array (2 to 4) of objects with an enum, an integer >= 1, a number in
 * (0, 0.5], a nullable short string and optional fields; a oneOf told apart by a const; an anyOf with null first. */
#define AUTO_SCHEMA                                                                                                  \
    "{\"type\": \"object\", \"properties\": {"                                                                       \
    " \"reasoning\": {\"type\": \"string\", \"minLength\": 40},"                                                     \
    " \"actions\": {\"type\": \"array\", \"minItems\": 2, \"maxItems\": 4, \"items\": {\"type\": \"object\","        \
    "   \"properties\": {\"kind\": {\"type\": \"string\", \"enum\": [\"vaccinate\", \"close\"]},"                    \
    "    \"count\": {\"type\": \"integer\", \"minimum\": 1},"                                                        \
    "    \"fraction\": {\"type\": \"number\", \"exclusiveMinimum\": 0, \"maximum\": 0.5},"                           \
    "    \"note\": {\"type\": [\"string\", \"null\"], \"maxLength\": 6},"                                            \
    "    \"urgent\": {\"type\": \"boolean\"}},"                                                                      \
    "   \"required\": [\"kind\", \"count\"], \"additionalProperties\": false}},"                                     \
    " \"target\": {\"oneOf\": ["                                                                                     \
    "   {\"type\": \"object\", \"properties\": {\"scope\": {\"const\": \"region\"},"                                 \
    "    \"name\": {\"type\": \"string\"}},"                                                                         \
    "    \"required\": [\"scope\", \"name\"], \"additionalProperties\": false},"                                     \
    "   {\"type\": \"object\", \"properties\": {\"scope\": {\"const\": \"everyone\"}}, \"required\": [\"scope\"],"   \
    "    \"additionalProperties\": false}]},"                                                                        \
    " \"level\": {\"anyOf\": [{\"type\": \"null\"}, {\"type\": \"integer\", \"maximum\": -2}]}},"                    \
    " \"required\": [\"reasoning\", \"actions\"], \"additionalProperties\": false}"

static int count_words(const char *s)
{
    int n = 0, in = 0;
    for (; *s; s++) {
        if (isspace((unsigned char)*s))
            in = 0;
        else if (!in)
            in = 1, n++;
    }
    return n;
}

/* POSTs a chat request for `schema` (openai: json_schema, or json_object when schema is NULL; ollama: format = the
 * schema, or "json") and returns the reply's message content, parsed; *content_text gets it as sent (static). */
static json_t *auto_reply(const char *proto, const json_t *schema, const char *tag, const char **content_text,
                          json_t **usage)
{
    static char text[65536];
    json_t *body = json_pack("{s:s, s:[{s:s, s:s}, {s:s, s:s}]}", "model", "m", "messages", "role", "system",
                             "content", "You are a minister.", "role", "user", "content", "cases are rising fast");
    int openai = strcmp(proto, "openai") == 0;
    if (openai)
        json_object_set_new(body, "response_format",
                            schema ? json_pack("{s:s, s:{s:s, s:b, s:O}}", "type", "json_schema", "json_schema",
                                               "name", "reply", "strict", 0, "schema", schema)
                                   : json_pack("{s:s}", "type", "json_object"));
    else {
        json_object_set_new(body, "stream", json_false());
        json_object_set_new(body, "format", schema ? json_deep_copy(schema) : json_string("json"));
    }
    char *dumped = json_dumps(body, 0);
    json_decref(body);
    reply r;
    assert_int_equal(post(&server, openai ? "/v1/chat/completions" : "/api/chat", dumped, tag, NULL, 0, &r),
                     CURLE_OK);
    free(dumped);
    if (r.status != 200)
        fail_msg("auto reply: HTTP %ld: %s", r.status, r.body);
    json_t *v = body_json(&r);
    json_t *msg = openai ? json_object_get(json_array_get(json_object_get(v, "choices"), 0), "message")
                         : json_object_get(v, "message");
    const char *content = json_string_value(json_object_get(msg, "content"));
    assert_non_null(content);
    snprintf(text, sizeof text, "%s", content);
    if (content_text)
        *content_text = text;
    if (usage)
        *usage = openai ? json_incref(json_object_get(v, "usage"))
                        : json_pack("{s:O, s:O}", "prompt_tokens", json_object_get(v, "prompt_eval_count"),
                                    "completion_tokens", json_object_get(v, "eval_count"));
    json_decref(v);
    json_error_t jerr;
    json_t *instance = json_loads(text, 0, &jerr);
    if (!instance)
        fail_msg("auto content is not JSON (%s): %s", jerr.text, text);
    return instance;
}

static void assert_valid(const json_t *schema, const json_t *instance)
{
    agora_error err = {0};
    if (agora_schema_validate(schema, instance, "reply", &err) != 0) {
        char *dumped = json_dumps(instance, 0);
        fail_msg("auto reply does not follow its schema: %s: %s\n%s", err.where, err.msg, dumped);
    }
}

/* auto: the content is generated from the request's schema, valid for it (agora's validator), the same for the same
 * request, every property present, arrays of max(minItems, auto_items) items capped by maxItems; usage counted as for
 * content; no schema in the request (json_object, format "json"): the default reply. */
static void auto_replies_follow_the_request_schema(void **state)
{
    (void)state;
    json_error_t jerr;
    json_t *schema = json_loads(AUTO_SCHEMA, 0, &jerr);
    assert_non_null(schema);
    agora_error err = {0};
    assert_int_equal(agora_schema_check(schema, &err), 0);

    const char *text;
    json_t *usage;
    json_t *v = auto_reply("openai", schema, "auto/step-1", &text, &usage);
    assert_valid(schema, v);
    char first[65536];
    snprintf(first, sizeof first, "%s", text);
    const char *reasoning = json_string_value(json_object_get(v, "reasoning"));
    assert_non_null(reasoning);
    assert_true(strlen(reasoning) >= 40);
    assert_true(strncmp(reasoning, "auto reasoning auto/step-1", 26) == 0);
    json_t *actions = json_object_get(v, "actions");
    assert_int_equal(json_array_size(actions), 2); /* minItems over the default of 1 */
    json_t *a = json_array_get(actions, 0);
    assert_int_equal(json_object_size(a), 5); /* optional properties too */
    assert_string_equal(json_string_value(json_object_get(a, "kind")), "vaccinate");
    assert_true(json_is_integer(json_object_get(a, "count")));
    assert_int_equal(json_integer_value(json_object_get(a, "count")), 1);
    assert_true(json_is_string(json_object_get(a, "note")));
    assert_true(json_is_false(json_object_get(a, "urgent")));
    assert_string_equal(json_string_value(json_object_get(json_object_get(v, "target"), "scope")), "region");
    assert_true(json_is_null(json_object_get(v, "level")));
    /* Usage as for content: the words of the messages (4 + 4) and of the content. */
    assert_int_equal(json_integer_value(json_object_get(usage, "prompt_tokens")), 8);
    assert_int_equal(json_integer_value(json_object_get(usage, "completion_tokens")), count_words(first));
    assert_int_equal(json_integer_value(json_object_get(usage, "total_tokens")), 8 + count_words(first));
    json_decref(usage);
    json_decref(v);

    /* The same request, the same reply. */
    v = auto_reply("openai", schema, "auto/step-1", &text, NULL);
    assert_string_equal(text, first);
    json_decref(v);

    /* auto_items 9 is capped by maxItems; auto_text fills every string but the enum's; completion_tokens scripted. */
    v = auto_reply("openai", schema, "auto-items", &text, &usage);
    assert_valid(schema, v);
    assert_int_equal(json_array_size(json_object_get(v, "actions")), 4);
    a = json_array_get(json_object_get(v, "actions"), 3);
    assert_string_equal(json_string_value(json_object_get(a, "note")), "hi");
    assert_string_equal(json_string_value(json_object_get(a, "kind")), "vaccinate");
    assert_true(strncmp(json_string_value(json_object_get(v, "reasoning")), "hi hi ", 6) == 0);
    assert_int_equal(json_integer_value(json_object_get(usage, "completion_tokens")), 5);
    json_decref(usage);
    json_decref(v);

    /* Ollama: the schema is `format`. */
    v = auto_reply("ollama", schema, "auto/step-2", &text, &usage);
    assert_valid(schema, v);
    assert_true(strncmp(json_string_value(json_object_get(v, "reasoning")), "auto reasoning auto/step-2", 26) == 0);
    assert_int_equal(json_integer_value(json_object_get(usage, "prompt_tokens")), 8);
    assert_int_equal(json_integer_value(json_object_get(usage, "completion_tokens")), count_words(text));
    json_decref(usage);
    json_decref(v);

    /* No schema in the body: the default reply's content. */
    v = auto_reply("openai", NULL, "auto/step-3", &text, NULL);
    assert_string_equal(text, "{\"reasoning\": \"default reply\", \"actions\": []}");
    json_decref(v);
    v = auto_reply("ollama", NULL, "auto/step-3", &text, NULL);
    assert_string_equal(text, "{\"reasoning\": \"default reply\", \"actions\": []}");
    json_decref(v);
    json_decref(schema);

    json_t *log = llm_server_requests(&server);
    assert_non_null(log);
    size_t i;
    json_t *e;
    int autos = 0;
    json_array_foreach(log, i, e) {
        const char *tag = json_string_value(json_object_get(e, "tag"));
        if (tag && strncmp(tag, "auto", 4) == 0) {
            autos++;
            assert_string_equal(json_string_value(json_object_get(json_object_get(e, "response"), "kind")), "auto");
        }
    }
    assert_int_equal(autos, 6);
    json_decref(log);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(openai_tag_gets_429_with_retry_after_then_reply),
        cmocka_unit_test(wildcard_default_and_quota_replies),
        cmocka_unit_test(ollama_requires_stream_false_and_replies_in_its_shape),
        cmocka_unit_test(malformed_requests_are_rejected),
        cmocka_unit_test(reject_json_schema_answers_400_and_json_object_passes),
        cmocka_unit_test(drop_closes_without_a_reply),
        cmocka_unit_test(hang_makes_the_client_time_out),
        cmocka_unit_test(log_records_requests_but_never_the_key),
        cmocka_unit_test(auto_replies_follow_the_request_schema),
    };
    int failed = cmocka_run_group_tests(tests, group_setup, group_teardown);
    curl_global_cleanup();
    return failed;
}
