/* agora — graph spaces: igraph's generators, the edge-list file reader, and the freeze into CSR arrays.
 *
 * Every graph, however it was made, passes through freeze(): self-loops and repeated edges are dropped, each edge is
 * stored in both endpoints' rows, and each row is sorted, giving offsets[n + 1] (int64) and neighbors[2 * edges]
 * (int32). The build is a counting sort — count degrees, prefix-sum them into row starts, scatter both directions of
 * every edge, sort and de-duplicate each (short) row in place — so it needs nothing besides the two output arrays and
 * runs in O(n + m) apart from the per-row sorts. No igraph object outlives the call that made it.
 *
 * igraph is called here and nowhere else in the library (agora_init only installs its handlers, once). Its default
 * RNG, error handler and "finally" stack are process-wide, and Debian builds it without thread-local storage
 * (IGRAPH_THREAD_SAFE is 0), so every igraph call in this file runs with `igraph_lock` held; see that lock. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <igraph.h>

#include "agora/agora.h"
#include "core/internal.h"
#include "space/internal.h"

/* Vertex ids are stored as int32, so a graph has at most 2^31 - 1 vertices. */
#define MAX_VERTICES ((INT64_C(1) << 31) - 1)

/* The one piece of mutable global state in the library, and why it is justified: igraph keeps its default RNG, its
 * error and warning handlers and its clean-up ("finally") stack in plain globals, because Debian's libigraph is built
 * without thread-local storage. Two threads generating graphs at once would interleave draws from the one RNG (so a
 * seed would no longer fix the graph) or corrupt the finally stack. The state being protected is igraph's, not
 * ours, so it cannot be moved into a handle; the lock only makes igraph's globals usable from several worlds in one
 * process. It is held from seeding the RNG until the generated igraph object is destroyed. */
static pthread_mutex_t igraph_lock = PTHREAD_MUTEX_INITIALIZER;

/* Insertion sort is fastest for the short rows most graphs have; qsort takes over for hubs so that a BA graph's
 * high-degree rows do not cost O(d^2). */
#define INSERTION_SORT_MAX 32

static int cmp_int32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

static void sort_row(int32_t *row, int64_t len)
{
    if (len > INSERTION_SORT_MAX) {
        qsort(row, (size_t)len, sizeof *row, cmp_int32);
        return;
    }
    for (int64_t i = 1; i < len; i++) {
        int32_t v = row[i];
        int64_t j = i;
        while (j > 0 && row[j - 1] > v) {
            row[j] = row[j - 1];
            j--;
        }
        row[j] = v;
    }
}

/* Builds a graph space from m undirected edges, edge k being (from[k * stride], to[k * stride]). The caller has
 * checked that every id lies in [0, n) and that n <= MAX_VERTICES. `stride` lets one routine read both interleaved
 * pairs (stride 2) and igraph's separate from/to vectors (stride 1) without copying them. */
