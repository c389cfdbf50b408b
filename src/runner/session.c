/* agora — the session engine (agora/session.h): a world, its schedule (interventions, persona rounds), its recorder
 * (run file, memory, none), its summary and action log, and the one step loop every front drives: agora_run and
 * so the sweeps, the MCP live worlds and simulate tools.
 *
 * A session keeps a reference to the scenario's configuration (so pointers into it, the interventions' actions
 * and the personas' blocks, stay valid after the caller destroys the scenario) and copies what it needs of the
 * rest (the scenario's text and path go into the run file when it opens).
 *
 * Nothing here depends on the model: it only sees agora_world and the specs the model declares. */
#define _XOPEN_SOURCE 700
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agora/agora.h"
#include "agora/persona.h"
#include "agora/session.h"
#include "core/internal.h"
#include "interact/ixrun.h"
#include "runner/check.h"
#include "runner/sessionint.h"

typedef struct intervention {
    int64_t at;
    size_t order; /* position in the file, to keep file order among equal `at` */
    const json_t *action;
    const char *source;
} intervention;

static int cmp_intervention(const void *a, const void *b)
{
    const intervention *x = a, *y = b;
    if (x->at != y->at)
        return x->at < y->at ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* Peak and final value of every metric, for the summary. NaN values (a metric undefined at that step, e.g. a mean
 * price on a day without trades) are skipped by the peak; a peak never set stays NaN with peak_step -1. */
typedef struct tracker {
    int n;
    double *peak, *final;
    int64_t *peak_step;
} tracker;

typedef struct persona_ctx {
    agora_session *s;
    int failed;
    agora_error err;
} persona_ctx;

struct agora_session {
    json_t *cfg; /* a reference of our own */
    const agora_model *model;
    agora_run_options opt;
    agora_session_recorder recorder;
    agora_world *w;
    int nm;
    double *m; /* the current metrics */
    tracker tr;
    /* schedule */
    intervention *ivs;
    size_t n_iv, next_iv;
    agora_personas *ps;
    agora_writer_persona *wps;
    persona_ctx pctx;
    agora_persona_hooks hooks;
    /* file recorder */
    agora_writer *wr;
    char path[4096], ckpt[4200], config_hash[65];
    agora_field_spec *fields;
    int *field_index;
    const void **field_data;
    int n_fields;
    int64_t snap_every, flush_every, ckpt_every;
    /* memory recorder */
    double *hist;
    int64_t hist_len, hist_cap;
    /* the action log */
    json_t *events;
    int64_t n_events, max_events;
    /* time and control */
    int64_t t0, end;  /* end < 0: unbounded */
    int64_t steps_done; /* the last step whose phase is done */
    json_t *resume; /* the checkpoint resumed from, until the session begins */
    int begun;
    volatile sig_atomic_t pause;
    int stop_req, world_failed;
    /* an interactions run (no world): the rounds are its steps */
    agora_interact *ix;
    agora_interact_options ixopt;
    agora_interact_result ixres;
    int ix_interrupted;
    double t_start, t_loop, loop_s, step_s, elapsed_before, last_progress;
};

/* ---- the summary --------------------------------------------------------------------------------------------- */

static void track(tracker *tr, int64_t t, const double *m)
{
    for (int i = 0; i < tr->n; i++) {
        if (t == 0) {
            tr->peak[i] = NAN;
            tr->peak_step[i] = -1;
        }
        if (!isnan(m[i]) && (isnan(tr->peak[i]) || m[i] > tr->peak[i])) {
            tr->peak[i] = m[i];
            tr->peak_step[i] = t;
        }
        tr->final[i] = m[i];
    }
}

static int tracker_alloc(tracker *tr, int n)
{
    tr->n = n;
    tr->peak = calloc((size_t)n + 1, sizeof *tr->peak);
    tr->final = calloc((size_t)n + 1, sizeof *tr->final);
    tr->peak_step = calloc((size_t)n + 1, sizeof *tr->peak_step);
    return tr->peak && tr->final && tr->peak_step ? 0 : -1;
}

static void tracker_free(tracker *tr)
{
    free(tr->peak);
    free(tr->final);
    free(tr->peak_step);
}

static int tracker_copy(tracker *to, const tracker *from)
{
    if (tracker_alloc(to, from->n))
        return -1;
    memcpy(to->peak, from->peak, (size_t)from->n * sizeof *to->peak);
    memcpy(to->final, from->final, (size_t)from->n * sizeof *to->final);
    memcpy(to->peak_step, from->peak_step, (size_t)from->n * sizeof *to->peak_step);
    return 0;
}

/* Doubles as their bits in hex, so that a checkpoint keeps them exactly (NaN included). */
static json_t *bits_json(const double *x, int n)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++) {
        uint64_t b;
        memcpy(&b, &x[i], sizeof b);
        char hex[24];
        snprintf(hex, sizeof hex, "%016llx", (unsigned long long)b);
        json_array_append_new(a, json_string(hex));
    }
    return a;
}

static int json_bits(const json_t *a, double *x, int n)
{
    if (json_array_size(a) != (size_t)n)
        return -1;
    for (int i = 0; i < n; i++) {
        const char *hex = json_string_value(json_array_get(a, (size_t)i));
        if (!hex)
            return -1;
        uint64_t b = strtoull(hex, NULL, 16);
        memcpy(&x[i], &b, sizeof b);
    }
    return 0;
}

static json_t *tracker_json(const tracker *tr)
{
    json_t *steps = json_array();
    for (int i = 0; i < tr->n; i++)
        json_array_append_new(steps, json_integer(tr->peak_step[i]));
    return json_pack("{s:o, s:o, s:o}", "peak", bits_json(tr->peak, tr->n), "final", bits_json(tr->final, tr->n),
                     "peak_step", steps);
}

