/* agora — rule language: code generation (typed AST -> flat bytecode) and agora__rx_compile, the pipeline's entry.
 *
 * The bytecode is a stack machine whose stack depth is known at every instruction, so each instruction names the
 * slot it writes (d) and reads its operands from d, d + 1, d + 2: a node is compiled into slot d, its children into
 * d, d + 1, ... and the operator folds them back into d. Conversions int -> real are explicit instructions (I2R) where
 * the checker marked them; an int literal used as a real is loaded as a real. if() jumps over the branch not taken
 * (no side effects are skipped: draws are keyed by their site, not by how many draws came before). A neighbour
 * aggregate is a loop: NB_BEGIN, the argument's code with the neighbour as the current one, and the fold instruction
 * that jumps back. Population aggregates are compiled after the main program's RET, each its own small program from
 * slot 0, and the main program reads their values (LDPOP). Each instruction remembers its file position for
 * run-time faults. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules/expr.h"

typedef struct gen {
    const rx_ast *ast;
    const agora_rx_env *env;
    rx_ins *code;
    int *line, *col;
    int n, cap;
    int maxslot;
    int in_nb;
    int popnode[AGORA_RX_MAX_NODES]; /* the node of each population aggregate */
    int oom;
    agora_error *err;
} gen;

static const rx_node *N(const gen *g, int i)
{
    return &g->ast->nodes[i];
}

static int kid(const gen *g, int node, int k)
{
    return g->ast->kids[N(g, node)->kids + k];
}

/* Appends an instruction at the position of `node`; returns its index. */
static int emit(gen *g, int node, rx_op op, int d, int32_t x)
{
    if (g->n == g->cap) {
        int cap = g->cap ? g->cap * 2 : 64;
        rx_ins *c = realloc(g->code, sizeof *c * (size_t)cap);
        if (c)
            g->code = c;
        int *l = realloc(g->line, sizeof *l * (size_t)cap);
        if (l)
            g->line = l;
        int *k = realloc(g->col, sizeof *k * (size_t)cap);
        if (k)
            g->col = k;
        if (!c || !l || !k) {
            g->oom = 1;
            return 0;
        }
        g->cap = cap;
    }
    if (d + 3 > g->maxslot)
        g->maxslot = d + 3;
    rx_ins *in = &g->code[g->n];
    memset(in, 0, sizeof *in);
    in->op = (uint8_t)op;
    in->d = (uint16_t)(d < 0xFFFF ? d : 0xFFFF);
    in->x = x;
    const rx_node *nd = N(g, node);
    const int bl = g->ast->base_line > 0 ? g->ast->base_line : 1, bc = g->ast->base_col > 0 ? g->ast->base_col : 1;
    g->line[g->n] = bl + nd->line - 1;
    g->col[g->n] = nd->line == 1 ? bc + nd->col - 1 : nd->col;
    return g->n++;
}

/* The type a node's value has once converted (bool counts as int). */
static int eff(const rx_node *n)
{
    int t = n->conv ? n->conv : n->type;
    return t == AGORA_RX_BOOL || t == AGORA_RX_CAT ? AGORA_RX_INT : t;
}

static void gen_node(gen *g, int node, int d);

/* Whether a node is a constant int, bool or category value (used as it is, not as a real); its value in *v. */
static int constant(const gen *g, int node, int64_t *v)
{
    const rx_node *n = N(g, node);
    if (n->conv)
        return 0;
    if (n->kind == RX_N_INT || n->kind == RX_N_BOOL) {
        *v = n->v.i;
        return 1;
    }
    if (n->kind == RX_N_NAME && n->ref == RX_R_VALUE) {
        *v = n->index;
        return 1;
    }
    return 0;
}

