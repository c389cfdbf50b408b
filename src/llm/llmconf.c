/* agora — the `llm:` block, replay from a recorded run, and configuration checkers shared by the persona runtime
 * and the interactions engine. See llmconf.h. */
#include "llm/llmconf.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- configuration checkers -------------------------------------------------------------------------------------- */

int agora__cfg_bad(agora_error *err, const char *where, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return agora_error_set(err, AGORA_ESCHEMA, where, "%s", msg);
}

int agora__cfg_keys(const json_t *o, const char *const *allowed, const char *where, agora_error *err)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)o, k, v) {
        int ok = 0;
        for (int i = 0; allowed[i] && !ok; i++)
            ok = strcmp(allowed[i], k) == 0;
        if (!ok) {
            char w[256];
            snprintf(w, sizeof w, "%s%s%s", where, where[0] ? "." : "", k);
            return agora__cfg_bad(err, w, "unknown key");
        }
    }
    return 0;
}

int agora__cfg_number(const json_t *o, const char *key, double lo, double hi, double dflt, double *out,
                      const char *where, agora_error *err)
{
    const json_t *v = json_object_get(o, key);
    *out = dflt;
    if (!v)
        return 0;
    char w[256];
    snprintf(w, sizeof w, "%s.%s", where, key);
    if (!json_is_number(v) || json_number_value(v) < lo || json_number_value(v) > hi)
        return agora__cfg_bad(err, w, "expected a number in [%g, %g]", lo, hi);
    *out = json_number_value(v);
    return 0;
}

char *agora__cfg_dup(const json_t *v, const char *dflt)
{
    const char *s = json_is_string(v) ? json_string_value(v) : dflt;
    return s ? strdup(s) : NULL;
}

/* ---- the llm block ----------------------------------------------------------------------------------------------- */

/* The run's limits: max_calls and max_tokens whole numbers >= 1, max_cost > 0; absent: no limit (0 here). */
static int parse_limits(agora__llm_conf *c, const json_t *llm, const char *where, agora_error *err)
{
    char w[256];
    static const char *const counts[] = {"max_calls", "max_tokens"};
    for (int i = 0; i < 2; i++) {
        const json_t *v = json_object_get(llm, counts[i]);
        snprintf(w, sizeof w, "%s.%s", where, counts[i]);
        if (!v)
            continue;
        const double x = json_number_value(v);
        if (!json_is_number(v) || x < 1 || x > 9e15 || x != (double)(int64_t)x)
            return agora__cfg_bad(err, w,
                                  i == 0 ? "expected a whole number of calls >= 1: the most LLM calls of the whole run "
                                           "(leave it out for no limit; --llm offline makes none)"
                                         : "expected a whole number >= 1: the most tokens (prompt + completion) of "
                                           "the whole run's LLM calls together, not the length of one reply");
        *(i == 0 ? &c->max_calls : &c->max_tokens) = (int64_t)x;
    }
    const json_t *v = json_object_get(llm, "max_cost");
    snprintf(w, sizeof w, "%s.max_cost", where);
    if (v && (!json_is_number(v) || !(json_number_value(v) > 0) || json_number_value(v) > 1e12))
        return agora__cfg_bad(err, w,
                              "expected an amount > 0: the most the whole run's LLM calls may cost, in the currency "
                              "of cost_per_1k_prompt and cost_per_1k_completion");
    c->max_cost = v ? json_number_value(v) : 0;
    return 0;
}

