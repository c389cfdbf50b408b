/* agora — a small JSON Schema validator over jansson (see agora/schema.h).
 *
 * This file owns the checking of schemas (only the supported keywords, with well-formed values) and the validation
 * of instances against them. It is used for models' action schemas — what personas, scenario interventions and MCP
 * clients may ask a model to do — so its messages are written for the person (or LLM) who has to fix the value:
 * they name the dotted path of the offending value and say what was expected and what was found.
 *
 * Design notes:
 * - Each keyword reports its own failure ("expected a number <= 1, got 2"), checked in a fixed order: type first,
 *   then the keyword-specific constraints, then the children, then the combinators.
 * - anyOf/oneOf usually list the forms of a tagged union (SIR: one object per action, told apart by
 *   "action": {"const": ...}). A plain "no branch matched" helps nobody, so when every branch is an object with a
 *   `const` on the same property, the branch the instance names is the one whose error is reported, and an
 *   instance that names none gets the list of names. Otherwise the branch that got deepest into the instance
 *   reports, and failures that all sit at the instance itself are merged ("expected a string or an integer").
 * - agora_schema_validate checks the schema first and returns AGORA_EINVAL for a malformed one: a schema that
 *   silently meant less than it says would let bad actions through.
 * - Numbers compare by value, so 1 and 1.0 are equal for enum and const, as JSON Schema says. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agora/schema.h"
#include "core/internal.h"

#define PATH_MAX_LEN 256

/* ---- paths ------------------------------------------------------------------------------------------------------- */

/* A dotted path under construction, in a fixed buffer; child paths are appended and cut back. Paths longer than
 * the buffer are cut short, which only shortens messages. */
typedef struct path_buf {
    char s[PATH_MAX_LEN];
    size_t n;
} path_buf;

static size_t path_push_key(path_buf *p, const char *key)
{
    size_t old = p->n;
    int w = snprintf(p->s + p->n, sizeof p->s - p->n, "%s%s", p->n ? "." : "", key);
    if (w > 0)
        p->n = p->n + (size_t)w < sizeof p->s ? p->n + (size_t)w : sizeof p->s - 1;
    return old;
}

static size_t path_push_index(path_buf *p, size_t i)
{
    size_t old = p->n;
    int w = snprintf(p->s + p->n, sizeof p->s - p->n, "[%zu]", i);
    if (w > 0)
        p->n = p->n + (size_t)w < sizeof p->s ? p->n + (size_t)w : sizeof p->s - 1;
    return old;
}

static void path_pop(path_buf *p, size_t old)
{
    p->n = old;
    p->s[old] = '\0';
}

/* ---- small helpers ----------------------------------------------------------------------------------------------- */

static const char *const type_names[] = {"null", "boolean", "object", "array", "number", "integer", "string"};
#define N_TYPES (sizeof type_names / sizeof type_names[0])

static int is_type_name(const char *s)
{
    for (size_t i = 0; i < N_TYPES; i++)
        if (strcmp(type_names[i], s) == 0)
            return 1;
    return 0;
}

/* A type name in words, for "expected ..." messages. */
static const char *type_words(const char *t)
{
    if (strcmp(t, "null") == 0)
        return "null";
    if (strcmp(t, "boolean") == 0)
        return "true or false";
    if (strcmp(t, "object") == 0)
        return "an object";
    if (strcmp(t, "array") == 0)
        return "a list";
    if (strcmp(t, "number") == 0)
        return "a number";
    if (strcmp(t, "integer") == 0)
        return "an integer";
    return "a string";
}

static int is_whole(double x)
{
    return isfinite(x) && x == floor(x);
}

static int has_type(const json_t *v, const char *t)
{
    if (strcmp(t, "null") == 0)
        return json_is_null(v);
    if (strcmp(t, "boolean") == 0)
        return json_is_boolean(v);
    if (strcmp(t, "object") == 0)
        return json_is_object(v);
    if (strcmp(t, "array") == 0)
        return json_is_array(v);
    if (strcmp(t, "number") == 0)
        return json_is_number(v);
    if (strcmp(t, "integer") == 0)
        return json_is_integer(v) || (json_is_real(v) && is_whole(json_real_value(v)));
    if (strcmp(t, "string") == 0)
        return json_is_string(v);
    return 0;
}

