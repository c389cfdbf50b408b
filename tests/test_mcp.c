/* Tests of `agora mcp` (src/mcp/, src/cli/cmd_mcp.c), the MCP server over stdio, the way a client sees it: each test
 * starts the real binary (AGORA_CLI) as a child with pipes on its stdin and stdout (stderr to a file, shown when a
 * test fails), writes JSON-RPC lines and reads lines back with a deadline, so a hung server fails the test instead of
 * hanging it. Every line the server writes is checked to be a JSON-RPC 2.0 object (stdout carries protocol messages
 * only), and at the end of each test the server must exit with status 0 once its stdin closes (under the sanitizer
 * build, a leak in the server makes that exit status fail).
 *
 * Covered: the handshake for every protocol version, notifications never answered, the JSON-RPC error codes
 * (-32700, -32600, -32601, -32602), tools/list, every tool with good arguments and its structuredContent checked for
 * meaning (SIR's S + I + R == n, restore returning history and state exactly, copies independent of their source,
 * deleted worlds gone), bad arguments against tool failures (isError), the --max-* limits, progress notifications
 * only when asked for, and the simulate_* tools' run files read back (agora_h5_inspect). Worlds are small (50x50
 * grids, tens of steps) so the whole file takes seconds, also under ASan.
 *
 * JSON in the tests is written with ' for " (no text in it has an apostrophe). */
#define _GNU_SOURCE /* pipe2, prctl, vasprintf, strcasestr */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "agora/agora.h"
#include "io/yaml.h"
#include "llm_server.h"
#include "support.h"

/* How long one reply may take: far more than any call here needs (the slowest take well under a second, also in the
 * sanitizer build on a loaded 2-core machine), but finite: a server that stops answering fails the test after this,
 * well within CTest's timeout. */
#define LINE_TIMEOUT_MS 60000

/* Every tool the server offers: tools/list must give exactly these. */
static const char *const TOOLS[] = {"list_models",        "create_world",    "advance_world",         "get_metrics",
                                    "get_agent_state",    "set_agent_state", "apply_action",          "snapshot_world",
                                    "restore_world",      "copy_world",      "list_worlds",           "delete_world",
                                    "simulate_mechanics", "simulate_mixed",  "simulate_interactions", "validate_model"};
#define N_TOOLS (sizeof TOOLS / sizeof TOOLS[0])

/* The annotations every tool must carry (MCP 2025-03-26 and later), as hints a client shows or acts on: read-only
 * tools change nothing; destructive ones may overwrite what exists (a world's agents, a world, the state a restore
 * replaces); idempotent ones have no further effect when repeated with the same arguments; open-world ones may call
 * an outside service (an LLM). */
static const struct {
    const char *name;
    int read_only, destructive, idempotent, open_world;
} ANNOTATIONS[] = {
    {"list_models", 1, 0, 1, 0},        {"create_world", 0, 0, 0, 0},    {"advance_world", 0, 1, 0, 0},
    {"get_metrics", 1, 0, 1, 0},        {"get_agent_state", 1, 0, 1, 0}, {"set_agent_state", 0, 1, 1, 0},
    {"apply_action", 0, 1, 0, 0},       {"snapshot_world", 0, 0, 0, 0},  {"restore_world", 0, 1, 1, 0},
    {"copy_world", 0, 0, 0, 0},         {"list_worlds", 1, 0, 1, 0},     {"delete_world", 0, 1, 1, 0},
    {"simulate_mechanics", 0, 0, 0, 0}, {"simulate_mixed", 0, 0, 0, 1},  {"simulate_interactions", 0, 0, 0, 1},
    {"validate_model", 1, 0, 1, 0},
};

/* A small SIR world: 2500 agents; the epidemic grows for 20 steps and leaves susceptibles to vaccinate. */
#define SIR_50                                                                                                         \
    "'model': 'sir', 'space': {'kind': 'grid', 'width': 50, 'height': 50}, "                                           \
    "'params': {'beta': 0.1, 'gamma': 0.1, 'initial_infected': 20}, 'seed': 7"

/* ---- the client: a server process and its lines ------------------------------------------------------------------ */

typedef struct mcp {
    pid_t pid;
    int in, out; /* the server's stdin (written here) and stdout (read here) */
    char name[64];
    char out_dir[512], err_path[512], cwd[512];
    char *buf; /* bytes read from stdout and not yet returned as lines */
    size_t len, cap;
    json_int_t next_id;
    int lines; /* protocol lines read (each one checked) */
} mcp;

/* Servers still running, so that a failed test (cmocka longjmps out of it) does not leave one behind. */
static mcp *running[8];

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

static void rm_tree(const char *path)
{
    nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0;
}

/* The last ~2 KB of the server's stderr, for failure messages. Static buffer. */
static const char *err_tail(const mcp *m)
{
    static char text[2048];
    text[0] = 0;
    FILE *f = fopen(m->err_path, "r");
    if (!f)
        return "(no stderr file)";
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, size > (long)sizeof text - 1 ? size - (long)sizeof text + 1 : 0, SEEK_SET);
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = 0;
    fclose(f);
    return text;
}

#define MCP_FAIL(m, ...)                                                                                               \
    do {                                                                                                               \
        char fail_text_[4096];                                                                                         \
        snprintf(fail_text_, sizeof fail_text_, __VA_ARGS__);                                                          \
        fail_msg("%s\n--- stderr of the server \"%s\" (end):\n%s", fail_text_, (m)->name, err_tail(m));                \
    } while (0)

#define J test_json

/* A compact dump for messages. Static buffers, a few per call site. */
static const char *dump(const json_t *v)
{
    static char buf[4][2048];
    static int next;
    char *b = buf[next++ % 4];
    char *t = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    snprintf(b, sizeof buf[0], "%s", t ? t : "(null)");
    free(t);
    return b;
}

/* Starts `agora mcp --output-dir <tmp>/mcpt-<name>-out [extra...]` in its own scratch working directory (so a
 * relative path in a scenario cannot land in the source or build tree). */
static mcp *mcp_start(const char *name, const char *const *extra)
{
    mcp *m = calloc(1, sizeof *m);
    assert_non_null(m);
    m->pid = -1;
    m->in = m->out = -1;
    snprintf(m->name, sizeof m->name, "%s", name);
    char rel[128];
    snprintf(rel, sizeof rel, "mcpt-%s-out", name);
    snprintf(m->out_dir, sizeof m->out_dir, "%s", test_tmp_path(rel));
    snprintf(rel, sizeof rel, "mcpt-%s.stderr", name);
    snprintf(m->err_path, sizeof m->err_path, "%s", test_tmp_path(rel));
    snprintf(rel, sizeof rel, "mcpt-%s-cwd", name);
    snprintf(m->cwd, sizeof m->cwd, "%s", test_tmp_path(rel));
    rm_tree(m->out_dir);
    rm_tree(m->cwd);
    assert_int_equal(mkdir(m->cwd, 0755), 0);

    const char *argv[40] = {AGORA_CLI, "mcp", "--output-dir", m->out_dir};
    int argc = 4;
    for (int i = 0; extra && extra[i]; i++) {
        assert_true(argc < 39);
        argv[argc++] = extra[i];
    }
    argv[argc] = NULL;

    int to[2], from[2];
    assert_int_equal(pipe2(to, O_CLOEXEC), 0);
    assert_int_equal(pipe2(from, O_CLOEXEC), 0);
    int errfd = open(m->err_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    assert_true(errfd >= 0);
    fflush(NULL); /* so the child does not inherit unwritten output */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* Only async-signal-safe calls until exec. The server dies with the test. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (dup2(to[0], STDIN_FILENO) < 0 || dup2(from[1], STDOUT_FILENO) < 0 || dup2(errfd, STDERR_FILENO) < 0 ||
            chdir(m->cwd) != 0)
            _exit(126);
        execv(AGORA_CLI, (char *const *)argv);
        _exit(127);
    }
    close(to[0]);
    close(from[1]);
    close(errfd);
    m->pid = pid;
    m->in = to[1];
    m->out = from[0];
    size_t slot = 0;
    while (slot < sizeof running / sizeof running[0] && running[slot])
        slot++;
    assert_true(slot < sizeof running / sizeof running[0]);
    running[slot] = m;
    return m;
}

/* Forgets a server whose process is gone, and frees it. */
static void mcp_free(mcp *m)
{
    for (size_t i = 0; i < sizeof running / sizeof running[0]; i++)
        if (running[i] == m)
            running[i] = NULL;
    if (m->in >= 0)
        close(m->in);
    if (m->out >= 0)
        close(m->out);
    m->in = m->out = -1;
    free(m->buf);
    free(m);
}

/* Kills a server left running by a failed test. */
static int teardown(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof running / sizeof running[0]; i++) {
        mcp *m = running[i];
        if (m && m->pid > 0) {
            kill(m->pid, SIGKILL);
            waitpid(m->pid, NULL, 0);
            m->pid = -1;
        }
        if (m)
            mcp_free(m);
    }
    return 0;
}

static void mcp_send_line(mcp *m, const char *line)
{
    size_t n = strlen(line), off = 0;
    char *t = malloc(n + 1);
    memcpy(t, line, n);
    t[n] = '\n';
    while (off < n + 1) {
        ssize_t w = write(m->in, t + off, n + 1 - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            free(t);
            MCP_FAIL(m, "cannot write to the server's stdin (%s): did it exit?", strerror(errno));
        }
        off += (size_t)w;
    }
    free(t);
}

