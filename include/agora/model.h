/* agora — the model interface.
 *
 * A model is data plus a few functions; the kernel never knows which model it runs. State is structure-of-arrays,
 * either the model's own or declared to the kernel, which then owns it (the model SDK at the end of this header),
 * double-buffered: `step` reads only the old buffer and writes only the new one, so agents
 * update in parallel with no locks and the result does not depend on thread count or schedule. All randomness comes
 * from agora_rng keyed by (world key, step, agent, stream).
 *
 * Models are listed in the registry (agora_models / agora_model_find). Parameters are declared with their type,
 * default and range; the kernel validates a scenario's `params:` against them and hands `init` a complete object
 * with every parameter present. Actions are declared as a JSON Schema (the persona's action vocabulary): the kernel
 * validates an action against it before `apply` sees it, and `apply` checks what the schema cannot, leaving the
 * world untouched when it rejects. */
#ifndef AGORA_MODEL_H
#define AGORA_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "agora/error.h"
#include "agora/export.h"
#include "agora/space.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct agora_world agora_world;

/* Where a model saves its state and loads it back (checkpoints): named byte arrays. The kernel supplies both
 * functions (a checkpoint file, or memory in tests); a model calls put for every array and scalar block that makes
 * its state, and get with the same names and sizes to read them back. get fails (AGORA_EINVAL) when a part is
 * missing or has another size. */
typedef struct agora_state {
    void *ud;
    int (*put)(void *ud, const char *name, const void *data, size_t bytes, agora_error *err);
    int (*get)(void *ud, const char *name, void *data, size_t bytes, agora_error *err);
} agora_state;

typedef enum agora_param_type {
    AGORA_PARAM_REAL = 1,   /* a number in [min, max] */
    AGORA_PARAM_INT = 2,    /* an integer in [min, max] */
    AGORA_PARAM_BOOL = 3,   /* true/false */
    AGORA_PARAM_AMOUNT = 4, /* a fraction of the agents in [0, 1), or a count: an integer >= 1 (max caps it) */
    AGORA_PARAM_CHOICE = 5  /* one of the '|'-separated words in `choices`; `def` is the default's index */
} agora_param_type;

typedef struct agora_param_spec {
    const char *name;
    agora_param_type type;
    double def, min, max;
    const char *doc;
    const char *choices; /* AGORA_PARAM_CHOICE only, e.g. "voter|degroot" */
} agora_param_spec;      /* arrays end with an entry whose name is NULL */

typedef struct agora_metric_spec {
    const char *name;
    const char *doc;
    const char *summary; /* NULL, "peak" (report the maximum and when) or "final" (report the last value) */
} agora_metric_spec;

typedef enum agora_dtype {
    AGORA_DTYPE_U8 = 1,
    AGORA_DTYPE_I32 = 2,
    AGORA_DTYPE_F32 = 3,
    AGORA_DTYPE_F64 = 4,
    AGORA_DTYPE_I64 = 5
} agora_dtype;

typedef struct agora_field_spec {
    const char *name;
    agora_dtype type;
    const char *doc;
} agora_field_spec;

/* Bit flags for agora_model.spaces. */
#define AGORA_SPACES_GRID (1u << 0)
#define AGORA_SPACES_GRAPH (1u << 1)
#define AGORA_SPACES_MIXED (1u << 2)
/* The AGORA_SPACES_* flag of a space kind. */
#define AGORA_SPACES_FLAG(kind) (1u << ((unsigned)(kind)-1u))

