/* agora — the HDF5 run file writer (output.h). Its helpers are in h5util.c (errors, attributes) and h5table.c (the
 * append-only text table of /events and /llm/calls).
 *
 * One writer owns one file. agora_writer_create makes every group, dataset and attribute up front, because nothing
 * can be created once SWMR writing has started, and then starts SWMR writing. From then on:
 *   - metric rows are buffered in memory and written at agora_writer_flush (one extent change per flush rather than
 *     per step, and a killed run loses exactly the rows after the last flush);
 *   - snapshots are written through at once, since one can be as large as the grid (10^8 agents), and become
 *     visible to readers at the next flush; the caller's array is handed to HDF5 directly, never copied;
 *   - events and LLM calls (/llm/calls, runs with personas only) go through the text table, buffered like metrics.
 * agora_writer_close flushes, closes the file (which ends SWMR writing), reopens it normally and records the final
 * status, so a cleanly closed file opens in any HDF5 tool while a killed one still says "running".
 *
 * Layout choices that readers rely on:
 *   - /time and /metrics/<name> are uncompressed, 1024 rows per chunk: every flush rewrites the last chunk, and an
 *     uncompressed chunk is rewritten in place, while a compressed one changes size and moves.
 *   - /metrics/time is a second hard link to /time. xarray (engine="h5netcdf", group="metrics") takes coordinate
 *     values only from the group it opens, so without the link the metrics group would have a `time` dimension but
 *     no time values. It is the same dataset, so attaching to /time attaches to it.
 *   - snapshot chunks hold one snapshot, split into bands of rows (or pieces of a row) above 4 MiB, so a notebook
 *     reads one snapshot without decompressing others and HDF5's chunk buffers stay small.
 *   - tables (/events, /llm/calls) are dimension scales of themselves (see agora__h5_table_create). */
#define _GNU_SOURCE /* memfd_create */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <hdf5.h>
#include <hdf5_hl.h>

#include "agora/agora.h"
#include "core/internal.h"
#include "io/h5internal.h"

/* ---- the run file writer --------------------------------------------------------------------------------------- */

/* Rows per chunk of /time and /metrics/<name> (8 KiB of float64). */
#define SERIES_CHUNK 1024
/* Rows per chunk of /snapshots/time: snapshots are rare, so a small chunk. */
#define SNAP_TIME_CHUNK 256
/* Largest uncompressed snapshot chunk. */
#define SNAP_CHUNK_BYTES ((hsize_t)4 << 20)
/* Index scales (/snapshots/x, y, agent) are written in blocks of this many values, so a 10^8-agent graph does not
 * need a 800 MB array of 0 .. N-1 in memory. */
#define INDEX_BLOCK 65536

/* Column widths of /events, in bytes of UTF-8. Longer values continue in further rows (h5internal.h). */
static const agora__h5_column event_columns[] = {
    {"step", AGORA__H5_INT64, 0},     {"source", AGORA__H5_TEXT, 64},   {"status", AGORA__H5_TEXT, 16},
    {"action", AGORA__H5_TEXT, 2048}, {"message", AGORA__H5_TEXT, 512},
};
#define N_EVENT_COLUMNS ((int)(sizeof event_columns / sizeof event_columns[0]))

/* Column widths of /llm/calls. Ids, provider and status names fit their columns; model names usually do (a longer
 * one continues like any text). Prompts run to several kilobytes and replies to one or two: 2048- and 1024-byte
 * pieces keep a typical call within a few rows, and the padding of short ones is deflated away. */
static const agora__h5_column llm_call_columns[] = {
    {"step", AGORA__H5_INT64, 0},          {"persona", AGORA__H5_TEXT, 64},
    {"attempt", AGORA__H5_INT32, 0},       {"provider", AGORA__H5_TEXT, 32},
    {"model", AGORA__H5_TEXT, 128},        {"latency_ms", AGORA__H5_FLOAT64, 0},
    {"prompt_tokens", AGORA__H5_INT64, 0}, {"completion_tokens", AGORA__H5_INT64, 0},
    {"http_status", AGORA__H5_INT32, 0},   {"http_attempts", AGORA__H5_INT32, 0},
    {"status", AGORA__H5_TEXT, 32},        {"error", AGORA__H5_TEXT, 256},
    {"prompt", AGORA__H5_TEXT, 2048},      {"reply", AGORA__H5_TEXT, 1024},
};
#define N_LLM_CALL_COLUMNS ((int)(sizeof llm_call_columns / sizeof llm_call_columns[0]))

struct agora_writer {
    char *path;
    hid_t file;
    hid_t time;       /* /time */
    hid_t *metric;    /* [n_metrics] /metrics/<name> */
    hid_t snap_time;  /* /snapshots/time, when there are fields */
    hid_t *field;     /* [n_fields] /snapshots/<name> */
    hid_t *field_mem; /* [n_fields] memory type of each field (predefined native types, never closed) */
    int n_metrics, n_fields;
    int rank;            /* of one snapshot: 2 (grid: H, W) or 1 (graph: N) */
    hsize_t shape[2];    /* one snapshot's shape */
    hsize_t rows, snaps; /* metric rows and snapshots on disk */
    int snap_dirty;      /* snapshots written since the last flush */
    /* metric rows waiting for the next flush: t[k], and values[k * n_metrics + m] */
    int64_t *buf_t;
    double *buf_v;
    size_t buf_n, buf_cap;
    agora__h5_table *events;
    agora__h5_table *calls;   /* /llm/calls; NULL in a run without personas */
    agora__h5_table **tables; /* the config's own tables */
    int n_tables;
    /* per-persona totals of the calls, written as attributes of /personas/<id> when the file is closed */
    int n_personas;
    struct persona_totals {
        char id[128];
        int64_t calls, ok, invalid, failed, skipped, prompt_tokens, completion_tokens, latency_n;
        double latency_sum, latency_max;
    } * totals;
    /* A write failed in the operating system (a full disk, a file-size limit, a failing device): HDF5's view of
     * the file can no longer reach the disk, so nothing more is written and the close takes the careful path. */
    int broken;
    char error[600]; /* why the run failed, recorded as the root attribute `error` (empty: it did not) */
};

static void writer_close_handles(agora_writer *wr)
{
    agora__h5_table_close(wr->events);
    wr->events = NULL;
    agora__h5_table_close(wr->calls);
    wr->calls = NULL;
    for (int i = 0; wr->tables && i < wr->n_tables; i++) {
        agora__h5_table_close(wr->tables[i]);
        wr->tables[i] = NULL;
    }
    if (wr->metric)
        for (int i = 0; i < wr->n_metrics; i++)
            agora__h5_close(&wr->metric[i]);
    if (wr->field)
        for (int i = 0; i < wr->n_fields; i++)
            agora__h5_close(&wr->field[i]);
    agora__h5_close(&wr->time);
    agora__h5_close(&wr->snap_time);
}

/* ---- running out of room ------------------------------------------------------------------------------------------
 *
 * HDF5 does not recover from a failed write: the metadata it could not write stays dirty, every later flush and
 * the close fail again, and the library crashes at exit trying once more (seen with a full disk). So the writer
 * does two things. Before each large write it checks that the file system (and the process's file-size limit,
 * `ulimit -f`) leave room for it plus a reserve, and if not, it stops the run with a clear error while the file can
 * still be closed properly and marked "failed". And when a write fails anyway (another process filled the disk),
 * it points the file's descriptor at a scratch file in memory, so that HDF5 can close what it has without touching
 * the disk again, then records the failure in the file as it was at its last flush, or removes the file when even
 * that cannot be written. */

/* What closing needs: the final attributes (status, summary, persona totals) and the metadata of the last flush. */
#define WRITER_RESERVE ((uint64_t)256 << 10)

/* Bytes this process may still add to the file at `path`: the free space of its file system for unprivileged
 * users and what the file-size limit leaves; UINT64_MAX when neither is known. */
