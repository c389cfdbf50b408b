/* agora — the MCP server's places: where its tools may write (--output-dir) and read (--allow-read), and errors
 * about files that never show what the files hold.
 *
 * The threat is the client itself: an LLM agent that may be prompt-injected names files directly (the `path`,
 * `output` and `llm` arguments) and indirectly (its own scenario text, `set` overrides, a scenario file's space.path,
 * llm.path of a replay recording, enrich.sources). So:
 *
 *  - A run file is a plain relative name under the output directory: no absolute path, no ".." component. The
 *    directories on the way are opened one at a time from the output directory's real path with O_NOFOLLOW (made
 *    when missing), so a symbolic link on the way is refused, and the file is reserved with O_CREAT | O_EXCL |
 *    O_NOFOLLOW: an existing file (a symbolic link, even a dangling one, included) is never written through or
 *    overwritten. The library then writes the reserved file by its real path. Whoever could swap a directory for a
 *    link between the reservation and the library's open must already be able to write the output directory; the
 *    client cannot.
 *  - A file the tools read must lie in one of the read roots (real paths taken at start). A path is first checked as
 *    written, made absolute and normalised without touching the file system, so a path outside says nothing about
 *    whether it exists; one inside is then resolved with realpath, which must stay inside (a link leading out is
 *    refused). Relative paths resolve as the library resolves them (a scenario's directory, then the working
 *    directory, for edge lists), and the library is then given only files that passed.
 *  - An error about a scenario file named by `path` keeps what was wrong and where (the key path, the line) and drops
 *    the file's text: its values, a non-scenario file's keys, a syntax error's context; an edge-list error drops the
 *    line it quotes. Errors about the client's own text (inline scenarios, overrides) are left as they are. */
#define _XOPEN_SOURCE 700 /* realpath, openat, mkdirat, fstatat */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/internal.h"
#include "io/yaml.h"
#include "mcp/mcpint.h"

#define MAX_SCRUB_FILE (64u << 20) /* a scenario file larger than this is described without being parsed again */

/* ---- paths without the file system ----------------------------------------------------------------------------- */

/* `path` made absolute (against the working directory) and normalised: no ".", "..", empty components or trailing
 * slash. Returns 0, or -1 when it does not fit. */
