/* src/tls against a real OpenSSL client over memory BIOs: SNI choice (exact, wildcard,
 * default), handshake counters, session resumption with tickets and the key ring's
 * rotation (a ticket survives TLS_TICKET_KEYS - 1 rotations, not more), a certificate
 * reload that keeps the old set for a running connection and refuses a bad file.
 * Certificates are made here with OpenSSL's API in a temp dir. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "base/mem.h"
#include "tls/internal.h"
#include "tls/tls.h"

static char dir[64];

/* A self-signed P-256 certificate for CN <cn> with subjectAltName <san> into
 * dir/<cn>.pem and dir/<cn>.key. */
static void make_cert(const char *cn, const char *san)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509V3_CTX v3;
    X509_EXTENSION *ext;
    char path[128];
    FILE *f;

    cr_assert_not_null(k);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, k);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                               (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, san);
    cr_assert_not_null(ext);
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    cr_assert(X509_sign(x, k, EVP_sha256()) > 0);
    snprintf(path, sizeof(path), "%s/%s.pem", dir, cn);
    cr_assert_not_null(f = fopen(path, "w"));
    PEM_write_X509(f, x);
    fclose(f);
    snprintf(path, sizeof(path), "%s/%s.key", dir, cn);
    cr_assert_not_null(f = fopen(path, "w"));
    PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
    fclose(f);
    X509_free(x);
    EVP_PKEY_free(k);
}

static bg_tls_cert_config_t certs[2];
static bg_tls_config_t cfg;

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/bg-tls-unit.XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    make_cert("a", "DNS:a.test,DNS:www.a.test");
    make_cert("b", "DNS:*.b.test");
    for (int i = 0; i < 2; i++) {
        certs[i].cert = bg_asprintf("%s/%c.pem", dir, 'a' + i);
        certs[i].key = bg_asprintf("%s/%c.key", dir, 'a' + i);
    }
    cfg = (bg_tls_config_t){.certs = certs, .n_certs = 2, .policy = "recommended",
                            .tickets = true, .ticket_rotation_ms = 3600000};
}

static void teardown(void)
{
    char cmd[128];

    for (int i = 0; i < 2; i++) {
        free(certs[i].cert);
        free(certs[i].key);
    }
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(tls, .init = setup, .fini = teardown, .timeout = 30);

/* One client connection against a bg_tls_conn_t, bytes moved by hand. */
typedef struct peer {
    SSL *ssl;
    bg_tls_conn_t srv;
    bg_buf_t out;
} peer_t;

static void peer_open(peer_t *p, SSL_CTX *cctx, bg_tls_t *t, const char *sni, SSL_SESSION *sess)
{
    memset(p, 0, sizeof(*p));
    p->ssl = SSL_new(cctx);
    SSL_set_bio(p->ssl, BIO_new(BIO_s_mem()), BIO_new(BIO_s_mem()));
    SSL_set_connect_state(p->ssl);
    if (sni)
        SSL_set_tlsext_host_name(p->ssl, sni);
    if (sess)
        SSL_set_session(p->ssl, sess);
    bg_tls_conn_init(&p->srv, t);
    bg_buf_init(&p->out);
}

/* Moves bytes both ways until the handshake is done on both sides, then one byte of
 * response, which carries the server's TLS 1.3 tickets to the client. */
static void peer_handshake(peer_t *p)
{
    char buf[16384];

    for (int round = 0; round < 20; round++) {
        BIO *cw = SSL_get_wbio(p->ssl), *cr = SSL_get_rbio(p->ssl);
        int n;
        size_t got;

        SSL_do_handshake(p->ssl);
        while ((n = BIO_read(cw, buf, sizeof(buf))) > 0)
            bg_tls_conn_feed(&p->srv, buf, (size_t)n);
        cr_assert_geq(bg_tls_conn_read(&p->srv, buf, sizeof(buf)), 0);
        bg_buf_reset(&p->out);
        bg_tls_conn_take_output(&p->srv, &p->out);
        if (p->out.len)
            BIO_write(cr, p->out.data, (int)p->out.len);
        if (SSL_is_init_finished(p->ssl) && p->srv.handshake_done && p->out.len == 0) {
            /* OpenSSL's server sends its TLS 1.3 tickets with its first write: a response */
            cr_assert_eq(bg_tls_conn_write(&p->srv, "x", 1), 0);
            bg_tls_conn_take_output(&p->srv, &p->out);
            BIO_write(cr, p->out.data, (int)p->out.len);
            cr_assert_eq(SSL_read_ex(p->ssl, buf, sizeof(buf), &got), 1);
            cr_assert_eq(got, 1);
            return;
        }
    }
    cr_assert_fail("handshake did not finish");
}

static void peer_close(peer_t *p)
{
    SSL_shutdown(p->ssl); /* an unclosed session is marked not resumable by SSL_free */
    SSL_free(p->ssl);
    bg_tls_conn_fini(&p->srv, BG_TLS_FAIL_CLOSED);
    bg_buf_fini(&p->out);
}

static SSL_CTX *client_ctx(void)
{
    SSL_CTX *c = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_CLIENT);
    return c;
}