static uint64_t writable_bytes(const char *path)
{
    uint64_t room = UINT64_MAX;
    struct statvfs vfs;
    int ok = statvfs(path, &vfs) == 0;
    if (!ok) { /* not created yet: its directory's file system */
        char dir[4096];
        snprintf(dir, sizeof dir, "%s", path);
        char *slash = strrchr(dir, '/');
        if (slash && slash != dir)
            *slash = '\0';
        else
            snprintf(dir, sizeof dir, "%s", slash ? "/" : ".");
        ok = statvfs(dir, &vfs) == 0;
    }
    if (ok && vfs.f_frsize > 0 && vfs.f_blocks > 0) /* no blocks at all: a file system that does not count them */
        room = (uint64_t)vfs.f_bavail * (uint64_t)vfs.f_frsize;
    struct rlimit rl;
    if (getrlimit(RLIMIT_FSIZE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
        struct stat st;
        uint64_t size = stat(path, &st) == 0 && st.st_size > 0 ? (uint64_t)st.st_size : 0;
        uint64_t left = (uint64_t)rl.rlim_cur > size ? (uint64_t)rl.rlim_cur - size : 0;
        room = left < room ? left : room;
    }
    return room;
}

static void human_bytes(uint64_t n, char *buf, size_t size)
{
    if (n >= (uint64_t)10 << 30)
        snprintf(buf, size, "%.1f GiB", (double)n / (double)(1u << 30));
    else if (n >= (uint64_t)10 << 20)
        snprintf(buf, size, "%.1f MiB", (double)n / (double)(1u << 20));
    else if (n >= (uint64_t)10 << 10)
        snprintf(buf, size, "%.1f KiB", (double)n / 1024.0);
    else
        snprintf(buf, size, "%llu bytes", (unsigned long long)n);
}

/* AGORA_EIO unless `need` bytes (and the reserve for closing) fit. */
static int need_room(const agora_writer *wr, uint64_t need, const char *what, agora_error *err)
{
    uint64_t room = writable_bytes(wr->path);
    if (room == UINT64_MAX || room >= need + WRITER_RESERVE)
        return 0;
    char have[32], want[32];
    human_bytes(room, have, sizeof have);
    human_bytes(need + WRITER_RESERVE, want, sizeof want);
    if (wr->file < 0)
        return agora_error_set(err, AGORA_EIO, wr->path, "no space left on device: %s free, %s needs at least %s", have,
                               what, want);
    return agora_error_set(err, AGORA_EIO, wr->path,
                           "no space left on device: %s free, %s needs up to %s (with room to close the file); "
                           "stopped while the file can still be closed",
                           have, what, want);
}

/* Points the file's descriptor at an empty file in memory, so that HDF5 can close it without writing to the disk
 * (see above). The disk keeps the file as it was at the last successful flush. */
static void detach_file(hid_t file)
{
    void *handle = NULL;
    if (file < 0 || H5Fget_vfd_handle(file, H5P_DEFAULT, &handle) < 0 || !handle)
        return;
    int fd = *(int *)handle;
    int scratch = memfd_create("agora-detached", 0);
    if (scratch < 0)
        scratch = open("/dev/null", O_RDWR);
    if (scratch >= 0) {
        dup2(scratch, fd);
        close(scratch);
    }
}

/* Whether the file system takes `bytes` more right now: writes them to a scratch file beside the run file (and
 * syncs, so delayed allocation cannot say yes too early), then removes it. Free-space figures alone do not tell,
 * since the write that failed was foreseen by none. */
static int room_now(const char *path, uint64_t bytes)
{
    char probe[4200];
    snprintf(probe, sizeof probe, "%s.room", path);
    int fd = open(probe, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return 0;
    static const char zeros[65536];
    int ok = 1;
    for (uint64_t done = 0; ok && done < bytes; done += sizeof zeros)
        ok = write(fd, zeros, sizeof zeros) == (ssize_t)sizeof zeros;
    ok = ok && fsync(fd) == 0;
    close(fd);
    unlink(probe);
    return ok;
}

/* After a failed write: an error of the operating system breaks the writer (see above). Returns rc. */
static int note_failure(agora_writer *wr, int rc, const agora_error *e)
{
    if (rc == AGORA_EIO && !wr->broken) {
        wr->broken = 1;
        if (e && !wr->error[0])
            agora_error_format(e, wr->error, sizeof wr->error);
    }
    return rc;
}

/* The error of a writer that is broken, for every call after the failure. */
static int broken_error(const agora_writer *wr, agora_error *err)
{
    return agora_error_set(err, AGORA_EIO, wr->path, "the run file can no longer be written: %s", wr->error);
}

static void writer_free(agora_writer *wr)
{
    if (!wr)
        return;
    if (wr->broken)
        detach_file(wr->file); /* before the handles: closing a dataset may write its metadata */
    writer_close_handles(wr);
    agora__h5_close(&wr->file);
    free(wr->metric);
    free(wr->field);
    free(wr->field_mem);
    free(wr->buf_t);
    free(wr->buf_v);
    free(wr->path);
    free(wr->totals);
    free(wr->tables);
    free(wr);
}

static int valid_name(const char *name)
{
    return name && *name && !strchr(name, '/') && strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

static int check_config(const agora_writer_config *cfg, agora_error *err)
{
    if (!cfg->path || !*cfg->path)
        return agora_error_set(err, AGORA_EINVAL, NULL, "the writer needs a file path");
    if (cfg->n_metrics < 0 || (cfg->n_metrics > 0 && !cfg->metrics))
        return agora_error_set(err, AGORA_EINVAL, cfg->path, "metrics: %d declared without specs", cfg->n_metrics);
    if (cfg->n_fields < 0 || (cfg->n_fields > 0 && !cfg->fields))
        return agora_error_set(err, AGORA_EINVAL, cfg->path, "fields: %d declared without specs", cfg->n_fields);
    if (cfg->compression < 0 || cfg->compression > 9)
        return agora_error_set(err, AGORA_EINVAL, cfg->path, "compression must be a deflate level 0..9, got %d",
                               cfg->compression);
    for (int i = 0; i < cfg->n_metrics; i++) {
        const char *n = cfg->metrics[i].name;
        if (!valid_name(n))
            return agora_error_set(err, AGORA_EINVAL, cfg->path, "metric %d: invalid name \"%s\"", i, n ? n : "");
        for (int j = 0; j < i; j++)
            if (!strcmp(n, cfg->metrics[j].name))
                return agora_error_set(err, AGORA_EINVAL, cfg->path, "metric \"%s\" is declared twice", n);
    }
    if (cfg->n_personas < 0 || (cfg->n_personas > 0 && !cfg->personas))
        return agora_error_set(err, AGORA_EINVAL, cfg->path, "personas: %d declared without records", cfg->n_personas);
    for (int i = 0; i < cfg->n_personas; i++) {
        const char *id = cfg->personas[i].id;
        if (!valid_name(id))
            return agora_error_set(err, AGORA_EINVAL, cfg->path, "persona %d: invalid id \"%s\"", i, id ? id : "");
        for (int j = 0; j < i; j++)
            if (!strcmp(id, cfg->personas[j].id))
                return agora_error_set(err, AGORA_EINVAL, cfg->path, "persona \"%s\" is declared twice", id);
    }
    if (cfg->n_fields == 0)
        return 0;
    const agora_space *sp = cfg->space;
    if (!sp || (sp->kind != AGORA_SPACE_GRID && sp->kind != AGORA_SPACE_GRAPH && sp->kind != AGORA_SPACE_MIXED) ||
        sp->n < 1 || (sp->kind == AGORA_SPACE_GRID && (sp->grid.width < 1 || sp->grid.height < 1)))
        return agora_error_set(err, AGORA_EINVAL, cfg->path, "snapshot fields need a space");
    for (int i = 0; i < cfg->n_fields; i++) {
        const char *n = cfg->fields[i].name;
        /* The scales share the group with the fields. */
        if (!valid_name(n) || !strcmp(n, "time") ||
            (sp->kind == AGORA_SPACE_GRID ? !strcmp(n, "x") || !strcmp(n, "y") : !strcmp(n, "agent")))
            return agora_error_set(err, AGORA_EINVAL, cfg->path, "field %d: invalid or reserved name \"%s\"", i,
                                   n ? n : "");
        if (agora_dtype_size(cfg->fields[i].type) <= 0)
            return agora_error_set(err, AGORA_EINVAL, cfg->path, "field %s: unknown type %d", n,
                                   (int)cfg->fields[i].type);
        for (int j = 0; j < i; j++)
            if (!strcmp(n, cfg->fields[j].name))
                return agora_error_set(err, AGORA_EINVAL, cfg->path, "field \"%s\" is declared twice", n);
    }
    return 0;
}

/* The file type (little-endian, as HDF5 files usually are) and memory type of a field. */
static hid_t dtype_file(agora_dtype t)
{
    switch (t) {
    case AGORA_DTYPE_U8:
        return H5T_STD_U8LE;
    case AGORA_DTYPE_I32:
        return H5T_STD_I32LE;
    case AGORA_DTYPE_I64:
        return H5T_STD_I64LE;
    case AGORA_DTYPE_F32:
        return H5T_IEEE_F32LE;
    default:
        return H5T_IEEE_F64LE;
    }
}

static hid_t dtype_mem(agora_dtype t)
{
    switch (t) {
    case AGORA_DTYPE_U8:
        return H5T_NATIVE_UINT8;
    case AGORA_DTYPE_I32:
        return H5T_NATIVE_INT32;
    case AGORA_DTYPE_I64:
        return H5T_NATIVE_INT64;
    case AGORA_DTYPE_F32:
        return H5T_NATIVE_FLOAT;
    default:
        return H5T_NATIVE_DOUBLE;
    }
}

static void utc_now(char *buf, size_t size)
{
    time_t now = time(NULL);
    struct tm tm;
    if (!gmtime_r(&now, &tm) || strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, size, "unknown");
}

static int write_root_attributes(hid_t file, const agora_writer_config *cfg, agora_error *err)
{
    char space[256], created[32];
    agora_space_describe(cfg->space, space, sizeof space);
    utc_now(created, sizeof created);
    int64_t n_agents = cfg->space ? cfg->space->n : 0;
    int threads = cfg->threads;
    uint64_t seed = cfg->seed;
    int rc;
    if ((rc = agora__h5_attr_text(file, "agora_version", agora_version(), err)) ||
        (rc = agora__h5_attr_text(file, "mode", cfg->mode, err)) ||
        (rc = agora__h5_attr_text(file, "model", cfg->model, err)) ||
        (rc = agora__h5_attr_scalar(file, "seed", H5T_STD_U64LE, H5T_NATIVE_UINT64, &seed, err)) ||
        (rc = agora__h5_attr_scalar(file, "threads", H5T_STD_I32LE, H5T_NATIVE_INT, &threads, err)) ||
        (rc = agora__h5_attr_scalar(file, "n_agents", H5T_STD_I64LE, H5T_NATIVE_INT64, &n_agents, err)) ||
        (rc = agora__h5_attr_text(file, "space", space, err)) ||
        (rc = agora__h5_attr_text(file, "scenario", cfg->scenario_text, err)) ||
        (rc = agora__h5_attr_text(file, "scenario_path", cfg->scenario_path, err)) ||
        (rc = agora__h5_attr_text(file, "config", cfg->config_json, err)) ||
        (rc = agora__h5_attr_text(file, "config_hash", cfg->config_hash, err)) ||
        (rc = agora__h5_attr_text(file, "created", created, err)) ||
        (rc = agora__h5_attr_text(file, "status", "running", err)))
        return rc;
    return 0;
}

/* A group whose members list in creation order, so readers see metrics and fields in the model's order. */
static hid_t make_group(hid_t loc, const char *name, agora_error *err)
{
    hid_t gcpl = H5Pcreate(H5P_GROUP_CREATE), g = H5I_INVALID_HID;
    if (gcpl < 0 || H5Pset_link_creation_order(gcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED) < 0 ||
        (g = H5Gcreate2(loc, name, H5P_DEFAULT, gcpl, H5P_DEFAULT)) < 0)
        agora__h5_fail(err, AGORA_EHDF5, name, "cannot create group /%s", name);
    agora__h5_close(&gcpl);
    return g;
}

/* An empty, unlimited, chunked, uncompressed 1-D dataset. */
static hid_t make_series(hid_t loc, const char *name, hid_t type, hsize_t chunk, agora_error *err)
{
    hid_t dcpl = H5I_INVALID_HID, space = H5I_INVALID_HID, d = H5I_INVALID_HID;
    hsize_t dims = 0, maxdims = H5S_UNLIMITED;
    if ((dcpl = H5Pcreate(H5P_DATASET_CREATE)) < 0 || H5Pset_chunk(dcpl, 1, &chunk) < 0 ||
        (space = H5Screate_simple(1, &dims, &maxdims)) < 0 ||
        (d = H5Dcreate2(loc, name, type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT)) < 0)
        agora__h5_fail(err, AGORA_EHDF5, name, "cannot create dataset %s", name);
    agora__h5_close(&dcpl);
    agora__h5_close(&space);
    return d;
}

/* A fixed dimension scale holding 0 .. n-1 (int64), written in blocks. Large ones are chunked and, when the run
 * compresses, shuffled and deflated: an index compresses to almost nothing. */
static int make_index_scale(hid_t loc, const char *name, hsize_t n, int compression, agora_error *err)
{
    hid_t dcpl = H5I_INVALID_HID, space = H5I_INVALID_HID, mspace = H5I_INVALID_HID, d = H5I_INVALID_HID;
    int64_t *block = NULL;
    int rc = 0;
    if ((dcpl = H5Pcreate(H5P_DATASET_CREATE)) < 0 || (space = H5Screate_simple(1, &n, NULL)) < 0) {
        rc = agora__h5_fail(err, AGORA_EHDF5, name, "cannot set up scale %s", name);
        goto done;
    }
    if (n > INDEX_BLOCK) {
        hsize_t chunk = SNAP_CHUNK_BYTES / sizeof(int64_t);
        if (chunk > n)
            chunk = n;
        if (H5Pset_chunk(dcpl, 1, &chunk) < 0 ||
            (compression > 0 && (H5Pset_shuffle(dcpl) < 0 || H5Pset_deflate(dcpl, (unsigned)compression) < 0))) {
            rc = agora__h5_fail(err, AGORA_EHDF5, name, "cannot set up scale %s", name);
            goto done;
        }
    }
    if ((d = H5Dcreate2(loc, name, H5T_STD_I64LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT)) < 0) {
        rc = agora__h5_fail(err, AGORA_EHDF5, name, "cannot create scale %s", name);
        goto done;
    }
    hsize_t bn = n < INDEX_BLOCK ? n : INDEX_BLOCK;
    block = malloc(bn * sizeof *block);
    if (!block) {
        rc = agora_error_set(err, AGORA_ENOMEM, name, "out of memory");
        goto done;
    }
    for (hsize_t start = 0; start < n; start += bn) {
        hsize_t count = n - start < bn ? n - start : bn;
        for (hsize_t k = 0; k < count; k++)
            block[k] = (int64_t)(start + k);
        agora__h5_close(&mspace);
        if ((mspace = H5Screate_simple(1, &count, NULL)) < 0 ||
            H5Sselect_hyperslab(space, H5S_SELECT_SET, &start, NULL, &count, NULL) < 0 ||
            H5Dwrite(d, H5T_NATIVE_INT64, mspace, space, H5P_DEFAULT, block) < 0) {
            rc = agora__h5_fail(err, AGORA_EHDF5, name, "cannot write scale %s", name);
            goto done;
        }
    }
    if (H5DSset_scale(d, name) < 0) {
        rc = agora__h5_fail(err, AGORA_EHDF5, name, "cannot make %s a dimension scale", name);
        goto done;
    }
done:
    free(block);
    agora__h5_close(&d);
    agora__h5_close(&dcpl);
    agora__h5_close(&space);
    agora__h5_close(&mspace);
    return rc;
}

static int create_metrics(agora_writer *wr, const agora_writer_config *cfg, agora_error *err)
{
    hid_t g = H5I_INVALID_HID, d = H5I_INVALID_HID;
    int rc = 0;
    if ((wr->time = make_series(wr->file, "time", H5T_STD_I64LE, SERIES_CHUNK, err)) < 0) {
        rc = AGORA_EHDF5;
        goto done;
    }
    if (H5DSset_scale(wr->time, "time") < 0) {
        rc = agora__h5_fail(err, AGORA_EHDF5, "time", "cannot make /time a dimension scale");
        goto done;
    }
    if ((g = make_group(wr->file, "metrics", err)) < 0) {
        rc = AGORA_EHDF5;
        goto done;
    }
    int time_taken = 0;
    for (int i = 0; i < cfg->n_metrics; i++)
        time_taken |= !strcmp(cfg->metrics[i].name, "time");
    /* The link that gives xarray's metrics group its time values (see the top of the file); a metric that is
     * itself called "time" keeps its name and the group goes without. */
    if (!time_taken && H5Lcreate_hard(wr->file, "time", g, "time", H5P_DEFAULT, H5P_DEFAULT) < 0) {
        rc = agora__h5_fail(err, AGORA_EHDF5, "metrics", "cannot link /metrics/time");
        goto done;
    }
    for (int i = 0; i < cfg->n_metrics; i++) {
        const agora_metric_spec *m = &cfg->metrics[i];
        if ((d = make_series(g, m->name, H5T_IEEE_F64LE, SERIES_CHUNK, err)) < 0) {
            rc = AGORA_EHDF5;
            goto done;
        }
        if ((rc = agora__h5_attr_text(d, "doc", m->doc, err)))
            goto done;
        if (H5DSattach_scale(d, wr->time, 0) < 0) {
            rc = agora__h5_fail(err, AGORA_EHDF5, m->name, "cannot attach /time to /metrics/%s", m->name);
            goto done;
        }
        wr->metric[i] = d;
        d = H5I_INVALID_HID;
    }
done:
    agora__h5_close(&d);
    agora__h5_close(&g);
    return rc;
}

/* Chunk of one snapshot: all of it up to SNAP_CHUNK_BYTES, else bands of whole rows, else pieces of one row. */
static void snapshot_chunk(const agora_writer *wr, int size, hsize_t chunk[3])
{
    hsize_t limit = SNAP_CHUNK_BYTES / (hsize_t)size;
    chunk[0] = 1;
    if (wr->rank == 1) {
        chunk[1] = wr->shape[0] < limit ? wr->shape[0] : limit;
        return;
    }
    hsize_t h = wr->shape[0], w = wr->shape[1];
    if (w <= limit) {
        hsize_t rows = limit / w;
        chunk[1] = rows < h ? rows : h;
        chunk[2] = w;
    } else {
        chunk[1] = 1;
        chunk[2] = limit;
    }
}

static int create_snapshots(agora_writer *wr, const agora_writer_config *cfg, agora_error *err)
{
    hid_t g = H5I_INVALID_HID, dcpl = H5I_INVALID_HID, dapl = H5I_INVALID_HID, space = H5I_INVALID_HID;
    hid_t scale[2] = {H5I_INVALID_HID, H5I_INVALID_HID};
    const char *scale_name[2];
    int rc = 0;
    const agora_space *sp = cfg->space;
    if (sp->kind == AGORA_SPACE_GRID) {
        wr->rank = 2;
        wr->shape[0] = (hsize_t)sp->grid.height;
        wr->shape[1] = (hsize_t)sp->grid.width;
        scale_name[0] = "y";
        scale_name[1] = "x";
    } else {
        wr->rank = 1;
        wr->shape[0] = (hsize_t)sp->n;
        scale_name[0] = "agent";
    }
    if ((g = make_group(wr->file, "snapshots", err)) < 0) {
        rc = AGORA_EHDF5;
        goto done;
    }
    if ((wr->snap_time = make_series(g, "time", H5T_STD_I64LE, SNAP_TIME_CHUNK, err)) < 0) {
        rc = AGORA_EHDF5;
        goto done;
    }
    if (H5DSset_scale(wr->snap_time, "time") < 0) {
        rc = agora__h5_fail(err, AGORA_EHDF5, "snapshots/time", "cannot make a dimension scale");
        goto done;
    }
    for (int k = 0; k < wr->rank; k++) {
        if ((rc = make_index_scale(g, scale_name[k], wr->shape[k], cfg->compression, err)))
            goto done;
        if ((scale[k] = H5Dopen2(g, scale_name[k], H5P_DEFAULT)) < 0) {
            rc = agora__h5_fail(err, AGORA_EHDF5, scale_name[k], "cannot open scale %s", scale_name[k]);
            goto done;
        }
    }
    /* Snapshots are written whole, chunk by chunk, and never read back by the writer: no chunk cache, so every
     * H5Dwrite goes straight to the file and a field's cache never holds a copy of the grid. */
    if ((dapl = H5Pcreate(H5P_DATASET_ACCESS)) < 0 || H5Pset_chunk_cache(dapl, 0, 0, 1.0) < 0) {
        rc = agora__h5_fail(err, AGORA_EHDF5, "snapshots", "cannot set up the chunk cache");
        goto done;
    }
    hsize_t dims[3] = {0, wr->shape[0], wr->shape[1]};
    hsize_t maxdims[3] = {H5S_UNLIMITED, wr->shape[0], wr->shape[1]};
    for (int i = 0; i < cfg->n_fields; i++) {
        const agora_field_spec *f = &cfg->fields[i];
        int size = agora_dtype_size(f->type);
        hsize_t chunk[3];
        snapshot_chunk(wr, size, chunk);
        agora__h5_close(&dcpl);
        agora__h5_close(&space);
        /* Shuffle groups the bytes of multi-byte values by significance, which is what lets deflate compress
         * slowly varying numbers; for one-byte values it would do nothing. */
        if ((dcpl = H5Pcreate(H5P_DATASET_CREATE)) < 0 || H5Pset_chunk(dcpl, wr->rank + 1, chunk) < 0 ||
            (cfg->compression > 0 && size > 1 && H5Pset_shuffle(dcpl) < 0) ||
            (cfg->compression > 0 && H5Pset_deflate(dcpl, (unsigned)cfg->compression) < 0) ||
            (space = H5Screate_simple(wr->rank + 1, dims, maxdims)) < 0) {
            rc = agora__h5_fail(err, AGORA_EHDF5, f->name, "cannot set up snapshot field %s", f->name);
            goto done;
        }
        if ((wr->field[i] = H5Dcreate2(g, f->name, dtype_file(f->type), space, H5P_DEFAULT, dcpl, dapl)) < 0) {
            rc = agora__h5_fail(err, AGORA_EHDF5, f->name, "cannot create /snapshots/%s", f->name);
            goto done;
        }
        wr->field_mem[i] = dtype_mem(f->type);
        if ((rc = agora__h5_attr_text(wr->field[i], "doc", f->doc, err)))
            goto done;
        if (H5DSattach_scale(wr->field[i], wr->snap_time, 0) < 0 || H5DSattach_scale(wr->field[i], scale[0], 1) < 0 ||
            (wr->rank == 2 && H5DSattach_scale(wr->field[i], scale[1], 2) < 0)) {
            rc = agora__h5_fail(err, AGORA_EHDF5, f->name, "cannot attach scales to /snapshots/%s", f->name);
            goto done;
        }
    }
done:
    agora__h5_close(&scale[0]);
    agora__h5_close(&scale[1]);
    agora__h5_close(&dcpl);
    agora__h5_close(&dapl);
    agora__h5_close(&space);
    agora__h5_close(&g);
    return rc;
}

/* The /llm/calls table: mixed runs (after /personas) and interactions runs. */
static int create_llm_calls(agora_writer *wr, const agora_writer_config *cfg, agora_error *err)
{
    hid_t llm = make_group(wr->file, "llm", err);
    if (llm < 0)
        return AGORA_EHDF5;
    /* Deflated at least at level 1 for the same reason as /events. */
    int rc = agora__h5_table_create(llm, "calls", llm_call_columns, N_LLM_CALL_COLUMNS,
                                    cfg->compression > 0 ? cfg->compression : 1, &wr->calls, err);
    agora__h5_close(&llm);
    return rc;
}

/* The config's own tables, each under its groups ("interactions/messages": /interactions, then the table). */
static int create_tables(agora_writer *wr, const agora_writer_config *cfg, agora_error *err)
{
    if (!(wr->tables = calloc((size_t)cfg->n_tables, sizeof *wr->tables)))
        return agora_error_set(err, AGORA_ENOMEM, "tables", "out of memory");
    wr->n_tables = cfg->n_tables;
    int rc = 0;
    for (int t = 0; t < cfg->n_tables && rc == 0; t++) {
        const agora_writer_table *tb = &cfg->tables[t];
        agora__h5_column *cols = calloc((size_t)tb->n_columns + 1, sizeof *cols);
        char *path = strdup(tb->path ? tb->path : "");
        if (!cols || !path || !path[0]) {
            free(cols);
            free(path);
            return agora_error_set(err, path ? AGORA_EINVAL : AGORA_ENOMEM, "tables", "table %d: no path", t);
        }
        for (int c = 0; c < tb->n_columns; c++)
            cols[c] =
                (agora__h5_column){tb->columns[c].name, (agora__h5_kind)tb->columns[c].kind, tb->columns[c].width};
        /* open or create each group on the way */
        hid_t loc = H5Gopen2(wr->file, "/", H5P_DEFAULT);
        char *name = path, *slash;
        while (rc == 0 && loc >= 0 && (slash = strchr(name, '/'))) {
            *slash = '\0';
            hid_t g =
                H5Lexists(loc, name, H5P_DEFAULT) > 0 ? H5Gopen2(loc, name, H5P_DEFAULT) : make_group(loc, name, err);
            agora__h5_close(&loc);
            loc = g;
            name = slash + 1;
        }
        if (loc < 0)
            rc = agora__h5_fail(err, AGORA_EHDF5, tb->path, "cannot create the groups of /%s", tb->path);
        else
            rc = agora__h5_table_create(loc, name, cols, tb->n_columns, cfg->compression > 0 ? cfg->compression : 1,
                                        &wr->tables[t], err);
        agora__h5_close(&loc);
        free(cols);
        free(path);
    }
    return rc;
}

/* /personas/<id> with the persona's attributes, and the /llm/calls table (mixed runs only). */
static int create_personas(agora_writer *wr, const agora_writer_config *cfg, agora_error *err)
{
    hid_t g = H5I_INVALID_HID, p = H5I_INVALID_HID, gcpl = H5I_INVALID_HID;
    int rc = 0;
    /* Each persona's attributes list in the order written (name first, the long persona text last). */
    if ((gcpl = H5Pcreate(H5P_GROUP_CREATE)) < 0 ||
        H5Pset_attr_creation_order(gcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED) < 0) {
        rc = agora__h5_fail(err, AGORA_EHDF5, "personas", "cannot set up the persona groups");
        goto done;
    }
    if ((g = make_group(wr->file, "personas", err)) < 0) {
        rc = AGORA_EHDF5;
        goto done;
    }
    for (int i = 0; i < cfg->n_personas; i++) {
        const agora_writer_persona *ps = &cfg->personas[i];
        agora__h5_close(&p);
        if ((p = H5Gcreate2(g, ps->id, H5P_DEFAULT, gcpl, H5P_DEFAULT)) < 0) {
            rc = agora__h5_fail(err, AGORA_EHDF5, ps->id, "cannot create group /personas/%s", ps->id);
            goto done;
        }
        if ((rc = agora__h5_attr_text(p, "name", ps->name, err)) ||
            (rc = agora__h5_attr_text(p, "role", ps->role, err)) ||
            (rc = agora__h5_attr_text(p, "provider", ps->provider, err)) ||
            (rc = agora__h5_attr_text(p, "model", ps->model, err)) ||
            (rc = agora__h5_attr_text(p, "persona", ps->persona, err)))
            goto done;
    }
    wr->totals = calloc((size_t)cfg->n_personas, sizeof *wr->totals);
    if (!wr->totals) {
        rc = agora_error_set(err, AGORA_ENOMEM, "personas", "out of memory");
        goto done;
    }
    wr->n_personas = cfg->n_personas;
    for (int i = 0; i < cfg->n_personas; i++)
        snprintf(wr->totals[i].id, sizeof wr->totals[i].id, "%s", cfg->personas[i].id);
    rc = create_llm_calls(wr, cfg, err);
done:
    agora__h5_close(&gcpl);
    agora__h5_close(&p);
    agora__h5_close(&g);
    return rc;
}

/* A writer with no file yet, its arrays of identifiers all invalid. */
static int writer_alloc(const agora_writer_config *cfg, agora_writer **out, agora_error *err)
{
    agora_writer *wr = calloc(1, sizeof *wr);
    *out = wr;
    if (!wr)
        return agora_error_set(err, AGORA_ENOMEM, cfg->path, "out of memory");
    wr->file = wr->time = wr->snap_time = H5I_INVALID_HID;
    wr->path = strdup(cfg->path);
    wr->metric = malloc((size_t)(cfg->n_metrics + 1) * sizeof *wr->metric);
    wr->field = malloc((size_t)(cfg->n_fields + 1) * sizeof *wr->field);
    wr->field_mem = malloc((size_t)(cfg->n_fields + 1) * sizeof *wr->field_mem);
    if (!wr->path || !wr->metric || !wr->field || !wr->field_mem)
        return agora_error_set(err, AGORA_ENOMEM, cfg->path, "out of memory");
    /* The counts are set only once the arrays hold valid (if invalid-valued) identifiers, which is what
     * writer_free expects when a later step fails. */
    for (int i = 0; i < cfg->n_metrics; i++)
        wr->metric[i] = H5I_INVALID_HID;
    for (int i = 0; i < cfg->n_fields; i++)
        wr->field[i] = wr->field_mem[i] = H5I_INVALID_HID;
    wr->n_metrics = cfg->n_metrics;
    wr->n_fields = cfg->n_fields;
    return 0;
}

int agora_writer_create(const agora_writer_config *cfg, agora_writer **out, agora_error *err)
{
    agora__h5_quiet q;
    agora_writer *wr = NULL;
    hid_t fcpl = H5I_INVALID_HID, fapl = H5I_INVALID_HID;
    int rc = 0, created = 0;
    if (!out)
        return agora_error_set(err, AGORA_EINVAL, NULL, "agora_writer_create needs somewhere to put the writer");
    *out = NULL;
    if (!cfg)
        return agora_error_set(err, AGORA_EINVAL, NULL, "agora_writer_create needs a configuration");
    if ((rc = check_config(cfg, err)))
        return rc;
    if ((rc = agora__mkdirs_for(cfg->path, err)))
        return rc;
    agora__h5_quiet_begin(&q);

    if ((rc = writer_alloc(cfg, &wr, err)))
        goto done;

    /* SWMR needs the latest file format. Attributes and links keep their creation order so readers list them as
     * written (provenance first, the model's metric order). */
    if ((fcpl = H5Pcreate(H5P_FILE_CREATE)) < 0 ||
        H5Pset_attr_creation_order(fcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED) < 0 ||
        H5Pset_link_creation_order(fcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED) < 0 ||
        (fapl = H5Pcreate(H5P_FILE_ACCESS)) < 0 ||
        H5Pset_libver_bounds(fapl, H5F_LIBVER_LATEST, H5F_LIBVER_LATEST) < 0) {
        rc = agora__h5_fail(err, AGORA_EHDF5, cfg->path, "cannot set up file properties");
        goto done;
    }
    if ((rc = need_room(wr, WRITER_RESERVE, "a run file", err)))
        goto done;
    const int existed = access(cfg->path, F_OK) == 0;
    if ((wr->file = H5Fcreate(cfg->path, H5F_ACC_TRUNC, fcpl, fapl)) < 0) {
        rc = agora__h5_fail(err, AGORA_EIO, cfg->path, "cannot create the run file");
        created = !existed; /* an empty file left by a create that ran out of room goes too */
        goto done;
    }
    created = 1;
    if ((rc = write_root_attributes(wr->file, cfg, err)) || (rc = create_metrics(wr, cfg, err)) ||
        (cfg->n_fields > 0 && (rc = create_snapshots(wr, cfg, err))))
        goto done;
    /* Tables are deflated even at compression 0: their fixed-width text columns are mostly NUL padding, which
     * would otherwise take kilobytes per row on disk. */
    if ((rc = agora__h5_table_create(wr->file, "events", event_columns, N_EVENT_COLUMNS,
                                     cfg->compression > 0 ? cfg->compression : 1, &wr->events, err)))
        goto done;
    if (cfg->n_personas > 0 && (rc = create_personas(wr, cfg, err)))
        goto done;
    if (cfg->n_personas == 0 && cfg->llm_calls && (rc = create_llm_calls(wr, cfg, err)))
        goto done;
    if (cfg->n_tables > 0 && (rc = create_tables(wr, cfg, err)))
        goto done;
    if (H5Fstart_swmr_write(wr->file) < 0) {
        rc = agora__h5_fail(err, AGORA_EHDF5, cfg->path, "cannot start SWMR writing");
        goto done;
    }
done:
    agora__h5_close(&fcpl);
    agora__h5_close(&fapl);
    if (rc) {
        if (err && !err->where[0])
            snprintf(err->where, sizeof err->where, "%s", cfg->path);
        /* A file that never started is of no use to anyone: it goes, rather than stay behind saying "running". */
        if (wr && rc == AGORA_EIO)
            wr->broken = 1;
        writer_free(wr);
        if (created)
            remove(cfg->path);
        if (created && err && rc == AGORA_EIO && access(cfg->path, F_OK) != 0 && !strstr(err->msg, "needs at least")) {
            size_t len = strlen(err->msg);
            snprintf(err->msg + len, sizeof err->msg - len, "; the incomplete run file was removed");
        }
    } else {
        *out = wr;
    }
    agora__h5_quiet_end(&q);
    return rc;
}

/* ---- resuming a run file ---------------------------------------------------------------------------------------
 *
 * A checkpoint records where the file stood right after a flush (agora_writer_marks); a resumed run reopens the
 * file, cuts every dataset back to those marks (a killed run may have flushed more after the checkpoint: those rows
 * are written again, the same) and goes on appending, in SWMR mode as before. */

static json_t *table_mark(const agora__h5_table *t)
{
    return t ? json_pack("[I, I]", (json_int_t)agora__h5_table_rows(t), (json_int_t)agora__h5_table_count(t))
             : json_null();
}

int agora_writer_marks(const agora_writer *wr, json_t **marks, agora_error *err)
{
    *marks = NULL;
    if (!wr)
        return agora_error_set(err, AGORA_EINVAL, NULL, "agora_writer_marks needs a writer");
    int pending = wr->buf_n > 0 || agora__h5_table_pending(wr->events) || agora__h5_table_pending(wr->calls);
    for (int i = 0; i < wr->n_tables; i++)
        pending |= agora__h5_table_pending(wr->tables[i]) > 0;
    if (pending)
        return agora_error_set(err, AGORA_EINVAL, wr->path, "marks are taken right after a flush");
    json_t *tables = json_array(), *totals = json_array();
    for (int i = 0; i < wr->n_tables; i++)
        json_array_append_new(tables, table_mark(wr->tables[i]));
    for (int i = 0; i < wr->n_personas; i++) {
        const struct persona_totals *t = &wr->totals[i];
        /* The latency sums as their bits: a resumed run ends with exactly the totals of an uninterrupted one. */
        uint64_t sum_bits, max_bits;
        memcpy(&sum_bits, &t->latency_sum, sizeof sum_bits);
        memcpy(&max_bits, &t->latency_max, sizeof max_bits);
        char sb[32], mb[32];
        snprintf(sb, sizeof sb, "%016llx", (unsigned long long)sum_bits);
        snprintf(mb, sizeof mb, "%016llx", (unsigned long long)max_bits);
        json_array_append_new(totals, json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:s}", "id", t->id,
                                                "calls", (json_int_t)t->calls, "ok", (json_int_t)t->ok, "invalid",
                                                (json_int_t)t->invalid, "failed", (json_int_t)t->failed, "skipped",
                                                (json_int_t)t->skipped, "prompt_tokens", (json_int_t)t->prompt_tokens,
                                                "completion_tokens", (json_int_t)t->completion_tokens, "latency_n",
                                                (json_int_t)t->latency_n, "latency_sum", sb, "latency_max", mb));
    }
    *marks =
        json_pack("{s:I, s:I, s:o, s:o, s:o, s:o}", "rows", (json_int_t)wr->rows, "snapshots", (json_int_t)wr->snaps,
                  "events", table_mark(wr->events), "calls", table_mark(wr->calls), "tables", tables, "totals", totals);
    return *marks ? 0 : agora_error_set(err, AGORA_ENOMEM, wr->path, "out of memory");
}

/* Opens dataset `name` and sets its extent: dims[0] rows of the rest of its shape. */
static hid_t reopen_dataset(hid_t loc, const char *name, hid_t dapl, int rank, const hsize_t *dims, agora_error *err)
{
    hid_t d = H5Dopen2(loc, name, dapl), space = H5I_INVALID_HID;
    if (d < 0) {
        agora__h5_fail(err, AGORA_EHDF5, name, "the run file has no %s", name);
        return H5I_INVALID_HID;
    }
    if ((space = H5Dget_space(d)) < 0 || H5Sget_simple_extent_ndims(space) != rank || H5Dset_extent(d, dims) < 0) {
        agora__h5_fail(err, AGORA_EHDF5, name, "cannot cut %s back to %llu rows", name, (unsigned long long)dims[0]);
        agora__h5_close(&space);
        agora__h5_close(&d);
        return H5I_INVALID_HID;
    }
    agora__h5_close(&space);
    return d;
}

static int64_t mark_int(const json_t *a, size_t i)
{
    return json_integer_value(json_array_get(a, i));
}

static double bits_double(const char *hex)
{
    uint64_t b = hex ? strtoull(hex, NULL, 16) : 0;
    double x;
    memcpy(&x, &b, sizeof x);
    return x;
}

int agora_writer_resume(const agora_writer_config *cfg, const json_t *marks, const char *note, agora_writer **out,
                        agora_error *err)
{
    agora__h5_quiet q;
    agora_writer *wr = NULL;
    hid_t fapl = H5I_INVALID_HID, g = H5I_INVALID_HID, dapl = H5I_INVALID_HID;
    int rc = 0;
    if (!out)
        return agora_error_set(err, AGORA_EINVAL, NULL, "agora_writer_resume needs somewhere to put the writer");
    *out = NULL;
    if (!cfg || !json_is_object(marks))
        return agora_error_set(err, AGORA_EINVAL, NULL, "agora_writer_resume needs a configuration and marks");
    if ((rc = check_config(cfg, err)))
        return rc;
    agora__h5_quiet_begin(&q);
    if ((rc = writer_alloc(cfg, &wr, err)))
        goto done;
    hbool_t clear = 1;
    if ((fapl = H5Pcreate(H5P_FILE_ACCESS)) < 0 ||
        H5Pset_libver_bounds(fapl, H5F_LIBVER_LATEST, H5F_LIBVER_LATEST) < 0 ||
        H5Pset(fapl, "clear_status_flags", &clear) < 0) {
        rc = agora__h5_fail(err, AGORA_EHDF5, cfg->path, "cannot set up file properties");
        goto done;
    }
    if ((wr->file = H5Fopen(cfg->path, H5F_ACC_RDWR, fapl)) < 0) {
        rc = agora__h5_fail(err, AGORA_EIO, cfg->path, "cannot reopen the run file");
        goto done;
    }
    /* A killed SWMR writer leaves data past the end of allocation its superblock records (as `h5clear --increment`
     * repairs): new space must start after everything on disk, or it would overwrite chunks still in use. */
    if (H5Fincrement_filesize(wr->file, 0) < 0) {
        rc = agora__h5_fail(err, AGORA_EHDF5, cfg->path, "cannot move the file's end of allocation past its data");
        goto done;
    }
    if ((rc = agora__h5_attr_text(wr->file, "status", "running", err)) ||
        (note && (rc = agora__h5_attr_text(wr->file, "resumed", note, err))))
        goto done;
    const hsize_t rows = (hsize_t)json_integer_value(json_object_get(marks, "rows"));
    const hsize_t snaps = (hsize_t)json_integer_value(json_object_get(marks, "snapshots"));
    hsize_t dims[3] = {rows, 0, 0};
    if ((wr->time = reopen_dataset(wr->file, "time", H5P_DEFAULT, 1, dims, err)) < 0) {
        rc = AGORA_EHDF5;
        goto done;
    }
    for (int i = 0; i < cfg->n_metrics; i++) {
        char name[256];
        snprintf(name, sizeof name, "metrics/%s", cfg->metrics[i].name);
        if ((wr->metric[i] = reopen_dataset(wr->file, name, H5P_DEFAULT, 1, dims, err)) < 0) {
            rc = AGORA_EHDF5;
            goto done;
        }
    }
    wr->rows = rows;
    if (cfg->n_fields > 0) {
        const agora_space *sp = cfg->space;
        wr->rank = sp->kind == AGORA_SPACE_GRID ? 2 : 1;
        wr->shape[0] = sp->kind == AGORA_SPACE_GRID ? (hsize_t)sp->grid.height : (hsize_t)sp->n;
        wr->shape[1] = sp->kind == AGORA_SPACE_GRID ? (hsize_t)sp->grid.width : 0;
        /* as create_snapshots: no chunk cache for the fields */
        if ((dapl = H5Pcreate(H5P_DATASET_ACCESS)) < 0 || H5Pset_chunk_cache(dapl, 0, 0, 1.0) < 0) {
            rc = agora__h5_fail(err, AGORA_EHDF5, "snapshots", "cannot set up the chunk cache");
            goto done;
        }
        dims[0] = snaps;
        if ((wr->snap_time = reopen_dataset(wr->file, "snapshots/time", H5P_DEFAULT, 1, dims, err)) < 0) {
            rc = AGORA_EHDF5;
            goto done;
        }
        hsize_t fdims[3] = {snaps, wr->shape[0], wr->shape[1]};
        for (int i = 0; i < cfg->n_fields; i++) {
            char name[256];
            snprintf(name, sizeof name, "snapshots/%s", cfg->fields[i].name);
            if ((wr->field[i] = reopen_dataset(wr->file, name, dapl, wr->rank + 1, fdims, err)) < 0) {
                rc = AGORA_EHDF5;
                goto done;
            }
            wr->field_mem[i] = dtype_mem(cfg->fields[i].type);
        }
        wr->snaps = snaps;
    }
    const json_t *ev = json_object_get(marks, "events");
    if ((rc = agora__h5_table_reopen(wr->file, "events", event_columns, N_EVENT_COLUMNS, mark_int(ev, 0),
                                     mark_int(ev, 1), &wr->events, err)))
        goto done;
    if (cfg->n_personas > 0 || cfg->llm_calls) {
        const json_t *cm = json_object_get(marks, "calls");
        if ((g = H5Gopen2(wr->file, "llm", H5P_DEFAULT)) < 0) {
            rc = agora__h5_fail(err, AGORA_EHDF5, "llm", "the run file has no /llm");
            goto done;
        }
        if ((rc = agora__h5_table_reopen(g, "calls", llm_call_columns, N_LLM_CALL_COLUMNS, mark_int(cm, 0),
                                         mark_int(cm, 1), &wr->calls, err)))
            goto done;
    }
    if (cfg->n_personas > 0) {
        const json_t *totals = json_object_get(marks, "totals");
        if (!(wr->totals = calloc((size_t)cfg->n_personas, sizeof *wr->totals))) {
            rc = agora_error_set(err, AGORA_ENOMEM, "personas", "out of memory");
            goto done;
        }
        wr->n_personas = cfg->n_personas;
        for (int i = 0; i < cfg->n_personas; i++) {
            struct persona_totals *t = &wr->totals[i];
            const json_t *m = json_array_get(totals, (size_t)i);
            snprintf(t->id, sizeof t->id, "%s", cfg->personas[i].id);
            const char *mid = json_string_value(json_object_get(m, "id"));
            if (!mid || strcmp(mid, t->id) != 0) {
                rc = agora_error_set(err, AGORA_EINVAL, cfg->path, "the checkpoint does not list persona %s", t->id);
                goto done;
            }
            t->calls = json_integer_value(json_object_get(m, "calls"));
            t->ok = json_integer_value(json_object_get(m, "ok"));
            t->invalid = json_integer_value(json_object_get(m, "invalid"));
            t->failed = json_integer_value(json_object_get(m, "failed"));
            t->skipped = json_integer_value(json_object_get(m, "skipped"));
            t->prompt_tokens = json_integer_value(json_object_get(m, "prompt_tokens"));
            t->completion_tokens = json_integer_value(json_object_get(m, "completion_tokens"));
            t->latency_n = json_integer_value(json_object_get(m, "latency_n"));
            t->latency_sum = bits_double(json_string_value(json_object_get(m, "latency_sum")));
            t->latency_max = bits_double(json_string_value(json_object_get(m, "latency_max")));
        }
    }
    if (cfg->n_tables > 0) {
        const json_t *tm = json_object_get(marks, "tables");
        if (!(wr->tables = calloc((size_t)cfg->n_tables, sizeof *wr->tables))) {
            rc = agora_error_set(err, AGORA_ENOMEM, "tables", "out of memory");
            goto done;
        }
        wr->n_tables = cfg->n_tables;
        for (int t = 0; t < cfg->n_tables && rc == 0; t++) {
            const agora_writer_table *tb = &cfg->tables[t];
            agora__h5_column *cols = calloc((size_t)tb->n_columns + 1, sizeof *cols);
            if (!cols) {
                rc = agora_error_set(err, AGORA_ENOMEM, "tables", "out of memory");
                goto done;
            }
            for (int c = 0; c < tb->n_columns; c++)
                cols[c] =
                    (agora__h5_column){tb->columns[c].name, (agora__h5_kind)tb->columns[c].kind, tb->columns[c].width};
            const json_t *m = json_array_get(tm, (size_t)t);
            rc = agora__h5_table_reopen(wr->file, tb->path, cols, tb->n_columns, mark_int(m, 0), mark_int(m, 1),
                                        &wr->tables[t], err);
            free(cols);
        }
        if (rc)
            goto done;
    }
    if (H5Fstart_swmr_write(wr->file) < 0) {
        rc = agora__h5_fail(err, AGORA_EHDF5, cfg->path, "cannot start SWMR writing");
        goto done;
    }
done:
    agora__h5_close(&fapl);
    agora__h5_close(&dapl);
    agora__h5_close(&g);
    if (rc) {
        if (err && !err->where[0])
            snprintf(err->where, sizeof err->where, "%s", cfg->path);
        if (wr && rc == AGORA_EIO)
            wr->broken = 1;
        writer_free(wr);
    } else {
        *out = wr;
    }
    agora__h5_quiet_end(&q);
    return rc;
}

int agora_writer_metrics(agora_writer *wr, int64_t t, const double *values, agora_error *err)
{
    if (!wr || (wr->n_metrics > 0 && !values))
        return agora_error_set(err, AGORA_EINVAL, NULL, "agora_writer_metrics needs a writer and its values");
    if (wr->buf_n == wr->buf_cap) {
        size_t cap = wr->buf_cap ? 2 * wr->buf_cap : 64;
        int64_t *nt = realloc(wr->buf_t, cap * sizeof *nt);
        if (!nt)
            return agora_error_set(err, AGORA_ENOMEM, wr->path, "out of memory");
        wr->buf_t = nt;
        if (wr->n_metrics > 0) {
            double *nv = realloc(wr->buf_v, cap * (size_t)wr->n_metrics * sizeof *nv);
            if (!nv)
                return agora_error_set(err, AGORA_ENOMEM, wr->path, "out of memory");
            wr->buf_v = nv;
        }
        wr->buf_cap = cap;
    }
    wr->buf_t[wr->buf_n] = t;
    if (wr->n_metrics > 0)
        memcpy(wr->buf_v + wr->buf_n * (size_t)wr->n_metrics, values, (size_t)wr->n_metrics * sizeof *values);
    wr->buf_n++;
    return 0;
}

int agora_writer_snapshot(agora_writer *wr, int64_t t, const void *const *data, agora_error *err)
{
    if (!wr || wr->n_fields == 0 || !data)
        return agora_error_set(err, AGORA_EINVAL, wr ? wr->path : NULL,
                               wr && wr->n_fields == 0 ? "this run file was created without snapshot fields"
                                                       : "agora_writer_snapshot needs a writer and its data");
    for (int i = 0; i < wr->n_fields; i++)
        if (!data[i])
            return agora_error_set(err, AGORA_EINVAL, wr->path, "snapshot field %d has no data", i);
    if (wr->broken)
        return broken_error(wr, err);
    /* Room for the snapshot uncompressed: deflate usually does better, but nobody can tell beforehand. */
    uint64_t bytes = 0;
    for (int i = 0; i < wr->n_fields; i++)
        bytes += (uint64_t)wr->shape[0] * (wr->rank == 2 ? (uint64_t)wr->shape[1] : 1) *
                 (uint64_t)H5Tget_size(wr->field_mem[i]);
    int rc = need_room(wr, bytes, "the next snapshot", err);
    if (rc)
        return rc;
    agora__h5_quiet q;
    agora__h5_quiet_begin(&q);
    hid_t fspace = H5I_INVALID_HID, mspace = H5I_INVALID_HID;
    hsize_t s = wr->snaps;
    hsize_t dims[3] = {s + 1, wr->shape[0], wr->shape[1]};
    hsize_t start[3] = {s, 0, 0};
    hsize_t count[3] = {1, wr->shape[0], wr->shape[1]};
    /* Fields first, /snapshots/time last: a reader that goes by the time scale only sees complete snapshots. A
     * failed snapshot leaves wr->snaps unchanged, so the next one overwrites the partial row. */
    if ((mspace = H5Screate_simple(wr->rank + 1, count, NULL)) < 0) {
        rc = agora__h5_fail(err, AGORA_EHDF5, wr->path, "cannot set up a snapshot");
        goto done;
    }
    for (int i = 0; i < wr->n_fields; i++) {
        agora__h5_close(&fspace);
        if (H5Dset_extent(wr->field[i], dims) < 0 || (fspace = H5Dget_space(wr->field[i])) < 0 ||
            H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL) < 0 ||
            H5Dwrite(wr->field[i], wr->field_mem[i], mspace, fspace, H5P_DEFAULT, data[i]) < 0) {
            rc = agora__h5_fail(err, AGORA_EHDF5, wr->path, "cannot write snapshot %llu of field %d",
                                (unsigned long long)s, i);
            goto done;
        }
    }
    agora__h5_close(&fspace);
    agora__h5_close(&mspace);
    count[0] = 1;
    if (H5Dset_extent(wr->snap_time, dims) < 0 || (fspace = H5Dget_space(wr->snap_time)) < 0 ||
        H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL) < 0 ||
        (mspace = H5Screate_simple(1, count, NULL)) < 0 ||
        H5Dwrite(wr->snap_time, H5T_NATIVE_INT64, mspace, fspace, H5P_DEFAULT, &t) < 0) {
        rc =
            agora__h5_fail(err, AGORA_EHDF5, wr->path, "cannot write the time of snapshot %llu", (unsigned long long)s);
        goto done;
    }
    wr->snaps = s + 1;
    wr->snap_dirty = 1;
