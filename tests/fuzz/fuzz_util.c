/* agora — helpers shared by the fuzz harnesses: the scratch directory, input splitting and the error invariant.
 * See fuzz_util.h. */
#define _GNU_SOURCE /* nftw's FTW_DEPTH/FTW_PHYS, memmem */
#include "fuzz_util.h"

#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

static char tmpdir[4096];

void fuzz_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "fuzz invariant broken: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort();
}

int fuzz_utf8(const char *s)
{
    json_t *v = json_string(s); /* jansson refuses what is not UTF-8 */
    json_decref(v);
    return v != NULL;
}

int fuzz_verbose(void)
{
    static int v = -1;
    if (v < 0)
        v = getenv("AGORA_FUZZ_VERBOSE") != NULL;
    return v;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag;
    if (ftw->level > 0)
        remove(path);
    return 0;
}

void fuzz_tmp_clean(void)
{
    if (tmpdir[0])
        nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void remove_tmpdir(void)
{
    fuzz_tmp_clean();
    if (tmpdir[0])
        rmdir(tmpdir);
}

const char *fuzz_tmpdir(void)
{
    if (tmpdir[0])
        return tmpdir;
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/agora-fuzz-XXXXXX", base && base[0] ? base : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        abort();
    }
    atexit(remove_tmpdir);
    return tmpdir;
}

static void part_set(fuzz_part *p, const uint8_t *s, size_t len)
{
    p->s = malloc(len + 1);
    if (!p->s)
        abort();
    if (len)
        memcpy(p->s, s, len);
    p->s[len] = '\0';
    p->len = len;
}

int fuzz_split(const uint8_t *data, size_t size, fuzz_part *parts, int max)
{
    const size_t sl = strlen(FUZZ_SEP);
    size_t start = 0, i = 0;
    int n = 0;
    while (i < size && n + 1 < max) {
        /* a separator line: at the start of a line, FUZZ_SEP, then '\n' or the end */
        const int at_line = i == 0 || data[i - 1] == '\n';
        if (at_line && size - i >= sl && memcmp(data + i, FUZZ_SEP, sl) == 0 &&
            (i + sl == size || data[i + sl] == '\n')) {
            size_t end = i > start ? i - 1 : i; /* drop the '\n' before the separator */
            part_set(&parts[n++], data + start, end - start);
            i += sl + (i + sl < size);
            start = i;
            continue;
        }
        const uint8_t *nl = memchr(data + i, '\n', size - i);
        i = nl ? (size_t)(nl - data) + 1 : size;
    }
    part_set(&parts[n++], data + start, size - start);
    return n;
}

void fuzz_parts_free(fuzz_part *parts, int n)
{
    for (int i = 0; i < n; i++)
        free(parts[i].s);
}

int fuzz_lines(const char *text, size_t len, char **lines, int max, char **store)
{
    char *copy = malloc(len + 1);
    if (!copy)
        abort();
    memcpy(copy, text, len);
    copy[len] = '\0';
    *store = copy;
    int n = 0;
    char *p = copy, *end = copy + strlen(copy); /* a NUL ends the text */
    while (p < end && n < max) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        if (nl)
            *nl = '\0';
        if (*p)
            lines[n++] = p;
        p = nl ? nl + 1 : end;
    }
    return n;
}

void fuzz_check_error(int rc, const agora_error *err, const char *what)
{
    if (rc == 0)
        return;
    if (rc > 0)
        fuzz_fail("%s returned %d (errors are negative)", what, rc);
    if (!memchr(err->msg, '\0', sizeof err->msg) || !memchr(err->where, '\0', sizeof err->where))
        fuzz_fail("%s: unterminated error text", what);
    if (err->code != rc)
        fuzz_fail("%s returned %d but err->code is %d (%s)", what, rc, err->code, err->msg);
    if (!err->msg[0])
        fuzz_fail("%s failed (%d) without a message", what, rc);
}
