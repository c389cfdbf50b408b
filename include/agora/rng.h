/* agora — counter-based random numbers.
 *
 * Every draw is a pure function of (key, step, agent, stream): agora_rng(key, step, agent, stream) returns 64
 * random bits. Nothing is shared between threads, so a parallel loop gives the same result at any thread count
 * and in any schedule. The generator is SplitMix64 (Steele, Lea & Flood 2014): the agent-th output of the SplitMix64
 * sequence whose state starts at a per-(key, step, stream) base. SplitMix64's output function passes BigCrush; the
 * base is itself a SplitMix64 finalisation of an injective encoding of (key, step, stream), so distinct
 * (step, stream) pairs start unrelated sequences.
 *
 * Hot loops hoist the base out of the loop (agora_rng_base) and draw per agent with agora_rng_at: two 64-bit
 * multiplies, inlined, vectorisable. Probabilities are compared as 31-bit integers (agora_rng_threshold31), so a
 * Bernoulli trial is one compare and p = 0 and p = 1 are exact.
 *
 * Streams separate independent uses within a step (infection draws vs. initial seeding vs. an action); models pick
 * their own stream numbers below 2^16. */
#ifndef AGORA_RNG_H
#define AGORA_RNG_H

#include <stdint.h>

#include "agora/export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef uint64_t agora_rng_key;

#define AGORA_RNG_GAMMA UINT64_C(0x9E3779B97F4A7C15)

/* Streams used by the kernel itself; models use AGORA_RNG_STREAM_MODEL + k. */
enum {
    AGORA_RNG_STREAM_SPACE = 1,   /* graph generation */
    AGORA_RNG_STREAM_INIT = 2,    /* initial conditions */
    AGORA_RNG_STREAM_ACTION = 3,  /* actions applied at a step (vaccinate, seed_infection, ...) */
    AGORA_RNG_STREAM_MODEL = 16   /* first stream free for a model's step */
};

/* SplitMix64's finaliser: a bijection on 64-bit words with full avalanche. */
static inline uint64_t agora_rng_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

/* The key of a run from its seed. */
static inline agora_rng_key agora_rng_key_from_seed(uint64_t seed)
{
    return agora_rng_mix64(seed + AGORA_RNG_GAMMA);
}

/* Base state for (key, step, stream); step < 2^48 and stream < 2^16 make the encoding injective. */
static inline uint64_t agora_rng_base(agora_rng_key key, uint64_t step, uint32_t stream)
{
    return agora_rng_mix64(key ^ agora_rng_mix64((step << 16) ^ (uint64_t)(stream & 0xFFFFu)));
}

/* The agent-th draw of a base. */
static inline uint64_t agora_rng_at(uint64_t base, uint64_t agent)
{
    return agora_rng_mix64(base + (agent + 1) * AGORA_RNG_GAMMA);
}

/* 64 random bits for (key, step, agent, stream). */
static inline uint64_t agora_rng(agora_rng_key key, uint64_t step, uint64_t agent, uint32_t stream)
{
    return agora_rng_at(agora_rng_base(key, step, stream), agent);
}

/* A uniform double in [0, 1) from 64 bits (53 significant bits). */
static inline double agora_rng_u01(uint64_t bits)
{
    return (double)(bits >> 11) * 0x1.0p-53;
}

/* The 31-bit draw compared with thresholds: a Bernoulli(p) trial is `agora_rng_r31(bits) < agora_rng_threshold31(p)`. */
static inline uint32_t agora_rng_r31(uint64_t bits)
{
    return (uint32_t)(bits >> 33);
}

/* p in [0, 1] as an integer threshold in [0, 2^31]; p <= 0 gives 0 (never), p >= 1 gives 2^31 (always). */
AGORA_API uint32_t agora_rng_threshold31(double p);

/* An unbiased integer in [0, n) from 64 bits (Lemire's multiply-shift; bias below 2^-32 for n < 2^32). */
static inline uint64_t agora_rng_below(uint64_t bits, uint64_t n)
{
    return (uint64_t)(((unsigned __int128)bits * n) >> 64);
}

#ifdef __cplusplus
}
#endif
#endif
