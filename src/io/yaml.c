/* agora — YAML (and JSON) text to one jansson tree plus a location map (see io/yaml.h).
 *
 * This file owns the reading of hand-written configuration text: it drives libyaml's event parser, builds the
 * jansson tree node by node, resolves plain scalars with the YAML 1.2 core schema, expands aliases by copying the
 * anchored node, and records every node's dotted path with the line and column of its value (and of its key, for a
 * mapping entry). It knows nothing about scenarios; callers check the tree and use the map to turn the key path of
 * an error into file:line:col.
 *
 * The event API is used rather than libyaml's document API because it lets an alias be expanded only once its
 * anchored node is complete (so a self-referencing alias cannot build a cycle), gives the alias its own position,
 * and lets us stop at the first problem with the exact mark. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <yaml.h>

#include "io/yaml.h"

/* Guards against hostile or broken input: jansson frees and copies trees recursively, so the depth is capped well
 * below what the C stack takes, and "billion laughs" alias bombs are stopped by a cap on the nodes built. */
#define MAX_DEPTH 512
#define MAX_NODES ((size_t)1 << 20)

typedef struct loc {
    char *path;
    int line, col;         /* the value */
    int key_line, key_col; /* the key of a mapping entry; 0 otherwise */
} loc;

struct agora__locmap {
    loc *v;
    size_t n, cap;
};

typedef struct anchor {
    char *name;
    json_t *value;       /* a reference to the complete anchored node */
    char *path;          /* where it was defined */
    size_t first, end;   /* its subtree's entries in the location map: [first, end) */
} anchor;

typedef struct frame {
    json_t *node; /* the object or array being filled; owned until attached to its parent */
    char *path;
    int is_map;
    char *key;    /* a mapping's pending key: set between a key and its value, NULL while a key is expected */
    int key_line, key_col;
    char *anchor; /* the collection's anchor name, registered when the collection ends */
    size_t loc_first;
} frame;

typedef struct builder {
    const char *name;
    agora__locmap *locs;
    frame *stack;
    size_t depth, stack_cap;
    anchor *anchors;
    size_t n_anchors, anchors_cap;
    json_t *root;
    int docs;
    int syntax; /* the error came from libyaml itself (so a JSON text may still be read by jansson) */
    agora_error *err;
} builder;

/* ---- the location map -------------------------------------------------------------------------------------------- */

void agora__locmap_free(agora__locmap *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++)
        free(m->v[i].path);
    free(m->v);
    free(m);
}

size_t agora__locmap_count(const agora__locmap *m)
{
    return m ? m->n : 0;
}

static const loc *locmap_lookup(const agora__locmap *m, const char *path)
{
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->v[i].path, path) == 0)
            return &m->v[i];
    return NULL;
}

/* Cuts the last component off a dotted path in place: "a.b[2]" -> "a.b" -> "a" -> "". */
static void path_parent(char *p)
{
    size_t n = strlen(p);
    if (n && p[n - 1] == ']') {
        char *open = strrchr(p, '[');
        if (open) {
            *open = '\0';
            return;
        }
    }
    char *dot = strrchr(p, '.');
    if (dot)
        *dot = '\0';
    else
        p[0] = '\0';
}

int agora__locmap_find(const agora__locmap *m, const char *path, int *line, int *col, int want_key)
{
    *line = *col = 0;
    if (!m || !path)
        return AGORA_ENOTFOUND;
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", path);
    for (int up = 0;; up = 1) {
        const loc *e = locmap_lookup(m, buf);
        if (e) {
            /* An ancestor stands in for a node that is not there: its key (the entry that lacks something) is the
             * better place to point at when it has one. */
            int use_key = e->key_line > 0 && (up || want_key);
            *line = use_key ? e->key_line : e->line;
            *col = use_key ? e->key_col : e->col;
            return up;
        }
        if (!buf[0])
            return AGORA_ENOTFOUND;
        path_parent(buf);
    }
}

