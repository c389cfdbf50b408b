/* agora — one LLM call as a run records it (a row of /llm/calls): who asked at which step, the attempt, the
 * provider and model, latency, tokens, the HTTP outcome, the status, and the prompt and reply texts. Personas,
 * interaction actors and the world engine report their calls as this record, and the HDF5 writer (output.h) stores
 * it; this header is all the two share, so the output layer does not depend on the persona runtime. */
#ifndef AGORA_LLMCALL_H
#define AGORA_LLMCALL_H
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif

/* One LLM call, for the record (/llm/calls). Strings are borrowed for the duration of the hook. */
typedef struct agora_persona_call {
    int64_t step;
    const char *persona;
    int attempt; /* 1: the decision; 2: the repair request */
    const char *provider, *model;
    double latency_ms;
    int64_t prompt_tokens, completion_tokens; /* -1: unknown */
    int http_status, http_attempts;
    const char *status; /* "ok", "invalid" (a reply that fails validation), or the client's status name
                         * (agora_llm_status_name; "unreachable", "circuit_open" and "budget" for calls
                         * not sent, with http_attempts 0) */
    const char *error;  /* why, when not ok ("" otherwise) */
    const char *prompt; /* system and user text as sent */
    const char *reply;  /* the reply text ("" when none) */
} agora_persona_call;

#ifdef __cplusplus
}
#endif
#endif
