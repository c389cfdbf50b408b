/* agora — the HDF5 run file writer (output.h), plus the writer side of the helpers in h5internal.h: HDF5 error
 * plumbing, attributes and the append-only text table.
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
#include <stdarg.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hdf5.h>
#include <hdf5_hl.h>

#include "agora/agora.h"
#include "core/internal.h"
#include "io/h5internal.h"

/* ---- errors ---------------------------------------------------------------------------------------------------- */

void agora__h5_quiet_begin(agora__h5_quiet *q)
{
    q->func = NULL;
    q->data = NULL;
    if (H5Eget_auto2(H5E_DEFAULT, &q->func, &q->data) < 0) {
        q->func = NULL;
        q->data = NULL;
    }
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

void agora__h5_quiet_end(const agora__h5_quiet *q)
{
    H5Eset_auto2(H5E_DEFAULT, q->func, q->data);
}

typedef struct stack_text {
    char outer[192];
    char inner[256];
    int n;
} stack_text;

static herr_t stack_walk(unsigned n, const H5E_error2_t *e, void *data)
{
    stack_text *s = data;
    const char *d = e->desc && *e->desc ? e->desc : (e->func_name ? e->func_name : "?");
    if (n == 0)
        snprintf(s->outer, sizeof s->outer, "%s", d);
    snprintf(s->inner, sizeof s->inner, "%s", d);
    s->n++;
    return 0;
}

int agora__h5_fail(agora_error *err, int code, const char *where, const char *fmt, ...)
{
    stack_text s = {.n = 0};
    /* Walking downward visits the API call first and the most specific cause last; the two together say what
     * failed and why ("unable to create file" ... "errno = 13, error message = 'Permission denied'"). */
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, stack_walk, &s);
    if (!err)
        return code;
    char what[256] = "";
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(what, sizeof what, fmt, ap);
        va_end(ap);
    }
    if (s.n == 0)
        return agora_error_set(err, code, where, "%s", what);
    if (s.n == 1 || strcmp(s.outer, s.inner) == 0)
        return agora_error_set(err, code, where, "%s: %s", what, s.outer);
    return agora_error_set(err, code, where, "%s: %s (%s)", what, s.outer, s.inner);
}

void agora__h5_close(hid_t *id)
{
    if (!id || *id < 0)
        return;
    switch (H5Iget_type(*id)) {
    case H5I_FILE:
        H5Fclose(*id);
        break;
    case H5I_GROUP:
        H5Gclose(*id);
        break;
    case H5I_DATASET:
        H5Dclose(*id);
        break;
    case H5I_ATTR:
        H5Aclose(*id);
        break;
    case H5I_DATATYPE:
        H5Tclose(*id);
        break;
    case H5I_DATASPACE:
        H5Sclose(*id);
        break;
    case H5I_GENPROP_LST:
        H5Pclose(*id);
        break;
    default:
        break;
    }
    *id = H5I_INVALID_HID;
}

/* ---- attributes ------------------------------------------------------------------------------------------------ */

int agora__h5_attr_scalar(hid_t loc, const char *name, hid_t file_type, hid_t mem_type, const void *value,
                          agora_error *err)
{
    hid_t space = H5I_INVALID_HID, attr = H5I_INVALID_HID;
    int rc = 0;
    htri_t exists = H5Aexists(loc, name);
    if (exists < 0 || (exists > 0 && H5Adelete(loc, name) < 0)) {
        rc = agora__h5_fail(err, AGORA_EHDF5, name, "cannot replace attribute %s", name);
        goto done;
    }
    if ((space = H5Screate(H5S_SCALAR)) < 0 ||
        (attr = H5Acreate2(loc, name, file_type, space, H5P_DEFAULT, H5P_DEFAULT)) < 0 ||
        H5Awrite(attr, mem_type, value) < 0) {
        rc = agora__h5_fail(err, AGORA_EHDF5, name, "cannot write attribute %s", name);
        goto done;
    }
done:
    agora__h5_close(&attr);
    agora__h5_close(&space);
    return rc;
}

int agora__h5_attr_text(hid_t loc, const char *name, const char *value, agora_error *err)
{
    const char *v = value ? value : "";
    hid_t type = H5Tcopy(H5T_C_S1);
    int rc = 0;
    if (type < 0 || H5Tset_size(type, H5T_VARIABLE) < 0 || H5Tset_cset(type, H5T_CSET_UTF8) < 0) {
        rc = agora__h5_fail(err, AGORA_EHDF5, name, "cannot make a string type");
        goto done;
    }
    rc = agora__h5_attr_scalar(loc, name, type, type, &v, err);
done:
    agora__h5_close(&type);
    return rc;
}

