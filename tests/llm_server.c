/* Starts, stops and reads the log of the loopback LLM test server (see llm_server.h and tests/llm_server.py).
 *
 * The server is a child process started with fork/exec; it writes its port to a file once it listens (atomically,
 * by rename), which is how we know it is ready. Between fork and exec only async-signal-safe calls are made: tests
 * may have threads running. */
#include "llm_server.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "support.h"

#define PYTHON "/usr/bin/python3"

static atomic_int server_counter;

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static int write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    size_t n = strlen(text);
    int ok = fwrite(text, 1, n, f) == n;
    ok = (fclose(f) == 0) && ok;
    return ok ? 0 : -1;
}

/* The port in the port file, 0 while it is not there yet. */
static int read_port(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    int port = 0;
    if (fscanf(f, "%d", &port) != 1)
        port = 0;
    fclose(f);
    return port;
}

/* Waits up to timeout_ms for the child to exit; 1 if it did (or is gone), 0 if it still runs. */
static int reap(pid_t pid, long timeout_ms)
{
    for (long waited = 0;; waited += 10) {
        pid_t r = waitpid(pid, NULL, WNOHANG);
        if (r == pid || (r < 0 && errno == ECHILD))
            return 1;
        if (waited >= timeout_ms)
            return 0;
        sleep_ms(10);
    }
}

int llm_server_start(llm_server *s, const char *script_json)
{
    memset(s, 0, sizeof *s);
    char base[64], name[96], port_path[512], script_py[512];
    snprintf(base, sizeof base, "llmsrv-%ld-%d", (long)getpid(), atomic_fetch_add(&server_counter, 1));
    snprintf(name, sizeof name, "%s.script.json", base);
    snprintf(s->script_path, sizeof s->script_path, "%s", test_tmp_path(name));
    snprintf(name, sizeof name, "%s.log.jsonl", base);
    snprintf(s->log_path, sizeof s->log_path, "%s", test_tmp_path(name));
    snprintf(name, sizeof name, "%s.port", base);
    snprintf(port_path, sizeof port_path, "%s", test_tmp_path(name));
    snprintf(script_py, sizeof script_py, "%s", test_src_path("tests/llm_server.py"));
    unlink(s->log_path);
    unlink(port_path);
    if (write_file(s->script_path, script_json) != 0) {
        fprintf(stderr, "llm_server_start: cannot write %s: %s\n", s->script_path, strerror(errno));
        return -1;
    }

    char *argv[] = {PYTHON,      script_py,   "--script",   s->script_path,       "--log", s->log_path, "--port", "0",
                    "--port-file", port_path, "--exit-with-parent", NULL};
    fflush(NULL); /* so the child does not inherit unwritten output */
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "llm_server_start: fork: %s\n", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        /* The server's "PORT n" line would mix with the test's output; its stderr (tracebacks) stays. */
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0)
            dup2(devnull, STDOUT_FILENO);
        execv(PYTHON, argv);
        _exit(127);
    }

    for (long waited = 0; waited < 10000; waited += 10) {
        int port = read_port(port_path);
        if (port > 0) {
            unlink(port_path);
            s->pid = pid;
            s->port = port;
            snprintf(s->base_url, sizeof s->base_url, "http://127.0.0.1:%d", port);
            return 0;
        }
        if (reap(pid, 0)) {
            fprintf(stderr, "llm_server_start: the server exited before listening (script: %s)\n", s->script_path);
            return -1;
        }
        sleep_ms(10);
    }
    fprintf(stderr, "llm_server_start: the server did not listen within 10 s\n");
    kill(pid, SIGKILL);
    reap(pid, 3000);
    unlink(port_path);
    return -1;
}

void llm_server_stop(llm_server *s)
{
    if (!s || s->pid <= 0)
        return;
    kill(s->pid, SIGTERM);
    if (!reap(s->pid, 3000)) {
        kill(s->pid, SIGKILL);
        reap(s->pid, 3000);
    }
    s->pid = 0;
    if (!getenv("AGORA_TEST_KEEP")) {
        unlink(s->script_path);
        unlink(s->log_path);
    }
}

json_t *llm_server_requests(const llm_server *s)
{
    FILE *f = fopen(s->log_path, "r");
    if (!f)
        return NULL;
    json_t *all = json_array();
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) > 0) {
        /* A line without its newline is still being written: it is not a logged request yet. */
        if (line[n - 1] != '\n')
            break;
        json_t *v = json_loadb(line, (size_t)n, 0, NULL);
        if (v)
            json_array_append_new(all, v);
    }
    free(line);
    fclose(f);
    return all;
}
