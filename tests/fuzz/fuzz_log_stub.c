/* core/util/log.c for fuzz targets: every line is still formatted (so a bad
 * format argument is still caught by the sanitizers) but never written, since
 * error paths log on almost every input. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "log.h"

static int log_level = SB_LOG_INFO;

void sb_log_set_level(int level)
{
    log_level = level;
}

int sb_log_get_level(void)
{
    return log_level;
}

int sb_log_level_parse(const char *s, int *level)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; s && i < 4; i++) {
        if (strcasecmp(s, names[i]) == 0) {
            *level = i;
            return SB_OK;
        }
    }
    return SB_EINVAL;
}

int sb_log_format_parse(const char *s, int *format)
{
    if (s && strcmp(s, "text") == 0)
        *format = SB_LOG_TEXT;
    else if (s && strcmp(s, "json") == 0)
        *format = SB_LOG_JSON;
    else
        return SB_EINVAL;
    return SB_OK;
}

void sb_log_set_format(int format)
{
    (void)format;
}

void sb_log_set_check(const char *config_path)
{
    (void)config_path;
}

void sb_log_check_line(int line)
{
    (void)line;
}

void sb_log_set_conn_user(const char *(*fn)(uint64_t conn_id))
{
    (void)fn;
}

void sb_logv(int level, const char *who, const char *fmt, va_list ap)
{
    char line[4096];
    (void)level;
    (void)who;
    vsnprintf(line, sizeof(line), fmt, ap);
}

void sb_log_who(int level, const char *who, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sb_logv(level, who, fmt, ap);
    va_end(ap);
}

void sb_log(int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sb_logv(level, NULL, fmt, ap);
    va_end(ap);
}