/* Whether a node is a byte variable (bool or category; the agent's own, or with nb the neighbour's); its column. */
static int byte_var(const gen *g, int node, int nb, int *col)
{
    const rx_node *n = N(g, node);
    if (n->conv || n->kind != (nb ? RX_N_NBNAME : RX_N_NAME) || n->ref != RX_R_VAR)
        return 0;
    const int t = g->env->vars[n->index].type;
    if (t != AGORA_RX_BOOL && t != AGORA_RX_CAT)
        return 0;
    *col = n->index;
    return 1;
}

/* `v == k` or `v != k` (either way round) with v a byte variable and k a constant: the column, k and whether it is
 * !=. Constants beyond a byte never equal a byte: they are left to the general code. */
static int byte_test(const gen *g, int node, int nb, int *col, int64_t *k, int *ne)
{
    const rx_node *n = N(g, node);
    if (n->kind != RX_N_BINARY || (n->op != RX_T_EQ && n->op != RX_T_NE))
        return 0;
    const int a = kid(g, node, 0), b = kid(g, node, 1);
    if (!((byte_var(g, a, nb, col) && constant(g, b, k)) || (byte_var(g, b, nb, col) && constant(g, a, k))))
        return 0;
    *ne = n->op == RX_T_NE;
    return *k >= 0 && *k <= 255;
}

static void gen_binary(gen *g, int node, int d)
{
    const rx_node *n = N(g, node);
    const int a = kid(g, node, 0), b = kid(g, node, 1);
    int col, ne;
    int64_t k;
    if (!g->in_nb && byte_test(g, node, 0, &col, &k, &ne)) {
        const int at = emit(g, node, RX_OP_EQV8K, d, col);
        if (!g->oom) {
            g->code[at].imm.i = k;
            g->code[at].aux = (uint8_t)ne;
        }
        return;
    }
    gen_node(g, a, d);
    gen_node(g, b, d + 1);
    const int real = eff(N(g, a)) == AGORA_RX_REAL; /* operands were promoted to one type */
    rx_op op;
    switch ((rx_tok)n->op) {
    case RX_T_PLUS:
        op = real ? RX_OP_ADDR : RX_OP_ADDI;
        break;
    case RX_T_MINUS:
        op = real ? RX_OP_SUBR : RX_OP_SUBI;
        break;
    case RX_T_STAR:
        op = real ? RX_OP_MULR : RX_OP_MULI;
        break;
    case RX_T_SLASH:
        op = RX_OP_DIVR;
        break;
    case RX_T_PERCENT:
        op = RX_OP_MODI;
        break;
    case RX_T_POW:
        op = RX_OP_POWR;
        break;
    case RX_T_EQ:
        op = real ? RX_OP_EQR : RX_OP_EQI;
        break;
    case RX_T_NE:
        op = real ? RX_OP_NER : RX_OP_NEI;
        break;
    case RX_T_LT:
        op = real ? RX_OP_LTR : RX_OP_LTI;
        break;
    case RX_T_LE:
        op = real ? RX_OP_LER : RX_OP_LEI;
        break;
    case RX_T_GT:
        op = real ? RX_OP_GTR : RX_OP_GTI;
        break;
    case RX_T_GE:
        op = real ? RX_OP_GER : RX_OP_GEI;
        break;
    case RX_T_AND:
        op = RX_OP_AND;
        break;
    default:
        op = RX_OP_OR;
        break;
    }
    emit(g, node, op, d, 0);
}

