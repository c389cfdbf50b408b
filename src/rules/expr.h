/* agora — the expression core of the rule language (internal API, agora__rx_ prefix).
 *
 * A rule is one expression over an agent's own variables, the model's parameters, the step `t`, aggregates over
 * the agent's neighbours and over the population of the previous step, and counter-RNG draws. This header is the
 * whole interface between the expression core and what builds on it (model definitions, the model runtime, a C code
 * generator):
 *
 *   text --lex.c--> tokens --parse.c--> AST --check.c--> typed AST --compile.c--> agora__rx_prog
 *   agora__rx_prog + agora__rx_ctx (state columns at t, space, params, t, RNG key) --eval.c--> values at t+1
 *
 * The language (Python's precedence and spelling, so that people and LLMs write it right the first time):
 *
 *   literals     1  2.5  1e-3  true  false
 *   names        own variables, parameters, t (the step, an int), degree (the number of neighbours);
 *                category values are bare names (state == I), resolved against the category they meet
 *   operators    or; and; not; == != < <= > >= (not chained); + -; * / %; unary - +; ** (right-assoc, above unary
 *                minus: -x**2 is -(x**2))
 *   functions    if(c, a, b)  abs(x)  min(a, b, ...)  max(a, b, ...)  exp(x)  log(x)  sqrt(x)  pow(x, y)
 *                floor(x)  ceil(x)  round(x)  clamp(x, lo, hi)
 *   neighbours   nb_count(e) nb_sum(e) nb_mean(e) nb_min(e) nb_max(e) nb_any(e) nb_all(e) random_nb(e):
 *                inside, nb.x is the neighbour's x and a plain x still the agent's own; the argument must read a
 *                neighbour (nb.x); aggregates do not nest
 *   population   pop_count(e) pop_sum(e) pop_mean(e) pop_min(e) pop_max(e) over every agent's state at t (plain
 *                names are each agent's variables; no nb., no randomness, no nesting);
 *                pop_gini(e): the Gini coefficient of e over the population, sum_ij |e_i - e_j| / (2 n^2 mean),
 *                computed on the sorted values as sum_i (2i - n - 1) e_(i) / (n sum e) (i = 1..n); a real, 0 when the
 *                population is empty or the sum is 0 (meant for values >= 0: wealth, income)
 *   randomness   uniform()  uniform(a, b)  bernoulli(p)  normal(mu, sd)  binomial(n, p)
 *   pairs        in a pair rule (env->pair), partner.x is the partner's x (the caller declares the "partner.x"
 *                variables and fills their columns)
 *
 * Types: bool, int (int64), real (double), category. bool promotes to int and int to real in arithmetic; `/`,
 * `**`, pow, exp, log, sqrt, nb_mean, pop_mean and pop_gini give real; floor, ceil and round give int. See check.c
 * for every typing rule and eval.c for the run-time semantics (integer wrap, %, rounding, the distributions, faults).
 *
 * Determinism: every draw site gets its own RNG stream, stream_base + its index in source order, fixed at compile
 * time, so a draw is a pure function of (key, t, agent, site) — and of the neighbour for a site inside an aggregate
 * — whatever the evaluation order or thread. The rule files are compiled with -ffp-contract=off and without
 * fast-math so that a generated C version of a program can give identical bits. */
#ifndef AGORA_RULES_EXPR_H
#define AGORA_RULES_EXPR_H

#include <stddef.h>
#include <stdint.h>

#include "agora/error.h"
#include "agora/rng.h"
#include "agora/space.h"

/* Limits on one expression (a definition may come from a hostile MCP client). */
#define AGORA_RX_MAX_TEXT 4096  /* bytes */
#define AGORA_RX_MAX_NODES 1024 /* AST nodes */
#define AGORA_RX_MAX_DEPTH 64   /* syntactic nesting: parentheses, calls, unary operators, ** */
#define AGORA_RX_MAX_SLOTS 256  /* evaluation slots (a stack depth); the other limits keep programs far below */
#define AGORA_RX_MAX_VALUES 255 /* values of one category (stored as uint8) */
#define AGORA_RX_MAX_VARS 4096  /* variables, and parameters, of one environment */