static char *served_cn(peer_t *p, char *out, size_t size)
{
    X509 *x = SSL_get1_peer_certificate(p->ssl);

    cr_assert_not_null(x);
    X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, out, (int)size);
    X509_free(x);
    return out;
}

static const char *sni_cn(bg_tls_t *t, SSL_CTX *cctx, const char *sni, char *out)
{
    peer_t p;

    peer_open(&p, cctx, t, sni, NULL);
    peer_handshake(&p);
    served_cn(&p, out, 32);
    peer_close(&p);
    return out;
}

Test(tls, sni_exact_wildcard_default)
{
    bg_err_t err;
    bg_tls_t *t = bg_tls_new(&cfg, "t.yaml", NULL, &err);
    SSL_CTX *cctx = client_ctx();
    char cn[32];

    cr_assert_not_null(t, "%s", err.msg);
    cr_assert_str_eq(sni_cn(t, cctx, "www.a.test", cn), "a");
    cr_assert_str_eq(sni_cn(t, cctx, "x.b.test", cn), "b");
    cr_assert_str_eq(sni_cn(t, cctx, "X.B.Test", cn), "b");
    cr_assert_str_eq(sni_cn(t, cctx, "y.x.b.test", cn), "a"); /* one label only */
    cr_assert_str_eq(sni_cn(t, cctx, "b.test", cn), "a");
    cr_assert_str_eq(sni_cn(t, cctx, NULL, cn), "a");
    cr_assert_eq(atomic_load(&bg_tls_stats(t)->full[1]), 6);
    SSL_CTX_free(cctx);
    bg_tls_free(t);
}

/* A fresh copy of <s>, as `openssl s_client -sess_in` reads from its file: an OpenSSL
 * client marks a TLS 1.3 session it used once as not resumable (single-use tickets). */
static SSL_SESSION *sess_copy(SSL_SESSION *s)
{
    unsigned char der[8192], *w = der;
    const unsigned char *r = der;
    int n = i2d_SSL_SESSION(s, NULL);

    cr_assert(n > 0 && n <= (int)sizeof(der));
    i2d_SSL_SESSION(s, &w);
    return d2i_SSL_SESSION(NULL, &r, n);
}

/* Connects with a copy of <sess>; returns whether both sides say it was resumed, and the
 * new session (caller frees). */
static bool resume(bg_tls_t *t, SSL_CTX *cctx, SSL_SESSION *sess, SSL_SESSION **next)
{
    SSL_SESSION *copy = sess ? sess_copy(sess) : NULL;
    peer_t p;
    bool reused;

    peer_open(&p, cctx, t, "a.test", copy);
    SSL_SESSION_free(copy); /* the connection holds its own reference */
    peer_handshake(&p);
    reused = SSL_session_reused(p.ssl) == 1;
    cr_assert_eq(reused, SSL_session_reused(p.srv.ssl) == 1);
    if (next)
        *next = SSL_get1_session(p.ssl);
    peer_close(&p);
    return reused;
}