static int tracker_load(tracker *tr, const json_t *j)
{
    const json_t *steps = json_object_get(j, "peak_step");
    if (json_bits(json_object_get(j, "peak"), tr->peak, tr->n) || json_bits(json_object_get(j, "final"), tr->final, tr->n) ||
        json_array_size(steps) != (size_t)tr->n)
        return -1;
    for (int i = 0; i < tr->n; i++)
        tr->peak_step[i] = json_integer_value(json_array_get(steps, (size_t)i));
    return 0;
}

static json_t *real_or_null(double x)
{
    return isfinite(x) ? json_real(x) : json_null();
}

json_t *agora_session_summary(const agora_session *s)
{
    if (s->ix)
        return json_pack("{s:o, s:I}", "metrics", json_object(), "steps_done", (json_int_t)s->steps_done);
    json_t *metrics = json_object();
    /* JSON has no NaN or infinity: such values are null. */
    for (int i = 0; i < s->tr.n; i++)
        json_object_set_new(metrics, s->model->metrics[i].name,
                            json_pack("{s:o, s:o, s:I}", "final", real_or_null(s->tr.final[i]), "peak",
                                      real_or_null(s->tr.peak[i]), "peak_step", (json_int_t)s->tr.peak_step[i]));
    json_t *sum = json_pack("{s:o, s:I}", "metrics", metrics, "steps_done", (json_int_t)s->steps_done);
    if (sum && s->ps) /* mixed runs: what the LLM did, and why the run is degraded when it is */
        json_object_set_new(sum, "llm", agora_personas_llm_summary(s->ps));
    return sum;
}

/* ---- the recorders ------------------------------------------------------------------------------------------- */

/* Writes the checkpoint of the current step: the world and where the session stands (the file was flushed just
 * before). A checkpoint that cannot be written is a warning, not the end of the run: the previous one stays. */
static void write_checkpoint(agora_session *s)
{
    agora_error e;
    json_t *marks = NULL, *personas = NULL;
    const double elapsed = s->elapsed_before + agora__now() - s->t_start;
    if (agora_writer_marks(s->wr, &marks, &e) == 0 && (!s->ps || agora_personas_save(s->ps, &personas, &e) == 0)) {
        json_t *run = json_pack("{s:I, s:s, s:o, s:o, s:f, s:o}", "step", (json_int_t)agora_world_time(s->w),
                                "config_hash", s->config_hash, "marks", marks, "tracker", tracker_json(&s->tr),
                                "elapsed_s", elapsed, "personas", personas ? personas : json_null());
        marks = personas = NULL;
        int rc = run ? agora_checkpoint_write(s->ckpt, s->w, run, &e) : agora_error_set(&e, AGORA_ENOMEM, s->ckpt, "out of memory");
        json_decref(run);
        if (rc == 0) {
            agora_log(s->opt.logger, AGORA_LOG_DEBUG, "checkpoint at step %lld: %s", (long long)agora_world_time(s->w),
                      s->ckpt);
            return;
        }
    }
    json_decref(marks);
    json_decref(personas);
    char msg[1024];
    agora_log(s->opt.logger, AGORA_LOG_WARN, "no checkpoint at step %lld: %s", (long long)agora_world_time(s->w),
              agora_error_format(&e, msg, sizeof msg));
}

/* Appends (or, with `replace`, rewrites) the memory recorder's row of the current step. */
static int history_row(agora_session *s, int replace)
{
    if (s->recorder != AGORA_RECORD_MEMORY)
        return 0;
    if (replace && s->hist_len > 0) {
        memcpy(s->hist + (s->hist_len - 1) * s->nm, s->m, (size_t)s->nm * sizeof *s->m);
        return 0;
    }
    if (s->hist_len == s->hist_cap) {
        int64_t cap = s->hist_cap ? 2 * s->hist_cap : 64;
        double *h = realloc(s->hist, (size_t)(cap * s->nm + 1) * sizeof *h);
        if (!h)
            return AGORA_ENOMEM;
        s->hist = h;
        s->hist_cap = cap;
    }
    memcpy(s->hist + s->hist_len * s->nm, s->m, (size_t)s->nm * sizeof *s->m);
    s->hist_len++;
    return 0;
}

static void log_event(agora_session *s, int64_t step, const char *source, const json_t *action, const char *status,
                      const char *msg)
{
    if ((int64_t)json_array_size(s->events) >= s->max_events)
        json_array_remove(s->events, 0);
    json_t *e = json_pack("{s:I, s:s, s:O, s:s}", "step", (json_int_t)step, "source", source, "action", action,
                          "status", status);
    if (e && msg && *msg)
        json_object_set_new(e, "message", json_string(msg));
    json_array_append_new(s->events, e);
    s->n_events++;
}

/* Applies one action at the current step, logs it, records it as an event (file recorder) and reports it. A
 * rejected action is logged and its error returned through aerr; the return value is the recorder's. */
static int apply_action(agora_session *s, const json_t *action, const char *source, agora_error *aerr,
                        agora_error *err)
{
    const int64_t t = agora_world_time(s->w);
    agora_error_clear(aerr);
    int rc = agora_world_apply(s->w, action, aerr);
    char msg[1024] = "";
    if (rc != 0)
        agora_error_format(aerr, msg, sizeof msg);
    log_event(s, t, source, action, rc == 0 ? "applied" : "rejected", rc == 0 ? NULL : aerr->msg);
    char *text = agora__json_dumps(action, JSON_COMPACT);
    const char *status = rc == 0 ? "applied" : "rejected";
    int wrc = s->wr ? agora_writer_event(s->wr, t, source, text ? text : "{}", status, msg, err) : 0;
    /* A rejection is a warning, unless the caller shows events itself (the CLI's event lines): then once is enough. */
    agora_log(s->opt.logger, rc == 0 || s->opt.on_event ? AGORA_LOG_INFO : AGORA_LOG_WARN, "step %lld: %s %s (%s)%s%s",
              (long long)t, status, text ? text : "{}", source, rc ? ": " : "", msg);
    if (s->opt.on_event)
        s->opt.on_event(s->opt.ud, t, source, text ? text : "{}", status, msg);
    free(text);
    return wrc;
}

/* ---- personas (mixed runs) ----------------------------------------------------------------------------------- */