/* ---- the append-only text table -------------------------------------------------------------------------------- */

/* The implicit columns come first in every row: id (int64) at 0 and part (int32) at 8. */
#define TABLE_ID_OFFSET 0
#define TABLE_PART_OFFSET 8
#define TABLE_HEADER 12
/* Uncompressed bytes per chunk: big enough for deflate to find the padding, small enough that rewriting the last
 * chunk at every flush stays cheap and the chunk fits HDF5's default 1 MiB chunk cache. */
#define TABLE_CHUNK_BYTES (256u << 10)
/* Buffered rows are written (not flushed) early past this size, so a burst of long texts cannot grow the buffer
 * without bound between flushes. */
#define TABLE_BUFFER_BYTES (1u << 20)

struct agora__h5_table {
    hid_t dset, type;
    int n_cols;
    agora__h5_column *cols; /* names owned */
    size_t *offset;         /* [n_cols] byte offset of each user column in a row */
    size_t *len, *pos;      /* [n_cols] scratch for splitting text: its length and the bytes already stored */
    size_t row_size;
    int64_t next_id;
    hsize_t rows_on_disk;
    unsigned char *buf;
    size_t buf_rows, buf_cap;
    int dirty; /* rows appended or written since the last H5Dflush */
};

void agora__h5_table_close(agora__h5_table *t)
{
    if (!t)
        return;
    agora__h5_close(&t->dset);
    agora__h5_close(&t->type);
    if (t->cols)
        for (int i = 0; i < t->n_cols; i++)
            free((char *)t->cols[i].name);
    free(t->cols);
    free(t->offset);
    free(t->len);
    free(t->pos);
    free(t->buf);
    free(t);
}

