/* agora — libFuzzer harness for the edge-list reader (src/space/graph.c): the input is written to a file in the
 * scratch directory and read through agora_space_create({kind: graph, generator: file, path, index_base}), as a
 * scenario's `space:` does. A first line "# index_base 1" (a comment to the reader) selects 1-based ids.
 *
 * A file may name any vertex id below 2^31, and the graph then has that many vertices: a few bytes can ask for
 * gigabytes, as they may. Inputs with an id in [10^5, 2^31 + 1] are therefore skipped, which keeps the harness
 * within libFuzzer's memory limit; larger ids still reach the reader's range check. Invariants: the graph is
 * undirected and simple (every row sorted, no self-loops, each edge in both rows) and its edge count matches. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agora/agora.h"
#include "fuzz_util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[4200];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    agora_init();
    snprintf(path, sizeof path, "%s/graph.edgelist", fuzz_tmpdir());
    return 0;
}

/* Whether a run of digits names an id that would build a graph too large for fuzzing (see above). */
static int too_many_vertices(const uint8_t *data, size_t size)
{
    for (size_t i = 0; i < size;) {
        if (data[i] < '0' || data[i] > '9') {
            i++;
            continue;
        }
        unsigned long long v = 0;
        while (i < size && data[i] >= '0' && data[i] <= '9') {
            if (v < (1ULL << 40))
                v = v * 10 + (unsigned)(data[i] - '0');
            i++;
        }
        if (v >= 100000ULL && v <= (1ULL << 31) + 1)
            return 1;
    }
    return 0;
}

static void check_graph(const agora_space *sp)
{
    if (sp->kind != AGORA_SPACE_GRAPH)
        fuzz_fail("an edge list gave a space of kind %d", (int)sp->kind);
    const agora_graph *g = &sp->graph;
    if (g->offsets[0] != 0 || g->offsets[sp->n] != 2 * g->edges)
        fuzz_fail("offsets[0] = %lld, offsets[n] = %lld for %lld edges", (long long)g->offsets[0],
                  (long long)g->offsets[sp->n], (long long)g->edges);
    for (int64_t v = 0; v < sp->n; v++) {
        for (int64_t k = g->offsets[v]; k < g->offsets[v + 1]; k++) {
            const int32_t u = g->neighbors[k];
            if (u < 0 || u >= sp->n || u == v)
                fuzz_fail("vertex %lld has neighbour %d", (long long)v, u);
            if (k > g->offsets[v] && g->neighbors[k - 1] >= u)
                fuzz_fail("the row of vertex %lld is not sorted without repeats", (long long)v);
            int64_t lo = g->offsets[u], hi = g->offsets[u + 1]; /* rows are sorted: binary search for v */
            while (lo < hi) {
                const int64_t mid = lo + (hi - lo) / 2;
                if (g->neighbors[mid] < v)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            if (lo == g->offsets[u + 1] || g->neighbors[lo] != v)
                fuzz_fail("edge %lld-%d is missing from the row of %d", (long long)v, u, u);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (too_many_vertices(data, size))
        return 0;
    FILE *f = fopen(path, "wb");
    if (!f)
        abort();
    if (size && fwrite(data, 1, size, f) != size)
        abort();
    fclose(f);
    static const char one[] = "# index_base 1\n";
    const int base = size >= sizeof one - 1 && memcmp(data, one, sizeof one - 1) == 0;
    json_t *spec =
        json_pack("{s:s, s:s, s:s, s:i}", "kind", "graph", "generator", "file", "path", path, "index_base", base);
    agora_space *sp = NULL;
    agora_error err;
    agora_error_clear(&err);
    int rc = agora_space_check(spec, &err);
    fuzz_check_error(rc, &err, "agora_space_check");
    agora_error_clear(&err);
    rc = agora_space_create(spec, agora_rng_key_from_seed(1), NULL, &sp, &err);
    fuzz_check_error(rc, &err, "agora_space_create");
    if (rc == 0) {
        check_graph(sp);
        char desc[256];
        agora_space_describe(sp, desc, sizeof desc);
        agora_space *copy = NULL;
        agora_error_clear(&err);
        rc = agora_space_copy(sp, &copy, &err);
        fuzz_check_error(rc, &err, "agora_space_copy");
        agora_space_destroy(copy);
    } else if (sp) {
        fuzz_fail("agora_space_create failed but returned a space");
    }
    agora_space_destroy(sp);
    json_decref(spec);
    return 0;
}
