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

/* An agora_state in memory: named parts, as a checkpoint file holds them (agora_world_save, agora_world_load). A
 * part saved twice fails the test; a load asks for a part by name and gets an error if it is missing or has another
 * size. Zero-initialise, use test_mem_state_of(&m) as the agora_state, test_mem_free(&m) after. */
typedef struct test_mem_state {
    int n, cap;
    char **name;
    void **data;
    size_t *bytes;
} test_mem_state;

agora_state test_mem_state_of(test_mem_state *m);
int test_mem_has(const test_mem_state *m, const char *name);
void test_mem_free(test_mem_state *m);

#endif
