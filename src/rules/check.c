/* agora — rule language: the checker (AST -> typed AST, with diagnostics).
 *
 * Resolves every name against the environment (own variables, parameters, t, degree, category values), types every
 * node, marks where an int or bool is used as a real (conv), numbers the draw sites (the RNG stream of each: the
 * environment's stream_base plus its index, in the order the checker meets them: arguments before their call, left
 * to right) and the population aggregates, and enforces what the grammar cannot say:
 *
 *   - bool promotes to int and int to real in arithmetic; + - * give int for ints, real otherwise; / ** pow exp log
 *     sqrt give real; % takes ints; comparisons give bool and do not compare categories with numbers; and/or/not
 *     take bools (no truthiness: x != 0 says what is meant);
 *   - a category value (a bare name such as I) takes its category from what it meets: the other side of == or !=,
 *     the other branch of if(), or the rule's variable; categories have == and != only;
 *   - if(c, a, b): c is bool; a and b are both categories of one kind or both numbers (promoted to the wider);
 *   - floor/ceil/round give int; abs/min/max/clamp keep the (promoted) type; nb_count/pop_count count bools;
 *     nb_mean/pop_mean/pop_gini give real (0 with no neighbours or agents); nb_any/nb_all give bool;
 *   - neighbour aggregates need a space with neighbours, read a neighbour (nb.x) and do not nest; population
 *     aggregates do not nest either and hold no randomness, but may hold neighbour aggregates;
 *   - the result must fit the rule's variable: a real into an int is an error whose message gives the fix.
 *
 * Messages quote the name or operator and both types ("+: expected numbers, got bool and state (a category)"), and
 * unknown names get the closest known one within two edits (agora__suggest). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/internal.h"
#include "rules/expr.h"

typedef struct checker {
    rx_ast *ast;
    const agora_rx_env *env;
    agora_error *err;
    int in_nb, in_pop; /* the aggregate function we are inside (RX_F_*), or -1 */
    int nb_reads;
    int nsites, npop;
} checker;

#define T_PENDING 0 /* a category value (or an if() of them) that has not met its category yet */

const char *agora__rx_type_name(agora_rx_type t)
{
    switch (t) {
    case AGORA_RX_BOOL:
        return "bool";
    case AGORA_RX_INT:
        return "int";
    case AGORA_RX_REAL:
        return "real";
    case AGORA_RX_CAT:
        return "category";
    default:
        return "any";
    }
}

static const char *const reserved[] = {"t", "degree", "nb", "true", "false", "and", "or", "not", "if", NULL};

static int is_reserved(const char *s)
{
    for (int i = 0; reserved[i]; i++)
        if (strcmp(reserved[i], s) == 0)
            return 1;
    for (int f = 0; f < RX_F_COUNT; f++)
        if (strcmp(agora__rx_fns[f].name, s) == 0)
            return 1;
    return 0;
}

/* Whether `s` names a variable or a parameter other than variable `skip_var`. */
static const char *name_kind(const agora_rx_env *env, const char *s, int skip_var, int skip_param)
{
    for (int i = 0; i < env->nvars; i++)
        if (i != skip_var && strcmp(env->vars[i].name, s) == 0)
            return "a variable";
    for (int i = 0; i < env->nparams; i++)
        if (i != skip_param && strcmp(env->params[i].name, s) == 0)
            return "a parameter";
    return NULL;
}

static int decl_name(const agora_rx_env *env, const char *what, const char *s, agora_error *err)
{
    const char *where = env->where;
    if (env->pair && s && strncmp(s, "partner.", 8) == 0 && agora__ident_ok(s + 8))
        return 0; /* a pair rule's view of the partner's variable */
    if (!agora__ident_ok(s))
        return agora_error_set(err, AGORA_ESCHEMA, where,
                               "%s \"%.64s\": expected a name of letters, digits and _ (at most 63, not starting with "
                               "a digit)",
                               what, s ? s : "(null)");
    if (is_reserved(s))
        return agora_error_set(err, AGORA_ESCHEMA, where,
                               "%s \"%s\": the name is reserved (t, degree, nb, true, false, and, or, not, if and the "
                               "function names)",
                               what, s);
    return 0;
}

