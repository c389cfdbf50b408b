/* agora — spaces: where agents live and who their neighbours are.
 *
 * Two kinds. A grid (width x height, torus or bounded, Moore or von Neumann neighbourhood) stores nothing per agent:
 * agent i sits at (x, y) = (i % width, i / width) and models compute neighbours from the geometry, row by row.
 * A graph is built with igraph (generators or an edge-list file) and then frozen into CSR arrays — offsets[n+1] and
 * neighbors[offsets[n]] — which are all a model's hot loop reads; igraph is never called inside a parallel region.
 * Graphs are undirected and simple (no self-loops, no multi-edges): each edge appears in both endpoints' rows, and
 * every row is sorted.
 *
 * The struct is public because models read it in their hot loops; treat it as read-only. */
#ifndef AGORA_SPACE_H
#define AGORA_SPACE_H

#include <stdint.h>

#include <jansson.h>

#include "agora/error.h"
#include "agora/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* AGORA_SPACE_MIXED is a well-mixed population: n agents and no topology, anyone may meet anyone (pairwise models
 * draw random matchings over all agents; a market's traders). */
typedef enum agora_space_kind { AGORA_SPACE_GRID = 1, AGORA_SPACE_GRAPH = 2, AGORA_SPACE_MIXED = 3 } agora_space_kind;

typedef enum agora_neighborhood { AGORA_MOORE = 1, AGORA_VON_NEUMANN = 2 } agora_neighborhood;

typedef struct agora_grid {
    int64_t width, height;
    int torus; /* 1: edges wrap; 0: bounded (cells off the edge are absent) */
    agora_neighborhood nbhd;
} agora_grid;

typedef struct agora_graph {
    int64_t *offsets;   /* [n + 1]; row i is neighbors[offsets[i] .. offsets[i+1]) */
    int32_t *neighbors; /* [offsets[n]] = 2 * edges */
    int64_t edges;      /* undirected edges */
    char generator[32]; /* "watts_strogatz", "barabasi_albert", "erdos_renyi", "lattice", "file", "edges" */
} agora_graph;

typedef struct agora_space {
    agora_space_kind kind;
    int64_t n;         /* agents = width * height, or graph vertices */
    agora_grid grid;   /* valid when kind == AGORA_SPACE_GRID */
    agora_graph graph; /* valid when kind == AGORA_SPACE_GRAPH */
} agora_space;

/* A width x height grid. Owned by the caller (agora_space_destroy), or handed to a world which then owns it.
 * Errors: AGORA_EINVAL for non-positive sizes or more than 2^40 cells; AGORA_ENOMEM. */
AGORA_API int agora_space_grid_create(int64_t width, int64_t height, int torus, agora_neighborhood nbhd,
                                      agora_space **out, agora_error *err);

/* A well-mixed population of n agents (1 <= n <= 2^40). Owned by the caller. */
AGORA_API int agora_space_mixed_create(int64_t n, agora_space **out, agora_error *err);
/* "grid", "graph" or "mixed". */
AGORA_API const char *agora_space_kind_name(agora_space_kind kind);
/* A graph on n vertices from `m` undirected edges given as pairs edges[2k], edges[2k+1] (0-based). Self-loops and
 * repeated edges are dropped. Owned by the caller. Errors: AGORA_EINVAL (ids out of range, n >= 2^31). */
AGORA_API int agora_space_graph_from_edges(int64_t n, const int64_t *edges, int64_t m, agora_space **out,
                                           agora_error *err);

/* Checks a scenario's `space:` object (keys, types, ranges) without building anything. On error, err->where is the
 * dotted key path ("space.k") and err->msg says what was expected. */
AGORA_API int agora_space_check(const json_t *spec, agora_error *err);

/* Builds the space a `space:` object describes. Graph generators are seeded from `key` (the run's RNG key), so the
 * same key gives the same graph. Relative file paths are resolved against base_dir (the scenario's directory; NULL:
 * the working directory), then the working directory. Owned by the caller.
 *
 *   {kind: grid, width, height, torus: true, neighborhood: moore|von_neumann}
 *   {kind: graph, generator: watts_strogatz, n, k (even mean degree), p (rewiring probability)}
 *   {kind: graph, generator: barabasi_albert, n, m (edges per new vertex)}
 *   {kind: graph, generator: erdos_renyi, n, mean_degree | p}
 *   {kind: graph, generator: lattice, width, height, torus: true}
 *   {kind: graph, generator: file, path, index_base: 0|1}
 *   {kind: mixed, n}
 */