static int lexical_abs(const char *path, char *out, size_t size)
{
    char cwd[PATH_MAX], buf[2 * PATH_MAX + 2];
    if (path[0] == '/') {
        if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
            return -1;
    } else {
        if (!getcwd(cwd, sizeof cwd) || snprintf(buf, sizeof buf, "%s/%s", cwd, path) >= (int)sizeof buf)
            return -1;
    }
    size_t n = 0;
    out[0] = '\0';
    for (char *save = NULL, *c = strtok_r(buf, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
        if (strcmp(c, ".") == 0)
            continue;
        if (strcmp(c, "..") == 0) {
            while (n > 0 && out[n - 1] != '/')
                n--;
            if (n > 0)
                n--;
            out[n] = '\0';
            continue;
        }
        size_t k = strlen(c);
        if (n + 1 + k + 1 > size)
            return -1;
        out[n++] = '/';
        memcpy(out + n, c, k + 1);
        n += k;
    }
    if (n == 0) {
        if (size < 2)
            return -1;
        strcpy(out, "/");
    }
    return 0;
}

/* True when `path` is `dir` or lies below it (both absolute and normalised). */
static int within(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    if (n == 1 && dir[0] == '/')
        return 1;
    return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* ---- start and stop -------------------------------------------------------------------------------------------- */

static int add_root(agora_mcp *srv, const char *dir, agora_error *err)
{
    char real[PATH_MAX], given[PATH_MAX];
    struct stat st;
    if (!realpath(dir, real) || stat(real, &st) != 0)
        return agora_error_set(err, AGORA_EINVAL, "--allow-read", "%s: %s (a read root must be a directory)", dir,
                               strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return agora_error_set(err, AGORA_EINVAL, "--allow-read", "%s: not a directory", dir);
    if (lexical_abs(dir, given, sizeof given) != 0)
        snprintf(given, sizeof given, "%s", real);
    char **r = realloc(srv->roots, (size_t)(srv->n_roots + 1) * sizeof *r);
    if (r)
        srv->roots = r;
    char **g = r ? realloc(srv->roots_given, (size_t)(srv->n_roots + 1) * sizeof *g) : NULL;
    if (g)
        srv->roots_given = g;
    if (!r || !g)
        return agora_error_set(err, AGORA_ENOMEM, NULL, "out of memory");
    srv->roots[srv->n_roots] = strdup(real);
    srv->roots_given[srv->n_roots] = strdup(given);
    srv->n_roots++;
    if (!srv->roots[srv->n_roots - 1] || !srv->roots_given[srv->n_roots - 1])
        return agora_error_set(err, AGORA_ENOMEM, NULL, "out of memory");
    return 0;
}

static int add_string(char ***list, int *n, const char *s, agora_error *err)
{
    char **l = realloc(*list, (size_t)(*n + 1) * sizeof *l);
    if (!l)
        return agora_error_set(err, AGORA_ENOMEM, NULL, "out of memory");
    *list = l;
    if (!(l[*n] = strdup(s)))
        return agora_error_set(err, AGORA_ENOMEM, NULL, "out of memory");
    (*n)++;
    return 0;
}

int agora__mcp_places_init(agora_mcp *srv, const agora_mcp_options *opt, agora_error *err)
{
    const char *dir = opt->output_dir && *opt->output_dir ? opt->output_dir : "runs/mcp";
    char abs[PATH_MAX];
    srv->output_dir = strdup(lexical_abs(dir, abs, sizeof abs) == 0 ? abs : dir);
    if (!srv->output_dir)
        return agora_error_set(err, AGORA_ENOMEM, NULL, "out of memory");
    int rc = 0;
    for (int i = 0; rc == 0 && opt->allow_read && i < opt->n_allow_read; i++)
        if (opt->allow_read[i] && opt->allow_read[i][0])
            rc = add_root(srv, opt->allow_read[i], err);
    for (int i = 0; rc == 0 && opt->allow_llm && i < opt->n_allow_llm; i++)
        if (opt->allow_llm[i] && opt->allow_llm[i][0])
            rc = add_string(&srv->llm_urls, &srv->n_llm_urls, opt->allow_llm[i], err);
    for (int i = 0; rc == 0 && opt->llm_key_env && i < opt->n_llm_key_env; i++)
        if (opt->llm_key_env[i] && opt->llm_key_env[i][0])
            rc = add_string(&srv->key_envs, &srv->n_key_envs, opt->llm_key_env[i], err);
    if (rc == 0 && srv->n_roots == 0) {
        char cwd[PATH_MAX];
        if (!getcwd(cwd, sizeof cwd))
            return agora_error_set(err, AGORA_EIO, "--allow-read", "cannot tell the working directory: %s",
                                   strerror(errno));
        rc = add_root(srv, cwd, err);
    }
    return rc;
}

void agora__mcp_places_free(agora_mcp *srv)
{
    for (int i = 0; i < srv->n_roots; i++) {
        free(srv->roots[i]);
        free(srv->roots_given[i]);
    }
    free(srv->roots);
    free(srv->roots_given);
    for (int i = 0; i < srv->n_llm_urls; i++)
        free(srv->llm_urls[i]);
    for (int i = 0; i < srv->n_key_envs; i++)
        free(srv->key_envs[i]);
    free(srv->llm_urls);
    free(srv->key_envs);
    srv->llm_urls = srv->key_envs = NULL;
    srv->n_llm_urls = srv->n_key_envs = 0;
    free(srv->output_dir);
    srv->roots = srv->roots_given = NULL;
    srv->output_dir = NULL;
    srv->n_roots = 0;
}

void agora__mcp_places_add(const agora_mcp *srv, json_t *limits)
{
    json_t *roots = json_array();
    for (int i = 0; i < srv->n_roots; i++)
        json_array_append_new(roots, json_string(srv->roots[i]));
    json_object_set_new(limits, "output_dir", json_string(srv->output_dir));
    json_object_set_new(limits, "allow_read", roots);
    json_t *urls = json_array();
    for (int i = 0; i < srv->n_llm_urls; i++)
        json_array_append_new(urls, json_string(srv->llm_urls[i]));
    json_object_set_new(limits, "allow_llm", urls);
}

/* "/a, /b" into buf. */
static const char *roots_text(const agora_mcp *srv, char *buf, size_t size)
{
    size_t n = 0;
    buf[0] = '\0';
    for (int i = 0; i < srv->n_roots && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, "%s%s", i ? ", " : "", srv->roots[i]);
    return buf;
}

void agora__mcp_places_describe(const agora_mcp *srv, agora__buf *b)
{
    char roots[2048];
    agora__buf_add(b,
                   " Run files are written under %s, by a relative name (output) or a new one; files are read only "
                   "from %s (agora mcp --allow-read).",
                   srv->output_dir, roots_text(srv, roots, sizeof roots));
}

/* ---- reads ----------------------------------------------------------------------------------------------------- */

/* The refusal of a read outside the roots. */
static int outside(const agora_mcp *srv, const char *key, const char *path, const char *how, agora_error *err)
{
    char roots[2048];
    return agora_error_set(err, AGORA_EINVAL, key,
                           "\"%s\" %s outside the directories this server may read (%s): name a file inside them, "
                           "or start the server with --allow-read DIR",
                           path, how, roots_text(srv, roots, sizeof roots));
}

/* The lexical check: `abs` (absolute, normalised) inside a root as given or as resolved. */
static int lexically_inside(const agora_mcp *srv, const char *abs)
{
    for (int i = 0; i < srv->n_roots; i++)
        if (within(abs, srv->roots[i]) || within(abs, srv->roots_given[i]))
            return 1;
    return 0;
}

/* The real-path check of a file that exists. real: PATH_MAX bytes. */
static int resolve_inside(const agora_mcp *srv, const char *shown, const char *abs, const char *key, char *real,
                          agora_error *err)
{
    if (!realpath(abs, real))
        return agora_error_set(err, AGORA_EIO, key, "cannot open \"%s\": %s", shown, strerror(errno));
    for (int i = 0; i < srv->n_roots; i++)
        if (within(real, srv->roots[i]))
            return 0;
    return outside(srv, key, shown, "leads (through a symbolic link)", err);
}

int agora__mcp_read_path(const agora_mcp *srv, const char *path, const char *base_dir, const char *key, char *real,
                         agora_error *err)
{
    char joined[2 * PATH_MAX + 2], abs[PATH_MAX];
    if (path[0] != '/' && base_dir && base_dir[0] && strcmp(base_dir, ".") != 0)
        snprintf(joined, sizeof joined, "%s/%s", base_dir, path);
    else
        snprintf(joined, sizeof joined, "%s", path);
    if (lexical_abs(joined, abs, sizeof abs) != 0)
        return agora_error_set(err, AGORA_EINVAL, key, "the path \"%s\" is too long", path);
    if (!lexically_inside(srv, abs))
        return outside(srv, key, path, "lies", err);
    return resolve_inside(srv, path, abs, key, real, err);
}

/* space.path of a graph read from a file, found as the space finds it: against the scenario's directory, then the
 * working directory. Each candidate is checked before it is looked at. */
static int check_edge_list(const agora_mcp *srv, const char *path, const char *base_dir, agora_error *err)
{
    char real[PATH_MAX], joined[2 * PATH_MAX + 2], abs[PATH_MAX];
    struct stat st;
    const char *tries[2];
    int n = 0;
    if (path[0] != '/' && base_dir && base_dir[0]) {
        snprintf(joined, sizeof joined, "%s/%s", base_dir, path);
        tries[n++] = joined;
    }
    tries[n++] = path;
    for (int i = 0; i < n; i++) {
        if (lexical_abs(tries[i], abs, sizeof abs) != 0)
            return agora_error_set(err, AGORA_EINVAL, "space.path", "the path \"%s\" is too long", path);
        if (!lexically_inside(srv, abs))
            return outside(srv, "space.path", path, "lies", err);
        if (stat(abs, &st) == 0)
            return resolve_inside(srv, path, abs, "space.path", real, err);
    }
    return 0; /* found nowhere: the space says so, having looked only where this did */
}

/* Calls visit(obj, at) on every object inside v (v itself included), depth first, `at` being its key path; the
 * keys `skip` of the top object are not entered. Configurations nest a few levels; beyond 16 nothing is read. */
typedef int (*object_visit)(const agora_mcp *srv, const json_t *obj, const char *at, const void *ctx,
                            agora_error *err);

/* sub = at.key, or at[i] (key NULL); a path too long for sub is cut (it only names a place in a message). */
static void key_path(char sub[256], const char *at, const char *key, size_t i)
{
    const int n = key ? snprintf(sub, 256, "%s%s%s", at, at[0] ? "." : "", key) : snprintf(sub, 256, "%s[%zu]", at, i);
    if (n >= 256)
        memcpy(sub + 252, "...", 4);
}

static int each_object(const agora_mcp *srv, const json_t *v, const char *at, int depth, const char *const *skip,
                       object_visit visit, const void *ctx, agora_error *err)
{
    char sub[256];
    int rc;
    if (depth > 16)
        return 0;
    if (json_is_object(v)) {
        if ((rc = visit(srv, v, at, ctx, err)) != 0)
            return rc;
        const char *key;
        json_t *x;
        json_object_foreach((json_t *)v, key, x) {
            int skipped = 0;
            for (const char *const *k = skip; depth == 0 && k && *k; k++)
                skipped |= strcmp(*k, key) == 0;
            key_path(sub, at, key, 0);
            if (!skipped && (rc = each_object(srv, x, sub, depth + 1, skip, visit, ctx, err)) != 0)
                return rc;
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) {
            key_path(sub, at, NULL, i);
            if ((rc = each_object(srv, x, sub, depth + 1, skip, visit, ctx, err)) != 0)
                return rc;
        }
    }
    return 0;
}

/* A {provider: replay, path} object (the top llm block, roles, actors, personas): its file is read from an allowed
 * root. ctx: the scenario's directory. */
static int check_replay(const agora_mcp *srv, const json_t *obj, const char *at, const void *ctx, agora_error *err)
{
    const char *provider = json_string_value(json_object_get(obj, "provider"));
    const char *path = json_string_value(json_object_get(obj, "path"));
    if (!provider || strcmp(provider, "replay") != 0 || !path || !path[0])
        return 0;
    char sub[256], real[PATH_MAX];
    key_path(sub, at, "path", 0);
    return agora__mcp_read_path(srv, path, (const char *)ctx, sub, real, err);
}

static int check_reads(const agora_mcp *srv, const agora_scenario *sc, agora_error *err)
{
    const json_t *cfg = agora_scenario_config(sc);
    const char *base = agora_scenario_base_dir(sc);
    const json_t *space = json_object_get(cfg, "space");
    const char *gen = json_string_value(json_object_get(space, "generator"));
    const char *gpath = json_string_value(json_object_get(space, "path"));
    int rc;
    if (gen && strcmp(gen, "file") == 0 && gpath && gpath[0] && (rc = check_edge_list(srv, gpath, base, err)) != 0)
        return rc;
    if ((rc = each_object(srv, cfg, "", 0, NULL, check_replay, base, err)) != 0)
        return rc;
    /* enrich sources are read as the interactions engine reads them: relative to the scenario's directory */
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(json_object_get(cfg, "enrich"), "sources"), i, s) {
        const char *p = json_string_value(s);
        char real[PATH_MAX], key[64];
        snprintf(key, sizeof key, "enrich.sources[%zu]", i);
        if (p && p[0] && (rc = agora__mcp_read_path(srv, p, base, key, real, err)) != 0) {
            if (rc == AGORA_EIO)
                continue; /* a source that does not exist is skipped by the engine too */
            return rc;
        }
    }
    return 0;
}

int agora__mcp_check_reads(const agora_mcp *srv, const agora_scenario *sc, agora_error *err)
{
    int rc = check_reads(srv, sc, err);
    if (rc != 0)
        agora_scenario_locate(sc, err); /* the file and line, or the override, that named the file */
    return rc;
}

/* ---- LLM endpoints --------------------------------------------------------------------------------------------- */

/* The origin of a URL: scheme (http when none), lower-case host, port (the scheme's when none). 0, or -1 when it is
 * not a URL of an origin one can compare. */
typedef struct origin {
    char scheme[8];
    char host[256];
    int port;
} origin;

static int parse_origin(const char *url, origin *o)
{
    memset(o, 0, sizeof *o);
    const char *p = strstr(url, "://");
    if (p) {
        size_t n = (size_t)(p - url);
        if (n == 0 || n >= sizeof o->scheme)
            return -1;
        for (size_t i = 0; i < n; i++)
            o->scheme[i] = (char)tolower((unsigned char)url[i]);
        p += 3;
    } else {
        snprintf(o->scheme, sizeof o->scheme, "http");
        p = url;
    }
    if (strcmp(o->scheme, "http") != 0 && strcmp(o->scheme, "https") != 0)
        return -1;
    /* user:password@ would hide the real host behind a plausible one: refused */
    const char *end = p + strcspn(p, "/?#");
    if (memchr(p, '@', (size_t)(end - p)))
        return -1;
    const char *host_end = end, *colon = NULL;
    if (*p == '[') { /* [v6 address] */
        const char *rb = memchr(p, ']', (size_t)(end - p));
        if (!rb)
            return -1;
        host_end = rb + 1;
        colon = host_end < end && *host_end == ':' ? host_end : NULL;
    } else {
        colon = memchr(p, ':', (size_t)(end - p));
        if (colon)
            host_end = colon;
    }
    size_t hn = (size_t)(host_end - p);
    if (hn == 0 || hn >= sizeof o->host)
        return -1;
    for (size_t i = 0; i < hn; i++)
        o->host[i] = (char)tolower((unsigned char)p[i]);
    o->port = strcmp(o->scheme, "https") == 0 ? 443 : 80;
    if (colon) {
        char *stop = NULL;
        long port = strtol(colon + 1, &stop, 10);
        if (stop != end || port < 1 || port > 65535)
            return -1;
        o->port = (int)port;
    }
    return 0;
}

static int same_origin(const origin *a, const origin *b)
{
    return strcmp(a->scheme, b->scheme) == 0 && strcmp(a->host, b->host) == 0 && a->port == b->port;
}

static int loopback_host(const char *h)
{
    return strcmp(h, "localhost") == 0 || strcmp(h, "[::1]") == 0 || strncmp(h, "127.", 4) == 0;
}

/* Whether calls may go to `url`: a loopback host, a provider's default (or the server environment's), or an
 * origin given with --allow-llm. */
static int llm_url_allowed(const agora_mcp *srv, const char *url)
{
    origin o, a;
    if (parse_origin(url, &o) != 0)
        return 0;
    if (loopback_host(o.host))
        return 1;
    const char *defaults[] = {"https://api.openai.com", "http://127.0.0.1:11434", getenv("OLLAMA_HOST"),
                              getenv("OPENAI_BASE_URL")};
    for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++)
        if (defaults[i] && defaults[i][0] && parse_origin(defaults[i], &a) == 0 && same_origin(&o, &a))
            return 1;
    for (int i = 0; i < srv->n_llm_urls; i++)
        if (parse_origin(srv->llm_urls[i], &a) == 0 && same_origin(&o, &a))
            return 1;
    return 0;
}

static int key_env_allowed(const agora_mcp *srv, const char *name)
{
    if (strcmp(name, "AGORA_API_KEY") == 0 || strcmp(name, "OPENAI_API_KEY") == 0)
        return 1;
    for (int i = 0; i < srv->n_key_envs; i++)
        if (strcmp(srv->key_envs[i], name) == 0)
            return 1;
    return 0;
}

/* The base_url and api_key_env of an object of the configuration (outside the world's own state and the model's
 * params, which the walk does not enter). */
static int check_llm_keys(const agora_mcp *srv, const json_t *obj, const char *at, const void *ctx, agora_error *err)
{
    (void)ctx;
    char sub[256];
    const char *url = json_string_value(json_object_get(obj, "base_url"));
    const char *key_env = json_string_value(json_object_get(obj, "api_key_env"));
    if (url && url[0] && !llm_url_allowed(srv, url)) {
        char allowed[1024] = "";
        size_t n = 0;
        for (int i = 0; i < srv->n_llm_urls && n < sizeof allowed; i++)
            n += (size_t)snprintf(allowed + n, sizeof allowed - n, ", %s", srv->llm_urls[i]);
        key_path(sub, at, "base_url", 0);
        return agora_error_set(err, AGORA_EINVAL, sub,
                               "this server sends LLM calls only to loopback hosts, the providers' default "
                               "endpoints%s (start agora mcp with --allow-llm URL to allow another)",
                               allowed);
    }
    if (key_env && key_env[0] && !key_env_allowed(srv, key_env)) {
        key_path(sub, at, "api_key_env", 0);
        return agora_error_set(err, AGORA_EINVAL, sub,
                               "the API key variable is the server's choice, not a client's: leave it out "
                               "(AGORA_API_KEY or OPENAI_API_KEY), or start agora mcp with --llm-key-env");
    }
    return 0;
}

int agora__mcp_check_llm(const agora_mcp *srv, const agora_scenario *sc, agora_error *err)
{
    static const char *const not_llm[] = {"world", "params", NULL};
    int rc = each_object(srv, agora_scenario_config(sc), "", 0, not_llm, check_llm_keys, NULL, err);
    if (rc != 0)
        agora_scenario_locate(sc, err);
    return rc;
}

/* ---- writes ---------------------------------------------------------------------------------------------------- */

/* Refuses a name that is not a plain relative path: -32602 when it is the tool's argument, a tool error when it
 * comes from scenario text or an override. */
static int bad_name(mcp_call *call, int argument, const char *key, agora_error *err, const char *fmt, const char *name)
{
    char msg[512];
    snprintf(msg, sizeof msg, fmt, name, call->srv->output_dir);
    if (argument)
        return agora__mcp_bad_args(call, err, key, "%s", msg);
    return agora_error_set(err, AGORA_EINVAL, key, "%s", msg);
}

/* Opens (making it when missing) the directory `name` below dirfd without following a link; -1 with errno. */
static int open_dir_at(int dirfd, const char *name)
{
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        if (mkdirat(dirfd, name, 0777) != 0 && errno != EEXIST)
            return -1;
        fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    }
    return fd;
}