static void gen_aggregate(gen *g, int node, int d, int fn)
{
    const int a = kid(g, node, 0);
    int col, ne;
    int64_t k;
    /* nb_count(nb.v == k), nb_count(nb.v != k), nb_count(nb.b): one instruction */
    if (fn == RX_F_NB_COUNT && (byte_test(g, a, 1, &col, &k, &ne) || (byte_var(g, a, 1, &col) && (k = 0, ne = 1)))) {
        const int at = emit(g, node, RX_OP_NB_CNT8K, d, col);
        if (!g->oom) {
            g->code[at].imm.i = k;
            g->code[at].aux = (uint8_t)ne;
        }
        return;
    }
    /* nb_sum(nb.v) */
    const rx_node *an = N(g, a);
    if (fn == RX_F_NB_SUM && an->kind == RX_N_NBNAME && !an->conv) {
        const int t = g->env->vars[an->index].type;
        emit(g, node,
             t == AGORA_RX_REAL  ? RX_OP_NB_SUMVR
             : t == AGORA_RX_INT ? RX_OP_NB_SUMVI
                                 : RX_OP_NB_SUMV8,
             d, an->index);
        return;
    }
    const int real = eff(N(g, a)) == AGORA_RX_REAL;
    agora_rx_value init = {.i = 0};
    rx_op fold;
    switch (fn) {
    case RX_F_NB_COUNT:
        fold = RX_OP_NB_COUNT;
        break;
    case RX_F_NB_SUM:
        fold = real ? RX_OP_NB_SUMR : RX_OP_NB_SUMI;
        break;
    case RX_F_NB_MEAN:
        fold = RX_OP_NB_SUMR;
        break;
    case RX_F_NB_MIN:
        fold = real ? RX_OP_NB_MINR : RX_OP_NB_MINI;
        if (real)
            init.r = INFINITY;
        else
            init.i = INT64_MAX;
        break;
    case RX_F_NB_MAX:
        fold = real ? RX_OP_NB_MAXR : RX_OP_NB_MAXI;
        if (real)
            init.r = -INFINITY;
        else
            init.i = INT64_MIN;
        break;
    case RX_F_NB_ANY:
        fold = RX_OP_NB_ANY;
        break;
    default:
        fold = RX_OP_NB_ALL;
        init.i = 1;
        break;
    }
    const int begin = emit(g, node, RX_OP_NB_BEGIN, d, 0);
    if (!g->oom) {
        g->code[begin].imm = init;
        g->code[begin].aux = fn == RX_F_NB_ALL; /* no neighbours: all() is true, the others 0 */
    }
    g->in_nb = 1;
    gen_node(g, a, d + 1);
    g->in_nb = 0;
    emit(g, node, fold, d, begin + 1);
    if (fn == RX_F_NB_MEAN)
        emit(g, node, RX_OP_NB_MEAN, d, 0);
    if (!g->oom)
        g->code[begin].x = g->n;
}

static void gen_draw(gen *g, int node, int d, rx_op op)
{
    const int at = emit(g, node, op, d, N(g, node)->index);
    if (!g->oom)
        g->code[at].aux = (uint8_t)g->in_nb;
}

