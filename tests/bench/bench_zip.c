/* sb-bench's permessage-deflate (RFC 7692) client side, without context takeover either way
 * (the offer asks for both), so every message stands alone and one zlib stream per worker and
 * direction serves all its connections: compress a text message before wslay frames it (RSV1),
 * inflate a server message wslay delivered with RSV1. */
#include "bench.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

struct bench_zip {
    z_stream def, inf;
    /* the last compressed [0] and inflated [1] message: a message being read may cause a
     * send, so the two never share a buffer */
    uint8_t *buf[2];
    size_t cap[2];
};

bench_zip *bench_zip_new(void)
{
    bench_zip *z = calloc(1, sizeof(*z));
    if (!z)
        return NULL;
    if (deflateInit2(&z->def, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) !=
        Z_OK) {
        free(z);
        return NULL;
    }
    if (inflateInit2(&z->inf, -15) != Z_OK) {
        deflateEnd(&z->def);
        free(z);
        return NULL;
    }
    return z;
}

void bench_zip_free(bench_zip *z)
{
    if (!z)
        return;
    deflateEnd(&z->def);
    inflateEnd(&z->inf);
    free(z->buf[0]);
    free(z->buf[1]);
    free(z);
}

static int zip_reserve(bench_zip *z, int which, size_t need)
{
    if (need <= z->cap[which])
        return 0;
    size_t cap = z->cap[which] ? z->cap[which] : 4096;
    while (cap < need)
        cap *= 2;
    uint8_t *p = realloc(z->buf[which], cap);
    if (!p)
        return -1;
    z->buf[which] = p;
    z->cap[which] = cap;
    return 0;
}

int bench_zip_deflate(bench_zip *z, const uint8_t *in, size_t len, const uint8_t **out,
                      size_t *out_len)
{
    /* the sync flush ends in 00 00 ff ff, which the RFC has the sender strip */
    if (zip_reserve(z, 0, deflateBound(&z->def, len) + 16) < 0 || deflateReset(&z->def) != Z_OK)
        return -1;
    z->def.next_in = (Bytef *)in;
    z->def.avail_in = (uInt)len;
    z->def.next_out = z->buf[0];
    z->def.avail_out = (uInt)z->cap[0];
    if (deflate(&z->def, Z_SYNC_FLUSH) != Z_OK || z->def.avail_in != 0)
        return -1;
    size_t n = z->cap[0] - z->def.avail_out;
    if (n < 4 || memcmp(z->buf[0] + n - 4, "\0\0\xff\xff", 4) != 0)
        return -1;
    *out = z->buf[0];
    *out_len = n - 4;
    return 0;
}

int bench_zip_inflate(bench_zip *z, const uint8_t *in, size_t len, const uint8_t **out,
                      size_t *out_len)
{
    static const uint8_t tail[4] = {0, 0, 0xff, 0xff};
    if (inflateReset(&z->inf) != Z_OK || zip_reserve(z, 1, len * 4 + 1024) < 0)
        return -1;
    size_t n = 0;
    for (int part = 0; part < 2; part++) {
        z->inf.next_in = (Bytef *)(part ? tail : in);
        z->inf.avail_in = (uInt)(part ? sizeof(tail) : len);
        while (z->inf.avail_in) {
            if (n == z->cap[1] && zip_reserve(z, 1, z->cap[1] * 2) < 0)
                return -1;
            z->inf.next_out = z->buf[1] + n;
            z->inf.avail_out = (uInt)(z->cap[1] - n);
            int rv = inflate(&z->inf, Z_SYNC_FLUSH);
            n = z->cap[1] - z->inf.avail_out;
            if (rv == Z_STREAM_END)
                break;
            if (rv != Z_OK && rv != Z_BUF_ERROR)
                return -1;
            if (rv == Z_BUF_ERROR && z->inf.avail_out)
                return -1; /* no progress with room left: truncated data */
        }
    }
    *out = z->buf[1];
    *out_len = n;
    return 0;
}