/* ---- errors ------------------------------------------------------------------------------------------------------ */

/* An AGORA_EPARSE at a libyaml mark; the message is prefixed with the key path when there is one. */
static int fail_at(builder *b, int line, int col, const char *path, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;

static int fail_at(builder *b, int line, int col, const char *path, const char *fmt, ...)
{
    if (!b->err)
        return AGORA_EPARSE;
    char text[sizeof b->err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    agora_error_set(b->err, AGORA_EPARSE, b->name, "%s", text);
    if (path && path[0])
        agora_error_prefix(b->err, path);
    b->err->line = line;
    b->err->column = col;
    return AGORA_EPARSE;
}

#define MARK(m) (int)(m).line + 1, (int)(m).column + 1

static int nomem(builder *b)
{
    return agora_error_set(b->err, AGORA_ENOMEM, b->name, "out of memory");
}

/* ---- paths ------------------------------------------------------------------------------------------------------- */

static char *path_key(const char *parent, const char *key)
{
    size_t pn = strlen(parent), kn = strlen(key);
    char *p = malloc(pn + kn + 2);
    if (!p)
        return NULL;
    if (pn)
        snprintf(p, pn + kn + 2, "%s.%s", parent, key);
    else
        memcpy(p, key, kn + 1);
    return p;
}

static char *path_index(const char *parent, size_t i)
{
    size_t n = strlen(parent) + 24;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s[%zu]", parent, i);
    return p;
}

/* `base` followed by the part of `full` below `prefix` (a path inside an anchored subtree, moved to the alias). */
static char *path_rebase(const char *base, const char *prefix, const char *full)
{
    const char *rest = full + strlen(prefix);
    if (*rest == '.')
        rest++;
    if (*rest == '[' || !*rest) {
        size_t n = strlen(base) + strlen(rest) + 1;
        char *p = malloc(n);
        if (p)
            snprintf(p, n, "%s%s", base, rest);
        return p;
    }
    return path_key(base, rest);
}

/* ---- the builder ------------------------------------------------------------------------------------------------- */

static frame *top(builder *b)
{
    return b->depth ? &b->stack[b->depth - 1] : NULL;
}

static int expecting_key(builder *b)
{
    frame *f = top(b);
    return f && f->is_map && !f->key;
}

/* The path of the value about to be added to the innermost collection (or "" for the root); a new string. */
static char *value_path(builder *b)
{
    frame *f = top(b);
    if (!f)
        return strdup("");
    if (f->is_map)
        return path_key(f->path, f->key);
    return path_index(f->path, json_array_size(f->node));
}

/* Appends an entry; takes ownership of `path` (freed on failure too). */
static int record(builder *b, char *path, int line, int col, int key_line, int key_col)
{
    agora__locmap *m = b->locs;
    if (!path)
        return nomem(b);
    if (m->n >= MAX_NODES) {
        int rc = fail_at(b, line, col, NULL, "the document has too many nodes (aliases may expand too far)");
        free(path);
        return rc;
    }
    if (m->n == m->cap) {
        size_t cap = m->cap ? 2 * m->cap : 64;
        loc *v = realloc(m->v, cap * sizeof *v);
        if (!v) {
            free(path);
            return nomem(b);
        }
        m->v = v;
        m->cap = cap;
    }
    m->v[m->n++] = (loc){path, line, col, key_line, key_col};
    return 0;
}

/* Records the value about to be added at the mark (the root at 1:1, since it stands for the whole document).
 * Returns the new entry's path (borrowed from the map) through *path_out. */
static int record_value(builder *b, const yaml_mark_t *mark, const char **path_out)
{
    frame *f = top(b);
    int line = f ? (int)mark->line + 1 : 1, col = f ? (int)mark->column + 1 : 1;
    int kl = f && f->is_map ? f->key_line : 0, kc = f && f->is_map ? f->key_col : 0;
    int rc = record(b, value_path(b), line, col, kl, kc);
    if (rc == 0 && path_out)
        *path_out = b->locs->v[b->locs->n - 1].path;
    return rc;
}

/* Adds a complete value (reference stolen) to the innermost collection, or makes it the root. */
static int attach(builder *b, json_t *v)
{
    frame *f = top(b);
    if (!v)
        return nomem(b);
    if (!f) {
        json_decref(b->root);
        b->root = v;
        return 0;
    }
    int rc;
    if (f->is_map) {
        rc = json_object_set_new(f->node, f->key, v);
        free(f->key);
        f->key = NULL;
    } else {
        rc = json_array_append_new(f->node, v);
    }
    return rc ? nomem(b) : 0;
}

static int register_anchor(builder *b, const char *name, json_t *value, const char *path, size_t first, size_t end)
{
    anchor *a = NULL;
    /* A later anchor of the same name replaces the earlier one, as YAML says. */
    for (size_t i = 0; i < b->n_anchors; i++)
        if (strcmp(b->anchors[i].name, name) == 0)
            a = &b->anchors[i];
    if (!a) {
        if (b->n_anchors == b->anchors_cap) {
            size_t cap = b->anchors_cap ? 2 * b->anchors_cap : 8;
            anchor *v = realloc(b->anchors, cap * sizeof *v);
            if (!v)
                return nomem(b);
            b->anchors = v;
            b->anchors_cap = cap;
        }
        a = &b->anchors[b->n_anchors++];
        *a = (anchor){strdup(name), NULL, NULL, 0, 0};
        if (!a->name) {
            b->n_anchors--;
            return nomem(b);
        }
    }
    json_decref(a->value);
    free(a->path);
    a->value = json_incref(value);
    a->path = strdup(path);
    a->first = first;
    a->end = end;
    return a->path ? 0 : nomem(b);
}

/* Takes a scalar (or an aliased string) as the pending key of the innermost mapping. */
static int take_key(builder *b, const char *key, size_t len, const yaml_mark_t *mark)
{
    frame *f = top(b);
    if (memchr(key, '\0', len))
        return fail_at(b, MARK(*mark), f->path, "keys must not contain NUL characters");
    if (json_object_get(f->node, key)) {
        char *p = path_key(f->path, key);
        if (!p)
            return nomem(b);
        int line = 0, col = 0;
        agora__locmap_find(b->locs, p, &line, &col, 1);
        int rc = fail_at(b, MARK(*mark), p, "duplicate key (first given at line %d)", line);
        free(p);
        return rc;
    }
    f->key = strdup(key);
    f->key_line = (int)mark->line + 1;
    f->key_col = (int)mark->column + 1;
    return f->key ? 0 : nomem(b);
}

/* ---- scalars: the YAML 1.2 core schema --------------------------------------------------------------------------- */

enum { WANT_ANY, WANT_NULL, WANT_BOOL, WANT_INT, WANT_FLOAT };

static int is_null_word(const char *s, size_t n)
{
    return n == 0 || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 || strcmp(s, "Null") == 0 ||
           strcmp(s, "NULL") == 0;
}

/* 1 true, 0 false, -1 not a boolean. */
static int bool_word(const char *s)
{
    if (strcmp(s, "true") == 0 || strcmp(s, "True") == 0 || strcmp(s, "TRUE") == 0)
        return 1;
    if (strcmp(s, "false") == 0 || strcmp(s, "False") == 0 || strcmp(s, "FALSE") == 0)
        return 0;
    return -1;
}

static int is_digits(const char *s, size_t n, const char *set)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!s[i] || !strchr(set, s[i]))
            return 0;
    return 1;
}