/* Sends one message (taken). */
static void mcp_send(mcp *m, json_t *msg)
{
    char *t = json_dumps(msg, JSON_COMPACT);
    json_decref(msg);
    mcp_send_line(m, t);
    free(t);
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* The next line of the server's stdout (new string, without its newline), NULL at end of file; fails the test if no
 * complete line comes within timeout_ms. */
static char *mcp_read_line(mcp *m, long timeout_ms)
{
    const long deadline = now_ms() + timeout_ms;
    for (;;) {
        char *nl = m->buf ? memchr(m->buf, '\n', m->len) : NULL;
        if (nl) {
            size_t n = (size_t)(nl - m->buf);
            char *line = malloc(n + 1);
            memcpy(line, m->buf, n);
            line[n] = 0;
            memmove(m->buf, nl + 1, m->len - n - 1);
            m->len -= n + 1;
            return line;
        }
        long left = deadline - now_ms();
        if (left <= 0)
            MCP_FAIL(m, "no complete line from the server within %ld s (have %zu bytes without a newline)",
                     timeout_ms / 1000, m->len);
        struct pollfd p = {.fd = m->out, .events = POLLIN};
        int r = poll(&p, 1, (int)(left > 1000 ? 1000 : left));
        if (r < 0 && errno == EINTR)
            continue;
        assert_true(r >= 0);
        if (r == 0)
            continue;
        if (m->cap - m->len < 65536) {
            m->cap = m->cap ? 2 * m->cap : 131072;
            m->buf = realloc(m->buf, m->cap);
            assert_non_null(m->buf);
        }
        ssize_t got = read(m->out, m->buf + m->len, m->cap - m->len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            MCP_FAIL(m, "read from the server: %s", strerror(errno));
        if (got == 0) {
            if (m->len)
                MCP_FAIL(m, "the server's stdout ended inside a line: %.*s", (int)(m->len > 500 ? 500 : m->len),
                         m->buf);
            return NULL;
        }
        m->len += (size_t)got;
    }
}

/* Checks that a line is a JSON-RPC 2.0 message as the server may send it: a response {jsonrpc, id, result | error}
 * or a notification {jsonrpc, method, params?}. Returns it parsed (new reference). */
static json_t *mcp_check_line(mcp *m, const char *line)
{
    json_error_t e;
    json_t *msg = json_loads(line, JSON_DECODE_ANY, &e);
    if (!msg)
        MCP_FAIL(m, "stdout line %d is not JSON (%s): %.500s", m->lines + 1, e.text, line);
    if (!json_is_object(msg))
        MCP_FAIL(m, "stdout line %d is not a JSON object: %.500s", m->lines + 1, line);
    const char *v = json_string_value(json_object_get(msg, "jsonrpc"));
    if (!v || strcmp(v, "2.0") != 0)
        MCP_FAIL(m, "stdout line %d lacks \"jsonrpc\": \"2.0\": %.500s", m->lines + 1, line);
    json_t *result = json_object_get(msg, "result"), *error = json_object_get(msg, "error");
    if (json_object_get(msg, "id")) {
        if (!!result == !!error)
            MCP_FAIL(m, "a response needs exactly one of result and error: %.500s", line);
        if (result && !json_is_object(result))
            MCP_FAIL(m, "an MCP result is an object: %.500s", line);
        if (error &&
            (!json_is_integer(json_object_get(error, "code")) || !json_is_string(json_object_get(error, "message"))))
            MCP_FAIL(m, "an error needs an integer code and a string message: %.500s", line);
    } else if (!json_is_string(json_object_get(msg, "method")) || result || error) {
        MCP_FAIL(m, "neither a response nor a notification: %.500s", line);
    }
    m->lines++;
    return msg;
}

/* The next message from the server (new reference); fails at end of file. */
static json_t *mcp_recv(mcp *m)
{
    char *line = mcp_read_line(m, LINE_TIMEOUT_MS);
    if (!line)
        MCP_FAIL(m, "the server closed its stdout");
    json_t *msg = mcp_check_line(m, line);
    free(line);
    return msg;
}

/* Sends a request (params taken, may be NULL) and returns the whole response (new reference). Notifications that
 * come first are appended to `notes`; with notes == NULL any notification fails the test (the server must not send
 * progress nobody asked for). */
static json_t *mcp_rpc(mcp *m, const char *method, json_t *params, json_t *notes)
{
    json_int_t id = ++m->next_id;
    json_t *req = json_pack("{s:s, s:I, s:s}", "jsonrpc", "2.0", "id", id, "method", method);
    if (params)
        json_object_set_new(req, "params", params);
    mcp_send(m, req);
    for (;;) {
        json_t *msg = mcp_recv(m);
        json_t *rid = json_object_get(msg, "id");
        if (!rid) {
            if (!notes)
                MCP_FAIL(m, "unexpected notification during %s: %s", method, dump(msg));
            json_array_append_new(notes, msg);
            continue;
        }
        if (!json_is_integer(rid) || json_integer_value(rid) != id)
            MCP_FAIL(m, "the reply to request %lld (%s) has id %s", (long long)id, method, dump(rid));
        return msg;
    }
}

/* The result of a request that must succeed (new reference). */
static json_t *mcp_result(mcp *m, const char *method, json_t *params)
{
    json_t *msg = mcp_rpc(m, method, params, NULL);
    json_t *err = json_object_get(msg, "error");
    if (err)
        MCP_FAIL(m, "%s failed: %s", method, dump(err));
    json_t *res = json_incref(json_object_get(msg, "result"));
    json_decref(msg);
    return res;
}

/* Checks that a message is a JSON-RPC error with `code` whose message contains `needle` (case-insensitive; NULL:
 * anything). */
static void check_error(mcp *m, const json_t *msg, int code, const char *needle, const char *what)
{
    json_t *err = json_object_get(msg, "error");
    if (!err)
        MCP_FAIL(m, "%s: expected JSON-RPC error %d, got %s", what, code, dump(msg));
    if (json_integer_value(json_object_get(err, "code")) != code)
        MCP_FAIL(m, "%s: expected error code %d, got %s", what, code, dump(err));
    const char *text = json_string_value(json_object_get(err, "message"));
    if (needle && !strcasestr(text, needle))
        MCP_FAIL(m, "%s: the error message should name \"%s\": %s", what, needle, text);
}

static void mcp_expect_error(mcp *m, const char *method, json_t *params, int code, const char *needle)
{
    json_t *msg = mcp_rpc(m, method, params, NULL);
    check_error(m, msg, code, needle, method);
    json_decref(msg);
}

/* tools/call; the whole result (new reference). args taken; meta (taken, may be NULL) goes into params._meta. */
static json_t *mcp_call_raw(mcp *m, const char *tool, json_t *args, json_t *meta, json_t *notes)
{
    json_t *params = json_pack("{s:s, s:o}", "name", tool, "arguments", args ? args : json_object());
    if (meta)
        json_object_set_new(params, "_meta", meta);
    json_t *msg = mcp_rpc(m, "tools/call", params, notes);
    json_t *err = json_object_get(msg, "error");
    if (err)
        MCP_FAIL(m, "tools/call %s: JSON-RPC error %s", tool, dump(err));
    json_t *res = json_incref(json_object_get(msg, "result"));
    json_decref(msg);
    return res;
}

/* The text of a tool result's first content item, checked to be {type: "text", text}. */
static const char *content_text(mcp *m, const json_t *res, const char *tool)
{
    json_t *c = json_object_get(res, "content");
    json_t *c0 = json_array_get(c, 0);
    const char *type = json_string_value(json_object_get(c0, "type"));
    const char *text = json_string_value(json_object_get(c0, "text"));
    if (!json_is_array(c) || !type || strcmp(type, "text") != 0 || !text)
        MCP_FAIL(m, "%s: content should be [{type: text, text}]: %s", tool, dump(res));
    return text;
}

/* Calls a tool that must succeed and returns its structuredContent (new reference), after checking isError: false
 * and that content[0].text is the same result as JSON text. */
static json_t *mcp_call_with(mcp *m, const char *tool, json_t *args, json_t *meta, json_t *notes)
{
    json_t *res = mcp_call_raw(m, tool, args, meta, notes);
    if (!json_is_false(json_object_get(res, "isError")))
        MCP_FAIL(m, "%s: expected isError false, got %s", tool, dump(res));
    json_t *sc = json_object_get(res, "structuredContent");
    if (!json_is_object(sc))
        MCP_FAIL(m, "%s: structuredContent should be an object: %s", tool, dump(res));
    const char *text = content_text(m, res, tool);
    json_t *parsed = json_loads(text, 0, NULL);
    if (!parsed || !json_equal(parsed, sc))
        MCP_FAIL(m, "%s: content[0].text is not structuredContent as JSON: %.300s", tool, text);
    json_decref(parsed);
    json_incref(sc);
    json_decref(res);
    return sc;
}

static json_t *mcp_call(mcp *m, const char *tool, json_t *args)
{
    return mcp_call_with(m, tool, args, NULL, NULL);
}

/* Calls a tool that must fail inside (a result with isError: true) with a message naming `needle`. */
static void mcp_call_error(mcp *m, const char *tool, json_t *args, const char *needle)
{
    char what[256];
    snprintf(what, sizeof what, "%s %s", tool, dump(args));
    json_t *res = mcp_call_raw(m, tool, args, NULL, NULL);
    if (!json_is_true(json_object_get(res, "isError")))
        MCP_FAIL(m, "%s: expected a result with isError true, got %s", what, dump(res));
    const char *text = content_text(m, res, tool);
    if (needle && !strcasestr(text, needle))
        MCP_FAIL(m, "%s: the message should name \"%s\": %s", what, needle, text);
    json_decref(res);
}

/* Calls a tool with arguments its inputSchema refuses: JSON-RPC error -32602 naming `needle`. */
static void mcp_call_invalid(mcp *m, const char *tool, json_t *args, const char *needle)
{
    char what[256];
    snprintf(what, sizeof what, "tools/call %s %s", tool, dump(args));
    json_t *msg = mcp_rpc(m, "tools/call", json_pack("{s:s, s:o}", "name", tool, "arguments", args), NULL);
    check_error(m, msg, -32602, needle, what);
    json_decref(msg);
}

/* Calls a tool that must be refused, where the contract leaves open whether the refusal is a tool failure (isError)
 * or invalid params (-32602): the message must contain one of the needles (NULL-terminated, case-insensitive). */
static void mcp_call_refused(mcp *m, const char *tool, json_t *args, const char *const *needles)
{
    char what[256];
    snprintf(what, sizeof what, "%s %s", tool, dump(args));
    json_t *msg = mcp_rpc(m, "tools/call", json_pack("{s:s, s:o}", "name", tool, "arguments", args), NULL);
    json_t *err = json_object_get(msg, "error"), *res = json_object_get(msg, "result");
    const char *text = NULL;
    if (err) {
        if (json_integer_value(json_object_get(err, "code")) != -32602)
            MCP_FAIL(m, "%s: refused with an unexpected code: %s", what, dump(err));
        text = json_string_value(json_object_get(err, "message"));
    } else {
        if (!json_is_true(json_object_get(res, "isError")))
            MCP_FAIL(m, "%s: should be refused, got %s", what, dump(res));
        text = content_text(m, res, tool);
    }
    int found = 0;
    for (int i = 0; needles[i]; i++)
        found |= strcasestr(text, needles[i]) != NULL;
    if (!found)
        MCP_FAIL(m, "%s: the message should name %s: %s", what, needles[0], text);
    json_decref(msg);
}

/* initialize with `version` and the initialized notification; returns the initialize result (new reference). */
static json_t *mcp_initialize(mcp *m, const char *version)
{
    json_t *res = mcp_result(m, "initialize",
                             J("{'protocolVersion': '%s', 'capabilities': {}, "
                               "'clientInfo': {'name': 'test_mcp', 'version': '1.0'}}",
                               version));
    mcp_send(m, J("{'jsonrpc': '2.0', 'method': 'notifications/initialized'}"));
    return res;
}

/* Starts a server and initializes it. */
static mcp *mcp_open(const char *name, const char *const *extra)
{
    mcp *m = mcp_start(name, extra);
    json_decref(mcp_initialize(m, "2025-11-25"));
    return m;
}

/* Closes the server's stdin: it must write nothing more, exit by itself, with status 0. */
static void mcp_stop(mcp *m)
{
    close(m->in);
    m->in = -1;
    char *line;
    while ((line = mcp_read_line(m, LINE_TIMEOUT_MS)) != NULL) {
        json_t *msg = mcp_check_line(m, line);
        MCP_FAIL(m, "a message after every request was answered: %s", dump(msg));
    }
    int status = 0;
    pid_t r = 0;
    for (long waited = 0; waited < 30000; waited += 10) {
        if ((r = waitpid(m->pid, &status, WNOHANG)) != 0)
            break;
        struct timespec ts = {0, 10000000L};
        nanosleep(&ts, NULL);
    }
    if (r == 0) {
        kill(m->pid, SIGKILL);
        waitpid(m->pid, NULL, 0);
        m->pid = -1;
        MCP_FAIL(m, "the server did not exit within 30 s of its stdin closing");
    }
    m->pid = -1;
    if (r < 0)
        MCP_FAIL(m, "waitpid: %s", strerror(errno));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        MCP_FAIL(m, "the server ended with %s %d after stdin closed", WIFEXITED(status) ? "exit status" : "signal",
                 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    assert_true(m->lines > 0);
    mcp_free(m);
}

/* ---- accessors that fail with the object shown ------------------------------------------------------------------- */

static json_t *get(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (!v)
        fail_msg("no \"%s\" in %s", key, dump(o));
    return v;
}

static double num(const json_t *o, const char *key)
{
    json_t *v = get(o, key);
    if (!json_is_number(v))
        fail_msg("\"%s\" should be a number in %s", key, dump(o));
    return json_number_value(v);
}

static const char *str(const json_t *o, const char *key)
{
    json_t *v = get(o, key);
    if (!json_is_string(v))
        fail_msg("\"%s\" should be a string in %s", key, dump(o));
    return json_string_value(v);
}

static json_t *arr(const json_t *o, const char *key)
{
    json_t *v = get(o, key);
    if (!json_is_array(v))
        fail_msg("\"%s\" should be an array in %s", key, dump(o));
    return v;
}

static json_t *obj(const json_t *o, const char *key)
{
    json_t *v = get(o, key);
    if (!json_is_object(v))
        fail_msg("\"%s\" should be an object in %s", key, dump(o));
    return v;
}

static double at(const json_t *a, size_t i)
{
    json_t *v = json_array_get(a, i);
    if (!json_is_number(v))
        fail_msg("item %zu should be a number in %s", i, dump(a));
    return json_number_value(v);
}

/* Two arrays of numbers hold the same values (integers and reals compared as numbers, exactly). */
static int same_numbers(const json_t *a, const json_t *b)
{
    if (!json_is_array(a) || !json_is_array(b) || json_array_size(a) != json_array_size(b))
        return 0;
    for (size_t i = 0; i < json_array_size(a); i++) {
        json_t *x = json_array_get(a, i), *y = json_array_get(b, i);
        if (!json_is_number(x) || !json_is_number(y) || json_number_value(x) != json_number_value(y))
            return 0;
    }
    return 1;
}

/* same_numbers against an array written as text (' for "). */
static int same_as(const json_t *a, const char *text)
{
    json_t *b = J(text);
    int same = same_numbers(a, b);
    json_decref(b);
    return same;
}

/* Two objects {name: number} with the same names and exactly the same values. */
static int same_values(const json_t *a, const json_t *b)
{
    if (!json_is_object(a) || !json_is_object(b) || json_object_size(a) != json_object_size(b))
        return 0;
    const char *k;
    json_t *x;
    json_object_foreach((json_t *)a, k, x) {
        json_t *y = json_object_get(b, k);
        if (!json_is_number(x) || !json_is_number(y) || json_number_value(x) != json_number_value(y))
            return 0;
    }
    return 1;
}

/* Fails unless same_values(a, b), showing both. */
#define assert_same_values(a, b)                                                                                       \
    do {                                                                                                               \
        if (!same_values((a), (b)))                                                                                    \
            fail_msg("%s and %s differ:\n%s\n%s", #a, #b, dump(a), dump(b));                                           \
    } while (0)

/* Checks S + I + R == n in an object of SIR metric values. */
static void check_sir_sum(const json_t *metrics, double n)
{
    double s = num(metrics, "S") + num(metrics, "I") + num(metrics, "R");
    if (s != n)
        fail_msg("S + I + R = %g, expected %g: %s", s, n, dump(metrics));
}

/* The metrics of a world now: get_metrics' last row as {name: value}. New reference. */
static json_t *metrics_now(mcp *m, const char *world)
{
    json_t *r = mcp_call(m, "get_metrics", J("{'world': '%s', 'last': 1}", world));
    json_t *out = json_object();
    const char *k;
    json_t *series;
    json_object_foreach(obj(r, "metrics"), k, series) {
        assert_int_equal(json_array_size(series), 1);
        json_object_set(out, k, json_array_get(series, 0));
    }
    json_decref(r);
    return out;
}

/* ---- protocol ---------------------------------------------------------------------------------------------------- */

static void initialize_echoes_known_versions_and_answers_others_with_the_latest(void **state)
{
    (void)state;
    const char *asked[] = {"2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25", "1999-01-01"};
    const char *want[] = {"2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25", "2025-11-25"};
    const char *extra[] = {"--max-agents", "123456", "--max-steps", "777", NULL};
    for (int i = 0; i < 5; i++) {
        char name[32];
        snprintf(name, sizeof name, "init%d", i);
        mcp *m = mcp_start(name, extra);
        json_t *r = mcp_initialize(m, asked[i]);
        if (strcmp(str(r, "protocolVersion"), want[i]) != 0)
            fail_msg("asked %s, expected %s: %s", asked[i], want[i], dump(r));
        json_t *tools = obj(obj(r, "capabilities"), "tools");
        assert_true(json_is_false(get(tools, "listChanged")));
        json_t *info = obj(r, "serverInfo");
        assert_string_equal(str(info, "name"), "agora");
        assert_true(strlen(str(info, "version")) > 0);
        /* the instructions tell a model the limits it works within */
        const char *ins = str(r, "instructions");
        if ((!strstr(ins, "123456") && !strstr(ins, "123,456")) || !strstr(ins, "777"))
            fail_msg("the instructions should state the limits (--max-agents 123456, --max-steps 777): %s", ins);
        json_decref(r);
        json_t *pong = mcp_result(m, "ping", NULL);
        assert_int_equal(json_object_size(pong), 0);
        json_decref(pong);
        mcp_stop(m);
    }
}

static void notifications_are_never_answered(void **state)
{
    (void)state;
    mcp *m = mcp_open("notify", NULL);
    /* Notifications (no id), known and unknown, even one whose method would be a request: no reply to any. The next
     * line must be the reply to the ping that follows them. */
    mcp_send(m, J("{'jsonrpc': '2.0', 'method': 'notifications/initialized'}"));
    mcp_send(m, J("{'jsonrpc': '2.0', 'method': 'notifications/cancelled', 'params': {'requestId': 99}}"));
    mcp_send(m, J("{'jsonrpc': '2.0', 'method': 'notifications/frobnicated', 'params': {'x': 1}}"));
    mcp_send(m, J("{'jsonrpc': '2.0', 'method': 'ping'}"));
    mcp_send(m, J("{'jsonrpc': '2.0', 'method': 'tools/list'}"));
    mcp_send(m, J("{'jsonrpc': '2.0', 'id': 1000, 'method': 'ping'}"));
    json_t *msg = mcp_recv(m);
    if (json_integer_value(json_object_get(msg, "id")) != 1000 || !json_is_object(json_object_get(msg, "result")))
        fail_msg("the first line after the notifications should answer ping 1000: %s", dump(msg));
    assert_int_equal(json_object_size(json_object_get(msg, "result")), 0);
    json_decref(msg);
    /* a string id comes back as the same string */
    mcp_send(m, J("{'jsonrpc': '2.0', 'id': 'abc-1', 'method': 'ping'}"));
    msg = mcp_recv(m);
    if (!json_is_string(json_object_get(msg, "id")) || strcmp(json_string_value(json_object_get(msg, "id")), "abc-1"))
        fail_msg("the reply should carry id \"abc-1\": %s", dump(msg));
    json_decref(msg);
    mcp_stop(m);
}

static void tools_list_names_every_tool_with_an_object_schema(void **state)
{
    (void)state;
    mcp *m = mcp_open("tools", NULL);
    json_t *r = mcp_result(m, "tools/list", J("{}"));
    json_t *tools = arr(r, "tools");
    int seen[N_TOOLS] = {0};
    size_t i;
    json_t *t;
    json_array_foreach(tools, i, t) {
        const char *name = str(t, "name");
        assert_true(strlen(str(t, "description")) > 0);
        json_t *in = obj(t, "inputSchema");
        assert_string_equal(str(in, "type"), "object");
        if (json_object_get(t, "outputSchema"))
            obj(t, "outputSchema");
        for (size_t k = 0; k < json_array_size(tools); k++)
            if (k != i && !strcmp(str(json_array_get(tools, k), "name"), name))
                fail_msg("tool %s is listed twice", name);
        for (size_t k = 0; k < N_TOOLS; k++)
            if (!strcmp(TOOLS[k], name))
                seen[k] = 1;
        /* the annotations, every hint given and true */
        json_t *an = obj(t, "annotations");
        assert_string_equal(str(an, "title"), str(t, "title"));
        size_t k = 0;
        while (k < N_TOOLS && strcmp(ANNOTATIONS[k].name, name) != 0)
            k++;
        if (k == N_TOOLS)
            fail_msg("no expected annotations for %s", name);
        const char *hints[] = {"readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint"};
        const int want[] = {ANNOTATIONS[k].read_only, ANNOTATIONS[k].destructive, ANNOTATIONS[k].idempotent,
                            ANNOTATIONS[k].open_world};
        for (int h = 0; h < 4; h++) {
            json_t *v = get(an, hints[h]);
            if (!json_is_boolean(v) || json_is_true(v) != want[h])
                fail_msg("%s: %s should be %s: %s", name, hints[h], want[h] ? "true" : "false", dump(an));
        }
    }
    for (size_t k = 0; k < N_TOOLS; k++)
        if (!seen[k])
            fail_msg("tools/list lacks %s: %s", TOOLS[k], dump(tools));
    assert_int_equal(json_array_size(tools), N_TOOLS);
    json_decref(r);
    mcp_stop(m);
}

static void protocol_errors_have_their_codes_and_the_server_goes_on(void **state)
{
    (void)state;
    mcp *m = mcp_open("protoerr", NULL);
    struct {
        const char *line;
        int code;
        json_int_t id; /* -1: null */
        const char *needle;
    } cases[] = {
        {"{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": \"ping\"", -32700, -1, NULL}, /* unterminated */
        {"this is not json", -32700, -1, NULL},
        {"[{\"jsonrpc\": \"2.0\", \"id\": 2, \"method\": \"ping\"}]", -32600, -1, "batch"},
        {"[]", -32600, -1, NULL},
        {"42", -32600, -1, NULL},
        {"\"ping\"", -32600, -1, NULL},
        {"{\"jsonrpc\": \"2.0\", \"id\": 5}", -32600, 5, NULL},
        {"{\"jsonrpc\": \"2.0\", \"id\": 6, \"method\": 7}", -32600, 6, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mcp_send_line(m, cases[i].line);
        json_t *msg = mcp_recv(m);
        check_error(m, msg, cases[i].code, cases[i].needle, cases[i].line);
        json_t *id = json_object_get(msg, "id");
        if (cases[i].id < 0 ? !json_is_null(id) : json_integer_value(id) != cases[i].id)
            fail_msg("%s: the error should have id %lld: %s", cases[i].line, (long long)cases[i].id, dump(msg));
        json_decref(msg);
    }
    mcp_expect_error(m, "tools/frobnicate", J("{}"), -32601, NULL);
    mcp_expect_error(m, "resources/list", NULL, -32601, NULL);
    mcp_expect_error(m, "tools/call", J("{'arguments': {}}"), -32602, "name");
    json_t *pong = mcp_result(m, "ping", NULL);
    json_decref(pong);
    mcp_stop(m);
}

/* Every request is answered, also when the text of its reply is not valid UTF-8 as the library wrote it: a message cut
 * short in the middle of a character (a long non-ASCII tool name), an error quoting a line of a binary file. Found by
 * tests/fuzz/fuzz_mcp: jansson refused to encode such a reply, so none was sent and the client waited forever. The
 * request after each one checks that its reply came first. */
static void every_request_is_answered_even_when_its_text_is_not_utf8(void **state)
{
    (void)state;
    mcp *m = mcp_open("utf8", NULL);
    char name[1201];
    for (int i = 0; i < 600; i++)
        memcpy(name + 2 * i, "\xc3\xa9", 2); /* e acute, 1200 bytes: the error message is cut inside one */
    name[1200] = '\0';
    char path[600];
    snprintf(path, sizeof path, "%s/binary.edgelist", m->cwd);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs("0 1\n\xff\xfe\x80 2\n", f);
    fclose(f);
    json_t *reqs[] = {
        json_pack("{s:s, s:i, s:s, s:{s:s, s:{}}}", "jsonrpc", "2.0", "id", 1001, "method", "tools/call", "params",
                  "name", name, "arguments"),
        json_pack("{s:s, s:i, s:s, s:{s:s, s:{s:s}}}", "jsonrpc", "2.0", "id", 1003, "method", "tools/call", "params",
                  "name", "create_world", "arguments", "scenario",
                  "model: sir\nspace: {kind: graph, generator: file, path: binary.edgelist}\n"),
    };
    for (int k = 0; k < 2; k++) {
        assert_non_null(reqs[k]);
        const int id = 1001 + 2 * k;
        mcp_send(m, reqs[k]);
        mcp_send_line(m, k == 0 ? "{\"jsonrpc\": \"2.0\", \"id\": 1002, \"method\": \"ping\"}"
                                : "{\"jsonrpc\": \"2.0\", \"id\": 1004, \"method\": \"ping\"}");
        json_t *msg = mcp_recv(m);
        if (json_integer_value(json_object_get(msg, "id")) != id)
            MCP_FAIL(m, "request %d got no reply; the next message is %s", id, dump(msg));
        if (k == 0) {
            check_error(m, msg, -32602, "unknown tool", "a 600-character tool name");
        } else {
            const json_t *res = json_object_get(msg, "result");
            if (!json_is_true(json_object_get(res, "isError")) ||
                !strstr(content_text(m, res, "create_world"), "expected two vertex ids"))
                MCP_FAIL(m, "a binary edge list should be a tool error naming the bad line: %s", dump(msg));
        }
        json_decref(msg);
        msg = mcp_recv(m);
        assert_int_equal(json_integer_value(json_object_get(msg, "id")), id + 1);
        json_decref(msg);
    }
    mcp_stop(m);
}

/* ---- tool arguments: schema failures against failures inside a tool --------------------------------------------- */

static void arguments_failing_the_schema_are_invalid_params(void **state)
{
    (void)state;
    mcp *m = mcp_open("badargs", NULL);
    json_t *w = mcp_call(m, "create_world", J("{" SIR_50 "}"));
    assert_string_equal(str(w, "world"), "w1");
    json_decref(w);

    mcp_call_invalid(m, "no_such_tool", J("{}"), "no_such_tool");
    mcp_call_invalid(m, "advance_world", J("{'world': 'w1'}"), "steps");                         /* missing */
    mcp_call_invalid(m, "advance_world", J("{'steps': 3}"), "world");                            /* missing */
    mcp_call_invalid(m, "advance_world", J("{'world': 'w1', 'steps': 'ten'}"), "steps");         /* wrong type */
    mcp_call_invalid(m, "advance_world", J("{'world': 'w1', 'steps': 2.5}"), "steps");           /* not an int */
    mcp_call_invalid(m, "advance_world", J("{'world': 'w1', 'steps': 0}"), "steps");             /* >= 1 */
    mcp_call_invalid(m, "advance_world", J("{'world': 'w1', 'steps': 3, 'bogus': 1}"), "bogus"); /* unknown */
    mcp_call_invalid(m, "advance_world", J("{'world': 7, 'steps': 3}"), "world");
    mcp_call_invalid(m, "get_metrics", J("{'world': 'w1', 'names': 'S'}"), "names");
    mcp_call_invalid(m, "get_agent_state", J("{'world': 'w1', 'range': {'start': 0}}"), "stop");
    mcp_call_invalid(m, "create_world", J("{'model': 7}"), "model");
    mcp_call_invalid(m, "snapshot_world", J("{}"), "world");
    mcp_call_invalid(m, "list_worlds", J("{'verbose': true}"), "verbose");
    json_t *msg = mcp_rpc(m, "tools/call", J("{'name': 'list_worlds', 'arguments': [1, 2]}"), NULL);
    check_error(m, msg, -32602, NULL, "arguments as an array");
    json_decref(msg);

    /* none of them did anything */
    json_t *r = mcp_call(m, "get_metrics", J("{'world': 'w1'}"));
    assert_int_equal(num(r, "t"), 0);
    json_decref(r);
    mcp_stop(m);
}

static void failures_inside_tools_are_results_with_is_error(void **state)
{
    (void)state;
    mcp *m = mcp_open("toolerr", NULL);
    mcp_call_error(m, "advance_world", J("{'world': 'nope', 'steps': 1}"), "nope");
    mcp_call_error(m, "get_metrics", J("{'world': 'nope'}"), "nope");
    json_t *w = mcp_call(m, "create_world", J("{" SIR_50 "}"));
    json_decref(w);

    /* The action argument is any object to the tool's schema; the model's action schema refuses these, naming the
     * key: tool failures. */
    mcp_call_error(m, "apply_action", J("{'world': 'w1', 'action': {'action': 'vaccinate', 'fraction': 2}}"),
                   "fraction");
    mcp_call_error(m, "apply_action", J("{'world': 'w1', 'action': {'action': 'vaccinate'}}"), "fraction");
    mcp_call_error(m, "apply_action", J("{'world': 'w1', 'action': {'action': 'explode'}}"), "explode");
    mcp_call_error(m, "apply_action",
                   J("{'world': 'w1', 'action': {'action': 'lockdown', 'strength': 0.5, 'steps': 3, 'urgency': 1}}"),
                   "urgency");
    /* names that only the world knows */
    mcp_call_error(m, "restore_world", J("{'world': 'w1', 'snapshot': 's9'}"), "s9");
    mcp_call_error(m, "get_agent_state", J("{'world': 'w1', 'fields': ['colour']}"), "colour");
    mcp_call_error(m, "set_agent_state", J("{'world': 'w1', 'ids': [1], 'field': 'colour', 'value': 1}"), "colour");
    mcp_call_error(m, "get_agent_state", J("{'world': 'w1', 'ids': [2500]}"), "2500");
    /* one value per selected agent: the count is known from the arguments alone, so either form of refusal */
    const char *values_needles[] = {"values", NULL};
    mcp_call_refused(m, "set_agent_state", J("{'world': 'w1', 'ids': [0, 1], 'field': 'state', 'values': [1]}"),
                     values_needles);
    mcp_call_error(m, "create_world", J("{'path': '/nonexistent/mcpt.yaml'}"), "/nonexistent/mcpt.yaml");
    mcp_call_error(m, "create_world", json_pack("{s:s}", "scenario", "model: sir\nspace: [unclosed\n"), NULL);
    mcp_call_error(m, "create_world",
                   J("{'model': 'sir', 'space': {'kind': 'grid', 'width': 10, 'height': 10}, 'params': {'beta': 3}}"),
                   "beta");
    const char *model_needles[] = {"nosuch", NULL};
    mcp_call_refused(m, "create_world", J("{'model': 'nosuch', 'space': {'kind': 'grid', 'width': 5, 'height': 5}}"),
                     model_needles);
    mcp_call_error(m, "simulate_mechanics", J("{'path': '/nonexistent/mcpt.yaml'}"), "/nonexistent/mcpt.yaml");

    /* the server goes on, and the world is untouched by the refused calls */
    json_t *now = metrics_now(m, "w1");
    assert_int_equal(num(now, "vaccinated"), 0);
    assert_int_equal(num(now, "I"), 20);
    json_decref(now);
    json_decref(mcp_result(m, "ping", NULL));
    mcp_stop(m);
}

/* ---- worlds ------------------------------------------------------------------------------------------------------ */

static void list_models_describes_params_metrics_fields_and_actions(void **state)
{
    (void)state;
    mcp *m = mcp_open("models", NULL);
    json_t *r = mcp_call(m, "list_models", J("{}"));
    obj(r, "limits");
    json_t *sir = NULL;
    size_t i;
    json_t *mo;
    int names = 0;
    json_array_foreach(arr(r, "models"), i, mo) {
        const char *n = str(mo, "name");
        names += !strcmp(n, "sir") + !strcmp(n, "opinion") + !strcmp(n, "market");
        if (!strcmp(n, "sir"))
            sir = mo;
    }
    assert_int_equal(names, 3);
    assert_non_null(sir);
    assert_true(strlen(str(sir, "summary")) > 0);
    json_t *p;
    int found = 0;
    json_array_foreach(arr(sir, "params"), i, p) {
        if (!strcmp(str(p, "name"), "beta")) {
            assert_string_equal(str(p, "type"), "real");
            assert_true(num(p, "default") == 0.05 && num(p, "min") == 0 && num(p, "max") == 1);
            assert_true(strlen(str(p, "doc")) > 0);
            found = 1;
        }
    }
    assert_true(found);
    found = 0;
    json_array_foreach(arr(sir, "metrics"), i, p)
        found += !strcmp(str(p, "name"), "attack_rate");
    assert_int_equal(found, 1);
    assert_string_equal(str(json_array_get(arr(sir, "fields"), 0), "name"), "state");
    assert_int_equal(json_array_size(arr(obj(sir, "action_schema"), "anyOf")), 3);
    json_t *spaces = arr(sir, "spaces");
    assert_true(json_array_size(spaces) >= 2);
    json_decref(r);
    mcp_stop(m);
}

static void a_world_advances_snapshots_restores_copies_and_is_deleted(void **state)
{
    (void)state;
    mcp *m = mcp_open("world", NULL);
    const double n = 2500;

    json_t *c = mcp_call(m, "create_world", J("{" SIR_50 "}"));
    assert_string_equal(str(c, "world"), "w1");
    assert_string_equal(str(c, "model"), "sir");
    assert_int_equal(num(c, "n_agents"), n);
    assert_int_equal(num(c, "t"), 0);
    obj(c, "limits");
    check_sir_sum(obj(c, "metrics"), n);
    assert_int_equal(num(obj(c, "metrics"), "I"), 20);
    json_decref(c);

    /* advance: one value per step per metric, S + I + R == n at every step, `final` the last of them */
    json_t *a = mcp_call(m, "advance_world", J("{'world': 'w1', 'steps': 10}"));
    assert_string_equal(str(a, "world"), "w1");
    assert_int_equal(num(a, "t"), 10);
    assert_int_equal(num(a, "t_start"), 0);
    assert_int_equal(num(a, "steps_done"), 10);
    json_t *series = obj(a, "metrics"), *final = obj(a, "final");
    assert_int_equal(json_object_size(series), json_object_size(final));
    const char *k;
    json_t *s;
    json_object_foreach(series, k, s) {
        if (!json_is_array(s) || json_array_size(s) != 10)
            fail_msg("metric %s should have 10 values: %s", k, dump(s));
        assert_true(at(s, 9) == num(final, k));
    }
    for (size_t i = 0; i < 10; i++)
        assert_true(at(get(series, "S"), i) + at(get(series, "I"), i) + at(get(series, "R"), i) == n);
    assert_true(num(final, "cumulative_infected") > 20); /* the epidemic moved (545 by step 10 with seed 7) */

    /* get_metrics: the history since t = 0, the same values advance_world gave */
    json_t *h10 = mcp_call(m, "get_metrics", J("{'world': 'w1'}"));
    assert_int_equal(num(h10, "t"), 10);
    json_t *steps = arr(h10, "steps");
    assert_int_equal(json_array_size(steps), 11);
    for (size_t i = 0; i <= 10; i++)
        assert_true(at(steps, i) == (double)i);
    json_object_foreach(series, k, s) {
        json_t *h = arr(obj(h10, "metrics"), k);
        assert_int_equal(json_array_size(h), 11);
        for (size_t i = 0; i < 10; i++)
            assert_true(at(h, i + 1) == at(s, i));
    }
    json_t *last = mcp_call(m, "get_metrics", J("{'world': 'w1', 'names': ['I', 'R'], 'last': 3}"));
    assert_true(same_as(arr(last, "steps"), "[8, 9, 10]"));
    assert_int_equal(json_object_size(obj(last, "metrics")), 2);
    assert_true(at(arr(obj(last, "metrics"), "I"), 2) == num(final, "I"));
    json_decref(last);

    /* snapshot at t = 10, with every agent's state to compare against later */
    json_t *sn = mcp_call(m, "snapshot_world", J("{'world': 'w1', 'label': 'day ten'}"));
    assert_string_equal(str(sn, "snapshot"), "s1");
    assert_string_equal(str(sn, "world"), "w1");
    assert_string_equal(str(sn, "label"), "day ten");
    assert_int_equal(num(sn, "t"), 10);
    json_decref(sn);
    json_t *st10 = mcp_call(m, "get_agent_state", J("{'world': 'w1', 'range': {'start': 0, 'stop': 2500}}"));
    assert_int_equal(num(st10, "count"), n);

    /* the first continuation, then changes of every kind */
    json_t *cont1 = mcp_call(m, "advance_world", J("{'world': 'w1', 'steps': 10}"));
    assert_int_equal(num(cont1, "t_start"), 10);
    assert_int_equal(num(cont1, "t"), 20);
    json_t *v = mcp_call(m, "apply_action", J("{'world': 'w1', 'action': {'action': 'vaccinate', 'fraction': 0.5}}"));
    assert_true(json_is_true(get(v, "applied")));
    assert_int_equal(num(v, "t"), 20);
    assert_true(num(obj(v, "metrics"), "vaccinated") > 0);
    check_sir_sum(obj(v, "metrics"), n);
    json_decref(v);
    json_t *set = mcp_call(m, "set_agent_state",
                           J("{'world': 'w1', 'range': {'start': 0, 'stop': 2500}, 'field': 'state', 'value': 2}"));
    assert_int_equal(num(set, "changed"), n);
    json_t *sm = obj(set, "metrics");
    assert_true(num(sm, "S") == 0 && num(sm, "I") == 0 && num(sm, "R") == n);
    json_decref(set);
    json_decref(mcp_call(m, "advance_world", J("{'world': 'w1', 'steps': 3}")));

    /* restore: t, metrics, history and every agent exactly as at the snapshot */
    json_t *rs = mcp_call(m, "restore_world", J("{'world': 'w1', 'snapshot': 's1'}"));
    assert_int_equal(num(rs, "t"), 10);
    assert_string_equal(str(rs, "snapshot"), "s1");
    assert_same_values(obj(rs, "metrics"), final);
    json_decref(rs);
    json_t *h = mcp_call(m, "get_metrics", J("{'world': 'w1'}"));
    if (!json_equal(h, h10))
        fail_msg("the history after restore differs:\n%s\n%s", dump(h), dump(h10));
    json_decref(h);
    json_t *st = mcp_call(m, "get_agent_state", J("{'world': 'w1', 'range': {'start': 0, 'stop': 2500}}"));
    assert_true(json_equal(get(st, "fields"), get(st10, "fields")));
    json_decref(st);
    /* and the world goes on exactly as the first time (the randomness of a step depends on the seed and t only) */
    json_t *cont2 = mcp_call(m, "advance_world", J("{'world': 'w1', 'steps': 10}"));
    if (!json_equal(get(cont2, "metrics"), get(cont1, "metrics")))
        fail_msg("the continuation after restore differs:\n%s\n%s", dump(get(cont2, "metrics")),
                 dump(get(cont1, "metrics")));
    json_decref(cont2);
    /* the snapshot stays: a second restore works too */
    rs = mcp_call(m, "restore_world", J("{'world': 'w1', 'snapshot': 's1'}"));
    assert_int_equal(num(rs, "t"), 10);
    json_decref(rs);

    /* copy: the same state, then independent of its source both ways */
    json_t *cp = mcp_call(m, "copy_world", J("{'world': 'w1', 'name': 'twin'}"));
    assert_string_equal(str(cp, "world"), "twin");
    assert_string_equal(str(cp, "source"), "w1");
    assert_int_equal(num(cp, "t"), 10);
    json_decref(cp);
    json_t *tm = metrics_now(m, "twin");
    assert_same_values(tm, final);
    json_decref(tm);
    json_decref(mcp_call(m, "set_agent_state",
                         J("{'world': 'twin', 'range': {'start': 0, 'stop': 2500}, 'field': 'state', 'value': 0}")));
    json_t *ta = mcp_call(m, "advance_world", J("{'world': 'twin', 'steps': 4}"));
    assert_int_equal(num(ta, "t"), 14);
    assert_int_equal(num(obj(ta, "final"), "I"), 0);
    json_decref(ta);
    json_t *wm = metrics_now(m, "w1");
    assert_same_values(wm, final);
    json_decref(wm);
    st = mcp_call(m, "get_agent_state", J("{'world': 'w1', 'range': {'start': 0, 'stop': 2500}}"));
    assert_int_equal(num(st, "t"), 10);
    assert_true(json_equal(get(st, "fields"), get(st10, "fields")));
    json_decref(st);
    json_decref(mcp_call(m, "advance_world", J("{'world': 'w1', 'steps': 2}")));
    tm = metrics_now(m, "twin");
    assert_int_equal(num(tm, "I"), 0); /* w1 moving did not move the twin */
    json_decref(tm);
    json_t *cp2 = mcp_call(m, "copy_world", J("{'world': 'w1'}"));
    const char *cp2_name = str(cp2, "world");
    assert_true(strcmp(cp2_name, "w1") != 0 && strcmp(cp2_name, "twin") != 0);

    /* list_worlds: every world, with its snapshots */
    json_t *lw = mcp_call(m, "list_worlds", J("{}"));
    obj(lw, "limits");
    json_t *worlds = arr(lw, "worlds");
    assert_int_equal(json_array_size(worlds), 3);
    size_t i;
    json_t *e;
    int seen = 0;
    json_array_foreach(worlds, i, e) {
        if (!strcmp(str(e, "world"), "w1")) {
            seen++;
            assert_string_equal(str(e, "model"), "sir");
            assert_int_equal(num(e, "n_agents"), n);
            assert_int_equal(num(e, "t"), 12);
            json_t *snaps = arr(e, "snapshots");
            assert_int_equal(json_array_size(snaps), 1);
            json_t *s1 = json_array_get(snaps, 0);
            assert_string_equal(str(s1, "snapshot"), "s1");
            assert_int_equal(num(s1, "t"), 10);
            assert_string_equal(str(s1, "label"), "day ten");
        } else if (!strcmp(str(e, "world"), "twin")) {
            seen++;
            assert_int_equal(num(e, "t"), 14);
            assert_int_equal(json_array_size(arr(e, "snapshots")), 0);
        }
    }
    assert_int_equal(seen, 2);
    json_decref(lw);

    /* delete: the world is gone for every tool; the others stay */
    json_t *d = mcp_call(m, "delete_world", J("{'world': 'twin'}"));
    assert_string_equal(str(d, "deleted"), "twin");
    json_decref(d);
    mcp_call_error(m, "advance_world", J("{'world': 'twin', 'steps': 1}"), "twin");
    mcp_call_error(m, "get_metrics", J("{'world': 'twin'}"), "twin");
    mcp_call_error(m, "delete_world", J("{'world': 'twin'}"), "twin");
    lw = mcp_call(m, "list_worlds", J("{}"));
    assert_int_equal(json_array_size(arr(lw, "worlds")), 2);
    json_decref(lw);
    json_decref(cp2);
    json_t *w3 = mcp_call(m, "create_world", J("{" SIR_50 "}"));
    assert_true(strcmp(str(w3, "world"), "w1") != 0 && strcmp(str(w3, "world"), "twin") != 0);
    json_decref(w3);

    json_decref(a);
    json_decref(cont1);
    json_decref(st10);
    json_decref(h10);
    mcp_stop(m);
}

static void agent_state_is_read_and_written_by_ids_range_and_region(void **state)
{
    (void)state;
    mcp *m = mcp_open("agents", NULL);
    json_decref(mcp_call(m, "create_world", J("{" SIR_50 ", 'name': 'g'}")));

    /* no selection: agents 0..99 */
    json_t *r = mcp_call(m, "get_agent_state", J("{'world': 'g'}"));
    assert_int_equal(num(r, "count"), 100);
    assert_int_equal(num(r, "t"), 0);
    json_t *ids = arr(r, "ids");
    for (size_t i = 0; i < 100; i++)
        assert_true(at(ids, i) == (double)i);
    json_t *states = arr(obj(r, "fields"), "state");
    assert_int_equal(json_array_size(states), 100);
    for (size_t i = 0; i < 100; i++)
        assert_true(at(states, i) >= 0 && at(states, i) <= 2);
    json_decref(r);

    /* ids, as given */
    r = mcp_call(m, "get_agent_state", J("{'world': 'g', 'ids': [2499, 0, 77], 'fields': ['state']}"));
    assert_int_equal(num(r, "count"), 3);
    assert_true(same_as(arr(r, "ids"), "[2499, 0, 77]"));
    assert_int_equal(json_array_size(arr(obj(r, "fields"), "state")), 3);
    json_decref(r);

    /* a range [start, stop) */
    r = mcp_call(m, "get_agent_state", J("{'world': 'g', 'range': {'start': 100, 'stop': 150}}"));
    assert_int_equal(num(r, "count"), 50);
    assert_true(at(arr(r, "ids"), 0) == 100 && at(arr(r, "ids"), 49) == 149);
    json_decref(r);

    /* a region [x0, x1) x [y0, y1) of the 50-wide grid: agent y * 50 + x */
    r = mcp_call(m, "get_agent_state", J("{'world': 'g', 'region': {'x0': 10, 'y0': 3, 'x1': 15, 'y1': 7}}"));
    assert_int_equal(num(r, "count"), 20);
    ids = arr(r, "ids");
    int ok = 1;
    for (int y = 3; y < 7; y++)
        for (int x = 10; x < 15; x++) {
            int found = 0;
            for (size_t i = 0; i < json_array_size(ids); i++)
                found |= at(ids, i) == (double)(y * 50 + x);
            ok &= found;
        }
    if (!ok)
        fail_msg("the region's ids should be y * 50 + x: %s", dump(ids));
    json_decref(r);

    /* write: one value to a region, values one per id; the metrics follow the field */
    json_t *before = metrics_now(m, "g");
    json_t *w = mcp_call(m, "set_agent_state",
                         J("{'world': 'g', 'region': {'x0': 0, 'y0': 0, 'x1': 50, 'y1': 50}, 'field': 'state', "
                           "'value': 0}"));
    assert_int_equal(num(w, "changed"), 2500);
    assert_true(num(obj(w, "metrics"), "S") == 2500 && num(obj(w, "metrics"), "I") == 0);
    json_decref(w);
    w = mcp_call(m, "set_agent_state", J("{'world': 'g', 'ids': [5, 6, 7], 'field': 'state', 'values': [1, 2, 1]}"));
    assert_int_equal(num(w, "changed"), 3);
    json_t *wm = obj(w, "metrics");
    assert_true(num(wm, "S") == 2497 && num(wm, "I") == 2 && num(wm, "R") == 1);
    json_decref(w);
    r = mcp_call(m, "get_agent_state", J("{'world': 'g', 'range': {'start': 4, 'stop': 9}}"));
    assert_true(same_as(arr(obj(r, "fields"), "state"), "[0, 1, 2, 1, 0]"));
    json_decref(r);
    w = mcp_call(m, "set_agent_state",
                 J("{'world': 'g', 'range': {'start': 2000, 'stop': 2010}, 'field': 'state', 'value': 1}"));
    assert_int_equal(num(w, "changed"), 10);
    assert_true(num(obj(w, "metrics"), "I") == 12);
    check_sir_sum(obj(w, "metrics"), 2500);
    json_decref(w);
    json_t *now = metrics_now(m, "g");
    assert_true(num(now, "I") == 12 && num(now, "S") == 2487);
    json_decref(now);
    json_decref(before);

    /* the next step starts from the written state: only the 12 infected can infect */
    json_t *a = mcp_call(m, "advance_world", J("{'world': 'g', 'steps': 1}"));
    assert_true(num(obj(a, "final"), "new_infections") <= 12 * 8); /* at most their Moore neighbours */
    json_decref(a);

    /* at most 100,000 agents per call */
    json_t *big =
        mcp_call(m, "create_world",
                 J("{'model': 'sir', 'space': {'kind': 'grid', 'width': 320, 'height': 320}, 'name': 'big'}"));
    assert_int_equal(num(big, "n_agents"), 102400);
    json_decref(big);
    r = mcp_call(m, "get_agent_state", J("{'world': 'big', 'range': {'start': 2400, 'stop': 102400}}"));
    assert_int_equal(num(r, "count"), 100000);
    assert_int_equal(json_array_size(arr(obj(r, "fields"), "state")), 100000);
    json_decref(r);
    const char *too_many[] = {"100000", "100,000", NULL};
    mcp_call_refused(m, "get_agent_state", J("{'world': 'big', 'range': {'start': 0, 'stop': 100001}}"), too_many);
    mcp_call_refused(m, "get_agent_state", J("{'world': 'big', 'region': {'x0': 0, 'y0': 0, 'x1': 320, 'y1': 320}}"),
                     too_many);
    mcp_stop(m);
}

static void worlds_come_from_scenarios_and_apply_their_interventions(void **state)
{
    (void)state;
    const char *extra[] = {"--allow-read", test_src_path("scenarios"), NULL}; /* the shipped scenarios */
    mcp *m = mcp_open("scen", extra);
    char path[4096];

    /* a shipped scenario, made small by overrides; its initial_infected is a count of 100 */
    snprintf(path, sizeof path, "%s", test_src_path("scenarios/sir_grid.yaml"));
    json_t *c = mcp_call(
        m, "create_world",
        json_pack("{s:s, s:[s, s, s]}", "path", path, "set", "space.width=40", "space.height=40", "params.beta=0.2"));
    assert_int_equal(num(c, "n_agents"), 1600);
    assert_string_equal(str(c, "model"), "sir");
    assert_int_equal(num(obj(c, "metrics"), "I"), 100);
    assert_true(num(obj(c, "metrics"), "beta_eff") == 0.2);
    json_decref(c);

    /* scheduled interventions apply when due: the lockdown at step 40 scales beta 0.08 by 0.4 */
    snprintf(path, sizeof path, "%s", test_src_path("scenarios/sir_interventions.yaml"));
    c = mcp_call(
        m, "create_world",
        json_pack("{s:s, s:[s, s], s:s}", "path", path, "set", "space.width=40", "space.height=40", "name", "iv"));
    assert_string_equal(str(c, "world"), "iv");
    json_decref(c);
    json_t *a = mcp_call(m, "advance_world", J("{'world': 'iv', 'steps': 45}"));
    json_t *b = arr(obj(a, "metrics"), "beta_eff"); /* item i is step i + 1 */
    assert_int_equal(json_array_size(b), 45);
    if (at(b, 38) != 0.08 || fabs(at(b, 39) - 0.032) > 1e-12 || fabs(at(b, 44) - 0.032) > 1e-12)
        fail_msg("the lockdown at step 40 should scale beta_eff to 0.032: %s", dump(b));
    json_decref(a);

    /* scenario text: the opinion model on a Watts-Strogatz graph, where a region means nothing */
    c = mcp_call(m, "create_world",
                 json_pack("{s:s, s:i}", "scenario",
                           "model: opinion\n"
                           "space: {kind: graph, generator: watts_strogatz, n: 300, k: 4, p: 0.1}\n"
                           "params: {rule: degroot, rate: 0.5}\n"
                           "seed: 3\n",
                           "seed", 11));
    const char *ow = str(c, "world");
    assert_string_equal(str(c, "model"), "opinion");
    assert_int_equal(num(c, "n_agents"), 300);
    double var0 = num(obj(c, "metrics"), "variance");
    char *world = strdup(ow);
    json_decref(c);
    a = mcp_call(m, "advance_world", J("{'world': '%s', 'steps': 5}", world));
    assert_true(num(obj(a, "final"), "variance") < var0); /* averaging shrinks the spread */
    json_decref(a);
    json_t *r = mcp_call(m, "get_agent_state", J("{'world': '%s', 'ids': [0, 299], 'fields': ['opinion']}", world));
    json_t *op = arr(obj(r, "fields"), "opinion");
    assert_true(at(op, 0) >= 0 && at(op, 0) <= 1 && at(op, 1) >= 0 && at(op, 1) <= 1);
    json_decref(r);
    mcp_call_error(m, "get_agent_state", J("{'world': '%s', 'region': {'x0': 0, 'y0': 0, 'x1': 2, 'y1': 2}}", world),
                   "grid");
    free(world);
    mcp_stop(m);
}

/* ---- limits ------------------------------------------------------------------------------------------------------ */

static void limits_refuse_clearly_what_exceeds_them(void **state)
{
    (void)state;
    const char *extra[] = {
        "--max-worlds", "2", "--max-agents", "1000", "--max-steps", "50", "--max-snapshots", "2", NULL};
    mcp *m = mcp_open("limits", extra);
    const char *agents[] = {"1000", NULL}, *steps[] = {"50", NULL}, *worlds[] = {"world", NULL},
               *snaps[] = {"snapshot", NULL};

    mcp_call_refused(m, "create_world", J("{'model': 'sir', 'space': {'kind': 'grid', 'width': 40, 'height': 40}}"),
                     agents);
    json_t *lw = mcp_call(m, "list_worlds", J("{}"));
    assert_int_equal(json_array_size(arr(lw, "worlds")), 0);
    const char *lim = dump(obj(lw, "limits"));
    if (!strstr(lim, "1000") || !strstr(lim, "50"))
        fail_msg("limits should show --max-agents 1000 and --max-steps 50: %s", lim);
    json_decref(lw);

    const char *small = "{'model': 'sir', 'space': {'kind': 'grid', 'width': 20, 'height': 20}, 'seed': 1}";
    json_decref(mcp_call(m, "create_world", J(small)));
    json_decref(mcp_call(m, "create_world", J(small)));
    mcp_call_refused(m, "create_world", J(small), worlds);
    mcp_call_refused(m, "copy_world", J("{'world': 'w1'}"), worlds);

    mcp_call_refused(m, "advance_world", J("{'world': 'w1', 'steps': 51}"), steps);
    json_t *a = mcp_call(m, "advance_world", J("{'world': 'w1', 'steps': 50}"));
    assert_int_equal(num(a, "t"), 50);
    json_decref(a);

    json_decref(mcp_call(m, "snapshot_world", J("{'world': 'w1'}")));
    json_decref(mcp_call(m, "snapshot_world", J("{'world': 'w1'}")));
    mcp_call_refused(m, "snapshot_world", J("{'world': 'w1'}"), snaps);
    /* deleting one snapshot makes room for another; the other snapshot stays */
    json_t *d = mcp_call(m, "delete_world", J("{'world': 'w1', 'snapshot': 's1'}"));
    assert_string_equal(str(d, "deleted"), "s1");
    json_decref(d);
    mcp_call_error(m, "restore_world", J("{'world': 'w1', 'snapshot': 's1'}"), "s1");
    json_t *s3 = mcp_call(m, "snapshot_world", J("{'world': 'w1'}"));
    assert_string_equal(str(s3, "snapshot"), "s3");
    json_decref(s3);
    json_decref(mcp_call(m, "restore_world", J("{'world': 'w1', 'snapshot': 's2'}")));

    /* the limits count what exists now: after a delete there is room again */
    json_decref(mcp_call(m, "delete_world", J("{'world': 'w2'}")));
    json_decref(mcp_call(m, "create_world", J(small)));

    /* the simulate_* tools run within the same limits */
    const char *sim = "model: sir\nspace: {kind: grid, width: 40, height: 40}\nsteps: 10\n";
    mcp_call_refused(m, "simulate_mechanics", json_pack("{s:s}", "scenario", sim), agents);
    sim = "model: sir\nspace: {kind: grid, width: 20, height: 20}\nsteps: 10\n";
    mcp_call_refused(m, "simulate_mechanics", json_pack("{s:s, s:i}", "scenario", sim, "steps", 51), steps);
    sim = "model: sir\nspace: {kind: grid, width: 20, height: 20}\nsteps: 51\n"; /* the scenario's own steps */
    mcp_call_refused(m, "simulate_mechanics", json_pack("{s:s}", "scenario", sim), steps);
    mcp_stop(m);
}

/* --max-wall cuts a long call short: the steps done are kept (the world is at the step reported, its history has
 * every one of them), the result says why it stopped, and the next call goes on from there. */
static void the_wall_time_limit_stops_a_long_call_and_keeps_its_steps(void **state)
{
    (void)state;
    const char *const extra[] = {"--max-wall", "0.3", NULL};
    mcp *m = mcp_open("wall", extra);
    json_decref(mcp_call(m, "create_world",
                         J("{'model': 'sir', 'space': {'kind': 'grid', 'width': 300, 'height': "
                           "300}, 'params': {'gamma': 0.01}, 'seed': 3}")));
    /* 100000 steps of 90000 agents take far longer than 0.3 s on any machine (about 10^10 agent-updates) */
    json_t *a = mcp_call(m, "advance_world", J("{'world': 'w1', 'steps': 100000}"));
    const double done = num(a, "steps_done");
    if (!(done >= 1 && done < 100000))
        fail_msg("advance_world should stop at the wall-time limit with some steps done: %s", dump(a));
    assert_int_equal(num(a, "t"), done);
    assert_int_equal(json_array_size(arr(obj(a, "metrics"), "I")), (size_t)done);
    if (!strstr(dump(obj(a, "stopped")), "max-wall"))
        fail_msg("the result should say it stopped at --max-wall: %s", dump(a));
    json_decref(a);
    json_t *g = mcp_call(m, "get_metrics", J("{'world': 'w1', 'names': ['I']}"));
    assert_int_equal(json_array_size(arr(g, "steps")), (size_t)done + 1);
    json_decref(g);
    json_t *b = mcp_call(m, "advance_world", J("{'world': 'w1', 'steps': 2}"));
    assert_int_equal(num(b, "t_start"), done);
    assert_int_equal(num(b, "t"), done + 2);
    assert_null(json_object_get(b, "stopped"));
    json_decref(b);
    mcp_stop(m);
}

/* ---- progress ---------------------------------------------------------------------------------------------------- */

/* Checks the notifications a call collected: at least one, every one notifications/progress with the token, progress
 * increasing and below total. */
static void check_progress(const json_t *notes, const json_t *token)
{
    if (json_array_size(notes) < 1)
        fail_msg("no progress notification before the result");
    double prev = -INFINITY;
    size_t i;
    json_t *note;
    json_array_foreach(notes, i, note) {
        assert_string_equal(str(note, "method"), "notifications/progress");
        json_t *p = obj(note, "params");
        if (!json_equal(get(p, "progressToken"), (json_t *)token))
            fail_msg("progress with the wrong token: %s", dump(note));
        double progress = num(p, "progress");
        if (!(progress > prev))
            fail_msg("progress should increase: %s", dump(notes));
        /* below total: nothing is sent once the work is done (the result says so) */
        if (json_object_get(p, "total") && progress >= num(p, "total"))
            fail_msg("progress at or above total: %s", dump(note));
        prev = progress;
    }
}

static void progress_is_notified_with_the_token_and_only_when_asked(void **state)
{
    (void)state;
    mcp *m = mcp_open("progress", NULL);
    json_decref(mcp_call(m, "create_world",
                         J("{'model': 'sir', 'space': {'kind': 'grid', 'width': 100, 'height': 100}, "
                           "'params': {'beta': 0.1, 'gamma': 0.02}, 'seed': 1}")));

    json_t *notes = json_array();
    json_t *a =
        mcp_call_with(m, "advance_world", J("{'world': 'w1', 'steps': 200}"), J("{'progressToken': 'adv-1'}"), notes);
    assert_int_equal(num(a, "t"), 200);
    json_t *tok = json_string("adv-1");
    check_progress(notes, tok);
    json_decref(tok);
    json_decref(notes);
    json_decref(a);

    /* without a token: no notification at all (mcp_call fails on any) */
    a = mcp_call(m, "advance_world", J("{'world': 'w1', 'steps': 200}"));
    json_decref(a);

    /* an integer token comes back as the same integer */
    notes = json_array();
    json_t *s = mcp_call_with(m, "simulate_mechanics",
                              json_pack("{s:s, s:i}", "scenario",
                                        "model: sir\nspace: {kind: grid, width: 100, height: 100}\n"
                                        "params: {beta: 0.1, gamma: 0.02}\nseed: 2\n",
                                        "steps", 200),
                              J("{'progressToken': 17}"), notes);
    tok = json_integer(17);
    check_progress(notes, tok);
    json_decref(tok);
    json_decref(notes);
    /* 201 rows thinned to at most ~100 evenly spaced points, the last step included */
    json_t *t = arr(obj(s, "series"), "t");
    size_t np = json_array_size(t);
    if (np < 50 || np > 101 || at(t, np - 1) != 200)
        fail_msg("series.t should be <= 101 points ending at 200: %s", dump(t));
    for (size_t i = 1; i < np; i++)
        assert_true(at(t, i) > at(t, i - 1));
    assert_int_equal(json_array_size(arr(obj(s, "series"), "I")), np);
    json_decref(s);
    s = mcp_call(m, "simulate_mechanics",
                 json_pack("{s:s, s:i}", "scenario", "model: sir\nspace: {kind: grid, width: 100, height: 100}\n",
                           "steps", 200));
    json_decref(s);
    mcp_stop(m);
}

/* ---- the simulate_* tools ---------------------------------------------------------------------------------------- */

/* Opens a run file and checks that its last metric values are exactly `final`. */
static void check_run_file(const char *path, const json_t *final, double steps)
{
    if (!file_exists(path))
        fail_msg("the run file %s does not exist", path);
    json_t *info = NULL;
    agora_error err;
    if (agora_h5_inspect(path, &info, &err) != 0)
        fail_msg("cannot read %s: %s", path, err.msg);
    assert_string_equal(str(info, "status"), "complete");
    assert_true(num(obj(info, "time"), "last") == steps);
    json_t *fm = obj(info, "metrics");
    const char *k;
    json_t *v;
    json_object_foreach((json_t *) final, k, v) {
        if (!json_is_number(v) || !json_is_number(json_object_get(fm, k)) ||
            json_number_value(v) != json_number_value(json_object_get(fm, k)))
            fail_msg("final %s: the result says %s, the file %s", k, dump(v), dump(json_object_get(fm, k)));
    }
    assert_int_equal(json_object_size(fm), json_object_size(final));
    json_decref(info);
}

static void simulate_mechanics_writes_the_file_its_result_describes(void **state)
{
    (void)state;
    const char *extra[] = {"--allow-read", test_src_path("scenarios"), NULL};
    mcp *m = mcp_open("simmech", extra);
    char real_out[4096];
    const char *yaml = "name: mcpt_small\nmodel: sir\nspace: {kind: grid, width: 50, height: 50}\n"
                       "params: {beta: 0.25, gamma: 0.1, initial_infected: 10}\nsteps: 20\nseed: 5\n";
    json_t *r = mcp_call(m, "simulate_mechanics", json_pack("{s:s}", "scenario", yaml));
    const char *path = str(r, "path");
    /* no output path named: a new file under --output-dir, named after the scenario, given by its real path */
    assert_non_null(realpath(m->out_dir, real_out));
    char want[4200];
    snprintf(want, sizeof want, "%s/mcpt_small.h5", real_out);
    assert_string_equal(path, want);
    assert_string_equal(str(r, "status"), "complete");
    assert_int_equal(num(r, "steps"), 20);
    assert_int_equal(num(r, "n_agents"), 2500);
    assert_true(num(r, "wall_s") >= 0);
    json_t *final = obj(r, "final");
    check_sir_sum(final, 2500);
    check_run_file(path, final, 20);
    /* summary and series agree with final */
    json_t *sum = obj(r, "summary");
    json_t *si = obj(sum, "I");
    assert_true(num(si, "final") == num(final, "I"));
    assert_true(num(si, "peak") >= num(final, "I"));
    assert_true(num(si, "peak_step") >= 0 && num(si, "peak_step") <= 20);
    assert_true(num(obj(sum, "attack_rate"), "final") == num(final, "attack_rate"));
    json_t *series = obj(r, "series");
    json_t *t = arr(series, "t");
    size_t np = json_array_size(t);
    assert_true(np >= 2 && np <= 101);
    assert_true(at(t, np - 1) == 20);
    json_t *si_series = arr(series, "I");
    assert_int_equal(json_array_size(si_series), np);
    assert_true(at(si_series, np - 1) == num(final, "I"));

    /* the same scenario and seed again: the same final values; another seed: others */
    json_t *r2 = mcp_call(m, "simulate_mechanics", json_pack("{s:s}", "scenario", yaml));
    assert_same_values(obj(r2, "final"), final);
    json_decref(r2);
    r2 = mcp_call(m, "simulate_mechanics", json_pack("{s:s, s:i}", "scenario", yaml, "seed", 6));
    assert_false(same_values(obj(r2, "final"), final));
    /* each run a new file: the one with seed 6 did not overwrite the first */
    snprintf(want, sizeof want, "%s/mcpt_small-3.h5", real_out);
    assert_string_equal(str(r2, "path"), want);
    check_run_file(path, final, 20);
    json_decref(r2);
    json_decref(r);

    /* a shipped scenario, overrides, a step count and a name of the caller's under the output directory */
    char spath[4096], out[4200];
    snprintf(spath, sizeof spath, "%s", test_src_path("scenarios/sir_grid.yaml"));
    snprintf(out, sizeof out, "%s/mine/grid.h5", real_out);
    r = mcp_call(m, "simulate_mechanics",
                 json_pack("{s:s, s:[s, s], s:i, s:s}", "path", spath, "set", "space.width=40", "space.height=30",
                           "steps", 12, "output", "mine/grid.h5"));
    assert_string_equal(str(r, "path"), out);
    assert_int_equal(num(r, "steps"), 12);
    assert_int_equal(num(r, "n_agents"), 1200);
    check_run_file(out, obj(r, "final"), 12);
    json_decref(r);
    mcp_stop(m);
}

static void simulate_mixed_offline_records_the_personas_decisions(void **state)
{
    (void)state;
    const char *extra[] = {"--allow-read", test_src_path("scenarios"), NULL};
    mcp *m = mcp_open("simmixed", extra);
    char spath[4096], out[4200], real_out[4096];
    snprintf(spath, sizeof spath, "%s", test_src_path("scenarios/sir_lockdown.yaml"));
    json_t *r = mcp_call(m, "simulate_mixed",
                         json_pack("{s:s, s:[s, s], s:i, s:b, s:s}", "path", spath, "set", "space.width=60",
                                   "space.height=60", "steps", 30, "offline", 1, "output", "mixed.h5"));
    assert_non_null(realpath(m->out_dir, real_out));
    snprintf(out, sizeof out, "%s/mixed.h5", real_out);
    assert_string_equal(str(r, "path"), out);
    assert_string_equal(str(r, "status"), "complete");
    assert_int_equal(num(r, "n_agents"), 3600);
    check_run_file(out, obj(r, "final"), 30);
    /* health decides every 7 steps from 0, economy from step 3: both at least 4 times in 30 steps, by their rules */
    json_t *dec = arr(r, "decisions");
    int health = 0, economy = 0;
    size_t i;
    json_t *d;
    json_array_foreach(dec, i, d) {
        const char *p = str(d, "persona");
        health += !strcmp(p, "health");
        economy += !strcmp(p, "economy");
        assert_string_equal(str(d, "source"), "rules");
        assert_true(num(d, "step") >= 0 && num(d, "step") <= 30);
        arr(d, "actions");
    }
    if (health < 4 || economy < 4)
        fail_msg("expected decisions of both personas: %s", dump(dec));
    json_t *info = NULL;
    agora_error err;
    assert_int_equal(agora_h5_inspect(out, &info, &err), 0);
    assert_int_equal(json_array_size(arr(info, "personas")), 2);
    json_decref(info);
    json_decref(r);

    /* a scenario without personas is not a mixed run */
    mcp_call_error(
        m, "simulate_mixed",
        json_pack("{s:s, s:b}", "scenario", "model: sir\nspace: {kind: grid, width: 20, height: 20}\n", "offline", 1),
        "persona");
    mcp_stop(m);
}

static void simulate_interactions_runs_actors_against_an_llm(void **state)
{
    (void)state;
    llm_server llm;
    /* every reply generated from the request's JSON Schema: valid for actors, world engine and evaluator alike */
    assert_int_equal(llm_server_start(&llm, "{\"default\": {\"auto\": true}}"), 0);
    const char *extra[] = {"--allow-read", test_src_path("scenarios"), NULL}; /* the mixed run below reads one */
    mcp *m = mcp_open("siminter", extra);
    json_t *args = J("{'actors': [{'role': 'mayor', 'traits': 'calm, decisive', 'name': 'Ana', "
                     "'goals': 'evacuate the town'}, {'role': 'boat pilot', 'traits': 'bold'}], "
                     "'rounds': 2, 'world': 'A river town floods.', "
                     "'llm': {'provider': 'openai', 'model': 'test-model', 'base_url': '%s'}, 'output': 'ix.h5'}",
                     llm.base_url);
    /* without an LLM the run would only record failed calls: it is refused, saying what to give */
    mcp_call_error(m, "simulate_interactions", J("{'actors': [{'role': 'mayor'}], 'rounds': 1}"), "needs an LLM");
    json_t *r = mcp_call(m, "simulate_interactions", args);
    char out[4200], real_out[4096];
    assert_non_null(realpath(m->out_dir, real_out));
    snprintf(out, sizeof out, "%s/ix.h5", real_out);
    assert_string_equal(str(r, "path"), out);
    if (!file_exists(out))
        fail_msg("no run file at %s", out);
    assert_string_equal(str(r, "status"), "complete");
    assert_int_equal(num(r, "rounds"), 2);
    str(r, "narrative");
    obj(r, "evaluation");
    obj(r, "state");
    json_decref(r);
    /* the calls went to the server, and the file recorded them */
    json_t *reqs = llm_server_requests(&llm);
    assert_non_null(reqs);
    assert_true(json_array_size(reqs) >= 2 * 2 + 1); /* two actors for two rounds, then the evaluation */
    json_t *calls = NULL;
    agora_error err;
    assert_int_equal(agora_h5_llm_calls(out, &calls, &err), 0);
    assert_true(json_array_size(calls) >= 5);
    json_decref(calls);
    json_decref(reqs);
    /* no server at the URL: the run is degraded, and the result says so and why (issue 13, defect 5) */
    r = mcp_call(m, "simulate_interactions",
                 J("{'actors': [{'role': 'mayor'}], 'rounds': 2, 'world': 'A town.', 'output': 'dead.h5', "
                   "'llm': {'provider': 'openai', 'model': 'm', 'base_url': 'http://127.0.0.1:9'}}"));
    assert_string_equal(str(r, "status"), "degraded");
    json_t *l = obj(r, "llm");
    assert_true(json_is_true(json_object_get(l, "degraded")));
    assert_non_null(strstr(str(l, "degraded_reason"), "no LLM server at http://127.0.0.1:9"));
    json_decref(r);
    /* the same for simulate_mixed */
    char spath[4096];
    snprintf(spath, sizeof spath, "%s", test_src_path("scenarios/sir_lockdown.yaml"));
    r = mcp_call(m, "simulate_mixed",
                 json_pack("{s:s, s:[s, s, s], s:i, s:s}", "path", spath, "set", "space.width=40", "space.height=40",
                           "llm={provider: ollama, model: m, base_url: \"http://127.0.0.1:9\"}", "steps", 10, "output",
                           "deadmixed.h5"));
    assert_string_equal(str(r, "status"), "degraded");
    l = obj(r, "llm");
    assert_true(json_integer_value(json_object_get(l, "fallbacks")) > 0);
    assert_non_null(strstr(str(l, "degraded_reason"), "connection refused"));
    json_decref(r);
    mcp_stop(m);
    llm_server_stop(&llm);
}

/* ---- confinement: outputs inside --output-dir, reads inside --allow-read, errors without file contents --------- */

/* Writes a file (fails the test when it cannot). */
static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        fail_msg("cannot write %s: %s", path, strerror(errno));
    fputs(text, f);
    fclose(f);
}

/* A file's text (new string, "" when it cannot be read: the callers compare against what they wrote). */
static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *s = calloc(1, 65536);
    assert_non_null(s);
    if (f) {
        size_t n = fread(s, 1, 65535, f);
        s[n] = 0;
        fclose(f);
    }
    return s;
}

/* Fails unless the file holds exactly `text`. */
static void assert_unchanged(const char *path, const char *text)
{
    char *now = read_text(path);
    if (strcmp(now, text) != 0)
        fail_msg("%s was changed by the server (it lies outside the places the server may write): now %zu bytes", path,
                 strlen(now));
    free(now);
}

static int lexists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

/* Calls a tool that must be refused, either way (isError or -32602), and returns the refusal's text (new string). */
static char *mcp_refusal(mcp *m, const char *tool, json_t *args)
{
    char what[2200];
    snprintf(what, sizeof what, "%s %s", tool, dump(args));
    json_t *msg = mcp_rpc(m, "tools/call", json_pack("{s:s, s:o}", "name", tool, "arguments", args), NULL);
    json_t *err = json_object_get(msg, "error"), *res = json_object_get(msg, "result");
    const char *text = NULL;
    if (err) {
        if (json_integer_value(json_object_get(err, "code")) != -32602)
            MCP_FAIL(m, "%s: refused with an unexpected code: %s", what, dump(err));
        text = json_string_value(json_object_get(err, "message"));
    } else {
        if (!json_is_true(json_object_get(res, "isError")))
            MCP_FAIL(m, "%s: should be refused, got %s", what, dump(res));
        text = content_text(m, res, tool);
    }
    char *copy = strdup(text ? text : "");
    json_decref(msg);
    return copy;
}

/* A refusal whose text names every one of the needles (NULL-terminated, case-insensitive). */
static void refused_naming(mcp *m, const char *tool, json_t *args, const char *const *needles)
{
    char what[2200];
    snprintf(what, sizeof what, "%s %s", tool, dump(args));
    char *text = mcp_refusal(m, tool, args);
    for (int i = 0; needles[i]; i++)
        if (!strcasestr(text, needles[i]))
            MCP_FAIL(m, "%s: the refusal should name \"%s\": %s", what, needles[i], text);
    free(text);
}

#define SMALL_RUN "name: mcpt_out\nmodel: sir\nspace: {kind: grid, width: 10, height: 10}\nsteps: 3\n"

/* A client that may be prompt-injected names the run file: absolute paths, "..", symbolic links (a directory on the
 * way, or the file itself, even dangling) and an output.path in its own scenario text or a `set` override must not
 * get a byte written outside --output-dir; a plain relative name goes under it, and an existing file is never
 * overwritten. */
static void outputs_stay_inside_the_output_dir(void **state)
{
    (void)state;
    mcp *m = mcp_open("outdir", NULL);
    char victim[4096], elsewhere[4096], real_out[4096], p[8192];
    snprintf(victim, sizeof victim, "%s", test_tmp_path("mcpt-outdir-victim.txt"));
    write_text(victim, "precious\n");
    snprintf(elsewhere, sizeof elsewhere, "%s", test_tmp_path("mcpt-outdir-elsewhere"));
    rm_tree(elsewhere);
    assert_int_equal(mkdir(elsewhere, 0755), 0);
    const char *escape = test_tmp_path("mcpt-outdir-escape.h5"); /* out_dir/../mcpt-outdir-escape.h5 */
    remove(escape);

    /* absolute paths and ".." components: the argument itself is wrong */
    const char *abs_needles[] = {"output", "relative", NULL};
    refused_naming(m, "simulate_mechanics", json_pack("{s:s, s:s}", "scenario", SMALL_RUN, "output", victim),
                   abs_needles);
    assert_unchanged(victim, "precious\n");
    const char *dotdot_needles[] = {"output", "..", NULL};
    refused_naming(m, "simulate_mechanics",
                   json_pack("{s:s, s:s}", "scenario", SMALL_RUN, "output", "../mcpt-outdir-escape.h5"),
                   dotdot_needles);
    refused_naming(m, "simulate_mechanics",
                   json_pack("{s:s, s:s}", "scenario", SMALL_RUN, "output", "sub/../../mcpt-outdir-escape.h5"),
                   dotdot_needles);
    assert_false(lexists(escape));
    /* every tool that writes a run file: the mixed run by its rules, the interactions run against a closed port */
    refused_naming(m, "simulate_mixed",
                   json_pack("{s:s, s:b, s:s}", "scenario",
                             SMALL_RUN "personas:\n  - {id: h, role: minister, every: 1, persona: careful,\n"
                                       "     offline_policy: [{when: \"I_frac > 0.5\", do: {action: vaccinate, "
                                       "fraction: 0.1}}]}\n",
                             "offline", 1, "output", victim),
                   abs_needles);
    assert_unchanged(victim, "precious\n");
    refused_naming(m, "simulate_interactions",
                   J("{'actors': [{'role': 'mayor'}], 'rounds': 1, 'output': '%s', 'llm': {'provider': 'openai', "
                     "'model': 'm', 'base_url': 'http://127.0.0.1:9', 'max_retries': 0, 'timeout_s': 1}}",
                     victim),
                   abs_needles);
    assert_unchanged(victim, "precious\n");

    /* a plain relative name: under --output-dir (directories made as needed), the result giving the real path */
    json_t *r =
        mcp_call(m, "simulate_mechanics", json_pack("{s:s, s:s}", "scenario", SMALL_RUN, "output", "mine/a.h5"));
    if (!realpath(m->out_dir, real_out))
        fail_msg("no output directory %s after a run", m->out_dir);
    snprintf(p, sizeof p, "%s/mine/a.h5", real_out);
    assert_string_equal(str(r, "path"), p);
    check_run_file(p, obj(r, "final"), 3);
    json_decref(r);
    /* the same name again: refused, the file kept as it was */
    const char *exists_needles[] = {"mine/a.h5", "exists", NULL};
    refused_naming(m, "simulate_mechanics", json_pack("{s:s, s:s}", "scenario", SMALL_RUN, "output", "mine/a.h5"),
                   exists_needles);

    /* a symbolic link on the way out of the directory: refused, nothing written where it points */
    snprintf(p, sizeof p, "%s/link", m->out_dir);
    assert_int_equal(symlink(elsewhere, p), 0);
    const char *link_needles[] = {"output", "link", NULL};
    refused_naming(m, "simulate_mechanics", json_pack("{s:s, s:s}", "scenario", SMALL_RUN, "output", "link/x.h5"),
                   link_needles);
    refused_naming(m, "simulate_mechanics",
                   json_pack("{s:s, s:s}", "scenario", SMALL_RUN, "output", "link/deeper/x.h5"), link_needles);
    snprintf(p, sizeof p, "%s/x.h5", elsewhere);
    assert_false(lexists(p));
    snprintf(p, sizeof p, "%s/deeper", elsewhere);
    assert_false(lexists(p));
    /* the file itself a symbolic link to a file outside: refused, the file outside unchanged */
    snprintf(p, sizeof p, "%s/v.h5", m->out_dir);
    assert_int_equal(symlink(victim, p), 0);
    const char *vlink_needles[] = {"v.h5", "link", NULL};
    refused_naming(m, "simulate_mechanics", json_pack("{s:s, s:s}", "scenario", SMALL_RUN, "output", "v.h5"),
                   vlink_needles);
    assert_unchanged(victim, "precious\n");
    /* a dangling link where the default name would go: the default name skips it, nothing is created outside */
    char dangling[8192];
    snprintf(dangling, sizeof dangling, "%s/dangling.h5", elsewhere);
    snprintf(p, sizeof p, "%s/mcpt_out.h5", m->out_dir);
    assert_int_equal(symlink(dangling, p), 0);
    r = mcp_call(m, "simulate_mechanics", json_pack("{s:s}", "scenario", SMALL_RUN));
    if (lexists(dangling))
        fail_msg("the run wrote through the dangling link %s to %s", p, dangling);
    if (strncmp(str(r, "path"), real_out, strlen(real_out)) != 0 || strcmp(str(r, "path"), p) == 0)
        fail_msg("the default name should be a new file under %s, not the link: %s", real_out, str(r, "path"));
    check_run_file(str(r, "path"), obj(r, "final"), 3);
    json_decref(r);

    /* output.path in the client's own scenario text or in a `set` override: the same rules */
    const char *key_needles[] = {"output.path", NULL};
    char text[8192];
    snprintf(text, sizeof text, SMALL_RUN "output: {path: '%s'}\n", victim);
    refused_naming(m, "simulate_mechanics", json_pack("{s:s}", "scenario", text), key_needles);
    snprintf(text, sizeof text, "output.path=%s", victim);
    refused_naming(m, "simulate_mechanics", json_pack("{s:s, s:[s]}", "scenario", SMALL_RUN, "set", text), key_needles);
    refused_naming(m, "simulate_mechanics",
                   json_pack("{s:s, s:[s]}", "scenario", SMALL_RUN, "set", "output.path=../mcpt-outdir-escape.h5"),
                   key_needles);
    refused_naming(m, "simulate_mechanics",
                   json_pack("{s:s}", "scenario", SMALL_RUN "output: {path: link/inline.h5}\n"), key_needles);
    assert_unchanged(victim, "precious\n");
    assert_false(lexists(escape));
    snprintf(p, sizeof p, "%s/inline.h5", elsewhere);
    assert_false(lexists(p));
    /* and a relative one there is a name under --output-dir */
    r = mcp_call(m, "simulate_mechanics", json_pack("{s:s}", "scenario", SMALL_RUN "output: {path: own/b.h5}\n"));
    snprintf(p, sizeof p, "%s/own/b.h5", real_out);
    assert_string_equal(str(r, "path"), p);
    check_run_file(p, obj(r, "final"), 3);
    json_decref(r);
    r = mcp_call(m, "simulate_mechanics", json_pack("{s:s, s:[s]}", "scenario", SMALL_RUN, "set", "output.path=c.h5"));
    snprintf(p, sizeof p, "%s/c.h5", real_out);
    assert_string_equal(str(r, "path"), p);
    json_decref(r);
    mcp_stop(m);
}

#define EDGES "0 1\n1 2\n2 3\n3 0\n0 2\n"

/* Reads are confined to --allow-read (default: the directory the server started in): the scenario `path`, an
 * edge-list file named in a scenario (text, file, `set` or create_world's space), a replay recording (the llm
 * argument or the scenario's llm block) and interactions' enrich sources, whether named absolute, with "..", or
 * through a symbolic link that leads out. */
static void reads_stay_inside_the_allowed_roots(void **state)
{
    (void)state;
    char outside[4096], p[8192], text[16384];
    snprintf(outside, sizeof outside, "%s", test_tmp_path("mcpt-reads-outside"));
    rm_tree(outside);
    assert_int_equal(mkdir(outside, 0755), 0);
    snprintf(p, sizeof p, "%s/scen.yaml", outside);
    write_text(p, "name: outside\nmodel: sir\nspace: {kind: grid, width: 10, height: 10}\nsteps: 2\n");
    snprintf(p, sizeof p, "%s/edges.txt", outside);
    write_text(p, EDGES);
    snprintf(p, sizeof p, "%s/rec.h5", outside);
    write_text(p, "not really a recording\n");

    mcp *m = mcp_open("reads", NULL);
    /* inside the working directory (the default root): a scenario, an edge list, and links leading out */
    snprintf(p, sizeof p, "%s/ok.yaml", m->cwd);
    write_text(p, "name: inside\nmodel: sir\nspace: {kind: graph, generator: file, path: edges.txt}\nparams: {initial_infected: 1}\nsteps: 2\n");
    snprintf(p, sizeof p, "%s/edges.txt", m->cwd);
    write_text(p, EDGES);
    char target[8192];
    snprintf(target, sizeof target, "%s/scen.yaml", outside);
    snprintf(p, sizeof p, "%s/link.yaml", m->cwd);
    assert_int_equal(symlink(target, p), 0);
    snprintf(target, sizeof target, "%s/edges.txt", outside);
    snprintf(p, sizeof p, "%s/link-edges.txt", m->cwd);
    assert_int_equal(symlink(target, p), 0);
    snprintf(p, sizeof p, "%s/linked.yaml", m->cwd);
    write_text(p, "model: sir\nspace: {kind: graph, generator: file, path: link-edges.txt}\nsteps: 2\n");

    json_t *c = mcp_call(m, "create_world", J("{'path': 'ok.yaml'}"));
    assert_int_equal(num(c, "n_agents"), 4);
    json_decref(c);
    json_decref(mcp_call(m, "simulate_mechanics", J("{'path': 'ok.yaml'}")));

    const char *root_needles[] = {"--allow-read", NULL};
    /* the scenario file: absolute, "..", a link */
    snprintf(p, sizeof p, "%s/scen.yaml", outside);
    refused_naming(m, "create_world", json_pack("{s:s}", "path", p), root_needles);
    refused_naming(m, "simulate_mechanics", json_pack("{s:s}", "path", p), root_needles);
    refused_naming(m, "simulate_mechanics", J("{'path': '../mcpt-reads-outside/scen.yaml'}"), root_needles);
    refused_naming(m, "create_world", J("{'path': 'link.yaml'}"), root_needles);
    char *t = mcp_refusal(m, "simulate_mechanics", J("{'path': '/etc/passwd'}"));
    if (strstr(t, "root:") || !strcasestr(t, "--allow-read"))
        fail_msg("/etc/passwd lies outside the roots: refused without its text: %s", t);
    free(t);

    /* an edge list outside: named in scenario text, in a file, by a `set`, in create_world's space */
    const char *edge_needles[] = {"space.path", "--allow-read", NULL};
    snprintf(text, sizeof text, "model: sir\nspace: {kind: graph, generator: file, path: '%s/edges.txt'}\nsteps: 2\n",
             outside);
    refused_naming(m, "create_world", json_pack("{s:s}", "scenario", text), edge_needles);
    refused_naming(m, "simulate_mechanics", json_pack("{s:s}", "scenario", text), edge_needles);
    refused_naming(m, "create_world", J("{'path': 'linked.yaml'}"), edge_needles);
    snprintf(text, sizeof text, "space.path=%s/edges.txt", outside);
    refused_naming(m, "simulate_mechanics", json_pack("{s:s, s:[s]}", "path", "ok.yaml", "set", text), edge_needles);
    refused_naming(m, "create_world", J("{'path': 'ok.yaml', 'set': ['space.path=../mcpt-reads-outside/edges.txt']}"),
                   edge_needles);
    refused_naming(
        m, "create_world",
        J("{'model': 'sir', 'space': {'kind': 'graph', 'generator': 'file', 'path': '%s/edges.txt'}}", outside),
        edge_needles);

    /* a replay recording outside: by the llm argument or the scenario's llm block */
    const char *replay_needles[] = {"path", "--allow-read", NULL};
    const char *mixed = "model: sir\nspace: {kind: grid, width: 10, height: 10}\nsteps: 2\n"
                        "personas:\n  - {id: h, role: minister, every: 1, persona: careful,\n"
                        "     offline_policy: [{when: \"I_frac > 0.5\", do: {action: vaccinate, fraction: 0.1}}]}\n";
    snprintf(p, sizeof p, "%s/rec.h5", outside);
    refused_naming(m, "simulate_mixed",
                   json_pack("{s:s, s:{s:s, s:s}}", "scenario", mixed, "llm", "provider", "replay", "path", p),
                   replay_needles);
    snprintf(text, sizeof text, "%sllm: {provider: replay, path: '%s'}\n", mixed, p);
    refused_naming(m, "simulate_mixed", json_pack("{s:s}", "scenario", text), replay_needles);
    snprintf(text, sizeof text,
             "mode: interactions\nactors: [{id: a, role: mayor}]\nworld: {description: a town}\nrounds: 1\n"
             "llm: {provider: replay, path: '%s'}\n",
             p);
    refused_naming(m, "simulate_interactions", json_pack("{s:s}", "scenario", text), replay_needles);
    /* interactions' enrich sources */
    const char *enrich_needles[] = {"enrich.sources", "--allow-read", NULL};
    snprintf(text, sizeof text,
             "mode: interactions\nactors: [{id: a, role: mayor}]\nworld: {description: a town}\nrounds: 1\n"
             "llm: {provider: openai, model: m, base_url: 'http://127.0.0.1:9', max_retries: 0}\n"
             "enrich: {sources: ['%s/scen.yaml']}\n",
             outside);
    refused_naming(m, "simulate_interactions", json_pack("{s:s}", "scenario", text), enrich_needles);

    /* the instructions and list_worlds name the roots and the output directory */
    json_t *lw = mcp_call(m, "list_worlds", J("{}"));
    char real_cwd[4096];
    assert_non_null(realpath(m->cwd, real_cwd));
    if (!strstr(dump(obj(lw, "limits")), real_cwd))
        fail_msg("list_worlds' limits should name the read root %s: %s", real_cwd, dump(obj(lw, "limits")));
    json_decref(lw);
    mcp_stop(m);

    /* --allow-read names the roots instead of the working directory; a root that does not exist stops the start */
    const char *extra[] = {"--allow-read", outside, NULL};
    m = mcp_start("reads2", extra);
    json_t *init = mcp_initialize(m, "2025-11-25");
    char real_outside[4096];
    assert_non_null(realpath(outside, real_outside));
    const char *ins = str(init, "instructions");
    if (!strstr(ins, real_outside) || !strstr(ins, "mcpt-reads2-out"))
        fail_msg("the instructions should name the read root %s and the output directory: %s", real_outside, ins);
    json_decref(init);
    snprintf(p, sizeof p, "%s/scen.yaml", outside);
    json_decref(mcp_call(m, "create_world", json_pack("{s:s}", "path", p)));
    snprintf(p, sizeof p, "%s/ok.yaml", test_tmp_path("mcpt-reads-cwd"));
    refused_naming(m, "create_world", json_pack("{s:s}", "path", p), root_needles);
    mcp_stop(m);

    const char *missing[] = {"--allow-read", "/nonexistent/mcpt-root", NULL};
    m = mcp_start("reads3", missing);
    close(m->in);
    m->in = -1;
    if (mcp_read_line(m, LINE_TIMEOUT_MS) != NULL)
        MCP_FAIL(m, "a server whose read root does not exist should not start");
    int status = 0;
    assert_int_equal(waitpid(m->pid, &status, 0), m->pid);
    m->pid = -1;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 2 || !strstr(err_tail(m), "/nonexistent/mcpt-root"))
        MCP_FAIL(m, "a missing --allow-read root: exit status 2 naming it (got status %d)", status);
    mcp_free(m);
}

/* A file that is not a (valid) scenario, named by `path` or as an edge list, is refused saying what is wrong with it
 * (not YAML, not a mapping, which key, where) but never with its text: a prompt-injected client must not read a
 * file through error messages. Every file here carries the word SECRET where its content would show. */
static void errors_about_files_never_show_their_content(void **state)
{
    (void)state;
    mcp *m = mcp_open("noecho", NULL);
    struct {
        const char *file, *text, *needle; /* needle: what the message must still say */
    } cases[] = {
        {"passwd", "root:x:0:0:SECRET root:/root:/bin/bash\ndaemon:x:1:1:SECRET:/usr/sbin:/usr/sbin/nologin\n",
         "not a scenario"},
        {"scalar.yaml", "SECRET words on the first line\n", "not a scenario"},
        {"list.yaml", "- SECRET1\n- SECRET2\n", "not a scenario"},
        {"number.yaml", "12345\n", "not a scenario"},
        {"config.yaml", "api_token: SECRETVALUE\nuser: SECRETUSER\n", "not a scenario"},
        {"bad.json", "{\"x\": SECRETJSON}\n", "bad.json:1:"},
        {"bad.yaml", "model: sir\nspace: [SECRET, \n", "not valid YAML"},
        {"binary.dat",
         "\x7f"
         "ELF\x02\x01SECRET\x01\x00",
         "not"},
        {"dup.yaml", "model: sir\nSECRETKEY: 1\nSECRETKEY: 2\n", "dup.yaml:3:"},
        {"value.yaml", "model: sir\nspace: {kind: grid, width: 10, height: 10}\nparams: {beta: SECRETBETA}\n",
         "params.beta"},
        {"model.yaml", "model: SECRETMODEL\nspace: {kind: grid, width: 10, height: 10}\n", "model"},
        {"cond.yaml",
         "model: sir\nspace: {kind: grid, width: 10, height: 10}\npersonas:\n  - {id: h, role: r, persona: p,\n"
         "     offline_policy: [{when: \"SECRET >> 1\", do: {action: vaccinate, fraction: 0.1}}]}\n",
         "offline_policy"},
    };
    char p[4200];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", m->cwd, cases[i].file);
        FILE *f = fopen(p, "wb");
        assert_non_null(f);
        fwrite(cases[i].text, 1, strlen(cases[i].text) + (strcmp(cases[i].file, "binary.dat") == 0 ? 2 : 0), f);
        fclose(f);
        const char *tools[] = {"create_world", "simulate_mechanics"};
        for (int k = 0; k < 2; k++) {
            char *t = mcp_refusal(m, tools[k], json_pack("{s:s}", "path", cases[i].file));
            if (strstr(t, "SECRET") || strstr(t, "root:") || strstr(t, "12345"))
                fail_msg("%s {path: %s}: the message shows the file's text: %s", tools[k], cases[i].file, t);
            if (!strstr(t, cases[i].file) || !strcasestr(t, cases[i].needle))
                fail_msg("%s {path: %s}: the message should name the file and say \"%s\": %s", tools[k], cases[i].file,
                         cases[i].needle, t);
            free(t);
        }
    }
    /* an edge-list file that is not one */
    snprintf(p, sizeof p, "%s/notedges.txt", m->cwd);
    write_text(p, "SECRET line one\n");
    const char *graph = "model: sir\nspace: {kind: graph, generator: file, path: notedges.txt}\nsteps: 2\n";
    const char *tools[] = {"create_world", "simulate_mechanics"};
    for (int k = 0; k < 2; k++) {
        char *t = mcp_refusal(m, tools[k], json_pack("{s:s}", "scenario", graph));
        if (strstr(t, "SECRET") || !strstr(t, "notedges.txt"))
            fail_msg("%s: an edge-list error should name the file without its text: %s", tools[k], t);
        free(t);
    }
    /* the client's own text is its own: an error in inline scenario text still quotes the value */
    mcp_call_error(m, "create_world",
                   json_pack("{s:s}", "scenario",
                             "model: sir\nspace: {kind: grid, width: 10, height: 10}\nparams: {beta: high}\n"),
                   "high");
    mcp_stop(m);
}

/* restore_world and delete_world take a snapshot's label as well as its id; labels are unique per world and never
 * look like an id, so a name means one snapshot. */
static void snapshots_are_found_by_label_as_by_id(void **state)
{
    (void)state;
    mcp *m = mcp_open("labels", NULL);
    json_decref(mcp_call(m, "create_world", J("{" SIR_50 "}")));
    json_t *s = mcp_call(m, "snapshot_world", J("{'world': 'w1', 'label': 'start'}"));
    assert_string_equal(str(s, "snapshot"), "s1");
    json_decref(s);
    json_t *at0 = metrics_now(m, "w1");
    json_decref(mcp_call(m, "advance_world", J("{'world': 'w1', 'steps': 5}")));
    s = mcp_call(m, "snapshot_world", J("{'world': 'w1', 'label': 'day five'}"));
    assert_string_equal(str(s, "snapshot"), "s2");
    json_decref(s);
    json_t *at5 = metrics_now(m, "w1");
    json_decref(mcp_call(m, "advance_world", J("{'world': 'w1', 'steps': 5}")));

    json_t *r = mcp_call(m, "restore_world", J("{'world': 'w1', 'snapshot': 'start'}"));
    assert_int_equal(num(r, "t"), 0);
    assert_string_equal(str(r, "snapshot"), "s1");
    assert_string_equal(str(r, "label"), "start");
    assert_same_values(obj(r, "metrics"), at0);
    json_decref(r);
    r = mcp_call(m, "restore_world", J("{'world': 'w1', 'snapshot': 'day five'}"));
    assert_int_equal(num(r, "t"), 5);
    assert_string_equal(str(r, "snapshot"), "s2");
    assert_same_values(obj(r, "metrics"), at5);
    json_decref(r);
    r = mcp_call(m, "restore_world", J("{'world': 'w1', 'snapshot': 's1'}")); /* the id still works */
    assert_int_equal(num(r, "t"), 0);
    json_decref(r);

    /* a label taken already, or one that reads as an id: refused, naming the label */
    const char *dup[] = {"start", NULL}, *idlike[] = {"s7", NULL};
    refused_naming(m, "snapshot_world", J("{'world': 'w1', 'label': 'start'}"), dup);
    refused_naming(m, "snapshot_world", J("{'world': 'w1', 'label': 's7'}"), idlike);
    /* an unknown name lists the snapshots with their labels */
    const char *unknown[] = {"nosuch", "day five", NULL};
    refused_naming(m, "restore_world", J("{'world': 'w1', 'snapshot': 'nosuch'}"), unknown);
    /* delete by label, then the label is free again */
    json_t *d = mcp_call(m, "delete_world", J("{'world': 'w1', 'snapshot': 'start'}"));
    assert_string_equal(str(d, "deleted"), "s1");
    json_decref(d);
    mcp_call_error(m, "restore_world", J("{'world': 'w1', 'snapshot': 'start'}"), "start");
    s = mcp_call(m, "snapshot_world", J("{'world': 'w1', 'label': 'start'}"));
    assert_string_equal(str(s, "snapshot"), "s3");
    json_decref(s);
    /* the same label in another world is another snapshot */
    json_decref(mcp_call(m, "copy_world", J("{'world': 'w1', 'name': 'other'}")));
    json_decref(mcp_call(m, "snapshot_world", J("{'world': 'other', 'label': 'start'}")));
    json_decref(at0);
    json_decref(at5);
    mcp_stop(m);
}

/* LLM calls go only where the server allows: a client may not point llm.base_url at a host of its choosing, nor
 * name which environment variable is sent as the API key (a prompt-injected client would send the server's keys,
 * or any secret of its environment, to itself). Loopback hosts, the providers' defaults and --allow-llm origins
 * pass; so does --llm-key-env. The refusal comes before any call. */
static void llm_endpoints_and_keys_are_the_servers_choice(void **state)
{
    (void)state;
    const char *extra[] = {"--allow-read", test_src_path("scenarios"), "--allow-llm", "https://llm.example.org:8443",
                           "--llm-key-env", "MY_KEY", NULL};
    mcp *m = mcp_open("llmplaces", extra);
    const char *actors = "'actors': [{'role': 'mayor'}], 'rounds': 1, 'world': 'A town.'";
    /* another host: refused, naming the key and the way to allow it */
    mcp_call_error(m, "simulate_interactions",
                   J("{%s, 'llm': {'provider': 'openai', 'model': 'm', 'base_url': 'https://evil.example.com/v1'}}",
                     actors),
                   "--allow-llm");
    /* a user:password@ prefix does not smuggle another host past the check */
    mcp_call_error(m, "simulate_interactions",
                   J("{%s, 'llm': {'provider': 'openai', 'model': 'm', 'base_url': 'https://llm.example.org:8443@evil.example.com'}}",
                     actors),
                   "base_url");
    /* the same origin on another port, or over http, is another origin */
    mcp_call_error(m, "simulate_interactions",
                   J("{%s, 'llm': {'provider': 'openai', 'model': 'm', 'base_url': 'https://llm.example.org'}}", actors),
                   "--allow-llm");
    /* in a persona scenario's llm block through set, and in an actor's own llm block */
    char spath[4096];
    snprintf(spath, sizeof spath, "%s", test_src_path("scenarios/sir_lockdown.yaml"));
    mcp_call_error(m, "simulate_mixed",
                   json_pack("{s:s, s:[s, s, s], s:i}", "path", spath, "set", "space.width=30", "space.height=30",
                             "llm={provider: ollama, model: m, base_url: \"http://10.1.2.3:8000\"}", "steps", 3),
                   "llm.base_url");
    mcp_call_error(m, "simulate_interactions",
                   json_pack("{s:s}", "scenario",
                             "mode: interactions\nrounds: 1\n"
                             "llm: {provider: openai, model: m, base_url: \"http://127.0.0.1:9\"}\n"
                             "world: {description: A town.}\n"
                             "actors: [{id: mayor, role: mayor, llm: {base_url: \"http://203.0.113.9\"}}]\n"),
                   "actors[0].llm.base_url");
    /* the key variable: only the server's */
    mcp_call_error(m, "simulate_mixed",
                   json_pack("{s:s, s:[s, s, s], s:i}", "path", spath, "set", "space.width=30", "space.height=30",
                             "llm={provider: openai, model: m, api_key_env: AWS_SECRET_ACCESS_KEY}", "steps", 3),
                   "api_key_env");
    /* allowed: an --allow-llm origin with a path, loopback, and --llm-key-env; the run goes on (no server there:
     * degraded, but not refused) */
    json_t *r = mcp_call(m, "simulate_mixed",
                         json_pack("{s:s, s:[s, s, s, s], s:i, s:s}", "path", spath, "set", "space.width=30",
                                   "space.height=30", "llm={provider: ollama, model: m, base_url: \"http://127.0.0.1:9\"}",
                                   "llm.api_key_env=MY_KEY", "steps", 3, "output", "loop.h5"));
    assert_string_equal(str(r, "status"), "degraded");
    json_decref(r);
    json_t *worlds = mcp_call(m, "list_worlds", J("{}"));
    json_t *lim = obj(worlds, "limits");
    assert_string_equal(json_string_value(json_array_get(json_object_get(lim, "allow_llm"), 0)),
                        "https://llm.example.org:8443");
    json_decref(worlds);
    mcp_stop(m);
}

/* SIGTERM while a simulation runs: the run stops at its next step, its file is closed "interrupted" (not left
 * open), the client gets the result, and the server ends with 128 + SIGTERM. */
static void sigterm_closes_a_running_simulation(void **state)
{
    (void)state;
    const char *extra[] = {"--allow-read", test_src_path("scenarios"), NULL};
    mcp *m = mcp_open("sigterm", extra);
    char spath[4096];
    snprintf(spath, sizeof spath, "%s", test_src_path("scenarios/sir_grid.yaml"));
    mcp_send(m, json_pack("{s:s, s:I, s:s, s:{s:s, s:{s:s, s:[s], s:i, s:s}}}", "jsonrpc", "2.0", "id",
                          (json_int_t)900, "method", "tools/call", "params", "name", "simulate_mechanics", "arguments",
                          "path", spath, "set", "output.flush_every=1", "steps", 100000, "output", "long.h5"));
    char file[4200];
    snprintf(file, sizeof file, "%s/long.h5", m->out_dir);
    for (int i = 0; i < 300 && access(file, F_OK) != 0; i++) {
        struct timespec ts = {0, 20000000L};
        nanosleep(&ts, NULL);
    }
    struct timespec ts = {0, 300000000L};
    nanosleep(&ts, NULL);
    assert_int_equal(kill(m->pid, SIGTERM), 0);
    char *line = mcp_read_line(m, 30000);
    if (!line)
        MCP_FAIL(m, "no result after SIGTERM");
    json_t *msg = mcp_check_line(m, line);
    free(line);
    json_t *res = json_object_get(json_object_get(msg, "result"), "structuredContent");
    assert_string_equal(str(res, "status"), "interrupted");
    json_decref(msg);
    int status = 0;
    assert_int_equal(waitpid(m->pid, &status, 0), m->pid);
    m->pid = -1;
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 128 + SIGTERM);
    json_t *info = NULL;
    agora_error err;
    assert_int_equal(agora_h5_inspect(file, &info, &err), 0);
    assert_string_equal(json_string_value(json_object_get(info, "status")), "interrupted");
    json_decref(info);
    mcp_free(m);
}