typedef enum agora_rx_type {
    AGORA_RX_ANY = 0, /* as a wanted type: whatever the expression gives (metrics, conditions) */
    AGORA_RX_BOOL = 1,
    AGORA_RX_INT = 2,
    AGORA_RX_REAL = 3,
    AGORA_RX_CAT = 4
} agora_rx_type;

/* "bool", "int", "real", "category", "any". */
const char *agora__rx_type_name(agora_rx_type t);

/* One value: int64 for bool (0/1), int and category (the value's index), double for real. */
typedef union agora_rx_value {
    int64_t i;
    double r;
} agora_rx_value;

/* An agent variable. A category lists its values (value k is stored as the byte k); two category variables are the
 * same category when their value lists are equal. */
typedef struct agora_rx_var {
    const char *name;
    agora_rx_type type; /* BOOL, INT, REAL or CAT */
    const char *const *values;
    int nvalues;
} agora_rx_var;

/* A model parameter (BOOL, INT or REAL); its value comes with the context at run time (ctx->params[index]). */
typedef struct agora_rx_param {
    const char *name;
    agora_rx_type type;
} agora_rx_param;

/* What an expression may name. Borrowed by agora__rx_compile for the call only: the program keeps no pointer into
 * it (names quoted at run time are copied). */
typedef struct agora_rx_env {
    const agora_rx_var *vars;
    int nvars;
    const agora_rx_param *params;
    int nparams;
    int has_neighbours;    /* 0 on a mixed space: nb_*, random_nb, nb.x and degree are errors */
    uint32_t stream_base;  /* RNG stream of the first draw site (e.g. AGORA_RNG_STREAM_MODEL + 64 * rule index) */
    int rule;              /* the rule's index, reported with run-time faults */
    const char *rule_name; /* the variable the rule assigns (for fault messages); may be NULL */
    const char *where;     /* err->where of compile errors (the definition's file); may be NULL */
    int vars_in_pop_only;  /* 1: variables are read only inside pop_* (a metric: a number about the population) */
    int pair;              /* 1: a pair rule: variables named "partner.x" (declared by the caller) are the partner's */
} agora_rx_env;

/* A pair rule's own variables: its environment is the variables, then partner.x for each, then first (define.c);
 * 0 for any other environment. */
static inline int agora__rx_env_pair_own(const agora_rx_env *env)
{
    return env->pair ? (env->nvars - 1) / 2 : 0;
}

/* Checks an environment as a declaration: names are identifiers, not reserved (t, degree, nb, true, false, and, or,
 * not, function names), not repeated among variables and parameters, and no category value is also a variable or
 * parameter name; categories have 1..255 distinct values. AGORA_ESCHEMA naming the offending name. Called by
 * agora__rx_compile; a definition loader calls it once to report declaration errors first. */
int agora__rx_env_check(const agora_rx_env *env, agora_error *err);

typedef struct agora__rx_prog agora__rx_prog;

/* Compiles `len` bytes of text (NUL bytes in it are errors) into a program whose result has type want_type (for a
 * category, the category of variable want_cat; AGORA_RX_ANY accepts any type: see agora__rx_prog_type). base_line
 * and base_col (1-based) are where the text starts in its file: an error at line l, column c of the text is
 * reported at err->line = base_line + l - 1 and err->column = c (plus base_col - 1 on the text's first line), with
 * err->where = env->where, so agora_error_format prints file:line:col. Messages say what was expected, and for an
 * unknown name suggest the closest known one.
 * *out is owned by the caller (agora__rx_free). Errors: AGORA_EPARSE (syntax), AGORA_ESCHEMA (names, types, limits,
 * the environment), AGORA_ENOMEM. */
int agora__rx_compile(const char *text, size_t len, int base_line, int base_col, const agora_rx_env *env,
                      agora_rx_type want_type, int want_cat, agora__rx_prog **out, agora_error *err);

/* Frees a program; NULL is allowed. */
void agora__rx_free(agora__rx_prog *prog);

