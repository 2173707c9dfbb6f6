/* One TLS connection over memory BIOs (tls.h): ciphertext in through bg_tls_conn_feed(),
 * plaintext out of bg_tls_conn_read(), plaintext in through bg_tls_conn_write(),
 * ciphertext out of bg_tls_conn_take_output(). No socket, no blocking: the proxy's
 * transport (src/proxy/transport.c) moves the bytes and keeps the backpressure.
 * Handshakes are counted here (version, full or resumed, failure reason).
 */
#include "tls/tls.h"

#include <string.h>

#include <openssl/err.h>
#include <uv.h>

#include "base/base.h"
#include "tls/internal.h"
#include "base/compat.h"

static const char *const fail_names[] = {"protocol", "cipher", "http", "closed",
                                         "timeout", "alert", "other"};

const char *bg_tls_fail_str(bg_tls_fail_t f)
{
    return (unsigned)f < BG_ARRAY_LEN(fail_names) ? fail_names[f] : "other";
}

void bg_tls_conn_init(bg_tls_conn_t *tc, bg_tls_t *t)
{
    memset(tc, 0, sizeof(*tc));
    tc->tls = t;
    tc->set = tls_certset_take(t);
    tc->ssl = SSL_new(tc->set->certs[tc->set->def].ctx);
    BG_ASSERT(tc->ssl != NULL);
    tc->rbio = BIO_new(BIO_s_mem());
    tc->wbio = BIO_new(BIO_s_mem());
    BG_ASSERT(tc->rbio != NULL && tc->wbio != NULL);
    /* an empty memory BIO reports "retry", not EOF */
    BIO_set_mem_eof_return(tc->rbio, -1);
    BIO_set_mem_eof_return(tc->wbio, -1);
    SSL_set_bio(tc->ssl, tc->rbio, tc->wbio);
    SSL_set_accept_state(tc->ssl);
}

static void count_fail(bg_tls_conn_t *tc, bg_tls_fail_t f)
{
    if (tc->failed_counted || tc->handshake_done)
        return;
    tc->failed_counted = true;
    atomic_fetch_add_explicit(&tc->tls->stats.failed[f], 1, memory_order_relaxed);
}

void bg_tls_conn_fini(bg_tls_conn_t *tc, bg_tls_fail_t unfinished)
{
    if (tc->ssl == NULL)
        return;
    /* a connection that sent nothing at all is a port probe, not a failed handshake */
    if (!tc->handshake_done && SSL_in_before(tc->ssl) == 0)
        count_fail(tc, unfinished);
    SSL_free(tc->ssl);
    tc->ssl = NULL;
    tc->rbio = tc->wbio = NULL;
    tls_certset_unref(tc->set);
    tc->set = NULL;
}

void bg_tls_conn_feed(bg_tls_conn_t *tc, const char *p, size_t n)
{
    BG_ASSERT(BIO_write(tc->rbio, p, (int)n) == (int)n);
}

bool bg_tls_conn_has_input(const bg_tls_conn_t *tc)
{
    return BIO_ctrl_pending(tc->rbio) > 0 || SSL_has_pending(tc->ssl) == 1;
}

static bg_tls_fail_t classify(unsigned long e)
{
    switch (ERR_GET_REASON(e)) {
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_WRONG_VERSION_NUMBER:
    case SSL_R_VERSION_TOO_LOW:
    case SSL_R_NO_PROTOCOLS_AVAILABLE:
    case SSL_R_UNKNOWN_PROTOCOL:
        return BG_TLS_FAIL_PROTOCOL;
    case SSL_R_NO_SHARED_CIPHER:
    case SSL_R_NO_SHARED_GROUPS:
    case SSL_R_NO_SUITABLE_SIGNATURE_ALGORITHM:
        return BG_TLS_FAIL_CIPHER;
    case SSL_R_HTTP_REQUEST:
    case SSL_R_HTTPS_PROXY_REQUEST:
        return BG_TLS_FAIL_HTTP;
    default:
        if (ERR_GET_REASON(e) >= SSL_AD_REASON_OFFSET && ERR_GET_LIB(e) == ERR_LIB_SSL)
            return BG_TLS_FAIL_ALERT;
        return BG_TLS_FAIL_OTHER;
    }
}

static void handshake_done(bg_tls_conn_t *tc)
{
    const unsigned char *proto = NULL;
    unsigned len = 0;
    int v = SSL_version(tc->ssl) == TLS1_3_VERSION ? 1 : 0;

    tc->handshake_done = true;
    if (SSL_session_reused(tc->ssl))
        atomic_fetch_add_explicit(&tc->tls->stats.resumed[v], 1, memory_order_relaxed);
    else
        atomic_fetch_add_explicit(&tc->tls->stats.full[v], 1, memory_order_relaxed);
    SSL_get0_alpn_selected(tc->ssl, &proto, &len);
    if (proto != NULL && len < sizeof(tc->alpn)) {
        memcpy(tc->alpn, proto, len);
        tc->alpn[len] = '\0';
        tc->alpn_len = (uint8_t)len;
    }
}

ssize_t bg_tls_conn_read(bg_tls_conn_t *tc, char *out, size_t size)
{
    size_t got = 0;
    int r, e;

    /* The error queue is emptied after every failure below, so SSL_get_error() sees only
     * this call's errors without clearing it first on every read. */
    if (!tc->handshake_done) {
        r = SSL_do_handshake(tc->ssl);
        if (r != 1) {
            e = SSL_get_error(tc->ssl, r);
            if (e == SSL_ERROR_WANT_READ)
                return 0;
            count_fail(tc, e == SSL_ERROR_SSL ? classify(ERR_peek_last_error())
                                              : BG_TLS_FAIL_OTHER);
            ERR_clear_error();
            return UV_EPROTO;
        }
        handshake_done(tc);
    }
    r = SSL_read_ex(tc->ssl, out, size, &got);
    if (r == 1)
        return (ssize_t)got;
    e = SSL_get_error(tc->ssl, r);
    ERR_clear_error();
    if (e == SSL_ERROR_WANT_READ)
        return 0;
    if (e == SSL_ERROR_ZERO_RETURN)
        return BG_TLS_EOF;
    return UV_EPROTO;
}

int bg_tls_conn_write(bg_tls_conn_t *tc, const char *p, size_t n)
{
    size_t done = 0;

    /* memory BIOs grow: a write takes everything at once */
    if (n > 0 && (SSL_write_ex(tc->ssl, p, n, &done) != 1 || done != n)) {
        ERR_clear_error();
        return UV_EPROTO;
    }
    return 0;
}

void bg_tls_conn_shutdown(bg_tls_conn_t *tc)
{
    ERR_clear_error();
    if (tc->handshake_done)
        SSL_shutdown(tc->ssl);
    ERR_clear_error();
}

size_t bg_tls_conn_output_len(const bg_tls_conn_t *tc)
{
    return BIO_ctrl_pending(tc->wbio);
}

void bg_tls_conn_take_output(bg_tls_conn_t *tc, bg_buf_t *out)
{
    size_t n = BIO_ctrl_pending(tc->wbio);

    if (n == 0)
        return;
    bg_buf_reserve(out, n);
    BG_ASSERT(BIO_read(tc->wbio, out->data + out->len, (int)n) == (int)n);
    out->len += n;
}
