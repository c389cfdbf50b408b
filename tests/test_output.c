/* Tests of the HDF5 run file (output.h, src/io/h5writer.c, src/io/h5read.c): the layout read back with the HDF5 C
 * API, agora_h5_inspect, the text table's continuation rows, crash safety (a writer killed with SIGKILL keeps
 * exactly its flushed rows), a concurrent SWMR reader, the files in h5dump / h5py / xarray, and the error paths.
 *
 * Writers that must die or run beside a reader live in a fork()ed child. The child never calls cmocka (a failed
 * assertion there would unwind into a copy of the test runner): it reports through its exit code and pipes, and
 * the parent asserts after reaping it. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <hdf5.h>
#include <hdf5_hl.h>

#include "agora/agora.h"
#include "io/h5internal.h"
#include "support.h"

#define ASSERT_OK(call)                                                                                          \
    do {                                                                                                         \
        agora_error e_;                                                                                          \
        agora_error_clear(&e_);                                                                                  \
        int rc_ = (call);                                                                                        \
        if (rc_ != 0) {                                                                                          \
            char b_[1024];                                                                                       \
            fail_msg("%s -> %s: %s", #call, agora_errname(rc_), agora_error_format(&e_, b_, sizeof b_));         \
        }                                                                                                        \
    } while (0)
/* ASSERT_OK's calls pass &e_ as their error argument. */
#define E (&e_)

static const agora_metric_spec sir_metrics[] = {
    {"susceptible", "agents susceptible", NULL},
    {"infected", "agents infected", "peak"},
    {"recovered", "agents recovered", "final"},
};
static const agora_field_spec sir_fields[] = {{"state", AGORA_DTYPE_U8, "0 susceptible, 1 infected, 2 recovered"}};

/* Metric values of row t, all exact in binary so they compare with ==. */
static void sir_row(int64_t t, double v[3])
{
    v[0] = 40.0 - (double)t;
    v[1] = 0.5 * (double)t;
    v[2] = (double)(t * t);
}

static uint8_t state_value(int s, int i)
{
    return (uint8_t)((s * 7 + i) % 251);
}

/* A 5000-byte action JSON whose 2048-byte cuts would split a character: "é" (2 bytes) straddles byte 2048 and "€"
 * (3 bytes) straddles the second cut at 2047 + 2048, so the writer must back off to character starts. */
static char *long_action(void)
{
    const size_t n = 5000;
    char *a = malloc(n + 1);
    assert_non_null(a);
    int k = snprintf(a, n + 1, "{\"action\":\"announce\",\"text\":\"");
    for (size_t i = (size_t)k; i < n; i++)
        a[i] = (char)('a' + i % 26);
    a[2047] = (char)0xC3; /* é */
    a[2048] = (char)0xA9;
    a[4094] = (char)0xE2; /* € */
    a[4095] = (char)0x82;
    a[4096] = (char)0xAC;
    a[n - 2] = '"';
    a[n - 1] = '}';
    a[n] = '\0';
    return a;
}

static agora_writer_config sir_config(const char *path, const agora_space *space)
{
    agora_writer_config cfg = {
        .path = path,
        .mode = "mechanics",
        .model = "sir",
        .scenario_text = "name: t\nmodel: sir\n",
        .scenario_path = "scenarios/t.yaml",
        .config_json = "{\"steps\": 12, \"seed\": 42}",
        .seed = 42,
        .threads = 2,
        .n_metrics = 3,
        .metrics = sir_metrics,
        .n_fields = 1,
        .fields = sir_fields,
        .space = space,
        .compression = 4,
    };
    return cfg;
}

/* Writes the reference grid run: 12 metric rows (flushed after 5 and 10, the rest at close), snapshots at t = 0, 5
 * and 10, three events (one with the long action), closed "complete". */
static void write_grid_run(const char *path, const char *action)
{
    agora_space *space = NULL;
    ASSERT_OK(agora_space_grid_create(8, 5, 1, AGORA_MOORE, &space, E));
    agora_writer_config cfg = sir_config(path, space);
    agora_writer *wr = NULL;
    ASSERT_OK(agora_writer_create(&cfg, &wr, E));
    uint8_t state[40];
    for (int64_t t = 0; t < 12; t++) {
        double v[3];
        sir_row(t, v);
        ASSERT_OK(agora_writer_metrics(wr, t, v, E));
        if (t % 5 == 0) {
            for (int i = 0; i < 40; i++)
                state[i] = state_value((int)(t / 5), i);
            const void *data[1] = {state};
            ASSERT_OK(agora_writer_snapshot(wr, t, data, E));
        }
        if (t == 3)
            ASSERT_OK(agora_writer_event(wr, 3, "scenario", "{\"action\":\"lockdown\",\"strength\":0.5}", "applied",
                                         "", E));
        if (t == 5)
            ASSERT_OK(agora_writer_event(wr, 5, "persona:minister", action, "rejected", "strength out of range", E));
        if (t == 7)
            ASSERT_OK(agora_writer_event(wr, 7, "mcp", NULL, "applied", NULL, E));
        if (t == 4 || t == 9)
            ASSERT_OK(agora_writer_flush(wr, E));
    }
    ASSERT_OK(agora_writer_close(wr, "complete", 12, 1.5, "{\"infected\": {\"peak\": 5.5, \"at\": 11}}", E));
    agora_space_destroy(space);
}

/* ---- small HDF5 readers for the assertions --------------------------------------------------------------------- */

static char *attr_text(hid_t loc, const char *name)
{
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    assert_true(a >= 0);
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8); /* HDF5 does not convert between ASCII and UTF-8 strings */
    hid_t ft = H5Aget_type(a);
    assert_int_equal(H5Tis_variable_str(ft), 1);
    assert_int_equal(H5Tget_cset(ft), H5T_CSET_UTF8);
    H5Tclose(ft);
    char *v = NULL;
    assert_true(H5Aread(a, t, &v) >= 0);
    char *copy = strdup(v ? v : "");
    H5free_memory(v);
    H5Tclose(t);
    H5Aclose(a);
    return copy;
}

static int64_t attr_i64(hid_t loc, const char *name)
{
    int64_t v = -1;
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    assert_true(a >= 0);
    assert_true(H5Aread(a, H5T_NATIVE_INT64, &v) >= 0);
    H5Aclose(a);
    return v;
}

static double attr_f64(hid_t loc, const char *name)
{
    double v = -1;
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    assert_true(a >= 0);
    assert_true(H5Aread(a, H5T_NATIVE_DOUBLE, &v) >= 0);
    H5Aclose(a);
    return v;
}

/* The shape of a dataset; returns its rank. */
static int shape_of(hid_t d, hsize_t dims[3])
{
    hid_t s = H5Dget_space(d);
    int rank = H5Sget_simple_extent_dims(s, dims, NULL);
    H5Sclose(s);
    return rank;
}

static void assert_text_eq(const json_t *v, const char *expected)
{
    assert_true(json_is_string(v));
    assert_string_equal(json_string_value(v), expected);
}

/* ---- tests ----------------------------------------------------------------------------------------------------- */