/* ---- models a client defines ------------------------------------------------------------------------------------- */

/* A model file of the source tree as the JSON object a client would send (new reference). */
static json_t *model_file_json(const char *rel)
{
    char *text = read_text(test_src_path(rel));
    json_t *root = NULL;
    agora_error e;
    if (agora__yaml_parse(text, strlen(text), rel, &root, NULL, &e) != 0 || !json_is_object(root))
        fail_msg("%s does not parse: %s", rel, e.msg);
    free(text);
    return root;
}

/* The model named `name` in a list_models result, or NULL. */
static json_t *listed_model(const json_t *r, const char *name)
{
    size_t i;
    json_t *mo;
    json_array_foreach(arr(r, "models"), i, mo)
        if (!strcmp(str(mo, "name"), name))
            return mo;
    return NULL;
}

#define GRID_30 "'space': {'kind': 'grid', 'width': 30, 'height': 30}, 'seed': 3"

/* create_world with a definition object (the shipped frustration model under a name of its own): it advances, its
 * metrics and actions work, it snapshots and restores, list_models shows it as this session's and later calls use
 * it by its name; the same definition again costs nothing; a definition may not take the name of a built-in or of a
 * model file of the server's model directories (with other content), which keep their meaning. */
static void a_world_runs_a_model_the_client_defines(void **state)
{
    (void)state;
    setenv("AGORA_MODEL_PATH", test_src_path("models"), 1); /* the server's model directory: frustration, ... */
    mcp *m = mcp_open("define", NULL);
    unsetenv("AGORA_MODEL_PATH");
    json_t *def = model_file_json("models/frustration.yaml");
    json_object_set_new(def, "name", json_string("my_frustration"));
    json_t *c = mcp_call(m, "create_world",
                         json_pack("{s:O, s:s, s:{s:s, s:i, s:i}, s:i}", "model", def, "name", "f", "space", "kind",
                                   "grid", "width", 30, "height", 30, "seed", 3));
    assert_string_equal(str(c, "model"), "my_frustration");
    assert_int_equal(num(c, "n_agents"), 900);
    assert_true(num(obj(c, "metrics"), "failed_frac") == 0); /* every interface works at step 0 */
    assert_int_equal(num(obj(c, "limits"), "models_defined"), 1);
    json_decref(c);

    /* fail_rate 0.1 and fix_rate 0.05: after 10 steps about half the interfaces are down (0.1 * sum of 0.85^k), a
     * share whose sampling error over 900 agents is under 0.02, so above 0.2 by far */
    json_t *a = mcp_call(m, "advance_world", J("{'world': 'f', 'steps': 10}"));
    const double failed = num(obj(a, "final"), "failed_frac");
    assert_true(failed > 0.2 && failed < 0.9);
    assert_true(num(obj(a, "final"), "frustrated_frac") >= failed); /* a failed interface frustrates */
    json_decref(a);
    json_decref(mcp_call(m, "snapshot_world", J("{'world': 'f', 'label': 'before-repair'}")));
    /* the model's own action: repair every failed interface */
    json_t *ap = mcp_call(m, "apply_action", J("{'world': 'f', 'action': {'action': 'repair', 'share': 1}}"));
    assert_true(num(obj(ap, "metrics"), "failed_frac") == 0);
    json_decref(ap);
    json_t *g = mcp_call(m, "get_metrics", J("{'world': 'f', 'names': ['failed_frac'], 'last': 1}"));
    assert_true(at(arr(obj(g, "metrics"), "failed_frac"), 0) == 0);
    json_decref(g);
    mcp_call_error(m, "apply_action", J("{'world': 'f', 'action': {'action': 'vaccinate', 'fraction': 0.1}}"),
                   "repair"); /* sir's action is not this model's: the refusal names the model's actions */
    json_t *rs = mcp_call(m, "restore_world", J("{'world': 'f', 'snapshot': 'before-repair'}"));
    assert_true(num(obj(rs, "metrics"), "failed_frac") == failed);
    assert_int_equal(num(rs, "t"), 10);
    json_decref(rs);

    /* list_models: the built-ins, the server's model files and this session's definition, each with its origin */
    json_t *l = mcp_call(m, "list_models", J("{}"));
    assert_string_equal(str(listed_model(l, "sir"), "origin"), "builtin");
    assert_non_null(listed_model(l, "frustration"));
    assert_string_equal(str(listed_model(l, "frustration"), "origin"), "rules");
    json_t *mine = listed_model(l, "my_frustration");
    assert_non_null(mine);
    assert_string_equal(str(mine, "origin"), "session");
    assert_int_equal(strlen(str(mine, "hash")), 64);
    assert_string_equal(str(json_array_get(arr(mine, "fields"), 0), "name"), "failed");
    json_decref(l);

    /* by its name from now on, and the same definition again is the same model (nothing more defined) */
    c = mcp_call(m, "create_world", J("{'model': 'my_frustration', " GRID_30 "}"));
    assert_string_equal(str(c, "model"), "my_frustration");
    json_decref(c);
    c = mcp_call(m, "create_world",
                 J("{'scenario': 'model: sir\\nspace: {kind: grid, width: 5, height: 5}\\n', 'model': "
                   "'my_frustration'}")); /* in place of the scenario's model */
    assert_string_equal(str(c, "model"), "my_frustration");
    json_decref(c);
    c = mcp_call(m, "create_world",
                 json_pack("{s:{s:O}, s:{s:s, s:i, s:i}}", "model", "define", def, "space", "kind", "grid", "width", 10,
                           "height", 10));
    assert_string_equal(str(c, "model"), "my_frustration");
    assert_int_equal(num(obj(c, "limits"), "models_defined"), 1);
    json_decref(c);
    /* the shipped file's very definition is that model (no session definition); other content under its name or
     * a built-in's is refused, naming who holds the name */
    json_t *shipped = model_file_json("models/frustration.yaml");
    c = mcp_call(
        m, "create_world",
        json_pack("{s:O, s:{s:s, s:i, s:i}}", "model", shipped, "space", "kind", "grid", "width", 10, "height", 10));
    assert_string_equal(str(c, "model"), "frustration");
    assert_int_equal(num(obj(c, "limits"), "models_defined"), 1);
    json_decref(c);
    json_object_set_new(shipped, "summary", json_string("a frustration of my own"));
    const char *taken[] = {"frustration", "taken", "frustration.yaml", NULL};
    refused_naming(
        m, "create_world",
        json_pack("{s:O, s:{s:s, s:i, s:i}}", "model", shipped, "space", "kind", "grid", "width", 10, "height", 10),
        taken);
    json_object_set_new(shipped, "name", json_string("sir"));
    const char *builtin[] = {"sir", "built-in", NULL};
    refused_naming(
        m, "create_world",
        json_pack("{s:O, s:{s:s, s:i, s:i}}", "model", shipped, "space", "kind", "grid", "width", 10, "height", 10),
        builtin);
    json_decref(shipped);
    c = mcp_call(m, "create_world", J("{" SIR_50 "}")); /* and sir is still the built-in */
    assert_int_equal(num(obj(c, "metrics"), "I"), 20);
    assert_non_null(json_object_get(obj(c, "metrics"), "attack_rate"));
    json_decref(c);
    /* a redefinition of this session's name with other content is refused: the name keeps its model */
    json_object_set_new(def, "summary", json_string("changed"));
    const char *again[] = {"my_frustration", "another", NULL};
    refused_naming(
        m, "create_world",
        json_pack("{s:O, s:{s:s, s:i, s:i}}", "model", def, "space", "kind", "grid", "width", 10, "height", 10), again);
    /* every error of a wrong definition, in one message */
    const char *two[] = {"2 errors", "rules.s", "metrics.m", "did you mean", NULL};
    refused_naming(m, "create_world",
                   J("{'model': {'name': 'wrong', 'vars': {'s': 'bool'}, 'rules': {'s': 'q'}, 'metrics': {'m': "
                     "'pop_mean(zz)'}}, " GRID_30 "}"),
                   two);
    json_decref(def);

    /* simulate_mechanics: a scenario text defining its model inline, and the model argument replacing sir */
    json_t *r = mcp_call(m, "simulate_mechanics",
                         J("{'scenario': 'model: {define: {name: flip, vars: {on: bool}, rules: {on: not on}, "
                           "metrics: {on_frac: pop_mean(on)}}}\\nspace: {kind: grid, width: 5, height: 5}\\nsteps: "
                           "3\\n'}"));
    assert_string_equal(str(r, "model"), "flip");
    assert_true(num(obj(r, "final"), "on_frac") == 1); /* 0, 1, 0, 1 */
    json_decref(r);
    r = mcp_call(m, "simulate_mechanics",
                 J("{'scenario': 'model: sir\\nspace: {kind: grid, width: 5, height: 5}\\nsteps: 2\\n', 'model': "
                   "{'name': 'flip2', 'vars': {'on': 'bool'}, 'rules': {'on': 'not on'}, 'metrics': {'on_frac': "
                   "'pop_mean(on)'}}}"));
    assert_string_equal(str(r, "model"), "flip2");
    assert_true(num(obj(r, "final"), "on_frac") == 0);
    json_decref(r);
    l = mcp_call(m, "list_models", J("{'model': 'flip'}"));
    assert_string_equal(str(json_array_get(arr(l, "models"), 0), "origin"), "session");
    json_decref(l);
    mcp_stop(m);
}

