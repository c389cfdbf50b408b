/* agora — the pre-flight of a run: everything agora_run does before its first step, in pieces agora_run calls one by
 * one and agora_run_check (`agora validate`) calls all at once without writing anything, so that validate finds
 * every problem run would find before the first step and the two cannot drift apart.
 *
 * The pieces: the space and the world (an edge-list file must be there and well formed, counts must fit the
 * population, the thread count is capped at the machine's cores), the personas and a replay recording, the output
 * target (agora never overwrites the scenario, a file that is not HDF5 or an HDF5 file it did not write, unless
 * forced) and the interventions a shortened run skips. See check.h and include/agora/run.h. */
#define _XOPEN_SOURCE 700 /* realpath */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <hdf5.h>
#include <omp.h>

#include "agora/agora.h"
#include "core/internal.h"
#include "io/h5internal.h"
#include "runner/check.h"

/* ---- the output target ------------------------------------------------------------------------------------------- */

/* Whether the file starts with the HDF5 signature (at byte 0, or 512, 1024, ... after a user block). */
static int hdf5_signature(FILE *f)
{
    static const unsigned char sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    for (long off = 0;; off = off ? 2 * off : 512) {
        unsigned char b[8];
        if (fseek(f, off, SEEK_SET) != 0 || fread(b, 1, 8, f) != 8)
            return 0;
        if (memcmp(b, sig, 8) == 0)
            return 1;
    }
}

/* Whether the first MiB of the file holds the bytes "agora_version": the name of agora's first root attribute, which
 * HDF5 stores as written. Used only for an HDF5 file the library cannot open (a writer killed before its file was
 * complete), to tell a run file of ours from a stranger's. */
static int mentions_agora(FILE *f)
{
    static const char needle[] = "agora_version";
    const size_t nl = sizeof needle - 1;
    char *buf = malloc(1 << 20);
    if (!buf || fseek(f, 0, SEEK_SET) != 0) {
        free(buf);
        return 0;
    }
    size_t n = fread(buf, 1, 1 << 20, f);
    int found = 0;
    for (size_t i = 0; !found && i + nl <= n; i++)
        found = buf[i] == 'a' && memcmp(buf + i, needle, nl) == 0;
    free(buf);
    return found;
}

agora__out_kind agora__output_kind(const char *path, const char *scenario_path, json_t **attrs)
{
    if (attrs)
        *attrs = NULL;
    struct stat st;
    if (!path || !path[0] || stat(path, &st) != 0)
        return AGORA__OUT_ABSENT;
    if (scenario_path) {
        char a[PATH_MAX], b[PATH_MAX];
        if (realpath(path, a) && realpath(scenario_path, b) && strcmp(a, b) == 0)
            return AGORA__OUT_SCENARIO;
    }
    if (!S_ISREG(st.st_mode))
        return AGORA__OUT_OTHER;
    FILE *f = fopen(path, "rb");
    if (!f)
        return AGORA__OUT_OTHER;
    int is_h5 = hdf5_signature(f);
    if (!is_h5) {
        fclose(f);
        return AGORA__OUT_OTHER;
    }
    agora__h5_quiet q;
    agora__h5_quiet_begin(&q);
    /* Normally, else through SWMR: a killed (or running) writer leaves the file marked open for SWMR writing. */
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (file < 0)
        file = H5Fopen(path, H5F_ACC_RDONLY | H5F_ACC_SWMR_READ, H5P_DEFAULT);
    agora__out_kind kind;
    if (file < 0) {
        kind = mentions_agora(f) ? AGORA__OUT_AGORA : AGORA__OUT_FOREIGN;
    } else {
        kind = H5Aexists(file, "agora_version") > 0 ? AGORA__OUT_AGORA : AGORA__OUT_FOREIGN;
        if (kind == AGORA__OUT_AGORA && attrs) {
            static const char *const parsed[] = {"sweep", NULL};
            if (agora__h5_attrs_json(file, parsed, attrs, NULL) != 0)
                *attrs = NULL;
        }
        H5Fclose(file);
    }
    agora__h5_quiet_end(&q);
    fclose(f);
    return kind;
}

