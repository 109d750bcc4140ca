/* Refcounted outgoing bytes: a WebSocket frame framed once (server frames are
 * unmasked, so the bytes are the same for every recipient) or an HTTP answer.
 * A fan-out holds one sb_frame and every recipient's queue a reference. */
#ifndef SB_FRAME_H
#define SB_FRAME_H

#include <stddef.h>
#include <stdint.h>

typedef struct sb_frame {
    uint32_t refs;
    uint32_t flags;            /* SB_FRAME_* */
    struct sb_frame *deflated; /* its permessage-deflate twin, made once (deflate.c) */
    size_t len;
    uint8_t data[];
} sb_frame;

#define SB_FRAME_CLOSE   1u /* a WebSocket close frame: nothing may follow it */
#define SB_FRAME_BACKLOG 2u /* a stored message of the backlog: not counted as slow */
#define SB_FRAME_PLAIN   4u /* deflate would not shrink it: sent as it is */

/* A new frame (refs = 1) of opcode wrapping payload[0..len); NULL on ENOMEM. */
sb_frame *sb_frame_ws(int opcode, const void *payload, size_t len);
/* Bytes of an unmasked WebSocket frame header for a payload of len. */
size_t sb_frame_ws_header_len(size_t len);
/* The payload of a frame built here, and its length. */
const char *sb_frame_payload(const sb_frame *f, size_t *len);
/* A close frame with code and reason (truncated to fit 125 bytes). */
sb_frame *sb_frame_ws_close(int code, const char *reason);
/* A new frame (refs = 1) holding bytes as they are (HTTP answers). */
sb_frame *sb_frame_raw(const void *bytes, size_t len);
/* Allocate a frame with room for len bytes, for callers that fill data. */
sb_frame *sb_frame_alloc(size_t len);
/* Text frame around the JSON envelope {"type":type[,"ref":ref],"data":data_json}. */
sb_frame *sb_frame_envelope(const char *type, const char *ref_json, const char *data_json,
                            size_t data_len);

static inline sb_frame *sb_frame_ref(sb_frame *f)
{
    f->refs++;
    return f;
}
void sb_frame_unref(sb_frame *f);

#endif
