/* agora — a budget of LLM use shared by several runs (the runs of a sweep, in this process or in the worker
 * processes it forks): limits and atomic totals in one anonymous shared memory mapping. See include/agora/llm.h.
 *
 * Calls are reserved before they are made (a compare-and-swap loop, so max_calls is never exceeded however many
 * processes reserve at once); tokens and cost are added after the calls answered. The cost is kept as a double
 * updated by compare-and-swap of its bits. */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS */
#include <stdatomic.h>
#include <stdint.h>

#include <sys/mman.h>

#include "agora/llm.h"

/* Processes share the mapping, so the atomics must be lock-free (a lock in libatomic would be per process). */
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "the sweep budget needs lock-free 64-bit atomics");

struct agora_llm_budget {
    int64_t max_calls, max_tokens;
    double max_cost;
    atomic_llong calls, tokens;
    _Atomic double cost;
};

int agora_llm_budget_create(int64_t max_calls, int64_t max_tokens, double max_cost, agora_llm_budget **out,
                            agora_error *err)
{
    if (!out)
        return agora_error_set(err, AGORA_EINVAL, "budget", "agora_llm_budget_create needs somewhere to put it");
    *out = NULL;
    if (max_calls < 0 || max_tokens < 0 || !(max_cost >= 0))
        return agora_error_set(err, AGORA_EINVAL, "budget",
                               "LLM limits are counts and amounts >= 0 (0: no limit), got calls %lld, tokens %lld, "
                               "cost %g",
                               (long long)max_calls, (long long)max_tokens, max_cost);
    agora_llm_budget *b = mmap(NULL, sizeof *b, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (b == MAP_FAILED)
        return agora_error_set(err, AGORA_ENOMEM, "budget", "cannot map shared memory for the sweep's LLM budget");
    b->max_calls = max_calls;
    b->max_tokens = max_tokens;
    b->max_cost = max_cost;
    atomic_init(&b->calls, 0);
    atomic_init(&b->tokens, 0);
    atomic_init(&b->cost, 0.0);
    *out = b;
    return 0;
}

void agora_llm_budget_destroy(agora_llm_budget *b)
{
    if (b)
        munmap(b, sizeof *b);
}

const char *agora_llm_budget_reached(const agora_llm_budget *b)
{
    if (!b)
        return NULL;
    if (b->max_calls > 0 && atomic_load(&((agora_llm_budget *)b)->calls) >= b->max_calls)
        return "max_calls";
    if (b->max_tokens > 0 && atomic_load(&((agora_llm_budget *)b)->tokens) >= b->max_tokens)
        return "max_tokens";
    if (b->max_cost > 0 && atomic_load(&((agora_llm_budget *)b)->cost) >= b->max_cost)
        return "max_cost";
    return NULL;
}

int agora_llm_budget_reserve(agora_llm_budget *b, int want)
{
    if (!b || want <= 0)
        return want > 0 ? want : 0;
    if ((b->max_tokens > 0 && atomic_load(&b->tokens) >= b->max_tokens) ||
        (b->max_cost > 0 && atomic_load(&b->cost) >= b->max_cost))
        return 0;
    long long cur = atomic_load(&b->calls), take;
    do {
        take = want;
        if (b->max_calls > 0) {
            if (cur >= b->max_calls)
                return 0;
            if (cur + take > b->max_calls)
                take = b->max_calls - cur;
        }
    } while (!atomic_compare_exchange_weak(&b->calls, &cur, cur + take));
    return (int)take;
}

void agora_llm_budget_add(agora_llm_budget *b, int64_t tokens, double cost)
{
    if (!b)
        return;
    if (tokens > 0)
        atomic_fetch_add(&b->tokens, (long long)tokens);
    if (cost > 0) {
        double cur = atomic_load(&b->cost);
        while (!atomic_compare_exchange_weak(&b->cost, &cur, cur + cost))
            ;
    }
}

void agora_llm_budget_used(const agora_llm_budget *b, int64_t *calls, int64_t *tokens, double *cost)
{
    agora_llm_budget *m = (agora_llm_budget *)b; /* atomic loads take non-const pointers */
    if (calls)
        *calls = b ? (int64_t)atomic_load(&m->calls) : 0;
    if (tokens)
        *tokens = b ? (int64_t)atomic_load(&m->tokens) : 0;
    if (cost)
        *cost = b ? atomic_load(&m->cost) : 0;
}

void agora_llm_budget_limits(const agora_llm_budget *b, int64_t *max_calls, int64_t *max_tokens, double *max_cost)
{
    if (max_calls)
        *max_calls = b ? b->max_calls : 0;
    if (max_tokens)
        *max_tokens = b ? b->max_tokens : 0;
    if (max_cost)
        *max_cost = b ? b->max_cost : 0;
}
