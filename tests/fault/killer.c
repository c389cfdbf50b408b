/* A fault injector for tests: LD_PRELOAD this library and set AGORA_FAULT_KILL_AFTER_FLUSHES=K, and the process
 * kills itself with SIGKILL once its K-th H5Fflush has returned (a run flushes its file every `flush_every` steps
 * and at every checkpoint), or AGORA_FAULT_KILL_DELAY_US microseconds later, in the middle of whatever it does
 * then. AGORA_FAULT_KILL_SIGNAL=N sends signal N instead (2: a Ctrl-C at a known step). AGORA_FAULT_KILL_GROUP=1
 * sends it to the whole process group (start the command under setsid): a sweep and its workers, killed when one
 * worker has flushed K times (each process counts its own flushes). A kill placed by what the run has done, not by the clock, lands at the same point on a fast machine and a
 * slow one, so a test of resuming a killed run does not depend on how fast the machine is. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

typedef long long hid_like; /* hid_t is int64_t in HDF5 >= 1.10 */
typedef int scope_like;     /* H5F_scope_t, an enum */

static long long after = -2; /* -2: not read yet; -1: never */
static long long delay_us;
static int signo = SIGKILL;
static pid_t target; /* 0: the process group; else this process */

static void *kill_later(void *arg)
{
    (void)arg;
    struct timespec ts = {(time_t)(delay_us / 1000000), (long)(delay_us % 1000000) * 1000};
    nanosleep(&ts, NULL);
    kill(target, signo);
    return NULL;
}

int H5Fflush(hid_like object, scope_like scope)
{
    static int (*real)(hid_like, scope_like);
    if (!real)
        real = (int (*)(hid_like, scope_like))dlsym(RTLD_NEXT, "H5Fflush");
    if (after == -2) {
        const char *k = getenv("AGORA_FAULT_KILL_AFTER_FLUSHES"), *d = getenv("AGORA_FAULT_KILL_DELAY_US");
        after = k && *k ? atoll(k) : -1;
        delay_us = d && *d ? atoll(d) : 0;
        const char *grp = getenv("AGORA_FAULT_KILL_GROUP");
        target = grp && *grp == '1' ? 0 : getpid();
        const char *g = getenv("AGORA_FAULT_KILL_SIGNAL");
        if (g && *g)
            signo = atoi(g);
    }
    const int rc = real(object, scope);
    if (after > 0 && --after == 0) {
        pthread_t th;
        if (delay_us <= 0 || pthread_create(&th, NULL, kill_later, NULL) != 0)
            kill(target, signo);
    }
    return rc;
}
