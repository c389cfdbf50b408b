/* agora — what the libFuzzer harnesses of tests/fuzz share: a private scratch directory (the only place a harness
 * may write; emptied after every input, removed at exit), splitting an input into parts at separator lines, and the
 * invariant every failing library call must keep (a negative code and a message).
 *
 * Inputs are text so that corpora stay readable: parts are separated by a line holding exactly FUZZ_SEP, e.g. a
 * scenario, then "~~~~", then one `--set` assignment per line. */
#ifndef AGORA_FUZZ_UTIL_H
#define AGORA_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "agora/error.h"

#define FUZZ_SEP "~~~~"

typedef struct fuzz_part {
    char *s; /* a NUL-terminated copy (the part itself may hold NUL bytes: len counts them) */
    size_t len;
} fuzz_part;

/* Creates the scratch directory once (under $TMPDIR, else /tmp) and returns its path; aborts if it cannot. */
const char *fuzz_tmpdir(void);

/* Removes everything inside the scratch directory (not the directory itself). */
void fuzz_tmp_clean(void);

/* Splits data at lines equal to FUZZ_SEP into at most max parts (the last part keeps any further separators).
 * Returns the number of parts (>= 1); free them with fuzz_parts_free. */
int fuzz_split(const uint8_t *data, size_t size, fuzz_part *parts, int max);
void fuzz_parts_free(fuzz_part *parts, int n);

/* Splits text into lines (without their '\n'), at most max; returns how many. The pointers point into a copy owned
 * by *store (free it). Blank lines are skipped. */
int fuzz_lines(const char *text, size_t len, char **lines, int max, char **store);

/* A library call returned rc with err: a failure must have a negative code equal to err->code and a message, and
 * err->msg must be a terminated string; aborts (a finding) otherwise. */
void fuzz_check_error(int rc, const agora_error *err, const char *what);

/* Whether s is valid UTF-8 as JSON needs it (prompts and replies go into JSON request bodies and HDF5 text). */
int fuzz_utf8(const char *s);

/* Nonzero when AGORA_FUZZ_VERBOSE is set: harnesses then tell on stderr what each input did (to check seeds). */
int fuzz_verbose(void);

/* Aborts with a message: a broken invariant is a finding like a crash. */
void fuzz_fail(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2), noreturn))
#endif
    ;

#endif
