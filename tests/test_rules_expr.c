/* Tests for the rule language's expression core (src/rules/): parsing and Python's precedence, every operator and
 * function against hand-computed values, type promotion and every type error's exact message (position and
 * suggestion included), the limits (nesting, text size, node count), neighbour aggregates against brute-force loops
 * on torus, bounded and graph spaces, population aggregates bit-identical at 1, 2 and 4 threads, the keyed draws
 * (reproducible, independent per site, distributions within sampling error) and run-time faults naming the agent
 * and the step. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agora/agora.h"
#include "rules/expr.h"

/* ---- the fixture: 5 variables, 4 parameters ------------------------------------------------------------------ */

static const char *const sir_values[] = {"S", "I", "R"};
static const char *const mood_values[] = {"calm", "angry"};

enum { V_STATE, V_INFECTED, V_AGE, V_WEALTH, V_FRUSTRATION, V_MOOD, NVARS };
static const agora_rx_var vars[NVARS] = {
    {"state", AGORA_RX_CAT, sir_values, 3},  {"infected", AGORA_RX_BOOL, NULL, 0},
    {"age", AGORA_RX_INT, NULL, 0},          {"wealth", AGORA_RX_REAL, NULL, 0},
    {"frustration", AGORA_RX_REAL, NULL, 0}, {"mood", AGORA_RX_CAT, mood_values, 2},
};
enum { P_BETA, P_GAMMA, P_K, P_FLAG, NPARAMS };
static const agora_rx_param params[NPARAMS] = {
    {"beta", AGORA_RX_REAL}, {"gamma", AGORA_RX_REAL}, {"k", AGORA_RX_INT}, {"flag", AGORA_RX_BOOL}};

static agora_rx_env env_with(int has_neighbours)
{
    agora_rx_env e = {vars, NVARS, params, NPARAMS, has_neighbours, AGORA_RNG_STREAM_MODEL, 3, "x", "model.yaml", 0, 0};
    return e;
}

/* State of n agents with values that differ from agent to agent. */
typedef struct world {
    int64_t n;
    uint8_t *state, *infected, *mood;
    int64_t *age;
    double *wealth, *frustration;
    const void *cols[NVARS];
    agora_rx_value pv[NPARAMS];
    agora_space *space;
    agora_rx_nbhd nbhd;
    agora_rx_ctx ctx;
} world;

static void world_init(world *w, agora_space *space, int64_t n)
{
    memset(w, 0, sizeof *w);
    w->n = n;
    w->space = space;
    w->state = calloc((size_t)n, 1);
    w->infected = calloc((size_t)n, 1);
    w->mood = calloc((size_t)n, 1);
    w->age = calloc((size_t)n, sizeof *w->age);
    w->wealth = calloc((size_t)n, sizeof *w->wealth);
    w->frustration = calloc((size_t)n, sizeof *w->frustration);
    for (int64_t i = 0; i < n; i++) {
        w->state[i] = (uint8_t)((i * 7 + 1) % 3);
        w->infected[i] = (uint8_t)((i * 5 + 2) % 3 == 0);
        w->mood[i] = (uint8_t)(i % 2);
        w->age[i] = (i * 37) % 91 - 20;
        w->wealth[i] = 0.25 * (double)((i * 13) % 17) - 1.5;
        w->frustration[i] = 0.1 * (double)(i % 10);
    }
    w->cols[V_STATE] = w->state;
    w->cols[V_INFECTED] = w->infected;
    w->cols[V_AGE] = w->age;
    w->cols[V_WEALTH] = w->wealth;
    w->cols[V_FRUSTRATION] = w->frustration;
    w->cols[V_MOOD] = w->mood;
    w->pv[P_BETA].r = 0.25;
    w->pv[P_GAMMA].r = 0.1;
    w->pv[P_K].i = 3;
    w->pv[P_FLAG].i = 1;
    agora__rx_nbhd_init(&w->nbhd, space);
    w->ctx.cols = w->cols;
    w->ctx.params = w->pv;
    w->ctx.nbhd = space ? &w->nbhd : NULL;
    w->ctx.n = n;
    w->ctx.t = 7;
    w->ctx.key = agora_rng_key_from_seed(42);
    w->ctx.threads = 1;
}

static void world_free(world *w)
{
    free(w->state);
    free(w->infected);
    free(w->mood);
    free(w->age);
    free(w->wealth);
    free(w->frustration);
    agora_space_destroy(w->space);
}

static agora_space *grid(int64_t wd, int64_t ht, int torus, agora_neighborhood nbhd)
{
    agora_space *sp = NULL;
    agora_error err;
    assert_int_equal(agora_space_grid_create(wd, ht, torus, nbhd, &sp, &err), 0);
    return sp;
}

static agora__rx_prog *compile_env(const char *text, agora_rx_type want, int cat, const agora_rx_env *env)
{
    agora__rx_prog *p = NULL;
    agora_error err;
    agora_error_clear(&err);
    int rc = agora__rx_compile(text, strlen(text), 1, 1, env, want, cat, &p, &err);
    if (rc != 0)
        fail_msg("\"%s\" should compile but: %d:%d: %s", text, err.line, err.column, err.msg);
    return p;
}

static agora__rx_prog *compile(const char *text, agora_rx_type want, int cat)
{
    agora_rx_env env = env_with(1);
    return compile_env(text, want, cat, &env);
}

/* One agent's value of an expression (any type) on a 5 x 4 Moore torus. */
static agora_rx_value value_of(const char *text, agora_rx_type *type, int64_t agent)
{
    world w;
    world_init(&w, grid(5, 4, 1, AGORA_MOORE), 20);
    agora__rx_prog *p = compile(text, AGORA_RX_ANY, -1);
    agora_rx_value v;
    agora_rx_fault f;
    int rc = agora__rx_eval(p, &w.ctx, agent, &v, &f);
    if (rc != 0)
        fail_msg("\"%s\" faulted: %s at %d:%d", text, f.op, f.line, f.column);
    *type = agora__rx_prog_type(p, NULL);
    agora__rx_free(p);
    world_free(&w);
    return v;
}

static void assert_real(const char *text, double want)
{
    agora_rx_type t;
    agora_rx_value v = value_of(text, &t, 0);
    if (t != AGORA_RX_REAL)
        fail_msg("\"%s\": type %s, expected real", text, agora__rx_type_name(t));
    if (!(v.r == want || fabs(v.r - want) <= 1e-12 * fabs(want)))
        fail_msg("\"%s\" = %.17g, expected %.17g", text, v.r, want);
}

static void assert_int(const char *text, int64_t want)
{
    agora_rx_type t;
    agora_rx_value v = value_of(text, &t, 0);
    if (t != AGORA_RX_INT)
        fail_msg("\"%s\": type %s, expected int", text, agora__rx_type_name(t));
    if (v.i != want)
        fail_msg("\"%s\" = %lld, expected %lld", text, (long long)v.i, (long long)want);
}

static void assert_bool(const char *text, int want)
{
    agora_rx_type t;
    agora_rx_value v = value_of(text, &t, 0);
    if (t != AGORA_RX_BOOL)
        fail_msg("\"%s\": type %s, expected bool", text, agora__rx_type_name(t));
    if (v.i != want)
        fail_msg("\"%s\" = %lld, expected %d", text, (long long)v.i, want);
}

/* Compiling fails with code, at line:col of the file (the text starts at 10:5), with exactly msg. */
static void assert_error_env(const char *text, agora_rx_type want, int cat, const agora_rx_env *env, int code, int line,
                             int col, const char *msg)
{
    agora__rx_prog *p = NULL;
    agora_error err;
    agora_error_clear(&err);
    int rc = agora__rx_compile(text, strlen(text), 10, 5, env, want, cat, &p, &err);
    if (rc == 0)
        fail_msg("\"%s\" should not compile", text);
    assert_null(p);
    assert_int_equal(err.code, rc);
    if (rc != code || err.line != line || err.column != col || strcmp(err.msg, msg) != 0)
        fail_msg("\"%s\":\n  got      %s %d:%d: %s\n  expected %s %d:%d: %s", text, agora_errname(rc), err.line,
                 err.column, err.msg, agora_errname(code), line, col, msg);
    assert_string_equal(err.where, "model.yaml");
}

static void assert_error(const char *text, agora_rx_type want, int cat, int code, int line, int col, const char *msg)
{
    agora_rx_env env = env_with(1);
    assert_error_env(text, want, cat, &env, code, line, col, msg);
}

/* ---- parsing ---------------------------------------------------------------------------------------------------- */

