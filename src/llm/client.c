/* agora — the LLM HTTP client: chat requests to OpenAI-compatible and Ollama servers over libcurl's multi interface,
 * concurrently, with per-attempt timeouts, retries with exponential backoff and jitter, Retry-After, and a bound on
 * each request's total time. See include/agora/llm.h. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "agora/llm.h"
#include "agora/rng.h"
#include "core/internal.h"

#define MAX_BODY (1u << 20) /* bytes of a response kept */

void agora_llm_config_defaults(agora_llm_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->timeout_s = 60;
    cfg->max_retries = 3;
    cfg->backoff_s = 0.5;
    cfg->max_backoff_s = 30;
    cfg->max_total_s = 180;
    cfg->max_concurrency = 8;
    cfg->temperature = 0.7;
    cfg->seed = -1;
}

const char *agora_llm_status_name(agora_llm_status s)
{
    switch (s) {
    case AGORA_LLM_OK:
        return "ok";
    case AGORA_LLM_HTTP_ERROR:
        return "http_error";
    case AGORA_LLM_TIMEOUT:
        return "timeout";
    case AGORA_LLM_CONNECT:
        return "connect";
    case AGORA_LLM_BAD_RESPONSE:
        return "bad_response";
    case AGORA_LLM_REFUSED:
        return "refused";
    case AGORA_LLM_GAVE_UP:
        return "gave_up";
    case AGORA_LLM_UNREACHABLE:
        return "unreachable";
    case AGORA_LLM_CIRCUIT_OPEN:
        return "circuit_open";
    case AGORA_LLM_BUDGET:
        return "budget";
    }
    return "unknown";
}

agora_llm_status agora_llm_status_from_name(const char *name)
{
    if (name && strcmp(name, "invalid") == 0)
        return AGORA_LLM_OK; /* the server answered; the reply failed validation */
    for (int s = AGORA_LLM_OK; s <= AGORA_LLM_BUDGET; s++)
        if (name && strcmp(name, agora_llm_status_name((agora_llm_status)s)) == 0)
            return (agora_llm_status)s;
    return AGORA_LLM_CONNECT;
}

agora_llm_provider agora_llm_provider_from_name(const char *name)
{
    if (name && strcmp(name, "openai") == 0)
        return AGORA_LLM_OPENAI;
    if (name && strcmp(name, "ollama") == 0)
        return AGORA_LLM_OLLAMA;
    return 0;
}

void agora_llm_result_free(agora_llm_result *r)
{
    if (!r)
        return;
    free(r->content);
    free(r->request_body);
    free(r->response_body);
    r->content = r->request_body = r->response_body = NULL;
}

/* ---- request bodies ---------------------------------------------------------------------------------------------- */

/* OpenAI's strict structured output needs every object closed (additionalProperties false) and every property
 * required; a schema that is not strict-ready is sent with strict: false rather than refused by the server. */
static int strict_ready(const json_t *s)
{
    if (json_is_array(s)) {
        size_t i;
        json_t *v;
        json_array_foreach(s, i, v) if (!strict_ready(v)) return 0;
        return 1;
    }
    if (!json_is_object(s))
        return 1;
    const json_t *props = json_object_get(s, "properties");
    if (props) {
        const json_t *req = json_object_get(s, "required");
        if (!json_is_false(json_object_get(s, "additionalProperties")) || !json_is_array(req) ||
            json_array_size(req) != json_object_size(props))
            return 0;
    }
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)s, k, v) if ((json_is_object(v) || json_is_array(v)) && !strict_ready(v)) return 0;
    return 1;
}

