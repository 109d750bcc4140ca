/* Refcounted frames: building WebSocket frame headers (RFC 6455 5.2, server
 * side, never masked) and the JSON envelope text in one allocation. */
#include "frame.h"

#include <stdlib.h>
#include <string.h>

sb_frame *sb_frame_alloc(size_t len)
{
    sb_frame *f = malloc(sizeof(*f) + len);
    if (!f)
        return NULL;
    f->refs = 1;
    f->flags = 0;
    f->deflated = NULL;
    f->len = len;
    return f;
}

size_t sb_frame_ws_header_len(size_t len)
{
    return len < 126 ? 2 : len < 65536 ? 4 : 10;
}

const char *sb_frame_payload(const sb_frame *f, size_t *len)
{
    size_t len7 = f->data[1] & 0x7f;
    size_t off = len7 == 126 ? 4 : len7 == 127 ? 10 : 2;
    *len = f->len - off;
    return (const char *)f->data + off;
}

static void ws_header_write(uint8_t *p, int opcode, size_t len)
{
    p[0] = (uint8_t)(0x80 | (opcode & 0x0f));
    if (len < 126) {
        p[1] = (uint8_t)len;
    } else if (len < 65536) {
        p[1] = 126;
        p[2] = (uint8_t)(len >> 8);
        p[3] = (uint8_t)len;
    } else {
        p[1] = 127;
        for (int i = 0; i < 8; i++)
            p[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
    }
}

sb_frame *sb_frame_ws(int opcode, const void *payload, size_t len)
{
    size_t h = sb_frame_ws_header_len(len);
    sb_frame *f = sb_frame_alloc(h + len);
    if (!f)
        return NULL;
    ws_header_write(f->data, opcode, len);
    if (len)
        memcpy(f->data + h, payload, len);
    if (opcode == 8)
        f->flags |= SB_FRAME_CLOSE;
    return f;
}

sb_frame *sb_frame_ws_close(int code, const char *reason)
{
    uint8_t body[125];
    size_t n = 0;
    if (code > 0) {
        body[0] = (uint8_t)(code >> 8);
        body[1] = (uint8_t)code;
        n = 2;
        if (reason) {
            size_t r = strlen(reason);
            if (r > sizeof(body) - 2)
                r = sizeof(body) - 2;
            /* Never cut a UTF-8 sequence: back off continuation bytes. */
            while (r > 0 && r < strlen(reason) && ((unsigned char)reason[r] & 0xc0) == 0x80)
                r--;
            memcpy(body + 2, reason, r);
            n += r;
        }
    }
    return sb_frame_ws(8, body, n);
}

sb_frame *sb_frame_raw(const void *bytes, size_t len)
{
    sb_frame *f = sb_frame_alloc(len);
    if (f && len)
        memcpy(f->data, bytes, len);
    return f;
}

sb_frame *sb_frame_envelope(const char *type, const char *ref_json, const char *data_json,
                            size_t data_len)
{
    /* type is one of our own identifiers ([a-z_]), so it needs no escaping;
     * ref_json is already JSON text. */
    static const char p1[] = "{\"type\":\"",
                      p2[] = "\",\"ref\":", p3[] = ",\"data\":", p3b[] = "\",\"data\":";
    size_t tl = strlen(type), rl = ref_json ? strlen(ref_json) : 0;
    size_t payload = sizeof(p1) - 1 + tl +
                     (ref_json ? sizeof(p2) - 1 + rl + sizeof(p3) - 1 : sizeof(p3b) - 1) +
                     data_len + 1;
    size_t h = sb_frame_ws_header_len(payload);
    sb_frame *f = sb_frame_alloc(h + payload);
    if (!f)
        return NULL;
    ws_header_write(f->data, 1, payload);
    uint8_t *p = f->data + h;
#define PUT(s, n)                                                                                  \
    do {                                                                                           \
        memcpy(p, s, n);                                                                           \
        p += n;                                                                                    \
    } while (0)
    PUT(p1, sizeof(p1) - 1);
    PUT(type, tl);
    if (ref_json) {
        PUT(p2, sizeof(p2) - 1);
        PUT(ref_json, rl);
        PUT(p3, sizeof(p3) - 1);
    } else {
        PUT(p3b, sizeof(p3b) - 1);
    }
    PUT(data_json, data_len);
    *p++ = '}';
#undef PUT
    return f;
}

void sb_frame_unref(sb_frame *f)
{
    if (f && --f->refs == 0) {
        sb_frame_unref(f->deflated);
        free(f);
    }
}
