/* TLS termination for the proxy's listeners (docs/tls.md), on OpenSSL 3.
 *
 * A bg_tls_t is the TLS side of one listener: its certificates (one SSL_CTX each, picked by
 * the client's SNI name: exact SAN names first, then wildcards, else the default one), the
 * security policy (protocol versions TLS 1.2/1.3 and ciphers), the session ticket keys
 * (one ring per listener, shared by every worker, rotated) and the ALPN list. The control
 * thread creates it and reloads its certificates; workers make one bg_tls_conn_t per
 * accepted connection from the certificate set current at that moment, so a reload never
 * touches a running connection.
 *
 * A bg_tls_conn_t is a TLS engine over memory BIOs: it never touches a socket. The proxy
 * feeds it the ciphertext it read, takes the plaintext out, gives it plaintext to send and
 * takes the ciphertext to write (src/proxy/transport.c). It never blocks and holds no more
 * than one TLS record of unread input besides what the caller fed.
 */
#ifndef BG_TLS_TLS_H
#define BG_TLS_TLS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>
#include <openssl/ssl.h>

#include "base/buf.h"
#include "base/err.h"
#include "config/config.h"

typedef struct bg_tls bg_tls_t;
typedef struct bg_tls_certset bg_tls_certset_t;

/* Why a handshake failed (metrics label). */
typedef enum bg_tls_fail {
    BG_TLS_FAIL_PROTOCOL = 0,    /* version below TLS 1.2 or not TLS at all */
    BG_TLS_FAIL_CIPHER = 1,      /* no cipher, group or signature in common */
    BG_TLS_FAIL_HTTP = 2,        /* plain HTTP sent to the TLS port */
    BG_TLS_FAIL_CLOSED = 3,      /* the client closed or reset during the handshake */
    BG_TLS_FAIL_TIMEOUT = 4,     /* no complete handshake within the header timeout */
    BG_TLS_FAIL_ALERT = 5,       /* the client sent an alert (e.g. unknown CA) */
    BG_TLS_FAIL_OTHER = 6,
    BG_TLS_FAIL_KINDS = 7,
} bg_tls_fail_t;
const char *bg_tls_fail_str(bg_tls_fail_t f);

/* Handshake counters of one listener; workers add with relaxed atomics. Index 0: TLS 1.2,
 * 1: TLS 1.3. */
typedef struct bg_tls_stats {
    _Atomic uint64_t full[2];
    _Atomic uint64_t resumed[2];
    _Atomic uint64_t failed[BG_TLS_FAIL_KINDS];
} bg_tls_stats_t;

#define BG_TLS_ALPN_MAX 4

typedef struct bg_tls_options {
    /* ALPN protocols this listener offers, in server preference order (e.g. {"h2",
     * "http/1.1"}); none given means {"http/1.1"}. A client offering none of them is
     * served without ALPN (HTTP/1.1). Copied. */
    const char *alpn[BG_TLS_ALPN_MAX];
    const char *name;         /* "listen" / "test_listen", for logs */
} bg_tls_options_t;

/* Loads the certificates of <cfg> (a TLS block of the config file <file>, used with the
 * recorded positions in errors) and builds the contexts. NULL + <err> (file:line:column,
 * key path, the file and OpenSSL's reason) when a file is missing, unreadable, not PEM, a
 * key does not match its certificate, or the policy is unknown. Thread: control. */
bg_tls_t *bg_tls_new(const bg_tls_config_t *cfg, const char *file, const bg_tls_options_t *opts,
                     bg_err_t *err);

/* Reads the certificate and key files again (the same config, or <cfg> if not NULL: a
 * new TLS block of <file>) and swaps them in for new connections; running connections keep
 * theirs. On any error nothing changes, <err> says why and the error is kept for
 * bg_tls_to_json(). <why> ("reload-certs", "SIGHUP", "acme") goes to the log and state.
 * Thread: control. */
int bg_tls_reload(bg_tls_t *t, const bg_tls_config_t *cfg, const char *file, const char *why,
                  bg_err_t *err);

/* A new copy of <cfg> with one more certificate appended: the files <cert>/<key>, or the
 * in-memory PEM <cert_pem>/<key_pem> when not NULL (then <cert> only names it). When <cfg>
 * has no certificate the new one is the default. The acme block is not copied. Caller frees
 * with bg_tls_config_free(). Thread: any. */
bg_tls_config_t *bg_tls_config_with(const bg_tls_config_t *cfg, const char *cert, const char *key,
                                    const char *cert_pem, const char *key_pem);

/* ---- HTTP-01 challenge answers (RFC 8555 §8.3; challenge.c) ----
 * Token -> key authorization, set by the ACME client while a challenge is pending and
 * read by the proxy's workers for GET /.well-known/acme-challenge/<token> on plain
 * listeners. A small mutex-protected table (a handful of entries at a time). */
