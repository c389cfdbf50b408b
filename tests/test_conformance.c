/* The model conformance suite: every model this process can obtain — whatever agora_models() lists (the built-ins,
 * the example plug-in tests/plugin/voter.c, each plug-in named in AGORA_PLUGINS, colon-separated as the agora command
 * reads it) and every rule-language model in the source tree's models/ and in each directory of AGORA_MODEL_PATH —
 * passes the same checks on every kind of space it declares (a 40x40 torus grid and a bounded 31x23 von Neumann
 * grid, a 1500-vertex Watts-Strogatz graph and a sparse Erdos-Renyi one, 1500 well-mixed agents; smaller under
 * AddressSanitizer), with its default parameters and, as variants on the first space of each kind, each other choice
 * of each choice parameter ("opinion{rule=voter}/graph"):
 *
 *  - threads:    25 steps at 1, 2 and 4 threads give the same bytes in every field and the same bits in every metric,
 *                at every step, and no model fault;
 *  - finite:     every metric is finite at every step (NaN is allowed for a metric whose doc says "NaN", never inf);
 *  - copy:       a copy made mid-run equals the original and steps on bit for bit; the two are independent;
 *  - checkpoint: (models with save/load) a state saved mid-run and loaded into a fresh world steps on bit for bit;
 *  - set_field:  each writable field takes legal values (tried in turn: midpoints and declared bounds of a real
 *                field, a declared integer domain, values other agents hold; each refusal an AGORA_EINVAL that leaves
 *                the world unchanged) and reads them back exactly; writing the agents' own values changes nothing;
 *                the same changes made in one batch, one agent at a time (each id given twice) and as one write of
 *                the whole population give the same world, at once and in later steps, and so does a copy or a
 *                checkpoint of it; after a detour through other values, or changed and restored, the fields (and so
 *                whatever the dynamics derive from them) are the same as without, unless the writes moved another
 *                field (a quote pulled inside a moved limit stays pulled). Illegal values (NaN, infinities, outside
 *                the declared range, not whole for an integer type), ids out of range and a bad field index are
 *                refused with AGORA_EINVAL, leaving the world unchanged; a read-only field refuses with
 *                AGORA_EUNSUPPORTED;
 *  - actions:    the action schema passes agora_schema_check and each action is an object schema whose required
 *                names are properties; a minimal instance built from it (const, first enum value, default, minimum)
 *                and a maximal one (last enum value, maximum, every property) validate and apply alike to two copies
 *                (which then step alike) or, where the model refuses one on this kind of space, it leaves the world
 *                unchanged and applies on another kind the model runs on; a required property of the wrong type,
 *                missing, outside its declared range or not whole for an integer, an unknown action and a non-object
 *                are refused with AGORA_ESCHEMA, world unchanged. A world copied or checkpointed after an action
 *                steps on alike (what the action left in force is carried);
 *  - native:     (rule models) rules compiled to C and interpreted (AGORA_RULES_NATIVE=0) give the same bits. The
 *                choice is made once per model per process, by its first world, so the interpreted run uses a twin:
 *                the same file without its name line, saved as NAME_interp.yaml, built with AGORA_RULES_NATIVE=0.
 *
 * One cmocka test per model, space and check, named "model/space: check"; a failure names all three. The suite
 * knows no model's name. The native code's cache is the build tree's tests/tmp/conformance_cache.
 *
 * What a generic check cannot see: a set_field that forgets a count only a metric reads. No API recomputes metrics
 * from the fields, and metrics that record history (cases ever infected) rightly differ between worlds with the same
 * fields, so metrics are compared only across paths that make the same transitions. */
#define _GNU_SOURCE /* strdup, setenv */
#include <dirent.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agora/agora.h"
#include "agora/schema.h"
#include "rules/model.h"
#include "support.h"

/* Smaller worlds and runs under AddressSanitizer (CI's sanitizer pass), which is several times slower. */
#if defined(__SANITIZE_ADDRESS__)
#define CONF_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CONF_SANITIZED 1
#endif
#endif
#ifdef CONF_SANITIZED
enum { GRID_SIDE = 24, GRAPH_N = 600, MIXED_N = 600, STEPS = 12 };
#else
enum { GRID_SIDE = 40, GRAPH_N = 1500, MIXED_N = 1500, STEPS = 25 };
#endif
enum { SEED = 20261207, K_MID = 6, M_MORE = 8 };

typedef struct conf_case {
    const agora_model *m;
    agora_space_kind kind;
    int space;                 /* index in spaces[] */
    const agora_model *interp; /* a rule model's interpreted twin, else NULL */
    json_t *params;            /* NULL: the defaults; else one choice parameter set to another of its choices */
    char label[320];           /* "model/space", or "model{param=choice}/space" */
} conf_case;

#define MAX_CASES 1024
static conf_case cases[MAX_CASES];
static int ncases;

/* ---- worlds and their state ---------------------------------------------------------------------------------- */

/* The spaces a model meets, by kind: a square torus with Moore neighbours; a bounded, oblong grid with von Neumann
 * neighbours (edges, corners, rows of another length); a small-world graph; a sparse random graph (isolated vertices,
 * degree 0 and 1, small components); a well-mixed population. */
static const struct {
    agora_space_kind kind;
    const char *label;
} spaces[] = {{AGORA_SPACE_GRID, "grid"},
              {AGORA_SPACE_GRID, "grid(bounded,von_neumann)"},
              {AGORA_SPACE_GRAPH, "graph"},
              {AGORA_SPACE_GRAPH, "graph(erdos_renyi,sparse)"},
              {AGORA_SPACE_MIXED, "mixed"}};
enum { NSPACES = sizeof spaces / sizeof spaces[0] };

static agora_space *make_space(int s)
{
    agora_space *sp = NULL;
    agora_error err;
    int rc = 0;
    json_t *spec = NULL;
    switch (s) {
    case 0:
        rc = agora_space_grid_create(GRID_SIDE, GRID_SIDE, 1, AGORA_MOORE, &sp, &err);
        break;
    case 1:
        rc = agora_space_grid_create(GRID_SIDE - 9, GRID_SIDE / 2 + 3, 0, AGORA_VON_NEUMANN, &sp, &err);
        break;
    case 2:
        spec = json_pack("{s:s, s:s, s:i, s:i, s:f}", "kind", "graph", "generator", "watts_strogatz", "n", (int)GRAPH_N,
                         "k", 6, "p", 0.1);
        break;
    case 3:
        spec = json_pack("{s:s, s:s, s:i, s:f}", "kind", "graph", "generator", "erdos_renyi", "n", (int)GRAPH_N,
                         "mean_degree", 1.5);
        break;
    default:
        rc = agora_space_mixed_create(MIXED_N, &sp, &err);
    }
    if (spec) {
        rc = agora_space_create(spec, agora_rng_key_from_seed(SEED), NULL, &sp, &err);
        json_decref(spec);
    }
    if (rc)
        fail_msg("space %s: %s", spaces[s].label, err.msg);
    return sp;
}