static void precedence_follows_python(void **state)
{
    (void)state;
    assert_int("2 + 3 * 4", 14);
    assert_int("(2 + 3) * 4", 20);
    assert_int("10 - 4 - 3", 3);
    assert_int("2 * 3 % 4", 2);
    assert_int("- 2 * 3", -6);
    assert_real("-2 ** 2", -4.0);
    assert_real("2 ** 3 ** 2", 512.0);
    assert_real("2 ** -1", 0.5);
    assert_real("-age ** 2", -400.0); /* agent 0: age -20 */
    assert_bool("not 1 < 2 or true", 1);
    assert_bool("not (1 < 2 or true)", 0);
    assert_bool("true or false and false", 1);
    assert_bool("(true or false) and false", 0);
    assert_bool("1 + 1 == 2", 1);
    assert_real("1 / 2 * 4", 2.0);
    assert_int("+3", 3);
    assert_real("1e-3 * 1000", 1.0);
    assert_real(".5 + 2.", 2.5);
    assert_int("2\n*\n  3", 6);
}

static void syntax_errors_say_what_was_expected(void **state)
{
    (void)state;
    assert_error("1 +", AGORA_RX_ANY, -1, AGORA_EPARSE, 10, 8,
                 "expected a number, a name, a call or '(', got the end of the expression");
    assert_error("(1 + 2", AGORA_RX_ANY, -1, AGORA_EPARSE, 10, 11, "expected ')', got the end of the expression");
    assert_error("1 2", AGORA_RX_ANY, -1, AGORA_EPARSE, 10, 7,
                 "expected an operator or the end of the expression, got '2'");
    assert_error("", AGORA_RX_ANY, -1, AGORA_EPARSE, 10, 5, "empty expression");
    assert_error("a = 1", AGORA_RX_ANY, -1, AGORA_EPARSE, 10, 7, "'=' is not an operator: write == to compare");
    assert_error("infected && true", AGORA_RX_ANY, -1, AGORA_EPARSE, 10, 14, "'&' is not an operator: write and");
    assert_error("0 < age < 3", AGORA_RX_ANY, -1, AGORA_EPARSE, 10, 13,
                 "comparisons do not chain: write (a < b) and (b < c)");
    assert_error("1 if flag else 2", AGORA_RX_ANY, -1, AGORA_EPARSE, 10, 7,
                 "'a if c else b' is not supported: write if(c, a, b)");
    assert_error("min(1,\n  2", AGORA_RX_ANY, -1, AGORA_EPARSE, 11, 4,
                 "expected ',' or ')' in the arguments of a call, got the end of the expression");
    assert_error("99999999999999999999", AGORA_RX_ANY, -1, AGORA_EPARSE, 10, 5,
                 "integer too large: 99999999999999999999 (at most 9223372036854775807; a real: add .0)");
    assert_error("1e999", AGORA_RX_ANY, -1, AGORA_EPARSE, 10, 5, "number out of range: 1e999");
    assert_error("2 ^ 3", AGORA_RX_ANY, -1, AGORA_EPARSE, 10, 7, "'^' is not an operator: write ** for a power");
    assert_error("x.y", AGORA_RX_ANY, -1, AGORA_EPARSE, 10, 6,
                 "'.' only follows nb (nb.x is a neighbour's x) and, in pair rules, partner");
    assert_error("age \xC3\xA9", AGORA_RX_ANY, -1, AGORA_EPARSE, 10, 9, "unexpected byte 0xC3");
    /* a NUL byte inside the text is not the end of it */
    agora_rx_env env = env_with(1);
    agora__rx_prog *p = NULL;
    agora_error err;
    assert_int_equal(agora__rx_compile("1 +\0 2", 6, 1, 1, &env, AGORA_RX_ANY, -1, &p, &err), AGORA_EPARSE);
    assert_string_equal(err.msg, "unexpected byte 0x00");
}

/* ---- values ----------------------------------------------------------------------------------------------------- */

static void operators_match_hand_computed_values(void **state)
{
    (void)state;
    assert_int("7 % 3", 1);
    assert_int("-7 % 3", 2); /* Python: the sign of the divisor */
    assert_int("7 % -3", -2);
    assert_int("-9223372036854775807 % -1", 0);
    assert_int("9223372036854775807 + 1", INT64_MIN); /* ints wrap */
    assert_int("5 - 8", -3);
    assert_int("6 * -7", -42);
    assert_real("7 / 2", 3.5);
    assert_real("1.5 + 2", 3.5);
    assert_real("1.5 - 2", -0.5);
    assert_real("1.5 * 2", 3.0);
    assert_real("2 ** 0.5", sqrt(2.0));
    assert_real("-(1.5)", -1.5);
    assert_int("-(age)", 20);
    assert_bool("2 == 2.0", 1);
    assert_bool("2 != 2", 0);
    assert_bool("1 < 1.5", 1);
    assert_bool("2 <= 2", 1);
    assert_bool("3 > 3", 0);
    assert_bool("3 >= 3.5", 0);
    assert_bool("true == true", 1);
    assert_bool("true and not false", 1);
    assert_bool("false or false", 0);
    assert_int("true + true", 2); /* bool promotes to int */
    assert_int("t", 7);
    assert_int("degree", 8);
    assert_int("k * 2", 6);
    assert_real("beta + gamma", 0.35);
    assert_bool("flag", 1);
    assert_int("age", -20);
    assert_real("wealth", -1.5);
    assert_bool("state == I", 1); /* agent 0: state (0 * 7 + 1) % 3 = 1 */
    assert_bool("state != I", 0);
    assert_bool("I == state", 1);
    assert_bool("mood == calm", 1);
}

static void functions_match_hand_computed_values(void **state)
{
    (void)state;
    assert_int("abs(-3)", 3);
    assert_real("abs(-2.5)", 2.5);
    assert_int("abs(true)", 1);
    assert_int("min(3, 1, 2)", 1);
    assert_int("max(3, 1, 2)", 3);
    assert_real("max(1, 2.5)", 2.5);
    assert_real("min(1, 2.5)", 1.0);
    assert_real("exp(1)", exp(1.0));
    assert_real("log(10)", log(10.0));
    assert_real("sqrt(16)", 4.0);
    assert_real("pow(2, 10)", 1024.0);
    assert_int("floor(-2.5)", -3);
    assert_int("ceil(-2.5)", -2);
    assert_int("floor(7)", 7);
    assert_int("round(2.5)", 2); /* ties to even, as Python */
    assert_int("round(3.5)", 4);
    assert_int("round(-2.5)", -2);
    assert_int("round(2.6)", 3);
    assert_int("round(-0.4)", 0);
    assert_int("clamp(5, 0, 3)", 3);
    assert_int("clamp(-1, 0, 3)", 0);
    assert_real("clamp(0.5, 0, 1)", 0.5);
    assert_real("clamp(age, 0.5, 1)", 0.5);
    assert_int("if(true, 1, 2)", 1);
    assert_real("if(1 > 2, 1, 2.5)", 2.5);
    assert_bool("if(flag, true, false)", 1);
    assert_int("if(flag, true, 3)", 1);
    agora_rx_type t;
    agora_rx_value v = value_of("if(age < 0, R, state)", &t, 0);
    assert_int_equal(t, AGORA_RX_CAT);
    assert_int_equal(v.i, 2);
    v = value_of("if(age > 0, if(flag, S, R), state)", &t, 0);
    assert_int_equal(v.i, 1);
}

static void results_take_the_wanted_type(void **state)
{
    (void)state;
    world w;
    world_init(&w, grid(5, 4, 1, AGORA_MOORE), 20);
    agora_rx_value v;
    agora__rx_prog *p = compile("age + 1", AGORA_RX_REAL, -1); /* int into a real variable */
    assert_int_equal(agora__rx_prog_type(p, NULL), AGORA_RX_REAL);
    assert_int_equal(agora__rx_eval(p, &w.ctx, 0, &v, NULL), 0);
    assert_true(v.r == -19.0);
    agora__rx_free(p);
    p = compile("infected", AGORA_RX_INT, -1); /* bool into an int */
    assert_int_equal(agora__rx_eval(p, &w.ctx, 2, &v, NULL), 0);
    assert_int_equal(v.i, 1);
    assert_int_equal(agora__rx_eval(p, &w.ctx, 1, &v, NULL), 0);
    assert_int_equal(v.i, 0);
    agora__rx_free(p);
    p = compile("nb_sum(nb.infected)", AGORA_RX_ANY, -1);
    assert_int_equal(agora__rx_prog_type(p, NULL), AGORA_RX_INT);
    agora__rx_free(p);
    int cat = -2;
    p = compile("if(infected, I, R)", AGORA_RX_CAT, V_STATE);
    assert_int_equal(agora__rx_prog_type(p, &cat), AGORA_RX_CAT);
    assert_int_equal(cat, V_STATE);
    assert_int_equal(agora__rx_eval(p, &w.ctx, 0, &v, NULL), 0);
    assert_int_equal(v.i, w.infected[0] ? 1 : 2);
    agora__rx_free(p);
    p = compile("random_nb(nb.state)", AGORA_RX_CAT, V_STATE);
    agora__rx_free(p);
    world_free(&w);
}

