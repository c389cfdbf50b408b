/* agora — symbol visibility.
 *
 * The library is built with -fvisibility=hidden; only declarations marked AGORA_API are exported from
 * libagora.so, so internals (agora__*) cannot leak into the ABI. */
#ifndef AGORA_EXPORT_H
#define AGORA_EXPORT_H

#if defined(__GNUC__) || defined(__clang__)
#define AGORA_API __attribute__((visibility("default")))
#else
#define AGORA_API
#endif

#endif
