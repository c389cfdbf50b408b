/* agora — the scenario's `space:` object: checking it (keys, types, ranges; nothing is built) and building the space
 * it describes. Errors carry the dotted key path ("space.k") in err->where for the scenario loader to locate. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "agora/rng.h"
#include "agora/space.h"
#include "core/internal.h"
#include "space/internal.h"

typedef struct {
    const char *generator;
    const char *keys; /* space-separated keys allowed besides kind and generator */
} generator_keys;

static const generator_keys graph_generators[] = {
    {"watts_strogatz", "n k p"},
    {"barabasi_albert", "n m"},
    {"erdos_renyi", "n mean_degree p"},
    {"lattice", "width height torus"},
    {"file", "path index_base"},
};
#define N_GENERATORS (sizeof graph_generators / sizeof graph_generators[0])

static int word_in(const char *words, const char *w)
{
    size_t n = strlen(w);
    for (const char *p = words; *p;) {
        while (*p == ' ')
            p++;
        const char *e = p;
        while (*e && *e != ' ')
            e++;
        if ((size_t)(e - p) == n && strncmp(p, w, n) == 0)
            return 1;
        p = e;
    }
    return 0;
}

static int unknown_key(const json_t *spec, const char *allowed, agora_error *err)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)spec, key, v) {
        if (!word_in(allowed, key)) {
            char where[160];
            snprintf(where, sizeof where, "space.%s", key);
            return agora_error_set(err, AGORA_ESCHEMA, where, "unknown key (allowed here: %s)", allowed);
        }
    }
    return 0;
}

/* An integer key in [lo, hi]; absent is allowed unless required. */
static int check_int(const json_t *spec, const char *key, int64_t lo, int64_t hi, int required, agora_error *err)
{
    char where[160], got[96];
    snprintf(where, sizeof where, "space.%s", key);
    const json_t *v = json_object_get(spec, key);
    if (!v)
        return required ? agora_error_set(err, AGORA_ESCHEMA, where, "required key is missing") : 0;
    double x = json_number_value(v);
    if (!json_is_number(v) || x != floor(x) || x < (double)lo || x > (double)hi)
        return agora_error_set(err, AGORA_ESCHEMA, where, "expected an integer in [%lld, %lld], got %s",
                               (long long)lo, (long long)hi, agora__json_brief(v, got, sizeof got));
    return 0;
}

static int check_real(const json_t *spec, const char *key, double lo, double hi, agora_error *err)
{
    char where[160], got[96];
    snprintf(where, sizeof where, "space.%s", key);
    const json_t *v = json_object_get(spec, key);
    if (!v)
        return 0;
    double x = json_number_value(v);
    if (!json_is_number(v) || !(x >= lo && x <= hi))
        return agora_error_set(err, AGORA_ESCHEMA, where, "expected a number in [%g, %g], got %s", lo, hi,
                               agora__json_brief(v, got, sizeof got));
    return 0;
}

static int check_bool(const json_t *spec, const char *key, agora_error *err)
{
    char where[160], got[96];
    snprintf(where, sizeof where, "space.%s", key);
    const json_t *v = json_object_get(spec, key);
    if (v && !json_is_boolean(v))
        return agora_error_set(err, AGORA_ESCHEMA, where, "expected true or false, got %s",
                               agora__json_brief(v, got, sizeof got));
    return 0;
}

static int check_word(const json_t *spec, const char *key, const char *choices, int required, agora_error *err)
{
    char where[160], got[96];
    snprintf(where, sizeof where, "space.%s", key);
    const json_t *v = json_object_get(spec, key);
    if (!v)
        return required ? agora_error_set(err, AGORA_ESCHEMA, where, "required key is missing (one of: %s)", choices)
                        : 0;
    if (!json_is_string(v) || !word_in(choices, json_string_value(v)))
        return agora_error_set(err, AGORA_ESCHEMA, where, "expected one of: %s; got %s", choices,
                               agora__json_brief(v, got, sizeof got));
    return 0;
}

#define MAX_VERTICES ((INT64_C(1) << 31) - 1)