AGORA_API int agora_space_create(const json_t *spec, uint64_t key, const char *base_dir, agora_space **out,
                                 agora_error *err);

/* A deep copy of a space (its CSR arrays included), owned by the caller. Errors: AGORA_ENOMEM. */
AGORA_API int agora_space_copy(const agora_space *space, agora_space **out, agora_error *err);

/* Frees a space; NULL is allowed. */
AGORA_API void agora_space_destroy(agora_space *space);

/* Bytes the space itself holds (CSR arrays for a graph, 0 for a grid). */
AGORA_API int64_t agora_space_bytes(const agora_space *space);

/* A one-line description, e.g. "grid 1000x1000 torus moore" or "graph watts_strogatz n=1000000 edges=5000000". */
AGORA_API const char *agora_space_describe(const agora_space *space, char *buf, int size);

/* ---- a grid's geometry: neighbours and the stencil ------------------------------------------------------------- */

/* The neighbours of cell i of a grid in a fixed order (west, east, north, south, then for Moore north-west,
 * north-east, south-west, south-east), skipping cells off a bounded grid; returns how many (at most 8). On a torus
 * narrower than 3 cells a neighbour may repeat (as the geometry says). */
/* The directions of a grid's neighbours in that order: (dx, dy) for k < 4 (von Neumann) or 8 (Moore). */
static const int agora__grid_dx[8] = {-1, 1, 0, 0, -1, 1, -1, 1}, agora__grid_dy[8] = {0, 0, -1, 1, -1, -1, 1, 1};

static inline int agora_grid_neighbors(const agora_grid *g, int64_t i, int64_t out[8])
{
    const int *const dx = agora__grid_dx, *const dy = agora__grid_dy;
    const int64_t w = g->width, h = g->height, x = i % w, y = i / w;
    const int m = g->nbhd == AGORA_MOORE ? 8 : 4;
    int k = 0;
    for (int d = 0; d < m; d++) {
        int64_t nx = x + dx[d], ny = y + dy[d];
        if (g->torus) {
            nx = nx < 0 ? nx + w : nx >= w ? nx - w : nx;
            ny = ny < 0 ? ny + h : ny >= h ? ny - h : ny;
        } else if (nx < 0 || ny < 0 || nx >= w || ny >= h) {
            continue;
        }
        if (nx == x && ny == y)
            continue; /* a 1-wide torus: the cell itself is not a neighbour */
        out[k++] = ny * w + nx;
    }
    return k;
}

/* A grid's stencil, for loops that walk the grid row by row with no division and no wrap test inside: an interior
 * cell i — column 1 .. width - 2 of rows 1 .. height - 2 — has exactly `count` neighbours, i + off[k] for k < count,
 * in agora_grid_neighbors' order, on a torus and on a bounded grid alike. Every other cell (the border, and every
 * cell of a grid narrower or lower than 3) takes agora_grid_neighbors. */
typedef struct agora_stencil {
    int count;      /* 8 (Moore) or 4 (von Neumann) */
    int64_t off[8]; /* dy * width + dx of neighbour k */
} agora_stencil;

static inline void agora_grid_stencil(const agora_grid *g, agora_stencil *st)
{
    st->count = g->nbhd == AGORA_MOORE ? 8 : 4;
    for (int k = 0; k < 8; k++)
        st->off[k] = k < st->count ? agora__grid_dy[k] * g->width + agora__grid_dx[k] : 0;
}

/* The interior cells of row y: [*i0, *i1) (empty on a border row or a grid narrower than 3). */
static inline void agora_grid_interior(const agora_grid *g, int64_t y, int64_t *i0, int64_t *i1)
{
    const int64_t w = g->width, h = g->height;
    if (y < 1 || y >= h - 1 || w < 3) {
        *i0 = *i1 = y * w;
        return;
    }
    *i0 = y * w + 1;
    *i1 = y * w + w - 1;
}

#ifdef __cplusplus
}
#endif
#endif