static void gen_call(gen *g, int node, int d)
{
    const rx_node *n = N(g, node);
    const int fn = n->op;
    switch (fn) {
    case RX_F_IF: {
        int col, ne, jf;
        int64_t k;
        if (!g->in_nb && byte_test(g, kid(g, node, 0), 0, &col, &k, &ne)) {
            /* if(v == k, a, b): jump to b when the test fails, reading the column directly */
            jf = emit(g, node, RX_OP_JV8K, d, 0);
            if (!g->oom) {
                g->code[jf].d = (uint16_t)col; /* the column, not a slot */
                g->code[jf].imm.i = k;
                g->code[jf].aux = (uint8_t)ne;
            }
        } else {
            gen_node(g, kid(g, node, 0), d);
            jf = emit(g, node, RX_OP_JMPF, d, 0);
        }
        gen_node(g, kid(g, node, 1), d);
        const int j = emit(g, node, RX_OP_JMP, d, 0);
        if (!g->oom)
            g->code[jf].x = g->n;
        gen_node(g, kid(g, node, 2), d);
        if (!g->oom)
            g->code[j].x = g->n;
        return;
    }
    case RX_F_ABS:
        gen_node(g, kid(g, node, 0), d);
        emit(g, node, eff(N(g, kid(g, node, 0))) == AGORA_RX_REAL ? RX_OP_ABSR : RX_OP_ABSI, d, 0);
        return;
    case RX_F_MIN:
    case RX_F_MAX: {
        const int real = n->type == AGORA_RX_REAL;
        gen_node(g, kid(g, node, 0), d);
        for (int k = 1; k < n->nkids; k++) {
            gen_node(g, kid(g, node, k), d + 1);
            emit(g, node, fn == RX_F_MIN ? (real ? RX_OP_MINR : RX_OP_MINI) : (real ? RX_OP_MAXR : RX_OP_MAXI), d, 0);
        }
        return;
    }
    case RX_F_CLAMP:
        for (int k = 0; k < 3; k++)
            gen_node(g, kid(g, node, k), d + k);
        emit(g, node, n->type == AGORA_RX_REAL ? RX_OP_CLAMPR : RX_OP_CLAMPI, d, 0);
        return;
    case RX_F_EXP:
    case RX_F_LOG:
    case RX_F_SQRT:
        gen_node(g, kid(g, node, 0), d);
        emit(g, node, fn == RX_F_EXP ? RX_OP_EXP : fn == RX_F_LOG ? RX_OP_LOG : RX_OP_SQRT, d, 0);
        return;
    case RX_F_POW:
        gen_node(g, kid(g, node, 0), d);
        gen_node(g, kid(g, node, 1), d + 1);
        emit(g, node, RX_OP_POWR, d, 0);
        return;
    case RX_F_FLOOR:
    case RX_F_CEIL:
    case RX_F_ROUND:
        gen_node(g, kid(g, node, 0), d);
        if (eff(N(g, kid(g, node, 0))) == AGORA_RX_REAL)
            emit(g, node, fn == RX_F_FLOOR ? RX_OP_FLOOR : fn == RX_F_CEIL ? RX_OP_CEIL : RX_OP_ROUND, d, 0);
        return;
    case RX_F_UNIFORM:
        if (n->nkids == 2) {
            gen_node(g, kid(g, node, 0), d);
            gen_node(g, kid(g, node, 1), d + 1);
            gen_draw(g, node, d, RX_OP_UNIF2);
        } else {
            gen_draw(g, node, d, RX_OP_UNIF);
        }
        return;
    case RX_F_BERNOULLI:
        gen_node(g, kid(g, node, 0), d);
        gen_draw(g, node, d, RX_OP_BERN);
        return;
    case RX_F_NORMAL:
    case RX_F_BINOMIAL:
        gen_node(g, kid(g, node, 0), d);
        gen_node(g, kid(g, node, 1), d + 1);
        gen_draw(g, node, d, fn == RX_F_NORMAL ? RX_OP_NORM : RX_OP_BINOM);
        return;
    case RX_F_RANDOM_NB:
        emit(g, node, RX_OP_RNB, d, n->index);
        g->in_nb = 1;
        gen_node(g, kid(g, node, 0), d);
        g->in_nb = 0;
        return;
    case RX_F_POP_COUNT:
    case RX_F_POP_SUM:
    case RX_F_POP_MEAN:
    case RX_F_POP_MIN:
    case RX_F_POP_MAX:
    case RX_F_POP_GINI:
        g->popnode[n->index] = node;
        emit(g, node, RX_OP_LDPOP, d, n->index);
        return;
    default:
        gen_aggregate(g, node, d, fn);
        return;
    }
}

