/* agora — reading a run file back: agora_h5_inspect, agora_h5_llm_calls, agora_h5_tables and agora_h5_table
 * (output.h). Attributes as JSON are read by h5util.c, tables with their continuation rows joined by h5table.c.
 *
 * A run file is opened normally first. A file whose writer was killed still carries the "open for SWMR writing"
 * mark, which a normal open refuses; such a file (or one still being written) is opened for SWMR reading instead,
 * which sees every flushed row. Nothing here writes to the file, so inspecting never changes a run. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <hdf5.h>
#include <hdf5_hl.h>

#include "agora/output.h"
#include "io/h5internal.h"

/* ---- agora_h5_inspect ------------------------------------------------------------------------------------------ */

/* Whether the file carries the HDF5 signature, which sits at byte 0 or at 512, 1024, 2048, ... (a user block). */
static int has_hdf5_signature(const char *path)
{
    static const unsigned char sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    int found = 0;
    for (long off = 0; !found; off = off ? 2 * off : 512) {
        unsigned char b[8];
        if (fseek(f, off, SEEK_SET) != 0 || fread(b, 1, 8, f) != 8)
            break;
        found = memcmp(b, sig, 8) == 0;
    }
    fclose(f);
    return found;
}

/* Members of a group in creation order (by name if the group does not track it). */
static herr_t name_visit(hid_t g, const char *name, const H5L_info_t *info, void *data)
{
    (void)g;
    (void)info;
    return json_array_append_new((json_t *)data, json_string(name)) < 0 ? -1 : 0;
}

static json_t *member_names(hid_t g)
{
    json_t *names = json_array();
    if (!names)
        return NULL;
    if (H5Literate(g, H5_INDEX_CRT_ORDER, H5_ITER_INC, NULL, name_visit, names) < 0) {
        json_array_clear(names);
        if (H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, NULL, name_visit, names) < 0) {
            json_decref(names);
            return NULL;
        }
    }
    return names;
}

/* Length of a 1-D dataset and, when rows > 0, its first and last values read as `mtype` into first/last. */
static int series_ends(hid_t d, hid_t mtype, hsize_t *rows, void *first, void *last)
{
    hid_t fspace = H5Dget_space(d), mspace = H5I_INVALID_HID;
    int rc = -1;
    hsize_t n = 0, one = 1, pos;
    if (fspace < 0 || H5Sget_simple_extent_ndims(fspace) != 1 || H5Sget_simple_extent_dims(fspace, &n, NULL) < 0)
        goto done;
    *rows = n;
    if (n > 0) {
        if ((mspace = H5Screate_simple(1, &one, NULL)) < 0)
            goto done;
        pos = 0;
        if (first && (H5Sselect_hyperslab(fspace, H5S_SELECT_SET, &pos, NULL, &one, NULL) < 0 ||
                      H5Dread(d, mtype, mspace, fspace, H5P_DEFAULT, first) < 0))
            goto done;
        pos = n - 1;
        if (last && (H5Sselect_hyperslab(fspace, H5S_SELECT_SET, &pos, NULL, &one, NULL) < 0 ||
                     H5Dread(d, mtype, mspace, fspace, H5P_DEFAULT, last) < 0))
            goto done;
    }
    rc = 0;
done:
    agora__h5_close(&mspace);
    agora__h5_close(&fspace);
    return rc;
}

static int inspect_time(hid_t file, json_t *info, agora_error *err)
{
    json_t *o = json_pack("{s:I, s:n, s:n}", "rows", (json_int_t)0, "first", "last");
    if (!o)
        return agora_error_set(err, AGORA_ENOMEM, NULL, "out of memory");
    json_object_set_new(info, "time", o);
    if (H5Lexists(file, "time", H5P_DEFAULT) <= 0)
        return 0;
    hid_t d = H5Dopen2(file, "time", H5P_DEFAULT);
    hsize_t rows = 0;
    int64_t first = 0, last = 0;
    if (d < 0 || series_ends(d, H5T_NATIVE_INT64, &rows, &first, &last) < 0) {
        int rc = agora__h5_fail(err, AGORA_EHDF5, "time", "cannot read /time");
        agora__h5_close(&d);
        return rc;
    }
    H5Dclose(d);
    json_object_set_new(o, "rows", json_integer((json_int_t)rows));
    if (rows > 0) {
        json_object_set_new(o, "first", json_integer(first));
        json_object_set_new(o, "last", json_integer(last));
    }
    return 0;
}

