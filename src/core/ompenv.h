/* agora — the OpenMP wait policy the agora programs (the CLI, the benchmarks) start with.
 *
 * OpenMP threads waiting at a barrier spin by default (libgomp: some 300 000 rounds before they sleep). On a machine
 * where another process holds one of the cores, a spinning thread that the scheduler has set aside holds up every
 * step: a 2-thread SIR grid ran at 0.35-0.8 x the speed of 1 thread beside one CPU-bound process
 * (bench/README.md). Threads that sleep at once (OMP_WAIT_POLICY=PASSIVE) are woken when work comes and get the core
 * promptly, so 2 threads stay at least as fast as 1 under load, and on an idle machine the measured speed-up is the
 * same (1.9 x). libgomp reads the policy once, when the program loads, so a program that wants PASSIVE without the
 * user having chosen a policy starts itself again with it set. A user's OMP_WAIT_POLICY (or GOMP_SPINCOUNT) is left
 * as it is: OMP_WAIT_POLICY=ACTIVE brings back spinning. */
#ifndef AGORA_CORE_OMPENV_H
#define AGORA_CORE_OMPENV_H

#include <stdlib.h>
#include <unistd.h>

/* Call first thing in main: returns only when the policy is in place (or cannot be, e.g. no /proc). */
static inline void agora__omp_passive_by_default(char **argv)
{
    (void)argv;
    if (getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT") || getenv("AGORA_OMP_REEXEC"))
        return;
    if (setenv("OMP_WAIT_POLICY", "PASSIVE", 1) != 0 || setenv("AGORA_OMP_REEXEC", "1", 1) != 0)
        return;
    execv("/proc/self/exe", argv);
    /* not restarted: go on with the default policy, and without the marker so children may try again */
    unsetenv("OMP_WAIT_POLICY");
    unsetenv("AGORA_OMP_REEXEC");
}

#endif