/* The program's result type (its want_type, or what an AGORA_RX_ANY expression gives), and for a category the index
 * of the variable whose values it takes (-1 otherwise). */
agora_rx_type agora__rx_prog_type(const agora__rx_prog *prog, int *cat);

/* RNG streams the program uses: stream_base .. stream_base + count - 1 (count may be 0). */
uint32_t agora__rx_prog_streams(const agora__rx_prog *prog);

/* Population aggregates the program reads (agora__rx_pop_aggregates computes them). */
int agora__rx_prog_npop(const agora__rx_prog *prog);

/* Instructions, for tests and benchmarks. */
int agora__rx_prog_size(const agora__rx_prog *prog);

/* Population aggregate k's per-agent value as a program of its own (no aggregates; its type the value's: BOOL for
 * pop_count and for a pop_sum or pop_mean of a bool, whose real sum of 0s and 1s is the exact count; else INT or
 * REAL), so that agora__rx_eval_range or native code computes a block of those values, which
 * folded in agent order give agora__rx_pop_aggregates' bits. 0, AGORA_EINVAL (k out of range) or AGORA_ENOMEM. */
int agora__rx_pop_program(const agora__rx_prog *prog, int k, agora__rx_prog **out);

/* A space's neighbourhood as the interpreter walks it: a grid's stencil (offsets for interior cells, coordinates for
 * the border, with the torus wrap or the bounded edge) or a graph's CSR rows, borrowed from the agora_space. No
 * allocation: the struct may live on the stack. A mixed space has no neighbours (kind 0). Neighbours are visited in a
 * fixed order (the stencil row by row, dy = -1, 0, 1 then dx = -1, 0, 1; a graph row as stored), and on a torus
 * narrower than 3 cells a neighbour reached twice counts twice, as in the built-in SIR. */
typedef struct agora_rx_nbhd {
    int kind; /* 0 none, AGORA_SPACE_GRID, AGORA_SPACE_GRAPH */
    int64_t width, height;
    int torus, count; /* grid: wrap; neighbours of an interior cell (8 Moore, 4 von Neumann) */
    int dx[8], dy[8];
    int64_t off[8]; /* dy * width + dx */
    const int64_t *offsets;
    const int32_t *neighbors;
} agora_rx_nbhd;

void agora__rx_nbhd_init(agora_rx_nbhd *nb, const agora_space *space);

/* Everything a program reads at run time. Columns are the state at t, one per variable of the environment the
 * program was compiled against: uint8_t[n] for bool and category, int64_t[n] for int, double[n] for real. */
typedef struct agora_rx_ctx {
    const void *const *cols;
    const agora_rx_value *params; /* [nparams] */
    const agora_rx_nbhd *nbhd;    /* NULL: no neighbours */
    int64_t n;                    /* agents */
    int64_t t;                    /* the step being computed from (state at t) */
    agora_rng_key key;
    const agora_rx_value *pop; /* [npop] from agora__rx_pop_aggregates; NULL when npop is 0 */
    int threads;               /* OpenMP threads for agora__rx_pop_aggregates (< 1: 1) */
    const int64_t *pair_of;    /* NULL, or a pair rule's matching for agents [pair_base, ...): agent i's partner is
                                * j = pair_of[i - pair_base], or -1 when it has none (agora_match_partners_range).
                                * Then an unpaired agent is skipped (its output is not written), partner.x is read
                                * at j and `first` is i < j, and draws are keyed by the pair's lower id min(i, j), so
                                * both agents of a pair see the same numbers. Programs that are not pair rules
                                * ignore it */
    int64_t out_base;          /* agora__rx_eval_range writes agent i's result to out_column[i - out_base]: 0 for a
                                * whole column, lo for a buffer of the range only */
    int64_t pair_base;         /* the first agent pair_of describes */
} agora_rx_ctx;

/* A run-time fault: a real result that is not finite (log(-1), 1/0.0, exp(1000)), an integer % 0, a real out of
 * the int64 range in floor/ceil/round, a negative n in binomial. The first fault of a range in agent order is kept. */
