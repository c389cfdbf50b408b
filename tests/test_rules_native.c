/* Tests for the rule language's native backend (src/rules/native.c): every program of a broad set — each seed of
 * the fuzz corpus that compiles against the fuzz harness's environment, for every wanted type, plus SIR, Life and
 * programs that fault — gives byte for byte the interpreter's output and the interpreter's faults on tori and bounded
 * grids (Moore and von Neumann, 1- and 2-wide tori included), on a graph and without neighbours, over several steps,
 * in ranges that start and end mid-row, at 1, 2 and 4 threads (rules of bools, categories, counts and draws through
 * their transition tables, marked paths and faults included); the second build of the same programs loads the cached
 * object without running the compiler; AGORA_RULES_NATIVE=0, a missing or failing compiler and a corrupt cached file
 * fall back or rebuild with a reason; the generated source names nothing from the user's text. One compiler run
 * builds the big set; the fall-back tests compile one small program each. The cache is a fresh directory under the
 * build tree. */
#include <dirent.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "agora/agora.h"
#include "rules/expr.h"
#include "support.h"

/* ---- the fuzz harness's environment (tests/fuzz/fuzz_rules_expr.c) ------------------------------------------ */

static const char *const sir_values[] = {"S", "I", "R"};
static const char *const mood_values[] = {"calm", "angry"};
#define NVARS 6
static const agora_rx_var vars[NVARS] = {
    {"state", AGORA_RX_CAT, sir_values, 3}, {"infected", AGORA_RX_BOOL, NULL, 0},
    {"age", AGORA_RX_INT, NULL, 0},         {"wealth", AGORA_RX_REAL, NULL, 0},
    {"opinion", AGORA_RX_REAL, NULL, 0},    {"mood", AGORA_RX_CAT, mood_values, 2},
};
#define NPARAMS 4
static const agora_rx_param params[NPARAMS] = {
    {"beta", AGORA_RX_REAL}, {"gamma", AGORA_RX_REAL}, {"k", AGORA_RX_INT}, {"flag", AGORA_RX_BOOL}};

#define MAXPROGS 1024
static agora__rx_prog *progs[MAXPROGS];
static char *texts[MAXPROGS];
static int nprogs;
static agora__rx_native *module;

/* A pair rule's environment (define.c's): the variables, partner.x for each, then first. */
static agora_rx_var pair_vars[2 * NVARS + 1];

static void add_prog_in(const char *text, size_t len, agora_rx_type want, int cat, int rule, int pair)
{
    agora_rx_env env = {pair ? pair_vars : vars,
                        pair ? 2 * NVARS + 1 : NVARS,
                        params,
                        NPARAMS,
                        !pair,
                        AGORA_RNG_STREAM_MODEL + 64u * (uint32_t)(rule % 8),
                        rule,
                        "x",
                        "fuzz.yaml",
                        0,
                        pair};
    agora__rx_prog *p = NULL;
    agora_error err;
    if (agora__rx_compile(text, len, 3, 7, &env, want, cat, &p, &err) != 0)
        return;
    assert_true(nprogs < MAXPROGS);
    texts[nprogs] = strndup(text, len);
    progs[nprogs++] = p;
}

static void add_prog(const char *text, size_t len, agora_rx_type want, int cat, int rule)
{
    add_prog_in(text, len, want, cat, rule, 0);
}

/* Pair rules (partner.x read at the partner, first, the pair's draws), each compiled for every wanted type. */
static const char *const pair_extra[] = {
    "(opinion + partner.opinion) / 2",
    "abs(if(first, 0.0, 1.0) - uniform()) * (wealth + partner.wealth)",
    "if(partner.state == I and state == S, if(bernoulli(beta), I, S), state)",
    "if(first, age + partner.age, age - partner.age) + binomial(3, gamma)",
    "partner.infected and not infected or (first and mood == partner.mood)",
    "log(wealth - partner.wealth)",
    "pop_mean(wealth) - partner.wealth + normal(0, 1)",
};

