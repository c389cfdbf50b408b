/* agora — sweep axes and their expansion into runs. See include/agora/sweep.h. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agora/sweep.h"
#include "io/yaml.h"

#define MAX_RUNS 1000000
#define MAX_RANGE 100000

/* A number written the way a person would ("0.1", not 0.10000000000000001): the value closest to the decimal. */
static json_t *range_value(double start, double stop, int64_t n, int64_t i)
{
    double v = n == 1 ? start : start + (stop - start) * (double)i / (double)(n - 1);
    if (n > 1 && i == n - 1)
        v = stop; /* exact end */
    char buf[64];
    snprintf(buf, sizeof buf, "%.12g", v);
    double r = strtod(buf, NULL);
    return r == floor(r) && fabs(r) < 9e15 && strchr(buf, '.') == NULL && strchr(buf, 'e') == NULL
               ? json_integer((json_int_t)r)
               : json_real(r);
}

static int parse_number(const char *s, size_t len, double *out)
{
    char buf[64];
    if (len == 0 || len >= sizeof buf)
        return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *end;
    *out = strtod(buf, &end);
    while (*end == ' ')
        end++;
    return *end || !isfinite(*out) ? -1 : 0;
}

int agora_sweep_axis(const char *vary, json_t **axis, agora_error *err)
{
    *axis = NULL;
    char where[300];
    snprintf(where, sizeof where, "--vary %.280s", vary ? vary : "");
    const char *eq = vary ? strchr(vary, '=') : NULL;
    if (!eq || eq == vary)
        return agora_error_set(err, AGORA_EINVAL, where,
                               "expected KEY=VALUES, e.g. params.beta=0.02:0.2:10 or space.kind=grid,graph");
    const char *spec = eq + 1;
    json_t *values = json_array();
    int colons = 0;
    for (const char *p = spec; *p; p++)
        colons += *p == ':';
    if (colons > 0 && !strchr(spec, ',')) {
        const char *c1 = strchr(spec, ':'), *c2 = strchr(c1 + 1, ':');
        double a, b, n;
        if (colons != 2 || parse_number(spec, (size_t)(c1 - spec), &a) || parse_number(c1 + 1, (size_t)(c2 - c1 - 1), &b) ||
            parse_number(c2 + 1, strlen(c2 + 1), &n) || n < 1 || n != floor(n) || n > MAX_RANGE) {
            json_decref(values);
            return agora_error_set(err, AGORA_EINVAL, where,
                                   "expected a range START:STOP:COUNT of numbers with COUNT a whole number in [1, %d]",
                                   MAX_RANGE);
        }
        for (int64_t i = 0; i < (int64_t)n; i++)
            json_array_append_new(values, range_value(a, b, (int64_t)n, i));
    } else {
        /* a comma-separated list; each item is YAML, so 0.1 is a number, true a boolean, grid a word */
        const char *p = spec;
        for (;;) {
            const char *comma = strchr(p, ',');
            size_t len = comma ? (size_t)(comma - p) : strlen(p);
            json_t *v = NULL;
            agora_error e;
            if (len == 0 || agora__yaml_parse(p, len, where, &v, NULL, &e) != 0 || !v || json_is_array(v) ||
                json_is_object(v)) {
                json_decref(v);
                json_decref(values);
                return agora_error_set(err, AGORA_EINVAL, where,
                                       "expected a list of values separated by commas (e.g. grid,graph or 0.1,0.2), "
                                       "got an empty or structured item \"%.*s\"",
                                       (int)len, p);
            }
            json_array_append_new(values, v);
            if (!comma)
                break;
            p = comma + 1;
        }
    }
    *axis = json_pack("{s:s#, s:o}", "key", vary, (int)(eq - vary), "values", values);
    return *axis ? 0 : agora_error_set(err, AGORA_ENOMEM, where, "out of memory");
}

int agora_sweep_expand(const json_t *axes, int64_t seeds, uint64_t base_seed, json_t **runs, agora_error *err)
{
    *runs = NULL;
    if (!json_is_array(axes) || seeds < 1)
        return agora_error_set(err, AGORA_EINVAL, "sweep", "expected a list of axes and at least one seed");
    const size_t n_axes = json_array_size(axes);
    int64_t total = seeds;
    for (size_t a = 0; a < n_axes; a++) {
        const size_t n = json_array_size(json_object_get(json_array_get(axes, a), "values"));
        if (n == 0)
            return agora_error_set(err, AGORA_EINVAL, "sweep", "axis %zu has no values", a);
        if (total > MAX_RUNS / (int64_t)n)
            return agora_error_set(err, AGORA_EINVAL, "sweep", "more than %d runs", MAX_RUNS);
        total *= (int64_t)n;
    }
    for (size_t a = 0; a < n_axes; a++)
        for (size_t b = 0; b < a; b++)
            if (strcmp(json_string_value(json_object_get(json_array_get(axes, a), "key")),
                       json_string_value(json_object_get(json_array_get(axes, b), "key"))) == 0)
                return agora_error_set(err, AGORA_EINVAL, "sweep", "the key %s is varied twice",
                                       json_string_value(json_object_get(json_array_get(axes, a), "key")));
    json_t *out = json_array();
    for (int64_t k = 0; k < total; k++) {
        json_t *ov = json_object();
        int64_t rest = k / seeds;
        /* the last axis varies fastest (after the seeds): decompose from the end */
        for (size_t a = n_axes; a-- > 0;) {
            const json_t *axis = json_array_get(axes, a), *vals = json_object_get(axis, "values");
            const int64_t n = (int64_t)json_array_size(vals);
            json_object_set(ov, json_string_value(json_object_get(axis, "key")), json_array_get(vals, (size_t)(rest % n)));
            rest /= n;
        }
        char id[32];
        snprintf(id, sizeof id, "r%05lld", (long long)k);
        json_array_append_new(out, json_pack("{s:s, s:I, s:I, s:o}", "id", id, "index", (json_int_t)k, "seed",
                                             (json_int_t)(base_seed + (uint64_t)(k % seeds)), "overrides", ov));
    }
    *runs = out;
    return 0;
}