static void gen_node(gen *g, int node, int d)
{
    const rx_node *n = N(g, node);
    int converted = 0;
    switch (n->kind) {
    case RX_N_INT: {
        const int at = emit(g, node, n->conv == AGORA_RX_REAL ? RX_OP_LDR : RX_OP_LDI, d, 0);
        if (!g->oom) {
            if (n->conv == AGORA_RX_REAL)
                g->code[at].imm.r = (double)n->v.i;
            else
                g->code[at].imm.i = n->v.i;
        }
        converted = 1;
        break;
    }
    case RX_N_REAL: {
        const int at = emit(g, node, RX_OP_LDR, d, 0);
        if (!g->oom)
            g->code[at].imm.r = n->v.r;
        break;
    }
    case RX_N_BOOL: {
        const int at = emit(g, node, n->conv == AGORA_RX_REAL ? RX_OP_LDR : RX_OP_LDI, d, 0);
        if (!g->oom) {
            if (n->conv == AGORA_RX_REAL)
                g->code[at].imm.r = (double)n->v.i;
            else
                g->code[at].imm.i = n->v.i;
        }
        converted = 1;
        break;
    }
    case RX_N_NAME:
        switch (n->ref) {
        case RX_R_VAR: {
            const int t = g->env->vars[n->index].type;
            emit(g, node, t == AGORA_RX_REAL ? RX_OP_LDVR : t == AGORA_RX_INT ? RX_OP_LDVI : RX_OP_LDV8, d, n->index);
            break;
        }
        case RX_R_PARAM:
            emit(g, node, g->env->params[n->index].type == AGORA_RX_REAL ? RX_OP_LDPR : RX_OP_LDPI, d, n->index);
            break;
        case RX_R_T:
            emit(g, node, RX_OP_LDT, d, 0);
            break;
        case RX_R_DEGREE:
            emit(g, node, RX_OP_LDDEG, d, 0);
            break;
        default: { /* a category value */
            const int at = emit(g, node, RX_OP_LDI, d, 0);
            if (!g->oom)
                g->code[at].imm.i = n->index;
            break;
        }
        }
        break;
    case RX_N_NBNAME: {
        const int t = g->env->vars[n->index].type;
        emit(g, node, t == AGORA_RX_REAL ? RX_OP_LDNR : t == AGORA_RX_INT ? RX_OP_LDNI : RX_OP_LDN8, d, n->index);
        break;
    }
    case RX_N_UNARY:
        gen_node(g, kid(g, node, 0), d);
        if (n->op == RX_T_NOT)
            emit(g, node, RX_OP_NOT, d, 0);
        else if (n->op == RX_T_MINUS)
            emit(g, node, n->type == AGORA_RX_REAL ? RX_OP_NEGR : RX_OP_NEGI, d, 0);
        break;
    case RX_N_BINARY:
        gen_binary(g, node, d);
        break;
    default:
        gen_call(g, node, d);
        break;
    }
    if (!converted && n->conv == AGORA_RX_REAL && n->type != AGORA_RX_REAL)
        emit(g, node, RX_OP_I2R, d, 0);
}

