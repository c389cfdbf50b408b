/* agora — the LLM ask service: batch, recording or guard, validation, one repair, the call records (see ask.h). */
#include <omp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agora/schema.h"
#include "core/internal.h"
#include "llm/ask.h"

json_t *agora__ask_parse(const char *text, const json_t *schema, char *why, size_t size)
{
    json_error_t je;
    json_t *r = text ? json_loads(text, JSON_REJECT_DUPLICATES, &je) : NULL;
    if (!r && text) {
        const char *a = strchr(text, '{'), *b = strrchr(text, '}');
        if (a && b && b > a)
            r = json_loadb(a, (size_t)(b - a + 1), JSON_REJECT_DUPLICATES, &je);
    }
    if (!r) {
        snprintf(why, size, "the reply is not one JSON object: %s", text ? je.text : "no text");
        /* jansson's text quotes the token it stopped in, perhaps half a character; the repair prompt is JSON */
        agora__utf8_clean(why);
        return NULL;
    }
    agora_error e;
    if (schema && agora_schema_validate(schema, r, "reply", &e) != 0) {
        char buf[600];
        snprintf(why, size, "%s", agora_error_format(&e, buf, sizeof buf));
        agora__utf8_trim(why);
        json_decref(r);
        return NULL;
    }
    return r;
}

char *agora__ask_repair_prompt(const char *user, const char *why, const char *reply)
{
    reply = reply ? reply : "";
    size_t k = strlen(reply);
    const int cut = k > 2000;
    if (cut) { /* on a character boundary */
        k = 2000;
        while (k > 0 && ((unsigned char)reply[k] & 0xC0) == 0x80)
            k--;
    }
    agora__buf b = {0};
    agora__buf_add(&b,
                   "%s\n\nYour previous reply could not be used: %s\nYour previous reply was:\n%.*s%s\n\nAnswer "
                   "again with one JSON object that follows the required format exactly.",
                   user ? user : "", why, (int)k, reply, cut ? "..." : "");
    return b.s;
}

void agora__ask_clear(agora__ask *q)
{
    json_decref(q->reply);
    q->reply = NULL;
    q->source[0] = '\0';
    q->why[0] = '\0';
    q->status = AGORA_LLM_OK;
    q->attempts = 0;
    q->latency_ms = 0;
    q->prompt_tokens = q->completion_tokens = 0;
}

/* The live batch, with the other OpenMP threads spinning while it is out when the configuration says
 * keep_threads_warm: on machines (VMs) where idle cores come back slowly, the kernel's first steps after a round
 * then run at full speed (bench/README.md), at the price of busy cores while the LLM answers. */
static int call_live(const agora__asker *a, int warm, const agora_llm_config *const *cfgs, const agora_llm_request *rq,
                     int n, agora_llm_result *res, agora_error *err)
{
    if (!warm || a->warm_threads < 2)
        return agora_llm_call_batch_each(cfgs, rq, n, res, err);
    atomic_int done = 0;
    int rc = 0;
#pragma omp parallel num_threads(a->warm_threads)
    {
        if (omp_get_thread_num() == 0) {
            rc = agora_llm_call_batch_each(cfgs, rq, n, res, err);
            atomic_store_explicit(&done, 1, memory_order_release);
        } else {
            while (!atomic_load_explicit(&done, memory_order_acquire)) {
#if defined(__x86_64__) || defined(__i386__)
                __builtin_ia32_pause();
#endif
            }
        }
    }
    return rc;
}

/* Whether the recording answers this ask. */
static int from_recording(const agora__asker *a, int64_t step, const agora__ask *q, int attempt)
{
    if (!a->replay)
        return 0;
    if (!a->replay_partial)
        return step <= a->replay_until;
    char key[300];
    snprintf(key, sizeof key, "%lld/%s/%d", (long long)step, q->who, attempt);
    return json_object_get(a->replay, key) != NULL;
}