static void persona_call(void *ud, const agora_persona_call *c)
{
    persona_ctx *pc = ud;
    if (pc->s->wr && !pc->failed && agora_writer_llm_call(pc->s->wr, c, &pc->err) != 0)
        pc->failed = 1;
    agora_log(pc->s->opt.logger, AGORA_LOG_DEBUG, "step %lld: %s call %d: %s (%.0f ms)%s%s", (long long)c->step,
              c->persona, c->attempt, c->status, c->latency_ms, c->error[0] ? ": " : "", c->error);
}

static void persona_action(void *ud, int64_t step, const char *persona, const char *action, const char *status,
                           const char *message)
{
    persona_ctx *pc = ud;
    agora_session *s = pc->s;
    char source[160];
    snprintf(source, sizeof source, "persona:%s", persona);
    json_t *aj = json_loads(action, 0, NULL);
    log_event(s, step, source, aj ? aj : json_null(), status, message);
    json_decref(aj);
    if (s->wr && !pc->failed && agora_writer_event(s->wr, step, source, action, status, message, &pc->err) != 0)
        pc->failed = 1;
    agora_log(s->opt.logger, AGORA_LOG_INFO, "step %lld: %s %s (%s)%s%s", (long long)step, status, action, source,
              message && message[0] ? ": " : "", message ? message : "");
    if (s->opt.on_event)
        s->opt.on_event(s->opt.ud, step, source, action, status, message);
}

static void persona_decision(void *ud, const agora_persona_decision *d)
{
    persona_ctx *pc = ud;
    if (pc->s->opt.on_decision)
        pc->s->opt.on_decision(pc->s->opt.ud, d);
}

/* Builds the personas, answered from a recording as the options say, and after a resume with their saved state
 * and the calls made after the checkpoint answered from the run file. */
static int open_personas(agora_session *s, const agora_scenario *sc, const json_t *resume, agora_error *err)
{
    const json_t *pcfg = json_object_get(s->cfg, "personas");
    char replay_used[4096];
    int rc = agora__run_personas(sc, &s->opt, s->recorder == AGORA_RECORD_FILE ? s->path : NULL, &s->ps,
                                 replay_used, err);
    if (rc)
        return rc;
    const char *replay = replay_used[0] ? replay_used : NULL;
    const agora_run_options *opt = &s->opt;
    if (replay)
        agora_log(opt->logger, AGORA_LOG_INFO, "answering persona calls from %s%s", replay,
                  opt->replay_until >= 0 ? " up to the given step, then from the live LLM" : "");
    if (resume) {
        /* The personas' memory and counters as they were at the checkpoint; the calls they made after it (and
         * before the run was stopped) are answered from the run file's transcript, not asked again. */
        if ((rc = agora_personas_load(s->ps, json_object_get(resume, "personas"), err)))
            return rc;
        json_t *calls = NULL, *later = json_array();
        const json_int_t from =
            json_integer_value(json_array_get(json_object_get(json_object_get(resume, "marks"), "calls"), 1));
        if (!replay && (rc = agora_h5_llm_calls(s->path, &calls, err)) == 0) {
            size_t i;
            json_t *row;
            json_array_foreach(calls, i, row)
                if (json_integer_value(json_object_get(row, "id")) >= from)
                    json_array_append(later, row);
            rc = agora_personas_replay_partial(s->ps, later, err);
            if (json_array_size(later) > 0)
                agora_log(opt->logger, AGORA_LOG_INFO, "%zu call(s) made after the checkpoint are answered from %s",
                          json_array_size(later), s->path);
        }
        json_decref(calls);
        json_decref(later);
        if (rc)
            return rc;
    }
    const int n = agora_personas_count(s->ps);
    const char *prov = agora_personas_offline(s->ps) ? "offline" : NULL;
    s->wps = calloc((size_t)n + 1, sizeof *s->wps);
    if (!s->wps)
        return agora_error_set(err, AGORA_ENOMEM, NULL, "out of memory");
    for (int i = 0; i < n; i++) {
        const json_t *pj = json_array_get(pcfg, (size_t)i);
        s->wps[i] = (agora_writer_persona){.id = agora_personas_id(s->ps, i),
                                           .name = json_string_value(json_object_get(pj, "name")),
                                           .role = json_string_value(json_object_get(pj, "role")),
                                           .provider = prov ? prov : agora_personas_provider(s->ps),
                                           .model = prov ? "rules" : agora_personas_model(s->ps),
                                           .persona = json_string_value(json_object_get(pj, "persona"))};
    }
    if (replay && opt->replay_until < 0)
        agora_log(opt->logger, AGORA_LOG_INFO, "%d persona(s) answered from the recording %s", n, replay);
    else
        agora_log(opt->logger, agora_personas_offline(s->ps) ? AGORA_LOG_WARN : AGORA_LOG_INFO,
                  agora_personas_offline(s->ps) ? "%d persona(s) follow their offline_policy rules: no LLM is used%s"
                                                : "%d persona(s) ask %s model %s",
                  n, agora_personas_offline(s->ps) ? (replay ? " after the replayed steps" : "") : agora_personas_provider(s->ps),
                  agora_personas_model(s->ps));
    s->pctx = (persona_ctx){.s = s};
    s->hooks = (agora_persona_hooks){.ud = &s->pctx,
                                     .on_call = persona_call,
                                     .on_action = persona_action,
                                     .on_decision = persona_decision,
                                     .logger = opt->logger};
    if (opt->llm_budget)
        agora_personas_set_budget(s->ps, opt->llm_budget);
    return 0;
}

/* ---- the phase of a step ------------------------------------------------------------------------------------- */

static void report(agora_session *s)
{
    const int64_t t = agora_world_time(s->w);
    const int last = s->end >= 0 && t == s->end;
    int stop = s->opt.cancel && *s->opt.cancel;
    const double now = agora__now();
    if (s->opt.progress && (last || stop || now - s->last_progress >= s->opt.progress_interval_s)) {
        agora_progress p = {.step = t,
                            .steps = s->end,
                            .n_agents = agora_world_n(s->w),
                            .elapsed_s = now - s->t_start,
                            .model = s->model,
                            .metrics = s->m};
        stop |= s->opt.progress(s->opt.ud, &p) != 0;
        s->last_progress = now;
    }
    if (stop)
        s->stop_req = 1;
}

