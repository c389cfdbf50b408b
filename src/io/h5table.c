/* agora — the append-only text table of the run file (h5internal.h): /events and /llm/calls. A one-dimensional
 * compound dataset of fixed-width columns whose long texts continue in further rows; the writer buffers rows and
 * writes them at flush, crash-safe under SWMR, and the reader joins the continuation rows back into logical rows. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hdf5.h>
#include <hdf5_hl.h>

#include "agora/error.h"
#include "core/internal.h"
#include "io/h5internal.h"

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

/* Creates the table, or (rows >= 0) opens the existing one, checks it has the same columns, cuts it back to `rows`
 * stored rows and goes on from logical row `next_id`. */
static int table_make(hid_t loc, const char *name, const agora__h5_column *cols, int n_cols, int deflate, int64_t rows,
                      int64_t next_id, agora__h5_table **out, agora_error *err)
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
            rc = agora_error_set(err, AGORA_EINVAL, name, "column %d: invalid name \"%s\"", i, c->name ? c->name : "");
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
        off += cols[i].kind == AGORA__H5_TEXT ? (size_t)cols[i].width : cols[i].kind == AGORA__H5_INT32 ? 4 : 8;
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

    if (rows >= 0) {
        hid_t ftype = H5I_INVALID_HID;
        hsize_t keep = (hsize_t)rows;
        if ((t->dset = H5Dopen2(loc, name, H5P_DEFAULT)) < 0 || (ftype = H5Dget_type(t->dset)) < 0 ||
            H5Tequal(ftype, t->type) <= 0) {
            agora__h5_close(&ftype);
            rc = agora__h5_fail(err, AGORA_EHDF5, name, "table %s is missing or has other columns", name);
            goto done;
        }
        agora__h5_close(&ftype);
        if (H5Dset_extent(t->dset, &keep) < 0) {
            rc = agora__h5_fail(err, AGORA_EHDF5, name, "cannot cut table %s back to %lld rows", name, (long long)rows);
            goto done;
        }
        t->rows_on_disk = keep;
        t->next_id = next_id;
        goto done;
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

int agora__h5_table_create(hid_t loc, const char *name, const agora__h5_column *cols, int n_cols, int deflate,
                           agora__h5_table **out, agora_error *err)
{
    return table_make(loc, name, cols, n_cols, deflate, -1, 0, out, err);
}

int agora__h5_table_reopen(hid_t loc, const char *name, const agora__h5_column *cols, int n_cols, int64_t rows,
                           int64_t next_id, agora__h5_table **out, agora_error *err)
{
    return table_make(loc, name, cols, n_cols, 0, rows, next_id, out, err);
}

int64_t agora__h5_table_rows(const agora__h5_table *t)
{
    return t ? (int64_t)t->rows_on_disk : 0;
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

size_t agora__h5_table_pending(const agora__h5_table *t)
{
    return t ? t->buf_rows * t->row_size : 0;
}

/* ---- tables ---------------------------------------------------------------------------------------------------- */

typedef struct table_member {
    char *name;
    H5T_class_t cls; /* H5T_INTEGER, H5T_FLOAT or H5T_STRING (fixed width) */
    H5T_cset_t cset; /* of a string: HDF5 does not convert between ASCII and UTF-8, so it is read as stored */
    size_t offset, size;
    /* the logical row being assembled */
    int64_t i;
    double f;
    char *text;
    size_t text_len, text_cap;
} table_member;

static int append_text(table_member *m, const char *s, size_t n)
{
    if (m->text_len + n + 1 > m->text_cap) {
        size_t cap = m->text_cap ? m->text_cap : 256;
        while (cap < m->text_len + n + 1)
            cap *= 2;
        char *nt = realloc(m->text, cap);
        if (!nt)
            return -1;
        m->text = nt;
        m->text_cap = cap;
    }
    memcpy(m->text + m->text_len, s, n);
    m->text_len += n;
    return 0;
}

/* Turns the assembled logical row into a JSON object appended to rows; `part` is internal and left out. */
static int emit_row(json_t *rows, const table_member *mem, int n, int part_index)
{
    json_t *o = json_object();
    if (!o)
        return -1;
    for (int k = 0; k < n; k++) {
        if (k == part_index)
            continue;
        const table_member *m = &mem[k];
        json_t *v = m->cls == H5T_INTEGER ? json_integer((json_int_t)m->i)
                    : m->cls == H5T_FLOAT ? agora__h5_real_json(m->f)
                                          : agora__h5_text_json(m->text ? m->text : "", m->text_len);
        if (json_object_set_new(o, m->name, v) < 0) {
            json_decref(o);
            return -1;
        }
    }
    return json_array_append_new(rows, o);
}

int agora__h5_table_read(hid_t loc, const char *name, json_t **rows, agora_error *err)
{
    hid_t dset = H5I_INVALID_HID, ftype = H5I_INVALID_HID, mtype = H5I_INVALID_HID, mt = H5I_INVALID_HID;
    hid_t fspace = H5I_INVALID_HID, mspace = H5I_INVALID_HID;
    table_member *mem = NULL;
    unsigned char *buf = NULL;
    json_t *out = NULL;
    int n = 0, rc = 0, id_index = -1, part_index = -1;
    *rows = NULL;
    if ((dset = H5Dopen2(loc, name, H5P_DEFAULT)) < 0 || (ftype = H5Dget_type(dset)) < 0 ||
        (fspace = H5Dget_space(dset)) < 0) {
        rc = agora__h5_fail(err, AGORA_EHDF5, name, "cannot open table %s", name);
        goto done;
    }
    int nmembers = H5Tget_nmembers(ftype);
    if (H5Tget_class(ftype) != H5T_COMPOUND || nmembers < 0 || H5Sget_simple_extent_ndims(fspace) != 1) {
        rc = agora_error_set(err, AGORA_EHDF5, name, "%s is not a table (a one-dimensional compound dataset)", name);
        goto done;
    }
    mem = calloc((size_t)nmembers + 1, sizeof *mem);
    out = json_array();
    if (!mem || !out)
        goto nomem;
    /* The memory type holds the members this reader understands, packed: integers as int64, floats as double and
     * fixed-width strings as they are. Other members (none in agora's tables) are skipped. */
    size_t size = 0;
    for (int k = 0; k < nmembers; k++) {
        char *mname = H5Tget_member_name(ftype, (unsigned)k);
        hid_t t = H5Tget_member_type(ftype, (unsigned)k);
        H5T_class_t cls = H5Tget_class(t);
        size_t msize = cls == H5T_STRING && H5Tis_variable_str(t) <= 0 ? H5Tget_size(t)
                       : cls == H5T_INTEGER || cls == H5T_FLOAT        ? 8
                                                                       : 0;
        H5T_cset_t cset = cls == H5T_STRING ? H5Tget_cset(t) : H5T_CSET_ASCII;
        H5Tclose(t);
        if (!mname || msize == 0) {
            H5free_memory(mname);
            continue;
        }
        table_member *m = &mem[n];
        m->name = strdup(mname);
        H5free_memory(mname);
        if (!m->name)
            goto nomem;
        m->cls = cls;
        m->cset = cset;
        m->offset = size;
        m->size = msize;
        size += msize;
        if (!strcmp(m->name, "id") && cls == H5T_INTEGER)
            id_index = n;
        if (!strcmp(m->name, "part") && cls == H5T_INTEGER)
            part_index = n;
        n++;
    }
    if (n == 0) {
        rc = agora_error_set(err, AGORA_EHDF5, name, "table %s has no readable columns", name);
        goto done;
    }
    if ((mtype = H5Tcreate(H5T_COMPOUND, size)) < 0) {
        rc = agora__h5_fail(err, AGORA_EHDF5, name, "cannot make a row type");
        goto done;
    }
    for (int k = 0; k < n; k++) {
        herr_t h;
        if (mem[k].cls == H5T_STRING) {
            if ((mt = H5Tcopy(H5T_C_S1)) < 0 || H5Tset_size(mt, mem[k].size) < 0 ||
                H5Tset_strpad(mt, H5T_STR_NULLPAD) < 0 || H5Tset_cset(mt, mem[k].cset) < 0) {
                rc = agora__h5_fail(err, AGORA_EHDF5, name, "cannot make a text type");
                goto done;
            }
            h = H5Tinsert(mtype, mem[k].name, mem[k].offset, mt);
            agora__h5_close(&mt);
        } else {
            h = H5Tinsert(mtype, mem[k].name, mem[k].offset,
                          mem[k].cls == H5T_INTEGER ? H5T_NATIVE_INT64 : H5T_NATIVE_DOUBLE);
        }
        if (h < 0) {
            rc = agora__h5_fail(err, AGORA_EHDF5, name, "cannot make a row type");
            goto done;
        }
    }

    hsize_t total = 0;
    H5Sget_simple_extent_dims(fspace, &total, NULL);
    hsize_t block = ((hsize_t)1 << 20) / size;
    if (block < 1)
        block = 1;
    if (block > total)
        block = total;
    if (total > 0 && !(buf = malloc(block * size)))
        goto nomem;
    int have_row = 0;
    int64_t cur_id = 0;
    for (hsize_t start = 0; start < total; start += block) {
        hsize_t count = total - start < block ? total - start : block;
        agora__h5_close(&mspace);
        if ((mspace = H5Screate_simple(1, &count, NULL)) < 0 ||
            H5Sselect_hyperslab(fspace, H5S_SELECT_SET, &start, NULL, &count, NULL) < 0 ||
            H5Dread(dset, mtype, mspace, fspace, H5P_DEFAULT, buf) < 0) {
            rc = agora__h5_fail(err, AGORA_EHDF5, name, "cannot read table %s", name);
            goto done;
        }
        for (hsize_t r = 0; r < count; r++) {
            const unsigned char *row = buf + r * size;
            int64_t id = 0, part = 0;
            if (id_index >= 0)
                memcpy(&id, row + mem[id_index].offset, 8);
            if (part_index >= 0)
                memcpy(&part, row + mem[part_index].offset, 8);
            /* A continuation row follows its first part directly (one writer appends all parts together). */
            int continues = have_row && id_index >= 0 && id == cur_id && part > 0;
            if (!continues) {
                if (have_row && emit_row(out, mem, n, part_index) < 0)
                    goto nomem;
                have_row = 1;
                cur_id = id;
            }
            for (int k = 0; k < n; k++) {
                table_member *m = &mem[k];
                const unsigned char *src = row + m->offset;
                if (m->cls == H5T_STRING) {
                    if (!continues)
                        m->text_len = 0;
                    if (append_text(m, (const char *)src, strnlen((const char *)src, m->size)) < 0)
                        goto nomem;
                } else if (!continues) {
                    if (m->cls == H5T_INTEGER)
                        memcpy(&m->i, src, 8);
                    else
                        memcpy(&m->f, src, 8);
                }
            }
        }
    }
    if (have_row && emit_row(out, mem, n, part_index) < 0)
        goto nomem;
    goto done;
nomem:
    rc = agora_error_set(err, AGORA_ENOMEM, name, "out of memory");
done:
    if (mem)
        for (int k = 0; k < n; k++) {
            free(mem[k].name);
            free(mem[k].text);
        }
    free(mem);
    free(buf);
    agora__h5_close(&mt);
    agora__h5_close(&mtype);
    agora__h5_close(&ftype);
    agora__h5_close(&fspace);
    agora__h5_close(&mspace);
    agora__h5_close(&dset);
    if (rc)
        json_decref(out);
    else
        *rows = out;
    return rc;
}