/* 1: an integer (in *v); 0: not integer syntax; -1: integer syntax but beyond 64 bits. */
static int parse_int(const char *s, size_t n, json_int_t *v)
{
    if (n > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'o')) {
        int hex = s[1] == 'x';
        if (!is_digits(s + 2, n - 2, hex ? "0123456789abcdefABCDEF" : "01234567"))
            return 0;
        errno = 0;
        unsigned long long u = strtoull(s + 2, NULL, hex ? 16 : 8);
        if (errno == ERANGE || u > (unsigned long long)INT64_MAX)
            return -1;
        *v = (json_int_t)u;
        return 1;
    }
    size_t i = (n && (s[0] == '-' || s[0] == '+')) ? 1 : 0;
    if (!is_digits(s + i, n - i, "0123456789"))
        return 0;
    errno = 0;
    long long x = strtoll(s, NULL, 10);
    if (errno == ERANGE)
        return -1;
    *v = (json_int_t)x;
    return 1;
}

/* [-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )? */
static int is_float_syntax(const char *s, size_t n)
{
    size_t i = 0, digits = 0;
    if (i < n && (s[i] == '-' || s[i] == '+'))
        i++;
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++, digits++;
    if (i < n && s[i] == '.') {
        i++;
        size_t frac = 0;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++, frac++;
        if (digits == 0 && frac == 0)
            return 0;
    } else if (digits == 0) {
        return 0;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '-' || s[i] == '+'))
            i++;
        size_t e = 0;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++, e++;
        if (e == 0)
            return 0;
    }
    return i == n;
}

