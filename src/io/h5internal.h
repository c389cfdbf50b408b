/* agora — HDF5 helpers shared by the run-file writer (h5writer.c), its reader (h5read.c) and later tables such as
 * /llm/calls. Not part of the public API (agora__h5_ prefix).
 *
 * Three groups of helpers live here:
 *   - error plumbing: HDF5 prints its error stack to stderr by default and the library must never print, so every
 *     entry point silences it for the duration of the call (agora__h5_quiet_*) and turns the stack's messages into
 *     an agora_error (agora__h5_fail);
 *   - attributes: scalar numbers and variable-length UTF-8 text, replacing an attribute of the same name, and the
 *     reverse (all attributes of an object as JSON);
 *   - the append-only text table: a one-dimensional compound dataset whose columns are int64, int32, float64 or
 *     fixed-width UTF-8 text. Fixed width, because variable-length strings appended under SWMR are not crash-safe
 *     (a killed writer leaves them unreadable). Every table starts with two implicit columns, `id` (int64, one per
 *     logical row, from 0) and `part` (int32): a text value longer than its column continues in further rows with
 *     the same id and part 1, 2, ...; every text column of a logical row is split the same way (columns already
 *     exhausted are empty in continuation rows) and numeric columns repeat. Splits fall on UTF-8 character
 *     boundaries, so each stored row is valid UTF-8 on its own. Rows are buffered and written at flush.
 *
 * The errors and attributes are implemented in h5util.c, the table in h5table.c. HDF5 must be called
 * from one thread at a time (see PLATFORM.md); none of these functions is called inside a parallel region. */
#ifndef AGORA_IO_H5INTERNAL_H
#define AGORA_IO_H5INTERNAL_H

#include <stdint.h>
#include <string.h>

#include <hdf5.h>
#include <jansson.h>

#include "agora/error.h"

/* A status of /llm/calls for a call that was not made (no request sent: the server was unreachable, the circuit
 * breaker was open, a budget was reached): counted apart from the calls made. */
static inline int agora__h5_call_skipped(const char *status)
{
    return status &&
           (strcmp(status, "unreachable") == 0 || strcmp(status, "circuit_open") == 0 || strcmp(status, "budget") == 0);
}

/* ---- errors ---------------------------------------------------------------------------------------------------- */

/* The automatic error printer saved by agora__h5_quiet_begin and put back by agora__h5_quiet_end. Pairs nest. */
typedef struct agora__h5_quiet {
    H5E_auto2_t func;
    void *data;
} agora__h5_quiet;

/* Turns HDF5's automatic error printing off for this thread, remembering the previous handler in *q. */
void agora__h5_quiet_begin(agora__h5_quiet *q);

/* Restores the handler saved by agora__h5_quiet_begin. */
void agora__h5_quiet_end(const agora__h5_quiet *q);

/* Fills err with `code`, `where` and the formatted text followed by the HDF5 error stack's outermost and innermost
 * messages ("cannot create /time: unable to create dataset (... no space left on device)"). Call it right after the
 * failing HDF5 call, before any other HDF5 call clears the stack. Returns code. */
