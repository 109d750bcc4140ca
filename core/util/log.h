/* Logging: one line per event on stderr, as text "<UTC time> <LEVEL> [<who>]
 * <text>", as one JSON object, or as "FILE:LINE: message" for --check-config.
 * Owns the level threshold and the format; nothing else. Safe from any
 * thread (one write(2) per line). */
#ifndef SB_LOG_H
#define SB_LOG_H

#include <stdarg.h>
#include <stdint.h>

#include "switchboard/plugin.h"

/* [server] log_format, plus the check mode of --check-config. */
enum sb_log_format { SB_LOG_TEXT = 0, SB_LOG_JSON = 1, SB_LOG_CHECK = 2 };

/* Lines below level are dropped. Default SB_LOG_INFO. */
void sb_log_set_level(int level);
int sb_log_get_level(void);
/* "debug" | "info" | "warn" | "error" (any case) -> level. -> SB_OK | SB_EINVAL */
int sb_log_level_parse(const char *s, int *level);
/* "text" | "json" -> format. -> SB_OK | SB_EINVAL */
int sb_log_format_parse(const char *s, int *format);
/* Switch to format (SB_LOG_TEXT or SB_LOG_JSON).
 * Text written to systemd's journal (JOURNAL_STREAM names stderr) drops the
 * time and starts with a "<N>" syslog priority the journal turns into the
 * entry's level. */
void sb_log_set_format(int format);
/* Check mode: only WARN and ERROR lines, each as "FILE:LINE: message" (a
 * warning's message starts "warning: "). A message that starts with
 * "config_path:N: " keeps its own line; any other gets config_path and the
 * line set by sb_log_check_line (0: the file as a whole). */
void sb_log_set_check(const char *config_path);
void sb_log_check_line(int line);
/* JSON lines about a connection ("conn <id> (<ip>): ...") carry its id, ip
 * and fn(id)'s user (NULL: none yet). fn is called only on the thread that
 * installed it (the loop); NULL removes it. */
void sb_log_set_conn_user(const char *(*fn)(uint64_t conn_id));
/* Log one line; who is a plugin's name or NULL for the core. */
void sb_log(int level, const char *fmt, ...) SB_PRINTF(2, 3);
void sb_log_who(int level, const char *who, const char *fmt, ...) SB_PRINTF(3, 4);
void sb_logv(int level, const char *who, const char *fmt, va_list ap);

#endif