Test(tls, tickets_resume_across_rotations_then_expire)
{
    bg_err_t err;
    bg_tls_t *t = bg_tls_new(&cfg, "t.yaml", NULL, &err);
    SSL_CTX *cctx = client_ctx();
    SSL_SESSION *s1 = NULL, *s2 = NULL;

    cr_assert_not_null(t, "%s", err.msg);
    cr_assert_not(resume(t, cctx, NULL, &s1));
    cr_assert(SSL_SESSION_is_resumable(s1), "no ticket was issued");
    cr_assert(resume(t, cctx, s1, NULL));
    cr_assert(resume(t, cctx, s1, NULL), "a ticket resumes more than once");
    tls_tickets_rotate(t); /* s1's key is now the previous one: still decrypts */
    cr_assert(resume(t, cctx, s1, &s2));
    tls_tickets_rotate(t);
    cr_assert(resume(t, cctx, s1, NULL));
    tls_tickets_rotate(t); /* s1's key left the ring: full handshake */
    cr_assert_not(resume(t, cctx, s1, NULL));
    cr_assert(resume(t, cctx, s2, NULL), "the ticket renewed after the first rotation");
    cr_assert_eq(atomic_load(&bg_tls_stats(t)->resumed[1]), 5);
    SSL_SESSION_free(s1);
    SSL_SESSION_free(s2);
    SSL_CTX_free(cctx);
    bg_tls_free(t);
}

Test(tls, tickets_off_never_resume)
{
    bg_err_t err;
    bg_tls_t *t;
    SSL_CTX *cctx = client_ctx();
    SSL_SESSION *s1 = NULL;

    cfg.tickets = false;
    t = bg_tls_new(&cfg, "t.yaml", NULL, &err);
    cr_assert_not_null(t, "%s", err.msg);
    cr_assert_not(resume(t, cctx, NULL, &s1));
    cr_assert_not(resume(t, cctx, s1, NULL));
    SSL_SESSION_free(s1);
    SSL_CTX_free(cctx);
    bg_tls_free(t);
}

Test(tls, reload_keeps_running_connections_and_refuses_bad_files)
{
    bg_err_t err;
    bg_tls_t *t = bg_tls_new(&cfg, "t.yaml", NULL, &err);
    SSL_CTX *cctx = client_ctx();
    peer_t old;
    char path[128], cn[32];
    FILE *f;

    cr_assert_not_null(t, "%s", err.msg);
    peer_open(&old, cctx, t, "a.test", NULL); /* made from the first set */
    make_cert("a", "DNS:a.test"); /* new files at the same paths */
    cr_assert_eq(bg_tls_reload(t, NULL, NULL, "test", &err), 0, "%s", err.msg);
    peer_handshake(&old);
    cr_assert_str_eq(served_cn(&old, cn, sizeof(cn)), "a");
    peer_close(&old);
    snprintf(path, sizeof(path), "%s/a.key", dir);
    cr_assert_not_null(f = fopen(path, "w"));
    fputs("not a key\n", f);
    fclose(f);
    cr_assert_eq(bg_tls_reload(t, NULL, NULL, "test", &err), BG_EINVAL);
    cr_assert(strstr(err.msg, "cannot load the private key") != NULL, "%s", err.msg);
    cr_assert_str_eq(sni_cn(t, cctx, "a.test", cn), "a"); /* the previous set serves */
    {
        json_t *j = bg_tls_to_json(t);
        cr_assert(json_is_false(json_object_get(json_object_get(j, "last_reload"), "ok")));
        cr_assert_eq(json_integer_value(json_object_get(j, "reloads")), 1);
        json_decref(j);
    }
    SSL_CTX_free(cctx);
    bg_tls_free(t);
}
