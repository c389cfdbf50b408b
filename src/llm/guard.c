/* agora — the endpoint check, the circuit breaker, the governor and the degraded tally of a run's LLM calls. See
 * llm/guard.h. */
#include "llm/guard.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void say(const agora__guard *g, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static void say(const agora__guard *g, const char *fmt, ...)
{
    if (!g->warn)
        return;
    char msg[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    g->warn(g->warn_ud, msg);
}

void agora__guard_init(agora__guard *g, const agora__llm_conf *limits, const char *unit, const char *noun,
                       const char *after_stop)
{
    memset(g, 0, sizeof *g);
    if (limits) {
        g->max_calls = limits->max_calls;
        g->max_tokens = limits->max_tokens;
        g->max_cost = limits->max_cost;
    }
    g->budget_at = -1;
    g->unit = unit;
    g->noun = noun;
    g->after_stop = after_stop;
}

static void endpoint_free(agora__guard_endpoint *e)
{
    free(e->key);
    free(e->url);
    free(e->check_msg);
    free(e->open_reason);
}

void agora__guard_free(agora__guard *g)
{
    if (!g)
        return;
    for (int i = 0; i < g->n_ep; i++)
        endpoint_free(&g->ep[i]);
    free(g->ep);
    free(g->first_problem);
    g->ep = NULL;
    g->n_ep = 0;
    g->first_problem = NULL;
}

static char *dup(const char *s)
{
    return strdup(s ? s : "");
}

static void set_text(char **dst, const char *s)
{
    free(*dst);
    *dst = dup(s);
}

/* The server of a configuration (added on first use); NULL when out of memory. */
static agora__guard_endpoint *endpoint(agora__guard *g, const agora__llm_conf *c)
{
    char key[1200];
    snprintf(key, sizeof key, "%s %s", c->provider_name ? c->provider_name : "",
             c->llm.base_url ? c->llm.base_url : "");
    for (int i = 0; i < g->n_ep; i++)
        if (strcmp(g->ep[i].key, key) == 0)
            return &g->ep[i];
    agora__guard_endpoint *ep = realloc(g->ep, (size_t)(g->n_ep + 1) * sizeof *ep);
    if (!ep)
        return NULL;
    g->ep = ep;
    agora__guard_endpoint *e = &g->ep[g->n_ep++];
    memset(e, 0, sizeof *e);
    e->key = dup(key);
    const char *base = c->llm.base_url ? c->llm.base_url : "";
    char url[1100];
    snprintf(url, sizeof url, "%s%s", strstr(base, "://") ? "" : "http://", base);
    e->url = dup(url);
    e->open_at = -1;
    return e;
}

static void skipped(agora_llm_result *r, agora_llm_status st, const char *why)
{
    r->status = st;
    snprintf(r->error, sizeof r->error, "%.250s", why);
}

/* The limit that stops the next call, written into what (NULL: none). */
static const char *limit_reached(agora__guard *g, char *what, size_t size, double *value)
{
    if (g->max_calls > 0 && g->calls_used >= g->max_calls) {
        snprintf(what, size, "llm.max_calls = %" PRId64 " reached (%" PRId64 " calls made)", g->max_calls,
                 g->calls_used);
        *value = (double)g->max_calls;
        return "max_calls";
    }
    if (g->max_tokens > 0 && g->tokens_used >= g->max_tokens) {
        snprintf(what, size, "llm.max_tokens = %" PRId64 " reached (%" PRId64 " tokens used)", g->max_tokens,
                 g->tokens_used);
        *value = (double)g->max_tokens;
        return "max_tokens";
    }
    if (g->max_cost > 0 && g->cost_used >= g->max_cost) {
        snprintf(what, size, "llm.max_cost = %g reached (%.6g spent)", g->max_cost, g->cost_used);
        *value = g->max_cost;
        return "max_cost";
    }
    return NULL;
}

void agora__guard_admit(agora__guard *g, const agora__llm_conf *const *confs, int n, int64_t step,
                        agora_llm_result *res, int *send)
{
    for (int i = 0; i < n; i++) {
        memset(&res[i], 0, sizeof res[i]);
        res[i].prompt_tokens = res[i].completion_tokens = -1;
        send[i] = 0;
        agora__guard_endpoint *e = endpoint(g, confs[i]);
        if (!e) {
            skipped(&res[i], AGORA_LLM_CONNECT, "out of memory");
            continue;
        }
        if (!e->checked) {
            char msg[700];
            e->checked = 1;
            if (agora_llm_check_endpoint(&confs[i]->llm, msg, sizeof msg) != 0) {
                e->unreachable = e->open = 1;
                e->open_at = step;
                set_text(&e->check_msg, msg);
                set_text(&e->open_reason, msg);
                say(g,
                    "%s (checked before the first call, at %s %" PRId64 "; no call is made to it in this run, "
                    "which is recorded as degraded)",
                    msg, g->unit, step);
            } else {
                set_text(&e->check_msg, "ok");
            }
        }
        if (e->open) {
            skipped(&res[i], e->unreachable ? AGORA_LLM_UNREACHABLE : AGORA_LLM_CIRCUIT_OPEN, e->open_reason);
            continue;
        }
        char what[300];
        double value = 0;
        const char *lim = limit_reached(g, what, sizeof what, &value);
        char limbuf[48];
        if (!lim && g->sweep && agora_llm_budget_reserve(g->sweep, 1) == 0) {
            const char *r = agora_llm_budget_reached(g->sweep);
            r = r ? r : "max_calls";
            int64_t mc, mt;
            double mx;
            agora_llm_budget_limits(g->sweep, &mc, &mt, &mx);
            value = strcmp(r, "max_calls") == 0 ? (double)mc : strcmp(r, "max_tokens") == 0 ? (double)mt : mx;
            snprintf(limbuf, sizeof limbuf, "sweep.%s", r);
            snprintf(what, sizeof what, "the sweep's %s = %g reached (over all its runs)", r, value);
            lim = limbuf;
        }
        if (lim) {
            if (g->budget_at < 0) {
                snprintf(g->budget_limit, sizeof g->budget_limit, "%s", lim);
                g->budget_value = value;
                g->budget_at = step;
                say(g, "%s at %s %" PRId64 ": %s (recorded as \"budget\"; the run goes on)", what, g->unit, step,
                    g->after_stop);
            }
            skipped(&res[i], AGORA_LLM_BUDGET, what);
            continue;
        }
        send[i] = 1;
        g->calls_used++;
    }
}

/* Tokens of a call: as the server reported them, else estimated from the text (about 4 characters a token);
 * nothing for a call the server did not answer. */
static void tokens_of(const agora_llm_request *rq, const agora_llm_result *r, int64_t *pt, int64_t *ct)
{
    const int answered = r->status == AGORA_LLM_OK || r->status == AGORA_LLM_REFUSED || r->content;
    *pt = r->prompt_tokens >= 0 ? r->prompt_tokens
          : answered ? (int64_t)((strlen(rq->system ? rq->system : "") + strlen(rq->user ? rq->user : "") + 3) / 4)
                     : 0;
    *ct = r->completion_tokens >= 0 ? r->completion_tokens
          : answered                ? (int64_t)((strlen(r->content ? r->content : "") + 3) / 4)
                                    : 0;
}

static void use(agora__guard *g, const agora__llm_conf *c, const agora_llm_request *rq, const agora_llm_result *r,
                int shared)
{
    int64_t pt, ct;
    tokens_of(rq, r, &pt, &ct);
    const double cost = (double)pt * c->price_prompt / 1000 + (double)ct * c->price_completion / 1000;
    g->tokens_used += pt + ct;
    g->cost_used += cost;
    if (shared && g->sweep)
        agora_llm_budget_add(g->sweep, pt + ct, cost);
}

/* A call that did not reach the server (after the client's retries): what the breaker counts. */
static int failed_to_reach(const agora_llm_result *r)
{
    switch (r->status) {
    case AGORA_LLM_CONNECT:
    case AGORA_LLM_TIMEOUT:
        return 1;
    case AGORA_LLM_HTTP_ERROR:
    case AGORA_LLM_GAVE_UP:
        return r->http_status == 0 || r->http_status >= 500;
    default:
        return 0;
    }
}

void agora__guard_settle(agora__guard *g, const agora__llm_conf *const *confs, const agora_llm_request *rq, int n,
                         int64_t step, const agora_llm_result *res, const int *sent)
{
    for (int i = 0; i < n; i++) {
        if (!sent[i])
            continue;
        use(g, confs[i], &rq[i], &res[i], 1);
        agora__guard_endpoint *e = endpoint(g, confs[i]);
        if (!e)
            continue;
        if (!failed_to_reach(&res[i])) {
            e->fails = 0;
            continue;
        }
        if (++e->fails >= AGORA__BREAKER_CALLS && !e->open) {
            char why[700];
            snprintf(
                why, sizeof why,
                "the LLM server at %s failed %d calls in a row (the last: %s: %.300s): not asked again in this run",
                e->url, e->fails, agora_llm_status_name(res[i].status), res[i].error);
            e->open = 1;
            e->open_at = step;
            set_text(&e->open_reason, why);
            say(g, "%s from %s %" PRId64 " (the circuit breaker; the run is recorded as degraded)", why, g->unit, step);
        }
    }
}

void agora__guard_replayed(agora__guard *g, const agora__llm_conf *conf, const agora_llm_request *rq,
                           const agora_llm_result *res)
{
    if (res->status == AGORA_LLM_BUDGET || res->status == AGORA_LLM_CIRCUIT_OPEN ||
        res->status == AGORA_LLM_UNREACHABLE)
        return; /* not made when it was recorded either */
    g->calls_used++;
    use(g, conf, rq, res, 0);
}

void agora__guard_record(agora__guard *g, const char *status)
{
    const char *s = status ? status : "";
    if (strcmp(s, "ok") == 0)
        g->n_ok++;
    else if (strcmp(s, "invalid") == 0)
        g->n_invalid++;
    else if (strcmp(s, "budget") == 0 || strcmp(s, "circuit_open") == 0 || strcmp(s, "unreachable") == 0)
        g->n_skipped++;
    else
        g->n_failed++;
}

void agora__guard_outcome(agora__guard *g, int outcome, const char *why)
{
    if (outcome == AGORA__OUT_LLM) {
        g->n_answers++;
    } else if (outcome == AGORA__OUT_BUDGET) {
        g->n_budget++;
    } else {
        g->n_fallbacks++;
        if (!g->first_problem)
            g->first_problem = dup(why && why[0] ? why : "no valid answer");
    }
}

int agora__guard_degraded(const agora__guard *g)
{
    return g->n_fallbacks > 0;
}

static json_t *count_or_null(int64_t v)
{
    return v > 0 ? json_integer((json_int_t)v) : json_null();
}

static json_t *amount_or_null(double v)
{
    return v > 0 ? json_real(v) : json_null();
}

json_t *agora__guard_summary(const agora__guard *g)
{
    /* the endpoint check: the first server found missing, else "ok" when one was checked, else "not made" */
    const char *missing = NULL;
    int checked = 0;
    json_t *circuit = json_null(), *endpoints = json_array();
    const char *cause = NULL;
    for (int i = 0; i < g->n_ep; i++) {
        const agora__guard_endpoint *e = &g->ep[i];
        if (e->unreachable && !missing)
            missing = e->check_msg;
        checked |= e->checked;
        if (e->open && json_is_null(circuit))
            circuit = json_integer((json_int_t)e->open_at);
        if (e->open && !cause)
            cause = e->open_reason;
        const char *sp = strchr(e->key, ' ');
        json_array_append_new(endpoints, json_pack("{s:s, s:s%, s:s, s:o, s:o}", "url", e->url, "provider", e->key,
                                                   (size_t)(sp ? sp - e->key : 0), "check",
                                                   !e->checked      ? "not made"
                                                   : e->unreachable ? "unreachable"
                                                                    : "ok",
                                                   "circuit_open_at_step",
                                                   e->open ? json_integer((json_int_t)e->open_at) : json_null(),
                                                   "reason", e->open ? json_string(e->open_reason) : json_null()));
    }
    const char *check = missing ? missing : checked ? "ok" : "not made";
    json_t *budget = json_null();
    if (g->budget_at >= 0) {
        const int whole = strstr(g->budget_limit, "max_cost") == NULL;
        budget = json_pack("{s:s, s:o, s:I, s:I}", "limit", g->budget_limit, "value",
                           whole ? json_integer((json_int_t)g->budget_value) : json_real(g->budget_value),
                           "reached_at_step", (json_int_t)g->budget_at, "skipped", (json_int_t)g->n_budget);
    }
    json_t *sweep = json_null();
    if (g->sweep) {
        int64_t mc, mt;
        double mx;
        agora_llm_budget_limits(g->sweep, &mc, &mt, &mx);
        sweep = json_pack("{s:o, s:o, s:o}", "max_calls", count_or_null(mc), "max_tokens", count_or_null(mt),
                          "max_cost", amount_or_null(mx));
    }
    json_t *reason = json_null();
    if (agora__guard_degraded(g)) {
        char buf[1400];
        snprintf(buf, sizeof buf,
                 "%" PRId64 " of %" PRId64 " %ss that were to come from the LLM got no valid answer (%s): %s",
                 g->n_fallbacks, g->n_fallbacks + g->n_answers, g->noun,
                 strcmp(g->unit, "step") == 0 ? "the rules stood in" : "they passed or were left unanswered",
                 cause              ? cause
                 : g->first_problem ? g->first_problem
                                    : "no valid answer");
        reason = json_string(buf);
    }
    return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:o, s:{s:I, s:I, s:f}, s:{s:o, s:o, s:o, s:o}, s:o, s:b, "
                     "s:o, s:o}",
                     "calls", (json_int_t)(g->n_ok + g->n_invalid + g->n_failed), "ok", (json_int_t)g->n_ok, "invalid",
                     (json_int_t)g->n_invalid, "failed", (json_int_t)g->n_failed, "skipped", (json_int_t)g->n_skipped,
                     "fallbacks", (json_int_t)g->n_fallbacks, "endpoint_check", check, "circuit_open_at_step", circuit,
                     "used", "calls", (json_int_t)g->calls_used, "tokens", (json_int_t)g->tokens_used, "cost",
                     g->cost_used, "limits", "max_calls", count_or_null(g->max_calls), "max_tokens",
                     count_or_null(g->max_tokens), "max_cost", amount_or_null(g->max_cost), "sweep", sweep, "budget",
                     budget, "degraded", agora__guard_degraded(g), "degraded_reason", reason, "endpoints", endpoints);
}