/* Programs beyond the corpus: the two benchmark rules, faults, every fused form, pow tables, -0.0 bases. */
static const char *const extra[] = {
    "if(state == S, if(bernoulli(1 - (1 - beta) ** nb_count(nb.state == I)), I, S), if(state == I, "
    "if(bernoulli(gamma), R, I), R))",
    "nb_count(nb.infected) == 3 or (infected and nb_count(nb.infected) == 2)",
    "log(wealth)",
    "age % (age - 5)",
    "1 / (age - 3.0)",
    "floor(wealth * 1e300)",
    "binomial(age, 0.3)",
    "binomial(age + 100, beta)",
    "normal(wealth, opinion)",
    "uniform(wealth, age)",
    "bernoulli(wealth)",
    "nb_mean(nb.wealth) + nb_sum(nb.age) + nb_min(nb.opinion) - nb_max(nb.age)",
    "nb_all(nb.infected) or nb_any(nb.state == R)",
    "random_nb(nb.wealth + uniform())",
    "nb_sum(nb.wealth * uniform())",
    "nb_sum(nb.wealth) + nb_sum(nb.infected) + nb_sum(nb.age)",
    "(1 - beta) ** nb_count(nb.state == I) + (wealth - 10) ** nb_count(nb.infected)",
    "(-0.0) ** nb_count(nb.state != S) + (0 * beta - 0.0) ** (degree - 3)",
    "pow(opinion, degree) + degree",
    "exp(wealth * 100)",
    "sqrt(wealth)",
    "round(wealth / 3) + ceil(opinion * 7) - floor(-opinion)",
    "clamp(age, -5, k) + min(age, 3, k) + max(age, -1) + abs(age - 40)",
    "clamp(wealth, opinion, 2.5) + min(wealth, opinion) + abs(wealth)",
    "if(mood == angry, pop_mean(wealth), pop_max(age) + pop_count(infected) + pop_sum(age) + pop_min(opinion))",
    "t * 3 + k - age * age * age * age * age * age * age * age * age * age",
    "nb_mean(nb.opinion) / degree",
    "if(flag, nb_sum(nb.opinion), nb_mean(nb.opinion))",
    "if(state != R, I, S)",
    "not infected and mood != calm",
    "nb_count(nb.wealth > wealth) + nb_count(nb.mood == angry and nb.infected)",
    /* transition tables: a fault on one side of the draw only, two draws on a path, a draw of p outside [0, 1],
     * population values, int and real results, a category and a bool read together, two counts */
    "if(state == S, if(bernoulli(beta), I, if(log(0.5 - nb_count(nb.state == I)) > -1, R, S)), state)",
    "if(bernoulli(beta), bernoulli(gamma), infected)",
    "bernoulli(nb_count(nb.infected) - 1.0) or bernoulli(1.5 - nb_count(nb.state == R))",
    "if(state == I, if(bernoulli(pop_mean(state == S)), R, I), if(mood == angry and infected, R, state))",
    "if(mood == angry, nb_count(nb.state == I) * 2, nb_count(nb.infected) - k)",
    "if(bernoulli(beta), 1.5, nb_count(nb.state == R) / 2.0)",
    "if(state == S and nb_count(nb.state == I) > nb_count(nb.mood == calm), if(bernoulli(gamma ** 2), I, S), state)",
};

static int setup(void **state)
{
    (void)state;
    char cmd[1200];
    const char *dir = test_tmp_path("native_cache");
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    setenv("AGORA_CACHE_DIR", dir, 1);
    unsetenv("AGORA_RULES_NATIVE");
    unsetenv("AGORA_CC");
    static const agora_rx_type wants[] = {AGORA_RX_ANY, AGORA_RX_BOOL, AGORA_RX_INT, AGORA_RX_REAL, AGORA_RX_CAT};
    const char *corpus = test_src_path("tests/fuzz/corpus/rules_expr");
    DIR *d = opendir(corpus);
    assert_non_null(d);
    char *names[512];
    int nn = 0;
    for (struct dirent *e; (e = readdir(d)) && nn < 512;)
        if (e->d_name[0] != '.')
            names[nn++] = strdup(e->d_name);
    closedir(d);
    for (int i = 0; i < nn; i++) { /* sorted, so program numbers do not depend on the directory's order */
        for (int j = i + 1; j < nn; j++)
            if (strcmp(names[j], names[i]) < 0) {
                char *tmp = names[i];
                names[i] = names[j];
                names[j] = tmp;
            }
    }
    int rule = 0;
    for (int i = 0; i < nn; i++) {
        char path[1200];
        snprintf(path, sizeof path, "%s/%s", corpus, names[i]);
        free(names[i]);
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        char buf[8192];
        const size_t len = fread(buf, 1, sizeof buf, f);
        fclose(f);
        for (size_t w = 0; w < sizeof wants / sizeof wants[0]; w++)
            add_prog(buf, len, wants[w], wants[w] == AGORA_RX_CAT ? 0 : -1, rule++);
    }
    for (int i = 0; i < NVARS; i++) {
        char name[64];
        snprintf(name, sizeof name, "partner.%s", vars[i].name);
        pair_vars[i] = vars[i];
        pair_vars[NVARS + i] = vars[i];
        pair_vars[NVARS + i].name = strdup(name);
    }
    pair_vars[2 * NVARS] = (agora_rx_var){"first", AGORA_RX_BOOL, NULL, 0};
    const int from_corpus = nprogs;
    for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++) {
        const int before = nprogs;
        for (size_t w = 0; w < sizeof wants / sizeof wants[0]; w++)
            add_prog(extra[i], strlen(extra[i]), wants[w], wants[w] == AGORA_RX_CAT ? 0 : -1, rule++);
        if (nprogs == before)
            fail_msg("extra program does not compile: %s", extra[i]);
    }
    for (size_t i = 0; i < sizeof pair_extra / sizeof pair_extra[0]; i++) {
        const int before = nprogs;
        for (size_t w = 0; w < sizeof wants / sizeof wants[0]; w++)
            add_prog_in(pair_extra[i], strlen(pair_extra[i]), wants[w], wants[w] == AGORA_RX_CAT ? 0 : -1, rule++, 1);
        if (nprogs == before)
            fail_msg("pair program does not compile: %s", pair_extra[i]);
    }
    assert_true(from_corpus >= 50); /* the corpus has ~100 seeds; most compile for some wanted type */
    agora_error err;
    assert_int_equal(agora__rx_native_build((const agora__rx_prog *const *)progs, nprogs, &module, &err), 0);
    print_message("%d programs: %s\n", nprogs, agora__rx_native_status(module));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    agora__rx_native_free(module);
    for (int i = 0; i < nprogs; i++) {
        agora__rx_free(progs[i]);
        free(texts[i]);
    }
    for (int i = NVARS; i < 2 * NVARS; i++)
        free((char *)pair_vars[i].name);
    return 0;
}