typedef struct agora_model {
    const char *name, *summary;
    const agora_param_spec *params;   /* NULL-terminated */
    const agora_metric_spec *metrics; /* NULL-terminated; measure() writes them in this order */
    const agora_field_spec *fields;   /* NULL-terminated; per-agent arrays that snapshots may write */
    const char *action_schema;        /* JSON Schema text (draft 2020-12 subset) of one action */
    unsigned spaces;                  /* AGORA_SPACES_* the model runs on */

    /* Allocates the model's state (agora_world_set_model_state) and sets initial conditions. `params` holds every
     * declared parameter, validated. Draws from stream AGORA_RNG_STREAM_INIT at step 0. */
    int (*init)(agora_world *w, const json_t *params, agora_error *err);
    /* One synchronous step: read t, write t+1. No allocation, no JSON, no I/O. */
    void (*step)(agora_world *w);
    /* Writes the current value of every metric into out[0 .. n_metrics). */
    void (*measure)(const agora_world *w, double *out);
    /* What a persona in `role` sees, as a new JSON object owned by the caller; may be NULL (none yet). */
    int (*observe)(const agora_world *w, const char *role, json_t **obs, agora_error *err);
    /* Applies one schema-valid action; on error the world is unchanged. */
    int (*apply)(agora_world *w, const json_t *action, agora_error *err);
    /* The current buffer of field i (of fields[i].type, n agents); valid until the next step. */
    const void *(*field)(const agora_world *w, int i);
    /* Frees the model state. */
    void (*destroy)(agora_world *w);
    /* Copies src's model state into dst: a world just created (init has run) with the same model, a copy of src's
     * space, the same params, seed and threads, and dst's time already set to src's. Afterwards dst steps, measures,
     * observes and applies actions exactly as src would (bit-identical), and shares no memory with src.
     * NULL: the model cannot be copied. */
    int (*copy)(const agora_world *src, agora_world *dst, agora_error *err);
    /* Sets field i of agents ids[0 .. count) to values[k] (converted to the field's type), keeping every derived
     * quantity (counts, neighbour tallies, sorted tables, equilibria) consistent so that measure() and later steps
     * see exactly the new state. Ids are in [0, n) and i is a field index (both checked by the kernel); the values are
     * written in order, so an id given twice ends with its last value. Values outside the field's domain give
     * AGORA_EINVAL with where = "values", a read-only field AGORA_EUNSUPPORTED with where = "field"; either way the
     * world is left unchanged. NULL: every field is read-only. */
    int (*set_field)(agora_world *w, int i, const int64_t *ids, int64_t count, const double *values, agora_error *err);
    /* Saves everything later steps, measurements, observations and actions depend on (current buffers, derived
     * tallies, policy in force, action counters) through st->put. NULL: the model cannot be checkpointed. */
    int (*save)(const agora_world *w, const agora_state *st, agora_error *err);
    /* Loads what save wrote into a world just created (init has run) with the same configuration, whose time the
     * kernel has already set; afterwards it steps exactly as the saved world would (bit-identical). On error the
     * world may be half-loaded and must be destroyed. */
    int (*load)(agora_world *w, const agora_state *st, agora_error *err);

    /* ---- added for the model SDK (see the section below); NULL for a model that keeps its own state ---- */
    /* The model's kernel-owned fields and scalar block. */
    const struct agora_model_sdk *sdk;
} agora_model;

/* The registry: all built-in models in a stable order, then the registered ones (agora_model_register, plug-ins)
 * in the order they were registered. The array and *count are a snapshot: later registrations do not change them
 * (call again to see them); the pointers stay valid for the life of the process. */
AGORA_API const agora_model *const *agora_models(int *count);

/* A model by name (built-in or registered), or NULL. */
AGORA_API const agora_model *agora_model_find(const char *name);

/* Counts of a model's NULL-terminated spec arrays. */
AGORA_API int agora_model_n_params(const agora_model *m);
AGORA_API int agora_model_n_metrics(const agora_model *m);
AGORA_API int agora_model_n_fields(const agora_model *m);

/* Index of a metric / field by name, or -1. */
AGORA_API int agora_model_metric_index(const agora_model *m, const char *name);
AGORA_API int agora_model_field_index(const agora_model *m, const char *name);

/* The model's action schema parsed into a new reference owned by the caller (NULL if the model has none). */
AGORA_API json_t *agora_model_action_schema(const agora_model *m, agora_error *err);