/* A fresh world of the case's model (or `m` instead, for the interpreted twin) with default parameters. */
static agora_world *make_world_of(const conf_case *c, const agora_model *m, int threads)
{
    agora_world_config cfg = {
        .model = m, .space = make_space(c->space), .params = c->params, .seed = SEED, .threads = threads};
    agora_world *w = NULL;
    agora_error err;
    if (agora_world_create(&cfg, &w, &err) != 0)
        fail_msg("%s: world_create: %s (%s)", c->label, err.msg, err.where);
    return w;
}

static agora_world *make_world(const conf_case *c, int threads)
{
    return make_world_of(c, c->m, threads);
}

static agora_world *copy_world(const conf_case *c, const agora_world *w, const char *check)
{
    agora_world *out = NULL;
    agora_error err;
    if (agora_world_copy(w, &out, &err) != 0)
        fail_msg("%s: %s: world_copy: %s", c->label, check, err.msg);
    return out;
}

static void steps(agora_world *w, int k)
{
    for (int i = 0; i < k; i++)
        agora_world_step(w);
}

/* What a world is at one moment, for bit comparisons: time, metrics and every field's bytes. */
typedef struct snap {
    int64_t t;
    int nm, nf;
    double *metrics;
    void **fields;
    size_t *bytes;
} snap;

static snap snap_take(const agora_world *w)
{
    const agora_model *m = agora_world_model(w);
    snap s = {.t = agora_world_time(w), .nm = agora_model_n_metrics(m), .nf = agora_model_n_fields(m)};
    s.metrics = calloc((size_t)s.nm + 1, sizeof *s.metrics);
    s.fields = calloc((size_t)s.nf + 1, sizeof *s.fields);
    s.bytes = calloc((size_t)s.nf + 1, sizeof *s.bytes);
    assert_non_null(s.metrics);
    agora_world_measure(w, s.metrics);
    for (int i = 0; i < s.nf; i++) {
        agora_dtype ty;
        const void *p = agora_world_field(w, i, &ty);
        if (!p)
            continue;
        s.bytes[i] = (size_t)agora_world_n(w) * (size_t)agora_dtype_size(ty);
        s.fields[i] = malloc(s.bytes[i]);
        memcpy(s.fields[i], p, s.bytes[i]);
    }
    return s;
}

static void snap_free(snap *s)
{
    for (int i = 0; i < s->nf; i++)
        free(s->fields[i]);
    free(s->fields);
    free(s->bytes);
    free(s->metrics);
}

/* Fails the test, naming the case, the check and the first difference, unless a and b are the same bits. */
static void snap_same(const conf_case *c, const char *check, const snap *a, const snap *b)
{
    const agora_model *m = c->m;
    if (a->t != b->t)
        fail_msg("%s: %s: time %lld vs %lld", c->label, check, (long long)a->t, (long long)b->t);
    for (int i = 0; i < a->nm; i++)
        if (memcmp(&a->metrics[i], &b->metrics[i], sizeof(double)) != 0)
            fail_msg("%s: %s: at t = %lld metric %s is %.17g vs %.17g", c->label, check, (long long)a->t,
                     m->metrics[i].name, a->metrics[i], b->metrics[i]);
    for (int i = 0; i < a->nf; i++) {
        if ((a->fields[i] == NULL) != (b->fields[i] == NULL) || a->bytes[i] != b->bytes[i])
            fail_msg("%s: %s: field %s exists in one world only", c->label, check, m->fields[i].name);
        if (!a->fields[i])
            continue;
        const unsigned char *x = a->fields[i], *y = b->fields[i];
        for (size_t k = 0; k < a->bytes[i]; k++)
            if (x[k] != y[k]) {
                const size_t es = (size_t)agora_dtype_size(m->fields[i].type);
                fail_msg("%s: %s: at t = %lld field %s differs first at agent %zu", c->label, check, (long long)a->t,
                         m->fields[i].name, k / es);
            }
    }
}

static void worlds_same(const conf_case *c, const char *check, const agora_world *a, const agora_world *b)
{
    snap x = snap_take(a), y = snap_take(b);
    snap_same(c, check, &x, &y);
    snap_free(&x);
    snap_free(&y);
}

/* Time and fields only: for worlds whose metrics may record a different history. */
static void fields_same(const conf_case *c, const char *check, const agora_world *a, const agora_world *b)
{
    snap x = snap_take(a), y = snap_take(b);
    for (int i = 0; i < x.nm; i++)
        x.metrics[i] = y.metrics[i];
    snap_same(c, check, &x, &y);
    snap_free(&x);
    snap_free(&y);
}

/* Steps both worlds k times, comparing them after every step. */
static void step_same(const conf_case *c, const char *check, agora_world *a, agora_world *b, int k)
{
    for (int i = 0; i < k; i++) {
        agora_world_step(a);
        agora_world_step(b);
        worlds_same(c, check, a, b);
    }
}

static void no_fault(const conf_case *c, const char *check, const agora_world *w)
{
    const agora_error *e = agora_world_error(w);
    if (e)
        fail_msg("%s: %s: model fault at t = %lld: %s (%s)", c->label, check, (long long)agora_world_time(w), e->msg,
                 e->where);
}

/* Saves w and loads it into a fresh world of the same configuration (NULL: the model has no save/load). */
static agora_world *checkpoint_world(const conf_case *c, const agora_world *w, const char *check)
{
    if (!c->m->save || !c->m->load)
        return NULL;
    test_mem_state mem = {0};
    agora_state st = test_mem_state_of(&mem);
    agora_error err;
    if (agora_world_save(w, &st, &err) != 0)
        fail_msg("%s: %s: world_save: %s (%s)", c->label, check, err.msg, err.where);
    agora_world *r = make_world(c, agora_world_threads(w));
    if (agora_world_load(r, &st, &err) != 0)
        fail_msg("%s: %s: world_load: %s (%s)", c->label, check, err.msg, err.where);
    test_mem_free(&mem);
    return r;
}

/* ---- threads, finite metrics, copies, checkpoints ------------------------------------------------------------ */

static void check_threads(void **state)
{
    const conf_case *c = *state;
    agora_world *w[3] = {make_world(c, 1), make_world(c, 2), make_world(c, 4)};
    static const char *const what[3] = {"", "threads (2 vs 1)", "threads (4 vs 1)"};
    for (int t = 0; t <= STEPS; t++) {
        if (t)
            for (int k = 0; k < 3; k++)
                agora_world_step(w[k]);
        for (int k = 1; k < 3; k++)
            worlds_same(c, what[k], w[0], w[k]);
    }
    for (int k = 0; k < 3; k++) {
        no_fault(c, "threads", w[k]);
        agora_world_destroy(w[k]);
    }
}

static void check_metrics_finite(void **state)
{
    const conf_case *c = *state;
    agora_world *w = make_world(c, 2);
    const int nm = agora_model_n_metrics(c->m);
    double *out = calloc((size_t)nm, sizeof *out);
    for (int t = 0; t <= STEPS; t++) {
        if (t)
            agora_world_step(w);
        agora_world_measure(w, out);
        for (int i = 0; i < nm; i++) {
            const agora_metric_spec *ms = &c->m->metrics[i];
            const int nan_ok = ms->doc && strstr(ms->doc, "NaN") != NULL;
            if (isinf(out[i]) || (isnan(out[i]) && !nan_ok))
                fail_msg("%s: metrics finite: metric %s is %g at t = %d%s", c->label, ms->name, out[i], t,
                         isnan(out[i]) ? " (its doc does not say it may be NaN)" : "");
        }
    }
    no_fault(c, "metrics finite", w);
    free(out);
    agora_world_destroy(w);
}

