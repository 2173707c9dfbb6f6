/* Private structures of src/tls/: the certificate set (context.c), the policies
 * (policy.c), the ticket key ring (tickets.c). */
#ifndef BG_TLS_INTERNAL_H
#define BG_TLS_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include <openssl/ssl.h>

#include "tls/tls.h"

/* One loaded certificate with its own SSL_CTX. */
typedef struct tls_cert {
    SSL_CTX *ctx;
    char *cert_file, *key_file;
    char **names;            /* DNS SANs (or the CN when there is none), lower case */
    size_t n_names;
    char *subject, *issuer;
    time_t not_after;
} tls_cert_t;

/* The certificates of one listener at one time: immutable once built; reference-counted
 * (bg_tls_t holds one, each connection one), so a reload swaps the pointer and the old
 * set goes with its last connection. */
struct bg_tls_certset {
    _Atomic uint32_t refs;
    bg_tls_t *tls;
    tls_cert_t *certs;
    size_t n_certs;
    size_t def;              /* index of the default certificate */
    uint64_t loaded_at_ms;   /* wall clock */
};

/* Session ticket keys (RFC 5077 shape: name, AES-256-CBC key, HMAC-SHA256 key). The
 * newest encrypts; the older ones still decrypt, so a ticket lives up to
 * TICKET_KEYS x rotation. */
#define TLS_TICKET_KEYS 3
typedef struct tls_ticket_key {
    unsigned char name[16];
    unsigned char aes[32];
    unsigned char hmac[32];
    uint64_t created_ms;     /* monotonic; 0 = empty slot */
} tls_ticket_key_t;

typedef struct tls_policy {
    const char *name;
    int min_version, max_version;
    const char *ciphers;      /* TLS 1.2 */
    const char *suites;       /* TLS 1.3 */
    const char *groups;
} tls_policy_t;

struct bg_tls {
    char *name;
    bg_tls_config_t *cfg;     /* own copy (for reloads) */
    char *file;               /* config file name, for positions */
    const tls_policy_t *policy;
    unsigned char alpn_wire[64]; /* length-prefixed protocol list */
    unsigned alpn_wire_len;
    pthread_mutex_t lock;     /* guards cur (swap vs. take) and the ticket ring */
    bg_tls_certset_t *cur;
    tls_ticket_key_t keys[TLS_TICKET_KEYS]; /* keys[0] newest */
    uint32_t rotation_ms;
    bg_tls_stats_t stats;
    /* control thread only */
    uint64_t reloads;
    uint64_t last_reload_ms;
    bool last_reload_ok;
    char *last_reload_why;
    char *last_error;
};

/* policy.c */
const tls_policy_t *tls_policy_find(const char *name);

/* tickets.c: installs the ticket callback on <ctx>; the ring is t's. */
void tls_tickets_setup(bg_tls_t *t, SSL_CTX *ctx);
/* Makes a new encrypting key now, as the rotation interval does (tests). Thread: any. */
void tls_tickets_rotate(bg_tls_t *t);

/* context.c */
bg_tls_certset_t *tls_certset_take(bg_tls_t *t);
void tls_certset_unref(bg_tls_certset_t *set);

#endif
