/* agora — what the scenario loader needs from the interactions engine: the checker of a `mode: interactions`
 * scenario. Internal (agora__ prefix). */
#ifndef AGORA_INTERACT_IXINTERNAL_H
#define AGORA_INTERACT_IXINTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "agora/error.h"

/* Checks the keys of an interactions scenario (see agora/interact.h) in `raw` and adds their effective values,
 * defaults filled in, to `cfg` (which already holds name, description and mode). Errors: AGORA_ESCHEMA with the key
 * path in err->where ("actors[2].id"). */
int agora__interact_check(const json_t *raw, const char *name, json_t *cfg, agora_error *err);

/* The round's time as text: "day 3" for round_unit day, "round 3" by default. */
void agora__interact_time(const json_t *cfg, int64_t round, char *buf, size_t size);

/* {"type": "object", "properties": props, "required": [every property], "additionalProperties": false}: the shape
 * OpenAI's strict structured output asks for. Takes props (a new reference). */
json_t *agora__ix_strict_object(json_t *props);

#endif