/* The phase of the current step (see agora/session.h). */
static int phase(agora_session *s, agora_error *err)
{
    const int64_t t = agora_world_time(s->w);
    const int last = s->end >= 0 && t == s->end;
    int rc;
    while (s->next_iv < s->n_iv && s->ivs[s->next_iv].at < t) /* after a restore to a later step */
        s->next_iv++;
    while (s->next_iv < s->n_iv && s->ivs[s->next_iv].at == t) {
        agora_error aerr;
        const intervention *iv = &s->ivs[s->next_iv++];
        if ((rc = apply_action(s, iv->action, iv->source, &aerr, err)))
            return rc;
    }
    if (s->ps && !last) { /* personas act on the state at t (not at the end: nothing follows) */
        if ((rc = agora_personas_act(s->ps, s->w, &s->hooks, err)))
            return rc;
        if (s->pctx.failed) {
            rc = s->pctx.err.code ? s->pctx.err.code : AGORA_EHDF5;
            if (err)
                *err = s->pctx.err;
            return rc;
        }
    }
    agora_world_measure(s->w, s->m);
    track(&s->tr, t, s->m);
    if ((rc = history_row(s, 0)))
        return agora_error_set(err, rc, NULL, "out of memory at step %lld", (long long)t);
    if (s->wr) {
        const int checkpoint = s->ckpt_every > 0 && !last && t % s->ckpt_every == 0;
        if ((rc = agora_writer_metrics(s->wr, t, s->m, err)))
            return rc;
        if (s->n_fields > 0 && (t == 0 || last || (s->snap_every > 0 && t % s->snap_every == 0))) {
            for (int f = 0; f < s->n_fields; f++)
                s->field_data[f] = agora_world_field(s->w, s->field_index[f], NULL);
            if ((rc = agora_writer_snapshot(s->wr, t, s->field_data, err)))
                return rc;
        }
        if ((t % s->flush_every == 0 || last || checkpoint) && (rc = agora_writer_flush(s->wr, err)))
            return rc;
        if (checkpoint)
            write_checkpoint(s);
    }
    s->steps_done = t;
    report(s);
    return 0;
}

/* ---- opening ------------------------------------------------------------------------------------------------- */

/* The model's field specs chosen by output.snapshot_fields, copied into `out` (room for every field). */
static int chosen_fields(const agora_model *model, const json_t *names, agora_field_spec *out, int *index)
{
    int n = 0;
    size_t i;
    json_t *v;
    json_array_foreach(names, i, v) {
        int f = agora_model_field_index(model, json_string_value(v));
        if (f >= 0) {
            out[n] = model->fields[f];
            index[n++] = f;
        }
    }
    return n;
}

static int resume_world(agora_session *s, json_t **resume, agora_error *err)
{
    int rc = agora_checkpoint_read(s->ckpt, resume, err);
    if (rc) {
        if (rc == AGORA_ENOTFOUND)
            agora_error_set(err, AGORA_ENOTFOUND, s->path,
                            "no checkpoint to resume from (%s): the run was not started with "
                            "--checkpoint-every, or it completed",
                            s->ckpt);
        return rc;
    }
    /* The checkpoint must be of this very configuration; then the world goes back to its step. */
    const char *was = json_string_value(json_object_get(*resume, "config_hash"));
    if (!was || strcmp(was, s->config_hash) != 0)
        return agora_error_set(err, AGORA_EINVAL, "--resume",
                               "%s was started from another configuration (config hash %.12s, this one %.12s): "
                               "resume it with the scenario and overrides it was started with",
                               s->path, was ? was : "?", s->config_hash);
    if ((rc = agora_checkpoint_load_world(s->ckpt, s->w, err)))
        return rc;
    s->t0 = agora_world_time(s->w);
    s->elapsed_before = json_number_value(json_object_get(*resume, "elapsed_s"));
    agora_log(s->opt.logger, AGORA_LOG_INFO, "resuming %s from its checkpoint at step %lld", s->path, (long long)s->t0);
    return 0;
}

static int open_file(agora_session *s, const agora_scenario *sc, const json_t *resume, agora_error *err)
{
    const json_t *out_cfg = json_object_get(s->cfg, "output");
    const int n_model_fields = agora_model_n_fields(s->model);
    s->fields = calloc((size_t)n_model_fields + 1, sizeof *s->fields);
    s->field_index = calloc((size_t)n_model_fields + 1, sizeof *s->field_index);
    s->field_data = calloc((size_t)n_model_fields + 1, sizeof *s->field_data);
    char *config_text = agora__json_dumps(s->cfg, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!s->fields || !s->field_index || !s->field_data || !config_text) {
        free(config_text);
        return agora_error_set(err, AGORA_ENOMEM, NULL, "out of memory");
    }
    s->n_fields = chosen_fields(s->model, json_object_get(out_cfg, "snapshot_fields"), s->fields, s->field_index);
    agora_writer_config wcfg = {.path = s->path,
                                .config_hash = s->config_hash,
                                .mode = json_string_value(json_object_get(s->cfg, "mode")),
                                .model = s->model->name,
                                .scenario_text = agora_scenario_text(sc),
                                .scenario_path = agora_scenario_path(sc),
                                .config_json = config_text,
                                .seed = (uint64_t)json_integer_value(json_object_get(s->cfg, "seed")),
                                .threads = agora_world_threads(s->w),
                                .n_metrics = s->nm,
                                .metrics = s->model->metrics,
                                .n_fields = s->n_fields,
                                .fields = s->fields,
                                .space = agora_world_space(s->w),
                                .compression = (int)json_integer_value(json_object_get(out_cfg, "compression")),
                                .n_personas = s->ps ? agora_personas_count(s->ps) : 0,
                                .personas = s->wps};
    int rc = agora__output_check(s->path, agora_scenario_path(sc), s->opt.force, "output.path", "--force", err);
    if (rc) {
        agora_scenario_locate(sc, err);
    } else if (resume) {
        char note[160];
        snprintf(note, sizeof note, "from the checkpoint at step %lld", (long long)s->t0);
        if (tracker_load(&s->tr, json_object_get(resume, "tracker")) != 0)
            rc = agora_error_set(err, AGORA_EINVAL, s->ckpt, "the checkpoint's summary does not fit this model");
        else
            rc = agora_writer_resume(&wcfg, json_object_get(resume, "marks"), note, &s->wr, err);
    } else if ((rc = agora_writer_create(&wcfg, &s->wr, err)) == 0) {
        rc = agora__run_late_interventions(sc, s->opt.logger, s->wr, err);
    }
    free(config_text);
    if (rc == 0) {
        agora_log(s->opt.logger, AGORA_LOG_INFO, "writing %s", s->path);
        /* A fresh run starts with no checkpoint: one left by an earlier run of this file would not match it. */
        if (!resume)
            remove(s->ckpt);
    }
    return rc;
}