/* ---- the comparison ---------------------------------------------------------------------------------------- */

typedef struct world {
    int64_t n;
    uint8_t *state, *infected, *mood;
    int64_t *age;
    double *wealth, *opinion;
    const void *cols[NVARS];
    agora_rx_value pv[NPARAMS];
    agora_rx_nbhd nbhd;
} world;

/* Values that differ from agent to agent and from step to step (some negative, some zero: faults happen). */
static void world_fill(world *w, int64_t step)
{
    for (int64_t i = 0; i < w->n; i++) {
        const uint64_t b = agora_rng(7, (uint64_t)step, (uint64_t)i, 1);
        w->state[i] = (uint8_t)(b % 3);
        w->infected[i] = (uint8_t)((b >> 8) % 4 == 1);
        w->mood[i] = (uint8_t)((b >> 16) % 2);
        w->age[i] = (int64_t)((b >> 24) % 90) - 20;
        w->wealth[i] = 0.5 * (double)((b >> 32) % 64) - 10.0;
        w->opinion[i] = (double)((b >> 40) % 7) / 7.0;
    }
}

static void world_init(world *w, const agora_space *sp, int64_t n)
{
    memset(w, 0, sizeof *w);
    w->n = n;
    w->state = calloc((size_t)n, 1);
    w->infected = calloc((size_t)n, 1);
    w->mood = calloc((size_t)n, 1);
    w->age = calloc((size_t)n, sizeof *w->age);
    w->wealth = calloc((size_t)n, sizeof *w->wealth);
    w->opinion = calloc((size_t)n, sizeof *w->opinion);
    w->cols[0] = w->state, w->cols[1] = w->infected, w->cols[2] = w->age, w->cols[3] = w->wealth;
    w->cols[4] = w->opinion, w->cols[5] = w->mood;
    w->pv[0].r = 0.3, w->pv[1].r = 0.1, w->pv[2].i = 4, w->pv[3].i = 1;
    agora__rx_nbhd_init(&w->nbhd, sp);
}

static void world_free(world *w)
{
    free(w->state);
    free(w->infected);
    free(w->mood);
    free(w->age);
    free(w->wealth);
    free(w->opinion);
}

#define BLOCK 7 /* ranges start and end mid-row */

static int64_t compared, faults_compared;
static const int64_t *pair_of; /* when set, ctx.pair_of: a pair matching (agents skipped, partners, pair draws) */

/* Every program on world w (nbhd NULL: no neighbours) at steps 0..2 and the given thread count: native and
 * interpreter outputs and faults equal block by block. */
