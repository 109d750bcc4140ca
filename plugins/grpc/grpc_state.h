/* What every part of the grpc plugin shares: the plugin's state (config,
 * listener, open connections, calls in flight) and gRPC's status codes.
 * grpc.c owns its lifetime. */
#ifndef GRPC_STATE_H
#define GRPC_STATE_H

#include <stddef.h>

#include <switchboard/plugin.h>

#include "grpc_allow.h"

/* google.rpc.Code values the plugin answers with. */
enum grpc_code {
    GRPC_OK = 0,
    GRPC_CANCELLED = 1,
    GRPC_INVALID_ARGUMENT = 3,
    GRPC_DEADLINE_EXCEEDED = 4,
    GRPC_NOT_FOUND = 5,
    GRPC_PERMISSION_DENIED = 7,
    GRPC_RESOURCE_EXHAUSTED = 8,
    GRPC_UNIMPLEMENTED = 12,
    GRPC_INTERNAL = 13,
    GRPC_UNAVAILABLE = 14,
    GRPC_UNAUTHENTICATED = 16,
};

typedef struct grpc_conn grpc_conn;
typedef struct grpc_reflect grpc_reflect;

typedef struct grpc_state {
    const sb_host_api *host;
    sb_plugin_ctx *pc;
    char *key; /* [grpc] api_key, owned; "" -> allow_from decides */
    size_t key_len;
    grpc_allow allow;           /* [grpc] allow_from */
    char from[SB_USER_MAX + 1]; /* the sender stamped on every notification */
    size_t max_msg;             /* largest request message: [server] max_message_bytes */
    size_t max_streams;         /* concurrent streams per connection */
    size_t max_conns;           /* open connections; past it new ones are closed */
    double idle_timeout;        /* seconds without a call before GOAWAY; 0: never */
    grpc_reflect *reflect;
    int listen_fd; /* -1: none (the fuzz target) */
    sb_watch *accept_watch;
    grpc_conn *conns; /* open connections, a list */
    size_t n_conns;
    size_t pending;     /* calls waiting for the store, their connection gone or not */
    int draining;       /* shutdown began: listener closed, GOAWAY sent */
    int closing;        /* fini ran: the last store completion frees the state */
    sb_counter *calls;  /* every call received */
    sb_counter *errors; /* calls answered with a status other than OK */
} grpc_state;

/* Free st and everything it owns (connections included). */
void grpc_state_free(grpc_state *st);

#endif /* GRPC_STATE_H */