static void session_free(agora_session *s)
{
    if (!s)
        return;
    if (s->ix) { /* never closed: closed now, as stopped */
        agora__ix_close(s->ix, 0, 1, &s->ixres, NULL);
        agora_interact_result_free(&s->ixres);
    }
    agora_world_destroy(s->w);
    agora_personas_destroy(s->ps);
    free(s->wps);
    free(s->ivs);
    free(s->m);
    tracker_free(&s->tr);
    free(s->fields);
    free(s->field_index);
    free(s->field_data);
    free(s->hist);
    json_decref(s->events);
    json_decref(s->cfg);
    json_decref(s->resume);
    free(s);
}

/* The parts of a session that follow from its configuration alone: the schedule and the buffers. */
static int session_base(agora_session *s, json_t *cfg, const agora_model *model, const agora_session_options *opt)
{
    s->cfg = json_incref(cfg);
    s->model = model;
    s->opt = opt->run;
    s->recorder = opt->recorder;
    s->nm = agora_model_n_metrics(model);
    s->max_events = opt->max_events > 0 ? opt->max_events : 1000;
    s->events = json_array();
    s->m = calloc((size_t)s->nm + 1, sizeof *s->m);
    const json_t *iv_list = json_object_get(cfg, "interventions");
    s->n_iv = json_array_size(iv_list);
    s->ivs = calloc(s->n_iv + 1, sizeof *s->ivs);
    if (!s->events || !s->m || !s->ivs || tracker_alloc(&s->tr, s->nm))
        return AGORA_ENOMEM;
    for (size_t i = 0; i < s->n_iv; i++) {
        const json_t *it = json_array_get(iv_list, i);
        s->ivs[i] = (intervention){.at = json_integer_value(json_object_get(it, "at")),
                                   .order = i,
                                   .action = json_object_get(it, "action"),
                                   .source = json_string_value(json_object_get(it, "source"))};
        if (!s->ivs[i].source)
            s->ivs[i].source = "scenario";
    }
    qsort(s->ivs, s->n_iv, sizeof *s->ivs, cmp_intervention);
    s->end = opt->unbounded ? -1 : json_integer_value(json_object_get(cfg, "steps"));
    return 0;
}

/* A session on an interactions scenario: its rounds are the steps, recorded to its run file. */
static int open_interactions(const agora_scenario *sc, const agora_session_options *opt, agora_session **out,
                             agora_error *err)
{
    agora_world_destroy(opt->world);
    if (!opt->interact)
        return agora_error_set(err, AGORA_EINVAL, "mode",
                               "this scenario has mode: interactions: run it with agora interact (or "
                               "agora_interact_run)");
    if (opt->recorder != AGORA_RECORD_FILE)
        return agora_error_set(err, AGORA_EINVAL, "mode", "an interactions run is recorded to its run file");
    agora_session *s = calloc(1, sizeof *s);
    if (!s)
        return agora_error_set(err, AGORA_ENOMEM, NULL, "out of memory");
    s->t_start = agora__now();
    s->opt = opt->run;
    s->recorder = AGORA_RECORD_FILE;
    s->ixopt = *opt->interact;
    if (!s->opt.cancel)
        s->opt.cancel = s->ixopt.cancel;
    s->cfg = json_incref((json_t *)agora_scenario_config(sc)); /* the rounds read it */
    s->events = json_array();
    s->m = calloc(1, sizeof *s->m);
    int rc = !s->events || !s->m ? agora_error_set(err, AGORA_ENOMEM, NULL, "out of memory")
                                 : agora__ix_open(sc, &s->ixopt, &s->ix, &s->ixres, err);
    if (rc) {
        snprintf(s->path, sizeof s->path, "%s", s->ixres.path);
        session_free(s);
        return rc;
    }
    snprintf(s->path, sizeof s->path, "%s", s->ixres.path);
    s->end = agora__ix_rounds(s->ix);
    *out = s;
    return 0;
}

