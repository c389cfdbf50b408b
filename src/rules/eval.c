/* agora — rule language: the interpreter (bytecode -> values, per agent) and population aggregates.
 *
 * One switch loop over a flat instruction array, with the slots on the C stack: no allocation, no locks, no string
 * look-ups per agent; the RNG base of every draw site is computed once per call (agora_rng_base of (key, t,
 * stream_base + site)). Grid neighbours come from precomputed offsets for interior cells and from coordinates, with
 * the wrap or the edge, on the border; graph neighbours from the CSR row.
 *
 * Semantics at run time (a C code generator must reproduce these exactly):
 *   - ints wrap on overflow (two's complement, computed on uint64); x % y is Python's (the sign of y), x % 0 is a
 *     fault, x % -1 is 0;
 *   - every real operation's result is checked: a NaN or infinity is a fault (the rule, agent, step and the
 *     operation's file position), never written; so is a real result read unchanged from a variable;
 *   - floor, ceil and round give int64 (a fault outside its range); round is to nearest, ties to even (Python's);
 *   - min/max/clamp compare with < and > (clamp(x, lo, hi) = min(max(x, lo), hi));
 *   - nb_mean, nb_sum, nb_min, nb_max, nb_count and nb_any of no neighbours are 0 (false), nb_all is true; sums add
 *     in neighbour order; random_nb with no neighbours reads the agent itself.
 *
 * Draws. A site's 64 bits for agent i are b = agora_rng(key, t, i, stream_base + site) (with ctx->pair_of, the
 * pair's lower id in place of i); inside a neighbour
 * aggregate, for neighbour j, b = agora_rng_at(agora_rng(key, t, i, stream), j), so each (agent, neighbour) pair
 * has its own draw whatever the visiting order. From b:
 *   - uniform() = agora_rng_u01(b), 53 bits in [0, 1); uniform(a, b) = a + (b - a) * uniform();
 *   - bernoulli(p) = agora_rng_r31(b) < agora_rng_threshold31(p): p <= 0 never, p >= 1 always, NaN a fault;
 *   - normal(mu, sd) = mu + sd * sqrt(-2 ln u1) cos(2 pi u2) (Box-Muller), u1 = ((b >> 11) + 1) 2^-53 in (0, 1] and
 *     u2 = agora_rng_u01(agora_rng_mix64(b + AGORA_RNG_GAMMA));
 *   - binomial(n, p) (0 <= n <= 10^9, p clamped to [0, 1]): for n <= 64, the number of k < n with
 *     agora_rng_r31(agora_rng_at(b, k)) < agora_rng_threshold31(p) (n Bernoulli trials, exact); above, inversion of
 *     u = agora_rng_u01(b) by sequential search over the support ordered from the mode m = floor((n + 1) p') outward
 *     (m, m + 1, m - 1, m + 2, ...; p' = min(p, 1 - p), and n - k when p > 1/2), with the mode's probability from
 *     log-factorials (a sum of logs up to 32, Stirling's series with three terms above, relative error < 1e-14) and
 *     its neighbours' by the ratio recurrence. Any fixed order of the support gives an exact sample up to the
 *     rounding of the probabilities; ordering from the mode makes the expected search about 0.8 standard
 *     deviations long, and it stops once both tails' terms underflow (at most ~40 sd each way, and never past 0 or
 *     n), so its cost is bounded by O(sqrt(n p (1 - p))).
 *   - random_nb(e): the neighbour of index agora_rng_below(b, degree) in neighbour order. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <omp.h>

#include "core/simd.h"
#include "rules/expr.h"

void agora__rx_nbhd_init(agora_rx_nbhd *nb, const agora_space *space)
{
    memset(nb, 0, sizeof *nb);
    if (!space || space->kind == AGORA_SPACE_MIXED)
        return;
    if (space->kind == AGORA_SPACE_GRAPH) {
        nb->kind = AGORA_SPACE_GRAPH;
        nb->offsets = space->graph.offsets;
        nb->neighbors = space->graph.neighbors;
        return;
    }
    nb->kind = AGORA_SPACE_GRID;
    nb->width = space->grid.width;
    nb->height = space->grid.height;
    nb->torus = space->grid.torus;
    const int moore = space->grid.nbhd == AGORA_MOORE;
    int k = 0;
    for (int dy = -1; dy <= 1; dy++)
        for (int dx = -1; dx <= 1; dx++) {
            if ((dx == 0 && dy == 0) || (!moore && dx != 0 && dy != 0))
                continue;
            nb->dx[k] = dx;
            nb->dy[k] = dy;
            nb->off[k] = dy * nb->width + dx;
            k++;
        }
    nb->count = k;
}

/* The neighbours of agent i on a grid into ids[]; returns how many. */
static inline int grid_neighbours(const agora_rx_nbhd *nb, int64_t i, int64_t *ids)
{
    const int64_t w = nb->width, h = nb->height, x = i % w, y = i / w;
    if (x > 0 && x < w - 1 && y > 0 && y < h - 1) {
        for (int k = 0; k < nb->count; k++)
            ids[k] = i + nb->off[k];
        return nb->count;
    }
    int n = 0;
    for (int k = 0; k < nb->count; k++) {
        int64_t nx = x + nb->dx[k], ny = y + nb->dy[k];
        if (nx < 0 || nx >= w || ny < 0 || ny >= h) {
            if (!nb->torus)
                continue;
            nx = nx < 0 ? nx + w : nx >= w ? nx - w : nx;
            ny = ny < 0 ? ny + h : ny >= h ? ny - h : ny;
        }
        ids[n++] = ny * w + nx;
    }
    return n;
}

static inline int64_t degree_of(const agora_rx_nbhd *nb, int64_t i)
{
    if (!nb || nb->kind == 0)
        return 0;
    if (nb->kind == AGORA_SPACE_GRAPH)
        return nb->offsets[i + 1] - nb->offsets[i];
    if (nb->torus)
        return nb->count;
    int64_t ids[8];
    return grid_neighbours(nb, i, ids);
}

static inline uint32_t threshold31(double p)
{
    /* agora_rng_threshold31, inlined (the same formula) */
    if (!(p > 0.0))
        return 0;
    if (p >= 1.0)
        return UINT32_C(1) << 31;
    double t = floor(p * 2147483648.0 + 0.5);
    return t > 2147483648.0 ? UINT32_C(1) << 31 : (uint32_t)t;
}

