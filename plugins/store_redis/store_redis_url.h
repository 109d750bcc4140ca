/* store_redis_url: parse the `url` key of [store_redis] / [bus_redis]
 * (redis://[user][:pass@]host[:port][/db], unix:/path[?db=N&password=P],
 * redis+unix:///path[?db=N&password=P]). Pure string work, unit-tested. */
#ifndef STORE_REDIS_URL_H
#define STORE_REDIS_URL_H

#include <stddef.h>

typedef struct store_redis_url {
    int is_unix;    /* 1: path is a socket; 0: host + port */
    char host[256]; /* without the brackets of an IPv6 literal */
    int port;       /* default 6379 */
    char path[108]; /* unix socket path */
    char user[128]; /* "" when none (AUTH pass only) */
    char pass[256]; /* "" when none (no AUTH) */
    int db;         /* SELECT db; default 0 */
} store_redis_url;

/* Percent-decode s[0..len) into out, NUL-terminated; nonzero on a bad or
 * short escape, %00 or no room (host->url_decode). */
typedef int (*store_redis_url_decode_fn)(const char *s, size_t len, char *out, size_t out_len);

/* Fill *out from url, credentials and paths decoded by decode. -> 0, or -1
 * with *why set to a static reason. */
int store_redis_url_parse(const char *url, store_redis_url_decode_fn decode, store_redis_url *out,
                          const char **why);

#endif