int agora_session_open(const agora_scenario *sc, const agora_session_options *options, agora_session **out,
                       agora_error *err)
{
    static const agora_session_options defaults;
    const agora_session_options *opt = options ? options : &defaults;
    agora_world *given = opt->world;
    *out = NULL;
    const agora_model *model = agora_scenario_model(sc);
    if (!model)
        return open_interactions(sc, opt, out, err);
    if (opt->recorder != AGORA_RECORD_FILE && (opt->run.checkpoint_every > 0 || opt->run.resume)) {
        agora_world_destroy(given);
        return agora_error_set(err, AGORA_EINVAL, "checkpoint_every",
                               "checkpoints and resuming need a session recorded to a run file");
    }
    agora_session *s = calloc(1, sizeof *s);
    if (!s) {
        agora_world_destroy(given);
        return agora_error_set(err, AGORA_ENOMEM, NULL, "out of memory");
    }
    s->t_start = agora__now();
    s->w = given;
    s->last_progress = -1e30;
    json_t *cfg = (json_t *)agora_scenario_config(sc);
    json_t *resume = NULL;
    int rc = session_base(s, cfg, model, opt);
    if (rc) {
        rc = agora_error_set(err, AGORA_ENOMEM, NULL, "out of memory");
        goto fail;
    }
    const json_t *out_cfg = json_object_get(cfg, "output");
    const char *path = json_string_value(json_object_get(out_cfg, "path"));
    snprintf(s->path, sizeof s->path, "%s", path ? path : "");
    snprintf(s->ckpt, sizeof s->ckpt, "%s.ckpt", s->path);
    s->snap_every = json_integer_value(json_object_get(out_cfg, "snapshot_every"));
    s->flush_every = json_integer_value(json_object_get(out_cfg, "flush_every"));
    if (s->flush_every <= 0)
        s->flush_every = 1;
    s->ckpt_every = opt->run.checkpoint_every > 0 ? opt->run.checkpoint_every : 0;

    /* Build the world (src/runner/check.c: the same pre-flight agora_run_check does). */
    if (!s->w && (rc = agora__run_world(sc, s->opt.logger, &s->w, err)))
        goto fail;
    if ((rc = agora_scenario_hash(sc, s->config_hash, err)))
        goto fail;
    if (opt->run.resume && (rc = resume_world(s, &resume, err)))
        goto fail;
    if (json_object_get(cfg, "personas") && !opt->no_personas && (rc = open_personas(s, sc, resume, err)))
        goto fail;
    if (s->recorder == AGORA_RECORD_FILE && (rc = open_file(s, sc, resume, err)))
        goto fail;

    s->resume = resume;
    *out = s;
    return 0;
fail:
    json_decref(resume);
    s->resume = NULL;
    if (s->wr) {
        char why[1024] = "";
        if (err)
            agora_writer_set_error(s->wr, agora_error_format(err, why, sizeof why));
        agora_error cerr;
        agora_writer_close(s->wr, "failed", s->steps_done,
                           s->elapsed_before + agora__now() - s->t_start, NULL, &cerr);
    }
    session_free(s);
    return rc;
}

/* ---- control ------------------------------------------------------------------------------------------------- */

int agora_session_begin(agora_session *s, agora_error *err)
{
    if (s->begun)
        return 0;
    s->begun = 1;
    s->t_loop = agora__now();
    if (s->ix) /* its time 0 is in the file since it opened */
        return 0;
    if (s->resume) { /* a resumed run starts at its checkpoint's step, whose rows the file holds */
        json_decref(s->resume);
        s->resume = NULL;
        while (s->next_iv < s->n_iv && s->ivs[s->next_iv].at <= s->t0)
            s->next_iv++;
        agora_world_measure(s->w, s->m); /* for the progress report only */
        s->steps_done = s->t0;
        report(s);
        return 0;
    }
    return phase(s, err);
}

int agora_session_step(agora_session *s, agora_error *err)
{
    int rc;
    if (!s->begun && (rc = agora_session_begin(s, err)))
        return rc;
    if (s->ix) {
        if (agora__ix_round_now(s->ix) >= s->end)
            return agora_error_set(err, AGORA_ERANGE, "rounds", "the run is at its last round (%lld)",
                                   (long long)s->end);
        int stop = 0;
        const double t0 = agora__now();
        rc = agora__ix_round(s->ix, &stop);
        s->step_s += agora__now() - t0;
        s->steps_done = agora__ix_round_now(s->ix);
        if (stop) {
            s->stop_req = 1;
            s->ix_interrupted = 1;
        }
        return rc;
    }
    if (s->world_failed) {
        if (err)
            *err = *agora_world_error(s->w);
        return agora_world_error(s->w)->code;
    }
    if (s->end >= 0 && agora_world_time(s->w) >= s->end)
        return agora_error_set(err, AGORA_ERANGE, "steps", "the session is at its last step (%lld)", (long long)s->end);
    const double t0 = agora__now();
    if (!agora_world_error(s->w))
        agora_world_step(s->w);
    s->step_s += agora__now() - t0;
    if (agora_world_error(s->w)) { /* a rule's fault (NaN, 1/0): the session stops with it, the file keeps the rest */
        s->world_failed = 1;
        if (err)
            *err = *agora_world_error(s->w);
        return agora_world_error(s->w)->code;
    }
    return phase(s, err);
}

int agora_session_run_until(agora_session *s, int64_t t, agora_session_stop *why, agora_error *err)
{
    if (t < 0 || (s->end >= 0 && t > s->end))
        t = s->end;
    agora_session_stop stop = AGORA_SESSION_REACHED;
    int rc = agora_session_begin(s, err);
    while (rc == 0) {
        const int64_t now = agora_session_time(s);
        if (s->ix && agora__ix_cancelled(s->ix) && !(s->end >= 0 && now >= s->end)) {
            s->ix_interrupted = 1; /* cancelled before the round, or the run can write no more */
            stop = AGORA_SESSION_STOPPED;
            break;
        }
        if ((t >= 0 && now >= t) || (s->end >= 0 && now >= s->end))
            break;
        if (s->stop_req || (s->opt.cancel && *s->opt.cancel)) {
            s->stop_req = 0;
            stop = AGORA_SESSION_STOPPED;
            s->ix_interrupted = 1;
            if (s->end >= 0 && !s->ix)
                agora_log(s->opt.logger, AGORA_LOG_WARN, "interrupted at step %lld of %lld", (long long)now,
                          (long long)s->end);
            break;
        }
        if (s->pause) {
            s->pause = 0;
            stop = AGORA_SESSION_PAUSED;
            break;
        }
        rc = agora_session_step(s, err);
    }
    s->loop_s = agora__now() - s->t_loop;
    if (why)
        *why = stop;
    return rc;
}

void agora_session_pause(agora_session *s)
{
    s->pause = 1;
}

