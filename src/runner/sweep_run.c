/* agora — running a sweep: every run into its own run file (in parallel over runs when there are many), reusing a
 * run file only when it is complete and was made by the very configuration the run has now (its config_hash), then
 * the master file with /runs/<id> links and /sweep/table. The master file also records the sweep's definition, so
 * that running another sweep into the same file is refused (or, with overwrite, replaces it) instead of tabling
 * old runs under new values. See include/agora/sweep.h. */
#define _XOPEN_SOURCE 700
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS */
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <dirent.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hdf5.h>
#include <omp.h>

#include "agora/agora.h"
#include "agora/sweep.h"
#include "core/internal.h"
#include "io/h5internal.h"
#include "runner/check.h"

/* <output>.runs/<id>.h5 */
static void run_path(const char *output, const char *id, char *buf, size_t size)
{
    snprintf(buf, size, "%s.runs/%s.h5", output, id);
}

/* A run file that completed with the configuration the run has now (its root attribute config_hash equals `hash`):
 * its final metrics (a new object), else NULL. *stale (may be NULL) is set when the file is complete but another
 * configuration made it (or an agora that did not record one). */
static json_t *reusable_metrics(const char *path, const char *hash, int *stale)
{
    json_t *info = NULL;
    agora_error e;
    struct stat st;
    if (stale)
        *stale = 0;
    if (stat(path, &st) != 0 || agora_h5_inspect(path, &info, &e) != 0)
        return NULL;
    json_t *m = NULL;
    const char *status = json_string_value(json_object_get(info, "status"));
    if (json_is_true(json_object_get(info, "complete")) && status && strcmp(status, "complete") == 0) {
        const char *had = json_string_value(json_object_get(json_object_get(info, "attributes"), "config_hash"));
        if (hash && hash[0] && had && strcmp(had, hash) == 0)
            m = json_incref(json_object_get(info, "metrics"));
        else if (stale)
            *stale = 1;
    }
    json_decref(info);
    return m;
}

typedef struct run_state {
    const json_t *run;
    char path[4096];
    char hash[65]; /* the config_hash this run's file must have to be reused ("" until computed, or unknown) */
    int hashed;
    char status[16];
    json_t *metrics; /* final values */
    agora_error err;
    int rc, skipped;
    int reported, failed; /* a worker process reported this run (and whether it failed) */
    int other;            /* another MPI rank runs it */
    int degraded;         /* it ended "degraded" */
    char budget[64];      /* the limit that stopped its LLM calls and where ("max_calls reached at step 7"), or "" */
} run_state;

/* "LIMIT reached at step N" from a run summary's llm.budget, or "" (no budget stopped the run). */
static void budget_note(const json_t *llm, char *buf, size_t size)
{
    const json_t *b = json_object_get(llm, "budget");
    buf[0] = '\0';
    if (json_is_object(b))
        snprintf(buf, size, "%s reached at step %lld", json_string_value(json_object_get(b, "limit")),
                 (long long)json_integer_value(json_object_get(b, "reached_at_step")));
}

/* A run file that reached its end, complete or degraded (what another rank or a worker left), made by the
 * configuration whose config_hash is `hash`: its final metrics (a new object), its status and budget note; NULL
 * when it did not end, or another configuration made it. */
static json_t *finished_run(const char *path, const char *hash, char *status, size_t ssize, char *budget,
                            size_t bsize)
{
    json_t *info = NULL, *m = NULL;
    agora_error e;
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fclose(f);
    if (agora_h5_inspect(path, &info, &e) != 0)
        return NULL;
    const char *st = json_string_value(json_object_get(info, "status"));
    const char *had = json_string_value(json_object_get(json_object_get(info, "attributes"), "config_hash"));
    if (st && (strcmp(st, "complete") == 0 || strcmp(st, "degraded") == 0) && hash && hash[0] && had &&
        strcmp(had, hash) == 0) {
        m = json_incref(json_object_get(info, "metrics"));
        snprintf(status, ssize, "%s", st);
        budget_note(json_object_get(info, "llm"), budget, bsize);
    }
    json_decref(info);
    return m;
}

/* Reads exactly n bytes; 0, or -1 at the end of the stream. */
static int read_all(int fd, unsigned char *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t k = read(fd, buf + got, n - got);
        if (k <= 0)
            return -1;
        got += (size_t)k;
    }
    return 0;
}

/* The scenario of one run: the file with the sweep's --set, then the run's overrides, its seed, its output file and
 * thread count. The same for running it and for deciding whether its file can be reused. */
