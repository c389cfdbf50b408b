/* agora — what keeps a run honest and bounded when it asks an LLM, shared by the persona runtime (persona.c) and
 * the interactions engine (src/interact/): the endpoint check, the circuit breaker, the governor (the run's and the
 * sweep's limits on calls, tokens and cost), and the tally that decides whether the run is degraded.
 *
 * A batch of chat requests goes through it in two steps: agora__guard_admit decides, request by request in order,
 * which may be sent and fills the results of the others (no network, latency 0):
 *   - the first time a server (provider + base URL) is to be asked, it is checked once (agora_llm_check_endpoint);
 *     when no server is there, the check's message is given to the warn hook and every call to it is "unreachable";
 *   - a server whose breaker is open gets no call: "circuit_open";
 *   - a limit reached (llm.max_calls, max_tokens, max_cost of the run; the sweep's shared agora_llm_budget) sends
 *     nothing more: "budget". Calls are counted when admitted, so a batch never passes max_calls (its first calls in
 *     order are sent); tokens and cost are counted when the answers come, so they may pass their limit by the one
 *     batch that reached it.
 * agora__guard_settle then counts what the sent calls used (tokens a server did not report are estimated from the
 * text, 4 characters a token) and feeds the breaker: a call that failed to reach the server after the client's
 * retries (connection refused or dropped, a timeout, or a final 5xx) counts; any other answer (200, 4xx, 429)
 * restarts the count; AGORA__BREAKER_CALLS such failures in a row open the breaker for the rest of the run.
 *
 * The callers report each call record (agora__guard_record) and each decision's outcome (agora__guard_outcome): a
 * decision or turn that was to come from the LLM and got no valid answer (a failed, unreachable or circuit-open call,
 * or a reply still invalid after the repair) makes the run degraded; one the budget stopped does not (the limit is
 * the user's own). The whole state saves to JSON and loads back exactly (checkpoints). Internal (agora__ prefix). */
#ifndef AGORA_LLM_GUARD_H
#define AGORA_LLM_GUARD_H

#include <stdint.h>

#include <jansson.h>

#include "agora/error.h"
#include "agora/llm.h"
#include "llm/llmconf.h"

/* Failed calls in a row that open the circuit breaker. */
#define AGORA__BREAKER_CALLS 3

typedef struct agora__guard_endpoint {
    char *key;         /* "<provider> <base_url>": one server */
    char *url;         /* the base URL as shown in messages */
    int checked;       /* the endpoint check was made */
    int unreachable;   /* ... and found no server */
    char *check_msg;   /* its message */
    int fails;         /* calls in a row that failed to reach it */
    int open;          /* no more calls (unreachable, or the breaker opened) */
    int64_t open_at;   /* the step (round) from which calls were not sent */
    char *open_reason; /* why, for the records */
} agora__guard_endpoint;

/* Outcomes of a decision or turn that was to come from the LLM. */
enum { AGORA__OUT_LLM = 0, AGORA__OUT_FALLBACK = 1, AGORA__OUT_BUDGET = 2 };

typedef struct agora__guard {
    int64_t max_calls, max_tokens; /* the run's limits (0: none) */
    double max_cost;
    agora_llm_budget *sweep; /* the sweep's shared budget (borrowed), or NULL */
    int64_t calls_used, tokens_used;
    double cost_used;
    char budget_limit[48]; /* the limit that stopped the calls ("max_calls", "sweep.max_cost", ...), "" none */
    double budget_value;   /* its value */
    int64_t budget_at;     /* the step (round) of the first call it stopped, -1: none */
    int64_t n_ok, n_invalid, n_failed, n_skipped; /* call records by status */
    int64_t n_answers, n_fallbacks, n_budget;     /* outcomes */
    char *first_problem;                          /* why the first fallback fell back */
    agora__guard_endpoint *ep;
    int n_ep;
    /* messages said once, at warning level (the endpoint check failing, the breaker opening, a limit reached) */
    void (*warn)(void *ud, const char *msg);
    void *warn_ud;
    const char *unit;       /* "step" or "round", in messages */
    const char *noun;       /* "persona decision", "turn" */
    const char *after_stop; /* what happens once a limit is reached ("the personas follow their rules") */
} agora__guard;

/* Clears *g and takes the limits of `limits` (the run's llm block; NULL: none). unit, noun, after_stop: static. */
void agora__guard_init(agora__guard *g, const agora__llm_conf *limits, const char *unit, const char *noun,
                       const char *after_stop);
void agora__guard_free(agora__guard *g);

/* Decides which of n requests may be sent (send[i] = 1) and fills the results of the others; confs[i] is the llm
 * block of request i (only live ones: offline blocks are the caller's to skip). res[i] of a sent request is cleared
 * for the client. */
void agora__guard_admit(agora__guard *g, const agora__llm_conf *const *confs, int n, int64_t step,
                        agora_llm_result *res, int *send);

/* After the sent requests answered: their usage, and the breaker. */
void agora__guard_settle(agora__guard *g, const agora__llm_conf *const *confs, const agora_llm_request *rq, int n,
                         int64_t step, const agora_llm_result *res, const int *sent);

/* A result answered from a recording: its usage counts as the run's (as it did when it was made). */
void agora__guard_replayed(agora__guard *g, const agora__llm_conf *conf, const agora_llm_request *rq,
                           const agora_llm_result *res);

/* A call record with its status as written to /llm/calls ("ok", "invalid", "budget", "circuit_open", ...). */
void agora__guard_record(agora__guard *g, const char *status);

/* The outcome of a decision or turn (AGORA__OUT_*); why: for a fallback, what went wrong. */
void agora__guard_outcome(agora__guard *g, int outcome, const char *why);

/* Nonzero when a decision or turn that was to come from the LLM got no valid answer. */
int agora__guard_degraded(const agora__guard *g);

/* The summary's "llm" object (README: "The llm summary"). New reference. */
json_t *agora__guard_summary(const agora__guard *g);

/* The whole state, exactly (the cost as the bits of its double); and back. New reference / 0 or an error. */
json_t *agora__guard_save(const agora__guard *g);
int agora__guard_load(agora__guard *g, const json_t *st, agora_error *err);

#endif