static void check_copy(void **state)
{
    const conf_case *c = *state;
    agora_world *a = make_world(c, 2);
    steps(a, K_MID);
    agora_world *b = copy_world(c, a, "copy");
    worlds_same(c, "copy (at once)", a, b);
    step_same(c, "copy (stepping on)", a, b, M_MORE);
    /* independence: stepping the copy leaves the original as it was, and the original catches up exactly */
    snap before = snap_take(a);
    steps(b, 3);
    snap after = snap_take(a);
    snap_same(c, "copy (independent: the original moved when the copy stepped)", &before, &after);
    steps(a, 3);
    worlds_same(c, "copy (after stepping the copy alone)", a, b);
    /* ... and a copy of a copy, destroyed before its source */
    agora_world *d = copy_world(c, b, "copy");
    agora_world_destroy(b);
    step_same(c, "copy (a copy of a copy)", a, d, 3);
    no_fault(c, "copy", a);
    snap_free(&before);
    snap_free(&after);
    agora_world_destroy(a);
    agora_world_destroy(d);
}

static void check_checkpoint(void **state)
{
    const conf_case *c = *state;
    if (!c->m->save || !c->m->load) {
        print_message("%s: checkpoint: the model has no save/load; nothing to check\n", c->label);
        skip();
    }
    agora_world *a = make_world(c, 2);
    steps(a, K_MID);
    agora_world *r = checkpoint_world(c, a, "checkpoint");
    worlds_same(c, "checkpoint (loaded)", a, r);
    step_same(c, "checkpoint (stepping on)", a, r, M_MORE);
    no_fault(c, "checkpoint", a);
    agora_world_destroy(a);
    agora_world_destroy(r);
}

/* ---- set_field ------------------------------------------------------------------------------------------------ */

static double field_value(const agora_world *w, int f, int64_t id)
{
    agora_dtype ty;
    const void *p = agora_world_field(w, f, &ty);
    switch (ty) {
    case AGORA_DTYPE_U8:
        return ((const uint8_t *)p)[id];
    case AGORA_DTYPE_I32:
        return ((const int32_t *)p)[id];
    case AGORA_DTYPE_F32:
        return ((const float *)p)[id];
    case AGORA_DTYPE_F64:
        return ((const double *)p)[id];
    case AGORA_DTYPE_I64:
        return (double)((const int64_t *)p)[id];
    }
    return NAN;
}

/* The declared domain of a writable field, where the model says it: an SDK model's declaration, a rule model's
 * variable type. lo and hi are -inf and inf when not known; *whole is 1 for integer values. */
static void field_domain(const agora_model *m, int f, double *lo, double *hi, int *whole)
{
    const agora_dtype ty = m->fields[f].type;
    *whole = ty == AGORA_DTYPE_U8 || ty == AGORA_DTYPE_I32 || ty == AGORA_DTYPE_I64;
    *lo = -INFINITY;
    *hi = INFINITY;
    if (ty == AGORA_DTYPE_U8) {
        *lo = 0;
        *hi = 255;
    } else if (ty == AGORA_DTYPE_I32) {
        *lo = -2147483648.0;
        *hi = 2147483647.0;
    }
    const agora__rules_model *rm = agora__rules_of(m);
    if (rm) {
        const rx_vardef *vd = &rm->vars[f];
        if (vd->type == AGORA_RX_BOOL) {
            *lo = 0;
            *hi = 1;
        } else if (vd->type == AGORA_RX_CAT) {
            *lo = 0;
            *hi = vd->nvalues - 1;
        }
        return;
    }
    if (m->sdk) {
        int k = 0;
        for (const agora_field_decl *d = m->sdk->fields; d && d->name; d++) {
            if (!(d->flags & AGORA_FIELD_SNAPSHOT))
                continue;
            if (k++ != f)
                continue;
            if (d->flags & AGORA_FIELD_WRITABLE) {
                *lo = fmax(*lo, d->min);
                *hi = fmin(*hi, d->max);
            }
            return;
        }
    }
}

/* A value the field may take at agent `id` other than the one it holds, found by writing candidates to w (a scratch
 * copy; each accepted write is undone): for a real field first values no agent may hold (midpoints between its value
 * and others', the declared bounds), then the whole numbers of a declared integer domain, then values other agents
 * hold. A refused candidate must be refused with AGORA_EINVAL at "values" and leave the world unchanged. NAN when
 * none is accepted. */
static double legal_change(const conf_case *c, agora_world *w, int f, int64_t id, double avoid)
{
    const int64_t n = agora_world_n(w);
    const double cur = field_value(w, f, id);
    double lo, hi;
    int whole;
    field_domain(c->m, f, &lo, &hi, &whole);
    double cand[128];
    int nc = 0;
    if (!whole) {
        cand[nc++] = (cur + field_value(w, f, (id + 1) % n)) / 2;
        cand[nc++] = (cur + field_value(w, f, (id + n / 2) % n)) / 2;
        if (isfinite(lo))
            cand[nc++] = lo;
        if (isfinite(hi))
            cand[nc++] = hi;
    }
    if (whole && isfinite(lo) && isfinite(hi) && hi - lo < 64)
        for (double v = lo; v <= hi; v++)
            cand[nc++] = v;
    for (int64_t j = 1; j < n && nc < 128; j += 1 + n / 31)
        cand[nc++] = field_value(w, f, (id + j) % n);
    for (int k = 0; k < nc; k++) {
        const double v = cand[k];
        if (v == cur || v == avoid || isnan(v))
            continue;
        agora_error err;
        snap before = snap_take(w);
        const int rc = agora_world_set_field(w, f, &id, 1, &v, &err);
        if (rc == 0) {
            snap_free(&before);
            if (agora_world_set_field(w, f, &id, 1, &cur, &err) != 0)
                fail_msg("%s: set_field %s: writing back agent %lld's own value %.17g refused: %s", c->label,
                         c->m->fields[f].name, (long long)id, cur, err.msg);
            return v;
        }
        if (rc != AGORA_EINVAL || strcmp(err.where, "values") != 0)
            fail_msg("%s: set_field %s: a refused value %.17g gave %d (%s, where \"%s\"), not AGORA_EINVAL at "
                     "\"values\"",
                     c->label, c->m->fields[f].name, v, rc, err.msg, err.where);
        snap after = snap_take(w);
        char check[200];
        snprintf(check, sizeof check, "set_field %s: the refused value %.17g left the world changed",
                 c->m->fields[f].name, v);
        snap_same(c, check, &before, &after);
        snap_free(&before);
        snap_free(&after);
    }
    return NAN;
}

/* The value `v` as the field stores it. */
static double stored(agora_dtype ty, double v)
{
    switch (ty) {
    case AGORA_DTYPE_U8:
        return (double)(uint8_t)v;
    case AGORA_DTYPE_I32:
        return (double)(int32_t)v;
    case AGORA_DTYPE_F32:
        return (double)(float)v;
    case AGORA_DTYPE_I64:
        return (double)(int64_t)v;
    default:
        return v == 0 ? 0.0 : v;
    }
}