static int inspect_metrics(hid_t file, json_t *info, agora_error *err)
{
    json_t *o = json_object(), *names = NULL;
    hid_t g = H5I_INVALID_HID, d = H5I_INVALID_HID;
    int rc = 0;
    if (!o)
        return agora_error_set(err, AGORA_ENOMEM, NULL, "out of memory");
    json_object_set_new(info, "metrics", o);
    if (H5Lexists(file, "metrics", H5P_DEFAULT) <= 0)
        return 0;
    if ((g = H5Gopen2(file, "metrics", H5P_DEFAULT)) < 0 || !(names = member_names(g))) {
        rc = agora__h5_fail(err, AGORA_EHDF5, "metrics", "cannot list /metrics");
        goto done;
    }
    size_t k;
    json_t *jn;
    json_array_foreach(names, k, jn) {
        const char *name = json_string_value(jn);
        if ((d = H5Dopen2(g, name, H5P_DEFAULT)) < 0) {
            rc = agora__h5_fail(err, AGORA_EHDF5, name, "cannot open /metrics/%s", name);
            goto done;
        }
        /* /metrics/time is the link to the /time scale, not a metric. */
        if (H5DSis_scale(d) <= 0) {
            hsize_t rows = 0;
            double last = 0;
            if (series_ends(d, H5T_NATIVE_DOUBLE, &rows, NULL, &last) < 0) {
                rc = agora__h5_fail(err, AGORA_EHDF5, name, "cannot read /metrics/%s", name);
                goto done;
            }
            json_object_set_new(o, name, rows > 0 ? agora__h5_real_json(last) : json_null());
        }
        agora__h5_close(&d);
    }
done:
    json_decref(names);
    agora__h5_close(&d);
    agora__h5_close(&g);
    return rc;
}

static int inspect_snapshots(hid_t file, json_t *info, agora_error *err)
{
    json_t *times = json_array(), *fields = json_object(), *names = NULL;
    hid_t g = H5I_INVALID_HID, d = H5I_INVALID_HID, space = H5I_INVALID_HID;
    int64_t *tv = NULL;
    int rc = 0;
    json_t *o = json_pack("{s:i, s:o, s:o}", "count", 0, "times", times, "fields", fields);
    if (!o)
        return agora_error_set(err, AGORA_ENOMEM, NULL, "out of memory");
    json_object_set_new(info, "snapshots", o);
    if (H5Lexists(file, "snapshots", H5P_DEFAULT) <= 0)
        return 0;
    if ((g = H5Gopen2(file, "snapshots", H5P_DEFAULT)) < 0 || !(names = member_names(g))) {
        rc = agora__h5_fail(err, AGORA_EHDF5, "snapshots", "cannot list /snapshots");
        goto done;
    }
    if (H5Lexists(g, "time", H5P_DEFAULT) > 0) {
        hsize_t n = 0;
        if ((d = H5Dopen2(g, "time", H5P_DEFAULT)) < 0 || (space = H5Dget_space(d)) < 0 ||
            H5Sget_simple_extent_dims(space, &n, NULL) < 0) {
            rc = agora__h5_fail(err, AGORA_EHDF5, "snapshots/time", "cannot read /snapshots/time");
            goto done;
        }
        if (n > 0) {
            if (!(tv = malloc(n * sizeof *tv))) {
                rc = agora_error_set(err, AGORA_ENOMEM, NULL, "out of memory");
                goto done;
            }
            if (H5Dread(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, tv) < 0) {
                rc = agora__h5_fail(err, AGORA_EHDF5, "snapshots/time", "cannot read /snapshots/time");
                goto done;
            }
        }
        for (hsize_t k = 0; k < n; k++)
            json_array_append_new(times, json_integer(tv[k]));
        json_object_set_new(o, "count", json_integer((json_int_t)n));
        agora__h5_close(&space);
        agora__h5_close(&d);
    }
    size_t k;
    json_t *jn;
    json_array_foreach(names, k, jn) {
        const char *name = json_string_value(jn);
        hsize_t dims[H5S_MAX_RANK];
        int rank;
        if ((d = H5Dopen2(g, name, H5P_DEFAULT)) < 0) {
            rc = agora__h5_fail(err, AGORA_EHDF5, name, "cannot open /snapshots/%s", name);
            goto done;
        }
        if (H5DSis_scale(d) <= 0) {
            if ((space = H5Dget_space(d)) < 0 || (rank = H5Sget_simple_extent_dims(space, dims, NULL)) < 0) {
                rc = agora__h5_fail(err, AGORA_EHDF5, name, "cannot read /snapshots/%s", name);
                goto done;
            }
            json_t *shape = json_array();
            for (int r = 0; r < rank; r++)
                json_array_append_new(shape, json_integer((json_int_t)dims[r]));
            json_object_set_new(fields, name, shape);
            agora__h5_close(&space);
        }
        agora__h5_close(&d);
    }
done:
    free(tv);
    json_decref(names);
    agora__h5_close(&space);
    agora__h5_close(&d);
    agora__h5_close(&g);
    return rc;
}