int agora__h5_table_create(hid_t loc, const char *name, const agora__h5_column *cols, int n_cols, int deflate,
                           agora__h5_table **out, agora_error *err)
{
    agora__h5_table *t = NULL;
    hid_t str = H5I_INVALID_HID, dcpl = H5I_INVALID_HID, space = H5I_INVALID_HID;
    int rc = 0;
    *out = NULL;
    if (!name || !*name || n_cols < 0 || (n_cols > 0 && !cols) || deflate < 0 || deflate > 9) {
        rc = agora_error_set(err, AGORA_EINVAL, name, "invalid table definition");
        goto done;
    }
    for (int i = 0; i < n_cols; i++) {
        const agora__h5_column *c = &cols[i];
        if (!c->name || !*c->name || strchr(c->name, '/') || !strcmp(c->name, "id") || !strcmp(c->name, "part")) {
            rc = agora_error_set(err, AGORA_EINVAL, name, "column %d: invalid name \"%s\"", i,
                                 c->name ? c->name : "");
            goto done;
        }
        if (c->kind != AGORA__H5_INT64 && c->kind != AGORA__H5_INT32 && c->kind != AGORA__H5_FLOAT64 &&
            c->kind != AGORA__H5_TEXT) {
            rc = agora_error_set(err, AGORA_EINVAL, name, "column %s: unknown kind %d", c->name, (int)c->kind);
            goto done;
        }
        if (c->kind == AGORA__H5_TEXT && (c->width < 4 || c->width > (1 << 20))) {
            rc = agora_error_set(err, AGORA_EINVAL, name, "column %s: text width %d is outside 4 .. 2^20", c->name,
                                 c->width);
            goto done;
        }
    }
    t = calloc(1, sizeof *t);
    if (!t) {
        rc = agora_error_set(err, AGORA_ENOMEM, name, "out of memory");
        goto done;
    }
    t->dset = t->type = H5I_INVALID_HID;
    size_t nalloc = n_cols > 0 ? (size_t)n_cols : 1;
    t->cols = calloc(nalloc, sizeof *t->cols);
    t->offset = calloc(nalloc, sizeof *t->offset);
    t->len = calloc(nalloc, sizeof *t->len);
    t->pos = calloc(nalloc, sizeof *t->pos);
    if (!t->cols || !t->offset || !t->len || !t->pos) {
        rc = agora_error_set(err, AGORA_ENOMEM, name, "out of memory");
        goto done;
    }
    t->n_cols = n_cols;
    size_t off = TABLE_HEADER;
    for (int i = 0; i < n_cols; i++) {
        t->cols[i] = cols[i];
        t->cols[i].name = strdup(cols[i].name);
        if (!t->cols[i].name) {
            rc = agora_error_set(err, AGORA_ENOMEM, name, "out of memory");
            goto done;
        }
        t->offset[i] = off;
        off += cols[i].kind == AGORA__H5_TEXT    ? (size_t)cols[i].width
               : cols[i].kind == AGORA__H5_INT32 ? 4
                                                 : 8;
    }
    t->row_size = off;

    /* Rows are packed; the same compound type serves as memory and file type, so writes need no conversion. */
    if ((t->type = H5Tcreate(H5T_COMPOUND, t->row_size)) < 0 ||
        H5Tinsert(t->type, "id", TABLE_ID_OFFSET, H5T_NATIVE_INT64) < 0 ||
        H5Tinsert(t->type, "part", TABLE_PART_OFFSET, H5T_NATIVE_INT32) < 0) {
        rc = agora__h5_fail(err, AGORA_EHDF5, name, "cannot make the row type");
        goto done;
    }
    for (int i = 0; i < n_cols; i++) {
        herr_t h;
        if (cols[i].kind == AGORA__H5_TEXT) {
            if ((str = H5Tcopy(H5T_C_S1)) < 0 || H5Tset_size(str, (size_t)cols[i].width) < 0 ||
                H5Tset_strpad(str, H5T_STR_NULLPAD) < 0 || H5Tset_cset(str, H5T_CSET_UTF8) < 0) {
                rc = agora__h5_fail(err, AGORA_EHDF5, name, "cannot make a text column type");
                goto done;
            }
            h = H5Tinsert(t->type, cols[i].name, t->offset[i], str);
            agora__h5_close(&str);
        } else {
            h = H5Tinsert(t->type, cols[i].name, t->offset[i],
                          cols[i].kind == AGORA__H5_INT64   ? H5T_NATIVE_INT64
                          : cols[i].kind == AGORA__H5_INT32 ? H5T_NATIVE_INT32
                                                            : H5T_NATIVE_DOUBLE);
        }
        if (h < 0) {
            rc = agora__h5_fail(err, AGORA_EHDF5, name, "cannot add column %s", cols[i].name);
            goto done;
        }
    }

    hsize_t chunk = TABLE_CHUNK_BYTES / t->row_size;
    if (chunk < 16)
        chunk = 16;
    if (chunk > 4096)
        chunk = 4096;
    hsize_t dims = 0, maxdims = H5S_UNLIMITED;
    if ((dcpl = H5Pcreate(H5P_DATASET_CREATE)) < 0 || H5Pset_chunk(dcpl, 1, &chunk) < 0 ||
        (deflate > 0 && H5Pset_deflate(dcpl, (unsigned)deflate) < 0) ||
        (space = H5Screate_simple(1, &dims, &maxdims)) < 0) {
        rc = agora__h5_fail(err, AGORA_EHDF5, name, "cannot set up table %s", name);
        goto done;
    }
    if ((t->dset = H5Dcreate2(loc, name, t->type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT)) < 0) {
        rc = agora__h5_fail(err, AGORA_EHDF5, name, "cannot create table %s", name);
        goto done;
    }
    /* netCDF readers require every dimension of every dataset to have a scale; a table that is its own scale
     * needs no second dataset to keep the same length. */
    if (H5DSset_scale(t->dset, name) < 0) {
        rc = agora__h5_fail(err, AGORA_EHDF5, name, "cannot make table %s a dimension scale", name);
        goto done;
    }
done:
    agora__h5_close(&str);
    agora__h5_close(&dcpl);
    agora__h5_close(&space);
    if (rc) {
        agora__h5_table_close(t);
        t = NULL;
    }
    *out = t;
    return rc;
}

/* Where to cut text that is longer than `width`: at width, moved back to the start of the character that would be
 * split, so every stored piece is valid UTF-8 on its own. p[width] exists because the text is longer. Text that is
 * not UTF-8 is cut at width. */
static size_t utf8_cut(const unsigned char *p, size_t width)
{
    size_t k = width;
    while (k > 0 && width - k < 3 && (p[k] & 0xC0) == 0x80)
        k--;
    if (k == 0 || (p[k] & 0xC0) == 0x80)
        return width;
    return k;
}