/* Whole numbers are written out in full (1000000000000, not 1e+12); others with %g. */
static const char *fmt_num(double x, char *buf, size_t size)
{
    if (is_whole(x) && fabs(x) < 1e15)
        snprintf(buf, size, "%.0f", x);
    else
        snprintf(buf, size, "%g", x);
    return buf;
}

/* JSON equality where numbers compare by value (1 == 1.0). */
static int values_equal(const json_t *a, const json_t *b)
{
    if (json_is_number(a) && json_is_number(b)) {
        if (json_is_integer(a) && json_is_integer(b))
            return json_integer_value(a) == json_integer_value(b);
        return json_number_value(a) == json_number_value(b);
    }
    if (json_typeof(a) != json_typeof(b))
        return 0;
    if (json_is_array(a)) {
        if (json_array_size(a) != json_array_size(b))
            return 0;
        for (size_t i = 0; i < json_array_size(a); i++)
            if (!values_equal(json_array_get(a, i), json_array_get(b, i)))
                return 0;
        return 1;
    }
    if (json_is_object(a)) {
        if (json_object_size(a) != json_object_size(b))
            return 0;
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)a, k, v) {
            const json_t *w = json_object_get(b, k);
            if (!w || !values_equal(v, w))
                return 0;
        }
        return 1;
    }
    return json_equal((json_t *)a, (json_t *)b);
}

/* The number of Unicode code points in a UTF-8 string (JSON Schema counts characters, not bytes). */
static size_t utf8_length(const char *s, size_t bytes)
{
    size_t n = 0;
    for (size_t i = 0; i < bytes; i++)
        n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}

/* ---- agora_schema_check ------------------------------------------------------------------------------------------ */

static int check_schema(const json_t *s, path_buf *p, agora_error *err);

static int bad_keyword(path_buf *p, const char *kw, agora_error *err, const char *what, const json_t *got)
{
    char brief[96];
    size_t old = path_push_key(p, kw);
    int rc = agora_error_set(err, AGORA_ESCHEMA, p->s, "expected %s, got %s", what,
                             agora__json_brief(got, brief, sizeof brief));
    path_pop(p, old);
    return rc;
}

static int check_schema_list(const json_t *v, const char *kw, path_buf *p, agora_error *err)
{
    if (!json_is_array(v) || json_array_size(v) == 0)
        return bad_keyword(p, kw, err, "a non-empty list of schemas", v);
    size_t old = path_push_key(p, kw);
    for (size_t i = 0; i < json_array_size(v); i++) {
        size_t o2 = path_push_index(p, i);
        int rc = check_schema(json_array_get(v, i), p, err);
        if (rc)
            return rc;
        path_pop(p, o2);
    }
    path_pop(p, old);
    return 0;
}

static int check_count(const json_t *v, const char *kw, path_buf *p, agora_error *err)
{
    if (!has_type(v, "integer") || json_number_value(v) < 0)
        return bad_keyword(p, kw, err, "a whole number >= 0", v);
    return 0;
}