/* One attempt of the asks in `idx`: from the recording, failed for want of an LLM, or through the guard, live. */
static int send(agora__asker *a, int64_t step, agora__ask *qs, const int *idx, int n, int attempt,
                const agora_llm_request *rq, agora_llm_result *res, agora_error *err)
{
    const agora_llm_config **cfgs = calloc((size_t)n + 1, sizeof *cfgs);
    const agora__llm_conf **confs = calloc((size_t)n + 1, sizeof *confs);
    int *live = calloc((size_t)n + 1, sizeof *live), n_live = 0;
    int *sent = calloc((size_t)n + 1, sizeof *sent), *admitted = calloc((size_t)n + 1, sizeof *admitted);
    agora_llm_request *lrq = calloc((size_t)n + 1, sizeof *lrq), *arq = calloc((size_t)n + 1, sizeof *arq);
    agora_llm_result *lres = calloc((size_t)n + 1, sizeof *lres), *ares = calloc((size_t)n + 1, sizeof *ares);
    int rc = 0, warm = 1;
    if (!cfgs || !confs || !live || !sent || !admitted || !lrq || !arq || !lres || !ares) {
        rc = agora_error_set(err, AGORA_ENOMEM, "llm", "out of memory");
        goto done;
    }
    for (int k = 0; k < n; k++) {
        agora__ask *q = &qs[idx[k]];
        memset(&res[k], 0, sizeof res[k]);
        res[k].prompt_tokens = res[k].completion_tokens = -1;
        if (from_recording(a, step, q, attempt)) {
            if ((rc = agora__llm_replay_answer(a->replay, a->replay_kind, step, q->who, attempt, &rq[k],
                                               a->replay_partial ? 0 : a->replay_lenient, &res[k], err))) {
                for (int j = 0; j < k; j++) /* the replies already answered: the caller sees none of them */
                    agora_llm_result_free(&res[j]);
                goto done;
            }
            if (a->guard)
                agora__guard_replayed(a->guard, q->conf, &rq[k], &res[k]);
        } else if (q->conf->offline) {
            res[k].status = AGORA_LLM_CONNECT;
            snprintf(res[k].error, sizeof res[k].error, "no LLM configured (provider %s)",
                     q->conf->provider_name ? q->conf->provider_name : "offline");
        } else {
            confs[n_live] = q->conf;
            lrq[n_live] = rq[k];
            live[n_live++] = k;
            warm &= q->conf->keep_warm;
        }
    }
    if (n_live > 0) {
        /* the guard decides which go out: the others get their status (unreachable, circuit_open, budget) */
        if (a->guard)
            agora__guard_admit(a->guard, confs, n_live, step, lres, sent);
        else
            for (int j = 0; j < n_live; j++)
                sent[j] = 1;
        int m = 0;
        for (int j = 0; j < n_live; j++)
            if (sent[j]) {
                cfgs[m] = &confs[j]->llm;
                arq[m] = lrq[j];
                admitted[m++] = j;
            }
        if (m > 0 && (rc = call_live(a, warm, cfgs, arq, m, ares, err))) {
            for (int j = 0; j < n_live; j++) /* what the guard answered itself */
                if (!sent[j])
                    agora_llm_result_free(&lres[j]);
            for (int k = 0; k < n; k++)
                agora_llm_result_free(&res[k]);
            goto done;
        }
        for (int j = 0; j < m; j++)
            lres[admitted[j]] = ares[j];
        if (a->guard)
            agora__guard_settle(a->guard, confs, lrq, n_live, step, lres, sent);
        for (int j = 0; j < n_live; j++)
            res[live[j]] = lres[j];
    }
done:
    free(cfgs);
    free(confs);
    free(live);
    free(sent);
    free(admitted);
    free(lrq);
    free(arq);
    free(lres);
    free(ares);
    return rc;
}