/* validate_model: every error of one pass with its key path (and line and column for text) and the suggestion; a
 * good definition described as list_models would; nothing is defined by validating. */
static void validate_model_reports_every_error_with_its_path(void **state)
{
    (void)state;
    mcp *m = mcp_open("validate", NULL);
    char *text = read_text(test_src_path("models/sir_rules.yaml"));
    json_t *v = mcp_call(m, "validate_model", json_pack("{s:s}", "text", text));
    free(text);
    assert_true(json_is_true(get(v, "ok")));
    assert_string_equal(str(obj(v, "model"), "name"), "sir_rules");
    assert_int_equal(strlen(str(v, "hash")), 64);
    assert_true(json_array_size(arr(obj(v, "model"), "metrics")) > 0);
    json_decref(v);

    /* a typo: the path of the rule, the suggestion; an object has no lines */
    v = mcp_call(m, "validate_model",
                 J("{'definition': {'name': 'typo', 'vars': {'frustration': 'bool'}, 'rules': {'frustration': "
                   "'frustation'}, 'metrics': {'m': 'pop_mean(frustration)'}}}"));
    assert_true(json_is_false(get(v, "ok")));
    assert_int_equal(json_array_size(arr(v, "errors")), 1);
    json_t *e0 = json_array_get(arr(v, "errors"), 0);
    assert_string_equal(str(e0, "path"), "rules.frustration");
    assert_non_null(strstr(str(e0, "message"), "frustation: unknown variable; did you mean \"frustration\"?"));
    assert_null(json_object_get(e0, "line"));
    json_decref(v);

    /* several errors at once, in text: each with its line and column */
    v = mcp_call(m, "validate_model",
                 J("{'text': 'name: multi\\nparams:\\n  p: {type: real, default: 0.5}\\nvars:\\n  level: "
                   "real\\nrules:\\n  level: levle + p\\nmetrics:\\n  k: pop_mean(xx)\\nactons: {}\\n'}"));
    assert_true(json_is_false(get(v, "ok")));
    json_t *errs = arr(v, "errors");
    assert_int_equal(json_array_size(errs), 3);
    const char *paths[] = {"actons", "rules.level", "metrics.k"};
    const int lines[] = {10, 7, 9};
    for (int k = 0; k < 3; k++) {
        int found = 0;
        size_t i;
        json_t *e;
        json_array_foreach(errs, i, e) {
            if (!strcmp(str(e, "path"), paths[k])) {
                found = 1;
                assert_int_equal(num(e, "line"), lines[k]);
                assert_true(num(e, "col") >= 1);
            }
        }
        if (!found)
            fail_msg("no error at %s: %s", paths[k], dump(errs));
    }
    json_decref(v);
    /* {define: ...} as in a scenario; a YAML syntax error is an error like the others */
    v = mcp_call(m, "validate_model",
                 J("{'definition': {'define': {'name': 'w', 'vars': {'a': 'bool'}, 'rules': {'a': 'b'}, 'metrics': "
                   "{'m': 'pop_mean(a)'}}}}"));
    assert_string_equal(str(json_array_get(arr(v, "errors"), 0), "path"), "define.rules.a");
    json_decref(v);
    v = mcp_call(m, "validate_model", J("{'text': 'name: [unclosed\\n'}"));
    assert_true(json_is_false(get(v, "ok")));
    assert_non_null(strstr(str(json_array_get(arr(v, "errors"), 0), "message"), "syntax"));
    json_decref(v);
    /* a built-in's name is an error of the definition */
    v = mcp_call(m, "validate_model",
                 J("{'definition': {'name': 'sir', 'vars': {'a': 'bool'}, 'rules': {'a': 'a'}, 'metrics': {'m': "
                   "'pop_mean(a)'}}}"));
    assert_string_equal(str(json_array_get(arr(v, "errors"), 0), "path"), "name");
    json_decref(v);

    /* validating defines nothing */
    v = mcp_call(m, "validate_model",
                 J("{'definition': {'name': 'v_only', 'vars': {'a': 'bool'}, 'rules': {'a': 'a'}, 'metrics': {'m': "
                   "'pop_mean(a)'}}}"));
    assert_true(json_is_true(get(v, "ok")));
    json_decref(v);
    mcp_call_error(m, "create_world", J("{'model': 'v_only', " GRID_30 "}"), "unknown model");
    json_t *l = mcp_call(m, "list_models", J("{}"));
    assert_null(listed_model(l, "v_only"));
    assert_int_equal(num(obj(l, "limits"), "models_defined"), 0);
    json_decref(l);
    /* one of definition and text */
    mcp_call_invalid(m, "validate_model", J("{}"), "definition");
    mcp_call_invalid(m, "validate_model", J("{'definition': {'name': 'a'}, 'text': 'name: a'}"), "not both");
    mcp_stop(m);
}