static int run_scenario(const char *scenario_path, const agora_sweep_options *opt, const run_state *rs, int threads,
                        agora_scenario **out, agora_error *err)
{
    agora_scenario *sc = NULL;
    *out = NULL;
    int rc = agora_scenario_load(scenario_path, &sc, err);
    if (rc)
        return rc;
    const json_t *ov = json_object_get(rs->run, "overrides");
    size_t n = (size_t)opt->n_sets + json_object_size(ov) + 3;
    char **list = calloc(n, sizeof *list);
    size_t k = 0;
    for (int i = 0; list && i < opt->n_sets; i++)
        list[k++] = strdup(opt->sets[i]);
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)ov, key, v) {
        char *val = agora__json_dumps(v, JSON_COMPACT);
        size_t len = strlen(key) + (val ? strlen(val) : 0) + 2;
        char *a = malloc(len);
        if (a)
            snprintf(a, len, "%s=%s", key, val ? val : "null");
        free(val);
        if (list)
            list[k++] = a;
    }
    char buf[4300];
    json_t *p = json_string(rs->path);
    char *qp = json_dumps(p, JSON_ENCODE_ANY);
    json_decref(p);
    snprintf(buf, sizeof buf, "output.path=%s", qp ? qp : "\"\"");
    free(qp);
    if (list)
        list[k++] = strdup(buf);
    snprintf(buf, sizeof buf, "seed=%lld", (long long)json_integer_value(json_object_get(rs->run, "seed")));
    if (list)
        list[k++] = strdup(buf);
    snprintf(buf, sizeof buf, "threads=%d", threads);
    if (list)
        list[k++] = strdup(buf);
    rc = list ? agora_scenario_set_all(sc, (const char *const *)list, (int)k, err)
              : agora_error_set(err, AGORA_ENOMEM, "sweep", "out of memory");
    for (size_t i = 0; list && i < k; i++)
        free(list[i]);
    free(list);
    if (rc)
        agora_scenario_destroy(sc);
    else
        *out = sc;
    return rc;
}

/* rs->hash: the config_hash of the run's scenario ("" when it cannot be built: then its file is never reused). */
static const char *run_hash(const char *scenario_path, const agora_sweep_options *opt, run_state *rs)
{
    if (!rs->hashed) {
        agora_scenario *sc = NULL;
        agora_error e;
        rs->hash[0] = '\0';
        if (run_scenario(scenario_path, opt, rs, 1, &sc, &e) == 0 && agora_scenario_hash(sc, rs->hash, &e) != 0)
            rs->hash[0] = '\0';
        agora_scenario_destroy(sc);
        rs->hashed = 1;
    }
    return rs->hash;
}

/* One run, into its run file. */
static int do_run(const char *scenario_path, const agora_sweep_options *opt, agora_llm_budget *budget, run_state *rs,
                  int threads)
{
    agora_scenario *sc = NULL;
    int rc = run_scenario(scenario_path, opt, rs, threads, &sc, &rs->err);
    if (rc == 0) {
        /* The run files in <output>.runs/ are this sweep's own (the master's rule has accepted it): one that is not
         * reused — incomplete, another configuration, or cut short by a kill before agora had written its
         * attributes — is replaced. */
        agora_run_options ro = {.logger = opt->logger, .cancel = opt->cancel, .llm_budget = budget, .force = 1};
        agora_run_result res;
        rc = agora_run(sc, &ro, &res, &rs->err);
        snprintf(rs->status, sizeof rs->status, "%s", res.status);
        rs->degraded = strcmp(res.status, "degraded") == 0;
        budget_note(json_object_get(res.summary, "llm"), rs->budget, sizeof rs->budget);
        json_t *metrics = json_object();
        const char *mk;
        json_t *mv;
        json_object_foreach(json_object_get(res.summary, "metrics"), mk, mv)
            json_object_set(metrics, mk, json_object_get(mv, "final"));
        rs->metrics = metrics;
        agora_run_result_free(&res);
        if (rc == 0 && strcmp(rs->status, "complete") != 0 && !rs->degraded)
            rc = agora_error_set(&rs->err, AGORA_ECANCELED, "sweep", "interrupted");
    }
    agora_scenario_destroy(sc);
    return rc;
}

/* ---- the sweep's definition ------------------------------------------------------------------------------------- */

/* A value as a person writes it on the command line: text as it is, anything else as compact JSON. */
static char *value_text(const json_t *v)
{
    return json_is_string(v) ? strdup(json_string_value(v)) : agora__json_dumps(v, JSON_COMPACT);
}

/* "KEY=v1,v2,..." for an axis, or KEY=START:STOP:COUNT when its values are evenly spaced numbers (a range). */
static void axis_text(agora__buf *b, const char *key, const json_t *values)
{
    const size_t n = json_array_size(values);
    int range = n >= 3;
    for (size_t i = 0; range && i < n; i++)
        range = json_is_number(json_array_get(values, i));
    if (range) {
        const double a = json_number_value(json_array_get(values, 0));
        const double z = json_number_value(json_array_get(values, n - 1));
        const double step = (z - a) / (double)(n - 1);
        for (size_t i = 1; range && i < n; i++)
            range = fabs(json_number_value(json_array_get(values, i)) - (a + step * (double)i)) <=
                    1e-9 * (fabs(a) + fabs(z) + 1e-300);
        if (range && step != 0) {
            char *ta = value_text(json_array_get(values, 0)), *tz = value_text(json_array_get(values, n - 1));
            agora__buf_add(b, "%s=%s:%s:%zu", key, ta ? ta : "?", tz ? tz : "?", n);
            free(ta);
            free(tz);
            return;
        }
    }
    agora__buf_add(b, "%s=", key);
    for (size_t i = 0; i < n; i++) {
        char *t = value_text(json_array_get(values, i));
        agora__buf_add(b, "%s%s", i ? "," : "", t ? t : "?");
        free(t);
    }
}

/* The sweep as recorded in its master file's attribute `sweep`:
 *   {scenario, base_hash (agora_scenario_hash of the scenario with the sweep's --set), sets, axes: [{key, values}],
 *    seeds: [...], runs (count), runs_hash (SHA-256 of every run's id, seed and overrides), text}
 * Two sweeps are the same when base_hash and runs_hash are; `text` says it in words for messages
 * ("params.beta=0.1,0.5 x 2 seeds with --set steps=30"). */
