/* agora — HDF5 helpers of the run file's writer and reader (h5internal.h): error plumbing (HDF5 silenced, its error
 * stack turned into an agora_error), attributes written and read back as JSON, and the JSON conversions the readers
 * share. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hdf5.h>
#include <hdf5_hl.h>

#include "agora/error.h"
#include "core/internal.h"
#include "io/h5internal.h"

/* ---- errors ---------------------------------------------------------------------------------------------------- */

void agora__h5_quiet_begin(agora__h5_quiet *q)
{
    q->func = NULL;
    q->data = NULL;
    if (H5Eget_auto2(H5E_DEFAULT, &q->func, &q->data) < 0) {
        q->func = NULL;
        q->data = NULL;
    }
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

void agora__h5_quiet_end(const agora__h5_quiet *q)
{
    H5Eset_auto2(H5E_DEFAULT, q->func, q->data);
}

typedef struct stack_text {
    char outer[192];
    char inner[256];
    int n;
    int os_errno; /* the operating system's error behind a failed read or write, 0 if none */
} stack_text;

static herr_t stack_walk(unsigned n, const H5E_error2_t *e, void *data)
{
    stack_text *s = data;
    const char *d = e->desc && *e->desc ? e->desc : (e->func_name ? e->func_name : "?");
    if (n == 0)
        snprintf(s->outer, sizeof s->outer, "%s", d);
    snprintf(s->inner, sizeof s->inner, "%s", d);
    s->n++;
    /* The sec2 driver reports a failed system call as "..., errno = 28, error message = '...', ...". */
    const char *en = strstr(d, "errno = ");
    if (en && !s->os_errno)
        s->os_errno = atoi(en + 8);
    return 0;
}

int agora__h5_fail(agora_error *err, int code, const char *where, const char *fmt, ...)
{
    stack_text s = {.n = 0};
    /* Walking downward visits the API call first and the most specific cause last; the two together say what
     * failed and why ("unable to create file" ... "errno = 13, error message = 'Permission denied'"). */
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, stack_walk, &s);
    /* An error of the operating system (a full disk, a file-size limit, a failing device) is an I/O error, said
     * in the system's words rather than in the driver's dump of its arguments. */
    if (s.os_errno > 0)
        code = AGORA_EIO;
    if (!err)
        return code;
    char what[256] = "";
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(what, sizeof what, fmt, ap);
        va_end(ap);
    }
    if (s.os_errno > 0)
        return agora_error_set(err, code, where, "%s: %s", what, strerror(s.os_errno));
    if (s.n == 0)
        return agora_error_set(err, code, where, "%s", what);
    if (s.n == 1 || strcmp(s.outer, s.inner) == 0)
        return agora_error_set(err, code, where, "%s: %s", what, s.outer);
    return agora_error_set(err, code, where, "%s: %s (%s)", what, s.outer, s.inner);
}

void agora__h5_close(hid_t *id)
{
    if (!id || *id < 0)
        return;
    switch (H5Iget_type(*id)) {
    case H5I_FILE:
        H5Fclose(*id);
        break;
    case H5I_GROUP:
        H5Gclose(*id);
        break;
    case H5I_DATASET:
        H5Dclose(*id);
        break;
    case H5I_ATTR:
        H5Aclose(*id);
        break;
    case H5I_DATATYPE:
        H5Tclose(*id);
        break;
    case H5I_DATASPACE:
        H5Sclose(*id);
        break;
    case H5I_GENPROP_LST:
        H5Pclose(*id);
        break;
    default:
        break;
    }
    *id = H5I_INVALID_HID;
}

/* ---- attributes ------------------------------------------------------------------------------------------------ */

int agora__h5_attr_scalar(hid_t loc, const char *name, hid_t file_type, hid_t mem_type, const void *value,
                          agora_error *err)
{
    hid_t space = H5I_INVALID_HID, attr = H5I_INVALID_HID;
    int rc = 0;
    htri_t exists = H5Aexists(loc, name);
    if (exists < 0 || (exists > 0 && H5Adelete(loc, name) < 0)) {
        rc = agora__h5_fail(err, AGORA_EHDF5, name, "cannot replace attribute %s", name);
        goto done;
    }
    if ((space = H5Screate(H5S_SCALAR)) < 0 ||
        (attr = H5Acreate2(loc, name, file_type, space, H5P_DEFAULT, H5P_DEFAULT)) < 0 ||
        H5Awrite(attr, mem_type, value) < 0) {
        rc = agora__h5_fail(err, AGORA_EHDF5, name, "cannot write attribute %s", name);
        goto done;
    }
done:
    agora__h5_close(&attr);
    agora__h5_close(&space);
    return rc;
}

