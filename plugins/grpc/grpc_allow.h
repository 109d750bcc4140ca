/* Who may call without a key: [grpc] allow_from, a list of CIDRs ("127.0.0.0/8
 * ::1"), read once at init and matched against a peer's address. */
#ifndef GRPC_ALLOW_H
#define GRPC_ALLOW_H

#include <stddef.h>
#include <stdint.h>

typedef struct grpc_cidr {
    int family; /* AF_INET or AF_INET6 */
    uint8_t addr[16];
    int prefix; /* bits */
} grpc_cidr;

typedef struct grpc_allow {
    grpc_cidr *v; /* owned */
    size_t n;
} grpc_allow;

/* Parse spec (space-separated CIDRs or addresses) into a. On failure *bad
 * points into spec at the entry that does not parse. -> 0 | -1 */
int grpc_allow_parse(const char *spec, grpc_allow *a, const char **bad);

/* Whether the peer address ip (text, as inet_ntop writes it; an IPv4-mapped
 * IPv6 address counts as IPv4) is in a. */
int grpc_allow_match(const grpc_allow *a, const char *ip);

void grpc_allow_free(grpc_allow *a);

#endif /* GRPC_ALLOW_H */
