/* Certificates of a listener: loading (chain + key files, checked against each other),
 * the names each certificate answers for (its DNS SANs, else its CN), the SNI choice
 * (exact name, then the wildcard one label up, else the default certificate) and the
 * reload that swaps a whole new set in or leaves the old one when any file is bad.
 * Runs on the control thread except tls_certset_take() and the SNI callback (workers).
 */
#include "tls/tls.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "base/base.h"
#include "tls/internal.h"
#include "base/compat.h"

/* ---- config copy ---- */

static void pos_copy(bg_config_pos_t *out, const bg_config_pos_t *in)
{
    out->line = in->line;
    out->column = in->column;
    out->key = in->key ? bg_strdup(in->key) : NULL;
}

static bg_tls_config_t *config_dup(const bg_tls_config_t *in)
{
    bg_tls_config_t *c = BG_NEW(bg_tls_config_t);

    *c = *in;
    c->certs = bg_xcalloc(in->n_certs ? in->n_certs : 1, sizeof(*c->certs));
    for (size_t i = 0; i < in->n_certs; i++) {
        c->certs[i].cert = bg_strdup(in->certs[i].cert);
        c->certs[i].key = bg_strdup(in->certs[i].key);
        pos_copy(&c->certs[i].cert_pos, &in->certs[i].cert_pos);
        pos_copy(&c->certs[i].key_pos, &in->certs[i].key_pos);
        c->certs[i].cert_pem = in->certs[i].cert_pem ? bg_strdup(in->certs[i].cert_pem) : NULL;
        c->certs[i].key_pem = in->certs[i].key_pem ? bg_strdup(in->certs[i].key_pem) : NULL;
    }
    c->policy = bg_strdup(in->policy ? in->policy : "recommended");
    pos_copy(&c->pos, &in->pos);
    c->acme = NULL; /* the server's business (src/server/acme.c), not the contexts' */
    return c;
}

bg_tls_config_t *bg_tls_config_with(const bg_tls_config_t *cfg, const char *cert, const char *key,
                                    const char *cert_pem, const char *key_pem)
{
    bg_tls_config_t *c = config_dup(cfg);
    bg_tls_cert_config_t *e;

    c->certs = bg_xrealloc(c->certs, (c->n_certs + 1) * sizeof(*c->certs));
    e = &c->certs[c->n_certs++];
    memset(e, 0, sizeof(*e));
    e->cert = bg_strdup(cert);
    e->key = bg_strdup(key);
    e->cert_pem = cert_pem ? bg_strdup(cert_pem) : NULL;
    e->key_pem = key_pem ? bg_strdup(key_pem) : NULL;
    pos_copy(&e->cert_pos, &cfg->pos);
    pos_copy(&e->key_pos, &cfg->pos);
    if (cfg->n_certs == 0)
        c->default_cert = 0;
    return c;
}

/* ---- errors ---- */

/* OpenSSL's reason for a failure ("no start line", "bad decrypt"), its queue emptied. The
 * earliest error names the cause; the later ones only the functions it went through. */
static const char *ssl_reason(char *buf, size_t size)
{
    unsigned long e = ERR_get_error();
    const char *r = e ? ERR_reason_error_string(e) : NULL;

    ERR_clear_error();
    snprintf(buf, size, "%s", r ? r : "not a PEM file of that kind");
    return buf;
}

static int fail_at(bg_err_t *err, const char *file, const bg_config_pos_t *pos, const char *what,
                   const char *path)
{
    char reason[256];
    const char *r = ssl_reason(reason, sizeof(reason));

    return bg_err_set_at(err, BG_EINVAL, file, pos->line, pos->column, pos->key, "%s %s: %s",
                         what, path, r);
}

/* A file we cannot open is named with errno's reason, not OpenSSL's "system lib". */
static int unreadable(bg_err_t *err, const char *file, const bg_config_pos_t *pos,
                      const char *path)
{
    FILE *f = fopen(path, "r");

    if (f != NULL) {
        fclose(f);
        return 0;
    }
    return bg_err_set_at(err, BG_EINVAL, file, pos->line, pos->column, pos->key,
                         "cannot read %s: %s", path, strerror(errno));
}