int agora__rx_env_check(const agora_rx_env *env, agora_error *err)
{
    if (!env || env->nvars < 0 || env->nparams < 0 || (env->nvars && !env->vars) || (env->nparams && !env->params))
        return agora_error_set(err, AGORA_EINVAL, NULL, "invalid expression environment");
    const char *where = env->where;
    if (env->nvars > AGORA_RX_MAX_VARS || env->nparams > AGORA_RX_MAX_VARS)
        return agora_error_set(err, AGORA_ESCHEMA, where,
                               "too many names: %d variables and %d parameters, at most %d "
                               "of each",
                               env->nvars, env->nparams, AGORA_RX_MAX_VARS);
    int rc;
    for (int i = 0; i < env->nvars; i++) {
        const agora_rx_var *v = &env->vars[i];
        if ((rc = decl_name(env, "variable", v->name, err)))
            return rc;
        const char *k = name_kind(env, v->name, i, -1);
        if (k)
            return agora_error_set(err, AGORA_ESCHEMA, where, "variable \"%s\": the name is also %s", v->name, k);
        if (v->type < AGORA_RX_BOOL || v->type > AGORA_RX_CAT)
            return agora_error_set(err, AGORA_ESCHEMA, where, "variable \"%s\": unknown type %d", v->name,
                                   (int)v->type);
        if (v->type != AGORA_RX_CAT)
            continue;
        if (v->nvalues < 1 || v->nvalues > AGORA_RX_MAX_VALUES || !v->values)
            return agora_error_set(err, AGORA_ESCHEMA, where,
                                   "variable \"%s\": a category needs 1 to %d values, got %d", v->name,
                                   AGORA_RX_MAX_VALUES, v->nvalues);
        for (int j = 0; j < v->nvalues; j++) {
            const char *s = v->values[j];
            char what[96];
            snprintf(what, sizeof what, "value of \"%s\"", v->name);
            if ((rc = decl_name(env, what, s, err)))
                return rc;
            if ((k = name_kind(env, s, -1, -1)))
                return agora_error_set(err, AGORA_ESCHEMA, where,
                                       "variable \"%s\": the value \"%s\" is also %s name (it could not be told apart "
                                       "in expressions)",
                                       v->name, s, k);
            for (int q = 0; q < j; q++)
                if (strcmp(v->values[q], s) == 0)
                    return agora_error_set(err, AGORA_ESCHEMA, where, "variable \"%s\": the value \"%s\" is repeated",
                                           v->name, s);
        }
    }
    for (int i = 0; i < env->nparams; i++) {
        const agora_rx_param *p = &env->params[i];
        if ((rc = decl_name(env, "parameter", p->name, err)))
            return rc;
        const char *k = name_kind(env, p->name, -1, i);
        if (k)
            return agora_error_set(err, AGORA_ESCHEMA, where, "parameter \"%s\": the name is also %s", p->name, k);
        if (p->type < AGORA_RX_BOOL || p->type > AGORA_RX_REAL)
            return agora_error_set(err, AGORA_ESCHEMA, where, "parameter \"%s\": expected type bool, int or real",
                                   p->name);
    }
    return 0;
}

/* ---- helpers ----------------------------------------------------------------------------------------------------- */

static rx_node *N(checker *c, int i)
{
    return &c->ast->nodes[i];
}

static int kid(checker *c, int node, int k)
{
    return c->ast->kids[N(c, node)->kids + k];
}

