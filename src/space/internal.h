/* agora — space internals shared by spec.c and graph.c. */
#ifndef AGORA_SPACE_INTERNAL_H
#define AGORA_SPACE_INTERNAL_H

#include <jansson.h>

#include "agora/space.h"

/* Builds a graph from a checked `space:` object of kind graph. igraph's RNG is seeded with `graph_seed`.
 * Relative paths resolve against base_dir, then the working directory. Errors name "space.<key>" in err->where,
 * or the edge-list file (with its line) for a malformed file. */
int agora__graph_create(const json_t *spec, uint64_t graph_seed, const char *base_dir, agora_space **out,
                        agora_error *err);

/* Finds the file a `space.path` names: absolute paths as they are; relative ones against base_dir, then the working
 * directory. *resolved is a new string owned by the caller; an error names "space.path" and where it looked. */
int agora__graph_find_file(const char *path, const char *base_dir, char **resolved, agora_error *err);

#endif