/* ---- names ---- */

static void add_name(tls_cert_t *c, const char *name, size_t len)
{
    char *s;

    if (len == 0 || len > 253 || memchr(name, '\0', len))
        return;
    s = bg_strndup(name, len);
    for (char *p = s; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    c->names = bg_xrealloc(c->names, (c->n_names + 1) * sizeof(char *));
    c->names[c->n_names++] = s;
}

static void cert_names(tls_cert_t *c, X509 *x)
{
    GENERAL_NAMES *sans = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    char buf[256];
    int n;

    for (int i = 0; sans && i < sk_GENERAL_NAME_num(sans); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, i);
        if (g->type == GEN_DNS)
            add_name(c, (const char *)ASN1_STRING_get0_data(g->d.dNSName),
                     (size_t)ASN1_STRING_length(g->d.dNSName));
    }
    GENERAL_NAMES_free(sans);
    /* RFC 6125 §6.4.4: the CN only when there is no DNS SAN */
    n = c->n_names == 0 ? X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName,
                                                    buf, sizeof(buf))
                        : -1;
    if (n > 0)
        add_name(c, buf, (size_t)n);
    X509_NAME_oneline(X509_get_subject_name(x), buf, sizeof(buf));
    c->subject = bg_strdup(buf);
    X509_NAME_oneline(X509_get_issuer_name(x), buf, sizeof(buf));
    c->issuer = bg_strdup(buf);
    {
        struct tm tm;
        c->not_after = ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) == 1 ? timegm(&tm) : 0;
    }
}

/* ---- SNI ---- */

static const tls_cert_t *match_name(const bg_tls_certset_t *set, const char *host)
{
    char wild[256];
    const char *dot;

    for (size_t i = 0; i < set->n_certs; i++)
        for (size_t j = 0; j < set->certs[i].n_names; j++)
            if (strcasecmp(set->certs[i].names[j], host) == 0)
                return &set->certs[i];
    /* RFC 6125 §6.4.3: "*." covers exactly one left-most label */
    dot = strchr(host, '.');
    if (dot == NULL || dot == host || snprintf(wild, sizeof(wild), "*%s", dot) >= (int)sizeof(wild))
        return NULL;
    for (size_t i = 0; i < set->n_certs; i++)
        for (size_t j = 0; j < set->certs[i].n_names; j++)
            if (strcasecmp(set->certs[i].names[j], wild) == 0)
                return &set->certs[i];
    return NULL;
}

static int servername_cb(SSL *ssl, int *alert, void *arg)
{
    bg_tls_certset_t *set = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
    const char *host = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    const tls_cert_t *c;

    (void)alert;
    (void)arg;
    if (host == NULL || set->n_certs == 1)
        return SSL_TLSEXT_ERR_OK;
    c = match_name(set, host);
    if (c != NULL && c->ctx != SSL_get_SSL_CTX(ssl))
        SSL_set_SSL_CTX(ssl, c->ctx);
    return SSL_TLSEXT_ERR_OK; /* no match: the default certificate, as ALB does */
}

