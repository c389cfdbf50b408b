/* agora — rule language: the native backend (bytecode -> C -> shared object, compiled at run time, cached by hash).
 *
 * agora__rx_native_build translates checked programs (their bytecode, agora__rx_prog) into one C file with one
 * function per program that has the semantics of agora__rx_eval_range, compiles it with a C compiler into a shared
 * object in a cache directory (named by the SHA-256 of the source, the compiler's identity, the flags and agora's
 * version), loads it with dlopen and hands back the functions. Any failure — no compiler, a compile error, dlopen,
 * an unwritable cache, a program the translator refuses — leaves that program (or all of them) on the interpreter
 * and says why in the status text; it is never a run error.
 *
 * The translation, one bytecode instruction at a time, keeps the interpreter's semantics exactly: the slots become
 * typed locals (si<d> for the int view, sr<d> for the real view; a data-flow pass proves every read sees a value
 * of the type it reads, else the program stays interpreted), jumps become gotos, a neighbour aggregate becomes a
 * loop over the same neighbours in the same order, every real operation is checked as in eval.c, and the helpers
 * (RNG, threshold31, binomial, round-half-even, the grid stencil) are textual copies of eval.c's and rng.h's. The
 * generated file is compiled with -ffp-contract=off -fno-fast-math and no -march, so the same libm calls on the same
 * operands give the same bits; the hot loops (a straight body, the transition tables' helpers) are cloned for
 * x86-64-v4 and v3 with GCC's target_clones, which vectorises them wider without changing a bit (IEEE operations
 * are the same in any register width; no contraction). No name from the user's text reaches the generated code:
 * columns, parameters and draw sites are indexes, numbers are printed exactly (%a for reals, INT64_C for ints).
 *
 * What is made faster than a literal translation: the body of a program that reads neighbours is emitted once per
 * kind of cell — grid interior (Moore or von Neumann, a fixed offset stencil, no wrap tests, unrolled), grid border
 * (the interpreter's wrap or edge), graph (CSR), no neighbours — and the grid is walked row by row so that interior
 * runs are plain loops the compiler can vectorise when the body cannot fault; parameters, columns and draw-site
 * bases are loaded once per call; pow(x, k) with an int k in [0, 8] reads a per-call table of pow(x, j) filled with
 * the same pow() calls (used only while x has the same bits), so pow(1 - beta, infected neighbours) costs a load.
 * A population aggregate's per-agent values are a program of their own (agora__rx_pop_program) compiled like a rule;
 * a rule that reads an aggregate reads its value from ctx->pop. Draws are keyed by the pair when ctx->pair_of is set
 * (pair rules: both partners draw as the pair), as in eval.c.
 *
 * Transition tables (rx_plan.tab): a rule whose per-agent inputs are only own bools and categories and neighbour
 * counts, with at most one bernoulli on any path, is a function of those inputs and of one draw. Each call runs the
 * rule's own emitted code once per input combination with the draw forced to fail and to succeed (the probe), which
 * gives a table of (threshold, result if it fails, result if it succeeds); the interior loop then computes each
 * agent's entry, one draw and a select — the built-in SIR's loop — and a chunk that meets a combination whose path
 * faults or draws twice runs the general body, which faults exactly as the interpreter. Same code, same bits.
 *
 * Fault texts: a fault from native code names its operation with a string of the shared object (the same text as
 * the interpreter's), valid while the agora__rx_native that made it lives. */
#define _XOPEN_SOURCE 700 /* realpath */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agora/version.h"
#include "core/internal.h"
#include "rules/expr.h"

extern char **environ;

#ifndef AGORA_BUILD_CC
#define AGORA_BUILD_CC "cc"
#endif

#define RXN_TIMEOUT_MS                                                                                                 \
    600000            /* the compiler's time limit: generous, a loaded 2-core machine compiling a large model is slow */
#define RXN_POW_MAX 8 /* pow(x, k) tables cover k = 0 .. 8 (a Moore neighbourhood's counts) */
#define RXN_TAB_IN 4  /* a transition table reads at most 4 own columns and 4 distinct neighbour counts */
#define RXN_TAB_MAX 1024 /* entries of a transition table (each call builds it: kept small) */

/* -ftree-vectorize with the dynamic cost model: GCC 12's -O2 only vectorises loops it needs no run-time alias
 * check or epilogue for, which a grid row never is. Vectorising keeps every bit (no reassociation without
 * fast-math); no -march, so the object runs on the CPU agora runs on and the libm calls are the interpreter's. */
static const char *const rxn_flags[] = {"-std=gnu11", "-O2",     "-ftree-vectorize",  "-fvect-cost-model=dynamic",
                                        "-fPIC",      "-shared", "-ffp-contract=off", "-fno-fast-math"};
#define RXN_NFLAGS ((int)(sizeof rxn_flags / sizeof rxn_flags[0]))
/* clang (AGORA_CC=clang, or cc resolving to it) vectorises at -O2 and knows no -fvect-cost-model */
static const char *const rxn_flags_clang[] = {"-std=gnu11",        "-O2",           "-fPIC", "-shared",
                                              "-ffp-contract=off", "-fno-fast-math"};
#define RXN_NFLAGS_CLANG ((int)(sizeof rxn_flags_clang / sizeof rxn_flags_clang[0]))

/* ---- a growing text buffer ------------------------------------------------------------------------------------ */

