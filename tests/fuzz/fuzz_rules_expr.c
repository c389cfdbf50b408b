/* agora — libFuzzer harness for the rule language's expression core (src/rules/): agora__rx_compile, then
 * agora__rx_pop_aggregates, agora__rx_eval and agora__rx_eval_range on a 10 x 10 Moore torus.
 *
 * Input: the expression text (bytes as they are, NUL bytes included). It is compiled against a fixed environment —
 * a category (state: S, I, R), a bool, an int, two reals and a second category (mood), four parameters, neighbours —
 * for every wanted type (any, bool, int, real, the category of state), and against the same environment without
 * neighbours (a mixed space). When it compiles it is evaluated for agents 0, 1, 45 and 99 alone and for all 100 as a
 * range, at a step and seed derived from the input's length.
 *
 * Invariants: compiling returns 0 with a program, or a negative code equal to err->code with a message that is
 * UTF-8 and a position of at least 1:1 (and no program); whatever compiles without neighbours compiles with them;
 * a compiled program's type is the one wanted (or a concrete one for any); one agent evaluated alone gives the same
 * bits as in the range, and twice the same bits; a fault names an agent of the range and the step, and its error
 * text is UTF-8. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agora/agora.h"
#include "fuzz_util.h"
#include "rules/expr.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define N 100

static const char *const sir_values[] = {"S", "I", "R"};
static const char *const mood_values[] = {"calm", "angry"};
static const agora_rx_var vars[] = {
    {"state", AGORA_RX_CAT, sir_values, 3}, {"infected", AGORA_RX_BOOL, NULL, 0},
    {"age", AGORA_RX_INT, NULL, 0},         {"wealth", AGORA_RX_REAL, NULL, 0},
    {"opinion", AGORA_RX_REAL, NULL, 0},    {"mood", AGORA_RX_CAT, mood_values, 2},
};
static const agora_rx_param params[] = {
    {"beta", AGORA_RX_REAL}, {"gamma", AGORA_RX_REAL}, {"k", AGORA_RX_INT}, {"flag", AGORA_RX_BOOL}};

static uint8_t state[N], infected[N], mood[N];
static int64_t age[N];
static double wealth[N], opinion[N];
static const void *cols[6];
static agora_rx_value pv[4];
static agora_space *space;
static agora_rx_nbhd nbhd;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    agora_init();
    agora_error err;
    if (agora_space_grid_create(10, 10, 1, AGORA_MOORE, &space, &err) != 0)
        abort();
    agora__rx_nbhd_init(&nbhd, space);
    for (int i = 0; i < N; i++) {
        state[i] = (uint8_t)(i % 3);
        infected[i] = (uint8_t)(i % 4 == 1);
        mood[i] = (uint8_t)(i % 2);
        age[i] = i - 30;
        wealth[i] = 0.5 * i - 10.0;
        opinion[i] = (i % 7) / 7.0;
    }
    cols[0] = state, cols[1] = infected, cols[2] = age, cols[3] = wealth, cols[4] = opinion, cols[5] = mood;
    pv[0].r = 0.3, pv[1].r = 0.1, pv[2].i = 4, pv[3].i = 1;
    return 0;
}

static void check_compile_error(int rc, const agora__rx_prog *p, const agora_error *err)
{
    fuzz_check_error(rc, err, "agora__rx_compile");
    if (rc == 0) {
        if (!p)
            fuzz_fail("agora__rx_compile succeeded without a program");
        return;
    }
    if (p)
        fuzz_fail("agora__rx_compile failed (%d) but left a program", rc);
    if (!fuzz_utf8(err->msg))
        fuzz_fail("compile error text is not UTF-8: %s", err->msg);
    if (err->line < 1 || err->column < 1)
        fuzz_fail("compile error without a position: %d:%d %s", err->line, err->column, err->msg);
}

static void run(const agora__rx_prog *p, size_t size)
{
    agora_rx_ctx ctx = {cols, pv, &nbhd, N, (int64_t)(size % 50), agora_rng_key_from_seed(size), NULL, 1};
    agora_rx_value pop[AGORA_RX_MAX_NODES];
    agora_rx_fault f;
    agora_error err;
    const int npop = agora__rx_prog_npop(p);
    if (npop > AGORA_RX_MAX_NODES)
        fuzz_fail("%d population aggregates", npop);
    int rc = agora__rx_pop_aggregates(p, &ctx, pop, &f, &err);
    if (rc == AGORA_ERANGE) {
        agora__rx_fault_error(p, &f, &err);
        if (!fuzz_utf8(err.msg))
            fuzz_fail("fault text is not UTF-8");
        return;
    }
    if (rc)
        fuzz_fail("agora__rx_pop_aggregates: %d", rc);
    ctx.pop = pop;
    union {
        double r[N];
        int64_t i[N];
        uint8_t b[N];
    } out;
    memset(&out, 0, sizeof out);
    const agora_rx_type t = agora__rx_prog_type(p, NULL);
    const int range_rc = agora__rx_eval_range(p, &ctx, 0, N, &out, &f);
    const int64_t fault_agent = range_rc ? f.agent : N;
    if (range_rc) {
        if (range_rc != AGORA_ERANGE || f.agent < 0 || f.agent >= N || f.step != ctx.t)
            fuzz_fail("eval_range: rc %d, fault agent %lld step %lld", range_rc, (long long)f.agent, (long long)f.step);
        agora__rx_fault_error(p, &f, &err);
        if (!fuzz_utf8(err.msg) || err.code != AGORA_ERANGE)
            fuzz_fail("fault text is not UTF-8 or not ERANGE");
    }
    static const int64_t agents[] = {0, 1, 45, 99};
    for (size_t k = 0; k < sizeof agents / sizeof agents[0]; k++) {
        const int64_t i = agents[k];
        agora_rx_value a, b;
        agora_rx_fault fa, fb;
        const int ra = agora__rx_eval(p, &ctx, i, &a, &fa), rb = agora__rx_eval(p, &ctx, i, &b, &fb);
        if (ra != rb)
            fuzz_fail("agent %lld: two evaluations returned %d and %d", (long long)i, ra, rb);
        if (ra == 0 && memcmp(&a, &b, sizeof a) != 0)
            fuzz_fail("agent %lld: two evaluations differ", (long long)i);
        if (i < fault_agent) {
            if (ra != 0)
                fuzz_fail("agent %lld faults alone but not in the range", (long long)i);
            const int same = t == AGORA_RX_REAL  ? memcmp(&a.r, &out.r[i], sizeof a.r) == 0
                             : t == AGORA_RX_INT ? a.i == out.i[i]
                                                 : (uint8_t)a.i == out.b[i];
            if (!same)
                fuzz_fail("agent %lld: alone and in the range differ", (long long)i);
        } else if (i == fault_agent && ra == 0) {
            fuzz_fail("agent %lld faults in the range but not alone", (long long)i);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    agora_rx_env env = {vars, 6, params, 4, 1, AGORA_RNG_STREAM_MODEL, 0, "x", "fuzz.yaml"};
    agora_rx_env mixed = env;
    mixed.has_neighbours = 0;
    static const agora_rx_type wants[] = {AGORA_RX_ANY, AGORA_RX_BOOL, AGORA_RX_INT, AGORA_RX_REAL, AGORA_RX_CAT};
    for (size_t w = 0; w < sizeof wants / sizeof wants[0]; w++) {
        agora__rx_prog *p = NULL, *q = NULL;
        agora_error err;
        agora_error_clear(&err);
        const int cat = wants[w] == AGORA_RX_CAT ? 0 : -1;
        int rc = agora__rx_compile(text, size, 3, 7, &env, wants[w], cat, &p, &err);
        check_compile_error(rc, p, &err);
        int rq = agora__rx_compile(text, size, 3, 7, &mixed, wants[w], cat, &q, &err);
        check_compile_error(rq, q, &err);
        if (rq == 0 && rc != 0)
            fuzz_fail("compiles without neighbours but not with them");
        if (rc == 0) {
            const agora_rx_type t = agora__rx_prog_type(p, NULL);
            if (wants[w] != AGORA_RX_ANY ? t != wants[w] : (t < AGORA_RX_BOOL || t > AGORA_RX_CAT))
                fuzz_fail("wanted type %d, got %d", (int)wants[w], (int)t);
            if (fuzz_verbose())
                fprintf(stderr, "want %s: compiles to %d instructions, type %s\n", agora__rx_type_name(wants[w]),
                        agora__rx_prog_size(p), agora__rx_type_name(t));
            run(p, size);
        } else if (fuzz_verbose()) {
            fprintf(stderr, "want %s: %d:%d: %s\n", agora__rx_type_name(wants[w]), err.line, err.column, err.msg);
        }
        agora__rx_free(p);
        agora__rx_free(q);
    }
    return 0;
}