static char *build_body(const agora_llm_config *cfg, const agora_llm_request *rq, int as_json_object)
{
    json_t *body = json_object(), *msgs = json_array();
    char *system = NULL;
    const char *sys = rq->system ? rq->system : "";
    if (cfg->provider == AGORA_LLM_OPENAI && as_json_object && rq->schema) {
        /* The fallback: no server-side schema, so the schema goes into the prompt. */
        char *schema = json_dumps(rq->schema, JSON_COMPACT | JSON_SORT_KEYS);
        size_t n = strlen(sys) + (schema ? strlen(schema) : 0) + 128;
        system = malloc(n);
        if (system)
            snprintf(system, n, "%s%sReply with one JSON object only, no other text, following this JSON Schema:\n%s",
                     sys, sys[0] ? "\n\n" : "", schema ? schema : "{}");
        free(schema);
        sys = system ? system : sys;
    }
    if (sys[0])
        json_array_append_new(msgs, json_pack("{s:s, s:s}", "role", "system", "content", sys));
    json_array_append_new(msgs, json_pack("{s:s, s:s}", "role", "user", "content", rq->user ? rq->user : ""));
    json_object_set_new(body, "model", json_string(cfg->model));
    json_object_set_new(body, "messages", msgs);
    if (cfg->provider == AGORA_LLM_OPENAI) {
        if (rq->schema && !as_json_object) {
            json_object_set_new(
                body, "response_format",
                json_pack("{s:s, s:{s:s, s:O, s:b}}", "type", "json_schema", "json_schema", "name",
                          rq->schema_name ? rq->schema_name : "reply", "schema", rq->schema, "strict",
                          strict_ready(rq->schema)));
        } else {
            json_object_set_new(body, "response_format", json_pack("{s:s}", "type", "json_object"));
        }
        if (cfg->temperature >= 0)
            json_object_set_new(body, "temperature", json_real(cfg->temperature));
        if (cfg->seed >= 0)
            json_object_set_new(body, "seed", json_integer((json_int_t)cfg->seed));
    } else {
        json_object_set_new(body, "stream", json_false());
        json_object_set_new(body, "format", rq->schema ? json_deep_copy(rq->schema) : json_string("json"));
        json_t *opts = json_object();
        if (cfg->temperature >= 0)
            json_object_set_new(opts, "temperature", json_real(cfg->temperature));
        if (cfg->seed >= 0)
            json_object_set_new(opts, "seed", json_integer((json_int_t)cfg->seed));
        json_object_set_new(body, "options", opts);
    }
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    free(system);
    return text;
}

/* ---- one request's state ----------------------------------------------------------------------------------------- */

typedef struct call {
    const agora_llm_config *cfg;
    const char *auth; /* "Authorization: Bearer ..." or NULL */
    const agora_llm_request *rq;
    agora_llm_result *res;
    int index;
    CURL *easy;
    struct curl_slist *headers;
    char *body;          /* the request body of the attempt in flight */
    char *resp;          /* response bytes */
    size_t resp_len, resp_cap;
    double retry_after;  /* from the last response's headers, -1: none */
    double start, next;  /* when the first attempt started; when the next may start (0: now) */
    int json_object;     /* openai: the json_object fallback is on */
    int done, in_flight;
} call;

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    call *c = ud;
    size_t n = size * nmemb;
    if (c->resp_len + n + 1 > c->resp_cap) {
        size_t cap = c->resp_cap ? c->resp_cap : 4096;
        while (cap < c->resp_len + n + 1)
            cap *= 2;
        if (cap > MAX_BODY + 1) {
            cap = MAX_BODY + 1;
            if (c->resp_len + 1 >= cap)
                return n; /* keep reading, drop the excess */
            n = cap - 1 - c->resp_len;
        }
        char *p = realloc(c->resp, cap);
        if (!p)
            return 0;
        c->resp = p;
        c->resp_cap = cap;
    }
    memcpy(c->resp + c->resp_len, data, n);
    c->resp_len += n;
    c->resp[c->resp_len] = '\0';
    return size * nmemb;
}

