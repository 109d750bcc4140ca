/* gRPC server reflection (v1alpha and v1, the same wire format) answered from
 * the file descriptors embedded at build time (grpc_descriptors.c). */
#ifndef GRPC_REFLECT_H
#define GRPC_REFLECT_H

#include <stddef.h>
#include <stdint.h>

#include "grpc_conn.h"

/* The index of the embedded descriptors. NULL when they do not decode or on
 * ENOMEM. */
grpc_reflect *grpc_reflect_new(void);
void grpc_reflect_free(grpc_reflect *r);

/* Answer one ServerReflectionRequest msg[0..len) (borrowed) on s with one
 * ServerReflectionResponse; a request that does not decode ends the call
 * INVALID_ARGUMENT. */
void grpc_reflect_call(grpc_reflect *r, grpc_stream *s, const uint8_t *msg, size_t len);

#endif /* GRPC_REFLECT_H */
