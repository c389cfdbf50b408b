/* agora — the model SDK: the per-agent arrays and the scalar block of a model that declares them
 * (agora_model.sdk), and the generic field, copy, save, load and set_field hooks over them.
 *
 * The world (world.c) creates the store before the model's init, swaps the double buffers after each step and frees
 * the store with the world; everything else about the arrays is here. Each array is one zero-filled allocation
 * aligned to 64 bytes (a cache line, and the widest vector load), its length fixed by the declaration and the space;
 * an ON_DEMAND array is allocated the first time the model enables it. Nothing here runs inside a step. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agora/agora.h"
#include "core/internal.h"

#define ALIGN 64
#define LAYOUT_VERSION 0x41474f5253444b31ull /* "AGORSDK1": the save format of this file */

typedef struct sdk_array {
    void *raw[2]; /* what calloc returned, for free */
    void *buf[2]; /* cur, next (next only for AGORA_FIELD_DOUBLE) */
    int64_t len;  /* elements this world's space gives the array (even before an ON_DEMAND array exists) */
    size_t elem;  /* bytes per element */
} sdk_array;

struct agora__sdk {
    const agora_model *model;
    const agora_model_sdk *decl;
    int nf, nsnap;
    int snap[64]; /* public field index -> declaration index */
    void *scalars_raw, *scalars;
    sdk_array a[];
};

/* ---- allocation ---------------------------------------------------------------------------------------------- */

static void *alloc_aligned(size_t bytes, void **raw)
{
    *raw = calloc(1, bytes + ALIGN);
    if (!*raw)
        return NULL;
    return (void *)(((uintptr_t)*raw + ALIGN - 1) & ~(uintptr_t)(ALIGN - 1));
}

static int64_t extent_of(const agora_field_decl *f, const agora_space *sp)
{
    if (f->spaces && !(f->spaces & AGORA_SPACES_FLAG(sp->kind)))
        return 0;
    int64_t e = 0;
    switch (f->extent) {
    case AGORA_EXTENT_AGENTS:
        e = sp->n;
        break;
    case AGORA_EXTENT_EDGES:
        e = sp->kind == AGORA_SPACE_GRAPH ? sp->graph.offsets[sp->n] : 0;
        break;
    case AGORA_EXTENT_DEGREE:
        if (sp->kind == AGORA_SPACE_GRID) {
            e = sp->grid.nbhd == AGORA_MOORE ? 9 : 5;
        } else if (sp->kind == AGORA_SPACE_GRAPH) {
            int64_t d = 0;
            for (int64_t i = 0; i < sp->n; i++)
                if (sp->graph.offsets[i + 1] - sp->graph.offsets[i] > d)
                    d = sp->graph.offsets[i + 1] - sp->graph.offsets[i];
            e = d + 1;
        } else {
            e = sp->n;
        }
        break;
    case AGORA_EXTENT_ROW:
        e = sp->kind == AGORA_SPACE_GRID ? sp->grid.width : 0;
        break;
    case AGORA_EXTENT_ONE:
        e = 1;
        break;
    }
    const int64_t group = f->group > 0 ? f->group : 1, mult = f->mult > 0 ? f->mult : 1;
    return mult * ((e + group - 1) / group) + f->add;
}

static int array_alloc(agora__sdk *s, int f, agora_error *err)
{
    sdk_array *a = &s->a[f];
    const agora_field_decl *d = &s->decl->fields[f];
    if (a->buf[0] || a->len <= 0)
        return 0;
    const size_t bytes = (size_t)a->len * a->elem;
    for (int b = 0; b < ((d->flags & AGORA_FIELD_DOUBLE) ? 2 : 1); b++)
        if (!(a->buf[b] = alloc_aligned(bytes, &a->raw[b]))) {
            free(a->raw[0]);
            a->raw[0] = a->buf[0] = NULL;
            return agora_error_set(err, AGORA_ENOMEM, s->model->name,
                                   "out of memory for the field %s (%lld x %zu bytes)", d->name, (long long)a->len,
                                   a->elem);
        }
    return 0;
}

