/* A fault injector for tests: LD_PRELOAD this library and set AGORA_FAULT_ENOSPC_AFTER=N and AGORA_FAULT_DIR=DIR,
 * and every write to a file on DIR's file system fails with ENOSPC ("No space left on device") once N bytes have
 * been written there, as on a disk that fills while the run writes. Other writes (terminals, pipes, files
 * elsewhere, files in memory) pass. It shows what no free-
 * space check can foresee: another process taking the last blocks between the check and the write. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

static long long budget = -2; /* -2: not read yet; -1: no limit */
static dev_t device;

static int limited(int fd, size_t n)
{
    if (budget == -2) {
        const char *s = getenv("AGORA_FAULT_ENOSPC_AFTER"), *dir = getenv("AGORA_FAULT_DIR");
        struct stat d;
        budget = s && *s && dir && stat(dir, &d) == 0 ? atoll(s) : -1;
        if (budget >= 0)
            device = d.st_dev;
    }
    struct stat st;
    if (budget < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_dev != device)
        return 0;
    if ((long long)n > budget) {
        budget = 0;
        return 1;
    }
    budget -= (long long)n;
    return 0;
}

ssize_t write(int fd, const void *buf, size_t n)
{
    static ssize_t (*real)(int, const void *, size_t);
    if (!real)
        real = (ssize_t(*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
    if (limited(fd, n)) {
        errno = ENOSPC;
        return -1;
    }
    return real(fd, buf, n);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
    static ssize_t (*real)(int, const void *, size_t, off_t);
    if (!real)
        real = (ssize_t(*)(int, const void *, size_t, off_t))dlsym(RTLD_NEXT, "pwrite");
    if (limited(fd, n)) {
        errno = ENOSPC;
        return -1;
    }
    return real(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off)
{
    return pwrite(fd, buf, n, off);
}
