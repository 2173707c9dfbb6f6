/* The ACME pieces without a network (acme.h): base64url, keys, JWK and its RFC 7638
 * thumbprint, key authorizations, ES256 flattened JWS, CSR, the self-signed bootstrap
 * certificate, files written 0600 through tmp + rename, and what a certificate file says.
 * Thread: any but a worker (they touch files).
 */
#include "acme/acme.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>

#include "base/base.h"
#include "base/compat.h"

char *bg_acme_b64url(const unsigned char *p, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char *out = bg_xmalloc(n / 3 * 4 + 5), *o = out;
    size_t i = 0;

    for (; i + 3 <= n; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
        *o++ = tab[v >> 18 & 63];
        *o++ = tab[v >> 12 & 63];
        *o++ = tab[v >> 6 & 63];
        *o++ = tab[v & 63];
    }
    if (n - i == 1) {
        unsigned v = (unsigned)p[i] << 16;
        *o++ = tab[v >> 18 & 63];
        *o++ = tab[v >> 12 & 63];
    } else if (n - i == 2) {
        unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8;
        *o++ = tab[v >> 18 & 63];
        *o++ = tab[v >> 12 & 63];
        *o++ = tab[v >> 6 & 63];
    }
    *o = '\0';
    return out;
}

static int b64url_val(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '-' ? 62 : c == '_' ? 63 : -1;
}

/* Decodes base64url into <out> (<size> bytes): the length, or -1. */
static long b64url_dec(const char *s, unsigned char *out, size_t size)
{
    unsigned v = 0, bits = 0;
    size_t n = 0;

    for (; *s; s++) {
        int d = b64url_val(*s);
        if (d < 0)
            return -1;
        v = v << 6 | (unsigned)d;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n >= size)
                return -1;
            out[n++] = (unsigned char)(v >> bits);
        }
    }
    return (long)n;
}

EVP_PKEY *bg_acme_key_new(void)
{
    return EVP_EC_gen("P-256");
}

char *bg_acme_key_pem(EVP_PKEY *key)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *p = NULL, *out = NULL;
    long n;

    if (b != NULL && PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL) == 1 &&
        (n = BIO_get_mem_data(b, &p)) > 0)
        out = bg_strndup(p, (size_t)n);
    BIO_free(b);
    return out;
}

int bg_acme_write_file(const char *path, const char *data, size_t len, bg_err_t *err)
{
    static _Atomic unsigned seq;
    char tmp[BG_ERR_PATH_MAX + 40];
    int fd, rc = 0;
    size_t off = 0;

    /* a name of its own: two writers (two listeners' orders, or the old and the new process
     * of a hand-over) never share a temporary file; the last rename wins whole */
    if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld.%u", path, (long)getpid(),
                 atomic_fetch_add(&seq, 1)) >= (int)sizeof(tmp))
        return bg_err_set(err, BG_EIO, "%s: path too long", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return bg_err_set(err, BG_EIO, "cannot write %s: %s", tmp, strerror(errno));
    (void)fchmod(fd, 0600); /* an older tmp file of another mode */
    while (off < len) {
        ssize_t n = write(fd, data + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = bg_err_set(err, BG_EIO, "cannot write %s: %s", tmp, strerror(errno));
            break;
        }
        off += (size_t)n;
    }
    if (rc == 0 && fsync(fd) != 0)
        rc = bg_err_set(err, BG_EIO, "cannot sync %s: %s", tmp, strerror(errno));
    close(fd);
    if (rc == 0 && rename(tmp, path) != 0)
        rc = bg_err_set(err, BG_EIO, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
    if (rc != 0)
        unlink(tmp);
    return rc;
}

/* Serialises bg_acme_key_load(): two listeners' orders starting together make one account
 * key, not two. */
static pthread_mutex_t key_lock = PTHREAD_MUTEX_INITIALIZER;

static EVP_PKEY *key_load(const char *path, bool create, bool *created, bg_err_t *err);

EVP_PKEY *bg_acme_key_load(const char *path, bool create, bool *created, bg_err_t *err)
{
    EVP_PKEY *k;

    pthread_mutex_lock(&key_lock);
    k = key_load(path, create, created, err);
    pthread_mutex_unlock(&key_lock);
    return k;
}

static EVP_PKEY *key_load(const char *path, bool create, bool *created, bg_err_t *err)
{
    FILE *f = fopen(path, "r");
    EVP_PKEY *k;
    char *pem;

    if (created)
        *created = false;
    if (f != NULL) {
        k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
        fclose(f);
        if (k == NULL) {
            ERR_clear_error();
            bg_err_set(err, BG_EINVAL, "%s is not a PEM private key", path);
        }
        return k;
    }
    if (errno != ENOENT || !create) {
        bg_err_set(err, errno == ENOENT ? BG_ENOTFOUND : BG_EIO, "cannot read %s: %s", path,
                   strerror(errno));
        return NULL;
    }
    k = bg_acme_key_new();
    pem = k ? bg_acme_key_pem(k) : NULL;
    if (pem == NULL || bg_acme_write_file(path, pem, strlen(pem), err) != 0) {
        if (pem == NULL)
            bg_err_set(err, BG_EIO, "cannot make a P-256 key");
        EVP_PKEY_free(k);
        OPENSSL_clear_free(pem, pem ? strlen(pem) : 0);
        return NULL;
    }
    OPENSSL_clear_free(pem, strlen(pem));
    if (created)
        *created = true;
    return k;
}

/* <bn> as a big-endian number of exactly <len> bytes, base64url. */
static char *bn_b64(const BIGNUM *bn, int len)
{
    unsigned char buf[66];

    if (len > (int)sizeof(buf) || BN_bn2binpad(bn, buf, len) != len)
        return NULL;
    return bg_acme_b64url(buf, (size_t)len);
}

json_t *bg_acme_jwk(EVP_PKEY *key)
{
    BIGNUM *x = NULL, *y = NULL;
    char *xs = NULL, *ys = NULL;
    json_t *j = NULL;

    if (EVP_PKEY_get_base_id(key) == EVP_PKEY_EC &&
        EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, &x) == 1 &&
        EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, &y) == 1 &&
        (xs = bn_b64(x, 32)) != NULL && (ys = bn_b64(y, 32)) != NULL)
        j = json_pack("{s:s,s:s,s:s,s:s}", "crv", "P-256", "kty", "EC", "x", xs, "y", ys);
    BN_free(x);
    BN_free(y);
    free(xs);
    free(ys);
    return j;
}