static void array_free(sdk_array *a)
{
    for (int b = 0; b < 2; b++) {
        free(a->raw[b]);
        a->raw[b] = a->buf[b] = NULL;
    }
}

/* A declaration the kernel cannot serve is the model's bug: said once, at world creation. */
static int check_decl(const agora_model *m, agora_error *err)
{
    const agora_model_sdk *sdk = m->sdk;
    int nsnap = 0, nf = 0;
    for (const agora_field_decl *f = sdk->fields; f && f->name; f++, nf++) {
        const char *why = NULL;
        const unsigned fl = f->flags;
        if (!strcmp(f->name, "world") || !strcmp(f->name, "layout") || !strcmp(f->name, "scalars"))
            why = "has a name the kernel's own parts of a saved state use";
        else if (f->type ? agora_dtype_size(f->type) <= 0 : f->elem == 0)
            why = "has neither a type nor an element size";
        else if ((fl & AGORA_FIELD_SNAPSHOT) &&
                 (!f->type || (fl & (AGORA_FIELD_ON_DEMAND | AGORA_FIELD_SCRATCH)) ||
                  f->extent != AGORA_EXTENT_AGENTS || f->group > 1 || f->mult > 1 || f->add || f->spaces))
            why = "is a snapshot field but not one typed value per agent on every space";
        else if ((fl & AGORA_FIELD_WRITABLE) && !(fl & AGORA_FIELD_SNAPSHOT))
            why = "is writable but not a snapshot field";
        else if ((fl & AGORA_FIELD_WRITABLE) && !(f->min <= f->max))
            why = "is writable with an empty domain";
        else if ((fl & AGORA_FIELD_WRITABLE) && f->type != AGORA_DTYPE_U8 && f->type != AGORA_DTYPE_I32 &&
                 f->type != AGORA_DTYPE_F32 && f->type != AGORA_DTYPE_F64 && f->type != AGORA_DTYPE_I64)
            why = "is writable but of a type set_field cannot convert to"; /* read_value / write_value below */
        else if ((fl & AGORA_FIELD_SNAPSHOT) &&
                 (!m->fields || !m->fields[nsnap].name || strcmp(m->fields[nsnap].name, f->name) != 0 ||
                  m->fields[nsnap].type != f->type))
            why = "is not the next of the model's public fields, with that type";
        if (why)
            return agora_error_set(err, AGORA_EINTERNAL, "model", "the model %s: the declared field %s %s", m->name,
                                   f->name, why);
        nsnap += (fl & AGORA_FIELD_SNAPSHOT) != 0;
    }
    if (nsnap != agora_model_n_fields(m) || nsnap > 64 || nf > 1024)
        return agora_error_set(err, AGORA_EINTERNAL, "model",
                               "the model %s declares %d snapshot fields for its %d public fields", m->name, nsnap,
                               agora_model_n_fields(m));
    return 0;
}

int agora__sdk_create(const agora_model *m, const agora_space *sp, agora__sdk **out, agora_error *err)
{
    *out = NULL;
    int rc = check_decl(m, err);
    if (rc)
        return rc;
    int nf = 0;
    while (m->sdk->fields && m->sdk->fields[nf].name)
        nf++;
    agora__sdk *s = calloc(1, sizeof *s + (size_t)nf * sizeof s->a[0]);
    if (!s)
        return agora_error_set(err, AGORA_ENOMEM, m->name, "out of memory");
    s->model = m;
    s->decl = m->sdk;
    s->nf = nf;
    for (int f = 0; f < nf; f++) {
        const agora_field_decl *d = &m->sdk->fields[f];
        s->a[f].elem = d->type ? (size_t)agora_dtype_size(d->type) : d->elem;
        s->a[f].len = extent_of(d, sp);
        if (d->flags & AGORA_FIELD_SNAPSHOT)
            s->snap[s->nsnap++] = f;
        if (!(d->flags & AGORA_FIELD_ON_DEMAND) && (rc = array_alloc(s, f, err)) != 0)
            goto done;
    }
    if (m->sdk->scalars && !(s->scalars = alloc_aligned(m->sdk->scalars, &s->scalars_raw)))
        rc = agora_error_set(err, AGORA_ENOMEM, m->name, "out of memory");
done:
    if (rc) {
        agora__sdk_destroy(s);
        return rc;
    }
    *out = s;
    return 0;
}

