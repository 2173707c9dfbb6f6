/* An ACME client (RFC 8555) for the TLS listeners' automatic certificates (docs/tls.md
 * "Automatic certificates (ACME)"; docs/internals/acme.md).
 *
 * jws.c: the pieces with no network: base64url, the account key (EC P-256, ES256), its JWK
 * and RFC 7638 thumbprint, key authorizations, flattened JWS, the CSR, a self-signed
 * bootstrap certificate, the stored files (0600, tmp + rename) and what a certificate
 * file says (dates, serial, names).
 *
 * client.c: bg_acme_obtain(), one whole order (directory, nonce, account, order, HTTP-01
 * authorizations, finalize, download) with blocking libcurl calls. It runs on a thread of
 * its own (src/server/acme.c starts one per order), never on the control loop or a
 * worker; the proxy's workers answer the challenges from the shared token table.
 */
#ifndef BG_ACME_ACME_H
#define BG_ACME_ACME_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "base/err.h"

/* ---- jws.c ---- */

/* base64url without padding (RFC 7515 §2) of <n> bytes. New string (caller frees). */
char *bg_acme_b64url(const unsigned char *p, size_t n);

/* A new EC P-256 key, or NULL (OpenSSL failed). Caller frees with EVP_PKEY_free. */
EVP_PKEY *bg_acme_key_new(void);
/* Reads the PEM private key at <path>; when the file does not exist and <create>, makes a
 * new P-256 key and stores it there (0600, atomically) and sets *created. NULL + <err>
 * otherwise. Serialised within the process. Caller frees. Thread: any but a worker (file
 * I/O). */
EVP_PKEY *bg_acme_key_load(const char *path, bool create, bool *created, bg_err_t *err);
/* The key's private PEM. New string (caller frees), NULL on failure. */
char *bg_acme_key_pem(EVP_PKEY *key);

/* The public JWK of an EC P-256 key: {"crv":"P-256","kty":"EC","x":..,"y":..}. New
 * reference, NULL for another kind of key. */
json_t *bg_acme_jwk(EVP_PKEY *key);
/* RFC 7638 thumbprint (SHA-256, base64url) of <jwk> (borrowed): the required members
 * only (EC: crv, kty, x, y; RSA: e, kty, n) in lexicographic order, no whitespace. New
 * string, NULL for an unsupported kty. */
char *bg_acme_jwk_thumbprint(const json_t *jwk);
/* RFC 8555 §8.1: "<token>.<thumbprint of the account key>". New string. */
char *bg_acme_key_authorization(const char *token, EVP_PKEY *account_key);

/* A flattened JWS (RFC 7515 §7.2.2; RFC 8555 §6.2) signed ES256 by <key>: protected header
 * {alg, nonce, url} plus kid (the account URL) when <kid> is not NULL, else jwk. <payload>
 * NULL is POST-as-GET (empty payload). New string (caller frees), NULL on failure. */
char *bg_acme_jws(EVP_PKEY *key, const char *kid, const char *nonce, const char *url,
                  const char *payload);
/* Checks an ES256 flattened JWS made by bg_acme_jws() against <key> (tests). */
bool bg_acme_jws_verify(EVP_PKEY *key, const char *jws);

/* A PKCS#10 CSR for <hosts> (SANs; the first also the CN) signed by <key>, DER in
 * base64url (the finalize payload's csr). New string, NULL on failure. */
char *bg_acme_csr(EVP_PKEY *key, const char *const *hosts, size_t n_hosts);

/* A self-signed certificate for <hosts>, valid 90 days, with a new P-256 key: PEM strings
 * into *cert_pem and *key_pem (caller frees). 0 or -1. */
int bg_acme_self_signed(const char *const *hosts, size_t n_hosts, char **cert_pem,
                        char **key_pem);

/* Writes <len> bytes to <path> as mode 0600 through <path>.tmp.<pid>.<n> + fsync + rename,
 * so a reader sees the old file or the new one, also with several writers. 0 or BG_EIO +
 * <err>. */
int bg_acme_write_file(const char *path, const char *data, size_t len, bg_err_t *err);

/* What the leaf (first) certificate of a PEM chain says. */
typedef struct bg_acme_cert_info {
    time_t not_before, not_after;
    char serial[80];             /* hex */
    char issuer[256];            /* one-line DN */
    bool covers;                 /* its DNS SANs include every name asked about */
} bg_acme_cert_info_t;
/* Reads the PEM chain at <path> (or the PEM text <pem> if not NULL) and fills <info>;
 * <covers> tells whether every one of <hosts> is among its DNS SANs. 0, or BG_ENOTFOUND
 * (no file), BG_EINVAL (not a certificate) with <err>. */
int bg_acme_cert_info(const char *path, const char *pem, const char *const *hosts,
                      size_t n_hosts, bg_acme_cert_info_t *info, bg_err_t *err);

/* ---- client.c ---- */

/* Sets and clears HTTP-01 answers while an order is pending (the proxy's token table). */
typedef struct bg_acme_hooks {
    void (*set)(void *arg, const char *token, const char *keyauth);
    void (*remove)(void *arg, const char *token);
    void *arg;
} bg_acme_hooks_t;

typedef struct bg_acme_params {
    const char *directory;      /* the directory URL */
    const char *email;          /* NULL = no contact */
    const char *const *hosts;
    size_t n_hosts;
    const char *ca_file;        /* PEM bundle to trust the server; NULL = system store */
    const char *account_key;    /* file of the account key (made once, 0600, reused) */
    const char *cert_out;       /* where the chain goes (0600, tmp + rename) */
    const char *key_out;        /* where the certificate's new key goes (same) */
    bg_acme_hooks_t hooks;
    atomic_bool *cancel;        /* set by another thread: stop soon with BG_ECONFLICT */
    unsigned poll_ms;           /* between authorization / order polls; 0 = 500 */
    unsigned timeout_ms;        /* whole order; 0 = 5 minutes */
} bg_acme_params_t;

typedef struct bg_acme_result {
    char account_url[512];      /* the account (kid), "" if not reached */
    bool account_created;       /* the account key file was made by this order */
    char order_url[512];
    unsigned bad_nonce_retries; /* badNonce errors retried */
    bg_acme_cert_info_t cert;   /* the new certificate when 0 was returned */
} bg_acme_result_t;

/* Runs one whole order for p->hosts and stores the key and chain: 0, or a BG_E* code with
 * <err> saying which step failed and the server's problem detail. Blocks (minutes at
 * most); never on the control loop. Thread: its own. */
int bg_acme_obtain(const bg_acme_params_t *p, bg_acme_result_t *res, bg_err_t *err);

#endif