static void compare_on(world *w, int use_nbhd, int threads)
{
    const int64_t n = w->n, nblocks = (n + BLOCK - 1) / BLOCK;
    double *oi = malloc(sizeof *oi * (size_t)n), *on = malloc(sizeof *on * (size_t)n);
    int *rci = malloc(sizeof *rci * (size_t)nblocks), *rcn = malloc(sizeof *rcn * (size_t)nblocks);
    agora_rx_fault *fi = malloc(sizeof *fi * (size_t)nblocks), *fn = malloc(sizeof *fn * (size_t)nblocks);
    for (int64_t step = 0; step < 3; step++) {
        world_fill(w, step);
        for (int k = 0; k < nprogs; k++) {
            agora_rx_ctx ctx = {
                w->cols, w->pv, use_nbhd ? &w->nbhd : NULL, n, step, agora_rng_key_from_seed(11), NULL, 1, pair_of,
                0,       0};
            agora_rx_value pop[AGORA_RX_MAX_NODES];
            agora_rx_fault pf;
            agora_error err;
            if (agora__rx_pop_aggregates(progs[k], &ctx, pop, &pf, &err) != 0)
                continue;
            ctx.pop = pop;
            const agora__rx_range_fn f = agora__rx_native_fn(module, k);
            memset(oi, 0xA5, sizeof *oi * (size_t)n);
            memset(on, 0xA5, sizeof *on * (size_t)n);
            memset(fi, 0, sizeof *fi * (size_t)nblocks);
            memset(fn, 0, sizeof *fn * (size_t)nblocks);
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
            for (int64_t bi = 0; bi < nblocks; bi++) {
                const int64_t lo = bi * BLOCK, hi = lo + BLOCK < n ? lo + BLOCK : n;
                rci[bi] = agora__rx_eval_range(progs[k], &ctx, lo, hi, oi, &fi[bi]);
                rcn[bi] = f(progs[k], &ctx, lo, hi, on, &fn[bi]);
            }
            for (int64_t bi = 0; bi < nblocks; bi++) {
                if (rci[bi] != rcn[bi])
                    fail_msg("program %d (%s) step %lld block %lld: rc %d vs native %d", k, texts[k], (long long)step,
                             (long long)bi, rci[bi], rcn[bi]);
                if (rci[bi]) {
                    const agora_rx_fault *a = &fi[bi], *b = &fn[bi];
                    if (a->rule != b->rule || a->agent != b->agent || a->step != b->step || a->line != b->line ||
                        a->column != b->column || strcmp(a->op, b->op) != 0 ||
                        memcmp(&a->value, &b->value, sizeof a->value) != 0)
                        fail_msg("program %d (%s): fault %d %lld %lld %d:%d %s %a vs native %d %lld %lld %d:%d %s %a",
                                 k, texts[k], a->rule, (long long)a->agent, (long long)a->step, a->line, a->column,
                                 a->op, a->value, b->rule, (long long)b->agent, (long long)b->step, b->line, b->column,
                                 b->op, b->value);
                    faults_compared++;
                }
            }
            if (memcmp(oi, on, sizeof *oi * (size_t)n) != 0) {
                for (int64_t i = 0; i < n; i++)
                    if (memcmp(&oi[i], &on[i], sizeof oi[i]) != 0)
                        fail_msg("program %d (%s) step %lld: agent %lld differs (%a vs %a, %lld vs %lld)", k, texts[k],
                                 (long long)step, (long long)i, oi[i], on[i], (long long)((int64_t *)oi)[i],
                                 (long long)((int64_t *)on)[i]);
            }
            compared++;
        }
    }
    free(oi);
    free(on);
    free(rci);
    free(rcn);
    free(fi);
    free(fn);
}

static void compare_space(agora_space *sp, int64_t n)
{
    world w;
    world_init(&w, sp, n);
    for (int threads = 1; threads <= 4; threads *= 2)
        compare_on(&w, 1, threads);
    world_free(&w);
    agora_space_destroy(sp);
}

static agora_space *grid(int64_t wd, int64_t ht, int torus, agora_neighborhood nbhd)
{
    agora_space *sp = NULL;
    agora_error err;
    assert_int_equal(agora_space_grid_create(wd, ht, torus, nbhd, &sp, &err), 0);
    return sp;
}

static void every_program_is_translated(void **state)
{
    (void)state;
    for (int k = 0; k < nprogs; k++)
        if (!agora__rx_native_is_native(module, k))
            fail_msg("program %d (%s) is not native: %s", k, texts[k], agora__rx_native_status(module));
    assert_non_null(strstr(agora__rx_native_status(module), "native ("));
}

static void native_equals_interpreter_on_tori(void **state)
{
    (void)state;
    compare_space(grid(10, 9, 1, AGORA_MOORE), 90);
    compare_space(grid(7, 5, 1, AGORA_VON_NEUMANN), 35);
    compare_space(grid(1, 5, 1, AGORA_MOORE), 5);
    compare_space(grid(2, 3, 1, AGORA_MOORE), 6);
    compare_space(grid(2, 2, 1, AGORA_VON_NEUMANN), 4);
    compare_space(grid(5, 1, 1, AGORA_MOORE), 5);
    assert_true(compared > 0 && faults_compared > 0);
}

static void native_equals_interpreter_on_bounded_grids(void **state)
{
    (void)state;
    compare_space(grid(9, 8, 0, AGORA_MOORE), 72);
    compare_space(grid(6, 4, 0, AGORA_VON_NEUMANN), 24);
    compare_space(grid(1, 3, 0, AGORA_MOORE), 3);
}

static void native_equals_interpreter_on_a_graph_and_without_neighbours(void **state)
{
    (void)state;
    const int64_t edges[] = {0, 1, 0, 2, 0, 3, 0, 4, 1, 2, 4, 5, 5, 7, 7, 8, 8, 9, 3, 9, 10, 11, 11, 12, 12, 13};
    agora_space *sp = NULL;
    agora_error err;
    assert_int_equal(agora_space_graph_from_edges(20, edges, 13, &sp, &err), 0);
    compare_space(sp, 20);
    /* no neighbours at all: a NULL nbhd, and a mixed space's empty one */
    agora_space *g = grid(4, 4, 1, AGORA_MOORE);
    world w;
    world_init(&w, g, 16);
    compare_on(&w, 0, 2);
    /* a pair matching: (i, i ^ 1) for i < 12 paired, 12 .. 15 unpaired (skipped, their outputs unwritten); both
     * agents of a pair draw as the pair */
    int64_t partners[16];
    for (int64_t i = 0; i < 16; i++)
        partners[i] = i < 12 ? i ^ 1 : -1;
    pair_of = partners;
    compare_on(&w, 0, 2);
    pair_of = NULL;
    world_free(&w);
    agora_space_destroy(g);
    assert_int_equal(agora_space_mixed_create(16, &sp, &err), 0);
    compare_space(sp, 16);
}