static int parse_object(agora__llm_conf *c, const json_t *llm, const char *where, agora_error *err)
{
    static const char *const keys[] = {"provider",
                                       "model",
                                       "base_url",
                                       "api_key_env",
                                       "timeout_s",
                                       "max_retries",
                                       "max_concurrency",
                                       "temperature",
                                       "seed",
                                       "max_prompt_tokens",
                                       "keep_threads_warm",
                                       "path",
                                       "cost_per_1k_prompt",
                                       "cost_per_1k_completion",
                                       "max_calls",
                                       "max_tokens",
                                       "max_cost",
                                       NULL};
    int rc = agora__cfg_keys(llm, keys, where, err);
    if (rc)
        return rc;
    char w[256];
    static const char *const texts[] = {"base_url", "api_key_env", NULL};
    for (int i = 0; texts[i]; i++) {
        const json_t *t = json_object_get(llm, texts[i]);
        snprintf(w, sizeof w, "%s.%s", where, texts[i]);
        if (t && (!json_is_string(t) || !json_string_value(t)[0]))
            return agora__cfg_bad(err, w,
                                  i == 0 ? "expected a URL such as \"http://127.0.0.1:11434\""
                                         : "expected the name of an environment variable such as OPENAI_API_KEY");
    }
    if ((rc = agora__cfg_number(llm, "cost_per_1k_prompt", 0, 1e6, 0, &c->price_prompt, where, err)) ||
        (rc = agora__cfg_number(llm, "cost_per_1k_completion", 0, 1e6, 0, &c->price_completion, where, err)) ||
        (rc = parse_limits(c, llm, where, err)))
        return rc;
    const char *prov = json_string_value(json_object_get(llm, "provider"));
    snprintf(w, sizeof w, "%s.provider", where);
    if (!prov || (strcmp(prov, "offline") != 0 && strcmp(prov, "replay") != 0 && !agora_llm_provider_from_name(prov)))
        return agora__cfg_bad(err, w, "expected one of \"ollama\", \"openai\", \"replay\", \"offline\"");
    c->provider_name = strdup(prov);
    if (strcmp(prov, "offline") == 0) {
        c->offline = 1;
        return 0;
    }
    if (strcmp(prov, "replay") == 0) {
        /* every call answered from a recorded run: like --replay RUN.h5, with the run named in the scenario */
        const json_t *path = json_object_get(llm, "path");
        snprintf(w, sizeof w, "%s.path", where);
        if (!json_is_string(path) || !json_string_value(path)[0])
            return agora__cfg_bad(err, w, "required with provider replay: the recorded run file (.h5)");
        c->replay_path = strdup(json_string_value(path));
        c->offline = 1; /* no live LLM behind the recording */
        return 0;
    }
    c->llm.provider = agora_llm_provider_from_name(prov);
    const json_t *model = json_object_get(llm, "model");
    snprintf(w, sizeof w, "%s.model", where);
    if (!json_is_string(model) || !json_string_value(model)[0])
        return agora__cfg_bad(err, w, "required: the model name, e.g. llama3.2");
    c->model = strdup(json_string_value(model));
    /* base URL: the scenario's, else the environment's (OLLAMA_HOST, OPENAI_BASE_URL), else the usual default */
    const char *env_url = getenv(c->llm.provider == AGORA_LLM_OLLAMA ? "OLLAMA_HOST" : "OPENAI_BASE_URL");
    c->base_url = agora__cfg_dup(json_object_get(llm, "base_url"), env_url && env_url[0] ? env_url
                                                                   : c->llm.provider == AGORA_LLM_OLLAMA
                                                                       ? "http://127.0.0.1:11434"
                                                                       : "https://api.openai.com");
    c->api_key_env = agora__cfg_dup(json_object_get(llm, "api_key_env"), NULL); /* NULL: AGORA_API_KEY, ... */
    double v;
    if ((rc = agora__cfg_number(llm, "timeout_s", 0.01, 3600, 60, &c->llm.timeout_s, where, err)) ||
        (rc = agora__cfg_number(llm, "max_retries", 0, 20, 3, &v, where, err)))
        return rc;
    c->llm.max_retries = (int)v;
    if ((rc = agora__cfg_number(llm, "max_concurrency", 1, 256, 8, &v, where, err)))
        return rc;
    c->llm.max_concurrency = (int)v;
    if ((rc = agora__cfg_number(llm, "temperature", 0, 2, 0.7, &c->llm.temperature, where, err)) ||
        (rc = agora__cfg_number(llm, "seed", -1, 9.2e18, -1, &v, where, err)))
        return rc;
    c->llm.seed = (int64_t)v;
    if ((rc = agora__cfg_number(llm, "max_prompt_tokens", 200, 1e6, 3000, &v, where, err)))
        return rc;
    c->max_prompt_tokens = (int64_t)v;
    const json_t *warm = json_object_get(llm, "keep_threads_warm");
    snprintf(w, sizeof w, "%s.keep_threads_warm", where);
    if (warm && !json_is_boolean(warm))
        return agora__cfg_bad(err, w, "expected true or false");
    c->keep_warm = json_is_true(warm);
    c->llm.model = c->model;
    c->llm.base_url = c->base_url;
    c->llm.api_key_env = c->api_key_env;
    return 0;
}

int agora__llm_conf_parse(const json_t *llm_in, const char *where, agora__llm_conf *c, agora_error *err)
{
    memset(c, 0, sizeof *c);
    agora_llm_config_defaults(&c->llm);
    c->max_prompt_tokens = 3000;
    if (!llm_in || json_is_null(llm_in)) {
        c->offline = 1;
        return 0;
    }
    if (!json_is_object(llm_in))
        return agora__cfg_bad(err, where, "expected an object {provider, model, base_url, ...}");
    /* null values mean "the default" (as `--set llm.base_url=` leaves them); strings must be strings */
    json_t *llm = json_object();
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)llm_in, k, v) {
        if (!json_is_null(v))
            json_object_set(llm, k, v);
    }
    int rc = parse_object(c, llm, where, err);
    json_decref(llm);
    return rc;
}

