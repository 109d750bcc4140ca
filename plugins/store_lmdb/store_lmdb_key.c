/* store_lmdb key encoding: user\0id. Only the layout lives here; what the
 * keys point at (the message json) and the per-user counts are the db's. */
#include <string.h>

#include "store_lmdb_key.h"

int store_lmdb_key_user_ok(const char *user)
{
    if (!user)
        return 0;
    size_t n = strnlen(user, SB_USER_MAX + 1);
    return n >= 1 && n <= SB_USER_MAX;
}

int store_lmdb_key_id_ok(const char *id)
{
    return id && strnlen(id, SB_ID_LEN + 1) == SB_ID_LEN;
}

size_t store_lmdb_key_encode(const char *user, const char *id, char out[STORE_LMDB_KEY_MAX])
{
    if (!store_lmdb_key_user_ok(user) || !store_lmdb_key_id_ok(id))
        return 0;
    size_t ulen = strlen(user);
    memcpy(out, user, ulen);
    out[ulen] = '\0';
    memcpy(out + ulen + 1, id, SB_ID_LEN);
    return ulen + 1 + SB_ID_LEN;
}

size_t store_lmdb_key_start(const char *user, const char *after, char out[STORE_LMDB_KEY_MAX])
{
    if (!store_lmdb_key_user_ok(user))
        return 0;
    size_t alen = after ? strnlen(after, SB_ID_LEN + 1) : 0;
    if (alen > SB_ID_LEN)
        return 0;
    size_t ulen = strlen(user);
    memcpy(out, user, ulen);
    out[ulen] = '\0';
    if (alen)
        memcpy(out + ulen + 1, after, alen);
    return ulen + 1 + alen;
}

int store_lmdb_key_match(const void *key, size_t len, const char *user, size_t ulen,
                         const char **id)
{
    const char *k = key;
    if (len != ulen + 1 + SB_ID_LEN || k[ulen] != '\0' || memcmp(k, user, ulen) != 0)
        return 0;
    *id = k + ulen + 1;
    return 1;
}