int agora__output_check(const char *path, const char *scenario_path, int force, const char *where,
                        const char *force_hint, agora_error *err)
{
    if (force)
        return 0;
    const char *hint = force_hint ? force_hint : "force";
    switch (agora__output_kind(path, scenario_path, NULL)) {
    case AGORA__OUT_ABSENT:
    case AGORA__OUT_AGORA:
        return 0;
    case AGORA__OUT_SCENARIO:
        return agora_error_set(err, AGORA_EINVAL, where,
                               "%s is the scenario file itself: not overwritten (choose another output file, or "
                               "%s to replace it anyway)",
                               path, hint);
    case AGORA__OUT_FOREIGN:
        return agora_error_set(err, AGORA_EINVAL, where,
                               "%s exists and is an HDF5 file agora did not write: not overwritten (choose another "
                               "output file, or %s to replace it)",
                               path, hint);
    case AGORA__OUT_OTHER:
        break;
    }
    return agora_error_set(err, AGORA_EINVAL, where,
                           "%s exists and is not an agora file (not HDF5): not overwritten (choose another output "
                           "file, or %s to replace it)",
                           path, hint);
}

/* ---- threads ----------------------------------------------------------------------------------------------------- */

int agora__threads_cap(int threads, const agora_logger *lg)
{
    const int procs = omp_get_num_procs();
    if (threads <= procs || procs < 1)
        return threads;
    agora_log(lg, AGORA_LOG_WARN, "threads: %d requested, but this machine has %d core%s: using %d", threads, procs,
              procs == 1 ? "" : "s", procs);
    return procs;
}

/* ---- the world --------------------------------------------------------------------------------------------------- */

/* An error about a key of the scenario ("space.path", "params.initial_infected") is the scenario's: it is located
 * at file:line:col (or at the override that set the key). */
static void locate_key(const agora_scenario *sc, agora_error *err, const char *prefix)
{
    if (err && strncmp(err->where, prefix, strlen(prefix)) == 0 &&
        (err->where[strlen(prefix)] == '\0' || err->where[strlen(prefix)] == '.'))
        agora_scenario_locate(sc, err);
}

int agora__run_world(const agora_scenario *sc, const agora_logger *lg, agora_world **out, agora_error *err)
{
    *out = NULL;
    const json_t *cfg = agora_scenario_config(sc);
    const agora_model *model = agora_scenario_model(sc);
    if (!model)
        return agora_error_set(err, AGORA_EINVAL, "mode", "an interactions scenario has no world");
    const uint64_t seed = (uint64_t)json_integer_value(json_object_get(cfg, "seed"));
    agora_space *space = NULL;
    int rc = agora_space_create(json_object_get(cfg, "space"), agora_rng_key_from_seed(seed),
                                agora_scenario_base_dir(sc), &space, err);
    if (rc) {
        locate_key(sc, err, "space");
        return rc;
    }
    char desc[256];
    agora_log(lg, AGORA_LOG_INFO, "space: %s", agora_space_describe(space, desc, sizeof desc));
    agora_world_config wc = {.model = model,
                             .space = space, /* the world owns it, even on failure */
                             .params = json_object_get(cfg, "params"),
                             .seed = seed,
                             .threads =
                                 agora__threads_cap((int)json_integer_value(json_object_get(cfg, "threads")), lg),
                             .logger = lg};
    if ((rc = agora_world_create(&wc, out, err)))
        locate_key(sc, err, "params");
    return rc;
}

/* ---- personas ---------------------------------------------------------------------------------------------------- */

