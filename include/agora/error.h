/* agora — error values.
 *
 * Every function that can fail returns int: 0 on success or a negative AGORA_E* code from the one table below,
 * and writes detail into a caller-owned agora_error (the pattern of jansson's json_error_t). The library never
 * prints, aborts or exits. `where` is a file path (with line/column when known) or, inside validators, the dotted
 * key path of the offending value ("params.beta"); the scenario loader turns the latter into file:line:col. */
#ifndef AGORA_ERROR_H
#define AGORA_ERROR_H

#include <stddef.h>

#include "agora/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* X(name, value, description) */
#define AGORA_ERRNO_MAP(X)                                                                                 \
    X(OK, 0, "success")                                                                                    \
    X(EINVAL, -1, "invalid argument")                                                                      \
    X(ENOMEM, -2, "out of memory")                                                                         \
    X(EIO, -3, "input/output error")                                                                       \
    X(EPARSE, -4, "syntax error")                                                                          \
    X(ESCHEMA, -5, "value does not match its schema")                                                      \
    X(ENOTFOUND, -6, "not found")                                                                          \
    X(EUNSUPPORTED, -7, "not supported")                                                                   \
    X(ERANGE, -8, "value out of range")                                                                    \
    X(EHDF5, -9, "HDF5 error")                                                                             \
    X(EGRAPH, -10, "graph error")                                                                          \
    X(ECANCELED, -11, "canceled")                                                                          \
    X(EHTTP, -12, "HTTP error")                                                                            \
    X(ETIMEOUT, -13, "timed out")                                                                          \
    X(EINTERNAL, -14, "internal error")

typedef enum agora_errno {
#define AGORA__ERRNO_ENUM(name, value, desc) AGORA_##name = value,
    AGORA_ERRNO_MAP(AGORA__ERRNO_ENUM)
#undef AGORA__ERRNO_ENUM
} agora_errno;

typedef struct agora_error {
    int code;          /* AGORA_E* */
    int line, column;  /* 1-based; 0 when unknown */
    char where[256];   /* file path, or a dotted key path inside validators */
    char msg[512];     /* what was expected and what was found */
} agora_error;

/* A static description of an AGORA_E* code ("invalid argument"); never NULL. */
AGORA_API const char *agora_strerror(int code);

/* The symbolic name of a code ("EINVAL"); never NULL. */
AGORA_API const char *agora_errname(int code);

/* Fills err (which may be NULL) and returns code, so callers can write `return agora_error_set(...)`.
 * `where` may be NULL. line/column are reset to 0. */
AGORA_API int agora_error_set(agora_error *err, int code, const char *where, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* Sets err to success (code 0, empty strings). err may be NULL. */
AGORA_API void agora_error_clear(agora_error *err);

/* Prefixes the message with "key: " (used when a validator reports a nested value). */
AGORA_API void agora_error_prefix(agora_error *err, const char *key);

/* Writes the human form "where:line:col: msg" (parts omitted when unknown) into buf; returns buf. */
AGORA_API char *agora_error_format(const agora_error *err, char *buf, size_t size);

#ifdef __cplusplus
}
#endif
#endif
