/* agora — simulate_mechanics: one scenario, end to end, into one HDF5 run file.
 *
 * Order within a time step t (0 <= t <= steps): the interventions scheduled at t are applied (and recorded in
 * /events), then the personas due at t decide and act (mixed runs; calls in /llm/calls, actions in /events), then
 * the metrics of t are measured and appended, a snapshot is taken when due (t = 0, every
 * snapshot_every steps, and the last step), the file is flushed every flush_every steps, progress is reported, and
 * unless t is the last step the world advances to t + 1. So row t of /metrics describes the state the step
 * t -> t + 1 starts from, interventions of t included.
 *
 * A mixed run that reached its end with a persona decision that was to come from the LLM and got no valid answer
 * is "degraded" (agora_personas_degraded), with the reason in the summary's "llm" object.
 *
 * Nothing here depends on the model: it only sees agora_world and the specs the model declares. */
#define _XOPEN_SOURCE 700 /* realpath */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agora/agora.h"
#include "agora/persona.h"
#include "core/internal.h"
#include "runner/check.h"

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

/* Peak and final value of every metric, for the summary. */
typedef struct tracker {
    int n;
    double *peak, *final;
    int64_t *peak_step;
} tracker;

/* NaN values (a metric undefined at that step, e.g. a mean price on a day without trades) are skipped by the peak;
 * a peak never set stays NaN with peak_step -1. */
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

/* Writes the checkpoint of step t: the world and where the run stands (the file was flushed just before). A
 * checkpoint that cannot be written is a warning, not the end of the run: the previous one stays in place. */
static void write_checkpoint(const char *ckpt, const agora_world *w, agora_writer *wr, const tracker *tr,
                             const agora_personas *ps, const char *hash, double elapsed_s,
                             const agora_run_options *opt)
{
    agora_error e;
    json_t *marks = NULL, *personas = NULL;
    if (agora_writer_marks(wr, &marks, &e) == 0 && (!ps || agora_personas_save(ps, &personas, &e) == 0)) {
        json_t *run = json_pack("{s:I, s:s, s:o, s:o, s:f, s:o}", "step", (json_int_t)agora_world_time(w),
                                "config_hash", hash, "marks", marks, "tracker", tracker_json(tr), "elapsed_s",
                                elapsed_s, "personas", personas ? personas : json_null());
        marks = personas = NULL;
        int rc = run ? agora_checkpoint_write(ckpt, w, run, &e) : agora_error_set(&e, AGORA_ENOMEM, ckpt, "out of memory");
        json_decref(run);
        if (rc == 0) {
            agora_log(opt->logger, AGORA_LOG_DEBUG, "checkpoint at step %lld: %s", (long long)agora_world_time(w), ckpt);
            return;
        }
    }
    json_decref(marks);
    json_decref(personas);
    char msg[1024];
    agora_log(opt->logger, AGORA_LOG_WARN, "no checkpoint at step %lld: %s", (long long)agora_world_time(w),
              agora_error_format(&e, msg, sizeof msg));
}

static json_t *real_or_null(double x)
{
    return isfinite(x) ? json_real(x) : json_null();
}

static json_t *summary_json(const agora_model *model, const tracker *tr, int64_t steps_done)
{
    json_t *metrics = json_object();
    /* JSON has no NaN or infinity: such values are null. */
    for (int i = 0; i < tr->n; i++)
        json_object_set_new(metrics, model->metrics[i].name,
                            json_pack("{s:o, s:o, s:I}", "final", real_or_null(tr->final[i]), "peak",
                                      real_or_null(tr->peak[i]), "peak_step", (json_int_t)tr->peak_step[i]));
    return json_pack("{s:o, s:I}", "metrics", metrics, "steps_done", (json_int_t)steps_done);
}

