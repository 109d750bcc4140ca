/* RFC 6455 section 4.2.2: the client's Sec-WebSocket-Key must be base64 of 16
 * bytes, and the answer is base64(SHA-1(key + GUID)). SHA-1 and base64 come
 * from libcrypto. Stateless. */
#include "wskey.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <string.h>

#include "switchboard/plugin.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

static int is_b64(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

int sb_wskey_valid(const char *key, size_t len)
{
    if (!key || len != 24 || key[22] != '=' || key[23] != '=')
        return 0;
    for (size_t i = 0; i < 22; i++) {
        if (!is_b64(key[i]))
            return 0;
    }
    /* Any 22 digits + "==" decode to exactly 16 bytes; unused low bits of the
     * last digit are not checked (decoders ignore them too). */
    return 1;
}

int sb_wskey_accept(const char *key, size_t len, char out[29])
{
    if (!sb_wskey_valid(key, len))
        return SB_EINVAL;
    unsigned char buf[24 + sizeof(WS_GUID) - 1];
    memcpy(buf, key, 24);
    memcpy(buf + 24, WS_GUID, sizeof(WS_GUID) - 1);
    unsigned char digest[SHA_DIGEST_LENGTH];
    SHA1(buf, sizeof(buf), digest);
    EVP_EncodeBlock((unsigned char *)out, digest, SHA_DIGEST_LENGTH);
    out[28] = '\0';
    return SB_OK;
}
