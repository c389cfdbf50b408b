/* agora — the key paths of `--set KEY=VALUE` (and of sweeps' and MCP's overrides): "params.beta",
 * "interventions[0].at", parsed into components and a normalised form, and a value written at such a path into a
 * JSON tree, creating missing parents. Scenario loading (scenario.c) checks what the written tree means. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "io/setpath.h"

/* Parses "a.b[0].c" into components (strings for keys, integers for list indices) and its normalised form. */
int agora__set_key_path(const char *s, size_t n, json_t **comps_out, char *norm, size_t norm_size)
{
    json_t *comps = json_array();
    size_t i = 0, o = 0;
    norm[0] = '\0';
    if (!comps)
        return AGORA_ENOMEM;
    while (i < n) {
        size_t start = i;
        while (i < n && s[i] != '.' && s[i] != '[' && s[i] != ']')
            i++;
        if (i == start)
            goto bad;
        json_array_append_new(comps, json_stringn(s + start, i - start));
        o += (size_t)snprintf(norm + o, o < norm_size ? norm_size - o : 0, "%s%.*s", o ? "." : "", (int)(i - start),
                              s + start);
        while (i < n && s[i] == '[') {
            size_t d = ++i;
            while (i < n && s[i] >= '0' && s[i] <= '9')
                i++;
            if (i == d || i >= n || s[i] != ']' || i - d > 9)
                goto bad;
            json_int_t idx = strtoll(s + d, NULL, 10);
            json_array_append_new(comps, json_integer(idx));
            o += (size_t)snprintf(norm + o, o < norm_size ? norm_size - o : 0, "[%lld]", (long long)idx);
            i++;
        }
        if (i < n) {
            if (s[i] != '.' || i + 1 == n)
                goto bad;
            i++;
        }
    }
    if (json_array_size(comps) == 0)
        goto bad;
    *comps_out = comps;
    return 0;
bad:
    json_decref(comps);
    return AGORA_EINVAL;
}

static json_t *set_child_of(json_t *node, const json_t *comp)
{
    if (json_is_string(comp))
        return json_object_get(node, json_string_value(comp));
    return json_array_get(node, (size_t)json_integer_value(comp));
}

/* Sets node[comp] = value (stolen); a list index may be one past the end, to append. */
static int set_child_at(json_t *node, const json_t *comp, json_t *value, const char *what, const char *where,
                        agora_error *err)
{
    if (json_is_string(comp)) {
        if (json_object_set_new(node, json_string_value(comp), value) != 0)
            return agora_error_set(err, AGORA_EINVAL, where, "cannot set %s", what);
        return 0;
    }
    size_t idx = (size_t)json_integer_value(comp), n = json_array_size(node);
    if (idx < n)
        return json_array_set_new(node, idx, value) ? agora_error_set(err, AGORA_ENOMEM, where, "out of memory") : 0;
    if (idx == n)
        return json_array_append_new(node, value) ? agora_error_set(err, AGORA_ENOMEM, where, "out of memory") : 0;
    json_decref(value);
    return agora_error_set(err, AGORA_EINVAL, where,
                           "cannot set %s: the list has %zu item%s, so the index can be at "
                           "most %zu (to append)",
                           what, n, n == 1 ? "" : "s", n);
}

/* Writes `value` (stolen) at the path `comps` in `root`, creating missing or null parents. */
int agora__set_apply(json_t *root, const json_t *comps, json_t *value, const char *norm, const char *where,
                     agora_error *err)
{
    json_t *cur = root;
    size_t n = json_array_size(comps);
    char sofar[256] = "";
    for (size_t i = 0; i + 1 < n; i++) {
        const json_t *comp = json_array_get(comps, i), *next = json_array_get(comps, i + 1);
        size_t len = strlen(sofar);
        if (json_is_string(comp))
            snprintf(sofar + len, sizeof sofar - len, "%s%s", len ? "." : "", json_string_value(comp));
        else
            snprintf(sofar + len, sizeof sofar - len, "[%lld]", (long long)json_integer_value(comp));
        json_t *child = set_child_of(cur, comp);
        int want_list = json_is_integer(next);
        if (!child || json_is_null(child)) {
            child = want_list ? json_array() : json_object();
            if (!child) {
                json_decref(value);
                return agora_error_set(err, AGORA_ENOMEM, where, "out of memory");
            }
            int rc = set_child_at(cur, comp, child, norm, where, err);
            if (rc) {
                json_decref(value);
                return rc;
            }
        } else if (want_list ? !json_is_array(child) : !json_is_object(child)) {
            json_decref(value);
            return agora_error_set(err, AGORA_EINVAL, where, "cannot set %s: %s is %s, not %s", norm, sofar,
                                   agora__json_kind(child), want_list ? "a list" : "a mapping");
        }
        cur = child;
    }
    return set_child_at(cur, json_array_get(comps, n - 1), value, norm, where, err);
}

/* A key such as "kind:grid" anywhere in v: a flow mapping written {kind:grid} (YAML reads a colon without a space
 * after it as part of the key). */
static const char *glued_key(const json_t *v)
{
    if (json_is_object(v)) {
        const char *k;
        const json_t *x;
        json_object_foreach((json_t *)v, k, x) {
            const char *c = strchr(k, ':');
            if (c && c > k && c[1] && c[1] != ' ')
                return k;
            const char *in = glued_key(x);
            if (in)
                return in;
        }
    } else if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            const char *in = glued_key(json_array_get(v, i));
            if (in)
                return in;
        }
    }
    return NULL;
}

int agora__set_value_check(const json_t *value, const char *where, agora_error *err)
{
    const char *k = glued_key(value);
    if (!k)
        return 0;
    const char *c = strchr(k, ':');
    return agora_error_set(err, AGORA_EINVAL, where,
                           "the key \"%s\" holds a colon: YAML needs a space after it (write %.*s: %s)", k,
                           (int)(c - k), k, c + 1);
}
