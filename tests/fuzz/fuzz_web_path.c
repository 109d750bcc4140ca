/* Fuzz target: plugins/web/web_path.c, the request path -> file path mapping
 * that keeps the web plugin inside its root. Input: one byte choosing the
 * prefix and the output size, then the path. On every accepted path the
 * output must keep the promises of web_path.h (no leading '/', no "//", no
 * segment starting with '.', no control character or backslash, '/' at the
 * end exactly for a directory), and resolving it again must give it back.
 * The output buffer is a heap block of exactly out_len bytes, so a write
 * past it is an ASan report. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "web_path.h"

static const char *const prefixes[] = {"/", "/static/", "/a/b/", "/x"};

static void check_output(const char *out, int kind)
{
    size_t len = strlen(out);
    if (out[0] == '/' || strstr(out, "//"))
        abort();
    if (kind == WEB_PATH_FILE && (len == 0 || out[len - 1] == '/'))
        abort();
    if (kind == WEB_PATH_INDEX && len > 0 && out[len - 1] != '/')
        abort();
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)out[i];
        if (c < 0x20 || c == 0x7f || c == '\\')
            abort();
        if ((i == 0 || out[i - 1] == '/') && (c == '.' || c == '/'))
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *prefix = prefixes[data[0] & 3];
    size_t out_len = (data[0] >> 2) == 0 ? 4096 : (size_t)(data[0] >> 2);
    char *path = malloc(size); /* data[1..size) + NUL */
    if (!path)
        return 0;
    memcpy(path, data + 1, size - 1);
    path[size - 1] = '\0';
    char *out = malloc(out_len);
    if (!out) {
        free(path);
        return 0;
    }
    int kind = web_path_resolve(prefix, path, out, out_len);
    if (kind != WEB_PATH_REFUSED) {
        if (kind != WEB_PATH_FILE && kind != WEB_PATH_INDEX)
            abort();
        if (strncmp(path, prefix, strlen(prefix)) != 0)
            abort(); /* only paths under the prefix */
        check_output(out, kind);
        if (!strchr(out, '%')) {
            /* The output names itself: prefix + out resolves to out again. */
            size_t plen = strlen(prefix), olen = strlen(out);
            char *again_path = malloc(plen + olen + 1);
            char *again = malloc(olen + 1);
            if (again_path && again) {
                memcpy(again_path, prefix, plen);
                memcpy(again_path + plen, out, olen + 1);
                int k2 = web_path_resolve(prefix, again_path, again, olen + 1);
                if (k2 != kind || strcmp(again, out) != 0)
                    abort();
            }
            free(again_path);
            free(again);
        }
    } else if (out_len > 0 && out[0] != '\0') {
        abort(); /* a refusal leaves an empty string */
    }
    free(out);
    free(path);
    return 0;
}
