/* agora — libFuzzer harness for the JSON Schema validator (src/core/schema.c): agora_schema_check on a schema,
 * then agora_schema_validate of an instance against it (with and without a path).
 *
 * Input: the schema as JSON, a line "~~~~", then the instance as JSON (any value). Without a separator the schema is
 * validated against itself. Invariants: every failure has a message and its code; validate refuses
 * (AGORA_EINVAL) exactly the schemas check refuses; a validation error is AGORA_ESCHEMA and names a path starting
 * with the one given. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agora/agora.h"
#include "fuzz_util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    agora_init();
    return 0;
}

static void validate(const json_t *schema, const json_t *instance, const char *path, int checked)
{
    agora_error err;
    char buf[1024];
    agora_error_clear(&err);
    int rc = agora_schema_validate(schema, instance, path, &err);
    fuzz_check_error(rc, &err, "agora_schema_validate");
    if (!checked) { /* a schema agora_schema_check refuses is refused by validate too */
        if (rc != AGORA_EINVAL && rc != AGORA_ENOMEM)
            fuzz_fail("agora_schema_validate returned %d for a schema agora_schema_check refuses", rc);
        return;
    }
    if (rc == 0)
        return;
    if (rc != AGORA_ESCHEMA && rc != AGORA_ENOMEM)
        fuzz_fail("agora_schema_validate returned %d (%s)", rc, err.msg);
    if (path && path[0] && strncmp(err.where, path, strlen(path)) != 0)
        fuzz_fail("a validation error at \"%s\" does not start with the path \"%s\"", err.where, path);
    agora_error_format(&err, buf, sizeof buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_part parts[2];
    int n = fuzz_split(data, size, parts, 2);
    json_error_t je;
    const size_t flags = JSON_DECODE_ANY | JSON_ALLOW_NUL;
    json_t *schema = json_loadb(parts[0].s, parts[0].len, flags, &je);
    json_t *instance = n > 1 ? json_loadb(parts[1].s, parts[1].len, flags, &je) : json_incref(schema);
    if (schema) {
        agora_error err;
        agora_error_clear(&err);
        int rc = agora_schema_check(schema, &err);
        fuzz_check_error(rc, &err, "agora_schema_check");
        if (instance) {
            validate(schema, instance, "arguments", rc == 0);
            validate(schema, instance, NULL, rc == 0);
        }
    }
    json_decref(schema);
    json_decref(instance);
    fuzz_parts_free(parts, n);
    return 0;
}