static int check_graph(const json_t *spec, agora_error *err)
{
    int rc;
    char choices[160] = "";
    for (size_t i = 0; i < N_GENERATORS; i++)
        snprintf(choices + strlen(choices), sizeof choices - strlen(choices), "%s%s", i ? " " : "",
                 graph_generators[i].generator);
    if ((rc = check_word(spec, "generator", choices, 1, err)) != 0)
        return rc;
    const char *gen = json_string_value(json_object_get(spec, "generator"));
    const generator_keys *g = NULL;
    for (size_t i = 0; i < N_GENERATORS; i++)
        if (strcmp(graph_generators[i].generator, gen) == 0)
            g = &graph_generators[i];
    char allowed[128];
    snprintf(allowed, sizeof allowed, "kind generator %s", g->keys);
    if ((rc = unknown_key(spec, allowed, err)) != 0)
        return rc;
    char got[96];
    if (strcmp(gen, "watts_strogatz") == 0) {
        if ((rc = check_int(spec, "n", 3, MAX_VERTICES, 1, err)) || (rc = check_int(spec, "k", 2, MAX_VERTICES, 1, err)))
            return rc;
        int64_t n = (int64_t)json_number_value(json_object_get(spec, "n")), k = (int64_t)json_number_value(json_object_get(spec, "k"));
        if (k % 2 != 0 || k >= n)
            return agora_error_set(err, AGORA_ESCHEMA, "space.k",
                                   "expected an even mean degree below n = %lld, got %s", (long long)n,
                                   agora__json_brief(json_object_get(spec, "k"), got, sizeof got));
        if (!json_object_get(spec, "p"))
            return agora_error_set(err, AGORA_ESCHEMA, "space.p", "required key is missing (rewiring probability)");
        return check_real(spec, "p", 0, 1, err);
    }
    if (strcmp(gen, "barabasi_albert") == 0) {
        if ((rc = check_int(spec, "n", 2, MAX_VERTICES, 1, err)) || (rc = check_int(spec, "m", 1, MAX_VERTICES, 1, err)))
            return rc;
        int64_t n = (int64_t)json_number_value(json_object_get(spec, "n")), m = (int64_t)json_number_value(json_object_get(spec, "m"));
        if (m >= n)
            return agora_error_set(err, AGORA_ESCHEMA, "space.m", "expected fewer edges per new vertex than n = %lld, got %lld",
                                   (long long)n, (long long)m);
        return 0;
    }
    if (strcmp(gen, "erdos_renyi") == 0) {
        if ((rc = check_int(spec, "n", 1, MAX_VERTICES, 1, err)))
            return rc;
        int has_k = json_object_get(spec, "mean_degree") != NULL, has_p = json_object_get(spec, "p") != NULL;
        if (has_k == has_p)
            return agora_error_set(err, AGORA_ESCHEMA, has_k ? "space.p" : "space", "give exactly one of mean_degree and p");
        double n = json_number_value(json_object_get(spec, "n"));
        if ((rc = check_real(spec, "mean_degree", 0, n - 1, err)) || (rc = check_real(spec, "p", 0, 1, err)))
            return rc;
        return 0;
    }
    if (strcmp(gen, "lattice") == 0) {
        if ((rc = check_int(spec, "width", 1, MAX_VERTICES, 1, err)) ||
            (rc = check_int(spec, "height", 1, MAX_VERTICES, 1, err)) || (rc = check_bool(spec, "torus", err)))
            return rc;
        double cells = json_number_value(json_object_get(spec, "width")) * json_number_value(json_object_get(spec, "height"));
        if (cells > (double)MAX_VERTICES)
            return agora_error_set(err, AGORA_ESCHEMA, "space.width", "a lattice graph has at most 2^31-1 vertices");
        return 0;
    }
    /* file */
    const json_t *path = json_object_get(spec, "path");
    if (!path)
        return agora_error_set(err, AGORA_ESCHEMA, "space.path", "required key is missing (an edge-list file)");
    if (!json_is_string(path) || !json_string_value(path)[0])
        return agora_error_set(err, AGORA_ESCHEMA, "space.path", "expected a file path, got %s",
                               agora__json_brief(path, got, sizeof got));
    return check_int(spec, "index_base", 0, 1, 0, err);
}

int agora_space_check(const json_t *spec, agora_error *err)
{
    char got[96];
    if (!json_is_object(spec))
        return agora_error_set(err, AGORA_ESCHEMA, "space", "expected an object with a kind (grid, graph or mixed), got %s",
                               agora__json_brief(spec, got, sizeof got));
    int rc = check_word(spec, "kind", "grid graph mixed", 1, err);
    if (rc)
        return rc;
    if (strcmp(json_string_value(json_object_get(spec, "kind")), "graph") == 0)
        return check_graph(spec, err);
    if (strcmp(json_string_value(json_object_get(spec, "kind")), "mixed") == 0)
        return (rc = unknown_key(spec, "kind n", err)) ? rc : check_int(spec, "n", 1, INT64_C(1) << 40, 1, err);
    if ((rc = unknown_key(spec, "kind width height torus neighborhood", err)) ||
        (rc = check_int(spec, "width", 1, INT64_C(1) << 31, 1, err)) ||
        (rc = check_int(spec, "height", 1, INT64_C(1) << 31, 1, err)) || (rc = check_bool(spec, "torus", err)) ||
        (rc = check_word(spec, "neighborhood", "moore von_neumann", 0, err)))
        return rc;
    double cells = json_number_value(json_object_get(spec, "width")) * json_number_value(json_object_get(spec, "height"));
    if (cells > (double)(INT64_C(1) << 40))
        return agora_error_set(err, AGORA_ESCHEMA, "space.width", "a grid has at most 2^40 cells");
    return 0;
}

int agora_space_create(const json_t *spec, uint64_t key, const char *base_dir, agora_space **out, agora_error *err)
{
    *out = NULL;
    int rc = agora_space_check(spec, err);
    if (rc)
        return rc;
    const char *kind = json_string_value(json_object_get(spec, "kind"));
    if (strcmp(kind, "graph") == 0)
        return agora__graph_create(spec, agora_rng(key, 0, 0, AGORA_RNG_STREAM_SPACE), base_dir, out, err);
    if (strcmp(kind, "mixed") == 0)
        return agora_space_mixed_create((int64_t)json_number_value(json_object_get(spec, "n")), out, err);
    const json_t *torus = json_object_get(spec, "torus");
    const char *nb = json_string_value(json_object_get(spec, "neighborhood"));
    return agora_space_grid_create((int64_t)json_number_value(json_object_get(spec, "width")),
                                   (int64_t)json_number_value(json_object_get(spec, "height")),
                                   torus ? json_is_true(torus) : 1,
                                   nb && strcmp(nb, "von_neumann") == 0 ? AGORA_VON_NEUMANN : AGORA_MOORE, out, err);
}