/* Retry-After: seconds, or an HTTP date (then how long until it). */
static size_t on_header(char *data, size_t size, size_t nmemb, void *ud)
{
    call *c = ud;
    size_t n = size * nmemb;
    static const char name[] = "retry-after:";
    if (n > sizeof name - 1 && strncasecmp(data, name, sizeof name - 1) == 0) {
        char v[128];
        size_t len = n - (sizeof name - 1) < sizeof v - 1 ? n - (sizeof name - 1) : sizeof v - 1;
        memcpy(v, data + sizeof name - 1, len);
        v[len] = '\0';
        char *s = v;
        while (*s == ' ' || *s == '\t')
            s++;
        char *end = NULL;
        double secs = strtod(s, &end);
        if (end != s && isfinite(secs) && secs >= 0) {
            c->retry_after = secs;
        } else {
            time_t when = curl_getdate(s, NULL);
            if (when > 0)
                c->retry_after = difftime(when, time(NULL)) > 0 ? difftime(when, time(NULL)) : 0;
        }
    }
    return n;
}

/* {base_url}{path} for the provider: trailing slashes dropped, an OpenAI-style base ending in /v1 (as
 * OPENAI_BASE_URL=https://api.openai.com/v1 does) not doubled, http:// added to a base without a scheme (Ollama's
 * OLLAMA_HOST may be given so). path "" gives the base as shown in messages. */
static void endpoint_url(const agora_llm_config *cfg, const char *path, char *url, size_t size)
{
    const char *base = cfg->base_url;
    size_t bl = strlen(base);
    while (bl > 0 && base[bl - 1] == '/')
        bl--;
    if (path[0] && cfg->provider == AGORA_LLM_OPENAI && bl >= 3 && strncmp(base + bl - 3, "/v1", 3) == 0)
        bl -= 3;
    const char *scheme = strstr(base, "://") ? "" : "http://";
    snprintf(url, size, "%s%.*s%s", scheme, (int)bl, base, path);
}

static int start_attempt(const agora_llm_config *cfg, CURLM *multi, call *c, double now, const char *auth)
{
    free(c->body);
    c->body = build_body(cfg, c->rq, c->json_object);
    c->resp_len = 0;
    if (c->resp)
        c->resp[0] = '\0';
    c->retry_after = -1;
    if (!c->body || !(c->easy = curl_easy_init()))
        return -1;
    char url[1024];
    endpoint_url(cfg, cfg->provider == AGORA_LLM_OPENAI ? "/v1/chat/completions" : "/api/chat", url, sizeof url);
    curl_slist_free_all(c->headers);
    c->headers = curl_slist_append(NULL, "Content-Type: application/json");
    c->headers = curl_slist_append(c->headers, "Accept: application/json");
    if (c->rq->tag) {
        char h[300];
        snprintf(h, sizeof h, "X-Agora-Tag: %s", c->rq->tag);
        c->headers = curl_slist_append(c->headers, h);
    }
    if (auth)
        c->headers = curl_slist_append(c->headers, auth);
    double left = c->start + cfg->max_total_s - now;
    double t = cfg->timeout_s < left ? cfg->timeout_s : left;
    curl_easy_setopt(c->easy, CURLOPT_URL, url);
    curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, c->headers);
    curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, c->body);
    curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(c->easy, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c->easy, CURLOPT_HEADERDATA, c);
    curl_easy_setopt(c->easy, CURLOPT_TIMEOUT_MS, (long)(t > 0.001 ? t * 1000 : 1));
    curl_easy_setopt(c->easy, CURLOPT_CONNECTTIMEOUT_MS, (long)(t > 0.001 ? t * 1000 : 1));
    curl_easy_setopt(c->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c->easy, CURLOPT_USERAGENT, "agora");
    curl_easy_setopt(c->easy, CURLOPT_PRIVATE, c);
    if (curl_multi_add_handle(multi, c->easy) != CURLM_OK)
        return -1;
    c->in_flight = 1;
    c->res->attempts++;
    return 0;
}

