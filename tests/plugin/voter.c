/* voter — an example agora plug-in: the noisy voter model (Kirman's ants), built outside agora against the
 * installed library (tests/plugin/CMakeLists.txt, or one cc line with pkg-config; README "C plug-ins").
 *
 * Every agent holds an opinion, 0 or 1. Each step, synchronously, an agent with probability `noise` takes a random
 * opinion, else with probability `rate` copies a random neighbour (on a grid one of its 4 or 8 cells, on a graph one
 * of its edges, on a mixed space anyone else); otherwise it keeps its own. Metrics: `ones`, `fraction` (of agents
 * with opinion 1), `flips` (agents that changed during the step). Field: `opinion` (writable). Action:
 * `broadcast {opinion, fraction}` sets that share of the agents, drawn at random, to the opinion.
 *
 * Like a built-in model, it reads the old buffer and writes the new one, draws every random number from agora_rng
 * keyed by (world key, step, agent, stream), and can be copied, checkpointed and resumed bit for bit. */
#include <stdlib.h>
#include <string.h>

#include <agora/agora.h>

enum { STREAM_ADOPT = AGORA_RNG_STREAM_MODEL, STREAM_PICK = AGORA_RNG_STREAM_MODEL + 1 };

typedef struct voter_state {
    int64_t n;
    uint8_t *x[2]; /* x[cur] is the current opinion of every agent */
    int cur;
    int64_t flips;   /* changed during the last step */
    int64_t actions; /* broadcasts so far: each draws from its own sequence */
    uint32_t rate31, noise31;
} voter_state;

static const agora_param_spec voter_params[] = {
    {"initial", AGORA_PARAM_REAL, 0.5, 0.0, 1.0, "probability that an agent starts with opinion 1", NULL},
    {"rate", AGORA_PARAM_REAL, 1.0, 0.0, 1.0, "probability per step of copying a random neighbour", NULL},
    {"noise", AGORA_PARAM_REAL, 0.0, 0.0, 1.0, "probability per step of taking a random opinion instead", NULL},
    {NULL, 0, 0, 0, 0, NULL, NULL}};

static const agora_metric_spec voter_metrics[] = {{"ones", "agents with opinion 1", NULL},
                                                  {"fraction", "fraction of agents with opinion 1", "final"},
                                                  {"flips", "agents whose opinion changed during the step", "peak"},
                                                  {NULL, NULL, NULL}};

static const agora_field_spec voter_fields[] = {{"opinion", AGORA_DTYPE_U8, "0 or 1 (writable)"}, {NULL, 0, NULL}};

static const char voter_schema[] =
    "{\"anyOf\": [{\"type\": \"object\", \"description\": \"set a random share of the agents to one opinion\","
    " \"properties\": {\"action\": {\"const\": \"broadcast\"},"
    " \"opinion\": {\"type\": \"integer\", \"minimum\": 0, \"maximum\": 1},"
    " \"fraction\": {\"type\": \"number\", \"minimum\": 0, \"maximum\": 1}},"
    " \"required\": [\"action\", \"opinion\", \"fraction\"], \"additionalProperties\": false}]}";

static voter_state *state_of(const agora_world *w)
{
    return agora_world_model_state(w);
}

static void voter_destroy(agora_world *w)
{
    voter_state *s = state_of(w);
    if (!s)
        return;
    free(s->x[0]);
    free(s->x[1]);
    free(s);
    agora_world_set_model_state(w, NULL);
}