static int inspect_events(hid_t file, json_t *info, agora_error *err)
{
    json_t *rows = NULL;
    if (H5Lexists(file, "events", H5P_DEFAULT) > 0) {
        int rc = agora__h5_table_read(file, "events", &rows, err);
        if (rc)
            return rc;
    } else if (!(rows = json_array())) {
        return agora_error_set(err, AGORA_ENOMEM, NULL, "out of memory");
    }
    json_t *o = json_pack("{s:I, s:o}", "count", (json_int_t)json_array_size(rows), "rows", rows);
    if (!o)
        return agora_error_set(err, AGORA_ENOMEM, NULL, "out of memory");
    json_object_set_new(info, "events", o);
    return 0;
}

/* Per-persona totals of /llm/calls, one object per persona id. */
static json_t *persona_totals(void)
{
    return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:n, s:n}", "calls", (json_int_t)0, "ok", (json_int_t)0,
                     "invalid", (json_int_t)0, "failed", (json_int_t)0, "skipped", (json_int_t)0, "prompt_tokens",
                     (json_int_t)0, "completion_tokens", (json_int_t)0, "latency_ms_mean", "latency_ms_max");
}

static void add_count(json_t *o, const char *key, json_int_t n)
{
    json_object_set_new(o, key, json_integer(json_integer_value(json_object_get(o, key)) + n));
}

/* personas: [{id, name, role, provider, model}] from /personas, and llm: {calls, per_persona} from /llm/calls.
 * Neither key is set in a file without personas. */