static int fail(checker *c, int node, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static int fail(checker *c, int node, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return agora__rx_error_at(c->ast, c->err, AGORA_ESCHEMA, N(c, node)->line, N(c, node)->col, "%s", msg);
}

/* The node's name (a copy, NUL-terminated, cut to the buffer). */
static const char *node_name(checker *c, int node, char *buf, size_t size)
{
    const rx_node *n = N(c, node);
    int len = n->len < (int)size - 1 ? n->len : (int)size - 1;
    memcpy(buf, c->ast->text + n->pos, (size_t)len);
    buf[len] = '\0';
    return buf;
}

/* A node's type in words: "int", "state (a category)", "a category value". */
static const char *type_words(checker *c, int node, char *buf, size_t size)
{
    const rx_node *n = N(c, node);
    if (n->type == T_PENDING)
        snprintf(buf, size, "a category value");
    else if (n->type == AGORA_RX_CAT)
        snprintf(buf, size, "%s (a category)", c->env->vars[n->cat].name);
    else
        snprintf(buf, size, "%s", agora__rx_type_name((agora_rx_type)n->type));
    return buf;
}

static const char *op_text(rx_tok op)
{
    switch (op) {
    case RX_T_PLUS:
        return "+";
    case RX_T_MINUS:
        return "-";
    case RX_T_STAR:
        return "*";
    case RX_T_SLASH:
        return "/";
    case RX_T_PERCENT:
        return "%";
    case RX_T_POW:
        return "**";
    case RX_T_EQ:
        return "==";
    case RX_T_NE:
        return "!=";
    case RX_T_LT:
        return "<";
    case RX_T_LE:
        return "<=";
    case RX_T_GT:
        return ">";
    case RX_T_GE:
        return ">=";
    case RX_T_AND:
        return "and";
    case RX_T_OR:
        return "or";
    case RX_T_NOT:
        return "not";
    default:
        return "?";
    }
}

static int is_num(int t)
{
    return t == AGORA_RX_BOOL || t == AGORA_RX_INT || t == AGORA_RX_REAL;
}

/* The type numbers of types a and b promote to in arithmetic (bool -> int -> real). */
static int arith(int a, int b)
{
    return a == AGORA_RX_REAL || b == AGORA_RX_REAL ? AGORA_RX_REAL : AGORA_RX_INT;
}

/* Marks a numeric node used as type `to`: only int/bool -> real needs work at run time. */
static void use_as(checker *c, int node, int to)
{
    if (to == AGORA_RX_REAL && N(c, node)->type != AGORA_RX_REAL)
        N(c, node)->conv = AGORA_RX_REAL;
}

static int same_cat(const agora_rx_env *env, int a, int b)
{
    if (a == b)
        return 1;
    const agora_rx_var *x = &env->vars[a], *y = &env->vars[b];
    if (x->nvalues != y->nvalues)
        return 0;
    for (int i = 0; i < x->nvalues; i++)
        if (strcmp(x->values[i], y->values[i]) != 0)
            return 0;
    return 1;
}

/* Gives a pending node (a category value, an if() or random_nb() of them) the category of variable `cat`. */
static int resolve(checker *c, int node, int cat)
{
    rx_node *n = N(c, node);
    if (n->type != T_PENDING)
        return 0;
    if (n->kind == RX_N_CALL) {
        int rc;
        if (n->op == RX_F_IF) {
            if ((rc = resolve(c, kid(c, node, 1), cat)) || (rc = resolve(c, kid(c, node, 2), cat)))
                return rc;
        } else if ((rc = resolve(c, kid(c, node, 0), cat))) { /* random_nb */
            return rc;
        }
        n = N(c, node);
        n->type = AGORA_RX_CAT;
        n->cat = (int16_t)cat;
        return 0;
    }
    char name[128];
    node_name(c, node, name, sizeof name);
    const agora_rx_var *v = &c->env->vars[cat];
    for (int i = 0; i < v->nvalues; i++)
        if (strcmp(v->values[i], name) == 0) {
            n->type = AGORA_RX_CAT;
            n->cat = (int16_t)cat;
            n->index = i;
            return 0;
        }
    agora__suggest s;
    agora__suggest_start(&s, name, strlen(name) <= 3 ? 1 : 2);
    for (int i = 0; i < v->nvalues; i++)
        agora__suggest_offer(&s, v->values[i]);
    if (s.best)
        return fail(c, node, "%s: not a value of %s; did you mean \"%s\"?", name, v->name, s.best);
    char list[256] = "";
    size_t o = 0;
    for (int i = 0; i < v->nvalues && o < sizeof list; i++)
        o += (size_t)snprintf(list + o, sizeof list - o, "%s%s", i ? ", " : "", v->values[i]);
    return fail(c, node, "%s: not a value of %s (its values: %s)", name, v->name, list);
}

/* Unifies the categories of two nodes that meet (== / != / if branches); `what` names the meeting. */
static int meet_cats(checker *c, int at, const char *what, int a, int b)
{
    int ta = N(c, a)->type, tb = N(c, b)->type;
    char wa[96], wb[96];
    if (ta == T_PENDING && tb == T_PENDING)
        return 0; /* the caller stays pending too (if), or reports it (==) */
    if (ta == T_PENDING)
        return tb == AGORA_RX_CAT ? resolve(c, a, N(c, b)->cat)
                                  : fail(c, at, "%s: a category value meets %s", what, type_words(c, b, wb, sizeof wb));
    if (tb == T_PENDING)
        return ta == AGORA_RX_CAT ? resolve(c, b, N(c, a)->cat)
                                  : fail(c, at, "%s: %s meets a category value", what, type_words(c, a, wa, sizeof wa));
    if (ta == AGORA_RX_CAT && tb == AGORA_RX_CAT) {
        if (same_cat(c->env, N(c, a)->cat, N(c, b)->cat))
            return 0;
        return fail(c, at, "%s: %s and %s are different categories", what, type_words(c, a, wa, sizeof wa),
                    type_words(c, b, wb, sizeof wb));
    }
    return fail(c, at, "%s: cannot mix %s and %s", what, type_words(c, a, wa, sizeof wa),
                type_words(c, b, wb, sizeof wb));
}

/* "x: unknown variable; did you mean "y"?" with the closest name of the right kind, or the list of known names. */
static int unknown_name(checker *c, int node, const char *name, int nb_only)
{
    const agora_rx_env *env = c->env;
    agora__suggest s;
    agora__suggest_start(&s, name, strlen(name) <= 3 ? 1 : 2);
    for (int i = 0; i < env->nvars; i++)
        agora__suggest_offer(&s, env->vars[i].name);
    const char *best_var = s.best;
    if (!nb_only) {
        /* category values before parameters: a capitalised one-letter name is most likely a state */
        for (int i = 0; i < env->nvars; i++)
            for (int j = 0; env->vars[i].type == AGORA_RX_CAT && j < env->vars[i].nvalues; j++)
                agora__suggest_offer(&s, env->vars[i].values[j]);
        for (int i = 0; i < env->nparams; i++)
            agora__suggest_offer(&s, env->params[i].name);
        for (int i = 0; reserved[i]; i++)
            if (strcmp(reserved[i], "nb") != 0 && strcmp(reserved[i], "if") != 0)
                agora__suggest_offer(&s, reserved[i]);
    }
    if (s.best) {
        const char *kind = s.best == best_var ? "variable" : "name";
        for (int i = 0; i < env->nparams; i++)
            if (s.best == env->params[i].name)
                kind = "parameter";
        return fail(c, node, "%s%s: unknown %s; did you mean \"%s%s\"?", nb_only ? "nb." : "", name, kind,
                    nb_only ? "nb." : "", s.best);
    }
    char list[384] = "";
    size_t o = 0;
    for (int i = 0; i < env->nvars && o < sizeof list; i++)
        o += (size_t)snprintf(list + o, sizeof list - o, "%s%s", i ? ", " : "", env->vars[i].name);
    if (nb_only)
        return fail(c, node, "nb.%s: unknown variable (variables: %s)", name, env->nvars ? list : "none");
    if (o < sizeof list)
        o += (size_t)snprintf(list + o, sizeof list - o, "%sparameters: ", env->nvars ? "; " : "");
    for (int i = 0; i < env->nparams && o < sizeof list; i++)
        o += (size_t)snprintf(list + o, sizeof list - o, "%s%s", i ? ", " : "", env->params[i].name);
    if (!env->nparams && o < sizeof list)
        snprintf(list + o, sizeof list - o, "none");
    return fail(c, node, "%s: unknown name (variables: %s)", name, env->nvars ? list : list + 2);
}

static int check_node(checker *c, int node);

/* Checks the argument k of a call as a number; returns its type in *t. */
static int num_arg(checker *c, int node, int k, const char *fn, int *t)
{
    int a = kid(c, node, k), rc;
    if ((rc = check_node(c, a)))
        return rc;
    *t = N(c, a)->type;
    if (is_num(*t))
        return 0;
    char w[96];
    if (agora__rx_fns[N(c, node)->op].max_args == 1)
        return fail(c, a, "%s: expected a number, got %s", fn, type_words(c, a, w, sizeof w));
    return fail(c, a, "%s: argument %d: expected a number, got %s", fn, k + 1, type_words(c, a, w, sizeof w));
}

static int bool_arg(checker *c, int node, int k, const char *fn)
{
    int a = kid(c, node, k), rc;
    if ((rc = check_node(c, a)))
        return rc;
    if (N(c, a)->type == AGORA_RX_BOOL)
        return 0;
    char w[96];
    return fail(c, a, "%s: expected a bool (a comparison such as x > 0), got %s", fn, type_words(c, a, w, sizeof w));
}

static int set_type(checker *c, int node, int t)
{
    N(c, node)->type = (uint8_t)t;
    return 0;
}

static int new_site(checker *c, int node)
{
    if (c->in_pop >= 0)
        return fail(c, node, "%s: no randomness inside %s (population aggregates are computed once per step)",
                    agora__rx_fns[N(c, node)->op].name, agora__rx_fns[c->in_pop].name);
    if ((uint64_t)c->env->stream_base + (uint64_t)c->nsites + 1 > 0x10000u)
        return fail(c, node, "too many random draws: the RNG streams from %u run past 65535",
                    (unsigned)c->env->stream_base);
    N(c, node)->index = c->nsites++;
    return 0;
}

static int check_aggregate(checker *c, int node, int fn)
{
    const char *name = agora__rx_fns[fn].name;
    const int is_nb = fn >= RX_F_NB_COUNT && fn <= RX_F_RANDOM_NB;
    /* a neighbour aggregate may sit inside a population aggregate (pop_mean(nb_count(nb.group == group))): each
     * agent's value reads its neighbours at t; nothing else nests */
    const int outer_pop = c->in_pop;
    if (c->in_nb >= 0 || (c->in_pop >= 0 && !is_nb))
        return fail(c, node, "aggregates do not nest: %s inside %s", name,
                    agora__rx_fns[c->in_nb >= 0 ? c->in_nb : c->in_pop].name);
    if (is_nb && !c->env->has_neighbours)
        return fail(c, node, "%s needs neighbours, but the space has none (a mixed population)", name);
    const int reads0 = c->nb_reads;
    int rc, t = 0;
    if (is_nb)
        c->in_nb = fn;
    else
        c->in_pop = fn;
    const int a = kid(c, node, 0);
    switch (fn) {
    case RX_F_NB_COUNT:
    case RX_F_NB_ANY:
    case RX_F_NB_ALL:
    case RX_F_POP_COUNT:
        rc = bool_arg(c, node, 0, name);
        t = fn == RX_F_NB_COUNT || fn == RX_F_POP_COUNT ? AGORA_RX_INT : AGORA_RX_BOOL;
        break;
    case RX_F_RANDOM_NB:
        rc = check_node(c, a);
        t = rc ? 0 : N(c, a)->type;
        N(c, node)->cat = N(c, a)->cat;
        break;
    default: /* sum, mean, min, max, gini */
        rc = num_arg(c, node, 0, name, &t);
        if (fn == RX_F_NB_MEAN || fn == RX_F_POP_MEAN || fn == RX_F_POP_GINI)
            t = AGORA_RX_REAL;
        else
            t = t == AGORA_RX_REAL ? AGORA_RX_REAL : AGORA_RX_INT;
        use_as(c, a, t);
        break;
    }
    c->in_nb = -1;
    c->in_pop = outer_pop;
    if (rc)
        return rc;
    if (is_nb && c->nb_reads == reads0)
        return fail(c, node,
                    "%s(...) reads no neighbour: write nb.x for the neighbour's x (a plain x is the agent's "
                    "own)",
                    name);
    if (fn == RX_F_RANDOM_NB && (rc = new_site(c, node)))
        return rc;
    if (!is_nb)
        N(c, node)->index = c->npop++;
    return set_type(c, node, t);
}

static int check_call(checker *c, int node)
{
    rx_node *n = N(c, node);
    char name[128], w1[96], w2[96];
    node_name(c, node, name, sizeof name);
    if (n->index < 0) {
        for (int i = 0; i < c->env->nvars; i++)
            if (strcmp(c->env->vars[i].name, name) == 0)
                return fail(c, node, "%s is a variable, not a function", name);
        for (int i = 0; i < c->env->nparams; i++)
            if (strcmp(c->env->params[i].name, name) == 0)
                return fail(c, node, "%s is a parameter, not a function", name);
        agora__suggest s;
        agora__suggest_start(&s, name, strlen(name) <= 3 ? 1 : 2);
        for (int f = 0; f < RX_F_COUNT; f++)
            agora__suggest_offer(&s, agora__rx_fns[f].name);
        if (s.best)
            return fail(c, node, "%s: unknown function; did you mean \"%s\"?", name, s.best);
        return fail(c, node, "%s: unknown function", name);
    }
    const int fn = n->op, nargs = n->nkids;
    const rx_fninfo *fi = &agora__rx_fns[fn];
    if (fn == RX_F_UNIFORM && nargs == 1)
        return fail(c, node, "uniform: expected 0 arguments (a real in [0, 1)) or 2 (a real in [a, b)), got 1");
    if (nargs < fi->min_args || (fi->max_args >= 0 && nargs > fi->max_args)) {
        if (fi->max_args < 0)
            return fail(c, node, "%s: expected at least %d arguments, got %d", fi->name, fi->min_args, nargs);
        return fail(c, node, "%s: expected %d argument%s, got %d", fi->name, fi->max_args, fi->max_args == 1 ? "" : "s",
                    nargs);
    }
    int rc, t, t2, t3;
    switch (fn) {
    case RX_F_IF: {
        if ((rc = bool_arg(c, node, 0, "if")))
            return rc;
        const int a = kid(c, node, 1), b = kid(c, node, 2);
        if ((rc = check_node(c, a)) || (rc = check_node(c, b)))
            return rc;
        const int ta = N(c, a)->type, tb = N(c, b)->type;
        if (is_num(ta) && is_num(tb)) {
            t = ta == tb ? ta : arith(ta, tb);
            use_as(c, a, t);
            use_as(c, b, t);
            return set_type(c, node, t);
        }
        if (is_num(ta) || is_num(tb))
            return fail(c, node, "if: the branches are %s and %s; both must be numbers, or values of one category",
                        type_words(c, a, w1, sizeof w1), type_words(c, b, w2, sizeof w2));
        if ((rc = meet_cats(c, node, "if", a, b)))
            return rc;
        n = N(c, node);
        n->cat = N(c, a)->type == AGORA_RX_CAT ? N(c, a)->cat : -1;
        return set_type(c, node, N(c, a)->type); /* pending when both are */
    }
    case RX_F_ABS:
        if ((rc = num_arg(c, node, 0, fi->name, &t)))
            return rc;
        return set_type(c, node, t == AGORA_RX_REAL ? AGORA_RX_REAL : AGORA_RX_INT);
    case RX_F_MIN:
    case RX_F_MAX:
    case RX_F_CLAMP:
        t = AGORA_RX_INT;
        for (int k = 0; k < nargs; k++) {
            if ((rc = num_arg(c, node, k, fi->name, &t2)))
                return rc;
            t = arith(t, t2);
        }
        for (int k = 0; k < nargs; k++)
            use_as(c, kid(c, node, k), t);
        return set_type(c, node, t);
    case RX_F_EXP:
    case RX_F_LOG:
    case RX_F_SQRT:
        if ((rc = num_arg(c, node, 0, fi->name, &t)))
            return rc;
        use_as(c, kid(c, node, 0), AGORA_RX_REAL);
        return set_type(c, node, AGORA_RX_REAL);
    case RX_F_POW:
        if ((rc = num_arg(c, node, 0, fi->name, &t)) || (rc = num_arg(c, node, 1, fi->name, &t2)))
            return rc;
        use_as(c, kid(c, node, 0), AGORA_RX_REAL);
        use_as(c, kid(c, node, 1), AGORA_RX_REAL);
        return set_type(c, node, AGORA_RX_REAL);
    case RX_F_FLOOR:
    case RX_F_CEIL:
    case RX_F_ROUND:
        if ((rc = num_arg(c, node, 0, fi->name, &t)))
            return rc;
        return set_type(c, node, AGORA_RX_INT);
    case RX_F_UNIFORM:
        if (nargs == 2) {
            if ((rc = num_arg(c, node, 0, fi->name, &t)) || (rc = num_arg(c, node, 1, fi->name, &t2)))
                return rc;
            use_as(c, kid(c, node, 0), AGORA_RX_REAL);
            use_as(c, kid(c, node, 1), AGORA_RX_REAL);
        }
        if ((rc = new_site(c, node)))
            return rc;
        return set_type(c, node, AGORA_RX_REAL);
    case RX_F_BERNOULLI:
        if ((rc = num_arg(c, node, 0, fi->name, &t)))
            return rc;
        use_as(c, kid(c, node, 0), AGORA_RX_REAL);
        if ((rc = new_site(c, node)))
            return rc;
        return set_type(c, node, AGORA_RX_BOOL);
    case RX_F_NORMAL:
        if ((rc = num_arg(c, node, 0, fi->name, &t)) || (rc = num_arg(c, node, 1, fi->name, &t2)))
            return rc;
        use_as(c, kid(c, node, 0), AGORA_RX_REAL);
        use_as(c, kid(c, node, 1), AGORA_RX_REAL);
        if ((rc = new_site(c, node)))
            return rc;
        return set_type(c, node, AGORA_RX_REAL);
    case RX_F_BINOMIAL:
        if ((rc = num_arg(c, node, 0, fi->name, &t)) || (rc = num_arg(c, node, 1, fi->name, &t3)))
            return rc;
        if (t == AGORA_RX_REAL)
            return fail(c, kid(c, node, 0),
                        "binomial: n must be an int, got real; use round(...), floor(...) or "
                        "ceil(...)");
        use_as(c, kid(c, node, 1), AGORA_RX_REAL);
        if ((rc = new_site(c, node)))
            return rc;
        return set_type(c, node, AGORA_RX_INT);
    default:
        return check_aggregate(c, node, fn);
    }
}

static int check_name(checker *c, int node)
{
    rx_node *n = N(c, node);
    const agora_rx_env *env = c->env;
    char name[128];
    if (n->len > 100)
        return fail(c, node, "%.40s...: unknown name (too long)", c->ast->text + n->pos);
    node_name(c, node, name, sizeof name);
    if (n->kind == RX_N_NBNAME) {
        if (c->in_nb < 0) {
            if (!env->has_neighbours)
                return fail(c, node, "nb.%s: the space has no neighbours (a mixed population)", name);
            return fail(c, node,
                        "nb.%s outside a neighbour aggregate: nb.x is only defined inside nb_count, nb_sum, "
                        "nb_mean, nb_min, nb_max, nb_any, nb_all and random_nb",
                        name);
        }
        c->nb_reads++;
        for (int i = 0; i < env->nvars; i++)
            if (strcmp(env->vars[i].name, name) == 0) {
                n->ref = RX_R_VAR;
                n->index = i;
                n->cat = env->vars[i].type == AGORA_RX_CAT ? (int16_t)i : -1;
                return set_type(c, node, env->vars[i].type);
            }
        for (int i = 0; i < env->nparams; i++)
            if (strcmp(env->params[i].name, name) == 0)
                return fail(c, node, "nb.%s: %s is a parameter, not a variable: write %s", name, name, name);
        return unknown_name(c, node, name, 1);
    }
    if (strcmp(name, "t") == 0) {
        n->ref = RX_R_T;
        return set_type(c, node, AGORA_RX_INT);
    }
    if (strcmp(name, "degree") == 0) {
        if (!env->has_neighbours)
            return fail(c, node, "degree needs neighbours, but the space has none (a mixed population)");
        n->ref = RX_R_DEGREE;
        return set_type(c, node, AGORA_RX_INT);
    }
    if (strcmp(name, "nb") == 0)
        return fail(c, node, "nb alone is not a value: write nb.x (a neighbour's x) inside a neighbour aggregate");
    for (int i = 0; i < env->nvars; i++)
        if (strcmp(env->vars[i].name, name) == 0) {
            if (env->vars_in_pop_only && c->in_pop < 0)
                return fail(c, node,
                            "%s: a metric is a number about the population: read variables inside pop_count, "
                            "pop_sum, pop_mean, pop_min, pop_max or pop_gini (pop_mean(%s), ...)",
                            name, name);
            if (env->pair && c->in_pop >= 0 && i >= agora__rx_env_pair_own(env))
                return fail(c, node, "%s: a value of the pair, and %s is over the whole population: use it outside %s",
                            name, agora__rx_fns[c->in_pop].name, agora__rx_fns[c->in_pop].name);
            n->ref = RX_R_VAR;
            n->index = i;
            n->cat = env->vars[i].type == AGORA_RX_CAT ? (int16_t)i : -1;
            return set_type(c, node, env->vars[i].type);
        }
    if (strncmp(name, "partner.", 8) == 0 && !env->pair)
        return fail(c, node, "%s: only pair rules (pairs:) have a partner", name);
    for (int i = 0; i < env->nparams; i++)
        if (strcmp(env->params[i].name, name) == 0) {
            n->ref = RX_R_PARAM;
            n->index = i;
            return set_type(c, node, env->params[i].type);
        }
    for (int f = 0; f < RX_F_COUNT; f++)
        if (strcmp(agora__rx_fns[f].name, name) == 0)
            return fail(c, node, "%s is a function: write %s(...)", name, name);
    for (int i = 0; i < env->nvars; i++)
        for (int j = 0; env->vars[i].type == AGORA_RX_CAT && j < env->vars[i].nvalues; j++)
            if (strcmp(env->vars[i].values[j], name) == 0) {
                n->ref = RX_R_VALUE;
                return set_type(c, node, T_PENDING);
            }
    return unknown_name(c, node, name, 0);
}

/* fail() with the type words of nodes a and b, for messages "<op>: ... %s ... %s". Kept out of check_binary so that
 * its frame stays small: it recurses once per operator of a long chain such as a + b + c + ... */
static int fail_ab(checker *c, int node, const char *fmt, const char *op, int a, int b)
{
    char wa[96], wb[96], msg[512];
    type_words(c, a, wa, sizeof wa);
    type_words(c, b, wb, sizeof wb);
    snprintf(msg, sizeof msg, fmt, op, wa, wb);
    return fail(c, node, "%s", msg);
}

static int check_binary(checker *c, int node)
{
    const int a = kid(c, node, 0), b = kid(c, node, 1);
    const rx_tok op = (rx_tok)N(c, node)->op;
    const char *os = op_text(op);
    int rc;
    if ((rc = check_node(c, a)) || (rc = check_node(c, b)))
        return rc;
    const int ta = N(c, a)->type, tb = N(c, b)->type;
    switch (op) {
    case RX_T_AND:
    case RX_T_OR:
        if (ta != AGORA_RX_BOOL || tb != AGORA_RX_BOOL)
            return fail_ab(c, node, "%s: expected bools, got %s and %s (write a comparison, such as x != 0)", os, a, b);
        return set_type(c, node, AGORA_RX_BOOL);
    case RX_T_EQ:
    case RX_T_NE:
        if (is_num(ta) && is_num(tb)) {
            const int t = ta == AGORA_RX_BOOL && tb == AGORA_RX_BOOL ? AGORA_RX_INT : arith(ta, tb);
            use_as(c, a, t);
            use_as(c, b, t);
            return set_type(c, node, AGORA_RX_BOOL);
        }
        if (is_num(ta) || is_num(tb))
            return fail_ab(c, node, "%s: cannot compare %s with %s", os, a, b);
        if (ta == T_PENDING && tb == T_PENDING)
            return fail(c, node, "%s: cannot tell the category of two bare values: compare a variable with a value",
                        os);
        if ((rc = meet_cats(c, node, os, a, b)))
            return rc;
        return set_type(c, node, AGORA_RX_BOOL);
    case RX_T_LT:
    case RX_T_LE:
    case RX_T_GT:
    case RX_T_GE:
        if (!is_num(ta) || !is_num(tb)) {
            if (ta == AGORA_RX_CAT || tb == AGORA_RX_CAT || ta == T_PENDING || tb == T_PENDING)
                return fail_ab(c, node, "%s: categories have no order (compare them with == or !=), got %s and %s", os,
                               a, b);
            return fail_ab(c, node, "%s: expected numbers, got %s and %s", os, a, b);
        }
        use_as(c, a, arith(ta, tb));
        use_as(c, b, arith(ta, tb));
        return set_type(c, node, AGORA_RX_BOOL);
    default:
        break;
    }
    if (!is_num(ta) || !is_num(tb))
        return fail_ab(c, node, "%s: expected numbers, got %s and %s", os, a, b);
    int t;
    switch (op) {
    case RX_T_PERCENT:
        if (ta == AGORA_RX_REAL || tb == AGORA_RX_REAL)
            return fail_ab(c, node, "%s: expected ints, got %s and %s (for reals: x - y * floor(x / y))", os, a, b);
        t = AGORA_RX_INT;
        break;
    case RX_T_SLASH:
    case RX_T_POW:
        t = AGORA_RX_REAL;
        break;
    default:
        t = arith(ta, tb);
        break;
    }
    use_as(c, a, t);
    use_as(c, b, t);
    return set_type(c, node, t);
}

static int check_node(checker *c, int node)
{
    rx_node *n = N(c, node);
    switch (n->kind) {
    case RX_N_INT:
        return set_type(c, node, AGORA_RX_INT);
    case RX_N_REAL:
        return set_type(c, node, AGORA_RX_REAL);
    case RX_N_BOOL:
        return set_type(c, node, AGORA_RX_BOOL);
    case RX_N_NAME:
    case RX_N_NBNAME:
        return check_name(c, node);
    case RX_N_UNARY: {
        const int a = kid(c, node, 0);
        int rc = check_node(c, a);
        if (rc)
            return rc;
        const int t = N(c, a)->type;
        char w[96];
        if (n->op == RX_T_NOT) {
            if (t != AGORA_RX_BOOL)
                return fail(c, node, "not: expected a bool, got %s (write a comparison, such as x == 0)",
                            type_words(c, a, w, sizeof w));
            return set_type(c, node, AGORA_RX_BOOL);
        }
        if (!is_num(t))
            return fail(c, node, "%s: expected a number, got %s", op_text((rx_tok)n->op),
                        type_words(c, a, w, sizeof w));
        return set_type(c, node, t == AGORA_RX_REAL ? AGORA_RX_REAL : AGORA_RX_INT);
    }
    case RX_N_BINARY:
        return check_binary(c, node);
    case RX_N_CALL:
        return check_call(c, node);
    default:
        return fail(c, node, "internal error: unknown node kind %d", n->kind);
    }
}

int agora__rx_check(rx_ast *ast, const agora_rx_env *env, agora_rx_type want, int want_cat, rx_checked *out,
                    agora_error *err)
{
    checker c = {.ast = ast, .env = env, .err = err, .in_nb = -1, .in_pop = -1};
    int rc = check_node(&c, ast->root);
    if (rc)
        return rc;
    const int root = ast->root;
    rx_node *r = &ast->nodes[root];
    char w[96];
    const char *var = env->rule_name ? env->rule_name : "the variable";
    if (want == AGORA_RX_CAT) {
        if (want_cat < 0 || want_cat >= env->nvars || env->vars[want_cat].type != AGORA_RX_CAT)
            return agora_error_set(err, AGORA_EINVAL, env->where, "the wanted category is not a category variable");
        if (is_num(r->type))
            return fail(&c, root, "the rule gives %s, but %s is %s (a category): give one of its values",
                        type_words(&c, root, w, sizeof w), var, env->vars[want_cat].name);
        if (r->type == T_PENDING && (rc = resolve(&c, root, want_cat)))
            return rc;
        if (!same_cat(env, r->cat, want_cat))
            return fail(&c, root, "the rule gives %s, but %s is %s (a category)", type_words(&c, root, w, sizeof w),
                        var, env->vars[want_cat].name);
    } else if (r->type == T_PENDING) {
        return fail(&c, root, "cannot tell the category of this value: compare it with a variable");
    } else if (want == AGORA_RX_BOOL || want == AGORA_RX_INT || want == AGORA_RX_REAL) {
        const int t = r->type;
        if (t == AGORA_RX_CAT)
            return fail(&c, root, "the rule gives %s, but %s is %s", type_words(&c, root, w, sizeof w), var,
                        agora__rx_type_name(want));
        if (want == AGORA_RX_BOOL && t != AGORA_RX_BOOL)
            return fail(&c, root, "the rule gives %s, but %s is bool: write a comparison, such as x > 0",
                        agora__rx_type_name((agora_rx_type)t), var);
        if (want == AGORA_RX_INT && t == AGORA_RX_REAL)
            return fail(&c, root, "the rule gives real, but %s is int: use round(...), floor(...) or ceil(...)", var);
        use_as(&c, root, want);
    } else if (want != AGORA_RX_ANY) {
        return agora_error_set(err, AGORA_EINVAL, env->where, "unknown wanted type %d", (int)want);
    }
    out->nsites = c.nsites;
    out->npop = c.npop;
    out->type = want == AGORA_RX_ANY ? (agora_rx_type)r->type : want;
    out->cat = out->type == AGORA_RX_CAT ? (want == AGORA_RX_CAT ? want_cat : r->cat) : -1;
    return 0;
}