typedef struct sbuf {
    char *p;
    size_t n, cap;
    int oom;
    int body;  /* bodies emitted so far in the current function: labels are L<body>_<pc> */
    int probe; /* emitting the table builder's probe: inputs are qv/qc, a fault or a second draw leaves the probe */
} sbuf;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void
sb_printf(sbuf *b, const char *fmt, ...)
{
    if (b->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        const size_t room = b->cap - b->n;
        const int k = vsnprintf(b->p ? b->p + b->n : NULL, b->p ? room : 0, fmt, ap);
        va_end(ap);
        if (k < 0) {
            b->oom = 1;
            return;
        }
        if (b->p && (size_t)k < room) {
            b->n += (size_t)k;
            return;
        }
        size_t cap = b->cap ? b->cap * 2 : 65536;
        while (cap < b->n + (size_t)k + 1)
            cap *= 2;
        char *q = realloc(b->p, cap);
        if (!q) {
            b->oom = 1;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
}

static void sb_puts(sbuf *b, const char *s)
{
    sb_printf(b, "%s", s);
}

/* ---- the generated file's prelude: mirrors of expr.h's structs and copies of eval.c's and rng.h's helpers ------ */

static const char prelude[] =
    "/* generated by agora from rule-language bytecode; do not edit */\n"
    "#include <math.h>\n#include <stddef.h>\n#include <stdint.h>\n#include <string.h>\n"
    "typedef union rx_value { int64_t i; double r; } rx_value;\n"
    "typedef struct rx_nbhd { int kind; int64_t width, height; int torus, count; int dx[8], dy[8];\n"
    "  int64_t off[8]; const int64_t *offsets; const int32_t *neighbors; } rx_nbhd;\n"
    "typedef struct rx_ctx { const void *const *cols; const rx_value *params; const rx_nbhd *nbhd; int64_t n;\n"
    "  int64_t t; uint64_t key; const rx_value *pop; int threads;\n"
    "  const int64_t *pair_of;\n"
    "  int64_t out_base, pair_base; } rx_ctx;\n"
    "typedef struct rx_fault { int rule; int64_t agent, step; int line, column; const char *op; double value; } "
    "rx_fault;\n"
    "#if defined(__x86_64__) && defined(__GNUC__) && __GNUC__ >= 11 && !defined(__clang__) && !defined(__AVX2__)\n"
    "#define RX_HOT __attribute__((target_clones(\"arch=x86-64-v4\", \"arch=x86-64-v3\", \"default\")))\n"
    "#else\n#define RX_HOT\n#endif\n"
    "#define RX_GAMMA UINT64_C(0x9E3779B97F4A7C15)\n"
    "#define RX_DI(a) (pw ? (uint64_t)((a) < pj ? (a) : pj) : (uint64_t)(a))\n"
    "static inline uint64_t rx_mix64(uint64_t z) { z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);\n"
    "  z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB); return z ^ (z >> 31); }\n"
    "static inline uint64_t rx_base(uint64_t key, uint64_t step, uint32_t stream)\n"
    "{ return rx_mix64(key ^ rx_mix64((step << 16) ^ (uint64_t)(stream & 0xFFFFu))); }\n"
    "static inline uint64_t rx_at(uint64_t base, uint64_t j) { return rx_mix64(base + (j + 1) * RX_GAMMA); }\n"
    "static inline double rx_u01(uint64_t b) { return (double)(b >> 11) * 0x1.0p-53; }\n"
    "static inline uint32_t rx_r31(uint64_t b) { return (uint32_t)(b >> 33); }\n"
    "static inline uint64_t rx_below(uint64_t b, uint64_t n) { return (uint64_t)(((unsigned __int128)b * n) >> 64); "
    "}\n"
    /* a transition table's draws for agents a0 .. a1 (one helper, cloned per CPU once for the whole module):
     * entry q = tpk[tix[a - a0]] holds the threshold and the byte results of a failed and a successful draw */
    "RX_HOT static void rx_tab_draw(const uint64_t *tpk, const uint64_t *tbase, const uint32_t *tix,\n"
    "  int64_t a0, int64_t a1, uint8_t *out) { uint32_t r[256];\n"
    "  for (int64_t a = a0; a < a1; a++) { const uint32_t e = tix[a - a0]; const uint64_t q = tpk[e];\n"
    "    r[a - a0] = (uint32_t)(q >> (rx_r31(rx_at(tbase[e], (uint64_t)a)) < (uint32_t)q ? 40 : 32)) & 0xffu; }\n"
    "  for (int64_t a = a0; a < a1; a++) out[a - a0] = (uint8_t)r[a - a0]; }\n"
    /* the same when the table draws from at most two sites: bit 48 of the entry picks b1 over b0 (no second gather) */
    "RX_HOT static void rx_tab_draw2(const uint64_t *tpk, uint64_t b0, uint64_t b1, const uint32_t *tix,\n"
    "  int64_t a0, int64_t a1, uint8_t *out) { uint32_t r[256];\n"
    "  for (int64_t a = a0; a < a1; a++) { const uint64_t q = tpk[tix[a - a0]];\n"
    "    const uint64_t base = (q >> 48 & 1u) ? b1 : b0;\n"
    "    r[a - a0] = (uint32_t)(q >> (rx_r31(rx_at(base, (uint64_t)a)) < (uint32_t)q ? 40 : 32)) & 0xffu; }\n"
    "  for (int64_t a = a0; a < a1; a++) out[a - a0] = (uint8_t)r[a - a0]; }\n"
    /* neighbour counts of interior agents a0 .. a0 + n (c = the column + a0, o = the stencil's offsets, nq of them):
     * kc[i] = how many neighbours hold k (ne: do not hold k) */
    "RX_HOT static void rx_tab_count(const uint8_t *c, const int64_t *o, int nq, unsigned k, int ne, int64_t n,\n"
    "  uint8_t *kc) { const int64_t o0 = o[0], o1 = o[1], o2 = o[2], o3 = o[3], o4 = o[4], o5 = o[5], o6 = o[6],\n"
    "  o7 = o[7]; const uint8_t kk = (uint8_t)k;\n"
    "  if (nq == 8) for (int64_t i = 0; i < n; i++) kc[i] = (uint8_t)((c[i + o0] == kk) + (c[i + o1] == kk) +\n"
    "    (c[i + o2] == kk) + (c[i + o3] == kk) + (c[i + o4] == kk) + (c[i + o5] == kk) + (c[i + o6] == kk) +\n"
    "    (c[i + o7] == kk));\n"
    "  else for (int64_t i = 0; i < n; i++) kc[i] = (uint8_t)((c[i + o0] == kk) + (c[i + o1] == kk) +\n"
    "    (c[i + o2] == kk) + (c[i + o3] == kk));\n"
    "  if (ne) for (int64_t i = 0; i < n; i++) kc[i] = (uint8_t)(nq - kc[i]); }\n"
    /* a transition table's entries for n agents: tix[i] = sum over inputs j of src[j][i] * stride[j]; nonzero when
     * a byte is outside its input's values (dom[j]) or the entry is marked (mk, NULL when none is) */
    "RX_HOT static unsigned rx_tab_index(int nin, const uint8_t *const *src, const unsigned *dom, const unsigned "
    "*stride,\n"
    "  const uint32_t *mk, int64_t n, uint32_t *tix) { unsigned bad = 0; int j = 0;\n"
    "  if (nin >= 2) { const uint8_t *c0 = src[0], *c1 = src[1]; const unsigned d0 = dom[0], d1 = dom[1],\n"
    "    s0 = stride[0], s1 = stride[1]; j = 2;\n"
    "    for (int64_t i = 0; i < n; i++) { const unsigned v0 = c0[i], v1 = c1[i]; bad |= (v0 >= d0) | (v1 >= d1);\n"
    "      tix[i] = (v0 < d0 ? v0 : 0u) * s0 + (v1 < d1 ? v1 : 0u) * s1; } }\n"
    "  else for (int64_t i = 0; i < n; i++) tix[i] = 0;\n"
    "  for (; j < nin; j++) { const uint8_t *c = src[j]; const unsigned d = dom[j], st = stride[j];\n"
    "    for (int64_t i = 0; i < n; i++) { const unsigned v = c[i]; bad |= v >= d; tix[i] += (v < d ? v : 0u) * st; } "
    "}\n"
    "  if (mk) for (int64_t i = 0; i < n; i++) bad |= mk[tix[i]];\n"
    "  return bad; }\n"
    "static inline double rx_f64(uint64_t b) { double d; memcpy(&d, &b, sizeof d); return d; }\n"
    "static inline uint64_t rx_bits(double d) { uint64_t b; memcpy(&b, &d, sizeof b); return b; }\n"
    "static inline uint32_t rx_thr31(double p) { if (!(p > 0.0)) return 0; if (p >= 1.0) return UINT32_C(1) << 31;\n"
    "  double t = floor(p * 2147483648.0 + 0.5); return t > 2147483648.0 ? UINT32_C(1) << 31 : (uint32_t)t; }\n"
    "static double rx_logfact(int64_t k) { if (k <= 32) { double s = 0.0; for (int64_t j = 2; j <= k; j++)\n"
    "  s += log((double)j); return s; } const double x = (double)k, x2 = x * x;\n"
    "  return (x + 0.5) * log(x) - x + 0.91893853320467274178 + 1.0 / (12.0 * x) - 1.0 / (360.0 * x * x2) +\n"
    "    1.0 / (1260.0 * x * x2 * x2); }\n"
    "static int64_t rx_binom(uint64_t b, int64_t n, double p) {\n"
    "  if (!(p > 0.0) || n == 0) return 0; if (p >= 1.0) return n;\n"
    "  if (n <= 64) { const uint32_t thr = rx_thr31(p); int64_t k = 0;\n"
    "    for (int64_t j = 0; j < n; j++) k += rx_r31(rx_at(b, (uint64_t)j)) < thr; return k; }\n"
    "  const int flip = p > 0.5; const double pp = flip ? 1.0 - p : p, q = 1.0 - pp, r = pp / q;\n"
    "  int64_t m = (int64_t)floor((double)(n + 1) * pp); if (m > n) m = n;\n"
    "  const double pm = exp(rx_logfact(n) - rx_logfact(m) - rx_logfact(n - m) + (double)m * log(pp) +\n"
    "    (double)(n - m) * log1p(-pp));\n"
    "  double u = rx_u01(b) - pm; int64_t k = m, lo = m, hi = m; double plo = pm, phi = pm;\n"
    "  while (u >= 0.0) { int moved = 0;\n"
    "    if (hi < n && phi > 0.0) { phi *= (double)(n - hi) / (double)(hi + 1) * r; hi++; moved = 1; u -= phi;\n"
    "      if (u < 0.0) { k = hi; break; } }\n"
    "    if (lo > 0 && plo > 0.0) { plo *= (double)lo / ((double)(n - lo + 1) * r); lo--; moved = 1; u -= plo;\n"
    "      if (u < 0.0) { k = lo; break; } }\n"
    "    if (!moved) { k = m; break; } }\n"
    "  return flip ? n - k : k; }\n"
    "static inline double rx_round_even(double x) { double f = floor(x), d = x - f;\n"
    "  if (d > 0.5 || (d == 0.5 && fmod(f, 2.0) != 0.0)) f += 1.0; return f; }\n"
    "static inline int rx_grid_nb(const rx_nbhd *nb, int64_t i, int64_t *ids) {\n"
    "  const int64_t w = nb->width, h = nb->height, x = i % w, y = i / w;\n"
    "  if (x > 0 && x < w - 1 && y > 0 && y < h - 1) { for (int k = 0; k < nb->count; k++) ids[k] = i + nb->off[k];\n"
    "    return nb->count; }\n"
    "  int n = 0; for (int k = 0; k < nb->count; k++) { int64_t nx = x + nb->dx[k], ny = y + nb->dy[k];\n"
    "    if (nx < 0 || nx >= w || ny < 0 || ny >= h) { if (!nb->torus) continue;\n"
    "      nx = nx < 0 ? nx + w : nx >= w ? nx - w : nx; ny = ny < 0 ? ny + h : ny >= h ? ny - h : ny; }\n"
    "    ids[n++] = ny * w + nx; }\n"
    "  return n; }\n"
    "#define RX_ST(ok) typedef char rx_layout_check[(ok) ? 1 : -1]\n";

/* ---- analysis --------------------------------------------------------------------------------------------------- */

enum { TY_NONE = 0, TY_I = 1, TY_R = 2, TY_BAD = 3 };

enum { M_NONE, M_IN8, M_IN4, M_BORDER, M_GRAPH, M_COUNT };

static int is_fold(int op)
{
    return op == RX_OP_NB_COUNT || op == RX_OP_NB_SUMI || op == RX_OP_NB_SUMR || op == RX_OP_NB_MINI ||
           op == RX_OP_NB_MINR || op == RX_OP_NB_MAXI || op == RX_OP_NB_MAXR || op == RX_OP_NB_ANY ||
           op == RX_OP_NB_ALL;
}

static int fold_type(int op)
{
    return op == RX_OP_NB_SUMR || op == RX_OP_NB_MINR || op == RX_OP_NB_MAXR ? TY_R : TY_I;
}

static int pop_type(const agora__rx_prog *p, int k)
{
    if (k < 0 || k >= p->npop)
        return TY_BAD;
    return p->pop[k].fn == RX_F_POP_MEAN || p->pop[k].type == AGORA_RX_REAL ? TY_R : TY_I;
}

/* What an instruction reads and writes: up to 3 slots read (with the view read), one written (w < 0: none), and
 * whether its result is a pure function of its operands (for the invariance of pow bases). */
typedef struct ins_io {
    int nr, r[3], rt[3];
    int w, wt;
    int pure;
} ins_io;

static void io_of(const agora__rx_prog *p, int pc, int fold_ty, ins_io *io)
{
    const rx_ins *in = &p->code[pc];
    const int d = in->d;
    memset(io, 0, sizeof *io);
    io->w = -1;
#define RD(slot, ty) (io->r[io->nr] = (slot), io->rt[io->nr++] = (ty))
#define WR(ty) (io->w = d, io->wt = (ty))
    switch ((rx_op)in->op) {
    case RX_OP_LDI:
    case RX_OP_LDPI:
    case RX_OP_LDT:
        WR(TY_I), io->pure = 1;
        break;
    case RX_OP_LDR:
    case RX_OP_LDPR:
        WR(TY_R), io->pure = 1;
        break;
    case RX_OP_LDPOP:
        WR(pop_type(p, in->x)), io->pure = 1;
        break;
    case RX_OP_LDV8:
    case RX_OP_LDVI:
    case RX_OP_LDN8:
    case RX_OP_LDNI:
    case RX_OP_LDDEG:
    case RX_OP_EQV8K:
    case RX_OP_NB_CNT8K:
    case RX_OP_NB_SUMV8:
    case RX_OP_NB_SUMVI:
        WR(TY_I);
        break;
    case RX_OP_LDVR:
    case RX_OP_LDNR:
    case RX_OP_NB_SUMVR:
    case RX_OP_UNIF:
        WR(TY_R);
        break;
    case RX_OP_I2R:
        RD(d, TY_I), WR(TY_R), io->pure = 1;
        break;
    case RX_OP_NEGI:
    case RX_OP_NOT:
    case RX_OP_ABSI:
        RD(d, TY_I), WR(TY_I), io->pure = 1;
        break;
    case RX_OP_NEGR:
    case RX_OP_ABSR:
    case RX_OP_EXP:
    case RX_OP_LOG:
    case RX_OP_SQRT:
        RD(d, TY_R), WR(TY_R), io->pure = 1;
        break;
    case RX_OP_FLOOR:
    case RX_OP_CEIL:
    case RX_OP_ROUND:
        RD(d, TY_R), WR(TY_I), io->pure = 1;
        break;
    case RX_OP_ADDI:
    case RX_OP_SUBI:
    case RX_OP_MULI:
    case RX_OP_MODI:
    case RX_OP_EQI:
    case RX_OP_NEI:
    case RX_OP_LTI:
    case RX_OP_LEI:
    case RX_OP_GTI:
    case RX_OP_GEI:
    case RX_OP_AND:
    case RX_OP_OR:
    case RX_OP_MINI:
    case RX_OP_MAXI:
        RD(d, TY_I), RD(d + 1, TY_I), WR(TY_I), io->pure = 1;
        break;
    case RX_OP_ADDR:
    case RX_OP_SUBR:
    case RX_OP_MULR:
    case RX_OP_DIVR:
    case RX_OP_POWR:
    case RX_OP_MINR:
    case RX_OP_MAXR:
        RD(d, TY_R), RD(d + 1, TY_R), WR(TY_R), io->pure = 1;
        break;
    case RX_OP_EQR:
    case RX_OP_NER:
    case RX_OP_LTR:
    case RX_OP_LER:
    case RX_OP_GTR:
    case RX_OP_GER:
        RD(d, TY_R), RD(d + 1, TY_R), WR(TY_I), io->pure = 1;
        break;
    case RX_OP_CLAMPI:
        RD(d, TY_I), RD(d + 1, TY_I), RD(d + 2, TY_I), WR(TY_I), io->pure = 1;
        break;
    case RX_OP_CLAMPR:
        RD(d, TY_R), RD(d + 1, TY_R), RD(d + 2, TY_R), WR(TY_R), io->pure = 1;
        break;
    case RX_OP_JMPF:
        RD(d, TY_I);
        break;
    case RX_OP_NB_BEGIN:
        WR(fold_ty);
        break;
    case RX_OP_NB_COUNT:
    case RX_OP_NB_ANY:
    case RX_OP_NB_ALL:
    case RX_OP_NB_SUMI:
    case RX_OP_NB_MINI:
    case RX_OP_NB_MAXI:
        RD(d, TY_I), RD(d + 1, TY_I), WR(TY_I);
        break;
    case RX_OP_NB_SUMR:
    case RX_OP_NB_MINR:
    case RX_OP_NB_MAXR:
        RD(d, TY_R), RD(d + 1, TY_R), WR(TY_R);
        break;
    case RX_OP_NB_MEAN:
        RD(d, TY_R), WR(TY_R);
        break;
    case RX_OP_UNIF2:
    case RX_OP_NORM:
        RD(d, TY_R), RD(d + 1, TY_R), WR(TY_R);
        break;
    case RX_OP_BERN:
        RD(d, TY_R), WR(TY_I);
        break;
    case RX_OP_BINOM:
        RD(d, TY_I), RD(d + 1, TY_R), WR(TY_I);
        break;
    case RX_OP_RET:
        RD(d, p->type == AGORA_RX_REAL ? TY_R : TY_I);
        break;
    default: /* JMP, JV8K, RNB */
        break;
    }
#undef RD
#undef WR
}

/* What the translator learnt about one program. */
typedef struct rx_plan {
    int ret;          /* the main program's RET */
    uint8_t *target;  /* [ret + 1]: a jump lands here */
    int *fold_of;     /* [ret + 1]: for an NB_BEGIN, its fold instruction */
    uint8_t *pow_tab; /* [ret + 1]: a POWR whose exponent is an I2R of an int: table it */
    /* bernoulli(p) whose p is computed straight from invariants and at most one neighbour count k (NB_CNT8K):
     * chain_at[s] = b + 1 where p's code starts at s and BERN is at b; chain_k[b] = the count's pc + 2 (1: no count,
     * k is 0; 0: no chain). The threshold for each k in 0..8 is kept per call once computed, and p's code is skipped
     * then. */
    int *chain_at, *chain_k;
    int uses_nb;  /* reads neighbours or the degree: one body per kind of cell */
    int small;    /* every int the program makes fits an int32 (0/1, counts, bytes, small literals): int32 slots */
    int bern;     /* draws bernoulli(): a per-call cache of threshold31 */
    int precount; /* branches or faults keep the body scalar: interior neighbour counts are computed first, a chunk of a
                     row at a time, in a loop the compiler vectorises */
    /* The transition table (tab): a program whose per-agent inputs are only own byte variables (bools, categories)
     * and neighbour counts of a byte variable, which draws at most one bernoulli on each path, is a function of
     * (inputs, that draw). Each call tabulates it for every input combination — the draw's site and threshold, the
     * result when the draw succeeds and when it fails — by running the same emitted code on constant inputs, and
     * the interior loop is then a table lookup, one draw and a select per agent, as the built-in SIR's. A
     * combination whose path faults or draws twice is marked, and a chunk that meets one runs the general body,
     * which gives the fault exactly. tcol/tdom: the own columns and their values; tcnt: one NB_CNT8K per distinct
     * (column, value, test), tcnt_of[pc] its index (-1: none); tn = prod(tdom) * 9^ntcnt entries. */
    int straight; /* no branch, draw or fault in the body: the whole loop vectorises */
    int tab;
    int ntcol, tcol[RXN_TAB_IN], tdom[RXN_TAB_IN];
    int ntcnt, tcnt[RXN_TAB_IN];
    int *tcnt_of;
    int tn;
    char reason[160]; /* why the program is refused (empty: translated) */
} rx_plan;

static void plan_free(rx_plan *pl)
{
    free(pl->target);
    free(pl->fold_of);
    free(pl->pow_tab);
    free(pl->chain_at);
    free(pl->chain_k);
    free(pl->tcnt_of);
}

static int refuse(rx_plan *pl, const char *fmt, int pc)
{
    snprintf(pl->reason, sizeof pl->reason, fmt, pc);
    return -1;
}

static int jump_target(const rx_ins *in, int *t)
{
    if (in->op == RX_OP_JMP || in->op == RX_OP_JMPF || in->op == RX_OP_JV8K) {
        *t = in->x;
        return 1;
    }
    return 0;
}

static int io_writes_real(const agora__rx_prog *p, int pc)
{
    ins_io io;
    io_of(p, pc, TY_I, &io);
    return io.w >= 0 && io.wt == TY_R;
}

/* Whether an instruction computes a pure function of its operand slots and the call's invariants. */
static int pure_op(int op)
{
    switch (op) {
    case RX_OP_LDI:
    case RX_OP_LDR:
    case RX_OP_LDPI:
    case RX_OP_LDPR:
    case RX_OP_LDT:
    case RX_OP_LDPOP:
    case RX_OP_I2R:
    case RX_OP_NEGI:
    case RX_OP_NEGR:
    case RX_OP_NOT:
    case RX_OP_ADDI:
    case RX_OP_SUBI:
    case RX_OP_MULI:
    case RX_OP_MODI:
    case RX_OP_ADDR:
    case RX_OP_SUBR:
    case RX_OP_MULR:
    case RX_OP_DIVR:
    case RX_OP_POWR:
    case RX_OP_EQI:
    case RX_OP_NEI:
    case RX_OP_LTI:
    case RX_OP_LEI:
    case RX_OP_GTI:
    case RX_OP_GEI:
    case RX_OP_EQR:
    case RX_OP_NER:
    case RX_OP_LTR:
    case RX_OP_LER:
    case RX_OP_GTR:
    case RX_OP_GER:
    case RX_OP_AND:
    case RX_OP_OR:
    case RX_OP_ABSI:
    case RX_OP_ABSR:
    case RX_OP_MINI:
    case RX_OP_MINR:
    case RX_OP_MAXI:
    case RX_OP_MAXR:
    case RX_OP_EXP:
    case RX_OP_LOG:
    case RX_OP_SQRT:
    case RX_OP_FLOOR:
    case RX_OP_CEIL:
    case RX_OP_ROUND:
    case RX_OP_CLAMPI:
    case RX_OP_CLAMPR:
        return 1;
    default:
        return 0;
    }
}

/* The code of bernoulli's argument at bp: the straight run of instructions before it that write slots >= its slot
 * (stack discipline: a sibling or ancestor before it writes a lower slot; a jump or a label ends the run). It is a
 * chain when every instruction in it is pure or one NB_CNT8K, and each reads only slots written inside it. */
static void plan_chain(const agora__rx_prog *p, rx_plan *pl, int bp)
{
    const int D = p->code[bp].d;
    int sp = bp;
    while (sp > 0) {
        const rx_ins *in = &p->code[sp - 1];
        int t;
        if (in->d < D || jump_target(in, &t) || in->op == RX_OP_NB_BEGIN || is_fold(in->op) ||
            in->op == RX_OP_NB_MEAN || in->op == RX_OP_RNB)
            break;
        sp--;
        if (pl->target[sp])
            break; /* control may enter here: the run starts here at the latest */
    }
    if (sp == bp)
        return;
    uint8_t written[AGORA_RX_MAX_SLOTS + 8];
    memset(written, 0, sizeof written);
    int kpc = -1;
    for (int pc = sp; pc < bp; pc++) {
        const rx_ins *in = &p->code[pc];
        if (pc > sp && pl->target[pc])
            return;
        if (in->op == RX_OP_NB_CNT8K) {
            if (kpc >= 0)
                return;
            kpc = pc;
        } else if (!pure_op(in->op)) {
            return;
        }
        ins_io io;
        io_of(p, pc, TY_I, &io);
        for (int k = 0; k < io.nr; k++)
            if (io.r[k] < D || io.r[k] >= (int)sizeof written || !written[io.r[k]])
                return;
        if (io.w < D || io.w >= (int)sizeof written)
            return;
        written[io.w] = 1;
    }
    if (p->code[sp].d != D)
        return;
    pl->chain_at[sp] = bp + 1;
    pl->chain_k[bp] = kpc + 2;
}

/* Whether program p can run from a transition table (see rx_plan.tab), and its inputs. */
static void plan_table(const agora__rx_prog *p, rx_plan *pl)
{
    const int n = pl->ret + 1;
    pl->tab = 0;
    if (!p->vdom || p->pair_own || !(pl->tcnt_of = malloc(sizeof *pl->tcnt_of * (size_t)n)))
        return;
    int ntcol = 0, ntcnt = 0;
    for (int pc = 0; pc < n; pc++) {
        const rx_ins *in = &p->code[pc];
        pl->tcnt_of[pc] = -1;
        int col = -1;
        switch ((rx_op)in->op) {
        case RX_OP_LDV8:
        case RX_OP_EQV8K:
            col = in->x;
            break;
        case RX_OP_JV8K:
            col = in->d;
            break;
        case RX_OP_NB_CNT8K: {
            int j = 0;
            while (j < ntcnt && !(p->code[pl->tcnt[j]].x == in->x && p->code[pl->tcnt[j]].imm.i == in->imm.i &&
                                  p->code[pl->tcnt[j]].aux == in->aux))
                j++;
            if (j == ntcnt) {
                if (ntcnt == RXN_TAB_IN)
                    return;
                pl->tcnt[ntcnt++] = pc;
            }
            pl->tcnt_of[pc] = j;
            continue;
        }
        case RX_OP_JMP:
        case RX_OP_JMPF:
        case RX_OP_RET:
            continue;
        case RX_OP_BERN:
            if (in->aux) /* a draw per neighbour */
                return;
            continue;
        default:
            if (pure_op(in->op))
                continue;
            return; /* int or real columns, neighbour loops, other draws, the degree: not a table */
        }
        if (col < 0 || col >= p->nvars || p->vdom[col] == 0)
            return;
        int j = 0;
        while (j < ntcol && pl->tcol[j] != col)
            j++;
        if (j == ntcol) {
            if (ntcol == RXN_TAB_IN)
                return;
            pl->tcol[ntcol] = col;
            pl->tdom[ntcol++] = p->vdom[col];
        }
    }
    long tn = 1;
    for (int j = 0; j < ntcol; j++)
        tn *= pl->tdom[j];
    for (int j = 0; j < ntcnt; j++)
        tn *= RXN_POW_MAX + 1;
    if (tn > RXN_TAB_MAX)
        return;
    pl->ntcol = ntcol;
    pl->ntcnt = ntcnt;
    pl->tn = (int)tn;
    pl->tab = 1;
}

/* Checks that the program has the shape compile.c gives it (a main program ending in RET, structured neighbour
 * loops, jumps within range) and that every slot is read with the type it was last written with on every path.
 * 0, or -1 with pl->reason. */
static int plan_program(const agora__rx_prog *p, rx_plan *pl)
{
    memset(pl, 0, sizeof *pl);
    int ret = -1;
    for (int pc = 0; pc < p->ncode; pc++)
        if (p->code[pc].op == RX_OP_RET) {
            ret = pc;
            break;
        }
    if (ret < 0)
        return refuse(pl, "no RET (%d)", 0);
    pl->ret = ret;
    const int n = ret + 1, ns = p->nslots + 3;
    pl->target = calloc((size_t)n, 1);
    pl->fold_of = calloc((size_t)n, sizeof *pl->fold_of);
    pl->pow_tab = calloc((size_t)n, 1);
    pl->chain_at = calloc((size_t)n, sizeof *pl->chain_at);
    pl->chain_k = calloc((size_t)n, sizeof *pl->chain_k);
    uint8_t *ty = calloc((size_t)n * (size_t)ns, 1), *inv = calloc((size_t)n * (size_t)ns, 1);
    uint8_t *seen = calloc((size_t)n, 1);
    int *work = malloc(sizeof *work * (size_t)n * 4 + 16);
    uint8_t *cur_t = malloc((size_t)ns), *cur_i = malloc((size_t)ns);
    int rc = -1;
    if (!pl->target || !pl->fold_of || !pl->pow_tab || !pl->chain_at || !pl->chain_k || !ty || !inv || !seen || !work ||
        !cur_t || !cur_i) {
        refuse(pl, "out of memory (%d)", 0);
        goto done;
    }
    for (int pc = 0; pc < n; pc++) {
        const rx_ins *in = &p->code[pc];
        int t;
        if (in->op >= RX_OP_COUNT || (in->op == RX_OP_RET && pc != ret)) {
            refuse(pl, "unexpected instruction at %d", pc);
            goto done;
        }
        if (in->d + 3 > ns && in->op != RX_OP_JV8K) {
            refuse(pl, "slot out of range at %d", pc);
            goto done;
        }
        if (jump_target(in, &t)) {
            if (t <= pc || t > ret) { /* compile.c only jumps forward, except a fold's back edge */
                refuse(pl, "jump out of range at %d", pc);
                goto done;
            }
            pl->target[t] = 1;
        }
        if (in->op == RX_OP_NB_MEAN || is_fold(in->op))
            pl->uses_nb = 1;
        if (in->op == RX_OP_LDN8 || in->op == RX_OP_LDNI || in->op == RX_OP_LDNR || in->op == RX_OP_LDDEG ||
            in->op == RX_OP_RNB || in->op == RX_OP_NB_BEGIN || in->op == RX_OP_NB_CNT8K || in->op == RX_OP_NB_SUMV8 ||
            in->op == RX_OP_NB_SUMVI || in->op == RX_OP_NB_SUMVR)
            pl->uses_nb = 1;
        if (in->op == RX_OP_LDPOP && pop_type(p, in->x) == TY_BAD) {
            refuse(pl, "population aggregate out of range at %d", pc);
            goto done;
        }
        if (in->op == RX_OP_POWR && pc > 0 && p->code[pc - 1].op == RX_OP_I2R && p->code[pc - 1].d == in->d + 1 &&
            !pl->target[pc])
            pl->pow_tab[pc] = 1;
    }
    /* int32 slots when every int written is a truth value, a byte, a neighbour count (a degree is below 2^31: CSR
     * rows are int32-indexed) or a literal that fits: the operations that read them (comparisons, and, or, not, if,
     * int to real, the result) give the same values at either width, and the compiler can vectorise them */
    pl->small = 1;
    for (int pc = 0; pc < n; pc++) {
        const rx_ins *in = &p->code[pc];
        ins_io io;
        io_of(p, pc, TY_I, &io);
        if (in->op == RX_OP_BERN)
            pl->bern = 1;
        if (io.w < 0 || io.wt != TY_I)
            continue;
        switch (in->op) {
        case RX_OP_LDI:
            if (in->imm.i < INT32_MIN || in->imm.i > INT32_MAX)
                pl->small = 0;
            break;
        case RX_OP_NB_BEGIN:
            if (pl->fold_of[pc] == 0) /* set below; checked again once known */
                break;
            /* fall through */
        case RX_OP_LDV8:
        case RX_OP_LDN8:
        case RX_OP_EQV8K:
        case RX_OP_NB_CNT8K:
        case RX_OP_EQI:
        case RX_OP_NEI:
        case RX_OP_LTI:
        case RX_OP_LEI:
        case RX_OP_GTI:
        case RX_OP_GEI:
        case RX_OP_EQR:
        case RX_OP_NER:
        case RX_OP_LTR:
        case RX_OP_LER:
        case RX_OP_GTR:
        case RX_OP_GER:
        case RX_OP_AND:
        case RX_OP_OR:
        case RX_OP_NOT:
        case RX_OP_NB_COUNT:
        case RX_OP_NB_ANY:
        case RX_OP_NB_ALL:
        case RX_OP_BERN:
        case RX_OP_MINI:
        case RX_OP_MAXI:
        case RX_OP_CLAMPI:
            break;
        default:
            pl->small = 0;
            break;
        }
    }
    /* neighbour loops: NB_BEGIN b, body b+1 .. f-1, fold f (jumping back to b+1), NB_MEAN at f+1 for a mean, and
     * b jumps past it all; nothing jumps into the loop from outside, nothing in it jumps out */
    for (int b = 0; b < n; b++) {
        if (p->code[b].op != RX_OP_NB_BEGIN)
            continue;
        int f = b + 1;
        while (f < n && !is_fold(p->code[f].op) && p->code[f].op != RX_OP_NB_BEGIN)
            f++;
        if (f >= n || p->code[f].op == RX_OP_NB_BEGIN || p->code[f].x != b + 1) {
            refuse(pl, "unstructured neighbour loop at %d", b);
            goto done;
        }
        const int e = p->code[b].x;
        if (!(e == f + 1 || (e == f + 2 && p->code[f + 1].op == RX_OP_NB_MEAN)) || e > n ||
            (fold_type(p->code[f].op) == TY_R && p->code[b].aux != 0)) {
            refuse(pl, "unstructured neighbour loop at %d", b);
            goto done;
        }
        for (int pc = 0; pc < n; pc++) {
            int t;
            if (!jump_target(&p->code[pc], &t))
                continue;
            const int inside = pc > b && pc < f;
            if (inside ? (t <= b || t > f) : (t > b && t < e)) {
                refuse(pl, "jump across a neighbour loop at %d", pc);
                goto done;
            }
        }
        pl->fold_of[b] = f;
        const int fop = p->code[f].op;
        if (fop != RX_OP_NB_COUNT && fop != RX_OP_NB_ANY && fop != RX_OP_NB_ALL && fold_type(fop) == TY_I)
            pl->small = 0; /* int sums and min/max (their start values are INT64_MIN/MAX) need 64 bits */
    }
    for (int pc = 0; pc < n; pc++)
        if (p->code[pc].op == RX_OP_NB_MEAN && (pc == 0 || !is_fold(p->code[pc - 1].op))) {
            refuse(pl, "nb_mean without its loop at %d", pc);
            goto done;
        }
    /* data flow over the slot types (and whether a slot holds a value that is the same for every agent) */
    int nw = 0;
    memset(cur_t, 0, (size_t)ns);
    memset(cur_i, 1, (size_t)ns);
    seen[0] = 1;
    memcpy(ty, cur_t, (size_t)ns);
    memcpy(inv, cur_i, (size_t)ns);
    work[nw++] = 0;
    while (nw > 0) {
        const int pc = work[--nw];
        const rx_ins *in = &p->code[pc];
        memcpy(cur_t, ty + (size_t)pc * ns, (size_t)ns);
        memcpy(cur_i, inv + (size_t)pc * ns, (size_t)ns);
        int fty = TY_I;
        if (in->op == RX_OP_NB_BEGIN)
            fty = fold_type(p->code[pl->fold_of[pc]].op);
        ins_io io;
        io_of(p, pc, fty, &io);
        int allinv = 1;
        for (int k = 0; k < io.nr; k++) {
            if (cur_t[io.r[k]] != io.rt[k]) {
                refuse(pl, "a slot read with another type than written at %d", pc);
                goto done;
            }
            allinv &= cur_i[io.r[k]];
        }
        if (io.w >= 0) {
            if (io.wt == TY_BAD) {
                refuse(pl, "bad type at %d", pc);
                goto done;
            }
            cur_t[io.w] = (uint8_t)io.wt;
            cur_i[io.w] = (uint8_t)(io.pure && allinv);
        }
        if (in->op == RX_OP_POWR && pl->pow_tab[pc] && !inv[(size_t)pc * ns + in->d])
            pl->pow_tab[pc] = 0; /* a base that changes from agent to agent: a table would be refilled each time */
        int succ[2], nsucc = 0;
        if (in->op == RX_OP_RET)
            nsucc = 0;
        else if (in->op == RX_OP_JMP)
            succ[nsucc++] = in->x;
        else if (in->op == RX_OP_JMPF || in->op == RX_OP_JV8K || in->op == RX_OP_NB_BEGIN || is_fold(in->op))
            succ[nsucc++] = pc + 1, succ[nsucc++] = in->x;
        else
            succ[nsucc++] = pc + 1;
        for (int s = 0; s < nsucc; s++) {
            const int q = succ[s];
            if (q < 0 || q >= n) {
                refuse(pl, "control leaves the program at %d", pc);
                goto done;
            }
            uint8_t *qt = ty + (size_t)q * ns, *qi = inv + (size_t)q * ns;
            int changed = 0;
            if (!seen[q]) {
                memcpy(qt, cur_t, (size_t)ns);
                memcpy(qi, cur_i, (size_t)ns);
                seen[q] = 1;
                changed = 1;
            } else {
                for (int k = 0; k < ns; k++) {
                    const uint8_t t2 = qt[k] == cur_t[k] ? qt[k] : TY_BAD, i2 = qi[k] & cur_i[k];
                    if (t2 != qt[k] || i2 != qi[k])
                        changed = 1;
                    qt[k] = t2;
                    qi[k] = i2;
                }
            }
            if (changed) {
                if (nw >= n * 4 + 4) {
                    refuse(pl, "data flow did not settle at %d", pc);
                    goto done;
                }
                work[nw++] = q;
            }
        }
    }
    for (int bp = 1; bp < n; bp++)
        if (p->code[bp].op == RX_OP_BERN)
            plan_chain(p, pl, bp);
    int straight = pl->small, counts = 0;
    for (int pc = 0; pc < n; pc++) {
        const int op = p->code[pc].op;
        int tt;
        counts += op == RX_OP_NB_CNT8K;
        if (jump_target(&p->code[pc], &tt) || op == RX_OP_NB_BEGIN || op == RX_OP_RNB || op == RX_OP_MODI ||
            op == RX_OP_BERN || op == RX_OP_BINOM || op == RX_OP_UNIF2 || op == RX_OP_NORM ||
            (pure_op(op) && io_writes_real(p, pc)))
            straight = 0;
    }
    pl->precount = counts > 0 && !straight;
    pl->straight = straight;
    if (!straight)
        plan_table(p, pl);
    rc = 0;
done:
    free(ty);
    free(inv);
    free(seen);
    free(work);
    free(cur_t);
    free(cur_i);
    return rc;
}

/* ---- emission --------------------------------------------------------------------------------------------------- */

static void lit_i(sbuf *b, int64_t v)
{
    if (v == INT64_MIN)
        sb_puts(b, "INT64_MIN");
    else
        sb_printf(b, "INT64_C(%lld)", (long long)v);
}

static void lit_r(sbuf *b, double v)
{
    if (isfinite(v)) {
        sb_printf(b, "%a", v);
    } else {
        uint64_t bits;
        memcpy(&bits, &v, sizeof bits);
        sb_printf(b, "rx_f64(UINT64_C(0x%016llx))", (unsigned long long)bits);
    }
}

/* The id of neighbour number `k` (a C expression) in mode m. */
static void nb_id(sbuf *b, int m, const char *k)
{
    if (m == M_IN8 || m == M_IN4)
        sb_printf(b, "(a + oo[%s])", k);
    else if (m == M_BORDER)
        sb_printf(b, "ids[%s]", k);
    else if (m == M_GRAPH)
        sb_printf(b, "(int64_t)row[%s]", k);
    else
        sb_printf(b, "a /* %s: never, there are no neighbours */", k);
}

/* Sets nbn (and ids/row) to agent a's neighbours in mode m. */
static void nb_list(sbuf *b, int m)
{
    switch (m) {
    case M_IN8:
        sb_puts(b, "nbn = 8;");
        break;
    case M_IN4:
        sb_puts(b, "nbn = 4;");
        break;
    case M_BORDER:
        sb_puts(b, "nbn = rx_grid_nb(nb, a, ids);");
        break;
    case M_GRAPH:
        sb_puts(b, "row = nbrs + offs[a]; nbn = offs[a + 1] - offs[a];");
        break;
    default:
        sb_puts(b, "nbn = 0;");
        break;
    }
}

/* A fault: the function returns it; in the table builder's probe the combination is marked instead. */
#define FAULT_AT(pc, v)                                                                                                \
    (b->probe ? sb_printf(b, "goto RXPF%d;", b->body)                                                                  \
              : sb_printf(b, "{ fpc = %d; fval = (%s); fi = a; goto rx_fault; }", (pc), (v)))

static void emit_real(sbuf *b, int pc, int d, const char *expr)
{
    sb_printf(b, "{ const double v = %s; if (!isfinite(v)) ", expr);
    FAULT_AT(pc, "v");
    sb_printf(b, " sr%d = v; }", d);
}

/* NB_CNT8K at pc into the lvalue `dst`. */
static void emit_count(sbuf *b, const agora__rx_prog *p, const rx_plan *pl, int m, int pc, const char *dst)
{
    const rx_ins *in = &p->code[pc];
    const char *cmp = in->aux ? "!=" : "==";
    const int kk = (int)in->imm.i, x = in->x;
    if ((m == M_IN8 || m == M_IN4) && pl->precount) {
        sb_printf(b, "%s = kc%d[a - a0];", dst, pc);
    } else if (m == M_IN8 || m == M_IN4) {
        sb_printf(b, "%s = (int64_t)(unsigned)(", dst);
        for (int q = 0; q < (m == M_IN8 ? 8 : 4); q++)
            sb_printf(b, "%s(cb%d[a + o%d] %s %d)", q ? " + " : "", x, q, cmp, kk);
        sb_puts(b, ");");
    } else if (m == M_NONE) {
        sb_printf(b, "%s = 0;", dst);
    } else {
        nb_list(b, m);
        sb_printf(b, " { int64_t cnt = 0; for (nbk = 0; nbk < nbn; nbk++) cnt += cb%d[", x);
        nb_id(b, m, "nbk");
        sb_printf(b, "] %s %d; %s = cnt; }", cmp, kk, dst);
    }
}

/* An own variable's value for agent a: c is 'b', 'i' or 'r' (its column's type). In a pair rule partner.x is x's
 * column at the partner pj, and first is a < pj. */
static void own_var(sbuf *b, const agora__rx_prog *p, int x, char c)
{
    const int own = p->pair_own;
    if (own && x >= 2 * own)
        sb_puts(b, "(a < pj)");
    else
        sb_printf(b, "c%c%d[%s]", c, x, own && x >= own ? "pj" : "a");
}

/* One instruction of program k in mode m. */
static void emit_ins(sbuf *b, const agora__rx_prog *p, const rx_plan *pl, int k, int m, int pc, int *skip)
{
    const rx_ins *in = &p->code[pc];
    const int d = in->d, x = in->x;
    char e[256];
    switch ((rx_op)in->op) {
    case RX_OP_LDI:
        sb_printf(b, "si%d = ", d);
        lit_i(b, in->imm.i);
        sb_puts(b, ";");
        break;
    case RX_OP_LDR:
        sb_printf(b, "sr%d = ", d);
        lit_r(b, in->imm.r);
        sb_puts(b, ";");
        break;
    case RX_OP_LDV8:
        if (b->probe) {
            sb_printf(b, "si%d = qv%d;", d, x);
        } else {
            sb_printf(b, "si%d = ", d);
            own_var(b, p, x, 'b');
            sb_puts(b, ";");
        }
        break;
    case RX_OP_LDVI:
        sb_printf(b, "si%d = ", d);
        own_var(b, p, x, 'i');
        sb_puts(b, ";");
        break;
    case RX_OP_LDVR:
        sb_printf(b, "sr%d = ", d);
        own_var(b, p, x, 'r');
        sb_puts(b, ";");
        break;
    case RX_OP_LDN8:
        sb_printf(b, "si%d = cb%d[nbj];", d, x);
        break;
    case RX_OP_LDNI:
        sb_printf(b, "si%d = ci%d[nbj];", d, x);
        break;
    case RX_OP_LDNR:
        sb_printf(b, "sr%d = cr%d[nbj];", d, x);
        break;
    case RX_OP_LDPI:
        sb_printf(b, "si%d = pi%d;", d, x);
        break;
    case RX_OP_LDPR:
        sb_printf(b, "sr%d = pr%d;", d, x);
        break;
    case RX_OP_LDT:
        sb_printf(b, "si%d = t;", d);
        break;
    case RX_OP_LDDEG:
        switch (m) {
        case M_IN8:
            sb_printf(b, "si%d = 8;", d);
            break;
        case M_IN4:
            sb_printf(b, "si%d = 4;", d);
            break;
        case M_BORDER:
            sb_printf(b, "si%d = nb->torus ? (int64_t)nb->count : (int64_t)rx_grid_nb(nb, a, ids);", d);
            break;
        case M_GRAPH:
            sb_printf(b, "si%d = offs[a + 1] - offs[a];", d);
            break;
        default:
            sb_printf(b, "si%d = 0;", d);
            break;
        }
        break;
    case RX_OP_LDPOP:
        if (pop_type(p, x) == TY_R)
            sb_printf(b, "sr%d = ppr%d;", d, x);
        else
            sb_printf(b, "si%d = ppi%d;", d, x);
        break;
    case RX_OP_I2R:
        sb_printf(b, "sr%d = (double)si%d;", d, d);
        break;
    case RX_OP_NEGI:
        sb_printf(b, "si%d = (int64_t)(0 - (uint64_t)si%d);", d, d);
        break;
    case RX_OP_NEGR:
        sb_printf(b, "sr%d = -sr%d;", d, d);
        break;
    case RX_OP_NOT:
        sb_printf(b, "si%d = !si%d;", d, d);
        break;
    case RX_OP_ADDI:
    case RX_OP_SUBI:
    case RX_OP_MULI: {
        const char op = in->op == RX_OP_ADDI ? '+' : in->op == RX_OP_SUBI ? '-' : '*';
        sb_printf(b, "si%d = (int64_t)((uint64_t)si%d %c (uint64_t)si%d);", d, d, op, d + 1);
        break;
    }
    case RX_OP_MODI:
        sb_printf(b, "{ const int64_t x = si%d, y = si%d; if (y == 0) ", d, d + 1);
        FAULT_AT(pc, "(double)x");
        sb_printf(b, " int64_t r = y == -1 ? 0 : x %% y; if (r != 0 && ((r < 0) != (y < 0))) r += y; si%d = r; }", d);
        break;
    case RX_OP_ADDR:
    case RX_OP_SUBR:
    case RX_OP_MULR:
    case RX_OP_DIVR: {
        const char op = in->op == RX_OP_ADDR ? '+' : in->op == RX_OP_SUBR ? '-' : in->op == RX_OP_MULR ? '*' : '/';
        snprintf(e, sizeof e, "sr%d %c sr%d", d, op, d + 1);
        emit_real(b, pc, d, e);
        break;
    }
    case RX_OP_POWR:
        if (pl->pow_tab[pc]) {
            /* the table holds pow(x, j) for the x whose bits are pwb; x's bits are compared, so -0.0, NaN and a
             * base that changes refill it; y == (double)k since the exponent is an I2R of k */
            sb_printf(b,
                      "{ const int64_t kq = si%d; double v; if ((uint64_t)kq <= %d) { const uint64_t xb = "
                      "rx_bits(sr%d); if (!pwok%d || xb != pwb%d) { for (int j = 0; j <= %d; j++) pwt%d[j] = "
                      "pow(sr%d, (double)j); pwb%d = xb; pwok%d = 1; } v = pwt%d[kq]; } else v = pow(sr%d, sr%d); if "
                      "(!isfinite(v)) ",
                      d + 1, RXN_POW_MAX, d, pc, pc, RXN_POW_MAX, pc, d, pc, pc, pc, d, d + 1);
            FAULT_AT(pc, "v");
            sb_printf(b, " sr%d = v; }", d);
        } else {
            snprintf(e, sizeof e, "pow(sr%d, sr%d)", d, d + 1);
            emit_real(b, pc, d, e);
        }
        break;
    case RX_OP_EXP:
    case RX_OP_LOG:
    case RX_OP_SQRT:
        snprintf(e, sizeof e, "%s(sr%d)", in->op == RX_OP_EXP ? "exp" : in->op == RX_OP_LOG ? "log" : "sqrt", d);
        emit_real(b, pc, d, e);
        break;
    case RX_OP_EQI:
    case RX_OP_NEI:
    case RX_OP_LTI:
    case RX_OP_LEI:
    case RX_OP_GTI:
    case RX_OP_GEI:
    case RX_OP_EQR:
    case RX_OP_NER:
    case RX_OP_LTR:
    case RX_OP_LER:
    case RX_OP_GTR:
    case RX_OP_GER: {
        static const char *const ops[] = {"==", "!=", "<", "<=", ">", ">="};
        const int real = in->op >= RX_OP_EQR;
        const int which = in->op - (real ? RX_OP_EQR : RX_OP_EQI);
        const char v = real ? 'r' : 'i';
        sb_printf(b, "si%d = s%c%d %s s%c%d;", d, v, d, ops[which], v, d + 1);
        break;
    }
    case RX_OP_AND:
        sb_printf(b, "si%d = si%d & si%d;", d, d, d + 1);
        break;
    case RX_OP_OR:
        sb_printf(b, "si%d = si%d | si%d;", d, d, d + 1);
        break;
    case RX_OP_ABSI:
        sb_printf(b, "si%d = si%d < 0 ? (int64_t)(0 - (uint64_t)si%d) : si%d;", d, d, d, d);
        break;
    case RX_OP_ABSR:
        sb_printf(b, "sr%d = fabs(sr%d);", d, d);
        break;
    case RX_OP_MINI:
        sb_printf(b, "si%d = si%d < si%d ? si%d : si%d;", d, d + 1, d, d + 1, d);
        break;
    case RX_OP_MINR:
        sb_printf(b, "sr%d = sr%d < sr%d ? sr%d : sr%d;", d, d + 1, d, d + 1, d);
        break;
    case RX_OP_MAXI:
        sb_printf(b, "si%d = si%d > si%d ? si%d : si%d;", d, d + 1, d, d + 1, d);
        break;
    case RX_OP_MAXR:
        sb_printf(b, "sr%d = sr%d > sr%d ? sr%d : sr%d;", d, d + 1, d, d + 1, d);
        break;
    case RX_OP_CLAMPI:
    case RX_OP_CLAMPR: {
        const char v = in->op == RX_OP_CLAMPR ? 'r' : 'i';
        sb_printf(b, "{ %s q = s%c%d; q = q < s%c%d ? s%c%d : q; s%c%d = q > s%c%d ? s%c%d : q; }",
                  v == 'r' ? "double" : "int64_t", v, d, v, d + 1, v, d + 1, v, d, v, d + 2, v, d + 2);
        break;
    }
    case RX_OP_FLOOR:
    case RX_OP_CEIL:
    case RX_OP_ROUND:
        sb_printf(
            b, "{ const double x = sr%d, v = %s(x); if (!(v >= -9223372036854775808.0 && v < 9223372036854775808.0)) ",
            d,
            in->op == RX_OP_FLOOR  ? "floor"
            : in->op == RX_OP_CEIL ? "ceil"
                                   : "rx_round_even");
        FAULT_AT(pc, "x");
        sb_printf(b, " si%d = (int64_t)v; }", d);
        break;
    case RX_OP_JMPF:
        sb_printf(b, "if (!si%d) goto L%d_%d;", d, b->body, x);
        break;
    case RX_OP_JMP:
        sb_printf(b, "goto L%d_%d;", b->body, x);
        break;
    case RX_OP_NB_BEGIN: {
        const int f = pl->fold_of[pc];
        const int real = fold_type(p->code[f].op) == TY_R;
        nb_list(b, m);
        if (real)
            sb_printf(b, " if (nbn == 0) { sr%d = 0.0; } else { sr%d = ", d, d);
        else
            sb_printf(b, " if (nbn == 0) { si%d = %d; } else { si%d = ", d, in->aux, d);
        if (real)
            lit_r(b, in->imm.r);
        else
            lit_i(b, in->imm.i);
        sb_puts(b, "; for (nbk = 0; nbk < nbn; nbk++) { nbj = ");
        nb_id(b, m, "nbk");
        sb_puts(b, ";");
        break;
    }
    case RX_OP_NB_COUNT:
    case RX_OP_NB_SUMI:
    case RX_OP_NB_SUMR:
    case RX_OP_NB_MINI:
    case RX_OP_NB_MINR:
    case RX_OP_NB_MAXI:
    case RX_OP_NB_MAXR:
    case RX_OP_NB_ANY:
    case RX_OP_NB_ALL:
        switch (in->op) {
        case RX_OP_NB_COUNT:
            sb_printf(b, "si%d += si%d != 0;", d, d + 1);
            break;
        case RX_OP_NB_SUMI:
            sb_printf(b, "si%d = (int64_t)((uint64_t)si%d + (uint64_t)si%d);", d, d, d + 1);
            break;
        case RX_OP_NB_SUMR:
            sb_printf(b, "sr%d += sr%d; if (!isfinite(sr%d)) ", d, d + 1, d);
            snprintf(e, sizeof e, "sr%d", d);
            FAULT_AT(pc, e);
            break;
        case RX_OP_NB_MINI:
        case RX_OP_NB_MAXI:
        case RX_OP_NB_MINR:
        case RX_OP_NB_MAXR: {
            const char v = in->op == RX_OP_NB_MINR || in->op == RX_OP_NB_MAXR ? 'r' : 'i';
            const char *c = in->op == RX_OP_NB_MINI || in->op == RX_OP_NB_MINR ? "<" : ">";
            sb_printf(b, "s%c%d = s%c%d %s s%c%d ? s%c%d : s%c%d;", v, d, v, d + 1, c, v, d, v, d + 1, v, d);
            break;
        }
        case RX_OP_NB_ANY:
            sb_printf(b, "si%d |= si%d != 0;", d, d + 1);
            break;
        default:
            sb_printf(b, "si%d &= si%d != 0;", d, d + 1);
            break;
        }
        sb_puts(b, " } nbj = a;");
        if (pc + 1 <= pl->ret && p->code[pc + 1].op == RX_OP_NB_MEAN) {
            sb_printf(b, " /* %d */ sr%d /= (double)nbn;", pc + 1, d);
            *skip = 1;
        }
        sb_puts(b, " }");
        break;
    case RX_OP_NB_MEAN: /* emitted with its fold */
        break;
    case RX_OP_RNB:
        nb_list(b, m);
        sb_printf(b,
                  " if (nbn == 0) nbj = a; else { const int64_t q = (int64_t)rx_below(rx_at(bs%d, RX_DI(a)), "
                  "(uint64_t)nbn); nbj = ",
                  x);
        nb_id(b, m, "q");
        sb_puts(b, "; }");
        break;
    case RX_OP_UNIF:
    case RX_OP_UNIF2:
    case RX_OP_BERN:
    case RX_OP_NORM:
    case RX_OP_BINOM:
        if (in->op == RX_OP_BERN && b->probe) {
            /* the probe's one draw: its site and threshold are kept, its outcome is the one forced (fz) */
            sb_printf(b, "if (isnan(sr%d) || nd) goto RXPF%d; dth = rx_thr31(sr%d); dsite = %d; nd = 1; si%d = fz;", d,
                      b->body, d, x, d);
            break;
        }
        if (in->op == RX_OP_BERN && pl->chain_k[pc]) {
            /* p was computed by its chain (not skipped): its threshold, kept for this k */
            sb_printf(b, "if (isnan(sr%d)) ", d);
            snprintf(e, sizeof e, "sr%d", d);
            FAULT_AT(pc, e);
            sb_printf(b,
                      " th%d = rx_thr31(sr%d); if ((uint64_t)kq%d <= %d) { tt%d[kq%d] = th%d; tv%d[kq%d] = 1; }\n"
                      "Lk%d_%d:; si%d = 0; if (th%d != 0) { uint64_t bb = rx_at(bs%d, RX_DI(a));%s si%d = "
                      "rx_r31(bb) < th%d; }",
                      pc, d, pc, RXN_POW_MAX, pc, pc, pc, pc, pc, b->body, pc, d, pc, x,
                      in->aux ? " bb = rx_at(bb, (uint64_t)nbj);" : "", d, pc);
            break;
        }
        sb_printf(b, "{ uint64_t bb = rx_at(bs%d, RX_DI(a));%s ", x, in->aux ? " bb = rx_at(bb, (uint64_t)nbj);" : "");
        switch (in->op) {
        case RX_OP_UNIF:
            sb_printf(b, "sr%d = rx_u01(bb);", d);
            break;
        case RX_OP_UNIF2:
            snprintf(e, sizeof e, "sr%d + (sr%d - sr%d) * rx_u01(bb)", d, d + 1, d);
            emit_real(b, pc, d, e);
            break;
        case RX_OP_BERN:
            sb_printf(b, "if (isnan(sr%d)) ", d);
            snprintf(e, sizeof e, "sr%d", d);
            FAULT_AT(pc, e);
            /* threshold31 is a pure function of p's bits: a small per-call cache keyed by them saves its floor() */
            sb_printf(
                b,
                " const uint64_t pb = rx_bits(sr%d); const unsigned h = (unsigned)((pb ^ (pb >> 17) ^ (pb >> 35)) "
                "& 15u); uint32_t th; if (tck[h] == pb) th = tcv[h]; else { th = rx_thr31(sr%d); tck[h] = pb; "
                "tcv[h] = th; } si%d = th == 0 ? 0 : rx_r31(bb) < th;",
                d, d, d);
            break;
        case RX_OP_NORM:
            sb_puts(b, "const double u1 = (double)((bb >> 11) + 1) * 0x1.0p-53; const double u2 = "
                       "rx_u01(rx_mix64(bb + RX_GAMMA)); ");
            snprintf(e, sizeof e, "sr%d + sr%d * (sqrt(-2.0 * log(u1)) * cos(6.283185307179586477 * u2))", d, d + 1);
            emit_real(b, pc, d, e);
            break;
        default:
            sb_printf(b, "const int64_t n = si%d; if (n < 0 || n > 1000000000 || isnan(sr%d)) ", d, d + 1);
            snprintf(e, sizeof e, "n < 0 || n > 1000000000 ? (double)n : sr%d", d + 1);
            FAULT_AT(pc, e);
            sb_printf(b, " si%d = rx_binom(bb, n, sr%d);", d, d + 1);
            break;
        }
        sb_puts(b, " }");
        break;
    case RX_OP_EQV8K:
        sb_printf(b, "si%d = (", d);
        if (b->probe)
            sb_printf(b, "qv%d", x);
        else
            own_var(b, p, x, 'b');
        sb_printf(b, " %s %d);", in->aux ? "!=" : "==", (int)in->imm.i);
        break;
    case RX_OP_JV8K:
        sb_puts(b, "if ((");
        if (b->probe)
            sb_printf(b, "qv%d", d);
        else
            own_var(b, p, d, 'b');
        sb_printf(b, " == %d) == %d) goto L%d_%d;", (int)in->imm.i, in->aux, b->body, x);
        break;
    case RX_OP_NB_CNT8K: {
        if (b->probe) {
            sb_printf(b, "si%d = qc%d;", d, pl->tcnt_of[pc]);
            break;
        }
        int owner = -1; /* the bernoulli chain whose prefix computed this count already */
        for (int q = pc + 1; q <= pl->ret && owner < 0; q++)
            if (pl->chain_k[q] == pc + 2)
                owner = q;
        if (owner >= 0) {
            sb_printf(b, "si%d = kq%d;", d, owner);
        } else {
            snprintf(e, sizeof e, "si%d", d);
            emit_count(b, p, pl, m, pc, e);
        }
        break;
    }
    case RX_OP_NB_SUMV8:
    case RX_OP_NB_SUMVI:
    case RX_OP_NB_SUMVR:
        nb_list(b, m);
        if (in->op == RX_OP_NB_SUMVR) {
            sb_printf(b, " { double sum = 0.0; for (nbk = 0; nbk < nbn; nbk++) { sum += cr%d[", x);
            nb_id(b, m, "nbk");
            sb_puts(b, "]; if (!isfinite(sum)) ");
            FAULT_AT(pc, "sum");
            sb_printf(b, " } sr%d = sum; }", d);
        } else {
            sb_printf(b, " { uint64_t sum = 0; for (nbk = 0; nbk < nbn; nbk++) sum += (uint64_t)c%c%d[",
                      in->op == RX_OP_NB_SUMV8 ? 'b' : 'i', x);
            nb_id(b, m, "nbk");
            sb_printf(b, "]; si%d = (int64_t)sum; }", d);
        }
        break;
    case RX_OP_RET:
        if (b->probe) {
            if (p->type == AGORA_RX_REAL && in->aux)
                sb_printf(b, "if (!isfinite(sr0)) goto RXPF%d;", b->body);
            sb_printf(b, " pv = %s;",
                      p->type == AGORA_RX_REAL  ? "sr0"
                      : p->type == AGORA_RX_INT ? "si0"
                                                : "(uint8_t)si0");
            break;
        }
        if (p->type == AGORA_RX_REAL) {
            if (in->aux) {
                sb_puts(b, "if (!isfinite(sr0)) ");
                FAULT_AT(pc, "sr0");
            }
            sb_puts(b, " out[a - ob] = sr0;");
        } else if (p->type == AGORA_RX_INT) {
            sb_puts(b, "out[a - ob] = si0;");
        } else {
            sb_puts(b, "out[a - ob] = (uint8_t)si0;");
        }
        break;
    default:
        break;
    }
    (void)k;
}

/* The body for agent `a` in mode m, inside a loop over a. */
static void emit_body(sbuf *b, const agora__rx_prog *p, const rx_plan *pl, int k, int m)
{
    const int ns = p->nslots + 3;
    sb_puts(b, "{\n");
    for (int s = 0; s < ns; s++)
        sb_printf(b, "%s si%d = 0; double sr%d = 0.0; ", pl->small ? "int32_t" : "int64_t", s, s);
    sb_puts(b, "\nint64_t nbn = 0, nbk = 0, nbj = a; (void)nbn; (void)nbk; (void)nbj;\n");
    if (!b->probe && p->pair_own) /* a pair rule: an unpaired agent is skipped; pj is the partner */
        sb_puts(b, "int64_t pj = a; if (pw) { pj = pw[a - pb]; if (pj < 0) continue; } (void)pj;\n");
    if (m == M_BORDER)
        sb_puts(b, "int64_t ids[8]; (void)ids;\n");
    if (m == M_GRAPH)
        sb_puts(b, "const int32_t *row = nbrs; (void)row;\n");
    for (int pc = 0; pc <= pl->ret; pc++) {
        if (pl->target[pc])
            sb_printf(b, "L%d_%d:;\n", b->body, pc);
        if (pl->chain_at[pc] && !b->probe) {
            /* a bernoulli chain starts: its k first, and its kept threshold when there is one */
            const int bp = pl->chain_at[pc] - 1, kp = pl->chain_k[bp] - 2;
            sb_printf(b, "int64_t kq%d; uint32_t th%d; ", bp, bp);
            if (kp >= 0) {
                char dst[32];
                snprintf(dst, sizeof dst, "kq%d", bp);
                emit_count(b, p, pl, m, kp, dst);
            } else {
                sb_printf(b, "kq%d = 0;", bp);
            }
            sb_printf(b, " if ((uint64_t)kq%d <= %d && tv%d[kq%d]) { th%d = tt%d[kq%d]; goto Lk%d_%d; }\n", bp,
                      RXN_POW_MAX, bp, bp, bp, bp, bp, b->body, bp);
        }
        int skip = 0;
        sb_printf(b, "/* %d */ ", pc);
        emit_ins(b, p, pl, k, m, pc, &skip);
        sb_puts(b, "\n");
        if (skip)
            pc++;
    }
    sb_puts(b, "}\n");
    b->body++;
}

#define RXN_CHUNK 256 /* agents whose neighbour counts are computed ahead (precount) */

static const char *out_ctype(const agora__rx_prog *p)
{
    return p->type == AGORA_RX_REAL ? "double" : p->type == AGORA_RX_INT ? "int64_t" : "uint8_t";
}

/* The transition table of program p (pl->tab), built at the start of each call: the emitted body runs on each input
 * combination tc (own columns qv<col>, neighbour counts qc<j>) twice, with its one draw forced to fail (fz = 0) and
 * to succeed (fz = 1). tth/tsi: the draw's threshold31 and site (threshold 0: no draw); tno/tye: the result;
 * tfl bit fz: that path faults or draws twice (the general body must run). */
static void emit_table_build(sbuf *b, const agora__rx_prog *p, const rx_plan *pl, int k, const char *site)
{
    const int tn = pl->tn;
    sb_printf(b, "uint32_t tth[%d]; uint8_t tsi[%d], tfl[%d]; %s tno[%d], tye[%d]; unsigned tdr = 0;\n", tn, tn, tn,
              out_ctype(p), tn, tn);
    sb_printf(b, "uint64_t tbs[%d] = {", p->nsites + 1);
    for (int q = 0; q < p->nsites; q++) /* a site no instruction draws from has no base */
        if (site[q])
            sb_printf(b, "%sbs%d", q ? ", " : "", q);
        else
            sb_printf(b, "%s0", q ? ", " : "");
    sb_printf(b, "%s0};\nfor (int tc = 0; tc < %d; tc++) {\nint rem = tc; (void)rem;\n", p->nsites ? ", " : "", tn);
    for (int j = 0; j < pl->ntcol; j++)
        sb_printf(b, "const int64_t qv%d = rem %% %d; rem /= %d;\n", pl->tcol[j], pl->tdom[j], pl->tdom[j]);
    for (int j = 0; j < pl->ntcnt; j++)
        sb_printf(b, "const int64_t qc%d = rem %% %d; rem /= %d;\n", j, RXN_POW_MAX + 1, RXN_POW_MAX + 1);
    sb_printf(b,
              "tth[tc] = 0; tsi[tc] = 0;\nfor (int fz = 0; fz < 2; fz++) {\n"
              "int nd = 0, bad = 0, dsite = 0; uint32_t dth = 0; %s pv = 0; const int64_t a = 0; (void)a;\n",
              out_ctype(p));
    b->probe = 1;
    const int id = b->body;
    emit_body(b, p, pl, k, M_NONE);
    b->probe = 0;
    sb_printf(b,
              "goto RXPO%d;\nRXPF%d: bad = 1;\nRXPO%d:;\n"
              "if (fz == 0) { tno[tc] = tye[tc] = pv; tfl[tc] = (uint8_t)(bad ? 3 : 0); if (!nd) break; "
              "tth[tc] = dth; tsi[tc] = (uint8_t)dsite; tdr |= dth != 0; } "
              "else { tye[tc] = pv; tfl[tc] = (uint8_t)((tfl[tc] & 1u) | ((unsigned)bad << 1)); }\n"
              "(void)dsite; (void)dth;\n}\n}\n",
              id, id, id);
    /* tmk: a mark on either path (a chunk that meets it runs the general body, before writing anything, so a fault
     * leaves the agents after it unwritten as the interpreter does); GCC 12 gathers from a pointer, not from a local
     * array named directly */
    sb_printf(b,
              "uint32_t tmk[%d]; unsigned tany = 0;\nfor (int tc = 0; tc < %d; tc++) { tmk[tc] = tfl[tc] != 0; tany |= "
              "tmk[tc]; }\nconst uint32_t *const tmkp = tmk; (void)tany;\n",
              tn, tn);
    if (p->type != AGORA_RX_REAL && p->type != AGORA_RX_INT)
        sb_printf(
            b,
            "uint64_t tpk[%d], tbase[%d];\nfor (int tc = 0; tc < %d; tc++) { tpk[tc] = (uint64_t)tth[tc] | "
            "(uint64_t)tno[tc] << 32 | (uint64_t)tye[tc] << 40; tbase[tc] = tbs[tsi[tc]]; }\n"
            "const uint64_t *const tpkp = tpk, *const tbasep = tbase; (void)tbasep;\n"
            /* at most two draw sites (tsa, tsb): bit 48 marks tsb's entries for rx_tab_draw2 */
            "int tsa = -1, tsb = -1, tsmany = 0;\nfor (int tc = 0; tc < %d; tc++) if (tth[tc]) { if (tsa < 0 || "
            "tsi[tc] == tsa) tsa = tsi[tc]; else if (tsb < 0 || tsi[tc] == tsb) tsb = tsi[tc]; else tsmany = 1; }\n"
            "for (int tc = 0; tc < %d; tc++) if (tth[tc] && tsi[tc] == tsb) tpk[tc] |= UINT64_C(1) << 48;\n"
            "const uint64_t tb0 = tsa >= 0 ? tbs[tsa] : 0, tb1 = tsb >= 0 ? tbs[tsb] : 0; (void)tsmany;\n",
            tn, tn, tn, tn, tn);
}

/* Interior neighbour counts of agents a0 .. a1 into kc<pc>[], in a loop the compiler vectorises. */
static void emit_precount(sbuf *b, const agora__rx_prog *p, const rx_plan *pl, int m)
{
    for (int pc = 0; pc <= pl->ret; pc++) {
        const rx_ins *in = &p->code[pc];
        if (in->op != RX_OP_NB_CNT8K)
            continue;
        sb_printf(b, "uint8_t kc%d[%d]; rx_tab_count(cb%d + a0, oo, %d, %du, %d, a1 - a0, kc%d);\n", pc, RXN_CHUNK,
                  in->x, m == M_IN8 ? 8 : 4, (int)in->imm.i & 255, in->aux ? 1 : 0, pc);
    }
}

/* A chunk through the transition table: each agent's entry, then one draw and a select; a chunk that meets a
 * marked entry or a byte outside its variable's values runs the general body instead, before writing anything. */
static void emit_table_chunk(sbuf *b, const agora__rx_prog *p, const rx_plan *pl, int k, int m)
{
    /* a pair matching (pw) skips agents and keys draws by pairs: the general body */
    sb_printf(b, "uint32_t tix[%d]; unsigned tbad = pw != NULL;\n", RXN_CHUNK);
    if (m == M_GRAPH) /* each distinct count over the CSR rows; a count above 8 is outside the table */
        for (int j = 0; j < pl->ntcnt; j++) {
            const rx_ins *in = &p->code[pl->tcnt[j]];
            sb_printf(
                b,
                "uint8_t kc%d[%d];\nfor (int64_t a = a0; a < a1; a++) { const int32_t *row = nbrs + offs[a]; "
                "const int64_t nbn = offs[a + 1] - offs[a]; unsigned cnt = 0; for (int64_t q = 0; q < nbn; q++) "
                "cnt += cb%d[row[q]] %s %d; tbad |= cnt > %du; kc%d[a - a0] = (uint8_t)(cnt > %du ? %du : cnt); }\n",
                pl->tcnt[j], RXN_CHUNK, in->x, in->aux ? "!=" : "==", (int)in->imm.i, RXN_POW_MAX, pl->tcnt[j],
                RXN_POW_MAX, RXN_POW_MAX);
        }
    /* the inputs: own columns (their values), then the counts (0 .. 8; none without neighbours) */
    int nin = 0;
    char src[512] = "", dom[256] = "", str[256] = "";
    unsigned stride = 1;
    for (int j = 0; j < pl->ntcol; j++, nin++) {
        snprintf(src + strlen(src), sizeof src - strlen(src), "%scb%d + a0", nin ? ", " : "", pl->tcol[j]);
        snprintf(dom + strlen(dom), sizeof dom - strlen(dom), "%s%du", nin ? ", " : "", pl->tdom[j]);
        snprintf(str + strlen(str), sizeof str - strlen(str), "%s%uu", nin ? ", " : "", stride);
        stride *= (unsigned)pl->tdom[j];
    }
    for (int j = 0; j < pl->ntcnt; j++) {
        if (m == M_IN8 || m == M_IN4 || m == M_GRAPH) {
            snprintf(src + strlen(src), sizeof src - strlen(src), "%skc%d", nin ? ", " : "", pl->tcnt[j]);
            snprintf(dom + strlen(dom), sizeof dom - strlen(dom), "%s%du", nin ? ", " : "", RXN_POW_MAX + 1);
            snprintf(str + strlen(str), sizeof str - strlen(str), "%s%uu", nin ? ", " : "", stride);
            nin++;
        }
        stride *= RXN_POW_MAX + 1;
    }
    if (nin)
        sb_printf(b,
                  "{ const uint8_t *const tsrc[%d] = {%s}; static const unsigned tdomv[%d] = {%s}, tstrv[%d] = {%s};\n"
                  "tbad |= rx_tab_index(%d, tsrc, tdomv, tstrv, tany ? tmkp : NULL, a1 - a0, tix); }\n",
                  nin, src, nin, dom, nin, str, nin);
    else
        sb_puts(b, "for (int64_t a = a0; a < a1; a++) tix[a - a0] = 0; tbad |= tmkp[0];\n");
    if (p->type != AGORA_RX_REAL && p->type != AGORA_RX_INT) {
        /* a byte result: packed 64-bit entries (threshold; result if the draw fails; if it succeeds) and the bases
         * of their draw sites, gathered by rx_tab_draw in a loop the compiler vectorises (with 32-bit indices and
         * no reduction in it: GCC 12 vectorises neither a 16-bit-indexed gather nor a reduction beside one) */
        sb_puts(b, "if (!tbad) { if (tdr && tsmany) rx_tab_draw(tpkp, tbasep, tix, a0, a1, out + (a0 - ob)); else if "
                   "(tdr) rx_tab_draw2(tpkp, tb0, tb1, tix, a0, a1, out + (a0 - ob)); else for (int64_t a = a0; a < "
                   "a1; a++) out[a - ob] = (uint8_t)(tpkp[tix[a - a0]] >> 32); }\n");
    } else {
        sb_puts(b,
                "if (!tbad) { if (tdr) { for (int64_t a = a0; a < a1; a++) { const unsigned e = tix[a - a0]; "
                "const unsigned sel = rx_r31(rx_at(tbs[tsi[e]], (uint64_t)a)) < tth[e]; out[a - ob] = sel ? tye[e] : "
                "tno[e]; } } else { for (int64_t a = a0; a < a1; a++) out[a - ob] = tno[tix[a - a0]]; } }\n");
    }
    sb_puts(b, "if (tbad) for (int64_t a = a0; a < a1; a++)\n");
    emit_body(b, p, pl, k, m);
}

static void emit_loop(sbuf *b, const agora__rx_prog *p, const rx_plan *pl, int k, int m, const char *from,
                      const char *to)
{
    const int tab = pl->tab && (m == M_NONE || m == M_GRAPH || ((m == M_IN8 || m == M_IN4) && pl->precount));
    if (!tab && (!pl->precount || (m != M_IN8 && m != M_IN4))) {
        sb_printf(b, "for (int64_t a = %s; a < %s; a++)\n", from, to);
        emit_body(b, p, pl, k, m);
        return;
    }
    sb_printf(b, "for (int64_t a0 = %s; a0 < %s; a0 += %d) {\nconst int64_t a1 = a0 + %d < %s ? a0 + %d : %s;\n", from,
              to, RXN_CHUNK, RXN_CHUNK, to, RXN_CHUNK, to);
    if (m == M_IN8 || m == M_IN4)
        emit_precount(b, p, pl, m);
    if (tab) {
        emit_table_chunk(b, p, pl, k, m);
    } else {
        sb_puts(b, "for (int64_t a = a0; a < a1; a++)\n");
        emit_body(b, p, pl, k, m);
    }
    sb_puts(b, "}\n");
}

/* The function agora_rxn_<k> for program p. */
static void emit_program(sbuf *b, const agora__rx_prog *p, const rx_plan *pl, int k)
{
    /* fault positions and operation names per instruction */
    sb_printf(b, "\nstatic const int rxl%d[%d] = {", k, pl->ret + 1);
    for (int pc = 0; pc <= pl->ret; pc++)
        sb_printf(b, "%s%d", pc ? "," : "", p->line[pc]);
    sb_printf(b, "};\nstatic const int rxc%d[%d] = {", k, pl->ret + 1);
    for (int pc = 0; pc <= pl->ret; pc++)
        sb_printf(b, "%s%d", pc ? "," : "", p->col[pc]);
    sb_printf(b, "};\nstatic const char *const rxo%d[%d] = {", k, pl->ret + 1);
    for (int pc = 0; pc <= pl->ret; pc++)
        sb_printf(b, "%s\"%s\"", pc ? "," : "", agora__rx_op_name(p->code[pc].op));
    sb_printf(b,
              "};\n%sint agora_rxn_%d(const void *prog, const rx_ctx *ctx, int64_t lo, int64_t hi, void *out_column, "
              "rx_fault *fault)\n{\n",
              /* per-CPU clones (AVX-512, AVX2, baseline) where the whole loop vectorises; a branchy body gains
               * little from them and would triple the compile time (a table's draws have rx_tab_draw) */
              pl->straight ? "RX_HOT " : "", k);
    sb_puts(b, "(void)prog; const rx_nbhd *nb = ctx->nbhd; const int64_t t = ctx->t; (void)nb; (void)t;\n");
    sb_puts(b, "const int64_t ob = ctx->out_base;\n");
    /* the pair matching: who is skipped, whose values partner.x are, whose draws agent a takes (eval.c's pj, di) */
    /* the matching matters to a pair rule only (other programs ignore ctx->pair_of, as eval.c does) */
    sb_printf(b, "const int64_t *const pw = %s; (void)pw;\n", p->pair_own ? "ctx->pair_of" : "(const int64_t *)0");
    if (!p->pair_own)
        sb_puts(b, "const int64_t pj = 0; (void)pj;\n");
    else
        sb_puts(b, "const int64_t pb = ctx->pair_base;\n");
    sb_printf(b, "%s *out = (%s *)out_column;\n", out_ctype(p), out_ctype(p));
    /* columns, parameters, population values and draw-site bases, once per call */
    char *col_b = calloc((size_t)p->nvars + 1, 3), *par = calloc((size_t)p->nparams + 1, 2);
    char *pop = calloc((size_t)p->npop + 1, 2), *site = calloc((size_t)p->nsites + 1, 1);
    if (!col_b || !par || !pop || !site) {
        b->oom = 1;
        goto done;
    }
    for (int pc = 0; pc <= pl->ret; pc++) {
        const rx_ins *in = &p->code[pc];
        int col = -1, cty = 0;
        switch (in->op) {
        case RX_OP_LDV8:
        case RX_OP_LDN8:
        case RX_OP_EQV8K:
        case RX_OP_NB_CNT8K:
        case RX_OP_NB_SUMV8:
            col = in->x, cty = 0;
            break;
        case RX_OP_JV8K:
            col = in->d, cty = 0;
            break;
        case RX_OP_LDVI:
        case RX_OP_LDNI:
        case RX_OP_NB_SUMVI:
            col = in->x, cty = 1;
            break;
        case RX_OP_LDVR:
        case RX_OP_LDNR:
        case RX_OP_NB_SUMVR:
            col = in->x, cty = 2;
            break;
        case RX_OP_LDPI:
            if (in->x >= 0 && in->x < p->nparams)
                par[2 * in->x] = 1;
            break;
        case RX_OP_LDPR:
            if (in->x >= 0 && in->x < p->nparams)
                par[2 * in->x + 1] = 1;
            break;
        case RX_OP_LDPOP:
            if (in->x >= 0 && in->x < p->npop)
                pop[2 * in->x + (pop_type(p, in->x) == TY_R)] = 1;
            break;
        case RX_OP_RNB:
        case RX_OP_UNIF:
        case RX_OP_UNIF2:
        case RX_OP_BERN:
        case RX_OP_NORM:
        case RX_OP_BINOM:
            if (in->x >= 0 && in->x < p->nsites)
                site[in->x] = 1;
            break;
        default:
            break;
        }
        if (col >= 0 && col < p->nvars)
            col_b[3 * col + cty] = 1;
    }
    for (int c = 0; c < p->nvars; c++) {
        /* a pair rule's partner.x reads x's column; its first has none */
        const int own = p->pair_own, col = own && c >= own ? c - own : c;
        if (own && c >= 2 * own)
            continue;
        if (col_b[3 * c])
            sb_printf(b, "const uint8_t *cb%d = (const uint8_t *)ctx->cols[%d];\n", c, col);
        if (col_b[3 * c + 1])
            sb_printf(b, "const int64_t *ci%d = (const int64_t *)ctx->cols[%d];\n", c, col);
        if (col_b[3 * c + 2])
            sb_printf(b, "const double *cr%d = (const double *)ctx->cols[%d];\n", c, col);
    }
    for (int q = 0; q < p->nparams; q++) {
        if (par[2 * q])
            sb_printf(b, "const int64_t pi%d = ctx->params[%d].i;\n", q, q);
        if (par[2 * q + 1])
            sb_printf(b, "const double pr%d = ctx->params[%d].r;\n", q, q);
    }
    for (int q = 0; q < p->npop; q++) {
        if (pop[2 * q])
            sb_printf(b, "const int64_t ppi%d = ctx->pop[%d].i;\n", q, q);
        if (pop[2 * q + 1])
            sb_printf(b, "const double ppr%d = ctx->pop[%d].r;\n", q, q);
    }
    for (int q = 0; q < p->nsites; q++)
        if (site[q])
            sb_printf(b, "const uint64_t bs%d = rx_base(ctx->key, (uint64_t)t, %uu);\n", q,
                      (unsigned)(p->stream_base + (uint32_t)q));
    for (int pc = 0; pc <= pl->ret; pc++)
        if (pl->pow_tab[pc])
            sb_printf(b, "double pwt%d[%d]; uint64_t pwb%d = 0; int pwok%d = 0;\n", pc, RXN_POW_MAX + 1, pc, pc);
    for (int pc = 0; pc <= pl->ret; pc++)
        if (pl->chain_k[pc])
            sb_printf(b, "uint32_t tt%d[%d]; uint8_t tv%d[%d] = {0};\n", pc, RXN_POW_MAX + 1, pc, RXN_POW_MAX + 1);
    if (pl->bern) /* all zero is a valid state: threshold31(+0.0) is 0 */
        sb_puts(b, "uint64_t tck[16] = {0}; uint32_t tcv[16] = {0};\n");
    sb_puts(b, "int fpc = 0; double fval = 0.0; int64_t fi = 0;\n");
    if (pl->tab)
        emit_table_build(b, p, pl, k, site);
    if (!pl->uses_nb) {
        emit_loop(b, p, pl, k, M_NONE, "lo", "hi");
    } else {
        sb_puts(b, "const int kind = nb ? nb->kind : 0;\n");
        sb_printf(b, "if (kind == %d) {\n", AGORA_SPACE_GRID);
        sb_puts(b, "const int64_t w = nb->width, h = nb->height;\n"
                   "const int64_t o0 = nb->off[0], o1 = nb->off[1], o2 = nb->off[2], o3 = nb->off[3], o4 = "
                   "nb->off[4], o5 = nb->off[5], o6 = nb->off[6], o7 = nb->off[7];\n"
                   "const int64_t oo[8] = {o0, o1, o2, o3, o4, o5, o6, o7}; (void)oo;\n"
                   "int64_t i = lo;\n"
                   "while (i < hi) {\n"
                   "const int64_t y = i / w, x = i - y * w, re = (y + 1) * w < hi ? (y + 1) * w : hi;\n"
                   "if (y > 0 && y < h - 1 && w >= 3) {\n"
                   "if (x == 0) {\n");
        emit_loop(b, p, pl, k, M_BORDER, "i", "i + 1");
        sb_puts(b, "i++; }\n"
                   "const int64_t ie = y * w + w - 1 < re ? y * w + w - 1 : re;\n"
                   "if (nb->count == 8) {\n");
        emit_loop(b, p, pl, k, M_IN8, "i", "ie");
        sb_puts(b, "} else if (nb->count == 4) {\n");
        emit_loop(b, p, pl, k, M_IN4, "i", "ie");
        sb_puts(b, "} else {\n");
        emit_loop(b, p, pl, k, M_BORDER, "i", "ie");
        sb_puts(b, "}\n"
                   "if (i < ie) i = ie;\n");
        emit_loop(b, p, pl, k, M_BORDER, "i", "re");
        sb_puts(b, "} else {\n");
        emit_loop(b, p, pl, k, M_BORDER, "i", "re");
        sb_puts(b, "}\ni = re;\n}\n");
        sb_printf(b, "} else if (kind == %d) {\n", AGORA_SPACE_GRAPH);
        sb_puts(b, "const int64_t *offs = nb->offsets; const int32_t *nbrs = nb->neighbors;\n");
        emit_loop(b, p, pl, k, M_GRAPH, "lo", "hi");
        sb_puts(b, "} else {\n");
        emit_loop(b, p, pl, k, M_NONE, "lo", "hi");
        sb_puts(b, "}\n");
    }
    sb_puts(b, "return 0;\n");
    sb_printf(b,
              "rx_fault:\n"
              "if (fault) { fault->rule = %d; fault->agent = fi; fault->step = t; fault->line = rxl%d[fpc]; "
              "fault->column = rxc%d[fpc]; fault->op = rxo%d[fpc]; fault->value = fval; }\n"
              "return %d;\n}\n",
              p->rule, k, k, k, AGORA_ERANGE);
done:
    free(col_b);
    free(par);
    free(pop);
    free(site);
}

/* ---- the module ------------------------------------------------------------------------------------------------- */

struct agora__rx_native {
    void *dl;
    int n;
    agora__rx_range_fn *fns;
    int nnative;
    int compiled; /* 1: this build ran the compiler */
    char path[1024];
    char status[2400];
};

static void layout_checks(sbuf *b)
{
    sb_printf(b,
              "RX_ST(sizeof(rx_ctx) == %zu && offsetof(rx_ctx, key) == %zu && offsetof(rx_ctx, pop) == %zu && "
              "offsetof(rx_ctx, out_base) == %zu && offsetof(rx_ctx, pair_base) == %zu);\n",
              sizeof(agora_rx_ctx), offsetof(agora_rx_ctx, key), offsetof(agora_rx_ctx, pop),
              offsetof(agora_rx_ctx, out_base), offsetof(agora_rx_ctx, pair_base));
    sb_printf(b,
              "typedef char rx_c2[(sizeof(rx_nbhd) == %zu && offsetof(rx_nbhd, off) == %zu && "
              "offsetof(rx_nbhd, neighbors) == %zu) ? 1 : -1];\n",
              sizeof(agora_rx_nbhd), offsetof(agora_rx_nbhd, off), offsetof(agora_rx_nbhd, neighbors));
    sb_printf(b,
              "typedef char rx_c3[(sizeof(rx_fault) == %zu && offsetof(rx_fault, op) == %zu && "
              "offsetof(rx_fault, value) == %zu) ? 1 : -1];\n",
              sizeof(agora_rx_fault), offsetof(agora_rx_fault, op), offsetof(agora_rx_fault, value));
}

int agora__rx_native_source(const agora__rx_prog *const *progs, int n, char **src, size_t *len, int *translated,
                            char *why, size_t why_size)
{
    sbuf b = {0};
    *src = NULL;
    if (len)
        *len = 0;
    if (why && why_size)
        why[0] = '\0';
    sb_puts(&b, prelude);
    layout_checks(&b);
    for (int k = 0; k < n; k++) {
        rx_plan pl;
        translated[k] = 0;
        if (plan_program(progs[k], &pl) == 0) {
            emit_program(&b, progs[k], &pl, k);
            translated[k] = 1;
        } else if (why && why_size && !why[0]) {
            snprintf(why, why_size, "program %d: %s", k, pl.reason);
        }
        plan_free(&pl);
    }
    if (b.oom) {
        free(b.p);
        return AGORA_ENOMEM;
    }
    *src = b.p;
    if (len)
        *len = b.n;
    return 0;
}

/* Finds an executable on PATH (or checks a path with a slash) into out. */
static int find_program(const char *name, char *out, size_t size)
{
    if (strchr(name, '/')) {
        if (access(name, X_OK) != 0)
            return -1;
        snprintf(out, size, "%s", name);
        return 0;
    }
    const char *path = getenv("PATH");
    if (!path || !*path)
        path = "/usr/local/bin:/usr/bin:/bin";
    while (*path) {
        const char *end = strchr(path, ':');
        const size_t len = end ? (size_t)(end - path) : strlen(path);
        char cand[1024];
        if (len > 0 && len + strlen(name) + 2 < sizeof cand) {
            memcpy(cand, path, len);
            cand[len] = '/';
            strcpy(cand + len + 1, name);
            struct stat st;
            if (stat(cand, &st) == 0 && S_ISREG(st.st_mode) && access(cand, X_OK) == 0) {
                snprintf(out, size, "%s", cand);
                return 0;
            }
        }
        path += len;
        if (*path == ':')
            path++;
    }
    return -1;
}

/* mkdir -p with mode 0700 for what it creates. */
static int make_dirs(const char *dir)
{
    char path[1024];
    if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path)
        return -1;
    for (char *p = path + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir(path, 0700) != 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    if (mkdir(path, 0700) != 0 && errno != EEXIST)
        return -1;
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode) ? 0 : -1;
}

/* The cache keeps the objects of at most AGORA_CACHE_MAX models (default 256; each is <hash>.so beside <hash>.c, and
 * <hash>.log or <hash>.failed.c after a failure): a model defined by every MCP call cannot fill the disk. After a
 * new object is written, the models used least recently (a hit touches its object) go, never `keep`. Another
 * process that has one loaded keeps its mapping; one about to load it finds it gone and builds it again. */
#define RXN_CACHE_MAX 256

typedef struct cache_entry {
    char hash[65];
    double used; /* the newest mtime of its files, in seconds */
} cache_entry;

static int cmp_entry(const void *a, const void *b)
{
    const cache_entry *x = a, *y = b;
    return (x->used > y->used) - (x->used < y->used);
}

static int is_hash_name(const char *name)
{
    for (int i = 0; i < 64; i++)
        if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f')))
            return 0;
    return name[64] == '.';
}

static void prune_cache(const char *dir, const char *keep)
{
    long max = RXN_CACHE_MAX;
    const char *env = getenv("AGORA_CACHE_MAX");
    if (env && *env) {
        char *end;
        const long v = strtol(env, &end, 10);
        if (*end == '\0' && v >= 1)
            max = v;
    }
    DIR *d = opendir(dir);
    if (!d)
        return;
    cache_entry *e = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strlen(de->d_name) < 66 || !is_hash_name(de->d_name))
            continue;
        char path[4200];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        size_t i = 0;
        while (i < n && strncmp(e[i].hash, de->d_name, 64) != 0)
            i++;
        if (i == n) {
            if (n == cap) {
                cache_entry *g = realloc(e, sizeof *e * (cap = cap ? 2 * cap : 64));
                if (!g)
                    break;
                e = g;
            }
            memcpy(e[n].hash, de->d_name, 64);
            e[n].hash[64] = '\0';
            e[n++].used = -1e300;
        }
        const double used = (double)st.st_mtim.tv_sec + 1e-9 * (double)st.st_mtim.tv_nsec;
        if (used > e[i].used)
            e[i].used = used;
    }
    closedir(d);
    if (n > (size_t)max) {
        qsort(e, n, sizeof *e, cmp_entry);
        static const char *const kinds[] = {".so", ".c", ".log", ".failed.c"};
        for (size_t i = 0, gone = 0; i < n && n - gone > (size_t)max; i++) {
            if (strcmp(e[i].hash, keep) == 0)
                continue;
            for (int k = 0; k < 4; k++) {
                char path[4200];
                snprintf(path, sizeof path, "%s/%s%s", dir, e[i].hash, kinds[k]);
                unlink(path);
            }
            gone++;
        }
    }
    free(e);
}