static int freeze(int64_t n, const int64_t *from, const int64_t *to, int64_t stride, int64_t m, const char *generator,
                  agora_space **out, agora_error *err)
{
    int rc = 0;
    int64_t *off = NULL;
    int32_t *nbr = NULL;
    agora_space *s = NULL;

    *out = NULL;
    off = calloc((size_t)n + 1, sizeof *off);
    if (!off)
        goto nomem;

    /* Degrees are counted into off[u + 1] so that an inclusive prefix sum leaves off[u] = start of row u. Self-loops
     * are skipped here, so they never take space. */
    for (int64_t k = 0; k < m; k++) {
        int64_t u = from[k * stride], v = to[k * stride];
        if (u != v) {
            off[u + 1]++;
            off[v + 1]++;
        }
    }
    for (int64_t i = 0; i < n; i++)
        off[i + 1] += off[i];
    int64_t arcs = off[n];
    nbr = malloc((size_t)(arcs > 0 ? arcs : 1) * sizeof *nbr);
    if (!nbr)
        goto nomem;

    /* Scatter both directions of every edge. off[u] serves as row u's fill cursor, so no second n-sized array is
     * needed; when the pass ends off[u] has advanced to the start of row u + 1, and shifting the array one place
     * right restores the row starts. */
    for (int64_t k = 0; k < m; k++) {
        int64_t u = from[k * stride], v = to[k * stride];
        if (u != v) {
            nbr[off[u]++] = (int32_t)v;
            nbr[off[v]++] = (int32_t)u;
        }
    }
    memmove(off + 1, off, (size_t)n * sizeof *off);
    off[0] = 0;

    /* Sort each row and drop repeats, compacting all rows towards the front in the same pass. A repeated edge
     * appears in both endpoints' rows equally often, so what remains is still symmetric and has an even size. The
     * write position never passes the read position, so the compaction is safe in place. */
    int64_t w = 0, start = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t end = off[i + 1];
        sort_row(nbr + start, end - start);
        off[i] = w;
        int32_t prev = -1;
        for (int64_t j = start; j < end; j++) {
            if (nbr[j] != prev) {
                prev = nbr[j];
                nbr[w++] = prev;
            }
        }
        start = end;
    }
    off[n] = w;
    if (w < arcs && w > 0) {
        int32_t *shrunk = realloc(nbr, (size_t)w * sizeof *nbr);
        if (shrunk) /* keeping the larger block is harmless if the system will not shrink it */
            nbr = shrunk;
    }

    s = calloc(1, sizeof *s);
    if (!s)
        goto nomem;
    s->kind = AGORA_SPACE_GRAPH;
    s->n = n;
    s->graph.offsets = off;
    s->graph.neighbors = nbr;
    s->graph.edges = w / 2;
    snprintf(s->graph.generator, sizeof s->graph.generator, "%s", generator);
    off = NULL;
    nbr = NULL;
    *out = s;
    goto done;

nomem:
    rc = agora_error_set(err, AGORA_ENOMEM, "space", "out of memory freezing a graph of %lld vertices and %lld edges",
                         (long long)n, (long long)m);
done:
    free(off);
    free(nbr);
    return rc;
}

int agora_space_graph_from_edges(int64_t n, const int64_t *edges, int64_t m, agora_space **out, agora_error *err)
{
    *out = NULL;
    if (n < 1 || n > MAX_VERTICES)
        return agora_error_set(err, AGORA_EINVAL, "edges", "a graph needs between 1 and 2^31-1 vertices, got n = %lld",
                               (long long)n);
    if (m < 0 || m > INT64_MAX / 2 || (m > 0 && !edges))
        return agora_error_set(err, AGORA_EINVAL, "edges", "expected m >= 0 edges and a pair array, got m = %lld%s",
                               (long long)m, edges ? "" : " and no array");
    for (int64_t k = 0; k < 2 * m; k++)
        if (edges[k] < 0 || edges[k] >= n)
            return agora_error_set(err, AGORA_EINVAL, "edges",
                                   "edge %lld (%lld, %lld) has a vertex id outside [0, %lld)", (long long)(k / 2),
                                   (long long)edges[k & ~(int64_t)1], (long long)edges[k | 1], (long long)n);
    return freeze(n, edges, edges + 1, 2, m, "edges", out, err);
}

/* ---- generators ---------------------------------------------------------------------------------------------- */

/* An integer key of a checked spec; spec.c has verified it is integral and in range, but it may arrive as a JSON
 * real (1e6), so it is read as a number. */
static int64_t spec_int(const json_t *spec, const char *key, int64_t dflt)
{
    const json_t *v = json_object_get(spec, key);
    return v ? (int64_t)json_number_value(v) : dflt;
}

static int igraph_failed(igraph_error_t ig, const char *what, agora_error *err)
{
    return agora_error_set(err, ig == IGRAPH_ENOMEM ? AGORA_ENOMEM : AGORA_EGRAPH, "space.generator", "%s failed: %s",
                           what, agora__igraph_reason());
}