void agora__sdk_destroy(agora__sdk *s)
{
    if (!s)
        return;
    for (int f = 0; f < s->nf; f++)
        array_free(&s->a[f]);
    free(s->scalars_raw);
    free(s);
}

void agora__sdk_swap(agora__sdk *s)
{
    for (int f = 0; f < s->nf; f++)
        if (s->a[f].buf[1]) {
            void *t = s->a[f].buf[0];
            s->a[f].buf[0] = s->a[f].buf[1];
            s->a[f].buf[1] = t;
        }
}

/* ---- accessors ----------------------------------------------------------------------------------------------- */

static sdk_array *array_of(const agora_world *w, int f)
{
    agora__sdk *s = agora__world_sdk(w);
    return s && f >= 0 && f < s->nf ? &s->a[f] : NULL;
}

void *agora_sdk_cur(const agora_world *w, int f)
{
    const sdk_array *a = array_of(w, f);
    return a ? a->buf[0] : NULL;
}

void *agora_sdk_next(const agora_world *w, int f)
{
    const sdk_array *a = array_of(w, f);
    return a ? a->buf[1] : NULL;
}

void *agora_sdk_scalars(const agora_world *w)
{
    const agora__sdk *s = agora__world_sdk(w);
    return s ? s->scalars : NULL;
}

int64_t agora_sdk_length(const agora_world *w, int f)
{
    const sdk_array *a = array_of(w, f);
    return a && a->buf[0] ? a->len : 0;
}

int agora_sdk_enable(agora_world *w, int f, agora_error *err)
{
    agora__sdk *s = agora__world_sdk(w);
    if (!s || f < 0 || f >= s->nf)
        return agora_error_set(err, AGORA_EINVAL, "field", "no declared field %d", f);
    return array_alloc(s, f, err);
}

int64_t agora_sdk_bytes(const agora_world *w)
{
    const agora__sdk *s = agora__world_sdk(w);
    if (!s)
        return 0;
    int64_t b = (int64_t)s->decl->scalars;
    for (int f = 0; f < s->nf; f++)
        for (int k = 0; k < 2; k++)
            b += s->a[f].buf[k] ? s->a[f].len * (int64_t)s->a[f].elem : 0;
    return b;
}

/* ---- the generic hooks --------------------------------------------------------------------------------------- */

const void *agora_sdk_field(const agora_world *w, int i)
{
    const agora__sdk *s = agora__world_sdk(w);
    return s && i >= 0 && i < s->nsnap ? s->a[s->snap[i]].buf[0] : NULL;
}

static int kept(const agora__sdk *s, int f)
{
    return !(s->decl->fields[f].flags & AGORA_FIELD_SCRATCH);
}

int agora_sdk_copy(const agora_world *src, agora_world *dst, agora_error *err)
{
    const agora__sdk *s = agora__world_sdk(src);
    agora__sdk *d = agora__world_sdk(dst);
    if (!s || !d || s->decl != d->decl)
        return agora_error_set(err, AGORA_EINVAL, "model", "agora_sdk_copy needs two worlds of one SDK model");
    /* Arrays that exist in src only are allocated first, so that a failure leaves dst as init made it. */
    int rc;
    for (int f = 0; f < s->nf; f++)
        if (kept(s, f) && s->a[f].buf[0] && (rc = array_alloc(d, f, err)) != 0)
            return rc;
    for (int f = 0; f < s->nf; f++) {
        if (!kept(s, f))
            continue;
        if (!s->a[f].buf[0])
            array_free(&d->a[f]); /* src never enabled it: neither has the copy */
        else
            memcpy(d->a[f].buf[0], s->a[f].buf[0], (size_t)s->a[f].len * s->a[f].elem);
    }
    if (s->decl->scalars)
        memcpy(d->scalars, s->scalars, s->decl->scalars);
    return s->decl->copied ? s->decl->copied(src, dst, err) : 0;
}