static void set_ok(const conf_case *c, const char *what, agora_world *w, int f, const int64_t *ids, int64_t count,
                   const double *values)
{
    agora_error err;
    if (agora_world_set_field(w, f, ids, count, values, &err) != 0)
        fail_msg("%s: set_field %s: %s: refused: %s (%s)", c->label, c->m->fields[f].name, what, err.msg, err.where);
}

/* A write that must be refused with `code` at `where`, leaving the world as it was. */
static void set_refused(const conf_case *c, const char *what, agora_world *w, int f, const int64_t *ids, int64_t count,
                        const double *values, int code, const char *where)
{
    snap before = snap_take(w);
    agora_error err;
    agora_error_clear(&err);
    const int rc = agora_world_set_field(w, f, ids, count, values, &err);
    const char *fname = f >= 0 && f < agora_model_n_fields(c->m) ? c->m->fields[f].name : "(bad index)";
    if (rc != code || strcmp(err.where, where) != 0)
        fail_msg("%s: set_field %s: %s: gave %d (%s, where \"%s\"), want %d (%s) at \"%s\"", c->label, fname, what, rc,
                 err.msg, err.where, code, agora_strerror(code), where);
    snap after = snap_take(w);
    char check[256];
    snprintf(check, sizeof check, "set_field %s: %s left the world changed", fname, what);
    snap_same(c, check, &before, &after);
    snap_free(&before);
    snap_free(&after);
}

enum { NIDS = 8 };

/* Writes values to field f of ids (it must be accepted) and says whether that changed any other field. */
static int write_moves_others(const conf_case *c, agora_world *w, int f, const int64_t *ids, int64_t count,
                              const double *values)
{
    snap before = snap_take(w);
    set_ok(c, "legal values", w, f, ids, count, values);
    snap after = snap_take(w);
    int moved = 0;
    for (int i = 0; i < before.nf; i++)
        if (i != f && before.fields[i] && memcmp(before.fields[i], after.fields[i], before.bytes[i]) != 0)
            moved = 1;
    snap_free(&before);
    snap_free(&after);
    return moved;
}

static void check_set_field(void **state)
{
    const conf_case *c = *state;
    agora_world *base = make_world(c, 2);
    steps(base, K_MID);
    const int64_t n = agora_world_n(base);
    const int nf = agora_model_n_fields(c->m);
    int writable = 0;
    char check[256];

    /* the kernel's own checks: field index and ids */
    {
        const int64_t id = 0, bad = n;
        const double v = nf ? field_value(base, 0, 0) : 0;
        set_refused(c, "a field index out of range", base, nf, &id, 1, &v, AGORA_EINVAL, "field");
        set_refused(c, "a negative field index", base, -1, &id, 1, &v, AGORA_EINVAL, "field");
        if (nf) {
            const int64_t neg = -1;
            set_refused(c, "id n", base, 0, &bad, 1, &v, AGORA_EINVAL, "ids");
            set_refused(c, "id -1", base, 0, &neg, 1, &v, AGORA_EINVAL, "ids");
        }
    }

    for (int f = 0; f < nf; f++) {
        const char *fname = c->m->fields[f].name;
        agora_dtype ty;
        if (!agora_world_field(base, f, &ty))
            continue; /* not on this space */
        int64_t ids[NIDS];
        double own[NIDS], to[NIDS], detour[NIDS];
        for (int k = 0; k < NIDS; k++) {
            ids[k] = ((int64_t)k * n / NIDS + 3) % n;
            own[k] = field_value(base, f, ids[k]);
        }

        /* writing every agent's own value: a read-only field refuses, a writable one changes nothing at all */
        agora_world *a = copy_world(c, base, "set_field");
        agora_error err;
        const int rc = agora_world_set_field(a, f, ids, NIDS, own, &err);
        if (rc == AGORA_EUNSUPPORTED) {
            if (strcmp(err.where, "field") != 0)
                fail_msg("%s: set_field %s: read-only, but where is \"%s\", not \"field\"", c->label, fname, err.where);
            worlds_same(c, "set_field: a read-only field's refusal left the world changed", a, base);
            agora_world_destroy(a);
            continue;
        }
        if (rc != 0)
            fail_msg("%s: set_field %s: writing the agents' own values refused: %s (%s)", c->label, fname, err.msg,
                     err.where);
        writable++;
        snprintf(check, sizeof check, "set_field %s (own values written)", fname);
        worlds_same(c, check, a, base);
        agora_world *b = copy_world(c, base, "set_field");
        step_same(c, check, a, b, 3);
        agora_world_destroy(a);
        agora_world_destroy(b);

        /* legal changes, read back exactly */
        int nchanged = 0;
        int64_t cid[NIDS];
        double cown[NIDS];
        agora_world *scratch = copy_world(c, base, "set_field");
        for (int k = 0; k < NIDS; k++) {
            const double v = legal_change(c, scratch, f, ids[k], NAN);
            if (isnan(v))
                continue;
            cid[nchanged] = ids[k];
            cown[nchanged] = own[k];
            to[nchanged] = v;
            const double d = legal_change(c, scratch, f, ids[k], v);
            detour[nchanged] = isnan(d) ? v : d;
            nchanged++;
        }
        agora_world_destroy(scratch);
        if (nchanged == 0) {
            print_message("%s: set_field %s: no agent takes another value (no declared domain, all agents alike); "
                          "only own values written\n",
                          c->label, fname);
        } else {
            /* The same changes by three paths: one batch; one agent at a time in reverse order, each id given twice
             * (its own value, then the new one); one write of the whole population (the new values where they
             * change, every other agent's own value: models may recount everything for a large write). Each agent
             * makes the same transitions in all three, so even metrics that record history (cases ever infected)
             * must agree, at once and in later steps. */
            agora_world *ch = copy_world(c, base, "set_field");
            set_ok(c, "legal values", ch, f, cid, nchanged, to);
            for (int k = 0; k < nchanged; k++)
                if (field_value(ch, f, cid[k]) != stored(ty, to[k]))
                    fail_msg("%s: set_field %s: agent %lld set to %.17g reads back %.17g", c->label, fname,
                             (long long)cid[k], to[k], field_value(ch, f, cid[k]));
            agora_world *one = copy_world(c, base, "set_field");
            for (int k = nchanged - 1; k >= 0; k--) {
                const int64_t twice[2] = {cid[k], cid[k]};
                const double vals[2] = {cown[k], to[k]};
                set_ok(c, "one agent, given twice", one, f, twice, 2, vals);
            }
            int64_t *all = malloc((size_t)n * sizeof *all);
            double *allv = malloc((size_t)n * sizeof *allv), *allown = malloc((size_t)n * sizeof *allown);
            for (int64_t i = 0; i < n; i++) {
                all[i] = i;
                allv[i] = allown[i] = field_value(base, f, i);
            }
            for (int k = 0; k < nchanged; k++)
                allv[cid[k]] = to[k];
            agora_world *whole_pop = copy_world(c, base, "set_field");
            set_ok(c, "the whole population", whole_pop, f, all, n, allv);
            /* a detour through other values first: the fields (and whatever the dynamics derive from them) must
             * agree too, unless a write moved another field (a quote pulled inside a moved limit: that stays);
             * metrics may differ, as a detour is more history */
            agora_world *det = copy_world(c, base, "set_field");
            const int det_side =
                write_moves_others(c, det, f, cid, nchanged, detour) | write_moves_others(c, det, f, cid, nchanged, to);
            /* the changed world copies and checkpoints exactly */
            agora_world *cc = copy_world(c, ch, "set_field");
            agora_world *ck = checkpoint_world(c, ch, "set_field");
            for (int s = 0; s <= 3; s++) {
                if (s) {
                    agora_world_step(ch);
                    agora_world_step(one);
                    agora_world_step(whole_pop);
                    agora_world_step(det);
                    agora_world_step(cc);
                    if (ck)
                        agora_world_step(ck);
                }
                snprintf(check, sizeof check, "set_field %s (one batch vs one agent at a time)", fname);
                worlds_same(c, check, ch, one);
                snprintf(check, sizeof check, "set_field %s (one batch vs the whole population)", fname);
                worlds_same(c, check, ch, whole_pop);
                snprintf(check, sizeof check, "set_field %s (a copy of the changed world)", fname);
                worlds_same(c, check, ch, cc);
                if (ck) {
                    snprintf(check, sizeof check, "set_field %s (a checkpoint of the changed world)", fname);
                    worlds_same(c, check, ch, ck);
                }
                snprintf(check, sizeof check, "set_field %s (one batch vs a detour first: fields)", fname);
                if (!det_side)
                    fields_same(c, check, ch, det);
            }
            agora_world_destroy(ch);
            agora_world_destroy(one);
            agora_world_destroy(whole_pop);
            agora_world_destroy(det);
            agora_world_destroy(cc);
            agora_world_destroy(ck);
            /* changed and restored, by a batch and by whole-population writes: the two agree in everything, and
             * their fields are the untouched world's, at once and in later steps (what the dynamics derive from
             * the fields was restored too) */
            agora_world *rt = copy_world(c, base, "set_field"), *rt2 = copy_world(c, base, "set_field");
            agora_world *untouched = copy_world(c, base, "set_field");
            const int rt_side =
                write_moves_others(c, rt, f, cid, nchanged, to) | write_moves_others(c, rt, f, cid, nchanged, cown);
            if (rt_side || det_side)
                print_message("%s: set_field %s: writing it moves other fields, so a detour or a round trip may "
                              "end elsewhere; compared where it did not\n",
                              c->label, fname);
            set_ok(c, "the whole population", rt2, f, all, n, allv);
            set_ok(c, "the whole population back", rt2, f, all, n, allown);
            for (int s = 0; s <= 3; s++) {
                if (s) {
                    agora_world_step(rt);
                    agora_world_step(rt2);
                    agora_world_step(untouched);
                }
                snprintf(check, sizeof check, "set_field %s (changed and restored: a batch vs the population)", fname);
                worlds_same(c, check, rt, rt2);
                snprintf(check, sizeof check, "set_field %s (changed and restored vs untouched: fields)", fname);
                if (!rt_side)
                    fields_same(c, check, rt, untouched);
            }
            agora_world_destroy(rt);
            agora_world_destroy(rt2);
            agora_world_destroy(untouched);
            free(all);
            free(allv);
            free(allown);
        }
        /* illegal values: NaN, inf, outside the declared range, not whole for an integer type; each second in a
         * batch whose first value is legal, so a refusal must come before anything is written */
        double lo, hi;
        int whole;
        field_domain(c->m, f, &lo, &hi, &whole);
        double bad[8];
        int nb = 0;
        bad[nb++] = NAN;
        if (isfinite(hi))
            bad[nb++] = INFINITY;
        if (isfinite(lo))
            bad[nb++] = -INFINITY;
        if (isfinite(lo))
            bad[nb++] = lo - 1;
        if (isfinite(hi))
            bad[nb++] = hi + 1;
        if (whole)
            bad[nb++] = (isfinite(lo) ? lo : 0) + 0.5;
        for (int k = 0; k < nb; k++) {
            const int64_t two[2] = {ids[0], ids[1]};
            const double vals[2] = {own[0], bad[k]};
            char what[128];
            snprintf(what, sizeof what, "the illegal value %g", bad[k]);
            set_refused(c, what, base, f, two, 2, vals, AGORA_EINVAL, "values");
        }
    }
    if (writable == 0)
        print_message("%s: set_field: no writable field\n", c->label);
    agora_world_destroy(base);
}

