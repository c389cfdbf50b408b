/* agora — talking to LLM servers: an HTTP client on libcurl's multi interface and the OpenAI-compatible and Ollama
 * chat protocols.
 *
 * agora_llm_call_batch asks several chat requests at once (all personas due at a step), at most max_concurrency in
 * flight, each with its own timeout. A request is retried with exponential backoff and jitter after a timeout, a
 * connection error, 429 (honouring Retry-After) or 5xx; never after another 4xx. The total wait of one request is
 * bounded (max_total_s). The outcome of every attempt sequence is returned, never an abort: a failed call is a
 * result with a status the caller records and falls back from.
 *
 * Providers:
 *   openai  POST {base_url}/v1/chat/completions, messages, `response_format` = {type: json_schema, json_schema:
 *           {name, schema, strict}}; the reply is choices[0].message.content, tokens in usage. A server that rejects
 *           json_schema (400/422 naming response_format or json_schema) is asked again with {type: json_object} and
 *           the schema in the system prompt, and remembered as such for the rest of the run.
 *   ollama  POST {base_url}/api/chat with stream: false, `format` = the schema, options {seed, temperature}; the
 *           reply is message.content, tokens prompt_eval_count / eval_count.
 * API keys come only from the environment (the name of the variable is configured, never the key) and are never
 * stored in results or logs.
 *
 * libcurl must be initialised once by the program (curl_global_init) before threads start; the CLI does it. */
