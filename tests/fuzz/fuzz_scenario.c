/* agora — libFuzzer harness for the scenario loader: YAML and JSON text through agora_scenario_parse, then `--set`
 * overrides through agora_scenario_set_all and agora_scenario_set, then what a run reads from a loaded scenario
 * (the effective configuration, its hash, error locations).
 *
 * Input: the scenario text, optionally followed by a line "~~~~" and one assignment per line ("params.beta=0.1",
 * at most 8). The text is parsed twice, named fuzz.yaml (libyaml) and fuzz.json (jansson decides validity), so both
 * paths of the loader see every input. Invariants beyond "no crash, no leak, no UB": every failure has a message and
 * the code it returns; a set_all that fails leaves the scenario exactly as it was. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agora/agora.h"
#include "fuzz_util.h"

#define MAX_SETS 8

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    agora_init();
    fuzz_tmpdir();
    return 0;
}

static char *config_text(const agora_scenario *sc)
{
    return json_dumps(agora_scenario_config(sc), JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
}

/* The hash reads an edge-list file the scenario names; only files inside the scratch directory (plain names) are
 * read here, so that an input naming /dev/zero cannot hang the harness. */
static int hash_is_safe(const agora_scenario *sc)
{
    const json_t *space = json_object_get(agora_scenario_config(sc), "space");
    const char *path = json_string_value(json_object_get(space, "path"));
    return !path || (!strchr(path, '/') && strcmp(path, "..") != 0);
}

static void exercise(const agora_scenario *sc)
{
    char *text = config_text(sc);
    if (!text)
        fuzz_fail("a loaded scenario has no configuration");
    free(text);
    if (hash_is_safe(sc)) {
        char hex[65];
        agora_error err;
        agora_error_clear(&err);
        int rc = agora_scenario_hash(sc, hex, &err);
        fuzz_check_error(rc, &err, "agora_scenario_hash");
        if (rc == 0 && strlen(hex) != 64)
            fuzz_fail("agora_scenario_hash gave \"%s\"", hex);
    }
    (void)agora_scenario_text(sc);
    (void)agora_scenario_path(sc);
    (void)agora_scenario_base_dir(sc);
    (void)agora_scenario_model(sc);
    agora_error loc;
    agora_error_set(&loc, AGORA_ESCHEMA, "params.beta", "expected a number");
    agora_scenario_locate(sc, &loc);
}

static void one(const fuzz_part *text, const char *name, const char *const *sets, int n_sets)
{
    agora_scenario *sc = NULL;
    agora_error err;
    char buf[1024];
    agora_error_clear(&err);
    int rc = agora_scenario_parse(text->s, text->len, name, fuzz_tmpdir(), &sc, &err);
    fuzz_check_error(rc, &err, "agora_scenario_parse");
    agora_error_format(&err, buf, sizeof buf);
    if (rc != 0) {
        if (sc)
            fuzz_fail("agora_scenario_parse failed but returned a scenario");
        return;
    }
    exercise(sc);
    if (n_sets > 0) {
        char *before = config_text(sc);
        agora_error_clear(&err);
        rc = agora_scenario_set_all(sc, sets, n_sets, &err);
        fuzz_check_error(rc, &err, "agora_scenario_set_all");
        agora_error_format(&err, buf, sizeof buf);
        char *after = config_text(sc);
        if (rc != 0 && strcmp(before, after) != 0)
            fuzz_fail("a failed agora_scenario_set_all changed the scenario:\n%s\n%s", before, after);
        free(before);
        free(after);
        if (rc == 0)
            exercise(sc);
        /* one at a time: each is checked on its own (an override valid only with the others may fail here) */
        for (int i = 0; i < n_sets && i < 2; i++) {
            agora_error_clear(&err);
            rc = agora_scenario_set(sc, sets[i], &err);
            fuzz_check_error(rc, &err, "agora_scenario_set");
        }
    }
    agora_scenario_destroy(sc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_part parts[2];
    int n = fuzz_split(data, size, parts, 2);
    char *sets[MAX_SETS], *store = NULL;
    int n_sets = n > 1 ? fuzz_lines(parts[1].s, parts[1].len, sets, MAX_SETS, &store) : 0;
    one(&parts[0], "fuzz.yaml", (const char *const *)sets, n_sets);
    one(&parts[0], "fuzz.json", (const char *const *)sets, n_sets);
    free(store);
    fuzz_parts_free(parts, n);
    return 0;
}