done:
    agora__h5_close(&fspace);
    agora__h5_close(&mspace);
    agora__h5_quiet_end(&q);
    return note_failure(wr, rc, err);
}

/* Before appending to a table whose buffer will soon be written out (h5internal.h: past 1 MiB). */
static int table_room(const agora_writer *wr, const agora__h5_table *t, agora_error *err)
{
    size_t pending = agora__h5_table_pending(t);
    return pending >= ((size_t)1 << 19) ? need_room(wr, 2 * (uint64_t)pending, "the buffered table rows", err) : 0;
}

int agora_writer_event(agora_writer *wr, int64_t step, const char *source, const char *action_json, const char *status,
                       const char *message, agora_error *err)
{
    if (!wr)
        return agora_error_set(err, AGORA_EINVAL, NULL, "agora_writer_event needs a writer");
    agora__h5_cell cells[N_EVENT_COLUMNS] = {
        {.i = step}, {.s = source}, {.s = status}, {.s = action_json}, {.s = message},
    };
    if (wr->broken)
        return broken_error(wr, err);
    int rc = table_room(wr, wr->events, err);
    if (rc)
        return rc;
    agora__h5_quiet q;
    agora__h5_quiet_begin(&q);
    rc = agora__h5_table_append(wr->events, cells, NULL, err);
    agora__h5_quiet_end(&q);
    return note_failure(wr, rc, err);
}

