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
    AGORA_LLM_GAVE_UP = 6       /* the total time bound ran out before a final answer */
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
} agora_llm_result;

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

/* "ok", "http_error", "timeout", "connect", "bad_response", "refused", "gave_up". */
AGORA_API const char *agora_llm_status_name(agora_llm_status s);

/* "openai" / "ollama" to a provider; 0 if unknown. */
AGORA_API agora_llm_provider agora_llm_provider_from_name(const char *name);

#ifdef __cplusplus
}
#endif
#endif
