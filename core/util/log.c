/* Logging: formats one line per event and hands it to stderr in a single
 * write(2), so lines from several threads never interleave. Three shapes:
 * text "<UTC time> <LEVEL> [<who>] <text>" (under systemd's journal: no time,
 * a "<N>" priority prefix instead), JSON (one object per line), and the
 * "FILE:LINE: message" lines of --check-config. Owns the threshold, the
 * format and, for check mode, the config path and the current line. */
#include "log.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static atomic_int log_level = SB_LOG_INFO;
static atomic_int log_format = SB_LOG_TEXT;
static atomic_int log_journal; /* stderr is systemd's journal stream */

/* Check mode: set once before the config loads, then from the loop thread. */
static char check_path[4096];
static atomic_int check_line;

/* conn id -> user, installed by the host; called on its thread only. */
static const char *(*conn_user)(uint64_t id);
static pthread_t conn_user_thread;

static const char *const level_names[] = {"DEBUG", "INFO", "WARN", "ERROR"};
static const char *const level_lower[] = {"debug", "info", "warn", "error"};
/* syslog priorities for the journal: debug, info, warning, err. */
static const int level_prio[] = {7, 6, 4, 3};

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
    if (!s)
        return SB_EINVAL;
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(s, level_lower[i]) == 0) {
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

/* systemd sets JOURNAL_STREAM to "dev:ino" of the stream it connected to
 * stdout/stderr; it only counts when stderr is still that stream. */
static int stderr_is_journal(void)
{
    const char *js = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;
    if (!js || sscanf(js, "%llu:%llu", &dev, &ino) != 2 || fstat(STDERR_FILENO, &st) != 0)
        return 0;
    return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void sb_log_set_format(int format)
{
    atomic_store(&log_journal, stderr_is_journal());
    atomic_store(&log_format, format);
}

void sb_log_set_check(const char *config_path)
{
    snprintf(check_path, sizeof(check_path), "%s", config_path ? config_path : "");
    atomic_store(&check_line, 0);
    sb_log_set_format(SB_LOG_CHECK);
}

void sb_log_check_line(int line)
{
    atomic_store(&check_line, line);
}

void sb_log_set_conn_user(const char *(*fn)(uint64_t conn_id))
{
    conn_user_thread = pthread_self();
    conn_user = fn;
}

/* --- line building ---------------------------------------------------------- */

typedef struct line_buf {
    char b[4096];
    size_t len;
} line_buf;

#define LINE_CAP (sizeof(((line_buf *)0)->b) - 1) /* room for the newline */

static void put(line_buf *l, const char *fmt, ...) SB_PRINTF(2, 3);
static void put(line_buf *l, const char *fmt, ...)
{
    if (l->len >= LINE_CAP)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(l->b + l->len, LINE_CAP - l->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        l->len += (size_t)n;
}

/* s as the inside of a JSON string, control characters escaped, leaving
 * room for reserve more bytes: a cut value ends in "...". */
static void put_json_str(line_buf *l, const char *s, size_t reserve)
{
    for (; *s; s++) {
        if (l->len + 6 + 3 + reserve > LINE_CAP) {
            /* Drop a character cut in the middle: the value stays UTF-8. */
            while (l->len > 0 && ((unsigned char)l->b[l->len - 1] & 0xC0) == 0x80)
                l->len--;
            if (l->len > 0 && (unsigned char)l->b[l->len - 1] >= 0xC0)
                l->len--;
            put(l, "...");
            return;
        }
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            put(l, "\\%c", ch);
        else if (ch < 0x20)
            put(l, "\\u%04x", ch);
        else
            l->b[l->len++] = (char)ch;
    }
}

/* A text line longer than the buffer is cut (with "..." at the end): one
 * write per line matters more than very long lines. JSON lines are cut
 * inside their values instead (put_json_str). */
static void finish(line_buf *l)
{
    if (l->len >= LINE_CAP) {
        l->len = LINE_CAP - 1;
        memcpy(l->b + l->len - 3, "...", 3);
    }
    /* A newline inside the text would break "one event per line". */
    for (size_t i = 0; i < l->len; i++) {
        if (l->b[i] == '\n' || l->b[i] == '\r')
            l->b[i] = ' ';
    }
    l->b[l->len++] = '\n';
}

/* "conn <id> (<ip>): rest" or "conn <id>: rest" -> id, ip ("" when
 * absent) and rest: the shapes the core uses for lines about one connection. */
static int parse_conn(const char *msg, uint64_t *id, char *ip, size_t ip_len, const char **rest)
{
    int n = 0;
    char ipbuf[64];
    if (strncmp(msg, "conn ", 5) != 0)
        return 0;
    if (sscanf(msg, "conn %" SCNu64 " (%63[^)]): %n", id, ipbuf, &n) == 2 && n > 0) {
        snprintf(ip, ip_len, "%s", ipbuf);
    } else if (n = 0, sscanf(msg, "conn %" SCNu64 ": %n", id, &n) == 1 && n > 0) {
        ip[0] = '\0';
    } else {
        return 0;
    }
    *rest = msg + n;
    return 1;
}

static void format_json(line_buf *l, int level, const char *who, const char *msg,
                        const struct timespec *ts, const struct tm *tm)
{
    put(l, "{\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\",\"level\":\"%s\",\"plugin\":\"",
        tm->tm_year + 1900, tm->tm_mon + 1, tm->tm_mday, tm->tm_hour, tm->tm_min, tm->tm_sec,
        ts->tv_nsec / 1000000, level_lower[level]);
    put_json_str(l, who ? who : "core", 256);
    put(l, "\"");
    uint64_t id;
    char ip[64];
    const char *rest;
    if (parse_conn(msg, &id, ip, sizeof(ip), &rest)) {
        put(l, ",\"conn\":%" PRIu64, id);
        if (ip[0]) {
            put(l, ",\"ip\":\"");
            put_json_str(l, ip, 256);
            put(l, "\"");
        }
        const char *user = NULL;
        if (conn_user && pthread_equal(pthread_self(), conn_user_thread))
            user = conn_user(id);
        if (user) {
            put(l, ",\"user\":\"");
            put_json_str(l, user, 256);
            put(l, "\"");
        }
        msg = rest;
    }
    put(l, ",\"msg\":\"");
    put_json_str(l, msg, 2);
    put(l, "\"}");
}

/* Whether msg starts with "<path>:<digits>: " (the loader's own location). */
static int has_location(const char *msg)
{
    size_t n = strlen(check_path);
    if (strncmp(msg, check_path, n) != 0 || msg[n] != ':')
        return 0;
    const char *p = msg + n + 1;
    const char *d = p;
    while (*p >= '0' && *p <= '9')
        p++;
    return p > d && p[0] == ':' && p[1] == ' ';
}

static void format_check(line_buf *l, int level, const char *who, const char *msg)
{
    const char *kind = level == SB_LOG_WARN ? "warning: " : "";
    if (has_location(msg)) {
        size_t n = strlen(check_path) + 1;
        const char *colon = strchr(msg + n, ':');
        put(l, "%.*s %s%s", (int)(colon + 1 - msg), msg, kind, colon + 2);
        return;
    }
    /* "<path>: why" (the file as a whole) loses its own path prefix. */
    size_t n = strlen(check_path);
    if (n && strncmp(msg, check_path, n) == 0 && msg[n] == ':' && msg[n + 1] == ' ')
        msg += n + 2;
    put(l, "%s:%d: %s", check_path, atomic_load(&check_line), kind);
    size_t wn = who ? strlen(who) : 0;
    if (who && !(msg[0] == '[' && strncmp(msg + 1, who, wn) == 0 && msg[wn + 1] == ']'))
        put(l, "[%s] ", who);
    put(l, "%s", msg);
}

static void write_all(const char *p, size_t len)
{
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

void sb_logv(int level, const char *who, const char *fmt, va_list ap)
{
    if (level < SB_LOG_DEBUG)
        level = SB_LOG_DEBUG;
    if (level > SB_LOG_ERROR)
        level = SB_LOG_ERROR;
    int format = atomic_load(&log_format);
    /* Check mode prints problems only, whatever log_level says. */
    if (format == SB_LOG_CHECK ? level < SB_LOG_WARN : level < atomic_load(&log_level))
        return;

    char msg[4096];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    line_buf l;
    l.len = 0;
    if (format == SB_LOG_CHECK) {
        format_check(&l, level, who, msg);
    } else {
        struct timespec ts;
        struct tm tm;
        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        if (format == SB_LOG_JSON) {
            format_json(&l, level, who, msg, &ts, &tm);
        } else {
            /* The journal stamps each line itself and reads "<N>" as the priority. */
            if (atomic_load(&log_journal))
                put(&l, "<%d>%s ", level_prio[level], level_names[level]);
            else
                put(&l, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s ", tm.tm_year + 1900,
                    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                    ts.tv_nsec / 1000000, level_names[level]);
            if (who)
                put(&l, "[%s] ", who);
            put(&l, "%s", msg);
        }
    }
    finish(&l);
    write_all(l.b, l.len);
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