_Static_assert(sizeof(agora_writer_cell) == sizeof(agora__h5_cell) &&
                   offsetof(agora_writer_cell, f) == offsetof(agora__h5_cell, f) &&
                   offsetof(agora_writer_cell, s) == offsetof(agora__h5_cell, s),
               "agora_writer_cell must match agora__h5_cell");
_Static_assert((int)AGORA_COLUMN_INT64 == (int)AGORA__H5_INT64 && (int)AGORA_COLUMN_FLOAT64 == (int)AGORA__H5_FLOAT64 &&
                   (int)AGORA_COLUMN_TEXT == (int)AGORA__H5_TEXT,
               "agora_column_kind must match agora__h5_kind");

int agora_writer_row(agora_writer *wr, int table, const agora_writer_cell *cells, int64_t *id, agora_error *err)
{
    if (!wr || !cells || table < 0 || table >= wr->n_tables)
        return agora_error_set(err, AGORA_EINVAL, wr ? wr->path : NULL, "agora_writer_row: no table %d", table);
    if (wr->broken)
        return broken_error(wr, err);
    int rc = table_room(wr, wr->tables[table], err);
    if (rc)
        return rc;
    agora__h5_quiet q;
    agora__h5_quiet_begin(&q);
    /* agora_writer_cell and agora__h5_cell have the same members in the same order */
    rc = agora__h5_table_append(wr->tables[table], (const agora__h5_cell *)(const void *)cells, id, err);
    agora__h5_quiet_end(&q);
    return note_failure(wr, rc, err);
}