/* ---- type and name errors --------------------------------------------------------------------------------------- */

static void names_errors_suggest_the_closest_name(void **state)
{
    (void)state;
    assert_error("frustation + 1", AGORA_RX_ANY, -1, AGORA_ESCHEMA, 10, 5,
                 "frustation: unknown variable; did you mean \"frustration\"?");
    assert_error("1 + betta", AGORA_RX_ANY, -1, AGORA_ESCHEMA, 10, 9,
                 "betta: unknown parameter; did you mean \"beta\"?");
    assert_error("sqr(2)", AGORA_RX_ANY, -1, AGORA_ESCHEMA, 10, 5, "sqr: unknown function; did you mean \"sqrt\"?");
    assert_error("nb_count(nb.infectd)", AGORA_RX_ANY, -1, AGORA_ESCHEMA, 10, 14,
                 "nb.infectd: unknown variable; did you mean \"nb.infected\"?");
    assert_error("True", AGORA_RX_ANY, -1, AGORA_ESCHEMA, 10, 5, "True: unknown name; did you mean \"true\"?");
    assert_error("zzz", AGORA_RX_ANY, -1, AGORA_ESCHEMA, 10, 5,
                 "zzz: unknown name (variables: state, infected, age, wealth, frustration, mood; parameters: beta, "
                 "gamma, k, flag)");
    assert_error("state == Q", AGORA_RX_ANY, -1, AGORA_ESCHEMA, 10, 14, "Q: unknown name; did you mean \"S\"?");
    assert_error("state == calm", AGORA_RX_ANY, -1, AGORA_ESCHEMA, 10, 14,
                 "calm: not a value of state (its values: S, I, R)");
    assert_error("mood == clam", AGORA_RX_ANY, -1, AGORA_ESCHEMA, 10, 13, "clam: unknown name; did you mean \"calm\"?");
    assert_error("age(1)", AGORA_RX_ANY, -1, AGORA_ESCHEMA, 10, 5, "age is a variable, not a function");
    assert_error("uniform + 1", AGORA_RX_ANY, -1, AGORA_ESCHEMA, 10, 5, "uniform is a function: write uniform(...)");
    assert_error("nb_sum(nb.beta)", AGORA_RX_ANY, -1, AGORA_ESCHEMA, 10, 12,
                 "nb.beta: beta is a parameter, not a variable: write beta");
    assert_error("nb + 1", AGORA_RX_ANY, -1, AGORA_ESCHEMA, 10, 5,
                 "nb alone is not a value: write nb.x (a neighbour's x) inside a neighbour aggregate");
}

static void type_errors_name_both_types(void **state)
{
    (void)state;
    assert_error("state + 1", AGORA_RX_ANY, -1, AGORA_ESCHEMA, 10, 11,
                 "+: expected numbers, got state (a category) and int");
    assert_error("infected and 1", AGORA_RX_ANY, -1, AGORA_ESCHEMA, 10, 14,
                 "and: expected bools, got bool and int (write a comparison, such as x != 0)");
    assert_error("not age", AGORA_RX_ANY, -1, AGORA_ESCHEMA, 10, 5,
                 "not: expected a bool, got int (write a comparison, such as x == 0)");
    assert_error("state == 1", AGORA_RX_ANY, -1, AGORA_ESCHEMA, 10, 11,
                 "==: cannot compare state (a category) with int");
    assert_error("state < I", AGORA_RX_ANY, -1, AGORA_ESCHEMA, 10, 11,
                 "<: categories have no order (compare them with == or !=), got state (a category) and a category "
                 "value");
    assert_error("state == mood", AGORA_RX_ANY, -1, AGORA_ESCHEMA, 10, 11,
                 "==: state (a category) and mood (a category) are different categories");
    assert_error("I == R", AGORA_RX_ANY, -1, AGORA_ESCHEMA, 10, 7,
                 "==: cannot tell the category of two bare values: compare a variable with a value");
    assert_error("wealth % 2", AGORA_RX_ANY, -1, AGORA_ESCHEMA, 10, 12,
                 "%: expected ints, got real and int (for reals: x - y * floor(x / y))");
    assert_error("if(age, 1, 2)", AGORA_RX_ANY, -1, AGORA_ESCHEMA, 10, 8,
                 "if: expected a bool (a comparison such as x > 0), got int");
    assert_error("if(flag, I, 2)", AGORA_RX_ANY, -1, AGORA_ESCHEMA, 10, 5,
                 "if: the branches are a category value and int; both must be numbers, or values of one category");
    assert_error("sqrt(state)", AGORA_RX_ANY, -1, AGORA_ESCHEMA, 10, 10,
                 "sqrt: expected a number, got state (a category)");
    assert_error("pow(2, mood)", AGORA_RX_ANY, -1, AGORA_ESCHEMA, 10, 12,
                 "pow: argument 2: expected a number, got mood (a category)");
    assert_error("binomial(2.5, 0.1)", AGORA_RX_ANY, -1, AGORA_ESCHEMA, 10, 14,
                 "binomial: n must be an int, got real; use round(...), floor(...) or ceil(...)");
    assert_error("sqrt(1, 2)", AGORA_RX_ANY, -1, AGORA_ESCHEMA, 10, 5, "sqrt: expected 1 argument, got 2");
    assert_error("min(1)", AGORA_RX_ANY, -1, AGORA_ESCHEMA, 10, 5, "min: expected at least 2 arguments, got 1");
    assert_error("clamp(1, 2)", AGORA_RX_ANY, -1, AGORA_ESCHEMA, 10, 5, "clamp: expected 3 arguments, got 2");
    assert_error("uniform(1)", AGORA_RX_ANY, -1, AGORA_ESCHEMA, 10, 5,
                 "uniform: expected 0 arguments (a real in [0, 1)) or 2 (a real in [a, b)), got 1");
    assert_error("I", AGORA_RX_ANY, -1, AGORA_ESCHEMA, 10, 5,
                 "cannot tell the category of this value: compare it with a variable");
    /* the rule's variable */
    assert_error("wealth * 2", AGORA_RX_INT, -1, AGORA_ESCHEMA, 10, 12,
                 "the rule gives real, but x is int: use round(...), floor(...) or ceil(...)");
    assert_error("age + 1", AGORA_RX_BOOL, -1, AGORA_ESCHEMA, 10, 9,
                 "the rule gives int, but x is bool: write a comparison, such as x > 0");
    assert_error("state", AGORA_RX_REAL, -1, AGORA_ESCHEMA, 10, 5, "the rule gives state (a category), but x is real");
    assert_error("mood", AGORA_RX_CAT, V_STATE, AGORA_ESCHEMA, 10, 5,
                 "the rule gives mood (a category), but x is state (a category)");
    assert_error("age", AGORA_RX_CAT, V_STATE, AGORA_ESCHEMA, 10, 5,
                 "the rule gives int, but x is state (a category): give one of its values");
    assert_error("if(flag, S, angry)", AGORA_RX_CAT, V_STATE, AGORA_ESCHEMA, 10, 17,
                 "angry: not a value of state (its values: S, I, R)");
}

static void neighbour_and_aggregate_misuse_is_an_error(void **state)
{
    (void)state;
    assert_error("nb.age + 1", AGORA_RX_ANY, -1, AGORA_ESCHEMA, 10, 5,
                 "nb.age outside a neighbour aggregate: nb.x is only defined inside nb_count, nb_sum, nb_mean, "
                 "nb_min, nb_max, nb_any, nb_all and random_nb");
    assert_error("nb_sum(nb_sum(nb.age))", AGORA_RX_ANY, -1, AGORA_ESCHEMA, 10, 12,
                 "aggregates do not nest: nb_sum inside nb_sum");
    assert_error("nb_sum(pop_sum(age) + nb.age)", AGORA_RX_ANY, -1, AGORA_ESCHEMA, 10, 12,
                 "aggregates do not nest: pop_sum inside nb_sum");
    assert_error("pop_sum(pop_max(age))", AGORA_RX_ANY, -1, AGORA_ESCHEMA, 10, 13,
                 "aggregates do not nest: pop_max inside pop_sum");
    assert_error("pop_sum(nb_count(random_nb(nb.infected)))", AGORA_RX_ANY, -1, AGORA_ESCHEMA, 10, 22,
                 "aggregates do not nest: random_nb inside nb_count");
    assert_error("pop_sum(random_nb(nb.age))", AGORA_RX_ANY, -1, AGORA_ESCHEMA, 10, 13,
                 "random_nb: no randomness inside pop_sum (population aggregates are computed once per step)");
    assert_error("nb_mean(random_nb(nb.age))", AGORA_RX_ANY, -1, AGORA_ESCHEMA, 10, 13,
                 "aggregates do not nest: random_nb inside nb_mean");
    assert_error("nb_count(state == I)", AGORA_RX_ANY, -1, AGORA_ESCHEMA, 10, 5,
                 "nb_count(...) reads no neighbour: write nb.x for the neighbour's x (a plain x is the agent's own)");
    assert_error("pop_mean(uniform())", AGORA_RX_ANY, -1, AGORA_ESCHEMA, 10, 14,
                 "uniform: no randomness inside pop_mean (population aggregates are computed once per step)");
    assert_error("pop_sum(nb.age)", AGORA_RX_ANY, -1, AGORA_ESCHEMA, 10, 13,
                 "nb.age outside a neighbour aggregate: nb.x is only defined inside nb_count, nb_sum, nb_mean, "
                 "nb_min, nb_max, nb_any, nb_all and random_nb");
    assert_error("nb_count(nb.age)", AGORA_RX_ANY, -1, AGORA_ESCHEMA, 10, 14,
                 "nb_count: expected a bool (a comparison such as x > 0), got int");
    /* a mixed space has no neighbours */
    agora_rx_env mixed = env_with(0);
    assert_error_env("nb_count(nb.infected)", AGORA_RX_ANY, -1, &mixed, AGORA_ESCHEMA, 10, 5,
                     "nb_count needs neighbours, but the space has none (a mixed population)");
    assert_error_env("degree", AGORA_RX_ANY, -1, &mixed, AGORA_ESCHEMA, 10, 5,
                     "degree needs neighbours, but the space has none (a mixed population)");
    assert_error_env("nb.age", AGORA_RX_ANY, -1, &mixed, AGORA_ESCHEMA, 10, 5,
                     "nb.age: the space has no neighbours (a mixed population)");
    agora__rx_prog *p = compile_env("pop_mean(wealth) + 1", AGORA_RX_REAL, -1, &mixed);
    agora__rx_free(p);
}