static int inspect_personas(hid_t file, json_t *info, agora_error *err)
{
    static const char *const keys[] = {"name", "role", "provider", "model"};
    hid_t g = H5I_INVALID_HID, p = H5I_INVALID_HID;
    json_t *names = NULL, *list = NULL, *per = NULL, *calls = NULL, *attrs = NULL;
    int rc = 0;
    int have_personas = H5Lexists(file, "personas", H5P_DEFAULT) > 0;
    int have_calls = H5Lexists(file, "llm", H5P_DEFAULT) > 0 && H5Lexists(file, "llm/calls", H5P_DEFAULT) > 0;
    if (!have_personas && !have_calls)
        return 0;
    if (!(list = json_array()) || !(per = json_object()))
        goto nomem;
    if (have_personas) {
        if ((g = H5Gopen2(file, "personas", H5P_DEFAULT)) < 0 || !(names = member_names(g))) {
            rc = agora__h5_fail(err, AGORA_EHDF5, "personas", "cannot list /personas");
            goto done;
        }
        size_t k;
        json_t *jn;
        json_array_foreach(names, k, jn) {
            const char *id = json_string_value(jn);
            if ((p = H5Gopen2(g, id, H5P_DEFAULT)) < 0) {
                rc = agora__h5_fail(err, AGORA_EHDF5, id, "cannot open /personas/%s", id);
                goto done;
            }
            if ((rc = agora__h5_attrs_json(p, NULL, &attrs, err)))
                goto done;
            agora__h5_close(&p);
            json_t *o = json_pack("{s:s}", "id", id);
            if (!o || json_array_append_new(list, o) < 0)
                goto nomem;
            for (size_t j = 0; j < sizeof keys / sizeof keys[0]; j++) {
                json_t *v = json_object_get(attrs, keys[j]);
                json_object_set_new(o, keys[j], json_is_string(v) ? json_incref(v) : json_string(""));
            }
            json_decref(attrs);
            attrs = NULL;
            if (json_object_set_new(per, id, persona_totals()) < 0)
                goto nomem;
        }
    }
    json_int_t n_calls = 0;
    if (have_calls) {
        if ((rc = agora__h5_table_read(file, "llm/calls", &calls, err)))
            goto done;
        n_calls = (json_int_t)json_array_size(calls);
        size_t k;
        json_t *row;
        json_array_foreach(calls, k, row) {
            const char *id = json_string_value(json_object_get(row, "persona"));
            const char *status = json_string_value(json_object_get(row, "status"));
            if (!id)
                id = "";
            json_t *t = json_object_get(per, id);
            if (!t) {
                /* A call by a persona missing from /personas (a foreign file) still counts. */
                if (json_object_set_new(per, id, persona_totals()) < 0 || !(t = json_object_get(per, id)))
                    goto nomem;
            }
            if (agora__h5_call_skipped(status)) { /* not made: counted apart */
                add_count(t, "skipped", 1);
                continue;
            }
            add_count(t, "calls", 1);
            add_count(t,
                      status && !strcmp(status, "ok")        ? "ok"
                      : status && !strcmp(status, "invalid") ? "invalid"
                                                             : "failed",
                      1);
            json_int_t pt = json_integer_value(json_object_get(row, "prompt_tokens"));
            json_int_t ct = json_integer_value(json_object_get(row, "completion_tokens"));
            if (pt > 0)
                add_count(t, "prompt_tokens", pt);
            if (ct > 0)
                add_count(t, "completion_tokens", ct);
            /* latency_ms_mean holds the running sum until the end; non-finite latencies (null) are skipped. */
            json_t *lat = json_object_get(row, "latency_ms");
            if (json_is_real(lat)) {
                double x = json_real_value(lat);
                json_t *sum = json_object_get(t, "latency_ms_mean"), *max = json_object_get(t, "latency_ms_max");
                json_object_set_new(t, "latency_ms_mean", json_real(json_is_real(sum) ? json_real_value(sum) + x : x));
                if (!json_is_real(max) || x > json_real_value(max))
                    json_object_set_new(t, "latency_ms_max", json_real(x));
                add_count(t, "latency_n_", 1);
            }
        }
        const char *id;
        json_t *t;
        json_object_foreach(per, id, t) {
            json_int_t n = json_integer_value(json_object_get(t, "latency_n_"));
            json_t *sum = json_object_get(t, "latency_ms_mean");
            if (n > 0 && json_is_real(sum))
                json_object_set_new(t, "latency_ms_mean", json_real(json_real_value(sum) / (double)n));
            json_object_del(t, "latency_n_");
        }
    }
    if (json_object_set(info, "personas", list) < 0 ||
        json_object_set_new(info, "llm", json_pack("{s:I, s:O}", "calls", n_calls, "per_persona", per)) < 0)
        goto nomem;
    goto done;
nomem:
    rc = agora_error_set(err, AGORA_ENOMEM, NULL, "out of memory");
done:
    json_decref(attrs);
    json_decref(calls);
    json_decref(names);
    json_decref(list);
    json_decref(per);
    agora__h5_close(&p);
    agora__h5_close(&g);
    return rc;
}

/* Opens a run file for reading: normally, or through SWMR when a killed (or still running) writer left the
 * SWMR-writing mark, which a normal open refuses; *swmr says which. Errors: AGORA_EIO (missing, not a regular file,
 * not HDF5), AGORA_EHDF5. Runs inside the caller's agora__h5_quiet section. */
static int open_run_file(const char *path, hid_t *file, int *swmr, agora_error *err)
{
    *file = H5I_INVALID_HID;
    *swmr = 0;
    struct stat st;
    if (stat(path, &st) != 0)
        return agora_error_set(err, AGORA_EIO, path, "cannot open the run file: %s", strerror(errno));
    if (!S_ISREG(st.st_mode))
        return agora_error_set(err, AGORA_EIO, path, "not a run file: not a regular file");
    if ((*file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT)) >= 0)
        return 0;
    *swmr = 1;
    if ((*file = H5Fopen(path, H5F_ACC_RDONLY | H5F_ACC_SWMR_READ, H5P_DEFAULT)) >= 0)
        return 0;
    int rc = agora__h5_fail(err, AGORA_EHDF5, path, "cannot open the run file");
    if (!has_hdf5_signature(path))
        rc = agora_error_set(err, AGORA_EIO, path, "not an HDF5 file");
    return rc;
}

