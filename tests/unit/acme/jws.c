/* The ACME pieces without a network (src/acme/jws.c) and the HTTP-01 token table
 * (src/tls/challenge.c): base64url, the RFC 7638 thumbprint (the RFC's own example key,
 * §3.1, as test vector), key authorizations, ES256 JWS verified with the public key, the
 * CSR's names, the self-signed bootstrap certificate, files written 0600, and the account
 * key made once and reused. The protocol itself runs against pebble (tests/e2e/acme.sh). */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "acme/acme.h"
#include "tls/tls.h"

Test(acme, b64url)
{
    char *s = bg_acme_b64url((const unsigned char *)"", 0);
    cr_assert_str_eq(s, "");
    free(s);
    s = bg_acme_b64url((const unsigned char *)"f", 1);
    cr_assert_str_eq(s, "Zg");
    free(s);
    s = bg_acme_b64url((const unsigned char *)"fo", 2);
    cr_assert_str_eq(s, "Zm8");
    free(s);
    s = bg_acme_b64url((const unsigned char *)"foo", 3);
    cr_assert_str_eq(s, "Zm9v");
    free(s);
    s = bg_acme_b64url((const unsigned char *)"\xfb\xff\xfe", 3); /* '-' and '_', not '+' '/' */
    cr_assert_str_eq(s, "-__-");
    free(s);
}

/* RFC 7638 §3.1: the example RSA key and its SHA-256 thumbprint (a specification example,
 * copied from the RFC's text; "alg" and "kid" are not required members and must not
 * count). */
