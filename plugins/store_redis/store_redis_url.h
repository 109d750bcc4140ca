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

/* Fill *out from url. -> 0, or -1 with *why set to a static reason. */
int store_redis_url_parse(const char *url, store_redis_url *out, const char **why);

#endif
