/* agora CLI — `agora export FILE --csv DIR`: every table of a run file (or a sweep file) as one CSV file in DIR.
 * The library finds the tables (agora_h5_tables: /metrics, /events, /llm/calls, /sweep/table and any later table
 * of the writer) and reads them as JSON rows (agora_h5_table); this file only turns rows into RFC 4180 text. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "core/internal.h"

static const cli_opt export_opts[] = {{"csv", 0, 1}, {"tables", 0, 1}, {"quiet", 'q', 0}, {NULL, 0, 0}};

static const char export_help[] =
    "usage: agora export FILE --csv DIR [--tables LIST] [-q]\n"
    "\n"
    "Writes every table of a run file (or a sweep file) as one CSV file in DIR, which is created if missing: the\n"
    "metrics as metrics.csv (a time column, then one column per metric) and each other table under its path with\n"
    "'/' turned into '_' (events.csv, llm_calls.csv, sweep_table.csv, ...), one row per logical row (long texts\n"
    "joined). The first line names the columns. Fields follow RFC 4180: CRLF line ends, a field holding a comma, a\n"
    "quote or a line break is quoted with its quotes doubled; text is UTF-8; floats have 17 significant digits, so\n"
    "they read back exactly; an undefined value (NaN) is an empty field.\n"
    "\n"
    "options:\n"
    "      --csv DIR       the directory to write into\n"
    "      --tables LIST   only these tables, comma-separated, by file name or path (e.g. metrics,llm_calls or\n"
    "                      /llm/calls)\n"
    "  -q, --quiet         do not list the files written\n"
    "  -h, --help          this help\n"
    "  -V, --version       print the version\n";

/* The CSV file name of a table without ".csv": its path without the leading '/', every other '/' turned into '_'
 * ("/llm/calls" -> "llm_calls"). Free with free(). */
static char *base_name(const char *path)
{
    char *s = strdup(path[0] == '/' ? path + 1 : path);
    for (char *p = s; p && *p; p++)
        if (*p == '/')
            *p = '_';
    return s;
}

/* Whether `want` (one item of --tables) names the table at `path` with CSV name `base`: "llm_calls",
 * "llm_calls.csv", "/llm/calls" and "llm/calls" all name /llm/calls. */
static int names_table(const char *want, size_t n, const char *path, const char *base)
{
    if (n > 4 && !strncmp(want + n - 4, ".csv", 4) && strlen(base) == n - 4 && !strncmp(want, base, n - 4))
        return 1;
    if (strlen(base) == n && !strncmp(want, base, n))
        return 1;
    if (want[0] != '/' && path[0] == '/')
        path++;
    return strlen(path) == n && !strncmp(want, path, n);
}

/* Writes one field: quoted (quotes doubled) when it holds a comma, a quote, CR or LF, as RFC 4180 asks. */
static void put_text(FILE *f, const char *s, size_t n)
{
    int quote = 0;
    for (size_t i = 0; i < n && !quote; i++)
        quote = s[i] == ',' || s[i] == '"' || s[i] == '\r' || s[i] == '\n';
    if (!quote) {
        fwrite(s, 1, n, f);
        return;
    }
    putc('"', f);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"')
            putc('"', f);
        putc(s[i], f);
    }
    putc('"', f);
}

/* A JSON value as one field: integers as integers, floats with 17 significant digits (they read back to the same
 * double), null (a NaN in the file) or a missing value as an empty field. */