/* Extracts the reply text and token counts from a 200 body; returns the status. */
static agora_llm_status parse_reply(const agora_llm_config *cfg, call *c)
{
    agora_llm_result *r = c->res;
    json_error_t je;
    json_t *doc = json_loads(c->resp ? c->resp : "", 0, &je);
    if (!json_is_object(doc)) {
        snprintf(r->error, sizeof r->error, "the server's reply is not JSON: %s", je.text);
        json_decref(doc);
        return AGORA_LLM_BAD_RESPONSE;
    }
    agora_llm_status st = AGORA_LLM_OK;
    const json_t *msg, *content;
    if (cfg->provider == AGORA_LLM_OPENAI) {
        msg = json_object_get(json_array_get(json_object_get(doc, "choices"), 0), "message");
        const json_t *usage = json_object_get(doc, "usage");
        if (json_is_integer(json_object_get(usage, "prompt_tokens")))
            r->prompt_tokens = json_integer_value(json_object_get(usage, "prompt_tokens"));
        if (json_is_integer(json_object_get(usage, "completion_tokens")))
            r->completion_tokens = json_integer_value(json_object_get(usage, "completion_tokens"));
        const json_t *refusal = json_object_get(msg, "refusal");
        if (json_is_string(refusal)) {
            snprintf(r->error, sizeof r->error, "the model refused: %s", json_string_value(refusal));
            st = AGORA_LLM_REFUSED;
        }
    } else {
        msg = json_object_get(doc, "message");
        if (json_is_integer(json_object_get(doc, "prompt_eval_count")))
            r->prompt_tokens = json_integer_value(json_object_get(doc, "prompt_eval_count"));
        if (json_is_integer(json_object_get(doc, "eval_count")))
            r->completion_tokens = json_integer_value(json_object_get(doc, "eval_count"));
    }
    content = json_object_get(msg, "content");
    if (st == AGORA_LLM_OK) {
        if (json_is_string(content)) {
            r->content = strdup(json_string_value(content));
        } else {
            snprintf(r->error, sizeof r->error, "the reply has no message content");
            st = AGORA_LLM_BAD_RESPONSE;
        }
    }
    json_decref(doc);
    return st;
}

/* An OpenAI-compatible server that does not take json_schema answers 400/422 about response_format. */
static int rejects_json_schema(const call *c, long http)
{
    return (http == 400 || http == 422) && c->resp &&
           (strstr(c->resp, "response_format") || strstr(c->resp, "json_schema") || strstr(c->resp, "json schema"));
}

/* The wait before retry `attempt` (1-based): Retry-After when the server said, else exponential with jitter in
 * [0.5, 1.5) drawn from a hash of (request, attempt) — no shared generator; 503 (overloaded) waits twice as long. */
static double backoff(const agora_llm_config *cfg, const call *c, long http)
{
    double cap = cfg->max_backoff_s > 0 ? cfg->max_backoff_s : 30;
    if (c->retry_after >= 0)
        return c->retry_after < cap ? c->retry_after : cap;
    double b = cfg->backoff_s * ldexp(1.0, c->res->attempts - 1) * (http == 503 ? 2 : 1);
    double u = agora_rng_u01(agora_rng_mix64(((uint64_t)c->index << 32) ^ (uint64_t)c->res->attempts ^
                                             UINT64_C(0xA5A5A5A5DEADBEEF)));
    b *= 0.5 + u;
    return b < cap ? b : cap;
}

