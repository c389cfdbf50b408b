/* agora — rule language: the lexer (text -> tokens) and the error helper every stage uses.
 *
 * Tokens are numbers, names, the operators of expr.h and the keywords and/or/not/true/false. Numbers are read by
 * hand (digits, '.', exponent) and converted with strtod on a bounded copy, so that an out-of-range literal is an
 * error rather than an infinity. What people and LLMs write from other languages (&&, ||, !, =, ', ") gets an error
 * saying what to write instead. Line and column are counted in bytes from 1; a tab is one column. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules/expr.h"

int agora__rx_error_at(const rx_ast *ast, agora_error *err, int code, int line, int col, const char *fmt, ...)
{
    if (!err)
        return code;
    char msg[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    agora_error_set(err, code, ast && ast->where ? ast->where : NULL, "%s", msg);
    const int bl = ast && ast->base_line > 0 ? ast->base_line : 1, bc = ast && ast->base_col > 0 ? ast->base_col : 1;
    err->line = bl + line - 1;
    err->column = line == 1 ? bc + col - 1 : col;
    return code;
}

void agora__rx_lex_init(rx_lexer *lx, const char *text, int len)
{
    lx->text = text;
    lx->len = len;
    lx->pos = 0;
    lx->line = 1;
    lx->line_start = 0;
}

static int is_alpha(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int is_digit(int c)
{
    return c >= '0' && c <= '9';
}

/* Reads a number starting at lx->pos into tok. */
static int lex_number(rx_lexer *lx, const rx_ast *ast, rx_token *tok, agora_error *err)
{
    const char *s = lx->text;
    int p = lx->pos, real = 0;
    while (p < lx->len && is_digit(s[p]))
        p++;
    if (p < lx->len && s[p] == '.') {
        real = 1;
        p++;
        while (p < lx->len && is_digit(s[p]))
            p++;
    }
    if (p < lx->len && (s[p] == 'e' || s[p] == 'E')) {
        int q = p + 1;
        if (q < lx->len && (s[q] == '+' || s[q] == '-'))
            q++;
        if (q < lx->len && is_digit(s[q])) {
            real = 1;
            p = q;
            while (p < lx->len && is_digit(s[p]))
                p++;
        } else {
            return agora__rx_error_at(ast, err, AGORA_EPARSE, tok->line, tok->col + (p - lx->pos),
                                      "expected digits after the exponent of %.*s", p + 1 - lx->pos, s + lx->pos);
        }
    }
    if (p < lx->len && (is_alpha(s[p]) || s[p] == '.'))
        return agora__rx_error_at(ast, err, AGORA_EPARSE, tok->line, tok->col + (p - lx->pos),
                                  "unexpected '%c' after the number %.*s", s[p], p - lx->pos, s + lx->pos);
    const int n = p - lx->pos;
    char buf[128];
    if (n >= (int)sizeof buf)
        return agora__rx_error_at(ast, err, AGORA_EPARSE, tok->line, tok->col, "number too long (%d digits)", n);
    memcpy(buf, s + lx->pos, (size_t)n);
    buf[n] = '\0';
    tok->len = n;
    if (real) {
        errno = 0;
        double v = strtod(buf, NULL);
        if (!isfinite(v) || (errno == ERANGE && fabs(v) > 1.0))
            return agora__rx_error_at(ast, err, AGORA_EPARSE, tok->line, tok->col, "number out of range: %s", buf);
        tok->kind = RX_T_REAL;
        tok->v.r = v;
    } else {
        /* Whole numbers are int64; one larger than INT64_MAX is an error (write it as a real: 1e19). */
        uint64_t v = 0;
        for (int i = 0; i < n; i++) {
            const uint64_t dgt = (uint64_t)(buf[i] - '0');
            if (v > (UINT64_C(9223372036854775807) - dgt) / 10)
                return agora__rx_error_at(ast, err, AGORA_EPARSE, tok->line, tok->col,
                                          "integer too large: %s (at most 9223372036854775807; a real: add .0)", buf);
            v = v * 10 + dgt;
        }
        tok->kind = RX_T_INT;
        tok->v.i = (int64_t)v;
    }
    lx->pos = p;
    return 0;
}