static int no_world(const agora_session *s, agora_error *err)
{
    if (!s->ix)
        return 0;
    return agora_error_set(err, AGORA_EINVAL, "mode", "an interactions run has no world: its actors act in rounds");
}

int agora_session_apply(agora_session *s, const json_t *action, const char *source, agora_error *err)
{
    if (no_world(s, err))
        return AGORA_EINVAL;
    agora_error aerr, werr;
    int wrc = apply_action(s, action, source ? source : "session", &aerr, &werr);
    if (wrc) {
        if (err)
            *err = werr;
        return wrc;
    }
    if (aerr.code) {
        if (err)
            *err = aerr;
        return aerr.code;
    }
    agora_session_remeasure(s);
    return 0;
}

int agora_session_log(agora_session *s, const char *source, const json_t *what, const char *status,
                      const char *message, agora_error *err)
{
    if (no_world(s, err))
        return AGORA_EINVAL;
    const int64_t t = agora_world_time(s->w);
    log_event(s, t, source, what, status, message);
    if (!s->wr)
        return 0;
    char *text = agora__json_dumps(what, JSON_COMPACT);
    int rc = agora_writer_event(s->wr, t, source, text ? text : "{}", status, message ? message : "", err);
    free(text);
    return rc;
}

void agora_session_control(agora_session *s, agora_progress_fn progress, void *ud)
{
    s->opt.progress = progress;
    s->opt.ud = ud;
    s->opt.progress_interval_s = 0;
}

void agora_session_remeasure(agora_session *s)
{
    if (s->ix)
        return;
    agora_world_measure(s->w, s->m);
    history_row(s, 1);
}

agora_world *agora_session_world(agora_session *s)
{
    return s->w;
}

const agora_world *agora_session_world_const(const agora_session *s)
{
    return s->w;
}

int64_t agora_session_time(const agora_session *s)
{
    if (s->ix)
        return agora__ix_round_now(s->ix);
    return agora_world_time(s->w);
}

int64_t agora_session_end(const agora_session *s)
{
    return s->end;
}

const double *agora_session_metrics(const agora_session *s)
{
    return s->m;
}

const double *agora_session_history(const agora_session *s, int64_t *len)
{
    *len = s->recorder == AGORA_RECORD_MEMORY ? s->hist_len : 0;
    return s->recorder == AGORA_RECORD_MEMORY ? s->hist : NULL;
}

const json_t *agora_session_events(const agora_session *s, int64_t *total)
{
    if (total)
        *total = s->n_events;
    return s->events;
}

/* ---- saved states and copies --------------------------------------------------------------------------------- */

struct agora_session_state {
    agora_world *w;
    double *hist, *m;
    int64_t hist_len, n_events;
    tracker tr;
    json_t *events, *personas;
};

/* Frees what a state holds (not the struct). */
static void state_release(agora_session_state *st)
{
    agora_world_destroy(st->w);
    free(st->hist);
    free(st->m);
    tracker_free(&st->tr);
    json_decref(st->events);
    json_decref(st->personas);
    memset(st, 0, sizeof *st);
}

void agora_session_state_free(agora_session_state *st)
{
    if (!st)
        return;
    state_release(st);
    free(st);
}

int64_t agora_session_state_time(const agora_session_state *st)
{
    return agora_world_time(st->w);
}

static int copy_doubles(const double *x, int64_t n, double **out)
{
    *out = malloc((size_t)(n > 0 ? n : 1) * sizeof **out);
    if (!*out)
        return -1;
    if (n > 0)
        memcpy(*out, x, (size_t)n * sizeof **out);
    return 0;
}

/* The parts of a session that move with time, as a state that borrows them (not to be released). */
static agora_session_state state_view(const agora_session *s)
{
    return (agora_session_state){.w = s->w,
                                 .hist = s->hist,
                                 .m = s->m,
                                 .hist_len = s->hist_len,
                                 .n_events = s->n_events,
                                 .tr = s->tr,
                                 .events = s->events};
}

/* A deep copy of a state's world, history, current metrics, summary and log (nm metrics; not the personas). On
 * failure *to holds what was copied, for state_release. */
static int state_copy(const agora_session_state *from, int nm, agora_session_state *to, agora_error *err)
{
    *to = (agora_session_state){.hist_len = from->hist_len, .n_events = from->n_events};
    int rc = agora_world_copy(from->w, &to->w, err);
    if (rc)
        return rc;
    to->events = json_deep_copy(from->events);
    if (copy_doubles(from->hist, from->hist_len * nm, &to->hist) || copy_doubles(from->m, nm, &to->m) ||
        tracker_copy(&to->tr, &from->tr) || !to->events)
        return agora_error_set(err, AGORA_ENOMEM, NULL, "out of memory");
    return 0;
}

/* Puts a state's moving parts into the session in place of its own (which are freed); the state is left empty.
 * The schedule goes with the world: the interventions after its step are to come (again). */
static void state_install(agora_session *s, agora_session_state *st)
{
    agora_session_state old = state_view(s);
    old.personas = NULL;
    state_release(&old);
    s->w = st->w;
    s->hist = st->hist;
    s->hist_len = s->hist_cap = st->hist_len;
    s->m = st->m;
    s->tr = st->tr;
    s->events = st->events;
    s->n_events = st->n_events;
    s->steps_done = agora_world_time(s->w);
    s->world_failed = 0;
    s->next_iv = 0;
    while (s->next_iv < s->n_iv && s->ivs[s->next_iv].at <= agora_world_time(s->w))
        s->next_iv++;
    json_decref(st->personas);
    memset(st, 0, sizeof *st);
}

static int no_going_back(const agora_session *s, agora_error *err)
{
    if (s->recorder != AGORA_RECORD_FILE)
        return 0;
    return agora_error_set(err, AGORA_EINVAL, "snapshot",
                           "a session recorded to a run file cannot go back in time: its checkpoints do that");
}