int agora_writer_llm_call(agora_writer *wr, const agora_persona_call *call, agora_error *err)
{
    if (!wr || !call)
        return agora_error_set(err, AGORA_EINVAL, NULL, "agora_writer_llm_call needs a writer and a call");
    if (!wr->calls)
        return agora_error_set(err, AGORA_EINVAL, wr->path,
                               "this run file was created without LLM calls: it has no /llm/calls");
    agora__h5_cell cells[N_LLM_CALL_COLUMNS] = {
        {.i = call->step},          {.s = call->persona},
        {.i = call->attempt},       {.s = call->provider},
        {.s = call->model},         {.f = call->latency_ms},
        {.i = call->prompt_tokens}, {.i = call->completion_tokens},
        {.i = call->http_status},   {.i = call->http_attempts},
        {.s = call->status},        {.s = call->error},
        {.s = call->prompt},        {.s = call->reply},
    };
    if (wr->broken)
        return broken_error(wr, err);
    int rc = table_room(wr, wr->calls, err);
    if (rc)
        return rc;
    agora__h5_quiet q;
    agora__h5_quiet_begin(&q);
    rc = note_failure(wr, agora__h5_table_append(wr->calls, cells, NULL, err), err);
    agora__h5_quiet_end(&q);
    for (int i = 0; rc == 0 && call->persona && i < wr->n_personas; i++) {
        struct persona_totals *t = &wr->totals[i];
        if (strcmp(t->id, call->persona) != 0)
            continue;
        const char *st = call->status ? call->status : "";
        if (agora__h5_call_skipped(st)) { /* not made: no request, nothing to add up but the count */
            t->skipped++;
            continue;
        }
        t->calls++;
        t->ok += strcmp(st, "ok") == 0;
        t->invalid += strcmp(st, "invalid") == 0;
        t->failed += strcmp(st, "ok") != 0 && strcmp(st, "invalid") != 0;
        t->prompt_tokens += call->prompt_tokens > 0 ? call->prompt_tokens : 0;
        t->completion_tokens += call->completion_tokens > 0 ? call->completion_tokens : 0;
        if (isfinite(call->latency_ms)) {
            t->latency_sum += call->latency_ms;
            t->latency_n++;
            t->latency_max = call->latency_ms > t->latency_max ? call->latency_ms : t->latency_max;
        }
    }
    return rc;
}

