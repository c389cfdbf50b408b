/* Shared helpers for the cmocka tests: temporary paths, loading a scenario from text, comparing arrays. */
#ifndef AGORA_TEST_SUPPORT_H
#define AGORA_TEST_SUPPORT_H

#include <stddef.h>
#include <stdint.h>

#include "agora/agora.h"

/* A path under the build tree's test scratch directory (created on demand): AGORA_TEST_TMP/<name>. Static buffer,
 * one per call site is enough for tests. */
const char *test_tmp_path(const char *name);

/* A path inside the source tree: AGORA_SOURCE_DIR/<rel>. Static buffer. */
const char *test_src_path(const char *rel);

/* Loads a scenario from YAML text and fails the test with the error if it does not load. */
agora_scenario *test_scenario(const char *yaml);

/* Creates a world from YAML scenario text (space, model, params, seed); fails the test on error. */
agora_world *test_world(const char *yaml, int threads);

/* JSON from printf-style text written with ' for " (so that tests can write {'a': 1}). New reference; fails the
 * test on a syntax error. */
json_t *test_json(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

/* SIR: the infected neighbours of agent i in the state array st, by brute force from the grid's geometry or the
 * graph's CSR rows (the reference the models' fast counts are checked against). */
int test_sir_infected_neighbours(const agora_space *sp, const uint8_t *st, int64_t i);

#endif
