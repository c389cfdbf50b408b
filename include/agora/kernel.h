/* agora — the kernel layer in one include: errors, logging, the counter RNG, JSON Schema validation, spaces and
 * their stencils, random matchings, the model interface and its SDK, worlds and their checkpoints.
 *
 * The kernel needs jansson and OpenMP only; nothing here reaches up to the layers above it (scenario files and HDF5
 * output in io, the LLM client and personas, the runner, MCP and the CLI). Models include this header, not
 * agora.h, and tests/cli_layers.sh checks that no kernel header includes another layer's. */
#ifndef AGORA_KERNEL_H
#define AGORA_KERNEL_H

#include "agora/checkpoint.h"
#include "agora/error.h"
#include "agora/export.h"
#include "agora/log.h"
#include "agora/matching.h"
#include "agora/model.h"
#include "agora/rng.h"
#include "agora/schema.h"
#include "agora/space.h"
#include "agora/version.h"
#include "agora/world.h"

#endif