static int cache_dir(char *out, size_t size)
{
    const char *d = getenv("AGORA_CACHE_DIR");
    if (d && *d)
        return snprintf(out, size, "%s", d) < (int)size ? 0 : -1;
    d = getenv("XDG_CACHE_HOME");
    if (d && *d)
        return snprintf(out, size, "%s/agora", d) < (int)size ? 0 : -1;
    d = getenv("HOME");
    if (d && *d)
        return snprintf(out, size, "%s/.cache/agora", d) < (int)size ? 0 : -1;
    return -1;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Runs argv with stdout and stderr into log_path, stdin from /dev/null, within RXN_TIMEOUT_MS. Returns the exit
 * status (0 success), or -1 with why. */
static int run_compiler(char *const *argv, const char *log_path, char *why, size_t why_size)
{
    posix_spawn_file_actions_t fa;
    if (posix_spawn_file_actions_init(&fa) != 0) {
        snprintf(why, why_size, "posix_spawn_file_actions_init failed");
        return -1;
    }
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    pid_t pid;
    const int e = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (e != 0) {
        snprintf(why, why_size, "cannot run %s: %s", argv[0], strerror(e));
        return -1;
    }
    const double t0 = now_ms();
    int status = 0;
    for (;;) {
        const pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            break;
        if (r < 0 && errno != EINTR) {
            snprintf(why, why_size, "waitpid: %s", strerror(errno));
            return -1;
        }
        if (now_ms() - t0 > RXN_TIMEOUT_MS) {
            kill(pid, SIGKILL);
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
            snprintf(why, why_size, "%s took more than %d s", argv[0], RXN_TIMEOUT_MS / 1000);
            return -1;
        }
        const struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    snprintf(why, why_size, "%s died of signal %d", argv[0], WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    return -1;
}

/* Opens the shared object and resolves its stamp and functions. 0, or -1 with why. */
static int load(agora__rx_native *m, const char *path, const char *hash, const int *translated, char *why,
                size_t why_size)
{
    void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!dl) {
        const char *e = dlerror();
        snprintf(why, why_size, "dlopen: %s", e ? e : "failed");
        return -1;
    }
    const char *const *stamp = dlsym(dl, "agora_rxn_stamp");
    if (!stamp || !*stamp || strcmp(*stamp, hash) != 0) {
        dlclose(dl);
        snprintf(why, why_size, "%s is not the object it is named for", path);
        return -1;
    }
    for (int k = 0; k < m->n; k++) {
        if (!translated[k])
            continue;
        char name[32];
        snprintf(name, sizeof name, "agora_rxn_%d", k);
        void *f = dlsym(dl, name);
        if (!f) {
            dlclose(dl);
            snprintf(why, why_size, "%s has no %s", path, name);
            return -1;
        }
    }
    for (int k = 0; k < m->n; k++) {
        if (!translated[k])
            continue;
        char name[32];
        snprintf(name, sizeof name, "agora_rxn_%d", k);
        void *f = dlsym(dl, name);
        memcpy(&m->fns[k], &f, sizeof f); /* POSIX: a data pointer from dlsym converts to a function pointer */
    }
    m->dl = dl;
    return 0;
}

static int split_words(char *s, char **words, int max)
{
    int n = 0;
    for (char *tok = strtok(s, " \t"); tok && n < max; tok = strtok(NULL, " \t"))
        words[n++] = tok;
    return n;
}

int agora__rx_native_build(const agora__rx_prog *const *progs, int n, agora__rx_native **out, agora_error *err)
{
    *out = NULL;
    agora__rx_native *m = calloc(1, sizeof *m);
    int *translated = calloc((size_t)(n > 0 ? n : 1), sizeof *translated);
    char *src = NULL;
    int rc = 0;
    if (!m || !translated || !(m->fns = calloc((size_t)(n > 0 ? n : 1), sizeof *m->fns))) {
        rc = agora_error_set(err, AGORA_ENOMEM, NULL, "out of memory");
        goto done;
    }
    m->n = n;
    for (int k = 0; k < n; k++)
        m->fns[k] = agora__rx_eval_range;
    const char *env = getenv("AGORA_RULES_NATIVE");
    if (env && strcmp(env, "0") == 0) {
        snprintf(m->status, sizeof m->status, "interpreter (AGORA_RULES_NATIVE=0)");
        goto done;
    }
    if (n == 0) {
        snprintf(m->status, sizeof m->status, "interpreter (no programs)");
        goto done;
    }
    size_t len;
    char refused[256];
    if (agora__rx_native_source(progs, n, &src, &len, translated, refused, sizeof refused) != 0) {
        rc = agora_error_set(err, AGORA_ENOMEM, NULL, "out of memory");
        goto done;
    }
    int ntrans = 0;
    for (int k = 0; k < n; k++)
        ntrans += translated[k];
    if (ntrans == 0) {
        snprintf(m->status, sizeof m->status, "interpreter (%s)", refused);
        goto done;
    }
    /* the compiler: AGORA_CC (words: a path or a name on PATH, then arguments), else the one agora was built with,
     * else cc */
    char ccbuf[1024], ccpath[1024];
    char *ccw[16];
    int nccw;
    const char *cc_env = getenv("AGORA_CC");
    if (cc_env && *cc_env) {
        snprintf(ccbuf, sizeof ccbuf, "%s", cc_env);
        nccw = split_words(ccbuf, ccw, 8);
        if (nccw == 0 || find_program(ccw[0], ccpath, sizeof ccpath) != 0) {
            snprintf(m->status, sizeof m->status, "interpreter (no C compiler: %s not found)", nccw ? ccw[0] : cc_env);
            goto done;
        }
    } else {
        snprintf(ccbuf, sizeof ccbuf, "%s", AGORA_BUILD_CC);
        nccw = 1;
        ccw[0] = ccbuf;
        if (find_program(ccbuf, ccpath, sizeof ccpath) != 0) {
            snprintf(ccbuf, sizeof ccbuf, "cc");
            if (find_program(ccbuf, ccpath, sizeof ccpath) != 0) {
                snprintf(m->status, sizeof m->status, "interpreter (no C compiler: %s and cc not found)",
                         AGORA_BUILD_CC);
                goto done;
            }
        }
    }
    ccw[0] = ccpath;
    /* the compiler's identity without running it: its resolved path, size and modification time */
    char real[1024];
    struct stat st;
    if (!realpath(ccpath, real))
        snprintf(real, sizeof real, "%s", ccpath);
    memset(&st, 0, sizeof st);
    stat(real, &st);
    const char *base = strrchr(real, '/') ? strrchr(real, '/') + 1 : real;
    const int clang = strstr(base, "clang") != NULL;
    const char *const *flags = clang ? rxn_flags_clang : rxn_flags;
    const int nflags = clang ? RXN_NFLAGS_CLANG : RXN_NFLAGS;
    /* the stamp goes into the source after hashing: the file names itself */
    agora__sha256 h;
    agora__sha256_init(&h);
    agora__sha256_add(&h, src, len);
    char ident[1400];
    const int il = snprintf(ident, sizeof ident, "\n--cc %s (%s) %lld %lld", cc_env ? cc_env : ccbuf, real,
                            (long long)st.st_size, (long long)st.st_mtime);
    agora__sha256_add(&h, ident, (size_t)il);
    for (int f = 0; f < nflags; f++)
        agora__sha256_add(&h, flags[f], strlen(flags[f]) + 1);
    agora__sha256_add(&h, AGORA_VERSION, sizeof AGORA_VERSION);
    char hash[65];
    agora__sha256_hex(&h, hash);
    char dir[900];
    if (cache_dir(dir, sizeof dir) != 0) {
        snprintf(m->status, sizeof m->status, "interpreter (no cache directory: set AGORA_CACHE_DIR or HOME)");
        goto done;
    }
    if (make_dirs(dir) != 0) {
        snprintf(m->status, sizeof m->status, "interpreter (cache directory %s: %s)", dir, strerror(errno));
        goto done;
    }
    snprintf(m->path, sizeof m->path, "%s/%s.so", dir, hash);
    char why[1200] = "";
    if (access(m->path, R_OK) == 0) {
        if (load(m, m->path, hash, translated, why, sizeof why) == 0) {
            snprintf(m->status, sizeof m->status, "native (cached %s)", m->path);
            utimensat(AT_FDCWD, m->path, NULL, 0); /* used now: the last to go when the cache is pruned */
            goto loaded;
        }
        unlink(m->path); /* a damaged or foreign file under our name: build it again */
    }
    {
        char tmp_c[1100], tmp_so[1100], log[1100];
        static unsigned counter; /* only makes temporary names distinct; the pid and time do the rest */
        const unsigned salt = __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
        snprintf(tmp_c, sizeof tmp_c, "%s/%s.%ld.%u.tmp.c", dir, hash, (long)getpid(), salt);
        snprintf(tmp_so, sizeof tmp_so, "%s/%s.%ld.%u.tmp.so", dir, hash, (long)getpid(), salt);
        snprintf(log, sizeof log, "%s/%s.log", dir, hash);
        FILE *fp = fopen(tmp_c, "w");
        int ok = fp != NULL;
        if (fp) {
            ok = fwrite(src, 1, len, fp) == len &&
                 fprintf(fp, "const char *const agora_rxn_stamp = \"%s\";\n", hash) > 0;
            ok = fclose(fp) == 0 && ok;
        }
        if (!ok) {
            snprintf(m->status, sizeof m->status, "interpreter (cannot write to the cache %s: %s)", dir,
                     strerror(errno));
            unlink(tmp_c);
            goto done;
        }
        char *argv[40];
        int na = 0;
        for (int w = 0; w < nccw; w++)
            argv[na++] = ccw[w];
        for (int f = 0; f < nflags; f++)
            argv[na++] = (char *)flags[f];
        argv[na++] = "-o";
        argv[na++] = tmp_so;
        argv[na++] = tmp_c;
        argv[na++] = "-lm";
        argv[na] = NULL;
        const double t0 = now_ms();
        const int st2 = run_compiler(argv, log, why, sizeof why);
        const double ms = now_ms() - t0;
        m->compiled = 1;
        if (st2 != 0) {
            if (st2 > 0)
                snprintf(why, sizeof why, "%.300s exited with %d, see %.800s", ccpath, st2, log);
            snprintf(m->status, sizeof m->status, "interpreter (compile failed: %s)", why);
            /* the source stays beside the log for whoever reads it */
            char kept[1100];
            snprintf(kept, sizeof kept, "%s/%s.failed.c", dir, hash);
            if (rename(tmp_c, kept) != 0)
                unlink(tmp_c);
            unlink(tmp_so);
            goto done;
        }
        /* the source stays beside the object (<hash>.c), for whoever wants to read what runs */
        char kept[1100];
        snprintf(kept, sizeof kept, "%s/%s.c", dir, hash);
        if (rename(tmp_c, kept) != 0)
            unlink(tmp_c);
        if (rename(tmp_so, m->path) != 0) {
            snprintf(m->status, sizeof m->status, "interpreter (cannot write to the cache %s: %s)", dir,
                     strerror(errno));
            unlink(tmp_so);
            goto done;
        }
        unlink(log);
        prune_cache(dir, hash);
        if (load(m, m->path, hash, translated, why, sizeof why) != 0) {
            snprintf(m->status, sizeof m->status, "interpreter (%s)", why);
            goto done;
        }
        snprintf(m->status, sizeof m->status, "native (compiled in %.0f ms: %s)", ms, m->path);
    }
loaded:
    m->nnative = ntrans;
    if (ntrans < n) {
        const size_t l = strlen(m->status);
        snprintf(m->status + l, sizeof m->status - l, "; %d of %d programs native, %s interpreted", ntrans, n, refused);
    }
done:
    if (rc == 0 && m && !m->dl)
        for (int k = 0; k < n; k++)
            m->fns[k] = agora__rx_eval_range;
    free(translated);
    free(src);
    if (rc) {
        agora__rx_native_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

agora__rx_range_fn agora__rx_native_fn(const agora__rx_native *m, int i)
{
    if (!m || i < 0 || i >= m->n)
        return agora__rx_eval_range;
    return m->fns[i];
}

int agora__rx_native_is_native(const agora__rx_native *m, int i)
{
    return m && i >= 0 && i < m->n && m->fns[i] != agora__rx_eval_range;
}

const char *agora__rx_native_status(const agora__rx_native *m)
{
    return m ? m->status : "interpreter";
}

int agora__rx_native_compiled(const agora__rx_native *m)
{
    return m ? m->compiled : 0;
}

const char *agora__rx_native_path(const agora__rx_native *m)
{
    return m && m->dl ? m->path : NULL;
}

void agora__rx_native_free(agora__rx_native *m)
{
    if (!m)
        return;
    if (m->dl)
        dlclose(m->dl);
    free(m->fns);
    free(m);
}
