/* Fuzz target: core/util/names.c. Every output buffer is a heap block of exactly
 * out_len bytes and every input exactly its length, so a write or read one
 * byte past either is an ASan report. Results are compared with reference
 * versions written here from names.h and docs/protocol.md section 1. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "names.h"
#include "switchboard/plugin.h"
#include "utf8.h"

static int hexv(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
        return (c | 0x20) - 'a' + 10;
    return -1;
}

/* Percent-decoding ('+' stays '+'); -1 on a bad escape or a decoded NUL. */
static long ref_decode(const char *s, size_t len, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        int c = (unsigned char)s[i];
        if (c == '%') {
            if (i + 2 >= len || hexv((unsigned char)s[i + 1]) < 0 ||
                hexv((unsigned char)s[i + 2]) < 0)
                return -1;
            c = hexv((unsigned char)s[i + 1]) * 16 + hexv((unsigned char)s[i + 2]);
            i += 2;
        }
        if (c == 0)
            return -1;
        out[o++] = (char)c;
    }
    return (long)o;
}

static int user_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           strchr("._@:-", c) != NULL;
}

static int ref_user_valid(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 64 || strcmp(s, "0") == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!user_char((unsigned char)s[i]))
            return 0;
    return 1;
}

static int ref_room_valid(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > SB_ROOM_MAX || !sb_utf8_valid((const uint8_t *)s, n))
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 0;
    return 1;
}

static void check_decode(const char *s, size_t len, size_t out_len)
{
    char *out = malloc(out_len); /* ASan flags any access to a 0-byte block */
    char *ref = malloc(len + 1);
    if ((!out && out_len) || !ref)
        abort();
    int rc = sb_url_decode(s, len, out, out_len);
    long n = ref_decode(s, len, ref);
    int fits = n >= 0 && (size_t)n + 1 <= out_len;
    if ((rc == SB_OK) != fits)
        abort();
    if (rc == SB_OK && (strlen(out) != (size_t)n || memcmp(out, ref, (size_t)n) != 0))
        abort();
    if (rc != SB_OK && rc != SB_EINVAL)
        abort();
    free(out);
    free(ref);
}

static char *dup_exact(const uint8_t *p, size_t n)
{
    char *s = malloc(n + 1);
    if (!s)
        abort();
    memcpy(s, p, n);
    s[n] = 0;
    return s;
}

/* Input: out_len byte, then name, a NUL, then the query (or one string). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t out_len = data[0];
    const uint8_t *rest = data + 1;
    size_t n = size - 1;

    /* url_decode over the raw bytes: an exact-size input, no NUL needed. */
    char *raw = malloc(n ? n : 1);
    if (!raw)
        abort();
    memcpy(raw, rest, n);
    check_decode(raw, n, out_len);
    check_decode(raw, n, n + 1); /* always big enough */
    free(raw);

    const uint8_t *nul = memchr(rest, 0, n);
    char *whole = dup_exact(rest, nul ? (size_t)(nul - rest) : n);
    if (sb_user_valid(whole) != ref_user_valid(whole))
        abort();
    if (sb_room_valid(whole) != ref_room_valid(whole))
        abort();
    if (nul) {
        char *query = dup_exact(nul + 1, n - (size_t)(nul - rest) - 1);
        char *out = malloc(out_len);
        if (!out && out_len)
            abort();
        int rc = sb_query_param(query, whole, out, out_len);
        if (rc != SB_OK && rc != SB_ENOTFOUND && rc != SB_EINVAL)
            abort();
        if (rc == SB_OK) {
            size_t l = strnlen(out, out_len);
            if (l >= out_len)
                abort(); /* not terminated inside the buffer */
            /* A valid user id is made of the allowed characters only. */
            if (sb_user_valid(out)) {
                if (l < 1 || l > SB_USER_MAX || strcmp(out, "0") == 0)
                    abort();
                for (size_t i = 0; i < l; i++)
                    if (!user_char((unsigned char)out[i]))
                        abort();
            }
        }
        free(out);
        free(query);
    }
    free(whole);
    return 0;
}