char *bg_acme_jwk_thumbprint(const json_t *jwk)
{
    static const char *const ec[] = {"crv", "kty", "x", "y", NULL};
    static const char *const rsa[] = {"e", "kty", "n", NULL};
    const char *kty = json_string_value(json_object_get(jwk, "kty"));
    const char *const *members = kty && strcmp(kty, "EC") == 0    ? ec
                                 : kty && strcmp(kty, "RSA") == 0 ? rsa
                                                                  : NULL;
    unsigned char md[SHA256_DIGEST_LENGTH];
    json_t *req;
    char *s;

    if (members == NULL)
        return NULL;
    req = json_object();
    for (size_t i = 0; members[i] != NULL; i++) {
        json_t *v = json_object_get(jwk, members[i]);
        if (!json_is_string(v)) {
            json_decref(req);
            return NULL;
        }
        json_object_set(req, members[i], v);
    }
    /* RFC 7638 §3: required members, lexicographic order, no whitespace */
    s = json_dumps(req, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(req);
    if (s == NULL)
        return NULL;
    SHA256((const unsigned char *)s, strlen(s), md);
    free(s);
    return bg_acme_b64url(md, sizeof(md));
}

char *bg_acme_key_authorization(const char *token, EVP_PKEY *account_key)
{
    json_t *jwk = bg_acme_jwk(account_key);
    char *tp = jwk ? bg_acme_jwk_thumbprint(jwk) : NULL, *out = NULL;
    size_t n;

    json_decref(jwk);
    if (tp == NULL)
        return NULL;
    n = strlen(token) + 1 + strlen(tp) + 1;
    out = bg_xmalloc(n);
    snprintf(out, n, "%s.%s", token, tp);
    free(tp);
    return out;
}

/* ES256 over <in>: the 64-byte r || s (RFC 7518 §3.4) into <sig>. */
static int es256_sign(EVP_PKEY *key, const char *in, unsigned char sig[64])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char der[128];
    const unsigned char *p = der;
    size_t len = sizeof(der);
    ECDSA_SIG *es = NULL;
    int rc = -1;

    if (md != NULL && EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
        EVP_DigestSign(md, der, &len, (const unsigned char *)in, strlen(in)) == 1 &&
        (es = d2i_ECDSA_SIG(NULL, &p, (long)len)) != NULL &&
        BN_bn2binpad(ECDSA_SIG_get0_r(es), sig, 32) == 32 &&
        BN_bn2binpad(ECDSA_SIG_get0_s(es), sig + 32, 32) == 32)
        rc = 0;
    ECDSA_SIG_free(es);
    EVP_MD_CTX_free(md);
    ERR_clear_error();
    return rc;
}

