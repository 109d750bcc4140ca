/* [grpc] allow_from: parse the CIDR list and match a peer address against it.
 * Same notation as [server] metrics_allow; kept here because a plugin sees
 * only the SDK, not the core's config parser. */
#include "grpc_allow.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* One entry "addr[/bits]" of len bytes -> *c. -> 0 | -1 */
static int grpc_allow_entry(const char *s, size_t len, grpc_cidr *c)
{
    char buf[64];
    if (len == 0 || len >= sizeof(buf))
        return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *slash = strchr(buf, '/');
    long bits = -1;
    if (slash) {
        char *end = NULL;
        *slash = '\0';
        bits = strtol(slash + 1, &end, 10);
        if (end == slash + 1 || *end != '\0' || bits < 0)
            return -1;
    }
    memset(c, 0, sizeof(*c));
    if (inet_pton(AF_INET, buf, c->addr) == 1) {
        c->family = AF_INET;
        if (bits > 32)
            return -1;
        c->prefix = bits < 0 ? 32 : (int)bits;
        return 0;
    }
    if (inet_pton(AF_INET6, buf, c->addr) == 1) {
        c->family = AF_INET6;
        if (bits > 128)
            return -1;
        c->prefix = bits < 0 ? 128 : (int)bits;
        return 0;
    }
    return -1;
}

int grpc_allow_parse(const char *spec, grpc_allow *a, const char **bad)
{
    a->v = NULL;
    a->n = 0;
    for (const char *p = spec; *p;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (!*p)
            break;
        size_t len = strcspn(p, " \t,");
        grpc_cidr c;
        grpc_cidr *v =
            grpc_allow_entry(p, len, &c) == 0 ? realloc(a->v, (a->n + 1) * sizeof(*a->v)) : NULL;
        if (!v) {
            *bad = p;
            grpc_allow_free(a);
            return -1;
        }
        a->v = v;
        a->v[a->n++] = c;
        p += len;
    }
    return 0;
}

static int grpc_allow_prefix_eq(const uint8_t *x, const uint8_t *y, int bits)
{
    int whole = bits / 8;
    if (memcmp(x, y, (size_t)whole) != 0)
        return 0;
    int rest = bits % 8;
    if (rest == 0)
        return 1;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (x[whole] & mask) == (y[whole] & mask);
}

int grpc_allow_match(const grpc_allow *a, const char *ip)
{
    uint8_t addr[16];
    int family;
    if (inet_pton(AF_INET, ip, addr) == 1) {
        family = AF_INET;
    } else if (inet_pton(AF_INET6, ip, addr) == 1) {
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        family = AF_INET6;
        if (memcmp(addr, mapped, sizeof(mapped)) == 0) {
            memmove(addr, addr + 12, 4);
            family = AF_INET;
        }
    } else {
        return 0;
    }
    for (size_t i = 0; i < a->n; i++)
        if (a->v[i].family == family && grpc_allow_prefix_eq(addr, a->v[i].addr, a->v[i].prefix))
            return 1;
    return 0;
}

void grpc_allow_free(grpc_allow *a)
{
    free(a->v);
    a->v = NULL;
    a->n = 0;
}