static void put_field(FILE *f, const json_t *v)
{
    switch (v ? json_typeof(v) : JSON_NULL) {
    case JSON_INTEGER:
        fprintf(f, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        break;
    case JSON_REAL:
        fprintf(f, "%.17g", json_real_value(v));
        break;
    case JSON_STRING:
        put_text(f, json_string_value(v), json_string_length(v));
        break;
    case JSON_TRUE:
        fputs("true", f);
        break;
    case JSON_FALSE:
        fputs("false", f);
        break;
    case JSON_NULL:
        break;
    default: {
        char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        if (s)
            put_text(f, s, strlen(s));
        free(s);
    }
    }
}

/* Writes the header (`columns`) and `rows` to `file`; prints the reason and returns -1 when it cannot. */
static int write_csv(const char *file, const json_t *columns, const json_t *rows)
{
    FILE *f = fopen(file, "wb");
    if (!f) {
        fprintf(stderr, "agora export: %s: cannot create the file: %s\n", file, strerror(errno));
        return -1;
    }
    size_t c, r;
    json_t *col, *row;
    json_array_foreach(columns, c, col) {
        if (c)
            putc(',', f);
        put_text(f, json_string_value(col), json_string_length(col));
    }
    fputs("\r\n", f);
    json_array_foreach(rows, r, row) {
        json_array_foreach(columns, c, col) {
            if (c)
                putc(',', f);
            put_field(f, json_object_get(row, json_string_value(col)));
        }
        fputs("\r\n", f);
    }
    int bad = ferror(f);
    int saved = errno;
    if (fclose(f) != 0 && !bad) {
        bad = 1;
        saved = errno;
    }
    if (bad) {
        fprintf(stderr, "agora export: %s: cannot write the file: %s\n", file, strerror(saved));
        return -1;
    }
    return 0;
}

/* Keeps the tables that --tables names (all of them without it); prints the problem and returns -1 when an item
 * names no table of the file. Adds "base" (the CSV name) to every table kept. */
static int select_tables(const char *file, const json_t *all, const char *list, json_t *chosen)
{
    size_t k;
    json_t *t;
    json_array_foreach(all, k, t) {
        const char *path = json_string_value(json_object_get(t, "path"));
        char *base = base_name(path);
        if (!base)
            return -1;
        int keep = list == NULL;
        for (const char *p = list; p && !keep;) {
            size_t n = strcspn(p, ",");
            keep = n > 0 && names_table(p, n, path, base);
            p = p[n] ? p + n + 1 : NULL;
        }
        if (keep) {
            json_t *copy = json_copy(t);
            json_object_set_new(copy, "base", json_string(base));
            json_array_append_new(chosen, copy);
        }
        free(base);
    }
    for (const char *p = list; p;) {
        size_t n = strcspn(p, ",");
        int found = 0;
        json_array_foreach(chosen, k, t)
            found = found || names_table(p, n, json_string_value(json_object_get(t, "path")),
                                         json_string_value(json_object_get(t, "base")));
        if (n > 0 && !found) {
            fprintf(stderr, "agora export: %s has no table \"%.*s\"; it has:", file, (int)n, p);
            json_array_foreach(all, k, t) {
                char *base = base_name(json_string_value(json_object_get(t, "path")));
                fprintf(stderr, " %s", base ? base : "?");
                free(base);
            }
            fprintf(stderr, "\n");
            return -1;
        }
        p = p[n] ? p + n + 1 : NULL;
    }
    return 0;
}

int cmd_export(int argc, char **argv)
{
    cli_args a;
    int rc = cli_parse("export", argc, argv, export_opts, &a);
    if (rc != CLI_OK)
        return rc;
    if (cli_builtin(&a, export_help))
        return CLI_OK;
    const char *dir = cli_get(&a, "csv");
    if (a.n_pos != 1 || !dir || !*dir) {
        fprintf(stderr, "agora export: expected a run file and --csv DIR (see agora export --help)\n");
        return CLI_USAGE;
    }
    const char *file = a.pos[0];
    json_t *all = NULL, *chosen = json_array(), *rows = NULL;
    char *out = NULL;
    agora_error err;
    if (agora_h5_tables(file, &all, &err) != 0) {
        cli_error("export", &err);
        rc = CLI_FAILED;
        goto done;
    }
    if (!chosen || select_tables(file, all, cli_get(&a, "tables"), chosen) != 0) {
        rc = CLI_USAGE;
        goto done;
    }
    /* Two tables with the same CSV name (/a_b and /a/b) would overwrite each other: refuse before writing. */
    size_t k, j;
    json_t *t, *u;
    json_array_foreach(chosen, k, t) {
        json_array_foreach(chosen, j, u) {
            if (j < k && json_equal(json_object_get(t, "base"), json_object_get(u, "base"))) {
                fprintf(stderr, "agora export: %s: tables %s and %s would both be written to %s.csv\n", file,
                        json_string_value(json_object_get(u, "path")), json_string_value(json_object_get(t, "path")),
                        json_string_value(json_object_get(t, "base")));
                rc = CLI_FAILED;
                goto done;
            }
        }
    }
    struct stat st;
    if (agora__mkdirs(dir, &err) != 0) {
        cli_error("export", &err);
        rc = CLI_FAILED;
        goto done;
    }
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "agora export: %s: cannot create the directory: a file of that name is in the way\n", dir);
        rc = CLI_FAILED;
        goto done;
    }
    if (json_array_size(all) == 0 && !cli_has(&a, "quiet"))
        fprintf(stderr, "agora export: %s has no tables: nothing written\n", file);
    size_t len = strlen(dir);
    const char *sep = dir[len - 1] == '/' ? "" : "/";
    json_array_foreach(chosen, k, t) {
        const char *path = json_string_value(json_object_get(t, "path"));
        const char *base = json_string_value(json_object_get(t, "base"));
        if (agora_h5_table(file, path, &rows, &err) != 0) {
            cli_error("export", &err);
            rc = CLI_FAILED;
            goto done;
        }
        free(out);
        if (!(out = malloc(len + strlen(sep) + strlen(base) + 5))) {
            fprintf(stderr, "agora export: out of memory\n");
            rc = CLI_FAILED;
            goto done;
        }
        sprintf(out, "%s%s%s.csv", dir, sep, base);
        if (write_csv(out, json_object_get(t, "columns"), rows) != 0) {
            rc = CLI_FAILED;
            goto done;
        }
        if (!cli_has(&a, "quiet"))
            printf("wrote %s (%zu row%s)\n", out, json_array_size(rows), json_array_size(rows) == 1 ? "" : "s");
        json_decref(rows);
        rows = NULL;
    }
    rc = CLI_OK;
done:
    free(out);
    json_decref(rows);
    json_decref(chosen);
    json_decref(all);
    return rc;
}