int agora_h5_llm_calls(const char *path, json_t **rows, agora_error *err)
{
    if (!rows)
        return agora_error_set(err, AGORA_EINVAL, path, "agora_h5_llm_calls needs somewhere to put the result");
    *rows = NULL;
    if (!path || !*path)
        return agora_error_set(err, AGORA_EINVAL, NULL, "agora_h5_llm_calls needs a path");
    agora__h5_quiet q;
    agora__h5_quiet_begin(&q);
    hid_t file = H5I_INVALID_HID;
    int swmr = 0, rc;
    if ((rc = open_run_file(path, &file, &swmr, err)))
        goto done;
    if (H5Lexists(file, "llm", H5P_DEFAULT) > 0 && H5Lexists(file, "llm/calls", H5P_DEFAULT) > 0)
        rc = agora__h5_table_read(file, "llm/calls", rows, err);
    else if (!(*rows = json_array()))
        rc = agora_error_set(err, AGORA_ENOMEM, path, "out of memory");
done:
    agora__h5_close(&file);
    if (rc && err && !err->where[0])
        snprintf(err->where, sizeof err->where, "%s", path);
    agora__h5_quiet_end(&q);
    return rc;
}

/* ---- agora_h5_tables and agora_h5_table ------------------------------------------------------------------------ */

/* The columns of a table written by agora__h5_table_create (a one-dimensional compound dataset whose first two
 * members are the integers `id` and `part`) as a new JSON array of the names agora__h5_table_read gives each row:
 * id first, `part` and members of types it skips left out. NULL when the dataset is no such table, or on failure. */
static json_t *table_columns(hid_t dset)
{
    hid_t type = H5Dget_type(dset), space = H5Dget_space(dset);
    json_t *cols = NULL;
    int n = type >= 0 && H5Tget_class(type) == H5T_COMPOUND ? H5Tget_nmembers(type) : -1;
    if (n < 2 || space < 0 || H5Sget_simple_extent_ndims(space) != 1 || !(cols = json_array()))
        goto done;
    for (int k = 0; k < n; k++) {
        char *name = H5Tget_member_name(type, (unsigned)k);
        hid_t t = H5Tget_member_type(type, (unsigned)k);
        H5T_class_t cls = t >= 0 ? H5Tget_class(t) : H5T_NO_CLASS;
        int readable = cls == H5T_INTEGER || cls == H5T_FLOAT || (cls == H5T_STRING && H5Tis_variable_str(t) <= 0);
        agora__h5_close(&t);
        int ok = name != NULL;
        if (ok && k < 2)
            ok = cls == H5T_INTEGER && !strcmp(name, k == 0 ? "id" : "part");
        if (ok && k != 1 && readable)
            ok = json_array_append_new(cols, json_string(name)) == 0;
        H5free_memory(name);
        if (!ok) {
            json_decref(cols);
            cols = NULL;
            goto done;
        }
    }
done:
    agora__h5_close(&type);
    agora__h5_close(&space);
    return cols;
}

/* The group holding the metric series (/metrics) and the dataset of their time axis: /metrics/time, the link to
 * the /time scale, else /time itself. */
static int open_metrics(hid_t file, hid_t *g, hid_t *time, agora_error *err)
{
    *g = *time = H5I_INVALID_HID;
    if ((*g = H5Gopen2(file, "metrics", H5P_DEFAULT)) < 0)
        return agora__h5_fail(err, AGORA_EHDF5, "/metrics", "cannot open /metrics");
    int in_group = H5Lexists(*g, "time", H5P_DEFAULT) > 0;
    if (!in_group && H5Lexists(file, "time", H5P_DEFAULT) <= 0)
        return agora_error_set(err, AGORA_EHDF5, "/metrics", "/metrics has no time axis (no /metrics/time or /time)");
    if ((*time = H5Dopen2(in_group ? *g : file, "time", H5P_DEFAULT)) < 0)
        return agora__h5_fail(err, AGORA_EHDF5, "/time", "cannot open the time axis of /metrics");
    return 0;
}

/* The columns of /metrics as a table: "time", then every one-dimensional series in creation order (the scales kept
 * in the group, such as the /time link, are not series). */
