/* agora — checkpoints of a run: the state at one step, written every N steps (`agora run --checkpoint-every N`) to
 * RUN.h5.ckpt beside the run file, so that a run killed at any moment (SIGKILL, a node failure) goes on from its last
 * checkpoint (`agora run --resume RUN.h5`) and ends with exactly the datasets of an uninterrupted run.
 *
 * The file holds the world (agora_world_save: time and model state) and a JSON object of the run loop's own state
 * (the step, where the run file stood, the summary so far, the personas' memory and counters). It is replaced
 * atomically: a kill while writing leaves the previous checkpoint. */
#ifndef AGORA_CHECKPOINT_H
#define AGORA_CHECKPOINT_H

#include <jansson.h>

#include "agora/error.h"
#include "agora/export.h"
#include "agora/world.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Writes the checkpoint of `w` and `run` (any JSON object) to `path`, through path.tmp and a rename. Errors:
 * AGORA_EIO, AGORA_EHDF5, AGORA_EUNSUPPORTED (the model cannot save its state). */
AGORA_API int agora_checkpoint_write(const char *path, const agora_world *w, const json_t *run, agora_error *err);

/* Reads the run object of a checkpoint into *run (a new reference). Errors: AGORA_ENOTFOUND (no such file),
 * AGORA_EIO, AGORA_EINVAL (not a checkpoint of this format). */
AGORA_API int agora_checkpoint_read(const char *path, json_t **run, agora_error *err);

/* Loads the checkpoint's world into `w`, a world just created from the same configuration (agora_world_load). */
AGORA_API int agora_checkpoint_load_world(const char *path, agora_world *w, agora_error *err);

#ifdef __cplusplus
}
#endif
#endif