static void grid_run_reads_back_with_the_hdf5_api(void **state)
{
    (void)state;
    const char *path = test_tmp_path("output/grid_run.h5");
    char *action = long_action();
    write_grid_run(path, action);

    /* A normal open (no SWMR flag) must work once the writer has closed. */
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(f >= 0);
    char *s;
    s = attr_text(f, "status");
    assert_string_equal(s, "complete");
    free(s);
    s = attr_text(f, "model");
    assert_string_equal(s, "sir");
    free(s);
    s = attr_text(f, "mode");
    assert_string_equal(s, "mechanics");
    free(s);
    s = attr_text(f, "space");
    assert_string_equal(s, "grid 8x5 torus moore");
    free(s);
    s = attr_text(f, "agora_version");
    assert_string_equal(s, agora_version());
    free(s);
    s = attr_text(f, "created");
    assert_int_equal(strlen(s), 20); /* 2025-01-31T12:00:00Z */
    assert_int_equal(s[10], 'T');
    assert_int_equal(s[19], 'Z');
    free(s);
    s = attr_text(f, "finished");
    assert_int_equal(strlen(s), 20);
    free(s);
    s = attr_text(f, "scenario_path");
    assert_string_equal(s, "scenarios/t.yaml");
    free(s);
    assert_int_equal(attr_i64(f, "seed"), 42);
    assert_int_equal(attr_i64(f, "threads"), 2);
    assert_int_equal(attr_i64(f, "n_agents"), 40);
    assert_int_equal(attr_i64(f, "steps_done"), 12);
    assert_true(attr_f64(f, "wall_time_s") == 1.5);

    /* /time: the time scale, 12 rows 0..11. */
    hsize_t dims[3];
    hid_t time = H5Dopen2(f, "time", H5P_DEFAULT);
    assert_true(time >= 0);
    assert_int_equal(shape_of(time, dims), 1);
    assert_int_equal(dims[0], 12);
    assert_true(H5DSis_scale(time) > 0);
    int64_t tv[12];
    assert_true(H5Dread(time, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, tv) >= 0);
    for (int k = 0; k < 12; k++)
        assert_int_equal(tv[k], k);

    /* Every metric has 12 values, a doc and /time attached. */
    for (int m = 0; m < 3; m++) {
        char name[64];
        snprintf(name, sizeof name, "metrics/%s", sir_metrics[m].name);
        hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
        assert_true(d >= 0);
        assert_int_equal(shape_of(d, dims), 1);
        assert_int_equal(dims[0], 12);
        assert_true(H5DSis_attached(d, time, 0) > 0);
        double v[12];
        assert_true(H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0);
        for (int k = 0; k < 12; k++) {
            double want[3];
            sir_row(k, want);
            assert_true(v[k] == want[m]);
        }
        s = attr_text(d, "doc");
        assert_string_equal(s, sir_metrics[m].doc);
        free(s);
        H5Dclose(d);
    }
    /* /metrics/time is /time under a second name (for xarray's group="metrics"). */
    hid_t mt = H5Dopen2(f, "metrics/time", H5P_DEFAULT);
    assert_true(mt >= 0);
    assert_true(H5DSis_scale(mt) > 0);
    assert_int_equal(shape_of(mt, dims), 1);
    assert_int_equal(dims[0], 12);
    H5Dclose(mt);

    /* /snapshots/state: [S, H, W] = [3, 5, 8] u8 with scales time, y, x; one chunk a snapshot; deflate only. */
    hid_t st = H5Dopen2(f, "snapshots/state", H5P_DEFAULT);
    hid_t stime = H5Dopen2(f, "snapshots/time", H5P_DEFAULT);
    hid_t sy = H5Dopen2(f, "snapshots/y", H5P_DEFAULT);
    hid_t sx = H5Dopen2(f, "snapshots/x", H5P_DEFAULT);
    assert_true(st >= 0 && stime >= 0 && sy >= 0 && sx >= 0);
    assert_int_equal(shape_of(st, dims), 3);
    assert_int_equal(dims[0], 3);
    assert_int_equal(dims[1], 5);
    assert_int_equal(dims[2], 8);
    assert_true(H5DSis_attached(st, stime, 0) > 0);
    assert_true(H5DSis_attached(st, sy, 1) > 0);
    assert_true(H5DSis_attached(st, sx, 2) > 0);
    assert_true(H5DSis_attached(st, sx, 1) == 0);
    hid_t ft = H5Dget_type(st);
    assert_true(H5Tequal(ft, H5T_STD_U8LE) > 0);
    H5Tclose(ft);
    hid_t dcpl = H5Dget_create_plist(st);
    hsize_t chunk[3];
    assert_int_equal(H5Pget_chunk(dcpl, 3, chunk), 3);
    assert_int_equal(chunk[0], 1);
    assert_int_equal(chunk[1], 5);
    assert_int_equal(chunk[2], 8);
    assert_int_equal(H5Pget_nfilters(dcpl), 1);
    unsigned flags, cd[4];
    size_t ncd = 4;
    assert_int_equal(H5Pget_filter2(dcpl, 0, &flags, &ncd, cd, 0, NULL, NULL), H5Z_FILTER_DEFLATE);
    assert_int_equal(cd[0], 4);
    H5Pclose(dcpl);
    uint8_t grid[3][40];
    assert_true(H5Dread(st, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, grid) >= 0);
    for (int sn = 0; sn < 3; sn++)
        for (int i = 0; i < 40; i++)
            assert_int_equal(grid[sn][i], state_value(sn, i));
    int64_t times[3], ys[5], xs[8];
    assert_true(H5Dread(stime, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, times) >= 0);
    assert_true(H5Dread(sy, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, ys) >= 0);
    assert_true(H5Dread(sx, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, xs) >= 0);
    assert_int_equal(times[0], 0);
    assert_int_equal(times[1], 5);
    assert_int_equal(times[2], 10);
    for (int k = 0; k < 5; k++)
        assert_int_equal(ys[k], k);
    for (int k = 0; k < 8; k++)
        assert_int_equal(xs[k], k);
    H5Dclose(sx);
    H5Dclose(sy);
    H5Dclose(stime);
    H5Dclose(st);

    /* /events: 3 events in 5 rows; the long action takes parts 0..2, each cut before a character. */
    hid_t ev = H5Dopen2(f, "events", H5P_DEFAULT);
    assert_true(ev >= 0);
    assert_int_equal(shape_of(ev, dims), 1);
    assert_int_equal(dims[0], 5);
    typedef struct {
        int64_t id;
        int32_t part;
        char action[2048];
    } ev_row;
    hid_t str = H5Tcopy(H5T_C_S1);
    H5Tset_size(str, 2048);
    H5Tset_strpad(str, H5T_STR_NULLPAD);
    H5Tset_cset(str, H5T_CSET_UTF8);
    hid_t rt = H5Tcreate(H5T_COMPOUND, sizeof(ev_row));
    H5Tinsert(rt, "id", offsetof(ev_row, id), H5T_NATIVE_INT64);
    H5Tinsert(rt, "part", offsetof(ev_row, part), H5T_NATIVE_INT32);
    H5Tinsert(rt, "action", offsetof(ev_row, action), str);
    ev_row rows[5];
    assert_true(H5Dread(ev, rt, H5S_ALL, H5S_ALL, H5P_DEFAULT, rows) >= 0);
    const int64_t want_id[5] = {0, 1, 1, 1, 2};
    const int32_t want_part[5] = {0, 0, 1, 2, 0};
    for (int k = 0; k < 5; k++) {
        assert_int_equal(rows[k].id, want_id[k]);
        assert_int_equal(rows[k].part, want_part[k]);
    }
    assert_int_equal(strnlen(rows[1].action, 2048), 2047); /* backed off before é */
    assert_int_equal(strnlen(rows[2].action, 2048), 2047); /* é ... up to before € */
    assert_int_equal(strnlen(rows[3].action, 2048), 5000 - 4094);
    assert_int_equal((unsigned char)rows[2].action[0], 0xC3);
    assert_int_equal((unsigned char)rows[3].action[0], 0xE2);
    assert_memory_equal(rows[1].action, action, 2047);
    assert_int_equal(strnlen(rows[4].action, 2048), 0);
    H5Tclose(rt);
    H5Tclose(str);
    H5Dclose(ev);
    H5Dclose(time);
    H5Fclose(f);
    free(action);
}