static int is_nonfinite_word(const char *s)
{
    const char *t = (*s == '-' || *s == '+') ? s + 1 : s;
    if (strcmp(t, ".inf") == 0 || strcmp(t, ".Inf") == 0 || strcmp(t, ".INF") == 0)
        return 1;
    return strcmp(s, ".nan") == 0 || strcmp(s, ".NaN") == 0 || strcmp(s, ".NAN") == 0;
}

/* Resolves a plain scalar (or one with an explicit core-schema tag: `want` then says which type it must be). */
static int resolve_scalar(builder *b, const char *s, size_t n, int want, const yaml_mark_t *mark, const char *path,
                          json_t **out)
{
    static const char *const want_names[] = {"", "null", "bool", "int", "float"};
    *out = NULL;
    if ((want == WANT_ANY || want == WANT_NULL) && is_null_word(s, n)) {
        *out = json_null();
        return 0;
    }
    int bv = bool_word(s);
    if ((want == WANT_ANY || want == WANT_BOOL) && bv >= 0) {
        *out = json_boolean(bv);
        return 0;
    }
    if (want == WANT_ANY || want == WANT_INT) {
        json_int_t iv;
        int r = parse_int(s, n, &iv);
        if (r == 1) {
            *out = json_integer(iv);
            return *out ? 0 : nomem(b);
        }
        if (r < 0)
            return fail_at(b, MARK(*mark), path, "integer out of range (beyond 64 bits): %s", s);
    }
    if (want == WANT_ANY || want == WANT_FLOAT) {
        if (is_nonfinite_word(s))
            return fail_at(b, MARK(*mark), path, "non-finite numbers are not allowed");
        if (is_float_syntax(s, n)) {
            double x = strtod(s, NULL);
            if (isinf(x))
                return fail_at(b, MARK(*mark), path, "number out of range: %s", s);
            *out = json_real(x);
            return *out ? 0 : nomem(b);
        }
    }
    if (want != WANT_ANY)
        return fail_at(b, MARK(*mark), path, "\"%s\" is not a valid !!%s", s, want_names[want]);
    *out = json_stringn(s, n);
    return *out ? 0 : nomem(b);
}

