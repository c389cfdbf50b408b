/* agora — rule-language models: a checked model definition (define.c) and the runtime that runs it behind the
 * agora_model interface (runtime.c). Internal API (agora__rules_ prefix).
 *
 * A definition is data (YAML in a file, inline in a scenario under `model: {define: ...}`, or JSON from an MCP
 * client). define.c checks all of it — names, types, every expression — reports every error it finds with
 * file:line:col, and builds an agora__rules_model: the agora_model the kernel sees (name, parameter table, metrics,
 * fields, generated action schema, and runtime.c's functions) plus the compiled programs. Models are interned by the
 * SHA-256 of their canonical definition and never freed (a world holds a pointer to its model for its whole life),
 * so defining the same model twice gives the same pointer; a process keeps at most AGORA_RULES_MAX_MODELS. */
#ifndef AGORA_RULES_MODEL_H
#define AGORA_RULES_MODEL_H

#include <jansson.h>

#include "agora/model.h"
#include "agora/scenario.h"
#include "rules/expr.h"

#define AGORA_RULES_MAX_MODELS 256
#define AGORA_RULES_MAX_DEF_BYTES (256 * 1024) /* the canonical JSON of one definition */
#define AGORA_RULES_MAX_VARS 64
#define AGORA_RULES_MAX_PARAMS 64
#define AGORA_RULES_MAX_METRICS 64
#define AGORA_RULES_MAX_ACTIONS 32
#define AGORA_RULES_MAX_ARGS 16
#define AGORA_RULES_MAX_SITES 64 /* random draws of one expression: each gets its own RNG stream */

/* RNG streams (16 bits): each expression's draw sites take 64 consecutive streams from a base fixed by its place in
 * the definition, so no two expressions share one. */
#define RX_STREAM_RULE(i) (AGORA_RNG_STREAM_MODEL + 64u * (uint32_t)(i))         /* i < 64 */
#define RX_STREAM_PAIR(i) (AGORA_RNG_STREAM_MODEL + 64u * (uint32_t)(64 + (i)))  /* i < 64 */
#define RX_STREAM_MOVE(k) (AGORA_RNG_STREAM_MODEL + 64u * (uint32_t)(128 + (k))) /* empty 0, want 1 */
#define RX_STREAM_MATCH (AGORA_RNG_STREAM_MODEL + 64u * 130u)                    /* +1, +2: the moves' shuffles */
#define RX_STREAM_INIT (AGORA_RNG_STREAM_MODEL + 64u * 131u)                     /* + 64 i: init of variable i */
#define RX_STREAM_PLACE (AGORA_RNG_STREAM_MODEL + 64u * 195u)                    /* + 64 i + j */
#define RX_STREAM_ACTIONS (AGORA_RNG_STREAM_MODEL + 64u * 260u)                  /* + 64 RX_ACTION_EXPRS k */
#define RX_ACTION_EXPRS 16                                                       /* expressions of one action */

/* Pseudo-parameters of initial values (after the model's parameters): the agent's id and grid coordinates. */
enum { RX_INIT_ID, RX_INIT_X, RX_INIT_Y, RX_INIT_NPSEUDO };

typedef struct rx_place {
    int value;     /* category value index, or 0/1 for a bool */
    int param;     /* an AGORA_PARAM_AMOUNT parameter, or -1 */
    double amount; /* when param is -1: a fraction in [0, 1) or a count */
} rx_place;

typedef struct rx_vardef {
    char *name, *doc;
    agora_rx_type type;
    char **values; /* a category's values */
    int nvalues;
    agora_dtype dtype;    /* U8 (bool, category), I64 (int), F64 (real) */
    agora__rx_prog *init; /* NULL: false, 0, or the first value */
    rx_place *place;      /* values placed on exactly chosen random agents after init */
    int nplace;
    agora__rx_prog *rule; /* NULL: the variable keeps its value (a rule that is the variable itself) */
    agora__rx_prog *pair; /* NULL: pairs leave it */
} rx_vardef;

typedef struct rx_arg {
    char *name, *doc;
    int type; /* AGORA_RX_BOOL, INT, REAL, or RX_ARG_IDS (a list of agent ids) */
    double min, max;
    int has_min, has_max;
} rx_arg;
#define RX_ARG_IDS 16