static int voter_init(agora_world *w, const json_t *params, agora_error *err)
{
    voter_state *s = calloc(1, sizeof *s);
    const int64_t n = agora_world_n(w);
    if (s) {
        s->n = n;
        s->x[0] = malloc((size_t)n);
        s->x[1] = malloc((size_t)n);
    }
    if (!s || !s->x[0] || !s->x[1]) {
        if (s) {
            free(s->x[0]);
            free(s->x[1]);
        }
        free(s);
        return agora_error_set(err, AGORA_ENOMEM, "voter", "out of memory for %lld agents", (long long)n);
    }
    agora_world_set_model_state(w, s);
    s->rate31 = agora_rng_threshold31(agora_param_real(params, "rate"));
    s->noise31 = agora_rng_threshold31(agora_param_real(params, "noise"));
    const uint32_t initial31 = agora_rng_threshold31(agora_param_real(params, "initial"));
    const uint64_t base = agora_rng_base(agora_world_key(w), 0, AGORA_RNG_STREAM_INIT);
    for (int64_t i = 0; i < n; i++)
        s->x[0][i] = agora_rng_r31(agora_rng_at(base, (uint64_t)i)) < initial31;
    return 0;
}

/* A random neighbour of agent i from 64 random bits, or -1 when it has none. */
static int64_t neighbour(const agora_space *sp, int64_t i, uint64_t bits)
{
    if (sp->kind == AGORA_SPACE_GRAPH) {
        const int64_t lo = sp->graph.offsets[i], deg = sp->graph.offsets[i + 1] - lo;
        return deg > 0 ? sp->graph.neighbors[lo + (int64_t)(bits % (uint64_t)deg)] : -1;
    }
    if (sp->kind == AGORA_SPACE_MIXED) {
        if (sp->n < 2)
            return -1;
        const int64_t j = (int64_t)(bits % (uint64_t)(sp->n - 1)); /* anyone but i */
        return j < i ? j : j + 1;
    }
    static const int dx[8] = {1, -1, 0, 0, 1, 1, -1, -1}, dy[8] = {0, 0, 1, -1, 1, -1, 1, -1};
    const agora_grid *g = &sp->grid;
    const int k = (int)(bits % (g->nbhd == AGORA_MOORE ? 8u : 4u));
    int64_t x = i % g->width + dx[k], y = i / g->width + dy[k];
    if (g->torus) {
        x = (x + g->width) % g->width;
        y = (y + g->height) % g->height;
    } else if (x < 0 || y < 0 || x >= g->width || y >= g->height) {
        return -1; /* off the edge: no one there to copy */
    }
    return y * g->width + x;
}

static void voter_step(agora_world *w)
{
    voter_state *s = state_of(w);
    const agora_space *sp = agora_world_space(w);
    const uint64_t t = (uint64_t)agora_world_time(w);
    const uint64_t adopt = agora_rng_base(agora_world_key(w), t, STREAM_ADOPT);
    const uint64_t pick = agora_rng_base(agora_world_key(w), t, STREAM_PICK);
    const uint8_t *old = s->x[s->cur];
    uint8_t *next = s->x[1 - s->cur];
    int64_t flips = 0;
    for (int64_t i = 0; i < s->n; i++) {
        const uint64_t a = agora_rng_at(adopt, (uint64_t)i), b = agora_rng_at(pick, (uint64_t)i);
        uint8_t v = old[i];
        if (agora_rng_r31(a) < s->noise31) {
            v = (uint8_t)(b >> 63);
        } else if ((uint32_t)(a & 0x7FFFFFFFu) < s->rate31) { /* the low 31 bits: a draw apart from the high ones */
            const int64_t j = neighbour(sp, i, b);
            if (j >= 0)
                v = old[j];
        }
        next[i] = v;
        flips += v != old[i];
    }
    s->cur = 1 - s->cur;
    s->flips = flips;
}

static void voter_measure(const agora_world *w, double *out)
{
    const voter_state *s = state_of(w);
    int64_t ones = 0;
    for (int64_t i = 0; i < s->n; i++)
        ones += s->x[s->cur][i];
    out[0] = (double)ones;
    out[1] = s->n ? (double)ones / (double)s->n : 0.0;
    out[2] = (double)s->flips;
}

static int voter_observe(const agora_world *w, const char *role, json_t **obs, agora_error *err)
{
    (void)role;
    (void)err;
    double m[3];
    voter_measure(w, m);
    *obs = json_pack("{s:f, s:I}", "fraction", m[1], "ones", (json_int_t)m[0]);
    return 0;
}

