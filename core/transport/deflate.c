/* zlib raw deflate for permessage-deflate: compress a frame's payload once
 * and cache the result on the frame, inflate a message with a hard output
 * limit (a zip bomb stops at max_message_bytes, never past it). */
#include "deflate.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "switchboard/plugin.h"

#define DEFLATE_LEVEL 6
#define INFLATE_CHUNK 16384

static z_stream dz, iz;
static int dz_ready, iz_ready;

static const uint8_t tail[4] = {0x00, 0x00, 0xff, 0xff};

sb_frame *sb_deflate_frame(sb_frame *f, size_t min_bytes)
{
    if (f->deflated)
        return f->deflated;
    if ((f->flags & (SB_FRAME_PLAIN | SB_FRAME_CLOSE)) || f->len < 2 || f->data[0] != 0x81)
        return f; /* only whole text messages */
    size_t plen;
    const char *payload = sb_frame_payload(f, &plen);
    if (plen < min_bytes || plen == 0) {
        f->flags |= SB_FRAME_PLAIN;
        return f;
    }
    if (!dz_ready) {
        if (deflateInit2(&dz, DEFLATE_LEVEL, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
            return f;
        dz_ready = 1;
    } else {
        deflateReset(&dz); /* no context takeover */
    }
    /* Worth it only if it shrinks: the bound is the payload itself. */
    size_t cap = plen + 16;
    size_t h = sb_frame_ws_header_len(cap);
    sb_frame *z = sb_frame_alloc(h + cap);
    if (!z)
        return f;
    dz.next_in = (Bytef *)(uintptr_t)payload;
    dz.avail_in = (uInt)plen;
    dz.next_out = z->data + h;
    dz.avail_out = (uInt)cap;
    int rc = deflate(&dz, Z_SYNC_FLUSH);
    size_t zlen = cap - dz.avail_out;
    if (rc != Z_OK || dz.avail_in != 0 || dz.avail_out == 0 || zlen < 4 ||
        memcmp(z->data + h + zlen - 4, tail, 4) != 0 || zlen - 4 >= plen) {
        sb_frame_unref(z);
        f->flags |= SB_FRAME_PLAIN;
        return f;
    }
    zlen -= 4; /* RFC 7692 7.2.1: the flush's empty block is left off */
    /* Rebuild the header for the real length, RSV1 set, and move the data. */
    size_t zh = sb_frame_ws_header_len(zlen);
    memmove(z->data + zh, z->data + h, zlen);
    z->data[0] = 0xc1; /* FIN, RSV1, text */
    if (zlen < 126) {
        z->data[1] = (uint8_t)zlen;
    } else if (zlen < 65536) {
        z->data[1] = 126;
        z->data[2] = (uint8_t)(zlen >> 8);
        z->data[3] = (uint8_t)zlen;
    } else {
        z->data[1] = 127;
        for (int i = 0; i < 8; i++)
            z->data[2 + i] = (uint8_t)((uint64_t)zlen >> (56 - 8 * i));
    }
    z->len = zh + zlen;
    z->flags = f->flags & SB_FRAME_BACKLOG;
    f->deflated = z;
    return z;
}

int sb_inflate_msg(const uint8_t *in, size_t len, size_t max, uint8_t **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    if (!iz_ready) {
        if (inflateInit2(&iz, -15) != Z_OK)
            return SB_ENOMEM;
        iz_ready = 1;
    } else {
        inflateReset(&iz);
    }
    size_t cap = len * 4 + 64;
    if (cap > max + 1)
        cap = max + 1;
    uint8_t *buf = malloc(cap + 1);
    if (!buf)
        return SB_ENOMEM;
    size_t used = 0;
    int rc = SB_OK;
    for (int part = 0; part < 2 && rc == SB_OK; part++) {
        iz.next_in = (Bytef *)(uintptr_t)(part == 0 ? in : tail);
        iz.avail_in = (uInt)(part == 0 ? len : sizeof(tail));
        while (iz.avail_in > 0 || part == 1) {
            if (used == cap) {
                if (cap > max) {
                    rc = SB_EINVAL; /* one byte past the limit: stop here */
                    break;
                }
                size_t ncap = cap * 2 > max + 1 ? max + 1 : cap * 2;
                uint8_t *nb = realloc(buf, ncap + 1);
                if (!nb) {
                    rc = SB_ENOMEM;
                    break;
                }
                buf = nb;
                cap = ncap;
            }
            iz.next_out = buf + used;
            iz.avail_out = (uInt)(cap - used);
            int z = inflate(&iz, Z_SYNC_FLUSH);
            used = cap - iz.avail_out;
            if (z == Z_STREAM_END)
                break; /* a final block: nothing may follow, the tail is ignored */
            if (z == Z_BUF_ERROR && iz.avail_in == 0 && iz.avail_out > 0)
                break; /* all input taken */
            if (z != Z_OK && z != Z_BUF_ERROR) {
                rc = z == Z_MEM_ERROR ? SB_ENOMEM : SB_EPROTO;
                break;
            }
            if (part == 1 && iz.avail_in == 0 && iz.avail_out > 0)
                break;
        }
        if (used > max && rc == SB_OK)
            rc = SB_EINVAL;
    }
    if (rc != SB_OK) {
        free(buf);
        return rc;
    }
    buf[used] = 0;
    *out = buf;
    *out_len = used;
    return SB_OK;
}

/* [p, end) without surrounding spaces and tabs. */
static void trim(const char **p, const char **end)
{
    while (*p < *end && (**p == ' ' || **p == '\t'))
        (*p)++;
    while (*end > *p && ((*end)[-1] == ' ' || (*end)[-1] == '\t'))
        (*end)--;
}

static int span_is(const char *p, const char *end, const char *word)
{
    size_t n = strlen(word);
    return (size_t)(end - p) == n && strncasecmp(p, word, n) == 0;
}

/* A window size value: 8..15, quoted or not. -> the bits | -1 */
static int window_bits(const char *p, const char *end)
{
    if (end - p >= 2 && *p == '"' && end[-1] == '"') {
        p++;
        end--;
    }
    if (end - p < 1 || end - p > 2)
        return -1;
    int v = 0;
    for (; p < end; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        v = v * 10 + (*p - '0');
    }
    return v >= 8 && v <= 15 ? v : -1;
}

/* One offer: "permessage-deflate; param[=value]; ...". -> 1 acceptable | 0 */
static int offer_ok(const char *p, const char *end)
{
    const char *semi = memchr(p, ';', (size_t)(end - p));
    const char *name_end = semi ? semi : end;
    const char *np = p;
    trim(&np, &name_end);
    if (!span_is(np, name_end, "permessage-deflate"))
        return 0;
    unsigned seen = 0;
    while (semi) {
        p = semi + 1;
        semi = memchr(p, ';', (size_t)(end - p));
        const char *pe = semi ? semi : end;
        trim(&p, &pe);
        const char *eq = memchr(p, '=', (size_t)(pe - p));
        const char *ke = eq ? eq : pe;
        const char *kp = p;
        trim(&kp, &ke);
        const char *vp = eq ? eq + 1 : NULL;
        if (vp)
            trim(&vp, &pe);
        unsigned bit;
        if (span_is(kp, ke, "server_no_context_takeover") && !vp) {
            bit = 1;
        } else if (span_is(kp, ke, "client_no_context_takeover") && !vp) {
            bit = 2;
        } else if (span_is(kp, ke, "server_max_window_bits") && vp) {
            if (window_bits(vp, pe) != 15)
                return 0; /* invalid, or a window we do not keep to */
            bit = 4;
        } else if (span_is(kp, ke, "client_max_window_bits")) {
            if (vp && window_bits(vp, pe) < 0)
                return 0;
            bit = 8;
        } else {
            return 0; /* unknown parameter, or a value where none belongs */
        }
        if (seen & bit)
            return 0;
        seen |= bit;
    }
    return 1;
}

int sb_deflate_negotiate(const char *offers)
{
    if (!offers)
        return 0;
    const char *p = offers;
    while (*p) {
        const char *comma = strchr(p, ',');
        const char *end = comma ? comma : p + strlen(p);
        if (offer_ok(p, end))
            return 1;
        if (!comma)
            break;
        p = comma + 1;
    }
    return 0;
}

void sb_deflate_free(void)
{
    if (dz_ready)
        deflateEnd(&dz);
    if (iz_ready)
        inflateEnd(&iz);
    dz_ready = iz_ready = 0;
}