typedef struct agora_rx_fault {
    int rule; /* env->rule */
    int64_t agent, step;
    int line, column; /* where the faulting operation is, in the file (as compile errors) */
    const char *op;   /* "log", "/", ... (static text) */
    double value;     /* the non-finite result, or the bad operand */
} agora_rx_fault;

/* Evaluates the program for one agent into *out. 0, or AGORA_ERANGE with *fault filled (fault may be NULL). */
int agora__rx_eval(const agora__rx_prog *prog, const agora_rx_ctx *ctx, int64_t agent, agora_rx_value *out,
                   agora_rx_fault *fault);

/* Evaluates agents [lo, hi) and writes their results to out_column (indexed by agent - ctx->out_base: uint8_t for
 * bool and category, int64_t for int, double for real). The runtime calls it per thread block; no allocation, no locks.
 * On a fault, agents before the faulting one are written, the rest are not, and AGORA_ERANGE is returned with *fault.
 */
int agora__rx_eval_range(const agora__rx_prog *prog, const agora_rx_ctx *ctx, int64_t lo, int64_t hi, void *out_column,
                         agora_rx_fault *fault);

/* Computes the program's population aggregates over agents [0, ctx->n) of the state in ctx into out[npop]
 * (ctx->pop is not read). Reduction order is fixed — partials over blocks of 4096 agents, combined in block order —
 * so results are bit-identical at any thread count. pop_mean and the others of an empty population are 0.
 * 0, AGORA_ERANGE (a fault, the lowest agent's) or AGORA_ENOMEM. */
int agora__rx_pop_aggregates(const agora__rx_prog *prog, const agora_rx_ctx *ctx, agora_rx_value *out,
                             agora_rx_fault *fault, agora_error *err);

/* A fault as an error: "where:line:col: rule 2 (frustration): log gave nan for agent 17 at step 5". Returns
 * AGORA_ERANGE. */
int agora__rx_fault_error(const agora__rx_prog *prog, const agora_rx_fault *fault, agora_error *err);

/* ---- between the files of src/rules/ (not for other modules) ------------------------------------------------- */

/* Tokens. */
typedef enum rx_tok {
    RX_T_END,
    RX_T_INT,
    RX_T_REAL,
    RX_T_NAME,
    RX_T_LPAREN,
    RX_T_RPAREN,
    RX_T_COMMA,
    RX_T_DOT,
    RX_T_PLUS,
    RX_T_MINUS,
    RX_T_STAR,
    RX_T_SLASH,
    RX_T_PERCENT,
    RX_T_POW,
    RX_T_EQ,
    RX_T_NE,
    RX_T_LT,
    RX_T_LE,
    RX_T_GT,
    RX_T_GE,
    RX_T_AND,
    RX_T_OR,
    RX_T_NOT,
    RX_T_TRUE,
    RX_T_FALSE
} rx_tok;

typedef struct rx_token {
    rx_tok kind;
    int pos, len;  /* byte offset and length in the text */
    int line, col; /* 1-based, in the text */
    agora_rx_value v;
} rx_token;

typedef struct rx_lexer {
    const char *text;
    int len, pos, line, line_start;
} rx_lexer;

/* AST node kinds and operators. */
typedef enum rx_kind {
    RX_N_INT,
    RX_N_REAL,
    RX_N_BOOL,
    RX_N_NAME,
    RX_N_NBNAME,
    RX_N_UNARY,
    RX_N_BINARY,
    RX_N_CALL
} rx_kind;

/* Functions (RX_N_CALL's op). */
typedef enum rx_fn {
    RX_F_IF,
    RX_F_ABS,
    RX_F_MIN,
    RX_F_MAX,
    RX_F_EXP,
    RX_F_LOG,
    RX_F_SQRT,
    RX_F_POW,
    RX_F_FLOOR,
    RX_F_CEIL,
    RX_F_ROUND,
    RX_F_CLAMP,
    RX_F_NB_COUNT,
    RX_F_NB_SUM,
    RX_F_NB_MEAN,
    RX_F_NB_MIN,
    RX_F_NB_MAX,
    RX_F_NB_ANY,
    RX_F_NB_ALL,
    RX_F_RANDOM_NB,
    RX_F_POP_COUNT,
    RX_F_POP_SUM,
    RX_F_POP_MEAN,
    RX_F_POP_MIN,
    RX_F_POP_MAX,
    RX_F_POP_GINI,
    RX_F_UNIFORM,
    RX_F_BERNOULLI,
    RX_F_NORMAL,
    RX_F_BINOMIAL,
    RX_F_COUNT
} rx_fn;

