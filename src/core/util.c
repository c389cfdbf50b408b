/* agora — small shared utilities: clock, JSON descriptions for error messages, "did you mean" suggestions,
 * directories. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/internal.h"

double agora__now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int agora__edit_distance(const char *a, const char *b)
{
    size_t n = strlen(a), m = strlen(b);
    if (n > 63 || m > 63)
        return 99;
    int d[64][64];
    for (size_t i = 0; i <= n; i++)
        d[i][0] = (int)i;
    for (size_t j = 0; j <= m; j++)
        d[0][j] = (int)j;
    for (size_t i = 1; i <= n; i++)
        for (size_t j = 1; j <= m; j++) {
            int cost = a[i - 1] != b[j - 1];
            int best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < best)
                best = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    return d[n][m];
}

void agora__suggest_start(agora__suggest *s, const char *word, int max)
{
    s->word = word;
    s->best = NULL;
    s->dist = max + 1;
    s->max = max;
}

void agora__suggest_offer(agora__suggest *s, const char *candidate)
{
    if (!candidate || strcmp(candidate, s->word) == 0)
        return;
    int d = agora__edit_distance(s->word, candidate);
    if (d < s->dist) {
        s->dist = d;
        s->best = candidate;
    }
}

const char *agora__json_kind(const json_t *v)
{
    switch (v ? json_typeof(v) : JSON_NULL) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "a list";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    default:
        return "null";
    }
}

size_t agora__utf8_prefix(const char *s, size_t max)
{
    size_t n = strnlen(s, max);
    while (n > 0 && s[n] && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--; /* s[n] continues the character before it: leave that character out */
    return n;
}

void agora__utf8_trim(char *s)
{
    size_t n = strlen(s), lead = n;
    while (lead > 0 && n - lead < 4 && ((unsigned char)s[lead - 1] & 0xC0) == 0x80)
        lead--;
    if (lead == 0)
        return;
    const unsigned char c = (unsigned char)s[lead - 1];
    const size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    if (n - (lead - 1) < need)
        s[lead - 1] = '\0';
}

/* The length of the UTF-8 character at p as JSON allows it (no overlong forms, surrogates or code points past
 * U+10FFFF), or 0 when p does not start one. Stops at the first byte that does not continue it, so never reads past a
 * terminating NUL. */
static size_t utf8_char(const unsigned char *p)
{
    size_t n;
    unsigned cp;
    if (p[0] < 0x80)
        return 1;
    if (p[0] >= 0xC2 && p[0] <= 0xDF)
        n = 2, cp = p[0] & 0x1Fu;
    else if (p[0] >= 0xE0 && p[0] <= 0xEF)
        n = 3, cp = p[0] & 0x0Fu;
    else if (p[0] >= 0xF0 && p[0] <= 0xF4)
        n = 4, cp = p[0] & 0x07u;
    else
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (p[i] & 0x3Fu);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

void agora__utf8_clean(char *s)
{
    for (unsigned char *p = (unsigned char *)s; *p;) {
        size_t n = utf8_char(p);
        if (n == 0)
            *p++ = '?';
        else
            p += n;
    }
}

const char *agora__json_brief(const json_t *v, char *buf, size_t size)
{
    if (!v) {
        snprintf(buf, size, "nothing");
        return buf;
    }
    char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    if (!text) {
        snprintf(buf, size, "?");
        return buf;
    }
    size_t n = strlen(text);
    if (n + 1 > size && size > 4)
        snprintf(buf, size, "%.*s...", (int)agora__utf8_prefix(text, size - 4), text);
    else
        snprintf(buf, size, "%s", text);
    free(text);
    return buf;
}

int agora__mkdirs(const char *dir, agora_error *err)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path)
        return agora_error_set(err, AGORA_EIO, dir, "path too long");
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0777) != 0 && errno != EEXIST)
            return agora_error_set(err, AGORA_EIO, path, "cannot create directory: %s", strerror(errno));
        *p = '/';
    }
    if (mkdir(path, 0777) != 0 && errno != EEXIST)
        return agora_error_set(err, AGORA_EIO, path, "cannot create directory: %s", strerror(errno));
    return 0;
}

int agora__mkdirs_for(const char *path, agora_error *err)
{
    const char *slash = strrchr(path, '/');
    if (!slash || slash == path)
        return 0;
    char dir[4096];
    snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    int rc = agora__mkdirs(dir, err);
    if (rc && err) {
        /* Name the file the user asked for: "out.h5: cannot create directory /proc/x: No such file..." */
        const char *why = strchr(err->msg, ':');
        char msg[sizeof err->msg];
        snprintf(msg, sizeof msg, "cannot create directory %s%s", err->where, why ? why : "");
        agora_error_set(err, rc, path, "%s", msg);
    }
    return rc;
}

int agora__name_char_ok(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
           c == '-';
}

int agora__name_ok(const char *s)
{
    if (!s || !s[0])
        return 0;
    for (; *s; s++)
        if (!agora__name_char_ok(*s))
            return 0;
    return 1;
}

int agora__ident_ok(const char *s)
{
    if (!s || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') || s[0] == '_'))
        return 0;
    size_t n = 0;
    for (; s[n]; n++)
        if (!((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= 'A' && s[n] <= 'Z') || (s[n] >= '0' && s[n] <= '9') ||
              s[n] == '_'))
            return 0;
    return n <= 63;
}

static int buf_reserve(agora__buf *b, size_t more)
{
    if (b->n + more + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < b->n + more + 1)
        cap *= 2;
    char *p = realloc(b->s, cap);
    if (!p)
        return -1;
    b->s = p;
    b->cap = cap;
    return 0;
}

void agora__buf_add(agora__buf *b, const char *fmt, ...)
{
    va_list ap, aq;
    va_start(ap, fmt);
    va_copy(aq, ap);
    int need = vsnprintf(NULL, 0, fmt, aq);
    va_end(aq);
    if (need >= 0 && buf_reserve(b, (size_t)need) == 0) {
        vsnprintf(b->s + b->n, b->cap - b->n, fmt, ap);
        b->n += (size_t)need;
    }
    va_end(ap);
}

void agora__buf_put(agora__buf *b, const char *s, size_t n)
{
    if (buf_reserve(b, n) != 0)
        return;
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = '\0';
}

char *agora__json_dumps(const json_t *v, size_t flags)
{
    char *text = json_dumps(v, flags | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15));
    if (!text)
        return NULL;
    json_t *back = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    const int same = back && json_equal(back, v);
    json_decref(back);
    if (same)
        return text;
    free(text);
    return json_dumps(v, flags | JSON_ENCODE_ANY);
}