/* A model described as a new JSON object owned by the caller (what `agora models --json` and the MCP tool
 * list_models show): {name, summary, spaces: ["grid", ...], params: [{name, type, default, doc, min, max | choices}],
 * metrics: [{name, doc}], fields: [{name, type, doc}], action_schema (or null)}. */
AGORA_API json_t *agora_model_describe(const agora_model *m);

/* Validates `given` (an object, or NULL for all defaults) against a parameter table and returns, in *out, a new
 * object with every parameter: given values, then defaults. AGORA_PARAM_AMOUNT values stay as given (a fraction
 * or a count). On error err->where is "params.<name>" and *out is NULL. Unknown keys are errors. */
AGORA_API int agora_params_resolve(const agora_param_spec *spec, const json_t *given, json_t **out, agora_error *err);

/* Readers for a resolved parameter object (value present by construction). */
AGORA_API double agora_param_real(const json_t *params, const char *name);
AGORA_API int64_t agora_param_int(const json_t *params, const char *name);
AGORA_API int agora_param_bool(const json_t *params, const char *name);
AGORA_API const char *agora_param_choice(const json_t *params, const char *name);
/* An AGORA_PARAM_AMOUNT as a count out of n: a fraction f gives round(f * n), a count itself (capped at n, which
 * agora_world_create already refuses to exceed: a count above the population is an error there). */
AGORA_API int64_t agora_param_amount(const json_t *params, const char *name, int64_t n);

/* Human names for types ("real", "int", ...). */
AGORA_API const char *agora_param_type_name(agora_param_type t);
AGORA_API const char *agora_dtype_name(agora_dtype t);
AGORA_API int agora_dtype_size(agora_dtype t);

/* ---- Registered models and the model ABI (plug-ins: include/agora/plugin.h) --------------------------------------
 *
 * AGORA_MODEL_ABI numbers the binary interface between agora and a model compiled apart from it (a plug-in): the
 * layout and meaning of agora_model and of the structs it uses (agora_param_spec, agora_metric_spec,
 * agora_field_spec, agora_state, agora_space, the enums above), of agora_plugin_host, and the signatures and
 * semantics of the functions a model calls (world.h's accessors, the agora_param_* readers, rng.h). Bump it with
 * any change to one of these that a model compiled before would get wrong: a member added, removed, moved or
 * retyped (appending a member to agora_model is such a change too: an old plug-in's struct is shorter), a function
 * pointer that must now be set, a callback asked to do something new. A plug-in records the number it was built
 * with (AGORA_PLUGIN_ABI_DEFINE) and agora refuses to load one built with another. */
/* 2: agora_model.sdk appended (the C model SDK). */
#define AGORA_MODEL_ABI 2

/* Most models agora_model_register accepts in one process (besides the built-ins). */
#define AGORA_MODEL_MAX_REGISTERED 256

/* Adds `m` to the process-wide registry, after the built-ins: agora_models lists it (in registration order) and
 * agora_model_find finds it. The registry keeps the pointer and never lets it go, so `m` and everything it points
 * to must outlive every world made from it (in practice: static data). Thread-safe. The checks, each an
 * AGORA_EINVAL whose message names the model and the culprit: the name is an identifier ([A-Za-z_][A-Za-z0-9_]*,
 * at most 63 characters) not taken by a built-in or a registered model (AGORA_EINVAL naming the clash and where
 * the other model came from); summary is set; init, step, measure and destroy are set, field when there are fields
 * and apply when there is an action schema; at least one metric; the parameters, metrics and fields have
 * identifier names, unique within their array, a doc text and valid types, each parameter's default is a value
 * agora_params_resolve accepts and its range is well formed; the action schema is JSON that agora_schema_check
 * accepts; spaces is a non-empty set of AGORA_SPACES_* flags. AGORA_ERANGE when AGORA_MODEL_MAX_REGISTERED models
 * are registered already. Registering the same pointer twice is an error like any other clash. */