/* ---- actions --------------------------------------------------------------------------------------------------- */

/* A value the schema accepts at one end of its range (hi = 0: minimal, hi = 1: maximal). Minimal: const, the first
 * enum value, the default, the minimum; objects with their required properties, arrays with their fewest items.
 * Maximal: const, the last enum value, the maximum (where none is given, as minimal); objects with every property,
 * arrays with at least one item. New reference. */
static json_t *extreme(const json_t *s, int hi)
{
    const json_t *v;
    if ((v = json_object_get(s, "const")))
        return json_deep_copy(v);
    if ((v = json_object_get(s, "enum")) && json_array_size(v))
        return json_deep_copy(json_array_get(v, hi ? json_array_size(v) - 1 : 0));
    if (!hi && (v = json_object_get(s, "default")))
        return json_deep_copy(v);
    if ((v = json_object_get(s, "anyOf")) || (v = json_object_get(s, "oneOf")))
        return extreme(json_array_get(v, hi ? json_array_size(v) - 1 : 0), hi);
    const json_t *type = json_object_get(s, "type");
    const char *t = json_string_value(type);
    for (size_t i = 0; !t && i < json_array_size(type); i++)
        if (strcmp(json_string_value(json_array_get(type, i)), "null") != 0)
            t = json_string_value(json_array_get(type, i));
    if (!t)
        return json_null();
    const json_t *mn = json_object_get(s, "minimum"), *mx = json_object_get(s, "maximum");
    const json_t *emn = json_object_get(s, "exclusiveMinimum"), *emx = json_object_get(s, "exclusiveMaximum");
    if (strcmp(t, "integer") == 0) {
        double x = 0;
        if (hi && mx)
            x = floor(json_number_value(mx));
        else if (hi && emx)
            x = ceil(json_number_value(emx)) - 1;
        else if (mn)
            x = ceil(json_number_value(mn));
        else if (emn)
            x = floor(json_number_value(emn)) + 1;
        else if (mx && json_number_value(mx) < 0)
            x = floor(json_number_value(mx));
        else if (emx && json_number_value(emx) <= 0)
            x = ceil(json_number_value(emx)) - 1;
        return json_integer((json_int_t)x);
    }
    if (strcmp(t, "number") == 0) {
        double x = 0;
        if (hi && mx)
            x = json_number_value(mx);
        else if (hi && emx)
            x = emn || mn ? (json_number_value(emn ? emn : mn) + json_number_value(emx)) / 2
                          : json_number_value(emx) - 1;
        else if (mn)
            x = json_number_value(mn);
        else if (emn)
            x = emx ? (json_number_value(emn) + json_number_value(emx)) / 2 : json_number_value(emn) + 1;
        else if (mx && json_number_value(mx) < 0)
            x = json_number_value(mx);
        else if (emx && json_number_value(emx) <= 0)
            x = json_number_value(emx) - 1;
        return json_real(x);
    }
    if (strcmp(t, "boolean") == 0)
        return json_boolean(hi);
    if (strcmp(t, "string") == 0) {
        const json_int_t len = json_integer_value(json_object_get(s, "minLength"));
        char buf[64] = "";
        for (json_int_t i = 0; i < len && i < 63; i++)
            buf[i] = 'a';
        buf[len < 63 ? len : 63] = '\0';
        return json_string(buf);
    }
    if (strcmp(t, "array") == 0) {
        json_t *a = json_array();
        json_int_t k = json_integer_value(json_object_get(s, "minItems"));
        const json_t *maxi = json_object_get(s, "maxItems");
        if (hi && k < 1 && (!maxi || json_integer_value(maxi) >= 1))
            k = 1;
        for (json_int_t i = 0; i < k; i++)
            json_array_append_new(a, extreme(json_object_get(s, "items"), hi));
        return a;
    }
    if (strcmp(t, "object") == 0) {
        json_t *o = json_object();
        const json_t *props = json_object_get(s, "properties"), *req = json_object_get(s, "required");
        if (hi) {
            const char *key;
            json_t *ps;
            json_object_foreach((json_t *)props, key, ps)
                json_object_set_new(o, key, extreme(ps, hi));
        }
        for (size_t i = 0; i < json_array_size(req); i++) {
            const char *name = json_string_value(json_array_get(req, i));
            json_object_set_new(o, name, extreme(json_object_get(props, name), hi));
        }
        return o;
    }
    return json_null();
}