char *bg_acme_jws(EVP_PKEY *key, const char *kid, const char *nonce, const char *url,
                  const char *payload)
{
    json_t *prot = json_pack("{s:s,s:s,s:s}", "alg", "ES256", "nonce", nonce, "url", url);
    char *ps = NULL, *p64 = NULL, *b64 = NULL, *input = NULL, *s64 = NULL, *out = NULL;
    unsigned char sig[64];
    size_t n;

    if (prot == NULL)
        return NULL;
    if (kid != NULL)
        json_object_set_new(prot, "kid", json_string(kid));
    else
        json_object_set_new(prot, "jwk", bg_acme_jwk(key));
    ps = json_dumps(prot, JSON_COMPACT);
    json_decref(prot);
    if (ps == NULL)
        return NULL;
    p64 = bg_acme_b64url((const unsigned char *)ps, strlen(ps));
    b64 = payload ? bg_acme_b64url((const unsigned char *)payload, strlen(payload))
                  : bg_strdup("");
    n = strlen(p64) + 1 + strlen(b64) + 1;
    input = bg_xmalloc(n);
    snprintf(input, n, "%s.%s", p64, b64);
    if (es256_sign(key, input, sig) == 0) {
        json_t *j;
        s64 = bg_acme_b64url(sig, sizeof(sig));
        j = json_pack("{s:s,s:s,s:s}", "protected", p64, "payload", b64, "signature", s64);
        out = j ? json_dumps(j, JSON_COMPACT) : NULL;
        json_decref(j);
    }
    free(ps);
    free(p64);
    free(b64);
    free(input);
    free(s64);
    return out;
}

bool bg_acme_jws_verify(EVP_PKEY *key, const char *jws)
{
    json_t *j = json_loads(jws, 0, NULL);
    const char *p64 = json_string_value(json_object_get(j, "protected"));
    const char *b64 = json_string_value(json_object_get(j, "payload"));
    const char *s64 = json_string_value(json_object_get(j, "signature"));
    unsigned char sig[64], *der = NULL;
    ECDSA_SIG *es = NULL;
    EVP_MD_CTX *md = NULL;
    char *input = NULL;
    bool ok = false;
    int dlen;
    size_t n;

    if (p64 == NULL || b64 == NULL || s64 == NULL || b64url_dec(s64, sig, sizeof(sig)) != 64)
        goto out;
    es = ECDSA_SIG_new();
    ECDSA_SIG_set0(es, BN_bin2bn(sig, 32, NULL), BN_bin2bn(sig + 32, 32, NULL));
    if ((dlen = i2d_ECDSA_SIG(es, &der)) <= 0)
        goto out;
    n = strlen(p64) + 1 + strlen(b64) + 1;
    input = bg_xmalloc(n);
    snprintf(input, n, "%s.%s", p64, b64);
    md = EVP_MD_CTX_new();
    ok = md != NULL && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
         EVP_DigestVerify(md, der, (size_t)dlen, (const unsigned char *)input, strlen(input)) == 1;
out:
    ERR_clear_error();
    EVP_MD_CTX_free(md);
    OPENSSL_free(der);
    ECDSA_SIG_free(es);
    free(input);
    json_decref(j);
    return ok;
}

/* "DNS:a,DNS:b" for the subjectAltName extension. */
static char *san_list(const char *const *hosts, size_t n)
{
    size_t len = 1;
    char *s, *p;

    for (size_t i = 0; i < n; i++)
        len += strlen(hosts[i]) + 5;
    p = s = bg_xmalloc(len);
    for (size_t i = 0; i < n; i++)
        p += snprintf(p, len - (size_t)(p - s), "%sDNS:%s", i ? "," : "", hosts[i]);
    *p = '\0';
    return s;
}

char *bg_acme_csr(EVP_PKEY *key, const char *const *hosts, size_t n_hosts)
{
    X509_REQ *req = X509_REQ_new();
    STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
    char *sans = san_list(hosts, n_hosts), *out = NULL;
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, sans);
    X509_NAME *name = X509_NAME_new();
    unsigned char *der = NULL;
    int len;

    if (req == NULL || exts == NULL || ext == NULL || name == NULL || n_hosts == 0)
        goto out;
    if (strlen(hosts[0]) <= 64) /* ub-common-name */
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)hosts[0], -1,
                                   -1, 0);
    sk_X509_EXTENSION_push(exts, ext);
    ext = NULL;
    if (X509_REQ_set_version(req, 0) == 1 && X509_REQ_set_subject_name(req, name) == 1 &&
        X509_REQ_set_pubkey(req, key) == 1 && X509_REQ_add_extensions(req, exts) == 1 &&
        X509_REQ_sign(req, key, EVP_sha256()) > 0 && (len = i2d_X509_REQ(req, &der)) > 0)
        out = bg_acme_b64url(der, (size_t)len);