static void declarations_are_checked(void **state)
{
    (void)state;
    static const char *const bad_values[] = {"low", "beta"};
    agora_rx_var v[2] = {{"level", AGORA_RX_CAT, bad_values, 2}, {"age", AGORA_RX_INT, NULL, 0}};
    agora_rx_env env = {v, 2, params, NPARAMS, 1, 16, 0, NULL, "m.yaml", 0, 0};
    agora_error err;
    assert_int_equal(agora__rx_env_check(&env, &err), AGORA_ESCHEMA);
    assert_string_equal(err.msg,
                        "variable \"level\": the value \"beta\" is also a parameter name (it could not be told "
                        "apart in expressions)");
    agora_rx_var t[1] = {{"t", AGORA_RX_INT, NULL, 0}};
    env.vars = t;
    env.nvars = 1;
    assert_int_equal(agora__rx_env_check(&env, &err), AGORA_ESCHEMA);
    assert_string_equal(err.msg, "variable \"t\": the name is reserved (t, degree, nb, true, false, and, or, not, if "
                                 "and the function names)");
    agora_rx_var twice[2] = {{"beta", AGORA_RX_REAL, NULL, 0}, {"x", AGORA_RX_REAL, NULL, 0}};
    env.vars = twice;
    env.nvars = 2;
    assert_int_equal(agora__rx_env_check(&env, &err), AGORA_ESCHEMA);
    assert_string_equal(err.msg, "variable \"beta\": the name is also a parameter");
    agora__rx_prog *p = NULL;
    assert_int_equal(agora__rx_compile("x", 1, 1, 1, &env, AGORA_RX_ANY, -1, &p, &err), AGORA_ESCHEMA);
    assert_null(p);
}

static void errors_are_located_in_the_file(void **state)
{
    (void)state;
    agora_rx_env env = env_with(1);
    agora__rx_prog *p = NULL;
    agora_error err;
    const char *text = "if(flag,\n   frustation, 0)";
    assert_int_equal(agora__rx_compile(text, strlen(text), 7, 12, &env, AGORA_RX_REAL, -1, &p, &err), AGORA_ESCHEMA);
    char buf[1024];
    assert_string_equal(agora_error_format(&err, buf, sizeof buf),
                        "model.yaml:8:4: frustation: unknown variable; did you mean \"frustration\"?");
    assert_int_equal(agora__rx_compile("frustation", 10, 7, 12, &env, AGORA_RX_REAL, -1, &p, &err), AGORA_ESCHEMA);
    assert_int_equal(err.line, 7);
    assert_int_equal(err.column, 12);
}

/* ---- limits ----------------------------------------------------------------------------------------------------- */

static char *repeat(const char *head, const char *unit, int n, const char *tail)
{
    size_t hu = strlen(head), uu = strlen(unit), tu = strlen(tail);
    char *s = malloc(hu + uu * (size_t)n + tu + 1);
    memcpy(s, head, hu);
    for (int i = 0; i < n; i++)
        memcpy(s + hu + uu * (size_t)i, unit, uu);
    memcpy(s + hu + uu * (size_t)n, tail, tu + 1);
    return s;
}

static void limit_error(const char *text, size_t len, const char *msg_start)
{
    agora_rx_env env = env_with(1);
    agora__rx_prog *p = NULL;
    agora_error err;
    int rc = agora__rx_compile(text, len, 1, 1, &env, AGORA_RX_ANY, -1, &p, &err);
    assert_int_equal(rc, AGORA_ESCHEMA);
    assert_null(p);
    if (strncmp(err.msg, msg_start, strlen(msg_start)) != 0)
        fail_msg("got \"%s\", expected it to start \"%s\"", err.msg, msg_start);
}

static void deep_nesting_is_an_error_not_a_crash(void **state)
{
    (void)state;
    /* 10,000 levels of each construct that nests; the parser would need a deep C stack without the limit. The text
     * limit is checked first, so these are cut to 4,000 bytes: still far past 64 levels. */
    const char *units[][3] = {{"", "(", "1"},    {"", "-", "1"},   {"", "not ", "true"},
                              {"", "abs(", "1"}, {"1", "**2", ""}, {"", "nb_sum(", "nb.age"}};
    for (size_t u = 0; u < sizeof units / sizeof units[0]; u++) {
        char *s = repeat(units[u][0], units[u][1], 10000, units[u][2]);
        const size_t len = strlen(s) < 4000 ? strlen(s) : 4000;
        limit_error(s, len, "expression nested too deeply: more than 64 levels");
        free(s);
    }
    /* 10,000 levels whole: too long first */
    char *s = repeat("", "(", 10000, "1");
    limit_error(s, strlen(s), "expression too long: 10001 bytes, at most 4096");
    free(s);
    /* 64 levels are fine */
    s = repeat("", "(", 63, "1");
    char *t = repeat(s, ")", 63, "");
    agora__rx_free(compile(t, AGORA_RX_INT, -1));
    free(s);
    free(t);
}

static void size_limits_are_errors(void **state)
{
    (void)state;
    char *s = repeat("1", " + 1", 1300, ""); /* 5.2 KB */
    limit_error(s, strlen(s), "expression too long: 5201 bytes, at most 4096");
    free(s);
    s = repeat("1", "+1", 600, ""); /* 1201 nodes in 1201 bytes */
    limit_error(s, strlen(s), "expression too large: more than 1024 operators and operands");
    free(s);
    s = repeat("min(1", ",1", 1100, ")");
    limit_error(s, strlen(s), "expression too large: more than 1024 operators and operands");
    free(s);
    s = repeat("1", "+1", 500, ""); /* 1001 nodes: fine */
    agora__rx_free(compile(s, AGORA_RX_INT, -1));
    free(s);
}

/* ---- neighbours ------------------------------------------------------------------------------------------------- */

/* The neighbours of agent i by brute force from the geometry (or the CSR rows). */
static int brute_neighbours(const agora_space *sp, int64_t i, int64_t *out)
{
    if (sp->kind == AGORA_SPACE_GRAPH) {
        int n = 0;
        for (int64_t e = sp->graph.offsets[i]; e < sp->graph.offsets[i + 1]; e++)
            out[n++] = sp->graph.neighbors[e];
        return n;
    }
    const int64_t w = sp->grid.width, h = sp->grid.height, x = i % w, y = i / w;
    int n = 0;
    for (int dy = -1; dy <= 1; dy++)
        for (int dx = -1; dx <= 1; dx++) {
            if ((dx == 0 && dy == 0) || (sp->grid.nbhd == AGORA_VON_NEUMANN && dx && dy))
                continue;
            int64_t nx = x + dx, ny = y + dy;
            if (sp->grid.torus) {
                nx = (nx + w) % w;
                ny = (ny + h) % h;
            } else if (nx < 0 || ny < 0 || nx >= w || ny >= h) {
                continue;
            }
            out[n++] = ny * w + nx;
        }
    return n;
}