/* An attempt ended: decide the result or schedule a retry. */
static void finish_attempt(const agora_llm_config *cfg, call *c, CURLcode cc, double now)
{
    agora_llm_result *r = c->res;
    long http = 0;
    curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &http);
    r->http_status = (int)http;
    free(r->response_body);
    r->response_body = c->resp ? strdup(c->resp) : NULL;
    free(r->request_body);
    r->request_body = c->body ? strdup(c->body) : NULL;
    int retry = 0, immediate = 0;
    if (cc == CURLE_OK && http == 200) {
        r->status = parse_reply(cfg, c);
        r->used_json_object = c->json_object;
    } else if (cc == CURLE_OK) {
        r->status = AGORA_LLM_HTTP_ERROR;
        snprintf(r->error, sizeof r->error, "HTTP %ld%s%.200s", http, c->resp && c->resp[0] ? ": " : "",
                 c->resp ? c->resp : "");
        if (cfg->provider == AGORA_LLM_OPENAI && !c->json_object && c->rq->schema && rejects_json_schema(c, http)) {
            c->json_object = 1; /* ask again at once with json_object and the schema in the prompt */
            retry = immediate = 1;
        } else if (http == 429) {
            retry = !(c->resp && strstr(c->resp, "insufficient_quota")); /* out of credit: asking again won't help */
        } else if (http >= 500) {
            retry = 1;
        }
    } else {
        r->status = cc == CURLE_OPERATION_TIMEDOUT ? AGORA_LLM_TIMEOUT : AGORA_LLM_CONNECT;
        snprintf(r->error, sizeof r->error, "%s", curl_easy_strerror(cc));
        retry = 1;
    }
    if (retry && (immediate ? r->attempts <= cfg->max_retries + 1 : r->attempts <= cfg->max_retries)) {
        double wait = immediate ? 0 : backoff(cfg, c, http);
        if (now + wait < c->start + cfg->max_total_s) {
            c->next = now + wait;
            return;
        }
        r->status = AGORA_LLM_GAVE_UP;
        snprintf(r->error + strlen(r->error), sizeof r->error - strlen(r->error),
                 " (gave up: the next attempt would pass max_total_s = %g s)", cfg->max_total_s);
    }
    c->done = 1;
    r->latency_s = now - c->start;
}

/* The Authorization header for cfg, from the environment: the variable the configuration names, else
 * AGORA_API_KEY, else (openai) OPENAI_API_KEY; "" without a key. */
static void auth_header(const agora_llm_config *cfg, char *auth, size_t size)
{
    const char *key = cfg->api_key_env ? getenv(cfg->api_key_env) : NULL;
    if (!cfg->api_key_env) {
        key = getenv("AGORA_API_KEY");
        if ((!key || !key[0]) && cfg->provider == AGORA_LLM_OPENAI)
            key = getenv("OPENAI_API_KEY");
    }
    auth[0] = '\0';
    if (key && key[0])
        snprintf(auth, size, "Authorization: Bearer %s", key);
}

static int check_config(const agora_llm_config *cfg, agora_error *err)
{
    if (!cfg)
        return agora_error_set(err, AGORA_EINVAL, "llm", "no configuration");
    if (cfg->provider != AGORA_LLM_OPENAI && cfg->provider != AGORA_LLM_OLLAMA)
        return agora_error_set(err, AGORA_EINVAL, "llm.provider", "expected openai or ollama");
    if (!cfg->model || !cfg->model[0] || !cfg->base_url || !cfg->base_url[0])
        return agora_error_set(err, AGORA_EINVAL, "llm", "a model and a base_url are needed");
    return 0;
}

int agora_llm_call_batch(const agora_llm_config *cfg, const agora_llm_request *requests, int n,
                         agora_llm_result *results, agora_error *err)
{
    if (!cfg)
        return agora_error_set(err, AGORA_EINVAL, "llm", "no configuration or requests");
    if (n <= 0)
        return agora_llm_call_batch_each(&cfg, requests, n, results, err);
    const agora_llm_config **cfgs = malloc((size_t)n * sizeof *cfgs);
    if (!cfgs)
        return agora_error_set(err, AGORA_ENOMEM, "llm", "out of memory");
    for (int i = 0; i < n; i++)
        cfgs[i] = cfg;
    int rc = agora_llm_call_batch_each(cfgs, requests, n, results, err);
    free(cfgs);
    return rc;
}