static void grid_run_inspects_as_json(void **state)
{
    (void)state;
    const char *path = test_tmp_path("output/grid_inspect.h5");
    char *action = long_action();
    write_grid_run(path, action);
    json_t *info = NULL;
    ASSERT_OK(agora_h5_inspect(path, &info, E));

    assert_text_eq(json_object_get(info, "path"), path);
    assert_text_eq(json_object_get(info, "status"), "complete");
    assert_true(json_is_true(json_object_get(info, "complete")));
    json_t *attrs = json_object_get(info, "attributes");
    assert_text_eq(json_object_get(attrs, "model"), "sir");
    assert_text_eq(json_object_get(attrs, "scenario"), "name: t\nmodel: sir\n");
    assert_int_equal(json_integer_value(json_object_get(attrs, "seed")), 42);
    assert_int_equal(json_integer_value(json_object_get(attrs, "n_agents")), 40);
    assert_int_equal(json_integer_value(json_object_get(attrs, "steps_done")), 12);
    assert_true(json_real_value(json_object_get(attrs, "wall_time_s")) == 1.5);
    /* config and summary come back parsed. */
    assert_int_equal(json_integer_value(json_object_get(json_object_get(attrs, "config"), "steps")), 12);
    json_t *peak = json_object_get(json_object_get(json_object_get(attrs, "summary"), "infected"), "peak");
    assert_true(json_is_number(peak) && json_number_value(peak) == 5.5);

    json_t *time = json_object_get(info, "time");
    assert_int_equal(json_integer_value(json_object_get(time, "rows")), 12);
    assert_int_equal(json_integer_value(json_object_get(time, "first")), 0);
    assert_int_equal(json_integer_value(json_object_get(time, "last")), 11);

    json_t *metrics = json_object_get(info, "metrics");
    assert_int_equal(json_object_size(metrics), 3); /* the /metrics/time link is not a metric */
    assert_true(json_real_value(json_object_get(metrics, "susceptible")) == 29.0);
    assert_true(json_real_value(json_object_get(metrics, "infected")) == 5.5);
    assert_true(json_real_value(json_object_get(metrics, "recovered")) == 121.0);

    json_t *snaps = json_object_get(info, "snapshots");
    assert_int_equal(json_integer_value(json_object_get(snaps, "count")), 3);
    json_t *times = json_object_get(snaps, "times");
    assert_int_equal(json_array_size(times), 3);
    assert_int_equal(json_integer_value(json_array_get(times, 2)), 10);
    json_t *fields = json_object_get(snaps, "fields");
    assert_int_equal(json_object_size(fields), 1);
    json_t *shape = json_object_get(fields, "state");
    assert_int_equal(json_array_size(shape), 3);
    assert_int_equal(json_integer_value(json_array_get(shape, 0)), 3);
    assert_int_equal(json_integer_value(json_array_get(shape, 1)), 5);
    assert_int_equal(json_integer_value(json_array_get(shape, 2)), 8);

    json_t *events = json_object_get(info, "events");
    assert_int_equal(json_integer_value(json_object_get(events, "count")), 3);
    json_t *rows = json_object_get(events, "rows");
    assert_int_equal(json_array_size(rows), 3);
    json_t *e0 = json_array_get(rows, 0), *e1 = json_array_get(rows, 1), *e2 = json_array_get(rows, 2);
    assert_int_equal(json_integer_value(json_object_get(e0, "id")), 0);
    assert_int_equal(json_integer_value(json_object_get(e0, "step")), 3);
    assert_text_eq(json_object_get(e0, "source"), "scenario");
    assert_text_eq(json_object_get(e0, "status"), "applied");
    assert_text_eq(json_object_get(e0, "action"), "{\"action\":\"lockdown\",\"strength\":0.5}");
    assert_null(json_object_get(e0, "part"));
    assert_int_equal(json_integer_value(json_object_get(e1, "id")), 1);
    assert_int_equal(json_integer_value(json_object_get(e1, "step")), 5);
    assert_text_eq(json_object_get(e1, "source"), "persona:minister");
    assert_text_eq(json_object_get(e1, "status"), "rejected");
    assert_text_eq(json_object_get(e1, "message"), "strength out of range");
    assert_int_equal(json_string_length(json_object_get(e1, "action")), 5000);
    assert_text_eq(json_object_get(e1, "action"), action); /* the three parts joined */
    assert_text_eq(json_object_get(e2, "source"), "mcp");
    assert_text_eq(json_object_get(e2, "action"), "");
    assert_text_eq(json_object_get(e2, "message"), "");
    json_decref(info);
    free(action);
}

static void graph_run_writes_agent_dimension(void **state)
{
    (void)state;
    const char *path = test_tmp_path("output/graph_run.h5");
    const int64_t edges[] = {0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 0};
    agora_space *space = NULL;
    ASSERT_OK(agora_space_graph_from_edges(6, edges, 6, &space, E));
    static const agora_metric_spec metrics[] = {{"mean_opinion", "mean opinion", NULL}};
    static const agora_field_spec fields[] = {{"opinion", AGORA_DTYPE_F64, "opinion in [0, 1]"},
                                              {"group", AGORA_DTYPE_I32, "group id"}};
    agora_writer_config cfg = {.path = path,
                               .mode = "mechanics",
                               .model = "opinion",
                               .seed = UINT64_MAX, /* above INT64_MAX: inspect must keep it exact */
                               .threads = 1,
                               .n_metrics = 1,
                               .metrics = metrics,
                               .n_fields = 2,
                               .fields = fields,
                               .space = space,
                               .compression = 6};
    agora_writer *wr = NULL;
    ASSERT_OK(agora_writer_create(&cfg, &wr, E));
    double op[6];
    int32_t grp[6];
    for (int s = 0; s < 2; s++) {
        for (int i = 0; i < 6; i++) {
            op[i] = 0.125 * (i + s);
            grp[i] = 100 * s + i;
        }
        const void *data[2] = {op, grp};
        ASSERT_OK(agora_writer_snapshot(wr, 10 * s, data, E));
        double m = 0.25 * s;
        ASSERT_OK(agora_writer_metrics(wr, s, &m, E));
    }
    ASSERT_OK(agora_writer_close(wr, "interrupted", 2, 0.25, NULL, E));

    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(f >= 0);
    hid_t d = H5Dopen2(f, "snapshots/opinion", H5P_DEFAULT);
    hid_t g = H5Dopen2(f, "snapshots/group", H5P_DEFAULT);
    hid_t agent = H5Dopen2(f, "snapshots/agent", H5P_DEFAULT);
    hid_t stime = H5Dopen2(f, "snapshots/time", H5P_DEFAULT);
    assert_true(d >= 0 && g >= 0 && agent >= 0 && stime >= 0);
    assert_int_equal(H5Lexists(f, "snapshots/x", H5P_DEFAULT), 0);
    hsize_t dims[3];
    assert_int_equal(shape_of(d, dims), 2);
    assert_int_equal(dims[0], 2);
    assert_int_equal(dims[1], 6);
    assert_true(H5DSis_attached(d, stime, 0) > 0);
    assert_true(H5DSis_attached(d, agent, 1) > 0);
    assert_true(H5DSis_attached(g, agent, 1) > 0);
    /* Multi-byte values are shuffled, then deflated. */
    hid_t dcpl = H5Dget_create_plist(d);
    assert_int_equal(H5Pget_nfilters(dcpl), 2);
    unsigned flags, cd[4];
    size_t ncd = 4;
    assert_int_equal(H5Pget_filter2(dcpl, 0, &flags, &ncd, cd, 0, NULL, NULL), H5Z_FILTER_SHUFFLE);
    ncd = 4;
    assert_int_equal(H5Pget_filter2(dcpl, 1, &flags, &ncd, cd, 0, NULL, NULL), H5Z_FILTER_DEFLATE);
    H5Pclose(dcpl);
    double opv[2][6];
    int32_t gv[2][6];
    int64_t av[6];
    assert_true(H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, opv) >= 0);
    assert_true(H5Dread(g, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, gv) >= 0);
    assert_true(H5Dread(agent, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, av) >= 0);
    for (int s = 0; s < 2; s++)
        for (int i = 0; i < 6; i++) {
            assert_true(opv[s][i] == 0.125 * (i + s));
            assert_int_equal(gv[s][i], 100 * s + i);
        }
    for (int i = 0; i < 6; i++)
        assert_int_equal(av[i], i);
    uint64_t seed = 0;
    hid_t a = H5Aopen(f, "seed", H5P_DEFAULT);
    assert_true(H5Aread(a, H5T_NATIVE_UINT64, &seed) >= 0);
    assert_true(seed == UINT64_MAX);
    H5Aclose(a);
    char *s = attr_text(f, "space");
    assert_string_equal(s, "graph edges n=6 edges=6");
    free(s);
    H5Dclose(stime);
    H5Dclose(agent);
    H5Dclose(g);
    H5Dclose(d);
    H5Fclose(f);

    json_t *info = NULL;
    ASSERT_OK(agora_h5_inspect(path, &info, E));
    assert_text_eq(json_object_get(info, "status"), "interrupted");
    assert_true(json_is_false(json_object_get(info, "complete")));
    assert_text_eq(json_object_get(json_object_get(info, "attributes"), "seed"), "18446744073709551615");
    json_t *shape = json_object_get(json_object_get(json_object_get(info, "snapshots"), "fields"), "group");
    assert_int_equal(json_array_size(shape), 2);
    assert_int_equal(json_integer_value(json_array_get(shape, 1)), 6);
    assert_true(json_real_value(json_object_get(json_object_get(info, "metrics"), "mean_opinion")) == 0.25);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(info, "events"), "count")), 0);
    json_decref(info);
    agora_space_destroy(space);
}