Test(acme, thumbprint_rfc7638_example)
{
    json_t *jwk = json_pack(
        "{s:s,s:s,s:s,s:s,s:s}", "kty", "RSA", "n",
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_"
        "BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_"
        "FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-"
        "bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        "e", "AQAB", "alg", "RS256", "kid", "2011-04-29");
    char *tp = bg_acme_jwk_thumbprint(jwk);

    cr_assert_str_eq(tp, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    free(tp);
    json_object_del(jwk, "e");
    cr_assert_null(bg_acme_jwk_thumbprint(jwk)); /* a required member missing */
    json_decref(jwk);
}

Test(acme, ec_jwk_thumbprint_and_key_authorization)
{
    EVP_PKEY *k = bg_acme_key_new();
    json_t *jwk = bg_acme_jwk(k);
    char *tp, *ka, *expect;

    cr_assert_not_null(jwk);
    cr_assert_str_eq(json_string_value(json_object_get(jwk, "kty")), "EC");
    cr_assert_str_eq(json_string_value(json_object_get(jwk, "crv")), "P-256");
    cr_assert_eq(strlen(json_string_value(json_object_get(jwk, "x"))), 43); /* 32 bytes */
    cr_assert_eq(strlen(json_string_value(json_object_get(jwk, "y"))), 43);
    tp = bg_acme_jwk_thumbprint(jwk);
    cr_assert_eq(strlen(tp), 43);
    ka = bg_acme_key_authorization("tok-EN_123", k);
    expect = malloc(strlen(tp) + 16);
    snprintf(expect, strlen(tp) + 16, "tok-EN_123.%s", tp);
    cr_assert_str_eq(ka, expect); /* RFC 8555 §8.1: token || '.' || thumbprint */
    free(expect);
    free(ka);
    free(tp);
    json_decref(jwk);
    EVP_PKEY_free(k);
}

/* Decodes a base64url JWS member back to text (test helper via OpenSSL's base64). */
static char *b64url_text(const char *s)
{
    size_t n = strlen(s), m = n + 4;
    char *std = calloc(1, m + 1);
    unsigned char *out = calloc(1, m);
    int len;

    for (size_t i = 0; i < n; i++)
        std[i] = s[i] == '-' ? '+' : s[i] == '_' ? '/' : s[i];
    while (n % 4)
        std[n++] = '=';
    len = EVP_DecodeBlock(out, (unsigned char *)std, (int)n);
    cr_assert_geq(len, 0);
    while (n > 0 && std[--n] == '=') /* EVP_DecodeBlock counts the padding as zero bytes */
        len--;
    free(std);
    out[len] = '\0';
    return (char *)out;
}

Test(acme, jws_es256_signs_and_verifies)
{
    EVP_PKEY *k = bg_acme_key_new(), *other = bg_acme_key_new();
    char *jws = bg_acme_jws(k, NULL, "nonce-1", "https://ca.test/new-acct", "{\"a\":1}");
    json_t *j = json_loads(jws, 0, NULL), *prot;
    char *ptext, *pl;

    cr_assert_not_null(j);
    ptext = b64url_text(json_string_value(json_object_get(j, "protected")));
    prot = json_loads(ptext, 0, NULL);
    cr_assert_str_eq(json_string_value(json_object_get(prot, "alg")), "ES256");
    cr_assert_str_eq(json_string_value(json_object_get(prot, "nonce")), "nonce-1");
    cr_assert_str_eq(json_string_value(json_object_get(prot, "url")), "https://ca.test/new-acct");
    cr_assert_not_null(json_object_get(prot, "jwk")); /* newAccount: jwk, no kid */
    cr_assert_null(json_object_get(prot, "kid"));
    pl = b64url_text(json_string_value(json_object_get(j, "payload")));
    cr_assert_str_eq(pl, "{\"a\":1}");
    cr_assert_eq(strlen(json_string_value(json_object_get(j, "signature"))), 86); /* 64 bytes */
    cr_assert(bg_acme_jws_verify(k, jws));
    cr_assert_not(bg_acme_jws_verify(other, jws));
    free(pl);
    free(ptext);
    json_decref(prot);
    json_decref(j);
    free(jws);

    /* POST-as-GET with a kid: empty payload, kid instead of jwk */
    jws = bg_acme_jws(k, "https://ca.test/acct/1", "n2", "https://ca.test/order/1", NULL);
    j = json_loads(jws, 0, NULL);
    cr_assert_str_eq(json_string_value(json_object_get(j, "payload")), "");
    ptext = b64url_text(json_string_value(json_object_get(j, "protected")));
    prot = json_loads(ptext, 0, NULL);
    cr_assert_str_eq(json_string_value(json_object_get(prot, "kid")), "https://ca.test/acct/1");
    cr_assert_null(json_object_get(prot, "jwk"));
    cr_assert(bg_acme_jws_verify(k, jws));
    free(ptext);
    json_decref(prot);
    json_decref(j);
    free(jws);
    EVP_PKEY_free(k);
    EVP_PKEY_free(other);
}

Test(acme, csr_names_every_host)
{
    const char *hosts[] = {"shop.test", "www.shop.test"};
    EVP_PKEY *k = bg_acme_key_new();
    char *csr = bg_acme_csr(k, hosts, 2), *std;
    size_t n = strlen(csr);
    unsigned char *der = calloc(1, n + 4);
    const unsigned char *p = der;
    X509_REQ *req;
    STACK_OF(X509_EXTENSION) *exts;
    GENERAL_NAMES *sans = NULL;
    int len;

    std = calloc(1, n + 4);
    for (size_t i = 0; i < n; i++)
        std[i] = csr[i] == '-' ? '+' : csr[i] == '_' ? '/' : csr[i];
    while (n % 4)
        std[n++] = '=';
    len = EVP_DecodeBlock(der, (unsigned char *)std, (int)n);
    req = d2i_X509_REQ(NULL, &p, len);
    cr_assert_not_null(req);
    cr_assert_eq(X509_REQ_verify(req, k), 1);
    exts = X509_REQ_get_extensions(req);
    for (int i = 0; i < sk_X509_EXTENSION_num(exts); i++) {
        X509_EXTENSION *e = sk_X509_EXTENSION_value(exts, i);
        if (OBJ_obj2nid(X509_EXTENSION_get_object(e)) == NID_subject_alt_name)
            sans = X509V3_EXT_d2i(e);
    }
    cr_assert_not_null(sans);
    cr_assert_eq(sk_GENERAL_NAME_num(sans), 2);
    cr_assert_str_eq((const char *)ASN1_STRING_get0_data(sk_GENERAL_NAME_value(sans, 1)->d.dNSName),
                     "www.shop.test");
    GENERAL_NAMES_free(sans);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    X509_REQ_free(req);
    free(std);
    free(der);
    free(csr);
    EVP_PKEY_free(k);
}

Test(acme, self_signed_and_cert_info)
{
    const char *hosts[] = {"a.test", "b.test"};
    const char *other[] = {"a.test", "c.test"};
    char *cert = NULL, *key = NULL;
    bg_acme_cert_info_t info;
    bg_err_t err;

    cr_assert_eq(bg_acme_self_signed(hosts, 2, &cert, &key), 0);
    cr_assert(strstr(cert, "BEGIN CERTIFICATE") != NULL);
    cr_assert(strstr(key, "PRIVATE KEY") != NULL);
    cr_assert_eq(bg_acme_cert_info(NULL, cert, hosts, 2, &info, &err), 0);
    cr_assert(info.covers);
    cr_assert_gt(info.not_after, info.not_before);
    cr_assert_gt(strlen(info.serial), 0);
    cr_assert(strstr(info.issuer, "bluegreen temporary self-signed") != NULL);
    cr_assert_eq(bg_acme_cert_info(NULL, cert, other, 2, &info, &err), 0);
    cr_assert_not(info.covers);
    cr_assert_eq(bg_acme_cert_info("/nonexistent/x.crt", NULL, hosts, 2, &info, &err),
                 BG_ENOTFOUND);
    free(cert);
    free(key);
}

Test(acme, files_are_0600_and_the_account_key_is_reused)
{
    char dir[] = "/tmp/bg-acme-unit.XXXXXX", path[128], tmp[200];
    struct stat st;
    bool created = false;
    bg_err_t err;
    EVP_PKEY *k1, *k2;
    json_t *j1, *j2;

    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/f.pem", dir);
    cr_assert_eq(bg_acme_write_file(path, "abc", 3, &err), 0);
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600);
    cr_assert_eq(st.st_size, 3);
    snprintf(tmp, sizeof(tmp), "%s.tmp.%ld.0", path, (long)getpid());
    cr_assert_neq(access(tmp, F_OK), 0); /* renamed away */

    snprintf(path, sizeof(path), "%s/account.key", dir);
    k1 = bg_acme_key_load(path, true, &created, &err);
    cr_assert_not_null(k1);
    cr_assert(created);
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600);
    k2 = bg_acme_key_load(path, true, &created, &err);
    cr_assert_not_null(k2);
    cr_assert_not(created);
    j1 = bg_acme_jwk(k1);
    j2 = bg_acme_jwk(k2);
    cr_assert(json_equal(j1, j2));
    json_decref(j1);
    json_decref(j2);
    EVP_PKEY_free(k1);
    EVP_PKEY_free(k2);
    unlink(path);
    snprintf(path, sizeof(path), "%s/f.pem", dir);
    unlink(path);
    rmdir(dir);
}