/* ln k! : exact sums of logs up to 32, Stirling's series above. */
static double log_factorial(int64_t k)
{
    if (k <= 32) {
        double s = 0.0;
        for (int64_t j = 2; j <= k; j++)
            s += log((double)j);
        return s;
    }
    const double x = (double)k, x2 = x * x;
    return (x + 0.5) * log(x) - x + 0.91893853320467274178 + 1.0 / (12.0 * x) - 1.0 / (360.0 * x * x2) +
           1.0 / (1260.0 * x * x2 * x2);
}

static int64_t binomial_draw(uint64_t b, int64_t n, double p)
{
    if (!(p > 0.0) || n == 0)
        return 0;
    if (p >= 1.0)
        return n;
    if (n <= 64) {
        const uint32_t thr = threshold31(p);
        int64_t k = 0;
        for (int64_t j = 0; j < n; j++)
            k += agora_rng_r31(agora_rng_at(b, (uint64_t)j)) < thr;
        return k;
    }
    const int flip = p > 0.5;
    const double pp = flip ? 1.0 - p : p, q = 1.0 - pp, r = pp / q;
    int64_t m = (int64_t)floor((double)(n + 1) * pp);
    if (m > n)
        m = n;
    const double pm = exp(log_factorial(n) - log_factorial(m) - log_factorial(n - m) + (double)m * log(pp) +
                          (double)(n - m) * log1p(-pp));
    double u = agora_rng_u01(b) - pm;
    int64_t k = m, lo = m, hi = m;
    double plo = pm, phi = pm;
    while (u >= 0.0) {
        int moved = 0;
        if (hi < n && phi > 0.0) {
            phi *= (double)(n - hi) / (double)(hi + 1) * r;
            hi++;
            moved = 1;
            u -= phi;
            if (u < 0.0) {
                k = hi;
                break;
            }
        }
        if (lo > 0 && plo > 0.0) {
            plo *= (double)lo / ((double)(n - lo + 1) * r);
            lo--;
            moved = 1;
            u -= plo;
            if (u < 0.0) {
                k = lo;
                break;
            }
        }
        if (!moved) {
            k = m; /* the probabilities summed to a little under u by rounding: the mode */
            break;
        }
    }
    return flip ? n - k : k;
}

/* Round half to even without the floating-point environment. */
static inline double round_even(double x)
{
    double f = floor(x), d = x - f;
    if (d > 0.5 || (d == 0.5 && fmod(f, 2.0) != 0.0))
        f += 1.0;
    return f;
}

const char *agora__rx_op_name(int op)
{
    switch (op) {
    case RX_OP_ADDR:
        return "+";
    case RX_OP_SUBR:
        return "-";
    case RX_OP_MULR:
        return "*";
    case RX_OP_DIVR:
        return "/";
    case RX_OP_POWR:
        return "**";
    case RX_OP_MODI:
        return "%";
    case RX_OP_EXP:
        return "exp";
    case RX_OP_LOG:
        return "log";
    case RX_OP_SQRT:
        return "sqrt";
    case RX_OP_FLOOR:
        return "floor";
    case RX_OP_CEIL:
        return "ceil";
    case RX_OP_ROUND:
        return "round";
    case RX_OP_UNIF2:
        return "uniform";
    case RX_OP_BERN:
        return "bernoulli";
    case RX_OP_NORM:
        return "normal";
    case RX_OP_BINOM:
        return "binomial";
    case RX_OP_NB_SUMR:
        return "nb_sum";
    case RX_OP_NB_MEAN:
        return "nb_mean";
    case RX_OP_I2R:
        return "int to real";
    default:
        return "the result";
    }
}

/* Dispatch: direct threading where the compiler has labels as values (GCC, clang: each handler jumps to the next
 * one through the table, so the branch predictor sees one indirect jump per handler), a switch elsewhere. */
#if defined(__GNUC__)
#define RX_THREADED 1
#define CASE(name) L_##name:
#define DISPATCH() goto *dispatch[ip->op]
#else
#define CASE(name) case RX_OP_##name:
#define DISPATCH() continue
#endif
#define NEXT                                                                                                           \
    do {                                                                                                               \
        ip++;                                                                                                          \
        DISPATCH();                                                                                                    \
    } while (0)
#define JUMP(target)                                                                                                   \
    do {                                                                                                               \
        ip = code + (target);                                                                                          \
        DISPATCH();                                                                                                    \
    } while (0)
#define D (ip->d)
#define FAULT(v)                                                                                                       \
    do {                                                                                                               \
        bad = (v);                                                                                                     \
        goto fault;                                                                                                    \
    } while (0)
#define REAL_OP(name, EXPR)                                                                                            \
    CASE(name)                                                                                                         \
    {                                                                                                                  \
        const double v = (EXPR);                                                                                       \
        if (!isfinite(v))                                                                                              \
            FAULT(v);                                                                                                  \
        s[D].r = v;                                                                                                    \
        NEXT;                                                                                                          \
    }
#define NB_FOLD(name, STMT)                                                                                            \
    CASE(name)                                                                                                         \
    {                                                                                                                  \
        STMT;                                                                                                          \
        if (++nbk < nbn) {                                                                                             \
            nbj = row ? row[nbk] : ids[nbk];                                                                           \
            JUMP(ip->x);                                                                                               \
        }                                                                                                              \
        row = NULL;                                                                                                    \
        nbj = i;                                                                                                       \
        NEXT;                                                                                                          \
    }

/* The neighbours of agent i as a CSR row (graphs: *row set) or in ids[] (grids); returns how many. */
static inline int64_t neighbours(const agora_rx_nbhd *nb, int64_t i, int64_t *ids, const int32_t **row)
{
    *row = NULL;
    if (!nb || nb->kind == 0)
        return 0;
    if (nb->kind == AGORA_SPACE_GRAPH) {
        *row = nb->neighbors + nb->offsets[i];
        return nb->offsets[i + 1] - nb->offsets[i];
    }
    return grid_neighbours(nb, i, ids);
}

