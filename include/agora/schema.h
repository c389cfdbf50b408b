/* agora — a small JSON Schema validator over jansson.
 *
 * Validates what personas, scenarios and MCP clients send against a model's action schema. Supported keywords (a
 * subset of draft 2020-12, enough for structured-output schemas): type (a name or a list; "integer" accepts whole
 * reals), enum, const, minimum, maximum, exclusiveMinimum, exclusiveMaximum, minLength, maxLength, minItems, maxItems,
 * items, properties, required, additionalProperties (boolean or schema), anyOf, oneOf, allOf; title, description,
 * default and examples are ignored. Any other keyword is an error from agora_schema_check, so a schema never
 * silently means less than it says. */
#ifndef AGORA_SCHEMA_H
#define AGORA_SCHEMA_H

#include <jansson.h>

#include "agora/error.h"
#include "agora/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Checks that `schema` only uses supported keywords with well-formed values. AGORA_ESCHEMA with the keyword's path
 * in err->where otherwise. */
AGORA_API int agora_schema_check(const json_t *schema, agora_error *err);

/* Validates `instance`. On failure returns AGORA_ESCHEMA; err->where is the dotted path of the offending value,
 * starting with `path` (may be NULL or ""), e.g. "interventions[0].action.fraction", and err->msg says what was
 * expected and what was found: `expected a number <= 1, got 2`. Within anyOf/oneOf whose branches are told apart by
 * a `const` property (e.g. "action": {"const": "vaccinate"}), the error comes from the branch the instance names,
 * or lists the allowed names when it names none. */
AGORA_API int agora_schema_validate(const json_t *schema, const json_t *instance, const char *path, agora_error *err);

#ifdef __cplusplus
}
#endif
#endif
