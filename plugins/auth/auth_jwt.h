/* JWT verification for [auth] mode = jwt, on Debian's libjwt 1.10.2, which
 * checks signatures but not claims: the algorithm pinning, exp, nbf and sub
 * rules of docs/protocol.md live here. No host calls: unit-tested on its own.
 */
#ifndef SB_AUTH_JWT_H
#define SB_AUTH_JWT_H

#include <stddef.h>
#include <stdint.h>

#include <jwt.h>

#include <switchboard/plugin.h>

#include "auth_tokens.h"

/* Longest token accepted, in bytes; a longer one is refused before parsing. */
#define AUTH_JWT_MAX 8192

typedef struct auth_jwt {
    jwt_alg_t alg;      /* the only algorithm accepted */
    unsigned char *key; /* HS256: the secret; RS256/ES256: the PEM text */
    size_t key_len;
    long leeway; /* seconds of clock skew allowed on exp and nbf */
} auth_jwt;

/* Set j up for alg ("HS256" | "RS256" | "ES256") with exactly one of secret
 * (HS256) or pem (RS256/ES256: a public key of the matching type); both are
 * copied. On error j is left empty and err says why.
 * -> SB_OK | SB_EINVAL | SB_ENOMEM */
int auth_jwt_setup(auth_jwt *j, const char *alg, const char *secret, const char *pem,
                   size_t pem_len, long leeway, char *err, size_t err_len);

/* Read a whole (small) file into a new NUL-terminated buffer (caller: free).
 * -> SB_OK | SB_ENOTFOUND | SB_EINVAL (too big, read error) | SB_ENOMEM */
int auth_jwt_read_file(const char *path, char **out, size_t *len, char *err, size_t err_len);

/* Verify token at time now_s (Unix seconds): signature with the pinned alg,
 * exp/nbf when present (with leeway), sub a string passing valid. On success
 * user holds sub; else why says what failed (safe to show the client).
 * -> SB_OK | SB_EINVAL | SB_ENOMEM */
int auth_jwt_verify(const auth_jwt *j, const char *token, int64_t now_s, auth_user_valid_fn valid,
                    char user[SB_USER_MAX + 1], char *why, size_t why_len);

/* Release j's key; j may be set up again. */
void auth_jwt_clear(auth_jwt *j);

#endif