/* A value of another JSON type than the property's schema allows. */
static json_t *wrong_type(const json_t *s)
{
    const json_t *v = json_object_get(s, "const");
    if (!v && (v = json_object_get(s, "enum")))
        v = json_array_get(v, 0);
    const char *t = v ? (json_is_string(v)   ? "string"
                         : json_is_number(v) ? "number"
                                             : "other")
                      : json_string_value(json_object_get(s, "type"));
    if (t && (strcmp(t, "string") == 0))
        return json_integer(42);
    if (t && (strcmp(t, "array") == 0 || strcmp(t, "object") == 0))
        return json_string("wrong");
    return json_string("wrong"); /* numbers, booleans and the rest */
}

static void apply_ok(const conf_case *c, const char *aname, agora_world *w, const json_t *inst)
{
    agora_error err;
    if (agora_world_apply(w, inst, &err) != 0) {
        char *text = json_dumps(inst, JSON_COMPACT);
        fail_msg("%s: action %s: a minimal valid instance %s refused: %s (%s)", c->label, aname, text, err.msg,
                 err.where);
    }
}

static void apply_refused(const conf_case *c, const char *aname, agora_world *w, const json_t *inst)
{
    snap before = snap_take(w);
    agora_error err;
    agora_error_clear(&err);
    const int rc = agora_world_apply(w, inst, &err);
    if (rc != AGORA_ESCHEMA) {
        char *text = json_dumps(inst, JSON_COMPACT);
        fail_msg("%s: action %s: %s gave %d (%s), want AGORA_ESCHEMA", c->label, aname, text, rc, err.msg);
    }
    snap after = snap_take(w);
    char check[256];
    snprintf(check, sizeof check, "action %s: a refused instance left the world changed", aname);
    snap_same(c, check, &before, &after);
    snap_free(&before);
    snap_free(&after);
}

/* One valid instance of an action: it validates, applies alike to two copies of `base` (which then step alike) or,
 * where the model refuses it on this kind of space (an action on a graph's edges), leaves the world as it was and
 * applies on another kind of space the model runs on. */
static void apply_instance(const conf_case *c, const agora_world *base, const json_t *schema, const char *aname,
                           const json_t *inst, const char *which)
{
    agora_error err;
    if (agora_schema_validate(schema, inst, "action", &err) != 0) {
        char *text = json_dumps(inst, JSON_COMPACT);
        fail_msg("%s: action %s: the %s instance %s does not validate: %s: %s", c->label, aname, which, text, err.where,
                 err.msg);
    }
    agora_world *x = copy_world(c, base, "actions"), *y = copy_world(c, base, "actions");
    agora_error_clear(&err);
    const int rc = agora_world_apply(x, inst, &err);
    char check[200];
    if (rc == 0) {
        apply_ok(c, aname, y, inst);
        snprintf(check, sizeof check, "action %s (the %s instance applied to two copies)", aname, which);
        worlds_same(c, check, x, y);
        /* what the action left in force (a policy for some steps, counters) is copied and checkpointed too */
        agora_world *cx = copy_world(c, x, "actions"), *kx = checkpoint_world(c, x, "actions");
        for (int s = 0; s < 4; s++) {
            agora_world_step(x);
            agora_world_step(y);
            agora_world_step(cx);
            worlds_same(c, check, x, y);
            snprintf(check, sizeof check, "action %s (the %s instance: a copy made after it)", aname, which);
            worlds_same(c, check, x, cx);
            if (kx) {
                agora_world_step(kx);
                snprintf(check, sizeof check, "action %s (the %s instance: a checkpoint made after it)", aname, which);
                worlds_same(c, check, x, kx);
            }
            snprintf(check, sizeof check, "action %s (the %s instance applied to two copies)", aname, which);
        }
        /* a second use in the same step draws afresh and is copied alike */
        apply_ok(c, aname, x, inst);
        apply_ok(c, aname, y, inst);
        apply_ok(c, aname, x, inst);
        apply_ok(c, aname, y, inst);
        agora_world *cx2 = copy_world(c, x, "actions");
        snprintf(check, sizeof check, "action %s (the %s instance used twice in a step)", aname, which);
        worlds_same(c, check, x, y);
        step_same(c, check, x, y, 2);
        agora_world_step(cx2);
        agora_world_step(cx2);
        worlds_same(c, check, x, cx2);
        no_fault(c, check, x);
        agora_world_destroy(cx);
        agora_world_destroy(kx);
        agora_world_destroy(cx2);
    } else {
        char *text = json_dumps(inst, JSON_COMPACT);
        if (rc == AGORA_ESCHEMA)
            fail_msg("%s: action %s: %s validates against the schema, yet apply says it does not: %s (%s)", c->label,
                     aname, text, err.msg, err.where);
        snprintf(check, sizeof check, "action %s: the %s instance refused, yet the world changed", aname, which);
        worlds_same(c, check, x, y);
        const char *elsewhere = NULL;
        for (int k = 0; k < NSPACES && !elsewhere; k++) {
            if (spaces[k].kind == c->kind || !(c->m->spaces & AGORA_SPACES_FLAG(spaces[k].kind)))
                continue;
            conf_case other = *c;
            other.kind = spaces[k].kind;
            other.space = k;
            agora_world *o = make_world(&other, 2);
            steps(o, K_MID);
            agora_error e2;
            if (agora_world_apply(o, inst, &e2) == 0)
                elsewhere = spaces[k].label;
            agora_world_destroy(o);
        }
        if (!elsewhere)
            fail_msg("%s: action %s: the %s valid instance %s refused here and on every other space the model runs "
                     "on: %s (%s)",
                     c->label, aname, which, text, err.msg, err.where);
        print_message("%s: action %s (%s) refused on this space (%s), applies on %s\n", c->label, aname, which, err.msg,
                      elsewhere);
        free(text);
    }
    agora_world_destroy(x);
    agora_world_destroy(y);
}

