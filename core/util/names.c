/* Names: decoding and validation shared by the handshake, the host API and
 * (through it) every plugin, so the WebSocket and HTTP sides agree. */
#include "names.h"

#include <string.h>

#include "switchboard/plugin.h"
#include "utf8.h"

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int sb_url_decode(const char *s, size_t len, char *out, size_t out_len)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        int ch = (unsigned char)s[i];
        if (ch == '%') {
            if (i + 2 >= len)
                return SB_EINVAL;
            int h = hexval((unsigned char)s[i + 1]), l = hexval((unsigned char)s[i + 2]);
            if (h < 0 || l < 0)
                return SB_EINVAL;
            ch = h * 16 + l;
            i += 2;
        }
        if (o + 1 >= out_len)
            return SB_EINVAL;
        out[o++] = (char)ch;
    }
    if (o >= out_len)
        return SB_EINVAL;
    out[o] = 0;
    if (memchr(out, 0, o))
        return SB_EINVAL; /* %00 would cut the value */
    return SB_OK;
}

int sb_query_param(const char *query, const char *name, char *out, size_t out_len)
{
    size_t nl = strlen(name);
    const char *p = query;
    while (p && *p) {
        const char *end = strchr(p, '&');
        size_t seg = end ? (size_t)(end - p) : strlen(p);
        if (seg >= nl && strncmp(p, name, nl) == 0 && (seg == nl || p[nl] == '=')) {
            const char *v = seg == nl ? p + nl : p + nl + 1;
            size_t vl = seg == nl ? 0 : seg - nl - 1;
            return sb_url_decode(v, vl, out, out_len);
        }
        p = end ? end + 1 : NULL;
    }
    return SB_ENOTFOUND;
}

int sb_user_valid(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > SB_USER_MAX || strcmp(s, "0") == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '@' || c == ':' || c == '-'))
            return 0;
    }
    return 1;
}

int sb_room_valid(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > SB_ROOM_MAX || !sb_utf8_valid((const uint8_t *)s, n))
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 0;
    return 1;
}