AGORA_API int agora_model_register(const agora_model *m, agora_error *err);

/* Where a model in the registry came from: NULL for a built-in (or a model not in the registry), the absolute path
 * of the plug-in that registered it (agora_plugin_load), or "" for a model the program registered itself. The
 * string lives as long as the process. */
AGORA_API const char *agora_model_origin(const agora_model *m);

/* ==== The model SDK: per-agent fields the kernel owns ==================================================================
 *
 * A model written in C may leave its state to the kernel instead of allocating it: it declares every array it needs
 * (agora_field_decl) and its scalars as one plain-old-data block of a given size (no pointers inside: it is copied
 * with memcpy and saved as bytes), and points agora_model.sdk at that declaration. Before init the kernel allocates
 * every array (zero-filled, 64-byte aligned) and the scalar block; the model reaches them with agora_sdk_cur,
 * agora_sdk_next and agora_sdk_scalars. After every step the kernel swaps the two buffers of each double-buffered
 * field, so `step` reads agora_sdk_cur and writes agora_sdk_next whole. The kernel frees everything with the world.
 *
 * The SDK also implements five of the model's hooks generically; a model plugs them in with AGORA_SDK_HOOKS (or
 * names a few and writes its own for the rest; a NULL hook still means "not supported"):
 *  - field:     the current buffer of the i-th AGORA_FIELD_SNAPSHOT field.
 *  - copy:      every field that is not scratch (current buffer) and the scalar block, by memcpy; then sdk->copied.
 *  - save/load: a part "layout" (the arrays' sizes, which arrays exist), the scalar block (part "scalars") and each
 *               non-scratch field's current buffer (a part named after the field; "world", "layout" and "scalars"
 *               are taken); then sdk->loaded.
 *  - set_field: the range/whole-number check of the field's declared domain, then sdk->check, then the values written
 *               in order (converted to the field's type, -0 stored as 0), then sdk->written with the values each
 *               write replaced, so the model can bring its derived tallies up to date.
 * Memory per world is exactly the declared arrays (twice for double-buffered ones) and the scalar block
 * (agora_sdk_bytes): nothing else is allocated for the model unless its own hooks do it. */

/* agora_field_decl.flags */
#define AGORA_FIELD_DOUBLE (1u << 0)    /* two buffers, cur and next, swapped by the kernel after every step */
#define AGORA_FIELD_SNAPSHOT (1u << 1)  /* one of the model's public fields (agora_model.fields, in the same order) */
#define AGORA_FIELD_WRITABLE (1u << 2)  /* agora_world_set_field may write it, within [min, max] */
#define AGORA_FIELD_SCRATCH (1u << 3)   /* working memory: neither copied nor saved (written before it is read) */
#define AGORA_FIELD_ON_DEMAND (1u << 4) /* allocated only when the model asks (agora_sdk_enable), e.g. by rule */

/* What an array's length counts. */
typedef enum agora_extent {
    AGORA_EXTENT_AGENTS = 0, /* n, the agents */
    AGORA_EXTENT_EDGES = 1,  /* a graph's adjacency entries (offsets[n] = 2 * edges); 0 on other spaces */
    AGORA_EXTENT_DEGREE = 2, /* the largest degree + 1, for tallies 0 .. degree (grid: 9 Moore, 5 von Neumann;
                              * mixed: n) */
    AGORA_EXTENT_ROW = 3,    /* a grid's width; 0 on other spaces */
    AGORA_EXTENT_ONE = 4     /* 1: a fixed-size array of mult + add elements */
} agora_extent;

/* One kernel-owned array. Its length in elements is mult * ceil(extent / group) + add, where a group or mult of 0
 * counts as 1: AGENTS with group 4096 and mult 100 is 100 elements per block of 4096 agents. */
