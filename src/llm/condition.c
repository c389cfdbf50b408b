/* agora — the condition language of persona rules (`when: I_frac > 0.05 and t >= 10`): a boolean expression over
 * the names of an observation (metrics, trends, the step), with comparisons, and, or, not and parentheses, evaluated
 * against one observation object. It owns agora_condition_eval (include/agora/persona.h); persona.c uses it to pick
 * the rule that stands in when there is no LLM reply, and scenario checking uses it to reject bad conditions early.
 * Depth and length are bounded: a condition comes from a scenario file or an MCP client. */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "agora/persona.h"
#include "core/internal.h"

/* Parentheses and `not` nest at most this deep: the parser recurses on them, and a condition is short, so a deeper
 * one (a pasted or generated text) is an error rather than a stack overflow. */
#define MAX_CONDITION_DEPTH 100

typedef struct cparser {
    const char *s, *p, *expr;
    const json_t *obs;
    agora_error *err;
    int failed;
    int depth; /* parentheses and `not` open around the current position */
} cparser;

static void skip_ws(cparser *c)
{
    while (*c->p && isspace((unsigned char)*c->p))
        c->p++;
}

/* The message quotes the condition, cut to its first 80 characters so that what is wrong always fits. */
static int cfail(cparser *c, const char *what)
{
    if (!c->failed)
        agora_error_set(c->err, AGORA_ESCHEMA, NULL, "in \"%.*s%s\" at column %d: %s",
                        (int)agora__utf8_prefix(c->expr, 80), c->expr, strlen(c->expr) > 80 ? "..." : "",
                        (int)(c->p - c->s) + 1, what);
    c->failed = 1;
    return 0;
}

static int word_is(cparser *c, const char *w)
{
    size_t n = strlen(w);
    return strncmp(c->p, w, n) == 0 && !isalnum((unsigned char)c->p[n]) && c->p[n] != '_';
}

/* A number, or a key looked up in obs (NaN when missing or not a number). */
static double operand(cparser *c)
{
    skip_ws(c);
    char *end;
    double v = strtod(c->p, &end);
    if (end != c->p && (isdigit((unsigned char)*c->p) || *c->p == '-' || *c->p == '+' || *c->p == '.')) {
        c->p = end;
        return v;
    }
    if (!isalpha((unsigned char)*c->p) && *c->p != '_') {
        cfail(c, "expected a number or a name");
        return NAN;
    }
    char key[128];
    size_t k = 0;
    while ((isalnum((unsigned char)*c->p) || *c->p == '_' || *c->p == '.') && k + 1 < sizeof key)
        key[k++] = *c->p++;
    key[k] = '\0';
    const json_t *o = c->obs;
    char *save = NULL;
    for (char *part = strtok_r(key, ".", &save); part && o; part = strtok_r(NULL, ".", &save))
        o = json_object_get(o, part);
    if (json_is_boolean(o))
        return json_is_true(o) ? 1 : 0;
    return json_is_number(o) ? json_number_value(o) : NAN;
}

static int or_expr(cparser *c);

static int comparison(cparser *c)
{
    skip_ws(c);
    const int nests = word_is(c, "not") || *c->p == '(';
    if (nests && c->depth >= MAX_CONDITION_DEPTH)
        return cfail(c, "too deeply nested (at most 100 levels of parentheses and not)");
    if (word_is(c, "not")) {
        c->p += 3;
        c->depth++;
        int v = !comparison(c);
        c->depth--;
        return v;
    }
    if (*c->p == '(') {
        c->p++;
        c->depth++;
        int v = or_expr(c);
        c->depth--;
        skip_ws(c);
        if (*c->p != ')')
            return cfail(c, "expected )");
        c->p++;
        return v;
    }
    double a = operand(c);
    if (c->failed)
        return 0;
    skip_ws(c);
    static const char *const ops[] = {"<=", ">=", "==", "!=", "<", ">"};
    int op = -1;
    for (int i = 0; i < 6 && op < 0; i++)
        if (strncmp(c->p, ops[i], strlen(ops[i])) == 0) {
            op = i;
            c->p += strlen(ops[i]);
        }
    if (op < 0) {
        if (!*c->p || *c->p == ')' || word_is(c, "and") || word_is(c, "or"))
            return !isnan(a) && a != 0; /* a bare name: true when non-zero */
        return cfail(c, "expected a comparison (< <= > >= == !=)");
    }
    double b = operand(c);
    if (c->failed || isnan(a) || isnan(b))
        return 0;
    switch (op) {
    case 0:
        return a <= b;
    case 1:
        return a >= b;
    case 2:
        return a == b;
    case 3:
        return a != b;
    case 4:
        return a < b;
    default:
        return a > b;
    }
}

static int and_expr(cparser *c)
{
    int v = comparison(c);
    for (;;) {
        skip_ws(c);
        if (!word_is(c, "and"))
            return v;
        c->p += 3;
        int w = comparison(c);
        v = v && w;
    }
}

static int or_expr(cparser *c)
{
    int v = and_expr(c);
    for (;;) {
        skip_ws(c);
        if (!word_is(c, "or"))
            return v;
        c->p += 2;
        int w = and_expr(c);
        v = v || w;
    }
}

int agora_condition_eval(const char *expr, const json_t *obs, agora_error *err)
{
    cparser c = {.s = expr, .p = expr, .expr = expr, .obs = obs, .err = err};
    if (!expr)
        return 1;
    int v = or_expr(&c);
    skip_ws(&c);
    if (!c.failed && *c.p)
        cfail(&c, "unexpected text");
    return c.failed ? -1 : v;
}