/* The number of edges a generator will make (its expectation for G(n, p)), from the checked spec. */
static double planned_edges(const json_t *spec, const char *gen)
{
    double n = (double)spec_int(spec, "n", 0);
    if (strcmp(gen, "watts_strogatz") == 0)
        return n * (double)spec_int(spec, "k", 0) / 2.0;
    if (strcmp(gen, "barabasi_albert") == 0)
        return n * (double)spec_int(spec, "m", 0);
    if (strcmp(gen, "erdos_renyi") == 0) {
        const json_t *kbar = json_object_get(spec, "mean_degree");
        return kbar ? n * json_number_value(kbar) / 2.0
                    : json_number_value(json_object_get(spec, "p")) * n * (n - 1.0) / 2.0;
    }
    if (strcmp(gen, "lattice") == 0)
        return 2.0 * (double)spec_int(spec, "width", 0) * (double)spec_int(spec, "height", 0);
    return 0;
}

/* Bytes per edge while a generated graph exists: igraph's graph (from, to and two index vectors, 8 bytes each), the
 * generator's own edge vector (16) and the CSR being filled (8). An estimate, used only to refuse hopeless sizes. */
#define BYTES_PER_GENERATED_EDGE 56.0

/* spec.c bounds n and the degree separately, so a spec such as a Watts-Strogatz graph with n = 2^31-1 and
 * k = n-1 passes it, yet asks for 2^61 edges. igraph would grind through such a request until the process is killed
 * for lack of memory, which would take a long-running server (MCP) down with it. Refusing up front, when the graph
 * could not fit in this machine's physical memory even in principle, turns that into an ordinary error. */
static int check_size(const json_t *spec, const char *gen, agora_error *err)
{
    double edges = planned_edges(spec, gen);
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || page <= 0)
        return 0;
    double need = edges * BYTES_PER_GENERATED_EDGE, have = (double)pages * (double)page;
    if (need > have)
        return agora_error_set(err, AGORA_ENOMEM, "space",
                               "generator %s: about %.3g edges would need about %.0f GB to build; this machine has "
                               "%.0f GB",
                               gen, edges, need / 1e9, have / 1e9);
    return 0;
}

