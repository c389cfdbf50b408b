/* agora — libFuzzer harness for the MCP request handler (agora_mcp_handle in src/mcp/server.c and the tools of
 * src/mcp/worlds.c and src/mcp/simulate.c): each line of the input is one JSON-RPC message to a server with tight
 * limits (2,500 agents, 50 steps a call, 3 worlds, 3 snapshots, 2 s a call, one thread). The server is created
 * once; after every input its worlds are freed and the scratch directory (its working directory, which holds the
 * output directory) is emptied, so that nothing grows from one input to the next.
 *
 * What the harness leaves out, so that fuzzing stays inside the scratch directory, off the network and fast:
 * messages whose params hold a string (after JSON decoding, at any depth, keys included) with '/' or '\' (paths
 * anywhere else, also through YAML escapes in inline scenario text), "ollama" or "openai" (live LLM providers), or
 * "threads" (a thread count never changes results, and a world of 1,024 threads only slows fuzzing). Relative names
 * resolve in the scratch directory. At most 16 messages an input.
 *
 * Invariants: everything the server writes is one JSON-RPC 2.0 object; a request (an object with an id and a method)
 * gets exactly one reply, anything else at most one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agora/agora.h"
#include "fuzz_util.h"
#include "mcp/mcpint.h"

#define MAX_LINES 16

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static agora_mcp *srv;
static int replies; /* replies (results and errors) written for the current line */

static void on_write(void *ud, const char *line, size_t len)
{
    (void)ud;
    json_error_t je;
    if (memchr(line, '\n', len))
        fuzz_fail("a protocol message with a newline: %.*s", (int)len, line);
    if (fuzz_verbose())
        fprintf(stderr, "<- %.*s\n", (int)(len > 600 ? 600 : len), line);
    json_t *msg = json_loadb(line, len, 0, &je);
    if (!json_is_object(msg))
        fuzz_fail("the server wrote something that is not a JSON object: %.*s", (int)len, line);
    const char *v = json_string_value(json_object_get(msg, "jsonrpc"));
    if (!v || strcmp(v, "2.0") != 0)
        fuzz_fail("a message without \"jsonrpc\": \"2.0\": %.*s", (int)len, line);
    if (json_object_get(msg, "result") || json_object_get(msg, "error")) {
        if (!json_object_get(msg, "id"))
            fuzz_fail("a reply without an id: %.*s", (int)len, line);
        replies++;
    } else if (!json_is_string(json_object_get(msg, "method"))) {
        fuzz_fail("a message that is neither a reply nor a notification: %.*s", (int)len, line);
    }
    json_decref(msg);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    setenv("OMP_NUM_THREADS", "1", 1);
    agora_init();
    const char *dir = fuzz_tmpdir();
    if (chdir(dir) != 0)
        abort();
    static char out_dir[4200];
    snprintf(out_dir, sizeof out_dir, "%s/out", dir);
    agora_mcp_options opt = {
        .limits = {.max_agents = 2500, .max_steps = 50, .max_worlds = 3, .max_snapshots = 3, .max_wall_s = 2},
        .output_dir = out_dir,
        .threads = 1};
    agora_error err;
    if (agora_mcp_create(&opt, on_write, NULL, &srv, &err) != 0)
        fuzz_fail("agora_mcp_create: %s", err.msg);
    return 0;
}

static int unsafe_string(const char *s)
{
    return strpbrk(s, "/\\") || strstr(s, "ollama") || strstr(s, "openai") || strstr(s, "threads");
}

static int unsafe(const json_t *v)
{
    if (json_is_string(v))
        return unsafe_string(json_string_value(v));
    const char *key;
    json_t *child;
    size_t i;
    if (json_is_object(v)) {
        json_object_foreach((json_t *)v, key, child) {
            if (unsafe_string(key) || unsafe(child))
                return 1;
        }
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, child) {
            if (unsafe(child))
                return 1;
        }
    }
    return 0;
}

/* Whether the server must answer the line: an object with a method and a string or integer id. */
static int is_request(const json_t *msg)
{
    const json_t *id = json_object_get(msg, "id");
    return json_is_object(msg) && json_object_get(msg, "method") && (json_is_string(id) || json_is_integer(id));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *lines[MAX_LINES], *store = NULL;
    int n = fuzz_lines((const char *)data, size, lines, MAX_LINES, &store);
    for (int i = 0; i < n; i++) {
        json_error_t je;
        json_t *msg = json_loads(lines[i], JSON_DECODE_ANY, &je);
        if (json_is_object(msg) && unsafe(json_object_get(msg, "params"))) {
            if (fuzz_verbose())
                fprintf(stderr, "(left out) %s\n", lines[i]);
            json_decref(msg);
            continue;
        }
        replies = 0;
        agora_mcp_handle(srv, lines[i], strlen(lines[i]));
        if (replies > 1 || (is_request(msg) && replies != 1))
            fuzz_fail("%d replies to: %s", replies, lines[i]);
        json_decref(msg);
    }
    agora__mcp_free_worlds(srv);
    srv->world_seq = 0; /* ids start at w1 again: the same input gives the same replies */
    fuzz_tmp_clean();
    free(store);
    return 0;
}
