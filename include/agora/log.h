/* agora — logging.
 *
 * The library never prints: it hands messages to a caller-supplied logger (function + user data + level),
 * passed explicitly with a world or a run. A NULL logger or a NULL function discards messages. */
#ifndef AGORA_LOG_H
#define AGORA_LOG_H

#include "agora/export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum agora_log_level {
    AGORA_LOG_ERROR = 0,
    AGORA_LOG_WARN = 1,
    AGORA_LOG_INFO = 2,
    AGORA_LOG_DEBUG = 3
} agora_log_level;

typedef void (*agora_log_fn)(void *ud, agora_log_level level, const char *msg);

typedef struct agora_logger {
    agora_log_fn fn;
    void *ud;
    agora_log_level level; /* messages above this level are dropped before formatting */
} agora_logger;

/* Formats and delivers one message if lg, lg->fn are set and level <= lg->level. */
AGORA_API void agora_log(const agora_logger *lg, agora_log_level level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* "error", "warn", "info", "debug". */
AGORA_API const char *agora_log_level_name(agora_log_level level);

/* Parses a level name; returns 0 and sets *out, or AGORA_EINVAL. */
AGORA_API int agora_log_level_parse(const char *name, agora_log_level *out);

#ifdef __cplusplus
}
#endif
#endif
