/* agora — `--set` key paths (io/setpath.c): internal to the library. */
#ifndef AGORA_IO_SETPATH_H
#define AGORA_IO_SETPATH_H

#include <stddef.h>

#include <jansson.h>

#include "agora/error.h"

/* Parses the n bytes of "a.b[0].c" into *comps_out (a new array: strings for keys, integers for list indices) and
 * its normalised form into norm. 0, AGORA_EINVAL (malformed) or AGORA_ENOMEM. */
int agora__set_key_path(const char *s, size_t n, json_t **comps_out, char *norm, size_t norm_size);

/* Writes `value` (stolen) at the path `comps` in `root`, creating missing or null parents; errors name `norm` and
 * carry `where` (the override as given). */
int agora__set_apply(json_t *root, const json_t *comps, json_t *value, const char *norm, const char *where,
                     agora_error *err);

/* A value whose mapping has a key like "kind:grid" ({kind:grid} without a space after the colon, which YAML reads as
 * one key) is an error saying how to write it; 0 otherwise. */
int agora__set_value_check(const json_t *value, const char *where, agora_error *err);

#endif