/* Writes the buffered metric rows: every /metrics dataset, then /time, so a reader going by /time never sees a
 * row whose values are missing. A failure keeps the rows buffered; the extents are set absolutely, so a retry
 * rewrites the same rows. */
static int write_metric_rows(agora_writer *wr, agora_error *err)
{
    if (wr->buf_n == 0)
        return 0;
    hid_t fspace = H5I_INVALID_HID, mspace = H5I_INVALID_HID;
    hsize_t start = wr->rows, count = wr->buf_n, total = wr->rows + wr->buf_n;
    int rc = 0;
    if (wr->n_metrics > 0) {
        /* The buffer is row-major; each metric's column is picked out by a strided memory selection instead of
         * a transposed copy. */
        hsize_t all = count * (hsize_t)wr->n_metrics, stride = (hsize_t)wr->n_metrics;
        if ((mspace = H5Screate_simple(1, &all, NULL)) < 0) {
            rc = agora__h5_fail(err, AGORA_EHDF5, wr->path, "cannot set up the metric rows");
            goto done;
        }
        for (int m = 0; m < wr->n_metrics; m++) {
            hsize_t mstart = (hsize_t)m;
            agora__h5_close(&fspace);
            if (H5Sselect_hyperslab(mspace, H5S_SELECT_SET, &mstart, &stride, &count, NULL) < 0 ||
                H5Dset_extent(wr->metric[m], &total) < 0 || (fspace = H5Dget_space(wr->metric[m])) < 0 ||
                H5Sselect_hyperslab(fspace, H5S_SELECT_SET, &start, NULL, &count, NULL) < 0 ||
                H5Dwrite(wr->metric[m], H5T_NATIVE_DOUBLE, mspace, fspace, H5P_DEFAULT, wr->buf_v) < 0) {
                rc = agora__h5_fail(err, AGORA_EHDF5, wr->path, "cannot write metric %d", m);
                goto done;
            }
        }
        agora__h5_close(&mspace);
        agora__h5_close(&fspace);
    }
    if (H5Dset_extent(wr->time, &total) < 0 || (fspace = H5Dget_space(wr->time)) < 0 ||
        H5Sselect_hyperslab(fspace, H5S_SELECT_SET, &start, NULL, &count, NULL) < 0 ||
        (mspace = H5Screate_simple(1, &count, NULL)) < 0 ||
        H5Dwrite(wr->time, H5T_NATIVE_INT64, mspace, fspace, H5P_DEFAULT, wr->buf_t) < 0) {
        rc = agora__h5_fail(err, AGORA_EHDF5, wr->path, "cannot write /time");
        goto done;
    }
    wr->rows = total;
    wr->buf_n = 0;
done:
    agora__h5_close(&fspace);
    agora__h5_close(&mspace);
    return rc;
}