static int metrics_columns(hid_t g, json_t **cols, agora_error *err)
{
    json_t *names = member_names(g), *out = json_pack("[s]", "time");
    hid_t d = H5I_INVALID_HID, space = H5I_INVALID_HID;
    int rc = 0;
    *cols = NULL;
    if (!names || !out) {
        rc = agora__h5_fail(err, AGORA_EHDF5, "/metrics", "cannot list /metrics");
        goto done;
    }
    size_t k;
    json_t *jn;
    json_array_foreach(names, k, jn) {
        const char *name = json_string_value(jn);
        H5O_info_t oi;
        if (H5Oget_info_by_name2(g, name, &oi, H5O_INFO_BASIC, H5P_DEFAULT) < 0) {
            rc = agora__h5_fail(err, AGORA_EHDF5, name, "cannot open /metrics/%s", name);
            goto done;
        }
        if (oi.type != H5O_TYPE_DATASET)
            continue;
        if ((d = H5Dopen2(g, name, H5P_DEFAULT)) < 0 || (space = H5Dget_space(d)) < 0) {
            rc = agora__h5_fail(err, AGORA_EHDF5, name, "cannot open /metrics/%s", name);
            goto done;
        }
        if (H5DSis_scale(d) <= 0 && H5Sget_simple_extent_ndims(space) == 1 &&
            json_array_append_new(out, json_string(name)) < 0) {
            rc = agora_error_set(err, AGORA_ENOMEM, "/metrics", "out of memory");
            goto done;
        }
        agora__h5_close(&space);
        agora__h5_close(&d);
    }
done:
    agora__h5_close(&space);
    agora__h5_close(&d);
    json_decref(names);
    if (rc)
        json_decref(out);
    else
        *cols = out;
    return rc;
}

/* Reads all of a one-dimensional dataset as `mtype` (8-byte elements) into a new buffer of *n elements. */
static int read_series(hid_t d, hid_t mtype, void **buf, hsize_t *n)
{
    hid_t space = H5Dget_space(d);
    int rc = -1;
    *buf = NULL;
    *n = 0;
    if (space < 0 || H5Sget_simple_extent_ndims(space) != 1 || H5Sget_simple_extent_dims(space, n, NULL) < 0)
        goto done;
    if (!(*buf = malloc(*n ? *n * 8 : 1)))
        goto done;
    if (*n > 0 && H5Dread(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, *buf) < 0)
        goto done;
    rc = 0;
done:
    if (rc) {
        free(*buf);
        *buf = NULL;
    }
    agora__h5_close(&space);
    return rc;
}

/* /metrics as rows {time, <metric>: value, ...}, one per entry of the time axis. A series shorter than the axis (a
 * killed writer's file) reads as null where it has no value, like a value that is not finite. */
static int metrics_read(hid_t file, json_t **rows, agora_error *err)
{
    hid_t g = H5I_INVALID_HID, time = H5I_INVALID_HID, d = H5I_INVALID_HID;
    json_t *cols = NULL, *out = NULL;
    int64_t *t = NULL;
    double *v = NULL;
    hsize_t n = 0, nv = 0;
    int rc;
    *rows = NULL;
    if ((rc = open_metrics(file, &g, &time, err)) || (rc = metrics_columns(g, &cols, err)))
        goto done;
    if (read_series(time, H5T_NATIVE_INT64, (void **)&t, &n) < 0) {
        rc = agora__h5_fail(err, AGORA_EHDF5, "/time", "cannot read the time axis of /metrics");
        goto done;
    }
    if (!(out = json_array()))
        goto nomem;
    for (hsize_t r = 0; r < n; r++)
        if (json_array_append_new(out, json_pack("{s:I}", "time", (json_int_t)t[r])) < 0)
            goto nomem;
    for (size_t c = 1; c < json_array_size(cols); c++) {
        const char *name = json_string_value(json_array_get(cols, c));
        if ((d = H5Dopen2(g, name, H5P_DEFAULT)) < 0 || read_series(d, H5T_NATIVE_DOUBLE, (void **)&v, &nv) < 0) {
            rc = agora__h5_fail(err, AGORA_EHDF5, name, "cannot read /metrics/%s", name);
            goto done;
        }
        agora__h5_close(&d);
        for (hsize_t r = 0; r < n; r++)
            if (json_object_set_new(json_array_get(out, r), name, r < nv ? agora__h5_real_json(v[r]) : json_null()) < 0)
                goto nomem;
        free(v);
        v = NULL;
    }
    goto done;
nomem:
    rc = agora_error_set(err, AGORA_ENOMEM, "/metrics", "out of memory");
done:
    free(t);
    free(v);
    json_decref(cols);
    agora__h5_close(&d);
    agora__h5_close(&time);
    agora__h5_close(&g);
    if (rc)
        json_decref(out);
    else
        *rows = out;
    return rc;
}

typedef struct table_walk {
    json_t *list; /* the result: [{path, kind, columns}] */
    json_t *seen; /* the objects looked at, by address: one reachable by several hard links is listed once */
    agora_error *err;
} table_walk;

/* Adds the tables under the group g (at `gpath`, "" for the root) to w->list, depth first, each group's members in
 * creation order. */