/* Own variable x of agent i. In a pair rule (own = its own variables, > 0) partner.x (own <= x < 2 own) is read at
 * the partner pj, and first (x = 2 own) is i < pj. */
static inline uint8_t ld8(const void *const *cols, int own, int x, int64_t i, int64_t pj)
{
    if (own && x >= own)
        return x >= 2 * own ? (uint8_t)(i < pj) : ((const uint8_t *)cols[x - own])[pj];
    return ((const uint8_t *)cols[x])[i];
}

static inline int64_t ldi(const void *const *cols, int own, int x, int64_t i, int64_t pj)
{
    return own && x >= own ? ((const int64_t *)cols[x - own])[pj] : ((const int64_t *)cols[x])[i];
}

static inline double ldr(const void *const *cols, int own, int x, int64_t i, int64_t pj)
{
    return own && x >= own ? ((const double *)cols[x - own])[pj] : ((const double *)cols[x])[i];
}

/* Runs code from pc for agent i. Returns 0 with the result in s[0], or AGORA_ERANGE with *fault_pc and the bad
 * value (the caller fills in the rest). */
static int run(const agora__rx_prog *prog, const agora_rx_ctx *c, const uint64_t *bases, int pc, int64_t i,
               agora_rx_value *restrict s, int *fault_pc, double *fault_value)
{
#ifdef RX_THREADED
#define RX__OP_LABEL(name) [RX_OP_##name] = &&L_##name,
    static const void *const dispatch[RX_OP_COUNT] = {RX_OPS(RX__OP_LABEL)};
#undef RX__OP_LABEL
#endif
    const rx_ins *code = prog->code, *ip = code + pc;
    const void *const *cols = c->cols;
    const agora_rx_nbhd *nb = c->nbhd;
    int64_t ids[8];
    const int32_t *row = NULL;
    int64_t nbn = 0, nbk = 0, nbj = i;
    const int own = prog->pair_own;
    const int64_t *const pw = own ? c->pair_of : NULL;                 /* the matching, for a pair rule */
    const int64_t pj = pw ? pw[i - c->pair_base] : i;                  /* the partner */
    const uint64_t di = pw ? (uint64_t)(i < pj ? i : pj) : (uint64_t)i; /* whose draws these are */
    double bad = 0;
#ifdef RX_THREADED
    DISPATCH();
#else
    for (;;)
        switch ((rx_op)ip->op) {
        default:
            FAULT(NAN);
#endif
    CASE(LDI)
    CASE(LDR)
    {
        s[D] = ip->imm;
        NEXT;
    }
    CASE(LDV8)
    {
        s[D].i = ld8(cols, own, ip->x, i, pj);
        NEXT;
    }
    CASE(LDVI)
    {
        s[D].i = ldi(cols, own, ip->x, i, pj);
        NEXT;
    }
    CASE(LDVR)
    {
        s[D].r = ldr(cols, own, ip->x, i, pj);
        NEXT;
    }
    CASE(LDN8)
    {
        s[D].i = ((const uint8_t *)cols[ip->x])[nbj];
        NEXT;
    }
    CASE(LDNI)
    {
        s[D].i = ((const int64_t *)cols[ip->x])[nbj];
        NEXT;
    }
    CASE(LDNR)
    {
        s[D].r = ((const double *)cols[ip->x])[nbj];
        NEXT;
    }
    CASE(LDPI)
    CASE(LDPR)
    {
        s[D] = c->params[ip->x];
        NEXT;
    }
    CASE(LDT)
    {
        s[D].i = c->t;
        NEXT;
    }
    CASE(LDDEG)
    {
        s[D].i = degree_of(nb, i);
        NEXT;
    }
    CASE(LDPOP)
    {
        s[D] = c->pop[ip->x];
        NEXT;
    }
    CASE(I2R)
    {
        s[D].r = (double)s[D].i;
        NEXT;
    }
    CASE(NEGI)
    {
        s[D].i = (int64_t)(0 - (uint64_t)s[D].i);
        NEXT;
    }
    CASE(NEGR)
    {
        s[D].r = -s[D].r;
        NEXT;
    }
    CASE(NOT)
    {
        s[D].i = !s[D].i;
        NEXT;
    }
    CASE(ADDI)
    {
        s[D].i = (int64_t)((uint64_t)s[D].i + (uint64_t)s[D + 1].i);
        NEXT;
    }
    CASE(SUBI)
    {
        s[D].i = (int64_t)((uint64_t)s[D].i - (uint64_t)s[D + 1].i);
        NEXT;
    }
    CASE(MULI)
    {
        s[D].i = (int64_t)((uint64_t)s[D].i * (uint64_t)s[D + 1].i);
        NEXT;
    }
    CASE(MODI)
    {
        const int64_t a = s[D].i, b = s[D + 1].i;
        if (b == 0)
            FAULT((double)a);
        int64_t r = b == -1 ? 0 : a % b;
        if (r != 0 && ((r < 0) != (b < 0)))
            r += b;
        s[D].i = r;
        NEXT;
    }
    REAL_OP(ADDR, s[D].r + s[D + 1].r)
    REAL_OP(SUBR, s[D].r - s[D + 1].r)
    REAL_OP(MULR, s[D].r * s[D + 1].r)
    REAL_OP(DIVR, s[D].r / s[D + 1].r)
    REAL_OP(POWR, pow(s[D].r, s[D + 1].r))
    REAL_OP(EXP, exp(s[D].r))
    REAL_OP(LOG, log(s[D].r))
    REAL_OP(SQRT, sqrt(s[D].r))
    CASE(EQI)
    {
        s[D].i = s[D].i == s[D + 1].i;
        NEXT;
    }
    CASE(NEI)
    {
        s[D].i = s[D].i != s[D + 1].i;
        NEXT;
    }
    CASE(LTI)
    {
        s[D].i = s[D].i < s[D + 1].i;
        NEXT;
    }
    CASE(LEI)
    {
        s[D].i = s[D].i <= s[D + 1].i;
        NEXT;
    }
    CASE(GTI)
    {
        s[D].i = s[D].i > s[D + 1].i;
        NEXT;
    }
    CASE(GEI)
    {
        s[D].i = s[D].i >= s[D + 1].i;
        NEXT;
    }
    CASE(EQR)
    {
        s[D].i = s[D].r == s[D + 1].r;
        NEXT;
    }
    CASE(NER)
    {
        s[D].i = s[D].r != s[D + 1].r;
        NEXT;
    }
    CASE(LTR)
    {
        s[D].i = s[D].r < s[D + 1].r;
        NEXT;
    }
    CASE(LER)
    {
        s[D].i = s[D].r <= s[D + 1].r;
        NEXT;
    }
    CASE(GTR)
    {
        s[D].i = s[D].r > s[D + 1].r;
        NEXT;
    }
    CASE(GER)
    {
        s[D].i = s[D].r >= s[D + 1].r;
        NEXT;
    }
    CASE(AND)
    {
        s[D].i = s[D].i & s[D + 1].i;
        NEXT;
    }
    CASE(OR)
    {
        s[D].i = s[D].i | s[D + 1].i;
        NEXT;
    }
    CASE(ABSI)
    {
        s[D].i = s[D].i < 0 ? (int64_t)(0 - (uint64_t)s[D].i) : s[D].i;
        NEXT;
    }
    CASE(ABSR)
    {
        s[D].r = fabs(s[D].r);
        NEXT;
    }
    CASE(MINI)
    {
        s[D].i = s[D + 1].i < s[D].i ? s[D + 1].i : s[D].i;
        NEXT;
    }
    CASE(MINR)
    {
        s[D].r = s[D + 1].r < s[D].r ? s[D + 1].r : s[D].r;
        NEXT;
    }
    CASE(MAXI)
    {
        s[D].i = s[D + 1].i > s[D].i ? s[D + 1].i : s[D].i;
        NEXT;
    }
    CASE(MAXR)
    {
        s[D].r = s[D + 1].r > s[D].r ? s[D + 1].r : s[D].r;
        NEXT;
    }
    CASE(CLAMPI)
    {
        int64_t v = s[D].i;
        v = v < s[D + 1].i ? s[D + 1].i : v;
        s[D].i = v > s[D + 2].i ? s[D + 2].i : v;
        NEXT;
    }
    CASE(CLAMPR)
    {
        double v = s[D].r;
        v = v < s[D + 1].r ? s[D + 1].r : v;
        s[D].r = v > s[D + 2].r ? s[D + 2].r : v;
        NEXT;
    }
    CASE(FLOOR)
    CASE(CEIL)
    CASE(ROUND)
    {
        const double x = s[D].r;
        const double v = ip->op == RX_OP_FLOOR ? floor(x) : ip->op == RX_OP_CEIL ? ceil(x) : round_even(x);
        /* [-2^63, 2^63): the int64 range (NaN fails both tests) */
        if (!(v >= -9223372036854775808.0 && v < 9223372036854775808.0))
            FAULT(x);
        s[D].i = (int64_t)v;
        NEXT;
    }
    CASE(JMPF)
    {
        if (!s[D].i)
            JUMP(ip->x);
        NEXT;
    }
    CASE(JMP)
    {
        JUMP(ip->x);
    }
    CASE(NB_BEGIN)
    {
        nbn = neighbours(nb, i, ids, &row);
        if (nbn == 0) {
            s[D].i = ip->aux; /* 0, 0.0 or (all) true */
            JUMP(ip->x);
        }
        s[D] = ip->imm;
        nbk = 0;
        nbj = row ? row[0] : ids[0];
        NEXT;
    }
    NB_FOLD(NB_COUNT, s[D].i += s[D + 1].i != 0)
    NB_FOLD(NB_SUMI, s[D].i = (int64_t)((uint64_t)s[D].i + (uint64_t)s[D + 1].i))
    NB_FOLD(NB_SUMR, s[D].r += s[D + 1].r; if (!isfinite(s[D].r)) FAULT(s[D].r))
    NB_FOLD(NB_MINI, s[D].i = s[D + 1].i < s[D].i ? s[D + 1].i : s[D].i)
    NB_FOLD(NB_MINR, s[D].r = s[D + 1].r < s[D].r ? s[D + 1].r : s[D].r)
    NB_FOLD(NB_MAXI, s[D].i = s[D + 1].i > s[D].i ? s[D + 1].i : s[D].i)
    NB_FOLD(NB_MAXR, s[D].r = s[D + 1].r > s[D].r ? s[D + 1].r : s[D].r)
    NB_FOLD(NB_ANY, s[D].i |= s[D + 1].i != 0)
    NB_FOLD(NB_ALL, s[D].i &= s[D + 1].i != 0)
    CASE(NB_MEAN)
    {
        s[D].r /= (double)nbn;
        NEXT;
    }
    CASE(RNB)
    {
        const int32_t *r;
        const int64_t n = neighbours(nb, i, ids, &r);
        if (n == 0) {
            nbj = i;
        } else {
            const int64_t k = (int64_t)agora_rng_below(agora_rng_at(bases[ip->x], di), (uint64_t)n);
            nbj = r ? r[k] : ids[k];
        }
        NEXT;
    }
    CASE(UNIF)
    CASE(UNIF2)
    CASE(BERN)
    CASE(NORM)
    CASE(BINOM)
    {
        uint64_t b = agora_rng_at(bases[ip->x], di);
        if (ip->aux)
            b = agora_rng_at(b, (uint64_t)nbj);
        switch ((rx_op)ip->op) {
        case RX_OP_UNIF:
            s[D].r = agora_rng_u01(b);
            break;
        case RX_OP_UNIF2: {
            const double v = s[D].r + (s[D + 1].r - s[D].r) * agora_rng_u01(b);
            if (!isfinite(v))
                FAULT(v);
            s[D].r = v;
            break;
        }
        case RX_OP_BERN:
            if (isnan(s[D].r))
                FAULT(s[D].r);
            s[D].i = agora_rng_r31(b) < threshold31(s[D].r);
            break;
        case RX_OP_NORM: {
            const double u1 = (double)((b >> 11) + 1) * 0x1.0p-53;
            const double u2 = agora_rng_u01(agora_rng_mix64(b + AGORA_RNG_GAMMA));
            const double v = s[D].r + s[D + 1].r * (sqrt(-2.0 * log(u1)) * cos(6.283185307179586477 * u2));
            if (!isfinite(v))
                FAULT(v);
            s[D].r = v;
            break;
        }
        default: {
            const int64_t n = s[D].i;
            if (n < 0 || n > 1000000000 || isnan(s[D + 1].r))
                FAULT(n < 0 || n > 1000000000 ? (double)n : s[D + 1].r);
            s[D].i = binomial_draw(b, n, s[D + 1].r);
            break;
        }
        }
        NEXT;
    }
    CASE(EQV8K)
    {
        s[D].i = (ld8(cols, own, ip->x, i, pj) == ip->imm.i) != ip->aux;
        NEXT;
    }
    CASE(JV8K)
    {
        if ((ld8(cols, own, D, i, pj) == ip->imm.i) == ip->aux)
            JUMP(ip->x);
        NEXT;
    }
    CASE(NB_CNT8K)
    {
        const uint8_t *col = cols[ip->x];
        const int k = (int)ip->imm.i, ne = ip->aux;
        int64_t cnt = 0;
        if (nb && nb->kind == AGORA_SPACE_GRID) {
            const int64_t w = nb->width, x = i % w, y = i / w;
            if (x > 0 && x < w - 1 && y > 0 && y < nb->height - 1) {
                for (int q = 0; q < nb->count; q++)
                    cnt += (col[i + nb->off[q]] == k) != ne;
                s[D].i = cnt;
                NEXT;
            }
        }
        const int32_t *r;
        const int64_t n = neighbours(nb, i, ids, &r);
        for (int64_t q = 0; q < n; q++)
            cnt += (col[r ? r[q] : ids[q]] == k) != ne;
        s[D].i = cnt;
        NEXT;
    }
    CASE(NB_SUMV8)
    CASE(NB_SUMVI)
    CASE(NB_SUMVR)
    {
        const int32_t *r;
        const int64_t n = neighbours(nb, i, ids, &r);
        if (ip->op == RX_OP_NB_SUMVR) {
            const double *col = cols[ip->x];
            double sum = 0.0;
            for (int64_t q = 0; q < n; q++) {
                sum += col[r ? r[q] : ids[q]];
                if (!isfinite(sum))
                    FAULT(sum);
            }
            s[D].r = sum;
        } else {
            uint64_t sum = 0;
            if (ip->op == RX_OP_NB_SUMV8)
                for (int64_t q = 0; q < n; q++)
                    sum += ((const uint8_t *)cols[ip->x])[r ? r[q] : ids[q]];
            else
                for (int64_t q = 0; q < n; q++)
                    sum += (uint64_t)((const int64_t *)cols[ip->x])[r ? r[q] : ids[q]];
            s[D].i = (int64_t)sum;
        }
        NEXT;
    }
    CASE(RET)
    {
        if (ip->aux && !isfinite(s[D].r))
            FAULT(s[D].r);
        return 0;
    }
#ifndef RX_THREADED
}
#endif
fault : *fault_pc = (int)(ip - code);
*fault_value = bad;
return AGORA_ERANGE;
}
#undef CASE
#undef DISPATCH
#undef NEXT
#undef JUMP
#undef D
#undef FAULT
#undef REAL_OP
#undef NB_FOLD