static int check_schema(const json_t *s, path_buf *p, agora_error *err)
{
    /* true and false are schemas too (accept everything / nothing). */
    if (json_is_boolean(s))
        return 0;
    if (!json_is_object(s)) {
        char brief[96];
        return agora_error_set(err, AGORA_ESCHEMA, p->s, "expected a schema (an object or true/false), got %s",
                               agora__json_brief(s, brief, sizeof brief));
    }
    const char *kw;
    json_t *v;
    int rc;
    json_object_foreach((json_t *)s, kw, v) {
        if (strcmp(kw, "title") == 0 || strcmp(kw, "description") == 0 || strcmp(kw, "default") == 0 ||
            strcmp(kw, "examples") == 0 || strcmp(kw, "const") == 0)
            continue;
        if (strcmp(kw, "type") == 0) {
            int ok = json_is_string(v) && is_type_name(json_string_value(v));
            if (json_is_array(v) && json_array_size(v) > 0) {
                ok = 1;
                for (size_t i = 0; i < json_array_size(v); i++) {
                    const json_t *t = json_array_get(v, i);
                    ok &= json_is_string(t) && is_type_name(json_string_value(t));
                }
            }
            if (!ok)
                return bad_keyword(p, kw, err,
                                   "a type name (null, boolean, object, array, number, integer, string) or a list "
                                   "of them",
                                   v);
        } else if (strcmp(kw, "enum") == 0) {
            if (!json_is_array(v) || json_array_size(v) == 0)
                return bad_keyword(p, kw, err, "a non-empty list of values", v);
        } else if (strcmp(kw, "minimum") == 0 || strcmp(kw, "maximum") == 0 || strcmp(kw, "exclusiveMinimum") == 0 ||
                   strcmp(kw, "exclusiveMaximum") == 0) {
            if (!json_is_number(v))
                return bad_keyword(p, kw, err, "a number", v);
        } else if (strcmp(kw, "minLength") == 0 || strcmp(kw, "maxLength") == 0 || strcmp(kw, "minItems") == 0 ||
                   strcmp(kw, "maxItems") == 0) {
            if ((rc = check_count(v, kw, p, err)) != 0)
                return rc;
        } else if (strcmp(kw, "items") == 0 || strcmp(kw, "additionalProperties") == 0) {
            size_t old = path_push_key(p, kw);
            if ((rc = check_schema(v, p, err)) != 0)
                return rc;
            path_pop(p, old);
        } else if (strcmp(kw, "properties") == 0) {
            if (!json_is_object(v))
                return bad_keyword(p, kw, err, "an object of schemas", v);
            size_t old = path_push_key(p, kw);
            const char *name;
            json_t *sub;
            json_object_foreach(v, name, sub) {
                size_t o2 = path_push_key(p, name);
                if ((rc = check_schema(sub, p, err)) != 0)
                    return rc;
                path_pop(p, o2);
            }
            path_pop(p, old);
        } else if (strcmp(kw, "required") == 0) {
            int ok = json_is_array(v);
            for (size_t i = 0; ok && i < json_array_size(v); i++)
                ok = json_is_string(json_array_get(v, i));
            if (!ok)
                return bad_keyword(p, kw, err, "a list of key names", v);
        } else if (strcmp(kw, "anyOf") == 0 || strcmp(kw, "oneOf") == 0 || strcmp(kw, "allOf") == 0) {
            if ((rc = check_schema_list(v, kw, p, err)) != 0)
                return rc;
        } else {
            return agora_error_set(err, AGORA_ESCHEMA, p->s, "unsupported keyword \"%s\"", kw);
        }
    }
    return 0;
}

int agora_schema_check(const json_t *schema, agora_error *err)
{
    path_buf p = {.n = 0};
    p.s[0] = '\0';
    if (!schema)
        return agora_error_set(err, AGORA_ESCHEMA, "", "expected a schema, got nothing");
    return check_schema(schema, &p, err);
}

/* ---- agora_schema_validate --------------------------------------------------------------------------------------- */

static int validate(const json_t *s, const json_t *v, path_buf *p, agora_error *err);