static int walk_group(table_walk *w, hid_t g, const char *gpath, int depth)
{
    json_t *names = member_names(g);
    hid_t child = H5I_INVALID_HID, time = H5I_INVALID_HID;
    json_t *cols = NULL;
    char *path = NULL;
    int rc = 0;
    if (!names)
        return agora__h5_fail(w->err, AGORA_EHDF5, gpath[0] ? gpath : "/", "cannot list %s", gpath[0] ? gpath : "/");
    size_t k;
    json_t *jn;
    json_array_foreach(names, k, jn) {
        const char *name = json_string_value(jn);
        H5L_info_t li;
        H5O_info_t oi;
        /* Hard links only: an external link (a sweep file's /runs/<id>) leads into another file, and a soft link
         * to an object that has a name of its own. */
        if (H5Lget_info(g, name, &li, H5P_DEFAULT) < 0 || li.type != H5L_TYPE_HARD)
            continue;
        free(path);
        if (!(path = malloc(strlen(gpath) + strlen(name) + 2)))
            goto nomem;
        sprintf(path, "%s/%s", gpath, name);
        if (H5Oget_info_by_name2(g, name, &oi, H5O_INFO_BASIC, H5P_DEFAULT) < 0) {
            rc = agora__h5_fail(w->err, AGORA_EHDF5, path, "cannot open %s", path);
            goto done;
        }
        char addr[32];
        snprintf(addr, sizeof addr, "%llx", (unsigned long long)oi.addr);
        if (json_object_get(w->seen, addr))
            continue;
        if (json_object_set_new(w->seen, addr, json_true()) < 0)
            goto nomem;
        if (oi.type == H5O_TYPE_GROUP && depth == 0 && !strcmp(name, "metrics")) {
            if ((rc = open_metrics(g, &child, &time, w->err)) || (rc = metrics_columns(child, &cols, w->err)))
                goto done;
        } else if (oi.type == H5O_TYPE_GROUP) {
            if ((child = H5Gopen2(g, name, H5P_DEFAULT)) < 0) {
                rc = agora__h5_fail(w->err, AGORA_EHDF5, path, "cannot open %s", path);
                goto done;
            }
            if ((rc = walk_group(w, child, path, depth + 1)))
                goto done;
        } else if (oi.type == H5O_TYPE_DATASET) {
            if ((child = H5Dopen2(g, name, H5P_DEFAULT)) < 0) {
                rc = agora__h5_fail(w->err, AGORA_EHDF5, path, "cannot open %s", path);
                goto done;
            }
            cols = table_columns(child);
        }
        if (cols) {
            json_t *entry = json_pack("{s:s, s:s, s:o}", "path", path, "kind",
                                      oi.type == H5O_TYPE_GROUP ? "metrics" : "table", "columns", cols);
            cols = NULL;
            if (!entry || json_array_append_new(w->list, entry) < 0)
                goto nomem;
        }
        agora__h5_close(&time);
        agora__h5_close(&child);
    }
    goto done;
nomem:
    rc = agora_error_set(w->err, AGORA_ENOMEM, gpath, "out of memory");
done:
    free(path);
    json_decref(cols);
    json_decref(names);
    agora__h5_close(&time);
    agora__h5_close(&child);
    return rc;
}

int agora_h5_tables(const char *path, json_t **tables, agora_error *err)
{
    if (!tables)
        return agora_error_set(err, AGORA_EINVAL, path, "agora_h5_tables needs somewhere to put the result");
    *tables = NULL;
    if (!path || !*path)
        return agora_error_set(err, AGORA_EINVAL, NULL, "agora_h5_tables needs a path");
    agora__h5_quiet q;
    agora__h5_quiet_begin(&q);
    hid_t file = H5I_INVALID_HID;
    table_walk w = {.list = json_array(), .seen = json_object(), .err = err};
    int swmr = 0, rc;
    if ((rc = open_run_file(path, &file, &swmr, err)))
        goto done;
    if (!w.list || !w.seen) {
        rc = agora_error_set(err, AGORA_ENOMEM, path, "out of memory");
        goto done;
    }
    rc = walk_group(&w, file, "", 0);
done:
    agora__h5_close(&file);
    json_decref(w.seen);
    if (rc) {
        json_decref(w.list);
        if (err && !err->where[0])
            snprintf(err->where, sizeof err->where, "%s", path);
    } else {
        *tables = w.list;
    }
    agora__h5_quiet_end(&q);
    return rc;
}

