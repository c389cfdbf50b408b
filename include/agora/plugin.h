/* agora — C plug-ins: models compiled outside agora, loaded at run time.
 *
 * A plug-in is a shared object built against the installed library (CMake: find_package(agora CONFIG) and
 * agora::agora; or pkg-config agora) that defines one or more agora_model structs and exports two symbols:
 *
 *     #include <agora/agora.h>
 *
 *     static const agora_model voter = {.name = "voter", ...};
 *
 *     AGORA_PLUGIN_ABI_DEFINE();
 *
 *     AGORA_PLUGIN_EXPORT int agora_plugin_init(const agora_plugin_host *host, agora_error *err)
 *     {
 *         return host->register_model(host, &voter, err);
 *     }
 *
 * agora_plugin_load (the CLI's --plugin FILE.so) opens the file, reads agora_plugin_abi and refuses a plug-in built
 * with another AGORA_MODEL_ABI before running any of its code, then calls agora_plugin_init, which registers its
 * models through host->register_model. Registration is all or nothing: the models are checked as
 * agora_model_register checks them while init runs, and enter the registry only when init returns 0. A plug-in is
 * never unloaded (its models must outlive every world), so loading one is a decision of the program — the CLI
 * loads only what its own command line or AGORA_PLUGINS names; an MCP client can never load one.
 *
 * Register through host->register_model, not agora_model_register: the host may be a program that carries agora
 * statically (the `agora` command does), and host->register_model always reaches the registry of the agora that
 * loads the plug-in. */
#ifndef AGORA_PLUGIN_H
#define AGORA_PLUGIN_H

#include "agora/error.h"
#include "agora/export.h"
#include "agora/model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Default visibility for the plug-in's two symbols, even when it is built with -fvisibility=hidden; C linkage from
 * C++ too. */
#if defined(__GNUC__) || defined(__clang__)
#define AGORA_PLUGIN_VISIBLE __attribute__((visibility("default")))
#else
#define AGORA_PLUGIN_VISIBLE
#endif
#ifdef __cplusplus
#define AGORA_PLUGIN_EXPORT extern "C" AGORA_PLUGIN_VISIBLE
#else
#define AGORA_PLUGIN_EXPORT AGORA_PLUGIN_VISIBLE
#endif

/* Defines agora_plugin_abi = AGORA_MODEL_ABI, the ABI the plug-in is built with; put it in exactly one of the
 * plug-in's source files. */
#define AGORA_PLUGIN_ABI_DEFINE() AGORA_PLUGIN_EXPORT const int agora_plugin_abi = AGORA_MODEL_ABI

/* What the loading agora hands agora_plugin_init; valid only during the call. Its layout is part of
 * AGORA_MODEL_ABI. */
typedef struct agora_plugin_host agora_plugin_host;
struct agora_plugin_host {
    int abi;             /* the AGORA_MODEL_ABI agora was built with (the loader has checked it equals the plug-in's) */
    const char *version; /* agora_version() of the loading agora, e.g. "0.1.0" */
    const char *path;    /* the plug-in file, as an absolute path */
    /* Registers a model (see agora_model_register for the checks and the lifetime rule: point at static data). The
     * models of a plug-in enter the registry together when agora_plugin_init returns 0, and none does otherwise. */
    int (*register_model)(const agora_plugin_host *host, const agora_model *m, agora_error *err);
    void *loader; /* the loader's own; not for the plug-in */
};

/* The two symbols a plug-in exports. init returns 0, or a negative AGORA_E* code with err filled in (what failed;
 * the loader adds the file name). */
AGORA_PLUGIN_VISIBLE extern const int agora_plugin_abi;
AGORA_PLUGIN_VISIBLE int agora_plugin_init(const agora_plugin_host *host, agora_error *err);

/* Loads the plug-in at `path` and registers its models. Loading a file already loaded (the same file by any path)
 * does nothing and returns 0. Thread-safe; a plug-in stays loaded for the life of the process. Errors, each with
 * err->where = path: AGORA_ENOTFOUND (no such file), AGORA_EINVAL (not a shared object; one that cannot be loaded,
 * e.g. a missing library or symbol, with the system's reason; no agora_plugin_init or no agora_plugin_abi: not an
 * agora plug-in; built for another AGORA_MODEL_ABI: "built for agora model ABI 1, this agora has ABI 2; rebuild the
 * plug-in against this version"; a model that fails agora_model_register's checks, such as a name already taken),
 * AGORA_ERANGE (too many models), or what agora_plugin_init returned. On error nothing is registered and the file
 * is closed again. */
AGORA_API int agora_plugin_load(const char *path, agora_error *err);

#ifdef __cplusplus
}
#endif
#endif
