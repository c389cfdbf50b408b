/* agora — what the persona runtime (persona.c) and the interactions engine (src/interact/) share about asking an
 * LLM: the `llm:` configuration block (checked with key paths), answering calls from a recorded run instead of the
 * network (replay), the prompt text a call is recorded under, and small checkers for configuration objects.
 * Internal (agora__ prefix). */
#ifndef AGORA_LLM_LLMCONF_H
#define AGORA_LLM_LLMCONF_H

#include <stdint.h>

#include <jansson.h>

#include "agora/error.h"
#include "agora/llm.h"

/* ---- configuration checkers (errors are AGORA_ESCHEMA with the key path in err->where) -------------------------- */

int agora__cfg_bad(agora_error *err, const char *where, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Every key of o must be in `allowed` (NULL-terminated). */
int agora__cfg_keys(const json_t *o, const char *const *allowed, const char *where, agora_error *err);

/* o[key] as a number in [lo, hi]; missing: dflt. */
int agora__cfg_number(const json_t *o, const char *key, double lo, double hi, double dflt, double *out,
                      const char *where, agora_error *err);

/* A string (strdup'ed) or dflt (strdup'ed, may be NULL). */
char *agora__cfg_dup(const json_t *v, const char *dflt);

/* ---- the llm block ------------------------------------------------------------------------------------------------ */

typedef struct agora__llm_conf {
    agora_llm_config llm;                  /* its strings point into the members below */
    char *provider_name;                   /* "openai", "ollama", "replay", "offline" */
    char *model, *base_url, *api_key_env;
    char *replay_path;                     /* provider replay: llm.path */
    int offline;                           /* no live LLM: offline, none configured, or replay */
    int keep_warm;                         /* keep_threads_warm */
    int64_t max_prompt_tokens;             /* prompt budget (default 3000) */
    double price_prompt, price_completion; /* cost per 1000 tokens, for analytics and max_cost (default 0) */
    int64_t max_calls, max_tokens;         /* the run's limits (max_tokens: prompt + completion, all calls); 0: none */
    double max_cost;                       /* in the currency of the prices; 0: none */
} agora__llm_conf;

/* Checks an `llm:` object (NULL or null: offline) and fills *c (which it first clears). Null members mean "the
 * default". `where` names the block in errors ("llm", "roles.world"). Free with agora__llm_conf_free. */
int agora__llm_conf_parse(const json_t *llm, const char *where, agora__llm_conf *c, agora_error *err);
void agora__llm_conf_free(agora__llm_conf *c);

/* A copy of `base` with the members of `over` (an object, may be NULL) put over it: how a role's or an actor's
 * `llm:` refines the scenario's. A different provider drops base's model and base_url. New reference. */
json_t *agora__llm_conf_merge(const json_t *base, const json_t *over);

/* ---- recording and replay ----------------------------------------------------------------------------------------- */

/* The text a call is recorded (and replay-checked) under: "[system]\n<system>\n[user]\n<user>". Free with free(). */
char *agora__llm_prompt_text(const agora_llm_request *rq);

/* An index of recorded calls (rows of /llm/calls: step, persona, attempt, prompt, reply, status, ...) by
 * "step/who/attempt". New reference; NULL when calls is not an array. */
json_t *agora__llm_replay_index(const json_t *calls);

/* Fills *r with the recorded answer to the call (step, who, attempt; `kind` names who in errors: "persona") whose
 * request is rq. The recorded prompt must equal rq's (else an error naming the step and caller, unless lenient: then
 * the recorded reply is used anyway); a call missing from the recording is an error (lenient: a failed call). */
int agora__llm_replay_answer(const json_t *index, const char *kind, int64_t step, const char *who, int attempt,
                             const agora_llm_request *rq, int lenient, agora_llm_result *r, agora_error *err);

#endif
