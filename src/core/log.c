/* agora — logging: formats a message and hands it to the caller's logger; the library itself never prints. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "agora/error.h"
#include "agora/log.h"

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void agora_log(const agora_logger *lg, agora_log_level level, const char *fmt, ...)
{
    if (!lg || !lg->fn || level > lg->level)
        return;
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    lg->fn(lg->ud, level, buf);
}

const char *agora_log_level_name(agora_log_level level)
{
    if ((int)level < 0 || (int)level > AGORA_LOG_DEBUG)
        return "?";
    return level_names[level];
}

int agora_log_level_parse(const char *name, agora_log_level *out)
{
    for (int i = 0; i <= AGORA_LOG_DEBUG; i++) {
        if (name && strcmp(name, level_names[i]) == 0) {
            *out = (agora_log_level)i;
            return 0;
        }
    }
    if (name && strcmp(name, "warning") == 0) {
        *out = AGORA_LOG_WARN;
        return 0;
    }
    return AGORA_EINVAL;
}
