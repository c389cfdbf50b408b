/* agora CLI — `agora models`: every model with its parameters (type, default, range, doc), metrics, fields and the
 * actions personas may take (read from the model's action schema), as text or JSON. */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/internal.h"
#include "rules/model.h"

static const cli_opt models_opts[] = {{"json", 0, 0}, {"plugin", 0, 1}, {NULL, 0, 0}};

static const char models_help[] =
    "usage: agora models [NAME] [--json] [--plugin FILE.so]...\n"
    "\n"
    "Lists the models agora can run, or one model: parameters (type, default, range, meaning), metrics written\n"
    "every step, per-agent fields that snapshots hold, and the actions a persona or a scenario intervention may "
    "apply.\n"
    "A plug-in's models follow the built-ins, with the file they came from.\n"
    "\n"
    "options:\n"
    "      --json       everything as JSON, action schemas included (and each model's origin: null for a\n"
    "                   built-in, else the plug-in's path)\n"
    "      --plugin FILE.so  load the models of a C plug-in first (repeatable; also AGORA_PLUGINS=A.so:B.so)\n"
    "  -h, --help       this help\n"
    "  -V, --version    print the version\n";

static void range_text(const agora_param_spec *p, char *buf, size_t n)
{
    switch (p->type) {
    case AGORA_PARAM_REAL:
        snprintf(buf, n, "[%g, %g]", p->min, p->max);
        break;
    case AGORA_PARAM_INT:
        snprintf(buf, n, "[%.0f, %.0f]", p->min, p->max);
        break;
    case AGORA_PARAM_AMOUNT:
        snprintf(buf, n, "fraction [0, 1) or count >= 1");
        break;
    case AGORA_PARAM_CHOICE:
        snprintf(buf, n, "%s", p->choices);
        break;
    default:
        snprintf(buf, n, "true|false");
    }
}

/* "fraction: number in [0, 1]" for each property of an action branch except its name. */
static void action_args(const json_t *branch, char *buf, size_t n)
{
    size_t o = 0;
    const char *key;
    json_t *prop;
    buf[0] = '\0';
    json_object_foreach(json_object_get(branch, "properties"), key, prop) {
        if (strcmp(key, "action") == 0 || o + 8 >= n)
            continue;
        const char *type = json_string_value(json_object_get(prop, "type"));
        const json_t *lo = json_object_get(prop, "minimum"), *hi = json_object_get(prop, "maximum");
        o += (size_t)snprintf(buf + o, n - o, "%s%s: %s", o ? ", " : "", key, type ? type : "value");
        if (lo && hi && o < n)
            o += (size_t)snprintf(buf + o, n - o, " in [%g, %g]", json_number_value(lo), json_number_value(hi));
        else if (lo && o < n)
            o += (size_t)snprintf(buf + o, n - o, " >= %g", json_number_value(lo));
    }
}

static void print_model_text(const agora_model *m)
{
    printf("%s: %s\n", m->name, m->summary);
    const char *from = agora_model_origin(m);
    if (from)
        printf("  plug-in: %s\n", from[0] ? from : "(registered by the program)");
    if (agora__rules_of(m)) {
        const agora__rules_model *r = agora__rules_of(m);
        printf("  rule language: %s (definition %.12s)%s\n", r->origin, r->hash,
               r->move_want ? "; moves: two bits per agent are kept too (who is empty, who wants to move)" : "");
    }
    printf("  runs on:");
    for (int k = AGORA_SPACE_GRID, first = 1; k <= AGORA_SPACE_MIXED; k++)
        if (m->spaces & AGORA_SPACES_FLAG(k)) {
            printf("%s %s", first ? "" : ",", agora_space_kind_name((agora_space_kind)k));
            first = 0;
        }
    printf("\n");
    printf("  parameters:\n");
    json_t *desc = agora_model_describe(m);
    for (int i = 0; m->params && m->params[i].name; i++) {
        const agora_param_spec *p = &m->params[i];
        char range[128];
        range_text(p, range, sizeof range);
        const json_t *d = json_object_get(json_array_get(json_object_get(desc, "params"), (size_t)i), "default");
        char *dt = agora__json_dumps(d, JSON_ENCODE_ANY);
        printf("    %-18s %-7s default %-8s %-30s %s\n", p->name, agora_param_type_name(p->type), dt ? dt : "?", range,
               p->doc);
        free(dt);
    }
    json_decref(desc);
    printf("  metrics (one value per step in /metrics):\n");
    for (int i = 0; m->metrics && m->metrics[i].name; i++)
        printf("    %-20s %s\n", m->metrics[i].name, m->metrics[i].doc);
    printf("  fields (per agent, in /snapshots):\n");
    for (int i = 0; m->fields && m->fields[i].name; i++)
        printf("    %-12s %-8s %s\n", m->fields[i].name, agora_dtype_name(m->fields[i].type), m->fields[i].doc);
    json_t *schema = agora_model_action_schema(m, NULL);
    const json_t *branches = json_object_get(schema, "anyOf");
    if (!branches)
        branches = json_object_get(schema, "oneOf");
    if (json_array_size(branches)) {
        printf("  actions (for personas and scenario interventions):\n");
        size_t i;
        json_t *b;
        json_array_foreach(branches, i, b) {
            const char *name = json_string_value(
                json_object_get(json_object_get(json_object_get(b, "properties"), "action"), "const"));
            char args[512];
            action_args(b, args, sizeof args);
            const char *doc = json_string_value(json_object_get(b, "description"));
            printf("    %s {%s}\n      %s\n", name ? name : "?", args, doc ? doc : "");
        }
    }
    json_decref(schema);
}