static int scalar_to_json(builder *b, const yaml_event_t *ev, const char *path, json_t **out)
{
    const char *s = (const char *)ev->data.scalar.value;
    size_t n = ev->data.scalar.length;
    const char *tag = (const char *)ev->data.scalar.tag;
    const yaml_mark_t *mark = &ev->start_mark;
    int want = WANT_ANY;
    *out = NULL;
    if (tag && strcmp(tag, "!") != 0) {
        if (strcmp(tag, YAML_STR_TAG) == 0)
            want = -1;
        else if (strcmp(tag, YAML_NULL_TAG) == 0)
            want = WANT_NULL;
        else if (strcmp(tag, YAML_BOOL_TAG) == 0)
            want = WANT_BOOL;
        else if (strcmp(tag, YAML_INT_TAG) == 0)
            want = WANT_INT;
        else if (strcmp(tag, YAML_FLOAT_TAG) == 0)
            want = WANT_FLOAT;
        else
            return fail_at(b, MARK(*mark), path, "unsupported tag \"%s\" (only the core schema's !!str, !!int, "
                                                 "!!float, !!bool and !!null are understood)", tag);
        if (want >= 0)
            return resolve_scalar(b, s, n, want, mark, path, out);
    } else if (!tag && ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
        return resolve_scalar(b, s, n, WANT_ANY, mark, path, out);
    }
    /* Quoted, block and !!str scalars are strings as written. json_stringn rejects invalid UTF-8, which libyaml
     * has already refused, so a NULL here is memory. */
    *out = json_stringn(s, n);
    return *out ? 0 : nomem(b);
}

/* ---- events ------------------------------------------------------------------------------------------------------ */

static int on_scalar(builder *b, const yaml_event_t *ev)
{
    if (expecting_key(b))
        return take_key(b, (const char *)ev->data.scalar.value, ev->data.scalar.length, &ev->start_mark);
    size_t idx = b->locs->n;
    const char *path;
    int rc = record_value(b, &ev->start_mark, &path);
    if (rc)
        return rc;
    json_t *v;
    if ((rc = scalar_to_json(b, ev, path, &v)) != 0)
        return rc;
    if (ev->data.scalar.anchor &&
        (rc = register_anchor(b, (const char *)ev->data.scalar.anchor, v, path, idx, idx + 1)) != 0) {
        json_decref(v);
        return rc;
    }
    return attach(b, v);
}

static int on_start(builder *b, const yaml_event_t *ev, int is_map)
{
    const yaml_mark_t *mark = &ev->start_mark;
    const char *tag = (const char *)(is_map ? ev->data.mapping_start.tag : ev->data.sequence_start.tag);
    const char *anchor_name = (const char *)(is_map ? ev->data.mapping_start.anchor : ev->data.sequence_start.anchor);
    if (expecting_key(b))
        return fail_at(b, MARK(*mark), top(b)->path, "keys must be strings, not lists or mappings");
    if (b->depth >= MAX_DEPTH)
        return fail_at(b, MARK(*mark), top(b)->path, "too deeply nested (more than %d levels)", MAX_DEPTH);
    if (tag && strcmp(tag, "!") != 0 && strcmp(tag, is_map ? YAML_MAP_TAG : YAML_SEQ_TAG) != 0) {
        char *p = value_path(b);
        int rc = p ? fail_at(b, MARK(*mark), p, "unsupported tag \"%s\"", tag) : nomem(b);
        free(p);
        return rc;
    }
    if (b->depth == b->stack_cap) {
        size_t cap = b->stack_cap ? 2 * b->stack_cap : 16;
        frame *v = realloc(b->stack, cap * sizeof *v);
        if (!v)
            return nomem(b);
        b->stack = v;
        b->stack_cap = cap;
    }
    size_t idx = b->locs->n;
    const char *path;
    int rc = record_value(b, mark, &path);
    if (rc)
        return rc;
    frame f = {is_map ? json_object() : json_array(), strdup(path), is_map, NULL, 0, 0,
               anchor_name ? strdup(anchor_name) : NULL, idx};
    if (!f.node || !f.path || (anchor_name && !f.anchor)) {
        json_decref(f.node);
        free(f.path);
        free(f.anchor);
        return nomem(b);
    }
    b->stack[b->depth++] = f;
    return 0;
}