static int generate(const json_t *spec, const char *gen, uint64_t seed, agora_space **out, agora_error *err)
{
    int rc = 0, have_graph = 0, have_dims = 0, have_circular = 0;
    igraph_t g;
    igraph_vector_int_t dims;
    igraph_vector_bool_t circular;
    igraph_error_t ig;
    const char *what = "igraph_rng_seed";
    int64_t n = spec_int(spec, "n", 0);

    if ((rc = check_size(spec, gen, err)) != 0)
        return rc;
    pthread_mutex_lock(&igraph_lock);
    agora__igraph_reset();
    /* Seeded right before generating, under the lock, so nothing else can draw from igraph's RNG in between. */
    ig = igraph_rng_seed(igraph_rng_default(), (igraph_uint_t)seed);
    if (ig != IGRAPH_SUCCESS)
        goto failed;

    if (strcmp(gen, "watts_strogatz") == 0) {
        /* A ring (dim 1) where each vertex links to k/2 neighbours on each side, each edge then rewired with
         * probability p, refusing rewirings that would make a self-loop or a repeated edge: the edge count stays
         * exactly n*k/2. */
        int64_t k = spec_int(spec, "k", 0);
        double p = json_number_value(json_object_get(spec, "p"));
        what = "igraph_watts_strogatz_game";
        ig = igraph_watts_strogatz_game(&g, 1, n, k / 2, p, /*loops=*/false, /*multiple=*/false);
    } else if (strcmp(gen, "barabasi_albert") == 0) {
        /* Linear preferential attachment on total degree (power 1, no constant attractiveness), undirected. The
         * psumtree algorithm never draws the same target twice, so vertex i brings min(m, i) distinct edges. */
        int64_t m = spec_int(spec, "m", 0);
        what = "igraph_barabasi_game";
        ig = igraph_barabasi_game(&g, n, /*power=*/1.0, m, /*outseq=*/NULL, /*outpref=*/true, /*A=*/0.0,
                                  /*directed=*/false, IGRAPH_BARABASI_PSUMTREE, /*start_from=*/NULL);
    } else if (strcmp(gen, "erdos_renyi") == 0) {
        const json_t *kbar = json_object_get(spec, "mean_degree");
        if (kbar) {
            /* G(n, m) with the edge count that gives the requested mean degree, capped at the complete graph in
             * case rounding at huge n lands one above it. */
            double edges = round((double)n * json_number_value(kbar) / 2.0);
            double complete = (double)n * (double)(n - 1) / 2.0;
            what = "igraph_erdos_renyi_game_gnm";
            ig = igraph_erdos_renyi_game_gnm(&g, n, (igraph_integer_t)(edges < complete ? edges : complete),
                                             /*directed=*/false, /*loops=*/false);
        } else {
            what = "igraph_erdos_renyi_game_gnp";
            ig = igraph_erdos_renyi_game_gnp(&g, n, json_number_value(json_object_get(spec, "p")),
                                             /*directed=*/false, /*loops=*/false);
        }
    } else if (strcmp(gen, "lattice") == 0) {
        /* igraph numbers a square lattice with the first dimension varying fastest, so vertex x + width*y sits at
         * (x, y), the same layout as a grid space. Widths of 1 or 2 on a torus wrap onto a self-loop or a second
         * copy of an edge; freeze() drops both. */
        const json_t *torus = json_object_get(spec, "torus");
        igraph_bool_t wrap = torus ? json_is_true(torus) : true;
        what = "igraph_square_lattice";
        if ((ig = igraph_vector_int_init(&dims, 2)) != IGRAPH_SUCCESS)
            goto failed;
        have_dims = 1;
        if ((ig = igraph_vector_bool_init(&circular, 2)) != IGRAPH_SUCCESS)
            goto failed;
        have_circular = 1;
        VECTOR(dims)[0] = spec_int(spec, "width", 0);
        VECTOR(dims)[1] = spec_int(spec, "height", 0);
        VECTOR(circular)[0] = VECTOR(circular)[1] = wrap;
        ig = igraph_square_lattice(&g, &dims, /*nei=*/1, /*directed=*/false, /*mutual=*/false, &circular);
    } else {
        rc = agora_error_set(err, AGORA_EINVAL, "space.generator", "unknown graph generator \"%s\"", gen);
        goto done;
    }
    if (ig != IGRAPH_SUCCESS)
        goto failed;
    have_graph = 1;

    /* igraph's edge vectors are read in place (IGRAPH_FROM/IGRAPH_TO are plain reads of them), saving a copy of
     * the edge list at the size where memory matters. */
    int64_t vertices = (int64_t)igraph_vcount(&g);
    if (vertices > MAX_VERTICES) {
        rc = agora_error_set(err, AGORA_EINVAL, "space", "%s made %lld vertices; at most 2^31-1 are supported", what,
                             (long long)vertices);
        goto done;
    }
    rc = freeze(vertices, VECTOR(g.from), VECTOR(g.to), 1, (int64_t)igraph_ecount(&g), gen, out, err);
    goto done;

failed:
    rc = igraph_failed(ig, what, err);
done:
    if (have_graph)
        igraph_destroy(&g);
    if (have_dims)
        igraph_vector_int_destroy(&dims);
    if (have_circular)
        igraph_vector_bool_destroy(&circular);
    pthread_mutex_unlock(&igraph_lock);
    return rc;
}

/* ---- edge-list files ----------------------------------------------------------------------------------------- */

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Joins base_dir and a relative path into a new string (NULL when out of memory). */
static char *join_path(const char *dir, const char *rel)
{
    size_t a = strlen(dir), b = strlen(rel);
    int slash = a > 0 && dir[a - 1] != '/';
    char *p = malloc(a + (size_t)slash + b + 1);
    if (p)
        snprintf(p, a + (size_t)slash + b + 1, "%s%s%s", dir, slash ? "/" : "", rel);
    return p;
}