typedef struct bg_tls_challenges bg_tls_challenges_t;
bg_tls_challenges_t *bg_tls_challenges_new(void);
/* Frees <c> (NULL is a no-op); no worker may read it any more. */
void bg_tls_challenges_free(bg_tls_challenges_t *c);
/* Adds or replaces <token> (copied) answering <keyauth> (copied). Thread: any. */
void bg_tls_challenges_set(bg_tls_challenges_t *c, const char *token, const char *keyauth);
/* Removes <token> if present. Thread: any. */
void bg_tls_challenges_remove(bg_tls_challenges_t *c, const char *token);
/* Copies the key authorization of the <len> bytes at <token> into <out> (<size> bytes,
 * NUL-terminated): its length, or 0 when the token is unknown or does not fit. Thread: any
 * (workers). */
size_t bg_tls_challenges_get(bg_tls_challenges_t *c, const char *token, size_t len, char *out,
                             size_t size);

/* Loads every TLS block of <cfg> (listen, test_listen) and lets it go, and checks that an
 * acme block's ca_file is readable: 0, or the first error with its config position
 * (check-config, and a reload refused before it starts).
 * Thread: control. */
int bg_tls_check_config(const bg_config_t *cfg, bg_err_t *err);

/* Frees <t>; every connection made from it must be gone. NULL is a no-op. Thread: control. */
void bg_tls_free(bg_tls_t *t);

/* Handshake counters (borrowed, live as long as <t>). Thread: any. */
bg_tls_stats_t *bg_tls_stats(bg_tls_t *t);

/* The state for the admin API: {listener, policy, alpn, tickets, certificates: [{cert, key,
 * names, subject, issuer, not_after, expires_in_s, default}], loaded_at, reloads,
 * last_reload: {at, ok, why, error}} plus the handshake counters. New reference.
 * Thread: control. */
json_t *bg_tls_to_json(const bg_tls_t *t);

/* Appends the Prometheus lines of <t> (handshakes by version and kind, failures by reason,
 * certificate expiry seconds) labelled listener="<name>". Thread: control. */
void bg_tls_metrics(const bg_tls_t *t, bg_buf_t *out);

/* ---- one connection ---- */

typedef struct bg_tls_conn {
    SSL *ssl;
    BIO *rbio, *wbio;            /* owned by ssl */
    bg_tls_t *tls;
    bg_tls_certset_t *set;       /* one ref while the connection lives */
    bool handshake_done;
    bool failed_counted;
    uint8_t alpn_len;
    char alpn[24];               /* negotiated protocol, "" if none */
} bg_tls_conn_t;

/* A server connection from the current certificates of <t>. Thread: worker. */
void bg_tls_conn_init(bg_tls_conn_t *tc, bg_tls_t *t);
/* Frees the engine; if the handshake never finished and no failure was counted yet, counts
 * one with <unfinished> (closed or timeout). Thread: worker. */
void bg_tls_conn_fini(bg_tls_conn_t *tc, bg_tls_fail_t unfinished);

/* Gives <n> bytes of ciphertext read from the peer. Thread: worker. */
void bg_tls_conn_feed(bg_tls_conn_t *tc, const char *p, size_t n);

/* Ciphertext or plaintext the engine holds that bg_tls_conn_read() may turn into bytes
 * without more input. */
bool bg_tls_conn_has_input(const bg_tls_conn_t *tc);

/* Runs the handshake while needed, then decrypts into <out> (<size> bytes).
 * Returns >0 plaintext bytes, 0 when more ciphertext is needed, BG_TLS_EOF when the peer
 * sent close_notify, or a negative code (UV_EPROTO: handshake or record failure, counted
 * in the stats). Output (handshake messages, alerts) may be waiting afterwards:
 * take it with bg_tls_conn_take_output(). Thread: worker. */
#define BG_TLS_EOF (-4095)
ssize_t bg_tls_conn_read(bg_tls_conn_t *tc, char *out, size_t size);

/* Encrypts <n> plaintext bytes (all of them; the handshake must be done). 0 or UV_EPROTO.
 * Thread: worker. */
int bg_tls_conn_write(bg_tls_conn_t *tc, const char *p, size_t n);

/* Queues a close_notify alert. Thread: worker. */
void bg_tls_conn_shutdown(bg_tls_conn_t *tc);

/* Bytes of ciphertext waiting to be written. */
size_t bg_tls_conn_output_len(const bg_tls_conn_t *tc);
/* Moves the waiting ciphertext to the end of <out>. Thread: worker. */
void bg_tls_conn_take_output(bg_tls_conn_t *tc, bg_buf_t *out);

#endif