static void record(agora__asker *a, int64_t step, agora__ask *q, int attempt, const agora_llm_request *rq,
                   const agora_llm_result *res, const char *status, const char *error)
{
    if (a->guard)
        agora__guard_record(a->guard, status);
    const double lat = AGORA_LLM_LATENCY_MS(res);
    q->attempts = attempt;
    q->latency_ms += lat;
    q->prompt_tokens += res->prompt_tokens > 0 ? res->prompt_tokens : 0;
    q->completion_tokens += res->completion_tokens > 0 ? res->completion_tokens : 0;
    if (!a->on_call)
        return;
    char *prompt = agora__llm_prompt_text(rq);
    agora_persona_call c = {.step = step,
                            .persona = q->who,
                            .attempt = attempt,
                            .provider = q->conf->provider_name ? q->conf->provider_name
                                                               : a->unnamed_provider ? a->unnamed_provider : "",
                            .model = q->conf->model ? q->conf->model : "",
                            .latency_ms = lat,
                            .prompt_tokens = res->prompt_tokens,
                            .completion_tokens = res->completion_tokens,
                            .http_status = res->http_status,
                            .http_attempts = res->attempts,
                            .status = status,
                            .error = error ? error : "",
                            .prompt = prompt ? prompt : "",
                            .reply = res->content ? res->content : ""};
    a->on_call(a->ud, q, &c);
    free(prompt);
}

int agora__ask_all(agora__asker *a, int64_t step, agora__ask *qs, int n, agora_error *err)
{
    int *idx = calloc((size_t)n + 1, sizeof *idx), m = 0;
    agora_llm_request *rq = calloc((size_t)n + 1, sizeof *rq);
    agora_llm_result *res = calloc((size_t)n + 1, sizeof *res);
    char **repair = calloc((size_t)n + 1, sizeof *repair), **tags = calloc((size_t)n + 1, sizeof *tags);
    int rc = 0;
    if (!idx || !rq || !res || !repair || !tags) {
        rc = agora_error_set(err, AGORA_ENOMEM, "llm", "out of memory");
        goto done;
    }
    for (int i = 0; i < n; i++) {
        idx[m++] = i;
        agora__ask_clear(&qs[i]);
        snprintf(qs[i].source, sizeof qs[i].source, "failed");
    }
    for (int attempt = 1; attempt <= 2 && m > 0; attempt++) {
        for (int k = 0; k < m; k++) {
            agora__ask *q = &qs[idx[k]];
            const char *tag = q->tag;
            if (attempt == 2 && q->tag) {
                agora__buf t = {0};
                agora__buf_add(&t, "%s/repair", q->tag);
                free(tags[idx[k]]);
                tag = tags[idx[k]] = t.s;
            }
            rq[k] = (agora_llm_request){.system = q->system,
                                        .user = attempt == 1 ? q->user : repair[idx[k]],
                                        .schema = q->schema,
                                        .schema_name = q->schema_name,
                                        .tag = tag};
        }
        if ((rc = send(a, step, qs, idx, m, attempt, rq, res, err)))
            goto done;
        int next = 0;
        for (int k = 0; k < m; k++) {
            agora__ask *q = &qs[idx[k]];
            char why[700] = "";
            q->status = res[k].status;
            if (res[k].used_json_object)
                q->conf->llm.json_object_only = 1; /* remembered for the rest of the run */
            if (res[k].status != AGORA_LLM_OK) {
                const agora_llm_status st = res[k].status;
                snprintf(q->source, sizeof q->source, "%s", st == AGORA_LLM_BUDGET ? "budget" : "failed");
                snprintf(q->why, sizeof q->why, "%s", res[k].error);
                record(a, step, q, attempt, &rq[k], &res[k], agora_llm_status_name(st), res[k].error);
            } else if ((q->reply = agora__ask_parse(res[k].content, q->schema, why, sizeof why))) {
                snprintf(q->source, sizeof q->source, "llm");
                q->why[0] = '\0';
                record(a, step, q, attempt, &rq[k], &res[k], "ok", NULL);
            } else {
                snprintf(q->source, sizeof q->source, "invalid");
                snprintf(q->why, sizeof q->why, "%s", why);
                record(a, step, q, attempt, &rq[k], &res[k], "invalid", why);
                if (attempt == 1) {
                    free(repair[idx[k]]);
                    repair[idx[k]] = agora__ask_repair_prompt(q->user, why, res[k].content);
                    idx[next++] = idx[k];
                }
            }
            agora_llm_result_free(&res[k]);
        }
        m = next;
    }
done:
    for (int i = 0; i < n; i++) {
        if (repair)
            free(repair[i]);
        if (tags)
            free(tags[i]);
    }
    free(repair);
    free(tags);
    free(idx);
    free(rq);
    free(res);
    return rc;
}