int agora_h5_table(const char *path, const char *table, json_t **rows, agora_error *err)
{
    if (!rows)
        return agora_error_set(err, AGORA_EINVAL, path, "agora_h5_table needs somewhere to put the result");
    *rows = NULL;
    if (!path || !*path || !table || !*table)
        return agora_error_set(err, AGORA_EINVAL, path, "agora_h5_table needs a path and a table");
    agora__h5_quiet q;
    agora__h5_quiet_begin(&q);
    hid_t file = H5I_INVALID_HID, d = H5I_INVALID_HID;
    json_t *cols = NULL;
    int swmr = 0, rc;
    char name[1024];
    if (snprintf(name, sizeof name, "%s%s", table[0] == '/' ? "" : "/", table) >= (int)sizeof name) {
        rc = agora_error_set(err, AGORA_EINVAL, path, "table name too long");
        goto done;
    }
    if ((rc = open_run_file(path, &file, &swmr, err)))
        goto done;
    if (H5LTpath_valid(file, name, 1) <= 0) {
        rc = agora_error_set(err, AGORA_ENOTFOUND, path, "no table %s in this file", name);
        goto done;
    }
    H5O_info_t oi;
    if (H5Oget_info_by_name2(file, name, &oi, H5O_INFO_BASIC, H5P_DEFAULT) < 0) {
        rc = agora__h5_fail(err, AGORA_EHDF5, path, "cannot open %s", name);
        goto done;
    }
    if (oi.type == H5O_TYPE_GROUP && !strcmp(name, "/metrics")) {
        rc = metrics_read(file, rows, err);
        goto done;
    }
    if (oi.type != H5O_TYPE_DATASET || (d = H5Dopen2(file, name, H5P_DEFAULT)) < 0 || !(cols = table_columns(d))) {
        rc = agora_error_set(err, AGORA_EINVAL, path, "%s is not a table", name);
        goto done;
    }
    rc = agora__h5_table_read(file, name, rows, err);
done:
    json_decref(cols);
    agora__h5_close(&d);
    agora__h5_close(&file);
    if (rc && err && !err->where[0])
        snprintf(err->where, sizeof err->where, "%s", path);
    agora__h5_quiet_end(&q);
    return rc;
}

int agora_h5_inspect(const char *path, json_t **info, agora_error *err)
{
    if (!info)
        return agora_error_set(err, AGORA_EINVAL, path, "agora_h5_inspect needs somewhere to put the result");
    *info = NULL;
    if (!path || !*path)
        return agora_error_set(err, AGORA_EINVAL, NULL, "agora_h5_inspect needs a path");

    static const char *const json_attrs[] = {"config", "summary", NULL};
    agora__h5_quiet q;
    agora__h5_quiet_begin(&q);
    hid_t file = H5I_INVALID_HID;
    json_t *out = NULL, *attrs = NULL;
    int rc = 0, swmr = 0;
    if ((rc = open_run_file(path, &file, &swmr, err)))
        goto done;
    if ((rc = agora__h5_attrs_json(file, json_attrs, &attrs, err)))
        goto done;
    const char *status = json_string_value(json_object_get(attrs, "status"));
    out = json_pack("{s:s, s:o, s:b, s:O}", "path", path, "status", status ? json_string(status) : json_null(),
                    "complete", !swmr && status && !strcmp(status, "complete"), "attributes", attrs);
    if (!out) {
        rc = agora_error_set(err, AGORA_ENOMEM, path, "out of memory");
        goto done;
    }
    if ((rc = inspect_time(file, out, err)) || (rc = inspect_metrics(file, out, err)) ||
        (rc = inspect_snapshots(file, out, err)) || (rc = inspect_events(file, out, err)) ||
        (rc = inspect_personas(file, out, err)))
        goto done;
    /* what the run's summary says of its LLM use (why it is degraded, the budget that stopped it), beside what the
     * calls table adds up; "calls" and "per_persona" stay the table's */
    const json_t *run_llm = json_object_get(json_object_get(attrs, "summary"), "llm");
    if (json_is_object(run_llm)) {
        json_t *llm = json_object_get(out, "llm");
        if (!llm) {
            json_object_set_new(out, "llm", json_object());
            llm = json_object_get(out, "llm");
        }
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)run_llm, k, v) {
            if (llm && !json_object_get(llm, k))
                json_object_set(llm, k, v);
        }
    }
done:
    json_decref(attrs);
    agora__h5_close(&file);
    if (rc) {
        json_decref(out);
        if (err && !err->where[0])
            snprintf(err->where, sizeof err->where, "%s", path);
    } else {
        *info = out;
    }
    agora__h5_quiet_end(&q);
    return rc;
}
