/* agora — rule language: the parser (tokens -> AST).
 *
 * Recursive descent over Python's precedence, lowest first:
 *
 *   expr    := and ('or' and)*
 *   and     := not ('and' not)*
 *   not     := 'not' not | cmp
 *   cmp     := sum (cmpop sum)?            a second comparison is an error (no chains: write (a < b) and (b < c))
 *   sum     := term (('+' | '-') term)*
 *   term    := unary (('*' | '/' | '%') unary)*
 *   unary   := ('-' | '+') unary | power
 *   power   := primary ('**' unary)?       right-associative, binds tighter than unary minus on its left
 *   primary := INT | REAL | true | false | NAME | NAME '(' [expr (',' expr)*] ')' | 'nb' '.' NAME | '(' expr ')'
 *
 * Every rule that recurses (parentheses and call arguments through expr, not, unary, power) counts one level of
 * nesting before it does, and more than AGORA_RX_MAX_DEPTH levels is an error: the C stack stays bounded whatever the
 * text. Nodes live in the caller's rx_ast (at most AGORA_RX_MAX_NODES); the parser allocates nothing. A minus
 * applied directly to a number literal is folded into the literal. Function names are looked up here (an unknown
 * one is the checker's error, with a suggestion); names are resolved by check.c. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules/expr.h"

const rx_fninfo agora__rx_fns[RX_F_COUNT] = {
    [RX_F_IF] = {"if", 3, 3},
    [RX_F_ABS] = {"abs", 1, 1},
    [RX_F_MIN] = {"min", 2, -1},
    [RX_F_MAX] = {"max", 2, -1},
    [RX_F_EXP] = {"exp", 1, 1},
    [RX_F_LOG] = {"log", 1, 1},
    [RX_F_SQRT] = {"sqrt", 1, 1},
    [RX_F_POW] = {"pow", 2, 2},
    [RX_F_FLOOR] = {"floor", 1, 1},
    [RX_F_CEIL] = {"ceil", 1, 1},
    [RX_F_ROUND] = {"round", 1, 1},
    [RX_F_CLAMP] = {"clamp", 3, 3},
    [RX_F_NB_COUNT] = {"nb_count", 1, 1},
    [RX_F_NB_SUM] = {"nb_sum", 1, 1},
    [RX_F_NB_MEAN] = {"nb_mean", 1, 1},
    [RX_F_NB_MIN] = {"nb_min", 1, 1},
    [RX_F_NB_MAX] = {"nb_max", 1, 1},
    [RX_F_NB_ANY] = {"nb_any", 1, 1},
    [RX_F_NB_ALL] = {"nb_all", 1, 1},
    [RX_F_RANDOM_NB] = {"random_nb", 1, 1},
    [RX_F_POP_COUNT] = {"pop_count", 1, 1},
    [RX_F_POP_SUM] = {"pop_sum", 1, 1},
    [RX_F_POP_MEAN] = {"pop_mean", 1, 1},
    [RX_F_POP_MIN] = {"pop_min", 1, 1},
    [RX_F_POP_MAX] = {"pop_max", 1, 1},
    [RX_F_UNIFORM] = {"uniform", 0, 2},
    [RX_F_BERNOULLI] = {"bernoulli", 1, 1},
    [RX_F_NORMAL] = {"normal", 2, 2},
    [RX_F_BINOMIAL] = {"binomial", 2, 2},
};

typedef struct parser {
    rx_ast *ast;
    rx_lexer lx;
    rx_token tok; /* the current token */
    int depth;
    agora_error *err;
    int args[AGORA_RX_MAX_NODES]; /* arguments of the calls being read, innermost last */
    int nargs;
} parser;

static int advance(parser *p)
{
    return agora__rx_lex_next(&p->lx, p->ast, &p->tok, p->err);
}

/* A short description of the current token for "expected X, got Y". */
static void describe(const parser *p, char *buf, size_t size)
{
    const rx_token *t = &p->tok;
    if (t->kind == RX_T_END)
        snprintf(buf, size, "the end of the expression");
    else
        snprintf(buf, size, "'%.*s'", t->len > 40 ? 40 : t->len, p->ast->text + t->pos);
}

static int expected(parser *p, const char *what)
{
    char got[64];
    describe(p, got, sizeof got);
    return agora__rx_error_at(p->ast, p->err, AGORA_EPARSE, p->tok.line, p->tok.col, "expected %s, got %s", what, got);
}