static int writer_flush(agora_writer *wr, agora_error *err)
{
    int rc;
    if ((rc = write_metric_rows(wr, err)) || (rc = agora__h5_table_flush(wr->events, err)) ||
        (rc = agora__h5_table_flush(wr->calls, err)))
        return rc;
    for (int i = 0; i < wr->n_tables; i++)
        if ((rc = agora__h5_table_flush(wr->tables[i], err)))
            return rc;
    for (int m = 0; m < wr->n_metrics; m++)
        if (H5Dflush(wr->metric[m]) < 0)
            return agora__h5_fail(err, AGORA_EHDF5, wr->path, "cannot flush metric %d", m);
    if (H5Dflush(wr->time) < 0)
        return agora__h5_fail(err, AGORA_EHDF5, wr->path, "cannot flush /time");
    if (wr->snap_dirty) {
        for (int i = 0; i < wr->n_fields; i++)
            if (H5Dflush(wr->field[i]) < 0)
                return agora__h5_fail(err, AGORA_EHDF5, wr->path, "cannot flush snapshot field %d", i);
        if (H5Dflush(wr->snap_time) < 0)
            return agora__h5_fail(err, AGORA_EHDF5, wr->path, "cannot flush /snapshots/time");
        wr->snap_dirty = 0;
    }
    if (H5Fflush(wr->file, H5F_SCOPE_LOCAL) < 0)
        return agora__h5_fail(err, AGORA_EHDF5, wr->path, "cannot flush the file");
    return 0;
}