/* ---- saving and loading ------------------------------------------------------------------------------------------ */

static json_t *bits(double x)
{
    uint64_t u;
    memcpy(&u, &x, sizeof u);
    char hex[24];
    snprintf(hex, sizeof hex, "%016" PRIx64, u);
    return json_string(hex);
}

static int from_bits(const json_t *v, double *x)
{
    const char *s = json_string_value(v);
    char *end = NULL;
    if (!s || strlen(s) != 16)
        return -1;
    uint64_t u = strtoull(s, &end, 16);
    if (*end)
        return -1;
    memcpy(x, &u, sizeof u);
    return 0;
}

static json_t *text_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

json_t *agora__guard_save(const agora__guard *g)
{
    json_t *eps = json_array();
    for (int i = 0; i < g->n_ep; i++) {
        const agora__guard_endpoint *e = &g->ep[i];
        json_array_append_new(eps, json_pack("{s:s, s:s, s:b, s:b, s:o, s:i, s:b, s:I, s:o}", "key", e->key, "url",
                                             e->url, "checked", e->checked, "unreachable", e->unreachable, "check_msg",
                                             text_or_null(e->check_msg), "fails", e->fails, "open", e->open, "open_at",
                                             (json_int_t)e->open_at, "open_reason", text_or_null(e->open_reason)));
    }
    return json_pack("{s:I, s:I, s:o, s:s, s:o, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:o}", "calls_used",
                     (json_int_t)g->calls_used, "tokens_used", (json_int_t)g->tokens_used, "cost_used",
                     bits(g->cost_used), "budget_limit", g->budget_limit, "budget_value", bits(g->budget_value),
                     "budget_at", (json_int_t)g->budget_at, "ok", (json_int_t)g->n_ok, "invalid",
                     (json_int_t)g->n_invalid, "failed", (json_int_t)g->n_failed, "skipped", (json_int_t)g->n_skipped,
                     "answers", (json_int_t)g->n_answers, "fallbacks", (json_int_t)g->n_fallbacks, "budget_outcomes",
                     (json_int_t)g->n_budget, "first_problem", text_or_null(g->first_problem), "endpoints", eps);
}

