/* agora — agora_interact_run: an interactions scenario as a session (agora/session.h) recorded to its run file and
 * run round by round to its end, or until cancelled or stopped between rounds. The rounds themselves are
 * src/interact/interact.c's. */
#include <stdio.h>
#include <string.h>

#include "agora/interact.h"
#include "agora/session.h"
#include "interact/ixrun.h"
#include "runner/sessionint.h"

int agora_interact_run(const agora_scenario *sc, const agora_interact_options *opt, agora_interact_result *res,
                       agora_error *err)
{
    static const agora_interact_options none;
    agora_session_options so = {.recorder = AGORA_RECORD_FILE, .interact = opt ? opt : &none};
    agora_session *s = NULL;
    int rc = agora__ix_mode_check(sc, err);
    if (rc == 0)
        rc = agora_session_open(sc, &so, &s, err);
    if (rc) {
        memset(res, 0, sizeof *res);
        snprintf(res->status, sizeof res->status, "failed");
        const char *path = opt && opt->output ? opt->output
                                              : json_string_value(json_object_get(
                                                    json_object_get(agora_scenario_config(sc), "output"), "path"));
        snprintf(res->path, sizeof res->path, "%s", path ? path : "");
        return rc;
    }
    rc = agora_session_run_until(s, -1, NULL, err);
    return agora__session_close_ix(s, rc, NULL, res, err);
}