static void fill_fault(const agora__rx_prog *p, const agora_rx_ctx *c, int64_t agent, int pc, double value,
                       agora_rx_fault *f)
{
    if (!f)
        return;
    f->rule = p->rule;
    f->agent = agent;
    f->step = c->t;
    f->line = p->line[pc];
    f->column = p->col[pc];
    f->op = agora__rx_op_name(p->code[pc].op);
    f->value = value;
}

static void site_bases(const agora__rx_prog *p, const agora_rx_ctx *c, uint64_t *bases)
{
    for (int k = 0; k < p->nsites; k++)
        bases[k] = agora_rng_base(c->key, (uint64_t)c->t, p->stream_base + (uint32_t)k);
}

int agora__rx_eval(const agora__rx_prog *prog, const agora_rx_ctx *ctx, int64_t agent, agora_rx_value *out,
                   agora_rx_fault *fault)
{
    uint64_t bases[AGORA_RX_MAX_NODES];
    agora_rx_value s[AGORA_RX_MAX_SLOTS];
    int pc;
    double bad;
    site_bases(prog, ctx, bases);
    if (run(prog, ctx, bases, 0, agent, s, &pc, &bad)) {
        fill_fault(prog, ctx, agent, pc, bad, fault);
        return AGORA_ERANGE;
    }
    *out = s[0];
    return 0;
}