typedef struct rx_action {
    char *name, *doc;
    rx_arg *args;
    int nargs;
    /* parameter effects: param fx_param[k] becomes fx[k] (over the scenario's parameters and the arguments) for
     * `duration` steps (NULL: until replaced) */
    int nfx;
    int *fx_param;
    agora__rx_prog **fx;
    agora__rx_prog *duration;
    /* agent effects: among agents where `where` holds (NULL: all), a share or a count of them chosen at random, or
     * the agents of an ids argument; each gets every set[k] (read from the state before the action) */
    agora__rx_prog *where, *share, *count;
    int ids_arg; /* -1: none */
    int nset;
    int *set_var;
    agora__rx_prog **set;
} rx_action;

typedef struct agora__rules_model {
    agora_model m; /* what the kernel sees; first member */
    char hash[65];
    json_t *def; /* the canonical definition */
    char *name, *summary;
    agora_param_spec *params; /* NULL-terminated; amounts are not readable in expressions */
    int nparams;
    agora_rx_param *rxparams; /* [nparams + RX_INIT_NPSEUDO + AGORA_RULES_MAX_ARGS]: expressions' view */
    int *rx_of_param;         /* [nparams]: index in rxparams, or -1 (amounts) */
    int nrx;                  /* readable parameters */
    rx_vardef *vars;
    int nvars;
    agora_rx_var *rxvars;       /* [2 * nvars + 1]: own, then (pairs) partner.x and first */
    agora_metric_spec *metrics; /* NULL-terminated */
    agora__rx_prog **metric_progs;
    int nmetrics;
    int *observed; /* [nmetrics]: what personas see */
    agora_field_spec *fields;
    rx_action *actions;
    int nactions;
    char *action_schema;
    int npairs; /* variables with pair rules */
    agora__rx_prog *move_empty, *move_want;
    int uses_nb;        /* some expression reads neighbours */
    char nb_where[512]; /* the first such expression, for the mixed-space error */
    char *origin;       /* the file it came from, or "inline" */
    int listed;         /* found by name (agora__rules_find); 0: only by pointer (a definition a server client made) */
    /* The rules compiled to C (native.c), built by the first world that runs the model (under a lock), then shared:
     * rule_fn[i] evaluates variable i's rule, natively or by the interpreter. */
    int native_state; /* 0 not built yet, 1 built */
    struct agora__rx_native *native;
    agora__rx_range_fn rule_fn[AGORA_RULES_MAX_VARS];
    agora__rx_range_fn pair_fn[AGORA_RULES_MAX_VARS]; /* variable i's pair rule, likewise */
    agora__rx_range_fn move_fn[2];                    /* moves.empty and moves.want */
    /* The metrics' population aggregates as programs of their own (agora__rx_pop_program), metric by metric, measured
     * together in one pass (agora__rx_pop_aggregates_fused); agg_fn[j] evaluates agg_prog[j], natively (built with
     * the rules) or by the interpreter. nagg 0 when the metrics read no aggregate. */
    agora__rx_prog **agg_prog;
    agora__rx_range_fn *agg_fn;
    int nagg;
} agora__rules_model;

/* Builds the model's native rules once (AGORA_RULES_NATIVE=0: the interpreter) and returns the status text
 * ("native (cached ...)", "interpreter (...)"). */
const char *agora__rules_native(const agora__rules_model *m);

/* How a program that resolves models for someone else (the MCP server, for a client it does not trust) takes part
 * in resolving them; any member may be NULL (the library's own behaviour). */
typedef struct agora__rules_hooks {
    void *ud;
    /* A model file named by a path is about to be read: 0 lets it, with the file to open written to real (4096
     * bytes); else an error (the file is not read). Names found in the model directories are not asked about. */
    int (*may_read)(void *ud, const char *path, char *real, agora_error *err);
    /* A model name, looked up before the registry and the model directories: the model, or NULL to go on. */
    const agora_model *(*find)(void *ud, const char *name);
    /* A definition (inline, or in a file named by a path) that passed every check, in place of registering it by
     * name: takes m (agora__rules_intern or agora__rules_free it) and writes the model to *out, or returns an error
     * about the definition's name (a refused name, a limit) with err's message. */
    int (*defined)(void *ud, struct agora__rules_model *m, const agora_model **out, agora_error *err);
} agora__rules_hooks;

