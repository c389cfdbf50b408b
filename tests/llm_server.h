/* A loopback LLM server for tests: starts tests/llm_server.py (OpenAI chat completions and Ollama /api/chat, scripted
 * replies per X-Agora-Tag, injected faults, a JSON-lines log of every request) as a child process, and reads its log.
 * The script format is described at the top of tests/llm_server.py. Several servers may run at once. */
#ifndef AGORA_TEST_LLM_SERVER_H
#define AGORA_TEST_LLM_SERVER_H

#include <sys/types.h>

#include <jansson.h>

typedef struct llm_server {
    pid_t pid;              /* 0 when not running */
    int port;
    char base_url[64];      /* "http://127.0.0.1:<port>" */
    char log_path[512];
    char script_path[512];
} llm_server;

/* Writes script_json to a temporary file under AGORA_TEST_TMP, starts the server on a free port of 127.0.0.1 and
 * waits (up to 10 s) until it listens. Returns 0, or -1 (the reason on stderr) with nothing left running. The server
 * also stops by itself when the test process dies. */
int llm_server_start(llm_server *s, const char *script_json);

/* Stops the server (SIGTERM, then SIGKILL after 3 s) and waits for it; removes its script and log files unless
 * AGORA_TEST_KEEP is set in the environment. Accepts a server that never started or is already stopped. */
void llm_server_stop(llm_server *s);

/* The requests the server has logged so far, in arrival order: a new JSON array of objects {t, path, tag, headers,
 * body, response: {kind, status}}. NULL if the log cannot be read. */
json_t *llm_server_requests(const llm_server *s);

#endif
