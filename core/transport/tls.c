/* TLS sessions over OpenSSL with the socket BIO: one SSL_CTX for the
 * process, swapped whole on reload (each SSL holds a reference to the
 * context it began with, so open connections are not disturbed). Writes
 * coalesce the output queue's iovecs into records of at most 16 KiB; a write
 * that would block is retried by the queue with the same bytes at the front,
 * which is what OpenSSL requires (moving buffer allowed). */
#include "tls.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "log.h"
#include "switchboard/plugin.h"

#define TLS_RECORD 16384

static SSL_CTX *ctx;
static char cert_path[4096], key_path[4096];
static int min_version;

/* The last OpenSSL error as text, the queue emptied. */
static const char *tls_reason(char *buf, size_t len)
{
    unsigned long e = ERR_peek_last_error();
    if (!e) {
        snprintf(buf, len, "%s", errno ? strerror(errno) : "unknown error");
    } else {
        ERR_error_string_n(e, buf, len);
        const char *r = ERR_reason_error_string(e);
        if (r)
            snprintf(buf, len, "%s", r);
    }
    ERR_clear_error();
    return buf;
}

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg)
{
    (void)ssl;
    (void)arg;
    static const unsigned char http11[] = "\x08http/1.1";
    if (SSL_select_next_proto((unsigned char **)out, outlen, http11, sizeof(http11) - 1, in,
                              inlen) == OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_OK;
    return SSL_TLSEXT_ERR_NOACK; /* h2 only: go on without ALPN, HTTP/1.1 is all we speak */
}

/* A context from the files, or NULL with the file and reason logged. */
static SSL_CTX *tls_ctx_load(void)
{
    char why[256];
    ERR_clear_error();
    errno = 0;
    SSL_CTX *c = SSL_CTX_new(TLS_server_method());
    if (!c) {
        sb_log(SB_LOG_ERROR, "TLS: cannot make a context: %s", tls_reason(why, sizeof(why)));
        return NULL;
    }
    SSL_CTX_set_min_proto_version(c, min_version == 13 ? TLS1_3_VERSION : TLS1_2_VERSION);
    SSL_CTX_set_options(c, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                               SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_mode(c, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                            SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_alpn_select_cb(c, alpn_select, NULL);
    /* Resumption through stateless tickets only: a server-side cache would
     * keep a session per connection in memory. */
    SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
    errno = 0;
    if (SSL_CTX_use_certificate_chain_file(c, cert_path) != 1) {
        sb_log(SB_LOG_ERROR, "TLS: tls_cert %s: %s", cert_path, tls_reason(why, sizeof(why)));
        SSL_CTX_free(c);
        return NULL;
    }
    errno = 0;
    if (SSL_CTX_use_PrivateKey_file(c, key_path, SSL_FILETYPE_PEM) != 1) {
        sb_log(SB_LOG_ERROR, "TLS: tls_key %s: %s", key_path, tls_reason(why, sizeof(why)));
        SSL_CTX_free(c);
        return NULL;
    }
    if (SSL_CTX_check_private_key(c) != 1) {
        sb_log(SB_LOG_ERROR, "TLS: tls_key %s does not match tls_cert %s: %s", key_path, cert_path,
               tls_reason(why, sizeof(why)));
        SSL_CTX_free(c);
        return NULL;
    }
    /* Every client would refuse it: at start that is a config error, on
     * reload the certificate in force stays. */
    X509 *x = SSL_CTX_get0_certificate(c);
    if (x && X509_cmp_current_time(X509_get0_notAfter(x)) < 0) {
        sb_log(SB_LOG_ERROR, "TLS: tls_cert %s: certificate has expired", cert_path);
        SSL_CTX_free(c);
        return NULL;
    }
    return c;
}

int sb_tls_init(const sb_server_cfg *cfg)
{
    snprintf(cert_path, sizeof(cert_path), "%s", cfg->tls_cert);
    snprintf(key_path, sizeof(key_path), "%s", cfg->tls_key);
    min_version = cfg->tls_min_version;
    ctx = tls_ctx_load();
    return ctx ? SB_OK : SB_EINVAL;
}

int sb_tls_reload(void)
{
    if (!ctx)
        return SB_OK; /* no TLS listener */
    SSL_CTX *c = tls_ctx_load();
    if (!c) {
        sb_log(SB_LOG_WARN, "TLS: reload failed, the certificate in force stays");
        return SB_EINVAL;
    }
    SSL_CTX_free(ctx); /* open sessions hold their own reference */
    ctx = c;
    sb_log(SB_LOG_INFO, "TLS: reloaded %s", cert_path);
    return SB_OK;
}

void sb_tls_free(void)
{
    SSL_CTX_free(ctx);
    ctx = NULL;
}

sb_tls *sb_tls_new(int fd)
{
    if (!ctx)
        return NULL;
    SSL *s = SSL_new(ctx);
    if (!s)
        return NULL;
    if (SSL_set_fd(s, fd) != 1) {
        SSL_free(s);
        return NULL;
    }
    SSL_set_accept_state(s);
    return s;
}

void sb_tls_conn_free(sb_tls *t)
{
    SSL_free(t);
}

int sb_tls_handshake(sb_tls *t, int *want_write)
{
    *want_write = 0;
    ERR_clear_error();
    int r = SSL_do_handshake(t);
    if (r == 1)
        return 1;
    int e = SSL_get_error(t, r);
    if (e == SSL_ERROR_WANT_READ)
        return 0;
    if (e == SSL_ERROR_WANT_WRITE) {
        *want_write = 1;
        return 0;
    }
    char why[256];
    sb_log(SB_LOG_DEBUG, "TLS handshake failed: %s",
           e == SSL_ERROR_SYSCALL && !ERR_peek_last_error() ? "connection closed"
                                                            : tls_reason(why, sizeof(why)));
    ERR_clear_error();
    return -1;
}

/* errno for an SSL_get_error result: EAGAIN to wait, 0 for a clean close. */
static ssize_t tls_fail(sb_tls *t, int r)
{
    int e = SSL_get_error(t, r);
    ERR_clear_error();
    switch (e) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    case SSL_ERROR_SYSCALL:
        if (errno == 0)
            errno = ECONNRESET;
        return -1;
    default:
        errno = EPROTO;
        return -1;
    }
}

ssize_t sb_tls_read(sb_tls *t, void *buf, size_t len)
{
    if (len > INT_MAX)
        len = INT_MAX;
    ERR_clear_error();
    errno = 0;
    int r = SSL_read(t, buf, (int)len);
    if (r > 0)
        return r;
    return tls_fail(t, r);
}

ssize_t sb_tls_writev(sb_tls *t, const struct iovec *iov, int n)
{
    /* One record's worth, gathered: small frames of a fan-out share a record.
     * The queue offers the same leading bytes again after EAGAIN. */
    unsigned char rec[TLS_RECORD];
    size_t len = 0;
    const void *one = NULL;
    for (int i = 0; i < n && len < sizeof(rec); i++) {
        size_t take = iov[i].iov_len;
        if (i == 0 && take >= sizeof(rec)) {
            one = iov[0].iov_base; /* a large frame: straight from its buffer */
            len = sizeof(rec);
            break;
        }
        if (take > sizeof(rec) - len)
            take = sizeof(rec) - len;
        memcpy(rec + len, iov[i].iov_base, take);
        len += take;
    }
    if (len == 0)
        return 0;
    ERR_clear_error();
    errno = 0;
    int r = SSL_write(t, one ? one : rec, (int)len);
    if (r > 0)
        return r;
    return tls_fail(t, r);
}

int sb_tls_write_wants_read(sb_tls *t)
{
    return SSL_want_read(t);
}

int sb_tls_read_wants_write(sb_tls *t)
{
    return SSL_want_write(t);
}

int sb_tls_pending(sb_tls *t)
{
    return SSL_pending(t) > 0;
}

void sb_tls_shutdown(sb_tls *t)
{
    ERR_clear_error();
    if (SSL_is_init_finished(t))
        SSL_shutdown(t);
    ERR_clear_error();
}
