/* agora — an interactions run in three parts, for the session engine (src/runner/session.c), which steps it round
 * by round: agora__ix_open (set-up, the run file, enrichment, the actors, the state at time 0), agora__ix_round
 * (one round: messages delivered, every actor's turn, the world engine, the metrics) and agora__ix_close (actions
 * cut short, the evaluation, the analytics, the file closed with its status). Implemented in interact.c. Internal. */
#ifndef AGORA_INTERACT_IXRUN_H
#define AGORA_INTERACT_IXRUN_H

#include <stdint.h>

#include "agora/error.h"
#include "agora/interact.h"
#include "agora/scenario.h"

/* AGORA_EINVAL, naming agora run, unless the scenario has mode: interactions. */
int agora__ix_mode_check(const agora_scenario *sc, agora_error *err);

/* `opt` must outlive the run. On failure nothing is left open (*out NULL). */
int agora__ix_open(const agora_scenario *sc, const agora_interact_options *opt, agora_interact **out,
                   agora_interact_result *res, agora_error *err);
/* One round; *stop is set when the run is to stop after it (cancelled, or the between_rounds hook said so). */
int agora__ix_round(agora_interact *ix, int *stop);
/* The rounds done, and the rounds of the scenario. */
int64_t agora__ix_round_now(const agora_interact *ix);
int64_t agora__ix_rounds(const agora_interact *ix);
/* Whether no more rounds may run: cancelled, the file failed, or the set-up failed after opening. */
int agora__ix_cancelled(const agora_interact *ix);
/* Closes and frees the run ("interrupted" when `interrupted` or short of its rounds; "failed" when rc). */
int agora__ix_close(agora_interact *ix, int rc, int interrupted, agora_interact_result *res, agora_error *err);

#endif