/* A model named by path is read only inside the read roots, whatever names it (create_world's model, a scenario's
 * model key, a `set` override), and an error about a file that is not a model definition shows none of it. */
static void model_files_are_read_only_inside_the_roots(void **state)
{
    (void)state;
    mcp *m = mcp_open("modelpath", NULL);
    const char *secret = test_tmp_path("mcpt-secret-model.yaml"); /* beside the server's directory, outside */
    write_text(secret, "name: s3cret_token\nvars: {a: bool}\nrules: {a: a}\nmetrics: {m: pop_mean(a)}\n");
    char args[8192], link[4096], inside[4096];
    const char *outside[] = {"outside the directories", NULL};
    snprintf(args, sizeof args, "{'model': '%s', " GRID_30 "}", secret);
    refused_naming(m, "create_world", J(args), outside);
    refused_naming(m, "create_world", J("{'model': '../mcpt-secret-model.yaml', " GRID_30 "}"), outside);
    refused_naming(m, "create_world", J("{'model': '/dev/stdin', " GRID_30 "}"), outside);
    refused_naming(m, "simulate_mechanics",
                   J("{'scenario': 'model: ../mcpt-secret-model.yaml\\nspace: {kind: grid, width: 5, height: "
                     "5}\\nsteps: 1\\n'}"),
                   outside);
    snprintf(args, sizeof args,
             "{'scenario': 'model: sir\\nspace: {kind: grid, width: 5, height: 5}\\nsteps: 1\\n', 'set': "
             "['model=%s']}",
             secret);
    refused_naming(m, "simulate_mechanics", J(args), outside);
    refused_naming(m, "simulate_mechanics",
                   J("{'scenario': 'model: sir\\nspace: {kind: grid, width: 5, height: 5}\\nsteps: 1\\n', 'model': "
                     "'../mcpt-secret-model.yaml'}"),
                   outside);
    /* a link inside the root leading out */
    snprintf(link, sizeof link, "%s/link.yaml", m->cwd);
    assert_int_equal(symlink(secret, link), 0);
    const char *through[] = {"symbolic link", NULL};
    refused_naming(m, "create_world", J("{'model': 'link.yaml', " GRID_30 "}"), through);
    char *text = mcp_refusal(m, "create_world", J("{'model': 'link.yaml', " GRID_30 "}"));
    if (strstr(text, "s3cret"))
        MCP_FAIL(m, "the refusal shows the file's content: %s", text);
    free(text);
    /* inside the root: a file that is no model definition says so without its keys or values */
    snprintf(inside, sizeof inside, "%s/notes.yaml", m->cwd);
    write_text(inside, "password: hunter2\nname: \"s3cret-value\"\n");
    text = mcp_refusal(m, "create_world", J("{'model': 'notes.yaml', " GRID_30 "}"));
    if (!strstr(text, "not a model definition") || strstr(text, "hunter2") || strstr(text, "password") ||
        strstr(text, "s3cret"))
        MCP_FAIL(m, "a non-model file's refusal should say so and show none of it: %s", text);
    free(text);
    /* a model file inside the root works, by path, and its errors are shown (it is a definition) */
    snprintf(inside, sizeof inside, "%s/mine.yaml", m->cwd);
    write_text(inside, "vars: {a: bool}\nrules: {a: not a}\nmetrics: {m: pop_mean(a)}\n");
    json_t *c = mcp_call(m, "create_world", J("{'model': 'mine.yaml', " GRID_30 "}"));
    assert_string_equal(str(c, "model"), "mine"); /* the file's stem */
    json_decref(c);
    write_text(inside, "name: mine2\nvars: {a: bool}\nrules: {a: not b}\nmetrics: {m: pop_mean(a)}\n");
    const char *shown[] = {"did you mean \"a\"", NULL};
    refused_naming(m, "create_world", J("{'model': 'mine.yaml', " GRID_30 "}"), shown);
    /* a name is looked up in the server's model directories, not in a models/ beside the client's scenario file
     * (cwd/../models lies outside the root) */
    char dir[4096], hidden[4200], scen[4200];
    snprintf(dir, sizeof dir, "%s", test_tmp_path("models"));
    mkdir(dir, 0755);
    snprintf(hidden, sizeof hidden, "%s/mcpt_hidden_model.yaml", dir);
    write_text(hidden, "password: hunter2\n");
    snprintf(scen, sizeof scen, "%s/s.yaml", m->cwd);
    write_text(scen, "model: mcpt_hidden_model\nspace: {kind: grid, width: 5, height: 5}\nsteps: 1\n");
    text = mcp_refusal(m, "create_world", J("{'path': 's.yaml'}"));
    if (!strstr(text, "unknown model") || strstr(text, "hunter2") || strstr(text, "password"))
        MCP_FAIL(m, "a model file beside the scenario, outside the root, should not be read: %s", text);
    free(text);
    remove(hidden);
    remove(secret);
    mcp_stop(m);
}

