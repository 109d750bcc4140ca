/* store_redis_url: the URL forms of the `url` key, parsed by hand because
 * hiredis 0.14 takes host/port or a socket path, not URLs. Credentials may be
 * percent-encoded (a password holding '@' or ':'), decoded by the caller's
 * function (host->url_decode). */
#include "store_redis_url.h"

#include <stdlib.h>
#include <string.h>

/* A decimal in [min, max] spanning s[0..len). -> 0 | -1 */
static int store_redis_url_num(const char *s, size_t len, long min, long max, int *out)
{
    if (len == 0 || len > 9)
        return -1;
    long v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v < min || v > max)
        return -1;
    *out = (int)v;
    return 0;
}

/* The query of a socket URL: db=N and password=P, '&'-separated. */
static int store_redis_url_query(store_redis_url_decode_fn decode, const char *q,
                                 store_redis_url *out, const char **why)
{
    while (*q) {
        const char *end = strchr(q, '&');
        size_t len = end ? (size_t)(end - q) : strlen(q);
        if (len > 3 && strncmp(q, "db=", 3) == 0) {
            if (store_redis_url_num(q + 3, len - 3, 0, 1000000, &out->db) != 0) {
                *why = "bad db number";
                return -1;
            }
        } else if (len >= 9 && strncmp(q, "password=", 9) == 0) {
            if (decode(q + 9, len - 9, out->pass, sizeof out->pass) != 0) {
                *why = "bad password";
                return -1;
            }
        } else {
            *why = "unknown query parameter (db and password are known)";
            return -1;
        }
        q += len + (end ? 1 : 0);
    }
    return 0;
}

static int store_redis_url_unix(store_redis_url_decode_fn decode, const char *p,
                                store_redis_url *out, const char **why)
{
    const char *q = strchr(p, '?');
    size_t len = q ? (size_t)(q - p) : strlen(p);
    if (len == 0 || p[0] != '/') {
        *why = "a socket path must be absolute";
        return -1;
    }
    if (decode(p, len, out->path, sizeof out->path) != 0) {
        *why = "socket path too long or badly escaped";
        return -1;
    }
    out->is_unix = 1;
    return q ? store_redis_url_query(decode, q + 1, out, why) : 0;
}

static int store_redis_url_tcp(store_redis_url_decode_fn decode, const char *p,
                               store_redis_url *out, const char **why)
{
    const char *slash = strchr(p, '/');
    size_t auth_len = slash ? (size_t)(slash - p) : strlen(p);
    /* The last '@' before the path ends the credentials. */
    const char *at = NULL;
    for (const char *c = p; c < p + auth_len; c++)
        if (*c == '@')
            at = c;
    const char *hp = p;
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        size_t ulen = colon ? (size_t)(colon - p) : (size_t)(at - p);
        if (decode(p, ulen, out->user, sizeof out->user) != 0) {
            *why = "bad user name";
            return -1;
        }
        if (colon &&
            decode(colon + 1, (size_t)(at - colon - 1), out->pass, sizeof out->pass) != 0) {
            *why = "bad password";
            return -1;
        }
        if (!colon) { /* redis://secret@host: a lone word is the password */
            memcpy(out->pass, out->user, sizeof out->user);
            out->user[0] = '\0';
        }
        hp = at + 1;
    }
    size_t hp_len = (size_t)(p + auth_len - hp);
    const char *host = hp, *port = NULL;
    size_t host_len;
    if (hp_len > 0 && hp[0] == '[') { /* [::1]:6379 */
        const char *close = memchr(hp, ']', hp_len);
        if (!close) {
            *why = "unclosed '[' in host";
            return -1;
        }
        host = hp + 1;
        host_len = (size_t)(close - host);
        if (close + 1 < hp + hp_len) {
            if (close[1] != ':') {
                *why = "junk after ']'";
                return -1;
            }
            port = close + 2;
        }
    } else {
        const char *colon = memchr(hp, ':', hp_len);
        host_len = colon ? (size_t)(colon - hp) : hp_len;
        port = colon ? colon + 1 : NULL;
    }
    if (host_len == 0 || host_len >= sizeof out->host) {
        *why = "missing or too long host";
        return -1;
    }
    memcpy(out->host, host, host_len);
    out->host[host_len] = '\0';
    if (port &&
        store_redis_url_num(port, (size_t)(hp + hp_len - port), 1, 65535, &out->port) != 0) {
        *why = "bad port";
        return -1;
    }
    if (slash && slash[1] &&
        store_redis_url_num(slash + 1, strlen(slash + 1), 0, 1000000, &out->db) != 0) {
        *why = "bad db number";
        return -1;
    }
    return 0;
}

int store_redis_url_parse(const char *url, store_redis_url_decode_fn decode, store_redis_url *out,
                          const char **why)
{
    memset(out, 0, sizeof *out);
    out->port = 6379;
    if (!url || !*url) {
        *why = "empty url";
        return -1;
    }
    if (strncmp(url, "redis://", 8) == 0)
        return store_redis_url_tcp(decode, url + 8, out, why);
    if (strncmp(url, "redis+unix://", 13) == 0)
        return store_redis_url_unix(decode, url + 13, out, why);
    if (strncmp(url, "unix://", 7) == 0)
        return store_redis_url_unix(decode, url + 7, out, why);
    if (strncmp(url, "unix:", 5) == 0)
        return store_redis_url_unix(decode, url + 5, out, why);
    *why = "unknown scheme (redis://, unix: or redis+unix:// expected)";
    return -1;
}