int agora__rx_eval_range(const agora__rx_prog *prog, const agora_rx_ctx *ctx, int64_t lo, int64_t hi, void *out_column,
                         agora_rx_fault *fault)
{
    uint64_t bases[AGORA_RX_MAX_NODES];
    agora_rx_value s[AGORA_RX_MAX_SLOTS];
    int pc;
    double bad;
    site_bases(prog, ctx, bases);
    const int type = prog->type;
    const int64_t ob = ctx->out_base, *const pw = prog->pair_own ? ctx->pair_of : NULL;
    for (int64_t i = lo; i < hi; i++) {
        if (pw && pw[i - ctx->pair_base] < 0)
            continue; /* unpaired: not written */
        if (run(prog, ctx, bases, 0, i, s, &pc, &bad)) {
            fill_fault(prog, ctx, i, pc, bad, fault);
            return AGORA_ERANGE;
        }
        if (type == AGORA_RX_REAL)
            ((double *)out_column)[i - ob] = s[0].r;
        else if (type == AGORA_RX_INT)
            ((int64_t *)out_column)[i - ob] = s[0].i;
        else
            ((uint8_t *)out_column)[i - ob] = (uint8_t)s[0].i;
    }
    return 0;
}

#define POP_BLOCK 4096

typedef struct pop_part {
    agora_rx_value v;
    int has;
} pop_part;

