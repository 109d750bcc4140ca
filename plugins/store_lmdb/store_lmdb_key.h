/* store_lmdb keys: user, a 0 byte, then the fixed-width message id. The 0
 * byte sorts below every user character, so one user's keys form one
 * contiguous range that never runs into a longer name (bob before bob2). */
#ifndef STORE_LMDB_KEY_H
#define STORE_LMDB_KEY_H

#include <stddef.h>

#include "switchboard/plugin.h"

/* The longest key: a user of SB_USER_MAX bytes, the 0 byte, an id. */
#define STORE_LMDB_KEY_MAX (SB_USER_MAX + 1 + SB_ID_LEN)

/* Whether user is 1..SB_USER_MAX bytes (a C string holds no 0 byte). */
int store_lmdb_key_user_ok(const char *user);
/* Whether id is exactly SB_ID_LEN bytes. */
int store_lmdb_key_id_ok(const char *id);
/* Write user\0id into out. -> the key length, or 0 when user or id is invalid. */
size_t store_lmdb_key_encode(const char *user, const char *id, char out[STORE_LMDB_KEY_MAX]);
/* Write where a scan of user's inbox starts: user\0 followed by after (NULL:
 * nothing, the first key of the user). -> the length, or 0 when user is
 * invalid or after is longer than an id. */
size_t store_lmdb_key_start(const char *user, const char *after, char out[STORE_LMDB_KEY_MAX]);
/* Whether key[0..len) is a message key of the user with ulen bytes; on yes,
 * *id points at its SB_ID_LEN id bytes inside key (not NUL-terminated). */
int store_lmdb_key_match(const void *key, size_t len, const char *user, size_t ulen,
                         const char **id);

#endif