/* Bytes the next flush adds: the buffered rows, and a page of metadata per dataset it touches. */
static uint64_t flush_bytes(const agora_writer *wr)
{
    uint64_t n = (uint64_t)wr->buf_n * (uint64_t)(wr->n_metrics + 1) * 8;
    n += agora__h5_table_pending(wr->events) + agora__h5_table_pending(wr->calls);
    for (int i = 0; i < wr->n_tables; i++)
        n += agora__h5_table_pending(wr->tables[i]);
    return n + 4096 * (uint64_t)(wr->n_metrics + wr->n_fields + wr->n_tables + 4);
}

int agora_writer_flush(agora_writer *wr, agora_error *err)
{
    if (!wr)
        return agora_error_set(err, AGORA_EINVAL, NULL, "agora_writer_flush needs a writer");
    if (wr->broken)
        return broken_error(wr, err);
    int rc = need_room(wr, flush_bytes(wr), "the next flush", err);
    if (rc)
        return rc;
    agora__h5_quiet q;
    agora__h5_quiet_begin(&q);
    rc = note_failure(wr, writer_flush(wr, err), err);
    agora__h5_quiet_end(&q);
    return rc;
}

void agora_writer_set_error(agora_writer *wr, const char *message)
{
    if (wr)
        snprintf(wr->error, sizeof wr->error, "%s", message ? message : "");
}

/* The per-persona totals as attributes of /personas/<id>: calls (requests made), ok, invalid, failed, skipped
 * (calls not made: unreachable, circuit_open, budget), prompt_tokens, completion_tokens, latency_ms_mean,
 * latency_ms_max (what `agora inspect` also computes from /llm/calls). */
static int write_persona_totals(hid_t file, const agora_writer *wr, agora_error *err)
{
    int rc = 0;
    for (int i = 0; rc == 0 && i < wr->n_personas; i++) {
        const struct persona_totals *t = &wr->totals[i];
        char name[160];
        snprintf(name, sizeof name, "personas/%s", t->id);
        hid_t g = H5Gopen2(file, name, H5P_DEFAULT);
        if (g < 0)
            return agora__h5_fail(err, AGORA_EHDF5, name, "cannot open /%s", name);
        const double mean = t->latency_n ? t->latency_sum / (double)t->latency_n : NAN;
        const double max = t->latency_n ? t->latency_max : NAN;
        const struct {
            const char *n;
            const int64_t *v;
        } ints[] = {{"calls", &t->calls},
                    {"ok", &t->ok},
                    {"invalid", &t->invalid},
                    {"failed", &t->failed},
                    {"skipped", &t->skipped},
                    {"prompt_tokens", &t->prompt_tokens},
                    {"completion_tokens", &t->completion_tokens}};
        for (size_t k = 0; rc == 0 && k < sizeof ints / sizeof ints[0]; k++)
            rc = agora__h5_attr_scalar(g, ints[k].n, H5T_STD_I64LE, H5T_NATIVE_INT64, ints[k].v, err);
        if (rc == 0)
            rc = agora__h5_attr_scalar(g, "latency_ms_mean", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &mean, err);
        if (rc == 0)
            rc = agora__h5_attr_scalar(g, "latency_ms_max", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &max, err);
        agora__h5_close(&g);
    }
    return rc;
}

/* Records the final status in a file that is no longer open for SWMR writing. An SWMR reader (a notebook watching
 * the run) holds a shared lock on the file, which makes a plain read-write open fail; since this writer is the
 * only one and the readers were built to follow a changing file, the reopen then goes ahead without the lock
 * rather than leave a finished run saying "running".
 * A file whose writer broke still carries the "open for SWMR writing" mark on disk, which HDF5 clears on request
 * (as `h5clear -s` does). */
static hid_t reopen_for_status(const char *path, int clear_mark)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS), file = H5I_INVALID_HID;
    hbool_t clear = 1;
    if (fapl < 0)
        return H5I_INVALID_HID;
    if (clear_mark)
        H5Pset(fapl, "clear_status_flags", &clear);
    file = H5Fopen(path, H5F_ACC_RDWR, fapl);
    /* An SWMR reader holds a shared lock; the reopen then goes ahead without it (see above). */
    if (file < 0 && H5Pset_file_locking(fapl, 0, 1) >= 0)
        file = H5Fopen(path, H5F_ACC_RDWR, fapl);
    agora__h5_close(&fapl);
    return file;
}

static int write_final_attributes(agora_writer *wr, const char *status, int64_t steps_done, double wall_time_s,
                                  const char *summary_json, agora_error *err)
{
    char finished[32];
    utc_now(finished, sizeof finished);
    const char *path = wr->path;
    hid_t file = reopen_for_status(path, wr->broken);
    int rc = 0;
    if (file < 0)
        return agora__h5_fail(err, AGORA_EIO, path, "cannot reopen the run file to record its status");
    if ((rc = agora__h5_attr_text(file, "status", status, err)) ||
        (rc = agora__h5_attr_text(file, "finished", finished, err)) ||
        (rc = agora__h5_attr_scalar(file, "steps_done", H5T_STD_I64LE, H5T_NATIVE_INT64, &steps_done, err)) ||
        (rc = agora__h5_attr_scalar(file, "wall_time_s", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &wall_time_s, err)) ||
        (rc = agora__h5_attr_text(file, "summary", summary_json, err)) ||
        (wr->error[0] && (rc = agora__h5_attr_text(file, "error", wr->error, err))) ||
        (rc = write_persona_totals(file, wr, err)) ||
        (H5Fflush(file, H5F_SCOPE_LOCAL) < 0 &&
         (rc = agora__h5_fail(err, AGORA_EIO, path, "cannot flush the run file"))))
        goto done;
done:
    /* A write that failed here fails again at the close; the disk keeps the file as it was before this reopen. */
    if (rc)
        detach_file(file);
    if (H5Fclose(file) < 0 && rc == 0)
        rc = agora__h5_fail(err, AGORA_EIO, path, "cannot close the run file");
    return rc;
}

int agora_writer_close(agora_writer *wr, const char *status, int64_t steps_done, double wall_time_s,
                       const char *summary_json, agora_error *err)
{
    if (!wr)
        return 0;
    agora__h5_quiet q;
    agora__h5_quiet_begin(&q);
    /* Every step below runs even when an earlier one failed, so the file is closed and the status recorded
     * whenever possible; the first error is the one reported. */
    agora_error first, later;
    agora_error_clear(&first);
    int rc = 0;
    if (!wr->broken)
        rc = note_failure(wr, writer_flush(wr, &first), &first);
    if (wr->broken) {
        if (rc == 0)
            rc = broken_error(wr, &first);
        detach_file(wr->file);
        status = "failed";
    }
    writer_close_handles(wr);
    if (H5Fclose(wr->file) < 0 && rc == 0)
        rc = agora__h5_fail(&first, AGORA_EIO, wr->path, "cannot close the run file");
    wr->file = H5I_INVALID_HID;
    if (rc && !wr->error[0])
        agora_error_format(&first, wr->error, sizeof wr->error);
    if (rc && strcmp(status ? status : "", "failed") != 0)
        status = "failed";
    int rc2 = 0;
    /* A broken writer records its status only when the disk has room again for the final attributes: a reopen
     * that fails half-way would leave HDF5 holding a file it cannot close. */
    if (wr->broken && !room_now(wr->path, WRITER_RESERVE))
        rc2 = agora_error_set(&later, AGORA_EIO, wr->path, "no room to record the status");
    else
        rc2 = write_final_attributes(wr, status ? status : "complete", steps_done, wall_time_s, summary_json, &later);
    if (rc2 && (wr->broken || rc2 == AGORA_EIO)) {
        /* The file says "running" and cannot be told otherwise: it goes, and the error says so. */
        remove(wr->path);
        if (rc == 0)
            first = later;
        rc = rc ? rc : rc2;
        size_t len = strlen(first.msg);
        snprintf(first.msg + len, sizeof first.msg - len, "; the incomplete run file was removed");
    } else if (rc2 && rc == 0) {
        rc = rc2;
        first = later;
    }
    if (rc && err)
        *err = first;
    writer_free(wr);
    agora__h5_quiet_end(&q);
    return rc;
}