typedef struct rx_fninfo {
    const char *name;
    int min_args, max_args; /* max -1: any number */
} rx_fninfo;
extern const rx_fninfo agora__rx_fns[RX_F_COUNT];

/* What a plain name resolved to (check.c). */
typedef enum rx_ref { RX_R_NONE, RX_R_VAR, RX_R_PARAM, RX_R_T, RX_R_DEGREE, RX_R_VALUE } rx_ref;

typedef struct rx_node {
    uint8_t kind;  /* rx_kind */
    uint8_t op;    /* rx_tok of an operator, rx_fn of a call */
    uint8_t type;  /* agora_rx_type once checked; 0 while a category value waits for its category */
    uint8_t conv;  /* the type the value is converted to where it is used (0: none) */
    uint8_t ref;   /* rx_ref of a name */
    int16_t cat;   /* category: the variable whose values it takes */
    int line, col; /* in the text */
    int pos, len;  /* a name's bytes in the text */
    int kids, nkids;
    int index; /* variable, parameter, category value, draw site or population aggregate */
    agora_rx_value v;
} rx_node;

typedef struct rx_ast {
    const char *text;
    int len;
    rx_node nodes[AGORA_RX_MAX_NODES];
    int nnodes;
    int kids[AGORA_RX_MAX_NODES];
    int nkids;
    int root;
    int base_line, base_col;
    const char *where;
} rx_ast;

/* Sets err for an error at (line, col) of the text, adjusting by the base position. Returns code. */
int agora__rx_error_at(const rx_ast *ast, agora_error *err, int code, int line, int col, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 6, 7)))
#endif
    ;

void agora__rx_lex_init(rx_lexer *lx, const char *text, int len);
int agora__rx_lex_next(rx_lexer *lx, const rx_ast *ast, rx_token *tok, agora_error *err);

/* Text -> AST in *ast (caller-allocated, large: heap). */
int agora__rx_parse(rx_ast *ast, const char *text, int len, int base_line, int base_col, const char *where,
                    agora_error *err);

/* Names, types, limits: fills type/conv/ref/cat/index of every node; counts draw sites and population aggregates. */
typedef struct rx_checked {
    int nsites, npop;
    agora_rx_type type;
    int cat;
} rx_checked;
int agora__rx_check(rx_ast *ast, const agora_rx_env *env, agora_rx_type want, int want_cat, rx_checked *out,
                    agora_error *err);

/* Typed AST -> program. */
int agora__rx_codegen(const rx_ast *ast, const agora_rx_env *env, const rx_checked *chk, agora__rx_prog **out,
                      agora_error *err);

/* Bytecode (compile.c writes it, eval.c runs it). Slots are a stack whose depth is known at every instruction, so an
 * instruction names its destination slot d and its operands are d, d + 1, d + 2. */
