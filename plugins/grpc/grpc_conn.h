/* One HTTP/2 (h2c) connection from a gRPC client, served by nghttp2 on the
 * server's loop: its streams, their request messages and their answers.
 * What a call does is its method's (grpc_state.h: the state's methods). */
#ifndef GRPC_CONN_H
#define GRPC_CONN_H

#include <stddef.h>
#include <stdint.h>

#include "grpc_state.h"

/* A connection on fd (nonblocking; owned from here) from peer address ip,
 * watched on the loop. fd -1: nothing is read or written (the fuzz target
 * feeds bytes and drops the answers). NULL on ENOMEM (fd closed). */
grpc_conn *grpc_conn_new(grpc_state *st, int fd, const char *ip);

/* Hand bytes received from the client to nghttp2, run what they complete and
 * send what is due. -> 0, or -1: the connection was freed. */
int grpc_conn_feed(grpc_conn *c, const uint8_t *data, size_t len);

/* Shutdown: a GOAWAY naming the last stream taken; those finish, then the
 * connection closes itself. */
void grpc_conn_goaway(grpc_conn *c);

/* The next connection of the state's list (for a walk that may free c). */
grpc_conn *grpc_conn_next(const grpc_conn *c);

/* Close and free c; calls waiting for the store keep their stream, detached. */
void grpc_conn_free(grpc_conn *c);

/* --- what a call does with its stream --- */

/* The plugin's state, or NULL once the stream has gone (held streams). */
grpc_state *grpc_stream_state(const grpc_stream *s);

/* Queue one response message (copied). -> 0 | -1 (out of memory: the
 * stream was answered INTERNAL) */
int grpc_stream_send(grpc_stream *s, const uint8_t *msg, size_t len);

/* End the call with code and message (NULL: none) in the trailers; a later
 * finish is ignored. s may be freed inside this call unless it is held. */
void grpc_stream_finish(grpc_stream *s, int code, const char *message);

/* Keep s alive for an asynchronous completion even if its stream or its
 * connection goes away meanwhile; the completion calls grpc_stream_release. */
void grpc_stream_hold(grpc_stream *s);
/* Whether a held s can still be answered (its stream is open, not answered). */
int grpc_stream_live(const grpc_stream *s);
/* The completion is done with s: frees it when its stream has gone. */
void grpc_stream_release(grpc_stream *s);

#endif /* GRPC_CONN_H */
