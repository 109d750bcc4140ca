/* notificationspb.NotificationService: Broadcast, NotifyRoom, PrivateNotify,
 * with the push API's semantics (filter chain, stamp, store then deliver). */
#ifndef GRPC_NOTIFY_H
#define GRPC_NOTIFY_H

#include <stddef.h>
#include <stdint.h>

#include "grpc_conn.h"

/* The service's three unary methods. A call answers its stream now, or for
 * PrivateNotify from the store's completion. */
enum { NOTIFY_BROADCAST, NOTIFY_ROOM, NOTIFY_PRIVATE, GRPC_NOTIFY_METHODS };
extern const grpc_method grpc_notify_methods[GRPC_NOTIFY_METHODS];

#endif /* GRPC_NOTIFY_H */