int agora__graph_find_file(const char *path, const char *base_dir, char **resolved, agora_error *err)
{
    int rc = 0;
    char *cand = NULL, cwd[1024];

    *resolved = NULL;
    if (!getcwd(cwd, sizeof cwd))
        snprintf(cwd, sizeof cwd, "(unknown)");
    if (path[0] != '/' && base_dir && base_dir[0]) {
        cand = join_path(base_dir, path);
        if (!cand) {
            rc = agora_error_set(err, AGORA_ENOMEM, "space.path", "out of memory");
            goto done;
        }
        if (exists(cand)) {
            *resolved = cand;
            cand = NULL;
            goto done;
        }
    }
    if (exists(path)) {
        *resolved = strdup(path);
        if (!*resolved)
            rc = agora_error_set(err, AGORA_ENOMEM, "space.path", "out of memory");
        goto done;
    }
    if (cand)
        rc = agora_error_set(err, AGORA_EIO, "space.path",
                             "edge-list file not found: tried \"%s\" (the scenario's directory) and \"%s\" (the "
                             "working directory, %s)",
                             cand, path, cwd);
    else if (path[0] == '/')
        rc = agora_error_set(err, AGORA_EIO, "space.path", "edge-list file not found: \"%s\"", path);
    else
        rc = agora_error_set(err, AGORA_EIO, "space.path",
                             "edge-list file not found: tried \"%s\" (the working directory, %s)", path, cwd);
done:
    free(cand);
    return rc;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

/* A vertex id token: digits only. Returns 0, or -1 if the token is not a non-negative integer; ids above 2^62 are
 * clamped there so the caller's range check reports them as too large rather than overflowing. */
static int parse_id(const char *tok, size_t len, int64_t *id)
{
    const int64_t clamp = INT64_C(1) << 62;
    int64_t v = 0;
    if (len == 0)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (tok[i] < '0' || tok[i] > '9')
            return -1;
        v = v <= (clamp - 9) / 10 ? v * 10 + (tok[i] - '0') : clamp; /* v * 10 + 9 cannot pass the clamp */
    }
    *id = v;
    return 0;
}

static int parse_weight(const char *tok, size_t len)
{
    char buf[64], *end;
    if (len >= sizeof buf)
        return -1;
    memcpy(buf, tok, len);
    buf[len] = '\0';
    (void)strtod(buf, &end);
    return end == buf + len ? 0 : -1;
}

/* Fills err for a malformed line of an edge-list file: where = the file, line = its number, and the message quotes
 * the line (cut to a readable length). */
static int line_error(agora_error *err, const char *path, int64_t lineno, const char *text, const char *what)
{
    char quoted[72];
    size_t len = strlen(text);
    if (len < sizeof quoted)
        snprintf(quoted, sizeof quoted, "%s", text);
    else
        snprintf(quoted, sizeof quoted, "%.*s...", (int)sizeof quoted - 4, text);
    int rc = agora_error_set(err, AGORA_EPARSE, path, "%s, got \"%s\"", what, quoted);
    if (err)
        err->line = lineno > INT_MAX ? INT_MAX : (int)lineno;
    return rc;
}

