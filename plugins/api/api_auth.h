/* The push API's key check: "Authorization: Bearer <api_key>", compared in
 * constant time. Pure: no host state, unit-tested on its own. */
#ifndef API_AUTH_H
#define API_AUTH_H

#include <stddef.h>

/* 1 when a[0..a_len) equals b[0..b_len), else 0. The time taken depends on
 * a_len and b_len only, never on where the bytes differ. */
int api_auth_equal(const char *a, size_t a_len, const char *b, size_t b_len);

/* 1 when the Authorization header value (NULL: absent) is "Bearer <key>"
 * (scheme case-insensitive, spaces around the token allowed) and key is
 * non-empty, else 0. */
int api_auth_check(const char *authorization, const char *key, size_t key_len);

#endif /* API_AUTH_H */
