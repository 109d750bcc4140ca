/* TLS over OpenSSL for the connections of the TLS listener: the server's
 * context (certificate, key, minimum version, ALPN http/1.1, renegotiation
 * off, buffers released while idle), its reload on SIGHUP, and each
 * connection's non-blocking handshake, reads and writes. Plain connections
 * never come here: conn.c picks recv/writev or these per connection. */
#ifndef SB_TLS_H
#define SB_TLS_H

#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "config.h"

typedef struct ssl_st sb_tls; /* OpenSSL's SSL */

/* Load cfg's tls_cert and tls_key; logs file and reason on failure.
 * -> SB_OK | SB_EINVAL */
int sb_tls_init(const sb_server_cfg *cfg);
/* Load the files again; on failure the context in force stays (logged).
 * Open connections keep the context they started with. -> SB_OK | SB_EINVAL */
int sb_tls_reload(void);
void sb_tls_free(void);

/* A server-side TLS session on a connected socket; NULL on ENOMEM. */
sb_tls *sb_tls_new(int fd);
void sb_tls_conn_free(sb_tls *t);
/* Advance the handshake. -> 1 done | 0 waiting for the socket (*want_write:
 * for writability) | -1 failed (logged at debug) */
int sb_tls_handshake(sb_tls *t, int *want_write);
/* recv/writev semantics: -1 with errno EAGAIN when the socket would block,
 * 0 on the peer's close, -1 with another errno on an error. */
ssize_t sb_tls_read(sb_tls *t, void *buf, size_t len);
ssize_t sb_tls_writev(sb_tls *t, const struct iovec *iov, int n);
/* After sb_tls_writev failed with EAGAIN: 1 if OpenSSL waits for the peer's
 * bytes (a handshake message), not for room in the socket; the write is
 * retried once the socket is readable. */
int sb_tls_write_wants_read(sb_tls *t);
/* After sb_tls_read failed with EAGAIN: 1 if OpenSSL must send a message
 * first (the answer to a TLS 1.3 KeyUpdate) and the socket is full; the
 * read is retried once the socket is writable. */
int sb_tls_read_wants_write(sb_tls *t);
/* Decrypted bytes waiting inside OpenSSL (the socket will not signal them). */
int sb_tls_pending(sb_tls *t);
/* Queue our close_notify (best effort, never blocks). */
void sb_tls_shutdown(sb_tls *t);

#endif