/* The "layout" part: the format, the scalar block's size and, per declared array, whether it exists and its bytes.
 * A load compares it with its own world first, so that another configuration is refused by name. */
static int layout_size(const agora__sdk *s)
{
    return 3 + 2 * s->nf;
}

static void layout_fill(const agora__sdk *s, uint64_t *lay)
{
    lay[0] = LAYOUT_VERSION;
    lay[1] = s->decl->scalars;
    lay[2] = (uint64_t)s->nf;
    for (int f = 0; f < s->nf; f++) {
        lay[3 + 2 * f] = kept(s, f) && s->a[f].buf[0];
        lay[4 + 2 * f] = (uint64_t)s->a[f].len * s->a[f].elem;
    }
}

int agora_sdk_save(const agora_world *w, const agora_state *st, agora_error *err)
{
    const agora__sdk *s = agora__world_sdk(w);
    if (!s)
        return agora_error_set(err, AGORA_EINVAL, "model", "agora_sdk_save needs a world of an SDK model");
    uint64_t *lay = malloc((size_t)layout_size(s) * sizeof *lay);
    if (!lay)
        return agora_error_set(err, AGORA_ENOMEM, "state", "out of memory");
    layout_fill(s, lay);
    int rc = st->put(st->ud, "layout", lay, (size_t)layout_size(s) * sizeof *lay, err);
    free(lay);
    if (rc || (s->decl->scalars && (rc = st->put(st->ud, "scalars", s->scalars, s->decl->scalars, err))))
        return rc;
    for (int f = 0; f < s->nf && !rc; f++)
        if (kept(s, f) && s->a[f].buf[0])
            rc = st->put(st->ud, s->decl->fields[f].name, s->a[f].buf[0], (size_t)s->a[f].len * s->a[f].elem, err);
    return rc;
}

int agora_sdk_load(agora_world *w, const agora_state *st, agora_error *err)
{
    agora__sdk *s = agora__world_sdk(w);
    if (!s)
        return agora_error_set(err, AGORA_EINVAL, "model", "agora_sdk_load needs a world of an SDK model");
    const size_t lbytes = (size_t)layout_size(s) * sizeof(uint64_t);
    uint64_t *lay = malloc(lbytes), *mine = malloc(lbytes);
    int rc = 0;
    if (!lay || !mine) {
        rc = agora_error_set(err, AGORA_ENOMEM, "state", "out of memory");
        goto done;
    }
    if ((rc = st->get(st->ud, "layout", lay, lbytes, err)) != 0)
        goto done;
    layout_fill(s, mine);
    if (lay[0] != mine[0] || lay[1] != mine[1] || lay[2] != mine[2]) {
        rc = agora_error_set(err, AGORA_EINVAL, "state", "the saved state is not one of the model %s in this version",
                             s->model->name);
        goto done;
    }
    for (int f = 0; f < s->nf; f++) {
        if (!kept(s, f))
            continue;
        if (lay[3 + 2 * f] && lay[4 + 2 * f] != mine[4 + 2 * f]) {
            rc = agora_error_set(err, AGORA_EINVAL, "state",
                                 "the saved %s holds %llu bytes, this world's %llu: not "
                                 "the same configuration",
                                 s->decl->fields[f].name, (unsigned long long)lay[4 + 2 * f],
                                 (unsigned long long)mine[4 + 2 * f]);
            goto done;
        }
        if (!lay[3 + 2 * f])
            array_free(&s->a[f]);
        else if ((rc = array_alloc(s, f, err)) != 0)
            goto done;
    }
    if (s->decl->scalars && (rc = st->get(st->ud, "scalars", s->scalars, s->decl->scalars, err)) != 0)
        goto done;
    for (int f = 0; f < s->nf && !rc; f++)
        if (kept(s, f) && s->a[f].buf[0])
            rc = st->get(st->ud, s->decl->fields[f].name, s->a[f].buf[0], (size_t)s->a[f].len * s->a[f].elem, err);
    if (rc == 0 && s->decl->loaded)
        rc = s->decl->loaded(w, err);
done:
    free(lay);
    free(mine);
    return rc;
}