/* Folds one agent's value x into a partial of aggregate a. */
static inline void pop_fold(const rx_popagg *a, pop_part *p, agora_rx_value x)
{
    const int real = a->type == AGORA_RX_REAL;
    switch (a->fn) {
    case RX_F_POP_COUNT:
        p->v.i += x.i != 0;
        break;
    case RX_F_POP_SUM:
    case RX_F_POP_MEAN:
        if (real)
            p->v.r += x.r;
        else
            p->v.i = (int64_t)((uint64_t)p->v.i + (uint64_t)x.i);
        break;
    case RX_F_POP_MIN:
        if (!p->has || (real ? x.r < p->v.r : x.i < p->v.i))
            p->v = x;
        break;
    default:
        if (!p->has || (real ? x.r > p->v.r : x.i > p->v.i))
            p->v = x;
        break;
    }
    p->has = 1;
}

/* A double's bits made order-preserving as an unsigned integer: the sign bit flipped for a positive number, every
 * bit for a negative one (-0.0 comes just before 0.0). */
static uint64_t sort_key(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u >> 63 ? ~u : u | (UINT64_C(1) << 63);
}

static double key_value(uint64_t k)
{
    const uint64_t u = k >> 63 ? k & ~(UINT64_C(1) << 63) : ~k;
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Sorts v[0 .. n) ascending (rules never leave a NaN in a column): an LSD radix sort of the sort keys, 11 bits a
 * pass, skipping a pass whose digit every value shares; qsort for a few values or when memory is short. */
static void sort_doubles(double *v, int64_t n)
{
    uint64_t *a = malloc(sizeof *a * (size_t)n), *b = malloc(sizeof *b * (size_t)n);
    if (!a || !b || n < 64) {
        free(a);
        free(b);
        qsort(v, (size_t)n, sizeof *v, cmp_double);
        return;
    }
    for (int64_t i = 0; i < n; i++)
        a[i] = sort_key(v[i]);
    for (int shift = 0; shift < 64; shift += 11) {
        int64_t count[2048] = {0};
        for (int64_t i = 0; i < n; i++)
            count[(a[i] >> shift) & 2047]++;
        if (count[(a[0] >> shift) & 2047] == n)
            continue; /* every value has this digit */
        int64_t pos = 0;
        for (int d = 0; d < 2048; d++) {
            const int64_t c = count[d];
            count[d] = pos;
            pos += c;
        }
        for (int64_t i = 0; i < n; i++)
            b[count[(a[i] >> shift) & 2047]++] = a[i];
        uint64_t *t = a;
        a = b;
        b = t;
    }
    for (int64_t i = 0; i < n; i++)
        v[i] = key_value(a[i]);
    free(a);
    free(b);
}

/* The Gini coefficient of v[0 .. n) (sorted here, in place): sum_ij |v_i - v_j| / (2 n^2 mean), which on the sorted
 * values is sum_i (2i - n - 1) v_(i) / (n sum v), i = 1..n; both sums in index order, so the result depends only on
 * the multiset of values. 0 for an empty population or a zero sum. */
static double gini_of(double *v, int64_t n)
{
    if (n <= 0)
        return 0.0;
    sort_doubles(v, n);
    double sum = 0.0, weighted = 0.0;
    for (int64_t i = 0; i < n; i++) {
        sum += v[i];
        weighted += (double)(2 * (i + 1) - n - 1) * v[i];
    }
    return sum != 0.0 ? weighted / ((double)n * sum) : 0.0;
}

/* Combines aggregate k's block partials (parts[bi * stride], bi in block order) into *out, or for pop_gini computes it
 * from the column gv of all n values. AGORA_ERANGE with *fault when a real result is not finite. */
static int pop_finish(const agora__rx_prog *prog, int k, const pop_part *parts, int stride, int64_t nblocks, double *gv,
                      const agora_rx_ctx *ctx, agora_rx_value *out, agora_rx_fault *fault)
{
    const rx_popagg *a = &prog->pop[k];
    const int64_t n = ctx->n;
    const int real = a->type == AGORA_RX_REAL;
    pop_part total = {{.i = 0}, 0};
    for (int64_t bi = 0; bi < nblocks; bi++) {
        const pop_part *p = &parts[bi * stride];
        if (!p->has)
            continue;
        switch (a->fn) {
        case RX_F_POP_COUNT:
            total.v.i += p->v.i;
            break;
        case RX_F_POP_SUM:
        case RX_F_POP_MEAN:
            if (real)
                total.v.r += p->v.r;
            else
                total.v.i = (int64_t)((uint64_t)total.v.i + (uint64_t)p->v.i);
            break;
        default:
            if (!total.has || (a->fn == RX_F_POP_MIN ? (real ? p->v.r < total.v.r : p->v.i < total.v.i)
                                                     : (real ? p->v.r > total.v.r : p->v.i > total.v.i)))
                total.v = p->v;
            break;
        }
        total.has = 1;
    }
    if (a->fn == RX_F_POP_GINI) {
        out->r = gini_of(gv, n);
    } else if (a->fn == RX_F_POP_MEAN) {
        const double sum = real ? total.v.r : (double)total.v.i;
        out->r = n > 0 ? sum / (double)n : 0.0;
    } else {
        *out = total.v; /* 0 for an empty population */
    }
    if ((real || a->fn == RX_F_POP_MEAN || a->fn == RX_F_POP_GINI) && !isfinite(out->r)) {
        if (fault) {
            fault->rule = prog->rule;
            fault->agent = -1;
            fault->step = ctx->t;
            fault->line = prog->line[a->start];
            fault->column = prog->col[a->start];
            fault->op = agora__rx_fns[a->fn].name;
            fault->value = out->r;
        }
        return AGORA_ERANGE;
    }
    return 0;
}

int agora__rx_pop_aggregates(const agora__rx_prog *prog, const agora_rx_ctx *ctx, agora_rx_value *out,
                             agora_rx_fault *fault, agora_error *err)
{
    const int npop = prog->npop;
    if (npop == 0)
        return 0;
    const int64_t n = ctx->n, nblocks = (n + POP_BLOCK - 1) / POP_BLOCK;
    pop_part *parts = calloc((size_t)(nblocks ? nblocks : 1) * (size_t)npop, sizeof *parts);
    int64_t *fault_agent = malloc(sizeof *fault_agent * (size_t)(nblocks ? nblocks : 1));
    int *fault_pc = malloc(sizeof *fault_pc * (size_t)(nblocks ? nblocks : 1));
    double *fault_value = malloc(sizeof *fault_value * (size_t)(nblocks ? nblocks : 1));
    /* pop_gini needs every value, not a partial: each gini aggregate gets a column of n values (gslot[k], or -1) */
    int *gslot = malloc(sizeof *gslot * (size_t)npop), ngini = 0;
    for (int k = 0; gslot && k < npop; k++)
        gslot[k] = prog->pop[k].fn == RX_F_POP_GINI ? ngini++ : -1;
    double *gv = ngini ? malloc(sizeof *gv * (size_t)(n ? n : 1) * (size_t)ngini) : NULL;
    int rc = 0;
    if (!parts || !fault_agent || !fault_pc || !fault_value || !gslot || (ngini && !gv)) {
        rc = agora_error_set(err, AGORA_ENOMEM, prog->where, "out of memory");
        goto done;
    }
    const int threads = ctx->threads > 0 ? ctx->threads : 1;
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t bi = 0; bi < nblocks; bi++) {
        agora_rx_value s[AGORA_RX_MAX_SLOTS];
        pop_part *p = parts + bi * npop;
        const int64_t i0 = bi * POP_BLOCK, i1 = i0 + POP_BLOCK < n ? i0 + POP_BLOCK : n;
        fault_agent[bi] = -1;
        for (int64_t i = i0; i < i1 && fault_agent[bi] < 0; i++)
            for (int k = 0; k < npop; k++) {
                int pc;
                double bad;
                if (run(prog, ctx, NULL, prog->pop[k].start, i, s, &pc, &bad)) {
                    fault_agent[bi] = i;
                    fault_pc[bi] = pc;
                    fault_value[bi] = bad;
                    break;
                }
                if (gslot[k] >= 0)
                    gv[(size_t)gslot[k] * (size_t)n + (size_t)i] =
                        prog->pop[k].type == AGORA_RX_REAL ? s[0].r : (double)s[0].i;
                else
                    pop_fold(&prog->pop[k], &p[k], s[0]);
            }
    }
    for (int64_t bi = 0; bi < nblocks; bi++)
        if (fault_agent[bi] >= 0) {
            fill_fault(prog, ctx, fault_agent[bi], fault_pc[bi], fault_value[bi], fault);
            rc = AGORA_ERANGE;
            goto done;
        }
    for (int k = 0; k < npop; k++)
        if ((rc = pop_finish(prog, k, parts + k, npop, nblocks,
                             gslot[k] >= 0 ? gv + (size_t)gslot[k] * (size_t)n : NULL, ctx, &out[k], fault)) != 0)
            goto done;
done:
    free(gslot);
    free(gv);
    free(parts);
    free(fault_agent);
    free(fault_pc);
    free(fault_value);
    return rc;
}