int agora__rx_lex_next(rx_lexer *lx, const rx_ast *ast, rx_token *tok, agora_error *err)
{
    const char *s = lx->text;
    for (;;) {
        if (lx->pos >= lx->len)
            break;
        const char c = s[lx->pos];
        if (c == '\n') {
            lx->pos++;
            lx->line++;
            lx->line_start = lx->pos;
        } else if (c == ' ' || c == '\t' || c == '\r') {
            lx->pos++;
        } else {
            break;
        }
    }
    memset(tok, 0, sizeof *tok);
    tok->pos = lx->pos;
    tok->line = lx->line;
    tok->col = lx->pos - lx->line_start + 1;
    tok->len = 1;
    if (lx->pos >= lx->len) {
        tok->kind = RX_T_END;
        tok->len = 0;
        return 0;
    }
    const unsigned char c = (unsigned char)s[lx->pos];
    const char c1 = lx->pos + 1 < lx->len ? s[lx->pos + 1] : '\0';
    if (is_digit(c) || (c == '.' && is_digit(c1)))
        return lex_number(lx, ast, tok, err);
    if (is_alpha(c)) {
        int p = lx->pos;
        while (p < lx->len && (is_alpha(s[p]) || is_digit(s[p])))
            p++;
        tok->len = p - lx->pos;
        lx->pos = p;
        static const struct {
            const char *word;
            rx_tok kind;
        } kw[] = {{"and", RX_T_AND}, {"or", RX_T_OR}, {"not", RX_T_NOT}, {"true", RX_T_TRUE}, {"false", RX_T_FALSE}};
        tok->kind = RX_T_NAME;
        for (size_t i = 0; i < sizeof kw / sizeof kw[0]; i++)
            if ((size_t)tok->len == strlen(kw[i].word) && memcmp(s + tok->pos, kw[i].word, (size_t)tok->len) == 0)
                tok->kind = kw[i].kind;
        return 0;
    }
    int two = 0;
    switch (c) {
    case '(':
        tok->kind = RX_T_LPAREN;
        break;
    case ')':
        tok->kind = RX_T_RPAREN;
        break;
    case ',':
        tok->kind = RX_T_COMMA;
        break;
    case '.':
        tok->kind = RX_T_DOT;
        break;
    case '+':
        tok->kind = RX_T_PLUS;
        break;
    case '-':
        tok->kind = RX_T_MINUS;
        break;
    case '*':
        two = c1 == '*';
        tok->kind = two ? RX_T_POW : RX_T_STAR;
        break;
    case '/':
        if (c1 == '/')
            return agora__rx_error_at(ast, err, AGORA_EPARSE, tok->line, tok->col,
                                      "'//' is not supported: write floor(a / b)");
        tok->kind = RX_T_SLASH;
        break;
    case '%':
        tok->kind = RX_T_PERCENT;
        break;
    case '^':
        return agora__rx_error_at(ast, err, AGORA_EPARSE, tok->line, tok->col,
                                  "'^' is not an operator: write ** for a power");
    case '=':
        if (c1 != '=')
            return agora__rx_error_at(ast, err, AGORA_EPARSE, tok->line, tok->col,
                                      "'=' is not an operator: write == to compare");
        two = 1;
        tok->kind = RX_T_EQ;
        break;
    case '!':
        if (c1 != '=')
            return agora__rx_error_at(ast, err, AGORA_EPARSE, tok->line, tok->col, "'!' is not an operator: write not");
        two = 1;
        tok->kind = RX_T_NE;
        break;
    case '<':
        two = c1 == '=';
        tok->kind = two ? RX_T_LE : RX_T_LT;
        break;
    case '>':
        two = c1 == '=';
        tok->kind = two ? RX_T_GE : RX_T_GT;
        break;
    case '&':
        return agora__rx_error_at(ast, err, AGORA_EPARSE, tok->line, tok->col, "'&' is not an operator: write and");
    case '|':
        return agora__rx_error_at(ast, err, AGORA_EPARSE, tok->line, tok->col, "'|' is not an operator: write or");
    case '"':
    case '\'':
        return agora__rx_error_at(ast, err, AGORA_EPARSE, tok->line, tok->col,
                                  "strings are not part of the language: write category values as bare names");
    default:
        if (c >= 0x21 && c < 0x7F)
            return agora__rx_error_at(ast, err, AGORA_EPARSE, tok->line, tok->col, "unexpected character '%c'", c);
        return agora__rx_error_at(ast, err, AGORA_EPARSE, tok->line, tok->col, "unexpected byte 0x%02X", c);
    }
    tok->len = two ? 2 : 1;
    lx->pos += tok->len;
    return 0;
}