/* X(name): the instruction set, also the interpreter's dispatch table (eval.c). */
#define RX_OPS(X)                                                                                                      \
    X(LDI) /* s[d].i = imm.i */                                                                                        \
    X(LDR) /* s[d].r = imm.r */                                                                                        \
    X(LDV8)                                                                                                            \
    X(LDVI)                                                                                                            \
    X(LDVR)                      /* own variable x (column x) */                                                       \
        X(LDN8) X(LDNI) X(LDNR)  /* the current neighbour's variable x */                                              \
        X(LDPI) X(LDPR)          /* parameter x */                                                                     \
        X(LDT) X(LDDEG) X(LDPOP) /* population aggregate x */                                                          \
        X(I2R) X(NEGI) X(NEGR) X(NOT) X(ADDI) X(SUBI) X(MULI) X(MODI) X(ADDR) X(SUBR) X(MULR) X(DIVR) X(POWR) X(EQI)   \
            X(NEI) X(LTI) X(LEI) X(GTI) X(GEI) X(EQR) X(NER) X(LTR) X(LER) X(GTR) X(GER) X(AND) X(OR) X(ABSI) X(ABSR)  \
                X(MINI) X(MINR) X(MAXI) X(MAXR) X(EXP) X(LOG) X(SQRT) X(FLOOR) X(CEIL) X(ROUND) X(CLAMPI) X(CLAMPR)    \
                    X(JMPF) /* if !s[d].i goto x */                                                                    \
        X(JMP) /* goto x */ /* Neighbour loops: NB_BEGIN sets up the agent's neighbours, s[d] = the aggregate's start  \
                             * value (imm), and jumps to x (past the loop) when there are none, leaving s[d].i = aux;  \
                             * the body computes s[d + 1] with the current neighbour; NB_<agg> folds it into s[d] and  \
                             * jumps back to x (the body's start) while neighbours remain. */                          \
        X(NB_BEGIN) X(NB_COUNT) X(NB_SUMI) X(NB_SUMR) X(NB_MINI) X(NB_MINR) X(NB_MAXI) X(NB_MAXR) X(NB_ANY) X(NB_ALL)  \
            X(NB_MEAN) /* after the loop: s[d].r /= neighbours (only reached with some) */                             \
        X(RNB)         /* chooses the current neighbour with draw site x (the agent itself when it has none) */        \
        X(UNIF) X(UNIF2) X(BERN) X(NORM)                                                                               \
            X(BINOM) /* draw site x; aux 1: inside a neighbour loop */ /* Fused forms of common patterns (one dispatch \
                                                                          instead of three or thirty): */              \
        X(EQV8K)    /* s[d].i = (column x)[agent] == imm.i, negated when aux */                                        \
        X(JV8K)     /* goto x unless ((column d)[agent] == imm.i) != aux: if(v == k, ...) and if(v != k, ...) */       \
        X(NB_CNT8K) /* s[d].i = neighbours j with ((column x)[j] == imm.i) != aux: nb_count(nb.v == k), nb_count(nb.b) \
                     */                                                                                                \
        X(NB_SUMV8) X(NB_SUMVI) X(NB_SUMVR) /* s[d] = the sum of (column x) over the neighbours: nb_sum(nb.v) */       \
        X(RET)

typedef enum rx_op {
#define RX__OP_ENUM(name) RX_OP_##name,
    RX_OPS(RX__OP_ENUM)
#undef RX__OP_ENUM
        RX_OP_COUNT
} rx_op;

typedef struct rx_ins {
    uint8_t op;
    uint8_t aux;
    uint16_t d;
    int32_t x;
    agora_rx_value imm;
} rx_ins;

/* A population aggregate: code[start ..] computes the per-agent value into slot 0 and ends with RX_OP_RET. */
typedef struct rx_popagg {
    int fn;      /* RX_F_POP_* */
    int type;    /* of the per-agent value after promotion: INT or REAL (count: BOOL) */
    int argtype; /* of the argument before promotion (BOOL for pop_mean(state == I)) */
    int start;
} rx_popagg;

struct agora__rx_prog {
    rx_ins *code;
    int ncode;
    int *line, *col; /* [ncode]: file position of each instruction (faults) */
    int nslots;
    agora_rx_type type;
    int cat;
    uint32_t stream_base;
    int nsites;
    rx_popagg *pop;
    int npop;
    int rule;
    char rule_name[64];
    char where[256];
    int nvars, nparams;
    uint8_t *vdom; /* [nvars]: the values a byte column holds (2 for a bool, a category's count; 0 for int, real) */
    int pair_own;  /* a pair rule's own variables (its environment: own, then partner.x for each, then first); 0 */
};

/* ---- the native backend (native.c): programs translated to C, compiled at run time, cached by hash ------------- */

