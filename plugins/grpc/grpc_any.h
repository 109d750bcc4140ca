/* google.protobuf.Any -> the JSON WebSocket clients see in `message`:
 * StringValue -> the string, Struct / Value / ListValue -> that JSON,
 * anything else {"@type": type_url, "value": base64 of the bytes}. */
#ifndef GRPC_ANY_H
#define GRPC_ANY_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "google/protobuf/any.pb-c.h"

/* A check that s[0..len) is valid UTF-8 (the host's utf8_valid). */
typedef int (*grpc_utf8_fn)(const char *s, size_t len);

/* Convert any into *out (a new cJSON: caller deletes). On -1, *why is a
 * static reason for the caller's INVALID_ARGUMENT. -> 0 | -1 */
int grpc_any_to_json(const Google__Protobuf__Any *any, grpc_utf8_fn utf8_valid, cJSON **out,
                     const char **why);

#endif /* GRPC_ANY_H */
