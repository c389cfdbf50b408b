/* agora — per-CPU code paths for hot loops.
 *
 * AGORA_HOT marks a hot function for GCC's function multi-versioning: it is compiled for x86-64-v4 (AVX-512),
 * x86-64-v3 (AVX2) and baseline x86-64, and the loader picks the best the CPU has. The default build therefore runs
 * on any x86-64 and still vectorises wide where it can. It is off under sanitizers, with -march=native (already
 * specific) and off x86-64. */
#ifndef AGORA_CORE_SIMD_H
#define AGORA_CORE_SIMD_H

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__) && \
    !defined(__AVX2__) && !defined(AGORA_NO_CLONES)
#define AGORA_HOT __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define AGORA_HOT
#endif

#endif