/* SIR and Life evolving over steps on a grid big enough for long interior runs. */
static void sir_and_life_evolve_identically(void **state)
{
    (void)state;
    const int64_t wd = 67, ht = 41, n = wd * ht;
    agora_space *sp = grid(wd, ht, 1, AGORA_MOORE);
    world wi, wn;
    world_init(&wi, sp, n);
    world_init(&wn, sp, n);
    world_fill(&wi, 0);
    world_fill(&wn, 0);
    int sir = -1, life = -1;
    for (int k = 0; k < nprogs; k++) {
        if (sir < 0 && strcmp(texts[k], extra[0]) == 0)
            sir = k;
        if (life < 0 && strcmp(texts[k], extra[1]) == 0 && agora__rx_prog_type(progs[k], NULL) == AGORA_RX_BOOL)
            life = k;
    }
    assert_true(sir >= 0 && life >= 0);
    uint8_t *next_i = malloc((size_t)n), *next_n = malloc((size_t)n);
    for (int64_t t = 0; t < 30; t++) {
        for (int which = 0; which < 2; which++) {
            const int k = which ? life : sir, col = which ? 1 : 0;
            agora_rx_ctx ci = {wi.cols, wi.pv, &wi.nbhd, n, t, 99, NULL, 1, NULL, 0, 0};
            agora_rx_ctx cn = {wn.cols, wn.pv, &wn.nbhd, n, t, 99, NULL, 1, NULL, 0, 0};
#pragma omp parallel for schedule(static) num_threads(2)
            for (int64_t y = 0; y < ht; y += 5) {
                const int64_t y1 = y + 5 < ht ? y + 5 : ht;
                agora__rx_eval_range(progs[k], &ci, y * wd, y1 * wd, next_i, NULL);
                agora__rx_native_fn(module, k)(progs[k], &cn, y * wd, y1 * wd, next_n, NULL);
            }
            assert_memory_equal(next_i, next_n, (size_t)n);
            memcpy(which ? wi.infected : wi.state, next_i, (size_t)n);
            memcpy(which ? wn.infected : wn.state, next_n, (size_t)n);
            (void)col;
        }
    }
    free(next_i);
    free(next_n);
    world_free(&wi);
    world_free(&wn);
    agora_space_destroy(sp);
}

/* ---- building and the cache ---------------------------------------------------------------------------------- */

static agora__rx_prog *one(const char *text)
{
    agora_rx_env env = {vars, NVARS, params, NPARAMS, 1, AGORA_RNG_STREAM_MODEL, 0, "x", NULL, 0, 0};
    agora__rx_prog *p = NULL;
    agora_error err;
    assert_int_equal(agora__rx_compile(text, strlen(text), 1, 1, &env, AGORA_RX_ANY, -1, &p, &err), 0);
    return p;
}

