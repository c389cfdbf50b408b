/* agora — spaces: the grid constructor and what every space shares (destroy, size, description).
 * Graph construction lives in graph.c, the `space:` spec in spec.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agora/space.h"

int agora_space_grid_create(int64_t width, int64_t height, int torus, agora_neighborhood nbhd, agora_space **out,
                            agora_error *err)
{
    *out = NULL;
    if (width < 1 || height < 1)
        return agora_error_set(err, AGORA_EINVAL, "space", "grid size must be positive, got %lldx%lld",
                               (long long)width, (long long)height);
    if (width > (INT64_C(1) << 40) / height)
        return agora_error_set(err, AGORA_EINVAL, "space", "grid of %lldx%lld cells is too large (limit 2^40)",
                               (long long)width, (long long)height);
    if (nbhd != AGORA_MOORE && nbhd != AGORA_VON_NEUMANN)
        return agora_error_set(err, AGORA_EINVAL, "space.neighborhood", "unknown neighbourhood %d", (int)nbhd);
    agora_space *s = calloc(1, sizeof *s);
    if (!s)
        return agora_error_set(err, AGORA_ENOMEM, "space", "out of memory");
    s->kind = AGORA_SPACE_GRID;
    s->n = width * height;
    s->grid.width = width;
    s->grid.height = height;
    s->grid.torus = torus != 0;
    s->grid.nbhd = nbhd;
    *out = s;
    return 0;
}

int agora_space_mixed_create(int64_t n, agora_space **out, agora_error *err)
{
    *out = NULL;
    if (n < 1 || n > (INT64_C(1) << 40))
        return agora_error_set(err, AGORA_EINVAL, "space.n", "a mixed population needs 1 to 2^40 agents, got %lld",
                               (long long)n);
    agora_space *s = calloc(1, sizeof *s);
    if (!s)
        return agora_error_set(err, AGORA_ENOMEM, "space", "out of memory");
    s->kind = AGORA_SPACE_MIXED;
    s->n = n;
    *out = s;
    return 0;
}

const char *agora_space_kind_name(agora_space_kind kind)
{
    switch (kind) {
    case AGORA_SPACE_GRID:
        return "grid";
    case AGORA_SPACE_GRAPH:
        return "graph";
    case AGORA_SPACE_MIXED:
        return "mixed";
    }
    return "unknown";
}

int agora_space_copy(const agora_space *space, agora_space **out, agora_error *err)
{
    *out = NULL;
    agora_space *c = malloc(sizeof *c);
    if (!c)
        return agora_error_set(err, AGORA_ENOMEM, "space", "out of memory");
    *c = *space;
    c->graph.offsets = NULL;
    c->graph.neighbors = NULL;
    if (space->kind == AGORA_SPACE_GRAPH) {
        size_t nnz = (size_t)space->graph.offsets[space->n];
        c->graph.offsets = malloc(((size_t)space->n + 1) * sizeof *c->graph.offsets);
        c->graph.neighbors = malloc((nnz ? nnz : 1) * sizeof *c->graph.neighbors);
        if (!c->graph.offsets || !c->graph.neighbors) {
            agora_space_destroy(c);
            return agora_error_set(err, AGORA_ENOMEM, "space", "out of memory copying a graph of %lld vertices",
                                   (long long)space->n);
        }
        memcpy(c->graph.offsets, space->graph.offsets, ((size_t)space->n + 1) * sizeof *c->graph.offsets);
        memcpy(c->graph.neighbors, space->graph.neighbors, nnz * sizeof *c->graph.neighbors);
    }
    *out = c;
    return 0;
}

void agora_space_destroy(agora_space *space)
{
    if (!space)
        return;
    free(space->graph.offsets);
    free(space->graph.neighbors);
    free(space);
}

int64_t agora_space_bytes(const agora_space *space)
{
    if (!space || space->kind != AGORA_SPACE_GRAPH)
        return 0;
    return (space->n + 1) * (int64_t)sizeof(int64_t) +
           (space->graph.offsets ? space->graph.offsets[space->n] : 0) * (int64_t)sizeof(int32_t);
}

const char *agora_space_describe(const agora_space *space, char *buf, int size)
{
    if (!space)
        snprintf(buf, (size_t)size, "none");
    else if (space->kind == AGORA_SPACE_GRID)
        snprintf(buf, (size_t)size, "grid %lldx%lld %s %s", (long long)space->grid.width,
                 (long long)space->grid.height, space->grid.torus ? "torus" : "bounded",
                 space->grid.nbhd == AGORA_MOORE ? "moore" : "von_neumann");
    else if (space->kind == AGORA_SPACE_MIXED)
        snprintf(buf, (size_t)size, "mixed n=%lld", (long long)space->n);
    else
        snprintf(buf, (size_t)size, "graph %s n=%lld edges=%lld", space->graph.generator, (long long)space->n,
                 (long long)space->graph.edges);
    return buf;
}
