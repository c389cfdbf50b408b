/* agora — error values: the one table of codes (error.h's X-macro) and the agora_error helpers. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "agora/error.h"
#include "core/internal.h"

const char *agora_strerror(int code)
{
    switch (code) {
#define AGORA__ERRNO_DESC(name, value, desc) \
    case value:                              \
        return desc;
        AGORA_ERRNO_MAP(AGORA__ERRNO_DESC)
#undef AGORA__ERRNO_DESC
    default:
        return "unknown error";
    }
}

const char *agora_errname(int code)
{
    switch (code) {
#define AGORA__ERRNO_NAME(name, value, desc) \
    case value:                              \
        return #name;
        AGORA_ERRNO_MAP(AGORA__ERRNO_NAME)
#undef AGORA__ERRNO_NAME
    default:
        return "EUNKNOWN";
    }
}

int agora_error_set(agora_error *err, int code, const char *where, const char *fmt, ...)
{
    if (!err)
        return code;
    err->code = code;
    err->line = err->column = 0;
    snprintf(err->where, sizeof err->where, "%s", where ? where : "");
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    } else {
        snprintf(err->msg, sizeof err->msg, "%s", agora_strerror(code));
    }
    agora__utf8_trim(err->where);
    agora__utf8_trim(err->msg);
    return code;
}

void agora_error_clear(agora_error *err)
{
    if (!err)
        return;
    memset(err, 0, sizeof *err);
}

void agora_error_prefix(agora_error *err, const char *key)
{
    if (!err || !key || !*key)
        return;
    char tmp[sizeof err->msg];
    size_t k = strlen(key);
    if (k + 2 >= sizeof tmp)
        return;
    memcpy(tmp, key, k);
    memcpy(tmp + k, ": ", 2);
    size_t rest = sizeof tmp - k - 3; /* room left for the old message and the terminator */
    size_t m = agora__utf8_prefix(err->msg, rest);
    memcpy(tmp + k + 2, err->msg, m);
    tmp[k + 2 + m] = '\0';
    agora__utf8_trim(tmp); /* a key longer than the room cut inside a character */
    memcpy(err->msg, tmp, sizeof tmp);
}

char *agora_error_format(const agora_error *err, char *buf, size_t size)
{
    if (!buf || size == 0)
        return buf;
    if (!err) {
        snprintf(buf, size, "(no error)");
        return buf;
    }
    const char *msg = err->msg[0] ? err->msg : agora_strerror(err->code);
    if (err->where[0] && err->line > 0 && err->column > 0)
        snprintf(buf, size, "%s:%d:%d: %s", err->where, err->line, err->column, msg);
    else if (err->where[0] && err->line > 0)
        snprintf(buf, size, "%s:%d: %s", err->where, err->line, msg);
    else if (err->where[0])
        snprintf(buf, size, "%s: %s", err->where, msg);
    else
        snprintf(buf, size, "%s", msg);
    agora__utf8_trim(buf);
    return buf;
}
