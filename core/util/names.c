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

/* The bytes of a user id: [A-Za-z0-9._@:-]. A table, since every message's
 * recipients are checked byte by byte. */
#define U1(c) [c] = 1
static const unsigned char user_byte[256] = {
    U1('.'), U1('_'), U1('@'), U1(':'), U1('-'), U1('0'), U1('1'), U1('2'), U1('3'), U1('4'),
    U1('5'), U1('6'), U1('7'), U1('8'), U1('9'), U1('a'), U1('b'), U1('c'), U1('d'), U1('e'),
    U1('f'), U1('g'), U1('h'), U1('i'), U1('j'), U1('k'), U1('l'), U1('m'), U1('n'), U1('o'),
    U1('p'), U1('q'), U1('r'), U1('s'), U1('t'), U1('u'), U1('v'), U1('w'), U1('x'), U1('y'),
    U1('z'), U1('A'), U1('B'), U1('C'), U1('D'), U1('E'), U1('F'), U1('G'), U1('H'), U1('I'),
    U1('J'), U1('K'), U1('L'), U1('M'), U1('N'), U1('O'), U1('P'), U1('Q'), U1('R'), U1('S'),
    U1('T'), U1('U'), U1('V'), U1('W'), U1('X'), U1('Y'), U1('Z'),
};
#undef U1

int sb_user_valid(const char *s)
{
    if (!s || (s[0] == '0' && s[1] == '\0'))
        return 0;
    size_t n = 0;
    while (user_byte[(unsigned char)s[n]]) /* stops at the NUL, which is not one */
        if (++n > SB_USER_MAX)
            return 0;
    return n > 0 && s[n] == '\0';
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