int agora_llm_call_batch_each(const agora_llm_config *const *cfgs, const agora_llm_request *requests, int n,
                              agora_llm_result *results, agora_error *err)
{
    if (n < 0 || (n > 0 && (!cfgs || !requests || !results)))
        return agora_error_set(err, AGORA_EINVAL, "llm", "no configuration or requests");
    for (int i = 0; i < n; i++) {
        int rc = check_config(cfgs[i], err);
        if (rc)
            return rc;
    }
    for (int i = 0; i < n; i++) {
        memset(&results[i], 0, sizeof results[i]);
        results[i].prompt_tokens = results[i].completion_tokens = -1;
    }
    if (n == 0)
        return 0;
    /* The keys are read from the environment for this batch and live only in the header lists. */
    char(*auth)[1024] = calloc((size_t)n, sizeof *auth);
    call *calls = calloc((size_t)n, sizeof *calls);
    CURLM *multi = curl_multi_init();
    if (!calls || !multi || !auth) {
        free(calls);
        free(auth);
        if (multi)
            curl_multi_cleanup(multi);
        return agora_error_set(err, AGORA_ENOMEM, "llm", "out of memory");
    }
    const double t0 = agora__now();
    for (int i = 0; i < n; i++) {
        const agora_llm_config *cfg = cfgs[i];
        auth_header(cfg, auth[i], sizeof auth[i]);
        calls[i] = (call){.cfg = cfg,
                          .auth = auth[i][0] ? auth[i] : NULL,
                          .rq = &requests[i],
                          .res = &results[i],
                          .index = i,
                          .start = t0,
                          .retry_after = -1,
                          .json_object = cfg->provider == AGORA_LLM_OPENAI && cfg->json_object_only};
    }
    int remaining = n;
    while (remaining > 0) {
        double now = agora__now(), wake = now + 0.1;
        for (int i = 0; i < n; i++) {
            call *c = &calls[i];
            if (c->done || c->in_flight)
                continue;
            /* each configuration's own cap on requests in flight (a batch usually has one configuration) */
            const int cap = c->cfg->max_concurrency > 0 ? c->cfg->max_concurrency : 8;
            int busy = 0;
            for (int j = 0; j < n && busy < cap; j++)
                busy += calls[j].in_flight && calls[j].cfg == c->cfg;
            if (busy >= cap)
                continue;
            if (c->next > now) {
                wake = c->next < wake ? c->next : wake;
                continue;
            }
            if (start_attempt(c->cfg, multi, c, now, c->auth) != 0) {
                c->res->status = AGORA_LLM_CONNECT;
                snprintf(c->res->error, sizeof c->res->error, "could not start the request (out of memory?)");
                c->done = 1;
                remaining--;
                continue;
            }
        }
        int running = 0;
        curl_multi_perform(multi, &running);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(multi, &left))) {
            if (m->msg != CURLMSG_DONE)
                continue;
            call *c = NULL;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&c);
            const CURLcode cc = m->data.result;
            finish_attempt(c->cfg, c, cc, agora__now());
            curl_multi_remove_handle(multi, c->easy);
            curl_easy_cleanup(c->easy);
            c->easy = NULL;
            c->in_flight = 0;
            if (c->done)
                remaining--;
        }
        if (remaining == 0)
            break;
        int timeout_ms = (int)((wake - agora__now()) * 1000);
        timeout_ms = timeout_ms < 1 ? 1 : timeout_ms > 100 ? 100 : timeout_ms;
        curl_multi_poll(multi, NULL, 0, timeout_ms, NULL);
    }
    for (int i = 0; i < n; i++) {
        curl_slist_free_all(calls[i].headers);
        free(calls[i].body);
        free(calls[i].resp);
    }
    memset(auth, 0, (size_t)n * sizeof *auth);
    free(auth);
    free(calls);
    curl_multi_cleanup(multi);
    return 0;
}

/* ---- the endpoint check ------------------------------------------------------------------------------------------ */