/* Checks a definition and builds its model without registering it: *out is owned by the caller (agora__rules_free,
 * or agora__rules_intern). `def` is the definition's tree; `locs` (may be NULL) its positions with key paths under
 * `prefix` ("" for a model file, "model.define" inline in a scenario); `file` names the text for errors and `text`
 * is that text (block scalars' columns are found in it); `stem` is the default name (a file's stem; NULL: a name is
 * required). The first error goes to err (already located: where = file, line and column set); with errs, every
 * error found (each rule, metric, action is checked even after another failed), up to AGORA_SCENARIO_MAX_ERRORS.
 * Errors: AGORA_ESCHEMA, AGORA_EPARSE (an expression's syntax), AGORA_ENOMEM. */
int agora__rules_build(const json_t *def, const void *locs, const char *prefix, const char *file, const char *text,
                       const char *stem, agora__rules_model **out, agora_error *err, agora_scenario_errors *errs);

/* Frees a model agora__rules_build made that was not interned (NULL is fine). */
void agora__rules_free(agora__rules_model *m);

/* Registers m (taken) in the process: *out is the model already registered with the same hash (m is freed; a
 * listed request makes it listed), else m itself. `listed`: agora__rules_find finds it by name. Errors:
 * AGORA_ERANGE when the process holds AGORA_RULES_MAX_MODELS models (m is freed). */
int agora__rules_intern(agora__rules_model *m, int listed, const agora_model **out, agora_error *err);

/* agora__rules_build, then agora__rules_intern (listed), or the hooks' `defined` when hooks has one. The same errors,
 * and AGORA_ERANGE (too many models) or the hook's. */
int agora__rules_define(const json_t *def, const void *locs, const char *prefix, const char *file, const char *text,
                        const char *stem, const agora__rules_hooks *hooks, const agora_model **out, agora_error *err,
                        agora_scenario_errors *errs);

/* Reads a model file (YAML or JSON) and defines its model (the file's stem is the default name). */
int agora__rules_load(const char *path, const agora_model **out, agora_error *err, agora_scenario_errors *errs);

/* The rule model a model is, or NULL (a built-in or plug-in). */
const agora__rules_model *agora__rules_of(const agora_model *m);

/* The most recently defined listed model of that name, or NULL. */
const agora_model *agora__rules_find(const char *name);

/* Every defined model, oldest first; *count set. The array is a snapshot owned by the caller (free). */
const agora_model **agora__rules_list(int *count);

/* Resolves a scenario's `model:` value: a registered name, a model file's path (relative to base_dir), a name found
 * as NAME.yaml (.yml, .json) in the model directories (base_dir/models, base_dir/../models, ./models, each directory
 * of $AGORA_MODEL_PATH, the installed share/agora/models), or {define: {...}} inline (located under `path` in the
 * scenario's locs and text). Errors are located (file:line:col). `hooks` may be NULL (see agora__rules_hooks); with
 * hooks, names are looked up in the model directories without base_dir's (a server's are its own). */
int agora__rules_resolve(const json_t *v, const char *base_dir, const void *locs, const char *path, const char *file,
                         const char *text, const agora__rules_hooks *hooks, const agora_model **out, agora_error *err,
                         agora_scenario_errors *errs);

/* agora_scenario_parse (text, named `path`; relative files against the working directory) or agora_scenario_load
 * (text NULL: the file `path`), the scenario's model resolved with `hooks` (may be NULL), now and after every
 * override, and `model` (may be NULL; not taken) in place of the text's model key. */
int agora__scenario_open(const char *text, size_t len, const char *path, const agora__rules_hooks *hooks,
                         const json_t *model, agora_scenario **out, agora_error *err);

/* Appends to buf (a ", "-separated list of names) the models found as files in the model directories of base_dir
 * (see agora__rules_resolve), each once. */
void agora__rules_dir_names(const char *base_dir, char *buf, size_t size);

/* The runtime's functions (runtime.c), put into each agora__rules_model's agora_model. */
int agora__rules_init(agora_world *w, const json_t *params, agora_error *err);
void agora__rules_step(agora_world *w);
void agora__rules_measure(const agora_world *w, double *out);
int agora__rules_observe(const agora_world *w, const char *role, json_t **obs, agora_error *err);
int agora__rules_apply(agora_world *w, const json_t *action, agora_error *err);
const void *agora__rules_field(const agora_world *w, int i);
void agora__rules_destroy(agora_world *w);
int agora__rules_copy(const agora_world *src, agora_world *dst, agora_error *err);
int agora__rules_set_field(agora_world *w, int i, const int64_t *ids, int64_t count, const double *values,
                           agora_error *err);
int agora__rules_save(const agora_world *w, const agora_state *st, agora_error *err);
int agora__rules_load_state(agora_world *w, const agora_state *st, agora_error *err);

#endif