/* --max-models bounds the distinct definitions of a session (the process keeps every definition for good): the
 * limit is reported, the one past it refused, a definition made before costs nothing again, validating is free. */
static void a_session_defines_at_most_max_models(void **state)
{
    (void)state;
    const char *extra[] = {"--max-models", "3", NULL};
    mcp *m = mcp_open("maxmodels", extra);
    char args[1024];
    for (int k = 1; k <= 4; k++) {
        snprintf(args, sizeof args,
                 "{'model': {'name': 'count%d', 'vars': {'a': 'bool'}, 'rules': {'a': 'a'}, 'metrics': {'m': "
                 "'pop_mean(a)'}}, 'space': {'kind': 'mixed', 'n': 10}}",
                 k);
        if (k <= 3) {
            json_t *c = mcp_call(m, "create_world", J(args));
            assert_int_equal(num(obj(c, "limits"), "models_defined"), k);
            assert_int_equal(num(obj(c, "limits"), "max_models"), 3);
            json_decref(c);
        } else {
            const char *needles[] = {"--max-models", "3 models", NULL};
            refused_naming(m, "create_world", J(args), needles);
        }
    }
    json_decref(mcp_call(m, "create_world",
                         J("{'model': {'name': 'count1', 'vars': {'a': 'bool'}, 'rules': {'a': 'a'}, 'metrics': {'m': "
                           "'pop_mean(a)'}}, 'space': {'kind': 'mixed', 'n': 10}}")));
    json_t *v = mcp_call(m, "validate_model",
                         J("{'definition': {'name': 'count5', 'vars': {'a': 'bool'}, 'rules': {'a': 'a'}, 'metrics': "
                           "{'m': 'pop_mean(a)'}}}"));
    assert_true(json_is_true(get(v, "ok")));
    json_decref(v);
    json_t *l = mcp_call(m, "list_worlds", J("{}"));
    assert_int_equal(num(obj(l, "limits"), "models_defined"), 3);
    assert_int_equal(json_array_size(arr(l, "worlds")), 4);
    json_decref(l);
    mcp_stop(m);
}

