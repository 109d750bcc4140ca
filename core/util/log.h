/* Logging: one line per event on stderr, "<UTC time> <LEVEL> [<who>] <text>".
 * Owns the level threshold; nothing else. Safe from any thread (one write(2)
 * per line). */
#ifndef SB_LOG_H
#define SB_LOG_H

#include <stdarg.h>

#include "switchboard/plugin.h"

/* Lines below level are dropped. Default SB_LOG_INFO. */
void sb_log_set_level(int level);
int sb_log_get_level(void);
/* "debug" | "info" | "warn" | "error" (any case) -> level. -> SB_OK | SB_EINVAL */
int sb_log_level_parse(const char *s, int *level);
/* Log one line; who is a plugin's name or NULL for the core. */
void sb_log(int level, const char *fmt, ...) SB_PRINTF(2, 3);
void sb_log_who(int level, const char *who, const char *fmt, ...) SB_PRINTF(3, 4);
void sb_logv(int level, const char *who, const char *fmt, va_list ap);

#endif