static int sweep_definition(const char *scenario_path, const json_t *runs, const agora_sweep_options *opt, json_t **out,
                            agora_error *err)
{
    *out = NULL;
    agora_scenario *sc = NULL;
    char base_hash[65];
    int rc = agora_scenario_load(scenario_path, &sc, err);
    if (rc == 0 && opt->n_sets > 0)
        rc = agora_scenario_set_all(sc, opt->sets, opt->n_sets, err);
    if (rc == 0)
        rc = agora_scenario_hash(sc, base_hash, err);
    agora_scenario_destroy(sc);
    if (rc)
        return rc;
    json_t *sets = json_array(), *axes = json_array(), *seeds = json_array(), *canon = json_array();
    agora__buf text = {0};
    const json_t *ov0 = json_object_get(json_array_get(runs, 0), "overrides");
    const char *key;
    json_t *v;
    size_t r;
    json_t *run;
    for (int i = 0; sets && i < opt->n_sets; i++)
        json_array_append_new(sets, json_string(opt->sets[i]));
    /* The axes in the order they were given: the first varies slowest, so it changes least often from run to run. */
    const size_t n_keys = json_object_size(ov0);
    const char **keys = calloc(n_keys + 1, sizeof *keys);
    size_t *changes = calloc(n_keys + 1, sizeof *changes), nk = 0;
    json_object_foreach((json_t *)ov0, key, v) {
        if (!keys || !changes)
            break;
        size_t c = 0;
        for (size_t i = 1; i < json_array_size(runs); i++)
            c += !json_equal(json_object_get(json_object_get(json_array_get(runs, i - 1), "overrides"), key),
                             json_object_get(json_object_get(json_array_get(runs, i), "overrides"), key));
        size_t at = nk++;
        while (at > 0 && changes[at - 1] > c) { /* insertion sort, stable */
            keys[at] = keys[at - 1];
            changes[at] = changes[at - 1];
            at--;
        }
        keys[at] = key;
        changes[at] = c;
    }
    for (size_t ki = 0; ki < nk; ki++) {
        key = keys[ki];
        json_t *values = json_array();
        json_array_foreach(runs, r, run) {
            const json_t *x = json_object_get(json_object_get(run, "overrides"), key);
            int seen = 0;
            for (size_t j = 0; x && !seen && j < json_array_size(values); j++)
                seen = json_equal(json_array_get(values, j), x);
            if (x && !seen)
                json_array_append(values, (json_t *)x);
        }
        if (text.n)
            agora__buf_add(&text, " x ");
        axis_text(&text, key, values);
        json_array_append_new(axes, json_pack("{s:s, s:o}", "key", key, "values", values));
    }
    const int listed = keys && changes;
    free(keys);
    free(changes);
    json_array_foreach(runs, r, run) {
        const json_t *sd = json_object_get(run, "seed");
        int seen = 0;
        for (size_t j = 0; !seen && j < json_array_size(seeds); j++)
            seen = json_equal(json_array_get(seeds, j), sd);
        if (!seen)
            json_array_append(seeds, (json_t *)sd);
        json_array_append_new(
            canon, json_pack("[O, O, O]", json_object_get(run, "id"), sd, json_object_get(run, "overrides")));
    }
    const size_t n_seeds = json_array_size(seeds);
    agora__buf_add(&text, "%s%zu seed%s", text.n ? " x " : "", n_seeds, n_seeds == 1 ? "" : "s");
    for (int i = 0; i < opt->n_sets; i++)
        agora__buf_add(&text, "%s --set %s", i ? "" : " with", opt->sets[i]);
    char *ct = canon ? agora__json_dumps(canon, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    char runs_hash[65] = "";
    if (ct) {
        agora__sha256 h;
        agora__sha256_init(&h);
        agora__sha256_add(&h, ct, strlen(ct));
        agora__sha256_hex(&h, runs_hash);
    }
    json_t *def = listed && sets && axes && seeds && ct && text.s
                      ? json_pack("{s:s, s:s, s:O, s:O, s:O, s:I, s:s, s:s}", "scenario", scenario_path, "base_hash",
                                  base_hash, "sets", sets, "axes", axes, "seeds", seeds, "runs",
                                  (json_int_t)json_array_size(runs), "runs_hash", runs_hash, "text", text.s)
                      : NULL;
    free(ct);
    free(text.s);
    json_decref(sets);
    json_decref(axes);
    json_decref(seeds);
    json_decref(canon);
    if (!def)
        return agora_error_set(err, AGORA_ENOMEM, "sweep", "out of memory");
    *out = def;
    return 0;
}

static int same_sweep(const json_t *a, const json_t *b)
{
    const char *keys[] = {"base_hash", "runs_hash"};
    for (int i = 0; i < 2; i++) {
        const char *x = json_string_value(json_object_get(a, keys[i])),
                   *y = json_string_value(json_object_get(b, keys[i]));
        if (!x || !y || strcmp(x, y) != 0)
            return 0;
    }
    return 1;
}

/* The rule for the master file: absent, or this same sweep, or opt->overwrite; else refused, saying why. */
static int check_master(const char *scenario_path, const json_t *def, const agora_sweep_options *opt, agora_error *err)
{
    const char *out = opt->output;
    json_t *attrs = NULL;
    agora__out_kind kind = agora__output_kind(out, scenario_path, &attrs);
    int rc = 0;
    if (kind != AGORA__OUT_AGORA) {
        rc = agora__output_check(out, scenario_path, opt->overwrite, NULL, "rerun with --overwrite", err);
        json_decref(attrs);
        return rc;
    }
    const json_t *old = json_object_get(attrs, "sweep");
    if (opt->overwrite || (json_is_object(old) && same_sweep(old, def))) {
        json_decref(attrs);
        return 0;
    }
    if (!json_is_object(old)) {
        rc = agora_error_set(err, AGORA_EINVAL, NULL,
                             "%s is an agora run file, not a sweep file: rerun with --overwrite to replace it, or "
                             "choose another -o",
                             out);
    } else {
        const char *was = json_string_value(json_object_get(old, "text")),
                   *is = json_string_value(json_object_get(def, "text"));
        const char *was_sc = json_string_value(json_object_get(old, "scenario"));
        if (was && is && strcmp(was, is) != 0)
            rc = agora_error_set(err, AGORA_EINVAL, NULL,
                                 "%s holds a sweep of %s; this one is %s: rerun with --overwrite to replace it, or "
                                 "choose another -o",
                                 out, was, is);
        else
            rc = agora_error_set(err, AGORA_EINVAL, NULL,
                                 "%s holds a sweep of %s made from another configuration (of %s; the scenario, a file "
                                 "it reads or the agora version changed since): rerun with --overwrite to replace it, "
                                 "or choose another -o",
                                 out, was ? was : "?", was_sc ? was_sc : "?");
    }
    json_decref(attrs);
    return rc;
}

int agora_sweep_check(const char *scenario_path, const json_t *runs, const agora_sweep_options *opt, agora_error *err)
{
    if (!scenario_path || !opt || !opt->output || json_array_size(runs) == 0)
        return agora_error_set(err, AGORA_EINVAL, "sweep", "a scenario, runs and an output file are needed");
    json_t *def = NULL;
    int rc = sweep_definition(scenario_path, runs, opt, &def, err);
    if (rc == 0)
        rc = check_master(scenario_path, def, opt, err);
    json_decref(def);
    return rc;
}

/* With overwrite: the run files of an earlier sweep in <output>.runs/ that this one has no run for (r%05d.h5 with
 * an id beyond its runs) are removed, so that the directory holds this sweep only. */
static void remove_orphans(const char *dir, const json_t *runs)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *nm = e->d_name;
        size_t len = strlen(nm), digits = 0;
        while (nm[0] == 'r' && 1 + digits < len && nm[1 + digits] >= '0' && nm[1 + digits] <= '9')
            digits++;
        if (nm[0] != 'r' || digits < 5 || strcmp(nm + 1 + digits, ".h5") != 0)
            continue;
        int known = 0;
        size_t r;
        json_t *run;
        json_array_foreach(runs, r, run) {
            const char *id = json_string_value(json_object_get(run, "id"));
            if (id && strlen(id) + 3 == len && strncmp(nm, id, strlen(id)) == 0) {
                known = 1;
                break;
            }
        }
        if (!known) {
            char path[4400];
            snprintf(path, sizeof path, "%s/%s", dir, nm);
            remove(path);
        }
    }
    closedir(d);
}