/* The nonzero bytes of b[0 .. len): 64 byte lanes, each adding up to 255 rows before they are summed, which the
 * compiler keeps in vector registers (an int64 count would widen every byte to 64 bits; one byte counter a chunk,
 * 5x slower than this). */
AGORA_HOT static int64_t count_nonzero(const uint8_t *b, int64_t len)
{
    int64_t c = 0, i = 0;
    while (len - i >= 64) {
        uint8_t acc[64] = {0};
        const int64_t rows = (len - i) / 64 < 255 ? (len - i) / 64 : 255;
        for (int64_t r = 0; r < rows; r++, i += 64)
            for (int j = 0; j < 64; j++)
                acc[j] = (uint8_t)(acc[j] + (b[i + j] != 0));
        for (int j = 0; j < 64; j++)
            c += acc[j];
    }
    for (; i < len; i++)
        c += b[i] != 0;
    return c;
}

/* Folds a block of len per-agent values of type `type` (a column as agora__rx_eval_range writes it) into partial p,
 * in agent order: pop_fold's arithmetic, with the switch outside the loop. */
static void fold_block(const rx_popagg *a, int type, const void *col, int64_t len, pop_part *p)
{
    if (len <= 0)
        return;
    const uint8_t *b = col;
    const int64_t *vi = col;
    const double *vr = col;
    if (a->fn == RX_F_POP_COUNT) {
        p->v.i += count_nonzero(b, len);
    } else if ((a->fn == RX_F_POP_SUM || a->fn == RX_F_POP_MEAN) && a->type == AGORA_RX_REAL && type != AGORA_RX_REAL) {
        /* a bool's real sum (agora__rx_pop_program): counted, exact below 2^53 */
        p->v.r += (double)count_nonzero(b, len);
    } else if ((a->fn == RX_F_POP_SUM || a->fn == RX_F_POP_MEAN) && a->type == AGORA_RX_REAL) {
        double sum = p->v.r;
        for (int64_t i = 0; i < len; i++)
            sum += vr[i];
        p->v.r = sum;
    } else if (a->fn == RX_F_POP_SUM || a->fn == RX_F_POP_MEAN) {
        uint64_t sum = (uint64_t)p->v.i;
        if (type == AGORA_RX_INT)
            for (int64_t i = 0; i < len; i++)
                sum += (uint64_t)vi[i];
        else
            for (int64_t i = 0; i < len; i++)
                sum += b[i];
        p->v.i = (int64_t)sum;
    } else {
        for (int64_t i = 0; i < len; i++) {
            agora_rx_value x;
            if (type == AGORA_RX_REAL)
                x.r = vr[i];
            else
                x.i = type == AGORA_RX_INT ? vi[i] : b[i];
            pop_fold(a, p, x);
        }
    }
    p->has = 1;
}

/* One block [i0, i1) of values (buf, of type `type`) into aggregate a: into its partial, or for pop_gini into its
 * column g of all values. */
static void fold_into(const rx_popagg *a, int type, const void *buf, int64_t i0, int64_t i1, double *g, pop_part *p)
{
    if (!g) {
        fold_block(a, type, buf, i1 - i0, p);
        return;
    }
    const double *r = buf;
    const int64_t *vi = buf;
    const uint8_t *b = buf;
    for (int64_t i = i0; i < i1; i++)
        g[i] = type == AGORA_RX_REAL ? r[i - i0] : type == AGORA_RX_INT ? (double)vi[i - i0] : (double)b[i - i0];
}

