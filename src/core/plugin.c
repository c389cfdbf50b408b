/* agora — the plug-in loader (include/agora/plugin.h): opens a shared object, checks the model ABI it was built
 * for before running any of its code, calls its agora_plugin_init and registers the models it offers, all of them
 * or none.
 *
 * A loaded plug-in is never closed: the registry holds pointers into it. The list of loaded files is, with the
 * registry (models/registry.c), the library's process-wide state; one mutex serialises loads, so the same file
 * loaded from two threads at once is loaded once. */
#define _XOPEN_SOURCE 700 /* realpath */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "agora/agora.h"
#include "core/internal.h"

enum { MAX_PLUGINS = 256 };

static struct {
    char *path; /* absolute, as realpath gives it */
    void *handle;
} loaded[MAX_PLUGINS];
static int n_loaded;
static pthread_mutex_t load_lock = PTHREAD_MUTEX_INITIALIZER;

/* The models one agora_plugin_init offers, held back until it returns 0. */
typedef struct staging {
    const agora_model *ms[AGORA_MODEL_MAX_REGISTERED];
    int n;
} staging;

static int host_register(const agora_plugin_host *host, const agora_model *m, agora_error *err)
{
    staging *st = host ? host->loader : NULL;
    if (!st)
        return agora_error_set(err, AGORA_EINVAL, NULL, "register_model: not the host agora_plugin_init was given");
    int rc = agora__model_check(m, err);
    if (rc != 0)
        return rc;
    if (st->n >= AGORA_MODEL_MAX_REGISTERED)
        return agora_error_set(err, AGORA_ERANGE, NULL, "too many registered models (at most %d)",
                               AGORA_MODEL_MAX_REGISTERED);
    st->ms[st->n] = m;
    /* A clash is reported here, to the plug-in, as well as when the models are added. */
    if ((rc = agora__models_add(st->ms, st->n + 1, host->path, 1, err)) != 0)
        return rc;
    st->n++;
    return 0;
}

/* Whether the file starts like an ELF object. */
static int looks_elf(const char *path)
{
    unsigned char magic[4] = {0};
    FILE *f = fopen(path, "rb");
    size_t got = f ? fread(magic, 1, sizeof magic, f) : 0;
    if (f)
        fclose(f);
    return got == 4 && memcmp(magic,
                              "\x7f"
                              "ELF",
                              4) == 0;
}

int agora_plugin_load(const char *path, agora_error *err)
{
    if (!path || !*path)
        return agora_error_set(err, AGORA_EINVAL, "plugin", "no plug-in file given");
    char real[PATH_MAX];
    struct stat sb;
    if (!realpath(path, real) || stat(real, &sb) != 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return agora_error_set(err, AGORA_ENOTFOUND, path, "no such plug-in file");
        return agora_error_set(err, AGORA_EIO, path, "cannot open the plug-in: %s", strerror(errno));
    }
    if (!S_ISREG(sb.st_mode))
        return agora_error_set(err, AGORA_EINVAL, path,
                               "not a plug-in: a directory or special file, not a shared "
                               "object");

    int rc = 0;
    void *h = NULL;
    char *keep = NULL;
    pthread_mutex_lock(&load_lock);
    for (int i = 0; i < n_loaded; i++)
        if (strcmp(loaded[i].path, real) == 0)
            goto done; /* loaded already: nothing to do */
    if (!looks_elf(real)) {
        rc = agora_error_set(err, AGORA_EINVAL, path,
                             "not a shared object (no ELF header): a plug-in is a .so built "
                             "against agora (see agora/plugin.h)");
        goto done;
    }
    dlerror();
    if (!(h = dlopen(real, RTLD_NOW | RTLD_LOCAL))) {
        const char *why = dlerror();
        rc = agora_error_set(err, AGORA_EINVAL, path, "cannot load the plug-in: %s", why ? why : "dlopen failed");
        goto done;
    }
    for (int i = 0; i < n_loaded; i++)
        if (loaded[i].handle == h) { /* the same file under another name (a hard link): loaded already */
            dlclose(h);
            h = NULL;
            goto done;
        }
    if (n_loaded >= MAX_PLUGINS) {
        rc = agora_error_set(err, AGORA_ERANGE, path, "too many plug-ins (at most %d)", MAX_PLUGINS);
        goto done;
    }
    int (*init)(const agora_plugin_host *, agora_error *) = NULL;
    /* POSIX's way to turn dlsym's object pointer into a function pointer. */
    *(void **)&init = dlsym(h, "agora_plugin_init");
    const int *abi = dlsym(h, "agora_plugin_abi");
    if (!init || !abi) {
        rc = agora_error_set(err, AGORA_EINVAL, path,
                             "not an agora plug-in: it exports no %s (see agora/plugin.h: AGORA_PLUGIN_ABI_DEFINE() "
                             "and AGORA_PLUGIN_EXPORT int agora_plugin_init(...))",
                             !init ? "agora_plugin_init" : "agora_plugin_abi");
        goto done;
    }
    if (*abi != AGORA_MODEL_ABI) {
        rc = agora_error_set(err, AGORA_EINVAL, path,
                             "built for agora model ABI %d, this agora has ABI %d; rebuild the plug-in against this "
                             "version (agora %s)",
                             *abi, AGORA_MODEL_ABI, agora_version());
        goto done;
    }
    if (!(keep = strdup(real))) {
        rc = agora_error_set(err, AGORA_ENOMEM, path, "out of memory");
        goto done;
    }
    staging *st = calloc(1, sizeof *st);
    if (!st) {
        rc = agora_error_set(err, AGORA_ENOMEM, path, "out of memory");
        goto done;
    }
    agora_plugin_host host = {.abi = AGORA_MODEL_ABI,
                              .version = agora_version(),
                              .path = keep,
                              .register_model = host_register,
                              .loader = st};
    agora_error e;
    agora_error_clear(&e);
    int irc = init(&host, &e);
    if (irc != 0) {
        rc = agora_error_set(err, irc < 0 ? irc : AGORA_EINVAL, path, "agora_plugin_init failed: %s",
                             e.msg[0] ? e.msg : "(it gave no reason)");
    } else if (st->n == 0) {
        rc = agora_error_set(err, AGORA_EINVAL, path,
                             "agora_plugin_init registered no model (call "
                             "host->register_model for each)");
    } else if ((rc = agora__models_add(st->ms, st->n, keep, 0, &e)) != 0) {
        agora_error_set(err, rc, path, "%s", e.msg); /* another registration took a name while init ran */
    }
    free(st);
    if (rc == 0) {
        loaded[n_loaded].path = keep;
        loaded[n_loaded++].handle = h;
        keep = NULL;
        h = NULL;
    }
done:
    if (h)
        dlclose(h);
    free(keep);
    pthread_mutex_unlock(&load_lock);
    return rc;
}
