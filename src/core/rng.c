/* agora — counter-based RNG: integer thresholds and the gsl_rng adapter (the generator itself is inline in rng.h).
 *
 * The adapter's state is one SplitMix64 stream: a base from agora_rng(key, step, agent, stream) and a counter.
 * Output i is agora_rng_at(base, i) >> 32, so a reseeded adapter gives GSL distributions a sequence that is a pure
 * function of the counters. */
#include <math.h>

#include "agora/rng.h"
#include "agora/rng_gsl.h"

uint32_t agora_rng_threshold31(double p)
{
    if (!(p > 0.0)) /* also catches NaN */
        return 0;
    if (p >= 1.0)
        return UINT32_C(1) << 31;
    double t = floor(p * 2147483648.0 + 0.5);
    if (t > 2147483648.0)
        t = 2147483648.0;
    return (uint32_t)t;
}

typedef struct {
    uint64_t base, i;
} gsl_adapter_state;

static void adapter_set(void *vstate, unsigned long seed)
{
    gsl_adapter_state *s = vstate;
    s->base = agora_rng_mix64((uint64_t)seed + AGORA_RNG_GAMMA);
    s->i = 0;
}

static unsigned long adapter_get(void *vstate)
{
    gsl_adapter_state *s = vstate;
    return (unsigned long)(agora_rng_at(s->base, s->i++) >> 32);
}

static double adapter_get_double(void *vstate)
{
    gsl_adapter_state *s = vstate;
    return agora_rng_u01(agora_rng_at(s->base, s->i++));
}

static const gsl_rng_type adapter_type = {
    "agora-splitmix64", 0xFFFFFFFFUL, 0, sizeof(gsl_adapter_state), adapter_set, adapter_get, adapter_get_double};

const gsl_rng_type *agora_rng_gsl_type(void)
{
    return &adapter_type;
}

gsl_rng *agora_rng_gsl_alloc(void)
{
    return gsl_rng_alloc(&adapter_type);
}

void agora_rng_gsl_reseed(gsl_rng *r, agora_rng_key key, uint64_t step, uint64_t agent, uint32_t stream)
{
    gsl_adapter_state *s = r->state;
    s->base = agora_rng(key, step, agent, stream);
    s->i = 0;
}