typedef struct agora_field_decl {
    const char *name; /* the part name in checkpoints; for a SNAPSHOT field the name in agora_model.fields */
    agora_dtype type; /* the element type; 0 for internal arrays of `elem` bytes per element */
    unsigned flags;   /* AGORA_FIELD_* */
    const char *doc;
    double min, max;    /* WRITABLE: values must be finite and in [min, max] (whole numbers for integer types) */
    const char *domain; /* WRITABLE: the domain in words, for the error: "a state is 0, 1 or 2" */
    size_t elem;        /* bytes per element when type is 0 */
    agora_extent extent;
    int64_t group, mult, add;
    unsigned spaces; /* AGORA_SPACES_* on which the array exists (0: all); elsewhere it has length 0 */
} agora_field_decl;     /* arrays end with an entry whose name is NULL */

/* The declaration agora_model.sdk points to. Field indices below are indices into `fields`; keeping the SNAPSHOT
 * fields first, in agora_model.fields' order, makes them the same as the public field indices. */
typedef struct agora_model_sdk {
    const agora_field_decl *fields;
    size_t scalars; /* bytes of the scalar block (0: none) */
    /* Optional. After agora_sdk_copy has copied the fields and scalars: rebuild what the model keeps elsewhere. */
    int (*copied)(const agora_world *src, agora_world *dst, agora_error *err);
    /* Optional. After agora_sdk_load has read the fields and scalars. */
    int (*loaded)(agora_world *w, agora_error *err);
    /* Optional. What the declared domain cannot say (limits per agent, a rule in force): 0, or AGORA_EINVAL with
     * where = "values" to refuse the write before anything is written. */
    int (*check)(const agora_world *w, int field, const int64_t *ids, int64_t count, const double *values,
                 agora_error *err);
    /* Optional. After the values were written in order: write k put values[k] where old[k] was (both as doubles);
     * the model brings counts, tallies and derived tables up to date. Cannot fail. */
    void (*written)(agora_world *w, int field, const int64_t *ids, int64_t count, const double *old,
                    const double *values);
} agora_model_sdk;

/* The current buffer of field f (the one `step` reads and snapshots show), NULL when the field does not exist on
 * this world (another space kind, ON_DEMAND not enabled, length 0). Valid until the next step. */
AGORA_API void *agora_sdk_cur(const agora_world *w, int f);
/* The next buffer of a double-buffered field (what `step` writes), else NULL. */
AGORA_API void *agora_sdk_next(const agora_world *w, int f);
/* The scalar block (sdk->scalars bytes, zero before init), or NULL when it has no size. */
AGORA_API void *agora_sdk_scalars(const agora_world *w);
/* Elements of field f on this world (0 when it does not exist). */
AGORA_API int64_t agora_sdk_length(const agora_world *w, int f);
/* Allocates an AGORA_FIELD_ON_DEMAND field (zero-filled); nothing when it exists already. AGORA_ENOMEM. */
AGORA_API int agora_sdk_enable(agora_world *w, int f, agora_error *err);
/* Bytes the kernel holds for the model's fields and scalars (the declaration's arithmetic, no allocator padding). */
AGORA_API int64_t agora_sdk_bytes(const agora_world *w);

/* The generic hooks (see above). */
AGORA_API const void *agora_sdk_field(const agora_world *w, int i);
AGORA_API int agora_sdk_copy(const agora_world *src, agora_world *dst, agora_error *err);
AGORA_API int agora_sdk_save(const agora_world *w, const agora_state *st, agora_error *err);
AGORA_API int agora_sdk_load(agora_world *w, const agora_state *st, agora_error *err);
AGORA_API int agora_sdk_set_field(agora_world *w, int i, const int64_t *ids, int64_t count, const double *values,
                                  agora_error *err);
/* All five in an agora_model initialiser. */
#define AGORA_SDK_HOOKS                                                                                                \
    .field = agora_sdk_field, .copy = agora_sdk_copy, .save = agora_sdk_save, .load = agora_sdk_load,                 \
    .set_field = agora_sdk_set_field

/* ==== end of the model SDK ============================================================================================= */

#ifdef __cplusplus
}
#endif
#endif