int agora__rx_pop_aggregates_fused(const agora__rx_prog *const *progs, int nprog, const agora__rx_prog *const *vprog,
                                   const agora__rx_range_fn *vfn, const agora_rx_ctx *ctx, agora_rx_value *out,
                                   uint8_t *ok, agora_error *err)
{
    int total = 0;
    for (int q = 0; q < nprog; q++) {
        ok[q] = 1;
        total += progs[q]->npop;
    }
    if (total == 0)
        return 0;
    const int64_t n = ctx->n, nblocks = (n + POP_BLOCK - 1) / POP_BLOCK, nb = nblocks ? nblocks : 1;
    int *owner = malloc(sizeof *owner * (size_t)total), *kk = malloc(sizeof *kk * (size_t)total);
    int *gslot = malloc(sizeof *gslot * (size_t)total), ngini = 0, *rep = malloc(sizeof *rep * (size_t)total);
    pop_part *parts = calloc((size_t)nb * (size_t)total, sizeof *parts);
    uint8_t *bad = calloc((size_t)nb * (size_t)nprog, 1);
    double *gv = NULL;
    int rc = 0;
    if (!owner || !kk || !gslot || !rep || !parts || !bad) {
        rc = agora_error_set(err, AGORA_ENOMEM, progs[0]->where, "out of memory");
        goto done;
    }
    for (int q = 0, j = 0; q < nprog; q++)
        for (int k = 0; k < progs[q]->npop; k++, j++) {
            owner[j] = q;
            kk[j] = k;
            gslot[j] = progs[q]->pop[k].fn == RX_F_POP_GINI ? ngini++ : -1;
        }
    /* the same values wanted twice (pop_count(state == I) and pop_mean(state == I)) are computed once: rep[j] is the
     * first aggregate with the same program */
    for (int j = 0; j < total; j++) {
        rep[j] = j;
        for (int i = 0; i < j; i++)
            if (rep[i] == i && vprog[i]->ncode == vprog[j]->ncode && vprog[i]->type == vprog[j]->type &&
                memcmp(vprog[i]->code, vprog[j]->code, sizeof *vprog[j]->code * (size_t)vprog[j]->ncode) == 0) {
                rep[j] = i;
                break;
            }
    }
    if (ngini && !(gv = malloc(sizeof *gv * (size_t)(n ? n : 1) * (size_t)ngini))) {
        rc = agora_error_set(err, AGORA_ENOMEM, progs[0]->where, "out of memory");
        goto done;
    }
    const int threads = ctx->threads > 0 ? ctx->threads : 1;
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t bi = 0; bi < nblocks; bi++) {
        union {
            double r[POP_BLOCK];
            int64_t i[POP_BLOCK];
            uint8_t b[POP_BLOCK];
        } buf;
        const int64_t i0 = bi * POP_BLOCK, i1 = i0 + POP_BLOCK < n ? i0 + POP_BLOCK : n;
        agora_rx_ctx cc = *ctx;
        cc.pop = NULL;
        cc.out_base = i0;
        for (int r = 0; r < total; r++) {
            if (rep[r] != r)
                continue;
            agora_rx_fault f;
            const int faulted = vfn[r](vprog[r], &cc, i0, i1, &buf, &f) != 0;
            for (int j = r; j < total; j++) {
                const int q = owner[j];
                if (rep[j] != r || bad[bi * nprog + q])
                    continue;
                if (faulted) {
                    bad[bi * nprog + q] = 1; /* the caller asks agora__rx_pop_aggregates which fault comes first */
                    continue;
                }
                fold_into(&progs[q]->pop[kk[j]], vprog[r]->type, &buf, i0, i1,
                          gslot[j] >= 0 ? gv + (size_t)gslot[j] * (size_t)n : NULL, &parts[bi * total + j]);
            }
        }
    }
    for (int64_t bi = 0; bi < nblocks; bi++)
        for (int q = 0; q < nprog; q++)
            if (bad[bi * nprog + q])
                ok[q] = 0;
    for (int j = 0; j < total; j++)
        if (ok[owner[j]] && pop_finish(progs[owner[j]], kk[j], parts + j, total, nblocks,
                                       gslot[j] >= 0 ? gv + (size_t)gslot[j] * (size_t)n : NULL, ctx, &out[j], NULL))
            ok[owner[j]] = 0;
done:
    free(gv);
    free(owner);
    free(kk);
    free(gslot);
    free(rep);
    free(parts);
    free(bad);
    return rc;
}

int agora__rx_fault_error(const agora__rx_prog *prog, const agora_rx_fault *f, agora_error *err)
{
    char who[96] = "";
    if (prog->rule_name[0])
        snprintf(who, sizeof who, " (%s)", prog->rule_name);
    char agent[48];
    if (f->agent >= 0)
        snprintf(agent, sizeof agent, "agent %lld", (long long)f->agent);
    else
        snprintf(agent, sizeof agent, "the population");
    const char *where = prog->where[0] ? prog->where : NULL;
    const char *op = f->op ? f->op : "?";
    if (strcmp(op, "%") == 0)
        agora_error_set(err, AGORA_ERANGE, where, "rule %d%s: %% by zero for %s at step %lld", f->rule, who, agent,
                        (long long)f->step);
    else if (isfinite(f->value))
        agora_error_set(err, AGORA_ERANGE, where, "rule %d%s: %s: %.17g is out of range for %s at step %lld", f->rule,
                        who, op, f->value, agent, (long long)f->step);
    else if (strcmp(op, "bernoulli") == 0 || strcmp(op, "binomial") == 0 || strcmp(op, "floor") == 0 ||
             strcmp(op, "ceil") == 0 || strcmp(op, "round") == 0)
        agora_error_set(err, AGORA_ERANGE, where, "rule %d%s: %s of %s for %s at step %lld", f->rule, who, op,
                        isnan(f->value) ? "nan"
                        : f->value > 0  ? "inf"
                                        : "-inf",
                        agent, (long long)f->step);
    else
        agora_error_set(err, AGORA_ERANGE, where, "rule %d%s: %s gave %s for %s at step %lld", f->rule, who, op,
                        isnan(f->value) ? "nan"
                        : f->value > 0  ? "inf"
                                        : "-inf",
                        agent, (long long)f->step);
    if (err) {
        err->line = f->line;
        err->column = f->column;
    }
    return AGORA_ERANGE;
}
