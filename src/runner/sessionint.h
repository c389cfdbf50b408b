/* agora — what the runner's fronts need of the session engine beyond agora/session.h. Internal. */
#ifndef AGORA_RUNNER_SESSIONINT_H
#define AGORA_RUNNER_SESSIONINT_H

#include "agora/interact.h"
#include "agora/run.h"
#include "agora/session.h"

/* Closes an interactions session: its result as agora_interact_run gives it (`ixres`, may be NULL; free with
 * agora_interact_result_free) and as a run's (`res`, may be NULL). Frees the session. */
int agora__session_close_ix(agora_session *s, int rc, agora_run_result *res, agora_interact_result *ixres,
                            agora_error *err);

#endif