static int on_end(builder *b)
{
    frame f = b->stack[--b->depth];
    int rc = 0;
    if (f.anchor)
        rc = register_anchor(b, f.anchor, f.node, f.path, f.loc_first, b->locs->n);
    free(f.anchor);
    free(f.path);
    free(f.key);
    if (rc) {
        json_decref(f.node);
        return rc;
    }
    return attach(b, f.node);
}

static int on_alias(builder *b, const yaml_event_t *ev)
{
    const char *name = (const char *)ev->data.alias.anchor;
    const yaml_mark_t *mark = &ev->start_mark;
    const anchor *a = NULL;
    for (size_t i = 0; i < b->n_anchors; i++)
        if (strcmp(b->anchors[i].name, name) == 0)
            a = &b->anchors[i];
    if (expecting_key(b)) {
        if (a && json_is_string(a->value))
            return take_key(b, json_string_value(a->value), json_string_length(a->value), mark);
        return fail_at(b, MARK(*mark), top(b)->path,
                       a ? "keys must be strings, not lists or mappings"
                         : "an alias used as a key must refer to a string anchored before it");
    }
    if (!a) {
        char *p = value_path(b);
        int rc = p ? fail_at(b, MARK(*mark), p, "alias *%s refers to no complete node before it", name) : nomem(b);
        free(p);
        return rc;
    }
    if (b->locs->n + (a->end - a->first) > MAX_NODES)
        return fail_at(b, MARK(*mark), top(b) ? top(b)->path : NULL, "aliases expand to too many nodes");
    /* The copy's entries reuse the anchored subtree's positions (where those values are written), except for its
     * root, which is where the alias stands. `a` may move when the map grows, so copy what is needed first. */
    size_t first = a->first, end = a->end;
    char *prefix = strdup(a->path);
    json_t *copy = json_deep_copy(a->value);
    const char *path;
    int rc = prefix && copy ? record_value(b, mark, &path) : nomem(b);
    char *base = rc == 0 ? strdup(path) : NULL;
    if (rc == 0 && !base)
        rc = nomem(b);
    for (size_t i = first + 1; rc == 0 && i < end; i++) {
        loc e = b->locs->v[i];
        rc = record(b, path_rebase(base, prefix, e.path), e.line, e.col, e.key_line, e.key_col);
    }
    free(prefix);
    free(base);
    if (rc) {
        json_decref(copy);
        return rc;
    }
    return attach(b, copy);
}

static int on_event(builder *b, const yaml_event_t *ev, int *done)
{
    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        if (++b->docs > 1)
            return fail_at(b, MARK(ev->start_mark), NULL, "more than one document (only one is allowed)");
        return 0;
    case YAML_SCALAR_EVENT:
        return on_scalar(b, ev);
    case YAML_SEQUENCE_START_EVENT:
        return on_start(b, ev, 0);
    case YAML_MAPPING_START_EVENT:
        return on_start(b, ev, 1);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        return on_end(b);
    case YAML_ALIAS_EVENT:
        return on_alias(b, ev);
    case YAML_STREAM_END_EVENT:
        *done = 1;
        return 0;
    default:
        return 0;
    }
}

/* libyaml's own error, with its problem mark. Reader errors (bad encoding) only give a byte offset. */
static int syntax_error(builder *b, const yaml_parser_t *p, const char *text, size_t len)
{
    b->syntax = 1;
    if (p->error == YAML_MEMORY_ERROR)
        return nomem(b);
    const char *problem = p->problem ? p->problem : "malformed YAML";
    if (p->error == YAML_READER_ERROR) {
        int line = 1, col = 1;
        for (size_t i = 0; i < p->problem_offset && i < len; i++) {
            if (text[i] == '\n')
                line++, col = 1;
            else if (((unsigned char)text[i] & 0xC0) != 0x80)
                col++;
        }
        return fail_at(b, line, col, NULL, "syntax error: %s (byte 0x%02x)", problem,
                       (unsigned)p->problem_value & 0xFFu);
    }
    if (p->context)
        return fail_at(b, MARK(p->problem_mark), NULL, "syntax error: %s (%s that starts at line %d, column %d)",
                       problem, p->context, (int)p->context_mark.line + 1, (int)p->context_mark.column + 1);
    return fail_at(b, MARK(p->problem_mark), NULL, "syntax error: %s", problem);
}