/* Applies one intervention, records it as an event and reports it. A rejected action is recorded, not fatal. */
static int apply_intervention(agora_world *w, agora_writer *wr, const intervention *iv, const agora_run_options *opt,
                              agora_error *err)
{
    agora_error aerr;
    agora_error_clear(&aerr);
    int rc = agora_world_apply(w, iv->action, &aerr);
    char msg[1024] = "";
    if (rc != 0)
        agora_error_format(&aerr, msg, sizeof msg);
    char *text = agora__json_dumps(iv->action, JSON_COMPACT);
    const char *status = rc == 0 ? "applied" : "rejected";
    int wrc = agora_writer_event(wr, agora_world_time(w), iv->source, text ? text : "{}", status, msg, err);
    /* A rejection is a warning, unless the caller shows events itself (the CLI's event lines): then once is enough. */
    agora_log(opt->logger, rc == 0 || opt->on_event ? AGORA_LOG_INFO : AGORA_LOG_WARN, "step %lld: %s %s (%s)%s%s",
              (long long)agora_world_time(w), status, text ? text : "{}", iv->source, rc ? ": " : "", msg);
    if (opt->on_event)
        opt->on_event(opt->ud, agora_world_time(w), iv->source, text ? text : "{}", status, msg);
    free(text);
    return wrc;
}

/* ---- personas (mixed runs) -----------------------------------------------------------------------------------------
 */

typedef struct persona_ctx {
    agora_writer *wr;
    const agora_run_options *opt;
    int failed;
    agora_error err;
} persona_ctx;

static void persona_call(void *ud, const agora_persona_call *c)
{
    persona_ctx *pc = ud;
    if (!pc->failed && agora_writer_llm_call(pc->wr, c, &pc->err) != 0)
        pc->failed = 1;
    agora_log(pc->opt->logger, AGORA_LOG_DEBUG, "step %lld: %s call %d: %s (%.0f ms)%s%s", (long long)c->step,
              c->persona, c->attempt, c->status, c->latency_ms, c->error[0] ? ": " : "", c->error);
}

static void persona_action(void *ud, int64_t step, const char *persona, const char *action, const char *status,
                           const char *message)
{
    persona_ctx *pc = ud;
    char source[160];
    snprintf(source, sizeof source, "persona:%s", persona);
    if (!pc->failed && agora_writer_event(pc->wr, step, source, action, status, message, &pc->err) != 0)
        pc->failed = 1;
    agora_log(pc->opt->logger, AGORA_LOG_INFO, "step %lld: %s %s (%s)%s%s", (long long)step, status, action, source,
              message && message[0] ? ": " : "", message ? message : "");
    if (pc->opt->on_event)
        pc->opt->on_event(pc->opt->ud, step, source, action, status, message);
}

static void persona_decision(void *ud, const agora_persona_decision *d)
{
    persona_ctx *pc = ud;
    if (pc->opt->on_decision)
        pc->opt->on_decision(pc->opt->ud, d);
}

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