Test(acme, challenge_table)
{
    bg_tls_challenges_t *c = bg_tls_challenges_new();
    char out[64];

    cr_assert_eq(bg_tls_challenges_get(c, "tok", 3, out, sizeof(out)), 0);
    bg_tls_challenges_set(c, "tok", "tok.thumb");
    bg_tls_challenges_set(c, "tok2", "tok2.thumb");
    cr_assert_eq(bg_tls_challenges_get(c, "tokX", 3, out, sizeof(out)), 9); /* length-bounded */
    cr_assert_str_eq(out, "tok.thumb");
    cr_assert_eq(bg_tls_challenges_get(c, "tok2", 4, out, sizeof(out)), 10);
    cr_assert_eq(bg_tls_challenges_get(c, "to", 2, out, sizeof(out)), 0);
    cr_assert_eq(bg_tls_challenges_get(c, "tok", 3, out, 5), 0); /* does not fit */
    bg_tls_challenges_set(c, "tok", "tok.new");
    cr_assert_eq(bg_tls_challenges_get(c, "tok", 3, out, sizeof(out)), 7);
    bg_tls_challenges_remove(c, "tok");
    cr_assert_eq(bg_tls_challenges_get(c, "tok", 3, out, sizeof(out)), 0);
    cr_assert_eq(bg_tls_challenges_get(c, "tok2", 4, out, sizeof(out)), 10);
    bg_tls_challenges_free(c);
}