static int new_node(parser *p, rx_kind kind, int line, int col, int *out)
{
    rx_ast *a = p->ast;
    if (a->nnodes >= AGORA_RX_MAX_NODES)
        return agora__rx_error_at(a, p->err, AGORA_ESCHEMA, line, col,
                                  "expression too large: more than %d operators and operands", AGORA_RX_MAX_NODES);
    rx_node *n = &a->nodes[a->nnodes];
    memset(n, 0, sizeof *n);
    n->kind = (uint8_t)kind;
    n->line = line;
    n->col = col;
    n->cat = -1;
    n->index = -1;
    *out = a->nnodes++;
    return 0;
}

/* Stores the children of a node (they are contiguous in ast->kids). */
static int set_kids(parser *p, int node, const int *kids, int n)
{
    rx_ast *a = p->ast;
    if (a->nkids + n > AGORA_RX_MAX_NODES)
        return agora__rx_error_at(a, p->err, AGORA_ESCHEMA, a->nodes[node].line, a->nodes[node].col,
                                  "expression too large: more than %d operators and operands", AGORA_RX_MAX_NODES);
    memcpy(a->kids + a->nkids, kids, sizeof *kids * (size_t)n);
    a->nodes[node].kids = a->nkids;
    a->nodes[node].nkids = n;
    a->nkids += n;
    return 0;
}

static int enter(parser *p)
{
    if (++p->depth > AGORA_RX_MAX_DEPTH)
        return agora__rx_error_at(p->ast, p->err, AGORA_ESCHEMA, p->tok.line, p->tok.col,
                                  "expression nested too deeply: more than %d levels", AGORA_RX_MAX_DEPTH);
    return 0;
}

static int parse_expr(parser *p, int *out);

static int binary(parser *p, rx_tok op, int line, int col, int l, int r, int *out)
{
    int rc = new_node(p, RX_N_BINARY, line, col, out);
    if (rc)
        return rc;
    p->ast->nodes[*out].op = (uint8_t)op;
    int kids[2] = {l, r};
    return set_kids(p, *out, kids, 2);
}

/* A call: the name token has been read (and is in name), the current token is '('. */
static int parse_call(parser *p, const rx_token *name, int *out)
{
    int rc, n = 0;
    const int first = p->nargs;
    if ((rc = new_node(p, RX_N_CALL, name->line, name->col, out)))
        return rc;
    rx_node *call = &p->ast->nodes[*out];
    call->pos = name->pos;
    call->len = name->len;
    call->index = -1;
    for (int f = 0; f < RX_F_COUNT; f++)
        if ((size_t)name->len == strlen(agora__rx_fns[f].name) &&
            memcmp(p->ast->text + name->pos, agora__rx_fns[f].name, (size_t)name->len) == 0)
            call->op = (uint8_t)f, call->index = f;
    if ((rc = advance(p)))
        return rc;
    if (p->tok.kind != RX_T_RPAREN) {
        for (;;) {
            int arg;
            if ((rc = parse_expr(p, &arg)))
                return rc;
            p->args[p->nargs++] = arg; /* at most one per node created, so args cannot overflow */
            n++;
            if (p->tok.kind == RX_T_COMMA) {
                if ((rc = advance(p)))
                    return rc;
                continue;
            }
            if (p->tok.kind != RX_T_RPAREN)
                return expected(p, "',' or ')' in the arguments of a call");
            break;
        }
    }
    if ((rc = advance(p)))
        return rc;
    p->nargs = first;
    return set_kids(p, *out, p->args + first, n);
}