static int table_write(agora__h5_table *t, agora_error *err)
{
    if (t->buf_rows == 0)
        return 0;
    hid_t fspace = H5I_INVALID_HID, mspace = H5I_INVALID_HID;
    hsize_t start = t->rows_on_disk, count = t->buf_rows, total = start + count;
    int rc = 0;
    if (H5Dset_extent(t->dset, &total) < 0 || (fspace = H5Dget_space(t->dset)) < 0 ||
        H5Sselect_hyperslab(fspace, H5S_SELECT_SET, &start, NULL, &count, NULL) < 0 ||
        (mspace = H5Screate_simple(1, &count, NULL)) < 0 ||
        H5Dwrite(t->dset, t->type, mspace, fspace, H5P_DEFAULT, t->buf) < 0) {
        rc = agora__h5_fail(err, AGORA_EHDF5, NULL, "cannot write %zu table rows", t->buf_rows);
        goto done;
    }
    t->rows_on_disk = total;
    t->buf_rows = 0;
    t->dirty = 1;
done:
    agora__h5_close(&fspace);
    agora__h5_close(&mspace);
    return rc;
}

int agora__h5_table_append(agora__h5_table *t, const agora__h5_cell *cells, int64_t *id, agora_error *err)
{
    if (!t || (t->n_cols > 0 && !cells))
        return agora_error_set(err, AGORA_EINVAL, NULL, "table append needs a table and its cells");
    size_t first_row = t->buf_rows;
    int64_t row_id = t->next_id;
    for (int j = 0; j < t->n_cols; j++) {
        t->pos[j] = 0;
        t->len[j] = t->cols[j].kind == AGORA__H5_TEXT && cells[j].s ? strlen(cells[j].s) : 0;
    }
    int32_t part = 0;
    int more;
    do {
        if (t->buf_rows == t->buf_cap) {
            size_t cap = t->buf_cap ? 2 * t->buf_cap : 16;
            unsigned char *nb = realloc(t->buf, cap * t->row_size);
            if (!nb) {
                t->buf_rows = first_row; /* drop the parts of this row already buffered */
                return agora_error_set(err, AGORA_ENOMEM, NULL, "out of memory");
            }
            t->buf = nb;
            t->buf_cap = cap;
        }
        unsigned char *row = t->buf + t->buf_rows * t->row_size;
        memset(row, 0, t->row_size); /* NUL padding for text, which deflate then removes */
        memcpy(row + TABLE_ID_OFFSET, &row_id, sizeof row_id);
        memcpy(row + TABLE_PART_OFFSET, &part, sizeof part);
        more = 0;
        for (int j = 0; j < t->n_cols; j++) {
            unsigned char *dst = row + t->offset[j];
            switch (t->cols[j].kind) {
            case AGORA__H5_INT64:
                memcpy(dst, &cells[j].i, sizeof cells[j].i);
                break;
            case AGORA__H5_INT32: {
                int32_t v = (int32_t)cells[j].i;
                memcpy(dst, &v, sizeof v);
                break;
            }
            case AGORA__H5_FLOAT64:
                memcpy(dst, &cells[j].f, sizeof cells[j].f);
                break;
            case AGORA__H5_TEXT: {
                size_t rest = t->len[j] - t->pos[j], width = (size_t)t->cols[j].width;
                if (rest == 0) /* exhausted, or NULL: the column stays empty */
                    break;
                const unsigned char *src = (const unsigned char *)cells[j].s + t->pos[j];
                size_t take = rest > width ? utf8_cut(src, width) : rest;
                memcpy(dst, src, take);
                t->pos[j] += take;
                if (t->pos[j] < t->len[j])
                    more = 1;
                break;
            }
            }
        }
        t->buf_rows++;
        part++;
    } while (more);
    t->next_id++;
    t->dirty = 1;
    if (id)
        *id = row_id;
    if (t->buf_rows * t->row_size >= TABLE_BUFFER_BYTES)
        return table_write(t, err);
    return 0;
}

int agora__h5_table_flush(agora__h5_table *t, agora_error *err)
{
    if (!t)
        return 0;
    int rc = table_write(t, err);
    if (rc)
        return rc;
    if (t->dirty) {
        if (H5Dflush(t->dset) < 0)
            return agora__h5_fail(err, AGORA_EHDF5, NULL, "cannot flush a table");
        t->dirty = 0;
    }
    return 0;
}