static void second_build_hits_the_cache(void **state)
{
    (void)state;
    agora__rx_native *m = NULL;
    agora_error err;
    assert_int_equal(agora__rx_native_build((const agora__rx_prog *const *)progs, nprogs, &m, &err), 0);
    assert_int_equal(agora__rx_native_compiled(m), 0);
    assert_non_null(strstr(agora__rx_native_status(m), "native (cached "));
    assert_string_equal(agora__rx_native_path(m), agora__rx_native_path(module));
    assert_true(agora__rx_native_is_native(m, 0));
    agora__rx_native_free(m);
    /* the object is in the cache directory, which is private */
    struct stat st;
    assert_int_equal(stat(getenv("AGORA_CACHE_DIR"), &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
}

static void native_off_and_missing_compilers_fall_back_with_a_reason(void **state)
{
    (void)state;
    agora__rx_prog *p = one("age * 3 + 1");
    const agora__rx_prog *const ps[1] = {p};
    agora__rx_native *m = NULL;
    agora_error err;
    setenv("AGORA_RULES_NATIVE", "0", 1);
    assert_int_equal(agora__rx_native_build(ps, 1, &m, &err), 0);
    assert_string_equal(agora__rx_native_status(m), "interpreter (AGORA_RULES_NATIVE=0)");
    assert_true(agora__rx_native_fn(m, 0) == agora__rx_eval_range);
    assert_false(agora__rx_native_is_native(m, 0));
    agora__rx_native_free(m);
    unsetenv("AGORA_RULES_NATIVE");

    setenv("AGORA_CC", "/nonexistent/bin/cc-bogus", 1);
    assert_int_equal(agora__rx_native_build(ps, 1, &m, &err), 0);
    assert_string_equal(agora__rx_native_status(m), "interpreter (no C compiler: /nonexistent/bin/cc-bogus not found)");
    assert_true(agora__rx_native_fn(m, 0) == agora__rx_eval_range);
    agora__rx_native_free(m);

    setenv("AGORA_CC", "false", 1); /* a "compiler" that fails */
    assert_int_equal(agora__rx_native_build(ps, 1, &m, &err), 0);
    assert_non_null(strstr(agora__rx_native_status(m), "interpreter (compile failed: "));
    assert_int_equal(agora__rx_native_compiled(m), 1);
    assert_true(agora__rx_native_fn(m, 0) == agora__rx_eval_range);
    agora__rx_native_free(m);
    unsetenv("AGORA_CC");

    /* an unwritable cache: a file where the directory should be */
    const char *old = strdup(getenv("AGORA_CACHE_DIR"));
    const char *file = test_tmp_path("native_not_a_dir");
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fclose(f);
    setenv("AGORA_CACHE_DIR", file, 1);
    assert_int_equal(agora__rx_native_build(ps, 1, &m, &err), 0);
    assert_non_null(strstr(agora__rx_native_status(m), "interpreter (cache directory "));
    agora__rx_native_free(m);
    setenv("AGORA_CACHE_DIR", old, 1);
    free((void *)old);
    agora__rx_free(p);
}

/* The cache keeps the objects of at most AGORA_CACHE_MAX models, dropping those used least recently: a stream of
 * definitions (an MCP client defining a model per call) cannot fill the disk. */
static void the_cache_is_bounded(void **state)
{
    (void)state;
    const char *old = strdup(getenv("AGORA_CACHE_DIR"));
    const char *dir = test_tmp_path("native_bounded_cache");
    setenv("AGORA_CACHE_DIR", dir, 1);
    setenv("AGORA_CACHE_MAX", "2", 1);
    const char *texts[] = {"age + 101", "age + 102", "age + 103", "age + 104"};
    char paths[4][1200];
    for (int k = 0; k < 4; k++) {
        agora__rx_prog *p = one(texts[k]);
        const agora__rx_prog *const ps[1] = {p};
        agora__rx_native *m = NULL;
        agora_error err;
        assert_int_equal(agora__rx_native_build(ps, 1, &m, &err), 0);
        assert_non_null(strstr(agora__rx_native_status(m), "native ("));
        snprintf(paths[k], sizeof paths[k], "%s", agora__rx_native_path(m));
        agora__rx_native_free(m);
        if (k == 1) { /* use the first again: now the second is the least recently used */
            const agora__rx_prog *const p0[1] = {one(texts[0])};
            assert_int_equal(agora__rx_native_build(p0, 1, &m, &err), 0);
            assert_int_equal(agora__rx_native_compiled(m), 0);
            agora__rx_native_free(m);
            agora__rx_free((agora__rx_prog *)p0[0]);
        }
        agora__rx_free(p);
    }
    /* built 0, 1, (hit 0), 2 -> 1 goes; 3 -> 0 goes */
    assert_int_equal(access(paths[0], F_OK), -1);
    assert_int_equal(access(paths[1], F_OK), -1);
    assert_int_equal(access(paths[2], F_OK), 0);
    assert_int_equal(access(paths[3], F_OK), 0);
    char src[1300];
    snprintf(src, sizeof src, "%.*s.c", (int)(strlen(paths[1]) - 3), paths[1]);
    assert_int_equal(access(src, F_OK), -1); /* its source went with it */
    unsetenv("AGORA_CACHE_MAX");
    setenv("AGORA_CACHE_DIR", old, 1);
    free((void *)old);
}

static void a_corrupt_cached_object_is_rebuilt(void **state)
{
    (void)state;
    agora__rx_prog *p = one("wealth * 2.5 + age");
    const agora__rx_prog *const ps[1] = {p};
    agora__rx_native *m = NULL;
    agora_error err;
    assert_int_equal(agora__rx_native_build(ps, 1, &m, &err), 0);
    assert_int_equal(agora__rx_native_compiled(m), 1);
    char path[1200];
    snprintf(path, sizeof path, "%s", agora__rx_native_path(m));
    agora__rx_native_free(m);
    /* garbage under its name, then an ELF-looking truncated file */
    static const char *const junk[] = {"not a shared object at all", "\x7f"
                                                                     "ELF\x02\x01\x01"};
    for (int j = 0; j < 2; j++) {
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        fputs(junk[j], f);
        fclose(f);
        assert_int_equal(agora__rx_native_build(ps, 1, &m, &err), 0);
        assert_int_equal(agora__rx_native_compiled(m), 1);
        assert_non_null(strstr(agora__rx_native_status(m), "native (compiled in "));
        assert_true(agora__rx_native_is_native(m, 0));
        /* and it computes what the interpreter does */
        agora_space *sp = grid(4, 4, 1, AGORA_MOORE);
        world w;
        world_init(&w, sp, 16);
        world_fill(&w, 1);
        agora_rx_ctx ctx = {w.cols, w.pv, &w.nbhd, 16, 1, 5, NULL, 1, NULL, 0, 0};
        double a[16], b[16];
        assert_int_equal(agora__rx_eval_range(p, &ctx, 0, 16, a, NULL), 0);
        assert_int_equal(agora__rx_native_fn(m, 0)(p, &ctx, 0, 16, b, NULL), 0);
        assert_memory_equal(a, b, sizeof a);
        world_free(&w);
        agora_space_destroy(sp);
        agora__rx_native_free(m);
    }
    agora__rx_free(p);
}

/* The generated C of one program compiled from text in env (which must translate), and the program in *pp. */
static char *native_source_of(const char *text, const agora_rx_env *env, agora_rx_type want, agora__rx_prog **pp)
{
    agora_error err;
    assert_int_equal(agora__rx_compile(text, strlen(text), 1, 1, env, want, want == AGORA_RX_CAT ? 0 : -1, pp, &err),
                     0);
    const agora__rx_prog *const ps[1] = {*pp};
    char *src = NULL, why[128];
    size_t len = 0;
    int translated = 0;
    assert_int_equal(agora__rx_native_source(ps, 1, &src, &len, &translated, why, sizeof why), 0);
    assert_int_equal(translated, 1);
    assert_true(len > 0 && strlen(src) == len);
    return src;
}

static void generated_source_names_nothing_from_the_text(void **state)
{
    (void)state;
    static const agora_rx_var v2[] = {{"zorblax", AGORA_RX_REAL, NULL, 0}, {"quuxstate", AGORA_RX_CAT, sir_values, 3}};
    static const agora_rx_param p2[] = {{"frobparam", AGORA_RX_REAL}};
    agora_rx_env env = {v2, 2, p2, 1, 1, AGORA_RNG_STREAM_MODEL, 0, "wibblerule", "secretfile.yaml", 0, 0};
    const char *text = "if(quuxstate == I, zorblax * frobparam + nb_mean(nb.zorblax), 0.1 + uniform())";
    agora__rx_prog *p = NULL;
    char *src = native_source_of(text, &env, AGORA_RX_REAL, &p);
    static const char *const secret[] = {"zorblax", "quux", "frob", "wibble", "secretfile", "uniform("};
    for (size_t i = 0; i < sizeof secret / sizeof secret[0]; i++)
        if (strstr(src, secret[i]))
            fail_msg("the generated source contains %s", secret[i]);
    /* 0.1 is re-printed exactly, as a hex float */
    assert_non_null(strstr(src, "0x1.999999999999ap-4"));
    free(src);
    agora__rx_free(p);
}

/* A pair rule through both backends on a matching: a paired agent reads its partner's values and draws the pair's
 * numbers (the same for both partners), first is true for the lower id, and an unpaired agent is not written. */
static void pair_rules_read_the_partner_and_draw_as_the_pair(void **state)
{
    (void)state;
    const char *text = "(opinion + partner.opinion) / 2 + if(first, 10.0, 20.0) + 100 * uniform()";
    agora_rx_env env = {pair_vars, 2 * NVARS + 1, params, NPARAMS, 0, AGORA_RNG_STREAM_MODEL, 0, "x", "p.yaml", 0, 1};
    agora__rx_prog *p = NULL;
    agora_error err;
    assert_int_equal(agora__rx_compile(text, strlen(text), 1, 1, &env, AGORA_RX_REAL, -1, &p, &err), 0);
    agora__rx_native *nm = NULL;
    const agora__rx_prog *const ps[1] = {p};
    assert_int_equal(agora__rx_native_build(ps, 1, &nm, &err), 0);
    agora_space *g = grid(4, 4, 1, AGORA_MOORE);
    world w;
    world_init(&w, g, 16);
    world_fill(&w, 0);
    int64_t ch[16];
    for (int64_t i = 0; i < 16; i++)
        ch[i] = i < 12 ? 11 - i : -1; /* (0, 11), (1, 10), ... (5, 6); 12 .. 15 unpaired */
    agora_rx_ctx ctx = {w.cols, w.pv, NULL, 16, 4, agora_rng_key_from_seed(3), NULL, 1, ch, 0, 0};
    for (int backend = 0; backend < 2; backend++) {
        double out[16];
        for (int i = 0; i < 16; i++)
            out[i] = -1.0;
        agora_rx_fault f;
        const agora__rx_range_fn fn = backend ? agora__rx_native_fn(nm, 0) : agora__rx_eval_range;
        assert_int_equal(fn(p, &ctx, 0, 16, out, &f), 0);
        for (int64_t i = 0; i < 16; i++) {
            if (i >= 12) {
                assert_true(out[i] == -1.0);
                continue;
            }
            const int64_t j = ch[i];
            const double base = (w.opinion[i] + w.opinion[j]) / 2 + (i < j ? 10.0 : 20.0);
            const double u = (out[i] - base) / 100,
                         uj = (out[j] - (w.opinion[j] + w.opinion[i]) / 2 - (j < i ? 10.0 : 20.0)) / 100;
            assert_true(u >= 0 && u < 1);
            assert_true(fabs(u - uj) < 1e-9); /* the pair's draw */
        }
    }
    agora__rx_native_free(nm);
    agora__rx_free(p);
    world_free(&w);
    agora_space_destroy(g);
}

/* clang compiles the generated code too (with its own flags), to the same bits as the interpreter; skipped where
 * no clang is installed (scripts/setup installs it for the fuzz harnesses). */
static void clang_builds_the_same_programs(void **state)
{
    (void)state;
    if (access("/usr/bin/clang", X_OK) != 0) {
        print_message("no /usr/bin/clang: skipped\n");
        return;
    }
    setenv("AGORA_CC", "/usr/bin/clang", 1);
    agora__rx_native *m = NULL;
    agora_error err;
    const int k = nprogs < 40 ? nprogs : 40; /* the last 40: extras with tables and the pair rules */
    const agora__rx_prog *ps[40];
    for (int i = 0; i < k; i++)
        ps[i] = progs[nprogs - k + i];
    assert_int_equal(agora__rx_native_build(ps, k, &m, &err), 0);
    unsetenv("AGORA_CC");
    if (strncmp(agora__rx_native_status(m), "native", 6) != 0)
        fail_msg("clang: %s", agora__rx_native_status(m));
    agora_space *g = grid(9, 7, 1, AGORA_MOORE);
    world w;
    world_init(&w, g, 63);
    world_fill(&w, 1);
    agora_rx_ctx ctx = {w.cols, w.pv, &w.nbhd, 63, 1, 5, NULL, 1, NULL, 0, 0};
    for (int i = 0; i < k; i++) {
        agora_rx_value pop[AGORA_RX_MAX_NODES];
        agora_rx_fault f1, f2;
        if (agora__rx_pop_aggregates(ps[i], &ctx, pop, &f1, &err) != 0)
            continue;
        ctx.pop = pop;
        double a[63], b[63];
        memset(a, 0x5A, sizeof a);
        memset(b, 0x5A, sizeof b);
        const int r1 = agora__rx_eval_range(ps[i], &ctx, 0, 63, a, &f1);
        const int r2 = agora__rx_native_fn(m, i)(ps[i], &ctx, 0, 63, b, &f2);
        assert_int_equal(r1, r2);
        if (memcmp(a, b, sizeof a) != 0)
            fail_msg("clang: program %s differs from the interpreter", texts[nprogs - k + i]);
        ctx.pop = NULL;
    }
    world_free(&w);
    agora_space_destroy(g);
    agora__rx_native_free(m);
}

/* Whether the generated source of one program of the fuzz environment builds a transition table. */
static int runs_from_a_table(const char *text, agora_rx_type want)
{
    agora_rx_env env = {vars, NVARS, params, NPARAMS, 1, AGORA_RNG_STREAM_MODEL, 0, "x", "t.yaml", 0, 0};
    agora__rx_prog *p = NULL;
    char *src = native_source_of(text, &env, want, &p);
    const int tab = strstr(src, "tmk[") != NULL;
    free(src);
    agora__rx_free(p);
    return tab;
}

/* Rules of bools, categories, neighbour counts and bernoulli draws run from a transition table (the comparisons
 * above check its bits); rules that read an int or a real, or loop over neighbours, do not. */
static void markov_rules_run_from_a_transition_table(void **state)
{
    (void)state;
    assert_true(runs_from_a_table(extra[0], AGORA_RX_CAT));
    assert_true(runs_from_a_table("if(bernoulli(beta), bernoulli(gamma), infected)", AGORA_RX_BOOL));
    assert_true(
        runs_from_a_table("if(mood == angry, nb_count(nb.state == I) * 2, nb_count(nb.infected) - k)", AGORA_RX_INT));
    assert_false(runs_from_a_table("if(bernoulli(beta), age, 0)", AGORA_RX_INT));
    assert_false(runs_from_a_table("if(state == I, nb_mean(nb.wealth), wealth)", AGORA_RX_REAL));
    assert_false(runs_from_a_table("if(state == I, if(uniform() < beta, R, I), S)", AGORA_RX_CAT));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_program_is_translated),
        cmocka_unit_test(native_equals_interpreter_on_tori),
        cmocka_unit_test(native_equals_interpreter_on_bounded_grids),
        cmocka_unit_test(native_equals_interpreter_on_a_graph_and_without_neighbours),
        cmocka_unit_test(sir_and_life_evolve_identically),
        cmocka_unit_test(second_build_hits_the_cache),
        cmocka_unit_test(native_off_and_missing_compilers_fall_back_with_a_reason),
        cmocka_unit_test(the_cache_is_bounded),
        cmocka_unit_test(a_corrupt_cached_object_is_rebuilt),
        cmocka_unit_test(generated_source_names_nothing_from_the_text),
        cmocka_unit_test(markov_rules_run_from_a_transition_table),
        cmocka_unit_test(pair_rules_read_the_partner_and_draw_as_the_pair),
        cmocka_unit_test(clang_builds_the_same_programs),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