out:
    ERR_clear_error();
    OPENSSL_free(der);
    X509_EXTENSION_free(ext);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    X509_NAME_free(name);
    X509_REQ_free(req);
    free(sans);
    return out;
}

static char *x509_pem(X509 *x)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *p = NULL, *out = NULL;
    long n;

    if (b != NULL && PEM_write_bio_X509(b, x) == 1 && (n = BIO_get_mem_data(b, &p)) > 0)
        out = bg_strndup(p, (size_t)n);
    BIO_free(b);
    return out;
}

int bg_acme_self_signed(const char *const *hosts, size_t n_hosts, char **cert_pem,
                        char **key_pem)
{
    EVP_PKEY *key = bg_acme_key_new();
    X509 *x = X509_new();
    X509_NAME *name = X509_NAME_new();
    char *sans = san_list(hosts, n_hosts);
    X509_EXTENSION *ext = NULL;
    unsigned char serial[16];
    BIGNUM *bn = NULL;
    X509V3_CTX v3;
    int rc = -1;

    *cert_pem = *key_pem = NULL;
    if (key == NULL || x == NULL || name == NULL || n_hosts == 0 ||
        RAND_bytes(serial, sizeof(serial)) != 1)
        goto out;
    serial[0] &= 0x7f;
    bn = BN_bin2bn(serial, sizeof(serial), NULL);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               (const unsigned char *)"bluegreen temporary self-signed", -1, -1,
                               0);
    X509_set_version(x, 2);
    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 90L * 86400);
    X509_set_subject_name(x, name);
    X509_set_issuer_name(x, name);
    X509_set_pubkey(x, key);
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, sans);
    if (ext == NULL || X509_add_ext(x, ext, -1) != 1 || X509_sign(x, key, EVP_sha256()) <= 0)
        goto out;
    *cert_pem = x509_pem(x);
    *key_pem = bg_acme_key_pem(key);
    rc = *cert_pem && *key_pem ? 0 : -1;
    if (rc != 0) {
        free(*cert_pem);
        free(*key_pem);
        *cert_pem = *key_pem = NULL;
    }
out:
    ERR_clear_error();
    BN_free(bn);
    X509_EXTENSION_free(ext);
    X509_NAME_free(name);
    X509_free(x);
    EVP_PKEY_free(key);
    free(sans);
    return rc;
}

static bool has_san(X509 *x, const char *host)
{
    GENERAL_NAMES *sans = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    bool found = false;

    for (int i = 0; sans && !found && i < sk_GENERAL_NAME_num(sans); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, i);
        if (g->type == GEN_DNS)
            found = (size_t)ASN1_STRING_length(g->d.dNSName) == strlen(host) &&
                    strncasecmp((const char *)ASN1_STRING_get0_data(g->d.dNSName), host,
                                strlen(host)) == 0;
    }
    GENERAL_NAMES_free(sans);
    return found;
}

int bg_acme_cert_info(const char *path, const char *pem, const char *const *hosts,
                      size_t n_hosts, bg_acme_cert_info_t *info, bg_err_t *err)
{
    BIO *b = pem ? BIO_new_mem_buf(pem, -1) : BIO_new_file(path, "r");
    X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    struct tm tm;
    BIGNUM *bn;
    char *hex;

    memset(info, 0, sizeof(*info));
    BIO_free(b);
    ERR_clear_error();
    if (b == NULL)
        return bg_err_set(err, BG_ENOTFOUND, "cannot read %s", path ? path : "certificate");
    if (x == NULL)
        return bg_err_set(err, BG_EINVAL, "%s is not a PEM certificate",
                          path ? path : "certificate");
    if (ASN1_TIME_to_tm(X509_get0_notBefore(x), &tm) == 1)
        info->not_before = timegm(&tm);
    if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) == 1)
        info->not_after = timegm(&tm);
    bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
    hex = bn ? BN_bn2hex(bn) : NULL;
    snprintf(info->serial, sizeof(info->serial), "%s", hex ? hex : "");
    OPENSSL_free(hex);
    BN_free(bn);
    X509_NAME_oneline(X509_get_issuer_name(x), info->issuer, sizeof(info->issuer));
    info->covers = true;
    for (size_t i = 0; i < n_hosts; i++)
        info->covers = info->covers && has_san(x, hosts[i]);
    X509_free(x);
    return 0;
}