static void check_actions(void **state)
{
    const conf_case *c = *state;
    agora_error err;
    json_t *schema = agora_model_action_schema(c->m, &err);
    if (!schema) {
        if (c->m->action_schema)
            fail_msg("%s: actions: the action schema does not parse: %s", c->label, err.msg);
        print_message("%s: actions: the model has no actions\n", c->label);
        skip();
    }
    if (agora_schema_check(schema, &err) != 0)
        fail_msg("%s: actions: agora_schema_check refuses the action schema: %s (%s)", c->label, err.msg, err.where);
    const json_t *branches = json_object_get(schema, "anyOf");
    if (!branches)
        branches = json_object_get(schema, "oneOf");
    json_t *single = NULL;
    if (!branches) {
        single = json_array();
        json_array_append(single, schema);
        branches = single;
    }
    if (json_array_size(branches) == 0)
        fail_msg("%s: actions: anyOf/oneOf without actions", c->label);
    agora_world *base = make_world(c, 2);
    steps(base, K_MID);
    for (size_t b = 0; b < json_array_size(branches); b++) {
        const json_t *br = json_array_get(branches, b);
        const json_t *props = json_object_get(br, "properties"), *req = json_object_get(br, "required");
        const char *aname = json_string_value(json_object_get(json_object_get(props, "action"), "const"));
        char abuf[32];
        if (!aname) {
            snprintf(abuf, sizeof abuf, "#%zu", b);
            aname = abuf;
        }
        if (!json_is_object(br) || strcmp(json_string_value(json_object_get(br, "type")) ?: "", "object") != 0)
            fail_msg("%s: action %s: the schema is not {type: object, ...}", c->label, aname);
        if (!json_is_object(props))
            fail_msg("%s: action %s: no properties object", c->label, aname);
        if (req && !json_is_array(req))
            fail_msg("%s: action %s: required is not an array", c->label, aname);
        for (size_t i = 0; i < json_array_size(req); i++) {
            const char *r = json_string_value(json_array_get(req, i));
            if (!r || !json_object_get(props, r))
                fail_msg("%s: action %s: required name %s is not a property", c->label, aname,
                         r ? r : "(not a string)");
        }
        const char *key;
        const json_t *ps;
        json_object_foreach((json_t *)props, key, ps)
            if (!json_is_object(ps))
                fail_msg("%s: action %s: property %s's schema is not an object", c->label, aname, key);

        json_t *inst = extreme(br, 0);
        apply_instance(c, base, schema, aname, inst, "minimal");
        json_t *maxi = extreme(br, 1);
        apply_instance(c, base, schema, aname, maxi, "maximal");
        json_decref(maxi);
        /* each required property with a value of the wrong type is refused */
        agora_world *z = copy_world(c, base, "actions");
        for (size_t i = 0; i < json_array_size(req); i++) {
            const char *r = json_string_value(json_array_get(req, i));
            json_t *badi = json_deep_copy(inst);
            json_object_set_new(badi, r, wrong_type(json_object_get(props, r)));
            apply_refused(c, aname, z, badi);
            json_decref(badi);
        }
        /* ... and so is a required property left out */
        if (json_array_size(req)) {
            json_t *badi = json_deep_copy(inst);
            json_object_del(badi, json_string_value(json_array_get(req, json_array_size(req) - 1)));
            apply_refused(c, aname, z, badi);
            json_decref(badi);
        }
        /* ... and a required number outside its declared range, or an integer that is not whole */
        for (size_t i = 0; i < json_array_size(req); i++) {
            const char *r = json_string_value(json_array_get(req, i));
            const json_t *ps = json_object_get(props, r);
            const char *t = json_string_value(json_object_get(ps, "type"));
            if (!t || (strcmp(t, "number") != 0 && strcmp(t, "integer") != 0))
                continue;
            double out[4];
            int no = 0;
            const json_t *mn = json_object_get(ps, "minimum"), *mx = json_object_get(ps, "maximum");
            const json_t *emn = json_object_get(ps, "exclusiveMinimum"), *emx = json_object_get(ps, "exclusiveMaximum");
            if (mn)
                out[no++] = json_number_value(mn) - 1;
            if (mx)
                out[no++] = json_number_value(mx) + 1;
            if (emn)
                out[no++] = json_number_value(emn);
            if (emx)
                out[no++] = json_number_value(emx);
            for (int k = 0; k < no; k++) {
                json_t *badi = json_deep_copy(inst);
                json_object_set_new(badi, r, json_real(out[k]));
                apply_refused(c, aname, z, badi);
                json_decref(badi);
            }
            if (strcmp(t, "integer") == 0) {
                json_t *badi = json_deep_copy(inst);
                json_object_set_new(badi, r, json_real(json_number_value(json_object_get(inst, r)) + 0.5));
                apply_refused(c, aname, z, badi);
                json_decref(badi);
            }
        }
        agora_world_destroy(z);
        json_decref(inst);
    }
    /* an action nobody declared, and not an object at all */
    json_t *unknown = json_pack("{s:s}", "action", "no_such_action_conformance");
    apply_refused(c, "(unknown)", base, unknown);
    json_decref(unknown);
    json_t *num = json_integer(3);
    apply_refused(c, "(not an object)", base, num);
    json_decref(num);
    agora_world_destroy(base);
    json_decref(single);
    json_decref(schema);
}

/* ---- rule models: native against interpreted ----------------------------------------------------------------- */

static void check_native(void **state)
{
    const conf_case *c = *state;
    const agora__rules_model *rm = agora__rules_of(c->m);
    const char *native = agora__rules_native(rm), *interp = agora__rules_native(agora__rules_of(c->interp));
    if (strncmp(interp, "interpreter", 11) != 0)
        fail_msg("%s: native: the twin with AGORA_RULES_NATIVE=0 runs %s", c->label, interp);
    if (strncmp(native, "native", 6) != 0) {
        if (strstr(native, "compile failed") || strstr(native, "refused"))
            fail_msg("%s: native: the rules were not compiled: %s", c->label, native);
        print_message("%s: native: %s; nothing to compare\n", c->label, native);
        skip();
    }
    agora_world *a = make_world(c, 2), *b = make_world_of(c, c->interp, 2);
    worlds_same(c, "native vs interpreted (init)", a, b);
    step_same(c, "native vs interpreted", a, b, STEPS);
    no_fault(c, "native vs interpreted", a);
    agora_world_destroy(a);
    agora_world_destroy(b);
}

/* ---- gathering the models -------------------------------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every .yaml file in `dir`, in name order. */
static void load_rule_files(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        fail_msg("cannot open %s", dir);
    char *names[256];
    int nn = 0;
    for (struct dirent *e; (e = readdir(d)) && nn < 256;) {
        const size_t len = strlen(e->d_name);
        if (len > 5 && strcmp(e->d_name + len - 5, ".yaml") == 0)
            names[nn++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)nn, sizeof *names, cmp_str);
    for (int i = 0; i < nn; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        const agora_model *m;
        agora_error err;
        if (agora__rules_load(path, &m, &err, NULL) != 0)
            fail_msg("%s: %s", path, err.msg);
        free(names[i]);
    }
}

static void load_plugin(const char *path)
{
    agora_error err;
    if (agora_plugin_load(path, &err) != 0)
        fail_msg("plug-in %s: %s", path, err.msg);
}