/* The master file: /runs/<id> -> <output>.runs/<id>.h5 (external links, relative to the master's directory),
 * /sweep/table and the root attributes agora_version, mode ("sweep"), scenario_path, sweep (the definition, JSON)
 * and status ("running" before the runs, then "complete" or "incomplete"). Written whole (not SWMR) into a
 * temporary file moved into place: before the runs and again after them. */
static int write_master(const char *output, const json_t *runs, const run_state *rs, const agora_model *model,
                        int mixed, const json_t *def, const char *status, agora_error *err)
{
    agora__h5_quiet q;
    agora__h5_quiet_begin(&q);
    int rc = 0;
    hid_t file = H5I_INVALID_HID, g = H5I_INVALID_HID, sw = H5I_INVALID_HID;
    agora__h5_table *table = NULL;
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", output);
    const size_t n = json_array_size(runs);
    /* columns: id is implicit (a number); run (text id), seed, status, each varied key, each metric */
    const json_t *ov0 = json_object_get(json_array_get(runs, 0), "overrides");
    const size_t n_keys = json_object_size(ov0);
    const int n_metrics = agora_model_n_metrics(model);
    agora__h5_column *cols = calloc(4 + n_keys + (size_t)n_metrics, sizeof *cols);
    agora__h5_cell *cells = calloc(4 + n_keys + (size_t)n_metrics, sizeof *cells);
    const char **keys = calloc(n_keys + 1, sizeof *keys);
    if (!cols || !cells || !keys) {
        rc = agora_error_set(err, AGORA_ENOMEM, output, "out of memory");
        goto done;
    }
    int c = 0;
    cols[c++] = (agora__h5_column){"run", AGORA__H5_TEXT, 16};
    cols[c++] = (agora__h5_column){"seed", AGORA__H5_INT64, 0};
    cols[c++] = (agora__h5_column){"status", AGORA__H5_TEXT, 16};
    if (mixed) /* the limit that stopped a run's LLM calls, and where */
        cols[c++] = (agora__h5_column){"llm_budget", AGORA__H5_TEXT, 64};
    const int first_key = c;
    size_t kk = 0;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)ov0, key, v) {
        /* a key is a number column when every run's value is a number */
        int numeric = 1;
        for (size_t r = 0; r < n && numeric; r++)
            numeric = json_is_number(json_object_get(json_object_get(json_array_get(runs, r), "overrides"), key));
        keys[kk++] = key;
        cols[c++] = (agora__h5_column){key, numeric ? AGORA__H5_FLOAT64 : AGORA__H5_TEXT, 64};
    }
    for (int m = 0; m < n_metrics; m++)
        cols[c++] = (agora__h5_column){model->metrics[m].name, AGORA__H5_FLOAT64, 0};
    if ((file = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT)) < 0) {
        rc = agora__h5_fail(err, AGORA_EIO, output, "cannot create the sweep file");
        goto done;
    }
    char *def_text = agora__json_dumps(def, JSON_COMPACT | JSON_PRESERVE_ORDER);
    rc = def_text ? 0 : agora_error_set(err, AGORA_ENOMEM, output, "out of memory");
    if (rc || (rc = agora__h5_attr_text(file, "agora_version", agora_version(), err)) ||
        (rc = agora__h5_attr_text(file, "mode", "sweep", err)) ||
        (rc = agora__h5_attr_text(file, "scenario_path", json_string_value(json_object_get(def, "scenario")), err)) ||
        (rc = agora__h5_attr_text(file, "sweep", def_text, err)) ||
        (rc = agora__h5_attr_text(file, "status", status, err))) {
        free(def_text);
        goto done;
    }
    free(def_text);
    if ((g = H5Gcreate2(file, "runs", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)) < 0 ||
        (sw = H5Gcreate2(file, "sweep", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)) < 0) {
        rc = agora__h5_fail(err, AGORA_EHDF5, output, "cannot create /runs and /sweep");
        goto done;
    }
    const char *slash = strrchr(output, '/');
    const char *base = slash ? slash + 1 : output;
    for (size_t r = 0; r < n; r++) {
        const char *id = json_string_value(json_object_get(json_array_get(runs, r), "id"));
        char target[4200];
        snprintf(target, sizeof target, "%s.runs/%s.h5", base, id);
        if (H5Lcreate_external(target, "/", g, id, H5P_DEFAULT, H5P_DEFAULT) < 0) {
            rc = agora__h5_fail(err, AGORA_EHDF5, output, "cannot link /runs/%s", id);
            goto done;
        }
    }
    if ((rc = agora__h5_table_create(sw, "table", cols, c, 4, &table, err)))
        goto done;
    for (size_t r = 0; r < n; r++) {
        const json_t *run = json_array_get(runs, r), *ov = json_object_get(run, "overrides");
        int k = 0;
        cells[k++] = (agora__h5_cell){.s = json_string_value(json_object_get(run, "id"))};
        cells[k++] = (agora__h5_cell){.i = json_integer_value(json_object_get(run, "seed"))};
        cells[k++] = (agora__h5_cell){.s = rs[r].status};
        if (mixed)
            cells[k++] = (agora__h5_cell){.s = rs[r].budget};
        char *texts[64] = {0};
        for (size_t j = 0; j < kk; j++) {
            const json_t *val = json_object_get(ov, keys[j]);
            if (cols[first_key + (int)j].kind == AGORA__H5_FLOAT64) {
                cells[k++] = (agora__h5_cell){.f = json_number_value(val)};
            } else {
                char *t = json_is_string(val) ? strdup(json_string_value(val)) : agora__json_dumps(val, JSON_COMPACT);
                if (j < 64)
                    texts[j] = t;
                cells[k++] = (agora__h5_cell){.s = t};
            }
        }
        for (int m = 0; m < n_metrics; m++) {
            const json_t *mv = json_object_get(rs[r].metrics, model->metrics[m].name);
            cells[k++] = (agora__h5_cell){.f = json_is_number(mv) ? json_number_value(mv) : NAN};
        }
        rc = agora__h5_table_append(table, cells, NULL, err);
        for (size_t j = 0; j < kk && j < 64; j++)
            free(texts[j]);
        if (rc)
            goto done;
    }
    rc = agora__h5_table_flush(table, err);