void agora__llm_conf_free(agora__llm_conf *c)
{
    if (!c)
        return;
    free(c->provider_name);
    free(c->model);
    free(c->base_url);
    free(c->api_key_env);
    free(c->replay_path);
    memset(c, 0, sizeof *c);
}

json_t *agora__llm_conf_merge(const json_t *base, const json_t *over)
{
    json_t *m = json_is_object(base) ? json_deep_copy(base) : json_object();
    if (!json_is_object(over))
        return m;
    const char *bp = json_string_value(json_object_get(m, "provider"));
    const char *op = json_string_value(json_object_get(over, "provider"));
    if (bp && op && strcmp(bp, op) != 0) { /* another server: the base's model and address do not carry over */
        json_object_del(m, "model");
        json_object_del(m, "base_url");
    }
    json_object_update(m, (json_t *)over);
    return m;
}

/* ---- recording and replay ---------------------------------------------------------------------------------------- */

char *agora__llm_prompt_text(const agora_llm_request *rq)
{
    const char *s = rq->system ? rq->system : "", *u = rq->user ? rq->user : "";
    size_t n = strlen(s) + strlen(u) + 32;
    char *t = malloc(n);
    if (t)
        snprintf(t, n, "[system]\n%s\n[user]\n%s", s, u);
    return t;
}

json_t *agora__llm_replay_index(const json_t *calls)
{
    if (!json_is_array(calls))
        return NULL;
    json_t *index = json_object();
    size_t i;
    json_t *row;
    json_array_foreach((json_t *)calls, i, row) {
        char key[300];
        snprintf(key, sizeof key, "%lld/%s/%lld", (long long)json_integer_value(json_object_get(row, "step")),
                 json_string_value(json_object_get(row, "persona")),
                 (long long)json_integer_value(json_object_get(row, "attempt")));
        json_object_set(index, key, row);
    }
    return index;
}

int agora__llm_replay_answer(const json_t *index, const char *kind, int64_t step, const char *who, int attempt,
                             const agora_llm_request *rq, int lenient, agora_llm_result *r, agora_error *err)
{
    char key[300];
    snprintf(key, sizeof key, "%lld/%s/%d", (long long)step, who, attempt);
    const json_t *row = json_object_get(index, key);
    memset(r, 0, sizeof *r);
    r->prompt_tokens = r->completion_tokens = -1;
    if (!row) {
        if (!lenient)
            return agora_error_set(err, AGORA_EINVAL, "--replay",
                                   "step %lld, %s %s: the recording has no call %s here (was it made with another "
                                   "scenario?)",
                                   (long long)step, kind, who, attempt == 1 ? "for a decision" : "for a repair");
        r->status = AGORA_LLM_CONNECT;
        snprintf(r->error, sizeof r->error, "no recorded reply to replay");
        return 0;
    }
    char *prompt = agora__llm_prompt_text(rq);
    const char *recorded = json_string_value(json_object_get(row, "prompt"));
    int same = prompt && recorded && strcmp(prompt, recorded) == 0;
    free(prompt);
    if (!same && !lenient)
        return agora_error_set(err, AGORA_EINVAL, "--replay",
                               "step %lld, %s %s: the prompt differs from the recording (the scenario, the persona or "
                               "the history changed); --replay-lenient answers anyway",
                               (long long)step, kind, who);
    const char *status = json_string_value(json_object_get(row, "status"));
    r->status = agora_llm_status_from_name(status);
    r->http_status = (int)json_integer_value(json_object_get(row, "http_status"));
    r->attempts = (int)json_integer_value(json_object_get(row, "http_attempts"));
    r->latency_s = json_number_value(json_object_get(row, "latency_ms")) / 1e3;
    r->replayed = 1;
    const json_t *lat = json_object_get(row, "latency_ms");
    r->recorded_latency_ms = json_is_number(lat) ? json_number_value(lat) : NAN; /* null: it was not finite */
    r->prompt_tokens = json_integer_value(json_object_get(row, "prompt_tokens"));
    r->completion_tokens = json_integer_value(json_object_get(row, "completion_tokens"));
    const char *reply = json_string_value(json_object_get(row, "reply"));
    if (r->status == AGORA_LLM_OK)
        r->content = strdup(reply ? reply : "");
    else
        snprintf(r->error, sizeof r->error, "%s", json_string_value(json_object_get(row, "error")));
    return 0;
}
