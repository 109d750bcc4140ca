/* permessage-deflate (RFC 7692) without context takeover in either
 * direction: every message is compressed and inflated on its own, so one
 * compressed frame serves every recipient of a fan-out and no connection
 * keeps a zlib stream. The process has one deflate and one inflate stream. */
#ifndef SB_DEFLATE_H
#define SB_DEFLATE_H

#include <stddef.h>
#include <stdint.h>

#include "frame.h"

/* The frame to send on a connection that negotiated the extension: f's
 * compressed twin (made on first use, kept with f and freed with it), or f
 * itself when it is not a single text frame, is under min_bytes of payload,
 * would not shrink, or memory is short. Borrowed: take a reference to keep. */
sb_frame *sb_deflate_frame(sb_frame *f, size_t min_bytes);
/* Inflate one message's payload into *out (malloc'd, NUL-terminated),
 * stopping as soon as it would pass max bytes.
 * -> SB_OK | SB_EINVAL (over max: 1009) | SB_EPROTO (not deflate data: 1007)
 *    | SB_ENOMEM */
int sb_inflate_msg(const uint8_t *in, size_t len, size_t max, uint8_t **out, size_t *out_len);
/* The first acceptable permessage-deflate offer in a Sec-WebSocket-Extensions
 * value (RFC 7692 section 7.1): an offer with an unknown, repeated or invalid
 * parameter is declined, and so is a server_max_window_bits under 15 (our
 * one stream uses a 32 KiB window). -> 1: answer SB_DEFLATE_RESPONSE | 0 */
int sb_deflate_negotiate(const char *offers);
#define SB_DEFLATE_RESPONSE                                                                        \
    "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; "                   \
    "client_no_context_takeover\r\n"
/* Free the process's streams (at exit). */
void sb_deflate_free(void);

#endif
