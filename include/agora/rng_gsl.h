/* agora — a gsl_rng adapter over the counter-based generator.
 *
 * GSL's distributions (binomial, gamma, Poisson, ...) take a gsl_rng. This adapter is a gsl_rng whose sequence is a
 * SplitMix64 stream started from agora_rng(key, step, agent, stream): reseed it per (step, agent) inside a loop and
 * the draws are a pure function of those counters, whatever the thread count. Give every thread its own gsl_rng. */
#ifndef AGORA_RNG_GSL_H
#define AGORA_RNG_GSL_H

#include <gsl/gsl_rng.h>

#include "agora/rng.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The adapter's type: 32-bit outputs (min 0, max 2^32-1). */
AGORA_API const gsl_rng_type *agora_rng_gsl_type(void);

/* A new adapter generator, owned by the caller and freed with gsl_rng_free(); NULL when out of memory. */
AGORA_API gsl_rng *agora_rng_gsl_alloc(void);

/* Restarts r at the sequence of (key, step, agent, stream). */
AGORA_API void agora_rng_gsl_reseed(gsl_rng *r, agora_rng_key key, uint64_t step, uint64_t agent, uint32_t stream);

#ifdef __cplusplus
}
#endif
#endif