int64_t agora__h5_table_count(const agora__h5_table *t)
{
    return t ? t->next_id : 0;
}

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
    {"step", AGORA__H5_INT64, 0},   {"source", AGORA__H5_TEXT, 64},    {"status", AGORA__H5_TEXT, 16},
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
    hid_t time;      /* /time */
    hid_t *metric;   /* [n_metrics] /metrics/<name> */
    hid_t snap_time; /* /snapshots/time, when there are fields */
    hid_t *field;    /* [n_fields] /snapshots/<name> */
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
    agora__h5_table *calls; /* /llm/calls; NULL in a run without personas */
    agora__h5_table **tables; /* the config's own tables */
    int n_tables;
    /* per-persona totals of the calls, written as attributes of /personas/<id> when the file is closed */
    int n_personas;
    struct persona_totals {
        char id[128];
        int64_t calls, ok, invalid, failed, skipped, prompt_tokens, completion_tokens, latency_n;
        double latency_sum, latency_max;
    } *totals;
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

static void writer_free(agora_writer *wr)
{
    if (!wr)
        return;
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
        return agora_error_set(err, AGORA_EINVAL, cfg->path, "personas: %d declared without records",
                               cfg->n_personas);
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
        sp->n < 1 ||
        (sp->kind == AGORA_SPACE_GRID && (sp->grid.width < 1 || sp->grid.height < 1)))
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
        if (H5DSattach_scale(wr->field[i], wr->snap_time, 0) < 0 ||
            H5DSattach_scale(wr->field[i], scale[0], 1) < 0 ||
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
            cols[c] = (agora__h5_column){tb->columns[c].name, (agora__h5_kind)tb->columns[c].kind,
                                         tb->columns[c].width};
        /* open or create each group on the way */
        hid_t loc = H5Gopen2(wr->file, "/", H5P_DEFAULT);
        char *name = path, *slash;
        while (rc == 0 && loc >= 0 && (slash = strchr(name, '/'))) {
            *slash = '\0';
            hid_t g = H5Lexists(loc, name, H5P_DEFAULT) > 0 ? H5Gopen2(loc, name, H5P_DEFAULT)
                                                            : make_group(loc, name, err);
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

int agora_writer_create(const agora_writer_config *cfg, agora_writer **out, agora_error *err)
{
    agora__h5_quiet q;
    agora_writer *wr = NULL;
    hid_t fcpl = H5I_INVALID_HID, fapl = H5I_INVALID_HID;
    int rc = 0;
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

    wr = calloc(1, sizeof *wr);
    if (!wr) {
        rc = agora_error_set(err, AGORA_ENOMEM, cfg->path, "out of memory");
        goto done;
    }
    wr->file = wr->time = wr->snap_time = H5I_INVALID_HID;
    wr->path = strdup(cfg->path);
    wr->metric = malloc((size_t)(cfg->n_metrics + 1) * sizeof *wr->metric);
    wr->field = malloc((size_t)(cfg->n_fields + 1) * sizeof *wr->field);
    wr->field_mem = malloc((size_t)(cfg->n_fields + 1) * sizeof *wr->field_mem);
    if (!wr->path || !wr->metric || !wr->field || !wr->field_mem) {
        rc = agora_error_set(err, AGORA_ENOMEM, cfg->path, "out of memory");
        goto done;
    }
    /* The counts are set only once the arrays hold valid (if invalid-valued) identifiers, which is what
     * writer_free expects when a later step fails. */
    for (int i = 0; i < cfg->n_metrics; i++)
        wr->metric[i] = H5I_INVALID_HID;
    for (int i = 0; i < cfg->n_fields; i++)
        wr->field[i] = wr->field_mem[i] = H5I_INVALID_HID;
    wr->n_metrics = cfg->n_metrics;
    wr->n_fields = cfg->n_fields;

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
    if ((wr->file = H5Fcreate(cfg->path, H5F_ACC_TRUNC, fcpl, fapl)) < 0) {
        rc = agora__h5_fail(err, AGORA_EIO, cfg->path, "cannot create the run file");
        goto done;
    }
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
    agora__h5_quiet q;
    agora__h5_quiet_begin(&q);
    hid_t fspace = H5I_INVALID_HID, mspace = H5I_INVALID_HID;
    int rc = 0;
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
        rc = agora__h5_fail(err, AGORA_EHDF5, wr->path, "cannot write the time of snapshot %llu",
                            (unsigned long long)s);
        goto done;
    }
    wr->snaps = s + 1;
    wr->snap_dirty = 1;
done:
    agora__h5_close(&fspace);
    agora__h5_close(&mspace);
    agora__h5_quiet_end(&q);
    return rc;
}

int agora_writer_event(agora_writer *wr, int64_t step, const char *source, const char *action_json,
                       const char *status, const char *message, agora_error *err)
{
    if (!wr)
        return agora_error_set(err, AGORA_EINVAL, NULL, "agora_writer_event needs a writer");
    agora__h5_cell cells[N_EVENT_COLUMNS] = {
        {.i = step}, {.s = source}, {.s = status}, {.s = action_json}, {.s = message},
    };
    agora__h5_quiet q;
    agora__h5_quiet_begin(&q);
    int rc = agora__h5_table_append(wr->events, cells, NULL, err);
    agora__h5_quiet_end(&q);
    return rc;
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
    agora__h5_quiet q;
    agora__h5_quiet_begin(&q);
    /* agora_writer_cell and agora__h5_cell have the same members in the same order */
    int rc = agora__h5_table_append(wr->tables[table], (const agora__h5_cell *)(const void *)cells, id, err);
    agora__h5_quiet_end(&q);
    return rc;
}

int agora_writer_llm_call(agora_writer *wr, const agora_persona_call *call, agora_error *err)
{
    if (!wr || !call)
        return agora_error_set(err, AGORA_EINVAL, NULL, "agora_writer_llm_call needs a writer and a call");
    if (!wr->calls)
        return agora_error_set(err, AGORA_EINVAL, wr->path,
                               "this run file was created without LLM calls: it has no /llm/calls");
    agora__h5_cell cells[N_LLM_CALL_COLUMNS] = {
        {.i = call->step},          {.s = call->persona},           {.i = call->attempt},
        {.s = call->provider},      {.s = call->model},             {.f = call->latency_ms},
        {.i = call->prompt_tokens}, {.i = call->completion_tokens}, {.i = call->http_status},
        {.i = call->http_attempts}, {.s = call->status},            {.s = call->error},
        {.s = call->prompt},        {.s = call->reply},
    };
    agora__h5_quiet q;
    agora__h5_quiet_begin(&q);
    int rc = agora__h5_table_append(wr->calls, cells, NULL, err);
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

int agora_writer_flush(agora_writer *wr, agora_error *err)
{
    if (!wr)
        return agora_error_set(err, AGORA_EINVAL, NULL, "agora_writer_flush needs a writer");
    agora__h5_quiet q;
    agora__h5_quiet_begin(&q);
    int rc = writer_flush(wr, err);
    agora__h5_quiet_end(&q);
    return rc;
}

/* Records the final status in a file that is no longer open for SWMR writing. An SWMR reader (a notebook watching
 * the run) holds a shared lock on the file, which makes a plain read-write open fail; since this writer is the
 * only one and the readers were built to follow a changing file, the reopen then goes ahead without the lock
 * rather than leave a finished run saying "running". */
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

static int write_final_attributes(const agora_writer *wr, const char *path, const char *status, int64_t steps_done,
                                  double wall_time_s, const char *summary_json, agora_error *err)
{
    char finished[32];
    utc_now(finished, sizeof finished);
    hid_t file = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT), fapl = H5I_INVALID_HID;
    int rc = 0;
    if (file < 0) {
        if ((fapl = H5Pcreate(H5P_FILE_ACCESS)) >= 0 && H5Pset_file_locking(fapl, 0, 1) >= 0)
            file = H5Fopen(path, H5F_ACC_RDWR, fapl);
        agora__h5_close(&fapl);
    }
    if (file < 0)
        return agora__h5_fail(err, AGORA_EIO, path, "cannot reopen the run file to record its status");
    if ((rc = agora__h5_attr_text(file, "status", status, err)) ||
        (rc = agora__h5_attr_text(file, "finished", finished, err)) ||
        (rc = agora__h5_attr_scalar(file, "steps_done", H5T_STD_I64LE, H5T_NATIVE_INT64, &steps_done, err)) ||
        (rc = agora__h5_attr_scalar(file, "wall_time_s", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &wall_time_s, err)) ||
        (rc = agora__h5_attr_text(file, "summary", summary_json, err)) ||
        (rc = write_persona_totals(file, wr, err)))
        goto done;
done:
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
    agora_error later;
    int rc = writer_flush(wr, err);
    writer_close_handles(wr);
    if (H5Fclose(wr->file) < 0 && rc == 0)
        rc = agora__h5_fail(err, AGORA_EIO, wr->path, "cannot close the run file");
    wr->file = H5I_INVALID_HID;
    int rc2 = write_final_attributes(wr, wr->path, status ? status : "complete", steps_done, wall_time_s,
                                     summary_json, rc ? &later : err);
    if (rc == 0)
        rc = rc2;
    writer_free(wr);
    agora__h5_quiet_end(&q);
    return rc;
}