int agora__run_personas(const agora_scenario *sc, const agora_run_options *opt, const char *output,
                        agora_personas **out, char *replay_used, agora_error *err)
{
    static const agora_run_options none;
    if (!opt)
        opt = &none;
    *out = NULL;
    if (replay_used)
        replay_used[0] = '\0';
    const json_t *cfg = agora_scenario_config(sc);
    const json_t *pcfg = json_object_get(cfg, "personas");
    if (!pcfg)
        return 0;
    agora_personas *ps = NULL;
    int rc = agora_personas_create(json_object_get(cfg, "llm"), pcfg, agora_scenario_model(sc), &ps, err);
    if (rc) {
        agora_scenario_locate(sc, err);
        return rc;
    }
    if (opt->llm_offline)
        agora_personas_force_offline(ps);
    /* --replay, or llm: {provider: replay, path} (relative to the scenario's directory) */
    char scenario_replay[4096] = "";
    const char *rp = agora_personas_replay_path(ps);
    const int given = opt->replay && opt->replay[0];
    if (rp && !given) {
        const char *dir = agora_scenario_base_dir(sc);
        snprintf(scenario_replay, sizeof scenario_replay, "%s%s%s", rp[0] == '/' || !dir ? "" : dir,
                 rp[0] == '/' || !dir ? "" : "/", rp);
    }
    const char *replay = given ? opt->replay : scenario_replay[0] ? scenario_replay : NULL;
    if (replay) {
        char a[PATH_MAX], b[PATH_MAX];
        if (output && realpath(replay, a) && realpath(output, b) && strcmp(a, b) == 0) {
            rc = agora_error_set(err, AGORA_EINVAL, "--replay",
                                 "%s is the recording being replayed: give the new run another file with -o", replay);
            goto done;
        }
        json_t *calls = NULL;
        if ((rc = agora_h5_llm_calls(replay, &calls, err)) != 0 && err && rc != AGORA_ENOMEM) {
            /* a recording that cannot be read is the user's to fix: name the option or the scenario key */
            char msg[sizeof err->msg];
            memcpy(msg, err->msg, sizeof msg);
            msg[sizeof msg - 1] = '\0';
            snprintf(err->msg, sizeof err->msg, "%.200s: %.300s", replay, msg);
            snprintf(err->where, sizeof err->where, "%s", given ? "--replay" : "llm.path");
            err->line = err->column = 0;
            if (!given)
                agora_scenario_locate(sc, err);
        }
        if (rc == 0)
            rc = agora_personas_replay(ps, calls, opt->replay_until, opt->replay_lenient, err);
        json_decref(calls);
        if (rc)
            goto done;
        if (replay_used)
            snprintf(replay_used, 4096, "%s", replay);
    }
done:
    if (rc)
        agora_personas_destroy(ps);
    else
        *out = ps;
    return rc;
}

/* ---- interventions ----------------------------------------------------------------------------------------------- */

int agora__run_late_interventions(const agora_scenario *sc, const agora_logger *lg, agora_writer *wr, agora_error *err)
{
    const json_t *cfg = agora_scenario_config(sc);
    const json_int_t steps = json_integer_value(json_object_get(cfg, "steps"));
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(cfg, "interventions"), i, it) {
        const json_int_t at = json_integer_value(json_object_get(it, "at"));
        if (at <= steps)
            continue;
        const char *source = json_string_value(json_object_get(it, "source"));
        char *text = agora__json_dumps(json_object_get(it, "action"), JSON_COMPACT);
        char msg[160];
        snprintf(msg, sizeof msg, "scheduled at step %lld, after the last step (%lld)", (long long)at,
                 (long long)steps);
        agora_log(lg, AGORA_LOG_WARN, "interventions[%zu]: skipped: %s %s", i, text ? text : "{}", msg);
        int rc =
            wr ? agora_writer_event(wr, at, source ? source : "scenario", text ? text : "{}", "skipped", msg, err) : 0;
        free(text);
        if (rc)
            return rc;
    }
    return 0;
}

/* ---- agora_run_check --------------------------------------------------------------------------------------------- */

int agora_run_check(const agora_scenario *sc, const agora_run_options *options, agora_error *err)
{
    static const agora_run_options none;
    const agora_run_options *opt = options ? options : &none;
    if (!sc)
        return agora_error_set(err, AGORA_EINVAL, NULL, "agora_run_check needs a scenario");
    const json_t *cfg = agora_scenario_config(sc);
    const char *path = json_string_value(json_object_get(json_object_get(cfg, "output"), "path"));
    int rc;
    if (!agora_scenario_model(sc)) { /* mode: interactions */
        json_t *calls = NULL;
        if (opt->replay && opt->replay[0] && (rc = agora_h5_llm_calls(opt->replay, &calls, err)))
            return rc;
        rc = agora__interact_preflight(sc, calls, err);
        json_decref(calls);
    } else {
        agora_world *w = NULL;
        agora_personas *ps = NULL;
        if ((rc = agora__run_world(sc, opt->logger, &w, err)) == 0 &&
            (rc = agora__run_personas(sc, opt, path, &ps, NULL, err)) == 0)
            rc = agora__run_late_interventions(sc, opt->logger, NULL, err);
        agora_personas_destroy(ps);
        agora_world_destroy(w);
    }
    if (rc == 0 && (rc = agora__output_check(path, agora_scenario_path(sc), opt->force, "output.path", "--force", err)))
        agora_scenario_locate(sc, err);
    return rc;
}