static int is_json_name(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    return n >= 5 && strcasecmp(name + n - 5, ".json") == 0;
}

static void builder_free(builder *b)
{
    for (size_t i = 0; i < b->depth; i++) {
        json_decref(b->stack[i].node);
        free(b->stack[i].path);
        free(b->stack[i].key);
        free(b->stack[i].anchor);
    }
    free(b->stack);
    for (size_t i = 0; i < b->n_anchors; i++) {
        free(b->anchors[i].name);
        free(b->anchors[i].path);
        json_decref(b->anchors[i].value);
    }
    free(b->anchors);
    json_decref(b->root);
    agora__locmap_free(b->locs);
}

int agora__yaml_parse(const char *text, size_t len, const char *name, json_t **root, agora__locmap **locs,
                      agora_error *err)
{
    builder b = {.name = name ? name : "<text>", .err = err};
    yaml_parser_t parser;
    int parser_ready = 0, rc = 0;
    *root = NULL;
    if (locs)
        *locs = NULL;
    if (!text && len)
        return agora_error_set(err, AGORA_EINVAL, b.name, "no text");
    if (!(b.locs = calloc(1, sizeof *b.locs)) || !yaml_parser_initialize(&parser)) {
        rc = nomem(&b);
        goto done;
    }
    parser_ready = 1;
    yaml_parser_set_input_string(&parser, (const unsigned char *)(text ? text : ""), len);
    for (int finished = 0; !finished;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            rc = syntax_error(&b, &parser, text, len);
            break;
        }
        rc = on_event(&b, &ev, &finished);
        yaml_event_delete(&ev);
        if (rc)
            break;
    }
    size_t blank = 0;
    while (blank < len && (text[blank] == ' ' || text[blank] == '\t' || text[blank] == '\n' || text[blank] == '\r'))
        blank++;
    if (is_json_name(name) && (rc == 0 || b.syntax) && blank < len) {
        /* JSON is YAML 1.2, but the two disagree at the edges: libyaml refuses a few valid JSON texts (surrogate
         * pairs, keys over 1024 characters) and accepts much that is not JSON (comments, `"b": }`). For a .json
         * file jansson decides what is valid; libyaml's tree is kept when it has one, for its positions. Errors
         * libyaml found in a well-formed text (duplicate keys, non-finite numbers) stand as they are. */
        json_error_t jerr;
        /* libyaml skips a UTF-8 byte-order mark (editors on Windows write one); jansson would call it a bad token. */
        size_t bom = len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
        json_t *j = json_loadb(text + bom, len - bom, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
        if (!j) {
            rc = agora_error_set(err, AGORA_EPARSE, b.name, "syntax error: %s", jerr.text);
            if (err) {
                err->line = jerr.line > 0 ? jerr.line : 0;
                err->column = jerr.column > 0 ? jerr.column : 0;
            }
            goto done;
        }
        if (rc) {
            agora_error_clear(err);
            json_decref(b.root);
            b.root = j;
            for (size_t i = 0; i < b.locs->n; i++)
                free(b.locs->v[i].path);
            b.locs->n = 0;
            rc = 0;
        } else {
            json_decref(j);
        }
    }
    if (rc)
        goto done;
    *root = b.root;
    b.root = NULL;
    if (locs) {
        *locs = b.locs;
        b.locs = NULL;
    }
done:
    if (parser_ready)
        yaml_parser_delete(&parser);
    builder_free(&b);
    return rc;
}
