/* notificationspb.NotificationService: Broadcast, NotifyRoom, PrivateNotify,
 * with the push API's semantics (filter chain, stamp, store then deliver). */
#ifndef GRPC_NOTIFY_H
#define GRPC_NOTIFY_H

#include <stddef.h>
#include <stdint.h>

#include "grpc_conn.h"

/* Run one unary call (method GRPC_M_BROADCAST | _NOTIFY_ROOM | _PRIVATE_NOTIFY)
 * on its request message msg[0..len) (borrowed). Answers s now, or for
 * PrivateNotify from the store's completion. */
void grpc_notify_call(grpc_stream *s, int method, const uint8_t *msg, size_t len);

#endif /* GRPC_NOTIFY_H */
