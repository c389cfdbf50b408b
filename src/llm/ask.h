/* agora — the LLM ask service (src/llm/ask.c): the one place where a batch of questions goes to the LLM and its
 * answers come back checked. Personas (llm/persona.c), the actors, the world engine, the evaluator and enrichment
 * (interact/interact.c) and scenario generation (interact/generate.c) all ask through it.
 *
 * agora__ask_all takes n asks of one step (or round) and, for each:
 *   1. answers it from a recording (replay: all asks up to replay_until; a partial recording: those it holds) or,
 *      with a configuration that has no live LLM, fails it with status "connect" ("no LLM configured"); the
 *      others go out through the guard (agora__guard_admit: the endpoint check, the breaker, the limits), all at
 *      once (agora_llm_call_batch_each, one connection each);
 *   2. parses the reply (agora__ask_parse: one JSON object, or the first {...} of a text around it) and validates
 *      it against the ask's schema;
 *   3. sends one repair request for an invalid reply (agora__ask_repair_prompt: the reply, why it was refused,
 *      tag <tag>/repair, attempt 2);
 *   4. records every call, as one agora_persona_call (agora/llmcall.h), through on_call, and to the guard.
 * A server that answered in JSON mode only (used_json_object) is remembered in the ask's configuration. What a
 * caller does without a reply (rules, a pass, nothing) is its own: the ask says why (source, status, why). */
#ifndef AGORA_LLM_ASK_H
#define AGORA_LLM_ASK_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "agora/error.h"
#include "agora/llm.h"
#include "agora/llmcall.h"
#include "llm/guard.h"
#include "llm/llmconf.h"

typedef struct agora__ask {
    /* the question (the caller's; the strings stay the caller's) */
    agora__llm_conf *conf;
    const char *who; /* recorded as /llm/calls.persona and the recording's key: a persona or actor id, "world" */
    const char *system, *user;
    const json_t *schema;
    const char *schema_name;
    const char *tag; /* the request's X-Agora-Tag, e.g. "health/step-14" (the repair adds "/repair") */
    void *ud;        /* the caller's, for on_call */
    /* the answer */
    json_t *reply;             /* the valid reply (owned by the ask; agora__ask_clear), or NULL */
    char source[16];           /* "llm", "invalid" (twice), "failed" (a call failed), "budget" (a limit stopped it) */
    agora_llm_status status;   /* of the last call made: OK for "llm" and "invalid" */
    char why[700];             /* "invalid": why the last reply was refused; "failed", "budget": the call's error */
    int attempts;              /* calls made (1 or 2) */
    double latency_ms;         /* of all its calls */
    int64_t prompt_tokens, completion_tokens;
} agora__ask;

typedef struct agora__asker {
    agora__guard *guard; /* NULL: every live ask is sent, with no endpoint check, breaker or limits (one-shot) */
    /* a recording (agora__llm_replay_index), or NULL; replay_kind names the asker in its errors ("persona") */
    const json_t *replay;
    const char *replay_kind;
    int64_t replay_until; /* the last step answered from it (INT64_MAX: all) */
    int replay_lenient;   /* prompts that differ from the recording are answered anyway */
    int replay_partial;   /* the recording holds some calls of a step: the others are asked live */
    /* recorded as the provider of a call whose configuration names none (a replay's): "" when NULL */
    const char *unnamed_provider;
    /* > 1 and the asks' configuration says keep_threads_warm: that many OpenMP threads spin while the batch is out */
    int warm_threads;
    /* every call made, in order: attempt 1 of every ask, then the repairs */
    void (*on_call)(void *ud, agora__ask *q, const agora_persona_call *call);
    void *ud;
} agora__asker;

/* Asks every ask of step `step` as described above. Returns 0, or an error that stops the caller (a recording
 * that does not match, out of memory); failed calls and invalid replies are results, not errors. */
int agora__ask_all(agora__asker *a, int64_t step, agora__ask *qs, int n, agora_error *err);

/* Frees an ask's reply and clears its answer. */
void agora__ask_clear(agora__ask *q);

/* Parses a reply: one JSON object (duplicate keys refused), or the first {...} inside a text around it (a model
 * that adds a sentence or a code fence), valid against `schema`; else NULL and `why`. */
json_t *agora__ask_parse(const char *text, const json_t *schema, char *why, size_t size);

/* The user message of a repair request: the question again, why the reply could not be used and the reply (its
 * first 2000 bytes). Owned by the caller. */
char *agora__ask_repair_prompt(const char *user, const char *why, const char *reply);

#endif
