/* Session tickets (RFC 5077 for TLS 1.2, RFC 8446 §4.6.1 for TLS 1.3): one key ring per
 * listener, shared by every worker (they are threads of one process), so a ticket issued
 * by one worker resumes on any other. The newest key encrypts; it is replaced after the
 * rotation interval, and the previous TLS_TICKET_KEYS - 1 keys still decrypt (a ticket
 * is then issued again under the new key). Keys live only in memory: a restart ends
 * resumption, as it should, and a certificate reload keeps them.
 */
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "base/base.h"
#include "tls/internal.h"
#include "base/compat.h"

static void new_key(tls_ticket_key_t *k, uint64_t now)
{
    BG_ASSERT(RAND_bytes(k->name, sizeof(k->name)) == 1);
    BG_ASSERT(RAND_bytes(k->aes, sizeof(k->aes)) == 1);
    BG_ASSERT(RAND_bytes(k->hmac, sizeof(k->hmac)) == 1);
    k->created_ms = now ? now : 1;
}

/* With t->lock held: rotates when the newest key is older than the interval. */
static void maybe_rotate(bg_tls_t *t)
{
    uint64_t now = bg_now_ms();

    if (t->keys[0].created_ms != 0 && now - t->keys[0].created_ms < t->rotation_ms)
        return;
    memmove(&t->keys[1], &t->keys[0], sizeof(t->keys[0]) * (TLS_TICKET_KEYS - 1));
    new_key(&t->keys[0], now);
}

void tls_tickets_rotate(bg_tls_t *t)
{
    pthread_mutex_lock(&t->lock);
    memmove(&t->keys[1], &t->keys[0], sizeof(t->keys[0]) * (TLS_TICKET_KEYS - 1));
    new_key(&t->keys[0], bg_now_ms());
    pthread_mutex_unlock(&t->lock);
}

static int set_hmac(EVP_MAC_CTX *hctx, const unsigned char *key)
{
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, (void *)key, 32),
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_end(),
    };
    return EVP_MAC_CTX_set_params(hctx, params);
}

/* OpenSSL's ticket key callback: 1 ok, 2 ok but renew the ticket, 0 unknown key (full
 * handshake), -1 error. */
static int ticket_cb(SSL *ssl, unsigned char name[16], unsigned char *iv, EVP_CIPHER_CTX *cctx,
                     EVP_MAC_CTX *hctx, int enc)
{
    bg_tls_certset_t *set = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
    bg_tls_t *t = set->tls;
    tls_ticket_key_t k;
    int rc = 1;

    pthread_mutex_lock(&t->lock);
    if (enc) {
        maybe_rotate(t);
        k = t->keys[0];
    } else {
        size_t i;
        for (i = 0; i < TLS_TICKET_KEYS; i++)
            if (t->keys[i].created_ms != 0 && memcmp(t->keys[i].name, name, 16) == 0)
                break;
        if (i == TLS_TICKET_KEYS) {
            pthread_mutex_unlock(&t->lock);
            return 0;
        }
        k = t->keys[i];
        rc = i == 0 ? 1 : 2;
    }
    pthread_mutex_unlock(&t->lock);
    if (enc) {
        memcpy(name, k.name, 16);
        if (RAND_bytes(iv, EVP_MAX_IV_LENGTH) != 1 ||
            EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k.aes, iv) != 1)
            rc = -1;
    } else if (EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k.aes, iv) != 1) {
        rc = -1;
    }
    if (rc > 0 && set_hmac(hctx, k.hmac) != 1)
        rc = -1;
    OPENSSL_cleanse(&k, sizeof(k));
    return rc;
}

void tls_tickets_setup(bg_tls_t *t, SSL_CTX *ctx)
{
    /* stateless resumption only: no per-process session cache to lock or to fill (and
     * with tickets off, no resumption at all) */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    if (!t->cfg->tickets) {
        SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
        SSL_CTX_set_num_tickets(ctx, 0);
        return;
    }
    SSL_CTX_set_num_tickets(ctx, 1);
    SSL_CTX_set_timeout(ctx, (long)(t->rotation_ms / 1000 * (TLS_TICKET_KEYS - 1)));
    SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_cb);
}