static int parse_primary(parser *p, int *out)
{
    rx_token t = p->tok;
    int rc;
    switch (t.kind) {
    case RX_T_INT:
    case RX_T_REAL:
        if ((rc = new_node(p, t.kind == RX_T_INT ? RX_N_INT : RX_N_REAL, t.line, t.col, out)))
            return rc;
        p->ast->nodes[*out].v = t.v;
        return advance(p);
    case RX_T_TRUE:
    case RX_T_FALSE:
        if ((rc = new_node(p, RX_N_BOOL, t.line, t.col, out)))
            return rc;
        p->ast->nodes[*out].v.i = t.kind == RX_T_TRUE;
        return advance(p);
    case RX_T_LPAREN:
        if ((rc = advance(p)) || (rc = parse_expr(p, out)))
            return rc;
        if (p->tok.kind != RX_T_RPAREN)
            return expected(p, "')'");
        return advance(p);
    case RX_T_NAME: {
        if ((rc = advance(p)))
            return rc;
        if (p->tok.kind == RX_T_LPAREN)
            return parse_call(p, &t, out);
        const int is_nb = t.len == 2 && memcmp(p->ast->text + t.pos, "nb", 2) == 0;
        if (is_nb && p->tok.kind == RX_T_DOT) {
            if ((rc = advance(p)))
                return rc;
            if (p->tok.kind != RX_T_NAME)
                return expected(p, "a variable name after 'nb.'");
            rx_token v = p->tok;
            if ((rc = new_node(p, RX_N_NBNAME, t.line, t.col, out)))
                return rc;
            p->ast->nodes[*out].pos = v.pos;
            p->ast->nodes[*out].len = v.len;
            return advance(p);
        }
        const int is_partner = t.len == 7 && memcmp(p->ast->text + t.pos, "partner", 7) == 0;
        if (is_partner && p->tok.kind == RX_T_DOT) {
            /* partner.x is one name, "partner.x": a pair rule's environment declares it */
            if ((rc = advance(p)))
                return rc;
            if (p->tok.kind != RX_T_NAME)
                return expected(p, "a variable name after 'partner.'");
            rx_token v = p->tok;
            if ((rc = new_node(p, RX_N_NAME, t.line, t.col, out)))
                return rc;
            p->ast->nodes[*out].pos = t.pos;
            p->ast->nodes[*out].len = v.pos + v.len - t.pos;
            return advance(p);
        }
        if (p->tok.kind == RX_T_DOT)
            return agora__rx_error_at(p->ast, p->err, AGORA_EPARSE, p->tok.line, p->tok.col,
                                      "'.' only follows nb (nb.x is a neighbour's x) and, in pair rules, partner");
        if ((rc = new_node(p, RX_N_NAME, t.line, t.col, out)))
            return rc;
        p->ast->nodes[*out].pos = t.pos;
        p->ast->nodes[*out].len = t.len;
        return 0;
    }
    default:
        return expected(p, "a number, a name, a call or '('");
    }
}

static int parse_unary(parser *p, int *out);

static int parse_power(parser *p, int *out)
{
    int rc, l = -1, r = -1;
    if ((rc = parse_primary(p, &l)))
        return rc;
    if (p->tok.kind != RX_T_POW) {
        *out = l;
        return 0;
    }
    rx_token op = p->tok;
    if ((rc = advance(p)) || (rc = enter(p)) || (rc = parse_unary(p, &r)))
        return rc;
    p->depth--;
    return binary(p, RX_T_POW, op.line, op.col, l, r, out);
}

static int parse_unary(parser *p, int *out)
{
    if (p->tok.kind != RX_T_MINUS && p->tok.kind != RX_T_PLUS)
        return parse_power(p, out);
    rx_token op = p->tok;
    int rc, x = -1;
    if ((rc = advance(p)) || (rc = enter(p)) || (rc = parse_unary(p, &x)))
        return rc;
    p->depth--;
    if (op.kind == RX_T_PLUS) {
        /* +x is x, but stays a node so that +true is still checked as a number */
        if ((rc = new_node(p, RX_N_UNARY, op.line, op.col, out)))
            return rc;
        p->ast->nodes[*out].op = RX_T_PLUS;
        return set_kids(p, *out, &x, 1);
    }
    rx_node *xn = &p->ast->nodes[x];
    /* -literal is a literal (INT64_MIN cannot be written, as in C) */
    if (xn->kind == RX_N_REAL) {
        xn->v.r = -xn->v.r;
        xn->line = op.line, xn->col = op.col;
        *out = x;
        return 0;
    }
    if (xn->kind == RX_N_INT) {
        xn->v.i = -xn->v.i;
        xn->line = op.line, xn->col = op.col;
        *out = x;
        return 0;
    }
    if ((rc = new_node(p, RX_N_UNARY, op.line, op.col, out)))
        return rc;
    p->ast->nodes[*out].op = RX_T_MINUS;
    return set_kids(p, *out, &x, 1);
}

static int parse_term(parser *p, int *out)
{
    int rc, l = -1, r = -1;
    if ((rc = parse_unary(p, &l)))
        return rc;
    while (p->tok.kind == RX_T_STAR || p->tok.kind == RX_T_SLASH || p->tok.kind == RX_T_PERCENT) {
        rx_token op = p->tok;
        if ((rc = advance(p)) || (rc = parse_unary(p, &r)) || (rc = binary(p, op.kind, op.line, op.col, l, r, &l)))
            return rc;
    }
    *out = l;
    return 0;
}