static int voter_apply(agora_world *w, const json_t *action, agora_error *err)
{
    voter_state *s = state_of(w);
    const uint8_t opinion = (uint8_t)json_integer_value(json_object_get(action, "opinion"));
    const double fraction = json_number_value(json_object_get(action, "fraction"));
    if (strcmp(json_string_value(json_object_get(action, "action")), "broadcast") != 0)
        return agora_error_set(err, AGORA_EINVAL, "action", "voter has no such action");
    const uint32_t p31 = agora_rng_threshold31(fraction);
    /* each broadcast its own sequence: the key mixed with how many came before */
    const agora_rng_key key = agora_rng_mix64(agora_world_key(w) ^ (uint64_t)(s->actions + 1));
    const uint64_t base = agora_rng_base(key, (uint64_t)agora_world_time(w), AGORA_RNG_STREAM_ACTION);
    for (int64_t i = 0; i < s->n; i++)
        if (agora_rng_r31(agora_rng_at(base, (uint64_t)i)) < p31)
            s->x[s->cur][i] = opinion;
    s->actions++;
    return 0;
}

static const void *voter_field(const agora_world *w, int i)
{
    return i == 0 ? state_of(w)->x[state_of(w)->cur] : NULL;
}

static int voter_set_field(agora_world *w, int i, const int64_t *ids, int64_t count, const double *values,
                           agora_error *err)
{
    (void)i; /* one field */
    voter_state *s = state_of(w);
    for (int64_t k = 0; k < count; k++)
        if (values[k] != 0.0 && values[k] != 1.0)
            return agora_error_set(err, AGORA_EINVAL, "values", "an opinion is 0 or 1, got %g", values[k]);
    for (int64_t k = 0; k < count; k++)
        s->x[s->cur][ids[k]] = (uint8_t)values[k];
    return 0;
}

static int voter_copy(const agora_world *src, agora_world *dst, agora_error *err)
{
    (void)err;
    const voter_state *a = state_of(src);
    voter_state *b = state_of(dst);
    memcpy(b->x[0], a->x[0], (size_t)a->n);
    memcpy(b->x[1], a->x[1], (size_t)a->n);
    b->cur = a->cur;
    b->flips = a->flips;
    b->actions = a->actions;
    return 0;
}

static int voter_save(const agora_world *w, const agora_state *st, agora_error *err)
{
    const voter_state *s = state_of(w);
    const int64_t scalars[2] = {s->flips, s->actions};
    int rc = st->put(st->ud, "opinion", s->x[s->cur], (size_t)s->n, err);
    return rc ? rc : st->put(st->ud, "scalars", scalars, sizeof scalars, err);
}

static int voter_load(agora_world *w, const agora_state *st, agora_error *err)
{
    voter_state *s = state_of(w);
    int64_t scalars[2];
    int rc = st->get(st->ud, "opinion", s->x[s->cur], (size_t)s->n, err);
    if (rc == 0)
        rc = st->get(st->ud, "scalars", scalars, sizeof scalars, err);
    if (rc == 0) {
        s->flips = scalars[0];
        s->actions = scalars[1];
    }
    return rc;
}

static const agora_model voter_model = {
    .name = "voter",
    .summary = "the noisy voter model (an example plug-in): agents copy a random neighbour's 0/1 opinion",
    .params = voter_params,
    .metrics = voter_metrics,
    .fields = voter_fields,
    .action_schema = voter_schema,
    .spaces = AGORA_SPACES_GRID | AGORA_SPACES_GRAPH | AGORA_SPACES_MIXED,
    .init = voter_init,
    .step = voter_step,
    .measure = voter_measure,
    .observe = voter_observe,
    .apply = voter_apply,
    .field = voter_field,
    .destroy = voter_destroy,
    .copy = voter_copy,
    .set_field = voter_set_field,
    .save = voter_save,
    .load = voter_load,
};

AGORA_PLUGIN_ABI_DEFINE();

AGORA_PLUGIN_EXPORT int agora_plugin_init(const agora_plugin_host *host, agora_error *err)
{
    return host->register_model(host, &voter_model, err);
}
