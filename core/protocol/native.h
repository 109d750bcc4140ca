/* The native protocol (docs/protocol.md): the core's own codec, served at
 * [server] ws_path. Decoding reads one frame's envelope {type, ref, data}
 * (its checks are envelope.c's) and the ref as answers echo it; encoding
 * frames {type, ref, data} once for every native connection of a fan-out.
 * What a command does is dispatch's; dialects have codecs of their own. */
#ifndef SB_NATIVE_H
#define SB_NATIVE_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "envelope.h"
#include "frame.h"

/* One frame: env filled as sb_envelope_parse does (free it with
 * sb_envelope_free), *ref_json the ref serialized as answers echo it or NULL
 * (caller: cJSON_free). -> SB_OK | SB_EPROTO | SB_ENOMEM, with *code and
 * *why on error (see sb_envelope_parse). */
int sb_native_decode(const char *buf, size_t len, sb_envelope *env, char **ref_json,
                     const char **code, const char **why);
/* ref serialized as an answer echoes it: an integer without exponent, else
 * the host's printer (exact below 2^53). NULL for no ref or on ENOMEM.
 * Caller: cJSON_free. */
char *sb_native_ref_json(const cJSON *ref);
/* The envelope {"type":type[,"ref":ref_json],"data":data} framed (data
 * NULL: {}). NULL on ENOMEM. */
sb_frame *sb_native_encode(const char *type, const char *ref_json, const cJSON *data);

#endif
