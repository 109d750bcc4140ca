/* sb-bench's TLS client for wss:// URLs: one client context for the run, trusting --ca (or,
 * without it, any certificate: a benchmark measures the server, it does not authenticate
 * it), and per connection a non-blocking handshake, then reads and writes with read and
 * write's contract so bench_conn.c treats both transports alike. */
#include "bench.h"

#include <errno.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>

static SSL_CTX *ctx;

int bench_tls_init(const char *ca_file)
{
    static const unsigned char alpn[] = "\x08http/1.1";
    ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx)
        return -1;
    /* The output buffer moves (memmove after a partial write) and only grows between
     * retries, which is what these two modes allow. */
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_alpn_protos(ctx, alpn, sizeof(alpn) - 1);
    if (ca_file) {
        if (SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
            fprintf(stderr, "sb-bench: --ca %s: %s\n", ca_file,
                    ERR_reason_error_string(ERR_get_error()));
            SSL_CTX_free(ctx);
            ctx = NULL;
            return -1;
        }
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    }
    return 0;
}

void bench_tls_free(void)
{
    SSL_CTX_free(ctx);
    ctx = NULL;
}

bench_ssl *bench_tls_new(int fd, const char *host)
{
    SSL *s = ctx ? SSL_new(ctx) : NULL;
    if (!s)
        return NULL;
    if (SSL_set_fd(s, fd) != 1 || SSL_set1_host(s, host) != 1) {
        SSL_free(s);
        return NULL;
    }
    SSL_set_connect_state(s);
    return s;
}

void bench_tls_conn_free(bench_ssl *s)
{
    SSL_free(s);
}

int bench_tls_handshake(bench_ssl *s, int *want_write)
{
    *want_write = 0;
    ERR_clear_error();
    int r = SSL_do_handshake(s);
    if (r == 1)
        return 1;
    int e = SSL_get_error(s, r);
    if (e == SSL_ERROR_WANT_READ)
        return 0;
    if (e == SSL_ERROR_WANT_WRITE) {
        *want_write = 1;
        return 0;
    }
    ERR_clear_error();
    return -1;
}

/* errno for an SSL_get_error result, as read and write would set it. */
static ssize_t tls_fail(bench_ssl *s, int r)
{
    int e = SSL_get_error(s, r);
    ERR_clear_error();
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        errno = EAGAIN;
        return -1;
    }
    if (e == SSL_ERROR_ZERO_RETURN)
        return 0;
    if (e != SSL_ERROR_SYSCALL || errno == 0)
        errno = e == SSL_ERROR_SYSCALL ? ECONNRESET : EPROTO;
    return -1;
}

ssize_t bench_tls_read(bench_ssl *s, void *buf, size_t len)
{
    ERR_clear_error();
    errno = 0;
    int r = SSL_read(s, buf, len > INT_MAX ? INT_MAX : (int)len);
    return r > 0 ? r : tls_fail(s, r);
}

ssize_t bench_tls_write(bench_ssl *s, const void *buf, size_t len)
{
    ERR_clear_error();
    errno = 0;
    int r = SSL_write(s, buf, len > INT_MAX ? INT_MAX : (int)len);
    return r > 0 ? r : tls_fail(s, r);
}

int bench_tls_pending(bench_ssl *s)
{
    return SSL_pending(s) > 0;
}
