/* The static token table of [auth] mode = static: "TOKEN USER" lines read from
 * tokens_file. Tokens are kept only as SHA-256 digests, sorted, so a lookup
 * never compares secrets byte by byte and the table holds no plain tokens.
 * No host calls here: the parser is unit-tested on its own.
 */
#ifndef SB_AUTH_TOKENS_H
#define SB_AUTH_TOKENS_H

#include <stddef.h>
#include <stdio.h>

typedef struct auth_tokens auth_tokens;

/* Whether a user name is acceptable (host->user_valid in the plugin). */
typedef int (*auth_user_valid_fn)(const char *user);
/* One bad line of the file: its 1-based number and why it was skipped. */
typedef void (*auth_warn_fn)(void *arg, size_t line, const char *why);

/* Read "TOKEN USER" lines from f: blank lines and lines starting with '#' are
 * ignored; a bad line (field count, invalid user, duplicate token: the first
 * one wins) is reported through warn (may be NULL) and skipped.
 * -> a new table in *out (auth_tokens_free) | NULL with SB_ENOMEM / SB_EINVAL (read error) */
int auth_tokens_parse(FILE *f, auth_user_valid_fn valid, auth_warn_fn warn, void *warn_arg,
                      auth_tokens **out);

/* auth_tokens_parse on the file at path; err says why it could not be opened.
 * -> SB_OK | SB_ENOTFOUND (cannot open) | SB_EINVAL | SB_ENOMEM */
int auth_tokens_load(const char *path, auth_user_valid_fn valid, auth_warn_fn warn, void *warn_arg,
                     auth_tokens **out, char *err, size_t err_len);

/* The user of token (borrowed from the table), or NULL. */
const char *auth_tokens_lookup(const auth_tokens *t, const char *token, size_t len);

size_t auth_tokens_count(const auth_tokens *t);

void auth_tokens_free(auth_tokens *t);

#endif