/* Chunk shape of the one field of a fresh file over `space`, after writing one snapshot of `data`. */
static void big_snapshot_chunk(const char *path, agora_space *space, agora_dtype type, const void *data,
                               hsize_t chunk[3])
{
    static agora_field_spec field[1];
    field[0] = (agora_field_spec){"value", type, "a big field"};
    agora_writer_config cfg = {.path = path, .n_fields = 1, .fields = field, .space = space, .compression = 0};
    agora_writer *wr = NULL;
    ASSERT_OK(agora_writer_create(&cfg, &wr, E));
    const void *d[1] = {data};
    ASSERT_OK(agora_writer_snapshot(wr, 0, d, E));
    ASSERT_OK(agora_writer_close(wr, "complete", 0, 0, NULL, E));
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t ds = H5Dopen2(f, "snapshots/value", H5P_DEFAULT);
    assert_true(ds >= 0);
    hid_t dcpl = H5Dget_create_plist(ds);
    assert_int_equal(H5Pget_nfilters(dcpl), 0); /* compression 0: no filters */
    H5Pget_chunk(dcpl, 3, chunk);
    H5Pclose(dcpl);
    H5Dclose(ds);
    H5Fclose(f);
}

static void big_snapshots_are_chunked_below_4_mib(void **state)
{
    (void)state;
    /* 2048 x 1024 doubles = 16 MiB a snapshot: bands of 4 MiB / (2048 * 8 B) = 256 rows. */
    agora_space *space = NULL;
    ASSERT_OK(agora_space_grid_create(2048, 1024, 0, AGORA_VON_NEUMANN, &space, E));
    double *v = malloc(2048 * 1024 * sizeof *v);
    assert_non_null(v);
    for (int i = 0; i < 2048 * 1024; i++)
        v[i] = i;
    hsize_t chunk[3];
    const char *path = test_tmp_path("output/big_grid.h5");
    big_snapshot_chunk(path, space, AGORA_DTYPE_F64, v, chunk);
    assert_int_equal(chunk[0], 1);
    assert_int_equal(chunk[1], 256);
    assert_int_equal(chunk[2], 2048);
    /* The last cell of the last band survived the banded write. */
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t ds = H5Dopen2(f, "snapshots/value", H5P_DEFAULT);
    hid_t fs = H5Dget_space(ds);
    hsize_t start[3] = {0, 1023, 2047}, one[3] = {1, 1, 1};
    H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, one, NULL);
    hid_t ms = H5Screate_simple(3, one, NULL);
    double last = 0;
    assert_true(H5Dread(ds, H5T_NATIVE_DOUBLE, ms, fs, H5P_DEFAULT, &last) >= 0);
    assert_true(last == 2048.0 * 1024 - 1);
    H5Sclose(ms);
    H5Sclose(fs);
    H5Dclose(ds);
    H5Fclose(f);
    agora_space_destroy(space);

    /* One row of 2^20 doubles (8 MiB) is wider than a chunk: pieces of 2^19 values. */
    ASSERT_OK(agora_space_grid_create(1 << 20, 1, 0, AGORA_MOORE, &space, E));
    big_snapshot_chunk(test_tmp_path("output/wide_grid.h5"), space, AGORA_DTYPE_F64, v, chunk);
    assert_int_equal(chunk[1], 1);
    assert_int_equal(chunk[2], 1 << 19);
    agora_space_destroy(space);
    free(v);
}

static void killed_writer_keeps_flushed_rows(void **state)
{
    (void)state;
    const char *path = test_tmp_path("output/killed.h5");
    agora_space *space = NULL;
    ASSERT_OK(agora_space_grid_create(8, 5, 1, AGORA_MOORE, &space, E));
    agora_writer_config cfg = sir_config(path, space);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        agora_writer *wr = NULL;
        agora_error e;
        if (agora_writer_create(&cfg, &wr, &e) != 0)
            _exit(2);
        for (int64_t t = 0; t < 25; t++) {
            double v[3];
            sir_row(t, v);
            if (agora_writer_metrics(wr, t, v, &e) != 0)
                _exit(3);
            if (t == 10 && agora_writer_event(wr, t, "scenario", "{\"action\":\"x\"}", "applied", "", &e) != 0)
                _exit(4);
            if (t == 19 && agora_writer_flush(wr, &e) != 0)
                _exit(5);
        }
        /* Rows 20..24 and this event are buffered, never flushed. */
        agora_writer_event(wr, 24, "scenario", "{\"action\":\"y\"}", "applied", "", &e);
        raise(SIGKILL);
        _exit(6);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGKILL);

    /* The file still carries the SWMR-writing mark: a plain open is refused... */
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(f < 0);
    /* ...and inspect falls back to an SWMR read. */
    json_t *info = NULL;
    ASSERT_OK(agora_h5_inspect(path, &info, E));
    assert_true(json_is_false(json_object_get(info, "complete")));
    assert_text_eq(json_object_get(info, "status"), "running");
    json_t *time = json_object_get(info, "time");
    assert_int_equal(json_integer_value(json_object_get(time, "rows")), 20);
    assert_int_equal(json_integer_value(json_object_get(time, "last")), 19);
    assert_true(json_real_value(json_object_get(json_object_get(info, "metrics"), "recovered")) == 361.0);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(info, "events"), "count")), 1);
    assert_null(json_object_get(json_object_get(info, "attributes"), "finished"));
    json_decref(info);
    agora_space_destroy(space);
}

/* One byte over a pipe; returns 1 when it arrived (0 when the other side closed or failed). */
static int recv_byte(int fd, char want)
{
    char c;
    ssize_t n;
    do
        n = read(fd, &c, 1);
    while (n < 0 && errno == EINTR);
    return n == 1 && c == want;
}

static int send_byte(int fd, char c)
{
    return write(fd, &c, 1) == 1;
}

static void swmr_reader_sees_rows_grow(void **state)
{
    (void)state;
    const char *path = test_tmp_path("output/swmr.h5");
    agora_space *space = NULL;
    ASSERT_OK(agora_space_grid_create(8, 5, 1, AGORA_MOORE, &space, E));
    agora_writer_config cfg = sir_config(path, space);
    int to_child[2], to_parent[2];
    assert_int_equal(pipe(to_child), 0);
    assert_int_equal(pipe(to_parent), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* Writer: after creating the file, each 'g' from the reader gets 5 more rows and a flush, answered by 'f';
         * 'q' (the reader has closed the file) lets it close. */
        close(to_child[1]);
        close(to_parent[0]);
        agora_writer *wr = NULL;
        agora_error e;
        if (agora_writer_create(&cfg, &wr, &e) != 0)
            _exit(2);
        if (!send_byte(to_parent[1], 'c'))
            _exit(3);
        for (int r = 0; r < 3; r++) {
            if (!recv_byte(to_child[0], 'g'))
                _exit(4);
            for (int64_t t = 5 * r; t < 5 * r + 5; t++) {
                double v[3];
                sir_row(t, v);
                if (agora_writer_metrics(wr, t, v, &e) != 0)
                    _exit(5);
            }
            if (agora_writer_flush(wr, &e) != 0 || !send_byte(to_parent[1], 'f'))
                _exit(6);
        }
        if (!recv_byte(to_child[0], 'q'))
            _exit(7);
        _exit(agora_writer_close(wr, "complete", 15, 0.1, NULL, &e) == 0 ? 0 : 8);
    }
    close(to_child[0]);
    close(to_parent[1]);
    /* Reader: observations are collected and asserted only after the child is reaped, so a failure here can never
     * leave the child blocked on a pipe. */
    hsize_t seen[4] = {99, 99, 99, 99};
    double last_infected[3] = {-1, -1, -1};
    int handshakes = 0;
    hid_t f = H5I_INVALID_HID, time = H5I_INVALID_HID, inf = H5I_INVALID_HID;
    if (recv_byte(to_parent[0], 'c')) {
        f = H5Fopen(path, H5F_ACC_RDONLY | H5F_ACC_SWMR_READ, H5P_DEFAULT);
        time = H5Dopen2(f, "time", H5P_DEFAULT);
        inf = H5Dopen2(f, "metrics/infected", H5P_DEFAULT);
        hsize_t d[3];
        if (time >= 0 && shape_of(time, d) == 1)
            seen[0] = d[0];
        for (int r = 0; r < 3; r++) {
            if (!send_byte(to_child[1], 'g') || !recv_byte(to_parent[0], 'f'))
                break;
            handshakes++;
            if (time < 0 || inf < 0 || H5Drefresh(time) < 0 || H5Drefresh(inf) < 0 || shape_of(time, d) != 1)
                continue;
            seen[r + 1] = d[0];
            hid_t fs = H5Dget_space(inf), ms;
            hsize_t pos = d[0] - 1, one = 1;
            ms = H5Screate_simple(1, &one, NULL);
            H5Sselect_hyperslab(fs, H5S_SELECT_SET, &pos, NULL, &one, NULL);
            H5Dread(inf, H5T_NATIVE_DOUBLE, ms, fs, H5P_DEFAULT, &last_infected[r]);
            H5Sclose(ms);
            H5Sclose(fs);
        }
    }
    /* The writer closes while this reader still has the file open (a notebook watching a run), which holds a
     * shared lock on it; the writer must still record its final status. */
    send_byte(to_child[1], 'q');
    close(to_child[1]);
    int status = 0;
    pid_t waited = waitpid(pid, &status, 0);
    close(to_parent[0]);
    hsize_t after_close = 99;
    hsize_t d[3];
    if (time >= 0 && H5Drefresh(time) >= 0 && shape_of(time, d) == 1)
        after_close = d[0];
    if (inf >= 0)
        H5Dclose(inf);
    if (time >= 0)
        H5Dclose(time);
    if (f >= 0)
        H5Fclose(f);

    assert_int_equal(waited, pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_true(f >= 0);
    assert_int_equal(handshakes, 3);
    assert_int_equal(seen[0], 0);
    assert_int_equal(seen[1], 5);
    assert_int_equal(seen[2], 10);
    assert_int_equal(seen[3], 15);
    assert_true(last_infected[0] == 2.0);
    assert_true(last_infected[1] == 4.5);
    assert_true(last_infected[2] == 7.0);
    assert_int_equal(after_close, 15);
    json_t *info = NULL;
    ASSERT_OK(agora_h5_inspect(path, &info, E));
    assert_true(json_is_true(json_object_get(info, "complete")));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(info, "time"), "rows")), 15);
    json_decref(info);
    agora_space_destroy(space);
}

