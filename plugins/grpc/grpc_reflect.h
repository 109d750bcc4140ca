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

/* ServerReflectionInfo, v1alpha and v1: streaming methods answering each
 * ServerReflectionRequest with one ServerReflectionResponse from the state's
 * index (grpc_state.reflect); a request that does not decode ends the call
 * INVALID_ARGUMENT. */
#define GRPC_REFLECT_METHODS 2
extern const grpc_method grpc_reflect_methods[GRPC_REFLECT_METHODS];

#endif /* GRPC_REFLECT_H */