static int alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                   const unsigned char *in, unsigned int inlen, void *arg)
{
    bg_tls_t *t = arg;
    unsigned char *sel = NULL;

    (void)ssl;
    if (SSL_select_next_proto(&sel, outlen, t->alpn_wire, t->alpn_wire_len, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK; /* served as HTTP/1.1 without ALPN */
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

/* ---- one certificate ---- */

static int ctx_setup(bg_tls_t *t, bg_tls_certset_t *set, SSL_CTX *ctx, bg_err_t *err)
{
    static const unsigned char sid[] = "bluegreen";
    const tls_policy_t *p = t->policy;

    if (SSL_CTX_set_min_proto_version(ctx, p->min_version) != 1 ||
        SSL_CTX_set_max_proto_version(ctx, p->max_version) != 1 ||
        SSL_CTX_set_cipher_list(ctx, p->ciphers) != 1 ||
        SSL_CTX_set_ciphersuites(ctx, p->suites) != 1 || SSL_CTX_set1_groups_list(ctx, p->groups) != 1)
        return bg_err_set(err, BG_EINVAL, "policy %s: OpenSSL refused its settings", p->name);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_session_id_context(ctx, sid, sizeof(sid) - 1);
    SSL_CTX_set_app_data(ctx, set);
    SSL_CTX_set_tlsext_servername_callback(ctx, servername_cb);
    SSL_CTX_set_alpn_select_cb(ctx, alpn_cb, t);
    tls_tickets_setup(t, ctx);
    return 0;
}

/* A chain (leaf first) and key from memory (the ACME bootstrap certificate). */
static int mem_load(SSL_CTX *ctx, const char *cert_pem, const char *key_pem)
{
    BIO *b = BIO_new_mem_buf(cert_pem, -1);
    X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    EVP_PKEY *k = NULL;
    int ok = x != NULL && SSL_CTX_use_certificate(ctx, x) == 1;

    X509_free(x);
    while (ok && (x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL)
        if (SSL_CTX_add0_chain_cert(ctx, x) != 1) {
            X509_free(x);
            ok = 0;
        }
    ERR_clear_error(); /* the end of the chain */
    BIO_free(b);
    b = ok ? BIO_new_mem_buf(key_pem, -1) : NULL;
    k = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
    ok = ok && k != NULL && SSL_CTX_use_PrivateKey(ctx, k) == 1;
    EVP_PKEY_free(k);
    BIO_free(b);
    return ok ? 0 : -1;
}

static int cert_load(bg_tls_t *t, bg_tls_certset_t *set, const bg_tls_cert_config_t *cc,
                     tls_cert_t *c, bg_err_t *err)
{
    int rc;

    c->cert_file = bg_strdup(cc->cert);
    c->key_file = bg_strdup(cc->key);
    c->ctx = SSL_CTX_new(TLS_server_method());
    BG_ASSERT(c->ctx != NULL);
    rc = ctx_setup(t, set, c->ctx, err);
    if (rc != 0)
        return rc;
    ERR_clear_error();
    if (cc->cert_pem != NULL) {
        if (mem_load(c->ctx, cc->cert_pem, cc->key_pem ? cc->key_pem : "") != 0)
            return fail_at(err, t->file, &cc->cert_pos, "cannot load the in-memory certificate",
                           cc->cert);
    } else if ((rc = unreadable(err, t->file, &cc->cert_pos, cc->cert)) != 0 ||
        (rc = unreadable(err, t->file, &cc->key_pos, cc->key)) != 0)
        return rc;
    else if (SSL_CTX_use_certificate_chain_file(c->ctx, cc->cert) != 1)
        return fail_at(err, t->file, &cc->cert_pos, "cannot load the certificate chain", cc->cert);
    else if (SSL_CTX_use_PrivateKey_file(c->ctx, cc->key, SSL_FILETYPE_PEM) != 1)
        return fail_at(err, t->file, &cc->key_pos, "cannot load the private key", cc->key);
    if (SSL_CTX_check_private_key(c->ctx) != 1) {
        ERR_clear_error();
        return bg_err_set_at(err, BG_EINVAL, t->file, cc->key_pos.line, cc->key_pos.column,
                             cc->key_pos.key, "the private key %s does not match the "
                             "certificate %s", cc->key, cc->cert);
    }
    cert_names(c, SSL_CTX_get0_certificate(c->ctx));
    if (c->n_names == 0)
        return bg_err_set_at(err, BG_EINVAL, t->file, cc->cert_pos.line, cc->cert_pos.column,
                             cc->cert_pos.key, "certificate %s names no host (no DNS SAN, no CN)",
                             cc->cert);
    if (c->not_after != 0 && c->not_after < time(NULL))
        bg_log(BG_LOG_WARN, "tls", "msg=\"certificate has expired\" listener=%s cert=%s", t->name,
               cc->cert);
    return 0;
}

static void cert_fini(tls_cert_t *c)
{
    SSL_CTX_free(c->ctx);
    for (size_t i = 0; i < c->n_names; i++)
        free(c->names[i]);
    free(c->names);
    free(c->cert_file);
    free(c->key_file);
    free(c->subject);
    free(c->issuer);
}

/* ---- sets ---- */

static void certset_free(bg_tls_certset_t *set)
{
    for (size_t i = 0; i < set->n_certs; i++)
        cert_fini(&set->certs[i]);
    free(set->certs);
    free(set);
}

void tls_certset_unref(bg_tls_certset_t *set)
{
    if (set != NULL && atomic_fetch_sub_explicit(&set->refs, 1, memory_order_acq_rel) == 1)
        certset_free(set);
}

bg_tls_certset_t *tls_certset_take(bg_tls_t *t)
{
    bg_tls_certset_t *set;

    pthread_mutex_lock(&t->lock);
    set = t->cur;
    atomic_fetch_add_explicit(&set->refs, 1, memory_order_relaxed);
    pthread_mutex_unlock(&t->lock);
    return set;
}

static bg_tls_certset_t *certset_load(bg_tls_t *t, const bg_tls_config_t *cfg, bg_err_t *err)
{
    bg_tls_certset_t *set = BG_NEW(bg_tls_certset_t);

    atomic_init(&set->refs, 1);
    set->tls = t;
    set->certs = bg_xcalloc(cfg->n_certs, sizeof(tls_cert_t));
    set->def = cfg->default_cert < cfg->n_certs ? cfg->default_cert : 0;
    set->loaded_at_ms = bg_wall_ms();
    for (size_t i = 0; i < cfg->n_certs; i++) {
        set->n_certs = i + 1;
        if (cert_load(t, set, &cfg->certs[i], &set->certs[i], err) != 0) {
            certset_free(set);
            return NULL;
        }
    }
    return set;
}

/* ---- bg_tls_t ---- */

static void alpn_setup(bg_tls_t *t, const bg_tls_options_t *opts)
{
    static const char *const dflt[] = {"http/1.1"};
    const char *const *list = opts && opts->alpn[0] ? opts->alpn : dflt;
    size_t n = opts && opts->alpn[0] ? BG_TLS_ALPN_MAX : 1;

    t->alpn_wire_len = 0;
    for (size_t i = 0; i < n && list[i] != NULL; i++) {
        size_t len = strlen(list[i]);
        BG_ASSERT(len > 0 && len < 32 && t->alpn_wire_len + 1 + len <= sizeof(t->alpn_wire));
        t->alpn_wire[t->alpn_wire_len++] = (unsigned char)len;
        memcpy(t->alpn_wire + t->alpn_wire_len, list[i], len);
        t->alpn_wire_len += (unsigned)len;
    }
}

bg_tls_t *bg_tls_new(const bg_tls_config_t *cfg, const char *file, const bg_tls_options_t *opts,
                     bg_err_t *err)
{
    bg_tls_t *t;

    if (cfg == NULL || cfg->n_certs == 0) {
        bg_err_set(err, BG_EINVAL, "a tls block needs at least one certificate");
        return NULL;
    }
    t = BG_NEW(bg_tls_t);
    t->name = bg_strdup(opts && opts->name ? opts->name : "listen");
    t->file = bg_strdup(file ? file : "config");
    t->cfg = config_dup(cfg);
    t->policy = tls_policy_find(t->cfg->policy);
    t->rotation_ms = cfg->ticket_rotation_ms ? cfg->ticket_rotation_ms : 3600000;
    pthread_mutex_init(&t->lock, NULL);
    alpn_setup(t, opts);
    if (t->policy == NULL) {
        bg_err_set_at(err, BG_EINVAL, t->file, cfg->pos.line, cfg->pos.column, cfg->pos.key,
                      "unknown TLS policy \"%s\"", t->cfg->policy);
        goto fail;
    }
    t->cur = certset_load(t, t->cfg, err);
    if (t->cur == NULL)
        goto fail;
    t->last_reload_ms = t->cur->loaded_at_ms;
    t->last_reload_ok = true;
    t->last_reload_why = bg_strdup("start");
    return t;
fail:
    bg_tls_free(t);
    return NULL;
}

int bg_tls_reload(bg_tls_t *t, const bg_tls_config_t *cfg, const char *file, const char *why,
                  bg_err_t *err)
{
    bg_tls_config_t *ncfg = cfg ? config_dup(cfg) : NULL;
    bg_tls_certset_t *set, *old;
    char *nfile = file ? bg_strdup(file) : NULL;
    char line[BG_ERR_MSG_MAX + 2 * BG_ERR_PATH_MAX + 32];

    if (ncfg != NULL && (tls_policy_find(ncfg->policy) != t->policy ||
                         ncfg->tickets != t->cfg->tickets)) {
        bg_tls_config_free(ncfg);
        free(nfile);
        return bg_err_set(err, BG_EINVAL, "a certificate reload cannot change the policy or "
                                          "tickets; use bluegreen reload");
    }
    if (nfile != NULL) {
        free(t->file);
        t->file = nfile;
    }
    set = certset_load(t, ncfg ? ncfg : t->cfg, err);
    t->last_reload_ms = bg_wall_ms();
    free(t->last_reload_why);
    t->last_reload_why = bg_strdup(why ? why : "reload");
    free(t->last_error);
    t->last_error = NULL;
    if (set == NULL) {
        t->last_reload_ok = false;
        t->last_error = bg_strdup(bg_err_format(err, line, sizeof(line)));
        bg_log(BG_LOG_ERROR, "tls", "msg=\"certificate reload failed; the old certificates stay\" "
               "listener=%s why=%s error=\"%s\"", t->name, t->last_reload_why, t->last_error);
        bg_tls_config_free(ncfg);
        return err && err->code ? err->code : BG_EINVAL;
    }
    if (ncfg != NULL) {
        bg_tls_config_free(t->cfg);
        t->cfg = ncfg;
    }
    pthread_mutex_lock(&t->lock);
    old = t->cur;
    t->cur = set;
    pthread_mutex_unlock(&t->lock);
    tls_certset_unref(old);
    t->reloads++;
    t->last_reload_ok = true;
    bg_log(BG_LOG_INFO, "tls", "msg=\"certificates reloaded\" listener=%s why=%s certificates=%zu",
           t->name, t->last_reload_why, set->n_certs);
    return 0;
}

int bg_tls_check_config(const bg_config_t *cfg, bg_err_t *err)
{
    const bg_tls_config_t *blocks[] = {cfg->listen_tls, cfg->test_listen_tls};
    const char *names[] = {"listen", "test_listen"};

    for (size_t k = 0; k < BG_ARRAY_LEN(blocks); k++) {
        bg_tls_options_t o = {.name = names[k]};
        bg_tls_t *t;

        if (blocks[k] == NULL)
            continue;
        if (blocks[k]->acme != NULL && blocks[k]->acme->ca_file != NULL &&
            unreadable(err, cfg->path, &blocks[k]->acme->ca_file_pos, blocks[k]->acme->ca_file) !=
                0)
            return err != NULL && err->code != 0 ? err->code : BG_EINVAL;
        if (blocks[k]->n_certs == 0) /* acme only: nothing to load before the first order */
            continue;
        if ((t = bg_tls_new(blocks[k], cfg->path, &o, err)) == NULL)
            return err != NULL && err->code != 0 ? err->code : BG_EINVAL;
        bg_tls_free(t);
    }
    return 0;
}

void bg_tls_free(bg_tls_t *t)
{
    if (t == NULL)
        return;
    tls_certset_unref(t->cur);
    pthread_mutex_destroy(&t->lock);
    OPENSSL_cleanse(t->keys, sizeof(t->keys));
    bg_tls_config_free(t->cfg);
    free(t->name);
    free(t->file);
    free(t->last_reload_why);
    free(t->last_error);
    free(t);
}

bg_tls_stats_t *bg_tls_stats(bg_tls_t *t)
{
    return &t->stats;
}