/* Runs a shell command and returns its standard output (the first size-1 bytes; the rest is read and dropped, so
 * the command never dies of SIGPIPE) and exit status. */
static int run_capture(const char *cmd, char *out, size_t size)
{
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, size - 1, p);
    out[n] = '\0';
    char drop[4096];
    while (fread(drop, 1, sizeof drop, p) > 0)
        ;
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void external_tools_read_the_file(void **state)
{
    (void)state;
    const char *path = test_tmp_path("output/tools.h5");
    char *action = long_action();
    write_grid_run(path, action);
    free(action);
    setenv("AGORA_H5", path, 1);
    char out[4096];

    if (system("command -v h5dump >/dev/null 2>&1") == 0) {
        assert_int_equal(run_capture("h5dump -H \"$AGORA_H5\" >/dev/null 2>&1", out, sizeof out), 0);
        run_capture("h5dump -H \"$AGORA_H5\" 2>&1 | grep -E '(GROUP|DATASET) '", out, sizeof out);
        assert_non_null(strstr(out, "DATASET \"infected\""));
        assert_non_null(strstr(out, "DATASET \"events\""));
    } else {
        print_message("h5dump not found: skipping the h5dump check\n");
    }

    if (system("/usr/bin/python3 -c 'import h5py, xarray, h5netcdf' >/dev/null 2>&1") != 0) {
        print_message("/usr/bin/python3 lacks h5py, xarray or h5netcdf: skipping the Python checks\n");
        skip();
    }
    const char *h5py_cmd = "/usr/bin/python3 -c '\n"
                           "import os, h5py\n"
                           "f = h5py.File(os.environ[\"AGORA_H5\"], \"r\")\n"
                           "print(f.attrs[\"status\"], f.attrs[\"model\"], f[\"time\"].shape[0],\n"
                           "      f[\"metrics/infected\"][-1], f[\"snapshots/state\"].shape, len(f[\"events\"]))\n"
                           "' 2>&1";
    assert_int_equal(run_capture(h5py_cmd, out, sizeof out), 0);
    assert_string_equal(out, "complete sir 12 5.5 (3, 5, 8) 5\n");

    const char *xr_cmd = "/usr/bin/python3 -c '\n"
                         "import os, xarray as xr\n"
                         "p = os.environ[\"AGORA_H5\"]\n"
                         "m = xr.open_dataset(p, engine=\"h5netcdf\", group=\"metrics\")\n"
                         "print(sorted(m.data_vars), float(m[\"infected\"][-1]), float(m[\"recovered\"].sum()),\n"
                         "      int(m[\"time\"][-1]), m.sizes[\"time\"])\n"
                         "r = xr.open_dataset(p, engine=\"h5netcdf\")\n"
                         "print(int(r[\"time\"][-1]), r.sizes[\"time\"], r.attrs[\"status\"])\n"
                         "s = xr.open_dataset(p, engine=\"h5netcdf\", group=\"snapshots\")\n"
                         "print(dict(s[\"state\"].sizes), int(s[\"state\"][2, 4, 7]), list(s[\"time\"].values))\n"
                         "' 2>&1";
    assert_int_equal(run_capture(xr_cmd, out, sizeof out), 0);
    /* recovered = sum of t^2 for t = 0..11 = 506; state[2, 4, 7] = (2*7 + 4*8+7) % 251 = 53. */
    assert_string_equal(out, "['infected', 'recovered', 'susceptible'] 5.5 506.0 11 12\n"
                             "11 12 complete\n"
                             "{'time': 3, 'y': 5, 'x': 8} 53 [0, 5, 10]\n");
}

static int printed;
static herr_t count_prints(hid_t stack, void *data)
{
    (void)stack;
    (void)data;
    printed++;
    return 0;
}

static void errors_are_reported_not_printed(void **state)
{
    (void)state;
    /* The library must not print HDF5's error stack, and must leave the caller's handler in place. */
    H5Eset_auto2(H5E_DEFAULT, count_prints, NULL);
    printed = 0;

    agora_space *space = NULL;
    ASSERT_OK(agora_space_grid_create(8, 5, 1, AGORA_MOORE, &space, E));
    agora_writer_config cfg = sir_config("/proc/agora_run.h5", space);
    agora_writer *wr = NULL;
    agora_error err;
    assert_int_equal(agora_writer_create(&cfg, &wr, &err), AGORA_EIO);
    assert_null(wr);
    assert_string_equal(err.where, "/proc/agora_run.h5");
    assert_non_null(strstr(err.msg, "cannot create the run file"));
    cfg.path = "/proc/agora_dir/run.h5"; /* its directory cannot be made */
    assert_int_equal(agora_writer_create(&cfg, &wr, &err), AGORA_EIO);

    cfg.path = test_tmp_path("output/invalid.h5");
    cfg.compression = 12;
    assert_int_equal(agora_writer_create(&cfg, &wr, &err), AGORA_EINVAL);
    cfg.compression = 1;
    static const agora_field_spec bad_field[] = {{"x", AGORA_DTYPE_U8, "clashes with the x scale"}};
    cfg.fields = bad_field;
    assert_int_equal(agora_writer_create(&cfg, &wr, &err), AGORA_EINVAL);
    cfg.n_fields = 0;
    ASSERT_OK(agora_writer_create(&cfg, &wr, E));
    const void *data[1] = {"x"};
    assert_int_equal(agora_writer_snapshot(wr, 0, data, &err), AGORA_EINVAL);
    ASSERT_OK(agora_writer_close(wr, "failed", 0, 0, NULL, E));
    assert_int_equal(agora_writer_close(NULL, "complete", 0, 0, NULL, &err), 0);

    const char *text = test_tmp_path("output/not_hdf5.h5");
    FILE *fp = fopen(text, "w");
    assert_non_null(fp);
    fputs("this is not an HDF5 file\n", fp);
    fclose(fp);
    json_t *info = NULL;
    assert_int_equal(agora_h5_inspect(text, &info, &err), AGORA_EIO);
    assert_null(info);
    assert_non_null(strstr(err.msg, "not an HDF5 file"));
    assert_int_equal(agora_h5_inspect(test_tmp_path("output/missing.h5"), &info, &err), AGORA_EIO);
    assert_non_null(strstr(err.msg, "No such file"));

    H5E_auto2_t func = NULL;
    void *data_ptr = NULL;
    H5Eget_auto2(H5E_DEFAULT, &func, &data_ptr);
    int restored = func == count_prints;
    int prints = printed;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    assert_true(restored);
    assert_int_equal(prints, 0);
    agora_space_destroy(space);
}