static int parse_sum(parser *p, int *out)
{
    int rc, l = -1, r = -1;
    if ((rc = parse_term(p, &l)))
        return rc;
    while (p->tok.kind == RX_T_PLUS || p->tok.kind == RX_T_MINUS) {
        rx_token op = p->tok;
        if ((rc = advance(p)) || (rc = parse_term(p, &r)) || (rc = binary(p, op.kind, op.line, op.col, l, r, &l)))
            return rc;
    }
    *out = l;
    return 0;
}

static int is_cmp(rx_tok k)
{
    return k == RX_T_EQ || k == RX_T_NE || k == RX_T_LT || k == RX_T_LE || k == RX_T_GT || k == RX_T_GE;
}

static int parse_cmp(parser *p, int *out)
{
    int rc, l = -1, r = -1;
    if ((rc = parse_sum(p, &l)))
        return rc;
    if (!is_cmp(p->tok.kind)) {
        *out = l;
        return 0;
    }
    rx_token op = p->tok;
    if ((rc = advance(p)) || (rc = parse_sum(p, &r)))
        return rc;
    if (is_cmp(p->tok.kind))
        return agora__rx_error_at(p->ast, p->err, AGORA_EPARSE, p->tok.line, p->tok.col,
                                  "comparisons do not chain: write (a < b) and (b < c)");
    return binary(p, op.kind, op.line, op.col, l, r, out);
}

static int parse_not(parser *p, int *out)
{
    if (p->tok.kind != RX_T_NOT)
        return parse_cmp(p, out);
    rx_token op = p->tok;
    int rc, x = -1;
    if ((rc = advance(p)) || (rc = enter(p)) || (rc = parse_not(p, &x)))
        return rc;
    p->depth--;
    if ((rc = new_node(p, RX_N_UNARY, op.line, op.col, out)))
        return rc;
    p->ast->nodes[*out].op = RX_T_NOT;
    return set_kids(p, *out, &x, 1);
}

static int parse_and(parser *p, int *out)
{
    int rc, l = -1, r = -1;
    if ((rc = parse_not(p, &l)))
        return rc;
    while (p->tok.kind == RX_T_AND) {
        rx_token op = p->tok;
        if ((rc = advance(p)) || (rc = parse_not(p, &r)) || (rc = binary(p, op.kind, op.line, op.col, l, r, &l)))
            return rc;
    }
    *out = l;
    return 0;
}

static int parse_expr(parser *p, int *out)
{
    int rc, l = -1, r = -1;
    if ((rc = enter(p)))
        return rc;
    if ((rc = parse_and(p, &l)))
        return rc;
    while (p->tok.kind == RX_T_OR) {
        rx_token op = p->tok;
        if ((rc = advance(p)) || (rc = parse_and(p, &r)) || (rc = binary(p, op.kind, op.line, op.col, l, r, &l)))
            return rc;
    }
    p->depth--;
    *out = l;
    return 0;
}

int agora__rx_parse(rx_ast *ast, const char *text, int len, int base_line, int base_col, const char *where,
                    agora_error *err)
{
    ast->text = text;
    ast->len = len;
    ast->nnodes = ast->nkids = 0;
    ast->root = -1;
    ast->base_line = base_line;
    ast->base_col = base_col;
    ast->where = where;
    parser *p = calloc(1, sizeof *p);
    if (!p)
        return agora_error_set(err, AGORA_ENOMEM, where, "out of memory");
    p->ast = ast;
    p->err = err;
    agora__rx_lex_init(&p->lx, text, len);
    int rc;
    if ((rc = advance(p)))
        goto done;
    if (p->tok.kind == RX_T_END) {
        rc = agora__rx_error_at(ast, err, AGORA_EPARSE, p->tok.line, p->tok.col, "empty expression");
        goto done;
    }
    if ((rc = parse_expr(p, &ast->root)))
        goto done;
    if (p->tok.kind == RX_T_NAME && p->tok.len == 2 && memcmp(text + p->tok.pos, "if", 2) == 0)
        rc = agora__rx_error_at(ast, err, AGORA_EPARSE, p->tok.line, p->tok.col,
                                "'a if c else b' is not supported: write if(c, a, b)");
    else if (p->tok.kind != RX_T_END)
        rc = expected(p, "an operator or the end of the expression");
done:
    free(p);
    return rc;
}