static void check_aggregates_on(agora_space *sp)
{
    world w;
    const int64_t n = sp->n;
    world_init(&w, sp, n);
    int64_t *iout = malloc(sizeof *iout * (size_t)n);
    double *rout = malloc(sizeof *rout * (size_t)n);
    uint8_t *bout = malloc((size_t)n);
    static const char *exprs[] = {
        "degree", "nb_count(nb.infected)", "nb_count(nb.state == I and infected)", "nb_sum(nb.age)",
        "nb_sum(nb.wealth * 2)", "nb_mean(nb.age)", "nb_min(nb.age - age)", "nb_max(nb.wealth)", "nb_any(nb.age > 40)",
        "nb_all(nb.state != R)", "nb_min(nb.wealth)", "nb_sum(nb.infected) + nb_max(nb.age)",
        /* the fused instructions (nb_count(nb.v == k), nb_sum(nb.v)) and the general loop
         * must agree: 12-15 are the fused forms of 16-19 */
        "nb_count(nb.state == I)", "nb_count(R != nb.state)", "nb_sum(nb.infected)", "nb_sum(nb.wealth)",
        "nb_count((nb.state == I) == true)", "nb_count(not (R == nb.state))", "nb_sum(nb.infected + 0)",
        "nb_sum(nb.wealth + 0.0)"};
    for (size_t e = 0; e < sizeof exprs / sizeof exprs[0]; e++) {
        agora__rx_prog *p = compile(exprs[e], AGORA_RX_ANY, -1);
        const agora_rx_type t = agora__rx_prog_type(p, NULL);
        void *out = t == AGORA_RX_REAL ? (void *)rout : t == AGORA_RX_INT ? (void *)iout : (void *)bout;
        assert_int_equal(agora__rx_eval_range(p, &w.ctx, 0, n, out, NULL), 0);
        for (int64_t i = 0; i < n; i++) {
            int64_t nb[64];
            const int k = brute_neighbours(sp, i, nb);
            int64_t cnt = 0, isum = 0, imin = INT64_MAX, imax = INT64_MIN, sum_inf = 0, max_age = INT64_MIN;
            double rsum = 0, rmax = -INFINITY, rmin = INFINITY;
            int any = 0, all = 1;
            for (int j = 0; j < k; j++) {
                const int64_t q = nb[j];
                switch (e) {
                case 1:
                    cnt += w.infected[q];
                    break;
                case 2:
                    cnt += w.state[q] == 1 && w.infected[i];
                    break;
                case 3:
                case 5:
                    isum += w.age[q];
                    break;
                case 4:
                    rsum += w.wealth[q] * 2;
                    break;
                case 6:
                    imin = w.age[q] - w.age[i] < imin ? w.age[q] - w.age[i] : imin;
                    break;
                case 7:
                    rmax = w.wealth[q] > rmax ? w.wealth[q] : rmax;
                    break;
                case 8:
                    any |= w.age[q] > 40;
                    break;
                case 9:
                    all &= w.state[q] != 2;
                    break;
                case 10:
                    rmin = w.wealth[q] < rmin ? w.wealth[q] : rmin;
                    break;
                case 11:
                    sum_inf += w.infected[q];
                    max_age = w.age[q] > max_age ? w.age[q] : max_age;
                    break;
                }
            }
            (void)imax;
            if (e >= 12) {
                /* checked against the general form below */
                continue;
            }
            switch (e) {
            case 0:
                assert_int_equal(iout[i], k);
                break;
            case 1:
            case 2:
                assert_int_equal(iout[i], cnt);
                break;
            case 3:
                assert_int_equal(iout[i], isum);
                break;
            case 4:
                assert_true(rout[i] == rsum);
                break;
            case 5:
                assert_true(rout[i] == (k ? (double)isum / k : 0.0));
                break;
            case 6:
                assert_int_equal(iout[i], k ? imin : 0);
                break;
            case 7:
                assert_true(rout[i] == (k ? rmax : 0.0));
                break;
            case 8:
                assert_int_equal(bout[i], any);
                break;
            case 9:
                assert_int_equal(bout[i], all);
                break;
            case 10:
                assert_true(rout[i] == (k ? rmin : 0.0));
                break;
            case 11:
                assert_int_equal(iout[i], sum_inf + (k ? max_age : 0));
                break;
            }
        }
        if (e >= 16) {
            /* the same expression's fused form was compiled just before: compare the two outputs */
            agora__rx_prog *fused = compile(exprs[e - 4], AGORA_RX_ANY, -1);
            void *o2 = malloc(sizeof(double) * (size_t)n);
            assert_int_equal(agora__rx_eval_range(fused, &w.ctx, 0, n, o2, NULL), 0);
            const size_t width = t == AGORA_RX_REAL ? sizeof(double) : t == AGORA_RX_INT ? sizeof(int64_t) : 1;
            assert_memory_equal(o2, out, width * (size_t)n);
            assert_true(agora__rx_prog_size(fused) < agora__rx_prog_size(p));
            free(o2);
            agora__rx_free(fused);
        }
        agora__rx_free(p);
    }
    free(iout);
    free(rout);
    free(bout);
    world_free(&w);
}

static void neighbour_aggregates_match_brute_force_on_a_torus(void **state)
{
    (void)state;
    check_aggregates_on(grid(7, 5, 1, AGORA_MOORE));
    check_aggregates_on(grid(7, 5, 1, AGORA_VON_NEUMANN));
    /* narrower than 3 cells: a neighbour reached twice (or the cell itself) counts each time, as in the built-in
     * SIR's column sums */
    check_aggregates_on(grid(2, 3, 1, AGORA_MOORE));
    check_aggregates_on(grid(1, 1, 1, AGORA_MOORE));
    check_aggregates_on(grid(1, 4, 1, AGORA_VON_NEUMANN));
}

static void neighbour_aggregates_match_brute_force_on_a_bounded_grid(void **state)
{
    (void)state;
    check_aggregates_on(grid(6, 4, 0, AGORA_MOORE));
    check_aggregates_on(grid(6, 4, 0, AGORA_VON_NEUMANN));
    /* corners have 3 (Moore) and 2 (von Neumann) neighbours, edges 5 and 3 */
    world w;
    world_init(&w, grid(6, 4, 0, AGORA_MOORE), 24);
    agora__rx_prog *p = compile("degree", AGORA_RX_INT, -1);
    int64_t deg[24];
    assert_int_equal(agora__rx_eval_range(p, &w.ctx, 0, 24, deg, NULL), 0);
    assert_int_equal(deg[0], 3);
    assert_int_equal(deg[5], 3);
    assert_int_equal(deg[23], 3);
    assert_int_equal(deg[2], 5);
    assert_int_equal(deg[8], 8);
    world_free(&w);
    world_init(&w, grid(6, 4, 0, AGORA_VON_NEUMANN), 24);
    assert_int_equal(agora__rx_eval_range(p, &w.ctx, 0, 24, deg, NULL), 0);
    assert_int_equal(deg[0], 2);
    assert_int_equal(deg[18], 2);
    assert_int_equal(deg[2], 3);
    assert_int_equal(deg[8], 4);
    agora__rx_free(p);
    world_free(&w);
}

static void neighbour_aggregates_match_brute_force_on_a_graph(void **state)
{
    (void)state;
    /* a small graph with an isolated vertex (6), a hub (0) and a path */
    const int64_t edges[] = {0, 1, 0, 2, 0, 3, 0, 4, 1, 2, 4, 5, 5, 7, 7, 8, 8, 9, 3, 9};
    agora_space *sp = NULL;
    agora_error err;
    assert_int_equal(agora_space_graph_from_edges(10, edges, 10, &sp, &err), 0);
    check_aggregates_on(sp);
}

static void random_neighbour_picks_each_neighbour_alike(void **state)
{
    (void)state;
    /* random_nb(nb.x) over many steps: each of the 8 neighbours of a torus cell about 1/8 of the time */
    world w;
    world_init(&w, grid(5, 5, 1, AGORA_MOORE), 25);
    for (int64_t i = 0; i < 25; i++)
        w.age[i] = i;
    agora__rx_prog *p = compile("random_nb(nb.age)", AGORA_RX_INT, -1);
    int hits[25] = {0};
    const int steps = 8000;
    for (int s = 0; s < steps; s++) {
        w.ctx.t = s;
        agora_rx_value v;
        assert_int_equal(agora__rx_eval(p, &w.ctx, 12, &v, NULL), 0);
        hits[v.i]++;
    }
    int64_t nb[8];
    const int k = brute_neighbours(w.space, 12, nb);
    int total = 0;
    for (int j = 0; j < k; j++) {
        /* binomial(8000, 1/8): sd 29.6; 5 sd */
        assert_true(abs(hits[nb[j]] - steps / 8) < 150);
        total += hits[nb[j]];
    }
    assert_int_equal(total, steps);
    agora__rx_free(p);
    world_free(&w);
}

/* ---- population aggregates ------------------------------------------------------------------------------------ */