static int bad(agora_error *err, const char *what)
{
    return agora_error_set(err, AGORA_EINVAL, "state.llm", "the saved LLM state is not one agora wrote: %s", what);
}

static int get_int(const json_t *o, const char *key, int64_t *out)
{
    const json_t *v = json_object_get(o, key);
    if (!json_is_integer(v))
        return -1;
    *out = (int64_t)json_integer_value(v);
    return 0;
}

int agora__guard_load(agora__guard *g, const json_t *st, agora_error *err)
{
    if (!json_is_object(st))
        return bad(err, "expected an object");
    agora__guard t = *g; /* limits, hooks and the sweep stay this run's */
    t.ep = NULL;
    t.n_ep = 0;
    t.first_problem = NULL;
    const char *lim = json_string_value(json_object_get(st, "budget_limit"));
    if (get_int(st, "calls_used", &t.calls_used) || get_int(st, "tokens_used", &t.tokens_used) ||
        from_bits(json_object_get(st, "cost_used"), &t.cost_used) ||
        from_bits(json_object_get(st, "budget_value"), &t.budget_value) || get_int(st, "budget_at", &t.budget_at) ||
        get_int(st, "ok", &t.n_ok) || get_int(st, "invalid", &t.n_invalid) || get_int(st, "failed", &t.n_failed) ||
        get_int(st, "skipped", &t.n_skipped) || get_int(st, "answers", &t.n_answers) ||
        get_int(st, "fallbacks", &t.n_fallbacks) || get_int(st, "budget_outcomes", &t.n_budget) || !lim ||
        strlen(lim) >= sizeof t.budget_limit || !json_is_array(json_object_get(st, "endpoints")))
        return bad(err, "a counter is missing or of the wrong type");
    snprintf(t.budget_limit, sizeof t.budget_limit, "%s", lim);
    const json_t *fp = json_object_get(st, "first_problem");
    size_t i;
    json_t *e;
    int rc = 0;
    json_array_foreach(json_object_get(st, "endpoints"), i, e) {
        const char *key = json_string_value(json_object_get(e, "key")),
                   *url = json_string_value(json_object_get(e, "url"));
        int64_t fails, open_at;
        if (!key || !url || get_int(e, "fails", &fails) || get_int(e, "open_at", &open_at) ||
            !json_is_boolean(json_object_get(e, "checked")) || !json_is_boolean(json_object_get(e, "open")) ||
            !json_is_boolean(json_object_get(e, "unreachable"))) {
            rc = bad(err, "an endpoint is incomplete");
            break;
        }
        agora__guard_endpoint *ep = realloc(t.ep, (size_t)(t.n_ep + 1) * sizeof *ep);
        if (!ep) {
            rc = agora_error_set(err, AGORA_ENOMEM, "state.llm", "out of memory");
            break;
        }
        t.ep = ep;
        agora__guard_endpoint *x = &t.ep[t.n_ep++];
        memset(x, 0, sizeof *x);
        x->key = dup(key);
        x->url = dup(url);
        x->checked = json_is_true(json_object_get(e, "checked"));
        x->unreachable = json_is_true(json_object_get(e, "unreachable"));
        x->open = json_is_true(json_object_get(e, "open"));
        x->fails = (int)fails;
        x->open_at = open_at;
        const char *cm = json_string_value(json_object_get(e, "check_msg")),
                   *orr = json_string_value(json_object_get(e, "open_reason"));
        x->check_msg = cm ? dup(cm) : NULL;
        x->open_reason = orr ? dup(orr) : NULL;
    }
    if (rc) {
        agora__guard_free(&t);
        return rc;
    }
    t.first_problem = json_is_string(fp) ? dup(json_string_value(fp)) : NULL;
    agora__guard_free(g);
    *g = t;
    return 0;
}