int agora__h5_attr_text(hid_t loc, const char *name, const char *value, agora_error *err)
{
    const char *v = value ? value : "";
    hid_t type = H5Tcopy(H5T_C_S1);
    int rc = 0;
    if (type < 0 || H5Tset_size(type, H5T_VARIABLE) < 0 || H5Tset_cset(type, H5T_CSET_UTF8) < 0) {
        rc = agora__h5_fail(err, AGORA_EHDF5, name, "cannot make a string type");
        goto done;
    }
    rc = agora__h5_attr_scalar(loc, name, type, type, &v, err);
done:
    agora__h5_close(&type);
    return rc;
}

/* ---- small JSON helpers ---------------------------------------------------------------------------------------- */

/* JSON text from bytes that should be UTF-8; anything that is not (a foreign file) has its non-ASCII bytes
 * replaced by '?', because jansson only holds valid UTF-8. */
json_t *agora__h5_text_json(const char *s, size_t n)
{
    json_t *v = json_stringn(s, n);
    if (v)
        return v;
    char *copy = malloc(n + 1);
    if (!copy)
        return NULL;
    for (size_t i = 0; i < n; i++)
        copy[i] = (unsigned char)s[i] < 0x80 && s[i] != '\0' ? s[i] : '?';
    v = json_stringn(copy, n);
    free(copy);
    return v;
}

/* jansson cannot hold NaN or infinities; a metric that is undefined at a step reads as null. */
json_t *agora__h5_real_json(double x)
{
    return isfinite(x) ? json_real(x) : json_null();
}

/* ---- attributes ------------------------------------------------------------------------------------------------ */

/* One attribute's value as JSON, or NULL after filling err. */
static json_t *attr_json(hid_t attr, const char *name, agora_error *err)
{
    hid_t type = H5I_INVALID_HID, space = H5I_INVALID_HID, mtype = H5I_INVALID_HID;
    json_t *out = NULL, *list = NULL;
    void *buf = NULL;
    if ((type = H5Aget_type(attr)) < 0 || (space = H5Aget_space(attr)) < 0) {
        agora__h5_fail(err, AGORA_EHDF5, name, "cannot read attribute %s", name);
        goto done;
    }
    H5S_class_t shape = H5Sget_simple_extent_type(space);
    hssize_t n = H5Sget_simple_extent_npoints(space);
    if (shape == H5S_NULL || n <= 0) {
        out = json_null();
        goto done;
    }
    H5T_class_t cls = H5Tget_class(type);
    list = json_array();
    if (!list)
        goto nomem;
    if (cls == H5T_INTEGER || cls == H5T_FLOAT) {
        int is_unsigned = cls == H5T_INTEGER && H5Tget_sign(type) == H5T_SGN_NONE;
        hid_t native = cls == H5T_FLOAT ? H5T_NATIVE_DOUBLE : is_unsigned ? H5T_NATIVE_UINT64 : H5T_NATIVE_INT64;
        buf = calloc((size_t)n, 8);
        if (!buf)
            goto nomem;
        if (H5Aread(attr, native, buf) < 0) {
            agora__h5_fail(err, AGORA_EHDF5, name, "cannot read attribute %s", name);
            goto done;
        }
        for (hssize_t k = 0; k < n; k++) {
            json_t *v;
            if (cls == H5T_FLOAT) {
                v = agora__h5_real_json(((double *)buf)[k]);
            } else if (is_unsigned && ((uint64_t *)buf)[k] > (uint64_t)INT64_MAX) {
                char text[32];
                snprintf(text, sizeof text, "%llu", (unsigned long long)((uint64_t *)buf)[k]);
                v = json_string(text);
            } else {
                v = json_integer((json_int_t)((int64_t *)buf)[k]);
            }
            if (json_array_append_new(list, v) < 0)
                goto nomem;
        }
    } else if (cls == H5T_STRING && H5Tis_variable_str(type) > 0) {
        char **strs = calloc((size_t)n, sizeof *strs);
        buf = strs;
        if (!strs)
            goto nomem;
        if ((mtype = H5Tcopy(H5T_C_S1)) < 0 || H5Tset_size(mtype, H5T_VARIABLE) < 0 ||
            H5Tset_cset(mtype, H5Tget_cset(type)) < 0 || H5Aread(attr, mtype, strs) < 0) {
            agora__h5_fail(err, AGORA_EHDF5, name, "cannot read attribute %s", name);
            goto done;
        }
        int bad = 0;
        for (hssize_t k = 0; k < n && !bad; k++)
            bad = json_array_append_new(list,
                                        agora__h5_text_json(strs[k] ? strs[k] : "", strs[k] ? strlen(strs[k]) : 0)) < 0;
        H5Dvlen_reclaim(mtype, space, H5P_DEFAULT, strs);
        if (bad)
            goto nomem;
    } else if (cls == H5T_STRING) {
        size_t size = H5Tget_size(type);
        buf = calloc((size_t)n * size + 1, 1);
        if (!buf)
            goto nomem;
        if ((mtype = H5Tcopy(type)) < 0 || H5Aread(attr, mtype, buf) < 0) {
            agora__h5_fail(err, AGORA_EHDF5, name, "cannot read attribute %s", name);
            goto done;
        }
        for (hssize_t k = 0; k < n; k++) {
            const char *s = (const char *)buf + (size_t)k * size;
            if (json_array_append_new(list, agora__h5_text_json(s, strnlen(s, size))) < 0)
                goto nomem;
        }
    } else {
        /* References, compounds and the like have no plain JSON form. */
        for (hssize_t k = 0; k < n; k++)
            json_array_append_new(list, json_null());
    }
    if (shape == H5S_SCALAR && json_array_size(list) == 1)
        out = json_incref(json_array_get(list, 0));
    else
        out = json_incref(list);
    goto done;
nomem:
    agora_error_set(err, AGORA_ENOMEM, name, "out of memory");
done:
    json_decref(list);
    free(buf);
    agora__h5_close(&mtype);
    agora__h5_close(&type);
    agora__h5_close(&space);
    return out;
}

