/* Request path -> file path under the web root (see web_path.h). The rules
 * are strict rather than clever: a segment that starts with '.' is refused
 * outright instead of being normalized, so "..", "%2e%2e", ".git" and
 * ".env" all answer 404, and no decoded byte can smuggle a '/' or a NUL. The
 * disk side (symlinks leaving the root) is checked in web.c with realpath. */
#include "web_path.h"

#include <string.h>

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decode one segment s[0..len) into out at *pos; -1 when refused. */
static int segment_append(const char *s, size_t len, char *out, size_t out_len, size_t *pos)
{
    size_t start = *pos;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '%') {
            if (i + 2 >= len)
                return -1; /* a truncated escape */
            int hi = hex_value(s[i + 1]), lo = hex_value(s[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            c = (unsigned char)(hi * 16 + lo);
            i += 2;
            if (c == '/' || c == '\\')
                return -1; /* an encoded separator: one segment must stay one */
        }
        if (c < 0x20 || c == 0x7f || c == '\\')
            return -1; /* NUL and control characters; backslash is nobody's separator here */
        if (*pos + 1 >= out_len)
            return -1;
        out[(*pos)++] = (char)c;
    }
    if (*pos == start || out[start] == '.')
        return -1; /* empty after decoding, ".", "..", or a hidden file */
    return 0;
}

int web_path_resolve(const char *prefix, const char *path, char *out, size_t out_len)
{
    if (out_len == 0)
        return WEB_PATH_REFUSED;
    size_t plen = strlen(prefix);
    if (plen == 0 || prefix[plen - 1] != '/' || strncmp(path, prefix, plen) != 0)
        goto refused;
    const char *p = path + plen;
    size_t pos = 0;
    int dir = 1; /* "" or a trailing '/' names a directory */
    while (*p) {
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > 0) {
            if (pos > 0) {
                if (pos + 1 >= out_len)
                    goto refused;
                out[pos++] = '/';
            }
            if (segment_append(p, len, out, out_len, &pos) != 0)
                goto refused;
            dir = end != NULL;
        }
        if (!end)
            break;
        p = end + 1;
    }
    if (dir && pos > 0) {
        if (pos + 1 >= out_len)
            goto refused;
        out[pos++] = '/';
    }
    out[pos] = '\0';
    return dir ? WEB_PATH_INDEX : WEB_PATH_FILE;

refused:
    out[0] = '\0'; /* one exit for every refusal: nothing half-written leaks out */
    return WEB_PATH_REFUSED;
}
