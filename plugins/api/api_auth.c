/* Bearer-key check of the push API. The compare must not reveal how much of a
 * guess was right (a timing oracle would let a caller recover the key byte by
 * byte), so it reads every byte of the presented token whatever it holds.
 * Parsing the header is ordinary code: its shape is not secret. */
#include "api_auth.h"

#include <string.h>
#include <strings.h>

int api_auth_equal(const char *a, size_t a_len, const char *b, size_t b_len)
{
    /* Loop over the presented token (a), cycling through b, so the time
     * depends on the lengths only. A length mismatch is folded into the
     * accumulator instead of returning early. volatile keeps the compiler
     * from turning the loop back into an early-exit compare. */
    volatile unsigned char diff = 0;
    size_t len_diff = a_len ^ b_len;
    for (size_t i = 0; i < sizeof(len_diff); i++)
        diff |= (unsigned char)(len_diff >> (8 * i));
    if (b_len == 0)
        return 0;
    for (size_t i = 0, j = 0; i < a_len; i++) {
        diff |= (unsigned char)((unsigned char)a[i] ^ (unsigned char)b[j]);
        j = (j + 1 == b_len) ? 0 : j + 1;
    }
    return diff == 0;
}

static int api_auth_is_space(char c)
{
    return c == ' ' || c == '\t';
}

int api_auth_check(const char *authorization, const char *key, size_t key_len)
{
    static const char scheme[] = "Bearer";
    const size_t scheme_len = sizeof(scheme) - 1;

    if (!authorization || !key || key_len == 0)
        return 0;
    const char *p = authorization;
    while (api_auth_is_space(*p))
        p++;
    if (strncasecmp(p, scheme, scheme_len) != 0 || !api_auth_is_space(p[scheme_len]))
        return 0;
    p += scheme_len;
    while (api_auth_is_space(*p))
        p++;
    size_t len = strlen(p);
    while (len > 0 && api_auth_is_space(p[len - 1]))
        len--;
    if (len == 0)
        return 0;
    return api_auth_equal(p, len, key, key_len);
}