static void table_splits_text_into_parts(void **state)
{
    (void)state;
    const char *path = test_tmp_path("output/table.h5");
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(f >= 0);
    static const agora__h5_column cols[] = {
        {"n", AGORA__H5_INT64, 0}, {"a", AGORA__H5_TEXT, 4}, {"b", AGORA__H5_TEXT, 8}, {"x", AGORA__H5_FLOAT64, 0}};
    agora__h5_table *t = NULL;
    agora_error err;
    static const agora__h5_column narrow[] = {{"a", AGORA__H5_TEXT, 3}};
    assert_int_equal(agora__h5_table_create(f, "bad", narrow, 1, 0, &t, &err), AGORA_EINVAL);
    static const agora__h5_column taken[] = {{"part", AGORA__H5_INT64, 0}};
    assert_int_equal(agora__h5_table_create(f, "bad", taken, 1, 0, &t, &err), AGORA_EINVAL);
    ASSERT_OK(agora__h5_table_create(f, "calls", cols, 4, 1, &t, E));

    /* "abcdefghij" needs three 4-byte parts; "xyz" fits in the first; numbers repeat. */
    agora__h5_cell r0[4] = {{.i = 7}, {.s = "abcdefghij"}, {.s = "xyz"}, {.f = 2.5}};
    /* "é€" is 5 bytes: a 4-byte cut would split €, so the parts are "é" and "€". NULL text is empty. */
    agora__h5_cell r1[4] = {{.i = -1}, {.s = "\xC3\xA9\xE2\x82\xAC"}, {.s = NULL}, {.f = -0.5}};
    int64_t id0 = -1, id1 = -1;
    ASSERT_OK(agora__h5_table_append(t, r0, &id0, E));
    ASSERT_OK(agora__h5_table_append(t, r1, &id1, E));
    assert_int_equal(id0, 0);
    assert_int_equal(id1, 1);
    assert_int_equal(agora__h5_table_count(t), 2);
    ASSERT_OK(agora__h5_table_flush(t, E));
    agora__h5_table_close(t);

    typedef struct {
        int64_t id, n;
        int32_t part;
        char a[4], b[8];
        double x;
    } row;
    hid_t d = H5Dopen2(f, "calls", H5P_DEFAULT);
    assert_true(d >= 0);
    assert_true(H5DSis_scale(d) > 0);
    hid_t s4 = H5Tcopy(H5T_C_S1), s8 = H5Tcopy(H5T_C_S1);
    H5Tset_size(s4, 4);
    H5Tset_strpad(s4, H5T_STR_NULLPAD);
    H5Tset_cset(s4, H5T_CSET_UTF8);
    H5Tset_size(s8, 8);
    H5Tset_strpad(s8, H5T_STR_NULLPAD);
    H5Tset_cset(s8, H5T_CSET_UTF8);
    hid_t rt = H5Tcreate(H5T_COMPOUND, sizeof(row));
    H5Tinsert(rt, "id", offsetof(row, id), H5T_NATIVE_INT64);
    H5Tinsert(rt, "n", offsetof(row, n), H5T_NATIVE_INT64);
    H5Tinsert(rt, "part", offsetof(row, part), H5T_NATIVE_INT32);
    H5Tinsert(rt, "a", offsetof(row, a), s4);
    H5Tinsert(rt, "b", offsetof(row, b), s8);
    H5Tinsert(rt, "x", offsetof(row, x), H5T_NATIVE_DOUBLE);
    hsize_t dims[3];
    assert_int_equal(shape_of(d, dims), 1);
    assert_int_equal(dims[0], 5);
    row rows[5];
    assert_true(H5Dread(d, rt, H5S_ALL, H5S_ALL, H5P_DEFAULT, rows) >= 0);
    const int64_t ids[5] = {0, 0, 0, 1, 1}, ns[5] = {7, 7, 7, -1, -1};
    const int32_t parts[5] = {0, 1, 2, 0, 1};
    const char *as[5] = {"abcd", "efgh", "ij", "\xC3\xA9", "\xE2\x82\xAC"};
    const char *bs[5] = {"xyz", "", "", "", ""};
    const double xs[5] = {2.5, 2.5, 2.5, -0.5, -0.5};
    for (int k = 0; k < 5; k++) {
        assert_int_equal(rows[k].id, ids[k]);
        assert_int_equal(rows[k].part, parts[k]);
        assert_int_equal(rows[k].n, ns[k]);
        assert_true(rows[k].x == xs[k]);
        assert_int_equal(strnlen(rows[k].a, 4), strlen(as[k]));
        assert_memory_equal(rows[k].a, as[k], strlen(as[k]));
        assert_int_equal(strnlen(rows[k].b, 8), strlen(bs[k]));
        assert_memory_equal(rows[k].b, bs[k], strlen(bs[k]));
    }
    H5Tclose(rt);
    H5Tclose(s4);
    H5Tclose(s8);
    H5Dclose(d);

    json_t *joined = NULL;
    ASSERT_OK(agora__h5_table_read(f, "calls", &joined, E));
    assert_int_equal(json_array_size(joined), 2);
    json_t *j0 = json_array_get(joined, 0), *j1 = json_array_get(joined, 1);
    assert_int_equal(json_object_size(j0), 5); /* id n a b x */
    assert_text_eq(json_object_get(j0, "a"), "abcdefghij");
    assert_text_eq(json_object_get(j0, "b"), "xyz");
    assert_int_equal(json_integer_value(json_object_get(j0, "n")), 7);
    assert_true(json_real_value(json_object_get(j0, "x")) == 2.5);
    assert_text_eq(json_object_get(j1, "a"), "\xC3\xA9\xE2\x82\xAC");
    assert_text_eq(json_object_get(j1, "b"), "");
    assert_int_equal(json_integer_value(json_object_get(j1, "id")), 1);
    json_decref(joined);
    H5Fclose(f);
}

/* ---- personas and LLM calls (mixed runs) ----------------------------------------------------------------------- */

static const agora_writer_persona two_personas[] = {
    {"minister", "Health Minister", "health_minister", "ollama", "llama3.2",
     "You are cautious.\nYou weigh \"lives\" over growth. Café — 😀"},
    {"economist", "Economy Minister", "economy_minister", "ollama", "llama3.2", NULL},
};

/* UTF-8 text of exactly `size` bytes made of lines with newlines, quotes and non-ASCII characters ("é — 😀"), with a
 * 4-byte 😀 placed across byte `straddle` (bytes straddle-2 .. straddle+1), so a cut at `straddle` must back off. */
static char *mixed_text(size_t size, size_t straddle)
{
    char *t = malloc(size + 1);
    assert_non_null(t);
    size_t n = 0;
    int line = 0;
    while (n < size) {
        char piece[96];
        int k;
        if (n + 2 == straddle || (n < straddle - 2 && n + 40 > straddle - 2)) {
            /* Pad with ASCII up to straddle - 2, then the emoji across the cut. */
            while (n < straddle - 2)
                t[n++] = 'a';
            k = snprintf(piece, sizeof piece, "\xF0\x9F\x98\x80");
        } else {
            k = snprintf(piece, sizeof piece, "line %d: \"quoted\" caf\xC3\xA9 \xE2\x80\x94 \xF0\x9F\x98\x80\n",
                         line++);
        }
        if (n + (size_t)k > size) { /* finish with ASCII so the text stays valid UTF-8 */
            while (n < size)
                t[n++] = '.';
            break;
        }
        memcpy(t + n, piece, (size_t)k);
        n += (size_t)k;
    }
    t[size] = '\0';
    assert_memory_equal(t + straddle - 2, "\xF0\x9F\x98\x80", 4);
    return t;
}

typedef struct call_set {
    char *long_prompt, *long_reply;
    agora_persona_call calls[5];
} call_set;

/* Five calls by two personas: the first with a 10 kB prompt (its 😀 straddles the 2048-byte cut) and a 3 kB reply
 * (😀 across the 1024-byte cut); an invalid reply and its repair; a timeout; an HTTP error. Latencies are exact in
 * binary so means compare with ==. */