/* The interpreted twin of a rule model: its file again, without its `name:` line, as NAME_interp.yaml (so the
 * name, and with it the interned model, differs), built with AGORA_RULES_NATIVE=0. */
static const agora_model *interp_twin(const agora__rules_model *rm)
{
    FILE *in = fopen(rm->origin, "r");
    if (!in)
        fail_msg("%s: the twin: cannot read %s", rm->name, rm->origin);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s_interp.yaml", test_tmp_path("conformance"), rm->name);
    FILE *out = fopen(path, "w");
    if (!out)
        fail_msg("cannot write %s", path);
    char line[8192];
    while (fgets(line, sizeof line, in))
        if (strncmp(line, "name:", 5) != 0)
            fputs(line, out);
    fclose(in);
    fclose(out);
    const agora_model *m;
    agora_error err;
    if (agora__rules_load(path, &m, &err, NULL) != 0)
        fail_msg("%s: %s", path, err.msg);
    if (m == &rm->m)
        fail_msg("%s: the twin is the model itself", rm->name);
    setenv("AGORA_RULES_NATIVE", "0", 1);
    agora__rules_native(agora__rules_of(m));
    unsetenv("AGORA_RULES_NATIVE");
    return m;
}

/* The model with its defaults on every space of each kind it declares; then, for each choice parameter, with each of
 * its other choices (a model's variants: opinion rules, value distributions), on the first space of each kind. A
 * variant a space refuses at creation (AGORA_EINVAL or AGORA_ESCHEMA from world_create: it needs a graph, say) is left
 * out with a note. */
static void add_cases(const agora_model *m)
{
    json_t *variants = json_array();
    json_array_append_new(variants, json_null());
    for (const agora_param_spec *p = m->params; p && p->name; p++) {
        if (p->type != AGORA_PARAM_CHOICE || !p->choices)
            continue;
        char buf[512];
        snprintf(buf, sizeof buf, "%s", p->choices);
        int idx = 0;
        char *save = NULL;
        for (char *w = strtok_r(buf, "|", &save); w; w = strtok_r(NULL, "|", &save), idx++)
            if (idx != (int)p->def)
                json_array_append_new(variants, json_pack("{s:s}", p->name, w));
    }
    for (size_t v = 0; v < json_array_size(variants); v++) {
        json_t *params = json_array_get(variants, v);
        char tag[160] = "";
        if (!json_is_null(params)) {
            const char *key;
            json_t *val;
            json_object_foreach(params, key, val)
                snprintf(tag, sizeof tag, "{%s=%s}", key, json_string_value(val));
        }
        for (int k = 0; k < NSPACES; k++) {
            if (!(m->spaces & AGORA_SPACES_FLAG(spaces[k].kind)))
                continue;
            if (v > 0 && k > 0 && spaces[k - 1].kind == spaces[k].kind)
                continue; /* variants on one space of each kind */
            assert_true(ncases < MAX_CASES);
            conf_case *c = &cases[ncases];
            c->m = m;
            c->kind = spaces[k].kind;
            c->space = k;
            c->params = json_is_null(params) ? NULL : json_incref(params);
            snprintf(c->label, sizeof c->label, "%s%s/%s", m->name, tag, spaces[k].label);
            if (c->params) {
                agora_world_config cfg = {.model = m, .space = make_space(k), .params = c->params, .seed = SEED};
                agora_world *w = NULL;
                agora_error err;
                const int rc = agora_world_create(&cfg, &w, &err);
                agora_world_destroy(w);
                if (rc == AGORA_EINVAL || rc == AGORA_ESCHEMA) {
                    print_message("%s: left out: %s\n", c->label, err.msg);
                    json_decref(c->params);
                    continue;
                }
            }
            ncases++;
        }
    }
    json_decref(variants);
}

int main(void)
{
    char cache[4096];
    snprintf(cache, sizeof cache, "%s", test_tmp_path("conformance_cache"));
    setenv("AGORA_CACHE_DIR", cache, 1);
    unsetenv("AGORA_RULES_NATIVE");
    {
        char cmd[4200];
        snprintf(cmd, sizeof cmd, "mkdir -p '%s'", test_tmp_path("conformance"));
        if (system(cmd) != 0)
            return 1;
    }

    load_rule_files(test_src_path("models"));
    const char *mpath = getenv("AGORA_MODEL_PATH");
    if (mpath && *mpath) {
        char *list = strdup(mpath), *save = NULL;
        for (char *p = strtok_r(list, ":", &save); p; p = strtok_r(NULL, ":", &save))
            load_rule_files(p);
        free(list);
    }
#ifdef AGORA_TEST_PLUGINS
    load_plugin(AGORA_TEST_PLUGINS "/voter.so");
#endif
    const char *extra = getenv("AGORA_PLUGINS");
    if (extra && *extra) {
        char *list = strdup(extra), *save = NULL;
        for (char *p = strtok_r(list, ":", &save); p; p = strtok_r(NULL, ":", &save))
            load_plugin(p);
        free(list);
    }

    int nreg = 0;
    const agora_model *const *reg = agora_models(&nreg);
    for (int i = 0; i < nreg; i++)
        add_cases(reg[i]);
    int nrules = 0;
    const agora_model **rules = agora__rules_list(&nrules);
    const int first_rule_case = ncases;
    for (int i = 0; i < nrules; i++)
        add_cases(rules[i]);
    for (int i = first_rule_case; i < ncases; i++) {
        const agora__rules_model *rm = agora__rules_of(cases[i].m);
        if (i > first_rule_case && cases[i - 1].m == cases[i].m)
            cases[i].interp = cases[i - 1].interp;
        else
            cases[i].interp = interp_twin(rm);
    }
    free(rules);

    static const struct {
        const char *name;
        CMUnitTestFunction fn;
        int rules_only;
    } checks[] = {{"threads", check_threads, 0},
                  {"metrics finite", check_metrics_finite, 0},
                  {"copy", check_copy, 0},
                  {"checkpoint", check_checkpoint, 0},
                  {"set_field", check_set_field, 0},
                  {"actions", check_actions, 0},
                  {"native vs interpreted", check_native, 1}};
    const int nchecks = (int)(sizeof checks / sizeof checks[0]);
    struct CMUnitTest *tests = calloc((size_t)ncases * (size_t)nchecks, sizeof *tests);
    char(*names)[400] = calloc((size_t)ncases * (size_t)nchecks, sizeof *names);
    size_t nt = 0;
    for (int i = 0; i < ncases; i++)
        for (int k = 0; k < nchecks; k++) {
            if (checks[k].rules_only && !cases[i].interp)
                continue;
            snprintf(names[nt], sizeof names[nt], "%s: %s", cases[i].label, checks[k].name);
            tests[nt].name = names[nt];
            tests[nt].test_func = checks[k].fn;
            tests[nt].initial_state = &cases[i];
            nt++;
        }
    print_message("conformance: %d models on %d (model, space) pairs, %zu tests\n", nreg + nrules, ncases, nt);
    const int rc = _cmocka_run_group_tests("conformance", tests, nt, NULL, NULL);
    free(tests);
    free(names);
    for (int i = 0; i < ncases; i++)
        json_decref(cases[i].params);
    return rc;
}