#ifndef AGORA_LLM_H
#define AGORA_LLM_H
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "agora/error.h"
#include "agora/export.h"
#ifdef __cplusplus
extern "C" {
#endif

typedef enum agora_llm_provider {
    AGORA_LLM_OPENAI = 1,
    AGORA_LLM_OLLAMA = 2
} agora_llm_provider;

/* Where and how to ask. Strings are borrowed for the duration of a call. */
typedef struct agora_llm_config {
    agora_llm_provider provider;
    const char *model;          /* e.g. "llama3.2", "gpt-4o-mini" */
    const char *base_url;       /* e.g. "http://127.0.0.1:11434" (ollama), "https://api.openai.com" (openai) */
    const char *api_key_env;    /* name of the environment variable holding the key; NULL: AGORA_API_KEY, else
                                 * (openai) OPENAI_API_KEY; no key set: no Authorization header */
    double timeout_s;           /* per attempt (default 60) */
    int max_retries;            /* retries after the first attempt (default 3) */
    double backoff_s;           /* first backoff (default 0.5); doubles each retry, with jitter in [0.5, 1.5) */
    double max_backoff_s;       /* cap on one backoff, also on an honoured Retry-After (default 30) */
    double max_total_s;         /* bound on one request's total time, attempts and waits (default 180) */
    int max_concurrency;        /* requests in flight at once (default 8) */
    double temperature;         /* sent as is (default 0.7; < 0: not sent) */
    int64_t seed;               /* sent when >= 0 (best effort on every backend) */
    int json_object_only;       /* openai: use {type: json_object} + schema in the prompt from the start */
} agora_llm_config;

/* Fills the defaults above; provider, model and base_url stay NULL/0. */
AGORA_API void agora_llm_config_defaults(agora_llm_config *cfg);

/* One chat request: a system and a user message, and the JSON Schema the reply must follow (may be NULL). */
typedef struct agora_llm_request {
    const char *system;
    const char *user;
    const json_t *schema;       /* borrowed */
    const char *schema_name;    /* name for openai's json_schema (default "reply") */
    const char *tag;            /* sent as the X-Agora-Tag header (e.g. "minister/step-14"): for tracing and for
                                 * test servers that script replies; never affects the reply's meaning */
} agora_llm_request;

typedef enum agora_llm_status {
    AGORA_LLM_OK = 0,           /* HTTP 200 and a reply text extracted */
    AGORA_LLM_HTTP_ERROR = 1,   /* a final HTTP status other than 200 (after retries where they apply) */
    AGORA_LLM_TIMEOUT = 2,      /* the last attempt timed out */
    AGORA_LLM_CONNECT = 3,      /* could not connect / connection dropped */
    AGORA_LLM_BAD_RESPONSE = 4, /* 200 but the body is not the protocol's JSON (or has no content) */
    AGORA_LLM_REFUSED = 5,      /* openai: the model refused (message.refusal) */
    AGORA_LLM_GAVE_UP = 6,      /* the total time bound ran out before a final answer */
    /* Calls not sent at all (attempts 0, latency 0), decided by the callers that keep a run's state (the persona
     * runtime, the interactions engine), never by agora_llm_call_batch: */
    AGORA_LLM_UNREACHABLE = 7,  /* the endpoint check found no server at the URL (agora_llm_check_endpoint) */
    AGORA_LLM_CIRCUIT_OPEN = 8, /* the circuit breaker is open: the server failed several calls in a row */
    AGORA_LLM_BUDGET = 9        /* a limit of the run or the sweep (llm.max_calls, max_tokens, max_cost) is reached */
} agora_llm_status;

typedef struct agora_llm_result {
    agora_llm_status status;
    int http_status;            /* of the last attempt (0: none) */
    int attempts;               /* HTTP attempts made (>= 1 unless GAVE_UP before any) */
    double latency_s;           /* wall time from the first attempt to the result, waits included */
    int64_t prompt_tokens, completion_tokens; /* -1 when the server did not say */
    char *content;              /* the reply text (the JSON the model wrote), or NULL; free() it */
    char *request_body;         /* the last request body sent (no key inside); free() it */
    char *response_body;        /* the last response body (truncated to 1 MiB), or NULL; free() it */
    char error[256];            /* what went wrong, for the record */
    int used_json_object;       /* openai: the json_object fallback was used */
    int replayed;               /* answered from a recording: recorded_latency_ms is the figure recorded then */
    double recorded_latency_ms; /* (latency_s is recorded_latency_ms / 1000, which need not convert back exactly) */
} agora_llm_result;

/* A call's latency in milliseconds as recorded: the recording's own figure for a replayed call, so that a replay
 * writes the same bits. */
#define AGORA_LLM_LATENCY_MS(r) ((r)->replayed ? (r)->recorded_latency_ms : (r)->latency_s * 1e3)

/* Asks n requests concurrently and fills results[0 .. n). Returns 0, or an error code only for misuse (bad config,
 * out of memory); call failures are in the results. The results are independent of completion order. */
AGORA_API int agora_llm_call_batch(const agora_llm_config *cfg, const agora_llm_request *requests, int n,
                                   agora_llm_result *results, agora_error *err);

/* The same with a configuration per request (cfgs[i] for requests[i]): actors of one round on different servers or
 * models asked at once. Each configuration's max_concurrency caps its own requests in flight. */
AGORA_API int agora_llm_call_batch_each(const agora_llm_config *const *cfgs, const agora_llm_request *requests, int n,
                                        agora_llm_result *results, agora_error *err);

/* Frees the strings of a result (not the struct). */
AGORA_API void agora_llm_result_free(agora_llm_result *r);

/* "ok", "http_error", "timeout", "connect", "bad_response", "refused", "gave_up", "unreachable", "circuit_open",
 * "budget". */
AGORA_API const char *agora_llm_status_name(agora_llm_status s);

/* The status of a name agora_llm_status_name gives ("invalid", a reply the server gave that failed validation,
 * reads as AGORA_LLM_OK); an unknown name reads as AGORA_LLM_CONNECT. */
AGORA_API agora_llm_status agora_llm_status_from_name(const char *name);

/* Whether a server answers at cfg->base_url, asked once with one cheap request: ollama GET {base}/api/version,
 * openai GET {base}/v1/models (with the key, as chat sends it). Any HTTP answer — 401 and 404 included, since chat
 * may still work where a listing is refused — and a server that takes the connection but does not answer within
 * the bound (a busy server) count as "a server is there": returns 0 and describes it in msg. Only failing to reach
 * a server fails: connection refused, no such host, a TLS failure, no connection within min(timeout_s, 10) s. Then
 * it returns AGORA_EHTTP with msg "no LLM server at URL: REASON; start it, or run with --llm offline" (URL as
 * configured, with http:// added when it has no scheme). msg may be NULL. */
AGORA_API int agora_llm_check_endpoint(const agora_llm_config *cfg, char *msg, size_t size);

/* ---- a budget shared by several runs (a sweep) -------------------------------------------------------------------
 *
 * Limits on the total LLM use of several runs, kept in an anonymous shared memory mapping with atomic counters, so
 * that the worker processes a sweep forks after creating it (and threads) draw from the same totals. A run checks
 * it before each batch of calls (besides its own llm.max_* limits): calls are reserved one by one and never exceed
 * max_calls; tokens and cost are added after the calls, so they may overshoot by the calls already in flight. */
typedef struct agora_llm_budget agora_llm_budget;

/* Limits of 0 mean none; negative ones are AGORA_EINVAL. *out is owned by the caller (agora_llm_budget_destroy). */
AGORA_API int agora_llm_budget_create(int64_t max_calls, int64_t max_tokens, double max_cost, agora_llm_budget **out,
                                      agora_error *err);
AGORA_API void agora_llm_budget_destroy(agora_llm_budget *b);

/* Reserves up to `want` calls: how many may be made now (0 .. want), counted as used; 0 once a limit is reached. */
AGORA_API int agora_llm_budget_reserve(agora_llm_budget *b, int want);

/* Adds what the reserved calls used (tokens: prompt + completion). */
AGORA_API void agora_llm_budget_add(agora_llm_budget *b, int64_t tokens, double cost);

/* The limit reached ("max_calls", "max_tokens", "max_cost"), or NULL. */
AGORA_API const char *agora_llm_budget_reached(const agora_llm_budget *b);

/* The totals so far (any pointer may be NULL), and the limits (0: none). */
AGORA_API void agora_llm_budget_used(const agora_llm_budget *b, int64_t *calls, int64_t *tokens, double *cost);
AGORA_API void agora_llm_budget_limits(const agora_llm_budget *b, int64_t *max_calls, int64_t *max_tokens,
                                       double *max_cost);

/* "openai" / "ollama" to a provider; 0 if unknown. */
AGORA_API agora_llm_provider agora_llm_provider_from_name(const char *name);

#ifdef __cplusplus
}
#endif
#endif