static void population_aggregates_are_identical_at_any_thread_count(void **state)
{
    (void)state;
    const int64_t n = 100003; /* not a multiple of the block */
    world w;
    world_init(&w, NULL, n);
    for (int64_t i = 0; i < n; i++)
        w.wealth[i] = agora_rng_u01(agora_rng(7, 0, (uint64_t)i, 1)) * 1e3 - 400.0;
    agora_rx_env env = env_with(0);
    agora__rx_prog *p = compile_env("pop_sum(wealth) + pop_mean(wealth * wealth) + pop_min(wealth) + pop_max(age) + "
                                    "pop_count(wealth > 0) + pop_sum(age) + pop_mean(infected)",
                                    AGORA_RX_REAL, -1, &env);
    assert_int_equal(agora__rx_prog_npop(p), 7);
    agora_rx_value v1[7], v[7];
    agora_error err;
    w.ctx.threads = 1;
    assert_int_equal(agora__rx_pop_aggregates(p, &w.ctx, v1, NULL, &err), 0);
    for (int threads = 2; threads <= 4; threads += 2) {
        w.ctx.threads = threads;
        assert_int_equal(agora__rx_pop_aggregates(p, &w.ctx, v, NULL, &err), 0);
        assert_memory_equal(v, v1, sizeof v);
    }
    /* against brute force: exact for ints, within rounding for real sums (the order differs) */
    double sum = 0, sq = 0, mn = INFINITY;
    int64_t mx = INT64_MIN, cnt = 0, asum = 0, inf = 0;
    for (int64_t i = 0; i < n; i++) {
        sum += w.wealth[i];
        sq += w.wealth[i] * w.wealth[i];
        mn = w.wealth[i] < mn ? w.wealth[i] : mn;
        mx = w.age[i] > mx ? w.age[i] : mx;
        cnt += w.wealth[i] > 0;
        asum += w.age[i];
        inf += w.infected[i];
    }
    assert_true(fabs(v1[0].r - sum) < 1e-6);
    assert_true(fabs(v1[1].r - sq / (double)n) < 1e-6);
    assert_true(v1[2].r == mn);
    assert_int_equal(v1[3].i, mx);
    assert_int_equal(v1[4].i, cnt);
    assert_int_equal(v1[5].i, asum);
    assert_true(v1[6].r == (double)inf / (double)n);
    /* the rule reads them */
    w.ctx.pop = v1;
    agora_rx_value out;
    assert_int_equal(agora__rx_eval(p, &w.ctx, 0, &out, NULL), 0);
    const double want = v1[0].r + v1[1].r + v1[2].r + (double)(v1[3].i + v1[4].i + v1[5].i) + v1[6].r;
    assert_true(fabs(out.r - want) < 1e-6 * fabs(want));
    agora__rx_free(p);
    world_free(&w);
}

/* The fused pass (every metric's aggregates at once, each aggregate's values a block at a time from a program of its
 * own) gives the bits of agora__rx_pop_aggregates program by program, at any thread count; a program whose
 * aggregates fault is marked and the others still come out. */
static void fused_population_aggregates_match_one_by_one(void **state)
{
    (void)state;
    const int64_t n = 10007;
    world w;
    world_init(&w, NULL, n);
    for (int64_t i = 0; i < n; i++)
        w.wealth[i] = agora_rng_u01(agora_rng(9, 0, (uint64_t)i, 1)) * 1e3 - 400.0;
    agora_rx_env env = env_with(0);
    const char *texts[] = {"pop_sum(wealth) + pop_mean(wealth * wealth) + pop_min(wealth) + pop_max(age)",
                           "pop_count(wealth > 0) + pop_sum(age) + pop_mean(infected) + pop_min(age) + pop_count(infected)",
                           "pop_mean(if(wealth > 0, wealth < 300, age > 3)) + pop_sum(infected)",
                           "pop_sum(log(wealth))", /* faults: some wealth is negative */
                           "pop_gini(abs(wealth)) + pop_max(wealth) + pop_sum(if(wealth > 0, 1, 2))", "t + 1"};
    enum { NP = 6 };
    agora__rx_prog *p[NP], *vp[32];
    agora__rx_range_fn vf[32];
    int nv = 0;
    for (int q = 0; q < NP; q++) {
        p[q] = compile_env(texts[q], AGORA_RX_REAL, -1, &env);
        for (int k = 0; k < agora__rx_prog_npop(p[q]); k++) {
            assert_int_equal(agora__rx_pop_program(p[q], k, &vp[nv]), 0);
            vf[nv++] = agora__rx_eval_range;
        }
    }
    assert_int_equal(nv, 15);
    assert_int_equal(agora__rx_pop_program(p[0], 4, &vp[nv]), AGORA_EINVAL);
    agora_error err;
    for (int threads = 1; threads <= 4; threads *= 2) {
        w.ctx.threads = threads;
        agora_rx_value fused[32];
        uint8_t ok[NP];
        assert_int_equal(agora__rx_pop_aggregates_fused((const agora__rx_prog *const *)p, NP,
                                                        (const agora__rx_prog *const *)vp, vf, &w.ctx, fused, ok,
                                                        &err),
                         0);
        for (int q = 0, j = 0; q < NP; j += agora__rx_prog_npop(p[q]), q++) {
            agora_rx_value one[8];
            agora_rx_fault f;
            const int rc = agora__rx_pop_aggregates(p[q], &w.ctx, one, &f, &err);
            assert_int_equal(ok[q], rc == 0);
            if (rc == 0 && agora__rx_prog_npop(p[q]))
                assert_memory_equal(one, fused + j, sizeof *one * (size_t)agora__rx_prog_npop(p[q]));
        }
        assert_int_equal(ok[3], 0);
    }
    for (int q = 0; q < NP; q++)
        agora__rx_free(p[q]);
    for (int j = 0; j < nv; j++)
        agora__rx_free(vp[j]);
    world_free(&w);
}

/* A neighbour aggregate inside a population aggregate (a metric such as Schelling's like-neighbour share): each
 * agent's value reads its neighbours at t, one by one as in a rule, the fused pass and the interpreter alike. */
static void population_aggregates_may_read_neighbours(void **state)
{
    (void)state;
    world w;
    world_init(&w, grid(9, 7, 1, AGORA_MOORE), 63);
    agora_rx_env env = env_with(1);
    agora__rx_prog *p = compile_env("pop_mean(nb_count(nb.infected == infected)) + pop_sum(nb_max(nb.age) - age)",
                                    AGORA_RX_REAL, -1, &env);
    agora__rx_prog *one = compile_env("nb_count(nb.infected == infected)", AGORA_RX_INT, -1, &env);
    agora__rx_prog *two = compile_env("nb_max(nb.age) - age", AGORA_RX_INT, -1, &env);
    double want0 = 0;
    int64_t want1 = 0;
    for (int64_t i = 0; i < w.n; i++) {
        agora_rx_value a, b;
        assert_int_equal(agora__rx_eval(one, &w.ctx, i, &a, NULL), 0);
        assert_int_equal(agora__rx_eval(two, &w.ctx, i, &b, NULL), 0);
        want0 += (double)a.i;
        want1 += b.i;
    }
    agora_rx_value v[2], f[2];
    agora_error err;
    assert_int_equal(agora__rx_pop_aggregates(p, &w.ctx, v, NULL, &err), 0);
    assert_true(v[0].r == want0 / (double)w.n);
    assert_int_equal(v[1].i, want1);
    agora__rx_prog *vp[2];
    agora__rx_range_fn vf[2] = {agora__rx_eval_range, agora__rx_eval_range};
    assert_int_equal(agora__rx_pop_program(p, 0, &vp[0]), 0);
    assert_int_equal(agora__rx_pop_program(p, 1, &vp[1]), 0);
    uint8_t ok;
    assert_int_equal(agora__rx_pop_aggregates_fused((const agora__rx_prog *const *)&p, 1,
                                                    (const agora__rx_prog *const *)vp, vf, &w.ctx, f, &ok, &err),
                     0);
    assert_int_equal(ok, 1);
    assert_memory_equal(v, f, sizeof v);
    agora__rx_free(vp[0]);
    agora__rx_free(vp[1]);
    agora__rx_free(one);
    agora__rx_free(two);
    agora__rx_free(p);
    world_free(&w);
}

/* The brute-force Gini coefficient: mean |xi - xj| over all ordered pairs (i = j included) / (2 mean). */
static double brute_gini(const double *x, int64_t n)
{
    double sum = 0, pairs = 0;
    for (int64_t i = 0; i < n; i++) {
        sum += x[i];
        for (int64_t j = 0; j < n; j++)
            pairs += fabs(x[i] - x[j]);
    }
    return sum != 0 ? (pairs / ((double)n * (double)n)) / (2 * sum / (double)n) : 0.0;
}