static size_t discard_body(char *data, size_t size, size_t nmemb, void *ud)
{
    (void)data;
    (void)ud;
    return size * nmemb;
}

int agora_llm_check_endpoint(const agora_llm_config *cfg, char *msg, size_t size)
{
    char scratch[8];
    if (!msg || size == 0) {
        msg = scratch;
        size = sizeof scratch;
    }
    msg[0] = '\0';
    if (check_config(cfg, NULL) != 0) {
        snprintf(msg, size, "no LLM configured: a provider, a model and a base_url are needed");
        return AGORA_EINVAL;
    }
    const char *path = cfg->provider == AGORA_LLM_OPENAI ? "/v1/models" : "/api/version";
    char url[1100], shown[1024], auth[1024], errbuf[CURL_ERROR_SIZE] = "";
    endpoint_url(cfg, path, url, sizeof url);
    endpoint_url(cfg, "", shown, sizeof shown);
    CURL *e = curl_easy_init();
    if (!e) {
        snprintf(msg, size, "cannot check %s: out of memory", shown);
        return AGORA_ENOMEM;
    }
    auth_header(cfg, auth, sizeof auth);
    struct curl_slist *headers = curl_slist_append(NULL, "Accept: application/json");
    if (auth[0])
        headers = curl_slist_append(headers, auth);
    const double t = cfg->timeout_s > 0 && cfg->timeout_s < 10 ? cfg->timeout_s : 10;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard_body);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(t * 1000));
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)(t * 1000));
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "agora");
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
    const CURLcode cc = curl_easy_perform(e);
    long http = 0, os_errno = 0;
    curl_off_t connected_us = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &http);
    curl_easy_getinfo(e, CURLINFO_OS_ERRNO, &os_errno);
    curl_easy_getinfo(e, CURLINFO_CONNECT_TIME_T, &connected_us);
    curl_easy_cleanup(e);
    curl_slist_free_all(headers);
    memset(auth, 0, sizeof auth);
    char reason[400] = "";
    switch (cc) {
    case CURLE_OK:
        break;
    case CURLE_COULDNT_CONNECT:
        snprintf(reason, sizeof reason, "%s",
                 os_errno == ECONNREFUSED   ? "connection refused"
                 : os_errno == ENETUNREACH  ? "network unreachable"
                 : os_errno == EHOSTUNREACH ? "host unreachable"
                 : os_errno == ECONNRESET   ? "connection reset"
                 : errbuf[0]                ? errbuf
                                            : "cannot connect");
        break;
    case CURLE_COULDNT_RESOLVE_HOST:
        snprintf(reason, sizeof reason, "cannot resolve the host name");
        break;
    case CURLE_COULDNT_RESOLVE_PROXY:
        snprintf(reason, sizeof reason, "cannot resolve the proxy's host name");
        break;
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
        snprintf(reason, sizeof reason, "not a URL agora can reach (%s)", errbuf[0] ? errbuf : curl_easy_strerror(cc));
        break;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_USE_SSL_FAILED:
        snprintf(reason, sizeof reason, "the TLS handshake failed (%s)", errbuf[0] ? errbuf : curl_easy_strerror(cc));
        break;
    case CURLE_OPERATION_TIMEDOUT:
        if (connected_us <= 0 && http == 0)
            snprintf(reason, sizeof reason, "no connection within %g s", t);
        break;
    default:
        break; /* connected, then dropped or slow: something is listening there */
    }
    if (reason[0] && http == 0) {
        snprintf(msg, size, "no LLM server at %s: %s; start it, or run with --llm offline", shown, reason);
        return AGORA_EHTTP;
    }
    if (http > 0)
        snprintf(msg, size, "a server answered GET %s with HTTP %ld", url, http);
    else
        snprintf(msg, size, "a server at %s took the connection but did not answer GET %s within %g s (%s)", shown,
                 path, t, errbuf[0] ? errbuf : curl_easy_strerror(cc));
    return 0;
}
