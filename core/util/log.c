/* Logging: formats one line "<UTC time> <LEVEL> [<who>] <text>" and hands it
 * to stderr in a single write(2), so lines from several threads never
 * interleave. Owns only the level threshold (an atomic int). */
#include "log.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static atomic_int log_level = SB_LOG_INFO;

static const char *const level_names[] = {"DEBUG", "INFO", "WARN", "ERROR"};

void sb_log_set_level(int level)
{
    if (level < SB_LOG_DEBUG)
        level = SB_LOG_DEBUG;
    if (level > SB_LOG_ERROR)
        level = SB_LOG_ERROR;
    atomic_store(&log_level, level);
}

int sb_log_get_level(void)
{
    return atomic_load(&log_level);
}

int sb_log_level_parse(const char *s, int *level)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    if (!s)
        return SB_EINVAL;
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(s, names[i]) == 0) {
            *level = i;
            return SB_OK;
        }
    }
    return SB_EINVAL;
}

void sb_logv(int level, const char *who, const char *fmt, va_list ap)
{
    if (level < atomic_load(&log_level))
        return;
    if (level < SB_LOG_DEBUG)
        level = SB_LOG_DEBUG;
    if (level > SB_LOG_ERROR)
        level = SB_LOG_ERROR;

    /* A line longer than the buffer is cut (with "..." at the end): one
     * write per line matters more than very long lines. */
    char line[4096];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t cap = sizeof(line) - 1; /* room for the newline */
    int n = snprintf(line, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000, level_names[level]);
    size_t len = n > 0 ? (size_t)n : 0;
    if (who && len < cap) {
        n = snprintf(line + len, cap - len, "[%s] ", who);
        if (n > 0)
            len += (size_t)n;
    }
    if (len < cap) {
        n = vsnprintf(line + len, cap - len, fmt, ap);
        if (n > 0)
            len += (size_t)n;
    }
    if (len >= cap) {
        len = cap - 1;
        memcpy(line + len - 3, "...", 3);
    }
    /* A newline inside the text would break "one event per line". */
    for (size_t i = 0; i < len; i++) {
        if (line[i] == '\n' || line[i] == '\r')
            line[i] = ' ';
    }
    line[len++] = '\n';

    const char *p = line;
    while (len > 0) {
        ssize_t w = write(STDERR_FILENO, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        p += w;
        len -= (size_t)w;
    }
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
