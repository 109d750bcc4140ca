/* What every part of the grpc plugin shares: the plugin's state (config,
 * listener, open connections, calls in flight) and gRPC's status codes.
 * grpc.c owns its lifetime: it frees it at fini, or through `release` when
 * the last store completion after fini is done. */
#ifndef GRPC_STATE_H
#define GRPC_STATE_H

#include <stddef.h>
#include <stdint.h>

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
typedef struct grpc_stream grpc_stream;

/* One method a stream may call, found by its :path. A streaming method's
 * `call` runs on each request message as it arrives; a unary one's on its
 * one message once the client has ended its side. msg[0..len) is borrowed;
 * `call` answers s (now, or later after grpc_stream_hold). Tables of these
 * are the services' (grpc_notify.c, grpc_reflect.c); grpc.c lists them in
 * the state, and connections look calls up there, naming no service. So
 * the calls go down (plugin -> services -> connection -> this header) and
 * nothing below calls back up by name. */
typedef struct grpc_method {
    const char *path;
    int streaming;
    int id; /* which of its service's methods, handed back to `call` */
    void (*call)(grpc_stream *s, int id, const uint8_t *msg, size_t len);
} grpc_method;

#define GRPC_METHODS_MAX 8

typedef struct grpc_state grpc_state;
struct grpc_state {
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
    const grpc_method *methods[GRPC_METHODS_MAX]; /* what streams may call */
    size_t n_methods;
    int listen_fd; /* -1: none (the fuzz target) */
    sb_watch *accept_watch;
    grpc_conn *conns; /* open connections, a list */
    size_t n_conns;
    size_t pending;                  /* calls waiting for the store, their connection gone or not */
    int draining;                    /* shutdown began: listener closed, GOAWAY sent */
    int closing;                     /* fini ran: the last store completion calls release */
    void (*release)(grpc_state *st); /* grpc.c's free, for that completion */
    sb_counter *calls;               /* every call received */
    sb_counter *errors;              /* calls answered with a status other than OK */
};

#endif /* GRPC_STATE_H */