static double read_value(const void *buf, agora_dtype type, int64_t i)
{
    switch (type) {
    case AGORA_DTYPE_U8:
        return ((const uint8_t *)buf)[i];
    case AGORA_DTYPE_I32:
        return ((const int32_t *)buf)[i];
    case AGORA_DTYPE_F32:
        return ((const float *)buf)[i];
    case AGORA_DTYPE_I64:
        return (double)((const int64_t *)buf)[i];
    default:
        return ((const double *)buf)[i];
    }
}

static void write_value(void *buf, agora_dtype type, int64_t i, double v)
{
    switch (type) {
    case AGORA_DTYPE_U8:
        ((uint8_t *)buf)[i] = (uint8_t)v;
        break;
    case AGORA_DTYPE_I32:
        ((int32_t *)buf)[i] = (int32_t)v;
        break;
    case AGORA_DTYPE_F32:
        ((float *)buf)[i] = v == 0.0 ? 0.0f : (float)v; /* -0 is stored as 0 */
        break;
    case AGORA_DTYPE_I64:
        ((int64_t *)buf)[i] = (int64_t)v;
        break;
    default:
        ((double *)buf)[i] = v == 0.0 ? 0.0 : v;
        break;
    }
}

int agora_sdk_set_field(agora_world *w, int i, const int64_t *ids, int64_t count, const double *values,
                        agora_error *err)
{
    agora__sdk *s = agora__world_sdk(w);
    if (!s || i < 0 || i >= s->nsnap)
        return agora_error_set(err, AGORA_EINVAL, "field", "no field %d", i);
    const int f = s->snap[i];
    const agora_field_decl *d = &s->decl->fields[f];
    if (!(d->flags & AGORA_FIELD_WRITABLE)) {
        agora__buf rw = {0};
        for (int k = 0; k < s->nsnap; k++)
            if (s->decl->fields[s->snap[k]].flags & AGORA_FIELD_WRITABLE)
                agora__buf_add(&rw, "%s%s", rw.n ? ", " : "", s->decl->fields[s->snap[k]].name);
        int rc =
            agora_error_set(err, AGORA_EUNSUPPORTED, "field", "the field %s of the model %s is read-only%s%s%s",
                            d->name, s->model->name, rw.n ? " (writable: " : "", rw.n ? rw.s : "", rw.n ? ")" : "");
        free(rw.s);
        return rc;
    }
    const int integral = d->type == AGORA_DTYPE_U8 || d->type == AGORA_DTYPE_I32 || d->type == AGORA_DTYPE_I64;
    for (int64_t q = 0; q < count; q++) {
        const double v = values[q];
        if (!isfinite(v) || v < d->min || v > d->max || (integral && v != floor(v)))
            return agora_error_set(err, AGORA_EINVAL, "values", "values[%lld] = %g (agent %lld): %s", (long long)q, v,
                                   (long long)ids[q], d->domain ? d->domain : "outside the field's domain");
    }
    int rc;
    if (s->decl->check && (rc = s->decl->check(w, f, ids, count, values, err)) != 0)
        return rc;
    double *old = NULL;
    if (s->decl->written && count > 0 && !(old = malloc((size_t)count * sizeof *old)))
        return agora_error_set(err, AGORA_ENOMEM, "values", "out of memory");
    void *cur = s->a[f].buf[0];
    for (int64_t q = 0; q < count; q++) {
        if (old)
            old[q] = read_value(cur, d->type, ids[q]);
        write_value(cur, d->type, ids[q], values[q]);
    }
    if (s->decl->written)
        s->decl->written(w, f, ids, count, old, values);
    free(old);
    return 0;
}