/* Reads "u v [weight]" lines into a growing array of pairs (already shifted by index_base), then freezes them. */
static int load_edge_list(const char *path, int64_t base, agora_space **out, agora_error *err)
{
    int rc = 0;
    FILE *f = NULL;
    char *line = NULL;
    size_t cap = 0;
    int64_t *pairs = NULL, m = 0, mcap = 0, maxid = -1, lineno = 0;

    f = fopen(path, "r");
    if (!f) {
        rc = agora_error_set(err, AGORA_EIO, "space.path", "cannot open \"%s\": %s", path, strerror(errno));
        goto done;
    }
    ssize_t got;
    while ((got = getline(&line, &cap, f)) != -1) {
        lineno++;
        /* '#' and '%' (the KONECT convention) start a comment wherever they appear; neither can be part of data. */
        char *c = strpbrk(line, "#%");
        if (c)
            *c = '\0';
        char *s = line, *e = line + strlen(line);
        while (s < e && is_space(*s))
            s++;
        while (e > s && is_space(e[-1]))
            e--;
        *e = '\0';
        if (s == e)
            continue;

        const char *tok[4];
        size_t len[4];
        int ntok = 0;
        for (char *p = s; p < e && ntok < 4;) {
            tok[ntok] = p;
            while (p < e && !is_space(*p))
                p++;
            len[ntok] = (size_t)(p - tok[ntok]);
            ntok++;
            while (p < e && is_space(*p))
                p++;
        }
        int64_t ids[2];
        if (ntok < 2 || parse_id(tok[0], len[0], &ids[0]) || parse_id(tok[1], len[1], &ids[1])) {
            rc = line_error(err, path, lineno, s, "expected two vertex ids");
            goto done;
        }
        if (ntok > 3 || (ntok == 3 && parse_weight(tok[2], len[2]))) {
            rc = line_error(err, path, lineno, s, "expected two vertex ids and an optional numeric weight");
            goto done;
        }
        for (int k = 0; k < 2; k++) {
            char what[96];
            if (ids[k] < base) {
                snprintf(what, sizeof what, "vertex id %lld is below index_base %lld", (long long)ids[k],
                         (long long)base);
                rc = line_error(err, path, lineno, s, what);
                goto done;
            }
            ids[k] -= base;
            if (ids[k] >= MAX_VERTICES) {
                snprintf(what, sizeof what, "vertex id %lld is too large (a graph has at most 2^31-1 vertices)",
                         (long long)(ids[k] + base));
                rc = line_error(err, path, lineno, s, what);
                goto done;
            }
            if (ids[k] > maxid)
                maxid = ids[k];
        }
        if (m == mcap) {
            int64_t ncap = mcap ? 2 * mcap : 1024;
            int64_t *grown = realloc(pairs, (size_t)ncap * 2 * sizeof *pairs);
            if (!grown) {
                rc = agora_error_set(err, AGORA_ENOMEM, path, "out of memory reading %lld edges", (long long)m);
                goto done;
            }
            pairs = grown;
            mcap = ncap;
        }
        pairs[2 * m] = ids[0];
        pairs[2 * m + 1] = ids[1];
        m++;
    }
    if (ferror(f)) {
        rc = agora_error_set(err, AGORA_EIO, path, "cannot read: %s", strerror(errno));
        goto done;
    }
    if (m == 0) {
        rc = agora_error_set(err, AGORA_EPARSE, path, "no edges found (expected lines \"u v\")");
        goto done;
    }
    /* Vertices are numbered up to the largest id seen; a vertex with no edges above that cannot be expressed. */
    rc = freeze(maxid + 1, pairs, pairs + 1, 2, m, "file", out, err);
done:
    if (f)
        fclose(f);
    free(line);
    free(pairs);
    return rc;
}

int agora__graph_create(const json_t *spec, uint64_t graph_seed, const char *base_dir, agora_space **out,
                        agora_error *err)
{
    *out = NULL;
    /* igraph must not abort the process, and its error reasons must reach agora__igraph_reason(). */
    agora_init();
    const char *gen = json_string_value(json_object_get(spec, "generator"));
    if (!gen)
        return agora_error_set(err, AGORA_ESCHEMA, "space.generator", "required key is missing");
    if (strcmp(gen, "file") != 0)
        return generate(spec, gen, graph_seed, out, err);

    const char *given = json_string_value(json_object_get(spec, "path"));
    if (!given || !given[0])
        return agora_error_set(err, AGORA_ESCHEMA, "space.path", "required key is missing (an edge-list file)");
    char *path = NULL;
    int rc = agora__graph_find_file(given, base_dir, &path, err);
    if (rc == 0)
        rc = load_edge_list(path, spec_int(spec, "index_base", 0), out, err);
    free(path);
    return rc;
}