static void make_calls(call_set *cs)
{
    cs->long_prompt = mixed_text(10240, 2048);
    cs->long_reply = mixed_text(3000, 1024);
    agora_persona_call c[5] = {
        {.step = 0, .persona = "minister", .attempt = 1, .provider = "ollama", .model = "llama3.2",
         .latency_ms = 125.5, .prompt_tokens = 1200, .completion_tokens = 80, .http_status = 200,
         .http_attempts = 1, .status = "ok", .error = "", .prompt = cs->long_prompt, .reply = cs->long_reply},
        {.step = 0, .persona = "economist", .attempt = 1, .provider = "ollama", .model = "llama3.2",
         .latency_ms = 250.25, .prompt_tokens = -1, .completion_tokens = -1, .http_status = 200, .http_attempts = 2,
         .status = "invalid", .error = "actions[0].strength: 1.5 is above the maximum 1",
         .prompt = "system: you are the economy minister\nuser: {\"I_frac\": 0.01}", .reply = "sure! {\"actions\": 1}"},
        {.step = 0, .persona = "economist", .attempt = 2, .provider = "ollama", .model = "llama3.2",
         .latency_ms = 100.0, .prompt_tokens = 300, .completion_tokens = 20, .http_status = 200, .http_attempts = 1,
         .status = "ok", .error = "", .prompt = "repair: \"strength\" must be <= 1",
         .reply = "{\"reasoning\": \"caf\xC3\xA9\", \"actions\": []}"},
        {.step = 7, .persona = "minister", .attempt = 1, .provider = "ollama", .model = "llama3.2",
         .latency_ms = 60000.0, .prompt_tokens = -1, .completion_tokens = -1, .http_status = 0, .http_attempts = 3,
         .status = "timeout", .error = "timed out after 60 s", .prompt = "p", .reply = NULL},
        {.step = 7, .persona = "economist", .attempt = 1, .provider = "ollama", .model = "llama3.2",
         .latency_ms = 12.75, .prompt_tokens = 500, .completion_tokens = 0, .http_status = 429, .http_attempts = 4,
         .status = "http_error", .error = "HTTP 429 Too Many Requests", .prompt = "q", .reply = ""},
    };
    memcpy(cs->calls, c, sizeof c);
}

static void free_calls(call_set *cs)
{
    free(cs->long_prompt);
    free(cs->long_reply);
}

static agora_writer_config mixed_config(const char *path, const agora_space *space)
{
    agora_writer_config cfg = sir_config(path, space);
    cfg.mode = "mixed";
    cfg.n_personas = 2;
    cfg.personas = two_personas;
    return cfg;
}

/* Every column of every call, as agora_h5_llm_calls returns it, against what was written. */
static void assert_calls_equal(const json_t *rows, const agora_persona_call *calls, int n)
{
    assert_true(json_is_array(rows));
    assert_int_equal(json_array_size(rows), n);
    for (int k = 0; k < n; k++) {
        const json_t *r = json_array_get(rows, (size_t)k);
        const agora_persona_call *c = &calls[k];
        assert_int_equal(json_object_size(r), 15); /* id + 14 columns */
        assert_int_equal(json_integer_value(json_object_get(r, "id")), k);
        assert_int_equal(json_integer_value(json_object_get(r, "step")), c->step);
        assert_text_eq(json_object_get(r, "persona"), c->persona);
        assert_int_equal(json_integer_value(json_object_get(r, "attempt")), c->attempt);
        assert_text_eq(json_object_get(r, "provider"), c->provider);
        assert_text_eq(json_object_get(r, "model"), c->model);
        assert_true(json_is_real(json_object_get(r, "latency_ms")));
        assert_true(json_real_value(json_object_get(r, "latency_ms")) == c->latency_ms);
        assert_int_equal(json_integer_value(json_object_get(r, "prompt_tokens")), c->prompt_tokens);
        assert_int_equal(json_integer_value(json_object_get(r, "completion_tokens")), c->completion_tokens);
        assert_int_equal(json_integer_value(json_object_get(r, "http_status")), c->http_status);
        assert_int_equal(json_integer_value(json_object_get(r, "http_attempts")), c->http_attempts);
        assert_text_eq(json_object_get(r, "status"), c->status);
        assert_text_eq(json_object_get(r, "error"), c->error ? c->error : "");
        /* Lengths first: a text must come back byte for byte, not just as a prefix. */
        const json_t *prompt = json_object_get(r, "prompt"), *reply = json_object_get(r, "reply");
        assert_int_equal(json_string_length(prompt), strlen(c->prompt ? c->prompt : ""));
        assert_text_eq(prompt, c->prompt ? c->prompt : "");
        assert_int_equal(json_string_length(reply), strlen(c->reply ? c->reply : ""));
        assert_text_eq(reply, c->reply ? c->reply : "");
    }
}

static void assert_totals(const json_t *per, const char *id, json_int_t calls, json_int_t ok, json_int_t invalid,
                          json_int_t failed, json_int_t pt, json_int_t ct, double mean, double max)
{
    const json_t *t = json_object_get(per, id);
    assert_non_null(t);
    assert_int_equal(json_object_size(t), 9);
    assert_int_equal(json_integer_value(json_object_get(t, "calls")), calls);
    assert_int_equal(json_integer_value(json_object_get(t, "skipped")), 0); /* every call here was made */
    assert_int_equal(json_integer_value(json_object_get(t, "ok")), ok);
    assert_int_equal(json_integer_value(json_object_get(t, "invalid")), invalid);
    assert_int_equal(json_integer_value(json_object_get(t, "failed")), failed);
    assert_int_equal(json_integer_value(json_object_get(t, "prompt_tokens")), pt);
    assert_int_equal(json_integer_value(json_object_get(t, "completion_tokens")), ct);
    assert_true(json_real_value(json_object_get(t, "latency_ms_mean")) == mean);
    assert_true(json_real_value(json_object_get(t, "latency_ms_max")) == max);
}