int agora__rx_codegen(const rx_ast *ast, const agora_rx_env *env, const rx_checked *chk, agora__rx_prog **out,
                      agora_error *err)
{
    int rc = 0;
    agora__rx_prog *p = NULL;
    gen *g = calloc(1, sizeof *g);
    if (!g)
        return agora_error_set(err, AGORA_ENOMEM, env->where, "out of memory");
    g->ast = ast;
    g->env = env;
    g->err = err;
    gen_node(g, ast->root, 0);
    /* RET checks a real result: a real variable copied whole may hold what no operation made (a NaN set from
     * outside) */
    int ret = emit(g, ast->root, RX_OP_RET, 0, 0);
    if (!g->oom)
        g->code[ret].aux = chk->type == AGORA_RX_REAL;
    p = calloc(1, sizeof *p);
    if (!p || (chk->npop && !(p->pop = calloc((size_t)chk->npop, sizeof *p->pop))) ||
        !(p->vdom = calloc((size_t)env->nvars + 1, 1))) {
        rc = agora_error_set(err, AGORA_ENOMEM, env->where, "out of memory");
        goto done;
    }
    for (int k = 0; k < chk->npop; k++) {
        const int node = g->popnode[k], a = ast->kids[ast->nodes[node].kids];
        p->pop[k].fn = ast->nodes[node].op;
        p->pop[k].type = ast->nodes[node].op == RX_F_POP_COUNT ? AGORA_RX_BOOL : eff(&ast->nodes[a]);
        p->pop[k].argtype = ast->nodes[a].type;
        p->pop[k].start = g->n;
        gen_node(g, a, 0);
        ret = emit(g, a, RX_OP_RET, 0, 0);
        if (!g->oom)
            g->code[ret].aux = eff(&ast->nodes[a]) == AGORA_RX_REAL;
    }
    if (g->oom) {
        rc = agora_error_set(err, AGORA_ENOMEM, env->where, "out of memory");
        goto done;
    }
    if (g->maxslot > AGORA_RX_MAX_SLOTS) {
        rc = agora__rx_error_at(ast, err, AGORA_ESCHEMA, 1, 1,
                                "expression too complex: it needs %d evaluation slots, "
                                "at most %d",
                                g->maxslot, AGORA_RX_MAX_SLOTS);
        goto done;
    }
    p->code = g->code;
    p->line = g->line;
    p->col = g->col;
    g->code = NULL;
    g->line = g->col = NULL;
    p->ncode = g->n;
    p->nslots = g->maxslot;
    p->type = chk->type;
    p->cat = chk->cat;
    p->stream_base = env->stream_base;
    p->nsites = chk->nsites;
    p->npop = chk->npop;
    p->rule = env->rule;
    snprintf(p->rule_name, sizeof p->rule_name, "%s", env->rule_name ? env->rule_name : "");
    snprintf(p->where, sizeof p->where, "%s", env->where ? env->where : "");
    p->nvars = env->nvars;
    p->nparams = env->nparams;
    p->pair_own = agora__rx_env_pair_own(env);
    for (int v = 0; v < env->nvars; v++)
        p->vdom[v] = (uint8_t)(env->vars[v].type == AGORA_RX_BOOL  ? 2
                               : env->vars[v].type == AGORA_RX_CAT ? env->vars[v].nvalues
                                                                   : 0);
    *out = p;
    p = NULL;
done:
    agora__rx_free(p);
    free(g->code);
    free(g->line);
    free(g->col);
    free(g);
    return rc;
}

int agora__rx_compile(const char *text, size_t len, int base_line, int base_col, const agora_rx_env *env,
                      agora_rx_type want_type, int want_cat, agora__rx_prog **out, agora_error *err)
{
    *out = NULL;
    int rc = agora__rx_env_check(env, err);
    if (rc)
        return rc;
    rx_ast *ast = malloc(sizeof *ast);
    if (!ast)
        return agora_error_set(err, AGORA_ENOMEM, env->where, "out of memory");
    ast->base_line = base_line;
    ast->base_col = base_col;
    ast->where = env->where;
    ast->text = text;
    ast->len = 0;
    if (!text || len > AGORA_RX_MAX_TEXT) {
        rc = agora__rx_error_at(ast, err, AGORA_ESCHEMA, 1, 1, "expression too long: %zu bytes, at most %d",
                                text ? len : 0, AGORA_RX_MAX_TEXT);
        goto done;
    }
    rx_checked chk;
    if ((rc = agora__rx_parse(ast, text, (int)len, base_line, base_col, env->where, err)) ||
        (rc = agora__rx_check(ast, env, want_type, want_cat, &chk, err)) ||
        (rc = agora__rx_codegen(ast, env, &chk, out, err)))
        goto done;
done:
    free(ast);
    return rc;
}

void agora__rx_free(agora__rx_prog *prog)
{
    if (!prog)
        return;
    free(prog->code);
    free(prog->line);
    free(prog->col);
    free(prog->pop);
    free(prog->vdom);
    free(prog);
}

agora_rx_type agora__rx_prog_type(const agora__rx_prog *prog, int *cat)
{
    if (cat)
        *cat = prog->cat;
    return prog->type;
}

uint32_t agora__rx_prog_streams(const agora__rx_prog *prog)
{
    return (uint32_t)prog->nsites;
}

int agora__rx_prog_npop(const agora__rx_prog *prog)
{
    return prog->npop;
}