int agora_run(const agora_scenario *sc, const agora_run_options *options, agora_run_result *res, agora_error *err)
{
    static const agora_run_options no_options;
    const agora_run_options *opt = options ? options : &no_options;
    const double t_start = agora__now();
    const json_t *cfg = agora_scenario_config(sc);
    const agora_model *model = agora_scenario_model(sc);
    if (!model) {
        if (res)
            memset(res, 0, sizeof *res);
        return agora_error_set(err, AGORA_EINVAL, "mode",
                               "this scenario has mode: interactions: run it with agora interact (or "
                               "agora_interact_run)");
    }
    const json_t *out_cfg = json_object_get(cfg, "output");
    const int64_t steps = json_integer_value(json_object_get(cfg, "steps"));
    const uint64_t seed = (uint64_t)json_integer_value(json_object_get(cfg, "seed"));
    const int64_t snap_every = json_integer_value(json_object_get(out_cfg, "snapshot_every"));
    const int64_t flush_every = json_integer_value(json_object_get(out_cfg, "flush_every"));
    const char *path = json_string_value(json_object_get(out_cfg, "path"));
    const int n_metrics = agora_model_n_metrics(model);

    agora_space *space = NULL;
    agora_world *w = NULL;
    agora_writer *wr = NULL;
    agora_personas *ps = NULL;
    agora_writer_persona *wps = NULL;
    persona_ctx pctx = {0};
    intervention *ivs = NULL;
    double *m = NULL;
    char *config_text = NULL;
    agora_field_spec *fields = NULL;
    int *field_index = NULL;
    const void **field_data = NULL;
    tracker tr = {0};
    int rc = 0, interrupted = 0;
    int64_t t = 0, steps_done = 0, t0 = 0;
    double loop_s = 0, step_s = 0, elapsed_before = 0;
    json_t *resume = NULL;
    char ckpt[4200];
    snprintf(ckpt, sizeof ckpt, "%s.ckpt", path ? path : "");
    const int64_t ckpt_every = opt->checkpoint_every > 0 ? opt->checkpoint_every : 0;

    if (res) {
        memset(res, 0, sizeof *res);
        snprintf(res->output, sizeof res->output, "%s", path);
        snprintf(res->status, sizeof res->status, "failed");
    }

    /* Build the world (src/runner/check.c: the same pre-flight agora_run_check does). */
    if ((rc = agora__run_world(sc, opt->logger, &w, err)))
        goto done;
    char config_hash[65];
    if ((rc = agora_scenario_hash(sc, config_hash, err)))
        goto done;
    if (opt->resume) {
        /* The checkpoint must be of this very configuration; then the world goes back to its step. */
        if ((rc = agora_checkpoint_read(ckpt, &resume, err))) {
            if (rc == AGORA_ENOTFOUND)
                agora_error_set(err, AGORA_ENOTFOUND, path,
                                "no checkpoint to resume from (%s): the run was not started with "
                                "--checkpoint-every, or it completed",
                                ckpt);
            goto done;
        }
        const char *was = json_string_value(json_object_get(resume, "config_hash"));
        if (!was || strcmp(was, config_hash) != 0) {
            rc = agora_error_set(err, AGORA_EINVAL, "--resume",
                                 "%s was started from another configuration (config hash %.12s, this one %.12s): "
                                 "resume it with the scenario and overrides it was started with",
                                 path, was ? was : "?", config_hash);
            goto done;
        }
        if ((rc = agora_checkpoint_load_world(ckpt, w, err)))
            goto done;
        t0 = agora_world_time(w);
        elapsed_before = json_number_value(json_object_get(resume, "elapsed_s"));
        agora_log(opt->logger, AGORA_LOG_INFO, "resuming %s from its checkpoint at step %lld", path, (long long)t0);
    }

    /* Interventions, in step order (file order within a step). */
    const json_t *iv_list = json_object_get(cfg, "interventions");
    size_t n_iv = json_array_size(iv_list);
    ivs = calloc(n_iv ? n_iv : 1, sizeof *ivs);
    m = calloc((size_t)n_metrics, sizeof *m);
    tr.n = n_metrics;
    tr.peak = calloc((size_t)n_metrics, sizeof *tr.peak);
    tr.final = calloc((size_t)n_metrics, sizeof *tr.final);
    tr.peak_step = calloc((size_t)n_metrics, sizeof *tr.peak_step);
    int n_model_fields = agora_model_n_fields(model);
    fields = calloc((size_t)n_model_fields + 1, sizeof *fields);
    field_index = calloc((size_t)n_model_fields + 1, sizeof *field_index);
    field_data = calloc((size_t)n_model_fields + 1, sizeof *field_data);
    config_text = agora__json_dumps(cfg, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!ivs || !m || !tr.peak || !tr.final || !tr.peak_step || !fields || !field_index || !field_data ||
        !config_text) {
        rc = agora_error_set(err, AGORA_ENOMEM, NULL, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n_iv; i++) {
        const json_t *it = json_array_get(iv_list, i);
        ivs[i] = (intervention){.at = json_integer_value(json_object_get(it, "at")),
                                .order = i,
                                .action = json_object_get(it, "action"),
                                .source = json_string_value(json_object_get(it, "source"))};
        if (!ivs[i].source)
            ivs[i].source = "scenario";
    }
    qsort(ivs, n_iv, sizeof *ivs, cmp_intervention);
    int n_fields = chosen_fields(model, json_object_get(out_cfg, "snapshot_fields"), fields, field_index);

    /* Personas (mixed runs). */
    const json_t *pcfg = json_object_get(cfg, "personas");
    int n_personas = 0;
    if (pcfg) {
        char replay_used[4096];
        if ((rc = agora__run_personas(sc, opt, path, &ps, replay_used, err)))
            goto done;
        const char *replay = replay_used[0] ? replay_used : NULL;
        if (replay)
            agora_log(opt->logger, AGORA_LOG_INFO, "answering persona calls from %s%s", replay,
                      opt->replay_until >= 0 ? " up to the given step, then from the live LLM" : "");
        if (resume) {
            /* The personas' memory and counters as they were at the checkpoint; the calls they made after it (and
             * before the run was stopped) are answered from the run file's transcript, not asked again. */
            if ((rc = agora_personas_load(ps, json_object_get(resume, "personas"), err)))
                goto done;
            json_t *calls = NULL, *later = json_array();
            const json_int_t from = json_integer_value(json_array_get(json_object_get(json_object_get(resume, "marks"), "calls"), 1));
            if (!replay && (rc = agora_h5_llm_calls(path, &calls, err)) == 0) {
                size_t i;
                json_t *row;
                json_array_foreach(calls, i, row)
                    if (json_integer_value(json_object_get(row, "id")) >= from)
                        json_array_append(later, row);
                rc = agora_personas_replay_partial(ps, later, err);
                if (json_array_size(later) > 0)
                    agora_log(opt->logger, AGORA_LOG_INFO, "%zu call(s) made after the checkpoint are answered from %s",
                              json_array_size(later), path);
            }
            json_decref(calls);
            json_decref(later);
            if (rc)
                goto done;
        }
        n_personas = agora_personas_count(ps);
        const char *prov = agora_personas_offline(ps) ? "offline" : NULL;
        wps = calloc((size_t)n_personas, sizeof *wps);
        if (!wps) {
            rc = agora_error_set(err, AGORA_ENOMEM, NULL, "out of memory");
            goto done;
        }
        for (int i = 0; i < n_personas; i++) {
            const json_t *pj = json_array_get(pcfg, (size_t)i);
            wps[i] = (agora_writer_persona){.id = agora_personas_id(ps, i),
                                            .name = json_string_value(json_object_get(pj, "name")),
                                            .role = json_string_value(json_object_get(pj, "role")),
                                            .provider = prov ? prov : agora_personas_provider(ps),
                                            .model = prov ? "rules" : agora_personas_model(ps),
                                            .persona = json_string_value(json_object_get(pj, "persona"))};
        }
        if (replay && opt->replay_until < 0)
            agora_log(opt->logger, AGORA_LOG_INFO, "%d persona(s) answered from the recording %s", n_personas, replay);
        else
            agora_log(opt->logger, agora_personas_offline(ps) ? AGORA_LOG_WARN : AGORA_LOG_INFO,
                      agora_personas_offline(ps) ? "%d persona(s) follow their offline_policy rules: no LLM is used%s"
                                                 : "%d persona(s) ask %s model %s",
                      n_personas,
                      agora_personas_offline(ps) ? (replay ? " after the replayed steps" : "")
                                                 : agora_personas_provider(ps),
                      agora_personas_model(ps));
    }

    /* Open the run file. */
    agora_writer_config wcfg = {.path = path,
                                .config_hash = config_hash,
                                .mode = json_string_value(json_object_get(cfg, "mode")),
                                .model = model->name,
                                .scenario_text = agora_scenario_text(sc),
                                .scenario_path = agora_scenario_path(sc),
                                .config_json = config_text,
                                .seed = seed,
                                .threads = agora_world_threads(w),
                                .n_metrics = n_metrics,
                                .metrics = model->metrics,
                                .n_fields = n_fields,
                                .fields = fields,
                                .space = agora_world_space(w),
                                .compression = (int)json_integer_value(json_object_get(out_cfg, "compression")),
                                .n_personas = n_personas,
                                .personas = wps};
    if ((rc = agora__output_check(path, agora_scenario_path(sc), opt->force, "output.path", "--force", err))) {
        agora_scenario_locate(sc, err);
        goto done;
    }
    if (resume) {
        char note[160];
        snprintf(note, sizeof note, "from the checkpoint at step %lld", (long long)t0);
        if (tracker_load(&tr, json_object_get(resume, "tracker")) != 0) {
            rc = agora_error_set(err, AGORA_EINVAL, ckpt, "the checkpoint's summary does not fit this model");
            goto done;
        }
        if ((rc = agora_writer_resume(&wcfg, json_object_get(resume, "marks"), note, &wr, err)))
            goto done;
    } else if ((rc = agora_writer_create(&wcfg, &wr, err)) ||
               (rc = agora__run_late_interventions(sc, opt->logger, wr, err))) {
        goto done;
    }
    agora_log(opt->logger, AGORA_LOG_INFO, "writing %s", path);
    pctx = (persona_ctx){.wr = wr, .opt = opt};
    const agora_persona_hooks hooks = {.ud = &pctx,
                                       .on_call = persona_call,
                                       .on_action = persona_action,
                                       .on_decision = persona_decision,
                                       .logger = opt->logger};
    if (ps && opt->llm_budget)
        agora_personas_set_budget(ps, opt->llm_budget);

    /* A fresh run starts with no checkpoint: one left by an earlier run of this file would not match it. */
    if (!resume)
        remove(ckpt);

    /* The step loop. A resumed run starts at its checkpoint's step, whose rows the file already holds. */
    if (res)
        res->started = 1;
    const double t_loop = agora__now();
    double last_progress = -1e30;
    size_t next_iv = 0;
    while (resume && next_iv < n_iv && ivs[next_iv].at <= t0)
        next_iv++;
    for (t = t0;; t++) {
        const int done_before = resume && t == t0;
        const int last = t == steps;
        const int checkpoint = ckpt_every > 0 && !done_before && !last && t % ckpt_every == 0;
        if (done_before) {
            agora_world_measure(w, m); /* for the progress report only */
        } else {
            while (next_iv < n_iv && ivs[next_iv].at == t)
                if ((rc = apply_intervention(w, wr, &ivs[next_iv++], opt, err)))
                    goto done;
            if (ps && t < steps) { /* personas act on the state at t (not after the last step: nothing follows) */
                if ((rc = agora_personas_act(ps, w, &hooks, err)))
                    goto done;
                if (pctx.failed) {
                    rc = pctx.err.code ? pctx.err.code : AGORA_EHDF5;
                    if (err)
                        *err = pctx.err;
                    goto done;
                }
            }
            agora_world_measure(w, m);
            track(&tr, t, m);
            if ((rc = agora_writer_metrics(wr, t, m, err)))
                goto done;
            if (n_fields > 0 && (t == 0 || last || (snap_every > 0 && t % snap_every == 0))) {
                for (int f = 0; f < n_fields; f++)
                    field_data[f] = agora_world_field(w, field_index[f], NULL);
                if ((rc = agora_writer_snapshot(wr, t, field_data, err)))
                    goto done;
            }
            if ((t % flush_every == 0 || last || checkpoint) && (rc = agora_writer_flush(wr, err)))
                goto done;
            if (checkpoint)
                write_checkpoint(ckpt, w, wr, &tr, ps, config_hash, elapsed_before + agora__now() - t_start, opt);
        }
        steps_done = t;
        int cancel = opt->cancel && *opt->cancel;
        double now = agora__now();
        if (opt->progress && (last || cancel || now - last_progress >= opt->progress_interval_s)) {
            agora_progress p = {.step = t,
                                .steps = steps,
                                .n_agents = agora_world_n(w),
                                .elapsed_s = now - t_start,
                                .model = model,
                                .metrics = m};
            cancel |= opt->progress(opt->ud, &p) != 0;
            last_progress = now;
        }
        if (last)
            break;
        if (cancel) {
            interrupted = 1;
            agora_log(opt->logger, AGORA_LOG_WARN, "interrupted at step %lld of %lld", (long long)t, (long long)steps);
            break;
        }
        double s0 = agora__now();
        if (!agora_world_error(w))
            agora_world_step(w);
        step_s += agora__now() - s0;
        if (agora_world_error(w)) { /* a rule's fault (NaN, 1/0): the run stops with it, the file keeps the rest */
            rc = agora_world_error(w)->code;
            if (err)
                *err = *agora_world_error(w);
            break;
        }
    }
    loop_s = agora__now() - t_loop;
    if (interrupted && (rc = agora_writer_flush(wr, err)))
        goto done;
    /* An interrupted run can go on from where it stopped; a complete one needs its checkpoint no more. */
    if (interrupted && ckpt_every > 0)
        write_checkpoint(ckpt, w, wr, &tr, ps, config_hash, elapsed_before + agora__now() - t_start, opt);
    if (!interrupted) {
        char tmp[4300];
        snprintf(tmp, sizeof tmp, "%s.tmp", ckpt);
        remove(ckpt);
        remove(tmp); /* left by a run killed while writing a checkpoint */
    }

done:;
    json_t *summary = NULL;
    if (w && tr.peak)
        summary = summary_json(model, &tr, steps_done);
    if (summary && ps) /* mixed runs: what the LLM did, and why the run is degraded when it is */
        json_object_set_new(summary, "llm", agora_personas_llm_summary(ps));
    const char *status = rc                            ? "failed"
                         : interrupted                 ? "interrupted"
                         : agora_personas_degraded(ps) ? "degraded"
                                                       : "complete";
    if (wr && rc && err) {
        char why[1024];
        agora_writer_set_error(wr, agora_error_format(err, why, sizeof why));
    }
    if (wr) {
        char *stext = summary ? json_dumps(summary, JSON_COMPACT) : NULL;
        agora_error cerr;
        int crc = agora_writer_close(wr, status, steps_done, elapsed_before + agora__now() - t_start, stext, &cerr);
        free(stext);
        if (crc && !rc) {
            rc = crc;
            if (err)
                *err = cerr;
            status = "failed";
        } else if (crc && err && access(path, F_OK) != 0) {
            /* the run failed writing and the close could not even record that: say where the file went */
            size_t len = strlen(err->msg);
            snprintf(err->msg + len, sizeof err->msg - len, "; the incomplete run file was removed");
        }
    }
    if (res) {
        snprintf(res->status, sizeof res->status, "%s", status);
        res->steps_done = steps_done;
        res->n_agents = w ? agora_world_n(w) : 0;
        res->threads = w ? agora_world_threads(w) : 0;
        res->wall_s = agora__now() - t_start;
        res->step_s = step_s;
        res->updates_per_s = loop_s > 0 ? (double)(steps_done - t0) * (double)res->n_agents / loop_s : 0;
        res->summary = summary;
        summary = NULL;
    }
    json_decref(summary);
    agora_world_destroy(w);
    agora_space_destroy(space);
    agora_personas_destroy(ps);
    free(wps);
    free(ivs);
    free(m);
    free(tr.peak);
    free(tr.final);
    free(tr.peak_step);
    free(fields);
    free(field_index);
    free(field_data);
    free(config_text);
    json_decref(resume);
    return rc;
}

void agora_run_result_free(agora_run_result *res)
{
    if (!res)
        return;
    json_decref(res->summary);
    res->summary = NULL;
}