/* The operation a fault at an instruction of this opcode names ("log", "/", "the result", ...; static text). */
const char *agora__rx_op_name(int op);

/* What evaluates agents [lo, hi) of a program: agora__rx_eval_range itself or a native function with the same
 * semantics (the same bits, the same faults), so a caller holds either behind one pointer. */
typedef int (*agora__rx_range_fn)(const agora__rx_prog *prog, const agora_rx_ctx *ctx, int64_t lo, int64_t hi,
                                  void *out_column, agora_rx_fault *fault);

/* The population aggregates of several programs in one pass over the population (blocks of 4096 agents, each block's
 * values computed by range functions into a block buffer, then folded): progs[q]'s aggregates for q < nprog, whose
 * per-agent values are vprog[j] (agora__rx_pop_program; j counts progs[0]'s aggregates first, then progs[1]'s ...),
 * evaluated by vfn[j], into out[j]. Bit-identical to agora__rx_pop_aggregates of each program. ok[q] = 0 marks a
 * program whose aggregates faulted (agora__rx_pop_aggregates on it names the fault). 0, or AGORA_ENOMEM. */
int agora__rx_pop_aggregates_fused(const agora__rx_prog *const *progs, int nprog, const agora__rx_prog *const *vprog,
                                   const agora__rx_range_fn *vfn, const agora_rx_ctx *ctx, agora_rx_value *out,
                                   uint8_t *ok, agora_error *err);

/* A set of programs compiled together into one shared object (one compiler run for a model's rules and metrics). */
typedef struct agora__rx_native agora__rx_native;

/* Translates progs[0 .. n-1] to C, compiles them with AGORA_CC (else the compiler agora was built with, else cc)
 * into <cache>/<sha256>.so (cache: AGORA_CACHE_DIR, else $XDG_CACHE_HOME/agora, else $HOME/.cache/agora; created
 * 0700; written under a temporary name and renamed, so concurrent processes never see half a file), or loads that
 * file when it is there (no compiler run), and resolves one function per program. Any failure — AGORA_RULES_NATIVE=0,
 * no compiler, a compile error, dlopen, the cache, a program the translator refuses — leaves programs on the
 * interpreter with the reason in agora__rx_native_status; it is not an error. The native function of program i is
 * bound to progs[i] (its constants are compiled in): call it only with that program; the module keeps no pointer to
 * the programs. *out is owned by the caller (agora__rx_native_free); fault->op texts from native code live as long
 * as the module. Population aggregates stay interpreted (agora__rx_pop_aggregates). Errors: AGORA_ENOMEM only. */
int agora__rx_native_build(const agora__rx_prog *const *progs, int n, agora__rx_native **out, agora_error *err);

/* Program i's range function: native, or agora__rx_eval_range when it fell back (also for a NULL module). */
agora__rx_range_fn agora__rx_native_fn(const agora__rx_native *m, int i);

/* Whether program i runs natively. */
int agora__rx_native_is_native(const agora__rx_native *m, int i);

/* Which path runs and why: "native (cached /home/u/.cache/agora/ab12....so)", "native (compiled in 180 ms: ...)",
 * "interpreter (no C compiler: cc not found)", ... (valid while the module lives). */
const char *agora__rx_native_status(const agora__rx_native *m);

/* Whether building this module ran the compiler (0 on a cache hit or a fall-back before compiling). */
int agora__rx_native_compiled(const agora__rx_native *m);

/* The shared object's path, or NULL when nothing native is loaded. */
const char *agora__rx_native_path(const agora__rx_native *m);

/* Unloads the shared object and frees the module; NULL is allowed. */
void agora__rx_native_free(agora__rx_native *m);

/* The C source agora__rx_native_build compiles (without its stamp line), for tests and for reading: *src is
 * malloc'd (the caller frees it); translated[k] (n entries) tells whether program k was translated, why[] the first
 * refusal. 0 or AGORA_ENOMEM. */
int agora__rx_native_source(const agora__rx_prog *const *progs, int n, char **src, size_t *len, int *translated,
                            char *why, size_t why_size);

#endif