static double gini_of_wealth(world *w, const char *text)
{
    agora_rx_env env = env_with(0);
    agora__rx_prog *p = compile_env(text, AGORA_RX_REAL, -1, &env);
    assert_int_equal(agora__rx_prog_type(p, NULL), AGORA_RX_REAL);
    agora_rx_value v[2];
    agora_error err;
    assert_int_equal(agora__rx_pop_aggregates(p, &w->ctx, v, NULL, &err), 0);
    w->ctx.pop = v;
    agora_rx_value out;
    assert_int_equal(agora__rx_eval(p, &w->ctx, 0, &out, NULL), 0);
    w->ctx.pop = NULL;
    agora__rx_free(p);
    return out.r;
}

static void pop_gini_matches_brute_force_on_small_populations(void **state)
{
    (void)state;
    /* hand-computed: equal wealth 0; one agent holding all of n gives (n - 1) / n; {1, 2, 3, 4} gives 0.25 */
    const double cases[][5] = {{2, 2, 2, 2, 2}, {0, 0, 0, 0, 7}, {1, 2, 3, 4, 0}};
    const int64_t sizes[] = {5, 5, 4};
    const double want[] = {0.0, 0.8, 0.25};
    for (int c = 0; c < 3; c++) {
        world w;
        world_init(&w, NULL, sizes[c]);
        memcpy(w.wealth, cases[c], (size_t)sizes[c] * sizeof *w.wealth);
        assert_true(fabs(gini_of_wealth(&w, "pop_gini(wealth)") - want[c]) < 1e-15);
        world_free(&w);
    }
    /* random non-negative values, sizes 1 .. 40, against the O(n^2) definition; and an int argument (age) */
    for (int64_t n = 1; n <= 40; n++) {
        world w;
        world_init(&w, NULL, n);
        double ages[40];
        for (int64_t i = 0; i < n; i++) {
            w.wealth[i] = -log(1 - agora_rng_u01(agora_rng(11, (uint64_t)n, (uint64_t)i, 0)));
            w.age[i] = (int64_t)(agora_rng(11, (uint64_t)n, (uint64_t)i, 1) % 50);
            ages[i] = (double)w.age[i];
        }
        assert_true(fabs(gini_of_wealth(&w, "pop_gini(wealth)") - brute_gini(w.wealth, n)) < 1e-12);
        assert_true(fabs(gini_of_wealth(&w, "pop_gini(age)") - brute_gini(ages, n)) < 1e-12);
        /* scale-free, and the expression is evaluated per agent first */
        assert_true(fabs(gini_of_wealth(&w, "pop_gini(3 * wealth)") - brute_gini(w.wealth, n)) < 1e-12);
        world_free(&w);
    }
    /* a zero sum and an empty population give 0 */
    world w;
    world_init(&w, NULL, 6);
    memset(w.wealth, 0, 6 * sizeof *w.wealth);
    assert_true(gini_of_wealth(&w, "pop_gini(wealth)") == 0.0);
    w.ctx.n = 0;
    assert_true(gini_of_wealth(&w, "pop_gini(wealth)") == 0.0);
    world_free(&w);
    /* typing: a number argument, a real result, and no population aggregate or randomness inside */
    assert_error("pop_gini(state)", AGORA_RX_ANY, -1, AGORA_ESCHEMA, 10, 14,
                 "pop_gini: expected a number, got state (a category)");
    assert_error("pop_gini(uniform())", AGORA_RX_ANY, -1, AGORA_ESCHEMA, 10, 14,
                 "uniform: no randomness inside pop_gini (population aggregates are computed once per step)");
    assert_error("pop_gini(pop_sum(age))", AGORA_RX_ANY, -1, AGORA_ESCHEMA, 10, 14,
                 "aggregates do not nest: pop_sum inside pop_gini");
    assert_error("pop_gini(wealth)", AGORA_RX_INT, -1, AGORA_ESCHEMA, 10, 5,
                 "the rule gives real, but x is int: use round(...), floor(...) or ceil(...)");
}

static void pop_gini_is_identical_at_any_thread_count(void **state)
{
    (void)state;
    const int64_t n = 50001; /* several blocks, not a multiple of the block */
    world w;
    world_init(&w, NULL, n);
    for (int64_t i = 0; i < n; i++)
        w.wealth[i] = agora_rng_u01(agora_rng(3, 0, (uint64_t)i, 1)) * 10.0;
    double g[3];
    for (int k = 0; k < 3; k++) {
        w.ctx.threads = 1 << k;
        g[k] = gini_of_wealth(&w, "pop_gini(wealth) + 0 * pop_gini(age)");
    }
    assert_memory_equal(&g[0], &g[1], sizeof g[0]);
    assert_memory_equal(&g[0], &g[2], sizeof g[0]);
    /* uniform on [0, 10): Gini 1/3, within the sampling sd (about 0.002 for 5 x 10^4 values) */
    assert_true(fabs(g[0] - 1.0 / 3.0) < 0.01);
    /* the agents' order does not matter: the values are sorted */
    for (int64_t i = 0; i < n / 2; i++) {
        const double t = w.wealth[i];
        w.wealth[i] = w.wealth[n - 1 - i];
        w.wealth[n - 1 - i] = t;
    }
    w.ctx.threads = 2;
    const double rev = gini_of_wealth(&w, "pop_gini(wealth) + 0 * pop_gini(age)");
    assert_memory_equal(&rev, &g[0], sizeof rev);
    world_free(&w);
}

/* ---- randomness ------------------------------------------------------------------------------------------------- */

/* Mean and variance of a real/int/bool expression over n agents at step t. */
static void moments(const char *text, int64_t n, double *mean, double *var)
{
    world w;
    world_init(&w, NULL, n);
    agora_rx_env env = env_with(0);
    agora__rx_prog *p = compile_env(text, AGORA_RX_REAL, -1, &env);
    double *out = malloc(sizeof *out * (size_t)n);
    assert_int_equal(agora__rx_eval_range(p, &w.ctx, 0, n, out, NULL), 0);
    double s = 0, s2 = 0;
    for (int64_t i = 0; i < n; i++)
        s += out[i];
    *mean = s / (double)n;
    for (int64_t i = 0; i < n; i++)
        s2 += (out[i] - *mean) * (out[i] - *mean);
    *var = s2 / (double)(n - 1);
    free(out);
    agora__rx_free(p);
    world_free(&w);
}

/* The sample mean and variance are within 5 standard errors of the distribution's: the standard error of the mean is
 * sqrt(var / n); of the variance sqrt((mu4 - var^2) / n), with the fourth central moment mu4 given per distribution.
 * At 5 sd a correct generator fails with probability below 1e-6 per check; the seed is fixed anyway. */
static void assert_moments(const char *text, double mu, double var, double mu4)
{
    const int64_t n = 100000;
    double m, v;
    moments(text, n, &m, &v);
    const double se_m = sqrt(var / (double)n), se_v = sqrt((mu4 - var * var) / (double)n);
    if (fabs(m - mu) > 5 * se_m || fabs(v - var) > 5 * se_v)
        fail_msg("%s: mean %.6g (expected %.6g +- %.3g), variance %.6g (expected %.6g +- %.3g)", text, m, mu, 5 * se_m,
                 v, var, 5 * se_v);
}

static void distributions_have_their_moments(void **state)
{
    (void)state;
    const double p = 0.3, q = 0.7;
    assert_moments("if(bernoulli(0.3), 1, 0)", p, p * q, p * q * (1 - 3 * p * q));
    assert_moments("uniform()", 0.5, 1.0 / 12, 1.0 / 80);
    assert_moments("uniform(2, 5)", 3.5, 0.75, 81.0 / 80);
    assert_moments("normal(1, 2)", 1.0, 4.0, 3 * 16.0);
    /* binomial: var = npq, mu4 = npq (1 + 3 (n - 2) pq) */
    assert_moments("binomial(10, 0.3)", 3.0, 2.1, 2.1 * (1 + 3 * 8 * p * q));
    assert_moments("binomial(1000, 0.3)", 300.0, 210.0, 210.0 * (1 + 3 * 998 * p * q));
    assert_moments("binomial(1000, 0.8)", 800.0, 160.0, 160.0 * (1 + 3 * 998 * 0.16));
    assert_moments("binomial(100000000, 0.001)", 1e5, 1e5 * 0.999, 1e5 * 0.999 * (1 + 3 * (1e8 - 2) * 0.000999));
    assert_moments("binomial(5, 1)", 5.0, 0.0, 0.0);
}

