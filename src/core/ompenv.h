/* agora — the OpenMP wait policy the agora programs (the CLI, the benchmarks) start with.
 *
 * OpenMP threads that wait at a barrier spin by default (libgomp: some 300 000 rounds before they sleep). That is
 * best on a machine of one's own, and worst on a shared one: beside one CPU-bound process on a 2-core machine, a
 * 2-thread SIR grid ran at 0.35-0.97 x the speed of 1 thread (bench/README.md), because a spinning thread the
 * scheduler has set aside holds up every barrier. Threads that sleep at once (OMP_WAIT_POLICY=PASSIVE) are woken when
 * work comes and get the core promptly: 1.00-1.12 x beside the same process, but on an idle machine each wake-up costs
 * a little (this VM: a 2-thread speed-up of about 1.7 x instead of 1.9 x). A short spin (GOMP_SPINCOUNT=3000, a few
 * microseconds, which covers the gaps between the loops of a step) keeps the idle speed-up.
 *
 * So the default follows the machine at start: when other processes are running (the kernel's count of runnable
 * tasks, sampled a few times, stays above this one), threads sleep at once; else they spin briefly. libgomp reads
 * the policy once, when the program loads, so the program sets it and starts itself again. A user's OMP_WAIT_POLICY
 * or GOMP_SPINCOUNT is left as it is (OMP_WAIT_POLICY=ACTIVE: spinning as before). */
#ifndef AGORA_CORE_OMPENV_H
#define AGORA_CORE_OMPENV_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The fewest runnable tasks of the whole machine over a few samples (this process counts as one); -1 unknown. */
static inline int agora__runnable_tasks(void)
{
    int least = -1;
    for (int k = 0; k < 4; k++) {
        FILE *f = fopen("/proc/stat", "r");
        char line[256];
        int n = -1;
        while (f && fgets(line, sizeof line, f))
            if (strncmp(line, "procs_running ", 14) == 0)
                n = atoi(line + 14);
        if (f)
            fclose(f);
        if (n >= 0 && (least < 0 || n < least))
            least = n;
        struct timespec ts = {0, 2000000L}; /* 2 ms apart: 6 ms at start in all */
        nanosleep(&ts, NULL);
    }
    return least;
}

/* Call first thing in main: returns only when the policy is in place (or cannot be, e.g. no /proc). */
static inline void agora__omp_wait_policy(char **argv)
{
    if (getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT") || getenv("AGORA_OMP_REEXEC"))
        return;
    const int busy = agora__runnable_tasks() > 1;
    if ((busy ? setenv("OMP_WAIT_POLICY", "PASSIVE", 1) : setenv("GOMP_SPINCOUNT", "3000", 1)) != 0 ||
        setenv("AGORA_OMP_REEXEC", busy ? "passive" : "short-spin", 1) != 0)
        return;
    execv("/proc/self/exe", argv);
    /* not restarted: go on with libgomp's default, and without the marker so children may try again */
    unsetenv(busy ? "OMP_WAIT_POLICY" : "GOMP_SPINCOUNT");
    unsetenv("AGORA_OMP_REEXEC");
}

#endif
