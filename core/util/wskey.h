/* The WebSocket handshake key (RFC 6455 4.2.2): validation of the client's
 * Sec-WebSocket-Key and the Sec-WebSocket-Accept value (SHA-1 + base64 from
 * libcrypto). */
#ifndef SB_WSKEY_H
#define SB_WSKEY_H

#include <stddef.h>

/* Whether key is base64 of exactly 16 bytes (24 chars, "==" padded). */
int sb_wskey_valid(const char *key, size_t len);
/* out = base64(SHA-1(key + GUID)), 28 chars + NUL. -> SB_OK | SB_EINVAL */
int sb_wskey_accept(const char *key, size_t len, char out[29]);

#endif