/* Why openat refused a component: a symbolic link, something else that is not a directory, or the OS error. */
static const char *refused_why(int dirfd, const char *name, int e)
{
    struct stat st;
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        if (S_ISLNK(st.st_mode))
            return "is a symbolic link";
        if (!S_ISDIR(st.st_mode))
            return "is not a directory";
    }
    return strerror(e);
}

int agora__mcp_place_output(mcp_call *call, const char *name, const char *key, int argument, const char *stem,
                            char *out, size_t size, agora_error *err)
{
    agora_mcp *srv = call->srv;
    char rel[PATH_MAX], root[PATH_MAX];
    int dirfd = -1, rc = 0;
    if (name) {
        if (!name[0] || name[0] == '/')
            return bad_name(call, argument, key, err,
                            "\"%s\" is not a relative name: run files go under %s, so give a name such as "
                            "\"my_run.h5\" or \"study/a.h5\"",
                            name);
        /* the components: none may be "..", the last one must name a file */
        size_t n = 0;
        char copy[PATH_MAX];
        if (snprintf(copy, sizeof copy, "%s", name) >= (int)sizeof copy)
            return bad_name(call, argument, key, err, "\"%s\" is too long (under %s)", name);
        rel[0] = '\0';
        for (char *save = NULL, *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
            if (strcmp(c, "..") == 0)
                return bad_name(call, argument, key, err,
                                "\"%s\" has a \"..\" component: a run file's name stays under %s (give a plain "
                                "relative name)",
                                name);
            if (strcmp(c, ".") == 0)
                continue;
            n += (size_t)snprintf(rel + n, sizeof rel - n, "%s%s", n ? "/" : "", c);
        }
        if (n == 0 || name[strlen(name) - 1] == '/')
            return bad_name(call, argument, key, err, "\"%s\" names a directory, not a file (under %s)", name);
    }
    if ((rc = agora__mkdirs(srv->output_dir, err)) != 0)
        return rc;
    if (!realpath(srv->output_dir, root))
        return agora_error_set(err, AGORA_EIO, srv->output_dir, "cannot resolve the output directory: %s",
                               strerror(errno));
    if ((dirfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        return agora_error_set(err, AGORA_EIO, root, "cannot open the output directory: %s", strerror(errno));
    if (name) {
        /* down the directories, one at a time, refusing links */
        char *c = rel, *slash;
        while ((slash = strchr(c, '/')) != NULL) {
            *slash = '\0';
            int fd = open_dir_at(dirfd, c);
            if (fd < 0) {
                const char *why = refused_why(dirfd, c, errno);
                *slash = '/';
                rc = agora_error_set(err, AGORA_EINVAL, key,
                                     "\"%s\": %.*s %s: a run file is written only into real directories under %s", name,
                                     (int)(slash - rel), rel, why, root);
                goto done;
            }
            close(dirfd);
            dirfd = fd;
            *slash = '/';
            c = slash + 1;
        }
        int fd = openat(dirfd, c, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
        if (fd < 0) {
            struct stat st;
            const int e = errno;
            if (e == EEXIST && fstatat(dirfd, c, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
                rc = agora_error_set(err, AGORA_EINVAL, key,
                                     "\"%s\" is a symbolic link in %s: a run file is never written through one; "
                                     "choose another name",
                                     name, root);
            else if (e == EEXIST)
                rc = agora_error_set(err, AGORA_EINVAL, key,
                                     "\"%s\" exists already in %s: a run file is never overwritten; choose a new "
                                     "name (or leave %s out for a new file)",
                                     name, root, argument ? "output" : "output.path");
            else
                rc = agora_error_set(err, AGORA_EIO, key, "cannot create \"%s\" in %s: %s", name, root, strerror(e));
            goto done;
        }
        close(fd);
        if (snprintf(out, size, "%s/%s", root, rel) >= (int)size) {
            unlinkat(dirfd, c, 0);
            rc = agora_error_set(err, AGORA_EINVAL, key, "\"%s\" is too long (under %s)", name, root);
        }
        goto done;
    }
    /* a new name: <stem>.h5, then <stem>-2.h5, ...; whatever exists (a link included) is passed over */
    char base[128];
    size_t k = 0;
    for (const char *s = stem && stem[0] ? stem : "run"; *s && k + 1 < sizeof base; s++)
        base[k++] = agora__name_char_ok(*s) ? *s : '_';
    base[k] = '\0';
    for (int i = 1; i < 100000; i++) {
        char file[160];
        if (i == 1)
            snprintf(file, sizeof file, "%s.h5", base);
        else
            snprintf(file, sizeof file, "%s-%d.h5", base, i);
        int fd = openat(dirfd, file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
        if (fd >= 0) {
            close(fd);
            snprintf(out, size, "%s/%s", root, file);
            goto done;
        }
        if (errno != EEXIST) {
            rc = agora_error_set(err, AGORA_EIO, root, "cannot create %s in the output directory: %s", file,
                                 strerror(errno));
            goto done;
        }
    }
    rc = agora_error_set(err, AGORA_EINVAL, root, "no free name for %s.h5 in the output directory", base);
done:
    if (dirfd >= 0)
        close(dirfd);
    return rc;
}

void agora__mcp_release_output(const char *path)
{
    struct stat st;
    if (path && path[0] && lstat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 0)
        unlink(path);
}

/* ---- errors without the file's text ---------------------------------------------------------------------------- */

/* Collects the string values of a tree (not its keys), to find them in messages. */
static void strings_of(const json_t *v, json_t *out, int depth)
{
    if (depth > 64)
        return;
    if (json_is_string(v)) {
        json_array_append(out, (json_t *)v);
    } else if (json_is_object(v)) {
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x)
            strings_of(x, out, depth + 1);
    } else if (json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x)
            strings_of(x, out, depth + 1);
    }
}

/* Whether `q` (n bytes, maybe cut short with "...") is part of one of the strings. */
static int from_file(const char *q, size_t n, const json_t *strings)
{
    if (n >= 3 && strncmp(q + n - 3, "...", 3) == 0)
        n -= 3;
    if (n == 0)
        return 0;
    size_t i;
    json_t *s;
    json_array_foreach(strings, i, s) {
        const char *t = json_string_value(s);
        for (const char *p = strchr(t, q[0]); p; p = strchr(p + 1, q[0]))
            if (strncmp(p, q, n) == 0)
                return 1;
    }
    return 0;
}

/* msg without ", got ..." and with every quoted part that comes from the file's strings replaced by "...". Returns
 * whether anything was left out. */
static int scrub_values(char *msg, size_t size, const json_t *strings)
{
    int cut = 0;
    char *got = strstr(msg, ", got ");
    if (got) {
        *got = '\0';
        cut = 1;
    }
    char out[1024];
    size_t o = 0;
    for (const char *p = msg; *p && o + 8 < sizeof out;) {
        const char *close = *p == '"' ? strchr(p + 1, '"') : NULL;
        if (close && strings && from_file(p + 1, (size_t)(close - p - 1), strings)) {
            o += (size_t)snprintf(out + o, sizeof out - o, "\"...\"");
            p = close + 1;
            cut = 1;
            continue;
        }
        out[o++] = *p++;
    }
    out[o] = '\0';
    snprintf(msg, size, "%s", out);
    return cut;
}

/* A syntax error's own words when they are libyaml's fixed texts (no quote, no byte shown), else NULL. */
static const char *plain_syntax(const char *msg)
{
    const char *s = strstr(msg, "syntax error: ");
    if (!s || strchr(s, '"') || strchr(s, '\'') || strstr(s, "byte "))
        return NULL;
    return s;
}

static void hide(agora_error *err, const char *file, const char *shown, int model);

void agora__mcp_hide_content(agora_error *err, const char *file, const char *shown)
{
    hide(err, file, shown, 0);
}

void agora__mcp_hide_model_content(agora_error *err, const char *file)
{
    hide(err, file, file, 1);
}

/* model: the file was named as a model file: one that holds a model definition (a mapping with vars or rules) has
 * its errors shown as they are (they are about the definition the client chose to use), anything else says only
 * that it is not one. */
static void hide(agora_error *err, const char *file, const char *shown, int model)
{
    if (!err || strcmp(err->where, file) != 0)
        return; /* about an override (the client's own text), or not about this file */
    snprintf(err->where, sizeof err->where, "%s", shown);
    if (err->code == AGORA_EIO || err->code == AGORA_ENOMEM)
        return; /* "cannot open/read: <OS error>" */
    json_t *root = NULL, *strings = NULL;
    char *text = NULL;
    size_t len = 0;
    FILE *f = fopen(file, "rb");
    if (f) {
        struct stat st;
        if (fstat(fileno(f), &st) == 0 && st.st_size >= 0 && (size_t)st.st_size <= MAX_SCRUB_FILE &&
            (text = malloc((size_t)st.st_size + 1)) != NULL) {
            len = fread(text, 1, (size_t)st.st_size, f);
            text[len] = '\0';
        }
        fclose(f);
    }
    agora_error pe;
    const int parsed = text && agora__yaml_parse(text, len, file, &root, NULL, &pe) == 0;
    char msg[sizeof err->msg];
    if (!text) {
        /* too large to look at again, or gone since: say only where */
        snprintf(msg, sizeof msg, "not a valid %s (the file's text is not shown)", model ? "model file" : "scenario");
    } else if (!parsed) {
        const char *plain = err->code == AGORA_EPARSE ? plain_syntax(err->msg) : NULL;
        if (plain)
            snprintf(msg, sizeof msg, "not valid YAML or JSON: %s", plain + strlen("syntax error: "));
        else
            snprintf(msg, sizeof msg, "not valid YAML or JSON (the file's text is not shown)");
    } else if (!root) {
        snprintf(msg, sizeof msg, "not a %s: the file is empty", model ? "model definition" : "scenario");
        err->line = err->column = 0;
    } else if (!json_is_object(root)) {
        snprintf(msg, sizeof msg,
                 model ? "not a model definition: the file holds %s, where a definition is a mapping (name, params, "
                         "vars, rules, metrics, ...); its text is not shown"
                       : "not a scenario: the file holds %s, where a scenario is a mapping of keys (model, space, "
                         "params, steps, ...); its text is not shown",
                 agora__json_kind(root));
        err->line = err->column = 1;
    } else if (model && (json_object_get(root, "vars") || json_object_get(root, "rules"))) {
        snprintf(msg, sizeof msg, "%s", err->msg); /* a model definition's own errors */
    } else if (model) {
        snprintf(msg, sizeof msg,
                 "not a model definition: a mapping without vars or rules; its keys and values are not shown");
        err->line = err->column = 1;
    } else if (!json_object_get(root, "model") && !json_object_get(root, "mode")) {
        snprintf(msg, sizeof msg,
                 "not a scenario: a mapping without a model key (or mode: interactions); its keys and values are "
                 "not shown");
        err->line = err->column = 1;
    } else {
        /* a scenario with a wrong key or value: the key path and what was expected, not the value */
        snprintf(msg, sizeof msg, "%s", err->msg);
        strings = json_array();
        strings_of(root, strings, 0);
        if (scrub_values(msg, sizeof msg, strings)) {
            size_t n = strlen(msg);
            snprintf(msg + n, sizeof msg - n, " (the file's values are not shown)");
        }
    }
    free(text);
    json_decref(root);
    json_decref(strings);
    snprintf(err->msg, sizeof err->msg, "%s", msg);
}

void agora__mcp_hide_quoted_line(agora_error *err)
{
    if (!err)
        return;
    char *got = strstr(err->msg, ", got \"");
    if (got)
        snprintf(got, sizeof err->msg - (size_t)(got - err->msg), " (the line is not shown)");
}