int cmd_models(int argc, char **argv)
{
    cli_args a;
    int rc = cli_parse("models", argc, argv, models_opts, &a);
    if (rc != CLI_OK)
        return rc;
    if (cli_builtin(&a, models_help))
        return CLI_OK;
    if ((rc = cli_load_plugins("models", &a)) != CLI_OK)
        return rc;
    if (a.n_pos > 1) {
        fprintf(stderr, "agora models: expected at most one model name\n");
        return CLI_USAGE;
    }
    int nreg;
    const agora_model *const *reg = agora_models(&nreg);
    const agora_model *one = NULL;
    /* registered models, then the rule-language model files of the model directories (./models,
     * $AGORA_MODEL_PATH, the installed ones) */
    const agora_model *all[AGORA_MODEL_MAX_REGISTERED + AGORA_RULES_MAX_MODELS];
    int n = 0;
    for (int i = 0; i < nreg; i++)
        all[n++] = reg[i];
    if (a.n_pos == 1) {
        json_t *v = json_string(a.pos[0]);
        agora_scenario_errors errs;
        memset(&errs, 0, sizeof errs);
        agora_error err;
        int r = agora__rules_resolve(v, ".", NULL, "model", a.pos[0], NULL, NULL, &one, &err, &errs);
        json_decref(v);
        if (r == AGORA_ENOTFOUND) {
            fprintf(stderr, "agora models: unknown model \"%s\" (known:", a.pos[0]);
            for (int i = 0; i < n; i++)
                fprintf(stderr, " %s", all[i]->name);
            fprintf(stderr, "; a model file's path, a name in ./models or $AGORA_MODEL_PATH; a model from a C plug-in "
                            "needs --plugin FILE.so)\n");
            return CLI_USAGE;
        }
        if (r) {
            for (int i = 0; i < errs.n; i++)
                cli_error("models", &errs.e[i]);
            if (!errs.n)
                cli_error("models", &err);
            if (errs.more)
                fprintf(stderr, "agora models: ... and more errors\n");
            return CLI_USAGE; /* as `agora validate` does for a file with errors */
        }
        int listed = 0;
        for (int i = 0; i < n; i++)
            listed |= all[i] == one;
        if (!listed)
            all[n++] = one;
    } else {
        char names[4096] = "";
        agora__rules_dir_names(NULL, names, sizeof names);
        for (char *tok = strtok(names, ", "); tok; tok = strtok(NULL, ", ")) {
            json_t *v = json_string(tok);
            const agora_model *m = NULL;
            agora_error err;
            if (agora__rules_resolve(v, NULL, NULL, "model", tok, NULL, NULL, &m, &err, NULL) == 0 && m &&
                n < (int)(sizeof all / sizeof all[0])) {
                int dup = 0;
                for (int i = 0; i < n; i++)
                    dup |= all[i] == m;
                if (!dup)
                    all[n++] = m;
            } else if (m == NULL) {
                char why[1024];
                fprintf(stderr, "agora models: skipping the model file of %s: %s\n", tok,
                        agora_error_format(&err, why, sizeof why));
            }
            json_decref(v);
        }
    }
    if (cli_has(&a, "json")) {
        json_t *list = json_array();
        for (int i = 0; i < n; i++)
            if (!one || all[i] == one) {
                json_t *d = agora_model_describe(all[i]);
                const char *from =
                    agora__rules_of(all[i]) ? agora__rules_of(all[i])->origin : agora_model_origin(all[i]);
                json_object_set_new(d, "origin", from ? json_string(from) : json_null());
                json_array_append_new(list, d);
            }
        json_t *doc = json_pack("{s:o}", "models", list);
        char *s = agora__json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        puts(s ? s : "{}");
        free(s);
        json_decref(doc);
        return CLI_OK;
    }
    for (int i = 0; i < n; i++) {
        if (one && all[i] != one)
            continue;
        print_model_text(all[i]);
        if (i + 1 < n && !one)
            printf("\n");
    }
    return CLI_OK;
}