int agora__h5_fail(agora_error *err, int code, const char *where, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* Closes any HDF5 identifier (file, group, dataset, attribute, type, space, property list) and sets *id to
 * H5I_INVALID_HID; invalid identifiers are ignored, so clean-up code can call it unconditionally. */
void agora__h5_close(hid_t *id);

/* ---- attributes ------------------------------------------------------------------------------------------------ */

/* Writes a scalar attribute of type `file_type` from one value of `mem_type`, replacing an existing attribute of
 * the same name (whatever its type). */
int agora__h5_attr_scalar(hid_t loc, const char *name, hid_t file_type, hid_t mem_type, const void *value,
                          agora_error *err);

/* Writes a variable-length UTF-8 text attribute (NULL writes ""), replacing an existing one. h5py reads it as str.
 * Only valid before SWMR writing starts or in a file opened without SWMR. */
int agora__h5_attr_text(hid_t loc, const char *name, const char *value, agora_error *err);

/* Reads every attribute of loc into a new JSON object (in creation order when the file tracks it): integers and
 * floats as numbers (an unsigned value above INT64_MAX as its decimal text, so it stays exact), strings as
 * strings, arrays of them as lists; other types as null. Attributes named in `json_names` (NULL-terminated, may be
 * NULL) whose text parses as JSON are stored parsed. */
int agora__h5_attrs_json(hid_t loc, const char *const *json_names, json_t **out, agora_error *err);

/* ---- the append-only text table -------------------------------------------------------------------------------- */

typedef enum agora__h5_kind {
    AGORA__H5_INT64 = 1,
    AGORA__H5_FLOAT64 = 2,
    AGORA__H5_TEXT = 3, /* fixed-width UTF-8, NUL-padded; `width` bytes per row */
    AGORA__H5_INT32 = 4 /* from the cell's `i`, truncated to 32 bits; read back as an integer like int64 */
} agora__h5_kind;

/* One user column. The names `id` and `part` are taken by the implicit columns. */
typedef struct agora__h5_column {
    const char *name;
    agora__h5_kind kind;
    int width; /* AGORA__H5_TEXT: bytes per row (>= 4, so a split always advances by a whole character) */
} agora__h5_column;

/* One value of a logical row; the member read is the one of the column's kind. s == NULL is "". */
typedef struct agora__h5_cell {
    int64_t i;
    double f;
    const char *s;
} agora__h5_cell;

typedef struct agora__h5_table agora__h5_table;

/* Creates the dataset `name` under loc: columns id, part, then cols[0 .. n_cols), unlimited, chunked (about 256 KiB
 * per chunk), deflate-compressed at `deflate` (1..9; 0 = none, but the NUL padding of text columns then stays on
 * disk). The dataset is also made a dimension scale of itself, named `name`, so netCDF readers (xarray with
 * engine="h5netcdf") can open the group holding it; an unattached compound dataset makes them fail. Must run
 * before SWMR writing starts. The column names are copied. Owned by the caller: agora__h5_table_close. */
int agora__h5_table_create(hid_t loc, const char *name, const agora__h5_column *cols, int n_cols, int deflate,
                           agora__h5_table **out, agora_error *err);

/* Appends one logical row (cells[i] for cols[i]), buffered until agora__h5_table_flush (or written early, without
 * a flush, once the buffer passes 1 MiB). *id (may be NULL) receives the row's id. */
int agora__h5_table_append(agora__h5_table *t, const agora__h5_cell *cells, int64_t *id, agora_error *err);

/* Writes buffered rows and flushes the dataset, so SWMR readers and a killed writer's file see them. A failed
 * write keeps the rows buffered, and the next flush tries again. */
int agora__h5_table_flush(agora__h5_table *t, agora_error *err);

/* Logical rows appended so far (written or buffered). */
int64_t agora__h5_table_count(const agora__h5_table *t);

/* Opens a table made by agora__h5_table_create with the same columns (AGORA_EHDF5 if it has others), cuts it back
 * to `rows` stored rows and goes on appending from logical row `next_id` (a resumed run). */
int agora__h5_table_reopen(hid_t loc, const char *name, const agora__h5_column *cols, int n_cols, int64_t rows,
                           int64_t next_id, agora__h5_table **out, agora_error *err);

/* Stored rows written so far (continuation parts included; buffered ones not). */
int64_t agora__h5_table_rows(const agora__h5_table *t);

/* Bytes of rows buffered and not yet written. */
size_t agora__h5_table_pending(const agora__h5_table *t);

/* Closes the dataset and frees the table, dropping rows not yet flushed; NULL is allowed. */
void agora__h5_table_close(agora__h5_table *t);

/* Reads the table `name` under loc (any table written by agora__h5_table_*, found from the file's compound type)
 * into a new JSON array of objects {id, <column>: value, ...}, one per logical row, text parts joined and `part`
 * left out. Reads in blocks, so only the JSON grows with the table. */
int agora__h5_table_read(hid_t loc, const char *name, json_t **rows, agora_error *err);

/* ---- JSON from HDF5 values (readers) ---------------------------------------------------------------------------- */

/* JSON text from bytes that should be UTF-8; non-ASCII bytes of anything that is not are replaced by '?'. */
json_t *agora__h5_text_json(const char *s, size_t n);

/* A real as JSON; NaN and infinities (which jansson cannot hold) as null. */
json_t *agora__h5_real_json(double x);

#endif
