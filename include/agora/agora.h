/* agora — hybrid agent-based simulation: the public API.
 *
 * This umbrella header only includes the others. Link with libagora (pkg-config: agora). */
#ifndef AGORA_AGORA_H
#define AGORA_AGORA_H

#include "agora/checkpoint.h"
#include "agora/error.h"
#include "agora/export.h"
#include "agora/interact.h"
#include "agora/log.h"
#include "agora/llm.h"
#include "agora/llmcall.h"
#include "agora/matching.h"
#include "agora/mcp.h"
#include "agora/model.h"
#include "agora/output.h"
#include "agora/persona.h"
#include "agora/plugin.h"
#include "agora/rng.h"
#include "agora/run.h"
#include "agora/scenario.h"
#include "agora/schema.h"
#include "agora/session.h"
#include "agora/space.h"
#include "agora/version.h"
#include "agora/world.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The library's version string ("0.1.0"), which may differ from the AGORA_VERSION the caller compiled against. */
AGORA_API const char *agora_version(void);

/* One-time process set-up: turns off GSL's and igraph's aborting error handlers. Idempotent and thread-safe; the
 * library calls it itself where needed, but a program may call it first. */
AGORA_API void agora_init(void);

#ifdef __cplusplus
}
#endif
#endif