typedef struct attr_walk {
    json_t *obj;
    const char *const *json_names;
    agora_error *err;
    int rc;
} attr_walk;

static int is_listed(const char *const *names, const char *name)
{
    for (; names && *names; names++)
        if (!strcmp(*names, name))
            return 1;
    return 0;
}

static herr_t attr_visit(hid_t loc, const char *name, const H5A_info_t *info, void *data)
{
    (void)info;
    attr_walk *w = data;
    hid_t attr = H5Aopen(loc, name, H5P_DEFAULT);
    if (attr < 0) {
        w->rc = agora__h5_fail(w->err, AGORA_EHDF5, name, "cannot open attribute %s", name);
        return -1;
    }
    json_t *v = attr_json(attr, name, w->err);
    H5Aclose(attr);
    if (!v) {
        w->rc = w->err ? w->err->code : AGORA_EHDF5;
        return -1;
    }
    if (json_is_string(v) && is_listed(w->json_names, name)) {
        json_t *parsed = json_loadb(json_string_value(v), json_string_length(v), JSON_DECODE_ANY, NULL);
        if (parsed) {
            json_decref(v);
            v = parsed;
        }
    }
    json_object_set_new(w->obj, name, v);
    return 0;
}

int agora__h5_attrs_json(hid_t loc, const char *const *json_names, json_t **out, agora_error *err)
{
    attr_walk w = {.obj = json_object(), .json_names = json_names, .err = err, .rc = 0};
    *out = NULL;
    if (!w.obj)
        return agora_error_set(err, AGORA_ENOMEM, NULL, "out of memory");
    hsize_t idx = 0;
    /* Creation order when the object tracks it (agora's files do), else by name. */
    herr_t h = H5Aiterate2(loc, H5_INDEX_CRT_ORDER, H5_ITER_INC, &idx, attr_visit, &w);
    if (h < 0 && w.rc == 0 && idx == 0) {
        idx = 0;
        h = H5Aiterate2(loc, H5_INDEX_NAME, H5_ITER_INC, &idx, attr_visit, &w);
    }
    if (h < 0) {
        int rc = w.rc ? w.rc : agora__h5_fail(err, AGORA_EHDF5, NULL, "cannot list attributes");
        json_decref(w.obj);
        return rc;
    }
    *out = w.obj;
    return 0;
}
