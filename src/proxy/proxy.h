/* The data plane: N worker threads, each with its own uv_loop and SO_REUSEPORT listeners
 * on the production and test addresses, proxying HTTP/1.1 to targets chosen from the
 * current routing snapshot (docs/design.md §7).
 *
 * The control thread creates the proxy, starts it, and after each bg_router_publish()
 * calls bg_proxy_notify(); bg_proxy_adopted() then tells when every worker serves the new
 * snapshot (the "verified switch"). Workers never block and never touch SQLite or files.
 */
#ifndef BG_PROXY_PROXY_H
#define BG_PROXY_PROXY_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "accesslog/accesslog.h"
#include "base/err.h"
#include "config/config.h"
#include "route/route.h"
#include "tls/tls.h"

typedef struct bg_proxy bg_proxy_t;

/* At stop, how long a keep-alive connection must have been idle before it is closed. */
#define BG_PROXY_STOP_IDLE_MS 250

typedef struct bg_proxy_options {
    const char *listen;        /* production "host:port" (required) */
    const char *test_listen;   /* test listener; NULL = none */
    bg_proxy_config_t limits;  /* copied */
    bg_router_t *router;       /* borrowed; must outlive the proxy */
    /* Borrowed; may be NULL. A worker that passively ejects a target (sets
     * target->healthy = 0 and passive_ejected = 1) calls uv_async_send() on it so the
     * control thread's health checker can log the event and start re-checking. */
    uv_async_t *passive_notify;
    /* Borrowed; may be NULL (no access log). Each worker formats a line per request into
     * its own buffer and hands buffers to it (never file I/O on a worker); it must outlive
     * bg_proxy_stop()'s completion. */
    bg_alog_t *alog;
    /* Borrowed; NULL = plain HTTP. TLS of the production / test listener (src/tls/); it
     * must outlive the proxy. */
    bg_tls_t *tls, *test_tls;
    /* redirect_https of the production / test listener (status 0: none): every request
     * but /.well-known/acme-challenge/... gets <status> to https://HOST[:port]/target. */
    bg_redirect_config_t redirect, test_redirect;
    /* Borrowed; NULL = none. Pending ACME HTTP-01 tokens (src/tls/challenge.c): a plain
     * listener answers GET /.well-known/acme-challenge/<token> with its key authorization
     * (text/plain) before the redirect and the routes; it must outlive the proxy. */
    bg_tls_challenges_t *challenges;
} bg_proxy_options_t;

/* Validates options and copies them. NULL + <err> on bad input. Thread: control. */
bg_proxy_t *bg_proxy_new(const bg_proxy_options_t *opts, bg_err_t *err);

/* Binds the listeners (errors such as EADDRINUSE come back here, with <err> naming the
 * address), then starts the worker threads. Returns 0 or a negative code. Thread: control. */
int bg_proxy_start(bg_proxy_t *p, bg_err_t *err);

/* Zero-downtime restart: gives the proxy listening sockets <fds> (<n> of them) that a
 * previous bluegreen process listened on for the production (<test> false) or test
 * listener. Call before bg_proxy_start(), which listens on those that match the configured
 * address (port 0 matches any port) instead of binding new ones — connections waiting in
 * their accept queues are then served, none is refused — and runs at least <n> workers
 * so that every inherited socket has one. Sockets that do not match are closed. Takes
 * ownership of the fds (not of the array). Thread: control. */
void bg_proxy_inherit(bg_proxy_t *p, bool test, const int *fds, size_t n);

/* The listening fds of the production (<test> false) or test listener, one per worker, into
 * <out> (at most <max>); returns how many. Borrowed: valid until bg_proxy_stop(); dup them
 * to hand them to another process. Thread: control, while started. */
size_t bg_proxy_listen_fds(const bg_proxy_t *p, bool test, int *out, size_t max);

/* Actual bound port of the production / test listener (useful with port 0). */
int bg_proxy_port(const bg_proxy_t *p);
int bg_proxy_test_port(const bg_proxy_t *p);

/* Wakes every worker to adopt the router's current snapshot. Thread: control. */
void bg_proxy_notify(bg_proxy_t *p);

/* True when every worker has adopted a snapshot of generation >= <generation>.
 * Thread: any. */
bool bg_proxy_adopted(const bg_proxy_t *p, uint64_t generation);

/* Stops accepting, lets in-flight requests finish for up to <grace_ms>, closes every
 * connection and joins the workers. Responses after this carry `Connection: close`; an idle
 * keep-alive connection is closed once it has been idle for BG_PROXY_STOP_IDLE_MS (so a
 * client that is just sending its next request gets an answer, not a reset). Blocks the
 * caller until the workers are done. Thread: control. */
void bg_proxy_stop(bg_proxy_t *p, uint32_t grace_ms);

/* Frees a stopped (or never started) proxy. NULL is a no-op. */
void bg_proxy_free(bg_proxy_t *p);

/* Client connections currently open, summed over workers. Thread: any. */
uint64_t bg_proxy_client_connections(const bg_proxy_t *p);

/* HTTP/2 counters (src/h2/): connections and streams since start, connections ended by
 * a connection error (GOAWAY with a code other than NO_ERROR), streams refused or reset
 * by the proxy. */
typedef struct bg_proxy_h2_counts {
    _Atomic uint64_t connections, streams, conn_errors, stream_resets;
} bg_proxy_h2_counts_t;

/* The counters summed over workers into <out> (plain values). Thread: any. */
void bg_proxy_h2_counts(const bg_proxy_t *p, uint64_t out[4]);

#endif
