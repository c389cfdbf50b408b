/* agora — declarations shared between library modules but not part of the public API (agora__ prefix).
 * Tests link the static library and may call these. */
#ifndef AGORA_CORE_INTERNAL_H
#define AGORA_CORE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "agora/error.h"
#include "agora/model.h"
#include "agora/space.h"

/* The reason of the first igraph error on this thread since agora__igraph_reset (see init.c). */
const char *agora__igraph_reason(void);
void agora__igraph_reset(void);

/* A growing text (prompts, YAML): starts {0}; on out of memory the text stops growing. Free b.s with free(). */
typedef struct agora__buf {
    char *s;
    size_t n, cap;
} agora__buf;

/* Appends printf-style text. */
void agora__buf_add(agora__buf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Appends n bytes of s. */
void agora__buf_put(agora__buf *b, const char *s, size_t n);

/* Names that end up in file names and HDF5 paths (scenario names, actor ids): letters, digits, '_', '.' and '-'. */
int agora__name_char_ok(char c);
int agora__name_ok(const char *s); /* non-empty, every character as above */

/* Identifiers (model, parameter, metric, field and rule-language names): [A-Za-z_][A-Za-z0-9_]*, 1 to 63
 * characters, so that they are safe in HDF5 paths, YAML keys, expressions and file names. */
int agora__ident_ok(const char *s);

/* Texts cut to fit a buffer must not end inside a UTF-8 character: JSON (MCP replies, LLM request bodies) cannot hold
 * the broken sequence, and jansson then refuses the whole text. agora__utf8_prefix is the length of the longest
 * prefix of s, at most max bytes, that ends on a whole character; agora__utf8_trim drops a character cut off at the
 * end of s (what snprintf leaves when it truncates). */
size_t agora__utf8_prefix(const char *s, size_t max);
void agora__utf8_trim(char *s);

/* Replaces every byte of s that is not part of a UTF-8 character (as JSON allows them: no overlong forms, surrogates
 * or code points past U+10FFFF) with '?': for texts that quote bytes from elsewhere (jansson's error text quotes the
 * token it stopped in, which may end inside a character; a line of a binary file). */
void agora__utf8_clean(char *s);

/* "Did you mean": the optimal string alignment distance (Levenshtein with adjacent transpositions) between two
 * strings; 99 when either is longer than 63 bytes. */
int agora__edit_distance(const char *a, const char *b);

/* The closest of a set of candidate names to a misspelt word, offered one at a time: start, offer each candidate,
 * then read best (NULL when none is within max edits; the first of equally close candidates wins). */
typedef struct agora__suggest {
    const char *word;
    const char *best;
    int dist, max;
} agora__suggest;
void agora__suggest_start(agora__suggest *s, const char *word, int max);
void agora__suggest_offer(agora__suggest *s, const char *candidate);

/* Monotonic wall clock in seconds. */
double agora__now(void);

/* A JSON value as short text for messages: strings quoted, long values cut with "...". Returns buf. */
const char *agora__json_brief(const json_t *v, char *buf, size_t size);

/* json_dumps(v, flags) with reals written in 15 significant digits when that reads back to the same values (as it
 * does for every number a person typed), else in 17: short and still exact. Free with free(). */
char *agora__json_dumps(const json_t *v, size_t flags);

/* The JSON type of a value in words: "a number", "a string", "an object", ... */
const char *agora__json_kind(const json_t *v);

/* SHA-256, streaming: init, add bytes any number of times, then hex (64 lowercase digits and a NUL). */
typedef struct agora__sha256 {
    uint32_t h[8];
    uint64_t len;
    unsigned char buf[64];
    size_t fill;
} agora__sha256;
void agora__sha256_init(agora__sha256 *s);
void agora__sha256_add(agora__sha256 *s, const void *data, size_t n);
void agora__sha256_hex(agora__sha256 *s, char hex[65]);

/* Creates a directory and its parents (like mkdir -p); 0 or AGORA_EIO. */
int agora__mkdirs(const char *dir, agora_error *err);

/* Creates the parent directories of a file path; 0 or AGORA_EIO. */
int agora__mkdirs_for(const char *path, agora_error *err);

/* The model registry's internals (models/registry.c), shared with the plug-in loader (core/plugin.c). */
struct agora_model;
/* Every check agora_model_register makes except the name clash; AGORA_EINVAL with the reason. */
int agora__model_check(const struct agora_model *m, agora_error *err);
/* Adds ms[0 .. n) to the registry together, or none of them: AGORA_EINVAL when a name is taken (or given twice),
 * AGORA_ERANGE when the table is full. `from` is the origin agora_model_origin reports (NULL: ""), kept as given.
 * dry_run only checks. */
int agora__models_add(const struct agora_model *const *ms, int n, const char *from, int dry_run, agora_error *err);

/* The model SDK's store of a world (sdk.c): the arrays and scalar block an agora_model.sdk declares. The world creates
 * it before the model's init, swaps its double buffers after each step and destroys it with itself. */
typedef struct agora__sdk agora__sdk;
int agora__sdk_create(const agora_model *m, const agora_space *sp, agora__sdk **out, agora_error *err);
void agora__sdk_destroy(agora__sdk *s);
void agora__sdk_swap(agora__sdk *s);
/* The store of a world, NULL when its model has no SDK declaration (world.c). */
agora__sdk *agora__world_sdk(const agora_world *w);

/* The registry's lookup of models defined above the kernel (models/registry.c): agora_model_find asks `find` for a
 * name that is not a built-in or plug-in model's. The rule language sets it when it first registers a model. */
void agora__models_set_finder(const agora_model *(*find)(const char *name));

#endif