static void mixed_run_records_personas_and_llm_calls(void **state)
{
    (void)state;
    const char *path = test_tmp_path("output/mixed.h5");
    agora_space *space = NULL;
    ASSERT_OK(agora_space_grid_create(8, 5, 1, AGORA_MOORE, &space, E));
    agora_writer_config cfg = mixed_config(path, space);
    call_set cs;
    make_calls(&cs);
    agora_writer *wr = NULL;
    ASSERT_OK(agora_writer_create(&cfg, &wr, E));
    for (int64_t t = 0; t < 10; t++) {
        double v[3];
        sir_row(t, v);
        ASSERT_OK(agora_writer_metrics(wr, t, v, E));
        for (int k = 0; k < 5; k++)
            if (cs.calls[k].step == t)
                ASSERT_OK(agora_writer_llm_call(wr, &cs.calls[k], E));
        if (t == 4)
            ASSERT_OK(agora_writer_flush(wr, E));
    }
    ASSERT_OK(agora_writer_flush(wr, E));
    ASSERT_OK(agora_writer_close(wr, "complete", 10, 0.5, NULL, E));

    json_t *rows = NULL;
    ASSERT_OK(agora_h5_llm_calls(path, &rows, E));
    assert_calls_equal(rows, cs.calls, 5);
    json_decref(rows);

    json_t *info = NULL;
    ASSERT_OK(agora_h5_inspect(path, &info, E));
    const json_t *personas = json_object_get(info, "personas");
    assert_int_equal(json_array_size(personas), 2);
    const json_t *p0 = json_array_get(personas, 0), *p1 = json_array_get(personas, 1);
    assert_int_equal(json_object_size(p0), 5);
    assert_text_eq(json_object_get(p0, "id"), "minister");
    assert_text_eq(json_object_get(p0, "name"), "Health Minister");
    assert_text_eq(json_object_get(p0, "role"), "health_minister");
    assert_text_eq(json_object_get(p0, "provider"), "ollama");
    assert_text_eq(json_object_get(p0, "model"), "llama3.2");
    assert_text_eq(json_object_get(p1, "id"), "economist");
    assert_text_eq(json_object_get(p1, "name"), "Economy Minister");
    const json_t *llm = json_object_get(info, "llm");
    assert_int_equal(json_integer_value(json_object_get(llm, "calls")), 5);
    const json_t *per = json_object_get(llm, "per_persona");
    assert_int_equal(json_object_size(per), 2);
    /* minister: ok + timeout; unknown tokens (-1) are left out of the sums. (125.5 + 60000) / 2 = 30062.75. */
    assert_totals(per, "minister", 2, 1, 0, 1, 1200, 80, 30062.75, 60000.0);
    /* economist: invalid, its repair (ok), an HTTP error. (250.25 + 100 + 12.75) / 3 = 121. */
    assert_totals(per, "economist", 3, 1, 1, 1, 800, 20, 121.0, 250.25);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(info, "time"), "rows")), 10);
    json_decref(info);

    /* The persona text is stored whole, with its newline, quotes and non-ASCII characters; NULLs read as "". */
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(f >= 0);
    hid_t g = H5Gopen2(f, "personas/minister", H5P_DEFAULT);
    assert_true(g >= 0);
    char *text = attr_text(g, "persona");
    assert_string_equal(text, two_personas[0].persona);
    free(text);
    H5Gclose(g);
    g = H5Gopen2(f, "personas/economist", H5P_DEFAULT);
    assert_true(g >= 0);
    text = attr_text(g, "persona");
    assert_string_equal(text, "");
    free(text);
    H5Gclose(g);
    /* attempt and the HTTP columns are int32 on disk. Call 0 takes six rows: its prompt's first piece stops at byte
     * 2046 (before the 😀), which leaves 8194 bytes, more than four further 2048-byte pieces; the other calls fit
     * in one row each. */
    hid_t d = H5Dopen2(f, "llm/calls", H5P_DEFAULT);
    assert_true(d >= 0);
    hid_t ft = H5Dget_type(d);
    int idx = H5Tget_member_index(ft, "attempt");
    assert_true(idx >= 0);
    hid_t mt = H5Tget_member_type(ft, (unsigned)idx);
    assert_int_equal(H5Tget_size(mt), 4);
    H5Tclose(mt);
    H5Tclose(ft);
    hsize_t dims[3];
    assert_int_equal(shape_of(d, dims), 1);
    assert_int_equal(dims[0], 6 + 4);
    H5Dclose(d);
    H5Fclose(f);

    setenv("AGORA_H5", path, 1);
    if (system("command -v h5ls >/dev/null 2>&1") == 0) {
        char out[4096];
        assert_int_equal(run_capture("h5ls -r \"$AGORA_H5\" 2>&1", out, sizeof out), 0);
        assert_non_null(strstr(out, "/llm/calls "));
        assert_non_null(strstr(out, "/personas/minister "));
        assert_non_null(strstr(out, "/personas/economist "));
    } else {
        print_message("h5ls not found: skipping the h5ls check\n");
    }
    free_calls(&cs);
    agora_space_destroy(space);
}

static void mechanics_run_has_no_personas_or_llm(void **state)
{
    (void)state;
    const char *path = test_tmp_path("output/mechanics.h5");
    agora_space *space = NULL;
    ASSERT_OK(agora_space_grid_create(8, 5, 1, AGORA_MOORE, &space, E));
    agora_writer_config cfg = sir_config(path, space);
    agora_writer *wr = NULL;
    ASSERT_OK(agora_writer_create(&cfg, &wr, E));
    double v[3];
    sir_row(0, v);
    ASSERT_OK(agora_writer_metrics(wr, 0, v, E));
    call_set cs;
    make_calls(&cs);
    agora_error err;
    assert_int_equal(agora_writer_llm_call(wr, &cs.calls[1], &err), AGORA_EINVAL);
    assert_int_equal(agora_writer_llm_call(NULL, &cs.calls[1], &err), AGORA_EINVAL);
    free_calls(&cs);
    ASSERT_OK(agora_writer_close(wr, "complete", 1, 0.1, NULL, E));

    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(f >= 0);
    assert_int_equal(H5Lexists(f, "personas", H5P_DEFAULT), 0);
    assert_int_equal(H5Lexists(f, "llm", H5P_DEFAULT), 0);
    H5Fclose(f);
    json_t *info = NULL;
    ASSERT_OK(agora_h5_inspect(path, &info, E));
    assert_null(json_object_get(info, "personas"));
    assert_null(json_object_get(info, "llm"));
    json_decref(info);
    json_t *rows = NULL;
    ASSERT_OK(agora_h5_llm_calls(path, &rows, E));
    assert_true(json_is_array(rows));
    assert_int_equal(json_array_size(rows), 0);
    json_decref(rows);
    assert_int_equal(agora_h5_llm_calls(test_tmp_path("output/missing.h5"), &rows, &err), AGORA_EIO);
    assert_null(rows);

    setenv("AGORA_H5", path, 1);
    if (system("command -v h5ls >/dev/null 2>&1") == 0) {
        char out[4096];
        assert_int_equal(run_capture("h5ls -r \"$AGORA_H5\" 2>&1", out, sizeof out), 0);
        assert_non_null(strstr(out, "/events "));
        assert_null(strstr(out, "/llm"));
        assert_null(strstr(out, "/personas"));
    }

    /* Persona ids name groups: they must be usable names and unique. */
    static const agora_writer_persona bad_id[] = {{"a/b", "x", "r", "offline", "rules", ""}};
    static const agora_writer_persona twice[] = {{"m", "x", "r", "offline", "rules", ""},
                                                 {"m", "y", "r", "offline", "rules", ""}};
    cfg.path = test_tmp_path("output/bad_personas.h5");
    cfg.n_personas = 1;
    cfg.personas = bad_id;
    assert_int_equal(agora_writer_create(&cfg, &wr, &err), AGORA_EINVAL);
    assert_null(wr);
    cfg.n_personas = 2;
    cfg.personas = twice;
    assert_int_equal(agora_writer_create(&cfg, &wr, &err), AGORA_EINVAL);
    assert_non_null(strstr(err.msg, "declared twice"));
    cfg.personas = NULL;
    assert_int_equal(agora_writer_create(&cfg, &wr, &err), AGORA_EINVAL);
    agora_space_destroy(space);
}

static void killed_writer_keeps_flushed_llm_calls(void **state)
{
    (void)state;
    const char *path = test_tmp_path("output/killed_mixed.h5");
    agora_space *space = NULL;
    ASSERT_OK(agora_space_grid_create(8, 5, 1, AGORA_MOORE, &space, E));
    agora_writer_config cfg = mixed_config(path, space);
    call_set cs;
    make_calls(&cs);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        agora_writer *wr = NULL;
        agora_error e;
        if (agora_writer_create(&cfg, &wr, &e) != 0)
            _exit(2);
        for (int k = 0; k < 3; k++)
            if (agora_writer_llm_call(wr, &cs.calls[k], &e) != 0)
                _exit(3);
        if (agora_writer_flush(wr, &e) != 0)
            _exit(4);
        /* Never flushed. */
        agora_writer_llm_call(wr, &cs.calls[3], &e);
        raise(SIGKILL);
        _exit(5);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGKILL);

    json_t *rows = NULL;
    ASSERT_OK(agora_h5_llm_calls(path, &rows, E));
    assert_calls_equal(rows, cs.calls, 3);
    json_decref(rows);
    json_t *info = NULL;
    ASSERT_OK(agora_h5_inspect(path, &info, E));
    assert_true(json_is_false(json_object_get(info, "complete")));
    assert_int_equal(json_array_size(json_object_get(info, "personas")), 2);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(info, "llm"), "calls")), 3);
    json_decref(info);
    free_calls(&cs);
    agora_space_destroy(space);
}

int main(void)
{
    /* Tests provoke HDF5 failures on purpose (a plain open of a killed writer's file); keep stderr quiet. */
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    mkdir(AGORA_TEST_TMP, 0755);
    mkdir(AGORA_TEST_TMP "/output", 0755);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(grid_run_reads_back_with_the_hdf5_api),
        cmocka_unit_test(grid_run_inspects_as_json),
        cmocka_unit_test(graph_run_writes_agent_dimension),
        cmocka_unit_test(big_snapshots_are_chunked_below_4_mib),
        cmocka_unit_test(killed_writer_keeps_flushed_rows),
        cmocka_unit_test(swmr_reader_sees_rows_grow),
        cmocka_unit_test(external_tools_read_the_file),
        cmocka_unit_test(errors_are_reported_not_printed),
        cmocka_unit_test(table_splits_text_into_parts),
        cmocka_unit_test(mixed_run_records_personas_and_llm_calls),
        cmocka_unit_test(mechanics_run_has_no_personas_or_llm),
        cmocka_unit_test(killed_writer_keeps_flushed_llm_calls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