int agora_session_save(const agora_session *s, agora_session_state **out, agora_error *err)
{
    *out = NULL;
    int rc = no_going_back(s, err);
    if (rc)
        return rc;
    agora_session_state *st = calloc(1, sizeof *st);
    if (!st)
        return agora_error_set(err, AGORA_ENOMEM, NULL, "out of memory");
    const agora_session_state now = state_view(s);
    rc = state_copy(&now, s->nm, st, err);
    if (rc == 0 && s->ps)
        rc = agora_personas_save(s->ps, &st->personas, err);
    if (rc) {
        agora_session_state_free(st);
        return rc;
    }
    *out = st;
    return 0;
}

int agora_session_restore(agora_session *s, const agora_session_state *st, agora_error *err)
{
    int rc = no_going_back(s, err);
    if (rc)
        return rc;
    agora_session_state tmp;
    rc = state_copy(st, s->nm, &tmp, err);
    if (rc == 0 && s->ps && st->personas)
        rc = agora_personas_load(s->ps, st->personas, err);
    if (rc) {
        state_release(&tmp);
        return rc;
    }
    state_install(s, &tmp);
    return 0;
}

int agora_session_copy(const agora_session *s, agora_session **out, agora_error *err)
{
    *out = NULL;
    if (s->recorder == AGORA_RECORD_FILE || s->ps) /* an interactions session records to its file */
        return agora_error_set(err, AGORA_EINVAL, "session",
                               "only a session with no run file and no personas can be copied");
    agora_session *c = calloc(1, sizeof *c);
    if (!c)
        return agora_error_set(err, AGORA_ENOMEM, NULL, "out of memory");
    agora_session_options o = {.run = s->opt, .recorder = s->recorder, .unbounded = s->end < 0,
                               .max_events = (int)s->max_events, .no_personas = 1};
    agora_session_state tmp = {0};
    const agora_session_state now = state_view(s);
    int rc = session_base(c, s->cfg, s->model, &o) ? agora_error_set(err, AGORA_ENOMEM, NULL, "out of memory") : 0;
    if (rc == 0 && (rc = state_copy(&now, s->nm, &tmp, err)) == 0) {
        state_install(c, &tmp);
        c->next_iv = s->next_iv; /* a copy not yet begun keeps its first step's interventions to come */
        c->steps_done = s->steps_done;
        c->end = s->end;
        c->begun = s->begun;
        c->t_start = c->t_loop = agora__now();
        c->last_progress = -1e30;
    }
    if (rc) {
        state_release(&tmp);
        session_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

/* ---- closing ------------------------------------------------------------------------------------------------- */

/* Closes an interactions run: its result as agora_interact_run gives it (ixres, may be NULL) and as a run's. */
int agora__session_close_ix(agora_session *s, int rc, agora_run_result *res, agora_interact_result *ixres,
                            agora_error *err)
{
    agora_interact *ix = s->ix;
    s->ix = NULL;
    rc = agora__ix_close(ix, rc, s->ix_interrupted, &s->ixres, err);
    if (res) {
        memset(res, 0, sizeof *res);
        snprintf(res->output, sizeof res->output, "%s", s->ixres.path);
        snprintf(res->status, sizeof res->status, "%s", s->ixres.status);
        res->steps_done = s->ixres.rounds_done;
        res->wall_s = s->ixres.wall_time_s;
        res->step_s = s->step_s;
        res->summary = json_incref(s->ixres.summary);
        res->started = 1;
    }
    if (ixres) {
        *ixres = s->ixres;
        memset(&s->ixres, 0, sizeof s->ixres);
    } else {
        agora_interact_result_free(&s->ixres);
    }
    session_free(s);
    return rc;
}

int agora_session_close(agora_session *s, int rc, agora_run_result *res, agora_error *err)
{
    if (s->ix)
        return agora__session_close_ix(s, rc, res, NULL, err);
    const int64_t t = s->steps_done;
    const int interrupted = rc == 0 && s->end >= 0 && t < s->end;
    if (s->wr && rc == 0 && interrupted) {
        /* An interrupted run can go on from where it stopped. */
        rc = agora_writer_flush(s->wr, err);
        if (rc == 0 && s->ckpt_every > 0)
            write_checkpoint(s);
    } else if (s->wr && (rc == 0 || s->world_failed)) {
        /* A complete one needs its checkpoint no more (nor one of a run killed while writing it). */
        char tmp[4300];
        snprintf(tmp, sizeof tmp, "%s.tmp", s->ckpt);
        remove(s->ckpt);
        remove(tmp);
    }
    json_t *summary = agora_session_summary(s);
    const char *status = rc ? "failed" : interrupted ? "interrupted" : agora_personas_degraded(s->ps) ? "degraded" : "complete";
    if (s->wr) {
        if (rc && err) {
            char why[1024];
            agora_writer_set_error(s->wr, agora_error_format(err, why, sizeof why));
        }
        char *stext = summary ? json_dumps(summary, JSON_COMPACT) : NULL;
        agora_error cerr;
        int crc = agora_writer_close(s->wr, status, t, s->elapsed_before + agora__now() - s->t_start, stext, &cerr);
        s->wr = NULL;
        free(stext);
        if (crc && !rc) {
            rc = crc;
            if (err)
                *err = cerr;
            status = "failed";
        } else if (crc && err && access(s->path, F_OK) != 0) {
            /* the run failed writing and the close could not even record that: say where the file went */
            size_t len = strlen(err->msg);
            snprintf(err->msg + len, sizeof err->msg - len, "; the incomplete run file was removed");
        }
    }
    if (res) {
        memset(res, 0, sizeof *res);
        snprintf(res->output, sizeof res->output, "%s", s->path);
        snprintf(res->status, sizeof res->status, "%s", status);
        res->steps_done = t;
        res->n_agents = agora_world_n(s->w);
        res->threads = agora_world_threads(s->w);
        res->wall_s = agora__now() - s->t_start;
        res->step_s = s->step_s;
        res->updates_per_s = s->loop_s > 0 ? (double)(t - s->t0) * (double)res->n_agents / s->loop_s : 0;
        res->summary = summary;
        res->started = s->begun;
        summary = NULL;
    }
    json_decref(summary);
    session_free(s);
    return rc;
}
