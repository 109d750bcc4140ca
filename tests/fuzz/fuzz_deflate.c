/* Fuzz target: permessage-deflate as core/transport/deflate.c does it.
 * Input: byte 0 picks the limit (max_message_bytes, 1..64 KiB), the rest is
 * used three ways: as a compressed message payload (inflate must stop at
 * the limit and never report more), as a Sec-WebSocket-Extensions value
 * (negotiation must not read past the string), and as a text payload
 * compressed once into a frame's twin and inflated back (the round trip
 * must give the same bytes, with RSV1 set on the twin). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "deflate.h"
#include "frame.h"
#include "switchboard/plugin.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t max = ((size_t)data[0] + 1) * 256;
    const uint8_t *in = data + 1;
    size_t len = size - 1;

    uint8_t *out = NULL;
    size_t out_len = 0;
    int rc = sb_inflate_msg(in, len, max, &out, &out_len);
    if (rc == SB_OK && (out_len > max || !out || out[out_len] != 0))
        abort();
    if (rc != SB_OK && out)
        abort();
    free(out);

    char *offers = malloc(len + 1);
    if (!offers)
        return 0;
    memcpy(offers, in, len);
    offers[len] = 0;
    int ok = sb_deflate_negotiate(offers);
    if (ok != 0 && ok != 1)
        abort();
    free(offers);

    sb_frame *f = sb_frame_ws(1, in, len);
    if (!f)
        return 0;
    sb_frame *z = sb_deflate_frame(f, 0);
    if (z != f) {
        if (z->data[0] != 0xc1 || sb_deflate_frame(f, 0) != z)
            abort(); /* compressed once, the same twin after */
        size_t zlen;
        const char *zp = sb_frame_payload(z, &zlen);
        if (sb_inflate_msg((const uint8_t *)zp, zlen, len, &out, &out_len) != SB_OK ||
            out_len != len || memcmp(out, in, len) != 0)
            abort();
        free(out);
    }
    sb_frame_unref(f);
    return 0;
}