done:
    agora__h5_table_close(table);
    agora__h5_close(&sw);
    agora__h5_close(&g);
    if (file >= 0 && H5Fclose(file) < 0 && rc == 0)
        rc = agora__h5_fail(err, AGORA_EIO, output, "cannot close the sweep file");
    if (rc == 0 && rename(tmp, output) != 0)
        rc = agora_error_set(err, AGORA_EIO, output, "cannot move the sweep file into place");
    if (rc)
        remove(tmp);
    free(cols);
    free(cells);
    free(keys);
    agora__h5_quiet_end(&q);
    return rc;
}

/* Runs the runs not skipped in `workers` forked processes (each takes the next run not taken yet); each reports a
 * finished run on a pipe in one write (atomic below PIPE_BUF): the run's index (4 bytes), 0/1 (complete/failed),
 * the length (2 bytes) and its final metrics as JSON (empty when too long: then they are read from the run file).
 * The parent shows progress as the reports come. */
static int run_in_workers(const char *scenario_path, const agora_sweep_options *opt, agora_llm_budget *budget,
                          run_state *rs, size_t n, int workers, agora_sweep_progress *pg, double t0)
{
    int fds[2];
    if (pipe(fds) != 0)
        return AGORA_EIO;
    fflush(NULL);
    pid_t *pids = calloc((size_t)workers, sizeof *pids);
    size_t *todo = calloc(n, sizeof *todo), n_todo = 0;
    /* the next run to take, shared by the workers: whoever is free takes the next one (runs differ in length) */
    atomic_long *next = mmap(NULL, sizeof *next, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (!pids || !todo || next == MAP_FAILED) {
        free(pids);
        free(todo);
        if (next != MAP_FAILED)
            munmap(next, sizeof *next);
        close(fds[0]);
        close(fds[1]);
        return AGORA_ENOMEM;
    }
    atomic_init(next, 0);
    for (size_t r = 0; r < n; r++)
        if (!rs[r].skipped)
            todo[n_todo++] = r;
    for (int w = 0; w < workers; w++) {
        pid_t pid = fork();
        if (pid < 0) {
            workers = w;
            break;
        }
        if (pid == 0) {
            close(fds[0]);
            for (;;) {
                const long k = atomic_fetch_add(next, 1);
                if (k >= (long)n_todo || (opt->cancel && *opt->cancel))
                    break;
                const size_t r = todo[k];
                int rc = do_run(scenario_path, opt, budget, &rs[r], 1);
                if (rc && rc != AGORA_ECANCELED) {
                    char msg[600];
                    agora_log(opt->logger, AGORA_LOG_ERROR, "run %s failed: %s",
                              json_string_value(json_object_get(rs[r].run, "id")),
                              agora_error_format(&rs[r].err, msg, sizeof msg));
                }
                /* the report: {"metrics": {...}, "budget": "..."} */
                json_t *report =
                    rs[r].metrics ? json_pack("{s:O, s:s}", "metrics", rs[r].metrics, "budget", rs[r].budget) : NULL;
                char *mj = report ? json_dumps(report, JSON_COMPACT) : NULL;
                json_decref(report);
                size_t ml = mj && strlen(mj) + 7 <= PIPE_BUF ? strlen(mj) : 0;
                unsigned char rec[PIPE_BUF];
                rec[0] = (unsigned char)(r >> 24);
                rec[1] = (unsigned char)(r >> 16);
                rec[2] = (unsigned char)(r >> 8);
                rec[3] = (unsigned char)r;
                rec[4] = (unsigned char)((rc != 0) | (rs[r].degraded && rc == 0) << 1); /* failed, degraded */
                rec[5] = (unsigned char)(ml >> 8);
                rec[6] = (unsigned char)ml;
                if (ml)
                    memcpy(rec + 7, mj, ml);
                free(mj);
                if (write(fds[1], rec, 7 + ml) != (ssize_t)(7 + ml))
                    _exit(1);
            }
            _exit(0);
        }
        pids[w] = pid;
    }
    close(fds[1]);
    unsigned char rec[PIPE_BUF];
    int stopped = 0;
    for (;;) {
        /* Waiting for the next report, the parent watches the cancel flag: a signal that reached only this
         * process (SIGTERM from a batch system, `kill PID`) is passed on to the workers as SIGTERM, which stop
         * their runs cleanly (a worker that had the signal already takes the repeat as the same request). */
        struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
        int ready = poll(&pfd, 1, 100);
        if (ready == 0 || (ready < 0 && errno == EINTR)) {
            if (!stopped && opt->cancel && *opt->cancel) {
                stopped = 1;
                for (int w = 0; w < workers; w++)
                    kill(pids[w], SIGTERM);
            }
            continue;
        }
        if (read_all(fds[0], rec, 7) != 0)
            break;
        const size_t r = (size_t)rec[0] << 24 | (size_t)rec[1] << 16 | (size_t)rec[2] << 8 | rec[3];
        const size_t ml = (size_t)rec[5] << 8 | rec[6];
        if (ml && read_all(fds[0], rec + 7, ml) != 0)
            break;
        if (r < n && ml) {
            rec[7 + ml] = '\0';
            json_t *report = json_loads((const char *)rec + 7, 0, NULL);
            json_decref(rs[r].metrics);
            rs[r].metrics = json_incref(json_object_get(report, "metrics"));
            snprintf(rs[r].budget, sizeof rs[r].budget, "%s",
                     json_string_value(json_object_get(report, "budget"))
                         ? json_string_value(json_object_get(report, "budget"))
                         : "");
            json_decref(report);
            rs[r].reported = 1;
            rs[r].failed = (rec[4] & 1) != 0;
            rs[r].degraded = (rec[4] & 2) != 0;
        }
        pg->done++;
        pg->failed += (rec[4] & 1) != 0;
        pg->degraded += (rec[4] & 2) != 0;
        if (opt->progress && !stopped) {
            agora_sweep_progress p = *pg;
            p.elapsed_s = agora__now() - t0;
            if (opt->progress(opt->ud, &p)) { /* the caller wants to stop: so do the workers */
                stopped = 1;
                for (int w = 0; w < workers; w++)
                    kill(pids[w], SIGTERM);
            }
        }
    }
    close(fds[0]);
    for (int w = 0; w < workers; w++)
        waitpid(pids[w], NULL, 0);
    free(pids);
    free(todo);
    munmap(next, sizeof *next);
    /* what the workers left: reported metrics, else a complete run file, or not */
    for (size_t r = 0; r < n; r++) {
        if (rs[r].skipped)
            continue;
        if (rs[r].reported && !rs[r].failed && rs[r].metrics) {
            snprintf(rs[r].status, sizeof rs[r].status, "%s", rs[r].degraded ? "degraded" : "complete");
            continue;
        }
        json_decref(rs[r].metrics);
        rs[r].metrics = NULL;
        if ((rs[r].metrics = finished_run(rs[r].path, run_hash(scenario_path, opt, &rs[r]), rs[r].status,
                                          sizeof rs[r].status, rs[r].budget, sizeof rs[r].budget))) {
            rs[r].degraded = strcmp(rs[r].status, "degraded") == 0;
            pg->degraded += rs[r].degraded && !rs[r].reported;
        } else {
            FILE *f = fopen(rs[r].path, "rb");
            const int canceled = opt->cancel && *opt->cancel;
            snprintf(rs[r].status, sizeof rs[r].status, !f ? "not run" : canceled ? "interrupted" : "failed");
            if (f) {
                fclose(f);
                rs[r].rc = canceled ? AGORA_ECANCELED : AGORA_EINTERNAL;
                agora_error_set(&rs[r].err, rs[r].rc, rs[r].path,
                                canceled ? "interrupted" : "the run did not complete (see above)");
            }
        }
    }
    return 0;
}

int agora_sweep_run(const char *scenario_path, const json_t *runs, const agora_sweep_options *opt,
                    agora_sweep_progress *result, agora_error *err)
{
    const size_t n = json_array_size(runs);
    if (result)
        memset(result, 0, sizeof *result);
    if (!scenario_path || !opt || !opt->output || n == 0)
        return agora_error_set(err, AGORA_EINVAL, "sweep", "a scenario, runs and an output file are needed");
    agora_scenario *sc = NULL;
    json_t *def = NULL;
    run_state *rs = NULL;
    agora_llm_budget *budget = NULL;
    int rc = agora_scenario_load(scenario_path, &sc, err);
    if (rc)
        return rc;
    const agora_model *model = agora_scenario_model(sc);
    if (!model) {
        rc = agora_error_set(err, AGORA_EINVAL, "mode",
                             "a sweep runs mechanics or mixed scenarios; for interactions use agora interact --runs N");
        goto done;
    }
    /* Another sweep in the same file is refused before anything is written (or replaced, with overwrite). */
    if ((rc = sweep_definition(scenario_path, runs, opt, &def, err)) ||
        (rc = check_master(scenario_path, def, opt, err)))
        goto done;
    char dir[4200];
    snprintf(dir, sizeof dir, "%s.runs", opt->output);
    if ((rc = agora__mkdirs(dir, err)))
        goto done;
    if (!(rs = calloc(n, sizeof *rs))) {
        rc = agora_error_set(err, AGORA_ENOMEM, "sweep", "out of memory");
        goto done;
    }
    const int cores = agora__threads_cap(opt->threads > 0 ? opt->threads : omp_get_max_threads(), opt->logger);
    const int ranks = opt->size > 1 ? opt->size : 1, rank = ranks > 1 ? opt->rank : 0;
    agora_sweep_progress pg = {.total = (int64_t)n};
    const int mixed = json_object_get(agora_scenario_config(sc), "personas") != NULL;
    /* The sweep's LLM budget, shared by this process and the workers it forks; MPI ranks split it evenly (the
     * first ranks take the remainder of the calls and tokens). A rank whose share is no call at all gets a budget
     * already spent, since 0 would mean "no limit". */
    if (opt->max_calls > 0 || opt->max_tokens > 0 || opt->max_cost > 0) {
        const int64_t nr = opt->size > 1 ? opt->size : 1, me = opt->size > 1 ? opt->rank : 0;
        int64_t calls = opt->max_calls / nr + (me < opt->max_calls % nr);
        int64_t tokens = opt->max_tokens / nr + (me < opt->max_tokens % nr);
        const int spent = (opt->max_calls > 0 && calls == 0) || (opt->max_tokens > 0 && tokens == 0);
        if ((rc = agora_llm_budget_create(spent ? 1 : calls, spent ? 0 : tokens, opt->max_cost / (double)nr, &budget,
                                          err)))
            goto done;
        if (spent)
            agora_llm_budget_reserve(budget, 1);
    }
    /* Runs already complete from an earlier attempt, with the configuration they have now. A complete file made by
     * another configuration is removed by the process that will rerun it, so that a rerun that fails cannot leave it
     * looking like this run's result. */
    size_t todo = 0;
    for (size_t r = 0; r < n; r++) {
        rs[r].run = json_array_get(runs, r);
        run_path(opt->output, json_string_value(json_object_get(rs[r].run, "id")), rs[r].path, sizeof rs[r].path);
        struct stat st;
        int stale = 0;
        if (stat(rs[r].path, &st) == 0 &&
            (rs[r].metrics = reusable_metrics(rs[r].path, run_hash(scenario_path, opt, &rs[r]), &stale))) {
            rs[r].skipped = 1;
            snprintf(rs[r].status, sizeof rs[r].status, "complete");
            pg.skipped++;
            pg.done++;
            continue;
        }
        todo++;
        if (stale) {
            pg.replaced++;
            if ((int)(r % (size_t)ranks) == rank)
                remove(rs[r].path);
        }
    }
    if (pg.skipped > 0)
        agora_log(opt->logger, AGORA_LOG_INFO, "%lld of %lld runs already complete: skipped", (long long)pg.skipped,
                  (long long)n);
    for (size_t r = 0; r < n && mixed; r++) { /* the budget notes of the runs skipped, for the table */
        char st[16];
        if (rs[r].skipped)
            json_decref(finished_run(rs[r].path, rs[r].hash, st, sizeof st, rs[r].budget, sizeof rs[r].budget));
    }
    if (pg.replaced > 0 && rank == 0)
        agora_log(opt->logger, AGORA_LOG_WARN,
                  "%lld run file%s in %s were made by another configuration (other values, steps, scenario or agora "
                  "version): rerunning %s",
                  (long long)pg.replaced, pg.replaced == 1 ? "" : "s", dir, pg.replaced == 1 ? "it" : "them");
    if (rank == 0) {
        if (opt->overwrite)
            remove_orphans(dir, runs);
        /* The master file first: it records what this sweep is before any run starts, so that an interrupted sweep
         * is recognised by the next command (resumed when it is the same, refused when not). */
        for (size_t r = 0; r < n; r++)
            if (!rs[r].skipped)
                snprintf(rs[r].status, sizeof rs[r].status, "not run");
        rc = write_master(opt->output, runs, rs, model, mixed, def, "running", err);
        for (size_t r = 0; r < n; r++)
            if (!rs[r].skipped)
                rs[r].status[0] = '\0';
        if (rc)
            goto done;
    }
    /* Many runs: `cores` worker processes, one run at a time each on one thread (processes, not threads: the
     * HDF5 library serialises every call behind one lock, so threads writing run files would mostly wait for
     * each other). Few runs: one after another in this process with every thread. */
    const int parallel = ranks == 1 && todo >= (size_t)cores && cores > 1;
    const double t0 = agora__now();
    atomic_int stop = 0;
    atomic_llong done = pg.done, failed = 0;
    if (parallel) {
        rc = run_in_workers(scenario_path, opt, budget, rs, n, cores, &pg, t0);
        atomic_store(&done, pg.done);
        atomic_store(&failed, pg.failed);
        if (rc) {
            rc = agora_error_set(err, rc, "sweep", "cannot start worker processes");
            goto done;
        }
    }
    for (size_t r = 0; r < n && !parallel; r++) {
        if (rs[r].skipped || atomic_load(&stop) || (opt->cancel && *opt->cancel))
            continue;
        if ((int)(r % (size_t)ranks) != rank) { /* another rank's */
            rs[r].other = 1;
            continue;
        }
        rs[r].rc = do_run(scenario_path, opt, budget, &rs[r], ranks > 1 && opt->threads <= 0 ? 1 : cores);
        if (rs[r].rc && !rs[r].status[0])
            snprintf(rs[r].status, sizeof rs[r].status, "failed");
        if (rs[r].rc)
            atomic_fetch_add(&failed, 1);
        pg.degraded += rs[r].rc == 0 && rs[r].degraded;
        long long d = atomic_fetch_add(&done, 1) + 1;
        if (opt->progress) {
            agora_sweep_progress p = {.done = d,
                                      .total = (int64_t)n,
                                      .skipped = pg.skipped,
                                      .failed = atomic_load(&failed),
                                      .elapsed_s = agora__now() - t0,
                                      .replaced = pg.replaced};
            if (opt->progress(opt->ud, &p))
                atomic_store(&stop, 1);
        }
    }
    pg.done = atomic_load(&done);
    pg.failed = atomic_load(&failed);
    pg.elapsed_s = agora__now() - t0;
    if (ranks > 1) {
        if (opt->barrier)
            opt->barrier(opt->ud);
        for (size_t r = 0; r < n && rank == 0; r++) { /* rank 0 reads the other ranks' runs from their files */
            if (!rs[r].other)
                continue;
            if ((rs[r].metrics = finished_run(rs[r].path, run_hash(scenario_path, opt, &rs[r]), rs[r].status,
                                              sizeof rs[r].status, rs[r].budget, sizeof rs[r].budget))) {
                pg.done++;
                pg.degraded += strcmp(rs[r].status, "degraded") == 0;
            } else {
                snprintf(rs[r].status, sizeof rs[r].status, "failed");
                rs[r].rc = AGORA_EINTERNAL;
                agora_error_set(&rs[r].err, AGORA_EINTERNAL, rs[r].path, "the run did not complete on its rank");
                pg.failed++;
            }
        }
    }
    rc = 0;
    if (rank == 0) { /* the master file: written by the only process, or by rank 0 */
        int all = 1;
        for (size_t r = 0; r < n; r++) {
            if (!rs[r].status[0])
                snprintf(rs[r].status, sizeof rs[r].status, "not run");
            all &= strcmp(rs[r].status, "complete") == 0 || strcmp(rs[r].status, "degraded") == 0;
        }
        double tm = agora__now();
        rc = write_master(opt->output, runs, rs, model, mixed, def, all ? "complete" : "incomplete", err);
        agora_log(opt->logger, AGORA_LOG_DEBUG, "runs %.3f s, sweep file %.3f s", tm - t0, agora__now() - tm);
    }
    if (rc == 0) {
        for (size_t r = 0; r < n; r++)
            if (rs[r].rc && rs[r].rc != AGORA_ECANCELED) {
                char msg[600];
                agora_error_format(&rs[r].err, msg, sizeof msg);
                rc = agora_error_set(err, rs[r].rc, json_string_value(json_object_get(rs[r].run, "id")),
                                     "run failed: %s", msg);
                break;
            }
        if (rc == 0 && rank == 0 && pg.done < (int64_t)n)
            rc = agora_error_set(err, AGORA_ECANCELED, "sweep",
                                 "stopped after %lld of %lld runs (run the same command "
                                 "again to finish)",
                                 (long long)pg.done, (long long)n);
    }
    if (result)
        *result = pg;
done:
    for (size_t r = 0; rs && r < n; r++)
        json_decref(rs[r].metrics);
    free(rs);
    agora_llm_budget_destroy(budget);
    json_decref(def);
    agora_scenario_destroy(sc);
    return rc;
}