int agora__rx_prog_size(const agora__rx_prog *prog)
{
    return prog->ncode;
}

/* Whether instruction `in` holds a code address in x (jumps, and the neighbour loops' exits and back edges). */
static int has_target(const rx_ins *in)
{
    switch (in->op) {
    case RX_OP_JMP:
    case RX_OP_JMPF:
    case RX_OP_JV8K:
    case RX_OP_NB_BEGIN:
    case RX_OP_NB_COUNT:
    case RX_OP_NB_SUMI:
    case RX_OP_NB_SUMR:
    case RX_OP_NB_MINI:
    case RX_OP_NB_MINR:
    case RX_OP_NB_MAXI:
    case RX_OP_NB_MAXR:
    case RX_OP_NB_ANY:
    case RX_OP_NB_ALL:
        return 1;
    default:
        return 0;
    }
}

int agora__rx_pop_program(const agora__rx_prog *prog, int k, agora__rx_prog **out)
{
    *out = NULL;
    if (k < 0 || k >= prog->npop)
        return AGORA_EINVAL;
    const int start = prog->pop[k].start, end = k + 1 < prog->npop ? prog->pop[k + 1].start : prog->ncode;
    int n = end - start;
    agora__rx_prog *p = calloc(1, sizeof *p);
    if (!p || !(p->code = malloc(sizeof *p->code * (size_t)n)) || !(p->line = malloc(sizeof *p->line * (size_t)n)) ||
        !(p->col = malloc(sizeof *p->col * (size_t)n)) || !(p->vdom = calloc((size_t)prog->nvars + 1, 1))) {
        agora__rx_free(p);
        return AGORA_ENOMEM;
    }
    memcpy(p->code, prog->code + start, sizeof *p->code * (size_t)n);
    memcpy(p->line, prog->line + start, sizeof *p->line * (size_t)n);
    memcpy(p->col, prog->col + start, sizeof *p->col * (size_t)n);
    for (int pc = 0; pc < n; pc++) {
        rx_ins *in = &p->code[pc];
        if (in->op == RX_OP_LDPOP || (has_target(in) && (in->x < start || in->x > end))) {
            agora__rx_free(p); /* an aggregate inside an aggregate, or a jump out of it: not a program alone */
            return AGORA_EINVAL;
        }
        if (has_target(in))
            in->x -= start;
    }
    p->ncode = n;
    p->nslots = prog->nslots;
    p->type = (agora_rx_type)prog->pop[k].type;
    /* the real sum of a bool: the bool itself (a block's sum of 0.0s and 1.0s is its count exactly), without the
     * conversion before RET; a jump past the conversion lands on RET */
    const rx_popagg *a = &prog->pop[k];
    if ((a->fn == RX_F_POP_SUM || a->fn == RX_F_POP_MEAN) && a->type == AGORA_RX_REAL && a->argtype == AGORA_RX_BOOL &&
        n >= 2 && p->code[n - 2].op == RX_OP_I2R) {
        p->code[n - 2] = p->code[n - 1];
        p->code[n - 2].aux = 0;
        p->line[n - 2] = p->line[n - 1];
        p->col[n - 2] = p->col[n - 1];
        p->ncode = --n;
        for (int pc = 0; pc < n; pc++)
            if (has_target(&p->code[pc]) && p->code[pc].x > n - 1)
                p->code[pc].x = n - 1;
        p->type = AGORA_RX_BOOL;
    }
    p->cat = -1;
    p->stream_base = prog->stream_base;
    p->nsites = prog->nsites;
    p->rule = prog->rule;
    memcpy(p->rule_name, prog->rule_name, sizeof p->rule_name);
    memcpy(p->where, prog->where, sizeof p->where);
    p->nvars = prog->nvars;
    p->nparams = prog->nparams;
    if (prog->vdom)
        memcpy(p->vdom, prog->vdom, (size_t)prog->nvars);
    p->pair_own = prog->pair_own;
    *out = p;
    return 0;
}