static int fail(agora_error *err, const path_buf *p, const json_t *got, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* Sets "<expected>, got <brief of the value>" at the current path. */
static int fail(agora_error *err, const path_buf *p, const json_t *got, const char *fmt, ...)
{
    if (!err)
        return AGORA_ESCHEMA;
    char what[384], brief[96];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return agora_error_set(err, AGORA_ESCHEMA, p->s, "%s, got %s", what, agora__json_brief(got, brief, sizeof brief));
}

static int check_type(const json_t *s, const json_t *v, path_buf *p, agora_error *err)
{
    const json_t *t = json_object_get(s, "type");
    if (!t)
        return 0;
    if (json_is_string(t)) {
        if (has_type(v, json_string_value(t)))
            return 0;
        return fail(err, p, v, "expected %s", type_words(json_string_value(t)));
    }
    char words[256] = "";
    size_t n = json_array_size(t), o = 0;
    for (size_t i = 0; i < n; i++) {
        const char *name = json_string_value(json_array_get(t, i));
        if (has_type(v, name))
            return 0;
        o += (size_t)snprintf(words + o, o < sizeof words ? sizeof words - o : 0, "%s%s",
                              i == 0 ? "" : (i + 1 == n ? " or " : ", "), type_words(name));
        if (o >= sizeof words)
            o = sizeof words - 1;
    }
    return fail(err, p, v, "expected %s", words);
}

/* "a number" or "an integer", for range messages. */
static const char *number_noun(const json_t *s)
{
    const json_t *t = json_object_get(s, "type");
    if (json_is_string(t) && strcmp(json_string_value(t), "integer") == 0)
        return "an integer";
    return "a number";
}

static int check_number(const json_t *s, const json_t *v, path_buf *p, agora_error *err)
{
    if (!json_is_number(v))
        return 0;
    double x = json_number_value(v);
    char lim[48];
    const json_t *k;
    if ((k = json_object_get(s, "minimum")) && !(x >= json_number_value(k)))
        return fail(err, p, v, "expected %s >= %s", number_noun(s), fmt_num(json_number_value(k), lim, sizeof lim));
    if ((k = json_object_get(s, "maximum")) && !(x <= json_number_value(k)))
        return fail(err, p, v, "expected %s <= %s", number_noun(s), fmt_num(json_number_value(k), lim, sizeof lim));
    if ((k = json_object_get(s, "exclusiveMinimum")) && !(x > json_number_value(k)))
        return fail(err, p, v, "expected %s > %s", number_noun(s), fmt_num(json_number_value(k), lim, sizeof lim));
    if ((k = json_object_get(s, "exclusiveMaximum")) && !(x < json_number_value(k)))
        return fail(err, p, v, "expected %s < %s", number_noun(s), fmt_num(json_number_value(k), lim, sizeof lim));
    return 0;
}

static int check_string(const json_t *s, const json_t *v, path_buf *p, agora_error *err)
{
    if (!json_is_string(v))
        return 0;
    double n = (double)utf8_length(json_string_value(v), json_string_length(v));
    const json_t *k;
    if ((k = json_object_get(s, "minLength")) && n < json_number_value(k))
        return fail(err, p, v, "expected a string of at least %.0f character%s", json_number_value(k),
                    json_number_value(k) == 1 ? "" : "s");
    if ((k = json_object_get(s, "maxLength")) && n > json_number_value(k))
        return fail(err, p, v, "expected a string of at most %.0f character%s", json_number_value(k),
                    json_number_value(k) == 1 ? "" : "s");
    return 0;
}

static int check_array(const json_t *s, const json_t *v, path_buf *p, agora_error *err)
{
    if (!json_is_array(v))
        return 0;
    double n = (double)json_array_size(v);
    const json_t *k;
    if ((k = json_object_get(s, "minItems")) && n < json_number_value(k))
        return fail(err, p, v, "expected a list of at least %.0f item%s", json_number_value(k),
                    json_number_value(k) == 1 ? "" : "s");
    if ((k = json_object_get(s, "maxItems")) && n > json_number_value(k))
        return fail(err, p, v, "expected a list of at most %.0f item%s", json_number_value(k),
                    json_number_value(k) == 1 ? "" : "s");
    const json_t *items = json_object_get(s, "items");
    for (size_t i = 0; items && i < json_array_size(v); i++) {
        size_t old = path_push_index(p, i);
        int rc = validate(items, json_array_get(v, i), p, err);
        if (rc)
            return rc;
        path_pop(p, old);
    }
    return 0;
}

/* "a, b, c" of an object's keys, for "allowed:" lists. */
static void key_list(const json_t *obj, char *buf, size_t size)
{
    size_t o = 0;
    const char *k;
    json_t *v;
    buf[0] = '\0';
    json_object_foreach((json_t *)obj, k, v) {
        if (o >= size)
            break;
        o += (size_t)snprintf(buf + o, size - o, "%s%s", o ? ", " : "", k);
    }
    if (!buf[0])
        snprintf(buf, size, "none");
}

static int check_object(const json_t *s, const json_t *v, path_buf *p, agora_error *err)
{
    if (!json_is_object(v))
        return 0;
    const json_t *req = json_object_get(s, "required");
    for (size_t i = 0; i < json_array_size(req); i++) {
        const char *name = json_string_value(json_array_get(req, i));
        if (!json_object_get(v, name))
            return agora_error_set(err, AGORA_ESCHEMA, p->s, "required key \"%s\" is missing", name);
    }
    const json_t *props = json_object_get(s, "properties");
    const json_t *extra = json_object_get(s, "additionalProperties");
    const char *k;
    json_t *val;
    json_object_foreach((json_t *)v, k, val) {
        const json_t *sub = props ? json_object_get(props, k) : NULL;
        if (!sub && json_is_false(extra)) {
            char allowed[256];
            key_list(props, allowed, sizeof allowed);
            size_t old = path_push_key(p, k);
            int rc = agora_error_set(err, AGORA_ESCHEMA, p->s, "unknown key \"%s\" (allowed: %s)", k, allowed);
            path_pop(p, old);
            return rc;
        }
        if (!sub)
            sub = extra;
        if (!sub)
            continue;
        size_t old = path_push_key(p, k);
        int rc = validate(sub, val, p, err);
        if (rc)
            return rc;
        path_pop(p, old);
    }
    return 0;
}

/* The property that tells the branches of an anyOf/oneOf apart: one that every branch constrains with `const`.
 * NULL when there is none. */
static const char *discriminator(const json_t *branches)
{
    const json_t *first = json_array_get(branches, 0);
    const json_t *props = json_is_object(first) ? json_object_get(first, "properties") : NULL;
    const char *k;
    json_t *sub;
    json_object_foreach((json_t *)props, k, sub) {
        int all = 1;
        for (size_t i = 0; all && i < json_array_size(branches); i++) {
            const json_t *b = json_array_get(branches, i);
            const json_t *bp = json_is_object(b) ? json_object_get(json_object_get(b, "properties"), k) : NULL;
            all = json_is_object(bp) && json_object_get(bp, "const") != NULL;
        }
        if (all)
            return k;
    }
    return NULL;
}

static const json_t *branch_const(const json_t *branch, const char *prop)
{
    return json_object_get(json_object_get(json_object_get(branch, "properties"), prop), "const");
}

/* Validates against a tagged union: the branch the instance names reports. *handled is 0 when the instance is not
 * an object, so the generic rule applies. */
static int check_tagged(const json_t *branches, const char *prop, const json_t *v, path_buf *p, agora_error *err,
                        int one, int *handled)
{
    *handled = 0;
    if (!json_is_object(v))
        return 0;
    *handled = 1;
    const json_t *tag = json_object_get(v, prop);
    if (!tag)
        return agora_error_set(err, AGORA_ESCHEMA, p->s, "required key \"%s\" is missing", prop);
    int named = 0, passed = 0, rc_first = 0;
    agora_error first;
    agora_error_clear(&first);
    for (size_t i = 0; i < json_array_size(branches); i++) {
        const json_t *b = json_array_get(branches, i);
        if (!values_equal(branch_const(b, prop), tag))
            continue;
        agora_error e;
        int rc = validate(b, v, p, &e);
        if (rc == 0)
            passed++;
        else if (!named)
            first = e, rc_first = rc;
        named++;
    }
    if (one && passed > 1)
        return agora_error_set(err, AGORA_ESCHEMA, p->s, "matches more than one of the allowed forms for %s %s",
                               prop, json_string_value(tag) ? json_string_value(tag) : "");
    if (passed)
        return 0;
    if (named) {
        if (err)
            *err = first;
        return rc_first;
    }
    char names[384] = "", brief[96];
    size_t o = 0;
    for (size_t i = 0; i < json_array_size(branches) && o < sizeof names; i++) {
        const json_t *c = branch_const(json_array_get(branches, i), prop);
        int seen = 0;
        for (size_t j = 0; j < i && !seen; j++)
            seen = values_equal(branch_const(json_array_get(branches, j), prop), c);
        if (!seen)
            o += (size_t)snprintf(names + o, sizeof names - o, "%s%s", o ? ", " : "",
                                  agora__json_brief(c, brief, sizeof brief));
    }
    size_t old = path_push_key(p, prop);
    int rc = fail(err, p, tag, "expected one of %s", names);
    path_pop(p, old);
    return rc;
}

/* anyOf (one = 0) and oneOf (one = 1). */
static int check_union(const json_t *branches, const json_t *v, path_buf *p, agora_error *err, int one)
{
    const char *prop = discriminator(branches);
    if (prop) {
        int handled, rc = check_tagged(branches, prop, v, p, err, one, &handled);
        if (handled)
            return rc;
    }
    size_t n = json_array_size(branches), passed = 0, best = 0, first_pass = 0;
    agora_error *errs = calloc(n ? n : 1, sizeof *errs);
    int rc = 0;
    if (!errs)
        return agora_error_set(err, AGORA_ENOMEM, p->s, "out of memory");
    for (size_t i = 0; i < n; i++) {
        if (validate(json_array_get(branches, i), v, p, &errs[i]) == 0) {
            if (passed++ == 0)
                first_pass = i;
            else if (one) {
                rc = agora_error_set(err, AGORA_ESCHEMA, p->s,
                                     "matches more than one of the allowed forms (%zu and %zu)", first_pass, i);
                goto done;
            }
        }
    }
    if (passed)
        goto done;
    /* The branch that got furthest into the value says most about what is wrong with it. */
    for (size_t i = 1; i < n; i++)
        if (strlen(errs[i].where) > strlen(errs[best].where))
            best = i;
    /* When every branch failed at the value itself with "expected X, got Y", say "expected X or Z, got Y". */
    int merge = 1;
    for (size_t i = 0; merge && i < n; i++)
        merge = errs[i].code == AGORA_ESCHEMA && strcmp(errs[i].where, p->s) == 0 &&
                strncmp(errs[i].msg, "expected ", 9) == 0 && strstr(errs[i].msg, ", got ");
    if (merge && n > 1) {
        char what[448] = "";
        size_t o = 0;
        for (size_t i = 0; i < n && o < sizeof what; i++) {
            const char *m = errs[i].msg + 9, *got = strstr(m, ", got ");
            int seen = 0; /* branches that expect the same thing are said once */
            for (size_t j = 0; j < i && !seen; j++) {
                const char *mj = errs[j].msg + 9, *gj = strstr(mj, ", got ");
                seen = gj - mj == got - m && strncmp(mj, m, (size_t)(got - m)) == 0;
            }
            if (!seen)
                o += (size_t)snprintf(what + o, sizeof what - o, "%s%.*s", o ? " or " : "", (int)(got - m), m);
        }
        rc = fail(err, p, v, "expected %s", what);
        goto done;
    }
    if (err)
        *err = errs[best];
    rc = errs[best].code ? errs[best].code : AGORA_ESCHEMA;
done:
    free(errs);
    return rc;
}

static int validate(const json_t *s, const json_t *v, path_buf *p, agora_error *err)
{
    int rc;
    if (json_is_true(s))
        return 0;
    if (json_is_false(s)) {
        char brief[96];
        return agora_error_set(err, AGORA_ESCHEMA, p->s, "no value is allowed here, got %s",
                               agora__json_brief(v, brief, sizeof brief));
    }
    if ((rc = check_type(s, v, p, err)) != 0)
        return rc;
    const json_t *k;
    if ((k = json_object_get(s, "const")) && !values_equal(k, v)) {
        char brief[96];
        return fail(err, p, v, "expected %s", agora__json_brief(k, brief, sizeof brief));
    }
    if ((k = json_object_get(s, "enum"))) {
        int found = 0;
        for (size_t i = 0; !found && i < json_array_size(k); i++)
            found = values_equal(json_array_get(k, i), v);
        if (!found) {
            char list[384] = "", brief[96];
            size_t o = 0;
            for (size_t i = 0; i < json_array_size(k) && o < sizeof list; i++)
                o += (size_t)snprintf(list + o, sizeof list - o, "%s%s", i ? ", " : "",
                                      agora__json_brief(json_array_get(k, i), brief, sizeof brief));
            return fail(err, p, v, "expected one of %s", list);
        }
    }
    if ((rc = check_number(s, v, p, err)) || (rc = check_string(s, v, p, err)) || (rc = check_array(s, v, p, err)) ||
        (rc = check_object(s, v, p, err)))
        return rc;
    if ((k = json_object_get(s, "allOf"))) {
        for (size_t i = 0; i < json_array_size(k); i++)
            if ((rc = validate(json_array_get(k, i), v, p, err)) != 0)
                return rc;
    }
    if ((k = json_object_get(s, "anyOf")) && (rc = check_union(k, v, p, err, 0)) != 0)
        return rc;
    if ((k = json_object_get(s, "oneOf")) && (rc = check_union(k, v, p, err, 1)) != 0)
        return rc;
    return 0;
}

int agora_schema_validate(const json_t *schema, const json_t *instance, const char *path, agora_error *err)
{
    agora_error serr;
    if (agora_schema_check(schema, &serr) != 0) {
        char buf[sizeof serr.msg + sizeof serr.where + 8];
        return agora_error_set(err, AGORA_EINVAL, path, "invalid schema: %s",
                               agora_error_format(&serr, buf, sizeof buf));
    }
    if (!instance)
        return agora_error_set(err, AGORA_ESCHEMA, path, "a value is required");
    path_buf p = {.n = 0};
    snprintf(p.s, sizeof p.s, "%s", path ? path : "");
    p.n = strlen(p.s);
    return validate(schema, instance, &p, err);
}
