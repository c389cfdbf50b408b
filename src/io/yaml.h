/* agora — YAML (and JSON) text to one jansson tree, with the source position of every node kept aside.
 *
 * Scenario files, personas files and anything else a person writes by hand go through here, so that a checker that
 * works on the JSON tree (and reports a dotted key path such as "interventions[0].action.fraction") can still name
 * the file, line and column. The tree follows the YAML 1.2 core schema: plain scalars become null, booleans,
 * integers, reals or strings; quoted and block scalars are strings. Positions live in a location map keyed by that
 * same dotted path ("params.beta", "interventions[0]", "" for the root).
 *
 * Internal API (agora__ prefix): the library's modules and the tests use it; it is not exported. */
#ifndef AGORA_IO_YAML_H
#define AGORA_IO_YAML_H

#include <stddef.h>

#include <jansson.h>

#include "agora/error.h"

/* Dotted key path -> 1-based line and column of a node's value and, for mapping entries, of its key. */
typedef struct agora__locmap agora__locmap;

/* Parses `len` bytes of YAML text (a JSON text is YAML too) holding at most one document.
 *
 * On success returns 0, sets *root to a new reference (or to NULL when the text holds no document at all: an empty
 * file or only comments; the caller decides whether that is an error) and, when `locs` is not NULL, *locs to a new
 * location map owned by the caller (agora__locmap_free). The root is recorded at line 1, column 1: it stands for
 * the whole document, so "a required top-level key is missing" points at the top of the file.
 *
 * `name` (a file path, or any label such as "--set params.beta=0.1"; NULL reads as "<text>") goes into err->where.
 * When it ends in ".json", jansson decides whether the text is valid (YAML accepts much that JSON does not, such
 * as comments or `{"b": }`): if jansson refuses it, jansson's message, line and column are reported; if jansson
 * accepts a text that libyaml refuses (surrogate-pair escapes, keys over 1024 characters), jansson's tree is
 * returned with an empty location map (errors in it then carry no line). A blank .json text has no document.
 *
 * Errors, all AGORA_EPARSE with err->where = name and err->line/column set, unless noted:
 *   "syntax error: <libyaml's problem>" (with libyaml's context when it gives one);
 *   "<path>: duplicate key (first given at line L)", at the second key;
 *   "<path>: keys must be strings, not lists or mappings";
 *   "<path>: non-finite numbers are not allowed" (.inf, .nan and friends; jansson cannot hold them);
 *   "<path>: integer out of range" (beyond 64 bits), "<path>: number out of range" (a real that overflows);
 *   "<path>: unsupported tag ..." and "... is not a valid !!int" (explicit tags that do not fit);
 *   "more than one document" (a second "---");
 *   "<path>: alias *a refers to no complete node before it", "too deeply nested", "aliases expand to too many
 *   nodes" (a guard against alias bombs);
 *   AGORA_ENOMEM. */
int agora__yaml_parse(const char *text, size_t len, const char *name, json_t **root, agora__locmap **locs,
                      agora_error *err);

/* Looks up `path` ("params.beta", "interventions[0].at", "" for the root). When it was recorded, writes its key's
 * position if want_key is set and it has one (a mapping entry), else its value's position, and returns 0. When it
 * was not (a missing key, or a value created by an override), walks up to the nearest recorded ancestor, writes
 * that ancestor's key position when it has one (the entry that lacks something) or else its value position, and
 * returns 1. Returns AGORA_ENOTFOUND with *line = *col = 0 when nothing on the way is recorded (an empty map, or
 * locs NULL). */
int agora__locmap_find(const agora__locmap *locs, const char *path, int *line, int *col, int want_key);

/* Number of recorded nodes (tests use it). */
size_t agora__locmap_count(const agora__locmap *locs);

/* Frees a location map; NULL is allowed. */
void agora__locmap_free(agora__locmap *locs);

#endif