int main(void)
{
    /* A server that dies must fail the test through a write error, not kill it with SIGPIPE. */
    signal(SIGPIPE, SIG_IGN);
#define T(f) cmocka_unit_test_teardown(f, teardown)
    const struct CMUnitTest tests[] = {
        T(initialize_echoes_known_versions_and_answers_others_with_the_latest),
        T(notifications_are_never_answered),
        T(tools_list_names_every_tool_with_an_object_schema),
        T(protocol_errors_have_their_codes_and_the_server_goes_on),
        T(every_request_is_answered_even_when_its_text_is_not_utf8),
        T(arguments_failing_the_schema_are_invalid_params),
        T(failures_inside_tools_are_results_with_is_error),
        T(list_models_describes_params_metrics_fields_and_actions),
        T(a_world_advances_snapshots_restores_copies_and_is_deleted),
        T(agent_state_is_read_and_written_by_ids_range_and_region),
        T(worlds_come_from_scenarios_and_apply_their_interventions),
        T(limits_refuse_clearly_what_exceeds_them),
        T(the_wall_time_limit_stops_a_long_call_and_keeps_its_steps),
        T(progress_is_notified_with_the_token_and_only_when_asked),
        T(simulate_mechanics_writes_the_file_its_result_describes),
        T(simulate_mixed_offline_records_the_personas_decisions),
        T(simulate_interactions_runs_actors_against_an_llm),
        T(outputs_stay_inside_the_output_dir),
        T(reads_stay_inside_the_allowed_roots),
        T(errors_about_files_never_show_their_content),
        T(llm_endpoints_and_keys_are_the_servers_choice),
        T(sigterm_closes_a_running_simulation),
        T(snapshots_are_found_by_label_as_by_id),
        T(a_world_runs_a_model_the_client_defines),
        T(validate_model_reports_every_error_with_its_path),
        T(model_files_are_read_only_inside_the_roots),
        T(a_session_defines_at_most_max_models),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