static void draws_are_keyed_by_seed_step_agent_and_site(void **state)
{
    (void)state;
    world w;
    world_init(&w, grid(10, 10, 1, AGORA_MOORE), 100);
    agora__rx_prog *p = compile("uniform()", AGORA_RX_REAL, -1);
    double a[100], b[100];
    assert_int_equal(agora__rx_eval_range(p, &w.ctx, 0, 100, a, NULL), 0);
    /* the same (seed, step, agent) gives the same draw, in a range or alone, in any order */
    for (int64_t i = 99; i >= 0; i--) {
        agora_rx_value v;
        assert_int_equal(agora__rx_eval(p, &w.ctx, i, &v, NULL), 0);
        assert_true(v.r == a[i]);
        assert_true(v.r == agora_rng_u01(agora_rng(w.ctx.key, 7, (uint64_t)i, AGORA_RNG_STREAM_MODEL)));
    }
    assert_int_equal(agora__rx_eval_range(p, &w.ctx, 50, 100, b + 0, NULL), 0);
    assert_memory_equal(a + 50, b + 50, 50 * sizeof *a);
    /* another step, another seed: other draws */
    w.ctx.t = 8;
    assert_int_equal(agora__rx_eval_range(p, &w.ctx, 0, 100, b, NULL), 0);
    assert_true(memcmp(a, b, sizeof a) != 0);
    w.ctx.t = 7;
    w.ctx.key = agora_rng_key_from_seed(43);
    assert_int_equal(agora__rx_eval_range(p, &w.ctx, 0, 100, b, NULL), 0);
    assert_true(memcmp(a, b, sizeof a) != 0);
    w.ctx.key = agora_rng_key_from_seed(42);
    agora__rx_free(p);
    /* two sites of one expression are two streams: uniform() - uniform() is not 0, and the sites are uncorrelated */
    p = compile("uniform() - uniform()", AGORA_RX_REAL, -1);
    assert_int_equal(agora__rx_prog_streams(p), 2);
    assert_int_equal(agora__rx_eval_range(p, &w.ctx, 0, 100, b, NULL), 0);
    for (int i = 0; i < 100; i++)
        assert_true(b[i] != 0.0);
    agora__rx_free(p);
    /* a site inside an aggregate draws per (agent, neighbour): a neighbour's draw does not depend on the others */
    p = compile("nb_sum(if(nb.age > -1000, uniform(), 0))", AGORA_RX_REAL, -1);
    agora_rx_value s1, s2;
    assert_int_equal(agora__rx_eval(p, &w.ctx, 11, &s1, NULL), 0);
    assert_int_equal(agora__rx_eval(p, &w.ctx, 11, &s2, NULL), 0);
    assert_true(s1.r == s2.r);
    double want = 0;
    int64_t nb[8];
    const int k = brute_neighbours(w.space, 11, nb);
    for (int j = 0; j < k; j++)
        want += agora_rng_u01(agora_rng_at(agora_rng(w.ctx.key, 7, 11, AGORA_RNG_STREAM_MODEL), (uint64_t)nb[j]));
    assert_true(s1.r == want);
    agora__rx_free(p);
    world_free(&w);
}

static void correlation_between_sites_is_within_sampling_error(void **state)
{
    (void)state;
    /* E[(u1 - 1/2)(u2 - 1/2)] = 0 with sd 1/12 / sqrt(n) for independent sites; 5 sd */
    double m, v;
    moments("(uniform() - 0.5) * (uniform() - 0.5)", 100000, &m, &v);
    assert_true(fabs(m) < 5 * (1.0 / 12) / sqrt(100000.0));
}

/* ---- faults ----------------------------------------------------------------------------------------------------- */

static void non_finite_results_are_reported_with_agent_and_step(void **state)
{
    (void)state;
    world w;
    world_init(&w, grid(5, 4, 1, AGORA_MOORE), 20);
    double out[20];
    for (int i = 0; i < 20; i++)
        out[i] = 99.0;
    agora_rx_value v;
    agora_rx_fault f;
    agora_error err;
    char buf[1024];
    /* log of a negative wealth: agent 0 has -1.5; agents from 13 on are checked from lo = 13 */
    agora__rx_prog *p = compile("if(age > 1000, 0, log(wealth))", AGORA_RX_REAL, -1);
    int first = -1;
    for (int i = 13; i < 20 && first < 0; i++)
        if (w.wealth[i] < 0)
            first = i;
    assert_true(first > 13);
    assert_int_equal(agora__rx_eval_range(p, &w.ctx, 13, 20, out, &f), AGORA_ERANGE);
    assert_int_equal(f.agent, first);
    assert_int_equal(f.step, 7);
    assert_int_equal(f.rule, 3);
    assert_true(isnan(f.value));
    assert_true(out[13] == log(w.wealth[13]));
    assert_true(out[first] == 99.0); /* not written */
    agora__rx_fault_error(p, &f, &err);
    char want[256];
    snprintf(want, sizeof want, "model.yaml:1:19: rule 3 (x): log gave nan for agent %d at step 7", first);
    assert_string_equal(agora_error_format(&err, buf, sizeof buf), want);
    agora__rx_free(p);
    p = compile("log(-1)", AGORA_RX_REAL, -1);
    assert_int_equal(agora__rx_eval(p, &w.ctx, 4, &v, &f), AGORA_ERANGE);
    agora__rx_fault_error(p, &f, &err);
    assert_string_equal(err.msg, "rule 3 (x): log gave nan for agent 4 at step 7");
    agora__rx_free(p);
    p = compile("1 / 0.0", AGORA_RX_REAL, -1);
    assert_int_equal(agora__rx_eval(p, &w.ctx, 5, &v, &f), AGORA_ERANGE);
    agora__rx_fault_error(p, &f, &err);
    assert_string_equal(err.msg, "rule 3 (x): / gave inf for agent 5 at step 7");
    assert_int_equal(err.column, 3);
    agora__rx_free(p);
    p = compile("exp(1000) - 1", AGORA_RX_REAL, -1);
    assert_int_equal(agora__rx_eval(p, &w.ctx, 0, &v, &f), AGORA_ERANGE);
    assert_string_equal(f.op, "exp");
    agora__rx_free(p);
    p = compile("age % (k - 3)", AGORA_RX_INT, -1);
    assert_int_equal(agora__rx_eval(p, &w.ctx, 1, &v, &f), AGORA_ERANGE);
    agora__rx_fault_error(p, &f, &err);
    assert_string_equal(err.msg, "rule 3 (x): % by zero for agent 1 at step 7");
    agora__rx_free(p);
    p = compile("floor(1e300)", AGORA_RX_INT, -1);
    assert_int_equal(agora__rx_eval(p, &w.ctx, 2, &v, &f), AGORA_ERANGE);
    agora__rx_fault_error(p, &f, &err);
    assert_string_equal(err.msg, "rule 3 (x): floor: 1.0000000000000001e+300 is out of range for agent 2 at step 7");
    agora__rx_free(p);
    p = compile("binomial(age, 0.5)", AGORA_RX_INT, -1); /* agent 0: age -20 */
    assert_int_equal(agora__rx_eval(p, &w.ctx, 0, &v, &f), AGORA_ERANGE);
    agora__rx_fault_error(p, &f, &err);
    assert_string_equal(err.msg, "rule 3 (x): binomial: -20 is out of range for agent 0 at step 7");
    agora__rx_free(p);
    /* a NaN already in a real variable is not copied on */
    w.frustration[3] = NAN;
    p = compile("frustration", AGORA_RX_REAL, -1);
    assert_int_equal(agora__rx_eval(p, &w.ctx, 3, &v, &f), AGORA_ERANGE);
    agora__rx_free(p);
    world_free(&w);
}

int main(void)
{
    agora_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(precedence_follows_python),
        cmocka_unit_test(syntax_errors_say_what_was_expected),
        cmocka_unit_test(operators_match_hand_computed_values),
        cmocka_unit_test(functions_match_hand_computed_values),
        cmocka_unit_test(results_take_the_wanted_type),
        cmocka_unit_test(names_errors_suggest_the_closest_name),
        cmocka_unit_test(type_errors_name_both_types),
        cmocka_unit_test(neighbour_and_aggregate_misuse_is_an_error),
        cmocka_unit_test(declarations_are_checked),
        cmocka_unit_test(errors_are_located_in_the_file),
        cmocka_unit_test(deep_nesting_is_an_error_not_a_crash),
        cmocka_unit_test(size_limits_are_errors),
        cmocka_unit_test(neighbour_aggregates_match_brute_force_on_a_torus),
        cmocka_unit_test(neighbour_aggregates_match_brute_force_on_a_bounded_grid),
        cmocka_unit_test(neighbour_aggregates_match_brute_force_on_a_graph),
        cmocka_unit_test(random_neighbour_picks_each_neighbour_alike),
        cmocka_unit_test(population_aggregates_are_identical_at_any_thread_count),
        cmocka_unit_test(fused_population_aggregates_match_one_by_one),
        cmocka_unit_test(population_aggregates_may_read_neighbours),
        cmocka_unit_test(pop_gini_matches_brute_force_on_small_populations),
        cmocka_unit_test(pop_gini_is_identical_at_any_thread_count),
        cmocka_unit_test(distributions_have_their_moments),
        cmocka_unit_test(draws_are_keyed_by_seed_step_agent_and_site),
        cmocka_unit_test(correlation_between_sites_is_within_sampling_error),
        cmocka_unit_test(non_finite_results_are_reported_with_agent_and_step),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
